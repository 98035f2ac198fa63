# CMake toolchain for the linux-arm64 prebuild, cross compiled on an x64 Debian/Ubuntu machine
# (scripts/prebuild-backend.sh): Debian's cross compiler (g++-aarch64-linux-gnu, which brings
# the arm64 glibc and libstdc++) and a sysroot holding the arm64 packages of the libraries the
# addon links statically, unpacked by scripts/debian-root.sh.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

# Passed by scripts/prebuild-backend.sh; an environment variable, unlike a cache entry, also
# reaches the try_compile projects that re-read this file.
if(NOT DEFINED ENV{PIXELRTS_ARM64_SYSROOT})
  message(FATAL_ERROR "pixelrts: set PIXELRTS_ARM64_SYSROOT (scripts/prebuild-backend.sh does)")
endif()
set(PIXELRTS_ARM64_SYSROOT $ENV{PIXELRTS_ARM64_SYSROOT})

# Libraries and headers only from the sysroot and the cross toolchain, never the host's x64 ones;
# programs (pkg-config) from the host.
set(CMAKE_FIND_ROOT_PATH ${PIXELRTS_ARM64_SYSROOT} /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# The sources include the libraries' headers by their plain names (<libdeflate.h>, <zstd.h>, ...).
# Debian's cross compiler would find them in the host's /usr/include, from the x64 -dev packages
# if installed; the sysroot's come first.
set(CMAKE_C_FLAGS_INIT "-isystem ${PIXELRTS_ARM64_SYSROOT}/usr/include")
set(CMAKE_CXX_FLAGS_INIT "-isystem ${PIXELRTS_ARM64_SYSROOT}/usr/include")

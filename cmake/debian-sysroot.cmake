# CMake toolchain for the prebuilds (scripts/prebuild-backend.sh, run inside its Debian 11 chroot):
# Debian's compiler for the target, x86_64-linux-gnu-g++ or the cross compiler
# aarch64-linux-gnu-g++ (each brings its glibc and libstdc++), and a sysroot holding Debian 12's
# packages of the libraries the addon links statically, for that CPU, unpacked by
# scripts/debian-root.sh.
# Environment variables, unlike cache entries, also reach the try_compile projects that re-read
# this file: PIXELRTS_TRIPLET (x86_64-linux-gnu, aarch64-linux-gnu) and PIXELRTS_SYSROOT.
foreach(var PIXELRTS_TRIPLET PIXELRTS_SYSROOT)
  if(NOT DEFINED ENV{${var}})
    message(FATAL_ERROR "pixelrts: set ${var} (scripts/prebuild-backend.sh does)")
  endif()
endforeach()
set(PIXELRTS_TRIPLET $ENV{PIXELRTS_TRIPLET})
set(PIXELRTS_SYSROOT $ENV{PIXELRTS_SYSROOT})

set(CMAKE_SYSTEM_NAME Linux)
string(REGEX REPLACE "-.*" "" CMAKE_SYSTEM_PROCESSOR ${PIXELRTS_TRIPLET})
set(CMAKE_C_COMPILER ${PIXELRTS_TRIPLET}-gcc)
set(CMAKE_CXX_COMPILER ${PIXELRTS_TRIPLET}-g++)

# Libraries and headers only from the sysroot and the cross toolchain's own directory, never
# the build machine's (whose -dev packages, if any, are other versions or another CPU's).
set(CMAKE_FIND_ROOT_PATH ${PIXELRTS_SYSROOT} /usr/${PIXELRTS_TRIPLET})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# The sources include the libraries' headers by their plain names (<libdeflate.h>, <zstd.h>, ...);
# the compiler finds them in the sysroot, which holds no libc headers to stand in for its own.
set(CMAKE_C_FLAGS_INIT "-isystem ${PIXELRTS_SYSROOT}/usr/include")
set(CMAKE_CXX_FLAGS_INIT "-isystem ${PIXELRTS_SYSROOT}/usr/include")

{
  # Fallback build used by node-gyp-build when no prebuilt binary matches.
  # Same sources as CMakeLists.txt (test/build-sources.test.mjs checks it).
  "targets": [
    {
      "target_name": "pixelrts",
      "sources": [
        "native/addon.cc",
        "native/common/payload_handle.cc",

        # codec
        "native/codec/codec_module.cc",

        # fuse
        "native/fuse/file_tree.cc",
        "native/fuse/fuse_module.cc",
        "native/fuse/fuse_session.cc",
        "native/fuse/kernel_mount.cc",
        "native/fuse/mount.cc",
        "native/fuse/read_only_fs.cc",

        # frames
        "native/frames/frames_module.cc",
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "native"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_DISABLE_CPP_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "_FILE_OFFSET_BITS=64",
        "FUSE_USE_VERSION=35"
      ],
      "cflags_cc": [ "-std=c++17", "-O2", "-Wall", "-Wextra", "-fvisibility=hidden" ],
      "cflags_cc!": [ "-fno-exceptions", "-std=gnu++14", "-std=gnu++1y" ],
      "libraries": [ "-ldeflate", "-lzstd", "-lpthread" ],
      "conditions": [
        [ "OS=='linux'", { "libraries": [ "-lfuse3", "-lopenh264", "-ldl" ] } ],
        [ "OS=='mac'", {
          "xcode_settings": {
            "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
            "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
            "MACOSX_DEPLOYMENT_TARGET": "11.0"
          }
        } ]
      ]
    }
  ]
}

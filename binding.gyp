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
        "native/fuse/fuse_module.cc",

        # frames
        "native/frames/frames_module.cc",
        "native/frames/frame_server.cc",
        "native/frames/connection.cc",
        "native/frames/listener.cc",
        "native/frames/poller.cc",
        "native/frames/encoder_pool.cc",
        "native/frames/encoding_session.cc",
        "native/frames/openh264_encoder.cc",
        "native/frames/colour_convert.cc",
        "native/frames/hxfr_parser.cc",
        "native/frames/pixel_layout.cc",
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
          # macOS only: the VideoToolbox encoder replaces openh264 (same list as CMake's PIXELRTS_DARWIN_SOURCES).
          "sources": [
            "native/frames/videotoolbox_encoder.mm",
          ],
          "sources!": [ "native/frames/openh264_encoder.cc" ],
          "libraries": [
            "-framework VideoToolbox", "-framework CoreMedia", "-framework CoreVideo",
            "-framework CoreFoundation", "-framework IOSurface"
          ],
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

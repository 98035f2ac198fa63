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
        "native/codec/background_decode.cc",
        "native/codec/band_gather.cc",
        "native/codec/band_index.cc",
        "native/codec/byte_buffer.cc",
        "native/codec/codec_module.cc",
        "native/codec/deflate_block_walker.cc",
        "native/codec/deflater.cc",
        "native/codec/hilbert.cc",
        "native/codec/inflater.cc",
        "native/codec/mapped_file.cc",
        "native/codec/png_reader.cc",
        "native/codec/png_stream_decoder.cc",
        "native/codec/png_unfilter.cc",
        "native/codec/png_writer.cc",
        "native/codec/stream_decompressor.cc",

        # fuse
        "native/fuse/fuse_module.cc",

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

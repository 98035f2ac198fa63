{
  # Fallback build used by node-gyp-build when no prebuilt binary matches.
  # Same sources as CMakeLists.txt (test/build-sources.test.mjs checks it).
  "targets": [
    {
      "target_name": "pixelrts",
      "sources": [
        "native/addon.cc",
        "native/common/atomic_file.cc",
        "native/common/sha256.cc",
        "native/common/payload_handle.cc",

        # codec
        "native/codec/background_decode.cc",
        "native/codec/band_decoder.cc",
        "native/codec/band_encoder.cc",
        "native/codec/band_gather.cc",
        "native/codec/band_index.cc",
        "native/codec/byte_buffer.cc",
        "native/codec/codec_module.cc",
        "native/codec/concat_source.cc",
        "native/codec/decoded_cache.cc",
        "native/codec/deflate_block_walker.cc",
        "native/codec/deflater.cc",
        "native/codec/hash_tree.cc",
        "native/codec/hilbert.cc",
        "native/codec/inflater.cc",
        "native/codec/mapped_file.cc",
        "native/codec/png_file_writer.cc",
        "native/codec/png_reader.cc",
        "native/codec/png_stream_decoder.cc",
        "native/codec/png_unfilter.cc",
        "native/codec/png_writer.cc",
        "native/codec/stream_decompressor.cc",

        # remote
        "native/remote/libcurl.cc",
        "native/remote/range_connection.cc",
        "native/remote/range_response.cc",
        "native/remote/remote_file.cc",
        "native/remote/remote_module.cc",

        # fuse
        "native/fuse/file_tree.cc",
        "native/fuse/fuse_module.cc",
        "native/fuse/fuse_session.cc",
        "native/fuse/kernel_mount.cc",
        "native/fuse/libfuse.cc",
        "native/fuse/mount.cc",
        "native/fuse/read_only_fs.cc",

        # frames
        "native/frames/frames_module.cc",
        "native/frames/frame_server.cc",
        "native/frames/connection.cc",
        "native/frames/listener.cc",
        "native/frames/poller.cc",
        "native/frames/encoder_pool.cc",
        "native/frames/encoding_session.cc",
        "native/frames/openh264_encoder.cc",
        "native/frames/h264_sps_crop.cc",
        "native/frames/colour_convert.cc",
        "native/frames/hxfr_parser.cc",
        "native/frames/pixel_layout.cc",

        # screen
        "native/screen/screen_module.cc",
        "native/screen/display.cc",
        "native/screen/rfb_client.cc",

        # net
        "native/net/net_module.cc",
        "native/net/ethernet_switch.cc",
        "native/net/ethernet_frame.cc",
        "native/net/mac_table.cc",
        "native/net/switch_port.cc",
        "native/net/directory_lock.cc",
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
      # node-gyp's defaults turn off exceptions and RTTI. The sources catch exceptions, and RTTI stays on
      # so this build accepts the same C++ as CMake's (a dynamic_cast once compiled there only).
      "cflags_cc!": [ "-fno-exceptions", "-fno-rtti", "-std=gnu++14", "-std=gnu++1y", "-std=gnu++17" ],
      "libraries": [ "-ldeflate", "-lzstd", "-lz", "-lpthread" ],
      "conditions": [
        # No -lfuse3: native/fuse/libfuse.cc loads libfuse3 when a mount starts (see CMakeLists.txt).
        [ "OS=='linux'", {
          "libraries": [ "-lopenh264", "-ldl" ],
          "ldflags": [ "-Wl,--version-script=<(module_root_dir)/native/exports.map" ]
        } ],
        [ "OS=='mac'", {
          # macOS only: the VideoToolbox encoder replaces openh264 (same list as CMake's PIXELRTS_DARWIN_SOURCES).
          "sources": [
            "native/frames/videotoolbox_encoder.mm",
          ],
          "sources!": [ "native/frames/openh264_encoder.cc", "native/frames/h264_sps_crop.cc" ],
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

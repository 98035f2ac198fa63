// Incremental HXFR message parser: bytes from a socket in, whole messages out.
//
// The socket reads straight into the buffer the parser hands out (NextBuffer), so a frame's
// pixels are received into their final allocation with no extra copy. Every length is
// checked before anything is allocated: the header's payload_size against the per-type
// limit, a FRAME_REQUEST's geometry and pixel byte count before its pixel buffer exists.
// Unknown message types, surplus body bytes and the pixels of a frame over the size limit are
// read into a fixed scratch area and dropped, so a lying payload_size never costs memory.
// Before a valid frame's pixel buffer is allocated the parser pauses (pixels_wanted()) until
// its owner has found room for it (AllocatePixels): the server's memory budget.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "frames/hxfr_protocol.h"
#include "frames/pixel_layout.h"

namespace pixelrts::hxfr {

// A heap byte array that is not zero-filled on allocation (pixel buffers are overwritten at once).
struct ByteBuffer {
  // Frees the bytes, then runs `on_free` (the memory budget takes them back), on whichever
  // thread lets go of the buffer last.
  struct Free {
    std::function<void()> on_free;
    void operator()(uint8_t* p) const {
      delete[] p;
      if (on_free) on_free();
    }
  };
  std::unique_ptr<uint8_t[], Free> data;
  size_t size = 0;

  static ByteBuffer Allocate(size_t n, std::function<void()> on_free = {}) {
    return {std::unique_ptr<uint8_t[], Free>(new uint8_t[n], Free{std::move(on_free)}), n};
  }
};

struct Message {
  Header header;
  // The fixed-size body the type defines (empty for KEYFRAME_REQ and PING).
  uint8_t body[kFrameRequestBody] = {};
  // FRAME_REQUEST with PIXEL_DATA: the pixels and where they lie. Empty otherwise.
  ByteBuffer pixels;
  PixelLayout layout;
};

// Something wrong with one message. Non-fatal problems leave the stream in sync (the rest of
// the message is skipped); fatal ones mean the stream cannot be trusted and must be closed.
struct ParseProblem {
  Header header;
  int32_t code = kInvalidMsg;
  std::string message;
  bool fatal = false;
};

class MessageSink {
 public:
  virtual ~MessageSink() = default;
  virtual void OnMessage(Message&& message) = 0;
  virtual void OnProblem(ParseProblem&& problem) = 0;
};

class HxfrParser {
 public:
  // `limit_name` is how error messages name the setting behind `max_frame_bytes` (the API
  // option or the command-line flag).
  HxfrParser(uint64_t max_frame_bytes, std::string limit_name)
      : max_frame_bytes_(max_frame_bytes), limit_name_(std::move(limit_name)) {}

  // Where the next received bytes should be written and how many fit there (> 0 unless
  // failed() or pixels_wanted()).
  uint8_t* NextBuffer(size_t* capacity);
  // `n` bytes (≤ capacity) were written at NextBuffer(); reports finished messages to `sink`.
  void Commit(size_t n, MessageSink& sink);
  // Convenience for callers holding bytes already (tests, the fuzzer): copies through
  // NextBuffer, allocating every pixel buffer at once (no budget).
  void Feed(const uint8_t* data, size_t size, MessageSink& sink);

  // > 0: a valid FRAME_REQUEST's pixels come next and need a buffer of this many bytes;
  // nothing more is read until AllocatePixels().
  uint64_t pixels_wanted() const { return state_ == State::kAwaitRoom ? need_ : 0; }
  // Allocates the buffer pixels_wanted() asked for; `on_free` runs once it is freed.
  void AllocatePixels(std::function<void()> on_free);

  bool failed() const { return state_ == State::kFailed; }
  // True when part of a message has been received (a peer closing now vanished mid-message).
  bool mid_message() const { return state_ != State::kHeader || got_ != 0; }

 private:
  enum class State { kHeader, kBody, kAwaitRoom, kPixels, kDiscard, kFailed };

  void OnHeader(MessageSink& sink);
  void OnBody(MessageSink& sink);
  void Finish(MessageSink& sink);
  void Fail(MessageSink& sink, std::string message);
  // Skips `n` more bytes (0: none), then expects the next header.
  void StartDiscard(uint64_t n);

  const uint64_t max_frame_bytes_;
  const std::string limit_name_;
  State state_ = State::kHeader;
  uint8_t header_bytes_[kHeaderSize] = {};
  size_t got_ = 0;     // bytes of the current part (header, body or pixels) received
  size_t need_ = 0;    // bytes of the current part expected
  uint64_t discard_left_ = 0;
  uint64_t surplus_ = 0;  // body bytes beyond the known struct, skipped after it
  uint64_t oversize_ = 0;  // pixel bytes of a FRAME_REQUEST over max_frame_bytes_, skipped after its body
  Message current_;
  uint8_t scratch_[64 * 1024];
};

}  // namespace pixelrts::hxfr

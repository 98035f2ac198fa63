#include "frames/hxfr_parser.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace pixelrts::hxfr {

namespace {

// Size of the body struct of a message the host understands; -1 for types it skips
// (unknown codes, and host→guest types a guest has no business sending).
int KnownBodySize(uint8_t type) {
  switch (type) {
    case kFrameRequest: return static_cast<int>(kFrameRequestBody);
    case kKeyframeReq: return 0;
    case kConfigReq: return static_cast<int>(kConfigReqBody);
    case kPing: return 0;
    case kEnableScanout: return static_cast<int>(kEnableScanoutBody);
    case kDisableScanout: return static_cast<int>(kDisableScanoutBody);
    case kSubscribe: return static_cast<int>(kSubscribeBody);
    default: return -1;
  }
}

const char* TypeName(uint8_t type) {
  switch (type) {
    case kFrameRequest: return "FRAME_REQUEST";
    case kConfigReq: return "CONFIG_REQ";
    case kEnableScanout: return "ENABLE_SCANOUT";
    case kDisableScanout: return "DISABLE_SCANOUT";
    case kSubscribe: return "SUBSCRIBE";
    default: return "message";
  }
}

}  // namespace

uint8_t* HxfrParser::NextBuffer(size_t* capacity) {
  switch (state_) {
    case State::kHeader:
      *capacity = kHeaderSize - got_;
      return header_bytes_ + got_;
    case State::kBody:
      *capacity = need_ - got_;
      return current_.body + got_;
    case State::kPixels:
      *capacity = need_ - got_;
      return current_.pixels.data.get() + got_;
    case State::kDiscard:
      *capacity = static_cast<size_t>(std::min<uint64_t>(discard_left_, sizeof scratch_));
      return scratch_;
    case State::kAwaitRoom:
    case State::kFailed:
      break;
  }
  *capacity = 0;
  return nullptr;
}

void HxfrParser::AllocatePixels(std::function<void()> on_free) {
  if (state_ != State::kAwaitRoom) return;
  current_.pixels = ByteBuffer::Allocate(need_, std::move(on_free));
  got_ = 0;
  state_ = State::kPixels;
}

void HxfrParser::Feed(const uint8_t* data, size_t size, MessageSink& sink) {
  while (size > 0 && !failed()) {
    if (pixels_wanted() > 0) AllocatePixels({});
    size_t cap = 0;
    uint8_t* dst = NextBuffer(&cap);
    const size_t n = std::min(cap, size);
    std::memcpy(dst, data, n);
    Commit(n, sink);
    data += n;
    size -= n;
  }
}

void HxfrParser::Commit(size_t n, MessageSink& sink) {
  switch (state_) {
    case State::kHeader:
      got_ += n;
      if (got_ == kHeaderSize) OnHeader(sink);
      break;
    case State::kBody:
      got_ += n;
      if (got_ == need_) OnBody(sink);
      break;
    case State::kPixels:
      got_ += n;
      if (got_ == need_) Finish(sink);
      break;
    case State::kDiscard:
      discard_left_ -= n;
      if (discard_left_ == 0) {
        state_ = State::kHeader;
        got_ = 0;
      }
      break;
    case State::kAwaitRoom:
    case State::kFailed:
      break;
  }
}

void HxfrParser::Fail(MessageSink& sink, std::string message) {
  state_ = State::kFailed;
  ParseProblem p;
  p.header = current_.header;
  p.message = std::move(message);
  p.fatal = true;
  current_.pixels = {};
  sink.OnProblem(std::move(p));
}

void HxfrParser::StartDiscard(uint64_t n) {
  got_ = 0;
  if (n == 0) {
    state_ = State::kHeader;
  } else {
    state_ = State::kDiscard;
    discard_left_ = n;
  }
}

void HxfrParser::OnHeader(MessageSink& sink) {
  current_ = Message();
  current_.header = ParseHeader(header_bytes_);
  const Header& h = current_.header;
  if (h.magic != kMagic) {
    char text[160];
    snprintf(text, sizeof text,
             "bad magic 0x%08X in message header: expected 0x%08X (\"HXFR\"); the stream is out of sync, closing",
             h.magic, kMagic);
    Fail(sink, text);
    return;
  }
  const int body = KnownBodySize(h.type);
  if (body < 0) {  // unknown type: skip exactly payload_size bytes, allocating nothing
    StartDiscard(h.payload_size);
    return;
  }
  uint64_t pixel_bytes = 0;
  oversize_ = 0;
  if (h.type == kFrameRequest && (h.flags & kFlagPixelData) && h.payload_size > kFrameRequestBody) {
    pixel_bytes = h.payload_size - kFrameRequestBody;
    // Too large (an honest huge frame or a lying length): answered with an ERROR after the
    // body, and the pixels skipped without being stored, so the connection stays in sync.
    // Closing instead would leave vsockenc resending the frame on a new socket and hanging.
    if (pixel_bytes > max_frame_bytes_) oversize_ = pixel_bytes;
  }
  need_ = std::min<uint64_t>(h.payload_size, static_cast<uint64_t>(body));
  surplus_ = h.payload_size - need_ - pixel_bytes;
  got_ = 0;
  if (need_ == 0) {
    OnBody(sink);
  } else {
    state_ = State::kBody;
  }
}

void HxfrParser::OnBody(MessageSink& sink) {
  const Header& h = current_.header;
  const size_t body = static_cast<size_t>(KnownBodySize(h.type));
  if (need_ < body) {
    ParseProblem p;
    p.header = h;
    p.message = std::string(TypeName(h.type)) + " body is " + std::to_string(need_) +
                " bytes (payload_size), expected " + std::to_string(body);
    StartDiscard(surplus_);
    sink.OnProblem(std::move(p));
    return;
  }
  if (oversize_ > 0) {
    ParseProblem p;
    p.header = h;
    p.message = "FRAME_REQUEST carries " + std::to_string(oversize_) + " pixel bytes, over this server's limit of " +
                std::to_string(max_frame_bytes_) + " (" + limit_name_ +
                "); the pixels were skipped. Send smaller frames or raise " + limit_name_ + " on the host";
    StartDiscard(oversize_ + surplus_);
    surplus_ = 0;
    oversize_ = 0;
    sink.OnProblem(std::move(p));
    return;
  }
  if (h.type == kFrameRequest && (h.flags & kFlagPixelData)) {
    const uint64_t pixel_bytes = h.payload_size - kFrameRequestBody;
    const FrameRequest r = ParseFrameRequest(current_.body);
    std::string error;
    if (!ResolvePixelLayout(r.format, r.width, r.height, r.stride, pixel_bytes, &current_.layout, &error)) {
      ParseProblem p;
      p.header = h;
      p.message = "FRAME_REQUEST: " + error;
      StartDiscard(pixel_bytes);  // skipped, never allocated
      sink.OnProblem(std::move(p));
      return;
    }
    // The owner allocates when there is room (AllocatePixels): nothing is read meanwhile.
    need_ = static_cast<size_t>(pixel_bytes);
    got_ = 0;
    state_ = State::kAwaitRoom;
    return;
  }
  Finish(sink);
}

void HxfrParser::Finish(MessageSink& sink) {
  Message done = std::move(current_);
  current_ = Message();
  StartDiscard(surplus_);
  surplus_ = 0;
  sink.OnMessage(std::move(done));
}

}  // namespace pixelrts::hxfr

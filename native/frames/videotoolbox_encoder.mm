// VideoEncoder over Apple's VideoToolbox (macOS only; the build lists this file only on
// darwin, in place of openh264_encoder.cc). Same stream shape as the openh264 encoder:
// Constrained Baseline, real time, no frame reordering (no B-frames), one access unit out
// per picture in, a keyframe at least every 60 frames, SPS and PPS in front of every
// keyframe, Annex B start codes.
//
// NOT BUILT OR TESTED ON THE LINUX MACHINES THIS PROJECT IS DEVELOPED ON: it follows Apple's
// documented API, but nobody has compiled or run it yet (see docs/frames.md).
//
// Pictures arrive as I420 of even size (EncodingSession pads odd frames, edges repeated, so
// the session is created for the padded size like openh264's) and are copied into an IOSurface-backed NV12 CVPixelBuffer from the
// session's own pool (the format hardware encoders read without a further conversion).
#import <CoreFoundation/CoreFoundation.h>
#import <CoreMedia/CoreMedia.h>
#import <CoreVideo/CoreVideo.h>
#import <VideoToolbox/VideoToolbox.h>

#include <cstring>

#include "frames/encoder.h"

namespace pixelrts::frames {

namespace {

// Owns one Core Foundation reference.
template <typename T>
class CfRef {
 public:
  CfRef() = default;
  explicit CfRef(T ref) : ref_(ref) {}
  ~CfRef() { Reset(); }
  CfRef(const CfRef&) = delete;
  CfRef& operator=(const CfRef&) = delete;
  T get() const { return ref_; }
  T* out() { Reset(); return &ref_; }
  void Reset() {
    if (ref_ != nullptr) CFRelease(ref_);
    ref_ = nullptr;
  }

 private:
  T ref_ = nullptr;
};

CFNumberRef Int32(int32_t v) { return CFNumberCreate(kCFAllocatorDefault, kCFNumberSInt32Type, &v); }
CFNumberRef Float64(double v) { return CFNumberCreate(kCFAllocatorDefault, kCFNumberFloat64Type, &v); }

std::string Status(const char* what, OSStatus s) { return std::string("VideoToolbox: ") + what + " failed (OSStatus " + std::to_string(s) + ")"; }

// Where the output callback puts one encoded picture; lives on Encode's stack, because
// VTCompressionSessionCompleteFrames returns only after the callback ran.
struct PendingOutput {
  EncodedPicture* out = nullptr;
  OSStatus status = noErr;
  bool delivered = false;
  std::string error;
};

const uint8_t kStartCode[4] = {0, 0, 0, 1};

// AVCC sample (length-prefixed NAL units) → Annex B, with SPS and PPS first on keyframes.
void ToAnnexB(CMSampleBufferRef sample, PendingOutput* p) {
  EncodedPicture* out = p->out;
  out->annexb.clear();
  bool keyframe = true;
  CFArrayRef attachments = CMSampleBufferGetSampleAttachmentsArray(sample, false);
  if (attachments != nullptr && CFArrayGetCount(attachments) > 0) {
    auto dict = static_cast<CFDictionaryRef>(CFArrayGetValueAtIndex(attachments, 0));
    CFBooleanRef not_sync = nullptr;
    if (CFDictionaryGetValueIfPresent(dict, kCMSampleAttachmentKey_NotSync, reinterpret_cast<const void**>(&not_sync))) {
      keyframe = !CFBooleanGetValue(not_sync);
    }
  }
  CMFormatDescriptionRef format = CMSampleBufferGetFormatDescription(sample);
  size_t param_count = 0;
  int nal_header_length = 4;
  if (CMVideoFormatDescriptionGetH264ParameterSetAtIndex(format, 0, nullptr, nullptr, &param_count,
                                                         &nal_header_length) != noErr) {
    p->error = "VideoToolbox: the encoded sample has no H.264 format description";
    return;
  }
  if (keyframe) {
    for (size_t i = 0; i < param_count; i++) {
      const uint8_t* set = nullptr;
      size_t size = 0;
      if (CMVideoFormatDescriptionGetH264ParameterSetAtIndex(format, i, &set, &size, nullptr, nullptr) != noErr) {
        p->error = "VideoToolbox: cannot read parameter set " + std::to_string(i);
        return;
      }
      out->annexb.insert(out->annexb.end(), kStartCode, kStartCode + 4);
      out->annexb.insert(out->annexb.end(), set, set + size);
    }
  }
  CMBlockBufferRef block = CMSampleBufferGetDataBuffer(sample);
  size_t total = 0;
  char* data = nullptr;
  if (block == nullptr || CMBlockBufferGetDataPointer(block, 0, nullptr, &total, &data) != noErr) {
    p->error = "VideoToolbox: cannot read the encoded sample's data";
    return;
  }
  const auto* bytes = reinterpret_cast<const uint8_t*>(data);
  const size_t prefix = static_cast<size_t>(nal_header_length);
  size_t off = 0;
  while (off + prefix <= total) {
    size_t len = 0;
    for (size_t i = 0; i < prefix; i++) len = (len << 8) | bytes[off + i];
    off += prefix;
    if (len > total - off) {
      p->error = "VideoToolbox: a NAL unit length runs past the end of the sample";
      return;
    }
    out->annexb.insert(out->annexb.end(), kStartCode, kStartCode + 4);
    out->annexb.insert(out->annexb.end(), bytes + off, bytes + off + len);
    off += len;
  }
  out->keyframe = keyframe;
  p->delivered = true;
}

void OnEncoded(void* /*session_ref*/, void* frame_ref, OSStatus status, VTEncodeInfoFlags flags, CMSampleBufferRef sample) {
  auto* p = static_cast<PendingOutput*>(frame_ref);
  p->status = status;
  if (status != noErr) return;
  if ((flags & kVTEncodeInfo_FrameDropped) || sample == nullptr) {
    p->error = "VideoToolbox dropped the frame";
    return;
  }
  ToAnnexB(sample, p);
}

class VideoToolboxEncoder : public VideoEncoder {
 public:
  ~VideoToolboxEncoder() override { Destroy(); }

  bool Configure(const EncoderSettings& s, std::string* error) override {
    Destroy();
    CfRef<CFMutableDictionaryRef> source(CFDictionaryCreateMutable(kCFAllocatorDefault, 0, &kCFTypeDictionaryKeyCallBacks,
                                                                    &kCFTypeDictionaryValueCallBacks));
    CfRef<CFNumberRef> pixfmt(Int32(kCVPixelFormatType_420YpCbCr8BiPlanarVideoRange));
    CfRef<CFNumberRef> width(Int32(s.width)), height(Int32(s.height));
    CfRef<CFDictionaryRef> iosurface(CFDictionaryCreate(kCFAllocatorDefault, nullptr, nullptr, 0,
                                                        &kCFTypeDictionaryKeyCallBacks, &kCFTypeDictionaryValueCallBacks));
    CFDictionarySetValue(source.get(), kCVPixelBufferPixelFormatTypeKey, pixfmt.get());
    CFDictionarySetValue(source.get(), kCVPixelBufferWidthKey, width.get());
    CFDictionarySetValue(source.get(), kCVPixelBufferHeightKey, height.get());
    // An empty IOSurface properties dictionary asks for IOSurface-backed buffers.
    CFDictionarySetValue(source.get(), kCVPixelBufferIOSurfacePropertiesKey, iosurface.get());

    CfRef<CFMutableDictionaryRef> spec(CFDictionaryCreateMutable(kCFAllocatorDefault, 0, &kCFTypeDictionaryKeyCallBacks,
                                                                  &kCFTypeDictionaryValueCallBacks));
    // Prefer the hardware encoder, but fall back to Apple's software one rather than fail.
    CFDictionarySetValue(spec.get(), kVTVideoEncoderSpecification_EnableHardwareAcceleratedVideoEncoder, kCFBooleanTrue);

    OSStatus st = VTCompressionSessionCreate(kCFAllocatorDefault, s.width, s.height, kCMVideoCodecType_H264, spec.get(),
                                             source.get(), kCFAllocatorDefault, &OnEncoded, this, &session_);
    if (st != noErr) {
      session_ = nullptr;
      *error = Status("VTCompressionSessionCreate", st);
      return false;
    }
    CFStringRef profile = kVTProfileLevel_H264_Baseline_AutoLevel;
    if (@available(macOS 12.0, *)) profile = kVTProfileLevel_H264_ConstrainedBaseline_AutoLevel;
    CfRef<CFNumberRef> gop(Int32(60)), bitrate(Int32(static_cast<int32_t>(s.bitrate))), fps(Float64(s.fps)),
        delay(Int32(0));
    struct {
      CFStringRef key;
      CFTypeRef value;
    } props[] = {
        {kVTCompressionPropertyKey_RealTime, kCFBooleanTrue},
        {kVTCompressionPropertyKey_ProfileLevel, profile},
        {kVTCompressionPropertyKey_AllowFrameReordering, kCFBooleanFalse},  // no B-frames
        {kVTCompressionPropertyKey_MaxKeyFrameInterval, gop.get()},
        {kVTCompressionPropertyKey_AverageBitRate, bitrate.get()},
        {kVTCompressionPropertyKey_ExpectedFrameRate, fps.get()},
        {kVTCompressionPropertyKey_MaxFrameDelayCount, delay.get()},  // one picture in, one out
    };
    for (const auto& p : props) {
      st = VTSessionSetProperty(session_, p.key, p.value);
      if (st != noErr) {
        *error = Status("VTSessionSetProperty", st);
        Destroy();
        return false;
      }
    }
    st = VTCompressionSessionPrepareToEncodeFrames(session_);
    if (st != noErr) {
      *error = Status("VTCompressionSessionPrepareToEncodeFrames", st);
      Destroy();
      return false;
    }
    settings_ = s;
    first_ = true;
    return true;
  }

  bool Encode(const I420View& pic, int64_t pts_ns, bool force_idr, EncodedPicture* out, std::string* error) override {
    if (session_ == nullptr) {
      *error = "VideoToolbox: encoder used before Configure";
      return false;
    }
    CVPixelBufferPoolRef pool = VTCompressionSessionGetPixelBufferPool(session_);
    CfRef<CVPixelBufferRef> buffer;
    if (pool == nullptr || CVPixelBufferPoolCreatePixelBuffer(kCFAllocatorDefault, pool, buffer.out()) != kCVReturnSuccess) {
      *error = "VideoToolbox: cannot get an IOSurface pixel buffer from the session's pool";
      return false;
    }
    CopyToNv12(pic, buffer.get());

    CfRef<CFDictionaryRef> options;
    if (force_idr || first_) {
      const void* keys[] = {kVTEncodeFrameOptionKey_ForceKeyFrame};
      const void* values[] = {kCFBooleanTrue};
      *options.out() = CFDictionaryCreate(kCFAllocatorDefault, keys, values, 1, &kCFTypeDictionaryKeyCallBacks,
                                          &kCFTypeDictionaryValueCallBacks);
    }
    PendingOutput pending;
    pending.out = out;
    VTEncodeInfoFlags flags = 0;
    OSStatus st = VTCompressionSessionEncodeFrame(session_, buffer.get(), CMTimeMake(pts_ns, 1000000000), kCMTimeInvalid,
                                                  options.get(), &pending, &flags);
    if (st == noErr) st = VTCompressionSessionCompleteFrames(session_, kCMTimeInvalid);  // the callback runs before this returns
    if (st != noErr || pending.status != noErr) {
      *error = Status("encoding a frame", st != noErr ? st : pending.status);
      return false;
    }
    if (!pending.delivered) {
      *error = pending.error.empty() ? "VideoToolbox produced no output for the frame" : pending.error;
      return false;
    }
    first_ = false;
    return true;
  }

 private:
  static void CopyToNv12(const I420View& pic, CVPixelBufferRef buffer) {
    CVPixelBufferLockBaseAddress(buffer, 0);
    auto* y = static_cast<uint8_t*>(CVPixelBufferGetBaseAddressOfPlane(buffer, 0));
    auto* uv = static_cast<uint8_t*>(CVPixelBufferGetBaseAddressOfPlane(buffer, 1));
    const size_t y_stride = CVPixelBufferGetBytesPerRowOfPlane(buffer, 0);
    const size_t uv_stride = CVPixelBufferGetBytesPerRowOfPlane(buffer, 1);
    for (int row = 0; row < pic.height; row++) {
      std::memcpy(y + row * y_stride, pic.y + row * pic.y_stride, static_cast<size_t>(pic.width));
    }
    for (int row = 0; row < pic.height / 2; row++) {
      uint8_t* dst = uv + row * uv_stride;
      const uint8_t* u = pic.u + row * pic.uv_stride;
      const uint8_t* v = pic.v + row * pic.uv_stride;
      for (int x = 0; x < pic.width / 2; x++) {
        dst[2 * x] = u[x];
        dst[2 * x + 1] = v[x];
      }
    }
    CVPixelBufferUnlockBaseAddress(buffer, 0);
  }

  void Destroy() {
    if (session_ != nullptr) {
      VTCompressionSessionInvalidate(session_);
      CFRelease(session_);
      session_ = nullptr;
    }
  }

  VTCompressionSessionRef session_ = nullptr;
  EncoderSettings settings_;
  bool first_ = true;
};

}  // namespace

std::unique_ptr<VideoEncoder> CreatePlatformEncoder() { return std::make_unique<VideoToolboxEncoder>(); }

}  // namespace pixelrts::frames

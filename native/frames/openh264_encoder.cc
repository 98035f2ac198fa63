#include "frames/openh264_encoder.h"

#include <wels/codec_api.h>

#include <algorithm>
#include <cstring>

#include "frames/h264_sps_crop.h"

namespace pixelrts::frames {

// This file is built on Linux only; macOS builds videotoolbox_encoder.mm instead.
std::unique_ptr<VideoEncoder> CreatePlatformEncoder() { return std::make_unique<OpenH264Encoder>(); }

OpenH264Encoder::~OpenH264Encoder() { Destroy(); }

void OpenH264Encoder::Destroy() {
  if (encoder_ != nullptr) {
    encoder_->Uninitialize();
    WelsDestroySVCEncoder(encoder_);
    encoder_ = nullptr;
  }
}

namespace {

// openh264's smallest source picture (CWelsPreProcess refuses anything narrower or lower).
constexpr int kMinCodedSize = 16;

}  // namespace

bool OpenH264Encoder::Configure(const EncoderSettings& s, std::string* error) {
  Destroy();
  error->clear();
  coded_width_ = std::max(s.width, kMinCodedSize);
  coded_height_ = std::max(s.height, kMinCodedSize);
  // Two slices encoded by two threads: the machines this targets have two cores. openh264
  // refuses two fixed slices for some short pictures (800x16, 1368x64, 640x112: fewer than
  // 8 macroblock rows at most widths), while one slice initialises at every size (measured over
  // widths 16..8192 and 1..70 macroblock rows), so those fall back to one.
  int rc = Initialize(s, 2, error);
  if (rc != cmResultSuccess && error->empty()) rc = Initialize(s, 1, error);
  if (rc != cmResultSuccess) {
    if (error->empty()) {
      *error = "openh264: InitializeExt rejected " + std::to_string(coded_width_) + "x" +
               std::to_string(coded_height_) + " at " + std::to_string(s.bitrate) + " bit/s (code " +
               std::to_string(rc) + ")";
    }
    return false;
  }
  int format = videoFormatI420;
  encoder_->SetOption(ENCODER_OPTION_DATAFORMAT, &format);
  settings_ = s;
  return true;
}

int OpenH264Encoder::Initialize(const EncoderSettings& s, int slices, std::string* error) {
  Destroy();
  if (WelsCreateSVCEncoder(&encoder_) != 0 || encoder_ == nullptr) {
    encoder_ = nullptr;
    *error = "openh264: WelsCreateSVCEncoder failed";
    return cmInitParaError;
  }
  int quiet = WELS_LOG_QUIET;
  encoder_->SetOption(ENCODER_OPTION_TRACE_LEVEL, &quiet);

  SEncParamExt p;
  encoder_->GetDefaultParams(&p);
  // Real-time camera mode at the lowest complexity. Screen-content mode was measured too
  // (bench/frames.bench.mjs): about twice as slow on a flat desktop and 17x slower (170 ms
  // per 1080p frame) once a window shows video-like texture, which would break the 60 fps
  // budget exactly when the guest is busiest.
  p.iUsageType = CAMERA_VIDEO_REAL_TIME;
  p.iComplexityMode = LOW_COMPLEXITY;
  p.iPicWidth = coded_width_;
  p.iPicHeight = coded_height_;
  p.iTargetBitrate = static_cast<int>(s.bitrate);
  p.iMaxBitrate = UNSPECIFIED_BIT_RATE;
  p.iRCMode = RC_BITRATE_MODE;
  p.fMaxFrameRate = static_cast<float>(s.fps);
  // One picture in, one access unit out: the guest waits for exactly one response.
  p.bEnableFrameSkip = false;
  p.uiIntraPeriod = 60;
  p.iNumRefFrame = 1;
  p.iTemporalLayerNum = 1;
  p.iSpatialLayerNum = 1;
  p.iEntropyCodingModeFlag = 0;  // CAVLC: Constrained Baseline has no CABAC
  p.eSpsPpsIdStrategy = CONSTANT_ID;  // same SPS/PPS ids every IDR: a plain stream decoders splice
  p.bPrefixNalAddingCtrl = false;
  p.bEnableLongTermReference = false;
  p.bEnableSceneChangeDetect = false;  // keyframes only when asked or by GOP, as the guest expects
  p.bEnableBackgroundDetection = false;
  p.bEnableDenoise = false;
  p.bEnableFrameCroppingFlag = true;
  p.iMultipleThreadIdc = slices;
  SSpatialLayerConfig& layer = p.sSpatialLayers[0];
  layer.iVideoWidth = coded_width_;
  layer.iVideoHeight = coded_height_;
  layer.fFrameRate = static_cast<float>(s.fps);
  layer.iSpatialBitrate = static_cast<int>(s.bitrate);
  layer.iMaxSpatialBitrate = UNSPECIFIED_BIT_RATE;
  layer.uiProfileIdc = PRO_BASELINE;
  layer.uiLevelIdc = LEVEL_UNKNOWN;  // let the encoder derive the level from size and rate
  layer.sSliceArgument.uiSliceMode = SM_FIXEDSLCNUM_SLICE;
  layer.sSliceArgument.uiSliceNum = slices;

  const int rc = encoder_->InitializeExt(&p);
  if (rc != cmResultSuccess) Destroy();
  return rc;
}

bool OpenH264Encoder::Encode(const I420View& pic, int64_t pts_ns, bool force_idr, EncodedPicture* out,
                             std::string* error) {
  if (encoder_ == nullptr) {
    *error = "openh264: encoder used before Configure";
    return false;
  }
  if (pic.width != settings_.width || pic.height != settings_.height) {
    *error = "openh264: picture " + std::to_string(pic.width) + "x" + std::to_string(pic.height) +
             " given to an encoder configured for " + std::to_string(settings_.width) + "x" +
             std::to_string(settings_.height);
    return false;
  }
  if (force_idr) encoder_->ForceIntraFrame(true);
  const bool padded = coded_width_ != pic.width || coded_height_ != pic.height;
  I420View coded = pic;
  if (padded) {
    const size_t luma = static_cast<size_t>(coded_width_) * static_cast<size_t>(coded_height_);
    const size_t chroma = luma / 4;
    padded_.resize(luma + 2 * chroma);
    uint8_t* y = padded_.data();
    uint8_t* u = y + luma;
    uint8_t* v = u + chroma;
    const int cw = coded_width_ / 2, ch = coded_height_ / 2;
    CopyPlaneReplicatingEdges(pic.y, pic.y_stride, pic.width, pic.height, y, static_cast<size_t>(coded_width_),
                              coded_width_, coded_height_);
    CopyPlaneReplicatingEdges(pic.u, pic.uv_stride, pic.width / 2, pic.height / 2, u, static_cast<size_t>(cw), cw, ch);
    CopyPlaneReplicatingEdges(pic.v, pic.uv_stride, pic.width / 2, pic.height / 2, v, static_cast<size_t>(cw), cw, ch);
    coded = I420View{y, u, v, static_cast<size_t>(coded_width_), static_cast<size_t>(cw), coded_width_, coded_height_};
  }
  SSourcePicture src;
  std::memset(&src, 0, sizeof src);
  src.iColorFormat = videoFormatI420;
  src.iPicWidth = coded.width;
  src.iPicHeight = coded.height;
  src.iStride[0] = static_cast<int>(coded.y_stride);
  src.iStride[1] = static_cast<int>(coded.uv_stride);
  src.iStride[2] = static_cast<int>(coded.uv_stride);
  src.pData[0] = const_cast<unsigned char*>(coded.y);
  src.pData[1] = const_cast<unsigned char*>(coded.u);
  src.pData[2] = const_cast<unsigned char*>(coded.v);
  src.uiTimeStamp = pts_ns / 1000000;

  SFrameBSInfo info;
  std::memset(&info, 0, sizeof info);
  const int rc = encoder_->EncodeFrame(&src, &info);
  if (rc != cmResultSuccess) {
    *error = "openh264: EncodeFrame failed (code " + std::to_string(rc) + ")";
    return false;
  }
  if (info.eFrameType == videoFrameTypeSkip || info.eFrameType == videoFrameTypeInvalid) {
    *error = "openh264: the encoder produced no picture for this frame (frame type " +
             std::to_string(info.eFrameType) + ")";
    return false;
  }
  // openh264 already writes 4-byte start codes and, for an IDR, the SPS and PPS layer
  // first: concatenating the layers in order gives the Annex B access unit.
  out->annexb.clear();
  for (int i = 0; i < info.iLayerNum; i++) {
    const SLayerBSInfo& layer = info.sLayerInfo[i];
    size_t size = 0;
    for (int n = 0; n < layer.iNalCount; n++) size += static_cast<size_t>(layer.pNalLengthInByte[n]);
    out->annexb.insert(out->annexb.end(), layer.pBsBuf, layer.pBsBuf + size);
  }
  out->keyframe = info.eFrameType == videoFrameTypeIDR;
  // Only IDRs carry an SPS; it must describe the picture the caller gave, not the padded one.
  if (padded && out->keyframe && !CropSpsInAccessUnit(&out->annexb, pic.width, pic.height, error)) return false;
  return true;
}

}  // namespace pixelrts::frames

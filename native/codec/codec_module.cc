// Binding of the codec concept: what it exports to JavaScript (see lib/codec/binding.ts).
// Every argument is checked here (type, integer, range) before any native code sees it, and
// every size that reaches an allocation is bounded by the image or by a caller's explicit
// maximum. Failures become JS Errors with ERR_PIXELRTS_* codes; no C++ exception crosses into
// Node-API (the few that the standard library can throw are caught at each entry point).
#include <napi.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <utility>

#include "codec/background_decode.h"
#include "codec/band_gather.h"
#include "codec/byte_buffer.h"
#include "codec/deflater.h"
#include "codec/hilbert.h"
#include "codec/inflater.h"
#include "codec/png_reader.h"
#include "codec/png_stream_decoder.h"
#include "codec/png_file_writer.h"
#include "codec/png_writer.h"
#include "codec/concat_source.h"
#include "codec/decoded_cache.h"
#include "codec/stream_decompressor.h"
#include "common/atomic_file.h"
#include "common/js_error.h"
#include "common/sha256.h"
#include "common/modules.h"
#include "common/payload_handle.h"

namespace pixelrts {

using codec::BackgroundDecode;
using codec::ByteBuffer;
using codec::PngReader;
using codec::PngStreamDecoder;
using codec::PngWriter;

namespace {

// Largest Buffer a call may return or take a size for (Node's Buffer limit on 64-bit hosts).
constexpr double kMaxBufferBytes = 4294967296.0;

Failure ArgError(const std::string& fn, const std::string& what) {
  return Failure::make("ERR_PIXELRTS_ARGUMENT", fn + ": " + what);
}

// Reads and validates the arguments of one call; the first problem is kept in `failure`.
class Args {
 public:
  Args(const Napi::CallbackInfo& info, std::string fn) : info_(info), fn_(std::move(fn)) {}

  bool ok() const { return failure.ok(); }
  Failure failure;

  Napi::Buffer<uint8_t> buffer(size_t i, const char* name) {
    if (!ok()) return {};
    if (info_.Length() <= i || !info_[i].IsBuffer()) {
      fail(std::string(name) + " must be a Buffer");
      return {};
    }
    return info_[i].As<Napi::Buffer<uint8_t>>();
  }

  Napi::Object object(size_t i, const char* name, bool optional) {
    if (!ok()) return {};
    if (info_.Length() <= i || info_[i].IsUndefined()) {
      if (optional) return Napi::Object::New(info_.Env());
      fail(std::string(name) + " must be an object");
      return {};
    }
    if (!info_[i].IsObject() || info_[i].IsArray()) {
      fail(std::string(name) + " must be an object");
      return {};
    }
    return info_[i].As<Napi::Object>();
  }

  std::string string(size_t i, const char* name) {
    if (!ok()) return {};
    if (info_.Length() <= i || !info_[i].IsString()) {
      fail(std::string(name) + " must be a string");
      return {};
    }
    return info_[i].As<Napi::String>().Utf8Value();
  }

  // An integer in [min, max] from argument i.
  double integer(size_t i, const char* name, double min, double max) {
    if (!ok()) return 0;
    if (info_.Length() <= i) {
      fail(std::string(name) + " is missing");
      return 0;
    }
    return check_integer(info_[i], name, min, max);
  }

  // An integer option; `fallback` when absent (undefined), an error when required and absent.
  double option_integer(const Napi::Object& o, const char* key, double min, double max, double fallback,
                        bool required) {
    if (!ok()) return fallback;
    Napi::Value v = o.Get(key);
    if (v.IsUndefined()) {
      if (required) fail(std::string("options.") + key + " is required");
      return fallback;
    }
    return check_integer(v, (std::string("options.") + key).c_str(), min, max);
  }

  bool option_bool(const Napi::Object& o, const char* key, bool fallback) {
    if (!ok()) return fallback;
    Napi::Value v = o.Get(key);
    if (v.IsUndefined()) return fallback;
    if (!v.IsBoolean()) {
      fail(std::string("options.") + key + " must be a boolean");
      return fallback;
    }
    return v.As<Napi::Boolean>().Value();
  }

  void fail(const std::string& what) {
    if (ok()) failure = ArgError(fn_, what);
  }

 private:
  double check_integer(const Napi::Value& v, const char* name, double min, double max) {
    if (!v.IsNumber()) {
      fail(std::string(name) + " must be a number");
      return 0;
    }
    const double d = v.As<Napi::Number>().DoubleValue();
    if (!std::isfinite(d) || std::floor(d) != d || d < min || d > max) {
      fail(std::string(name) + " must be an integer from " + Num(min) + " to " + Num(max) + ", got " + Num(d));
      return 0;
    }
    return d;
  }
  static std::string Num(double d) {
    if (std::isfinite(d) && std::floor(d) == d && std::fabs(d) < 1e18) return std::to_string(static_cast<int64_t>(d));
    return std::to_string(d);
  }

  const Napi::CallbackInfo& info_;
  std::string fn_;
};

Failure OutOfMemory(const std::string& fn) {
  return Failure::make("ERR_PIXELRTS_NO_MEMORY", fn + ": out of memory");
}

// Runs `body`, turning a standard-library exception into a JS error.
template <typename F>
Napi::Value Guarded(Napi::Env env, const char* fn, F&& body) {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    return ThrowJs(env, OutOfMemory(fn));
  } catch (const std::exception& e) {
    return ThrowJs(env, "ERR_PIXELRTS_INTERNAL", std::string(fn) + ": " + e.what());
  }
}

// A new Buffer of `length` bytes from Node's allocator, or a pending ERR_PIXELRTS_NO_MEMORY.
// Outputs whose size is known up front use these: Node recycles their memory across calls,
// where a buffer handed over with a finalizer is freed only after the event loop turns.
bool NewBuffer(Napi::Env env, size_t length, Napi::Buffer<uint8_t>* out, const char* fn) {
  *out = Napi::Buffer<uint8_t>::New(env, length);
  if (env.IsExceptionPending()) {
    env.GetAndClearPendingException();
    ThrowJs(env, "ERR_PIXELRTS_NO_MEMORY", std::string(fn) + ": cannot allocate a Buffer of " +
                                               std::to_string(length) + " bytes");
    return false;
  }
  return true;
}

// The output of a gather: options.into when given (exactly `length` bytes), else a new Buffer.
// False with a pending JS error.
bool OutputBuffer(Napi::Env env, const Napi::Object& options, size_t length, Napi::Buffer<uint8_t>* out,
                  const char* fn) {
  Napi::Value into = options.Get("into");
  if (into.IsUndefined()) return NewBuffer(env, length, out, fn);
  if (!into.IsBuffer() || into.As<Napi::Buffer<uint8_t>>().Length() != length) {
    ThrowJs(env, ArgError(fn, "options.into must be a Buffer of exactly options.length = " + std::to_string(length) +
                                  " bytes"));
    return false;
  }
  *out = into.As<Napi::Buffer<uint8_t>>();
  return true;
}

// Hands a ByteBuffer's bytes to JS without copying where the runtime allows it.
Napi::Value ToJsBuffer(Napi::Env env, ByteBuffer bytes, size_t length) {
  if (length == 0) return Napi::Buffer<uint8_t>::New(env, 0);
  auto* owner = new ByteBuffer(std::move(bytes));
  return Napi::Buffer<uint8_t>::NewOrCopy(env, owner->data(), length,
                                          [](Napi::Env, uint8_t*, ByteBuffer* hint) { delete hint; }, owner);
}

// ---- readPngInfo -------------------------------------------------------------------------

Napi::Value ReadPngInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guarded(env, "readPngInfo", [&]() -> Napi::Value {
    Args args(info, "readPngInfo");
    auto png = args.buffer(0, "png");
    if (!args.ok()) return ThrowJs(env, args.failure);
    PngReader reader;
    Failure f = reader.parse(png.Data(), png.Length(), true);
    if (!f.ok()) return ThrowJs(env, f);
    Napi::Object out = Napi::Object::New(env);
    out.Set("width", reader.width());
    out.Set("height", reader.height());
    out.Set("bitDepth", reader.bit_depth());
    out.Set("colorType", reader.color_type());
    out.Set("interlace", reader.interlace());
    Napi::Array texts = Napi::Array::New(env, reader.texts().size());
    for (size_t i = 0; i < reader.texts().size(); i++) {
      const codec::PngText& t = reader.texts()[i];
      Napi::Object o = Napi::Object::New(env);
      o.Set("chunk", t.chunk);
      o.Set("keyword", t.keyword);
      o.Set("text", t.text);
      texts.Set(static_cast<uint32_t>(i), o);
    }
    out.Set("texts", texts);
    out.Set("hasBandIndex", reader.band_index() != nullptr);
    out.Set("hasHashTree", reader.hash_tree().length > 0);
    return out;
  });
}

// ---- gatherStream ------------------------------------------------------------------------

struct GatherRequest {
  uint64_t offset = 0;
  uint64_t length = 0;
  bool transposed = false;
  int threads = 0;
  bool require_band_index = false;
};

GatherRequest ReadGatherOptions(Args* args, const Napi::Object& o) {
  GatherRequest r;
  r.offset = static_cast<uint64_t>(args->option_integer(o, "offset", 0, kMaxBufferBytes * 4, 0, false));
  r.length = static_cast<uint64_t>(args->option_integer(o, "length", 0, kMaxBufferBytes, 0, true));
  r.transposed = args->option_bool(o, "transposed", false);
  r.threads = static_cast<int>(args->option_integer(o, "threads", 0, 2, 0, false));
  r.require_band_index = args->option_bool(o, "requireBandIndex", false);
  return r;
}

Failure RunGather(const uint8_t* png, size_t png_size, const GatherRequest& r, uint8_t* out) {
  PngReader reader;
  Failure f = reader.parse(png, png_size, false);
  if (!f.ok()) return f;
  PngStreamDecoder decoder(reader, r.transposed);
  f = decoder.decode(r.offset, r.length, out, r.threads, nullptr);
  if (f.ok() && r.require_band_index && r.length > 0 && !decoder.used_band_index()) {
    return Failure::make("ERR_PIXELRTS_BAND_INDEX",
                         reader.band_index() == nullptr
                             ? "the file has no usable band index" +
                                   (reader.band_index_problem().empty() ? std::string() : " (" + reader.band_index_problem() + ")")
                             : std::string("the band index was present but decoding fell back to the one-call path"));
  }
  return f;
}

// Cheap bound check before allocating the output: the IHDR side without reading the rest.
// When the header is not even plausible, the full parse reports the problem.
Failure CheckRangeAgainstHeader(const uint8_t* png, size_t size, const GatherRequest& r, const char* fn) {
  if (size < 24) return Failure::none();
  const uint64_t w = (uint64_t{png[16]} << 24) | (uint64_t{png[17]} << 16) | (uint64_t{png[18]} << 8) | png[19];
  const uint64_t h = (uint64_t{png[20]} << 24) | (uint64_t{png[21]} << 16) | (uint64_t{png[22]} << 8) | png[23];
  if (w == 0 || w != h || w > PngReader::kMaxGrid) return Failure::none();
  const uint64_t capacity = w * h * 4;
  if (r.offset > capacity || r.length > capacity - r.offset) {
    return Failure::make("ERR_PIXELRTS_RANGE", std::string(fn) + ": range [" + std::to_string(r.offset) + ", " +
                                                   std::to_string(r.offset + r.length) + ") lies outside the " +
                                                   std::to_string(capacity) + "-byte pixel stream of a " +
                                                   std::to_string(w) + "x" + std::to_string(h) + " image");
  }
  return Failure::none();
}

Napi::Value GatherStream(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guarded(env, "gatherStream", [&]() -> Napi::Value {
    Args args(info, "gatherStream");
    auto png = args.buffer(0, "png");
    Napi::Object o = args.object(1, "options", false);
    GatherRequest r = ReadGatherOptions(&args, o);
    if (!args.ok()) return ThrowJs(env, args.failure);
    Failure f = CheckRangeAgainstHeader(png.Data(), png.Length(), r, "gatherStream");
    if (!f.ok()) return ThrowJs(env, f);
    Napi::Buffer<uint8_t> out;
    if (!OutputBuffer(env, o, static_cast<size_t>(r.length), &out, "gatherStream")) return env.Undefined();
    f = RunGather(png.Data(), png.Length(), r, out.Data());
    if (!f.ok()) return ThrowJs(env, f);
    return out;
  });
}

// Base for the promise-returning workers: Execute() fills `failure_` instead of throwing.
class PromiseWorker : public Napi::AsyncWorker {
 public:
  explicit PromiseWorker(Napi::Env env, const char* name)
      : Napi::AsyncWorker(env, name), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    try {
      failure_ = run();
    } catch (const std::bad_alloc&) {
      failure_ = OutOfMemory(Name());
    } catch (const std::exception& e) {
      failure_ = Failure::make("ERR_PIXELRTS_INTERNAL", std::string(Name()) + ": " + e.what());
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    if (!failure_.ok()) {
      deferred_.Reject(MakeJsError(env, failure_).Value());
      return;
    }
    deferred_.Resolve(result(env));
  }
  virtual const char* Name() const = 0;
  virtual Failure run() = 0;
  virtual Napi::Value result(Napi::Env env) = 0;

  Failure failure_;

 private:
  Napi::Promise::Deferred deferred_;
};

// A promise already rejected with `f`: how the promise-returning functions report bad arguments.
Napi::Value Rejected(Napi::Env env, const Failure& f) {
  auto deferred = Napi::Promise::Deferred::New(env);
  deferred.Reject(MakeJsError(env, f).Value());
  return deferred.Promise();
}

// Queues `worker` and returns the promise it settles.
template <typename Worker>
Napi::Value Queued(Worker* worker) {
  Napi::Promise p = worker->promise();
  worker->Queue();
  return p;
}

class GatherWorker final : public PromiseWorker {
 public:
  GatherWorker(Napi::Env env, Napi::Buffer<uint8_t> png, Napi::Buffer<uint8_t> out, GatherRequest request)
      : PromiseWorker(env, "gatherStreamAsync"),
        png_ref_(Napi::Persistent(png)),
        out_ref_(Napi::Persistent(out)),
        png_(png.Data()),
        png_size_(png.Length()),
        out_(out.Data()),
        request_(request) {}

 protected:
  const char* Name() const override { return "gatherStreamAsync"; }
  Failure run() override { return RunGather(png_, png_size_, request_, out_); }
  Napi::Value result(Napi::Env) override { return out_ref_.Value(); }

 private:
  Napi::Reference<Napi::Buffer<uint8_t>> png_ref_;  // keeps the input alive while the worker runs
  Napi::Reference<Napi::Buffer<uint8_t>> out_ref_;
  const uint8_t* png_;
  size_t png_size_;
  uint8_t* out_;
  GatherRequest request_;
};

Napi::Value GatherStreamAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guarded(env, "gatherStreamAsync", [&]() -> Napi::Value {
    Args args(info, "gatherStreamAsync");
    auto png = args.buffer(0, "png");
    Napi::Object o = args.object(1, "options", false);
    GatherRequest r = ReadGatherOptions(&args, o);
    Failure f = args.ok() ? CheckRangeAgainstHeader(png.Data(), png.Length(), r, "gatherStreamAsync") : args.failure;
    if (!f.ok()) return Rejected(env, f);
    Napi::Buffer<uint8_t> out;
    if (!OutputBuffer(env, o, static_cast<size_t>(r.length), &out, "gatherStreamAsync")) {
      // The error is pending; a promise can only be made once it is taken off.
      Napi::Error error = env.GetAndClearPendingException();
      auto deferred = Napi::Promise::Deferred::New(env);
      deferred.Reject(error.Value());
      return deferred.Promise();
    }
    auto* worker = new GatherWorker(env, png, out, r);
    return Queued(worker);
  });
}

// ---- gatherPixels, hilbertD2xy ---------------------------------------------------------------

Napi::Value GatherPixels(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guarded(env, "gatherPixels", [&]() -> Napi::Value {
    Args args(info, "gatherPixels");
    auto pixels = args.buffer(0, "pixels");
    Napi::Object o = args.object(1, "options", false);
    const double grid = args.option_integer(o, "grid", 1, PngReader::kMaxGrid, 0, true);
    GatherRequest r = ReadGatherOptions(&args, o);
    if (!args.ok()) return ThrowJs(env, args.failure);
    const uint64_t g = static_cast<uint64_t>(grid);
    if ((g & (g - 1)) != 0) return ThrowJs(env, ArgError("gatherPixels", "options.grid must be a power of two"));
    const uint64_t capacity = g * g * 4;
    if (pixels.Length() != capacity) {
      return ThrowJs(env, ArgError("gatherPixels", "pixels must hold grid·grid·4 = " + std::to_string(capacity) +
                                                       " bytes, got " + std::to_string(pixels.Length())));
    }
    if (r.offset > capacity || r.length > capacity - r.offset) {
      return ThrowJs(env, "ERR_PIXELRTS_RANGE", "gatherPixels: range [" + std::to_string(r.offset) + ", " +
                                                    std::to_string(r.offset + r.length) + ") lies outside the " +
                                                    std::to_string(capacity) + "-byte stream");
    }
    Napi::Buffer<uint8_t> out;
    if (!OutputBuffer(env, o, static_cast<size_t>(r.length), &out, "gatherPixels")) return env.Undefined();
    codec::HilbertTiling tiling(static_cast<uint32_t>(g), r.transposed);
    const size_t stride = static_cast<size_t>(g) * 4;
    codec::BandGather gather(tiling, stride);
    std::vector<uint8_t> needed;
    tiling.bands_touched(r.offset, r.offset + r.length, &needed);
    for (uint32_t b = 0; b < tiling.bands(); b++) {
      if (needed[b]) {
        gather.gather(b, pixels.Data() + size_t{b} * tiling.tile_side() * stride, r.offset, r.offset + r.length,
                      out.Data(), /*prefetch_ahead=*/true);
      }
    }
    return out;
  });
}

Napi::Value HilbertD2xy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Args args(info, "hilbertD2xy");
  const double n = args.integer(0, "n", 1, PngReader::kMaxGrid);
  const double d = args.integer(1, "d", 0, 4294967296.0 * 4);
  if (!args.ok()) return ThrowJs(env, args.failure);
  const uint64_t g = static_cast<uint64_t>(n);
  if ((g & (g - 1)) != 0) return ThrowJs(env, ArgError("hilbertD2xy", "n must be a power of two"));
  if (static_cast<uint64_t>(d) >= g * g) {
    return ThrowJs(env, "ERR_PIXELRTS_RANGE", "hilbertD2xy: d must be below n² = " + std::to_string(g * g));
  }
  uint32_t x, y;
  codec::HilbertD2xy(static_cast<uint32_t>(g), static_cast<uint64_t>(d), &x, &y);
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, x);
  out.Set(1u, y);
  return out;
}

// JS: hilbertBands(grid, { band?, begin?, end?, transposed?, table? }) -> for tests of the tiling:
// { tiles: [[curveTile, orientation], ...] } of band `band`, and { bands: [...] } touched by the
// stream range [begin, end). table: false works band tiles out by walking the curve even where
// the grid is small enough for the table, so both ways can be compared.
Napi::Value HilbertBands(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guarded(env, "hilbertBands", [&]() -> Napi::Value {
    Args args(info, "hilbertBands");
    const auto g = static_cast<uint32_t>(args.integer(0, "grid", 1, PngReader::kMaxGrid));
    Napi::Object o = args.object(1, "options", true);
    const bool transposed = args.option_bool(o, "transposed", false);
    const bool table = args.option_bool(o, "table", true);
    if (args.ok() && (g & (g - 1)) != 0) args.fail("grid must be a power of two");
    if (!args.ok()) return ThrowJs(env, args.failure);
    codec::HilbertTiling tiling(g, transposed, table);
    Napi::Object out = Napi::Object::New(env);
    const auto band = static_cast<uint32_t>(args.option_integer(o, "band", 0, tiling.bands() - 1, 0, false));
    const auto capacity = static_cast<double>(uint64_t{g} * g * 4);
    const auto begin = static_cast<uint64_t>(args.option_integer(o, "begin", 0, capacity, 0, false));
    const auto end = static_cast<uint64_t>(args.option_integer(o, "end", 0, capacity, 0, false));
    if (!args.ok()) return ThrowJs(env, args.failure);
    std::vector<codec::TilePlacement> scratch;
    const codec::TilePlacement* tiles = tiling.band_tiles(band, &scratch);
    Napi::Array list = Napi::Array::New(env, tiling.tiles_per_side());
    for (uint32_t tx = 0; tx < tiling.tiles_per_side(); tx++) {
      Napi::Array pair = Napi::Array::New(env, 2);
      pair.Set(0u, tiles[tx].curve_tile);
      pair.Set(1u, tiles[tx].orientation);
      list.Set(tx, pair);
    }
    out.Set("tiles", list);
    std::vector<uint8_t> needed;
    tiling.bands_touched(begin, end, &needed);
    Napi::Array bands = Napi::Array::New(env);
    for (uint32_t b = 0; b < needed.size(); b++) {
      if (needed[b]) bands.Set(bands.Length(), b);
    }
    out.Set("bands", bands);
    return out;
  });
}

// ---- decompress, compressZlib ------------------------------------------------------------

Napi::Value Decompress(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guarded(env, "decompress", [&]() -> Napi::Value {
    Args args(info, "decompress");
    auto stream = args.buffer(0, "stream");
    const double max_output = args.integer(1, "maxOutput", 0, kMaxBufferBytes);
    if (!args.ok()) return ThrowJs(env, args.failure);
    codec::Inflater inflater;
    ByteBuffer out;
    size_t produced = 0;
    codec::StreamFormat format;
    Failure f = codec::StreamDecompressor::Bounded(&inflater, stream.Data(), stream.Length(),
                                                   static_cast<size_t>(max_output), &out, &produced, &format);
    if (!f.ok()) return ThrowJs(env, f);
    Napi::Object result = Napi::Object::New(env);
    result.Set("data", ToJsBuffer(env, std::move(out), produced));
    result.Set("format", codec::StreamDecompressor::Name(format));
    return result;
  });
}

Napi::Value CompressZlib(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guarded(env, "compressZlib", [&]() -> Napi::Value {
    Args args(info, "compressZlib");
    auto data = args.buffer(0, "data");
    const double level = args.integer(1, "level", 0, 12);
    if (!args.ok()) return ThrowJs(env, args.failure);
    codec::Deflater deflater(static_cast<int>(level));
    ByteBuffer out;
    if (!deflater.ok() || !out.allocate(deflater.zlib_bound(data.Length()))) return ThrowJs(env, OutOfMemory("compressZlib"));
    const size_t n = deflater.zlib(data.Data(), data.Length(), out.data(), out.size());
    if (n == 0) return ThrowJs(env, "ERR_PIXELRTS_DEFLATE", "compressZlib: libdeflate could not compress the data");
    return ToJsBuffer(env, std::move(out), n);
  });
}

// ---- encodePng ---------------------------------------------------------------------------

bool ReadEncodeOptions(Args* args, const Napi::Object& o, codec::EncodeParams* p) {
  p->grid = static_cast<uint32_t>(args->option_integer(o, "grid", 1, PngReader::kMaxGrid, 0, false));
  p->level = static_cast<int>(args->option_integer(o, "level", 0, 12, 6, false));
  p->band_index = args->option_bool(o, "bandIndex", true);
  p->hash_tree = args->option_bool(o, "hashTree", true);
  p->threads = static_cast<int>(args->option_integer(o, "threads", 0, 2, 0, false));
  if (!args->ok()) return false;
  Napi::Value texts = o.Get("texts");
  if (texts.IsUndefined()) return true;
  if (!texts.IsArray()) {
    args->fail("options.texts must be an array of {keyword, text}");
    return false;
  }
  Napi::Array arr = texts.As<Napi::Array>();
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value e = arr.Get(i);
    Napi::Value k = e.IsObject() ? e.As<Napi::Object>().Get("keyword") : Napi::Value();
    Napi::Value t = e.IsObject() ? e.As<Napi::Object>().Get("text") : Napi::Value();
    if (!e.IsObject() || !k.IsString() || !t.IsString()) {
      args->fail("options.texts[" + std::to_string(i) + "] must be {keyword: string, text: string}");
      return false;
    }
    p->texts.push_back({k.As<Napi::String>().Utf8Value(), t.As<Napi::String>().Utf8Value()});
  }
  return true;
}

Napi::Value EncodePng(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guarded(env, "encodePng", [&]() -> Napi::Value {
    Args args(info, "encodePng");
    auto stream = args.buffer(0, "stream");
    Napi::Object o = args.object(1, "options", false);
    codec::EncodeParams params;
    if (!ReadEncodeOptions(&args, o, &params)) return ThrowJs(env, args.failure);
    ByteBuffer out;
    size_t size = 0;
    Failure f = PngWriter::Encode(stream.Data(), stream.Length(), params, &out, &size);
    if (!f.ok()) return ThrowJs(env, f);
    return ToJsBuffer(env, std::move(out), size);
  });
}

class EncodeWorker final : public PromiseWorker {
 public:
  EncodeWorker(Napi::Env env, Napi::Buffer<uint8_t> stream, codec::EncodeParams params)
      : PromiseWorker(env, "encodePngAsync"),
        stream_ref_(Napi::Persistent(stream)),
        stream_(stream.Data()),
        stream_size_(stream.Length()),
        params_(std::move(params)) {}

 protected:
  const char* Name() const override { return "encodePngAsync"; }
  Failure run() override { return PngWriter::Encode(stream_, stream_size_, params_, &out_, &out_size_); }
  Napi::Value result(Napi::Env env) override { return ToJsBuffer(env, std::move(out_), out_size_); }

 private:
  Napi::Reference<Napi::Buffer<uint8_t>> stream_ref_;
  const uint8_t* stream_;
  size_t stream_size_;
  codec::EncodeParams params_;
  ByteBuffer out_;
  size_t out_size_ = 0;
};

Napi::Value EncodePngAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guarded(env, "encodePngAsync", [&]() -> Napi::Value {
    Args args(info, "encodePngAsync");
    auto stream = args.buffer(0, "stream");
    Napi::Object o = args.object(1, "options", false);
    codec::EncodeParams params;
    Failure f = ReadEncodeOptions(&args, o, &params) ? PngWriter::Validate(stream.Length(), params) : args.failure;
    if (!f.ok()) return Rejected(env, f);
    auto* worker = new EncodeWorker(env, stream, std::move(params));
    return Queued(worker);
  });
}

// ---- writePngFile ------------------------------------------------------------------------

// JS: writePngFile(path, pieces, options, onProgress?) -> Promise<{ size }>. The stream is the
// pieces end to end, each a Buffer or { path, size, mtimeNs } (a file as the caller hashed it);
// the PNG is encoded band by band straight into an unnamed file in path's directory, which
// replaces `path` only once it is complete and on disk (common/atomic_file.h).
struct ProgressReport {
  uint64_t done;
  uint64_t total;
};

class WritePngFileWorker final : public Napi::AsyncProgressWorker<ProgressReport> {
 public:
  WritePngFileWorker(Napi::Env env, Napi::Function on_progress, std::string path,
                     std::vector<codec::ConcatSource::Piece> pieces, std::vector<Napi::Reference<Napi::Buffer<uint8_t>>> keep,
                     codec::EncodeParams params)
      : Napi::AsyncProgressWorker<ProgressReport>(env, "writePngFile"),
        deferred_(Napi::Promise::Deferred::New(env)),
        path_(std::move(path)),
        pieces_(std::move(pieces)),
        keep_(std::move(keep)),
        params_(std::move(params)) {
    if (!on_progress.IsEmpty()) on_progress_ = Napi::Persistent(on_progress);
  }

  Napi::Promise promise() { return deferred_.Promise(); }

 protected:
  void Execute(const ExecutionProgress& progress) override {
    try {
      failure_ = run(progress);
    } catch (const std::bad_alloc&) {
      failure_ = OutOfMemory("writePngFile");
    } catch (const std::exception& e) {
      failure_ = Failure::make("ERR_PIXELRTS_INTERNAL", std::string("writePngFile: ") + e.what());
    }
  }

  void OnProgress(const ProgressReport* report, size_t count) override {
    if (on_progress_.IsEmpty() || report == nullptr || count == 0) return;
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    const ProgressReport& r = report[count - 1];
    on_progress_.Value().Call({Napi::Number::New(env, static_cast<double>(r.done)),
                               Napi::Number::New(env, static_cast<double>(r.total))});
    if (env.IsExceptionPending()) env.GetAndClearPendingException();  // a throwing listener must not stop the write
  }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    if (!failure_.ok()) {
      deferred_.Reject(MakeJsError(env, failure_).Value());
      return;
    }
    Napi::Object out = Napi::Object::New(env);
    out.Set("size", Napi::Number::New(env, static_cast<double>(size_)));
    deferred_.Resolve(out);
  }

 private:
  Failure run(const ExecutionProgress& progress) {
    codec::ConcatSource source;
    Failure f = source.open(std::move(pieces_));
    if (!f.ok()) return f;
    AtomicFile file;
    f = file.create(path_);
    if (!f.ok()) return f;
    f = codec::PngFileWriter::Write(source, params_, file.fd(), path_, [&](uint64_t done, uint64_t total) {
      const ProgressReport r{done, total};
      progress.Send(&r, 1);
    });
    if (!f.ok()) return f;
    f = source.verify_unchanged();
    if (!f.ok()) return f;
    const off_t end = ::lseek(file.fd(), 0, SEEK_END);
    size_ = end < 0 ? 0 : static_cast<uint64_t>(end);
    return file.commit();
  }

  Napi::Promise::Deferred deferred_;
  Napi::FunctionReference on_progress_;
  std::string path_;
  std::vector<codec::ConcatSource::Piece> pieces_;
  std::vector<Napi::Reference<Napi::Buffer<uint8_t>>> keep_;  // the Buffer pieces, alive until the write ends
  codec::EncodeParams params_;
  Failure failure_;
  uint64_t size_ = 0;
};

// Reads pieces[i]: a Buffer, or { path: string, size: number, mtimeNs: bigint }.
bool ReadPiece(Args* args, const Napi::Value& v, uint32_t i, codec::ConcatSource::Piece* piece,
               std::vector<Napi::Reference<Napi::Buffer<uint8_t>>>* keep) {
  const std::string where = "pieces[" + std::to_string(i) + "]";
  if (v.IsBuffer()) {
    auto b = v.As<Napi::Buffer<uint8_t>>();
    piece->data = b.Length() == 0 ? reinterpret_cast<const uint8_t*>("") : b.Data();
    piece->size = b.Length();
    keep->push_back(Napi::Persistent(b));
    return true;
  }
  if (!v.IsObject() || v.IsArray()) {
    args->fail(where + " must be a Buffer or {path, size, mtimeNs}");
    return false;
  }
  Napi::Object o = v.As<Napi::Object>();
  Napi::Value path = o.Get("path");
  Napi::Value mtime = o.Get("mtimeNs");
  if (!path.IsString() || path.As<Napi::String>().Utf8Value().empty()) {
    args->fail(where + ".path must be a non-empty string");
    return false;
  }
  if (!mtime.IsBigInt()) {
    args->fail(where + ".mtimeNs must be a bigint (fs.statSync(path, { bigint: true }).mtimeNs)");
    return false;
  }
  bool lossless = false;
  piece->mtime_ns = mtime.As<Napi::BigInt>().Int64Value(&lossless);
  piece->path = path.As<Napi::String>().Utf8Value();
  piece->size = static_cast<uint64_t>(args->option_integer(o, "size", 0, 9007199254740991.0, 0, true));
  if (!lossless) args->fail(where + ".mtimeNs is out of range");
  return args->ok();
}

Napi::Value WritePngFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guarded(env, "writePngFile", [&]() -> Napi::Value {
    Args args(info, "writePngFile");
    std::string path = args.string(0, "path");
    std::vector<codec::ConcatSource::Piece> pieces;
    std::vector<Napi::Reference<Napi::Buffer<uint8_t>>> keep;
    uint64_t total = 0;
    if (args.ok() && (info.Length() < 2 || !info[1].IsArray())) args.fail("pieces must be an array");
    if (args.ok()) {
      Napi::Array arr = info[1].As<Napi::Array>();
      for (uint32_t i = 0; i < arr.Length() && args.ok(); i++) {
        codec::ConcatSource::Piece piece;
        if (ReadPiece(&args, arr.Get(i), i, &piece, &keep)) {
          total += piece.size;
          pieces.push_back(std::move(piece));
        }
      }
    }
    Napi::Object o = args.object(2, "options", false);
    codec::EncodeParams params;
    Napi::Function on_progress;
    if (args.ok() && info.Length() > 3 && !info[3].IsUndefined()) {
      if (!info[3].IsFunction()) args.fail("onProgress must be a function");
      else on_progress = info[3].As<Napi::Function>();
    }
    Failure f = args.ok() && ReadEncodeOptions(&args, o, &params) ? PngWriter::Validate(total, params) : args.failure;
    if (!f.ok()) return Rejected(env, f);
    auto* worker = new WritePngFileWorker(env, on_progress, std::move(path), std::move(pieces), std::move(keep),
                                          std::move(params));
    return Queued(worker);
  });
}

// ---- startPayload, payloadProgress -------------------------------------------------------

Napi::Value StartPayload(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guarded(env, "startPayload", [&]() -> Napi::Value {
    Args args(info, "startPayload");
    std::string path = args.string(0, "path");
    Napi::Object o = args.object(1, "options", false);
    BackgroundDecode::Options opts;
    opts.stored_size = static_cast<uint64_t>(args.option_integer(o, "storedSize", 0, kMaxBufferBytes * 4, 0, true));
    opts.payload_size = static_cast<uint64_t>(args.option_integer(o, "payloadSize", 0, 9007199254740991.0, 0, true));
    opts.transposed = args.option_bool(o, "transposed", false);
    if (args.ok()) {
      Napi::Value c = o.Get("compression");
      if (!c.IsString() || (c.As<Napi::String>().Utf8Value() != "none" && c.As<Napi::String>().Utf8Value() != "auto")) {
        args.fail("options.compression must be 'none' or 'auto'");
      } else {
        opts.compressed = c.As<Napi::String>().Utf8Value() == "auto";
      }
    }
    if (!args.ok()) return ThrowJs(env, args.failure);
    std::shared_ptr<BackgroundDecode> source;
    Failure f = BackgroundDecode::Start(path, opts, &source);
    if (!f.ok()) return ThrowJs(env, f);
    return PayloadHandle::New(env, std::move(source));
  });
}

Napi::Value PayloadProgress(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<PayloadSource> source = info.Length() > 0 ? PayloadHandle::From(info[0]) : nullptr;
  if (!source) return ThrowJs(env, ArgError("payloadProgress", "handle must be a PayloadHandle"));
  PayloadSource::Progress p = source->progress();
  Napi::Object out = Napi::Object::New(env);
  out.Set("bandsDone", p.bands_done);
  out.Set("bands", p.bands);
  out.Set("finished", p.finished);
  out.Set("bandsDecoded", p.bands_decoded);
  return out;
}

// The arguments of openDecodedCache and openDecodedCacheAsync: (path, { cachePath, payloadSize,
// transposed? }).
struct DecodedCacheArgs {
  std::string path;
  std::string cache_path;
  uint64_t payload_size = 0;
  bool transposed = false;
  bool readahead = true;
};

bool ReadDecodedCacheArgs(Args* args, DecodedCacheArgs* out) {
  out->path = args->string(0, "path");
  Napi::Object o = args->object(1, "options", false);
  if (args->ok()) {
    Napi::Value c = o.Get("cachePath");
    if (!c.IsString() || c.As<Napi::String>().Utf8Value().empty()) args->fail("options.cachePath must be a non-empty string");
    else out->cache_path = c.As<Napi::String>().Utf8Value();
  }
  out->payload_size = static_cast<uint64_t>(args->option_integer(o, "payloadSize", 0, kMaxBufferBytes * 4, 0, true));
  out->transposed = args->option_bool(o, "transposed", false);
  out->readahead = args->option_bool(o, "readahead", true);
  return args->ok();
}

// JS: openDecodedCache(path, { cachePath, payloadSize, transposed?, readahead? }) -> PayloadHandle: a payload stored
// uncompressed, decoded into the cache file `cachePath` (band by band on demand with a band
// index, front to back without) and served from it (decoded_cache.h).
Napi::Value OpenDecodedCache(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guarded(env, "openDecodedCache", [&]() -> Napi::Value {
    Args args(info, "openDecodedCache");
    DecodedCacheArgs a;
    if (!ReadDecodedCacheArgs(&args, &a)) return ThrowJs(env, args.failure);
    std::shared_ptr<codec::DecodedCache> source;
    Failure f = codec::DecodedCache::Open(a.path, a.cache_path, a.payload_size, a.transposed, &source);
    if (!f.ok()) return ThrowJs(env, f);
    if (!a.readahead) source->disable_readahead();
    return PayloadHandle::New(env, std::move(source));
  });
}

// Opening reads the file's head and the hash tree's band hashes: on the thread pool, for files
// whose reads may wait on a network (a container read from a URL).
class OpenDecodedCacheWorker final : public PromiseWorker {
 public:
  OpenDecodedCacheWorker(Napi::Env env, DecodedCacheArgs args) : PromiseWorker(env, "pixelrts:openDecodedCache"), args_(std::move(args)) {}

 protected:
  const char* Name() const override { return "openDecodedCacheAsync"; }
  Failure run() override {
    Failure f = codec::DecodedCache::Open(args_.path, args_.cache_path, args_.payload_size, args_.transposed, &source_);
    if (f.ok() && !args_.readahead) source_->disable_readahead();
    return f;
  }
  Napi::Value result(Napi::Env env) override { return PayloadHandle::New(env, std::move(source_)); }

 private:
  DecodedCacheArgs args_;
  std::shared_ptr<codec::DecodedCache> source_;
};

// JS: openDecodedCacheAsync(path, options) -> Promise<PayloadHandle>: openDecodedCache, opened
// off the main thread.
Napi::Value OpenDecodedCacheAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Args args(info, "openDecodedCacheAsync");
  DecodedCacheArgs a;
  if (!ReadDecodedCacheArgs(&args, &a)) return Rejected(env, args.failure);
  return Queued(new OpenDecodedCacheWorker(env, std::move(a)));
}

Napi::Value PayloadRead(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guarded(env, "payloadRead", [&]() -> Napi::Value {
    std::shared_ptr<PayloadSource> source = info.Length() > 0 ? PayloadHandle::From(info[0]) : nullptr;
    if (!source) return ThrowJs(env, ArgError("payloadRead", "handle must be a PayloadHandle"));
    Args args(info, "payloadRead");
    const double offset = args.integer(1, "offset", 0, 9007199254740991.0);
    const double length = args.integer(2, "length", 0, kMaxBufferBytes);
    if (!args.ok()) return ThrowJs(env, args.failure);
    const uint64_t off = static_cast<uint64_t>(offset), len = static_cast<uint64_t>(length);
    if (off > source->size() || len > source->size() - off) {
      return ThrowJs(env, "ERR_PIXELRTS_RANGE", "payloadRead: range [" + std::to_string(off) + ", " +
                                                    std::to_string(off + len) + ") lies outside the " +
                                                    std::to_string(source->size()) + "-byte payload");
    }
    const int rc = source->wait_ready(off, len);
    if (rc != 0) {
      const std::string why = source->failure();
      return ThrowJs(env, rc == EINTR ? "ERR_PIXELRTS_CANCELLED" : "ERR_PIXELRTS_DECODE",
                     "payloadRead: " + (why.empty() ? std::string("the decode was cancelled") : why));
    }
    Napi::Buffer<uint8_t> out;
    if (!NewBuffer(env, static_cast<size_t>(len), &out, "payloadRead")) return env.Undefined();
    const int err = CopyOut(*source, off, out.Data(), static_cast<size_t>(len));
    if (err != 0) {
      return ThrowJs(env, "ERR_PIXELRTS_IO", std::string("payloadRead: cannot read the decoded payload (") + std::strerror(err) + ")");
    }
    return out;
  });
}

// JS: payloadToFile(handle, path, extents, expectedSha256?) -> Promise<{ size, sha256, written }>:
// the bytes of `extents` ([offset, length] ranges of the payload, in order) written to `path`
// atomically (common/atomic_file.h), a few MiB at a time, whatever their total, and hashed on
// the way; with expectedSha256, a mismatch writes nothing (written: false).
class PayloadToFileWorker final : public PromiseWorker {
 public:
  PayloadToFileWorker(Napi::Env env, std::shared_ptr<PayloadSource> source, std::string path,
                      std::vector<std::pair<uint64_t, uint64_t>> extents, std::string expected)
      : PromiseWorker(env, "payloadToFile"),
        source_(std::move(source)),
        path_(std::move(path)),
        extents_(std::move(extents)),
        expected_(std::move(expected)) {}

 protected:
  const char* Name() const override { return "payloadToFile"; }

  Failure run() override {
    if (!Sha256::Available()) {
      return Failure::make("ERR_PIXELRTS_INTERNAL", "payloadToFile: no SHA-256 (OpenSSL's libcrypto) was found");
    }
    Sha256 hash;
    if (!hash.ok()) return OutOfMemory("payloadToFile");
    AtomicFile file;
    Failure f = file.create(path_);
    if (!f.ok()) return f;
    ByteBuffer buffer;
    constexpr size_t kStep = size_t{4} << 20;
    if (!buffer.allocate(kStep)) return OutOfMemory("payloadToFile");
    for (const auto& [offset, length] : extents_) {
      for (uint64_t done = 0; done < length;) {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(kStep, length - done));
        const int rc = source_->wait_ready(offset + done, n);
        if (rc != 0) {
          const std::string why = source_->failure();
          return Failure::make(rc == EINTR ? "ERR_PIXELRTS_CANCELLED" : "ERR_PIXELRTS_DECODE",
                               why.empty() ? std::string("the decode was cancelled") : why);
        }
        const int err = CopyOut(*source_, offset + done, buffer.data(), n);
        if (err != 0) return Failure::make("ERR_PIXELRTS_IO", std::string("cannot read the decoded payload (") + std::strerror(err) + ")");
        hash.Update(buffer.data(), n);
        f = file.write(buffer.data(), n);
        if (!f.ok()) return f;
        done += n;
        size_ += n;
      }
    }
    uint8_t digest[Sha256::kSize];
    hash.Final(digest);
    static const char* kHex = "0123456789abcdef";
    for (uint8_t b : digest) {
      sha256_.push_back(kHex[b >> 4]);
      sha256_.push_back(kHex[b & 15]);
    }
    written_ = expected_.empty() || expected_ == sha256_;
    return written_ ? file.commit() : Failure::none();  // a mismatch: the unnamed file just goes away
  }

  Napi::Value result(Napi::Env env) override {
    Napi::Object out = Napi::Object::New(env);
    out.Set("size", Napi::Number::New(env, static_cast<double>(size_)));
    out.Set("sha256", sha256_);
    out.Set("written", written_);
    return out;
  }

 private:
  std::shared_ptr<PayloadSource> source_;
  std::string path_;
  std::vector<std::pair<uint64_t, uint64_t>> extents_;
  std::string expected_;
  uint64_t size_ = 0;
  std::string sha256_;
  bool written_ = false;
};

Napi::Value PayloadToFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guarded(env, "payloadToFile", [&]() -> Napi::Value {
    std::shared_ptr<PayloadSource> source = info.Length() > 0 ? PayloadHandle::From(info[0]) : nullptr;
    if (!source) return Rejected(env, ArgError("payloadToFile", "handle must be a PayloadHandle"));
    Args args(info, "payloadToFile");
    std::string path = args.string(1, "path");
    std::vector<std::pair<uint64_t, uint64_t>> extents;
    if (args.ok() && (info.Length() < 3 || !info[2].IsArray())) args.fail("extents must be an array of [offset, length]");
    if (args.ok()) {
      Napi::Array arr = info[2].As<Napi::Array>();
      for (uint32_t i = 0; i < arr.Length() && args.ok(); i++) {
        Napi::Value e = arr.Get(i);
        if (!e.IsArray() || e.As<Napi::Array>().Length() != 2) {
          args.fail("extents[" + std::to_string(i) + "] must be [offset, length]");
          break;
        }
        Napi::Array pair = e.As<Napi::Array>();
        Napi::Value o = pair.Get(0u), n = pair.Get(1u);
        if (!o.IsNumber() || !n.IsNumber()) {
          args.fail("extents[" + std::to_string(i) + "] must hold two numbers");
          break;
        }
        const double off = o.As<Napi::Number>().DoubleValue(), len = n.As<Napi::Number>().DoubleValue();
        if (!(off >= 0 && len >= 0 && std::floor(off) == off && std::floor(len) == len && off + len <= static_cast<double>(source->size()))) {
          return Rejected(env, Failure::make("ERR_PIXELRTS_RANGE", "payloadToFile: extents[" + std::to_string(i) +
                                                                "] lies outside the " + std::to_string(source->size()) +
                                                                "-byte payload"));
        }
        extents.emplace_back(static_cast<uint64_t>(off), static_cast<uint64_t>(len));
      }
    }
    std::string expected;
    if (args.ok() && info.Length() > 3 && !info[3].IsUndefined()) expected = args.string(3, "expectedSha256");
    if (!args.ok()) return Rejected(env, args.failure);
    auto* worker = new PayloadToFileWorker(env, std::move(source), std::move(path), std::move(extents), std::move(expected));
    return Queued(worker);
  });
}

// JS: writeFileAtomic(path, data, { mode, durable }) -> Promise<void>: `data` written into an
// unnamed file beside `path` that replaces it once complete (common/atomic_file.h), so a crash
// or SIGKILL at any point leaves the old file and nothing else.
class WriteFileAtomicWorker final : public PromiseWorker {
 public:
  WriteFileAtomicWorker(Napi::Env env, std::string path, Napi::Buffer<uint8_t> data, uint32_t mode, bool durable)
      : PromiseWorker(env, "writeFileAtomic"),
        path_(std::move(path)),
        data_ref_(Napi::Persistent(data)),
        data_(data.Data()),
        size_(data.Length()),
        mode_(mode),
        durable_(durable) {}

 protected:
  const char* Name() const override { return "writeFileAtomic"; }
  Failure run() override {
    AtomicFile file;
    Failure f = file.create(path_, static_cast<mode_t>(mode_));
    if (f.ok()) f = file.write(data_, size_);
    return f.ok() ? file.commit(durable_) : f;
  }
  Napi::Value result(Napi::Env env) override { return env.Undefined(); }

 private:
  std::string path_;
  Napi::Reference<Napi::Buffer<uint8_t>> data_ref_;
  const uint8_t* data_;
  size_t size_;
  uint32_t mode_;
  bool durable_;
};

Napi::Value WriteFileAtomic(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guarded(env, "writeFileAtomic", [&]() -> Napi::Value {
    Args args(info, "writeFileAtomic");
    std::string path = args.string(0, "path");
    auto data = args.buffer(1, "data");
    Napi::Object o = args.object(2, "options", true);
    const auto mode = static_cast<uint32_t>(args.option_integer(o, "mode", 0, 07777, 0666, false));
    const bool durable = args.option_bool(o, "durable", true);
    if (!args.ok()) return Rejected(env, args.failure);
    auto* worker = new WriteFileAtomicWorker(env, std::move(path), data, mode, durable);
    return Queued(worker);
  });
}

// JS: payloadCancel(handle): stops the decode; waiters and later waits get EINTR.
Napi::Value PayloadCancel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<PayloadSource> source = info.Length() > 0 ? PayloadHandle::From(info[0]) : nullptr;
  if (!source) return ThrowJs(env, ArgError("payloadCancel", "handle must be a PayloadHandle"));
  source->cancel();
  return env.Undefined();
}

}  // namespace

void InitCodec(Napi::Env env, Napi::Object exports) {
  exports.Set("readPngInfo", Napi::Function::New(env, ReadPngInfo, "readPngInfo"));
  exports.Set("gatherStream", Napi::Function::New(env, GatherStream, "gatherStream"));
  exports.Set("gatherStreamAsync", Napi::Function::New(env, GatherStreamAsync, "gatherStreamAsync"));
  exports.Set("gatherPixels", Napi::Function::New(env, GatherPixels, "gatherPixels"));
  exports.Set("hilbertD2xy", Napi::Function::New(env, HilbertD2xy, "hilbertD2xy"));
  exports.Set("hilbertBands", Napi::Function::New(env, HilbertBands, "hilbertBands"));
  exports.Set("decompress", Napi::Function::New(env, Decompress, "decompress"));
  exports.Set("compressZlib", Napi::Function::New(env, CompressZlib, "compressZlib"));
  exports.Set("encodePng", Napi::Function::New(env, EncodePng, "encodePng"));
  exports.Set("encodePngAsync", Napi::Function::New(env, EncodePngAsync, "encodePngAsync"));
  exports.Set("writePngFile", Napi::Function::New(env, WritePngFile, "writePngFile"));
  exports.Set("openDecodedCache", Napi::Function::New(env, OpenDecodedCache, "openDecodedCache"));
  exports.Set("openDecodedCacheAsync", Napi::Function::New(env, OpenDecodedCacheAsync, "openDecodedCacheAsync"));
  exports.Set("startPayload", Napi::Function::New(env, StartPayload, "startPayload"));
  exports.Set("payloadProgress", Napi::Function::New(env, PayloadProgress, "payloadProgress"));
  exports.Set("payloadRead", Napi::Function::New(env, PayloadRead, "payloadRead"));
  exports.Set("payloadToFile", Napi::Function::New(env, PayloadToFile, "payloadToFile"));
  exports.Set("writeFileAtomic", Napi::Function::New(env, WriteFileAtomic, "writeFileAtomic"));
  exports.Set("payloadCancel", Napi::Function::New(env, PayloadCancel, "payloadCancel"));
}

}  // namespace pixelrts

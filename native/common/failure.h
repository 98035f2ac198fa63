// A native failure as plain data (no Node-API), so code that also runs outside the addon
// (fuzz targets, background threads) can report errors: a stable ERR_PIXELRTS_* code and a
// message that says what was expected, what was found and what to do. js_error.h turns it
// into a JS Error.
#pragma once

#include <string>
#include <utility>

namespace pixelrts {

struct Failure {
  std::string code;     // e.g. "ERR_PIXELRTS_PNG_CRC"
  std::string message;  // complete sentence(s), no trailing newline

  bool ok() const { return code.empty(); }
  static Failure none() { return {}; }
  static Failure make(std::string c, std::string m) { return {std::move(c), std::move(m)}; }
};

}  // namespace pixelrts

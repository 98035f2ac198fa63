#include "nbd/export_table.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace pixelrts::nbd {

namespace {

constexpr const char* kHeader = "pixelrts-nbd-exports 1";

Failure TableError(const std::string& path, size_t line, const std::string& what) {
  return Failure::make("ERR_PIXELRTS_ARGUMENT",
                       path + " line " + std::to_string(line) + ": " + what +
                           ". The export table is written by `pixelrts serve --nbd`; let it write the table.");
}

// A decimal uint64 making up all of `s`.
bool ParseU64(const std::string& s, uint64_t* out) {
  if (s.empty() || s.size() > 20) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - digit) / 10) return false;
    v = v * 10 + digit;
  }
  *out = v;
  return true;
}

bool IsHex64(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// "OFFSET:LENGTH[,OFFSET:LENGTH...]" into e->extents, e->starts and e->size.
bool ParseExtents(const std::string& field, Export* e) {
  if (field == "-") return true;
  std::stringstream list(field);
  std::string item;
  while (std::getline(list, item, ',')) {
    const size_t colon = item.find(':');
    Extent x{};
    if (colon == std::string::npos || !ParseU64(item.substr(0, colon), &x.offset) ||
        !ParseU64(item.substr(colon + 1), &x.length) || x.length == 0 || x.offset > UINT64_MAX - x.length ||
        e->size > UINT64_MAX - x.length) {
      return false;
    }
    e->starts.push_back(e->size);
    e->extents.push_back(x);
    e->size += x.length;
  }
  return !e->extents.empty();
}

}  // namespace

Failure ExportTable::Load(const std::string& path, ExportTable* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int e = errno;
    return Failure::make(e == ENOENT ? "ERR_PIXELRTS_NOT_FOUND" : "ERR_PIXELRTS_IO",
                         path + ": cannot read the export table (" + std::strerror(e) + "); check exports=FILE");
  }
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad()) return Failure::make("ERR_PIXELRTS_IO", path + ": cannot read the export table");
  return Parse(text.str(), path, out);
}

Failure ExportTable::Parse(const std::string& text, const std::string& path, ExportTable* out) {
  out->path_ = path;
  out->exports_.clear();
  if (text.find('\0') != std::string::npos) return TableError(path, 1, "the table holds a NUL byte");
  std::stringstream lines(text);
  std::string line;
  size_t n = 0;
  while (std::getline(lines, line)) {
    n++;
    if (n == 1) {
      if (line != kHeader) return TableError(path, 1, std::string("expected \"") + kHeader + "\", found \"" + line.substr(0, 80) + "\"");
      continue;
    }
    if (line.empty()) continue;
    // TYPE SHA256 EXTENTS NAME: three fields split at single spaces, the name is the rest.
    size_t at = 0;
    std::string fields[3];
    for (auto& f : fields) {
      const size_t space = line.find(' ', at);
      if (space == std::string::npos) return TableError(path, n, "expected TYPE SHA256 EXTENTS NAME");
      f = line.substr(at, space - at);
      at = space + 1;
    }
    Export e;
    e.type = fields[0];
    e.sha256 = fields[1] == "-" ? std::string() : fields[1];
    e.name = line.substr(at);
    if (e.type.empty()) return TableError(path, n, "the type is empty");
    if (!e.sha256.empty() && !IsHex64(e.sha256)) return TableError(path, n, "the sha256 is not 64 lowercase hex digits");
    if (!ParseExtents(fields[2], &e)) {
      return TableError(path, n, "the extents \"" + fields[2].substr(0, 80) + "\" are not OFFSET:LENGTH[,OFFSET:LENGTH...] of non-empty ranges (or '-')");
    }
    if (e.name.empty() || e.name.size() > kMaxName) {
      return TableError(path, n, "an export name must be 1 to " + std::to_string(kMaxName) + " bytes");
    }
    if (out->find(e.name) != nullptr) return TableError(path, n, "the export \"" + e.name + "\" is listed twice");
    out->exports_.push_back(std::move(e));
  }
  if (n == 0) return TableError(path, 1, std::string("the table is empty; expected \"") + kHeader + "\"");
  if (out->exports_.empty()) return TableError(path, n, "the table lists no export");
  return Failure::none();
}

Failure ExportTable::check_within(uint64_t payload_size) const {
  for (const Export& e : exports_) {
    for (const Extent& x : e.extents) {
      if (x.offset > payload_size || x.length > payload_size - x.offset) {
        return Failure::make("ERR_PIXELRTS_ARGUMENT",
                             path_ + ": export \"" + e.name + "\" has bytes [" + std::to_string(x.offset) + ", " +
                                 std::to_string(x.offset + x.length) + ") outside the " + std::to_string(payload_size) +
                                 "-byte payload; the table belongs to another container (check container= and exports=)");
      }
    }
  }
  return Failure::none();
}

const Export* ExportTable::find(const std::string& name) const {
  for (const Export& e : exports_) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

const Export* ExportTable::default_export() const {
  for (const Export& e : exports_) {
    if (e.type == "disk" || e.type == "iso" || e.type == "disk-image") return &e;
  }
  return exports_.empty() ? nullptr : &exports_.front();
}

std::string ExportTable::names() const {
  std::string out;
  for (const Export& e : exports_) out += (out.empty() ? "\"" : ", \"") + e.name + "\"";
  return out;
}

}  // namespace pixelrts::nbd

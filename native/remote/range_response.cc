#include "remote/range_response.h"

#include <cstdio>
#include <cstdlib>

namespace pixelrts::remote {

namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return s;
}

std::string Trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t')) b++;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\r' || s[e - 1] == '\n')) e--;
  return s.substr(b, e - b);
}

// Digits only, no sign, no overflow: strtoull would take "-1" and wrap it.
bool ParseUint(const std::string& s, size_t* pos, uint64_t* out) {
  const size_t start = *pos;
  uint64_t v = 0;
  while (*pos < s.size() && s[*pos] >= '0' && s[*pos] <= '9') {
    const uint64_t d = static_cast<uint64_t>(s[*pos] - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
    (*pos)++;
  }
  *out = v;
  return *pos > start;
}

// "bytes FIRST-LAST/TOTAL" (TOTAL may be "*"): false for anything else, or first > last, or
// last ≥ total.
bool ParseContentRange(const std::string& v, uint64_t* first, uint64_t* last, uint64_t* total) {
  const std::string unit = "bytes ";
  if (Lower(v.substr(0, unit.size())) != unit) return false;
  size_t pos = unit.size();
  if (!ParseUint(v, &pos, first) || pos >= v.size() || v[pos++] != '-') return false;
  if (!ParseUint(v, &pos, last) || pos >= v.size() || v[pos++] != '/') return false;
  if (pos + 1 == v.size() && v[pos] == '*') {
    *total = 0;
  } else if (!ParseUint(v, &pos, total) || pos != v.size() || *total <= *last) {
    return false;
  }
  return *first <= *last;
}

}  // namespace

void RangeResponse::header_line(const char* data, size_t n) {
  // Once body bytes are kept the answer is settled: what follows (chunked trailers, or a
  // server's garbage) cannot change the range they were checked against.
  if (n > kMaxHeaderLine || delivered_ > 0) return;
  const std::string line(data, n);
  if (line.rfind("HTTP/", 0) == 0) {
    const size_t sp = line.find(' ');
    status_ = sp == std::string::npos ? 0 : std::strtol(line.c_str() + sp + 1, nullptr, 10);
    has_range_ = false;
    reply_ = RangeReply{};
    return;
  }
  const size_t colon = line.find(':');
  if (colon == std::string::npos) return;
  const std::string name = Lower(Trim(line.substr(0, colon)));
  const std::string value = Trim(line.substr(colon + 1));
  if (name == "content-range") {
    has_range_ = ParseContentRange(value, &first_, &last_, &reply_.total);
  } else if (name == "etag") {
    reply_.etag = value.rfind("W/", 0) == 0 ? std::string() : value;
  } else if (name == "last-modified") {
    reply_.last_modified = value;
  }
}

bool RangeResponse::accept_body(size_t n) {
  if (!fatal_.empty()) return false;
  if (status_ != 206) {
    if (status_ >= 200 && status_ < 300) {
      fatal_ = validator_sent_
                   ? "the file changed on the server while it was being read (it no longer matches the version "
                     "this read started with); run the command again to read the new version"
                   : "the server answered a byte-range request with the whole file (status " + std::to_string(status_) +
                         "): it does not serve ranges, so the container cannot be read on demand from it";
    }
    return false;
  }
  if (delivered_ == 0 && (!has_range_ || first_ != offset_ || last_ - first_ >= length_)) {
    fatal_ = "the server sent a range other than the one asked for (Content-Range does not match bytes " +
             std::to_string(offset_) + "-" + std::to_string(offset_ + length_ - 1) + ")";
    return false;
  }
  if (n > length_ - delivered_ || (has_range_ && n > last_ - first_ + 1 - delivered_)) {
    fatal_ = "the server sent more bytes than the range it announced";
    return false;
  }
  delivered_ += n;
  return true;
}

}  // namespace pixelrts::remote

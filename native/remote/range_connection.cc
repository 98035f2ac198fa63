#include "remote/range_connection.h"

#include <cerrno>
#include <cstring>
#include <string>

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

// "bytes FIRST-LAST/TOTAL" (the total may be "*"): false when it is anything else.
bool ParseContentRange(const std::string& v, uint64_t* first, uint64_t* last, uint64_t* total) {
  unsigned long long f = 0, l = 0, t = 0;
  char star = 0;
  if (std::sscanf(v.c_str(), "bytes %llu-%llu/%llu", &f, &l, &t) == 3) {
    *first = f, *last = l, *total = t;
    return l >= f && t > l;
  }
  if (std::sscanf(v.c_str(), "bytes %llu-%llu/%c", &f, &l, &star) == 3 && star == '*') {
    *first = f, *last = l, *total = 0;
    return l >= f;
  }
  return false;
}

}  // namespace

// The state of one request, shared with libcurl's callbacks.
struct RangeConnection::Transfer {
  uint64_t offset = 0;
  uint64_t length = 0;
  const Sink* sink = nullptr;
  uint64_t delivered = 0;
  long status = 0;
  bool has_range = false;
  uint64_t first = 0, last = 0, total = 0;
  RangeReply reply;
  bool validator_sent = false;
  std::string fatal;  // set by a callback that aborted the transfer
};

RangeConnection::RangeConnection(std::shared_ptr<const Libcurl> curl, Settings settings)
    : curl_(std::move(curl)), settings_(std::move(settings)), easy_(curl_->easy_init()) {}

RangeConnection::~RangeConnection() {
  if (easy_ != nullptr) curl_->easy_cleanup(easy_);
}

size_t RangeConnection::OnHeader(char* data, size_t size, size_t count, void* p) {
  auto* t = static_cast<Transfer*>(p);
  const std::string line(data, size * count);
  if (line.rfind("HTTP/", 0) == 0) {
    // A new response (after a redirect or a 100 Continue): forget the previous one's fields.
    const size_t sp = line.find(' ');
    t->status = sp == std::string::npos ? 0 : std::strtol(line.c_str() + sp + 1, nullptr, 10);
    t->has_range = false;
    t->reply = RangeReply{};
    return size * count;
  }
  const size_t colon = line.find(':');
  if (colon == std::string::npos) return size * count;
  const std::string name = Lower(Trim(line.substr(0, colon)));
  const std::string value = Trim(line.substr(colon + 1));
  if (name == "content-range") {
    t->has_range = ParseContentRange(value, &t->first, &t->last, &t->total);
  } else if (name == "etag") {
    if (value.rfind("W/", 0) != 0) t->reply.etag = value;
  } else if (name == "last-modified") {
    t->reply.last_modified = value;
  }
  return size * count;
}

size_t RangeConnection::OnBody(char* data, size_t size, size_t count, void* p) {
  auto* t = static_cast<Transfer*>(p);
  const size_t n = size * count;
  if (t->status != 206) {
    // Only a 206 carries the bytes asked for. Any other body (an error page, or the whole file
    // because the server ignores ranges or the file changed) is not read; the status decides.
    if (t->status >= 200 && t->status < 300) {
      t->fatal = t->validator_sent
                     ? "the file changed on the server while it was being read (it no longer matches the version "
                       "this read started with); run the command again to read the new version"
                     : "the server answered a byte-range request with the whole file (status " +
                           std::to_string(t->status) +
                           "): it does not serve ranges, so the container cannot be read on demand from it";
      return 0;
    }
    return n;  // an error page: discarded, the status says what happened
  }
  if (t->delivered == 0) {
    if (!t->has_range || t->first != t->offset || t->last >= t->offset + t->length || (t->total != 0 && t->total <= t->last)) {
      t->fatal = "the server sent a range other than the one asked for (Content-Range does not match bytes " +
                 std::to_string(t->offset) + "-" + std::to_string(t->offset + t->length - 1) + ")";
      return 0;
    }
  }
  if (n > t->length - t->delivered) {
    t->fatal = "the server sent more bytes than the range it announced";
    return 0;
  }
  if (const int err = (*t->sink)(t->offset + t->delivered, reinterpret_cast<const uint8_t*>(data), n); err != 0) {
    t->fatal = std::string("the bytes received could not be kept in the cache (") + std::strerror(err) + ")";
    return 0;
  }
  t->delivered += n;
  return n;
}

RangeConnection::Outcome RangeConnection::fetch(uint64_t offset, uint64_t length, const std::string& validator,
                                                const Sink& sink, uint64_t* delivered, RangeReply* reply,
                                                std::string* why) {
  *delivered = 0;
  if (easy_ == nullptr) {
    *why = "libcurl could not make a connection handle (out of memory)";
    return Outcome::kFatal;
  }
  Transfer t;
  t.offset = offset;
  t.length = length;
  t.sink = &sink;
  t.validator_sent = !validator.empty();

  const Libcurl& c = *curl_;
  const std::string range = std::to_string(offset) + "-" + std::to_string(offset + length - 1);
  curl_slist* headers = nullptr;
  if (!validator.empty()) headers = c.slist_append(headers, ("If-Range: " + validator).c_str());
  char error[CURL_ERROR_SIZE] = {0};
  c.easy_setopt(easy_, CURLOPT_URL, settings_.url.c_str());
  c.easy_setopt(easy_, CURLOPT_RANGE, range.c_str());
  c.easy_setopt(easy_, CURLOPT_HTTPHEADER, headers);
  c.easy_setopt(easy_, CURLOPT_NOSIGNAL, 1L);  // worker threads: no SIGALRM for timeouts
  c.easy_setopt(easy_, CURLOPT_FOLLOWLOCATION, 1L);
  c.easy_setopt(easy_, CURLOPT_MAXREDIRS, 5L);
  // Redirects stay on HTTP(S): a server cannot send the reader to file:// or elsewhere.
  if (c.easy_setopt(easy_, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK) {
    c.easy_setopt(easy_, CURLOPT_PROTOCOLS, static_cast<long>(CURLPROTO_HTTP | CURLPROTO_HTTPS));
  }
  if (c.easy_setopt(easy_, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") != CURLE_OK) {
    c.easy_setopt(easy_, CURLOPT_REDIR_PROTOCOLS, static_cast<long>(CURLPROTO_HTTP | CURLPROTO_HTTPS));
  }
  c.easy_setopt(easy_, CURLOPT_CONNECTTIMEOUT_MS, settings_.connect_timeout_ms);
  c.easy_setopt(easy_, CURLOPT_LOW_SPEED_LIMIT, 1L);
  c.easy_setopt(easy_, CURLOPT_LOW_SPEED_TIME, settings_.stall_seconds);
  c.easy_setopt(easy_, CURLOPT_TCP_KEEPALIVE, 1L);
  c.easy_setopt(easy_, CURLOPT_USERAGENT, "pixelrts");
  c.easy_setopt(easy_, CURLOPT_ERRORBUFFER, error);
  c.easy_setopt(easy_, CURLOPT_HEADERFUNCTION, &RangeConnection::OnHeader);
  c.easy_setopt(easy_, CURLOPT_HEADERDATA, &t);
  c.easy_setopt(easy_, CURLOPT_WRITEFUNCTION, &RangeConnection::OnBody);
  c.easy_setopt(easy_, CURLOPT_WRITEDATA, &t);
  const CURLcode rc = c.easy_perform(easy_);
  // The handle outlives this call (keep-alive); nothing it points at may.
  c.easy_setopt(easy_, CURLOPT_HTTPHEADER, static_cast<curl_slist*>(nullptr));
  c.easy_setopt(easy_, CURLOPT_ERRORBUFFER, static_cast<char*>(nullptr));
  c.easy_setopt(easy_, CURLOPT_HEADERDATA, static_cast<void*>(nullptr));
  c.easy_setopt(easy_, CURLOPT_WRITEDATA, static_cast<void*>(nullptr));
  c.slist_free_all(headers);
  *delivered = t.delivered;
  if (t.status == 206 && t.has_range) {
    *reply = t.reply;
    reply->total = t.total;
  }

  if (!t.fatal.empty()) {
    *why = t.fatal;
    return Outcome::kFatal;
  }
  if (rc == CURLE_OK && t.status == 206 && t.delivered == length) return Outcome::kOk;
  if (rc == CURLE_OK) {
    const std::string status = "HTTP status " + std::to_string(t.status);
    if (t.status == 206) {
      *why = "the response ended after " + std::to_string(t.delivered) + " of " + std::to_string(length) + " bytes";
      return Outcome::kTransient;
    }
    if (t.status >= 500 || t.status == 408 || t.status == 429) {
      *why = "the server is unavailable (" + status + ")";
      return Outcome::kTransient;
    }
    if (t.status == 416) {
      *why = "the server says the file is shorter than the range asked for (" + status +
             "): it changed on the server; run the command again";
    } else if (t.status == 404 || t.status == 410) {
      *why = "the server has no such file (" + status + "); check the URL";
    } else if (t.status == 401 || t.status == 403) {
      *why = "the server refused access (" + status + ")";
    } else {
      *why = "the server answered " + status + " to a byte-range request";
    }
    return Outcome::kFatal;
  }
  const std::string detail = error[0] != 0 ? std::string(error) : std::string(c.easy_strerror(rc));
  switch (rc) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_TOO_MANY_REDIRECTS:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_OUT_OF_MEMORY:
      *why = detail;
      return Outcome::kFatal;
    default:
      // Connection refused or reset, name lookup, timeouts and stalls, cut transfers: the next
      // attempt may well succeed.
      *why = detail;
      return Outcome::kTransient;
  }
}

}  // namespace pixelrts::remote

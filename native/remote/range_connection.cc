#include "remote/range_connection.h"

#include <cerrno>
#include <cstring>
#include <string>

namespace pixelrts::remote {

// The state of one request, shared with libcurl's callbacks.
struct RangeConnection::Transfer {
  RangeResponse response;
  const Sink* sink;
  std::string sink_error;  // set when the sink refused bytes
};

RangeConnection::RangeConnection(std::shared_ptr<const Libcurl> curl, Settings settings)
    : curl_(std::move(curl)), settings_(std::move(settings)), easy_(curl_->easy_init()) {}

RangeConnection::~RangeConnection() {
  if (easy_ != nullptr) curl_->easy_cleanup(easy_);
}

size_t RangeConnection::OnHeader(char* data, size_t size, size_t count, void* p) {
  static_cast<Transfer*>(p)->response.header_line(data, size * count);
  return size * count;
}

size_t RangeConnection::OnBody(char* data, size_t size, size_t count, void* p) {
  auto* t = static_cast<Transfer*>(p);
  const size_t n = size * count;
  const uint64_t position = t->response.position();
  if (!t->response.accept_body(n)) return t->response.fatal().empty() ? n : 0;  // an error page is dropped
  if (const int err = (*t->sink)(position, reinterpret_cast<const uint8_t*>(data), n); err != 0) {
    t->sink_error = std::string("the bytes received could not be kept in the cache (") + std::strerror(err) + ")";
    return 0;
  }
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
  Transfer t{RangeResponse(offset, length, !validator.empty()), &sink, {}};

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
  const RangeResponse& r = t.response;
  *delivered = r.delivered();
  if (r.status() == 206 && r.has_range()) *reply = r.reply();

  if (!r.fatal().empty() || !t.sink_error.empty()) {
    *why = r.fatal().empty() ? t.sink_error : r.fatal();
    return Outcome::kFatal;
  }
  const long code = r.status();
  if (rc == CURLE_OK && code == 206 && r.delivered() == length) return Outcome::kOk;
  if (rc == CURLE_OK) {
    const std::string status = "HTTP status " + std::to_string(code);
    if (code == 206) {
      *why = "the response ended after " + std::to_string(r.delivered()) + " of " + std::to_string(length) + " bytes";
      return Outcome::kTransient;
    }
    if (code >= 500 || code == 408 || code == 429) {
      *why = "the server is unavailable (" + status + ")";
      return Outcome::kTransient;
    }
    if (code == 416) {
      *why = "the server says the file is shorter than the range asked for (" + status +
             "): it changed on the server; run the command again";
    } else if (code == 404 || code == 410) {
      *why = "the server has no such file (" + status + "); check the URL";
    } else if (code == 401 || code == 403) {
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

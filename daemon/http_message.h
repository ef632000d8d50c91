// The socket-free half of the HTTP server (daemon/http_server.h): decoding a request-target and
// shaping a response's header fields and content. Pure functions, internal to daemon/http_*.cc.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "daemon/http_server.h"

namespace smtp::http_detail {

std::string ToLower(std::string_view text);

// Without leading and trailing spaces and tabs (RFC 9110 §5.6.3 OWS).
std::string_view Trim(std::string_view text);

// Splits a request-target (RFC 9112 §3.2) into a percent-decoded path and query parameters ('+'
// is a space; the first of repeated names wins). Accepts origin-form ("/path?query"),
// absolute-form ("http://host/path", which servers must accept) and asterisk-form ("*", path
// "*"); refuses authority-form (CONNECT only), malformed escapes and NUL.
bool ParseTarget(std::string_view target, std::string* path,
                 std::map<std::string, std::string>* query);

// The framing check of a request that carries Transfer-Encoding (RFC 9112 §6.1, §6.3), given
// the request's HTTP version (10 or 11) and its Transfer-Encoding field values joined with ", ".
// Returns 0 when the body can be read (the only coding is "chunked", in HTTP/1.1), else the
// status to answer before closing the connection, since the body's length is unknown and any
// bytes after the header could be a smuggled request:
//  - 400 for HTTP/1.0 with Transfer-Encoding (§6.1: "MUST treat the message as if the framing
//    is faulty") and when the final coding is not "chunked" ("xchunked", "gzip",
//    "chunked, identity", an empty list; §6.3 item 4);
//  - 501 when "chunked" is final but other codings come first ("gzip, chunked"): the server
//    implements no other transfer coding (§6.1).
unsigned TransferCodingRefusal(unsigned version, std::string_view codings);

// Whether an Accept-Encoding field value (RFC 9110 §12.5.3) allows gzip: "gzip" (or its alias
// "x-gzip") with a non-zero weight, or else "*" with a non-zero weight.
bool AcceptsGzip(std::string_view field);

// A gzip stream (RFC 1952) written piece by piece, at zlib's fastest level: a scrape of a large
// fleet is tens of MB of very repetitive text, which level 1 already shrinks ~20x; higher
// levels cost several times the CPU for a few percent more.
class GzipWriter {
 public:
  GzipWriter();
  ~GzipWriter();
  GzipWriter(const GzipWriter&) = delete;
  GzipWriter& operator=(const GzipWriter&) = delete;

  // Compresses `in` and appends what zlib gives out to `out` (possibly nothing: it buffers up to
  // its window); with `finish`, flushes and ends the stream with its trailer. Returns false on a
  // zlib failure (out of memory) or a call after the finish; the stream is unusable then.
  bool Write(std::string_view in, bool finish, std::string& out);

 private:
  struct Stream;
  std::unique_ptr<Stream> stream_;
};

// A response as it goes on the wire, but for Connection, which the session decides.
struct WireResponse {
  unsigned status = 500;
  // In order; names as the handler spelled them. Date always, Content-Type when set.
  std::vector<std::pair<std::string, std::string>> fields;
  std::optional<std::size_t> content_length;  // none for 204 and 304 (RFC 9110 §8.6)
  std::string body;                           // empty for HEAD
  bool in_pieces = false;    // the body comes from body_pieces, written by the session
  bool gzip_pieces = false;  // ... compressed with a GzipWriter
};

// Shapes a handler's response:
//  - a status outside 200..599 becomes 500 (only final statuses answer a request);
//  - handler fields the server owns (Content-Length, Transfer-Encoding, Connection, Date) and
//    fields whose name is not a token or whose value holds CR, LF or NUL are dropped; so is an
//    unsafe content_type;
//  - 204 and 304 get no content and no Content-Length (RFC 9110 §15.3.5, §15.4.5);
//  - a body over gzip_min_bytes gets Vary: Accept-Encoding and, when `accepts_gzip` and the
//    handler did not set Content-Encoding itself, is gzip-compressed (Content-Encoding: gzip);
//  - for HEAD, Content-Length is GET's and the body is empty (RFC 9110 §9.3.2);
//  - a body in pieces (body_pieces; `in_pieces`) has no Content-Length and no `body` (the
//    session writes it) and gets Vary: Accept-Encoding; it is to be gzip-compressed
//    (Content-Encoding: gzip, `gzip_pieces`) whenever `accepts_gzip`, whatever its size.
WireResponse FormatResponse(const HttpResponse& response, bool head, bool accepts_gzip,
                            std::size_t gzip_min_bytes);

}  // namespace smtp::http_detail

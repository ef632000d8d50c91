// A small HTTP/1.1 server (RFC 9110, RFC 9112) for the exporter's endpoints, running on the probe
// loop's io_context. It is written for an exporter exposed to untrusted networks: every read is
// bounded in size and time, and no input crashes it.
//
// Routing is by exact path. For every request the server, in this order:
//   - answers 400 to a request it cannot parse (and then closes the connection), 431 when the
//     request line and header fields exceed 8 KiB, 413 when the body exceeds 64 KiB;
//   - with basic_auth_users configured, answers 401 with `WWW-Authenticate: Basic
//     realm="smtp_exporter"` unless the request carries valid credentials (RFC 7617), whatever
//     the path, so unauthenticated clients learn nothing about the routes;
//   - answers 404 to an unknown path and 405 with an Allow header to a method the route does not
//     accept; HEAD is accepted wherever GET is, and answered with GET's header fields and no body;
//   - otherwise co_awaits the route's handler (see Handler).
// Responses carry Content-Length and Date; a body over 1 KiB is gzip-compressed when the
// request's Accept-Encoding allows it (Content-Encoding: gzip, Vary: Accept-Encoding). A body
// made of pieces (HttpResponse::body_pieces) is sent as they come instead: chunked.
// Connections are persistent (HTTP/1.1 keep-alive, and HTTP/1.0 when asked for); requests on one
// connection are answered in order.
//
// Timeouts: a new connection must complete its TLS handshake and send its first request header
// within header_timeout; an idle keep-alive connection is closed after idle_timeout; once the
// first byte of a request has arrived, the rest of its header must arrive within header_timeout
// (so a client dripping one byte at a time cannot hold a socket), and its body within another
// header_timeout; a response being written must make progress (1 MiB) within every write_timeout,
// so a client that stops reading is dropped while a big /metrics body may take longer as a whole.
//
// Connections (a Prometheus server scraping /probe for thousands of targets holds thousands):
//  - at most max_connections are served at once. When the table is full, a new connection first
//    evicts the connection that has been idle longest (a keep-alive connection waiting for its
//    next request, or one whose request header has not arrived whole: silent or dripping since
//    then); when none is idle, it waits, unaccepted,
//    in the kernel's listen queue until a slot frees. It is never refused for being one too many,
//    so a burst of scrapes is answered late rather than failed.
//  - at most max_connections_per_peer come from one peer address. Beyond that a connection is
//    still read, and its request answered 503 with Retry-After and Connection: close (a response
//    the client sees, not a reset); at most kHttpMaxRefusals such answers are pending at once, and
//    beyond those a connection is closed at once. So one client (idle, dripping, or flooding)
//    cannot take the slots /metrics and /-/healthy need.
//
// With WebConfig::tls set the server speaks HTTPS only. Bcrypt verification, which costs tens of
// milliseconds by design, runs on a helper thread so it never stalls the probe loop; successful
// verifications are cached for a minute, keyed by the user and a salted digest of the password.
//
// Thread safety: construct, Handle, Listen, Stop and SetWebConfig on one thread, and only while
// that thread is the io_context's thread or the io_context is not running. Handlers run on the
// io_context's thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

// Only asio's awaitable (for Handler); Beast stays in daemon/http_session.cc.
#include <boost/asio/awaitable.hpp>

#include "daemon/web_config.h"

namespace boost::asio {
class io_context;
}

namespace smtp {

class HttpServerImpl;

struct HttpRequest {
  std::string method;  // as sent, e.g. "GET", "HEAD", "POST"
  std::string path;    // percent-decoded, without the query, e.g. "/probe"
  // Percent-decoded query parameters ('+' is a space); the first of repeated names wins.
  std::map<std::string, std::string> query;
  // Field names in lower case; repeated fields joined with ", " (RFC 9110 §5.3).
  std::map<std::string, std::string> headers;
  std::string body;
  std::string remote;  // peer address, "127.0.0.1:54321" or "[::1]:54321"
};

struct HttpResponse {
  int status = 200;
  std::string content_type;  // empty: none sent
  std::string body;
  // Extra header fields. Fields the server owns (Content-Length, Transfer-Encoding, Connection,
  // Date, Content-Encoding when it compresses) and fields containing CR, LF or NUL are ignored.
  std::vector<std::pair<std::string, std::string>> headers;
  // When set, the body instead of `body`, for one too big to hold whole: each call appends the
  // next piece to its argument (possibly nothing) and returns whether more calls are needed.
  // The server writes each piece once it has it and lets other connections be served between
  // calls, so a call should take milliseconds, not seconds. On the wire: chunked in HTTP/1.1
  // (RFC 9112 §7.1), ended by closing the connection in HTTP/1.0 (§6.3 item 8), gzip-compressed
  // whenever the client accepts it. Not called for HEAD. If a call throws, the connection is
  // closed without the last chunk: the client sees a cut answer, never a complete wrong one.
  std::function<bool(std::string& piece)> body_pieces = nullptr;
};

// A text/plain; charset=utf-8 response, e.g. TextResponse(404, "404 page not found\n"). The body
// goes through EscapeTerminalText (probes/escape.h): valid UTF-8 without control bytes but line
// feed and tab, whatever a request or a server put into it.
HttpResponse TextResponse(int status, std::string body);

// TextResponse with `Retry-After: 1` (RFC 9110 §10.2.3): the answer to a request refused for a
// moment's overload (429, 503), which the client may simply repeat.
HttpResponse RetryLaterResponse(int status, std::string body);

// A route's handler: a coroutine, run on the io_context's thread, that answers one request.
//
//   server.Handle("/-/healthy", {"GET"}, [](const HttpRequest&) -> awaitable<HttpResponse> {
//     co_return HttpResponse{.status = 200, .body = "Healthy.\n"};
//   });
//
// The server co_awaits the handler inside the connection's own coroutine. Hence:
//  - `request` and the Handler object (with a lambda's captures) outlive the awaitable the
//    handler returns, so a coroutine lambda may use both across co_await;
//  - while a handler awaits (a probe may take seconds), other connections are served; later
//    requests on the same connection wait for it, so answers keep their order (RFC 9112 §9.3.2);
//  - a handler that throws, or an empty Handler, answers 500, reported through
//    HttpServerOptions::log_error; a status outside 200..599 answers 500 too;
//  - a handler in progress when Stop() is called (or the server destroyed) still answers, with
//    Connection: close; one whose client went away runs to the end and its answer is dropped.
using Handler = std::function<boost::asio::awaitable<HttpResponse>(const HttpRequest&)>;

// Over-limit connections (max_connections_per_peer) being read and answered 503 at once.
inline constexpr std::size_t kHttpMaxRefusals = 64;

struct HttpServerOptions {
  std::size_t max_header_bytes = 8 * 1024;  // request line + fields; beyond: 431
  std::size_t max_body_bytes = 64 * 1024;   // beyond: 413
  std::size_t gzip_min_bytes = 1024;        // smaller bodies are not worth compressing
  // Connections served at once (see above); the daemon raises RLIMIT_NOFILE to fit them.
  std::size_t max_connections = 8192;
  // Connections from one peer address at once; 0 = max_connections / 2.
  std::size_t max_connections_per_peer = 0;
  // Bodies in pieces (HttpResponse::body_pieces, e.g. /metrics) being written to one peer
  // address at once. Each holds what its writer keeps (a third of a /metrics text, see
  // MetricsText) until its client has read it, so a client that asks and never reads must not
  // multiply that; one more is answered 503 with Retry-After. A Prometheus server scrapes a
  // target one scrape at a time.
  std::size_t max_piece_bodies_per_peer = 4;
  std::chrono::milliseconds header_timeout = std::chrono::seconds(10);
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(60);
  std::chrono::milliseconds write_timeout = std::chrono::seconds(30);
  // Receives one logfmt-ready message per unexpected failure (a handler that threw, a bug caught by
  // the last-resort catch). Default: a logfmt line on stderr.
  std::function<void(const std::string&)> log_error;
};

class HttpServer {
 public:
  HttpServer(boost::asio::io_context& io_context, WebConfig web_config,
             HttpServerOptions options = {});
  // Stops accepting and closes idle connections; requests in progress finish on their own.
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Routes `path` (exact match) to `handler` for `methods` (upper case; "GET" implies "HEAD").
  // A later call for the same path replaces the route.
  void Handle(std::string path, std::vector<std::string> methods, Handler handler);

  // Starts accepting on `address`: ":9025" (all interfaces: dual-stack [::], falling back to
  // 0.0.0.0 without IPv6), "127.0.0.1:0" (port 0: the kernel picks one, see port()),
  // "[::1]:9025" or "localhost:9025" (resolved now, first address). May be called more than once
  // to listen on several addresses. On failure returns false and sets *error to a one-line reason.
  // With `bound_port`, sets it to the port the kernel bound (the one it picked for port 0).
  bool Listen(const std::string& address, std::string* error, std::uint16_t* bound_port = nullptr);

  // The local port of the first successful Listen, 0 before.
  std::uint16_t port() const;

  // Stops accepting and closes idle connections; a connection busy with a request gets its answer
  // (with Connection: close) and is then closed. Final: the server does not accept again.
  void Stop();

  // Applies a reloaded web config to new requests and TLS handshakes; connections already
  // established keep their TLS session. Switching between HTTP and HTTPS affects new connections.
  void SetWebConfig(WebConfig web_config);

 private:
  std::shared_ptr<HttpServerImpl> impl_;
};

}  // namespace smtp

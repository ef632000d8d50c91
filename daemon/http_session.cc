// One HTTP connection (daemon/http_server.h): a coroutine that reads requests with Beast, has
// HttpServerImpl::Dispatch answer each in turn, and writes the answers in order.
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "daemon/http_message.h"
#include "daemon/http_server_impl.h"

namespace smtp::http_detail {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kReadChunk = 4096;
constexpr std::size_t kWriteChunk = 1024 * 1024;  // a response is written in pieces of this
// After an error response the server reads (and discards) what the client is still sending for
// a moment before closing, so the close does not turn into a TCP reset that destroys the response
// in the client's receive buffer (RFC 9112 §9.6, "tear-down").
constexpr std::size_t kLingerBytes = 256 * 1024;
constexpr auto kLingerTime = std::chrono::seconds(1);
constexpr auto kTlsShutdownTime = std::chrono::seconds(1);

// What reading a request came to: a request, a hang-up (nobody to answer), or an error status.
constexpr int kGotRequest = 0;
constexpr int kHangUp = -1;

using Request = http::request<http::string_body>;

// The status for a request the parser refused, or kHangUp when the client simply went away.
int StatusForReadError(const boost::system::error_code& error) {
  if (error == http::error::end_of_stream || error == http::error::partial_message) return kHangUp;
  if (error == http::error::header_limit || error == http::error::buffer_overflow) return 431;
  if (error == http::error::body_limit) return 413;
  if (error.category() == http::make_error_code(http::error::bad_method).category()) return 400;
  return kHangUp;  // timeout, reset, TLS failure: nobody to answer
}

// The server's view of a parsed message, or the 400 that answers it.
std::optional<HttpResponse> ToHttpRequest(const Request& message, HttpRequest* request) {
  request->method = std::string(message.method_string());
  if (!ParseTarget(message.target(), &request->path, &request->query)) {
    return TextResponse(400, "400 bad request: invalid request target\n");
  }
  // RFC 9112 §3.2: an HTTP/1.1 request without exactly one Host field gets a 400.
  if (message.version() >= 11 && message.count(http::field::host) != 1) {
    return TextResponse(400, "400 bad request: missing or repeated Host\n");
  }
  for (const auto& field : message) {
    std::string name = ToLower(field.name_string());
    auto [it, inserted] = request->headers.emplace(name, std::string(field.value()));
    if (!inserted) it->second.append(", ").append(field.value());
  }
  request->body = message.body();
  return std::nullopt;
}

template <class Stream>
class Session : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
 public:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  Session(std::shared_ptr<HttpServerImpl> server, Stream stream, std::string remote,
          std::string peer, std::shared_ptr<asio::ssl::context> tls_context, std::uint64_t id,
          Admission admission)
      : server_(std::move(server)),
        stream_(std::move(stream)),
        remote_(std::move(remote)),
        peer_(std::move(peer)),
        tls_context_(std::move(tls_context)),
        id_(id),
        admission_(admission) {}

  ~Session() override { server_->SessionEnded(id_, admission_, peer_); }

  void CloseIfIdle() override {
    if (idle_since_) {
      boost::system::error_code ignored;
      Lowest().socket().cancel(ignored);
    }
  }

  std::optional<std::chrono::steady_clock::time_point> IdleSince() const override {
    return idle_since_;
  }

  asio::awaitable<void> Run();

 private:
  beast::tcp_stream& Lowest() { return beast::get_lowest_layer(stream_); }
  const HttpServerOptions& Options() const { return server_->options_; }

  asio::awaitable<int> ReadRequest(http::request_parser<http::string_body>& parser, bool first);
  asio::awaitable<HttpResponse> Answer(const Request& message);
  asio::awaitable<bool> Write(const HttpResponse& response, unsigned version, bool head,
                              bool keep_alive, bool accepts_gzip);
  // Write() of a response with body_pieces: the header, then the pieces as they come.
  asio::awaitable<bool> WritePieces(const HttpResponse& response, WireResponse wire,
                                    unsigned version, bool head, bool keep_alive);
  asio::awaitable<void> Close(bool linger);

  std::shared_ptr<HttpServerImpl> server_;
  Stream stream_;
  std::string remote_;
  std::string peer_;
  std::shared_ptr<asio::ssl::context> tls_context_;  // outlives the TLS session using it
  std::uint64_t id_;
  Admission admission_;
  beast::flat_buffer buffer_;
  // Set while waiting for the first byte of a request: only then may the server close it.
  std::optional<std::chrono::steady_clock::time_point> idle_since_;
};

template <class Stream>
asio::awaitable<void> Session<Stream>::Run() {
  if constexpr (kTls) {
    Lowest().expires_after(Options().header_timeout);
    auto [error] = co_await stream_.async_handshake(asio::ssl::stream_base::server, kNoThrow);
    if (error) co_return;  // nothing to answer: the client never got a TLS channel
  }
  for (bool first = true;; first = false) {
    http::request_parser<http::string_body> parser;
    const int outcome = co_await ReadRequest(parser, first);
    if (outcome == kHangUp) break;
    if (outcome != kGotRequest) {
      static const std::map<int, std::string> kBodies = {
          {400, "400 bad request\n"},
          {413, "413 request body too large\n"},
          {431, "431 request header fields too large\n"},
          {501, "501 transfer coding not implemented\n"},
      };
      // The parser's state is unknown now, so the connection cannot be reused.
      if (co_await Write(TextResponse(outcome, kBodies.at(outcome)), 11, false, false, false)) {
        co_await Close(true);
      }
      co_return;
    }

    const Request& message = parser.get();
    if (admission_ == Admission::kRefuse) {
      // Read first, so the client sees the answer instead of a reset of its unread request.
      const HttpResponse busy = RetryLaterResponse(
          503, "503 too many connections from " + peer_ + " (the limit is " +
                   std::to_string(server_->PerPeerLimit()) + "); retry on an open connection\n");
      if (co_await Write(busy, message.version() == 10 ? 10 : 11, false, false, false)) {
        co_await Close(true);
      }
      co_return;
    }
    // Later requests (pipelined bytes stay in buffer_) wait until this one is answered.
    HttpResponse response = co_await Answer(message);
    bool keep_alive = message.keep_alive() && !server_->stopping_ && response.status != 400;
    // An HTTP/1.0 client has no chunked coding: a body in pieces ends with the connection.
    if (response.body_pieces && message.version() == 10) keep_alive = false;
    bool accepts_gzip = AcceptsGzip(message[http::field::accept_encoding]);
    if (!co_await Write(response, message.version() == 10 ? 10 : 11,
                        message.method() == http::verb::head, keep_alive, accepts_gzip)) {
      co_return;  // the client is gone or too slow to read
    }
    if (!keep_alive) break;
  }
  co_await Close(false);
}

// Reads one request into `parser`: kGotRequest, kHangUp, or the status of an error answer.
template <class Stream>
asio::awaitable<int> Session<Stream>::ReadRequest(http::request_parser<http::string_body>& parser,
                                                  bool first) {
  const HttpServerOptions& options = Options();
  // Wait for the first byte of the next request (unless pipelined bytes are buffered). Only in
  // this state may Stop() close the connection: nothing of a request has been received.
  if (buffer_.size() == 0) {
    if (server_->stopping_) co_return kHangUp;
    idle_since_ = std::chrono::steady_clock::now();
    if (admission_ == Admission::kServe) server_->SessionIdle();
    Lowest().expires_after(first ? options.header_timeout : options.idle_timeout);
    auto [error, size] = co_await stream_.async_read_some(buffer_.prepare(kReadChunk), kNoThrow);
    if (error) {
      idle_since_.reset();
      co_return kHangUp;
    }
    buffer_.commit(size);
  }

  // The header within header_timeout of its first byte, then the body within another one. Until
  // the header is whole the connection still waits for a request (idle_since_ stays), so a full
  // table evicts a client dripping its header as it evicts an idle one.
  parser.header_limit(static_cast<std::uint32_t>(options.max_header_bytes));
  parser.body_limit(options.max_body_bytes);
  Lowest().expires_after(options.header_timeout);
  auto [header_error, header_size] =
      co_await http::async_read_header(stream_, buffer_, parser, kNoThrow);
  idle_since_.reset();
  if (header_error) co_return StatusForReadError(header_error);
  const auto& header = parser.get();
  // Beast takes a Transfer-Encoding whose last coding is not chunked as "no body", which would
  // read the body as the next request: refuse such framing (and close) before anything else.
  if (header.count(http::field::transfer_encoding) != 0) {
    std::string codings;
    const auto [begin, end] = header.equal_range(http::field::transfer_encoding);
    for (auto field = begin; field != end; ++field) {
      if (!codings.empty()) codings += ", ";
      codings.append(field->value());
    }
    if (unsigned refusal = TransferCodingRefusal(header.version(), codings)) co_return refusal;
  }
  if (parser.is_done()) co_return kGotRequest;
  // RFC 9110 §10.1.1: a client that sent "Expect: 100-continue" waits for this before sending
  // the body.
  if (header.version() == 11 && ToLower(header[http::field::expect]) == "100-continue") {
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    Lowest().expires_after(options.write_timeout);
    auto [error, size] = co_await asio::async_write(stream_, asio::buffer(kContinue), kNoThrow);
    if (error) co_return kHangUp;
  }
  Lowest().expires_after(options.header_timeout);
  auto [body_error, body_size] = co_await http::async_read(stream_, buffer_, parser, kNoThrow);
  co_return body_error ? StatusForReadError(body_error) : kGotRequest;
}

template <class Stream>
asio::awaitable<HttpResponse> Session<Stream>::Answer(const Request& message) {
  // Lives in this frame, so it outlives the awaited handler (the Handler contract).
  HttpRequest request;
  request.remote = remote_;
  if (std::optional<HttpResponse> refusal = ToHttpRequest(message, &request)) co_return *refusal;
  co_return co_await server_->Dispatch(request);
}

template <class Stream>
asio::awaitable<bool> Session<Stream>::Write(const HttpResponse& response, unsigned version,
                                             bool head, bool keep_alive, bool accepts_gzip) {
  WireResponse wire = FormatResponse(response, head, accepts_gzip, Options().gzip_min_bytes);
  if (wire.in_pieces) {
    if (!server_->TryBeginPieces(peer_)) {
      co_return co_await Write(
          RetryLaterResponse(503, "503 too many answers in progress to " + peer_ +
                                      " (the limit is " +
                                      std::to_string(Options().max_piece_bodies_per_peer) +
                                      "); read them, or retry\n"),
          version, head, keep_alive, accepts_gzip);
    }
    // Released however the write ends, an exception (bad_alloc in the gzip stream, say)
    // included: a count left behind would refuse the peer's scrapes for good.
    struct PiecesCounted {
      HttpServerImpl& server;
      const std::string& peer;
      ~PiecesCounted() { server.EndPieces(peer); }
    } counted{*server_, peer_};
    co_return co_await WritePieces(response, std::move(wire), version, head, keep_alive);
  }
  http::response<http::string_body> message;
  message.version(version);
  message.result(wire.status);
  for (auto& [name, value] : wire.fields) message.insert(name, value);
  if (wire.content_length) message.content_length(*wire.content_length);
  message.body() = std::move(wire.body);
  message.keep_alive(keep_alive);

  // The timeout is for progress, not for the whole answer: /metrics of a big fleet is hundreds
  // of megabytes, which a healthy scraper reads for longer than write_timeout.
  http::response_serializer<http::string_body> serializer(message);
  serializer.limit(kWriteChunk);
  while (!serializer.is_done()) {
    Lowest().expires_after(Options().write_timeout);
    auto [error, size] = co_await http::async_write_some(stream_, serializer, kNoThrow);
    if (error) co_return false;
  }
  co_return true;
}

template <class Stream>
asio::awaitable<bool> Session<Stream>::WritePieces(const HttpResponse& response, WireResponse wire,
                                                   unsigned version, bool head, bool keep_alive) {
  const bool chunked = version == 11;
  http::response<http::empty_body> message;
  message.version(version);
  message.result(wire.status);
  for (auto& [name, value] : wire.fields) message.insert(name, value);
  if (chunked && !head) message.chunked(true);
  message.keep_alive(keep_alive);
  http::response_serializer<http::empty_body> serializer(message);
  Lowest().expires_after(Options().write_timeout);
  if (auto [error, size] = co_await http::async_write_header(stream_, serializer, kNoThrow);
      error) {
    co_return false;
  }
  if (head) co_return true;

  std::optional<GzipWriter> gzip;
  if (wire.gzip_pieces) gzip.emplace();
  std::string piece, packed;
  for (bool more = true; more;) {
    piece.clear();
    try {
      more = response.body_pieces(piece);
    } catch (...) {
      server_->LastResort("http response body")(std::current_exception());
      co_return false;  // no last chunk: the client sees the answer cut short
    }
    std::string* out = &piece;
    if (gzip) {
      packed.clear();
      if (!gzip->Write(piece, !more, packed)) co_return false;
      out = &packed;
    }
    if (out->empty()) {
      // Nothing to send yet: let the other connections have their turn.
      co_await asio::post(stream_.get_executor(), asio::use_awaitable);
      continue;
    }
    Lowest().expires_after(Options().write_timeout);
    auto [error, size] =
        chunked
            ? co_await asio::async_write(stream_, http::make_chunk(asio::buffer(*out)), kNoThrow)
            : co_await asio::async_write(stream_, asio::buffer(*out), kNoThrow);
    if (error) co_return false;
  }
  if (chunked) {
    Lowest().expires_after(Options().write_timeout);
    auto [error, size] = co_await asio::async_write(stream_, http::make_chunk_last(), kNoThrow);
    if (error) co_return false;
  }
  co_return true;
}

template <class Stream>
asio::awaitable<void> Session<Stream>::Close(bool linger) {
  boost::system::error_code ignored;
  if constexpr (kTls) {
    (void)linger;
    // Send close_notify; do not wait long for the peer's.
    Lowest().expires_after(kTlsShutdownTime);
    auto [error] = co_await stream_.async_shutdown(kNoThrow);
    (void)error;
  } else {
    Lowest().socket().shutdown(tcp::socket::shutdown_send, ignored);
    if (linger) {
      Lowest().expires_after(kLingerTime);
      std::array<char, kReadChunk> scratch;
      for (std::size_t total = 0; total < kLingerBytes;) {
        auto [error, size] = co_await stream_.async_read_some(asio::buffer(scratch), kNoThrow);
        if (error) break;
        total += size;
      }
    }
  }
  Lowest().socket().close(ignored);
}

template <class Stream>
asio::awaitable<void> RunSession(std::shared_ptr<Session<Stream>> session) {
  co_await session->Run();
}

template <class Stream>
void Spawn(const std::shared_ptr<HttpServerImpl>& server, std::shared_ptr<Session<Stream>> session,
           std::uint64_t id, Admission admission, const char* what) {
  if (admission == Admission::kServe) server->sessions_.emplace(id, session);
  asio::co_spawn(server->io_context_, RunSession(std::move(session)), server->LastResort(what));
}

}  // namespace

void StartSession(const std::shared_ptr<HttpServerImpl>& server, tcp::socket socket,
                  std::string remote, std::string peer, std::uint64_t id, Admission admission) {
  if (server->tls_context_) {
    using Stream = beast::ssl_stream<beast::tcp_stream>;
    Spawn(server,
          std::make_shared<Session<Stream>>(
              server, Stream(beast::tcp_stream(std::move(socket)), *server->tls_context_),
              std::move(remote), std::move(peer), server->tls_context_, id, admission),
          id, admission, "https session");
  } else {
    Spawn(server,
          std::make_shared<Session<beast::tcp_stream>>(server, beast::tcp_stream(std::move(socket)),
                                                       std::move(remote), std::move(peer), nullptr,
                                                       id, admission),
          id, admission, "http session");
  }
}

}  // namespace smtp::http_detail

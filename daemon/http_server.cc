#include "daemon/http_server.h"

// <utility> before Asio: g++ 12 needs it for the coroutine support headers.
#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <exception>
#include <optional>
#include <set>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace smtp {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kReadChunk = 4096;
// After an error response the server reads (and discards) what the client is still sending for
// a moment before closing, so the close does not turn into a TCP reset that destroys the response
// in the client's receive buffer (RFC 9112 §9.6, "tear-down").
constexpr std::size_t kLingerBytes = 256 * 1024;
constexpr auto kLingerTime = std::chrono::seconds(1);
constexpr auto kTlsShutdownTime = std::chrono::seconds(1);
constexpr auto kAuthCacheTime = std::chrono::minutes(1);
constexpr std::size_t kAuthCacheMax = 1024;
constexpr char kRealmChallenge[] = "Basic realm=\"smtp_exporter\"";

// ---- Pure helpers ------------------------------------------------------------------------------

std::string ToLower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// RFC 3986 §2.1 percent-decoding; '+' means a space in query components (HTML forms). Refuses
// malformed escapes and NUL, which no route or parameter can legitimately contain.
bool PercentDecode(std::string_view in, bool plus_is_space, std::string* out) {
  out->clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      int high = i + 1 < in.size() ? HexValue(in[i + 1]) : -1;
      int low = i + 2 < in.size() ? HexValue(in[i + 2]) : -1;
      if (high < 0 || low < 0) return false;
      c = static_cast<char>(high * 16 + low);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      c = ' ';
    }
    if (c == '\0') return false;
    out->push_back(c);
  }
  return true;
}

// Splits a request-target (RFC 9112 §3.2) into a decoded path and query. Accepts origin-form
// ("/path?query"), absolute-form ("http://host/path", which servers must accept) and the
// asterisk-form ("*"); refuses authority-form, which only CONNECT uses.
bool ParseTarget(std::string_view target, std::string* path,
                 std::map<std::string, std::string>* query) {
  if (target == "*") {
    *path = "*";
    return true;
  }
  std::string lower = ToLower(target.substr(0, 8));
  for (std::string_view scheme : {"http://", "https://"}) {
    if (lower.compare(0, scheme.size(), scheme) == 0) {
      target.remove_prefix(scheme.size());
      std::size_t slash = target.find_first_of("/?");
      target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
      if (target.front() == '?') return false;
      break;
    }
  }
  if (target.empty() || target.front() != '/') return false;
  if (std::size_t hash = target.find('#'); hash != std::string_view::npos) {
    target = target.substr(0, hash);
  }
  std::size_t question = target.find('?');
  if (!PercentDecode(target.substr(0, question), false, path)) return false;
  if (question == std::string_view::npos) return true;
  std::string_view rest = target.substr(question + 1);
  while (!rest.empty()) {
    std::size_t amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (pair.empty()) continue;
    std::size_t equals = pair.find('=');
    std::string key, value;
    if (!PercentDecode(pair.substr(0, equals), true, &key)) return false;
    if (equals != std::string_view::npos && !PercentDecode(pair.substr(equals + 1), true, &value)) {
      return false;
    }
    query->emplace(std::move(key), std::move(value));  // the first of repeated names wins
  }
  return true;
}

// Whether an Accept-Encoding field value (RFC 9110 §12.5.3) allows gzip: "gzip" (or its alias
// "x-gzip") with a non-zero weight, or else "*" with a non-zero weight.
bool AcceptsGzip(std::string_view field) {
  std::optional<double> gzip_weight, any_weight;
  while (!field.empty()) {
    std::size_t comma = field.find(',');
    std::string_view element = field.substr(0, comma);
    field = comma == std::string_view::npos ? std::string_view() : field.substr(comma + 1);
    std::size_t semicolon = element.find(';');
    std::string coding = ToLower(Trim(element.substr(0, semicolon)));
    double weight = 1;
    while (semicolon != std::string_view::npos) {
      element = element.substr(semicolon + 1);
      semicolon = element.find(';');
      std::string param = ToLower(Trim(element.substr(0, semicolon)));
      if (param.size() > 2 && param.compare(0, 2, "q=") == 0) {
        weight = std::strtod(param.c_str() + 2, nullptr);
      }
    }
    if (coding == "gzip" || coding == "x-gzip") {
      gzip_weight = std::max(gzip_weight.value_or(0), weight);
    } else if (coding == "*") {
      any_weight = weight;
    }
  }
  if (gzip_weight) return *gzip_weight > 0;
  return any_weight.value_or(0) > 0;
}

bool Gzip(std::string_view in, std::string* out) {
  z_stream stream{};
  // windowBits 15 + 16 selects the gzip wrapper (RFC 1952) rather than zlib's.
  // Fastest level: a scrape of a large fleet is tens of MB of very repetitive text, which level 1
  // already shrinks ~20x; the default level costs several times the CPU for a few percent more,
  // on the thread that also times the probes.
  if (deflateInit2(&stream, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return false;
  }
  out->resize(deflateBound(&stream, static_cast<uLong>(in.size())));
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  stream.avail_in = static_cast<uInt>(in.size());
  stream.next_out = reinterpret_cast<Bytef*>(out->data());
  stream.avail_out = static_cast<uInt>(out->size());
  int status = deflate(&stream, Z_FINISH);
  out->resize(stream.total_out);
  deflateEnd(&stream);
  return status == Z_STREAM_END;
}

// IMF-fixdate (RFC 9110 §5.6.7), which origin servers with a clock must send (§6.6.1).
std::string HttpDate() {
  std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  static const char* const kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char* const kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char text[40];
  std::snprintf(text, sizeof text, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[utc.tm_wday % 7],
                utc.tm_mday, kMonths[utc.tm_mon % 12], utc.tm_year + 1900, utc.tm_hour, utc.tm_min,
                utc.tm_sec);
  return text;
}

bool Base64Decode(std::string_view in, std::string* out) {
  out->clear();
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  unsigned buffer = 0;
  int bits = 0;
  for (char c : in) {
    int value;
    if (c >= 'A' && c <= 'Z') {
      value = c - 'A';
    } else if (c >= 'a' && c <= 'z') {
      value = c - 'a' + 26;
    } else if (c >= '0' && c <= '9') {
      value = c - '0' + 52;
    } else if (c == '+') {
      value = 62;
    } else if (c == '/') {
      value = 63;
    } else {
      return false;
    }
    buffer = (buffer << 6) | static_cast<unsigned>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((buffer >> bits) & 0xFF));
    }
  }
  return bits < 6;  // a lone trailing sextet cannot encode a byte
}

// RFC 7617 §2: credentials = "Basic" 1*SP base64(user-id ":" password); the scheme name is
// case-insensitive (RFC 9110 §11.1). The user-id cannot contain a colon, so split at the first.
bool ParseBasicCredentials(std::string_view field, std::string* user, std::string* password) {
  field = Trim(field);
  if (field.size() < 6 || ToLower(field.substr(0, 6)) != "basic ") return false;
  std::string decoded;
  if (!Base64Decode(Trim(field.substr(6)), &decoded)) return false;
  std::size_t colon = decoded.find(':');
  if (colon == std::string::npos) return false;
  *user = decoded.substr(0, colon);
  *password = decoded.substr(colon + 1);
  return true;
}

// Runs bcrypt (tens of milliseconds by design) and compares in constant time.
bool BcryptMatches(const std::string& password, const std::string& hash) {
  if (password.find('\0') != std::string::npos) return false;
  auto data = std::make_unique<crypt_data>();  // ~32 KiB: not for the stack
  const char* result = crypt_rn(password.c_str(), hash.c_str(), data.get(), sizeof(crypt_data));
  if (result == nullptr) return false;
  std::size_t length = std::strlen(result);
  return length == hash.size() && CRYPTO_memcmp(result, hash.data(), length) == 0;
}

bool SafeFieldValue(std::string_view text) {
  return text.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

bool SafeFieldName(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    // RFC 9110 §5.6.2 token characters.
    if (!std::isalnum(static_cast<unsigned char>(c)) &&
        std::string_view("!#$%&'*+-.^_`|~").find(c) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

std::string FormatEndpoint(const tcp::endpoint& endpoint) {
  asio::ip::address address = endpoint.address();
  // A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d; show them as IPv4.
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
  }
  std::string port = std::to_string(endpoint.port());
  return address.is_v6() ? "[" + address.to_string() + "]:" + port
                         : address.to_string() + ":" + port;
}

HttpResponse TextResponse(int status, std::string body) {
  HttpResponse response;
  response.status = status;
  response.content_type = "text/plain; charset=utf-8";
  response.body = std::move(body);
  return response;
}

void DefaultLogError(const std::string& message) {
  std::string escaped;
  for (char c : message) {
    if (c == '"' || c == '\\') escaped.push_back('\\');
    escaped.push_back(c == '\n' ? ' ' : c);
  }
  std::fprintf(stderr, "level=error msg=\"http server error\" err=\"%s\"\n", escaped.c_str());
}

// The status for a request the parser refused, or 0 when the client simply went away.
int StatusForReadError(const boost::system::error_code& error) {
  if (error == http::error::end_of_stream || error == http::error::partial_message) return 0;
  if (error == http::error::header_limit || error == http::error::buffer_overflow) return 431;
  if (error == http::error::body_limit) return 413;
  if (error.category() == http::make_error_code(http::error::bad_method).category()) return 400;
  return 0;  // timeout, reset, TLS failure: nobody to answer
}

}  // namespace

// ---- Server state shared by the acceptors and sessions -----------------------------------------

class SessionBase {
 public:
  virtual ~SessionBase() = default;
  // Closes the connection if it is waiting for the first byte of a request.
  virtual void CloseIfIdle() = 0;
  virtual void Deliver(HttpResponse response) = 0;
};

// One request's answer slot; what Respond captures. Holds the session weakly, so a late answer
// for a dead connection (or a destroyed server) is dropped.
class Responder {
 public:
  explicit Responder(std::weak_ptr<SessionBase> session) : session_(std::move(session)) {}
  ~Responder() {
    if (!done_) Deliver(TextResponse(500, "500 internal server error: no response\n"));
  }
  Responder(const Responder&) = delete;
  Responder& operator=(const Responder&) = delete;

  void Deliver(HttpResponse response) {
    if (done_) return;
    done_ = true;
    if (auto session = session_.lock()) session->Deliver(std::move(response));
  }

 private:
  std::weak_ptr<SessionBase> session_;
  bool done_ = false;
};

class HttpServerImpl : public std::enable_shared_from_this<HttpServerImpl> {
 public:
  struct Route {
    std::set<std::string> methods;
    Handler handler;
  };

  HttpServerImpl(asio::io_context& io_context, HttpServerOptions options)
      : io_context_(io_context), options_(std::move(options)) {
    if (!options_.log_error) options_.log_error = DefaultLogError;
    if (RAND_bytes(auth_secret_.data(), static_cast<int>(auth_secret_.size())) != 1) {
      // Without randomness the digest is still a one-way function of the password; the secret
      // only makes cache keys useless outside this process.
      auth_secret_.fill(0x5a);
    }
  }

  void SetWebConfig(WebConfig config) {
    std::shared_ptr<asio::ssl::context> tls;
    if (config.tls) {
      if (config.tls->context == nullptr) {
        std::string error;
        config.tls->context = NewServerTlsContext(*config.tls, &error);
        if (config.tls->context == nullptr) {
          options_.log_error("web config not applied: tls_server_config." + error);
          return;
        }
      }
      // asio's context takes ownership of one reference; the WebConfig keeps its own.
      SSL_CTX_up_ref(config.tls->context.get());
      tls = std::make_shared<asio::ssl::context>(config.tls->context.get());
    }
    web_config_ = std::make_shared<const WebConfig>(std::move(config));
    tls_context_ = std::move(tls);
    auth_cache_.clear();
  }

  void Stop() {
    stopping_ = true;
    for (auto& acceptor : acceptors_) {
      boost::system::error_code ignored;
      acceptor->close(ignored);
    }
    acceptors_.clear();
    // Closing may destroy sessions, which unregister themselves: iterate over a copy.
    std::vector<std::weak_ptr<SessionBase>> sessions;
    for (auto& [id, session] : sessions_) sessions.push_back(session);
    for (auto& weak : sessions) {
      if (auto session = weak.lock()) session->CloseIfIdle();
    }
  }

  bool Listen(const std::string& address, std::string* error);
  asio::awaitable<void> AcceptLoop(std::shared_ptr<tcp::acceptor> acceptor);
  void StartSession(tcp::socket socket);
  asio::awaitable<bool> Authorized(const WebConfig& config, const HttpRequest& request);
  asio::awaitable<bool> VerifyOffThread(std::string password, std::string hash);

  // The completion handler of every co_spawn: the last-resort catch.
  auto LastResort(std::string what) {
    return [log = options_.log_error, what = std::move(what)](std::exception_ptr exception) {
      if (!exception) return;
      try {
        std::rethrow_exception(exception);
      } catch (const std::exception& e) {
        log(what + ": " + e.what());
      } catch (...) {
        log(what + ": unknown exception");
      }
    };
  }

  asio::io_context& io_context_;
  HttpServerOptions options_;
  std::shared_ptr<const WebConfig> web_config_ = std::make_shared<const WebConfig>();
  std::shared_ptr<asio::ssl::context> tls_context_;
  std::map<std::string, Route> routes_;
  std::vector<std::shared_ptr<tcp::acceptor>> acceptors_;
  std::unordered_map<std::uint64_t, std::weak_ptr<SessionBase>> sessions_;
  std::uint64_t next_session_id_ = 0;
  std::uint16_t port_ = 0;
  bool stopping_ = false;
  // Successful verifications: cache key -> expiry. See Authorized.
  std::map<std::string, std::chrono::steady_clock::time_point> auth_cache_;
  std::array<unsigned char, 32> auth_secret_{};
  // One thread for bcrypt: it keeps the probe loop responsive, and serializing verifications
  // also slows down password guessing.
  asio::thread_pool bcrypt_pool_{1};
};

// ---- One connection ----------------------------------------------------------------------------

template <class Stream>
class Session : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
 public:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  Session(std::shared_ptr<HttpServerImpl> server, Stream stream, std::string remote,
          std::shared_ptr<asio::ssl::context> tls_context, std::uint64_t id)
      : server_(std::move(server)),
        stream_(std::move(stream)),
        remote_(std::move(remote)),
        tls_context_(std::move(tls_context)),
        id_(id),
        response_ready_(stream_.get_executor()) {}

  ~Session() override { server_->sessions_.erase(id_); }

  void CloseIfIdle() override {
    if (idle_) {
      boost::system::error_code ignored;
      Lowest().socket().cancel(ignored);
    }
  }

  void Deliver(HttpResponse response) override {
    if (!awaiting_response_ || response_) return;
    response_ = std::move(response);
    response_ready_.cancel();
  }

  asio::awaitable<void> Run();

 private:
  beast::tcp_stream& Lowest() { return beast::get_lowest_layer(stream_); }
  const HttpServerOptions& Options() const { return server_->options_; }

  asio::awaitable<HttpResponse> Answer(const http::request<http::string_body>& message,
                                       const std::string& method);
  asio::awaitable<bool> Write(const HttpResponse& response, unsigned version, bool head,
                              bool keep_alive, bool accepts_gzip);
  asio::awaitable<void> Close(bool linger);

  std::shared_ptr<HttpServerImpl> server_;
  Stream stream_;
  std::string remote_;
  std::shared_ptr<asio::ssl::context> tls_context_;  // outlives the TLS session using it
  std::uint64_t id_;
  beast::flat_buffer buffer_;
  bool idle_ = false;
  bool awaiting_response_ = false;
  std::optional<HttpResponse> response_;
  asio::steady_timer response_ready_;
};

template <class Stream>
asio::awaitable<void> Session<Stream>::Run() {
  const HttpServerOptions& options = Options();
  if constexpr (kTls) {
    Lowest().expires_after(options.header_timeout);
    auto [error] = co_await stream_.async_handshake(asio::ssl::stream_base::server, kNoThrow);
    if (error) co_return;  // nothing to answer: the client never got a TLS channel
  }
  for (bool first = true;; first = false) {
    // Wait for the first byte of the next request (unless pipelined bytes are buffered). Only in
    // this state may Stop() close the connection: nothing of a request has been received.
    if (buffer_.size() == 0) {
      if (server_->stopping_) break;
      idle_ = true;
      Lowest().expires_after(first ? options.header_timeout : options.idle_timeout);
      auto [error, size] = co_await stream_.async_read_some(buffer_.prepare(kReadChunk), kNoThrow);
      idle_ = false;
      if (error) break;
      buffer_.commit(size);
    }

    // The header within header_timeout of its first byte, then the body within another one.
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(options.max_header_bytes));
    parser.body_limit(options.max_body_bytes);
    Lowest().expires_after(options.header_timeout);
    auto [header_error, header_size] =
        co_await http::async_read_header(stream_, buffer_, parser, kNoThrow);
    int status = header_error ? StatusForReadError(header_error) : 0;
    if (!header_error && !parser.is_done()) {
      // RFC 9110 §10.1.1: a client that sent "Expect: 100-continue" waits for this before
      // sending the body.
      const auto& header = parser.get();
      if (header.version() == 11 && ToLower(header[http::field::expect]) == "100-continue") {
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        Lowest().expires_after(options.write_timeout);
        auto [error, size] = co_await asio::async_write(stream_, asio::buffer(kContinue), kNoThrow);
        if (error) break;
      }
      Lowest().expires_after(options.header_timeout);
      auto [body_error, body_size] = co_await http::async_read(stream_, buffer_, parser, kNoThrow);
      if (body_error) {
        header_error = body_error;
        status = StatusForReadError(body_error);
      }
    }
    if (header_error) {
      if (status == 0) break;
      static const std::map<int, std::string> kBodies = {
          {400, "400 bad request\n"},
          {413, "413 request body too large\n"},
          {431, "431 request header fields too large\n"},
      };
      // The parser's state is unknown now, so the connection cannot be reused.
      if (co_await Write(TextResponse(status, kBodies.at(status)), 11, false, false, false)) {
        co_await Close(true);
      }
      co_return;
    }

    const http::request<http::string_body>& message = parser.get();
    std::string method(message.method_string());
    HttpResponse response = co_await Answer(message, method);
    bool keep_alive = message.keep_alive() && !server_->stopping_ && response.status != 400;
    bool accepts_gzip = AcceptsGzip(message[http::field::accept_encoding]);
    if (!co_await Write(response, message.version() == 10 ? 10 : 11, method == "HEAD", keep_alive,
                        accepts_gzip)) {
      co_return;  // the client is gone or too slow to read
    }
    if (!keep_alive) break;
  }
  co_await Close(false);
}

template <class Stream>
asio::awaitable<HttpResponse> Session<Stream>::Answer(
    const http::request<http::string_body>& message, const std::string& method) {
  HttpRequest request;
  request.method = method;
  request.remote = remote_;
  if (!ParseTarget(message.target(), &request.path, &request.query)) {
    co_return TextResponse(400, "400 bad request: invalid request target\n");
  }
  // RFC 9112 §3.2: an HTTP/1.1 request without exactly one Host field gets a 400.
  if (message.version() >= 11 && message.count(http::field::host) != 1) {
    co_return TextResponse(400, "400 bad request: missing or repeated Host\n");
  }
  for (const auto& field : message) {
    std::string name = ToLower(field.name_string());
    auto [it, inserted] = request.headers.emplace(name, std::string(field.value()));
    if (!inserted) it->second.append(", ").append(field.value());
  }
  request.body = message.body();

  // Snapshot: a reload during the bcrypt wait must not change the rules mid-request.
  std::shared_ptr<const WebConfig> config = server_->web_config_;
  if (!config->basic_auth_users.empty() && !co_await server_->Authorized(*config, request)) {
    HttpResponse response = TextResponse(401, "401 unauthorized\n");
    response.headers.emplace_back("WWW-Authenticate", kRealmChallenge);
    co_return response;
  }

  auto route = server_->routes_.find(request.path);
  if (route == server_->routes_.end()) co_return TextResponse(404, "404 page not found\n");
  const auto& methods = route->second.methods;
  bool allowed = methods.count(method) > 0 || (method == "HEAD" && methods.count("GET") > 0);
  if (!allowed) {
    std::string allow;
    std::set<std::string> listed = methods;
    if (listed.count("GET")) listed.insert("HEAD");
    for (const auto& name : listed) allow += (allow.empty() ? "" : ", ") + name;
    HttpResponse response = TextResponse(405, "405 method not allowed\n");
    response.headers.emplace_back("Allow", allow);
    co_return response;
  }

  // The handler may answer now or later; wait for Deliver (or the Responder's destructor).
  Handler handler = route->second.handler;  // a reload may replace the route meanwhile
  response_.reset();
  awaiting_response_ = true;
  response_ready_.expires_at(asio::steady_timer::time_point::max());
  {
    auto responder = std::make_shared<Responder>(this->weak_from_this());
    try {
      handler(request,
              [responder](HttpResponse response) { responder->Deliver(std::move(response)); });
    } catch (const std::exception& e) {
      server_->options_.log_error("handler for " + request.path + " threw: " + e.what());
      responder->Deliver(TextResponse(500, "500 internal server error\n"));
    } catch (...) {
      server_->options_.log_error("handler for " + request.path + " threw");
      responder->Deliver(TextResponse(500, "500 internal server error\n"));
    }
  }
  while (!response_) {
    auto [error] = co_await response_ready_.async_wait(kNoThrow);
    (void)error;  // cancelled by Deliver, which set response_
  }
  awaiting_response_ = false;
  HttpResponse response = std::move(*response_);
  response_.reset();
  co_return response;
}

template <class Stream>
asio::awaitable<bool> Session<Stream>::Write(const HttpResponse& response, unsigned version,
                                             bool head, bool keep_alive, bool accepts_gzip) {
  int status = response.status;
  // Only final statuses can answer a request; anything else is a handler bug.
  if (status < 200 || status > 599) status = 500;
  http::response<http::string_body> message;
  message.version(version);
  message.result(static_cast<unsigned>(status));
  message.set(http::field::date, HttpDate());
  if (!response.content_type.empty() && SafeFieldValue(response.content_type)) {
    message.set(http::field::content_type, response.content_type);
  }
  bool handler_encoded = false;
  for (const auto& [name, value] : response.headers) {
    std::string lower = ToLower(name);
    if (lower == "content-length" || lower == "transfer-encoding" || lower == "connection" ||
        lower == "date" || !SafeFieldName(name) || !SafeFieldValue(value)) {
      continue;
    }
    if (lower == "content-encoding") handler_encoded = true;
    message.insert(name, value);
  }

  // RFC 9110 §15.3.5, §15.4.5: 204 and 304 have no content (and no Content-Length here).
  bool bodiless = status == 204 || status == 304;
  std::string body = bodiless ? std::string() : response.body;
  if (!bodiless && !handler_encoded && body.size() > Options().gzip_min_bytes) {
    message.set(http::field::vary, "Accept-Encoding");
    std::string compressed;
    if (accepts_gzip && Gzip(body, &compressed)) {
      message.set(http::field::content_encoding, "gzip");
      body = std::move(compressed);
    }
  }
  if (!bodiless) message.content_length(body.size());
  // RFC 9110 §9.3.2: HEAD gets GET's header fields, including Content-Length, and no content.
  if (!head) message.body() = std::move(body);
  message.keep_alive(keep_alive);

  Lowest().expires_after(Options().write_timeout);
  http::response_serializer<http::string_body> serializer(message);
  auto [error, size] = co_await http::async_write(stream_, serializer, kNoThrow);
  co_return !error;
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

// ---- Accepting ---------------------------------------------------------------------------------

bool HttpServerImpl::Listen(const std::string& address, std::string* error) {
  auto fail = [&](const std::string& reason) {
    if (error != nullptr) *error = "listen tcp " + address + ": " + reason;
    return false;
  };
  if (stopping_) return fail("server stopped");
  std::size_t colon = address.rfind(':');
  if (colon == std::string::npos) return fail("missing port");
  std::string host = address.substr(0, colon);
  std::string port_text = address.substr(colon + 1);
  if (port_text.empty() || port_text.size() > 5 ||
      !std::all_of(port_text.begin(), port_text.end(),
                   [](char c) { return c >= '0' && c <= '9'; }) ||
      std::stoul(port_text) > 65535) {
    return fail("invalid port \"" + port_text + "\"");
  }
  auto port = static_cast<std::uint16_t>(std::stoul(port_text));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }

  std::vector<tcp::endpoint> candidates;
  if (host.empty()) {
    candidates = {tcp::endpoint(asio::ip::address_v6::any(), port),
                  tcp::endpoint(asio::ip::address_v4::any(), port)};
  } else {
    boost::system::error_code resolve_error;
    tcp::resolver resolver(io_context_);
    auto results = resolver.resolve(host, port_text, tcp::resolver::numeric_service, resolve_error);
    if (resolve_error) return fail(resolve_error.message());
    for (const auto& entry : results) candidates.push_back(entry.endpoint());
    if (candidates.empty()) return fail("no address for " + host);
    candidates.resize(1);
  }

  boost::system::error_code last_error;
  for (const tcp::endpoint& endpoint : candidates) {
    auto acceptor = std::make_shared<tcp::acceptor>(io_context_);
    boost::system::error_code ec;
    acceptor->open(endpoint.protocol(), ec);
    if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
    // Dual-stack: the [::] socket also accepts IPv4 clients (as v4-mapped addresses).
    if (!ec && host.empty() && endpoint.address().is_v6()) {
      acceptor->set_option(asio::ip::v6_only(false), ec);
    }
    if (!ec) acceptor->bind(endpoint, ec);
    if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      last_error = ec;
      continue;
    }
    if (port_ == 0) port_ = acceptor->local_endpoint(ec).port();
    acceptors_.push_back(acceptor);
    asio::co_spawn(io_context_, AcceptLoop(acceptor), LastResort("http accept loop"));
    return true;
  }
  return fail(last_error.message());
}

asio::awaitable<void> HttpServerImpl::AcceptLoop(std::shared_ptr<tcp::acceptor> acceptor) {
  auto self = shared_from_this();
  asio::steady_timer backoff(io_context_);
  while (acceptor->is_open()) {
    auto [error, socket] = co_await acceptor->async_accept(kNoThrow);
    if (stopping_ || error == asio::error::operation_aborted) co_return;
    if (error) {
      // Out of file descriptors or a similar transient failure: retry later instead of spinning.
      backoff.expires_after(std::chrono::milliseconds(100));
      co_await backoff.async_wait(kNoThrow);
      continue;
    }
    StartSession(std::move(socket));
  }
}

void HttpServerImpl::StartSession(tcp::socket socket) {
  boost::system::error_code ec;
  if (sessions_.size() >= options_.max_connections) {
    // Best effort, without blocking: a fresh socket's send buffer is empty.
    if (!tls_context_) {
      static constexpr std::string_view kBusy =
          "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
      socket.non_blocking(true, ec);
      socket.write_some(asio::buffer(kBusy), ec);
    }
    socket.close(ec);
    return;
  }
  socket.set_option(tcp::no_delay(true), ec);
  tcp::endpoint peer = socket.remote_endpoint(ec);
  std::string remote = ec ? std::string("unknown") : FormatEndpoint(peer);
  std::uint64_t id = next_session_id_++;
  auto self = shared_from_this();
  if (tls_context_) {
    using Stream = beast::ssl_stream<beast::tcp_stream>;
    auto session = std::make_shared<Session<Stream>>(
        self, Stream(beast::tcp_stream(std::move(socket)), *tls_context_), std::move(remote),
        tls_context_, id);
    sessions_.emplace(id, session);
    asio::co_spawn(io_context_, RunSession(session), LastResort("https session"));
  } else {
    auto session = std::make_shared<Session<beast::tcp_stream>>(
        self, beast::tcp_stream(std::move(socket)), std::move(remote), nullptr, id);
    sessions_.emplace(id, session);
    asio::co_spawn(io_context_, RunSession(session), LastResort("http session"));
  }
}

// ---- Basic authentication (RFC 7617) -----------------------------------------------------------

asio::awaitable<bool> HttpServerImpl::Authorized(const WebConfig& config,
                                                 const HttpRequest& request) {
  auto field = request.headers.find("authorization");
  if (field == request.headers.end()) co_return false;
  std::string user, password;
  if (!ParseBasicCredentials(field->second, &user, &password)) co_return false;
  auto entry = config.basic_auth_users.find(user);
  bool known = entry != config.basic_auth_users.end();
  // An unknown user costs a bcrypt run too (against a setting with a real user's cost), so the
  // response time does not reveal which user names exist.
  std::string hash = known ? entry->second : config.basic_auth_users.begin()->second.substr(0, 29);

  // Cache key: the user and a keyed digest of (hash, password), so the cache holds no password
  // and an entry dies with a changed hash.
  std::string material(auth_secret_.begin(), auth_secret_.end());
  material.append(hash).push_back('\0');
  material.append(password);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_size = 0;
  EVP_Digest(material.data(), material.size(), digest, &digest_size, EVP_sha256(), nullptr);
  OPENSSL_cleanse(material.data(), material.size());
  std::string key = user + '\0' + std::string(reinterpret_cast<char*>(digest), digest_size);

  auto now = std::chrono::steady_clock::now();
  if (auto cached = auth_cache_.find(key); cached != auth_cache_.end()) {
    if (known && cached->second > now) co_return true;
    auth_cache_.erase(cached);
  }
  bool ok = co_await VerifyOffThread(std::move(password), std::move(hash)) && known;
  if (ok) {
    if (auth_cache_.size() >= kAuthCacheMax) auth_cache_.clear();
    auth_cache_[key] = std::chrono::steady_clock::now() + kAuthCacheTime;
  }
  co_return ok;
}

asio::awaitable<bool> HttpServerImpl::VerifyOffThread(std::string password, std::string hash) {
  auto initiate = [this, password = std::move(password),
                   hash = std::move(hash)](auto handler) mutable {
    // Keep io_context::run() from returning while the verification is in flight.
    auto home = asio::prefer(asio::get_associated_executor(handler, io_context_.get_executor()),
                             asio::execution::outstanding_work.tracked);
    asio::post(bcrypt_pool_, [handler = std::move(handler), home, password = std::move(password),
                              hash = std::move(hash)]() mutable {
      bool ok = BcryptMatches(password, hash);
      OPENSSL_cleanse(password.data(), password.size());
      asio::post(home, [handler = std::move(handler), ok]() mutable { std::move(handler)(ok); });
    });
  };
  co_return co_await asio::async_initiate<const asio::use_awaitable_t<>&, void(bool)>(
      std::move(initiate), asio::use_awaitable);
}

// ---- Public surface ----------------------------------------------------------------------------

HttpServer::HttpServer(asio::io_context& io_context, WebConfig web_config,
                       HttpServerOptions options)
    : impl_(std::make_shared<HttpServerImpl>(io_context, std::move(options))) {
  impl_->SetWebConfig(std::move(web_config));
}

HttpServer::~HttpServer() { impl_->Stop(); }

void HttpServer::Handle(std::string path, std::vector<std::string> methods, Handler handler) {
  HttpServerImpl::Route route;
  route.methods.insert(methods.begin(), methods.end());
  route.handler = std::move(handler);
  impl_->routes_[std::move(path)] = std::move(route);
}

bool HttpServer::Listen(const std::string& address, std::string* error) {
  return impl_->Listen(address, error);
}

std::uint16_t HttpServer::port() const { return impl_->port_; }

void HttpServer::Stop() { impl_->Stop(); }

void HttpServer::SetWebConfig(WebConfig web_config) { impl_->SetWebConfig(std::move(web_config)); }

}  // namespace smtp

#include "daemon/http_server.h"

#include <openssl/ssl.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdio>
#include <string_view>
#include <utility>

#include "daemon/http_message.h"
#include "daemon/http_server_impl.h"
#include "probes/escape.h"

namespace smtp {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
constexpr char kRealmChallenge[] = "Basic realm=\"smtp_exporter\"";

// A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d; they are IPv4 peers.
asio::ip::address PeerAddress(const tcp::endpoint& endpoint) {
  asio::ip::address address = endpoint.address();
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
  }
  return address;
}

std::string FormatEndpoint(const asio::ip::address& address, std::uint16_t port) {
  return address.is_v6() ? "[" + address.to_string() + "]:" + std::to_string(port)
                         : address.to_string() + ":" + std::to_string(port);
}

void DefaultLogError(const std::string& message) {
  std::string line = "level=error msg=\"http server error\" err=";
  AppendLogfmtValue(line, message);
  std::fprintf(stderr, "%s\n", line.c_str());
}

}  // namespace

// ---- Configuration and shutdown ----------------------------------------------------------------

HttpServerImpl::HttpServerImpl(asio::io_context& io_context, HttpServerOptions options)
    : io_context_(io_context), options_(std::move(options)), slot_freed_(io_context) {
  options_.max_connections = std::max<std::size_t>(options_.max_connections, 1);
  if (!options_.log_error) options_.log_error = DefaultLogError;
}

void HttpServerImpl::SetWebConfig(WebConfig config) {
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
  authenticator_.ClearCache();
}

void HttpServerImpl::Stop() {
  stopping_ = true;
  for (auto& acceptor : acceptors_) {
    boost::system::error_code ignored;
    acceptor->close(ignored);
  }
  acceptors_.clear();
  slot_freed_.cancel();  // accept loops waiting for a slot give up
  // Closing may destroy sessions, which unregister themselves: iterate over a copy.
  std::vector<std::weak_ptr<http_detail::SessionBase>> sessions;
  for (auto& [id, session] : sessions_) sessions.push_back(session);
  for (auto& weak : sessions) {
    if (auto session = weak.lock()) session->CloseIfIdle();
  }
}

std::function<void(std::exception_ptr)> HttpServerImpl::LastResort(std::string what) const {
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

// ---- Accepting ---------------------------------------------------------------------------------

bool HttpServerImpl::Listen(const std::string& address, std::string* error,
                            std::uint16_t* bound_port) {
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
    const std::uint16_t bound = acceptor->local_endpoint(ec).port();
    if (port_ == 0) port_ = bound;
    if (bound_port != nullptr) *bound_port = bound;
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
    // While Admit waits for a slot, this loop accepts nothing: later clients wait in the
    // kernel's listen queue, in order.
    co_await Admit(std::move(socket));
  }
}

std::size_t HttpServerImpl::PerPeerLimit() const {
  const std::size_t limit = options_.max_connections_per_peer;
  return limit != 0 ? limit : std::max<std::size_t>(options_.max_connections / 2, 1);
}

bool HttpServerImpl::EvictIdle() {
  std::shared_ptr<http_detail::SessionBase> oldest;
  std::chrono::steady_clock::time_point oldest_since{};
  for (auto& [id, weak] : sessions_) {
    std::shared_ptr<http_detail::SessionBase> session = weak.lock();
    if (!session) continue;
    std::optional<std::chrono::steady_clock::time_point> since = session->IdleSince();
    if (since && (!oldest || *since < oldest_since)) {
      oldest = std::move(session);
      oldest_since = *since;
    }
  }
  if (!oldest) return false;
  oldest->CloseIfIdle();
  return true;
}

asio::awaitable<void> HttpServerImpl::Admit(tcp::socket socket) {
  boost::system::error_code ec;
  const tcp::endpoint endpoint = socket.remote_endpoint(ec);
  if (ec) co_return;  // already gone
  const asio::ip::address address = PeerAddress(endpoint);
  std::string peer = address.to_string();
  std::string remote = FormatEndpoint(address, endpoint.port());
  socket.set_option(tcp::no_delay(true), ec);

  auto open = peer_sessions_.find(peer);
  if (open != peer_sessions_.end() && open->second >= PerPeerLimit()) {
    if (refusing_ >= kHttpMaxRefusals) {
      socket.close(ec);  // the peer is flooding: not even a 503 for it
      co_return;
    }
    ++refusing_;
    http_detail::StartSession(shared_from_this(), std::move(socket), std::move(remote),
                              std::move(peer), next_session_id_++, http_detail::Admission::kRefuse);
    co_return;
  }
  // A full table: the longest-idle connection makes room; with none idle, wait for a slot.
  while (sessions_.size() >= options_.max_connections && !EvictIdle()) {
    slot_freed_.expires_at(std::chrono::steady_clock::time_point::max());
    admission_waiting_ = true;
    co_await slot_freed_.async_wait(kNoThrow);
    admission_waiting_ = false;
    if (stopping_) co_return;
  }
  ++peer_sessions_[peer];
  http_detail::StartSession(shared_from_this(), std::move(socket), std::move(remote),
                            std::move(peer), next_session_id_++, http_detail::Admission::kServe);
}

void HttpServerImpl::SessionEnded(std::uint64_t id, http_detail::Admission admission,
                                  const std::string& peer) {
  if (admission == http_detail::Admission::kRefuse) {
    --refusing_;
    return;
  }
  sessions_.erase(id);
  auto count = peer_sessions_.find(peer);
  if (count != peer_sessions_.end() && --count->second == 0) peer_sessions_.erase(count);
  slot_freed_.cancel();
}

bool HttpServerImpl::TryBeginPieces(const std::string& peer) {
  std::size_t& count = peer_pieces_[peer];
  if (count >= options_.max_piece_bodies_per_peer) {
    if (count == 0) peer_pieces_.erase(peer);
    return false;
  }
  ++count;
  return true;
}

void HttpServerImpl::EndPieces(const std::string& peer) {
  auto count = peer_pieces_.find(peer);
  if (count != peer_pieces_.end() && --count->second == 0) peer_pieces_.erase(count);
}

// ---- Dispatch ----------------------------------------------------------------------------------

asio::awaitable<HttpResponse> HttpServerImpl::Dispatch(const HttpRequest& request) {
  // Snapshot: a reload during the bcrypt wait must not change the rules mid-request.
  std::shared_ptr<const WebConfig> config = web_config_;
  if (!config->basic_auth_users.empty()) {
    using Verdict = http_detail::BasicAuthenticator::Verdict;
    const Verdict verdict = co_await authenticator_.Authorized(*config, request);
    if (verdict == Verdict::kBusy) {
      // Too many verifications of this peer (or in all) under way: fail fast, bcrypt not run.
      co_return RetryLaterResponse(429, "429 too many authentication attempts\n");
    }
    if (verdict != Verdict::kAllowed) {
      HttpResponse response = TextResponse(401, "401 unauthorized\n");
      response.headers.emplace_back("WWW-Authenticate", kRealmChallenge);
      co_return response;
    }
  }
  Handler handler;
  if (std::optional<HttpResponse> refusal = FindHandler(request, &handler)) co_return *refusal;
  // co_await is not allowed in a catch clause: the 500 is answered after the try statement.
  std::string failure;
  try {
    co_return co_await handler(request);
  } catch (const std::exception& e) {
    failure = std::string(": ") + e.what();
  } catch (...) {
  }
  options_.log_error("handler for " + request.path + " threw" + failure);
  co_return TextResponse(500, "500 internal server error\n");
}

std::optional<HttpResponse> HttpServerImpl::FindHandler(const HttpRequest& request,
                                                        Handler* handler) const {
  auto route = routes_.find(request.path);
  if (route == routes_.end()) return TextResponse(404, "404 page not found\n");
  const auto& methods = route->second.methods;
  const std::string& method = request.method;
  bool allowed = methods.count(method) > 0 || (method == "HEAD" && methods.count("GET") > 0);
  if (!allowed) {
    std::string allow;
    std::set<std::string> listed = methods;
    if (listed.count("GET")) listed.insert("HEAD");
    for (const auto& name : listed) allow += (allow.empty() ? "" : ", ") + name;
    HttpResponse response = TextResponse(405, "405 method not allowed\n");
    response.headers.emplace_back("Allow", allow);
    return response;
  }
  *handler = route->second.handler;
  return std::nullopt;
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

bool HttpServer::Listen(const std::string& address, std::string* error, std::uint16_t* bound_port) {
  return impl_->Listen(address, error, bound_port);
}

std::uint16_t HttpServer::port() const { return impl_->port_; }

void HttpServer::Stop() { impl_->Stop(); }

void HttpServer::SetWebConfig(WebConfig web_config) { impl_->SetWebConfig(std::move(web_config)); }

}  // namespace smtp

// The HTTP server's shared state (daemon/http_server.h): listeners, routes, the web config in
// force and the open connections. The acceptors and request dispatch live in http_server.cc,
// one connection's coroutine (the only code that knows Beast) in http_session.cc. Internal to
// daemon/http_*.cc; everything here runs on the io_context's thread.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "daemon/http_auth.h"
#include "daemon/http_server.h"
#include "daemon/web_config.h"

namespace smtp {

namespace http_detail {

// What the server needs of a connection to stop or evict it.
class SessionBase {
 public:
  virtual ~SessionBase() = default;
  // Closes the connection if it is waiting for a request (see IdleSince).
  virtual void CloseIfIdle() = 0;
  // Since when it has been waiting for a request: for its first byte, or for the rest of its
  // header (a slow or dripping client); nullopt while it reads a body, answers or writes.
  virtual std::optional<std::chrono::steady_clock::time_point> IdleSince() const = 0;
};

// How the server admits a connection: served, or read and answered 503 (its peer is over
// max_connections_per_peer).
enum class Admission { kServe, kRefuse };

}  // namespace http_detail

class HttpServerImpl : public std::enable_shared_from_this<HttpServerImpl> {
 public:
  struct Route {
    std::set<std::string> methods;
    Handler handler;
  };

  HttpServerImpl(boost::asio::io_context& io_context, HttpServerOptions options);

  // See HttpServer::SetWebConfig, Listen and Stop.
  void SetWebConfig(WebConfig config);
  bool Listen(const std::string& address, std::string* error, std::uint16_t* bound_port);
  void Stop();

  // The answer to a request that was read and parsed: 401 without valid credentials (when
  // basic_auth_users is set), 404 or 405 without a route, else what the route's handler
  // co_returns (500 when it throws). `request` must outlive the awaitable.
  boost::asio::awaitable<HttpResponse> Dispatch(const HttpRequest& request);

  // The completion handler of every co_spawn: the last-resort catch, logging what escaped.
  std::function<void(std::exception_ptr)> LastResort(std::string what) const;

  boost::asio::io_context& io_context_;
  HttpServerOptions options_;
  std::map<std::string, Route> routes_;
  // Replaced whole by a reload; a request keeps the one it started with.
  std::shared_ptr<const WebConfig> web_config_ = std::make_shared<const WebConfig>();
  // Null for plain HTTP. Each TLS session keeps the context it was made with.
  std::shared_ptr<boost::asio::ssl::context> tls_context_;
  // Open connections being served, for Stop() and eviction; each session removes itself when it
  // ends (SessionEnded).
  std::unordered_map<std::uint64_t, std::weak_ptr<http_detail::SessionBase>> sessions_;

  // max_connections_per_peer, or its default.
  std::size_t PerPeerLimit() const;

  // Called by a served session when it starts waiting for a request: a newcomer waiting for a
  // slot may evict it now.
  void SessionIdle() {
    if (admission_waiting_) slot_freed_.cancel();
  }

  // A body in pieces starts or ends for `peer`; TryBeginPieces() is false (nothing counted)
  // when the peer is at max_piece_bodies_per_peer.
  bool TryBeginPieces(const std::string& peer);
  void EndPieces(const std::string& peer);

  // Called by every session as it ends, with what it was admitted as and its peer address.
  void SessionEnded(std::uint64_t id, http_detail::Admission admission, const std::string& peer);
  std::uint16_t port_ = 0;
  bool stopping_ = false;

 private:
  boost::asio::awaitable<void> AcceptLoop(std::shared_ptr<boost::asio::ip::tcp::acceptor> acceptor);
  // Serves, refuses or closes an accepted connection; waits while the table is full and nothing
  // can be evicted.
  boost::asio::awaitable<void> Admit(boost::asio::ip::tcp::socket socket);
  // Closes the connection idle longest; false when none is idle.
  bool EvictIdle();
  // The route's handler for `request` (a copy: a reload may replace the route meanwhile), or the
  // 404 or 405 answer.
  std::optional<HttpResponse> FindHandler(const HttpRequest& request, Handler* handler) const;

  std::vector<std::shared_ptr<boost::asio::ip::tcp::acceptor>> acceptors_;
  std::uint64_t next_session_id_ = 0;
  std::unordered_map<std::string, std::size_t> peer_sessions_;  // served sessions per peer address
  std::unordered_map<std::string, std::size_t> peer_pieces_;    // bodies in pieces per peer
  std::size_t refusing_ = 0;                                    // kRefuse sessions open
  // The accept loops wait here while the table is full; cancelled when a session ends.
  boost::asio::steady_timer slot_freed_;
  bool admission_waiting_ = false;
  http_detail::BasicAuthenticator authenticator_;
};

namespace http_detail {

// Serves one accepted connection, HTTPS when server->tls_context_ is set, in a coroutine of its
// own that registers itself in server->sessions_ under `id` (when served) and calls
// server->SessionEnded when it ends. `peer` is the address part of `remote`. Defined in
// http_session.cc.
void StartSession(const std::shared_ptr<HttpServerImpl>& server,
                  boost::asio::ip::tcp::socket socket, std::string remote, std::string peer,
                  std::uint64_t id, Admission admission);

}  // namespace http_detail
}  // namespace smtp

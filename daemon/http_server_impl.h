// The HTTP server's shared state (daemon/http_server.h): listeners, routes, the web config in
// force and the open connections. The acceptors and request dispatch live in http_server.cc,
// one connection's coroutine (the only code that knows Beast) in http_session.cc. Internal to
// daemon/http_*.cc; everything here runs on the io_context's thread.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
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

// What the server needs of a connection to stop it.
class SessionBase {
 public:
  virtual ~SessionBase() = default;
  // Closes the connection if it is waiting for the first byte of a request.
  virtual void CloseIfIdle() = 0;
};

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
  // Open connections, for Stop(); each session removes itself when it ends.
  std::unordered_map<std::uint64_t, std::weak_ptr<http_detail::SessionBase>> sessions_;
  std::uint16_t port_ = 0;
  bool stopping_ = false;

 private:
  boost::asio::awaitable<void> AcceptLoop(std::shared_ptr<boost::asio::ip::tcp::acceptor> acceptor);
  void Admit(boost::asio::ip::tcp::socket socket);
  // The route's handler for `request` (a copy: a reload may replace the route meanwhile), or the
  // 404 or 405 answer.
  std::optional<HttpResponse> FindHandler(const HttpRequest& request, Handler* handler) const;

  std::vector<std::shared_ptr<boost::asio::ip::tcp::acceptor>> acceptors_;
  std::uint64_t next_session_id_ = 0;
  http_detail::BasicAuthenticator authenticator_;
};

namespace http_detail {

// Serves one accepted connection, HTTPS when server->tls_context_ is set, in a coroutine of its
// own that registers itself in server->sessions_ under `id`. Defined in http_session.cc.
void StartSession(const std::shared_ptr<HttpServerImpl>& server,
                  boost::asio::ip::tcp::socket socket, std::string remote, std::uint64_t id);

}  // namespace http_detail
}  // namespace smtp

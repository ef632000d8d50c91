// What the HTTP server tests share: a server on 127.0.0.1 with its io_context on a background
// thread (Harness), and handlers to route to it: one that answers at once (Reply), one that
// awaits a timer first (ReplyAfter), and one that waits until the test lets it answer (Gate).
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/experimental/channel.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <semaphore>
#include <string>
#include <thread>
#include <vector>

#include "daemon/http_server.h"
#include "tests/http/http_test_client.h"

namespace smtp::testing {

using Clock = std::chrono::steady_clock;

// A handler that answers `response` at once.
Handler Reply(HttpResponse response);

// A handler that awaits a timer of `delay`, then answers 200 with `body`: a stand-in for a probe.
Handler ReplyAfter(std::chrono::milliseconds delay, std::string body);

// Lets a test decide when a handler answers, and with what: AwaitingHandler() waits at the gate;
// the test waits for Entered() and then calls Open() on the loop thread (Harness::OnLoop).
class Gate {
 public:
  explicit Gate(boost::asio::io_context& io_context) : channel_(io_context, 1) {}

  Handler AwaitingHandler();

  // Whether a handler reached the gate within five seconds (one call per arrival).
  bool Entered() { return entered_.try_acquire_for(std::chrono::seconds(5)); }

  // Lets one waiting (or the next) handler answer `response`.
  void Open(HttpResponse response);

 private:
  boost::asio::experimental::channel<void(boost::system::error_code, HttpResponse)> channel_;
  std::counting_semaphore<> entered_{0};
};

// A server on 127.0.0.1:<ephemeral> with its io_context running on a background thread. It
// routes GET /hello to a 200 "hello\n" (text/plain).
class Harness {
 public:
  explicit Harness(WebConfig config = {}, HttpServerOptions options = {});
  ~Harness();
  Harness(const Harness&) = delete;
  Harness& operator=(const Harness&) = delete;

  HttpServer& server() { return *server_; }

  // Listens and starts the loop; call after the routes are in place.
  void Start();

  std::uint16_t port() const { return port_; }

  // Runs `function` on the loop thread and waits for it.
  void OnLoop(std::function<void()> function);

  // Destroys the HttpServer object (on the loop thread once it runs).
  void DestroyServer();

  // Routes GET `path` to a new gate on this server's loop, alive as long as the harness.
  Gate& GateAt(const std::string& path);

  // One request on a fresh connection.
  std::optional<ParsedResponse> Fetch(const std::string& request, bool head = false);

 private:
  boost::asio::io_context io_context_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_ =
      boost::asio::make_work_guard(io_context_);
  std::unique_ptr<HttpServer> server_;
  std::uint16_t port_ = 0;
  std::vector<std::unique_ptr<Gate>> gates_;
  std::thread thread_;
};

// Rather than wiring a clock, tests measure around the real thing; bounds are generous for slow
// CI.
double SecondsSince(Clock::time_point start);

}  // namespace smtp::testing

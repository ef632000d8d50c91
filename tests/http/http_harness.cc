#include "tests/http/http_harness.h"

#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <future>
#include <stdexcept>
#include <utility>

namespace smtp::testing {

using boost::asio::awaitable;

Handler Reply(HttpResponse response) {
  return [response](const HttpRequest&) -> awaitable<HttpResponse> { co_return response; };
}

Handler ReplyAfter(std::chrono::milliseconds delay, std::string body) {
  return [delay, body](const HttpRequest&) -> awaitable<HttpResponse> {
    boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, delay);
    co_await timer.async_wait(boost::asio::use_awaitable);
    co_return HttpResponse{.status = 200, .content_type = "", .body = body, .headers = {}};
  };
}

Handler Gate::AwaitingHandler() {
  return [this](const HttpRequest&) -> awaitable<HttpResponse> {
    entered_.release();
    auto [error, response] =
        co_await channel_.async_receive(boost::asio::as_tuple(boost::asio::use_awaitable));
    if (error) throw std::runtime_error("gate closed");
    co_return response;
  };
}

void Gate::Open(HttpResponse response) {
  channel_.try_send(boost::system::error_code(), std::move(response));
}

Harness::Harness(WebConfig config, HttpServerOptions options)
    : server_(std::make_unique<HttpServer>(io_context_, std::move(config), std::move(options))) {
  server_->Handle(
      "/hello", {"GET"},
      Reply({.status = 200, .content_type = "text/plain", .body = "hello\n", .headers = {}}));
}

Harness::~Harness() {
  OnLoop([this] {
    if (server_) server_->Stop();
  });
  work_.reset();
  io_context_.stop();
  if (thread_.joinable()) thread_.join();
  server_.reset();
  // A handler still waiting at a gate is cancelled here and destroyed with the io_context.
  gates_.clear();
}

void Harness::Start() {
  std::string error;
  ASSERT_TRUE(server_->Listen("127.0.0.1:0", &error)) << error;
  port_ = server_->port();
  ASSERT_NE(port_, 0);
  thread_ = std::thread([this] { io_context_.run(); });
}

void Harness::OnLoop(std::function<void()> function) {
  if (!thread_.joinable()) {
    function();
    return;
  }
  std::promise<void> done;
  boost::asio::post(io_context_, [&] {
    function();
    done.set_value();
  });
  done.get_future().wait();
}

void Harness::DestroyServer() {
  OnLoop([this] { server_.reset(); });
}

Gate& Harness::GateAt(const std::string& path) {
  Gate& gate = *gates_.emplace_back(std::make_unique<Gate>(io_context_));
  server_->Handle(path, {"GET"}, gate.AwaitingHandler());
  return gate;
}

std::optional<ParsedResponse> Harness::Fetch(const std::string& request, bool head) {
  TestConnection connection(port());
  EXPECT_TRUE(connection.ok()) << connection.error();
  EXPECT_TRUE(connection.Send(request));
  return connection.ReadResponse(head);
}

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace smtp::testing

// Route handlers are coroutines (daemon/http_server.h, Handler): one that awaits (a timer, or a
// gate the test opens) answers later while other connections are served, keeps the answers of
// one connection in order, still answers after Stop(), and turns a throw into a 500.
#include <gtest/gtest.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "daemon/http_server.h"
#include "tests/http/http_harness.h"
#include "tests/http/http_test_client.h"

namespace smtp {
namespace {

using namespace std::chrono_literals;
using boost::asio::awaitable;
using testing::Clock;
using testing::Gate;
using testing::Harness;
using testing::ParsedResponse;
using testing::Reply;
using testing::ReplyAfter;
using testing::Request;
using testing::TestConnection;

// Collects what the server reports through HttpServerOptions::log_error (on the loop thread).
class ErrorLog {
 public:
  HttpServerOptions Options() {
    HttpServerOptions options;
    options.log_error = [this](const std::string& message) {
      std::lock_guard lock(mutex_);
      lines_.push_back(message);
    };
    return options;
  }

  std::vector<std::string> Lines() {
    std::lock_guard lock(mutex_);
    return lines_;
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> lines_;
};

TEST(HttpServer, AsyncHandlerAnswersLater) {
  Harness harness;
  Gate& gate = harness.GateAt("/slow");
  harness.Start();
  TestConnection connection(harness.port());
  ASSERT_TRUE(connection.Send(Request("GET", "/slow")));
  ASSERT_TRUE(gate.Entered());
  EXPECT_FALSE(connection.ReadResponse(false, 200ms)) << "answered before the handler did";
  // A second answer cannot exist: the handler's one co_return is the answer.
  harness.OnLoop(
      [&] { gate.Open({.status = 200, .content_type = "", .body = "late", .headers = {}}); });
  auto response = connection.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "late");
  // The connection is still usable.
  ASSERT_TRUE(connection.Send(Request("GET", "/hello")));
  EXPECT_EQ(connection.ReadResponse()->status, 200);
}

TEST(HttpServer, AnswerForAClientThatLeftIsDroppedQuietly) {
  Harness harness;
  Gate& gate = harness.GateAt("/slow");
  harness.Start();
  {
    TestConnection connection(harness.port());
    ASSERT_TRUE(connection.Send(Request("GET", "/slow")));
    ASSERT_TRUE(gate.Entered());
  }  // the client leaves
  std::this_thread::sleep_for(100ms);
  harness.OnLoop([&] {
    gate.Open({.status = 200, .content_type = "", .body = std::string(100000, 'x'), .headers = {}});
  });
  EXPECT_EQ(harness.Fetch(Request("GET", "/hello"))->status, 200);
  // A handler still waiting when the server and its loop are destroyed is harmless too.
  TestConnection waiting(harness.port());
  ASSERT_TRUE(waiting.Send(Request("GET", "/slow")));
  ASSERT_TRUE(gate.Entered());
}

TEST(HttpServer, ForgottenOrThrowingHandlerGives500) {
  ErrorLog log;
  Harness harness({}, log.Options());
  harness.server().Handle("/forgets", {"GET"}, Handler());  // nothing to co_await
  harness.server().Handle("/throws", {"GET"}, [](const HttpRequest&) -> awaitable<HttpResponse> {
    throw std::runtime_error("boom");
    co_return HttpResponse{};
  });
  harness.server().Handle(
      "/bad", {"GET"},
      Reply({.status = 42,
             .content_type = "text/plain\r\nX-Injected: 1",
             .body = "",
             .headers = {{"X-Evil", "a\r\nSet-Cookie: b"}, {"Content-Length", "999"}}}));
  harness.Start();
  EXPECT_EQ(harness.Fetch(Request("GET", "/forgets"))->status, 500);
  EXPECT_EQ(harness.Fetch(Request("GET", "/throws"))->status, 500);
  auto bad = harness.Fetch(Request("GET", "/bad"));
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 500);
  EXPECT_EQ(bad->headers.count("x-injected"), 0u);
  EXPECT_EQ(bad->headers.count("x-evil"), 0u);
  EXPECT_EQ(bad->headers.count("set-cookie"), 0u);
  EXPECT_EQ(bad->headers["content-length"], "0");
  EXPECT_EQ(log.Lines(), (std::vector<std::string>{"handler for /forgets threw: bad_function_call",
                                                   "handler for /throws threw: boom"}));
}

TEST(HttpServer, HandlerAwaitingATimerLetsOtherConnectionsBeServed) {
  Harness harness;
  harness.server().Handle("/slow", {"GET"}, ReplyAfter(500ms, "slow\n"));
  harness.Start();
  const auto start = Clock::now();
  TestConnection slow(harness.port());
  ASSERT_TRUE(slow.Send(Request("GET", "/slow")));
  // Each response's completion time, taken where it arrives: had the handler held up the loop,
  // the quick answer could only come after the slow one.
  std::optional<ParsedResponse> slow_response;
  Clock::time_point slow_done;
  std::thread reader([&] {
    slow_response = slow.ReadResponse();
    slow_done = Clock::now();
  });
  std::this_thread::sleep_for(50ms);  // the handler is awaiting its timer
  auto quick = harness.Fetch(Request("GET", "/hello"));
  const Clock::time_point quick_done = Clock::now();
  reader.join();
  ASSERT_TRUE(quick);
  EXPECT_EQ(quick->status, 200);
  ASSERT_TRUE(slow_response);
  EXPECT_EQ(slow_response->body, "slow\n");
  EXPECT_LT(quick_done, slow_done) << "the quick request waited for the slow handler";
  EXPECT_GE(std::chrono::duration<double>(slow_done - start).count(), 0.45)
      << "answered before the handler's timer expired";
}

TEST(HttpServer, RequestOutlivesTheAwaitingHandler) {
  Harness harness;
  harness.server().Handle(
      "/echo", {"POST"}, [](const HttpRequest& request) -> awaitable<HttpResponse> {
        boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, 50ms);
        co_await timer.async_wait(boost::asio::use_awaitable);
        // Read only after the await: under ASan a dangling request fails.
        co_return HttpResponse{
            .status = 200,
            .content_type = "",
            .body = request.query.at("n") + " " + request.body + " " + request.remote,
            .headers = {}};
      });
  harness.Start();
  auto response = harness.Fetch(Request("POST", "/echo?n=7", "", "payload"));
  ASSERT_TRUE(response);
  EXPECT_TRUE(response->body.starts_with("7 payload 127.0.0.1:")) << response->body;
}

TEST(HttpServer, HandlerThatThrowsAfterAwaitingGives500AndKeepsTheConnection) {
  ErrorLog log;
  Harness harness({}, log.Options());
  harness.server().Handle(
      "/late-throw", {"GET"}, [](const HttpRequest&) -> awaitable<HttpResponse> {
        boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, 20ms);
        co_await timer.async_wait(boost::asio::use_awaitable);
        throw std::logic_error("probe exploded");
      });
  harness.Start();
  TestConnection connection(harness.port());
  ASSERT_TRUE(connection.Send(Request("GET", "/late-throw")));
  auto response = connection.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 500);
  EXPECT_EQ(response->body, "500 internal server error\n");
  ASSERT_TRUE(connection.Send(Request("GET", "/hello")));
  EXPECT_EQ(connection.ReadResponse()->status, 200);
  EXPECT_EQ(log.Lines(), std::vector<std::string>{"handler for /late-throw threw: probe exploded"});
}

TEST(HttpServer, PipelinedRequestsStayInOrderBehindASlowHandler) {
  Harness harness;
  harness.server().Handle("/slow", {"GET"}, ReplyAfter(300ms, "slow\n"));
  harness.Start();
  TestConnection connection(harness.port());
  ASSERT_TRUE(connection.Send(Request("GET", "/slow") + Request("GET", "/hello") +
                              Request("GET", "/nope") + Request("GET", "/slow")));
  auto first = connection.ReadResponse();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->body, "slow\n");
  auto second = connection.ReadResponse();
  ASSERT_TRUE(second);
  EXPECT_EQ(second->body, "hello\n");
  auto third = connection.ReadResponse();
  ASSERT_TRUE(third);
  EXPECT_EQ(third->status, 404);
  auto fourth = connection.ReadResponse();
  ASSERT_TRUE(fourth);
  EXPECT_EQ(fourth->body, "slow\n");
}

TEST(HttpServer, StopClosesIdleConnectionsAndFinishesBusyOnes) {
  Harness harness;
  Gate& gate = harness.GateAt("/slow");
  harness.Start();
  TestConnection idle(harness.port());
  ASSERT_TRUE(idle.Send(Request("GET", "/hello")));
  ASSERT_TRUE(idle.ReadResponse());
  TestConnection busy(harness.port());
  ASSERT_TRUE(busy.Send(Request("GET", "/slow")));
  ASSERT_TRUE(gate.Entered());

  harness.OnLoop([&] { harness.server().Stop(); });
  EXPECT_TRUE(idle.WaitClosed(2s));
  TestConnection refused(harness.port());
  EXPECT_FALSE(refused.ok());

  harness.OnLoop(
      [&] { gate.Open({.status = 200, .content_type = "", .body = "done", .headers = {}}); });
  auto response = busy.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "done");
  EXPECT_EQ(response->headers["connection"], "close");
  EXPECT_TRUE(busy.WaitClosed(2s));
}

TEST(HttpServer, HandlerAwaitingWhenTheServerIsDestroyedStillAnswers) {
  Harness harness;
  harness.server().Handle("/slow", {"GET"}, ReplyAfter(300ms, "finished\n"));
  harness.Start();
  TestConnection busy(harness.port());
  ASSERT_TRUE(busy.Send(Request("GET", "/slow") + Request("GET", "/hello")));
  std::this_thread::sleep_for(50ms);  // the handler is awaiting its timer
  harness.DestroyServer();            // stops it, as Stop() does
  auto response = busy.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "finished\n");
  EXPECT_EQ(response->headers["connection"], "close");
  // The pipelined second request is not served: the connection closes after the answer.
  EXPECT_FALSE(busy.ReadResponse(false, 500ms));
  EXPECT_TRUE(busy.WaitClosed(2s));
}

}  // namespace
}  // namespace smtp

// Specification of the exporter's endpoints (daemon/routes.h): what each answers, first called
// directly, then through the real HTTP server on 127.0.0.1 (status codes and header fields).
// The network behind /probe and the schedule is made up (fake_runner.h).
#include "daemon/routes.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "daemon/status_page.h"
#include "tests/exporter/fake_runner.h"
#include "tests/http/http_test_client.h"

namespace smtp {
namespace {

using std::chrono::milliseconds;
using testing::ConfigOf;
using testing::FakeNetwork;

class RoutesTest : public ::testing::Test {
 protected:
  RoutesTest() {
    loop_ = std::make_shared<ProbeLoop>(io_.get_executor(), network_.Runner(), 16, logger_);
    Config config = ConfigOf({"192.0.2.1:25", "mx:example.org"}, milliseconds(50));
    config.probe_allowlist = {"127.0.0.0/8:25,2525", "*.allowed.test"};
    config.modules["relay"].relay_test.enabled = true;
    loops_ = std::make_unique<LoopPool>(std::vector{loop_});
    loops_->Apply(std::make_shared<const Config>(std::move(config)), {});
    io_.poll();  // the loop applies it on its executor
    io_.restart();
    status_.version = "1.2.3";
    status_.revision = "abc123";
    status_.ready = true;
    routes_ = std::make_unique<Routes>(
        io_.get_executor(), *loops_, status_,
        [this](std::string* error) -> boost::asio::awaitable<bool> {
          ++reloads_;
          if (reload_error_.empty()) co_return true;
          *error = reload_error_;
          co_return false;
        },
        kMaxOnDemand);
  }

  static constexpr std::size_t kMaxOnDemand = 4;

  // A response as the client reads it: a body in pieces (/metrics) joined into `body`.
  static HttpResponse Drained(HttpResponse response) {
    if (response.body_pieces) {
      while (response.body_pieces(response.body)) {
      }
      response.body_pieces = nullptr;
    }
    return response;
  }

  // Runs one route to completion on the test's thread.
  HttpResponse Call(boost::asio::awaitable<HttpResponse> (Routes::*route)(const HttpRequest&),
                    HttpRequest request) {
    std::optional<HttpResponse> response;
    boost::asio::co_spawn(io_, (routes_.get()->*route)(request),
                          [&](std::exception_ptr error, HttpResponse r) {
                            EXPECT_FALSE(error);
                            response = std::move(r);
                          });
    for (int i = 0; i < 2000 && !response; ++i) io_.run_for(milliseconds(5));
    io_.restart();
    return Drained(response.value_or(TextResponse(599, "no answer")));
  }

  // Runs `requests` side by side on the test's thread; the answers in the requests' order.
  std::vector<HttpResponse> CallAll(
      boost::asio::awaitable<HttpResponse> (Routes::*route)(const HttpRequest&),
      const std::vector<HttpRequest>& requests) {
    std::vector<std::optional<HttpResponse>> responses(requests.size());
    std::size_t answered = 0;
    for (std::size_t i = 0; i < requests.size(); ++i) {
      boost::asio::co_spawn(io_, (routes_.get()->*route)(requests[i]),
                            [&, i](std::exception_ptr error, HttpResponse r) {
                              EXPECT_FALSE(error);
                              responses[i] = std::move(r);
                              ++answered;
                            });
    }
    for (int i = 0; i < 2000 && answered < requests.size(); ++i) io_.run_for(milliseconds(5));
    io_.restart();
    std::vector<HttpResponse> out;
    for (auto& response : responses) {
      out.push_back(Drained(response.value_or(TextResponse(599, "no answer"))));
    }
    return out;
  }

  static HttpRequest Get(std::map<std::string, std::string> query,
                         std::map<std::string, std::string> headers = {}) {
    HttpRequest request;
    request.method = "GET";
    request.query = std::move(query);
    request.headers = std::move(headers);
    return request;
  }

  // Runs the schedule until every configured target has a result.
  void ProbeFleetOnce() {
    loop_->Start();
    for (int i = 0; i < 2000 && loop_->fleet().series_count() < 2; ++i) {
      io_.run_for(milliseconds(5));
    }
    ASSERT_EQ(loop_->fleet().series_count(), 2u);
  }

  boost::asio::io_context io_;
  FakeNetwork network_;
  Logger logger_{LogLevel::kError, LogFormat::kLogfmt, [](std::string_view) {}};
  std::shared_ptr<ProbeLoop> loop_;
  std::unique_ptr<LoopPool> loops_;
  ExporterStatus status_;
  std::unique_ptr<Routes> routes_;
  int reloads_ = 0;
  std::string reload_error_;
};

TEST_F(RoutesTest, MetricsShowEveryProbedSeriesAndTheExportersOwnFamilies) {
  ProbeFleetOnce();
  // Let the runs in flight finish and schedule no more, so the counters hold still.
  bool stopped = false;
  boost::asio::co_spawn(io_, loop_->Stop(std::chrono::seconds(5)),
                        [&](std::exception_ptr) { stopped = true; });
  for (int i = 0; i < 2000 && !stopped; ++i) io_.run_for(milliseconds(5));
  io_.restart();
  ASSERT_TRUE(stopped);
  const HttpResponse response = Call(&Routes::Metrics, Get({}));
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(response.body.find("smtp_probe_success{target=\"192.0.2.1:25\"} 1"), std::string::npos);
  EXPECT_NE(response.body.find("smtp_probe_success{target=\"mx:example.org\"} 1"),
            std::string::npos);
  EXPECT_NE(response.body.find("smtp_exporter_build_info{version=\"1.2.3\",revision=\"abc123\""),
            std::string::npos);
  const LoopCounters& counters = loop_->counters();
  EXPECT_NE(
      response.body.find("smtp_exporter_probes_total{result=\"success\"} " +
                         std::to_string(counters.probes_total_by_result.at("success")) + "\n"),
      std::string::npos);
  EXPECT_NE(response.body.find("smtp_exporter_scheduler_lag_seconds_count " +
                               std::to_string(counters.scheduler_lag.count()) + "\n"),
            std::string::npos);
}

TEST_F(RoutesTest, ProbeRefusesWhatItCannotOrMayNotProbe) {
  EXPECT_EQ(Call(&Routes::Probe, Get({})).status, 400);
  EXPECT_EQ(Call(&Routes::Probe, Get({{"target", ""}})).status, 400);
  const HttpResponse unknown =
      Call(&Routes::Probe, Get({{"target", "127.0.0.1"}, {"module", "x"}}));
  EXPECT_EQ(unknown.status, 400);
  EXPECT_EQ(unknown.body, "unknown module \"x\"\n");
  EXPECT_EQ(Call(&Routes::Probe, Get({{"target", "127.0.0.1:99999"}})).status, 400);
  const HttpResponse forbidden = Call(&Routes::Probe, Get({{"target", "198.51.100.7"}}));
  EXPECT_EQ(forbidden.status, 403);
  EXPECT_EQ(forbidden.body,
            "target \"198.51.100.7\" port 25 with module \"default\" is neither configured nor "
            "allowed by probe_allowlist\n");
  EXPECT_EQ(Call(&Routes::Probe, Get({{"target", "mx:elsewhere.test"}})).status, 403);
  EXPECT_TRUE(network_.probes.empty());
}

// Issue 13, item 1: a configured target allows exactly its host, port and module, and the
// allowlist its hosts on the ports it names (the SMTP ports when none); the failure reason of a
// probe can no longer map which ports of a configured or allowed host are open. No probe starts.
TEST_F(RoutesTest, ProbeAllowsExactlyTheConfiguredHostPortAndModuleAndTheAllowlistsPorts) {
  for (const char* target : {"192.0.2.1:6379", "192.0.2.1:22", "192.0.2.1:2525", "127.0.0.1:6379",
                             "127.0.0.1:9025", "127.0.0.1:465", "mail.allowed.test:6379"}) {
    EXPECT_EQ(Call(&Routes::Probe, Get({{"target", target}})).status, 403) << target;
  }
  EXPECT_EQ(Call(&Routes::Probe, Get({{"target", "mx:example.org"}, {"module", "relay"}})).status,
            403)
      << "configured with the default module only";
  EXPECT_TRUE(network_.probes.empty());
  for (const char* target : {"192.0.2.1", "192.0.2.1:25", "127.0.0.1:2525", "127.0.0.1",
                             "mail.allowed.test", "mail.allowed.test:587", "mx:example.org"}) {
    EXPECT_EQ(Call(&Routes::Probe, Get({{"target", target}})).status, 200) << target;
  }
}

// Issue 13, item 2: a name the allowlist allows is checked again after it resolves, against
// the allowlist's address entries and ports, for the name itself and for every MX host; the
// configured targets are the operator's choice and are not.
TEST_F(RoutesTest, AllowedNamesCarryTheAddressCheckToTheProbe) {
  network_.expand = [](const ExpansionRequest& request) {
    ExpandedTarget series;
    series.host = "mx1." + request.target.host;
    series.port = request.default_port;
    series.label = series.host + ":25";
    series.domain = request.target.host;
    series.key = "|" + series.host;
    return std::vector<ExpandedTarget>{series};
  };
  EXPECT_EQ(Call(&Routes::Probe, Get({{"target", "mail.allowed.test"}})).status, 200);
  EXPECT_EQ(Call(&Routes::Probe, Get({{"target", "mx:zone.allowed.test"}})).status, 200);
  EXPECT_EQ(Call(&Routes::Probe, Get({{"target", "192.0.2.1"}})).status, 200);
  ASSERT_EQ(network_.probes.size(), 3u);
  for (int i = 0; i < 2; ++i) {
    const ProbeSpec& spec = network_.probes[i];
    ASSERT_TRUE(spec.address_allowed) << spec.host;
    EXPECT_TRUE(spec.address_allowed("127.0.0.1", 25)) << spec.host;
    EXPECT_TRUE(spec.address_allowed("::ffff:127.0.0.9", 2525)) << spec.host;
    EXPECT_FALSE(spec.address_allowed("10.0.0.1", 25)) << spec.host;
    EXPECT_FALSE(spec.address_allowed("::1", 25)) << spec.host;
    EXPECT_FALSE(spec.address_allowed("169.254.169.254", 25)) << spec.host;
    // The ports are the entry's (the MTA-STS policy host is checked on its port, 443 by default).
    EXPECT_FALSE(spec.address_allowed("127.0.0.1", 443)) << spec.host;
    EXPECT_FALSE(spec.address_allowed("127.0.0.1", 6379)) << spec.host;
  }
  EXPECT_EQ(network_.probes[1].host, "mx1.zone.allowed.test");
  EXPECT_FALSE(network_.probes[2].address_allowed) << "a configured target is not checked";
}

// Requests beyond --probe.max-on-demand wait for a slot instead of being refused, and never run
// more probes at once than the cap.
TEST_F(RoutesTest, ProbesBeyondTheCapWaitForASlot) {
  network_.delay = milliseconds(100);
  const std::vector<HttpRequest> requests(3 * kMaxOnDemand, Get({{"target", "127.0.0.5:2525"}}));
  for (const HttpResponse& response : CallAll(&Routes::Probe, requests)) {
    EXPECT_EQ(response.status, 200) << response.body;
  }
  EXPECT_EQ(network_.probes.size(), 3 * kMaxOnDemand);
  EXPECT_EQ(network_.max_running, static_cast<int>(kMaxOnDemand));
}

// One that cannot get a slot within its scrape budget gets a 503 that says why, and no probe.
TEST_F(RoutesTest, ProbeThatFindsNoSlotWithinItsBudgetIs503) {
  network_.delay = milliseconds(1000);
  // 0.7 s scrape timeout: a 200 ms budget, far less than a running probe takes.
  const std::vector<HttpRequest> requests(
      kMaxOnDemand + 2,
      Get({{"target", "127.0.0.5:2525"}}, {{"x-prometheus-scrape-timeout-seconds", "0.7"}}));
  int busy = 0;
  for (const HttpResponse& response : CallAll(&Routes::Probe, requests)) {
    if (response.status == 503) {
      ++busy;
      EXPECT_EQ(response.body,
                "all 4 probe slots (--probe.max-on-demand) stayed busy for the probe's whole "
                "budget\n");
    } else {
      EXPECT_EQ(response.status, 200);
    }
  }
  EXPECT_EQ(busy, 2);
  EXPECT_EQ(network_.probes.size(), kMaxOnDemand);
}

TEST_F(RoutesTest, ProbeOfAHostAnswersOneSeriesSetWithoutATargetLabel) {
  const HttpResponse response = Call(&Routes::Probe, Get({{"target", "127.0.0.5:2525"}}));
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(response.body.find("\nsmtp_probe_success 1\n"), std::string::npos);
  EXPECT_EQ(response.body.find("target="), std::string::npos);
  EXPECT_EQ(response.body.find("smtp_exporter_"), std::string::npos);  // no self metrics
  ASSERT_EQ(network_.probes.size(), 1u);
  EXPECT_EQ(network_.probes[0].host, "127.0.0.5");
  EXPECT_EQ(network_.probes[0].port, 2525);
  EXPECT_FALSE(network_.probes[0].relay.enabled);
  EXPECT_EQ(loop_->fleet().series_count(), 0u);  // not recorded
  EXPECT_EQ(loop_->counters().probes_total_by_result.at("success"), 1u);
}

TEST_F(RoutesTest, ProbeOfAConfiguredHostNeedsNoAllowlistAndTheModuleDecidesTheRelayTest) {
  EXPECT_EQ(Call(&Routes::Probe, Get({{"target", "192.0.2.1"}})).status, 200);
  // Configured with the default module only: another module is not the configured target.
  EXPECT_EQ(Call(&Routes::Probe, Get({{"target", "192.0.2.1"}, {"module", "relay"}})).status, 403);
  EXPECT_EQ(Call(&Routes::Probe, Get({{"target", "127.0.0.1"}, {"module", "relay"}})).status, 200);
  ASSERT_EQ(network_.probes.size(), 2u);
  EXPECT_FALSE(network_.probes[0].relay.enabled);
  EXPECT_TRUE(network_.probes[1].relay.enabled);
  EXPECT_EQ(Call(&Routes::Probe, Get({{"target", "mail.allowed.test"}})).status, 200);
}

// Like blackbox_exporter: the probe must answer 0.5 s before Prometheus gives up.
TEST_F(RoutesTest, ProbeFitsIntoThePrometheusScrapeTimeout) {
  Call(&Routes::Probe,
       Get({{"target", "127.0.0.1"}}, {{"x-prometheus-scrape-timeout-seconds", "3"}}));
  ASSERT_EQ(network_.probes.size(), 1u);
  EXPECT_LE(network_.probes[0].timeout, milliseconds(2500));
  EXPECT_GT(network_.probes[0].timeout, milliseconds(2000));
  EXPECT_LE(network_.probes[0].max_duration, milliseconds(2500));
  EXPECT_GT(network_.probes[0].max_duration, milliseconds(2000));
  // An unparsable or too small header leaves the module's timeout.
  Call(&Routes::Probe,
       Get({{"target", "127.0.0.1"}}, {{"x-prometheus-scrape-timeout-seconds", "soon"}}));
  EXPECT_EQ(network_.probes[1].timeout, Module{}.timeout);
}

// The header is the client's word: values that are not finite, not decimal, or absurd (beyond a
// day) are ignored, and a large plausible one is clamped to what the module's probe can take, so
// no conversion overflows into an already-expired deadline (issue 13, item 5).
TEST_F(RoutesTest, ProbeIgnoresAbsurdScrapeTimeoutsAndClampsLargeOnes) {
  const std::vector<std::string> ignored = {
      "inf",  "-inf", "nan", "1e16", "1e300", "9223372036854775807", "-1", "0.5",
      "0x10", "3s",   " 3",  "3, 4", "100000"};
  for (const std::string& value : ignored) {
    network_.probes.clear();
    const HttpResponse response =
        Call(&Routes::Probe,
             Get({{"target", "127.0.0.1"}}, {{"x-prometheus-scrape-timeout-seconds", value}}));
    EXPECT_EQ(response.status, 200) << value;
    ASSERT_EQ(network_.probes.size(), 1u) << value;
    EXPECT_EQ(network_.probes[0].timeout, Module{}.timeout) << value;
    EXPECT_EQ(network_.probes[0].max_duration, milliseconds(0)) << value;
  }
  // Plausible but longer than the probe can take: clamped to the module's timeout (relay off) or
  // to the timeout plus the relay test's budget (relay on).
  network_.probes.clear();
  Call(&Routes::Probe,
       Get({{"target", "127.0.0.1"}}, {{"x-prometheus-scrape-timeout-seconds", "3600"}}));
  Call(&Routes::Probe, Get({{"target", "127.0.0.1"}, {"module", "relay"}},
                           {{"x-prometheus-scrape-timeout-seconds", "86400"}}));
  ASSERT_EQ(network_.probes.size(), 2u);
  EXPECT_EQ(network_.probes[0].timeout, Module{}.timeout);
  EXPECT_LE(network_.probes[0].max_duration, Module{}.timeout);
  EXPECT_GT(network_.probes[0].max_duration, Module{}.timeout - milliseconds(500));
  EXPECT_EQ(network_.probes[1].timeout, Module{}.timeout);
  EXPECT_LE(network_.probes[1].max_duration, Module{}.timeout + RelayTestConfig{}.timeout);
  EXPECT_GT(network_.probes[1].max_duration,
            Module{}.timeout + RelayTestConfig{}.timeout - milliseconds(500));
}

TEST_F(RoutesTest, ProbeOfAnMxTargetAnswersOneSeriesSetPerMxHost) {
  network_.expand = [](const ExpansionRequest& request) {
    std::vector<ExpandedTarget> hosts;
    for (const char* host : {"mx1.example.org", "mx2.example.org"}) {
      ExpandedTarget series;
      series.host = host;
      series.port = request.default_port;
      series.label = std::string(host) + ":25";
      series.domain = request.target.host;
      series.mx_records = 2;
      series.key = std::string("|") + host;
      hosts.push_back(series);
    }
    return hosts;
  };
  const HttpResponse response = Call(&Routes::Probe, Get({{"target", "mx:example.org"}}));
  EXPECT_EQ(response.status, 200);
  EXPECT_NE(response.body.find(
                "smtp_probe_success{target=\"mx1.example.org:25\",domain=\"example.org\"} 1"),
            std::string::npos)
      << response.body;
  EXPECT_NE(response.body.find(
                "smtp_probe_success{target=\"mx2.example.org:25\",domain=\"example.org\"} 1"),
            std::string::npos);
  EXPECT_EQ(network_.probes.size(), 2u);
  const HttpResponse debug =
      Call(&Routes::Probe, Get({{"target", "mx:example.org"}, {"debug", "true"}}));
  EXPECT_NE(debug.body.find("Logs for the probe of mx1.example.org:25:\n"), std::string::npos);
  EXPECT_NE(debug.body.find("Logs for the probe of mx2.example.org:25:\n"), std::string::npos);
}

TEST_F(RoutesTest, ProbeDebugShowsTheConversationAndTheMetrics) {
  const HttpResponse response =
      Call(&Routes::Probe, Get({{"target", "127.0.0.1"}, {"debug", "true"}}));
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.content_type, "text/plain; charset=utf-8");
  EXPECT_TRUE(response.body.starts_with("Logs for the probe:\n")) << response.body;
  EXPECT_NE(response.body.find("\nMetrics that would have been returned:\n"), std::string::npos);
}

// /probe?debug=true shows what the server sent, escaped (issue 13, item 8), and error bodies
// echo request parameters as valid UTF-8 without control bytes, as charset=utf-8 promises.
TEST_F(RoutesTest, DebugOutputAndErrorBodiesCarryNoControlBytesOrInvalidUtf8) {
  network_.answer = [](const ProbeSpec& spec) {
    ProbeResult result = testing::Healthy(spec.host);
    result.transcript.push_back(
        {milliseconds(1), 'S', "220 \x1b]0;pwned\x07\x1b[2Jmx\b\b\x7f\xff\xc2\x9b ESMTP"});
    return result;
  };
  const HttpResponse debug =
      Call(&Routes::Probe, Get({{"target", "127.0.0.1"}, {"debug", "true"}}));
  EXPECT_EQ(debug.status, 200);
  EXPECT_NE(debug.body.find("S: 220 \\x1b]0;pwned\\x07\\x1b[2Jmx\\x08\\x08\\x7f\xEF\xBF\xBD"
                            "\\u009b ESMTP\n"),
            std::string::npos)
      << debug.body;
  const HttpResponse unknown =
      Call(&Routes::Probe, Get({{"target", "127.0.0.1"}, {"module", "x\xff\x1b[31m"}}));
  EXPECT_EQ(unknown.status, 400);
  EXPECT_EQ(unknown.body, "unknown module \"x\xEF\xBF\xBD\\x1b[31m\"\n");
  const HttpResponse target = Call(&Routes::Probe, Get({{"target", "\xfe\x1b]0;x\x07:25"}}));
  EXPECT_EQ(target.status, 400);
  for (const HttpResponse& response : {debug, unknown, target}) {
    for (unsigned char c : response.body) EXPECT_TRUE(c >= 0x20 || c == '\n' || c == '\t');
    EXPECT_EQ(response.body.find('\xff'), std::string::npos);
    EXPECT_EQ(response.body.find('\xfe'), std::string::npos);
  }
}

TEST_F(RoutesTest, StatusPageListsProbedAndPendingTargets) {
  HttpResponse response = Call(&Routes::StatusPage, Get({}));
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.content_type, kStatusPageContentType);
  EXPECT_NE(response.body.find("not probed yet"), std::string::npos);
  ProbeFleetOnce();
  response = Call(&Routes::StatusPage, Get({}));
  EXPECT_EQ(response.body.find("not probed yet"), std::string::npos);
  EXPECT_NE(response.body.find("192.0.2.1:25"), std::string::npos);
}

TEST_F(RoutesTest, TranscriptOfOneSeries) {
  EXPECT_EQ(Call(&Routes::Transcript, Get({{"target", "192.0.2.1:25"}})).status, 400);
  EXPECT_EQ(
      Call(&Routes::Transcript, Get({{"target", "192.0.2.1:25"}, {"module", "default"}})).status,
      404);
  ProbeFleetOnce();
  const HttpResponse response =
      Call(&Routes::Transcript, Get({{"target", "192.0.2.1:25"}, {"module", "default"}}));
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.content_type, kStatusPageContentType);
  EXPECT_EQ(
      Call(&Routes::Transcript, Get({{"target", "192.0.2.1:25"}, {"module", "relay"}})).status,
      404);
}

TEST_F(RoutesTest, HealthReadinessAndReload) {
  EXPECT_EQ(Call(&Routes::Healthy, Get({})).body, "Healthy.\n");
  EXPECT_EQ(Call(&Routes::Ready, Get({})).status, 200);
  status_.ready = false;
  const HttpResponse not_ready = Call(&Routes::Ready, Get({}));
  EXPECT_EQ(not_ready.status, 503);
  EXPECT_EQ(not_ready.body, "Not ready.\n");
  EXPECT_EQ(Call(&Routes::Reload, Get({})).body, "Reloaded.\n");
  reload_error_ = "targets[0].module: unknown module \"x\" (line 3)";
  const HttpResponse failed = Call(&Routes::Reload, Get({}));
  EXPECT_EQ(failed.status, 500);
  EXPECT_EQ(failed.body,
            "failed to reload config: targets[0].module: unknown module \"x\" (line 3)\n");
  EXPECT_EQ(reloads_, 2);
}

// The routes behind the real server: paths, methods, status codes and header fields.
TEST_F(RoutesTest, ServedOverHttp) {
  HttpServer server(io_, WebConfig{});
  routes_->Install(server);
  std::string error;
  ASSERT_TRUE(server.Listen("127.0.0.1:0", &error)) << error;
  std::thread io_thread([this] { io_.run_for(std::chrono::seconds(20)); });
  struct Case {
    std::string request;
    int status;
    std::string content_type;
    std::string allow;
  };
  const std::vector<Case> cases = {
      {testing::Request("GET", "/metrics"), 200, "text/plain; version=0.0.4; charset=utf-8", ""},
      {testing::Request("HEAD", "/metrics"), 200, "text/plain; version=0.0.4; charset=utf-8", ""},
      {testing::Request("POST", "/metrics"), 405, "", "GET, HEAD"},
      {testing::Request("GET", "/probe?target=127.0.0.1"), 200,
       "text/plain; version=0.0.4; charset=utf-8", ""},
      {testing::Request("GET", "/probe?target=198.51.100.1"), 403, "text/plain; charset=utf-8", ""},
      {testing::Request("GET", "/"), 200, "text/html; charset=utf-8", ""},
      {testing::Request("GET", "/transcript?target=x&module=default"), 404,
       "text/plain; charset=utf-8", ""},
      {testing::Request("GET", "/-/healthy"), 200, "text/plain; charset=utf-8", ""},
      {testing::Request("GET", "/-/ready"), 200, "text/plain; charset=utf-8", ""},
      {testing::Request("GET", "/-/reload"), 405, "", "POST, PUT"},
      {testing::Request("POST", "/-/reload"), 200, "text/plain; charset=utf-8", ""},
      {testing::Request("PUT", "/-/reload"), 200, "text/plain; charset=utf-8", ""},
      {testing::Request("GET", "/nope"), 404, "", ""},
  };
  for (const Case& c : cases) {
    testing::TestConnection connection(server.port());
    ASSERT_TRUE(connection.ok()) << connection.error();
    ASSERT_TRUE(connection.Send(c.request));
    auto response = connection.ReadResponse(c.request.starts_with("HEAD"));
    ASSERT_TRUE(response.has_value()) << c.request;
    EXPECT_EQ(response->status, c.status) << c.request;
    if (!c.content_type.empty()) {
      EXPECT_EQ(response->headers["content-type"], c.content_type) << c.request;
    }
    if (!c.allow.empty()) {
      EXPECT_EQ(response->headers["allow"], c.allow) << c.request;
    }
  }
  boost::asio::post(io_, [&] { server.Stop(); });
  io_.stop();
  io_thread.join();
}

}  // namespace
}  // namespace smtp

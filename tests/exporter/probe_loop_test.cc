// Specification of the probe loop (daemon/probe_loop.h): the real loop and schedule, run with a
// made-up network (fake_runner.h) and millisecond intervals. Counts are bounded generously: the
// tests run on a shared 2-core machine, so they assert what must happen, not exact timings.
#include "daemon/probe_loop.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/exporter/fake_runner.h"

namespace smtp {
namespace {

using std::chrono::milliseconds;
using testing::ConfigOf;
using testing::FakeNetwork;

class ProbeLoopTest : public ::testing::Test {
 protected:
  std::shared_ptr<ProbeLoop> Loop(std::size_t max_in_flight = 16) {
    loop_ =
        std::make_shared<ProbeLoop>(io_.get_executor(), network_.Runner(), max_in_flight, logger_);
    return loop_;
  }

  // Runs the loop until `done` holds, or `limit` passes; true when `done` held.
  bool RunUntil(const std::function<bool()>& done, milliseconds limit = milliseconds(10000)) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      if (io_.stopped()) io_.restart();  // it stops whenever it runs out of work
      io_.run_for(milliseconds(5));
    }
    return done();
  }

  // Stops the loop with `grace`; returns how long Stop() took.
  milliseconds Stop(milliseconds grace) {
    bool stopped = false;
    const auto start = std::chrono::steady_clock::now();
    boost::asio::co_spawn(io_, loop_->Stop(grace), [&](std::exception_ptr) { stopped = true; });
    RunUntil([&] { return stopped; });
    return std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start);
  }

  // One on-demand probe of host:25 through ProbeOnce(), run to completion.
  std::vector<ProbeResult> ProbeOnDemand(const std::string& host) {
    std::vector<ExpandedTarget> series(1);
    series[0].host = host;
    series[0].port = 25;
    std::optional<std::vector<ProbeResult>> results;
    boost::asio::co_spawn(
        io_,
        [&]() -> boost::asio::awaitable<void> {
          results = co_await loop_->ProbeOnce(series, [](const ExpandedTarget& one) {
            ProbeSpec spec;
            spec.host = one.host;
            spec.port = one.port;
            return spec;
          });
        },
        boost::asio::detached);
    RunUntil([&] { return results.has_value(); });
    return results.value_or(std::vector<ProbeResult>{});
  }

  int LogLines(const std::string& fragment) const {
    int count = 0;
    for (const std::string& line : log_) count += line.find(fragment) != std::string::npos;
    return count;
  }

  boost::asio::io_context io_;
  FakeNetwork network_;
  std::vector<std::string> log_;
  Logger logger_{LogLevel::kInfo, LogFormat::kLogfmt,
                 [this](std::string_view line) { log_.emplace_back(line); }};
  std::shared_ptr<ProbeLoop> loop_;
};

TEST_F(ProbeLoopTest, ProbesEveryTargetAgainAndAgainOnItsInterval) {
  auto loop = Loop();
  loop->Apply(ConfigOf({"192.0.2.1:25", "192.0.2.2:25"}, milliseconds(30)), {});
  loop->Start();
  const LoopCounters& counters = loop->counters();
  ASSERT_TRUE(RunUntil([&] {
    return network_.ProbesOf("192.0.2.1") >= 4 && network_.ProbesOf("192.0.2.2") >= 4 &&
           counters.probes_total_by_result.contains("success") &&
           counters.probes_total_by_result.at("success") >= 8;
  }));
  EXPECT_EQ(loop->fleet().series_count(), 2u);
  // Every scheduled run is one lag sample; probes still in flight are not yet counted as done.
  EXPECT_GE(counters.scheduler_lag.count(), counters.probes_total_by_result.at("success"));
  EXPECT_EQ(network_.expansions, static_cast<int>(counters.scheduler_lag.count()));
}

TEST_F(ProbeLoopTest, NeverRunsMoreThanMaxInFlightTargetsAtOnce) {
  network_.delay = milliseconds(20);
  auto loop = Loop(/*max_in_flight=*/2);
  loop->Apply(ConfigOf({"192.0.2.1:25", "192.0.2.2:25", "192.0.2.3:25", "192.0.2.4:25",
                        "192.0.2.5:25", "192.0.2.6:25"},
                       milliseconds(25)),
              {});
  loop->Start();
  ASSERT_TRUE(RunUntil([&] {
    for (int i = 1; i <= 6; ++i) {
      if (network_.ProbesOf("192.0.2." + std::to_string(i)) < 2) return false;
    }
    return true;
  }));
  EXPECT_EQ(network_.max_running, 2);
}

TEST_F(ProbeLoopTest, TheRelayTestRidesAlongOnItsOwnLongerInterval) {
  Config config = ConfigOf({"192.0.2.1:25"}, milliseconds(20));
  config.modules["default"].relay_test.enabled = true;
  config.modules["default"].relay_test.interval = milliseconds(200);
  auto loop = Loop();
  loop->Apply(config, {});
  loop->Start();
  ASSERT_TRUE(RunUntil([&] { return network_.probes.size() >= 25; }));
  int with_relay = 0;
  for (const ProbeSpec& spec : network_.probes) with_relay += spec.relay.enabled;
  EXPECT_TRUE(network_.probes.front().relay.enabled);  // a new target is tested at once
  EXPECT_GE(with_relay, 2);
  EXPECT_LE(with_relay, static_cast<int>(network_.probes.size()) / 3);
}

TEST_F(ProbeLoopTest, MxChurnFollowsEachExpansion) {
  auto mx = [](const std::string& host) {
    ExpandedTarget series;
    series.host = host;
    series.port = 25;
    series.label = host + ":25";
    series.domain = "example.org";
    series.key = "|" + host;
    return series;
  };
  network_.expand = [&](const ExpansionRequest&) {
    if (network_.expansions == 1) return std::vector<ExpandedTarget>{mx("mx1"), mx("mx2")};
    return std::vector<ExpandedTarget>{mx("mx2"), mx("mx3")};
  };
  auto loop = Loop();
  loop->Apply(ConfigOf({"mx:example.org"}, milliseconds(20)), {});
  loop->Start();
  ASSERT_TRUE(
      RunUntil([&] { return network_.ProbesOf("mx1") == 1 && network_.ProbesOf("mx3") >= 2; }));
  std::vector<std::string> targets;
  for (const TargetSnapshot& snapshot : loop->fleet().Snapshots()) {
    targets.push_back(snapshot.target);
    EXPECT_EQ(snapshot.labels.at("domain"), "example.org");
  }
  EXPECT_EQ(targets, (std::vector<std::string>{"mx2:25", "mx3:25"}));
}

TEST_F(ProbeLoopTest, AFailedExpansionIsRecordedWithoutAProbe) {
  network_.expand = [](const ExpansionRequest& request) {
    ExpandedTarget failed;
    failed.host = request.target.host;
    failed.port = 25;
    failed.label = request.label;
    failed.failure = testing::Down(request.target.host);
    failed.failure->failure_reason = FailureReason::kDns;
    return std::vector<ExpandedTarget>{failed};
  };
  auto loop = Loop();
  loop->Apply(ConfigOf({"mx:example.org"}, milliseconds(20)), {});
  loop->Start();
  ASSERT_TRUE(RunUntil([&] { return network_.expansions >= 3; }));
  EXPECT_TRUE(network_.probes.empty());
  EXPECT_GE(loop->counters().probes_total_by_result.at("dns"), 2u);
  ASSERT_EQ(loop->fleet().series_count(), 1u);
  EXPECT_EQ(StateOf(loop->fleet().Snapshots()[0]), StatusState::kDown);
}

TEST_F(ProbeLoopTest, StateChangesAreLoggedOncePerChange) {
  // up, up, down, down, up, up, ...
  int calls = 0;
  network_.answer = [&](const ProbeSpec& spec) {
    ++calls;
    return calls == 3 || calls == 4 ? testing::Down(spec.host) : testing::Healthy(spec.host);
  };
  auto loop = Loop();
  loop->Apply(ConfigOf({"192.0.2.1:25"}, milliseconds(15)), {});
  loop->Start();
  ASSERT_TRUE(RunUntil([&] {
    return loop->counters().probes_total_by_result.count("success") &&
           loop->counters().probes_total_by_result.at("success") >= 4;
  }));
  EXPECT_EQ(LogLines("msg=\"target state changed\""), 3);
  EXPECT_EQ(LogLines("state=up"), 2);
  EXPECT_EQ(LogLines("target=192.0.2.1:25 module=default state=down step=connect reason=refused"),
            1);
}

TEST_F(ProbeLoopTest, AReloadKeepsSeriesOfKeptTargetsAndDropsRemovedOnes) {
  auto loop = Loop();
  loop->Apply(ConfigOf({"192.0.2.1:25", "192.0.2.2:25"}, milliseconds(15)), {});
  loop->Start();
  ASSERT_TRUE(RunUntil([&] { return loop->fleet().series_count() == 2; }));
  loop->Apply(ConfigOf({"192.0.2.1:25"}, milliseconds(15)), {});
  EXPECT_EQ(loop->fleet().series_count(), 1u);
  const std::uint64_t before = loop->fleet().Snapshots()[0].greeting_histogram->count();
  const int probes_of_removed = network_.ProbesOf("192.0.2.2");
  ASSERT_TRUE(RunUntil(
      [&] { return loop->fleet().Snapshots()[0].greeting_histogram->count() >= before + 3; }));
  EXPECT_LE(network_.ProbesOf("192.0.2.2"), probes_of_removed + 1);  // at most one in flight
  EXPECT_EQ(loop->fleet().series_count(), 1u);
}

TEST_F(ProbeLoopTest, ARunnerThatThrowsFailsTheProbeAndTheLoopGoesOn) {
  network_.answer = [](const ProbeSpec&) -> ProbeResult { throw std::runtime_error("boom"); };
  auto loop = Loop();
  loop->Apply(ConfigOf({"192.0.2.1:25"}, milliseconds(15)), {});
  loop->Start();
  ASSERT_TRUE(RunUntil([&] { return network_.probes.size() >= 3; }));
  const TargetSnapshot snapshot = loop->fleet().Snapshots().at(0);
  EXPECT_EQ(snapshot.last->failure_detail, "internal error: boom");
  EXPECT_GE(LogLines("level=error"), 2);
}

TEST_F(ProbeLoopTest, StopAwaitsTheProbesInFlight) {
  network_.delay = milliseconds(300);
  auto loop = Loop();
  loop->Apply(ConfigOf({"192.0.2.1:25"}, milliseconds(1000)), {});
  loop->Start();
  ASSERT_TRUE(RunUntil([&] { return network_.running == 1; }));
  const milliseconds took = Stop(milliseconds(5000));
  EXPECT_EQ(network_.running, 0);  // Stop returned when the probe ended, not after the grace
  EXPECT_LT(took, milliseconds(4000));
  EXPECT_EQ(loop->busy(), 0u);
  // Nothing is scheduled after Stop, and the late result was not recorded.
  io_.run_for(milliseconds(100));
  EXPECT_EQ(network_.probes.size(), 1u);
  EXPECT_EQ(loop->fleet().series_count(), 0u);
}

// SIGTERM while a target's DNS expansion is still running: the run ends there, no connection is
// opened after Stop(), and an on-demand probe asked after Stop() is not started either.
TEST_F(ProbeLoopTest, NoProbeStartsAfterStop) {
  network_.expand_delay = milliseconds(200);
  auto loop = Loop();
  loop->Apply(ConfigOf({"mx:example.org"}, milliseconds(1000)), {});
  loop->Start();
  ASSERT_TRUE(RunUntil([&] { return network_.expansions == 1; }));
  const milliseconds took = Stop(milliseconds(5000));
  EXPECT_LT(took, milliseconds(4000));  // Stop() waited for the expansion, not for the grace
  io_.run_for(milliseconds(100));
  EXPECT_TRUE(network_.probes.empty());
  EXPECT_EQ(loop->busy(), 0u);

  const std::vector<ProbeResult> results = ProbeOnDemand("192.0.2.9");
  ASSERT_EQ(results.size(), 1u);
  EXPECT_TRUE(network_.probes.empty());
  EXPECT_FALSE(results[0].success);
  EXPECT_EQ(results[0].failure_detail, "not probed: the exporter is shutting down");
}

TEST_F(ProbeLoopTest, StopGivesUpAfterTheGrace) {
  network_.delay = milliseconds(60000);
  auto loop = Loop();
  loop->Apply(ConfigOf({"192.0.2.1:25"}, milliseconds(1000)), {});
  loop->Start();
  ASSERT_TRUE(RunUntil([&] { return network_.running == 1; }));
  const milliseconds took = Stop(milliseconds(50));
  EXPECT_GE(took, milliseconds(40));
  EXPECT_LT(took, milliseconds(5000));
  EXPECT_EQ(loop->busy(), 1u);
}

TEST_F(ProbeLoopTest, OnDemandProbesAreCountedButNotRecorded) {
  auto loop = Loop();
  loop->Apply(ConfigOf({}, milliseconds(1000)), {});
  const std::vector<ProbeResult> results = ProbeOnDemand("192.0.2.9");
  ASSERT_EQ(results.size(), 1u);
  EXPECT_TRUE(results[0].success);
  EXPECT_EQ(loop->counters().probes_total_by_result.at("success"), 1u);
  EXPECT_EQ(loop->fleet().series_count(), 0u);
  EXPECT_EQ(loop->busy(), 0u);
}

}  // namespace
}  // namespace smtp

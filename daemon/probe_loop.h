// The probe loop: runs the fleet's schedule on one executor.
//
//   Schedule (when) -> ProbeRunner (expand, probe) -> Fleet::Record (the state of each series)
//
// Every due entry is expanded into its series and each series is probed; the entry counts as
// running (against --probe.max-in-flight) until its last series is recorded. A state change of a
// series (up, down, open relay) is logged once, at info level, with the facts in fields.
//
// Seams: the ProbeRunner. ProbeRunner::Network() is the real engine (probes/awaitable.h); tests
// give made-up expansions and results, and run the real loop with millisecond intervals.
//
// Threading: every member function, and the runner's coroutines, run on the loop's executor
// (one thread); the daemon runs one loop per thread, each with its partition of the targets
// (daemon/loop_pool.h). The loop is held by shared_ptr: its coroutines keep it alive.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "daemon/fleet.h"
#include "daemon/histogram.h"
#include "daemon/log.h"
#include "daemon/schedule.h"
#include "probes/expansion.h"

namespace smtp {

// How the loop expands a target and probes a series. Both must complete (never throw: failures
// are data) on the awaiting coroutine's executor.
struct ProbeRunner {
  std::function<boost::asio::awaitable<std::vector<ExpandedTarget>>(ExpansionRequest)> expand;
  std::function<boost::asio::awaitable<ProbeResult>(ProbeSpec)> probe;

  // The real thing: smtp::Expand and smtp::Probe (probes/awaitable.h).
  static ProbeRunner Network();
};

// Buckets of smtp_exporter_scheduler_lag_seconds: 100 µs (a loop keeping up starts probes a few
// tens of µs late) to 60 s (a fleet far beyond --probe.max-in-flight).
const Histogram::Bounds& SchedulerLagBounds();

// What the loop counts for smtp_exporter_* self metrics.
struct LoopCounters {
  // Probes finished since start, scheduled and on-demand, by ProbeResultLabel().
  std::map<std::string, std::uint64_t> probes_total_by_result;
  int probes_in_flight = 0;                       // scheduled and on-demand probes running now
  Histogram scheduler_lag{SchedulerLagBounds()};  // start - due of every scheduled run, seconds

  // Adds the counts of another loop (the daemon's figures are the sum over its loops).
  void Add(const LoopCounters& other);
};

class ProbeLoop : public std::enable_shared_from_this<ProbeLoop> {
 public:
  ProbeLoop(boost::asio::any_io_executor executor, ProbeRunner runner, std::size_t max_in_flight,
            Logger& logger);

  // Applies a (re)loaded config: the fleet keeps the series of kept targets, the schedule their
  // timing (daemon/fleet.h, daemon/schedule.h). Runs in flight finish under the entry they
  // started with. With several loops, this one takes `partition` of the shard's targets.
  void Apply(std::shared_ptr<const Config> config, ShardSelector shard,
             LoopPartition partition = {});
  void Apply(Config config, ShardSelector shard) {
    Apply(std::make_shared<const Config>(std::move(config)), shard);
  }

  // Starts running the schedule.
  void Start();

  // Stops scheduling and waits until the runs and on-demand probes in flight have finished, or
  // `grace` has passed, whichever is first. No probe starts after Stop() (a run still expanding
  // its target ends there; an on-demand series gets a failed result, reason timeout), and
  // results that arrive after it are not recorded.
  boost::asio::awaitable<void> Stop(std::chrono::milliseconds grace);

  // On-demand probes (/probe) with the loop's runner: `request` expanded, and every series
  // probed at once with spec_of(series); one result per series, in the expansion's order (a
  // series whose expansion failed gets its failure). Counted in the self metrics, not recorded
  // in the fleet, and awaited by Stop().
  boost::asio::awaitable<std::vector<ExpandedTarget>> ExpandOnce(ExpansionRequest request);
  boost::asio::awaitable<std::vector<ProbeResult>> ProbeOnce(
      const std::vector<ExpandedTarget>& series,
      const std::function<ProbeSpec(const ExpandedTarget&)>& spec_of);

  const boost::asio::any_io_executor& executor() const { return executor_; }
  const Fleet& fleet() const { return fleet_; }
  const LoopCounters& counters() const { return counters_; }
  // Runs (scheduled entries and on-demand probes) in flight.
  std::size_t busy() const { return schedule_.in_flight() + on_demand_; }

 private:
  using TimePoint = std::chrono::steady_clock::time_point;

  boost::asio::awaitable<void> RunSchedule();
  boost::asio::awaitable<void> RunEntry(std::shared_ptr<const FleetEntry> entry, bool with_relay,
                                        TimePoint started);
  boost::asio::awaitable<ProbeResult> CountedProbe(ProbeSpec spec);
  boost::asio::awaitable<std::vector<ProbeResult>> ProbeAll(
      const std::vector<ExpandedTarget>& series,
      const std::function<ProbeSpec(const ExpandedTarget&)>& spec_of);
  void Store(const FleetEntry& entry, const ExpandedTarget& series, ProbeResult result);
  void Finished(const std::string& key, TimePoint started, bool with_relay);
  void Settled();

  boost::asio::any_io_executor executor_;
  ProbeRunner runner_;
  Logger& logger_;
  Fleet fleet_;
  Schedule schedule_;
  LoopCounters counters_;
  boost::asio::steady_timer wakeup_;   // the schedule's next due time; cancelled to wake early
  boost::asio::steady_timer drained_;  // Stop()'s grace; cancelled when nothing is in flight
  std::size_t on_demand_ = 0;
  bool started_ = false;
  bool stopping_ = false;
};

}  // namespace smtp

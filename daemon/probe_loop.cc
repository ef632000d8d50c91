#include "daemon/probe_loop.h"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <utility>

#include "probes/awaitable.h"

namespace smtp {
namespace asio = boost::asio;
using SteadyClock = std::chrono::steady_clock;

namespace {

constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);

void LogStateChange(Logger& logger, const TargetSnapshot& snapshot, const std::string& module,
                    StatusState state) {
  const std::string& target = snapshot.target;
  const ProbeResult& last = *snapshot.last;
  if (state == StatusState::kDown) {
    logger.Info("target state changed",
                {{"target", target},
                 {"module", module},
                 {"state", "down"},
                 {"step", last.failed_step ? ToString(*last.failed_step) : ""},
                 {"reason", ToString(last.failure_reason)}});
  } else if (state == StatusState::kOpenRelay) {
    logger.Info("target state changed", {{"target", target},
                                         {"module", module},
                                         {"state", "open_relay"},
                                         {"relay", ReportedRelayOf(snapshot).judgement.summary}});
  } else {
    logger.Info("target state changed", {{"target", target}, {"module", module}, {"state", "up"}});
  }
}

// What an on-demand probe that Stop() kept from starting answers.
ProbeResult StoppedResult(const ExpandedTarget& series) {
  ProbeResult result;
  result.host = series.host;
  result.port = series.port;
  result.failure_reason = FailureReason::kTimeout;
  result.failure_detail = "not probed: the exporter is shutting down";
  return result;
}

}  // namespace

ProbeRunner ProbeRunner::Network() {
  return ProbeRunner{[](ExpansionRequest request) { return Expand(std::move(request)); },
                     [](ProbeSpec spec) { return Probe(std::move(spec)); }};
}

const Histogram::Bounds& SchedulerLagBounds() {
  static const Histogram::Bounds kBounds =
      Histogram::MakeBounds({0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                             0.25, 0.5, 1, 2.5, 5, 10, 30, 60});
  return kBounds;
}

ProbeLoop::ProbeLoop(asio::any_io_executor executor, ProbeRunner runner, std::size_t max_in_flight,
                     Logger& logger)
    : executor_(std::move(executor)),
      runner_(std::move(runner)),
      logger_(logger),
      schedule_(max_in_flight),
      wakeup_(executor_),
      drained_(executor_) {}

void LoopCounters::Add(const LoopCounters& other) {
  for (const auto& [label, count] : other.probes_total_by_result) {
    probes_total_by_result[label] += count;
  }
  probes_in_flight += other.probes_in_flight;
  scheduler_lag.Add(other.scheduler_lag);
}

void ProbeLoop::Apply(std::shared_ptr<const Config> config, ShardSelector shard,
                      LoopPartition partition) {
  schedule_.Set(fleet_.Apply(std::move(config), shard, partition), SteadyClock::now());
  wakeup_.cancel();  // the next due time may be earlier now
}

void ProbeLoop::Start() {
  if (started_) return;
  started_ = true;
  asio::co_spawn(executor_, RunSchedule(), [self = shared_from_this()](std::exception_ptr error) {
    if (error) self->logger_.Error("schedule stopped by an internal error");
  });
}

asio::awaitable<void> ProbeLoop::RunSchedule() {
  auto self = shared_from_this();
  while (!stopping_) {
    const TimePoint now = SteadyClock::now();
    for (const Schedule::Due& due : schedule_.TakeDue(now)) {
      counters_.scheduler_lag.Observe(std::chrono::duration<double>(now - due.due).count());
      std::shared_ptr<const FleetEntry> entry = fleet_.Find(due.key);
      if (!entry) {  // removed since it was scheduled
        schedule_.Finished(due.key, now, now, false);
        continue;
      }
      asio::co_spawn(executor_, RunEntry(std::move(entry), due.with_relay, now),
                     [self, key = due.key](std::exception_ptr error) {
                       if (error) self->logger_.Error("target run failed", {{"entry", key}});
                     });
    }
    const std::optional<TimePoint> next = schedule_.NextWakeup();
    wakeup_.expires_at(next ? std::max(*next, now) : now + std::chrono::hours(1));
    co_await wakeup_.async_wait(kAwait);
  }
}

asio::awaitable<void> ProbeLoop::RunEntry(std::shared_ptr<const FleetEntry> entry, bool with_relay,
                                          TimePoint started) {
  auto self = shared_from_this();
  std::vector<ExpandedTarget> series = co_await runner_.expand(entry->Expansion());
  if (stopping_) {  // stopped while the expansion ran: no new connection after Stop()
    Finished(entry->key, started, with_relay);
    co_return;
  }
  fleet_.Expanded(entry->key, series);
  // The series of one entry are probed at once; the entry is finished with its last one.
  std::vector<ProbeResult> results = co_await ProbeAll(
      series, [&](const ExpandedTarget& one) { return entry->Spec(one, with_relay); });
  for (std::size_t i = 0; i < series.size(); ++i) Store(*entry, series[i], std::move(results[i]));
  Finished(entry->key, started, with_relay);
}

asio::awaitable<std::vector<ProbeResult>> ProbeLoop::ProbeAll(
    const std::vector<ExpandedTarget>& series,
    const std::function<ProbeSpec(const ExpandedTarget&)>& spec_of) {
  std::vector<ProbeResult> results(series.size());
  std::vector<std::size_t> probed;  // the series to probe, by index
  for (std::size_t i = 0; i < series.size(); ++i) {
    if (series[i].failure) {  // the expansion failed: its result stands for the probe
      results[i] = *series[i].failure;
      ++counters_.probes_total_by_result[ProbeResultLabel(results[i])];
    } else if (stopping_) {  // no new connection after Stop()
      results[i] = StoppedResult(series[i]);
    } else {
      probed.push_back(i);
    }
  }
  if (probed.size() == 1) {  // the common case: one series, nothing to run side by side
    results[probed[0]] = co_await CountedProbe(spec_of(series[probed[0]]));
  } else if (!probed.empty()) {
    using Operation =
        decltype(asio::co_spawn(executor_, CountedProbe(ProbeSpec{}), asio::deferred));
    std::vector<Operation> operations;
    for (std::size_t i : probed) {
      operations.push_back(
          asio::co_spawn(executor_, CountedProbe(spec_of(series[i])), asio::deferred));
    }
    auto [order, errors, finished] =
        co_await asio::experimental::make_parallel_group(std::move(operations))
            .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
    // CountedProbe never throws; `finished` is in the order of `operations`.
    for (std::size_t k = 0; k < probed.size(); ++k) results[probed[k]] = std::move(finished[k]);
  }
  co_return results;
}

asio::awaitable<ProbeResult> ProbeLoop::CountedProbe(ProbeSpec spec) {
  ++counters_.probes_in_flight;
  ProbeResult result;
  std::exception_ptr error;
  try {
    result = co_await runner_.probe(spec);
  } catch (...) {
    error = std::current_exception();
  }
  if (error) {
    // A runner reports failures as data; this is a bug, but one that must not leave an entry
    // running forever.
    result = InternalErrorResult(error);
    result.host = spec.host;
    result.port = spec.port;
    logger_.Error("probe failed with an internal error", {{"err", result.failure_detail}});
  }
  --counters_.probes_in_flight;
  ++counters_.probes_total_by_result[ProbeResultLabel(result)];
  co_return result;
}

void ProbeLoop::Store(const FleetEntry& entry, const ExpandedTarget& series, ProbeResult result) {
  if (logger_.Enabled(LogLevel::kDebug)) {
    logger_.Debug("probe finished",
                  {{"target", series.label},
                   {"success", result.success ? "true" : "false"},
                   {"duration_seconds",
                    std::to_string(std::chrono::duration<double>(result.duration).count())},
                   {"reason", ToString(result.failure_reason)}});
  }
  if (stopping_) return;
  const std::optional<Fleet::Recorded> recorded = fleet_.Record(entry, series, std::move(result));
  if (!recorded || !recorded->change.changed()) return;
  LogStateChange(logger_, *recorded->snapshot, entry.module_name(), recorded->change.after);
}

void ProbeLoop::Finished(const std::string& key, TimePoint started, bool with_relay) {
  schedule_.Finished(key, started, SteadyClock::now(), with_relay);
  wakeup_.cancel();  // a slot is free, and the entry's next run is planned
  Settled();
}

void ProbeLoop::Settled() {
  if (stopping_ && busy() == 0) drained_.cancel();
}

asio::awaitable<std::vector<ExpandedTarget>> ProbeLoop::ExpandOnce(ExpansionRequest request) {
  auto self = shared_from_this();
  ++on_demand_;
  std::vector<ExpandedTarget> series = co_await runner_.expand(std::move(request));
  --on_demand_;
  Settled();
  co_return series;
}

asio::awaitable<std::vector<ProbeResult>> ProbeLoop::ProbeOnce(
    const std::vector<ExpandedTarget>& series,
    const std::function<ProbeSpec(const ExpandedTarget&)>& spec_of) {
  auto self = shared_from_this();
  ++on_demand_;
  std::vector<ProbeResult> results = co_await ProbeAll(series, spec_of);
  --on_demand_;
  Settled();
  co_return results;
}

asio::awaitable<void> ProbeLoop::Stop(std::chrono::milliseconds grace) {
  auto self = shared_from_this();
  stopping_ = true;
  wakeup_.cancel();
  const TimePoint deadline = SteadyClock::now() + grace;
  while (busy() > 0 && SteadyClock::now() < deadline) {
    drained_.expires_at(deadline);
    co_await drained_.async_wait(kAwait);
  }
}

}  // namespace smtp

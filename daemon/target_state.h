// The state of one target: the one record the daemon keeps per probed series, and the facts
// every renderer reads from it. The fleet (daemon/fleet.h) owns one TargetSnapshot per series and
// calls Record() with every finished probe; the metrics layer, the status page and the state-change
// log read copies of it and never write. Pure: no I/O, no clock, no locks.
//
// A target's relay verdict rests on the latest relay test it ran (DESIGN §1): the relay test runs
// on its own, longer interval, so a probe without it keeps the verdict of the last one that ran,
// and a probe without the relay test never makes an open relay look healthy.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "daemon/histogram.h"
#include "probes/probe_result.h"
#include "probes/verdict.h"

namespace smtp {

// Buckets of smtp_greeting_duration_seconds, 5 ms to 30 s: a healthy local MTA answers in
// milliseconds, a tarpitting one (Postfix postscreen greet pause, Exim's smtp_banner delay) in
// seconds, and RFC 5321 §4.5.3.2 lets a client wait up to 5 minutes, which the +Inf bucket covers.
// One shared set of bounds for every target.
const Histogram::Bounds& GreetingBounds();

// What is known about one target (one probed series). Results are held through
// shared_ptr<const ...> so that a copy of 10,000 snapshots costs pointer copies.
struct TargetSnapshot {
  std::string target;                         // value of the `target` label, e.g. "mx1:25"
  std::map<std::string, std::string> labels;  // configured extra labels, plus domain/ip
  std::shared_ptr<const ProbeResult> last;    // latest finished probe; null = not probed yet
  // The relay test kept from the last run that included it. When `last` itself ran the relay
  // test, `last` wins and these are ignored.
  std::shared_ptr<const RelayResult> last_relay;
  std::optional<std::chrono::system_clock::time_point> last_relay_at;  // when that run started
  // Banner latency of every probe whose greeting was a 220 (RFC 5321 §4.2: a 4xx/5xx banner, or
  // none, is no sample), over the target's lifetime; nullopt = do not export (e.g. /probe, where
  // one probe has no history). Exported once the target was probed at least once.
  std::optional<Histogram> greeting_histogram;
  std::optional<int> mx_records;  // for `mx:` targets: MX records of the domain
  bool minimal_series = false;    // its module's `series: minimal` (daemon/metrics.h)
};

// The relay test a target's relay verdict rests on: the latest probe's when it ran one
// (from_last), else the one kept from the last relay run; `result` is null when neither ran.
// Judged by the one verdict function (probes/verdict.h). Points into `snapshot`: valid while it
// lives and is not modified.
struct ReportedRelay {
  const RelayResult* result = nullptr;
  std::optional<std::chrono::system_clock::time_point> ran_at;  // when that test started
  bool from_last = false;
  RelayJudgement judgement;  // verdict kNotTested without a result
};
ReportedRelay ReportedRelayOf(const TargetSnapshot& snapshot);

// The state of a target, in this order of precedence:
//   kPending    never probed (`last` is null);
//   kDown       the last probe failed (ProbeResult::success is false);
//   kOpenRelay  the last probe succeeded, but the reported relay verdict is open;
//   kUp         otherwise.
// A target that is down but whose relay verdict is open is kDown (the status page still counts
// it as an open relay).
enum class StatusState { kPending, kDown, kOpenRelay, kUp };
const char* ToString(StatusState state);  // "PENDING", "DOWN", "OPEN RELAY", "UP"
StatusState StateOf(const TargetSnapshot& snapshot);

// ReportedRelayOf(snapshot).judgement.verdict.
RelayVerdict RelayVerdictOf(const TargetSnapshot& snapshot);

// The greeting latency Record() samples: the greeting step's duration when it ended in a 220.
std::optional<double> GreetingSeconds(const ProbeResult& result);

// Folds a finished probe into the record: it becomes `last` (its spare capacity released, as it is
// kept until the next probe), its relay test (when it ran one) the kept relay verdict, and its
// greeting latency a sample of the histogram (created with GreetingBounds() on the first probe).
// Returns the state before and after.
struct StateChange {
  StatusState before = StatusState::kPending;
  StatusState after = StatusState::kPending;
  bool changed() const { return before != after; }
};
StateChange Record(TargetSnapshot& snapshot, ProbeResult result);

}  // namespace smtp

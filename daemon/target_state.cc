#include "daemon/target_state.h"

#include <utility>

namespace smtp {

const Histogram::Bounds& GreetingBounds() {
  static const Histogram::Bounds kBounds =
      Histogram::MakeBounds({0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30});
  return kBounds;
}

ReportedRelay ReportedRelayOf(const TargetSnapshot& snapshot) {
  ReportedRelay relay;
  if (snapshot.last && snapshot.last->relay->ran) {
    relay.result = &*snapshot.last->relay;
    relay.ran_at = snapshot.last->started_at;
    relay.from_last = true;
  } else if (snapshot.last_relay && snapshot.last_relay->ran) {
    relay.result = snapshot.last_relay.get();
    relay.ran_at = snapshot.last_relay_at;
  }
  if (relay.result != nullptr) relay.judgement = JudgeRelay(*relay.result);
  return relay;
}

const char* ToString(StatusState state) {
  switch (state) {
    case StatusState::kPending:
      return "PENDING";
    case StatusState::kDown:
      return "DOWN";
    case StatusState::kOpenRelay:
      return "OPEN RELAY";
    case StatusState::kUp:
      return "UP";
  }
  return "UNKNOWN";
}

RelayVerdict RelayVerdictOf(const TargetSnapshot& snapshot) {
  return ReportedRelayOf(snapshot).judgement.verdict;
}

StatusState StateOf(const TargetSnapshot& snapshot) {
  if (!snapshot.last) return StatusState::kPending;
  if (!snapshot.last->success) return StatusState::kDown;
  if (RelayVerdictOf(snapshot) == RelayVerdict::kOpen) return StatusState::kOpenRelay;
  return StatusState::kUp;
}

std::optional<double> GreetingSeconds(const ProbeResult& result) {
  const StepResult* greeting = result.FindStep(Step::kGreeting);
  if (greeting == nullptr || !greeting->ok) return std::nullopt;
  return std::chrono::duration<double>(greeting->duration).count();
}

StateChange Record(TargetSnapshot& snapshot, ProbeResult result) {
  StateChange change;
  change.before = StateOf(snapshot);
  if (!snapshot.greeting_histogram) snapshot.greeting_histogram.emplace(GreetingBounds());
  if (auto seconds = GreetingSeconds(result)) snapshot.greeting_histogram->Observe(*seconds);
  if (const RelayResult& relay = std::as_const(result).relay; relay.ran) {
    snapshot.last_relay = std::make_shared<const RelayResult>(relay);
    snapshot.last_relay_at = result.started_at;
  }
  ReleaseSpareCapacity(result);
  snapshot.last = std::make_shared<const ProbeResult>(std::move(result));
  change.after = StateOf(snapshot);
  return change;
}

}  // namespace smtp

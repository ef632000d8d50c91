#include "daemon/schedule.h"

#include <algorithm>

namespace smtp {

using std::chrono::milliseconds;

Schedule::Schedule(std::size_t max_in_flight)
    : max_in_flight_(std::max<std::size_t>(1, max_in_flight)) {}

milliseconds Schedule::Offset(const std::string& key, milliseconds interval) {
  std::uint64_t hash = 14695981039346656037ull;  // FNV-1a 64
  for (unsigned char c : key) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  const auto period = static_cast<std::uint64_t>(std::max<milliseconds::rep>(1, interval.count()));
  return milliseconds(static_cast<milliseconds::rep>(hash % period));
}

Schedule::TimePoint Schedule::NextGridPoint(TimePoint after, milliseconds offset,
                                            milliseconds interval) {
  const auto period = std::max(milliseconds(1), interval);
  const auto since_epoch = std::chrono::duration_cast<milliseconds>(after.time_since_epoch());
  // Grid points are offset + k * period; find the first one strictly after `after`.
  auto k = (since_epoch - offset) / period;
  TimePoint point{offset + k * period};
  while (point <= after) point += period;
  while (point - period > after) point -= period;
  return point;
}

void Schedule::Set(const std::vector<ScheduleEntry>& entries, TimePoint now) {
  std::map<std::string, State> next;
  for (const ScheduleEntry& entry : entries) {
    State state;
    auto old = entries_.find(entry.key);
    if (old != entries_.end() && old->second.interval == entry.interval) {
      state = old->second;
    } else {
      state.offset = Offset(entry.key, entry.interval);
      state.next_due = NextGridPoint(now, state.offset, entry.interval);
      if (old != entries_.end()) {
        state.running = old->second.running;
        state.last_relay = old->second.last_relay;
      }
    }
    state.interval = entry.interval;
    state.relay_interval = entry.relay_interval;
    next.emplace(entry.key, std::move(state));
  }
  entries_ = std::move(next);
  idle_.clear();
  for (Entry& entry : entries_) {
    if (!entry.second.running) idle_.emplace(entry.second.next_due, &entry);
  }
}

std::vector<Schedule::Due> Schedule::TakeDue(TimePoint now) {
  std::vector<Due> started;
  // idle_ is ordered by due time, then key: the oldest due probes come first.
  while (!idle_.empty() && idle_.begin()->first <= now && in_flight_ < max_in_flight_) {
    Entry& entry = *idle_.begin()->second;
    idle_.erase(idle_.begin());
    State& state = entry.second;
    const auto relay_interval = state.relay_interval;
    const bool with_relay =
        relay_interval.count() > 0 &&
        (!state.last_relay || state.next_due - *state.last_relay >= relay_interval);
    started.push_back({entry.first, with_relay, state.next_due});
    state.running = true;
    state.relay_in_flight.reset();
    if (with_relay) state.relay_in_flight = state.next_due;
    // Missed slots are skipped, not caught up (see header).
    state.next_due = NextGridPoint(now, state.offset, state.interval);
    ++in_flight_;
  }
  return started;
}

void Schedule::Finished(const std::string& key, TimePoint started, TimePoint now, bool relay_ran) {
  if (in_flight_ > 0) --in_flight_;
  auto found = entries_.find(key);
  if (found == entries_.end()) return;
  State& state = found->second;
  state.running = false;
  if (relay_ran) state.last_relay = state.relay_in_flight.value_or(started);
  state.relay_in_flight.reset();
  if (state.next_due <= now) {
    state.next_due = NextGridPoint(now, state.offset, state.interval);
  }
  idle_.emplace(state.next_due, &*found);
}

std::optional<Schedule::TimePoint> Schedule::NextWakeup() const {
  // With every slot taken nothing can start before a probe finishes, and Finished is followed
  // by TakeDue anyway: a wake-up now would only spin.
  if (in_flight_ >= max_in_flight_) return std::nullopt;
  if (idle_.empty()) return std::nullopt;
  return idle_.begin()->first;
}

}  // namespace smtp

// Schedule: when each target is probed. A pure timetable with no I/O and no clock of its own:
// the daemon's loop feeds it the time and runs what it returns; tests drive it with made-up times.
//
// Rules:
//  - Every entry runs on a grid of its own: due times are offset + k * interval on the steady
//    clock, where the offset is a stable hash of the entry's key. A fleet therefore spreads out
//    over the interval instead of probing in bursts, and the grid survives reloads.
//  - At most `max_in_flight` probes run at once. Due probes beyond the cap wait, oldest first;
//    the wait shows up as scheduler lag (start - due).
//  - An entry is never run twice at once; a slot missed while it was running (or waiting) is
//    skipped, not caught up: the next run is the first grid point after the start.
//  - The relay test rides along with an ordinary run when relay_interval has passed since it
//    last ran (or it never ran); relay_interval 0 disables it.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace smtp {

struct ScheduleEntry {
  std::string key;  // unique per probed series
  std::chrono::milliseconds interval{60000};
  std::chrono::milliseconds relay_interval{0};  // 0 = no relay test
};

class Schedule {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  struct Due {
    std::string key;
    bool with_relay = false;
    TimePoint due;  // the grid point this run belongs to; lag = start - due
  };

  explicit Schedule(std::size_t max_in_flight);

  // Replaces the set of entries. An entry whose key and interval stay keeps its timing, its
  // in-flight state and its relay history; a new one starts at its next grid point; a removed
  // one is forgotten (a probe of it still in flight frees its slot when Finished is called).
  void Set(const std::vector<ScheduleEntry>& entries, TimePoint now);

  // The probes to start at `now`: due ones, oldest first, as many as there are free slots.
  // They count as in flight until Finished.
  std::vector<Due> TakeDue(TimePoint now);

  // `key`'s probe that started at `started` has finished at `now`; `relay_ran` when it included
  // the relay test. A grid point that passed while it ran is skipped. Unknown keys (removed
  // meanwhile) only free their slot.
  void Finished(const std::string& key, TimePoint started, TimePoint now, bool relay_ran);

  // When TakeDue next has something to return, if anything is waiting at all; nullopt also
  // while every slot is taken (call TakeDue again after Finished).
  std::optional<TimePoint> NextWakeup() const;

  std::size_t in_flight() const { return in_flight_; }
  std::size_t size() const { return entries_.size(); }

  // The stable offset of `key` within `interval` (FNV-1a of the key).
  static std::chrono::milliseconds Offset(const std::string& key,
                                          std::chrono::milliseconds interval);
  // The first grid point of (offset, interval) strictly after `after`.
  static TimePoint NextGridPoint(TimePoint after, std::chrono::milliseconds offset,
                                 std::chrono::milliseconds interval);

 private:
  struct State {
    std::chrono::milliseconds interval{0};
    std::chrono::milliseconds relay_interval{0};
    std::chrono::milliseconds offset{0};
    TimePoint next_due;
    bool running = false;
    // Relay timing is on the grid, like everything else: the due point of the run that last
    // included the relay test, and of the run in flight when it includes it. Comparing grid
    // points (not start times, which lag) keeps a relay interval equal to the probe interval
    // from skipping every other run.
    std::optional<TimePoint> last_relay;
    std::optional<TimePoint> relay_in_flight;
  };

  std::size_t max_in_flight_;
  std::size_t in_flight_ = 0;
  using Entry = std::map<std::string, State>::value_type;
  // By due time, then key. Points to the node in entries_ (nodes stay put until Set replaces
  // them, and Set rebuilds idle_), so a target's key is held once.
  struct IdleOrder {
    bool operator()(const std::pair<TimePoint, Entry*>& a,
                    const std::pair<TimePoint, Entry*>& b) const {
      if (a.first != b.first) return a.first < b.first;
      return a.second->first < b.second->first;
    }
  };

  std::map<std::string, State> entries_;
  // The entries not running, by (next_due, key): TakeDue, NextWakeup and Finished cost
  // O(log N) per probe instead of a scan of the whole fleet.
  std::set<std::pair<TimePoint, Entry*>, IdleOrder> idle_;
};

}  // namespace smtp

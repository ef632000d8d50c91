// The timetable of scheduled probes, driven with made-up times (no sleeping, no real clock).
#include "daemon/schedule.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

namespace smtp {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using TimePoint = Schedule::TimePoint;

const TimePoint kStart = TimePoint{} + std::chrono::hours(1000);

std::vector<std::string> Keys(const std::vector<Schedule::Due>& due) {
  std::vector<std::string> keys;
  for (const auto& d : due) keys.push_back(d.key);
  return keys;
}

TEST(ScheduleTest, OffsetsAreStableAndSpreadAFleetOverTheInterval) {
  EXPECT_EQ(Schedule::Offset("192.0.2.1:25", seconds(60)),
            Schedule::Offset("192.0.2.1:25", seconds(60)));
  std::set<long> buckets;  // which tenth of the interval each of 1000 targets starts in
  for (int i = 0; i < 1000; ++i) {
    auto offset = Schedule::Offset(
        "10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ":25", seconds(60));
    ASSERT_GE(offset.count(), 0);
    ASSERT_LT(offset, seconds(60));
    buckets.insert(offset.count() / 6000);
  }
  EXPECT_EQ(buckets.size(), 10u);
}

TEST(ScheduleTest, EachTargetRunsOncePerIntervalOnItsOwnGrid) {
  Schedule schedule(100);
  schedule.Set({{"a", seconds(10), milliseconds(0)}}, kStart);
  int runs = 0;
  TimePoint previous{};
  for (TimePoint now = kStart; now < kStart + seconds(100); now += milliseconds(250)) {
    for (const auto& due : schedule.TakeDue(now)) {
      ++runs;
      if (previous != TimePoint{}) {
        EXPECT_EQ(due.due - previous, seconds(10));
      }
      previous = due.due;
      EXPECT_LE(now - due.due, milliseconds(250));  // lag no more than the tick
      schedule.Finished(due.key, now, now, due.with_relay);
    }
  }
  EXPECT_EQ(runs, 10);
}

TEST(ScheduleTest, NeverRunsATargetTwiceAtOnceAndSkipsMissedSlots) {
  Schedule schedule(100);
  schedule.Set({{"slow", seconds(1), milliseconds(0)}}, kStart);
  auto first = schedule.TakeDue(kStart + seconds(1));
  ASSERT_EQ(first.size(), 1u);
  // Still running three intervals later: nothing new starts.
  EXPECT_TRUE(schedule.TakeDue(kStart + seconds(4)).empty());
  schedule.Finished("slow", kStart + seconds(1), kStart + seconds(4), false);
  // The missed slots are not caught up: one run, at the next grid point.
  auto next = schedule.TakeDue(kStart + seconds(6));
  ASSERT_EQ(next.size(), 1u);
  EXPECT_GT(next[0].due, kStart + seconds(4));
}

TEST(ScheduleTest, TheCapLimitsProbesInFlightAndTheOldestGoFirst) {
  Schedule schedule(2);
  std::vector<ScheduleEntry> entries;
  for (const char* key : {"a", "b", "c", "d", "e"}) entries.push_back({key, seconds(10), {}});
  schedule.Set(entries, kStart);
  const TimePoint later = kStart + seconds(20);
  auto due = schedule.TakeDue(later);
  ASSERT_EQ(due.size(), 2u);
  EXPECT_EQ(schedule.in_flight(), 2u);
  EXPECT_TRUE(schedule.TakeDue(later).empty());
  EXPECT_LE(due[0].due, due[1].due);
  // Every slot taken: no wake-up until a probe finishes (a timer now would only spin).
  EXPECT_FALSE(schedule.NextWakeup().has_value());
  schedule.Finished(due[0].key, later, later, false);
  // A waiting probe makes NextWakeup lie in the past: work is overdue.
  ASSERT_TRUE(schedule.NextWakeup().has_value());
  EXPECT_LE(*schedule.NextWakeup(), later);
  EXPECT_EQ(schedule.TakeDue(later).size(), 1u);
}

TEST(ScheduleTest, RelayTestRunsFirstTimeThenOnItsOwnLongerInterval) {
  Schedule schedule(10);
  schedule.Set({{"mx", seconds(60), std::chrono::hours(1)}}, kStart);
  int with_relay = 0;
  int runs = 0;
  for (TimePoint now = kStart; now <= kStart + std::chrono::hours(2) + seconds(30);
       now += seconds(1)) {
    for (const auto& due : schedule.TakeDue(now)) {
      ++runs;
      if (due.with_relay) ++with_relay;
      if (runs == 1) {
        EXPECT_TRUE(due.with_relay) << "first run has no verdict to keep yet";
      }
      schedule.Finished(due.key, now, now, due.with_relay);
    }
  }
  EXPECT_EQ(runs, 120);
  EXPECT_EQ(with_relay, 2);  // at the start and one hour later; two hours later is the 121st run
}

TEST(ScheduleTest, RelayIntervalEqualToTheIntervalRunsEveryTimeDespiteLag) {
  Schedule schedule(10);
  schedule.Set({{"mx", seconds(2), seconds(2)}}, kStart);
  int runs = 0;
  int with_relay = 0;
  // Ticks 130 ms apart: every run starts up to 130 ms late, and the lag varies from run to run.
  for (TimePoint now = kStart; now < kStart + seconds(60); now += milliseconds(130)) {
    for (const auto& due : schedule.TakeDue(now)) {
      ++runs;
      if (due.with_relay) ++with_relay;
      schedule.Finished(due.key, now, now + milliseconds(20), due.with_relay);
    }
  }
  EXPECT_GE(runs, 29);
  EXPECT_EQ(with_relay, runs);
}

TEST(ScheduleTest, RelayIntervalZeroNeverRunsTheRelayTest) {
  Schedule schedule(10);
  schedule.Set({{"mx", seconds(1), milliseconds(0)}}, kStart);
  for (TimePoint now = kStart; now < kStart + seconds(10); now += milliseconds(100)) {
    for (const auto& due : schedule.TakeDue(now)) {
      EXPECT_FALSE(due.with_relay);
      schedule.Finished(due.key, now, now, false);
    }
  }
}

TEST(ScheduleTest, ReloadKeepsTimingOfUnchangedTargetsAndForgetsRemovedOnes) {
  Schedule schedule(10);
  schedule.Set({{"keep", seconds(10), std::chrono::hours(1)}, {"drop", seconds(10), {}}}, kStart);
  auto first = schedule.TakeDue(kStart + seconds(10));
  ASSERT_EQ(first.size(), 2u);
  for (const auto& due : first)
    schedule.Finished(due.key, kStart + seconds(10), kStart + seconds(10), due.with_relay);
  const TimePoint keep_next = Schedule::NextGridPoint(
      kStart + seconds(10), Schedule::Offset("keep", seconds(10)), seconds(10));

  schedule.Set({{"keep", seconds(10), std::chrono::hours(1)}, {"new", seconds(10), {}}},
               kStart + seconds(12));
  EXPECT_EQ(schedule.size(), 2u);
  std::vector<std::string> seen;
  for (TimePoint now = kStart + seconds(12); now < kStart + seconds(23); now += milliseconds(100)) {
    for (const auto& due : schedule.TakeDue(now)) {
      seen.push_back(due.key);
      if (due.key == "keep" && std::count(seen.begin(), seen.end(), "keep") == 1) {
        EXPECT_EQ(due.due, keep_next) << "the grid survives the reload";
        EXPECT_FALSE(due.with_relay) << "relay history survives the reload";
      }
      schedule.Finished(due.key, now, now, due.with_relay);
    }
  }
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()),
            (std::set<std::string>{"keep", "new"}));
}

TEST(ScheduleTest, AProbeOfARemovedTargetFreesItsSlotWhenItFinishes) {
  Schedule schedule(1);
  schedule.Set({{"old", seconds(1), {}}}, kStart);
  ASSERT_EQ(Keys(schedule.TakeDue(kStart + seconds(1))), std::vector<std::string>{"old"});
  schedule.Set({{"new", seconds(1), {}}}, kStart + seconds(1));
  EXPECT_TRUE(schedule.TakeDue(kStart + seconds(3)).empty()) << "cap still taken by old";
  schedule.Finished("old", kStart + seconds(1), kStart + seconds(1), false);
  EXPECT_EQ(Keys(schedule.TakeDue(kStart + seconds(3))), std::vector<std::string>{"new"});
}

}  // namespace
}  // namespace smtp

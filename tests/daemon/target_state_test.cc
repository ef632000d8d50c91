// Specification of the record of a target (daemon/target_state.h): what one probe after another
// leaves behind, which relay verdict a target reports, and when its state changes.
#include "daemon/target_state.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <limits>

namespace smtp {
namespace {

using std::chrono::milliseconds;

ProbeResult WithGreeting(int code, milliseconds took) {
  ProbeResult r;
  StepResult greeting;
  greeting.step = Step::kGreeting;
  greeting.reply_code = code;
  greeting.ok = code == 220;
  greeting.duration = took;
  r.steps.push_back(greeting);
  r.success = code == 220;
  if (!r.success) {
    r.failed_step = Step::kGreeting;
    r.failure_reason = FailureReason::kRejected;
  }
  return r;
}

RelayResult RelayTest(RelayOutcome outcome) {
  RelayResult relay;
  relay.ran = true;
  RelayAttempt attempt;
  attempt.variant = "basic";
  attempt.outcome = outcome;
  attempt.rcpt_code = outcome == RelayOutcome::kAccepted ? 250 : 554;
  relay.attempts.push_back(attempt);
  return relay;
}

ProbeResult Up() { return WithGreeting(220, milliseconds(20)); }

ProbeResult UpWithRelay(RelayOutcome outcome, std::int64_t started_unix) {
  ProbeResult r = Up();
  r.relay = RelayTest(outcome);
  r.started_at = std::chrono::system_clock::time_point(std::chrono::seconds(started_unix));
  return r;
}

TEST(HistogramTest, CountsAreCumulative) {
  Histogram h({0.1, 1, 0.01});  // unsorted on purpose
  EXPECT_EQ(h.bounds(), (std::vector<double>{0.01, 0.1, 1}));
  h.Observe(0.005);
  h.Observe(0.1);  // on a bound: counts in that bucket (le = less or equal)
  h.Observe(0.5);
  h.Observe(60);  // only in +Inf
  EXPECT_EQ(h.cumulative_counts(), (std::vector<std::uint64_t>{1, 2, 3}));
  EXPECT_EQ(h.count(), 4u);
  EXPECT_DOUBLE_EQ(h.sum(), 60.605);
}

TEST(HistogramTest, OddInputs) {
  Histogram h({1, std::numeric_limits<double>::infinity(), 1, std::nan("")});
  EXPECT_EQ(h.bounds(), (std::vector<double>{1}));
  h.Observe(std::nan(""));
  EXPECT_EQ(h.count(), 0u);
  h.Observe(-3);
  EXPECT_EQ(h.count(), 1u);
  EXPECT_EQ(h.sum(), 0);
  EXPECT_EQ(h.cumulative_counts(), (std::vector<std::uint64_t>{1}));
}

TEST(HistogramTest, WithoutBoundsOnlyCounts) {
  Histogram h;
  h.Observe(2);
  EXPECT_TRUE(h.bounds().empty());
  EXPECT_EQ(h.count(), 1u);
  EXPECT_EQ(h.sum(), 2);
}

TEST(GreetingBoundsTest, SpanMillisecondsToTarpitsAndAreShared) {
  EXPECT_EQ(GreetingBounds()->front(), 0.005);
  EXPECT_EQ(GreetingBounds()->back(), 30);
  EXPECT_TRUE(std::is_sorted(GreetingBounds()->begin(), GreetingBounds()->end()));
  TargetSnapshot a, b;
  Record(a, Up());
  Record(b, Up());
  EXPECT_EQ(&a.greeting_histogram->bounds(), &b.greeting_histogram->bounds());
}

// RFC 5321 §4.2: the histogram is "connected to final 220 line"; a 451 or 554 banner is a
// failure, not a latency sample, and a refused connection has no greeting at all.
TEST(RecordTest, SamplesOnly220Greetings) {
  TargetSnapshot s;
  for (int code : {220, 451, 554, 0}) Record(s, WithGreeting(code, milliseconds(300)));
  Record(s, ProbeResult{});
  EXPECT_EQ(s.greeting_histogram->count(), 1u);
  EXPECT_DOUBLE_EQ(s.greeting_histogram->sum(), 0.3);
  EXPECT_FALSE(GreetingSeconds(ProbeResult{}).has_value());
}

// Record judges the relay test and releases spare capacity without writing what the probe left
// unwritten: the stored result of a probe without those steps keeps none of them on the heap.
TEST(RecordTest, LeavesUnwrittenPartsUnwritten) {
  TargetSnapshot s;
  Record(s, Up());
  ASSERT_NE(s.last, nullptr);
  EXPECT_FALSE(s.last->relay.written());
  EXPECT_FALSE(s.last->auth.written());
  EXPECT_FALSE(s.last->user_enumeration.written());
  EXPECT_FALSE(s.last->starttls_error.written());
  for (const StepResult& step : s.last->steps) EXPECT_FALSE(step.detail.written());
  EXPECT_EQ(s.last_relay, nullptr);
}

TEST(RecordTest, ANeverProbedTargetIsPending) {
  TargetSnapshot s;
  EXPECT_EQ(StateOf(s), StatusState::kPending);
  EXPECT_EQ(RelayVerdictOf(s), RelayVerdict::kNotTested);
  EXPECT_FALSE(s.greeting_histogram.has_value());
}

TEST(RecordTest, ReportsEachStateChangeOnce) {
  TargetSnapshot s;
  StateChange change = Record(s, Up());
  EXPECT_EQ(change.before, StatusState::kPending);
  EXPECT_EQ(change.after, StatusState::kUp);
  EXPECT_TRUE(change.changed());
  EXPECT_FALSE(Record(s, Up()).changed());
  change = Record(s, WithGreeting(554, milliseconds(5)));
  EXPECT_EQ(change.before, StatusState::kUp);
  EXPECT_EQ(change.after, StatusState::kDown);
  EXPECT_FALSE(Record(s, WithGreeting(421, milliseconds(5))).changed());
  EXPECT_EQ(Record(s, Up()).after, StatusState::kUp);
}

// The relay test runs on its own, longer interval: a probe without it keeps the last verdict, so
// an open relay does not look healthy between relay runs.
TEST(RecordTest, TheRelayVerdictIsKeptBetweenRelayRuns) {
  TargetSnapshot s;
  EXPECT_EQ(Record(s, UpWithRelay(RelayOutcome::kAccepted, 1000)).after, StatusState::kOpenRelay);
  const StateChange plain = Record(s, Up());
  EXPECT_FALSE(plain.changed());
  EXPECT_EQ(StateOf(s), StatusState::kOpenRelay);
  const ReportedRelay kept = ReportedRelayOf(s);
  ASSERT_NE(kept.result, nullptr);
  EXPECT_FALSE(kept.from_last);
  EXPECT_EQ(kept.ran_at, std::chrono::system_clock::time_point(std::chrono::seconds(1000)));
  EXPECT_EQ(kept.judgement.verdict, RelayVerdict::kOpen);

  // The next relay run replaces the verdict.
  const StateChange closed = Record(s, UpWithRelay(RelayOutcome::kRefused, 5000));
  EXPECT_EQ(closed.before, StatusState::kOpenRelay);
  EXPECT_EQ(closed.after, StatusState::kUp);
  EXPECT_TRUE(ReportedRelayOf(s).from_last);
  EXPECT_EQ(RelayVerdictOf(s), RelayVerdict::kClosed);
}

// A down target is DOWN even when its kept verdict says open (the status page still counts it).
TEST(RecordTest, DownWinsOverAnOpenRelay) {
  TargetSnapshot s;
  Record(s, UpWithRelay(RelayOutcome::kAccepted, 1000));
  EXPECT_EQ(Record(s, WithGreeting(421, milliseconds(5))).after, StatusState::kDown);
  EXPECT_EQ(RelayVerdictOf(s), RelayVerdict::kOpen);
}

TEST(StatusStateTest, Names) {
  EXPECT_STREQ(ToString(StatusState::kPending), "PENDING");
  EXPECT_STREQ(ToString(StatusState::kDown), "DOWN");
  EXPECT_STREQ(ToString(StatusState::kOpenRelay), "OPEN RELAY");
  EXPECT_STREQ(ToString(StatusState::kUp), "UP");
}

}  // namespace
}  // namespace smtp

// The probe result's storage: Boxed (an optional on the heap), Sparse (a value on the heap once
// written), the compact Transcript and ReleaseSpareCapacity.
#include "probes/probe_result.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <utility>

#include "probes/boxed.h"
#include "probes/result_format.h"
#include "probes/verdict.h"
#include "tests/unit/healthy_result.h"

namespace smtp {
namespace {

TEST(Boxed, BehavesAsAnOptional) {
  Boxed<std::string> empty;
  EXPECT_FALSE(empty);
  EXPECT_FALSE(empty.has_value());
  EXPECT_TRUE(empty == std::nullopt);
  EXPECT_THROW(empty.value(), std::bad_optional_access);
  EXPECT_EQ(empty.value_or("fallback"), "fallback");
  EXPECT_EQ(empty.optional(), std::nullopt);
  EXPECT_EQ(ValuePointer(empty), nullptr);

  Boxed<std::string> set = std::string("mx.example.org");
  ASSERT_TRUE(set);
  EXPECT_EQ(*set, "mx.example.org");
  EXPECT_EQ(set->size(), 14u);
  EXPECT_EQ(set.value_or("fallback"), "mx.example.org");
  EXPECT_EQ(set.optional(), std::optional<std::string>("mx.example.org"));
  EXPECT_EQ(ValuePointer(set), &*set);
  EXPECT_FALSE(set == empty);

  set = std::nullopt;
  EXPECT_FALSE(set);
  set.emplace(3, 'x');
  EXPECT_EQ(*set, "xxx");
  set.reset();
  EXPECT_TRUE(set == empty);
}

TEST(Boxed, CopiesAreDeep) {
  Boxed<std::string> original = std::string("before");
  Boxed<std::string> copy = original;
  *original = "after";
  EXPECT_EQ(*copy, "before");
  copy = original;
  EXPECT_EQ(*copy, "after");
  EXPECT_NE(&*copy, &*original);
  EXPECT_TRUE(copy == original);

  Boxed<std::string> moved = std::move(copy);
  EXPECT_EQ(*moved, "after");
}

TEST(Boxed, TakesEightBytesWhereAnOptionalTakesItsValue) {
  EXPECT_EQ(sizeof(Boxed<TlsInfo>), sizeof(void*));
  EXPECT_GT(sizeof(std::optional<TlsInfo>), sizeof(TlsInfo));
}

TEST(Sparse, ReadsAsADefaultValueUntilWritten) {
  const Sparse<RelayResult> unwritten;
  EXPECT_FALSE(unwritten.written());
  EXPECT_FALSE(unwritten->ran);
  EXPECT_TRUE(unwritten->attempts.empty());
  const RelayResult& read = unwritten;
  EXPECT_EQ(read.stop_reason, FailureReason::kNone);
  EXPECT_FALSE(unwritten.written());
  EXPECT_EQ(sizeof(unwritten), sizeof(void*));

  Sparse<RelayResult> written;
  written->ran = true;  // non-const access writes
  EXPECT_TRUE(written.written());
  EXPECT_TRUE(written->ran);

  Sparse<RelayResult> copy = written;
  copy->reconnects = 2;
  EXPECT_EQ(written->reconnects, 0);  // copies are deep
  EXPECT_EQ(copy->reconnects, 2);
  EXPECT_TRUE(copy->ran);

  RelayResult assigned;
  assigned.over_tls = true;
  Sparse<RelayResult> from_value;
  from_value = assigned;
  EXPECT_TRUE(from_value.written());
  EXPECT_TRUE(std::as_const(from_value)->over_tls);
}

TEST(Transcript, KeepsEachLineAsWritten) {
  Transcript transcript;
  EXPECT_TRUE(transcript.empty());
  EXPECT_EQ(transcript.begin(), transcript.end());
  std::string text = "220 mx.example.org ESMTP";
  transcript.push_back({std::chrono::milliseconds(12), 'S', text});
  text = "overwritten: the transcript holds its own copy";
  transcript.push_back({std::chrono::milliseconds(13), 'C', "EHLO probe.example.org"});
  transcript.push_back({std::chrono::milliseconds(14), '*', ""});
  transcript.push_back({std::chrono::milliseconds(15), 'S', std::string("250 \0 ok", 8)});

  ASSERT_EQ(transcript.size(), 4u);
  EXPECT_EQ(transcript[0].at, std::chrono::milliseconds(12));
  EXPECT_EQ(transcript[0].direction, 'S');
  EXPECT_EQ(transcript[0].text, "220 mx.example.org ESMTP");
  EXPECT_EQ(transcript[1].text, "EHLO probe.example.org");
  EXPECT_EQ(transcript[2].text, "");
  EXPECT_EQ(transcript[2].direction, '*');
  EXPECT_EQ(transcript[3].text, std::string_view("250 \0 ok", 8));
  std::string joined;
  for (const TranscriptLine line : transcript)
    joined += std::string(1, line.direction) + ":" + std::string(line.text) + "|";
  EXPECT_EQ(joined, "S:220 mx.example.org ESMTP|C:EHLO probe.example.org|*:|S:" +
                        std::string("250 \0 ok", 8) + "|");

  const Transcript copy = transcript;
  transcript.push_back({std::chrono::milliseconds(16), 'C', "QUIT"});
  EXPECT_EQ(copy.size(), 4u);
  EXPECT_EQ(copy[3].text, std::string_view("250 \0 ok", 8));
}

TEST(Transcript, KeepsTimesToTheMicrosecond) {
  using std::chrono::microseconds;
  using std::chrono::nanoseconds;
  Transcript transcript;
  transcript.push_back({nanoseconds(1'234'567), 'S', "220 ready"});
  transcript.push_back({nanoseconds(-5), '*', "a clock that went back"});
  transcript.push_back({std::chrono::hours(2), '*', "past what 32 bits of microseconds hold"});
  EXPECT_EQ(transcript[0].at, microseconds(1'234));
  EXPECT_EQ(transcript[1].at, microseconds(0));
  EXPECT_EQ(transcript[2].at, microseconds(4'294'967'295));
  EXPECT_EQ(transcript[2].text, "past what 32 bits of microseconds hold");
}

// The daemon keeps every target's latest steps: at 100,000 targets each byte of a step is
// 400 KB (bench/README "Memory per target").
TEST(StepResult, TakesThirtyTwoBytes) {
  EXPECT_EQ(sizeof(EnhancedStatus), 6u);
  EXPECT_EQ(sizeof(StepResult), 24 + sizeof(void*));
}

TEST(ReleaseSpareCapacity, LeavesNoSpareRoomAndChangesNoValue) {
  ProbeResult result = testing::HealthyResult();
  for (Step step : {Step::kConnect, Step::kGreeting, Step::kEhlo, Step::kStartTls, Step::kQuit}) {
    StepResult one;
    one.step = step;
    one.ok = true;
    result.steps.push_back(one);
  }
  for (int i = 0; i < 9; ++i) {
    result.transcript.push_back(
        {std::chrono::milliseconds(i), 'S', "250-EXTENSION" + std::to_string(i)});
  }
  result.capabilities->extensions.push_back({"PIPELINING", {}});
  result.capabilities->extensions.push_back({"SIZE", {"10240000"}});
  result.capabilities->extensions.push_back({"STARTTLS", {}});
  result.tls_capabilities = Capabilities{};
  result.tls_capabilities->auth_mechanisms = {"LOGIN", "PLAIN"};
  result.tls_capabilities->auth_mechanisms.reserve(64);
  result.greeting_lines.reserve(16);
  result.greeting_lines.push_back("mx.example.org ESMTP");
  const Verdict verdict = Judge(result, testing::kNow);
  const std::string before = ToJson(result, verdict) + FormatTranscript(result);
  ASSERT_GT(result.steps.capacity(), result.steps.size());
  ASSERT_GT(result.transcript.capacity(), result.transcript.size());

  ReleaseSpareCapacity(result);

  EXPECT_EQ(result.steps.capacity(), result.steps.size());
  EXPECT_EQ(result.transcript.capacity(), result.transcript.size());
  EXPECT_EQ(result.capabilities->extensions.capacity(), 3u);
  EXPECT_EQ(result.tls_capabilities->auth_mechanisms.capacity(), 2u);
  EXPECT_EQ(result.greeting_lines.capacity(), 1u);
  EXPECT_EQ(ToJson(result, verdict) + FormatTranscript(result), before);
}

}  // namespace
}  // namespace smtp

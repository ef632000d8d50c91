// Durations as Prometheus writes them, in flags and in the config.
#include "daemon/duration.h"

#include <gtest/gtest.h>

namespace smtp {
namespace {

using std::chrono::milliseconds;

TEST(ParseDurationTest, AcceptsPrometheusDurations) {
  const std::pair<const char*, long long> cases[] = {
      {"0s", 0},           {"10s", 10000},
      {"500ms", 500},      {"1m", 60000},
      {"1m30s", 90000},    {"1h", 3600000},
      {"2d", 172800000},   {"1w", 604800000},
      {"1y", 31536000000}, {"1h30m5s250ms", 5405250},
  };
  for (const auto& [text, expected] : cases) {
    auto parsed = ParseDuration(text);
    ASSERT_TRUE(parsed.has_value()) << text;
    EXPECT_EQ(parsed->count(), expected) << text;
  }
}

TEST(ParseDurationTest, RejectsEverythingElse) {
  for (const char* text : {"", "10", "s", "10 s", "-1s", "1.5s", "10S", "1s1m", "1m1m", "1ms1s",
                           "10x", "1h 30m", "99999999999999999999y", "9223372036854775807y"}) {
    EXPECT_FALSE(ParseDuration(text).has_value()) << text;
  }
}

TEST(FormatDurationTest, RoundTripsThroughTheParser) {
  for (long long value : {0LL, 1LL, 999LL, 1000LL, 61000LL, 3600000LL, 5405250LL, 86400000LL}) {
    const std::string text = FormatDuration(milliseconds(value));
    auto parsed = ParseDuration(text);
    ASSERT_TRUE(parsed.has_value()) << text;
    EXPECT_EQ(parsed->count(), value) << text;
  }
  EXPECT_EQ(FormatDuration(milliseconds(90000)), "1m30s");
  EXPECT_EQ(FormatDuration(milliseconds(0)), "0s");
}

}  // namespace
}  // namespace smtp

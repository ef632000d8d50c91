// The shared text helpers (probes/text.h) that decide something: address literals and loopback.
#include "probes/text.h"

#include <gtest/gtest.h>

namespace smtp {
namespace {

TEST(TextTest, IpLiteralsWithoutBrackets) {
  EXPECT_TRUE(IsIpLiteral("192.0.2.1"));
  EXPECT_TRUE(IsIpLiteral("2001:db8::1"));
  EXPECT_FALSE(IsIpLiteral("[192.0.2.1]"));
  EXPECT_FALSE(IsIpLiteral("mx.example.org"));
  EXPECT_FALSE(IsIpLiteral(""));
}

// RFC 1122 §3.2.1.3 (127.0.0.0/8), RFC 4291 (::1, IPv4-mapped).
TEST(TextTest, LoopbackAddresses) {
  for (const char* loopback : {"127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"}) {
    EXPECT_TRUE(IsLoopbackAddress(loopback)) << loopback;
  }
  for (const char* other :
       {"128.0.0.1", "10.0.0.1", "::2", "::ffff:10.0.0.1", "2001:db8::1", "localhost", "", "127"}) {
    EXPECT_FALSE(IsLoopbackAddress(other)) << other;
  }
}

// RFC 3629 §4.
TEST(TextTest, Utf8SequenceLength) {
  EXPECT_EQ(Utf8SequenceLength("a"), 1u);
  EXPECT_EQ(Utf8SequenceLength("\xc3\xa9"), 2u);          // é
  EXPECT_EQ(Utf8SequenceLength("\xe2\x98\x83"), 3u);      // ☃
  EXPECT_EQ(Utf8SequenceLength("\xf0\x9d\x84\x9e"), 4u);  // 𝄞
  EXPECT_EQ(Utf8SequenceLength(""), 0u);
  EXPECT_EQ(Utf8SequenceLength("\xff"), 0u);
  EXPECT_EQ(Utf8SequenceLength("\xc3"), 0u);              // cut short
  EXPECT_EQ(Utf8SequenceLength("\xc0\xaf"), 0u);          // overlong
  EXPECT_EQ(Utf8SequenceLength("\xe0\x80\xaf"), 0u);      // overlong
  EXPECT_EQ(Utf8SequenceLength("\xed\xa0\x80"), 0u);      // surrogate
  EXPECT_EQ(Utf8SequenceLength("\xf4\x90\x80\x80"), 0u);  // past U+10FFFF
}

TEST(TextTest, WholeAndFractionalUnixSeconds) {
  const auto t =
      std::chrono::system_clock::time_point(std::chrono::milliseconds(1'800'000'000'250));
  EXPECT_EQ(WholeUnixSeconds(t), 1'800'000'000);
  EXPECT_DOUBLE_EQ(UnixSeconds(t), 1'800'000'000.25);
}

TEST(TextTest, ReplyCodeTextIsADashForNoReply) {
  EXPECT_EQ(ReplyCodeText(250), "250");
  EXPECT_EQ(ReplyCodeText(0), "-");
}

TEST(TextTest, JoinAndUtcTime) {
  EXPECT_EQ(Join({"a", "b", "c"}, ", "), "a, b, c");
  EXPECT_EQ(Join({}, ", "), "");
  EXPECT_EQ(UtcTime(1'800'000'000), "2027-01-15 08:00:00 UTC");
}

}  // namespace
}  // namespace smtp

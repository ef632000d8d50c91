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

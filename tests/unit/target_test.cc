// Targets as users write them in the config and on the command line (DESIGN §1).
#include "probes/target.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>

#include "probes/text.h"

namespace smtp {
namespace {

struct GoodTarget {
  const char* text;
  Target expected;
};

TEST(ParseTargetTest, AcceptsEveryDocumentedForm) {
  const GoodTarget cases[] = {
      {"192.0.2.10:25", {"192.0.2.10", 25, false}},
      {"192.0.2.10", {"192.0.2.10", 0, false}},
      {"mail.example.org:587", {"mail.example.org", 587, false}},
      {"mail.example.org", {"mail.example.org", 0, false}},
      {"[2001:db8::1]:25", {"2001:db8::1", 25, false}},
      {"[::1]", {"::1", 0, false}},
      {"2001:db8::25", {"2001:db8::25", 0, false}},
      {"mx:example.com", {"example.com", 0, true}},
      {"mx:example.com.", {"example.com", 0, true}},
      {"127.0.0.1:65535", {"127.0.0.1", 65535, false}},
      {"relay_01.internal:2525", {"relay_01.internal", 2525, false}},
  };
  for (const GoodTarget& c : cases) {
    std::string error;
    std::optional<Target> target = ParseTarget(c.text, &error);
    ASSERT_TRUE(target.has_value()) << c.text << ": " << error;
    EXPECT_EQ(*target, c.expected) << c.text;
  }
}

struct BadTarget {
  const char* text;
  const char* error;
};

// Found by target_fuzzer: inet_pton reads C strings, so an address followed by a NUL and
// anything passed as that address. Text with a NUL is never an address, whatever parses it.
TEST(ParseTargetTest, AnAddressFollowedByANulIsNoAddress) {
  std::string error;
  for (const std::string& text :
       {std::string("::\0\0[dA", 7), std::string("::1\0evil", 8), std::string("[::1\0x]:25", 10),
        std::string("127.0.0.1\0:25", 13)}) {
    EXPECT_FALSE(ParseTarget(text, &error).has_value());
  }
  EXPECT_FALSE(IsIpLiteral(std::string("127.0.0.1\0x", 11)));
  EXPECT_FALSE(IsLoopbackAddress(std::string("127.0.0.1\0x", 11)));
  EXPECT_TRUE(IsLoopbackAddress("127.0.0.1"));
}

TEST(ParseTargetTest, RejectsMalformedInputWithAReason) {
  const BadTarget cases[] = {
      {"", "invalid host \"\""},
      {":25", "invalid host \"\""},
      {"host:", "empty port in \"host:\""},
      {"host:0", "invalid port \"0\" in \"host:0\""},
      {"host:65536", "invalid port \"65536\" in \"host:65536\""},
      {"host:25x", "invalid port \"25x\" in \"host:25x\""},
      {"host:-1", "invalid port \"-1\" in \"host:-1\""},
      {"[2001:db8::1", "missing ']' in \"[2001:db8::1\""},
      {"[2001:db8::1]25", "expected ':port' after ']' in \"[2001:db8::1]25\""},
      {"[2001:db8::1]:", "empty port in \"[2001:db8::1]:\""},
      {"[192.0.2.1]:25", "not an IPv6 address in brackets: \"[192.0.2.1]:25\""},
      {"2001:db8::zz", "invalid address \"2001:db8::zz\""},
      {"mail example.org", "invalid host \"mail example.org\""},
      {"mail\r\n.example.org", "invalid host \"mail\r\n.example.org\""},
      {"mx:", "invalid MX domain \"\""},
      {"mx:localhost", "invalid MX domain \"localhost\""},
      {"mx:exa mple.com", "invalid MX domain \"exa mple.com\""},
  };
  for (const BadTarget& c : cases) {
    std::string error;
    EXPECT_FALSE(ParseTarget(c.text, &error).has_value()) << c.text;
    EXPECT_EQ(error, c.error) << c.text;
  }
}

// Found by config_fuzzer: a 300-byte address echoed whole made a config error line of 1.5 KB.
// Input over 64 bytes is named by its length, so the error stays short wherever it is shown.
TEST(ParseTargetTest, QuotesLongInputByItsLengthOnly) {
  const std::string long_port = "192.0.2.1:" + std::string(300, '9');
  const std::string long_host(200, 'a');
  const std::pair<std::string, std::string> cases[] = {
      {long_port, "invalid port <value of 300 bytes> in <value of 310 bytes>"},
      {long_host + ":x", "invalid port \"x\" in <value of 202 bytes>"},
      {long_host + "!", "invalid host <value of 201 bytes>"},
      {"mx:" + long_host, "invalid MX domain <value of 200 bytes>"},
  };
  for (const auto& [text, expected] : cases) {
    std::string error;
    EXPECT_FALSE(ParseTarget(text, &error).has_value()) << text;
    EXPECT_EQ(error, expected) << text;
  }
}

}  // namespace
}  // namespace smtp

// Specification of the EHLO reply parser (RFC 5321 §4.1.1.1 and the extension RFCs).
#include "probes/ehlo.h"

#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <vector>

namespace smtp {
namespace {

Reply Ehlo(std::vector<std::string> lines) {
  Reply reply;
  reply.code = 250;
  reply.lines = std::move(lines);
  return reply;
}

// Parses `wire` with the real reply parser, as the prober does.
Reply FromWire(std::string_view wire) {
  ReplyParser parser;
  EXPECT_TRUE(parser.Feed(wire)) << ToString(parser.error());
  auto reply = parser.Next();
  EXPECT_TRUE(reply.has_value());
  return reply.value_or(Reply{});
}

TEST(ExtensionTest, KeepsTheKeywordAndItsParametersAsOneLine) {
  Extension auth("AUTH", {"PLAIN", "LOGIN"});
  EXPECT_EQ(auth.keyword(), "AUTH");
  EXPECT_EQ(auth.parameters(), (std::vector<std::string_view>{"PLAIN", "LOGIN"}));
  EXPECT_EQ(auth.text(), "AUTH PLAIN LOGIN");
  EXPECT_TRUE(auth.HasParameter("LOGIN"));
  EXPECT_FALSE(auth.HasParameter("LOG"));
  auth.AddParameter("XOAUTH2");
  EXPECT_EQ(auth.text(), "AUTH PLAIN LOGIN XOAUTH2");
  EXPECT_EQ(auth, (Extension{"AUTH", {"PLAIN", "LOGIN", "XOAUTH2"}}));

  const Extension bare("PIPELINING");
  EXPECT_EQ(bare.keyword(), "PIPELINING");
  EXPECT_TRUE(bare.parameters().empty());
  // A keyword is kept whole whatever it holds (the metrics tests feed hostile ones).
  const Extension odd("X Y", {"Z"});
  EXPECT_EQ(odd.keyword(), "X Y");
  EXPECT_EQ(odd.parameters(), (std::vector<std::string_view>{"Z"}));
}

TEST(EhloTest, PostfixDefaultReply) {
  Capabilities caps =
      ParseEhloReply(FromWire("250-mx.example.com\r\n"
                              "250-PIPELINING\r\n"
                              "250-SIZE 10240000\r\n"
                              "250-VRFY\r\n"
                              "250-ETRN\r\n"
                              "250-STARTTLS\r\n"
                              "250-ENHANCEDSTATUSCODES\r\n"
                              "250-8BITMIME\r\n"
                              "250-DSN\r\n"
                              "250-SMTPUTF8\r\n"
                              "250 CHUNKING\r\n"));
  EXPECT_EQ(caps.domain, "mx.example.com");
  std::vector<std::string> keywords;
  for (const Extension& e : caps.extensions) keywords.emplace_back(e.keyword());
  EXPECT_EQ(keywords, (std::vector<std::string>{"PIPELINING", "SIZE", "VRFY", "ETRN", "STARTTLS",
                                                "ENHANCEDSTATUSCODES", "8BITMIME", "DSN",
                                                "SMTPUTF8", "CHUNKING"}));
  EXPECT_TRUE(caps.starttls);
  EXPECT_TRUE(caps.pipelining);
  EXPECT_TRUE(caps.eightbitmime);
  EXPECT_TRUE(caps.smtputf8);
  EXPECT_TRUE(caps.chunking);
  EXPECT_TRUE(caps.dsn);
  EXPECT_TRUE(caps.enhancedstatuscodes);
  EXPECT_FALSE(caps.requiretls);
  EXPECT_EQ(caps.size_limit, 10240000u);
  EXPECT_TRUE(caps.auth_mechanisms.empty());
}

TEST(EhloTest, ExchangeReplyWithGreetingTextAndAuth) {
  Capabilities caps =
      ParseEhloReply(FromWire("250-EXCH01.corp.example.com Hello [192.0.2.7]\r\n"
                              "250-SIZE 37748736\r\n"
                              "250-PIPELINING\r\n"
                              "250-DSN\r\n"
                              "250-ENHANCEDSTATUSCODES\r\n"
                              "250-STARTTLS\r\n"
                              "250-X-ANONYMOUSTLS\r\n"
                              "250-AUTH NTLM\r\n"
                              "250-X-EXPS GSSAPI NTLM\r\n"
                              "250-8BITMIME\r\n"
                              "250-BINARYMIME\r\n"
                              "250-CHUNKING\r\n"
                              "250 XRDST\r\n"));
  EXPECT_EQ(caps.domain, "EXCH01.corp.example.com");
  EXPECT_EQ(caps.auth_mechanisms, std::vector<std::string>{"NTLM"});
  EXPECT_TRUE(caps.Has("x-exps"));
  EXPECT_EQ(caps.size_limit, 37748736u);
}

TEST(EhloTest, SingleLineReplyHasNoExtensions) {
  Capabilities caps = ParseEhloReply(FromWire("250 mx.example.com\r\n"));
  EXPECT_EQ(caps.domain, "mx.example.com");
  EXPECT_TRUE(caps.extensions.empty());
  EXPECT_FALSE(caps.size_limit.has_value());
}

TEST(EhloTest, EmptyReplyYieldsNothing) {
  EXPECT_EQ(ParseEhloReply(Reply{}), Capabilities{});
  EXPECT_EQ(ParseEhloReply(Ehlo({""})), Capabilities{});
}

TEST(EhloTest, KeywordsAreUpperCasedParametersKeptAsSent) {
  Capabilities caps = ParseEhloReply(Ehlo({"mx", "starttls", "x-Custom Foo bar", "Size"}));
  ASSERT_EQ(caps.extensions.size(), 3u);
  EXPECT_EQ(caps.extensions[0], (Extension{"STARTTLS", {}}));
  EXPECT_EQ(caps.extensions[1], (Extension{"X-CUSTOM", {"Foo", "bar"}}));
  EXPECT_EQ(caps.extensions[2], (Extension{"SIZE", {}}));
  EXPECT_TRUE(caps.starttls);
}

TEST(EhloTest, HasIsCaseInsensitive) {
  Capabilities caps = ParseEhloReply(Ehlo({"mx", "PIPELINING"}));
  EXPECT_TRUE(caps.Has("PIPELINING"));
  EXPECT_TRUE(caps.Has("pipelining"));
  EXPECT_TRUE(caps.Has("Pipelining"));
  EXPECT_FALSE(caps.Has("PIPE"));
  EXPECT_FALSE(caps.Has(""));
}

TEST(EhloTest, ExtraSpacesBetweenParametersAreIgnored) {
  Capabilities caps = ParseEhloReply(Ehlo({"  mx.example.com   hi", "AUTH   PLAIN  LOGIN "}));
  EXPECT_EQ(caps.domain, "mx.example.com");
  ASSERT_EQ(caps.extensions.size(), 1u);
  EXPECT_EQ(caps.extensions[0].parameters(), (std::vector<std::string_view>{"PLAIN", "LOGIN"}));
}

struct SizeCase {
  std::string name;
  std::string line;
  std::optional<std::uint64_t> limit;
  friend void PrintTo(const SizeCase& c, std::ostream* os) { *os << c.name; }
};

class EhloSize : public ::testing::TestWithParam<SizeCase> {};

TEST_P(EhloSize, FollowsRfc1870) {
  Capabilities caps = ParseEhloReply(Ehlo({"mx", GetParam().line}));
  EXPECT_EQ(caps.size_limit, GetParam().limit);
}

INSTANTIATE_TEST_SUITE_P(
    Rfc1870, EhloSize,
    ::testing::Values(SizeCase{"Number", "SIZE 52428800", 52428800u},
                      SizeCase{"NoParameterMeansNoLimit", "SIZE", 0u},
                      SizeCase{"ZeroMeansNoLimit", "SIZE 0", 0u},
                      SizeCase{"LowerCaseKeyword", "size 1000", 1000u},
                      SizeCase{"Max64Bit", "SIZE 18446744073709551615", 18446744073709551615u},
                      SizeCase{"OverflowReadsAsZero", "SIZE 18446744073709551616", 0u},
                      SizeCase{"NotANumberReadsAsZero", "SIZE 10MB", 0u},
                      SizeCase{"NegativeReadsAsZero", "SIZE -1", 0u},
                      SizeCase{"NotAdvertised", "PIPELINING", std::nullopt}),
    [](const auto& test_info) { return test_info.param.name; });

TEST(EhloTest, FirstSizeLineWins) {
  Capabilities caps = ParseEhloReply(Ehlo({"mx", "SIZE 100", "SIZE 200"}));
  EXPECT_EQ(caps.size_limit, 100u);
}

struct AuthCase {
  std::string name;
  std::vector<std::string> lines;
  std::vector<std::string> mechanisms;
  bool auth_keyword;
  friend void PrintTo(const AuthCase& c, std::ostream* os) { *os << c.name; }
};

class EhloAuth : public ::testing::TestWithParam<AuthCase> {};

TEST_P(EhloAuth, MechanismsAreMergedSortedAndUpperCased) {
  std::vector<std::string> lines = {"mx.example.com"};
  lines.insert(lines.end(), GetParam().lines.begin(), GetParam().lines.end());
  Capabilities caps = ParseEhloReply(Ehlo(lines));
  EXPECT_EQ(caps.auth_mechanisms, GetParam().mechanisms);
  EXPECT_EQ(caps.Has("AUTH"), GetParam().auth_keyword);
}

INSTANTIATE_TEST_SUITE_P(
    Rfc4954, EhloAuth,
    ::testing::Values(
        AuthCase{"Standard", {"AUTH PLAIN LOGIN"}, {"LOGIN", "PLAIN"}, true},
        AuthCase{"LegacyOnly", {"AUTH=LOGIN PLAIN"}, {"LOGIN", "PLAIN"}, false},
        AuthCase{"BothFormsDeduplicated",
                 {"AUTH PLAIN LOGIN CRAM-MD5", "AUTH=PLAIN LOGIN"},
                 {"CRAM-MD5", "LOGIN", "PLAIN"},
                 true},
        AuthCase{"LowerCaseUpperCased", {"auth plain xoauth2"}, {"PLAIN", "XOAUTH2"}, true},
        AuthCase{"LegacyLowerCase", {"auth=login"}, {"LOGIN"}, false},
        AuthCase{"DuplicatesInOneLine", {"AUTH PLAIN plain PLAIN"}, {"PLAIN"}, true},
        AuthCase{"ScramAndUnderscores",
                 {"AUTH SCRAM-SHA-256-PLUS GS2_KRB5"},
                 {"GS2_KRB5", "SCRAM-SHA-256-PLUS"},
                 true},
        AuthCase{"NonMechanismTokensDropped",
                 {"AUTH PLAIN <script> LOGIN= AVERYVERYVERYLONGMECHANISMNAME"},
                 {"PLAIN"},
                 true},
        AuthCase{"EmptyLegacy", {"AUTH="}, {}, false},
        AuthCase{"KeywordWithoutMechanisms", {"AUTH"}, {}, true}),
    [](const auto& test_info) { return test_info.param.name; });

TEST(EhloTest, DuplicateKeywordsAreMergedInFirstPosition) {
  Capabilities caps =
      ParseEhloReply(Ehlo({"mx", "AUTH PLAIN", "PIPELINING", "auth LOGIN PLAIN", "PIPELINING"}));
  ASSERT_EQ(caps.extensions.size(), 2u);
  EXPECT_EQ(caps.extensions[0], (Extension{"AUTH", {"PLAIN", "LOGIN"}}));
  EXPECT_EQ(caps.extensions[1], (Extension{"PIPELINING", {}}));
}

struct InvalidLineCase {
  std::string name;
  std::string line;
  friend void PrintTo(const InvalidLineCase& c, std::ostream* os) { *os << c.name; }
};

class EhloInvalidKeyword : public ::testing::TestWithParam<InvalidLineCase> {};

TEST_P(EhloInvalidKeyword, LineIsSkippedNotFatal) {
  Capabilities caps = ParseEhloReply(Ehlo({"mx", "PIPELINING", GetParam().line, "DSN"}));
  ASSERT_EQ(caps.extensions.size(), 2u) << GetParam().line;
  EXPECT_EQ(caps.extensions[0].keyword(), "PIPELINING");
  EXPECT_EQ(caps.extensions[1].keyword(), "DSN");
  EXPECT_TRUE(caps.dsn);
}

INSTANTIATE_TEST_SUITE_P(Rfc5321, EhloInvalidKeyword,
                         ::testing::Values(InvalidLineCase{"LeadingDash", "-FOO"},
                                           InvalidLineCase{"Underscore", "X_FOO"},
                                           InvalidLineCase{"Dot", "FOO.BAR"},
                                           InvalidLineCase{"Punctuation", "!!!"},
                                           InvalidLineCase{"NonAscii", "\xc3\xa9T\xc3\xa9"},
                                           InvalidLineCase{"Control", std::string("A\x01"
                                                                                  "B")},
                                           InvalidLineCase{"Empty", ""},
                                           InvalidLineCase{"Blank", "   "},
                                           InvalidLineCase{"EqualsOtherThanAuth", "SIZE=100"}),
                         [](const auto& test_info) { return test_info.param.name; });

TEST(EhloTest, RequireTlsAfterTls) {
  Capabilities caps = ParseEhloReply(Ehlo({"mx", "REQUIRETLS", "AUTH PLAIN"}));
  EXPECT_TRUE(caps.requiretls);
  EXPECT_FALSE(caps.starttls);
}

TEST(EhloTest, DigitLeadingKeywordIsValid) {
  Capabilities caps = ParseEhloReply(Ehlo({"mx", "8bitmime"}));
  EXPECT_TRUE(caps.eightbitmime);
  EXPECT_TRUE(caps.Has("8BITMIME"));
}

}  // namespace
}  // namespace smtp

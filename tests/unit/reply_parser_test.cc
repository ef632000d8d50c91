// Specification of the SMTP reply parser (RFC 5321 §4.2).
#include "probes/reply_parser.h"

#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <vector>

namespace smtp {
namespace {

// Feeds `input` in one piece and collects every complete reply.
struct Parsed {
  bool ok = true;
  ReplyError error = ReplyError::kNone;
  std::vector<Reply> replies;
  bool pending = false;
};

Parsed ParseAll(std::string_view input, ReplyLimits limits = {}) {
  ReplyParser parser(limits);
  Parsed out;
  out.ok = parser.Feed(input);
  out.error = parser.error();
  while (auto reply = parser.Next()) out.replies.push_back(*reply);
  out.pending = parser.HasPendingBytes();
  return out;
}

Parsed ParseByteAtATime(std::string_view input, ReplyLimits limits = {}) {
  ReplyParser parser(limits);
  Parsed out;
  for (char c : input) {
    out.ok = parser.Feed(std::string_view(&c, 1));
    if (!out.ok) break;
  }
  out.error = parser.error();
  while (auto reply = parser.Next()) out.replies.push_back(*reply);
  out.pending = parser.HasPendingBytes();
  return out;
}

// ---------------------------------------------------------------------------------------------
// Well-formed replies: code, lines as sent, enhanced code, text.

struct GoodCase {
  std::string name;
  std::string input;
  int code;
  std::vector<std::string> lines;
  std::string enhanced;  // "" = none
  std::string text;
  friend void PrintTo(const GoodCase& c, std::ostream* os) { *os << c.name; }
};

class WellFormedReply : public ::testing::TestWithParam<GoodCase> {};

TEST_P(WellFormedReply, ParsesInOnePiece) {
  const GoodCase& c = GetParam();
  Parsed p = ParseAll(c.input);
  ASSERT_TRUE(p.ok) << ToString(p.error);
  ASSERT_EQ(p.replies.size(), 1u);
  const Reply& r = p.replies[0];
  EXPECT_EQ(r.code, c.code);
  EXPECT_EQ(r.lines, c.lines);
  EXPECT_EQ(r.enhanced ? r.enhanced->ToString() : "", c.enhanced);
  EXPECT_EQ(r.Text(), c.text);
  EXPECT_FALSE(p.pending);
}

TEST_P(WellFormedReply, ParsesTheSameByteAtATime) {
  const GoodCase& c = GetParam();
  Parsed whole = ParseAll(c.input);
  Parsed bytes = ParseByteAtATime(c.input);
  ASSERT_TRUE(bytes.ok) << ToString(bytes.error);
  ASSERT_EQ(bytes.replies.size(), 1u);
  EXPECT_EQ(bytes.replies[0].code, whole.replies[0].code);
  EXPECT_EQ(bytes.replies[0].lines, whole.replies[0].lines);
  EXPECT_EQ(bytes.replies[0].enhanced, whole.replies[0].enhanced);
}

INSTANTIATE_TEST_SUITE_P(
    Rfc5321, WellFormedReply,
    ::testing::Values(
        GoodCase{"Greeting",
                 "220 mx.example.com ESMTP Postfix\r\n",
                 220,
                 {"mx.example.com ESMTP Postfix"},
                 "",
                 "mx.example.com ESMTP Postfix"},
        GoodCase{"BareLfTolerated",
                 "220 mx.example.com ready\n",
                 220,
                 {"mx.example.com ready"},
                 "",
                 "mx.example.com ready"},
        GoodCase{"DoubleCrTolerated", "250 ok\r\r\n", 250, {"ok"}, "", "ok"},
        GoodCase{"CodeOnlyNoSpace", "250\r\n", 250, {""}, "", ""},
        GoodCase{"CodeOnlyBareLf", "221\n", 221, {""}, "", ""},
        GoodCase{"CodeAndSpaceOnly", "250 \r\n", 250, {""}, "", ""},
        GoodCase{"MultiLineEhlo",
                 "250-mx.example.com\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 8BITMIME\r\n",
                 250,
                 {"mx.example.com", "PIPELINING", "SIZE 10240000", "8BITMIME"},
                 "",
                 "mx.example.com PIPELINING SIZE 10240000 8BITMIME"},
        GoodCase{
            "MultiLineLastWithoutText", "250-first\r\n250\r\n", 250, {"first", ""}, "", "first"},
        GoodCase{"EmptyContinuationSkippedInText", "250-\r\n250 ok\r\n", 250, {"", "ok"}, "", "ok"},
        GoodCase{"EnhancedCode", "250 2.1.0 Ok\r\n", 250, {"2.1.0 Ok"}, "2.1.0", "Ok"},
        GoodCase{"EnhancedCodeThreeDigitParts",
                 "550 5.123.456 nope\r\n",
                 550,
                 {"5.123.456 nope"},
                 "5.123.456",
                 "nope"},
        GoodCase{"EnhancedCodeAloneOnLine", "250 2.0.0\r\n", 250, {"2.0.0"}, "2.0.0", ""},
        GoodCase{"EnhancedCodeStrippedFromEveryLine",
                 "550-5.7.1 Relay access denied\r\n550 5.7.1 see https://example.org\r\n",
                 550,
                 {"5.7.1 Relay access denied", "5.7.1 see https://example.org"},
                 "5.7.1",
                 "Relay access denied see https://example.org"},
        GoodCase{
            "EnhancedClassMustMatchCode", "250 5.7.1 odd\r\n", 250, {"5.7.1 odd"}, "", "5.7.1 odd"},
        GoodCase{"IpAddressIsNotAnEnhancedCode",
                 "220 2.3.4.5 ESMTP\r\n",
                 220,
                 {"2.3.4.5 ESMTP"},
                 "",
                 "2.3.4.5 ESMTP"},
        GoodCase{"FourDigitSubjectIsNotAnEnhancedCode",
                 "250 2.1234.0 x\r\n",
                 250,
                 {"2.1234.0 x"},
                 "",
                 "2.1234.0 x"},
        GoodCase{"LettersAfterCodeAreNotAnEnhancedCode",
                 "250 2.1.0a x\r\n",
                 250,
                 {"2.1.0a x"},
                 "",
                 "2.1.0a x"},
        GoodCase{"TransientGreeting",
                 "421 4.3.2 Service not available, closing channel\r\n",
                 421,
                 {"4.3.2 Service not available, closing channel"},
                 "4.3.2",
                 "Service not available, closing channel"},
        GoodCase{"NoServiceGreeting",
                 "554 5.7.1 No SMTP service here\r\n",
                 554,
                 {"5.7.1 No SMTP service here"},
                 "5.7.1",
                 "No SMTP service here"},
        GoodCase{"PostscreenMultiLineGreeting",
                 "220-mx.example.com ESMTP\r\n220-please wait\r\n220 mx.example.com ESMTP\r\n",
                 220,
                 {"mx.example.com ESMTP", "please wait", "mx.example.com ESMTP"},
                 "",
                 "mx.example.com ESMTP please wait mx.example.com ESMTP"},
        GoodCase{"TextKeepsInnerSpacing", "250 a  b\tc\r\n", 250, {"a  b\tc"}, "", "a  b\tc"},
        GoodCase{"HighestCode", "559 x\r\n", 559, {"x"}, "", "x"},
        GoodCase{"IntermediateCode", "354 go ahead\r\n", 354, {"go ahead"}, "", "go ahead"}),
    [](const auto& test_info) { return test_info.param.name; });

TEST(ReplyTest, ClassPredicatesFollowTheFirstDigit) {
  Reply r;
  r.code = 250;
  EXPECT_TRUE(r.IsPositive());
  r.code = 354;
  EXPECT_TRUE(r.IsIntermediate());
  r.code = 451;
  EXPECT_TRUE(r.IsTransient());
  r.code = 554;
  EXPECT_TRUE(r.IsPermanent());
  EXPECT_FALSE(r.IsPositive());
}

TEST(EnhancedStatusTest, ToStringIsDotted) {
  EXPECT_EQ((EnhancedStatus{5, 7, 1}).ToString(), "5.7.1");
  EXPECT_EQ((EnhancedStatus{2, 0, 0}).ToString(), "2.0.0");
}

// ---------------------------------------------------------------------------------------------
// Malformed input fails, and garbage fails as early as possible.

struct BadCase {
  std::string name;
  std::string input;
  ReplyError error;
  // Number of bytes fed one at a time before Feed() returns false (1-based index of the byte
  // that is rejected); 0 = the error is only known at the end (no early detection expected).
  std::size_t fails_at_byte;
  friend void PrintTo(const BadCase& c, std::ostream* os) { *os << c.name; }
};

class MalformedReply : public ::testing::TestWithParam<BadCase> {};

TEST_P(MalformedReply, FailsWithTheRightError) {
  const BadCase& c = GetParam();
  Parsed p = ParseAll(c.input);
  EXPECT_FALSE(p.ok);
  EXPECT_EQ(p.error, c.error) << ToString(p.error);
}

TEST_P(MalformedReply, FailsOnTheOffendingByte) {
  const BadCase& c = GetParam();
  ReplyParser parser;
  std::size_t fed = 0;
  bool ok = true;
  for (char ch : c.input) {
    ++fed;
    ok = parser.Feed(std::string_view(&ch, 1));
    if (!ok) break;
  }
  ASSERT_FALSE(ok);
  if (c.fails_at_byte != 0) {
    EXPECT_EQ(fed, c.fails_at_byte);
  }
  EXPECT_EQ(parser.error(), c.error);
}

TEST_P(MalformedReply, ErrorIsSticky) {
  const BadCase& c = GetParam();
  ReplyParser parser;
  parser.Feed(c.input);
  EXPECT_FALSE(parser.Feed("250 ok\r\n"));
  EXPECT_EQ(parser.error(), c.error);
}

INSTANTIATE_TEST_SUITE_P(
    Rfc5321, MalformedReply,
    ::testing::Values(
        BadCase{"HttpResponse", "HTTP/1.1 400 Bad Request\r\n", ReplyError::kMalformed, 1},
        BadCase{"SshBanner", "SSH-2.0-OpenSSH_9.2p1\r\n", ReplyError::kMalformed, 1},
        BadCase{"TlsRecord", std::string("\x16\x03\x01\x00\x2a", 5), ReplyError::kMalformed, 1},
        BadCase{"PopGreeting", "+OK POP3 ready\r\n", ReplyError::kMalformed, 1},
        BadCase{"ImapGreeting", "* OK IMAP4rev1\r\n", ReplyError::kMalformed, 1},
        BadCase{"FirstDigitOne", "150 x\r\n", ReplyError::kMalformed, 1},
        BadCase{"FirstDigitSix", "650 x\r\n", ReplyError::kMalformed, 1},
        BadCase{"ThirdNotDigit", "25x ok\r\n", ReplyError::kMalformed, 3},
        BadCase{"FourthNotSeparator", "2500 ok\r\n", ReplyError::kMalformed, 4},
        BadCase{"TabSeparator", "250\tok\r\n", ReplyError::kMalformed, 4},
        BadCase{"TwoDigitsThenEol", "25\r\n", ReplyError::kMalformed, 3},
        BadCase{"BareCrAfterCode", "250\rx\r\n", ReplyError::kMalformed, 5},
        BadCase{"LeadingSpace", " 250 ok\r\n", ReplyError::kMalformed, 1},
        BadCase{"GarbageAfterGoodReply", "220 ok\r\nHTTP/1.0\r\n", ReplyError::kMalformed, 9},
        BadCase{"GarbageAfterSkippedEmptyLine", "\r\nSSH-2.0\r\n", ReplyError::kMalformed, 3},
        BadCase{"BinaryAfterAReply", std::string("250 ok\r\n\x16\x03", 10), ReplyError::kMalformed,
                9}),
    [](const auto& test_info) { return test_info.param.name; });

// ---------------------------------------------------------------------------------------------
// Framing that real servers get wrong, read as Postfix's SMTP client reads it (smtp_chat_resp():
// the final line's code decides; a line that is not "ddd-"/"ddd " inside a reply is text) and
// noted as an anomaly. The first line of a reply must still start with a code.

struct ToleratedCase {
  std::string name;
  std::string input;
  int code;
  std::vector<std::string> lines;
  std::string enhanced;
  std::vector<std::string> anomalies;
  friend void PrintTo(const ToleratedCase& c, std::ostream* os) { *os << c.name; }
};

class ToleratedReply : public ::testing::TestWithParam<ToleratedCase> {};

TEST_P(ToleratedReply, ParsesWithTheAnomalyNoted) {
  const ToleratedCase& c = GetParam();
  for (const Parsed& p : {ParseAll(c.input), ParseByteAtATime(c.input)}) {
    ASSERT_TRUE(p.ok) << ToString(p.error);
    ASSERT_EQ(p.replies.size(), 1u);
    const Reply& r = p.replies[0];
    EXPECT_EQ(r.code, c.code);
    EXPECT_EQ(r.lines, c.lines);
    EXPECT_EQ(r.enhanced ? r.enhanced->ToString() : "", c.enhanced);
    EXPECT_EQ(ReplyAnomalyNames(r.anomalies), c.anomalies);
    EXPECT_FALSE(p.pending);
  }
}

INSTANTIATE_TEST_SUITE_P(
    LikeMtaClients, ToleratedReply,
    ::testing::Values(
        // A greeting that starts as 220 and turns into a 421 is a 421 (transient), not garbage.
        ToleratedCase{"GreetingTurnsInto421",
                      "220-x\r\n421 y\r\n",
                      421,
                      {"x", "y"},
                      "",
                      {"reply code changed between lines"}},
        ToleratedCase{"ContinuationWithAnotherCode",
                      "250-a\r\n251 b\r\n",
                      251,
                      {"a", "b"},
                      "",
                      {"reply code changed between lines"}},
        ToleratedCase{"FinalLineOfAnotherClassWithItsEnhancedCode",
                      "250-2.0.0 a\r\n550 5.7.1 b\r\n",
                      550,
                      {"2.0.0 a", "5.7.1 b"},
                      "5.7.1",
                      {"reply code changed between lines"}},
        ToleratedCase{"ContinuationWithoutCode",
                      "250-a\r\nfoo\r\n250 b\r\n",
                      250,
                      {"a", "foo", "b"},
                      "",
                      {"reply line without a code"}},
        ToleratedCase{"EmptyContinuationLine",
                      "220-a\r\n\r\n220 b\r\n",
                      220,
                      {"a", "", "b"},
                      "",
                      {"reply line without a code"}},
        ToleratedCase{"EmptyLineBeforeTheReply",
                      "\r\n250 ok\r\n",
                      250,
                      {"ok"},
                      "",
                      {"empty line between replies"}},
        ToleratedCase{
            "BareCrInText", "250 a\rb\r\n", 250, {"a\rb"}, "", {"bare CR inside a reply line"}},
        ToleratedCase{"SecondDigitAboveFive", "260 x\r\n", 260, {"x"}, "", {}},
        ToleratedCase{"NonstandardAcceptance",
                      "254 2.1.5 will accept\r\n",
                      254,
                      {"2.1.5 will accept"},
                      "2.1.5",
                      {}}),
    [](const auto& test_info) { return test_info.param.name; });

// The transcript shows what the server sent, not the repaired reply.
TEST(ReplyParserTest, RepairedRepliesKeepTheLinesAsReceived) {
  Parsed p = ParseAll("250-a\r\n251-b\r\nfoo\r\n252 c\r\n");
  ASSERT_TRUE(p.ok);
  ASSERT_EQ(p.replies.size(), 1u);
  EXPECT_EQ(p.replies[0].code, 252);
  EXPECT_EQ(p.replies[0].lines, (std::vector<std::string>{"a", "b", "foo", "c"}));
  EXPECT_EQ(p.replies[0].wire_lines, (std::vector<std::string>{"250-a", "251-b", "foo", "252 c"}));

  p = ParseAll("220-x\r\n421 y\r\n");
  EXPECT_EQ(p.replies[0].wire_lines, (std::vector<std::string>{"220-x", "421 y"}));

  p = ParseAll("250-a\r\n250 b\r\n");
  EXPECT_TRUE(p.replies[0].wire_lines.empty()) << "well-formed replies keep no copy";
}

TEST(ReplyParserTest, BareLineFeedIsNotedButNotAnError) {
  Parsed p = ParseAll("220-a\n220 b\n");
  ASSERT_TRUE(p.ok);
  EXPECT_EQ(ReplyAnomalyNames(p.replies[0].anomalies),
            (std::vector<std::string>{"bare LF line ending"}));
  EXPECT_TRUE(p.replies[0].wire_lines.empty());
}

TEST(ReplyParserLimitsTest, EndlessEmptyLinesAreBounded) {
  ReplyLimits limits;
  limits.max_lines = 10;
  Parsed p = ParseAll(std::string(11, '\n'), limits);
  EXPECT_FALSE(p.ok);
  EXPECT_EQ(p.error, ReplyError::kTooManyLines);
}

TEST(ReplyParserLimitsTest, EndlessLinesWithoutCodeAreBounded) {
  ReplyLimits limits;
  limits.max_lines = 10;
  std::string input = "250-ok\r\n";
  for (int i = 0; i < 20; ++i) input += "junk\r\n";
  Parsed p = ParseAll(input, limits);
  EXPECT_FALSE(p.ok);
  EXPECT_EQ(p.error, ReplyError::kTooManyLines);
}

TEST(ReplyParserTest, RepliesBeforeAnErrorCanStillBePopped) {
  ReplyParser parser;
  EXPECT_FALSE(parser.Feed("554 5.7.1 go away\r\nGET / HTTP/1.0\r\n"));
  EXPECT_EQ(parser.error(), ReplyError::kMalformed);
  auto reply = parser.Next();
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->code, 554);
}

// ---------------------------------------------------------------------------------------------
// Limits: memory stays bounded whatever the peer sends.

TEST(ReplyParserLimitsTest, LineOfExactlyMaxBytesIsAccepted) {
  ReplyLimits limits;
  limits.max_line_bytes = 16;
  std::string line = "250 " + std::string(12, 'x');  // 16 bytes before the EOL
  Parsed p = ParseAll(line + "\r\n", limits);
  ASSERT_TRUE(p.ok) << ToString(p.error);
  ASSERT_EQ(p.replies.size(), 1u);
  EXPECT_EQ(p.replies[0].lines[0], std::string(12, 'x'));
  EXPECT_TRUE(ParseAll(line + "\n", limits).ok);
}

TEST(ReplyParserLimitsTest, LineOfMaxPlusOneBytesFails) {
  ReplyLimits limits;
  limits.max_line_bytes = 16;
  Parsed p = ParseAll("250 " + std::string(13, 'x') + "\r\n", limits);
  EXPECT_FALSE(p.ok);
  EXPECT_EQ(p.error, ReplyError::kLineTooLong);
}

TEST(ReplyParserLimitsTest, TenMebibyteLineFailsHavingBufferedAtMostMaxLineBytes) {
  // The parser must refuse the byte that would exceed the limit: fed one chunk at a time, it
  // accepts exactly max_line_bytes bytes of the line and fails on the next one, so it never
  // holds more than max_line_bytes of it.
  ReplyParser parser;  // default limits: 4096
  const std::size_t max = ReplyLimits{}.max_line_bytes;
  std::string huge = "250 " + std::string(10 * 1024 * 1024, 'A');
  std::size_t accepted = 0;
  bool ok = true;
  for (std::size_t pos = 0; pos < huge.size() && ok; ++pos) {
    ok = parser.Feed(std::string_view(huge).substr(pos, 1));
    if (ok) ++accepted;
  }
  EXPECT_FALSE(ok);
  EXPECT_EQ(parser.error(), ReplyError::kLineTooLong);
  EXPECT_EQ(accepted, max);

  // And in one piece: same verdict, immediately.
  ReplyParser whole;
  EXPECT_FALSE(whole.Feed(huge));
  EXPECT_EQ(whole.error(), ReplyError::kLineTooLong);
}

TEST(ReplyParserLimitsTest, TooManyLinesInOneReply) {
  ReplyLimits limits;
  limits.max_lines = 3;
  EXPECT_TRUE(ParseAll("250-a\r\n250-b\r\n250 c\r\n", limits).ok);
  Parsed p = ParseAll("250-a\r\n250-b\r\n250-c\r\n250 d\r\n", limits);
  EXPECT_FALSE(p.ok);
  EXPECT_EQ(p.error, ReplyError::kTooManyLines);
}

TEST(ReplyParserLimitsTest, TooManyUnpoppedReplies) {
  ReplyLimits limits;
  limits.max_pending_replies = 2;
  ReplyParser parser(limits);
  EXPECT_TRUE(parser.Feed("250 a\r\n250 b\r\n"));
  EXPECT_FALSE(parser.Feed("250 c\r\n"));
  EXPECT_EQ(parser.error(), ReplyError::kTooManyReplies);
}

TEST(ReplyParserLimitsTest, PoppingMakesRoomForMoreReplies) {
  ReplyLimits limits;
  limits.max_pending_replies = 1;
  ReplyParser parser(limits);
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(parser.Feed("250 ok\r\n")) << i;
    ASSERT_TRUE(parser.Next().has_value());
  }
}

// ---------------------------------------------------------------------------------------------
// Incremental feeding and pending bytes (RFC 3207 §4.2: nothing may follow the STARTTLS 220).

TEST(ReplyParserTest, ReplyIsAvailableOnlyAfterItsFinalLine) {
  ReplyParser parser;
  EXPECT_TRUE(parser.Feed("250-mx.example.com\r\n250-PIPE"));
  EXPECT_FALSE(parser.Next().has_value());
  EXPECT_TRUE(parser.HasPendingBytes());
  EXPECT_TRUE(parser.Feed("LINING\r\n250 8BITMIME"));
  EXPECT_FALSE(parser.Next().has_value());
  EXPECT_TRUE(parser.Feed("\r"));
  EXPECT_FALSE(parser.Next().has_value());
  EXPECT_TRUE(parser.Feed("\n"));
  auto reply = parser.Next();
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->lines, (std::vector<std::string>{"mx.example.com", "PIPELINING", "8BITMIME"}));
  EXPECT_FALSE(parser.HasPendingBytes());
}

TEST(ReplyParserTest, SeveralRepliesInOneFeedArePoppedInOrder) {
  Parsed p = ParseAll("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data\r\n");
  ASSERT_TRUE(p.ok);
  ASSERT_EQ(p.replies.size(), 3u);
  EXPECT_EQ(p.replies[0].enhanced, (EnhancedStatus{2, 1, 0}));
  EXPECT_EQ(p.replies[1].enhanced, (EnhancedStatus{2, 1, 5}));
  EXPECT_EQ(p.replies[2].code, 354);
}

struct PendingCase {
  std::string name;
  std::string input;
  bool pending_after_popping_one;
  friend void PrintTo(const PendingCase& c, std::ostream* os) { *os << c.name; }
};

class PendingBytes : public ::testing::TestWithParam<PendingCase> {};

TEST_P(PendingBytes, AfterTheStartTlsReply) {
  const PendingCase& c = GetParam();
  ReplyParser parser;
  ASSERT_TRUE(parser.Feed(c.input));
  ASSERT_TRUE(parser.HasPendingBytes());  // the 220 itself is pending until popped
  auto reply = parser.Next();
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->code, 220);
  EXPECT_EQ(parser.HasPendingBytes(), c.pending_after_popping_one);
}

INSTANTIATE_TEST_SUITE_P(
    Rfc3207, PendingBytes,
    ::testing::Values(PendingCase{"Clean", "220 2.0.0 Ready to start TLS\r\n", false},
                      PendingCase{"InjectedCompleteReply",
                                  "220 Ready to start TLS\r\n250 injected\r\n", true},
                      PendingCase{"InjectedPartialLine", "220 Ready\r\n2", true},
                      PendingCase{"InjectedUnfinishedMultiLine", "220 Ready\r\n250-x\r\n", true},
                      PendingCase{"DanglingCr", "220 Ready\r\n250 x\r", true}),
    [](const auto& test_info) { return test_info.param.name; });

TEST(ReplyParserTest, ResetForgetsBufferedBytesAndErrors) {
  ReplyParser parser;
  EXPECT_TRUE(parser.Feed("220 Ready\r\n250-injected\r\n250 more"));
  parser.Reset();
  EXPECT_FALSE(parser.HasPendingBytes());
  EXPECT_FALSE(parser.Next().has_value());

  EXPECT_FALSE(parser.Feed("SSH-2.0\r\n"));
  parser.Reset();
  EXPECT_EQ(parser.error(), ReplyError::kNone);
  EXPECT_TRUE(parser.Feed("250 fresh\r\n"));
  auto reply = parser.Next();
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->lines, std::vector<std::string>{"fresh"});
}

TEST(ReplyParserTest, EveryTwoWaySplitGivesTheSameResult) {
  const std::string input =
      "220-mx.example.com ESMTP\r\n220 2.0.0 ready\n250-mx\r\n250-SIZE 100\r\n250 AUTH PLAIN\r\n";
  Parsed whole = ParseAll(input);
  ASSERT_TRUE(whole.ok);
  ASSERT_EQ(whole.replies.size(), 2u);
  for (std::size_t split = 0; split <= input.size(); ++split) {
    ReplyParser parser;
    ASSERT_TRUE(parser.Feed(std::string_view(input).substr(0, split)));
    ASSERT_TRUE(parser.Feed(std::string_view(input).substr(split)));
    std::vector<Reply> got;
    while (auto r = parser.Next()) got.push_back(*r);
    ASSERT_EQ(got.size(), 2u) << split;
    for (std::size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].code, whole.replies[i].code);
      EXPECT_EQ(got[i].lines, whole.replies[i].lines);
      EXPECT_EQ(got[i].enhanced, whole.replies[i].enhanced);
    }
  }
}

TEST(ReplyParserTest, EmptyFeedIsHarmless) {
  ReplyParser parser;
  EXPECT_TRUE(parser.Feed(""));
  EXPECT_FALSE(parser.HasPendingBytes());
}

TEST(ReplyParserTest, ErrorNamesAreDistinct) {
  const ReplyError all[] = {ReplyError::kNone, ReplyError::kLineTooLong, ReplyError::kMalformed,
                            ReplyError::kTooManyLines, ReplyError::kTooManyReplies};
  for (ReplyError a : all) {
    for (ReplyError b : all) {
      if (a != b) {
        EXPECT_STRNE(ToString(a), ToString(b));
      }
    }
  }
  EXPECT_STREQ(ToString(ReplyError::kLineTooLong), "line too long");
}

}  // namespace
}  // namespace smtp

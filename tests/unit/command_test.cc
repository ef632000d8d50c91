// Specification of the command formatter: the single guard of what the prober puts on the wire
// (RFC 5321 §4.1, §4.5.3.1.4).
#include "probes/command.h"

#include <gtest/gtest.h>

#include <ostream>
#include <string>

namespace smtp {
namespace {

struct FormatCase {
  std::string name;
  std::string verb;
  std::string argument;
  std::optional<std::string> line;  // nullopt = refused
  friend void PrintTo(const FormatCase& c, std::ostream* os) { *os << c.name; }
};

class FormatCommandTest : public ::testing::TestWithParam<FormatCase> {};

TEST_P(FormatCommandTest, FormatsOrRefuses) {
  const FormatCase& c = GetParam();
  EXPECT_EQ(FormatCommand(c.verb, c.argument), c.line);
}

INSTANTIATE_TEST_SUITE_P(
    Allowed, FormatCommandTest,
    ::testing::Values(FormatCase{"Ehlo", "EHLO", "probe.example.org", "EHLO probe.example.org\r\n"},
                      FormatCase{"EhloAddressLiteral", "EHLO", "[192.0.2.1]",
                                 "EHLO [192.0.2.1]\r\n"},
                      FormatCase{"Helo", "HELO", "probe.example.org", "HELO probe.example.org\r\n"},
                      FormatCase{"StartTls", "STARTTLS", "", "STARTTLS\r\n"},
                      FormatCase{"MailFrom", "MAIL", "FROM:<probe@example.org>",
                                 "MAIL FROM:<probe@example.org>\r\n"},
                      FormatCase{"NullSender", "MAIL", "FROM:<>", "MAIL FROM:<>\r\n"},
                      FormatCase{"RcptTo", "RCPT", "TO:<relay-test@example.net>",
                                 "RCPT TO:<relay-test@example.net>\r\n"},
                      FormatCase{"Rset", "RSET", "", "RSET\r\n"},
                      FormatCase{"Quit", "QUIT", "", "QUIT\r\n"},
                      FormatCase{"Noop", "NOOP", "", "NOOP\r\n"},
                      FormatCase{"VerbWithSpace", "MAIL FROM:", "<a@b>", "MAIL FROM: <a@b>\r\n"},
                      FormatCase{"DataAsArgumentIsFine", "NOOP", "DATA", "NOOP DATA\r\n"},
                      FormatCase{"DataPrefixIsNotData", "DATAX", "", "DATAX\r\n"}),
    [](const auto& test_info) { return test_info.param.name; });

INSTANTIATE_TEST_SUITE_P(
    Refused, FormatCommandTest,
    ::testing::Values(FormatCase{"Data", "DATA", "", std::nullopt},
                      FormatCase{"DataLowerCase", "data", "", std::nullopt},
                      FormatCase{"DataMixedCase", "DaTa", "", std::nullopt},
                      FormatCase{"DataWithArgument", "DATA", "x", std::nullopt},
                      FormatCase{"DataInVerbWithSpace", "DATA now", "", std::nullopt},
                      FormatCase{"DataTabArgument", "DATA\tx", "", std::nullopt},
                      FormatCase{"Bdat", "BDAT", "100 LAST", std::nullopt},
                      FormatCase{"BdatLowerCase", "bdat", "0 LAST", std::nullopt},
                      FormatCase{"LeadingSpace", " DATA", "", std::nullopt},
                      FormatCase{"EmptyVerb", "", "x", std::nullopt},
                      FormatCase{"CrInArgument", "EHLO", "a\rb", std::nullopt},
                      FormatCase{"LfInArgument", "EHLO", "a\nDATA", std::nullopt},
                      FormatCase{"CrLfInjection", "MAIL", "FROM:<a@b>\r\nDATA", std::nullopt},
                      FormatCase{"NulInArgument", "EHLO", std::string("a\0b", 3), std::nullopt},
                      FormatCase{"CrInVerb", "RSET\r", "", std::nullopt},
                      FormatCase{"LfInVerb", "RSET\nDATA", "", std::nullopt},
                      FormatCase{"NulInVerb", std::string("RSET\0", 5), "", std::nullopt}),
    [](const auto& test_info) { return test_info.param.name; });

TEST(FormatCommandLengthTest, LineOf512OctetsIncludingCrLfIsAllowed) {
  // "EHLO " (5) + argument (505) + CRLF (2) = 512.
  std::string argument(505, 'a');
  auto line = FormatCommand("EHLO", argument);
  ASSERT_TRUE(line.has_value());
  EXPECT_EQ(line->size(), 512u);
}

TEST(FormatCommandLengthTest, LineOf513OctetsIsRefused) {
  EXPECT_FALSE(FormatCommand("EHLO", std::string(506, 'a')).has_value());
  EXPECT_FALSE(FormatCommand(std::string(511, 'A')).has_value());
  EXPECT_TRUE(FormatCommand(std::string(510, 'A')).has_value());
}

struct PathCase {
  std::string address;
  std::string path;
};

class AnglePathTest : public ::testing::TestWithParam<PathCase> {};

TEST_P(AnglePathTest, WrapsInBrackets) {
  EXPECT_EQ(AnglePath(GetParam().address), GetParam().path);
}

INSTANTIATE_TEST_SUITE_P(Rfc5321, AnglePathTest,
                         ::testing::Values(PathCase{"", "<>"},
                                           PathCase{"probe@example.org", "<probe@example.org>"},
                                           PathCase{"<probe@example.org>", "<probe@example.org>"},
                                           PathCase{"<>", "<>"},
                                           PathCase{"\"a b\"@example.org", "<\"a b\"@example.org>"},
                                           PathCase{"<", "<<>"}));

}  // namespace
}  // namespace smtp

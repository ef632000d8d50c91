// Specification of the greeting parser (RFC 5321 §4.2, §3.1): which software, which version,
// and never a timestamp.
#include "probes/banner.h"

#include <gtest/gtest.h>

#include <ostream>
#include <string>

namespace smtp {
namespace {

struct BannerCase {
  std::string name;
  std::string text;  // the greeting's first line after "220 "
  std::string hostname;
  std::string software;
  std::string version;
  bool esmtp;
  friend void PrintTo(const BannerCase& c, std::ostream* os) { *os << c.name; }
};

class Greeting : public ::testing::TestWithParam<BannerCase> {};

TEST_P(Greeting, IsRecognised) {
  const BannerCase& c = GetParam();
  GreetingInfo info = ParseGreeting(c.text);
  EXPECT_EQ(info.hostname, c.hostname);
  EXPECT_EQ(info.software, c.software);
  EXPECT_EQ(info.version, c.version);
  EXPECT_EQ(info.esmtp_word, c.esmtp);
}

INSTANTIATE_TEST_SUITE_P(
    KnownSoftware, Greeting,
    ::testing::Values(
        BannerCase{"PostfixDefault", "mx.example.com ESMTP Postfix", "mx.example.com", "Postfix",
                   "", true},
        BannerCase{"PostfixDebian", "mx.example.com ESMTP Postfix (Debian/GNU)", "mx.example.com",
                   "Postfix", "", true},
        BannerCase{"PostfixUbuntu", "mail.example.org ESMTP Postfix (Ubuntu)", "mail.example.org",
                   "Postfix", "", true},
        BannerCase{"PostfixWithMailVersion", "mx.example.com ESMTP Postfix 3.7.11",
                   "mx.example.com", "Postfix", "3.7.11", true},
        // Postfix's documented "$myhostname ESMTP $mail_name ($mail_version)".
        BannerCase{"PostfixParenthesisedVersion", "mx.test ESMTP Postfix (3.7.11)", "mx.test",
                   "Postfix", "3.7.11", true},
        BannerCase{"Exim", "mx.example.com ESMTP Exim 4.96 Mon, 28 Nov 2026 10:11:12 +0000",
                   "mx.example.com", "Exim", "4.96", true},
        BannerCase{"EximDebianVersion",
                   "mx.example.com ESMTP Exim 4.94.2-7 Tue, 01 Feb 2022 00:00:00 +0100",
                   "mx.example.com", "Exim", "4.94.2-7", true},
        BannerCase{"Sendmail",
                   "mx.example.com ESMTP Sendmail 8.15.2/8.15.2; Mon, 28 Nov 2026 10:11:12 GMT",
                   "mx.example.com", "Sendmail", "8.15.2", true},
        BannerCase{"SendmailDebian",
                   "mx.example.com ESMTP Sendmail 8.17.1.9/8.17.1.9/Debian-2; Mon, 1 Jan 2024",
                   "mx.example.com", "Sendmail", "8.17.1.9", true},
        BannerCase{"ExchangeIis",
                   "host.example.com Microsoft ESMTP MAIL Service, Version: 6.0.3790.0 ready at "
                   " Mon, 28 Nov 2026 10:11:12 +0100",
                   "host.example.com", "Microsoft Exchange", "6.0.3790.0", true},
        BannerCase{"ExchangeModern",
                   "EXCH01.corp.example.com Microsoft ESMTP MAIL Service ready at Mon, 28 Nov "
                   "2026 10:11:12 +0100",
                   "EXCH01.corp.example.com", "Microsoft Exchange", "", true},
        BannerCase{"OpenSmtpd", "mx.example.com ESMTP OpenSMTPD", "mx.example.com", "OpenSMTPD", "",
                   true},
        BannerCase{"Qmail", "mx.example.com ESMTP qmail", "mx.example.com", "qmail", "", true},
        BannerCase{"QmailVersion", "mx.example.com ESMTP qmail 1.03", "mx.example.com", "qmail",
                   "1.03", true},
        BannerCase{"Haraka", "mx.example.com ESMTP Haraka 2.8.28 ready", "mx.example.com", "Haraka",
                   "2.8.28", true},
        BannerCase{"HarakaSlash", "mx.example.com ESMTP Haraka/3.0.3 ready", "mx.example.com",
                   "Haraka", "3.0.3", true},
        BannerCase{"MDaemon", "mail.example.com ESMTP MDaemon 21.0.1; Mon, 28 Nov 2026 10:11:12",
                   "mail.example.com", "MDaemon", "21.0.1", true},
        BannerCase{"CaseInsensitiveSoftware", "mx.example.com esmtp POSTFIX", "mx.example.com",
                   "Postfix", "", true}),
    [](const auto& test_info) { return test_info.param.name; });

INSTANTIATE_TEST_SUITE_P(
    Unknown, Greeting,
    ::testing::Values(
        BannerCase{"GenericEsmtp", "mx.example.com ESMTP ready", "mx.example.com", "", "", true},
        BannerCase{"PlainSmtp", "mx.example.com Simple Mail Transfer Service Ready",
                   "mx.example.com", "", "", false},
        BannerCase{"Gmail", "mx.google.com ESMTP a1-20020a05600c000000b000000000000si1 - gsmtp",
                   "mx.google.com", "", "", true},
        BannerCase{"HostnameOnly", "mx.example.com", "mx.example.com", "", "", false},
        BannerCase{"Empty", "", "", "", "", false}, BannerCase{"Blank", "   ", "", "", "", false},
        BannerCase{"AddressLiteral", "[192.0.2.1] ESMTP", "[192.0.2.1]", "", "", true},
        BannerCase{"EsmtpGluedToPunctuation", "mx.example.com ESMTP; ready", "mx.example.com", "",
                   "", true},
        BannerCase{"EsmtpInsideAWordDoesNotCount", "mx.example.com ESMTPS ready", "mx.example.com",
                   "", "", false},
        BannerCase{"EnhancedCodeSkipped", "2.0.0 mx.example.com ESMTP Postfix", "mx.example.com",
                   "Postfix", "", true},
        BannerCase{"HostnameNamedLikeSoftwareDoesNotCount", "postfix ESMTP ready", "postfix", "",
                   "", true},
        BannerCase{"DateAfterSoftwareIsNotAVersion", "mx.example.com ESMTP Exim Mon, 28 Nov 2026",
                   "mx.example.com", "Exim", "", true},
        BannerCase{"TimeAfterSoftwareIsNotAVersion", "mx.example.com ESMTP Sendmail 10:11:12",
                   "mx.example.com", "Sendmail", "", true}),
    [](const auto& test_info) { return test_info.param.name; });

TEST(GreetingTest, NoTimestampEverReachesTheResult) {
  // Two greetings from the same server a second apart must give identical info, or every probe
  // would create a new metric series.
  GreetingInfo a = ParseGreeting("mx ESMTP Exim 4.96 Mon, 28 Nov 2026 10:11:12 +0000");
  GreetingInfo b = ParseGreeting("mx ESMTP Exim 4.96 Mon, 28 Nov 2026 10:11:13 +0000");
  EXPECT_EQ(a, b);
  GreetingInfo c = ParseGreeting(
      "h Microsoft ESMTP MAIL Service, Version: 6.0.3790.0 ready at  Mon, 28 Nov 2026 10:11:12");
  GreetingInfo d = ParseGreeting(
      "h Microsoft ESMTP MAIL Service, Version: 6.0.3790.0 ready at  Tue, 29 Nov 2026 01:00:00");
  EXPECT_EQ(c, d);
}

}  // namespace
}  // namespace smtp

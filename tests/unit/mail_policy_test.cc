// The pure rules of a domain's published policies (probes/mail_policy.h): TLS-RPT records
// (RFC 8460 §3), MTA-STS records and policies (RFC 8461 §3.1, §3.2) and MX patterns (§4.1).
#include "probes/mail_policy.h"

#include <gtest/gtest.h>

namespace smtp {
namespace {

using Records = std::vector<std::string>;

// ---- TLS-RPT
// -------------------------------------------------------------------------------------

TEST(TlsRpt, OneWellFormedRecordIsValid) {
  TlsRptResult r = JudgeTlsRptRecords({"v=TLSRPTv1; rua=mailto:tlsrpt@example.org"});
  EXPECT_EQ(r.status, PolicyRecordStatus::kValid) << r.detail;
  EXPECT_EQ(r.rua, Records{"mailto:tlsrpt@example.org"});
  EXPECT_EQ(r.detail, "");
}

TEST(TlsRpt, SeveralUrisSpacesAndATrailingDelimiterAreAllowed) {
  TlsRptResult r = JudgeTlsRptRecords(
      {"v=TLSRPTv1 ;rua=mailto:a@example.org , https://reports.example.org/tls ;"});
  EXPECT_EQ(r.status, PolicyRecordStatus::kValid) << r.detail;
  EXPECT_EQ(r.rua, (Records{"mailto:a@example.org", "https://reports.example.org/tls"}));
}

TEST(TlsRpt, RecordsOfOtherKindsAreDiscarded) {
  TlsRptResult r =
      JudgeTlsRptRecords({"v=spf1 -all", "v=TLSRPTv1;rua=mailto:r@example.org", "hello"});
  EXPECT_EQ(r.status, PolicyRecordStatus::kValid) << r.detail;
}

TEST(TlsRpt, NoRecordOfTheKindIsMissing) {
  EXPECT_EQ(JudgeTlsRptRecords({}).status, PolicyRecordStatus::kMissing);
  EXPECT_EQ(JudgeTlsRptRecords({"v=spf1 -all"}).status, PolicyRecordStatus::kMissing);
  // The version tag is case-sensitive (%s in RFC 8460's ABNF) and must be whole.
  EXPECT_EQ(JudgeTlsRptRecords({"v=tlsrptv1; rua=mailto:a@b.c"}).status,
            PolicyRecordStatus::kMissing);
  EXPECT_EQ(JudgeTlsRptRecords({"v=TLSRPTv10; rua=mailto:a@b.c"}).status,
            PolicyRecordStatus::kMissing);
}

TEST(TlsRpt, TwoRecordsMeanNone) {
  TlsRptResult r = JudgeTlsRptRecords(
      {"v=TLSRPTv1; rua=mailto:a@example.org", "v=TLSRPTv1; rua=mailto:b@example.org"});
  EXPECT_EQ(r.status, PolicyRecordStatus::kMultiple);
  EXPECT_NE(r.detail.find("exactly one"), std::string::npos) << r.detail;
}

TEST(TlsRpt, MalformedRecordsAreInvalidWithAReason) {
  const struct {
    const char* record;
    const char* reason;
  } cases[] = {
      {"v=TLSRPTv1", "no fields"},
      {"v=TLSRPTv1;", "no fields"},
      {"v=TLSRPTv1; ext=1", "no rua"},
      {"v=TLSRPTv1; rua=ftp://example.org/", "not a mailto: or https: URI"},
      {"v=TLSRPTv1; rua=mailto:", "not a mailto: or https: URI"},
      {"v=TLSRPTv1; rua=mailto:a@example.org; rua=mailto:b@example.org", "more than one rua"},
      {"v=TLSRPTv1 rua=mailto:a@example.org", "expected \";\""},
      {"v=TLSRPTv1; =x; rua=mailto:a@example.org", "malformed field"},
      {"v=TLSRPTv1; rua", "malformed field"},
      {"v=TLSRPTv1; rua=mailto:a@example.org; ext=a=b", "malformed value"},
  };
  for (const auto& c : cases) {
    TlsRptResult r = JudgeTlsRptRecords({c.record});
    EXPECT_EQ(r.status, PolicyRecordStatus::kInvalid) << c.record;
    EXPECT_NE(r.detail.find(c.reason), std::string::npos) << c.record << " -> " << r.detail;
    EXPECT_EQ(r.record, c.record);
    EXPECT_TRUE(r.rua.empty()) << c.record;
  }
}

TEST(TlsRpt, NamesAndStatusWords) {
  EXPECT_EQ(TlsRptName("example.org."), "_smtp._tls.example.org");
  std::vector<std::string> words;
  for (PolicyRecordStatus s : kPolicyRecordStatuses) words.push_back(ToString(s));
  EXPECT_EQ(words, (Records{"valid", "missing", "invalid", "multiple", "dns_error", "timeout"}));
}

// ---- MTA-STS record
// --------------------------------------------------------------------------------

TEST(MtaStsRecord, OneRecordWithAnIdIsValid) {
  MtaStsRecord r = JudgeMtaStsRecords({"v=STSv1; id=20160831085700Z;"});
  EXPECT_EQ(r.status, PolicyRecordStatus::kValid) << r.detail;
  EXPECT_EQ(r.id, "20160831085700Z");
}

TEST(MtaStsRecord, MissingMultipleAndInvalid) {
  EXPECT_EQ(JudgeMtaStsRecords({"v=spf1 -all"}).status, PolicyRecordStatus::kMissing);
  EXPECT_EQ(JudgeMtaStsRecords({"v=STSv1; id=a", "v=STSv1; id=b"}).status,
            PolicyRecordStatus::kMultiple);
  for (const char* record : {"v=STSv1;", "v=STSv1; id=", "v=STSv1; id=has-dash",
                             "v=STSv1; id=123456789012345678901234567890123", "v=STSv1; id=1; id=2",
                             "v=STSv1 id=1", "v=STSv1; id=abc; ext=a=b"}) {
    MtaStsRecord r = JudgeMtaStsRecords({record});
    EXPECT_EQ(r.status, PolicyRecordStatus::kInvalid) << record;
    EXPECT_FALSE(r.detail.empty()) << record;
    EXPECT_EQ(r.id, "") << record;
  }
}

// ---- MTA-STS policy
// --------------------------------------------------------------------------------

TEST(MtaStsPolicy, TheRfcExampleParses) {
  std::string error;
  auto policy = ParseMtaStsPolicy(
      "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\n"
      "mx: backupmx.example.com\r\nmax_age: 604800\r\n",
      &error);
  ASSERT_TRUE(policy) << error;
  EXPECT_EQ(policy->mode, MtaStsMode::kEnforce);
  EXPECT_EQ(policy->max_age, 604800u);
  EXPECT_EQ(policy->mx_patterns,
            (Records{"mail.example.com", "*.example.net", "backupmx.example.com"}));
}

TEST(MtaStsPolicy, LfEndingsUnknownKeysAndFirstOfARepeatedKey) {
  std::string error;
  auto policy = ParseMtaStsPolicy(
      "version: STSv1\nmode: testing\nmode: enforce\nmx: MX.Example.ORG.\nmax_age:86400\n"
      "x-extension: anything at all\n",
      &error);
  ASSERT_TRUE(policy) << error;
  EXPECT_EQ(policy->mode, MtaStsMode::kTesting);
  EXPECT_EQ(policy->max_age, 86400u);
  EXPECT_EQ(policy->mx_patterns, Records{"mx.example.org"});
}

TEST(MtaStsPolicy, ModeNoneNeedsNoMx) {
  std::string error;
  auto policy = ParseMtaStsPolicy("version: STSv1\nmode: none\nmax_age: 0\n", &error);
  ASSERT_TRUE(policy) << error;
  EXPECT_EQ(policy->mode, MtaStsMode::kNone);
}

TEST(MtaStsPolicy, BrokenPoliciesAreRefusedWithAReason) {
  const struct {
    std::string body;
    const char* reason;
  } cases[] = {
      {"", "no version"},
      {"<html><body>Not Found</body></html>", "expected \"key: value\""},
      {"version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1\n", "is not STSv1"},
      {"version: STSv1\nmode: strict\nmx: a.example\nmax_age: 1\n", "is not enforce"},
      {"version: STSv1\nmx: a.example\nmax_age: 1\n", "no mode"},
      {"version: STSv1\nmode: enforce\nmx: a.example\n", "no max_age"},
      {"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -1\n", "not 1 to 10 digits"},
      {"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 99999999999\n", "1 to 10 digits"},
      {"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 31557601\n", "exceeds"},
      {"version: STSv1\nmode: enforce\nmax_age: 86400\n", "no mx"},
      {"version: STSv1\nmode: enforce\nmx: a..example\nmax_age: 1\n", "is not a domain"},
      {"version: STSv1\nmode: enforce\nmx: *.*.example\nmax_age: 1\n", "is not a domain"},
      {std::string(kMaxMtaStsPolicyBytes + 1, 'x'), "larger than"},
  };
  for (const auto& c : cases) {
    std::string error;
    EXPECT_FALSE(ParseMtaStsPolicy(c.body, &error)) << c.body.substr(0, 60);
    EXPECT_NE(error.find(c.reason), std::string::npos) << c.body.substr(0, 60) << " -> " << error;
  }
}

TEST(MtaStsPolicy, UrlAndNames) {
  EXPECT_EQ(MtaStsRecordName("example.org"), "_mta-sts.example.org");
  EXPECT_EQ(MtaStsPolicyUrl("example.org", 443),
            "https://mta-sts.example.org/.well-known/mta-sts.txt");
  EXPECT_EQ(MtaStsPolicyUrl("example.org.", 8443),
            "https://mta-sts.example.org:8443/.well-known/mta-sts.txt");
}

// ---- MX patterns (RFC 8461 §4.1)
// -------------------------------------------------------------------

TEST(MxPattern, ExactAndOneLabelWildcard) {
  EXPECT_TRUE(MxMatchesPattern("mail.example.com", "mail.example.com"));
  EXPECT_TRUE(MxMatchesPattern("MAIL.Example.com.", "mail.example.com"));
  EXPECT_TRUE(MxMatchesPattern("mx1.example.com", "*.example.com"));
  EXPECT_FALSE(MxMatchesPattern("a.mx1.example.com", "*.example.com"));
  EXPECT_FALSE(MxMatchesPattern("example.com", "*.example.com"));
  EXPECT_FALSE(MxMatchesPattern("mx1.example.community", "*.example.com"));
  EXPECT_FALSE(MxMatchesPattern("mail.example.org", "mail.example.com"));
  EXPECT_FALSE(MxMatchesPattern("", "*.example.com"));
  MtaStsPolicy policy;
  policy.mx_patterns = {"mail.example.com", "*.example.net"};
  EXPECT_TRUE(MxMatchesPolicy("x.example.net", policy));
  EXPECT_FALSE(MxMatchesPolicy("mx.example.org", policy));
}

}  // namespace
}  // namespace smtp

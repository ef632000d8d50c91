// The probe engine's domain checks (ProbeSpec::checks) against a private dnsmasq on loopback and
// the fake SMTP server: TLS-RPT records (RFC 8460) and DNS blocklists (RFC 5782) as a sending
// MTA or a mail admin would see them. Only 127.0.0.1 (and ::1 as an address that is asked about,
// never contacted) is involved.
#include <gtest/gtest.h>

#include <chrono>

#include "probes/prober.h"
#include "probes/verdict.h"
#include "tests/dns/dnsmasq.h"
#include "tests/fake/fake_smtp_server.h"

namespace smtp {
namespace {

using std::chrono::milliseconds;
using testing::Dnsmasq;
using testing::FakeSmtpServer;

testing::Script Mta() {
  return [](testing::Session& session) {
    testing::MtaBehavior behavior;
    behavior.banner = {"mx.good.test ESMTP FakeMTA"};
    testing::ServeStandardMta(session, behavior);
  };
}

// The reversed ::1 (RFC 5782 §2.4) under bl.test.
const std::string kIp6Name =
    "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.bl.test";

class DomainChecksDnsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!Dnsmasq::Available()) GTEST_SKIP() << "dnsmasq is not installed";
    ASSERT_TRUE(silent_.ok());
    std::string error;
    dns_ = Dnsmasq::Start(
        {
            // Everything under .test that is not written here does not exist (NXDOMAIN).
            "local=/test/",
            "host-record=mx.good.test,127.0.0.1",
            "txt-record=_smtp._tls.good.test,\"v=TLSRPTv1; rua=mailto:tlsrpt@good.test\"",
            // A record split into two strings is read as one (RFC 8460 §3).
            "txt-record=_smtp._tls.split.test,\"v=TLSRPTv1; \",\"rua=https://r.split.test/\"",
            "txt-record=_smtp._tls.bad.test,\"v=TLSRPTv1; rua=ftp://bad.test/\"",
            "txt-record=_smtp._tls.two.test,\"v=TLSRPTv1; rua=mailto:a@two.test\"",
            "txt-record=_smtp._tls.two.test,\"v=TLSRPTv1; rua=mailto:b@two.test\"",
            "txt-record=_smtp._tls.other.test,\"v=spf1 -all\"",
            // bl.test lists 127.0.0.1 (code 2, with a reason) and ::1 (code 3).
            "host-record=1.0.0.127.bl.test,127.0.0.2",
            "txt-record=1.0.0.127.bl.test,\"Listed: see https://bl.test/q?127.0.0.1\"",
            "host-record=" + kIp6Name + ",127.0.0.3",
            // refuse.test answers as Spamhaus does to queries from public resolvers.
            "host-record=1.0.0.127.refuse.test,127.255.255.254",
            // rewrite.test answers as an NXDOMAIN-rewriting resolver would.
            "host-record=1.0.0.127.rewrite.test,198.51.100.7",
            // slow.test is served by a server that never answers.
            "server=/slow.test/127.0.0.1#" + std::to_string(silent_.port()),
        },
        false, &error);
    ASSERT_NE(dns_, nullptr) << error;
  }

  ProbeSpec Spec(const std::string& host, std::uint16_t port) const {
    ProbeSpec spec;
    spec.host = host;
    spec.port = port;
    spec.timeout = milliseconds(10000);
    spec.starttls = StartTlsMode::kOff;
    spec.check_fcrdns = false;
    spec.dns_server = "127.0.0.1:" + std::to_string(dns_->port());
    return spec;
  }

  TlsRptResult TlsRptOf(const std::string& domain) {
    ProbeSpec spec = Spec("mx.good.test", server_.port());
    spec.checks.domain = domain;
    spec.checks.tls_rpt = true;
    ProbeResult result = RunProbe(spec);
    EXPECT_TRUE(result.success) << result.failure_detail;
    EXPECT_TRUE(result.tls_rpt.has_value());
    return result.tls_rpt.value_or(TlsRptResult{});
  }

  testing::SilentUdpServer silent_;
  FakeSmtpServer server_{Mta()};
  std::unique_ptr<Dnsmasq> dns_;
};

TEST_F(DomainChecksDnsTest, TlsRptRecordsAsTheDomainPublishesThem) {
  TlsRptResult good = TlsRptOf("good.test");
  EXPECT_EQ(good.status, PolicyRecordStatus::kValid) << good.detail;
  EXPECT_EQ(good.rua, std::vector<std::string>{"mailto:tlsrpt@good.test"});
  TlsRptResult split = TlsRptOf("split.test");
  EXPECT_EQ(split.status, PolicyRecordStatus::kValid) << split.detail;
  EXPECT_EQ(split.record, "v=TLSRPTv1; rua=https://r.split.test/");
  EXPECT_EQ(TlsRptOf("bad.test").status, PolicyRecordStatus::kInvalid);
  EXPECT_EQ(TlsRptOf("two.test").status, PolicyRecordStatus::kMultiple);
  EXPECT_EQ(TlsRptOf("other.test").status, PolicyRecordStatus::kMissing);  // TXT of another kind
  EXPECT_EQ(TlsRptOf("none.test").status, PolicyRecordStatus::kMissing);   // NXDOMAIN
}

TEST_F(DomainChecksDnsTest, TlsRptNeedsADomain) {
  ProbeSpec spec = Spec("mx.good.test", server_.port());
  spec.checks.tls_rpt = true;  // a host:port target has no mail domain
  ProbeResult result = RunProbe(spec);
  EXPECT_TRUE(result.success);
  EXPECT_FALSE(result.tls_rpt.has_value());
}

TEST_F(DomainChecksDnsTest, BlocklistsAnswerPerZone) {
  ProbeSpec spec = Spec("mx.good.test", server_.port());
  spec.checks.dnsbl = {"bl.test", "clean.test", "refuse.test", "rewrite.test"};
  ProbeResult result = RunProbe(spec);
  EXPECT_TRUE(result.success) << "a listing is a finding, not a failed probe";
  ASSERT_EQ(result.dnsbl.size(), 4u);
  const DnsblResult& listed = result.dnsbl[0];
  EXPECT_EQ(listed.zone, "bl.test");
  EXPECT_EQ(listed.address, "127.0.0.1");
  EXPECT_EQ(listed.status, DnsblStatus::kListed);
  EXPECT_EQ(listed.codes, std::vector<std::string>{"127.0.0.2"});
  EXPECT_EQ(listed.reason, "Listed: see https://bl.test/q?127.0.0.1");
  EXPECT_EQ(result.dnsbl[1].status, DnsblStatus::kNotListed);  // NXDOMAIN
  EXPECT_EQ(result.dnsbl[2].status, DnsblStatus::kRefused);
  EXPECT_EQ(result.dnsbl[3].status, DnsblStatus::kError);
  EXPECT_NE(result.dnsbl[3].detail.find("198.51.100.7"), std::string::npos);

  const Verdict verdict = Judge(result, 0);
  EXPECT_TRUE(verdict.healthy);
  bool finding = false;
  for (const std::string& f : verdict.findings) {
    finding = finding || f == "127.0.0.1 is listed in bl.test (127.0.0.2: Listed: see "
                              "https://bl.test/q?127.0.0.1)";
  }
  EXPECT_TRUE(finding) << ::testing::PrintToString(verdict.findings);
}

TEST_F(DomainChecksDnsTest, Ipv6AddressesAreAskedByNibbles) {
  // Nothing listens on [::1] here: the server is down, and its address is still looked up.
  ProbeSpec spec = Spec("::1", testing::ClosedUdpPort());
  spec.checks.dnsbl = {"bl.test"};
  ProbeResult result = RunProbe(spec);
  ASSERT_EQ(result.dnsbl.size(), 1u);
  EXPECT_EQ(result.dnsbl[0].address, "::1");
  EXPECT_EQ(result.dnsbl[0].status, DnsblStatus::kListed) << result.dnsbl[0].detail;
  EXPECT_EQ(result.dnsbl[0].codes, std::vector<std::string>{"127.0.0.3"});
}

TEST_F(DomainChecksDnsTest, ASilentZoneEndsAtTheProbeDeadline) {
  ProbeSpec spec = Spec("mx.good.test", server_.port());
  spec.timeout = milliseconds(1500);
  spec.checks.dnsbl = {"slow.test", "bl.test"};
  const auto start = std::chrono::steady_clock::now();
  ProbeResult result = RunProbe(spec);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(result.success) << "the dialogue worked; a silent blocklist is not the server's";
  EXPECT_LT(took, milliseconds(2500));
  ASSERT_EQ(result.dnsbl.size(), 2u);
  EXPECT_EQ(result.dnsbl[0].status, DnsblStatus::kTimeout);
  EXPECT_EQ(result.dnsbl[1].status, DnsblStatus::kTimeout) << "no time was left to ask it";
}

}  // namespace
}  // namespace smtp

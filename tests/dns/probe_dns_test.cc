// The probe engine's DNS steps against a private dnsmasq on loopback and the fake SMTP server:
// resolving the target's name, forward-confirmed reverse DNS of the connected address and its
// match with the banner, and DNS failures that must end the probe with reason dns or timeout.
// Only 127.0.0.1 is ever contacted. MX and per-address expansion: expansion_dns_test.cc.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>

#include "probes/prober.h"
#include "tests/dns/dnsmasq.h"
#include "tests/fake/fake_smtp_server.h"

namespace smtp {
namespace {

using std::chrono::milliseconds;
using testing::Dnsmasq;
using testing::FakeSmtpServer;
using testing::MtaBehavior;

testing::Script Mta(std::string banner) {
  return [banner](testing::Session& session) {
    MtaBehavior behavior;
    behavior.banner = {banner};
    testing::ServeStandardMta(session, behavior);
  };
}

std::unique_ptr<Dnsmasq> StartDns(const std::vector<std::string>& records) {
  std::string error;
  auto dns = Dnsmasq::Start(records, false, &error);
  EXPECT_NE(dns, nullptr) << error;
  return dns;
}

ProbeSpec SpecFor(const std::string& host, std::uint16_t port, const Dnsmasq& dns) {
  ProbeSpec spec;
  spec.host = host;
  spec.port = port;
  spec.timeout = milliseconds(10000);
  spec.starttls = StartTlsMode::kOff;
  spec.dns_server = "127.0.0.1:" + std::to_string(dns.port());
  return spec;
}

class ProbeDnsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!Dnsmasq::Available()) GTEST_SKIP() << "dnsmasq is not installed";
  }
};

TEST_F(ProbeDnsTest, ResolvesTheNameAndConfirmsReverseDnsAgainstTheBanner) {
  FakeSmtpServer server(Mta("mx.test ESMTP FakeMTA"));
  auto dns = StartDns({"host-record=mx.test,127.0.0.1"});  // A and PTR
  ASSERT_NE(dns, nullptr);
  ProbeResult result = RunProbe(SpecFor("mx.test", server.port(), *dns));
  EXPECT_TRUE(result.success) << result.failure_detail;
  ASSERT_NE(result.FindStep(Step::kResolve), nullptr);
  EXPECT_TRUE(result.FindStep(Step::kResolve)->ok);
  EXPECT_EQ(result.dns.addresses, std::vector<std::string>{"127.0.0.1"});
  EXPECT_EQ(result.dns.connected_address, "127.0.0.1");
  ASSERT_NE(result.FindStep(Step::kReverseDns), nullptr);
  EXPECT_EQ(result.dns.ptr_names, std::vector<std::string>{"mx.test"});
  EXPECT_EQ(result.dns.fcrdns_match, true);
  EXPECT_EQ(result.dns.banner_matches_ptr, true);
  EXPECT_TRUE(server.Received("QUIT"));
}

TEST_F(ProbeDnsTest, BannerNameThatIsNotTheReverseNameIsReported) {
  FakeSmtpServer server(Mta("mail.elsewhere.test ESMTP"));
  auto dns = StartDns({"host-record=mx.test,127.0.0.1"});
  ASSERT_NE(dns, nullptr);
  ProbeResult result = RunProbe(SpecFor("127.0.0.1", server.port(), *dns));
  EXPECT_TRUE(result.success);
  EXPECT_EQ(result.FindStep(Step::kResolve), nullptr) << "an IP literal needs no lookup";
  EXPECT_EQ(result.dns.fcrdns_match, true);
  EXPECT_EQ(result.dns.banner_matches_ptr, false);
}

TEST_F(ProbeDnsTest, ReverseNameThatDoesNotResolveBackIsNotConfirmed) {
  FakeSmtpServer server(Mta("liar.test ESMTP"));
  auto dns =
      StartDns({"ptr-record=1.0.0.127.in-addr.arpa,liar.test", "host-record=liar.test,127.0.0.9"});
  ASSERT_NE(dns, nullptr);
  ProbeResult result = RunProbe(SpecFor("127.0.0.1", server.port(), *dns));
  EXPECT_TRUE(result.success) << "reverse DNS is a finding, not a failure";
  EXPECT_EQ(result.dns.ptr_names, std::vector<std::string>{"liar.test"});
  EXPECT_EQ(result.dns.fcrdns_match, false);
  EXPECT_EQ(result.dns.banner_matches_ptr, false);
}

TEST_F(ProbeDnsTest, UnknownNameFailsAtResolveWithReasonDnsWithoutConnecting) {
  FakeSmtpServer server(Mta("mx.test ESMTP"));
  auto dns = StartDns({"host-record=mx.test,127.0.0.1"});
  ASSERT_NE(dns, nullptr);
  ProbeResult result = RunProbe(SpecFor("missing.test", server.port(), *dns));
  EXPECT_FALSE(result.success);
  EXPECT_EQ(result.failed_step, Step::kResolve);
  EXPECT_EQ(result.failure_reason, FailureReason::kDns);
  EXPECT_LT(result.duration, milliseconds(5000));
  EXPECT_EQ(server.connections(), 0);
}

// Issue 13, item 2: a name that resolves to an address the caller does not allow (/probe's
// allowlist address entries) is not connected to: the connect step fails with reason forbidden,
// and the server at that address never sees a connection. An allowed address of the same name
// is used instead.
TEST_F(ProbeDnsTest, AddressTheCallerDoesNotAllowIsNeverConnectedTo) {
  FakeSmtpServer server(Mta("mx.test ESMTP FakeMTA"));
  auto dns = StartDns({"host-record=inside.test,127.0.0.1", "host-record=both.test,127.0.0.1",
                       "host-record=both.test,127.0.0.2"});
  ASSERT_NE(dns, nullptr);
  ProbeSpec spec = SpecFor("inside.test", server.port(), *dns);
  spec.address_allowed = [](std::string_view address, std::uint16_t) {
    return address == "127.0.0.2";
  };
  ProbeResult result = RunProbe(spec);
  EXPECT_FALSE(result.success);
  EXPECT_EQ(result.failed_step, Step::kConnect);
  EXPECT_EQ(result.failure_reason, FailureReason::kForbidden);
  EXPECT_EQ(std::string(ToString(result.failure_reason)), "forbidden");
  EXPECT_EQ(result.dns.connected_address, "");
  EXPECT_EQ(server.connections(), 0);

  spec.host = "both.test";
  spec.address_allowed = [](std::string_view address, std::uint16_t) {
    return address == "127.0.0.1";
  };
  result = RunProbe(spec);
  EXPECT_TRUE(result.success) << result.failure_detail;
  EXPECT_EQ(result.dns.connected_address, "127.0.0.1");
}

TEST_F(ProbeDnsTest, SilentDnsServerEndsAtTheProbeDeadlineAsTimeout) {
  testing::SilentUdpServer silent;
  ASSERT_TRUE(silent.ok());
  ProbeSpec spec;
  spec.host = "mx.test";
  spec.port = 25;
  spec.timeout = milliseconds(1000);
  spec.dns_server = silent.Address();
  const auto start = std::chrono::steady_clock::now();
  ProbeResult result = RunProbe(spec);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(result.failed_step, Step::kResolve);
  EXPECT_EQ(result.failure_reason, FailureReason::kTimeout);
  EXPECT_GE(took, milliseconds(900));
  EXPECT_LT(took, milliseconds(3000)) << "the probe deadline, not c-ares' own retries, ends it";
}

}  // namespace
}  // namespace smtp

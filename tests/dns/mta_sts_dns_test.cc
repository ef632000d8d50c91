// MTA-STS (RFC 8461) end to end on loopback: the _mta-sts TXT record from a private dnsmasq, the
// policy from a loopback HTTPS server presenting a certificate of the test CA, and the MX (the
// fake SMTP server with STARTTLS) judged against it. Each domain below is one kind of policy a
// sender may meet; the probe must report each with its own result, within its deadline, and
// never fail the probe for it.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <string_view>
#include <utility>
#include <vector>

#include "probes/prober.h"
#include "probes/verdict.h"
#include "tests/dns/dnsmasq.h"
#include "tests/fake/fake_https_server.h"
#include "tests/fake/fake_smtp_server.h"

namespace smtp {
namespace {

using std::chrono::milliseconds;
using testing::Dnsmasq;
using testing::FakeHttpsServer;
using testing::FakeSmtpServer;
using testing::HttpResponse;
using testing::HttpsBehavior;
using testing::TestPki;

const std::string kEnforce =
    "version: STSv1\r\nmode: enforce\r\nmx: mx.test\r\nmx: *.backup.test\r\nmax_age: 604800\r\n";

testing::Script Mta(const testing::TestCredential* tls) {
  return [tls](testing::Session& session) {
    testing::MtaBehavior behavior;
    behavior.tls = tls;
    testing::ServeStandardMta(session, behavior);
  };
}

class MtaStsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!Dnsmasq::Available()) GTEST_SKIP() << "dnsmasq is not installed";
    std::vector<std::string> records = {"local=/test/", "host-record=mx.test,127.0.0.1"};
    for (const char* domain : {"good", "outside", "testing", "malformed", "big", "slow", "redirect",
                               "nopolicy", "wrongcert", "html", "badtxt"}) {
      const std::string d = std::string(domain) + ".test";
      records.push_back("host-record=mta-sts." + d + ",127.0.0.1");
      records.push_back("txt-record=_mta-sts." + d + ",\"v=STSv1; id=20261130T1\"");
    }
    records.push_back("host-record=mta-sts.none.test,127.0.0.1");  // a server, but no TXT
    records.push_back("txt-record=_mta-sts.badtxt.test,\"v=STSv1; id=bad-id\"");
    records.push_back("txt-record=_mta-sts.invalid.test,\"v=STSv1; id=bad-id\"");
    records.push_back("host-record=1.0.0.127.bl.test,127.0.0.2");  // mx.test is listed
    std::string error;
    dns_ = Dnsmasq::Start(records, false, &error);
    ASSERT_NE(dns_, nullptr) << error;
  }

  // Probes the MX of `domain` (mx.test on the fake server) with MTA-STS on, the policy served by
  // `policy_port`; `allowed`, when set, is the caller's address check (ProbeSpec).
  ProbeResult Probe(const std::string& domain, std::uint16_t policy_port,
                    const testing::TestCredential* mx_tls = &TestPki::Get().leaf(),
                    milliseconds timeout = milliseconds(10000),
                    std::function<bool(std::string_view, std::uint16_t)> allowed = {}) {
    FakeSmtpServer mx(Mta(mx_tls));
    mx_port_ = mx.port();
    ProbeSpec spec;
    spec.host = "mx.test";
    spec.port = mx.port();
    spec.timeout = timeout;
    spec.check_fcrdns = false;
    spec.tls.ca_file = TestPki::Get().ca_file();
    spec.dns_server = "127.0.0.1:" + std::to_string(dns_->port());
    spec.checks.domain = domain;
    spec.checks.mta_sts = true;
    spec.checks.mta_sts_port = policy_port;
    spec.address_allowed = std::move(allowed);
    spec.checks.dnsbl = dnsbl_zones_;
    return RunProbe(spec);
  }

  static FakeHttpsServer Serve(const std::string& domain, HttpsBehavior behavior) {
    return FakeHttpsServer(TestPki::Get().IssueLeaf("mta-sts." + domain), std::move(behavior));
  }

  static std::string Findings(const ProbeResult& result) {
    return ::testing::PrintToString(Judge(result, 0).findings);
  }

  std::unique_ptr<Dnsmasq> dns_;
  std::uint16_t mx_port_ = 0;             // the fake MX of the last Probe
  std::vector<std::string> dnsbl_zones_;  // DNSBL zones Probe asks too
};

bool HasFinding(const ProbeResult& result, const std::string& part) {
  for (const std::string& finding : Judge(result, 0).findings) {
    if (finding.find(part) != std::string::npos) return true;
  }
  return false;
}

TEST_F(MtaStsTest, EnforcedPolicyThatTheMxMeets) {
  FakeHttpsServer server(TestPki::Get().IssueLeaf("mta-sts.good.test"),
                         {HttpResponse(200, kEnforce), {}, {}});
  ProbeResult result = Probe("good.test", server.port());
  EXPECT_TRUE(result.success) << result.failure_detail;
  ASSERT_TRUE(result.mta_sts);
  const MtaStsResult& sts = *result.mta_sts;
  EXPECT_EQ(sts.record.status, PolicyRecordStatus::kValid);
  EXPECT_EQ(sts.record.id, "20261130T1");
  EXPECT_EQ(sts.url, "https://mta-sts.good.test:" + std::to_string(server.port()) +
                         "/.well-known/mta-sts.txt");
  EXPECT_EQ(sts.fetch, PolicyFetchStatus::kOk) << sts.fetch_detail;
  EXPECT_EQ(sts.http_status, 200);
  ASSERT_TRUE(sts.policy);
  EXPECT_EQ(sts.policy->mode, MtaStsMode::kEnforce);
  EXPECT_EQ(sts.policy->max_age, 604800u);
  EXPECT_EQ(sts.mx_matches, true);
  const auto delivery = JudgeMtaStsDelivery(result);
  ASSERT_TRUE(delivery);
  EXPECT_TRUE(delivery->ok) << delivery->reason;
  EXPECT_FALSE(HasFinding(result, "MTA-STS")) << Findings(result);
  // One GET of the well-known path, with the policy host (and port) as Host.
  ASSERT_EQ(server.Requests().size(), 1u);
  EXPECT_TRUE(server.Requests()[0].starts_with("GET /.well-known/mta-sts.txt HTTP/1.1\r\n"))
      << server.Requests()[0];
  EXPECT_NE(server.Requests()[0].find("mta-sts.good.test:" + std::to_string(server.port())),
            std::string::npos);
}

TEST_F(MtaStsTest, AnMxOutsideThePatternsFailsEnforcedDelivery) {
  FakeHttpsServer server = Serve(
      "outside.test",
      {HttpResponse(200, "version: STSv1\nmode: enforce\nmx: *.elsewhere.test\nmax_age: 86400\n"),
       {},
       {}});
  ProbeResult result = Probe("outside.test", server.port());
  EXPECT_TRUE(result.success) << "the server is up; senders applying the policy would not use it";
  ASSERT_TRUE(result.mta_sts);
  EXPECT_EQ(result.mta_sts->mx_matches, false);
  EXPECT_TRUE(HasFinding(result,
                         "MTA-STS enforce: senders will not deliver to mx.test: mx.test "
                         "matches no mx pattern of the policy (*.elsewhere.test)"))
      << Findings(result);
}

TEST_F(MtaStsTest, TestingModeReportsWithoutBlocking) {
  FakeHttpsServer server = Serve(
      "testing.test",
      {HttpResponse(200, "version: STSv1\nmode: testing\nmx: other.example\nmax_age: 86400\n"),
       {},
       {}});
  ProbeResult result = Probe("testing.test", server.port());
  ASSERT_TRUE(result.mta_sts && result.mta_sts->policy);
  EXPECT_EQ(result.mta_sts->policy->mode, MtaStsMode::kTesting);
  EXPECT_TRUE(HasFinding(result, "MTA-STS testing: mx.test would fail the policy"))
      << Findings(result);
  EXPECT_FALSE(HasFinding(result, "MTA-STS enforce")) << Findings(result);
}

TEST_F(MtaStsTest, EnforcedPolicyAndAnMxCertificateThatDoesNotVerify) {
  FakeHttpsServer server = Serve("good.test", {HttpResponse(200, kEnforce), {}, {}});
  ProbeResult result = Probe("good.test", server.port(), &TestPki::Get().expired_leaf());
  EXPECT_TRUE(result.success) << "opportunistic STARTTLS: reported, not fatal";
  EXPECT_EQ(result.mta_sts->mx_matches, true);
  EXPECT_TRUE(HasFinding(result,
                         "MTA-STS enforce: senders will not deliver to mx.test: "
                         "certificate not verified"))
      << Findings(result);
}

TEST_F(MtaStsTest, EnforcedPolicyAndAnMxWithoutStartTls) {
  FakeHttpsServer server = Serve("good.test", {HttpResponse(200, kEnforce), {}, {}});
  ProbeResult result = Probe("good.test", server.port(), nullptr);
  EXPECT_TRUE(HasFinding(result,
                         "senders will not deliver to mx.test: mx.test does not offer "
                         "STARTTLS"))
      << Findings(result);
}

struct FetchCase {
  const char* domain;
  HttpsBehavior behavior;
  PolicyFetchStatus status;
  const char* detail;
};

TEST_F(MtaStsTest, PoliciesThatCannotBeUsedAreReportedWithTheirReason) {
  const FetchCase cases[] = {
      {"malformed.test",
       {HttpResponse(200, "version: STSv1\nmode: enforce\nmax_age: 1\n"), {}, {}},
       PolicyFetchStatus::kInvalidPolicy,
       "no mx field"},
      {"big.test",
       {HttpResponse(200, std::string(70000, 'x')), {}, {}},
       PolicyFetchStatus::kTooLarge,
       "larger than 65536 bytes"},
      {"redirect.test",
       {HttpResponse(301, "", "text/plain", "Location: https://elsewhere.test/p\r\n"), {}, {}},
       PolicyFetchStatus::kRedirect,
       "HTTP 301 redirect to https://elsewhere.test/p"},
      {"html.test",
       {HttpResponse(200, kEnforce, "text/html"), {}, {}},
       PolicyFetchStatus::kContentType,
       "text/html"},
      {"good.test",
       {HttpResponse(404, "not here"), {}, {}},
       PolicyFetchStatus::kHttpStatus,
       "HTTP 404"},
  };
  for (const FetchCase& c : cases) {
    SCOPED_TRACE(c.domain);
    FakeHttpsServer server = Serve(c.domain, c.behavior);
    ProbeResult result = Probe(c.domain, server.port());
    EXPECT_TRUE(result.success);
    ASSERT_TRUE(result.mta_sts);
    EXPECT_EQ(result.mta_sts->fetch, c.status) << result.mta_sts->fetch_detail;
    EXPECT_NE(result.mta_sts->fetch_detail.find(c.detail), std::string::npos)
        << result.mta_sts->fetch_detail;
    EXPECT_FALSE(result.mta_sts->policy);
    EXPECT_FALSE(JudgeMtaStsDelivery(result)) << "no policy to apply";
    EXPECT_TRUE(HasFinding(result, "MTA-STS record published but policy unavailable (" +
                                       std::string(ToString(c.status)) + ")"))
        << Findings(result);
  }
}

TEST_F(MtaStsTest, ACertificateForAnotherNameIsRefused) {
  FakeHttpsServer server(TestPki::Get().IssueLeaf("mta-sts.other.test"),
                         {HttpResponse(200, kEnforce), {}, {}});
  ProbeResult result = Probe("wrongcert.test", server.port());
  ASSERT_TRUE(result.mta_sts);
  EXPECT_EQ(result.mta_sts->fetch, PolicyFetchStatus::kTls);
  EXPECT_NE(result.mta_sts->fetch_detail.find("certificate not valid for mta-sts.wrongcert.test"),
            std::string::npos)
      << result.mta_sts->fetch_detail;
  EXPECT_TRUE(server.Requests().empty()) << "no request goes to an unverified server";
}

TEST_F(MtaStsTest, ASlowPolicyServerEndsAtTheProbeDeadline) {
  FakeHttpsServer server =
      Serve("slow.test", {HttpResponse(200, kEnforce), milliseconds(0), milliseconds(300)});
  const auto start = std::chrono::steady_clock::now();
  ProbeResult result =
      Probe("slow.test", server.port(), &TestPki::Get().leaf(), milliseconds(2000));
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(result.success);
  EXPECT_LT(took, milliseconds(3000));
  ASSERT_TRUE(result.mta_sts);
  EXPECT_EQ(result.mta_sts->fetch, PolicyFetchStatus::kTimeout) << result.mta_sts->fetch_detail;
}

// The checks share the probe's deadline, and the policy fetch goes to a web server that may be
// slow (and someone else's): the DNS-only checks run first, so a slow policy host cannot leave a
// blocklisting unasked (found by the issue 11 reviewer: DNSBL, DANE and TLS-RPT all read
// "timeout", and the status page "no DNSBL listing").
TEST_F(MtaStsTest, ASlowPolicyServerDoesNotHideABlocklisting) {
  FakeHttpsServer server =
      Serve("slow.test", {HttpResponse(200, kEnforce), milliseconds(0), milliseconds(300)});
  dnsbl_zones_ = {"bl.test"};
  ProbeResult result =
      Probe("slow.test", server.port(), &TestPki::Get().leaf(), milliseconds(2000));
  ASSERT_TRUE(result.mta_sts);
  EXPECT_EQ(result.mta_sts->fetch, PolicyFetchStatus::kTimeout) << result.mta_sts->fetch_detail;
  ASSERT_EQ(result.dnsbl.size(), 1u);
  EXPECT_EQ(result.dnsbl[0].status, DnsblStatus::kListed) << result.dnsbl[0].detail;
  EXPECT_TRUE(HasFinding(result, "is listed in bl.test")) << Findings(result);
}

// A TCP port on 127.0.0.1 that refuses connections: bound, so nothing else takes it, but not
// listening.
class ClosedTcpPort {
 public:
  ClosedTcpPort() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (bind(fd_, reinterpret_cast<sockaddr*>(&address), length) == 0 &&
        getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
      port_ = ntohs(address.sin_port);
    }
  }
  ~ClosedTcpPort() { close(fd_); }
  std::uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

TEST_F(MtaStsTest, ARecordWithoutAPolicyServerIsAFinding) {
  // Nothing listens on the policy port: the record promises a policy that is not there.
  const ClosedTcpPort closed;
  ASSERT_NE(closed.port(), 0);
  ProbeResult result = Probe("nopolicy.test", closed.port());
  ASSERT_TRUE(result.mta_sts);
  EXPECT_EQ(result.mta_sts->record.status, PolicyRecordStatus::kValid);
  EXPECT_EQ(result.mta_sts->fetch, PolicyFetchStatus::kConnect) << result.mta_sts->fetch_detail;
  EXPECT_TRUE(HasFinding(result, "policy unavailable (connect)")) << Findings(result);
}

// /probe's allowlist (ProbeSpec::address_allowed) applies to the policy host as to the MX: an
// allowed domain whose mta-sts name points at an address not allowed on the policy port is not
// fetched from (forbidden, nothing sent), while the MX, allowed on its port, is probed.
TEST_F(MtaStsTest, APolicyHostTheCallerDoesNotAllowIsNeverContacted) {
  FakeHttpsServer server = Serve("good.test", {HttpResponse(200, kEnforce), {}, {}});
  std::vector<std::pair<std::string, std::uint16_t>> asked;
  // Allows 127.0.0.1 on the MX's port only (as an allowlist entry "127.0.0.1:<mx port>" would).
  ProbeResult refused =
      Probe("good.test", server.port(), &TestPki::Get().leaf(), milliseconds(10000),
            [&](std::string_view address, std::uint16_t port) {
              asked.emplace_back(address, port);
              return address == "127.0.0.1" && port == mx_port_;
            });
  EXPECT_TRUE(refused.success) << refused.failure_detail;
  ASSERT_TRUE(refused.mta_sts);
  EXPECT_EQ(refused.mta_sts->fetch, PolicyFetchStatus::kForbidden) << refused.mta_sts->fetch_detail;
  EXPECT_EQ(std::string(ToString(PolicyFetchStatus::kForbidden)), "forbidden");
  EXPECT_EQ(refused.mta_sts->fetch_detail,
            "mta-sts.good.test resolves only to addresses not allowed on port " +
                std::to_string(server.port()) + ": 127.0.0.1");
  EXPECT_TRUE(server.Requests().empty());
  EXPECT_TRUE(HasFinding(refused, "policy unavailable (forbidden)")) << Findings(refused);
  const std::vector<std::pair<std::string, std::uint16_t>> expected = {
      {"127.0.0.1", mx_port_}, {"127.0.0.1", server.port()}};
  EXPECT_EQ(asked, expected) << "the MX on its port, then the policy host on the policy port";

  // Allowed on the policy port too: fetched as without a check.
  const std::uint16_t policy_port = server.port();
  ProbeResult allowed =
      Probe("good.test", policy_port, &TestPki::Get().leaf(), milliseconds(10000),
            [&](std::string_view address, std::uint16_t port) {
              return address == "127.0.0.1" && (port == mx_port_ || port == policy_port);
            });
  ASSERT_TRUE(allowed.mta_sts);
  EXPECT_EQ(allowed.mta_sts->fetch, PolicyFetchStatus::kOk) << allowed.mta_sts->fetch_detail;
  EXPECT_EQ(server.Requests().size(), 1u);
}

TEST_F(MtaStsTest, NoRecordMeansNoPolicyAndNoFetch) {
  FakeHttpsServer server = Serve("none.test", {HttpResponse(200, kEnforce), {}, {}});
  ProbeResult result = Probe("none.test", server.port());
  ASSERT_TRUE(result.mta_sts);
  EXPECT_EQ(result.mta_sts->record.status, PolicyRecordStatus::kMissing);
  EXPECT_FALSE(result.mta_sts->fetch);
  EXPECT_TRUE(server.Requests().empty()) << "RFC 8461 §3.3: fetch only after a valid record";
  EXPECT_FALSE(HasFinding(result, "MTA-STS")) << Findings(result);
}

TEST_F(MtaStsTest, MalformedOrRepeatedRecordsAreFindings) {
  ProbeResult two = Probe("badtxt.test", 1);
  ASSERT_TRUE(two.mta_sts);
  EXPECT_EQ(two.mta_sts->record.status, PolicyRecordStatus::kMultiple)
      << "badtxt.test has a good record and a bad one";
  EXPECT_FALSE(two.mta_sts->fetch) << "RFC 8461 §3.1: the domain has no usable policy";
  EXPECT_TRUE(HasFinding(two, "MTA-STS record multiple")) << Findings(two);
  ProbeResult bad = Probe("invalid.test", 1);
  ASSERT_TRUE(bad.mta_sts);
  EXPECT_EQ(bad.mta_sts->record.status, PolicyRecordStatus::kInvalid);
  EXPECT_TRUE(HasFinding(bad, "MTA-STS record invalid: id \"bad-id\" is not 1 to 32"))
      << Findings(bad);
}

}  // namespace
}  // namespace smtp

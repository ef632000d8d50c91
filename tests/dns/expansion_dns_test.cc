// Target expansion (probes/expansion.h) against a private dnsmasq on 127.0.0.1, authoritative for
// *.test and never forwarding, and against a DNS server that never answers. Every form is used:
// the blocking one (the CLI's), the callback one and the awaitable one (the daemon's). The
// addresses in the records are loopback ones: the one test that probes connects to 127.0.0.1.
#include <utility>
// ^ Before any Boost.Asio header (g++ 12 coroutines); this line stops include sorting moving it.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <exception>
#include <optional>
#include <string>
#include <vector>

#include "probes/awaitable.h"
#include "probes/prober.h"
#include "tests/dns/dnsmasq.h"
#include "tests/fake/fake_smtp_server.h"

namespace smtp {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;
using testing::Dnsmasq;

std::vector<std::string> Records() {
  return {
      "local=/test/",  // unknown names under .test are NXDOMAIN; nothing is forwarded
      // Out of order on purpose: only the expansion's sorting puts them in order.
      "mx-host=example.test,mx2.example.test,20",
      "mx-host=example.test,mx1.example.test,10",
      "mx-host=example.test,backup.example.test,30",
      "host-record=nomx.test,127.0.0.1",
      "mx-host=nullmx.test,.,0",  // RFC 7505
      "host-record=dual.test,127.0.0.1,::1",
      "mx-host=multi.test,mxa.multi.test,10",
      "mx-host=multi.test,mxb.multi.test,20",
      "host-record=mxa.multi.test,127.0.0.2,::1",
      "host-record=mxb.multi.test,127.0.0.3",
      "mx-host=broken.test,gone.broken.test,10",  // an MX host without addresses
      "mx-host=loop.test,smtp.loop.test,10",
      "host-record=smtp.loop.test,127.0.0.1",
  };
}

// The keys of `series`, in order: what makes each series what it is.
std::vector<std::string> Keys(const std::vector<ExpandedTarget>& series) {
  std::vector<std::string> keys;
  for (const ExpandedTarget& one : series) keys.push_back(one.key);
  return keys;
}

class ExpansionDnsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (Dnsmasq::Available()) server_ = Dnsmasq::Start(Records(), false, &start_error_);
  }
  static void TearDownTestSuite() { server_.reset(); }

  void SetUp() override {
    if (!Dnsmasq::Available()) GTEST_SKIP() << "dnsmasq is not installed";
    ASSERT_NE(server_, nullptr) << start_error_;
  }

  static ExpansionRequest Request(const std::string& text, IpProtocol protocol = IpProtocol::kIp4,
                                  std::string dns_server = "") {
    std::string error;
    std::optional<Target> target = ParseTarget(text, &error);
    EXPECT_TRUE(target) << error;
    ExpansionRequest request;
    request.target = target.value_or(Target{});
    request.label = text;
    request.default_port = 25;
    request.ip_protocol = protocol;
    request.dns_server =
        dns_server.empty() ? "127.0.0.1:" + std::to_string(server_->port()) : dns_server;
    request.timeout = milliseconds(5000);
    return request;
  }

  static std::unique_ptr<Dnsmasq> server_;
  static std::string start_error_;
};

std::unique_ptr<Dnsmasq> ExpansionDnsTest::server_;
std::string ExpansionDnsTest::start_error_;

TEST_F(ExpansionDnsTest, MxHostsInPreferenceOrderEachItsOwnSeries) {
  std::vector<ExpandedTarget> series = ExpandTarget(Request("mx:example.test"));
  ASSERT_EQ(Keys(series), (std::vector<std::string>{"|mx1.example.test", "|mx2.example.test",
                                                    "|backup.example.test"}));
  EXPECT_EQ(series[0].host, "mx1.example.test");
  EXPECT_EQ(series[0].label, "mx1.example.test:25");
  EXPECT_EQ(series[0].mx_preference, 10);
  EXPECT_EQ(series[2].mx_preference, 30);
  for (const ExpandedTarget& one : series) {
    EXPECT_EQ(one.domain, "example.test");
    EXPECT_EQ(one.mx_records, 3);
    EXPECT_FALSE(one.address) << "ip4: the probe resolves the MX host itself";
    EXPECT_FALSE(one.failure);
  }
}

TEST_F(ExpansionDnsTest, DomainWithoutMxIsProbedItselfAsTheImplicitMx) {
  // RFC 5321 §5.1: no MX records, the domain itself with preference 0.
  std::vector<ExpandedTarget> series = ExpandTarget(Request("mx:nomx.test"));
  ASSERT_EQ(series.size(), 1u);
  EXPECT_EQ(series[0].host, "nomx.test");
  EXPECT_EQ(series[0].key, "|nomx.test");
  EXPECT_EQ(series[0].mx_preference, 0);
  EXPECT_EQ(series[0].mx_records, 1);
  EXPECT_FALSE(series[0].failure);
}

TEST_F(ExpansionDnsTest, NullMxIsAFailureThatSaysTheDomainTakesNoMail) {
  std::vector<ExpandedTarget> series = ExpandTarget(Request("mx:nullmx.test"));
  ASSERT_EQ(series.size(), 1u);
  EXPECT_EQ(series[0].key, "");
  EXPECT_EQ(series[0].label, "mx:nullmx.test");
  EXPECT_EQ(series[0].mx_records, 0);
  ASSERT_TRUE(series[0].failure);
  EXPECT_EQ(series[0].failure->failed_step, Step::kResolve);
  EXPECT_EQ(series[0].failure->failure_reason, FailureReason::kDns);
  EXPECT_EQ(series[0].failure->failure_detail,
            "MX lookup for nullmx.test: null MX (RFC 7505): nullmx.test accepts no mail");
}

TEST_F(ExpansionDnsTest, UnknownDomainIsADnsFailure) {
  std::vector<ExpandedTarget> series = ExpandTarget(Request("mx:nothing.test"));
  ASSERT_EQ(series.size(), 1u);
  ASSERT_TRUE(series[0].failure);
  EXPECT_EQ(series[0].failure->failure_reason, FailureReason::kDns);
  EXPECT_EQ(series[0].failure->failure_detail,
            "MX lookup for nothing.test: NXDOMAIN for nothing.test");
  EXPECT_EQ(series[0].failure->host, "nothing.test");
  EXPECT_EQ(series[0].failure->port, 25);
}

TEST_F(ExpansionDnsTest, SilentServerEndsAtTheDeadlineAsTimeout) {
  testing::SilentUdpServer silent;
  ASSERT_TRUE(silent.ok());
  ExpansionRequest request = Request("mx:example.test", IpProtocol::kBoth, silent.Address());
  request.timeout = milliseconds(500);
  const auto start = Clock::now();
  std::vector<ExpandedTarget> series = ExpandTarget(request);
  const auto took = Clock::now() - start;
  ASSERT_EQ(series.size(), 1u);
  ASSERT_TRUE(series[0].failure);
  EXPECT_EQ(series[0].failure->failure_reason, FailureReason::kTimeout);
  EXPECT_EQ(series[0].failure->failed_step, Step::kResolve);
  EXPECT_GE(took, milliseconds(450));
  EXPECT_LT(took, milliseconds(1900)) << "the expansion's deadline, not c-ares' retries, ends it";
}

TEST_F(ExpansionDnsTest, BothFamiliesMakeOneSeriesPerAddressIpv6First) {
  std::vector<ExpandedTarget> series = ExpandTarget(Request("dual.test:2525", IpProtocol::kBoth));
  ASSERT_EQ(Keys(series), (std::vector<std::string>{"|::1", "|127.0.0.1"}));
  EXPECT_EQ(series[0].address, "::1");
  EXPECT_EQ(series[1].address, "127.0.0.1");
  for (const ExpandedTarget& one : series) {
    EXPECT_EQ(one.host, "dual.test");
    EXPECT_EQ(one.port, 2525);
    EXPECT_EQ(one.label, "dual.test:2525");
    EXPECT_EQ(one.domain, "");
    EXPECT_FALSE(one.mx_records);
  }
}

TEST_F(ExpansionDnsTest, MxWithBothFamiliesMakesOneSeriesPerAddressOfEachHost) {
  std::vector<ExpandedTarget> series = ExpandTarget(Request("mx:multi.test", IpProtocol::kBoth));
  ASSERT_EQ(Keys(series),
            (std::vector<std::string>{"|mxa.multi.test|::1", "|mxa.multi.test|127.0.0.2",
                                      "|mxb.multi.test|127.0.0.3"}));
  EXPECT_EQ(series[0].label, "mxa.multi.test:25");
  EXPECT_EQ(series[2].label, "mxb.multi.test:25");
  EXPECT_EQ(series[2].mx_preference, 20);
  for (const ExpandedTarget& one : series) EXPECT_EQ(one.mx_records, 2);
}

TEST_F(ExpansionDnsTest, MxHostWithoutAddressesIsItsOwnFailedSeries) {
  std::vector<ExpandedTarget> series = ExpandTarget(Request("mx:broken.test", IpProtocol::kBoth));
  ASSERT_EQ(series.size(), 1u);
  EXPECT_EQ(series[0].key, "|gone.broken.test");
  EXPECT_EQ(series[0].label, "gone.broken.test:25");
  ASSERT_TRUE(series[0].failure);
  EXPECT_EQ(series[0].failure->failure_reason, FailureReason::kDns);
  EXPECT_EQ(series[0].failure->host, "gone.broken.test");
}

TEST_F(ExpansionDnsTest, HostTargetsAndIpLiteralsNeedNoQuery) {
  testing::SilentUdpServer silent;
  ASSERT_TRUE(silent.ok());
  for (ExpansionRequest request : {Request("dual.test", IpProtocol::kIp4, silent.Address()),
                                   Request("dual.test", IpProtocol::kIp6, silent.Address()),
                                   Request("127.0.0.1:2525", IpProtocol::kBoth, silent.Address()),
                                   Request("[::1]:2525", IpProtocol::kBoth, silent.Address())}) {
    std::vector<ExpandedTarget> series = ExpandTarget(request);
    ASSERT_EQ(series.size(), 1u) << request.label;
    EXPECT_EQ(series[0].key, "") << request.label;
    EXPECT_EQ(series[0].label, request.label);
    EXPECT_FALSE(series[0].address) << request.label;
    EXPECT_FALSE(series[0].failure) << request.label;
  }
  EXPECT_EQ(silent.DrainDatagrams(), 0);
}

TEST_F(ExpansionDnsTest, ResolverThatCannotStartIsAFailedSeries) {
  std::vector<ExpandedTarget> series =
      ExpandTarget(Request("mx:example.test", IpProtocol::kIp4, "dns.example.test"));
  ASSERT_EQ(series.size(), 1u);
  EXPECT_EQ(series[0].key, "");
  EXPECT_EQ(series[0].mx_records, 0);
  ASSERT_TRUE(series[0].failure);
  EXPECT_EQ(series[0].failure->failure_reason, FailureReason::kDns);
  EXPECT_NE(series[0].failure->failure_detail.find("not an IP address"), std::string::npos)
      << series[0].failure->failure_detail;
}

TEST_F(ExpansionDnsTest, CallbackFormCompletesOnceOnTheLoop) {
  boost::asio::io_context io;
  int calls = 0;
  std::vector<ExpandedTarget> series;
  StartExpansion(io, Request("mx:example.test"), [&](std::vector<ExpandedTarget> done) {
    ++calls;
    series = std::move(done);
  });
  EXPECT_EQ(calls, 0) << "done runs on the loop, not inside StartExpansion";
  io.run();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(series.size(), 3u);
}

// The daemon's shape: expand, then probe each series, all as coroutines on the caller's loop.
TEST_F(ExpansionDnsTest, AwaitableFormsExpandThenProbeOnTheCallersExecutor) {
  testing::FakeSmtpServer smtp([](testing::Session& session) {
    testing::MtaBehavior behavior;
    behavior.banner = {"smtp.loop.test ESMTP"};
    testing::ServeStandardMta(session, behavior);
  });
  ExpansionRequest request = Request("mx:loop.test", IpProtocol::kBoth);
  request.default_port = smtp.port();
  boost::asio::io_context io;
  std::vector<ProbeResult> results;
  std::exception_ptr error;
  boost::asio::co_spawn(
      io,
      [&]() -> boost::asio::awaitable<void> {
        for (const ExpandedTarget& series : co_await Expand(request)) {
          EXPECT_FALSE(series.failure);
          ProbeSpec spec;
          spec.host = series.host;
          spec.port = series.port;
          spec.address = series.address;
          spec.starttls = StartTlsMode::kOff;
          spec.check_fcrdns = false;
          results.push_back(co_await Probe(spec));
        }
      },
      [&](std::exception_ptr thrown) { error = thrown; });
  io.run();
  ASSERT_FALSE(error);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_TRUE(results[0].success) << results[0].failure_detail;
  EXPECT_EQ(results[0].host, "smtp.loop.test");
  EXPECT_EQ(results[0].dns.connected_address, "127.0.0.1");
  EXPECT_EQ(results[0].FindStep(Step::kResolve), nullptr) << "the expansion resolved it";
  EXPECT_TRUE(smtp.Received("QUIT"));
}

}  // namespace
}  // namespace smtp

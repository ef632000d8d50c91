// Target expansion without a DNS server (probes/expansion.h, probes/dns_answer.h): the rules that
// turn DNS answers into series. The lookups themselves are tested in tests/dns.
#include "probes/expansion.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace smtp {
namespace {

using std::chrono::milliseconds;
using Hosts = std::vector<MxRecord>;
using Addresses = std::vector<std::string>;

ExpansionRequest Request(const std::string& text, IpProtocol protocol = IpProtocol::kIp4) {
  std::string error;
  std::optional<Target> target = ParseTarget(text, &error);
  EXPECT_TRUE(target) << text << ": " << error;
  ExpansionRequest request;
  request.target = target.value_or(Target{});
  request.label = text;
  request.default_port = 25;
  request.ip_protocol = protocol;
  request.timeout = milliseconds(5000);
  return request;
}

DnsAnswer<Hosts> MailHosts(Hosts hosts) { return {DnsStatus::kOk, "", std::move(hosts)}; }

TEST(ExpansionTest, OnlyMxTargetsAndHostNamesProbedPerAddressNeedDns) {
  EXPECT_FALSE(ExpansionNeedsDns(Request("mail.example.org")));
  EXPECT_FALSE(ExpansionNeedsDns(Request("mail.example.org", IpProtocol::kIp6)));
  EXPECT_TRUE(ExpansionNeedsDns(Request("mail.example.org", IpProtocol::kBoth)));
  EXPECT_FALSE(ExpansionNeedsDns(Request("192.0.2.1:25", IpProtocol::kBoth)));
  EXPECT_FALSE(ExpansionNeedsDns(Request("[2001:db8::1]:25", IpProtocol::kBoth)));
  EXPECT_TRUE(ExpansionNeedsDns(Request("mx:example.org")));
}

TEST(ExpansionTest, TargetItselfKeepsItsConfiguredLabelAndResolvesThePort) {
  ExpandedTarget series = TargetSeries(Request("mail.example.org"));
  EXPECT_EQ(series.host, "mail.example.org");
  EXPECT_EQ(series.port, 25);
  EXPECT_EQ(series.label, "mail.example.org");
  EXPECT_EQ(series.key, "");
  EXPECT_EQ(series.domain, "");
  EXPECT_FALSE(series.mx_records);
  EXPECT_FALSE(series.address);
  EXPECT_FALSE(series.failure);

  ExpansionRequest smtps = Request("[2001:db8::1]:2465");
  smtps.default_port = 465;
  EXPECT_EQ(TargetSeries(smtps).port, 2465) << "an explicit port wins over the default";
  EXPECT_EQ(TargetSeries(smtps).host, "2001:db8::1");
  smtps.target.port = 0;
  EXPECT_EQ(TargetSeries(smtps).port, 465);
}

TEST(ExpansionTest, MailHostsBecomeSeriesInTheAnswersOrder) {
  const ExpansionRequest request = Request("mx:example.org");
  std::vector<ExpandedTarget> series = MailHostSeries(
      request, MailHosts({{10, "MX1.example.org"}, {20, "mx2.example.org"}, {30, "2001:db8::25"}}),
      milliseconds(3));
  ASSERT_EQ(series.size(), 3u);
  EXPECT_EQ(series[0].host, "MX1.example.org");
  EXPECT_EQ(series[0].label, "MX1.example.org:25");
  EXPECT_EQ(series[0].key, "|mx1.example.org") << "keys are case-insensitive, like DNS names";
  EXPECT_EQ(series[0].mx_preference, 10);
  EXPECT_EQ(series[1].host, "mx2.example.org");
  EXPECT_EQ(series[1].mx_preference, 20);
  EXPECT_EQ(series[2].label, "[2001:db8::25]:25");
  for (const ExpandedTarget& one : series) {
    EXPECT_EQ(one.domain, "example.org");
    EXPECT_EQ(one.mx_records, 3);
    EXPECT_EQ(one.port, 25);
    EXPECT_FALSE(one.failure);
  }
}

TEST(ExpansionTest, FailedMxLookupKeepsTheTargetAsOneFailedSeries) {
  const ExpansionRequest request = Request("mx:nullmx.example");
  DnsAnswer<Hosts> null_mx{
      DnsStatus::kNullMx, "null MX (RFC 7505): nullmx.example accepts no mail", {}};
  std::vector<ExpandedTarget> series = MailHostSeries(request, null_mx, milliseconds(7));
  ASSERT_EQ(series.size(), 1u);
  const ExpandedTarget& target = series[0];
  EXPECT_EQ(target.label, "mx:nullmx.example");
  EXPECT_EQ(target.key, "");
  EXPECT_EQ(target.domain, "nullmx.example");
  EXPECT_EQ(target.mx_records, 0);
  ASSERT_TRUE(target.failure);
  const ProbeResult& failure = *target.failure;
  EXPECT_FALSE(failure.success);
  EXPECT_EQ(failure.host, "nullmx.example");
  EXPECT_EQ(failure.port, 25);
  EXPECT_EQ(failure.failed_step, Step::kResolve);
  EXPECT_EQ(failure.failure_reason, FailureReason::kDns);
  EXPECT_EQ(failure.failure_detail,
            "MX lookup for nullmx.example: null MX (RFC 7505): nullmx.example accepts no mail");
  EXPECT_EQ(failure.duration, milliseconds(7));

  EXPECT_TRUE(MailHostSeries(request, MailHosts({}), milliseconds(0))[0].failure)
      << "an empty answer is a failure too, never zero series";
}

TEST(ExpansionTest, LookupCutByTheDeadlineIsATimeout) {
  DnsAnswer<Hosts> cancelled{DnsStatus::kCancelled, "lookup of example.org MX cancelled", {}};
  std::vector<ExpandedTarget> series =
      MailHostSeries(Request("mx:example.org"), cancelled, milliseconds(5000));
  ASSERT_EQ(series.size(), 1u);
  EXPECT_EQ(series[0].failure->failure_reason, FailureReason::kTimeout);
  // The DNS server's own timeout (c-ares gave up) is the server's failure: dns.
  DnsAnswer<Hosts> server_timeout{DnsStatus::kTimeout, "timeout querying 192.0.2.53:53", {}};
  EXPECT_EQ(MailHostSeries(Request("mx:example.org"), server_timeout, milliseconds(1))[0]
                .failure->failure_reason,
            FailureReason::kDns);
}

TEST(ExpansionTest, EveryAddressIsASeriesKeyedBelowItsHost) {
  std::vector<ExpandedTarget> hosts =
      MailHostSeries(Request("mx:example.org", IpProtocol::kBoth),
                     MailHosts({{10, "mx1.example.org"}}), milliseconds(1));
  ASSERT_EQ(hosts.size(), 1u);
  std::vector<ExpandedTarget> series = AddressSeries(
      hosts[0], {DnsStatus::kOk, "", Addresses{"2001:db8::1", "192.0.2.1"}}, milliseconds(1));
  ASSERT_EQ(series.size(), 2u);
  EXPECT_EQ(series[0].address, "2001:db8::1");
  EXPECT_EQ(series[0].key, "|mx1.example.org|2001:db8::1");
  EXPECT_EQ(series[1].address, "192.0.2.1");
  EXPECT_EQ(series[1].key, "|mx1.example.org|192.0.2.1");
  for (const ExpandedTarget& one : series) {
    EXPECT_EQ(one.host, "mx1.example.org") << "the name stays, to verify and to report";
    EXPECT_EQ(one.label, "mx1.example.org:25");
    EXPECT_EQ(one.domain, "example.org");
    EXPECT_EQ(one.mx_records, 1);
  }

  ExpandedTarget plain = TargetSeries(Request("mail.example.org", IpProtocol::kBoth));
  series = AddressSeries(plain, {DnsStatus::kOk, "", Addresses{"192.0.2.7"}}, milliseconds(1));
  ASSERT_EQ(series.size(), 1u);
  EXPECT_EQ(series[0].key, "|192.0.2.7");
  EXPECT_EQ(series[0].label, "mail.example.org");
}

TEST(ExpansionTest, FailedAddressLookupKeepsTheHostAsOneFailedSeries) {
  ExpandedTarget plain = TargetSeries(Request("gone.example.org:2525", IpProtocol::kBoth));
  std::vector<ExpandedTarget> series = AddressSeries(
      plain, {DnsStatus::kNxDomain, "NXDOMAIN for gone.example.org", {}}, milliseconds(2));
  ASSERT_EQ(series.size(), 1u);
  EXPECT_EQ(series[0].key, "");
  EXPECT_FALSE(series[0].address);
  ASSERT_TRUE(series[0].failure);
  EXPECT_EQ(series[0].failure->host, "gone.example.org");
  EXPECT_EQ(series[0].failure->port, 2525);
  EXPECT_EQ(series[0].failure->failure_reason, FailureReason::kDns);
  EXPECT_EQ(series[0].failure->failure_detail,
            "cannot resolve gone.example.org: NXDOMAIN for gone.example.org");
}

TEST(ExpansionTest, FailureReadsLikeAProbeThatFailedAtResolve) {
  ProbeResult result =
      ExpansionFailure("mx.example.org", 25, DnsStatus::kServFail, "SERVFAIL", milliseconds(4));
  ASSERT_EQ(result.steps.size(), 1u);
  EXPECT_EQ(result.steps[0].step, Step::kResolve);
  EXPECT_FALSE(result.steps[0].ok);
  EXPECT_EQ(result.steps[0].reason, FailureReason::kDns);
  EXPECT_EQ(*result.steps[0].detail, "SERVFAIL");
  EXPECT_EQ(result.steps[0].duration, milliseconds(4));
  ASSERT_EQ(result.transcript.size(), 1u);
  EXPECT_EQ(result.transcript[0].text, "resolve failed (dns): SERVFAIL");
}

TEST(MailHostsTest, DomainWithoutMxIsItsOwnImplicitMx) {
  // RFC 5321 §5.1: no MX records, the domain itself with preference 0.
  DnsAnswer<Hosts> answer =
      MailHostsOf("nomx.example.", {DnsStatus::kNoData, "no MX records for nomx.example", {}});
  EXPECT_EQ(answer.status, DnsStatus::kOk);
  EXPECT_EQ(answer.error, "");
  EXPECT_EQ(answer.value, (Hosts{{0, "nomx.example"}}));
}

TEST(MailHostsTest, NullMxAndOtherFailuresAreNotTurnedIntoHosts) {
  for (DnsStatus status : {DnsStatus::kNullMx, DnsStatus::kNxDomain, DnsStatus::kServFail,
                           DnsStatus::kTimeout, DnsStatus::kCancelled}) {
    DnsAnswer<Hosts> answer = MailHostsOf("example.org", {status, "why", {}});
    EXPECT_EQ(answer.status, status) << ToString(status);
    EXPECT_TRUE(answer.value.empty()) << ToString(status);
  }
  DnsAnswer<Hosts> found = MailHostsOf("example.org", MailHosts({{5, "mx.example.org"}}));
  EXPECT_EQ(found.value, (Hosts{{5, "mx.example.org"}}));
}

TEST(MailHostsTest, SortedByPreferenceThenNameIgnoringCase) {
  Hosts hosts = {{20, "b.example"}, {10, "mx-B.example"}, {10, "mx-a.example"}, {0, "z.example"}};
  SortMailHosts(hosts);
  EXPECT_EQ(
      hosts,
      (Hosts{{0, "z.example"}, {10, "mx-a.example"}, {10, "mx-B.example"}, {20, "b.example"}}));
}

TEST(InternalErrorResultTest, ThrownExceptionBecomesAFailedResult) {
  ProbeResult result =
      InternalErrorResult(std::make_exception_ptr(std::runtime_error("no such step")));
  EXPECT_FALSE(result.success);
  EXPECT_EQ(result.failure_reason, FailureReason::kProtocol);
  EXPECT_EQ(result.failure_detail, "internal error: no such step");
  EXPECT_EQ(InternalErrorResult(std::make_exception_ptr(42)).failure_detail, "internal error");
}

}  // namespace
}  // namespace smtp

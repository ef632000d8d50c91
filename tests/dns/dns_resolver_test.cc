// DnsResolver against a private dnsmasq on 127.0.0.1 (authoritative for *.test, never
// forwarding) and against UDP sockets that never answer. No test uses the system resolver: every
// resolver is created with an explicit loopback server.
#include <utility>
// ^ Before any Boost.Asio header (g++ 12 coroutines); this line stops include sorting moving it.
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdio>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "probes/dns_resolver.h"
#include "tests/dns/dnsmasq.h"

namespace smtp {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using Names = std::vector<std::string>;
using ::smtp::testing::Dnsmasq;
using ::smtp::testing::SilentUdpServer;

constexpr int kBigMxCount = 30;

// A name whose MX answer (kBigMxCount long targets) exceeds the 512 octets of a plain UDP
// answer (RFC 1035 §4.2.1): dnsmasq truncates it and c-ares must retry over TCP.
std::string BigMxHost(int i) {
  char buffer[80];
  std::snprintf(buffer, sizeof(buffer), "mx%02d-with-a-rather-long-label-for-size.big.test", i);
  return buffer;
}

std::vector<std::string> Records() {
  std::vector<std::string> lines = {
      // Only local data for .test: unknown names get NXDOMAIN, nothing is forwarded.
      "local=/test/",
      "host-record=mail.test,192.0.2.25,2001:db8::25",  // also the PTRs of both addresses
      "host-record=v4only.test,192.0.2.26", "host-record=v6only.test,2001:db8::26",
      "host-record=nomx.test,192.0.2.27", "host-record=multi.test,192.0.2.31",
      "host-record=multi.test,192.0.2.32",
      // Out of order on purpose, with a tie at preference 10.
      "mx-host=example.test,mx2.example.test,20", "mx-host=example.test,mx1b.example.test,10",
      "mx-host=example.test,mx3.example.test,30", "mx-host=example.test,mx1a.example.test,10",
      "ptr-record=40.2.0.192.in-addr.arpa,ptr-only.test",
      "mx-host=nullmx.test,.,0",  // RFC 7505 null MX
  };
  // In reverse so that only sorting puts them in order.
  for (int i = kBigMxCount - 1; i >= 0; --i) {
    lines.push_back("mx-host=big.test," + BigMxHost(i) + "," + std::to_string(100 + i));
  }
  return lines;
}

// Runs `lookup` on `io` until it completes (or `limit` passes) and checks it completed once.
template <typename T>
std::optional<T> RunLookup(boost::asio::io_context& io, boost::asio::awaitable<T> lookup,
                           Clock::duration limit = 20s) {
  std::optional<T> result;
  int completions = 0;
  boost::asio::co_spawn(io, std::move(lookup), [&](std::exception_ptr error, T value) {
    ++completions;
    if (error) std::rethrow_exception(error);
    result = std::move(value);
  });
  io.restart();
  io.run_for(limit);
  EXPECT_EQ(completions, 1) << "the lookup must complete exactly once";
  return result;
}

std::unique_ptr<DnsResolver> MakeResolver(boost::asio::io_context& io, const std::string& server) {
  std::string error;
  std::unique_ptr<DnsResolver> resolver = DnsResolver::Create(io.get_executor(), server, &error);
  EXPECT_NE(resolver, nullptr) << server << ": " << error;
  return resolver;
}

// ---------------------------------------------------------------------------------------------
// Against dnsmasq.

class DnsmasqResolverTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!Dnsmasq::Available()) return;
    server_ = Dnsmasq::Start(Records(), testing::Ip6LoopbackUsable(), &start_error_);
  }
  static void TearDownTestSuite() { server_.reset(); }

  void SetUp() override {
    if (!Dnsmasq::Available()) {
      GTEST_SKIP() << Dnsmasq::kBinary << " not found; install dnsmasq-base to run the DNS tests";
    }
    ASSERT_NE(server_, nullptr) << start_error_;
    resolver_ = MakeResolver(io_, "127.0.0.1:" + std::to_string(server_->port()));
    ASSERT_NE(resolver_, nullptr);
  }

  void TearDown() override {
    if (HasFailure() && server_ != nullptr) std::fprintf(stderr, "%s", server_->Log().c_str());
  }

  DnsAnswer<Names> Addresses(const std::string& host, IpProtocol protocol) {
    return RunLookup(io_, resolver_->LookupAddresses(host, protocol)).value_or(DnsAnswer<Names>{});
  }
  DnsAnswer<std::vector<MxRecord>> Mx(const std::string& domain) {
    return RunLookup(io_, resolver_->LookupMx(domain)).value_or(DnsAnswer<std::vector<MxRecord>>{});
  }
  DnsAnswer<Names> Ptr(const std::string& address) {
    return RunLookup(io_, resolver_->LookupPtr(address)).value_or(DnsAnswer<Names>{});
  }

  static inline std::unique_ptr<Dnsmasq> server_;
  static inline std::string start_error_;

  boost::asio::io_context io_;  // declared before resolver_: outlives it
  std::unique_ptr<DnsResolver> resolver_;
};

TEST_F(DnsmasqResolverTest, Ip4AsksForARecordsOnly) {
  DnsAnswer<Names> answer = Addresses("mail.test", IpProtocol::kIp4);
  ASSERT_EQ(answer.status, DnsStatus::kOk) << answer.error;
  EXPECT_EQ(answer.value, Names({"192.0.2.25"}));
}

TEST_F(DnsmasqResolverTest, Ip6AsksForAaaaRecordsOnly) {
  DnsAnswer<Names> answer = Addresses("mail.test", IpProtocol::kIp6);
  ASSERT_EQ(answer.status, DnsStatus::kOk) << answer.error;
  EXPECT_EQ(answer.value, Names({"2001:db8::25"}));
}

TEST_F(DnsmasqResolverTest, BothListsIpv6AddressesFirst) {
  DnsAnswer<Names> answer = Addresses("mail.test", IpProtocol::kBoth);
  ASSERT_EQ(answer.status, DnsStatus::kOk) << answer.error;
  EXPECT_EQ(answer.value, Names({"2001:db8::25", "192.0.2.25"}));
}

TEST_F(DnsmasqResolverTest, BothSucceedsWhenOnlyOneFamilyExists) {
  DnsAnswer<Names> v4 = Addresses("v4only.test", IpProtocol::kBoth);
  ASSERT_EQ(v4.status, DnsStatus::kOk) << v4.error;
  EXPECT_EQ(v4.value, Names({"192.0.2.26"}));

  DnsAnswer<Names> v6 = Addresses("v6only.test", IpProtocol::kBoth);
  ASSERT_EQ(v6.status, DnsStatus::kOk) << v6.error;
  EXPECT_EQ(v6.value, Names({"2001:db8::26"}));
}

TEST_F(DnsmasqResolverTest, ReturnsEveryAddressOfAName) {
  DnsAnswer<Names> answer = Addresses("multi.test", IpProtocol::kIp4);
  ASSERT_EQ(answer.status, DnsStatus::kOk) << answer.error;
  Names sorted = answer.value;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, Names({"192.0.2.31", "192.0.2.32"}));
}

TEST_F(DnsmasqResolverTest, MissingFamilyIsNoData) {
  DnsAnswer<Names> answer = Addresses("v6only.test", IpProtocol::kIp4);
  EXPECT_EQ(answer.status, DnsStatus::kNoData) << answer.error;
  EXPECT_NE(answer.error.find("v6only.test"), std::string::npos) << answer.error;
}

TEST_F(DnsmasqResolverTest, UnknownNameIsNxDomain) {
  for (IpProtocol protocol : {IpProtocol::kIp4, IpProtocol::kIp6, IpProtocol::kBoth}) {
    DnsAnswer<Names> answer = Addresses("no-such-host.test", protocol);
    EXPECT_EQ(answer.status, DnsStatus::kNxDomain) << ToString(protocol) << ": " << answer.error;
    EXPECT_EQ(answer.error, "NXDOMAIN for no-such-host.test");
  }
}

TEST_F(DnsmasqResolverTest, RefusedQueryIsServFail) {
  // dnsmasq has no upstream, so it refuses names outside its local domains (RFC 1035 §4.1.1
  // RCODE 5). Nothing is forwarded: there is nowhere to forward to.
  DnsAnswer<Names> answer = Addresses("outside.invalid", IpProtocol::kIp4);
  EXPECT_EQ(answer.status, DnsStatus::kServFail) << answer.error;
}

TEST_F(DnsmasqResolverTest, MxSortedByPreferenceThenName) {
  DnsAnswer<std::vector<MxRecord>> answer = Mx("example.test");
  ASSERT_EQ(answer.status, DnsStatus::kOk) << answer.error;
  EXPECT_EQ(answer.value, (std::vector<MxRecord>{{10, "mx1a.example.test"},
                                                 {10, "mx1b.example.test"},
                                                 {20, "mx2.example.test"},
                                                 {30, "mx3.example.test"}}));
}

TEST_F(DnsmasqResolverTest, TruncatedMxAnswerIsRetriedOverTcp) {
  DnsAnswer<std::vector<MxRecord>> answer = Mx("big.test");
  ASSERT_EQ(answer.status, DnsStatus::kOk) << answer.error;
  ASSERT_EQ(answer.value.size(), static_cast<std::size_t>(kBigMxCount));
  for (int i = 0; i < kBigMxCount; ++i) {
    EXPECT_EQ(answer.value[i], (MxRecord{100 + i, BigMxHost(i)})) << i;
  }
}

TEST_F(DnsmasqResolverTest, NameWithoutMxIsNoData) {
  DnsAnswer<std::vector<MxRecord>> answer = Mx("nomx.test");
  EXPECT_EQ(answer.status, DnsStatus::kNoData) << answer.error;
  EXPECT_TRUE(answer.value.empty());
}

TEST_F(DnsmasqResolverTest, NullMxIsItsOwnStatusWithReason) {
  // RFC 7505: the domain accepts no mail; "." is not a host to probe.
  DnsAnswer<std::vector<MxRecord>> answer = Mx("nullmx.test");
  EXPECT_EQ(answer.status, DnsStatus::kNullMx) << answer.error;
  EXPECT_TRUE(answer.value.empty());
  EXPECT_NE(answer.error.find("null MX"), std::string::npos) << answer.error;
}

TEST_F(DnsmasqResolverTest, MxOfUnknownDomainIsNxDomain) {
  DnsAnswer<std::vector<MxRecord>> answer = Mx("no-such-domain.test");
  EXPECT_EQ(answer.status, DnsStatus::kNxDomain) << answer.error;
}

TEST_F(DnsmasqResolverTest, PtrOfIpv4Address) {
  DnsAnswer<Names> answer = Ptr("192.0.2.25");
  ASSERT_EQ(answer.status, DnsStatus::kOk) << answer.error;
  EXPECT_EQ(answer.value, Names({"mail.test"}));

  DnsAnswer<Names> explicit_ptr = Ptr("192.0.2.40");
  ASSERT_EQ(explicit_ptr.status, DnsStatus::kOk) << explicit_ptr.error;
  EXPECT_EQ(explicit_ptr.value, Names({"ptr-only.test"}));
}

TEST_F(DnsmasqResolverTest, PtrOfIpv6Address) {
  DnsAnswer<Names> answer = Ptr("2001:db8::25");
  ASSERT_EQ(answer.status, DnsStatus::kOk) << answer.error;
  EXPECT_EQ(answer.value, Names({"mail.test"}));
}

TEST_F(DnsmasqResolverTest, PtrOfNonAddressIsError) {
  DnsAnswer<Names> answer = Ptr("mail.test");
  EXPECT_EQ(answer.status, DnsStatus::kError);
  EXPECT_FALSE(answer.error.empty());
}

TEST_F(DnsmasqResolverTest, ConcurrentLookupsOnOneResolver) {
  std::optional<DnsAnswer<Names>> a;
  std::optional<DnsAnswer<std::vector<MxRecord>>> mx;
  std::optional<DnsAnswer<Names>> ptr;
  auto store = [](auto& slot) {
    return [&slot](std::exception_ptr error, auto value) {
      if (error) std::rethrow_exception(error);
      slot = std::move(value);
    };
  };
  boost::asio::co_spawn(io_, resolver_->LookupAddresses("mail.test", IpProtocol::kBoth), store(a));
  boost::asio::co_spawn(io_, resolver_->LookupMx("big.test"), store(mx));
  boost::asio::co_spawn(io_, resolver_->LookupPtr("2001:db8::25"), store(ptr));
  io_.run_for(20s);
  ASSERT_TRUE(a && mx && ptr);
  EXPECT_EQ(a->value, Names({"2001:db8::25", "192.0.2.25"}));
  EXPECT_EQ(mx->value.size(), static_cast<std::size_t>(kBigMxCount));
  EXPECT_EQ(ptr->value, Names({"mail.test"}));
}

TEST_F(DnsmasqResolverTest, UsableAfterCancel) {
  resolver_->Cancel();
  DnsAnswer<Names> answer = Addresses("mail.test", IpProtocol::kIp4);
  EXPECT_EQ(answer.status, DnsStatus::kOk) << answer.error;
}

TEST_F(DnsmasqResolverTest, ServerOnIpv6Loopback) {
  if (!server_->listens_ip6()) GTEST_SKIP() << "no ::1 on this host";
  std::unique_ptr<DnsResolver> resolver =
      MakeResolver(io_, "[::1]:" + std::to_string(server_->port()));
  ASSERT_NE(resolver, nullptr);
  auto answer = RunLookup(io_, resolver->LookupAddresses("mail.test", IpProtocol::kIp4));
  ASSERT_TRUE(answer);
  ASSERT_EQ(answer->status, DnsStatus::kOk) << answer->error;
  EXPECT_EQ(answer->value, Names({"192.0.2.25"}));
}

// ---------------------------------------------------------------------------------------------
// Without dnsmasq: silent and closed servers, cancellation, literals, server strings.

class DnsResolverTest : public ::testing::Test {
 protected:
  boost::asio::io_context io_;
};

TEST_F(DnsResolverTest, StatusNames) {
  EXPECT_STREQ(ToString(DnsStatus::kOk), "ok");
  EXPECT_STREQ(ToString(DnsStatus::kNxDomain), "nxdomain");
  EXPECT_STREQ(ToString(DnsStatus::kNoData), "nodata");
  EXPECT_STREQ(ToString(DnsStatus::kTimeout), "timeout");
  EXPECT_STREQ(ToString(DnsStatus::kServFail), "servfail");
  EXPECT_STREQ(ToString(DnsStatus::kCancelled), "cancelled");
  EXPECT_STREQ(ToString(DnsStatus::kError), "error");
}

TEST_F(DnsResolverTest, CreateAcceptsIpServerForms) {
  // Creating a resolver sends nothing; these only exercise parsing.
  // "" is the system resolver: c-ares reads /etc/resolv.conf, but nothing is looked up here.
  for (const char* server : {"", "127.0.0.1", "127.0.0.1:5353", "[::1]:53", "[::1]", "::1"}) {
    std::string error;
    EXPECT_NE(DnsResolver::Create(io_.get_executor(), server, &error), nullptr)
        << server << ": " << error;
  }
}

TEST_F(DnsResolverTest, CreateRejectsBadServers) {
  for (const char* server : {"dns.example:53", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:",
                             "127.0.0.1:53x", "[::1", "[::1]53", "[::1]:", "1.2.3", "::1:53:"}) {
    std::string error;
    EXPECT_EQ(DnsResolver::Create(io_.get_executor(), server, &error), nullptr) << server;
    EXPECT_FALSE(error.empty()) << server;
  }
}

TEST_F(DnsResolverTest, IpLiteralsNeedNoQuery) {
  SilentUdpServer silent;
  ASSERT_TRUE(silent.ok());
  std::unique_ptr<DnsResolver> resolver = MakeResolver(io_, silent.Address());
  ASSERT_NE(resolver, nullptr);
  struct Case {
    const char* host;
    IpProtocol protocol;
    const char* expected;
  };
  for (const Case& c : {Case{"192.0.2.1", IpProtocol::kIp4, "192.0.2.1"},
                        Case{"2001:db8::1", IpProtocol::kIp6, "2001:db8::1"},
                        Case{"2001:db8::1", IpProtocol::kBoth, "2001:db8::1"},
                        Case{"[2001:db8::1]", IpProtocol::kIp4, "2001:db8::1"}}) {
    const auto start = Clock::now();
    auto answer = RunLookup(io_, resolver->LookupAddresses(c.host, c.protocol), 5s);
    EXPECT_LT(Clock::now() - start, 500ms) << c.host;
    ASSERT_TRUE(answer) << c.host;
    EXPECT_EQ(answer->status, DnsStatus::kOk) << c.host << ": " << answer->error;
    EXPECT_EQ(answer->value, Names({c.expected})) << c.host;
  }
  EXPECT_EQ(silent.DrainDatagrams(), 0) << "an IP literal must not cause a query";
}

TEST_F(DnsResolverTest, SilentServerTimesOut) {
  SilentUdpServer silent;
  ASSERT_TRUE(silent.ok());
  std::unique_ptr<DnsResolver> resolver = MakeResolver(io_, silent.Address());
  ASSERT_NE(resolver, nullptr);
  const auto start = Clock::now();
  auto answer = RunLookup(io_, resolver->LookupMx("example.test"), 30s);
  const auto elapsed = Clock::now() - start;
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, DnsStatus::kTimeout) << answer->error;
  EXPECT_NE(answer->error.find(silent.Address()), std::string::npos) << answer->error;
  // Two tries of 2 s and 4 s (c-ares doubles the timeout per round).
  EXPECT_GT(elapsed, 1s);
  EXPECT_LT(elapsed, 10s);
  EXPECT_GE(silent.DrainDatagrams(), 1) << "the query should have reached the silent server";
}

TEST_F(DnsResolverTest, ClosedPortIsServFail) {
  // The kernel answers with ICMP port unreachable; c-ares reports ARES_ECONNREFUSED.
  const int port = testing::ClosedUdpPort();
  ASSERT_NE(port, 0);
  std::unique_ptr<DnsResolver> resolver = MakeResolver(io_, "127.0.0.1:" + std::to_string(port));
  ASSERT_NE(resolver, nullptr);
  const auto start = Clock::now();
  auto answer = RunLookup(io_, resolver->LookupAddresses("mail.test", IpProtocol::kIp4), 30s);
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, DnsStatus::kServFail) << answer->error;
  EXPECT_LT(Clock::now() - start, 2s);
}

TEST_F(DnsResolverTest, CancelCompletesPendingLookupsPromptly) {
  SilentUdpServer silent;
  ASSERT_TRUE(silent.ok());
  std::unique_ptr<DnsResolver> resolver = MakeResolver(io_, silent.Address());
  ASSERT_NE(resolver, nullptr);

  int completions = 0;
  std::optional<DnsAnswer<Names>> addresses;
  std::optional<DnsAnswer<std::vector<MxRecord>>> mx;
  boost::asio::co_spawn(io_, resolver->LookupAddresses("mail.test", IpProtocol::kBoth),
                        [&](std::exception_ptr, DnsAnswer<Names> answer) {
                          ++completions;
                          addresses = std::move(answer);
                        });
  boost::asio::co_spawn(io_, resolver->LookupMx("example.test"),
                        [&](std::exception_ptr, DnsAnswer<std::vector<MxRecord>> answer) {
                          ++completions;
                          mx = std::move(answer);
                        });
  boost::asio::steady_timer deadline(io_, 200ms);
  deadline.async_wait([&](boost::system::error_code) { resolver->Cancel(); });

  const auto start = Clock::now();
  io_.run_for(5s);
  EXPECT_LT(Clock::now() - start, 1s);
  EXPECT_EQ(completions, 2);
  ASSERT_TRUE(addresses && mx);
  EXPECT_EQ(addresses->status, DnsStatus::kCancelled) << addresses->error;
  EXPECT_EQ(mx->status, DnsStatus::kCancelled) << mx->error;
  EXPECT_TRUE(io_.stopped()) << "nothing may be left running after Cancel()";
}

TEST_F(DnsResolverTest, DestroyingResolverCompletesPendingLookups) {
  SilentUdpServer silent;
  ASSERT_TRUE(silent.ok());
  std::unique_ptr<DnsResolver> resolver = MakeResolver(io_, silent.Address());
  ASSERT_NE(resolver, nullptr);

  int completions = 0;
  std::optional<DnsAnswer<Names>> ptr;
  boost::asio::co_spawn(io_, resolver->LookupPtr("192.0.2.25"),
                        [&](std::exception_ptr, DnsAnswer<Names> answer) {
                          ++completions;
                          ptr = std::move(answer);
                        });
  boost::asio::steady_timer deadline(io_, 200ms);
  deadline.async_wait([&](boost::system::error_code) { resolver.reset(); });

  const auto start = Clock::now();
  io_.run_for(5s);
  EXPECT_LT(Clock::now() - start, 1s);
  EXPECT_EQ(completions, 1);
  ASSERT_TRUE(ptr);
  EXPECT_EQ(ptr->status, DnsStatus::kCancelled) << ptr->error;
  EXPECT_TRUE(io_.stopped());
}

}  // namespace
}  // namespace smtp

// DNS blocklist rules (probes/dnsbl.h, RFC 5782): query names and what an answer means.
#include "probes/dnsbl.h"

#include <gtest/gtest.h>

namespace smtp {
namespace {

TEST(Dnsbl, Ipv4QueryNameIsTheReversedOctets) {
  EXPECT_EQ(DnsblQueryName("192.0.2.99", "bl.example"), "99.2.0.192.bl.example");
  EXPECT_EQ(DnsblQueryName("127.0.0.2", "bl.example."), "2.0.0.127.bl.example");
}

TEST(Dnsbl, Ipv6QueryNameIsTheReversedNibbles) {
  // RFC 5782 §2.4's example.
  EXPECT_EQ(DnsblQueryName("2001:db8:1:2:3:4:567:89ab", "ugly.example.com"),
            "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ugly.example.com");
  EXPECT_EQ(DnsblQueryName("::1", "bl.example"),
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.bl.example");
}

TEST(Dnsbl, NotAnAddressHasNoQueryName) {
  EXPECT_FALSE(DnsblQueryName("mx.example", "bl.example"));
  EXPECT_FALSE(DnsblQueryName("", "bl.example"));
}

TEST(Dnsbl, AnswersMeanListedNotListedRefusedOrError) {
  EXPECT_EQ(ClassifyDnsblAnswer({}), DnsblStatus::kNotListed);  // NXDOMAIN
  EXPECT_EQ(ClassifyDnsblAnswer({"127.0.0.2"}), DnsblStatus::kListed);
  EXPECT_EQ(ClassifyDnsblAnswer({"127.0.0.4", "127.0.0.10"}), DnsblStatus::kListed);
  // Spamhaus' "query refused" codes (public resolver, rate limit): no listing.
  EXPECT_EQ(ClassifyDnsblAnswer({"127.255.255.254"}), DnsblStatus::kRefused);
  EXPECT_EQ(ClassifyDnsblAnswer({"127.255.255.255"}), DnsblStatus::kRefused);
  // A resolver rewriting NXDOMAIN to a web server's address: not a DNSBL answer.
  EXPECT_EQ(ClassifyDnsblAnswer({"198.51.100.7"}), DnsblStatus::kError);
  EXPECT_EQ(ClassifyDnsblAnswer({"127.0.0.2", "198.51.100.7"}), DnsblStatus::kError);
}

TEST(Dnsbl, ZoneNames) {
  EXPECT_TRUE(IsDnsblZone("zen.spamhaus.org"));
  EXPECT_TRUE(IsDnsblZone("bl.test."));
  EXPECT_TRUE(IsDnsblZone("b.barracudacentral.org"));
  EXPECT_FALSE(IsDnsblZone(""));
  EXPECT_FALSE(IsDnsblZone("."));
  EXPECT_FALSE(IsDnsblZone("bl..test"));
  EXPECT_FALSE(IsDnsblZone("bl test"));
  EXPECT_FALSE(IsDnsblZone("bl.test\n"));
  EXPECT_FALSE(IsDnsblZone(std::string(64, 'a') + ".test"));
  EXPECT_FALSE(IsDnsblZone(std::string(181, 'a')));
}

TEST(Dnsbl, StatusWords) {
  std::vector<std::string> words;
  for (DnsblStatus s : kDnsblStatuses) words.push_back(ToString(s));
  EXPECT_EQ(words,
            (std::vector<std::string>{"listed", "not_listed", "refused", "error", "timeout"}));
}

}  // namespace
}  // namespace smtp

// DNS blocklists (RFC 5782): is an MX address listed in a configured zone? Plain data and pure
// rules; the lookups are the probe engine's (probes/probe_domain.cc).
//
//   query      <address reversed>.<zone> A     192.0.2.99 in bl.example -> 99.2.0.192.bl.example
//                                              IPv6: 32 nibbles, least significant first (§2.4)
//   listed     an A record in 127.0.0.0/8 (§2.3; the last octet is the zone's return code), and
//              the TXT record of the same name as the reason (§2.1)
//   not listed NXDOMAIN (§2.1)
// Some zones answer 127.255.255.x instead of a listing when they refuse the query (Spamhaus:
// queries through public or open resolvers, or over the rate limit); that is kRefused, not a
// listing. Any other address is no listing either (an ISP resolver rewriting NXDOMAIN): kError.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace smtp {

enum class DnsblStatus {
  kNotListed,
  kListed,
  kRefused,  // the zone answered 127.255.255.x: it refuses to answer this resolver
  kError,    // SERVFAIL, REFUSED, NODATA, or an answer outside 127.0.0.0/8
  kTimeout,  // no answer before the probe's deadline (or the resolver's tries)
};
// "not_listed", "listed", "refused", "error", "timeout"
const char* ToString(DnsblStatus status);
inline constexpr DnsblStatus kDnsblStatuses[] = {DnsblStatus::kListed, DnsblStatus::kNotListed,
                                                 DnsblStatus::kRefused, DnsblStatus::kError,
                                                 DnsblStatus::kTimeout};

struct DnsblResult {
  std::string zone;
  std::string address;  // the MX address asked about
  DnsblStatus status = DnsblStatus::kError;
  std::vector<std::string> codes;  // the A records answered ("127.0.0.2"), in the server's order
  std::string reason;              // the TXT record when listed ("" when it has none)
  std::string detail;              // for kError and kTimeout, one line
};

// The name to query for `address` (an IPv4 or IPv6 literal) in `zone` (RFC 5782 §2.1, §2.4);
// nullopt when `address` is not an IP literal.
std::optional<std::string> DnsblQueryName(std::string_view address, std::string_view zone);

// The status an A answer means: `addresses` are its records (empty for NXDOMAIN).
DnsblStatus ClassifyDnsblAnswer(const std::vector<std::string>& addresses);

// A DNSBL zone as the config names it: a DNS name (letters, digits, '-' and '_' in labels of at
// most 63 octets; one optional trailing dot) of at most 180 octets, which leaves room within a
// name's 253 for the 64 nibbles and dots of a reversed IPv6 address.
bool IsDnsblZone(std::string_view zone);

}  // namespace smtp

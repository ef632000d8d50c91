// Private to probes/dns_resolver.cc: c-ares' side of a lookup that involves no I/O. The DNS
// server setting, the queries, and the messages c-ares hands back turned into DnsAnswers with
// errors that name what was asked, of whom, and what went wrong. The resolver (dns_resolver.cc)
// only drives c-ares on the Asio loop.
#pragma once

#include <ares.h>
#include <arpa/nameser.h>
#include <sys/socket.h>

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "probes/dane.h"
#include "probes/dns_answer.h"

namespace smtp::dns {

constexpr int kDefaultPort = 53;  // RFC 1035 §4.2

// The outcome of one c-ares query: its status and, on success, the whole DNS message.
struct RawAnswer {
  int status = ARES_ENOTINITIALIZED;
  std::vector<unsigned char> message;
};

struct Query {
  std::string name;
  int type = ns_t_a;
  // true: ares_search, which applies the resolv.conf search list and ndots like getaddrinfo;
  // false: ares_query, for names that are absolute by construction (in-addr.arpa, ip6.arpa).
  bool search = true;
  // Sent as built by DnssecQueryMessage (ares_send: the answer's rcode and AD bit are ours to
  // read) instead of ares_query/ares_search.
  bool dnssec = false;
};

// A query for `name` and `type` with RD, AD set (RFC 6840 §5.7: asks a validating resolver to
// say whether it validated the answer) and EDNS0 with a 1232-octet payload; nullopt when
// c-ares cannot encode the name.
std::optional<std::vector<unsigned char>> DnssecQueryMessage(const std::string& name, int type);

// A TLSA answer (RFC 6698 §2.1) to a DnssecQueryMessage: NXDOMAIN and NOERROR without TLSA
// records are failures (kNxDomain, kNoData) as for the other types, SERVFAIL (what a validating
// resolver answers for a bogus signature) and REFUSED are kServFail; at most 32 records.
DnsAnswer<TlsaAnswer> ParseTlsa(const RawAnswer& raw, const Query& query,
                                const std::string& server);

// An explicit DNS server: "IP", "IP:port", "[IPv6]:port", "[IPv6]" or a bare IPv6 literal. Host
// names are refused: the resolver cannot resolve its own server without another resolver.
struct ServerAddress {
  int family = AF_INET;
  std::array<unsigned char, 16> bytes{};
  int port = kDefaultPort;
  std::string label;  // for error messages: "192.0.2.53:53", "[2001:db8::53]:53"
};
std::optional<ServerAddress> ParseServer(std::string_view text, std::string* error);

DnsStatus MapStatus(int ares_status);
// "NXDOMAIN for mx.test", "timeout querying 127.0.0.1:53 for mx.test A", ...
std::string FailureText(int ares_status, const Query& query, const std::string& server);

template <typename T>
DnsAnswer<T> Failure(int ares_status, const Query& query, const std::string& server) {
  return DnsAnswer<T>{MapStatus(ares_status), FailureText(ares_status, query, server), T{}};
}

// Names c-ares would mangle: it works on C strings. Everything else (label length, total length)
// c-ares checks itself and reports as ARES_EBADNAME.
bool UsableName(const std::string& name);
std::string BadNameText(const std::string& name);

std::string StripBrackets(std::string text);  // "[2001:db8::1]" -> "2001:db8::1"

// An A or AAAA answer (query.type says which) as address literals.
DnsAnswer<std::vector<std::string>> ParseAddresses(const RawAnswer& raw, const Query& query,
                                                   const std::string& server);
// The answers of the AAAA and A queries of one name, in that order, as one: every address of the
// families that answered; when none did, the most telling failure (NXDOMAIN before a timeout
// before SERVFAIL ... before "no AAAA records"). A cancelled part cancels the whole.
DnsAnswer<std::vector<std::string>> CombineAddresses(
    std::vector<DnsAnswer<std::vector<std::string>>> parts);

// A TXT answer: one string per record, its character-strings concatenated (RFC 7208 §3.3, RFC
// 8460 §3 and RFC 8461 §3.1 read multi-string records so), in the server's order.
DnsAnswer<std::vector<std::string>> ParseTxt(const RawAnswer& raw, const Query& query,
                                             const std::string& server);

// An MX answer, sorted (SortMailHosts); a null MX (RFC 7505) is kNullMx, no records kNoData.
DnsAnswer<std::vector<MxRecord>> ParseMx(const RawAnswer& raw, const Query& query,
                                         const std::string& server);

// The PTR query name of an address (RFC 1035 §3.5 in-addr.arpa, RFC 3596 §2.5 ip6.arpa), with
// its family and bytes for ParsePtr; nullopt when `address` is not an IP literal.
struct ReverseQuery {
  std::string name;
  int family = AF_INET;
  std::array<unsigned char, 16> bytes{};
};
std::optional<ReverseQuery> ReverseName(const std::string& address);
// PTR targets without trailing dots, in the server's order, without repeats.
DnsAnswer<std::vector<std::string>> ParsePtr(const RawAnswer& raw, const Query& query,
                                             const std::string& server,
                                             const ReverseQuery& reverse);

}  // namespace smtp::dns

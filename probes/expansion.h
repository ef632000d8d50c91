// Target expansion (DESIGN §1 "Targets", §3 "expand targets"): a configured target becomes the
// series that are probed, one probe and one result each. One expansion for the daemon and the CLI.
//
//   host[:port], ip4 or ip6   one series: the target itself; no DNS query (the probe resolves)
//   IP literal                one series: the target itself; no DNS query
//   host[:port], both         one series per address of the host: AAAA first, then A
//   mx:domain                 one series per mail host of the domain (RFC 5321 §5.1): its MX
//                             records in preference order, ties by name; or, when it has none,
//                             the domain itself (the implicit MX)
//   mx:domain, both           one series per address of each mail host (an IP literal as mail
//                             host stays one series)
//
// DNS failures are data. A resolver that cannot start, a failed MX lookup, a null MX (RFC 7505:
// the domain takes no mail, so it has nothing to probe), an empty answer or a failed address
// lookup each yield a series with `failure` set: the result to report for it instead of probing,
// with step resolve and reason dns, or timeout when the expansion's deadline cut the lookup. A
// valid request therefore never yields an empty vector.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "probes/dns_answer.h"
#include "probes/probe_result.h"
#include "probes/probe_spec.h"
#include "probes/target.h"

namespace boost::asio {
class io_context;
}

namespace smtp {

// One probed series of a configured target.
struct ExpandedTarget {
  std::string host;                    // where to connect: the MX host, or the configured host
  std::uint16_t port = 0;              // resolved port (never 0)
  std::optional<std::string> address;  // ip_protocol both: the one IP literal to connect to
  // The `target` label: the configured address, or "<mx host>:<port>" ("[v6]:port" for IPv6
  // literals).
  std::string label;
  std::string domain;                // mx: targets: the domain (the `domain` label); "" otherwise
  std::optional<int> mx_records;     // mx: targets: MX records of the domain (0: lookup failed)
  std::optional<int> mx_preference;  // mx: targets: the MX preference of `host` (implicit MX: 0)
  // Stable id of the series within its configured target: "" for the target itself,
  // "|<lowercased mx host>", "|<address>", or "|<lowercased mx host>|<address>".
  std::string key;
  // Expansion failed: the result that stands for this series (step resolve; reason dns, or
  // timeout when the deadline cut it). host and port are set, so the series is labelled.
  std::optional<ProbeResult> failure;
};

struct ExpansionRequest {
  Target target;      // probes/target.h, parsed "host[:port]" or "mx:domain"
  std::string label;  // the configured address text, used as `label` when not expanded by MX
  std::uint16_t default_port = 25;            // used when target.port == 0
  IpProtocol ip_protocol = IpProtocol::kIp4;  // kBoth = one series per address of each host
  std::string dns_server;                     // "" = system resolver; else "IP[:port]"
  std::chrono::milliseconds timeout{10000};   // one deadline for the whole expansion
};

// Starts the expansion on `io`; `done` is called once, on `io`'s thread.
void StartExpansion(boost::asio::io_context& io, ExpansionRequest request,
                    std::function<void(std::vector<ExpandedTarget>)> done);

// Blocking form for the CLI: runs the expansion on a private io_context (none when no DNS query
// is needed).
std::vector<ExpandedTarget> ExpandTarget(const ExpansionRequest& request);

// --- The pure steps: DNS answers in, series out. What the forms above do between their lookups,
// exposed so that the rules are testable without a DNS server.

// Whether expanding `request` queries DNS: an mx: target, or ip_protocol both on a host name.
bool ExpansionNeedsDns(const ExpansionRequest& request);

// The series of the configured target itself: host and resolved port, label request.label, key
// "", and for an mx: target its domain.
ExpandedTarget TargetSeries(const ExpansionRequest& request);

// The series of an mx: target from its mail hosts (`mail_hosts`: MailHostsOf applied to its MX
// answer, so already ordered and with the implicit MX): one per host, in that order, labelled
// "<host>:<port>", keyed "|<lowercased host>", with the host's preference and mx_records = the
// number of hosts. A failed or empty answer yields TargetSeries(request) with mx_records 0 and
// `failure` set, detail "MX lookup for <domain>: <error>". `took`: the lookup's duration.
std::vector<ExpandedTarget> MailHostSeries(const ExpansionRequest& request,
                                           const DnsAnswer<std::vector<MxRecord>>& mail_hosts,
                                           std::chrono::nanoseconds took);

// The series of `host` per address, for ip_protocol both (`addresses`: its AAAA then A answer):
// copies of `host` with `address` set and "|<address>" appended to the key, in the answer's
// order. A failed or empty answer yields `host` with `failure` set, detail
// "cannot resolve <host>: <error>".
std::vector<ExpandedTarget> AddressSeries(const ExpandedTarget& host,
                                          const DnsAnswer<std::vector<std::string>>& addresses,
                                          std::chrono::nanoseconds took);

// The result that stands for a series whose expansion failed: as a probe that failed at its
// resolve step (one step, `took` long, detail in the step, the result and the transcript),
// reason timeout when `status` is kCancelled (the expansion's deadline cancelled the lookup),
// else dns.
ProbeResult ExpansionFailure(const std::string& host, std::uint16_t port, DnsStatus status,
                             const std::string& detail, std::chrono::nanoseconds took);

}  // namespace smtp

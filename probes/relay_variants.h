// The open-relay test's envelope variants, after nmap's smtp-open-relay (see REFERENCE.md).
// Each variant is one MAIL FROM / RCPT TO pair; the prober sends RSET between variants and never
// DATA. Pure: builds the addresses from the configured sender and recipient and from what the
// server told us (its banner name and its address).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace smtp {

struct RelayEnvelope {
  std::string variant;    // e.g. "percent_name"
  std::string mail_from;  // path argument without "FROM:", e.g. "<probe@example.org>" or "<>"
  std::string rcpt_to;    // path argument without "TO:", e.g. "<relaytest%example.net@mx.test>"
  // An address hack: the foreign address hides in a local part addressed to `local_domain`, one
  // of the server's own names ("mx.test", "[192.0.2.1]"), or to no domain at all (""). Such an
  // acceptance proves relaying only when that name refuses a random local part (DESIGN §1).
  // False for the variants whose recipient is foreign as written (external, null sender, the
  // spoofed senders, source routes, which RFC 5321 §3.6.1 and Appendix C say to strip).
  bool hack = false;
  std::string local_domain;
  bool operator==(const RelayEnvelope&) const = default;
};

// Addresses: D is the domain of `rcpt_to`, and the local part of `rcpt_to` is used where
// REFERENCE.md writes "relaytest" (so operators recognise the probe in their logs), e.g.
// "<relay-test%example.net@mx.test>". MAIL FROM is "<>" for null_sender, "<local@SRV>" for
// spoof_local_name and "<local@[IP]>" for spoof_local_ip (local = local part of `mail_from`),
// and the configured `mail_from` for every other variant. IPv6 addresses are written as
// "[IPv6:...]" (RFC 5321 §4.1.3).
struct RelayContext {
  std::string mail_from;    // configured sender, e.g. "probe@example.org"
  std::string rcpt_to;      // configured foreign recipient, e.g. "relay-test@example.net"
  std::string server_name;  // SRV: the name from the server's banner (may be empty)
  std::string server_ip;    // IP: the address probed, without brackets (may be empty)
};

// Every variant name, in the order they are tried: the "all" set.
const std::vector<std::string>& AllRelayVariants();
// The default "basic" set: null_sender, external, spoof_local_name, percent_name,
// source_route_name, bang_name.
const std::vector<std::string>& BasicRelayVariants();
bool IsRelayVariant(std::string_view name);

// Builds the envelopes for `variants` (names from AllRelayVariants()), in the given order;
// unknown names and repeats are ignored, and an empty list yields no envelopes (the caller
// applies the "basic" default). A variant that needs the server's name or address when it is
// unknown (or not a plain domain / IP) is skipped rather than sent malformed. No envelopes at
// all when `rcpt_to` has no "@domain".
std::vector<RelayEnvelope> BuildRelayEnvelopes(const std::vector<std::string>& variants,
                                               const RelayContext& context);

// The names at which to ask the catch-all question (is a random, nonexistent local part accepted
// at RCPT?): the server's banner name when usable, then each distinct `local_domain` of the hack
// variants among `envelopes`, in order ("" = an unqualified local part).
std::vector<std::string> CatchAllDomains(const std::vector<RelayEnvelope>& envelopes,
                                         const RelayContext& context);

// "<local_part@domain>", or "<local_part>" for an empty domain. `local_part` must be a plain
// dot-atom (the prober uses "smtp-exporter-catch-all-" and random hex).
std::string CatchAllRecipient(std::string_view domain, std::string_view local_part);

}  // namespace smtp

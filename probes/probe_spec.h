// ProbeSpec: the validated inputs of one probe. Built by the CLI (`smtp_exporter probe`) or by the
// daemon's config loader; the engine trusts it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace smtp {

enum class StartTlsMode { kOff, kOpportunistic, kRequired };
enum class IpProtocol { kIp4, kIp6, kBoth };

const char* ToString(StartTlsMode mode);    // "off" | "opportunistic" | "required"
const char* ToString(IpProtocol protocol);  // "ip4" | "ip6" | "both"
std::optional<StartTlsMode> ParseStartTlsMode(std::string_view text);
std::optional<IpProtocol> ParseIpProtocol(std::string_view text);

struct TlsOptions {
  // Verify the chain and the host name. The handshake always completes and the facts are always
  // reported; `verify` only decides whether a failed verification fails the probe when TLS is
  // mandatory (starttls required, or implicit TLS).
  bool verify = true;
  std::string server_name;  // SNI and the name to verify; empty = the target host name
  std::string ca_file;      // PEM bundle; empty = the system trust store
};

struct RelayTestOptions {
  bool enabled = false;
  std::string mail_from = "probe@example.org";  // RFC 2606 reserved domains by default
  std::string rcpt_to = "relay-test@example.net";
  std::vector<std::string> variants;  // names; empty = the "basic" set
  // The relay test's own time budget, on top of `ProbeSpec::timeout`: a server that tarpits
  // refusals (Exchange: 5 s per 5yz) cannot turn the health steps into a timeout. Variants it
  // does not reach are reported as not run.
  std::chrono::milliseconds timeout{60000};
};

// SMTP AUTH (RFC 4954) after the EHLO that follows TLS. The password is read from a file by the
// caller (the config loader at each load/reload, the probe command at start) and lives only here
// and in the SASL library's session: nothing renders a ProbeSpec.
struct AuthOptions {
  std::string username;  // empty = no AUTH step
  std::string password;
  // Upper-case names from SupportedAuthMechanisms (probes/auth.h), tried in this order against
  // what the server offers; empty = that default order.
  std::vector<std::string> mechanisms;
  // Authenticate even when the session is not TLS (STARTTLS off, not offered or failed).
  bool allow_plaintext = false;
  bool enabled() const { return !username.empty(); }
};

// User-enumeration exposure (nmap's smtp-enum-users): VRFY and EXPN (RFC 5321 §3.5) of a real
// local name and of a random one that cannot exist. Off by default: it leaves lines in logs.
struct UserEnumerationOptions {
  bool enabled = false;
  std::string name = "postmaster";  // a local part every server has (RFC 5321 §4.5.1)
};

// A mail domain's transport-security checks (issue "MTA-STS, TLS-RPT, DANE, DNSBL"), each opt-in.
// They run after the SMTP dialogue, within what is left of the health deadline, and never change
// the probe's success: they end up as findings and their own metrics.
struct DomainChecks {
  // The mail domain of an mx: target (ExpandedTarget::domain); "" for other targets, which have
  // no domain, so MTA-STS and TLS-RPT do not run for them.
  std::string domain;
  bool mta_sts = false;  // RFC 8461: _mta-sts TXT, policy over HTTPS, this MX against it
  std::uint16_t mta_sts_port = 443;  // the policy server's port (tests use another)
  bool tls_rpt = false;              // RFC 8460: the _smtp._tls TXT record
  std::vector<std::string> dnsbl;    // RFC 5782 zones asked about the connected address
  bool dane = false;                 // RFC 7672: TLSA of _<port>._tcp.<host> against the chain
  bool any() const { return mta_sts || tls_rpt || !dnsbl.empty() || dane; }
  // Whether anything is to run for a probe: MTA-STS and TLS-RPT need a domain.
  bool any_to_run() const {
    return (!domain.empty() && (mta_sts || tls_rpt)) || !dnsbl.empty() || dane;
  }
};

struct ProbeSpec {
  // Host name or IP literal (no brackets). A configured target is expanded first
  // (probes/expansion.h): one ProbeSpec per series, e.g. per MX host of an "mx:domain" target.
  std::string host;
  std::uint16_t port = 25;
  // If set, connect here instead of resolving `host` (used when the caller already resolved, e.g.
  // one series per address with ip_protocol both). `host` stays the name to verify and to report.
  std::optional<std::string> address;
  // If set, called with each address (an IP literal) and port before the probe connects there:
  // the host's addresses on `port`, and the MTA-STS policy host's on checks.mta_sts_port. An
  // address it refuses is not connected to; when it refuses every address of the host, the
  // connect step fails with FailureReason::kForbidden, and of the policy host, the policy fetch
  // with PolicyFetchStatus::kForbidden. /probe sets it from the probe_allowlist's address
  // entries, so an allowed name cannot lead the prober to an address that is not allowed (DNS
  // rebinding, an MX host or an mta-sts.DOMAIN pointing inside).
  std::function<bool(std::string_view address, std::uint16_t port)> address_allowed;

  // One deadline for the health steps (resolve to tls_ehlo, then QUIT and reverse DNS); the relay
  // test has its own (relay.timeout), so a probe lasts at most timeout + relay.timeout.
  std::chrono::milliseconds timeout{10000};
  // When set (> 0), a hard cap on the whole probe, relay test included: /probe uses the scrape
  // timeout.
  std::chrono::milliseconds max_duration{0};
  std::string ehlo_name = "smtp-exporter.invalid";
  StartTlsMode starttls = StartTlsMode::kOpportunistic;
  bool implicit_tls = false;  // SMTPS, RFC 8314 §3.3: TLS from the first byte
  TlsOptions tls;
  IpProtocol ip_protocol = IpProtocol::kIp4;  // kBoth: prefer IPv6, fall back to IPv4
  std::string dns_server;                     // "host:port" or "host"; empty = the system resolver
  // Forward-confirmed reverse DNS of the connected address. Skipped for loopback addresses when
  // no dns_server is set (the system resolver knows nothing useful about them).
  bool check_fcrdns = true;
  RelayTestOptions relay;
  AuthOptions auth;
  UserEnumerationOptions user_enumeration;
  DomainChecks checks;
};

}  // namespace smtp

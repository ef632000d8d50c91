// A module (DESIGN §2): how to probe, validated; and the one way to build one from user input.
//
// The config decoder (YAML keys under `modules:`) and `smtp_exporter probe` (flags) both write
// what the user gave into a ModuleInput, as text, and call ValidateModule: every rule and every
// message is the same for both. ValidateModule names the input that failed (ModuleField) and
// leaves out how it was spelled, so each caller names it its own way: the key path and line
// (`modules.default.relay_test.rcpt_to: ... (line 7)`) or the flag (`--rcpt-to: ...`).
//
// Pure, apart from ValidateModule checking that tls.ca_file is a readable file and reading the
// password from auth.password_file (at each load and reload).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "probes/auth.h"
#include "probes/probe_spec.h"
#include "probes/relay_variants.h"

namespace smtp {

struct RelayTestConfig {
  bool enabled = false;
  // Relay tests run less often than the other steps (they leave lines in the server's logs and
  // can trip rate limits); the scheduler keeps the last verdict in between.
  std::chrono::milliseconds interval = std::chrono::hours(1);
  // The relay test's own time budget, on top of the module's timeout (RelayTestOptions).
  std::chrono::milliseconds timeout = RelayTestOptions{}.timeout;
  std::string mail_from = RelayTestOptions{}.mail_from;  // local@domain
  std::string rcpt_to = RelayTestOptions{}.rcpt_to;      // local@domain, a foreign domain
  // Resolved variant names, in the order they are tried: "basic" and "all" are expanded here, so
  // this is never empty.
  std::vector<std::string> variants = BasicRelayVariants();
};

// SMTP AUTH after TLS (probes/auth.h). The password is read from password_file when the module
// is validated; it is kept here and in the ProbeSpecs made from this module only, and nothing
// renders either.
struct AuthConfig {
  std::string username;                                             // "" = no AUTH step
  std::string password_file;                                        // resolved path, as configured
  std::string password;                                             // the file's first line
  std::vector<std::string> mechanisms = SupportedAuthMechanisms();  // upper case, in order
  bool allow_plaintext = false;
  bool enabled() const { return !username.empty(); }
};

// How to probe. Defaults are ProbeSpec's, so a target without a config file behaves like
// `smtp_exporter probe` without flags.
struct Module {
  std::chrono::milliseconds timeout = ProbeSpec{}.timeout;  // > 0; one deadline per probe
  std::string ehlo_name = ProbeSpec{}.ehlo_name;
  StartTlsMode starttls = StartTlsMode::kOpportunistic;
  bool implicit_tls = false;
  // tls.ca_file is absolute (or relative to the working directory when no base folder was
  // given) and names an existing regular file, or is empty.
  TlsOptions tls;
  IpProtocol ip_protocol = IpProtocol::kIp4;
  std::string dns_server;  // "" (system resolver) or an IP literal with optional port
  RelayTestConfig relay_test;
  AuthConfig auth;
  UserEnumerationOptions user_enumeration;  // off by default; name: a local part
  // The domain checks (DomainChecks in probes/probe_spec.h; `domain` stays "": each series of an
  // mx: target sets its own). dnsbl zones are DNS names without duplicates.
  DomainChecks checks;

  // The port a target without one gets: 465 for implicit TLS (SMTPS), otherwise 25.
  std::uint16_t DefaultPort() const { return implicit_tls ? 465 : 25; }
  // `series: minimal`: /metrics keeps only the series the alerts use for the module's targets
  // (daemon/metrics.h, MinimalSeries); for fleets of tens of thousands of targets.
  bool minimal_series = false;
};

// A module as the user wrote it. Unset = the default (Module's). Text is checked by
// ValidateModule; booleans have no rule beyond their type, which the reader checks.
struct ModuleInput {
  std::optional<std::string> timeout;    // Prometheus duration (duration.h), > 0
  std::optional<std::string> ehlo_name;  // domain or address literal (RFC 5321 §4.1.1.1)
  std::optional<std::string> starttls;   // off | opportunistic | required
  std::optional<bool> implicit_tls;
  std::optional<bool> tls_verify;
  std::optional<std::string> tls_server_name;  // "", a host name or an IP literal
  std::optional<std::string> tls_ca_file;      // "" or a readable file (relative: to base_dir)
  std::optional<std::string> ip_protocol;      // ip4 | ip6 | both
  std::optional<std::string> dns_server;       // "" or IP literal[:port], [IPv6]:port
  std::optional<bool> relay_enabled;
  std::optional<std::string> relay_interval;   // duration, > 0
  std::optional<std::string> relay_timeout;    // duration, > 0
  std::optional<std::string> relay_mail_from;  // local@domain (RFC 5321 §4.1.2 Mailbox)
  std::optional<std::string> relay_rcpt_to;    // local@domain
  // A word ("basic" or "all") or a list of variant names (known, no duplicates, not empty).
  std::optional<std::variant<std::string, std::vector<std::string>>> relay_variants;
  std::optional<std::string> series;  // full | minimal
  // auth: username and password_file together (a readable file whose first line is the
  // password, not empty); mechanisms: known names (SupportedAuthMechanisms), no duplicates.
  bool auth_set = false;  // the `auth` key (or an --auth-* flag) was given
  std::optional<std::string> auth_username;
  std::optional<std::string> auth_password_file;  // relative: to base_dir
  std::optional<std::vector<std::string>> auth_mechanisms;
  std::optional<bool> auth_allow_plaintext;
  std::optional<bool> user_enumeration_enabled;
  std::optional<std::string> user_enumeration_name;  // a dot-atom local part (RFC 5321 §4.1.2)
  std::optional<bool> mta_sts;
  std::optional<std::string> mta_sts_port;  // 1..65535
  std::optional<bool> tls_rpt;
  std::optional<bool> dane;
  std::optional<std::vector<std::string>> dnsbl;  // zones: DNS names, no duplicates
};

// The ModuleInput member a ModuleError is about (booleans cannot fail).
enum class ModuleField {
  kTimeout,
  kEhloName,
  kStartTls,
  kTlsServerName,
  kTlsCaFile,
  kIpProtocol,
  kDnsServer,
  kRelayInterval,
  kRelayTimeout,
  kRelayMailFrom,
  kRelayRcptTo,
  kRelayVariants,
  kSeries,
  kAuth,  // the auth settings as a whole (username and password_file go together)
  kAuthUsername,
  kAuthPasswordFile,
  kAuthMechanisms,
  kUserEnumerationName,
  kMtaStsPort,
  kDnsbl,
};

struct ModuleError {
  ModuleField field;
  // For a relay_variants, auth_mechanisms or dnsbl list: the 0-based index of the offending name (a
  // YAML key path points at it); unset when the error is about the value as a whole.
  std::optional<std::size_t> item;
  // One line, without the field's name, e.g. `expected an address local@domain, got "x"`; values
  // are quoted with control characters escaped.
  std::string message;
};

// Exactly one of `module` and `error` is set.
struct ModuleResult {
  std::optional<Module> module;
  std::optional<ModuleError> error;
};

// Checks every set input of `input`, in ModuleField order, and stops at the first error. On
// success the module has every set input applied and the defaults elsewhere; a relative
// tls_ca_file is resolved against `base_dir` (empty: left relative to the working directory).
ModuleResult ValidateModule(const ModuleInput& input, const std::string& base_dir);

// The spec for one probe of `host`:`port` with `module`; port 0 means module.DefaultPort().
// relay.enabled is always false: the scheduler turns the relay test on for the runs where its
// interval is due (and /probe and the probe command when asked for).
ProbeSpec MakeProbeSpec(const Module& module, const std::string& host, std::uint16_t port);

// The rules ValidateModule applies that other inputs share (a target's interval, the /probe
// allowlist, the probe command's default EHLO name):
//
// A Prometheus duration > 0 (a zero timeout or interval has no useful meaning); nullopt and
// *error set (`invalid duration "10" (expected e.g. 10s, 1m30s, 500ms)`) otherwise.
std::optional<std::chrono::milliseconds> ParsePositiveDuration(std::string_view text,
                                                               std::string* error);

}  // namespace smtp

// The daemon's configuration file (DESIGN §2): YAML decoded strictly into plain data.
//
//   modules:          how to probe, by name; "default" always exists
//   targets:          what to probe on a schedule
//   probe_allowlist:  what /probe may reach besides the configured targets
//
// Decoding is strict, because a typo in a config that silently falls back to a default is worse
// than a refused reload: an unknown key, a value of the wrong type, a bad duration, address, name
// or label is an error. Every error is one line naming the key path and the 1-based line of the
// file, e.g. `targets[2].module: unknown module "strct" (line 14)`. Sequence indexes are 0-based.
//
// Conventions where DESIGN is silent:
//  - A key whose value is null (`timeout:` or `timeout: ~`) is treated as absent: the default
//    applies. `modules: {relay: }` thus defines a module "relay" with every default.
//  - Booleans are the plain scalars true/false (any case); "yes", "on" or a quoted "true" are
//    refused, since YAML 1.1 and 1.2 disagree about them.
//  - A relay test is off unless the module enables it: the probe then sends MAIL/RCPT to foreign
//    domains, which an operator should opt into (DESIGN's example shows it enabled).
//  - An empty file is a valid config with the "default" module and no targets (for exporters
//    used only through /probe). Only a missing --config.file gives the sidecar default target.
//
// Thread safety: the functions are pure apart from LoadConfigFile reading the file and the
// ca_file existence check; a Config is plain data, safe to share read-only.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "probes/probe_spec.h"
#include "probes/relay_variants.h"
#include "probes/target.h"

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

  // The port a target without one gets: 465 for implicit TLS (SMTPS), otherwise 25.
  std::uint16_t DefaultPort() const { return implicit_tls ? 465 : 25; }
};

struct TargetConfig {
  std::string address;  // as written, e.g. "mx:example.org" or "[2001:db8::1]:25"
  Target target;        // parsed; target.port is resolved (the module's default if not given)
  std::string module = "default";  // names an entry of Config::modules
  std::chrono::milliseconds interval = std::chrono::seconds(60);  // > 0 and >= module timeout
  std::map<std::string, std::string> labels;                      // extra labels on every series
};

struct Config {
  std::map<std::string, Module> modules;  // always holds "default"
  std::vector<TargetConfig> targets;      // no two share address (after port defaults) + module
  // Each entry is one of: an IPv4 or IPv6 CIDR prefix ("127.0.0.0/8", "::1/128", no host bits
  // set), a host name or IP literal matched exactly, or "*.example.org" (any name strictly below
  // example.org). See ProbeAllowed.
  std::vector<std::string> probe_allowlist;
};

// Exactly one of `config` and `error` is set: error is "" on success.
struct LoadResult {
  std::optional<Config> config;
  std::string error;
};

// The config used without --config.file: the "default" module and one target, 127.0.0.1:25,
// so the exporter works with zero config as a sidecar next to an MTA.
Config DefaultConfig();

// Decodes `yaml`. Relative tls.ca_file paths are resolved against `base_dir` (the config file's
// folder); an empty base_dir leaves them relative to the working directory.
LoadResult ParseConfig(std::string_view yaml, const std::string& base_dir);

// Reads and decodes the file at `path`; relative ca_file paths resolve against its folder (made
// absolute, so a later chdir does not change their meaning). A file that cannot be read is an
// error of the form `<path>: <reason>`.
LoadResult LoadConfigFile(const std::string& path);

// The spec for one probe of `host`:`port` with `module`; port 0 means module.DefaultPort().
// relay.enabled is always false: the scheduler turns the relay test on for the runs where its
// interval is due (and /probe for on-demand probes).
ProbeSpec MakeProbeSpec(const Module& module, const std::string& host, std::uint16_t port);

// Whether /probe may probe `host` (a host name or an IP literal without brackets) under the
// allowlist: IP literals match CIDR entries and exact entries; names match exact entries and
// "*." suffix patterns, case-insensitively and ignoring one trailing dot. Names are deliberately
// not resolved and matched against CIDRs: the answer could change between check and connect.
// Configured targets are allowed by the caller, not here.
bool ProbeAllowed(const std::vector<std::string>& allowlist, std::string_view host);

}  // namespace smtp

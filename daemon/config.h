// The daemon's configuration file (DESIGN §2): YAML decoded strictly into plain data.
//
//   modules:          how to probe, by name; "default" always exists
//   targets:          what to probe on a schedule
//   probe_allowlist:  what /probe may reach besides the configured targets
//
// Decoding is strict, because a typo in a config that silently falls back to a default is worse
// than a refused reload: an unknown key, a value of the wrong type, a bad duration, address, name
// or label is an error. Every error is one line naming the key path and the 1-based line of the
// file, e.g. `targets[2].module: unknown module "strct" (line 14)`; yaml_decode.h states the
// shared rules (key paths, null = absent, booleans, one document), and module.h the rules of each
// module key, which `smtp_exporter probe` applies to its flags too.
//
// Conventions where DESIGN is silent:
//  - `modules: {relay: }` (a null module) defines a module "relay" with every default.
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

#include "daemon/module.h"
#include "probes/target.h"

namespace smtp {

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
  // example.org), optionally followed by the ports it allows: "10.0.0.0/8:25,465,587",
  // "mx.example.org:2525", "[2001:db8::/32]:25" (IPv6 in brackets when ports are named). Without
  // ports an entry allows the SMTP ports, kDefaultAllowedPorts. See ProbeAllowed. As written.
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

// The ports a probe_allowlist entry without ports allows: SMTP (25, RFC 5321), submission over
// implicit TLS (465, RFC 8314) and submission (587, RFC 6409).
inline constexpr std::uint16_t kDefaultAllowedPorts[] = {25, 465, 587};

// A probe_allowlist entry taken apart: `host` is the CIDR prefix, IP literal, name or "*."
// pattern (without brackets), `ports` the ports it names (empty: kDefaultAllowedPorts).
// nullopt and *error for a malformed port list or unbalanced brackets; `host` itself is checked
// by the config decoder.
struct AllowlistEntry {
  std::string host;
  std::vector<std::uint16_t> ports;
};
std::optional<AllowlistEntry> SplitAllowlistEntry(std::string_view entry, std::string* error);

// Whether /probe may probe `host` (a host name or an IP literal without brackets) on `port`
// under the allowlist: IP literals match CIDR entries and exact entries; names match exact
// entries and "*." suffix patterns, case-insensitively and ignoring one trailing dot; and the
// entry must allow `port`. Names are not resolved here: when the allowlist has address entries
// (HasAddressEntries), the addresses a name resolves to are checked when the probe connects
// (AddressAllowed). Configured targets are allowed by the caller, not here.
bool ProbeAllowed(const std::vector<std::string>& allowlist, std::string_view host,
                  std::uint16_t port);

// Whether the allowlist has CIDR or IP-literal entries.
bool HasAddressEntries(const std::vector<std::string>& allowlist);

// Whether the resolved `address` (an IP literal) on `port` is allowed by an address entry (CIDR
// or IP literal) of the allowlist. An IPv4-mapped IPv6 address is matched as its IPv4 address.
bool AddressAllowed(const std::vector<std::string>& allowlist, std::string_view address,
                    std::uint16_t port);

}  // namespace smtp

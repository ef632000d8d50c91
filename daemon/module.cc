// Module validation, shared by the config decoder and the probe command; see module.h.
#include "daemon/module.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <utility>

#include "daemon/duration.h"
#include "daemon/yaml_decode.h"
#include "probes/dnsbl.h"
#include "probes/target.h"
#include "probes/text.h"

namespace smtp {
namespace {

using strict::Quote;

bool IsIpv4(const std::string& text) {
  unsigned char bytes[4];
  return inet_pton(AF_INET, text.c_str(), bytes) == 1;
}

bool IsIpv6(const std::string& text) {
  unsigned char bytes[16];
  return inet_pton(AF_INET6, text.c_str(), bytes) == 1;
}

// RFC 5321 §4.1.3 address literal: "[192.0.2.1]" or "[IPv6:2001:db8::1]".
bool IsAddressLiteral(std::string_view text) {
  if (text.size() < 3 || text.front() != '[' || text.back() != ']') return false;
  const std::string inner(text.substr(1, text.size() - 2));
  if (inner.starts_with("IPv6:")) return IsIpv6(inner.substr(5));
  return IsIpv4(inner);
}

// RFC 5321 §4.1.2 Dot-string (atoms of RFC 5322 atext joined by single dots), at most 64 octets
// (§4.5.3.1.1): enough for the probe's own addresses, and nothing that could end the SMTP path
// early (no spaces, '<', '>', CR or LF). Quoted local parts are not needed and refused.
bool IsLocalPart(std::string_view local) {
  if (local.empty() || local.size() > 64 || local.front() == '.' || local.back() == '.') {
    return false;
  }
  constexpr std::string_view kSpecials = "!#$%&'*+-/=?^_`{|}~.";
  char previous = 0;
  for (char c : local) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    kSpecials.find(c) != std::string_view::npos;
    if (!ok || (c == '.' && previous == '.')) return false;
    previous = c;
  }
  return true;
}

// Each rule below checks one input's text: "" and *out set, or the reason (module.h: no name).

std::string Duration(std::string_view text, std::chrono::milliseconds* out) {
  std::string error;
  const std::optional<std::chrono::milliseconds> duration = ParsePositiveDuration(text, &error);
  if (duration) *out = *duration;
  return error;
}

// RFC 5321 §4.1.1.1: EHLO takes the client's domain, or an address literal when it has none.
std::string EhloName(std::string_view text, std::string* out) {
  if (!IsHostName(text) && !IsAddressLiteral(text)) {
    return "expected a domain name or an address literal like [192.0.2.1], got " + Quote(text);
  }
  *out = text;
  return "";
}

std::string StartTls(std::string_view text, StartTlsMode* out) {
  const std::optional<StartTlsMode> mode = ParseStartTlsMode(text);
  if (!mode) return "expected off, opportunistic or required, got " + Quote(text);
  *out = *mode;
  return "";
}

std::string ServerName(std::string_view text, std::string* out) {
  if (!text.empty() && !IsHostName(text) && !IsIpv6(std::string(text))) {
    return "expected a host name, got " + Quote(text);
  }
  *out = text;
  return "";
}

// Checked now so that --config.check, a reload and the probe command catch the typo, rather than
// every probe failing later with reason "tls".
std::string CaFile(std::string_view text, const std::string& base_dir, std::string* out) {
  if (text.empty()) {  // the system trust store
    out->clear();
    return "";
  }
  const std::string path = strict::ResolvePath(std::string(text), base_dir);
  // Opened without blocking: a FIFO named here must not stall the loader.
  if (const std::string reason = strict::CheckRegularFile(path); !reason.empty()) {
    const bool not_a_file = reason == "is a directory" || reason == "not a regular file";
    return "CA file " + strict::QuotePath(path) +
           (not_a_file ? std::string(" is not a file") : " cannot be read: " + reason);
  }
  *out = path;
  return "";
}

std::string IpProtocolRule(std::string_view text, IpProtocol* out) {
  const std::optional<IpProtocol> protocol = ParseIpProtocol(text);
  if (!protocol) return "expected ip4, ip6 or both, got " + Quote(text);
  *out = *protocol;
  return "";
}

std::string DnsServer(std::string_view text, std::string* out) {
  *out = text;
  if (text.empty()) return "";  // the system resolver
  std::string error;
  const std::optional<Target> server = ParseTarget(text, &error);
  if (!server || server->mx || (!IsIpv4(server->host) && !IsIpv6(server->host))) {
    // A host name cannot work: the resolver would need another resolver to find its server.
    return "expected an IP address with optional port, like 192.0.2.53:53 or [2001:db8::53]:53, "
           "got " +
           Quote(text);
  }
  return "";
}

// RFC 5321 §4.1.2 Mailbox = Local-part "@" ( Domain / address-literal ).
std::string Mailbox(std::string_view text, std::string* out) {
  const std::size_t at = text.rfind('@');
  if (at == std::string_view::npos || !IsLocalPart(text.substr(0, at)) ||
      (!IsHostName(text.substr(at + 1)) && !IsAddressLiteral(text.substr(at + 1)))) {
    return "expected an address local@domain, got " + Quote(text);
  }
  *out = text;
  return "";
}

// "basic", "all", or a non-empty list of distinct known names.
std::optional<ModuleError> Variants(const std::variant<std::string, std::vector<std::string>>& in,
                                    std::vector<std::string>* out) {
  const auto fail = [](std::optional<std::size_t> item, std::string message) {
    return ModuleError{ModuleField::kRelayVariants, item, std::move(message)};
  };
  if (const std::string* word = std::get_if<std::string>(&in)) {
    if (*word == "basic") {
      *out = BasicRelayVariants();
    } else if (*word == "all") {
      *out = AllRelayVariants();
    } else {
      return fail(std::nullopt,
                  "expected basic, all or a list of variant names, got " + Quote(*word));
    }
    return std::nullopt;
  }
  const std::vector<std::string>& names = std::get<std::vector<std::string>>(in);
  if (names.empty())
    return fail(std::nullopt, "must not be empty (leave it out for the basic set)");
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (!IsRelayVariant(names[i])) {
      std::string known;
      for (const std::string& k : AllRelayVariants()) known += (known.empty() ? "" : ", ") + k;
      return fail(i, "unknown variant " + Quote(names[i]) + " (known: " + known + ")");
    }
    if (std::find(names.begin(), names.begin() + i, names[i]) != names.begin() + i) {
      return fail(i, "duplicate variant " + Quote(names[i]));
    }
  }
  *out = names;
  return std::nullopt;
}

// `series`: which series /metrics exports for the module's targets.
std::string SeriesRule(std::string_view text, bool* minimal) {
  if (text != "full" && text != "minimal") {
    return "expected full or minimal, got " + Quote(text);
  }
  *minimal = text == "minimal";
  return "";
}

// VRFY/EXPN take a user name (RFC 5321 §3.5.3): a dot-atom local part, nothing that could end
// the command early.
std::string LocalName(std::string_view text, std::string* out) {
  if (!IsLocalPart(text)) return "expected a local part like postmaster, got " + Quote(text);
  *out = text;
  return "";
}

// A SASL authentication identity (RFC 4422 §3.4.1: UTF-8, no control characters): printable,
// at most 255 octets.
std::string Username(std::string_view text, std::string* out) {
  if (text.empty() || text.size() > 255 || std::any_of(text.begin(), text.end(), [](char c) {
        return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
      })) {
    return "expected a user name of 1 to 255 printable characters, got " + Quote(text);
  }
  *out = text;
  return "";
}

// The password is the file's first line (a trailing CR LF or LF is not part of it). Messages
// name the file, never its content.
std::string PasswordFile(std::string_view text, const std::string& base_dir, std::string* path,
                         std::string* password) {
  *path = strict::ResolvePath(std::string(text), base_dir);
  std::error_code error;
  if (text.empty() || !std::filesystem::is_regular_file(*path, error)) {
    return "password file " + strict::QuotePath(*path) +
           (error ? " cannot be read: " + error.message() : std::string(" is not a file"));
  }
  std::ifstream file(*path, std::ios::binary);
  if (!file)
    return "password file " + strict::QuotePath(*path) + " cannot be read: " + std::strerror(errno);
  std::string line;
  std::getline(file, line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty()) return "password file " + strict::QuotePath(*path) + " is empty";
  if (std::any_of(line.begin(), line.end(), [](char c) { return c == '\0'; })) {
    return "password file " + strict::QuotePath(*path) + " holds a NUL byte";
  }
  *password = std::move(line);
  return "";
}

// A non-empty list of distinct mechanisms the prober supports, stored upper case.
std::optional<ModuleError> Mechanisms(const std::vector<std::string>& names,
                                      std::vector<std::string>* out) {
  const auto fail = [](std::optional<std::size_t> item, std::string message) {
    return ModuleError{ModuleField::kAuthMechanisms, item, std::move(message)};
  };
  if (names.empty()) return fail(std::nullopt, "must not be empty (leave it out for all of them)");
  std::vector<std::string> upper;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (!IsSupportedAuthMechanism(names[i])) {
      return fail(i, "unsupported mechanism " + Quote(names[i]) +
                         " (supported: " + Join(SupportedAuthMechanisms(), ", ") + ")");
    }
    upper.push_back(ToUpperAscii(names[i]));
    if (std::find(upper.begin(), upper.end() - 1, upper.back()) != upper.end() - 1) {
      return fail(i, "duplicate mechanism " + Quote(names[i]));
    }
  }
  *out = std::move(upper);
  return std::nullopt;
}

std::optional<ModuleError> Auth(const ModuleInput& in, const std::string& base_dir,
                                AuthConfig* auth) {
  if (!in.auth_set) return std::nullopt;
  const auto fail = [](ModuleField field, std::string message) {
    return ModuleError{field, std::nullopt, std::move(message)};
  };
  if (!in.auth_username || !in.auth_password_file) {
    return fail(ModuleField::kAuth, "needs both username and password_file");
  }
  if (std::string message = Username(*in.auth_username, &auth->username); !message.empty()) {
    return fail(ModuleField::kAuthUsername, message);
  }
  if (std::string message =
          PasswordFile(*in.auth_password_file, base_dir, &auth->password_file, &auth->password);
      !message.empty()) {
    return fail(ModuleField::kAuthPasswordFile, message);
  }
  if (in.auth_mechanisms) {
    if (auto error = Mechanisms(*in.auth_mechanisms, &auth->mechanisms)) return error;
  }
  auth->allow_plaintext = in.auth_allow_plaintext.value_or(false);
  return std::nullopt;
}

// A TCP port, 1..65535, written as digits.
std::string Port(std::string_view text, std::uint16_t* out) {
  const bool digits =
      !text.empty() && text.size() <= 5 &&
      std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
  const int port = digits ? std::stoi(std::string(text)) : 0;
  if (port < 1 || port > 65535) return "expected a port from 1 to 65535, got " + Quote(text);
  *out = static_cast<std::uint16_t>(port);
  return "";
}

// RFC 5782 zones, asked in order; an empty list turns the check off.
std::optional<ModuleError> DnsblZones(const std::vector<std::string>& zones,
                                      std::vector<std::string>* out) {
  for (std::size_t i = 0; i < zones.size(); ++i) {
    if (!IsDnsblZone(zones[i])) {
      return ModuleError{ModuleField::kDnsbl, i,
                         "expected a DNS zone like zen.example.org, got " + Quote(zones[i])};
    }
    if (std::find(zones.begin(), zones.begin() + i, zones[i]) != zones.begin() + i) {
      return ModuleError{ModuleField::kDnsbl, i, "duplicate zone " + Quote(zones[i])};
    }
  }
  *out = zones;
  return std::nullopt;
}

}  // namespace

std::optional<std::chrono::milliseconds> ParsePositiveDuration(std::string_view text,
                                                               std::string* error) {
  const std::optional<std::chrono::milliseconds> duration = ParseDuration(text);
  if (!duration) {
    *error = "invalid duration " + Quote(text) + " (expected e.g. 10s, 1m30s, 500ms)";
    return std::nullopt;
  }
  if (duration->count() <= 0) {
    *error = "must be greater than 0";
    return std::nullopt;
  }
  return duration;
}

ModuleResult ValidateModule(const ModuleInput& in, const std::string& base_dir) {
  Module module;
  std::optional<ModuleError> error;
  // Applies `rule` to the input when it is set and no earlier input failed.
  const auto check = [&error](ModuleField field, const std::optional<std::string>& text,
                              const auto& rule, auto* out) {
    if (error || !text) return;
    if (std::string message = rule(*text, out); !message.empty()) {
      error = ModuleError{field, std::nullopt, std::move(message)};
    }
  };
  const auto ca_file = [&base_dir](std::string_view text, std::string* out) {
    return CaFile(text, base_dir, out);
  };
  check(ModuleField::kTimeout, in.timeout, Duration, &module.timeout);
  check(ModuleField::kEhloName, in.ehlo_name, EhloName, &module.ehlo_name);
  check(ModuleField::kStartTls, in.starttls, StartTls, &module.starttls);
  check(ModuleField::kTlsServerName, in.tls_server_name, ServerName, &module.tls.server_name);
  check(ModuleField::kTlsCaFile, in.tls_ca_file, ca_file, &module.tls.ca_file);
  check(ModuleField::kIpProtocol, in.ip_protocol, IpProtocolRule, &module.ip_protocol);
  check(ModuleField::kDnsServer, in.dns_server, DnsServer, &module.dns_server);
  RelayTestConfig& relay = module.relay_test;
  check(ModuleField::kRelayInterval, in.relay_interval, Duration, &relay.interval);
  check(ModuleField::kRelayTimeout, in.relay_timeout, Duration, &relay.timeout);
  check(ModuleField::kRelayMailFrom, in.relay_mail_from, Mailbox, &relay.mail_from);
  check(ModuleField::kRelayRcptTo, in.relay_rcpt_to, Mailbox, &relay.rcpt_to);
  if (!error && in.relay_variants) error = Variants(*in.relay_variants, &relay.variants);
  check(ModuleField::kSeries, in.series, SeriesRule, &module.minimal_series);
  if (!error) error = Auth(in, base_dir, &module.auth);
  check(ModuleField::kUserEnumerationName, in.user_enumeration_name, LocalName,
        &module.user_enumeration.name);
  check(ModuleField::kMtaStsPort, in.mta_sts_port, Port, &module.checks.mta_sts_port);
  if (!error && in.dnsbl) error = DnsblZones(*in.dnsbl, &module.checks.dnsbl);
  if (error) return ModuleResult{std::nullopt, std::move(error)};

  module.implicit_tls = in.implicit_tls.value_or(module.implicit_tls);
  module.tls.verify = in.tls_verify.value_or(module.tls.verify);
  relay.enabled = in.relay_enabled.value_or(relay.enabled);
  module.user_enumeration.enabled = in.user_enumeration_enabled.value_or(false);
  module.checks.mta_sts = in.mta_sts.value_or(module.checks.mta_sts);
  module.checks.tls_rpt = in.tls_rpt.value_or(module.checks.tls_rpt);
  module.checks.dane = in.dane.value_or(module.checks.dane);
  return ModuleResult{std::move(module), std::nullopt};
}

ProbeSpec MakeProbeSpec(const Module& module, const std::string& host, std::uint16_t port) {
  ProbeSpec spec;
  spec.host = host;
  spec.port = port != 0 ? port : module.DefaultPort();
  spec.timeout = module.timeout;
  spec.ehlo_name = module.ehlo_name;
  spec.starttls = module.starttls;
  spec.implicit_tls = module.implicit_tls;
  spec.tls = module.tls;
  spec.ip_protocol = module.ip_protocol;
  spec.dns_server = module.dns_server;
  spec.relay.enabled = false;
  spec.relay.mail_from = module.relay_test.mail_from;
  spec.relay.rcpt_to = module.relay_test.rcpt_to;
  spec.relay.variants = module.relay_test.variants;
  spec.relay.timeout = module.relay_test.timeout;
  if (module.auth.enabled()) {
    spec.auth.username = module.auth.username;
    spec.auth.password = module.auth.password;
    spec.auth.mechanisms = module.auth.mechanisms;
    spec.auth.allow_plaintext = module.auth.allow_plaintext;
  }
  spec.user_enumeration = module.user_enumeration;
  spec.checks = module.checks;
  return spec;
}

}  // namespace smtp

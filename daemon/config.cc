// Strict YAML decoding of the daemon's config; see config.h for the contract. The YAML rules
// live in yaml_decode.h, the module rules in module.h; this file maps keys onto them.
#include "daemon/config.h"

#include <arpa/inet.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <tuple>
#include <utility>

#include "daemon/duration.h"
#include "daemon/metrics.h"
#include "daemon/yaml_decode.h"
#include "probes/text.h"

namespace smtp {
namespace {

using strict::ChildPath;
using strict::Fail;
using strict::Field;
using strict::Fields;
using strict::IndexPath;
using strict::Items;
using strict::Nulls;
using strict::Quote;
using strict::String;

constexpr std::string_view kRootName = "config";

// Whether `text` is an IPv4 (IPv6) literal; its bytes go to `bytes` when given.
// inet_pton reads C strings: text with a NUL in it is never an address.
bool IsIpv4(const std::string& text, unsigned char* bytes = nullptr) {
  if (text.find('\0') != std::string::npos) return false;
  unsigned char buffer[4];
  return inet_pton(AF_INET, text.c_str(), bytes != nullptr ? bytes : buffer) == 1;
}

bool IsIpv6(const std::string& text, unsigned char* bytes = nullptr) {
  if (text.find('\0') != std::string::npos) return false;
  unsigned char buffer[16];
  return inet_pton(AF_INET6, text.c_str(), bytes != nullptr ? bytes : buffer) == 1;
}

// ---------------------------------------------------------------------------------------------
// modules: each mapping is read into a ModuleInput, remembering where every key was written, and
// validated by ValidateModule (the rules `smtp_exporter probe` applies to its flags).

struct ModuleSources {
  std::map<ModuleField, Field> fields;
  std::vector<Field> variant_items;    // when relay_test.variants is a list
  std::vector<Field> mechanism_items;  // auth.mechanisms
  std::vector<Field> dnsbl_items;
};

void ReadText(const Field& field, ModuleField id, std::optional<std::string>* input,
              ModuleSources* sources) {
  *input = String(field);
  sources->fields.insert_or_assign(id, field);
}

void ReadTls(const Field& parent, ModuleInput* input, ModuleSources* sources) {
  for (const Field& field : Fields(parent, {"verify", "server_name", "ca_file"})) {
    if (field.key == "verify") {
      input->tls_verify = strict::Bool(field);
    } else if (field.key == "server_name") {
      ReadText(field, ModuleField::kTlsServerName, &input->tls_server_name, sources);
    } else if (field.key == "ca_file") {
      ReadText(field, ModuleField::kTlsCaFile, &input->tls_ca_file, sources);
    }
  }
}

// `variants: basic`, `variants: all` or `variants: [name, ...]`.
void ReadVariants(const Field& field, ModuleInput* input, ModuleSources* sources) {
  sources->fields.insert_or_assign(ModuleField::kRelayVariants, field);
  if (field.value.IsScalar()) {
    input->relay_variants = field.value.Scalar();
    return;
  }
  if (!field.value.IsSequence()) {
    Fail(field.path, field.line,
         "expected basic, all or a list of variant names, got " + strict::KindOf(field.value));
  }
  std::vector<std::string> names;
  for (const Field& item : Items(field)) {
    names.push_back(String(item));
    sources->variant_items.push_back(item);
  }
  input->relay_variants = std::move(names);
}

void ReadRelayTest(const Field& parent, ModuleInput* input, ModuleSources* sources) {
  for (const Field& field :
       Fields(parent, {"enabled", "interval", "timeout", "mail_from", "rcpt_to", "variants"})) {
    if (field.key == "enabled") {
      input->relay_enabled = strict::Bool(field);
    } else if (field.key == "interval") {
      ReadText(field, ModuleField::kRelayInterval, &input->relay_interval, sources);
    } else if (field.key == "timeout") {
      ReadText(field, ModuleField::kRelayTimeout, &input->relay_timeout, sources);
    } else if (field.key == "mail_from") {
      ReadText(field, ModuleField::kRelayMailFrom, &input->relay_mail_from, sources);
    } else if (field.key == "rcpt_to") {
      ReadText(field, ModuleField::kRelayRcptTo, &input->relay_rcpt_to, sources);
    } else if (field.key == "variants") {
      ReadVariants(field, input, sources);
    }
  }
}

// auth: {username, password_file, mechanisms: [..], allow_plaintext}; the password itself is
// never in the YAML.
void ReadAuth(const Field& parent, ModuleInput* input, ModuleSources* sources) {
  input->auth_set = true;
  sources->fields.insert_or_assign(ModuleField::kAuth, parent);
  for (const Field& field :
       Fields(parent, {"username", "password_file", "mechanisms", "allow_plaintext"})) {
    if (field.key == "username") {
      ReadText(field, ModuleField::kAuthUsername, &input->auth_username, sources);
    } else if (field.key == "password_file") {
      ReadText(field, ModuleField::kAuthPasswordFile, &input->auth_password_file, sources);
    } else if (field.key == "mechanisms") {
      sources->fields.insert_or_assign(ModuleField::kAuthMechanisms, field);
      if (!field.value.IsSequence()) {
        Fail(field.path, field.line,
             "expected a list of mechanisms, got " + strict::KindOf(field.value));
      }
      std::vector<std::string> names;
      for (const Field& item : Items(field)) {
        names.push_back(String(item));
        sources->mechanism_items.push_back(item);
      }
      input->auth_mechanisms = std::move(names);
    } else if (field.key == "allow_plaintext") {
      input->auth_allow_plaintext = strict::Bool(field);
    }
  }
}

// user_enumeration: {enabled, name}
void ReadUserEnumeration(const Field& parent, ModuleInput* input, ModuleSources* sources) {
  for (const Field& field : Fields(parent, {"enabled", "name"})) {
    if (field.key == "enabled") {
      input->user_enumeration_enabled = strict::Bool(field);
    } else if (field.key == "name") {
      ReadText(field, ModuleField::kUserEnumerationName, &input->user_enumeration_name, sources);
    }
  }
}

// `dnsbl: [zone, ...]`: the blocklists to ask about each MX address.
void ReadDnsbl(const Field& field, ModuleInput* input, ModuleSources* sources) {
  sources->fields.insert_or_assign(ModuleField::kDnsbl, field);
  if (!field.value.IsSequence()) {
    Fail(field.path, field.line,
         "expected a list of DNS zones, got " + strict::KindOf(field.value));
  }
  std::vector<std::string> zones;
  for (const Field& item : Items(field)) {
    zones.push_back(String(item));
    sources->dnsbl_items.push_back(item);
  }
  input->dnsbl = std::move(zones);
}

Module DecodeModule(const Field& parent, const std::string& base_dir) {
  if (parent.value.IsNull()) return Module{};
  ModuleInput input;
  ModuleSources sources;
  for (const Field& field :
       Fields(parent, {"timeout", "ehlo_name", "starttls", "implicit_tls", "tls", "ip_protocol",
                       "dns_server", "relay_test", "series", "auth", "user_enumeration", "mta_sts",
                       "mta_sts_port", "tls_rpt", "dane", "dnsbl"})) {
    if (field.key == "timeout") {
      ReadText(field, ModuleField::kTimeout, &input.timeout, &sources);
    } else if (field.key == "ehlo_name") {
      ReadText(field, ModuleField::kEhloName, &input.ehlo_name, &sources);
    } else if (field.key == "starttls") {
      ReadText(field, ModuleField::kStartTls, &input.starttls, &sources);
    } else if (field.key == "implicit_tls") {
      input.implicit_tls = strict::Bool(field);
    } else if (field.key == "tls") {
      ReadTls(field, &input, &sources);
    } else if (field.key == "ip_protocol") {
      ReadText(field, ModuleField::kIpProtocol, &input.ip_protocol, &sources);
    } else if (field.key == "dns_server") {
      ReadText(field, ModuleField::kDnsServer, &input.dns_server, &sources);
    } else if (field.key == "relay_test") {
      ReadRelayTest(field, &input, &sources);
    } else if (field.key == "series") {
      ReadText(field, ModuleField::kSeries, &input.series, &sources);
    } else if (field.key == "auth") {
      ReadAuth(field, &input, &sources);
    } else if (field.key == "user_enumeration") {
      ReadUserEnumeration(field, &input, &sources);
    } else if (field.key == "mta_sts") {
      input.mta_sts = strict::Bool(field);
    } else if (field.key == "mta_sts_port") {
      ReadText(field, ModuleField::kMtaStsPort, &input.mta_sts_port, &sources);
    } else if (field.key == "tls_rpt") {
      input.tls_rpt = strict::Bool(field);
    } else if (field.key == "dane") {
      input.dane = strict::Bool(field);
    } else if (field.key == "dnsbl") {
      ReadDnsbl(field, &input, &sources);
    }
  }
  ModuleResult result = ValidateModule(input, base_dir);
  if (const std::optional<ModuleError>& error = result.error) {
    // ValidateModule only checks inputs that were set, so the field was read above.
    const Field& at =
        !error->item                                   ? sources.fields.at(error->field)
        : error->field == ModuleField::kAuthMechanisms ? sources.mechanism_items.at(*error->item)
        : error->field == ModuleField::kDnsbl          ? sources.dnsbl_items.at(*error->item)
                                                       : sources.variant_items.at(*error->item);
    Fail(at.path, at.line, error->message);
  }
  return *std::move(result.module);
}

// Module names travel in URLs (/probe?module=) and key paths, so they stay plain words.
bool IsModuleName(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

std::map<std::string, Module> DecodeModules(const Field& parent, const std::string& base_dir) {
  std::map<std::string, Module> modules;
  for (const Field& field : Fields(parent, {}, Nulls::kKeep)) {
    if (!IsModuleName(field.key)) {
      Fail(field.path, field.key_line,
           "invalid module name " + Quote(field.key) + " (letters, digits, '_' and '-' only)");
    }
    modules[field.key] = DecodeModule(field, base_dir);
  }
  return modules;
}

// ---------------------------------------------------------------------------------------------
// targets

std::map<std::string, std::string> DecodeLabels(const Field& parent) {
  std::map<std::string, std::string> labels;
  for (const Field& field : Fields(parent, {}, Nulls::kKeep)) {
    if (std::optional<std::string> error = TargetLabelNameError(field.key)) {
      Fail(field.path, field.key_line, *error);
    }
    labels[field.key] = String(field);
  }
  return labels;
}

std::string NormalizeName(std::string_view name) {
  if (name.ends_with('.')) name.remove_suffix(1);
  return ToLowerAscii(name);
}

// Two spellings of one address ("192.0.2.1" and "192.0.2.1:25", or differently written IPv6)
// must compare equal for the duplicate check.
std::string CanonicalHost(const Target& target) {
  unsigned char bytes[16];
  char text[INET6_ADDRSTRLEN];
  if (IsIpv6(target.host, bytes) && inet_ntop(AF_INET6, bytes, text, sizeof(text)) != nullptr) {
    return text;
  }
  return NormalizeName(target.host);
}

// One item of `targets`, with where its keys were written; the module is checked by the caller.
struct TargetItem {
  TargetConfig target;
  std::optional<Field> address;
  std::optional<Field> module;
  std::optional<Field> interval;
};

TargetItem ReadTarget(const Field& item) {
  TargetItem read;
  TargetConfig& target = read.target;
  for (const Field& field : Fields(item, {"address", "module", "interval", "labels"})) {
    if (field.key == "address") {
      target.address = String(field);
      std::string error;
      std::optional<Target> parsed = ParseTarget(target.address, &error);
      if (!parsed) Fail(field.path, field.line, strict::Escape(error));
      target.target = *parsed;
      read.address = field;
    } else if (field.key == "module") {
      target.module = String(field);
      read.module = field;
    } else if (field.key == "interval") {
      std::string error;
      const auto interval = ParsePositiveDuration(String(field), &error);
      if (!interval) Fail(field.path, field.line, error);
      target.interval = *interval;
      read.interval = field;
    } else if (field.key == "labels") {
      target.labels = DecodeLabels(field);
    }
  }
  if (!read.address) Fail(ChildPath(item, "address"), item.line, "required");
  return read;
}

std::vector<TargetConfig> DecodeTargets(const Field& parent,
                                        const std::map<std::string, Module>& modules) {
  std::vector<TargetConfig> targets;
  // (mx, canonical host, port, module) -> index of the first target with it.
  std::map<std::tuple<bool, std::string, std::uint16_t, std::string>, std::size_t> seen;
  // (address as written, labels) -> index of the first target with them.
  std::map<std::pair<std::string, std::map<std::string, std::string>>, std::size_t> same_series;
  for (const Field& item : Items(parent)) {
    TargetItem read = ReadTarget(item);
    TargetConfig& target = read.target;
    const auto module = modules.find(target.module);
    if (module == modules.end()) {
      Fail(ChildPath(item, "module"), read.module ? read.module->line : item.line,
           "unknown module " + Quote(target.module));
    }
    if (module->second.timeout > target.interval) {
      Fail(ChildPath(item, "interval"), read.interval ? read.interval->line : item.line,
           "interval " + FormatDuration(target.interval) + " is shorter than the timeout " +
               FormatDuration(module->second.timeout) + " of module " + Quote(target.module));
    }
    if (target.target.port == 0) target.target.port = module->second.DefaultPort();
    const auto key = std::make_tuple(target.target.mx, CanonicalHost(target.target),
                                     target.target.port, target.module);
    if (const auto [it, inserted] = seen.emplace(key, targets.size()); !inserted) {
      Fail(ChildPath(item, "address"), read.address->line,
           "duplicate of " + IndexPath(parent.path, it->second) + " (same address " +
               Quote(target.address) + " and module " + Quote(target.module) + ")");
    }
    // Series carry the address as written and the labels, not the module: two modules probing
    // one address with the same labels would export the same series twice, and /metrics keeps
    // only one of them.
    const auto series = std::make_pair(target.address, target.labels);
    if (const auto [it, inserted] = same_series.emplace(series, targets.size()); !inserted) {
      Fail(ChildPath(item, "labels"), read.address->line,
           "same series as " + IndexPath(parent.path, it->second) + " (address " +
               Quote(target.address) + " with the same labels, module " +
               Quote(targets[it->second].module) +
               "): give one of them a label that tells them apart");
    }
    targets.push_back(std::move(target));
  }
  return targets;
}

// ---------------------------------------------------------------------------------------------
// probe_allowlist

struct Cidr {
  int family = AF_INET;
  std::array<unsigned char, 16> bytes{};
  int prefix = 0;
};

// "192.0.2.0/24" or "2001:db8::/32"; *error says what is wrong when it looks like one but is not.
std::optional<Cidr> ParseCidr(std::string_view text, std::string* error) {
  const std::size_t slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  Cidr cidr;
  const std::string address(text.substr(0, slash));
  if (IsIpv4(address, cidr.bytes.data())) {
    cidr.family = AF_INET;
  } else if (IsIpv6(address, cidr.bytes.data())) {
    cidr.family = AF_INET6;
  } else {
    *error = "invalid CIDR prefix " + Quote(text) + ": bad address";
    return std::nullopt;
  }
  const int max_prefix = cidr.family == AF_INET ? 32 : 128;
  const std::string_view length = text.substr(slash + 1);
  const auto [end, status] =
      std::from_chars(length.data(), length.data() + length.size(), cidr.prefix);
  if (length.empty() || status != std::errc() || end != length.data() + length.size() ||
      cidr.prefix < 0 || cidr.prefix > max_prefix) {
    *error =
        "invalid CIDR prefix " + Quote(text) + ": length must be 0.." + std::to_string(max_prefix);
    return std::nullopt;
  }
  return cidr;
}

bool CidrContains(const Cidr& cidr, int family, const unsigned char* bytes) {
  if (family != cidr.family) return false;
  const int full = cidr.prefix / 8;
  if (!std::equal(bytes, bytes + full, cidr.bytes.begin())) return false;
  const int rest = cidr.prefix % 8;
  if (rest == 0) return true;
  const unsigned char mask = static_cast<unsigned char>(0xff << (8 - rest));
  return (bytes[full] & mask) == (cidr.bytes[full] & mask);
}

// The address of `cidr` with the host bits cleared.
std::array<unsigned char, 16> Masked(const Cidr& cidr) {
  std::array<unsigned char, 16> network{};
  const int full = cidr.prefix / 8;
  std::copy(cidr.bytes.begin(), cidr.bytes.begin() + full, network.begin());
  if (cidr.prefix % 8 != 0) {
    network[full] = cidr.bytes[full] & static_cast<unsigned char>(0xff << (8 - cidr.prefix % 8));
  }
  return network;
}

// "192.0.2.0/24" for "192.0.2.1/24": the network written back, for the host-bits hint.
std::string NetworkOf(const Cidr& cidr) {
  const std::array<unsigned char, 16> network = Masked(cidr);
  char text[INET6_ADDRSTRLEN];
  inet_ntop(cidr.family, network.data(), text, sizeof(text));
  return std::string(text) + "/" + std::to_string(cidr.prefix);
}

std::vector<std::string> DecodeAllowlist(const Field& parent) {
  std::vector<std::string> entries;
  for (const Field& item : Items(parent)) {
    const std::string written = String(item);
    std::string port_error;
    const std::optional<AllowlistEntry> split = SplitAllowlistEntry(written, &port_error);
    if (!split) Fail(item.path, item.line, port_error);
    const std::string& text = split->host;
    if (text.find('/') != std::string::npos) {
      std::string error;
      const std::optional<Cidr> cidr = ParseCidr(text, &error);
      if (!cidr) Fail(item.path, item.line, error);
      // "192.0.2.1/24" is almost always a typo for a single host or for the network; refuse to
      // guess which one was meant.
      if (Masked(*cidr) != cidr->bytes) {
        Fail(item.path, item.line,
             "host bits set in " + Quote(text) + " (did you mean " + NetworkOf(*cidr) + "?)");
      }
    } else if (text.starts_with("*.")) {
      if (!IsHostName(text.substr(2)) || text.find('*', 1) != std::string::npos) {
        Fail(item.path, item.line, "invalid host name pattern " + Quote(text));
      }
    } else if (text.find('*') != std::string::npos) {
      Fail(item.path, item.line,
           "invalid entry " + Quote(text) + " (a wildcard is only allowed as a leading \"*.\")");
    } else if (!IsHostName(text) && !IsIpv6(text)) {
      Fail(item.path, item.line,
           "expected a CIDR prefix, a host name or a \"*.\" pattern, got " + Quote(text));
    }
    entries.push_back(written);
  }
  return entries;
}

// ---------------------------------------------------------------------------------------------
// The document

Config Decode(const Field& root, const std::string& base_dir) {
  Config config;
  config.modules["default"] = Module{};
  if (root.value.IsNull()) return config;  // an empty file
  const std::vector<Field> fields = Fields(root, {"modules", "targets", "probe_allowlist"});
  // Modules first, whatever the order in the file: targets refer to them.
  for (const Field& field : fields) {
    if (field.key == "modules") {
      for (auto& [name, module] : DecodeModules(field, base_dir)) {
        config.modules[name] = std::move(module);
      }
    }
  }
  for (const Field& field : fields) {
    if (field.key == "targets") {
      config.targets = DecodeTargets(field, config.modules);
    } else if (field.key == "probe_allowlist") {
      config.probe_allowlist = DecodeAllowlist(field);
    }
  }
  return config;
}

}  // namespace

Config DefaultConfig() {
  Config config;
  config.modules["default"] = Module{};
  TargetConfig target;
  target.address = "127.0.0.1:25";
  target.target = Target{"127.0.0.1", 25, false};
  config.targets.push_back(std::move(target));
  return config;
}

LoadResult ParseConfig(std::string_view yaml, const std::string& base_dir) {
  LoadResult result;
  Config config;
  result.error = strict::DecodeDocument(
      yaml, kRootName, [&](const Field& root) { config = Decode(root, base_dir); });
  if (result.error.empty()) result.config = std::move(config);
  return result;
}

LoadResult LoadConfigFile(const std::string& path) {
  const strict::FileText file = strict::ReadConfigFile(path);
  if (!file.error.empty()) return LoadResult{std::nullopt, file.error};
  return ParseConfig(file.text, file.base_dir);
}

std::optional<AllowlistEntry> SplitAllowlistEntry(std::string_view entry, std::string* error) {
  AllowlistEntry split;
  std::string_view ports;
  if (entry.starts_with('[')) {
    const std::size_t close = entry.find(']');
    if (close == std::string_view::npos) {
      *error = "unbalanced brackets in " + Quote(entry);
      return std::nullopt;
    }
    split.host = std::string(entry.substr(1, close - 1));
    std::string_view rest = entry.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':' || rest.size() == 1) {
        *error = "expected \":<ports>\" after \"]\" in " + Quote(entry);
        return std::nullopt;
      }
      ports = rest.substr(1);
    }
  } else if (const std::size_t colon = entry.find(':');
             colon != std::string_view::npos &&
             entry.find(':', colon + 1) == std::string_view::npos) {
    split.host = std::string(entry.substr(0, colon));
    ports = entry.substr(colon + 1);
    if (ports.empty()) {
      *error = "empty port list in " + Quote(entry);
      return std::nullopt;
    }
  } else {
    split.host = std::string(entry);  // no ports, or a bare IPv6 address or prefix
  }
  while (!ports.empty()) {
    const std::size_t comma = ports.find(',');
    const std::string_view text = ports.substr(0, comma);
    ports = comma == std::string_view::npos ? std::string_view() : ports.substr(comma + 1);
    unsigned value = 0;
    const auto [end, status] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || status != std::errc() || end != text.data() + text.size() || value == 0 ||
        value > 65535) {
      *error = "invalid port " + Quote(text) + " in " + Quote(entry) + " (expected 1..65535)";
      return std::nullopt;
    }
    split.ports.push_back(static_cast<std::uint16_t>(value));
  }
  return split;
}

namespace {

bool PortAllowed(const AllowlistEntry& entry, std::uint16_t port) {
  if (entry.ports.empty()) {
    return std::find(std::begin(kDefaultAllowedPorts), std::end(kDefaultAllowedPorts), port) !=
           std::end(kDefaultAllowedPorts);
  }
  return std::find(entry.ports.begin(), entry.ports.end(), port) != entry.ports.end();
}

// The family and bytes of an IP literal (IPv4-mapped IPv6 as IPv4), or family 0.
int AddressBytes(const std::string& text, std::array<unsigned char, 16>* bytes) {
  if (IsIpv4(text, bytes->data())) return AF_INET;
  if (!IsIpv6(text, bytes->data())) return 0;
  static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::equal(std::begin(kMapped), std::end(kMapped), bytes->begin())) {
    std::copy(bytes->begin() + 12, bytes->end(), bytes->begin());
    std::fill(bytes->begin() + 4, bytes->end(), 0);
    return AF_INET;
  }
  return AF_INET6;
}

// Whether address entry `host` (a CIDR prefix or an IP literal) holds the address.
bool AddressEntryMatches(const std::string& host, int family,
                         const std::array<unsigned char, 16>& bytes) {
  if (host.find('/') != std::string::npos) {
    std::string error;
    const std::optional<Cidr> cidr = ParseCidr(host, &error);
    return cidr && CidrContains(*cidr, family, bytes.data());
  }
  std::array<unsigned char, 16> entry_bytes{};
  return AddressBytes(host, &entry_bytes) == family && entry_bytes == bytes;
}

}  // namespace

bool ProbeAllowed(const std::vector<std::string>& allowlist, std::string_view host,
                  std::uint16_t port) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) return false;
  std::array<unsigned char, 16> bytes{};
  const int family = AddressBytes(std::string(host), &bytes);
  const std::string name = NormalizeName(host);
  for (const std::string& written : allowlist) {
    std::string error;
    const std::optional<AllowlistEntry> entry = SplitAllowlistEntry(written, &error);
    if (!entry || !PortAllowed(*entry, port)) continue;
    const std::string& pattern = entry->host;
    if (family != 0) {
      if (AddressEntryMatches(pattern, family, bytes)) return true;
    } else if (pattern.starts_with("*.")) {
      const std::string suffix = NormalizeName(std::string_view(pattern).substr(1));  // ".example"
      if (name.size() > suffix.size() && name.ends_with(suffix)) return true;
    } else if (pattern.find('/') == std::string::npos && NormalizeName(pattern) == name) {
      return true;
    }
  }
  return false;
}

bool HasAddressEntries(const std::vector<std::string>& allowlist) {
  for (const std::string& written : allowlist) {
    std::string error;
    const std::optional<AllowlistEntry> entry = SplitAllowlistEntry(written, &error);
    std::array<unsigned char, 16> bytes{};
    if (entry &&
        (entry->host.find('/') != std::string::npos || AddressBytes(entry->host, &bytes) != 0)) {
      return true;
    }
  }
  return false;
}

bool AddressAllowed(const std::vector<std::string>& allowlist, std::string_view address,
                    std::uint16_t port) {
  std::array<unsigned char, 16> bytes{};
  const int family = AddressBytes(std::string(address), &bytes);
  if (family == 0) return false;
  for (const std::string& written : allowlist) {
    std::string error;
    const std::optional<AllowlistEntry> entry = SplitAllowlistEntry(written, &error);
    if (entry && PortAllowed(*entry, port) && AddressEntryMatches(entry->host, family, bytes)) {
      return true;
    }
  }
  return false;
}

}  // namespace smtp

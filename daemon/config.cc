// Strict YAML decoding of the daemon's config; see config.h for the contract.
#include "daemon/config.h"

#include <arpa/inet.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <set>
#include <sstream>
#include <tuple>
#include <utility>

#include "daemon/duration.h"
#include "daemon/metrics.h"

namespace smtp {
namespace {

// Decoding stops at the first error. Every check is one line that throws this (caught in
// ParseConfig only), instead of threading a status through a dozen nested decoders.
struct ConfigError {
  std::string message;
};

constexpr std::string_view kRootPath = "config";

// `text` with anything that could break a one-line error escaped (C style); '"' and '\\' too
// when the result goes between quotes.
std::string Escape(std::string_view text, bool for_quotes) {
  std::string escaped;
  for (unsigned char c : text) {
    if (for_quotes && (c == '"' || c == '\\')) {
      escaped += '\\';
      escaped += static_cast<char>(c);
    } else if (c == '\r') {
      escaped += "\\r";
    } else if (c == '\n') {
      escaped += "\\n";
    } else if (c == '\t') {
      escaped += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      escaped += "\\x";
      escaped += kHex[c >> 4];
      escaped += kHex[c & 0xf];
    } else {
      escaped += static_cast<char>(c);
    }
  }
  return escaped;
}

std::string Quote(std::string_view text) { return "\"" + Escape(text, true) + "\""; }

[[noreturn]] void Fail(std::string_view path, int line, std::string_view message) {
  std::string text = Escape(path, false);
  text += ": ";
  text += message;
  if (line > 0) text += " (line " + std::to_string(line) + ")";
  throw ConfigError{std::move(text)};
}

// 1-based line of `node`, or `fallback` for nodes without a position. yaml-cpp places a null
// value at the start of the next token (often the next line), so callers pass the key's line
// for values that may be null.
int LineOf(const YAML::Node& node, int fallback = 0) {
  const int line = node.Mark().line;
  return line >= 0 ? line + 1 : fallback;
}

std::string KindOf(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a sequence";
    case YAML::NodeType::Scalar:
      return "a string";
    default:
      return "null";
  }
}

std::string Join(std::string_view path, std::string_view key) {
  return std::string(path) + "." + std::string(key);
}

std::string Index(std::string_view path, std::size_t index) {
  return std::string(path) + "[" + std::to_string(index) + "]";
}

// One key of a mapping. `line` is where to point for this value: the value's own line, or the
// key's when the value is null.
struct Field {
  std::string key;
  std::string path;
  YAML::Node value;
  int key_line = 0;
  int line = 0;
};

void ExpectMap(const YAML::Node& node, std::string_view path, int line) {
  if (!node.IsMap()) Fail(path, line, "expected a mapping, got " + KindOf(node));
}

// The fields of mapping `node`, in file order. Unknown keys, duplicate keys and non-string keys
// are errors. Fields with a null value are dropped (null = absent, see config.h) unless
// `keep_nulls`, for maps of user-chosen names where the key alone means something (a module with
// every default). An empty `known` list accepts any key.
std::vector<Field> Fields(const YAML::Node& node, std::string_view path, int line,
                          std::initializer_list<std::string_view> known, bool keep_nulls = false) {
  ExpectMap(node, path, line);
  std::vector<Field> fields;
  std::set<std::string> seen;
  for (auto it = node.begin(); it != node.end(); ++it) {
    const YAML::Node key = it->first;
    const int key_line = LineOf(key, line);
    if (!key.IsScalar()) Fail(path, key_line, "keys must be strings, got " + KindOf(key));
    const std::string& name = key.Scalar();
    const std::string field_path = Join(path, name);
    if (known.size() != 0 && std::find(known.begin(), known.end(), name) == known.end()) {
      std::string expected;
      for (std::string_view k : known) {
        if (!expected.empty()) expected += ", ";
        expected += k;
      }
      Fail(field_path, key_line, "unknown key (expected one of: " + expected + ")");
    }
    if (!seen.insert(name).second) Fail(field_path, key_line, "duplicate key");
    if (it->second.IsNull() && !keep_nulls) continue;
    const int value_line = it->second.IsNull() ? key_line : LineOf(it->second, key_line);
    fields.push_back(Field{name, field_path, it->second, key_line, value_line});
  }
  return fields;
}

std::string String(const Field& field) {
  if (!field.value.IsScalar()) {
    Fail(field.path, field.line, "expected a string, got " + KindOf(field.value));
  }
  return field.value.Scalar();
}

bool Bool(const Field& field) {
  const std::string text = String(field);
  // Only plain (unquoted) scalars or an explicit !!bool: "true" in quotes is a string.
  const std::string& tag = field.value.Tag();
  if (tag == "?" || tag == "tag:yaml.org,2002:bool") {
    if (text == "true" || text == "True" || text == "TRUE") return true;
    if (text == "false" || text == "False" || text == "FALSE") return false;
  }
  Fail(field.path, field.line, "expected true or false, got " + Quote(text));
}

// A duration that must be > 0 (a zero timeout or interval has no useful meaning).
std::chrono::milliseconds Duration(const Field& field) {
  const std::string text = String(field);
  const std::optional<std::chrono::milliseconds> duration = ParseDuration(text);
  if (!duration) {
    Fail(field.path, field.line,
         "invalid duration " + Quote(text) + " (expected e.g. 10s, 1m30s, 500ms)");
  }
  if (duration->count() <= 0) Fail(field.path, field.line, "must be greater than 0");
  return *duration;
}

bool IsIpv4(const std::string& text, unsigned char* bytes = nullptr) {
  unsigned char buffer[4];
  return inet_pton(AF_INET, text.c_str(), bytes != nullptr ? bytes : buffer) == 1;
}

bool IsIpv6(const std::string& text, unsigned char* bytes = nullptr) {
  unsigned char buffer[16];
  return inet_pton(AF_INET6, text.c_str(), bytes != nullptr ? bytes : buffer) == 1;
}

// RFC 1123 host name: dot-separated labels of 1..63 letters, digits, '-' (and '_', which real
// internal names use), at most 253 octets, one optional trailing dot.
bool IsHostName(std::string_view name) {
  if (name.ends_with('.')) name.remove_suffix(1);
  if (name.empty() || name.size() > 253) return false;
  std::size_t label = 0;
  for (char c : name) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    if (!ok || ++label > 63) return false;
  }
  return label != 0;
}

// RFC 5321 §4.1.3 address literal: "[192.0.2.1]" or "[IPv6:2001:db8::1]".
bool IsAddressLiteral(std::string_view text) {
  if (text.size() < 3 || text.front() != '[' || text.back() != ']') return false;
  const std::string inner(text.substr(1, text.size() - 2));
  if (inner.starts_with("IPv6:")) return IsIpv6(inner.substr(5));
  return IsIpv4(inner);
}

// RFC 5322 atext, plus '.' between atoms: enough for the probe's own addresses, and nothing
// that could end the SMTP path early (no spaces, '<', '>', CR or LF).
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

std::string Mailbox(const Field& field) {
  const std::string text = String(field);
  const std::size_t at = text.rfind('@');
  if (at == std::string::npos || !IsLocalPart(std::string_view(text).substr(0, at))) {
    Fail(field.path, field.line, "expected an address local@domain, got " + Quote(text));
  }
  const std::string_view domain = std::string_view(text).substr(at + 1);
  if (!IsHostName(domain) && !IsAddressLiteral(domain)) {
    Fail(field.path, field.line, "expected an address local@domain, got " + Quote(text));
  }
  return text;
}

std::string EhloName(const Field& field) {
  const std::string text = String(field);
  if (!IsHostName(text) && !IsAddressLiteral(text)) {
    Fail(field.path, field.line,
         "expected a domain name or an address literal like [192.0.2.1], got " + Quote(text));
  }
  return text;
}

std::string DnsServer(const Field& field) {
  const std::string text = String(field);
  if (text.empty()) return text;  // the system resolver
  std::string error;
  const std::optional<Target> server = ParseTarget(text, &error);
  if (!server || server->mx || (!IsIpv4(server->host) && !IsIpv6(server->host))) {
    // A host name cannot work: the resolver would need another resolver to find its server.
    Fail(field.path, field.line,
         "expected an IP address with optional port, like 192.0.2.53:53 or [2001:db8::53]:53, "
         "got " +
             Quote(text));
  }
  return text;
}

std::string CaFile(const Field& field, const std::string& base_dir) {
  const std::string text = String(field);
  if (text.empty()) return text;  // the system trust store
  std::filesystem::path path(text);
  if (path.is_relative() && !base_dir.empty()) path = std::filesystem::path(base_dir) / path;
  path = path.lexically_normal();
  // Checked now so that --config.check and a reload catch the typo, rather than every probe
  // failing later with reason "tls".
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error)) {
    Fail(field.path, field.line,
         "CA file " + Quote(path.string()) +
             (error ? " cannot be read: " + error.message() : std::string(" is not a file")));
  }
  std::ifstream stream(path);
  if (!stream) {
    Fail(field.path, field.line,
         "CA file " + Quote(path.string()) + " cannot be read: " + std::strerror(errno));
  }
  return path.string();
}

std::vector<std::string> Variants(const Field& field) {
  if (field.value.IsScalar()) {
    const std::string& word = field.value.Scalar();
    if (word == "basic") return BasicRelayVariants();
    if (word == "all") return AllRelayVariants();
    Fail(field.path, field.line,
         "expected basic, all or a list of variant names, got " + Quote(word));
  }
  if (!field.value.IsSequence()) {
    Fail(field.path, field.line,
         "expected basic, all or a list of variant names, got " + KindOf(field.value));
  }
  if (field.value.size() == 0) {
    Fail(field.path, field.line, "must not be empty (leave it out for the basic set)");
  }
  std::vector<std::string> names;
  for (std::size_t i = 0; i < field.value.size(); ++i) {
    const Field item{"", Index(field.path, i), field.value[i], field.line,
                     LineOf(field.value[i], field.line)};
    const std::string name = String(item);
    if (!IsRelayVariant(name)) {
      std::string known;
      for (const std::string& k : AllRelayVariants()) known += (known.empty() ? "" : ", ") + k;
      Fail(item.path, item.line, "unknown variant " + Quote(name) + " (known: " + known + ")");
    }
    if (std::find(names.begin(), names.end(), name) != names.end()) {
      Fail(item.path, item.line, "duplicate variant " + Quote(name));
    }
    names.push_back(name);
  }
  return names;
}

RelayTestConfig DecodeRelayTest(const Field& parent) {
  RelayTestConfig relay;
  for (const Field& field :
       Fields(parent.value, parent.path, parent.line,
              {"enabled", "interval", "timeout", "mail_from", "rcpt_to", "variants"})) {
    if (field.key == "enabled") {
      relay.enabled = Bool(field);
    } else if (field.key == "interval") {
      relay.interval = Duration(field);
    } else if (field.key == "timeout") {
      relay.timeout = Duration(field);
    } else if (field.key == "mail_from") {
      relay.mail_from = Mailbox(field);
    } else if (field.key == "rcpt_to") {
      relay.rcpt_to = Mailbox(field);
    } else if (field.key == "variants") {
      relay.variants = Variants(field);
    }
  }
  return relay;
}

TlsOptions DecodeTls(const Field& parent, const std::string& base_dir) {
  TlsOptions tls;
  for (const Field& field :
       Fields(parent.value, parent.path, parent.line, {"verify", "server_name", "ca_file"})) {
    if (field.key == "verify") {
      tls.verify = Bool(field);
    } else if (field.key == "server_name") {
      tls.server_name = String(field);
      if (!tls.server_name.empty() && !IsHostName(tls.server_name) && !IsIpv6(tls.server_name)) {
        Fail(field.path, field.line, "expected a host name, got " + Quote(tls.server_name));
      }
    } else if (field.key == "ca_file") {
      tls.ca_file = CaFile(field, base_dir);
    }
  }
  return tls;
}

Module DecodeModule(const Field& parent, const std::string& base_dir) {
  Module module;
  if (parent.value.IsNull()) return module;
  for (const Field& field : Fields(parent.value, parent.path, parent.line,
                                   {"timeout", "ehlo_name", "starttls", "implicit_tls", "tls",
                                    "ip_protocol", "dns_server", "relay_test"})) {
    if (field.key == "timeout") {
      module.timeout = Duration(field);
    } else if (field.key == "ehlo_name") {
      module.ehlo_name = EhloName(field);
    } else if (field.key == "starttls") {
      const std::string text = String(field);
      const std::optional<StartTlsMode> mode = ParseStartTlsMode(text);
      if (!mode) {
        Fail(field.path, field.line, "expected off, opportunistic or required, got " + Quote(text));
      }
      module.starttls = *mode;
    } else if (field.key == "implicit_tls") {
      module.implicit_tls = Bool(field);
    } else if (field.key == "tls") {
      module.tls = DecodeTls(field, base_dir);
    } else if (field.key == "ip_protocol") {
      const std::string text = String(field);
      const std::optional<IpProtocol> protocol = ParseIpProtocol(text);
      if (!protocol) Fail(field.path, field.line, "expected ip4, ip6 or both, got " + Quote(text));
      module.ip_protocol = *protocol;
    } else if (field.key == "dns_server") {
      module.dns_server = DnsServer(field);
    } else if (field.key == "relay_test") {
      module.relay_test = DecodeRelayTest(field);
    }
  }
  return module;
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
  for (const Field& field :
       Fields(parent.value, parent.path, parent.line, {}, /*keep_nulls=*/true)) {
    if (!IsModuleName(field.key)) {
      Fail(field.path, field.key_line,
           "invalid module name " + Quote(field.key) + " (letters, digits, '_' and '-' only)");
    }
    modules[field.key] = DecodeModule(field, base_dir);
  }
  return modules;
}

std::map<std::string, std::string> DecodeLabels(const Field& parent) {
  std::map<std::string, std::string> labels;
  for (const Field& field :
       Fields(parent.value, parent.path, parent.line, {}, /*keep_nulls=*/true)) {
    if (std::optional<std::string> error = TargetLabelNameError(field.key)) {
      Fail(field.path, field.key_line, *error);
    }
    labels[field.key] = String(field);
  }
  return labels;
}

std::string ToLower(std::string_view text) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lower;
}

std::string NormalizeName(std::string_view name) {
  if (name.ends_with('.')) name.remove_suffix(1);
  return ToLower(name);
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

std::vector<TargetConfig> DecodeTargets(const Field& parent,
                                        const std::map<std::string, Module>& modules) {
  if (!parent.value.IsSequence()) {
    Fail(parent.path, parent.line, "expected a sequence, got " + KindOf(parent.value));
  }
  std::vector<TargetConfig> targets;
  // (mx, canonical host, port, module) -> index of the first target with it.
  std::map<std::tuple<bool, std::string, std::uint16_t, std::string>, std::size_t> seen;
  for (std::size_t i = 0; i < parent.value.size(); ++i) {
    const YAML::Node& node = parent.value[i];
    const std::string path = Index(parent.path, i);
    const int line = LineOf(node, parent.line);
    TargetConfig target;
    std::optional<Field> address_field;
    std::optional<Field> interval_field;
    int module_line = line;
    for (const Field& field :
         Fields(node, path, line, {"address", "module", "interval", "labels"})) {
      if (field.key == "address") {
        target.address = String(field);
        std::string error;
        std::optional<Target> parsed = ParseTarget(target.address, &error);
        if (!parsed) Fail(field.path, field.line, Escape(error, false));
        target.target = *parsed;
        address_field = field;
      } else if (field.key == "module") {
        target.module = String(field);
        module_line = field.line;
      } else if (field.key == "interval") {
        target.interval = Duration(field);
        interval_field = field;
      } else if (field.key == "labels") {
        target.labels = DecodeLabels(field);
      }
    }
    if (!address_field) Fail(Join(path, "address"), line, "required");
    const auto module = modules.find(target.module);
    if (module == modules.end()) {
      Fail(Join(path, "module"), module_line, "unknown module " + Quote(target.module));
    }
    if (module->second.timeout > target.interval) {
      Fail(Join(path, "interval"), interval_field ? interval_field->line : line,
           "interval " + FormatDuration(target.interval) + " is shorter than the timeout " +
               FormatDuration(module->second.timeout) + " of module " + Quote(target.module));
    }
    if (target.target.port == 0) target.target.port = module->second.DefaultPort();
    const auto key = std::make_tuple(target.target.mx, CanonicalHost(target.target),
                                     target.target.port, target.module);
    if (const auto [it, inserted] = seen.emplace(key, i); !inserted) {
      Fail(Join(path, "address"), address_field->line,
           "duplicate of " + Index(parent.path, it->second) + " (same address " +
               Quote(target.address) + " and module " + Quote(target.module) + ")");
    }
    targets.push_back(std::move(target));
  }
  return targets;
}

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
  if (!parent.value.IsSequence()) {
    Fail(parent.path, parent.line, "expected a sequence, got " + KindOf(parent.value));
  }
  std::vector<std::string> entries;
  for (std::size_t i = 0; i < parent.value.size(); ++i) {
    const Field item{"", Index(parent.path, i), parent.value[i], parent.line,
                     LineOf(parent.value[i], parent.line)};
    const std::string text = String(item);
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
    entries.push_back(text);
  }
  return entries;
}

Config Decode(const YAML::Node& root, const std::string& base_dir) {
  Config config;
  config.modules["default"] = Module{};
  if (root.IsNull()) return config;  // an empty file
  if (!root.IsMap()) {
    Fail(kRootPath, LineOf(root, 1), "expected a mapping at the top level, got " + KindOf(root));
  }
  // Top-level keys are bare in paths ("targets[2].module"), so the root path is empty here.
  const std::vector<Field> fields = [&] {
    std::vector<Field> result;
    std::set<std::string> seen;
    constexpr std::array<std::string_view, 3> kKnown = {"modules", "targets", "probe_allowlist"};
    for (auto it = root.begin(); it != root.end(); ++it) {
      const int key_line = LineOf(it->first, 1);
      if (!it->first.IsScalar()) Fail(kRootPath, key_line, "keys must be strings");
      const std::string& name = it->first.Scalar();
      if (std::find(kKnown.begin(), kKnown.end(), name) == kKnown.end()) {
        Fail(name, key_line, "unknown key (expected one of: modules, targets, probe_allowlist)");
      }
      if (!seen.insert(name).second) Fail(name, key_line, "duplicate key");
      if (it->second.IsNull()) continue;
      result.push_back(Field{name, name, it->second, key_line, LineOf(it->second, key_line)});
    }
    return result;
  }();
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
  try {
    const std::vector<YAML::Node> documents = YAML::LoadAll(std::string(yaml));
    if (documents.size() > 1) {
      Fail(kRootPath, LineOf(documents[1], 1), "more than one YAML document");
    }
    result.config = Decode(documents.empty() ? YAML::Node() : documents[0], base_dir);
  } catch (const ConfigError& error) {
    result.error = error.message;
  } catch (const YAML::Exception& error) {
    result.error = std::string(kRootPath) + ": invalid YAML: " + error.msg;
    if (error.mark.line >= 0) result.error += " (line " + std::to_string(error.mark.line + 1) + ")";
  }
  return result;
}

LoadResult LoadConfigFile(const std::string& path) {
  LoadResult result;
  std::error_code error;
  if (std::filesystem::is_directory(path, error)) {
    result.error = path + ": is a directory";
    return result;
  }
  std::ifstream stream(path, std::ios::binary);
  if (!stream) {
    result.error = path + ": " + std::strerror(errno);
    return result;
  }
  std::ostringstream text;
  text << stream.rdbuf();
  if (stream.bad()) {
    result.error = path + ": read error";
    return result;
  }
  std::filesystem::path base = std::filesystem::absolute(path, error).parent_path();
  if (error) base = std::filesystem::path(path).parent_path();
  return ParseConfig(text.str(), base.string());
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
  return spec;
}

bool ProbeAllowed(const std::vector<std::string>& allowlist, std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) return false;
  const std::string text(host);
  std::array<unsigned char, 16> bytes{};
  int family = 0;
  if (IsIpv4(text, bytes.data())) {
    family = AF_INET;
  } else if (IsIpv6(text, bytes.data())) {
    family = AF_INET6;
  }
  const std::string name = NormalizeName(host);
  for (const std::string& entry : allowlist) {
    if (entry.find('/') != std::string::npos) {
      std::string error;
      const std::optional<Cidr> cidr = ParseCidr(entry, &error);
      if (family != 0 && cidr && CidrContains(*cidr, family, bytes.data())) return true;
    } else if (family != 0) {
      std::array<unsigned char, 16> entry_bytes{};
      if ((family == AF_INET && IsIpv4(entry, entry_bytes.data())) ||
          (family == AF_INET6 && IsIpv6(entry, entry_bytes.data()))) {
        if (entry_bytes == bytes) return true;
      }
    } else if (entry.starts_with("*.")) {
      const std::string suffix = NormalizeName(std::string_view(entry).substr(1));  // ".example"
      if (name.size() > suffix.size() && name.ends_with(suffix)) return true;
    } else if (NormalizeName(entry) == name) {
      return true;
    }
  }
  return false;
}

}  // namespace smtp

// Open-relay test envelopes; see relay_variants.h for the contract.
#include "probes/relay_variants.h"

#include <algorithm>

#include "probes/command.h"

namespace smtp {
namespace {

enum class Needs { kNothing, kName, kAddress };

struct Variant {
  std::string_view name;
  Needs needs;
};

// The order of REFERENCE.md "Relay test", which is also the order of the "all" set.
constexpr Variant kVariants[] = {
    {"null_sender", Needs::kNothing},    {"external", Needs::kNothing},
    {"spoof_local_name", Needs::kName},  {"spoof_local_ip", Needs::kAddress},
    {"percent_ip", Needs::kAddress},     {"percent_name", Needs::kName},
    {"quoted", Needs::kNothing},         {"quoted_percent", Needs::kNothing},
    {"double_at_ip", Needs::kAddress},   {"double_at_name", Needs::kName},
    {"quoted_at_ip", Needs::kAddress},   {"source_route_ip", Needs::kAddress},
    {"source_route_name", Needs::kName}, {"bang", Needs::kNothing},
    {"bang_ip", Needs::kAddress},        {"bang_name", Needs::kName},
};

const Variant* FindVariant(std::string_view name) {
  for (const Variant& v : kVariants) {
    if (v.name == name) return &v;
  }
  return nullptr;
}

// The banner name goes into addresses verbatim, so it must be a plain domain (letters, digits,
// '-', '.', '_') or an address literal "[...]" without anything that would end the path early.
bool IsUsableServerName(std::string_view name) {
  if (name.empty()) return false;
  if (name.size() >= 3 && name.front() == '[' && name.back() == ']') {
    std::string_view inner = name.substr(1, name.size() - 2);
    return std::all_of(inner.begin(), inner.end(), [](char c) {
      return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
             c == '.' || c == ':' || c == '-';
    });
  }
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' ||
           c == '-' || c == '_';
  });
}

// RFC 5321 §4.1.3 address literal: "[192.0.2.1]" or "[IPv6:2001:db8::1]". A zone suffix
// ("%eth0") has no meaning to the server and is dropped. Returns "" when unusable.
std::string AddressLiteral(std::string_view ip) {
  if (ip.size() >= 2 && ip.front() == '[' && ip.back() == ']') ip = ip.substr(1, ip.size() - 2);
  if (std::size_t zone = ip.find('%'); zone != std::string_view::npos) ip = ip.substr(0, zone);
  if (ip.empty()) return {};
  bool v6 = ip.find(':') != std::string_view::npos;
  bool ok = std::all_of(ip.begin(), ip.end(), [v6](char c) {
    return (c >= '0' && c <= '9') || c == '.' ||
           (v6 && (c == ':' || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')));
  });
  if (!ok) return {};
  return v6 ? "[IPv6:" + std::string(ip) + "]" : "[" + std::string(ip) + "]";
}

std::string LocalPart(std::string_view address) {
  std::size_t at = address.rfind('@');
  return std::string(at == std::string_view::npos ? address : address.substr(0, at));
}

}  // namespace

const std::vector<std::string>& AllRelayVariants() {
  static const std::vector<std::string> kAll = [] {
    std::vector<std::string> names;
    for (const Variant& v : kVariants) names.emplace_back(v.name);
    return names;
  }();
  return kAll;
}

const std::vector<std::string>& BasicRelayVariants() {
  static const std::vector<std::string> kBasic = {"null_sender",       "external",
                                                  "spoof_local_name",  "percent_name",
                                                  "source_route_name", "bang_name"};
  return kBasic;
}

bool IsRelayVariant(std::string_view name) { return FindVariant(name) != nullptr; }

std::vector<RelayEnvelope> BuildRelayEnvelopes(const std::vector<std::string>& variants,
                                               const RelayContext& context) {
  std::vector<RelayEnvelope> envelopes;
  // D and the local part come from the configured recipient, e.g. "relay-test@example.net".
  const std::size_t at = context.rcpt_to.rfind('@');
  if (at == std::string::npos || at + 1 >= context.rcpt_to.size()) return envelopes;
  const std::string domain = context.rcpt_to.substr(at + 1);
  std::string local = context.rcpt_to.substr(0, at);
  if (local.empty()) local = "relaytest";

  std::string sender_local = LocalPart(context.mail_from);
  if (sender_local.empty()) sender_local = local;

  const std::string srv = IsUsableServerName(context.server_name) ? context.server_name : "";
  const std::string ip = AddressLiteral(context.server_ip);
  const std::string sender = AnglePath(context.mail_from);
  const std::string plain = "<" + local + "@" + domain + ">";

  std::vector<std::string_view> seen;
  for (const std::string& name : variants) {
    const Variant* v = FindVariant(name);
    if (v == nullptr) continue;
    if (std::find(seen.begin(), seen.end(), v->name) != seen.end()) continue;
    if (v->needs == Needs::kName && srv.empty()) continue;
    if (v->needs == Needs::kAddress && ip.empty()) continue;
    seen.push_back(v->name);

    RelayEnvelope e{std::string(v->name), sender, plain};
    const std::string_view n = v->name;
    if (n == "null_sender") {
      e.mail_from = "<>";
    } else if (n == "spoof_local_name") {
      e.mail_from = "<" + sender_local + "@" + srv + ">";
    } else if (n == "spoof_local_ip") {
      e.mail_from = "<" + sender_local + "@" + ip + ">";
    } else if (n == "percent_ip") {
      e.rcpt_to = "<" + local + "%" + domain + "@" + ip + ">";
    } else if (n == "percent_name") {
      e.rcpt_to = "<" + local + "%" + domain + "@" + srv + ">";
    } else if (n == "quoted") {
      e.rcpt_to = "<\"" + local + "@" + domain + "\">";
    } else if (n == "quoted_percent") {
      e.rcpt_to = "<\"" + local + "%" + domain + "\">";
    } else if (n == "double_at_ip") {
      e.rcpt_to = "<" + local + "@" + domain + "@" + ip + ">";
    } else if (n == "double_at_name") {
      e.rcpt_to = "<" + local + "@" + domain + "@" + srv + ">";
    } else if (n == "quoted_at_ip") {
      e.rcpt_to = "<\"" + local + "@" + domain + "\"@" + ip + ">";
    } else if (n == "source_route_ip") {
      e.rcpt_to = "<@" + ip + ":" + local + "@" + domain + ">";
    } else if (n == "source_route_name") {
      e.rcpt_to = "<@" + srv + ":" + local + "@" + domain + ">";
    } else if (n == "bang") {
      e.rcpt_to = "<" + domain + "!" + local + ">";
    } else if (n == "bang_ip") {
      e.rcpt_to = "<" + domain + "!" + local + "@" + ip + ">";
    } else if (n == "bang_name") {
      e.rcpt_to = "<" + domain + "!" + local + "@" + srv + ">";
    }
    envelopes.push_back(std::move(e));
  }
  return envelopes;
}

}  // namespace smtp

// Open-relay test envelopes; see relay_variants.h for the contract.
#include "probes/relay_variants.h"

#include <algorithm>

#include "probes/command.h"

namespace smtp {
namespace {

// Which of the server's own names a variant's addresses use.
enum class Needs { kNothing, kName, kAddress };

// What the envelope builders work from: "relay-test", "example.net", the configured sender as a
// path, its local part, SRV (a usable banner name) and [IP] (an address literal).
struct Parts {
  std::string local, domain, sender, sender_local, srv, ip;
  const std::string& Own(Needs needs) const { return needs == Needs::kName ? srv : ip; }
};

struct Variant {
  std::string_view name;
  Needs needs;
  // True when the foreign address hides in a local part addressed to the server's own name
  // (`needs`), or to no domain at all: the server may take it for local mail (DESIGN §1).
  bool hack;
  std::string (*rcpt_to)(const Parts&);
  std::string (*mail_from)(const Parts&);  // null: the configured sender
};

std::string Plain(const Parts& p) { return "<" + p.local + "@" + p.domain + ">"; }

// The order of REFERENCE.md "Relay test", which is also the order of the "all" set. Foreign as
// written: the recipient's domain is D itself (a source route is stripped, RFC 5321 §3.6.1 and
// Appendix C), so an acceptance proves relaying at once.
constexpr Variant kVariants[] = {
    {"null_sender", Needs::kNothing, false, Plain, [](const Parts&) { return std::string("<>"); }},
    {"external", Needs::kNothing, false, Plain, nullptr},
    {"spoof_local_name", Needs::kName, false, Plain,
     [](const Parts& p) { return "<" + p.sender_local + "@" + p.srv + ">"; }},
    {"spoof_local_ip", Needs::kAddress, false, Plain,
     [](const Parts& p) { return "<" + p.sender_local + "@" + p.ip + ">"; }},
    {"percent_ip", Needs::kAddress, true,
     [](const Parts& p) { return "<" + p.local + "%" + p.domain + "@" + p.ip + ">"; }, nullptr},
    {"percent_name", Needs::kName, true,
     [](const Parts& p) { return "<" + p.local + "%" + p.domain + "@" + p.srv + ">"; }, nullptr},
    {"quoted", Needs::kNothing, true,
     [](const Parts& p) { return "<\"" + p.local + "@" + p.domain + "\">"; }, nullptr},
    {"quoted_percent", Needs::kNothing, true,
     [](const Parts& p) { return "<\"" + p.local + "%" + p.domain + "\">"; }, nullptr},
    {"double_at_ip", Needs::kAddress, true,
     [](const Parts& p) { return "<" + p.local + "@" + p.domain + "@" + p.ip + ">"; }, nullptr},
    {"double_at_name", Needs::kName, true,
     [](const Parts& p) { return "<" + p.local + "@" + p.domain + "@" + p.srv + ">"; }, nullptr},
    {"quoted_at_ip", Needs::kAddress, true,
     [](const Parts& p) { return "<\"" + p.local + "@" + p.domain + "\"@" + p.ip + ">"; }, nullptr},
    {"source_route_ip", Needs::kAddress, false,
     [](const Parts& p) { return "<@" + p.ip + ":" + p.local + "@" + p.domain + ">"; }, nullptr},
    {"source_route_name", Needs::kName, false,
     [](const Parts& p) { return "<@" + p.srv + ":" + p.local + "@" + p.domain + ">"; }, nullptr},
    {"bang", Needs::kNothing, true,
     [](const Parts& p) { return "<" + p.domain + "!" + p.local + ">"; }, nullptr},
    {"bang_ip", Needs::kAddress, true,
     [](const Parts& p) { return "<" + p.domain + "!" + p.local + "@" + p.ip + ">"; }, nullptr},
    {"bang_name", Needs::kName, true,
     [](const Parts& p) { return "<" + p.domain + "!" + p.local + "@" + p.srv + ">"; }, nullptr},
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
  Parts parts;
  parts.domain = context.rcpt_to.substr(at + 1);
  parts.local = context.rcpt_to.substr(0, at);
  if (parts.local.empty()) parts.local = "relaytest";
  parts.sender_local = LocalPart(context.mail_from);
  if (parts.sender_local.empty()) parts.sender_local = parts.local;
  parts.srv = IsUsableServerName(context.server_name) ? context.server_name : "";
  parts.ip = AddressLiteral(context.server_ip);
  parts.sender = AnglePath(context.mail_from);

  std::vector<std::string_view> seen;
  for (const std::string& name : variants) {
    const Variant* v = FindVariant(name);
    if (v == nullptr) continue;
    if (std::find(seen.begin(), seen.end(), v->name) != seen.end()) continue;
    if (v->needs != Needs::kNothing && parts.Own(v->needs).empty()) continue;
    seen.push_back(v->name);
    RelayEnvelope e;
    e.variant = std::string(v->name);
    e.mail_from = v->mail_from ? v->mail_from(parts) : parts.sender;
    e.rcpt_to = v->rcpt_to(parts);
    e.hack = v->hack;
    if (v->hack && v->needs != Needs::kNothing) e.local_domain = parts.Own(v->needs);
    envelopes.push_back(std::move(e));
  }
  return envelopes;
}

std::vector<std::string> CatchAllDomains(const std::vector<RelayEnvelope>& envelopes,
                                         const RelayContext& context) {
  std::vector<std::string> domains;
  const auto add = [&domains](const std::string& domain) {
    if (std::find(domains.begin(), domains.end(), domain) == domains.end()) {
      domains.push_back(domain);
    }
  };
  if (IsUsableServerName(context.server_name)) add(context.server_name);
  for (const RelayEnvelope& envelope : envelopes) {
    if (envelope.hack) add(envelope.local_domain);
  }
  return domains;
}

std::string CatchAllRecipient(std::string_view domain, std::string_view local_part) {
  std::string path = "<" + std::string(local_part);
  if (!domain.empty()) path += "@" + std::string(domain);
  return path + ">";
}

}  // namespace smtp

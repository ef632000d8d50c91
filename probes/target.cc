#include "probes/target.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <string>

namespace smtp {
namespace {

bool IsIpv6Literal(const std::string& text) {
  // inet_pton reads a C string: "::" followed by a NUL and anything would pass (found by
  // target_fuzzer). No IPv6 literal is longer than 45 characters (RFC 4291 §2.2, with an
  // embedded IPv4 address).
  if (text.size() > 45 || text.find('\0') != std::string::npos) return false;
  unsigned char buffer[16];
  return inet_pton(AF_INET6, text.c_str(), buffer) == 1;
}

// The characters of a target's host: RFC 1123 §2.1 letters, digits, hyphens and dots;
// underscores are tolerated since they appear in real internal names. Labels are not checked.
bool HasHostNameCharacters(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  for (char c : host) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.' || c == '_';
    if (!ok) return false;
  }
  return true;
}

bool ParsePort(std::string_view text, std::uint16_t* port) {
  unsigned value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value == 0 || value > 65535) {
    return false;
  }
  *port = static_cast<std::uint16_t>(value);
  return true;
}

// The input as an error quotes it: whole when short, else only its length (as the config's
// errors name long values), so an error stays one short line whatever a config file, a URL or a
// command line holds (callers escape it).
std::string Quoted(std::string_view text) {
  constexpr std::size_t kMaxQuoted = 64;
  if (text.size() > kMaxQuoted) return "<value of " + std::to_string(text.size()) + " bytes>";
  return "\"" + std::string(text) + "\"";
}

}  // namespace

std::optional<Target> ParseTarget(std::string_view text, std::string* error) {
  Target target;
  if (text.starts_with("mx:")) {
    target.mx = true;
    text.remove_prefix(3);
    std::string_view domain = text;
    if (domain.ends_with('.')) domain.remove_suffix(1);
    if (!HasHostNameCharacters(domain) || domain.find('.') == std::string_view::npos) {
      *error = "invalid MX domain " + Quoted(text);
      return std::nullopt;
    }
    target.host = std::string(domain);
    return target;
  }
  std::string_view host = text;
  std::string_view port;
  if (text.starts_with('[')) {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos) {
      *error = "missing ']' in " + Quoted(text);
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        *error = "expected ':port' after ']' in " + Quoted(text);
        return std::nullopt;
      }
      port = rest.substr(1);
      if (port.empty()) {
        *error = "empty port in " + Quoted(text);
        return std::nullopt;
      }
    }
    if (!IsIpv6Literal(std::string(host))) {
      *error = "not an IPv6 address in brackets: " + Quoted(text);
      return std::nullopt;
    }
  } else if (std::count(text.begin(), text.end(), ':') > 1) {
    // A bare IPv6 literal has no port (write [v6]:port for one).
    if (!IsIpv6Literal(std::string(text))) {
      *error = "invalid address " + Quoted(text);
      return std::nullopt;
    }
  } else if (const std::size_t colon = text.find(':'); colon != std::string_view::npos) {
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (port.empty()) {
      *error = "empty port in " + Quoted(text);
      return std::nullopt;
    }
  }
  if (!port.empty() && !ParsePort(port, &target.port)) {
    *error = "invalid port " + Quoted(port) + " in " + Quoted(text);
    return std::nullopt;
  }
  target.host = std::string(host);
  if (!IsIpv6Literal(target.host) && !HasHostNameCharacters(target.host)) {
    *error = "invalid host " + Quoted(target.host);
    return std::nullopt;
  }
  return target;
}

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

}  // namespace smtp

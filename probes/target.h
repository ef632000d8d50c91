// Probe targets as users write them (DESIGN §1): "host:port", "host" (port 25, or 465 with
// implicit TLS), "[2001:db8::1]:25", a bare IPv6 literal, or "mx:example.com" = every MX host of
// the domain. Pure.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace smtp {

struct Target {
  std::string host;        // name or IP literal without brackets; the domain for MX targets
  std::uint16_t port = 0;  // 0 = not given: use the default
  bool mx = false;         // "mx:domain": expand to the domain's MX hosts
  bool operator==(const Target&) const = default;
};

// Returns nullopt and sets *error on malformed input (empty host, bad port, unbalanced brackets,
// characters that cannot be in a host name). The error quotes the input (or its part at fault)
// when it is at most 64 bytes long, else gives only its length ("<value of 300 bytes>"); it is not
// escaped: callers escape it for where they show it.
std::optional<Target> ParseTarget(std::string_view text, std::string* error);

// RFC 1123 host name: dot-separated labels of 1..63 letters, digits, '-' (and '_', which real
// internal names use), at most 253 octets, one optional trailing dot.
bool IsHostName(std::string_view name);

}  // namespace smtp

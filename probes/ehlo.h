// Parser for the EHLO reply (RFC 5321 §4.1.1.1): the first line is the server's domain and an
// optional greeting; each further line is one extension keyword with optional parameters.
// Keywords are case-insensitive and are normalised to upper case. Pure; never throws.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "probes/reply_parser.h"

namespace smtp {

struct Extension {
  std::string keyword;                  // upper case, e.g. "SIZE", "AUTH", "X-EXPS"
  std::vector<std::string> parameters;  // as sent, split on spaces, e.g. {"PLAIN", "LOGIN"}
  bool operator==(const Extension&) const = default;
};

struct Capabilities {
  std::string domain;                 // first word of the first line
  std::vector<Extension> extensions;  // in the order advertised; duplicates merged by keyword

  // Derived facts, for the keywords users alert and graph on.
  bool starttls = false;             // RFC 3207
  bool pipelining = false;           // RFC 2920
  bool eightbitmime = false;         // RFC 6152
  bool smtputf8 = false;             // RFC 6531
  bool chunking = false;             // RFC 3030 (BDAT; detected, never exercised)
  bool dsn = false;                  // RFC 3461
  bool enhancedstatuscodes = false;  // RFC 2034 / RFC 3463
  bool requiretls = false;           // RFC 8689
  // SIZE (RFC 1870 §4): nullopt when not advertised; 0 when advertised without a limit or with 0
  // (or with a parameter that is not a decimal number fitting 64 bits).
  std::optional<std::uint64_t> size_limit;
  // Union of "AUTH mech ..." (RFC 4954) and the legacy "AUTH=mech ..." form, upper case, sorted,
  // without duplicates. Tokens that are not SASL mechanism names (RFC 4422 §3.1) are dropped.
  // The legacy form is not an extension keyword, so it only shows up here.
  std::vector<std::string> auth_mechanisms;

  bool Has(std::string_view keyword) const;  // case-insensitive
  bool operator==(const Capabilities&) const = default;
};

// Parses a 250 EHLO reply. Lines that are not valid keywords (RFC 5321 §4.1.1.1:
// ALPHA / DIGIT followed by ALPHA / DIGIT / "-") are skipped, never fatal.
Capabilities ParseEhloReply(const Reply& reply);

}  // namespace smtp

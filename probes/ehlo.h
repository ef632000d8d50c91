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

// One extension an EHLO reply advertised (an ehlo-line, RFC 5321 §4.1.1.1): its keyword, upper
// case, and its parameters as sent, split on spaces. Kept as one line of text, "SIZE 52428800",
// which most extensions fit in without a heap allocation (40 bytes where a string and a vector of
// strings took 56 and one allocation more): the daemon keeps every target's latest capabilities
// (bench/README "Memory per target").
class Extension {
 public:
  Extension() = default;
  // A parameter must not be empty or contain SP or HTAB (ParseEhloReply splits lines on them and
  // gives keywords in upper case; any keyword is kept as given).
  Extension(std::string_view keyword,  // NOLINT(google-explicit-constructor): {"SIZE", {"0"}}
            const std::vector<std::string_view>& parameters = {});

  std::string_view keyword() const;                  // e.g. "SIZE", "AUTH", "X-EXPS"
  std::vector<std::string_view> parameters() const;  // e.g. {"PLAIN", "LOGIN"}
  // The keyword and the parameters, one space apart: "AUTH PLAIN LOGIN".
  std::string_view text() const { return text_; }
  bool HasParameter(std::string_view parameter) const;
  void AddParameter(std::string_view parameter);  // as the constructor's parameters

  bool operator==(const Extension&) const = default;

 private:
  std::string text_;
  std::uint32_t keyword_size_ = 0;  // text_ starts with the keyword
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

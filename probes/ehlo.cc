// EHLO reply parser; see ehlo.h for the contract.
#include "probes/ehlo.h"

#include <algorithm>
#include <charconv>

#include "probes/text.h"

namespace smtp {
namespace {

bool IsAlnum(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

// RFC 5321 §4.1.1.1: ehlo-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-").
bool IsKeyword(std::string_view word) {
  if (word.empty() || !IsAlnum(word[0])) return false;
  return std::all_of(word.begin(), word.end(), [](char c) { return IsAlnum(c) || c == '-'; });
}

// RFC 4422 §3.1 / RFC 4954 §3: sasl-mech = 1*20 (UPPER-ALPHA / DIGIT / "-" / "_"), compared
// after upper-casing. Anything else is dropped so that a hostile server cannot inject junk into
// mechanism labels.
bool IsSaslMechanism(std::string_view upper) {
  if (upper.empty() || upper.size() > 20) return false;
  return std::all_of(upper.begin(), upper.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
}

void AddMechanism(std::string_view word, std::vector<std::string>& out) {
  std::string upper = ToUpperAscii(word);
  if (IsSaslMechanism(upper)) out.push_back(std::move(upper));
}

}  // namespace

Extension::Extension(std::string_view keyword, const std::vector<std::string_view>& parameters)
    : text_(keyword), keyword_size_(static_cast<std::uint32_t>(keyword.size())) {
  for (std::string_view parameter : parameters) AddParameter(parameter);
}

std::string_view Extension::keyword() const {
  return std::string_view(text_).substr(0, keyword_size_);
}

std::vector<std::string_view> Extension::parameters() const {
  return SplitWords(std::string_view(text_).substr(keyword_size_));
}

// Runs for every parameter of every EHLO line a probe parses: scans the text in place rather
// than splitting it. After the keyword, AddParameter put exactly one SP before each parameter.
bool Extension::HasParameter(std::string_view parameter) const {
  std::string_view rest = std::string_view(text_).substr(keyword_size_);
  while (!rest.empty()) {
    rest.remove_prefix(1);  // the SP
    const std::size_t end = rest.find(' ');
    if (rest.substr(0, end) == parameter) return true;
    if (end == std::string_view::npos) break;
    rest.remove_prefix(end);
  }
  return false;
}

void Extension::AddParameter(std::string_view parameter) {
  text_.push_back(' ');
  text_.append(parameter);
}

bool Capabilities::Has(std::string_view keyword) const {
  return std::any_of(extensions.begin(), extensions.end(),
                     [&](const Extension& e) { return EqualsIgnoreCase(e.keyword(), keyword); });
}

Capabilities ParseEhloReply(const Reply& reply) {
  Capabilities caps;
  if (reply.lines.empty()) return caps;

  // First line: "domain [greeting]" (RFC 5321 §4.1.1.1).
  std::vector<std::string_view> first = SplitWords(reply.lines[0]);
  if (!first.empty()) caps.domain = std::string(first[0]);

  for (std::size_t i = 1; i < reply.lines.size(); ++i) {
    std::vector<std::string_view> words = SplitWords(reply.lines[i]);
    if (words.empty()) continue;

    // Legacy "AUTH=LOGIN PLAIN" (pre-RFC 4954 drafts, still sent for old Outlook clients): only
    // contributes mechanisms; "AUTH=" is not a valid keyword, so it is not an extension.
    if (words[0].size() >= 5 && EqualsIgnoreCase(words[0].substr(0, 5), "AUTH=")) {
      AddMechanism(words[0].substr(5), caps.auth_mechanisms);
      for (std::size_t w = 1; w < words.size(); ++w) AddMechanism(words[w], caps.auth_mechanisms);
      continue;
    }
    if (!IsKeyword(words[0])) continue;

    std::string keyword = ToUpperAscii(words[0]);
    auto existing = std::find_if(caps.extensions.begin(), caps.extensions.end(),
                                 [&](const Extension& e) { return e.keyword() == keyword; });
    if (existing == caps.extensions.end()) {
      caps.extensions.emplace_back(keyword);
      existing = caps.extensions.end() - 1;
    }
    // Duplicate lines merge: parameters not yet seen are appended.
    for (std::size_t w = 1; w < words.size(); ++w) {
      if (!existing->HasParameter(words[w])) existing->AddParameter(words[w]);
    }

    if (keyword == "STARTTLS") {
      caps.starttls = true;
    } else if (keyword == "PIPELINING") {
      caps.pipelining = true;
    } else if (keyword == "8BITMIME") {
      caps.eightbitmime = true;
    } else if (keyword == "SMTPUTF8") {
      caps.smtputf8 = true;
    } else if (keyword == "CHUNKING") {
      caps.chunking = true;
    } else if (keyword == "DSN") {
      caps.dsn = true;
    } else if (keyword == "ENHANCEDSTATUSCODES") {
      caps.enhancedstatuscodes = true;
    } else if (keyword == "REQUIRETLS") {
      caps.requiretls = true;
    } else if (keyword == "SIZE") {
      if (!caps.size_limit.has_value()) {
        // RFC 1870 §4: "SIZE" alone or "SIZE 0" means no fixed limit. A value that is not a
        // decimal number (or overflows 64 bits) tells us nothing either, so it also reads as 0.
        std::uint64_t limit = 0;
        if (words.size() > 1) {
          std::string_view number = words[1];
          auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), limit);
          if (ec != std::errc() || end != number.data() + number.size()) limit = 0;
        }
        caps.size_limit = limit;
      }
    } else if (keyword == "AUTH") {
      for (std::size_t w = 1; w < words.size(); ++w) AddMechanism(words[w], caps.auth_mechanisms);
    }
  }

  std::sort(caps.auth_mechanisms.begin(), caps.auth_mechanisms.end());
  caps.auth_mechanisms.erase(std::unique(caps.auth_mechanisms.begin(), caps.auth_mechanisms.end()),
                             caps.auth_mechanisms.end());
  return caps;
}

}  // namespace smtp

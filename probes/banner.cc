// Greeting (banner) parser; see banner.h for the contract.
#include "probes/banner.h"

#include <algorithm>
#include <array>
#include <vector>

#include "probes/text.h"

namespace smtp {
namespace {

// Drops punctuation that banners glue to words: "ESMTP;", "Service,", "(Exim".
std::string_view TrimPunctuation(std::string_view word) {
  constexpr std::string_view kPunct = ",;:()[]<>\"'";
  while (!word.empty() && kPunct.find(word.front()) != std::string_view::npos) {
    word.remove_prefix(1);
  }
  while (!word.empty() && kPunct.find(word.back()) != std::string_view::npos) {
    word.remove_suffix(1);
  }
  return word;
}

// A version is a digit followed by digits, letters, '.', '-', '_' or '+', with at least one '.'
// ("4.96", "8.15.2", "6.0.3790.0", "3.0.3-rc1"). Times ("12:00:01"), days ("28"), years
// ("2026") and zones ("+0000") never qualify, which keeps timestamps out of the result.
// Returns the version with trailing separators ("8.15.2/8.15.2;" -> "8.15.2") or "".
std::string_view AsVersion(std::string_view word) {
  std::size_t end = word.find_first_of("/;,)");
  if (end != std::string_view::npos) word = word.substr(0, end);
  if (word.empty() || word.size() > 32 || word[0] < '0' || word[0] > '9') return {};
  bool dot = false;
  for (char c : word) {
    bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              c == '.' || c == '-' || c == '_' || c == '+';
    if (!ok) return {};
    dot = dot || c == '.';
  }
  return dot ? word : std::string_view{};
}

// RFC 3463 status code at the start of a greeting ("220 2.0.0 mx.example.com ready"): skipped
// so that the hostname is the word after it.
bool IsEnhancedCode(std::string_view word) {
  if (word.size() < 5 || (word[0] != '2' && word[0] != '4' && word[0] != '5') || word[1] != '.') {
    return false;
  }
  int dots = 0;
  for (std::size_t i = 1; i < word.size(); ++i) {
    if (word[i] == '.') {
      ++dots;
    } else if (word[i] < '0' || word[i] > '9') {
      return false;
    }
  }
  return dots == 2 && word.back() != '.' && word.find("..") == std::string_view::npos;
}

// Software that names itself with one word, optionally followed by a version as the next word
// or after a slash ("Haraka/3.0.3").
struct KnownSoftware {
  std::string_view word;  // compared case-insensitively
  std::string_view name;  // what we report
};
constexpr std::array<KnownSoftware, 7> kKnownSoftware = {{
    {"Postfix", "Postfix"},
    {"Exim", "Exim"},
    {"Sendmail", "Sendmail"},
    {"OpenSMTPD", "OpenSMTPD"},
    {"qmail", "qmail"},
    {"Haraka", "Haraka"},
    {"MDaemon", "MDaemon"},
}};

}  // namespace

GreetingInfo ParseGreeting(std::string_view first_line) {
  GreetingInfo info;
  std::vector<std::string_view> words = SplitWords(first_line);
  std::size_t first = 0;
  if (!words.empty() && IsEnhancedCode(words[0])) first = 1;
  if (first >= words.size()) return info;
  // RFC 5321 §4.2: the greeting starts with the server's domain (or address literal).
  info.hostname = std::string(words[first]);

  for (std::size_t i = first; i < words.size(); ++i) {
    if (EqualsIgnoreCase(TrimPunctuation(words[i]), "ESMTP")) info.esmtp_word = true;
  }

  for (std::size_t i = first + 1; i < words.size() && info.software.empty(); ++i) {
    std::string_view word = TrimPunctuation(words[i]);
    std::string_view suffix_version;
    if (std::size_t slash = word.find('/'); slash != std::string_view::npos) {
      suffix_version = AsVersion(word.substr(slash + 1));
      word = word.substr(0, slash);
    }

    // Exchange 2003 / IIS SMTP: "Microsoft ESMTP MAIL Service, Version: 6.0.3790.0 ready at
    // <date>"; Exchange 2007 and later: "Microsoft ESMTP MAIL Service ready at <date>". Both
    // are reported as "Microsoft Exchange" (the IIS SMTP service cannot be told apart by text).
    if (EqualsIgnoreCase(word, "Microsoft")) {
      info.software = "Microsoft Exchange";
      for (std::size_t j = i + 1; j + 1 < words.size(); ++j) {
        if (EqualsIgnoreCase(TrimPunctuation(words[j]), "Version")) {
          info.version = std::string(AsVersion(words[j + 1]));
          break;
        }
      }
      break;
    }

    for (const KnownSoftware& known : kKnownSoftware) {
      if (!EqualsIgnoreCase(word, known.word)) continue;
      info.software = std::string(known.name);
      if (!suffix_version.empty()) {
        info.version = std::string(suffix_version);
      } else if (i + 1 < words.size()) {
        info.version = std::string(AsVersion(TrimPunctuation(words[i + 1])));
      }
      break;
    }
  }
  return info;
}

}  // namespace smtp

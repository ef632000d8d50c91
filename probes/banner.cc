// Greeting (banner) parser; see banner.h for the contract.
#include "probes/banner.h"

#include <array>
#include <optional>
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
// One leading 'v' is dropped ("v4.5.3.6" -> "4.5.3.6").
std::string_view AsVersion(std::string_view word) {
  std::size_t end = word.find_first_of("/;,)");
  if (end != std::string_view::npos) word = word.substr(0, end);
  if (word.size() > 1 && (word[0] == 'v' || word[0] == 'V')) word.remove_prefix(1);
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

// "Mon," ... "Sun,": the start of an RFC 5322 date (Exim's $tod_full, Sendmail's $b, Exchange's
// "ready at <date>"). Everything from there on is free text.
bool IsDayOfWeek(std::string_view word) {
  constexpr std::array<std::string_view, 7> kDays = {"Mon,", "Tue,", "Wed,", "Thu,",
                                                     "Fri,", "Sat,", "Sun,"};
  for (std::string_view day : kDays) {
    if (EqualsIgnoreCase(word, day)) return true;
  }
  return false;
}

// "(09678d23bc13369ca0f4a4c15ae7f1d4)": the 32-hex-digit tag of Barracuda's greeting.
bool IsHexTag(std::string_view word) {
  if (word.size() != 34 || word.front() != '(' || word.back() != ')') return false;
  for (char c : word.substr(1, 32)) {
    bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (!hex) return false;
  }
  return true;
}

// `host` is `domain` or a name under it ("BN8NAM12FT053.mail.protection.outlook.com" is under
// "outlook.com", "evil-outlook.com" is not). A trailing root dot is ignored.
bool IsUnderDomain(std::string_view host, std::string_view domain) {
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  if (host.size() < domain.size()) return false;
  std::size_t start = host.size() - domain.size();
  return EqualsIgnoreCase(host.substr(start), domain) && (start == 0 || host[start - 1] == '.');
}

// One way a greeting names its software. kName recognisers look at the server's own name (the
// first word); kText recognisers look for a phrase in the text after it. A phrase is a list of
// words separated by single spaces, compared case-insensitively with the surrounding punctuation
// dropped; its last word may be glued to a version by a slash ("Haraka/3.1.6"), and "#hextag"
// stands for IsHexTag.
enum class Where { kName, kText };
enum class Version {
  kNone,      // the greeting never discloses one (hosted services, OpenSMTPD, Stalwart, Axigen)
  kNext,      // the word after the phrase, after "/", or after a "Version:" label, when dotted
  kRequired,  // like kNext, and the phrase alone does not identify the software
};
struct Recogniser {
  Where where;
  std::string_view pattern;   // kName: a DNS domain; kText: a phrase
  std::string_view software;  // what we report
  Version version;
};

// Where two recognisers fit, the name wins, then the phrase that starts first in the text, then
// the earlier row. Sources of each shape are in tests/unit/banner_test.cc.
constexpr auto kRecognisers = std::to_array<Recogniser>({
    {Where::kName, "outlook.com", "Microsoft 365", Version::kNone},
    {Where::kName, "office365.com", "Microsoft 365", Version::kNone},
    {Where::kName, "google.com", "Gmail", Version::kNone},
    {Where::kName, "gmail.com", "Gmail", Version::kNone},
    {Where::kName, "pphosted.com", "Proofpoint", Version::kNone},
    {Where::kName, "ppe-hosted.com", "Proofpoint", Version::kNone},
    {Where::kName, "mimecast.com", "Mimecast", Version::kNone},
    {Where::kName, "iphmx.com", "Cisco Secure Email", Version::kNone},
    {Where::kName, "barracudanetworks.com", "Barracuda", Version::kNone},
    {Where::kName, "sophos.com", "Sophos", Version::kNone},
    {Where::kText, "Postfix", "Postfix", Version::kNext},
    {Where::kText, "Exim", "Exim", Version::kNext},
    {Where::kText, "Sendmail", "Sendmail", Version::kNext},
    {Where::kText, "OpenSMTPD", "OpenSMTPD", Version::kNone},
    {Where::kText, "Haraka", "Haraka", Version::kNext},
    {Where::kText, "Python SMTP", "aiosmtpd", Version::kRequired},
    {Where::kText, "qmail", "qmail", Version::kNext},
    {Where::kText, "notqmail", "qmail", Version::kNext},
    {Where::kText, "Courier Mail Server", "Courier", Version::kNext},
    {Where::kText, "Microsoft ESMTP MAIL Service", "Microsoft Exchange", Version::kNext},
    {Where::kText, "Microsoft Exchange Internet Mail Service", "Microsoft Exchange",
     Version::kNext},
    {Where::kText, "gsmtp", "Gmail", Version::kNone},
    {Where::kText, "Stalwart ESMTP", "Stalwart", Version::kNone},
    {Where::kText, "hMailServer", "hMailServer", Version::kNext},
    {Where::kText, "MDaemon", "MDaemon", Version::kNext},
    {Where::kText, "Kerio Connect", "Kerio Connect", Version::kNext},
    {Where::kText, "Kerio MailServer", "Kerio Connect", Version::kNext},
    {Where::kText, "IceWarp", "IceWarp", Version::kNext},
    {Where::kText, "Merak", "IceWarp", Version::kNext},
    {Where::kText, "Axigen ESMTP", "Axigen", Version::kNone},
    {Where::kText, "CommuniGate Pro", "CommuniGate Pro", Version::kNext},
    {Where::kText, "ESMTP #hextag", "Barracuda", Version::kNone},
    {Where::kText, "Sophos Email Appliance", "Sophos", Version::kNext},
});

// The word as a phrase word sees it: without punctuation and without a "/version" tail.
std::string_view BaseWord(std::string_view word) {
  word = TrimPunctuation(word);
  return word.substr(0, word.find('/'));
}

bool PhraseWordMatches(std::string_view phrase_word, std::string_view word) {
  if (phrase_word == "#hextag") return IsHexTag(word);
  return EqualsIgnoreCase(BaseWord(word), phrase_word);
}

// When `phrase` matches words[at...] before `end`, the index of the word after it.
std::optional<std::size_t> MatchPhrase(std::string_view phrase,
                                       const std::vector<std::string_view>& words, std::size_t at,
                                       std::size_t end) {
  while (!phrase.empty()) {
    std::size_t space = phrase.find(' ');
    std::string_view phrase_word = phrase.substr(0, space);
    if (at >= end || !PhraseWordMatches(phrase_word, words[at])) return std::nullopt;
    ++at;
    phrase = space == std::string_view::npos ? std::string_view{} : phrase.substr(space + 1);
  }
  return at;
}

// The version that follows a phrase ending before words[next]: "Haraka/3.0.3", "Exim 4.96",
// "Postfix (3.7.11)", "Service, Version: 6.0.3790.0", "Appliance v4.5.3.6"; or "".
std::string_view VersionAfter(const std::vector<std::string_view>& words, std::size_t next,
                              std::size_t end) {
  std::string_view last = TrimPunctuation(words[next - 1]);
  if (std::size_t slash = last.find('/'); slash != std::string_view::npos) {
    return AsVersion(last.substr(slash + 1));
  }
  if (next < end && EqualsIgnoreCase(TrimPunctuation(words[next]), "Version")) ++next;
  return next < end ? AsVersion(TrimPunctuation(words[next])) : std::string_view{};
}

}  // namespace

GreetingInfo ParseGreeting(std::string_view first_line) {
  GreetingInfo info;
  std::vector<std::string_view> words = SplitWords(first_line);
  std::size_t first = 0;
  if (!words.empty() && IsEnhancedCode(words[0])) first = 1;
  if (first >= words.size()) return info;
  // RFC 5321 §4.2: the greeting starts with the server's domain (or address literal). A server
  // that leaves it out ("220 ESMTP Postfix") names none: its first word is the protocol.
  const std::string_view first_word = TrimPunctuation(words[first]);
  std::size_t text = first;  // where the free text after the name starts
  if (!EqualsIgnoreCase(first_word, "ESMTP") && !EqualsIgnoreCase(first_word, "SMTP")) {
    info.hostname = std::string(words[first]);
    text = first + 1;
  }

  for (std::size_t i = first; i < words.size(); ++i) {
    if (EqualsIgnoreCase(TrimPunctuation(words[i]), "ESMTP")) info.esmtp_word = true;
  }

  for (const Recogniser& r : kRecognisers) {
    if (r.where == Where::kName && IsUnderDomain(info.hostname, r.pattern)) {
      info.software = std::string(r.software);
      return info;
    }
  }

  std::size_t end = text;
  while (end < words.size() && !IsDayOfWeek(words[end])) ++end;
  for (std::size_t i = text; i < end; ++i) {
    for (const Recogniser& r : kRecognisers) {
      if (r.where != Where::kText) continue;
      std::optional<std::size_t> next = MatchPhrase(r.pattern, words, i, end);
      if (!next) continue;
      std::string_view version =
          r.version == Version::kNone ? std::string_view{} : VersionAfter(words, *next, end);
      if (r.version == Version::kRequired && version.empty()) continue;
      info.software = std::string(r.software);
      info.version = std::string(version);
      return info;
    }
  }
  return info;
}

}  // namespace smtp

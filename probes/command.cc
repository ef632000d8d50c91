// Command formatting; see command.h for the contract.
#include "probes/command.h"

#include "probes/text.h"

namespace smtp {
namespace {

// RFC 5321 §4.5.3.1.4: a command line is at most 512 octets including the CRLF.
constexpr std::size_t kMaxCommandLine = 512;

bool HasForbiddenByte(std::string_view text) {
  return text.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

}  // namespace

std::optional<std::string> FormatCommand(std::string_view verb, std::string_view argument) {
  if (verb.empty() || HasForbiddenByte(verb) || HasForbiddenByte(argument)) return std::nullopt;
  // The verb is the line's first word. Leading blanks are refused too, so that " DATA" cannot
  // slip past the check below on servers that skip them.
  if (verb.front() == ' ' || verb.front() == '\t') return std::nullopt;
  std::string_view first_word = verb.substr(0, verb.find_first_of(" \t"));
  // The prober never delivers mail (DESIGN §1): DATA (RFC 5321 §4.1.1.4) and BDAT (RFC 3030 §2)
  // are refused whatever their case.
  if (EqualsIgnoreCase(first_word, "DATA") || EqualsIgnoreCase(first_word, "BDAT")) {
    return std::nullopt;
  }
  std::size_t length = verb.size() + (argument.empty() ? 0 : 1 + argument.size()) + 2;
  if (length > kMaxCommandLine) return std::nullopt;

  std::string line;
  line.reserve(length);
  line.append(verb);
  if (!argument.empty()) {
    line += ' ';
    line.append(argument);
  }
  line += "\r\n";
  return line;
}

std::string AnglePath(std::string_view address) {
  // RFC 5321 §4.1.2: Reverse-path = Path / "<>"; Path = "<" [ A-d-l ":" ] Mailbox ">".
  // An address that already carries its brackets is kept as is rather than doubled.
  if (address.size() >= 2 && address.front() == '<' && address.back() == '>') {
    return std::string(address);
  }
  std::string path;
  path.reserve(address.size() + 2);
  path += '<';
  path.append(address);
  path += '>';
  return path;
}

}  // namespace smtp

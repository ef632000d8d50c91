// Formatting of client commands (RFC 5321 §4.1). Every command the prober sends goes through
// FormatCommand, which is the single place that guards the wire:
//  - CR, LF and NUL are refused in verbs and arguments (no command injection from config or
//    from names learned off the network);
//  - the whole line, CRLF included, must fit in 512 octets (§4.5.3.1.4);
//  - DATA and BDAT are refused outright: the prober never delivers mail.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace smtp {

// Returns "VERB\r\n" or "VERB argument\r\n", or nullopt when the command is refused (also for
// an empty verb or one starting with a blank; the DATA/BDAT check applies to the verb's first
// word, so "data" or "BDAT 10 LAST" are refused).
std::optional<std::string> FormatCommand(std::string_view verb, std::string_view argument = {});

// "<local@domain>" path for MAIL FROM / RCPT TO; "" becomes the null path "<>". An address that
// is already enclosed in "<...>" is returned unchanged.
std::string AnglePath(std::string_view address);

}  // namespace smtp

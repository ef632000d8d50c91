// Parser for the 220 greeting (RFC 5321 §4.2, §3.1): "220 <domain> [text]".
// Recognises the software and version of common MTAs from the free text so that dashboards can
// group servers by software. Pure; unknown text yields an empty software, never an error.
// Timestamps and other volatile parts are never part of the result (they would explode label
// cardinality).
#pragma once

#include <string>
#include <string_view>

namespace smtp {

struct GreetingInfo {
  std::string hostname;     // the domain or address literal the server names itself with
  std::string software;     // "Postfix", "Exim", "Sendmail", "Microsoft Exchange", "OpenSMTPD",
                            // "qmail", "Haraka", "MDaemon", or "" when unknown. Every banner of the
                            // form "Microsoft ESMTP MAIL Service[, Version: v] ready at <date>" is
                            // "Microsoft Exchange" (Exchange and the IIS SMTP service it grew from
                            // cannot be told apart by text).
  std::string version;      // "4.96", "8.15.2", "6.0.3790.0", ... or "" when not disclosed. Only a
                            // dotted token qualifies, so dates and times never end up here.
  bool esmtp_word = false;  // the text contains the word "ESMTP"
  bool operator==(const GreetingInfo&) const = default;
};

// `first_line` is the text of the greeting's first line after the code (as Reply::lines[0]).
// A leading RFC 3463 status code ("2.0.0") is skipped before taking the hostname.
GreetingInfo ParseGreeting(std::string_view first_line);

}  // namespace smtp

// Parser for the 220 greeting (RFC 5321 §4.2, §3.1): "220 <domain> [text]".
// Recognises the software and version of common MTAs from the free text so that dashboards can
// group servers by software. Pure; unknown text yields an empty software, never an error.
// Timestamps and other volatile parts are never part of the result (they would explode label
// cardinality).
//
// Recognised names (the whole vocabulary of GreetingInfo::software):
//   from the text:  "Postfix", "Exim", "Sendmail", "OpenSMTPD", "Haraka", "aiosmtpd", "qmail"
//                   (qmail and notqmail), "Courier", "Microsoft Exchange", "Gmail", "Stalwart",
//                   "hMailServer", "MDaemon", "Kerio Connect", "IceWarp", "Axigen",
//                   "CommuniGate Pro", "Barracuda", "Sophos"
//   from the name:  hosted services that name themselves under their operator's domain and
//                   say nothing more specific: "Microsoft 365" (*.outlook.com, *.office365.com),
//                   "Gmail" (*.google.com, *.gmail.com), "Proofpoint" (*.pphosted.com,
//                   *.ppe-hosted.com), "Mimecast" (*.mimecast.com), "Cisco Secure Email"
//                   (*.iphmx.com), "Barracuda" (*.barracudanetworks.com), "Sophos" (*.sophos.com).
// The name rules win over the text: an Exchange Online front end says "Microsoft ESMTP MAIL
// Service" like any Exchange. Many default banners name no product at all ("<host> ESMTP" from
// qmail, Courier, hMailServer, Cisco Secure Email on premises; "<host> ESMTP Service Ready" from
// Maddy; Zimbra's MTA is Postfix and says so): those yield "" (or the MTA), never a guess.
// Only the text before a date ("Mon, 28 Nov 2026 ...") is searched: what follows a date is free
// text (Sendmail's and Exim's banners end with the date, admins append notices after it).
#pragma once

#include <string>
#include <string_view>

namespace smtp {

struct GreetingInfo {
  std::string hostname;     // the domain or address literal the server names itself with
  std::string software;     // one of the names above, or "" when unknown. Every banner of the form
                            // "Microsoft ESMTP MAIL Service[, Version: v] ready at <date>" outside
                            // Microsoft 365 is "Microsoft Exchange" (Exchange and the IIS SMTP
                            // service it grew from cannot be told apart by text).
  std::string version;      // "4.96", "8.15.2", "6.0.3790.0", ... or "" when not disclosed. Only a
                            // dotted token qualifies, so dates and times never end up here.
  bool esmtp_word = false;  // the text contains the word "ESMTP"
  bool operator==(const GreetingInfo&) const = default;
};

// `first_line` is the text of the greeting's first line after the code (as Reply::lines[0]).
// A leading RFC 3463 status code ("2.0.0") is skipped before taking the hostname.
GreetingInfo ParseGreeting(std::string_view first_line);

}  // namespace smtp

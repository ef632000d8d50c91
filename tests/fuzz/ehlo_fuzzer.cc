// libFuzzer target for the EHLO reply parser (and, on the same bytes, the greeting parser and
// the command formatter, which also see server-controlled text). Checks the documented
// normalisation on every input, not just the absence of crashes.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "probes/banner.h"
#include "probes/command.h"
#include "probes/ehlo.h"
#include "probes/reply_parser.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using smtp_fuzz::Check;

bool IsUpperKeyword(std::string_view keyword) {
  if (keyword.empty()) return false;
  return std::all_of(keyword.begin(), keyword.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
  });
}

void CheckCapabilities(const smtp::Capabilities& caps) {
  for (const smtp::Extension& e : caps.extensions) {
    Check(IsUpperKeyword(e.keyword()) && e.keyword()[0] != '-');
    Check(caps.Has(e.keyword()));
    for (std::string_view p : e.parameters()) {
      Check(!p.empty() && p.find(' ') == std::string_view::npos);
    }
    // Merged by keyword: no keyword twice.
    Check(std::count_if(caps.extensions.begin(), caps.extensions.end(),
                        [&](const smtp::Extension& o) { return o.keyword() == e.keyword(); }) == 1);
  }
  Check(std::is_sorted(caps.auth_mechanisms.begin(), caps.auth_mechanisms.end()));
  Check(std::adjacent_find(caps.auth_mechanisms.begin(), caps.auth_mechanisms.end()) ==
        caps.auth_mechanisms.end());
  for (const std::string& m : caps.auth_mechanisms) {
    Check(!m.empty() && m.size() <= 20);
    Check(std::none_of(m.begin(), m.end(), [](char c) { return c >= 'a' && c <= 'z'; }));
  }
  Check(caps.starttls == caps.Has("STARTTLS"));
  Check(caps.size_limit.has_value() == caps.Has("SIZE"));
  Check(caps.domain.find(' ') == std::string::npos);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);

  // 1. As the prober sees it: wire bytes through the reply parser, then every complete reply
  //    (whatever its code) through the EHLO parser. Split the feed at a data-chosen point.
  smtp::ReplyParser parser;
  std::size_t split = size == 0 ? 0 : data[0] % (size + 1);
  parser.Feed(input.substr(0, split));
  parser.Feed(input.substr(split));
  while (auto reply = parser.Next()) {
    smtp::Capabilities caps = smtp::ParseEhloReply(*reply);
    CheckCapabilities(caps);
    Check(smtp::ParseEhloReply(*reply) == caps);  // deterministic
    if (!reply->lines.empty()) {
      smtp::GreetingInfo info = smtp::ParseGreeting(reply->lines[0]);
      Check(info.hostname.find(' ') == std::string::npos);
      Check(info.version.find(':') == std::string::npos);  // no times in versions
    }
  }

  // 2. Raw lines, bypassing the reply parser's syntax checks (the EHLO parser is pure and may be
  //    handed any Reply).
  smtp::Reply raw;
  raw.code = 250;
  std::size_t start = 0;
  while (start <= input.size() && raw.lines.size() < 256) {
    std::size_t end = input.find('\n', start);
    if (end == std::string_view::npos) end = input.size();
    raw.lines.emplace_back(input.substr(start, end - start));
    start = end + 1;
  }
  CheckCapabilities(smtp::ParseEhloReply(raw));
  smtp::GreetingInfo info = smtp::ParseGreeting(input);
  Check(info.version.size() <= 32);

  // 3. Server-learned names must never smuggle a second command through FormatCommand.
  if (auto line = smtp::FormatCommand("EHLO", input)) {
    Check(line->size() <= 512);
    Check(line->find_first_of(std::string_view("\r\n\0", 3)) == line->size() - 2);
  }
  if (auto line = smtp::FormatCommand(input)) {
    std::string upper(line->substr(0, 4));
    for (char& c : upper) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c);
    Check(!(upper == "DATA" && (line->size() == 6 || (*line)[4] == ' ' || (*line)[4] == '\t')));
    Check(!(upper == "BDAT" && (line->size() == 6 || (*line)[4] == ' ' || (*line)[4] == '\t')));
  }
  return 0;
}

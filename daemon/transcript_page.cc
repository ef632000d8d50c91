// The transcript page and the link to it (daemon/status_page.h: RenderTranscriptPage,
// TranscriptUrl, UrlEncodeQueryValue).
#include <algorithm>

#include "daemon/status_html.h"
#include "daemon/status_page.h"
#include "probes/escape.h"
#include "probes/result_format.h"
#include "probes/text.h"

namespace smtp {
namespace {

using status_html::BeginPage;
using status_html::EndPage;
using status_html::FormatAge;
using status_html::FormatDuration;
using status_html::StateClass;
using status_html::Text;

// "not tested", "open", "closed", "inconclusive".
std::string VerdictText(RelayVerdict verdict) {
  std::string text = ToString(verdict);
  std::replace(text.begin(), text.end(), '_', ' ');
  return text;
}

}  // namespace

std::string UrlEncodeQueryValue(std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(value.size());
  for (const char ch : value) {
    const unsigned char c = static_cast<unsigned char>(ch);
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

std::string TranscriptUrl(std::string_view target, std::string_view module) {
  return std::string(kTranscriptPath) + "?target=" + UrlEncodeQueryValue(target) +
         "&module=" + UrlEncodeQueryValue(module);
}

std::string RenderTranscriptPage(const TargetSnapshot& snapshot, std::string_view module,
                                 std::int64_t now_unix) {
  std::string out;
  BeginPage(out, "Transcript: " + snapshot.target, 0);
  out += "<header>\n<h1>Transcript<small>" + Text(snapshot.target, 200) + " \xC2\xB7 module " +
         Text(module, 80) + "</small></h1>\n";
  out += "<nav aria-label=\"Endpoints\"><a href=\"/\">Status</a></nav>\n</header>\n<main>\n";
  const ProbeResult* result = snapshot.last.get();
  if (result == nullptr) {
    out += "<p>Not probed yet.</p>\n</main>\n";
    EndPage(out);
    return out;
  }
  const StatusState state = StateOf(snapshot);
  const std::int64_t started = WholeUnixSeconds(result->started_at);
  out += "<p><span class=\"badge " + std::string(StateClass(state)) + "\">" + ToString(state) +
         "</span> probe started " + UtcTime(started) + " (" + FormatAge(now_unix - started) +
         "), took " + FormatDuration(result->duration) + "</p>\n";
  // The relay verdict kept from a separate run is part of this target's verdict too.
  const ReportedRelay relay = ReportedRelayOf(snapshot);
  const Verdict verdict = Judge(*result, now_unix, relay.from_last ? nullptr : relay.result);
  out += "<h2>Verdict</h2>\n<pre>" + EscapeHtml(verdict.summary);
  for (const std::string& finding : verdict.findings) out += "\n- " + EscapeHtml(finding);
  out +=
      "</pre>\n<h2>Conversation</h2>\n<pre>" + EscapeHtml(FormatTranscript(*result)) + "</pre>\n";
  if (relay.result != nullptr && !relay.from_last) {
    out += "<h2>Relay test (separate run";
    if (relay.ran_at) {
      const std::int64_t at = WholeUnixSeconds(*relay.ran_at);
      out += ", " + UtcTime(at) + ", " + FormatAge(now_unix - at);
    }
    out += "): " + VerdictText(relay.judgement.verdict) + "</h2>\n<pre>";
    for (const RelayAttempt& attempt : relay.result->attempts) {
      out += EscapeHtml(attempt.variant + ": " + ToString(attempt.outcome) + "  MAIL " +
                        ReplyCodeText(attempt.mail_code) + " RCPT " +
                        ReplyCodeText(attempt.rcpt_code) + "  " + attempt.mail_from + " -> " +
                        attempt.rcpt_to) +
             "\n";
    }
    out += "</pre>\n";
  }
  out += "<h2>Report</h2>\n<pre>" + EscapeHtml(FormatReport(*result, verdict)) + "</pre>\n";
  out += "</main>\n";
  EndPage(out);
  return out;
}

}  // namespace smtp

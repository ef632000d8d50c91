#include "daemon/status_page.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <numeric>
#include <optional>
#include <set>
#include <tuple>

#include "probes/escape.h"
#include "probes/result_format.h"
#include "probes/text.h"

namespace smtp {
namespace {

constexpr std::int64_t kSecondsPerDay = 86400;
constexpr std::string_view kEllipsis = "\xE2\x80\xA6";  // U+2026

// Display limits, in code points. Whole values go to tooltips, themselves bounded.
constexpr std::size_t kMaxHostChars = 48;
constexpr std::size_t kMaxDetailChars = 80;
constexpr std::size_t kMaxTooltipChars = 1500;
constexpr std::size_t kMaxKeywordChars = 24;
constexpr std::size_t kMaxKeywordsShown = 16;
constexpr std::size_t kMaxLabelChars = 40;
constexpr std::size_t kMaxAttentionLinks = 12;

// ---- Text ---------------------------------------------------------------------------------------

// The first `max_chars` characters of `text` (an invalid byte counts as one), plus "…" when
// something was cut. The result is raw: escape it before use.
std::string Clip(std::string_view text, std::size_t max_chars) {
  std::size_t i = 0;
  for (std::size_t chars = 0; i < text.size(); ++chars) {
    if (chars == max_chars) return std::string(text.substr(0, i)) + std::string(kEllipsis);
    const std::size_t length = Utf8SequenceLength(text.substr(i));
    i += length == 0 ? 1 : length;
  }
  return std::string(text);
}

// Escaped, cut for display.
std::string Text(std::string_view text, std::size_t max_chars) {
  return EscapeHtml(Clip(text, max_chars));
}

// ` title="..."` with `text` escaped and bounded, or nothing for empty text.
std::string Title(std::string_view text) {
  if (text.empty()) return "";
  return " title=\"" + Text(text, kMaxTooltipChars) + "\"";
}

// ---- Numbers and times --------------------------------------------------------------------------

// "0.42 ms", "8.1 ms", "84 ms", "1.24 s", "12.5 s".
std::string FormatDuration(std::chrono::nanoseconds duration) {
  const double ms = std::chrono::duration<double, std::milli>(duration).count();
  char buffer[32];
  if (ms < 1) {
    std::snprintf(buffer, sizeof buffer, "%.2f ms", ms);
  } else if (ms < 10) {
    std::snprintf(buffer, sizeof buffer, "%.1f ms", ms);
  } else if (ms < 1000) {
    std::snprintf(buffer, sizeof buffer, "%.0f ms", ms);
  } else if (ms < 10000) {
    std::snprintf(buffer, sizeof buffer, "%.2f s", ms / 1000);
  } else {
    std::snprintf(buffer, sizeof buffer, "%.1f s", ms / 1000);
  }
  return buffer;
}

// A coarse span: "45 s", "12 min", "5 h", "3 d". Negative spans (clock steps) count as 0.
std::string FormatSpan(std::int64_t seconds) {
  seconds = std::max<std::int64_t>(seconds, 0);
  if (seconds < 120) return std::to_string(seconds) + " s";
  if (seconds < 120 * 60) return std::to_string(seconds / 60) + " min";
  if (seconds < 48 * 3600) return std::to_string(seconds / 3600) + " h";
  return std::to_string(seconds / kSecondsPerDay) + " d";
}

std::string FormatAge(std::int64_t seconds) { return FormatSpan(seconds) + " ago"; }

// "3 d 4 h", "2 h 5 min", "7 min", "45 s".
std::string FormatUptime(std::int64_t seconds) {
  seconds = std::max<std::int64_t>(seconds, 0);
  const std::int64_t days = seconds / kSecondsPerDay;
  const std::int64_t hours = seconds % kSecondsPerDay / 3600;
  const std::int64_t minutes = seconds % 3600 / 60;
  if (days > 0) return std::to_string(days) + " d " + std::to_string(hours) + " h";
  if (hours > 0) return std::to_string(hours) + " h " + std::to_string(minutes) + " min";
  if (minutes > 0) return std::to_string(minutes) + " min";
  return std::to_string(seconds) + " s";
}

// Whole days from now until `not_after`, rounded down; negative once expired.
std::int64_t DaysLeft(std::int64_t not_after, std::int64_t now) {
  const std::int64_t left = not_after - now;
  return left >= 0 ? left / kSecondsPerDay : -((-left + kSecondsPerDay - 1) / kSecondsPerDay);
}

// ---- Facts per target -----------------------------------------------------------------------

// "not tested", "open", "closed", "inconclusive".
std::string VerdictText(RelayVerdict verdict) {
  std::string text = ToString(verdict);
  std::replace(text.begin(), text.end(), '_', ' ');
  return text;
}

// The TLS facts worth showing: only from a completed handshake.
const TlsInfo* HandshakeOf(const ProbeResult& result) {
  return result.tls && result.tls->handshake_ok ? &*result.tls : nullptr;
}

std::optional<std::int64_t> CertificateDaysLeft(const TargetSnapshot& snapshot, std::int64_t now) {
  if (!snapshot.last) return std::nullopt;
  const TlsInfo* tls = HandshakeOf(*snapshot.last);
  if (tls == nullptr || tls->earliest_not_after == 0) return std::nullopt;
  return DaysLeft(tls->earliest_not_after, now);
}

const char* StateClass(StatusState state) {
  switch (state) {
    case StatusState::kPending:
      return "pending";
    case StatusState::kDown:
      return "down";
    case StatusState::kOpenRelay:
      return "relay";
    case StatusState::kUp:
      return "up";
  }
  return "pending";
}

// ---- Page frame -------------------------------------------------------------------------------

// Light and dark palettes; every foreground/background pair is at least WCAG AA (4.5:1).
constexpr std::string_view kStyle = R"css(
:root{color-scheme:light dark;--bg:#f6f8fa;--fg:#1f2328;--muted:#59636e;--card:#fff;--line:#d8dee4;
--head:#eef1f4;--hover:#f3f6f9;--link:#0969da;--ok:#1a7f37;--ok-bg:#dafbe1;--warn:#7d4e00;
--warn-bg:#fff8c5;--bad:#c11e2a;--bad-bg:#ffebe9;--bad-row:#fff6f5;--relay:#fff;--relay-bg:#a40e26;
--pend:#454e59;--pend-bg:#e6eaef}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#9198a1;--card:#151b23;
--line:#30363d;--head:#1c232c;--hover:#1a2129;--link:#4493f8;--ok:#3fb950;--ok-bg:#12261e;
--warn:#d29922;--warn-bg:#272115;--bad:#ff7b72;--bad-bg:#3c1618;--bad-row:#1f1416;
--relay:#fff;--relay-bg:#b62324;--pend:#b7bdc8;--pend-bg:#262c36}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);
font:13px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,"Liberation Sans","DejaVu Sans",sans-serif}
a{color:var(--link)}
header{display:flex;flex-wrap:wrap;align-items:baseline;gap:.25rem 1.25rem;padding:.6rem 1rem;
background:var(--card);border-bottom:1px solid var(--line)}
h1{font-size:1.1rem;margin:0}
h1 small{font-weight:400;color:var(--muted);font-size:.8rem;margin-left:.35rem}
header .facts{color:var(--muted);display:flex;flex-wrap:wrap;gap:.25rem 1rem}
header nav{margin-left:auto;display:flex;gap:1rem}
main{padding:.75rem 1rem 1.5rem}
.summary{display:flex;flex-wrap:wrap;align-items:center;gap:.4rem;margin:0 0 .6rem;padding:0;
list-style:none}
.chip{display:inline-block;padding:.15rem .6rem;border-radius:999px;border:1px solid var(--line);
background:var(--card);white-space:nowrap}
.chip b{font-variant-numeric:tabular-nums}
.chip.ok{background:var(--ok-bg);color:var(--ok);border-color:transparent}
.chip.bad{background:var(--bad-bg);color:var(--bad);border-color:transparent}
.chip.warn{background:var(--warn-bg);color:var(--warn);border-color:transparent}
.chip.relay{background:var(--relay-bg);color:var(--relay);border-color:transparent}
.chip.pending{background:var(--pend-bg);color:var(--pend);border-color:transparent}
.attention{display:flex;flex-wrap:wrap;align-items:center;gap:.35rem;margin:0 0 .7rem;
padding:.45rem .7rem;border-left:3px solid var(--bad);background:var(--card);border-radius:0 6px 6px 0}
.attention b{margin-right:.35rem}
.alert{display:inline-block;padding:.1rem .5rem;border-radius:4px;color:var(--fg);
text-decoration:none;background:var(--bad-bg);white-space:nowrap}
.alert.warn{background:var(--warn-bg)}
.alert:hover{text-decoration:underline}
.why{margin-left:.4rem;font-size:.75rem;font-weight:600;color:var(--bad)}
.alert.warn .why{color:var(--warn)}
.wrap{border:1px solid var(--line);border-radius:6px;background:var(--card)}
table{border-collapse:separate;border-spacing:0;width:100%}
caption{text-align:left;padding:.45rem .6rem;color:var(--muted);caption-side:top}
th,td{padding:.35rem .45rem;border-top:1px solid var(--line);text-align:left;vertical-align:top}
thead th{position:sticky;top:0;z-index:1;background:var(--head);color:var(--muted);font-size:.7rem;
font-weight:600;text-transform:uppercase;letter-spacing:.03em;white-space:nowrap}
tbody th{font-weight:600;min-width:10rem}
tbody tr:hover{background:var(--hover)}
tbody tr{scroll-margin-top:2.5rem}
tbody tr:target{outline:2px solid var(--link);outline-offset:-2px}
tr.down,tr.relay{background:var(--bad-row)}
tbody th{box-shadow:inset 4px 0 var(--ok)}
tr.down th{box-shadow:inset 4px 0 var(--bad)}
tr.relay th{box-shadow:inset 4px 0 var(--relay-bg)}
tr.pending th{box-shadow:inset 4px 0 var(--line)}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.nowrap{white-space:nowrap}
.sub{display:block;font-weight:400;color:var(--muted);font-size:.75rem}
.sub.ok{color:var(--ok)}
.sub.warn{color:var(--warn)}
td.problem{min-width:11rem;max-width:16rem}
td.banner{max-width:16rem;overflow-wrap:break-word}
td.smtp{min-width:14rem;max-width:21rem}
.tag{display:inline-block;margin:.1rem .25rem 0 0;padding:0 .35rem;border-radius:3px;
background:var(--head);color:var(--muted);font-size:.7rem;font-weight:400}
.badge{display:inline-block;padding:.1rem .45rem;border-radius:4px;font-weight:700;font-size:.72rem;
letter-spacing:.02em;white-space:nowrap}
.badge.up{background:var(--ok-bg);color:var(--ok)}
.badge.down{background:var(--bad-bg);color:var(--bad)}
.badge.relay{background:var(--relay-bg);color:var(--relay)}
.badge.pending{background:var(--pend-bg);color:var(--pend)}
.ok{color:var(--ok)}
.warn{color:var(--warn);font-weight:600}
.bad{color:var(--bad);font-weight:600}
.muted{color:var(--muted)}
.kw{display:block;font-family:ui-monospace,"DejaVu Sans Mono","Liberation Mono",monospace;
font-size:.68rem;color:var(--muted);overflow-wrap:break-word;cursor:help}
.after{display:block;color:var(--fg)}
.k{white-space:nowrap}
.tip{text-decoration:underline dotted;text-underline-offset:2px;cursor:help}
.detail{display:block;color:var(--muted);font-size:.75rem;overflow-wrap:anywhere}
footer{margin-top:.8rem;color:var(--muted);font-size:.75rem}
code{font-family:ui-monospace,"DejaVu Sans Mono","Liberation Mono",monospace}
pre{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:.6rem .8rem;
font:12px/1.45 ui-monospace,"DejaVu Sans Mono","Liberation Mono",monospace;white-space:pre-wrap;
overflow-wrap:anywhere}
h2{font-size:.95rem;margin:1.2rem 0 .4rem}
@media (max-width:760px){
header nav{margin-left:0}
.wrap{border:0;background:none}
thead{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
table,tbody,tr,tbody th,td{display:block;width:100%}
tbody tr{margin-bottom:.6rem;border:1px solid var(--line);border-radius:6px;background:var(--card);
overflow:hidden}
tr.down,tr.relay{background:var(--bad-row)}
tbody th{font-size:1rem;padding:.5rem .75rem;border-top:0}
tbody td{position:relative;padding:.3rem .75rem .3rem 8.25rem;border-top:1px solid var(--line);
white-space:normal}
tbody td,tbody td.num,tbody td::before{text-align:left}
tbody td::before{content:attr(data-label);position:absolute;left:.75rem;top:.45rem;width:7rem;
color:var(--muted);font-size:.7rem;text-transform:uppercase;letter-spacing:.03em}
td.problem,td.banner,td.smtp{max-width:none;min-width:0}
caption{display:block;padding:0 0 .4rem}
}
)css";

void BeginPage(std::string& out, std::string_view title, int refresh_seconds) {
  out += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  if (refresh_seconds > 0) {
    out += "<meta http-equiv=\"refresh\" content=\"" + std::to_string(refresh_seconds) + "\">\n";
  }
  out += "<title>";
  out += EscapeHtml(title);
  out += "</title>\n<style>";
  out += kStyle;
  out += "</style>\n</head>\n<body>\n";
}

void EndPage(std::string& out) { out += "</body>\n</html>\n"; }

// ---- Status page: header and summary ------------------------------------------------------------

void AppendHeader(std::string& out, const StatusPageInput& input) {
  out += "<header>\n<h1>smtp_exporter<small>" + Text(input.version, 40) + "</small></h1>\n";
  out += "<div class=\"facts\">";
  out += "<span" + Title("started " + UtcTime(input.started_unix)) + " class=\"tip\">up " +
         FormatUptime(input.now_unix - input.started_unix) + "</span>";
  const std::string file =
      input.config_file.empty() ? std::string("built-in default") : input.config_file;
  if (input.reload_successful) {
    out += "<span>config <code>" + Text(file, 80) + "</code>";
    if (input.last_reload_unix != 0) {
      out += " <span class=\"ok tip\"" + Title(UtcTime(input.last_reload_unix)) + ">loaded " +
             FormatAge(input.now_unix - input.last_reload_unix) + "</span>";
    }
    out += "</span>";
  } else {
    out += "<span class=\"bad\"" + Title(input.last_reload_error) + ">config reload FAILED";
    if (input.last_reload_attempt_unix != 0) {
      out += " " + FormatAge(input.now_unix - input.last_reload_attempt_unix);
    }
    if (!input.last_reload_error.empty()) {
      out += ": " + Text(input.last_reload_error, kMaxDetailChars);
    }
    out += "</span><span>still running <code>" + Text(file, 80) + "</code>";
    if (input.last_reload_unix != 0) {
      out += " loaded " + FormatAge(input.now_unix - input.last_reload_unix);
    }
    out += "</span>";
  }
  out += "</div>\n<nav aria-label=\"Endpoints\"><a href=\"" + EscapeHtml(input.metrics_path) +
         "\">Metrics</a><a href=\"/-/healthy\">Healthy</a><a href=\"/-/ready\">Ready</a>"
         "</nav>\n</header>\n";
}

struct Summary {
  std::size_t total = 0;
  std::size_t up = 0;
  std::size_t down = 0;
  std::size_t pending = 0;
  std::size_t open_relays = 0;
  std::size_t expiring = 0;
};

std::string Chip(const char* css_class, std::size_t count, std::string_view singular,
                 std::string_view plural) {
  std::string chip = "<li class=\"chip";
  if (css_class[0] != '\0') chip += std::string(" ") + css_class;
  chip += "\"><b>" + std::to_string(count) + "</b> ";
  chip += count == 1 ? singular : plural;
  chip += "</li>";
  return chip;
}

// ---- Status page: one row ---------------------------------------------------------------------

std::string RowId(std::size_t index) { return "t" + std::to_string(index + 1); }

void AppendTargetCell(std::string& out, const StatusTarget& target) {
  out += "<th scope=\"row\"" + Title(target.snapshot.target) + ">";
  out += Text(target.snapshot.target, kMaxHostChars);
  out += "<span class=\"sub\">";
  out += "<span class=\"tag\" title=\"module\">" + Text(target.module, kMaxLabelChars) + "</span>";
  for (const auto& [name, value] : target.snapshot.labels) {
    out += "<span class=\"tag\">" + Text(name, kMaxLabelChars) + "=" + Text(value, kMaxLabelChars) +
           "</span>";
  }
  out += "</span></th>";
}

void Cell(std::string& out, std::string_view label, std::string_view css_class,
          std::string_view content) {
  out += "<td data-label=\"";
  out += label;
  out += "\"";
  if (!css_class.empty()) {
    out += " class=\"";
    out += css_class;
    out += "\"";
  }
  out += ">";
  out += content;
  out += "</td>";
}

constexpr std::string_view kNone = "<span class=\"muted\">\xE2\x80\x94</span>";  // em dash

std::string ProblemCell(const TargetSnapshot& snapshot, StatusState state,
                        const ReportedRelay& relay) {
  if (state == StatusState::kPending) return "<span class=\"muted\">not probed yet</span>";
  const ProbeResult& result = *snapshot.last;
  if (!result.success) {
    std::string html = "<span class=\"bad\">";
    html += result.failed_step ? ToString(*result.failed_step) : "probe";
    html += "</span>: ";
    html += ToString(result.failure_reason);
    const StepResult* failed = result.failed_step ? result.FindStep(*result.failed_step) : nullptr;
    if (failed != nullptr &&
        failed->reply_code >= 400) {  // a 220 before a failed handshake is no news
      html += " <span class=\"nowrap\">" + std::to_string(failed->reply_code);
      if (!failed->enhanced_code.empty()) html += " " + Text(failed->enhanced_code, 12);
      html += "</span>";
    }
    std::string detail = result.failure_detail;
    if (detail.empty() && failed != nullptr) detail = failed->detail;
    if (!detail.empty()) {
      html += "<span class=\"detail\"" + Title(detail) + ">" + Text(detail, kMaxDetailChars) +
              "</span>";
    }
    return html;
  }
  if (relay.judgement.verdict == RelayVerdict::kOpen) {
    std::vector<std::string> accepted;
    for (const RelayAttempt& attempt : relay.result->attempts) {
      if (attempt.outcome == RelayOutcome::kAccepted) accepted.push_back(attempt.variant);
    }
    return "<span class=\"bad\">relay accepted</span><span class=\"detail\">" +
           Text(Join(accepted, ", "), kMaxDetailChars) + "</span>";
  }
  return std::string(kNone);
}

std::string BannerCell(const ProbeResult* result) {
  if (result == nullptr || !result->greeting) return std::string(kNone);
  const GreetingInfo& greeting = *result->greeting;
  std::string banner = result->greeting_lines.empty() ? "" : "220 " + result->greeting_lines[0];
  std::string html = "<span" + Title(banner) + ">";
  html += greeting.hostname.empty() ? "<span class=\"muted\">(no name)</span>"
                                    : Text(greeting.hostname, kMaxHostChars);
  html += "</span>";
  std::string software = greeting.software;
  if (!greeting.version.empty()) software += (software.empty() ? "" : " ") + greeting.version;
  if (!software.empty()) html += "<span class=\"sub\">" + Text(software, kMaxHostChars) + "</span>";
  return html;
}

std::vector<std::string> Keywords(const Capabilities& capabilities) {
  std::vector<std::string> keywords;
  for (const Extension& extension : capabilities.extensions) keywords.push_back(extension.keyword);
  return keywords;
}

// "SIZE 52428800, AUTH PLAIN LOGIN, ..." for the tooltip.
std::string ExtensionList(const Capabilities& capabilities) {
  std::vector<std::string> items;
  for (const Extension& extension : capabilities.extensions) {
    std::string item = extension.keyword;
    for (const std::string& parameter : extension.parameters) item += " " + parameter;
    items.push_back(item);
  }
  return items.empty() ? "(none)" : Join(items, ", ");
}

std::string KeywordList(std::vector<std::string> keywords, std::string_view prefix) {
  std::string html;
  std::size_t shown = 0;
  for (const std::string& keyword : keywords) {
    if (shown == kMaxKeywordsShown) {
      html += " +" + std::to_string(keywords.size() - shown) + " more";
      break;
    }
    if (shown++ > 0) html += " ";
    html += "<span class=\"k\">";
    html += prefix;
    html += Text(keyword, kMaxKeywordChars);
    html += "</span>";
  }
  return html;
}

std::string ExtensionsCell(const ProbeResult* result) {
  if (result == nullptr || !result->capabilities || !result->esmtp.value_or(false)) return "";
  const Capabilities& plain = *result->capabilities;
  std::string tooltip =
      (result->implicit_tls ? "over implicit TLS: " : "before TLS: ") + ExtensionList(plain);
  std::string html = KeywordList(Keywords(plain), "");
  if (plain.extensions.empty()) html = "(none)";
  if (result->tls_capabilities) {
    const Capabilities& secure = *result->tls_capabilities;
    tooltip += "\nafter STARTTLS: " + ExtensionList(secure);
    std::set<std::string> before;
    for (const Extension& e : plain.extensions) before.insert(e.keyword);
    std::set<std::string> after;
    for (const Extension& e : secure.extensions) after.insert(e.keyword);
    std::vector<std::string> added;
    std::vector<std::string> removed;
    std::set_difference(after.begin(), after.end(), before.begin(), before.end(),
                        std::back_inserter(added));
    std::set_difference(before.begin(), before.end(), after.begin(), after.end(),
                        std::back_inserter(removed));
    // STARTTLS disappearing after the upgrade is what RFC 3207 §4.2 asks for: not news.
    std::erase(removed, "STARTTLS");
    html += "<span class=\"after\">after TLS: ";
    if (added.empty() && removed.empty()) {
      html += "same";
    } else {
      html += KeywordList(added, "+");
      if (!added.empty() && !removed.empty()) html += " ";
      html += KeywordList(removed, "\xE2\x88\x92");  // minus sign
    }
    html += "</span>";
  }
  return "<span class=\"kw\"" + Title(tooltip) + ">" + html + "</span>";
}

// Greeting latency, and the whole probe's duration below it.
std::string LatencyCell(const ProbeResult* result) {
  if (result == nullptr) return std::string(kNone);
  const StepResult* greeting = result->FindStep(Step::kGreeting);
  std::string html =
      greeting != nullptr && greeting->ok ? FormatDuration(greeting->duration) : std::string(kNone);
  return html + "<span class=\"sub\">" + FormatDuration(result->duration) + " total</span>";
}

std::string EsmtpCell(const ProbeResult* result) {
  if (result == nullptr || !result->esmtp) return std::string(kNone);
  return *result->esmtp ? "ESMTP" : "<span class=\"warn\">HELO only</span>";
}

std::string StartTlsCell(const ProbeResult* result) {
  if (result == nullptr) return std::string(kNone);
  if (result->implicit_tls) {
    return HandshakeOf(*result) ? "<span class=\"ok\">implicit TLS</span>"
                                : "<span class=\"bad\">implicit TLS failed</span>";
  }
  if (result->starttls_success) {
    return *result->starttls_success ? "<span class=\"ok\">ok</span>"
                                     : "<span class=\"bad\">failed</span>";
  }
  if (!result->starttls_offered) return std::string(kNone);  // no EHLO reply: unknown
  if (*result->starttls_offered) return "offered";
  return "<span class=\"warn\">not offered</span>";
}

std::string TlsVersionCell(const ProbeResult* result) {
  const TlsInfo* tls = result ? HandshakeOf(*result) : nullptr;
  if (tls == nullptr) return "";
  return "<span class=\"sub\"><span class=\"tip\"" + Title(tls->cipher) + ">" +
         Text(tls->version, 16) + "</span></span>";
}

std::string CertificateCell(const ProbeResult* result, std::int64_t now) {
  const TlsInfo* tls = result ? HandshakeOf(*result) : nullptr;
  if (tls == nullptr || (tls->chain.empty() && tls->earliest_not_after == 0)) {
    return std::string(kNone);
  }
  std::string tooltip;
  if (!tls->chain.empty()) {
    tooltip += "subject: " + tls->chain.front().subject + "\nissuer: " + tls->chain.front().issuer;
    if (!tls->chain.front().dns_names.empty()) {
      tooltip += "\nnames: " + Join(tls->chain.front().dns_names, ", ");
    }
    tooltip += "\n";
  }
  std::string html;
  if (tls->earliest_not_after != 0) {
    tooltip += "earliest expiry in chain: " + UtcTime(tls->earliest_not_after) + "\n";
    const std::int64_t days = DaysLeft(tls->earliest_not_after, now);
    if (tls->earliest_not_after <= now) {
      html += "<span class=\"bad\">expired</span>";
    } else {
      const char* css_class = days < kCertificateCriticalDays  ? "bad"
                              : days < kCertificateWarningDays ? "warn"
                                                               : "ok";
      html +=
          "<span class=\"" + std::string(css_class) + "\">" + std::to_string(days) + " d</span>";
    }
  }
  if (tls->verified()) {
    tooltip += "verified for " + tls->verified_name;
    html += "<span class=\"sub ok\">\xE2\x9C\x93 verified</span>";  // check mark
  } else {
    const std::string why =
        tls->verify_error.empty() ? std::string("not verified") : tls->verify_error;
    tooltip += "NOT verified: " + why;
    html += "<span class=\"sub warn\">\xE2\x9C\x97 unverified</span>";  // ballot x
  }
  return "<span class=\"tip\"" + Title(tooltip) + ">" + html + "</span>";
}

std::string RelayCell(const ReportedRelay& relay, std::int64_t now) {
  std::string html;
  switch (relay.judgement.verdict) {
    case RelayVerdict::kNotTested:
      return "<span class=\"muted\">not tested</span>";
    case RelayVerdict::kOpen:
      html = "<span class=\"badge relay\">OPEN</span>";
      break;
    case RelayVerdict::kInconclusive:
      html = "<span class=\"warn\">inconclusive</span>";
      break;
    case RelayVerdict::kClosed:
      html = "<span class=\"ok\">closed</span>";
      break;
  }
  std::string tooltip = relay.judgement.summary;
  if (relay.judgement.catch_all) {
    tooltip += *relay.judgement.catch_all ? "\ncatch-all: any local part accepted at RCPT"
                                          : "\ncatch-all: no";
  }
  for (const RelayAttempt& attempt : relay.result->attempts) {
    tooltip += "\n";
    tooltip += attempt.variant + ": " + ToString(attempt.outcome) + " (MAIL " +
               ReplyCodeText(attempt.mail_code) + ", RCPT " + ReplyCodeText(attempt.rcpt_code) +
               ")";
  }
  if (relay.ran_at) tooltip += "\ntested " + UtcTime(WholeUnixSeconds(*relay.ran_at));
  html = "<span class=\"tip\"" + Title(tooltip) + ">" + html + "</span>";
  if (relay.ran_at) {
    html += "<span class=\"sub\">" + FormatAge(now - WholeUnixSeconds(*relay.ran_at)) + "</span>";
  }
  return html;
}

void AppendRow(std::string& out, const StatusTarget& target, std::size_t index, std::int64_t now) {
  const TargetSnapshot& snapshot = target.snapshot;
  const ProbeResult* result = snapshot.last.get();
  const StatusState state = StateOf(snapshot);
  const ReportedRelay relay = ReportedRelayOf(snapshot);
  const std::string id = RowId(index);

  out += "<tr class=\"" + std::string(StateClass(state)) + "\" id=\"" + id + "\">";
  AppendTargetCell(out, target);
  Cell(out, "State", "",
       "<span class=\"badge " + std::string(StateClass(state)) + "\">" + ToString(state) +
           "</span>");
  Cell(out, "Problem", "problem", ProblemCell(snapshot, state, relay));
  Cell(out, "Banner", "banner", BannerCell(result));
  Cell(out, "Greeting", "num", LatencyCell(result));
  Cell(out, "SMTP", "smtp", EsmtpCell(result) + ExtensionsCell(result));
  Cell(out, "STARTTLS", "nowrap", StartTlsCell(result) + TlsVersionCell(result));
  Cell(out, "Certificate", "nowrap", CertificateCell(result, now));
  Cell(out, "Relay", "nowrap", RelayCell(relay, now));
  if (result != nullptr) {
    const std::int64_t started = WholeUnixSeconds(result->started_at);
    Cell(out, "Last run", "num",
         "<span" + Title(UtcTime(started)) + ">" + FormatAge(now - started) +
             "</span><a class=\"sub\" href=\"" +
             EscapeHtml(TranscriptUrl(snapshot.target, target.module)) +
             "\" aria-label=\"Transcript of " + Text(snapshot.target, kMaxHostChars) +
             "\">transcript</a>");
  } else {
    Cell(out, "Last run", "num", kNone);
  }
  out += "</tr>\n";
}

// Header cells; a title explains the ones that hold two facts.
constexpr std::string_view kColumns[] = {
    "Target",
    "State",
    "Problem",
    "Banner",
    "<span class=\"tip\" title=\"banner latency, then the whole probe\">Greeting</span>",
    "<span class=\"tip\" title=\"ESMTP or HELO only; EHLO keywords, then what changed after "
    "STARTTLS\">SMTP</span>",
    "<span class=\"tip\" title=\"STARTTLS outcome, then the TLS version\">STARTTLS</span>",
    "<span class=\"tip\" title=\"days until the earliest expiry in the chain; verification"
    "\">Certificate</span>",
    "Relay",
    "Last run"};

// Sorted by target, module, labels; ties keep input order.
std::vector<std::size_t> SortedOrder(const std::vector<StatusTarget>& targets) {
  std::vector<std::size_t> order(targets.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    const StatusTarget& x = targets[a];
    const StatusTarget& y = targets[b];
    return std::tie(x.snapshot.target, x.module, x.snapshot.labels) <
           std::tie(y.snapshot.target, y.module, y.snapshot.labels);
  });
  return order;
}

}  // namespace

// ---- Public ----------------------------------------------------------------------------------

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

std::string RenderStatusPage(const StatusPageInput& input) {
  const std::vector<std::size_t> order = SortedOrder(input.targets);
  const std::int64_t now = input.now_unix;

  Summary summary;
  summary.total = input.targets.size();
  // Links to rows that need a look: {severity, html}, most severe first, then in row order.
  std::vector<std::pair<int, std::string>> attention;
  for (std::size_t row = 0; row < order.size(); ++row) {
    const StatusTarget& target = input.targets[order[row]];
    const StatusState state = StateOf(target.snapshot);
    const bool open_relay = RelayVerdictOf(target.snapshot) == RelayVerdict::kOpen;
    const std::optional<std::int64_t> days = CertificateDaysLeft(target.snapshot, now);
    const bool expiring = days && *days < kCertificateWarningDays;
    summary.up += state == StatusState::kUp;
    summary.down += state == StatusState::kDown;
    summary.pending += state == StatusState::kPending;
    summary.open_relays += open_relay;
    summary.expiring += expiring;
    std::string why;
    if (state == StatusState::kDown) {
      why = "down";
    }
    if (open_relay) why += std::string(why.empty() ? "" : ", ") + "open relay";
    if (expiring) {
      why += std::string(why.empty() ? "" : ", ") +
             (*days < 0 ? std::string("certificate expired")
                        : "certificate " + std::to_string(*days) + " d");
    }
    if (!why.empty()) {
      // 0: open relay (abused right now), 1: down, 2: certificate expired or about to, 3: soon.
      const int severity = open_relay                         ? 0
                           : state == StatusState::kDown      ? 1
                           : *days < kCertificateCriticalDays ? 2
                                                              : 3;
      attention.emplace_back(severity, "<a class=\"alert " +
                                           std::string(severity == 3 ? "warn" : "bad") +
                                           "\" href=\"#" + RowId(row) + "\">" +
                                           Text(target.snapshot.target, kMaxHostChars) +
                                           "<span class=\"why\">" + why + "</span></a>");
    }
  }
  std::stable_sort(attention.begin(), attention.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });

  std::string out;
  out.reserve(8192 + input.targets.size() * 2048);
  // The tab title ranks problems like the page does: open relays first.
  std::string title = "smtp_exporter: ";
  if (summary.open_relays > 0) title += std::to_string(summary.open_relays) + " open relay, ";
  title += std::to_string(summary.down) + " down, " + std::to_string(summary.up) + " up";
  BeginPage(out, title, input.refresh_seconds);
  AppendHeader(out, input);
  out += "<main>\n<ul class=\"summary\" aria-label=\"Summary\">";
  out += Chip("", summary.total, "target", "targets");
  out += Chip(summary.up > 0 ? "ok" : "", summary.up, "up", "up");
  out += Chip(summary.down > 0 ? "bad" : "", summary.down, "down", "down");
  out += Chip(summary.open_relays > 0 ? "relay" : "", summary.open_relays, "open relay",
              "open relays");
  const std::string within = " expiring &lt; " + std::to_string(kCertificateWarningDays) + " d";
  out += Chip(summary.expiring > 0 ? "warn" : "", summary.expiring, "certificate" + within,
              "certificates" + within);
  if (summary.pending > 0) out += Chip("pending", summary.pending, "pending", "pending");
  out += "</ul>\n";
  if (!attention.empty()) {
    out += "<p class=\"attention\"><b>Needs attention</b> ";
    for (std::size_t i = 0; i < attention.size() && i < kMaxAttentionLinks; ++i) {
      out += attention[i].second + " ";
    }
    if (attention.size() > kMaxAttentionLinks) {
      out += "and " + std::to_string(attention.size() - kMaxAttentionLinks) + " more";
    }
    out += "</p>\n";
  }

  out +=
      "<div class=\"wrap\">\n<table>\n<caption>Latest probe per target, sorted by target; "
      "hover a dotted value for details.</caption>\n<thead><tr>";
  for (std::string_view column : kColumns) {
    out += "<th scope=\"col\">";
    out += column;
    out += "</th>";
  }
  out += "</tr></thead>\n<tbody>\n";
  if (order.empty()) {
    out += "<tr><td colspan=\"" + std::to_string(std::size(kColumns)) +
           "\" class=\"muted\">No targets configured.</td></tr>\n";
  }
  for (std::size_t row = 0; row < order.size(); ++row) {
    AppendRow(out, input.targets[order[row]], row, now);
  }
  out += "</tbody>\n</table>\n</div>\n";
  out += "<footer>Generated " + UtcTime(now);
  if (input.refresh_seconds > 0) {
    out += " \xC2\xB7 refreshes every " + std::to_string(input.refresh_seconds) + " s";
  }
  out += " \xC2\xB7 certificate days: red &lt; " + std::to_string(kCertificateCriticalDays) +
         ", amber &lt; " + std::to_string(kCertificateWarningDays) + "</footer>\n</main>\n";
  EndPage(out);
  return out;
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

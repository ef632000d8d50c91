#include "daemon/status_html.h"

#include <algorithm>
#include <cstdio>

#include "probes/escape.h"
#include "probes/text.h"

namespace smtp::status_html {
namespace {

constexpr std::string_view kEllipsis = "\xE2\x80\xA6";  // U+2026

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

// A coarse span: "45 s", "12 min", "5 h", "3 d". Negative spans (clock steps) count as 0.
std::string FormatSpan(std::int64_t seconds) {
  seconds = std::max<std::int64_t>(seconds, 0);
  if (seconds < 120) return std::to_string(seconds) + " s";
  if (seconds < 120 * 60) return std::to_string(seconds / 60) + " min";
  if (seconds < 48 * 3600) return std::to_string(seconds / 3600) + " h";
  return std::to_string(seconds / kSecondsPerDay) + " d";
}

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

}  // namespace

std::string Text(std::string_view text, std::size_t max_chars) {
  return EscapeHtml(Clip(text, max_chars));
}

std::string Title(std::string_view text) {
  if (text.empty()) return "";
  return " title=\"" + Text(text, kMaxTooltipChars) + "\"";
}

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

std::string FormatAge(std::int64_t seconds) { return FormatSpan(seconds) + " ago"; }

std::int64_t DaysLeft(std::int64_t not_after, std::int64_t now) {
  const std::int64_t left = not_after - now;
  return left >= 0 ? left / kSecondsPerDay : -((-left + kSecondsPerDay - 1) / kSecondsPerDay);
}

const TlsInfo* HandshakeOf(const ProbeResult& result) {
  return result.tls && result.tls->handshake_ok ? &*result.tls : nullptr;
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

std::string RowId(std::size_t index) { return "t" + std::to_string(index + 1); }

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

}  // namespace smtp::status_html

// The HTML kit the status page and the transcript page share (daemon/status_page.h): display
// limits, escaped and clipped text, tooltips, durations and ages, state classes, row anchors and
// the page frame with its inline style. Pure functions; internal to daemon/status_page.cc,
// status_table.cc and transcript_page.cc.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "daemon/target_state.h"
#include "probes/probe_result.h"

namespace smtp::status_html {

inline constexpr std::int64_t kSecondsPerDay = 86400;

// Display limits, in code points. Whole values go to tooltips, themselves bounded.
inline constexpr std::size_t kMaxHostChars = 48;
inline constexpr std::size_t kMaxDetailChars = 80;
inline constexpr std::size_t kMaxTooltipChars = 1500;

// An unknown fact: a muted em dash.
inline constexpr std::string_view kNone = "<span class=\"muted\">\xE2\x80\x94</span>";

// `text` cut to `max_chars` characters (an invalid byte counts as one, "…" marks a cut), then
// escaped with EscapeHtml.
std::string Text(std::string_view text, std::size_t max_chars);

// ` title="..."` with `text` escaped and bounded, or nothing for empty text.
std::string Title(std::string_view text);

// "0.42 ms", "8.1 ms", "84 ms", "1.24 s", "12.5 s".
std::string FormatDuration(std::chrono::nanoseconds duration);

// A coarse age: "45 s ago", "12 min ago", "5 h ago", "3 d ago". Negative spans (clock steps)
// count as 0.
std::string FormatAge(std::int64_t seconds);

// Whole days from now until `not_after`, rounded down; negative once expired.
std::int64_t DaysLeft(std::int64_t not_after, std::int64_t now);

// The TLS facts worth showing: only from a completed handshake; null otherwise.
const TlsInfo* HandshakeOf(const ProbeResult& result);

// The CSS class of a state: "pending", "down", "relay" or "up".
const char* StateClass(StatusState state);

// The anchor id of the row at 0-based `index` in sorted order: "t1", "t2", ...
std::string RowId(std::size_t index);

// Appends the document's start (doctype, head with the title escaped, the meta refresh tag when
// refresh_seconds > 0, the inline style) up to and including <body>, and its end.
void BeginPage(std::string& out, std::string_view title, int refresh_seconds);
void EndPage(std::string& out);

}  // namespace smtp::status_html

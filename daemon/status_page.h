// The HTML status page served on `/` (DESIGN §2) and the "last transcript" page it links to.
//
// Both renderers are pure: they read only their arguments (the time "now" included; there are no
// clock reads, no I/O, no globals), and equal inputs give byte-identical output, whatever the
// order of the targets in the input. The caller (the HTTP handler) renders from a copy of the
// fleet's snapshots (daemon/fleet.h), as /metrics does.
//
// The status page is one self-contained HTML5 document: inline CSS, no scripts, no external
// assets, no fonts to fetch, so it works behind any proxy and on an air-gapped host. It reloads
// itself with `<meta http-equiv="refresh">` every StatusPageInput::refresh_seconds. It shows:
//   * a header: exporter version, uptime, config reload status and age, links to the telemetry
//     path, /-/healthy and /-/ready;
//   * a summary line: targets, up, down, pending, open relays, certificates expiring within
//     kCertificateWarningDays days, and a "needs attention" list linking to the rows of targets
//     that are open relays, down, or have a certificate about to expire (in that order, then
//     by row; at most a dozen, then "and N more");
//   * one table row per target, sorted by target name, then module, then labels (ties keep
//     their input order), with the columns described at RenderStatusPage; each row has the
//     anchor id "t<row number>" (1-based, in sorted order).
// Under 760 CSS pixels (a sidecar viewed on a laptop half-screen or a phone) every row becomes a
// card with one labelled line per column; above, it is a compact table with a sticky header
// that stays readable with hundreds of targets.
//
// Everything that came from the network (banners, EHLO keywords, certificate names, reply texts,
// failure details, transcripts) and everything from the config (target names, labels, modules)
// goes through EscapeHtml before it reaches the page, in text and in attributes alike. Long
// strings are cut for display (with "…") and shown whole, escaped, in a title tooltip.
//
// Accessibility: the state is always spelled out in words (colour only repeats it), the table
// has a caption and header cells with scope, tooltips duplicate nothing that is essential, and
// the colours meet WCAG AA contrast against their backgrounds; a dark scheme follows
// prefers-color-scheme.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/target_state.h"
#include "probes/escape.h"  // EscapeHtml
#include "probes/verdict.h"

namespace smtp {

// Content-Type of both pages.
inline constexpr std::string_view kStatusPageContentType = "text/html; charset=utf-8";

// Certificate days-left colours: red below kCertificateCriticalDays (and when expired), amber
// below kCertificateWarningDays. The summary counts certificates below kCertificateWarningDays.
inline constexpr std::int64_t kCertificateCriticalDays = 3;
inline constexpr std::int64_t kCertificateWarningDays = 14;

// The path of the transcript page. The link from the status page is
//   /transcript?target=<T>&module=<M>
// where <T> is TargetSnapshot::target and <M> the module name, each percent-encoded with
// UrlEncodeQueryValue (every byte except ALPHA / DIGIT / "-" / "." / "_" / "~" becomes %XX, so
// "+" is "%2B" and a space "%20"). The daemon serves it by percent-decoding both parameters and
// rendering RenderTranscriptPage for the snapshot whose target and module equal them exactly;
// 404 when there is none (e.g. the target was removed by a reload), 400 when a parameter is
// missing.
inline constexpr std::string_view kTranscriptPath = "/transcript";

// One target as the status page sees it.
struct StatusTarget {
  TargetSnapshot snapshot;
  std::string module;  // the module that probes it, e.g. "default"
};

struct StatusPageInput {
  std::string version;                    // exporter version, e.g. "0.1.0"
  std::int64_t started_unix = 0;          // when the daemon started, Unix seconds
  std::int64_t now_unix = 0;              // the time the page describes, Unix seconds
  int refresh_seconds = 15;               // meta refresh interval; <= 0 omits the tag
  std::string metrics_path = "/metrics";  // --web.telemetry-path, linked from the header

  // Config: the file in use ("" = built-in default, probing 127.0.0.1:25); whether the most
  // recent (re)load succeeded; when the running config was loaded; and, after a failed reload,
  // when it was attempted and its one-line error. Times of 0 are unknown and not shown.
  std::string config_file;
  bool reload_successful = true;
  std::int64_t last_reload_unix = 0;          // last successful (re)load
  std::int64_t last_reload_attempt_unix = 0;  // last failed attempt, when !reload_successful
  std::string last_reload_error;

  std::vector<StatusTarget> targets;
};

// The status page described above. Its ten columns show per target (a second fact sits on a
// smaller second line of the same cell):
//   Target       the target, its module and configured labels;
//   State        UP / DOWN / OPEN RELAY / PENDING as a coloured badge;
//   Problem      for DOWN the failing step and reason, the 4xx/5xx reply code and enhanced
//                code when there was one, and the engine's detail; for OPEN RELAY the variants
//                accepted; for PENDING "not probed yet";
//   Banner       hostname from the greeting; software and version (the raw line in the tooltip);
//   Greeting     banner latency; the whole probe's duration;
//   SMTP         ESMTP or HELO only (amber); the EHLO keywords before TLS (at most 16 shown)
//                and what changed after STARTTLS ("+AUTH"; STARTTLS itself disappearing is
//                expected and not listed); keywords with parameters in the tooltip;
//   STARTTLS     ok / failed (red) / offered / not offered (amber) / implicit TLS; TLS version
//                (cipher in the tooltip);
//   Certificate  days until the earliest expiry in the chain (coloured, see above; "expired");
//                verified or unverified (subject, issuer, names, expiry and the reason in the
//                tooltip);
//   Relay        the verdict of RelayVerdictOf and its age (per-variant outcomes in the tooltip);
//   Last run     the age of the last probe (its UTC time in the tooltip); the transcript link.
// Unknown facts show as an em dash. The pending chip in the summary appears only when some
// target is pending.
std::string RenderStatusPage(const StatusPageInput& input);

// The page behind the transcript link: the verdict and findings (smtp::Judge), the report
// (smtp::FormatReport), the SMTP conversation (smtp::FormatTranscript) and, when the relay
// verdict comes from an earlier run, that run's attempts; every byte of them escaped inside
// <pre>. For a target never probed it says so. It has no refresh tag (it is for reading).
std::string RenderTranscriptPage(const TargetSnapshot& snapshot, std::string_view module,
                                 std::int64_t now_unix);

// The href of a target's transcript link, before HTML escaping:
// "/transcript?target=<T>&module=<M>" with both values encoded by UrlEncodeQueryValue.
std::string TranscriptUrl(std::string_view target, std::string_view module);

// Percent-encodes every byte except the RFC 3986 unreserved characters, with upper-case hex.
std::string UrlEncodeQueryValue(std::string_view value);

}  // namespace smtp

// The metrics layer: turns the latest probe results into Prometheus metric families and renders
// them in the text exposition format. Pure: no I/O, no clock, no locks, no global registry. The
// families are built afresh on every scrape from plain data (the idea behind prometheus-cpp's
// Collectable), so a target removed by a reload simply stops appearing, and nothing here can go
// stale or leak series.
//
// Names, labels and meanings are the contract of DESIGN §2. The rules, after Prometheus' "Writing
// exporters" and blackbox_exporter:
//   * A series is emitted only when its fact is known: no TLS series when no TLS handshake
//     happened, no relay series when the relay test never ran, nothing at all for a target that
//     was never probed. A family without series is left out (no lone HELP/TYPE lines).
//   * `_info` gauges are 1; facts live in their labels.
//   * Every per-target series carries `target` (unless the caller asks to omit it, as /probe
//     does) and the target's configured extra labels, then the family's own labels, in that order.
//   * Families come in DESIGN §2 table order; series within a family are sorted by their label
//     pairs. Output is therefore a function of the input set only, not of its order.
//   * Label values come from the network (banners, certificates, EHLO keywords). They are made
//     valid UTF-8 (invalid bytes and control characters other than tab and newline become U+FFFD)
//     and cut to kMaxLabelValueBytes; quoting, backslashes and newlines are escaped by the
//     exposition writer. Per-session lists that a hostile server controls (EHLO
//     keywords, AUTH mechanisms) are capped at kMaxSeriesPerList series each, so one server
//     cannot blow up cardinality.
//   * The exposition is always valid: two snapshots with the same label set keep only the first,
//     and a configured label whose name is invalid or collides with a label of ours is dropped
//     (the config layer should reject such names up front with TargetLabelNameError()).
//
// Rendering: our own exposition writer, not prometheus::TextSerializer. DESIGN says "render with
// prometheus::TextSerializer", and the issue asks for /metrics of 10,000 targets in < 100 ms.
// Measured with bench/metrics_render_bench (Release, this project's 2-core VM, 10,000 realistic
// targets of ~75 series, 78.7 MB of text), the old path took ~730 ms: ~135 ms to build the
// MetricFamily objects (a std::string per label per series) and ~590 ms in TextSerializer (an
// ostream insertion per token, a locale-aware double conversion per value); it also printed 16
// significant digits, so 9 ms showed as 0.008999999999999999, and DBL_MAX rounded out of range.
// RenderProbeMetrics() takes ~90 ms for the same scrape (~4 ms for 1,000 targets), about 35 ms of
// which are the kernel's page faults for the freshly allocated output: it writes the text straight
// from the snapshots, without MetricFamily objects, in two passes (metrics.cc, FragmentSink);
// numbers in their shortest round-trip form (std::to_chars), integers up to 2^53 as integers.
// The same code decides which series exist for both paths (it hands them to a "sink": one builds
// MetricFamily objects, one writes text), so BuildProbeFamilies() and RenderProbeMetrics() cannot
// disagree; the tests compare our text with TextSerializer's for the same families (equal but for
// number spelling) and every golden file with RenderText(BuildProbeFamilies()).
//
// This is the only header of the project that includes prometheus-cpp.
#pragma once

#include <prometheus/metric_family.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "daemon/target_state.h"
#include "probes/probe_result.h"

namespace smtp {

inline constexpr std::size_t kMaxLabelValueBytes = 512;
inline constexpr std::size_t kMaxSeriesPerList = 64;

// The per-target families (smtp_probe_*, smtp_greeting_*, smtp_tls_*, smtp_relay_*, ...).
// `include_target_label` = false for /probe, which answers for one target only; the caller then
// passes a single snapshot.
//
// Beyond DESIGN §2, this also emits smtp_relay_last_run_timestamp_seconds (when the relay
// verdict was taken), because the relay verdict is usually older than the rest of the probe.
std::vector<prometheus::MetricFamily> BuildProbeFamilies(const std::vector<TargetSnapshot>& targets,
                                                         bool include_target_label);

struct SelfMetrics {
  std::string version;   // e.g. "0.1.0"
  std::string revision;  // VCS revision, "" when unknown
  std::string compiler;  // "" = CompilerDescription() of this build
  // Probes finished since start, by ProbeResultLabel(). "success" and every failure reason are
  // always exported (0 until they happen) so that rate() and increase() see the first one.
  std::map<std::string, std::uint64_t> probes_total_by_result;
  bool last_reload_successful = false;
  double last_reload_success_unix = 0;  // Unix seconds of the last successful (re)load
  int probes_in_flight = 0;
  // How late scheduled probes started against their slot (start - due), in seconds; a
  // histogram so that replicas aggregate (the owner, the probe loop, picks the bounds).
  Histogram scheduler_lag;
};

// smtp_exporter_build_info and the other smtp_exporter_* families.
std::vector<prometheus::MetricFamily> BuildSelfFamilies(const SelfMetrics& self);

// The whole answer of /metrics (or of /probe, with `include_target_label` = false and no `self`):
// the text of BuildProbeFamilies(targets, include_target_label), followed, when `self` is not
// null, by that of BuildSelfFamilies(*self); written directly, several times faster than
// building the families and rendering them (see the top of this file).
std::string RenderProbeMetrics(const std::vector<TargetSnapshot>& targets,
                               bool include_target_label, const SelfMetrics* self = nullptr);

// The exposition text (version 0.0.4, Content-Type "text/plain; version=0.0.4; charset=utf-8") of
// any families, in the given order, with the same writer as RenderProbeMetrics(). Compared with
// prometheus::TextSerializer: numbers in shortest round-trip form, NaN spelled "NaN" (not "Nan"),
// backslashes and newlines in HELP escaped as the format requires; otherwise the same text (HELP
// and TYPE lines even for a family without metrics, histogram and summary series in the order
// _count, _sum, then buckets or quantiles).
std::string RenderText(const std::vector<prometheus::MetricFamily>& families);

// "gcc 12.2.0", "clang 14.0.6": the compiler of this build, for smtp_exporter_build_info.
std::string CompilerDescription();

// Why `name` cannot be a configured target label, or nullopt when it can: not a Prometheus label
// name ([a-zA-Z_][a-zA-Z0-9_]*), starting with "__" (reserved by Prometheus), or one of the labels
// the exporter sets itself (target, step, ..., module, domain, ip, job, instance). The one list
// of reserved names; the config decoder reports this text.
std::optional<std::string> TargetLabelNameError(std::string_view name);

// `value` as a valid, bounded label value (see the rules at the top). Exposed for tests and for
// the status page, which shows the same strings.
std::string SanitizeLabelValue(std::string_view value);

}  // namespace smtp

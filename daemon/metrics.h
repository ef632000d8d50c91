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
//     Nothing here reports an error or throws (but std::bad_alloc): what would make the
//     exposition invalid is dropped or replaced as these rules say.
//
// Two outputs, from the same code that decides which series exist (it hands them to a "sink"),
// so that they cannot disagree: BuildProbeFamilies()/BuildSelfFamilies() return
// prometheus::MetricFamily objects, and RenderProbeMetrics() writes the text exposition straight
// from the snapshots, without them (several times faster; bench/README.md has the figures). The
// text is that of RenderText() (exposition.h) over the families, byte for byte.
//
// This header and exposition.h are the only headers of the project that include prometheus-cpp.
#pragma once

#include <prometheus/metric_family.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "daemon/target_state.h"
#include "probes/probe_result.h"

namespace smtp {

// Label values are cut to this many bytes (never inside a character).
inline constexpr std::size_t kMaxLabelValueBytes = 512;
// Series per target and family from one server-controlled list (EHLO keywords, AUTH mechanisms,
// each before and after TLS).
inline constexpr std::size_t kMaxSeriesPerList = 64;

// The per-target families (smtp_probe_*, smtp_greeting_*, smtp_tls_*, smtp_relay_*, ...). A
// snapshot with minimal_series (its module's `series: minimal`) gets only smtp_probe_success,
// smtp_probe_failure_info, smtp_probe_step_duration_seconds and smtp_reply_code for
// step="greeting", smtp_starttls_offered, smtp_starttls_success,
// smtp_tls_cert_not_after_timestamp_seconds, smtp_tls_cert_verified, smtp_relay_open and
// smtp_relay_verdict.
// `include_target_label` = false for /probe, which answers for one target only; the caller then
// passes a single snapshot.
//
// Beyond DESIGN §2, this also emits smtp_relay_last_run_timestamp_seconds (when the relay
// verdict was taken), because the relay verdict is usually older than the rest of the probe.
std::vector<prometheus::MetricFamily> BuildProbeFamilies(const std::vector<TargetSnapshot>& targets,
                                                         bool include_target_label);

struct SelfMetrics {
  std::string version;   // e.g. "0.1.0"
  std::string revision;  // git commit of the build, e.g. "3f2c1ab0d9e1", or "unknown"
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

// The whole answer of /metrics (or of /probe, with `include_target_label` = false and no `self`)
// in the text exposition format 0.0.4 (exposition.h): exactly
// RenderText(BuildProbeFamilies(targets, include_target_label)), followed, when `self` is not
// null, by RenderText(BuildSelfFamilies(*self)); written directly, without the families.
std::string RenderProbeMetrics(std::span<const TargetSnapshot* const> targets,
                               bool include_target_label, const SelfMetrics* self = nullptr);
// The same for targets held by value.
std::string RenderProbeMetrics(const std::vector<TargetSnapshot>& targets,
                               bool include_target_label, const SelfMetrics* self = nullptr);

// RenderProbeMetrics()'s text in pieces, for an answer too big to hold whole (a full scrape of
// 100,000 targets is about 260 MB) and too slow to render in one go on a thread that serves
// other requests. The constructor orders the targets; each Next() then does a bounded step:
// first it feeds kTargetsPerStep targets' series to the exposition's line buffers (pass 1 of
// exposition::TextSink, about a third of the text), appending nothing; then it appends the
// next piece of text, family by family, freeing each family's buffer once written. So the
// memory held is that third, not the text. The pieces, concatenated, are RenderProbeMetrics()'s
// text byte for byte. The snapshots must outlive this object; `self` is read by the
// constructor only.
class MetricsText {
 public:
  MetricsText(std::span<const TargetSnapshot* const> targets, bool include_target_label,
              const SelfMetrics* self = nullptr);
  ~MetricsText();
  MetricsText(const MetricsText&) = delete;
  MetricsText& operator=(const MetricsText&) = delete;

  // Does the next step and returns whether steps remain: false once the step has appended the
  // end of the text. A text step appends whole lines to `out` until it has grown by at least
  // `piece_bytes` (SIZE_MAX: the rest of the text) or the text ends; a line is at most a few
  // tens of kB.
  bool Next(std::string& out, std::size_t piece_bytes);

  static constexpr std::size_t kTargetsPerStep = 1024;

 private:
  struct State;
  static constexpr std::size_t kLineSlack = 64 * 1024;
  std::unique_ptr<State> state_;
};

// "gcc 12.2.0", "clang 14.0.6": the compiler of this build, for smtp_exporter_build_info.
std::string CompilerDescription();

// Why `name` cannot be a configured target label, or nullopt when it can: not a Prometheus label
// name ([a-zA-Z_][a-zA-Z0-9_]*), starting with "__" (reserved by Prometheus), or one of the labels
// the exporter sets itself (target, step, ..., module, domain, ip, job, instance). The one list
// of reserved names; the config decoder reports this text, after the key path that names the
// label, so the text quotes no name but a reserved one.
std::optional<std::string> TargetLabelNameError(std::string_view name);

// `value` as a valid, bounded label value (see the rules at the top): ValidUtf8Text(value,
// kMaxLabelValueBytes) of the escaping kit (probes/escape.h). Exposed for tests.
std::string SanitizeLabelValue(std::string_view value);

}  // namespace smtp

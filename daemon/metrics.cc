// Probe results -> Prometheus metric families. See metrics.h for the rules.
#include "daemon/metrics.h"

#include <prometheus/client_metric.h>
#include <prometheus/metric_type.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <initializer_list>
#include <iterator>
#include <limits>
#include <sstream>

namespace smtp {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Label = ClientMetric::Label;
using LabelList = std::vector<Label>;

// The per-target families, in DESIGN §2 table order (the output order).
enum ProbeFamily : std::size_t {
  kSuccess,
  kDuration,
  kStepDuration,
  kGreetingHistogram,
  kReplyCode,
  kFailureInfo,
  kGreetingInfo,
  kEsmtp,
  kExtensionInfo,
  kSizeLimit,
  kAuthMechanismInfo,
  kStartTlsOffered,
  kStartTlsSuccess,
  kTlsVersionInfo,
  kTlsCipherInfo,
  kCertNotAfter,
  kCertVerified,
  kCertInfo,
  kRelayOpen,
  kRelayTestResult,
  kRelayLastRun,
  kLastRun,
  kMxRecords,
  kFcrdnsMatch,
  kProbeFamilyCount,
};

struct FamilyDef {
  const char* name;
  MetricType type;
  const char* help;
};

// HELP texts are for the operator reading /metrics or a Grafana tooltip. They must not contain a
// backslash or a newline: TextSerializer writes HELP verbatim.
constexpr FamilyDef kProbeFamilyDefs[kProbeFamilyCount] = {
    {"smtp_probe_success", MetricType::Gauge,
     "1 when every enabled step of the last probe succeeded, 0 when a step failed (see "
     "smtp_probe_failure_info)."},
    {"smtp_probe_duration_seconds", MetricType::Gauge,
     "Duration of the last probe, from name resolution to QUIT, in seconds."},
    {"smtp_probe_step_duration_seconds", MetricType::Gauge,
     "Duration of each step of the last probe that ran, in seconds; step=greeting is the banner "
     "latency (connected to final 220 line)."},
    {"smtp_greeting_duration_seconds", MetricType::Histogram,
     "Banner latency (connected to final 220 line) of every probe since the target was "
     "configured, in seconds; for heatmaps and quantiles."},
    {"smtp_reply_code", MetricType::Gauge,
     "Last SMTP reply code the server sent in each step of the last probe (220, 250, 421, 554, "
     "...)."},
    {"smtp_probe_failure_info", MetricType::Gauge,
     "1 on the step that failed the last probe, with the reason (dns, refused, timeout, "
     "unreachable, reset, tls, protocol, rejected); absent when the probe succeeded."},
    {"smtp_greeting_info", MetricType::Gauge,
     "Mail server name, software and version parsed from the 220 banner of the last probe; "
     "always 1."},
    {"smtp_esmtp", MetricType::Gauge,
     "1 when the server accepted EHLO (ESMTP), 0 when only HELO worked."},
    {"smtp_ehlo_extension_info", MetricType::Gauge,
     "One series per keyword the server advertised in its EHLO reply, tls=false before "
     "STARTTLS and tls=true over TLS; always 1."},
    {"smtp_ehlo_size_limit_bytes", MetricType::Gauge,
     "Message size limit the server advertised with the EHLO SIZE keyword (over TLS when "
     "STARTTLS succeeded), in bytes; 0 when SIZE was advertised without a limit."},
    {"smtp_auth_mechanism_info", MetricType::Gauge,
     "One series per SASL mechanism the server advertised with EHLO AUTH, tls=false before "
     "STARTTLS and tls=true over TLS; always 1."},
    {"smtp_starttls_offered", MetricType::Gauge,
     "1 when the server advertised STARTTLS in its plaintext EHLO reply, 0 when not."},
    {"smtp_starttls_success", MetricType::Gauge,
     "1 when the STARTTLS command was accepted and the TLS handshake completed, 0 when it "
     "failed; absent when STARTTLS was not attempted."},
    {"smtp_tls_version_info", MetricType::Gauge,
     "TLS protocol version negotiated by the last probe; always 1."},
    {"smtp_tls_cipher_info", MetricType::Gauge,
     "TLS cipher suite negotiated by the last probe; always 1."},
    {"smtp_tls_cert_not_after_timestamp_seconds", MetricType::Gauge,
     "Expiry time (Unix seconds) of the certificate that expires first in the chain the server "
     "presented."},
    {"smtp_tls_cert_verified", MetricType::Gauge,
     "1 when the server certificate chain and hostname verified, 0 when not; reported even "
     "when the probe does not require TLS."},
    {"smtp_tls_cert_info", MetricType::Gauge,
     "Subject, issuer and serial number of the server (leaf) certificate; always 1."},
    {"smtp_relay_open", MetricType::Gauge,
     "1 when the last relay test found an open relay (some variant had a foreign recipient "
     "accepted), 0 when not."},
    {"smtp_relay_test_result", MetricType::Gauge,
     "Outcome of each variant of the last relay test (accepted, refused, inconclusive, "
     "auth_required); always 1."},
    {"smtp_relay_last_run_timestamp_seconds", MetricType::Gauge,
     "Unix time when the relay test reported by smtp_relay_open started; it runs less often "
     "than the other steps."},
    {"smtp_probe_last_run_timestamp_seconds", MetricType::Gauge,
     "Unix time when the probe these results come from started. On /metrics the smtp_ target "
     "metrics are cached results of scheduled probes, not probed at scrape time."},
    {"smtp_dns_mx_records", MetricType::Gauge,
     "Number of MX records of the domain of an mx: target."},
    {"smtp_fcrdns_match", MetricType::Gauge,
     "1 when the reverse DNS name of the server address resolves back to it and matches the "
     "banner hostname (when a banner was received), 0 when not."},
};

// Labels set by this layer; configured target labels must not use them (a duplicate label name
// makes Prometheus reject the whole scrape).
constexpr std::string_view kOwnLabelNames[] = {
    "target",    "step",    "reason",    "hostname", "software", "version",
    "extension", "tls",     "mechanism", "cipher",   "subject",  "issuer",
    "serial",    "variant", "result",    "le",       "quantile",
};

// The failure reasons, for pre-seeding smtp_exporter_probes_total.
constexpr FailureReason kFailureReasons[] = {
    FailureReason::kDns,         FailureReason::kRefused,  FailureReason::kTimeout,
    FailureReason::kUnreachable, FailureReason::kReset,    FailureReason::kTls,
    FailureReason::kProtocol,    FailureReason::kRejected,
};

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Dividing (rather than multiplying by 1e-9, as duration<double> does) gives the double nearest
// to the exact value. (prometheus-cpp 1.0.1 prints 16 significant digits, so some values such as
// 9 ms still render as 0.008999999999999999; Prometheus parses that back to within one ulp.)
double Seconds(std::chrono::nanoseconds d) { return static_cast<double>(d.count()) / 1e9; }

double UnixSeconds(std::chrono::system_clock::time_point t) {
  return Seconds(std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()));
}

const char* BoolLabel(bool b) { return b ? "true" : "false"; }

// Length of the valid UTF-8 sequence at the start of `s` (RFC 3629 §4: no overlong forms, no
// surrogates, nothing above U+10FFFF), or 0 when it is not valid.
std::size_t Utf8SequenceLength(std::string_view s) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char lead = byte(0);
  if (lead < 0x80) return 1;
  std::size_t length = 0;
  unsigned char low = 0x80, high = 0xBF;  // allowed range of the second byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;
    if (lead == 0xED) high = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;
    if (lead == 0xF4) high = 0x8F;
  } else {
    return 0;
  }
  if (s.size() < length) return 0;
  if (byte(1) < low || byte(1) > high) return 0;
  for (std::size_t i = 2; i < length; ++i) {
    if (byte(i) < 0x80 || byte(i) > 0xBF) return 0;
  }
  return length;
}

bool IsPlainAscii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c < 0x7F; });
}

// Collects the series of one scrape, one group (target) at a time. Groups arrive in ascending
// order of their base labels, each base once, and every series of a group starts with the base;
// so sorting each group's own labels orders the whole family, at the cost of many tiny sorts
// instead of one big one (the difference matters at 10,000 targets).
class FamilyBuilder {
 public:
  template <std::size_t N>
  explicit FamilyBuilder(const FamilyDef (&defs)[N]) : group_start_(N, 0) {
    families_.reserve(N);
    for (const FamilyDef& def : defs) {
      families_.push_back(MetricFamily{def.name, def.help, def.type, {}});
    }
  }

  // `base`: the labels every series of the group starts with (target and configured labels).
  void BeginGroup(LabelList base) {
    base_ = std::move(base);
    for (std::size_t i = 0; i < families_.size(); ++i) {
      group_start_[i] = families_[i].metric.size();
    }
  }

  // Orders the group's series by their own labels; of two with the same labels, keeps the first.
  void EndGroup() {
    const std::size_t skip = base_.size();
    const auto own_less = [skip](const ClientMetric& a, const ClientMetric& b) {
      return std::lexicographical_compare(a.label.begin() + skip, a.label.end(),
                                          b.label.begin() + skip, b.label.end());
    };
    const auto own_equal = [skip](const ClientMetric& a, const ClientMetric& b) {
      return std::equal(a.label.begin() + skip, a.label.end(), b.label.begin() + skip,
                        b.label.end());
    };
    for (std::size_t i = 0; i < families_.size(); ++i) {
      std::vector<ClientMetric>& metrics = families_[i].metric;
      const auto first = metrics.begin() + static_cast<std::ptrdiff_t>(group_start_[i]);
      if (metrics.end() - first < 2) continue;
      std::stable_sort(first, metrics.end(), own_less);
      metrics.erase(std::unique(first, metrics.end(), own_equal), metrics.end());
    }
  }

  // Returns the new series, value unset, labels = base + `own` (values sanitized).
  ClientMetric& Add(std::size_t family,
                    std::initializer_list<std::pair<const char*, std::string_view>> own = {}) {
    ClientMetric& metric = families_[family].metric.emplace_back();
    metric.label.reserve(base_.size() + own.size());
    metric.label = base_;
    for (const auto& [name, value] : own) {
      metric.label.push_back(Label{name, SanitizeLabelValue(value)});
    }
    return metric;
  }

  void Gauge(std::size_t family, double value,
             std::initializer_list<std::pair<const char*, std::string_view>> own = {}) {
    Add(family, own).gauge.value = value;
  }

  // The families in definition order, without those that got no series.
  std::vector<MetricFamily> Finish() && {
    std::erase_if(families_, [](const MetricFamily& f) { return f.metric.empty(); });
    return std::move(families_);
  }

 private:
  std::vector<MetricFamily> families_;
  std::vector<std::size_t> group_start_;  // per family: index of the group's first series
  LabelList base_;
};

// Sorted, de-duplicated and capped: a server controls these lists.
std::vector<std::string> BoundedSortedSet(std::vector<std::string> items) {
  std::sort(items.begin(), items.end());
  items.erase(std::unique(items.begin(), items.end()), items.end());
  if (items.size() > kMaxSeriesPerList) items.resize(kMaxSeriesPerList);
  return items;
}

void AddCapabilities(FamilyBuilder& b, const Capabilities& caps, bool over_tls) {
  const char* tls = BoolLabel(over_tls);
  std::vector<std::string> keywords;
  keywords.reserve(caps.extensions.size());
  for (const Extension& extension : caps.extensions) keywords.push_back(extension.keyword);
  for (const std::string& keyword : BoundedSortedSet(std::move(keywords))) {
    b.Gauge(kExtensionInfo, 1, {{"extension", keyword}, {"tls", tls}});
  }
  for (const std::string& mechanism : BoundedSortedSet(caps.auth_mechanisms)) {
    b.Gauge(kAuthMechanismInfo, 1, {{"mechanism", mechanism}, {"tls", tls}});
  }
}

void AddTls(FamilyBuilder& b, const TlsInfo& tls) {
  if (tls.handshake_ok) {
    if (!tls.version.empty()) b.Gauge(kTlsVersionInfo, 1, {{"version", tls.version}});
    if (!tls.cipher.empty()) b.Gauge(kTlsCipherInfo, 1, {{"cipher", tls.cipher}});
  }
  // Certificate facts are known whenever a certificate was presented, even if the handshake
  // failed afterwards; verification is evaluated whenever the handshake completed.
  if (tls.earliest_not_after != 0) {
    b.Gauge(kCertNotAfter, static_cast<double>(tls.earliest_not_after));
  }
  if (tls.handshake_ok || !tls.chain.empty()) b.Gauge(kCertVerified, tls.verified() ? 1 : 0);
  if (!tls.chain.empty()) {
    const CertificateInfo& leaf = tls.chain.front();
    b.Gauge(kCertInfo, 1,
            {{"subject", leaf.subject}, {"issuer", leaf.issuer}, {"serial", leaf.serial}});
  }
}

void AddRelay(FamilyBuilder& b, const RelayResult& relay,
              std::optional<std::chrono::system_clock::time_point> ran_at) {
  b.Gauge(kRelayOpen, relay.open ? 1 : 0);
  for (const RelayAttempt& attempt : relay.attempts) {
    b.Gauge(kRelayTestResult, 1,
            {{"variant", attempt.variant}, {"result", ToString(attempt.outcome)}});
  }
  if (ran_at) b.Gauge(kRelayLastRun, UnixSeconds(*ran_at));
}

void AddProbeResult(FamilyBuilder& b, const ProbeResult& r) {
  b.Gauge(kSuccess, r.success ? 1 : 0);
  b.Gauge(kDuration, Seconds(r.duration));

  // The engine records each step once; if it ever records one twice, the last one is the
  // latest fact, and of two equal series the builder keeps the first.
  std::vector<const StepResult*> steps;
  for (auto it = r.steps.rbegin(); it != r.steps.rend(); ++it) steps.push_back(&*it);
  for (const StepResult* step : steps) {
    b.Gauge(kStepDuration, Seconds(step->duration), {{"step", ToString(step->step)}});
    if (step->reply_code != 0) {
      b.Gauge(kReplyCode, step->reply_code, {{"step", ToString(step->step)}});
    }
  }

  if (!r.success) {
    std::string_view reason = ToString(r.failure_reason);
    b.Gauge(kFailureInfo, 1,
            {{"step", r.failed_step ? ToString(*r.failed_step) : "unknown"},
             {"reason", reason.empty() ? "unknown" : reason}});
  }

  if (r.greeting) {
    b.Gauge(kGreetingInfo, 1,
            {{"hostname", r.greeting->hostname},
             {"software", r.greeting->software},
             {"version", r.greeting->version}});
  }
  if (r.esmtp) b.Gauge(kEsmtp, *r.esmtp ? 1 : 0);

  // With implicit TLS (port 465) the first EHLO already runs over TLS.
  if (r.capabilities) AddCapabilities(b, *r.capabilities, r.implicit_tls);
  if (r.tls_capabilities) AddCapabilities(b, *r.tls_capabilities, true);
  // The session that would carry mail decides the limit: the one over TLS when there is one.
  const Capabilities* mail_session =
      r.tls_capabilities ? &*r.tls_capabilities : (r.capabilities ? &*r.capabilities : nullptr);
  if (mail_session && mail_session->size_limit) {
    b.Gauge(kSizeLimit, static_cast<double>(*mail_session->size_limit));
  }

  // STARTTLS is a plaintext-session question; a HELO-only server cannot offer it (a known 0).
  if (!r.implicit_tls && (r.capabilities || r.esmtp)) {
    b.Gauge(kStartTlsOffered, r.starttls_offered ? 1 : 0);
  }
  if (r.starttls_success) b.Gauge(kStartTlsSuccess, *r.starttls_success ? 1 : 0);
  if (r.tls) AddTls(b, *r.tls);

  b.Gauge(kLastRun, UnixSeconds(r.started_at));

  if (r.dns.fcrdns_match) {
    // DESIGN §2: the PTR must confirm forward and name the host the banner names.
    const bool match = *r.dns.fcrdns_match && r.dns.banner_matches_ptr.value_or(true);
    b.Gauge(kFcrdnsMatch, match ? 1 : 0);
  }
}

void AddGreetingHistogram(FamilyBuilder& b, const GreetingHistogram& h) {
  ClientMetric& metric = b.Add(kGreetingHistogram);
  metric.histogram.sample_count = h.count();
  metric.histogram.sample_sum = h.sum();
  metric.histogram.bucket.reserve(h.bounds().size());
  for (std::size_t i = 0; i < h.bounds().size(); ++i) {
    metric.histogram.bucket.push_back(
        ClientMetric::Bucket{h.cumulative_counts()[i], h.bounds()[i]});
  }
}

LabelList BaseLabels(const TargetSnapshot& snapshot, bool include_target_label) {
  LabelList labels;
  labels.reserve(snapshot.labels.size() + 1);
  if (include_target_label) labels.push_back(Label{"target", SanitizeLabelValue(snapshot.target)});
  for (const auto& [name, value] : snapshot.labels) {  // std::map: sorted by name
    if (TargetLabelNameError(name)) continue;
    labels.push_back(Label{name, SanitizeLabelValue(value)});
  }
  return labels;
}

}  // namespace

const std::vector<double>& GreetingHistogram::DefaultBounds() {
  static const std::vector<double> kBounds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                              0.5,   1,    2.5,   5,    10,  30};
  return kBounds;
}

GreetingHistogram::GreetingHistogram() : GreetingHistogram(DefaultBounds()) {}

GreetingHistogram::GreetingHistogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)) {
  std::erase_if(bounds_, [](double b) { return std::isnan(b) || std::isinf(b); });
  std::sort(bounds_.begin(), bounds_.end());
  bounds_.erase(std::unique(bounds_.begin(), bounds_.end()), bounds_.end());
  cumulative_counts_.assign(bounds_.size(), 0);
}

void GreetingHistogram::Observe(double seconds) {
  if (std::isnan(seconds)) return;
  seconds = std::max(seconds, 0.0);
  ++count_;
  sum_ += seconds;
  // Buckets are cumulative: the observation counts in every bucket whose bound is >= it.
  auto first = std::lower_bound(bounds_.begin(), bounds_.end(), seconds);
  for (auto i = static_cast<std::size_t>(first - bounds_.begin()); i < bounds_.size(); ++i) {
    ++cumulative_counts_[i];
  }
}

std::vector<prometheus::MetricFamily> BuildProbeFamilies(const std::vector<TargetSnapshot>& targets,
                                                         bool include_target_label) {
  // Order the targets by their label sets so that a duplicate set is detected and dropped as a
  // whole (keeping the first), rather than mixing the series of two targets.
  std::vector<std::pair<LabelList, const TargetSnapshot*>> ordered;
  ordered.reserve(targets.size());
  for (const TargetSnapshot& snapshot : targets) {
    ordered.emplace_back(BaseLabels(snapshot, include_target_label), &snapshot);
  }
  std::stable_sort(ordered.begin(), ordered.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });

  FamilyBuilder b(kProbeFamilyDefs);
  const LabelList* previous = nullptr;
  for (auto& [base, snapshot] : ordered) {
    if (previous && *previous == base) continue;
    previous = &base;
    b.BeginGroup(base);

    const ProbeResult* last = snapshot->last.get();
    if (last) AddProbeResult(b, *last);
    if (snapshot->greeting_histogram && (last || snapshot->greeting_histogram->count() > 0)) {
      AddGreetingHistogram(b, *snapshot->greeting_histogram);
    }
    if (last && last->relay.ran) {
      AddRelay(b, last->relay, last->started_at);
    } else if (snapshot->last_relay && snapshot->last_relay->ran) {
      AddRelay(b, *snapshot->last_relay, snapshot->last_relay_at);
    }
    if (snapshot->mx_records) b.Gauge(kMxRecords, *snapshot->mx_records);
    b.EndGroup();
  }
  return std::move(b).Finish();
}

std::vector<prometheus::MetricFamily> BuildSelfFamilies(const SelfMetrics& self) {
  enum : std::size_t {
    kBuildInfo,
    kProbesTotal,
    kReloadSuccessful,
    kReloadSuccessTimestamp,
    kInFlight,
    kSchedulerLag,
    kCount,
  };
  static constexpr FamilyDef kSelfFamilyDefs[kCount] = {
      {"smtp_exporter_build_info", MetricType::Gauge,
       "Version, VCS revision and compiler of this smtp_exporter build; always 1."},
      {"smtp_exporter_probes_total", MetricType::Counter,
       "Probes finished since the exporter started, by result: success or the failure reason."},
      {"smtp_exporter_config_last_reload_successful", MetricType::Gauge,
       "1 when the last configuration (re)load succeeded, 0 when it failed and the previous "
       "configuration is still in use."},
      {"smtp_exporter_config_last_reload_success_timestamp_seconds", MetricType::Gauge,
       "Unix time of the last successful configuration (re)load."},
      {"smtp_exporter_probes_in_flight", MetricType::Gauge, "Probes running right now."},
      {"smtp_exporter_scheduler_lag_seconds", MetricType::Summary,
       "How late scheduled probes started against their planned time, in seconds."},
  };

  FamilyBuilder b(kSelfFamilyDefs);
  b.BeginGroup({});
  b.Gauge(kBuildInfo, 1,
          {{"version", self.version},
           {"revision", self.revision},
           {"compiler", self.compiler.empty() ? CompilerDescription() : self.compiler}});

  std::map<std::string, std::uint64_t> totals = self.probes_total_by_result;
  totals.try_emplace("success", 0);
  for (FailureReason reason : kFailureReasons) totals.try_emplace(ToString(reason), 0);
  for (const auto& [result, count] : totals) {
    b.Add(kProbesTotal, {{"result", result}}).counter.value = static_cast<double>(count);
  }

  b.Gauge(kReloadSuccessful, self.last_reload_successful ? 1 : 0);
  b.Gauge(kReloadSuccessTimestamp, self.last_reload_success_unix);
  b.Gauge(kInFlight, self.probes_in_flight);

  ClientMetric& lag = b.Add(kSchedulerLag);
  lag.summary.sample_count = self.scheduler_lag.count;
  lag.summary.sample_sum = self.scheduler_lag.sum;
  for (const auto& [quantile, value] : self.scheduler_lag.quantiles) {
    if (quantile >= 0 && quantile <= 1) {
      lag.summary.quantile.push_back(ClientMetric::Quantile{quantile, value});
    }
  }
  std::sort(lag.summary.quantile.begin(), lag.summary.quantile.end(),
            [](const auto& x, const auto& y) { return x.quantile < y.quantile; });
  b.EndGroup();
  return std::move(b).Finish();
}

std::string RenderText(const std::vector<prometheus::MetricFamily>& families) {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return std::move(out).str();
}

std::string ProbeResultLabel(const ProbeResult& result) {
  if (result.success) return "success";
  std::string reason = ToString(result.failure_reason);
  return reason.empty() ? "unknown" : reason;
}

std::string CompilerDescription() {
#if defined(__clang__)
  return "clang " + std::to_string(__clang_major__) + "." + std::to_string(__clang_minor__) + "." +
         std::to_string(__clang_patchlevel__);
#elif defined(__GNUC__)
  return "gcc " + std::to_string(__GNUC__) + "." + std::to_string(__GNUC_MINOR__) + "." +
         std::to_string(__GNUC_PATCHLEVEL__);
#else
  return "unknown";
#endif
}

std::optional<std::string> TargetLabelNameError(std::string_view name) {
  const auto is_alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  const auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
  if (name.empty()) return "label name is empty";
  if (!(is_alpha(name[0]) || name[0] == '_') || !std::all_of(name.begin(), name.end(), [&](char c) {
        return is_alpha(c) || is_digit(c) || c == '_';
      })) {
    return "invalid label name \"" + SanitizeLabelValue(name) +
           "\" (want letters, digits and _, not starting with a digit)";
  }
  if (name.starts_with("__")) {
    return "label name \"" + std::string(name) + "\" is reserved (starts with __)";
  }
  if (std::find(std::begin(kOwnLabelNames), std::end(kOwnLabelNames), name) !=
      std::end(kOwnLabelNames)) {
    return "label name \"" + std::string(name) + "\" is reserved by smtp_exporter's metrics";
  }
  return std::nullopt;
}

std::string SanitizeLabelValue(std::string_view value) {
  if (value.size() <= kMaxLabelValueBytes && IsPlainAscii(value)) return std::string(value);
  std::string out;
  out.reserve(std::min(value.size(), kMaxLabelValueBytes));
  while (!value.empty()) {
    std::size_t length = Utf8SequenceLength(value);
    std::string_view piece = value.substr(0, length);
    const auto first = static_cast<unsigned char>(value[0]);
    const bool control =
        length == 1 && ((first < 0x20 && first != '\t' && first != '\n') || first == 0x7F);
    // An invalid sequence is replaced one byte at a time: simple, and never loses valid text.
    if (length == 0 || control) piece = kReplacement;
    if (out.size() + piece.size() > kMaxLabelValueBytes) break;  // never split a character
    out.append(piece);
    value.remove_prefix(std::max<std::size_t>(length, 1));
  }
  return out;
}

}  // namespace smtp

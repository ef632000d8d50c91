// Probe results -> Prometheus series: which series exist for a target, and in which order. See
// metrics.h for the rules; metric_families.h lists the families, metric_series.h assembles the
// series, and exposition.h writes the text.
#include "daemon/metrics.h"

#include <algorithm>
#include <array>
#include <cstddef>
#include <utility>

#include "daemon/exposition.h"
#include "daemon/metric_families.h"
#include "daemon/metric_series.h"
#include "probes/escape.h"
#include "probes/text.h"
#include "probes/verdict.h"

namespace smtp {
namespace metrics_internal {
namespace {

// Dividing (rather than multiplying by 1e-9, as duration<double> does) gives the double nearest
// to the exact value, which the writer prints in its shortest round-trip form: 9 ms is 0.009.
double Seconds(std::chrono::nanoseconds d) { return static_cast<double>(d.count()) / 1e9; }

std::string_view BoolLabel(bool b) { return b ? "true" : "false"; }

// ToString(step) without a strlen on every use.
std::string_view StepName(Step step) {
  static const auto kNames = [] {
    std::array<std::string_view, static_cast<std::size_t>(Step::kReverseDns) + 1> names;
    for (std::size_t i = 0; i < names.size(); ++i) names[i] = ToString(static_cast<Step>(i));
    return names;
  }();
  const auto i = static_cast<std::size_t>(step);
  return i < kNames.size() ? kNames[i] : ToString(step);
}

// ---- What the families contain ------------------------------------------------------------------

// Sorted, de-duplicated and capped: a server controls these lists. Views into the probe result.
class BoundedSortedSet {
 public:
  template <class Range, class Project>
  const std::vector<std::string_view>& Of(const Range& items, Project project) {
    keyed_.clear();
    for (const auto& item : items) {
      const std::string_view text = project(item);
      keyed_.emplace_back(Prefix(text), text);
    }
    std::sort(keyed_.begin(), keyed_.end());  // by key, then by text
    sorted_.clear();
    for (const auto& [key, text] : keyed_) {
      if (sorted_.size() == kMaxSeriesPerList) break;
      if (sorted_.empty() || sorted_.back() != text) sorted_.push_back(text);
    }
    return sorted_;
  }

 private:
  std::vector<std::pair<std::uint64_t, std::string_view>> keyed_;
  std::vector<std::string_view> sorted_;
};

void AddExtensions(SeriesCollector& c, const Capabilities& caps, bool over_tls,
                   BoundedSortedSet& set) {
  for (std::string_view keyword :
       set.Of(caps.extensions, [](const Extension& e) { return e.keyword(); })) {
    c.Add(1, {{"extension", keyword}, {"tls", BoolLabel(over_tls), true}});
  }
}

void AddMechanisms(SeriesCollector& c, const Capabilities& caps, bool over_tls,
                   BoundedSortedSet& set) {
  for (std::string_view mechanism :
       set.Of(caps.auth_mechanisms, [](const std::string& m) -> std::string_view { return m; })) {
    c.Add(1, {{"mechanism", mechanism}, {"tls", BoolLabel(over_tls), true}});
  }
}

// The relay families: facts of the relay test the verdict rests on (see ReportedRelayOf()).
void CollectRelaySeries(ProbeFamily family, const ReportedRelay& relay, SeriesCollector& c) {
  switch (family) {
    case kRelayOpen:
      if (relay.result) c.Add(relay.judgement.verdict == RelayVerdict::kOpen ? 1 : 0);
      break;
    case kRelayVerdict:
      if (relay.result) {
        for (RelayVerdict verdict :
             {RelayVerdict::kClosed, RelayVerdict::kInconclusive, RelayVerdict::kOpen}) {
          c.Add(relay.judgement.verdict == verdict ? 1 : 0, {{"verdict", ToString(verdict), true}});
        }
      }
      break;
    case kRelayTestResult:
      if (relay.result) {
        for (const RelayAttempt& attempt : relay.result->attempts) {
          c.Add(1, {{"variant", attempt.variant}, {"result", ToString(attempt.outcome), true}});
        }
      }
      break;
    case kRcptCatchAll:
      if (relay.judgement.catch_all) c.Add(*relay.judgement.catch_all ? 1 : 0);
      break;
    case kRelayLastRun:
      if (relay.result && relay.ran_at) c.Add(UnixSeconds(*relay.ran_at));
      break;
    default:
      break;
  }
}

// smtp_user_enumeration_result: VRFY and EXPN of the latest probe, RCPT from the relay verdict.
void CollectEnumerationSeries(const ProbeResult& r, const ReportedRelay& relay,
                              SeriesCollector& c) {
  const auto add = [&c](std::string_view method, EnumerationResult result) {
    for (EnumerationResult each : kEnumerationResults) {
      c.Add(each == result ? 1 : 0, {{"method", method, true}, {"result", ToString(each), true}});
    }
  };
  for (const EnumerationCheck& check : r.user_enumeration->checks) add(check.method, check.result);
  if (relay.result) {
    if (std::optional<EnumerationResult> rcpt = RcptEnumeration(relay.judgement))
      add("rcpt", *rcpt);
  }
}

// The EHLO and STARTTLS families of the latest probe.
void CollectEhloSeries(ProbeFamily family, const ProbeResult& r, SeriesCollector& c,
                       BoundedSortedSet& scratch) {
  switch (family) {
    // With implicit TLS (port 465) the first EHLO already runs over TLS.
    case kExtensionInfo:
      if (r.capabilities) AddExtensions(c, *r.capabilities, r.implicit_tls, scratch);
      if (r.tls_capabilities) AddExtensions(c, *r.tls_capabilities, true, scratch);
      break;
    // The session that would carry mail decides the limit: the one over TLS when there is one.
    case kSizeLimit: {
      const Capabilities* mail_session = r.tls_capabilities ? &*r.tls_capabilities
                                         : r.capabilities   ? &*r.capabilities
                                                            : nullptr;
      if (mail_session && mail_session->size_limit) {
        c.Add(static_cast<double>(*mail_session->size_limit));
      }
      break;
    }
    case kAuthMechanismInfo:
      if (r.capabilities) AddMechanisms(c, *r.capabilities, r.implicit_tls, scratch);
      if (r.tls_capabilities) AddMechanisms(c, *r.tls_capabilities, true, scratch);
      break;
    // STARTTLS is a plaintext-session question; a HELO-only server cannot offer it (a known 0),
    // and without an EHLO reply it is unknown (absent).
    case kStartTlsOffered:
      if (!r.implicit_tls && r.starttls_offered) c.Add(*r.starttls_offered ? 1 : 0);
      break;
    case kStartTlsSuccess:
      if (r.starttls_success) c.Add(*r.starttls_success ? 1 : 0);
      break;
    default:
      break;
  }
}

// The TLS families of the latest probe. Certificate facts are known whenever a certificate was
// presented, even if the handshake failed afterwards; verification is evaluated whenever the
// handshake completed.
void CollectTlsSeries(ProbeFamily family, const TlsInfo& tls, SeriesCollector& c) {
  switch (family) {
    case kTlsVersionInfo:
      if (tls.handshake_ok && !tls.version.empty()) c.Add(1, {{"version", tls.version}});
      break;
    case kTlsCipherInfo:
      if (tls.handshake_ok && !tls.cipher.empty()) c.Add(1, {{"cipher", tls.cipher}});
      break;
    case kCertNotAfter:
      if (tls.earliest_not_after != 0) c.Add(static_cast<double>(tls.earliest_not_after));
      break;
    case kCertVerified:
      if (tls.handshake_ok || !tls.chain.empty()) c.Add(tls.verified() ? 1 : 0);
      break;
    case kCertInfo:
      if (!tls.chain.empty()) {
        const CertificateInfo& leaf = tls.chain.front();
        c.Add(1, {{"subject", leaf.subject}, {"issuer", leaf.issuer}, {"serial", leaf.serial}});
      }
      break;
    default:
      break;
  }
}

// The other families of the latest probe: its outcome, steps, banner and DNS.
void CollectSessionSeries(ProbeFamily family, const ProbeResult& r, SeriesCollector& c) {
  switch (family) {
    case kSuccess:
      c.Add(r.success ? 1 : 0);
      break;
    case kDuration:
      c.Add(Seconds(r.duration));
      break;
    // The engine records each step once; if it ever records one twice, the last one is the
    // latest fact (added first, and of two equal series the collector keeps the first).
    case kStepDuration:
      for (auto it = r.steps.rbegin(); it != r.steps.rend(); ++it) {
        c.Add(Seconds(it->duration), {{"step", StepName(it->step), true}});
      }
      break;
    case kReplyCode:
      for (auto it = r.steps.rbegin(); it != r.steps.rend(); ++it) {
        if (it->reply_code != 0) c.Add(it->reply_code, {{"step", StepName(it->step), true}});
      }
      break;
    case kFailureInfo:
      if (!r.success) {
        const std::string_view reason = ToString(r.failure_reason);
        c.Add(1, {{"step", r.failed_step ? ToString(*r.failed_step) : "unknown", true},
                  {"reason", reason.empty() ? "unknown" : reason, true}});
      }
      break;
    case kGreetingInfo:
      if (r.greeting) {
        c.Add(1, {{"hostname", r.greeting->hostname},
                  {"software", r.greeting->software},
                  {"version", r.greeting->version}});
      }
      break;
    case kEsmtp:
      if (r.esmtp) c.Add(*r.esmtp ? 1 : 0);
      break;
    case kLastRun:
      c.Add(UnixSeconds(r.started_at));
      break;
    case kAuthSuccess:
      if (r.auth->attempted) c.Add(r.auth->success() ? 1 : 0);
      break;
    case kAuthResult:
      if (r.auth->attempted) {
        for (AuthOutcome outcome : kAuthOutcomes) {
          c.Add(r.auth->outcome == outcome ? 1 : 0, {{"result", ToString(outcome), true}});
        }
      }
      break;
    case kAuthMechanismUsed:
      if (!r.auth->mechanism.empty()) c.Add(1, {{"mechanism", r.auth->mechanism}});
      break;
    case kFcrdnsMatch:
      if (r.dns.fcrdns_match) {
        // DESIGN §2: the PTR must confirm forward and name the host the banner names.
        c.Add(*r.dns.fcrdns_match && r.dns.banner_matches_ptr.value_or(true) ? 1 : 0);
      }
      break;
    default:
      break;
  }
}

// The MTA-STS families of the latest probe: the record, the fetch, the policy, this MX.
void CollectMtaStsSeries(ProbeFamily family, const ProbeResult& r, SeriesCollector& c) {
  const MtaStsResult& sts = *r.mta_sts;
  switch (family) {
    case kMtaStsRecordResult:
      for (PolicyRecordStatus status : kPolicyRecordStatuses) {
        c.Add(sts.record.status == status ? 1 : 0, {{"result", ToString(status), true}});
      }
      break;
    case kMtaStsIdInfo:
      if (!sts.record.id.empty()) c.Add(1, {{"id", sts.record.id}});
      break;
    case kMtaStsFetchSuccess:
      if (sts.fetch) c.Add(*sts.fetch == PolicyFetchStatus::kOk ? 1 : 0);
      break;
    case kMtaStsFetchFailureInfo:
      if (sts.fetch && *sts.fetch != PolicyFetchStatus::kOk) {
        c.Add(1, {{"reason", ToString(*sts.fetch), true}});
      }
      break;
    case kMtaStsMode:
      if (sts.policy) {
        for (MtaStsMode mode : kMtaStsModes) {
          c.Add(sts.policy->mode == mode ? 1 : 0, {{"mode", ToString(mode), true}});
        }
      }
      break;
    case kMtaStsMaxAge:
      if (sts.policy) c.Add(sts.policy->max_age);
      break;
    case kMtaStsMxMatch:
      if (sts.mx_matches) c.Add(*sts.mx_matches ? 1 : 0);
      break;
    case kMtaStsMxDeliverable:
      if (const std::optional<MtaStsDelivery> delivery = JudgeMtaStsDelivery(r)) {
        c.Add(delivery->ok ? 1 : 0);
      }
      break;
    default:
      break;
  }
}

// The domain-check families of the latest probe (ProbeSpec::checks).
void CollectDomainCheckSeries(ProbeFamily family, const ProbeResult& r, SeriesCollector& c) {
  if (family >= kMtaStsRecordResult && family <= kMtaStsMxDeliverable) {
    if (r.mta_sts) CollectMtaStsSeries(family, r, c);
    return;
  }
  switch (family) {
    case kTlsRptResult:
      if (r.tls_rpt) {
        for (PolicyRecordStatus status : kPolicyRecordStatuses) {
          c.Add(r.tls_rpt->status == status ? 1 : 0, {{"result", ToString(status), true}});
        }
      }
      break;
    case kDaneTlsaRecords:
      if (r.dane) c.Add(static_cast<double>(r.dane->records.size()));
      break;
    case kDaneTlsaAuthenticated:
      if (r.dane && !r.dane->records.empty()) c.Add(r.dane->authenticated ? 1 : 0);
      break;
    case kDaneResult:
      if (r.dane) {
        for (DaneStatus status : kDaneStatuses) {
          c.Add(r.dane->status == status ? 1 : 0, {{"result", ToString(status), true}});
        }
      }
      break;
    case kDaneMatch:
      if (r.dane &&
          (r.dane->status == DaneStatus::kMatch || r.dane->status == DaneStatus::kMismatch ||
           r.dane->status == DaneStatus::kNoTls)) {
        c.Add(r.dane->status == DaneStatus::kMatch ? 1 : 0);
      }
      break;
    case kDnsblListed:
      for (const DnsblResult& entry : r.dnsbl) {
        if (entry.status == DnsblStatus::kListed || entry.status == DnsblStatus::kNotListed) {
          c.Add(entry.status == DnsblStatus::kListed ? 1 : 0,
                {{"zone", entry.zone}, {"address", entry.address}});
        }
      }
      break;
    case kDnsblResult:
      for (const DnsblResult& entry : r.dnsbl) {
        c.Add(1, {{"zone", entry.zone},
                  {"address", entry.address},
                  {"result", ToString(entry.status), true}});
      }
      break;
    // One address per series (the connected one), so the listing needs no address label.
    case kDnsblListingInfo:
      for (const DnsblResult& entry : r.dnsbl) {
        if (entry.status != DnsblStatus::kListed) continue;
        c.Add(1, {{"zone", entry.zone},
                  {"code", entry.codes.empty() ? std::string_view() : entry.codes.front()},
                  {"reason", entry.reason}});
      }
      break;
    default:
      break;
  }
}

// The series of `family` (any but kGreetingHistogram) for one target.
void CollectProbeSeries(ProbeFamily family, const TargetSnapshot& s, const ReportedRelay& relay,
                        SeriesCollector& c, BoundedSortedSet& scratch) {
  switch (family) {
    case kRelayOpen:
    case kRelayVerdict:
    case kRelayTestResult:
    case kRcptCatchAll:
    case kRelayLastRun:
      return CollectRelaySeries(family, relay, c);
    case kMxRecords:
      if (s.mx_records) c.Add(*s.mx_records);
      return;
    case kUserEnumerationResult:
      if (s.last && s.last->user_enumeration->ran) CollectEnumerationSeries(*s.last, relay, c);
      return;
    case kMtaStsRecordResult:
    case kMtaStsIdInfo:
    case kMtaStsFetchSuccess:
    case kMtaStsFetchFailureInfo:
    case kMtaStsMode:
    case kMtaStsMaxAge:
    case kMtaStsMxMatch:
    case kMtaStsMxDeliverable:
    case kTlsRptResult:
    case kDaneTlsaRecords:
    case kDaneTlsaAuthenticated:
    case kDaneResult:
    case kDaneMatch:
    case kDnsblListed:
    case kDnsblResult:
    case kDnsblListingInfo:
      if (s.last) CollectDomainCheckSeries(family, *s.last, c);
      return;
    // Everything else is a fact of the latest probe.
    case kExtensionInfo:
    case kSizeLimit:
    case kAuthMechanismInfo:
    case kStartTlsOffered:
    case kStartTlsSuccess:
      if (s.last) CollectEhloSeries(family, *s.last, c, scratch);
      return;
    case kTlsVersionInfo:
    case kTlsCipherInfo:
    case kCertNotAfter:
    case kCertVerified:
    case kCertInfo:
      if (s.last && s.last->tls) CollectTlsSeries(family, *s.last->tls, c);
      return;
    default:
      if (s.last) CollectSessionSeries(family, *s.last, c);
      return;
  }
}

// The emitters read ~70 cache lines of scattered heap data per target (the result, its steps,
// EHLO keywords, certificate, relay attempts, histogram), each found through the one before: at
// 10,000 targets nearly every line is a miss to DRAM, and dependent misses are taken one at a
// time. Prefetching the targets ahead of the one being emitted, in stages that follow those
// pointers, overlaps some of them (measured: a few per cent of a 10,000-target scrape). Hints
// only: nothing depends on them.
void PrefetchLines(const void* data, std::size_t bytes) {
  constexpr std::size_t kLine = 64, kMaxBytes = 4096;
  const char* const p = static_cast<const char*>(data);
  for (std::size_t i = 0; i < std::min(bytes, kMaxBytes); i += kLine) __builtin_prefetch(p + i);
}

template <class T>
void PrefetchVector(const std::vector<T>& v) {
  PrefetchLines(v.data(), v.size() * sizeof(T));
}

// Stage 2: what the snapshot points to (stage 1 fetched the snapshot itself).
void PrefetchSnapshotTargets(const TargetSnapshot& s) {
  if (s.last) PrefetchLines(s.last.get(), sizeof(ProbeResult));
  if (s.last_relay) PrefetchLines(s.last_relay.get(), sizeof(RelayResult));
  if (s.greeting_histogram) {
    PrefetchVector(s.greeting_histogram->bounds());
    PrefetchVector(s.greeting_histogram->cumulative_counts());
  }
}

// Stage 3: what the result points to.
void PrefetchResultTargets(const TargetSnapshot& s) {
  const ProbeResult* r = s.last.get();
  if (r == nullptr) return;
  PrefetchVector(r->steps);
  for (const Capabilities* caps :
       {ValuePointer(r->capabilities), ValuePointer(r->tls_capabilities)}) {
    if (caps) {
      PrefetchVector(caps->extensions);
      PrefetchVector(caps->auth_mechanisms);
    }
  }
  if (r->tls) PrefetchVector(r->tls->chain);
  PrefetchVector(r->relay->attempts);
}

// The families `series: minimal` keeps: what the shipped alerts and an operator's first questions
// need (is it up, why not, how slow is the banner, does STARTTLS work, when does the certificate
// expire and does it verify, is it an open relay), about 10 series per target instead of ~65.
constexpr bool InMinimalSeries(ProbeFamily family) {
  switch (family) {
    case kSuccess:
    case kStepDuration:  // step="greeting" only
    case kReplyCode:     // step="greeting" only
    case kFailureInfo:
    case kStartTlsOffered:
    case kStartTlsSuccess:
    case kCertNotAfter:
    case kCertVerified:
    case kRelayOpen:
    case kRelayVerdict:
    // What the domain-check alerts read; present only when a module turns the check on.
    case kMtaStsMode:
    case kMtaStsFetchSuccess:
    case kMtaStsMxDeliverable:
    case kDaneMatch:
    case kDnsblListed:
      return true;
    default:
      return false;
  }
}

template <SeriesSink Sink>
void EmitProbeFamilies(Sink& sink, std::span<const Group> groups) {
  SeriesCollector collector;
  BoundedSortedSet scratch;
  constexpr std::size_t kAhead = 4;  // targets between prefetch stages
  for (std::size_t g = 0; g < groups.size(); ++g) {
    if (g + 3 * kAhead < groups.size()) {
      PrefetchLines(groups[g + 3 * kAhead].snapshot, sizeof(TargetSnapshot));
    }
    if (g + 2 * kAhead < groups.size()) PrefetchSnapshotTargets(*groups[g + 2 * kAhead].snapshot);
    if (g + kAhead < groups.size()) PrefetchResultTargets(*groups[g + kAhead].snapshot);
    sink.BeginGroup(groups[g].base);
    const TargetSnapshot& s = *groups[g].snapshot;
    const ReportedRelay relay = ReportedRelayOf(s);
    for (std::size_t f = 0; f < kProbeFamilyCount; ++f) {
      sink.Select(f);
      const auto family = static_cast<ProbeFamily>(f);
      if (s.minimal_series && !InMinimalSeries(family)) continue;
      if (family == kGreetingHistogram) {
        // Exported once the target was probed (an empty history then says "no greeting yet").
        if (s.greeting_histogram && (s.last || s.greeting_histogram->count() > 0)) {
          sink.Histogram(*s.greeting_histogram);
        }
        continue;
      }
      CollectProbeSeries(family, s, relay, collector, scratch);
      // The alerts read the greeting's duration and reply code only.
      if (s.minimal_series) collector.KeepOnly("step", "greeting");
      collector.FlushTo(sink);
    }
  }
}

// The self families form one group without base labels.
template <SeriesSink Sink>
void EmitSelfFamilies(Sink& sink, const SelfMetrics& self) {
  const std::string compiler = self.compiler.empty() ? CompilerDescription() : self.compiler;
  std::map<std::string, std::uint64_t> totals = self.probes_total_by_result;
  totals.try_emplace("success", 0);
  for (FailureReason reason : kFailureReasons) totals.try_emplace(ToString(reason), 0);

  SeriesCollector c;
  sink.BeginGroup({});
  for (std::size_t f = 0; f < kSelfFamilyCount; ++f) {
    sink.Select(f);
    switch (static_cast<SelfFamily>(f)) {
      case kBuildInfo:
        c.Add(1, {{"version", self.version}, {"revision", self.revision}, {"compiler", compiler}});
        break;
      case kProbesTotal:
        for (const auto& [result, count] : totals) {
          c.Add(static_cast<double>(count), {{"result", result}});
        }
        break;
      case kReloadSuccessful:
        c.Add(self.last_reload_successful ? 1 : 0);
        break;
      case kReloadSuccessTimestamp:
        c.Add(self.last_reload_success_unix);
        break;
      case kInFlight:
        c.Add(self.probes_in_flight);
        break;
      case kSchedulerLag:
        sink.Histogram(self.scheduler_lag);
        break;
      case kSelfFamilyCount:
        break;
    }
    c.FlushTo(sink);
  }
}

}  // namespace
}  // namespace metrics_internal

namespace mi = metrics_internal;

namespace {

std::vector<const TargetSnapshot*> Pointers(const std::vector<TargetSnapshot>& targets) {
  std::vector<const TargetSnapshot*> pointers;
  pointers.reserve(targets.size());
  for (const TargetSnapshot& target : targets) pointers.push_back(&target);
  return pointers;
}

}  // namespace

std::vector<prometheus::MetricFamily> BuildProbeFamilies(const std::vector<TargetSnapshot>& targets,
                                                         bool include_target_label) {
  mi::LabelArena arena;
  const std::vector<mi::Group> groups =
      mi::OrderedGroups(Pointers(targets), include_target_label, arena);
  mi::FamilySink sink(mi::kProbeFamilyDefs);
  mi::EmitProbeFamilies(sink, groups);
  return std::move(sink).Finish();
}

std::vector<prometheus::MetricFamily> BuildSelfFamilies(const SelfMetrics& self) {
  mi::FamilySink sink(mi::kSelfFamilyDefs);
  mi::EmitSelfFamilies(sink, self);
  return std::move(sink).Finish();
}

std::string RenderProbeMetrics(const std::vector<TargetSnapshot>& targets,
                               bool include_target_label, const SelfMetrics* self) {
  return RenderProbeMetrics(Pointers(targets), include_target_label, self);
}

struct MetricsText::State {
  State(std::span<const TargetSnapshot* const> targets, bool include_target_label)
      : groups(mi::OrderedGroups(targets, include_target_label, arena)),
        probe_sink(mi::kProbeFamilyDefs),
        self_sink(mi::kSelfFamilyDefs) {}

  mi::LabelArena arena;  // before `groups`, whose labels may point into it
  std::vector<mi::Group> groups;
  std::size_t fed = 0;  // groups fed to probe_sink so far
  exposition::TextSink probe_sink;
  exposition::TextSink self_sink;
};

MetricsText::MetricsText(std::span<const TargetSnapshot* const> targets, bool include_target_label,
                         const SelfMetrics* self)
    : state_(std::make_unique<State>(targets, include_target_label)) {
  if (self != nullptr) mi::EmitSelfFamilies(state_->self_sink, *self);
}

MetricsText::~MetricsText() = default;

bool MetricsText::Next(std::string& out, std::size_t piece_bytes) {
  State& s = *state_;
  if (s.fed < s.groups.size()) {
    const std::size_t n = std::min(kTargetsPerStep, s.groups.size() - s.fed);
    mi::EmitProbeFamilies(s.probe_sink, std::span(s.groups).subspan(s.fed, n));
    s.fed += n;
    return true;
  }
  // The remaining text in one allocation when it is taken whole; a piece's worth otherwise,
  // which a caller that clears and reuses `out` allocates once.
  const std::size_t min_bytes =
      piece_bytes > SIZE_MAX - out.size() ? SIZE_MAX : out.size() + piece_bytes;
  out.reserve(std::min(min_bytes, out.size() + s.probe_sink.TextSize() + s.self_sink.TextSize()) +
              kLineSlack);
  return s.probe_sink.TakeText(out, min_bytes) || s.self_sink.TakeText(out, min_bytes);
}

std::string RenderProbeMetrics(std::span<const TargetSnapshot* const> targets,
                               bool include_target_label, const SelfMetrics* self) {
  MetricsText text(targets, include_target_label, self);
  std::string out;
  while (text.Next(out, SIZE_MAX)) {
  }
  return out;
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
  if (!mi::IsLabelName(name)) {
    // The name itself is not repeated: the caller's key path shows it, escaped and bounded.
    return "not a valid label name (must match [a-zA-Z_][a-zA-Z0-9_]*)";
  }
  if (name.starts_with("__")) return "label names starting with \"__\" are reserved";
  if (mi::IsSeriesLabelName(name) || mi::IsOtherOwnLabelName(name)) {
    return "label name \"" + std::string(name) + "\" is reserved for the exporter's own labels";
  }
  return std::nullopt;
}

std::string SanitizeLabelValue(std::string_view value) {
  return ValidUtf8Text(value, kMaxLabelValueBytes);
}

}  // namespace smtp

// Probe results -> Prometheus metric families. See metrics.h for the rules.
#include "daemon/metrics.h"

#include <prometheus/client_metric.h>
#include <prometheus/metric_type.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <deque>
#include <initializer_list>
#include <iterator>
#include <limits>
#include <span>

#include "probes/escape.h"
#include "probes/text.h"
#include "probes/verdict.h"

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
  kRelayVerdict,
  kRelayTestResult,
  kRcptCatchAll,
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

// HELP texts are for the operator reading /metrics or a Grafana tooltip. Keep them free of
// backslashes and newlines: the writer below escapes them, but prometheus::TextSerializer (which
// tests compare against) would not.
constexpr FamilyDef kProbeFamilyDefs[kProbeFamilyCount] = {
    {"smtp_probe_success", MetricType::Gauge,
     "1 when every health step of the last probe succeeded, 0 when one failed (see "
     "smtp_probe_failure_info); the relay test never changes it (see smtp_relay_verdict)."},
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
     "1 when the last relay test proved an open relay (a foreign recipient accepted at RCPT, or "
     "an address hack accepted where a random local part is refused), 0 when not proven."},
    {"smtp_relay_verdict", MetricType::Gauge,
     "Verdict of the last relay test as a state set: 1 for the current verdict (open, closed or "
     "inconclusive: cut short, 4xx, or 530 in plaintext), 0 for the others."},
    {"smtp_relay_test_result", MetricType::Gauge,
     "Outcome of each variant of the last relay test (accepted, refused, inconclusive, "
     "auth_required, catch_all: a hack accepted as local mail, not_run: cut short); always 1."},
    {"smtp_rcpt_catch_all", MetricType::Gauge,
     "1 when the last relay test saw a random, nonexistent local part at the server's own name "
     "accepted at RCPT (catch-all), 0 when refused; absent when not asked or not answered."},
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

// The label names this layer puts on series itself; a snapshot label of one of these names
// would make a duplicate label (Prometheus rejects the whole scrape), so it is dropped.
constexpr std::string_view kSeriesLabelNames[] = {
    "target",    "step",    "reason",    "hostname", "software", "version",
    "extension", "tls",     "mechanism", "cipher",   "subject",  "issuer",
    "serial",    "variant", "result",    "verdict",  "le",       "quantile",
};
// The other names the exporter sets or relies on: "module" (two modules may probe one address,
// and only this label would tell their series apart), the labels target expansion adds to a
// snapshot (domain for mx: targets, ip for ip_protocol both), and those Prometheus owns.
constexpr std::string_view kOtherOwnLabelNames[] = {"module", "domain", "ip", "job", "instance"};

template <std::size_t N>
bool OneOf(std::string_view name, const std::string_view (&names)[N]) {
  return std::find(std::begin(names), std::end(names), name) != std::end(names);
}

bool IsLabelName(std::string_view name) {
  const auto is_alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  return !name.empty() && (is_alpha(name[0]) || name[0] == '_') &&
         std::all_of(name.begin(), name.end(),
                     [&](char c) { return is_alpha(c) || (c >= '0' && c <= '9') || c == '_'; });
}

// Dividing (rather than multiplying by 1e-9, as duration<double> does) gives the double nearest
// to the exact value, which the writer prints in its shortest round-trip form: 9 ms is 0.009.
double Seconds(std::chrono::nanoseconds d) { return static_cast<double>(d.count()) / 1e9; }

std::string_view BoolLabel(bool b) { return b ? "true" : "false"; }

// What a label value needs: sanitizing (bytes outside printable ASCII 0x20-0x7E, which includes
// newlines), escaping (a backslash or a double quote). Every label value of a scrape goes through
// here, so it looks at 8 bytes at a time: in `(x - 0x20..) & ~x` the high bit of a byte is set for
// bytes below 0x20, in `(x + 0x01..) | x` for bytes above 0x7E, and in the first form applied to
// `x ^ c..` for bytes equal to c (carries and borrows only flow out of bytes already flagged).
struct ValueScan {
  bool plain_ascii;
  bool needs_escape;
};

ValueScan ScanValue(std::string_view s) {
  constexpr std::uint64_t kOnes = 0x0101010101010101, kHigh = 0x8080808080808080;
  const auto zero_byte = [](std::uint64_t x) { return (x - kOnes) & ~x & kHigh; };
  std::uint64_t unusual = 0, special = 0;
  std::size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    std::uint64_t x;
    std::memcpy(&x, s.data() + i, 8);
    unusual |= (((x - 0x20 * kOnes) & ~x) | ((x + kOnes) | x)) & kHigh;
    special |= zero_byte(x ^ ('\\' * kOnes)) | zero_byte(x ^ ('"' * kOnes));
  }
  for (; i < s.size(); ++i) {
    const char c = s[i];
    unusual |= static_cast<unsigned char>(c - 0x20) >= 0x5F;
    special |= (c == '\\') | (c == '"');
  }
  return {unusual == 0, special != 0};
}

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

// ---- Exposition text (format 0.0.4) -------------------------------------------------------------
//
// Written through raw pointers into space reserved for the worst case (label values escaped to
// twice their size, numbers of at most kNumberBufferSize characters): a scrape of 10,000 targets
// is ~800,000 lines, and per-token std::string::append calls were a measurable share of it.

// Longest FormatDouble() output: "-2.2250738585072014e-308" is 24 characters.
constexpr std::size_t kNumberBufferSize = 32;

// Writes `value` the way Prometheus' text format spells it and returns the end: NaN, +Inf, -Inf;
// integers of magnitude up to 2^53 as integers (timestamps, byte counts and reply codes stay
// readable, and every such integer is exact); anything else in its shortest round-trip form
// (std::to_chars: no locale, parses back to the same double), so 9 ms is 0.009 where
// prometheus::TextSerializer's 16 significant digits gave 0.008999999999999999.
char* FormatDouble(char* first, double value) {
  if (std::isnan(value)) return std::copy_n("NaN", 3, first);
  if (std::isinf(value)) return std::copy_n(value > 0 ? "+Inf" : "-Inf", 4, first);
  constexpr double kExactIntegers = 9007199254740992.0;  // 2^53
  if (std::abs(value) <= kExactIntegers && value == std::trunc(value)) {
    if (value == 0 && std::signbit(value)) return std::copy_n("-0", 2, first);
    return std::to_chars(first, first + kNumberBufferSize, static_cast<std::int64_t>(value)).ptr;
  }
  return std::to_chars(first, first + kNumberBufferSize, value).ptr;
}

// A formatted sample value or `le`/`quantile` label value, valid while the object lives.
class Number {
 public:
  explicit Number(double value) : end_(FormatDouble(buffer_, value)) {}
  explicit Number(std::uint64_t value)
      : end_(std::to_chars(buffer_, buffer_ + kNumberBufferSize, value).ptr) {}
  explicit Number(std::int64_t value)
      : end_(std::to_chars(buffer_, buffer_ + kNumberBufferSize, value).ptr) {}
  Number(const Number&) = delete;
  Number& operator=(const Number&) = delete;

  std::string_view view() const {
    return std::string_view(buffer_, static_cast<std::size_t>(end_ - buffer_));
  }

 private:
  char buffer_[kNumberBufferSize];
  char* end_;
};

// Most pieces are a few bytes long: copied inline with two overlapping fixed-size moves rather
// than through a call to memcpy.
char* Put(char* out, std::string_view text) {
  const char* const in = text.data();
  const std::size_t n = text.size();
  if (n >= 8 && n <= 16) {
    std::uint64_t head, tail;
    std::memcpy(&head, in, 8);
    std::memcpy(&tail, in + n - 8, 8);
    std::memcpy(out, &head, 8);
    std::memcpy(out + n - 8, &tail, 8);
  } else if (n >= 4 && n < 8) {
    std::uint32_t head, tail;
    std::memcpy(&head, in, 4);
    std::memcpy(&tail, in + n - 4, 4);
    std::memcpy(out, &head, 4);
    std::memcpy(out + n - 4, &tail, 4);
  } else if (n > 0 && n < 4) {
    out[0] = in[0];
    out[n / 2] = in[n / 2];
    out[n - 1] = in[n - 1];
  } else if (n > 16) {
    std::memcpy(out, in, n);
  }
  return out + n;
}

// `text` with backslashes and newlines escaped, and double quotes too when `quoted` (a label
// value; HELP text escapes only the first two). Writes at most 2 * text.size() bytes.
char* PutEscaped(char* out, std::string_view text, bool quoted) {
  for (const char c : text) {
    if (c == '\\' || c == '\n' || (c == '"' && quoted)) {
      *out++ = '\\';
      *out++ = c == '\n' ? 'n' : c;
    } else {
      *out++ = c;
    }
  }
  return out;
}

// Appends through Put*: `write` gets room for `bound` bytes and returns its end.
template <class Write>
void AppendBounded(std::string& out, std::size_t bound, Write write) {
  const std::size_t at = out.size();
  out.resize(at + bound);
  char* const end = write(out.data() + at);
  out.resize(static_cast<std::size_t>(end - out.data()));
}

std::string_view TypeName(MetricType type) {
  switch (type) {
    case MetricType::Counter:
      return "counter";
    case MetricType::Gauge:
      return "gauge";
    case MetricType::Summary:
      return "summary";
    case MetricType::Histogram:
      return "histogram";
    case MetricType::Untyped:
      break;
  }
  return "untyped";
}

void AppendFamilyHeader(std::string& out, std::string_view name, std::string_view help,
                        MetricType type) {
  AppendBounded(out, 2 * name.size() + 2 * help.size() + 32, [&](char* p) {
    p = Put(p, "# HELP ");
    p = Put(p, name);
    *p++ = ' ';
    p = PutEscaped(p, help, false);
    p = Put(p, "\n# TYPE ");
    p = Put(p, name);
    *p++ = ' ';
    p = Put(p, TypeName(type));
    *p++ = '\n';
    return p;
  });
}

// A label whose value is final (sanitized); the strings live in the snapshots, in static storage
// or in a LabelArena. Ordered by name, then value, like prometheus::ClientMetric::Label.
struct LabelView {
  std::string_view name;
  std::string_view value;
  bool plain = false;  // `value` has nothing to escape (no backslash, quote or newline)

  friend bool operator==(const LabelView& a, const LabelView& b) {
    return a.name == b.name && a.value == b.value;
  }
  friend bool operator<(const LabelView& a, const LabelView& b) {
    const int names = a.name.compare(b.name);
    return names != 0 ? names < 0 : a.value < b.value;
  }
};

std::size_t LabelsBound(std::span<const LabelView> labels) {
  std::size_t bound = 0;
  for (const LabelView& label : labels) bound += label.name.size() + 2 * label.value.size() + 4;
  return bound;
}

// `labels` as `name="value",...` (no braces).
char* PutLabels(char* out, std::span<const LabelView> labels, bool leading_comma) {
  for (const LabelView& label : labels) {
    if (leading_comma) *out++ = ',';
    leading_comma = true;
    out = Put(out, label.name);
    *out++ = '=';
    *out++ = '"';
    out = label.plain ? Put(out, label.value) : PutEscaped(out, label.value, true);
    *out++ = '"';
  }
  return out;
}

// One exposition line is  name suffix {base,own...,extra="..."} value[ timestamp]\n  where the
// braces appear only when there is a label. `base` (the target's labels) is common to every
// series of a target and is written by the caller; LineRest is what follows it.
struct LineRest {
  std::span<const LabelView> own;
  std::string_view extra_name;   // "le" or "quantile", or empty
  std::string_view extra_value;  // a formatted number: needs no escaping
  std::string_view value;        // a formatted number
  std::int64_t timestamp_ms = 0;

  bool Braces(bool has_base) const { return has_base || !own.empty() || !extra_name.empty(); }

  std::size_t Bound() const {
    return LabelsBound(own) + extra_name.size() + extra_value.size() + value.size() +
           kNumberBufferSize + 8;
  }

  char* Write(char* out, bool has_base) const {
    out = PutLabels(out, own, has_base);
    if (!extra_name.empty()) {
      if (has_base || !own.empty()) *out++ = ',';
      out = Put(out, extra_name);
      *out++ = '=';
      *out++ = '"';
      out = Put(out, extra_value);
      *out++ = '"';
    }
    if (Braces(has_base)) *out++ = '}';
    *out++ = ' ';
    out = Put(out, value);
    if (timestamp_ms != 0) {
      *out++ = ' ';
      out = Put(out, Number(timestamp_ms).view());
    }
    *out++ = '\n';
    return out;
  }
};

// Keeps the label values that SanitizeLabelValue() had to change. The usual value is plain ASCII
// and short, and is used in place, without a copy.
class LabelArena {
 public:
  // {name, SanitizeLabelValue(value)}, noting whether the value needs escaping.
  LabelView Sanitize(std::string_view name, std::string_view value) {
    const ValueScan scan = ScanValue(value);
    if (scan.plain_ascii && value.size() <= kMaxLabelValueBytes) {
      return {name, value, !scan.needs_escape};
    }
    const std::string& owned = owned_.emplace_back(SanitizeLabelValue(value));
    return {name, owned, owned.find_first_of("\\\"\n") == std::string::npos};
  }
  void Clear() {
    if (!owned_.empty()) owned_.clear();
  }

 private:
  std::deque<std::string> owned_;  // a deque never moves its elements: views stay valid
};

// The series of one target share its base labels: `target` (unless omitted) and the configured
// labels, sorted by name (std::map), invalid or reserved names dropped.
struct Group {
  const TargetSnapshot* snapshot = nullptr;
  std::vector<LabelView> base;
  std::string_view text;  // `base` as exposition text (for the text path): target="mx1:25",...
};

// The targets ordered by their base labels, so that a duplicate label set is detected and dropped
// as a whole (keeping the first), rather than mixing the series of two targets.
std::vector<Group> OrderedGroups(const std::vector<TargetSnapshot>& targets,
                                 bool include_target_label, LabelArena& arena) {
  std::vector<Group> groups;
  groups.reserve(targets.size());
  for (const TargetSnapshot& snapshot : targets) {
    Group& group = groups.emplace_back();
    group.snapshot = &snapshot;
    group.base.reserve(snapshot.labels.size() + 1);
    if (include_target_label) group.base.push_back(arena.Sanitize("target", snapshot.target));
    for (const auto& [name, value] : snapshot.labels) {
      if (!IsLabelName(name) || name.starts_with("__") || OneOf(name, kSeriesLabelNames)) continue;
      group.base.push_back(arena.Sanitize(name, value));
    }
  }
  std::stable_sort(groups.begin(), groups.end(),
                   [](const Group& a, const Group& b) { return a.base < b.base; });
  groups.erase(std::unique(groups.begin(), groups.end(),
                           [](const Group& a, const Group& b) { return a.base == b.base; }),
               groups.end());
  return groups;
}

// Renders every group's base labels into `storage`, in group order, and points Group::text at it.
void RenderBaseTexts(std::vector<Group>& groups, std::string& storage) {
  std::vector<std::size_t> ends;
  ends.reserve(groups.size());
  for (const Group& group : groups) {
    AppendBounded(storage, LabelsBound(group.base),
                  [&](char* p) { return PutLabels(p, group.base, false); });
    ends.push_back(storage.size());
  }
  std::size_t begin = 0;
  for (std::size_t i = 0; i < groups.size(); ++i) {
    groups[i].text = std::string_view(storage).substr(begin, ends[i] - begin);
    begin = ends[i];
  }
}

// The first 8 bytes of `text`, big-endian, zero-padded: where the keys of two texts differ, they
// order them as string comparison does (unsigned bytes); equal keys decide nothing. Sorting by key
// first spares most calls to memcmp.
std::uint64_t Prefix(std::string_view text) {
  std::uint64_t key = 0;
  const std::size_t n = std::min<std::size_t>(text.size(), 8);
  for (std::size_t i = 0; i < n; ++i) {
    key |= std::uint64_t{static_cast<unsigned char>(text[i])} << (56 - 8 * i);
  }
  return key;
}

constexpr std::size_t kMaxOwnLabels = 3;  // smtp_greeting_info, smtp_tls_cert_info, build_info

// The series of one family for one group, added in any order and handed to the sink ordered by
// their own labels; of two with the same labels, the first one added is kept. Every series of a
// group starts with the same base and groups arrive in order, so this orders the whole family
// with many tiny sorts instead of one big one.
class SeriesCollector {
 public:
  // A label of a series and its raw value. Values that come from the network are sanitized;
  // `is_static` marks this file's own constants (step names, "true", outcomes, ...), plain ASCII
  // by construction, which skip that.
  struct Own {
    std::string_view name;
    std::string_view value;
    bool is_static = false;
  };

  // At most kMaxOwnLabels labels (more would be a programming error and are dropped).
  void Add(double value, std::initializer_list<Own> own = {}) {
    if (count_ == pending_.size()) pending_.emplace_back();
    Pending& pending = pending_[count_++];
    pending.size = 0;
    pending.value = value;
    for (const Own& label : own) {
      if (pending.size == kMaxOwnLabels) break;
      pending.labels[pending.size++] = label.is_static ? LabelView{label.name, label.value, true}
                                                       : arena_.Sanitize(label.name, label.value);
    }
    pending.key = pending.size == 0 ? 0 : Prefix(pending.labels[0].value);
  }

  template <class Sink>
  void FlushTo(Sink& sink) {
    if (count_ == 1) {
      sink.Sample(pending_[0].value, pending_[0].Labels());
    } else if (count_ > 1) {
      // Insertion sort of indices: stable, allocation-free once warm, and quick on these short,
      // mostly sorted lists; most comparisons are decided by the 8-byte prefix key.
      order_.resize(count_);
      for (std::size_t i = 0; i < order_.size(); ++i) {
        std::size_t j = i;
        while (j > 0 && Less(pending_[i], pending_[order_[j - 1]])) {
          order_[j] = order_[j - 1];
          --j;
        }
        order_[j] = static_cast<std::uint32_t>(i);
      }
      const Pending* previous = nullptr;
      for (std::uint32_t i : order_) {
        const Pending& pending = pending_[i];
        if (previous != nullptr && Equal(*previous, pending)) continue;  // keep the first
        sink.Sample(pending.value, pending.Labels());
        previous = &pending;
      }
    }
    count_ = 0;
    arena_.Clear();
  }

 private:
  struct Pending {
    std::array<LabelView, kMaxOwnLabels> labels;
    std::size_t size = 0;
    std::uint64_t key = 0;  // Prefix() of the first label's value
    double value = 0;
    std::span<const LabelView> Labels() const { return {labels.data(), size}; }
  };

  static bool SameText(std::string_view a, std::string_view b) {
    return a.size() == b.size() && (a.data() == b.data() || a == b);
  }

  static bool Less(const Pending& a, const Pending& b) {
    if (a.key != b.key && a.size > 0 && b.size > 0 &&
        SameText(a.labels[0].name, b.labels[0].name)) {
      return a.key < b.key;
    }
    const auto x = a.Labels(), y = b.Labels();
    return std::lexicographical_compare(x.begin(), x.end(), y.begin(), y.end());
  }

  static bool Equal(const Pending& a, const Pending& b) {
    if (a.size != b.size || a.key != b.key) return false;
    for (std::size_t i = 0; i < a.size; ++i) {
      if (!SameText(a.labels[i].name, b.labels[i].name) ||
          !SameText(a.labels[i].value, b.labels[i].value)) {
        return false;
      }
    }
    return true;
  }

  std::vector<Pending> pending_;  // the first count_ are this flush's; the rest are kept for reuse
  std::size_t count_ = 0;
  std::vector<std::uint32_t> order_;
  LabelArena arena_;
};

// ---- Sinks: where the series go -----------------------------------------------------------------
//
// The emitters below decide which series exist and hand them to a sink, target by target and,
// within a target, family by family: Select(family), then Sample/Histogram.
//   * FamilySink builds prometheus::MetricFamily objects (BuildProbeFamilies, BuildSelfFamilies).
//   * FragmentSink is the first pass of the text path (RenderProbeMetrics).

class FamilySink {
 public:
  explicit FamilySink(std::span<const FamilyDef> defs) {
    families_.reserve(defs.size());
    for (const FamilyDef& def : defs) {
      families_.push_back(MetricFamily{def.name, def.help, def.type, {}});
    }
  }

  void BeginGroup(std::size_t /*index*/, const Group& group) { base_ = &group.base; }
  void Select(std::size_t family) { family_ = &families_[family]; }

  void Sample(double value, std::span<const LabelView> own) {
    ClientMetric& metric = NewMetric(own);
    switch (family_->type) {
      case MetricType::Counter:
        metric.counter.value = value;
        break;
      case MetricType::Untyped:
        metric.untyped.value = value;
        break;
      default:
        metric.gauge.value = value;
        break;
    }
  }

  void Histogram(const Histogram& h) {
    ClientMetric& metric = NewMetric({});
    metric.histogram.sample_count = h.count();
    metric.histogram.sample_sum = h.sum();
    metric.histogram.bucket.reserve(h.bounds().size());
    for (std::size_t i = 0; i < h.bounds().size(); ++i) {
      metric.histogram.bucket.push_back(
          ClientMetric::Bucket{h.cumulative_counts()[i], h.bounds()[i]});
    }
  }

  // The families in definition order, without those that got no series.
  std::vector<MetricFamily> Finish() && {
    std::erase_if(families_, [](const MetricFamily& f) { return f.metric.empty(); });
    return std::move(families_);
  }

 private:
  ClientMetric& NewMetric(std::span<const LabelView> own) {
    ClientMetric& metric = family_->metric.emplace_back();
    metric.label.reserve(base_->size() + own.size());
    for (const LabelView& label : *base_) {
      metric.label.push_back(Label{std::string(label.name), std::string(label.value)});
    }
    for (const LabelView& label : own) {
      metric.label.push_back(Label{std::string(label.name), std::string(label.value)});
    }
    return metric;
  }

  std::vector<MetricFamily> families_;
  MetricFamily* family_ = nullptr;
  const std::vector<LabelView>* base_ = nullptr;
};

// A growable byte buffer written through a raw pointer; unlike std::string, growing it does not
// zero-fill.
class ByteBuffer {
 public:
  // Room for `n` more bytes at the returned pointer; Commit() the end of what was written.
  char* Reserve(std::size_t n) {
    if (capacity_ - size_ < n) {
      const std::size_t capacity = std::max({capacity_ * 2, size_ + n, std::size_t{64 * 1024}});
      auto data = std::make_unique_for_overwrite<char[]>(capacity);
      if (size_ != 0) std::memcpy(data.get(), data_.get(), size_);
      data_ = std::move(data);
      capacity_ = capacity;
    }
    return data_.get() + size_;
  }
  void Commit(const char* end) { size_ = static_cast<std::size_t>(end - data_.get()); }

  const char* data() const { return data_.get(); }
  std::size_t size() const { return size_; }

 private:
  std::unique_ptr<char[]> data_;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

// The text path in two passes, because the exposition is ordered family by family while the data
// is laid out target by target:
//   1. target by target (each target's scattered heap data is read once, while it is in cache),
//      FragmentSink appends to one buffer per family what each line has beyond its metric name
//      and its target's base labels (own labels, value, newline: about a third of the text), and
//      counts the exact size of the final text;
//   2. family by family, WriteText() streams through each buffer and writes the final text into
//      a string of exactly that size, adding names and base labels (one contiguous string of all
//      base texts, read in order).
// A first version made one family-major pass instead: 24 passes over ~50 MB of scattered heap
// data, mostly cache misses, so that 10,000 targets took 20 times as long as 1,000.
class FragmentSink {
 public:
  struct Header {
    std::uint32_t group;
    std::uint16_t size;   // bytes of LineRest text after the header
    std::uint8_t suffix;  // index into kSuffixes
    std::uint8_t braces;  // 1 = the line has a label set: write '{' and the base labels
  };
  // The longest line rest: kMaxOwnLabels labels of kMaxLabelValueBytes, escaped, and a number.
  static_assert(kMaxOwnLabels * (2 * kMaxLabelValueBytes + 64) + 128 < 65536,
                "Header::size is 16 bits");
  static constexpr std::string_view kSuffixes[] = {"", "_count", "_sum", "_bucket"};
  enum Suffix : std::uint8_t { kNone, kCount, kSum, kBucket };

  FragmentSink(std::span<const FamilyDef> defs, const std::vector<Group>& groups)
      : defs_(defs), groups_(groups), buffers_(defs.size()), text_bytes_(defs.size(), 0) {
    for (const FamilyDef& def : defs) name_sizes_.push_back(std::strlen(def.name));
  }

  void BeginGroup(std::size_t index, const Group& group) {
    group_ = static_cast<std::uint32_t>(index);
    has_base_ = !group.base.empty();
    base_bytes_ = 1 + group.text.size();  // '{' and the base labels
  }
  void Select(std::size_t family) {
    family_ = family;
    name_bytes_ = name_sizes_[family];
  }

  void Sample(double value, std::span<const LabelView> own) {
    Fragment(kNone, LineRest{own, {}, {}, Number(value).view()});
  }

  void Histogram(const Histogram& h) {
    Fragment(kCount, LineRest{{}, {}, {}, Number(h.count()).view()});
    Fragment(kSum, LineRest{{}, {}, {}, Number(h.sum()).view()});
    // Every target has the same bounds, as a rule: format them once, not once per target.
    if (h.bounds() != le_bounds_) {
      le_bounds_ = h.bounds();
      le_texts_.clear();
      for (double bound : le_bounds_) le_texts_.emplace_back(Number(bound).view());
    }
    for (std::size_t i = 0; i < le_texts_.size(); ++i) {
      Fragment(kBucket, LineRest{{}, "le", le_texts_[i], Number(h.cumulative_counts()[i]).view()});
    }
    Fragment(kBucket, LineRest{{}, "le", "+Inf", Number(h.count()).view()});
  }

  // The size of WriteText()'s text: known from pass 1, so that the caller allocates it once.
  std::size_t TextSize() const {
    std::size_t size = 0;
    for (std::size_t f = 0; f < defs_.size(); ++f) {
      if (buffers_[f].size() == 0) continue;
      size += 2 * name_sizes_[f] + 2 * std::strlen(defs_[f].help) + 32 + text_bytes_[f];
    }
    return size;
  }

  // Pass 2: appends the families that got series, in order.
  void WriteText(std::string& out) const {
    for (std::size_t f = 0; f < defs_.size(); ++f) {
      const ByteBuffer& buffer = buffers_[f];
      if (buffer.size() == 0) continue;  // no lone HELP/TYPE lines
      AppendFamilyHeader(out, defs_[f].name, defs_[f].help, defs_[f].type);
      // Every line starts with one of these: name, suffix, and '{' when it has labels.
      std::string starts[std::size(kSuffixes)][2];
      for (std::size_t i = 0; i < std::size(kSuffixes); ++i) {
        starts[i][0] = std::string(defs_[f].name).append(kSuffixes[i]);
        starts[i][1] = starts[i][0] + '{';
      }
      for (const char* at = buffer.data(); at != buffer.data() + buffer.size();) {
        Header header;
        std::memcpy(&header, at, sizeof(header));
        at += sizeof(header);
        out.append(starts[header.suffix][header.braces]);
        if (header.braces) out.append(groups_[header.group].text);
        out.append(at, header.size);
        at += header.size;
      }
    }
  }

 private:
  void Fragment(Suffix suffix, const LineRest& rest) {
    ByteBuffer& buffer = buffers_[family_];
    char* const at = buffer.Reserve(sizeof(Header) + rest.Bound());
    char* const end = rest.Write(at + sizeof(Header), has_base_);
    const Header header{group_, static_cast<std::uint16_t>(end - at - sizeof(Header)), suffix,
                        static_cast<std::uint8_t>(rest.Braces(has_base_))};
    std::memcpy(at, &header, sizeof(header));
    buffer.Commit(end);
    text_bytes_[family_] +=
        name_bytes_ + kSuffixes[suffix].size() + (header.braces ? base_bytes_ : 0) + header.size;
  }

  std::span<const FamilyDef> defs_;
  const std::vector<Group>& groups_;
  std::vector<ByteBuffer> buffers_;      // per family
  std::vector<double> le_bounds_;        // the histogram bounds last formatted ...
  std::vector<std::string> le_texts_;    // ... and their text
  std::vector<std::size_t> text_bytes_;  // per family: its lines in the final text
  std::vector<std::size_t> name_sizes_;  // per family
  std::size_t family_ = 0;
  std::size_t name_bytes_ = 0;
  std::uint32_t group_ = 0;
  bool has_base_ = false;
  std::size_t base_bytes_ = 0;
};

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
       set.Of(caps.extensions, [](const Extension& e) -> std::string_view { return e.keyword; })) {
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

// The series of `family` (any but kGreetingHistogram) for one target.
void CollectProbeSeries(ProbeFamily family, const TargetSnapshot& s, const ReportedRelay& relay,
                        SeriesCollector& c, BoundedSortedSet& scratch) {
  switch (family) {
    case kRelayOpen:
      if (relay.result) c.Add(relay.judgement.verdict == RelayVerdict::kOpen ? 1 : 0);
      return;
    case kRelayVerdict:
      if (relay.result) {
        for (RelayVerdict verdict :
             {RelayVerdict::kClosed, RelayVerdict::kInconclusive, RelayVerdict::kOpen}) {
          c.Add(relay.judgement.verdict == verdict ? 1 : 0, {{"verdict", ToString(verdict), true}});
        }
      }
      return;
    case kRelayTestResult:
      if (relay.result) {
        for (const RelayAttempt& attempt : relay.result->attempts) {
          c.Add(1, {{"variant", attempt.variant}, {"result", ToString(attempt.outcome), true}});
        }
      }
      return;
    case kRcptCatchAll:
      if (relay.judgement.catch_all) c.Add(*relay.judgement.catch_all ? 1 : 0);
      return;
    case kRelayLastRun:
      if (relay.result && relay.ran_at) c.Add(UnixSeconds(*relay.ran_at));
      return;
    case kMxRecords:
      if (s.mx_records) c.Add(*s.mx_records);
      return;
    default:
      break;
  }

  // Everything else is a fact of the latest probe.
  if (!s.last) return;
  const ProbeResult& r = *s.last;
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
    case kTlsVersionInfo:
      if (r.tls && r.tls->handshake_ok && !r.tls->version.empty()) {
        c.Add(1, {{"version", r.tls->version}});
      }
      break;
    case kTlsCipherInfo:
      if (r.tls && r.tls->handshake_ok && !r.tls->cipher.empty()) {
        c.Add(1, {{"cipher", r.tls->cipher}});
      }
      break;
    // Certificate facts are known whenever a certificate was presented, even if the handshake
    // failed afterwards; verification is evaluated whenever the handshake completed.
    case kCertNotAfter:
      if (r.tls && r.tls->earliest_not_after != 0) {
        c.Add(static_cast<double>(r.tls->earliest_not_after));
      }
      break;
    case kCertVerified:
      if (r.tls && (r.tls->handshake_ok || !r.tls->chain.empty())) {
        c.Add(r.tls->verified() ? 1 : 0);
      }
      break;
    case kCertInfo:
      if (r.tls && !r.tls->chain.empty()) {
        const CertificateInfo& leaf = r.tls->chain.front();
        c.Add(1, {{"subject", leaf.subject}, {"issuer", leaf.issuer}, {"serial", leaf.serial}});
      }
      break;
    case kLastRun:
      c.Add(UnixSeconds(r.started_at));
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
  for (const std::optional<Capabilities>* caps : {&r->capabilities, &r->tls_capabilities}) {
    if (*caps) {
      PrefetchVector((*caps)->extensions);
      PrefetchVector((*caps)->auth_mechanisms);
    }
  }
  if (r->tls) PrefetchVector(r->tls->chain);
  PrefetchVector(r->relay.attempts);
}

template <class Sink>
void EmitProbeFamilies(Sink& sink, const std::vector<Group>& groups) {
  SeriesCollector collector;
  BoundedSortedSet scratch;
  constexpr std::size_t kAhead = 4;  // targets between prefetch stages
  for (std::size_t g = 0; g < groups.size(); ++g) {
    if (g + 3 * kAhead < groups.size()) {
      PrefetchLines(groups[g + 3 * kAhead].snapshot, sizeof(TargetSnapshot));
    }
    if (g + 2 * kAhead < groups.size()) PrefetchSnapshotTargets(*groups[g + 2 * kAhead].snapshot);
    if (g + kAhead < groups.size()) PrefetchResultTargets(*groups[g + kAhead].snapshot);
    sink.BeginGroup(g, groups[g]);
    const TargetSnapshot& s = *groups[g].snapshot;
    const ReportedRelay relay = ReportedRelayOf(s);
    for (std::size_t f = 0; f < kProbeFamilyCount; ++f) {
      sink.Select(f);
      const auto family = static_cast<ProbeFamily>(f);
      if (family == kGreetingHistogram) {
        // Exported once the target was probed (an empty history then says "no greeting yet").
        if (s.greeting_histogram && (s.last || s.greeting_histogram->count() > 0)) {
          sink.Histogram(*s.greeting_histogram);
        }
        continue;
      }
      CollectProbeSeries(family, s, relay, collector, scratch);
      collector.FlushTo(sink);
    }
  }
}

enum SelfFamily : std::size_t {
  kBuildInfo,
  kProbesTotal,
  kReloadSuccessful,
  kReloadSuccessTimestamp,
  kInFlight,
  kSchedulerLag,
  kSelfFamilyCount,
};

constexpr FamilyDef kSelfFamilyDefs[kSelfFamilyCount] = {
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
    {"smtp_exporter_scheduler_lag_seconds", MetricType::Histogram,
     "How late scheduled probes started against their planned time, in seconds."},
};

// The self families form one group without base labels: `groups` must hold just that group.
template <class Sink>
void EmitSelfFamilies(Sink& sink, const SelfMetrics& self, const std::vector<Group>& groups) {
  const std::string compiler = self.compiler.empty() ? CompilerDescription() : self.compiler;
  std::map<std::string, std::uint64_t> totals = self.probes_total_by_result;
  totals.try_emplace("success", 0);
  for (FailureReason reason : kFailureReasons) totals.try_emplace(ToString(reason), 0);

  SeriesCollector c;
  sink.BeginGroup(0, groups.front());
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

std::vector<prometheus::MetricFamily> BuildProbeFamilies(const std::vector<TargetSnapshot>& targets,
                                                         bool include_target_label) {
  LabelArena arena;
  const std::vector<Group> groups = OrderedGroups(targets, include_target_label, arena);
  FamilySink sink(kProbeFamilyDefs);
  EmitProbeFamilies(sink, groups);
  return std::move(sink).Finish();
}

std::vector<prometheus::MetricFamily> BuildSelfFamilies(const SelfMetrics& self) {
  const std::vector<Group> no_labels(1);
  FamilySink sink(kSelfFamilyDefs);
  EmitSelfFamilies(sink, self, no_labels);
  return std::move(sink).Finish();
}

std::string RenderProbeMetrics(const std::vector<TargetSnapshot>& targets,
                               bool include_target_label, const SelfMetrics* self) {
  LabelArena arena;
  std::vector<Group> groups = OrderedGroups(targets, include_target_label, arena);
  std::string base_texts;
  RenderBaseTexts(groups, base_texts);

  FragmentSink probe_sink(kProbeFamilyDefs, groups);
  EmitProbeFamilies(probe_sink, groups);
  const std::vector<Group> no_labels(1);
  FragmentSink self_sink(kSelfFamilyDefs, no_labels);
  if (self != nullptr) EmitSelfFamilies(self_sink, *self, no_labels);

  std::string out;
  out.reserve(probe_sink.TextSize() + self_sink.TextSize());
  probe_sink.WriteText(out);
  self_sink.WriteText(out);
  return out;
}

std::string RenderText(const std::vector<prometheus::MetricFamily>& families) {
  std::string out;
  std::vector<LabelView> labels;
  // name suffix{labels...} value: the whole line, the metric's labels being all "own".
  const auto line = [&out, &labels](std::string_view name, std::string_view suffix, LineRest rest) {
    rest.own = labels;
    AppendBounded(out, name.size() + suffix.size() + 1 + rest.Bound(), [&](char* p) {
      p = Put(p, name);
      p = Put(p, suffix);
      if (rest.Braces(false)) *p++ = '{';
      return rest.Write(p, false);
    });
  };
  for (const MetricFamily& family : families) {
    AppendFamilyHeader(out, family.name, family.help, family.type);
    for (const ClientMetric& metric : family.metric) {
      labels.clear();
      for (const Label& label : metric.label) labels.push_back(LabelView{label.name, label.value});
      const std::int64_t ts = metric.timestamp_ms;
      switch (family.type) {
        case MetricType::Counter:
          line(family.name, {}, {{}, {}, {}, Number(metric.counter.value).view(), ts});
          break;
        case MetricType::Gauge:
          line(family.name, {}, {{}, {}, {}, Number(metric.gauge.value).view(), ts});
          break;
        case MetricType::Untyped:
          line(family.name, {}, {{}, {}, {}, Number(metric.untyped.value).view(), ts});
          break;
        case MetricType::Summary: {
          const ClientMetric::Summary& s = metric.summary;
          line(family.name, "_count", {{}, {}, {}, Number(s.sample_count).view(), ts});
          line(family.name, "_sum", {{}, {}, {}, Number(s.sample_sum).view(), ts});
          for (const ClientMetric::Quantile& q : s.quantile) {
            line(family.name, {},
                 {{}, "quantile", Number(q.quantile).view(), Number(q.value).view(), ts});
          }
          break;
        }
        case MetricType::Histogram: {
          const ClientMetric::Histogram& h = metric.histogram;
          line(family.name, "_count", {{}, {}, {}, Number(h.sample_count).view(), ts});
          line(family.name, "_sum", {{}, {}, {}, Number(h.sample_sum).view(), ts});
          double last = -std::numeric_limits<double>::infinity();
          for (const ClientMetric::Bucket& b : h.bucket) {
            line(family.name, "_bucket",
                 {{}, "le", Number(b.upper_bound).view(), Number(b.cumulative_count).view(), ts});
            last = b.upper_bound;
          }
          if (last != std::numeric_limits<double>::infinity()) {
            line(family.name, "_bucket", {{}, "le", "+Inf", Number(h.sample_count).view(), ts});
          }
          break;
        }
      }
    }
  }
  return out;
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
  if (!IsLabelName(name)) {
    return "invalid label name \"" + SanitizeLabelValue(name) +
           "\" (must match [a-zA-Z_][a-zA-Z0-9_]*)";
  }
  if (name.starts_with("__")) return "label names starting with \"__\" are reserved";
  if (OneOf(name, kSeriesLabelNames) || OneOf(name, kOtherOwnLabelNames)) {
    return "label name \"" + std::string(name) + "\" is reserved for the exporter's own labels";
  }
  return std::nullopt;
}

std::string SanitizeLabelValue(std::string_view value) {
  return ValidUtf8Text(value, kMaxLabelValueBytes);
}

}  // namespace smtp

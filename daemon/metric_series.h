// How the metrics layer assembles series (internal to daemon/metrics*.cc): the base labels of
// each target, the order of the series and the rule that of two series with the same labels only
// the first is kept, and the sinks the series are handed to. What the series are is metrics.cc's
// business; how a sink writes them is the sink's.
#pragma once

#include <prometheus/metric_family.h>

#include <algorithm>
#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/exposition.h"
#include "daemon/histogram.h"
#include "daemon/metrics.h"
#include "daemon/target_state.h"

namespace smtp::metrics_internal {

using exposition::LabelView;

// Where series go. The emitters hand a sink the series target by target (a group: BeginGroup()
// with the base labels every series of the target starts with) and, within a target, family by
// family (Select() with an index into the family definitions), each family's series in order:
// Sample() for a value with the series' own labels, Histogram() for a histogram without own
// labels. Label strings are valid only during the call.
//   * FamilySink (below) builds prometheus::MetricFamily objects: BuildProbeFamilies().
//   * exposition::TextSink writes the text directly: RenderProbeMetrics().
template <class S>
concept SeriesSink = requires(S& sink, std::span<const LabelView> labels, std::size_t family,
                              double value, const Histogram& histogram) {
  sink.BeginGroup(labels);
  sink.Select(family);
  sink.Sample(value, labels);
  sink.Histogram(histogram);
};

// Keeps the label values that SanitizeLabelValue() had to change. The usual value is plain ASCII
// and short, and is used in place, without a copy.
class LabelArena {
 public:
  // {name, SanitizeLabelValue(value)}, noting whether the value needs escaping.
  LabelView Sanitize(std::string_view name, std::string_view value) {
    const exposition::LabelValueScan scan = exposition::ScanLabelValue(value);
    if (scan.printable_ascii && value.size() <= kMaxLabelValueBytes) {
      return {name, value, !scan.needs_escape};
    }
    const std::string& owned = owned_.emplace_back(SanitizeLabelValue(value));
    return {name, owned, !exposition::NeedsEscape(owned)};
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
};

// The targets ordered by their base labels, so that a duplicate label set is detected and dropped
// as a whole (keeping the first), rather than mixing the series of two targets. The labels point
// into `targets` and `arena`.
std::vector<Group> OrderedGroups(std::span<const TargetSnapshot* const> targets,
                                 bool include_target_label, LabelArena& arena);

// The first 8 bytes of `text`, big-endian, zero-padded: where the keys of two texts differ, they
// order them as string comparison does (unsigned bytes); equal keys decide nothing. Sorting by key
// first spares most calls to memcmp.
inline std::uint64_t Prefix(std::string_view text) {
  std::uint64_t key = 0;
  const std::size_t n = std::min<std::size_t>(text.size(), 8);
  for (std::size_t i = 0; i < n; ++i) {
    key |= std::uint64_t{static_cast<unsigned char>(text[i])} << (56 - 8 * i);
  }
  return key;
}

// smtp_greeting_info, smtp_tls_cert_info and smtp_exporter_build_info have three.
constexpr std::size_t kMaxOwnLabels = 3;
static_assert(kMaxOwnLabels <= exposition::TextSink::kMaxOwnLabels &&
              kMaxLabelValueBytes <= exposition::TextSink::kMaxValueBytes);

// The series of one family for one group, added in any order and handed to the sink ordered by
// their own labels; of two with the same labels, the first one added is kept. Every series of a
// group starts with the same base and groups arrive in order, so this orders the whole family
// with many tiny sorts instead of one big one.
class SeriesCollector {
 public:
  // A label of a series and its raw value. Values that come from the network are sanitized;
  // `is_static` marks the emitters' own constants (step names, "true", outcomes, ...), plain ASCII
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

  // Drops the collected series whose label `name` is not `value` (series without that label stay).
  void KeepOnly(std::string_view name, std::string_view value) {
    std::size_t kept = 0;
    for (std::size_t i = 0; i < count_; ++i) {
      const std::span<const LabelView> labels = pending_[i].Labels();
      const bool drop = std::any_of(labels.begin(), labels.end(), [&](const LabelView& label) {
        return label.name == name && label.value != value;
      });
      if (!drop) std::swap(pending_[kept++], pending_[i]);
    }
    count_ = kept;
  }

  template <SeriesSink Sink>
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

// Builds prometheus::MetricFamily objects, one per family definition, dropping those that got no
// series.
class FamilySink {
 public:
  explicit FamilySink(std::span<const exposition::FamilyDef> defs);

  void BeginGroup(std::span<const LabelView> base) { base_ = base; }
  void Select(std::size_t family) { family_ = &families_[family]; }
  void Sample(double value, std::span<const LabelView> own);
  void Histogram(const smtp::Histogram& h);

  // The families in definition order, without those that got no series.
  std::vector<prometheus::MetricFamily> Finish() &&;

 private:
  prometheus::ClientMetric& NewMetric(std::span<const LabelView> own);

  std::vector<prometheus::MetricFamily> families_;
  prometheus::MetricFamily* family_ = nullptr;
  std::span<const LabelView> base_;
};

}  // namespace smtp::metrics_internal

// Assembling series; see metric_series.h.
#include "daemon/metric_series.h"

#include <prometheus/client_metric.h>
#include <prometheus/metric_type.h>

#include "daemon/metric_families.h"

namespace smtp::metrics_internal {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

// The targets ordered by their base labels, so that a duplicate label set is detected and dropped
// as a whole (keeping the first), rather than mixing the series of two targets.
std::vector<Group> OrderedGroups(std::span<const TargetSnapshot* const> targets,
                                 bool include_target_label, LabelArena& arena) {
  std::vector<Group> groups;
  groups.reserve(targets.size());
  for (const TargetSnapshot* target : targets) {
    const TargetSnapshot& snapshot = *target;
    Group& group = groups.emplace_back();
    group.snapshot = &snapshot;
    group.base.reserve(snapshot.labels.size() + 1);
    if (include_target_label) group.base.push_back(arena.Sanitize("target", snapshot.target));
    for (const auto& [name, value] : snapshot.labels) {
      if (!IsLabelName(name) || name.starts_with("__") || IsSeriesLabelName(name)) continue;
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

FamilySink::FamilySink(std::span<const exposition::FamilyDef> defs) {
  families_.reserve(defs.size());
  for (const exposition::FamilyDef& def : defs) {
    families_.push_back(MetricFamily{def.name, def.help, def.type, {}});
  }
}

void FamilySink::Sample(double value, std::span<const LabelView> own) {
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

void FamilySink::Histogram(const smtp::Histogram& h) {
  ClientMetric& metric = NewMetric({});
  metric.histogram.sample_count = h.count();
  metric.histogram.sample_sum = h.sum();
  metric.histogram.bucket.reserve(h.bounds().size());
  for (std::size_t i = 0; i < h.bounds().size(); ++i) {
    metric.histogram.bucket.push_back(
        ClientMetric::Bucket{h.cumulative_counts()[i], h.bounds()[i]});
  }
}

std::vector<MetricFamily> FamilySink::Finish() && {
  std::erase_if(families_, [](const MetricFamily& f) { return f.metric.empty(); });
  return std::move(families_);
}

ClientMetric& FamilySink::NewMetric(std::span<const LabelView> own) {
  ClientMetric& metric = family_->metric.emplace_back();
  metric.label.reserve(base_.size() + own.size());
  for (const LabelView& label : base_) {
    metric.label.push_back(ClientMetric::Label{std::string(label.name), std::string(label.value)});
  }
  for (const LabelView& label : own) {
    metric.label.push_back(ClientMetric::Label{std::string(label.name), std::string(label.value)});
  }
  return metric;
}

}  // namespace smtp::metrics_internal

#include "daemon/histogram.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace smtp {

Histogram::Bounds Histogram::MakeBounds(std::vector<double> upper_bounds) {
  std::erase_if(upper_bounds, [](double b) { return std::isnan(b) || std::isinf(b); });
  std::sort(upper_bounds.begin(), upper_bounds.end());
  upper_bounds.erase(std::unique(upper_bounds.begin(), upper_bounds.end()), upper_bounds.end());
  return std::make_shared<const std::vector<double>>(std::move(upper_bounds));
}

Histogram::Histogram() : Histogram(std::vector<double>{}) {}

Histogram::Histogram(Bounds bounds)
    : bounds_(std::move(bounds)), cumulative_counts_(bounds_->size(), 0) {}

Histogram::Histogram(std::vector<double> upper_bounds)
    : Histogram(MakeBounds(std::move(upper_bounds))) {}

void Histogram::Observe(double seconds) {
  if (std::isnan(seconds)) return;
  seconds = std::max(seconds, 0.0);
  ++count_;
  sum_ += seconds;
  // Buckets are cumulative: the observation counts in every bucket whose bound is >= it.
  auto first = std::lower_bound(bounds_->begin(), bounds_->end(), seconds);
  for (auto i = static_cast<std::size_t>(first - bounds_->begin()); i < bounds_->size(); ++i) {
    ++cumulative_counts_[i];
  }
}

bool Histogram::Add(const Histogram& other) {
  if (bounds_ != other.bounds_ && *bounds_ != *other.bounds_) return false;
  for (std::size_t i = 0; i < cumulative_counts_.size(); ++i) {
    cumulative_counts_[i] += other.cumulative_counts_[i];
  }
  sum_ += other.sum_;
  count_ += other.count_;
  return true;
}

}  // namespace smtp

// A cumulative histogram of seconds, as Prometheus histograms count (buckets with upper bounds
// `le`, an implicit +Inf bucket equal to the count, and the sum). Plain data: the owner observes,
// the metrics layer renders; not thread-safe, guard it like the rest of the owner's state.
//
// The bounds are shared, not copied: every target's greeting histogram points at the same
// vector, so 100,000 targets hold one set of bounds.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

namespace smtp {

class Histogram {
 public:
  using Bounds = std::shared_ptr<const std::vector<double>>;

  // Upper bounds in seconds; sorted and de-duplicated here, NaN and +Inf dropped (the +Inf bucket
  // is implicit and equals count()).
  static Bounds MakeBounds(std::vector<double> upper_bounds);

  Histogram();  // no bounds: only the +Inf bucket
  explicit Histogram(Bounds bounds);
  // Convenience for tests and one-off histograms: MakeBounds(upper_bounds).
  explicit Histogram(std::vector<double> upper_bounds);

  // Negative values count as 0; NaN is ignored.
  void Observe(double seconds);

  // Adds the observations of `other`, which must have the same bounds (the same Bounds object or
  // equal values); a histogram with other bounds is ignored and false returned.
  bool Add(const Histogram& other);

  const std::vector<double>& bounds() const { return *bounds_; }
  // cumulative_counts()[i] = observations <= bounds()[i].
  const std::vector<std::uint64_t>& cumulative_counts() const { return cumulative_counts_; }
  double sum() const { return sum_; }
  std::uint64_t count() const { return count_; }

 private:
  Bounds bounds_;
  std::vector<std::uint64_t> cumulative_counts_;
  double sum_ = 0;
  std::uint64_t count_ = 0;
};

}  // namespace smtp

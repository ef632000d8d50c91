// A strict reader of the text exposition format 0.0.4, for tests: what a scraper sees in the text
// our writer produces, and whether it says the same as prometheus::TextSerializer's; and the
// metrics layer's two rendering paths checked against each other. Failures are reported as gtest
// failures.
#pragma once

#include <prometheus/metric_family.h>

#include <string>
#include <utility>
#include <vector>

#include "daemon/target_state.h"

namespace smtp::metrics_test {

struct ParsedLine {
  bool comment = false;
  std::string text;  // a comment line verbatim; for a sample, its metric name
  std::vector<std::pair<std::string, std::string>> labels;  // unescaped values
  double value = 0;
  std::string timestamp;
};

// A number of the exposition. TextSerializer's 16 digits round the largest doubles out of range
// (DBL_MAX becomes 1.797693134862316e+308, which Prometheus refuses as out of range); such a
// number parses as the infinity of its sign, and SameNumber() accepts it against DBL_MAX.
double ParseNumber(const std::string& text);

// Text format 0.0.4, strictly: a line is a comment or  name[{l="v",...}] value[ timestamp].
std::vector<ParsedLine> ParseExposition(const std::string& text);

// `ours` and `theirs` (TextSerializer's) are the same value, within `relative`.
bool SameNumber(double ours, double theirs, double relative);

// Ours (RenderText) and TextSerializer's text of the same families say the same thing: same
// HELP/TYPE lines, metric names and label sets in the same order, and values that are equal as
// doubles (TextSerializer prints 16 significant digits, so its values are only within a relative
// 1e-15 of ours).
void ExpectEquivalent(const std::vector<prometheus::MetricFamily>& families);

// The production path (RenderProbeMetrics, straight from the snapshots to text), checked against
// the MetricFamily path (RenderText(BuildProbeFamilies())) on every use: a gtest failure when
// they differ.
std::string Render(const std::vector<TargetSnapshot>& targets, bool include_target_label = true);

}  // namespace smtp::metrics_test

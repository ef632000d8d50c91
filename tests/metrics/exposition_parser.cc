#include "tests/metrics/exposition_parser.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <sstream>

#include "daemon/exposition.h"
#include "daemon/metrics.h"

namespace smtp::metrics_test {

double ParseNumber(const std::string& text) {
  if (text == "NaN" || text == "Nan") return std::numeric_limits<double>::quiet_NaN();
  if (text == "+Inf") return std::numeric_limits<double>::infinity();
  if (text == "-Inf") return -std::numeric_limits<double>::infinity();
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  EXPECT_EQ(end, text.data() + text.size()) << "bad number " << text;
  if (ec == std::errc::result_out_of_range && std::abs(std::strtod(text.c_str(), nullptr)) > 1) {
    return text[0] == '-' ? -std::numeric_limits<double>::infinity()
                          : std::numeric_limits<double>::infinity();
  }
  EXPECT_TRUE(ec == std::errc()) << "bad number " << text;
  return value;
}

std::vector<ParsedLine> ParseExposition(const std::string& text) {
  std::vector<ParsedLine> lines;
  EXPECT_TRUE(text.empty() || text.back() == '\n') << "no final newline";
  std::size_t at = 0;
  while (at < text.size()) {
    const std::size_t end = text.find('\n', at);
    const std::string line = text.substr(at, end - at);
    at = end + 1;
    ParsedLine parsed;
    if (line.starts_with("#")) {
      EXPECT_TRUE(line.starts_with("# HELP ") || line.starts_with("# TYPE ")) << line;
      parsed.comment = true;
      parsed.text = line;
      lines.push_back(parsed);
      continue;
    }
    std::size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    parsed.text = line.substr(0, i);
    EXPECT_FALSE(parsed.text.empty()) << line;
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        const std::size_t equals = line.find('=', i);
        EXPECT_NE(equals, std::string::npos) << line;
        if (equals == std::string::npos) return lines;
        std::string name = line.substr(i, equals - i), value;
        i = equals + 1;
        EXPECT_EQ(line[i], '"') << line;
        for (++i; i < line.size() && line[i] != '"'; ++i) {
          if (line[i] == '\\') {
            ++i;
            EXPECT_TRUE(line[i] == '\\' || line[i] == '"' || line[i] == 'n') << line;
            value.push_back(line[i] == 'n' ? '\n' : line[i]);
          } else {
            value.push_back(line[i]);
          }
        }
        ++i;  // closing quote
        if (i < line.size() && line[i] == ',') ++i;
        parsed.labels.emplace_back(std::move(name), std::move(value));
      }
      ++i;  // closing brace
    }
    EXPECT_EQ(line[i], ' ') << line;
    const std::string rest = line.substr(i + 1);
    const std::size_t space = rest.find(' ');
    parsed.value = ParseNumber(rest.substr(0, space));
    if (space != std::string::npos) parsed.timestamp = rest.substr(space + 1);
    lines.push_back(parsed);
  }
  return lines;
}

bool SameNumber(double ours, double theirs, double relative) {
  if (std::isnan(ours) || std::isnan(theirs)) return std::isnan(ours) && std::isnan(theirs);
  if (ours == theirs) return true;
  if (std::isinf(theirs) && std::abs(ours) == std::numeric_limits<double>::max()) {
    return std::signbit(ours) == std::signbit(theirs);  // TextSerializer rounded out of range
  }
  return std::abs(ours - theirs) <= relative * std::max(std::abs(ours), std::abs(theirs));
}

namespace {

std::string Serialize(const std::vector<prometheus::MetricFamily>& families) {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

}  // namespace

void ExpectEquivalent(const std::vector<prometheus::MetricFamily>& families) {
  const std::string ours = RenderText(families), theirs = Serialize(families);
  const std::vector<ParsedLine> a = ParseExposition(ours), b = ParseExposition(theirs);
  ASSERT_EQ(a.size(), b.size()) << ours << "\n----\n" << theirs;
  for (std::size_t i = 0; i < a.size(); ++i) {
    SCOPED_TRACE("line " + std::to_string(i + 1) + ": " + a[i].text);
    EXPECT_EQ(a[i].comment, b[i].comment);
    EXPECT_EQ(a[i].text, b[i].text);
    EXPECT_EQ(a[i].timestamp, b[i].timestamp);
    EXPECT_TRUE(SameNumber(a[i].value, b[i].value, 1e-15)) << a[i].value << " vs " << b[i].value;
    ASSERT_EQ(a[i].labels.size(), b[i].labels.size());
    for (std::size_t j = 0; j < a[i].labels.size(); ++j) {
      EXPECT_EQ(a[i].labels[j].first, b[i].labels[j].first);
      if (a[i].labels[j].first == "le" || a[i].labels[j].first == "quantile") {
        EXPECT_TRUE(SameNumber(ParseNumber(a[i].labels[j].second),
                               ParseNumber(b[i].labels[j].second), 1e-15));
      } else {
        EXPECT_EQ(a[i].labels[j].second, b[i].labels[j].second);
      }
    }
  }
}

std::string Render(const std::vector<TargetSnapshot>& targets, bool include_target_label) {
  std::string text = RenderProbeMetrics(targets, include_target_label);
  EXPECT_EQ(text, RenderText(BuildProbeFamilies(targets, include_target_label)));
  return text;
}

}  // namespace smtp::metrics_test

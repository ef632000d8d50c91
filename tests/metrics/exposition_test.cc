// Specification of the text exposition writer (daemon/exposition.h) and of what the metrics
// layer writes with it. Our writer replaced prometheus::TextSerializer: both renderings of the
// same families are parsed (exposition_parser.h) and must agree line by line; ours must also
// parse back to the exact doubles, spell numbers as documented, and keep every label value,
// however hostile, inside its quotes.
#include "daemon/exposition.h"

#include <gtest/gtest.h>
#include <prometheus/metric_family.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "daemon/metrics.h"
#include "tests/metrics/exposition_parser.h"
#include "tests/metrics/sample_results.h"

namespace smtp::metrics_test {
namespace {

// Awkward doubles: integers around 2^53, subnormals, extremes, negative zero, NaN, infinities.
double RandomValue(std::mt19937_64& rng) {
  constexpr double kSpecial[] = {0.0,
                                 -0.0,
                                 1,
                                 0.1,
                                 0.009,
                                 1700000000.123456789,
                                 9007199254740992.0,
                                 9007199254740993.0,
                                 -9007199254740994.0,
                                 1e15,
                                 1e16,
                                 1e21,
                                 1e-5,
                                 123456789012345678.0,
                                 std::numeric_limits<double>::max(),
                                 std::numeric_limits<double>::lowest(),
                                 std::numeric_limits<double>::min(),
                                 std::numeric_limits<double>::denorm_min(),
                                 std::numeric_limits<double>::infinity(),
                                 -std::numeric_limits<double>::infinity(),
                                 std::numeric_limits<double>::quiet_NaN()};
  switch (rng() % 4) {
    case 0:
      return kSpecial[rng() % std::size(kSpecial)];
    case 1:
      return static_cast<double>(static_cast<std::int64_t>(rng() % 2000001) - 1000000);
    case 2:
      return std::uniform_real_distribution<double>(-1000, 1000)(rng);
    default: {
      double value = 0;
      do {  // any finite bit pattern
        const std::uint64_t bits = rng();
        std::memcpy(&value, &bits, sizeof value);
      } while (!std::isfinite(value));
      return value;
    }
  }
}

std::string RandomLabelValue(std::mt19937_64& rng) {
  static const char* const kPieces[] = {"a",   "mx1.example.org",
                                        "\"",  "\\",
                                        "\n",  "\t",
                                        " ",   "é",
                                        "☃",   "𝄞",
                                        "{",   "}",
                                        ",",   "=",
                                        "\\n", "\\\""};
  std::string value;
  for (std::uint64_t n = rng() % 6; n > 0; --n) value += kPieces[rng() % std::size(kPieces)];
  return value;
}

prometheus::MetricFamily RandomFamily(std::mt19937_64& rng, int index) {
  using prometheus::MetricType;
  constexpr MetricType kTypes[] = {MetricType::Counter, MetricType::Gauge, MetricType::Untyped,
                                   MetricType::Summary, MetricType::Histogram};
  prometheus::MetricFamily family;
  family.name = "family_" + std::to_string(index);
  family.help = "Help text of \"" + family.name + "\" with 'quotes' and ünïcödé.";
  family.type = kTypes[rng() % std::size(kTypes)];
  for (std::uint64_t m = rng() % 5; m > 0; --m) {  // sometimes none: HELP and TYPE only
    prometheus::ClientMetric metric;
    for (std::uint64_t l = rng() % 4; l > 0; --l) {
      metric.label.push_back({"label_" + std::to_string(l), RandomLabelValue(rng)});
    }
    if (rng() % 4 == 0) metric.timestamp_ms = static_cast<std::int64_t>(rng() % 2000000000000);
    metric.counter.value = metric.gauge.value = metric.untyped.value = RandomValue(rng);
    metric.summary.sample_count = metric.histogram.sample_count = rng() % 100000;
    metric.summary.sample_sum = metric.histogram.sample_sum = RandomValue(rng);
    std::uint64_t cumulative = 0;
    double bound = 0;
    for (std::uint64_t q = rng() % 4; q > 0; --q) {
      metric.summary.quantile.push_back(
          {static_cast<double>(rng() % 1001) / 1000, RandomValue(rng)});
      bound += std::uniform_real_distribution<double>(0.001, 10)(rng);
      cumulative += rng() % 50;
      metric.histogram.bucket.push_back({cumulative, bound});
    }
    if (rng() % 3 == 0) {  // an explicit +Inf bucket: no second one may be added
      metric.histogram.bucket.push_back({cumulative, std::numeric_limits<double>::infinity()});
    }
    family.metric.push_back(std::move(metric));
  }
  return family;
}

TEST(ExpositionWriterTest, RandomFamiliesSayWhatTextSerializerSays) {
  std::mt19937_64 rng(20240601);
  for (int round = 0; round < 300; ++round) {
    std::vector<prometheus::MetricFamily> families;
    for (int f = 0; f < 4; ++f) families.push_back(RandomFamily(rng, f));
    SCOPED_TRACE("round " + std::to_string(round));
    ExpectEquivalent(families);
    if (HasFatalFailure()) return;
  }
}

TEST(ExpositionWriterTest, ProbeFamiliesSayWhatTextSerializerSays) {
  TargetSnapshot healthy = Snapshot("mx1.example.org:25", Share(HealthyPostfix()));
  healthy.labels = {{"site", "eu"}};
  healthy.greeting_histogram = HistogramOf({0.042, 0.038, 0.051, 0.2, 1.5, 0.0123456789});
  TargetSnapshot helo = Snapshot("b:25", Share(HeloOnlyWithoutTls()));
  std::vector<prometheus::MetricFamily> families = BuildProbeFamilies({healthy, helo}, true);
  SelfMetrics self;
  self.scheduler_lag = Histogram({0.005, 0.05});
  for (double lag : {0.001, 0.0093, 0.02}) self.scheduler_lag.Observe(lag);
  for (auto& f : BuildSelfFamilies(self)) families.push_back(std::move(f));
  ExpectEquivalent(families);
}

TEST(ExpositionWriterTest, RoundTripsEveryDouble) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 20000; ++i) {
    const double value = RandomValue(rng);
    prometheus::MetricFamily family{"x", "x", prometheus::MetricType::Gauge, {{}}};
    family.metric[0].gauge.value = value;
    const std::vector<ParsedLine> lines = ParseExposition(RenderText({family}));
    ASSERT_EQ(lines.size(), 3u);
    const double parsed = lines[2].value;
    if (std::isnan(value)) {
      EXPECT_TRUE(std::isnan(parsed));
    } else {
      EXPECT_EQ(std::memcmp(&parsed, &value, sizeof value), 0)
          << value << " rendered as " << RenderText({family});
    }
  }
}

TEST(ExpositionWriterTest, NumberSpelling) {
  const auto render = [](double value) {
    prometheus::MetricFamily family{"x", "h", prometheus::MetricType::Gauge, {{}}};
    family.metric[0].gauge.value = value;
    const std::string text = RenderText({family});
    return text.substr(text.rfind("\nx ") + 3);
  };
  EXPECT_EQ(render(0.009), "0.009\n");
  EXPECT_EQ(render(0.006 + 0.007), "0.013000000000000001\n");  // the sum is not 0.013
  EXPECT_EQ(render(1700000000), "1700000000\n");
  EXPECT_EQ(render(10240000), "10240000\n");
  EXPECT_EQ(render(9007199254740992.0), "9007199254740992\n");
  EXPECT_EQ(render(1e-5), "1e-05\n");
  EXPECT_EQ(render(-0.0), "-0\n");
  EXPECT_EQ(render(std::nan("")), "NaN\n");
  EXPECT_EQ(render(std::numeric_limits<double>::infinity()), "+Inf\n");
  EXPECT_EQ(render(-std::numeric_limits<double>::infinity()), "-Inf\n");
}

TEST(ExpositionWriterTest, EscapesHelpAndLabelValues) {
  prometheus::MetricFamily family{
      "x", "back\\slash\nnew \"line\"", prometheus::MetricType::Counter, {{}}};
  family.metric[0].label = {{"a", "q\"b\\n\nz"}};
  family.metric[0].counter.value = 2;
  EXPECT_EQ(RenderText({family}),
            "# HELP x back\\\\slash\\nnew \"line\"\n"
            "# TYPE x counter\n"
            "x{a=\"q\\\"b\\\\n\\nz\"} 2\n");
}

TEST(ExpositionWriterTest, RenderProbeMetricsIsBothFamiliesRendered) {
  TargetSnapshot a = Snapshot("a:25", Share(HealthyPostfix()));
  TargetSnapshot b = Snapshot("b:25", Share(HeloOnlyWithoutTls()));
  SelfMetrics self;
  self.version = "1.2.3";
  std::vector<prometheus::MetricFamily> families = BuildProbeFamilies({a, b}, true);
  for (auto& f : BuildSelfFamilies(self)) families.push_back(std::move(f));
  EXPECT_EQ(RenderProbeMetrics({a, b}, true, &self), RenderText(families));
  EXPECT_EQ(RenderProbeMetrics(std::vector<TargetSnapshot>{}, true), "");
}

// /metrics goes out in pieces (MetricsText): whatever the piece size, and across the steps that
// feed kTargetsPerStep targets at a time, the pieces add up to RenderProbeMetrics()'s text. A
// text step grows its piece by at least the size asked (but at the end) and by whole lines.
TEST(ExpositionWriterTest, MetricsTextInPiecesIsTheWholeText) {
  std::vector<TargetSnapshot> targets;
  const std::size_t n = 2 * MetricsText::kTargetsPerStep + 17;
  for (std::size_t i = 0; i < n; ++i) {
    targets.push_back(Snapshot("mx" + std::to_string(i) + ".example.org:25",
                               Share(i % 3 == 0 ? HeloOnlyWithoutTls() : HealthyPostfix())));
  }
  std::vector<const TargetSnapshot*> pointers;
  for (const TargetSnapshot& target : targets) pointers.push_back(&target);
  SelfMetrics self;
  self.version = "1.2.3";
  const std::string whole = RenderProbeMetrics(pointers, true, &self);
  ASSERT_GT(whole.size(), 1000000u);

  for (const std::size_t piece_bytes : {std::size_t{1}, std::size_t{4096}, std::size_t{1} << 20}) {
    MetricsText text(pointers, true, &self);
    std::string joined, piece;
    std::size_t steps = 0, empty_steps = 0;
    for (bool more = true; more;) {
      piece.clear();
      more = text.Next(piece, piece_bytes);
      ++steps;
      if (piece.empty()) {
        ++empty_steps;
        continue;
      }
      if (more) {
        EXPECT_GE(piece.size(), piece_bytes);
      }
      EXPECT_EQ(piece.back(), '\n');
      joined += piece;
    }
    EXPECT_EQ(joined, whole) << piece_bytes;
    EXPECT_EQ(empty_steps, 3u) << "one step per kTargetsPerStep targets";
    if (piece_bytes == 4096) {
      EXPECT_GE(steps, whole.size() / 4096 / 2);
    }
  }
}

// Everything a hostile server or a careless config can put into label values comes out of a
// parser as exactly the sanitized value: nothing breaks out of its quotes or its line.
TEST(ExpositionWriterTest, HostileLabelValuesRoundTrip) {
  const std::vector<std::string> hostile = {
      "plain",
      "quote\" inside",
      "\"",
      "back\\slash\\",
      "\\\"",
      "\\n is not a newline",
      "new\nline\n",
      "\n",
      "tab\there",
      "cr\rlf",
      std::string("nul\0byte", 8),
      "\x01\x1f\x7f controls",
      "invalid \xff\xfe utf-8 \xc0\xaf \xed\xa0\x80",
      "truncated \xe2\x98",
      "Pöstfix ☃ 𝄞",
      "} 1\nsmtp_probe_success{target=\"forged\"} 1",
      "\"} 1\n# HELP forged",
      "x=\"y\",z=\"",
      std::string(700, 'x') + "\"",
      std::string(300, '\\'),
  };
  for (std::size_t i = 0; i < hostile.size(); ++i) {
    SCOPED_TRACE("value " + std::to_string(i));
    const std::string& value = hostile[i];
    ProbeResult r = HeloOnlyWithoutTls();
    r.esmtp = true;
    r.greeting = GreetingInfo{value, value, value, true};
    Capabilities caps;
    caps.extensions = {Ext(value)};
    caps.auth_mechanisms = {value};
    r.capabilities = caps;
    TlsInfo tls;
    tls.chain = {Cert(value, value, value, 1800000000)};
    tls.earliest_not_after = 1800000000;
    r.tls = tls;
    r.relay->ran = true;
    r.relay->attempts = {Attempt(value, 250, 550, RelayOutcome::kRefused)};
    TargetSnapshot s = Snapshot(value, Share(r));
    s.labels = {{"note", value}};
    const std::string text = Render({s});
    const std::string expected = SanitizeLabelValue(value);
    std::size_t checked = 0;
    for (const ParsedLine& line : ParseExposition(text)) {
      if (line.comment) continue;
      EXPECT_TRUE(line.text.starts_with("smtp_")) << line.text;
      ASSERT_GE(line.labels.size(), 2u);
      EXPECT_EQ(line.labels[0], (std::pair<std::string, std::string>{"target", expected}));
      EXPECT_EQ(line.labels[1], (std::pair<std::string, std::string>{"note", expected}));
      for (const auto& [name, label_value] : line.labels) {
        if (name == "hostname" || name == "software" || name == "version" || name == "extension" ||
            name == "mechanism" || name == "subject" || name == "issuer" || name == "serial" ||
            name == "variant") {
          EXPECT_EQ(label_value, expected) << name;
          ++checked;
        }
      }
    }
    EXPECT_EQ(checked, 9u) << text;
    if (HasFailure()) return;
  }
}

// The same with random values: every byte class at every offset, on both sides of the 8-byte
// blocks that the scanner of label values looks at.
TEST(ExpositionWriterTest, RandomLabelValuesRoundTrip) {
  std::mt19937_64 rng(99);
  const std::string alphabet[] = {"a",  "Z",    " ",    "~",    "\"",   "\\",   "\n", "\t",
                                  "\r", "\x01", "\x1f", "\x7f", "\x80", "\xff", "é",  "☃"};
  for (int round = 0; round < 2000; ++round) {
    std::string value;
    for (std::uint64_t n = rng() % 24; n > 0; --n) value += alphabet[rng() % std::size(alphabet)];
    const std::string expected = SanitizeLabelValue(value);
    for (const char c : expected) {
      ASSERT_TRUE(static_cast<unsigned char>(c) >= 0x20 || c == '\t' || c == '\n');
      ASSERT_NE(c, '\x7f');
    }
    ProbeResult r = HeloOnlyWithoutTls();
    Capabilities caps;
    caps.extensions = {Ext(value)};
    r.capabilities = caps;
    TargetSnapshot s = Snapshot("t", Share(r));
    s.labels = {{"note", value}};
    bool seen = false;
    for (const ParsedLine& line : ParseExposition(Render({s}))) {
      if (line.comment) continue;
      ASSERT_GE(line.labels.size(), 2u);
      EXPECT_EQ(line.labels[1].second, expected);
      if (line.text == "smtp_ehlo_extension_info") {
        EXPECT_EQ(line.labels[2].second, expected);
        seen = true;
      }
    }
    EXPECT_TRUE(seen);
    if (HasFailure()) return;
  }
}

}  // namespace
}  // namespace smtp::metrics_test

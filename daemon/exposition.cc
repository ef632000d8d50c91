// The text exposition writer; see exposition.h for the text it writes.
//
// Text is written through raw pointers into space reserved for the worst case (label values
// escaped to twice their size, numbers of at most kNumberBufferSize characters): a scrape of
// 10,000 targets is ~800,000 lines, and per-token std::string::append calls were a measurable
// share of it.
#include "daemon/exposition.h"

#include <prometheus/client_metric.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>

namespace smtp {
namespace exposition {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

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

}  // namespace

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

bool NeedsEscape(std::string_view value) {
  return value.find_first_of("\\\"\n") != std::string_view::npos;
}

void BlockBuffer::AddBlock(std::size_t n) {
  constexpr std::size_t kFirst = 64 * 1024, kLargest = 4 * 1024 * 1024;
  const std::size_t doubled =
      blocks_.empty() ? kFirst : std::min(2 * blocks_.back().capacity, kLargest);
  Block& block = blocks_.emplace_back();
  block.capacity = std::max(doubled, n);
  block.data = std::make_unique_for_overwrite<char[]>(block.capacity);
}

// ---- TextSink -----------------------------------------------------------------------------------

// What pass 1 stores before each line rest in a family's buffer.
struct TextSink::Header {
  std::uint32_t group;
  std::uint16_t size;   // bytes of LineRest text after the header
  std::uint8_t suffix;  // a Suffix
  std::uint8_t braces;  // 1 = the line has a label set: write '{' and the base labels
};

namespace {

constexpr std::string_view kSuffixes[] = {"", "_count", "_sum", "_bucket"};

// The longest line rest: kMaxOwnLabels labels of kMaxValueBytes, escaped, and a number.
static_assert(TextSink::kMaxOwnLabels * (2 * TextSink::kMaxValueBytes + 64) + 128 < 65536,
              "Header::size is 16 bits");

}  // namespace

TextSink::TextSink(std::span<const FamilyDef> families)
    : defs_(families), buffers_(families.size()), text_bytes_(families.size(), 0) {
  for (const FamilyDef& def : families) name_sizes_.push_back(std::strlen(def.name));
}

void TextSink::BeginGroup(std::span<const LabelView> base) {
  group_ = static_cast<std::uint32_t>(base_ends_.size());
  AppendBounded(base_texts_, LabelsBound(base), [&](char* p) { return PutLabels(p, base, false); });
  base_ends_.push_back(base_texts_.size());
  has_base_ = !base.empty();
  base_bytes_ = 1 + BaseText(group_).size();  // '{' and the base labels
}

std::string_view TextSink::BaseText(std::uint32_t group) const {
  const std::size_t begin = group == 0 ? 0 : base_ends_[group - 1];
  return std::string_view(base_texts_).substr(begin, base_ends_[group] - begin);
}

void TextSink::Select(std::size_t family) {
  family_ = family;
  name_bytes_ = name_sizes_[family];
}

void TextSink::Sample(double value, std::span<const LabelView> own) {
  Fragment(kNone, LineRest{own, {}, {}, Number(value).view()});
}

void TextSink::Histogram(const smtp::Histogram& h) {
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

void TextSink::Fragment(Suffix suffix, const LineRest& rest) {
  BlockBuffer& buffer = buffers_[family_];
  char* const at = buffer.Reserve(sizeof(Header) + rest.Bound());
  char* const end = rest.Write(at + sizeof(Header), has_base_);
  const Header header{group_, static_cast<std::uint16_t>(end - at - sizeof(Header)), suffix,
                      static_cast<std::uint8_t>(rest.Braces(has_base_))};
  std::memcpy(at, &header, sizeof(header));
  buffer.Commit(end);
  text_bytes_[family_] +=
      name_bytes_ + kSuffixes[suffix].size() + (header.braces ? base_bytes_ : 0) + header.size;
}

std::size_t TextSink::TextSize() const {
  std::size_t size = 0;
  for (std::size_t f = take_family_; f < defs_.size(); ++f) {
    if (buffers_[f].size() == 0) continue;
    size += 2 * name_sizes_[f] + 2 * std::strlen(defs_[f].help) + 32 + text_bytes_[f];
  }
  return size;
}

bool TextSink::TakeText(std::string& out, std::size_t min_bytes) {
  for (; take_family_ < defs_.size(); ++take_family_, take_block_ = 0, take_offset_ = 0) {
    BlockBuffer& buffer = buffers_[take_family_];
    if (buffer.size() == 0) continue;  // no lone HELP/TYPE lines
    if (out.size() >= min_bytes) return true;
    const FamilyDef& def = defs_[take_family_];
    if (take_block_ == 0 && take_offset_ == 0) {
      AppendFamilyHeader(out, def.name, def.help, def.type);
    }
    // Every line starts with one of these: name, suffix, and '{' when it has labels.
    std::string starts[std::size(kSuffixes)][2];
    for (std::size_t i = 0; i < std::size(kSuffixes); ++i) {
      starts[i][0] = std::string(def.name).append(kSuffixes[i]);
      starts[i][1] = starts[i][0] + '{';
    }
    for (; take_block_ < buffer.block_count(); ++take_block_, take_offset_ = 0) {
      const std::string_view block = buffer.block(take_block_);
      const char* const end = block.data() + block.size();
      for (const char* at = block.data() + take_offset_; at != end;) {
        Header header;
        std::memcpy(&header, at, sizeof(header));
        at += sizeof(header);
        out.append(starts[header.suffix][header.braces]);
        if (header.braces) out.append(BaseText(header.group));
        out.append(at, header.size);
        at += header.size;
        if (out.size() >= min_bytes && at != end) {
          take_offset_ = static_cast<std::size_t>(at - block.data());
          return true;
        }
      }
      buffer.FreeBlock(take_block_);
    }
    text_bytes_[take_family_] = 0;
    buffer = BlockBuffer();
  }
  return false;
}

namespace {

// RenderText(): each family's metrics as they come, with the same pieces as TextSink.
std::string TextOf(const std::vector<MetricFamily>& families) {
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
      for (const ClientMetric::Label& label : metric.label)
        labels.push_back(LabelView{label.name, label.value});
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

}  // namespace
}  // namespace exposition

std::string RenderText(const std::vector<prometheus::MetricFamily>& families) {
  return exposition::TextOf(families);
}

}  // namespace smtp

// The Prometheus text exposition format, version 0.0.4 (Content-Type "text/plain; version=0.0.4;
// charset=utf-8"), as the exporter writes it. The metrics layer (metrics.h) decides which series
// exist and in which order; this writer only spells them. Pure: no I/O, no clock, no locks.
//
// The text:
//   * A family is "# HELP <name> <help>\n# TYPE <name> <type>\n", then one line per sample:
//     `<name><suffix>{<label>="<value>",...} <value>[ <timestamp ms>]\n`, without the braces when
//     the sample has no label, and without a timestamp when it is 0. A histogram writes _count,
//     _sum, then one _bucket line per bound (label `le`) and the +Inf bucket; a summary writes
//     _count, _sum, then one line per quantile (label `quantile`). This is the order of
//     prometheus::TextSerializer.
//   * Escaping, as the format requires: in a label value `\`, `"` and line feed become `\\`, `\"`
//     and `\n`; in HELP text `\` and line feed do. Nothing else is changed: label values must
//     already be valid UTF-8 (the metrics layer makes them so with SanitizeLabelValue()), and
//     metric and label names are written as given.
//   * Numbers: `NaN`, `+Inf`, `-Inf`; an integral value of magnitude up to 2^53 as an integer
//     (timestamps, byte counts and reply codes stay readable, and every such integer is exact;
//     negative zero is `-0`); any other double in its shortest round-trip form (std::to_chars:
//     no locale, parses back to the same double), so 9 ms is 0.009, not 0.008999999999999999.
//   * Order: families, samples and labels in the order they are given; nothing is sorted here.
//
// Why our own writer rather than prometheus::TextSerializer: a 10,000-target scrape takes ~90 ms
// instead of ~730 ms (bench/README.md), and TextSerializer's 16 significant digits misspell
// values (9 ms as 0.008999999999999999, DBL_MAX out of range). The tests check that both say the
// same of the same families.
#pragma once

#include <prometheus/metric_family.h>
#include <prometheus/metric_type.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/histogram.h"

namespace smtp {

// The text of any families, in the given order, with the same writer as the metrics layer's
// RenderProbeMetrics(). Compared with prometheus::TextSerializer: numbers as above, NaN spelled
// "NaN" (not "Nan"), backslashes and newlines in HELP escaped as the format requires; otherwise
// the same text, including HELP and TYPE lines for a family without metrics.
std::string RenderText(const std::vector<prometheus::MetricFamily>& families);

namespace exposition {

// A family as its "# HELP" and "# TYPE" lines name it.
struct FamilyDef {
  const char* name;
  prometheus::MetricType type;
  const char* help;
};

// A label ready to be written: `value` is final (valid UTF-8, bounded). `plain` = it holds no
// backslash, double quote or line feed, so it is copied without escaping. The strings are not
// owned. Ordered by name, then value, like prometheus::ClientMetric::Label.
struct LabelView {
  std::string_view name;
  std::string_view value;
  bool plain = false;

  friend bool operator==(const LabelView& a, const LabelView& b) {
    return a.name == b.name && a.value == b.value;
  }
  friend bool operator<(const LabelView& a, const LabelView& b) {
    const int names = a.name.compare(b.name);
    return names != 0 ? names < 0 : a.value < b.value;
  }
};

// What a label value needs before it is written: `printable_ascii` = only bytes 0x20-0x7E, so
// there is nothing to sanitize (no line feed either); `needs_escape` = it has a backslash or a
// double quote. Every label value of a scrape goes through here, so this is inline and looks at
// 8 bytes at a time: in `(x - 0x20..) & ~x` the high bit of a byte is set for bytes below 0x20,
// in `(x + 0x01..) | x` for bytes above 0x7E, and in the first form applied to `x ^ c..` for bytes
// equal to c (carries and borrows only flow out of bytes already flagged).
struct LabelValueScan {
  bool printable_ascii;
  bool needs_escape;
};
inline LabelValueScan ScanLabelValue(std::string_view s) {
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

// `value` (any bytes) has a character a label value escapes: backslash, double quote, line feed.
bool NeedsEscape(std::string_view value);

struct LineRest;  // one line after its name and base labels (exposition.cc)

// Bytes appended as records (of up to a few tens of kB) through a raw pointer, kept in blocks
// that never move: growing copies nothing and leaves at most one block of slack (blocks double
// from 64 KiB up to 4 MiB), and a reader can free the blocks behind it. Unlike std::string,
// nothing is zero-filled. A record never straddles two blocks.
class BlockBuffer {
 public:
  // Room for a record of up to `n` bytes at the returned pointer; Commit() its end.
  char* Reserve(std::size_t n) {
    if (blocks_.empty() || blocks_.back().capacity - blocks_.back().size < n) AddBlock(n);
    return blocks_.back().data.get() + blocks_.back().size;
  }
  void Commit(const char* end) {
    Block& block = blocks_.back();
    const auto used = static_cast<std::size_t>(end - block.data.get());
    size_ += used - block.size;
    block.size = used;
  }

  // Bytes committed, over all blocks (freed ones included).
  std::size_t size() const { return size_; }
  std::size_t block_count() const { return blocks_.size(); }
  // The committed bytes of block `i`: whole records, in order.
  std::string_view block(std::size_t i) const {
    return std::string_view(blocks_[i].data.get(), blocks_[i].size);
  }
  // Returns block `i`'s memory; it reads as empty afterwards.
  void FreeBlock(std::size_t i) { blocks_[i] = Block{}; }

 private:
  struct Block {
    std::unique_ptr<char[]> data;
    std::size_t size = 0;
    std::size_t capacity = 0;
  };
  void AddBlock(std::size_t n);

  std::vector<Block> blocks_;
  std::size_t size_ = 0;
};

// The exposition of a fixed list of families, fed the way the metrics layer produces series:
// group by group (a group = the series of one target, which share its base labels) and, within
// a group, family by family. The text is ordered family by family, so this writes it in two
// passes:
//   1. while fed, it appends to one buffer per family what each line has beyond its metric name
//      and its group's base labels (own labels, value, newline: about a third of the text), and
//      renders each group's base labels once;
//   2. TakeText() streams through each buffer and writes the final text, adding the names and
//      base labels, piece by piece if asked, freeing each block of a buffer once it is written.
// (A family-major pass over the targets instead reads each target's scattered heap data once
// per family: at 10,000 targets mostly cache misses, 20 times as slow as 1,000 targets.)
//
// Lines of one family come out in the order they were fed; families in definition order, and
// only those that got a line (no lone HELP/TYPE lines). The sink holds views of the label
// strings it is fed only until the call returns, and of `families` until it is destroyed.
class TextSink {
 public:
  explicit TextSink(std::span<const FamilyDef> families);
  TextSink(const TextSink&) = delete;
  TextSink& operator=(const TextSink&) = delete;

  // Starts the next group: each line until the next BeginGroup() starts with `base`.
  void BeginGroup(std::span<const LabelView> base);
  // The family, an index into `families`, that the following lines belong to.
  void Select(std::size_t family);
  // One line: `name{base...,own...} value`. At most kMaxOwnLabels own labels of at most
  // kMaxValueBytes each.
  void Sample(double value, std::span<const LabelView> own);
  // The lines of a histogram without labels of its own.
  void Histogram(const smtp::Histogram& h);

  // An upper bound of the size of the text TakeText() has yet to write, so that the caller
  // allocates it once.
  std::size_t TextSize() const;
  // Pass 2: appends the next lines of the text to `out` until `out` holds at least `min_bytes`
  // or the text is complete (a line is never split; SIZE_MAX takes it all), and returns whether
  // text remains. Each block of the line buffers is freed once its lines are written. Nothing
  // may be fed after the first call.
  bool TakeText(std::string& out, std::size_t min_bytes);

  static constexpr std::size_t kMaxOwnLabels = 3;
  static constexpr std::size_t kMaxValueBytes = 4096;

 private:
  struct Header;
  enum Suffix : std::uint8_t { kNone, kCount, kSum, kBucket };
  void Fragment(Suffix suffix, const LineRest& rest);
  std::string_view BaseText(std::uint32_t group) const;

  std::span<const FamilyDef> defs_;
  std::vector<BlockBuffer> buffers_;     // per family
  std::vector<std::size_t> text_bytes_;  // per family: its lines in the final text
  std::vector<std::size_t> name_sizes_;  // per family
  std::string base_texts_;               // every group's base labels as text, in group order
  std::vector<std::size_t> base_ends_;   // per group: where its text ends in base_texts_
  std::vector<double> le_bounds_;        // the histogram bounds last formatted ...
  std::vector<std::string> le_texts_;    // ... and their text
  std::size_t family_ = 0;
  std::size_t name_bytes_ = 0;
  std::uint32_t group_ = 0;
  bool has_base_ = false;
  std::size_t base_bytes_ = 0;
  // Where TakeText() goes on: the family, the block of its buffer and the offset in that block.
  std::size_t take_family_ = 0;
  std::size_t take_block_ = 0;
  std::size_t take_offset_ = 0;
};

}  // namespace exposition
}  // namespace smtp

// libFuzzer target for the SMTP reply parser. Besides looking for crashes and sanitizer
// reports, it checks the parser's contract on every input:
//  - the result does not depend on how the bytes were split (whole, byte-at-a-time, and at
//    fuzzer-chosen split points give the same replies and the same error);
//  - every reply honours the limits and the RFC 5321 §4.2 code syntax;
//  - after a clean stream that ends with an EOL and whose replies were all popped,
//    HasPendingBytes() says exactly whether a multi-line reply is unfinished.
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "probes/reply_parser.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using smtp_fuzz::Check;

struct Outcome {
  bool ok = true;
  smtp::ReplyError error = smtp::ReplyError::kNone;
  std::vector<smtp::Reply> replies;
  bool operator==(const Outcome& other) const {
    if (ok != other.ok || error != other.error || replies.size() != other.replies.size()) {
      return false;
    }
    for (std::size_t i = 0; i < replies.size(); ++i) {
      if (replies[i].code != other.replies[i].code || replies[i].lines != other.replies[i].lines ||
          replies[i].enhanced != other.replies[i].enhanced) {
        return false;
      }
    }
    return true;
  }
};

// Feeds `input` in chunks whose lengths come from `sizes` (cycled; 0 means "the rest").
// Replies are popped after every chunk, as the prober does, so max_pending_replies is only hit
// by bursts inside one chunk.
Outcome Run(std::string_view input, const smtp::ReplyLimits& limits,
            const std::vector<std::size_t>& sizes) {
  smtp::ReplyParser parser(limits);
  Outcome out;
  std::size_t pos = 0;
  std::size_t turn = 0;
  while (pos < input.size() && out.ok) {
    std::size_t size = sizes.empty() ? 0 : sizes[turn++ % sizes.size()];
    if (size == 0 || size > input.size() - pos) size = input.size() - pos;
    out.ok = parser.Feed(input.substr(pos, size));
    pos += size;
    while (auto reply = parser.Next()) out.replies.push_back(std::move(*reply));
  }
  out.error = parser.error();
  Check(out.ok == (out.error == smtp::ReplyError::kNone));
  Check(parser.Feed("") == out.ok);  // errors are sticky; an empty feed changes nothing
  for (const smtp::Reply& reply : out.replies) {
    // The final line's code decides (tolerated framing, see reply_parser.h): 2yz..5yz.
    Check(reply.code >= 200 && reply.code <= 599);
    Check((reply.anomalies & ~0x1fu) == 0);
    Check(reply.wire_lines.empty() || reply.wire_lines.size() == reply.lines.size());
    Check(!reply.lines.empty() && reply.lines.size() <= limits.max_lines);
    for (const std::string& line : reply.lines) {
      // A line's text is bounded by the line limit (a continuation line without a code is kept
      // whole as text).
      Check(line.size() <= limits.max_line_bytes);
      Check(line.find('\n') == std::string::npos);
    }
    if (reply.enhanced) Check(reply.enhanced->klass == reply.code / 100);
    (void)reply.Text();
  }
  if (out.ok && input.empty()) Check(!parser.HasPendingBytes());
  if (out.ok && !input.empty() && input.back() == '\n') {
    // Everything complete was popped: a last line "ddd " or "ddd" ended a reply, so nothing is
    // pending; after "ddd-" a multi-line reply is unfinished. (Other last lines, tolerated as
    // text or skipped, are pending only inside a reply.)
    std::size_t start = input.find_last_of('\n', input.size() - 2);
    start = start == std::string_view::npos ? 0 : start + 1;
    std::string_view last = input.substr(start, input.size() - 1 - start);
    while (!last.empty() && last.back() == '\r') last.remove_suffix(1);
    const bool coded = last.size() >= 3 && last[0] >= '2' && last[0] <= '5' &&
                       std::isdigit(static_cast<unsigned char>(last[1])) &&
                       std::isdigit(static_cast<unsigned char>(last[2]));
    if (coded && (last.size() == 3 || last[3] == ' ')) Check(!parser.HasPendingBytes());
    if (coded && last.size() > 3 && last[3] == '-') Check(parser.HasPendingBytes());
  }
  parser.Reset();
  Check(parser.error() == smtp::ReplyError::kNone && !parser.HasPendingBytes());
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // The first 4 bytes choose small limits (so the fuzzer reaches them) and split sizes.
  if (size < 4) return 0;
  smtp::ReplyLimits limits;
  limits.max_line_bytes = 8 + data[0] % 120;
  limits.max_lines = 1 + data[1] % 12;
  limits.max_pending_replies = 1 + data[2] % 4;
  std::vector<std::size_t> sizes;
  for (int i = 0; i < 4; ++i) sizes.push_back(1 + ((data[3] >> (2 * i)) & 3) * 3);
  std::string_view input(reinterpret_cast<const char*>(data) + 4, size - 4);

  // Byte-at-a-time feeding pops after every byte, so it never hits max_pending_replies. Larger
  // chunks can only differ from it by hitting that limit first.
  Outcome bytes = Run(input, limits, {1});
  Check(bytes.error != smtp::ReplyError::kTooManyReplies);
  Outcome whole = Run(input, limits, {});
  if (whole.error != smtp::ReplyError::kTooManyReplies) Check(whole == bytes);
  Outcome chunks = Run(input, limits, sizes);
  if (chunks.error != smtp::ReplyError::kTooManyReplies) Check(chunks == bytes);

  // The default limits, in one piece, as the prober uses them.
  smtp::ReplyParser parser;
  parser.Feed(input);
  while (parser.Next()) {
  }
  return 0;
}

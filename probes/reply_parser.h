// Incremental, bounded parser for SMTP replies (RFC 5321 §4.2).
//
// The parser is pure: it never performs I/O and never allocates more than its limits allow, so it
// can be fed untrusted bytes straight from the network (and from a fuzzer). The caller feeds raw
// bytes as they arrive and pops complete replies.
//
// Accepted syntax, per RFC 5321 §4.2 and §4.2.1:
//   reply      = *( code "-" text EOL ) code [ SP text ] EOL
//   code       = 3DIGIT, first digit 2..5, second 0..5; every line of one reply carries the same
//   code EOL        = CRLF, or a bare LF (tolerated: some servers send it); extra CRs before the LF
//                are dropped, but a CR followed by anything else is malformed (§2.3.8)
// A final line may be just "250" with no space (§4.2.1 permits clients to accept it).
//
// Errors are sticky: once Feed() returns false the stream is not SMTP (or abuses the limits) and
// the connection should be dropped; error() says why.
#pragma once

#include <cstddef>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace smtp {

// RFC 3463 enhanced status code "class.subject.detail", e.g. 5.7.1.
struct EnhancedStatus {
  int klass = 0;  // 2, 4 or 5; equals the first digit of the reply code
  int subject = 0;
  int detail = 0;
  std::string ToString() const;  // "5.7.1"
  bool operator==(const EnhancedStatus&) const = default;
};

struct Reply {
  int code = 0;                            // 200..559
  std::optional<EnhancedStatus> enhanced;  // from the first line's text, when present
  std::vector<std::string> lines;          // each line's text after "ddd-"/"ddd ", no EOL

  bool IsPositive() const { return code >= 200 && code < 300; }
  bool IsIntermediate() const { return code >= 300 && code < 400; }
  bool IsTransient() const { return code >= 400 && code < 500; }
  bool IsPermanent() const { return code >= 500 && code < 600; }
  // Text of all lines joined with a single space, enhanced code stripped from each line (when
  // its class matches the code's first digit); lines left empty are skipped.
  std::string Text() const;
};

enum class ReplyError {
  kNone,
  kLineTooLong,    // a line exceeded ReplyLimits::max_line_bytes before its EOL
  kMalformed,      // a line does not start with a valid 3-digit code and "-", " " or EOL
  kCodeMismatch,   // a continuation line carries a different code than the first line
  kTooManyLines,   // one reply exceeded ReplyLimits::max_lines
  kTooManyReplies  // more than ReplyLimits::max_pending_replies complete replies were not popped
};
const char* ToString(ReplyError error);

struct ReplyLimits {
  // RFC 5321 §4.5.3.1.5 allows 512 octets per reply line including CRLF; real servers exceed it
  // a little (long EHLO AUTH lines, banners), so allow a few KiB, never unbounded.
  std::size_t max_line_bytes = 4096;
  std::size_t max_lines = 200;
  std::size_t max_pending_replies = 16;
};

class ReplyParser {
 public:
  explicit ReplyParser(ReplyLimits limits = {});

  // Consumes `bytes`. Returns false when the stream is invalid (now or earlier); error() tells
  // why. Malformed input is detected as early as possible: a line whose first bytes cannot start
  // a reply code is rejected before its EOL arrives, so garbage fails fast.
  bool Feed(std::string_view bytes);

  // Pops the oldest complete reply, if any.
  std::optional<Reply> Next();

  ReplyError error() const { return error_; }

  // True when bytes were received that are not part of a reply returned by Next(): a partial
  // line, an unfinished multi-line reply, or complete replies not yet popped. After a STARTTLS
  // 220, such bytes are a command-injection attempt (RFC 3207 §4.2, CVE-2011-0411) and must be
  // discarded with Reset().
  bool HasPendingBytes() const;

  // Forgets everything buffered and any error.
  void Reset();

 private:
  bool Fail(ReplyError error);
  bool FinishLine();

  ReplyLimits limits_;
  ReplyError error_ = ReplyError::kNone;
  std::string line_;  // current partial line, without EOL
  Reply current_;     // reply being assembled (lines so far)
  std::deque<Reply> complete_;
};

}  // namespace smtp

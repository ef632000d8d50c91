// Incremental, bounded parser for SMTP replies (RFC 5321 §4.2).
//
// The parser is pure: it never performs I/O and never allocates more than its limits allow, so it
// can be fed untrusted bytes straight from the network (and from a fuzzer). The caller feeds raw
// bytes as they arrive and pops complete replies.
//
// Accepted syntax, per RFC 5321 §4.2 and §4.2.1:
//   reply      = *( code "-" text EOL ) code [ SP text ] EOL
//   code       = 3DIGIT, first digit 2..5
//   EOL        = CRLF, or a bare LF (tolerated: some servers send it); extra CRs before the LF
//                are dropped
// A final line may be just "250" with no space (§4.2.1 permits clients to accept it).
//
// Framing that real servers get wrong is tolerated the way MTA clients tolerate it (Postfix's
// smtp_chat_resp() takes the code of the final line and reads any line that is not
// "ddd-"/"ddd "/"ddd" as a continuation), and noted in Reply::anomalies:
//   - a continuation line whose code differs from the first line's: the final line's code wins
//     ("220-x" then "421 y" is a 421);
//   - a line inside a multi-line reply that does not start with a code, and an empty line
//     between replies;
//   - a bare CR inside a line (§2.3.8 forbids it), kept as text;
//   - a line ended by a bare LF.
// The first line of every reply must still start with a code, so a peer that is not an SMTP
// server (HTTP, SSH, TLS bytes) fails on its first byte; a line longer than the limit fails too.
//
// Errors are sticky: once Feed() returns false the stream is not SMTP (or abuses the limits) and
// the connection should be dropped; error() says why.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace smtp {

// RFC 3463 enhanced status code "class.subject.detail", e.g. 5.7.1.
// Six bytes: subject and detail have at most three digits (RFC 3463 §2).
struct EnhancedStatus {
  std::uint16_t klass = 0;  // 2, 4 or 5; equals the first digit of the reply code
  std::uint16_t subject = 0;
  std::uint16_t detail = 0;
  std::string ToString() const;  // "5.7.1"
  bool operator==(const EnhancedStatus&) const = default;
};

// Framing faults a reply was accepted with (bit flags; see the top of this file).
enum ReplyAnomaly : unsigned {
  kReplyCodeChanged = 1u << 0,         // a later line carried another code; the final one wins
  kReplyLineWithoutCode = 1u << 1,     // a continuation line without a code, kept as text
  kReplyEmptyLineSkipped = 1u << 2,    // an empty line before a reply, skipped
  kReplyBareCarriageReturn = 1u << 3,  // a CR not followed by LF inside a line, kept as text
  kReplyBareLineFeed = 1u << 4,        // a line ended by LF alone (RFC 5321 §2.3.8 wants CRLF)
};
// "reply code changed between lines", ... one per flag set in `anomalies`, in flag order.
std::vector<std::string> ReplyAnomalyNames(unsigned anomalies);

struct Reply {
  int code = 0;  // 200..599: the final line's code (RFC 5321 §4.2.1)
  // RFC 3463 code of the final line, else of the first line when its class matches `code`.
  std::optional<EnhancedStatus> enhanced;
  std::vector<std::string> lines;  // each line's text after "ddd-"/"ddd ", no EOL
  unsigned anomalies = 0;          // ReplyAnomaly flags
  // Every line as received (without EOL) when a line needed repair (a changed code, a line
  // without a code, a bare CR); empty otherwise, when "code" + "-"/" " + text is the wire form.
  std::vector<std::string> wire_lines;

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
  kMalformed,      // a reply's first line does not start with a 3-digit code and "-", " " or EOL
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
  // Whether line_ (so far) can start a reply: "d", "dd", "ddd", "ddd-", "ddd " or "ddd\r".
  bool LineStartsWithCode() const;

  ReplyLimits limits_;
  ReplyError error_ = ReplyError::kNone;
  std::string line_;  // current partial line, without EOL
  Reply current_;     // reply being assembled (lines so far)
  std::deque<Reply> complete_;
  std::size_t skipped_empty_lines_ = 0;  // before the reply being assembled
};

}  // namespace smtp

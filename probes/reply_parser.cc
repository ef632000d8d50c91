// Incremental SMTP reply parser; see reply_parser.h for the contract.
#include "probes/reply_parser.h"

#include <utility>

namespace smtp {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Parses "<digit> 1*3digit" from `text` at `pos` into `value`; advances `pos`.
bool ParseShortNumber(std::string_view text, std::size_t& pos, int& value) {
  std::size_t start = pos;
  value = 0;
  while (pos < text.size() && IsDigit(text[pos]) && pos - start < 3) {
    value = value * 10 + (text[pos] - '0');
    ++pos;
  }
  return pos > start;
}

// RFC 3463 §2: status-code = class "." subject "." detail, class = "2" / "4" / "5",
// subject = 1*3digit, detail = 1*3digit. It must be followed by SP or end the text (so that
// "2.3.4.5" or "5.7.1a" are not taken for codes). On success returns the number of bytes used,
// including one trailing SP if present.
std::size_t ParseEnhanced(std::string_view text, EnhancedStatus& out) {
  if (text.size() < 5 || (text[0] != '2' && text[0] != '4' && text[0] != '5') || text[1] != '.') {
    return 0;
  }
  EnhancedStatus status;
  status.klass = text[0] - '0';
  std::size_t pos = 2;
  if (!ParseShortNumber(text, pos, status.subject)) return 0;
  if (pos >= text.size() || text[pos] != '.') return 0;
  ++pos;
  if (!ParseShortNumber(text, pos, status.detail)) return 0;
  if (pos < text.size()) {
    if (text[pos] != ' ') return 0;
    ++pos;
  }
  out = status;
  return pos;
}

// Strips an enhanced code whose class matches the reply's first digit (RFC 3463 §2: the class
// repeats the reply code's class) from the start of a line's text.
std::string_view StripEnhanced(std::string_view text, int code) {
  EnhancedStatus status;
  std::size_t used = ParseEnhanced(text, status);
  if (used == 0 || status.klass != code / 100) return text;
  return text.substr(used);
}

}  // namespace

std::string EnhancedStatus::ToString() const {
  return std::to_string(klass) + "." + std::to_string(subject) + "." + std::to_string(detail);
}

std::string Reply::Text() const {
  std::string out;
  for (const std::string& line : lines) {
    std::string_view text = StripEnhanced(line, code);
    // Empty continuation lines ("250-") would otherwise leave double spaces.
    if (text.empty()) continue;
    if (!out.empty()) out += ' ';
    out.append(text);
  }
  return out;
}

const char* ToString(ReplyError error) {
  switch (error) {
    case ReplyError::kNone:
      return "none";
    case ReplyError::kLineTooLong:
      return "line too long";
    case ReplyError::kMalformed:
      return "malformed reply";
    case ReplyError::kCodeMismatch:
      return "reply code mismatch";
    case ReplyError::kTooManyLines:
      return "too many lines in reply";
    case ReplyError::kTooManyReplies:
      return "too many unread replies";
  }
  return "unknown";
}

ReplyParser::ReplyParser(ReplyLimits limits) : limits_(limits) {}

bool ReplyParser::Fail(ReplyError error) {
  error_ = error;
  return false;
}

bool ReplyParser::Feed(std::string_view bytes) {
  if (error_ != ReplyError::kNone) return false;
  for (char c : bytes) {
    if (c == '\n') {
      // CRLF is the EOL (RFC 5321 §2.3.8); a bare LF is tolerated, and so are extra CRs before
      // it ("\r\r\n", produced by careless CRLF conversion).
      while (!line_.empty() && line_.back() == '\r') line_.pop_back();
      if (!FinishLine()) return false;
      continue;
    }
    const std::size_t pos = line_.size();
    // A CR may only be followed by more CRs or the LF (RFC 5321 §2.3.8 forbids a bare CR).
    if (pos > 0 && line_.back() == '\r' && c != '\r') return Fail(ReplyError::kMalformed);
    // Bound memory before buffering: at most max_line_bytes of text, plus one CR of the EOL.
    if (pos >= limits_.max_line_bytes && !(pos == limits_.max_line_bytes && c == '\r')) {
      return Fail(ReplyError::kLineTooLong);
    }
    // Validate the code as it arrives, so that non-SMTP peers ("HTTP/1.1 400", "SSH-2.0-...")
    // fail on their first byte instead of at the deadline. RFC 5321 §4.2: the first digit is
    // 2..5, the second 0..5, the third any digit.
    switch (pos) {
      case 0:
        if (c < '2' || c > '5') return Fail(ReplyError::kMalformed);
        break;
      case 1:
        if (c < '0' || c > '5') return Fail(ReplyError::kMalformed);
        break;
      case 2:
        if (!IsDigit(c)) return Fail(ReplyError::kMalformed);
        if (!current_.lines.empty()) {
          // RFC 5321 §4.2.1: every line of a multi-line reply carries the same code.
          int code = (line_[0] - '0') * 100 + (line_[1] - '0') * 10 + (c - '0');
          if (code != current_.code) return Fail(ReplyError::kCodeMismatch);
        }
        break;
      case 3:
        if (c != '-' && c != ' ' && c != '\r') return Fail(ReplyError::kMalformed);
        break;
      default:
        break;
    }
    line_.push_back(c);
  }
  return true;
}

bool ReplyParser::FinishLine() {
  // Digits were validated as they arrived; an EOL before the third digit is what remains.
  if (line_.size() < 3) return Fail(ReplyError::kMalformed);
  const int code = (line_[0] - '0') * 100 + (line_[1] - '0') * 10 + (line_[2] - '0');
  if (!current_.lines.empty() && code != current_.code) return Fail(ReplyError::kCodeMismatch);
  if (current_.lines.size() >= limits_.max_lines) return Fail(ReplyError::kTooManyLines);

  // "250" alone is a final line (RFC 5321 §4.2.1 lets clients accept the missing SP).
  const bool last = line_.size() == 3 || line_[3] == ' ';
  std::string text = line_.size() > 4 ? line_.substr(4) : std::string();
  if (current_.lines.empty()) {
    current_.code = code;
    EnhancedStatus status;
    if (ParseEnhanced(text, status) != 0 && status.klass == code / 100) {
      current_.enhanced = status;
    }
  }
  current_.lines.push_back(std::move(text));
  line_.clear();

  if (last) {
    if (complete_.size() >= limits_.max_pending_replies) {
      return Fail(ReplyError::kTooManyReplies);
    }
    complete_.push_back(std::move(current_));
    current_ = Reply();
  }
  return true;
}

std::optional<Reply> ReplyParser::Next() {
  if (complete_.empty()) return std::nullopt;
  Reply reply = std::move(complete_.front());
  complete_.pop_front();
  return reply;
}

bool ReplyParser::HasPendingBytes() const {
  return !line_.empty() || !current_.lines.empty() || !complete_.empty();
}

void ReplyParser::Reset() {
  error_ = ReplyError::kNone;
  line_.clear();
  current_ = Reply();
  complete_.clear();
}

}  // namespace smtp

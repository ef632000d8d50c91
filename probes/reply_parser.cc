// Incremental SMTP reply parser; see reply_parser.h for the contract.
#include "probes/reply_parser.h"

#include <utility>

namespace smtp {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Parses "<digit> 1*3digit" from `text` at `pos` into `value`; advances `pos`.
bool ParseShortNumber(std::string_view text, std::size_t& pos, std::uint16_t& value) {
  std::size_t start = pos;
  value = 0;
  while (pos < text.size() && IsDigit(text[pos]) && pos - start < 3) {
    value = static_cast<std::uint16_t>(value * 10 + (text[pos] - '0'));
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
  status.klass = static_cast<std::uint16_t>(text[0] - '0');
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

std::vector<std::string> ReplyAnomalyNames(unsigned anomalies) {
  std::vector<std::string> names;
  if (anomalies & kReplyCodeChanged) names.emplace_back("reply code changed between lines");
  if (anomalies & kReplyLineWithoutCode) names.emplace_back("reply line without a code");
  if (anomalies & kReplyEmptyLineSkipped) names.emplace_back("empty line between replies");
  if (anomalies & kReplyBareCarriageReturn) names.emplace_back("bare CR inside a reply line");
  if (anomalies & kReplyBareLineFeed) names.emplace_back("bare LF line ending");
  return names;
}

const char* ToString(ReplyError error) {
  switch (error) {
    case ReplyError::kNone:
      return "none";
    case ReplyError::kLineTooLong:
      return "line too long";
    case ReplyError::kMalformed:
      return "malformed reply";
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

bool ReplyParser::LineStartsWithCode() const {
  // RFC 5321 §4.2: the first digit is 2..5 (a reply's class), then two digits, then "-", " " or
  // the end of the line.
  const std::size_t size = line_.size();
  // CRs alone may still become an empty line (skipped between replies).
  if (size > 0 && line_[0] == '\r') return line_.find_first_not_of('\r') == std::string::npos;
  if (size > 0 && (line_[0] < '2' || line_[0] > '5')) return false;
  if (size > 1 && !IsDigit(line_[1])) return false;
  if (size > 2 && !IsDigit(line_[2])) return false;
  if (size > 3 && line_[3] != '-' && line_[3] != ' ' && line_[3] != '\r') return false;
  if (size > 4 && line_[3] == '\r' && line_[4] != '\r') return false;  // "250\rx"
  return true;
}

bool ReplyParser::Feed(std::string_view bytes) {
  if (error_ != ReplyError::kNone) return false;
  for (char c : bytes) {
    if (c == '\n') {
      // CRLF is the EOL (RFC 5321 §2.3.8); a bare LF is tolerated, and so are extra CRs before
      // it ("\r\r\n", produced by careless CRLF conversion).
      if (line_.empty() || line_.back() != '\r') current_.anomalies |= kReplyBareLineFeed;
      while (!line_.empty() && line_.back() == '\r') line_.pop_back();
      if (!FinishLine()) return false;
      continue;
    }
    // Bound memory before buffering: at most max_line_bytes of text, plus one CR of the EOL.
    const std::size_t pos = line_.size();
    if (pos >= limits_.max_line_bytes && !(pos == limits_.max_line_bytes && c == '\r')) {
      return Fail(ReplyError::kLineTooLong);
    }
    line_.push_back(c);
    // The first line of a reply is checked as it arrives, so that non-SMTP peers ("HTTP/1.1
    // 400", "SSH-2.0-...", a TLS record) fail on their first byte instead of at the deadline.
    // Later lines of a multi-line reply are tolerated as continuation text (see the header).
    if (current_.lines.empty() && pos < 5 && !LineStartsWithCode()) {
      return Fail(ReplyError::kMalformed);
    }
  }
  return true;
}

bool ReplyParser::FinishLine() {
  // A bare CR inside the text (§2.3.8 forbids it) is kept as text, as Postfix's client does.
  if (line_.find('\r') != std::string::npos) current_.anomalies |= kReplyBareCarriageReturn;
  const bool first = current_.lines.empty();
  const bool coded = line_.size() >= 3 && LineStartsWithCode();
  if (first && line_.empty()) {
    // An empty line between replies: skipped, but counted so that a stream of them is bounded.
    if (++skipped_empty_lines_ > limits_.max_lines) return Fail(ReplyError::kTooManyLines);
    current_.anomalies |= kReplyEmptyLineSkipped;
    return true;
  }
  if (first && !coded) return Fail(ReplyError::kMalformed);  // "2", "25": EOL too early
  if (current_.lines.size() >= limits_.max_lines) return Fail(ReplyError::kTooManyLines);

  std::string text;
  bool last = false;
  const int previous_code = current_.code;
  if (coded && (line_.size() == 3 || line_[3] == '-' || line_[3] == ' ')) {
    const int code = (line_[0] - '0') * 100 + (line_[1] - '0') * 10 + (line_[2] - '0');
    if (!first && code != current_.code) current_.anomalies |= kReplyCodeChanged;
    current_.code = code;  // RFC 5321 §4.2.1 and Postfix: the final line's code decides
    // "250" alone is a final line (RFC 5321 §4.2.1 lets clients accept the missing SP).
    last = line_.size() == 3 || line_[3] == ' ';
    text = line_.size() > 4 ? line_.substr(4) : std::string();
  } else if (first) {
    return Fail(ReplyError::kMalformed);  // "250\rx": no separator after the code
  } else {
    current_.anomalies |= kReplyLineWithoutCode;
    text = line_;
  }
  // Once a line needed repair, the reply keeps every line as it was received, so that a
  // transcript shows what the server sent. The lines before were well-formed continuations of
  // the code they carried: "ddd-text".
  if (current_.anomalies & (kReplyCodeChanged | kReplyLineWithoutCode | kReplyBareCarriageReturn)) {
    for (std::size_t i = current_.wire_lines.size(); i < current_.lines.size(); ++i) {
      current_.wire_lines.push_back(std::to_string(previous_code) + "-" + current_.lines[i]);
    }
    current_.wire_lines.push_back(line_);
  }
  current_.lines.push_back(std::move(text));
  line_.clear();
  if (last) {
    // RFC 3463 §2: the enhanced code's class repeats the reply's; the final line's wins.
    for (const std::string* line : {&current_.lines.back(), &current_.lines.front()}) {
      EnhancedStatus status;
      if (ParseEnhanced(*line, status) != 0 && status.klass == current_.code / 100) {
        current_.enhanced = status;
        break;
      }
    }
  }

  if (last) {
    if (complete_.size() >= limits_.max_pending_replies) {
      return Fail(ReplyError::kTooManyReplies);
    }
    complete_.push_back(std::move(current_));
    current_ = Reply();
    skipped_empty_lines_ = 0;
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
  skipped_empty_lines_ = 0;
  line_.clear();
  current_ = Reply();
  complete_.clear();
}

}  // namespace smtp

// The escaping kit; see escape.h for the contract.
#include "probes/escape.h"

#include <algorithm>
#include <cstdio>

#include "probes/text.h"

namespace smtp {
namespace {

constexpr std::string_view kReplacementCharacter = "\xEF\xBF\xBD";  // U+FFFD

// The one UTF-8 walk of the kit. Walks `text`: each ASCII byte goes to `ascii(out, byte)`, each
// valid multi-byte sequence is appended as it is, each byte that starts no valid sequence becomes
// `replacement`. A piece (a character as `ascii` wrote it, a sequence, a replacement) that would
// take `out` past `max_size` is taken back and ends the walk, so no piece is ever split.
// With `escape_invisible`, the characters IsInvisibleControl names become \uNNNN.
// The code point of one valid UTF-8 sequence (RFC 3629 §3).
char32_t CodePoint(std::string_view sequence) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(sequence[k]); };
  switch (sequence.size()) {
    case 1:
      return byte(0);
    case 2:
      return (char32_t(byte(0) & 0x1f) << 6) | (byte(1) & 0x3f);
    case 3:
      return (char32_t(byte(0) & 0x0f) << 12) | (char32_t(byte(1) & 0x3f) << 6) | (byte(2) & 0x3f);
    default:
      return (char32_t(byte(0) & 0x07) << 18) | (char32_t(byte(1) & 0x3f) << 12) |
             (char32_t(byte(2) & 0x3f) << 6) | (byte(3) & 0x3f);
  }
}

// Characters that change how a terminal shows other text without being seen themselves: the C1
// controls U+0080..U+009F (some terminals obey them like ESC sequences, U+009B being CSI) and the
// bidirectional formatting characters of Unicode TR #9 (U+200E, U+200F, U+202A..U+202E,
// U+2066..U+2069), which reorder what follows ("Trojan Source", CVE-2021-42574).
bool IsInvisibleControl(char32_t code) {
  return (code >= 0x80 && code <= 0x9f) || code == 0x200e || code == 0x200f ||
         (code >= 0x202a && code <= 0x202e) || (code >= 0x2066 && code <= 0x2069);
}

template <typename Ascii>
void AppendUtf8(std::string& out, std::string_view text, std::string_view replacement, Ascii ascii,
                std::size_t max_size = std::string::npos, bool escape_invisible = false) {
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t before = out.size();
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      ascii(out, c);
      ++i;
    } else if (const std::size_t length = Utf8SequenceLength(text.substr(i)); length == 0) {
      out += replacement;
      ++i;
    } else if (const char32_t code = CodePoint(text.substr(i, length));
               escape_invisible && IsInvisibleControl(code)) {
      char escape[8];
      std::snprintf(escape, sizeof escape, "\\u%04x", static_cast<unsigned>(code));
      out += escape;
      i += length;
    } else {
      out.append(text.substr(i, length));
      i += length;
    }
    if (out.size() > max_size) {
      out.resize(before);
      return;
    }
  }
}

bool IsControl(unsigned char c) { return c < 0x20 || c == 0x7f; }

// Text shown as it is (HTML, label values) keeps tab and line feed and loses the other control
// characters (CR, NUL, ESC, DEL, ...), which could rewrite what a reader sees.
void AppendShownAscii(std::string& out, unsigned char c) {
  if (IsControl(c) && c != '\t' && c != '\n') {
    out += kReplacementCharacter;
  } else {
    out += static_cast<char>(c);
  }
}

void AppendHexEscape(std::string& out, const char* format, unsigned char c) {
  char escape[8];
  std::snprintf(escape, sizeof escape, format, c);
  out += escape;
}

}  // namespace

void AppendJsonString(std::string& out, std::string_view text) {
  out += '"';
  AppendUtf8(out, text, "\\ufffd", [](std::string& o, unsigned char c) {
    switch (c) {
      case '"':
        o += "\\\"";
        break;
      case '\\':
        o += "\\\\";
        break;
      case '\n':
        o += "\\n";
        break;
      case '\r':
        o += "\\r";
        break;
      case '\t':
        o += "\\t";
        break;
      default:
        if (IsControl(c)) {
          AppendHexEscape(o, "\\u%04x", c);
        } else {
          o += static_cast<char>(c);
        }
    }
  });
  out += '"';
}

std::string EscapeHtml(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  AppendUtf8(out, text, kReplacementCharacter, [](std::string& o, unsigned char c) {
    switch (c) {
      case '&':
        o += "&amp;";
        break;
      case '<':
        o += "&lt;";
        break;
      case '>':
        o += "&gt;";
        break;
      case '"':
        o += "&quot;";
        break;
      case '\'':
        o += "&#39;";
        break;
      default:
        AppendShownAscii(o, c);
    }
  });
  return out;
}

void AppendEscapedText(std::string& out, std::string_view text, bool quoted) {
  if (quoted) out += '"';
  AppendUtf8(out, text, kReplacementCharacter, [quoted](std::string& o, unsigned char c) {
    if (quoted && (c == '"' || c == '\\')) {
      o += '\\';
      o += static_cast<char>(c);
    } else if (c == '\n') {
      o += "\\n";
    } else if (c == '\r') {
      o += "\\r";
    } else if (c == '\t') {
      o += "\\t";
    } else if (IsControl(c)) {
      AppendHexEscape(o, "\\x%02x", c);
    } else {
      o += static_cast<char>(c);
    }
  });
  if (quoted) out += '"';
}

std::string EscapeTerminalText(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  AppendUtf8(
      out, text, kReplacementCharacter,
      [](std::string& o, unsigned char c) {
        if (IsControl(c) && c != '\n' && c != '\t') {
          AppendHexEscape(o, "\\x%02x", c);
        } else {
          o += static_cast<char>(c);
        }
      },
      std::string::npos, /*escape_invisible=*/true);
  return out;
}

void AppendLogfmtValue(std::string& out, std::string_view value) {
  bool bare = !value.empty();
  for (unsigned char c : value) {
    if (c <= ' ' || c == '"' || c == '=' || c == 0x7f) bare = false;
  }
  AppendEscapedText(out, value, /*quoted=*/!bare);
}

std::string ValidUtf8Text(std::string_view text, std::size_t max_bytes) {
  std::string out;
  out.reserve(std::min(text.size(), max_bytes));
  AppendUtf8(out, text, kReplacementCharacter, AppendShownAscii, max_bytes);
  return out;
}

}  // namespace smtp

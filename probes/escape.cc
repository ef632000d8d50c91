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
// With `escape_c1`, the C1 controls (U+0080..U+009F, valid UTF-8) become \u00NN.
template <typename Ascii>
void AppendUtf8(std::string& out, std::string_view text, std::string_view replacement, Ascii ascii,
                std::size_t max_size = std::string::npos, bool escape_c1 = false) {
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t before = out.size();
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      ascii(out, c);
      ++i;
    } else if (const std::size_t length = Utf8SequenceLength(text.substr(i)); length == 0) {
      out += replacement;
      ++i;
    } else if (escape_c1 && length == 2 && c == 0xc2 &&
               static_cast<unsigned char>(text[i + 1]) < 0xa0) {
      char escape[8];
      std::snprintf(escape, sizeof escape, "\\u%04x", static_cast<unsigned char>(text[i + 1]));
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
      std::string::npos, /*escape_c1=*/true);
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

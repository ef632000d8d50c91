// The escaping kit; see escape.h for the contract.
#include "probes/escape.h"

#include <cstdio>

#include "probes/text.h"

namespace smtp {
namespace {

constexpr std::string_view kReplacementCharacter = "\xEF\xBF\xBD";  // U+FFFD

// Walks `text`: each ASCII byte goes to `ascii(out, byte)`, each valid multi-byte sequence is
// appended as it is, each byte that starts no valid sequence becomes `replacement`.
template <typename Ascii>
void AppendUtf8(std::string& out, std::string_view text, std::string_view replacement,
                Ascii ascii) {
  for (std::size_t i = 0; i < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      ascii(out, c);
      ++i;
      continue;
    }
    const std::size_t length = Utf8SequenceLength(text.substr(i));
    if (length == 0) {
      out += replacement;
      ++i;
    } else {
      out.append(text.substr(i, length));
      i += length;
    }
  }
}

bool IsControl(unsigned char c) { return c < 0x20 || c == 0x7f; }

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
      case '\t':
      case '\n':
        o += static_cast<char>(c);
        break;
      default:
        if (IsControl(c)) {
          o += kReplacementCharacter;
        } else {
          o += static_cast<char>(c);
        }
    }
  });
  return out;
}

void AppendLogfmtValue(std::string& out, std::string_view value) {
  bool bare = !value.empty();
  for (unsigned char c : value) {
    if (c <= ' ' || c == '"' || c == '=' || c == 0x7f) bare = false;
  }
  if (bare) {
    AppendUtf8(out, value, kReplacementCharacter,
               [](std::string& o, unsigned char c) { o += static_cast<char>(c); });
    return;
  }
  out += '"';
  AppendUtf8(out, value, kReplacementCharacter, [](std::string& o, unsigned char c) {
    if (c == '"' || c == '\\') {
      o += '\\';
      o += static_cast<char>(c);
    } else if (c == '\n') {
      o += "\\n";
    } else if (IsControl(c)) {
      AppendHexEscape(o, "\\x%02x", c);
    } else {
      o += static_cast<char>(c);
    }
  });
  out += '"';
}

}  // namespace smtp

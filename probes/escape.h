// The one escaping kit: server-supplied text (banners, reply lines, certificate names) made safe
// for each output the project writes. Every function passes valid UTF-8 through and replaces each
// byte that starts no valid sequence (RFC 3629 §4: a stray continuation byte, a truncated or
// overlong sequence, a surrogate, a code point past U+10FFFF) with U+FFFD, so the output is
// always valid UTF-8 whatever a hostile server sent. Pure.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace smtp {

// A JSON string with its quotes (RFC 8259 §7): `"` and `\` escaped, \n \r \t by name, other
// control characters (and DEL) as \u00XX, invalid bytes as \ufffd.
void AppendJsonString(std::string& out, std::string_view text);

// HTML text and quoted attribute values: `&`, `<`, `>`, `"` and `'` become character references;
// control characters other than tab and line feed (CR, NUL, ESC, DEL, ...) become U+FFFD.
std::string EscapeHtml(std::string_view text);

// Text for a one-line message (a log field, a config error): \n, \r and \t by name, other
// control characters as \xNN; with `quoted`, inside double quotes with `"` and `\` escaped.
void AppendEscapedText(std::string& out, std::string_view text, bool quoted);

// Text for a terminal or a text/plain body (the CLI's transcript and report, /probe?debug=true,
// the HTTP server's plain-text answers), kept line by line: line feed and tab pass; CR, ESC, BEL,
// BS, NUL, the other C0 controls and DEL become \xNN, and the C1 controls U+0080..U+009F (which
// some terminals obey like ESC sequences, U+009B being CSI) and the bidirectional formatting
// characters (U+200E, U+200F, U+202A..U+202E, U+2066..U+2069: they reorder what follows) become
// \uNNNN, so a banner cannot move the cursor, retitle the window, hide or reorder text.
// Idempotent: its output passes unchanged.
std::string EscapeTerminalText(std::string_view text);

// A logfmt value: bare when it is non-empty and has no space, `"`, `=` or control character;
// otherwise AppendEscapedText(quoted).
void AppendLogfmtValue(std::string& out, std::string_view value);

// `text` as valid UTF-8 without control characters, at most `max_bytes` long, for a format that
// escapes its own delimiters but must not carry anything else raw (Prometheus label values): each
// invalid byte and each control character other than tab and line feed becomes U+FFFD, as in
// EscapeHtml(); the text is cut before the first character (or U+FFFD) that does not fit whole,
// never inside one.
std::string ValidUtf8Text(std::string_view text, std::size_t max_bytes = std::string_view::npos);

}  // namespace smtp

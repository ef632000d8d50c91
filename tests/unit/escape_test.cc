// The escaping kit (probes/escape.h): whatever a server sent, each output stays valid.
#include "probes/escape.h"

#include <gtest/gtest.h>

#include <string>

namespace smtp {
namespace {

std::string Json(std::string_view text) {
  std::string out;
  AppendJsonString(out, text);
  return out;
}

std::string Logfmt(std::string_view text) {
  std::string out;
  AppendLogfmtValue(out, text);
  return out;
}

// RFC 8259 §7: quotation mark, reverse solidus and control characters escaped; §8.1 UTF-8.
TEST(EscapeTest, JsonStrings) {
  EXPECT_EQ(Json("plain"), R"("plain")");
  EXPECT_EQ(Json("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(Json("\n\r\t"), R"("\n\r\t")");
  EXPECT_EQ(Json(std::string("nul\0del\x7f", 8)), R"("nul\u0000del\u007f")");
  EXPECT_EQ(Json("caf\xc3\xa9"), "\"caf\xc3\xa9\"");
  EXPECT_EQ(Json("bad\xff\xc3("), R"("bad\ufffd\ufffd(")");
  EXPECT_EQ(Json("\xed\xa0\x80"), R"("\ufffd\ufffd\ufffd")");  // a surrogate, byte by byte
}

TEST(EscapeTest, HtmlText) {
  EXPECT_EQ(EscapeHtml("<a href='x'>\"&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&quot;&amp;&quot;&lt;/a&gt;");
  EXPECT_EQ(EscapeHtml("tab\tline\n"), "tab\tline\n");
  EXPECT_EQ(EscapeHtml("cr\rnul"), "cr\xEF\xBF\xBDnul");
  EXPECT_EQ(EscapeHtml("\xc0\xaf"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // overlong
}

// Terminals and text/plain pages (issue 13, item 8): what a banner sends cannot drive the
// reader's terminal; text, line feeds and tabs pass.
TEST(EscapeTest, TerminalText) {
  EXPECT_EQ(EscapeTerminalText("220 mx ESMTP\n\tok"), "220 mx ESMTP\n\tok");
  EXPECT_EQ(EscapeTerminalText("\x1b[2J\x1b[31mred"), "\\x1b[2J\\x1b[31mred");  // CSI
  EXPECT_EQ(EscapeTerminalText("\x1b]0;pwned\x07"), "\\x1b]0;pwned\\x07");      // OSC title
  EXPECT_EQ(EscapeTerminalText("abc\b\b\bxyz"), "abc\\x08\\x08\\x08xyz");       // BS
  EXPECT_EQ(EscapeTerminalText(std::string("nul\0del\x7f cr\r", 12)), "nul\\x00del\\x7f cr\\x0d");
  EXPECT_EQ(EscapeTerminalText("\xc2\x9b"
                               "31m"),
            "\\u009b31m");  // C1 CSI, as UTF-8
  EXPECT_EQ(EscapeTerminalText("bad\xff\x9b\xc3("), "bad\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD(");
  EXPECT_EQ(EscapeTerminalText("caf\xc3\xa9 \xc2\xa0"), "caf\xc3\xa9 \xc2\xa0");  // é, NBSP
  // Found by the issue's reviewer: a right-to-left override (U+202E) reached the terminal and
  // reordered the rest of the line. Bidi formatting characters are escaped like C1 controls.
  EXPECT_EQ(EscapeTerminalText("220 \xe2\x80\xaemx.example\xe2\x80\xac ESMTP"),
            "220 \\u202emx.example\\u202c ESMTP");
  EXPECT_EQ(EscapeTerminalText("\xe2\x80\x8e\xe2\x80\x8f\xe2\x81\xa6\xe2\x81\xa9"),
            "\\u200e\\u200f\\u2066\\u2069");  // LRM, RLM, LRI, PDI
  EXPECT_EQ(EscapeTerminalText("\xe2\x80\x94 \xe2\x80\xaf \xf0\x9f\x93\xa7"),
            "\xe2\x80\x94 \xe2\x80\xaf \xf0\x9f\x93\xa7");  // em dash, NNBSP, envelope pass
  const std::string hostile = "\x1b[1;1H\xc2\x85\xff\x07\\x1b\xe2\x80\xae";
  EXPECT_EQ(EscapeTerminalText(EscapeTerminalText(hostile)), EscapeTerminalText(hostile));
}

TEST(EscapeTest, LogfmtValues) {
  EXPECT_EQ(Logfmt("bare"), "bare");
  EXPECT_EQ(Logfmt(""), R"("")");
  EXPECT_EQ(Logfmt("a b"), R"("a b")");
  EXPECT_EQ(Logfmt("a=b"), R"("a=b")");
  EXPECT_EQ(Logfmt("say \"hi\"\n\x1b"), R"("say \"hi\"\n\x1b")");
  EXPECT_EQ(Logfmt("caf\xc3\xa9\xff"), "caf\xc3\xa9\xEF\xBF\xBD");
}

// Prometheus label values: valid UTF-8, no control characters but tab and line feed, bounded.
TEST(EscapeTest, ValidUtf8TextKeepsTextAndEscapableCharacters) {
  EXPECT_EQ(ValidUtf8Text("mx.example.org"), "mx.example.org");
  EXPECT_EQ(ValidUtf8Text("a\"b\\c\nd\te<&>"), "a\"b\\c\nd\te<&>");  // the format escapes
  EXPECT_EQ(ValidUtf8Text("P\xc3\xb6stfix \xe2\x98\x83 \xf0\x9d\x84\x9e"),
            "P\xc3\xb6stfix \xe2\x98\x83 \xf0\x9d\x84\x9e");  // ö, snowman, G clef
  EXPECT_EQ(ValidUtf8Text(""), "");
}

TEST(EscapeTest, ValidUtf8TextReplacesInvalidBytesAndControls) {
  const std::string r = "\xEF\xBF\xBD";
  EXPECT_EQ(ValidUtf8Text("a\xff"
                          "b"),
            "a" + r + "b");
  EXPECT_EQ(ValidUtf8Text("\xc0\xaf"), r + r);                  // overlong "/"
  EXPECT_EQ(ValidUtf8Text("\xed\xa0\x80"), r + r + r);          // UTF-16 surrogate
  EXPECT_EQ(ValidUtf8Text("\xf4\x90\x80\x80"), r + r + r + r);  // above U+10FFFF
  EXPECT_EQ(ValidUtf8Text("\xe2\x98"), r + r);                  // truncated sequence
  EXPECT_EQ(ValidUtf8Text(std::string("a\rb\0c\x7f\x1b", 7)), "a" + r + "b" + r + "c" + r + r);
}

TEST(EscapeTest, ValidUtf8TextIsCutBetweenCharacters) {
  EXPECT_EQ(ValidUtf8Text(std::string(10000, 'x'), 512), std::string(512, 'x'));
  std::string snowmen;
  for (int i = 0; i < 1000; ++i) snowmen += "\xe2\x98\x83";  // 3 bytes each
  const std::string cut = ValidUtf8Text(snowmen, 512);
  EXPECT_EQ(cut.size(), 510u);
  EXPECT_EQ(ValidUtf8Text(cut, 512), cut);
  // A replacement (3 bytes) is not split either, and nothing after it is taken.
  const std::string invalid_in_the_middle = std::string("ab") + '\xff' + "cd";
  EXPECT_EQ(ValidUtf8Text(invalid_in_the_middle, 4), "ab");
  EXPECT_EQ(ValidUtf8Text(invalid_in_the_middle, 5), "ab\xEF\xBF\xBD");
  EXPECT_EQ(ValidUtf8Text("abc", 0), "");
}

}  // namespace
}  // namespace smtp

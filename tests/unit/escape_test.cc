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

TEST(EscapeTest, LogfmtValues) {
  EXPECT_EQ(Logfmt("bare"), "bare");
  EXPECT_EQ(Logfmt(""), R"("")");
  EXPECT_EQ(Logfmt("a b"), R"("a b")");
  EXPECT_EQ(Logfmt("a=b"), R"("a=b")");
  EXPECT_EQ(Logfmt("say \"hi\"\n\x1b"), R"("say \"hi\"\n\x1b")");
  EXPECT_EQ(Logfmt("caf\xc3\xa9\xff"), "caf\xc3\xa9\xEF\xBF\xBD");
}

}  // namespace
}  // namespace smtp

// Log lines as operators and log shippers read them: logfmt or JSON, one line each.
#include "daemon/log.h"

#include <gtest/gtest.h>

namespace smtp {
namespace {

TEST(LoggerTest, LogfmtQuotesOnlyWhatNeedsIt) {
  Logger logger(LogLevel::kInfo, LogFormat::kLogfmt);
  EXPECT_EQ(logger.Format(LogLevel::kInfo, "2026-11-28T18:33:30.123Z", "reload succeeded",
                          {{"targets", "12"}, {"file", "/etc/smtp_exporter/smtp_exporter.yml"}}),
            "ts=2026-11-28T18:33:30.123Z level=info msg=\"reload succeeded\" targets=12 "
            "file=/etc/smtp_exporter/smtp_exporter.yml");
}

TEST(LoggerTest, LogfmtEscapesQuotesNewlinesAndControlCharacters) {
  Logger logger(LogLevel::kDebug, LogFormat::kLogfmt);
  EXPECT_EQ(logger.Format(LogLevel::kWarn, "t", "m",
                          {{"err", "line one\nsaid \"no\"\x1b"}, {"empty", ""}, {"eq", "a=b"}}),
            "ts=t level=warn msg=m err=\"line one\\nsaid \\\"no\\\"\\x1b\" empty=\"\" eq=\"a=b\"");
}

TEST(LoggerTest, JsonIsOneObjectPerLine) {
  Logger logger(LogLevel::kInfo, LogFormat::kJson);
  EXPECT_EQ(
      logger.Format(LogLevel::kError, "t", "cannot start", {{"err", "port \"9025\"\tin use"}}),
      R"({"ts":"t","level":"error","msg":"cannot start","err":"port \"9025\"\tin use"})");
}

// A banner or a target label may hold any bytes; the log stays valid UTF-8 (and valid JSON).
TEST(LoggerTest, InvalidUtf8BecomesTheReplacementCharacter) {
  Logger json(LogLevel::kInfo, LogFormat::kJson);
  EXPECT_EQ(json.Format(LogLevel::kInfo, "t", "m", {{"banner", "caf\xc3\xa9 \xff"}}),
            R"({"ts":"t","level":"info","msg":"m","banner":"café \ufffd"})");
  Logger logfmt(LogLevel::kInfo, LogFormat::kLogfmt);
  EXPECT_EQ(logfmt.Format(LogLevel::kInfo, "t", "m", {{"banner", "caf\xc3\xa9\xff"}}),
            "ts=t level=info msg=m banner=café\xEF\xBF\xBD");
}

TEST(LoggerTest, LevelsFilter) {
  Logger logger(LogLevel::kWarn, LogFormat::kLogfmt);
  EXPECT_FALSE(logger.Enabled(LogLevel::kDebug));
  EXPECT_FALSE(logger.Enabled(LogLevel::kInfo));
  EXPECT_TRUE(logger.Enabled(LogLevel::kWarn));
  EXPECT_TRUE(logger.Enabled(LogLevel::kError));
}

TEST(LoggerTest, ParsesFlagValuesStrictly) {
  EXPECT_EQ(ParseLogLevel("debug"), LogLevel::kDebug);
  EXPECT_EQ(ParseLogLevel("error"), LogLevel::kError);
  EXPECT_FALSE(ParseLogLevel("DEBUG").has_value());
  EXPECT_FALSE(ParseLogLevel("warning").has_value());
  EXPECT_EQ(ParseLogFormat("json"), LogFormat::kJson);
  EXPECT_FALSE(ParseLogFormat("text").has_value());
}

}  // namespace
}  // namespace smtp

// What `smtp_exporter probe` tells a person (transcript, report) and a script (JSON). The verdict
// itself is specified in verdict_test.cc.
#include "probes/result_format.h"

#include <gtest/gtest.h>

#include "tests/unit/healthy_result.h"

namespace smtp {
namespace {

using std::chrono::milliseconds;

using testing::HealthyResult;
using testing::kDay;
using testing::kNow;

TEST(TranscriptTest, PrefixesTimeAndDirection) {
  ProbeResult result;
  result.transcript.push_back({milliseconds(0), '*', "connected to 192.0.2.25 port 25"});
  result.transcript.push_back({milliseconds(12), 'S', "220 mx.example.org ESMTP"});
  result.transcript.push_back({milliseconds(13), 'C', "EHLO probe.example.org"});
  EXPECT_EQ(FormatTranscript(result),
            "[     0.0 ms]    connected to 192.0.2.25 port 25\n"
            "[    12.0 ms] S: 220 mx.example.org ESMTP\n"
            "[    13.0 ms] C: EHLO probe.example.org\n");
}

// The text renderers escape like the JSON and HTML ones (issue 13, item 8): terminal control
// bytes and invalid UTF-8 from a banner, a reply, a certificate name or a STARTTLS error reach
// neither `smtp_exporter probe`'s output nor /probe?debug=true raw.
TEST(TranscriptTest, ControlBytesFromTheServerAreEscaped) {
  ProbeResult result = HealthyResult();
  const std::string hostile =
      std::string("220 \x1b[2J\x1b]0;owned\x07mx\b\x7f\xc2\x9b\xff") + std::string(1, '\0');
  result.transcript.push_back({milliseconds(1), 'S', hostile});
  result.greeting = GreetingInfo{};
  result.greeting->hostname = "mx\x1b[31m";
  result.starttls_offered = true;
  result.starttls_success = false;
  result.starttls_error = "alert \x1b]52;c;bad\x07";
  const std::string transcript = FormatTranscript(result);
  EXPECT_NE(
      transcript.find("S: 220 \\x1b[2J\\x1b]0;owned\\x07mx\\x08\\x7f\\u009b\xEF\xBF\xBD\\x00\n"),
      std::string::npos)
      << transcript;
  const std::string report = FormatReport(result, Judge(result, kNow));
  EXPECT_NE(report.find("greeting:     mx\\x1b[31m"), std::string::npos) << report;
  EXPECT_NE(report.find("alert \\x1b]52;c;bad\\x07"), std::string::npos) << report;
  for (const std::string& text : {transcript, report}) {
    for (unsigned char c : text) {
      EXPECT_TRUE(c >= 0x20 || c == '\n' || c == '\t') << static_cast<int>(c);
      EXPECT_NE(c, 0x7f);
    }
  }
}

TEST(JsonTest, EscapesWhateverTheServerSent) {
  ProbeResult result = HealthyResult();
  StepResult greeting;
  greeting.step = Step::kGreeting;
  greeting.reply_code = 220;
  greeting.ok = true;
  result.steps.push_back(greeting);
  result.greeting = GreetingInfo{};
  result.greeting->hostname = "mx\"quoted\\";
  result.greeting_lines = {"tab\there", std::string("nul\0byte", 8), "caf\xc3\xa9", "bad\xff\xc3(",
                           "del\x7f"};
  std::string json = ToJson(result, Judge(result, kNow));
  EXPECT_NE(json.find(R"("hostname":"mx\"quoted\\")"), std::string::npos) << json;
  EXPECT_NE(
      json.find(R"("lines":["tab\there","nul\u0000byte","café","bad\ufffd\ufffd(","del\u007f"])"),
      std::string::npos)
      << json;
  EXPECT_EQ(json.back(), '\n');
}

TEST(JsonTest, GreetingOtherThan220HasNoNameSoftwareOrVersion) {
  ProbeResult result;
  StepResult greeting;
  greeting.step = Step::kGreeting;
  greeting.reply_code = 451;
  result.steps.push_back(greeting);
  result.greeting_lines = {"local error"};
  std::string json = ToJson(result, Judge(result, kNow));
  EXPECT_NE(json.find(R"("greeting":{"code":451,"hostname":null,"software":null,"version":null,)"
                      R"("lines":["local error"]})"),
            std::string::npos)
      << json;
}

TEST(JsonTest, RelayCarriesVerdictCatchAllAndEveryAttempt) {
  ProbeResult result = HealthyResult();
  result.relay->ran = true;
  CatchAllCheck check;
  check.domain = "mx.test";
  check.rcpt_to = "<nobody@mx.test>";
  check.mail_code = 250;
  check.rcpt_code = 250;
  result.relay->catch_all_checks.push_back(check);
  RelayAttempt hack;
  hack.variant = "percent_name";
  hack.rcpt_to = "<relay-test%example.net@mx.test>";
  hack.hack = true;
  hack.local_domain = "mx.test";
  hack.mail_code = 250;
  hack.rcpt_code = 250;
  result.relay->attempts.push_back(hack);
  ClassifyRelayResult(*result.relay);
  std::string json = ToJson(result, Judge(result, kNow));
  for (const char* expected :
       {R"("verdict":"closed")", R"("open":false,"complete":true,"catch_all":true)",
        R"("hack":true,"mail_code":250,"rcpt_code":250,"outcome":"catch_all")",
        R"("catch_all_checks":[{"domain":"mx.test","rcpt_to":"<nobody@mx.test>",)"
        R"("mail_code":250,"rcpt_code":250,"accepted":true}])"}) {
    EXPECT_NE(json.find(expected), std::string::npos) << expected << " in " << json;
  }
}

// Numbers keep every digit they have: a Unix time its microseconds, a duration its nanoseconds.
TEST(JsonTest, NumbersReadBackExactly) {
  ProbeResult result = HealthyResult();
  result.started_at = std::chrono::system_clock::time_point(std::chrono::seconds(1796083200) +
                                                            std::chrono::microseconds(123456));
  result.duration = std::chrono::nanoseconds(12'345'678);
  std::string json = ToJson(result, Judge(result, kNow));
  EXPECT_NE(json.find(R"("started_at":1796083200.123456)"), std::string::npos) << json;
  EXPECT_NE(json.find(R"(:0.012345678)"), std::string::npos) << json;
  EXPECT_EQ(json.find("e+"), std::string::npos) << json;
}

TEST(JsonTest, UsesNullForFactsNotLearned) {
  ProbeResult result;
  result.host = "192.0.2.25";
  result.port = 25;
  result.failed_step = Step::kConnect;
  result.failure_reason = FailureReason::kRefused;
  std::string json = ToJson(result, Judge(result, kNow));
  for (const char* expected :
       {R"("target":"192.0.2.25:25")", R"("healthy":false)", R"("failed_step":"connect")",
        R"("failure_reason":"refused")", R"("greeting":null)", R"("esmtp":null)",
        R"("capabilities":null)", R"("tls":null)", R"("offered":null)", R"("success":null)",
        R"("relay":{"verdict":"not_tested","summary":"not tested","ran":false,"open":false,)",
        R"("catch_all":null)"}) {
    EXPECT_NE(json.find(expected), std::string::npos) << expected << " in " << json;
  }
}

}  // namespace
}  // namespace smtp

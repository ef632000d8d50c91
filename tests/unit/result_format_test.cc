// What `smtp_exporter probe` tells a person (verdict, findings, transcript) and a script (JSON).
#include "probes/result_format.h"

#include <gtest/gtest.h>

namespace smtp {
namespace {

using std::chrono::milliseconds;

constexpr std::int64_t kNow = 1'800'000'000;
constexpr std::int64_t kDay = 86400;

ProbeResult HealthyResult() {
  ProbeResult result;
  result.host = "192.0.2.25";
  result.port = 25;
  result.success = true;
  result.esmtp = true;
  result.capabilities = Capabilities{};
  result.capabilities->starttls = true;
  result.starttls_offered = true;
  result.starttls_success = true;
  result.tls = TlsInfo{};
  result.tls->handshake_ok = true;
  result.tls->chain_verified = true;
  result.tls->hostname_verified = true;
  result.tls->earliest_not_after = kNow + 90 * kDay;
  return result;
}

bool Contains(const std::vector<std::string>& findings, std::string_view text) {
  for (const std::string& finding : findings) {
    if (finding.find(text) != std::string::npos) return true;
  }
  return false;
}

TEST(JudgeTest, HealthyServerIsUpWithoutFindings) {
  Verdict verdict = Judge(HealthyResult(), kNow);
  EXPECT_TRUE(verdict.healthy);
  EXPECT_EQ(verdict.summary, "UP");
  EXPECT_TRUE(verdict.findings.empty()) << verdict.findings.front();
}

TEST(JudgeTest, FailedProbeNamesStepReasonAndCode) {
  ProbeResult result;
  result.success = false;
  result.failed_step = Step::kGreeting;
  result.failure_reason = FailureReason::kRejected;
  result.failure_detail = "greeting 554 instead of 220";
  StepResult greeting;
  greeting.step = Step::kGreeting;
  greeting.reply_code = 554;
  result.steps.push_back(greeting);
  Verdict verdict = Judge(result, kNow);
  EXPECT_FALSE(verdict.healthy);
  EXPECT_EQ(verdict.summary,
            "DOWN: greeting failed (rejected), reply 554: greeting 554 instead of 220");
}

TEST(JudgeTest, OpenRelayIsUnhealthyEvenWhenEveryStepSucceeded) {
  ProbeResult result = HealthyResult();
  result.relay.ran = true;
  result.relay.open = true;
  Verdict verdict = Judge(result, kNow);
  EXPECT_FALSE(verdict.healthy);
  EXPECT_EQ(verdict.summary.rfind("UNHEALTHY: open relay", 0), 0u);
}

TEST(JudgeTest, OpportunisticTlsProblemsAreFindingsNotFailures) {
  ProbeResult result = HealthyResult();
  result.tls->chain_verified = false;
  result.tls->verify_error = "self-signed certificate";
  result.tls->earliest_not_after = kNow + 3 * kDay;
  Verdict verdict = Judge(result, kNow);
  EXPECT_TRUE(verdict.healthy);
  EXPECT_TRUE(Contains(verdict.findings, "certificate not verified: self-signed certificate"));
  EXPECT_TRUE(Contains(verdict.findings, "certificate expires in 3 days"));
}

TEST(JudgeTest, ReportsExpiredCertificateAuthBeforeTlsAndInjection) {
  ProbeResult result = HealthyResult();
  result.tls->earliest_not_after = kNow - kDay;
  result.capabilities->auth_mechanisms = {"LOGIN", "PLAIN"};
  result.plaintext_after_starttls = true;
  Verdict verdict = Judge(result, kNow);
  EXPECT_TRUE(Contains(verdict.findings, "certificate expired on"));
  EXPECT_TRUE(Contains(verdict.findings, "AUTH offered before TLS: LOGIN PLAIN"));
  EXPECT_TRUE(Contains(verdict.findings, "plaintext after its STARTTLS 220"));
}

TEST(JudgeTest, ReportsMissingStartTlsHeloOnlyAndInconclusiveRelay) {
  ProbeResult no_tls = HealthyResult();
  no_tls.starttls_offered = false;
  no_tls.starttls_success.reset();
  no_tls.tls.reset();
  EXPECT_TRUE(Contains(Judge(no_tls, kNow).findings, "STARTTLS not offered"));

  ProbeResult helo_only = HealthyResult();
  helo_only.esmtp = false;
  EXPECT_TRUE(Contains(Judge(helo_only, kNow).findings, "HELO"));

  ProbeResult greylisted = HealthyResult();
  greylisted.relay.ran = true;
  RelayAttempt attempt;
  attempt.variant = "external";
  attempt.mail_code = 250;
  attempt.rcpt_code = 450;
  attempt.outcome = RelayOutcome::kInconclusive;
  greylisted.relay.attempts.push_back(attempt);
  EXPECT_TRUE(Contains(Judge(greylisted, kNow).findings, "relay variant external inconclusive (450)"));
}

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

TEST(JsonTest, EscapesWhateverTheServerSent) {
  ProbeResult result = HealthyResult();
  result.greeting = GreetingInfo{};
  result.greeting->hostname = "mx\"quoted\\";
  result.greeting_lines = {"tab\there", std::string("nul\0byte", 8), "caf\xc3\xa9",
                           "bad\xff\xc3(", "del\x7f"};
  std::string json = ToJson(result, Judge(result, kNow));
  EXPECT_NE(json.find(R"("hostname":"mx\"quoted\\")"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("lines":["tab\there","nul\u0000byte","café","bad\ufffd\ufffd(","del\u007f"])"),
            std::string::npos)
      << json;
  EXPECT_EQ(json.back(), '\n');
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
        R"("capabilities":null)", R"("tls":null)", R"("success":null)",
        R"("relay":{"ran":false,"open":false,"attempts":[]})"}) {
    EXPECT_NE(json.find(expected), std::string::npos) << expected << " in " << json;
  }
}

}  // namespace
}  // namespace smtp

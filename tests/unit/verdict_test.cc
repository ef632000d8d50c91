// Specification of the one verdict (probes/verdict.h): the relay outcome of each attempt, the relay
// verdict of a test, and the health verdict with its findings. Every renderer (CLI text, JSON,
// metrics, status page, logs) shows what these functions decide.
#include "probes/verdict.h"

#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <vector>

#include "tests/unit/healthy_result.h"

namespace smtp {
namespace {

using testing::HealthyResult;
using testing::kDay;
using testing::kNow;

// ---------------------------------------------------------------------------------------------
// One attempt: RFC 5321 §4.2.1 reads the first digit; hacks need the catch-all answer.

struct AttemptCase {
  std::string name;
  bool hack;
  int mail_code;
  int rcpt_code;
  int catch_all_rcpt_code;  // the random local part's RCPT at the hack's name; 0 = not asked
  RelayOutcome outcome;
  friend void PrintTo(const AttemptCase& c, std::ostream* os) { *os << c.name; }
};

class Attempt : public ::testing::TestWithParam<AttemptCase> {};

TEST_P(Attempt, IsClassified) {
  const AttemptCase& c = GetParam();
  RelayResult relay;
  relay.ran = true;
  if (c.catch_all_rcpt_code != 0) {
    CatchAllCheck check;
    check.domain = "mx.test";
    check.mail_code = 250;
    check.rcpt_code = c.catch_all_rcpt_code;
    relay.catch_all_checks.push_back(check);
  }
  RelayAttempt attempt;
  attempt.variant = c.name;
  attempt.hack = c.hack;
  attempt.local_domain = c.hack ? "mx.test" : "";
  attempt.mail_code = c.mail_code;
  attempt.rcpt_code = c.rcpt_code;
  relay.attempts.push_back(attempt);
  ClassifyRelayResult(relay);
  EXPECT_EQ(ToString(relay.attempts[0].outcome), std::string(ToString(c.outcome)));
}

INSTANTIATE_TEST_SUITE_P(
    Rfc5321, Attempt,
    ::testing::Values(
        // Foreign as written: any 2yz is an acceptance, nonstandard ones included.
        AttemptCase{"Foreign250", false, 250, 250, 0, RelayOutcome::kAccepted},
        AttemptCase{"Foreign251", false, 250, 251, 0, RelayOutcome::kAccepted},
        AttemptCase{"Foreign252CannotVrfyButWillAccept", false, 250, 252, 0,
                    RelayOutcome::kAccepted},
        AttemptCase{"Foreign254Nonstandard", false, 250, 254, 0, RelayOutcome::kAccepted},
        AttemptCase{"ForeignRefused554", false, 250, 554, 0, RelayOutcome::kRefused},
        AttemptCase{"ForeignSyntaxError501IsARefusal", false, 250, 501, 0, RelayOutcome::kRefused},
        AttemptCase{"Greylisted450", false, 250, 450, 0, RelayOutcome::kInconclusive},
        AttemptCase{"AuthRequiredAtRcpt", false, 250, 530, 0, RelayOutcome::kAuthRequired},
        AttemptCase{"AuthRequiredAtMail", false, 530, 0, 0, RelayOutcome::kAuthRequired},
        AttemptCase{"SenderRefused553", false, 553, 0, 0, RelayOutcome::kRefused},
        AttemptCase{"SenderGreylisted451", false, 451, 0, 0, RelayOutcome::kInconclusive},
        AttemptCase{"NeverAsked", false, 0, 0, 0, RelayOutcome::kNotRun},
        AttemptCase{"RcptNeverAnswered", false, 250, 0, 0, RelayOutcome::kNotRun},
        // Hacks: a 2yz proves a relay only where a random local part is refused.
        AttemptCase{"HackAtCatchAll", true, 250, 250, 250, RelayOutcome::kCatchAll},
        AttemptCase{"HackAtCatchAll252", true, 250, 252, 252, RelayOutcome::kCatchAll},
        AttemptCase{"HackParsedWhereRandomPartRefused", true, 250, 250, 550,
                    RelayOutcome::kAccepted},
        AttemptCase{"HackWhereRandomPartUnanswered", true, 250, 250, 0,
                    RelayOutcome::kInconclusive},
        AttemptCase{"HackWhereRandomPartGreylisted", true, 250, 250, 450,
                    RelayOutcome::kInconclusive},
        AttemptCase{"HackRefused", true, 250, 550, 250, RelayOutcome::kRefused}),
    [](const auto& test_info) { return test_info.param.name; });

// ---------------------------------------------------------------------------------------------
// A whole relay test: open / closed / inconclusive / not tested.

RelayAttempt Attempted(std::string variant, int mail_code, int rcpt_code, bool hack = false) {
  RelayAttempt attempt;
  attempt.variant = std::move(variant);
  attempt.hack = hack;
  attempt.local_domain = hack ? "mx.test" : "";
  attempt.mail_code = mail_code;
  attempt.rcpt_code = rcpt_code;
  return attempt;
}

CatchAllCheck CatchAll(int rcpt_code) {
  CatchAllCheck check;
  check.domain = "mx.test";
  check.mail_code = 250;
  check.rcpt_code = rcpt_code;
  return check;
}

struct RelayCase {
  std::string name;
  std::vector<CatchAllCheck> checks;
  std::vector<RelayAttempt> attempts;
  bool over_tls;
  bool starttls_offered;
  RelayVerdict verdict;
  std::optional<bool> catch_all;
  friend void PrintTo(const RelayCase& c, std::ostream* os) { *os << c.name; }
};

class Relay : public ::testing::TestWithParam<RelayCase> {};

TEST_P(Relay, IsJudged) {
  const RelayCase& c = GetParam();
  RelayResult relay;
  relay.ran = true;
  relay.catch_all_checks = c.checks;
  relay.attempts = c.attempts;
  relay.over_tls = c.over_tls;
  relay.starttls_offered = c.starttls_offered;
  ClassifyRelayResult(relay);
  const RelayJudgement judgement = JudgeRelay(relay);
  EXPECT_EQ(ToString(judgement.verdict), std::string(ToString(c.verdict))) << judgement.summary;
  EXPECT_EQ(judgement.catch_all, c.catch_all);
  EXPECT_EQ(judgement.verdict == RelayVerdict::kOpen, !judgement.proof.empty());
}

INSTANTIATE_TEST_SUITE_P(
    Design, Relay,
    ::testing::Values(
        RelayCase{"EveryVariantRefused",
                  {CatchAll(550)},
                  {Attempted("external", 250, 554), Attempted("percent_name", 250, 554, true)},
                  true,
                  false,
                  RelayVerdict::kClosed,
                  false},
        // Haraka inbound, aiosmtpd, Postfix luser_relay: hacks delivered locally are not relaying.
        RelayCase{"CatchAllAcceptsHacksButRefusesForeign",
                  {CatchAll(250)},
                  {Attempted("external", 250, 554), Attempted("percent_name", 250, 250, true),
                   Attempted("bang_name", 250, 250, true)},
                  false,
                  false,
                  RelayVerdict::kClosed,
                  true},
        RelayCase{"HackParsedIsOpen",
                  {CatchAll(550)},
                  {Attempted("external", 250, 554), Attempted("percent_name", 250, 250, true)},
                  false,
                  false,
                  RelayVerdict::kOpen,
                  false},
        RelayCase{"ForeignAcceptedWith252IsOpen",
                  {},
                  {Attempted("external", 250, 252)},
                  false,
                  false,
                  RelayVerdict::kOpen,
                  std::nullopt},
        // A test cut short is inconclusive, unless a completed variant already proved it open.
        RelayCase{"CutShortIsInconclusive",
                  {CatchAll(550)},
                  {Attempted("external", 250, 554), Attempted("percent_name", 0, 0, true)},
                  false,
                  false,
                  RelayVerdict::kInconclusive,
                  false},
        RelayCase{"CutShortAfterAProofIsOpen",
                  {},
                  {Attempted("null_sender", 250, 250), Attempted("external", 0, 0)},
                  false,
                  false,
                  RelayVerdict::kOpen,
                  std::nullopt},
        RelayCase{"GreylistedIsInconclusive",
                  {},
                  {Attempted("external", 250, 450)},
                  false,
                  false,
                  RelayVerdict::kInconclusive,
                  std::nullopt},
        RelayCase{"HackAtUnansweredCatchAllIsInconclusive",
                  {CatchAll(450)},
                  {Attempted("percent_name", 250, 250, true)},
                  false,
                  false,
                  RelayVerdict::kInconclusive,
                  std::nullopt},
        // RFC 3207 §4: 530 before STARTTLS may just mean "use TLS first".
        RelayCase{"AuthRequiredInPlaintextWhileStartTlsOfferedIsInconclusive",
                  {},
                  {Attempted("external", 530, 0)},
                  false,
                  true,
                  RelayVerdict::kInconclusive,
                  std::nullopt},
        RelayCase{"AuthRequiredOverTlsIsClosed",
                  {},
                  {Attempted("external", 250, 530)},
                  true,
                  true,
                  RelayVerdict::kClosed,
                  std::nullopt},
        RelayCase{"AuthRequiredWithoutStartTlsIsClosed",
                  {},
                  {Attempted("external", 530, 0)},
                  false,
                  false,
                  RelayVerdict::kClosed,
                  std::nullopt},
        RelayCase{"NoVariantCouldBeBuiltIsInconclusive",
                  {},
                  {},
                  false,
                  false,
                  RelayVerdict::kInconclusive,
                  std::nullopt}),
    [](const auto& test_info) { return test_info.param.name; });

TEST(JudgeRelayTest, NotRunIsNotTested) {
  EXPECT_EQ(JudgeRelay(RelayResult{}).verdict, RelayVerdict::kNotTested);
  EXPECT_EQ(JudgeRelay(RelayResult{}).summary, "not tested");
}

TEST(JudgeRelayTest, SummaryNamesWhatWasNotRunAndWhy) {
  RelayResult relay;
  relay.ran = true;
  relay.attempts = {Attempted("external", 250, 554), Attempted("null_sender", 0, 0),
                    Attempted("bang_name", 0, 0, true)};
  relay.stop_reason = FailureReason::kTimeout;
  relay.stop_detail = "the relay test's time budget ran out";
  ClassifyRelayResult(relay);
  EXPECT_EQ(JudgeRelay(relay).summary,
            "inconclusive: 2 of 3 variants not run (timeout: the relay test's time budget ran "
            "out)");
}

// ---------------------------------------------------------------------------------------------
// The whole verdict: health, relay and findings.

bool Contains(const std::vector<std::string>& findings, std::string_view text) {
  for (const std::string& finding : findings) {
    if (finding.find(text) != std::string::npos) return true;
  }
  return false;
}

TEST(JudgeTest, HealthyServerIsUpWithoutFindings) {
  Verdict verdict = Judge(HealthyResult(), kNow);
  EXPECT_TRUE(verdict.up);
  EXPECT_TRUE(verdict.healthy);
  EXPECT_EQ(verdict.summary, "UP");
  EXPECT_TRUE(verdict.findings.empty()) << verdict.findings.front();
}

TEST(JudgeTest, FailedProbeNamesStepReasonAndCode) {
  ProbeResult result;
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

// The step's last reply answered an earlier command, not the one that timed out.
TEST(JudgeTest, TimeoutDoesNotNameAnEarlierReply) {
  ProbeResult result;
  result.failed_step = Step::kEhlo;
  result.failure_reason = FailureReason::kTimeout;
  result.failure_detail = "deadline exceeded (waiting for the reply to EHLO)";
  StepResult ehlo;
  ehlo.step = Step::kEhlo;
  ehlo.reply_code = 250;
  result.steps.push_back(ehlo);
  EXPECT_EQ(Judge(result, kNow).summary,
            "DOWN: ehlo failed (timeout): deadline exceeded (waiting for the reply to EHLO)");
}

TEST(JudgeTest, OpenRelayIsUnhealthyEvenWhenEveryStepSucceeded) {
  ProbeResult result = HealthyResult();
  result.relay->ran = true;
  result.relay->attempts = {Attempted("external", 250, 250)};
  ClassifyRelayResult(*result.relay);
  Verdict verdict = Judge(result, kNow);
  EXPECT_TRUE(verdict.up);
  EXPECT_FALSE(verdict.healthy);
  EXPECT_EQ(verdict.summary, "UNHEALTHY: open relay (external (250) accepted at RCPT)");
}

// The daemon keeps the verdict of the last relay run between relay runs.
TEST(JudgeTest, KeptRelayResultIsJudgedWhenTheProbeRanNone) {
  RelayResult kept;
  kept.ran = true;
  kept.attempts = {Attempted("external", 250, 250)};
  ClassifyRelayResult(kept);
  Verdict verdict = Judge(HealthyResult(), kNow, &kept);
  EXPECT_EQ(verdict.relay.verdict, RelayVerdict::kOpen);
  EXPECT_FALSE(verdict.healthy);
}

TEST(JudgeTest, InconclusiveRelayIsAFindingNotUnhealthy) {
  ProbeResult result = HealthyResult();
  result.relay->ran = true;
  result.relay->attempts = {Attempted("external", 250, 450)};
  ClassifyRelayResult(*result.relay);
  Verdict verdict = Judge(result, kNow);
  EXPECT_TRUE(verdict.healthy);
  EXPECT_EQ(verdict.relay.verdict, RelayVerdict::kInconclusive);
  EXPECT_TRUE(Contains(verdict.findings, "relay variant external inconclusive (450)"));
  EXPECT_TRUE(Contains(verdict.findings, "relay test inconclusive"));
}

// MTAs trust local clients: over loopback an acceptance speaks for the prober only.
TEST(JudgeTest, RelayTestOverLoopbackSaysSoUnlessClosed) {
  ProbeResult result = HealthyResult();
  result.dns.connected_address = "127.0.0.1";
  result.relay->ran = true;
  result.relay->attempts = {Attempted("external", 250, 250)};
  ClassifyRelayResult(*result.relay);
  EXPECT_TRUE(Contains(Judge(result, kNow).findings, "relay test ran over loopback"));

  result.relay->attempts = {Attempted("external", 250, 554)};
  ClassifyRelayResult(*result.relay);
  EXPECT_FALSE(Contains(Judge(result, kNow).findings, "loopback"));

  result.dns.connected_address = "192.0.2.25";
  result.relay->attempts = {Attempted("external", 250, 250)};
  ClassifyRelayResult(*result.relay);
  EXPECT_FALSE(Contains(Judge(result, kNow).findings, "loopback"));
}

TEST(JudgeTest, CatchAllIsAFinding) {
  ProbeResult result = HealthyResult();
  result.relay->ran = true;
  result.relay->catch_all_checks = {CatchAll(250)};
  result.relay->attempts = {Attempted("external", 250, 554)};
  ClassifyRelayResult(*result.relay);
  EXPECT_TRUE(Contains(Judge(result, kNow).findings, "accepts any local part at RCPT"));
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

TEST(JudgeTest, FailedHandshakeWithPlaintextFallbackIsAFinding) {
  ProbeResult result = HealthyResult();
  result.tls = TlsInfo{};
  result.starttls_success = false;
  result.starttls_error = "TLS handshake failed: unexpected eof";
  result.plaintext_fallback = true;
  Verdict verdict = Judge(result, kNow);
  EXPECT_TRUE(verdict.healthy);
  EXPECT_TRUE(Contains(verdict.findings,
                       "STARTTLS failed: TLS handshake failed: unexpected eof (went on in "
                       "plaintext"));
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

// Unknown is not "no": without an EHLO reply nothing is said about STARTTLS.
TEST(JudgeTest, StartTlsNotOfferedOnlyWhenKnown) {
  ProbeResult no_tls = HealthyResult();
  no_tls.starttls_offered = false;
  no_tls.starttls_success.reset();
  no_tls.tls.reset();
  EXPECT_TRUE(Contains(Judge(no_tls, kNow).findings, "STARTTLS not offered"));

  ProbeResult unknown = no_tls;
  unknown.starttls_offered.reset();
  EXPECT_FALSE(Contains(Judge(unknown, kNow).findings, "STARTTLS"));

  ProbeResult helo_only = HealthyResult();
  helo_only.esmtp = false;
  EXPECT_TRUE(Contains(Judge(helo_only, kNow).findings, "HELO"));
}

TEST(JudgeTest, ToleratedReplyAnomaliesAreFindings) {
  ProbeResult result = HealthyResult();
  result.reply_anomalies = {"reply code changed between lines"};
  EXPECT_TRUE(Contains(Judge(result, kNow).findings,
                       "malformed reply tolerated: reply code changed between lines"));
}

TEST(ClassifyEnumerationTest, RealConfirmedAndRandomRefusedIsExposed) {
  EXPECT_EQ(ClassifyEnumeration(250, 550), EnumerationResult::kExposed);
  EXPECT_EQ(ClassifyEnumeration(251, 550), EnumerationResult::kExposed);
  EXPECT_EQ(ClassifyEnumeration(250, 553), EnumerationResult::kExposed);
  // Postfix with disable_vrfy_command, and servers that cannot verify (RFC 5321 §3.5.3).
  EXPECT_EQ(ClassifyEnumeration(502, 502), EnumerationResult::kNotExposed);
  EXPECT_EQ(ClassifyEnumeration(252, 252), EnumerationResult::kNotExposed);
  // Postfix with VRFY on: 252 for a known user, 550 for an unknown one: told apart.
  EXPECT_EQ(ClassifyEnumeration(252, 550), EnumerationResult::kExposed);
  EXPECT_EQ(ClassifyEnumeration(550, 550), EnumerationResult::kNotExposed);
  EXPECT_EQ(ClassifyEnumeration(530, 530), EnumerationResult::kNotExposed);
  // Yes to everything tells nothing apart.
  EXPECT_EQ(ClassifyEnumeration(250, 250), EnumerationResult::kNotExposed);
  // No definite answer.
  EXPECT_EQ(ClassifyEnumeration(450, 550), EnumerationResult::kInconclusive);
  EXPECT_EQ(ClassifyEnumeration(250, 450), EnumerationResult::kInconclusive);
  EXPECT_EQ(ClassifyEnumeration(250, 0), EnumerationResult::kInconclusive);
  EXPECT_EQ(ClassifyEnumeration(0, 0), EnumerationResult::kInconclusive);
  // Exim: 252 "Administrative prohibition" for postmaster, 501 (no domain) for a bare random
  // name: a syntax answer says nothing about the user.
  EXPECT_EQ(ClassifyEnumeration(252, 501), EnumerationResult::kInconclusive);
  EXPECT_EQ(ClassifyEnumeration(250, 500), EnumerationResult::kInconclusive);
}

TEST(JudgeTest, UserEnumerationIsAFindingPerExposedMethod) {
  ProbeResult result = HealthyResult();
  result.user_enumeration->ran = true;
  result.user_enumeration->checks = {
      {"vrfy", "postmaster", 250, "smtp-exporter-nobody-1", 550, EnumerationResult::kExposed},
      {"expn", "postmaster", 502, "smtp-exporter-nobody-1", 502, EnumerationResult::kNotExposed}};
  result.relay->ran = true;
  result.relay->catch_all_checks = {{"mx.test", "<x@mx.test>", 250, 550, std::nullopt}};
  result.relay->attempts = {{"external", "<a@example.org>", "<b@example.net>", false, "", 250, 554,
                             RelayOutcome::kNotRun}};
  ClassifyRelayResult(*result.relay);
  const Verdict verdict = Judge(result, kNow);
  EXPECT_TRUE(verdict.healthy) << "an exposure is a finding, not a failure";
  EXPECT_TRUE(Contains(verdict.findings,
                       "users can be enumerated with VRFY: 250 for postmaster, 550 for a random "
                       "name"));
  EXPECT_FALSE(Contains(verdict.findings, "with EXPN"));
  EXPECT_TRUE(Contains(verdict.findings, "users can be enumerated with RCPT"));
  EXPECT_EQ(RcptEnumeration(verdict.relay), EnumerationResult::kExposed);
}

TEST(JudgeTest, AuthFindings) {
  // PLAIN offered on a session that never got TLS.
  ProbeResult result = HealthyResult();
  result.tls.reset();
  result.starttls_offered = false;
  result.starttls_success.reset();
  result.capabilities->auth_mechanisms = {"CRAM-MD5", "LOGIN", "PLAIN"};
  EXPECT_TRUE(Contains(Judge(result, kNow).findings,
                       "PLAIN/LOGIN offered without TLS: the password would cross the network "
                       "readable"));
  // A submission port whose TLS session offers no AUTH.
  ProbeResult submission = HealthyResult();
  submission.port = 587;
  submission.tls_capabilities = Capabilities{};
  EXPECT_TRUE(
      Contains(Judge(submission, kNow).findings, "no AUTH after TLS on submission port 587"));
  submission.tls_capabilities->auth_mechanisms = {"PLAIN"};
  EXPECT_FALSE(Contains(Judge(submission, kNow).findings, "no AUTH"));
}

}  // namespace
}  // namespace smtp

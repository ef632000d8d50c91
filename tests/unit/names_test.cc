// The names users see in config files, metric labels and transcripts (DESIGN §1, §2).
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "probes/probe_result.h"
#include "probes/probe_spec.h"

namespace smtp {
namespace {

TEST(StartTlsModeTest, RoundTrips) {
  for (StartTlsMode mode :
       {StartTlsMode::kOff, StartTlsMode::kOpportunistic, StartTlsMode::kRequired}) {
    EXPECT_EQ(ParseStartTlsMode(ToString(mode)), mode);
  }
  EXPECT_STREQ(ToString(StartTlsMode::kOff), "off");
  EXPECT_STREQ(ToString(StartTlsMode::kOpportunistic), "opportunistic");
  EXPECT_STREQ(ToString(StartTlsMode::kRequired), "required");
}

TEST(StartTlsModeTest, ParsingIsStrict) {
  for (const char* bad : {"", "Off", "OFF", "on", "true", "opportunistic ", "require"}) {
    EXPECT_FALSE(ParseStartTlsMode(bad).has_value()) << bad;
  }
}

TEST(IpProtocolTest, RoundTrips) {
  for (IpProtocol protocol : {IpProtocol::kIp4, IpProtocol::kIp6, IpProtocol::kBoth}) {
    EXPECT_EQ(ParseIpProtocol(ToString(protocol)), protocol);
  }
  EXPECT_STREQ(ToString(IpProtocol::kIp4), "ip4");
  EXPECT_STREQ(ToString(IpProtocol::kIp6), "ip6");
  EXPECT_STREQ(ToString(IpProtocol::kBoth), "both");
}

TEST(IpProtocolTest, ParsingIsStrict) {
  for (const char* bad : {"", "ipv4", "IP4", "4", "tcp4", "dual"}) {
    EXPECT_FALSE(ParseIpProtocol(bad).has_value()) << bad;
  }
}

struct StepName {
  Step step;
  const char* name;
};

TEST(StepTest, NamesAreTheMetricLabelValues) {
  const StepName table[] = {
      {Step::kResolve, "resolve"},
      {Step::kConnect, "connect"},
      {Step::kTls, "tls"},
      {Step::kGreeting, "greeting"},
      {Step::kEhlo, "ehlo"},
      {Step::kHelo, "helo"},
      {Step::kStartTls, "starttls"},
      {Step::kTlsEhlo, "tls_ehlo"},
      {Step::kRelay, "relay"},
      {Step::kUserEnumeration, "user_enumeration"},
      {Step::kAuth, "auth"},
      {Step::kQuit, "quit"},
      {Step::kReverseDns, "reverse_dns"},
  };
  for (const StepName& row : table) EXPECT_STREQ(ToString(row.step), row.name);
}

TEST(FailureReasonTest, NamesAreTheClosedSetOfDesign) {
  EXPECT_STREQ(ToString(FailureReason::kNone), "");
  std::set<std::string> names;
  for (FailureReason reason :
       {FailureReason::kDns, FailureReason::kRefused, FailureReason::kTimeout,
        FailureReason::kUnreachable, FailureReason::kReset, FailureReason::kTls,
        FailureReason::kProtocol, FailureReason::kRejected, FailureReason::kForbidden}) {
    names.insert(ToString(reason));
  }
  EXPECT_EQ(names, (std::set<std::string>{"dns", "refused", "timeout", "unreachable", "reset",
                                          "tls", "protocol", "rejected", "forbidden"}));
}

TEST(AuthOutcomeTest, NamesAreTheMetricLabelValues) {
  std::set<std::string> names;
  for (AuthOutcome outcome : kAuthOutcomes) names.insert(ToString(outcome));
  EXPECT_EQ(names,
            (std::set<std::string>{"success", "bad_credentials", "too_weak", "temporary_failure",
                                   "encryption_required", "rejected", "not_offered",
                                   "no_common_mechanism", "plaintext_refused", "error"}));
}

TEST(EnumerationResultTest, NamesAreTheMetricLabelValues) {
  EXPECT_STREQ(ToString(EnumerationResult::kExposed), "exposed");
  EXPECT_STREQ(ToString(EnumerationResult::kNotExposed), "not_exposed");
  EXPECT_STREQ(ToString(EnumerationResult::kInconclusive), "inconclusive");
}

TEST(RelayOutcomeTest, NamesAreTheMetricLabelValues) {
  EXPECT_STREQ(ToString(RelayOutcome::kAccepted), "accepted");
  EXPECT_STREQ(ToString(RelayOutcome::kRefused), "refused");
  EXPECT_STREQ(ToString(RelayOutcome::kInconclusive), "inconclusive");
  EXPECT_STREQ(ToString(RelayOutcome::kAuthRequired), "auth_required");
}

TEST(ProbeResultTest, FindStepReturnsTheRecordedStepOrNull) {
  ProbeResult result;
  EXPECT_EQ(result.FindStep(Step::kConnect), nullptr);
  StepResult connect;
  connect.step = Step::kConnect;
  connect.ok = true;
  StepResult greeting;
  greeting.step = Step::kGreeting;
  greeting.reply_code = 554;
  result.steps = {connect, greeting};
  ASSERT_NE(result.FindStep(Step::kGreeting), nullptr);
  EXPECT_EQ(result.FindStep(Step::kGreeting)->reply_code, 554);
  EXPECT_TRUE(result.FindStep(Step::kConnect)->ok);
  EXPECT_EQ(result.FindStep(Step::kEhlo), nullptr);
}

}  // namespace
}  // namespace smtp

// The probe engine end to end: RunProbe against scripted fake SMTP servers on 127.0.0.1.
//
// Every case states the verdict (success), the failing step and its reason, the reply codes of
// the steps that ran, and what the server received: never DATA or BDAT, and QUIT whenever the
// channel was still sane. Timing bounds are generous (a loaded 2-core machine must pass) except
// where the point is being fast.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

#include "probes/probe_result.h"
#include "probes/probe_spec.h"
#include "probes/prober.h"
#include "tests/fake/fake_smtp_server.h"
#include "tests/fake/test_certs.h"

namespace smtp::testing {
namespace {

using std::chrono::milliseconds;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::Ge;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Le;
using ::testing::Not;
using ::testing::SizeIs;
using Clock = std::chrono::steady_clock;

constexpr milliseconds kTimeout{10000};
// "Fast" means: decided by what the server said, not by the 10 s deadline.
constexpr milliseconds kFast{2000};

double Seconds(std::chrono::nanoseconds duration) {
  return std::chrono::duration<double>(duration).count();
}

// The steps that ran, one string each: "name", then the reply code when there was one, then the
// failure reason when the step failed, e.g. "connect", "greeting 554 rejected", "quit 221".
std::vector<std::string> Steps(const ProbeResult& result) {
  std::vector<std::string> steps;
  for (const StepResult& step : result.steps) {
    std::string text = ToString(step.step);
    if (step.reply_code != 0) text += " " + std::to_string(step.reply_code);
    if (!step.ok) text += std::string(" ") + ToString(step.reason);
    steps.push_back(text);
  }
  return steps;
}

std::string FailedStep(const ProbeResult& result) {
  return result.failed_step ? ToString(*result.failed_step) : "";
}

std::string Transcript(const ProbeResult& result) {
  std::string text;
  for (const TranscriptLine& line : result.transcript) {
    char at[32];
    std::snprintf(at, sizeof at, "%8.3f ", Seconds(line.at));
    text += at;
    text += line.direction;
    text += ": ";
    text += line.text.substr(0, 200);
    text += "\n";
  }
  return text;
}

// A probe of the fake server with the defaults of these tests: IP literal (nothing is ever
// resolved), opportunistic STARTTLS verified against the test CA as "mx.test", no relay test,
// no reverse DNS.
ProbeSpec SpecFor(const FakeSmtpServer& server) {
  ProbeSpec spec;
  spec.host = "127.0.0.1";
  spec.port = server.port();
  spec.timeout = kTimeout;
  spec.ehlo_name = "probe.test";
  spec.starttls = StartTlsMode::kOpportunistic;
  spec.tls.verify = true;
  spec.tls.server_name = "mx.test";
  spec.tls.ca_file = TestPki::Get().ca_file();
  spec.check_fcrdns = false;
  spec.relay.enabled = false;
  return spec;
}

MtaBehavior WithTls(const TestCredential& credential) {
  MtaBehavior behavior;
  behavior.tls = &credential;
  return behavior;
}

class ProbeFakeServerTest : public ::testing::Test {
 protected:
  // Runs the probe, measures it from the outside, and waits until the server has seen everything
  // the client sent (so that "never DATA" is checked over the whole conversation).
  ProbeResult Probe(FakeSmtpServer& server, const ProbeSpec& spec) {
    const Clock::time_point start = Clock::now();
    result_ = RunProbe(spec);
    wall_ = Clock::now() - start;
    EXPECT_TRUE(server.WaitForSessions()) << "the server's sessions did not finish";
    EXPECT_FALSE(server.Received("DATA")) << "a prober must never send DATA";
    EXPECT_FALSE(server.Received("BDAT")) << "a prober must never send BDAT";
    EXPECT_THAT(server.anomalies(), IsEmpty());
    return result_;
  }

  void TearDown() override {
    const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
    // One line per case for the report: verdict, failing step, reason, engine-reported duration.
    std::printf("[probe] %-58s success=%d step=%-9s reason=%-9s duration=%.1fms wall=%.1fms\n",
                info->name(), result_.success, FailedStep(result_).c_str(),
                ToString(result_.failure_reason), Seconds(result_.duration) * 1e3,
                Seconds(wall_) * 1e3);
    // FAKE_SMTP_TRANSCRIPTS=1 prints every conversation, not only those of failed cases.
    if (HasFailure() || std::getenv("FAKE_SMTP_TRANSCRIPTS") != nullptr) {
      std::printf("transcript:\n%s", Transcript(result_).c_str());
      std::printf("failure detail: %s\n", result_.failure_detail.c_str());
    }
  }

  ProbeResult result_;
  Clock::duration wall_{0};
};

// ---------------------------------------------------------------------------------------------
// Healthy servers

TEST_F(ProbeFakeServerTest, HealthyServerWithStartTlsAndSecondEhlo) {
  const TestPki& pki = TestPki::Get();
  MtaBehavior behavior = WithTls(pki.leaf());
  FakeSmtpServer server([&](Session& session) { ServeStandardMta(session, behavior); });

  ProbeResult result = Probe(server, SpecFor(server));

  EXPECT_TRUE(result.success);
  EXPECT_EQ(FailedStep(result), "");
  EXPECT_EQ(result.failure_reason, FailureReason::kNone);
  EXPECT_THAT(Steps(result), ElementsAre("connect", "greeting 220", "ehlo 250", "starttls 220",
                                         "tls_ehlo 250", "quit 221"));
  const StepResult* quit = result.FindStep(Step::kQuit);
  ASSERT_NE(quit, nullptr);
  EXPECT_EQ(quit->enhanced_code, "2.0.0");  // ENHANCEDSTATUSCODES was offered
  EXPECT_THAT(server.commands(),
              ElementsAre("EHLO probe.test", "STARTTLS", "EHLO probe.test", "QUIT"));

  ASSERT_TRUE(result.greeting.has_value());
  EXPECT_EQ(result.greeting->hostname, "mx.test");
  EXPECT_EQ(result.esmtp, true);
  EXPECT_TRUE(result.starttls_offered);
  EXPECT_EQ(result.starttls_success, true);
  EXPECT_FALSE(result.plaintext_after_starttls);

  // Capabilities before and after TLS differ: AUTH only after, STARTTLS only before.
  ASSERT_TRUE(result.capabilities.has_value());
  EXPECT_TRUE(result.capabilities->starttls);
  EXPECT_THAT(result.capabilities->auth_mechanisms, IsEmpty());
  EXPECT_EQ(result.capabilities->size_limit, 10240000u);
  ASSERT_TRUE(result.tls_capabilities.has_value());
  EXPECT_FALSE(result.tls_capabilities->starttls);
  EXPECT_THAT(result.tls_capabilities->auth_mechanisms, ElementsAre("LOGIN", "PLAIN"));
  EXPECT_TRUE(result.tls_capabilities->enhancedstatuscodes);

  ASSERT_TRUE(result.tls.has_value());
  EXPECT_TRUE(result.tls->handshake_ok);
  EXPECT_THAT(result.tls->version, AllOf(HasSubstr("TLSv1."), Not(HasSubstr("TLSv1.1"))));
  EXPECT_THAT(result.tls->cipher, Not(IsEmpty()));
  EXPECT_TRUE(result.tls->chain_verified);
  EXPECT_TRUE(result.tls->hostname_verified);
  EXPECT_TRUE(result.tls->verified());
  EXPECT_EQ(result.tls->verify_error, "");
  EXPECT_EQ(result.tls->verified_name, "mx.test");
  EXPECT_EQ(result.tls->earliest_not_after, pki.leaf().not_after);
  ASSERT_THAT(result.tls->chain, SizeIs(Ge(1u)));
  const CertificateInfo& leaf = result.tls->chain.front();
  EXPECT_EQ(leaf.subject, "CN=mx.test");
  EXPECT_EQ(leaf.issuer, "CN=smtp_exporter test CA");
  EXPECT_EQ(leaf.serial, pki.leaf().serial);
  EXPECT_EQ(leaf.not_after, pki.leaf().not_after);
  EXPECT_EQ(leaf.not_before, pki.leaf().not_before);
  EXPECT_THAT(leaf.dns_names, ElementsAre("mx.test"));
  EXPECT_LT(wall_, kFast);
}

TEST_F(ProbeFakeServerTest, MultiLineBannerSentSlowlyIsAwaitedInSilence) {
  constexpr milliseconds kPause{300};
  std::atomic<bool> client_spoke_early{false};
  FakeSmtpServer server([&](Session& session) {
    // Postscreen-style greet pause: the client must not speak before the final "220 " line.
    for (const char* line :
         {"220-mx.test greet pause\r\n", "220-still checking\r\n", "220-almost there\r\n"}) {
      session.Send(line);
      session.Sleep(kPause);
    }
    client_spoke_early = session.InputPending();
    session.Send("220 mx.test ESMTP FakeMTA\r\n");
    ServeCommands(session, MtaBehavior{});
  });

  ProbeResult result = Probe(server, SpecFor(server));

  EXPECT_FALSE(client_spoke_early) << "the prober spoke before the final 220 line";
  EXPECT_TRUE(result.success);
  EXPECT_THAT(Steps(result), ElementsAre("connect", "greeting 220", "ehlo 250", "quit 221"));
  EXPECT_THAT(result.greeting_lines, SizeIs(4));
  ASSERT_TRUE(result.greeting.has_value());
  EXPECT_EQ(result.greeting->hostname, "mx.test");
  const StepResult* greeting = result.FindStep(Step::kGreeting);
  ASSERT_NE(greeting, nullptr);
  EXPECT_GE(greeting->duration, 3 * kPause) << "the banner latency ends at the final line";
  EXPECT_TRUE(server.Received("QUIT"));
}

TEST_F(ProbeFakeServerTest, BareLineFeedRepliesAreTolerated) {
  MtaBehavior behavior;
  behavior.eol = "\n";
  behavior.banner = {"mx.test ESMTP first", "second line"};
  FakeSmtpServer server([&](Session& session) { ServeStandardMta(session, behavior); });

  ProbeResult result = Probe(server, SpecFor(server));

  EXPECT_TRUE(result.success);
  EXPECT_THAT(Steps(result), ElementsAre("connect", "greeting 220", "ehlo 250", "quit 221"));
  ASSERT_TRUE(result.capabilities.has_value());
  EXPECT_EQ(result.capabilities->size_limit, 10240000u);
  EXPECT_TRUE(server.Received("QUIT"));
}

TEST_F(ProbeFakeServerTest, EhloRefusedFallsBackToHelo) {
  MtaBehavior behavior;
  behavior.ehlo_code = 502;
  FakeSmtpServer server([&](Session& session) { ServeStandardMta(session, behavior); });

  ProbeResult result = Probe(server, SpecFor(server));

  EXPECT_TRUE(result.success);
  EXPECT_EQ(FailedStep(result), "");
  EXPECT_EQ(result.esmtp, false);
  EXPECT_FALSE(result.starttls_offered);
  EXPECT_EQ(result.starttls_success, std::nullopt);
  const StepResult* ehlo = result.FindStep(Step::kEhlo);
  ASSERT_NE(ehlo, nullptr);
  EXPECT_EQ(ehlo->reply_code, 502);
  const StepResult* helo = result.FindStep(Step::kHelo);
  ASSERT_NE(helo, nullptr);
  EXPECT_EQ(helo->reply_code, 250);
  EXPECT_TRUE(helo->ok);
  EXPECT_THAT(server.commands(), ElementsAre("EHLO probe.test", "HELO probe.test", "QUIT"));
}

TEST_F(ProbeFakeServerTest, ImplicitTlsHandshakesBeforeTheGreeting) {
  const TestPki& pki = TestPki::Get();
  FakeSmtpServer::Options options;
  options.implicit_tls = &pki.leaf();
  FakeSmtpServer server([&](Session& session) { ServeStandardMta(session, MtaBehavior{}); },
                        options);
  ProbeSpec spec = SpecFor(server);
  spec.implicit_tls = true;

  ProbeResult result = Probe(server, spec);

  EXPECT_TRUE(result.success);
  EXPECT_THAT(Steps(result), ElementsAre("connect", "tls", "greeting 220", "ehlo 250", "quit 221"));
  EXPECT_TRUE(result.implicit_tls);
  ASSERT_TRUE(result.tls.has_value());
  EXPECT_TRUE(result.tls->handshake_ok);
  EXPECT_TRUE(result.tls->verified());
  EXPECT_EQ(result.tls->earliest_not_after, pki.leaf().not_after);
  ASSERT_TRUE(result.capabilities.has_value());  // the EHLO of the implicit TLS session
  EXPECT_THAT(result.capabilities->auth_mechanisms, ElementsAre("LOGIN", "PLAIN"));
  EXPECT_FALSE(server.Received("STARTTLS"));
  EXPECT_TRUE(server.Received("QUIT"));
}

// ---------------------------------------------------------------------------------------------
// Greetings that refuse service

TEST_F(ProbeFakeServerTest, Banner554FailsFastAtGreetingAndStillQuits) {
  FakeSmtpServer server([](Session& session) {
    // RFC 5321 §3.1: 554 instead of 220; the server waits for QUIT and answers the rest with 503.
    session.Reply(554, "mx.test No SMTP service here");
    while (std::optional<std::string> line = session.ReadLine()) {
      if (line->rfind("QUIT", 0) == 0) {
        session.Reply(221, "mx.test closing");
        session.Close();
        return;
      }
      session.Reply(503, "5.5.1 Bad sequence of commands");
    }
  });

  ProbeResult result = Probe(server, SpecFor(server));

  EXPECT_FALSE(result.success);
  EXPECT_EQ(FailedStep(result), "greeting");
  EXPECT_EQ(result.failure_reason, FailureReason::kRejected);
  EXPECT_THAT(Steps(result), ElementsAre("connect", "greeting 554 rejected", "quit 221"));
  EXPECT_THAT(server.commands(), ElementsAre("QUIT"));
  EXPECT_LT(wall_, kFast);
}

TEST_F(ProbeFakeServerTest, Banner421IsRejectedNotRefused) {
  FakeSmtpServer server([](Session& session) {
    // RFC 5321 §3.8: 421, then the server closes the channel.
    session.Reply(421, "mx.test Service not available, closing transmission channel");
    session.Close();
  });

  ProbeResult result = Probe(server, SpecFor(server));

  EXPECT_FALSE(result.success);
  EXPECT_EQ(FailedStep(result), "greeting");
  EXPECT_EQ(result.failure_reason, FailureReason::kRejected);
  const StepResult* greeting = result.FindStep(Step::kGreeting);
  ASSERT_NE(greeting, nullptr);
  EXPECT_EQ(greeting->reply_code, 421);
  EXPECT_FALSE(server.Received("EHLO"));
  EXPECT_LT(wall_, kFast);
}

// ---------------------------------------------------------------------------------------------
// STARTTLS

TEST_F(ProbeFakeServerTest, StartTls454IsReportedButNotFatalWhenOpportunistic) {
  MtaBehavior behavior = WithTls(TestPki::Get().leaf());
  behavior.starttls_code = 454;
  FakeSmtpServer server([&](Session& session) { ServeStandardMta(session, behavior); });

  ProbeResult result = Probe(server, SpecFor(server));

  // DESIGN §1: opportunistic STARTTLS failing is a finding (starttls_success=0), not an outage.
  EXPECT_TRUE(result.success);
  EXPECT_EQ(FailedStep(result), "");
  EXPECT_TRUE(result.starttls_offered);
  EXPECT_EQ(result.starttls_success, false);
  const StepResult* starttls = result.FindStep(Step::kStartTls);
  ASSERT_NE(starttls, nullptr);
  EXPECT_EQ(starttls->reply_code, 454);
  EXPECT_EQ(result.FindStep(Step::kTlsEhlo), nullptr);
  EXPECT_FALSE(result.tls_capabilities.has_value());
  EXPECT_THAT(server.commands(), ElementsAre("EHLO probe.test", "STARTTLS", "QUIT"));
}

TEST_F(ProbeFakeServerTest, StartTls454FailsWhenRequired) {
  MtaBehavior behavior = WithTls(TestPki::Get().leaf());
  behavior.starttls_code = 454;
  FakeSmtpServer server([&](Session& session) { ServeStandardMta(session, behavior); });
  ProbeSpec spec = SpecFor(server);
  spec.starttls = StartTlsMode::kRequired;

  ProbeResult result = Probe(server, spec);

  EXPECT_FALSE(result.success);
  EXPECT_EQ(FailedStep(result), "starttls");
  EXPECT_EQ(result.failure_reason, FailureReason::kTls);
  EXPECT_THAT(Steps(result),
              ElementsAre("connect", "greeting 220", "ehlo 250", "starttls 454 tls", "quit 221"));
  EXPECT_EQ(result.starttls_success, false);
  EXPECT_TRUE(server.Received("QUIT"));
}

TEST_F(ProbeFakeServerTest, StartTlsNotOfferedFailsOnlyWhenRequired) {
  FakeSmtpServer server([](Session& session) { ServeStandardMta(session, MtaBehavior{}); });
  ProbeSpec spec = SpecFor(server);

  ProbeResult opportunistic = Probe(server, spec);
  EXPECT_TRUE(opportunistic.success);
  EXPECT_FALSE(opportunistic.starttls_offered);
  EXPECT_FALSE(opportunistic.tls.has_value());

  spec.starttls = StartTlsMode::kRequired;
  ProbeResult required = Probe(server, spec);
  EXPECT_FALSE(required.success);
  EXPECT_EQ(FailedStep(required), "starttls");
  EXPECT_EQ(required.failure_reason, FailureReason::kTls);

  EXPECT_FALSE(server.Received("STARTTLS")) << "STARTTLS was not offered";
  EXPECT_EQ(server.CountReceived("QUIT"), 2);
}

TEST_F(ProbeFakeServerTest, StartTlsOffNeverUpgrades) {
  FakeSmtpServer server(
      [&](Session& session) { ServeStandardMta(session, WithTls(TestPki::Get().leaf())); });
  ProbeSpec spec = SpecFor(server);
  spec.starttls = StartTlsMode::kOff;

  ProbeResult result = Probe(server, spec);

  EXPECT_TRUE(result.success);
  EXPECT_TRUE(result.starttls_offered);
  EXPECT_EQ(result.starttls_success, std::nullopt);
  EXPECT_THAT(server.commands(), ElementsAre("EHLO probe.test", "QUIT"));
}

// Waits until the client has sent something (here: its ClientHello).
bool WaitForInput(Session& session, milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  while (!session.InputPending()) {
    if (Clock::now() >= deadline || !session.Sleep(milliseconds(10))) return false;
  }
  return true;
}

TEST_F(ProbeFakeServerTest, StartTlsGoAheadFollowedByPlaintextFailsAsTls) {
  MtaBehavior behavior = WithTls(TestPki::Get().leaf());
  behavior.after_starttls_go_ahead = [](Session& session) {
    WaitForInput(session, milliseconds(5000));  // the ClientHello
    session.Send("this is not a TLS ServerHello\r\n");
    return false;  // drain, then close
  };
  FakeSmtpServer server([&](Session& session) { ServeStandardMta(session, behavior); });

  ProbeResult result = Probe(server, SpecFor(server));

  EXPECT_FALSE(result.success);
  EXPECT_EQ(FailedStep(result), "starttls");
  EXPECT_EQ(result.failure_reason, FailureReason::kTls);
  const StepResult* starttls = result.FindStep(Step::kStartTls);
  ASSERT_NE(starttls, nullptr);
  EXPECT_EQ(starttls->reply_code, 220);
  EXPECT_EQ(result.starttls_success, false);
  EXPECT_FALSE(server.Received("QUIT")) << "the channel is not sane after a failed handshake";
  EXPECT_LT(wall_, kFast);
}

TEST_F(ProbeFakeServerTest, PlaintextInjectedAfterStartTlsIsDiscarded) {
  MtaBehavior behavior = WithTls(TestPki::Get().leaf());
  // CVE-2011-0411 class: a reply injected in plaintext right behind the 220, in the same segment.
  behavior.starttls_raw_reply = "220 go ahead\r\n250 injected\r\n";
  FakeSmtpServer server([&](Session& session) { ServeStandardMta(session, behavior); });

  ProbeResult result = Probe(server, SpecFor(server));

  EXPECT_TRUE(result.plaintext_after_starttls);
  EXPECT_TRUE(result.success);  // reported as a finding; the TLS session itself is sound
  EXPECT_THAT(Steps(result), ElementsAre("connect", "greeting 220", "ehlo 250", "starttls 220",
                                         "tls_ehlo 250", "quit 221"));
  // Had "250 injected" been taken as the reply to the second EHLO, the domain would be "injected".
  ASSERT_TRUE(result.tls_capabilities.has_value());
  EXPECT_EQ(result.tls_capabilities->domain, "mx.test");
  EXPECT_THAT(result.tls_capabilities->auth_mechanisms, ElementsAre("LOGIN", "PLAIN"));
  EXPECT_TRUE(server.Received("QUIT"));
}

// ---------------------------------------------------------------------------------------------
// Certificates: the handshake completes, the facts are reported, verification is its own result

TEST_F(ProbeFakeServerTest, ExpiredCertificateIsReportedNotFatalWhenOpportunistic) {
  const TestPki& pki = TestPki::Get();
  FakeSmtpServer server(
      [&](Session& session) { ServeStandardMta(session, WithTls(pki.expired_leaf())); });

  ProbeResult result = Probe(server, SpecFor(server));

  EXPECT_TRUE(result.success);
  EXPECT_THAT(Steps(result), ElementsAre("connect", "greeting 220", "ehlo 250", "starttls 220",
                                         "tls_ehlo 250", "quit 221"));
  ASSERT_TRUE(result.tls.has_value());
  EXPECT_TRUE(result.tls->handshake_ok);
  EXPECT_FALSE(result.tls->chain_verified);
  EXPECT_FALSE(result.tls->verified());
  EXPECT_THAT(result.tls->verify_error, HasSubstr("expired"));
  EXPECT_EQ(result.tls->earliest_not_after, pki.expired_leaf().not_after);
  ASSERT_THAT(result.tls->chain, SizeIs(Ge(1u)));
  EXPECT_EQ(result.tls->chain.front().serial, pki.expired_leaf().serial);
  EXPECT_TRUE(server.Received("QUIT"));
}

TEST_F(ProbeFakeServerTest, ExpiredCertificateFailsWhenRequiredAndVerified) {
  const TestPki& pki = TestPki::Get();
  FakeSmtpServer server(
      [&](Session& session) { ServeStandardMta(session, WithTls(pki.expired_leaf())); });
  ProbeSpec spec = SpecFor(server);
  spec.starttls = StartTlsMode::kRequired;

  ProbeResult result = Probe(server, spec);

  EXPECT_FALSE(result.success);
  EXPECT_EQ(FailedStep(result), "starttls");
  EXPECT_EQ(result.failure_reason, FailureReason::kTls);
  ASSERT_TRUE(result.tls.has_value());
  EXPECT_TRUE(result.tls->handshake_ok) << "facts are reported even when verification fails";
  EXPECT_EQ(result.tls->earliest_not_after, pki.expired_leaf().not_after);
  EXPECT_THAT(result.tls->verify_error, HasSubstr("expired"));
  EXPECT_TRUE(server.Received("QUIT")) << "the TLS channel is sane: say goodbye";
}

TEST_F(ProbeFakeServerTest, SelfSignedCertificateIsReportedNotFatalWhenOpportunistic) {
  const TestPki& pki = TestPki::Get();
  FakeSmtpServer server(
      [&](Session& session) { ServeStandardMta(session, WithTls(pki.self_signed())); });

  ProbeResult result = Probe(server, SpecFor(server));

  EXPECT_TRUE(result.success);
  ASSERT_TRUE(result.tls.has_value());
  EXPECT_TRUE(result.tls->handshake_ok);
  EXPECT_FALSE(result.tls->chain_verified);
  EXPECT_THAT(result.tls->verify_error, Not(IsEmpty()));
  ASSERT_THAT(result.tls->chain, SizeIs(1));
  EXPECT_EQ(result.tls->chain.front().subject, "CN=mx.test");
  EXPECT_EQ(result.tls->chain.front().issuer, "CN=mx.test");
  EXPECT_EQ(result.tls->chain.front().serial, pki.self_signed().serial);
  EXPECT_TRUE(server.Received("QUIT"));
}

TEST_F(ProbeFakeServerTest, SelfSignedCertificateFailsWhenRequiredAndVerified) {
  const TestPki& pki = TestPki::Get();
  FakeSmtpServer server(
      [&](Session& session) { ServeStandardMta(session, WithTls(pki.self_signed())); });
  ProbeSpec spec = SpecFor(server);
  spec.starttls = StartTlsMode::kRequired;

  ProbeResult result = Probe(server, spec);

  EXPECT_FALSE(result.success);
  EXPECT_EQ(FailedStep(result), "starttls");
  EXPECT_EQ(result.failure_reason, FailureReason::kTls);
  ASSERT_TRUE(result.tls.has_value());
  EXPECT_TRUE(result.tls->handshake_ok);
  EXPECT_FALSE(result.tls->verified());
  EXPECT_TRUE(server.Received("QUIT"));
}

TEST_F(ProbeFakeServerTest, SelfSignedCertificatePassesWhenRequiredWithoutVerify) {
  FakeSmtpServer server(
      [&](Session& session) { ServeStandardMta(session, WithTls(TestPki::Get().self_signed())); });
  ProbeSpec spec = SpecFor(server);
  spec.starttls = StartTlsMode::kRequired;
  spec.tls.verify = false;

  ProbeResult result = Probe(server, spec);

  EXPECT_TRUE(result.success);
  ASSERT_TRUE(result.tls.has_value());
  EXPECT_FALSE(result.tls->verified()) << "still reported, just not enforced";
  EXPECT_TRUE(server.Received("QUIT"));
}

TEST_F(ProbeFakeServerTest, HostnameMismatchIsItsOwnResult) {
  FakeSmtpServer server(
      [&](Session& session) { ServeStandardMta(session, WithTls(TestPki::Get().leaf())); });
  ProbeSpec spec = SpecFor(server);
  spec.tls.server_name = "other.test";

  ProbeResult result = Probe(server, spec);

  EXPECT_TRUE(result.success);  // opportunistic
  ASSERT_TRUE(result.tls.has_value());
  EXPECT_TRUE(result.tls->chain_verified);
  EXPECT_FALSE(result.tls->hostname_verified);
  EXPECT_EQ(result.tls->verified_name, "other.test");
  EXPECT_THAT(result.tls->verify_error, Not(IsEmpty()));
}

TEST_F(ProbeFakeServerTest, IpAddressIsVerifiedAgainstTheIpSanWithoutServerName) {
  FakeSmtpServer server(
      [&](Session& session) { ServeStandardMta(session, WithTls(TestPki::Get().leaf())); });
  ProbeSpec spec = SpecFor(server);
  spec.tls.server_name = "";

  ProbeResult result = Probe(server, spec);

  EXPECT_TRUE(result.success);
  ASSERT_TRUE(result.tls.has_value());
  EXPECT_EQ(result.tls->verified_name, "127.0.0.1");
  EXPECT_TRUE(result.tls->verified()) << result.tls->verify_error;
}

TEST_F(ProbeFakeServerTest, ImplicitTlsWithExpiredCertificateFailsAtTls) {
  const TestPki& pki = TestPki::Get();
  FakeSmtpServer::Options options;
  options.implicit_tls = &pki.expired_leaf();
  FakeSmtpServer server([&](Session& session) { ServeStandardMta(session, MtaBehavior{}); },
                        options);
  ProbeSpec spec = SpecFor(server);
  spec.implicit_tls = true;

  ProbeResult result = Probe(server, spec);

  EXPECT_FALSE(result.success);
  EXPECT_EQ(FailedStep(result), "tls");
  EXPECT_EQ(result.failure_reason, FailureReason::kTls);
  ASSERT_TRUE(result.tls.has_value());
  EXPECT_TRUE(result.tls->handshake_ok);
  EXPECT_EQ(result.tls->earliest_not_after, pki.expired_leaf().not_after);
  EXPECT_FALSE(server.Received("EHLO"));
}

// ---------------------------------------------------------------------------------------------
// Relay test: MAIL FROM + RCPT TO per variant, RSET between, never DATA

ProbeSpec WithRelayTest(ProbeSpec spec) {
  spec.relay.enabled = true;
  spec.relay.mail_from = "probe@example.org";
  spec.relay.rcpt_to = "relay-test@example.net";
  return spec;
}

std::vector<RelayOutcome> Outcomes(const ProbeResult& result) {
  std::vector<RelayOutcome> outcomes;
  for (const RelayAttempt& attempt : result.relay.attempts) outcomes.push_back(attempt.outcome);
  return outcomes;
}

TEST_F(ProbeFakeServerTest, OpenRelayIsReportedAsAFindingNotAsAFailedProbe) {
  MtaBehavior behavior;
  behavior.rcpt_codes = {250};
  FakeSmtpServer server([&](Session& session) { ServeStandardMta(session, behavior); });

  ProbeResult result = Probe(server, WithRelayTest(SpecFor(server)));

  // The failure reasons are a closed set without "open relay": an open relay is exported as
  // smtp_relay_open=1 and alerted on; the probe itself (the SMTP service) is healthy.
  EXPECT_TRUE(result.success);
  EXPECT_TRUE(result.relay.ran);
  EXPECT_TRUE(result.relay.open);
  ASSERT_THAT(result.relay.attempts, SizeIs(6));  // the basic set
  for (const RelayAttempt& attempt : result.relay.attempts) {
    EXPECT_EQ(attempt.mail_code, 250) << attempt.variant;
    EXPECT_EQ(attempt.rcpt_code, 250) << attempt.variant;
    EXPECT_EQ(attempt.outcome, RelayOutcome::kAccepted) << attempt.variant;
  }
  const StepResult* relay = result.FindStep(Step::kRelay);
  ASSERT_NE(relay, nullptr);
  EXPECT_TRUE(relay->ok);
  EXPECT_TRUE(server.Received("QUIT"));
}

TEST_F(ProbeFakeServerTest, RelayRefusedOverTls) {
  MtaBehavior behavior = WithTls(TestPki::Get().leaf());
  behavior.rcpt_codes = {554};
  FakeSmtpServer server([&](Session& session) { ServeStandardMta(session, behavior); });

  ProbeResult result = Probe(server, WithRelayTest(SpecFor(server)));

  EXPECT_TRUE(result.success);
  EXPECT_THAT(Steps(result), ElementsAre("connect", "greeting 220", "ehlo 250", "starttls 220",
                                         "tls_ehlo 250", "relay 250", "quit 221"));
  EXPECT_TRUE(result.relay.ran);
  EXPECT_FALSE(result.relay.open);
  EXPECT_THAT(Outcomes(result), SizeIs(6));
  EXPECT_THAT(Outcomes(result), ::testing::Each(RelayOutcome::kRefused));
  for (const RelayAttempt& attempt : result.relay.attempts) {
    EXPECT_EQ(attempt.rcpt_code, 554) << attempt.variant;
  }
  EXPECT_TRUE(server.Received("QUIT"));
}

TEST_F(ProbeFakeServerTest, RsetSeparatesEveryRelayVariant) {
  FakeSmtpServer server([](Session& session) { ServeStandardMta(session, MtaBehavior{}); });

  ProbeResult result = Probe(server, WithRelayTest(SpecFor(server)));

  std::vector<std::string> verbs;
  for (const std::string& line : server.commands()) verbs.push_back(line.substr(0, 4));
  std::vector<std::string> expected = {"EHLO"};
  for (int i = 0; i < 6; ++i) expected.insert(expected.end(), {"MAIL", "RCPT", "RSET"});
  expected.push_back("QUIT");
  EXPECT_EQ(verbs, expected);
  // The null sender variant comes first, as in nmap's smtp-open-relay.
  ASSERT_THAT(server.commands(), SizeIs(Ge(2u)));
  EXPECT_EQ(server.commands()[1], "MAIL FROM:<>");
  EXPECT_TRUE(result.success);
}

TEST_F(ProbeFakeServerTest, GreylistingAtRcptIsInconclusive) {
  MtaBehavior behavior;
  behavior.rcpt_codes = {450};
  FakeSmtpServer server([&](Session& session) { ServeStandardMta(session, behavior); });

  ProbeResult result = Probe(server, WithRelayTest(SpecFor(server)));

  EXPECT_TRUE(result.success);
  EXPECT_FALSE(result.relay.open);
  EXPECT_THAT(Outcomes(result), SizeIs(6));
  EXPECT_THAT(Outcomes(result), ::testing::Each(RelayOutcome::kInconclusive));
  EXPECT_TRUE(server.Received("QUIT"));
}

TEST_F(ProbeFakeServerTest, AuthenticationRequiredAtRcptIsNotOpen) {
  MtaBehavior behavior;
  behavior.rcpt_codes = {530};
  FakeSmtpServer server([&](Session& session) { ServeStandardMta(session, behavior); });

  ProbeResult result = Probe(server, WithRelayTest(SpecFor(server)));

  EXPECT_TRUE(result.success);
  EXPECT_FALSE(result.relay.open);
  EXPECT_THAT(Outcomes(result), SizeIs(6));
  EXPECT_THAT(Outcomes(result), ::testing::Each(RelayOutcome::kAuthRequired));
  EXPECT_TRUE(server.Received("QUIT"));
}

TEST_F(ProbeFakeServerTest, AuthenticationRequiredAtMailSkipsRcpt) {
  MtaBehavior behavior;
  behavior.mail_code = 530;
  FakeSmtpServer server([&](Session& session) { ServeStandardMta(session, behavior); });

  ProbeResult result = Probe(server, WithRelayTest(SpecFor(server)));

  EXPECT_TRUE(result.success);
  EXPECT_FALSE(result.relay.open);
  ASSERT_THAT(result.relay.attempts, SizeIs(6));
  for (const RelayAttempt& attempt : result.relay.attempts) {
    EXPECT_EQ(attempt.mail_code, 530) << attempt.variant;
    EXPECT_EQ(attempt.rcpt_code, 0) << attempt.variant;
    EXPECT_EQ(attempt.outcome, RelayOutcome::kAuthRequired) << attempt.variant;
  }
  EXPECT_FALSE(server.Received("RCPT"));
  EXPECT_TRUE(server.Received("QUIT"));
}

TEST_F(ProbeFakeServerTest, MixedRelayAnswersOneAcceptedMakesItOpen) {
  MtaBehavior behavior;
  behavior.rcpt_codes = {554, 554, 250, 554};  // spoof_local_name accepted
  FakeSmtpServer server([&](Session& session) { ServeStandardMta(session, behavior); });

  ProbeResult result = Probe(server, WithRelayTest(SpecFor(server)));

  EXPECT_TRUE(result.relay.open);
  EXPECT_THAT(Outcomes(result),
              ElementsAre(RelayOutcome::kRefused, RelayOutcome::kRefused, RelayOutcome::kAccepted,
                          RelayOutcome::kRefused, RelayOutcome::kRefused, RelayOutcome::kRefused));
}

// ---------------------------------------------------------------------------------------------
// Hostile and broken servers: one deadline, fast failures, the right reason

TEST_F(ProbeFakeServerTest, SilentServerTimesOutAtTheDeadline) {
  FakeSmtpServer server([](Session& session) { session.Drain(); });
  ProbeSpec spec = SpecFor(server);
  spec.timeout = milliseconds(1000);

  ProbeResult result = Probe(server, spec);

  EXPECT_FALSE(result.success);
  EXPECT_EQ(FailedStep(result), "greeting");
  EXPECT_EQ(result.failure_reason, FailureReason::kTimeout);
  EXPECT_THAT(Seconds(result.duration), AllOf(Ge(0.9), Le(3.0)));
  EXPECT_THAT(Seconds(wall_), AllOf(Ge(0.9), Le(3.0)));
  EXPECT_THAT(server.commands(), IsEmpty()) << "never speak before the greeting";
}

TEST_F(ProbeFakeServerTest, OneByteEvery200msEndsAtTheDeadlineNotLater) {
  FakeSmtpServer server([](Session& session) {
    session.SendSlowly("220 mx.test ESMTP " + std::string(10000, 'z'), milliseconds(200));
  });
  ProbeSpec spec = SpecFor(server);
  spec.timeout = milliseconds(2000);

  ProbeResult result = Probe(server, spec);

  EXPECT_FALSE(result.success);
  EXPECT_EQ(FailedStep(result), "greeting");
  EXPECT_EQ(result.failure_reason, FailureReason::kTimeout);
  EXPECT_THAT(Seconds(result.duration), AllOf(Ge(1.9), Le(3.5)));
  EXPECT_THAT(Seconds(wall_), AllOf(Ge(1.9), Le(3.5)));
}

TEST_F(ProbeFakeServerTest, SlowDripAfterEhloStillEndsAtTheDeadline) {
  FakeSmtpServer server([](Session& session) {
    session.Reply(220, "mx.test ESMTP");
    session.ReadLine();
    session.SendSlowly("250-mx.test\r\n" + std::string(10000, '.'), milliseconds(200));
  });
  ProbeSpec spec = SpecFor(server);
  spec.timeout = milliseconds(2000);

  ProbeResult result = Probe(server, spec);

  EXPECT_FALSE(result.success);
  EXPECT_EQ(FailedStep(result), "ehlo");
  EXPECT_EQ(result.failure_reason, FailureReason::kTimeout);
  EXPECT_THAT(Seconds(wall_), AllOf(Ge(1.9), Le(3.5)));
}

TEST_F(ProbeFakeServerTest, TenMebibyteLineFailsFastAsProtocol) {
  FakeSmtpServer server([](Session& session) {
    session.Send("220 " + std::string(10 * 1024 * 1024, 'x'));  // no newline, ever
  });

  ProbeResult result = Probe(server, SpecFor(server));

  EXPECT_FALSE(result.success);
  EXPECT_EQ(FailedStep(result), "greeting");
  EXPECT_EQ(result.failure_reason, FailureReason::kProtocol);
  EXPECT_LT(wall_, kFast);
  EXPECT_FALSE(server.Received("QUIT")) << "no complete reply: the channel is not sane";
}

TEST_F(ProbeFakeServerTest, HttpServerFailsFastAsProtocol) {
  FakeSmtpServer server([](Session& session) {
    session.Send(
        "HTTP/1.1 400 Bad Request\r\nServer: nginx\r\nContent-Type: text/html\r\n"
        "Content-Length: 11\r\n\r\nBad Request");
    session.Drain();  // keeps the connection open: the prober must decide on the bytes alone
  });

  ProbeResult result = Probe(server, SpecFor(server));

  EXPECT_FALSE(result.success);
  EXPECT_EQ(FailedStep(result), "greeting");
  EXPECT_EQ(result.failure_reason, FailureReason::kProtocol);
  EXPECT_LT(wall_, kFast);
  EXPECT_THAT(server.commands(), IsEmpty());
}

TEST_F(ProbeFakeServerTest, ResetAfterTheBannerIsReset) {
  FakeSmtpServer server([](Session& session) {
    session.Reply(220, "mx.test ESMTP");
    session.ReadLine();  // EHLO
    session.Reset();
  });

  ProbeResult result = Probe(server, SpecFor(server));

  EXPECT_FALSE(result.success);
  EXPECT_EQ(FailedStep(result), "ehlo");
  EXPECT_EQ(result.failure_reason, FailureReason::kReset);
  EXPECT_LT(wall_, kFast);
}

TEST_F(ProbeFakeServerTest, HangUpAfterTheBannerIsReset) {
  FakeSmtpServer server([](Session& session) {
    session.Reply(220, "mx.test ESMTP");
    session.ReadLine();  // EHLO
    session.Close();     // FIN, no reply
  });

  ProbeResult result = Probe(server, SpecFor(server));

  EXPECT_FALSE(result.success);
  EXPECT_EQ(FailedStep(result), "ehlo");
  EXPECT_EQ(result.failure_reason, FailureReason::kReset);
  EXPECT_LT(wall_, kFast);
}

TEST_F(ProbeFakeServerTest, ClosedPortIsRefusedInMilliseconds) {
  // A port that was just free: bind, read the port, close without listening.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = 0;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
  close(fd);
  ProbeSpec spec;
  spec.host = "127.0.0.1";
  spec.port = ntohs(address.sin_port);
  spec.timeout = kTimeout;
  spec.check_fcrdns = false;

  const Clock::time_point start = Clock::now();
  result_ = RunProbe(spec);
  wall_ = Clock::now() - start;

  EXPECT_FALSE(result_.success);
  EXPECT_EQ(FailedStep(result_), "connect");
  EXPECT_EQ(result_.failure_reason, FailureReason::kRefused);
  EXPECT_THAT(Steps(result_), ElementsAre("connect refused"));
  EXPECT_LT(wall_, milliseconds(1000));
}

// ---------------------------------------------------------------------------------------------
// Edges of the protocol

TEST_F(ProbeFakeServerTest, FinalLineWithoutTextIsAccepted) {
  FakeSmtpServer server([](Session& session) {
    session.Send("220 mx.test ESMTP\r\n");
    session.ReadLine();                                        // EHLO
    session.Send("250-mx.test\r\n250-PIPELINING\r\n250\r\n");  // RFC 5321 §4.2.1: "250" alone
    ServeCommands(session, MtaBehavior{});
  });

  ProbeResult result = Probe(server, SpecFor(server));

  EXPECT_TRUE(result.success);
  EXPECT_THAT(Steps(result), ElementsAre("connect", "greeting 220", "ehlo 250", "quit 221"));
  ASSERT_TRUE(result.capabilities.has_value());
  EXPECT_TRUE(result.capabilities->pipelining);
}

TEST_F(ProbeFakeServerTest, LongButBoundedBannerLineIsAccepted) {
  MtaBehavior behavior;
  behavior.banner = {"mx.test ESMTP " + std::string(1500, 'b')};  // > 512, well within a few KiB
  FakeSmtpServer server([&](Session& session) { ServeStandardMta(session, behavior); });

  ProbeResult result = Probe(server, SpecFor(server));

  EXPECT_TRUE(result.success);
  EXPECT_TRUE(server.Received("QUIT"));
}

TEST_F(ProbeFakeServerTest, ContinuationLinesWithAnotherCodeAreProtocolErrors) {
  FakeSmtpServer server([](Session& session) {
    session.Send("220-mx.test ESMTP\r\n250 not the same code\r\n");
    session.Drain();
  });

  ProbeResult result = Probe(server, SpecFor(server));

  EXPECT_FALSE(result.success);
  EXPECT_EQ(FailedStep(result), "greeting");
  EXPECT_EQ(result.failure_reason, FailureReason::kProtocol);
  EXPECT_LT(wall_, kFast);
}

TEST_F(ProbeFakeServerTest, EhloRefusedWith550BySomeOldServerFallsBackToHelo) {
  MtaBehavior behavior;
  behavior.ehlo_code = 550;
  FakeSmtpServer server([&](Session& session) { ServeStandardMta(session, behavior); });

  ProbeResult result = Probe(server, SpecFor(server));

  EXPECT_TRUE(result.success);
  EXPECT_EQ(result.esmtp, false);
  EXPECT_THAT(server.commands(), ElementsAre("EHLO probe.test", "HELO probe.test", "QUIT"));
}

TEST_F(ProbeFakeServerTest, EhloAnswered421IsRejectedWithoutHeloOrQuit) {
  FakeSmtpServer server([](Session& session) {
    session.Reply(220, "mx.test ESMTP");
    session.ReadLine();
    session.Reply(421, "4.7.0 mx.test Too many connections, closing");
    session.Close();
  });

  ProbeResult result = Probe(server, SpecFor(server));

  EXPECT_FALSE(result.success);
  EXPECT_EQ(FailedStep(result), "ehlo");
  EXPECT_EQ(result.failure_reason, FailureReason::kRejected);
  EXPECT_THAT(server.commands(), ElementsAre("EHLO probe.test"));
  EXPECT_LT(wall_, kFast);
}

TEST_F(ProbeFakeServerTest, StartTls501IsReportedButNotFatalWhenOpportunistic) {
  MtaBehavior behavior = WithTls(TestPki::Get().leaf());
  behavior.starttls_code = 501;
  FakeSmtpServer server([&](Session& session) { ServeStandardMta(session, behavior); });

  ProbeResult result = Probe(server, SpecFor(server));

  EXPECT_TRUE(result.success);
  EXPECT_EQ(result.starttls_success, false);
  EXPECT_TRUE(server.Received("QUIT"));
}

TEST_F(ProbeFakeServerTest, StalledTlsHandshakeEndsAtTheDeadline) {
  MtaBehavior behavior = WithTls(TestPki::Get().leaf());
  // Reads the ClientHello (and whatever follows) but never answers it.
  behavior.after_starttls_go_ahead = [](Session&) { return false; };
  FakeSmtpServer server([&](Session& session) { ServeStandardMta(session, behavior); });
  ProbeSpec spec = SpecFor(server);
  spec.timeout = milliseconds(1500);

  ProbeResult result = Probe(server, spec);

  EXPECT_FALSE(result.success);
  EXPECT_EQ(FailedStep(result), "starttls");
  EXPECT_EQ(result.failure_reason, FailureReason::kTimeout);
  EXPECT_THAT(Seconds(wall_), AllOf(Ge(1.4), Le(3.5)));
}

TEST_F(ProbeFakeServerTest, ImplicitTlsAgainstAPlaintextServerFailsFastAsTls) {
  FakeSmtpServer server([](Session& session) { ServeStandardMta(session, MtaBehavior{}); });
  ProbeSpec spec = SpecFor(server);
  spec.implicit_tls = true;

  ProbeResult result = Probe(server, spec);

  EXPECT_FALSE(result.success);
  EXPECT_EQ(FailedStep(result), "tls");
  EXPECT_EQ(result.failure_reason, FailureReason::kTls);
  EXPECT_LT(wall_, kFast);
}

TEST_F(ProbeFakeServerTest, HangUpInsteadOf221IsNotAFailure) {
  FakeSmtpServer server([](Session& session) {
    session.Reply(220, "mx.test ESMTP");
    session.ReadLine();
    session.Reply(250, std::vector<std::string>{"mx.test", "PIPELINING"});
    session.ReadLine();  // QUIT
    session.Close();     // without 221
  });

  ProbeResult result = Probe(server, SpecFor(server));

  EXPECT_TRUE(result.success);
  EXPECT_EQ(FailedStep(result), "");
  EXPECT_THAT(server.commands(), ElementsAre("EHLO probe.test", "QUIT"));
}

TEST_F(ProbeFakeServerTest, ServerClosingWith421DuringTheRelayTestIsRejected) {
  FakeSmtpServer server([](Session& session) {
    session.Reply(220, "mx.test ESMTP");
    while (std::optional<std::string> line = session.ReadLine()) {
      if (line->rfind("RCPT", 0) == 0) {
        session.Reply(421, "4.7.0 mx.test Too many errors, closing");
        session.Close();
        return;
      }
      if (line->rfind("EHLO", 0) == 0) {
        session.Reply(250, std::vector<std::string>{"mx.test", "PIPELINING"});
      } else {
        session.Reply(250, "2.0.0 Ok");
      }
    }
  });

  ProbeResult result = Probe(server, WithRelayTest(SpecFor(server)));

  EXPECT_FALSE(result.success);
  EXPECT_EQ(FailedStep(result), "relay");
  EXPECT_EQ(result.failure_reason, FailureReason::kRejected);
  EXPECT_FALSE(result.relay.open);
  ASSERT_THAT(result.relay.attempts, SizeIs(1));
  EXPECT_EQ(result.relay.attempts[0].rcpt_code, 421);
  EXPECT_EQ(server.CountReceived("RSET"), 0);
  EXPECT_EQ(server.CountReceived("MAIL"), 1);
  EXPECT_LT(wall_, kFast);
}

TEST_F(ProbeFakeServerTest, Rcpt251CountsAsAccepted) {
  MtaBehavior behavior;
  behavior.rcpt_codes = {251};
  FakeSmtpServer server([&](Session& session) { ServeStandardMta(session, behavior); });

  ProbeResult result = Probe(server, WithRelayTest(SpecFor(server)));

  EXPECT_TRUE(result.relay.open);
  EXPECT_THAT(Outcomes(result), ::testing::Each(RelayOutcome::kAccepted));
}

}  // namespace
}  // namespace smtp::testing

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
#include "probes/relay_variants.h"
#include "probes/verdict.h"
#include "tests/fake/fake_smtp_server.h"
#include "tests/fake/test_certs.h"

namespace smtp::testing {
namespace {

using std::chrono::milliseconds;
using ::testing::AllOf;
using ::testing::Contains;
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

ProbeSpec WithRelayTest(ProbeSpec spec) {
  spec.relay.enabled = true;
  spec.relay.mail_from = "probe@example.org";
  spec.relay.rcpt_to = "relay-test@example.net";
  return spec;
}

RelayVerdict RelayVerdictOf(const ProbeResult& result) { return JudgeRelay(result.relay).verdict; }

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
  EXPECT_EQ(quit->enhanced_code, (EnhancedStatus{2, 0, 0}));  // ENHANCEDSTATUSCODES was offered
  // The parts this module does not run stay unwritten: they cost the stored result nothing.
  EXPECT_FALSE(result.relay.written());
  EXPECT_FALSE(result.auth.written());
  EXPECT_FALSE(result.user_enumeration.written());
  EXPECT_FALSE(result.starttls_error.written());
  for (const StepResult& step : result.steps)
    EXPECT_FALSE(step.detail.written()) << ToString(step.step);
  EXPECT_THAT(server.commands(),
              ElementsAre("EHLO probe.test", "STARTTLS", "EHLO probe.test", "QUIT"));

  ASSERT_TRUE(result.greeting.has_value());
  EXPECT_EQ(result.greeting->hostname, "mx.test");
  EXPECT_EQ(result.esmtp, true);
  EXPECT_EQ(result.starttls_offered, true);
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
  EXPECT_EQ(result.starttls_offered, false);
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
  EXPECT_EQ(result.starttls_offered, true);
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
  EXPECT_EQ(opportunistic.starttls_offered, false);
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
  EXPECT_EQ(result.starttls_offered, true);
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

// Debian 12's OpenSMTPD with OpenSSL 3, a TLS alert, a hang-up: STARTTLS is answered 220 and the
// handshake then breaks. An opportunistic sender reconnects in plaintext and delivers anyway
// (RFC 3207 §4.1), so the probe does too and judges the server as such a sender meets it.
MtaBehavior BrokenHandshake(bool hang_up) {
  MtaBehavior behavior = WithTls(TestPki::Get().leaf());
  behavior.after_starttls_go_ahead = [hang_up](Session& session) {
    WaitForInput(session, milliseconds(5000));  // the ClientHello
    if (hang_up) {
      session.Reset();
    } else {
      session.Send("this is not a TLS ServerHello\r\n");
    }
    return false;  // drain, then close
  };
  return behavior;
}

TEST_F(ProbeFakeServerTest, BrokenStartTlsHandshakeFallsBackToPlaintextWhenOpportunistic) {
  for (bool hang_up : {false, true}) {
    SCOPED_TRACE(hang_up ? "server resets the connection" : "server answers with plaintext");
    MtaBehavior behavior = BrokenHandshake(hang_up);
    behavior.rcpt_codes = {250};  // an open relay behind the broken STARTTLS
    FakeSmtpServer server([&](Session& session) { ServeStandardMta(session, behavior); });

    ProbeResult result = Probe(server, WithRelayTest(SpecFor(server)));

    EXPECT_TRUE(result.success) << "opportunistic TLS: a broken handshake is not an outage";
    EXPECT_THAT(Steps(result), ElementsAre("connect", "greeting 220", "ehlo 250",
                                           "starttls 220 tls", "relay 250", "quit 221"));
    EXPECT_EQ(result.starttls_offered, true);
    EXPECT_EQ(result.starttls_success, false);
    EXPECT_THAT(*result.starttls_error, HasSubstr("TLS handshake failed"));
    EXPECT_TRUE(result.plaintext_fallback);
    EXPECT_EQ(server.connections(), 2);
    EXPECT_EQ(RelayVerdictOf(result), RelayVerdict::kOpen) << "the relay is tested after all";
    EXPECT_TRUE(server.Received("QUIT"));
    EXPECT_LT(wall_, kFast);
  }
}

TEST_F(ProbeFakeServerTest, BrokenStartTlsHandshakeFailsWhenRequired) {
  MtaBehavior behavior = BrokenHandshake(false);
  FakeSmtpServer server([&](Session& session) { ServeStandardMta(session, behavior); });
  ProbeSpec spec = SpecFor(server);
  spec.starttls = StartTlsMode::kRequired;

  ProbeResult result = Probe(server, spec);

  EXPECT_FALSE(result.success);
  EXPECT_EQ(FailedStep(result), "starttls");
  EXPECT_EQ(result.failure_reason, FailureReason::kTls);
  EXPECT_EQ(result.starttls_success, false);
  EXPECT_FALSE(result.plaintext_fallback);
  EXPECT_EQ(server.connections(), 1);
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

std::vector<RelayOutcome> Outcomes(const ProbeResult& result) {
  std::vector<RelayOutcome> outcomes;
  for (const RelayAttempt& attempt : result.relay->attempts) outcomes.push_back(attempt.outcome);
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
  EXPECT_TRUE(result.relay->ran);
  EXPECT_EQ(RelayVerdictOf(result), RelayVerdict::kOpen);
  ASSERT_THAT(result.relay->attempts, SizeIs(6));  // the basic set
  // Foreign recipients as written prove it; the hacks prove nothing at a server that accepts any
  // local part, which this one does too.
  for (const RelayAttempt& attempt : result.relay->attempts) {
    EXPECT_EQ(attempt.mail_code, 250) << attempt.variant;
    EXPECT_EQ(attempt.rcpt_code, 250) << attempt.variant;
    EXPECT_EQ(attempt.outcome, attempt.hack ? RelayOutcome::kCatchAll : RelayOutcome::kAccepted)
        << attempt.variant;
  }
  EXPECT_EQ(JudgeRelay(result.relay).catch_all, true);
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
  EXPECT_TRUE(result.relay->ran);
  EXPECT_NE(RelayVerdictOf(result), RelayVerdict::kOpen);
  EXPECT_THAT(Outcomes(result), SizeIs(6));
  EXPECT_THAT(Outcomes(result), ::testing::Each(RelayOutcome::kRefused));
  for (const RelayAttempt& attempt : result.relay->attempts) {
    EXPECT_EQ(attempt.rcpt_code, 554) << attempt.variant;
  }
  EXPECT_TRUE(server.Received("QUIT"));
}

TEST_F(ProbeFakeServerTest, RsetSeparatesEveryRelayVariant) {
  FakeSmtpServer server([](Session& session) { ServeStandardMta(session, MtaBehavior{}); });

  ProbeResult result = Probe(server, WithRelayTest(SpecFor(server)));

  std::vector<std::string> verbs;
  for (const std::string& line : server.commands()) verbs.push_back(line.substr(0, 4));
  // The catch-all question at the banner name, then the 6 basic variants.
  std::vector<std::string> expected = {"EHLO"};
  for (int i = 0; i < 7; ++i) expected.insert(expected.end(), {"MAIL", "RCPT", "RSET"});
  expected.push_back("QUIT");
  EXPECT_EQ(verbs, expected);
  ASSERT_THAT(server.commands(), SizeIs(Ge(5u)));
  EXPECT_EQ(server.commands()[1], "MAIL FROM:<probe@example.org>");
  EXPECT_THAT(server.commands()[2],
              ::testing::MatchesRegex("RCPT TO:<smtp-exporter-catch-all-[0-9a-f]{12}@mx\\.test>"));
  // The null sender variant comes first, as in nmap's smtp-open-relay.
  EXPECT_EQ(server.commands()[4], "MAIL FROM:<>");
  EXPECT_TRUE(result.success);
}

TEST_F(ProbeFakeServerTest, GreylistingAtRcptIsInconclusive) {
  MtaBehavior behavior;
  behavior.rcpt_codes = {450};
  FakeSmtpServer server([&](Session& session) { ServeStandardMta(session, behavior); });

  ProbeResult result = Probe(server, WithRelayTest(SpecFor(server)));

  EXPECT_TRUE(result.success);
  EXPECT_NE(RelayVerdictOf(result), RelayVerdict::kOpen);
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
  EXPECT_NE(RelayVerdictOf(result), RelayVerdict::kOpen);
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
  EXPECT_NE(RelayVerdictOf(result), RelayVerdict::kOpen);
  ASSERT_THAT(result.relay->attempts, SizeIs(6));
  for (const RelayAttempt& attempt : result.relay->attempts) {
    EXPECT_EQ(attempt.mail_code, 530) << attempt.variant;
    EXPECT_EQ(attempt.rcpt_code, 0) << attempt.variant;
    EXPECT_EQ(attempt.outcome, RelayOutcome::kAuthRequired) << attempt.variant;
  }
  EXPECT_FALSE(server.Received("RCPT"));
  EXPECT_TRUE(server.Received("QUIT"));
}

TEST_F(ProbeFakeServerTest, MixedRelayAnswersOneAcceptedMakesItOpen) {
  MtaBehavior behavior;
  behavior.rcpt_codes = {554, 554, 554, 250, 554};  // the catch-all question, then spoof_local_name
  FakeSmtpServer server([&](Session& session) { ServeStandardMta(session, behavior); });

  ProbeResult result = Probe(server, WithRelayTest(SpecFor(server)));

  EXPECT_EQ(RelayVerdictOf(result), RelayVerdict::kOpen);
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

// Framing real servers get wrong is read as Postfix's client reads it: the final line's code.
TEST_F(ProbeFakeServerTest, GreetingWhoseCodeTurnsInto421IsARejectedGreeting) {
  FakeSmtpServer server([](Session& session) {
    session.Send("220-mx.test ESMTP\r\n421 4.3.2 mx.test shutting down\r\n");
    session.Close();
  });

  ProbeResult result = Probe(server, SpecFor(server));

  EXPECT_FALSE(result.success);
  EXPECT_EQ(FailedStep(result), "greeting");
  EXPECT_EQ(result.failure_reason, FailureReason::kRejected);
  EXPECT_THAT(Steps(result), ElementsAre("connect", "greeting 421 rejected"));
  EXPECT_THAT(result.reply_anomalies, ElementsAre("reply code changed between lines"));
  EXPECT_FALSE(result.greeting.has_value()) << "only a 220 greeting names the server";
  // The transcript shows what the server sent; the repair is the anomaly note.
  EXPECT_THAT(Transcript(result), HasSubstr("S: 220-mx.test ESMTP\n"));
  EXPECT_THAT(Transcript(result), HasSubstr("S: 421 4.3.2 mx.test shutting down\n"));
  EXPECT_LT(wall_, kFast);
}

// A reply sent unasked would be read as the answer to the next command and shift every later
// one (EHLO would read "250 stray" and see no extensions).
TEST_F(ProbeFakeServerTest, UnsolicitedReplyAfterTheGreetingIsDiscardedAndNoted) {
  FakeSmtpServer server([](Session& session) {
    session.Send("220 mx.test ESMTP\r\n250 stray\r\n");
    ServeCommands(session, WithTls(TestPki::Get().leaf()));
  });

  ProbeResult result = Probe(server, SpecFor(server));

  EXPECT_TRUE(result.success);
  EXPECT_EQ(result.starttls_offered, true) << "EHLO read its own reply";
  EXPECT_EQ(result.starttls_success, true);
  EXPECT_THAT(result.reply_anomalies, ElementsAre("unsolicited reply discarded"));
}

TEST_F(ProbeFakeServerTest, EhloReplyWithALineWithoutCodeIsTolerated) {
  FakeSmtpServer server([](Session& session) {
    session.Reply(220, "mx.test ESMTP");
    session.ReadLine();
    session.Send("250-mx.test\r\nPIPELINING\r\n250 8BITMIME\r\n");
    ServeCommands(session, MtaBehavior{});
  });

  ProbeResult result = Probe(server, SpecFor(server));

  EXPECT_TRUE(result.success);
  EXPECT_THAT(result.reply_anomalies, ElementsAre("reply line without a code"));
  EXPECT_TRUE(server.Received("QUIT"));
}

// Unknown is not "no": a 451 banner names no host, and nothing is known about STARTTLS.
TEST_F(ProbeFakeServerTest, Banner451HasNoServerNameAndNoStartTlsFact) {
  FakeSmtpServer server([](Session& session) {
    session.Reply(451, "local error");
    ServeCommands(session, MtaBehavior{});
  });

  ProbeResult result = Probe(server, SpecFor(server));

  EXPECT_EQ(result.failure_reason, FailureReason::kRejected);
  EXPECT_FALSE(result.greeting.has_value());
  EXPECT_THAT(result.greeting_lines, ElementsAre("local error"));
  EXPECT_FALSE(result.starttls_offered.has_value());
  EXPECT_FALSE(result.esmtp.has_value());
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

// A handshake that stalls after "220 go ahead" is bounded: opportunistic STARTTLS gives it half
// of the time left and falls back to plaintext with the rest; required TLS fails at the deadline.
TEST_F(ProbeFakeServerTest, StalledTlsHandshakeFallsBackToPlaintextWhenOpportunistic) {
  MtaBehavior behavior = WithTls(TestPki::Get().leaf());
  // Reads the ClientHello (and whatever follows) but never answers it.
  behavior.after_starttls_go_ahead = [](Session&) { return false; };
  FakeSmtpServer server([&](Session& session) { ServeStandardMta(session, behavior); });
  ProbeSpec spec = SpecFor(server);
  spec.timeout = milliseconds(3000);

  ProbeResult result = Probe(server, spec);

  EXPECT_TRUE(result.success);
  EXPECT_EQ(result.starttls_success, false);
  EXPECT_THAT(*result.starttls_error, HasSubstr("TLS handshake stalled"));
  EXPECT_TRUE(result.plaintext_fallback);
  EXPECT_EQ(server.connections(), 2);
  EXPECT_TRUE(server.Received("QUIT"));
  EXPECT_THAT(Seconds(wall_), AllOf(Ge(1.4), Le(4.5)));
}

TEST_F(ProbeFakeServerTest, StalledTlsHandshakeEndsAtTheDeadlineWhenRequired) {
  MtaBehavior behavior = WithTls(TestPki::Get().leaf());
  behavior.after_starttls_go_ahead = [](Session&) { return false; };
  FakeSmtpServer server([&](Session& session) { ServeStandardMta(session, behavior); });
  ProbeSpec spec = SpecFor(server);
  spec.timeout = milliseconds(1500);
  spec.starttls = StartTlsMode::kRequired;

  ProbeResult result = Probe(server, spec);

  EXPECT_FALSE(result.success);
  EXPECT_EQ(FailedStep(result), "starttls");
  EXPECT_EQ(result.failure_reason, FailureReason::kTimeout);
  EXPECT_THAT(Seconds(wall_), AllOf(Ge(1.4), Le(3.5)));
  // The step's 220 answered STARTTLS; the timeout hit the handshake after it.
  EXPECT_THAT(Judge(result, 0).summary, ::testing::StartsWith("DOWN: starttls failed (timeout): "));
  EXPECT_THAT(Judge(result, 0).summary, Not(HasSubstr("reply 220")));
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

// A relay test cut short is neither DOWN nor "closed": the server is healthy, and the variants
// that never got an answer are reported as not run.
TEST_F(ProbeFakeServerTest, ServerThatHangsUpOnEveryRcptLeavesTheRelayTestInconclusiveNotDown) {
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

  EXPECT_TRUE(result.success);
  EXPECT_EQ(FailedStep(result), "");
  EXPECT_EQ(RelayVerdictOf(result), RelayVerdict::kInconclusive);
  EXPECT_THAT(Outcomes(result), ::testing::Each(RelayOutcome::kNotRun));
  for (const RelayAttempt& attempt : result.relay->attempts) {
    if (attempt.rcpt_code == 0 && attempt.mail_code != 0) {
      EXPECT_EQ(attempt.mail_code, 250) << "MAIL was answered; only RCPT was not";
    }
  }
  EXPECT_EQ(result.relay->stop_reason, FailureReason::kReset);
  const StepResult* relay = result.FindStep(Step::kRelay);
  ASSERT_NE(relay, nullptr);
  EXPECT_FALSE(relay->ok);
  // The first session and one new session per reconnect, each ended by the server's 421.
  EXPECT_EQ(server.connections(), 1 + result.relay->reconnects);
  EXPECT_EQ(server.CountReceived("MAIL"), server.connections());
  EXPECT_EQ(server.CountReceived("QUIT"), 0) << "a server that sent 421 is not sent QUIT";
  EXPECT_LT(wall_, kFast);
}

// Exim drops a session after three syntax errors (smtp_max_synprot_errors): "501 Too many syntax
// or protocol errors", then it hangs up. The test reconnects and finishes every variant.
void ServeLikeExim(Session& session, bool open) {
  session.Reply(220, "mx.test ESMTP Exim 4.96 Mon, 30 Nov 2026 06:00:00 +0000");
  int syntax_errors = 0;
  while (std::optional<std::string> line = session.ReadLine()) {
    const std::string verb = line->substr(0, 4);
    if (verb == "EHLO") {
      session.Reply(250, std::vector<std::string>{"mx.test Hello", "PIPELINING"});
    } else if (verb == "MAIL" || verb == "RSET") {
      session.Reply(250, "OK");
    } else if (verb == "RCPT") {
      const bool hack = line->find_first_of("%!\"") != std::string::npos ||
                        line->find("@example.net@") != std::string::npos;
      if (hack && ++syntax_errors >= 3) {
        session.Reply(501, "Too many syntax or protocol errors");
        session.Close();
        return;
      }
      if (hack) {
        session.Reply(501, "5.1.3 bad recipient address syntax");
      } else if (line->find("@example.net>") != std::string::npos) {
        session.Reply(open ? 250 : 550, open ? "Accepted" : "relay not permitted");
      } else {
        session.Reply(550, "Unrouteable address");
      }
    } else if (verb == "QUIT") {
      session.Reply(221, "mx.test closing connection");
      session.Close();
      return;
    } else {
      session.Reply(500, "unrecognized command");
    }
  }
}

TEST_F(ProbeFakeServerTest, HangUpAfterThreeSyntaxErrorsReconnectsAndFinishesEveryVariant) {
  for (bool open : {false, true}) {
    SCOPED_TRACE(open ? "open Exim" : "closed Exim");
    FakeSmtpServer server([open](Session& session) { ServeLikeExim(session, open); });
    ProbeSpec spec = WithRelayTest(SpecFor(server));
    spec.relay.variants = AllRelayVariants();

    ProbeResult result = Probe(server, spec);

    EXPECT_TRUE(result.success) << "greeting and EHLO worked: the server is up";
    EXPECT_TRUE(result.relay->complete());
    EXPECT_GE(result.relay->reconnects, 1);
    EXPECT_EQ(server.connections(), 1 + result.relay->reconnects);
    EXPECT_THAT(Outcomes(result), ::testing::Not(::testing::Contains(RelayOutcome::kNotRun)));
    for (const RelayAttempt& attempt : result.relay->attempts) {
      if (attempt.rcpt_code == 501) {
        EXPECT_EQ(attempt.outcome, RelayOutcome::kRefused) << attempt.variant;
      }
    }
    EXPECT_EQ(RelayVerdictOf(result), open ? RelayVerdict::kOpen : RelayVerdict::kClosed);
    EXPECT_TRUE(server.Received("QUIT"));
    EXPECT_LT(wall_, kFast);
  }
}

// Exchange holds every 5yz for 5 s. The relay test has its own budget: what it does not reach
// is not run, and the health steps are untouched.
TEST_F(ProbeFakeServerTest, TarpitOutlastingTheRelayBudgetLeavesVariantsNotRunAndTheServerUp) {
  MtaBehavior behavior;
  behavior.tarpit = milliseconds(400);
  FakeSmtpServer server([&](Session& session) { ServeStandardMta(session, behavior); });
  ProbeSpec spec = WithRelayTest(SpecFor(server));
  spec.timeout = milliseconds(2000);
  spec.relay.timeout = milliseconds(1000);

  ProbeResult result = Probe(server, spec);

  EXPECT_TRUE(result.success);
  EXPECT_EQ(FailedStep(result), "");
  EXPECT_EQ(RelayVerdictOf(result), RelayVerdict::kInconclusive);
  EXPECT_EQ(result.relay->stop_reason, FailureReason::kTimeout);
  EXPECT_THAT(Outcomes(result), ::testing::Contains(RelayOutcome::kNotRun));
  EXPECT_THAT(Outcomes(result), ::testing::Not(::testing::Contains(RelayOutcome::kAccepted)));
  const StepResult* relay = result.FindStep(Step::kRelay);
  ASSERT_NE(relay, nullptr);
  EXPECT_EQ(relay->reply_code, 0) << "it ended waiting for a reply; the last 250 answered MAIL";
  // Health budget + relay budget bound the probe, with room for a loaded machine.
  EXPECT_LT(Seconds(wall_), 2.0 + 1.0 + 1.5);
}

TEST_F(ProbeFakeServerTest, TarpitWithinTheRelayBudgetCompletesTheTest) {
  MtaBehavior behavior;
  behavior.tarpit = milliseconds(200);
  FakeSmtpServer server([&](Session& session) { ServeStandardMta(session, behavior); });
  ProbeSpec spec = WithRelayTest(SpecFor(server));
  spec.timeout = milliseconds(1000);  // shorter than the 7 tarpitted replies together
  spec.relay.timeout = milliseconds(15000);

  ProbeResult result = Probe(server, spec);

  EXPECT_TRUE(result.success);
  EXPECT_TRUE(result.relay->complete());
  EXPECT_EQ(RelayVerdictOf(result), RelayVerdict::kClosed);
  EXPECT_TRUE(server.Received("QUIT"));
}

// RFC 3207 §4: a server may refuse mail before STARTTLS with 530, RSET included.
TEST_F(ProbeFakeServerTest, ServerRequiringStartTlsProbedWithStartTlsOffIsUp) {
  MtaBehavior behavior = WithTls(TestPki::Get().leaf());
  behavior.mail_code = 530;
  behavior.rset_code = 530;
  FakeSmtpServer server([&](Session& session) { ServeStandardMta(session, behavior); });
  ProbeSpec spec = WithRelayTest(SpecFor(server));
  spec.starttls = StartTlsMode::kOff;

  ProbeResult result = Probe(server, spec);

  EXPECT_TRUE(result.success);
  EXPECT_EQ(FailedStep(result), "");
  EXPECT_THAT(Outcomes(result), ::testing::Each(RelayOutcome::kAuthRequired));
  // In plaintext, from a server that offers STARTTLS, 530 does not prove it closed.
  EXPECT_EQ(RelayVerdictOf(result), RelayVerdict::kInconclusive);
  EXPECT_THAT(JudgeRelay(result.relay).summary, HasSubstr("530"));
  EXPECT_TRUE(server.Received("QUIT"));
}

// Catch-all domains (Haraka inbound, aiosmtpd, Postfix luser_relay, accept-then-bounce) take the
// percent hack and the bang path as local mail: that is not an open relay.
int CatchAllAtMxTest(std::string_view rcpt_line, bool parses_hacks) {
  if (rcpt_line.find("@mx.test>") == std::string_view::npos) return 554;  // foreign: refused
  const bool hack = rcpt_line.find_first_of("%!") != std::string_view::npos;
  if (!parses_hacks) return 250;  // any local part
  return hack ? 250 : 550;        // only the hacks, relayed on: open
}

TEST_F(ProbeFakeServerTest, CatchAllDomainIsNotAnOpenRelay) {
  MtaBehavior behavior;
  behavior.rcpt_code_for = [](std::string_view line) { return CatchAllAtMxTest(line, false); };
  FakeSmtpServer server([&](Session& session) { ServeStandardMta(session, behavior); });

  ProbeResult result = Probe(server, WithRelayTest(SpecFor(server)));

  EXPECT_TRUE(result.success);
  EXPECT_EQ(RelayVerdictOf(result), RelayVerdict::kClosed);
  EXPECT_EQ(JudgeRelay(result.relay).catch_all, true);
  ASSERT_THAT(result.relay->catch_all_checks, SizeIs(1));
  EXPECT_EQ(result.relay->catch_all_checks[0].accepted, true);
  EXPECT_THAT(Outcomes(result), ElementsAre(RelayOutcome::kRefused, RelayOutcome::kRefused,
                                            RelayOutcome::kRefused, RelayOutcome::kCatchAll,
                                            RelayOutcome::kRefused, RelayOutcome::kCatchAll));
  EXPECT_EQ(Judge(result, 0).summary, "UP");
}

TEST_F(ProbeFakeServerTest, HackAcceptedWhereRandomLocalPartIsRefusedIsAnOpenRelay) {
  MtaBehavior behavior;
  behavior.rcpt_code_for = [](std::string_view line) { return CatchAllAtMxTest(line, true); };
  FakeSmtpServer server([&](Session& session) { ServeStandardMta(session, behavior); });

  ProbeResult result = Probe(server, WithRelayTest(SpecFor(server)));

  EXPECT_EQ(RelayVerdictOf(result), RelayVerdict::kOpen);
  EXPECT_EQ(JudgeRelay(result.relay).catch_all, false);
  EXPECT_EQ(result.relay->attempts[3].variant, "percent_name");
  EXPECT_EQ(result.relay->attempts[3].outcome, RelayOutcome::kAccepted);
  EXPECT_FALSE(Judge(result, 0).healthy);
}

// RFC 5321 §4.2.1: the first digit decides; 252 and nonstandard 2yz replies are acceptances.
TEST_F(ProbeFakeServerTest, AnyTwoHundredReplyToAForeignRcptIsAnOpenRelay) {
  for (int code : {252, 254}) {
    SCOPED_TRACE(code);
    MtaBehavior behavior;
    behavior.rcpt_code_for = [code](std::string_view line) {
      return line.find("@example.net>") != std::string_view::npos ? code : 550;
    };
    FakeSmtpServer server([&](Session& session) { ServeStandardMta(session, behavior); });

    ProbeResult result = Probe(server, WithRelayTest(SpecFor(server)));

    EXPECT_EQ(RelayVerdictOf(result), RelayVerdict::kOpen);
    EXPECT_EQ(result.relay->attempts[1].variant, "external");
    EXPECT_EQ(result.relay->attempts[1].outcome, RelayOutcome::kAccepted);
    EXPECT_FALSE(Judge(result, 0).healthy);
  }
}

TEST_F(ProbeFakeServerTest, Rcpt251CountsAsAccepted) {
  MtaBehavior behavior;
  behavior.rcpt_codes = {251};
  FakeSmtpServer server([&](Session& session) { ServeStandardMta(session, behavior); });

  ProbeResult result = Probe(server, WithRelayTest(SpecFor(server)));

  EXPECT_EQ(RelayVerdictOf(result), RelayVerdict::kOpen);
  for (const RelayAttempt& attempt : result.relay->attempts) {
    EXPECT_EQ(attempt.outcome, attempt.hack ? RelayOutcome::kCatchAll : RelayOutcome::kAccepted);
  }
}

}  // namespace
}  // namespace smtp::testing

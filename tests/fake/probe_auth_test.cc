// The AUTH step end to end (RFC 4954), and the user-enumeration step (VRFY/EXPN) before it:
// RunProbe against fake servers on 127.0.0.1 that check the credentials with GNU SASL's server side
// (every mechanism the prober offers), or answer with each reply code and each hostile behaviour a
// server can show.
//
// Every case states the outcome, the auth step's reply code and failure reason, that QUIT was
// sent whenever the channel was sane, and that neither the password nor the SASL data sent is in
// the transcript.
#include <gmock/gmock.h>
#include <gsasl.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "probes/auth.h"
#include "probes/probe_result.h"
#include "probes/probe_spec.h"
#include "probes/prober.h"
#include "tests/fake/fake_smtp_server.h"
#include "tests/fake/test_certs.h"

namespace smtp::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using Clock = std::chrono::steady_clock;

constexpr char kUser[] = "probe@mx.test";
constexpr char kPassword[] = "s3cret-Pa55word";

std::string Transcript(const ProbeResult& result) {
  std::string text;
  for (const TranscriptLine& line : result.transcript) {
    text += line.direction;
    text += ": ";
    text += line.text;
    text += "\n";
  }
  return text;
}

std::vector<std::string> AuthStep(const ProbeResult& result) {
  const StepResult* step = result.FindStep(Step::kAuth);
  if (step == nullptr) return {};
  return {std::to_string(step->reply_code),
          step->enhanced_code ? step->enhanced_code->ToString() : "",
          step->ok ? "ok" : ToString(step->reason)};
}

// --- the server side of AUTH ---------------------------------------------------------------------

// GNU SASL's server needs the password of the user it authenticates: this callback gives it.
int ServerCallback(Gsasl* /*context*/, Gsasl_session* session, Gsasl_property property) {
  if (property != GSASL_PASSWORD) return GSASL_NO_CALLBACK;
  const char* user = gsasl_property_fast(session, GSASL_AUTHID);
  if (user == nullptr || std::string(user) != kUser) return GSASL_NO_CALLBACK;
  gsasl_property_set(session, GSASL_PASSWORD, kPassword);
  return GSASL_OK;
}

// A correct server side of "AUTH MECH [initial-response]" (RFC 4954 §4), checked by GNU SASL:
// 334 per challenge, "*" cancels (501), then 235 2.7.0 or 535 5.7.8. SCRAM's final message is
// sent as a last 334, answered by an empty line.
bool ServeSaslAuth(Session& session, const std::string& line) {
  std::vector<std::string> words;
  for (std::size_t at = 0; at <= line.size();) {
    const std::size_t space = std::min(line.find(' ', at), line.size());
    words.push_back(line.substr(at, space - at));
    at = space + 1;
  }
  if (words.size() < 2) return session.Reply(501, "5.5.4 syntax: AUTH mechanism");
  Gsasl* context = nullptr;
  gsasl_init(&context);
  gsasl_callback_set(context, ServerCallback);
  Gsasl_session* sasl = nullptr;
  if (gsasl_server_start(context, words[1].c_str(), &sasl) != GSASL_OK) {
    gsasl_done(context);
    return session.Reply(504, "5.5.4 Unrecognized authentication type");
  }
  std::string input = words.size() > 2 ? (words[2] == "=" ? "" : words[2]) : "";
  const bool has_initial = words.size() > 2;
  bool sent = true;
  int rc = GSASL_NEEDS_MORE;
  bool first = true;
  bool cancelled = false;
  while (sent) {
    char* out = nullptr;
    if (first && !has_initial && words[1] != "LOGIN" && words[1] != "CRAM-MD5") {
      rc = GSASL_NEEDS_MORE;  // client-first mechanism without its initial response: ask for it
    } else {
      rc = gsasl_step64(sasl, input.c_str(), &out);
    }
    first = false;
    const std::string output = out != nullptr ? out : "";
    gsasl_free(out);
    if (rc != GSASL_NEEDS_MORE && !(rc == GSASL_OK && !output.empty())) break;
    sent = session.Reply(334, output);
    std::optional<std::string> answer = session.ReadLine();
    if (!answer) {
      sent = false;
      break;
    }
    if (*answer == "*") {
      cancelled = true;
      sent = session.Reply(501, "5.7.0 Authentication aborted");
      break;
    }
    if (rc == GSASL_OK) break;  // the answer to SCRAM's final message
    input = *answer;
  }
  gsasl_finish(sasl);
  gsasl_done(context);
  if (!sent) return false;
  if (rc == GSASL_OK) return session.Reply(235, "2.7.0 Authentication successful");
  if (cancelled) return true;  // already answered
  return session.Reply(535, "5.7.8 Error: authentication failed");
}

// A server with STARTTLS that offers `mechanisms` after TLS only, and serves AUTH with `serve`.
MtaBehavior Submission(std::string mechanisms,
                       std::function<bool(Session&, const std::string&)> serve = ServeSaslAuth) {
  MtaBehavior behavior;
  behavior.tls = &TestPki::Get().leaf();
  behavior.tls_capabilities = {"PIPELINING", "AUTH " + mechanisms, "ENHANCEDSTATUSCODES"};
  behavior.other_command = [serve](Session& session, const std::string& line) {
    if (line.rfind("AUTH ", 0) != 0) return session.Reply(502, "5.5.2 unknown command");
    return serve(session, line);
  };
  return behavior;
}

// --- the probe -----------------------------------------------------------------------------------

ProbeSpec AuthSpec(const FakeSmtpServer& server, std::vector<std::string> mechanisms = {}) {
  ProbeSpec spec;
  spec.host = "127.0.0.1";
  spec.port = server.port();
  spec.timeout = std::chrono::milliseconds(10000);
  spec.ehlo_name = "probe.test";
  spec.tls.server_name = "mx.test";
  spec.tls.ca_file = TestPki::Get().ca_file();
  spec.check_fcrdns = false;
  spec.auth.username = kUser;
  spec.auth.password = kPassword;
  spec.auth.mechanisms = std::move(mechanisms);
  return spec;
}

class ProbeAuthTest : public ::testing::Test {
 protected:
  ProbeResult Probe(FakeSmtpServer& server, const ProbeSpec& spec) {
    const Clock::time_point start = Clock::now();
    result_ = RunProbe(spec);
    wall_ = Clock::now() - start;
    EXPECT_TRUE(server.WaitForSessions()) << "the server's sessions did not finish";
    EXPECT_FALSE(server.Received("DATA"));
    if (!spec.relay.enabled) {
      EXPECT_FALSE(server.Received("MAIL")) << "after AUTH: QUIT, no MAIL";
    }
    // The password is never in the transcript, in any form the probe sent it.
    const std::string transcript = Transcript(result_);
    EXPECT_THAT(transcript, Not(HasSubstr(kPassword)));
    for (const std::string& line : server.commands()) {
      const bool verb =
          std::all_of(line.begin(), line.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
      if (line.size() >= 8 && !verb && line.find(' ') == std::string::npos) {
        EXPECT_THAT(transcript, Not(HasSubstr(line))) << "SASL data in the transcript";
      }
      if (line.rfind("AUTH ", 0) == 0 && line.find(' ', 5) != std::string::npos) {
        EXPECT_THAT(transcript, Not(HasSubstr(line.substr(line.find(' ', 5) + 1))));
      }
    }
    return result_;
  }

  void TearDown() override {
    if (HasFailure()) std::printf("%s", Transcript(result_).c_str());
  }

  ProbeResult result_;
  Clock::duration wall_{};
};

// Each mechanism against a server that checks it with GNU SASL's server side.
class MechanismTest : public ProbeAuthTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(MechanismTest, GoodCredentialsSucceedAndQuit) {
  const std::string mechanism = GetParam();
  FakeSmtpServer server([](Session& session) {
    ServeStandardMta(session, Submission("SCRAM-SHA-256 SCRAM-SHA-1 CRAM-MD5 PLAIN LOGIN"));
  });
  const ProbeResult result = Probe(server, AuthSpec(server, {mechanism}));
  EXPECT_TRUE(result.success) << result.failure_detail;
  EXPECT_THAT(AuthStep(result), ElementsAre("235", "2.7.0", "ok"));
  EXPECT_EQ(result.auth->mechanism, mechanism);
  EXPECT_EQ(result.auth->outcome, AuthOutcome::kSuccess);
  EXPECT_TRUE(result.auth->over_tls);
  EXPECT_EQ(result.auth->server_verified, mechanism.starts_with("SCRAM-"));
  EXPECT_TRUE(server.Received("QUIT"));
  EXPECT_THAT(Transcript(result), HasSubstr("authenticated as probe@mx.test with " + mechanism));
}

TEST_P(MechanismTest, WrongPasswordIs535BadCredentials) {
  const std::string mechanism = GetParam();
  FakeSmtpServer server([](Session& session) {
    ServeStandardMta(session, Submission("SCRAM-SHA-256 SCRAM-SHA-1 CRAM-MD5 PLAIN LOGIN"));
  });
  ProbeSpec spec = AuthSpec(server, {mechanism});
  spec.auth.password = "wrong-password";
  const ProbeResult result = Probe(server, spec);
  EXPECT_FALSE(result.success);
  EXPECT_EQ(result.failed_step, Step::kAuth);
  EXPECT_THAT(AuthStep(result), ElementsAre("535", "5.7.8", "rejected"));
  EXPECT_EQ(result.auth->outcome, AuthOutcome::kBadCredentials);
  EXPECT_TRUE(server.Received("QUIT"));
}

INSTANTIATE_TEST_SUITE_P(Each, MechanismTest,
                         ::testing::Values("SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5", "PLAIN",
                                           "LOGIN"),
                         [](const auto& param_info) {
                           std::string name = param_info.param;
                           std::erase(name, '-');
                           return name;
                         });

TEST_F(ProbeAuthTest, TheFirstConfiguredMechanismTheServerOffersIsUsed) {
  FakeSmtpServer server(
      [](Session& session) { ServeStandardMta(session, Submission("PLAIN LOGIN CRAM-MD5")); });
  // The default order is strongest first: CRAM-MD5 before PLAIN and LOGIN.
  EXPECT_EQ(Probe(server, AuthSpec(server)).auth->mechanism, "CRAM-MD5");
}

TEST_F(ProbeAuthTest, PlainSendsAnInitialResponseShownRedacted) {
  FakeSmtpServer server([](Session& session) { ServeStandardMta(session, Submission("PLAIN")); });
  const ProbeResult result = Probe(server, AuthSpec(server));
  EXPECT_TRUE(result.success);
  // RFC 4616: base64("\0probe@mx.test\0s3cret-Pa55word").
  EXPECT_THAT(server.commands(),
              ::testing::Contains("AUTH PLAIN AHByb2JlQG14LnRlc3QAczNjcmV0LVBhNTV3b3Jk"));
  EXPECT_THAT(Transcript(result), HasSubstr("C: AUTH PLAIN <redacted>\n"));
}

TEST_F(ProbeAuthTest, LoginChallengesAndResponsesAreRedacted) {
  FakeSmtpServer server([](Session& session) { ServeStandardMta(session, Submission("LOGIN")); });
  const ProbeResult result = Probe(server, AuthSpec(server));
  EXPECT_TRUE(result.success);
  const std::string transcript = Transcript(result);
  EXPECT_THAT(transcript, HasSubstr("C: AUTH LOGIN\nS: 334 <redacted>\nC: <redacted>\n"));
  EXPECT_EQ(result.auth->rounds, 2);
}

// --- reply codes ---------------------------------------------------------------------------------

struct CodeCase {
  std::string reply;  // the whole reply line to AUTH
  AuthOutcome outcome;
  std::vector<std::string> step;  // code, enhanced code, reason
};

class ReplyCodeTest : public ProbeAuthTest, public ::testing::WithParamInterface<CodeCase> {};

TEST_P(ReplyCodeTest, EachReplyCodeIsItsOwnOutcome) {
  const CodeCase& c = GetParam();
  FakeSmtpServer server([&c](Session& session) {
    ServeStandardMta(session, Submission("PLAIN", [&c](Session& s, const std::string&) {
                       return s.Send(c.reply + "\r\n");
                     }));
  });
  const Clock::time_point start = Clock::now();
  const ProbeResult result = Probe(server, AuthSpec(server));
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(3)) << "decided by the reply, fast";
  EXPECT_EQ(result.success, c.outcome == AuthOutcome::kSuccess);
  EXPECT_EQ(result.auth->outcome, c.outcome) << ToString(result.auth->outcome);
  EXPECT_EQ(AuthStep(result), c.step);
  // 421: the server closes (RFC 5321 §3.8), so no QUIT; otherwise QUIT.
  EXPECT_EQ(server.Received("QUIT"), c.reply.rfind("421", 0) != 0);
}

INSTANTIATE_TEST_SUITE_P(
    Codes, ReplyCodeTest,
    ::testing::Values(
        CodeCase{
            "235 2.7.0 Authentication successful", AuthOutcome::kSuccess, {"235", "2.7.0", "ok"}},
        CodeCase{"535 5.7.8 Authentication credentials invalid",
                 AuthOutcome::kBadCredentials,
                 {"535", "5.7.8", "rejected"}},
        CodeCase{"534 5.7.9 Authentication mechanism is too weak",
                 AuthOutcome::kTooWeak,
                 {"534", "5.7.9", "rejected"}},
        CodeCase{"454 4.7.0 Temporary authentication failure",
                 AuthOutcome::kTemporaryFailure,
                 {"454", "4.7.0", "rejected"}},
        CodeCase{"538 5.7.11 Encryption required for requested authentication mechanism",
                 AuthOutcome::kEncryptionRequired,
                 {"538", "5.7.11", "rejected"}},
        CodeCase{"504 5.5.4 Unrecognized authentication type",
                 AuthOutcome::kRejected,
                 {"504", "5.5.4", "rejected"}},
        CodeCase{"432 4.7.12 A password transition is needed",
                 AuthOutcome::kTemporaryFailure,
                 {"432", "4.7.12", "rejected"}},
        CodeCase{"421 4.3.2 Service shutting down",
                 AuthOutcome::kTemporaryFailure,
                 {"421", "4.3.2", "rejected"}},
        CodeCase{"250 2.0.0 Ok", AuthOutcome::kError, {"250", "2.0.0", "protocol"}}),
    [](const auto& param_info) { return "Reply" + param_info.param.reply.substr(0, 3); });

// --- hostile servers -----------------------------------------------------------------------------

TEST_F(ProbeAuthTest, GarbageChallengeIsCancelledWithAStar) {
  FakeSmtpServer server([](Session& session) {
    ServeStandardMta(session, Submission("CRAM-MD5", [](Session& s, const std::string&) {
                       if (!s.Reply(334, "!!! this is not base64 !!!")) return false;
                       std::optional<std::string> answer = s.ReadLine();
                       return answer && *answer == "*" &&
                              s.Reply(501, "5.7.0 Authentication aborted");
                     }));
  });
  const ProbeResult result = Probe(server, AuthSpec(server));
  EXPECT_FALSE(result.success);
  EXPECT_EQ(result.auth->outcome, AuthOutcome::kError);
  EXPECT_EQ(result.failure_reason, FailureReason::kProtocol);
  EXPECT_THAT(result.failure_detail, HasSubstr("refused by SASL"));
  EXPECT_THAT(server.commands(), ::testing::Contains("*"));
  EXPECT_TRUE(server.Received("QUIT"));
}

TEST_F(ProbeAuthTest, GarbageInsteadOfAReplyIsAProtocolFailure) {
  FakeSmtpServer server([](Session& session) {
    ServeStandardMta(session, Submission("PLAIN", [](Session& s, const std::string&) {
                       return s.Send("HTTP/1.1 400 Bad Request\r\n\r\n");
                     }));
  });
  const ProbeResult result = Probe(server, AuthSpec(server));
  EXPECT_FALSE(result.success);
  EXPECT_EQ(result.failed_step, Step::kAuth);
  EXPECT_EQ(result.failure_reason, FailureReason::kProtocol);
  EXPECT_EQ(result.auth->outcome, AuthOutcome::kError);
}

TEST_F(ProbeAuthTest, EndlessChallengesAreCutOffQuickly) {
  // A server that answers every response with another 334 ("Password:" forever).
  FakeSmtpServer server([](Session& session) {
    ServeStandardMta(session, Submission("LOGIN", [](Session& s, const std::string&) {
                       while (s.Reply(334, "UGFzc3dvcmQ6")) {
                         std::optional<std::string> answer = s.ReadLine();
                         if (!answer) return false;
                         if (*answer == "*") return s.Reply(501, "5.7.0 aborted");
                       }
                       return false;
                     }));
  });
  const Clock::time_point start = Clock::now();
  const ProbeResult result = Probe(server, AuthSpec(server));
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(3));
  EXPECT_EQ(result.auth->outcome, AuthOutcome::kError);
  EXPECT_EQ(result.failure_reason, FailureReason::kProtocol);
  EXPECT_LE(result.auth->rounds, kMaxAuthRounds);
  EXPECT_THAT(server.commands(), ::testing::Contains("*"));
}

TEST_F(ProbeAuthTest, AChallengeThatNeverEndsIsBoundedByTheDeadline) {
  // 334 then silence after our answer: only the probe's deadline ends it.
  FakeSmtpServer server([](Session& session) {
    ServeStandardMta(session, Submission("LOGIN", [](Session& s, const std::string&) {
                       if (!s.Reply(334, "VXNlcm5hbWU6")) return false;
                       s.ReadLine();
                       s.Sleep(std::chrono::seconds(10));
                       return false;
                     }));
  });
  ProbeSpec spec = AuthSpec(server);
  spec.timeout = std::chrono::milliseconds(1500);
  const ProbeResult result = Probe(server, spec);
  EXPECT_LT(result.duration, std::chrono::milliseconds(2500));
  EXPECT_EQ(result.failed_step, Step::kAuth);
  EXPECT_EQ(result.failure_reason, FailureReason::kTimeout);
  EXPECT_EQ(result.auth->outcome, AuthOutcome::kError);
}

TEST_F(ProbeAuthTest, AServerThatClosesMidAuthIsAReset) {
  FakeSmtpServer server([](Session& session) {
    ServeStandardMta(session, Submission("LOGIN", [](Session& s, const std::string&) {
                       if (!s.Reply(334, "VXNlcm5hbWU6")) return false;
                       s.ReadLine();
                       s.Close();
                       return false;
                     }));
  });
  const ProbeResult result = Probe(server, AuthSpec(server));
  EXPECT_EQ(result.failed_step, Step::kAuth);
  EXPECT_EQ(result.failure_reason, FailureReason::kReset);
  EXPECT_FALSE(server.Received("QUIT"));
}

TEST_F(ProbeAuthTest, AServerThatEchoesTheCredentialsCannotLeakThemIntoTheTranscript) {
  FakeSmtpServer server([](Session& session) {
    ServeStandardMta(session, Submission("PLAIN", [](Session& s, const std::string& line) {
                       return s.Reply(535, "5.7.8 bad: " + line + " password " + kPassword);
                     }));
  });
  const ProbeResult result = Probe(server, AuthSpec(server));  // Probe() checks the transcript
  EXPECT_EQ(result.auth->outcome, AuthOutcome::kBadCredentials);
  EXPECT_THAT(Transcript(result), HasSubstr("<redacted> password <redacted>"));
}

TEST_F(ProbeAuthTest, AScramServerWithAWrongSignatureIsRefused) {
  // The server does not know the password: its final message cannot carry the right
  // signature (RFC 5802 §3), which the client must notice even though it would say 235.
  FakeSmtpServer server([](Session& session) {
    ServeStandardMta(session, Submission("SCRAM-SHA-256", [](Session& s, const std::string&) {
                       // server-first with a nonce that extends nothing the client sent
                       if (!s.Reply(334, "cj1ub3RoaXMscz1RU0ZNVDBRPSxpPTQwOTY=")) return false;
                       std::optional<std::string> answer = s.ReadLine();
                       return answer && s.Reply(*answer == "*" ? 501 : 235, "2.7.0 ok");
                     }));
  });
  const ProbeResult result = Probe(server, AuthSpec(server));
  EXPECT_FALSE(result.success);
  EXPECT_EQ(result.auth->outcome, AuthOutcome::kError);
  EXPECT_FALSE(result.auth->server_verified);
}

// --- where AUTH may happen -----------------------------------------------------------------------

TEST_F(ProbeAuthTest, NoCredentialsOverPlaintextUnlessAllowed) {
  MtaBehavior behavior;  // no STARTTLS, AUTH offered in plaintext
  behavior.capabilities = {"PIPELINING", "AUTH PLAIN LOGIN"};
  behavior.other_command = [](Session& s, const std::string& line) {
    return ServeSaslAuth(s, line);
  };
  FakeSmtpServer server([&behavior](Session& session) { ServeStandardMta(session, behavior); });
  ProbeResult result = Probe(server, AuthSpec(server));
  EXPECT_FALSE(result.success);
  EXPECT_EQ(result.failure_reason, FailureReason::kTls);
  EXPECT_EQ(result.auth->outcome, AuthOutcome::kPlaintextRefused);
  EXPECT_FALSE(server.Received("AUTH"));
  EXPECT_TRUE(server.Received("QUIT"));

  FakeSmtpServer allowing([&behavior](Session& session) { ServeStandardMta(session, behavior); });
  ProbeSpec spec = AuthSpec(allowing);
  spec.auth.allow_plaintext = true;
  result = Probe(allowing, spec);
  EXPECT_TRUE(result.success) << result.failure_detail;
  EXPECT_FALSE(result.auth->over_tls);
}

TEST_F(ProbeAuthTest, AuthNotOfferedAfterTls) {
  MtaBehavior behavior = Submission("PLAIN");
  behavior.tls_capabilities = {"PIPELINING", "ENHANCEDSTATUSCODES"};
  FakeSmtpServer server([&behavior](Session& session) { ServeStandardMta(session, behavior); });
  const ProbeResult result = Probe(server, AuthSpec(server));
  EXPECT_EQ(result.auth->outcome, AuthOutcome::kNotOffered);
  EXPECT_EQ(result.failure_reason, FailureReason::kRejected);
  EXPECT_FALSE(server.Received("AUTH"));
}

TEST_F(ProbeAuthTest, NoCommonMechanism) {
  FakeSmtpServer server([](Session& session) { ServeStandardMta(session, Submission("NTLM")); });
  const ProbeResult result = Probe(server, AuthSpec(server, {"PLAIN"}));
  EXPECT_EQ(result.auth->outcome, AuthOutcome::kNoCommonMechanism);
  EXPECT_THAT(result.failure_detail, HasSubstr("the server offers NTLM"));
  EXPECT_FALSE(server.Received("AUTH"));
}

TEST_F(ProbeAuthTest, ImplicitTlsAuthenticatesAfterTheFirstEhlo) {
  MtaBehavior behavior = Submission("PLAIN");
  behavior.capabilities = behavior.tls_capabilities;
  behavior.tls = nullptr;
  FakeSmtpServer::Options options;
  options.implicit_tls = &TestPki::Get().leaf();
  FakeSmtpServer server([&behavior](Session& session) { ServeStandardMta(session, behavior); },
                        options);
  ProbeSpec spec = AuthSpec(server);
  spec.implicit_tls = true;
  const ProbeResult result = Probe(server, spec);
  EXPECT_TRUE(result.success) << result.failure_detail;
  EXPECT_TRUE(result.auth->over_tls);
}

TEST_F(ProbeAuthTest, TheRelayTestRunsBeforeAuth) {
  MtaBehavior behavior = Submission("PLAIN");
  behavior.rcpt_codes = {554};
  FakeSmtpServer server([&behavior](Session& session) { ServeStandardMta(session, behavior); });
  ProbeSpec spec = AuthSpec(server);
  spec.relay.enabled = true;
  const ProbeResult result = Probe(server, spec);
  EXPECT_TRUE(result.success) << result.failure_detail;
  EXPECT_TRUE(result.auth->over_tls);
  // The relay test ran before AUTH, unauthenticated as a stranger would, and nothing after it.
  const std::vector<std::string> commands = server.commands();
  const auto auth = std::find_if(commands.begin(), commands.end(),
                                 [](const std::string& c) { return c.starts_with("AUTH"); });
  EXPECT_TRUE(std::none_of(auth, commands.end(),
                           [](const std::string& c) { return c.starts_with("RCPT"); }));
}

// --- user enumeration (VRFY, EXPN) ---------------------------------------------------------------

// Answers VRFY/EXPN of `known` with its code, of anything else with `unknown`; AUTH as a server.
MtaBehavior Verifying(int known_vrfy, int unknown_vrfy, int expn, bool hang_up_at_expn = false) {
  MtaBehavior behavior = Submission("PLAIN");
  behavior.other_command = [=](Session& s, const std::string& line) {
    if (line.rfind("AUTH ", 0) == 0) return ServeSaslAuth(s, line);
    if (line.rfind("VRFY ", 0) == 0) {
      const int code = line == "VRFY postmaster" ? known_vrfy : unknown_vrfy;
      return s.Reply(code, code == 250 ? "2.1.5 <postmaster@mx.test>" : "5.1.1 no such user");
    }
    if (line.rfind("EXPN ", 0) == 0) {
      if (hang_up_at_expn) {
        s.Reset();
        return false;
      }
      return s.Reply(expn, "EXPN answer");
    }
    return s.Reply(502, "5.5.2 unknown command");
  };
  return behavior;
}

ProbeSpec EnumerationSpec(const FakeSmtpServer& server) {
  ProbeSpec spec = AuthSpec(server);
  spec.user_enumeration.enabled = true;
  return spec;
}

TEST_F(ProbeAuthTest, VrfyThatConfirmsUsersIsExposedAndExpnNotImplementedIsNot) {
  const MtaBehavior behavior = Verifying(250, 550, 502);
  FakeSmtpServer server([&behavior](Session& session) { ServeStandardMta(session, behavior); });
  const ProbeResult result = Probe(server, EnumerationSpec(server));
  EXPECT_TRUE(result.success) << result.failure_detail;
  ASSERT_EQ(result.user_enumeration->checks.size(), 2u);
  const EnumerationCheck& vrfy = result.user_enumeration->checks[0];
  EXPECT_EQ(vrfy.method, "vrfy");
  EXPECT_EQ(vrfy.real_code, 250);
  EXPECT_EQ(vrfy.random_code, 550);
  EXPECT_EQ(vrfy.result, EnumerationResult::kExposed);
  EXPECT_EQ(result.user_enumeration->checks[1].result, EnumerationResult::kNotExposed);
  EXPECT_TRUE(server.Received("AUTH")) << "AUTH still runs, after the enumeration";
  // Asked as a stranger: VRFY and EXPN before AUTH.
  const std::vector<std::string> commands = server.commands();
  const auto auth = std::find_if(commands.begin(), commands.end(),
                                 [](const std::string& c) { return c.starts_with("AUTH"); });
  EXPECT_TRUE(std::none_of(auth, commands.end(), [](const std::string& c) {
    return c.starts_with("VRFY") || c.starts_with("EXPN");
  }));
}

TEST_F(ProbeAuthTest, VrfyThatCannotVerifyIsNotExposed) {
  const MtaBehavior behavior = Verifying(252, 252, 252);
  FakeSmtpServer server([&behavior](Session& session) { ServeStandardMta(session, behavior); });
  const ProbeResult result = Probe(server, EnumerationSpec(server));
  for (const EnumerationCheck& check : result.user_enumeration->checks) {
    EXPECT_EQ(check.result, EnumerationResult::kNotExposed) << check.method;
  }
}

TEST_F(ProbeAuthTest, AHangUpDuringEnumerationLeavesItInconclusiveAndAuthReconnects) {
  const MtaBehavior behavior = Verifying(250, 550, 250, /*hang_up_at_expn=*/true);
  FakeSmtpServer server([&behavior](Session& session) { ServeStandardMta(session, behavior); });
  const ProbeResult result = Probe(server, EnumerationSpec(server));
  EXPECT_TRUE(result.success) << "the enumeration never fails the probe: " << result.failure_detail;
  EXPECT_EQ(result.user_enumeration->checks[0].result, EnumerationResult::kExposed);
  EXPECT_EQ(result.user_enumeration->checks[1].result, EnumerationResult::kInconclusive);
  EXPECT_EQ(server.connections(), 2) << "AUTH in a new session";
  EXPECT_TRUE(result.auth->success());
}

}  // namespace
}  // namespace smtp::testing

// The AUTH dialogue (probes/auth.h) without a socket: which mechanism is chosen, what is sent and
// shown, and what each reply means.
#include "probes/auth.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace smtp {
namespace {

Reply MakeReply(int code, std::string text) {
  Reply reply;
  reply.code = code;
  reply.lines = {std::move(text)};
  return reply;
}

std::unique_ptr<AuthDialogue> Start(const std::string& mechanism, const std::string& user = "u",
                                    const std::string& password = "p4ss") {
  std::string error;
  std::unique_ptr<AuthDialogue> dialogue = AuthDialogue::Start(mechanism, user, password, &error);
  EXPECT_TRUE(dialogue) << error;
  return dialogue;
}

TEST(ChooseAuthMechanism, FirstPreferredThatIsOffered) {
  EXPECT_EQ(ChooseAuthMechanism(SupportedAuthMechanisms(), {"LOGIN", "PLAIN"}), "PLAIN");
  EXPECT_EQ(ChooseAuthMechanism(SupportedAuthMechanisms(), {"CRAM-MD5", "PLAIN", "SCRAM-SHA-1"}),
            "SCRAM-SHA-1");
  EXPECT_EQ(ChooseAuthMechanism({"LOGIN", "PLAIN"}, {"PLAIN", "LOGIN"}), "LOGIN");
  EXPECT_EQ(ChooseAuthMechanism({"PLAIN"}, {"GSSAPI", "NTLM"}), std::nullopt);
  EXPECT_EQ(ChooseAuthMechanism({}, {"PLAIN"}), std::nullopt);
}

TEST(IsSupportedAuthMechanism, TheFiveInAnyCase) {
  for (const char* name : {"PLAIN", "login", "Cram-MD5", "SCRAM-SHA-1", "scram-sha-256"}) {
    EXPECT_TRUE(IsSupportedAuthMechanism(name)) << name;
  }
  for (const char* name : {"", "NTLM", "GSSAPI", "XOAUTH2", "DIGEST-MD5", "SCRAM-SHA-256-PLUS"}) {
    EXPECT_FALSE(IsSupportedAuthMechanism(name)) << name;
  }
}

TEST(AuthDialogue, PlainSendsItsInitialResponseRedacted) {
  auto dialogue = Start("plain");
  const AuthDialogue::Action action = dialogue->Begin();
  ASSERT_TRUE(action.line);
  EXPECT_EQ(action.line->wire, "AUTH PLAIN AHUAcDRzcw==");  // RFC 4616: "\0u\0p4ss"
  EXPECT_EQ(action.line->shown, "AUTH PLAIN <redacted>");
  const AuthDialogue::Action done = dialogue->OnReply(MakeReply(235, "2.7.0 ok"));
  EXPECT_FALSE(done.line);
  EXPECT_EQ(done.outcome, AuthOutcome::kSuccess);
}

TEST(AuthDialogue, AnInitialResponseThatWouldPass512OctetsWaitsForTheEmpty334) {
  auto dialogue = Start("PLAIN", std::string(300, 'u'), std::string(200, 'p'));
  AuthDialogue::Action action = dialogue->Begin();
  ASSERT_TRUE(action.line);
  EXPECT_EQ(action.line->wire, "AUTH PLAIN");
  action = dialogue->OnReply(MakeReply(334, ""));
  ASSERT_TRUE(action.line);
  EXPECT_EQ(action.line->shown, "<redacted>");
  EXPECT_GT(action.line->wire.size(), 600u);
}

TEST(AuthDialogue, LoginAnswersTwoChallenges) {
  auto dialogue = Start("LOGIN");
  EXPECT_EQ(dialogue->Begin().line->wire, "AUTH LOGIN");
  AuthDialogue::Action action = dialogue->OnReply(MakeReply(334, "VXNlcm5hbWU6"));
  EXPECT_EQ(action.line->wire, "dQ==");
  action = dialogue->OnReply(MakeReply(334, "UGFzc3dvcmQ6"));
  EXPECT_EQ(action.line->wire, "cDRzcw==");
  EXPECT_EQ(action.line->shown, "<redacted>");
  EXPECT_EQ(dialogue->rounds(), 2);
}

TEST(AuthDialogue, CramMd5FollowsRfc2195) {
  // RFC 2195 §2's example: user tim, password tanstaaftanstaaf.
  auto dialogue = Start("CRAM-MD5", "tim", "tanstaaftanstaaf");
  EXPECT_EQ(dialogue->Begin().line->wire, "AUTH CRAM-MD5");
  const AuthDialogue::Action action =
      dialogue->OnReply(MakeReply(334, "PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+"));
  EXPECT_EQ(action.line->wire, "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw");
}

TEST(AuthDialogue, EachFinalReplyIsItsOutcome) {
  const struct {
    int code;
    AuthOutcome outcome;
  } kCases[] = {
      {235, AuthOutcome::kSuccess},
      {535, AuthOutcome::kBadCredentials},
      {534, AuthOutcome::kTooWeak},
      {454, AuthOutcome::kTemporaryFailure},
      {538, AuthOutcome::kEncryptionRequired},
      {504, AuthOutcome::kRejected},
      {501, AuthOutcome::kRejected},
      {530, AuthOutcome::kRejected},
      {421, AuthOutcome::kTemporaryFailure},
      {250, AuthOutcome::kError},
      {354, AuthOutcome::kError},
  };
  for (const auto& c : kCases) {
    auto dialogue = Start("PLAIN");
    dialogue->Begin();
    const AuthDialogue::Action action = dialogue->OnReply(MakeReply(c.code, "x"));
    EXPECT_FALSE(action.line) << c.code;
    EXPECT_EQ(action.outcome, c.outcome) << c.code;
  }
}

TEST(AuthDialogue, AChallengeThatIsNotBase64IsCancelled) {
  auto dialogue = Start("CRAM-MD5");
  dialogue->Begin();
  AuthDialogue::Action action = dialogue->OnReply(MakeReply(334, "%%% not base64"));
  ASSERT_TRUE(action.line);
  EXPECT_EQ(action.line->wire, "*");  // RFC 4954 §4
  action = dialogue->OnReply(MakeReply(501, "5.7.0 cancelled"));
  EXPECT_FALSE(action.line);
  EXPECT_EQ(action.outcome, AuthOutcome::kError);
  EXPECT_NE(action.detail.find("refused by SASL"), std::string::npos);
}

TEST(AuthDialogue, ChallengesAfterTheExchangeEndedAreCancelled) {
  auto dialogue = Start("PLAIN");
  dialogue->Begin();
  AuthDialogue::Action action = dialogue->OnReply(MakeReply(334, ""));
  EXPECT_EQ(action.line->wire, "*");
  EXPECT_EQ(dialogue->OnReply(MakeReply(334, "")).outcome, AuthOutcome::kError);
}

TEST(AuthDialogue, AtMostkMaxAuthRoundsChallengesAreAnswered) {
  // GNU SASL's CRAM-MD5 keeps asking for a challenge while the server sends empty ones (found by
  // the fuzzer, tests/fuzz/corpus/auth/cram_md5_empty_challenges).
  auto dialogue = Start("CRAM-MD5");
  AuthDialogue::Action action = dialogue->Begin();
  int lines = 0;
  while (action.line && action.line->wire != "*" && lines < 100) {
    action = dialogue->OnReply(MakeReply(334, ""));
    ++lines;
  }
  ASSERT_TRUE(action.line);
  EXPECT_EQ(action.line->wire, "*");
  EXPECT_EQ(dialogue->rounds(), kMaxAuthRounds);
  EXPECT_EQ(dialogue->OnReply(MakeReply(501, "cancelled")).outcome, AuthOutcome::kError);
}

TEST(AuthDialogue, AMultiLine334IsCancelled) {
  auto dialogue = Start("LOGIN");
  dialogue->Begin();
  Reply reply = MakeReply(334, "VXNlcm5hbWU6");
  reply.lines.push_back("more");
  EXPECT_EQ(dialogue->OnReply(reply).line->wire, "*");
}

TEST(AuthDialogue, UnknownMechanismsCannotStart) {
  std::string error;
  EXPECT_FALSE(AuthDialogue::Start("NTLM", "u", "p", &error));
  EXPECT_NE(error.find("NTLM"), std::string::npos);
}

}  // namespace
}  // namespace smtp

// The relay test of a probe (DESIGN §1, REFERENCE "Relay test"); see probes/probe_session.h.
#include <algorithm>
#include <cstdio>
#include <random>
#include <utility>

#include "probes/command.h"
#include "probes/probe_session.h"
#include "probes/relay_variants.h"
#include "probes/text.h"
#include "probes/verdict.h"

namespace smtp {
namespace {

// New sessions a relay test may open after the server hung up on it (Exim drops a session after
// three syntax errors, smtp_max_synprot_errors): enough for the "all" set against Exim.
constexpr int kMaxRelayReconnects = 6;

}  // namespace

std::string RandomLocalPart(std::string_view prefix) {
  static thread_local std::mt19937_64 generator{std::random_device{}()};
  char hex[17];
  std::snprintf(hex, sizeof hex, "%012llx",
                static_cast<unsigned long long>(generator() & 0xffffffffffffULL));
  return std::string(prefix) + hex;
}

asio::awaitable<void> ProbeSession::RelayTest() {
  BeginStep(Step::kRelay);
  const std::vector<RelayQuestion> questions = PlanRelayTest();
  // Its own time budget: a slow relay test (Exchange tarpits every 5yz) cannot eat the health
  // steps' timeout, and what it did not reach is reported as not run.
  const Clock::duration health_left = deadline_.expiry() - Clock::now();
  ArmDeadline(Clock::now() + spec_.relay.timeout);
  const bool session_ok = co_await AskRelayQuestions(questions);
  FinishRelayTest(session_ok);
  // QUIT and reverse DNS get what the health steps left of their own budget.
  ArmDeadline(Clock::now() + std::max(health_left, Clock::duration::zero()));
}

std::vector<RelayQuestion> ProbeSession::PlanRelayTest() {
  RelayResult& relay = *result_.relay;
  relay.ran = true;
  relay.over_tls = connection_->is_tls();
  relay.starttls_offered = result_.starttls_offered.value_or(false);

  RelayContext context;
  context.mail_from = spec_.relay.mail_from;
  context.rcpt_to = spec_.relay.rcpt_to;
  context.server_name = result_.greeting ? result_.greeting->hostname : "";
  if (context.server_name.empty() && !IsIpLiteral(spec_.host)) context.server_name = spec_.host;
  context.server_ip = result_.dns.connected_address;
  const std::vector<RelayEnvelope> envelopes = BuildRelayEnvelopes(
      spec_.relay.variants.empty() ? BasicRelayVariants() : spec_.relay.variants, context);
  // The catch-all question's random local part.
  const std::string nobody = RandomLocalPart("smtp-exporter-catch-all-");
  for (const std::string& domain : CatchAllDomains(envelopes, context)) {
    CatchAllCheck check;
    check.domain = domain;
    check.rcpt_to = CatchAllRecipient(domain, nobody);
    relay.catch_all_checks.push_back(std::move(check));
  }
  for (const RelayEnvelope& envelope : envelopes) {
    RelayAttempt attempt;
    attempt.variant = envelope.variant;
    attempt.mail_from = envelope.mail_from;
    attempt.rcpt_to = envelope.rcpt_to;
    attempt.hack = envelope.hack;
    attempt.local_domain = envelope.local_domain;
    relay.attempts.push_back(std::move(attempt));
  }

  // The questions, catch-all ones first: the codes go into the vectors just filled, which do not
  // change size from here on.
  const std::string sender = AnglePath(spec_.relay.mail_from);
  std::vector<RelayQuestion> questions;
  for (CatchAllCheck& check : relay.catch_all_checks) {
    questions.push_back({sender, check.rcpt_to, &check.mail_code, &check.rcpt_code});
  }
  for (RelayAttempt& attempt : relay.attempts) {
    questions.push_back(
        {attempt.mail_from, attempt.rcpt_to, &attempt.mail_code, &attempt.rcpt_code});
  }
  return questions;
}

asio::awaitable<bool> ProbeSession::AskRelayQuestions(const std::vector<RelayQuestion>& questions) {
  const RelayResult& relay = std::as_const(result_).relay;
  int reconnects_left = kMaxRelayReconnects;
  bool session_ok = true;
  for (const RelayQuestion& question : questions) {
    // A question cut off by a hang-up is asked once more in a new session.
    for (int tries = 0; tries < 2 && relay.stop_reason == FailureReason::kNone; ++tries) {
      if (!session_ok) {
        if (!co_await ReopenRelaySession(&reconnects_left)) break;
        session_ok = true;
      }
      std::optional<IoFailure> lost = co_await AskRelayQuestion(question, &session_ok);
      if (!lost) break;
      session_ok = false;
      if (lost->reason != FailureReason::kReset) {
        StopRelayTest(deadline_passed() ? FailureReason::kTimeout : lost->reason,
                      deadline_passed() ? "the relay test's time budget ran out" : lost->detail);
      }
    }
    if (relay.stop_reason != FailureReason::kNone) break;
  }
  co_return session_ok;
}

// A new session after the server hung up, unless the budget or the reconnects ran out (then the
// test stops, and false is returned).
asio::awaitable<bool> ProbeSession::ReopenRelaySession(int* reconnects_left) {
  if (deadline_passed()) {
    StopRelayTest(FailureReason::kTimeout, "the relay test's time budget ran out");
    co_return false;
  }
  if ((*reconnects_left)-- == 0) {
    StopRelayTest(FailureReason::kReset, "the server kept hanging up");
    co_return false;
  }
  ++result_.relay->reconnects;
  if (std::optional<IoFailure> failure = co_await Reconnect(result_.relay->over_tls)) {
    StopRelayTest(deadline_passed() ? FailureReason::kTimeout : failure->reason,
                  "reconnect failed: " + failure->detail);
    co_return false;
  }
  co_return true;
}

// MAIL FROM, then RCPT TO when MAIL was accepted, then RSET (RFC 5321 §4.1.1.5). Never DATA.
asio::awaitable<std::optional<IoFailure>> ProbeSession::AskRelayQuestion(
    const RelayQuestion& question, bool* session_ok) {
  *question.mail_code = *question.rcpt_code = 0;
  std::optional<IoFailure> lost =
      co_await AskRelayCommand("MAIL", "FROM:" + question.mail_from, question.mail_code);
  if (!lost && *question.mail_code / 100 == 2) {
    lost = co_await AskRelayCommand("RCPT", "TO:" + question.rcpt_to, question.rcpt_code);
  }
  if (lost) co_return lost;
  // RSET aborts the transaction. A server that refuses it (530 before STARTTLS) still answers
  // the next MAIL; only a lost session needs a new one.
  auto reset = co_await Talk("RSET", "");
  const Reply* reply = std::get_if<Reply>(&reset);
  if (reply != nullptr) RecordReply(*reply);
  *session_ok = reply != nullptr && reply->code != 421;
  co_return std::nullopt;
}

// One command of a question: its reply code goes to *code. A 421 (RFC 5321 §3.8: the server is
// closing the session) or a lost session leaves the question unanswered (code 0) for the retry.
asio::awaitable<std::optional<IoFailure>> ProbeSession::AskRelayCommand(std::string_view verb,
                                                                        std::string argument,
                                                                        int* code) {
  auto outcome = co_await Talk(verb, argument);
  if (auto* failure = std::get_if<IoFailure>(&outcome)) co_return *failure;
  const Reply& reply = std::get<Reply>(outcome);
  RecordReply(reply);
  if (reply.code == 421) {
    co_return IoFailure{FailureReason::kReset, "server closed the session (421)"};
  }
  *code = reply.code;
  co_return std::nullopt;
}

void ProbeSession::StopRelayTest(FailureReason reason, std::string detail) {
  result_.relay->stop_reason = reason;
  result_.relay->stop_detail = std::move(detail);
}

void ProbeSession::FinishRelayTest(bool session_ok) {
  RelayResult& relay = *result_.relay;
  ClassifyRelayResult(relay);
  channel_sane_ = channel_sane_ && session_ok;
  if (relay.complete()) {
    FinishStep();
  } else {
    if (relay.stop_reason == FailureReason::kNone) {
      StopRelayTest(FailureReason::kReset, "session lost");
    }
    // It ended waiting for a reply: the last code seen answered an earlier command.
    current().reply_code = 0;
    current().enhanced_code.reset();
    // Not a health failure: the verdict reports variants not run (DESIGN §1).
    FailStep(relay.stop_reason, "relay test cut short: " + relay.stop_detail, /*fatal=*/false);
  }
  for (const RelayAttempt& attempt : relay.attempts) {
    if (attempt.outcome == RelayOutcome::kAccepted) {
      Note('*', "relay variant " + attempt.variant + ": foreign recipient accepted at RCPT");
    } else if (attempt.outcome == RelayOutcome::kCatchAll) {
      Note('*', "relay variant " + attempt.variant + ": accepted, but so is any local part at " +
                    attempt.local_domain + " (catch-all): proves nothing");
    }
  }
}

}  // namespace smtp

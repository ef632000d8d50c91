// Private to the probe engine (probes/prober.cc and the files below): one ProbeSession per probe
// owns the connection, the deadline and the result while its coroutine runs. Its steps live in
//   probe_session.cc  bookkeeping, resolve and connect, greeting, EHLO/HELO, QUIT, reverse DNS,
//                     the deadline and Run(), the whole pipeline (see probes/prober.h)
//   probe_tls.cc      implicit TLS, STARTTLS with its plaintext fallback, EHLO over TLS, and
//                     Reconnect(), the fresh session both the fallback and the relay test use
//   probe_relay.cc    the relay test
//   probe_auth.cc     the AUTH step
//   probe_enumeration.cc  the user-enumeration step (VRFY, EXPN)
//   probe_domain.cc   the domain checks (MTA-STS, TLS-RPT, DNSBL) after the dialogue; the
//                     policy's HTTPS fetch is policy_fetch.cc's
// Every method runs on the session's executor; deadline handlers hold a weak_ptr only.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "probes/dns_resolver.h"
#include "probes/probe_result.h"
#include "probes/probe_spec.h"
#include "probes/reply_parser.h"
#include "probes/smtp_connection.h"

namespace smtp {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

// One relay-test question: a MAIL FROM and RCPT TO pair, and where their reply codes go (a
// catch-all check or a relay attempt of ProbeResult::relay; 0 = not answered).
struct RelayQuestion {
  std::string mail_from;
  std::string rcpt_to;
  int* mail_code;
  int* rcpt_code;
};

// A random local part that cannot exist: `prefix` and 12 hex digits (RFC 5321 §4.1.2 dot-atom).
std::string RandomLocalPart(std::string_view prefix);

class ProbeSession : public std::enable_shared_from_this<ProbeSession> {
 public:
  ProbeSession(asio::any_io_executor executor, ProbeSpec spec)
      : executor_(executor),
        spec_(std::move(spec)),
        connection_(std::make_unique<SmtpConnection>(executor)),
        deadline_(executor),
        handshake_timer_(executor) {}

  asio::awaitable<ProbeResult> Run();

 private:
  // --- steps -------------------------------------------------------------------------------
  void BeginStep(Step step);
  void FinishStep();  // success
  void FailStep(FailureReason reason, std::string detail, bool fatal = true);
  StepResult& current() { return result_.steps.back(); }

  void Note(char direction, std::string text);
  // Framing the server got wrong and the probe tolerated: in the transcript, and once in the
  // result's reply_anomalies.
  void NoteAnomaly(const std::string& anomaly);
  void RecordReply(const Reply& reply);

  // Sends one command (none when `verb` is empty: the greeting) and reads its reply, keeping the
  // transcript, the reply anomalies and the channel state; no step bookkeeping.
  asio::awaitable<std::variant<Reply, IoFailure>> Talk(std::string_view verb,
                                                       std::string_view argument);
  // Talk() for a line already formatted (`wire` with its CRLF; empty = send nothing, read the
  // greeting): the transcript shows `shown` instead, and `what` names it in failure details.
  asio::awaitable<std::variant<Reply, IoFailure>> TalkLine(std::string wire, std::string shown,
                                                           std::string what);
  // Talk() within the current step: its reply code is recorded; on an I/O failure the step fails
  // and nullopt is returned. `fatal`: whether such a failure fails the probe (QUIT's does not).
  asio::awaitable<std::optional<Reply>> Exchange(std::string_view verb, std::string_view argument,
                                                 bool fatal = true);

  asio::awaitable<bool> ResolveAndConnect();
  asio::awaitable<bool> Greeting();
  asio::awaitable<bool> Hello();
  asio::awaitable<bool> StartTls();
  // The TLS handshake on the current connection, with the module's trust anchors and name.
  asio::awaitable<std::optional<IoFailure>> Handshake();
  asio::awaitable<bool> HandshakeAndInspect(Step step);
  asio::awaitable<bool> TlsEhlo();
  // A fresh session to the address already connected to, for the rest of a probe after the
  // first one broke: connect, implicit TLS when the module uses it, greeting, EHLO (HELO when
  // that is what worked), then STARTTLS and EHLO again when `starttls`. Only the transcript
  // records it; the steps keep the first session's facts.
  asio::awaitable<std::optional<IoFailure>> Reconnect(bool starttls);
  // The relay test (probe_relay.cc), on its own time budget: PlanRelayTest() fills
  // result_.relay with the catch-all checks and the variants and returns their questions;
  // AskRelayQuestions() asks them all, reconnecting when the server hangs up, and says whether
  // the last session can still take commands; FinishRelayTest() classifies and closes the step.
  asio::awaitable<void> RelayTest();
  std::vector<RelayQuestion> PlanRelayTest();
  asio::awaitable<bool> AskRelayQuestions(const std::vector<RelayQuestion>& questions);
  asio::awaitable<bool> ReopenRelaySession(int* reconnects_left);
  // Returns the failure that lost the session; else *session_ok says whether RSET left it usable.
  asio::awaitable<std::optional<IoFailure>> AskRelayQuestion(const RelayQuestion& question,
                                                             bool* session_ok);
  asio::awaitable<std::optional<IoFailure>> AskRelayCommand(std::string_view verb,
                                                            std::string argument, int* code);
  void StopRelayTest(FailureReason reason, std::string detail);  // sets relay.stop_*
  void FinishRelayTest(bool session_ok);
  // A session that can take commands for a step after the relay test: the current one, or a new
  // one (TLS again when the first had it) when the relay test lost it. nullopt when usable.
  asio::awaitable<std::optional<IoFailure>> EnsureSession();
  // VRFY and EXPN of the configured name and of a random one (probe_enumeration.cc); never
  // fails the probe.
  asio::awaitable<void> UserEnumeration();
  // AUTH with the module's credentials (probe_auth.cc), in a fresh session when the relay test
  // left none; false when it failed (the probe fails).
  asio::awaitable<bool> Auth();
  bool FailAuth(AuthOutcome outcome, FailureReason reason, std::string detail);
  // The domain checks of spec_.checks (probe_domain.cc), within what is left of the deadline;
  // a check the deadline cuts is reported as timed out, never as a failed probe.
  asio::awaitable<void> RunDomainChecks();
  asio::awaitable<void> CheckMtaSts(DnsResolver& resolver);
  asio::awaitable<void> FetchMtaStsPolicy(DnsResolver& resolver, MtaStsResult& sts);
  asio::awaitable<void> CheckTlsRpt(DnsResolver& resolver);
  asio::awaitable<void> CheckDane(DnsResolver& resolver);
  asio::awaitable<void> CheckDnsbl(DnsResolver& resolver);
  std::string DnsblAddress() const;
  asio::awaitable<void> Quit();
  asio::awaitable<void> ReverseDns();

  // The deadline that aborts every pending operation, moved between the probe's phases; never
  // past start + spec.max_duration when that is set.
  void ArmDeadline(Clock::time_point at);
  bool deadline_passed() const { return deadline_hit_; }
  bool tls_mandatory() const {
    return spec_.implicit_tls || spec_.starttls == StartTlsMode::kRequired;
  }
  std::string VerifyName() const {
    return spec_.tls.server_name.empty() ? spec_.host : spec_.tls.server_name;
  }
  DnsResolver* Resolver();

  asio::any_io_executor executor_;
  ProbeSpec spec_;
  ProbeResult result_;
  std::unique_ptr<SmtpConnection> connection_;
  asio::steady_timer deadline_;
  // Bounds an opportunistic STARTTLS handshake to half of the time left, so that a server that
  // stalls it still leaves time for the plaintext fallback.
  asio::steady_timer handshake_timer_;
  bool handshake_timed_out_ = false;
  std::unique_ptr<DnsResolver> resolver_;
  std::string resolver_error_;
  Clock::time_point start_;
  Clock::time_point step_start_;
  bool deadline_hit_ = false;
  // True while the last exchange ended with a complete reply: the server can still read QUIT.
  bool channel_sane_ = false;
  bool server_closing_ = false;  // a 421 was received (RFC 5321 §3.8): the server hangs up
  // Texts that must never reach the transcript (the password and the SASL data sent): Note()
  // replaces them, so a server that echoes them back cannot leak them either.
  std::vector<std::string> secrets_;
  // The chain of the last TLS handshake, DER, leaf first: kept only when DANE is checked.
  std::vector<std::string> peer_chain_der_;
};

}  // namespace smtp

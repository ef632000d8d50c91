#include "probes/prober.h"

#include <openssl/ssl.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>
#include <random>
#include <utility>
#include <variant>

#include "probes/command.h"
#include "probes/relay_variants.h"
#include "probes/smtp_connection.h"
#include "probes/text.h"
#include "probes/tls_inspect.h"
#include "probes/verdict.h"

namespace smtp {
namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t kMaxTranscriptLines = 400;
constexpr std::size_t kMaxTranscriptLineBytes = 512;
constexpr std::size_t kMaxPtrNamesChecked = 4;
// New sessions a relay test may open after the server hung up on it (Exim drops a session after
// three syntax errors, smtp_max_synprot_errors): enough for the "all" set against Exim.
constexpr int kMaxRelayReconnects = 6;

FailureReason FromDns(DnsStatus status, bool deadline_passed) {
  if (deadline_passed || status == DnsStatus::kCancelled) return FailureReason::kTimeout;
  return FailureReason::kDns;
}

// Line `index` of a reply as it was on the wire (RFC 5321 §4.2.1), for the transcript: rebuilt
// from the code and the text, or as received when the server's framing needed repair.
std::string ReplyLineText(const Reply& reply, std::size_t index) {
  if (reply.wire_lines.size() == reply.lines.size()) return reply.wire_lines[index];
  const bool last = index + 1 == reply.lines.size();
  std::string text = std::to_string(reply.code) + (last ? " " : "-") + reply.lines[index];
  if (last && reply.lines[index].empty()) text.pop_back();
  return text;
}

// One probe: owns the connection, the deadline and the result while the coroutine runs.
class Probe : public std::enable_shared_from_this<Probe> {
 public:
  Probe(asio::any_io_executor executor, ProbeSpec spec)
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
  asio::awaitable<void> RelayTest();
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
};

void Probe::BeginStep(Step step) {
  StepResult entry;
  entry.step = step;
  result_.steps.push_back(std::move(entry));
  step_start_ = Clock::now();
}

void Probe::FinishStep() {
  current().duration = Clock::now() - step_start_;
  current().ok = true;
}

void Probe::FailStep(FailureReason reason, std::string detail, bool fatal) {
  current().duration = Clock::now() - step_start_;
  current().ok = false;
  current().reason = reason;
  current().detail = detail;
  Note('*',
       std::string(ToString(current().step)) + " failed (" + ToString(reason) + "): " + detail);
  if (fatal && !result_.failed_step) {
    result_.failed_step = current().step;
    result_.failure_reason = reason;
    result_.failure_detail = std::move(detail);
  }
}

void Probe::Note(char direction, std::string text) {
  if (result_.transcript.size() >= kMaxTranscriptLines) return;
  if (result_.transcript.size() + 1 == kMaxTranscriptLines) {
    direction = '*';
    text = "transcript truncated";
  }
  if (text.size() > kMaxTranscriptLineBytes) {
    text.resize(kMaxTranscriptLineBytes);
    text += "...";
  }
  result_.transcript.push_back({Clock::now() - start_, direction, std::move(text)});
}

void Probe::NoteAnomaly(const std::string& anomaly) {
  Note('*', "tolerated a malformed reply: " + anomaly);
  auto& anomalies = result_.reply_anomalies;
  if (std::find(anomalies.begin(), anomalies.end(), anomaly) == anomalies.end()) {
    anomalies.push_back(anomaly);
  }
}

void Probe::RecordReply(const Reply& reply) {
  current().reply_code = reply.code;
  current().enhanced_code = reply.enhanced ? reply.enhanced->ToString() : "";
}

asio::awaitable<std::variant<Reply, IoFailure>> Probe::Talk(std::string_view verb,
                                                            std::string_view argument) {
  const std::string awaited =
      verb.empty() ? std::string("the greeting") : "the reply to " + std::string(verb);
  if (!verb.empty()) {
    // Nothing may arrive between a reply and our next command (we never pipeline). A reply the
    // server sent unasked would be read as the answer to this command and shift every later
    // one, so it is dropped and noted.
    if (connection_->HasBufferedBytes()) {
      connection_->DiscardBuffered();
      NoteAnomaly("unsolicited reply discarded");
    }
    std::optional<std::string> line = FormatCommand(verb, argument);
    if (!line) {
      // Config validation keeps CR/LF out of names; this guards the wire regardless.
      co_return IoFailure{FailureReason::kProtocol,
                          "refusing to send malformed command " + std::string(verb)};
    }
    Note('C', line->substr(0, line->size() - 2));
    if (auto failure = co_await connection_->Write(*line)) {
      channel_sane_ = false;
      failure->detail += " (sending " + std::string(verb) + ")";
      co_return *failure;
    }
  }
  auto outcome = co_await connection_->ReadReply();
  if (auto* failure = std::get_if<IoFailure>(&outcome)) {
    channel_sane_ = false;
    failure->detail += " (waiting for " + awaited + ")";
    co_return outcome;
  }
  channel_sane_ = true;
  const Reply& reply = std::get<Reply>(outcome);
  for (std::size_t i = 0; i < reply.lines.size(); ++i) Note('S', ReplyLineText(reply, i));
  for (const std::string& anomaly : ReplyAnomalyNames(reply.anomalies)) NoteAnomaly(anomaly);
  if (reply.code == 421) server_closing_ = true;
  co_return outcome;
}

asio::awaitable<std::optional<Reply>> Probe::Exchange(std::string_view verb,
                                                      std::string_view argument, bool fatal) {
  auto outcome = co_await Talk(verb, argument);
  if (auto* failure = std::get_if<IoFailure>(&outcome)) {
    FailStep(failure->reason, failure->detail, fatal);
    co_return std::nullopt;
  }
  RecordReply(std::get<Reply>(outcome));
  co_return std::get<Reply>(std::move(outcome));
}

DnsResolver* Probe::Resolver() {
  if (!resolver_ && resolver_error_.empty()) {
    resolver_ = DnsResolver::Create(executor_, spec_.dns_server, &resolver_error_);
    if (!resolver_ && resolver_error_.empty()) resolver_error_ = "cannot start DNS resolver";
  }
  return resolver_.get();
}

asio::awaitable<bool> Probe::ResolveAndConnect() {
  std::vector<std::string> addresses;
  if (spec_.address) {
    addresses.push_back(*spec_.address);
  } else if (IsIpLiteral(spec_.host)) {
    addresses.push_back(spec_.host);
  } else {
    BeginStep(Step::kResolve);
    DnsResolver* resolver = Resolver();
    if (resolver == nullptr) {
      FailStep(FailureReason::kDns, resolver_error_);
      co_return false;
    }
    auto answer = co_await resolver->LookupAddresses(spec_.host, spec_.ip_protocol);
    if (!answer.ok() || answer.value.empty()) {
      FailStep(FromDns(answer.status, deadline_passed()),
               deadline_passed() ? "deadline exceeded during DNS lookup"
                                 : "cannot resolve " + spec_.host + ": " + answer.error);
      co_return false;
    }
    addresses = answer.value;
    result_.dns.addresses = addresses;
    Note('*', "resolved " + spec_.host + " to " + addresses.front() +
                  (addresses.size() > 1 ? " (+" + std::to_string(addresses.size() - 1) + ")" : ""));
    FinishStep();
  }

  BeginStep(Step::kConnect);
  std::optional<IoFailure> failure;
  for (const std::string& address : addresses) {
    boost::system::error_code error;
    asio::ip::address ip = asio::ip::make_address(address, error);
    if (error) {
      failure = IoFailure{FailureReason::kDns, "not an IP address: " + address};
      continue;
    }
    failure = co_await connection_->Connect({ip, spec_.port});
    if (!failure) {
      result_.dns.connected_address = address;
      Note('*', "connected to " + address + " port " + std::to_string(spec_.port));
      FinishStep();
      co_return true;
    }
    if (deadline_passed()) break;
  }
  FailStep(failure->reason, failure->detail);
  co_return false;
}

asio::awaitable<bool> Probe::Greeting() {
  BeginStep(Step::kGreeting);
  // RFC 5321 §4.3.2 / postscreen: say nothing until the final "220 " line; ReadReply returns
  // only complete (possibly multi-line) replies, so the latency ends at that final line.
  std::optional<Reply> reply = co_await Exchange("", "");
  if (!reply) co_return false;
  result_.greeting_lines = reply->lines;
  if (reply->code != 220) {
    // 554: no service for us, the server waits for QUIT (§3.1); 421: it is closing (§3.8).
    // Only a 220 greeting starts with the server's name (§4.2), so nothing is parsed here.
    FailStep(reply->IsPositive() || reply->IsIntermediate() ? FailureReason::kProtocol
                                                            : FailureReason::kRejected,
             "greeting " + std::to_string(reply->code) + " instead of 220");
    co_return false;
  }
  result_.greeting = ParseGreeting(reply->lines.empty() ? "" : reply->lines.front());
  FinishStep();
  co_return true;
}

asio::awaitable<bool> Probe::Hello() {
  BeginStep(Step::kEhlo);
  std::optional<Reply> reply = co_await Exchange("EHLO", spec_.ehlo_name);
  if (!reply) co_return false;
  if (reply->code == 250) {
    result_.esmtp = true;
    result_.capabilities = ParseEhloReply(*reply);
    result_.starttls_offered = result_.capabilities->starttls;
    FinishStep();
    co_return true;
  }
  if (!reply->IsPermanent() || server_closing_) {
    FailStep(reply->IsTransient() ? FailureReason::kRejected : FailureReason::kProtocol,
             "EHLO answered " + std::to_string(reply->code));
    co_return false;
  }
  // RFC 1869 §4.5 / RFC 5321 §4.1.4: a server that does not speak ESMTP refuses EHLO with 5xx
  // (500/502, old ones 501/550); the client falls back to HELO. Not a probe failure by itself.
  FailStep(FailureReason::kRejected, "EHLO refused, falling back to HELO", /*fatal=*/false);
  BeginStep(Step::kHelo);
  reply = co_await Exchange("HELO", spec_.ehlo_name);
  if (!reply) co_return false;
  if (reply->code != 250) {
    FailStep(FailureReason::kRejected, "HELO answered " + std::to_string(reply->code));
    co_return false;
  }
  result_.esmtp = false;
  result_.starttls_offered = false;  // no extensions without EHLO (RFC 1869 §4.5)
  result_.capabilities = Capabilities{};
  result_.capabilities->domain = reply->lines.empty() ? "" : reply->lines.front();
  FinishStep();
  co_return true;
}

asio::awaitable<std::optional<IoFailure>> Probe::Handshake() {
  std::string error;
  SSL_CTX* context = AcquireClientContext(spec_.tls.ca_file, &error);
  if (context == nullptr) co_return IoFailure{FailureReason::kTls, error};
  std::optional<IoFailure> failure = co_await connection_->StartTls(context, VerifyName());
  SSL_CTX_free(context);
  if (failure) channel_sane_ = false;
  co_return failure;
}

asio::awaitable<bool> Probe::HandshakeAndInspect(Step step) {
  // RFC 3207 §4.1: a client whose TLS negotiation failed may go on without it. Opportunistic
  // senders reconnect in plaintext (the failed session cannot be resumed), so the probe does
  // too, within the same deadline, and the server is judged as such a sender meets it.
  const bool may_fall_back = step == Step::kStartTls && !tls_mandatory();
  if (may_fall_back) {
    handshake_timer_.expires_after((deadline_.expiry() - Clock::now()) / 2);
    handshake_timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& error) {
      auto self = weak.lock();
      if (error || !self) return;
      self->handshake_timed_out_ = true;
      self->connection_->AbortForDeadline();
    });
  }
  std::optional<IoFailure> failure = co_await Handshake();
  handshake_timer_.cancel();
  if (failure && handshake_timed_out_) {
    failure->detail = "TLS handshake stalled (no progress in half the time left)";
  }
  if (failure) {
    result_.tls = TlsInfo{};
    if (step == Step::kStartTls) {
      result_.starttls_success = false;
      result_.starttls_error = failure->detail;
    }
    const bool fall_back = may_fall_back && !deadline_passed();
    FailStep(failure->reason, failure->detail, /*fatal=*/!fall_back);
    if (!fall_back) co_return false;
    if (std::optional<IoFailure> again = co_await Reconnect(/*starttls=*/false)) {
      FailStep(again->reason,
               "plaintext reconnect after the failed TLS handshake: " + again->detail);
      co_return false;
    }
    result_.plaintext_fallback = true;
    Note('*', "went on in plaintext after the failed STARTTLS handshake (opportunistic TLS)");
    co_return true;
  }
  result_.tls = InspectTlsSession(connection_->ssl_handle(), VerifyName());
  const TlsInfo& tls = *result_.tls;
  Note('*', "TLS " + tls.version + " " + tls.cipher + ", certificate " +
                (tls.verified() ? "verified for " + tls.verified_name
                                : "NOT verified: " + tls.verify_error));
  if (step == Step::kStartTls) result_.starttls_success = true;
  if (!tls.verified() && tls_mandatory() && spec_.tls.verify) {
    FailStep(FailureReason::kTls, "certificate verification failed: " + tls.verify_error);
    co_return false;
  }
  FinishStep();
  co_return true;
}

asio::awaitable<bool> Probe::StartTls() {
  if (!result_.starttls_offered.value_or(false)) {
    if (spec_.starttls == StartTlsMode::kRequired) {
      BeginStep(Step::kStartTls);
      FailStep(FailureReason::kTls, "STARTTLS required but not offered");
      co_return false;
    }
    co_return true;  // opportunistic: plaintext is what a sending MTA would use too
  }
  BeginStep(Step::kStartTls);
  std::optional<Reply> reply = co_await Exchange("STARTTLS", "");
  if (!reply) co_return false;
  if (reply->code != 220) {
    // RFC 3207 §4: 454 TLS not available now, 501 syntax. Opportunistic senders go on in
    // plaintext, so the probe does too; it is reported as starttls_success=false.
    result_.starttls_success = false;
    result_.starttls_error = "STARTTLS answered " + std::to_string(reply->code);
    const bool fatal = spec_.starttls == StartTlsMode::kRequired || server_closing_;
    FailStep(reply->IsPositive() ? FailureReason::kProtocol
             : fatal             ? FailureReason::kTls
                                 : FailureReason::kRejected,
             result_.starttls_error, fatal);
    co_return !fatal;
  }
  // RFC 3207 §4.2: plaintext received after the 220 must be discarded, never acted on.
  if (connection_->HasBufferedBytes()) {
    result_.plaintext_after_starttls = true;
    Note('*', "discarded plaintext sent after STARTTLS 220 (command injection risk)");
    connection_->DiscardBuffered();
  }
  co_return co_await HandshakeAndInspect(Step::kStartTls);
}

asio::awaitable<std::optional<IoFailure>> Probe::Reconnect(bool starttls) {
  connection_->Close();
  connection_ = std::make_unique<SmtpConnection>(executor_);
  channel_sane_ = false;
  server_closing_ = false;
  const std::string& address = result_.dns.connected_address;
  boost::system::error_code error;
  const asio::ip::address ip = asio::ip::make_address(address, error);
  if (error) co_return IoFailure{FailureReason::kDns, "not an IP address: " + address};
  Note('*', "reconnecting to " + address + " port " + std::to_string(spec_.port));
  if (auto failure = co_await connection_->Connect({ip, spec_.port})) co_return failure;
  if (spec_.implicit_tls) {
    if (auto failure = co_await Handshake()) co_return failure;
  }
  // Each exchange must succeed with the code the dialogue needs; anything else ends the attempt.
  const auto expect = [this](std::string_view verb, std::string_view argument,
                             int code) -> asio::awaitable<std::optional<IoFailure>> {
    auto outcome = co_await Talk(verb, argument);
    if (auto* failure = std::get_if<IoFailure>(&outcome)) co_return *failure;
    const int got = std::get<Reply>(outcome).code;
    if (got == code) co_return std::nullopt;
    co_return IoFailure{FailureReason::kRejected,
                        (verb.empty() ? std::string("greeting") : std::string(verb)) +
                            " answered " + std::to_string(got)};
  };
  const std::string_view hello = result_.esmtp.value_or(true) ? "EHLO" : "HELO";
  if (auto failure = co_await expect("", "", 220)) co_return failure;
  if (auto failure = co_await expect(hello, spec_.ehlo_name, 250)) co_return failure;
  if (starttls && !spec_.implicit_tls) {
    if (auto failure = co_await expect("STARTTLS", "", 220)) co_return failure;
    connection_->DiscardBuffered();  // RFC 3207 §4.2
    if (auto failure = co_await Handshake()) co_return failure;
    if (auto failure = co_await expect("EHLO", spec_.ehlo_name, 250)) co_return failure;
  }
  co_return std::nullopt;
}

asio::awaitable<bool> Probe::TlsEhlo() {
  // RFC 3207 §4.2: forget what was learned before TLS and ask again.
  BeginStep(Step::kTlsEhlo);
  std::optional<Reply> reply = co_await Exchange("EHLO", spec_.ehlo_name);
  if (!reply) co_return false;
  if (reply->code != 250) {
    FailStep(FailureReason::kRejected,
             "EHLO after STARTTLS answered " + std::to_string(reply->code));
    co_return false;
  }
  result_.tls_capabilities = ParseEhloReply(*reply);
  FinishStep();
  co_return true;
}

// A random local part that cannot exist, for the catch-all question: "smtp-exporter-catch-all-"
// and 12 hex digits (RFC 5321 §4.1.2 dot-atom).
std::string RandomLocalPart() {
  static thread_local std::mt19937_64 generator{std::random_device{}()};
  char hex[17];
  std::snprintf(hex, sizeof hex, "%012llx",
                static_cast<unsigned long long>(generator() & 0xffffffffffffULL));
  return std::string("smtp-exporter-catch-all-") + hex;
}

asio::awaitable<void> Probe::RelayTest() {
  BeginStep(Step::kRelay);
  RelayResult& relay = result_.relay;
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
  const std::string nobody = RandomLocalPart();
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

  // The questions, catch-all ones first: each is MAIL FROM, RCPT TO (when MAIL was accepted),
  // then RSET (RFC 5321 §4.1.1.5). Never DATA.
  struct Question {
    const std::string* mail_from;
    const std::string* rcpt_to;
    int* mail_code;
    int* rcpt_code;
  };
  const std::string sender = AnglePath(spec_.relay.mail_from);
  std::vector<Question> questions;
  for (CatchAllCheck& check : relay.catch_all_checks) {
    questions.push_back({&sender, &check.rcpt_to, &check.mail_code, &check.rcpt_code});
  }
  for (RelayAttempt& attempt : relay.attempts) {
    questions.push_back(
        {&attempt.mail_from, &attempt.rcpt_to, &attempt.mail_code, &attempt.rcpt_code});
  }

  // Its own time budget: a slow relay test (Exchange tarpits every 5yz) cannot eat the health
  // steps' timeout, and what it did not reach is reported as not run.
  const Clock::duration health_left = deadline_.expiry() - Clock::now();
  ArmDeadline(Clock::now() + spec_.relay.timeout);

  int reconnects_left = kMaxRelayReconnects;
  bool session_ok = true;
  const auto stop = [&relay](FailureReason reason, std::string detail) {
    relay.stop_reason = reason;
    relay.stop_detail = std::move(detail);
  };
  for (const Question& question : questions) {
    if (relay.stop_reason != FailureReason::kNone) break;
    // A question cut off by a hang-up is asked once more in a new session.
    for (int tries = 0; tries < 2 && relay.stop_reason == FailureReason::kNone; ++tries) {
      if (!session_ok) {
        if (deadline_passed()) {
          stop(FailureReason::kTimeout, "the relay test's time budget ran out");
          break;
        }
        if (reconnects_left-- == 0) {
          stop(FailureReason::kReset, "the server kept hanging up");
          break;
        }
        ++relay.reconnects;
        if (std::optional<IoFailure> failure = co_await Reconnect(relay.over_tls)) {
          stop(deadline_passed() ? FailureReason::kTimeout : failure->reason,
               "reconnect failed: " + failure->detail);
          break;
        }
        session_ok = true;
      }
      // Ask: MAIL, then RCPT when MAIL was accepted. A 421 or a lost session leaves the question
      // unanswered (RCPT code 0) for the retry.
      std::optional<IoFailure> lost;
      const auto ask = [&](std::string_view verb, const std::string& argument,
                           int* code) -> asio::awaitable<bool> {
        auto outcome = co_await Talk(verb, argument);
        if (auto* failure = std::get_if<IoFailure>(&outcome)) {
          lost = *failure;
          co_return false;
        }
        const Reply& reply = std::get<Reply>(outcome);
        RecordReply(reply);
        if (reply.code == 421) {  // RFC 5321 §3.8: the server is closing the session
          lost = IoFailure{FailureReason::kReset, "server closed the session (421)"};
          co_return false;
        }
        *code = reply.code;
        co_return true;
      };
      *question.mail_code = *question.rcpt_code = 0;
      if (co_await ask("MAIL", "FROM:" + *question.mail_from, question.mail_code) &&
          *question.mail_code / 100 == 2) {
        co_await ask("RCPT", "TO:" + *question.rcpt_to, question.rcpt_code);
      }
      if (!lost) {
        // RFC 5321 §4.1.1.5: RSET aborts the transaction. A server that refuses it (530 before
        // STARTTLS) still answers the next MAIL; only a lost session needs a new one.
        auto reset = co_await Talk("RSET", "");
        const Reply* reply = std::get_if<Reply>(&reset);
        if (reply != nullptr) RecordReply(*reply);
        session_ok = reply != nullptr && reply->code != 421;
        break;
      }
      session_ok = false;
      if (lost->reason != FailureReason::kReset) {
        stop(deadline_passed() ? FailureReason::kTimeout : lost->reason,
             deadline_passed() ? "the relay test's time budget ran out" : lost->detail);
      }
    }
  }
  ClassifyRelayResult(relay);
  channel_sane_ = channel_sane_ && session_ok;
  if (relay.complete()) {
    FinishStep();
  } else {
    if (relay.stop_reason == FailureReason::kNone) stop(FailureReason::kReset, "session lost");
    // It ended waiting for a reply: the last code seen answered an earlier command.
    current().reply_code = 0;
    current().enhanced_code.clear();
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
  // QUIT and reverse DNS get what the health steps left of their own budget.
  ArmDeadline(Clock::now() + std::max(health_left, Clock::duration::zero()));
}

asio::awaitable<void> Probe::Quit() {
  if (!channel_sane_ || server_closing_ || deadline_passed()) co_return;
  BeginStep(Step::kQuit);
  // A server that hangs up without its 221 has still served the dialogue: recorded, not fatal.
  std::optional<Reply> reply = co_await Exchange("QUIT", "", /*fatal=*/false);
  if (!reply) co_return;
  if (reply->code != 221) {
    FailStep(FailureReason::kProtocol, "QUIT answered " + std::to_string(reply->code), false);
    co_return;
  }
  FinishStep();
}

asio::awaitable<void> Probe::ReverseDns() {
  const std::string& address = result_.dns.connected_address;
  if (!spec_.check_fcrdns || address.empty() || deadline_passed()) co_return;
  if (spec_.dns_server.empty() && IsLoopbackAddress(address)) co_return;
  BeginStep(Step::kReverseDns);
  DnsResolver* resolver = Resolver();
  if (resolver == nullptr) {
    FailStep(FailureReason::kDns, resolver_error_, false);
    co_return;
  }
  auto ptr = co_await resolver->LookupPtr(address);
  if (!ptr.ok()) {
    result_.dns.fcrdns_match = false;
    FailStep(FromDns(ptr.status, deadline_passed()), "PTR of " + address + ": " + ptr.error, false);
    co_return;
  }
  result_.dns.ptr_names = ptr.value;
  const IpProtocol family =
      address.find(':') != std::string::npos ? IpProtocol::kIp6 : IpProtocol::kIp4;
  bool match = false;
  bool banner_match = false;
  for (std::size_t i = 0; i < ptr.value.size() && i < kMaxPtrNamesChecked; ++i) {
    auto forward = co_await resolver->LookupAddresses(ptr.value[i], family);
    if (!forward.ok()) continue;
    if (std::find(forward.value.begin(), forward.value.end(), address) == forward.value.end()) {
      continue;
    }
    match = true;
    if (result_.greeting && EqualsIgnoreCase(result_.greeting->hostname, ptr.value[i])) {
      banner_match = true;
    }
  }
  result_.dns.fcrdns_match = match;
  if (result_.greeting) result_.dns.banner_matches_ptr = banner_match;
  Note('*', "reverse DNS " + address + " -> " +
                (ptr.value.empty() ? std::string("(none)") : ptr.value.front()) +
                (match ? ", forward-confirmed" : ", NOT forward-confirmed"));
  FinishStep();
}

void Probe::ArmDeadline(Clock::time_point at) {
  if (spec_.max_duration.count() > 0) at = std::min(at, start_ + spec_.max_duration);
  deadline_hit_ = false;
  deadline_.expires_at(at);
  std::weak_ptr<Probe> weak = weak_from_this();
  deadline_.async_wait([weak](const boost::system::error_code& error) {
    auto self = weak.lock();
    if (error || !self) return;
    self->deadline_hit_ = true;
    self->connection_->AbortForDeadline();
    if (self->resolver_) self->resolver_->Cancel();
  });
}

asio::awaitable<ProbeResult> Probe::Run() {
  start_ = Clock::now();
  result_.host = spec_.host;
  result_.port = spec_.port;
  result_.implicit_tls = spec_.implicit_tls;
  result_.started_at = std::chrono::system_clock::now();

  // One deadline for the health steps: when it passes, every pending operation is aborted.
  ArmDeadline(start_ + spec_.timeout);

  bool ok = co_await ResolveAndConnect();
  if (ok && spec_.implicit_tls) {
    BeginStep(Step::kTls);
    ok = co_await HandshakeAndInspect(Step::kTls);
    if (!ok && result_.tls && result_.tls->handshake_ok && !deadline_passed()) {
      // Refused certificate, working channel: read the banner (never speak before it, §4.3.2)
      // so that QUIT ends the session politely and the banner is still reported.
      co_await Greeting();
    }
  }
  ok = ok && co_await Greeting();
  ok = ok && co_await Hello();
  if (ok && spec_.starttls != StartTlsMode::kOff && !spec_.implicit_tls) {
    ok = co_await StartTls();
    if (ok && connection_->is_tls()) ok = co_await TlsEhlo();
  }
  // The relay test never fails the probe: its verdict is separate from the server's health.
  if (ok && spec_.relay.enabled) co_await RelayTest();
  co_await Quit();
  connection_->Close();
  co_await ReverseDns();

  deadline_.cancel();
  handshake_timer_.cancel();
  result_.success = !result_.failed_step.has_value();
  result_.duration = Clock::now() - start_;
  co_return std::move(result_);
}

}  // namespace

void StartProbe(asio::io_context& io, ProbeSpec spec, std::function<void(ProbeResult)> done) {
  auto probe = std::make_shared<Probe>(io.get_executor(), std::move(spec));
  asio::co_spawn(
      io, [probe]() -> asio::awaitable<ProbeResult> { co_return co_await probe->Run(); },
      [probe, done = std::move(done)](std::exception_ptr error, ProbeResult result) {
        // Last-resort guard: the engine reports failures as data, so this is a bug if it fires.
        if (error) {
          result = ProbeResult{};
          result.failure_reason = FailureReason::kProtocol;
          try {
            std::rethrow_exception(error);
          } catch (const std::exception& exception) {
            result.failure_detail = std::string("internal error: ") + exception.what();
          } catch (...) {
            result.failure_detail = "internal error";
          }
        }
        done(std::move(result));
      });
}

ProbeResult RunProbe(const ProbeSpec& spec) {
  asio::io_context io;
  ProbeResult result;
  StartProbe(io, spec, [&result](ProbeResult finished) { result = std::move(finished); });
  io.run();
  return result;
}

MxExpansion ExpandMx(const std::string& domain, const std::string& dns_server,
                     std::chrono::milliseconds timeout) {
  asio::io_context io;
  MxExpansion expansion;
  const auto start = Clock::now();
  std::string error;
  std::unique_ptr<DnsResolver> resolver =
      DnsResolver::Create(io.get_executor(), dns_server, &error);
  if (!resolver) {
    expansion.error = error;
    return expansion;
  }
  asio::steady_timer deadline(io, timeout);
  deadline.async_wait([&](const boost::system::error_code& wait_error) {
    if (!wait_error) resolver->Cancel();
  });
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto answer = co_await LookupMailHosts(*resolver, domain);
        expansion.status = answer.status;
        expansion.error = answer.error;
        expansion.records = std::move(answer.value);
        deadline.cancel();
      },
      asio::detached);
  io.run();
  expansion.duration = Clock::now() - start;
  return expansion;
}

}  // namespace smtp

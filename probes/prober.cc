#include "probes/prober.h"

#include <openssl/ssl.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>
#include <utility>

#include "probes/command.h"
#include "probes/relay_variants.h"
#include "probes/smtp_connection.h"
#include "probes/text.h"
#include "probes/tls_inspect.h"

namespace smtp {
namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t kMaxTranscriptLines = 400;
constexpr std::size_t kMaxTranscriptLineBytes = 512;
constexpr std::size_t kMaxPtrNamesChecked = 4;

bool IsLoopback(const std::string& address) {
  boost::system::error_code error;
  auto parsed = asio::ip::make_address(address, error);
  return !error && parsed.is_loopback();
}

FailureReason FromDns(DnsStatus status, bool deadline_passed) {
  if (deadline_passed || status == DnsStatus::kCancelled) return FailureReason::kTimeout;
  return FailureReason::kDns;
}

// RFC 5321 §4.2.1: the first line of a reply, as it was on the wire (for the transcript).
std::string ReplyLineText(const Reply& reply, std::size_t index) {
  const bool last = index + 1 == reply.lines.size();
  std::string text = std::to_string(reply.code) + (last ? " " : "-") + reply.lines[index];
  if (last && reply.lines[index].empty()) text.pop_back();
  return text;
}

// One probe: owns the connection, the deadline and the result while the coroutine runs.
class Probe : public std::enable_shared_from_this<Probe> {
 public:
  Probe(asio::any_io_executor executor, ProbeSpec spec)
      : executor_(executor), spec_(std::move(spec)), connection_(executor), deadline_(executor) {}

  asio::awaitable<ProbeResult> Run();

 private:
  // --- steps -------------------------------------------------------------------------------
  void BeginStep(Step step);
  void FinishStep();  // success
  void FailStep(FailureReason reason, std::string detail, bool fatal = true);
  StepResult& current() { return result_.steps.back(); }

  void Note(char direction, std::string text);
  void RecordReply(const Reply& reply);

  // Sends one command and reads its reply. On an I/O failure the current step fails and the
  // channel is marked unusable; nullopt is returned.
  // `fatal`: whether such a failure fails the probe (QUIT's does not).
  asio::awaitable<std::optional<Reply>> Exchange(std::string_view verb, std::string_view argument,
                                                 bool fatal = true);
  asio::awaitable<std::optional<Reply>> ReadReplyOrFail(bool fatal = true);

  asio::awaitable<bool> ResolveAndConnect();
  asio::awaitable<bool> Greeting();
  asio::awaitable<bool> Hello();
  asio::awaitable<bool> StartTls();
  asio::awaitable<bool> HandshakeAndInspect(Step step);
  asio::awaitable<bool> TlsEhlo();
  asio::awaitable<bool> RelayTest();
  asio::awaitable<void> Quit();
  asio::awaitable<void> ReverseDns();

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
  SmtpConnection connection_;
  asio::steady_timer deadline_;
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

void Probe::RecordReply(const Reply& reply) {
  for (std::size_t i = 0; i < reply.lines.size(); ++i) Note('S', ReplyLineText(reply, i));
  current().reply_code = reply.code;
  current().enhanced_code = reply.enhanced ? reply.enhanced->ToString() : "";
  if (reply.code == 421) server_closing_ = true;
}

asio::awaitable<std::optional<Reply>> Probe::ReadReplyOrFail(bool fatal) {
  auto outcome = co_await connection_.ReadReply();
  if (auto* failure = std::get_if<IoFailure>(&outcome)) {
    channel_sane_ = false;
    FailStep(failure->reason, failure->detail, fatal);
    co_return std::nullopt;
  }
  channel_sane_ = true;
  Reply reply = std::get<Reply>(std::move(outcome));
  RecordReply(reply);
  co_return reply;
}

asio::awaitable<std::optional<Reply>> Probe::Exchange(std::string_view verb,
                                                      std::string_view argument, bool fatal) {
  std::optional<std::string> line = FormatCommand(verb, argument);
  if (!line) {
    // Config validation keeps CR/LF out of names; this guards the wire regardless.
    FailStep(FailureReason::kProtocol, "refusing to send malformed command " + std::string(verb),
             fatal);
    co_return std::nullopt;
  }
  Note('C', line->substr(0, line->size() - 2));
  if (auto failure = co_await connection_.Write(*line)) {
    channel_sane_ = false;
    FailStep(failure->reason, failure->detail, fatal);
    co_return std::nullopt;
  }
  co_return co_await ReadReplyOrFail(fatal);
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
    failure = co_await connection_.Connect({ip, spec_.port});
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
  std::optional<Reply> reply = co_await ReadReplyOrFail();
  if (!reply) co_return false;
  result_.greeting_lines = reply->lines;
  result_.greeting = ParseGreeting(reply->lines.empty() ? "" : reply->lines.front());
  if (reply->code != 220) {
    // 554: no service for us, the server waits for QUIT (§3.1); 421: it is closing (§3.8).
    FailStep(reply->IsPositive() || reply->IsIntermediate() ? FailureReason::kProtocol
                                                            : FailureReason::kRejected,
             "greeting " + std::to_string(reply->code) + " instead of 220");
    co_return false;
  }
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
  result_.capabilities = Capabilities{};
  result_.capabilities->domain = reply->lines.empty() ? "" : reply->lines.front();
  FinishStep();
  co_return true;
}

asio::awaitable<bool> Probe::HandshakeAndInspect(Step step) {
  std::string error;
  SSL_CTX* context = AcquireClientContext(spec_.tls.ca_file, &error);
  if (context == nullptr) {
    FailStep(FailureReason::kTls, error);
    co_return false;
  }
  std::optional<IoFailure> failure = co_await connection_.StartTls(context, VerifyName());
  SSL_CTX_free(context);
  if (failure) {
    channel_sane_ = false;
    result_.tls = TlsInfo{};
    if (step == Step::kStartTls) result_.starttls_success = false;
    FailStep(failure->reason, failure->detail);
    co_return false;
  }
  result_.tls = InspectTlsSession(connection_.ssl_handle(), VerifyName());
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
  if (!result_.starttls_offered) {
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
    const bool fatal = spec_.starttls == StartTlsMode::kRequired || server_closing_;
    FailStep(reply->IsPositive() ? FailureReason::kProtocol
             : fatal             ? FailureReason::kTls
                                 : FailureReason::kRejected,
             "STARTTLS answered " + std::to_string(reply->code), fatal);
    co_return !fatal;
  }
  // RFC 3207 §4.2: plaintext received after the 220 must be discarded, never acted on.
  if (connection_.HasBufferedBytes()) {
    result_.plaintext_after_starttls = true;
    Note('*', "discarded plaintext sent after STARTTLS 220 (command injection risk)");
    connection_.DiscardBuffered();
  }
  co_return co_await HandshakeAndInspect(Step::kStartTls);
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

RelayOutcome ClassifyRelay(int mail_code, int rcpt_code) {
  // REFERENCE "Relay test": 250/251 at RCPT = accepted (open); 530 = authentication required;
  // 5xx = refused; 4xx = inconclusive (greylisting, rate limits).
  if (mail_code == 530 || rcpt_code == 530) return RelayOutcome::kAuthRequired;
  if (rcpt_code == 250 || rcpt_code == 251) return RelayOutcome::kAccepted;
  if (mail_code >= 500 || rcpt_code >= 500) return RelayOutcome::kRefused;
  return RelayOutcome::kInconclusive;
}

asio::awaitable<bool> Probe::RelayTest() {
  BeginStep(Step::kRelay);
  RelayContext context;
  context.mail_from = spec_.relay.mail_from;
  context.rcpt_to = spec_.relay.rcpt_to;
  context.server_name = result_.greeting ? result_.greeting->hostname : "";
  if (context.server_name.empty() && !IsIpLiteral(spec_.host)) context.server_name = spec_.host;
  context.server_ip = result_.dns.connected_address;
  const std::vector<std::string>& variants =
      spec_.relay.variants.empty() ? BasicRelayVariants() : spec_.relay.variants;
  result_.relay.ran = true;
  for (const RelayEnvelope& envelope : BuildRelayEnvelopes(variants, context)) {
    RelayAttempt attempt;
    attempt.variant = envelope.variant;
    attempt.mail_from = envelope.mail_from;
    attempt.rcpt_to = envelope.rcpt_to;
    std::optional<Reply> reply = co_await Exchange("MAIL", "FROM:" + envelope.mail_from);
    if (!reply) co_return false;
    attempt.mail_code = reply->code;
    if (reply->code == 250 && !server_closing_) {
      reply = co_await Exchange("RCPT", "TO:" + envelope.rcpt_to);
      if (!reply) co_return false;
      attempt.rcpt_code = reply->code;
    }
    attempt.outcome = ClassifyRelay(attempt.mail_code, attempt.rcpt_code);
    if (attempt.outcome == RelayOutcome::kAccepted) {
      result_.relay.open = true;
      Note('*', "relay variant " + attempt.variant +
                    ": recipient accepted at RCPT (open relay; "
                    "a catch-all that discards later looks the same)");
    }
    result_.relay.attempts.push_back(std::move(attempt));
    if (server_closing_) {
      FailStep(FailureReason::kRejected, "server closed the session (421) during the relay test");
      co_return false;
    }
    // RFC 5321 §4.1.1.5: RSET aborts the transaction; never DATA.
    reply = co_await Exchange("RSET", "");
    if (!reply) co_return false;
    if (reply->code != 250) {
      FailStep(FailureReason::kRejected, "RSET answered " + std::to_string(reply->code));
      co_return false;
    }
  }
  FinishStep();
  co_return true;
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
  if (spec_.dns_server.empty() && IsLoopback(address)) co_return;
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

asio::awaitable<ProbeResult> Probe::Run() {
  start_ = Clock::now();
  result_.host = spec_.host;
  result_.port = spec_.port;
  result_.implicit_tls = spec_.implicit_tls;
  result_.started_at = std::chrono::system_clock::now();

  // One deadline for the whole probe: when it passes, every pending operation is aborted.
  deadline_.expires_after(spec_.timeout);
  std::weak_ptr<Probe> weak = weak_from_this();
  deadline_.async_wait([weak](const boost::system::error_code& error) {
    auto self = weak.lock();
    if (error || !self) return;
    self->deadline_hit_ = true;
    self->connection_.AbortForDeadline();
    if (self->resolver_) self->resolver_->Cancel();
  });

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
    if (ok && connection_.is_tls()) ok = co_await TlsEhlo();
  }
  if (ok && spec_.relay.enabled) ok = co_await RelayTest();
  co_await Quit();
  connection_.Close();
  co_await ReverseDns();

  deadline_.cancel();
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

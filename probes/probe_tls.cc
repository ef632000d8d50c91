// TLS steps of a probe (implicit TLS, STARTTLS and its plaintext fallback, EHLO over TLS) and
// Reconnect(); see probes/probe_session.h.
#include <openssl/ssl.h>

#include <boost/asio/ip/address.hpp>
#include <utility>

#include "probes/probe_session.h"
#include "probes/tls_inspect.h"

namespace smtp {

asio::awaitable<std::optional<IoFailure>> ProbeSession::Handshake() {
  std::string error;
  SSL_CTX* context = AcquireClientContext(spec_.tls.ca_file, &error);
  if (context == nullptr) co_return IoFailure{FailureReason::kTls, error};
  std::optional<IoFailure> failure = co_await connection_->StartTls(context, VerifyName());
  SSL_CTX_free(context);
  if (failure) channel_sane_ = false;
  co_return failure;
}

asio::awaitable<bool> ProbeSession::HandshakeAndInspect(Step step) {
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
  if (spec_.checks.dane) peer_chain_der_ = PeerChainDer(connection_->ssl_handle());
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

asio::awaitable<bool> ProbeSession::StartTls() {
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
             *result_.starttls_error, fatal);
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

asio::awaitable<std::optional<IoFailure>> ProbeSession::Reconnect(bool starttls) {
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

asio::awaitable<bool> ProbeSession::TlsEhlo() {
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

}  // namespace smtp

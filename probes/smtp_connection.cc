#include "probes/smtp_connection.h"

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "probes/text.h"
#include "probes/tls_inspect.h"

namespace smtp {
namespace asio = boost::asio;
namespace {

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

}  // namespace

SmtpConnection::SmtpConnection(asio::any_io_executor executor, ReplyLimits limits)
    : socket_(std::move(executor)), parser_(limits) {}

IoFailure SmtpConnection::Classify(const boost::system::error_code& error,
                                   bool during_handshake) const {
  namespace errc = asio::error;
  if (timed_out_) return {FailureReason::kTimeout, "deadline exceeded"};
  if (error == errc::connection_refused) return {FailureReason::kRefused, "connection refused"};
  if (error == errc::network_unreachable || error == errc::host_unreachable ||
      error == errc::network_down || error == errc::address_family_not_supported) {
    return {FailureReason::kUnreachable, error.message()};
  }
  if (error == errc::timed_out) return {FailureReason::kTimeout, error.message()};
  if (during_handshake) return {FailureReason::kTls, "TLS handshake failed: " + error.message()};
  if (error == errc::eof || error == errc::connection_reset || error == errc::broken_pipe ||
      error == errc::connection_aborted || error == asio::ssl::error::stream_truncated) {
    return {FailureReason::kReset, error == errc::eof ? "connection closed by server"
                                                      : "connection reset: " + error.message()};
  }
  if (error.category() == asio::error::get_ssl_category()) {
    return {FailureReason::kTls, "TLS error: " + error.message()};
  }
  return {FailureReason::kReset, error.message()};
}

asio::awaitable<std::optional<IoFailure>> SmtpConnection::Connect(
    const asio::ip::tcp::endpoint& endpoint) {
  boost::system::error_code ignored;
  if (socket_.is_open()) socket_.close(ignored);
  auto [error] = co_await socket_.async_connect(endpoint, kNoThrow);
  if (error) co_return Classify(error, false);
  socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
  co_return std::nullopt;
}

asio::awaitable<std::optional<IoFailure>> SmtpConnection::StartTls(SSL_CTX* context,
                                                                   const std::string& sni) {
  SSL_CTX_up_ref(context);
  tls_context_.emplace(context);  // takes ownership of that reference
  tls_.emplace(socket_, *tls_context_);
  if (!sni.empty() && !IsIpLiteral(sni)) {
    SSL_set_tlsext_host_name(tls_->native_handle(), sni.c_str());
  }
  auto [error] = co_await tls_->async_handshake(asio::ssl::stream_base::client, kNoThrow);
  if (error) {
    IoFailure failure = Classify(error, true);
    std::string openssl_error = TakeOpenSslError();
    if (failure.reason == FailureReason::kTls && !openssl_error.empty()) {
      failure.detail += " (" + openssl_error + ")";
    }
    co_return failure;
  }
  co_return std::nullopt;
}

asio::awaitable<std::variant<Reply, IoFailure>> SmtpConnection::ReadReply() {
  for (;;) {
    if (std::optional<Reply> reply = parser_.Next()) co_return std::move(*reply);
    if (parser_.error() != ReplyError::kNone) {
      co_return IoFailure{FailureReason::kProtocol,
                          std::string("not an SMTP reply: ") + ToString(parser_.error())};
    }
    AckPromptly();
    auto buffer = asio::buffer(buffer_);
    auto [error, size] = tls_ ? co_await tls_->async_read_some(buffer, kNoThrow)
                              : co_await socket_.async_read_some(buffer, kNoThrow);
    if (size > 0) parser_.Feed(std::string_view(buffer_.data(), size));
    if (error && parser_.error() == ReplyError::kNone) {
      // Replies that arrived complete before the close are still delivered first.
      if (std::optional<Reply> reply = parser_.Next()) co_return std::move(*reply);
      co_return Classify(error, false);
    }
  }
}

asio::awaitable<std::optional<IoFailure>> SmtpConnection::Write(std::string_view line) {
  auto buffer = asio::buffer(line.data(), line.size());
  auto [error, size] = tls_ ? co_await asio::async_write(*tls_, buffer, kNoThrow)
                            : co_await asio::async_write(socket_, buffer, kNoThrow);
  (void)size;
  if (error) co_return Classify(error, false);
  co_return std::nullopt;
}

void SmtpConnection::AckPromptly() {
#ifdef TCP_QUICKACK
  // Delayed ACKs on our side meet Nagle on the server's: a server that has unacknowledged bytes
  // in flight (TLS 1.3 session tickets after the handshake, say) holds its next small reply
  // until our ACK, up to 40 ms later, and that wait would be measured as its reply latency.
  // Quick-ACK mode is not sticky on Linux, so it is asked for before every read.
  int enable = 1;
  ::setsockopt(socket_.native_handle(), IPPROTO_TCP, TCP_QUICKACK, &enable, sizeof enable);
#endif
}

SSL* SmtpConnection::ssl_handle() { return tls_ ? tls_->native_handle() : nullptr; }

std::string SmtpConnection::remote_address() const {
  boost::system::error_code error;
  auto endpoint = socket_.remote_endpoint(error);
  return error ? std::string() : endpoint.address().to_string();
}

void SmtpConnection::Close() {
  boost::system::error_code ignored;
  socket_.close(ignored);
}

void SmtpConnection::AbortForDeadline() {
  timed_out_ = true;
  Close();
}

}  // namespace smtp

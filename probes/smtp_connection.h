// SmtpConnection: one SMTP client channel over Boost.Asio, plain TCP that can be upgraded to TLS
// (STARTTLS, RFC 3207) or start in TLS (implicit TLS, RFC 8314 §3.3).
//
// It moves bytes and replies; it knows nothing of the dialogue's steps. Expected network failures
// come back as IoFailure values classified into FailureReason, never as exceptions. Close() aborts
// every pending operation; after AbortForDeadline() aborted operations report kTimeout, which is
// how the prober enforces one deadline for the whole probe.
//
// Internal to the engine: include only from probes/*.cc and tests (it pulls in Asio).
#pragma once

#include <array>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "probes/probe_result.h"
#include "probes/reply_parser.h"

namespace smtp {

struct IoFailure {
  FailureReason reason = FailureReason::kReset;
  std::string detail;
};

class SmtpConnection {
 public:
  explicit SmtpConnection(boost::asio::any_io_executor executor, ReplyLimits limits = {});
  SmtpConnection(const SmtpConnection&) = delete;
  SmtpConnection& operator=(const SmtpConnection&) = delete;

  boost::asio::awaitable<std::optional<IoFailure>> Connect(
      const boost::asio::ip::tcp::endpoint& endpoint);

  // Client TLS handshake over the connected socket. `context` is borrowed (one reference is
  // taken for the connection's lifetime). `sni` is sent as server_name unless it is empty or an
  // IP literal (RFC 6066 §3). Any plaintext buffered before the handshake must have been dealt
  // with by the caller (see HasBufferedBytes).
  boost::asio::awaitable<std::optional<IoFailure>> StartTls(SSL_CTX* context,
                                                            const std::string& sni);

  // Reads until one complete reply is available. Protocol errors (not SMTP, line too long) come
  // back as kProtocol; a peer that closes mid-reply as kReset.
  boost::asio::awaitable<std::variant<Reply, IoFailure>> ReadReply();

  // Writes `line` (already formatted with CRLF) completely.
  boost::asio::awaitable<std::optional<IoFailure>> Write(std::string_view line);

  // Bytes received that are not part of a reply returned so far (RFC 3207 §4.2 injection check).
  bool HasBufferedBytes() const { return parser_.HasPendingBytes(); }
  void DiscardBuffered() { parser_.Reset(); }

  bool is_tls() const { return tls_.has_value(); }
  SSL* ssl_handle();                   // nullptr before StartTls
  std::string remote_address() const;  // "" when not connected

  // Closes the socket, aborting pending operations. Idempotent.
  void Close();
  // Close() and make aborted operations report kTimeout.
  void AbortForDeadline();
  bool aborted_for_deadline() const { return timed_out_; }

 private:
  void AckPromptly();
  IoFailure Classify(const boost::system::error_code& error, bool during_handshake) const;

  boost::asio::ip::tcp::socket socket_;
  std::optional<boost::asio::ssl::context> tls_context_;
  std::optional<boost::asio::ssl::stream<boost::asio::ip::tcp::socket&>> tls_;
  ReplyParser parser_;
  std::array<char, 4096> buffer_{};
  bool timed_out_ = false;
};

}  // namespace smtp

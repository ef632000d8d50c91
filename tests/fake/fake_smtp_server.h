// A loopback fake SMTP server for tests, driven per case by a script.
//
// The server listens on 127.0.0.1 with an ephemeral port and runs `script` once per accepted
// connection, on a thread of its own, with a Session that speaks raw bytes: a test can send
// anything a broken or hostile server would (bare LF, garbage, a banner dripped byte by byte,
// a TCP reset). Standard behaviour is one call away: ServeStandardMta(session, behaviour).
//
// Everything the client sends is recorded, line by line, in the order received (commands()),
// including what the client still sends after the script returns (the session drains input until
// the client closes), so a test can assert that DATA or BDAT never reached the server.
//
// Robustness: every read has its own timeout (Options::read_timeout), every write is bounded,
// and the destructor stops the accept loop, shuts down every live connection and joins every
// thread; a buggy client cannot hang a test. POSIX sockets driven by poll(), OpenSSL for the
// server side of TLS. Constructing a server ignores SIGPIPE for the process (a write to a client
// that hung up must fail, not kill the test binary).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tests/fake/test_certs.h"

struct ssl_st;
struct ssl_ctx_st;

namespace smtp::testing {

class FakeSmtpServer;

// One accepted connection, as seen by a script. Used only on the connection's own thread.
class Session {
 public:
  Session(FakeSmtpServer& server, int fd, std::chrono::milliseconds read_timeout);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Sends `bytes` as they are (no line ending is added). False when the peer is gone, the server
  // is stopping, or the write did not complete within the read timeout.
  bool Send(std::string_view bytes);
  // Sends one byte at a time, sleeping `per_byte` after each; stops early (returning false) when
  // the peer disconnects or the server is stopping.
  bool SendSlowly(std::string_view bytes, std::chrono::milliseconds per_byte);
  // Sends one reply: every line but the last as "code-text", the last as "code text", each
  // terminated by `eol` (CRLF by default; "\n" for bare-LF tests).
  bool Reply(int code, const std::vector<std::string>& lines, std::string_view eol = "\r\n");
  bool Reply(int code, std::string_view text, std::string_view eol = "\r\n");

  // The next line from the client without its CR LF, recorded in the server's command log;
  // nullopt on EOF, error, server stop, or when no complete line arrived within `timeout`
  // (default: the server's read timeout). Over-long lines are returned truncated at 64 KiB.
  std::optional<std::string> ReadLine();
  std::optional<std::string> ReadLine(std::chrono::milliseconds timeout);
  // True when the client has sent bytes that no ReadLine has consumed yet (checked without
  // waiting). Used to catch a client that speaks before its turn.
  bool InputPending();
  // Reads and records lines until the client closes, the server stops, or nothing arrives within
  // the read timeout.
  void Drain();

  // Server side of a TLS handshake on this connection (RFC 3207 after "220", or implicit TLS).
  // From then on Send/ReadLine go through TLS. Bytes the client pipelined before its ClientHello
  // are recorded as an anomaly on the server. False when the handshake failed.
  bool StartTls(const TestCredential& credential);
  bool tls_active() const { return ssl_ != nullptr; }

  // Sleeps, waking early when the server is stopping. False when woken early.
  bool Sleep(std::chrono::milliseconds duration);

  // Graceful close: TLS close_notify when TLS is active, then FIN; then reads (and records) what
  // the client still sends, for up to 2 s or until it closes, so that unread input does not turn
  // the close into a reset.
  void Close();
  // Abortive close: SO_LINGER 0, so the kernel sends RST.
  void Reset();
  bool closed() const { return fd_ < 0; }

 private:
  enum class Wait { kReady, kTimeout, kError };
  Wait WaitFor(short events, std::chrono::steady_clock::time_point deadline);
  enum class FillResult { kData, kClosed, kTimeout };
  // Appends what arrives to buffer_. kClosed: EOF, error or server stop.
  FillResult Fill(std::chrono::steady_clock::time_point deadline);
  bool WriteAll(std::string_view bytes, std::chrono::steady_clock::time_point deadline);
  void FreeTls();

  FakeSmtpServer& server_;
  int fd_;
  std::chrono::milliseconds read_timeout_;
  std::string buffer_;  // received, not yet returned by ReadLine
  ::ssl_ctx_st* ssl_context_ = nullptr;
  ::ssl_st* ssl_ = nullptr;
};

using Script = std::function<void(Session&)>;

// The knobs of ServeStandardMta: a well-behaved MTA with configurable replies.
struct MtaBehavior {
  std::string domain = "mx.test";
  // Lines of the 220 greeting; several lines make a multi-line greeting.
  std::vector<std::string> banner = {"mx.test ESMTP FakeMTA"};
  std::string eol = "\r\n";  // "\n" for a server that sends bare LF
  int ehlo_code = 250;       // e.g. 502 to force the HELO fallback
  int helo_code = 250;
  // EHLO keywords before TLS. STARTTLS is appended when `tls` is set.
  std::vector<std::string> capabilities = {"PIPELINING", "SIZE 10240000", "8BITMIME",
                                           "ENHANCEDSTATUSCODES"};
  // EHLO keywords after TLS (never STARTTLS, RFC 3207 §4.2).
  std::vector<std::string> tls_capabilities = {"PIPELINING", "SIZE 10240000", "AUTH PLAIN LOGIN",
                                               "8BITMIME", "ENHANCEDSTATUSCODES"};
  // Certificate to present after STARTTLS; null = STARTTLS not offered (answered 502).
  const TestCredential* tls = nullptr;
  int starttls_code = 220;
  // Bytes sent instead of the standard STARTTLS reply, in one write (e.g. "220 go ahead\r\n250
  // injected\r\n"); empty = the standard reply with starttls_code.
  std::string starttls_raw_reply;
  // Runs instead of the server side of the handshake once STARTTLS was answered 220; returns
  // whether to go on serving commands. Null = StartTls(*tls).
  std::function<bool(Session&)> after_starttls_go_ahead;
  int mail_code = 250;
  // Reply to the n-th RCPT TO (the last code repeats). {250} = open relay.
  std::vector<int> rcpt_codes = {554};
  // When set, the reply to RCPT by its whole line ("RCPT TO:<...>") instead of rcpt_codes.
  std::function<int(std::string_view rcpt_line)> rcpt_code_for;
  int rset_code = 250;
  // Exchange's tarpit: every 5yz reply to MAIL or RCPT is held this long before it is sent.
  std::chrono::milliseconds tarpit{0};
  // Serves a command the loop does not know (AUTH, VRFY, EXPN, ...) instead of the 502: gets the
  // whole line and may read and send more (an AUTH dialogue); returns whether to go on serving.
  std::function<bool(Session&, const std::string& line)> other_command;
};

// Greeting, then the command loop below. Returns when the client quits or disconnects.
void ServeStandardMta(Session& session, const MtaBehavior& behavior);
// The command loop alone (for scripts that send their own greeting): EHLO / HELO / STARTTLS /
// MAIL / RCPT / RSET / NOOP as configured, QUIT -> 221 and close, DATA / BDAT -> 554, anything
// else -> other_command, or 502 without it.
void ServeCommands(Session& session, const MtaBehavior& behavior);

class FakeSmtpServer {
 public:
  struct Options {
    // Implicit TLS (RFC 8314, port 465): the handshake runs before the script starts.
    const TestCredential* implicit_tls = nullptr;
    // How long a single ReadLine (and a single Send) may wait.
    std::chrono::milliseconds read_timeout{15000};
  };

  explicit FakeSmtpServer(Script script);
  FakeSmtpServer(Script script, Options options);
  ~FakeSmtpServer();
  FakeSmtpServer(const FakeSmtpServer&) = delete;
  FakeSmtpServer& operator=(const FakeSmtpServer&) = delete;

  std::uint16_t port() const { return port_; }

  // Every line received so far, over all connections, without CR LF.
  std::vector<std::string> commands() const;
  // Whether some received line starts with `verb` (case-insensitive) followed by a space, a colon
  // or the end of the line; Count: how many.
  bool Received(std::string_view verb) const;
  int CountReceived(std::string_view verb) const;
  // Oddities the server noticed, e.g. bytes pipelined after STARTTLS.
  std::vector<std::string> anomalies() const;
  int connections() const;

  // Waits until at least `expected` connections were accepted and every accepted connection has
  // finished (script returned, input drained, socket closed). True when that happened in time.
  bool WaitForSessions(int expected = 1,
                       std::chrono::milliseconds timeout = std::chrono::seconds(20));

 private:
  friend class Session;

  void AcceptLoop();
  void RunSession(int fd);
  void RecordLine(std::string line);
  void RecordAnomaly(std::string text);
  void CloseFd(int fd);  // removes `fd` from the live set and closes it, atomically
  bool stopping() const { return stopping_.load(); }
  // Sleeps until `duration` passed or the server stops; false when stopping.
  bool SleepUnlessStopping(std::chrono::milliseconds duration);

  Script script_;
  Options options_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread accept_thread_;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::string> commands_;
  std::vector<std::string> anomalies_;
  std::vector<std::thread> session_threads_;
  std::vector<int> live_fds_;
  int connections_ = 0;
  int finished_sessions_ = 0;
};

}  // namespace smtp::testing

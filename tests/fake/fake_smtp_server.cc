#include "tests/fake/fake_smtp_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <utility>

namespace smtp::testing {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kMaxLineBytes = 64 * 1024;
constexpr std::size_t kReadChunk = 16 * 1024;
// How long Close() keeps reading after its FIN, so that what the client still says (typically
// QUIT) is recorded and unread input does not turn the close into a reset.
constexpr std::chrono::milliseconds kLingerOnClose{2000};
constexpr std::chrono::milliseconds kAcceptPoll{50};

std::string ToUpper(std::string_view text) {
  std::string upper(text);
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return upper;
}

// The command verb of a client line: the text before the first space or colon, upper case.
std::string VerbOf(std::string_view line) {
  std::size_t end = line.find_first_of(" :");
  return ToUpper(line.substr(0, end == std::string_view::npos ? line.size() : end));
}

int RemainingMs(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::max<std::chrono::milliseconds::rep>(0, left.count()));
}

std::string Describe(std::string_view bytes) {
  std::string out;
  for (char c : bytes.substr(0, 80)) {
    out += std::isprint(static_cast<unsigned char>(c)) ? c : '.';
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Session

Session::Session(FakeSmtpServer& server, int fd, std::chrono::milliseconds read_timeout)
    : server_(server), fd_(fd), read_timeout_(read_timeout) {
  int flags = fcntl(fd_, F_GETFL, 0);
  fcntl(fd_, F_SETFL, flags | O_NONBLOCK);
  // Bytes leave when the script says so: without this, Nagle holds a reply behind the TLS 1.3
  // session tickets until the client's delayed ACK (~40 ms per TLS conversation).
  int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

Session::~Session() {
  FreeTls();
  if (fd_ >= 0) server_.CloseFd(fd_);
}

void Session::FreeTls() {
  if (ssl_ != nullptr) SSL_free(ssl_);
  if (ssl_context_ != nullptr) SSL_CTX_free(ssl_context_);
  ssl_ = nullptr;
  ssl_context_ = nullptr;
}

Session::Wait Session::WaitFor(short events, Clock::time_point deadline) {
  while (true) {
    if (fd_ < 0 || server_.stopping()) return Wait::kError;
    pollfd entry{.fd = fd_, .events = events, .revents = 0};
    int ready = poll(&entry, 1, RemainingMs(deadline));
    if (ready > 0) return Wait::kReady;  // includes POLLHUP / POLLERR: the next call reports it
    if (ready == 0) return Wait::kTimeout;
    if (errno != EINTR) return Wait::kError;
  }
}

Session::FillResult Session::Fill(Clock::time_point deadline) {
  char chunk[kReadChunk];
  while (true) {
    if (fd_ < 0 || server_.stopping()) return FillResult::kClosed;
    short events = POLLIN;
    if (ssl_ != nullptr) {
      int n = SSL_read(ssl_, chunk, sizeof chunk);
      if (n > 0) {
        buffer_.append(chunk, static_cast<std::size_t>(n));
        return FillResult::kData;
      }
      int error = SSL_get_error(ssl_, n);
      ERR_clear_error();
      if (error == SSL_ERROR_WANT_WRITE) {
        events = POLLOUT;
      } else if (error != SSL_ERROR_WANT_READ) {
        return FillResult::kClosed;  // close_notify, EOF, reset or a TLS error
      }
    } else {
      ssize_t n = recv(fd_, chunk, sizeof chunk, 0);
      if (n > 0) {
        buffer_.append(chunk, static_cast<std::size_t>(n));
        return FillResult::kData;
      }
      if (n == 0) return FillResult::kClosed;
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return FillResult::kClosed;
    }
    switch (WaitFor(events, deadline)) {
      case Wait::kReady:
        break;
      case Wait::kTimeout:
        return FillResult::kTimeout;
      case Wait::kError:
        return FillResult::kClosed;
    }
  }
}

bool Session::WriteAll(std::string_view bytes, Clock::time_point deadline) {
  while (!bytes.empty()) {
    if (fd_ < 0 || server_.stopping()) return false;
    if (ssl_ != nullptr) {
      int n = SSL_write(ssl_, bytes.data(),
                        static_cast<int>(std::min<std::size_t>(bytes.size(), 1 << 20)));
      if (n > 0) {
        bytes.remove_prefix(static_cast<std::size_t>(n));
        continue;
      }
      int error = SSL_get_error(ssl_, n);
      short events = error == SSL_ERROR_WANT_READ    ? POLLIN
                     : error == SSL_ERROR_WANT_WRITE ? POLLOUT
                                                     : 0;
      ERR_clear_error();
      if (events == 0 || WaitFor(events, deadline) != Wait::kReady) return false;
      continue;
    }
    ssize_t n = send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n > 0) {
      bytes.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return false;
    if (WaitFor(POLLOUT, deadline) != Wait::kReady) return false;
  }
  return true;
}

bool Session::Send(std::string_view bytes) { return WriteAll(bytes, Clock::now() + read_timeout_); }

bool Session::SendSlowly(std::string_view bytes, std::chrono::milliseconds per_byte) {
  for (char c : bytes) {
    if (!Send(std::string_view(&c, 1))) return false;
    if (!Sleep(per_byte)) return false;
  }
  return true;
}

bool Session::Reply(int code, const std::vector<std::string>& lines, std::string_view eol) {
  std::string reply;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    reply += std::to_string(code);
    reply += i + 1 < lines.size() ? '-' : ' ';
    reply += lines[i];
    reply += eol;
  }
  if (lines.empty()) {
    reply = std::to_string(code);
    reply += eol;
  }
  return Send(reply);
}

bool Session::Reply(int code, std::string_view text, std::string_view eol) {
  return Reply(code, std::vector<std::string>{std::string(text)}, eol);
}

std::optional<std::string> Session::ReadLine() { return ReadLine(read_timeout_); }

std::optional<std::string> Session::ReadLine(std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  while (true) {
    std::size_t newline = buffer_.find('\n');
    if (newline != std::string::npos || buffer_.size() >= kMaxLineBytes) {
      std::size_t length = newline != std::string::npos ? newline : kMaxLineBytes;
      std::string line = buffer_.substr(0, length);
      buffer_.erase(0, newline != std::string::npos ? newline + 1 : length);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      server_.RecordLine(line);
      return line;
    }
    switch (Fill(deadline)) {
      case FillResult::kData:
        break;
      case FillResult::kTimeout:
        return std::nullopt;  // a partial line stays buffered
      case FillResult::kClosed:
        if (buffer_.empty()) return std::nullopt;
        // Hand out a trailing partial line once, so that nothing goes unrecorded.
        std::string line = std::move(buffer_);
        buffer_.clear();
        server_.RecordLine(line);
        return line;
    }
  }
}

bool Session::InputPending() {
  if (!buffer_.empty()) return true;
  if (fd_ < 0) return false;
  if (ssl_ != nullptr && SSL_pending(ssl_) > 0) return true;
  char byte;
  return recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

void Session::Drain() {
  while (ReadLine()) {
  }
}

bool Session::StartTls(const TestCredential& credential) {
  if (fd_ < 0 || ssl_ != nullptr) return false;
  if (!buffer_.empty()) {
    server_.RecordAnomaly("client pipelined " + std::to_string(buffer_.size()) +
                          " bytes before the TLS handshake: " + Describe(buffer_));
    buffer_.clear();
  }
  ssl_context_ = SSL_CTX_new(TLS_server_method());
  if (ssl_context_ == nullptr) return false;
  SSL_CTX_set_min_proto_version(ssl_context_, TLS1_2_VERSION);
  BIO* cert_bio =
      BIO_new_mem_buf(credential.cert_pem.data(), static_cast<int>(credential.cert_pem.size()));
  X509* cert = PEM_read_bio_X509(cert_bio, nullptr, nullptr, nullptr);
  BIO_free(cert_bio);
  BIO* key_bio =
      BIO_new_mem_buf(credential.key_pem.data(), static_cast<int>(credential.key_pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(key_bio, nullptr, nullptr, nullptr);
  BIO_free(key_bio);
  bool loaded = cert != nullptr && key != nullptr &&
                SSL_CTX_use_certificate(ssl_context_, cert) == 1 &&
                SSL_CTX_use_PrivateKey(ssl_context_, key) == 1;
  X509_free(cert);
  EVP_PKEY_free(key);
  if (!loaded) {
    server_.RecordAnomaly("cannot load the test certificate");
    FreeTls();
    return false;
  }
  ssl_ = SSL_new(ssl_context_);
  SSL_set_fd(ssl_, fd_);
  SSL_set_mode(ssl_, SSL_MODE_ENABLE_PARTIAL_WRITE);
  const Clock::time_point deadline = Clock::now() + read_timeout_;
  while (true) {
    int result = SSL_accept(ssl_);
    if (result == 1) return true;
    int error = SSL_get_error(ssl_, result);
    short events = error == SSL_ERROR_WANT_READ    ? POLLIN
                   : error == SSL_ERROR_WANT_WRITE ? POLLOUT
                                                   : 0;
    ERR_clear_error();
    if (events == 0 || WaitFor(events, deadline) != Wait::kReady) break;
  }
  FreeTls();  // no close_notify: the handshake never completed
  return false;
}

bool Session::Sleep(std::chrono::milliseconds duration) {
  return server_.SleepUnlessStopping(duration);
}

void Session::Close() {
  if (fd_ < 0) return;
  if (ssl_ != nullptr) {
    SSL_shutdown(ssl_);  // sends close_notify; the peer's is not awaited
    ERR_clear_error();
  }
  shutdown(fd_, SHUT_WR);
  const Clock::time_point deadline = Clock::now() + kLingerOnClose;
  while (Clock::now() < deadline &&
         ReadLine(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()))) {
  }
  FreeTls();
  server_.CloseFd(fd_);
  fd_ = -1;
}

void Session::Reset() {
  if (fd_ < 0) return;
  FreeTls();
  linger abortive{.l_onoff = 1, .l_linger = 0};
  setsockopt(fd_, SOL_SOCKET, SO_LINGER, &abortive, sizeof abortive);
  server_.CloseFd(fd_);
  fd_ = -1;
}

// ---------------------------------------------------------------------------------------------
// Standard MTA

namespace {

std::string TextFor(int code) {
  switch (code) {
    case 220:
      return "2.0.0 Ready to start TLS";
    case 221:
      return "2.0.0 Bye";
    case 250:
      return "2.0.0 Ok";
    case 251:
      return "2.1.5 User not local; will forward";
    case 421:
      return "4.3.2 Service not available, closing transmission channel";
    case 450:
      return "4.7.1 Greylisted, try again later";
    case 451:
      return "4.3.0 Local error in processing";
    case 454:
      return "4.7.0 TLS not available due to temporary reason";
    case 500:
    case 502:
      return "5.5.2 Command not recognized";
    case 501:
      return "5.5.4 Syntax error";
    case 503:
      return "5.5.1 Bad sequence of commands";
    case 530:
      return "5.7.0 Authentication required";
    case 550:
      return "5.7.1 Relaying denied";
    case 554:
      return "5.7.1 Relay access denied";
    default:
      return std::to_string(code / 100) + ".0.0 Fake reply";
  }
}

}  // namespace

void ServeStandardMta(Session& session, const MtaBehavior& behavior) {
  if (!session.Reply(220, behavior.banner, behavior.eol)) return;
  ServeCommands(session, behavior);
}

void ServeCommands(Session& session, const MtaBehavior& behavior) {
  std::size_t rcpt_count = 0;
  const std::string_view eol = behavior.eol;
  while (std::optional<std::string> line = session.ReadLine()) {
    const std::string verb = VerbOf(*line);
    bool sent = true;
    if (verb == "EHLO") {
      if (behavior.ehlo_code != 250) {
        sent = session.Reply(behavior.ehlo_code, TextFor(behavior.ehlo_code), eol);
        continue;
      }
      std::vector<std::string> lines = {behavior.domain + " Hello"};
      if (session.tls_active()) {
        lines.insert(lines.end(), behavior.tls_capabilities.begin(),
                     behavior.tls_capabilities.end());
      } else {
        lines.insert(lines.end(), behavior.capabilities.begin(), behavior.capabilities.end());
        if (behavior.tls != nullptr) lines.push_back("STARTTLS");
      }
      sent = session.Reply(250, lines, eol);
    } else if (verb == "HELO") {
      sent = session.Reply(
          behavior.helo_code,
          behavior.helo_code == 250 ? behavior.domain : TextFor(behavior.helo_code), eol);
    } else if (verb == "STARTTLS") {
      if (behavior.tls == nullptr || session.tls_active()) {
        sent = session.Reply(502, TextFor(502), eol);
      } else {
        sent = behavior.starttls_raw_reply.empty()
                   ? session.Reply(behavior.starttls_code, TextFor(behavior.starttls_code), eol)
                   : session.Send(behavior.starttls_raw_reply);
        if (sent && behavior.starttls_code == 220) {
          bool go_on = behavior.after_starttls_go_ahead ? behavior.after_starttls_go_ahead(session)
                                                        : session.StartTls(*behavior.tls);
          if (!go_on) return;
        }
      }
    } else if (verb == "MAIL" || verb == "RCPT") {
      int code = behavior.mail_code;
      if (verb == "RCPT") {
        code = behavior.rcpt_code_for ? behavior.rcpt_code_for(*line)
               : behavior.rcpt_codes.empty()
                   ? 250
                   : behavior.rcpt_codes[std::min(rcpt_count, behavior.rcpt_codes.size() - 1)];
        ++rcpt_count;
      }
      if (code >= 500 && behavior.tarpit.count() > 0 && !session.Sleep(behavior.tarpit)) return;
      sent = session.Reply(code, TextFor(code), eol);
    } else if (verb == "RSET") {
      sent = session.Reply(behavior.rset_code, TextFor(behavior.rset_code), eol);
    } else if (verb == "NOOP") {
      sent = session.Reply(250, TextFor(250), eol);
    } else if (verb == "QUIT") {
      session.Reply(221, TextFor(221), eol);
      session.Close();
      return;
    } else if (verb == "DATA" || verb == "BDAT") {
      sent = session.Reply(554, "5.5.1 a prober must never send " + verb, eol);
    } else if (behavior.other_command) {
      sent = behavior.other_command(session, *line);
    } else {
      sent = session.Reply(502, TextFor(502), eol);
    }
    if (!sent) return;
  }
}

// ---------------------------------------------------------------------------------------------
// FakeSmtpServer

FakeSmtpServer::FakeSmtpServer(Script script) : FakeSmtpServer(std::move(script), Options{}) {}

FakeSmtpServer::FakeSmtpServer(Script script, Options options)
    : script_(std::move(script)), options_(options) {
  std::signal(SIGPIPE, SIG_IGN);
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) throw std::runtime_error("fake smtp server: socket() failed");
  int one = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = 0;  // ephemeral
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      listen(listen_fd_, 16) != 0 ||
      getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    close(listen_fd_);
    throw std::runtime_error(std::string("fake smtp server: cannot listen: ") +
                             std::strerror(errno));
  }
  port_ = ntohs(address.sin_port);
  accept_thread_ = std::thread([this] { AcceptLoop(); });
}

FakeSmtpServer::~FakeSmtpServer() {
  stopping_ = true;
  shutdown(listen_fd_, SHUT_RDWR);
  accept_thread_.join();
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mutex_);
    for (int fd : live_fds_) shutdown(fd, SHUT_RDWR);
    threads.swap(session_threads_);
  }
  changed_.notify_all();
  for (std::thread& thread : threads) thread.join();
  close(listen_fd_);
}

void FakeSmtpServer::AcceptLoop() {
  while (!stopping()) {
    pollfd entry{.fd = listen_fd_, .events = POLLIN, .revents = 0};
    int ready = poll(&entry, 1, static_cast<int>(kAcceptPoll.count()));
    if (ready <= 0) continue;
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    std::lock_guard lock(mutex_);
    if (stopping()) {
      close(fd);
      return;
    }
    live_fds_.push_back(fd);
    ++connections_;
    session_threads_.emplace_back([this, fd] { RunSession(fd); });
  }
}

void FakeSmtpServer::RunSession(int fd) {
  {
    Session session(*this, fd, options_.read_timeout);
    try {
      if (options_.implicit_tls == nullptr || session.StartTls(*options_.implicit_tls)) {
        script_(session);
      } else {
        RecordAnomaly("implicit TLS handshake failed");
      }
      if (!session.closed()) {
        session.Drain();
        session.Close();
      }
    } catch (const std::exception& error) {
      RecordAnomaly(std::string("script threw: ") + error.what());
    }
  }
  {
    std::lock_guard lock(mutex_);
    ++finished_sessions_;
  }
  changed_.notify_all();
}

void FakeSmtpServer::RecordLine(std::string line) {
  std::lock_guard lock(mutex_);
  commands_.push_back(std::move(line));
}

void FakeSmtpServer::RecordAnomaly(std::string text) {
  std::lock_guard lock(mutex_);
  anomalies_.push_back(std::move(text));
}

void FakeSmtpServer::CloseFd(int fd) {
  std::lock_guard lock(mutex_);
  live_fds_.erase(std::remove(live_fds_.begin(), live_fds_.end(), fd), live_fds_.end());
  close(fd);
}

bool FakeSmtpServer::SleepUnlessStopping(std::chrono::milliseconds duration) {
  std::unique_lock lock(mutex_);
  return !changed_.wait_for(lock, duration, [this] { return stopping(); });
}

std::vector<std::string> FakeSmtpServer::commands() const {
  std::lock_guard lock(mutex_);
  return commands_;
}

int FakeSmtpServer::CountReceived(std::string_view verb) const {
  const std::string wanted = ToUpper(verb);
  std::lock_guard lock(mutex_);
  return static_cast<int>(
      std::count_if(commands_.begin(), commands_.end(),
                    [&](const std::string& line) { return VerbOf(line) == wanted; }));
}

bool FakeSmtpServer::Received(std::string_view verb) const { return CountReceived(verb) > 0; }

std::vector<std::string> FakeSmtpServer::anomalies() const {
  std::lock_guard lock(mutex_);
  return anomalies_;
}

int FakeSmtpServer::connections() const {
  std::lock_guard lock(mutex_);
  return connections_;
}

bool FakeSmtpServer::WaitForSessions(int expected, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] {
    return connections_ >= expected && finished_sessions_ == connections_;
  });
}

}  // namespace smtp::testing

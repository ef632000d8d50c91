// soak_server: the hostile far end of the soak benchmark (bench/soak.sh, issue 13 "Reliability,
// measured"). Not a test fixture and not a mail server: one single-threaded Asio process that
// plays eight misbehaving SMTP servers at once, fast enough for a million probes, and writes down
// every command it receives so that the benchmark can prove no DATA or BDAT ever arrived.
//
//   soak_server --port-base 2600 --log commands.log --stats stats.txt [--drip-ms 100]
//               [--long-line-bytes 10485760] [--session-cap-ms 30000] [--max-seconds 3600]
//
// Scenario k listens on 0.0.0.0:(port-base + k), so every address of 127.0.0.0/8 reaches it and
// a fleet of targets 127.x.y.z:(port-base + k) needs one socket per scenario. A wildcard socket
// is reachable from other machines too, so the server refuses to start unless its network
// namespace has no interface but lo (bench/soak.sh runs under `unshare -n`). Scenarios, in port
// order (sub-variants alternate by session number, so each is a kind, not one input):
//
//   0 silence     accepts, never sends a byte
//   1 drip        an endless multi-line reply, one byte every --drip-ms: the banner itself
//                 ("220-soak drip" lines), or a normal banner and then the EHLO reply
//   2 longline    "220 " and a --long-line-bytes line (10 MB) without CR LF, as fast as the
//                 client reads, then CR LF
//   3 garbage     4 KiB of random bytes, or an HTTP/1.1 error page, instead of a banner
//   4 reset       RST at accept, RST when EHLO arrives, or RST in the middle of the EHLO reply
//   5 tlsgarbage  banner, EHLO with STARTTLS, "220 go ahead", then the ClientHello is answered
//                 with random bytes, a TLS record header announcing 16 KiB and nothing more, or a
//                 handshake record of random content; or random bytes come glued to the "220"
//                 (which the client must discard, then wait for a ServerHello that never comes)
//   6 catchall    a healthy server whose RCPT accepts any local part at its own names (its banner
//                 name, an address literal, or no domain) and refuses foreign domains with 554:
//                 a catch-all, not an open relay
//   7 tarpit      banner and EHLO, then MAIL 250 and RCPT never answered, or MAIL never answered
//                 (the session is held until the client gives up)
//
// The command log (--log) has one line per event, fields separated by one space:
//   C <session> <scenario> <line>   every line received outside TLS: every command, also lines
//                                   pipelined after STARTTLS or sent in plain text after it
//                                   (bytes outside printable ASCII written as \xHH, cut at 512
//                                   bytes; an unterminated line is logged every 64 KiB)
//   E <session> <scenario> <lifetime_ms> <bytes_in> <how>
//                                   the end of a session: lifetime from accept to the client's
//                                   FIN or RST (how=eof|reset|error), or to our own close
//                                   (how=closed), or to --session-cap-ms (how=cap: a client that
//                                   never hung up)
// DATA and BDAT (the first word of a line, any case) are also counted in the stats. --stats is
// rewritten once a second (write to a temporary, rename) with one line per scenario:
//   <scenario> accepted=N ended=N open=N max_open=N max_life_ms=N capped=N data_bdat=N
//              bytes_in=N bytes_out=N
// and a line "all cpu_seconds=S" with this process's CPU time. Exits after --max-seconds or on
// SIGINT/SIGTERM, after a last stats write.
#include <net/if.h>
#include <sys/resource.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

enum Scenario { kSilence, kDrip, kLongLine, kGarbage, kReset, kTlsGarbage, kCatchAll, kTarpit };
constexpr std::array<const char*, 8> kScenarioNames = {
    "silence", "drip", "longline", "garbage", "reset", "tlsgarbage", "catchall", "tarpit"};
constexpr std::size_t kMaxLogLine = 512;
constexpr std::size_t kMaxPending = 64 * 1024;  // an unterminated line longer than this is cut
constexpr std::size_t kChunk = 64 * 1024;
constexpr std::string_view kHostname = "bench.test";

struct Options {
  std::uint16_t port_base = 2600;
  std::string log_file;
  std::string stats_file;
  int drip_ms = 100;
  std::size_t long_line_bytes = 10 * 1024 * 1024;
  int session_cap_ms = 30000;
  int max_seconds = 3600;
};

struct Stats {
  std::uint64_t accepted = 0, ended = 0, open = 0, max_open = 0, max_life_ms = 0, capped = 0;
  std::uint64_t data_bdat = 0, bytes_in = 0, bytes_out = 0;
};

struct Shared {
  Options options;
  FILE* log = nullptr;
  std::array<Stats, kScenarioNames.size()> stats;
  std::uint64_t next_session = 0;
  std::mt19937_64 random{12345};
  std::string random_bytes;  // 64 KiB of random bytes, sliced for garbage
};

bool IsCommand(std::string_view line, std::string_view verb) {
  if (line.size() < verb.size()) return false;
  for (std::size_t i = 0; i < verb.size(); ++i) {
    const char c = line[i];
    const char upper = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
    if (upper != verb[i]) return false;
  }
  return line.size() == verb.size() || line[verb.size()] == ' ';
}

// The domain of an RCPT path as a server routes it: source route ("@a,@b:") stripped, then what
// follows the last '@' outside a quoted local part; "" when there is none.
std::string RecipientDomain(std::string_view line) {
  const std::size_t open = line.find('<');
  const std::size_t close = line.rfind('>');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) return "";
  std::string_view path = line.substr(open + 1, close - open - 1);
  if (!path.empty() && path.front() == '@') {
    const std::size_t colon = path.find(':');
    path = colon == std::string_view::npos ? std::string_view() : path.substr(colon + 1);
  }
  bool quoted = false;
  std::size_t at = std::string_view::npos;
  for (std::size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '\\' && quoted) {
      ++i;
    } else if (path[i] == '"') {
      quoted = !quoted;
    } else if (path[i] == '@' && !quoted) {
      at = i;
    }
  }
  std::string domain(at == std::string_view::npos ? std::string_view() : path.substr(at + 1));
  for (char& c : domain) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  return domain;
}

// A catch-all accepts any local part at one of its own names: its banner name, an address
// literal or a bare address (RFC 5321 §4.1.3), or none at all (an unqualified local part, which
// MTAs qualify with their own domain). Everything else is foreign and refused.
bool OwnDomain(const std::string& domain) {
  if (domain.empty() || domain == kHostname || domain.front() == '[') return true;
  return domain.find_first_not_of("0123456789.") == std::string::npos;
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, Shared& shared, Scenario scenario)
      : socket_(std::move(socket)),
        shared_(shared),
        scenario_(scenario),
        id_(shared.next_session++),
        variant_(shared.stats[scenario].accepted),
        start_(Clock::now()),
        timer_(socket_.get_executor()),
        cap_(socket_.get_executor()) {
    Stats& s = stats();
    ++s.accepted;
    if (++s.open > s.max_open) s.max_open = s.open;
  }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void Start() {
    error_code ignored;
    socket_.set_option(tcp::no_delay(true), ignored);
    auto self = shared_from_this();
    cap_.expires_after(std::chrono::milliseconds(shared_.options.session_cap_ms));
    cap_.async_wait([self](const error_code& error) {
      if (!error) self->End("cap");
    });
    Read();
    switch (scenario_) {
      case kSilence:
        break;
      case kDrip:
        if (variant_ % 2 == 0) {
          StartDrip("220-soak drip: one byte at a time\r\n");
        } else {
          Send("220 bench.test ESMTP soak drip\r\n");
        }
        break;
      case kLongLine:
        Send("220 ");
        long_line_left_ = shared_.options.long_line_bytes;
        break;
      case kGarbage:
        if (variant_ % 2 == 0) {
          Send(RandomBytes(4096));
        } else {
          Send(
              "HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\nConnection: close\r\n\r\n"
              "<html><body>400 Bad Request</body></html>\r\n");
        }
        break;
      case kReset:
        if (variant_ % 3 == 0) return Reset();
        Send("220 bench.test ESMTP soak reset\r\n");
        break;
      case kTlsGarbage:
      case kCatchAll:
      case kTarpit:
        Send("220 bench.test ESMTP soak " + std::string(kScenarioNames[scenario_]) + "\r\n");
        break;
    }
  }

 private:
  Stats& stats() { return shared_.stats[scenario_]; }

  std::string RandomBytes(std::size_t n) {
    const std::size_t max = shared_.random_bytes.size() - n;
    const std::size_t offset = shared_.random() % max;
    return shared_.random_bytes.substr(offset, n);
  }

  void Read() {
    auto self = shared_from_this();
    socket_.async_read_some(asio::buffer(buffer_), [self](const error_code& error, std::size_t n) {
      self->OnRead(error, n);
    });
  }

  void OnRead(const error_code& error, std::size_t n) {
    if (ended_) return;
    if (error) {
      return End(error == asio::error::eof                ? "eof"
                 : error == asio::error::connection_reset ? "reset"
                                                          : "error");
    }
    bytes_in_ += n;
    stats().bytes_in += n;
    if (phase_ == Phase::kTls) return Read();  // a ClientHello and what follows: not commands
    pending_.append(buffer_.data(), n);
    std::size_t begin = 0;
    while (!ended_) {
      if (phase_ == Phase::kAfterStartTls) {
        // The first byte after STARTTLS tells a TLS handshake record (RFC 8446 §5.1: type 22)
        // from a client that goes on in plain text, whose lines are still logged (and never
        // answered).
        if (begin >= pending_.size()) break;
        if (pending_[begin] != '\x16') {
          phase_ = Phase::kPlainAfterStartTls;
        } else {
          phase_ = Phase::kTls;
          if (tls_garbage_due_) Send(TlsGarbage(variant_ % 4));
          break;
        }
      }
      const std::size_t end = pending_.find('\n', begin);
      if (end == std::string::npos) break;
      std::string_view line(pending_.data() + begin, end - begin);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      begin = end + 1;
      if (phase_ == Phase::kCommands) {
        OnLine(line);
      } else {
        LogLine(line);
      }
    }
    if (ended_) return;
    if (phase_ == Phase::kTls) {
      pending_.clear();
    } else {
      pending_.erase(0, begin);
      if (pending_.size() > kMaxPending) {
        LogLine(pending_);  // an endless line is logged (cut) and dropped, never accumulated
        pending_.clear();
      }
    }
    Read();
  }

  void LogLine(std::string_view line) {
    if (IsCommand(line, "DATA") || IsCommand(line, "BDAT")) ++stats().data_bdat;
    if (shared_.log == nullptr) return;
    std::string out;
    out.reserve(std::min(line.size(), kMaxLogLine) + 32);
    for (std::size_t i = 0; i < line.size() && i < kMaxLogLine; ++i) {
      const auto c = static_cast<unsigned char>(line[i]);
      if (c >= 0x20 && c < 0x7f && c != '\\') {
        out += static_cast<char>(c);
      } else {
        char hex[5];
        std::snprintf(hex, sizeof(hex), "\\x%02x", c);
        out += hex;
      }
    }
    std::fprintf(shared_.log, "C %llu %s %s\n", static_cast<unsigned long long>(id_),
                 kScenarioNames[scenario_], out.c_str());
  }

  void OnLine(std::string_view line) {
    LogLine(line);
    const bool ehlo = IsCommand(line, "EHLO") || IsCommand(line, "HELO");
    switch (scenario_) {
      case kSilence:
      case kLongLine:
      case kGarbage:
        return;  // nothing a client says changes anything
      case kDrip:
        if (ehlo && variant_ % 2 == 1 && !dripping_) StartDrip("250-PIPELINING\r\n");
        return;
      case kReset:
        if (!ehlo) return;
        if (variant_ % 3 == 1) return Reset();
        // Half a reply, then the reset: the client must not wait for the rest.
        return Send("250-bench.test\r\n250-PIPEL", /*reset_after=*/true);
      case kTlsGarbage:
        if (ehlo) return Send("250-bench.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n");
        if (IsCommand(line, "STARTTLS")) {
          phase_ = Phase::kAfterStartTls;
          const std::string go_ahead = "220 2.0.0 Ready to start TLS\r\n";
          // Variant 3 glues the garbage to the go-ahead, before any ClientHello: a client must
          // discard what was buffered before its handshake (RFC 3207 §4.2, DESIGN §1).
          if (variant_ % 4 == 3) return Send(go_ahead + TlsGarbage(0));
          tls_garbage_due_ = true;  // sent when the ClientHello arrives
          return Send(go_ahead);
        }
        return Answer(line);
      case kCatchAll:
        if (ehlo) return Send("250-bench.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n");
        if (IsCommand(line, "RCPT")) {
          return Send(OwnDomain(RecipientDomain(line)) ? "250 2.1.5 Ok\r\n"
                                                       : "554 5.7.1 Relay access denied\r\n");
        }
        return Answer(line);
      case kTarpit:
        if (ehlo) return Send("250-bench.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n");
        if (holding_) return;  // the tarpit answers nothing any more
        if (IsCommand(line, "MAIL")) {
          if (variant_ % 2 == 1) {
            holding_ = true;
            return;
          }
          return Send("250 2.1.0 Ok\r\n");
        }
        if (IsCommand(line, "RCPT")) {
          holding_ = true;
          return;
        }
        return Answer(line);
    }
  }

  // The ordinary replies of the scenarios that speak SMTP.
  void Answer(std::string_view line) {
    if (IsCommand(line, "QUIT")) {
      return Send("221 2.0.0 Bye\r\n", false, /*close_after=*/true);
    }
    if (IsCommand(line, "MAIL") || IsCommand(line, "RSET") || IsCommand(line, "NOOP")) {
      return Send("250 2.0.0 Ok\r\n");
    }
    if (IsCommand(line, "DATA") || IsCommand(line, "BDAT")) {
      return Send("554 5.5.1 No valid recipients (soak_server never takes mail)\r\n");
    }
    Send("502 5.5.2 Command not implemented\r\n");
  }

  // What the TLS garbage scenario answers a ClientHello with: random bytes, a TLS record header
  // announcing a 16 KiB handshake record that never comes, or a handshake record of random
  // content.
  std::string TlsGarbage(std::uint64_t variant) {
    switch (variant) {
      case 1:
        return std::string("\x16\x03\x03\x40\x00", 5);
      case 2:
        return std::string("\x16\x03\x03\x01\x00", 5) + RandomBytes(256);
      default:
        return RandomBytes(2048);
    }
  }

  void StartDrip(std::string pattern) {
    dripping_ = true;
    drip_pattern_ = std::move(pattern);
    Drip();
  }

  void Drip() {
    if (ended_) return;
    Send(std::string(1, drip_pattern_[drip_index_++ % drip_pattern_.size()]));
    auto self = shared_from_this();
    timer_.expires_after(std::chrono::milliseconds(shared_.options.drip_ms));
    timer_.async_wait([self](const error_code& error) {
      if (!error) self->Drip();
    });
  }

  void Send(std::string data, bool reset_after = false, bool close_after = false) {
    if (ended_ || write_failed_) return;
    out_.push_back({std::move(data), reset_after, close_after});
    if (!writing_) WriteNext();
  }

  void WriteNext() {
    if (out_.empty() && long_line_left_ > 0) {
      const std::size_t n = std::min(long_line_left_, kChunk);
      long_line_left_ -= n;
      out_.push_back({std::string(n, 'x') + (long_line_left_ == 0 ? "\r\n" : ""), false, false});
    }
    if (out_.empty() || ended_) {
      writing_ = false;
      return;
    }
    writing_ = true;
    auto self = shared_from_this();
    asio::async_write(socket_, asio::buffer(out_.front().data),
                      [self](const error_code& error, std::size_t n) {
                        self->stats().bytes_out += n;
                        if (self->ended_) return;
                        if (error) {  // the reader sees the hang-up and ends the session
                          self->write_failed_ = true;
                          self->writing_ = false;
                          self->out_.clear();
                          return;
                        }
                        const Out done = std::move(self->out_.front());
                        self->out_.pop_front();
                        if (done.reset_after) return self->Reset();
                        if (done.close_after) return self->End("closed");
                        self->WriteNext();
                      });
  }

  void Reset() {
    error_code ignored;
    socket_.set_option(asio::socket_base::linger(true, 0), ignored);
    End("closed");
  }

  void End(const char* how) {
    if (ended_) return;
    ended_ = true;
    const auto life = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start_);
    Stats& s = stats();
    ++s.ended;
    --s.open;
    const auto life_ms = static_cast<std::uint64_t>(life.count());
    if (life_ms > s.max_life_ms) s.max_life_ms = life_ms;
    if (std::string_view(how) == "cap") ++s.capped;
    if (shared_.log != nullptr) {
      std::fprintf(shared_.log, "E %llu %s %llu %llu %s\n", static_cast<unsigned long long>(id_),
                   kScenarioNames[scenario_], static_cast<unsigned long long>(life_ms),
                   static_cast<unsigned long long>(bytes_in_), how);
    }
    error_code ignored;
    timer_.cancel();
    cap_.cancel();
    socket_.close(ignored);
  }

  struct Out {
    std::string data;
    bool reset_after;
    bool close_after;
  };

  tcp::socket socket_;
  Shared& shared_;
  const Scenario scenario_;
  const std::uint64_t id_;
  const std::uint64_t variant_;  // the session number within its scenario: picks the variant
  const Clock::time_point start_;
  asio::steady_timer timer_;  // drip
  asio::steady_timer cap_;    // ends a session the client never hung up
  std::array<char, 16384> buffer_;
  std::string pending_;
  std::deque<Out> out_;
  std::size_t long_line_left_ = 0;
  std::string drip_pattern_;
  std::size_t drip_index_ = 0;
  std::uint64_t bytes_in_ = 0;
  bool writing_ = false;
  bool write_failed_ = false;
  bool dripping_ = false;
  bool holding_ = false;
  // Commands until STARTTLS is answered; then a TLS handshake (not logged) or a client that goes
  // on in plain text (logged, never answered).
  enum class Phase { kCommands, kAfterStartTls, kTls, kPlainAfterStartTls };
  Phase phase_ = Phase::kCommands;
  bool tls_garbage_due_ = false;
  bool ended_ = false;
};

class Listener {
 public:
  Listener(asio::io_context& io, std::uint16_t port, Shared& shared, Scenario scenario)
      : acceptor_(io), shared_(shared), scenario_(scenario) {
    const tcp::endpoint endpoint(asio::ip::address_v4::any(), port);
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen(asio::socket_base::max_listen_connections);
  }

  void Accept() {
    acceptor_.async_accept([this](const error_code& error, tcp::socket socket) {
      if (error == asio::error::operation_aborted) return;
      if (!error) std::make_shared<Session>(std::move(socket), shared_, scenario_)->Start();
      Accept();
    });
  }

  void Stop() {
    error_code ignored;
    acceptor_.close(ignored);
  }

 private:
  tcp::acceptor acceptor_;
  Shared& shared_;
  Scenario scenario_;
};

bool OnlyLoopbackInterface(std::string* others) {
  struct if_nameindex* interfaces = if_nameindex();
  if (interfaces == nullptr) return false;
  bool only_lo = true;
  for (const struct if_nameindex* i = interfaces; i->if_index != 0; ++i) {
    if (std::string_view(i->if_name) != "lo") {
      only_lo = false;
      *others += std::string(others->empty() ? "" : " ") + i->if_name;
    }
  }
  if_freenameindex(interfaces);
  return only_lo;
}

double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

void WriteStats(const Shared& shared) {
  if (shared.options.stats_file.empty()) return;
  const std::string temporary = shared.options.stats_file + ".tmp";
  FILE* file = std::fopen(temporary.c_str(), "w");
  if (file == nullptr) return;
  for (std::size_t i = 0; i < kScenarioNames.size(); ++i) {
    const Stats& s = shared.stats[i];
    std::fprintf(
        file,
        "%s accepted=%llu ended=%llu open=%llu max_open=%llu max_life_ms=%llu "
        "capped=%llu data_bdat=%llu bytes_in=%llu bytes_out=%llu\n",
        kScenarioNames[i], static_cast<unsigned long long>(s.accepted),
        static_cast<unsigned long long>(s.ended), static_cast<unsigned long long>(s.open),
        static_cast<unsigned long long>(s.max_open), static_cast<unsigned long long>(s.max_life_ms),
        static_cast<unsigned long long>(s.capped), static_cast<unsigned long long>(s.data_bdat),
        static_cast<unsigned long long>(s.bytes_in), static_cast<unsigned long long>(s.bytes_out));
  }
  std::fprintf(file, "all cpu_seconds=%.3f\n", CpuSeconds());
  std::fclose(file);
  std::rename(temporary.c_str(), shared.options.stats_file.c_str());
}

bool ParseInt(const char* text, long min, long max, long* out) {
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || value < min || value > max) return false;
  *out = value;
  return true;
}

bool ParseArgs(int argc, char** argv, Options* options) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (flag == "--help" || flag == "-h" || i + 1 >= argc) return false;
    const char* value = argv[++i];
    long number = 0;
    bool ok = true;
    if (flag == "--port-base") {
      ok = ParseInt(value, 1, 65535 - static_cast<long>(kScenarioNames.size()), &number);
      options->port_base = static_cast<std::uint16_t>(number);
    } else if (flag == "--log") {
      options->log_file = value;
    } else if (flag == "--stats") {
      options->stats_file = value;
    } else if (flag == "--drip-ms") {
      ok = ParseInt(value, 1, 60000, &number);
      options->drip_ms = static_cast<int>(number);
    } else if (flag == "--long-line-bytes") {
      ok = ParseInt(value, 1, 1L << 30, &number);
      options->long_line_bytes = static_cast<std::size_t>(number);
    } else if (flag == "--session-cap-ms") {
      ok = ParseInt(value, 1, 3600000, &number);
      options->session_cap_ms = static_cast<int>(number);
    } else if (flag == "--max-seconds") {
      ok = ParseInt(value, 1, 86400, &number);
      options->max_seconds = static_cast<int>(number);
    } else {
      std::fprintf(stderr, "soak_server: unknown flag %s\n", argv[i - 1]);
      return false;
    }
    if (!ok) {
      std::fprintf(stderr, "soak_server: bad value for %s: %s\n", argv[i - 1], value);
      return false;
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Shared shared;
  if (!ParseArgs(argc, argv, &shared.options)) {
    std::fprintf(stderr,
                 "usage: soak_server [--port-base 2600] [--log FILE] [--stats FILE] "
                 "[--drip-ms 100]\n"
                 "         [--long-line-bytes 10485760] [--session-cap-ms 30000] "
                 "[--max-seconds 3600]\n");
    return 2;
  }
  const Options& options = shared.options;
  std::string others;
  if (!OnlyLoopbackInterface(&others)) {
    std::fprintf(stderr,
                 "soak_server: needs a network namespace with only lo (run it under "
                 "`unshare -n`); this one also has: %s\n",
                 others.c_str());
    return 2;
  }
  if (!options.log_file.empty()) {
    shared.log = std::fopen(options.log_file.c_str(), "w");
    if (shared.log == nullptr) {
      std::fprintf(stderr, "soak_server: cannot write %s\n", options.log_file.c_str());
      return 1;
    }
    static char log_buffer[1 << 20];
    std::setvbuf(shared.log, log_buffer, _IOFBF, sizeof(log_buffer));
  }
  shared.random_bytes.resize(64 * 1024);
  for (char& c : shared.random_bytes) c = static_cast<char>(shared.random() & 0xff);

  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
  asio::io_context io(1);
  std::vector<std::unique_ptr<Listener>> listeners;
  try {
    for (std::size_t i = 0; i < kScenarioNames.size(); ++i) {
      listeners.push_back(std::make_unique<Listener>(
          io, static_cast<std::uint16_t>(options.port_base + i), shared, static_cast<Scenario>(i)));
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "soak_server: cannot listen on port %zu: %s\n",
                 options.port_base + listeners.size(), e.what());
    return 1;
  }
  for (auto& listener : listeners) listener->Accept();

  auto stop = [&]() {
    for (auto& listener : listeners) listener->Stop();
    io.stop();
  };
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const error_code& error, int) {
    if (!error) stop();
  });
  asio::steady_timer deadline(io, std::chrono::seconds(options.max_seconds));
  deadline.async_wait([&](const error_code& error) {
    if (!error) stop();
  });
  asio::steady_timer tick(io);
  std::function<void()> every_second = [&]() {
    WriteStats(shared);
    if (shared.log != nullptr) std::fflush(shared.log);
    tick.expires_after(std::chrono::seconds(1));
    tick.async_wait([&](const error_code& error) {
      if (!error) every_second();
    });
  };
  every_second();
  std::fprintf(stderr, "soak_server: scenarios on 0.0.0.0 ports %u..%zu\n", options.port_base,
               options.port_base + kScenarioNames.size() - 1);
  std::fflush(stderr);
  io.run();
  WriteStats(shared);
  if (shared.log != nullptr) std::fclose(shared.log);
  return 0;
}

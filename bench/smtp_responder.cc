// smtp_responder: a fast, minimal SMTP server for the benchmark (bench/run.sh). Not a test
// fixture and not a mail server: it exists so that the daemon, not the far end, is what the
// benchmark measures.
//
//   smtp_responder --first-address 127.1.0.1 --count 10000 --port 2525 --banner-delay-ms 100
//
// It listens on `count` consecutive loopback addresses starting at --first-address (Linux routes
// all of 127.0.0.0/8 to lo, so no interface setup is needed), one listening socket each, because
// the daemon's config needs one distinct address per target. Refuses any address outside
// 127.0.0.0/8. One socket per address costs a file descriptor each, so RLIMIT_NOFILE bounds the
// fleet (20,000 on the project's machine); for 100,000 targets
//
//   smtp_responder --bind any --port 2525 ...
//
// listens once on 0.0.0.0:PORT, which every address of 127.0.0.0/8 reaches. A wildcard socket
// would accept connections from other machines too, so this mode refuses to start unless the
// process's network namespace has no interface but lo (bench/run.sh runs in `unshare -n`).
//
// Dialogue: after --banner-delay-ms (an Asio timer started when the connection is accepted, never
// a sleep) it sends the 220 banner; EHLO advertises STARTTLS (until TLS is up); STARTTLS switches
// to TLS with a certificate generated at start (ECDSA P-256 by default, CN and SAN "bench.test",
// written to --write-cert so a client can trust it) or loaded from --cert/--key; MAIL 250, RCPT
// 554 (relay refused), RSET/NOOP 250, DATA/BDAT 502 (never accepted), QUIT 221 after
// --quit-delay-ms (holds the session open, which raises the number of probes in flight at a
// given probe rate without touching the greeting latency), then close.
//
// One thread, one io_context, callbacks (no coroutine frames). Exits by itself after
// --max-seconds, or on SIGINT/SIGTERM, and prints its counters and its own CPU time to stderr;
// SIGUSR1 prints them without exiting (a `stats` line), so that a benchmark can count the
// sessions over a window without asking the daemon.
#include <net/if.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/resource.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using asio::ip::tcp;
using boost::system::error_code;

constexpr std::size_t kMaxLine = 4096;  // a longer line without LF closes the session
constexpr auto kSessionLifetime = std::chrono::seconds(60);

struct Options {
  std::string first_address = "127.1.0.1";
  int count = 1;
  bool bind_any = false;  // --bind any: one socket on 0.0.0.0:port (only where lo is alone)
  std::uint16_t port = 2525;
  int banner_delay_ms = 100;
  int quit_delay_ms = 0;
  std::string hostname = "bench.test";
  std::string cert_file;
  std::string key_file;
  std::string write_cert;
  std::string key_type = "ec";  // ec | rsa
  int max_seconds = 900;
};

struct Counters {
  std::uint64_t accepted = 0;
  std::uint64_t tls_ok = 0;
  std::uint64_t tls_failed = 0;
  std::uint64_t quits = 0;
  std::uint64_t accept_errors = 0;
  std::uint64_t open = 0;
  std::uint64_t max_open = 0;
};

struct Shared {
  Options options;
  ssl::context* tls = nullptr;
  Counters counters;
  std::string banner;
  std::string ehlo_plain;
  std::string ehlo_tls;
};

bool StartsWithCommand(std::string_view line, std::string_view command) {
  if (line.size() < command.size()) return false;
  for (std::size_t i = 0; i < command.size(); ++i) {
    const char c = line[i];
    const char upper = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
    if (upper != command[i]) return false;
  }
  return line.size() == command.size() || line[command.size()] == ' ';
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, Shared& shared)
      : socket_(std::move(socket)),
        shared_(shared),
        timer_(socket_.get_executor()),
        lifetime_(socket_.get_executor()) {
    ++shared_.counters.open;
    if (shared_.counters.open > shared_.counters.max_open) {
      shared_.counters.max_open = shared_.counters.open;
    }
  }
  ~Session() { --shared_.counters.open; }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void Start() {
    error_code ignored;
    socket_.set_option(tcp::no_delay(true), ignored);
    auto self = shared_from_this();
    lifetime_.expires_after(kSessionLifetime);
    lifetime_.async_wait([self](const error_code& error) {
      if (!error) self->Close();
    });
    if (shared_.options.banner_delay_ms <= 0) {
      Send(shared_.banner, After::kRead);
      return;
    }
    timer_.expires_after(std::chrono::milliseconds(shared_.options.banner_delay_ms));
    timer_.async_wait([self](const error_code& error) {
      if (!error) self->Send(self->shared_.banner, After::kRead);
    });
  }

 private:
  enum class After { kRead, kStartTls, kClose };

  template <typename Handler>
  void ReadSome(Handler&& handler) {
    if (tls_) {
      tls_->async_read_some(asio::buffer(buffer_), std::forward<Handler>(handler));
    } else {
      socket_.async_read_some(asio::buffer(buffer_), std::forward<Handler>(handler));
    }
  }

  void Read() {
    auto self = shared_from_this();
    ReadSome([self](const error_code& error, std::size_t n) { self->OnRead(error, n); });
  }

  void OnRead(const error_code& error, std::size_t n) {
    if (error) return Close();
    input_.append(buffer_.data(), n);
    std::string reply;
    After after = After::kRead;
    std::size_t begin = 0;
    while (after == After::kRead) {
      const std::size_t end = input_.find('\n', begin);
      if (end == std::string::npos) break;
      std::string_view line(input_.data() + begin, end - begin);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      after = Answer(line, &reply);
      begin = end + 1;
    }
    input_.erase(0, begin);
    if (after == After::kRead && input_.size() > kMaxLine) {
      reply += "500 5.5.0 Line too long\r\n";
      after = After::kClose;
    }
    if (after == After::kStartTls) input_.clear();  // nothing may be pipelined past STARTTLS
    if (reply.empty()) return Read();
    if (after == After::kClose && shared_.options.quit_delay_ms > 0) {
      pending_ = std::move(reply);
      auto self = shared_from_this();
      timer_.expires_after(std::chrono::milliseconds(shared_.options.quit_delay_ms));
      timer_.async_wait([self](const error_code& wait_error) {
        if (!wait_error) self->Send(self->pending_, After::kClose);
      });
      return;
    }
    pending_ = std::move(reply);
    Send(pending_, after);
  }

  // Appends the reply to one command line; says what to do once the replies are written.
  After Answer(std::string_view line, std::string* reply) {
    if (StartsWithCommand(line, "EHLO")) {
      *reply += tls_ ? shared_.ehlo_tls : shared_.ehlo_plain;
    } else if (StartsWithCommand(line, "HELO")) {
      *reply += "250 " + shared_.options.hostname + "\r\n";
    } else if (StartsWithCommand(line, "STARTTLS")) {
      if (tls_) {
        *reply += "503 5.5.1 TLS already active\r\n";
      } else {
        *reply += "220 2.0.0 Ready to start TLS\r\n";
        return After::kStartTls;
      }
    } else if (StartsWithCommand(line, "MAIL")) {
      *reply += "250 2.1.0 Ok\r\n";
    } else if (StartsWithCommand(line, "RCPT")) {
      *reply += "554 5.7.1 Relay access denied\r\n";
    } else if (StartsWithCommand(line, "RSET") || StartsWithCommand(line, "NOOP")) {
      *reply += "250 2.0.0 Ok\r\n";
    } else if (StartsWithCommand(line, "DATA") || StartsWithCommand(line, "BDAT")) {
      *reply += "502 5.5.1 Command not implemented\r\n";
    } else if (StartsWithCommand(line, "QUIT")) {
      ++shared_.counters.quits;
      *reply += "221 2.0.0 Bye\r\n";
      return After::kClose;
    } else {
      *reply += "500 5.5.2 Command unrecognized\r\n";
    }
    return After::kRead;
  }

  // Writes `data` (which must outlive the write: a member or the shared strings).
  void Send(const std::string& data, After after) {
    auto self = shared_from_this();
    auto done = [self, after](const error_code& error, std::size_t) {
      if (error) return self->Close();
      switch (after) {
        case After::kRead:
          return self->Read();
        case After::kStartTls:
          return self->Handshake();
        case After::kClose:
          return self->Close();
      }
    };
    if (tls_) {
      asio::async_write(*tls_, asio::buffer(data), std::move(done));
    } else {
      asio::async_write(socket_, asio::buffer(data), std::move(done));
    }
  }

  void Handshake() {
    tls_.emplace(std::move(socket_), *shared_.tls);
    auto self = shared_from_this();
    tls_->async_handshake(ssl::stream_base::server, [self](const error_code& error) {
      if (error) {
        ++self->shared_.counters.tls_failed;
        return self->Close();
      }
      ++self->shared_.counters.tls_ok;
      self->Read();
    });
  }

  void Close() {
    error_code ignored;
    timer_.cancel();
    lifetime_.cancel();
    if (tls_) {
      tls_->lowest_layer().close(ignored);
    } else {
      socket_.close(ignored);
    }
  }

  tcp::socket socket_;
  std::optional<ssl::stream<tcp::socket>> tls_;  // engaged after STARTTLS; owns the socket then
  Shared& shared_;
  asio::steady_timer timer_;     // banner and QUIT delays
  asio::steady_timer lifetime_;  // closes a session a client forgot
  std::array<char, 2048> buffer_;
  std::string input_;
  std::string pending_;
};

class Listener {
 public:
  Listener(asio::io_context& io, const tcp::endpoint& endpoint, Shared& shared)
      : acceptor_(io), shared_(shared) {
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen(asio::socket_base::max_listen_connections);
  }

  void Accept() {
    acceptor_.async_accept([this](const error_code& error, tcp::socket socket) {
      if (error == asio::error::operation_aborted) return;
      if (error) {
        ++shared_.counters.accept_errors;
      } else {
        ++shared_.counters.accepted;
        std::make_shared<Session>(std::move(socket), shared_)->Start();
      }
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
};

// --- certificate ------------------------------------------------------------------------------

struct KeyAndCert {
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
};

bool AddExtension(X509* cert, int nid, const char* value) {
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, cert, cert, nullptr, nullptr, 0);
  X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &context, nid, value);
  if (extension == nullptr) return false;
  const bool ok = X509_add_ext(cert, extension, -1) == 1;
  X509_EXTENSION_free(extension);
  return ok;
}

std::optional<KeyAndCert> GenerateSelfSigned(const std::string& hostname,
                                             const std::string& key_type) {
  KeyAndCert out;
  out.key = key_type == "rsa" ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
  if (out.key == nullptr) return std::nullopt;
  out.cert = X509_new();
  std::uint32_t serial = 0;
  RAND_bytes(reinterpret_cast<unsigned char*>(&serial), sizeof(serial));
  X509_set_version(out.cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(out.cert), static_cast<long>(serial & 0x7fffffff));
  X509_gmtime_adj(X509_getm_notBefore(out.cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(out.cert), 30L * 24 * 3600);
  X509_set_pubkey(out.cert, out.key);
  X509_NAME* name = X509_get_subject_name(out.cert);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("smtp_exporter bench"), -1, -1,
                             0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(hostname.c_str()), -1, -1, 0);
  X509_set_issuer_name(out.cert, name);
  const std::string san = "DNS:" + hostname;
  if (!AddExtension(out.cert, NID_basic_constraints, "critical,CA:TRUE") ||
      !AddExtension(out.cert, NID_key_usage, "critical,digitalSignature,keyCertSign") ||
      !AddExtension(out.cert, NID_subject_alt_name, san.c_str()) ||
      X509_sign(out.cert, out.key, EVP_sha256()) == 0) {
    X509_free(out.cert);
    EVP_PKEY_free(out.key);
    return std::nullopt;
  }
  return out;
}

// --- command line -----------------------------------------------------------------------------

void Usage() {
  std::fprintf(stderr,
               "usage: smtp_responder [--first-address 127.1.0.1 --count N | --bind any]\n"
               "         [--port 2525]\n"
               "         [--banner-delay-ms 100] [--quit-delay-ms 0] [--hostname bench.test]\n"
               "         [--cert FILE --key FILE | --key-type ec|rsa] [--write-cert FILE]\n"
               "         [--max-seconds 900]\n");
}

bool ParseInt(const char* text, int min, int max, int* out) {
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || value < min || value > max) return false;
  *out = static_cast<int>(value);
  return true;
}

bool ParseArgs(int argc, char** argv, Options* options) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (flag == "--help" || flag == "-h") return false;
    if (i + 1 >= argc) {
      std::fprintf(stderr, "smtp_responder: %s needs a value\n", argv[i]);
      return false;
    }
    const char* value = argv[++i];
    int number = 0;
    bool ok = true;
    if (flag == "--first-address") {
      options->first_address = value;
    } else if (flag == "--bind") {
      ok = std::string_view(value) == "any" || std::string_view(value) == "addresses";
      options->bind_any = std::string_view(value) == "any";
    } else if (flag == "--count") {
      ok = ParseInt(value, 1, 1 << 20, &options->count);
    } else if (flag == "--port") {
      ok = ParseInt(value, 1, 65535, &number);
      options->port = static_cast<std::uint16_t>(number);
    } else if (flag == "--banner-delay-ms") {
      ok = ParseInt(value, 0, 600000, &options->banner_delay_ms);
    } else if (flag == "--quit-delay-ms") {
      ok = ParseInt(value, 0, 600000, &options->quit_delay_ms);
    } else if (flag == "--hostname") {
      options->hostname = value;
    } else if (flag == "--cert") {
      options->cert_file = value;
    } else if (flag == "--key") {
      options->key_file = value;
    } else if (flag == "--write-cert") {
      options->write_cert = value;
    } else if (flag == "--key-type") {
      options->key_type = value;
      ok = options->key_type == "ec" || options->key_type == "rsa";
    } else if (flag == "--max-seconds") {
      ok = ParseInt(value, 1, 86400, &options->max_seconds);
    } else {
      std::fprintf(stderr, "smtp_responder: unknown flag %s\n", argv[i - 1]);
      return false;
    }
    if (!ok) {
      std::fprintf(stderr, "smtp_responder: bad value for %s: %s\n", argv[i - 1], value);
      return false;
    }
  }
  if (options->cert_file.empty() != options->key_file.empty()) {
    std::fprintf(stderr, "smtp_responder: --cert and --key go together\n");
    return false;
  }
  return true;
}

// True when the only network interface of this process's namespace is lo: a wildcard listener
// there is reachable from loopback only. if_nameindex() asks the kernel (netlink) about the
// calling process's namespace, unlike /sys/class/net, which shows the namespace sysfs was
// mounted in.
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

void RaiseFileLimit(std::size_t needed) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  if (limit.rlim_cur >= needed) return;
  limit.rlim_cur =
      limit.rlim_max == RLIM_INFINITY ? needed : std::min<rlim_t>(needed, limit.rlim_max);
  setrlimit(RLIMIT_NOFILE, &limit);
}

double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  Shared shared;
  if (!ParseArgs(argc, argv, &shared.options)) {
    Usage();
    return 2;
  }
  const Options& options = shared.options;

  error_code error;
  const asio::ip::address_v4 first = options.bind_any
                                         ? asio::ip::address_v4::any()
                                         : asio::ip::make_address_v4(options.first_address, error);
  const std::uint64_t first_value = error ? 0 : first.to_uint();
  const std::uint64_t last_value =
      options.bind_any ? first_value : first_value + static_cast<std::uint64_t>(options.count) - 1;
  if (options.bind_any) {
    std::string others;
    if (!OnlyLoopbackInterface(&others)) {
      std::fprintf(stderr,
                   "smtp_responder: --bind any needs a network namespace with only lo "
                   "(run it under `unshare -n`); this one also has: %s\n",
                   others.c_str());
      return 2;
    }
  } else if (error || (first_value >> 24) != 127 || (last_value >> 24) != 127) {
    std::fprintf(stderr, "smtp_responder: addresses must lie within 127.0.0.0/8\n");
    return 2;
  }

  ssl::context tls(ssl::context::tls_server);
  tls.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                  ssl::context::no_sslv3);
  if (!options.cert_file.empty()) {
    tls.use_certificate_chain_file(options.cert_file, error);
    if (!error) tls.use_private_key_file(options.key_file, ssl::context::pem, error);
    if (error) {
      std::fprintf(stderr, "smtp_responder: cannot load certificate: %s\n",
                   error.message().c_str());
      return 1;
    }
  } else {
    std::optional<KeyAndCert> generated = GenerateSelfSigned(options.hostname, options.key_type);
    if (!generated || SSL_CTX_use_certificate(tls.native_handle(), generated->cert) != 1 ||
        SSL_CTX_use_PrivateKey(tls.native_handle(), generated->key) != 1) {
      std::fprintf(stderr, "smtp_responder: cannot generate a certificate\n");
      return 1;
    }
    if (!options.write_cert.empty()) {
      FILE* file = std::fopen(options.write_cert.c_str(), "w");
      if (file == nullptr || PEM_write_X509(file, generated->cert) != 1) {
        std::fprintf(stderr, "smtp_responder: cannot write %s\n", options.write_cert.c_str());
        if (file != nullptr) std::fclose(file);
        return 1;
      }
      std::fclose(file);
    }
    X509_free(generated->cert);
    EVP_PKEY_free(generated->key);
  }
  shared.tls = &tls;
  shared.banner = "220 " + options.hostname + " ESMTP smtp_responder\r\n";
  const std::string ehlo_head = "250-" + options.hostname + "\r\n250-PIPELINING\r\n";
  const std::string ehlo_tail = "250-SIZE 10240000\r\n250-ENHANCEDSTATUSCODES\r\n250 8BITMIME\r\n";
  shared.ehlo_plain = ehlo_head + "250-STARTTLS\r\n" + ehlo_tail;
  shared.ehlo_tls = ehlo_head + ehlo_tail;

  // One socket per address plus the sessions; with one wildcard socket, as many sessions as the
  // hard limit allows (the daemon may hold --probe.max-in-flight of them open).
  RaiseFileLimit(options.bind_any ? std::size_t{1} << 20
                                  : static_cast<std::size_t>(options.count) + 8192);
  asio::io_context io(1);
  std::vector<std::unique_ptr<Listener>> listeners;
  listeners.reserve(static_cast<std::size_t>(last_value - first_value + 1));
  try {
    for (std::uint64_t value = first_value; value <= last_value; ++value) {
      const tcp::endpoint endpoint(asio::ip::address_v4(static_cast<std::uint32_t>(value)),
                                   options.port);
      listeners.push_back(std::make_unique<Listener>(io, endpoint, shared));
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "smtp_responder: cannot listen on address #%zu: %s\n",
                 listeners.size() + 1, e.what());
    return 1;
  }
  for (auto& listener : listeners) listener->Accept();

  auto stop = [&]() {
    for (auto& listener : listeners) listener->Stop();
    io.stop();
  };
  const Counters& c = shared.counters;
  auto print = [&](const char* what) {
    std::fprintf(
        stderr,
        "smtp_responder: %s accepted=%llu tls_ok=%llu tls_failed=%llu quits=%llu "
        "accept_errors=%llu max_open=%llu cpu_seconds=%.3f\n",
        what, static_cast<unsigned long long>(c.accepted),
        static_cast<unsigned long long>(c.tls_ok), static_cast<unsigned long long>(c.tls_failed),
        static_cast<unsigned long long>(c.quits), static_cast<unsigned long long>(c.accept_errors),
        static_cast<unsigned long long>(c.max_open), CpuSeconds());
    std::fflush(stderr);
  };
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const error_code& wait_error, int) {
    if (!wait_error) stop();
  });
  asio::signal_set stats_signal(io, SIGUSR1);
  std::function<void(const error_code&, int)> on_stats = [&](const error_code& wait_error, int) {
    if (wait_error) return;
    print("stats");
    stats_signal.async_wait(on_stats);
  };
  stats_signal.async_wait(on_stats);
  asio::steady_timer deadline(io, std::chrono::seconds(options.max_seconds));
  deadline.async_wait([&](const error_code& wait_error) {
    if (!wait_error) stop();
  });

  std::fprintf(stderr,
               "smtp_responder: listening on %d addresses %s .. %s port %u, banner delay %d ms, "
               "quit delay %d ms, key %s\n",
               static_cast<int>(last_value - first_value + 1), first.to_string().c_str(),
               asio::ip::address_v4(static_cast<std::uint32_t>(last_value)).to_string().c_str(),
               options.port, options.banner_delay_ms, options.quit_delay_ms,
               options.cert_file.empty() ? options.key_type.c_str() : options.key_file.c_str());
  std::fflush(stderr);
  io.run();
  print("exit");
  return 0;
}

#include "tests/dns/dnsmasq.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace smtp::testing {
namespace {

using namespace std::chrono_literals;

constexpr int kStartAttempts = 4;
constexpr auto kReadyTimeout = 5s;
constexpr auto kStopTimeout = 2s;

sockaddr_in Loopback4(int port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

int BoundPort(int fd) {
  sockaddr_storage address{};
  socklen_t length = sizeof(address);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) return 0;
  if (address.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<sockaddr_in6*>(&address)->sin6_port);
  }
  return ntohs(reinterpret_cast<sockaddr_in*>(&address)->sin_port);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

}  // namespace

int FreeLoopbackPort() {
  for (int attempt = 0; attempt < 20; ++attempt) {
    int tcp = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address = Loopback4(0);
    int port = 0;
    if (bind(tcp, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0) {
      port = BoundPort(tcp);
    }
    int udp = socket(AF_INET, SOCK_DGRAM, 0);
    address = Loopback4(port);
    const bool udp_free =
        port != 0 && bind(udp, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
    close(udp);
    close(tcp);
    if (udp_free) return port;
  }
  return 0;
}

bool AcceptsTcp(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address = Loopback4(port);
  const bool connected = connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  close(fd);
  return connected;
}

bool Dnsmasq::Available() { return access(kBinary, X_OK) == 0; }

std::unique_ptr<Dnsmasq> Dnsmasq::Start(const std::vector<std::string>& config_lines,
                                        bool listen_ip6, std::string* error) {
  char dir_template[] = "/tmp/dns_tests.XXXXXX";
  if (mkdtemp(dir_template) == nullptr) {
    *error = std::string("mkdtemp: ") + std::strerror(errno);
    return nullptr;
  }
  std::unique_ptr<Dnsmasq> server(new Dnsmasq);
  server->dir_ = dir_template;
  server->listens_ip6_ = listen_ip6;
  const std::string config_path = server->dir_ + "/dnsmasq.conf";
  const std::string log_path = server->dir_ + "/dnsmasq.log";
  {
    std::ofstream config(config_path);
    for (const std::string& line : config_lines) config << line << "\n";
  }

  for (int attempt = 0; attempt < kStartAttempts; ++attempt) {
    const int port = FreeLoopbackPort();
    if (port == 0) {
      *error = "no free loopback port";
      return nullptr;
    }
    // --no-resolv and no --server: never forward. --no-hosts: only our records.
    // --bind-interfaces with explicit loopback addresses: never listen anywhere else.
    std::vector<std::string> args = {
        kBinary,
        "--conf-file=" + config_path,
        "--no-daemon",
        "--no-resolv",
        "--no-hosts",
        "--bind-interfaces",
        std::string("--listen-address=127.0.0.1") + (listen_ip6 ? ",::1" : ""),
        "--port=" + std::to_string(port),
        "--log-facility=-",
        "--log-queries",
    };
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_path.c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0600);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    pid_t pid = -1;
    const int spawned = posix_spawn(&pid, kBinary, &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (spawned != 0) {
      *error = std::string("posix_spawn dnsmasq: ") + std::strerror(spawned);
      return nullptr;
    }

    const auto deadline = std::chrono::steady_clock::now() + kReadyTimeout;
    bool exited = false;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid, &status, WNOHANG) == pid) {
        exited = true;  // most likely lost the port to someone else: try another
        break;
      }
      if (AcceptsTcp(port)) {
        server->pid_ = pid;
        server->port_ = port;
        return server;
      }
      std::this_thread::sleep_for(20ms);
    }
    if (!exited) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }
  *error = "dnsmasq did not start; log:\n" + ReadFile(log_path);
  return nullptr;
}

Dnsmasq::~Dnsmasq() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + kStopTimeout;
    bool reaped = false;
    while (!reaped && std::chrono::steady_clock::now() < deadline) {
      reaped = waitpid(pid_, nullptr, WNOHANG) == pid_;
      if (!reaped) std::this_thread::sleep_for(10ms);
    }
    if (!reaped) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  if (!dir_.empty() && std::getenv("DNS_TESTS_KEEP_DIR") == nullptr) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
}

std::string Dnsmasq::Log() const { return ReadFile(dir_ + "/dnsmasq.log"); }

SilentUdpServer::SilentUdpServer(bool ip6) : ip6_(ip6) {
  fd_ = socket(ip6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return;
  int bound = -1;
  if (ip6) {
    sockaddr_in6 address{};
    address.sin6_family = AF_INET6;
    address.sin6_addr = in6addr_loopback;
    bound = bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  } else {
    sockaddr_in address = Loopback4(0);
    bound = bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  }
  if (bound != 0) {
    close(fd_);
    fd_ = -1;
    return;
  }
  port_ = BoundPort(fd_);
}

SilentUdpServer::~SilentUdpServer() {
  if (fd_ >= 0) close(fd_);
}

std::string SilentUdpServer::Address() const {
  return (ip6_ ? "[::1]:" : "127.0.0.1:") + std::to_string(port_);
}

int SilentUdpServer::DrainDatagrams() {
  int count = 0;
  char buffer[1500];
  while (recv(fd_, buffer, sizeof(buffer), MSG_DONTWAIT) >= 0) ++count;
  return count;
}

bool Ip6LoopbackUsable() {
  SilentUdpServer probe(/*ip6=*/true);
  return probe.ok();
}

int ClosedUdpPort() {
  SilentUdpServer holder;
  return holder.ok() ? holder.port() : 0;  // closed again when `holder` goes
}

}  // namespace smtp::testing

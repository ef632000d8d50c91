#include "tests/dns/dnssec_servers.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/dns/dnsmasq.h"

extern char** environ;

namespace smtp::testing {
namespace {

using namespace std::chrono_literals;

constexpr const char* kNsd = "/usr/sbin/nsd";
constexpr const char* kUnbound = "/usr/sbin/unbound";
constexpr const char* kKeygen = "/usr/bin/ldns-keygen";
constexpr const char* kSignzone = "/usr/bin/ldns-signzone";

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

// Runs `argv` in `dir` to completion, its stdout to `out` (when given); false on failure.
bool RunTool(const std::string& dir, std::vector<std::string> args, std::string* out,
             std::string* error) {
  const std::string out_path = dir + "/tool.out";
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  // posix_spawn has no chdir in glibc 2.36: tools get absolute paths and write where told.
  pid_t pid = -1;
  const int spawned = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  int status = 0;
  if (spawned != 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
      WEXITSTATUS(status) != 0) {
    *error = args[0] + " failed: " + ReadAll(out_path);
    return false;
  }
  if (out != nullptr) *out = ReadAll(out_path);
  return true;
}

pid_t Spawn(std::vector<std::string> args, const std::string& log_path) {
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
  const int spawned = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  return spawned == 0 ? pid : -1;
}

void Stop(pid_t pid) {
  if (pid <= 0) return;
  kill(pid, SIGTERM);
  for (int i = 0; i < 100; ++i) {
    if (waitpid(pid, nullptr, WNOHANG) == pid) return;
    std::this_thread::sleep_for(20ms);
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}

bool WaitTcp(pid_t pid, int port) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid, nullptr, WNOHANG) == pid) return false;
    if (AcceptsTcp(port)) return true;
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

std::string Trim(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

// "YYYYMMDDhhmmss" for ldns-signzone's -i / -e.
std::string SigTime(std::time_t t) {
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y%m%d%H%M%S", std::gmtime(&t));
  return buffer;
}

}  // namespace

bool DnssecServers::Available() {
  for (const char* tool : {kNsd, kUnbound, kKeygen, kSignzone}) {
    if (access(tool, X_OK) != 0) return false;
  }
  return true;
}

std::unique_ptr<DnssecServers> DnssecServers::Start(const std::vector<TestZone>& zones,
                                                    std::string* error) {
  char dir_template[] = "/tmp/dnssec_tests.XXXXXX";
  if (mkdtemp(dir_template) == nullptr) {
    *error = std::string("mkdtemp: ") + std::strerror(errno);
    return nullptr;
  }
  std::unique_ptr<DnssecServers> servers(new DnssecServers);
  const std::string dir = servers->dir_ = dir_template;
  std::string nsd_zones, anchors, stubs;
  const int nsd_port = FreeLoopbackPort();
  for (const TestZone& zone : zones) {
    const std::string zone_path = dir + "/" + zone.name + ".zone";
    {
      std::ofstream file(zone_path);
      file << "$ORIGIN " << zone.name << ".\n$TTL 300\n"
           << "@ IN SOA ns." << zone.name << ". admin." << zone.name << ". 1 3600 600 86400 300\n"
           << "@ IN NS ns." << zone.name << ".\nns IN A 127.0.0.1\n";
      for (const std::string& line : zone.records) file << line << "\n";
    }
    std::string served = zone_path;
    if (zone.signing != TestZone::kUnsigned) {
      // ldns-keygen writes K<zone>+013+<tag>.{key,private} in the working directory and prints
      // the base name; the key's owner name comes from the argument.
      std::string ksk, zsk;
      const std::string base = dir + "/" + zone.name;
      std::filesystem::create_directories(base + ".keys");
      const std::filesystem::path previous = std::filesystem::current_path();
      std::filesystem::current_path(base + ".keys");
      const bool made =
          RunTool(dir, {kKeygen, "-a", "ECDSAP256SHA256", "-k", zone.name}, &ksk, error) &&
          RunTool(dir, {kKeygen, "-a", "ECDSAP256SHA256", zone.name}, &zsk, error);
      std::filesystem::current_path(previous);
      if (!made) return nullptr;
      ksk = base + ".keys/" + Trim(ksk);
      zsk = base + ".keys/" + Trim(zsk);
      std::vector<std::string> sign = {kSignzone, "-f", zone_path + ".signed"};
      if (zone.signing == TestZone::kExpiredSignatures) {
        const std::time_t now = std::time(nullptr);
        sign.insert(sign.end(), {"-i", SigTime(now - 20 * 86400), "-e", SigTime(now - 10 * 86400)});
      }
      sign.insert(sign.end(), {zone_path, zsk, ksk});
      if (!RunTool(dir, sign, nullptr, error)) return nullptr;
      served = zone_path + ".signed";
      anchors += "  trust-anchor-file: \"" + ksk + ".key\"\n";
    }
    nsd_zones += "zone:\n  name: \"" + zone.name + "\"\n  zonefile: \"" + served + "\"\n";
    stubs += "stub-zone:\n  name: \"" + zone.name + "\"\n  stub-addr: 127.0.0.1@" +
             std::to_string(nsd_port) + "\n";
  }

  {
    std::ofstream conf(dir + "/nsd.conf");
    conf << "server:\n  ip-address: 127.0.0.1\n  port: " << nsd_port
         << "\n  username: \"\"\n  database: \"\"\n  zonesdir: \"" << dir << "\"\n  pidfile: \""
         << dir << "/nsd.pid\"\n  xfrdfile: \"" << dir << "/xfrd.state\"\n  zonelistfile: \"" << dir
         << "/zone.list\"\n  server-count: 1\n  verbosity: 2\n"
         << "remote-control:\n  control-enable: no\n"
         << nsd_zones;
  }
  servers->nsd_ = Spawn({kNsd, "-d", "-c", dir + "/nsd.conf"}, dir + "/nsd.log");
  if (servers->nsd_ < 0 || !WaitTcp(servers->nsd_, nsd_port)) {
    *error = "nsd did not start: " + ReadAll(dir + "/nsd.log");
    return nullptr;
  }

  const int unbound_port = FreeLoopbackPort();
  {
    std::ofstream conf(dir + "/unbound.conf");
    conf << "server:\n  interface: 127.0.0.1\n  port: " << unbound_port
         << "\n  username: \"\"\n  chroot: \"\"\n  directory: \"" << dir
         << "\"\n  pidfile: \"\"\n  use-syslog: no\n  logfile: \"\"\n  verbosity: 1\n"
         << "  do-ip6: no\n  do-not-query-localhost: no\n  access-control: 127.0.0.0/8 allow\n"
         << "  module-config: \"validator iterator\"\n  val-log-level: 2\n"
         << "  qname-minimisation: no\n  local-zone: \"test.\" nodefault\n"
         // No root hints are needed: every name asked is under a stub zone.
         << anchors << "remote-control:\n  control-enable: no\n"
         << stubs;
  }
  servers->unbound_ = Spawn({kUnbound, "-d", "-c", dir + "/unbound.conf"}, dir + "/unbound.log");
  if (servers->unbound_ < 0 || !WaitTcp(servers->unbound_, unbound_port)) {
    *error = "unbound did not start: " + ReadAll(dir + "/unbound.log");
    return nullptr;
  }
  servers->unbound_port_ = unbound_port;
  return servers;
}

DnssecServers::~DnssecServers() {
  Stop(unbound_);
  Stop(nsd_);
  if (!dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
}

std::string DnssecServers::Logs() const {
  return "nsd:\n" + ReadAll(dir_ + "/nsd.log") + "\nunbound:\n" + ReadAll(dir_ + "/unbound.log");
}

}  // namespace smtp::testing

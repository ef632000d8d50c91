// Specification of the daemon as a whole (daemon/exporter.h), run in this process with a fake
// network: it loads its config file, serves, reloads on POST /-/reload and SIGHUP (keeping the
// running config when the file is bad), and stops cleanly on SIGTERM. HTTP on 127.0.0.1 only.
#include "daemon/exporter.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "daemon/yaml_decode.h"
#include "tests/exporter/fake_runner.h"
#include "tests/http/http_test_client.h"

namespace smtp {
namespace {

using std::chrono::milliseconds;

constexpr const char* kTwoTargets = R"(
targets:
  - {address: "127.0.0.1:2525", interval: 100ms}
  - {address: "127.0.0.2:2525", interval: 100ms}
modules: {default: {timeout: 100ms}}
)";
constexpr const char* kOneTarget = R"(
targets:
  - {address: "127.0.0.1:2525", interval: 100ms}
modules: {default: {timeout: 100ms}}
)";

class ExporterTest : public ::testing::Test {
 protected:
  ExporterTest() {
    options_.config_file = dir_.Write("smtp_exporter.yml", kTwoTargets);
    options_.listen_addresses = {"127.0.0.1:0"};  // the port is read from the log
    options_.version = "9.9.9";
    runner_ = network_.Runner();
  }

  ~ExporterTest() override {
    if (daemon_.valid()) {
      std::raise(SIGTERM);
      daemon_.wait();
    }
  }

  void Start() {
    daemon_ =
        std::async(std::launch::async, [this] { return RunExporter(options_, logger_, &runner_); });
    ASSERT_TRUE(WaitFor([&] {
      const std::string line = LogLine("msg=listening ");
      const std::size_t at = line.find(" port=");
      if (at != std::string::npos)
        port_ = static_cast<std::uint16_t>(std::stoi(line.substr(at + 6)));
      return port_ != 0;
    }));
    ASSERT_TRUE(WaitFor([&] { return Get("/-/ready").status == 200; }));
  }

  testing::ParsedResponse Fetch(const std::string& request) {
    testing::TestConnection connection(port_);
    if (!connection.ok() || !connection.Send(request)) return {};
    return connection.ReadResponse().value_or(testing::ParsedResponse{});
  }
  testing::ParsedResponse Get(const std::string& path) {
    return Fetch(testing::Request("GET", path));
  }
  std::string Metrics() { return Get("/metrics").body; }

  static bool WaitFor(const std::function<bool()>& done) {
    for (int i = 0; i < 400; ++i) {
      if (done()) return true;
      std::this_thread::sleep_for(milliseconds(25));
    }
    return done();
  }

  std::string LogLine(const std::string& fragment) {
    std::lock_guard<std::mutex> lock(log_mutex_);
    for (const std::string& line : log_) {
      if (line.find(fragment) != std::string::npos) return line;
    }
    return "";
  }
  bool Logged(const std::string& fragment) { return !LogLine(fragment).empty(); }

  testing::TempDir dir_;
  std::uint16_t port_ = 0;  // the daemon's, once it listens
  ExporterOptions options_;
  testing::FakeNetwork network_;  // used on the daemon's thread only
  ProbeRunner runner_;
  std::mutex log_mutex_;
  std::vector<std::string> log_;
  Logger logger_{LogLevel::kInfo, LogFormat::kLogfmt, [this](std::string_view line) {
                   std::lock_guard<std::mutex> lock(log_mutex_);
                   log_.emplace_back(line);
                 }};
  std::future<int> daemon_;
};

const std::string kUp1 = "smtp_probe_success{target=\"127.0.0.1:2525\"} 1";
const std::string kUp2 = "smtp_probe_success{target=\"127.0.0.2:2525\"} 1";
const std::string kReloadOk = "\nsmtp_exporter_config_last_reload_successful 1\n";
const std::string kReloadFailed = "\nsmtp_exporter_config_last_reload_successful 0\n";

bool BothUp(const std::string& metrics) {
  return metrics.find(kUp1) != std::string::npos && metrics.find(kUp2) != std::string::npos;
}

TEST_F(ExporterTest, ProbesItsTargetsAndServesThem) {
  Start();
  ASSERT_TRUE(WaitFor([&] { return BothUp(Metrics()); }));
  const std::string metrics = Metrics();
  EXPECT_NE(metrics.find("smtp_exporter_build_info{version=\"9.9.9\""), std::string::npos);
  EXPECT_NE(metrics.find(kReloadOk), std::string::npos);
  EXPECT_EQ(Get("/-/healthy").status, 200);
  EXPECT_NE(Get("/").body.find("127.0.0.2:2525"), std::string::npos);
}

TEST_F(ExporterTest, ABadReloadKeepsTheRunningConfigAndSaysSo) {
  Start();
  ASSERT_TRUE(WaitFor([&] { return BothUp(Metrics()); }));
  dir_.Write("smtp_exporter.yml", "targets:\n  - {address: \"127.0.0.1:2525\", module: nope}\n");
  const testing::ParsedResponse refused = Fetch(testing::Request("POST", "/-/reload"));
  EXPECT_EQ(refused.status, 500);
  EXPECT_EQ(refused.body,
            "failed to reload config: targets[0].module: unknown module \"nope\" (line 2)\n");
  const std::string metrics = Metrics();
  EXPECT_NE(metrics.find(kReloadFailed), std::string::npos);
  EXPECT_NE(metrics.find(kUp2), std::string::npos);  // still probed, still served
  EXPECT_TRUE(Logged("msg=\"reload failed, keeping the running config\""));
  EXPECT_NE(Get("/").body.find("unknown module"), std::string::npos);  // the status page says why
}

TEST_F(ExporterTest, SighupReloadsRemovedTargetsDisappearKeptOnesStay) {
  Start();
  ASSERT_TRUE(WaitFor([&] { return BothUp(Metrics()); }));
  dir_.Write("smtp_exporter.yml", kOneTarget);
  std::raise(SIGHUP);
  ASSERT_TRUE(WaitFor([&] { return Metrics().find(kUp2) == std::string::npos; }));
  const std::string metrics = Metrics();
  EXPECT_NE(metrics.find(kUp1), std::string::npos);
  EXPECT_NE(metrics.find(kReloadOk), std::string::npos);
  EXPECT_TRUE(Logged("msg=\"reload succeeded\""));
  EXPECT_EQ(Fetch(testing::Request("PUT", "/-/reload")).status, 200);
}

// With --probe.threads 2 each target is probed by one of two loops, on two threads, and
// /metrics (rendered on the HTTP thread) shows every target once.
TEST_F(ExporterTest, SeveralProbeThreadsShareTheTargetsAndServeOneView) {
  std::string config = "modules: {default: {timeout: 100ms}}\ntargets:\n";
  constexpr int kTargets = 24;
  for (int i = 1; i <= kTargets; ++i) {
    config += "  - {address: \"127.0.1." + std::to_string(i) + ":2525\", interval: 100ms}\n";
  }
  options_.config_file = dir_.Write("threads.yml", config);
  options_.probe_threads = 2;
  // A runner safe for two threads: it records which thread probed which host.
  std::mutex mutex;
  std::map<std::string, std::set<std::thread::id>> threads_of;
  runner_.probe = [&](ProbeSpec spec) -> boost::asio::awaitable<ProbeResult> {
    {
      std::lock_guard<std::mutex> lock(mutex);
      threads_of[spec.host].insert(std::this_thread::get_id());
    }
    boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, milliseconds(2));
    co_await timer.async_wait(boost::asio::use_awaitable);
    co_return testing::Healthy(spec.host);
  };
  runner_.expand =
      [](ExpansionRequest request) -> boost::asio::awaitable<std::vector<ExpandedTarget>> {
    ExpandedTarget self;
    self.host = request.target.host;
    self.port = request.target.port;
    self.label = request.label;
    co_return std::vector<ExpandedTarget>{self};
  };
  Start();
  ASSERT_TRUE(WaitFor([&] {
    const std::string metrics = Metrics();
    for (int i = 1; i <= kTargets; ++i) {
      const std::string up =
          "smtp_probe_success{target=\"127.0.1." + std::to_string(i) + ":2525\"} 1";
      if (metrics.find(up) == std::string::npos) return false;
    }
    return true;
  }));
  std::set<std::thread::id> all;
  {
    std::lock_guard<std::mutex> lock(mutex);
    EXPECT_EQ(threads_of.size(), static_cast<std::size_t>(kTargets));
    for (const auto& [host, ids] : threads_of) {
      EXPECT_EQ(ids.size(), 1u) << host << " was probed by more than one loop";
      all.insert(ids.begin(), ids.end());
    }
  }
  EXPECT_EQ(all.size(), 2u) << "both loops should have targets";
  // One success counter over both loops.
  EXPECT_NE(Metrics().find("smtp_exporter_probes_total{result=\"success\"}"), std::string::npos);
  std::raise(SIGTERM);
  EXPECT_EQ(daemon_.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(daemon_.get(), 0);
}

// A config path that stops being a config file (issue 13, items 6 and 7): a symlink to
// /dev/zero, a FIFO, a file over the size cap, a secret. Each reload, by POST or SIGHUP, fails
// with a one-line error that quotes nothing of the file, sets the reload gauge to 0 and keeps
// the daemon serving and probing; a good file afterwards reloads as usual.
TEST_F(ExporterTest, ConfigFilesThatAreNotConfigsFailTheReloadNeverTheDaemon) {
  Start();
  ASSERT_TRUE(WaitFor([&] { return BothUp(Metrics()); }));
  const std::string& path = options_.config_file;
  auto replace_with = [&](const std::function<void()>& make) {
    std::filesystem::remove(path);
    make();
  };
  auto reload_fails = [&](const std::string& reason) {
    const auto started = std::chrono::steady_clock::now();
    const testing::ParsedResponse refused = Fetch(testing::Request("POST", "/-/reload"));
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(3)) << reason;
    EXPECT_EQ(refused.status, 500) << reason;
    EXPECT_EQ(refused.body, "failed to reload config: " + path + ": " + reason + "\n");
    EXPECT_NE(Metrics().find(kReloadFailed), std::string::npos) << reason;
    std::raise(SIGHUP);
    EXPECT_EQ(Get("/-/healthy").status, 200) << reason;
    EXPECT_EQ(Get("/-/reload").status, 405) << reason;  // still serving after the SIGHUP
  };

  replace_with([&] { std::filesystem::create_symlink("/dev/zero", path); });
  reload_fails("not a regular file");
  replace_with([&] { ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0); });
  reload_fails("not a regular file");
  replace_with(
      [&] { dir_.Write("smtp_exporter.yml", std::string(strict::kMaxConfigFileBytes + 1, '#')); });
  reload_fails("larger than the limit of 33554432 bytes");

  const std::string secret = "root:$y$j9T$Qk1Yb7o8pPL0J6wxXn5Jq.$2kq3gk7sJm3Qd1N0K9S1z0:19700:0:::";
  replace_with([&] { dir_.Write("smtp_exporter.yml", secret + "\n"); });
  const testing::ParsedResponse refused = Fetch(testing::Request("POST", "/-/reload"));
  EXPECT_EQ(refused.status, 500);
  EXPECT_EQ(refused.body,
            "failed to reload config: config: an unknown key (expected one of: modules, targets, "
            "probe_allowlist) (line 1)\n");
  EXPECT_EQ(Get("/").body.find("j9T"), std::string::npos);  // not on the status page either
  {
    std::lock_guard<std::mutex> lock(log_mutex_);
    for (const std::string& line : log_) EXPECT_EQ(line.find("j9T"), std::string::npos) << line;
  }

  EXPECT_NE(Metrics().find(kUp2), std::string::npos);  // the running config kept probing
  replace_with([&] { dir_.Write("smtp_exporter.yml", kOneTarget); });
  EXPECT_EQ(Fetch(testing::Request("POST", "/-/reload")).status, 200);
  EXPECT_NE(Metrics().find(kReloadOk), std::string::npos);
}

// Decoding a config runs off the loop's thread (issue 13, item 6): while a file near the size
// cap is decoded (1 MiB, a fleet of ten thousand targets), /-/healthy and /metrics keep answering
// at once.
TEST_F(ExporterTest, DecodingALargeConfigStallsNeitherHealthNorMetrics) {
  Start();
  ASSERT_TRUE(WaitFor([&] { return BothUp(Metrics()); }));
  std::string yaml =
      "targets: [{address: \"127.0.0.1:2525\", interval: 100ms}]\n"
      "modules: {default: {timeout: 100ms}}\nprobe_allowlist:\n";
  for (int i = 0; yaml.size() < 1024 * 1024; ++i) {
    yaml += "  - host-" + std::to_string(i) + ".example.org\n";
  }
  dir_.Write("smtp_exporter.yml", yaml);
  std::future<testing::ParsedResponse> reload =
      std::async(std::launch::async, [&] { return Fetch(testing::Request("POST", "/-/reload")); });
  int answered = 0;
  std::chrono::steady_clock::duration slowest{};
  while (reload.wait_for(milliseconds(0)) != std::future_status::ready) {
    const auto started = std::chrono::steady_clock::now();
    EXPECT_EQ(Get(answered % 2 == 0 ? "/-/healthy" : "/metrics").status, 200);
    slowest = std::max(slowest, std::chrono::steady_clock::now() - started);
    ++answered;
  }
  EXPECT_EQ(reload.get().status, 200);
  EXPECT_GT(answered, 0);
  EXPECT_LT(slowest, milliseconds(1000)) << answered << " answers while decoding";
  std::printf("%d answers while decoding, slowest %.1f ms\n", answered,
              std::chrono::duration<double, std::milli>(slowest).count());
  ASSERT_TRUE(WaitFor([&] { return Metrics().find(kUp2) == std::string::npos; }));
}

TEST_F(ExporterTest, SigtermStopsCleanly) {
  Start();
  std::raise(SIGTERM);
  ASSERT_EQ(daemon_.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(daemon_.get(), 0);
  EXPECT_TRUE(Logged("msg=\"shutting down\" signal=SIGTERM"));
  EXPECT_TRUE(Logged("msg=stopped"));
  EXPECT_FALSE(testing::TestConnection(port_).ok());  // no longer listening
}

TEST_F(ExporterTest, ABadConfigOrABusyPortIsAOneLineErrorAndExitStatus1) {
  dir_.Write("smtp_exporter.yml", "targets: 3\n");
  EXPECT_EQ(RunExporter(options_, logger_, &runner_), 1);
  EXPECT_TRUE(Logged("msg=\"cannot load config\" err="));

  dir_.Write("smtp_exporter.yml", kOneTarget);
  const int busy = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  ASSERT_EQ(::bind(busy, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(busy, 1), 0);
  ASSERT_EQ(::getsockname(busy, reinterpret_cast<sockaddr*>(&address), &length), 0);
  options_.listen_addresses = {"127.0.0.1:" + std::to_string(ntohs(address.sin_port))};
  EXPECT_EQ(RunExporter(options_, logger_, &runner_), 1);
  EXPECT_TRUE(Logged("msg=\"cannot start\""));
  ::close(busy);
}

}  // namespace
}  // namespace smtp

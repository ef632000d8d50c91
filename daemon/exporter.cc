#include "daemon/exporter.h"

#include <malloc.h>
#include <sys/resource.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <future>
#include <memory>
#include <new>
#include <optional>
#include <thread>
#include <utility>

#include "daemon/config.h"
#include "daemon/http_server.h"
#include "daemon/loop_pool.h"
#include "daemon/probe_loop.h"
#include "daemon/routes.h"
#include "daemon/web_config.h"
#include "probes/text.h"

namespace smtp {
namespace asio = boost::asio;
using SystemClock = std::chrono::system_clock;

namespace {

constexpr auto kShutdownGrace = std::chrono::seconds(3);  // probes in flight may finish

// Raises the soft limit on open files to the hard one: thousands of HTTP connections and probes
// need thousands of descriptors, and the default soft limit is often 1024. Returns the limit.
rlim_t RaiseOpenFilesLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  return limit.rlim_cur;
}

// One probe loop with the thread and io_context that run it.
class LoopThread {
 public:
  LoopThread(const ProbeRunner& runner, std::size_t max_in_flight, Logger& logger)
      : io_(1),
        work_(asio::make_work_guard(io_)),
        loop_(std::make_shared<ProbeLoop>(io_.get_executor(), runner, max_in_flight, logger)) {}
  ~LoopThread() { Join(); }

  const std::shared_ptr<ProbeLoop>& loop() const { return loop_; }
  void Run() {
    thread_ = std::thread([this] { io_.run(); });
  }
  // Stops the io_context (probes still running after the loop's Stop grace are abandoned, as a
  // process exit would) and joins the thread.
  void Join() {
    work_.reset();
    io_.stop();
    if (thread_.joinable()) thread_.join();
  }

 private:
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::shared_ptr<ProbeLoop> loop_;
  std::thread thread_;
};

std::vector<std::unique_ptr<LoopThread>> MakeLoops(const ExporterOptions& options,
                                                   const ProbeRunner& runner, Logger& logger) {
  const std::size_t count = std::max<std::size_t>(options.probe_threads, 1);
  // --probe.max-in-flight is the daemon's total, shared out between the loops.
  const std::size_t per_loop =
      std::max<std::size_t>((options.max_in_flight + count - 1) / count, 1);
  std::vector<std::unique_ptr<LoopThread>> loops;
  for (std::size_t i = 0; i < count; ++i) {
    loops.push_back(std::make_unique<LoopThread>(runner, per_loop, logger));
  }
  return loops;
}

std::vector<std::shared_ptr<ProbeLoop>> LoopsOf(
    const std::vector<std::unique_ptr<LoopThread>>& threads) {
  std::vector<std::shared_ptr<ProbeLoop>> loops;
  for (const auto& thread : threads) loops.push_back(thread->loop());
  return loops;
}

// Both config files, read and decoded; `error` (one line, no file content) when config is unset.
struct LoadedFiles {
  std::optional<Config> config;
  std::optional<WebConfig> web_config;  // unset without --web.config.file
  std::string error;
};

// Reads and decodes the config file and the web config file. Never throws: whatever goes wrong
// (running out of memory included) is a failed reload, not a dead daemon.
LoadedFiles LoadFiles(const ExporterOptions& options) {
  LoadedFiles files;
  try {
    LoadResult loaded = LoadConfigFile(options.config_file);
    if (!loaded.config) {
      files.error = loaded.error;
      return files;
    }
    if (!options.web_config_file.empty()) {
      WebConfigResult web = LoadWebConfigFile(options.web_config_file);
      if (!web.config) {
        files.error = web.error;
        return files;
      }
      files.web_config = std::move(web.config);
    }
    files.config = std::move(loaded.config);
  } catch (const std::bad_alloc&) {
    files = LoadedFiles{};
    files.error = options.config_file + ": out of memory while loading";
  } catch (...) {
    files = LoadedFiles{};
    files.error = options.config_file + ": internal error while loading";
  }
  return files;
}

// LoadConfigFile on a thread of its own, so that the decoding's garbage stays in that thread's
// malloc arena (see Exporter::Apply). Exceptions propagate to the caller.
LoadResult LoadConfigOnItsOwnThread(const std::string& path) {
  return std::async(std::launch::async, [&path] { return LoadConfigFile(path); }).get();
}

// Wiring only: the probe loops, the routes and the HTTP server, plus reload and signals. The
// HTTP server, routes, reload and signals run on `io`'s thread, each loop on its own.
class Exporter {
 public:
  Exporter(asio::io_context& io, const ExporterOptions& options, Logger& logger,
           const ProbeRunner& runner, WebConfig web_config, HttpServerOptions http_options)
      : io_(io),
        options_(options),
        logger_(logger),
        threads_(MakeLoops(options, runner, logger)),
        loops_(LoopsOf(threads_)),
        routes_(
            io.get_executor(), loops_, status_,
            [this](std::string* error) { return Reload(error); }, options.max_on_demand),
        http_(io, std::move(web_config), std::move(http_options)),
        signals_(io, SIGINT, SIGTERM, SIGHUP) {
    status_.version = options.version;
    status_.revision = options.revision;
    status_.config_file = options.config_file;
    status_.telemetry_path = options.telemetry_path;
    status_.started_at = SystemClock::now();
  }

  bool Start(Config config, std::string* error) {
    routes_.Install(http_);
    for (const std::string& address : options_.listen_addresses) {
      std::uint16_t port = 0;
      if (!http_.Listen(address, error, &port)) return false;
      logger_.Info("listening", {{"address", address}, {"port", std::to_string(port)}});
    }
    Apply(std::move(config));
    status_.reload_successful = true;
    status_.last_reload_success_unix = UnixSeconds(SystemClock::now());
    status_.last_reload_attempt_unix = static_cast<std::int64_t>(status_.last_reload_success_unix);
    loops_.Start();
    for (auto& thread : threads_) thread->Run();
    asio::co_spawn(io_, HandleSignals(), [this](std::exception_ptr e) {
      if (e) logger_.Error("signal handling stopped by an internal error");
    });
    status_.ready = true;
    return true;
  }

 private:
  // `loaded` comes from a loading thread (LoadConfigOnItsOwnThread, loader_): decoding YAML
  // allocates many times the file's size in small pieces, interleaved with the Config it builds,
  // in that thread's malloc arena. The copy made here lives in this thread's arena; once the
  // original is dropped, the loading arena holds nothing, and malloc_trim gives all of its pages
  // back. Moved instead of copied, the Config would pin those pages for as long as it runs: at
  // 20,000 targets the resident set after loading was 73 MB instead of 34 (bench/README "Memory
  // per target").
  void Apply(Config loaded) {
    auto config = std::make_shared<const Config>(std::as_const(loaded));
    loaded = Config{};
    malloc_trim(0);
    const std::size_t configured = config->targets.size();
    const std::size_t modules = config->modules.size();
    loops_.Apply(std::move(config), {options_.shard_index, options_.shard_count});
    logger_.Info("config applied", {{"targets", std::to_string(loops_.entry_count())},
                                    {"configured_targets", std::to_string(configured)},
                                    {"modules", std::to_string(modules)}});
  }

  // Re-reads both config files; a bad one keeps everything running as it is. Reading and decoding
  // run on the loader thread, so a slow or large file never stalls probes or /-/healthy; the
  // result is applied here, on the HTTP server's thread. Reloads are applied in the order they were
  // asked for (one loader thread).
  asio::awaitable<bool> Reload(std::string* error) {
    status_.last_reload_attempt_unix = WholeUnixSeconds(SystemClock::now());
    const bool reloaded = co_await TryReload(error);
    if (reloaded) {
      status_.reload_successful = true;
      status_.last_reload_success_unix = UnixSeconds(SystemClock::now());
      status_.last_reload_error.clear();
      logger_.Info("reload succeeded", {{"file", options_.config_file}});
      co_return true;
    }
    status_.last_reload_error = *error;
    // Without a file nothing was re-read, so the running config's status stands.
    if (!options_.config_file.empty()) {
      status_.reload_successful = false;
      logger_.Error("reload failed, keeping the running config", {{"err", *error}});
    }
    co_return false;
  }

  asio::awaitable<bool> TryReload(std::string* error) {
    if (options_.config_file.empty()) {
      *error = "no --config.file to reload";
      co_return false;
    }
    LoadedFiles files = co_await asio::co_spawn(loader_, LoadOnLoader(), asio::use_awaitable);
    if (!files.config) {
      *error = files.error;
      co_return false;
    }
    try {
      Apply(std::move(*files.config));
      if (files.web_config) http_.SetWebConfig(std::move(*files.web_config));
    } catch (const std::bad_alloc&) {
      *error = options_.config_file + ": out of memory while applying";
      co_return false;
    }
    co_return true;
  }

  // Runs on loader_.
  asio::awaitable<LoadedFiles> LoadOnLoader() { co_return LoadFiles(options_); }

  // A SIGHUP's reload, on its own coroutine so that signals keep being handled meanwhile.
  asio::awaitable<void> ReloadOnSignal() {
    std::string error;
    co_await Reload(&error);
  }

  asio::awaitable<void> HandleSignals() {
    for (;;) {
      auto [error, signal] = co_await signals_.async_wait(asio::as_tuple(asio::use_awaitable));
      if (error) co_return;
      if (signal != SIGHUP) {
        co_await Shutdown(signal == SIGTERM ? "SIGTERM" : "SIGINT");
        co_return;
      }
      asio::co_spawn(io_, ReloadOnSignal(), [this](std::exception_ptr e) {
        if (e) logger_.Error("reload stopped by an internal error");
      });
    }
  }

  // Stops accepting and scheduling, lets probes in flight finish (they end with QUIT) for up to
  // kShutdownGrace, then stops the loop.
  asio::awaitable<void> Shutdown(const char* why) {
    const LoopPool::Snapshot now = co_await loops_.Snapshots();
    logger_.Info(
        "shutting down",
        {{"signal", why}, {"probes_in_flight", std::to_string(now.counters.probes_in_flight)}});
    status_.ready = false;
    http_.Stop();
    co_await loops_.Stop(kShutdownGrace);
    for (auto& thread : threads_) thread->Join();
    signals_.cancel();
    io_.stop();
  }

  asio::io_context& io_;
  const ExporterOptions& options_;
  Logger& logger_;
  ExporterStatus status_;
  std::vector<std::unique_ptr<LoopThread>> threads_;
  LoopPool loops_;
  Routes routes_;
  HttpServer http_;
  asio::signal_set signals_;
  // Reads and decodes config files (see Reload). Declared last, so it is joined first: a load in
  // flight finishes before the rest of the exporter goes away.
  asio::thread_pool loader_{1};
};

}  // namespace

int RunExporter(const ExporterOptions& options, Logger& logger, const ProbeRunner* runner) {
  Config config;
  if (options.config_file.empty()) {
    config = DefaultConfig();
    logger.Info("no --config.file given, probing the default target", {{"target", "127.0.0.1:25"}});
  } else {
    LoadResult loaded = LoadConfigOnItsOwnThread(options.config_file);
    if (!loaded.config) {
      logger.Error("cannot load config", {{"err", loaded.error}});
      return 1;
    }
    config = std::move(*loaded.config);
  }
  WebConfig web_config;
  if (!options.web_config_file.empty()) {
    WebConfigResult loaded = LoadWebConfigFile(options.web_config_file);
    if (!loaded.config) {
      logger.Error("cannot load web config", {{"err", loaded.error}});
      return 1;
    }
    web_config = std::move(*loaded.config);
  }
  const rlim_t open_files = RaiseOpenFilesLimit();
  logger.Info("limits", {{"open_files", std::to_string(open_files)},
                         {"http_max_connections", std::to_string(options.max_connections)},
                         {"probe_threads", std::to_string(options.probe_threads)}});
  if (open_files != 0 && open_files < options.max_connections + 2 * options.max_on_demand) {
    logger.Warn("the open files limit may not fit the connection and probe caps",
                {{"open_files", std::to_string(open_files)}});
  }
  asio::io_context io(1);
  HttpServerOptions http_options;
  http_options.max_connections = options.max_connections;
  http_options.max_connections_per_peer = options.max_connections_per_peer;
  http_options.log_error = [&logger](const std::string& message) {
    logger.Error("http server error", {{"err", message}});
  };
  const ProbeRunner network = runner ? *runner : ProbeRunner::Network();
  Exporter exporter(io, options, logger, network, std::move(web_config), std::move(http_options));
  std::string error;
  if (!exporter.Start(std::move(config), &error)) {
    logger.Error("cannot start", {{"err", error}});
    return 1;
  }
  logger.Info("started", {{"version", options.version}});
  io.run();
  logger.Info("stopped");
  return 0;
}

}  // namespace smtp

#include "daemon/exporter.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <utility>

#include "daemon/config.h"
#include "daemon/http_server.h"
#include "daemon/probe_loop.h"
#include "daemon/routes.h"
#include "daemon/web_config.h"
#include "probes/text.h"

namespace smtp {
namespace asio = boost::asio;
using SystemClock = std::chrono::system_clock;

namespace {

constexpr auto kShutdownGrace = std::chrono::seconds(3);  // probes in flight may finish

// Wiring only: the probe loop (fleet + schedule), the routes and the HTTP server, plus reload and
// signals. Everything runs on `io`'s one thread.
class Exporter {
 public:
  Exporter(asio::io_context& io, const ExporterOptions& options, Logger& logger, ProbeRunner runner,
           WebConfig web_config, HttpServerOptions http_options)
      : io_(io),
        options_(options),
        logger_(logger),
        loop_(std::make_shared<ProbeLoop>(io.get_executor(), std::move(runner),
                                          options.max_in_flight, logger)),
        routes_(loop_, status_, [this](std::string* error) { return Reload(error); }),
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
    loop_->Start();
    asio::co_spawn(io_, HandleSignals(), [this](std::exception_ptr e) {
      if (e) logger_.Error("signal handling stopped by an internal error");
    });
    status_.ready = true;
    return true;
  }

 private:
  void Apply(Config config) {
    const std::size_t configured = config.targets.size();
    const std::size_t modules = config.modules.size();
    loop_->Apply(std::move(config), {options_.shard_index, options_.shard_count});
    logger_.Info("config applied", {{"targets", std::to_string(loop_->fleet().entry_count())},
                                    {"configured_targets", std::to_string(configured)},
                                    {"modules", std::to_string(modules)}});
  }

  // Re-reads both config files; a bad one keeps everything running as it is.
  bool Reload(std::string* error) {
    status_.last_reload_attempt_unix = WholeUnixSeconds(SystemClock::now());
    if (TryReload(error)) {
      status_.reload_successful = true;
      status_.last_reload_success_unix = UnixSeconds(SystemClock::now());
      status_.last_reload_error.clear();
      logger_.Info("reload succeeded", {{"file", options_.config_file}});
      return true;
    }
    status_.last_reload_error = *error;
    // Without a file nothing was re-read, so the running config's status stands.
    if (!options_.config_file.empty()) {
      status_.reload_successful = false;
      logger_.Error("reload failed, keeping the running config", {{"err", *error}});
    }
    return false;
  }

  bool TryReload(std::string* error) {
    if (options_.config_file.empty()) {
      *error = "no --config.file to reload";
      return false;
    }
    LoadResult loaded = LoadConfigFile(options_.config_file);
    if (!loaded.config) {
      *error = loaded.error;
      return false;
    }
    std::optional<WebConfig> web_config;
    if (!options_.web_config_file.empty()) {
      WebConfigResult web = LoadWebConfigFile(options_.web_config_file);
      if (!web.config) {
        *error = web.error;
        return false;
      }
      web_config = std::move(web.config);
    }
    Apply(std::move(*loaded.config));
    if (web_config) http_.SetWebConfig(std::move(*web_config));
    return true;
  }

  asio::awaitable<void> HandleSignals() {
    for (;;) {
      auto [error, signal] = co_await signals_.async_wait(asio::as_tuple(asio::use_awaitable));
      if (error) co_return;
      if (signal != SIGHUP) {
        co_await Shutdown(signal == SIGTERM ? "SIGTERM" : "SIGINT");
        co_return;
      }
      std::string reload_error;
      Reload(&reload_error);
    }
  }

  // Stops accepting and scheduling, lets probes in flight finish (they end with QUIT) for up to
  // kShutdownGrace, then stops the loop.
  asio::awaitable<void> Shutdown(const char* why) {
    logger_.Info("shutting down",
                 {{"signal", why},
                  {"probes_in_flight", std::to_string(loop_->counters().probes_in_flight)}});
    status_.ready = false;
    http_.Stop();
    co_await loop_->Stop(kShutdownGrace);
    signals_.cancel();
    io_.stop();
  }

  asio::io_context& io_;
  const ExporterOptions& options_;
  Logger& logger_;
  ExporterStatus status_;
  std::shared_ptr<ProbeLoop> loop_;
  Routes routes_;
  HttpServer http_;
  asio::signal_set signals_;
};

}  // namespace

int RunExporter(const ExporterOptions& options, Logger& logger, const ProbeRunner* runner) {
  Config config;
  if (options.config_file.empty()) {
    config = DefaultConfig();
    logger.Info("no --config.file given, probing the default target", {{"target", "127.0.0.1:25"}});
  } else {
    LoadResult loaded = LoadConfigFile(options.config_file);
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
  asio::io_context io(1);
  HttpServerOptions http_options;
  http_options.log_error = [&logger](const std::string& message) {
    logger.Error("http server error", {{"err", message}});
  };
  Exporter exporter(io, options, logger, runner ? *runner : ProbeRunner::Network(),
                    std::move(web_config), std::move(http_options));
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

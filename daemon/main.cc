// smtp_exporter: wiring only. Without a subcommand it runs the daemon (scheduled probes served as
// Prometheus metrics); `smtp_exporter probe ...` runs one probe and prints it.
#include <CLI/CLI.hpp>
#include <cstring>
#include <iostream>

#include "daemon/config.h"
#include "daemon/exporter.h"
#include "daemon/log.h"
#include "daemon/probe_command.h"
#include "daemon/web_config.h"

#ifndef SMTP_EXPORTER_VERSION
#define SMTP_EXPORTER_VERSION "dev"
#endif
// The git commit of the build (see the top-level CMakeLists.txt); this file alone sees it, so a
// new commit recompiles only main.cc.
#ifndef SMTP_EXPORTER_REVISION
#define SMTP_EXPORTER_REVISION "unknown"
#endif

namespace {

constexpr int kExitUsage = 2;

int Fail(const std::string& message) {
  std::cerr << "smtp_exporter: " << message << "\n";
  return kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "probe") == 0) {
    return smtp::RunProbeCommand(argc - 1, argv + 1);
  }

  CLI::App app{
      "Probes mail servers over SMTP on a schedule and serves the results as Prometheus "
      "metrics.\nOne-shot check: smtp_exporter probe HOST[:PORT] --help",
      "smtp_exporter"};
  smtp::ExporterOptions options;
  options.version = SMTP_EXPORTER_VERSION;
  options.revision = SMTP_EXPORTER_REVISION;
  bool check_only = false;
  bool show_version = false;
  std::string listen_address = ":9025";
  std::string log_level = "info";
  std::string log_format = "logfmt";
  app.add_option("--config.file", options.config_file,
                 "YAML config (modules, targets); without it, probe 127.0.0.1:25");
  app.add_flag("--config.check", check_only,
               "validate --config.file (and --web.config.file), then exit");
  app.add_option("--web.listen-address", listen_address, "address to serve HTTP on")
      ->capture_default_str();
  app.add_option("--web.config.file", options.web_config_file,
                 "exporter-toolkit web config: TLS and bcrypt basic auth");
  app.add_option("--web.telemetry-path", options.telemetry_path, "path of the metrics")
      ->capture_default_str();
  app.add_option("--probe.max-in-flight", options.max_in_flight,
                 "targets probed at once; further due probes wait (and show as scheduler lag)")
      ->capture_default_str();
  app.add_option("--shard.index", options.shard_index,
                 "this replica's shard, 0 .. shard.count-1 (e.g. a StatefulSet pod ordinal)")
      ->capture_default_str();
  app.add_option("--shard.count", options.shard_count,
                 "replicas sharing the target list; each target is probed by exactly one")
      ->capture_default_str();
  app.add_option("--log.level", log_level, "debug | info | warn | error")->capture_default_str();
  app.add_option("--log.format", log_format, "logfmt | json")->capture_default_str();
  app.add_flag("--version", show_version, "print the version and git revision, and exit");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& help) {
    return app.exit(help);
  } catch (const CLI::ParseError& error) {
    return Fail(error.what());
  }
  if (show_version) {
    std::cout << "smtp_exporter version " << SMTP_EXPORTER_VERSION << " (revision "
              << SMTP_EXPORTER_REVISION << ")\n";
    return 0;
  }
  std::optional<smtp::LogLevel> level = smtp::ParseLogLevel(log_level);
  if (!level) return Fail("--log.level: must be debug, info, warn or error");
  std::optional<smtp::LogFormat> format = smtp::ParseLogFormat(log_format);
  if (!format) return Fail("--log.format: must be logfmt or json");
  if (options.telemetry_path.empty() || options.telemetry_path.front() != '/') {
    return Fail("--web.telemetry-path: must start with /");
  }
  if (options.max_in_flight == 0) return Fail("--probe.max-in-flight: must be at least 1");
  if (options.shard_count == 0) return Fail("--shard.count: must be at least 1");
  if (options.shard_index >= options.shard_count) {
    return Fail("--shard.index: must be less than --shard.count");
  }
  options.listen_addresses = {listen_address};

  if (check_only) {
    if (options.config_file.empty()) return Fail("--config.check needs --config.file");
    smtp::LoadResult loaded = smtp::LoadConfigFile(options.config_file);
    if (!loaded.config) {
      // Errors name the key path and line; file errors already start with the path.
      std::cerr << loaded.error << "\n";
      return 1;
    }
    if (!options.web_config_file.empty()) {
      smtp::WebConfigResult web = smtp::LoadWebConfigFile(options.web_config_file);
      if (!web.config) {
        std::cerr << web.error << "\n";
        return 1;
      }
    }
    std::cout << options.config_file << ": OK, " << loaded.config->targets.size() << " targets, "
              << loaded.config->modules.size() << " modules\n";
    return 0;
  }

  smtp::Logger logger(*level, *format);
  return smtp::RunExporter(options, logger);
}

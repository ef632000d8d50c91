// smtp_exporter: wiring only. Without a subcommand it runs the daemon (scheduled probes served as
// Prometheus metrics); `smtp_exporter probe ...` runs one probe and prints it.
#include <malloc.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <thread>

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

// The daemon's flags, as Prometheus exporters spell them.
struct Flags {
  smtp::ExporterOptions options;
  bool check_only = false;
  bool show_version = false;
  std::string listen_address = ":9025";
  std::string log_level = "info";
  std::string log_format = "logfmt";
};

void AddFlags(CLI::App& app, Flags& flags) {
  smtp::ExporterOptions& options = flags.options;
  app.add_option("--config.file", options.config_file,
                 "YAML config (modules, targets); without it, probe 127.0.0.1:25");
  app.add_flag("--config.check", flags.check_only,
               "validate --config.file (and --web.config.file), then exit");
  app.add_option("--web.listen-address", flags.listen_address, "address to serve HTTP on")
      ->capture_default_str();
  app.add_option("--web.config.file", options.web_config_file,
                 "exporter-toolkit web config: TLS and bcrypt basic auth");
  app.add_option("--web.telemetry-path", options.telemetry_path, "path of the metrics")
      ->capture_default_str();
  app.add_option("--probe.max-in-flight", options.max_in_flight,
                 "targets probed at once; further due probes wait (and show as scheduler lag)")
      ->capture_default_str();
  app.add_option("--probe.threads", options.probe_threads,
                 "probe loops, each on a thread of its own with a share of the targets")
      ->capture_default_str();
  app.add_option("--probe.max-on-demand", options.max_on_demand,
                 "/probe requests probing at once; further ones wait for a slot within their "
                 "scrape timeout")
      ->capture_default_str();
  app.add_option("--web.max-connections", options.max_connections,
                 "HTTP connections served at once; further ones evict idle ones or wait")
      ->capture_default_str();
  app.add_option("--web.max-connections-per-peer", options.max_connections_per_peer,
                 "HTTP connections from one address; beyond, requests are answered 503 "
                 "(0 = half of --web.max-connections)")
      ->capture_default_str();
  app.add_option("--shard.index", options.shard_index,
                 "this replica's shard, 0 .. shard.count-1 (e.g. a StatefulSet pod ordinal)")
      ->capture_default_str();
  app.add_option("--shard.count", options.shard_count,
                 "replicas sharing the target list; each target is probed by exactly one")
      ->capture_default_str();
  app.add_option("--log.level", flags.log_level, "debug | info | warn | error")
      ->capture_default_str();
  app.add_option("--log.format", flags.log_format, "logfmt | json")->capture_default_str();
  app.add_flag("--version", flags.show_version, "print the version and git revision, and exit");
}

// The one-line error of the first bad flag, or "".
std::string CheckFlags(const Flags& flags) {
  const smtp::ExporterOptions& options = flags.options;
  if (!smtp::ParseLogLevel(flags.log_level)) {
    return "--log.level: must be debug, info, warn or error";
  }
  if (!smtp::ParseLogFormat(flags.log_format)) return "--log.format: must be logfmt or json";
  if (options.telemetry_path.empty() || options.telemetry_path.front() != '/') {
    return "--web.telemetry-path: must start with /";
  }
  if (options.max_in_flight == 0) return "--probe.max-in-flight: must be at least 1";
  if (options.probe_threads == 0 || options.probe_threads > 256) {
    return "--probe.threads: must be between 1 and 256";
  }
  if (options.max_on_demand == 0) return "--probe.max-on-demand: must be at least 1";
  if (options.max_connections == 0) return "--web.max-connections: must be at least 1";
  if (options.shard_count == 0) return "--shard.count: must be at least 1";
  if (options.shard_index >= options.shard_count) {
    return "--shard.index: must be less than --shard.count";
  }
  return "";
}

// --config.check: loads both files as a reload would, and reports.
int CheckConfig(const smtp::ExporterOptions& options) {
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

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "probe") == 0) {
    return smtp::RunProbeCommand(argc - 1, argv + 1);
  }
  CLI::App app{
      "Probes mail servers over SMTP on a schedule and serves the results as Prometheus "
      "metrics.\nOne-shot check: smtp_exporter probe HOST[:PORT] --help",
      "smtp_exporter"};
  Flags flags;
  // One probe loop per CPU by default: probing is the daemon's work, and the loops share nothing.
  flags.options.probe_threads = std::max(1u, std::thread::hardware_concurrency());
  flags.options.version = SMTP_EXPORTER_VERSION;
  flags.options.revision = SMTP_EXPORTER_REVISION;
  AddFlags(app, flags);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& help) {
    return app.exit(help);
  } catch (const CLI::ParseError& error) {
    return Fail(error.what());
  }
  if (flags.show_version) {
    std::cout << "smtp_exporter version " << SMTP_EXPORTER_VERSION << " (revision "
              << SMTP_EXPORTER_REVISION << ")\n";
    return 0;
  }
  if (std::string error = CheckFlags(flags); !error.empty()) return Fail(error);
  // Blocks of 4 MiB and more (a /metrics body and its family buffers) are always mmap()ed, so
  // they return to the kernel after each scrape instead of raising the heap's high-water mark
  // (glibc's dynamic threshold would keep them). glibc's MALLOC_MMAP_THRESHOLD_ still wins.
  // glibc's arena per thread stays: one arena (MALLOC_ARENA_MAX=1) saves ~40 MB RSS at 10,000
  // targets but costs ~20 % CPU per STARTTLS probe at 2,000 concurrent /probe (bench/README.md).
  if (std::getenv("MALLOC_MMAP_THRESHOLD_") == nullptr) {
    mallopt(M_MMAP_THRESHOLD, 4 * 1024 * 1024);
  }
  flags.options.listen_addresses = {flags.listen_address};
  if (flags.check_only) return CheckConfig(flags.options);
  smtp::Logger logger(*smtp::ParseLogLevel(flags.log_level),
                      *smtp::ParseLogFormat(flags.log_format));
  return smtp::RunExporter(flags.options, logger);
}

// The daemon: probes every configured target on its schedule and serves the latest results.
// This file is the wiring; the data flows one way through the parts it builds:
//
//   config files --> ProbeLoop (daemon/probe_loop.h): Schedule -> expand -> probe
//                       --> Fleet (daemon/fleet.h): one TargetSnapshot per series
//                             --> Routes (daemon/routes.h): /metrics, /probe, status page, ...
//                                   --> HttpServer (daemon/http_server.h)
//
// Threads: --probe.threads probe loops (daemon/loop_pool.h), each on a thread and io_context of
// its own with its partition of the targets: schedule, probes, DNS and fleet state. The calling
// thread runs the HTTP server, the routes (rendering /metrics and the status page from the loops'
// immutable records), reload and signals; bcrypt checks run on the HTTP server's helper thread.
//
// File descriptors: the soft RLIMIT_NOFILE is raised to the hard limit at start (each HTTP
// connection and each probe holds one), and the start log says what the limit is.
//
// Sharding (--shard.index, --shard.count): replicas sharing one config each keep only their share
// of the targets (daemon/shard.h); /probe is not sharded.
//
// Reload (SIGHUP or POST /-/reload) re-reads --config.file and --web.config.file; a bad file keeps
// the running config and sets smtp_exporter_config_last_reload_successful to 0. Targets whose
// address and module stay keep their series, schedule and relay verdict. SIGTERM/SIGINT stop
// accepting and scheduling, await the probes in flight (they end with QUIT) for up to 3 seconds,
// and return.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "daemon/log.h"

namespace smtp {

struct ExporterOptions {
  std::string config_file;      // "" = DefaultConfig(): probe 127.0.0.1:25
  std::string web_config_file;  // "" = plain HTTP, no authentication
  std::vector<std::string> listen_addresses = {":9025"};
  std::string telemetry_path = "/metrics";
  std::size_t max_in_flight = 256;   // schedule entries probing at once (shared out between loops)
  std::size_t probe_threads = 1;     // probe loops, one thread each
  std::size_t max_on_demand = 4096;  // /probe requests probing at once; beyond, they wait
  std::size_t max_connections = 8192;        // HTTP connections served at once
  std::size_t max_connections_per_peer = 0;  // per peer address; 0 = max_connections / 2
  // This replica probes only the targets whose ShardOf(address, shard_count) is shard_index.
  std::uint32_t shard_index = 0;
  std::uint32_t shard_count = 1;
  std::string version;
  std::string revision;  // VCS revision of the build, for smtp_exporter_build_info
};

struct ProbeRunner;  // daemon/probe_loop.h

// Runs the daemon until SIGTERM or SIGINT. Returns the process exit code: 0 after a clean stop,
// 1 when it could not start (bad config, port in use), with the reason logged. `runner` replaces
// the network (ProbeRunner::Network()) for scheduled and /probe probes; tests pass a fake one.
int RunExporter(const ExporterOptions& options, Logger& logger,
                const ProbeRunner* runner = nullptr);

}  // namespace smtp

// The daemon: probes every configured target on its schedule and serves the latest results.
//
// One io_context on one thread runs everything: the schedule's timer, the probes (coroutines of
// the engine), DNS expansion of mx: targets, and the HTTP server. State is therefore touched from
// that thread only and needs no locks; bcrypt checks run on the HTTP server's helper thread.
//
// Series: a configured target is one schedule entry. A host:port target is one series labelled
// target="<address as configured>". An mx:DOMAIN target is expanded at every run into one series
// per MX host, labelled target="<mx host>:<port>" and domain="<DOMAIN>"; MX hosts that disappear
// from DNS disappear from /metrics. With ip_protocol both, a host name is expanded into one
// series per address, labelled ip="<address>". The concurrency cap counts schedule entries.
//
// Sharding (--shard.index, --shard.count): replicas sharing one config each keep only their share
// of the targets (daemon/shard.h); /probe is not sharded.
//
// Reload (SIGHUP or POST /-/reload) re-reads --config.file; a bad file keeps the running config
// and sets smtp_exporter_config_last_reload_successful to 0. Targets whose address and module
// stay keep their results, their schedule and their relay verdict. SIGTERM/SIGINT stop accepting
// and scheduling, let probes in flight finish (they end with QUIT) for up to a few seconds, and
// return.
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
  std::size_t max_in_flight = 256;  // schedule entries probing at once
  // This replica probes only the targets whose ShardOf(address, shard_count) is shard_index.
  std::uint32_t shard_index = 0;
  std::uint32_t shard_count = 1;
  std::string version;
  std::string revision;  // git commit of the build, e.g. "3f2c1ab0d9e1", or "unknown"
};

// Runs the daemon until SIGTERM or SIGINT. Returns the process exit code: 0 after a clean stop,
// 1 when it could not start (bad config, port in use), with the reason logged.
int RunExporter(const ExporterOptions& options, Logger& logger);

}  // namespace smtp

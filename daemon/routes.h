// The exporter's HTTP endpoints (DESIGN §2), each a coroutine that returns its response:
//
//   GET <telemetry path>  the latest state of every series, and the smtp_exporter_* families
//   GET /probe            probes target= with module= (default "default") now and answers with
//                         its metrics; debug=true answers with the transcript and report instead
//   GET /                 the status page;  GET /transcript  the last transcript of one series
//   GET /-/healthy, /-/ready;  POST or PUT /-/reload
//
// /probe, like blackbox_exporter's: target is host[:port] or mx:domain. A host target
// answers with one series set without a `target` label. An mx: target is expanded as scheduled
// targets are (probes/expansion.h) and every series is probed at once; the answer has one series
// set per MX host (and address), labelled target="<mx host>:<port>", domain="<domain>" (and ip) as
// on /metrics. The probe (expansion included) must finish before Prometheus gives up: the
// X-Prometheus-Scrape-Timeout-Seconds header minus 0.5 s caps the module's timeout and the relay
// test (a decimal number of seconds; non-finite values, values beyond a day and anything else
// unparsable are ignored, larger ones are clamped to the module's timeout plus its relay budget).
// Only configured targets (of any shard: exactly their host, port and module, or an MX host and
// port of such a target) and host:port pairs the probe_allowlist allows may be probed: 403
// otherwise, before any DNS lookup or connection. When the allowlist allowed the target and has
// address entries (CIDRs, IP literals), each address a name resolves to (the target's, or an MX
// host's) must be allowed too, or the probe does not connect and fails with reason "forbidden";
// so must those of mta-sts.DOMAIN on the policy port when the module checks MTA-STS, or the
// policy fetch fails as "forbidden".
// 400 for a missing or invalid target or an unknown module. At most
// --probe.max-on-demand requests probe at once; one beyond waits for a slot within its budget
// (without the header: the module's timeout), and gets a 503 only if none frees in time.
//
// Routes read the fleet through the loop pool (daemon/loop_pool.h) and never modify it; Reload
// is the exporter's. All on the HTTP server's thread: rendering never runs on a probe loop.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "daemon/http_server.h"
#include "daemon/loop_pool.h"
#include "daemon/slots.h"

namespace smtp {

inline constexpr const char* kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

// What the exporter knows of its own life, shown by /metrics, the status page and /-/ready.
struct ExporterStatus {
  std::string version;      // e.g. "0.1.0"
  std::string revision;     // VCS revision of the build ("unknown" outside git)
  std::string config_file;  // "" = built-in default config
  std::string telemetry_path = "/metrics";
  std::chrono::system_clock::time_point started_at;
  bool ready = false;  // true once the config is applied, false again while shutting down
  // The last (re)load: whether it succeeded, when the running config was loaded, and after a
  // failure when it was attempted and why (one line).
  bool reload_successful = true;
  double last_reload_success_unix = 0;
  std::int64_t last_reload_attempt_unix = 0;
  std::string last_reload_error;
};

class Routes {
 public:
  // `reload` re-reads the config files and applies them; co_returns false with a one-line error.
  // It may await work off the HTTP server's thread (reading and decoding files).
  // At most `max_on_demand` /probe requests probe at once (runs on `executor`, the HTTP
  // server's); the others wait for a slot until their probe budget runs out, then get a 503.
  using ReloadFunction = std::function<boost::asio::awaitable<bool>(std::string*)>;
  Routes(boost::asio::any_io_executor executor, LoopPool& loops, const ExporterStatus& status,
         ReloadFunction reload, std::size_t max_on_demand);

  // Registers every endpoint above on `server`.
  void Install(HttpServer& server);

  boost::asio::awaitable<HttpResponse> Metrics(const HttpRequest& request);
  boost::asio::awaitable<HttpResponse> Probe(const HttpRequest& request);
  boost::asio::awaitable<HttpResponse> StatusPage(const HttpRequest& request);
  boost::asio::awaitable<HttpResponse> Transcript(const HttpRequest& request);
  boost::asio::awaitable<HttpResponse> Healthy(const HttpRequest& request);
  boost::asio::awaitable<HttpResponse> Ready(const HttpRequest& request);
  boost::asio::awaitable<HttpResponse> Reload(const HttpRequest& request);

 private:
  // A /probe request that passed the checks.
  struct ProbeRequest {
    std::string text;  // the target parameter as given
    Target target;
    Module module;
    std::optional<std::chrono::milliseconds> budget;  // from the scrape timeout header
    bool debug = false;
    // Set when the allowlist allowed the target and has address entries: whether a resolved
    // address may be connected to on a port. Dropped when the target is a configured one.
    std::function<bool(std::string_view address, std::uint16_t port)> address_allowed;
    bool allowed = false;  // by probe_allowlist; else the target must be a configured one
  };
  // The checked request, or the 4xx answer that refuses it.
  std::variant<ProbeRequest, HttpResponse> ParseProbeRequest(const HttpRequest& request) const;
  static HttpResponse ProbeResponse(const ProbeRequest& probe,
                                    const std::vector<ExpandedTarget>& series,
                                    std::vector<ProbeResult> results);

  LoopPool& loops_;
  const ExporterStatus& status_;
  ReloadFunction reload_;
  Slots probe_slots_;
  // /metrics answers being written; the last to end hands the freed heap back to the kernel.
  std::shared_ptr<std::size_t> scrapes_in_progress_ = std::make_shared<std::size_t>(0);
};

}  // namespace smtp

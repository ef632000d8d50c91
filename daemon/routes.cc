#include "daemon/routes.h"

#include <malloc.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <memory>
#include <optional>
#include <utility>
#include <variant>

#include "daemon/metrics.h"
#include "daemon/status_page.h"
#include "probes/result_format.h"
#include "probes/text.h"

namespace smtp {
namespace asio = boost::asio;
using SystemClock = std::chrono::system_clock;
using SteadyClock = std::chrono::steady_clock;

namespace {

constexpr int kStatusRefreshSeconds = 15;
// /metrics is written in pieces of about this size: a few milliseconds of work each.
constexpr std::size_t kMetricsPieceBytes = 1024 * 1024;

HttpResponse Html(std::string body) {
  HttpResponse response;
  response.content_type = std::string(kStatusPageContentType);
  response.body = std::move(body);
  return response;
}

std::string Param(const HttpRequest& request, const std::string& name) {
  auto found = request.query.find(name);
  return found == request.query.end() ? "" : found->second;
}

// Like blackbox_exporter: finish 0.5 s before Prometheus gives up on the scrape. The header is
// the client's word, so it is read strictly: a plain decimal number of seconds (no "inf", "nan",
// hex or trailing text); a value that is not finite, not above the 0.5 s margin or beyond
// kMaxScrapeTimeout (no scrape lasts a day: 1e16 or INT64_MAX is a mistake or an attack) is
// ignored, so the module's own timeout applies. What is left is clamped to the longest a probe of
// `module` can take, so the conversion to milliseconds never overflows.
constexpr double kMaxScrapeTimeoutSeconds = 24 * 3600;

std::optional<std::chrono::milliseconds> ScrapeBudget(const HttpRequest& request,
                                                      const Module& module) {
  auto header = request.headers.find("x-prometheus-scrape-timeout-seconds");
  if (header == request.headers.end()) return std::nullopt;
  const std::string& text = header->second;
  double seconds = 0;
  const auto [end, error] =
      std::from_chars(text.data(), text.data() + text.size(), seconds, std::chars_format::fixed);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  if (!std::isfinite(seconds) || seconds <= 0.5 || seconds > kMaxScrapeTimeoutSeconds) {
    return std::nullopt;
  }
  const std::chrono::milliseconds budget(static_cast<long long>((seconds - 0.5) * 1000));
  const std::chrono::milliseconds longest =
      module.timeout +
      (module.relay_test.enabled ? module.relay_test.timeout : std::chrono::milliseconds(0));
  return std::max(std::chrono::milliseconds(1), std::min(budget, longest));
}

}  // namespace

Routes::Routes(asio::any_io_executor executor, LoopPool& loops, const ExporterStatus& status,
               ReloadFunction reload, std::size_t max_on_demand)
    : loops_(loops),
      status_(status),
      reload_(std::move(reload)),
      probe_slots_(std::move(executor), max_on_demand) {}

void Routes::Install(HttpServer& server) {
  // The server awaits a handler while the request lives; `this` outlives the server's routes.
  auto route = [this](asio::awaitable<HttpResponse> (Routes::*handler)(const HttpRequest&)) {
    return [this, handler](const HttpRequest& request) { return (this->*handler)(request); };
  };
  server.Handle(status_.telemetry_path, {"GET"}, route(&Routes::Metrics));
  server.Handle("/probe", {"GET"}, route(&Routes::Probe));
  server.Handle("/", {"GET"}, route(&Routes::StatusPage));
  server.Handle(std::string(kTranscriptPath), {"GET"}, route(&Routes::Transcript));
  server.Handle("/-/healthy", {"GET"}, route(&Routes::Healthy));
  server.Handle("/-/ready", {"GET"}, route(&Routes::Ready));
  server.Handle("/-/reload", {"POST", "PUT"}, route(&Routes::Reload));
}

asio::awaitable<HttpResponse> Routes::Metrics(const HttpRequest&) {
  LoopPool::Snapshot fleet = co_await loops_.Snapshots();
  const LoopCounters& counters = fleet.counters;
  SelfMetrics self;
  self.version = status_.version;
  self.revision = status_.revision;
  self.probes_total_by_result = counters.probes_total_by_result;
  self.last_reload_successful = status_.reload_successful;
  self.last_reload_success_unix = status_.last_reload_success_unix;
  self.probes_in_flight = counters.probes_in_flight;
  self.scheduler_lag = counters.scheduler_lag;
  // A big fleet's text is hundreds of MB: it goes out in pieces as it is written, and the
  // snapshots live as long as the writing does.
  struct Scrape {
    explicit Scrape(std::shared_ptr<std::size_t> counter) : in_progress(std::move(counter)) {
      ++*in_progress;
    }
    ~Scrape() {
      text.reset();
      owners.clear();
      // The pieces and line buffers are blocks of up to 4 MiB, below the mmap threshold
      // (main.cc): without a trim the heap keeps their pages after the scrape, and unread
      // scrapes that pile up leave RSS at their peak.
      if (--*in_progress == 0) malloc_trim(0);
    }
    std::shared_ptr<std::size_t> in_progress;
    std::vector<std::shared_ptr<const TargetSnapshot>> owners;
    std::vector<const TargetSnapshot*> targets;
    std::optional<MetricsText> text;
  };
  auto scrape = std::make_shared<Scrape>(scrapes_in_progress_);
  scrape->owners = std::move(fleet.targets);
  scrape->targets.reserve(scrape->owners.size());
  for (const auto& target : scrape->owners) scrape->targets.push_back(target.get());
  scrape->text.emplace(scrape->targets, true, &self);
  HttpResponse response;
  response.content_type = kMetricsContentType;
  response.body_pieces = [scrape](std::string& piece) {
    return scrape->text->Next(piece, kMetricsPieceBytes);
  };
  co_return response;
}

std::variant<Routes::ProbeRequest, HttpResponse> Routes::ParseProbeRequest(
    const HttpRequest& request) const {
  ProbeRequest probe;
  probe.text = Param(request, "target");
  if (probe.text.empty()) return TextResponse(400, "target parameter is missing\n");
  std::string module_name = Param(request, "module");
  if (module_name.empty()) module_name = "default";
  const Config& config = loops_.config();
  auto module = config.modules.find(module_name);
  if (module == config.modules.end()) {
    return TextResponse(400, "unknown module \"" + module_name + "\"\n");
  }
  probe.module = module->second;  // a copy: a reload during the probe must not change it
  std::string error;
  std::optional<Target> target = ParseTarget(probe.text, &error);
  if (!target) return TextResponse(400, "invalid target: " + error + "\n");
  probe.target = std::move(*target);
  // The allowlist keeps /probe from being a network scanner for whoever can reach it: it names
  // hosts and their ports, checked on the port that would be probed. A name it allows must not
  // lead anywhere else: with address entries, every address the name (or an MX host) resolves to
  // is checked before the probe connects.
  const std::uint16_t port = probe.target.port ? probe.target.port : probe.module.DefaultPort();
  probe.allowed = ProbeAllowed(config.probe_allowlist, probe.target.host, port);
  if (probe.allowed && HasAddressEntries(config.probe_allowlist)) {
    probe.address_allowed =
        [allowlist = std::make_shared<const std::vector<std::string>>(config.probe_allowlist)](
            std::string_view address, std::uint16_t to) {
          return AddressAllowed(*allowlist, address, to);
        };
  }
  probe.budget = ScrapeBudget(request, probe.module);
  probe.debug = Param(request, "debug") == "true";
  return probe;
}

asio::awaitable<HttpResponse> Routes::Probe(const HttpRequest& request) {
  std::variant<ProbeRequest, HttpResponse> parsed = ParseProbeRequest(request);
  if (auto* refused = std::get_if<HttpResponse>(&parsed)) co_return std::move(*refused);
  const ProbeRequest& probe = std::get<ProbeRequest>(parsed);
  // A configured target allows exactly its host, port and module, with no address check: the
  // operator chose it.
  const std::string module_name =
      Param(request, "module").empty() ? "default" : Param(request, "module");
  Target wanted = probe.target;
  if (wanted.port == 0) wanted.port = probe.module.DefaultPort();
  const bool configured = co_await loops_.Knows(wanted, module_name);
  if (!configured && !probe.allowed) {
    co_return TextResponse(403, "target \"" + wanted.host + "\" port " +
                                    std::to_string(wanted.port) + " with module \"" + module_name +
                                    "\" is neither configured nor allowed by probe_allowlist\n");
  }
  std::function<bool(std::string_view, std::uint16_t)> address_allowed;
  if (!configured) address_allowed = probe.address_allowed;
  const Module& module = probe.module;
  const auto started = SteadyClock::now();
  // Waiting for a slot spends the probe's own budget: the scrape's deadline does not move.
  const Slots::Held slot =
      co_await probe_slots_.Acquire(started + probe.budget.value_or(module.timeout));
  if (!slot.held()) {
    co_return RetryLaterResponse(
        503, "all " + std::to_string(probe_slots_.capacity()) +
                 " probe slots (--probe.max-on-demand) stayed busy for the probe's whole budget\n");
  }
  ExpansionRequest expansion = ExpansionOf(probe.target, probe.text, module);
  std::vector<ExpandedTarget> series;
  if (probe.target.mx) {
    if (probe.budget) expansion.timeout = std::min(expansion.timeout, *probe.budget);
    series = co_await loops_.ExpandOnce(std::move(expansion));
  } else {  // host[:port]: one probe of the target itself; the engine resolves the name
    series.push_back(TargetSeries(expansion));
  }
  std::vector<ProbeResult> results =
      co_await loops_.ProbeOnce(series, [&](const ExpandedTarget& one) {
        ProbeSpec spec = SeriesSpec(module, one, /*with_relay=*/true);
        spec.address_allowed = address_allowed;
        // The whole probe, relay test included, must answer before the scrape gives up.
        if (probe.budget) {
          const auto took =
              std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - started);
          const auto left = std::max(std::chrono::milliseconds(1), *probe.budget - took);
          spec.timeout = std::min(spec.timeout, left);
          spec.max_duration = left;
        }
        return spec;
      });
  co_return ProbeResponse(probe, series, std::move(results));
}

HttpResponse Routes::ProbeResponse(const ProbeRequest& probe,
                                   const std::vector<ExpandedTarget>& series,
                                   std::vector<ProbeResult> results) {
  // A host answers for itself, without a `target` label (blackbox style); the series of an mx:
  // target are labelled as the scheduled ones are.
  const bool labelled = probe.target.mx;
  std::vector<TargetSnapshot> snapshots;
  for (std::size_t i = 0; i < series.size(); ++i) {
    TargetSnapshot snapshot;
    snapshot.target = labelled ? series[i].label : results[i].host;
    snapshot.labels = SeriesLabels({}, series[i].domain, series[i].address);
    snapshot.mx_records = series[i].mx_records;
    snapshot.last = std::make_shared<const ProbeResult>(std::move(results[i]));
    snapshots.push_back(std::move(snapshot));
  }
  std::string metrics = RenderProbeMetrics(snapshots, labelled);
  if (!probe.debug) {
    HttpResponse response;
    response.content_type = kMetricsContentType;
    response.body = std::move(metrics);
    return response;
  }
  std::string logs;
  const std::int64_t now = WholeUnixSeconds(SystemClock::now());
  for (const TargetSnapshot& snapshot : snapshots) {
    const ProbeResult& result = *snapshot.last;
    logs += labelled ? "Logs for the probe of " + snapshot.target + ":\n" : "Logs for the probe:\n";
    logs += FormatTranscript(result) + FormatReport(result, Judge(result, now)) + "\n\n";
  }
  return TextResponse(200, logs + "Metrics that would have been returned:\n" + metrics);
}

asio::awaitable<HttpResponse> Routes::StatusPage(const HttpRequest&) {
  StatusPageInput input;
  input.version = status_.version;
  input.started_unix = WholeUnixSeconds(status_.started_at);
  input.now_unix = WholeUnixSeconds(SystemClock::now());
  input.refresh_seconds = kStatusRefreshSeconds;
  input.metrics_path = status_.telemetry_path;
  input.config_file = status_.config_file;
  input.reload_successful = status_.reload_successful;
  input.last_reload_attempt_unix = status_.last_reload_attempt_unix;
  input.last_reload_unix = static_cast<std::int64_t>(status_.last_reload_success_unix);
  input.last_reload_error = status_.last_reload_error;
  for (SeriesView& view : co_await loops_.Series(true)) {
    input.targets.push_back({*view.snapshot, std::move(view.module)});
  }
  co_return Html(RenderStatusPage(input));
}

asio::awaitable<HttpResponse> Routes::Transcript(const HttpRequest& request) {
  if (!request.query.contains("target") || !request.query.contains("module")) {
    co_return TextResponse(400, "target and module parameters are required\n");
  }
  const std::optional<SeriesView> series =
      co_await loops_.FindSeries(Param(request, "target"), Param(request, "module"));
  if (!series) co_return TextResponse(404, "no result for this target (yet)\n");
  co_return Html(RenderTranscriptPage(*series->snapshot, series->module,
                                      WholeUnixSeconds(SystemClock::now())));
}

asio::awaitable<HttpResponse> Routes::Healthy(const HttpRequest&) {
  co_return TextResponse(200, "Healthy.\n");
}

asio::awaitable<HttpResponse> Routes::Ready(const HttpRequest&) {
  co_return status_.ready ? TextResponse(200, "Ready.\n") : TextResponse(503, "Not ready.\n");
}

asio::awaitable<HttpResponse> Routes::Reload(const HttpRequest&) {
  std::string error;
  if (co_await reload_(&error)) co_return TextResponse(200, "Reloaded.\n");
  co_return TextResponse(500, "failed to reload config: " + error + "\n");
}

}  // namespace smtp

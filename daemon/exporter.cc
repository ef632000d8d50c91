#include "daemon/exporter.h"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <utility>

#include "daemon/config.h"
#include "daemon/http_server.h"
#include "daemon/metrics.h"
#include "daemon/schedule.h"
#include "daemon/shard.h"
#include "daemon/status_page.h"
#include "daemon/web_config.h"
#include "probes/dns_resolver.h"
#include "probes/prober.h"
#include "probes/result_format.h"
#include "probes/text.h"

namespace smtp {
namespace asio = boost::asio;
using SteadyClock = std::chrono::steady_clock;
using SystemClock = std::chrono::system_clock;

namespace {

constexpr auto kShutdownGrace = std::chrono::seconds(3);  // probes in flight may finish
constexpr int kStatusRefreshSeconds = 15;
constexpr const char* kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

std::string HostPort(const std::string& host, std::uint16_t port) {
  return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
         std::to_string(port);
}

HttpResponse Text(int status, std::string body) {
  HttpResponse response;
  response.status = status;
  response.content_type = "text/plain; charset=utf-8";
  response.body = std::move(body);
  return response;
}

// A route handler that answers at once with what `answer` returns.
Handler Immediate(std::function<HttpResponse(const HttpRequest&)> answer) {
  return [answer = std::move(answer)](const HttpRequest& request) -> asio::awaitable<HttpResponse> {
    co_return answer(request);
  };
}

// StartProbe's callback as an awaitable: a stopgap until the awaitable probe function lands.
asio::awaitable<ProbeResult> AwaitProbe(asio::io_context& io, ProbeSpec spec) {
  auto initiate = [&io](auto handler, ProbeSpec probe_spec) {
    // StartProbe takes a std::function, which must be copyable; the handler is move-only.
    auto shared = std::make_shared<decltype(handler)>(std::move(handler));
    auto executor = asio::get_associated_executor(*shared, io.get_executor());
    StartProbe(io, std::move(probe_spec), [shared, executor](ProbeResult result) {
      // Resume the awaiting coroutine from the loop, not from inside the prober's callback.
      asio::post(executor, [shared, result = std::move(result)]() mutable {
        std::move (*shared)(std::move(result));
      });
    });
  };
  co_return co_await asio::async_initiate<const asio::use_awaitable_t<>&, void(ProbeResult)>(
      initiate, asio::use_awaitable, std::move(spec));
}

// A failed result for a series whose DNS expansion failed before any probe could run, so that
// an mx: target with a broken MX lookup shows up as down (reason dns) instead of vanishing.
ProbeResult DnsFailure(const std::string& host, std::uint16_t port, DnsStatus status,
                       const std::string& error, std::chrono::nanoseconds took) {
  ProbeResult result;
  result.host = host;
  result.port = port;
  result.started_at = SystemClock::now() - std::chrono::duration_cast<SystemClock::duration>(took);
  result.duration = took;
  StepResult step;
  step.step = Step::kResolve;
  step.duration = took;
  step.reason = status == DnsStatus::kCancelled ? FailureReason::kTimeout : FailureReason::kDns;
  step.detail = error;
  result.steps.push_back(step);
  result.failed_step = Step::kResolve;
  result.failure_reason = step.reason;
  result.failure_detail = error;
  return result;
}

struct Entry {
  std::string key;  // address|module
  TargetConfig target;
  Module module;
  std::string module_name;
};

// One probed series below an entry.
struct Child {
  std::string series_key;
  std::string target_label;
  std::map<std::string, std::string> labels;
  std::string host;
  std::uint16_t port = 0;
  std::optional<std::string> address;
  std::optional<int> mx_records;
  std::optional<ProbeResult> failed_expansion;  // DNS failed: store this instead of probing
};

struct Series {
  std::string entry_key;
  std::string module_name;
  TargetSnapshot snapshot;
};

class Exporter : public std::enable_shared_from_this<Exporter> {
 public:
  Exporter(asio::io_context& io, ExporterOptions options, Logger& logger, WebConfig web_config,
           HttpServerOptions http_options)
      : io_(io),
        options_(std::move(options)),
        logger_(logger),
        schedule_(options_.max_in_flight),
        timer_(io),
        signals_(io, SIGINT, SIGTERM, SIGHUP),
        http_(io, std::move(web_config), std::move(http_options)) {
    // smtp_exporter_probes_total{result} starts at 0 for every result: the metrics layer seeds
    // "success" and every FailureReason.
    self_.version = options_.version;
    self_.scheduler_lag = Histogram(Histogram::MakeBounds(
        {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}));
  }

  bool Start(Config config, std::string* error) {
    RegisterRoutes();
    for (const std::string& address : options_.listen_addresses) {
      if (!http_.Listen(address, error)) return false;
      logger_.Info("listening", {{"address", address}});
    }
    ApplyConfig(std::move(config));
    self_.last_reload_successful = true;
    self_.last_reload_success_unix = UnixSeconds(SystemClock::now());
    last_reload_attempt_unix_ = static_cast<std::int64_t>(self_.last_reload_success_unix);
    WaitForSignal();
    Tick();
    ready_ = true;
    return true;
  }

 private:
  // --- configuration ----------------------------------------------------------------------

  void ApplyConfig(Config config) {
    std::map<std::string, Entry> entries;
    std::vector<ScheduleEntry> schedule;
    for (const TargetConfig& target : config.targets) {
      if (ShardOf(target.address, options_.shard_count) != options_.shard_index) continue;
      Entry entry;
      entry.key = target.address + "|" + target.module;
      entry.target = target;
      entry.module = config.modules.at(target.module);
      entry.module_name = target.module;
      ScheduleEntry scheduled;
      scheduled.key = entry.key;
      scheduled.interval = target.interval;
      scheduled.relay_interval = entry.module.relay_test.enabled ? entry.module.relay_test.interval
                                                                 : std::chrono::milliseconds(0);
      schedule.push_back(scheduled);
      entries.emplace(entry.key, std::move(entry));
    }
    // Series of removed targets disappear; kept ones take the new labels.
    for (auto it = series_.begin(); it != series_.end();) {
      auto entry = entries.find(it->second.entry_key);
      if (entry == entries.end()) {
        it = series_.erase(it);
        continue;
      }
      it->second.snapshot.labels = ChildLabels(entry->second, it->second.snapshot.labels);
      ++it;
    }
    entries_ = std::move(entries);
    config_ = std::move(config);
    schedule_.Set(schedule, SteadyClock::now());
    logger_.Info("config applied", {{"targets", std::to_string(entries_.size())},
                                    {"configured_targets", std::to_string(config_.targets.size())},
                                    {"modules", std::to_string(config_.modules.size())}});
    if (started_) Tick();
  }

  // The configured labels plus the ones the expansion added (domain, ip).
  static std::map<std::string, std::string> ChildLabels(
      const Entry& entry, const std::map<std::string, std::string>& previous) {
    std::map<std::string, std::string> labels = entry.target.labels;
    for (const char* own : {"domain", "ip"}) {
      if (auto found = previous.find(own); found != previous.end()) labels[own] = found->second;
    }
    return labels;
  }

  bool Reload(std::string* error) {
    last_reload_attempt_unix_ = WholeUnixSeconds(SystemClock::now());
    const bool ok = TryReload(error);
    last_reload_error_ = ok ? "" : *error;
    return ok;
  }

  bool TryReload(std::string* error) {
    if (options_.config_file.empty()) {
      *error = "no --config.file to reload";
      return false;
    }
    LoadResult loaded = LoadConfigFile(options_.config_file);
    if (!loaded.config) {
      *error = loaded.error;
      self_.last_reload_successful = false;
      logger_.Error("reload failed, keeping the running config", {{"err", loaded.error}});
      return false;
    }
    std::optional<WebConfig> web_config;
    if (!options_.web_config_file.empty()) {
      WebConfigResult web = LoadWebConfigFile(options_.web_config_file);
      if (!web.config) {
        *error = web.error;
        self_.last_reload_successful = false;
        logger_.Error("reload failed, keeping the running config", {{"err", web.error}});
        return false;
      }
      web_config = std::move(web.config);
    }
    ApplyConfig(std::move(*loaded.config));
    if (web_config) http_.SetWebConfig(std::move(*web_config));
    self_.last_reload_successful = true;
    self_.last_reload_success_unix = UnixSeconds(SystemClock::now());
    logger_.Info("reload succeeded", {{"file", options_.config_file}});
    return true;
  }

  // --- scheduling -------------------------------------------------------------------------

  void Tick() {
    if (stopping_) return;
    started_ = true;
    const auto now = SteadyClock::now();
    for (const Schedule::Due& due : schedule_.TakeDue(now)) {
      RecordLag(std::chrono::duration<double>(now - due.due).count());
      auto entry = entries_.find(due.key);
      if (entry == entries_.end()) {
        schedule_.Finished(due.key, now, now, false);
        continue;
      }
      RunEntry(entry->second, due.with_relay, now);
    }
    std::optional<SteadyClock::time_point> next = schedule_.NextWakeup();
    timer_.expires_at(next ? std::max(*next, now) : now + std::chrono::hours(1));
    std::weak_ptr<Exporter> weak = weak_from_this();
    timer_.async_wait([weak](const boost::system::error_code& error) {
      if (auto self = weak.lock(); self && !error) self->Tick();
    });
  }

  void RecordLag(double seconds) { self_.scheduler_lag.Observe(seconds); }

  void RunEntry(const Entry& entry, bool with_relay, SteadyClock::time_point started) {
    auto self = shared_from_this();
    asio::co_spawn(
        io_, [self, entry]() { return self->Expand(entry); },
        [self, entry, with_relay, started](std::exception_ptr error, std::vector<Child> children) {
          if (error) {
            self->logger_.Error("target expansion failed", {{"target", entry.target.address}});
            children.clear();
          }
          self->ProbeChildren(entry, std::move(children), with_relay, started);
        });
  }

  // The series of one entry at this run: one, or one per MX host and/or address.
  asio::awaitable<std::vector<Child>> Expand(Entry entry) {
    const Target& target = entry.target.target;
    const std::uint16_t port = target.port != 0 ? target.port : entry.module.DefaultPort();
    const bool per_address = entry.module.ip_protocol == IpProtocol::kBoth;
    std::vector<Child> hosts;
    std::unique_ptr<DnsResolver> resolver;
    asio::steady_timer deadline(io_);
    if (target.mx || (per_address && !IsIpLiteral(target.host))) {
      std::string error;
      resolver = DnsResolver::Create(io_.get_executor(), entry.module.dns_server, &error);
      if (!resolver) {
        Child failed;
        failed.series_key = entry.key;
        failed.target_label = entry.target.address;
        failed.failed_expansion =
            DnsFailure(target.host, port, DnsStatus::kError, error, std::chrono::nanoseconds(0));
        co_return std::vector<Child>{failed};
      }
      DnsResolver* raw = resolver.get();
      deadline.expires_after(entry.module.timeout);
      deadline.async_wait([raw](const boost::system::error_code& wait_error) {
        if (!wait_error) raw->Cancel();
      });
    }

    if (target.mx) {
      const auto start = SteadyClock::now();
      auto answer = co_await LookupMailHosts(*resolver, target.host);
      if (!answer.ok() || answer.value.empty()) {
        Child failed;
        failed.series_key = entry.key;
        failed.target_label = entry.target.address;
        failed.labels = entry.target.labels;
        failed.mx_records = 0;
        failed.failed_expansion = DnsFailure(target.host, port, answer.status,
                                             "MX lookup for " + target.host + ": " + answer.error,
                                             SteadyClock::now() - start);
        co_return std::vector<Child>{failed};
      }
      for (const MxRecord& record : answer.value) {
        Child child;
        child.host = record.host;
        child.port = port;
        child.target_label = HostPort(record.host, port);
        child.series_key = entry.key + "|" + ToLowerAscii(record.host);
        child.labels = entry.target.labels;
        child.labels["domain"] = target.host;
        child.mx_records = static_cast<int>(answer.value.size());
        hosts.push_back(std::move(child));
      }
    } else {
      Child child;
      child.host = target.host;
      child.port = port;
      child.target_label = entry.target.address;
      child.series_key = entry.key;
      child.labels = entry.target.labels;
      hosts.push_back(std::move(child));
    }
    if (!per_address) co_return hosts;

    std::vector<Child> children;
    for (Child& host : hosts) {
      if (IsIpLiteral(host.host)) {
        children.push_back(std::move(host));
        continue;
      }
      const auto start = SteadyClock::now();
      auto addresses = co_await resolver->LookupAddresses(host.host, IpProtocol::kBoth);
      if (!addresses.ok()) {
        host.failed_expansion = DnsFailure(host.host, host.port, addresses.status,
                                           "cannot resolve " + host.host + ": " + addresses.error,
                                           SteadyClock::now() - start);
        children.push_back(std::move(host));
        continue;
      }
      for (const std::string& address : addresses.value) {
        Child child = host;
        child.address = address;
        child.series_key = host.series_key + "|" + address;
        child.labels["ip"] = address;
        children.push_back(std::move(child));
      }
    }
    co_return children;
  }

  void ProbeChildren(const Entry& entry, std::vector<Child> children, bool with_relay,
                     SteadyClock::time_point started) {
    // The series this run produces replace the entry's previous ones (MX hosts come and go).
    // Series keys of an entry are its key, or its key + "|" + host/address (see Expand), so
    // they sit next to each other in series_: only that range is visited, not every series.
    std::set<std::string> keys;
    for (const Child& child : children) keys.insert(child.series_key);
    for (auto it = series_.lower_bound(entry.key);
         it != series_.end() && it->first.starts_with(entry.key);) {
      const bool ours = it->second.entry_key == entry.key;
      it = ours && !keys.contains(it->first) ? series_.erase(it) : std::next(it);
    }
    auto remaining = std::make_shared<std::size_t>(children.size());
    auto finish_one = [self = shared_from_this(), key = entry.key, remaining, with_relay,
                       started]() {
      if (--*remaining == 0) {
        self->schedule_.Finished(key, started, SteadyClock::now(), with_relay);
        self->Tick();
      }
    };
    if (children.empty()) {
      ++*remaining;
      finish_one();
      return;
    }
    for (Child& child : children) {
      if (child.failed_expansion) {
        Store(entry, child, std::move(*child.failed_expansion));
        finish_one();
        continue;
      }
      ProbeSpec spec = MakeProbeSpec(entry.module, child.host, child.port);
      spec.address = child.address;
      spec.relay.enabled = with_relay && entry.module.relay_test.enabled;
      ++self_.probes_in_flight;
      StartProbe(io_, std::move(spec),
                 [self = shared_from_this(), entry, child, finish_one](ProbeResult result) {
                   --self->self_.probes_in_flight;
                   self->Store(entry, child, std::move(result));
                   finish_one();
                 });
    }
  }

  void Store(const Entry& entry, const Child& child, ProbeResult result) {
    self_.probes_total_by_result[ProbeResultLabel(result)] += 1;
    if (logger_.Enabled(LogLevel::kDebug)) {
      logger_.Debug("probe finished",
                    {{"target", child.target_label},
                     {"success", result.success ? "true" : "false"},
                     {"duration_seconds",
                      std::to_string(std::chrono::duration<double>(result.duration).count())},
                     {"reason", ToString(result.failure_reason)}});
    }
    // A target removed (or changed) while its probe ran keeps no series.
    auto current = entries_.find(entry.key);
    if (stopping_ || current == entries_.end() ||
        current->second.module_name != entry.module_name) {
      return;
    }
    Series& series = series_[child.series_key];
    series.entry_key = entry.key;
    series.module_name = entry.module_name;
    TargetSnapshot& snapshot = series.snapshot;
    // The relay verdict is kept between relay runs: a probe without the relay test does not
    // make an open relay look healthy. The state is the status page's (StateOf), which renders
    // the one verdict (probes/verdict.h): up, down, or an open relay that is up.
    snapshot.target = child.target_label;
    snapshot.labels = child.labels;
    snapshot.mx_records = child.mx_records;
    const StateChange change = Record(snapshot, std::move(result));
    if (!change.changed()) return;
    const StatusState after = change.after;
    const ProbeResult& last = *snapshot.last;
    const std::string& target = child.target_label;
    const std::string& module = entry.module_name;
    if (after == StatusState::kDown) {
      logger_.Info("target state changed",
                   {{"target", target},
                    {"module", module},
                    {"state", "down"},
                    {"step", last.failed_step ? ToString(*last.failed_step) : ""},
                    {"reason", ToString(last.failure_reason)}});
    } else if (after == StatusState::kOpenRelay) {
      logger_.Info("target state changed",
                   {{"target", target},
                    {"module", module},
                    {"state", "open_relay"},
                    {"relay", ReportedRelayOf(snapshot).judgement.summary}});
    } else {
      logger_.Info("target state changed",
                   {{"target", target}, {"module", module}, {"state", "up"}});
    }
  }

  // --- HTTP -------------------------------------------------------------------------------

  void RegisterRoutes() {
    auto self = shared_from_this();
    http_.Handle(options_.telemetry_path, {"GET"},
                 Immediate([self](const HttpRequest&) { return self->MetricsResponse(); }));
    // The Handler (and so `self`) outlives the awaitable HandleProbe returns.
    http_.Handle("/probe", {"GET"},
                 [self](const HttpRequest& request) { return self->HandleProbe(request); });
    http_.Handle("/", {"GET"}, Immediate([self](const HttpRequest&) {
                   HttpResponse response;
                   response.content_type = std::string(kStatusPageContentType);
                   response.body = RenderStatusPage(self->StatusInput());
                   return response;
                 }));
    http_.Handle(
        std::string(kTranscriptPath), {"GET"},
        Immediate([self](const HttpRequest& request) { return self->HandleTranscript(request); }));
    http_.Handle("/-/healthy", {"GET"},
                 Immediate([](const HttpRequest&) { return Text(200, "Healthy.\n"); }));
    http_.Handle("/-/ready", {"GET"}, Immediate([self](const HttpRequest&) {
                   return self->ready_ ? Text(200, "Ready.\n") : Text(503, "Not ready.\n");
                 }));
    http_.Handle("/-/reload", {"POST", "PUT"}, Immediate([self](const HttpRequest&) {
                   std::string error;
                   return self->Reload(&error)
                              ? Text(200, "Reloaded.\n")
                              : Text(500, "failed to reload config: " + error + "\n");
                 }));
  }

  std::vector<TargetSnapshot> Snapshots() const {
    std::vector<TargetSnapshot> snapshots;
    snapshots.reserve(series_.size());
    for (const auto& [key, series] : series_) snapshots.push_back(series.snapshot);
    return snapshots;
  }

  HttpResponse MetricsResponse() const {
    const SelfMetrics& self = self_;
    HttpResponse response;
    response.content_type = kMetricsContentType;
    response.body = RenderProbeMetrics(Snapshots(), true, &self);
    return response;
  }

  StatusPageInput StatusInput() const {
    StatusPageInput input;
    input.version = options_.version;
    input.started_unix = WholeUnixSeconds(started_at_);
    input.now_unix = WholeUnixSeconds(SystemClock::now());
    input.refresh_seconds = kStatusRefreshSeconds;
    input.metrics_path = options_.telemetry_path;
    input.config_file = options_.config_file;
    input.reload_successful = self_.last_reload_successful;
    input.last_reload_attempt_unix = last_reload_attempt_unix_;
    input.last_reload_unix = static_cast<std::int64_t>(self_.last_reload_success_unix);
    input.last_reload_error = last_reload_error_;
    std::set<std::string> probed_entries;
    for (const auto& [key, series] : series_) {
      input.targets.push_back({series.snapshot, series.module_name});
      probed_entries.insert(series.entry_key);
    }
    // Targets without a result yet are shown as pending.
    for (const auto& [key, entry] : entries_) {
      if (probed_entries.contains(key)) continue;
      TargetSnapshot pending;
      pending.target = entry.target.address;
      pending.labels = entry.target.labels;
      input.targets.push_back({std::move(pending), entry.module_name});
    }
    return input;
  }

  HttpResponse HandleTranscript(const HttpRequest& request) const {
    auto target = request.query.find("target");
    auto module = request.query.find("module");
    if (target == request.query.end() || module == request.query.end()) {
      return Text(400, "target and module parameters are required\n");
    }
    for (const auto& [key, series] : series_) {
      if (series.snapshot.target != target->second || series.module_name != module->second) {
        continue;
      }
      HttpResponse response;
      response.content_type = std::string(kStatusPageContentType);
      response.body = RenderTranscriptPage(series.snapshot, series.module_name,
                                           WholeUnixSeconds(SystemClock::now()));
      return response;
    }
    return Text(404, "no result for this target (yet)\n");
  }

  bool Configured(const std::string& host) const {
    const std::string wanted = ToLowerAscii(host);
    for (const TargetConfig& target : config_.targets) {  // every shard's, not just ours
      if (ToLowerAscii(target.target.host) == wanted) return true;
    }
    for (const auto& [key, series] : series_) {
      if (series.snapshot.last && ToLowerAscii(series.snapshot.last->host) == wanted) return true;
    }
    return false;
  }

  asio::awaitable<HttpResponse> HandleProbe(const HttpRequest& request) {
    auto target_param = request.query.find("target");
    if (target_param == request.query.end() || target_param->second.empty()) {
      co_return Text(400, "target parameter is missing\n");
    }
    auto module_param = request.query.find("module");
    const std::string module_name =
        module_param == request.query.end() || module_param->second.empty() ? "default"
                                                                            : module_param->second;
    auto module = config_.modules.find(module_name);
    if (module == config_.modules.end()) {
      co_return Text(400, "unknown module \"" + module_name + "\"\n");
    }
    std::string error;
    std::optional<Target> target = ParseTarget(target_param->second, &error);
    if (!target) {
      co_return Text(400, "invalid target: " + error + "\n");
    }
    if (target->mx) {
      co_return Text(400, "mx: targets are probed by the schedule; /probe takes host[:port]\n");
    }
    // The allowlist keeps /probe from being a network scanner for whoever can reach it.
    if (!Configured(target->host) && !ProbeAllowed(config_.probe_allowlist, target->host)) {
      co_return Text(403, "target \"" + target->host +
                              "\" is neither configured nor allowed by probe_allowlist\n");
    }
    ProbeSpec spec = MakeProbeSpec(module->second, target->host, target->port);
    spec.relay.enabled = module->second.relay_test.enabled;
    // Like blackbox_exporter: finish before Prometheus gives up on the scrape.
    if (auto header = request.headers.find("x-prometheus-scrape-timeout-seconds");
        header != request.headers.end()) {
      try {
        const double seconds = std::stod(header->second) - 0.5;
        if (seconds > 0) {
          // The whole probe, relay test included, must answer before the scrape gives up.
          const std::chrono::milliseconds budget(static_cast<long long>(seconds * 1000));
          spec.timeout = std::min(spec.timeout, budget);
          spec.max_duration = budget;
        }
      } catch (const std::exception&) {
      }
    }
    const bool debug = request.query.contains("debug") && request.query.at("debug") == "true";
    ++self_.probes_in_flight;
    ProbeResult result = co_await AwaitProbe(io_, spec);
    --self_.probes_in_flight;
    self_.probes_total_by_result[ProbeResultLabel(result)] += 1;
    TargetSnapshot snapshot;
    snapshot.target = result.host;
    auto shared = std::make_shared<const ProbeResult>(std::move(result));
    snapshot.last = shared;
    std::string metrics = RenderProbeMetrics({snapshot}, false);
    if (!debug) {
      HttpResponse response;
      response.content_type = kMetricsContentType;
      response.body = std::move(metrics);
      co_return response;
    }
    const Verdict verdict = Judge(*shared, WholeUnixSeconds(SystemClock::now()));
    co_return Text(200, "Logs for the probe:\n" + FormatTranscript(*shared) +
                            FormatReport(*shared, verdict) +
                            "\n\nMetrics that would have been returned:\n" + metrics);
  }

  // --- signals and shutdown ---------------------------------------------------------------

  void WaitForSignal() {
    signals_.async_wait(
        [self = shared_from_this()](const boost::system::error_code& error, int signal) {
          if (error) return;
          if (signal == SIGHUP) {
            std::string reload_error;
            self->Reload(&reload_error);
            self->WaitForSignal();
            return;
          }
          self->Shutdown(signal == SIGTERM ? "SIGTERM" : "SIGINT");
        });
  }

  void Shutdown(const char* why) {
    logger_.Info("shutting down",
                 {{"signal", why}, {"probes_in_flight", std::to_string(self_.probes_in_flight)}});
    stopping_ = true;
    ready_ = false;
    timer_.cancel();
    http_.Stop();
    // Probes in flight end with QUIT on their own; give them a moment, then stop regardless.
    auto grace = std::make_shared<asio::steady_timer>(io_, kShutdownGrace);
    auto poll = std::make_shared<std::function<void()>>();
    *poll = [self = shared_from_this(), grace, poll]() {
      if (self->self_.probes_in_flight == 0 || SteadyClock::now() >= grace->expiry()) {
        self->signals_.cancel();
        self->io_.stop();
        *poll = nullptr;  // break the cycle
        return;
      }
      auto tick = std::make_shared<asio::steady_timer>(self->io_, std::chrono::milliseconds(20));
      tick->async_wait([poll, tick](const boost::system::error_code&) {
        if (*poll) (*poll)();
      });
    };
    (*poll)();
  }

  asio::io_context& io_;
  ExporterOptions options_;
  Logger& logger_;
  Config config_;
  std::map<std::string, Entry> entries_;
  std::map<std::string, Series> series_;
  Schedule schedule_;
  asio::steady_timer timer_;
  asio::signal_set signals_;
  HttpServer http_;
  SelfMetrics self_;
  SystemClock::time_point started_at_ = SystemClock::now();
  std::int64_t last_reload_attempt_unix_ = 0;
  std::string last_reload_error_;
  bool started_ = false;
  bool ready_ = false;
  bool stopping_ = false;
};

}  // namespace

int RunExporter(const ExporterOptions& options, Logger& logger) {
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
  auto exporter = std::make_shared<Exporter>(io, options, logger, std::move(web_config),
                                             std::move(http_options));
  std::string error;
  if (!exporter->Start(std::move(config), &error)) {
    logger.Error("cannot start", {{"err", error}});
    return 1;
  }
  logger.Info("started", {{"version", options.version}});
  io.run();
  logger.Info("stopped");
  return 0;
}

}  // namespace smtp

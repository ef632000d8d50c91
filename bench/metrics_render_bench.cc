// Cost of a /metrics scrape: TargetSnapshots -> exposition text, for 1,000 and 10,000 realistic
// targets (Postfix-like, STARTTLS, relay test ran, ~10 EHLO keywords before and after TLS,
// greeting histogram with history). Prints the median of several runs of each path.
//
// "before" = BuildProbeFamilies + prometheus::TextSerializer (the daemon's old /metrics path);
// "after" = RenderProbeMetrics (its path now). Wall and CPU time of the rendering thread.
//
//   metrics_render_bench [runs [--no-serializer | --after-only | --pieces | --all [targets
//   [minimal]]]]
//
// "minimal" (with --after-only or --pieces) renders the targets as a module with `series:
// minimal` would. "--pieces" compares the whole text with MetricsText's pieces, as /metrics
// writes them: time, longest step and the memory each adds at its peak.
// (default: 7 runs, 1,000 and 10,000 targets)
#include <prometheus/text_serializer.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "daemon/exposition.h"
#include "daemon/metrics.h"
#include "tests/metrics/sample_results.h"

namespace smtp {
namespace {

using Clock = std::chrono::steady_clock;

// Step durations with nanosecond resolution, as the steady clock measures them.
std::chrono::nanoseconds Ns(std::mt19937_64& rng, std::int64_t low, std::int64_t high) {
  return std::chrono::nanoseconds(std::uniform_int_distribution<std::int64_t>(low, high)(rng));
}

StepResult Step_(Step step, std::chrono::nanoseconds duration, int reply_code) {
  StepResult s;
  s.step = step;
  s.duration = duration;
  s.reply_code = reply_code;
  s.ok = true;
  return s;
}

TargetSnapshot RealisticTarget(int index, std::mt19937_64& rng) {
  const std::string host = "mx" + std::to_string(index) + ".example.org";
  ProbeResult r;
  r.host = host;
  r.port = 25;
  r.success = true;
  r.started_at = std::chrono::system_clock::time_point(std::chrono::seconds(1700000000 + index)) +
                 Ns(rng, 0, 999'999'999);
  r.steps = {Step_(Step::kResolve, Ns(rng, 500'000, 5'000'000), 0),
             Step_(Step::kConnect, Ns(rng, 1'000'000, 30'000'000), 0),
             Step_(Step::kGreeting, Ns(rng, 2'000'000, 200'000'000), 220),
             Step_(Step::kEhlo, Ns(rng, 500'000, 10'000'000), 250),
             Step_(Step::kStartTls, Ns(rng, 10'000'000, 80'000'000), 220),
             Step_(Step::kTlsEhlo, Ns(rng, 500'000, 10'000'000), 250),
             Step_(Step::kRelay, Ns(rng, 50'000'000, 300'000'000), 250),
             Step_(Step::kQuit, Ns(rng, 500'000, 5'000'000), 221),
             Step_(Step::kReverseDns, Ns(rng, 1'000'000, 20'000'000), 0)};
  r.duration = std::chrono::nanoseconds(0);
  for (const StepResult& s : r.steps) r.duration += s.duration;
  r.dns.addresses = {"192.0.2." + std::to_string(index % 250)};
  r.dns.connected_address = r.dns.addresses.front();
  r.dns.ptr_names = {host};
  r.dns.fcrdns_match = true;
  r.dns.banner_matches_ptr = true;
  r.greeting = GreetingInfo{host, "Postfix", "", true};
  r.greeting_lines = {host + " ESMTP Postfix (Debian/GNU)"};
  r.esmtp = true;
  r.capabilities = metrics_test::PostfixCapabilities(false, host);
  r.tls_capabilities = metrics_test::PostfixCapabilities(true, host);
  r.starttls_offered = true;
  r.starttls_success = true;
  TlsInfo tls;
  tls.handshake_ok = true;
  tls.version = "TLSv1.3";
  tls.cipher = "TLS_AES_256_GCM_SHA384";
  CertificateInfo leaf;
  leaf.subject = "CN=" + host;
  leaf.issuer = "CN=R3,O=Let's Encrypt,C=US";
  leaf.serial = "03A1B2C3D4E5F60718293A4B5C6D7E8F" + std::to_string(1000 + index % 9000);
  leaf.not_after = 1707000000 + index;
  tls.chain = {leaf};
  tls.earliest_not_after = leaf.not_after;
  tls.chain_verified = tls.hostname_verified = true;
  r.tls = tls;
  r.relay->ran = true;
  for (const char* variant : {"null_sender", "external", "spoof_local_name", "percent_name",
                              "source_route_name", "bang_name"}) {
    RelayAttempt a;
    a.variant = variant;
    a.mail_code = 250;
    a.rcpt_code = 554;
    a.outcome = RelayOutcome::kRefused;
    r.relay->attempts.push_back(a);
  }

  TargetSnapshot s;
  s.target = host + ":25";
  s.labels = {{"env", index % 3 == 0 ? "staging" : "prod"}, {"site", index % 2 ? "eu" : "us"}};
  s.greeting_histogram.emplace(GreetingBounds());
  std::lognormal_distribution<double> latency(-3.0, 1.0);  // median ~50 ms
  for (int i = 0; i < 500; ++i) s.greeting_histogram->Observe(latency(rng));
  s.last = std::make_shared<const ProbeResult>(std::move(r));
  return s;
}

SelfMetrics RealisticSelf() {
  SelfMetrics self;
  self.version = "0.1.0";
  self.revision = "3f2c1ab";
  self.probes_total_by_result = {{"success", 1234567}, {"timeout", 321}, {"refused", 12}};
  self.last_reload_successful = true;
  self.last_reload_success_unix = 1700000000.25;
  self.probes_in_flight = 17;
  self.scheduler_lag = Histogram({0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1});
  for (int i = 0; i < 1000; ++i) self.scheduler_lag.Observe(0.0001 * i);
  return self;
}

// Wall time and CPU time of this thread (the machine may be shared: CPU time is the steadier).
struct Stamp {
  Clock::time_point wall;
  double cpu_ms;
};

Stamp Now() {
  timespec cpu{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu);
  return {Clock::now(),
          static_cast<double>(cpu.tv_sec) * 1e3 + static_cast<double>(cpu.tv_nsec) / 1e6};
}

struct Timing {
  std::vector<double> wall_ms, cpu_ms;
  void Add(const Stamp& from, const Stamp& to) {
    wall_ms.push_back(std::chrono::duration<double, std::milli>(to.wall - from.wall).count());
    cpu_ms.push_back(to.cpu_ms - from.cpu_ms);
  }
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double Min(const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); }

// Median, and in brackets the fastest run (the machine may be shared: the minimum is the least
// disturbed figure).
void Print(const char* what, const Timing& t) {
  std::printf("  %-46s %7.1f ms wall (min %6.1f) %7.1f ms cpu (min %6.1f)\n", what,
              Median(t.wall_ms), Min(t.wall_ms), Median(t.cpu_ms), Min(t.cpu_ms));
}

// `targets` realistic targets, the same for every run of the program (seeded).
std::vector<TargetSnapshot> RealisticFleet(int targets, bool minimal) {
  std::mt19937_64 rng(42);
  std::vector<TargetSnapshot> snapshots;
  snapshots.reserve(static_cast<std::size_t>(targets));
  for (int i = 0; i < targets; ++i) {
    snapshots.push_back(RealisticTarget(i, rng));
    snapshots.back().minimal_series = minimal;  // the module's `series: minimal`
  }
  return snapshots;
}

void RunAfterOnly(int targets, int runs, bool minimal) {
  const std::vector<TargetSnapshot> snapshots = RealisticFleet(targets, minimal);
  const SelfMetrics self = RealisticSelf();
  Timing direct;
  std::size_t bytes = 0;
  for (int run = 0; run < runs; ++run) {
    const Stamp t0 = Now();
    const std::string body = RenderProbeMetrics(snapshots, true, &self);
    direct.Add(t0, Now());  // freeing `body` is the HTTP layer's business, not timed
    bytes = body.size();
  }
  std::printf("%6d targets, median of %d runs\n", targets, runs);
  Print("after: RenderProbeMetrics (snapshots -> text)", direct);
  std::printf("  %-46s %10zu bytes %6.0f bytes/target\n", "after: output", bytes,
              static_cast<double>(bytes) / targets);
}

// This process's resident set in MiB: the peak since the last ResetPeak() ("VmHWM") or now
// ("VmRSS"), from /proc/self/status.
double ResidentMiB(const char* field) {
  std::FILE* status = std::fopen("/proc/self/status", "r");
  if (status == nullptr) return -1;
  char line[256];
  double kib = -1;
  const std::size_t n = std::strlen(field);
  while (std::fgets(line, sizeof line, status) != nullptr) {
    if (std::strncmp(line, field, n) == 0 && line[n] == ':') kib = std::atof(line + n + 1);
  }
  std::fclose(status);
  return kib / 1024;
}

// Resets VmHWM to the current resident set (Linux >= 4.0, proc(5) "clear_refs").
void ResetPeak() {
  if (std::FILE* f = std::fopen("/proc/self/clear_refs", "w")) {
    std::fputs("5", f);
    std::fclose(f);
  }
}

// /metrics as the daemon wrote it before (RenderProbeMetrics: the whole text at once) and as it
// writes it now (MetricsText, 1 MiB pieces, each dropped as an HTTP write would): time, the
// longest single step (what stalls the HTTP thread), and the memory each adds at its peak.
void RunPieces(int targets, int runs, bool minimal) {
  const std::vector<TargetSnapshot> snapshots = RealisticFleet(targets, minimal);
  std::vector<const TargetSnapshot*> pointers;
  for (const TargetSnapshot& snapshot : snapshots) pointers.push_back(&snapshot);
  const SelfMetrics self = RealisticSelf();
  Timing whole, pieces;
  std::vector<double> whole_peak, pieces_peak, longest_step;
  std::size_t bytes = 0, piece_bytes = 0;
  for (int run = 0; run < runs; ++run) {
    ResetPeak();
    double base = ResidentMiB("VmRSS");
    Stamp t0 = Now();
    {
      const std::string body = RenderProbeMetrics(pointers, true, &self);
      whole.Add(t0, Now());
      bytes = body.size();
      whole_peak.push_back(ResidentMiB("VmHWM") - base);
    }
    ResetPeak();
    base = ResidentMiB("VmRSS");
    t0 = Now();
    double longest = 0;
    piece_bytes = 0;
    {
      MetricsText text(pointers, true, &self);
      std::string piece;
      for (bool more = true; more;) {
        piece.clear();
        const Stamp s0 = Now();
        more = text.Next(piece, 1024 * 1024);
        longest = std::max(longest,
                           std::chrono::duration<double, std::milli>(Now().wall - s0.wall).count());
        piece_bytes += piece.size();
      }
      pieces_peak.push_back(ResidentMiB("VmHWM") - base);
    }
    pieces.Add(t0, Now());
    longest_step.push_back(longest);
  }
  if (piece_bytes != bytes) {
    std::fprintf(stderr, "MetricsText wrote %zu bytes, RenderProbeMetrics %zu\n", piece_bytes,
                 bytes);
    std::exit(1);
  }
  std::printf("%6d targets%s, %zu bytes, median of %d runs\n", targets, minimal ? " (minimal)" : "",
              bytes, runs);
  Print("whole text (RenderProbeMetrics)", whole);
  std::printf("  %-46s %7.1f MiB\n", "whole text: memory added at the peak", Median(whole_peak));
  Print("1 MiB pieces (MetricsText)", pieces);
  std::printf("  %-46s %7.1f MiB\n", "pieces: memory added at the peak", Median(pieces_peak));
  std::printf("  %-46s %7.1f ms\n", "pieces: longest step", Median(longest_step));
}

void Run(int targets, int runs, bool with_serializer) {
  const std::vector<TargetSnapshot> snapshots = RealisticFleet(targets, false);
  const SelfMetrics self = RealisticSelf();

  Timing build, serializer, before_total, render_text, direct;
  std::size_t serializer_bytes = 0, text_bytes = 0, direct_bytes = 0;
  for (int run = 0; run < runs; ++run) {
    // Before: MetricFamily objects, then prometheus::TextSerializer (as the daemon did).
    const Stamp t0 = Now();
    std::vector<prometheus::MetricFamily> families = BuildProbeFamilies(snapshots, true);
    std::vector<prometheus::MetricFamily> own = BuildSelfFamilies(self);
    families.insert(families.end(), std::make_move_iterator(own.begin()),
                    std::make_move_iterator(own.end()));
    const Stamp t1 = Now();
    build.Add(t0, t1);
    if (with_serializer) {
      std::ostringstream out;
      prometheus::TextSerializer().Serialize(out, families);
      const std::string text = std::move(out).str();
      const Stamp t1b = Now();
      serializer.Add(t1, t1b);
      before_total.Add(t0, t1b);
      serializer_bytes = text.size();
    }
    // Our writer over the same families.
    const Stamp t2 = Now();
    const std::string text = RenderText(families);
    render_text.Add(t2, Now());
    text_bytes = text.size();
    families.clear();
    // After: what the daemon's /metrics does now, snapshots -> text in one go.
    const Stamp t3 = Now();
    const std::string body = RenderProbeMetrics(snapshots, true, &self);
    direct.Add(t3, Now());
    direct_bytes = body.size();
    if (body != text) {
      std::fprintf(stderr, "RenderProbeMetrics and RenderText(families) differ\n");
      std::exit(1);
    }
  }
  std::printf("%6d targets, median of %d runs\n", targets, runs);
  Print("before: BuildProbeFamilies+BuildSelfFamilies", build);
  if (with_serializer) {
    Print("before: prometheus::TextSerializer", serializer);
    Print("before: total (build + TextSerializer)", before_total);
    std::printf("  %-46s %10zu bytes %6.0f bytes/target\n", "before: output", serializer_bytes,
                static_cast<double>(serializer_bytes) / targets);
  }
  Print("RenderText (our writer) over the families", render_text);
  Print("after: RenderProbeMetrics (snapshots -> text)", direct);
  std::printf("  %-46s %10zu bytes %6.0f bytes/target\n", "after: output", direct_bytes,
              static_cast<double>(direct_bytes) / targets);
  (void)text_bytes;
}

}  // namespace
}  // namespace smtp

int main(int argc, char** argv) {
  const int runs = argc > 1 ? std::max(1, std::atoi(argv[1])) : 7;
  // TextSerializer takes seconds at 10,000 targets: "--no-serializer" leaves it out;
  // "--after-only" runs RenderProbeMetrics alone (for a profiler).
  const std::string mode = argc > 2 ? argv[2] : "";
  std::vector<int> sizes = {1000, 10000};
  if (argc > 3) sizes = {std::max(1, std::atoi(argv[3]))};
  for (int targets : sizes) {
    if (mode == "--pieces") {
      smtp::RunPieces(targets, runs, argc > 4 && std::string(argv[4]) == "minimal");
    } else if (mode == "--after-only") {
      smtp::RunAfterOnly(targets, runs, argc > 4 && std::string(argv[4]) == "minimal");
    } else {
      smtp::Run(targets, runs, mode != "--no-serializer");
    }
  }
  return 0;
}

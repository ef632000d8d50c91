// What one stored probe result costs on the heap: the daemon keeps every target's latest result
// (daemon/target_state.h), so at 100,000 targets each byte here is about 100 KB of RSS (issue 9,
// bench/README "Memory per target").
//
//   result_footprint HOST:PORT [CA_FILE]
//
// Probes HOST:PORT once (loopback only: start bench/smtp_responder first), plain, or with
// STARTTLS required and verified against CA_FILE (server name bench.test, the responder's),
// releases the result's spare capacity as the daemon does, then stores 20,000 copies of it and of
// each part and prints, per copy, the bytes malloc holds for it (mallinfo2's in-use bytes, so
// malloc's own overhead per allocation included) and the allocations made. A part is measured
// inside a shared_ptr, as the whole result is, so each part's figure includes about 32 bytes of
// control block and padding.
#include <malloc.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "daemon/target_state.h"
#include "probes/prober.h"

namespace {

std::atomic<long> g_allocations{0};

}  // namespace

void* operator new(std::size_t size) {
  ++g_allocations;
  if (void* block = std::malloc(size == 0 ? 1 : size)) return block;
  throw std::bad_alloc();
}
void operator delete(void* block) noexcept { std::free(block); }
void operator delete(void* block, std::size_t) noexcept { std::free(block); }

namespace {

using smtp::ProbeResult;

constexpr int kCopies = 20000;

template <class Make>
void Measure(const char* name, Make make) {
  std::vector<std::shared_ptr<const void>> kept;
  kept.reserve(kCopies);
  const auto bytes_before = static_cast<long>(mallinfo2().uordblks);
  const long allocations_before = g_allocations;
  for (int i = 0; i < kCopies; ++i) kept.push_back(make());
  const auto bytes = static_cast<long>(mallinfo2().uordblks) - bytes_before;
  const long allocations = g_allocations - allocations_before;
  std::printf("%-34s %8.1f B %6.2f allocations\n", name, double(bytes) / kCopies,
              double(allocations) / kCopies);
}

template <class T>
std::shared_ptr<const void> Copy(const T& value) {
  return std::make_shared<const T>(value);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: result_footprint HOST:PORT [CA_FILE]\n");
    return 2;
  }
  const std::string address = argv[1];
  const auto colon = address.rfind(':');
  if (colon == std::string::npos) {
    std::fprintf(stderr, "result_footprint: HOST:PORT expected, got \"%s\"\n", address.c_str());
    return 2;
  }
  smtp::ProbeSpec spec;
  spec.host = address.substr(0, colon);
  spec.port = static_cast<std::uint16_t>(std::stoi(address.substr(colon + 1)));
  spec.ehlo_name = "bench-client.test";
  spec.timeout = std::chrono::seconds(5);
  spec.starttls = smtp::StartTlsMode::kOff;
  if (argc > 2) {
    spec.starttls = smtp::StartTlsMode::kRequired;
    spec.tls.server_name = "bench.test";
    spec.tls.ca_file = argv[2];
  }
  ProbeResult result = smtp::RunProbe(spec);
  smtp::ReleaseSpareCapacity(result);
  const ProbeResult& stored = result;
  std::printf("probe of %s (%s): %s, %zu steps, %zu transcript lines, %zu EHLO extensions\n",
              address.c_str(), argc > 2 ? "STARTTLS" : "plain",
              stored.success ? "success" : smtp::ProbeResultLabel(stored).c_str(),
              stored.steps.size(), stored.transcript.size(),
              stored.capabilities ? stored.capabilities->extensions.size() : 0);
  std::printf("sizeof: ProbeResult %zu, StepResult %zu, Extension %zu, TargetSnapshot %zu\n",
              sizeof(ProbeResult), sizeof(smtp::StepResult), sizeof(smtp::Extension),
              sizeof(smtp::TargetSnapshot));
  std::printf(
      "heap per copy, %d copies (a part alone, in a shared_ptr: its inline size again and"
      " ~32 B more; parts do not add up to the whole):\n",
      kCopies);
  Measure("stored result (whole)", [&] { return Copy(stored); });
  Measure("  steps", [&] { return Copy(stored.steps); });
  Measure("  transcript", [&] { return Copy(stored.transcript); });
  Measure("  capabilities", [&] { return Copy(stored.capabilities); });
  Measure("  tls_capabilities", [&] { return Copy(stored.tls_capabilities); });
  Measure("  tls", [&] { return Copy(stored.tls); });
  Measure("  greeting + greeting_lines",
          [&] { return Copy(std::make_pair(stored.greeting, stored.greeting_lines)); });
  Measure("  dns", [&] { return Copy(stored.dns); });
  Measure("record (snapshot, histogram, result)", [&] {
    auto snapshot = std::make_shared<smtp::TargetSnapshot>();
    snapshot->target = address;
    smtp::Record(*snapshot, stored);
    return std::shared_ptr<const void>(std::move(snapshot));
  });
  return stored.success ? 0 : 1;
}

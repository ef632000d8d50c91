// A ProbeResult of a healthy server (ESMTP, STARTTLS, a verified certificate valid 90 more days
// at kNow), the starting point of the verdict and rendering tests.
#pragma once

#include <cstdint>

#include "probes/probe_result.h"

namespace smtp::testing {

constexpr std::int64_t kNow = 1'800'000'000;  // Unix seconds
constexpr std::int64_t kDay = 86400;

inline ProbeResult HealthyResult() {
  ProbeResult result;
  result.host = "192.0.2.25";
  result.port = 25;
  result.success = true;
  result.esmtp = true;
  result.capabilities = Capabilities{};
  result.capabilities->starttls = true;
  result.starttls_offered = true;
  result.starttls_success = true;
  result.tls = TlsInfo{};
  result.tls->handshake_ok = true;
  result.tls->chain_verified = true;
  result.tls->hostname_verified = true;
  result.tls->earliest_not_after = kNow + 90 * kDay;
  return result;
}

}  // namespace smtp::testing

// Hand-built probe results for the status page: one builder per situation an operator meets,
// and a fleet of thirteen varied targets (the golden page and status_page_demo both render it).
// Every time is relative to kFleetNow, so the output never depends on the clock.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "daemon/status_page.h"

namespace smtp::testing {

inline constexpr std::int64_t kFleetNow = 1717243200;  // 2024-06-01 12:00:00 UTC
inline constexpr std::int64_t kDay = 86400;

// A Postfix answering in 12 ms, ESMTP with STARTTLS, TLSv1.3, a verified certificate that
// expires `cert_days` days after kFleetNow, probed `age_seconds` before it. No relay test.
ProbeResult Healthy(const std::string& host, std::int64_t cert_days = 87,
                    std::int64_t age_seconds = 12);
// The connection was refused: port closed.
ProbeResult Refused(const std::string& host);
// The greeting was "554 5.7.1 <detail>".
ProbeResult GreetingRejected(const std::string& host, const std::string& detail);
// An old Sendmail that answers EHLO with 502 and accepts HELO; no STARTTLS.
ProbeResult HeloOnly(const std::string& host);
// A relay test that ran with these outcomes, variants named after nmap's smtp-open-relay.
RelayResult Relay(const std::vector<RelayOutcome>& outcomes);

TargetSnapshot Snapshot(const std::string& target, ProbeResult result);
TargetSnapshot Pending(const std::string& target);

// Thirteen targets in scrambled order: healthy ones, down ones (refused, timeout, 554, STARTTLS
// handshake failure), an open relay, pending, certificates at 2 and 10 days and expired, HELO
// only, implicit TLS, an inconclusive relay test, an IPv6 literal and a hostile banner.
std::vector<StatusTarget> Fleet();
StatusPageInput FleetInput();

}  // namespace smtp::testing

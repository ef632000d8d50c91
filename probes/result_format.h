// Renderings of a ProbeResult for people and scripts: the telnet-like transcript, the verdict,
// and JSON. Used by `smtp_exporter probe` and by the daemon's /probe?debug=true. Pure.
#pragma once

#include <string>
#include <vector>

#include "probes/probe_result.h"

namespace smtp {

// The verdict of `smtp_exporter probe`: healthy when the probe succeeded (which already includes
// "STARTTLS required but missing, failed or not verified") and the server is not an open relay.
// `findings` lists what an operator should look at even when healthy.
struct Verdict {
  bool healthy = false;
  std::string summary;                // one line, e.g. "DOWN: greeting rejected (554)"
  std::vector<std::string> findings;  // e.g. "certificate not verified: self-signed certificate"
};
Verdict Judge(const ProbeResult& result, std::int64_t now_unix_seconds);

// "[   0.4 ms] S: 220 mx.test ESMTP Postfix" per transcript line.
std::string FormatTranscript(const ProbeResult& result);

// Step timings, greeting, capabilities, TLS facts, relay results and the verdict.
std::string FormatReport(const ProbeResult& result, const Verdict& verdict);

// The whole result as one JSON object (keys documented in README.md).
std::string ToJson(const ProbeResult& result, const Verdict& verdict);

}  // namespace smtp

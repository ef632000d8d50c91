// Renderings of a ProbeResult and its Verdict (probes/verdict.h) for people and scripts: the
// telnet-like transcript, the report, and JSON. Used by `smtp_exporter probe` and by the daemon's
// /probe?debug=true. Pure.
#pragma once

#include <string>
#include <vector>

#include "probes/probe_result.h"
#include "probes/verdict.h"

namespace smtp {

// "[   0.4 ms] S: 220 mx.test ESMTP Postfix" per transcript line.
std::string FormatTranscript(const ProbeResult& result);

// Step timings, greeting, capabilities, TLS facts, relay results and the verdict.
std::string FormatReport(const ProbeResult& result, const Verdict& verdict);

// The whole result as one JSON object (keys documented in README.md).
std::string ToJson(const ProbeResult& result, const Verdict& verdict);

}  // namespace smtp

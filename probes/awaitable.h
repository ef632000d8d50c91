// The coroutine forms of the probe engine (probes/prober.h) and of the target expansion
// (probes/expansion.h), for callers that already run on a Boost.Asio executor. Kept apart from
// those headers so that Boost stays out of the translation units that do not need it.
//
// Each runs on the executor of the coroutine that awaits it (every handler, DNS and socket
// included, is dispatched there) and never throws: a thrown exception, which is a bug since
// failures are data, becomes a failed result (InternalErrorResult, probes/probe_result.h).
#pragma once

#include <utility>
// ^ Before any Boost.Asio header (g++ 12 coroutines with Boost 1.74); stops include sorting.
#include <boost/asio/awaitable.hpp>
#include <vector>

#include "probes/expansion.h"
#include "probes/probe_result.h"
#include "probes/probe_spec.h"

namespace smtp {

// One probe of `spec`, with the contract of probes/prober.h.
boost::asio::awaitable<ProbeResult> Probe(ProbeSpec spec);

// The series of a configured target, with the contract of probes/expansion.h (never empty; a
// thrown exception yields the target's own series with `failure` set to the internal error).
boost::asio::awaitable<std::vector<ExpandedTarget>> Expand(ExpansionRequest request);

}  // namespace smtp

// TEMPORARY (replaced by the awaitable forms being written on branch issue8-d).
#pragma once

#include <boost/asio/awaitable.hpp>

#include "probes/expansion.h"
#include "probes/probe_result.h"
#include "probes/probe_spec.h"

namespace smtp {

boost::asio::awaitable<ProbeResult> Probe(ProbeSpec spec);
boost::asio::awaitable<std::vector<ExpandedTarget>> Expand(ExpansionRequest request);

}  // namespace smtp

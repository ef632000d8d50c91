// The probe engine: runs one SMTP probe (DESIGN §1) and returns its ProbeResult.
//
//   resolve -> connect -> [tls] -> greeting -> ehlo (helo) -> starttls -> tls_ehlo -> relay -> quit
//
// Contract:
//  - One deadline for the whole probe (spec.timeout): nothing, not even a server that drips one
//    byte at a time, makes a probe last longer than the timeout plus scheduling noise.
//  - The probe stops at the first failing step, records it with a reason from the closed set in
//    FailureReason, and still sends QUIT when the channel is sane (a complete reply was just read).
//  - The engine never sends DATA or BDAT; every command passes through FormatCommand.
//  - Memory per probe is bounded whatever the server sends (ReplyLimits, transcript caps).
//  - Failures are data: a probe always completes with a result, never with an exception.
//
// Three forms of one engine: the callback and blocking forms below, and the coroutine form
// (probes/awaitable.h, which pulls in Boost.Asio). What to probe for a configured target, one
// probe per series, is the target expansion's (probes/expansion.h, included here since every
// caller of the engine expands first).
#pragma once

#include <functional>

#include "probes/expansion.h"
#include "probes/probe_result.h"
#include "probes/probe_spec.h"

namespace boost::asio {
class io_context;
}

namespace smtp {

// Starts a probe on `io`; `done` is called once, on `io`'s thread, with the result.
void StartProbe(boost::asio::io_context& io, ProbeSpec spec, std::function<void(ProbeResult)> done);

// Runs one probe to completion on a private io_context. Blocking.
ProbeResult RunProbe(const ProbeSpec& spec);

}  // namespace smtp

#include "probes/prober.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>
#include <memory>
#include <utility>

#include "probes/awaitable.h"
#include "probes/probe_session.h"

namespace smtp {

asio::awaitable<ProbeResult> Probe(ProbeSpec spec) {
  const std::string host = spec.host;
  const std::uint16_t port = spec.port;
  std::exception_ptr error;
  try {
    auto session =
        std::make_shared<ProbeSession>(co_await asio::this_coro::executor, std::move(spec));
    co_return co_await session->Run();
  } catch (...) {
    // Last-resort guard: the engine reports failures as data, so this is a bug if it fires.
    error = std::current_exception();
  }
  ProbeResult result = InternalErrorResult(error);
  result.host = host;
  result.port = port;
  co_return result;
}

void StartProbe(asio::io_context& io, ProbeSpec spec, std::function<void(ProbeResult)> done) {
  // Probe() returns exceptions as results: the completion's exception_ptr is always null.
  asio::co_spawn(io, Probe(std::move(spec)),
                 [done = std::move(done)](std::exception_ptr, ProbeResult result) {
                   done(std::move(result));
                 });
}

ProbeResult RunProbe(const ProbeSpec& spec) {
  asio::io_context io;
  ProbeResult result;
  StartProbe(io, spec, [&result](ProbeResult finished) { result = std::move(finished); });
  io.run();
  return result;
}

}  // namespace smtp

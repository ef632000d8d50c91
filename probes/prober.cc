#include "probes/prober.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
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

MxExpansion ExpandMx(const std::string& domain, const std::string& dns_server,
                     std::chrono::milliseconds timeout) {
  asio::io_context io;
  MxExpansion expansion;
  const auto start = Clock::now();
  std::string error;
  std::unique_ptr<DnsResolver> resolver =
      DnsResolver::Create(io.get_executor(), dns_server, &error);
  if (!resolver) {
    expansion.error = error;
    return expansion;
  }
  asio::steady_timer deadline(io, timeout);
  deadline.async_wait([&](const boost::system::error_code& wait_error) {
    if (!wait_error) resolver->Cancel();
  });
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto answer = co_await LookupMailHosts(*resolver, domain);
        expansion.status = answer.status;
        expansion.error = answer.error;
        expansion.records = std::move(answer.value);
        deadline.cancel();
      },
      asio::detached);
  io.run();
  expansion.duration = Clock::now() - start;
  return expansion;
}

}  // namespace smtp

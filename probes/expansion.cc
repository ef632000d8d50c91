// TEMPORARY (replaced by the probes/ expansion being written on branch issue8-d).
#include "probes/expansion.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>

#include "probes/awaitable.h"
#include "probes/dns_resolver.h"
#include "probes/prober.h"
#include "probes/text.h"

namespace smtp {
namespace asio = boost::asio;
using SteadyClock = std::chrono::steady_clock;

namespace {

std::string HostPort(const std::string& host, std::uint16_t port) {
  return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
         std::to_string(port);
}

ProbeResult DnsFailure(const std::string& host, std::uint16_t port, DnsStatus status,
                       const std::string& error, std::chrono::nanoseconds took) {
  ProbeResult result;
  result.host = host;
  result.port = port;
  result.started_at = std::chrono::system_clock::now() -
                      std::chrono::duration_cast<std::chrono::system_clock::duration>(took);
  result.duration = took;
  StepResult step;
  step.step = Step::kResolve;
  step.duration = took;
  step.reason = status == DnsStatus::kCancelled ? FailureReason::kTimeout : FailureReason::kDns;
  step.detail = error;
  result.steps.push_back(step);
  result.failed_step = Step::kResolve;
  result.failure_reason = step.reason;
  result.failure_detail = error;
  return result;
}

}  // namespace

asio::awaitable<std::vector<ExpandedTarget>> Expand(ExpansionRequest request) {
  auto executor = co_await asio::this_coro::executor;
  const Target& target = request.target;
  const std::uint16_t port = target.port != 0 ? target.port : request.default_port;
  const bool per_address = request.ip_protocol == IpProtocol::kBoth;
  std::vector<ExpandedTarget> hosts;
  std::unique_ptr<DnsResolver> resolver;
  asio::steady_timer deadline(executor);
  if (target.mx || (per_address && !IsIpLiteral(target.host))) {
    std::string error;
    resolver = DnsResolver::Create(executor, request.dns_server, &error);
    if (!resolver) {
      ExpandedTarget failed;
      failed.host = target.host;
      failed.port = port;
      failed.label = request.label;
      failed.failure =
          DnsFailure(target.host, port, DnsStatus::kError, error, std::chrono::nanoseconds(0));
      co_return std::vector<ExpandedTarget>{failed};
    }
    DnsResolver* raw = resolver.get();
    deadline.expires_after(request.timeout);
    deadline.async_wait([raw](const boost::system::error_code& wait_error) {
      if (!wait_error) raw->Cancel();
    });
  }
  if (target.mx) {
    const auto start = SteadyClock::now();
    auto answer = co_await LookupMailHosts(*resolver, target.host);
    if (!answer.ok() || answer.value.empty()) {
      ExpandedTarget failed;
      failed.host = target.host;
      failed.port = port;
      failed.label = request.label;
      failed.mx_records = 0;
      failed.failure = DnsFailure(target.host, port, answer.status,
                                  "MX lookup for " + target.host + ": " + answer.error,
                                  SteadyClock::now() - start);
      co_return std::vector<ExpandedTarget>{failed};
    }
    for (const MxRecord& record : answer.value) {
      ExpandedTarget child;
      child.host = record.host;
      child.port = port;
      child.label = HostPort(record.host, port);
      child.key = "|" + ToLowerAscii(record.host);
      child.domain = target.host;
      child.mx_records = static_cast<int>(answer.value.size());
      hosts.push_back(std::move(child));
    }
  } else {
    ExpandedTarget child;
    child.host = target.host;
    child.port = port;
    child.label = request.label;
    hosts.push_back(std::move(child));
  }
  if (!per_address) co_return hosts;
  std::vector<ExpandedTarget> children;
  for (ExpandedTarget& host : hosts) {
    if (IsIpLiteral(host.host)) {
      children.push_back(std::move(host));
      continue;
    }
    const auto start = SteadyClock::now();
    auto addresses = co_await resolver->LookupAddresses(host.host, IpProtocol::kBoth);
    if (!addresses.ok()) {
      host.failure = DnsFailure(host.host, host.port, addresses.status,
                                "cannot resolve " + host.host + ": " + addresses.error,
                                SteadyClock::now() - start);
      children.push_back(std::move(host));
      continue;
    }
    for (const std::string& address : addresses.value) {
      ExpandedTarget child = host;
      child.address = address;
      child.key = host.key + "|" + address;
      children.push_back(std::move(child));
    }
  }
  co_return children;
}

asio::awaitable<ProbeResult> Probe(ProbeSpec spec) {
  auto executor = co_await asio::this_coro::executor;
  auto& io = asio::query(executor, asio::execution::context);
  co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(ProbeResult)>(
      [&io](auto handler, ProbeSpec s) {
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        StartProbe(static_cast<asio::io_context&>(io), std::move(s),
                   [shared](ProbeResult r) { (*shared)(std::move(r)); });
      },
      asio::use_awaitable, std::move(spec));
}

}  // namespace smtp

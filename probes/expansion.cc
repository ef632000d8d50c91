// The target expansion's lookups (probes/expansion.h) on the Asio loop: one resolver and one
// deadline per expansion; probes/expansion_series.cc turns the answers into series.
#include "probes/expansion.h"

#include <utility>
// ^ Before any Boost.Asio header (g++ 12 coroutines); this line stops include sorting moving it.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <memory>

#include "probes/awaitable.h"
#include "probes/dns_resolver.h"
#include "probes/text.h"

namespace smtp {
namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

// The lookups of one expansion, all under one deadline. Once it has passed, lookups in flight
// complete as cancelled (the resolver is cancelled) and no new one starts.
class Lookups {
 public:
  Lookups(asio::any_io_executor executor, std::unique_ptr<DnsResolver> resolver,
          std::chrono::milliseconds timeout)
      : resolver_(std::move(resolver)), deadline_(executor, timeout) {
    // The handler may run after the expansion has finished (it was queued already): it holds
    // nothing the expansion owns alone.
    deadline_.async_wait([resolver = std::weak_ptr<DnsResolver>(resolver_),
                          expired = expired_](const boost::system::error_code& error) {
      if (error) return;  // cancelled: the expansion finished first
      *expired = true;
      if (auto alive = resolver.lock()) alive->Cancel();
    });
  }
  ~Lookups() { deadline_.cancel(); }

  asio::awaitable<DnsAnswer<std::vector<MxRecord>>> MailHosts(std::string domain) {
    if (*expired_) co_return Expired<std::vector<MxRecord>>(domain + " MX");
    co_return co_await LookupMailHosts(*resolver_, std::move(domain));
  }

  asio::awaitable<DnsAnswer<std::vector<std::string>>> Addresses(std::string host) {
    if (*expired_) co_return Expired<std::vector<std::string>>(host + " A/AAAA");
    co_return co_await resolver_->LookupAddresses(std::move(host), IpProtocol::kBoth);
  }

 private:
  template <typename T>
  static DnsAnswer<T> Expired(const std::string& what) {
    return DnsAnswer<T>{DnsStatus::kCancelled, "deadline passed before the lookup of " + what, {}};
  }

  std::shared_ptr<DnsResolver> resolver_;
  asio::steady_timer deadline_;
  std::shared_ptr<bool> expired_ = std::make_shared<bool>(false);
};

asio::awaitable<std::vector<ExpandedTarget>> RunExpansion(ExpansionRequest request) {
  ExpandedTarget target = TargetSeries(request);
  if (!ExpansionNeedsDns(request)) co_return std::vector<ExpandedTarget>{std::move(target)};
  const asio::any_io_executor executor = co_await asio::this_coro::executor;
  std::string error;
  std::unique_ptr<DnsResolver> resolver = DnsResolver::Create(executor, request.dns_server, &error);
  if (!resolver) {
    if (request.target.mx) target.mx_records = 0;
    target.failure = ExpansionFailure(target.host, target.port, DnsStatus::kError, error,
                                      std::chrono::nanoseconds(0));
    co_return std::vector<ExpandedTarget>{std::move(target)};
  }
  Lookups lookups(executor, std::move(resolver), request.timeout);

  std::vector<ExpandedTarget> hosts{target};
  if (request.target.mx) {
    const auto start = Clock::now();
    auto mail_hosts = co_await lookups.MailHosts(request.target.host);
    hosts = MailHostSeries(request, mail_hosts, Clock::now() - start);
  }
  if (request.ip_protocol != IpProtocol::kBoth) co_return hosts;

  std::vector<ExpandedTarget> series;
  for (ExpandedTarget& host : hosts) {
    if (host.failure || IsIpLiteral(host.host)) {
      series.push_back(std::move(host));
      continue;
    }
    const auto start = Clock::now();
    auto addresses = co_await lookups.Addresses(host.host);
    for (ExpandedTarget& one : AddressSeries(host, addresses, Clock::now() - start)) {
      series.push_back(std::move(one));
    }
  }
  co_return series;
}

}  // namespace

asio::awaitable<std::vector<ExpandedTarget>> Expand(ExpansionRequest request) {
  ExpandedTarget fallback = TargetSeries(request);
  std::exception_ptr error;
  try {
    co_return co_await RunExpansion(std::move(request));
  } catch (...) {
    // Last-resort guard, as in Probe(): failures are data, so this is a bug if it fires.
    error = std::current_exception();
  }
  fallback.failure = InternalErrorResult(error);
  fallback.failure->host = fallback.host;
  fallback.failure->port = fallback.port;
  co_return std::vector<ExpandedTarget>{std::move(fallback)};
}

void StartExpansion(asio::io_context& io, ExpansionRequest request,
                    std::function<void(std::vector<ExpandedTarget>)> done) {
  // Expand() returns exceptions as series: the completion's exception_ptr is always null.
  asio::co_spawn(io, Expand(std::move(request)),
                 [done = std::move(done)](std::exception_ptr, std::vector<ExpandedTarget> series) {
                   done(std::move(series));
                 });
}

std::vector<ExpandedTarget> ExpandTarget(const ExpansionRequest& request) {
  if (!ExpansionNeedsDns(request)) return {TargetSeries(request)};
  asio::io_context io;
  std::vector<ExpandedTarget> series;
  StartExpansion(io, request,
                 [&series](std::vector<ExpandedTarget> done) { series = std::move(done); });
  io.run();
  return series;
}

}  // namespace smtp

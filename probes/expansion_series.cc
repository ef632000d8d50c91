// The pure steps of the target expansion (probes/expansion.h): DNS answers in, series out.
#include <utility>

#include "probes/expansion.h"
#include "probes/text.h"

namespace smtp {
namespace {

// "host:port", or "[v6]:port" for an IPv6 literal (RFC 3986 §3.2.2 brackets).
std::string LabelOf(const std::string& host, std::uint16_t port) {
  return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
         std::to_string(port);
}

}  // namespace

bool ExpansionNeedsDns(const ExpansionRequest& request) {
  return request.target.mx ||
         (request.ip_protocol == IpProtocol::kBoth && !IsIpLiteral(request.target.host));
}

ExpandedTarget TargetSeries(const ExpansionRequest& request) {
  ExpandedTarget series;
  series.host = request.target.host;
  series.port = request.target.port != 0 ? request.target.port : request.default_port;
  series.label = request.label;
  if (request.target.mx) series.domain = request.target.host;
  return series;
}

std::vector<ExpandedTarget> MailHostSeries(const ExpansionRequest& request,
                                           const DnsAnswer<std::vector<MxRecord>>& mail_hosts,
                                           std::chrono::nanoseconds took) {
  ExpandedTarget target = TargetSeries(request);
  if (!mail_hosts.ok() || mail_hosts.value.empty()) {
    // The target stays visible as down (reason dns) instead of vanishing with its MX hosts.
    const std::string error = mail_hosts.ok() ? "empty answer" : mail_hosts.error;
    target.mx_records = 0;
    target.failure = ExpansionFailure(target.host, target.port, mail_hosts.status,
                                      "MX lookup for " + target.host + ": " + error, took);
    return {std::move(target)};
  }
  std::vector<ExpandedTarget> series;
  for (const MxRecord& record : mail_hosts.value) {
    ExpandedTarget host = target;
    host.host = record.host;
    host.label = LabelOf(record.host, target.port);
    host.key = "|" + ToLowerAscii(record.host);
    host.mx_records = static_cast<int>(mail_hosts.value.size());
    host.mx_preference = record.preference;
    series.push_back(std::move(host));
  }
  return series;
}

std::vector<ExpandedTarget> AddressSeries(const ExpandedTarget& host,
                                          const DnsAnswer<std::vector<std::string>>& addresses,
                                          std::chrono::nanoseconds took) {
  if (!addresses.ok() || addresses.value.empty()) {
    ExpandedTarget failed = host;
    const std::string error = addresses.ok() ? "empty answer" : addresses.error;
    failed.failure = ExpansionFailure(host.host, host.port, addresses.status,
                                      "cannot resolve " + host.host + ": " + error, took);
    return {std::move(failed)};
  }
  std::vector<ExpandedTarget> series;
  for (const std::string& address : addresses.value) {
    ExpandedTarget one = host;
    one.address = address;
    one.key += "|" + address;
    series.push_back(std::move(one));
  }
  return series;
}

ProbeResult ExpansionFailure(const std::string& host, std::uint16_t port, DnsStatus status,
                             const std::string& detail, std::chrono::nanoseconds took) {
  using SystemClock = std::chrono::system_clock;
  ProbeResult result;
  result.host = host;
  result.port = port;
  result.started_at = SystemClock::now() - std::chrono::duration_cast<SystemClock::duration>(took);
  result.duration = took;
  StepResult step;
  step.step = Step::kResolve;
  step.duration = took;
  step.reason = status == DnsStatus::kCancelled ? FailureReason::kTimeout : FailureReason::kDns;
  step.detail = detail;
  result.steps.push_back(step);
  result.failed_step = Step::kResolve;
  result.failure_reason = step.reason;
  result.failure_detail = detail;
  // As the probe notes its own failed steps (probes/probe_session.cc FailStep).
  result.transcript.push_back(
      {took, '*', std::string("resolve failed (") + ToString(step.reason) + "): " + detail});
  return result;
}

}  // namespace smtp

#include "daemon/probe_command.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>

#include "daemon/duration.h"
#include "probes/prober.h"
#include "probes/relay_variants.h"
#include "probes/result_format.h"
#include "probes/target.h"
#include "probes/text.h"

namespace smtp {
namespace {

constexpr int kExitHealthy = 0;
constexpr int kExitUnhealthy = 1;
constexpr int kExitUsage = 2;

// RFC 5321 §4.1.1.1: EHLO takes the client's FQDN. Use this machine's name when it is fully
// qualified, else a name that is obviously a probe's (RFC 2606 .invalid).
std::string DefaultEhloName() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) == 0 &&
      std::string_view(name).find('.') != std::string_view::npos) {
    return name;
  }
  return "smtp-exporter.invalid";
}

struct Options {
  std::string target;
  std::string timeout = "10s";
  std::string starttls = "opportunistic";
  bool implicit_tls = false;
  std::string ehlo_name = DefaultEhloName();
  bool relay_test = false;
  std::string relay_variants = "basic";
  std::string relay_timeout = "60s";
  std::string mail_from = RelayTestOptions{}.mail_from;
  std::string rcpt_to = RelayTestOptions{}.rcpt_to;
  std::string ca_file;
  std::string server_name;
  bool no_verify = false;
  bool ip4 = false;
  bool ip6 = false;
  std::string dns_server;
  bool no_reverse_dns = false;
  std::string output = "text";
};

// Checks the options and builds the spec; returns an error message naming the flag, or "".
std::string BuildSpec(const Options& options, const Target& target, ProbeSpec* spec) {
  auto timeout = ParseDuration(options.timeout);
  if (!timeout || timeout->count() <= 0)
    return "--timeout: invalid duration \"" + options.timeout + "\"";
  auto relay_timeout = ParseDuration(options.relay_timeout);
  if (!relay_timeout || relay_timeout->count() <= 0)
    return "--relay-timeout: invalid duration \"" + options.relay_timeout + "\"";
  auto starttls = ParseStartTlsMode(options.starttls);
  if (!starttls) return "--starttls: must be off, opportunistic or required";
  spec->host = target.host;
  spec->port = target.port != 0 ? target.port : (options.implicit_tls ? 465 : 25);
  spec->timeout = *timeout;
  spec->ehlo_name = options.ehlo_name;
  spec->starttls = *starttls;
  spec->implicit_tls = options.implicit_tls;
  spec->tls.verify = !options.no_verify;
  spec->tls.ca_file = options.ca_file;
  spec->tls.server_name = options.server_name;
  spec->ip_protocol = options.ip4 == options.ip6
                          ? (options.ip4 ? IpProtocol::kBoth : IpProtocol::kIp4)
                      : options.ip6 ? IpProtocol::kIp6
                                    : IpProtocol::kIp4;
  spec->dns_server = options.dns_server;
  spec->check_fcrdns = !options.no_reverse_dns;
  spec->relay.enabled = options.relay_test;
  spec->relay.timeout = *relay_timeout;
  spec->relay.mail_from = options.mail_from;
  spec->relay.rcpt_to = options.rcpt_to;
  if (options.relay_variants == "all") {
    spec->relay.variants = AllRelayVariants();
  } else if (options.relay_variants != "basic") {
    std::string_view list = options.relay_variants;
    while (!list.empty()) {
      const std::size_t comma = list.find(',');
      std::string name(list.substr(0, comma));
      if (!IsRelayVariant(name)) return "--relay-variants: unknown variant \"" + name + "\"";
      spec->relay.variants.push_back(name);
      list.remove_prefix(comma == std::string_view::npos ? list.size() : comma + 1);
    }
  }
  for (const auto& [flag, value] :
       {std::pair{"--ehlo-name", &options.ehlo_name}, std::pair{"--mail-from", &options.mail_from},
        std::pair{"--rcpt-to", &options.rcpt_to}}) {
    if (value->find_first_of("\r\n <>") != std::string::npos) {
      return std::string(flag) + ": must not contain spaces, angle brackets or line breaks";
    }
  }
  if (options.ehlo_name.empty()) return "--ehlo-name: must not be empty";
  if (options.rcpt_to.find('@') == std::string::npos) return "--rcpt-to: needs local@domain";
  return "";
}

void Print(const ProbeResult& result, const Options& options, const Verdict& verdict) {
  if (options.output == "json") {
    std::cout << ToJson(result, verdict);
  } else {
    std::cout << FormatTranscript(result) << FormatReport(result, verdict);
  }
}

// The "=== " line before each series when a target has several: "MX 10 mx1.example.org" for an
// MX host, then the address when ip_protocol both expanded it.
std::string SeriesHeader(const ExpandedTarget& series) {
  std::string header = series.mx_preference
                           ? "MX " + std::to_string(*series.mx_preference) + " " + series.host
                           : series.host;
  if (series.address) header += " " + *series.address;
  return header;
}

// One probe per series of the target's expansion (probes/expansion.h): every MX host of an
// mx: target in preference order (RFC 5321 §5.1), every address with -4 -6. A target that is
// one series prints as a single probe; several get a "=== " line each in text, or a JSON array.
// Healthy only when every series is.
int ProbeEachSeries(const Options& options, const Target& target, const ProbeSpec& spec) {
  ExpansionRequest request;
  request.target = target;
  request.label = options.target;
  request.default_port = spec.port;
  request.ip_protocol = spec.ip_protocol;
  request.dns_server = spec.dns_server;
  request.timeout = spec.timeout;
  const std::vector<ExpandedTarget> series = ExpandTarget(request);
  if (target.mx && series.size() == 1 && series[0].failure && series[0].key.empty()) {
    // The MX lookup itself failed: there is no host to probe.
    std::cerr << "smtp_exporter probe: " << series[0].failure->failure_detail << "\n";
    return kExitUnhealthy;
  }
  const bool several = target.mx || series.size() > 1;
  const bool json = options.output == "json";
  bool all_healthy = true;
  if (several && json) std::cout << "[";
  for (std::size_t i = 0; i < series.size(); ++i) {
    if (several && json && i > 0) std::cout << ",";
    if (several && !json) std::cout << (i ? "\n" : "") << "=== " << SeriesHeader(series[i]) << "\n";
    ProbeResult result;
    if (series[i].failure) {
      result = *series[i].failure;
    } else {
      ProbeSpec one = spec;
      one.host = series[i].host;
      one.port = series[i].port;
      one.address = series[i].address;
      result = RunProbe(one);
    }
    Verdict verdict = Judge(result, WholeUnixSeconds(std::chrono::system_clock::now()));
    all_healthy = all_healthy && verdict.healthy;
    Print(result, options, verdict);
  }
  if (several && json) std::cout << "]\n";
  return all_healthy ? kExitHealthy : kExitUnhealthy;
}

}  // namespace

int RunProbeCommand(int argc, char** argv) {
  CLI::App app{
      "Probe one mail server once and print the SMTP conversation and a verdict.\n"
      "Exit status: 0 healthy, 1 unhealthy (down, required TLS failing, open relay), "
      "2 bad usage.",
      "smtp_exporter probe"};
  Options options;
  app.add_option("target", options.target, "HOST[:PORT], [IPv6]:PORT or mx:DOMAIN")->required();
  app.add_option("--timeout", options.timeout,
                 "deadline for the health steps (connect to QUIT, relay test aside)")
      ->capture_default_str();
  app.add_option("--starttls", options.starttls, "off | opportunistic | required")
      ->capture_default_str();
  app.add_flag("--implicit-tls", options.implicit_tls, "TLS from the first byte (SMTPS, port 465)");
  app.add_option("--ehlo-name", options.ehlo_name, "name sent with EHLO/HELO")
      ->capture_default_str();
  app.add_flag("--relay-test", options.relay_test,
               "test for an open relay (MAIL/RCPT/RSET, never DATA)");
  app.add_option("--relay-variants", options.relay_variants, "basic | all | comma-separated names")
      ->capture_default_str();
  app.add_option("--relay-timeout", options.relay_timeout,
                 "the relay test's own time budget; variants it does not reach are not run")
      ->capture_default_str();
  app.add_option("--mail-from", options.mail_from, "sender for the relay test")
      ->capture_default_str();
  app.add_option("--rcpt-to", options.rcpt_to, "foreign recipient for the relay test")
      ->capture_default_str();
  app.add_option("--ca-file", options.ca_file,
                 "PEM CA bundle to verify against (default: system store)");
  app.add_option("--server-name", options.server_name,
                 "SNI and name to verify (default: the host)");
  app.add_flag("--no-verify", options.no_verify, "do not fail required TLS on verification errors");
  app.add_flag("-4", options.ip4, "IPv4 only (default)");
  app.add_flag("-6", options.ip6, "IPv6 only (-4 -6: prefer IPv6, fall back to IPv4)");
  app.add_option("--dns-server", options.dns_server,
                 "DNS server HOST[:PORT] (default: system resolver)");
  app.add_flag("--no-reverse-dns", options.no_reverse_dns,
               "skip the forward-confirmed reverse DNS check");
  app.add_option("--output", options.output, "text | json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& help) {
    return app.exit(help);
  } catch (const CLI::ParseError& error) {
    std::cerr << "smtp_exporter probe: " << error.what() << "\n";
    return kExitUsage;
  }

  std::string error;
  std::optional<Target> target = ParseTarget(options.target, &error);
  if (!target) {
    std::cerr << "smtp_exporter probe: target: " << error << "\n";
    return kExitUsage;
  }
  ProbeSpec spec;
  if (std::string message = BuildSpec(options, *target, &spec); !message.empty()) {
    std::cerr << "smtp_exporter probe: " << message << "\n";
    return kExitUsage;
  }

  return ProbeEachSeries(options, *target, spec);
}

}  // namespace smtp

#include "daemon/probe_command.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>

#include "daemon/module.h"
#include "probes/prober.h"
#include "probes/result_format.h"
#include "probes/target.h"
#include "probes/text.h"

namespace smtp {
namespace {

constexpr int kExitHealthy = 0;
constexpr int kExitUnhealthy = 1;
constexpr int kExitUsage = 2;

// RFC 5321 §4.1.1.1: EHLO takes the client's FQDN. Use this machine's name when it is fully
// qualified (and a valid name: the user did not type it, so it must not fail validation), else a
// name that is obviously a probe's (RFC 2606 .invalid).
std::string DefaultEhloName() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) == 0 &&
      std::string_view(name).find('.') != std::string_view::npos && IsHostName(name)) {
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
  bool mta_sts = false;
  std::string mta_sts_port = "443";
  bool tls_rpt = false;
  bool dane = false;
  std::string dnsbl;  // ZONE[,ZONE...]
  std::string output = "text";
  std::string auth_user;
  std::string auth_password_file;
  std::string auth_mechanisms;
  bool auth_allow_plaintext = false;
  bool user_enumeration = false;
  std::string user_enumeration_name = UserEnumerationOptions{}.name;
};

// One flag per Options member; the module's flags are checked by BuildSpec, not here, so that
// their rules and messages are the config's.
void AddFlags(CLI::App& app, Options& options) {
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
  app.add_flag("-6", options.ip6,
               "IPv6 only (-4 -6: every address of both families, one probe each)");
  app.add_option("--dns-server", options.dns_server,
                 "DNS server IP[:PORT] (default: system resolver)");
  app.add_flag("--no-reverse-dns", options.no_reverse_dns,
               "skip the forward-confirmed reverse DNS check");
  app.add_option("--auth-user", options.auth_user, "authenticate (SMTP AUTH) as this user");
  app.add_option("--auth-password-file", options.auth_password_file,
                 "file whose first line is the AUTH password");
  app.add_option("--auth-mechanisms", options.auth_mechanisms,
                 "comma-separated, in order of preference (default: SCRAM-SHA-256,SCRAM-SHA-1,"
                 "CRAM-MD5,PLAIN,LOGIN)");
  app.add_flag("--auth-allow-plaintext", options.auth_allow_plaintext,
               "authenticate even without TLS");
  app.add_flag("--user-enumeration", options.user_enumeration,
               "check whether VRFY/EXPN (and RCPT, with --relay-test) confirm users");
  app.add_option("--user-enumeration-name", options.user_enumeration_name,
                 "the real local name VRFY/EXPN ask about")
      ->capture_default_str();
  app.add_flag("--mta-sts", options.mta_sts,
               "mx: targets: check the domain's MTA-STS record and policy, and each MX against "
               "it (RFC 8461)");
  app.add_option("--mta-sts-port", options.mta_sts_port, "port of the MTA-STS policy server")
      ->capture_default_str();
  app.add_flag("--tls-rpt", options.tls_rpt,
               "mx: targets: check the domain's TLS-RPT record (_smtp._tls, RFC 8460)");
  app.add_flag("--dane", options.dane,
               "check each MX's TLSA records (RFC 7672) against its certificate chain; trusts "
               "the AD bit of --dns-server, which must be a validating resolver");
  app.add_option("--dnsbl", options.dnsbl,
                 "ZONE[,ZONE...]: ask these DNS blocklists about each MX address (RFC 5782)");
  app.add_option("--output", options.output, "text | json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
}

// The flag each module input comes from, for errors.
const char* FlagOf(ModuleField field) {
  switch (field) {
    case ModuleField::kTimeout:
      return "--timeout";
    case ModuleField::kEhloName:
      return "--ehlo-name";
    case ModuleField::kStartTls:
      return "--starttls";
    case ModuleField::kTlsServerName:
      return "--server-name";
    case ModuleField::kTlsCaFile:
      return "--ca-file";
    case ModuleField::kIpProtocol:
      return "-4/-6";
    case ModuleField::kDnsServer:
      return "--dns-server";
    case ModuleField::kRelayInterval:
      return "relay interval";  // no flag: one probe has no schedule
    case ModuleField::kRelayTimeout:
      return "--relay-timeout";
    case ModuleField::kRelayMailFrom:
      return "--mail-from";
    case ModuleField::kRelayRcptTo:
      return "--rcpt-to";
    case ModuleField::kRelayVariants:
      return "--relay-variants";
    case ModuleField::kSeries:
      return "series";  // no flag: the probe command prints every fact
    case ModuleField::kAuth:
      return "--auth-user";  // with --auth-password-file
    case ModuleField::kAuthUsername:
      return "--auth-user";
    case ModuleField::kAuthPasswordFile:
      return "--auth-password-file";
    case ModuleField::kAuthMechanisms:
      return "--auth-mechanisms";
    case ModuleField::kUserEnumerationName:
      return "--user-enumeration-name";
    case ModuleField::kMtaStsPort:
      return "--mta-sts-port";
    case ModuleField::kDnsbl:
      return "--dnsbl";
  }
  return "?";
}

// "a,b,c" -> {"a", "b", "c"}; "" -> {""}.
std::vector<std::string> CommaList(const std::string& list) {
  std::vector<std::string> names;
  for (std::size_t start = 0;;) {
    const std::size_t comma = list.find(',', start);
    names.push_back(list.substr(start, comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return names;
}

// The flags as a module, as a config file would spell it, for ValidateModule.
ModuleInput InputOf(const Options& options) {
  ModuleInput input;
  input.timeout = options.timeout;
  input.ehlo_name = options.ehlo_name;
  input.starttls = options.starttls;
  input.implicit_tls = options.implicit_tls;
  input.tls_verify = !options.no_verify;
  input.tls_server_name = options.server_name;
  input.tls_ca_file = options.ca_file;
  // -4 alone or neither: ip4 (the default); -6: ip6; both: one probe per address of either
  // family.
  input.ip_protocol = options.ip6 ? (options.ip4 ? "both" : "ip6") : "ip4";
  input.dns_server = options.dns_server;
  input.relay_enabled = options.relay_test;
  input.relay_timeout = options.relay_timeout;
  input.relay_mail_from = options.mail_from;
  input.relay_rcpt_to = options.rcpt_to;
  // "basic" and "all" are words; anything else is a comma-separated list ("" is neither, and
  // ValidateModule refuses it as a word).
  if (options.relay_variants.empty() || options.relay_variants == "basic" ||
      options.relay_variants == "all") {
    input.relay_variants = options.relay_variants;
  } else {
    input.relay_variants = CommaList(options.relay_variants);
  }
  input.user_enumeration_enabled = options.user_enumeration;
  input.user_enumeration_name = options.user_enumeration_name;
  const bool auth = !options.auth_user.empty() || !options.auth_password_file.empty() ||
                    !options.auth_mechanisms.empty() || options.auth_allow_plaintext;
  if (auth) {
    input.auth_set = true;
    if (!options.auth_user.empty()) input.auth_username = options.auth_user;
    if (!options.auth_password_file.empty()) input.auth_password_file = options.auth_password_file;
    if (!options.auth_mechanisms.empty())
      input.auth_mechanisms = CommaList(options.auth_mechanisms);
    input.auth_allow_plaintext = options.auth_allow_plaintext;
  }
  input.mta_sts = options.mta_sts;
  input.mta_sts_port = options.mta_sts_port;
  input.tls_rpt = options.tls_rpt;
  input.dane = options.dane;
  if (!options.dnsbl.empty()) input.dnsbl = CommaList(options.dnsbl);
  return input;
}

// Checks the options with the config's module rules (module.h) and builds the spec; returns an
// error message naming the flag, or "".
std::string BuildSpec(const Options& options, const Target& target, ProbeSpec* spec) {
  const ModuleResult module = ValidateModule(InputOf(options), /*base_dir=*/"");
  if (module.error) return std::string(FlagOf(module.error->field)) + ": " + module.error->message;
  *spec = MakeProbeSpec(*module.module, target.host, target.port);
  spec->relay.enabled = module.module->relay_test.enabled;
  spec->check_fcrdns = !options.no_reverse_dns;
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
      one.checks.domain = series[i].domain;
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
  AddFlags(app, options);
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

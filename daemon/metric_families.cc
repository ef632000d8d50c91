// The catalogue; see metric_families.h.
#include "daemon/metric_families.h"

#include <algorithm>
#include <iterator>

namespace smtp::metrics_internal {
namespace {

using prometheus::MetricType;

// The label names this layer puts on series itself; a snapshot label of one of these names
// would make a duplicate label (Prometheus rejects the whole scrape), so it is dropped.
constexpr std::string_view kSeriesLabelNames[] = {
    "target",    "step",     "reason",  "hostname", "software", "version", "extension", "tls",
    "mechanism", "cipher",   "subject", "issuer",   "serial",   "variant", "result",    "verdict",
    "le",        "quantile", "method",  "zone",     "address",  "code",    "mode",      "id",
};
// The other names the exporter sets or relies on: the labels target expansion adds to a snapshot
// (domain for mx: targets, ip for ip_protocol both), those Prometheus owns (job, instance), and
// "module", which multi-target scrape configs set from /probe's module parameter.
constexpr std::string_view kOtherOwnLabelNames[] = {"module", "domain", "ip", "job", "instance"};

template <std::size_t N>
bool OneOf(std::string_view name, const std::string_view (&names)[N]) {
  return std::find(std::begin(names), std::end(names), name) != std::end(names);
}

}  // namespace

// HELP texts are for the operator reading /metrics or a Grafana tooltip. Keep them free of
// backslashes and newlines: our writer escapes them, but prometheus::TextSerializer (which
// tests compare against) would not.
const exposition::FamilyDef kProbeFamilyDefs[kProbeFamilyCount] = {
    {"smtp_probe_success", MetricType::Gauge,
     "1 when every health step of the last probe succeeded, 0 when one failed (see "
     "smtp_probe_failure_info); the relay test never changes it (see smtp_relay_verdict)."},
    {"smtp_probe_duration_seconds", MetricType::Gauge,
     "Duration of the last probe, from name resolution to QUIT, in seconds."},
    {"smtp_probe_step_duration_seconds", MetricType::Gauge,
     "Duration of each step of the last probe that ran, in seconds; step=greeting is the banner "
     "latency (connected to final 220 line)."},
    {"smtp_greeting_duration_seconds", MetricType::Histogram,
     "Banner latency (connected to final 220 line) of every probe since the target was "
     "configured, in seconds; for heatmaps and quantiles."},
    {"smtp_reply_code", MetricType::Gauge,
     "Last SMTP reply code the server sent in each step of the last probe (220, 250, 421, 554, "
     "...)."},
    {"smtp_probe_failure_info", MetricType::Gauge,
     "1 on the step that failed the last probe, with the reason (dns, refused, timeout, "
     "unreachable, reset, tls, protocol, rejected, forbidden); absent when the probe "
     "succeeded."},
    {"smtp_greeting_info", MetricType::Gauge,
     "Mail server name, software and version parsed from the 220 banner of the last probe; "
     "always 1."},
    {"smtp_esmtp", MetricType::Gauge,
     "1 when the server accepted EHLO (ESMTP), 0 when only HELO worked."},
    {"smtp_ehlo_extension_info", MetricType::Gauge,
     "One series per keyword the server advertised in its EHLO reply, tls=false before "
     "STARTTLS and tls=true over TLS; always 1."},
    {"smtp_ehlo_size_limit_bytes", MetricType::Gauge,
     "Message size limit the server advertised with the EHLO SIZE keyword (over TLS when "
     "STARTTLS succeeded), in bytes; 0 when SIZE was advertised without a limit."},
    {"smtp_auth_mechanism_info", MetricType::Gauge,
     "One series per SASL mechanism the server advertised with EHLO AUTH, tls=false before "
     "STARTTLS and tls=true over TLS; always 1."},
    {"smtp_starttls_offered", MetricType::Gauge,
     "1 when the server advertised STARTTLS in its plaintext EHLO reply, 0 when not."},
    {"smtp_starttls_success", MetricType::Gauge,
     "1 when the STARTTLS command was accepted and the TLS handshake completed, 0 when it "
     "failed; absent when STARTTLS was not attempted."},
    {"smtp_tls_version_info", MetricType::Gauge,
     "TLS protocol version negotiated by the last probe; always 1."},
    {"smtp_tls_cipher_info", MetricType::Gauge,
     "TLS cipher suite negotiated by the last probe; always 1."},
    {"smtp_tls_cert_not_after_timestamp_seconds", MetricType::Gauge,
     "Expiry time (Unix seconds) of the certificate that expires first in the chain the server "
     "presented."},
    {"smtp_tls_cert_verified", MetricType::Gauge,
     "1 when the server certificate chain and hostname verified, 0 when not; reported even "
     "when the probe does not require TLS."},
    {"smtp_tls_cert_info", MetricType::Gauge,
     "Subject, issuer and serial number of the server (leaf) certificate; always 1."},
    {"smtp_relay_open", MetricType::Gauge,
     "1 when the last relay test proved an open relay (a foreign recipient accepted at RCPT, or "
     "an address hack accepted where a random local part is refused), 0 when not proven."},
    {"smtp_relay_verdict", MetricType::Gauge,
     "Verdict of the last relay test as a state set: 1 for the current verdict (open, closed or "
     "inconclusive: cut short, 4xx, or 530 in plaintext), 0 for the others."},
    {"smtp_relay_test_result", MetricType::Gauge,
     "Outcome of each variant of the last relay test (accepted, refused, inconclusive, "
     "auth_required, catch_all: a hack accepted as local mail, not_run: cut short); always 1."},
    {"smtp_rcpt_catch_all", MetricType::Gauge,
     "1 when the last relay test saw a random, nonexistent local part at the server's own name "
     "accepted at RCPT (catch-all), 0 when refused; absent when not asked or not answered."},
    {"smtp_relay_last_run_timestamp_seconds", MetricType::Gauge,
     "Unix time when the relay test reported by smtp_relay_open started; it runs less often "
     "than the other steps."},
    {"smtp_probe_last_run_timestamp_seconds", MetricType::Gauge,
     "Unix time when the probe these results come from started. On /metrics the smtp_ target "
     "metrics are cached results of scheduled probes, not probed at scrape time."},
    {"smtp_dns_mx_records", MetricType::Gauge,
     "Number of MX records of the domain of an mx: target."},
    {"smtp_fcrdns_match", MetricType::Gauge,
     "1 when the reverse DNS name of the server address resolves back to it and matches the "
     "banner hostname (when a banner was received), 0 when not."},
    {"smtp_auth_success", MetricType::Gauge,
     "1 when the AUTH step of the last probe succeeded (235), 0 when it failed; absent when the "
     "module configures no auth or the probe ended before AUTH."},
    {"smtp_auth_result", MetricType::Gauge,
     "Outcome of the last AUTH step as a state set: 1 for the current one (success, "
     "bad_credentials 535, too_weak 534, temporary_failure 454, encryption_required 538, "
     "rejected, not_offered, no_common_mechanism, plaintext_refused, error), 0 for the others."},
    {"smtp_auth_mechanism_used_info", MetricType::Gauge,
     "SASL mechanism the last AUTH step used; always 1."},
    {"smtp_user_enumeration_result", MetricType::Gauge,
     "Whether a stranger can tell existing users from nonexistent ones, per method (vrfy, expn; "
     "rcpt from the relay test's random local part), as a state set: 1 for the current result "
     "(exposed, not_exposed, inconclusive), 0 for the others; absent unless user_enumeration is "
     "enabled."},
    {"smtp_mta_sts_record_result", MetricType::Gauge,
     "The domain's MTA-STS record (_mta-sts TXT, RFC 8461 section 3.1) as a state set: 1 for the "
     "current result (valid, missing, invalid, multiple, dns_error, timeout), 0 for the others."},
    {"smtp_mta_sts_id_info", MetricType::Gauge,
     "The policy id of the domain's MTA-STS record; always 1."},
    {"smtp_mta_sts_policy_fetch_success", MetricType::Gauge,
     "1 when the MTA-STS policy was fetched over HTTPS (verified certificate, 200, text/plain, "
     "no redirect) and parsed, 0 when not; absent when the record did not ask for a fetch."},
    {"smtp_mta_sts_policy_fetch_failure_info", MetricType::Gauge,
     "Why the MTA-STS policy fetch failed: dns, connect, tls, timeout, redirect, http_status, "
     "too_large, content_type, protocol, invalid_policy or forbidden (/probe only: its address "
     "is outside the allowlist); always 1."},
    {"smtp_mta_sts_mode", MetricType::Gauge,
     "Mode of the fetched MTA-STS policy as a state set: enforce, testing or none."},
    {"smtp_mta_sts_max_age_seconds", MetricType::Gauge,
     "max_age of the fetched MTA-STS policy: how long senders cache it."},
    {"smtp_mta_sts_mx_match", MetricType::Gauge,
     "1 when this MX host matches an mx pattern of the domain's MTA-STS policy, 0 when not."},
    {"smtp_mta_sts_mx_deliverable", MetricType::Gauge,
     "1 when a sender applying the domain's MTA-STS policy (enforce or testing) would deliver to "
     "this MX: it matches a pattern, STARTTLS works and its certificate verifies for its name; "
     "0 when not."},
    {"smtp_tls_rpt_result", MetricType::Gauge,
     "The domain's TLS-RPT record (_smtp._tls TXT, RFC 8460) as a state set: 1 for the current "
     "result (valid, missing, invalid, multiple, dns_error, timeout), 0 for the others."},
    {"smtp_dane_tlsa_records", MetricType::Gauge,
     "Number of TLSA records of _<port>._tcp.<MX host> (RFC 7672), validated or not."},
    {"smtp_dane_tlsa_authenticated", MetricType::Gauge,
     "1 when the TLSA answer carried the AD bit of the validating resolver in dns_server "
     "(DNSSEC-validated: the records are used), 0 when not (they are not trusted)."},
    {"smtp_dane_result", MetricType::Gauge,
     "DANE outcome for the MX as a state set: no_records, insecure, unusable, no_tls, match, "
     "mismatch, dns_error (bogus signatures included) or timeout."},
    {"smtp_dane_match", MetricType::Gauge,
     "1 when a validated, usable TLSA record matches the chain the MX presented, 0 when none "
     "does (DANE-validating senders do not deliver); absent without validated usable records."},
    {"smtp_dnsbl_listed", MetricType::Gauge,
     "1 when the MX address is listed in the DNS blocklist zone (an A record in 127.0.0.0/8, "
     "RFC 5782), 0 when not (NXDOMAIN); absent when the zone gave no answer."},
    {"smtp_dnsbl_result", MetricType::Gauge,
     "The last DNS blocklist answer per zone and MX address: listed, not_listed, refused (the "
     "zone answered 127.255.255.x: it refuses this resolver), error or timeout; always 1."},
    {"smtp_dnsbl_listing_info", MetricType::Gauge,
     "A listing of the MX address: the zone, its first return code (127.0.0.x) and its TXT "
     "reason; always 1."},
};

const exposition::FamilyDef kSelfFamilyDefs[kSelfFamilyCount] = {
    {"smtp_exporter_build_info", MetricType::Gauge,
     "Version, VCS revision and compiler of this smtp_exporter build; always 1."},
    {"smtp_exporter_probes_total", MetricType::Counter,
     "Probes finished since the exporter started, by result: success or the failure reason."},
    {"smtp_exporter_config_last_reload_successful", MetricType::Gauge,
     "1 when the last configuration (re)load succeeded, 0 when it failed and the previous "
     "configuration is still in use."},
    {"smtp_exporter_config_last_reload_success_timestamp_seconds", MetricType::Gauge,
     "Unix time of the last successful configuration (re)load."},
    {"smtp_exporter_probes_in_flight", MetricType::Gauge, "Probes running right now."},
    {"smtp_exporter_scheduler_lag_seconds", MetricType::Histogram,
     "How late scheduled probes started against their planned time, in seconds."},
};

bool IsLabelName(std::string_view name) {
  const auto is_alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  return !name.empty() && (is_alpha(name[0]) || name[0] == '_') &&
         std::all_of(name.begin(), name.end(),
                     [&](char c) { return is_alpha(c) || (c >= '0' && c <= '9') || c == '_'; });
}

bool IsSeriesLabelName(std::string_view name) { return OneOf(name, kSeriesLabelNames); }

bool IsOtherOwnLabelName(std::string_view name) { return OneOf(name, kOtherOwnLabelNames); }

}  // namespace smtp::metrics_internal

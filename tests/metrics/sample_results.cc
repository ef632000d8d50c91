#include "tests/metrics/sample_results.h"

#include <utility>

#include "daemon/exposition.h"
#include "daemon/metrics.h"

namespace smtp::metrics_test {

using std::chrono::milliseconds;
using std::chrono::seconds;

std::chrono::system_clock::time_point UnixTime(std::int64_t s) {
  return std::chrono::system_clock::time_point(seconds(s));
}

StepResult Ok(Step step, int ms, int reply_code) {
  StepResult s;
  s.step = step;
  s.duration = milliseconds(ms);
  s.reply_code = reply_code;
  s.ok = true;
  return s;
}

StepResult Failed(Step step, int ms, int reply_code, FailureReason reason) {
  StepResult s = Ok(step, ms, reply_code);
  s.ok = false;
  s.reason = reason;
  return s;
}

Extension Ext(std::string_view keyword, const std::vector<std::string_view>& parameters) {
  return Extension(keyword, parameters);
}

// A Postfix-like EHLO reply. The derived fields are set by hand as the parser would set them.
Capabilities PostfixCapabilities(bool over_tls, const std::string& domain) {
  Capabilities c;
  c.domain = domain;
  c.extensions = {Ext("PIPELINING"),
                  Ext("SIZE", {"10240000"}),
                  Ext("VRFY"),
                  Ext("ETRN"),
                  Ext("ENHANCEDSTATUSCODES"),
                  Ext("8BITMIME"),
                  Ext("DSN"),
                  Ext("SMTPUTF8"),
                  Ext("CHUNKING")};
  c.pipelining = c.enhancedstatuscodes = c.eightbitmime = c.dsn = c.smtputf8 = c.chunking = true;
  c.size_limit = 10240000;
  if (over_tls) {
    c.extensions.push_back(Ext("AUTH", {"PLAIN", "LOGIN"}));
    c.auth_mechanisms = {"LOGIN", "PLAIN"};
  } else {
    c.extensions.insert(c.extensions.begin() + 4, Ext("STARTTLS"));
    c.starttls = true;
  }
  return c;
}

CertificateInfo Cert(std::string subject, std::string issuer, std::string serial,
                     std::int64_t not_after) {
  CertificateInfo c;
  c.subject = std::move(subject);
  c.issuer = std::move(issuer);
  c.serial = std::move(serial);
  c.not_before = not_after - 90 * 86400;
  c.not_after = not_after;
  return c;
}

RelayAttempt Attempt(std::string variant, int mail_code, int rcpt_code, RelayOutcome outcome) {
  RelayAttempt a;
  a.variant = std::move(variant);
  a.mail_from = "<probe@example.org>";
  a.rcpt_to = "<relay-test@example.net>";
  a.mail_code = mail_code;
  a.rcpt_code = rcpt_code;
  a.outcome = outcome;
  return a;
}

RelayResult RefusedRelay() {
  RelayResult r;
  r.ran = true;
  for (const char* variant : {"null_sender", "external", "spoof_local_name", "percent_name",
                              "source_route_name", "bang_name"}) {
    r.attempts.push_back(Attempt(variant, 250, 554, RelayOutcome::kRefused));
  }
  return r;
}

Histogram HistogramOf(std::initializer_list<double> observations) {
  Histogram h(GreetingBounds());
  for (double o : observations) h.Observe(o);
  return h;
}

ProbeResult HealthyPostfix() {
  ProbeResult r;
  r.host = "mx1.example.org";
  r.port = 25;
  r.success = true;
  r.duration = milliseconds(412);
  r.started_at = UnixTime(1700000000);
  r.steps = {Ok(Step::kResolve, 3),      Ok(Step::kConnect, 12),       Ok(Step::kGreeting, 42, 220),
             Ok(Step::kEhlo, 8, 250),    Ok(Step::kStartTls, 61, 220), Ok(Step::kTlsEhlo, 9, 250),
             Ok(Step::kRelay, 240, 250), Ok(Step::kQuit, 4, 221),      Ok(Step::kReverseDns, 18)};
  r.dns.addresses = {"192.0.2.25"};
  r.dns.connected_address = "192.0.2.25";
  r.dns.ptr_names = {"mx1.example.org"};
  r.dns.fcrdns_match = true;
  r.dns.banner_matches_ptr = true;
  r.greeting = GreetingInfo{"mx1.example.org", "Postfix", "", true};
  r.greeting_lines = {"mx1.example.org ESMTP Postfix (Debian/GNU)"};
  r.esmtp = true;
  r.capabilities = PostfixCapabilities(false);
  r.tls_capabilities = PostfixCapabilities(true);
  r.starttls_offered = true;
  r.starttls_success = true;
  TlsInfo tls;
  tls.handshake_ok = true;
  tls.version = "TLSv1.3";
  tls.cipher = "TLS_AES_256_GCM_SHA384";
  tls.chain = {Cert("CN=mx1.example.org", "CN=R3,O=Let's Encrypt,C=US",
                    "03A1B2C3D4E5F60718293A4B5C6D7E8F9012", 1707000000),
               Cert("CN=R3,O=Let's Encrypt,C=US",
                    "CN=ISRG Root X1,O=Internet Security Research "
                    "Group,C=US",
                    "912B084ACF0C18A753F6D62E25A75F5A", 1758000000)};
  tls.earliest_not_after = 1707000000;
  tls.chain_verified = true;
  tls.hostname_verified = true;
  tls.verified_name = "mx1.example.org";
  r.tls = tls;
  r.relay = RefusedRelay();
  return r;
}

ProbeResult HeloOnlyWithoutTls() {
  ProbeResult r;
  r.success = true;
  r.started_at = UnixTime(1700000000);
  r.steps = {Ok(Step::kConnect, 1), Ok(Step::kGreeting, 1, 220), Ok(Step::kHelo, 1, 250)};
  r.esmtp = false;
  r.starttls_offered = false;  // as the engine records a HELO-only server
  return r;
}

TargetSnapshot Snapshot(std::string target, std::shared_ptr<const ProbeResult> last) {
  TargetSnapshot s;
  s.target = std::move(target);
  s.last = std::move(last);
  s.greeting_histogram.emplace(GreetingBounds());
  return s;
}

std::shared_ptr<const ProbeResult> Share(ProbeResult r) {
  return std::make_shared<const ProbeResult>(std::move(r));
}

}  // namespace smtp::metrics_test

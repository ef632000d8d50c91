#include "tests/status/fleet_fixture.h"

#include <chrono>
#include <utility>

namespace smtp::testing {
namespace {

using std::chrono::milliseconds;

std::chrono::system_clock::time_point At(std::int64_t unix_seconds) {
  return std::chrono::system_clock::time_point(std::chrono::seconds(unix_seconds));
}

StepResult Step_(Step step, int ms, int reply_code, bool ok = true,
                 FailureReason reason = FailureReason::kNone, std::string detail = "") {
  StepResult s;
  s.step = step;
  s.duration = milliseconds(ms);
  s.reply_code = reply_code;
  s.ok = ok;
  s.reason = reason;
  s.detail = std::move(detail);
  return s;
}

Capabilities Ehlo(const std::string& domain, std::vector<Extension> extensions) {
  Capabilities c;
  c.domain = domain;
  c.extensions = std::move(extensions);
  for (const Extension& e : c.extensions) {
    if (e.keyword() == "STARTTLS") c.starttls = true;
    if (e.keyword() == "PIPELINING") c.pipelining = true;
    if (e.keyword() == "8BITMIME") c.eightbitmime = true;
    if (e.keyword() == "SMTPUTF8") c.smtputf8 = true;
    if (e.keyword() == "CHUNKING") c.chunking = true;
    if (e.keyword() == "DSN") c.dsn = true;
    if (e.keyword() == "ENHANCEDSTATUSCODES") c.enhancedstatuscodes = true;
    if (e.keyword() == "AUTH") {
      for (std::string_view p : e.parameters()) c.auth_mechanisms.emplace_back(p);
    }
  }
  return c;
}

Capabilities PostfixEhlo(const std::string& domain, bool over_tls) {
  std::vector<Extension> extensions = {{"PIPELINING", {}}, {"SIZE", {"52428800"}},
                                       {"ETRN", {}},       {"ENHANCEDSTATUSCODES", {}},
                                       {"8BITMIME", {}},   {"DSN", {}},
                                       {"SMTPUTF8", {}},   {"CHUNKING", {}}};
  if (over_tls) {
    extensions.push_back({"AUTH", {"PLAIN", "LOGIN"}});
  } else {
    extensions.insert(extensions.begin() + 3, Extension{"STARTTLS", {}});
  }
  Capabilities c = Ehlo(domain, std::move(extensions));
  c.size_limit = 52428800;
  return c;
}

TlsInfo Tls(const std::string& name, std::int64_t not_after, bool verified,
            const std::string& verify_error = "") {
  TlsInfo tls;
  tls.handshake_ok = true;
  tls.version = "TLSv1.3";
  tls.cipher = "TLS_AES_256_GCM_SHA384";
  CertificateInfo leaf;
  leaf.subject = "CN=" + name;
  leaf.issuer = "CN=R11,O=Let's Encrypt,C=US";
  leaf.serial = "04C1A2B3C4D5E6F708192A3B4C5D6E7F";
  leaf.not_before = not_after - 90 * kDay;
  leaf.not_after = not_after;
  leaf.dns_names = {name};
  tls.chain = {leaf};
  tls.earliest_not_after = not_after;
  tls.chain_verified = verified;
  tls.hostname_verified = verified;
  tls.verify_error = verify_error;
  tls.verified_name = name;
  return tls;
}

void Line(ProbeResult& r, int ms, char direction, std::string text) {
  r.transcript.push_back(TranscriptLine{milliseconds(ms), direction, std::move(text)});
}

ProbeResult Base(const std::string& host, std::uint16_t port, std::int64_t age_seconds) {
  ProbeResult r;
  r.host = host;
  r.port = port;
  r.started_at = At(kFleetNow - age_seconds);
  r.dns.connected_address = "192.0.2.25";
  return r;
}

void Fail(ProbeResult& r, Step step, FailureReason reason, std::string detail) {
  r.success = false;
  r.failed_step = step;
  r.failure_reason = reason;
  r.failure_detail = std::move(detail);
}

}  // namespace

ProbeResult Healthy(const std::string& host, std::int64_t cert_days, std::int64_t age_seconds) {
  ProbeResult r = Base(host, 25, age_seconds);
  r.success = true;
  r.duration = milliseconds(84);
  r.steps = {Step_(Step::kConnect, 1, 0),   Step_(Step::kGreeting, 12, 220),
             Step_(Step::kEhlo, 2, 250),    Step_(Step::kStartTls, 41, 220),
             Step_(Step::kTlsEhlo, 2, 250), Step_(Step::kQuit, 1, 221)};
  r.greeting = GreetingInfo{host, "Postfix", "", true};
  r.greeting_lines = {host + " ESMTP Postfix (Debian/GNU)"};
  r.esmtp = true;
  r.capabilities = PostfixEhlo(host, false);
  r.tls_capabilities = PostfixEhlo(host, true);
  r.starttls_offered = true;
  r.starttls_success = true;
  r.tls = Tls(host, kFleetNow + cert_days * kDay + 3600, true);
  Line(r, 1, '*', "connected to 192.0.2.25:25");
  Line(r, 13, 'S', "220 " + host + " ESMTP Postfix (Debian/GNU)");
  Line(r, 13, 'C', "EHLO probe.example.org");
  Line(r, 15, 'S', "250-" + host);
  Line(r, 15, 'S', "250-PIPELINING");
  Line(r, 15, 'S', "250 CHUNKING");
  Line(r, 15, 'C', "STARTTLS");
  Line(r, 16, 'S', "220 2.0.0 Ready to start TLS");
  Line(r, 57, '*', "TLSv1.3 TLS_AES_256_GCM_SHA384");
  Line(r, 57, 'C', "EHLO probe.example.org");
  Line(r, 59, 'S', "250 AUTH PLAIN LOGIN");
  Line(r, 59, 'C', "QUIT");
  Line(r, 60, 'S', "221 2.0.0 Bye");
  return r;
}

ProbeResult Refused(const std::string& host) {
  ProbeResult r = Base(host, 25, 31);
  r.duration = milliseconds(1);
  r.steps = {Step_(Step::kConnect, 1, 0, false, FailureReason::kRefused, "connection refused")};
  Fail(r, Step::kConnect, FailureReason::kRefused, "connect 192.0.2.25:25: connection refused");
  Line(r, 1, '*', "connect 192.0.2.25:25: connection refused");
  return r;
}

ProbeResult GreetingRejected(const std::string& host, const std::string& detail) {
  ProbeResult r = Base(host, 25, 44);
  r.duration = milliseconds(23);
  r.steps = {Step_(Step::kConnect, 3, 0),
             Step_(Step::kGreeting, 19, 554, false, FailureReason::kRejected, detail)};
  r.steps.back().enhanced_code = EnhancedStatus{5, 7, 1};
  Fail(r, Step::kGreeting, FailureReason::kRejected, detail);
  Line(r, 3, '*', "connected to 192.0.2.25:25");
  Line(r, 22, 'S', "554 5.7.1 " + detail);
  Line(r, 22, 'C', "QUIT");
  return r;
}

ProbeResult HeloOnly(const std::string& host) {
  ProbeResult r = Base(host, 25, 8);
  r.success = true;
  r.duration = milliseconds(212);
  r.steps = {Step_(Step::kConnect, 2, 0), Step_(Step::kGreeting, 187, 220),
             Step_(Step::kEhlo, 10, 502), Step_(Step::kHelo, 9, 250), Step_(Step::kQuit, 3, 221)};
  r.greeting = GreetingInfo{host, "Sendmail", "8.9.3", false};
  r.greeting_lines = {host + " Sendmail 8.9.3/8.9.3; Sat, 1 Jun 2024 12:00:00 GMT"};
  r.esmtp = false;
  r.starttls_offered = false;  // as the engine records a HELO-only server
  Line(r, 189, 'S', "220 " + host + " Sendmail 8.9.3/8.9.3; Sat, 1 Jun 2024 12:00:00 GMT");
  Line(r, 189, 'C', "EHLO probe.example.org");
  Line(r, 199, 'S', "502 Command not implemented");
  Line(r, 199, 'C', "HELO probe.example.org");
  Line(r, 208, 'S', "250 " + host + " Hello");
  return r;
}

RelayResult Relay(const std::vector<RelayOutcome>& outcomes) {
  static const char* const kVariants[] = {"external",     "null_sender", "percent_hack",
                                          "source_route", "bang_path",   "quoted_local"};
  RelayResult relay;
  relay.ran = true;
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    RelayAttempt a;
    a.variant = kVariants[i % std::size(kVariants)];
    a.mail_from = "<probe@example.org>";
    a.rcpt_to = "<relay-test@example.net>";
    a.mail_code = 250;
    a.outcome = outcomes[i];
    a.rcpt_code = outcomes[i] == RelayOutcome::kAccepted       ? 250
                  : outcomes[i] == RelayOutcome::kRefused      ? 554
                  : outcomes[i] == RelayOutcome::kAuthRequired ? 530
                                                               : 451;
    relay.attempts.push_back(a);
  }
  return relay;
}

TargetSnapshot Snapshot(const std::string& target, ProbeResult result) {
  TargetSnapshot s;
  s.target = target;
  s.last = std::make_shared<const ProbeResult>(std::move(result));
  return s;
}

TargetSnapshot Pending(const std::string& target) {
  TargetSnapshot s;
  s.target = target;
  return s;
}

std::vector<StatusTarget> Fleet() {
  using O = RelayOutcome;
  std::vector<StatusTarget> fleet;
  const auto add = [&](TargetSnapshot s, const std::string& module,
                       std::map<std::string, std::string> labels = {}) {
    s.labels = std::move(labels);
    fleet.push_back(StatusTarget{std::move(s), module});
  };

  // Healthy, relay verdict from a separate run 23 minutes ago.
  TargetSnapshot mx1 = Snapshot("mx1.example.org:25", Healthy("mx1.example.org"));
  mx1.last_relay = std::make_shared<const RelayResult>(Relay({O::kRefused, O::kRefused}));
  mx1.last_relay_at = At(kFleetNow - 23 * 60);
  add(std::move(mx1), "default", {{"site", "eu"}});

  // Open relay, found by this very probe.
  ProbeResult open = Healthy("relay.example.net", 200, 5);
  open.greeting = GreetingInfo{"relay.example.net", "Exim", "4.96", true};
  open.greeting_lines = {"relay.example.net ESMTP Exim 4.96 Sat, 01 Jun 2024 11:59:55 +0000"};
  open.relay = Relay({O::kRefused, O::kAccepted, O::kAccepted});
  open.steps.push_back(Step_(Step::kRelay, 30, 250));
  add(Snapshot("relay.example.net:25", std::move(open)), "relay_all", {{"site", "us"}});

  // Certificate expires in 10 days (amber).
  ProbeResult mx2 = Healthy("mx2.example.org", 10, 40);
  mx2.greeting = GreetingInfo{"mx2.example.org", "Exim", "4.97", true};
  mx2.relay = Relay({O::kRefused, O::kAuthRequired});
  // The domain checks: an enforced MTA-STS policy whose mx lines leave mx2 out, a TLS-RPT record,
  // and one of two blocklists listing the address.
  mx2.mta_sts = MtaStsResult{};
  mx2.mta_sts->record = {PolicyRecordStatus::kValid, "20240601", ""};
  mx2.mta_sts->fetch = PolicyFetchStatus::kOk;
  mx2.mta_sts->policy = MtaStsPolicy{MtaStsMode::kEnforce, 604800, {"mx1.example.org"}};
  mx2.mta_sts->mx_matches = false;
  mx2.tls_rpt = TlsRptResult{PolicyRecordStatus::kValid,
                             "v=TLSRPTv1; rua=mailto:r@example.org",
                             {"mailto:r@example.org"},
                             ""};
  mx2.dane = DaneResult{"_25._tcp.mx2.example.org",
                        DaneStatus::kMismatch,
                        true,
                        {TlsaRecord{3, 1, 1, std::string(32, '\x42')}},
                        "",
                        "no usable TLSA record matches the presented chain (1 usable of 1)"};
  mx2.dnsbl = {{"bl.example.net", "192.0.2.12", DnsblStatus::kListed, {"127.0.0.2"}, "", ""},
               {"dnsbl.example.com", "192.0.2.12", DnsblStatus::kNotListed, {}, "", ""}};
  add(Snapshot("mx2.example.org:25", std::move(mx2)), "default", {{"site", "eu"}});

  // Down: port closed.
  add(Snapshot("mx3.example.org:25", Refused("mx3.example.org")), "default", {{"site", "eu"}});

  // Never probed yet.
  add(Pending("new.example.org:25"), "default");

  // Exchange with a certificate for the wrong name, expiring in 2 days (red).
  ProbeResult exchange = Healthy("exchange.corp.example", 2, 61);
  exchange.greeting = GreetingInfo{"EXCH01.corp.example", "Microsoft Exchange", "", true};
  exchange.greeting_lines = {
      "EXCH01.corp.example Microsoft ESMTP MAIL Service ready at Sat, 1 "
      "Jun 2024 12:00:00 +0000"};
  exchange.tls =
      Tls("autodiscover.corp.example", kFleetNow + 2 * kDay + 600, false, "hostname mismatch");
  exchange.tls->chain_verified = true;
  exchange.tls->version = "TLSv1.2";
  exchange.tls->cipher = "ECDHE-RSA-AES256-GCM-SHA384";
  exchange.capabilities = Ehlo("EXCH01.corp.example", {{"SIZE", {"37748736"}},
                                                       {"PIPELINING", {}},
                                                       {"DSN", {}},
                                                       {"ENHANCEDSTATUSCODES", {}},
                                                       {"STARTTLS", {}},
                                                       {"X-ANONYMOUSTLS", {}},
                                                       {"AUTH", {"NTLM"}},
                                                       {"X-EXPS", {"GSSAPI", "NTLM"}},
                                                       {"8BITMIME", {}},
                                                       {"BINARYMIME", {}},
                                                       {"CHUNKING", {}},
                                                       {"XRDST", {}}});
  exchange.tls_capabilities = Ehlo("EXCH01.corp.example", {{"SIZE", {"37748736"}},
                                                           {"PIPELINING", {}},
                                                           {"DSN", {}},
                                                           {"ENHANCEDSTATUSCODES", {}},
                                                           {"AUTH", {"NTLM", "LOGIN"}},
                                                           {"X-EXPS", {"GSSAPI", "NTLM"}},
                                                           {"8BITMIME", {}},
                                                           {"BINARYMIME", {}},
                                                           {"CHUNKING", {}},
                                                           {"XRDST", {}}});
  add(Snapshot("exchange.corp.example:25", std::move(exchange)), "default", {{"site", "hq"}});

  // SMTPS (implicit TLS, port 465).
  ProbeResult smtps = Healthy("smtps.example.org", 301, 3);
  smtps.port = 465;
  smtps.implicit_tls = true;
  smtps.starttls_offered = false;
  smtps.starttls_success.reset();
  smtps.capabilities = smtps.tls_capabilities.optional();
  smtps.tls_capabilities.reset();
  smtps.steps = {Step_(Step::kConnect, 1, 0), Step_(Step::kTls, 38, 0),
                 Step_(Step::kGreeting, 9, 220), Step_(Step::kEhlo, 2, 250),
                 Step_(Step::kQuit, 1, 221)};
  smtps.duration = milliseconds(53);
  add(Snapshot("smtps.example.org:465", std::move(smtps)), "smtps");

  // Old Sendmail: HELO only, no TLS, relay never tested.
  add(Snapshot("legacy.example.com:25", HeloOnly("legacy.example.com")), "no_relay_test");

  // Down: the banner never came.
  ProbeResult slow = Base("tarpit.example.net", 25, 17);
  slow.duration = milliseconds(10000);
  slow.steps = {Step_(Step::kConnect, 2, 0),
                Step_(Step::kGreeting, 9998, 0, false, FailureReason::kTimeout,
                      "no greeting within the 10s deadline")};
  Fail(slow, Step::kGreeting, FailureReason::kTimeout, "no greeting within the 10s deadline");
  add(Snapshot("tarpit.example.net:25", std::move(slow)), "default", {{"site", "us"}});

  // Down: greeting rejected with a long policy text.
  add(Snapshot(
          "mx.blocked.example:25",
          GreetingRejected("mx.blocked.example",
                           "Service unavailable; client host [198.51.100.7] blocked using "
                           "zen.spamhaus.org; https://www.spamhaus.org/query/ip/198.51.100.7")),
      "default");

  // Down: STARTTLS handshake failed with STARTTLS required.
  ProbeResult tls_broken = Healthy("secure.example.org", 60, 22);
  tls_broken.success = false;
  tls_broken.starttls_success = false;
  tls_broken.tls.reset();
  tls_broken.tls_capabilities.reset();
  tls_broken.steps = {Step_(Step::kConnect, 1, 0), Step_(Step::kGreeting, 11, 220),
                      Step_(Step::kEhlo, 2, 250),
                      Step_(Step::kStartTls, 14, 220, false, FailureReason::kTls,
                            "handshake failed: no shared cipher")};
  tls_broken.duration = milliseconds(31);
  Fail(tls_broken, Step::kStartTls, FailureReason::kTls, "handshake failed: no shared cipher");
  add(Snapshot("secure.example.org:587", std::move(tls_broken)), "submission_required_tls");

  // Greylisting: every relay variant got 451, verdict inconclusive; certificate expired 3 days
  // ago (opportunistic TLS, so still UP).
  ProbeResult grey = Healthy("2001:db8::25", -3, 9);
  grey.greeting = GreetingInfo{"mail.example.de", "Haraka", "3.0.3", true};
  grey.greeting_lines = {"mail.example.de ESMTP Haraka/3.0.3 ready"};
  grey.tls = Tls("mail.example.de", kFleetNow - 3 * kDay, false, "certificate has expired");
  grey.relay = Relay({O::kInconclusive, O::kInconclusive});
  add(Snapshot("[2001:db8::25]:25", std::move(grey)), "default", {{"site", "de"}});

  // A hostile server: markup and invalid UTF-8 in everything it controls.
  ProbeResult hostile = Healthy("hostile.example", 30, 14);
  hostile.greeting =
      GreetingInfo{"<script>alert(1)</script>", "\"><img src=x onerror=alert(2)>", "6.6\xff", true};
  hostile.greeting_lines = {"<script>alert(1)</script> ESMTP \"><b>x</b> \xc3\x28"};
  hostile.capabilities =
      Ehlo("<i>", {{"PIPELINING", {}}, {"X-<B>BOLD</B>", {"'\""}}, {"SIZE", {}}});
  hostile.starttls_offered = false;
  hostile.starttls_success.reset();
  hostile.tls.reset();
  hostile.tls_capabilities.reset();
  hostile.relay = Relay({O::kRefused});
  Line(hostile, 13, 'S', "220 <script>alert(1)</script> ESMTP \"><b>x</b> \xc3\x28");
  add(Snapshot("hostile.example:25", std::move(hostile)), "default", {{"site", "<lab>"}});

  return fleet;
}

StatusPageInput FleetInput() {
  StatusPageInput input;
  input.version = "0.1.0";
  input.started_unix = kFleetNow - (3 * kDay + 4 * 3600 + 120);
  input.now_unix = kFleetNow;
  input.refresh_seconds = 15;
  input.config_file = "/etc/smtp_exporter/smtp_exporter.yml";
  input.reload_successful = true;
  input.last_reload_unix = kFleetNow - 2 * 3600;
  input.targets = Fleet();
  return input;
}

}  // namespace smtp::testing

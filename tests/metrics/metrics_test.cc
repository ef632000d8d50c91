// Specification of the metrics layer (DESIGN §2): what an operator sees on /metrics and /probe
// for representative probe results. The expositions are golden files in testdata/, compared byte
// for byte; `UPDATE_GOLDEN=1 ./metrics_tests` rewrites them (review the diff before committing).
// The ctest test metrics.promtool_check lints every golden file with `promtool check metrics`.
// The writer itself is specified in exposition_test.cc.
#include "daemon/metrics.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "daemon/exposition.h"
#include "probes/escape.h"
#include "tests/metrics/exposition_parser.h"
#include "tests/metrics/sample_results.h"

namespace smtp::metrics_test {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// ---- Golden files ----------------------------------------------------------------------------

std::string GoldenPath(const std::string& name) {
  return std::string(METRICS_TESTDATA_DIR) + "/" + name + ".prom";
}

void ExpectGolden(const std::string& name, const std::string& actual) {
  const std::string path = GoldenPath(name);
  const char* update = std::getenv("UPDATE_GOLDEN");
  if (update != nullptr && std::string(update) == "1") {
    std::ofstream(path, std::ios::binary) << actual;
    GTEST_SKIP() << "rewrote " << path;
  }
  std::ifstream in(path, std::ios::binary);
  ASSERT_TRUE(in) << "missing golden file " << path << " (create it with UPDATE_GOLDEN=1)";
  const std::string expected((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  EXPECT_EQ(actual, expected) << "exposition differs from " << path
                              << "; if the change is intended, rerun with UPDATE_GOLDEN=1";
}

// ---- Golden expositions for representative results -------------------------------------------

TEST(GoldenTest, HealthyWithStartTlsAndRelayRefused) {
  TargetSnapshot s = Snapshot("mx1.example.org:25", Share(HealthyPostfix()));
  s.labels = {{"site", "eu"}, {"env", "prod"}};
  s.greeting_histogram = HistogramOf({0.042, 0.038, 0.051, 0.2, 1.5});
  ExpectGolden("healthy_starttls", Render({s}));
}

// `series: minimal` keeps what the alerts read: up, why not, the greeting's latency and code,
// STARTTLS, the certificate's expiry and verification, the relay verdict. Nothing else.
TEST(GoldenTest, MinimalSeriesOfAHealthyTarget) {
  TargetSnapshot s = Snapshot("mx1.example.org:25", Share(HealthyPostfix()));
  s.greeting_histogram = HistogramOf({0.042, 0.038});
  s.minimal_series = true;
  const std::string text = Render({s});
  ExpectGolden("minimal_series", text);
  std::set<std::string> families;
  for (std::size_t at = 0; (at = text.find("# TYPE ", at)) != std::string::npos; at += 7) {
    families.insert(text.substr(at + 7, text.find(' ', at + 7) - at - 7));
  }
  EXPECT_EQ(families, (std::set<std::string>{
                          "smtp_probe_success", "smtp_probe_step_duration_seconds",
                          "smtp_reply_code", "smtp_starttls_offered", "smtp_starttls_success",
                          "smtp_tls_cert_not_after_timestamp_seconds", "smtp_tls_cert_verified",
                          "smtp_relay_open", "smtp_relay_verdict"}));
  EXPECT_EQ(text.find("step=\"ehlo\""), std::string::npos) << "greeting step only";
  EXPECT_NE(text.find("step=\"greeting\""), std::string::npos);
}

TEST(GoldenTest, GreetingRejectedWith554) {
  ProbeResult r;
  r.host = "mx.blocked.example";
  r.port = 25;
  r.success = false;
  r.failed_step = Step::kGreeting;
  r.failure_reason = FailureReason::kRejected;
  r.failure_detail = "554 5.7.1 Service unavailable; client host blocked";
  r.duration = milliseconds(57);
  r.started_at = UnixTime(1700000060);
  r.steps = {Ok(Step::kResolve, 2), Ok(Step::kConnect, 11),
             Failed(Step::kGreeting, 40, 554, FailureReason::kRejected), Ok(Step::kQuit, 3, 221)};
  r.steps[2].enhanced_code = EnhancedStatus{5, 7, 1};
  r.dns.fcrdns_match = false;
  TargetSnapshot s = Snapshot("mx.blocked.example:25", Share(r));
  s.greeting_histogram = HistogramOf({0.04});
  ExpectGolden("greeting_554", Render({s}));
}

TEST(GoldenTest, HeloOnlyServer) {
  ProbeResult r;
  r.host = "192.0.2.30";
  r.port = 25;
  r.success = true;
  r.duration = milliseconds(35);
  r.started_at = UnixTime(1700000120);
  r.steps = {Ok(Step::kConnect, 5), Ok(Step::kGreeting, 9, 220),
             Failed(Step::kEhlo, 3, 502, FailureReason::kRejected), Ok(Step::kHelo, 2, 250),
             Ok(Step::kQuit, 2, 221)};
  r.steps[2].ok = true;  // a refused EHLO is how a HELO-only server answers, not a failure
  r.steps[2].reason = FailureReason::kNone;
  r.greeting = GreetingInfo{"old.example.com", "Sendmail", "8.9.3", false};
  r.esmtp = false;
  r.starttls_offered = false;  // as the engine records a HELO-only server
  TargetSnapshot s = Snapshot("192.0.2.30:25", Share(r));
  s.greeting_histogram = HistogramOf({0.009});
  ExpectGolden("helo_only", Render({s}));
}

TEST(GoldenTest, OpenRelayVerdictKeptBetweenRelayRuns) {
  // The latest probe did not run the relay test (it runs hourly); the verdict of the last relay
  // run is still reported, with its own timestamp.
  ProbeResult r;
  r.host = "relay.example.net";
  r.port = 25;
  r.success = true;
  r.duration = milliseconds(28);
  r.started_at = UnixTime(1700000180);
  r.steps = {Ok(Step::kResolve, 1), Ok(Step::kConnect, 4), Ok(Step::kGreeting, 6, 220),
             Ok(Step::kEhlo, 2, 250), Ok(Step::kQuit, 1, 221)};
  r.greeting = GreetingInfo{"relay.example.net", "Exim", "4.96", true};
  r.esmtp = true;
  Capabilities caps;
  caps.domain = "relay.example.net";
  caps.extensions = {Ext("SIZE", {"52428800"}), Ext("8BITMIME"), Ext("PIPELINING"), Ext("HELP")};
  caps.size_limit = 52428800;
  r.capabilities = caps;
  r.starttls_offered = false;
  RelayResult relay;
  relay.ran = true;
  relay.attempts = {Attempt("null_sender", 250, 250, RelayOutcome::kAccepted),
                    Attempt("external", 250, 250, RelayOutcome::kAccepted),
                    Attempt("percent_name", 250, 550, RelayOutcome::kRefused),
                    Attempt("source_route_name", 250, 451, RelayOutcome::kInconclusive),
                    Attempt("quoted", 530, 0, RelayOutcome::kAuthRequired)};
  TargetSnapshot s = Snapshot("relay.example.net:25", Share(r));
  s.last_relay = std::make_shared<const RelayResult>(relay);
  s.last_relay_at = UnixTime(1699996400);
  s.greeting_histogram = HistogramOf({0.006, 0.007});
  ExpectGolden("open_relay", Render({s}));
}

TEST(GoldenTest, TlsUnverifiedExpiredCertificate) {
  // Opportunistic STARTTLS: the probe succeeds, the certificate problem is reported.
  ProbeResult r = HealthyPostfix();
  r.host = "mx2.example.org";
  r.started_at = UnixTime(1700000240);
  r.relay = RelayResult{};             // relay test disabled for this target
  r.steps.erase(r.steps.begin() + 6);  // no relay step
  r.greeting = GreetingInfo{"mx2.example.org", "Postfix", "", true};
  TlsInfo& tls = *r.tls;
  tls.version = "TLSv1.2";
  tls.cipher = "ECDHE-RSA-AES128-GCM-SHA256";
  tls.chain = {Cert("CN=mx2.example.org,O=Example Org", "CN=mx2.example.org,O=Example Org", "5F3A",
                    1690000000)};
  tls.earliest_not_after = 1690000000;
  tls.chain_verified = false;
  tls.hostname_verified = true;
  tls.verify_error = "certificate has expired";
  r.dns.fcrdns_match = true;
  r.dns.banner_matches_ptr = false;  // PTR names mx-other.example.org
  TargetSnapshot s = Snapshot("mx2.example.org:25", Share(r));
  s.greeting_histogram = HistogramOf({0.05});
  ExpectGolden("tls_unverified_expired", Render({s}));
}

TEST(GoldenTest, ImplicitTlsSubmissionPort) {
  // Port 465: TLS first, so the only EHLO runs over TLS and STARTTLS is not a question.
  ProbeResult r;
  r.host = "smtp.example.org";
  r.port = 465;
  r.success = true;
  r.implicit_tls = true;
  r.duration = milliseconds(95);
  r.started_at = UnixTime(1700000300);
  r.steps = {Ok(Step::kConnect, 10), Ok(Step::kTls, 48), Ok(Step::kGreeting, 20, 220),
             Ok(Step::kEhlo, 6, 250), Ok(Step::kQuit, 3, 221)};
  r.greeting = GreetingInfo{"smtp.example.org", "", "", true};
  r.esmtp = true;
  Capabilities caps;
  caps.domain = "smtp.example.org";
  caps.extensions = {Ext("AUTH", {"PLAIN", "XOAUTH2"}), Ext("SIZE"), Ext("8BITMIME")};
  caps.auth_mechanisms = {"PLAIN", "XOAUTH2"};
  caps.size_limit = 0;  // SIZE without a limit
  r.capabilities = caps;
  TlsInfo tls;
  tls.handshake_ok = true;
  tls.version = "TLSv1.3";
  tls.cipher = "TLS_AES_128_GCM_SHA256";
  tls.chain = {Cert("CN=smtp.example.org", "CN=Example CA", "01", 1720000000)};
  tls.earliest_not_after = 1720000000;
  tls.chain_verified = tls.hostname_verified = true;
  r.tls = tls;
  TargetSnapshot s = Snapshot("smtp.example.org:465", Share(r));
  s.greeting_histogram = HistogramOf({0.02});
  ExpectGolden("implicit_tls", Render({s}));
}

TEST(GoldenTest, SubmissionWithAuthFailingAndUserEnumeration) {
  // Port 587 with a module that authenticates and checks VRFY/EXPN: the SASL backend is down
  // (454 4.7.0), VRFY confirms users, EXPN is not implemented; the kept relay test's random
  // local part was refused (RCPT tells users apart).
  ProbeResult r = HealthyPostfix();
  r.host = "submit.example.org";
  r.port = 587;
  r.success = false;
  r.failed_step = Step::kAuth;
  r.failure_reason = FailureReason::kRejected;
  StepResult auth = Failed(Step::kAuth, 12, 454, FailureReason::kRejected);
  auth.enhanced_code = EnhancedStatus{4, 7, 0};
  r.steps.insert(r.steps.end() - 2, Ok(Step::kUserEnumeration, 4, 502));
  r.steps.insert(r.steps.end() - 2, auth);
  r.tls_capabilities->auth_mechanisms = {"PLAIN", "SCRAM-SHA-256"};
  r.auth->attempted = true;
  r.auth->username = "monitor@example.org";
  r.auth->mechanism = "SCRAM-SHA-256";
  r.auth->outcome = AuthOutcome::kTemporaryFailure;
  r.auth->over_tls = true;
  r.relay->catch_all_checks = {
      {"mx1.example.org", "<smtp-exporter-catch-all-0@mx1.example.org>", 250, 550, false}};
  r.user_enumeration->ran = true;
  r.user_enumeration->checks = {
      {"vrfy", "postmaster", 250, "smtp-exporter-nobody-0", 550, EnumerationResult::kExposed},
      {"expn", "postmaster", 502, "smtp-exporter-nobody-0", 502, EnumerationResult::kNotExposed}};
  TargetSnapshot s = Snapshot("submit.example.org:587", Share(r));
  s.greeting_histogram = HistogramOf({0.02});
  ExpectGolden("submission_auth", Render({s}));
}

TEST(GoldenTest, NeverProbedTargetIsAbsentNextToARefusedOne) {
  TargetSnapshot never = Snapshot("192.0.2.10:25", nullptr);
  ProbeResult r;
  r.host = "192.0.2.11";
  r.port = 25;
  r.success = false;
  r.failed_step = Step::kConnect;
  r.failure_reason = FailureReason::kRefused;
  r.duration = milliseconds(1);
  r.started_at = UnixTime(1700000360);
  r.steps = {Failed(Step::kConnect, 1, 0, FailureReason::kRefused)};
  TargetSnapshot refused = Snapshot("192.0.2.11:25", Share(r));
  const std::string text = Render({never, refused});
  EXPECT_EQ(text.find("192.0.2.10"), std::string::npos);
  ExpectGolden("never_probed", text);
}

TEST(GoldenTest, MxTargetExpandedPerHost) {
  // `mx:example.com` with two MX hosts: one set of series per host, the MX count on both.
  TargetSnapshot a = Snapshot("mx1.example.com:25", nullptr);
  TargetSnapshot b = Snapshot("mx2.example.com:25", nullptr);
  ProbeResult ra;
  ra.success = true;
  ra.duration = milliseconds(20);
  ra.started_at = UnixTime(1700000400);
  ra.steps = {Ok(Step::kConnect, 5), Ok(Step::kGreeting, 7, 220), Ok(Step::kQuit, 1, 221)};
  ProbeResult rb = ra;
  rb.success = false;
  rb.failed_step = Step::kConnect;
  rb.failure_reason = FailureReason::kTimeout;
  rb.duration = seconds(10);
  rb.steps = {Failed(Step::kConnect, 10000, 0, FailureReason::kTimeout)};
  a.last = Share(ra);
  b.last = Share(rb);
  a.mx_records = b.mx_records = 2;
  a.labels = b.labels = {{"domain", "example.com"}};
  a.greeting_histogram = HistogramOf({0.007});
  ExpectGolden("mx_expanded", Render({b, a}));
}

TEST(GoldenTest, DomainChecksOfTwoMxHosts) {
  // mx1 meets an enforced MTA-STS policy and is listed in one of two blocklists; mx2's probe
  // found the policy server down (a policy cached by senders may still be enforced) and one
  // blocklist silent.
  ProbeResult r1 = HealthyPostfix();
  r1.host = "mx1.example.org";
  r1.mta_sts = MtaStsResult{};
  r1.mta_sts->record = {PolicyRecordStatus::kValid, "20261130T1", ""};
  r1.mta_sts->url = "https://mta-sts.example.org/.well-known/mta-sts.txt";
  r1.mta_sts->fetch = PolicyFetchStatus::kOk;
  r1.mta_sts->http_status = 200;
  r1.mta_sts->policy = MtaStsPolicy{MtaStsMode::kEnforce, 604800, {"*.example.org"}};
  r1.mta_sts->mx_matches = true;
  r1.tls_rpt = TlsRptResult{PolicyRecordStatus::kValid,
                            "v=TLSRPTv1; rua=mailto:r@example.org",
                            {"mailto:r@example.org"},
                            ""};
  r1.dnsbl = {{"bl.example.net",
               "192.0.2.10",
               DnsblStatus::kListed,
               {"127.0.0.2"},
               "Listed: see https://bl.example.net/192.0.2.10",
               ""},
              {"dnsbl.example.com", "192.0.2.10", DnsblStatus::kNotListed, {}, "", ""}};
  r1.dane = DaneResult{"_25._tcp.mx1.example.org",
                       DaneStatus::kMatch,
                       true,
                       {TlsaRecord{3, 1, 1, std::string(32, '\x8d')}},
                       "3 1 1 8d8d",
                       ""};
  ProbeResult r2 = r1;
  r2.host = "mx2.example.org";
  r2.dane->name = "_25._tcp.mx2.example.org";
  r2.dane->status = DaneStatus::kMismatch;
  r2.dane->matched.clear();
  r2.mta_sts->fetch = PolicyFetchStatus::kConnect;
  r2.mta_sts->http_status = 0;
  r2.mta_sts->fetch_detail = "cannot connect to mta-sts.example.org: Connection refused";
  r2.mta_sts->policy.reset();
  r2.mta_sts->mx_matches.reset();
  r2.tls_rpt->status = PolicyRecordStatus::kTimeout;
  r2.dnsbl = {{"bl.example.net", "192.0.2.11", DnsblStatus::kNotListed, {}, "", ""},
              {"dnsbl.example.com", "192.0.2.11", DnsblStatus::kTimeout, {}, "", "timeout"}};
  TargetSnapshot a = Snapshot("mx1.example.org:25", Share(r1));
  TargetSnapshot b = Snapshot("mx2.example.org:25", Share(r2));
  a.labels = b.labels = {{"domain", "example.org"}};
  ExpectGolden("domain_checks", Render({a, b}));
}

TEST(RulesTest, NoDomainCheckSeriesWhenNoneRan) {
  const std::string text = Render({Snapshot("mx1.example.org:25", Share(HealthyPostfix()))});
  for (const char* prefix : {"smtp_mta_sts_", "smtp_tls_rpt_", "smtp_dane_", "smtp_dnsbl_"}) {
    EXPECT_EQ(text.find(std::string("\n") + prefix), std::string::npos) << prefix;
  }
}

TEST(GoldenTest, ProbeEndpointOmitsTargetLabel) {
  TargetSnapshot s;
  s.target = "mx1.example.org:25";
  s.last = Share(HealthyPostfix());  // no histogram: one probe has no history
  const std::string text = Render({s}, /*include_target_label=*/false);
  EXPECT_EQ(text.find("target="), std::string::npos);
  EXPECT_EQ(text.find("smtp_greeting_duration_seconds"), std::string::npos);
  ExpectGolden("probe_endpoint", text);
}

TEST(GoldenTest, HostileBannerAndCertificateAreEscaped) {
  // Whatever the server sends ends up in label values: quotes, backslashes, newlines, UTF-8,
  // invalid UTF-8 and control characters must all yield a valid exposition.
  ProbeResult r;
  r.host = "evil.example";
  r.port = 25;
  r.success = true;
  r.duration = milliseconds(30);
  r.started_at = UnixTime(1700000420);
  r.steps = {Ok(Step::kConnect, 5), Ok(Step::kGreeting, 10, 220), Ok(Step::kEhlo, 5, 250),
             Ok(Step::kQuit, 1, 221)};
  r.greeting =
      GreetingInfo{"mx.\"quoted\"\\back\\slash", "Pöstfix ☃ \"ultra\"", "1.0\nX-Injected: 1", true};
  r.esmtp = true;
  Capabilities caps;
  caps.domain = "evil.example";
  caps.extensions = {Ext("X-\"EVIL\""), Ext("X-\xff\xfeRAW"), Ext("X-CR\rLF")};
  r.capabilities = caps;
  r.starttls_offered = false;
  TlsInfo tls;  // the handshake failed after the certificate arrived: no version, no cipher
  tls.chain = {
      Cert("CN=m\xc3\xa4il.example,O=Caf\xc3\xa9 \"Bar\"\\Baz", "CN=\x01\x7f", "00", 1800000000)};
  tls.earliest_not_after = 1800000000;
  r.tls = tls;
  TargetSnapshot s = Snapshot("evil.example:25", Share(r));
  s.labels = {{"note", "line1\nline2 \"q\" \\ é"}};
  ExpectGolden("hostile_labels", Render({s}));
}

TEST(GoldenTest, SelfMetrics) {
  SelfMetrics self;
  self.version = "0.1.0";
  self.revision = "3f2c1ab";
  self.compiler = "gcc 12.2.0";
  self.probes_total_by_result = {{"success", 12345}, {"timeout", 7}, {"refused", 2}};
  self.last_reload_successful = true;
  self.last_reload_success_unix = 1700000000;
  self.probes_in_flight = 3;
  self.scheduler_lag = Histogram({0.001, 0.01, 0.1});
  for (double lag : {0.0004, 0.0012, 0.004, 0.0125, 0.25}) self.scheduler_lag.Observe(lag);
  const std::string text = RenderProbeMetrics(std::vector<TargetSnapshot>{}, true, &self);
  EXPECT_EQ(text, RenderText(BuildSelfFamilies(self)));
  ExpectGolden("self", text);
}

// ---- Rules --------------------------------------------------------------------------------------

TEST(RulesTest, NoTlsSeriesWhenNoTlsHappened) {
  const std::string text = Render({Snapshot("a:25", Share(HeloOnlyWithoutTls()))});
  EXPECT_EQ(text.find("smtp_tls_"), std::string::npos) << text;
  EXPECT_EQ(text.find("smtp_starttls_success"), std::string::npos) << text;
  EXPECT_NE(text.find("smtp_starttls_offered{target=\"a:25\"} 0"), std::string::npos) << text;
}

TEST(RulesTest, NoRelaySeriesWhenRelayTestNeverRan) {
  const std::string text = Render({Snapshot("a:25", Share(HeloOnlyWithoutTls()))});
  // Neither series nor families (another family's HELP text may name them).
  EXPECT_EQ(text.find("\nsmtp_relay_"), std::string::npos) << text;
  EXPECT_EQ(text.find("# HELP smtp_relay_"), std::string::npos) << text;
  EXPECT_EQ(text.find("# TYPE smtp_relay_"), std::string::npos) << text;
}

TEST(RulesTest, FailureInfoOnlyWhenTheProbeFailed) {
  EXPECT_EQ(Render({Snapshot("a:25", Share(HealthyPostfix()))}).find("\nsmtp_probe_failure_info"),
            std::string::npos);
}

TEST(RulesTest, RelayRunOfTheLatestProbeWinsOverTheKeptOne) {
  TargetSnapshot s = Snapshot("a:25", Share(HealthyPostfix()));  // ran the relay test: refused
  RelayResult old;
  old.ran = true;
  old.attempts = {Attempt("external", 250, 250, RelayOutcome::kAccepted)};
  s.last_relay = std::make_shared<const RelayResult>(old);
  s.last_relay_at = UnixTime(1600000000);
  const std::string text = Render({s});
  EXPECT_NE(text.find("smtp_relay_open{target=\"a:25\"} 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("smtp_relay_last_run_timestamp_seconds{target=\"a:25\"} 1700000000\n"),
            std::string::npos)
      << text;
}

TEST(RulesTest, FamiliesHaveHelpAndInfoGaugesAreOne) {
  TargetSnapshot s = Snapshot("a:25", Share(HealthyPostfix()));
  std::vector<prometheus::MetricFamily> families = BuildProbeFamilies({s}, true);
  for (const auto& f : BuildSelfFamilies(SelfMetrics{})) families.push_back(f);
  std::set<std::string> names;
  for (const prometheus::MetricFamily& f : families) {
    EXPECT_TRUE(names.insert(f.name).second) << "family twice: " << f.name;
    EXPECT_GT(f.help.size(), 20u) << f.name;
    EXPECT_EQ(f.help.find_first_of("\\\n"), std::string::npos) << f.name;
    EXPECT_FALSE(f.metric.empty()) << f.name;
    if (f.name.ends_with("_info")) {
      for (const auto& m : f.metric) EXPECT_EQ(m.gauge.value, 1) << f.name;
    }
  }
}

TEST(RulesTest, OutputDoesNotDependOnInputOrder) {
  std::vector<TargetSnapshot> targets = {Snapshot("c:25", Share(HealthyPostfix())),
                                         Snapshot("a:25", Share(HeloOnlyWithoutTls())),
                                         Snapshot("b:25", Share(HealthyPostfix()))};
  const std::string forward = Render(targets);
  std::reverse(targets.begin(), targets.end());
  EXPECT_EQ(Render(targets), forward);
  // Grouped by target, sorted.
  const std::size_t a = forward.find("smtp_probe_success{target=\"a:25\"}");
  const std::size_t b = forward.find("smtp_probe_success{target=\"b:25\"}");
  const std::size_t c = forward.find("smtp_probe_success{target=\"c:25\"}");
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
}

TEST(RulesTest, RemovedTargetDisappears) {
  TargetSnapshot a = Snapshot("a:25", Share(HeloOnlyWithoutTls()));
  TargetSnapshot b = Snapshot("b:25", Share(HeloOnlyWithoutTls()));
  EXPECT_NE(Render({a, b}).find("\"b:25\""), std::string::npos);
  EXPECT_EQ(Render({a}).find("\"b:25\""), std::string::npos);
}

TEST(RulesTest, DuplicateLabelSetKeepsTheFirstTargetWhole) {
  ProbeResult failed = HeloOnlyWithoutTls();
  failed.success = false;
  failed.failed_step = Step::kHelo;
  failed.failure_reason = FailureReason::kRejected;
  failed.steps.push_back(Ok(Step::kQuit, 1, 221));
  TargetSnapshot first = Snapshot("x", Share(HeloOnlyWithoutTls()));
  TargetSnapshot second = Snapshot("y", Share(failed));
  const std::string text = Render({first, second}, /*include_target_label=*/false);
  EXPECT_NE(text.find("smtp_probe_success 1\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("smtp_probe_success 0"), std::string::npos) << text;
  EXPECT_EQ(text.find("quit"), std::string::npos) << "series of the dropped target leaked";
}

TEST(RulesTest, ReservedOrInvalidConfiguredLabelsAreDropped) {
  TargetSnapshot s = Snapshot("a:25", Share(HeloOnlyWithoutTls()));
  s.labels = {{"step", "x"}, {"__meta", "x"}, {"1bad", "x"}, {"target", "x"}, {"site", "eu"}};
  const std::string text = Render({s});
  EXPECT_NE(text.find("smtp_probe_success{target=\"a:25\",site=\"eu\"} 1\n"), std::string::npos)
      << text;
  EXPECT_EQ(text.find("=\"x\""), std::string::npos) << text;
}

TEST(RulesTest, AdvertisedListsAreCapped) {
  ProbeResult r = HeloOnlyWithoutTls();
  r.esmtp = true;
  Capabilities caps;
  // append(), because "X-K" + std::to_string(...) trips GCC 12's -O3 -Wrestrict false positive.
  for (int i = 0; i < 500; ++i) {
    caps.extensions.push_back(Ext(std::string("X-K").append(std::to_string(1000 + i))));
    caps.auth_mechanisms.push_back(std::string("M").append(std::to_string(1000 + i)));
  }
  r.capabilities = caps;
  std::size_t extensions = 0, mechanisms = 0;
  for (const auto& f : BuildProbeFamilies({Snapshot("a:25", Share(r))}, true)) {
    if (f.name == "smtp_ehlo_extension_info") extensions = f.metric.size();
    if (f.name == "smtp_auth_mechanism_info") mechanisms = f.metric.size();
  }
  EXPECT_EQ(extensions, kMaxSeriesPerList);
  EXPECT_EQ(mechanisms, kMaxSeriesPerList);
}

TEST(RulesTest, FcrdnsNeedsForwardConfirmationAndTheBannerName) {
  auto value = [](std::optional<bool> fcrdns, std::optional<bool> banner) {
    ProbeResult r = HeloOnlyWithoutTls();
    r.dns.fcrdns_match = fcrdns;
    r.dns.banner_matches_ptr = banner;
    const std::string text = Render({Snapshot("a", Share(r))});
    const std::string key = "smtp_fcrdns_match{target=\"a\"} ";
    const std::size_t at = text.find(key);
    return at == std::string::npos ? std::string("absent") : text.substr(at + key.size(), 1);
  };
  EXPECT_EQ(value(std::nullopt, std::nullopt), "absent");
  EXPECT_EQ(value(true, true), "1");
  EXPECT_EQ(value(true, std::nullopt), "1");  // no banner: forward confirmation alone
  EXPECT_EQ(value(true, false), "0");
  EXPECT_EQ(value(false, true), "0");
}

TEST(RulesTest, HistogramIsExportedOnceTheTargetWasProbed) {
  TargetSnapshot never = Snapshot("a", nullptr);
  EXPECT_EQ(Render({never}), "");
  TargetSnapshot probed = Snapshot("a", Share(HeloOnlyWithoutTls()));  // no observations yet
  EXPECT_NE(Render({probed}).find("smtp_greeting_duration_seconds_count{target=\"a\"} 0\n"),
            std::string::npos);
}

TEST(RulesTest, StepDurationsAreInSeconds) {
  TargetSnapshot s = Snapshot("a", Share(HealthyPostfix()));
  const std::string text = Render({s});
  EXPECT_NE(text.find("smtp_probe_step_duration_seconds{target=\"a\",step=\"greeting\"} 0.042\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("smtp_probe_duration_seconds{target=\"a\"} 0.412\n"), std::string::npos);
}

// ---- Pieces ------------------------------------------------------------------------------------

TEST(SanitizeLabelValueTest, KeepsValidUtf8AndEscapableCharacters) {
  EXPECT_EQ(SanitizeLabelValue("mx.example.org"), "mx.example.org");
  EXPECT_EQ(SanitizeLabelValue("a\"b\\c\nd\te"), "a\"b\\c\nd\te");  // the serializer escapes
  EXPECT_EQ(SanitizeLabelValue("Pöstfix ☃ 𝄞"), "Pöstfix ☃ 𝄞");
}

// The UTF-8 rules themselves are the escaping kit's (tests/unit/escape_test.cc, ValidUtf8Text);
// a label value follows them.
TEST(SanitizeLabelValueTest, FollowsTheKitsUtf8Rules) {
  for (const std::string& value : {std::string("a\xff"
                                               "b"),
                                   std::string("\xed\xa0\x80"), std::string("a\rb\0c\x7f", 6)}) {
    EXPECT_EQ(SanitizeLabelValue(value), ValidUtf8Text(value)) << value;
  }
  EXPECT_EQ(SanitizeLabelValue("a\xff"
                               "b"),
            "a\xEF\xBF\xBD"
            "b");
}

TEST(SanitizeLabelValueTest, BoundsLengthWithoutSplittingACharacter) {
  EXPECT_EQ(SanitizeLabelValue(std::string(10000, 'x')).size(), kMaxLabelValueBytes);
  std::string snowmen;
  for (int i = 0; i < 1000; ++i) snowmen += "☃";  // 3 bytes each
  const std::string out = SanitizeLabelValue(snowmen);
  EXPECT_EQ(out.size(), kMaxLabelValueBytes / 3 * 3);
  EXPECT_EQ(SanitizeLabelValue(out), out);
}

TEST(TargetLabelNameErrorTest, AcceptsOrdinaryNames) {
  for (const char* name : {"site", "env", "_x", "team_2", "Region"}) {
    EXPECT_FALSE(TargetLabelNameError(name).has_value()) << name;
  }
}

TEST(TargetLabelNameErrorTest, RejectsInvalidReservedAndOwnNames) {
  for (const char* name : {"",        "1a",     "a-b",      "a.b",    "ä",       "__name__",
                           "__x",     "target", "step",     "reason", "tls",     "extension",
                           "version", "le",     "quantile", "result", "variant", "serial",
                           "verdict", "module", "domain",   "ip",     "job",     "instance"}) {
    EXPECT_TRUE(TargetLabelNameError(name).has_value()) << name;
  }
  EXPECT_EQ(*TargetLabelNameError("step"),
            "label name \"step\" is reserved for the exporter's own labels");
}

TEST(ProbeResultLabelTest, SuccessOrTheReason) {
  ProbeResult r;
  r.success = true;
  EXPECT_EQ(ProbeResultLabel(r), "success");
  r.success = false;
  r.failure_reason = FailureReason::kTimeout;
  EXPECT_EQ(ProbeResultLabel(r), "timeout");
}

TEST(SelfMetricsTest, EveryResultIsPresentFromTheStart) {
  const std::string text = RenderText(BuildSelfFamilies(SelfMetrics{}));
  for (const char* result : {"success", "dns", "refused", "timeout", "unreachable", "reset", "tls",
                             "protocol", "rejected", "forbidden"}) {
    EXPECT_NE(text.find("smtp_exporter_probes_total{result=\"" + std::string(result) + "\"} 0\n"),
              std::string::npos)
        << result;
  }
  EXPECT_NE(text.find("compiler=\"" + CompilerDescription() + "\""), std::string::npos) << text;
}

}  // namespace
}  // namespace smtp::metrics_test

// Specification of the metrics layer (DESIGN §2): what an operator sees on /metrics and /probe
// for representative probe results. The expositions are golden files in testdata/, compared byte
// for byte; `UPDATE_GOLDEN=1 ./metrics_tests` rewrites them (review the diff before committing).
// The ctest test metrics.promtool_check lints every golden file with `promtool check metrics`.
#include "daemon/metrics.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace smtp {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// ---- Building results by hand ------------------------------------------------------------------

std::chrono::system_clock::time_point UnixTime(std::int64_t s) {
  return std::chrono::system_clock::time_point(seconds(s));
}

StepResult Ok(Step step, int ms, int reply_code = 0) {
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

Extension Ext(std::string keyword, std::vector<std::string> parameters = {}) {
  return Extension{std::move(keyword), std::move(parameters)};
}

// A Postfix-like EHLO reply. The derived fields are set by hand as the parser would set them.
Capabilities PostfixCapabilities(bool over_tls) {
  Capabilities c;
  c.domain = "mx1.example.org";
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

// The healthy port-25 MTA: Postfix with opportunistic STARTTLS, a Let's Encrypt certificate,
// relay test refused on every variant, forward-confirmed reverse DNS.
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

// The production path (RenderProbeMetrics, straight from the snapshots to text), checked against
// the MetricFamily path (BuildProbeFamilies + RenderText) on every use.
std::string Render(const std::vector<TargetSnapshot>& targets, bool include_target_label = true) {
  std::string text = RenderProbeMetrics(targets, include_target_label);
  EXPECT_EQ(text, RenderText(BuildProbeFamilies(targets, include_target_label)));
  return text;
}

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
  r.steps[2].enhanced_code = "5.7.1";
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
  const std::string text = RenderProbeMetrics({}, true, &self);
  EXPECT_EQ(text, RenderText(BuildSelfFamilies(self)));
  ExpectGolden("self", text);
}

// ---- Rules --------------------------------------------------------------------------------------

ProbeResult HeloOnlyWithoutTls() {
  ProbeResult r;
  r.success = true;
  r.started_at = UnixTime(1700000000);
  r.steps = {Ok(Step::kConnect, 1), Ok(Step::kGreeting, 1, 220), Ok(Step::kHelo, 1, 250)};
  r.esmtp = false;
  r.starttls_offered = false;  // as the engine records a HELO-only server
  return r;
}

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

TEST(SanitizeLabelValueTest, ReplacesInvalidUtf8AndControls) {
  const std::string r = "\xEF\xBF\xBD";
  EXPECT_EQ(SanitizeLabelValue("a\xff"
                               "b"),
            "a" + r + "b");
  EXPECT_EQ(SanitizeLabelValue("\xc0\xaf"), r + r);                  // overlong "/"
  EXPECT_EQ(SanitizeLabelValue("\xed\xa0\x80"), r + r + r);          // UTF-16 surrogate
  EXPECT_EQ(SanitizeLabelValue("\xf4\x90\x80\x80"), r + r + r + r);  // above U+10FFFF
  EXPECT_EQ(SanitizeLabelValue("\xe2\x98"), r + r);                  // truncated sequence
  EXPECT_EQ(SanitizeLabelValue(std::string("a\rb\0c\x7f", 6)), "a" + r + "b" + r + "c" + r);
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
                             "protocol", "rejected"}) {
    EXPECT_NE(text.find("smtp_exporter_probes_total{result=\"" + std::string(result) + "\"} 0\n"),
              std::string::npos)
        << result;
  }
  EXPECT_NE(text.find("compiler=\"" + CompilerDescription() + "\""), std::string::npos) << text;
}

// ---- The exposition writer against prometheus::TextSerializer ----------------------------------
//
// Our writer replaced TextSerializer (see metrics.h). Both renderings of the same families are
// parsed with a small exposition parser and must agree line by line: same HELP/TYPE lines, same
// metric names and label sets in the same order, and values that are equal as doubles
// (TextSerializer prints 16 significant digits, so its values are only within a relative 1e-15 of
// ours; ours must parse back to the exact double, which RoundTripsEveryDouble checks).

struct ParsedLine {
  bool comment = false;
  std::string text;  // a comment line verbatim; for a sample, its metric name
  std::vector<std::pair<std::string, std::string>> labels;  // unescaped values
  double value = 0;
  std::string timestamp;
};

// A number of the exposition. TextSerializer's 16 digits round the largest doubles out of range
// (DBL_MAX becomes 1.797693134862316e+308, which Prometheus refuses as out of range); such a
// number parses as the infinity of its sign, and SameNumber() accepts it against DBL_MAX.
double ParseNumber(const std::string& text) {
  if (text == "NaN" || text == "Nan") return std::numeric_limits<double>::quiet_NaN();
  if (text == "+Inf") return std::numeric_limits<double>::infinity();
  if (text == "-Inf") return -std::numeric_limits<double>::infinity();
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  EXPECT_EQ(end, text.data() + text.size()) << "bad number " << text;
  if (ec == std::errc::result_out_of_range && std::abs(std::strtod(text.c_str(), nullptr)) > 1) {
    return text[0] == '-' ? -std::numeric_limits<double>::infinity()
                          : std::numeric_limits<double>::infinity();
  }
  EXPECT_TRUE(ec == std::errc()) << "bad number " << text;
  return value;
}

// Text format 0.0.4, strictly: a line is a comment or  name[{l="v",...}] value[ timestamp].
std::vector<ParsedLine> ParseExposition(const std::string& text) {
  std::vector<ParsedLine> lines;
  EXPECT_TRUE(text.empty() || text.back() == '\n') << "no final newline";
  std::size_t at = 0;
  while (at < text.size()) {
    const std::size_t end = text.find('\n', at);
    const std::string line = text.substr(at, end - at);
    at = end + 1;
    ParsedLine parsed;
    if (line.starts_with("#")) {
      EXPECT_TRUE(line.starts_with("# HELP ") || line.starts_with("# TYPE ")) << line;
      parsed.comment = true;
      parsed.text = line;
      lines.push_back(parsed);
      continue;
    }
    std::size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    parsed.text = line.substr(0, i);
    EXPECT_FALSE(parsed.text.empty()) << line;
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        const std::size_t equals = line.find('=', i);
        EXPECT_NE(equals, std::string::npos) << line;
        if (equals == std::string::npos) return lines;
        std::string name = line.substr(i, equals - i), value;
        i = equals + 1;
        EXPECT_EQ(line[i], '"') << line;
        for (++i; i < line.size() && line[i] != '"'; ++i) {
          if (line[i] == '\\') {
            ++i;
            EXPECT_TRUE(line[i] == '\\' || line[i] == '"' || line[i] == 'n') << line;
            value.push_back(line[i] == 'n' ? '\n' : line[i]);
          } else {
            value.push_back(line[i]);
          }
        }
        ++i;  // closing quote
        if (i < line.size() && line[i] == ',') ++i;
        parsed.labels.emplace_back(std::move(name), std::move(value));
      }
      ++i;  // closing brace
    }
    EXPECT_EQ(line[i], ' ') << line;
    const std::string rest = line.substr(i + 1);
    const std::size_t space = rest.find(' ');
    parsed.value = ParseNumber(rest.substr(0, space));
    if (space != std::string::npos) parsed.timestamp = rest.substr(space + 1);
    lines.push_back(parsed);
  }
  return lines;
}

// `ours` and `theirs` (TextSerializer's) are the same value.
bool SameNumber(double ours, double theirs, double relative) {
  if (std::isnan(ours) || std::isnan(theirs)) return std::isnan(ours) && std::isnan(theirs);
  if (ours == theirs) return true;
  if (std::isinf(theirs) && std::abs(ours) == std::numeric_limits<double>::max()) {
    return std::signbit(ours) == std::signbit(theirs);  // TextSerializer rounded out of range
  }
  return std::abs(ours - theirs) <= relative * std::max(std::abs(ours), std::abs(theirs));
}

std::string Serialize(const std::vector<prometheus::MetricFamily>& families) {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

// Ours and TextSerializer's text of the same families say the same thing.
void ExpectEquivalent(const std::vector<prometheus::MetricFamily>& families) {
  const std::string ours = RenderText(families), theirs = Serialize(families);
  const std::vector<ParsedLine> a = ParseExposition(ours), b = ParseExposition(theirs);
  ASSERT_EQ(a.size(), b.size()) << ours << "\n----\n" << theirs;
  for (std::size_t i = 0; i < a.size(); ++i) {
    SCOPED_TRACE("line " + std::to_string(i + 1) + ": " + a[i].text);
    EXPECT_EQ(a[i].comment, b[i].comment);
    EXPECT_EQ(a[i].text, b[i].text);
    EXPECT_EQ(a[i].timestamp, b[i].timestamp);
    EXPECT_TRUE(SameNumber(a[i].value, b[i].value, 1e-15)) << a[i].value << " vs " << b[i].value;
    ASSERT_EQ(a[i].labels.size(), b[i].labels.size());
    for (std::size_t j = 0; j < a[i].labels.size(); ++j) {
      EXPECT_EQ(a[i].labels[j].first, b[i].labels[j].first);
      if (a[i].labels[j].first == "le" || a[i].labels[j].first == "quantile") {
        EXPECT_TRUE(SameNumber(ParseNumber(a[i].labels[j].second),
                               ParseNumber(b[i].labels[j].second), 1e-15));
      } else {
        EXPECT_EQ(a[i].labels[j].second, b[i].labels[j].second);
      }
    }
  }
}

// Awkward doubles: integers around 2^53, subnormals, extremes, negative zero, NaN, infinities.
double RandomValue(std::mt19937_64& rng) {
  constexpr double kSpecial[] = {0.0,
                                 -0.0,
                                 1,
                                 0.1,
                                 0.009,
                                 1700000000.123456789,
                                 9007199254740992.0,
                                 9007199254740993.0,
                                 -9007199254740994.0,
                                 1e15,
                                 1e16,
                                 1e21,
                                 1e-5,
                                 123456789012345678.0,
                                 std::numeric_limits<double>::max(),
                                 std::numeric_limits<double>::lowest(),
                                 std::numeric_limits<double>::min(),
                                 std::numeric_limits<double>::denorm_min(),
                                 std::numeric_limits<double>::infinity(),
                                 -std::numeric_limits<double>::infinity(),
                                 std::numeric_limits<double>::quiet_NaN()};
  switch (rng() % 4) {
    case 0:
      return kSpecial[rng() % std::size(kSpecial)];
    case 1:
      return static_cast<double>(static_cast<std::int64_t>(rng() % 2000001) - 1000000);
    case 2:
      return std::uniform_real_distribution<double>(-1000, 1000)(rng);
    default: {
      double value = 0;
      do {  // any finite bit pattern
        const std::uint64_t bits = rng();
        std::memcpy(&value, &bits, sizeof value);
      } while (!std::isfinite(value));
      return value;
    }
  }
}

std::string RandomLabelValue(std::mt19937_64& rng) {
  static const char* const kPieces[] = {"a",   "mx1.example.org",
                                        "\"",  "\\",
                                        "\n",  "\t",
                                        " ",   "é",
                                        "☃",   "𝄞",
                                        "{",   "}",
                                        ",",   "=",
                                        "\\n", "\\\""};
  std::string value;
  for (std::uint64_t n = rng() % 6; n > 0; --n) value += kPieces[rng() % std::size(kPieces)];
  return value;
}

prometheus::MetricFamily RandomFamily(std::mt19937_64& rng, int index) {
  using prometheus::MetricType;
  constexpr MetricType kTypes[] = {MetricType::Counter, MetricType::Gauge, MetricType::Untyped,
                                   MetricType::Summary, MetricType::Histogram};
  prometheus::MetricFamily family;
  family.name = "family_" + std::to_string(index);
  family.help = "Help text of \"" + family.name + "\" with 'quotes' and ünïcödé.";
  family.type = kTypes[rng() % std::size(kTypes)];
  for (std::uint64_t m = rng() % 5; m > 0; --m) {  // sometimes none: HELP and TYPE only
    prometheus::ClientMetric metric;
    for (std::uint64_t l = rng() % 4; l > 0; --l) {
      metric.label.push_back({"label_" + std::to_string(l), RandomLabelValue(rng)});
    }
    if (rng() % 4 == 0) metric.timestamp_ms = static_cast<std::int64_t>(rng() % 2000000000000);
    metric.counter.value = metric.gauge.value = metric.untyped.value = RandomValue(rng);
    metric.summary.sample_count = metric.histogram.sample_count = rng() % 100000;
    metric.summary.sample_sum = metric.histogram.sample_sum = RandomValue(rng);
    std::uint64_t cumulative = 0;
    double bound = 0;
    for (std::uint64_t q = rng() % 4; q > 0; --q) {
      metric.summary.quantile.push_back(
          {static_cast<double>(rng() % 1001) / 1000, RandomValue(rng)});
      bound += std::uniform_real_distribution<double>(0.001, 10)(rng);
      cumulative += rng() % 50;
      metric.histogram.bucket.push_back({cumulative, bound});
    }
    if (rng() % 3 == 0) {  // an explicit +Inf bucket: no second one may be added
      metric.histogram.bucket.push_back({cumulative, std::numeric_limits<double>::infinity()});
    }
    family.metric.push_back(std::move(metric));
  }
  return family;
}

TEST(ExpositionWriterTest, RandomFamiliesSayWhatTextSerializerSays) {
  std::mt19937_64 rng(20240601);
  for (int round = 0; round < 300; ++round) {
    std::vector<prometheus::MetricFamily> families;
    for (int f = 0; f < 4; ++f) families.push_back(RandomFamily(rng, f));
    SCOPED_TRACE("round " + std::to_string(round));
    ExpectEquivalent(families);
    if (HasFatalFailure()) return;
  }
}

TEST(ExpositionWriterTest, ProbeFamiliesSayWhatTextSerializerSays) {
  TargetSnapshot healthy = Snapshot("mx1.example.org:25", Share(HealthyPostfix()));
  healthy.labels = {{"site", "eu"}};
  healthy.greeting_histogram = HistogramOf({0.042, 0.038, 0.051, 0.2, 1.5, 0.0123456789});
  TargetSnapshot helo = Snapshot("b:25", Share(HeloOnlyWithoutTls()));
  std::vector<prometheus::MetricFamily> families = BuildProbeFamilies({healthy, helo}, true);
  SelfMetrics self;
  self.scheduler_lag = Histogram({0.005, 0.05});
  for (double lag : {0.001, 0.0093, 0.02}) self.scheduler_lag.Observe(lag);
  for (auto& f : BuildSelfFamilies(self)) families.push_back(std::move(f));
  ExpectEquivalent(families);
}

TEST(ExpositionWriterTest, RoundTripsEveryDouble) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 20000; ++i) {
    const double value = RandomValue(rng);
    prometheus::MetricFamily family{"x", "x", prometheus::MetricType::Gauge, {{}}};
    family.metric[0].gauge.value = value;
    const std::vector<ParsedLine> lines = ParseExposition(RenderText({family}));
    ASSERT_EQ(lines.size(), 3u);
    const double parsed = lines[2].value;
    if (std::isnan(value)) {
      EXPECT_TRUE(std::isnan(parsed));
    } else {
      EXPECT_EQ(std::memcmp(&parsed, &value, sizeof value), 0)
          << value << " rendered as " << RenderText({family});
    }
  }
}

TEST(ExpositionWriterTest, NumberSpelling) {
  const auto render = [](double value) {
    prometheus::MetricFamily family{"x", "h", prometheus::MetricType::Gauge, {{}}};
    family.metric[0].gauge.value = value;
    const std::string text = RenderText({family});
    return text.substr(text.rfind("\nx ") + 3);
  };
  EXPECT_EQ(render(0.009), "0.009\n");
  EXPECT_EQ(render(0.006 + 0.007), "0.013000000000000001\n");  // the sum is not 0.013
  EXPECT_EQ(render(1700000000), "1700000000\n");
  EXPECT_EQ(render(10240000), "10240000\n");
  EXPECT_EQ(render(9007199254740992.0), "9007199254740992\n");
  EXPECT_EQ(render(1e-5), "1e-05\n");
  EXPECT_EQ(render(-0.0), "-0\n");
  EXPECT_EQ(render(std::nan("")), "NaN\n");
  EXPECT_EQ(render(std::numeric_limits<double>::infinity()), "+Inf\n");
  EXPECT_EQ(render(-std::numeric_limits<double>::infinity()), "-Inf\n");
}

TEST(ExpositionWriterTest, EscapesHelpAndLabelValues) {
  prometheus::MetricFamily family{
      "x", "back\\slash\nnew \"line\"", prometheus::MetricType::Counter, {{}}};
  family.metric[0].label = {{"a", "q\"b\\n\nz"}};
  family.metric[0].counter.value = 2;
  EXPECT_EQ(RenderText({family}),
            "# HELP x back\\\\slash\\nnew \"line\"\n"
            "# TYPE x counter\n"
            "x{a=\"q\\\"b\\\\n\\nz\"} 2\n");
}

TEST(ExpositionWriterTest, RenderProbeMetricsIsBothFamiliesRendered) {
  TargetSnapshot a = Snapshot("a:25", Share(HealthyPostfix()));
  TargetSnapshot b = Snapshot("b:25", Share(HeloOnlyWithoutTls()));
  SelfMetrics self;
  self.version = "1.2.3";
  std::vector<prometheus::MetricFamily> families = BuildProbeFamilies({a, b}, true);
  for (auto& f : BuildSelfFamilies(self)) families.push_back(std::move(f));
  EXPECT_EQ(RenderProbeMetrics({a, b}, true, &self), RenderText(families));
  EXPECT_EQ(RenderProbeMetrics({}, true), "");
}

// Everything a hostile server or a careless config can put into label values comes out of a
// parser as exactly the sanitized value: nothing breaks out of its quotes or its line.
TEST(ExpositionWriterTest, HostileLabelValuesRoundTrip) {
  const std::vector<std::string> hostile = {
      "plain",
      "quote\" inside",
      "\"",
      "back\\slash\\",
      "\\\"",
      "\\n is not a newline",
      "new\nline\n",
      "\n",
      "tab\there",
      "cr\rlf",
      std::string("nul\0byte", 8),
      "\x01\x1f\x7f controls",
      "invalid \xff\xfe utf-8 \xc0\xaf \xed\xa0\x80",
      "truncated \xe2\x98",
      "Pöstfix ☃ 𝄞",
      "} 1\nsmtp_probe_success{target=\"forged\"} 1",
      "\"} 1\n# HELP forged",
      "x=\"y\",z=\"",
      std::string(700, 'x') + "\"",
      std::string(300, '\\'),
  };
  for (std::size_t i = 0; i < hostile.size(); ++i) {
    SCOPED_TRACE("value " + std::to_string(i));
    const std::string& value = hostile[i];
    ProbeResult r = HeloOnlyWithoutTls();
    r.esmtp = true;
    r.greeting = GreetingInfo{value, value, value, true};
    Capabilities caps;
    caps.extensions = {Ext(value)};
    caps.auth_mechanisms = {value};
    r.capabilities = caps;
    TlsInfo tls;
    tls.chain = {Cert(value, value, value, 1800000000)};
    tls.earliest_not_after = 1800000000;
    r.tls = tls;
    r.relay.ran = true;
    r.relay.attempts = {Attempt(value, 250, 550, RelayOutcome::kRefused)};
    TargetSnapshot s = Snapshot(value, Share(r));
    s.labels = {{"note", value}};
    const std::string text = Render({s});
    const std::string expected = SanitizeLabelValue(value);
    std::size_t checked = 0;
    for (const ParsedLine& line : ParseExposition(text)) {
      if (line.comment) continue;
      EXPECT_TRUE(line.text.starts_with("smtp_")) << line.text;
      ASSERT_GE(line.labels.size(), 2u);
      EXPECT_EQ(line.labels[0], (std::pair<std::string, std::string>{"target", expected}));
      EXPECT_EQ(line.labels[1], (std::pair<std::string, std::string>{"note", expected}));
      for (const auto& [name, label_value] : line.labels) {
        if (name == "hostname" || name == "software" || name == "version" || name == "extension" ||
            name == "mechanism" || name == "subject" || name == "issuer" || name == "serial" ||
            name == "variant") {
          EXPECT_EQ(label_value, expected) << name;
          ++checked;
        }
      }
    }
    EXPECT_EQ(checked, 9u) << text;
    if (HasFailure()) return;
  }
}

// The same with random values: every byte class at every offset, on both sides of the 8-byte
// blocks that the scanner of label values looks at.
TEST(ExpositionWriterTest, RandomLabelValuesRoundTrip) {
  std::mt19937_64 rng(99);
  const std::string alphabet[] = {"a",  "Z",    " ",    "~",    "\"",   "\\",   "\n", "\t",
                                  "\r", "\x01", "\x1f", "\x7f", "\x80", "\xff", "é",  "☃"};
  for (int round = 0; round < 2000; ++round) {
    std::string value;
    for (std::uint64_t n = rng() % 24; n > 0; --n) value += alphabet[rng() % std::size(alphabet)];
    const std::string expected = SanitizeLabelValue(value);
    for (const char c : expected) {
      ASSERT_TRUE(static_cast<unsigned char>(c) >= 0x20 || c == '\t' || c == '\n');
      ASSERT_NE(c, '\x7f');
    }
    ProbeResult r = HeloOnlyWithoutTls();
    Capabilities caps;
    caps.extensions = {Ext(value)};
    r.capabilities = caps;
    TargetSnapshot s = Snapshot("t", Share(r));
    s.labels = {{"note", value}};
    bool seen = false;
    for (const ParsedLine& line : ParseExposition(Render({s}))) {
      if (line.comment) continue;
      ASSERT_GE(line.labels.size(), 2u);
      EXPECT_EQ(line.labels[1].second, expected);
      if (line.text == "smtp_ehlo_extension_info") {
        EXPECT_EQ(line.labels[2].second, expected);
        seen = true;
      }
    }
    EXPECT_TRUE(seen);
    if (HasFailure()) return;
  }
}

}  // namespace
}  // namespace smtp

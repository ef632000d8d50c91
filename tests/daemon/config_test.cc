// The config file's contract (daemon/config.h), read as a specification:
//  - every rule has a file in testdata/config/bad/ and the exact one-line error beside it (.err);
//  - testdata/config/good.yml sets every key, and every decoded field is asserted;
//  - the shipped example deploy/smtp_exporter.yml loads.
#include "daemon/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace smtp {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

const std::filesystem::path kTestdata = SMTP_EXPORTER_TESTDATA;
const std::filesystem::path kBadDir = kTestdata / "config" / "bad";

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream stream(path, std::ios::binary);
  std::ostringstream text;
  text << stream.rdbuf();
  return text.str();
}

// ---------------------------------------------------------------------------------------------
// One bad file per rule.

std::vector<std::string> BadCases() {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(kBadDir)) {
    if (entry.path().extension() == ".yml") names.push_back(entry.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

class BadConfigTest : public testing::TestWithParam<std::string> {};

TEST_P(BadConfigTest, FailsWithTheExactError) {
  const std::filesystem::path yml = kBadDir / (GetParam() + ".yml");
  const std::filesystem::path err = kBadDir / (GetParam() + ".err");
  ASSERT_TRUE(std::filesystem::exists(err)) << "missing " << err;
  std::string expected = ReadFile(err);
  // .err files end with a newline like any text file; the error itself has none.
  if (expected.ends_with('\n')) expected.pop_back();
  // Paths in errors are absolute; the .err files spell the testdata folder as @TESTDATA@.
  const std::string placeholder = "@TESTDATA@";
  if (const std::size_t at = expected.find(placeholder); at != std::string::npos) {
    expected.replace(at, placeholder.size(), kTestdata.string());
  }

  const LoadResult result = LoadConfigFile(yml.string());
  EXPECT_FALSE(result.config.has_value());
  EXPECT_EQ(result.error, expected);
  EXPECT_EQ(result.error.find('\n'), std::string::npos) << "errors are one line";
}

INSTANTIATE_TEST_SUITE_P(Rules, BadConfigTest, testing::ValuesIn(BadCases()),
                         [](const testing::TestParamInfo<std::string>& param) {
                           return param.param;
                         });

TEST(BadConfigFiles, EveryErrorFileHasItsConfig) {
  for (const auto& entry : std::filesystem::directory_iterator(kBadDir)) {
    if (entry.path().extension() != ".err") continue;
    std::filesystem::path yml = entry.path();
    yml.replace_extension(".yml");
    EXPECT_TRUE(std::filesystem::exists(yml)) << "orphan " << entry.path();
  }
  EXPECT_GE(BadCases().size(), 40u);
}

// ---------------------------------------------------------------------------------------------
// The full good file.

class GoodConfigTest : public testing::Test {
 protected:
  void SetUp() override {
    const LoadResult result = LoadConfigFile((kTestdata / "config" / "good.yml").string());
    ASSERT_EQ(result.error, "");
    ASSERT_TRUE(result.config.has_value());
    config_ = *result.config;
  }
  Config config_;
};

TEST_F(GoodConfigTest, HasEveryModule) {
  std::vector<std::string> names;
  for (const auto& [name, module] : config_.modules) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"bare", "default", "smtps", "strict"}));
}

TEST_F(GoodConfigTest, DefaultModuleAsWritten) {
  const Module& m = config_.modules.at("default");
  EXPECT_EQ(m.timeout, seconds(8));
  EXPECT_EQ(m.ehlo_name, "probe.example.org");
  EXPECT_EQ(m.starttls, StartTlsMode::kOpportunistic);
  EXPECT_FALSE(m.implicit_tls);
  EXPECT_TRUE(m.tls.verify);
  EXPECT_EQ(m.tls.server_name, "");
  EXPECT_EQ(m.tls.ca_file, "");
  EXPECT_EQ(m.ip_protocol, IpProtocol::kIp4);
  EXPECT_EQ(m.dns_server, "");
  EXPECT_TRUE(m.relay_test.enabled);
  EXPECT_EQ(m.relay_test.interval, hours(1));
  EXPECT_EQ(m.relay_test.timeout, RelayTestOptions{}.timeout);
  EXPECT_EQ(m.relay_test.mail_from, "probe@example.org");
  EXPECT_EQ(m.relay_test.rcpt_to, "relay-test@example.net");
  EXPECT_EQ(m.relay_test.variants, BasicRelayVariants());
}

TEST_F(GoodConfigTest, StrictModuleAsWritten) {
  const Module& m = config_.modules.at("strict");
  EXPECT_EQ(m.timeout, seconds(90));
  EXPECT_EQ(m.ehlo_name, "[192.0.2.1]");
  EXPECT_EQ(m.starttls, StartTlsMode::kRequired);
  EXPECT_FALSE(m.implicit_tls);
  EXPECT_FALSE(m.tls.verify);
  EXPECT_EQ(m.tls.server_name, "mail.example.org");
  EXPECT_EQ(m.tls.ca_file, (kTestdata / "config" / "certs" / "ca.pem").string())
      << "relative ca_file resolves against the config file's folder";
  EXPECT_EQ(m.ip_protocol, IpProtocol::kBoth);
  EXPECT_EQ(m.dns_server, "[2001:db8::53]:5353");
  EXPECT_TRUE(m.minimal_series);
  EXPECT_FALSE(config_.modules.at("default").minimal_series) << "full by default";
  EXPECT_FALSE(m.relay_test.enabled);
  EXPECT_EQ(m.relay_test.interval, hours(6));
  EXPECT_EQ(m.relay_test.mail_from, "monitor.team@example.com");
  EXPECT_EQ(m.relay_test.rcpt_to, "open-relay-check@example.net");
  EXPECT_EQ(m.relay_test.variants, (std::vector<std::string>{"external", "bang", "quoted"}));
}

TEST_F(GoodConfigTest, SmtpsModuleAsWritten) {
  const Module& m = config_.modules.at("smtps");
  EXPECT_EQ(m.timeout, milliseconds(500));
  EXPECT_TRUE(m.implicit_tls);
  EXPECT_EQ(m.starttls, StartTlsMode::kOff) << "a plain `off` is the word, not YAML 1.1 false";
  EXPECT_EQ(m.ip_protocol, IpProtocol::kIp6);
  EXPECT_EQ(m.dns_server, "192.0.2.53");
  EXPECT_EQ(m.relay_test.variants, AllRelayVariants());
  EXPECT_TRUE(m.checks.mta_sts);
  EXPECT_EQ(m.checks.mta_sts_port, 8443);
  EXPECT_TRUE(m.checks.tls_rpt);
  EXPECT_TRUE(m.checks.dane);
  EXPECT_EQ(m.checks.dnsbl, (std::vector<std::string>{"bl.example.org", "dnsbl.example.net."}));
  EXPECT_EQ(m.DefaultPort(), 465);
  // Unset keys keep their defaults.
  EXPECT_EQ(m.ehlo_name, Module{}.ehlo_name);
  EXPECT_TRUE(m.tls.verify);
  EXPECT_FALSE(m.relay_test.enabled);
  EXPECT_EQ(m.relay_test.interval, hours(1));
  // auth: the password is read from the file (first line, without its newline).
  EXPECT_EQ(m.auth.username, "monitor@example.com");
  EXPECT_EQ(m.auth.password_file, (kTestdata / "config" / "certs" / "smtp-password").string());
  EXPECT_EQ(m.auth.password, "hunter2-from-file");
  EXPECT_EQ(m.auth.mechanisms, (std::vector<std::string>{"SCRAM-SHA-256", "PLAIN"}));
  EXPECT_TRUE(m.auth.allow_plaintext);
  EXPECT_TRUE(m.user_enumeration.enabled);
  EXPECT_EQ(m.user_enumeration.name, "abuse");
  EXPECT_FALSE(config_.modules.at("default").user_enumeration.enabled);
  EXPECT_EQ(config_.modules.at("default").user_enumeration.name, "postmaster");
  EXPECT_FALSE(config_.modules.at("default").auth.enabled());
  EXPECT_EQ(config_.modules.at("default").auth.mechanisms, SupportedAuthMechanisms());
}

TEST_F(GoodConfigTest, NullModuleHasEveryDefault) {
  const Module& m = config_.modules.at("bare");
  const Module defaults;
  EXPECT_EQ(m.timeout, seconds(10));
  EXPECT_EQ(m.ehlo_name, defaults.ehlo_name);
  EXPECT_EQ(m.starttls, StartTlsMode::kOpportunistic);
  EXPECT_FALSE(m.implicit_tls);
  EXPECT_TRUE(m.tls.verify);
  EXPECT_EQ(m.ip_protocol, IpProtocol::kIp4);
  EXPECT_EQ(m.dns_server, "");
  EXPECT_FALSE(m.relay_test.enabled) << "relay tests are opt-in";
  EXPECT_EQ(m.relay_test.interval, hours(1));
  EXPECT_EQ(m.relay_test.mail_from, "probe@example.org");
  EXPECT_EQ(m.relay_test.rcpt_to, "relay-test@example.net");
  EXPECT_EQ(m.relay_test.variants, BasicRelayVariants());
  EXPECT_FALSE(m.checks.any()) << "domain checks are opt-in";
  EXPECT_EQ(m.checks.mta_sts_port, 443);
}

TEST_F(GoodConfigTest, TargetsAsWritten) {
  ASSERT_EQ(config_.targets.size(), 5u);

  const TargetConfig& t0 = config_.targets[0];
  EXPECT_EQ(t0.address, "192.0.2.10:25");
  EXPECT_EQ(t0.target, (Target{"192.0.2.10", 25, false}));
  EXPECT_EQ(t0.module, "default");
  EXPECT_EQ(t0.interval, seconds(60));
  EXPECT_EQ(t0.labels, (std::map<std::string, std::string>{{"site", "eu"}, {"tier", "primary"}}));

  const TargetConfig& t1 = config_.targets[1];
  EXPECT_EQ(t1.address, "mx:example.org");
  EXPECT_EQ(t1.target, (Target{"example.org", 25, true}));
  EXPECT_EQ(t1.module, "strict");
  EXPECT_EQ(t1.interval, minutes(5));
  EXPECT_TRUE(t1.labels.empty());

  const TargetConfig& t2 = config_.targets[2];
  EXPECT_EQ(t2.address, "[2001:db8::25]:587");
  EXPECT_EQ(t2.target, (Target{"2001:db8::25", 587, false}));
  EXPECT_EQ(t2.module, "strict");
  EXPECT_EQ(t2.interval, minutes(2));
  EXPECT_EQ(t2.labels, (std::map<std::string, std::string>{{"_private", "yes"}}));

  const TargetConfig& t3 = config_.targets[3];
  EXPECT_EQ(t3.address, "smtp.example.com");
  EXPECT_EQ(t3.target, (Target{"smtp.example.com", 465, false}))
      << "no port: the module's implicit TLS means 465";
  EXPECT_EQ(t3.module, "smtps");
  EXPECT_EQ(t3.interval, seconds(60));

  const TargetConfig& t4 = config_.targets[4];
  EXPECT_EQ(t4.target, (Target{"192.0.2.10", 25, false}));
  EXPECT_EQ(t4.module, "bare") << "one address may be probed by two modules";
}

TEST_F(GoodConfigTest, AllowlistAsWritten) {
  EXPECT_EQ(config_.probe_allowlist,
            (std::vector<std::string>{"127.0.0.0/8", "::1/128", "2001:db8::/32", "192.0.2.0/24",
                                      "mail.example.org", "*.example.net"}));
}

// ---------------------------------------------------------------------------------------------
// The shipped example and the zero-config defaults.

TEST(ExampleConfig, DeployExampleLoads) {
  const LoadResult result =
      LoadConfigFile((std::filesystem::path(SMTP_EXPORTER_DEPLOY) / "smtp_exporter.yml").string());
  ASSERT_EQ(result.error, "");
  ASSERT_TRUE(result.config.has_value());
  const Config& config = *result.config;
  EXPECT_EQ(config.modules.size(), 3u);
  EXPECT_TRUE(config.modules.at("default").relay_test.enabled);
  EXPECT_EQ(config.modules.at("tls_required").starttls, StartTlsMode::kRequired);
  ASSERT_EQ(config.targets.size(), 4u);
  EXPECT_TRUE(config.targets[1].target.mx);
  EXPECT_EQ(config.targets[3].target, (Target{"smtp.example.org", 465, false}));
  EXPECT_EQ(config.probe_allowlist, (std::vector<std::string>{"192.0.2.0/24", "*.example.org"}));
}

TEST(DefaultConfig, ProbesLocalhostPort25WithTheDefaultModule) {
  const Config config = DefaultConfig();
  ASSERT_EQ(config.modules.size(), 1u);
  ASSERT_TRUE(config.modules.contains("default"));
  ASSERT_EQ(config.targets.size(), 1u);
  EXPECT_EQ(config.targets[0].address, "127.0.0.1:25");
  EXPECT_EQ(config.targets[0].target, (Target{"127.0.0.1", 25, false}));
  EXPECT_EQ(config.targets[0].module, "default");
  EXPECT_EQ(config.targets[0].interval, seconds(60));
  EXPECT_TRUE(config.probe_allowlist.empty());
}

TEST(ParseConfig, EmptyDocumentHasTheDefaultModuleAndNoTargets) {
  for (const char* yaml : {"", "# only a comment\n", "modules:\ntargets:\n"}) {
    const LoadResult result = ParseConfig(yaml, "");
    ASSERT_EQ(result.error, "") << yaml;
    ASSERT_TRUE(result.config.has_value());
    EXPECT_TRUE(result.config->modules.contains("default"));
    EXPECT_TRUE(result.config->targets.empty());
  }
}

TEST(ParseConfig, DefinedDefaultModuleReplacesTheBuiltIn) {
  const LoadResult result = ParseConfig("modules: {default: {timeout: 3s}}", "");
  ASSERT_EQ(result.error, "");
  EXPECT_EQ(result.config->modules.size(), 1u);
  EXPECT_EQ(result.config->modules.at("default").timeout, seconds(3));
}

TEST(ParseConfig, TargetsMayPrecedeModules) {
  const LoadResult result = ParseConfig(
      "targets: [{address: 192.0.2.1, module: late}]\nmodules: {late: {timeout: 1s}}\n", "");
  ASSERT_EQ(result.error, "");
  EXPECT_EQ(result.config->targets[0].module, "late");
}

TEST(ParseConfig, TimeoutEqualToIntervalIsAllowed) {
  const LoadResult result = ParseConfig(
      "modules: {default: {timeout: 30s}}\ntargets: [{address: 192.0.2.1, interval: 30s}]\n", "");
  EXPECT_EQ(result.error, "");
}

TEST(ParseConfig, AbsoluteCaFileIsKeptAndRelativeResolvesAgainstBaseDir) {
  const std::string ca = (kTestdata / "config" / "certs" / "ca.pem").string();
  LoadResult result = ParseConfig("modules: {default: {tls: {ca_file: \"" + ca + "\"}}}", "/none");
  ASSERT_EQ(result.error, "");
  EXPECT_EQ(result.config->modules.at("default").tls.ca_file, ca);

  result = ParseConfig("modules: {default: {tls: {ca_file: ../certs/ca.pem}}}",
                       (kTestdata / "config" / "bad").string());
  ASSERT_EQ(result.error, "");
  EXPECT_EQ(result.config->modules.at("default").tls.ca_file, ca);
}

TEST(ParseConfig, ControlCharactersInErrorsAreEscaped) {
  const LoadResult result = ParseConfig("targets: [{address: \"a\\nb\"}]", "");
  EXPECT_EQ(result.error, "targets[0].address: invalid host \"a\\nb\" (line 1)");
  const LoadResult ehlo = ParseConfig("modules: {default: {ehlo_name: \"a\\tb\\x01\"}}", "");
  EXPECT_EQ(ehlo.error,
            "modules.default.ehlo_name: expected a domain name or an address literal like "
            "[192.0.2.1], got \"a\\tb\\x01\" (line 1)");
}

TEST(LoadConfigFile, MissingFileNamesThePath) {
  const LoadResult result = LoadConfigFile("/nonexistent/smtp_exporter.yml");
  EXPECT_FALSE(result.config.has_value());
  EXPECT_EQ(result.error, "/nonexistent/smtp_exporter.yml: No such file or directory");
}

TEST(LoadConfigFile, DirectoryIsAnError) {
  const LoadResult result = LoadConfigFile(kTestdata.string());
  EXPECT_FALSE(result.config.has_value());
  EXPECT_EQ(result.error, kTestdata.string() + ": is a directory");
}

// ---------------------------------------------------------------------------------------------
// Building probe specs.

TEST(MakeProbeSpec, CopiesTheModuleAndLeavesTheRelayTestToTheScheduler) {
  const LoadResult result = LoadConfigFile((kTestdata / "config" / "good.yml").string());
  ASSERT_TRUE(result.config.has_value());
  const Module& m = result.config->modules.at("strict");
  const ProbeSpec spec = MakeProbeSpec(m, "mail.example.org", 587);
  EXPECT_EQ(spec.host, "mail.example.org");
  EXPECT_EQ(spec.port, 587);
  EXPECT_FALSE(spec.address.has_value());
  EXPECT_EQ(spec.timeout, seconds(90));
  EXPECT_EQ(spec.ehlo_name, "[192.0.2.1]");
  EXPECT_EQ(spec.starttls, StartTlsMode::kRequired);
  EXPECT_FALSE(spec.implicit_tls);
  EXPECT_FALSE(spec.tls.verify);
  EXPECT_EQ(spec.tls.server_name, "mail.example.org");
  EXPECT_EQ(spec.tls.ca_file, m.tls.ca_file);
  EXPECT_EQ(spec.ip_protocol, IpProtocol::kBoth);
  EXPECT_EQ(spec.dns_server, "[2001:db8::53]:5353");
  EXPECT_TRUE(spec.check_fcrdns);
  EXPECT_FALSE(spec.relay.enabled);
  EXPECT_EQ(spec.relay.mail_from, "monitor.team@example.com");
  EXPECT_EQ(spec.relay.rcpt_to, "open-relay-check@example.net");
  EXPECT_EQ(spec.relay.variants, (std::vector<std::string>{"external", "bang", "quoted"}));
  EXPECT_EQ(spec.relay.timeout, minutes(2));

  Module enabled = result.config->modules.at("default");
  ASSERT_TRUE(enabled.relay_test.enabled);
  EXPECT_FALSE(MakeProbeSpec(enabled, "192.0.2.1", 25).relay.enabled);
}

TEST(MakeProbeSpec, CopiesTheAuthCredentials) {
  const LoadResult result = LoadConfigFile((kTestdata / "config" / "good.yml").string());
  ASSERT_TRUE(result.config.has_value());
  const ProbeSpec spec = MakeProbeSpec(result.config->modules.at("smtps"), "192.0.2.1", 0);
  EXPECT_EQ(spec.auth.username, "monitor@example.com");
  EXPECT_EQ(spec.auth.password, "hunter2-from-file");
  EXPECT_EQ(spec.auth.mechanisms, (std::vector<std::string>{"SCRAM-SHA-256", "PLAIN"}));
  EXPECT_TRUE(spec.auth.allow_plaintext);
  EXPECT_TRUE(spec.user_enumeration.enabled);
  EXPECT_EQ(spec.user_enumeration.name, "abuse");
  EXPECT_FALSE(MakeProbeSpec(result.config->modules.at("default"), "192.0.2.1", 0).auth.enabled());
}

TEST(ParseConfig, ThePasswordFileIsReadAgainAtEachLoad) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("smtp_exporter_auth_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::filesystem::path config = dir / "c.yml";
  {
    std::ofstream(config) << "modules:\n  default:\n    auth: {username: u, password_file: pw}\n";
    std::ofstream(dir / "pw") << "first\r\nsecond line is not the password\n";
  }
  LoadResult result = LoadConfigFile(config.string());
  ASSERT_TRUE(result.config.has_value()) << result.error;
  EXPECT_EQ(result.config->modules.at("default").auth.password, "first");
  std::ofstream(dir / "pw") << "rotated";
  result = LoadConfigFile(config.string());
  ASSERT_TRUE(result.config.has_value()) << result.error;
  EXPECT_EQ(result.config->modules.at("default").auth.password, "rotated");
  // The error for an unreadable file names it and says nothing of what it held.
  std::filesystem::remove(dir / "pw");
  result = LoadConfigFile(config.string());
  EXPECT_FALSE(result.config.has_value());
  EXPECT_EQ(result.error.find("rotated"), std::string::npos);
  EXPECT_NE(result.error.find("modules.default.auth.password_file"), std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST(MakeProbeSpec, PortZeroMeansTheModuleDefault) {
  Module module;
  EXPECT_EQ(MakeProbeSpec(module, "192.0.2.1", 0).port, 25);
  module.implicit_tls = true;
  EXPECT_EQ(MakeProbeSpec(module, "192.0.2.1", 0).port, 465);
}

// ---------------------------------------------------------------------------------------------
// The /probe allowlist.

TEST(ProbeAllowed, CidrEntriesMatchIpLiterals) {
  const std::vector<std::string> allowlist = {"127.0.0.0/8", "::1/128", "2001:db8:1::/48",
                                              "198.51.100.128/25"};
  EXPECT_TRUE(ProbeAllowed(allowlist, "127.0.0.1", 25));
  EXPECT_TRUE(ProbeAllowed(allowlist, "127.255.0.9", 25));
  EXPECT_TRUE(ProbeAllowed(allowlist, "::1", 25));
  EXPECT_TRUE(ProbeAllowed(allowlist, "[::1]", 25));
  EXPECT_TRUE(ProbeAllowed(allowlist, "2001:db8:1:ffff::25", 25));
  EXPECT_TRUE(ProbeAllowed(allowlist, "198.51.100.200", 25));
  EXPECT_FALSE(ProbeAllowed(allowlist, "198.51.100.127", 25));
  EXPECT_FALSE(ProbeAllowed(allowlist, "128.0.0.1", 25));
  EXPECT_FALSE(ProbeAllowed(allowlist, "2001:db8:2::25", 25));
  EXPECT_FALSE(ProbeAllowed(allowlist, "::2", 25));
  EXPECT_FALSE(ProbeAllowed(allowlist, "localhost", 25)) << "names are never resolved for CIDRs";
}

TEST(ProbeAllowed, ZeroLengthPrefixMatchesItsWholeFamily) {
  EXPECT_TRUE(ProbeAllowed({"0.0.0.0/0"}, "203.0.113.7", 25));
  EXPECT_FALSE(ProbeAllowed({"0.0.0.0/0"}, "2001:db8::1", 25));
}

TEST(ProbeAllowed, ExactEntries) {
  const std::vector<std::string> allowlist = {"mail.example.org", "192.0.2.25", "2001:db8::25"};
  EXPECT_TRUE(ProbeAllowed(allowlist, "mail.example.org", 25));
  EXPECT_TRUE(ProbeAllowed(allowlist, "MAIL.Example.ORG.", 25));
  EXPECT_TRUE(ProbeAllowed(allowlist, "192.0.2.25", 25));
  EXPECT_TRUE(ProbeAllowed(allowlist, "2001:0db8::0025", 25));
  EXPECT_FALSE(ProbeAllowed(allowlist, "smtp.mail.example.org", 25));
  EXPECT_FALSE(ProbeAllowed(allowlist, "192.0.2.26", 25));
  EXPECT_FALSE(ProbeAllowed(allowlist, "", 25));
}

TEST(ProbeAllowed, WildcardMatchesNamesStrictlyBelowTheDomain) {
  const std::vector<std::string> allowlist = {"*.example.net"};
  EXPECT_TRUE(ProbeAllowed(allowlist, "mx1.example.net", 25));
  EXPECT_TRUE(ProbeAllowed(allowlist, "a.b.EXAMPLE.net", 25));
  EXPECT_FALSE(ProbeAllowed(allowlist, "example.net", 25));
  EXPECT_FALSE(ProbeAllowed(allowlist, "badexample.net", 25));
  EXPECT_FALSE(ProbeAllowed(allowlist, "example.net.attacker.example", 25));
}

// Issue 13, item 1: an entry allows the ports it names, the SMTP ports when it names none; a
// host alone never opens every port of it.
TEST(ProbeAllowed, EntriesAllowTheirPortsOrTheSmtpPorts) {
  const std::vector<std::string> defaults = {"127.0.0.0/8", "mail.example.org", "::1"};
  for (std::uint16_t port : {25, 465, 587}) {
    EXPECT_TRUE(ProbeAllowed(defaults, "127.0.0.1", port)) << port;
    EXPECT_TRUE(ProbeAllowed(defaults, "mail.example.org", port)) << port;
    EXPECT_TRUE(ProbeAllowed(defaults, "::1", port)) << port;
  }
  for (std::uint16_t port : {22, 2525, 6379, 9025}) {
    EXPECT_FALSE(ProbeAllowed(defaults, "127.0.0.1", port)) << port;
    EXPECT_FALSE(ProbeAllowed(defaults, "mail.example.org", port)) << port;
    EXPECT_FALSE(ProbeAllowed(defaults, "::1", port)) << port;
  }
  const std::vector<std::string> named = {"10.0.0.0/8:25,465,587", "mx.example.org:2525",
                                          "*.example.net:26",      "[2001:db8::/32]:2525,25",
                                          "[::1]:10025",           "192.0.2.7:24"};
  EXPECT_TRUE(ProbeAllowed(named, "10.1.2.3", 587));
  EXPECT_FALSE(ProbeAllowed(named, "10.1.2.3", 6379));
  EXPECT_TRUE(ProbeAllowed(named, "MX.example.org", 2525));
  EXPECT_FALSE(ProbeAllowed(named, "mx.example.org", 25));
  EXPECT_TRUE(ProbeAllowed(named, "a.example.net", 26));
  EXPECT_FALSE(ProbeAllowed(named, "a.example.net", 25));
  EXPECT_TRUE(ProbeAllowed(named, "2001:db8::9", 2525));
  EXPECT_TRUE(ProbeAllowed(named, "[2001:db8::9]", 25));
  EXPECT_FALSE(ProbeAllowed(named, "2001:db8::9", 465));
  EXPECT_TRUE(ProbeAllowed(named, "::1", 10025));
  EXPECT_FALSE(ProbeAllowed(named, "::1", 25));
  EXPECT_TRUE(ProbeAllowed(named, "192.0.2.7", 24));
  EXPECT_TRUE(ProbeAllowed(named, "::ffff:192.0.2.7", 24)) << "IPv4-mapped is its IPv4";
  EXPECT_FALSE(ProbeAllowed(named, "192.0.2.7", 25));
}

TEST(ProbeAllowed, PortListsAreCheckedWhenTheConfigIsDecoded) {
  for (const char* bad : {"10.0.0.0/8:", "10.0.0.0/8:0", "10.0.0.0/8:65536", "host:25,,26",
                          "host:x", "[::1", "[::1]25", "[::1]:"}) {
    const LoadResult result = ParseConfig(std::string("probe_allowlist: [\"") + bad + "\"]\n", "");
    EXPECT_FALSE(result.config.has_value()) << bad;
    EXPECT_TRUE(result.error.starts_with("probe_allowlist[0]: ")) << result.error;
  }
  const LoadResult good = ParseConfig(
      "probe_allowlist: [\"10.0.0.0/8:25,465,587\", \"[2001:db8::/32]:25\", \"::1/128\", "
      "\"mx.example.org:2525\", \"*.example.net:25\"]\n",
      "");
  EXPECT_EQ(good.error, "");
}

// Issue 13, item 2: what a name resolves to is checked against the address entries (CIDRs, IP
// literals) and their ports; name entries never allow an address.
TEST(AddressAllowed, OnlyAddressEntriesAllowResolvedAddresses) {
  const std::vector<std::string> allowlist = {"*.allowed.test", "127.0.0.1/32:2525",
                                              "2001:db8::/32"};
  EXPECT_TRUE(HasAddressEntries(allowlist));
  EXPECT_FALSE(HasAddressEntries({"*.allowed.test", "mx.example.org:25"}));
  EXPECT_TRUE(AddressAllowed(allowlist, "127.0.0.1", 2525));
  EXPECT_FALSE(AddressAllowed(allowlist, "127.0.0.1", 25));
  EXPECT_FALSE(AddressAllowed(allowlist, "127.0.0.2", 2525));
  EXPECT_FALSE(AddressAllowed(allowlist, "::1", 2525));
  EXPECT_TRUE(AddressAllowed(allowlist, "::ffff:127.0.0.1", 2525));
  EXPECT_TRUE(AddressAllowed(allowlist, "2001:db8::25", 25));
  EXPECT_FALSE(AddressAllowed(allowlist, "2001:db8::25", 2525));
  EXPECT_FALSE(AddressAllowed(allowlist, "mx.allowed.test", 25));
}

TEST(ProbeAllowed, EmptyAllowlistAllowsNothing) {
  EXPECT_FALSE(ProbeAllowed({}, "127.0.0.1", 25));
  EXPECT_FALSE(ProbeAllowed({}, "mail.example.org", 25));
}

// One list of reserved names (the metrics layer's): every label the exporter sets itself,
// including those target expansion adds (domain, ip), is refused with a one-line error.
TEST(ReservedLabelNames, EveryLabelTheExporterSetsIsRefused) {
  for (const char* name : {"target", "step", "reason", "variant", "result", "verdict", "tls", "le",
                           "module", "domain", "ip", "job", "instance"}) {
    const LoadResult result = ParseConfig(
        std::string("targets:\n  - address: 192.0.2.1:25\n    labels: {") + name + ": x}\n", "");
    EXPECT_FALSE(result.config.has_value()) << name;
    EXPECT_EQ(result.error, std::string("targets[0].labels.") + name + ": label name \"" + name +
                                "\" is reserved for the exporter's own labels (line 3)")
        << name;
  }
}
}  // namespace
}  // namespace smtp

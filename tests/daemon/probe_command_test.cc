// `smtp_exporter probe`'s flags, read as a specification (daemon/probe_command.h):
//  - a bad flag is bad usage: exit status 2 and one line on stderr naming the flag;
//  - every flag that sets a module input is checked by the config's own rules (module.h), so the
//    same bad value gives the same message after the flag as after the config's key path;
//  - valid flags reach the probe (a closed port on 127.0.0.1: exit status 1, unhealthy).
#include "daemon/probe_command.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "daemon/config.h"
#include "probes/relay_variants.h"
#include "probes/text.h"

namespace smtp {
namespace {

struct Outcome {
  int status = 0;
  std::string out;
  std::string err;
};

// Runs `smtp_exporter probe ARGS...` in-process, capturing stdout and stderr.
Outcome Probe(std::vector<std::string> args) {
  args.insert(args.begin(), "probe");
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  std::ostringstream out;
  std::ostringstream err;
  std::streambuf* const old_out = std::cout.rdbuf(out.rdbuf());
  std::streambuf* const old_err = std::cerr.rdbuf(err.rdbuf());
  Outcome run;
  run.status = RunProbeCommand(static_cast<int>(argv.size()), argv.data());
  std::cout.rdbuf(old_out);
  std::cerr.rdbuf(old_err);
  run.out = out.str();
  run.err = err.str();
  return run;
}

// A port on 127.0.0.1 that refuses connections: bound, so nothing else takes it, but not
// listening.
class ClosedPort {
 public:
  ClosedPort() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (fd_ >= 0 && bind(fd_, reinterpret_cast<sockaddr*>(&address), length) == 0 &&
        getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
      port_ = ntohs(address.sin_port);
    }
  }
  ~ClosedPort() {
    if (fd_ >= 0) close(fd_);
  }
  ClosedPort(const ClosedPort&) = delete;
  ClosedPort& operator=(const ClosedPort&) = delete;
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// One rule of module.h, written once as a flag and once as a config key: the message after the
// name is the same. `yaml` is the body of module "default", on line 1.
struct Rule {
  std::vector<std::string> flags;
  std::string yaml;
  std::string key_path;
  std::string message;
};

const std::string kKnownVariants = Join(AllRelayVariants(), ", ");

const Rule kRules[] = {
    {{"--timeout", "10"},
     "{timeout: \"10\"}",
     "modules.default.timeout",
     "invalid duration \"10\" (expected e.g. 10s, 1m30s, 500ms)"},
    {{"--timeout", "0s"}, "{timeout: 0s}", "modules.default.timeout", "must be greater than 0"},
    {{"--starttls", "maybe"},
     "{starttls: maybe}",
     "modules.default.starttls",
     "expected off, opportunistic or required, got \"maybe\""},
    // RFC 5321 §4.1.1.1: a domain or an address literal, nothing else.
    {{"--ehlo-name", ""},
     "{ehlo_name: \"\"}",
     "modules.default.ehlo_name",
     "expected a domain name or an address literal like [192.0.2.1], got \"\""},
    {{"--ehlo-name", "probe host"},
     "{ehlo_name: probe host}",
     "modules.default.ehlo_name",
     "expected a domain name or an address literal like [192.0.2.1], got \"probe host\""},
    {{"--ehlo-name", "[2001:db8::1]"},
     "{ehlo_name: \"[2001:db8::1]\"}",
     "modules.default.ehlo_name",
     "expected a domain name or an address literal like [192.0.2.1], got \"[2001:db8::1]\""},
    {{"--server-name", "mx example"},
     "{tls: {server_name: mx example}}",
     "modules.default.tls.server_name",
     "expected a host name, got \"mx example\""},
    {{"--ca-file", "/nonexistent/ca.pem"},
     "{tls: {ca_file: /nonexistent/ca.pem}}",
     "modules.default.tls.ca_file",
     "CA file \"/nonexistent/ca.pem\" cannot be read: No such file or directory"},
    {{"--dns-server", "dns.example.org"},
     "{dns_server: dns.example.org}",
     "modules.default.dns_server",
     "expected an IP address with optional port, like 192.0.2.53:53 or [2001:db8::53]:53, got "
     "\"dns.example.org\""},
    {{"--relay-timeout", "1 minute"},
     "{relay_test: {timeout: 1 minute}}",
     "modules.default.relay_test.timeout",
     "invalid duration \"1 minute\" (expected e.g. 10s, 1m30s, 500ms)"},
    // RFC 5321 §4.1.2: Mailbox = Local-part "@" Domain, without the angle brackets of a Path.
    {{"--mail-from", "<probe@example.org>"},
     "{relay_test: {mail_from: <probe@example.org>}}",
     "modules.default.relay_test.mail_from",
     "expected an address local@domain, got \"<probe@example.org>\""},
    {{"--rcpt-to", "relay-test"},
     "{relay_test: {rcpt_to: relay-test}}",
     "modules.default.relay_test.rcpt_to",
     "expected an address local@domain, got \"relay-test\""},
    {{"--rcpt-to", "relay test@example.net"},
     "{relay_test: {rcpt_to: relay test@example.net}}",
     "modules.default.relay_test.rcpt_to",
     "expected an address local@domain, got \"relay test@example.net\""},
    {{"--rcpt-to", "a..b@example.net"},
     "{relay_test: {rcpt_to: a..b@example.net}}",
     "modules.default.relay_test.rcpt_to",
     "expected an address local@domain, got \"a..b@example.net\""},
    {{"--rcpt-to", "relay-test@exa mple.net"},
     "{relay_test: {rcpt_to: relay-test@exa mple.net}}",
     "modules.default.relay_test.rcpt_to",
     "expected an address local@domain, got \"relay-test@exa mple.net\""},
    {{"--relay-variants", ""},
     "{relay_test: {variants: \"\"}}",
     "modules.default.relay_test.variants",
     "expected basic, all or a list of variant names, got \"\""},
    {{"--relay-variants", "external,percent"},
     "{relay_test: {variants: [external, percent]}}",
     "modules.default.relay_test.variants[1]",
     "unknown variant \"percent\" (known: " + kKnownVariants + ")"},
    {{"--relay-variants", "bang,bang"},
     "{relay_test: {variants: [bang, bang]}}",
     "modules.default.relay_test.variants[1]",
     "duplicate variant \"bang\""},
    {{"--auth-user", "probe@example.org"},
     "{auth: {username: probe@example.org}}",
     "modules.default.auth",
     "needs both username and password_file"},
    {{"--auth-password-file", "/nonexistent/password", "--auth-user", "u"},
     "{auth: {username: u, password_file: /nonexistent/password}}",
     "modules.default.auth.password_file",
     "password file \"/nonexistent/password\" cannot be read: No such file or directory"},
    {{"--auth-mechanisms", "PLAIN,XOAUTH2", "--auth-user", "u", "--auth-password-file",
      "/etc/passwd"},
     "{auth: {username: u, password_file: /etc/passwd, mechanisms: [PLAIN, XOAUTH2]}}",
     "modules.default.auth.mechanisms[1]",
     "unsupported mechanism \"XOAUTH2\" (supported: SCRAM-SHA-256, SCRAM-SHA-1, CRAM-MD5, PLAIN, "
     "LOGIN)"},
    {{"--dnsbl", "bl.example,bad zone"},
     "{dnsbl: [bl.example, bad zone]}",
     "modules.default.dnsbl[1]",
     "expected a DNS zone like zen.example.org, got \"bad zone\""},
    {{"--dnsbl", "bl.example,bl.example"},
     "{dnsbl: [bl.example, bl.example]}",
     "modules.default.dnsbl[1]",
     "duplicate zone \"bl.example\""},
    {{"--mta-sts-port", "0"},
     "{mta_sts_port: 0}",
     "modules.default.mta_sts_port",
     "expected a port from 1 to 65535, got \"0\""},
    {{"--mta-sts-port", "https"},
     "{mta_sts_port: https}",
     "modules.default.mta_sts_port",
     "expected a port from 1 to 65535, got \"https\""},
    {{"--dnsbl", ","},
     "{dnsbl: [\"\", x.example]}",
     "modules.default.dnsbl[0]",
     "expected a DNS zone like zen.example.org, got \"\""},
};

void PrintTo(const Rule& rule, std::ostream* os) {
  *os << Join(rule.flags, " ") << " / " << rule.key_path;
}

class RuleTest : public testing::TestWithParam<Rule> {};

TEST_P(RuleTest, FlagAndConfigKeyGiveTheSameMessage) {
  const Rule& rule = GetParam();
  // Were the flag wrongly accepted, the probe would find nothing listening.
  const ClosedPort closed;
  std::vector<std::string> args = {"127.0.0.1:" + std::to_string(closed.port())};
  args.insert(args.end(), rule.flags.begin(), rule.flags.end());
  const Outcome run = Probe(args);
  EXPECT_EQ(run.status, 2) << "bad usage";
  EXPECT_EQ(run.err, "smtp_exporter probe: " + rule.flags[0] + ": " + rule.message + "\n");
  EXPECT_EQ(run.out, "");

  const LoadResult config = ParseConfig("modules: {default: " + rule.yaml + "}", "");
  EXPECT_FALSE(config.config.has_value());
  EXPECT_EQ(config.error, rule.key_path + ": " + rule.message + " (line 1)");
}

INSTANTIATE_TEST_SUITE_P(ModuleRules, RuleTest, testing::ValuesIn(kRules),
                         [](const testing::TestParamInfo<Rule>& param) {
                           return "Rule" + std::to_string(param.index);
                         });

TEST(ProbeCommand, BadTargetNamesTheTarget) {
  const Outcome run = Probe({"mx:localhost"});
  EXPECT_EQ(run.status, 2);
  EXPECT_EQ(run.err, "smtp_exporter probe: target: invalid MX domain \"localhost\"\n");
}

TEST(ProbeCommand, UnknownFlagIsBadUsage) {
  const Outcome run = Probe({"127.0.0.1", "--relay-tset"});
  EXPECT_EQ(run.status, 2);
  EXPECT_EQ(run.err.find("smtp_exporter probe: "), 0u) << run.err;
  EXPECT_EQ(run.err.find('\n'), run.err.size() - 1) << "one line: " << run.err;
}

TEST(ProbeCommand, ControlCharactersInErrorsAreEscaped) {
  const Outcome run = Probe({"127.0.0.1", "--ehlo-name", "probe\r\nRCPT TO:<x@example.net>"});
  EXPECT_EQ(run.status, 2);
  EXPECT_EQ(run.err,
            "smtp_exporter probe: --ehlo-name: expected a domain name or an address literal like "
            "[192.0.2.1], got \"probe\\r\\nRCPT TO:<x@example.net>\"\n");
}

TEST(ProbeCommand, ValidFlagsReachTheProbe) {
  const ClosedPort closed;
  ASSERT_NE(closed.port(), 0);
  const Outcome run = Probe({"127.0.0.1:" + std::to_string(closed.port()),
                             "--timeout",
                             "2s",
                             "--starttls",
                             "required",
                             "--ehlo-name",
                             "[IPv6:2001:db8::1]",
                             "--relay-test",
                             "--relay-variants",
                             "external,bang",
                             "--relay-timeout",
                             "1m30s",
                             "--mail-from",
                             "monitor.team@example.com",
                             "--rcpt-to",
                             "check@[192.0.2.1]",
                             "--ca-file",
                             "",
                             "--server-name",
                             "mx.example.org",
                             "--dns-server",
                             "[::1]:53",
                             "--no-reverse-dns",
                             "-4",
                             "-6",
                             "--output",
                             "json"});
  EXPECT_EQ(run.status, 1) << "refused: unhealthy, not bad usage; stderr: " << run.err;
  EXPECT_EQ(run.err, "");
  EXPECT_NE(run.out.find("\"refused\""), std::string::npos) << run.out;
}

}  // namespace
}  // namespace smtp

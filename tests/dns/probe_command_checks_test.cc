// `smtp_exporter probe mx:DOMAIN --dns-server ...` with the domain checks, end to end through the
// CLI: flags -> module rules -> expansion (the domain of each MX series) -> probe -> JSON and
// text. The MX host resolves to 127.0.0.99, where nothing listens on port 25: the server is
// down, and the domain's checks are still made and printed under their JSON keys.
#include <gtest/gtest.h>

#include <iostream>
#include <sstream>

#include "daemon/probe_command.h"
#include "tests/dns/dnsmasq.h"
#include "tests/fake/fake_https_server.h"

namespace smtp {
namespace {

using testing::Dnsmasq;

struct Outcome {
  int status = 0;
  std::string out;
  std::string err;
};

Outcome RunProbe(std::vector<std::string> args) {
  args.insert(args.begin(), "probe");
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  std::ostringstream out, err;
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

TEST(ProbeCommandChecks, EveryCheckOfAnMxDomainFromTheCommandLine) {
  if (!Dnsmasq::Available()) GTEST_SKIP() << "dnsmasq is not installed";
  const testing::TestPki& pki = testing::TestPki::Get();
  testing::FakeHttpsServer policy(
      pki.IssueLeaf("mta-sts.cli.test"),
      {testing::HttpResponse(200,
                             "version: STSv1\nmode: enforce\nmx: mx.cli.test\nmax_age: 86400\n"),
       {},
       {}});
  std::string error;
  auto dns = Dnsmasq::Start(
      {"local=/test/", "mx-host=cli.test,mx.cli.test,10", "host-record=mx.cli.test,127.0.0.99",
       "host-record=mta-sts.cli.test,127.0.0.1", "txt-record=_mta-sts.cli.test,\"v=STSv1; id=1\"",
       "txt-record=_smtp._tls.cli.test,\"v=TLSRPTv1; rua=mailto:r@cli.test\"",
       "host-record=99.0.0.127.bl.test,127.0.0.4",
       // dnsmasq does not validate: its TLSA answer has no AD bit.
       "dns-rr=_25._tcp.mx.cli.test,52,030101" + std::string(64, '0')},
      false, &error);
  ASSERT_NE(dns, nullptr) << error;
  const std::vector<std::string> common = {"mx:cli.test",
                                           "--dns-server",
                                           "127.0.0.1:" + std::to_string(dns->port()),
                                           "--timeout",
                                           "5s",
                                           "--mta-sts",
                                           "--mta-sts-port",
                                           std::to_string(policy.port()),
                                           "--ca-file",
                                           pki.ca_file(),
                                           "--tls-rpt",
                                           "--dane",
                                           "--dnsbl",
                                           "bl.test,clean.test"};

  std::vector<std::string> json_args = common;
  json_args.insert(json_args.end(), {"--output", "json"});
  const Outcome json = RunProbe(json_args);
  EXPECT_EQ(json.status, 1) << "nothing listens on 127.0.0.99:25";
  EXPECT_NE(json.out.find("\"mta_sts\":{\"record\":\"valid\",\"id\":\"1\""), std::string::npos)
      << json.out;
  EXPECT_NE(
      json.out.find("\"policy\":{\"mode\":\"enforce\",\"max_age\":86400,\"mx\":[\"mx.cli.test\"]}"),
      std::string::npos)
      << json.out;
  EXPECT_NE(json.out.find("\"mx_matches\":true,\"deliverable\":false"), std::string::npos)
      << json.out;
  EXPECT_NE(json.out.find("\"tls_rpt\":{\"status\":\"valid\""), std::string::npos) << json.out;
  EXPECT_NE(json.out.find("\"dane\":{\"name\":\"_25._tcp.mx.cli.test\",\"status\":\"insecure\","
                          "\"authenticated\":false,\"records\":[\"3 1 1 0000"),
            std::string::npos)
      << json.out;
  EXPECT_NE(
      json.out.find("\"dnsbl\":{\"listed\":true,\"results\":[{\"zone\":\"bl.test\","
                    "\"address\":\"127.0.0.99\",\"status\":\"listed\",\"codes\":[\"127.0.0.4\"]"),
      std::string::npos)
      << json.out;
  EXPECT_NE(json.out.find("{\"zone\":\"clean.test\",\"address\":\"127.0.0.99\",\"status\":"
                          "\"not_listed\""),
            std::string::npos)
      << json.out;

  const Outcome text = RunProbe(common);
  EXPECT_NE(text.out.find("mta-sts:      record valid id=1\n"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("tls-rpt:      valid mailto:r@cli.test\n"), std::string::npos)
      << text.out;
  EXPECT_NE(text.out.find("dnsbl:        bl.test 127.0.0.99 listed 127.0.0.4\n"), std::string::npos)
      << text.out;
  EXPECT_NE(text.out.find("finding:      MTA-STS enforce: senders will not deliver to "
                          "mx.cli.test: no TLS session with mx.cli.test"),
            std::string::npos)
      << text.out;
}

TEST(ProbeCommandChecks, ChecksAreOffUnlessAskedFor) {
  const Outcome run = RunProbe({"127.0.0.99:1", "--output", "json", "--no-reverse-dns"});
  EXPECT_NE(run.out.find("\"mta_sts\":null,\"tls_rpt\":null,\"dane\":null,\"dnsbl\":null"),
            std::string::npos)
      << run.out;
}

}  // namespace
}  // namespace smtp

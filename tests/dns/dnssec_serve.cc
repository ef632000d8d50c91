// dnssec_serve: DnssecServers (tests/dns/dnssec_servers.h) for the shell tests, e.g.
// tests/integration/domain_postfix_test.sh, so that they sign and serve zones the same way as
// the DANE unit tests instead of a second copy of the nsd/unbound setup in shell.
//
//   dnssec_serve ZONE FILE [ZONE FILE ...]
//
// Signs each ZONE (keys made now) with the zone-file lines of FILE (relative to the origin,
// e.g. "@ IN MX 10 mx.example.test."; the SOA, NS and ns A records are added), serves them with
// nsd behind a validating unbound that trusts exactly these keys, prints the resolver's
// "127.0.0.1:PORT" as one line on stdout, and serves until SIGTERM or SIGINT, then stops both
// servers. Exit 77 when nsd, unbound or the ldns tools are missing, 1 when they do not start
// (the reason on stderr), 2 for bad arguments.
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "tests/dns/dnssec_servers.h"

int main(int argc, char** argv) {
  using smtp::testing::DnssecServers;
  using smtp::testing::TestZone;
  if (argc < 3 || argc % 2 != 1) {
    std::cerr << "usage: dnssec_serve ZONE FILE [ZONE FILE ...]\n";
    return 2;
  }
  if (!DnssecServers::Available()) {
    std::cerr << "dnssec_serve: nsd, unbound, ldns-keygen or ldns-signzone is not installed\n";
    return 77;
  }
  std::vector<TestZone> zones;
  for (int i = 1; i + 1 < argc; i += 2) {
    TestZone zone{argv[i], {}, TestZone::kSigned};
    std::ifstream file(argv[i + 1]);
    if (!file) {
      std::cerr << "dnssec_serve: cannot read " << argv[i + 1] << "\n";
      return 2;
    }
    for (std::string line; std::getline(file, line);) {
      if (!line.empty()) zone.records.push_back(line);
    }
    zones.push_back(std::move(zone));
  }
  std::string error;
  std::unique_ptr<DnssecServers> servers = DnssecServers::Start(zones, &error);
  if (!servers) {
    std::cerr << "dnssec_serve: " << error << "\n";
    return 1;
  }
  // Blocked only now: nsd and unbound inherit the signal mask and must still die of SIGTERM. The
  // caller signals only after reading the line below, so no signal comes before this.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  sigprocmask(SIG_BLOCK, &stop, nullptr);
  std::cout << servers->resolver() << std::endl;
  int signal = 0;
  sigwait(&stop, &signal);
  return 0;  // ~DnssecServers stops unbound and nsd and removes their directory
}

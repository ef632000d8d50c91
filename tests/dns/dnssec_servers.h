// DNSSEC on loopback for the DANE tests: zones signed at test time with fresh keys (ldns-keygen,
// ldns-signzone), served by nsd, behind unbound as a validating resolver that trusts the test
// zones' keys and nothing else (no root anchor: it never asks anyone but the local nsd).
//
// Only 127.0.0.1 is used. Both servers run in the foreground as children of the test and are
// stopped by the destructor; everything lives in a private temp dir.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

namespace smtp::testing {

struct TestZone {
  std::string name;                  // "signed.test"
  std::vector<std::string> records;  // zone-file lines relative to the origin ("mx IN A ...")
  enum Signing { kUnsigned, kSigned, kExpiredSignatures } signing = kSigned;
};

class DnssecServers {
 public:
  // Whether nsd, unbound, ldns-keygen and ldns-signzone are installed.
  static bool Available();
  // Signs and serves `zones`; unbound trusts the key of every signed zone (also the ones whose
  // signatures expired, which it must then find bogus). nullptr and *error on failure.
  static std::unique_ptr<DnssecServers> Start(const std::vector<TestZone>& zones,
                                              std::string* error);
  ~DnssecServers();
  DnssecServers(const DnssecServers&) = delete;
  DnssecServers& operator=(const DnssecServers&) = delete;

  // The validating resolver: "127.0.0.1:<port>", for ProbeSpec::dns_server.
  std::string resolver() const { return "127.0.0.1:" + std::to_string(unbound_port_); }
  std::string Logs() const;

 private:
  DnssecServers() = default;

  std::string dir_;
  pid_t nsd_ = -1;
  pid_t unbound_ = -1;
  int unbound_port_ = 0;
};

}  // namespace smtp::testing

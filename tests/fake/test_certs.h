// Test certificates generated in memory at test time with the OpenSSL 3 API: nothing is checked
// in, nothing expires in the repository. One small PKI per process (TestPki::Get()):
//
//   ca            "CN=smtp_exporter test CA", self-signed, valid now
//   leaf          "CN=mx.test", SAN DNS:mx.test + IP:127.0.0.1, signed by the CA, valid now
//   expired_leaf  same names, signed by the CA, notAfter one day in the past
//   self_signed   same names, signed by its own key, valid now
//
// The CA certificate is also written to a temporary PEM file (ca_file()) so that a ProbeSpec can
// point tls.ca_file at it; the file is removed when the process exits.
#pragma once

#include <cstdint>
#include <string>

namespace smtp::testing {

// A certificate, its private key and what a test may want to assert about it.
struct TestCredential {
  std::string cert_pem;
  std::string key_pem;
  std::string subject;          // RFC 2253 one-line form, e.g. "CN=mx.test"
  std::string issuer;           // RFC 2253 one-line form
  std::string serial;           // upper-case hex, no leading zeros, e.g. "1A2B3C"
  std::int64_t not_before = 0;  // Unix seconds
  std::int64_t not_after = 0;   // Unix seconds
};

class TestPki {
 public:
  // Generated on first use, thread-safe; aborts the test binary if OpenSSL fails.
  static const TestPki& Get();

  const TestCredential& ca() const { return ca_; }
  const TestCredential& leaf() const { return leaf_; }
  const TestCredential& expired_leaf() const { return expired_leaf_; }
  const TestCredential& self_signed() const { return self_signed_; }
  // A leaf for `dns_name` (CN and subjectAltName DNS:dns_name), signed by the CA, valid now:
  // for servers of other names than mx.test (an MTA-STS policy host). Made on each call.
  TestCredential IssueLeaf(const std::string& dns_name) const;
  // Path of a PEM file holding the CA certificate only.
  const std::string& ca_file() const { return ca_file_; }

  ~TestPki();
  TestPki(const TestPki&) = delete;
  TestPki& operator=(const TestPki&) = delete;

 private:
  TestPki();

  TestCredential ca_;
  TestCredential leaf_;
  TestCredential expired_leaf_;
  TestCredential self_signed_;
  std::string ca_file_;
};

}  // namespace smtp::testing

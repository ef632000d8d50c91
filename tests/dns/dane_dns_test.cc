// DANE for SMTP (RFC 7672) end to end on loopback: TLSA records in zones signed at test time
// (nsd), a validating unbound that trusts only the test keys, and the fake MTA presenting a
// certificate of the test CA over STARTTLS. The probe trusts the AD bit of the resolver it is
// given; each zone below is one kind of answer a sender may get. Plus the matching rules
// (usages 2 and 3, selectors 0 and 1, matching types 0 to 2) on chains made here.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <chrono>

#include "probes/prober.h"
#include "probes/verdict.h"
#include "tests/dns/dnssec_servers.h"
#include "tests/fake/fake_smtp_server.h"

namespace smtp {
namespace {

using testing::DnssecServers;
using testing::FakeSmtpServer;
using testing::TestCredential;
using testing::TestPki;
using testing::TestZone;

std::string Der(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* certificate = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  unsigned char* out = nullptr;
  const int length = i2d_X509(certificate, &out);
  std::string der(reinterpret_cast<const char*>(out), static_cast<std::size_t>(length));
  OPENSSL_free(out);
  X509_free(certificate);
  return der;
}

std::string Spki(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* certificate = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  unsigned char* out = nullptr;
  const int length = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(certificate), &out);
  std::string spki(reinterpret_cast<const char*>(out), static_cast<std::size_t>(length));
  OPENSSL_free(out);
  X509_free(certificate);
  return spki;
}

std::string Digest(const std::string& data, const EVP_MD* md) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest, &length, md, nullptr);
  return std::string(reinterpret_cast<const char*>(digest), length);
}

std::string Hex(const std::string& bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string text;
  for (unsigned char c : bytes) {
    text += kHex[c >> 4];
    text += kHex[c & 0xf];
  }
  return text;
}

TlsaRecord Record(int usage, int selector, int matching_type, std::string data) {
  return TlsaRecord{static_cast<std::uint8_t>(usage), static_cast<std::uint8_t>(selector),
                    static_cast<std::uint8_t>(matching_type), std::move(data)};
}

DaneResult Match(const std::vector<TlsaRecord>& records, const std::vector<std::string>& chain,
                 const std::string& host) {
  DaneResult result;
  MatchTlsa(records, chain, host, result);
  return result;
}

// ---- Matching rules, no network
// ------------------------------------------------------------------

TEST(DaneMatch, EveryUsableSelectorAndMatchingTypeOfDaneEe) {
  const TestCredential leaf = TestPki::Get().IssueLeaf("mx.example.test");
  const std::vector<std::string> chain = {Der(leaf.cert_pem)};
  const std::string cert = chain[0], spki = Spki(leaf.cert_pem);
  for (const TlsaRecord& record :
       {Record(3, 0, 0, cert), Record(3, 0, 1, Digest(cert, EVP_sha256())),
        Record(3, 0, 2, Digest(cert, EVP_sha512())), Record(3, 1, 0, spki),
        Record(3, 1, 1, Digest(spki, EVP_sha256())), Record(3, 1, 2, Digest(spki, EVP_sha512()))}) {
    SCOPED_TRACE(ToString(record));
    // DANE-EE ignores names (RFC 7672 §3.1.1): any host.
    const DaneResult result = Match({record}, chain, "other.name.test");
    EXPECT_EQ(result.status, DaneStatus::kMatch) << result.detail;
    EXPECT_EQ(result.matched, ToString(record));
  }
}

TEST(DaneMatch, DaneTaAnchorsAChainThatVerifiesForTheMxName) {
  const TestPki& pki = TestPki::Get();
  const TestCredential leaf = pki.IssueLeaf("mx.example.test");
  const std::vector<std::string> chain = {Der(leaf.cert_pem), Der(pki.ca().cert_pem)};
  const TlsaRecord ca_sha256 = Record(2, 0, 1, Digest(chain[1], EVP_sha256()));
  const TlsaRecord ca_spki = Record(2, 1, 2, Digest(Spki(pki.ca().cert_pem), EVP_sha512()));
  EXPECT_EQ(Match({ca_sha256}, chain, "mx.example.test").status, DaneStatus::kMatch);
  EXPECT_EQ(Match({ca_spki}, chain, "mx.example.test").status, DaneStatus::kMatch);
  // RFC 7672 §3.2.2: with DANE-TA the name counts.
  const DaneResult wrong_name = Match({ca_sha256}, chain, "mx.elsewhere.test");
  EXPECT_EQ(wrong_name.status, DaneStatus::kMismatch);
  EXPECT_NE(wrong_name.detail.find("does not verify"), std::string::npos) << wrong_name.detail;
  // The anchor must be presented: a leaf alone does not chain to a record of its CA.
  EXPECT_EQ(Match({ca_sha256}, {chain[0]}, "mx.example.test").status, DaneStatus::kMismatch);
}

TEST(DaneMatch, MismatchUnusableAndNoChain) {
  const TestCredential leaf = TestPki::Get().IssueLeaf("mx.example.test");
  const std::vector<std::string> chain = {Der(leaf.cert_pem)};
  const TlsaRecord wrong = Record(3, 1, 1, std::string(32, '\x42'));
  EXPECT_EQ(Match({wrong}, chain, "mx.example.test").status, DaneStatus::kMismatch);
  // PKIX-TA/PKIX-EE (0, 1), an unknown selector or matching type: unusable for SMTP (§3.1.3).
  const std::string hash = Digest(Spki(leaf.cert_pem), EVP_sha256());
  EXPECT_EQ(Match({Record(1, 1, 1, hash), Record(0, 1, 1, hash), Record(3, 2, 1, hash),
                   Record(3, 1, 3, hash)},
                  chain, "mx.example.test")
                .status,
            DaneStatus::kUnusable);
  // One usable record among unusable ones is enough.
  EXPECT_EQ(Match({Record(1, 1, 1, hash), Record(3, 1, 1, hash)}, chain, "mx.example.test").status,
            DaneStatus::kMatch);
  EXPECT_EQ(Match({Record(3, 1, 1, hash)}, {}, "mx.example.test").status, DaneStatus::kNoTls);
  EXPECT_EQ(Match({Record(3, 1, 1, hash)}, {"not DER"}, "mx.example.test").status,
            DaneStatus::kNoTls);
}

// ---- Lookups through a validating resolver
// ---------------------------------------------------------

class DaneDnsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!DnssecServers::Available()) GTEST_SKIP() << "nsd, unbound or ldnsutils not installed";
    const std::string tlsa = "IN TLSA 3 1 1 " + Hex(Digest(Spki(leaf_.cert_pem), EVP_sha256()));
    const std::string port = std::to_string(server_.port());
    const std::string wrong = "IN TLSA 3 1 1 " + std::string(64, 'a');
    std::string error;
    dns_ = DnssecServers::Start(
        {
            {"signed.test",
             {"mx IN A 127.0.0.1", "_" + port + "._tcp.mx " + tlsa, "bad IN A 127.0.0.1",
              "_" + port + "._tcp.bad " + wrong, "nodane IN A 127.0.0.1", "pkix IN A 127.0.0.1",
              "_" + port + "._tcp.pkix IN TLSA 1 1 1 " + std::string(64, 'b')},
             TestZone::kSigned},
            {"unsigned.test",
             {"mx IN A 127.0.0.1", "_" + port + "._tcp.mx " + tlsa},
             TestZone::kUnsigned},
            {"bogus.test",
             {"mx IN A 127.0.0.1", "_" + port + "._tcp.mx " + tlsa},
             TestZone::kExpiredSignatures},
        },
        &error);
    ASSERT_NE(dns_, nullptr) << error;
  }

  ProbeResult Probe(const std::string& host) {
    ProbeSpec spec;
    spec.host = host;
    spec.address = "127.0.0.1";  // no A lookup: the bogus zone has no usable A record either
    spec.port = server_.port();
    spec.timeout = std::chrono::milliseconds(10000);
    spec.check_fcrdns = false;
    spec.dns_server = dns_->resolver();
    spec.checks.dane = true;
    ProbeResult result = RunProbe(spec);
    EXPECT_TRUE(result.dane.has_value()) << host;
    return result;
  }

  static testing::Script Mta(const TestCredential* tls) {
    return [tls](testing::Session& session) {
      testing::MtaBehavior behavior;
      behavior.tls = tls;
      testing::ServeStandardMta(session, behavior);
    };
  }

  // The MX presents a leaf for mx.test (the default name), signed by the test CA: DANE-EE
  // matches it whatever the MX is called.
  const TestCredential leaf_ = TestPki::Get().leaf();
  FakeSmtpServer server_{Mta(&TestPki::Get().leaf())};
  std::unique_ptr<DnssecServers> dns_;
};

TEST_F(DaneDnsTest, ValidatedRecordMatchingTheChain) {
  ProbeResult result = Probe("mx.signed.test");
  EXPECT_TRUE(result.success) << result.failure_detail;
  ASSERT_TRUE(result.dane);
  EXPECT_EQ(result.dane->name, "_" + std::to_string(server_.port()) + "._tcp.mx.signed.test");
  EXPECT_TRUE(result.dane->authenticated) << dns_->Logs();
  EXPECT_EQ(result.dane->status, DaneStatus::kMatch) << result.dane->detail;
  EXPECT_EQ(result.dane->records.size(), 1u);
  EXPECT_TRUE(result.dane->matched.starts_with("3 1 1 ")) << result.dane->matched;
  for (const std::string& finding : Judge(result, 0).findings) {
    EXPECT_FALSE(finding.starts_with("DANE")) << finding;
  }
}

TEST_F(DaneDnsTest, ValidatedRecordThatNoCertificateMatchesIsAFinding) {
  ProbeResult result = Probe("bad.signed.test");
  EXPECT_TRUE(result.success) << "the server is up; DANE senders would not deliver to it";
  ASSERT_TRUE(result.dane);
  EXPECT_TRUE(result.dane->authenticated);
  EXPECT_EQ(result.dane->status, DaneStatus::kMismatch);
  bool finding = false;
  for (const std::string& f : Judge(result, 0).findings) {
    finding = finding || f.starts_with("DANE: TLSA records of _" + std::to_string(server_.port()) +
                                       "._tcp.bad.signed.test are validated and none matches");
  }
  EXPECT_TRUE(finding) << ::testing::PrintToString(Judge(result, 0).findings);
}

TEST_F(DaneDnsTest, RecordsOfAnUnsignedZoneAreNotTrusted) {
  ProbeResult result = Probe("mx.unsigned.test");
  ASSERT_TRUE(result.dane);
  EXPECT_FALSE(result.dane->authenticated);
  EXPECT_EQ(result.dane->status, DaneStatus::kInsecure)
      << "the record would match, but without validation it is not used";
  EXPECT_EQ(result.dane->records.size(), 1u);
  EXPECT_TRUE(result.dane->matched.empty());
}

TEST_F(DaneDnsTest, BogusSignaturesAreADnsError) {
  ProbeResult result = Probe("mx.bogus.test");
  EXPECT_TRUE(result.success) << result.failure_detail;
  ASSERT_TRUE(result.dane);
  EXPECT_EQ(result.dane->status, DaneStatus::kDnsError) << result.dane->detail;
  EXPECT_TRUE(result.dane->records.empty());
}

TEST_F(DaneDnsTest, NoRecordsAndUnusableRecords) {
  ProbeResult none = Probe("nodane.signed.test");
  ASSERT_TRUE(none.dane);
  EXPECT_EQ(none.dane->status, DaneStatus::kNoRecords) << none.dane->detail;
  ProbeResult pkix = Probe("pkix.signed.test");
  ASSERT_TRUE(pkix.dane);
  EXPECT_TRUE(pkix.dane->authenticated);
  EXPECT_EQ(pkix.dane->status, DaneStatus::kUnusable);
}

}  // namespace
}  // namespace smtp

#include "tests/fake/test_certs.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <memory>
#include <vector>

namespace smtp::testing {
namespace {

constexpr std::int64_t kDay = 24 * 60 * 60;
constexpr char kLeafName[] = "mx.test";
constexpr char kLeafSan[] = "DNS:mx.test,IP:127.0.0.1";

struct KeyDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct CertDeleter {
  void operator()(X509* cert) const { X509_free(cert); }
};
struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyDeleter>;
using CertPtr = std::unique_ptr<X509, CertDeleter>;
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "test_certs: %s failed\n", what);
  ERR_print_errors_fp(stderr);
  std::abort();
}

void Check(bool ok, const char* what) {
  if (!ok) Die(what);
}

KeyPtr NewKey() {
  KeyPtr key(EVP_EC_gen("P-256"));
  Check(key != nullptr, "EVP_EC_gen");
  return key;
}

std::string BioToString(BIO* bio) {
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(size));
}

std::string NameToString(const X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  Check(X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) >= 0, "X509_NAME_print_ex");
  return BioToString(bio.get());
}

std::string CertToPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  Check(PEM_write_bio_X509(bio.get(), cert) == 1, "PEM_write_bio_X509");
  return BioToString(bio.get());
}

std::string KeyToPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  Check(PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) == 1,
        "PEM_write_bio_PrivateKey");
  return BioToString(bio.get());
}

void AddExtension(X509* cert, X509V3_CTX* context, int nid, const char* value) {
  X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, context, nid, value);
  Check(extension != nullptr, "X509V3_EXT_conf_nid");
  Check(X509_add_ext(cert, extension, -1) == 1, "X509_add_ext");
  X509_EXTENSION_free(extension);
}

struct CertRequest {
  std::string common_name;
  std::uint64_t serial = 1;
  std::int64_t not_before = 0;  // Unix seconds
  std::int64_t not_after = 0;
  bool is_ca = false;
  const char* subject_alt_name = nullptr;
};

// Builds and signs a certificate for `key`. With `issuer` null, the certificate is self-signed.
CertPtr MakeCert(const CertRequest& request, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key) {
  CertPtr cert(X509_new());
  Check(cert != nullptr, "X509_new");
  Check(X509_set_version(cert.get(), X509_VERSION_3) == 1, "X509_set_version");
  Check(ASN1_INTEGER_set_uint64(X509_get_serialNumber(cert.get()), request.serial) == 1,
        "ASN1_INTEGER_set_uint64");
  Check(ASN1_TIME_set(X509_getm_notBefore(cert.get()), static_cast<time_t>(request.not_before)) !=
            nullptr,
        "notBefore");
  Check(ASN1_TIME_set(X509_getm_notAfter(cert.get()), static_cast<time_t>(request.not_after)) !=
            nullptr,
        "notAfter");
  X509_NAME* name = X509_get_subject_name(cert.get());
  Check(X509_NAME_add_entry_by_txt(
            name, "CN", MBSTRING_ASC,
            reinterpret_cast<const unsigned char*>(request.common_name.c_str()), -1, -1, 0) == 1,
        "X509_NAME_add_entry_by_txt");
  X509* signer = issuer != nullptr ? issuer : cert.get();
  EVP_PKEY* signer_key = issuer_key != nullptr ? issuer_key : key;
  Check(X509_set_issuer_name(cert.get(), X509_get_subject_name(signer)) == 1,
        "X509_set_issuer_name");
  Check(X509_set_pubkey(cert.get(), key) == 1, "X509_set_pubkey");

  X509V3_CTX context;
  X509V3_set_ctx(&context, signer, cert.get(), nullptr, nullptr, 0);
  AddExtension(cert.get(), &context, NID_subject_key_identifier, "hash");
  if (issuer != nullptr) {
    AddExtension(cert.get(), &context, NID_authority_key_identifier, "keyid:always");
  }
  if (request.is_ca) {
    AddExtension(cert.get(), &context, NID_basic_constraints, "critical,CA:TRUE");
    AddExtension(cert.get(), &context, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    AddExtension(cert.get(), &context, NID_basic_constraints, "critical,CA:FALSE");
    AddExtension(cert.get(), &context, NID_key_usage, "critical,digitalSignature");
    AddExtension(cert.get(), &context, NID_ext_key_usage, "serverAuth");
  }
  if (request.subject_alt_name != nullptr) {
    AddExtension(cert.get(), &context, NID_subject_alt_name, request.subject_alt_name);
  }
  Check(X509_sign(cert.get(), signer_key, EVP_sha256()) > 0, "X509_sign");
  return cert;
}

TestCredential Describe(const CertRequest& request, X509* cert, EVP_PKEY* key) {
  TestCredential credential;
  credential.cert_pem = CertToPem(cert);
  credential.key_pem = KeyToPem(key);
  credential.subject = NameToString(X509_get_subject_name(cert));
  credential.issuer = NameToString(X509_get_issuer_name(cert));
  char serial[32];
  std::snprintf(serial, sizeof serial, "%llX", static_cast<unsigned long long>(request.serial));
  credential.serial = serial;
  credential.not_before = request.not_before;
  credential.not_after = request.not_after;
  return credential;
}

std::string WriteTempPem(const std::string& pem) {
  std::string path_template =
      (std::filesystem::temp_directory_path() / "smtp_fake_ca_XXXXXX.pem").string();
  std::vector<char> path(path_template.begin(), path_template.end());
  path.push_back('\0');
  int fd = mkstemps(path.data(), 4);
  Check(fd >= 0, "mkstemps");
  std::size_t written = 0;
  while (written < pem.size()) {
    ssize_t n = write(fd, pem.data() + written, pem.size() - written);
    Check(n > 0, "write CA file");
    written += static_cast<std::size_t>(n);
  }
  close(fd);
  return std::string(path.data());
}

}  // namespace

const TestPki& TestPki::Get() {
  static const TestPki pki;
  return pki;
}

TestPki::TestPki() {
  const std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));

  KeyPtr ca_key = NewKey();
  CertRequest ca_request{.common_name = "smtp_exporter test CA",
                         .serial = 0x5EEDCA,
                         .not_before = now - kDay,
                         .not_after = now + 365 * kDay,
                         .is_ca = true};
  CertPtr ca_cert = MakeCert(ca_request, ca_key.get(), nullptr, nullptr);
  ca_ = Describe(ca_request, ca_cert.get(), ca_key.get());

  KeyPtr leaf_key = NewKey();
  CertRequest leaf_request{.common_name = kLeafName,
                           .serial = 0x5EED1EAF01,
                           .not_before = now - kDay,
                           .not_after = now + 30 * kDay,
                           .subject_alt_name = kLeafSan};
  CertPtr leaf_cert = MakeCert(leaf_request, leaf_key.get(), ca_cert.get(), ca_key.get());
  leaf_ = Describe(leaf_request, leaf_cert.get(), leaf_key.get());

  KeyPtr expired_key = NewKey();
  CertRequest expired_request{.common_name = kLeafName,
                              .serial = 0x5EED1EAF02,
                              .not_before = now - 60 * kDay,
                              .not_after = now - kDay,
                              .subject_alt_name = kLeafSan};
  CertPtr expired_cert = MakeCert(expired_request, expired_key.get(), ca_cert.get(), ca_key.get());
  expired_leaf_ = Describe(expired_request, expired_cert.get(), expired_key.get());

  KeyPtr self_key = NewKey();
  CertRequest self_request{.common_name = kLeafName,
                           .serial = 0x5EED1EAF03,
                           .not_before = now - kDay,
                           .not_after = now + 30 * kDay,
                           .subject_alt_name = kLeafSan};
  CertPtr self_cert = MakeCert(self_request, self_key.get(), nullptr, nullptr);
  self_signed_ = Describe(self_request, self_cert.get(), self_key.get());

  ca_file_ = WriteTempPem(ca_.cert_pem);
}

TestCredential TestPki::IssueLeaf(const std::string& dns_name) const {
  BioPtr cert_bio(BIO_new_mem_buf(ca_.cert_pem.data(), static_cast<int>(ca_.cert_pem.size())));
  CertPtr ca_cert(PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
  BioPtr key_bio(BIO_new_mem_buf(ca_.key_pem.data(), static_cast<int>(ca_.key_pem.size())));
  KeyPtr ca_key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  Check(ca_cert != nullptr && ca_key != nullptr, "reading the test CA");
  static std::atomic<std::uint64_t> serial{0x5EED1EAF10};
  const std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
  const std::string san = "DNS:" + dns_name;
  KeyPtr key = NewKey();
  CertRequest request{.common_name = dns_name,
                      .serial = serial++,
                      .not_before = now - kDay,
                      .not_after = now + 30 * kDay,
                      .subject_alt_name = san.c_str()};
  CertPtr cert = MakeCert(request, key.get(), ca_cert.get(), ca_key.get());
  return Describe(request, cert.get(), key.get());
}

TestPki::~TestPki() {
  if (!ca_file_.empty()) unlink(ca_file_.c_str());
}

}  // namespace smtp::testing

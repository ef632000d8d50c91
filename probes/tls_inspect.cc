#include "probes/tls_inspect.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <ctime>
#include <map>
#include <memory>
#include <mutex>

#include "probes/text.h"

namespace smtp {
namespace {

// Accept every certificate during the handshake: the chain's verification result stays
// available through SSL_get_verify_result() and is reported rather than enforced here.
int AcceptAndRecord(int /*preverify_ok*/, X509_STORE_CTX* /*store*/) { return 1; }

std::string NameToString(const X509_NAME* name) {
  if (name == nullptr) return "";
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  if (!bio) return "";
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
  char* data = nullptr;
  long size = BIO_get_mem_data(bio.get(), &data);
  return size > 0 ? std::string(data, static_cast<std::size_t>(size)) : "";
}

std::int64_t ToUnixSeconds(const ASN1_TIME* time) {
  if (time == nullptr) return 0;
  struct tm parsed {};
  if (ASN1_TIME_to_tm(time, &parsed) != 1) return 0;
  return static_cast<std::int64_t>(timegm(&parsed));
}

std::string SerialToHex(const ASN1_INTEGER* serial) {
  if (serial == nullptr) return "";
  std::unique_ptr<BIGNUM, decltype(&BN_free)> number(ASN1_INTEGER_to_BN(serial, nullptr), BN_free);
  if (!number) return "";
  char* hex = BN_bn2hex(number.get());
  std::string text = hex != nullptr ? hex : "";
  OPENSSL_free(hex);
  return text;
}

std::vector<std::string> DnsNames(X509* certificate) {
  std::vector<std::string> names;
  auto* general_names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(certificate, NID_subject_alt_name, nullptr, nullptr));
  if (general_names == nullptr) return names;
  for (int i = 0; i < sk_GENERAL_NAME_num(general_names); ++i) {
    const GENERAL_NAME* entry = sk_GENERAL_NAME_value(general_names, i);
    if (entry->type != GEN_DNS) continue;
    const ASN1_IA5STRING* dns = entry->d.dNSName;
    names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(dns)),
                       static_cast<std::size_t>(ASN1_STRING_length(dns)));
  }
  GENERAL_NAMES_free(general_names);
  return names;
}

SSL_CTX* NewClientContext(const std::string& ca_file, std::string* error) {
  SSL_CTX* context = SSL_CTX_new(TLS_client_method());
  if (context == nullptr) {
    *error = "cannot create TLS context: " + TakeOpenSslError();
    return nullptr;
  }
  // A prober reports what the server offers, old protocol versions included, instead of
  // failing to connect: the version is a metric to alert on, not a reason to go blind.
  SSL_CTX_set_security_level(context, 0);
  SSL_CTX_set_min_proto_version(context, TLS1_VERSION);
  SSL_CTX_set_verify(context, SSL_VERIFY_PEER, AcceptAndRecord);
  int loaded = ca_file.empty() ? SSL_CTX_set_default_verify_paths(context)
                               : SSL_CTX_load_verify_locations(context, ca_file.c_str(), nullptr);
  if (loaded != 1) {
    *error = "cannot load CA file \"" + ca_file + "\": " + TakeOpenSslError();
    SSL_CTX_free(context);
    return nullptr;
  }
  return context;
}

}  // namespace

std::string TakeOpenSslError() {
  unsigned long code = ERR_get_error();
  std::string text;
  if (code != 0) {
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof buffer);
    text = buffer;
  }
  ERR_clear_error();
  return text;
}

SSL_CTX* AcquireClientContext(const std::string& ca_file, std::string* error) {
  static std::mutex mutex;
  static std::map<std::string, SSL_CTX*>* contexts = new std::map<std::string, SSL_CTX*>();
  std::lock_guard<std::mutex> lock(mutex);
  auto found = contexts->find(ca_file);
  if (found == contexts->end()) {
    SSL_CTX* context = NewClientContext(ca_file, error);
    if (context == nullptr) return nullptr;
    found = contexts->emplace(ca_file, context).first;
  }
  SSL_CTX_up_ref(found->second);
  return found->second;
}

CertificateInfo DescribeCertificate(X509* certificate) {
  CertificateInfo info;
  info.subject = NameToString(X509_get_subject_name(certificate));
  info.issuer = NameToString(X509_get_issuer_name(certificate));
  info.serial = SerialToHex(X509_get0_serialNumber(certificate));
  info.not_before = ToUnixSeconds(X509_get0_notBefore(certificate));
  info.not_after = ToUnixSeconds(X509_get0_notAfter(certificate));
  info.dns_names = DnsNames(certificate);
  return info;
}

std::vector<std::string> PeerChainDer(SSL* ssl) {
  std::vector<std::string> chain;
  if (STACK_OF(X509)* certificates = SSL_get_peer_cert_chain(ssl)) {
    for (int i = 0; i < sk_X509_num(certificates); ++i) {
      unsigned char* der = nullptr;
      const int length = i2d_X509(sk_X509_value(certificates, i), &der);
      if (length <= 0) continue;
      chain.emplace_back(reinterpret_cast<const char*>(der), static_cast<std::size_t>(length));
      OPENSSL_free(der);
    }
  }
  return chain;
}

TlsInfo InspectTlsSession(SSL* ssl, const std::string& expected_name) {
  TlsInfo info;
  info.handshake_ok = true;
  info.version = SSL_get_version(ssl);
  if (const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl))
    info.cipher = SSL_CIPHER_get_name(cipher);

  // On the client side the peer chain includes the leaf (SSL_get_peer_cert_chain(3)).
  if (STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl)) {
    for (int i = 0; i < sk_X509_num(chain); ++i) {
      info.chain.push_back(DescribeCertificate(sk_X509_value(chain, i)));
    }
  }
  for (const CertificateInfo& certificate : info.chain) {
    if (certificate.not_after != 0 &&
        (info.earliest_not_after == 0 || certificate.not_after < info.earliest_not_after)) {
      info.earliest_not_after = certificate.not_after;
    }
  }

  X509* leaf = SSL_get0_peer_certificate(ssl);
  if (leaf == nullptr) {
    info.verify_error = "no certificate presented";
    return info;
  }
  long chain_result = SSL_get_verify_result(ssl);
  info.chain_verified = chain_result == X509_V_OK;
  if (!info.chain_verified) info.verify_error = X509_verify_cert_error_string(chain_result);

  info.verified_name = expected_name;
  if (expected_name.empty()) {
    info.hostname_verified = false;
    if (info.verify_error.empty()) info.verify_error = "no name to verify the certificate against";
  } else if (IsIpLiteral(expected_name)) {
    info.hostname_verified = X509_check_ip_asc(leaf, expected_name.c_str(), 0) == 1;
  } else {
    // RFC 6125 §6.4: wildcards only as the whole left-most label.
    info.hostname_verified = X509_check_host(leaf, expected_name.c_str(), expected_name.size(),
                                             X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, nullptr) == 1;
  }
  if (!info.hostname_verified && info.verify_error.empty()) {
    info.verify_error = "certificate does not match " + expected_name;
  }
  return info;
}

}  // namespace smtp

// MatchTlsa (probes/dane.h): the OpenSSL side of DANE, in smtp_probes with the TLS code.
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <memory>
#include <optional>

#include "probes/dane.h"

namespace smtp {
namespace {

struct X509Deleter {
  void operator()(X509* certificate) const { X509_free(certificate); }
};
using X509Ptr = std::unique_ptr<X509, X509Deleter>;

X509Ptr ParseDer(const std::string& der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  return X509Ptr(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
}

// The data a record's selector picks from a certificate (RFC 6698 §2.1.2).
std::optional<std::string> Selected(X509* certificate, std::uint8_t selector,
                                    const std::string& der) {
  if (selector == 0) return der;
  unsigned char* out = nullptr;
  const int length = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(certificate), &out);
  if (length <= 0) return std::nullopt;
  std::string spki(reinterpret_cast<const char*>(out), static_cast<std::size_t>(length));
  OPENSSL_free(out);
  return spki;
}

// The selected data as the record's matching type presents it (RFC 6698 §2.1.3).
std::optional<std::string> Matched(const std::string& selected, std::uint8_t matching_type) {
  if (matching_type == 0) return selected;
  const EVP_MD* md = matching_type == 1 ? EVP_sha256() : EVP_sha512();
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(selected.data(), selected.size(), digest, &length, md, nullptr) != 1) {
    return std::nullopt;
  }
  return std::string(reinterpret_cast<const char*>(digest), length);
}

bool Matches(const TlsaRecord& record, X509* certificate, const std::string& der) {
  const std::optional<std::string> selected = Selected(certificate, record.selector, der);
  if (!selected) return false;
  const std::optional<std::string> data = Matched(*selected, record.matching_type);
  return data && *data == record.data;
}

// DANE-TA (RFC 7671 §5.2.2, RFC 7672 §3.1.2): the leaf must chain to `anchor` (a certificate
// the server presented that a usage 2 record matched) and be valid for `host`. The anchor's own
// expiry does not matter (X509_V_FLAG_PARTIAL_CHAIN makes it the trust anchor as it is).
bool ChainsTo(X509* anchor, const std::vector<X509Ptr>& chain, std::string_view host,
              std::string* error) {
  std::unique_ptr<X509_STORE, decltype(&X509_STORE_free)> store(X509_STORE_new(), X509_STORE_free);
  std::unique_ptr<STACK_OF(X509), void (*)(STACK_OF(X509)*)> untrusted(
      sk_X509_new_null(), [](STACK_OF(X509) * s) { sk_X509_free(s); });
  std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> context(X509_STORE_CTX_new(),
                                                                          X509_STORE_CTX_free);
  if (!store || !untrusted || !context || X509_STORE_add_cert(store.get(), anchor) != 1) {
    *error = "cannot set up chain verification";
    return false;
  }
  for (const X509Ptr& certificate : chain) sk_X509_push(untrusted.get(), certificate.get());
  X509_STORE_set_flags(store.get(), X509_V_FLAG_PARTIAL_CHAIN);
  if (X509_STORE_CTX_init(context.get(), store.get(), chain.front().get(), untrusted.get()) != 1) {
    *error = "cannot set up chain verification";
    return false;
  }
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(context.get());
  X509_VERIFY_PARAM_set1_host(param, std::string(host).c_str(), 0);
  if (X509_verify_cert(context.get()) == 1) return true;
  *error = X509_verify_cert_error_string(X509_STORE_CTX_get_error(context.get()));
  return false;
}

}  // namespace

void MatchTlsa(const std::vector<TlsaRecord>& records, const std::vector<std::string>& chain_der,
               std::string_view host, DaneResult& result) {
  std::vector<const TlsaRecord*> usable;
  for (const TlsaRecord& record : records) {
    if (IsUsableForSmtp(record)) usable.push_back(&record);
  }
  if (usable.empty()) {
    result.status = DaneStatus::kUnusable;
    result.detail = "no TLSA record with usage 2 or 3, selector 0 or 1, matching type 0 to 2";
    return;
  }
  std::vector<X509Ptr> chain;
  for (const std::string& der : chain_der) {
    if (X509Ptr certificate = ParseDer(der)) chain.push_back(std::move(certificate));
  }
  if (chain.empty() || chain.size() != chain_der.size()) {
    result.status = DaneStatus::kNoTls;
    result.detail = "no certificate chain to match (no TLS session with the MX)";
    return;
  }
  std::string ta_error;
  for (const TlsaRecord* record : usable) {
    if (record->usage == 3) {
      if (Matches(*record, chain.front().get(), chain_der.front())) {
        result.status = DaneStatus::kMatch;
        result.matched = ToString(*record);
        return;
      }
      continue;
    }
    for (std::size_t i = 0; i < chain.size(); ++i) {
      if (!Matches(*record, chain[i].get(), chain_der[i])) continue;
      std::string error;
      if (ChainsTo(chain[i].get(), chain, host, &error)) {
        result.status = DaneStatus::kMatch;
        result.matched = ToString(*record);
        return;
      }
      ta_error = "a DANE-TA record matched certificate " + std::to_string(i) +
                 " of the chain, but the chain does not verify from it for " + std::string(host) +
                 ": " + error;
    }
  }
  result.status = DaneStatus::kMismatch;
  result.detail = !ta_error.empty() ? ta_error
                                    : "no usable TLSA record matches the presented chain (" +
                                          std::to_string(usable.size()) + " usable of " +
                                          std::to_string(records.size()) + ")";
}

}  // namespace smtp

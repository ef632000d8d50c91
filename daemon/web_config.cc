#include "daemon/web_config.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509err.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <utility>

#include "daemon/yaml_decode.h"

namespace smtp {
namespace {

using strict::ChildPath;
using strict::Fail;
using strict::Field;
using strict::Fields;
using strict::Nulls;
using strict::Quote;
using strict::String;

TlsVersion DecodeVersion(const Field& field) {
  static const std::pair<const char*, TlsVersion> kVersions[] = {
      {"TLS10", TlsVersion::kTls10},
      {"TLS11", TlsVersion::kTls11},
      {"TLS12", TlsVersion::kTls12},
      {"TLS13", TlsVersion::kTls13},
  };
  const std::string value = String(field);
  for (const auto& [name, version] : kVersions) {
    if (value == name) return version;
  }
  Fail(field.path, field.line, "unknown TLS version " + Quote(value));
}

ClientAuth DecodeClientAuth(const Field& field) {
  static const std::pair<const char*, ClientAuth> kPolicies[] = {
      {"NoClientCert", ClientAuth::kNoClientCert},
      {"RequestClientCert", ClientAuth::kRequestClientCert},
      {"RequireAnyClientCert", ClientAuth::kRequireAnyClientCert},
      {"VerifyClientCertIfGiven", ClientAuth::kVerifyClientCertIfGiven},
      {"RequireAndVerifyClientCert", ClientAuth::kRequireAndVerifyClientCert},
  };
  const std::string value = String(field);
  for (const auto& [name, policy] : kPolicies) {
    if (value == name) return policy;
  }
  Fail(field.path, field.line, "unknown client auth type " + Quote(value));
}

// A bcrypt hash in modular crypt format: $2a$, $2b$ or $2y$, a two-digit cost from 04 to 31, then
// 53 characters of bcrypt's base64 alphabet (22 of salt, 31 of hash).
bool IsBcryptHash(const std::string& hash) {
  if (hash.size() != 60 || hash.compare(0, 2, "$2") != 0) return false;
  if (hash[2] != 'a' && hash[2] != 'b' && hash[2] != 'y') return false;
  if (hash[3] != '$' || hash[6] != '$') return false;
  if (!std::isdigit(static_cast<unsigned char>(hash[4])) ||
      !std::isdigit(static_cast<unsigned char>(hash[5]))) {
    return false;
  }
  int cost = (hash[4] - '0') * 10 + (hash[5] - '0');
  if (cost < 4 || cost > 31) return false;
  for (std::size_t i = 7; i < hash.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(hash[i]);
    if (!std::isalnum(c) && c != '.' && c != '/') return false;
  }
  return true;
}

// Where the keys of tls_server_config were written, for the errors found after reading them.
struct TlsSources {
  std::optional<Field> cert_file, key_file, client_ca_file, client_auth, max_version;
};

void ReadTls(const Field& section, const std::string& base_dir, TlsServerConfig* tls,
             TlsSources* sources) {
  for (const Field& field : Fields(section, {"cert_file", "key_file", "client_auth_type",
                                             "client_ca_file", "min_version", "max_version"})) {
    if (field.key == "cert_file") {
      tls->cert_file = strict::ResolvePath(String(field), base_dir);
      sources->cert_file = field;
    } else if (field.key == "key_file") {
      tls->key_file = strict::ResolvePath(String(field), base_dir);
      sources->key_file = field;
    } else if (field.key == "client_ca_file") {
      tls->client_ca_file = strict::ResolvePath(String(field), base_dir);
      sources->client_ca_file = field;
    } else if (field.key == "client_auth_type") {
      tls->client_auth = DecodeClientAuth(field);
      sources->client_auth = field;
    } else if (field.key == "min_version") {
      tls->min_version = DecodeVersion(field);
    } else if (field.key == "max_version") {
      tls->max_version = DecodeVersion(field);
      sources->max_version = field;
    }
  }
}

TlsServerConfig DecodeTls(const Field& section, const std::string& base_dir) {
  TlsServerConfig tls;
  TlsSources sources;
  ReadTls(section, base_dir, &tls, &sources);
  if (tls.cert_file.empty()) Fail(ChildPath(section, "cert_file"), section.line, "required");
  if (tls.key_file.empty()) Fail(ChildPath(section, "key_file"), section.line, "required");
  const bool verifies = tls.client_auth == ClientAuth::kVerifyClientCertIfGiven ||
                        tls.client_auth == ClientAuth::kRequireAndVerifyClientCert;
  if (verifies && tls.client_ca_file.empty()) {
    Fail(ChildPath(section, "client_ca_file"), sources.client_auth->line,
         "required by client_auth_type " + Quote(String(*sources.client_auth)));
  }
  if (!tls.client_ca_file.empty() && tls.client_auth == ClientAuth::kNoClientCert) {
    Fail(sources.client_ca_file->path, sources.client_ca_file->line,
         "set, but client_auth_type is NoClientCert");
  }
  if (tls.max_version && *tls.max_version < tls.min_version) {
    Fail(sources.max_version->path, sources.max_version->line, "below min_version");
  }

  // Build the context now so that a bad certificate fails the load, not the first handshake.
  // NewServerTlsContext prefixes its errors with the name of the key whose file is at fault.
  std::string error;
  tls.context = NewServerTlsContext(tls, &error);
  if (tls.context == nullptr) {
    const std::string key = error.substr(0, error.find(':'));
    const std::optional<Field>& at = key == "cert_file"        ? sources.cert_file
                                     : key == "key_file"       ? sources.key_file
                                     : key == "client_ca_file" ? sources.client_ca_file
                                                               : std::nullopt;
    Fail(ChildPath(section, key), at ? at->line : section.line,
         strict::Escape(error.substr(key.size() + 2)));
  }
  return tls;
}

std::map<std::string, std::string> DecodeUsers(const Field& section) {
  if (!section.value.IsMap()) {
    Fail(section.path, section.line,
         "expected a mapping of user names to bcrypt hashes, got " + strict::KindOf(section.value));
  }
  std::map<std::string, std::string> users;
  for (const Field& field : Fields(section, {}, Nulls::kKeep)) {
    if (field.key.empty()) Fail(section.path, field.key_line, "empty user name");
    // RFC 7617 §2: the user-id cannot contain a colon.
    if (field.key.find(':') != std::string::npos) {
      Fail(field.path, field.key_line, "user name contains ':'");
    }
    std::string hash = String(field);
    if (!IsBcryptHash(hash)) Fail(field.path, field.line, "not a bcrypt hash");
    users.emplace(field.key, std::move(hash));
  }
  return users;
}

// Drains OpenSSL's error queue. The first queued error names the cause ("no start line"); later
// ones only the layers it passed through ("PEM lib"). Sets *key_mismatch when one of them says a
// private key does not match its certificate.
std::string OpenSslReason(bool* key_mismatch = nullptr) {
  std::string reason;
  for (unsigned long code; (code = ERR_get_error()) != 0;) {
    const char* text = ERR_reason_error_string(code);
    if (reason.empty() && text != nullptr) reason = text;
    if (key_mismatch != nullptr && ERR_GET_LIB(code) == ERR_LIB_X509 &&
        ERR_GET_REASON(code) == X509_R_KEY_VALUES_MISMATCH) {
      *key_mismatch = true;
    }
  }
  return reason.empty() ? "unknown OpenSSL error" : reason;
}

// "" when `path` is a readable regular file, else the reason.
std::string CheckReadable(const std::string& path) {
  // Opened without blocking: a FIFO named here must not stall the loader.
  const std::string reason = strict::CheckRegularFile(path);
  return reason.empty() ? "" : strict::ShownPath(path) + ": " + reason;
}

// Go's crypto/tls client auth policies in OpenSSL's terms.
void SetClientAuth(SSL_CTX* ctx, ClientAuth policy) {
  // Accepts any client certificate: for the two policies that ask for one without verifying it.
  auto accept_any = [](int, X509_STORE_CTX*) { return 1; };
  switch (policy) {
    case ClientAuth::kNoClientCert:
      SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
      break;
    case ClientAuth::kRequestClientCert:
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, accept_any);
      break;
    case ClientAuth::kRequireAnyClientCert:
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, accept_any);
      break;
    case ClientAuth::kVerifyClientCertIfGiven:
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
      break;
    case ClientAuth::kRequireAndVerifyClientCert:
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
      break;
  }
}

int ProtocolVersion(TlsVersion version) {
  switch (version) {
    case TlsVersion::kTls10:
      return TLS1_VERSION;
    case TlsVersion::kTls11:
      return TLS1_1_VERSION;
    case TlsVersion::kTls12:
      return TLS1_2_VERSION;
    case TlsVersion::kTls13:
      break;
  }
  return TLS1_3_VERSION;
}

}  // namespace

std::shared_ptr<ssl_ctx_st> NewServerTlsContext(const TlsServerConfig& tls, std::string* error) {
  auto fail = [&](const std::string& message) {
    if (error != nullptr) *error = message;
    return std::shared_ptr<ssl_ctx_st>();
  };
  ERR_clear_error();
  std::shared_ptr<ssl_ctx_st> context(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
  if (context == nullptr) return fail("context: " + OpenSslReason());
  SSL_CTX* ctx = context.get();
  SSL_CTX_set_options(
      ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);

  if (std::string reason = CheckReadable(tls.cert_file); !reason.empty()) {
    return fail("cert_file: " + reason);
  }
  if (SSL_CTX_use_certificate_chain_file(ctx, tls.cert_file.c_str()) != 1) {
    return fail("cert_file: " + strict::ShownPath(tls.cert_file) + ": " + OpenSslReason());
  }
  if (std::string reason = CheckReadable(tls.key_file); !reason.empty()) {
    return fail("key_file: " + reason);
  }
  const std::string mismatch = "key_file: " + strict::ShownPath(tls.key_file) +
                               ": does not match the certificate in cert_file";
  if (SSL_CTX_use_PrivateKey_file(ctx, tls.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    bool key_mismatch = false;
    std::string reason = OpenSslReason(&key_mismatch);
    return fail(key_mismatch ? mismatch
                             : "key_file: " + strict::ShownPath(tls.key_file) + ": " + reason);
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    ERR_clear_error();
    return fail(mismatch);
  }

  if (!tls.client_ca_file.empty()) {
    if (std::string reason = CheckReadable(tls.client_ca_file); !reason.empty()) {
      return fail("client_ca_file: " + reason);
    }
    if (SSL_CTX_load_verify_locations(ctx, tls.client_ca_file.c_str(), nullptr) != 1) {
      return fail("client_ca_file: " + strict::ShownPath(tls.client_ca_file) + ": " +
                  OpenSslReason());
    }
    // The CA names go into the CertificateRequest, so clients can pick a matching certificate.
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(tls.client_ca_file.c_str())) {
      SSL_CTX_set_client_CA_list(ctx, names);
    }
    ERR_clear_error();
  }

  SetClientAuth(ctx, tls.client_auth);
  SSL_CTX_set_min_proto_version(ctx, ProtocolVersion(tls.min_version));
  if (tls.max_version) SSL_CTX_set_max_proto_version(ctx, ProtocolVersion(*tls.max_version));
  return context;
}

WebConfigResult ParseWebConfig(std::string_view yaml, const std::string& base_dir) {
  WebConfig config;
  const auto decode = [&](const Field& root) {
    if (root.value.IsNull()) return;  // an empty file: plain HTTP, no authentication
    for (const Field& field : Fields(root, {"tls_server_config", "basic_auth_users"})) {
      if (field.key == "tls_server_config") {
        // An empty mapping, like a null one, means plain HTTP (web_config.h).
        if (!field.value.IsMap() || field.value.size() > 0) {
          config.tls = DecodeTls(field, base_dir);
        }
      } else if (field.key == "basic_auth_users") {
        config.basic_auth_users = DecodeUsers(field);
      }
    }
  };
  WebConfigResult result;
  result.error = strict::DecodeDocument(yaml, "web config", decode);
  if (result.error.empty()) result.config = std::move(config);
  return result;
}

WebConfigResult LoadWebConfigFile(const std::string& path) {
  const strict::FileText file = strict::ReadConfigFile(path);
  if (!file.error.empty()) return {.config = std::nullopt, .error = file.error};
  return ParseWebConfig(file.text, file.base_dir);
}

}  // namespace smtp

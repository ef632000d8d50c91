#include "daemon/web_config.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509err.h>
#include <yaml-cpp/yaml.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>
#include <vector>

namespace smtp {
namespace {

// Thrown inside the decoder only; ParseWebConfig turns it into WebConfigResult::error.
struct DecodeError {
  std::string message;
};

[[noreturn]] void Fail(const std::string& path, const YAML::Node& node, const std::string& what) {
  throw DecodeError{path + ": " + what + " (line " + std::to_string(node.Mark().line + 1) + ")"};
}

std::string Join(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

struct Entry {
  std::string key;
  YAML::Node key_node;  // errors about the key itself point at its line
  YAML::Node value;
};

// Iterates a mapping, refusing duplicate and non-scalar keys (yaml-cpp 0.7 keeps duplicates).
std::vector<Entry> Entries(const YAML::Node& map, const std::string& path) {
  std::vector<Entry> entries;
  std::set<std::string> seen;
  for (const auto& item : map) {
    if (!item.first.IsScalar()) Fail(path, item.first, "keys must be strings");
    std::string key = item.first.Scalar();
    if (!seen.insert(key).second) Fail(Join(path, key), item.first, "duplicate key");
    entries.push_back({std::move(key), item.first, item.second});
  }
  return entries;
}

std::string Scalar(const YAML::Node& node, const std::string& path) {
  if (!node.IsScalar()) Fail(path, node, "expected a string");
  return node.Scalar();
}

TlsVersion DecodeVersion(const YAML::Node& node, const std::string& path) {
  static const std::pair<const char*, TlsVersion> kVersions[] = {
      {"TLS10", TlsVersion::kTls10},
      {"TLS11", TlsVersion::kTls11},
      {"TLS12", TlsVersion::kTls12},
      {"TLS13", TlsVersion::kTls13},
  };
  std::string value = Scalar(node, path);
  for (const auto& [name, version] : kVersions) {
    if (value == name) return version;
  }
  Fail(path, node, "unknown TLS version \"" + value + "\"");
}

ClientAuth DecodeClientAuth(const YAML::Node& node, const std::string& path) {
  static const std::pair<const char*, ClientAuth> kPolicies[] = {
      {"NoClientCert", ClientAuth::kNoClientCert},
      {"RequestClientCert", ClientAuth::kRequestClientCert},
      {"RequireAnyClientCert", ClientAuth::kRequireAnyClientCert},
      {"VerifyClientCertIfGiven", ClientAuth::kVerifyClientCertIfGiven},
      {"RequireAndVerifyClientCert", ClientAuth::kRequireAndVerifyClientCert},
  };
  std::string value = Scalar(node, path);
  for (const auto& [name, policy] : kPolicies) {
    if (value == name) return policy;
  }
  Fail(path, node, "unknown client auth type \"" + value + "\"");
}

std::string ResolvePath(const std::string& value, const std::string& base_dir) {
  std::filesystem::path path(value);
  if (path.is_relative() && !base_dir.empty()) path = std::filesystem::path(base_dir) / path;
  return path.lexically_normal().string();
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

// The struct under construction plus the nodes that errors found after decoding point at.
struct TlsNodes {
  YAML::Node section, cert_file, key_file, client_ca_file, client_auth, max_version;
};

TlsServerConfig DecodeTls(const YAML::Node& node, const std::string& base_dir) {
  const std::string path = "tls_server_config";
  TlsServerConfig tls;
  TlsNodes nodes;
  nodes.section = node;
  for (const auto& [key, key_node, value] : Entries(node, path)) {
    std::string key_path = Join(path, key);
    if (value.IsNull()) continue;  // `key:` without a value means the default
    if (key == "cert_file") {
      tls.cert_file = ResolvePath(Scalar(value, key_path), base_dir);
      nodes.cert_file = value;
    } else if (key == "key_file") {
      tls.key_file = ResolvePath(Scalar(value, key_path), base_dir);
      nodes.key_file = value;
    } else if (key == "client_ca_file") {
      tls.client_ca_file = ResolvePath(Scalar(value, key_path), base_dir);
      nodes.client_ca_file = value;
    } else if (key == "client_auth_type") {
      tls.client_auth = DecodeClientAuth(value, key_path);
      nodes.client_auth = value;
    } else if (key == "min_version") {
      tls.min_version = DecodeVersion(value, key_path);
    } else if (key == "max_version") {
      tls.max_version = DecodeVersion(value, key_path);
      nodes.max_version = value;
    } else {
      Fail(key_path, key_node, "unknown key");
    }
  }
  if (tls.cert_file.empty()) Fail(Join(path, "cert_file"), node, "required");
  if (tls.key_file.empty()) Fail(Join(path, "key_file"), node, "required");
  const bool verifies = tls.client_auth == ClientAuth::kVerifyClientCertIfGiven ||
                        tls.client_auth == ClientAuth::kRequireAndVerifyClientCert;
  if (verifies && tls.client_ca_file.empty()) {
    Fail(Join(path, "client_ca_file"), nodes.client_auth,
         "required by client_auth_type \"" + nodes.client_auth.Scalar() + "\"");
  }
  if (!tls.client_ca_file.empty() && tls.client_auth == ClientAuth::kNoClientCert) {
    Fail(Join(path, "client_ca_file"), nodes.client_ca_file,
         "set, but client_auth_type is NoClientCert");
  }
  if (tls.max_version && *tls.max_version < tls.min_version) {
    Fail(Join(path, "max_version"), nodes.max_version, "below min_version");
  }

  // Build the context now so that a bad certificate fails the load, not the first handshake. The
  // error names the key whose file is at fault.
  std::string error;
  tls.context = NewServerTlsContext(tls, &error);
  if (tls.context == nullptr) {
    // NewServerTlsContext prefixes its errors with the key name.
    std::string key = error.substr(0, error.find(':'));
    YAML::Node at = key == "cert_file"        ? nodes.cert_file
                    : key == "key_file"       ? nodes.key_file
                    : key == "client_ca_file" ? nodes.client_ca_file
                                              : node;
    Fail(path + "." + key, at, error.substr(key.size() + 2));
  }
  return tls;
}

std::map<std::string, std::string> DecodeUsers(const YAML::Node& node) {
  const std::string path = "basic_auth_users";
  if (!node.IsMap()) Fail(path, node, "expected a mapping of user names to bcrypt hashes");
  std::map<std::string, std::string> users;
  for (const auto& [user, key_node, value] : Entries(node, path)) {
    std::string key_path = Join(path, user);
    if (user.empty()) Fail(path, key_node, "empty user name");
    if (user.find(':') != std::string::npos) Fail(key_path, key_node, "user name contains ':'");
    std::string hash = Scalar(value, key_path);
    if (!IsBcryptHash(hash)) Fail(key_path, value, "not a bcrypt hash");
    users.emplace(user, std::move(hash));
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
  std::ifstream file(path);
  if (!file) return path + ": " + std::strerror(errno);
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error)) return path + ": not a regular file";
  return "";
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
    return fail("cert_file: " + tls.cert_file + ": " + OpenSslReason());
  }
  if (std::string reason = CheckReadable(tls.key_file); !reason.empty()) {
    return fail("key_file: " + reason);
  }
  const std::string mismatch =
      "key_file: " + tls.key_file + ": does not match the certificate in cert_file";
  if (SSL_CTX_use_PrivateKey_file(ctx, tls.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    bool key_mismatch = false;
    std::string reason = OpenSslReason(&key_mismatch);
    return fail(key_mismatch ? mismatch : "key_file: " + tls.key_file + ": " + reason);
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
      return fail("client_ca_file: " + tls.client_ca_file + ": " + OpenSslReason());
    }
    // The CA names go into the CertificateRequest, so clients can pick a matching certificate.
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(tls.client_ca_file.c_str())) {
      SSL_CTX_set_client_CA_list(ctx, names);
    }
    ERR_clear_error();
  }

  // Accepts any client certificate: for the two policies that ask for one without verifying it.
  auto accept_any = [](int, X509_STORE_CTX*) { return 1; };
  switch (tls.client_auth) {
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

  auto protocol = [](TlsVersion version) {
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
  };
  SSL_CTX_set_min_proto_version(ctx, protocol(tls.min_version));
  if (tls.max_version) SSL_CTX_set_max_proto_version(ctx, protocol(*tls.max_version));
  return context;
}

WebConfigResult ParseWebConfig(std::string_view yaml, const std::string& base_dir) {
  WebConfigResult result;
  try {
    YAML::Node root = YAML::Load(std::string(yaml));
    WebConfig config;
    if (!root.IsNull()) {
      if (!root.IsMap()) Fail("web config", root, "expected a mapping");
      for (const auto& [key, key_node, value] : Entries(root, "")) {
        if (value.IsNull()) continue;
        if (key == "tls_server_config") {
          if (!value.IsMap()) Fail(key, value, "expected a mapping");
          if (value.size() > 0) config.tls = DecodeTls(value, base_dir);
        } else if (key == "basic_auth_users") {
          config.basic_auth_users = DecodeUsers(value);
        } else {
          Fail(key, key_node, "unknown key");
        }
      }
    }
    result.config = std::move(config);
  } catch (const DecodeError& error) {
    result.error = error.message;
  } catch (const YAML::Exception& error) {
    result.error =
        "invalid YAML: " + error.msg + " (line " + std::to_string(error.mark.line + 1) + ")";
  }
  return result;
}

WebConfigResult LoadWebConfigFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return {.config = std::nullopt, .error = path + ": " + std::strerror(errno)};
  std::ostringstream contents;
  contents << file.rdbuf();
  if (file.bad()) return {.config = std::nullopt, .error = path + ": read error"};
  std::error_code error;
  std::filesystem::path folder = std::filesystem::absolute(path, error).parent_path();
  return ParseWebConfig(contents.str(), folder.string());
}

}  // namespace smtp

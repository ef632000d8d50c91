// The web configuration file (--web.config.file), in the Prometheus exporter-toolkit format:
//
//   tls_server_config:
//     cert_file: server.crt          # PEM certificate chain, leaf first
//     key_file: server.key           # PEM private key matching the leaf
//     client_auth_type: NoClientCert # | RequestClientCert | RequireAnyClientCert |
//                                    #   VerifyClientCertIfGiven | RequireAndVerifyClientCert
//     client_ca_file: ca.crt         # PEM CA certificates that client certificates must chain to
//     min_version: TLS12             # TLS10 | TLS11 | TLS12 | TLS13 (default TLS12)
//     max_version: TLS13             # optional upper bound, same values
//   basic_auth_users:
//     alice: $2y$10$...              # bcrypt hash, e.g. from `htpasswd -nBC 10 alice`
//
// Decoding is strict, with the main config's rules (yaml_decode.h: key paths, null = absent, one
// document, no unknown or duplicate keys): an unknown key, a value of the wrong type, an unknown
// enum value, a missing file or a certificate that does not match its key is an error. Every error
// is one line naming the key path and the 1-based line, e.g.
// `tls_server_config.min_version: unknown TLS version "TLS14" (line 4)`; errors about the file as
// a whole name it "web config" (`web config: invalid YAML: ... (line 2)`).
//
// Conventions where the exporter-toolkit is lenient or silent:
//  - An empty file, or `tls_server_config:` with a null or empty mapping, means plain HTTP. Any
//    other tls_server_config requires both cert_file and key_file (the toolkit silently serves
//    HTTP when both are missing, which hides a typo such as `certfile`).
//  - client_ca_file is required by the two Verify* policies and refused with NoClientCert (as in
//    the toolkit: a CA without a policy is a mistake).
//  - A basic_auth_users value must look like a bcrypt hash ($2a$, $2b$ or $2y$, 60 characters);
//    a user name must not contain ':' (RFC 7617 §2: the user-id cannot contain a colon).
//
// Loading reads the certificate, key and client CA files and builds the OpenSSL context right away,
// so a reload with a broken certificate fails here and the running server keeps its old context.
//
// Thread safety: the functions are reentrant; a WebConfig is immutable data once loaded (the TLS
// context it shares is only read by OpenSSL, which locks internally).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

struct ssl_ctx_st;  // OpenSSL's SSL_CTX, kept out of this header

namespace smtp {

// Go's crypto/tls ClientAuthType, which the toolkit exposes by name.
enum class ClientAuth {
  kNoClientCert,
  kRequestClientCert,           // ask for a certificate, accept any or none
  kRequireAnyClientCert,        // require a certificate, do not verify it
  kVerifyClientCertIfGiven,     // verify a certificate if one is sent
  kRequireAndVerifyClientCert,  // require a certificate that chains to client_ca_file
};

enum class TlsVersion { kTls10, kTls11, kTls12, kTls13 };

struct TlsServerConfig {
  // Absolute paths (relative ones in the file resolve against the file's folder).
  std::string cert_file;
  std::string key_file;
  std::string client_ca_file;  // empty: none
  ClientAuth client_auth = ClientAuth::kNoClientCert;
  TlsVersion min_version = TlsVersion::kTls12;
  std::optional<TlsVersion> max_version;
  // The server-side OpenSSL context built from the above at load time; never null in a
  // TlsServerConfig returned by ParseWebConfig/LoadWebConfigFile.
  std::shared_ptr<ssl_ctx_st> context;
};

struct WebConfig {
  std::optional<TlsServerConfig> tls;  // unset: plain HTTP
  // User name -> bcrypt hash. Empty: no authentication.
  std::map<std::string, std::string> basic_auth_users;
};

// Exactly one of `config` and `error` is set: error is "" on success.
struct WebConfigResult {
  std::optional<WebConfig> config;
  std::string error;
};

// Decodes `yaml`; relative paths resolve against `base_dir` (empty: the working directory).
WebConfigResult ParseWebConfig(std::string_view yaml, const std::string& base_dir);

// Reads and decodes the file at `path`; relative paths resolve against its folder. A file that
// cannot be read is an error of the form `<path>: <reason>`.
WebConfigResult LoadWebConfigFile(const std::string& path);

// Builds a server-side OpenSSL context from `tls` (its paths; `tls.context` is ignored). Returns
// null and sets *error to a one-line reason on failure. Exposed for tests and for code that
// assembles a WebConfig by hand.
std::shared_ptr<ssl_ctx_st> NewServerTlsContext(const TlsServerConfig& tls, std::string* error);

}  // namespace smtp

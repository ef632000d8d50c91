// A deliberately simple, blocking HTTP/1.1 client for the server tests: plain sockets (optionally
// wrapped in OpenSSL) to 127.0.0.1, so a test controls every byte on the wire, including broken
// ones. Every read is bounded by a timeout, so a misbehaving server fails a test instead of
// hanging it.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;

namespace smtp::testing {

struct ParsedResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;                            // as sent (still gzip-encoded if it was)
  std::size_t chunks = 0;  // with Transfer-Encoding: chunked, the chunks before the last one
};

struct TlsClientOptions {
  std::string ca_file;  // verify the server against this PEM file; empty: no verification
  std::string cert_file, key_file;  // client certificate, optional
};

class TestConnection {
 public:
  // Connects to 127.0.0.1:port (and does the TLS handshake when `tls` is set), from `source`
  // (an IPv4 loopback address such as "127.0.0.2"; null: the kernel's choice). Check ok().
  explicit TestConnection(std::uint16_t port, std::optional<TlsClientOptions> tls = std::nullopt,
                          const char* source = nullptr);
  ~TestConnection();
  TestConnection(const TestConnection&) = delete;
  TestConnection& operator=(const TestConnection&) = delete;

  bool ok() const { return fd_ >= 0 && error_.empty(); }
  const std::string& error() const { return error_; }

  // Sends all of `bytes`; false once the peer closed or reset the connection.
  bool Send(std::string_view bytes);

  // Reads one response: the header, then the body (none for HEAD requests, 1xx, 204 and 304):
  // chunked (decoded), Content-Length bytes, or, with neither, what arrives until the server
  // closes the connection. nullopt on an early EOF, reset, timeout or an unparsable response.
  std::optional<ParsedResponse> ReadResponse(
      bool head_request = false, std::chrono::milliseconds timeout = std::chrono::seconds(5));

  // Reads and discards until the server closes the connection; false if it is still open after
  // `timeout`.
  bool WaitClosed(std::chrono::milliseconds timeout);

  // Closes the connection now (a client that went away).
  void Close();

 private:
  // Appends what arrives within `timeout` to buffer_; 0 on EOF/error/timeout.
  long ReadMore(std::chrono::milliseconds timeout);

  int fd_ = -1;
  SSL_CTX* ssl_context_ = nullptr;
  SSL* ssl_ = nullptr;
  std::string buffer_;
  std::string error_;
  bool closed_ = false;  // the server closed the connection cleanly
};

// "GET <target> HTTP/1.1" with Host and the given extra header lines (each ending in CRLF).
std::string Request(std::string_view method, std::string_view target,
                    std::string_view extra_headers = "", std::string_view body = "");

// A fresh temporary directory, removed with its contents by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  // Writes `contents` to path()/name and returns the full path.
  std::string Write(const std::string& name, const std::string& contents) const;

 private:
  std::string path_;
};

// Generates a self-signed P-256 certificate for IP 127.0.0.1, valid from now for two days, with
// the openssl command: <dir>/<name>.crt and <dir>/<name>.key. Nothing that expires is checked in.
bool GenerateCertificate(const std::string& dir, const std::string& name);

// A bcrypt hash of `password` with a fresh "$2b$" salt from crypt_gensalt_rn (cost 4: the
// minimum, to keep the tests fast).
std::string BcryptHash(const std::string& password, unsigned long cost = 4);

// Inflates a gzip (RFC 1952) body; nullopt if it is not valid gzip.
std::optional<std::string> Gunzip(const std::string& compressed);

}  // namespace smtp::testing

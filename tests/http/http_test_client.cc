#include "tests/http/http_test_client.h"

#include <arpa/inet.h>
#include <crypt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <vector>

namespace smtp::testing {
namespace {

using Clock = std::chrono::steady_clock;

std::string ToLower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

bool WaitReadable(int fd, std::chrono::milliseconds timeout) {
  pollfd entry{.fd = fd, .events = POLLIN, .revents = 0};
  return poll(&entry, 1, static_cast<int>(std::max<long>(0, timeout.count()))) > 0;
}

}  // namespace

TestConnection::TestConnection(std::uint16_t port, std::optional<TlsClientOptions> tls,
                               const char* source) {
  fd_ = socket(AF_INET, SOCK_STREAM, 0);
  if (fd_ < 0) {
    error_ = "socket failed";
    return;
  }
  if (source != nullptr) {
    sockaddr_in local{};
    local.sin_family = AF_INET;
    if (inet_pton(AF_INET, source, &local.sin_addr) != 1 ||
        bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
      error_ = "bind failed";
      return;
    }
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    error_ = "connect failed";
    return;
  }
  int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (!tls) return;

  ssl_context_ = SSL_CTX_new(TLS_client_method());
  if (!tls->ca_file.empty()) {
    SSL_CTX_load_verify_locations(ssl_context_, tls->ca_file.c_str(), nullptr);
    SSL_CTX_set_verify(ssl_context_, SSL_VERIFY_PEER, nullptr);
  }
  if (!tls->cert_file.empty()) {
    SSL_CTX_use_certificate_chain_file(ssl_context_, tls->cert_file.c_str());
    SSL_CTX_use_PrivateKey_file(ssl_context_, tls->key_file.c_str(), SSL_FILETYPE_PEM);
  }
  ssl_ = SSL_new(ssl_context_);
  SSL_set_fd(ssl_, fd_);
  SSL_set1_host(ssl_, "127.0.0.1");
  // The socket is blocking; bound the handshake with a receive timeout.
  timeval five_seconds{.tv_sec = 5, .tv_usec = 0};
  setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &five_seconds, sizeof five_seconds);
  if (SSL_connect(ssl_) != 1) {
    char reason[256];
    ERR_error_string_n(ERR_get_error(), reason, sizeof reason);
    error_ = std::string("TLS handshake failed: ") + reason;
    ERR_clear_error();
  }
}

TestConnection::~TestConnection() {
  Close();
  if (ssl_context_ != nullptr) SSL_CTX_free(ssl_context_);
}

void TestConnection::Close() {
  if (ssl_ != nullptr) {
    SSL_free(ssl_);
    ssl_ = nullptr;
  }
  if (fd_ >= 0) {
    close(fd_);
    fd_ = -1;
  }
}

bool TestConnection::Send(std::string_view bytes) {
  while (!bytes.empty()) {
    long sent;
    if (ssl_ != nullptr) {
      sent = SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size()));
    } else {
      sent = send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    }
    if (sent <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(sent));
  }
  return true;
}

long TestConnection::ReadMore(std::chrono::milliseconds timeout) {
  if (fd_ < 0) return 0;
  if (ssl_ == nullptr || SSL_pending(ssl_) == 0) {
    if (!WaitReadable(fd_, timeout)) return 0;
  }
  char chunk[16384];
  long received =
      ssl_ != nullptr ? SSL_read(ssl_, chunk, sizeof chunk) : recv(fd_, chunk, sizeof chunk, 0);
  if (received > 0) buffer_.append(chunk, static_cast<std::size_t>(received));
  if (received == 0 && ssl_ == nullptr) closed_ = true;
  if (received <= 0 && ssl_ != nullptr &&
      SSL_get_error(ssl_, static_cast<int>(received)) == SSL_ERROR_ZERO_RETURN) {
    closed_ = true;  // close_notify
  }
  return received > 0 ? received : 0;
}

std::optional<ParsedResponse> TestConnection::ReadResponse(bool head_request,
                                                           std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  auto remaining = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  };
  std::size_t end;
  while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
    if (remaining().count() <= 0 || ReadMore(remaining()) == 0) return std::nullopt;
  }
  std::string header = buffer_.substr(0, end + 2);
  buffer_.erase(0, end + 4);

  ParsedResponse response;
  // Status line: HTTP/1.1 200 OK
  if (header.compare(0, 7, "HTTP/1.") != 0 || header.size() < 12) return std::nullopt;
  response.status = std::atoi(header.c_str() + 9);
  std::size_t line = header.find("\r\n") + 2;
  while (line < header.size()) {
    std::size_t next = header.find("\r\n", line);
    std::string field = header.substr(line, next - line);
    line = next + 2;
    std::size_t colon = field.find(':');
    if (colon == std::string::npos) return std::nullopt;
    std::string value = field.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    response.headers[ToLower(field.substr(0, colon))] = value;
  }
  if (response.status < 200) return response;  // interim response: no content
  if (head_request || response.status == 204 || response.status == 304) return response;
  // Waits until buffer_ holds `n` bytes.
  auto have = [&](std::size_t n) {
    while (buffer_.size() < n) {
      if (remaining().count() <= 0 || ReadMore(remaining()) == 0) return false;
    }
    return true;
  };
  if (auto it = response.headers.find("transfer-encoding"); it != response.headers.end()) {
    if (it->second != "chunked") return std::nullopt;
    // RFC 9112 §7.1: hex size, CRLF, data, CRLF; a zero size, then (no trailer) CRLF.
    for (;;) {
      std::size_t line_end;
      while ((line_end = buffer_.find("\r\n")) == std::string::npos) {
        if (remaining().count() <= 0 || ReadMore(remaining()) == 0) return std::nullopt;
      }
      char* parsed_end = nullptr;
      const std::size_t size = std::strtoul(buffer_.c_str(), &parsed_end, 16);
      if (parsed_end == buffer_.c_str()) return std::nullopt;
      if (!have(line_end + 2 + size + 2)) return std::nullopt;
      if (buffer_.compare(line_end + 2 + size, 2, "\r\n") != 0) return std::nullopt;
      response.body.append(buffer_, line_end + 2, size);
      buffer_.erase(0, line_end + 2 + size + 2);
      if (size == 0) return response;
      ++response.chunks;
    }
  }
  if (auto it = response.headers.find("content-length"); it != response.headers.end()) {
    const std::size_t length = std::strtoul(it->second.c_str(), nullptr, 10);
    if (!have(length)) return std::nullopt;
    response.body = buffer_.substr(0, length);
    buffer_.erase(0, length);
    return response;
  }
  // Neither: the body ends when the server closes the connection (RFC 9112 §6.3 item 8).
  while (remaining().count() > 0 && ReadMore(remaining()) > 0) {
  }
  if (!closed_) return std::nullopt;
  response.body = std::move(buffer_);
  buffer_.clear();
  return response;
}

bool TestConnection::WaitClosed(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (fd_ < 0) return true;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (!WaitReadable(fd_, left)) return false;
    char chunk[16384];
    long received =
        ssl_ != nullptr ? SSL_read(ssl_, chunk, sizeof chunk) : recv(fd_, chunk, sizeof chunk, 0);
    if (received <= 0) return true;
  }
  return false;
}

std::string Request(std::string_view method, std::string_view target,
                    std::string_view extra_headers, std::string_view body) {
  std::string request;
  request.append(method).append(" ").append(target).append(" HTTP/1.1\r\n");
  request.append("Host: 127.0.0.1\r\n").append(extra_headers);
  if (!body.empty()) request.append("Content-Length: " + std::to_string(body.size()) + "\r\n");
  request.append("\r\n").append(body);
  return request;
}

std::optional<std::string> Gunzip(const std::string& compressed) {
  z_stream stream{};
  if (inflateInit2(&stream, 15 + 16) != Z_OK) return std::nullopt;
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
  stream.avail_in = static_cast<uInt>(compressed.size());
  std::string out;
  int status = Z_OK;
  char chunk[16384];
  while (status == Z_OK) {
    stream.next_out = reinterpret_cast<Bytef*>(chunk);
    stream.avail_out = sizeof chunk;
    status = inflate(&stream, Z_NO_FLUSH);
    out.append(chunk, sizeof chunk - stream.avail_out);
  }
  inflateEnd(&stream);
  if (status != Z_STREAM_END) return std::nullopt;
  return out;
}

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "http_test_XXXXXX").string();
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  if (mkdtemp(buffer.data()) != nullptr) path_ = buffer.data();
}

TempDir::~TempDir() {
  std::error_code ignored;
  if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
}

std::string TempDir::Write(const std::string& name, const std::string& contents) const {
  std::string full = path_ + "/" + name;
  std::ofstream(full, std::ios::binary) << contents;
  return full;
}

bool GenerateCertificate(const std::string& dir, const std::string& name) {
  std::string base = dir + "/" + name;
  std::string command =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2"
      " -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout '" +
      base + ".key' -out '" + base + ".crt' >/dev/null 2>&1";
  return std::system(command.c_str()) == 0;
}

std::string BcryptHash(const std::string& password, unsigned long cost) {
  char setting[CRYPT_GENSALT_OUTPUT_SIZE];
  if (crypt_gensalt_rn("$2b$", cost, nullptr, 0, setting, sizeof setting) == nullptr) return "";
  auto data = std::make_unique<crypt_data>();
  const char* hash = crypt_rn(password.c_str(), setting, data.get(), sizeof(crypt_data));
  return hash != nullptr ? hash : "";
}

}  // namespace smtp::testing

#include "tests/fake/fake_https_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace smtp::testing {
namespace {

void Require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fake_https_server: %s failed\n", what);
    ERR_print_errors_fp(stderr);
    std::abort();
  }
}

}  // namespace

std::string HttpResponse(int status, const std::string& body, const std::string& content_type,
                         const std::string& extra_headers) {
  return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: " + content_type +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n" +
         extra_headers + "\r\n" + body;
}

FakeHttpsServer::FakeHttpsServer(const TestCredential& credential, HttpsBehavior behavior)
    : behavior_(std::move(behavior)) {
  SSL_CTX* context = SSL_CTX_new(TLS_server_method());
  Require(context != nullptr, "SSL_CTX_new");
  BIO* cert_bio =
      BIO_new_mem_buf(credential.cert_pem.data(), static_cast<int>(credential.cert_pem.size()));
  X509* cert = PEM_read_bio_X509(cert_bio, nullptr, nullptr, nullptr);
  BIO* key_bio =
      BIO_new_mem_buf(credential.key_pem.data(), static_cast<int>(credential.key_pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(key_bio, nullptr, nullptr, nullptr);
  Require(cert != nullptr && key != nullptr, "reading the credential");
  Require(SSL_CTX_use_certificate(context, cert) == 1, "SSL_CTX_use_certificate");
  Require(SSL_CTX_use_PrivateKey(context, key) == 1, "SSL_CTX_use_PrivateKey");
  X509_free(cert);
  EVP_PKEY_free(key);
  BIO_free(cert_bio);
  BIO_free(key_bio);
  context_ = context;

  listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
  Require(listen_fd_ >= 0, "socket");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  Require(bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), length) == 0, "bind");
  Require(listen(listen_fd_, 8) == 0, "listen");
  Require(getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length) == 0,
          "getsockname");
  port_ = ntohs(address.sin_port);
  thread_ = std::thread([this] { Serve(); });
}

FakeHttpsServer::~FakeHttpsServer() {
  stop_ = true;
  shutdown(listen_fd_, SHUT_RDWR);
  if (thread_.joinable()) thread_.join();
  close(listen_fd_);
  SSL_CTX_free(static_cast<SSL_CTX*>(context_));
}

std::vector<std::string> FakeHttpsServer::Requests() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return requests_;
}

void FakeHttpsServer::Serve() {
  while (!stop_) {
    pollfd listening{listen_fd_, POLLIN, 0};
    if (poll(&listening, 1, 100) <= 0) continue;
    const int fd = accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) continue;
    SSL* ssl = SSL_new(static_cast<SSL_CTX*>(context_));
    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) == 1) {
      std::string head;
      char buffer[1024];
      while (head.find("\r\n\r\n") == std::string::npos && head.size() < 16384) {
        const int n = SSL_read(ssl, buffer, sizeof buffer);
        if (n <= 0) break;
        head.append(buffer, static_cast<std::size_t>(n));
      }
      {
        std::lock_guard<std::mutex> lock(mutex_);
        requests_.push_back(head.substr(0, head.find("\r\n\r\n")));
      }
      // Waits in short steps so that the destructor is never held up for long.
      for (auto waited = std::chrono::milliseconds(0); waited < behavior_.delay && !stop_;
           waited += std::chrono::milliseconds(20)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      const std::string& response = behavior_.response;
      if (behavior_.drip.count() > 0) {
        for (std::size_t i = 0; i < response.size() && !stop_; ++i) {
          if (SSL_write(ssl, response.data() + i, 1) <= 0) break;
          std::this_thread::sleep_for(behavior_.drip);
        }
      } else {
        for (std::size_t sent = 0; sent < response.size() && !stop_;) {
          const int n =
              SSL_write(ssl, response.data() + sent,
                        static_cast<int>(std::min<std::size_t>(response.size() - sent, 16384)));
          if (n <= 0) break;
          sent += static_cast<std::size_t>(n);
        }
      }
      SSL_shutdown(ssl);
    }
    ERR_clear_error();
    SSL_free(ssl);
    close(fd);
  }
}

}  // namespace smtp::testing

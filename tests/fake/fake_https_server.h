// A loopback HTTPS server with canned answers, for the MTA-STS policy fetch: it presents a test
// certificate, reads one request's head, and answers with exactly the bytes it is given, at the
// pace it is told. Only 127.0.0.1, one thread, connections one at a time.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/fake/test_certs.h"

namespace smtp::testing {

struct HttpsBehavior {
  std::string response;                // written as is after the request head
  std::chrono::milliseconds delay{0};  // before the response
  std::chrono::milliseconds drip{0};   // > 0: one byte of the response per interval
};

// "HTTP/1.1 <status>\r\nContent-Type: <type>\r\nContent-Length: n\r\n<extra>\r\n<body>".
std::string HttpResponse(int status, const std::string& body,
                         const std::string& content_type = "text/plain",
                         const std::string& extra_headers = "");

class FakeHttpsServer {
 public:
  FakeHttpsServer(const TestCredential& credential, HttpsBehavior behavior);
  ~FakeHttpsServer();
  FakeHttpsServer(const FakeHttpsServer&) = delete;
  FakeHttpsServer& operator=(const FakeHttpsServer&) = delete;

  std::uint16_t port() const { return port_; }
  // The request heads received so far (text up to the blank line).
  std::vector<std::string> Requests() const;

 private:
  void Serve();

  HttpsBehavior behavior_;
  void* context_ = nullptr;  // SSL_CTX
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  mutable std::mutex mutex_;
  std::vector<std::string> requests_;
  std::thread thread_;
};

}  // namespace smtp::testing

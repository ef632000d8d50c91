// The fake server's own behaviour, checked with a raw-socket client (and an OpenSSL client for
// TLS), so that engine test failures can be trusted to be the engine's.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <string>

#include "tests/fake/fake_smtp_server.h"
#include "tests/fake/test_certs.h"

namespace smtp::testing {
namespace {

using std::chrono::milliseconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

// A minimal blocking client: connect, send, read a line with a timeout.
class RawClient {
 public:
  explicit RawClient(std::uint16_t port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  }
  ~RawClient() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    if (context_ != nullptr) SSL_CTX_free(context_);
    if (fd_ >= 0) close(fd_);
  }
  bool connected() const { return connected_; }
  int fd() const { return fd_; }

  void Send(const std::string& bytes) {
    if (ssl_ != nullptr) {
      SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size()));
    } else {
      send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    }
  }

  // One line including its line ending, or "" on EOF / timeout. `error` gets errno on failure.
  std::string ReadLine(milliseconds timeout = milliseconds(5000), int* error = nullptr) {
    std::string line;
    const auto deadline = Clock::now() + timeout;
    while (line.empty() || line.back() != '\n') {
      if (ssl_ == nullptr || SSL_pending(ssl_) == 0) {
        pollfd entry{.fd = fd_, .events = POLLIN, .revents = 0};
        auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
        if (left <= 0 || poll(&entry, 1, static_cast<int>(left)) <= 0) return line;
      }
      char c;
      ssize_t n = ssl_ != nullptr ? SSL_read(ssl_, &c, 1) : recv(fd_, &c, 1, 0);
      if (n <= 0) {
        if (error != nullptr) *error = n < 0 ? errno : 0;
        return line;
      }
      line += c;
    }
    return line;
  }

  // Client side of TLS; returns the verification result against `ca_file` for `host`.
  bool StartTls(const std::string& ca_file, const std::string& host, long* verify_result) {
    context_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_load_verify_locations(context_, ca_file.c_str(), nullptr);
    SSL_CTX_set_verify(context_, SSL_VERIFY_NONE, nullptr);
    ssl_ = SSL_new(context_);
    SSL_set_tlsext_host_name(ssl_, host.c_str());
    SSL_set1_host(ssl_, host.c_str());
    SSL_set_fd(ssl_, fd_);
    bool ok = SSL_connect(ssl_) == 1;
    ERR_clear_error();
    *verify_result = SSL_get_verify_result(ssl_);
    return ok;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  SSL_CTX* context_ = nullptr;
  SSL* ssl_ = nullptr;
};

TEST(FakeSmtpServer, ListensOnLoopbackEphemeralPort) {
  FakeSmtpServer server([](Session& session) { ServeStandardMta(session, {}); });
  EXPECT_NE(server.port(), 0);
  RawClient client(server.port());
  ASSERT_TRUE(client.connected());
  EXPECT_EQ(client.ReadLine(), "220 mx.test ESMTP FakeMTA\r\n");
}

TEST(FakeSmtpServer, StandardMtaAnswersAndRecordsEveryCommand) {
  MtaBehavior behavior;
  behavior.rcpt_codes = {554, 250};
  FakeSmtpServer server([&](Session& session) { ServeStandardMta(session, behavior); });
  RawClient client(server.port());
  client.ReadLine();
  client.Send("EHLO probe.test\r\n");
  EXPECT_EQ(client.ReadLine(), "250-mx.test Hello\r\n");
  EXPECT_EQ(client.ReadLine(), "250-PIPELINING\r\n");
  EXPECT_EQ(client.ReadLine(), "250-SIZE 10240000\r\n");
  EXPECT_EQ(client.ReadLine(), "250-8BITMIME\r\n");
  EXPECT_EQ(client.ReadLine(), "250 ENHANCEDSTATUSCODES\r\n");
  client.Send("MAIL FROM:<a@example.org>\r\n");
  EXPECT_THAT(client.ReadLine(), HasSubstr("250 "));
  client.Send("RCPT TO:<b@example.net>\r\n");
  EXPECT_THAT(client.ReadLine(), HasSubstr("554 "));
  client.Send("RSET\r\n");
  EXPECT_THAT(client.ReadLine(), HasSubstr("250 "));
  client.Send("RCPT TO:<c@example.net>\r\n");
  EXPECT_THAT(client.ReadLine(), HasSubstr("250 "));
  client.Send("STARTTLS\r\n");
  EXPECT_THAT(client.ReadLine(), HasSubstr("502 "));
  client.Send("FOO\r\n");
  EXPECT_THAT(client.ReadLine(), HasSubstr("502 "));
  client.Send("QUIT\r\n");
  EXPECT_THAT(client.ReadLine(), HasSubstr("221 "));
  EXPECT_EQ(client.ReadLine(), "");  // closed

  ASSERT_TRUE(server.WaitForSessions());
  EXPECT_THAT(server.commands(),
              ElementsAre("EHLO probe.test", "MAIL FROM:<a@example.org>", "RCPT TO:<b@example.net>",
                          "RSET", "RCPT TO:<c@example.net>", "STARTTLS", "FOO", "QUIT"));
  EXPECT_TRUE(server.Received("quit"));
  EXPECT_EQ(server.CountReceived("RCPT"), 2);
  EXPECT_FALSE(server.Received("DATA"));
  EXPECT_FALSE(server.Received("RCP"));
}

TEST(FakeSmtpServer, RecordsWhatTheClientSendsAfterTheScriptReturns) {
  FakeSmtpServer server([](Session& session) { session.Send("220 hi\r\n"); });
  {
    RawClient client(server.port());
    client.ReadLine();
    client.Send("EHLO x\r\nDATA\r\nno newline");
  }
  ASSERT_TRUE(server.WaitForSessions());
  EXPECT_THAT(server.commands(), ElementsAre("EHLO x", "DATA", "no newline"));
  EXPECT_TRUE(server.Received("DATA"));
}

TEST(FakeSmtpServer, BareLineEndings) {
  MtaBehavior behavior;
  behavior.eol = "\n";
  FakeSmtpServer server([&](Session& session) { ServeStandardMta(session, behavior); });
  RawClient client(server.port());
  EXPECT_EQ(client.ReadLine(), "220 mx.test ESMTP FakeMTA\n");
}

TEST(FakeSmtpServer, InputPendingCatchesAClientThatSpeaksEarly) {
  std::atomic<int> pending_before{-1};
  std::atomic<int> pending_after{-1};
  FakeSmtpServer server([&](Session& session) {
    session.Send("220-wait\r\n");
    pending_before = session.InputPending();  // the client waits 100 ms before speaking
    const auto deadline = Clock::now() + milliseconds(5000);
    while (!session.InputPending() && Clock::now() < deadline) session.Sleep(milliseconds(10));
    pending_after = session.InputPending();
    session.Send("220 ok\r\n");
  });
  RawClient client(server.port());
  client.ReadLine();
  std::this_thread::sleep_for(milliseconds(100));
  client.Send("EHLO too.early\r\n");
  EXPECT_EQ(client.ReadLine(), "220 ok\r\n");
  ::shutdown(client.fd(), SHUT_WR);
  ASSERT_TRUE(server.WaitForSessions());
  EXPECT_EQ(pending_before, 0);
  EXPECT_EQ(pending_after, 1);
  EXPECT_THAT(server.commands(), ElementsAre("EHLO too.early"));
}

TEST(FakeSmtpServer, SendSlowlyStopsWhenThePeerHangsUp) {
  std::atomic<bool> finished_sending{false};
  FakeSmtpServer server([&](Session& session) {
    session.SendSlowly(std::string(10000, 'x'), milliseconds(20));
    finished_sending = true;
  });
  const auto start = Clock::now();
  {
    RawClient client(server.port());
    client.ReadLine(milliseconds(100));
  }
  ASSERT_TRUE(server.WaitForSessions(1, milliseconds(5000)));
  EXPECT_TRUE(finished_sending);
  EXPECT_LT(Clock::now() - start, milliseconds(3000));
}

TEST(FakeSmtpServer, ResetSendsRst) {
  FakeSmtpServer server([](Session& session) {
    session.Send("220 hi\r\n");
    session.ReadLine();
    session.Reset();
  });
  RawClient client(server.port());
  EXPECT_EQ(client.ReadLine(), "220 hi\r\n");
  client.Send("EHLO x\r\n");
  int error = 0;
  EXPECT_EQ(client.ReadLine(milliseconds(5000), &error), "");
  EXPECT_EQ(error, ECONNRESET);
}

TEST(FakeSmtpServer, CloseSendsFinAndRecordsTheLastWords) {
  FakeSmtpServer server([](Session& session) {
    session.Send("421 bye\r\n");
    session.Close();
  });
  RawClient client(server.port());
  EXPECT_EQ(client.ReadLine(), "421 bye\r\n");
  client.Send("QUIT\r\n");
  int error = -1;
  EXPECT_EQ(client.ReadLine(milliseconds(5000), &error), "");
  EXPECT_EQ(error, 0);  // orderly EOF
  ASSERT_TRUE(server.WaitForSessions());
  EXPECT_TRUE(server.Received("QUIT"));
}

TEST(FakeSmtpServer, DestructorDoesNotWaitForAStuckScriptOrAnIdleClient) {
  Clock::time_point destruction_started;
  {
    FakeSmtpServer server([](Session& session) {
      session.Sleep(std::chrono::hours(1));
      session.ReadLine();
    });
    RawClient idle(server.port());
    RawClient another(server.port());
    const auto deadline = Clock::now() + milliseconds(5000);
    while (server.connections() < 2 && Clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(10));
    }
    EXPECT_EQ(server.connections(), 2);
    destruction_started = Clock::now();
  }
  EXPECT_LT(Clock::now() - destruction_started, milliseconds(2000));
}

TEST(FakeSmtpServer, ReadLineGivesUpAfterItsTimeout) {
  std::atomic<bool> got_line{true};
  FakeSmtpServer server([&](Session& session) {
    got_line = session.ReadLine(milliseconds(200)).has_value();
    session.Close();
  });
  RawClient client(server.port());
  const auto start = Clock::now();
  EXPECT_EQ(client.ReadLine(), "");
  EXPECT_LT(Clock::now() - start, milliseconds(3000));
  EXPECT_FALSE(got_line);
}

TEST(FakeSmtpServer, StartTlsPresentsTheLeafSignedByTheTestCa) {
  const TestPki& pki = TestPki::Get();
  MtaBehavior behavior;
  behavior.tls = &pki.leaf();
  FakeSmtpServer server([&](Session& session) { ServeStandardMta(session, behavior); });
  RawClient client(server.port());
  client.ReadLine();
  client.Send("STARTTLS\r\n");
  EXPECT_THAT(client.ReadLine(), HasSubstr("220 "));
  long verify = -1;
  ASSERT_TRUE(client.StartTls(pki.ca_file(), "mx.test", &verify));
  EXPECT_EQ(verify, X509_V_OK);
  client.Send("EHLO probe.test\r\n");
  std::string last;
  for (std::string line = client.ReadLine(); !line.empty(); line = client.ReadLine()) {
    last = line;
    EXPECT_THAT(line, ::testing::Not(HasSubstr("STARTTLS")));
    if (line.rfind("250 ", 0) == 0) break;
  }
  EXPECT_EQ(last, "250 ENHANCEDSTATUSCODES\r\n");
  client.Send("QUIT\r\n");
  EXPECT_THAT(client.ReadLine(), HasSubstr("221 "));
  ASSERT_TRUE(server.WaitForSessions());
  EXPECT_THAT(server.commands(), ElementsAre("STARTTLS", "EHLO probe.test", "QUIT"));
  EXPECT_THAT(server.anomalies(), ::testing::IsEmpty());
}

TEST(FakeSmtpServer, ImplicitTlsHandshakesBeforeTheScript) {
  const TestPki& pki = TestPki::Get();
  FakeSmtpServer::Options options;
  options.implicit_tls = &pki.leaf();
  FakeSmtpServer server([&](Session& session) { ServeStandardMta(session, {}); }, options);
  RawClient client(server.port());
  long verify = -1;
  ASSERT_TRUE(client.StartTls(pki.ca_file(), "mx.test", &verify));
  EXPECT_EQ(verify, X509_V_OK);
  EXPECT_EQ(client.ReadLine(), "220 mx.test ESMTP FakeMTA\r\n");
}

TEST(FakeSmtpServer, CertificatesThatMustNotVerify) {
  const TestPki& pki = TestPki::Get();
  for (const TestCredential* credential : {&pki.expired_leaf(), &pki.self_signed()}) {
    FakeSmtpServer::Options options;
    options.implicit_tls = credential;
    FakeSmtpServer server([&](Session& session) { ServeStandardMta(session, {}); }, options);
    RawClient client(server.port());
    long verify = -1;
    ASSERT_TRUE(client.StartTls(pki.ca_file(), "mx.test", &verify));  // handshake completes
    EXPECT_NE(verify, X509_V_OK);
  }
}

TEST(TestPki, FactsMatchTheCertificates) {
  const TestPki& pki = TestPki::Get();
  EXPECT_EQ(pki.leaf().subject, "CN=mx.test");
  EXPECT_EQ(pki.leaf().issuer, "CN=smtp_exporter test CA");
  EXPECT_EQ(pki.leaf().serial, "5EED1EAF01");
  EXPECT_EQ(pki.self_signed().issuer, "CN=mx.test");
  EXPECT_LT(pki.expired_leaf().not_after, std::time(nullptr));
  EXPECT_GT(pki.leaf().not_after, std::time(nullptr));
  EXPECT_EQ(access(pki.ca_file().c_str(), R_OK), 0);
}

}  // namespace
}  // namespace smtp::testing

// The HTTP server with a web config: HTTPS only with tls_server_config, client certificates,
// and bcrypt basic auth (RFC 7617) that guards every path, runs off the loop and follows reloads.
#include "daemon/http_auth.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "daemon/http_server.h"
#include "tests/http/http_harness.h"
#include "tests/http/http_test_client.h"

namespace smtp {
namespace {

using namespace std::chrono_literals;
using testing::BcryptHash;
using testing::Clock;
using testing::GenerateCertificate;
using testing::Harness;
using testing::ParsedResponse;
using testing::Request;
using testing::TempDir;
using testing::TestConnection;
using testing::TlsClientOptions;

WebConfig LoadOrDie(const std::string& path) {
  WebConfigResult result = LoadWebConfigFile(path);
  EXPECT_TRUE(result.config.has_value()) << result.error;
  return result.config.value_or(WebConfig{});
}

std::string BasicAuth(const std::string& credentials) {
  // RFC 7617 §2: base64 of "user:password".
  static const char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (unsigned char c : credentials) {
    buffer = (buffer << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(buffer >> bits) & 63]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(buffer << (6 - bits)) & 63]);
  while (out.size() % 4 != 0) out.push_back('=');
  return "Authorization: Basic " + out + "\r\n";
}

TEST(HttpServer, ServesHttpsOnlyWithATlsConfig) {
  TempDir dir;
  ASSERT_TRUE(GenerateCertificate(dir.path(), "server"));
  Harness harness(LoadOrDie(dir.Write("web.yml",
                                      "tls_server_config:\n"
                                      "  cert_file: server.crt\n"
                                      "  key_file: server.key\n")));
  harness.Start();
  TestConnection tls(
      harness.port(),
      TlsClientOptions{.ca_file = dir.path() + "/server.crt", .cert_file = "", .key_file = ""});
  ASSERT_TRUE(tls.ok()) << tls.error();
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(tls.Send(Request("GET", "/hello")));
    auto response = tls.ReadResponse();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(response->body, "hello\n");
  }
  // Plain HTTP on the TLS port gets no HTTP answer.
  TestConnection plain(harness.port());
  ASSERT_TRUE(plain.Send(Request("GET", "/hello")));
  EXPECT_FALSE(plain.ReadResponse(false, 2s));
}

TEST(HttpServer, RequireAndVerifyClientCertRefusesAnonymousClients) {
  TempDir dir;
  ASSERT_TRUE(GenerateCertificate(dir.path(), "server"));
  ASSERT_TRUE(GenerateCertificate(dir.path(), "client"));
  Harness harness(LoadOrDie(dir.Write("web.yml",
                                      "tls_server_config:\n"
                                      "  cert_file: server.crt\n"
                                      "  key_file: server.key\n"
                                      "  client_auth_type: RequireAndVerifyClientCert\n"
                                      "  client_ca_file: client.crt\n")));
  harness.Start();
  TlsClientOptions options{.ca_file = dir.path() + "/server.crt", .cert_file = "", .key_file = ""};
  {
    // TLS 1.3 reports the missing certificate after the handshake, on the first read.
    TestConnection anonymous(harness.port(), options);
    if (anonymous.ok()) {
      anonymous.Send(Request("GET", "/hello"));
      EXPECT_FALSE(anonymous.ReadResponse(false, 2s));
    }
  }
  options.cert_file = dir.path() + "/client.crt";
  options.key_file = dir.path() + "/client.key";
  TestConnection with_cert(harness.port(), options);
  ASSERT_TRUE(with_cert.ok()) << with_cert.error();
  ASSERT_TRUE(with_cert.Send(Request("GET", "/hello")));
  auto response = with_cert.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
}

TEST(HttpServer, BasicAuthGuardsEveryPath) {
  WebConfig config;
  config.basic_auth_users["alice"] = BcryptHash("correct horse");
  ASSERT_EQ(config.basic_auth_users["alice"].size(), 60u);
  ASSERT_TRUE(config.basic_auth_users["alice"].starts_with("$2b$04$"));
  Harness harness(config);
  harness.Start();

  auto none = harness.Fetch(Request("GET", "/hello"));
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 401);
  EXPECT_EQ(none->headers["www-authenticate"], "Basic realm=\"smtp_exporter\"");
  EXPECT_EQ(harness.Fetch(Request("GET", "/nope"))->status, 401);  // routes stay hidden
  EXPECT_EQ(harness.Fetch(Request("GET", "/hello", BasicAuth("alice:wrong")))->status, 401);
  EXPECT_EQ(harness.Fetch(Request("GET", "/hello", BasicAuth("bob:correct horse")))->status, 401);
  EXPECT_EQ(harness.Fetch(Request("GET", "/hello", "Authorization: Basic !!!\r\n"))->status, 401);
  EXPECT_EQ(harness.Fetch(Request("GET", "/hello", "Authorization: Bearer abc\r\n"))->status, 401);
  EXPECT_EQ(harness.Fetch(Request("GET", "/hello", BasicAuth("alice:correct horse")))->status, 200);
  // Cached the second time; the scheme name is case-insensitive.
  std::string lower = BasicAuth("alice:correct horse");
  lower.replace(lower.find("Basic"), 5, "basic");
  EXPECT_EQ(harness.Fetch(Request("GET", "/hello", lower))->status, 200);
  EXPECT_EQ(harness.Fetch(Request("GET", "/nope", BasicAuth("alice:correct horse")))->status, 404);
}

TEST(HttpServer, BcryptRunsOffTheLoop) {
  // Cost 12 takes a few hundred milliseconds: long enough to see whether other connections wait.
  WebConfig config;
  config.basic_auth_users["alice"] = BcryptHash("pw", 12);
  Harness harness(config);
  harness.Start();
  TestConnection slow(harness.port());
  ASSERT_TRUE(slow.Send(Request("GET", "/hello", BasicAuth("alice:pw"))));
  // Each response's completion time, taken where it arrives: were bcrypt on the loop, the quick
  // 401 could only be written after the slow verification, so it would complete last.
  std::optional<ParsedResponse> slow_response;
  Clock::time_point slow_done;
  std::thread reader([&] {
    slow_response = slow.ReadResponse();
    slow_done = Clock::now();
  });
  std::this_thread::sleep_for(20ms);  // the verification is under way
  auto quick = harness.Fetch(Request("GET", "/hello"));
  const Clock::time_point quick_done = Clock::now();
  reader.join();
  ASSERT_TRUE(quick);
  EXPECT_EQ(quick->status, 401);
  ASSERT_TRUE(slow_response);
  EXPECT_EQ(slow_response->status, 200);
  EXPECT_LT(quick_done, slow_done) << "the 401 waited for the other client's bcrypt";
}

// Timing names no user (issue 13, item 9): with users of different bcrypt costs, an unknown
// user is checked at the highest cost, and a wrong password of the cheap user takes as long.
TEST(HttpServer, UnknownUsersAndCheapUsersWrongPasswordsTakeTheHighestCostsTime) {
  WebConfig config;
  config.basic_auth_users["cheap"] = BcryptHash("pw", 4);    // ~1 ms
  config.basic_auth_users["costly"] = BcryptHash("pw", 11);  // ~100 ms
  Harness harness(config);
  harness.Start();
  auto fastest = [&](const std::string& credentials) {
    double best = 1e9;
    for (int i = 0; i < 3; ++i) {
      const Clock::time_point started = Clock::now();
      auto response = harness.Fetch(Request("GET", "/hello", BasicAuth(credentials)));
      EXPECT_TRUE(response && response->status == 401) << credentials;
      best = std::min(best, testing::SecondsSince(started));
    }
    return best;
  };
  const double unknown = fastest("nobody:pw");
  const double cheap_wrong = fastest("cheap:wrong");
  const double costly_wrong = fastest("costly:wrong");
  std::printf(
      "fastest of 3: unknown %.1f ms, cheap user wrong %.1f ms, costly user wrong %.1f ms\n",
      unknown * 1e3, cheap_wrong * 1e3, costly_wrong * 1e3);
  // Unpadded, the cheap user's refusal would take about 1 % of the costly one's; the bounds are
  // loose because a loaded 2-core machine (or ASan) stretches one bcrypt run more than another.
  EXPECT_GT(unknown, 0.25 * costly_wrong);
  EXPECT_GT(cheap_wrong, 0.25 * unknown);
  EXPECT_GT(cheap_wrong, 0.25 * costly_wrong);
  EXPECT_EQ(harness.Fetch(Request("GET", "/hello", BasicAuth("cheap:pw")))->status, 200);
}

// One peer cannot hold the bcrypt thread (issue 13, item 9): beyond kMaxPendingPerPeer
// verifications under way, its requests fail fast with 429 and run no bcrypt, and a scraper whose
// credentials were verified before is answered from the cache meanwhile.
TEST(HttpServer, AFloodOfWrongPasswordsFailsFastAndLeavesTheScraperAlone) {
  WebConfig config;
  config.basic_auth_users["prometheus"] = BcryptHash("scrape", 11);
  Harness harness(config);
  harness.Start();
  // The first verification runs bcrypt: how long one takes on this machine, as it is loaded now.
  const Clock::time_point first = Clock::now();
  ASSERT_EQ(harness.Fetch(Request("GET", "/hello", BasicAuth("prometheus:scrape")))->status, 200);
  const double bcrypt_seconds = testing::SecondsSince(first);

  constexpr int kFlood = 40;
  std::vector<std::unique_ptr<TestConnection>> flood;
  for (int i = 0; i < kFlood; ++i) {
    flood.push_back(std::make_unique<TestConnection>(harness.port()));
    ASSERT_TRUE(flood.back()->Send(
        Request("GET", "/hello", BasicAuth("prometheus:guess" + std::to_string(i)))));
  }
  std::this_thread::sleep_for(50ms);  // every flood request has been read
  const Clock::time_point started = Clock::now();
  auto scrape = harness.Fetch(Request("GET", "/hello", BasicAuth("prometheus:scrape")));
  const double scrape_seconds = testing::SecondsSince(started);
  ASSERT_TRUE(scrape);
  EXPECT_EQ(scrape->status, 200);
  int busy = 0, refused = 0;
  for (auto& connection : flood) {
    auto response = connection->ReadResponse(false, 30s);
    ASSERT_TRUE(response);
    if (response->status == 429) {
      ++busy;
      EXPECT_EQ(response->headers["retry-after"], "1");
    } else {
      EXPECT_EQ(response->status, 401);
      ++refused;
    }
  }
  std::printf(
      "flood of %d: %d refused after bcrypt, %d answered 429; scrape took %.1f ms, one bcrypt "
      "%.1f ms\n",
      kFlood, refused, busy, scrape_seconds * 1e3, bcrypt_seconds * 1e3);
  EXPECT_LE(refused, http_detail::BasicAuthenticator::kMaxPendingPerPeer);
  EXPECT_EQ(busy + refused, kFlood);
  // Had the scrape queued behind the flood's bcrypt runs, it would take at least one of them.
  EXPECT_LT(scrape_seconds, 0.5 * bcrypt_seconds);
}

TEST(HttpServer, ReloadedWebConfigAppliesToNewRequests) {
  Harness harness;
  harness.Start();
  EXPECT_EQ(harness.Fetch(Request("GET", "/hello"))->status, 200);
  WebConfig config;
  config.basic_auth_users["alice"] = BcryptHash("pw");
  harness.OnLoop([&] { harness.server().SetWebConfig(config); });
  EXPECT_EQ(harness.Fetch(Request("GET", "/hello"))->status, 401);
  EXPECT_EQ(harness.Fetch(Request("GET", "/hello", BasicAuth("alice:pw")))->status, 200);
  config.basic_auth_users["alice"] = BcryptHash("new");
  harness.OnLoop([&] { harness.server().SetWebConfig(config); });
  EXPECT_EQ(harness.Fetch(Request("GET", "/hello", BasicAuth("alice:pw")))->status, 401);
  EXPECT_EQ(harness.Fetch(Request("GET", "/hello", BasicAuth("alice:new")))->status, 200);
}

}  // namespace
}  // namespace smtp

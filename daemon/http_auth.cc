#include "daemon/http_auth.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstring>
#include <memory>
#include <string_view>
#include <utility>

#include "daemon/http_message.h"

namespace smtp::http_detail {
namespace asio = boost::asio;
namespace {

constexpr auto kCacheTime = std::chrono::minutes(1);
constexpr std::size_t kCacheMax = 1024;

bool Base64Decode(std::string_view in, std::string* out) {
  out->clear();
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  unsigned buffer = 0;
  int bits = 0;
  for (char c : in) {
    int value;
    if (c >= 'A' && c <= 'Z') {
      value = c - 'A';
    } else if (c >= 'a' && c <= 'z') {
      value = c - 'a' + 26;
    } else if (c >= '0' && c <= '9') {
      value = c - '0' + 52;
    } else if (c == '+') {
      value = 62;
    } else if (c == '/') {
      value = 63;
    } else {
      return false;
    }
    buffer = (buffer << 6) | static_cast<unsigned>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((buffer >> bits) & 0xFF));
    }
  }
  return bits < 6;  // a lone trailing sextet cannot encode a byte
}

// RFC 7617 §2: credentials = "Basic" 1*SP base64(user-id ":" password); the scheme name is
// case-insensitive (RFC 9110 §11.1). The user-id cannot contain a colon, so split at the first.
bool ParseBasicCredentials(std::string_view field, std::string* user, std::string* password) {
  field = Trim(field);
  if (field.size() < 6 || ToLower(field.substr(0, 6)) != "basic ") return false;
  std::string decoded;
  if (!Base64Decode(Trim(field.substr(6)), &decoded)) return false;
  std::size_t colon = decoded.find(':');
  if (colon == std::string::npos) return false;
  *user = decoded.substr(0, colon);
  *password = decoded.substr(colon + 1);
  return true;
}

// Runs bcrypt (tens of milliseconds by design) and compares in constant time.
bool BcryptMatches(const std::string& password, const std::string& hash) {
  if (password.find('\0') != std::string::npos) return false;
  auto data = std::make_unique<crypt_data>();  // ~32 KiB: not for the stack
  const char* result = crypt_rn(password.c_str(), hash.c_str(), data.get(), sizeof(crypt_data));
  if (result == nullptr) return false;
  std::size_t length = std::strlen(result);
  return length == hash.size() && CRYPTO_memcmp(result, hash.data(), length) == 0;
}

// The cost of a bcrypt hash ("$2b$12$..." is 12), or -1 when it is not one.
int BcryptCost(const std::string& hash) {
  if (hash.size() < 7 || hash[0] != '$' || hash[3] != '$' || hash[6] != '$') return -1;
  if (hash[4] < '0' || hash[4] > '9' || hash[5] < '0' || hash[5] > '9') return -1;
  return (hash[4] - '0') * 10 + (hash[5] - '0');
}

// The setting ("$2b$", the cost and the 22-character salt) of the costliest configured hash.
std::string HighestCostSetting(const WebConfig& config) {
  const std::string* highest = &config.basic_auth_users.begin()->second;
  for (const auto& [user, hash] : config.basic_auth_users) {
    if (BcryptCost(hash) > BcryptCost(*highest)) highest = &hash;
  }
  return highest->substr(0, 29);
}

// The peer's address without its port: "127.0.0.1:5555" -> "127.0.0.1", "[::1]:5555" -> "[::1]".
std::string PeerAddress(const std::string& remote) {
  const std::size_t colon = remote.rfind(':');
  return colon == std::string::npos ? remote : remote.substr(0, colon);
}

}  // namespace

BasicAuthenticator::BasicAuthenticator() {
  if (RAND_bytes(secret_.data(), static_cast<int>(secret_.size())) != 1) {
    // Without randomness the digest is still a one-way function of the password; the secret
    // only makes cache keys useless outside this process.
    secret_.fill(0x5a);
  }
}

asio::awaitable<BasicAuthenticator::Verdict> BasicAuthenticator::Authorized(
    const WebConfig& config, const HttpRequest& request) {
  auto field = request.headers.find("authorization");
  if (field == request.headers.end()) co_return Verdict::kRefused;
  std::string user, password;
  if (!ParseBasicCredentials(field->second, &user, &password)) co_return Verdict::kRefused;
  const std::string highest = HighestCostSetting(config);
  if (highest != highest_setting_) {  // a new web config: time its highest cost afresh
    highest_setting_ = highest;
    highest_time_ = {};
  }
  auto entry = config.basic_auth_users.find(user);
  const bool known = entry != config.basic_auth_users.end();
  // An unknown user is checked against the setting of the costliest configured hash.
  std::string hash = known ? entry->second : highest;
  std::string key = CacheKey(user, hash, password);

  auto now = std::chrono::steady_clock::now();
  if (auto cached = cache_.find(key); cached != cache_.end()) {
    if (known && cached->second > now) {
      cached->second = now + kCacheTime;  // refreshed on use
      co_return Verdict::kAllowed;
    }
    cache_.erase(cached);
  }

  const std::string peer = PeerAddress(request.remote);
  if (pending_[peer] >= kMaxPendingPerPeer || pending_total_ >= kMaxPending) {
    if (pending_[peer] == 0) pending_.erase(peer);
    co_return Verdict::kBusy;
  }
  ++pending_[peer];
  ++pending_total_;
  const bool cheaper = BcryptCost(hash) < BcryptCost(highest);
  const bool measure = cheaper && highest_time_ == std::chrono::steady_clock::duration::zero();
  // (Arguments built before the co_await: g++ 12 mishandles temporaries inside one.)
  std::string setting = measure ? highest : std::string();
  Outcome outcome = co_await VerifyOffThread(std::move(password), hash, std::move(setting));
  if (--pending_[peer] == 0) pending_.erase(peer);
  --pending_total_;
  if (!cheaper) highest_time_ = outcome.took;
  if (outcome.highest != std::chrono::steady_clock::duration::zero()) {
    highest_time_ = outcome.highest;
  }

  const bool ok = outcome.ok && known;
  if (ok) {
    if (cache_.size() >= kCacheMax) cache_.clear();
    cache_[key] = std::chrono::steady_clock::now() + kCacheTime;
    co_return Verdict::kAllowed;
  }
  // A refusal takes as long as a run at the highest cost would have: a cheap user's wrong
  // password reads like an unknown user's.
  if (cheaper && highest_time_ > outcome.took) {
    asio::steady_timer pad(co_await asio::this_coro::executor, highest_time_ - outcome.took);
    co_await pad.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  co_return Verdict::kRefused;
}

std::string BasicAuthenticator::CacheKey(const std::string& user, const std::string& hash,
                                         const std::string& password) const {
  std::string material(secret_.begin(), secret_.end());
  material.append(hash).push_back('\0');
  material.append(password);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_size = 0;
  EVP_Digest(material.data(), material.size(), digest, &digest_size, EVP_sha256(), nullptr);
  OPENSSL_cleanse(material.data(), material.size());
  return user + '\0' + std::string(reinterpret_cast<char*>(digest), digest_size);
}

asio::awaitable<BasicAuthenticator::Outcome> BasicAuthenticator::VerifyOffThread(
    std::string password, std::string hash, std::string measure) {
  auto home_executor = co_await asio::this_coro::executor;
  auto initiate = [this, home_executor, password = std::move(password), hash = std::move(hash),
                   measure = std::move(measure)](auto handler) mutable {
    // Keep the awaiting io_context's run() from returning while the verification is in flight.
    auto home = asio::prefer(asio::get_associated_executor(handler, home_executor),
                             asio::execution::outstanding_work.tracked);
    asio::post(bcrypt_thread_, [handler = std::move(handler), home, password = std::move(password),
                                hash = std::move(hash), measure = std::move(measure)]() mutable {
      using Clock = std::chrono::steady_clock;
      Outcome outcome;
      const Clock::time_point started = Clock::now();
      outcome.ok = BcryptMatches(password, hash);
      outcome.took = Clock::now() - started;
      if (!measure.empty()) {
        const Clock::time_point measuring = Clock::now();
        BcryptMatches(password, measure);
        outcome.highest = Clock::now() - measuring;
      }
      OPENSSL_cleanse(password.data(), password.size());
      asio::post(
          home, [handler = std::move(handler), outcome]() mutable { std::move(handler)(outcome); });
    });
  };
  co_return co_await asio::async_initiate<const asio::use_awaitable_t<>&, void(Outcome)>(
      std::move(initiate), asio::use_awaitable);
}

}  // namespace smtp::http_detail

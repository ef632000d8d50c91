// HTTP basic authentication (RFC 7617) for the HTTP server (daemon/http_server.h) against the
// bcrypt hashes of WebConfig::basic_auth_users. Internal to daemon/http_*.cc.
//
// Bcrypt costs tens of milliseconds by design, so it runs on a helper thread of this object's
// own and never stalls the io_context that awaits it; one thread serializes verifications, which
// also slows down password guessing. Successful verifications are cached for a minute after
// their last use (a scraper that comes back every 15 s never waits for bcrypt again), keyed by
// the user and a salted digest of (hash, password): the cache holds no password, and an entry
// dies with a changed hash.
//
// User names must not be told apart by timing (issue 13, item 9): an unknown user costs a
// bcrypt run at the highest cost among the configured users, and a refused password of a user
// whose hash is cheaper is answered no sooner than a run at that highest cost took (measured on
// the helper thread). And one client must not hold the helper thread: at most
// kMaxPendingPerPeer verifications per peer address (kMaxPending in all) wait or run at once;
// beyond that a request fails fast (Verdict::kBusy, answered 429) without running bcrypt.
#pragma once

#include <array>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <map>
#include <string>

#include "daemon/http_server.h"
#include "daemon/web_config.h"

namespace smtp::http_detail {

class BasicAuthenticator {
 public:
  static constexpr int kMaxPendingPerPeer = 4;
  static constexpr int kMaxPending = 64;

  enum class Verdict { kAllowed, kRefused, kBusy };

  BasicAuthenticator();
  // Waits for a verification in flight on the helper thread.
  ~BasicAuthenticator() = default;
  BasicAuthenticator(const BasicAuthenticator&) = delete;
  BasicAuthenticator& operator=(const BasicAuthenticator&) = delete;

  // Whether `request`'s Authorization field carries the password of one of
  // config.basic_auth_users (which must not be empty). An unknown user costs a bcrypt run too,
  // so the time taken does not reveal which user names exist. Resumes on the awaiting
  // coroutine's executor; call it on that executor's single thread.
  boost::asio::awaitable<Verdict> Authorized(const WebConfig& config, const HttpRequest& request);

  // Drops the cached verifications (a new web config).
  void ClearCache() { cache_.clear(); }

 private:
  // The cache key of (user, hash, password); see the file comment.
  std::string CacheKey(const std::string& user, const std::string& hash,
                       const std::string& password) const;
  // Runs bcrypt on the helper thread; `measure` (a setting at the highest cost) is run and
  // timed too when the highest cost has not been timed yet.
  struct Outcome {
    bool ok = false;
    std::chrono::steady_clock::duration took{};     // of `hash`
    std::chrono::steady_clock::duration highest{};  // of `measure`, when it ran
  };
  boost::asio::awaitable<Outcome> VerifyOffThread(std::string password, std::string hash,
                                                  std::string measure);

  // Successful verifications: cache key -> expiry.
  std::map<std::string, std::chrono::steady_clock::time_point> cache_;
  // Verifications waiting or running, per peer address and in all.
  std::map<std::string, int> pending_;
  int pending_total_ = 0;
  // How long a bcrypt run at the highest configured cost took last (zero: not yet timed), and
  // that cost's setting, for the web config it was timed with.
  std::chrono::steady_clock::duration highest_time_{};
  std::string highest_setting_;
  std::array<unsigned char, 32> secret_{};
  boost::asio::thread_pool bcrypt_thread_{1};
};

}  // namespace smtp::http_detail

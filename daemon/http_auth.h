// HTTP basic authentication (RFC 7617) for the HTTP server (daemon/http_server.h) against the
// bcrypt hashes of WebConfig::basic_auth_users. Internal to daemon/http_*.cc.
//
// Bcrypt costs tens of milliseconds by design, so it runs on a helper thread of this object's
// own and never stalls the io_context that awaits it; one thread serializes verifications, which
// also slows down password guessing. Successful verifications are cached for a minute, keyed by
// the user and a salted digest of (hash, password): the cache holds no password, and an entry
// dies with a changed hash.
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
  BasicAuthenticator();
  // Waits for a verification in flight on the helper thread.
  ~BasicAuthenticator() = default;
  BasicAuthenticator(const BasicAuthenticator&) = delete;
  BasicAuthenticator& operator=(const BasicAuthenticator&) = delete;

  // Whether `request`'s Authorization field carries the password of one of
  // config.basic_auth_users (which must not be empty). An unknown user costs a bcrypt run too,
  // so the time taken does not reveal which user names exist. Resumes on the awaiting
  // coroutine's executor; call it on that executor's single thread.
  boost::asio::awaitable<bool> Authorized(const WebConfig& config, const HttpRequest& request);

  // Drops the cached verifications (a new web config).
  void ClearCache() { cache_.clear(); }

 private:
  // The cache key of (user, hash, password); see the file comment.
  std::string CacheKey(const std::string& user, const std::string& hash,
                       const std::string& password) const;
  boost::asio::awaitable<bool> VerifyOffThread(std::string password, std::string hash);

  // Successful verifications: cache key -> expiry.
  std::map<std::string, std::chrono::steady_clock::time_point> cache_;
  std::array<unsigned char, 32> secret_{};
  boost::asio::thread_pool bcrypt_thread_{1};
};

}  // namespace smtp::http_detail

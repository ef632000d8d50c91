// The HTTPS fetch of an MTA-STS policy (RFC 8461 §3.3), the only HTTP client of the engine.
// Boost.Beast stays in policy_fetch.cc; this header carries only Asio's awaitable.
//
// Rules, each a PolicyFetchStatus when broken:
//  - TLS 1.2 or later, the certificate chain verified against `ca_file` (empty: the system
//    store) and valid for `host` (RFC 6125; SNI is `host`); a failed verification ends the
//    handshake (kTls), unlike the SMTP probe, which only reports it.
//  - One GET of kMtaStsPolicyPath, HTTP/1.1, `Connection: close`. A 3xx is kRedirect and is not
//    followed (§3.3); any other status than 200 is kHttpStatus.
//  - Headers at most 16 KiB, body at most kMaxMtaStsPolicyBytes (kTooLarge), media type
//    text/plain (kContentType).
//  - Everything, connect to the last byte, ends at `deadline` (kTimeout): a server that drips
//    the body cannot stretch it.
// The body is returned as received; parsing it is ParseMtaStsPolicy's (probes/mail_policy.h).
#pragma once

#include <utility>
// ^ Before any Boost.Asio header (g++ 12 coroutines); this line stops include sorting moving it.
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "probes/mail_policy.h"

namespace smtp {

struct PolicyFetchRequest {
  std::string host;                    // "mta-sts.example.org": SNI, Host and the name verified
  std::vector<std::string> addresses;  // IP literals of `host`, tried in order
  std::uint16_t port = 443;
  std::string ca_file;  // PEM; empty = the system trust store
  std::chrono::steady_clock::time_point deadline;
};

struct PolicyFetchResponse {
  PolicyFetchStatus status = PolicyFetchStatus::kProtocol;  // kOk: `body` is a candidate policy
  int http_status = 0;                                      // 0 = no response
  std::string body;
  std::string detail;  // one line: what went wrong ("" for kOk)
};

// Runs on the awaiting coroutine's executor; never throws.
boost::asio::awaitable<PolicyFetchResponse> FetchPolicy(PolicyFetchRequest request);

}  // namespace smtp

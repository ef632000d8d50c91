// ProbeResult: everything one probe learned, as plain data. The engine fills it; the CLI prints it;
// the daemon turns the latest one per target into metrics at scrape time. Nothing here knows
// about Prometheus.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "probes/banner.h"
#include "probes/ehlo.h"

namespace smtp {

// The steps of one probe, in order. A step is recorded only when it ran.
enum class Step {
  kResolve,     // A/AAAA lookup of the host (skipped for IP literals)
  kConnect,     // TCP connect
  kTls,         // implicit TLS handshake (RFC 8314), before the greeting
  kGreeting,    // wait for the final "220 " line
  kEhlo,        // EHLO
  kHelo,        // HELO, only when EHLO was refused with 5xx (RFC 1869 §4.5)
  kStartTls,    // STARTTLS command and the TLS handshake (RFC 3207)
  kTlsEhlo,     // EHLO again over TLS
  kRelay,       // MAIL FROM / RCPT TO / RSET per variant
  kQuit,        // QUIT and its 221
  kReverseDns,  // PTR of the peer address and forward confirmation
};
const char* ToString(Step step);  // "resolve", "connect", "tls", "greeting", ..., "reverse_dns"

// Why a probe failed: a closed set that users alert on (DESIGN §1).
enum class FailureReason {
  kNone,
  kDns,          // name did not resolve (NXDOMAIN, no address, DNS timeout)
  kRefused,      // connection refused (RST to SYN): port closed
  kTimeout,      // the probe's deadline passed
  kUnreachable,  // no route, network or host unreachable
  kReset,        // the server reset or closed the connection mid-dialogue
  kTls,          // TLS handshake failed, or TLS was required and not available or not verified
  kProtocol,     // not SMTP: malformed reply, line too long, unexpected code class
  kRejected,     // a 4xx/5xx reply where 2xx was needed
};
const char* ToString(FailureReason reason);  // "dns", "refused", ... ; "" for kNone

struct StepResult {
  Step step = Step::kConnect;
  std::chrono::nanoseconds duration{0};  // from the moment the step started
  int reply_code = 0;                    // last reply code seen in this step; 0 = none
  std::string enhanced_code;             // RFC 3463 "x.y.z" of that reply, or ""
  bool ok = false;
  FailureReason reason = FailureReason::kNone;  // set when !ok
  std::string detail;                           // human-readable, for the transcript and logs
};

struct CertificateInfo {
  std::string subject;  // RFC 2253 one-line form, e.g. "CN=mx.example.org"
  std::string issuer;
  std::string serial;                  // upper-case hex
  std::int64_t not_before = 0;         // Unix seconds
  std::int64_t not_after = 0;          // Unix seconds
  std::vector<std::string> dns_names;  // subjectAltName dNSName entries (leaf only)
};

struct TlsInfo {
  bool handshake_ok = false;
  std::string version;                  // "TLSv1.3"
  std::string cipher;                   // "TLS_AES_256_GCM_SHA384"
  std::vector<CertificateInfo> chain;   // as presented, leaf first
  std::int64_t earliest_not_after = 0;  // min not_after over the chain; 0 = no certificate
  // Verification is its own result: the handshake completes even when it fails.
  bool chain_verified = false;
  bool hostname_verified = false;
  bool verified() const { return chain_verified && hostname_verified; }
  std::string verify_error;   // e.g. "certificate has expired", "hostname mismatch"
  std::string verified_name;  // the name (or IP) checked against the certificate
};

enum class RelayOutcome { kAccepted, kRefused, kInconclusive, kAuthRequired };
const char* ToString(
    RelayOutcome outcome);  // "accepted", "refused", "inconclusive", "auth_required"

struct RelayAttempt {
  std::string variant;
  std::string mail_from;  // as sent
  std::string rcpt_to;    // as sent
  int mail_code = 0;
  int rcpt_code = 0;  // 0 when MAIL FROM was not accepted and RCPT TO was not sent
  RelayOutcome outcome = RelayOutcome::kInconclusive;
};

struct RelayResult {
  bool ran = false;
  bool open = false;  // any attempt accepted at RCPT
  std::vector<RelayAttempt> attempts;
};

struct DnsInfo {
  std::vector<std::string> addresses;  // what `host` resolved to (empty for literals)
  std::string connected_address;       // the peer address actually used
  std::vector<std::string> ptr_names;  // PTR of connected_address
  // Forward-confirmed reverse DNS: some PTR name resolves back to connected_address.
  std::optional<bool> fcrdns_match;
  // The banner hostname equals one of the forward-confirmed PTR names (case-insensitive).
  std::optional<bool> banner_matches_ptr;
};

struct TranscriptLine {
  std::chrono::nanoseconds at{0};  // since the probe started
  char direction = '*';            // 'S' server, 'C' client, '*' engine note
  std::string text;                // without CRLF; truncated when very long
};

struct ProbeResult {
  std::string host;
  std::uint16_t port = 0;
  bool success = false;
  std::optional<Step> failed_step;
  FailureReason failure_reason = FailureReason::kNone;
  std::string failure_detail;
  std::chrono::nanoseconds duration{0};
  std::chrono::system_clock::time_point started_at;
  std::vector<StepResult> steps;

  DnsInfo dns;
  std::optional<GreetingInfo> greeting;  // from the final 220
  std::vector<std::string> greeting_lines;
  std::optional<bool> esmtp;                     // true: EHLO accepted; false: only HELO worked
  std::optional<Capabilities> capabilities;      // EHLO before TLS (or implicit TLS session)
  std::optional<Capabilities> tls_capabilities;  // EHLO after STARTTLS
  bool starttls_offered = false;
  std::optional<bool> starttls_success;  // set when STARTTLS was attempted
  bool implicit_tls = false;
  std::optional<TlsInfo> tls;
  RelayResult relay;
  // Bytes that followed the STARTTLS 220 in plaintext and were discarded (RFC 3207 §4.2).
  bool plaintext_after_starttls = false;
  std::vector<TranscriptLine> transcript;

  const StepResult* FindStep(Step step) const;
};

}  // namespace smtp

// ProbeResult: everything one probe learned, as plain data. The engine fills it; the CLI prints it;
// the daemon turns the latest one per target into metrics at scrape time. Nothing here knows
// about Prometheus.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "probes/auth.h"
#include "probes/banner.h"
#include "probes/boxed.h"
#include "probes/dane.h"
#include "probes/dnsbl.h"
#include "probes/ehlo.h"
#include "probes/mail_policy.h"
#include "probes/reply_parser.h"

namespace smtp {

// The steps of one probe, in order. A step is recorded only when it ran.
enum class Step : std::uint8_t {
  kResolve,          // A/AAAA lookup of the host (skipped for IP literals)
  kConnect,          // TCP connect
  kTls,              // implicit TLS handshake (RFC 8314), before the greeting
  kGreeting,         // wait for the final "220 " line
  kEhlo,             // EHLO
  kHelo,             // HELO, only when EHLO was refused with 5xx (RFC 1869 §4.5)
  kStartTls,         // STARTTLS command and the TLS handshake (RFC 3207)
  kTlsEhlo,          // EHLO again over TLS
  kRelay,            // MAIL FROM / RCPT TO / RSET per variant
  kUserEnumeration,  // VRFY and EXPN of a real and a random name; never fails the probe
  kAuth,             // AUTH (RFC 4954) with the configured credentials
  kQuit,             // QUIT and its 221
  kReverseDns,       // PTR of the peer address and forward confirmation
};
const char* ToString(Step step);  // "resolve", "connect", "tls", "greeting", ..., "reverse_dns"

// Why a probe failed: a closed set that users alert on (DESIGN §1).
enum class FailureReason : std::uint8_t {
  kNone,
  kDns,          // name did not resolve (NXDOMAIN, no address, DNS timeout)
  kRefused,      // connection refused (RST to SYN): port closed
  kTimeout,      // the probe's deadline passed
  kUnreachable,  // no route, network or host unreachable
  kReset,        // the server reset or closed the connection mid-dialogue
  kTls,          // TLS handshake failed, or TLS was required and not available or not verified
  kProtocol,     // not SMTP: malformed reply, line too long, unexpected code class
  kRejected,     // a 4xx/5xx reply where 2xx was needed
  kForbidden,    // every address the name resolved to is outside what the caller allows
                 // (ProbeSpec::address_allowed): not connected to at all
};
const char* ToString(FailureReason reason);  // "dns", "refused", ... ; "" for kNone
// Every reason but kNone, in the order above: the closed set users alert on.
inline constexpr FailureReason kFailureReasons[] = {
    FailureReason::kDns,         FailureReason::kRefused,  FailureReason::kTimeout,
    FailureReason::kUnreachable, FailureReason::kReset,    FailureReason::kTls,
    FailureReason::kProtocol,    FailureReason::kRejected, FailureReason::kForbidden,
};

// 32 bytes: the daemon keeps every target's latest steps (members ordered to leave no padding;
// the detail, written only when a step fails, is Sparse).
struct StepResult {
  Step step = Step::kConnect;
  bool ok = false;
  FailureReason reason = FailureReason::kNone;  // set when !ok
  int reply_code = 0;                           // last reply code seen in this step; 0 = none
  std::optional<EnhancedStatus> enhanced_code;  // RFC 3463 code of that reply, when it had one
  std::chrono::nanoseconds duration{0};         // from the moment the step started
  Sparse<std::string> detail;                   // human-readable, for the transcript and logs
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

// What one relay-test variant proved (REFERENCE.md "Relay test"; RFC 5321 §4.2.1 reads only the
// first digit of a reply).
enum class RelayOutcome {
  kAccepted,      // 2yz at RCPT: a foreign recipient as written, or an address hack while a random
                  // local part at the same name was refused: proves an open relay
  kRefused,       // 5yz at MAIL or RCPT (501 included)
  kInconclusive,  // 4yz (greylisting, rate limit), or a hack accepted when the catch-all question
                  // got no answer
  kAuthRequired,  // 530: authentication (RFC 4954) or TLS (RFC 3207) required first
  kCatchAll,      // an address hack accepted by a server that accepts any local part: the hack was
                  // taken as local mail and proves nothing
  kNotRun,        // the test was cut short (its own deadline, a hang-up) before this variant ran
};
// "accepted", "refused", "inconclusive", "auth_required", "catch_all", "not_run"
const char* ToString(RelayOutcome outcome);

struct RelayAttempt {
  std::string variant;
  std::string mail_from;  // as sent
  std::string rcpt_to;    // as sent
  // True when the foreign address hides in a local part at one of the server's own names (%,
  // !, quoted @, double @): an acceptance proves relaying only if that name is not a catch-all.
  bool hack = false;
  std::string local_domain;  // for hacks: the name the hack is addressed to ("" = unqualified)
  int mail_code = 0;
  int rcpt_code = 0;  // 0 when MAIL FROM was not accepted and RCPT TO was not sent
  RelayOutcome outcome = RelayOutcome::kNotRun;
};

// The catch-all question (DESIGN §1): is a random local part that cannot exist accepted at RCPT?
// Asked once per name that a hack variant is addressed to, and at the server's own name.
struct CatchAllCheck {
  std::string domain;   // "mx.example", "[192.0.2.1]", or "" for an unqualified local part
  std::string rcpt_to;  // as sent, e.g. "<smtp-exporter-catch-all-1f3a9c@mx.example>"
  int mail_code = 0;
  int rcpt_code = 0;
  std::optional<bool> accepted;  // 2yz: true, 5yz: false, no answer or 4yz: unknown
};

struct RelayResult {
  bool ran = false;
  std::vector<RelayAttempt> attempts;  // every planned variant, in order (kNotRun when cut short)
  std::vector<CatchAllCheck> catch_all_checks;
  // The session the test ran in was TLS-protected; and whether the server offered STARTTLS.
  // A 530 in plaintext from a server that offers STARTTLS may only mean "use TLS first", so it
  // does not prove the server closed.
  bool over_tls = false;
  bool starttls_offered = false;
  int reconnects = 0;  // new sessions opened after the server hung up mid-test
  // Why the test stopped before every variant ran (kNone when it completed), e.g. kTimeout when
  // its own time budget ran out; `stop_detail` says more.
  FailureReason stop_reason = FailureReason::kNone;
  std::string stop_detail;
  bool complete() const;  // every attempt ran (none is kNotRun)
};

// The AUTH step (RFC 4954), when the module configures credentials.
struct AuthResult {
  bool attempted = false;  // the step ran
  std::string username;    // as configured (not a secret; the password is never kept here)
  std::string mechanism;   // the one used, upper case; "" when none was chosen
  AuthOutcome outcome = AuthOutcome::kError;
  bool over_tls = false;         // the session was TLS-protected when AUTH was sent
  bool server_verified = false;  // SCRAM: the server's signature checked out (RFC 5802 §3)
  int rounds = 0;                // 334 challenges answered
  bool success() const { return attempted && outcome == AuthOutcome::kSuccess; }
};

// Can a stranger tell existing users from nonexistent ones (nmap smtp-enum-users)? A closed set
// (the `result` label of smtp_user_enumeration_result).
enum class EnumerationResult {
  kExposed,       // 2yz for the real name, 550/551/553 for the random one: users told apart
  kNotExposed,    // 5yz for the real name (502 not implemented, 530, 550), or 2yz for both
                  // (252 "cannot verify" to anything, or a server that says yes to anything)
  kInconclusive,  // 4yz, no answer, or a random name not understood (500-504)
};
const char* ToString(EnumerationResult result);  // "exposed", "not_exposed", "inconclusive"
inline constexpr EnumerationResult kEnumerationResults[] = {
    EnumerationResult::kExposed, EnumerationResult::kNotExposed, EnumerationResult::kInconclusive};

// One method (VRFY or EXPN, RFC 5321 §3.5) asked about a real and a random name.
struct EnumerationCheck {
  std::string method;  // "vrfy" | "expn"
  std::string real_name;
  int real_code = 0;  // 0 = not answered
  std::string random_name;
  int random_code = 0;
  EnumerationResult result = EnumerationResult::kInconclusive;
};

struct UserEnumerationResult {
  bool ran = false;
  std::vector<EnumerationCheck> checks;  // vrfy, then expn
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

// One line of a probe's conversation. As read from a Transcript, `text` points into it: valid
// while the Transcript lives and is not modified.
struct TranscriptLine {
  std::chrono::nanoseconds at{0};  // since the probe started
  char direction = '*';            // 'S' server, 'C' client, '*' engine note
  std::string_view text;           // without CRLF; truncated when very long
};

// A probe's conversation, kept compactly: every line's direction and text in one buffer and
// 8 bytes of index per line, with `at` kept to the microsecond (a line read back has `at`
// truncated to whole microseconds, saturating at 4,294 s). The daemon keeps each target's latest
// transcript for the status page; one std::string per line cost 1.7 times as much
// (bench/README "Memory per target").
class Transcript {
 public:
  // Appends a copy of `line` (its text may point anywhere). Texts add up to at most 4 GiB.
  void push_back(const TranscriptLine& line);
  std::size_t size() const { return marks_.size(); }
  bool empty() const { return marks_.empty(); }
  TranscriptLine operator[](std::size_t index) const;  // index < size()
  void shrink_to_fit();
  std::size_t capacity() const { return marks_.capacity(); }  // lines

  class const_iterator {
   public:
    using value_type = TranscriptLine;
    using difference_type = std::ptrdiff_t;
    const_iterator() = default;
    TranscriptLine operator*() const { return (*owner_)[index_]; }
    const_iterator& operator++() {
      ++index_;
      return *this;
    }
    const_iterator operator++(int) {
      const_iterator before = *this;
      ++index_;
      return before;
    }
    bool operator==(const const_iterator&) const = default;

   private:
    friend class Transcript;
    const_iterator(const Transcript* owner, std::size_t index) : owner_(owner), index_(index) {}
    const Transcript* owner_ = nullptr;
    std::size_t index_ = 0;
  };
  const_iterator begin() const { return {this, 0}; }
  const_iterator end() const { return {this, size()}; }

 private:
  struct Mark {
    std::uint32_t at_us = 0;
    std::uint32_t end = 0;  // the line's end offset in text_; it starts where the previous ends
  };
  std::string text_;  // per line: the direction, then the text
  std::vector<Mark> marks_;
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
  std::optional<GreetingInfo> greeting;      // parsed only from a 220 greeting (RFC 5321 §4.2)
  std::vector<std::string> greeting_lines;   // the greeting's text, whatever its code
  std::optional<bool> esmtp;                 // true: EHLO accepted; false: only HELO worked
  std::optional<Capabilities> capabilities;  // EHLO before TLS (or implicit TLS session)
  Boxed<Capabilities> tls_capabilities;      // EHLO after STARTTLS
  // nullopt when unknown: EHLO never answered. False after a HELO-only server (no extensions).
  std::optional<bool> starttls_offered;
  std::optional<bool> starttls_success;  // set when STARTTLS was attempted
  Sparse<std::string> starttls_error;    // why STARTTLS failed ("" when it did not)
  // Opportunistic STARTTLS failed at the handshake; as a sending MTA does, the probe reconnected
  // in plaintext and went on (RFC 3207 §4.1 leaves the choice to the client).
  bool plaintext_fallback = false;
  bool implicit_tls = false;
  Boxed<TlsInfo> tls;
  // Sparse: a probe that did not run these leaves them unwritten (8 bytes each, not 224 in all).
  Sparse<RelayResult> relay;
  Sparse<AuthResult> auth;
  Sparse<UserEnumerationResult> user_enumeration;
  // Bytes that followed the STARTTLS 220 in plaintext and were discarded (RFC 3207 §4.2).
  bool plaintext_after_starttls = false;
  // Reply framing the server got wrong but real clients tolerate (ReplyAnomaly names, e.g.
  // "reply code changed between lines"), each once.
  std::vector<std::string> reply_anomalies;
  Transcript transcript;

  // The domain checks that ran (ProbeSpec::checks): nullopt / empty when not asked for.
  Boxed<MtaStsResult> mta_sts;
  Boxed<TlsRptResult> tls_rpt;
  std::vector<DnsblResult> dnsbl;  // one per zone, for the connected address
  Boxed<DaneResult> dane;          // the MX host's TLSA records against its chain

  const StepResult* FindStep(Step step) const;
};

// "success", or the failure reason ("dns", "refused", "timeout", ...; "unknown" for a failure
// without one): the `result` label of smtp_exporter_probes_total.
std::string ProbeResultLabel(const ProbeResult& result);

// Gives back the spare capacity of the result's vectors and transcript lines (a vector that grew
// to 5 steps holds room for 8). For a result kept for long: the daemon keeps every target's
// latest one (daemon/target_state.h). Changes no value.
void ReleaseSpareCapacity(ProbeResult& result);

// The result that stands for a probe or a target expansion that threw: a bug, since the engine
// reports failures as data. Not successful, reason protocol, no failed step, detail
// "internal error: <what()>"; `error` must not be null. The awaitable entry points
// (probes/awaitable.h) return it instead of letting the exception escape.
ProbeResult InternalErrorResult(std::exception_ptr error);

}  // namespace smtp

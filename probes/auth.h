// The SMTP AUTH dialogue (RFC 4954) as a pure state machine, with the SASL mechanisms (RFC 4422)
// computed by GNU SASL (libgsasl): PLAIN (RFC 4616), LOGIN (draft-murchison-sasl-login),
// CRAM-MD5 (RFC 2195), SCRAM-SHA-1 (RFC 5802) and SCRAM-SHA-256 (RFC 7677). No own crypto.
//
// No I/O: the probe session (probes/probe_auth.cc) sends what AuthDialogue says and feeds it the
// replies, so every reply sequence a server can produce is testable (and fuzzable) without a
// socket. Every line it asks to send comes with the form the transcript shows: the SASL data is
// never in it ("AUTH PLAIN <redacted>", "<redacted>").
//
// Bounds: a server that keeps answering 334 gets at most kMaxAuthRounds responses, then the
// exchange is cancelled with "*" (RFC 4954 §4); the probe's deadline bounds the time.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "probes/reply_parser.h"

namespace smtp {

// How an AUTH attempt ended: a closed set (the `result` label of smtp_auth_result). RFC 4954 §6
// gives the codes: 235 2.7.0 success, 535 5.7.8 bad credentials, 534 5.7.9 mechanism too weak,
// 454 4.7.0 temporary failure (the SASL backend is down), 538 5.7.11 encryption required.
enum class AuthOutcome {
  kSuccess,             // 235
  kBadCredentials,      // 535
  kTooWeak,             // 534
  kTemporaryFailure,    // 454 (and any other 4yz: 432 password transition, 421 closing)
  kEncryptionRequired,  // 538
  kRejected,            // any other 5yz (504 mechanism unknown, 501 cancelled, 530, 500/502)
  kNotOffered,          // no AUTH in the capabilities the step used
  kNoCommonMechanism,   // AUTH offered, but none of the configured mechanisms
  kPlaintextRefused,    // the session is not TLS and the module does not allow plaintext
  kError,               // protocol fault (garbage challenge, endless 334, unexpected code),
                        // a failed SASL computation, a hang-up or the deadline
};
// "success", "bad_credentials", "too_weak", "temporary_failure", "encryption_required",
// "rejected", "not_offered", "no_common_mechanism", "plaintext_refused", "error"
const char* ToString(AuthOutcome outcome);
inline constexpr AuthOutcome kAuthOutcomes[] = {
    AuthOutcome::kSuccess,
    AuthOutcome::kBadCredentials,
    AuthOutcome::kTooWeak,
    AuthOutcome::kTemporaryFailure,
    AuthOutcome::kEncryptionRequired,
    AuthOutcome::kRejected,
    AuthOutcome::kNotOffered,
    AuthOutcome::kNoCommonMechanism,
    AuthOutcome::kPlaintextRefused,
    AuthOutcome::kError,
};

// The mechanisms the prober can use, strongest first: the default order.
const std::vector<std::string>& SupportedAuthMechanisms();
bool IsSupportedAuthMechanism(std::string_view name);  // case-insensitive
// The first of `preferred` (upper-case names) that the server `offered` (upper case, as
// Capabilities::auth_mechanisms), or nullopt.
std::optional<std::string> ChooseAuthMechanism(const std::vector<std::string>& preferred,
                                               const std::vector<std::string>& offered);

// At most this many 334 challenges are answered in one exchange (SCRAM needs 2, LOGIN 2 or 3).
inline constexpr int kMaxAuthRounds = 8;

class SaslClient;  // GNU SASL session; auth.cc

class AuthDialogue {
 public:
  struct Line {
    std::string wire;   // to send, without CRLF
    std::string shown;  // for the transcript: the SASL data replaced by "<redacted>"
  };
  struct Action {
    // Send `line` and call OnReply with the answer; or, when unset, the exchange is over.
    std::optional<Line> line;
    // When over: the outcome and one line for the step's detail (no secret, no server text).
    AuthOutcome outcome = AuthOutcome::kError;
    std::string detail;
    // SCRAM: the server proved it knows the password too (RFC 5802 §3, server signature). False
    // for the other mechanisms, and when a SCRAM server said 235 without its final message.
    bool server_verified = false;
  };

  // Starts `mechanism` (one of SupportedAuthMechanisms) for `username`/`password`; nullopt and
  // *error set when the SASL library cannot (unknown mechanism, library failure).
  static std::unique_ptr<AuthDialogue> Start(const std::string& mechanism,
                                             const std::string& username,
                                             const std::string& password, std::string* error);
  ~AuthDialogue();

  // "AUTH <mechanism>" with the initial response (RFC 4954 §4) for client-first mechanisms
  // (PLAIN, SCRAM), unless the line would pass 512 octets: then the response follows the
  // server's empty 334. The first action always sends a line.
  Action Begin();
  // The server's reply to the last line sent.
  Action OnReply(const Reply& reply);

  const std::string& mechanism() const { return mechanism_; }
  int rounds() const { return rounds_; }  // 334 challenges answered so far

 private:
  AuthDialogue(std::string mechanism, std::unique_ptr<SaslClient> sasl);
  Action Finish(AuthOutcome outcome, std::string detail);
  Action Cancel(std::string why);  // sends "*", then ends with kError and `why`

  std::string mechanism_;
  std::unique_ptr<SaslClient> sasl_;
  std::string pending_initial_;  // an initial response held back for the first 334
  bool has_pending_initial_ = false;
  bool sasl_done_ = false;  // the SASL library reported the exchange complete
  bool cancelled_ = false;
  std::string cancel_reason_;
  int rounds_ = 0;
};

}  // namespace smtp

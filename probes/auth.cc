// The SMTP AUTH dialogue over GNU SASL; see auth.h.
#include "probes/auth.h"

#include <gsasl.h>

#include <algorithm>
#include <utility>

#include "probes/text.h"

namespace smtp {

// One GNU SASL client session (and its library handle): computes the responses, nothing else.
class SaslClient {
 public:
  static std::unique_ptr<SaslClient> Start(const std::string& mechanism,
                                           const std::string& username, const std::string& password,
                                           std::string* error) {
    auto client = std::unique_ptr<SaslClient>(new SaslClient);
    int rc = gsasl_init(&client->context_);
    if (rc != GSASL_OK) {
      *error = std::string("GNU SASL: ") + gsasl_strerror(rc);
      return nullptr;
    }
    rc = gsasl_client_start(client->context_, mechanism.c_str(), &client->session_);
    if (rc != GSASL_OK) {
      *error = "GNU SASL cannot start " + mechanism + ": " + gsasl_strerror(rc);
      return nullptr;
    }
    // The credentials live only in the library's session; it frees them at gsasl_finish.
    if (gsasl_property_set(client->session_, GSASL_AUTHID, username.c_str()) != GSASL_OK ||
        gsasl_property_set(client->session_, GSASL_PASSWORD, password.c_str()) != GSASL_OK) {
      *error = "GNU SASL: cannot set the credentials";
      return nullptr;
    }
    return client;
  }
  ~SaslClient() {
    if (session_ != nullptr) gsasl_finish(session_);
    if (context_ != nullptr) gsasl_done(context_);
  }

  // One step: the server's base64 data in, the client's base64 data out. GSASL_OK (complete),
  // GSASL_NEEDS_MORE, or an error code (gsasl_strerror).
  int Step(const std::string& input, std::string* output) {
    char* out = nullptr;
    const int rc = gsasl_step64(session_, input.c_str(), &out);
    output->assign(out != nullptr ? out : "");
    gsasl_free(out);
    return rc;
  }

 private:
  SaslClient() = default;
  Gsasl* context_ = nullptr;
  Gsasl_session* session_ = nullptr;
};

namespace {

// RFC 5321 §4.5.3.1.4: a command line is at most 512 octets, CRLF included. RFC 4954 §4 allows
// AUTH lines up to 12288 octets, but the line limit is what every server takes.
constexpr std::size_t kMaxCommandLine = 512;
constexpr std::string_view kRedacted = "<redacted>";

// Mechanisms whose client speaks first (RFC 4954 §4 initial response); the others wait for the
// server's challenge (LOGIN's "Username:", CRAM-MD5's timestamp).
bool IsClientFirst(std::string_view mechanism) {
  return mechanism == "PLAIN" || mechanism.starts_with("SCRAM-");
}

}  // namespace

const char* ToString(AuthOutcome outcome) {
  switch (outcome) {
    case AuthOutcome::kSuccess:
      return "success";
    case AuthOutcome::kBadCredentials:
      return "bad_credentials";
    case AuthOutcome::kTooWeak:
      return "too_weak";
    case AuthOutcome::kTemporaryFailure:
      return "temporary_failure";
    case AuthOutcome::kEncryptionRequired:
      return "encryption_required";
    case AuthOutcome::kRejected:
      return "rejected";
    case AuthOutcome::kNotOffered:
      return "not_offered";
    case AuthOutcome::kNoCommonMechanism:
      return "no_common_mechanism";
    case AuthOutcome::kPlaintextRefused:
      return "plaintext_refused";
    case AuthOutcome::kError:
      return "error";
  }
  return "error";
}

const std::vector<std::string>& SupportedAuthMechanisms() {
  static const std::vector<std::string> kMechanisms = {"SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5",
                                                       "PLAIN", "LOGIN"};
  return kMechanisms;
}

bool IsSupportedAuthMechanism(std::string_view name) {
  const std::string upper = ToUpperAscii(name);
  const auto& all = SupportedAuthMechanisms();
  return std::find(all.begin(), all.end(), upper) != all.end();
}

std::optional<std::string> ChooseAuthMechanism(const std::vector<std::string>& preferred,
                                               const std::vector<std::string>& offered) {
  for (const std::string& mechanism : preferred) {
    if (std::find(offered.begin(), offered.end(), mechanism) != offered.end()) return mechanism;
  }
  return std::nullopt;
}

AuthDialogue::AuthDialogue(std::string mechanism, std::unique_ptr<SaslClient> sasl)
    : mechanism_(std::move(mechanism)), sasl_(std::move(sasl)) {}

AuthDialogue::~AuthDialogue() = default;

std::unique_ptr<AuthDialogue> AuthDialogue::Start(const std::string& mechanism,
                                                  const std::string& username,
                                                  const std::string& password, std::string* error) {
  if (!IsSupportedAuthMechanism(mechanism)) {
    *error = "unsupported mechanism " + mechanism;
    return nullptr;
  }
  const std::string upper = ToUpperAscii(mechanism);
  std::unique_ptr<SaslClient> sasl = SaslClient::Start(upper, username, password, error);
  if (!sasl) return nullptr;
  return std::unique_ptr<AuthDialogue>(new AuthDialogue(upper, std::move(sasl)));
}

AuthDialogue::Action AuthDialogue::Begin() {
  Action action;
  action.line = Line{"AUTH " + mechanism_, "AUTH " + mechanism_};
  if (!IsClientFirst(mechanism_)) return action;
  std::string initial;
  const int rc = sasl_->Step("", &initial);
  if (rc != GSASL_OK && rc != GSASL_NEEDS_MORE) {
    return Finish(AuthOutcome::kError,
                  std::string("SASL cannot start ") + mechanism_ + ": " + gsasl_strerror(rc));
  }
  sasl_done_ = rc == GSASL_OK;
  // RFC 4954 §4: an empty initial response is sent as "=".
  if (initial.empty()) initial = "=";
  if (action.line->wire.size() + 1 + initial.size() + 2 > kMaxCommandLine) {
    pending_initial_ = std::move(initial);  // sent after the server's empty 334
    has_pending_initial_ = true;
    return action;
  }
  action.line->wire += " " + initial;
  action.line->shown += " " + std::string(kRedacted);
  return action;
}

AuthDialogue::Action AuthDialogue::Finish(AuthOutcome outcome, std::string detail) {
  Action action;
  action.outcome = outcome;
  action.detail = std::move(detail);
  action.server_verified =
      outcome == AuthOutcome::kSuccess && sasl_done_ && mechanism_.starts_with("SCRAM-");
  return action;
}

AuthDialogue::Action AuthDialogue::Cancel(std::string why) {
  // RFC 4954 §4: "*" cancels the exchange; the server answers 501.
  cancelled_ = true;
  cancel_reason_ = std::move(why);
  Action action;
  action.line = Line{"*", "*"};
  return action;
}

AuthDialogue::Action AuthDialogue::OnReply(const Reply& reply) {
  const std::string code = std::to_string(reply.code);
  if (cancelled_) return Finish(AuthOutcome::kError, cancel_reason_);
  switch (reply.code) {
    case 235:
      if (mechanism_.starts_with("SCRAM-") && !sasl_done_) {
        return Finish(AuthOutcome::kSuccess,
                      "235 without the server's final SCRAM message: the server was not verified");
      }
      return Finish(AuthOutcome::kSuccess, "");
    case 535:
      return Finish(AuthOutcome::kBadCredentials, "AUTH " + mechanism_ + " answered 535");
    case 534:
      return Finish(AuthOutcome::kTooWeak, "AUTH " + mechanism_ + " answered 534");
    case 538:
      return Finish(AuthOutcome::kEncryptionRequired, "AUTH " + mechanism_ + " answered 538");
    case 334:
      break;
    default:
      if (reply.IsTransient()) {
        return Finish(AuthOutcome::kTemporaryFailure, "AUTH " + mechanism_ + " answered " + code);
      }
      if (reply.IsPermanent()) {
        return Finish(AuthOutcome::kRejected, "AUTH " + mechanism_ + " answered " + code);
      }
      // 2yz other than 235, 3yz other than 334: not the RFC 4954 dialogue.
      return Finish(AuthOutcome::kError, "AUTH " + mechanism_ + " answered " + code +
                                             " (expected 235, 334 or an error)");
  }
  // 334: the text is one base64 challenge (RFC 4954 §4).
  if (reply.lines.size() != 1) return Cancel("a multi-line 334 challenge");
  if (rounds_ == kMaxAuthRounds) {
    return Cancel("the server kept challenging (more than " + std::to_string(kMaxAuthRounds) +
                  " 334 replies)");
  }
  ++rounds_;
  Action action;
  if (has_pending_initial_) {
    has_pending_initial_ = false;
    if (!reply.lines.front().empty())
      return Cancel("a 334 challenge with data before our initial response");
    action.line = Line{std::move(pending_initial_), std::string(kRedacted)};
    return action;
  }
  if (sasl_done_) return Cancel("a 334 challenge after the SASL exchange was complete");
  std::string response;
  const int rc = sasl_->Step(reply.lines.front(), &response);
  if (rc != GSASL_OK && rc != GSASL_NEEDS_MORE) {
    // A challenge that is not base64, or a SCRAM server whose proof is wrong.
    return Cancel(std::string("the server's challenge was refused by SASL: ") + gsasl_strerror(rc));
  }
  sasl_done_ = rc == GSASL_OK;
  action.line = Line{std::move(response), std::string(kRedacted)};
  return action;
}

}  // namespace smtp

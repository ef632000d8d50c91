// The AUTH step of a probe (RFC 4954); see probes/probe_session.h. The dialogue itself is
// probes/auth.h; this file only moves its lines and keeps the step's books.
#include <utility>

#include "probes/auth.h"
#include "probes/command.h"
#include "probes/probe_session.h"
#include "probes/text.h"

namespace smtp {
namespace {

// RFC 4954 §4: an AUTH command or response line may be up to 12288 octets.
constexpr std::size_t kMaxAuthLine = 12288;

// Passwords shorter than this are not scrubbed from the transcript's server lines: replacing
// every "a" of a one-letter password would make the transcript unreadable and protect nothing.
constexpr std::size_t kMinScrubbedSecret = 3;

FailureReason ReasonFor(AuthOutcome outcome) {
  switch (outcome) {
    case AuthOutcome::kPlaintextRefused:
      return FailureReason::kTls;
    case AuthOutcome::kError:
      return FailureReason::kProtocol;
    default:
      return FailureReason::kRejected;
  }
}

}  // namespace

bool ProbeSession::FailAuth(AuthOutcome outcome, FailureReason reason, std::string detail) {
  result_.auth->outcome = outcome;
  FailStep(reason, std::move(detail));
  return false;
}

asio::awaitable<bool> ProbeSession::Auth() {
  BeginStep(Step::kAuth);
  AuthResult& auth = *result_.auth;
  auth.attempted = true;
  auth.username = spec_.auth.username;
  if (spec_.auth.password.size() >= kMinScrubbedSecret) secrets_.push_back(spec_.auth.password);
  if (std::optional<IoFailure> failure = co_await EnsureSession()) {
    co_return FailAuth(AuthOutcome::kError,
                       deadline_passed() ? FailureReason::kTimeout : failure->reason,
                       "reconnect for AUTH: " + failure->detail);
  }
  auth.over_tls = connection_->is_tls();
  // Credentials over plaintext can be read by anyone on the path (RFC 4954 §4, RFC 8314 §3):
  // only when the module says so.
  if (!auth.over_tls && !spec_.auth.allow_plaintext) {
    co_return FailAuth(AuthOutcome::kPlaintextRefused, FailureReason::kTls,
                       "refusing to send credentials over plaintext (allow_plaintext is off)");
  }
  // The capabilities of this session: after STARTTLS the old ones are void (RFC 3207 §4.2).
  const Capabilities* capabilities = result_.tls_capabilities
                                         ? ValuePointer(result_.tls_capabilities)
                                         : ValuePointer(result_.capabilities);
  const std::vector<std::string> offered =
      capabilities ? capabilities->auth_mechanisms : std::vector<std::string>{};
  if (offered.empty()) {
    co_return FailAuth(AuthOutcome::kNotOffered, FailureReason::kRejected,
                       std::string("AUTH not offered") + (auth.over_tls ? " over TLS" : ""));
  }
  const std::vector<std::string>& preferred =
      spec_.auth.mechanisms.empty() ? SupportedAuthMechanisms() : spec_.auth.mechanisms;
  const std::optional<std::string> mechanism = ChooseAuthMechanism(preferred, offered);
  if (!mechanism) {
    co_return FailAuth(AuthOutcome::kNoCommonMechanism, FailureReason::kRejected,
                       "no common mechanism: the server offers " + Join(offered, " ") +
                           ", the module allows " + Join(preferred, " "));
  }
  auth.mechanism = *mechanism;
  std::string error;
  std::unique_ptr<AuthDialogue> dialogue =
      AuthDialogue::Start(*mechanism, spec_.auth.username, spec_.auth.password, &error);
  if (!dialogue) co_return FailAuth(AuthOutcome::kError, FailureReason::kProtocol, error);

  AuthDialogue::Action action = dialogue->Begin();
  bool first = true;
  while (action.line) {
    std::string wire = std::move(action.line->wire);
    if (first) {
      // The command goes through the one formatter (CR/LF, 512 octets); AuthDialogue keeps it
      // within the limit.
      const std::size_t space = wire.find(' ');
      std::optional<std::string> line =
          FormatCommand(wire.substr(0, space),
                        space == std::string::npos ? std::string_view() : wire.substr(space + 1));
      if (!line) {
        co_return FailAuth(AuthOutcome::kError, FailureReason::kProtocol,
                           "refusing to send a malformed AUTH command");
      }
      wire = std::move(*line);
    } else if (wire.size() > kMaxAuthLine ||
               wire.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
      co_return FailAuth(AuthOutcome::kError, FailureReason::kProtocol,
                         "refusing to send a malformed SASL response");
    } else {
      wire += "\r\n";
    }
    // What we send is as good as the password: scrub it from anything the server echoes.
    if (const std::string data = wire.substr(0, wire.size() - 2);
        data.size() >= kMinScrubbedSecret && data != "AUTH " + *mechanism) {
      secrets_.push_back(first ? data.substr(data.rfind(' ') + 1) : data);
    }
    first = false;
    auto outcome = co_await TalkLine(std::move(wire), std::move(action.line->shown), "AUTH");
    if (auto* failure = std::get_if<IoFailure>(&outcome)) {
      co_return FailAuth(AuthOutcome::kError, failure->reason, failure->detail);
    }
    RecordReply(std::get<Reply>(outcome));
    action = dialogue->OnReply(std::get<Reply>(outcome));
  }
  auth.outcome = action.outcome;
  auth.rounds = dialogue->rounds();
  auth.server_verified = action.server_verified;
  if (action.outcome != AuthOutcome::kSuccess) {
    co_return FailAuth(action.outcome, ReasonFor(action.outcome), action.detail);
  }
  Note('*', "authenticated as " + auth.username + " with " + auth.mechanism +
                (auth.server_verified ? " (server signature verified)" : "") +
                (action.detail.empty() ? "" : "; " + action.detail));
  FinishStep();
  co_return true;
}

}  // namespace smtp

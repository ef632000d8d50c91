// The user-enumeration step of a probe (nmap's smtp-enum-users: VRFY and EXPN, RFC 5321 §3.5),
// and EnsureSession(), which it shares with the AUTH step; see probes/probe_session.h.
#include <utility>

#include "probes/probe_session.h"
#include "probes/verdict.h"

namespace smtp {

asio::awaitable<std::optional<IoFailure>> ProbeSession::EnsureSession() {
  if (channel_sane_ && !server_closing_) co_return std::nullopt;
  // The relay test lost its session: a new one, with TLS as before.
  const bool starttls = result_.starttls_success.value_or(false) && !result_.plaintext_fallback;
  co_return co_await Reconnect(starttls);
}

asio::awaitable<void> ProbeSession::UserEnumeration() {
  BeginStep(Step::kUserEnumeration);
  UserEnumerationResult& enumeration = *result_.user_enumeration;
  enumeration.ran = true;
  const std::string& real = spec_.user_enumeration.name;
  const std::string random = RandomLocalPart("smtp-exporter-nobody-");
  for (const char* method : {"vrfy", "expn"}) {
    EnumerationCheck check;
    check.method = method;
    check.real_name = real;
    check.random_name = random;
    enumeration.checks.push_back(std::move(check));
  }
  if (std::optional<IoFailure> failure = co_await EnsureSession()) {
    // Not a health failure: the results stay inconclusive.
    FailStep(failure->reason, "reconnect for VRFY/EXPN: " + failure->detail, /*fatal=*/false);
    co_return;
  }
  for (EnumerationCheck& check : enumeration.checks) {
    const std::string verb = check.method == "vrfy" ? "VRFY" : "EXPN";
    for (auto [name, code] : {std::pair{&check.real_name, &check.real_code},
                              std::pair{&check.random_name, &check.random_code}}) {
      auto outcome = co_await Talk(verb, *name);
      if (auto* failure = std::get_if<IoFailure>(&outcome)) {
        for (EnumerationCheck& each : enumeration.checks) {
          each.result = ClassifyEnumeration(each.real_code, each.random_code);
        }
        FailStep(failure->reason, failure->detail, /*fatal=*/false);
        co_return;
      }
      RecordReply(std::get<Reply>(outcome));
      *code = std::get<Reply>(outcome).code;
      if (server_closing_) break;  // 421 (RFC 5321 §3.8)
    }
    check.result = ClassifyEnumeration(check.real_code, check.random_code);
    if (check.result == EnumerationResult::kExposed) {
      Note('*', verb + " confirms users: " + std::to_string(check.real_code) + " for " +
                    check.real_name + ", " + std::to_string(check.random_code) + " for " +
                    check.random_name);
    }
    if (server_closing_) break;
  }
  FinishStep();
}

}  // namespace smtp

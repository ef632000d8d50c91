// The one verdict; see verdict.h for the contract.
#include "probes/verdict.h"

#include <algorithm>

#include "probes/text.h"

namespace smtp {
namespace {

constexpr std::int64_t kSecondsPerDay = 86400;
constexpr std::int64_t kExpiryWarningDays = 14;

int Class(int code) { return code / 100; }

std::optional<bool> CatchAllAt(const std::vector<CatchAllCheck>& checks,
                               const std::string& domain) {
  for (const CatchAllCheck& check : checks) {
    if (check.domain == domain) return check.accepted;
  }
  return std::nullopt;
}

// The code that decided an attempt: RCPT's when it was answered, else MAIL's.
int DecidingCode(const RelayAttempt& attempt) {
  return attempt.rcpt_code != 0 ? attempt.rcpt_code : attempt.mail_code;
}

// 530 only proves "closed to this client" when TLS was used or cannot be.
bool AuthRequiredProvesClosed(const RelayResult& relay) {
  return relay.over_tls || !relay.starttls_offered;
}

void AddRelayFindings(const RelayResult& relay, const RelayJudgement& judgement,
                      const std::string& connected_address, std::vector<std::string>& findings) {
  if (!relay.ran) return;
  if (judgement.verdict == RelayVerdict::kInconclusive) {
    findings.push_back("relay test " + judgement.summary);
  }
  if (judgement.catch_all.value_or(false)) {
    findings.push_back(
        "accepts any local part at RCPT (catch-all): directory harvesting and backscatter risk");
  }
  for (const RelayAttempt& attempt : relay.attempts) {
    if (attempt.outcome == RelayOutcome::kInconclusive) {
      findings.push_back("relay variant " + attempt.variant + " inconclusive (" +
                         std::to_string(DecidingCode(attempt)) + ")");
    }
  }
  // MTAs relay for local clients by default (Postfix mynetworks, Debian's Exim relay_from_hosts,
  // Sendmail's "originated locally" rules), so a test over loopback speaks for itself only.
  if (IsLoopbackAddress(connected_address) && judgement.verdict != RelayVerdict::kClosed) {
    findings.push_back(
        "relay test ran over loopback, which MTAs usually trust (mynetworks, relay_from_hosts): "
        "test relaying from outside the server's trusted networks");
  }
  if (relay.reconnects > 0) {
    findings.push_back("server hung up during the relay test; reconnected " +
                       std::to_string(relay.reconnects) + " time(s)");
  }
}

}  // namespace

const char* ToString(RelayVerdict verdict) {
  switch (verdict) {
    case RelayVerdict::kNotTested:
      return "not_tested";
    case RelayVerdict::kOpen:
      return "open";
    case RelayVerdict::kClosed:
      return "closed";
    case RelayVerdict::kInconclusive:
      return "inconclusive";
  }
  return "not_tested";
}

RelayOutcome ClassifyAttempt(const RelayAttempt& attempt,
                             const std::vector<CatchAllCheck>& catch_all_checks) {
  const int mail = attempt.mail_code;
  const int rcpt = attempt.rcpt_code;
  if (mail == 0 || (Class(mail) == 2 && rcpt == 0)) return RelayOutcome::kNotRun;
  // RFC 4954 §6 / RFC 3207 §4: 530 = authentication (or TLS) required first.
  if (mail == 530 || rcpt == 530) return RelayOutcome::kAuthRequired;
  switch (Class(DecidingCode(attempt))) {
    case 2:
      if (!attempt.hack) return RelayOutcome::kAccepted;
      if (std::optional<bool> any = CatchAllAt(catch_all_checks, attempt.local_domain)) {
        return *any ? RelayOutcome::kCatchAll : RelayOutcome::kAccepted;
      }
      return RelayOutcome::kInconclusive;
    case 5:
      return RelayOutcome::kRefused;
    default:
      return RelayOutcome::kInconclusive;
  }
}

void ClassifyRelayResult(RelayResult& relay) {
  for (CatchAllCheck& check : relay.catch_all_checks) {
    check.accepted.reset();
    if (Class(check.mail_code) == 2 && check.rcpt_code != 0) {
      if (Class(check.rcpt_code) == 2) check.accepted = true;
      if (Class(check.rcpt_code) == 5 && check.rcpt_code != 530) check.accepted = false;
    }
  }
  for (RelayAttempt& attempt : relay.attempts) {
    attempt.outcome = ClassifyAttempt(attempt, relay.catch_all_checks);
  }
}

RelayJudgement JudgeRelay(const RelayResult& relay) {
  RelayJudgement judgement;
  if (!relay.ran) {
    judgement.summary = "not tested";
    return judgement;
  }
  for (const CatchAllCheck& check : relay.catch_all_checks) {
    if (!check.accepted) continue;
    judgement.catch_all = judgement.catch_all.value_or(false) || *check.accepted;
  }
  std::size_t not_run = 0;
  std::size_t unanswered = 0;
  std::size_t auth_required = 0;
  for (const RelayAttempt& attempt : relay.attempts) {
    switch (attempt.outcome) {
      case RelayOutcome::kAccepted:
        judgement.proof.push_back(attempt.variant + " (" + std::to_string(attempt.rcpt_code) + ")");
        break;
      case RelayOutcome::kNotRun:
        ++not_run;
        break;
      case RelayOutcome::kInconclusive:
        ++unanswered;
        break;
      case RelayOutcome::kAuthRequired:
        ++auth_required;
        break;
      case RelayOutcome::kRefused:
      case RelayOutcome::kCatchAll:
        break;
    }
  }
  const std::string of = " of " + std::to_string(relay.attempts.size()) + " variants";
  if (!judgement.proof.empty()) {
    judgement.verdict = RelayVerdict::kOpen;
    judgement.summary = "OPEN: " + Join(judgement.proof, ", ") + " accepted at RCPT";
    return judgement;
  }
  judgement.verdict = RelayVerdict::kInconclusive;
  if (relay.attempts.empty()) {
    judgement.summary = "inconclusive: no variant could be built";
  } else if (not_run > 0) {
    judgement.summary = "inconclusive: " + std::to_string(not_run) + of + " not run";
    if (relay.stop_reason != FailureReason::kNone) {
      judgement.summary += " (" + std::string(ToString(relay.stop_reason)) +
                           (relay.stop_detail.empty() ? "" : ": " + relay.stop_detail) + ")";
    }
  } else if (unanswered > 0) {
    judgement.summary = "inconclusive: " + std::to_string(unanswered) + of +
                        " got no definite answer (4yz, or a hack at an unanswered catch-all)";
  } else if (auth_required > 0 && !AuthRequiredProvesClosed(relay)) {
    judgement.summary =
        "inconclusive: 530 (authentication or TLS required) in plaintext; the server offers "
        "STARTTLS, so a TLS client may be treated differently";
  } else {
    judgement.verdict = RelayVerdict::kClosed;
    judgement.summary =
        auth_required > 0 ? "closed (authentication or TLS required: 530)" : "closed";
  }
  return judgement;
}

namespace {

// RFC 8314 §3: submission (587, STARTTLS) and submissions (465, implicit TLS) exist to take
// authenticated mail; RFC 4954 §4: PLAIN and LOGIN carry the password itself.
void AddAuthFindings(const ProbeResult& result, std::vector<std::string>& findings) {
  const bool had_tls = result.tls && result.tls->handshake_ok && !result.plaintext_fallback;
  if (!had_tls && result.capabilities) {
    std::vector<std::string> clear;
    for (const char* mechanism : {"PLAIN", "LOGIN"}) {
      const std::vector<std::string>& offered = result.capabilities->auth_mechanisms;
      if (std::find(offered.begin(), offered.end(), mechanism) != offered.end()) {
        clear.push_back(mechanism);
      }
    }
    if (!clear.empty()) {
      findings.push_back(Join(clear, "/") +
                         " offered without TLS: the password would cross the network readable");
    }
  }
  const bool submission_port = result.port == 587 || result.port == 465;
  const Capabilities* over_tls = result.implicit_tls ? ValuePointer(result.capabilities)
                                                     : ValuePointer(result.tls_capabilities);
  if (submission_port && had_tls && over_tls && over_tls->auth_mechanisms.empty()) {
    findings.push_back("no AUTH after TLS on submission port " + std::to_string(result.port));
  }
}

void AddEnumerationFindings(const ProbeResult& result, const RelayJudgement& relay,
                            std::vector<std::string>& findings) {
  if (!result.user_enumeration->ran) return;
  for (const EnumerationCheck& check : result.user_enumeration->checks) {
    if (check.result != EnumerationResult::kExposed) continue;
    findings.push_back("users can be enumerated with " + ToUpperAscii(check.method) + ": " +
                       std::to_string(check.real_code) + " for " + check.real_name + ", " +
                       std::to_string(check.random_code) + " for a random name");
  }
  if (RcptEnumeration(relay) == EnumerationResult::kExposed) {
    findings.push_back(
        "users can be enumerated with RCPT: a random local part is refused (as RFC 5321 "
        "expects of an MX; rate limits keep it slow)");
  }
}

}  // namespace

EnumerationResult ClassifyEnumeration(int real_code, int random_code) {
  const int real = real_code / 100, random = random_code / 100;
  if (real == 4 || random == 4 || real_code == 0 || random_code == 0) {
    return EnumerationResult::kInconclusive;
  }
  // RFC 5321 §3.5.3, §4.2.2: 550/551/553 say the name is no mailbox; 500-504 only that the
  // command or its argument was not understood (Exim answers 501 to an unqualified name other
  // than postmaster), which says nothing about the user.
  const bool random_unknown = random_code == 550 || random_code == 551 || random_code == 553;
  if (real == 2 && random_unknown) return EnumerationResult::kExposed;
  if (real == 5 || (real == 2 && random == 2)) {
    return EnumerationResult::kNotExposed;
  }
  return EnumerationResult::kInconclusive;
}

std::optional<EnumerationResult> RcptEnumeration(const RelayJudgement& relay) {
  if (!relay.catch_all) return std::nullopt;
  return *relay.catch_all ? EnumerationResult::kNotExposed : EnumerationResult::kExposed;
}

std::optional<MtaStsDelivery> JudgeMtaStsDelivery(const ProbeResult& result) {
  if (!result.mta_sts || !result.mta_sts->policy) return std::nullopt;
  const MtaStsPolicy& policy = *result.mta_sts->policy;
  if (policy.mode == MtaStsMode::kNone) return std::nullopt;
  MtaStsDelivery delivery;
  delivery.mode = policy.mode;
  if (!result.mta_sts->mx_matches.value_or(false)) {
    delivery.reason = result.host + " matches no mx pattern of the policy (" +
                      Join(policy.mx_patterns, ", ") + ")";
  } else if (!result.tls || !result.tls->handshake_ok) {
    if (!result.starttls_offered.value_or(true) && !result.implicit_tls) {
      delivery.reason = result.host + " does not offer STARTTLS";
    } else {
      delivery.reason = "no TLS session with " + result.host;
      if (!result.starttls_error->empty()) {
        delivery.reason += ": " + *result.starttls_error;
      } else if (result.failed_step) {
        delivery.reason += std::string(" (") + ToString(*result.failed_step) +
                           " failed: " + ToString(result.failure_reason) + ")";
      }
    }
  } else if (!result.tls->verified()) {
    delivery.reason = "certificate not verified: " + result.tls->verify_error;
  } else if (!EqualsIgnoreCase(result.tls->verified_name, result.host)) {
    delivery.reason = "certificate verified for " + result.tls->verified_name +
                      " (tls.server_name), not for the MX host " + result.host;
  } else {
    delivery.ok = true;
  }
  return delivery;
}

namespace {

void AddMtaStsFindings(const ProbeResult& result, std::vector<std::string>& findings) {
  const MtaStsResult& sts = *result.mta_sts;
  const PolicyRecordStatus record = sts.record.status;
  if (record != PolicyRecordStatus::kValid && record != PolicyRecordStatus::kMissing) {
    findings.push_back(std::string("MTA-STS record ") + ToString(record) +
                       (sts.record.detail.empty() ? "" : ": " + sts.record.detail));
  }
  if (sts.fetch && *sts.fetch != PolicyFetchStatus::kOk) {
    findings.push_back(std::string("MTA-STS record published but policy unavailable (") +
                       ToString(*sts.fetch) + "): " + sts.fetch_detail);
  }
  if (std::optional<MtaStsDelivery> delivery = JudgeMtaStsDelivery(result);
      delivery && !delivery->ok) {
    findings.push_back(
        delivery->mode == MtaStsMode::kEnforce
            ? "MTA-STS enforce: senders will not deliver to " + result.host + ": " +
                  delivery->reason
            : "MTA-STS testing: " + result.host +
                  " would fail the policy (senders report it, still deliver): " + delivery->reason);
  }
}

// The domain checks (ProbeSpec::checks) as findings: they never change health.
void AddDomainCheckFindings(const ProbeResult& result, std::vector<std::string>& findings) {
  if (result.mta_sts) AddMtaStsFindings(result, findings);
  if (result.tls_rpt && result.tls_rpt->status != PolicyRecordStatus::kValid) {
    findings.push_back(std::string("TLS-RPT record ") + ToString(result.tls_rpt->status) +
                       (result.tls_rpt->detail.empty() ? "" : ": " + result.tls_rpt->detail));
  }
  if (const Boxed<DaneResult>& dane = result.dane) {
    switch (dane->status) {
      case DaneStatus::kMismatch:
      case DaneStatus::kNoTls:
        findings.push_back("DANE: TLSA records of " + dane->name +
                           " are validated and none matches (senders that validate DANE will "
                           "not deliver): " +
                           dane->detail);
        break;
      case DaneStatus::kInsecure:
      case DaneStatus::kUnusable:
      case DaneStatus::kDnsError:
      case DaneStatus::kTimeout:
        findings.push_back(std::string("DANE: ") + dane->name + " " + ToString(dane->status) +
                           (dane->detail.empty() ? "" : ": " + dane->detail));
        break;
      case DaneStatus::kNoRecords:
      case DaneStatus::kMatch:
        break;
    }
  }
  for (const DnsblResult& entry : result.dnsbl) {
    if (entry.status == DnsblStatus::kListed) {
      findings.push_back(entry.address + " is listed in " + entry.zone + " (" +
                         Join(entry.codes, ", ") +
                         (entry.reason.empty() ? "" : ": " + entry.reason) + ")");
    } else if (entry.status != DnsblStatus::kNotListed) {
      findings.push_back("DNSBL " + entry.zone + " gave no answer for " + entry.address + " (" +
                         ToString(entry.status) +
                         (entry.detail.empty() ? "" : ": " + entry.detail) + ")");
    }
  }
}

}  // namespace

Verdict Judge(const ProbeResult& result, std::int64_t now_unix_seconds, const RelayResult* relay) {
  const RelayResult& judged_relay = relay != nullptr ? *relay : *result.relay;
  Verdict verdict;
  verdict.up = result.success;
  verdict.relay = JudgeRelay(judged_relay);
  verdict.healthy = verdict.up && verdict.relay.verdict != RelayVerdict::kOpen;
  if (!result.success) {
    const StepResult* failed = result.failed_step ? result.FindStep(*result.failed_step) : nullptr;
    verdict.summary = std::string("DOWN: ") +
                      (result.failed_step ? ToString(*result.failed_step) : "probe") + " failed (" +
                      ToString(result.failure_reason) + ")";
    // Name a reply only when a reply caused the failure: after a timeout or a hang-up the step's
    // last reply answered an earlier command, not the one that was waiting.
    const bool reply_caused_it = result.failure_reason == FailureReason::kRejected ||
                                 result.failure_reason == FailureReason::kProtocol;
    if (failed != nullptr && failed->reply_code != 0 && reply_caused_it) {
      verdict.summary += ", reply " + std::to_string(failed->reply_code);
    }
    if (!result.failure_detail.empty()) verdict.summary += ": " + result.failure_detail;
  } else if (verdict.relay.verdict == RelayVerdict::kOpen) {
    verdict.summary =
        "UNHEALTHY: open relay (" + Join(verdict.relay.proof, ", ") + " accepted at RCPT)";
  } else {
    verdict.summary = "UP";
  }

  auto& findings = verdict.findings;
  for (const std::string& anomaly : result.reply_anomalies) {
    findings.push_back("malformed reply tolerated: " + anomaly);
  }
  if (result.esmtp && !*result.esmtp) findings.push_back("EHLO refused: plain SMTP (HELO) only");
  if (result.esmtp.value_or(false) && !result.starttls_offered.value_or(true) &&
      !result.implicit_tls) {
    findings.push_back("STARTTLS not offered");
  }
  if (result.starttls_success && !*result.starttls_success) {
    std::string finding = "STARTTLS failed";
    if (!result.starttls_error->empty()) finding += ": " + *result.starttls_error;
    if (result.plaintext_fallback) finding += " (went on in plaintext, as a sending MTA would)";
    findings.push_back(finding);
  }
  if (result.plaintext_after_starttls) {
    findings.push_back("server sent plaintext after its STARTTLS 220 (discarded; RFC 3207 §4.2)");
  }
  if (result.capabilities && !result.capabilities->auth_mechanisms.empty() &&
      !result.implicit_tls) {
    findings.push_back("AUTH offered before TLS: " +
                       Join(result.capabilities->auth_mechanisms, " "));
  }
  AddAuthFindings(result, findings);
  if (result.tls && result.tls->handshake_ok) {
    if (!result.tls->verified()) {
      findings.push_back("certificate not verified: " + result.tls->verify_error);
    }
    const std::int64_t not_after = result.tls->earliest_not_after;
    if (not_after != 0 && not_after <= now_unix_seconds) {
      findings.push_back("certificate expired on " + UtcTime(not_after));
    } else if (not_after != 0 &&
               not_after - now_unix_seconds < kExpiryWarningDays * kSecondsPerDay) {
      findings.push_back("certificate expires in " +
                         std::to_string((not_after - now_unix_seconds) / kSecondsPerDay) + " days");
    }
  }
  AddRelayFindings(judged_relay, verdict.relay, result.dns.connected_address, findings);
  AddEnumerationFindings(result, verdict.relay, findings);
  if (result.dns.fcrdns_match && !*result.dns.fcrdns_match) {
    findings.push_back("reverse DNS is not forward-confirmed");
  }
  if (result.dns.banner_matches_ptr && !*result.dns.banner_matches_ptr) {
    findings.push_back("banner hostname does not match reverse DNS");
  }
  AddDomainCheckFindings(result, findings);
  return verdict;
}

}  // namespace smtp

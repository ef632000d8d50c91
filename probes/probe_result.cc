// Names of the ProbeResult enums, as used in metric labels and transcripts.
#include "probes/probe_result.h"

#include <algorithm>
#include <limits>

namespace smtp {

const char* ToString(Step step) {
  switch (step) {
    case Step::kResolve:
      return "resolve";
    case Step::kConnect:
      return "connect";
    case Step::kTls:
      return "tls";
    case Step::kGreeting:
      return "greeting";
    case Step::kEhlo:
      return "ehlo";
    case Step::kHelo:
      return "helo";
    case Step::kStartTls:
      return "starttls";
    case Step::kTlsEhlo:
      return "tls_ehlo";
    case Step::kRelay:
      return "relay";
    case Step::kUserEnumeration:
      return "user_enumeration";
    case Step::kAuth:
      return "auth";
    case Step::kQuit:
      return "quit";
    case Step::kReverseDns:
      return "reverse_dns";
  }
  return "unknown";
}

const char* ToString(EnumerationResult result) {
  switch (result) {
    case EnumerationResult::kExposed:
      return "exposed";
    case EnumerationResult::kNotExposed:
      return "not_exposed";
    case EnumerationResult::kInconclusive:
      return "inconclusive";
  }
  return "inconclusive";
}

const char* ToString(FailureReason reason) {
  switch (reason) {
    case FailureReason::kNone:
      return "";
    case FailureReason::kDns:
      return "dns";
    case FailureReason::kRefused:
      return "refused";
    case FailureReason::kTimeout:
      return "timeout";
    case FailureReason::kUnreachable:
      return "unreachable";
    case FailureReason::kReset:
      return "reset";
    case FailureReason::kTls:
      return "tls";
    case FailureReason::kProtocol:
      return "protocol";
    case FailureReason::kRejected:
      return "rejected";
    case FailureReason::kForbidden:
      return "forbidden";
  }
  return "unknown";
}

const char* ToString(RelayOutcome outcome) {
  switch (outcome) {
    case RelayOutcome::kAccepted:
      return "accepted";
    case RelayOutcome::kRefused:
      return "refused";
    case RelayOutcome::kInconclusive:
      return "inconclusive";
    case RelayOutcome::kAuthRequired:
      return "auth_required";
    case RelayOutcome::kCatchAll:
      return "catch_all";
    case RelayOutcome::kNotRun:
      return "not_run";
  }
  return "unknown";
}

bool RelayResult::complete() const {
  for (const RelayAttempt& attempt : attempts) {
    if (attempt.outcome == RelayOutcome::kNotRun) return false;
  }
  return true;
}

const StepResult* ProbeResult::FindStep(Step step) const {
  for (const StepResult& s : steps) {
    if (s.step == step) return &s;
  }
  return nullptr;
}

std::string ProbeResultLabel(const ProbeResult& result) {
  if (result.success) return "success";
  std::string reason = ToString(result.failure_reason);
  return reason.empty() ? "unknown" : reason;
}

void Transcript::push_back(const TranscriptLine& line) {
  const auto at_us = std::chrono::duration_cast<std::chrono::microseconds>(line.at).count();
  text_.push_back(line.direction);
  text_.append(line.text);
  marks_.push_back({static_cast<std::uint32_t>(std::clamp<std::int64_t>(
                        at_us, 0, std::numeric_limits<std::uint32_t>::max())),
                    static_cast<std::uint32_t>(text_.size())});
}

TranscriptLine Transcript::operator[](std::size_t index) const {
  const std::uint32_t begin = index == 0 ? 0 : marks_[index - 1].end;
  const Mark& mark = marks_[index];
  return {std::chrono::microseconds(mark.at_us), text_[begin],
          std::string_view(text_).substr(begin + 1, mark.end - begin - 1)};
}

void Transcript::shrink_to_fit() {
  text_.shrink_to_fit();
  marks_.shrink_to_fit();
}

namespace {
void ReleaseSpareCapacity(Capabilities& capabilities) {
  capabilities.extensions.shrink_to_fit();
  capabilities.auth_mechanisms.shrink_to_fit();
}
}  // namespace

void ReleaseSpareCapacity(ProbeResult& result) {
  result.steps.shrink_to_fit();
  result.dns.addresses.shrink_to_fit();
  result.dns.ptr_names.shrink_to_fit();
  result.greeting_lines.shrink_to_fit();
  if (result.capabilities) ReleaseSpareCapacity(*result.capabilities);
  if (result.tls_capabilities) ReleaseSpareCapacity(*result.tls_capabilities);
  if (result.relay.written()) result.relay->attempts.shrink_to_fit();
  result.reply_anomalies.shrink_to_fit();
  result.transcript.shrink_to_fit();
}

ProbeResult InternalErrorResult(std::exception_ptr error) {
  ProbeResult result;
  result.failure_reason = FailureReason::kProtocol;
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& exception) {
    result.failure_detail = std::string("internal error: ") + exception.what();
  } catch (...) {
    result.failure_detail = "internal error";
  }
  return result;
}

}  // namespace smtp

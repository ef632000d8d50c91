// Probe results built by hand for the metrics tests: representative servers, and the small
// pieces they are made of. The derived fields (Capabilities flags, TLS verification) are set as
// the parser and the engine would set them.
#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "daemon/histogram.h"
#include "daemon/target_state.h"
#include "probes/probe_result.h"

namespace smtp::metrics_test {

std::chrono::system_clock::time_point UnixTime(std::int64_t s);
StepResult Ok(Step step, int ms, int reply_code = 0);
StepResult Failed(Step step, int ms, int reply_code, FailureReason reason);
Extension Ext(std::string_view keyword, const std::vector<std::string_view>& parameters = {});
// A Postfix-like EHLO reply, before TLS (with STARTTLS) or over TLS (with AUTH).
Capabilities PostfixCapabilities(bool over_tls, const std::string& domain = "mx1.example.org");
CertificateInfo Cert(std::string subject, std::string issuer, std::string serial,
                     std::int64_t not_after);
RelayAttempt Attempt(std::string variant, int mail_code, int rcpt_code, RelayOutcome outcome);
// A relay test refused on every basic variant.
RelayResult RefusedRelay();
// A greeting histogram (GreetingBounds()) with these observations.
Histogram HistogramOf(std::initializer_list<double> observations);

// The healthy port-25 MTA: Postfix with opportunistic STARTTLS, a Let's Encrypt certificate,
// relay test refused on every variant, forward-confirmed reverse DNS.
ProbeResult HealthyPostfix();
// A server that refuses EHLO and answers HELO; no STARTTLS, no relay test.
ProbeResult HeloOnlyWithoutTls();

// A target probed once with `last`, with an empty greeting histogram.
TargetSnapshot Snapshot(std::string target, std::shared_ptr<const ProbeResult> last);
std::shared_ptr<const ProbeResult> Share(ProbeResult r);

}  // namespace smtp::metrics_test

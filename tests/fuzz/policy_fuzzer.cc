// libFuzzer target for the published-policy parsers (probes/mail_policy.h, probes/dnsbl.h): the
// MTA-STS policy body an HTTPS server sends, and the TXT records a DNS server sends, which reach
// the TLS-RPT and MTA-STS record rules. Checks the documented results, not only the absence of
// crashes: a parsed policy keeps its limits, and a record judged valid carries what made it so.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "probes/dnsbl.h"
#include "probes/mail_policy.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using smtp_fuzz::Check;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  std::string error;
  if (auto policy = smtp::ParseMtaStsPolicy(input, &error)) {
    Check(policy->max_age <= smtp::kMaxMtaStsMaxAge);
    Check(policy->mode == smtp::MtaStsMode::kNone || !policy->mx_patterns.empty());
    for (const std::string& pattern : policy->mx_patterns) {
      Check(!pattern.empty() && pattern.back() != '.');
      // A pattern matches itself (a wildcard pattern matches one label in its place).
      Check(smtp::MxMatchesPattern(pattern.starts_with("*.") ? "a" + pattern.substr(1) : pattern,
                                   pattern));
    }
  } else {
    Check(!error.empty());
  }

  // The same bytes as TXT records, split at NUL bytes (one record per piece).
  std::vector<std::string> records;
  std::size_t start = 0;
  while (start <= input.size()) {
    const std::size_t end = std::min(input.find('\0', start), input.size());
    records.emplace_back(input.substr(start, end - start));
    start = end + 1;
  }
  const smtp::TlsRptResult rpt = smtp::JudgeTlsRptRecords(records);
  Check((rpt.status == smtp::PolicyRecordStatus::kValid) == !rpt.rua.empty());
  Check(rpt.status == smtp::PolicyRecordStatus::kValid || !rpt.detail.empty());
  const smtp::MtaStsRecord sts = smtp::JudgeMtaStsRecords(records);
  Check((sts.status == smtp::PolicyRecordStatus::kValid) ==
        (!sts.id.empty() && sts.id.size() <= 32));

  // DNSBL answers and names never throw; a query name exists only for IP literals.
  if (auto name = smtp::DnsblQueryName(records.front(), "bl.example")) {
    Check(name->ends_with(".bl.example"));
  }
  smtp::ClassifyDnsblAnswer(records);
  return 0;
}

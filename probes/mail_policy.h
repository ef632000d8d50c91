// A domain's published mail transport policies, as plain data with pure, fuzzable parsers:
//   TLS-RPT (RFC 8460 §3)       the _smtp._tls.DOMAIN TXT record
//   MTA-STS (RFC 8461 §3, §4)   the _mta-sts.DOMAIN TXT record, the policy file served at
//                               https://mta-sts.DOMAIN/.well-known/mta-sts.txt, and MX patterns
// The lookups and the HTTPS fetch are the probe engine's (probes/probe_domain.cc,
// probes/policy_fetch.h); everything they read is judged here. Nothing here does I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace smtp {

// ---- Tagged TXT records (RFC 8460 §3 and RFC 8461 §3.1 share the shape) -------------------------
//
//   record     = version 1*(field-delim field) [field-delim]
//   field-delim = *WSP ";" *WSP
//   field      = name "=" value;  name = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")
//              value = 1*(%x21-3A / %x3C / %x3E-7E)   (no "=", ";", space or control)
struct TaggedField {
  std::string name;
  std::string value;
};
// Whether `record` is one of `version`'s records: it begins with the version tag, followed by a
// delimiter or its end. Records of other kinds that share the name are discarded, not errors.
bool HasVersionTag(std::string_view record, std::string_view version);
// The fields after the version tag; nullopt and *error set (one line, naming the offending
// text) when the record breaks the grammar above.
std::optional<std::vector<TaggedField>> ParseTaggedRecord(std::string_view record,
                                                          std::string_view version,
                                                          std::string* error);

// The outcome of looking up one of these TXT records: a closed set users alert on.
enum class PolicyRecordStatus {
  kValid,    // exactly one record of the kind, well formed
  kMissing,  // no record of the kind (NXDOMAIN, no TXT, or only TXT of other kinds)
  kInvalid,  // one record of the kind that breaks its grammar
  kMultiple,  // more than one: RFC 8460 §3 and RFC 8461 §3.1 say to treat the domain as having none
  kDnsError,  // SERVFAIL, REFUSED, a bad answer: nothing can be said
  kTimeout,   // the probe's deadline (or the resolver's tries) ran out
};
// "valid", "missing", "invalid", "multiple", "dns_error", "timeout"
const char* ToString(PolicyRecordStatus status);
inline constexpr PolicyRecordStatus kPolicyRecordStatuses[] = {
    PolicyRecordStatus::kValid,    PolicyRecordStatus::kMissing,  PolicyRecordStatus::kInvalid,
    PolicyRecordStatus::kMultiple, PolicyRecordStatus::kDnsError, PolicyRecordStatus::kTimeout,
};

// ---- TLS-RPT -----------------------------------------------------------------------------------

struct TlsRptResult {
  PolicyRecordStatus status = PolicyRecordStatus::kMissing;
  std::string record;            // the TLSRPTv1 record judged ("" when none or several)
  std::vector<std::string> rua;  // its report URIs when valid
  std::string detail;            // why it is not valid, one line; "" when valid
};

std::string TlsRptName(std::string_view domain);  // "_smtp._tls.<domain>"

// Judges the TXT records of _smtp._tls.DOMAIN: records that do not begin with "v=TLSRPTv1" are
// discarded; exactly one must remain, and it must carry exactly one `rua` field: a list of
// mailto: or https: URIs (RFC 8460 §3). Extension fields are allowed. DNS failures are the
// caller's (kDnsError, kTimeout; NXDOMAIN and no TXT are kMissing).
TlsRptResult JudgeTlsRptRecords(const std::vector<std::string>& records);

// ---- MTA-STS -----------------------------------------------------------------------------------

enum class MtaStsMode { kNone, kTesting, kEnforce };
const char* ToString(MtaStsMode mode);  // "none", "testing", "enforce"
inline constexpr MtaStsMode kMtaStsModes[] = {MtaStsMode::kEnforce, MtaStsMode::kTesting,
                                              MtaStsMode::kNone};

// RFC 8461 §3.2: max_age is at most 31557600 seconds (about a year).
inline constexpr std::uint32_t kMaxMtaStsMaxAge = 31557600;
// RFC 8461 §3.3 leaves the size limit to the sender; 64 KiB is far above any real policy (a few
// hundred bytes) and bounds what a hostile policy server can make a probe hold.
inline constexpr std::size_t kMaxMtaStsPolicyBytes = 64 * 1024;

struct MtaStsPolicy {
  MtaStsMode mode = MtaStsMode::kNone;
  std::uint32_t max_age = 0;             // seconds
  std::vector<std::string> mx_patterns;  // as written, lowercased, without a trailing dot
};

std::string MtaStsRecordName(std::string_view domain);  // "_mta-sts.<domain>"
// "https://mta-sts.<domain>[:port]/.well-known/mta-sts.txt" (RFC 8461 §3.3); port 443 is left out.
std::string MtaStsPolicyHost(std::string_view domain);  // "mta-sts.<domain>"
std::string MtaStsPolicyUrl(std::string_view domain, std::uint16_t port);
inline constexpr std::string_view kMtaStsPolicyPath = "/.well-known/mta-sts.txt";

struct MtaStsRecord {
  PolicyRecordStatus status = PolicyRecordStatus::kMissing;
  std::string id;      // the policy id (1*32 ALPHA / DIGIT) when valid
  std::string detail;  // why it is not valid
};
// Judges the TXT records of _mta-sts.DOMAIN (RFC 8461 §3.1): records not beginning with
// "v=STSv1" are discarded; exactly one must remain, with exactly one `id` of 1 to 32 letters and
// digits.
MtaStsRecord JudgeMtaStsRecords(const std::vector<std::string>& records);

// Parses a policy body (RFC 8461 §3.2): "key: value" lines ended by CRLF or LF; `version:
// STSv1`, `mode` (enforce, testing, none) and `max_age` (1 to 10 digits, at most kMaxMtaStsMaxAge)
// are required, `mx` (["*."] domain) may repeat and is required unless mode is none; unknown keys
// are ignored; of a repeated key other than mx the first counts. nullopt and *error set when the
// body breaks those rules or is larger than kMaxMtaStsPolicyBytes.
std::optional<MtaStsPolicy> ParseMtaStsPolicy(std::string_view body, std::string* error);

// Fetching the policy (RFC 8461 §3.3): a closed set users alert on.
enum class PolicyFetchStatus {
  kOk,             // 200, text/plain, within the size limit, and the body parsed
  kDns,            // mta-sts.DOMAIN did not resolve
  kConnect,        // no connection to any of its addresses (refused, unreachable)
  kTls,            // handshake failed: certificate not valid for mta-sts.DOMAIN, or no TLS 1.2+
  kTimeout,        // the probe's deadline passed during the fetch
  kRedirect,       // a 3xx: RFC 8461 §3.3 forbids following redirects
  kHttpStatus,     // any other status than 200
  kTooLarge,       // body above kMaxMtaStsPolicyBytes
  kContentType,    // not text/plain (RFC 8461 §3.2)
  kProtocol,       // not HTTP, or the connection broke mid-response
  kInvalidPolicy,  // fetched, but ParseMtaStsPolicy refused it
  kForbidden,      // every address of mta-sts.DOMAIN is one the caller does not allow on the
                   // policy port (ProbeSpec::address_allowed, /probe's allowlist): not connected
};
// "ok", "dns", "connect", "tls", "timeout", "redirect", "http_status", "too_large",
// "content_type", "protocol", "invalid_policy", "forbidden"
const char* ToString(PolicyFetchStatus status);

// What a probe learned about the MTA-STS of its MX's domain.
struct MtaStsResult {
  MtaStsRecord record;  // the _mta-sts TXT record
  std::string url;      // the policy URL asked (only when the record was valid: RFC 8461 §3.3)
  std::optional<PolicyFetchStatus> fetch;  // nullopt when not fetched (no valid record)
  int http_status = 0;                     // 0 = no response
  std::string fetch_detail;                // why the fetch failed, one line
  std::optional<MtaStsPolicy> policy;      // fetched and parsed
  std::optional<bool> mx_matches;          // the probed MX host against policy->mx_patterns
};

// RFC 8461 §4.1: `host` matches a pattern when equal to it, or, for "*.suffix", when it is one
// label followed by ".suffix" (the wildcard covers exactly one label). Case-insensitive; a
// trailing dot on either side is ignored.
bool MxMatchesPattern(std::string_view host, std::string_view pattern);
bool MxMatchesPolicy(std::string_view host, const MtaStsPolicy& policy);

}  // namespace smtp

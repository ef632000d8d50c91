// DANE for SMTP (RFC 7672, on RFC 6698 and RFC 7671): the TLSA records of an MX host and whether
// the certificate chain it presented matches them. Plain data and rules; the lookup is the probe
// engine's (probes/probe_domain.cc, DnsResolver::LookupTlsa), the chain comes from its STARTTLS.
//
// Trust: TLSA records count only when DNSSEC-validated. The exporter does not validate itself:
// it asks the resolver named in the module's dns_server (else the system resolver) with the AD
// bit set and trusts the AD bit of the answer (RFC 6840 §5.7), as Postfix does with
// smtp_dns_support_level = dnssec. That resolver must validate and be reached over a trusted
// path (localhost). Records without AD are reported (kInsecure) and never matched.
//
// Matching (RFC 7672 §3.1): usage 3 (DANE-EE) against the leaf only, without name or expiry
// checks; usage 2 (DANE-TA) against any certificate of the chain, which must then anchor a chain
// that verifies for the MX host name. Usages 0 and 1 (PKIX-TA, PKIX-EE) are unusable for SMTP
// (§3.1.3). Selectors 0 (the whole certificate) and 1 (its SubjectPublicKeyInfo), matching types
// 0 (exact), 1 (SHA-256) and 2 (SHA-512).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace smtp {

struct TlsaRecord {
  std::uint8_t usage = 0;
  std::uint8_t selector = 0;
  std::uint8_t matching_type = 0;
  std::string data;  // binary association data
  bool operator==(const TlsaRecord&) const = default;
};
// "3 1 1 8d02536c…" (presentation form, hex data, at most 64 hex digits shown).
std::string ToString(const TlsaRecord& record);
// RFC 7672 §3.1: usage 2 or 3, selector 0 or 1, matching type 0, 1 or 2.
bool IsUsableForSmtp(const TlsaRecord& record);

// The TLSA records of one name as a DNS answer carried them.
struct TlsaAnswer {
  bool authenticated = false;  // the AD bit of the answer (RFC 4035 §3.2.3, RFC 6840 §5.7)
  std::vector<TlsaRecord> records;
};

enum class DaneStatus {
  kNoRecords,  // no TLSA records (NXDOMAIN, NODATA): the MX does not use DANE
  kInsecure,   // records, but the answer was not DNSSEC-validated (no AD bit): not trusted
  kUnusable,   // validated records, none usable for SMTP: senders use TLS without DANE (§2.2)
  kNoTls,      // validated usable records, but no TLS session to match them against
  kMatch,      // a usable record matches the presented chain
  kMismatch,   // none does: DANE-validating senders will not deliver (RFC 7672 §2.2)
  kDnsError,   // SERVFAIL (what a validating resolver answers for bogus signatures), REFUSED...
  kTimeout,    // the probe's deadline passed during the lookup
};
// "no_records", "insecure", "unusable", "no_tls", "match", "mismatch", "dns_error", "timeout"
const char* ToString(DaneStatus status);
inline constexpr DaneStatus kDaneStatuses[] = {
    DaneStatus::kNoRecords, DaneStatus::kInsecure, DaneStatus::kUnusable, DaneStatus::kNoTls,
    DaneStatus::kMatch,     DaneStatus::kMismatch, DaneStatus::kDnsError, DaneStatus::kTimeout,
};

struct DaneResult {
  std::string name;  // "_25._tcp.mx.example.org"
  DaneStatus status = DaneStatus::kNoRecords;
  bool authenticated = false;       // the answer carried the AD bit
  std::vector<TlsaRecord> records;  // as answered (bounded)
  std::string matched;              // ToString of the record that matched, "" when none
  std::string detail;               // one line
};

// "_<port>._tcp.<host>" (RFC 6698 §3, RFC 7672 §2.2.3), without a trailing dot.
std::string TlsaName(std::string_view host, std::uint16_t port);

// The result for validated, usable-or-not `records` against `chain_der` (DER certificates as
// presented, leaf first; empty when there was no TLS session). `host` is the MX host name that
// DANE-TA chains must verify for. Sets status (kUnusable, kNoTls, kMatch or kMismatch), matched
// and detail; name, authenticated and records are the caller's.
void MatchTlsa(const std::vector<TlsaRecord>& records, const std::vector<std::string>& chain_der,
               std::string_view host, DaneResult& result);

}  // namespace smtp

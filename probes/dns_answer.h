// DNS answers as plain data: what the resolver (probes/dns_resolver.h) returns and what the target
// expansion (probes/expansion.h) turns into series. Pure: no c-ares, no Asio, so that the rules
// applied to answers (RFC 5321 §5.1 order and implicit MX, RFC 7505 null MX) are testable
// without a DNS server.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace smtp {

enum class DnsStatus {
  kOk,
  kNxDomain,   // the name does not exist
  kNoData,     // the name exists but has no record of the asked type
  kTimeout,    // the server did not answer within the resolver's own tries
  kServFail,   // SERVFAIL / REFUSED / bad answer
  kCancelled,  // DnsResolver::Cancel() was called (the caller's deadline passed)
  kNullMx,     // RFC 7505: the domain's only MX is ".": it accepts no mail
  kError,      // anything else (bad name, out of memory, ...)
};
const char* ToString(DnsStatus status);  // "ok", "nxdomain", "nodata", ..., "null_mx", "error"

template <typename T>
struct DnsAnswer {
  DnsStatus status = DnsStatus::kError;
  std::string error;  // human-readable, e.g. "NXDOMAIN for example.invalid"; "" when ok
  T value{};
  bool ok() const { return status == DnsStatus::kOk; }
};

struct MxRecord {
  int preference = 0;
  std::string host;  // without the trailing dot
  bool operator==(const MxRecord&) const = default;
};

// RFC 5321 §5.1 order: lower preference first. Equal preferences would be tried in random order;
// a monitor wants stable series, so ties are ordered by host name, case-insensitively (RFC 4343).
void SortMailHosts(std::vector<MxRecord>& records);

// The hosts that receive mail for `domain`, given the answer to its MX query (RFC 5321 §5.1):
// the MX records as they are (already sorted) when there are some; when the domain exists but
// has no MX records (kNoData), the domain itself with preference 0, the implicit MX; any other
// failure, a null MX (kNullMx, RFC 7505) included, is returned unchanged.
DnsAnswer<std::vector<MxRecord>> MailHostsOf(std::string_view domain,
                                             DnsAnswer<std::vector<MxRecord>> mx_answer);

}  // namespace smtp

// Asynchronous DNS on the Asio loop, with c-ares: A/AAAA, MX and PTR lookups that never block the
// thread that runs probes. One DnsResolver per probe (or per CLI run); not thread-safe: use it from
// the executor it was created with.
//
// Every lookup completes exactly once. Cancel() makes pending lookups complete promptly with
// DnsStatus::kCancelled; the prober calls it when the probe's deadline passes.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "probes/probe_spec.h"

namespace smtp {

enum class DnsStatus {
  kOk,
  kNxDomain,   // the name does not exist
  kNoData,     // the name exists but has no record of the asked type
  kTimeout,    // the server did not answer within the resolver's own tries
  kServFail,   // SERVFAIL / REFUSED / bad answer
  kCancelled,  // Cancel() was called
  kNullMx,     // RFC 7505: the domain's only MX is ".": it accepts no mail
  kError,      // anything else (bad name, out of memory, ...)
};
const char* ToString(DnsStatus status);

template <typename T>
struct DnsAnswer {
  DnsStatus status = DnsStatus::kError;
  std::string error;  // human-readable, e.g. "NXDOMAIN for example.invalid"
  T value{};
  bool ok() const { return status == DnsStatus::kOk; }
};

struct MxRecord {
  int preference = 0;
  std::string host;  // without the trailing dot
  bool operator==(const MxRecord&) const = default;
};

class DnsResolver {
 public:
  // `server` is "" for the system resolver (/etc/resolv.conf), or "IP", "IP:port", "[IPv6]:port".
  // Returns nullptr and sets *error when the server string is invalid or c-ares cannot start.
  static std::unique_ptr<DnsResolver> Create(boost::asio::any_io_executor executor,
                                             std::string_view server, std::string* error);
  virtual ~DnsResolver() = default;

  // Addresses of `host` as text ("192.0.2.1", "2001:db8::1"). kIp4: A only; kIp6: AAAA only;
  // kBoth: AAAA first, then A. An IP literal is returned as is without any query.
  virtual boost::asio::awaitable<DnsAnswer<std::vector<std::string>>> LookupAddresses(
      std::string host, IpProtocol protocol) = 0;

  // MX records of `domain`, sorted by preference, then host name (RFC 5321 §5.1). A domain with
  // no MX records yields kNoData (LookupMailHosts applies the implicit MX rule); a null MX
  // (RFC 7505) yields kNullMx.
  virtual boost::asio::awaitable<DnsAnswer<std::vector<MxRecord>>> LookupMx(std::string domain) = 0;

  // PTR names of an IPv4 or IPv6 address, without trailing dots.
  virtual boost::asio::awaitable<DnsAnswer<std::vector<std::string>>> LookupPtr(
      std::string address) = 0;

  virtual void Cancel() = 0;
};

// The hosts that receive mail for `domain` (RFC 5321 §5.1): its MX records in preference order;
// when the domain exists but has no MX records, the domain itself with preference 0 (the
// implicit MX); nothing for a null MX (kNullMx, RFC 7505) or a failed lookup.
boost::asio::awaitable<DnsAnswer<std::vector<MxRecord>>> LookupMailHosts(DnsResolver& resolver,
                                                                         std::string domain);

}  // namespace smtp

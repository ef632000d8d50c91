// Asynchronous DNS on the Asio loop, with c-ares: A/AAAA, MX and PTR lookups that never block the
// thread that runs probes. One DnsResolver per probe (or per CLI run); not thread-safe: use it from
// the executor it was created with.
//
// Every lookup completes exactly once. Cancel() makes pending lookups complete promptly with
// DnsStatus::kCancelled; the prober and the target expansion call it when their deadline passes.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "probes/dane.h"
#include "probes/dns_answer.h"
#include "probes/probe_spec.h"

namespace smtp {

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

  // TXT records of `name`, one string per record (its character-strings concatenated), and A
  // records of `name` as text. Both ask for `name` as it is (absolute, no search list): the
  // policy records (_mta-sts, _smtp._tls) and DNS blocklist names (RFC 5782 §2.1) are built
  // from a domain, and a search suffix would turn NXDOMAIN ("not listed") into another question.
  virtual boost::asio::awaitable<DnsAnswer<std::vector<std::string>>> LookupTxt(
      std::string name) = 0;
  virtual boost::asio::awaitable<DnsAnswer<std::vector<std::string>>> LookupA(std::string name) = 0;

  // TLSA records of `name` ("_25._tcp.mx.example.org", absolute), asked with the AD bit set
  // so that a validating resolver says whether it validated them (probes/dane.h: the exporter
  // trusts that bit, as Postfix does).
  virtual boost::asio::awaitable<DnsAnswer<TlsaAnswer>> LookupTlsa(std::string name) = 0;

  virtual void Cancel() = 0;
};

// The hosts that receive mail for `domain` (RFC 5321 §5.1): its MX records in preference order;
// when the domain exists but has no MX records, the domain itself with preference 0 (the
// implicit MX); nothing for a null MX (kNullMx, RFC 7505) or a failed lookup.
boost::asio::awaitable<DnsAnswer<std::vector<MxRecord>>> LookupMailHosts(DnsResolver& resolver,
                                                                         std::string domain);

}  // namespace smtp

// The domain checks of a probe (ProbeSpec::checks): TLS-RPT (RFC 8460) and DNS blocklists
// (RFC 5782). They run after the dialogue and the reverse DNS check, on the probe's resolver and
// within what is left of its deadline: the answers are judged by the pure rules of
// probes/mail_policy.h and probes/dnsbl.h; only the asking is here. A lookup the deadline cuts is
// a check that timed out, never a failed probe: the server's health is the dialogue's.
#include "probes/policy_fetch.h"
#include "probes/probe_session.h"
#include "probes/text.h"

namespace smtp {
namespace {

constexpr std::size_t kMaxDnsblReasonBytes = 256;  // a zone's TXT reason is a sentence and a URL

// A DNS answer to a policy TXT lookup as a record status when no record can be judged.
std::optional<PolicyRecordStatus> TxtFailure(DnsStatus status, bool deadline_passed) {
  if (deadline_passed || status == DnsStatus::kCancelled || status == DnsStatus::kTimeout) {
    return PolicyRecordStatus::kTimeout;
  }
  switch (status) {
    case DnsStatus::kOk:
      return std::nullopt;
    case DnsStatus::kNxDomain:
    case DnsStatus::kNoData:
      return PolicyRecordStatus::kMissing;
    default:
      return PolicyRecordStatus::kDnsError;
  }
}

}  // namespace

asio::awaitable<void> ProbeSession::RunDomainChecks() {
  const DomainChecks& checks = spec_.checks;
  const bool has_domain = !checks.domain.empty();
  if (!checks.any_to_run()) co_return;
  DnsResolver* resolver = Resolver();
  if (resolver == nullptr) {
    // Every check asked for is reported, failed for the reason the resolver gave.
    if (has_domain && checks.mta_sts) {
      result_.mta_sts = MtaStsResult{};
      result_.mta_sts->record = {PolicyRecordStatus::kDnsError, "", resolver_error_};
    }
    if (has_domain && checks.tls_rpt) {
      result_.tls_rpt = TlsRptResult{PolicyRecordStatus::kDnsError, "", {}, resolver_error_};
    }
    for (const std::string& zone : checks.dnsbl) {
      result_.dnsbl.push_back({zone, DnsblAddress(), DnsblStatus::kError, {}, "", resolver_error_});
    }
    if (checks.dane && !IsIpLiteral(spec_.host)) {
      result_.dane = DaneResult{
          TlsaName(spec_.host, spec_.port), DaneStatus::kDnsError, false, {}, "", resolver_error_};
    }
    co_return;
  }
  // The DNS-only checks first: the MTA-STS policy fetch talks to a web server that may be slow
  // (and someone else's), and the checks share what is left of the probe's deadline, so a slow
  // policy host must not leave a blocklisting or a TLSA mismatch unasked.
  if (!checks.dnsbl.empty()) co_await CheckDnsbl(*resolver);
  if (checks.dane && !IsIpLiteral(spec_.host)) co_await CheckDane(*resolver);
  if (has_domain && checks.tls_rpt) co_await CheckTlsRpt(*resolver);
  if (has_domain && checks.mta_sts) co_await CheckMtaSts(*resolver);
}

// RFC 8461 §3: the TXT record says a policy exists and names its id; only then is the policy
// fetched (§3.3), and this MX judged against it (§4.1). The TLS facts of the dialogue are judged
// against the policy by the verdict (MtaStsDelivery in probes/verdict.h).
asio::awaitable<void> ProbeSession::CheckMtaSts(DnsResolver& resolver) {
  MtaStsResult sts;
  const std::string name = MtaStsRecordName(spec_.checks.domain);
  if (deadline_passed()) {
    sts.record = {PolicyRecordStatus::kTimeout, "", "deadline exceeded before looking up " + name};
  } else {
    auto answer = co_await resolver.LookupTxt(name);
    if (auto failure = TxtFailure(answer.status, deadline_passed())) {
      sts.record = {*failure, "", answer.error};
    } else {
      sts.record = JudgeMtaStsRecords(answer.value);
    }
  }
  if (sts.record.status == PolicyRecordStatus::kValid) co_await FetchMtaStsPolicy(resolver, sts);
  if (sts.policy) sts.mx_matches = MxMatchesPolicy(spec_.host, *sts.policy);
  Note('*', "MTA-STS " + name + ": " + ToString(sts.record.status) +
                (sts.record.id.empty() ? "" : " id=" + sts.record.id) +
                (sts.record.detail.empty() ? "" : " (" + sts.record.detail + ")"));
  if (sts.fetch) {
    Note('*',
         "MTA-STS policy " + sts.url + ": " + ToString(*sts.fetch) +
             (sts.policy ? std::string(" mode=") + ToString(sts.policy->mode) +
                               " max_age=" + std::to_string(sts.policy->max_age)
                         : "") +
             (sts.fetch_detail.empty() ? "" : " (" + sts.fetch_detail + ")") +
             (sts.mx_matches ? (*sts.mx_matches ? "; MX matches" : "; MX NOT in the policy") : ""));
  }
  result_.mta_sts = std::move(sts);
}

asio::awaitable<void> ProbeSession::FetchMtaStsPolicy(DnsResolver& resolver, MtaStsResult& sts) {
  const std::string host = MtaStsPolicyHost(spec_.checks.domain);
  sts.url = MtaStsPolicyUrl(spec_.checks.domain, spec_.checks.mta_sts_port);
  const auto fail = [&sts](PolicyFetchStatus status, std::string detail) {
    sts.fetch = status;
    sts.fetch_detail = std::move(detail);
  };
  if (deadline_passed()) co_return fail(PolicyFetchStatus::kTimeout, "deadline exceeded");
  auto addresses = co_await resolver.LookupAddresses(host, spec_.ip_protocol);
  if (!addresses.ok() || addresses.value.empty()) {
    const bool timed_out = deadline_passed() || addresses.status == DnsStatus::kCancelled;
    co_return fail(timed_out ? PolicyFetchStatus::kTimeout : PolicyFetchStatus::kDns,
                   timed_out ? "deadline exceeded resolving " + host
                             : "cannot resolve " + host + ": " + addresses.error);
  }
  PolicyFetchRequest request;
  request.host = host;
  request.port = spec_.checks.mta_sts_port;
  // The policy host is a name the domain's owner chose, like its MX hosts: the caller's address
  // check (/probe's allowlist) applies to it on the policy port, or a name allowed for SMTP could
  // send the exporter's HTTPS request to any address inside.
  for (const std::string& address : addresses.value) {
    if (!spec_.address_allowed || spec_.address_allowed(address, request.port)) {
      request.addresses.push_back(address);
    } else {
      Note('*', "not connecting to " + address + " port " + std::to_string(request.port) + " (" +
                    host + "): not allowed");
    }
  }
  if (request.addresses.empty()) {
    co_return fail(PolicyFetchStatus::kForbidden,
                   host + " resolves only to addresses not allowed on port " +
                       std::to_string(request.port) + ": " + Join(addresses.value, ", "));
  }
  request.ca_file = spec_.tls.ca_file;
  request.deadline = deadline_.expiry();
  PolicyFetchResponse response = co_await FetchPolicy(std::move(request));
  sts.http_status = response.http_status;
  if (response.status != PolicyFetchStatus::kOk) {
    co_return fail(response.status, response.detail);
  }
  std::string error;
  sts.policy = ParseMtaStsPolicy(response.body, &error);
  if (!sts.policy) co_return fail(PolicyFetchStatus::kInvalidPolicy, error);
  sts.fetch = PolicyFetchStatus::kOk;
}

asio::awaitable<void> ProbeSession::CheckTlsRpt(DnsResolver& resolver) {
  const std::string name = TlsRptName(spec_.checks.domain);
  TlsRptResult result;
  if (deadline_passed()) {
    result = {PolicyRecordStatus::kTimeout, "", {}, "deadline exceeded before looking up " + name};
  } else {
    auto answer = co_await resolver.LookupTxt(name);
    if (auto failure = TxtFailure(answer.status, deadline_passed())) {
      result = {*failure, "", {}, answer.error};
    } else {
      result = JudgeTlsRptRecords(answer.value);
    }
  }
  Note('*', "TLS-RPT " + name + ": " + ToString(result.status) +
                (result.detail.empty() ? "" : " (" + result.detail + ")"));
  result_.tls_rpt = std::move(result);
}

// RFC 7672 §2.2: the TLSA records of the MX host for the port connected to, trusted only with
// the AD bit of a validating resolver (probes/dane.h), matched against the chain the dialogue's
// TLS handshake presented.
asio::awaitable<void> ProbeSession::CheckDane(DnsResolver& resolver) {
  DaneResult dane;
  dane.name = TlsaName(spec_.host, spec_.port);
  if (deadline_passed()) {
    dane.status = DaneStatus::kTimeout;
    dane.detail = "deadline exceeded before looking up " + dane.name;
  } else {
    auto answer = co_await resolver.LookupTlsa(dane.name);
    if (answer.ok()) {
      dane.authenticated = answer.value.authenticated;
      dane.records = std::move(answer.value.records);
      if (!dane.authenticated) {
        dane.status = DaneStatus::kInsecure;
        dane.detail =
            "the answer is not DNSSEC-validated (no AD bit from " +
            (spec_.dns_server.empty() ? std::string("the system resolver") : spec_.dns_server) +
            "): the records are not used";
      } else {
        MatchTlsa(dane.records, peer_chain_der_, spec_.host, dane);
      }
    } else if (answer.status == DnsStatus::kNxDomain || answer.status == DnsStatus::kNoData) {
      dane.status = DaneStatus::kNoRecords;
    } else {
      const bool timed_out = deadline_passed() || answer.status == DnsStatus::kCancelled ||
                             answer.status == DnsStatus::kTimeout;
      dane.status = timed_out ? DaneStatus::kTimeout : DaneStatus::kDnsError;
      dane.detail = answer.error;
    }
  }
  peer_chain_der_.clear();
  Note('*', "DANE " + dane.name + ": " + ToString(dane.status) +
                (dane.records.empty() ? ""
                                      : " (" + std::to_string(dane.records.size()) + " TLSA, " +
                                            (dane.authenticated ? "AD" : "no AD") + ")") +
                (dane.matched.empty() ? "" : " matched " + dane.matched) +
                (dane.detail.empty() ? "" : ": " + dane.detail));
  result_.dane = std::move(dane);
}

// The address the blocklists are asked about: the one the dialogue used, else the one it was
// told to use or would have tried first (a server that refused the connection is still an MX).
std::string ProbeSession::DnsblAddress() const {
  if (!result_.dns.connected_address.empty()) return result_.dns.connected_address;
  if (spec_.address) return *spec_.address;
  if (IsIpLiteral(spec_.host)) return spec_.host;
  return result_.dns.addresses.empty() ? "" : result_.dns.addresses.front();
}

asio::awaitable<void> ProbeSession::CheckDnsbl(DnsResolver& resolver) {
  const std::string address = DnsblAddress();
  for (const std::string& zone : spec_.checks.dnsbl) {
    DnsblResult entry{zone, address, DnsblStatus::kError, {}, "", ""};
    const std::optional<std::string> name = DnsblQueryName(address, zone);
    if (!name) {
      entry.detail = "no address to look up (the host did not resolve)";
    } else if (deadline_passed()) {
      entry.status = DnsblStatus::kTimeout;
      entry.detail = "deadline exceeded before looking up " + *name;
    } else {
      auto answer = co_await resolver.LookupA(*name);
      if (answer.ok() || answer.status == DnsStatus::kNxDomain) {
        // RFC 5782 §2.1: NXDOMAIN is "not listed"; an A record in 127/8 is a listing.
        entry.codes = answer.value;
        entry.status = ClassifyDnsblAnswer(answer.value);
        if (entry.status == DnsblStatus::kError) {
          entry.detail = "answer outside 127.0.0.0/8: " + Join(answer.value, ", ");
        }
      } else {
        const bool timed_out = deadline_passed() || answer.status == DnsStatus::kCancelled ||
                               answer.status == DnsStatus::kTimeout;
        entry.status = timed_out ? DnsblStatus::kTimeout : DnsblStatus::kError;
        entry.detail =
            timed_out && deadline_passed() ? "deadline exceeded looking up " + *name : answer.error;
      }
      if (entry.status == DnsblStatus::kListed && !deadline_passed()) {
        // The reason, when the zone publishes one (§2.1); its absence changes nothing.
        auto reason = co_await resolver.LookupTxt(*name);
        if (reason.ok()) entry.reason = Join(reason.value, " ").substr(0, kMaxDnsblReasonBytes);
      }
    }
    Note('*', "DNSBL " + zone + " " + address + ": " + ToString(entry.status) +
                  (entry.codes.empty() ? "" : " " + Join(entry.codes, ",")) +
                  (entry.reason.empty() ? "" : " \"" + entry.reason + "\"") +
                  (entry.detail.empty() ? "" : " (" + entry.detail + ")"));
    result_.dnsbl.push_back(std::move(entry));
  }
}

}  // namespace smtp

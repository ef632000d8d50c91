#include "probes/dns_answer.h"

#include <algorithm>
#include <cctype>
#include <utility>

namespace smtp {
namespace {

bool LessIgnoreCase(const std::string& a, const std::string& b) {
  return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) <
           std::tolower(static_cast<unsigned char>(y));
  });
}

}  // namespace

const char* ToString(DnsStatus status) {
  switch (status) {
    case DnsStatus::kOk:
      return "ok";
    case DnsStatus::kNxDomain:
      return "nxdomain";
    case DnsStatus::kNoData:
      return "nodata";
    case DnsStatus::kTimeout:
      return "timeout";
    case DnsStatus::kServFail:
      return "servfail";
    case DnsStatus::kCancelled:
      return "cancelled";
    case DnsStatus::kNullMx:
      return "null_mx";
    case DnsStatus::kError:
      return "error";
  }
  return "error";
}

void SortMailHosts(std::vector<MxRecord>& records) {
  std::sort(records.begin(), records.end(), [](const MxRecord& a, const MxRecord& b) {
    if (a.preference != b.preference) return a.preference < b.preference;
    if (LessIgnoreCase(a.host, b.host)) return true;
    if (LessIgnoreCase(b.host, a.host)) return false;
    return a.host < b.host;
  });
}

DnsAnswer<std::vector<MxRecord>> MailHostsOf(std::string_view domain,
                                             DnsAnswer<std::vector<MxRecord>> mx_answer) {
  if (mx_answer.status != DnsStatus::kNoData) return mx_answer;
  // RFC 5321 §5.1: "If an empty list of MXs is returned, the address is treated as if it was
  // associated with an implicit MX RR, with a preference of 0, pointing to that host."
  if (domain.ends_with('.')) domain.remove_suffix(1);
  mx_answer.status = DnsStatus::kOk;
  mx_answer.error.clear();
  mx_answer.value = {MxRecord{0, std::string(domain)}};
  return mx_answer;
}

}  // namespace smtp

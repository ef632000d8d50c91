#include "probes/dane.h"

namespace smtp {

std::string ToString(const TlsaRecord& record) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string text = std::to_string(record.usage) + " " + std::to_string(record.selector) + " " +
                     std::to_string(record.matching_type) + " ";
  for (std::size_t i = 0; i < record.data.size() && i < 32; ++i) {
    const auto byte = static_cast<unsigned char>(record.data[i]);
    text += kHex[byte >> 4];
    text += kHex[byte & 0xf];
  }
  if (record.data.size() > 32) text += "...";
  return text;
}

bool IsUsableForSmtp(const TlsaRecord& record) {
  return (record.usage == 2 || record.usage == 3) && record.selector <= 1 &&
         record.matching_type <= 2;
}

const char* ToString(DaneStatus status) {
  switch (status) {
    case DaneStatus::kNoRecords:
      return "no_records";
    case DaneStatus::kInsecure:
      return "insecure";
    case DaneStatus::kUnusable:
      return "unusable";
    case DaneStatus::kNoTls:
      return "no_tls";
    case DaneStatus::kMatch:
      return "match";
    case DaneStatus::kMismatch:
      return "mismatch";
    case DaneStatus::kDnsError:
      return "dns_error";
    case DaneStatus::kTimeout:
      return "timeout";
  }
  return "dns_error";
}

std::string TlsaName(std::string_view host, std::uint16_t port) {
  if (host.ends_with('.')) host.remove_suffix(1);
  return "_" + std::to_string(port) + "._tcp." + std::string(host);
}

}  // namespace smtp

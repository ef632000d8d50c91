#include "probes/dnsbl.h"

#include <arpa/inet.h>

#include <algorithm>

#include "probes/target.h"

namespace smtp {

const char* ToString(DnsblStatus status) {
  switch (status) {
    case DnsblStatus::kNotListed:
      return "not_listed";
    case DnsblStatus::kListed:
      return "listed";
    case DnsblStatus::kRefused:
      return "refused";
    case DnsblStatus::kError:
      return "error";
    case DnsblStatus::kTimeout:
      return "timeout";
  }
  return "error";
}

std::optional<std::string> DnsblQueryName(std::string_view address, std::string_view zone) {
  if (zone.ends_with('.')) zone.remove_suffix(1);
  const std::string text(address);
  unsigned char bytes[16];
  std::string name;
  if (inet_pton(AF_INET, text.c_str(), bytes) == 1) {
    for (int i = 3; i >= 0; --i) name += std::to_string(bytes[i]) + ".";
  } else if (inet_pton(AF_INET6, text.c_str(), bytes) == 1) {
    constexpr char kHex[] = "0123456789abcdef";
    for (int i = 15; i >= 0; --i) {
      name += kHex[bytes[i] & 0xf];
      name += '.';
      name += kHex[bytes[i] >> 4];
      name += '.';
    }
  } else {
    return std::nullopt;
  }
  return name + std::string(zone);
}

DnsblStatus ClassifyDnsblAnswer(const std::vector<std::string>& addresses) {
  if (addresses.empty()) return DnsblStatus::kNotListed;
  bool listed = false;
  for (const std::string& address : addresses) {
    unsigned char bytes[4];
    if (inet_pton(AF_INET, address.c_str(), bytes) != 1 || bytes[0] != 127) {
      return DnsblStatus::kError;  // not a DNSBL answer (§2.3): a rewriting resolver
    }
    if (bytes[1] == 255 && bytes[2] == 255) return DnsblStatus::kRefused;
    listed = true;
  }
  return listed ? DnsblStatus::kListed : DnsblStatus::kNotListed;
}

bool IsDnsblZone(std::string_view zone) {
  const std::string_view name = zone.ends_with('.') ? zone.substr(0, zone.size() - 1) : zone;
  return name.size() <= 180 && IsHostName(zone);
}

}  // namespace smtp

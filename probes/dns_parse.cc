#include "probes/dns_parse.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <algorithm>
#include <utility>

namespace smtp::dns {
namespace {

std::optional<int> ParsePort(std::string_view text) {
  if (text.empty() || text.size() > 5) return std::nullopt;
  int port = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    port = port * 10 + (c - '0');
  }
  if (port < 1 || port > 65535) return std::nullopt;
  return port;
}

std::string StripTrailingDot(std::string name) {
  if (!name.empty() && name.back() == '.') name.pop_back();
  return name;
}

// c-ares writes a label byte that a host name cannot hold as an escape ("mx\." for the label
// "mx.", "\009" for a TAB); such a name is no host name (RFC 5321 §2.3.5, RFC 1123 §2.1).
bool EscapedName(const std::string& name) { return name.find('\\') != std::string::npos; }

const char* TypeName(int type) {
  switch (type) {
    case ns_t_a:
      return "A";
    case ns_t_aaaa:
      return "AAAA";
    case ns_t_mx:
      return "MX";
    case ns_t_ptr:
      return "PTR";
    case ns_t_txt:
      return "TXT";
    case 52:
      return "TLSA";
    default:
      return "?";
  }
}

// Orders failures of the two families for kBoth: the most telling one is reported. NXDOMAIN is
// authoritative for the name; "no AAAA" says least when A failed for another reason.
int FailureRank(DnsStatus status) {
  switch (status) {
    case DnsStatus::kNxDomain:
      return 5;
    case DnsStatus::kTimeout:
      return 4;
    case DnsStatus::kServFail:
      return 3;
    case DnsStatus::kError:
      return 2;
    case DnsStatus::kNoData:
      return 1;
    default:
      return 0;
  }
}

}  // namespace

std::optional<ServerAddress> ParseServer(std::string_view text, std::string* error) {
  std::string_view host = text;
  std::optional<int> port = kDefaultPort;
  if (!text.empty() && text.front() == '[') {
    std::size_t close = text.find(']');
    if (close == std::string_view::npos) {
      *error = "dns server \"" + std::string(text) + "\": missing ']'";
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      port = rest.front() == ':' ? ParsePort(rest.substr(1)) : std::nullopt;
    }
  } else if (std::count(text.begin(), text.end(), ':') == 1) {
    std::size_t colon = text.find(':');
    host = text.substr(0, colon);
    port = ParsePort(text.substr(colon + 1));
  }
  if (!port) {
    *error = "dns server \"" + std::string(text) + "\": bad port";
    return std::nullopt;
  }
  ServerAddress server;
  server.port = *port;
  std::string host_text(host);
  // inet_pton reads a C string: a NUL would end the address early.
  if (host_text.find('\0') != std::string::npos) {
    *error = "dns server \"" + std::string(text) + "\": not an IP address";
    return std::nullopt;
  }
  if (inet_pton(AF_INET, host_text.c_str(), server.bytes.data()) == 1) {
    server.family = AF_INET;
    server.label = host_text + ":" + std::to_string(*port);
  } else if (inet_pton(AF_INET6, host_text.c_str(), server.bytes.data()) == 1) {
    server.family = AF_INET6;
    server.label = "[" + host_text + "]:" + std::to_string(*port);
  } else {
    *error =
        "dns server \"" + std::string(text) + "\": not an IP address (IP, IP:port or [IPv6]:port)";
    return std::nullopt;
  }
  return server;
}

DnsStatus MapStatus(int ares_status) {
  switch (ares_status) {
    case ARES_SUCCESS:
      return DnsStatus::kOk;
    case ARES_ENOTFOUND:
      return DnsStatus::kNxDomain;
    case ARES_ENODATA:
      return DnsStatus::kNoData;
    case ARES_ETIMEOUT:
      return DnsStatus::kTimeout;
    case ARES_ESERVFAIL:
    case ARES_EREFUSED:
    case ARES_ECONNREFUSED:
    case ARES_EBADRESP:
    case ARES_EFORMERR:  // the server could not parse our query: its fault or a middlebox's
    case ARES_ENOTIMP:
      return DnsStatus::kServFail;
    case ARES_ECANCELLED:
    case ARES_EDESTRUCTION:
      return DnsStatus::kCancelled;
    default:
      return DnsStatus::kError;
  }
}

std::string FailureText(int ares_status, const Query& query, const std::string& server) {
  const std::string what = query.name + " " + TypeName(query.type);
  switch (MapStatus(ares_status)) {
    case DnsStatus::kNxDomain:
      return "NXDOMAIN for " + query.name;
    case DnsStatus::kNoData:
      return std::string("no ") + TypeName(query.type) + " records for " + query.name;
    case DnsStatus::kTimeout:
      return "timeout querying " + server + " for " + what;
    case DnsStatus::kCancelled:
      return "lookup of " + what + " cancelled";
    default:
      return std::string(ares_strerror(ares_status)) + " (" + server + ", " + what + ")";
  }
}

bool UsableName(const std::string& name) {
  return !name.empty() && name.find('\0') == std::string::npos;
}

std::string BadNameText(const std::string& name) { return "invalid DNS name \"" + name + "\""; }

std::string StripBrackets(std::string text) {
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
    return text.substr(1, text.size() - 2);
  }
  return text;
}

DnsAnswer<std::vector<std::string>> ParseAddresses(const RawAnswer& raw, const Query& query,
                                                   const std::string& server) {
  using Result = std::vector<std::string>;
  if (raw.status != ARES_SUCCESS) return Failure<Result>(raw.status, query, server);
  hostent* host = nullptr;
  const int length = static_cast<int>(raw.message.size());
  const int status =
      query.type == ns_t_aaaa
          ? ares_parse_aaaa_reply(raw.message.data(), length, &host, nullptr, nullptr)
          : ares_parse_a_reply(raw.message.data(), length, &host, nullptr, nullptr);
  if (status != ARES_SUCCESS) return Failure<Result>(status, query, server);
  DnsAnswer<Result> answer;
  answer.status = DnsStatus::kOk;
  for (char** address = host->h_addr_list; address != nullptr && *address != nullptr; ++address) {
    char text[INET6_ADDRSTRLEN] = {};
    if (inet_ntop(host->h_addrtype, *address, text, sizeof(text)) != nullptr) {
      answer.value.emplace_back(text);
    }
  }
  ares_free_hostent(host);
  if (answer.value.empty()) return Failure<Result>(ARES_ENODATA, query, server);
  return answer;
}

DnsAnswer<std::vector<std::string>> CombineAddresses(
    std::vector<DnsAnswer<std::vector<std::string>>> parts) {
  DnsAnswer<std::vector<std::string>> combined;
  std::optional<DnsAnswer<std::vector<std::string>>> worst;
  for (DnsAnswer<std::vector<std::string>>& part : parts) {
    if (part.ok()) {
      combined.status = DnsStatus::kOk;
      for (std::string& address : part.value) combined.value.push_back(std::move(address));
    } else if (part.status == DnsStatus::kCancelled) {
      return std::move(part);
    } else if (!worst || FailureRank(part.status) > FailureRank(worst->status)) {
      worst = std::move(part);
    }
  }
  if (combined.ok() || !worst) return combined;
  return std::move(*worst);
}

DnsAnswer<std::vector<std::string>> ParseTxt(const RawAnswer& raw, const Query& query,
                                             const std::string& server) {
  using Result = std::vector<std::string>;
  if (raw.status != ARES_SUCCESS) return Failure<Result>(raw.status, query, server);
  ares_txt_ext* chunks = nullptr;
  const int status =
      ares_parse_txt_reply_ext(raw.message.data(), static_cast<int>(raw.message.size()), &chunks);
  if (status != ARES_SUCCESS) return Failure<Result>(status, query, server);
  DnsAnswer<Result> answer;
  answer.status = DnsStatus::kOk;
  for (ares_txt_ext* chunk = chunks; chunk != nullptr; chunk = chunk->next) {
    // c-ares lists every character-string; record_start marks the first of each record.
    if (chunk->record_start || answer.value.empty()) answer.value.emplace_back();
    answer.value.back().append(reinterpret_cast<const char*>(chunk->txt), chunk->length);
  }
  ares_free_data(chunks);
  if (answer.value.empty()) return Failure<Result>(ARES_ENODATA, query, server);
  return answer;
}

std::optional<std::vector<unsigned char>> DnssecQueryMessage(const std::string& name, int type) {
  unsigned char* buffer = nullptr;
  int length = 0;
  // id 0: ares_send sets its own.
  if (ares_create_query(name.c_str(), ns_c_in, type, 0, 1, &buffer, &length, 1232) !=
          ARES_SUCCESS ||
      length < 12) {
    if (buffer != nullptr) ares_free_string(buffer);
    return std::nullopt;
  }
  std::vector<unsigned char> message(buffer, buffer + length);
  ares_free_string(buffer);
  message[3] |= 0x20;  // AD
  return message;
}

DnsAnswer<TlsaAnswer> ParseTlsa(const RawAnswer& raw, const Query& query,
                                const std::string& server) {
  using Result = TlsaAnswer;
  constexpr std::size_t kMaxRecords = 32;
  if (raw.status != ARES_SUCCESS) return Failure<Result>(raw.status, query, server);
  const std::vector<unsigned char>& m = raw.message;
  if (m.size() < 12) return Failure<Result>(ARES_EBADRESP, query, server);
  switch (m[3] & 0x0f) {  // RCODE
    case 0:
      break;
    case 3:
      return Failure<Result>(ARES_ENOTFOUND, query, server);
    case 5:
      return Failure<Result>(ARES_EREFUSED, query, server);
    default:
      return Failure<Result>(ARES_ESERVFAIL, query, server);
  }
  const auto count = [&m](std::size_t at) { return (m[at] << 8) | m[at + 1]; };
  const unsigned char* const base = m.data();
  const int total = static_cast<int>(m.size());
  std::size_t at = 12;
  // Skips a (possibly compressed) name; false when it runs off the message.
  const auto skip_name = [&]() {
    char* name = nullptr;
    long length = 0;
    if (ares_expand_name(base + at, base, total, &name, &length) != ARES_SUCCESS) return false;
    ares_free_string(name);
    at += static_cast<std::size_t>(length);
    return at <= m.size();
  };
  for (int i = 0, n = count(4); i < n; ++i) {
    if (!skip_name() || at + 4 > m.size()) return Failure<Result>(ARES_EBADRESP, query, server);
    at += 4;
  }
  DnsAnswer<Result> answer;
  answer.status = DnsStatus::kOk;
  answer.value.authenticated = (m[3] & 0x20) != 0;
  for (int i = 0, n = count(6); i < n; ++i) {
    if (!skip_name() || at + 10 > m.size()) return Failure<Result>(ARES_EBADRESP, query, server);
    const int type = count(at);
    const std::size_t length = static_cast<std::size_t>(count(at + 8));
    at += 10;
    if (at + length > m.size()) return Failure<Result>(ARES_EBADRESP, query, server);
    // Other types (a CNAME leading to the records, RRSIGs) are skipped.
    if (type == 52 && length >= 3 && answer.value.records.size() < kMaxRecords) {
      TlsaRecord record;
      record.usage = m[at];
      record.selector = m[at + 1];
      record.matching_type = m[at + 2];
      record.data.assign(reinterpret_cast<const char*>(base + at + 3), length - 3);
      answer.value.records.push_back(std::move(record));
    }
    at += length;
  }
  if (answer.value.records.empty()) return Failure<Result>(ARES_ENODATA, query, server);
  return answer;
}

DnsAnswer<std::vector<MxRecord>> ParseMx(const RawAnswer& raw, const Query& query,
                                         const std::string& server) {
  using Result = std::vector<MxRecord>;
  if (raw.status != ARES_SUCCESS) return Failure<Result>(raw.status, query, server);
  ares_mx_reply* replies = nullptr;
  const int status =
      ares_parse_mx_reply(raw.message.data(), static_cast<int>(raw.message.size()), &replies);
  if (status != ARES_SUCCESS) return Failure<Result>(status, query, server);
  DnsAnswer<Result> answer;
  answer.status = DnsStatus::kOk;
  bool null_mx = false;
  int not_hosts = 0;
  for (ares_mx_reply* reply = replies; reply != nullptr; reply = reply->next) {
    std::string host = StripTrailingDot(reply->host != nullptr ? reply->host : "");
    // RFC 7505: a single MX with the root as exchange ("Null MX") says the domain accepts no
    // mail. It is not a host to probe.
    if (host.empty()) {
      null_mx = true;
      continue;
    }
    if (EscapedName(host)) {  // not a host name: nothing to connect to
      ++not_hosts;
      continue;
    }
    answer.value.push_back(MxRecord{reply->priority, std::move(host)});
  }
  ares_free_data(replies);
  if (answer.value.empty()) {
    answer.status = null_mx ? DnsStatus::kNullMx : DnsStatus::kNoData;
    answer.error = null_mx     ? "null MX (RFC 7505): " + query.name + " accepts no mail"
                   : not_hosts ? "no MX record of " + query.name + " names a host name"
                               : "no MX records for " + query.name;
    return answer;
  }
  SortMailHosts(answer.value);
  return answer;
}

std::optional<ReverseQuery> ReverseName(const std::string& address) {
  ReverseQuery reverse;
  if (address.find('\0') != std::string::npos) return std::nullopt;  // inet_pton stops at NUL
  if (inet_pton(AF_INET, address.c_str(), reverse.bytes.data()) == 1) {
    reverse.family = AF_INET;
    for (int i = 3; i >= 0; --i) reverse.name += std::to_string(reverse.bytes[i]) + ".";
    reverse.name += "in-addr.arpa";
    return reverse;
  }
  if (inet_pton(AF_INET6, address.c_str(), reverse.bytes.data()) == 1) {
    reverse.family = AF_INET6;
    static constexpr char kHex[] = "0123456789abcdef";
    for (int i = 15; i >= 0; --i) {  // one label per nibble, least significant first
      reverse.name += kHex[reverse.bytes[i] & 0xf];
      reverse.name += '.';
      reverse.name += kHex[reverse.bytes[i] >> 4];
      reverse.name += '.';
    }
    reverse.name += "ip6.arpa";
    return reverse;
  }
  return std::nullopt;
}

DnsAnswer<std::vector<std::string>> ParsePtr(const RawAnswer& raw, const Query& query,
                                             const std::string& server,
                                             const ReverseQuery& reverse) {
  using Result = std::vector<std::string>;
  if (raw.status != ARES_SUCCESS) return Failure<Result>(raw.status, query, server);
  hostent* host = nullptr;
  const int status = ares_parse_ptr_reply(raw.message.data(), static_cast<int>(raw.message.size()),
                                          reverse.bytes.data(), reverse.family == AF_INET ? 4 : 16,
                                          reverse.family, &host);
  if (status != ARES_SUCCESS) return Failure<Result>(status, query, server);
  DnsAnswer<Result> answer;
  answer.status = DnsStatus::kOk;
  auto add = [&answer](const char* name) {
    if (name == nullptr) return;
    std::string stripped = StripTrailingDot(name);
    if (stripped.empty() || EscapedName(stripped)) return;  // no host name to compare
    if (std::find(answer.value.begin(), answer.value.end(), stripped) == answer.value.end()) {
      answer.value.push_back(std::move(stripped));
    }
  };
  // c-ares lists every PTR target among the aliases (in answer order) and repeats one of them
  // as h_name; aliases first keeps the server's order.
  for (char** alias = host->h_aliases; alias != nullptr && *alias != nullptr; ++alias) add(*alias);
  add(host->h_name);
  ares_free_hostent(host);
  if (answer.value.empty()) return Failure<Result>(ARES_ENODATA, query, server);
  return answer;
}

}  // namespace smtp::dns

#include "probes/mail_policy.h"

#include <algorithm>

#include "probes/escape.h"
#include "probes/text.h"

namespace smtp {
namespace {

constexpr std::size_t kMaxQuoted = 80;  // of a record or value quoted in a detail line

bool IsWsp(char c) { return c == ' ' || c == '\t'; }
bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

std::string Quoted(std::string_view text) {
  std::string out;
  AppendEscapedText(out, text.substr(0, kMaxQuoted), /*quoted=*/true);
  if (text.size() > kMaxQuoted) out += "...";
  return out;
}

std::string_view TrimWsp(std::string_view text) {
  while (!text.empty() && IsWsp(text.front())) text.remove_prefix(1);
  while (!text.empty() && IsWsp(text.back())) text.remove_suffix(1);
  return text;
}

// RFC 8460 §3 / RFC 8461 §3.1 ext-name: (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".").
bool IsFieldName(std::string_view name) {
  if (name.empty() || name.size() > 32 || !IsAlnum(name.front())) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return IsAlnum(c) || c == '_' || c == '-' || c == '.'; });
}

// ext-value: 1*(%x21-3A / %x3C / %x3E-7E).
bool IsFieldValue(std::string_view value) {
  return !value.empty() && std::all_of(value.begin(), value.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u >= 0x21 && u <= 0x7e && c != ';' && c != '=';
  });
}

// RFC 5321 Domain: dot-separated labels of letters, digits and '-', not starting or ending with
// '-', at most 63 octets each and 253 in all.
bool IsDomain(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = name.find('.', start);
    const std::string_view label = name.substr(start, dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    if (!std::all_of(label.begin(), label.end(), [](char c) { return IsAlnum(c) || c == '-'; })) {
      return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

std::string_view StripDot(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  return name;
}

// Splits a URI list of `rua` (RFC 8460 §3: URIs separated by *WSP "," *WSP; "," inside a URI is
// percent-encoded) and checks each is a mailto: or https: URI without spaces.
std::optional<std::vector<std::string>> ParseRua(std::string_view value, std::string* error) {
  std::vector<std::string> uris;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = value.find(',', start);
    const std::string_view uri = TrimWsp(value.substr(start, comma - start));
    const std::string lower = ToLowerAscii(uri);
    const bool mailto = lower.starts_with("mailto:") && uri.size() > 7;
    const bool https = lower.starts_with("https://") && uri.size() > 8;
    if ((!mailto && !https) ||
        std::any_of(uri.begin(), uri.end(), [](char c) { return IsWsp(c); })) {
      *error = "rua " + Quoted(uri) + " is not a mailto: or https: URI";
      return std::nullopt;
    }
    uris.emplace_back(uri);
    if (comma == std::string_view::npos) return uris;
    start = comma + 1;
  }
}

template <class Result>
Result RecordFailure(PolicyRecordStatus status, std::string detail) {
  Result result;
  result.status = status;
  result.detail = std::move(detail);
  return result;
}

// The records of `version`'s kind among `records`, or the result for none or several.
template <class Result>
std::optional<Result> OnlyRecordOf(const std::vector<std::string>& records,
                                   std::string_view version, std::string_view* only) {
  std::vector<std::string_view> found;
  for (const std::string& record : records) {
    if (HasVersionTag(record, version)) found.push_back(record);
  }
  if (found.empty()) {
    return RecordFailure<Result>(PolicyRecordStatus::kMissing,
                                 "no TXT record beginning with " + std::string(version));
  }
  if (found.size() > 1) {
    return RecordFailure<Result>(PolicyRecordStatus::kMultiple,
                                 std::to_string(found.size()) + " records beginning with " +
                                     std::string(version) + "; there must be exactly one");
  }
  *only = found.front();
  return std::nullopt;
}

}  // namespace

const char* ToString(PolicyRecordStatus status) {
  switch (status) {
    case PolicyRecordStatus::kValid:
      return "valid";
    case PolicyRecordStatus::kMissing:
      return "missing";
    case PolicyRecordStatus::kInvalid:
      return "invalid";
    case PolicyRecordStatus::kMultiple:
      return "multiple";
    case PolicyRecordStatus::kDnsError:
      return "dns_error";
    case PolicyRecordStatus::kTimeout:
      return "timeout";
  }
  return "dns_error";
}

bool HasVersionTag(std::string_view record, std::string_view version) {
  if (!record.starts_with(version)) return false;
  const std::string_view rest = record.substr(version.size());
  return rest.empty() || rest.front() == ';' || IsWsp(rest.front());
}

std::optional<std::vector<TaggedField>> ParseTaggedRecord(std::string_view record,
                                                          std::string_view version,
                                                          std::string* error) {
  if (!HasVersionTag(record, version)) {
    *error = "does not begin with " + std::string(version);
    return std::nullopt;
  }
  std::vector<TaggedField> fields;
  std::string_view rest = record.substr(version.size());
  // Each round reads field-delim, then a field; a final field-delim may end the record.
  while (true) {
    rest = TrimWsp(rest);
    if (rest.empty()) break;
    if (rest.front() != ';') {
      *error = "expected \";\" before " + Quoted(rest);
      return std::nullopt;
    }
    rest = TrimWsp(rest.substr(1));
    if (rest.empty()) break;  // the optional trailing delimiter
    const std::size_t end = std::min(rest.find(';'), rest.size());
    const std::string_view field = TrimWsp(rest.substr(0, end));
    rest = rest.substr(end);
    const std::size_t equals = field.find('=');
    const std::string_view name = field.substr(0, std::min(equals, field.size()));
    if (equals == std::string_view::npos || !IsFieldName(name)) {
      *error = "malformed field " + Quoted(field);
      return std::nullopt;
    }
    fields.push_back({std::string(name), std::string(field.substr(equals + 1))});
  }
  if (fields.empty()) {
    *error = "no fields after " + std::string(version);
    return std::nullopt;
  }
  return fields;
}

std::string TlsRptName(std::string_view domain) {
  return "_smtp._tls." + std::string(StripDot(domain));
}

TlsRptResult JudgeTlsRptRecords(const std::vector<std::string>& records) {
  std::string_view record;
  if (auto none = OnlyRecordOf<TlsRptResult>(records, "v=TLSRPTv1", &record)) return *none;
  TlsRptResult result;
  result.record = std::string(record);
  result.status = PolicyRecordStatus::kInvalid;
  std::string error;
  std::optional<std::vector<TaggedField>> fields = ParseTaggedRecord(record, "v=TLSRPTv1", &error);
  if (!fields) {
    result.detail = error;
    return result;
  }
  int rua_fields = 0;
  std::vector<std::string> rua;
  for (const TaggedField& field : *fields) {
    if (field.name == "rua") {
      ++rua_fields;
      std::optional<std::vector<std::string>> uris = ParseRua(field.value, &error);
      if (!uris) {
        result.detail = error;
        return result;
      }
      rua = std::move(*uris);
    } else if (!IsFieldValue(field.value)) {
      result.detail = "malformed value of " + field.name + ": " + Quoted(field.value);
      return result;
    }
  }
  if (rua_fields != 1) {
    result.detail = rua_fields == 0 ? "no rua field (required, RFC 8460 §3)" : "more than one rua";
    return result;
  }
  result.status = PolicyRecordStatus::kValid;
  result.rua = std::move(rua);
  return result;
}

const char* ToString(MtaStsMode mode) {
  switch (mode) {
    case MtaStsMode::kNone:
      return "none";
    case MtaStsMode::kTesting:
      return "testing";
    case MtaStsMode::kEnforce:
      return "enforce";
  }
  return "none";
}

std::string MtaStsRecordName(std::string_view domain) {
  return "_mta-sts." + std::string(StripDot(domain));
}

std::string MtaStsPolicyHost(std::string_view domain) {
  return "mta-sts." + std::string(StripDot(domain));
}

std::string MtaStsPolicyUrl(std::string_view domain, std::uint16_t port) {
  return "https://" + MtaStsPolicyHost(domain) + (port == 443 ? "" : ":" + std::to_string(port)) +
         std::string(kMtaStsPolicyPath);
}

MtaStsRecord JudgeMtaStsRecords(const std::vector<std::string>& records) {
  std::string_view record;
  if (auto none = OnlyRecordOf<MtaStsRecord>(records, "v=STSv1", &record)) return *none;
  MtaStsRecord result;
  result.status = PolicyRecordStatus::kInvalid;
  std::string error;
  std::optional<std::vector<TaggedField>> fields = ParseTaggedRecord(record, "v=STSv1", &error);
  if (!fields) {
    result.detail = error;
    return result;
  }
  int ids = 0;
  std::string id;
  for (const TaggedField& field : *fields) {
    if (field.name == "id") {
      ++ids;
      // sts-id = %s"id=" 1*32(ALPHA / DIGIT)
      if (field.value.empty() || field.value.size() > 32 ||
          !std::all_of(field.value.begin(), field.value.end(), IsAlnum)) {
        result.detail = "id " + Quoted(field.value) + " is not 1 to 32 letters and digits";
        return result;
      }
      id = field.value;
    } else if (!IsFieldValue(field.value)) {
      result.detail = "malformed value of " + field.name + ": " + Quoted(field.value);
      return result;
    }
  }
  if (ids != 1) {
    result.detail = ids == 0 ? "no id field (required, RFC 8461 §3.1)" : "more than one id";
    return result;
  }
  result.status = PolicyRecordStatus::kValid;
  result.id = std::move(id);
  return result;
}

std::optional<MtaStsPolicy> ParseMtaStsPolicy(std::string_view body, std::string* error) {
  if (body.size() > kMaxMtaStsPolicyBytes) {
    *error = "policy larger than " + std::to_string(kMaxMtaStsPolicyBytes) + " bytes";
    return std::nullopt;
  }
  MtaStsPolicy policy;
  std::optional<std::string> version, mode, max_age;
  std::size_t line_number = 0;
  std::size_t start = 0;
  while (start < body.size()) {
    std::size_t end = body.find('\n', start);
    if (end == std::string_view::npos) end = body.size();
    std::string_view line = body.substr(start, end - start);
    start = end + 1;
    ++line_number;
    if (line.ends_with('\r')) line.remove_suffix(1);  // sts-policy-term = CRLF / LF
    line = TrimWsp(line);
    if (line.empty()) continue;  // a blank line, e.g. after the last term
    const std::size_t colon = line.find(':');
    const std::string_view key = line.substr(0, std::min(colon, line.size()));
    if (colon == std::string_view::npos || !IsFieldName(key)) {
      *error =
          "line " + std::to_string(line_number) + ": expected \"key: value\", got " + Quoted(line);
      return std::nullopt;
    }
    const std::string value(TrimWsp(line.substr(colon + 1)));
    if (key == "version") {
      if (!version) version = value;
    } else if (key == "mode") {
      if (!mode) mode = value;
    } else if (key == "max_age") {
      if (!max_age) max_age = value;
    } else if (key == "mx") {
      const std::string pattern = ToLowerAscii(StripDot(value));
      const std::string_view domain =
          pattern.starts_with("*.") ? std::string_view(pattern).substr(2) : pattern;
      if (!IsDomain(domain)) {
        *error = "line " + std::to_string(line_number) + ": mx " + Quoted(value) +
                 " is not a domain or *.domain";
        return std::nullopt;
      }
      policy.mx_patterns.push_back(pattern);
    }
    // Other keys are extensions (RFC 8461 §3.2): ignored.
  }
  if (version != "STSv1") {
    *error = version ? "version " + Quoted(*version) + " is not STSv1" : "no version field";
    return std::nullopt;
  }
  if (mode == "enforce") {
    policy.mode = MtaStsMode::kEnforce;
  } else if (mode == "testing") {
    policy.mode = MtaStsMode::kTesting;
  } else if (mode == "none") {
    policy.mode = MtaStsMode::kNone;
  } else {
    *error = mode ? "mode " + Quoted(*mode) + " is not enforce, testing or none" : "no mode field";
    return std::nullopt;
  }
  if (!max_age || max_age->empty() || max_age->size() > 10 ||
      !std::all_of(max_age->begin(), max_age->end(), [](char c) { return c >= '0' && c <= '9'; })) {
    *error =
        max_age ? "max_age " + Quoted(*max_age) + " is not 1 to 10 digits" : "no max_age field";
    return std::nullopt;
  }
  const std::uint64_t seconds = std::stoull(*max_age);
  if (seconds > kMaxMtaStsMaxAge) {
    *error = "max_age " + *max_age + " exceeds " + std::to_string(kMaxMtaStsMaxAge);
    return std::nullopt;
  }
  policy.max_age = static_cast<std::uint32_t>(seconds);
  if (policy.mode != MtaStsMode::kNone && policy.mx_patterns.empty()) {
    *error = std::string("no mx field (required in ") + ToString(policy.mode) + " mode)";
    return std::nullopt;
  }
  return policy;
}

const char* ToString(PolicyFetchStatus status) {
  switch (status) {
    case PolicyFetchStatus::kOk:
      return "ok";
    case PolicyFetchStatus::kDns:
      return "dns";
    case PolicyFetchStatus::kConnect:
      return "connect";
    case PolicyFetchStatus::kTls:
      return "tls";
    case PolicyFetchStatus::kTimeout:
      return "timeout";
    case PolicyFetchStatus::kRedirect:
      return "redirect";
    case PolicyFetchStatus::kHttpStatus:
      return "http_status";
    case PolicyFetchStatus::kTooLarge:
      return "too_large";
    case PolicyFetchStatus::kContentType:
      return "content_type";
    case PolicyFetchStatus::kProtocol:
      return "protocol";
    case PolicyFetchStatus::kInvalidPolicy:
      return "invalid_policy";
    case PolicyFetchStatus::kForbidden:
      return "forbidden";
  }
  return "protocol";
}

bool MxMatchesPattern(std::string_view host, std::string_view pattern) {
  const std::string h = ToLowerAscii(StripDot(host));
  const std::string p = ToLowerAscii(StripDot(pattern));
  if (h.empty() || p.empty()) return false;
  if (!p.starts_with("*.")) return h == p;
  const std::string_view suffix = std::string_view(p).substr(1);  // ".example.com"
  if (h.size() <= suffix.size() || !std::string_view(h).ends_with(suffix)) return false;
  const std::string_view label = std::string_view(h).substr(0, h.size() - suffix.size());
  return label.find('.') == std::string_view::npos;  // exactly one label
}

bool MxMatchesPolicy(std::string_view host, const MtaStsPolicy& policy) {
  return std::any_of(
      policy.mx_patterns.begin(), policy.mx_patterns.end(),
      [host](const std::string& pattern) { return MxMatchesPattern(host, pattern); });
}

}  // namespace smtp

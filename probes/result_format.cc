#include "probes/result_format.h"

#include <charconv>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <system_error>

#include "probes/escape.h"
#include "probes/text.h"

namespace smtp {
namespace {

double Seconds(std::chrono::nanoseconds duration) {
  return std::chrono::duration<double>(duration).count();
}

std::string Milliseconds(std::chrono::nanoseconds duration) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.1f ms",
                std::chrono::duration<double, std::milli>(duration).count());
  return buffer;
}

// --- JSON ---------------------------------------------------------------------------------------

class JsonWriter {
 public:
  void BeginObject() { Open("{"); }
  void EndObject() { Close('}'); }
  void BeginArray() { Open("["); }
  void EndArray() { Close(']'); }
  JsonWriter& Key(std::string_view key) {
    Separate();
    AppendString(key);
    out_ += ':';
    after_key_ = true;
    return *this;
  }
  void String(std::string_view text) {
    Separate();
    AppendString(text);
  }
  // The shortest text that reads back as the same double (a Unix time keeps its microseconds;
  // "%.6g" made 1796083200.123456 "1.79608e+09"). JSON has no NaN or infinity (RFC 8259 §6): null.
  void Number(double value) {
    if (!std::isfinite(value)) return Null();
    char buffer[32];
    const auto [end, error] = std::to_chars(buffer, buffer + sizeof buffer, value);
    if (error != std::errc()) return Null();  // cannot happen: 24 bytes suffice for a double
    Value(std::string_view(buffer, end - buffer));
  }
  void Integer(std::int64_t value) { Value(std::to_string(value)); }
  void Bool(bool value) { Value(value ? "true" : "false"); }
  void Null() { Value("null"); }
  template <typename Text>
  void Strings(const std::vector<Text>& items) {
    BeginArray();
    for (std::string_view item : items) String(item);
    EndArray();
  }
  template <typename T>
  void OptionalBool(const std::optional<T>& value) {
    value ? Bool(*value) : Null();
  }
  std::string Take() { return std::move(out_); }

 private:
  void Value(std::string_view text) {
    Separate();
    out_ += text;
  }
  void Open(std::string_view bracket) {
    Value(bracket);
    stack_.push_back(true);
  }
  void Close(char bracket) {
    stack_.pop_back();
    out_ += bracket;
  }
  void Separate() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (!stack_.empty()) {
      if (!stack_.back()) out_ += ',';
      stack_.back() = false;
    }
  }
  // Servers may send anything: the kit keeps the output valid JSON (RFC 8259 §7, §8.1).
  void AppendString(std::string_view text) { AppendJsonString(out_, text); }

  std::string out_;
  std::vector<bool> stack_;  // per open container: no element written yet
  bool after_key_ = false;
};

void WriteCapabilities(JsonWriter& json, const Capabilities* capabilities) {
  if (!capabilities) {
    json.Null();
    return;
  }
  json.BeginObject();
  json.Key("domain").String(capabilities->domain);
  json.Key("extensions").BeginArray();
  for (const Extension& extension : capabilities->extensions) {
    json.BeginObject();
    json.Key("keyword").String(extension.keyword());
    json.Key("parameters").Strings(extension.parameters());
    json.EndObject();
  }
  json.EndArray();
  json.Key("size_limit");
  capabilities->size_limit ? json.Integer(static_cast<std::int64_t>(*capabilities->size_limit))
                           : json.Null();
  json.Key("auth_mechanisms").Strings(capabilities->auth_mechanisms);
  json.EndObject();
}

// Objects of ToJson.
void WriteTls(JsonWriter& json, const TlsInfo& tls) {
  json.BeginObject();
  json.Key("handshake_ok").Bool(tls.handshake_ok);
  json.Key("version").String(tls.version);
  json.Key("cipher").String(tls.cipher);
  json.Key("chain_verified").Bool(tls.chain_verified);
  json.Key("hostname_verified").Bool(tls.hostname_verified);
  json.Key("verified").Bool(tls.verified());
  json.Key("verify_error").String(tls.verify_error);
  json.Key("verified_name").String(tls.verified_name);
  json.Key("earliest_not_after").Integer(tls.earliest_not_after);
  json.Key("chain").BeginArray();
  for (const CertificateInfo& certificate : tls.chain) {
    json.BeginObject();
    json.Key("subject").String(certificate.subject);
    json.Key("issuer").String(certificate.issuer);
    json.Key("serial").String(certificate.serial);
    json.Key("not_before").Integer(certificate.not_before);
    json.Key("not_after").Integer(certificate.not_after);
    json.Key("dns_names").Strings(certificate.dns_names);
    json.EndObject();
  }
  json.EndArray();
  json.EndObject();
}

void WriteRelay(JsonWriter& json, const RelayResult& relay, const RelayJudgement& judgement) {
  json.BeginObject();
  json.Key("verdict").String(ToString(judgement.verdict));
  json.Key("summary").String(judgement.summary);
  json.Key("ran").Bool(relay.ran);
  json.Key("open").Bool(judgement.verdict == RelayVerdict::kOpen);
  json.Key("complete").Bool(relay.ran && relay.complete());
  json.Key("catch_all").OptionalBool(judgement.catch_all);
  json.Key("over_tls").Bool(relay.over_tls);
  json.Key("reconnects").Integer(relay.reconnects);
  json.Key("stop_reason").String(ToString(relay.stop_reason));
  json.Key("stop_detail").String(relay.stop_detail);
  json.Key("attempts").BeginArray();
  for (const RelayAttempt& attempt : relay.attempts) {
    json.BeginObject();
    json.Key("variant").String(attempt.variant);
    json.Key("mail_from").String(attempt.mail_from);
    json.Key("rcpt_to").String(attempt.rcpt_to);
    json.Key("hack").Bool(attempt.hack);
    json.Key("mail_code").Integer(attempt.mail_code);
    json.Key("rcpt_code").Integer(attempt.rcpt_code);
    json.Key("outcome").String(ToString(attempt.outcome));
    json.EndObject();
  }
  json.EndArray();
  json.Key("catch_all_checks").BeginArray();
  for (const CatchAllCheck& check : relay.catch_all_checks) {
    json.BeginObject();
    json.Key("domain").String(check.domain);
    json.Key("rcpt_to").String(check.rcpt_to);
    json.Key("mail_code").Integer(check.mail_code);
    json.Key("rcpt_code").Integer(check.rcpt_code);
    json.Key("accepted").OptionalBool(check.accepted);
    json.EndObject();
  }
  json.EndArray();
  json.EndObject();
}

// The domain checks: null when not asked for (JSON keys mta_sts, tls_rpt, dnsbl).
void WriteMtaSts(JsonWriter& json, const ProbeResult& result) {
  if (!result.mta_sts) return json.Null();
  const MtaStsResult& sts = *result.mta_sts;
  json.BeginObject();
  json.Key("record").String(ToString(sts.record.status));
  json.Key("id").String(sts.record.id);
  json.Key("record_detail").String(sts.record.detail);
  json.Key("url").String(sts.url);
  json.Key("fetch");
  sts.fetch ? json.String(ToString(*sts.fetch)) : json.Null();
  json.Key("http_status").Integer(sts.http_status);
  json.Key("fetch_detail").String(sts.fetch_detail);
  json.Key("policy");
  if (sts.policy) {
    json.BeginObject();
    json.Key("mode").String(ToString(sts.policy->mode));
    json.Key("max_age").Integer(sts.policy->max_age);
    json.Key("mx").Strings(sts.policy->mx_patterns);
    json.EndObject();
  } else {
    json.Null();
  }
  json.Key("mx_matches").OptionalBool(sts.mx_matches);
  const std::optional<MtaStsDelivery> delivery = JudgeMtaStsDelivery(result);
  json.Key("deliverable");
  delivery ? json.Bool(delivery->ok) : json.Null();
  json.Key("delivery_detail").String(delivery ? delivery->reason : "");
  json.EndObject();
}

void WriteTlsRpt(JsonWriter& json, const Boxed<TlsRptResult>& tls_rpt) {
  if (!tls_rpt) return json.Null();
  json.BeginObject();
  json.Key("status").String(ToString(tls_rpt->status));
  json.Key("record").String(tls_rpt->record);
  json.Key("rua").Strings(tls_rpt->rua);
  json.Key("detail").String(tls_rpt->detail);
  json.EndObject();
}

void WriteDane(JsonWriter& json, const Boxed<DaneResult>& dane) {
  if (!dane) return json.Null();
  json.BeginObject();
  json.Key("name").String(dane->name);
  json.Key("status").String(ToString(dane->status));
  json.Key("authenticated").Bool(dane->authenticated);
  json.Key("records").BeginArray();
  for (const TlsaRecord& record : dane->records) json.String(ToString(record));
  json.EndArray();
  json.Key("matched").String(dane->matched);
  json.Key("detail").String(dane->detail);
  json.EndObject();
}

void WriteDnsbl(JsonWriter& json, const std::vector<DnsblResult>& dnsbl) {
  if (dnsbl.empty()) return json.Null();
  json.BeginObject();
  bool listed = false;
  for (const DnsblResult& entry : dnsbl) listed = listed || entry.status == DnsblStatus::kListed;
  json.Key("listed").Bool(listed);
  json.Key("results").BeginArray();
  for (const DnsblResult& entry : dnsbl) {
    json.BeginObject();
    json.Key("zone").String(entry.zone);
    json.Key("address").String(entry.address);
    json.Key("status").String(ToString(entry.status));
    json.Key("codes").Strings(entry.codes);
    json.Key("reason").String(entry.reason);
    json.Key("detail").String(entry.detail);
    json.EndObject();
  }
  json.EndArray();
  json.EndObject();
}

void ReportDomainChecks(const ProbeResult& result, std::ostringstream& out) {
  if (result.mta_sts) {
    const MtaStsResult& sts = *result.mta_sts;
    out << "mta-sts:      record " << ToString(sts.record.status);
    if (!sts.record.id.empty()) out << " id=" << sts.record.id;
    if (!sts.record.detail.empty()) out << " (" << sts.record.detail << ")";
    out << "\n";
    if (sts.fetch) {
      out << "  policy      " << sts.url << ": " << ToString(*sts.fetch);
      if (sts.policy) {
        out << ", mode " << ToString(sts.policy->mode) << ", max_age " << sts.policy->max_age
            << ", mx " << Join(sts.policy->mx_patterns, " ");
      }
      if (!sts.fetch_detail.empty()) out << " (" << sts.fetch_detail << ")";
      out << "\n";
    }
    if (const std::optional<MtaStsDelivery> delivery = JudgeMtaStsDelivery(result)) {
      out << "  this MX     " << (delivery->ok ? "meets the policy" : "FAILS the policy: ")
          << delivery->reason << "\n";
    }
  }
  if (result.tls_rpt) {
    out << "tls-rpt:      " << ToString(result.tls_rpt->status);
    if (!result.tls_rpt->rua.empty()) out << " " << Join(result.tls_rpt->rua, ", ");
    if (!result.tls_rpt->detail.empty()) out << " (" << result.tls_rpt->detail << ")";
    out << "\n";
  }
  if (const Boxed<DaneResult>& dane = result.dane) {
    out << "dane:         " << dane->name << " " << ToString(dane->status);
    if (!dane->records.empty()) {
      out << " (" << dane->records.size() << " TLSA, " << (dane->authenticated ? "AD" : "no AD")
          << ")";
    }
    if (!dane->matched.empty()) out << " matched " << dane->matched;
    if (!dane->detail.empty()) out << ": " << dane->detail;
    out << "\n";
  }
  for (const DnsblResult& entry : result.dnsbl) {
    out << "dnsbl:        " << entry.zone << " " << entry.address << " " << ToString(entry.status);
    if (!entry.codes.empty()) out << " " << Join(entry.codes, ",");
    if (!entry.reason.empty()) out << " \"" << entry.reason << "\"";
    if (!entry.detail.empty()) out << " (" << entry.detail << ")";
    out << "\n";
  }
}

// The sections of FormatReport.
void ReportSteps(const ProbeResult& result, std::ostringstream& out) {
  out << "\nsteps:\n";
  for (const StepResult& step : result.steps) {
    char line[160];
    std::snprintf(line, sizeof line, "  %-12s %10s  %-4s %-7s %s\n", ToString(step.step),
                  Milliseconds(step.duration).c_str(),
                  step.reply_code ? std::to_string(step.reply_code).c_str() : "-",
                  step.ok ? "ok" : "FAILED", step.ok ? "" : ToString(step.reason));
    out << line;
  }
  out << "  total        " << Milliseconds(result.duration) << "\n";
}

void ReportTls(const TlsInfo& tls, std::ostringstream& out) {
  out << "tls:          " << tls.version << " " << tls.cipher << "\n";
  if (!tls.chain.empty()) {
    out << "certificate:  " << tls.chain.front().subject << "\n";
    out << "  issuer      " << tls.chain.front().issuer << "\n";
    out << "  serial      " << tls.chain.front().serial << "\n";
  }
  if (tls.earliest_not_after != 0) {
    out << "  expires     " << UtcTime(tls.earliest_not_after) << " (earliest in chain)\n";
  }
  out << "  verified    "
      << (tls.verified() ? "yes, for " + tls.verified_name : "NO: " + tls.verify_error) << "\n";
}

void ReportRelay(const RelayResult& relay, const RelayJudgement& judgement,
                 std::ostringstream& out) {
  out << "relay test:   " << judgement.summary << "\n";
  for (const CatchAllCheck& check : relay.catch_all_checks) {
    char line[512];
    std::snprintf(line, sizeof line, "  %-18s %-14s MAIL %s RCPT %s  %s\n", "catch-all check",
                  !check.accepted   ? "no answer"
                  : *check.accepted ? "accepted"
                                    : "refused",
                  ReplyCodeText(check.mail_code).c_str(), ReplyCodeText(check.rcpt_code).c_str(),
                  check.rcpt_to.c_str());
    out << line;
  }
  for (const RelayAttempt& attempt : relay.attempts) {
    char line[512];
    std::snprintf(line, sizeof line, "  %-18s %-14s MAIL %s RCPT %s  %s -> %s\n",
                  attempt.variant.c_str(), ToString(attempt.outcome),
                  ReplyCodeText(attempt.mail_code).c_str(),
                  ReplyCodeText(attempt.rcpt_code).c_str(), attempt.mail_from.c_str(),
                  attempt.rcpt_to.c_str());
    out << line;
  }
  if (judgement.catch_all) {
    out << "catch-all:    "
        << (*judgement.catch_all ? "yes, a random local part is accepted at RCPT"
                                 : "no, a random local part is refused at RCPT")
        << "\n";
  }
}

void WriteSteps(JsonWriter& json, const std::vector<StepResult>& steps) {
  json.BeginArray();
  for (const StepResult& step : steps) {
    json.BeginObject();
    json.Key("step").String(ToString(step.step));
    json.Key("duration_seconds").Number(Seconds(step.duration));
    json.Key("reply_code").Integer(step.reply_code);
    json.Key("enhanced_code").String(step.enhanced_code ? step.enhanced_code->ToString() : "");
    json.Key("ok").Bool(step.ok);
    json.Key("reason").String(ToString(step.reason));
    json.Key("detail").String(*step.detail);
    json.EndObject();
  }
  json.EndArray();
}

// Whenever a greeting was read; its name, software and version only from a 220 greeting.
void WriteGreeting(JsonWriter& json, const ProbeResult& result) {
  const StepResult* greeting = result.FindStep(Step::kGreeting);
  if (greeting == nullptr || greeting->reply_code == 0) {
    json.Null();
    return;
  }
  json.BeginObject();
  json.Key("code").Integer(greeting->reply_code);
  const auto optional_string = [&json](const std::string* text) {
    text ? json.String(*text) : json.Null();
  };
  const GreetingInfo* info = result.greeting ? &*result.greeting : nullptr;
  json.Key("hostname");
  optional_string(info ? &info->hostname : nullptr);
  json.Key("software");
  optional_string(info ? &info->software : nullptr);
  json.Key("version");
  optional_string(info ? &info->version : nullptr);
  json.Key("lines").Strings(result.greeting_lines);
  json.EndObject();
}

void WriteDns(JsonWriter& json, const DnsInfo& dns) {
  json.BeginObject();
  json.Key("addresses").Strings(dns.addresses);
  json.Key("connected_address").String(dns.connected_address);
  json.Key("ptr_names").Strings(dns.ptr_names);
  json.Key("fcrdns_match").OptionalBool(dns.fcrdns_match);
  json.Key("banner_matches_ptr").OptionalBool(dns.banner_matches_ptr);
  json.EndObject();
}

void WriteTranscript(JsonWriter& json, const Transcript& transcript) {
  json.BeginArray();
  for (const TranscriptLine line : transcript) {
    json.BeginObject();
    json.Key("at_seconds").Number(Seconds(line.at));
    json.Key("direction").String(std::string(1, line.direction));
    json.Key("text").String(line.text);
    json.EndObject();
  }
  json.EndArray();
}

}  // namespace

std::string FormatTranscript(const ProbeResult& result) {
  std::string text;
  for (const TranscriptLine line : result.transcript) {
    char prefix[32];
    std::snprintf(prefix, sizeof prefix, "[%8.1f ms] ",
                  std::chrono::duration<double, std::milli>(line.at).count());
    text += prefix;
    text += line.direction == '*' ? std::string("   ") : std::string(1, line.direction) + ": ";
    text += line.text;
    text += '\n';
  }
  // Server text goes to terminals and text/plain pages: no control byte reaches them raw.
  return EscapeTerminalText(text);
}

std::string FormatReport(const ProbeResult& result, const Verdict& verdict) {
  std::ostringstream out;
  ReportSteps(result, out);
  if (result.greeting) {
    out << "\ngreeting:     " << result.greeting->hostname;
    if (!result.greeting->software.empty()) out << " (" << result.greeting->software;
    if (!result.greeting->version.empty()) out << " " << result.greeting->version;
    if (!result.greeting->software.empty()) out << ")";
    out << "\n";
  }
  if (result.esmtp) out << "esmtp:        " << (*result.esmtp ? "yes" : "no (HELO only)") << "\n";
  auto keywords = [](const Capabilities& capabilities) {
    std::vector<std::string> words;
    for (const Extension& extension : capabilities.extensions) {
      words.emplace_back(extension.text());
    }
    return Join(words, ", ");
  };
  if (result.capabilities && result.esmtp.value_or(false)) {
    out << "extensions:   " << keywords(*result.capabilities) << "\n";
  }
  if (result.tls_capabilities)
    out << "after TLS:    " << keywords(*result.tls_capabilities) << "\n";
  if (!result.implicit_tls && result.starttls_offered) {
    out << "starttls:     " << (*result.starttls_offered ? "offered" : "not offered");
    if (result.starttls_success) out << (*result.starttls_success ? ", succeeded" : ", FAILED");
    if (!result.starttls_error->empty()) out << " (" << *result.starttls_error << ")";
    if (result.plaintext_fallback) out << "; went on in plaintext";
    out << "\n";
  }
  if (result.tls && result.tls->handshake_ok) ReportTls(*result.tls, out);
  if (result.relay->ran) ReportRelay(result.relay, verdict.relay, out);
  for (const EnumerationCheck& check : result.user_enumeration->checks) {
    out << "user enum:    " << check.method << " " << ToString(check.result) << " ("
        << check.real_name << " " << check.real_code << ", random " << check.random_code << ")"
        << "\n";
  }
  if (result.auth->attempted) {
    const AuthResult& auth = result.auth;
    out << "auth:         " << ToString(auth.outcome) << " as " << auth.username;
    if (!auth.mechanism.empty()) out << " with " << auth.mechanism;
    out << (auth.over_tls ? " over TLS" : " in PLAINTEXT");
    if (auth.server_verified) out << ", server signature verified";
    out << "\n";
  }
  if (!result.dns.ptr_names.empty() || result.dns.fcrdns_match) {
    out << "reverse dns:  "
        << (result.dns.ptr_names.empty() ? "(none)" : Join(result.dns.ptr_names, ", "));
    if (result.dns.fcrdns_match)
      out << (*result.dns.fcrdns_match ? ", forward-confirmed" : ", NOT forward-confirmed");
    out << "\n";
  }
  ReportDomainChecks(result, out);
  for (const std::string& finding : verdict.findings) out << "finding:      " << finding << "\n";
  out << "\nverdict:      " << verdict.summary << "\n";
  return EscapeTerminalText(out.str());
}

std::string ToJson(const ProbeResult& result, const Verdict& verdict) {
  JsonWriter json;
  json.BeginObject();
  json.Key("target").String(result.host + ":" + std::to_string(result.port));
  json.Key("healthy").Bool(verdict.healthy);
  json.Key("up").Bool(verdict.up);
  json.Key("verdict").String(verdict.summary);
  json.Key("findings").Strings(verdict.findings);
  json.Key("success").Bool(result.success);
  json.Key("failed_step");
  result.failed_step ? json.String(ToString(*result.failed_step)) : json.Null();
  json.Key("failure_reason").String(ToString(result.failure_reason));
  json.Key("failure_detail").String(result.failure_detail);
  json.Key("duration_seconds").Number(Seconds(result.duration));
  json.Key("started_at")
      .Number(std::chrono::duration<double>(result.started_at.time_since_epoch()).count());

  json.Key("steps");
  WriteSteps(json, result.steps);
  json.Key("greeting");
  WriteGreeting(json, result);
  json.Key("esmtp").OptionalBool(result.esmtp);
  json.Key("capabilities");
  WriteCapabilities(json, ValuePointer(result.capabilities));
  json.Key("tls_capabilities");
  WriteCapabilities(json, ValuePointer(result.tls_capabilities));

  json.Key("starttls").BeginObject();
  json.Key("offered").OptionalBool(result.starttls_offered);
  json.Key("success").OptionalBool(result.starttls_success);
  json.Key("error").String(*result.starttls_error);
  json.Key("plaintext_fallback").Bool(result.plaintext_fallback);
  json.Key("plaintext_after_starttls").Bool(result.plaintext_after_starttls);
  json.EndObject();
  json.Key("implicit_tls").Bool(result.implicit_tls);

  json.Key("tls");
  if (result.tls) {
    WriteTls(json, *result.tls);
  } else {
    json.Null();
  }
  json.Key("relay");
  WriteRelay(json, result.relay, verdict.relay);
  // Never the password: the result does not hold it.
  json.Key("auth");
  if (result.auth->attempted) {
    json.BeginObject();
    json.Key("success").Bool(result.auth->success());
    json.Key("outcome").String(ToString(result.auth->outcome));
    json.Key("username").String(result.auth->username);
    json.Key("mechanism").String(result.auth->mechanism);
    json.Key("over_tls").Bool(result.auth->over_tls);
    json.Key("server_verified").Bool(result.auth->server_verified);
    json.EndObject();
  } else {
    json.Null();
  }
  json.Key("user_enumeration");
  if (result.user_enumeration->ran) {
    json.BeginArray();
    for (const EnumerationCheck& check : result.user_enumeration->checks) {
      json.BeginObject();
      json.Key("method").String(check.method);
      json.Key("result").String(ToString(check.result));
      json.Key("name").String(check.real_name);
      json.Key("name_code").Integer(check.real_code);
      json.Key("random_name").String(check.random_name);
      json.Key("random_code").Integer(check.random_code);
      json.EndObject();
    }
    json.EndArray();
  } else {
    json.Null();
  }
  json.Key("reply_anomalies").Strings(result.reply_anomalies);

  json.Key("dns");
  WriteDns(json, result.dns);
  json.Key("mta_sts");
  WriteMtaSts(json, result);
  json.Key("tls_rpt");
  WriteTlsRpt(json, result.tls_rpt);
  json.Key("dane");
  WriteDane(json, result.dane);
  json.Key("dnsbl");
  WriteDnsbl(json, result.dnsbl);
  json.Key("transcript");
  WriteTranscript(json, result.transcript);
  json.EndObject();
  return json.Take() + "\n";
}

}  // namespace smtp

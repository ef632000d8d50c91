#include "probes/result_format.h"

#include <cinttypes>
#include <cstdio>
#include <sstream>

#include "probes/text.h"

namespace smtp {
namespace {

constexpr std::int64_t kSecondsPerDay = 86400;
constexpr std::int64_t kExpiryWarningDays = 14;

double Seconds(std::chrono::nanoseconds duration) {
  return std::chrono::duration<double>(duration).count();
}

std::string Milliseconds(std::chrono::nanoseconds duration) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.1f ms",
                std::chrono::duration<double, std::milli>(duration).count());
  return buffer;
}

std::string UtcDate(std::int64_t unix_seconds) {
  std::time_t time = static_cast<std::time_t>(unix_seconds);
  std::tm parts{};
  gmtime_r(&time, &parts);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%d %H:%M:%S UTC", &parts);
  return buffer;
}

std::string Join(const std::vector<std::string>& items, const char* separator) {
  std::string joined;
  for (const std::string& item : items) {
    if (!joined.empty()) joined += separator;
    joined += item;
  }
  return joined;
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
  void Number(double value) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.6g", value);
    Value(buffer);
  }
  void Integer(std::int64_t value) { Value(std::to_string(value)); }
  void Bool(bool value) { Value(value ? "true" : "false"); }
  void Null() { Value("null"); }
  void Strings(const std::vector<std::string>& items) {
    BeginArray();
    for (const std::string& item : items) String(item);
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
  // Servers may send anything: valid UTF-8 passes through, control characters are escaped and
  // invalid bytes become U+FFFD, so the output is always valid JSON (RFC 8259 §7, §8.1).
  void AppendString(std::string_view text) {
    out_ += '"';
    for (std::size_t i = 0; i < text.size();) {
      const unsigned char c = static_cast<unsigned char>(text[i]);
      if (c >= 0x80) {
        const std::size_t length = Utf8SequenceLength(text.substr(i));
        if (length == 0) {
          out_ += "\\ufffd";
          ++i;
        } else {
          out_.append(text.substr(i, length));
          i += length;
        }
        continue;
      }
      switch (c) {
        case '"':
          out_ += "\\\"";
          break;
        case '\\':
          out_ += "\\\\";
          break;
        case '\n':
          out_ += "\\n";
          break;
        case '\r':
          out_ += "\\r";
          break;
        case '\t':
          out_ += "\\t";
          break;
        default:
          if (c < 0x20 || c == 0x7f) {
            char escape[8];
            std::snprintf(escape, sizeof escape, "\\u%04x", c);
            out_ += escape;
          } else {
            out_ += static_cast<char>(c);
          }
      }
      ++i;
    }
    out_ += '"';
  }

  std::string out_;
  std::vector<bool> stack_;  // per open container: no element written yet
  bool after_key_ = false;
};

void WriteCapabilities(JsonWriter& json, const std::optional<Capabilities>& capabilities) {
  if (!capabilities) {
    json.Null();
    return;
  }
  json.BeginObject();
  json.Key("domain").String(capabilities->domain);
  json.Key("extensions").BeginArray();
  for (const Extension& extension : capabilities->extensions) {
    json.BeginObject();
    json.Key("keyword").String(extension.keyword);
    json.Key("parameters").Strings(extension.parameters);
    json.EndObject();
  }
  json.EndArray();
  json.Key("size_limit");
  capabilities->size_limit ? json.Integer(static_cast<std::int64_t>(*capabilities->size_limit))
                           : json.Null();
  json.Key("auth_mechanisms").Strings(capabilities->auth_mechanisms);
  json.EndObject();
}

}  // namespace

Verdict Judge(const ProbeResult& result, std::int64_t now_unix_seconds) {
  Verdict verdict;
  verdict.healthy = result.success && !result.relay.open;
  if (!result.success) {
    const StepResult* failed = result.failed_step ? result.FindStep(*result.failed_step) : nullptr;
    verdict.summary = std::string("DOWN: ") +
                      (result.failed_step ? ToString(*result.failed_step) : "probe") + " failed (" +
                      ToString(result.failure_reason) + ")";
    if (failed != nullptr && failed->reply_code != 0) {
      verdict.summary += ", reply " + std::to_string(failed->reply_code);
    }
    if (!result.failure_detail.empty()) verdict.summary += ": " + result.failure_detail;
  } else if (result.relay.open) {
    verdict.summary = "UNHEALTHY: open relay (a foreign recipient was accepted at RCPT)";
  } else {
    verdict.summary = "UP";
  }

  auto& findings = verdict.findings;
  if (result.esmtp && !*result.esmtp) findings.push_back("EHLO refused: plain SMTP (HELO) only");
  if (result.esmtp && *result.esmtp && !result.starttls_offered && !result.implicit_tls) {
    findings.push_back("STARTTLS not offered");
  }
  if (result.starttls_success && !*result.starttls_success) findings.push_back("STARTTLS failed");
  if (result.plaintext_after_starttls) {
    findings.push_back("server sent plaintext after its STARTTLS 220 (discarded; RFC 3207 §4.2)");
  }
  if (result.capabilities && !result.capabilities->auth_mechanisms.empty() &&
      !result.implicit_tls) {
    findings.push_back("AUTH offered before TLS: " +
                       Join(result.capabilities->auth_mechanisms, " "));
  }
  if (result.tls && result.tls->handshake_ok) {
    if (!result.tls->verified()) {
      findings.push_back("certificate not verified: " + result.tls->verify_error);
    }
    const std::int64_t not_after = result.tls->earliest_not_after;
    if (not_after != 0 && not_after <= now_unix_seconds) {
      findings.push_back("certificate expired on " + UtcDate(not_after));
    } else if (not_after != 0 &&
               not_after - now_unix_seconds < kExpiryWarningDays * kSecondsPerDay) {
      findings.push_back("certificate expires in " +
                         std::to_string((not_after - now_unix_seconds) / kSecondsPerDay) + " days");
    }
  }
  for (const RelayAttempt& attempt : result.relay.attempts) {
    if (attempt.outcome == RelayOutcome::kInconclusive) {
      findings.push_back("relay variant " + attempt.variant + " inconclusive (" +
                         std::to_string(attempt.rcpt_code ? attempt.rcpt_code : attempt.mail_code) +
                         ")");
    }
  }
  if (result.dns.fcrdns_match && !*result.dns.fcrdns_match) {
    findings.push_back("reverse DNS is not forward-confirmed");
  }
  if (result.dns.banner_matches_ptr && !*result.dns.banner_matches_ptr) {
    findings.push_back("banner hostname does not match reverse DNS");
  }
  return verdict;
}

std::string FormatTranscript(const ProbeResult& result) {
  std::string text;
  for (const TranscriptLine& line : result.transcript) {
    char prefix[32];
    std::snprintf(prefix, sizeof prefix, "[%8.1f ms] ",
                  std::chrono::duration<double, std::milli>(line.at).count());
    text += prefix;
    text += line.direction == '*' ? std::string("   ") : std::string(1, line.direction) + ": ";
    text += line.text;
    text += '\n';
  }
  return text;
}

std::string FormatReport(const ProbeResult& result, const Verdict& verdict) {
  std::ostringstream out;
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
      words.push_back(extension.parameters.empty()
                          ? extension.keyword
                          : extension.keyword + " " + Join(extension.parameters, " "));
    }
    return Join(words, ", ");
  };
  if (result.capabilities && result.esmtp.value_or(false)) {
    out << "extensions:   " << keywords(*result.capabilities) << "\n";
  }
  if (result.tls_capabilities)
    out << "after TLS:    " << keywords(*result.tls_capabilities) << "\n";
  if (!result.implicit_tls) {
    out << "starttls:     " << (result.starttls_offered ? "offered" : "not offered");
    if (result.starttls_success) out << (*result.starttls_success ? ", succeeded" : ", FAILED");
    out << "\n";
  }
  if (result.tls && result.tls->handshake_ok) {
    const TlsInfo& tls = *result.tls;
    out << "tls:          " << tls.version << " " << tls.cipher << "\n";
    if (!tls.chain.empty()) {
      out << "certificate:  " << tls.chain.front().subject << "\n";
      out << "  issuer      " << tls.chain.front().issuer << "\n";
      out << "  serial      " << tls.chain.front().serial << "\n";
    }
    if (tls.earliest_not_after != 0) {
      out << "  expires     " << UtcDate(tls.earliest_not_after) << " (earliest in chain)\n";
    }
    out << "  verified    "
        << (tls.verified() ? "yes, for " + tls.verified_name : "NO: " + tls.verify_error) << "\n";
  }
  if (result.relay.ran) {
    out << "relay test:   " << (result.relay.open ? "OPEN RELAY" : "not open") << "\n";
    for (const RelayAttempt& attempt : result.relay.attempts) {
      char line[512];
      std::snprintf(line, sizeof line, "  %-18s %-14s MAIL %d RCPT %s  %s -> %s\n",
                    attempt.variant.c_str(), ToString(attempt.outcome), attempt.mail_code,
                    attempt.rcpt_code ? std::to_string(attempt.rcpt_code).c_str() : "-",
                    attempt.mail_from.c_str(), attempt.rcpt_to.c_str());
      out << line;
    }
  }
  if (!result.dns.ptr_names.empty() || result.dns.fcrdns_match) {
    out << "reverse dns:  "
        << (result.dns.ptr_names.empty() ? "(none)" : Join(result.dns.ptr_names, ", "));
    if (result.dns.fcrdns_match)
      out << (*result.dns.fcrdns_match ? ", forward-confirmed" : ", NOT forward-confirmed");
    out << "\n";
  }
  for (const std::string& finding : verdict.findings) out << "finding:      " << finding << "\n";
  out << "\nverdict:      " << verdict.summary << "\n";
  return out.str();
}

std::string ToJson(const ProbeResult& result, const Verdict& verdict) {
  JsonWriter json;
  json.BeginObject();
  json.Key("target").String(result.host + ":" + std::to_string(result.port));
  json.Key("healthy").Bool(verdict.healthy);
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

  json.Key("steps").BeginArray();
  for (const StepResult& step : result.steps) {
    json.BeginObject();
    json.Key("step").String(ToString(step.step));
    json.Key("duration_seconds").Number(Seconds(step.duration));
    json.Key("reply_code").Integer(step.reply_code);
    json.Key("enhanced_code").String(step.enhanced_code);
    json.Key("ok").Bool(step.ok);
    json.Key("reason").String(ToString(step.reason));
    json.Key("detail").String(step.detail);
    json.EndObject();
  }
  json.EndArray();

  json.Key("greeting");
  if (result.greeting) {
    json.BeginObject();
    json.Key("hostname").String(result.greeting->hostname);
    json.Key("software").String(result.greeting->software);
    json.Key("version").String(result.greeting->version);
    json.Key("lines").Strings(result.greeting_lines);
    json.EndObject();
  } else {
    json.Null();
  }
  json.Key("esmtp").OptionalBool(result.esmtp);
  json.Key("capabilities");
  WriteCapabilities(json, result.capabilities);
  json.Key("tls_capabilities");
  WriteCapabilities(json, result.tls_capabilities);

  json.Key("starttls").BeginObject();
  json.Key("offered").Bool(result.starttls_offered);
  json.Key("success").OptionalBool(result.starttls_success);
  json.Key("plaintext_after_starttls").Bool(result.plaintext_after_starttls);
  json.EndObject();
  json.Key("implicit_tls").Bool(result.implicit_tls);

  json.Key("tls");
  if (result.tls) {
    const TlsInfo& tls = *result.tls;
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
  } else {
    json.Null();
  }

  json.Key("relay").BeginObject();
  json.Key("ran").Bool(result.relay.ran);
  json.Key("open").Bool(result.relay.open);
  json.Key("attempts").BeginArray();
  for (const RelayAttempt& attempt : result.relay.attempts) {
    json.BeginObject();
    json.Key("variant").String(attempt.variant);
    json.Key("mail_from").String(attempt.mail_from);
    json.Key("rcpt_to").String(attempt.rcpt_to);
    json.Key("mail_code").Integer(attempt.mail_code);
    json.Key("rcpt_code").Integer(attempt.rcpt_code);
    json.Key("outcome").String(ToString(attempt.outcome));
    json.EndObject();
  }
  json.EndArray();
  json.EndObject();

  json.Key("dns").BeginObject();
  json.Key("addresses").Strings(result.dns.addresses);
  json.Key("connected_address").String(result.dns.connected_address);
  json.Key("ptr_names").Strings(result.dns.ptr_names);
  json.Key("fcrdns_match").OptionalBool(result.dns.fcrdns_match);
  json.Key("banner_matches_ptr").OptionalBool(result.dns.banner_matches_ptr);
  json.EndObject();

  json.Key("transcript").BeginArray();
  for (const TranscriptLine& line : result.transcript) {
    json.BeginObject();
    json.Key("at_seconds").Number(Seconds(line.at));
    json.Key("direction").String(std::string(1, line.direction));
    json.Key("text").String(line.text);
    json.EndObject();
  }
  json.EndArray();
  json.EndObject();
  return json.Take() + "\n";
}

}  // namespace smtp

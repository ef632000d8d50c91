#include "daemon/status_table.h"

#include <algorithm>
#include <iterator>
#include <set>
#include <string_view>

#include "daemon/status_html.h"
#include "probes/escape.h"
#include "probes/result_format.h"
#include "probes/text.h"

namespace smtp::status_html {
namespace {

constexpr std::size_t kMaxKeywordChars = 24;
constexpr std::size_t kMaxKeywordsShown = 16;
constexpr std::size_t kMaxLabelChars = 40;

void AppendTargetCell(std::string& out, const StatusTarget& target) {
  out += "<th scope=\"row\"" + Title(target.snapshot.target) + ">";
  out += Text(target.snapshot.target, kMaxHostChars);
  out += "<span class=\"sub\">";
  out += "<span class=\"tag\" title=\"module\">" + Text(target.module, kMaxLabelChars) + "</span>";
  for (const auto& [name, value] : target.snapshot.labels) {
    out += "<span class=\"tag\">" + Text(name, kMaxLabelChars) + "=" + Text(value, kMaxLabelChars) +
           "</span>";
  }
  out += "</span></th>";
}

void Cell(std::string& out, std::string_view label, std::string_view css_class,
          std::string_view content) {
  out += "<td data-label=\"";
  out += label;
  out += "\"";
  if (!css_class.empty()) {
    out += " class=\"";
    out += css_class;
    out += "\"";
  }
  out += ">";
  out += content;
  out += "</td>";
}

std::string ProblemCell(const TargetSnapshot& snapshot, StatusState state,
                        const ReportedRelay& relay) {
  if (state == StatusState::kPending) return "<span class=\"muted\">not probed yet</span>";
  const ProbeResult& result = *snapshot.last;
  if (!result.success) {
    std::string html = "<span class=\"bad\">";
    html += result.failed_step ? ToString(*result.failed_step) : "probe";
    html += "</span>: ";
    html += ToString(result.failure_reason);
    const StepResult* failed = result.failed_step ? result.FindStep(*result.failed_step) : nullptr;
    if (failed != nullptr &&
        failed->reply_code >= 400) {  // a 220 before a failed handshake is no news
      html += " <span class=\"nowrap\">" + std::to_string(failed->reply_code);
      if (failed->enhanced_code) html += " " + Text(failed->enhanced_code->ToString(), 12);
      html += "</span>";
    }
    std::string detail = result.failure_detail;
    if (detail.empty() && failed != nullptr) detail = *failed->detail;
    if (!detail.empty()) {
      html += "<span class=\"detail\"" + Title(detail) + ">" + Text(detail, kMaxDetailChars) +
              "</span>";
    }
    return html;
  }
  if (relay.judgement.verdict == RelayVerdict::kOpen) {
    std::vector<std::string> accepted;
    for (const RelayAttempt& attempt : relay.result->attempts) {
      if (attempt.outcome == RelayOutcome::kAccepted) accepted.push_back(attempt.variant);
    }
    return "<span class=\"bad\">relay accepted</span><span class=\"detail\">" +
           Text(Join(accepted, ", "), kMaxDetailChars) + "</span>";
  }
  return std::string(kNone);
}

std::string BannerCell(const ProbeResult* result) {
  if (result == nullptr || !result->greeting) return std::string(kNone);
  const GreetingInfo& greeting = *result->greeting;
  std::string banner = result->greeting_lines.empty() ? "" : "220 " + result->greeting_lines[0];
  std::string html = "<span" + Title(banner) + ">";
  html += greeting.hostname.empty() ? "<span class=\"muted\">(no name)</span>"
                                    : Text(greeting.hostname, kMaxHostChars);
  html += "</span>";
  std::string software = greeting.software;
  if (!greeting.version.empty()) software += (software.empty() ? "" : " ") + greeting.version;
  if (!software.empty()) html += "<span class=\"sub\">" + Text(software, kMaxHostChars) + "</span>";
  return html;
}

std::vector<std::string> Keywords(const Capabilities& capabilities) {
  std::vector<std::string> keywords;
  for (const Extension& extension : capabilities.extensions) {
    keywords.emplace_back(extension.keyword());
  }
  return keywords;
}

// "SIZE 52428800, AUTH PLAIN LOGIN, ..." for the tooltip.
std::string ExtensionList(const Capabilities& capabilities) {
  std::vector<std::string> items;
  for (const Extension& extension : capabilities.extensions) items.emplace_back(extension.text());
  return items.empty() ? "(none)" : Join(items, ", ");
}

std::string KeywordList(std::vector<std::string> keywords, std::string_view prefix) {
  std::string html;
  std::size_t shown = 0;
  for (const std::string& keyword : keywords) {
    if (shown == kMaxKeywordsShown) {
      html += " +" + std::to_string(keywords.size() - shown) + " more";
      break;
    }
    if (shown++ > 0) html += " ";
    html += "<span class=\"k\">";
    html += prefix;
    html += Text(keyword, kMaxKeywordChars);
    html += "</span>";
  }
  return html;
}

std::string ExtensionsCell(const ProbeResult* result) {
  if (result == nullptr || !result->capabilities || !result->esmtp.value_or(false)) return "";
  const Capabilities& plain = *result->capabilities;
  std::string tooltip =
      (result->implicit_tls ? "over implicit TLS: " : "before TLS: ") + ExtensionList(plain);
  std::string html = KeywordList(Keywords(plain), "");
  if (plain.extensions.empty()) html = "(none)";
  if (result->tls_capabilities) {
    const Capabilities& secure = *result->tls_capabilities;
    tooltip += "\nafter STARTTLS: " + ExtensionList(secure);
    std::set<std::string> before;
    for (const Extension& e : plain.extensions) before.emplace(e.keyword());
    std::set<std::string> after;
    for (const Extension& e : secure.extensions) after.emplace(e.keyword());
    std::vector<std::string> added;
    std::vector<std::string> removed;
    std::set_difference(after.begin(), after.end(), before.begin(), before.end(),
                        std::back_inserter(added));
    std::set_difference(before.begin(), before.end(), after.begin(), after.end(),
                        std::back_inserter(removed));
    // STARTTLS disappearing after the upgrade is what RFC 3207 §4.2 asks for: not news.
    std::erase(removed, "STARTTLS");
    html += "<span class=\"after\">after TLS: ";
    if (added.empty() && removed.empty()) {
      html += "same";
    } else {
      html += KeywordList(added, "+");
      if (!added.empty() && !removed.empty()) html += " ";
      html += KeywordList(removed, "\xE2\x88\x92");  // minus sign
    }
    html += "</span>";
  }
  return "<span class=\"kw\"" + Title(tooltip) + ">" + html + "</span>";
}

// Greeting latency, and the whole probe's duration below it.
std::string LatencyCell(const ProbeResult* result) {
  if (result == nullptr) return std::string(kNone);
  const StepResult* greeting = result->FindStep(Step::kGreeting);
  std::string html =
      greeting != nullptr && greeting->ok ? FormatDuration(greeting->duration) : std::string(kNone);
  return html + "<span class=\"sub\">" + FormatDuration(result->duration) + " total</span>";
}

std::string EsmtpCell(const ProbeResult* result) {
  if (result == nullptr || !result->esmtp) return std::string(kNone);
  return *result->esmtp ? "ESMTP" : "<span class=\"warn\">HELO only</span>";
}

std::string StartTlsCell(const ProbeResult* result) {
  if (result == nullptr) return std::string(kNone);
  if (result->implicit_tls) {
    return HandshakeOf(*result) ? "<span class=\"ok\">implicit TLS</span>"
                                : "<span class=\"bad\">implicit TLS failed</span>";
  }
  if (result->starttls_success) {
    return *result->starttls_success ? "<span class=\"ok\">ok</span>"
                                     : "<span class=\"bad\">failed</span>";
  }
  if (!result->starttls_offered) return std::string(kNone);  // no EHLO reply: unknown
  if (*result->starttls_offered) return "offered";
  return "<span class=\"warn\">not offered</span>";
}

std::string TlsVersionCell(const ProbeResult* result) {
  const TlsInfo* tls = result ? HandshakeOf(*result) : nullptr;
  if (tls == nullptr) return "";
  return "<span class=\"sub\"><span class=\"tip\"" + Title(tls->cipher) + ">" +
         Text(tls->version, 16) + "</span></span>";
}

std::string CertificateCell(const ProbeResult* result, std::int64_t now) {
  const TlsInfo* tls = result ? HandshakeOf(*result) : nullptr;
  if (tls == nullptr || (tls->chain.empty() && tls->earliest_not_after == 0)) {
    return std::string(kNone);
  }
  std::string tooltip;
  if (!tls->chain.empty()) {
    tooltip += "subject: " + tls->chain.front().subject + "\nissuer: " + tls->chain.front().issuer;
    if (!tls->chain.front().dns_names.empty()) {
      tooltip += "\nnames: " + Join(tls->chain.front().dns_names, ", ");
    }
    tooltip += "\n";
  }
  std::string html;
  if (tls->earliest_not_after != 0) {
    tooltip += "earliest expiry in chain: " + UtcTime(tls->earliest_not_after) + "\n";
    const std::int64_t days = DaysLeft(tls->earliest_not_after, now);
    if (tls->earliest_not_after <= now) {
      html += "<span class=\"bad\">expired</span>";
    } else {
      const char* css_class = days < kCertificateCriticalDays  ? "bad"
                              : days < kCertificateWarningDays ? "warn"
                                                               : "ok";
      html +=
          "<span class=\"" + std::string(css_class) + "\">" + std::to_string(days) + " d</span>";
    }
  }
  if (tls->verified()) {
    tooltip += "verified for " + tls->verified_name;
    html += "<span class=\"sub ok\">\xE2\x9C\x93 verified</span>";  // check mark
  } else {
    const std::string why =
        tls->verify_error.empty() ? std::string("not verified") : tls->verify_error;
    tooltip += "NOT verified: " + why;
    html += "<span class=\"sub warn\">\xE2\x9C\x97 unverified</span>";  // ballot x
  }
  return "<span class=\"tip\"" + Title(tooltip) + ">" + html + "</span>";
}

// The domain checks (MTA-STS, TLS-RPT, DNSBL) of the latest probe, one line each; the verdict's
// findings about them are the tooltip.
std::string DomainCell(const ProbeResult* result) {
  if (result == nullptr ||
      (!result->mta_sts && !result->tls_rpt && !result->dane && result->dnsbl.empty())) {
    return std::string(kNone);
  }
  std::vector<std::string> lines;
  if (const Boxed<MtaStsResult>& sts = result->mta_sts) {
    const std::optional<MtaStsDelivery> delivery = JudgeMtaStsDelivery(*result);
    if (sts->policy) {
      const bool bad = delivery && !delivery->ok;
      lines.push_back(std::string("<span class=\"") + (bad ? "bad" : "ok") + "\">MTA-STS " +
                      ToString(sts->policy->mode) + (bad ? ": MX fails" : "") + "</span>");
    } else if (sts->fetch) {
      lines.push_back(std::string("<span class=\"bad\">MTA-STS policy ") + ToString(*sts->fetch) +
                      "</span>");
    } else if (sts->record.status == PolicyRecordStatus::kMissing) {
      lines.push_back("<span class=\"muted\">no MTA-STS</span>");
    } else {
      lines.push_back(std::string("<span class=\"warn\">MTA-STS record ") +
                      ToString(sts->record.status) + "</span>");
    }
  }
  if (result->tls_rpt) {
    const bool valid = result->tls_rpt->status == PolicyRecordStatus::kValid;
    lines.push_back(std::string("<span class=\"") + (valid ? "ok" : "warn") + "\">TLS-RPT " +
                    ToString(result->tls_rpt->status) + "</span>");
  }
  if (result->dane) {
    const DaneStatus status = result->dane->status;
    const char* css = status == DaneStatus::kMatch                                      ? "ok"
                      : status == DaneStatus::kNoRecords                                ? "muted"
                      : status == DaneStatus::kMismatch || status == DaneStatus::kNoTls ? "bad"
                                                                                        : "warn";
    lines.push_back(std::string("<span class=\"") + css + "\">DANE " + ToString(status) +
                    "</span>");
  }
  if (!result->dnsbl.empty()) {
    std::size_t listed = 0, unanswered = 0;
    for (const DnsblResult& entry : result->dnsbl) {
      listed += entry.status == DnsblStatus::kListed;
      unanswered += entry.status != DnsblStatus::kListed && entry.status != DnsblStatus::kNotListed;
    }
    const std::string of = " of " + std::to_string(result->dnsbl.size()) + " DNSBLs";
    // "No listing" only when every zone answered: a zone not asked (timeout) or refusing proves
    // nothing.
    lines.push_back(listed > 0
                        ? "<span class=\"bad\">listed in " + std::to_string(listed) + of + "</span>"
                    : unanswered > 0 ? "<span class=\"warn\">no answer from " +
                                           std::to_string(unanswered) + of + "</span>"
                                     : "<span class=\"ok\">no DNSBL listing</span>");
  }
  std::string tooltip;
  for (const std::string& finding : Judge(*result, 0).findings) {
    if (finding.starts_with("MTA-STS") || finding.starts_with("TLS-RPT") ||
        finding.starts_with("DANE") || finding.starts_with("DNSBL") ||
        finding.find(" is listed in ") != std::string::npos) {
      tooltip += (tooltip.empty() ? "" : "\n") + finding;
    }
  }
  std::string html = "<span class=\"tip\"" + Title(tooltip.empty() ? "no finding" : tooltip) + ">";
  for (std::size_t i = 0; i < lines.size(); ++i) {
    html += (i == 0 ? "" : "<br>") + lines[i];
  }
  return html + "</span>";
}

std::string RelayCell(const ReportedRelay& relay, std::int64_t now) {
  std::string html;
  switch (relay.judgement.verdict) {
    case RelayVerdict::kNotTested:
      return "<span class=\"muted\">not tested</span>";
    case RelayVerdict::kOpen:
      html = "<span class=\"badge relay\">OPEN</span>";
      break;
    case RelayVerdict::kInconclusive:
      html = "<span class=\"warn\">inconclusive</span>";
      break;
    case RelayVerdict::kClosed:
      html = "<span class=\"ok\">closed</span>";
      break;
  }
  std::string tooltip = relay.judgement.summary;
  if (relay.judgement.catch_all) {
    tooltip += *relay.judgement.catch_all ? "\ncatch-all: any local part accepted at RCPT"
                                          : "\ncatch-all: no";
  }
  for (const RelayAttempt& attempt : relay.result->attempts) {
    tooltip += "\n";
    tooltip += attempt.variant + ": " + ToString(attempt.outcome) + " (MAIL " +
               ReplyCodeText(attempt.mail_code) + ", RCPT " + ReplyCodeText(attempt.rcpt_code) +
               ")";
  }
  if (relay.ran_at) tooltip += "\ntested " + UtcTime(WholeUnixSeconds(*relay.ran_at));
  html = "<span class=\"tip\"" + Title(tooltip) + ">" + html + "</span>";
  if (relay.ran_at) {
    html += "<span class=\"sub\">" + FormatAge(now - WholeUnixSeconds(*relay.ran_at)) + "</span>";
  }
  return html;
}

void AppendRow(std::string& out, const StatusTarget& target, std::size_t index, std::int64_t now) {
  const TargetSnapshot& snapshot = target.snapshot;
  const ProbeResult* result = snapshot.last.get();
  const StatusState state = StateOf(snapshot);
  const ReportedRelay relay = ReportedRelayOf(snapshot);
  const std::string id = RowId(index);

  out += "<tr class=\"" + std::string(StateClass(state)) + "\" id=\"" + id + "\">";
  AppendTargetCell(out, target);
  Cell(out, "State", "",
       "<span class=\"badge " + std::string(StateClass(state)) + "\">" + ToString(state) +
           "</span>");
  Cell(out, "Problem", "problem", ProblemCell(snapshot, state, relay));
  Cell(out, "Banner", "banner", BannerCell(result));
  Cell(out, "Greeting", "num", LatencyCell(result));
  Cell(out, "SMTP", "smtp", EsmtpCell(result) + ExtensionsCell(result));
  Cell(out, "STARTTLS", "nowrap", StartTlsCell(result) + TlsVersionCell(result));
  Cell(out, "Certificate", "nowrap", CertificateCell(result, now));
  Cell(out, "Relay", "nowrap", RelayCell(relay, now));
  Cell(out, "Domain", "nowrap", DomainCell(result));
  if (result != nullptr) {
    const std::int64_t started = WholeUnixSeconds(result->started_at);
    Cell(out, "Last run", "num",
         "<span" + Title(UtcTime(started)) + ">" + FormatAge(now - started) +
             "</span><a class=\"sub\" href=\"" +
             EscapeHtml(TranscriptUrl(snapshot.target, target.module)) +
             "\" aria-label=\"Transcript of " + Text(snapshot.target, kMaxHostChars) +
             "\">transcript</a>");
  } else {
    Cell(out, "Last run", "num", kNone);
  }
  out += "</tr>\n";
}

// Header cells; a title explains the ones that hold two facts.
constexpr std::string_view kColumns[] = {
    "Target",
    "State",
    "Problem",
    "Banner",
    "<span class=\"tip\" title=\"banner latency, then the whole probe\">Greeting</span>",
    "<span class=\"tip\" title=\"ESMTP or HELO only; EHLO keywords, then what changed after "
    "STARTTLS\">SMTP</span>",
    "<span class=\"tip\" title=\"STARTTLS outcome, then the TLS version\">STARTTLS</span>",
    "<span class=\"tip\" title=\"days until the earliest expiry in the chain; verification"
    "\">Certificate</span>",
    "Relay",
    "<span class=\"tip\" title=\"mx: targets: MTA-STS policy and this MX against it, TLS-RPT "
    "record, DANE (TLSA) match, DNS blocklist listings\">Domain</span>",
    "Last run"};

}  // namespace

void AppendTargetTable(std::string& out, const std::vector<StatusTarget>& targets,
                       const std::vector<std::size_t>& order, std::int64_t now) {
  out +=
      "<div class=\"wrap\">\n<table>\n<caption>Latest probe per target, sorted by target; "
      "hover a dotted value for details.</caption>\n<thead><tr>";
  for (std::string_view column : kColumns) {
    out += "<th scope=\"col\">";
    out += column;
    out += "</th>";
  }
  out += "</tr></thead>\n<tbody>\n";
  if (order.empty()) {
    out += "<tr><td colspan=\"" + std::to_string(std::size(kColumns)) +
           "\" class=\"muted\">No targets configured.</td></tr>\n";
  }
  for (std::size_t row = 0; row < order.size(); ++row) {
    AppendRow(out, targets[order[row]], row, now);
  }
  out += "</tbody>\n</table>\n</div>\n";
}

}  // namespace smtp::status_html

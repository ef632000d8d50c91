// The status page (daemon/status_page.h, RenderStatusPage): the header, the summary chips, the
// "needs attention" links and the footer around the table of daemon/status_table.cc.
#include "daemon/status_page.h"

#include <algorithm>
#include <numeric>
#include <optional>
#include <tuple>
#include <utility>

#include "daemon/status_html.h"
#include "daemon/status_table.h"
#include "probes/escape.h"
#include "probes/text.h"

namespace smtp {
namespace {

using status_html::AppendTargetTable;
using status_html::BeginPage;
using status_html::DaysLeft;
using status_html::EndPage;
using status_html::FormatAge;
using status_html::HandshakeOf;
using status_html::kMaxDetailChars;
using status_html::kMaxHostChars;
using status_html::kSecondsPerDay;
using status_html::RowId;
using status_html::Text;
using status_html::Title;

constexpr std::size_t kMaxAttentionLinks = 12;

// "3 d 4 h", "2 h 5 min", "7 min", "45 s".
std::string FormatUptime(std::int64_t seconds) {
  seconds = std::max<std::int64_t>(seconds, 0);
  const std::int64_t days = seconds / kSecondsPerDay;
  const std::int64_t hours = seconds % kSecondsPerDay / 3600;
  const std::int64_t minutes = seconds % 3600 / 60;
  if (days > 0) return std::to_string(days) + " d " + std::to_string(hours) + " h";
  if (hours > 0) return std::to_string(hours) + " h " + std::to_string(minutes) + " min";
  if (minutes > 0) return std::to_string(minutes) + " min";
  return std::to_string(seconds) + " s";
}

std::optional<std::int64_t> CertificateDaysLeft(const TargetSnapshot& snapshot, std::int64_t now) {
  if (!snapshot.last) return std::nullopt;
  const TlsInfo* tls = HandshakeOf(*snapshot.last);
  if (tls == nullptr || tls->earliest_not_after == 0) return std::nullopt;
  return DaysLeft(tls->earliest_not_after, now);
}

void AppendHeader(std::string& out, const StatusPageInput& input) {
  out += "<header>\n<h1>smtp_exporter<small>" + Text(input.version, 40) + "</small></h1>\n";
  out += "<div class=\"facts\">";
  out += "<span" + Title("started " + UtcTime(input.started_unix)) + " class=\"tip\">up " +
         FormatUptime(input.now_unix - input.started_unix) + "</span>";
  const std::string file =
      input.config_file.empty() ? std::string("built-in default") : input.config_file;
  if (input.reload_successful) {
    out += "<span>config <code>" + Text(file, 80) + "</code>";
    if (input.last_reload_unix != 0) {
      out += " <span class=\"ok tip\"" + Title(UtcTime(input.last_reload_unix)) + ">loaded " +
             FormatAge(input.now_unix - input.last_reload_unix) + "</span>";
    }
    out += "</span>";
  } else {
    out += "<span class=\"bad\"" + Title(input.last_reload_error) + ">config reload FAILED";
    if (input.last_reload_attempt_unix != 0) {
      out += " " + FormatAge(input.now_unix - input.last_reload_attempt_unix);
    }
    if (!input.last_reload_error.empty()) {
      out += ": " + Text(input.last_reload_error, kMaxDetailChars);
    }
    out += "</span><span>still running <code>" + Text(file, 80) + "</code>";
    if (input.last_reload_unix != 0) {
      out += " loaded " + FormatAge(input.now_unix - input.last_reload_unix);
    }
    out += "</span>";
  }
  out += "</div>\n<nav aria-label=\"Endpoints\"><a href=\"" + EscapeHtml(input.metrics_path) +
         "\">Metrics</a><a href=\"/-/healthy\">Healthy</a><a href=\"/-/ready\">Ready</a>"
         "</nav>\n</header>\n";
}

struct Summary {
  std::size_t total = 0;
  std::size_t up = 0;
  std::size_t down = 0;
  std::size_t pending = 0;
  std::size_t open_relays = 0;
  std::size_t expiring = 0;
};

std::string Chip(const char* css_class, std::size_t count, std::string_view singular,
                 std::string_view plural) {
  std::string chip = "<li class=\"chip";
  if (css_class[0] != '\0') chip += std::string(" ") + css_class;
  chip += "\"><b>" + std::to_string(count) + "</b> ";
  chip += count == 1 ? singular : plural;
  chip += "</li>";
  return chip;
}

// Links to rows that need a look: {severity, html}.
using Attention = std::vector<std::pair<int, std::string>>;

// The link to the row of `target` when it needs a look: why, and how urgently.
std::optional<std::pair<int, std::string>> AttentionLink(const StatusTarget& target,
                                                         std::size_t row, StatusState state,
                                                         bool open_relay,
                                                         std::optional<std::int64_t> days) {
  const bool expiring = days && *days < kCertificateWarningDays;
  std::string why;
  if (state == StatusState::kDown) {
    why = "down";
  }
  if (open_relay) why += std::string(why.empty() ? "" : ", ") + "open relay";
  if (expiring) {
    why += std::string(why.empty() ? "" : ", ") +
           (*days < 0 ? std::string("certificate expired")
                      : "certificate " + std::to_string(*days) + " d");
  }
  if (why.empty()) return std::nullopt;
  // 0: open relay (abused right now), 1: down, 2: certificate expired or about to, 3: soon.
  const int severity = open_relay                         ? 0
                       : state == StatusState::kDown      ? 1
                       : *days < kCertificateCriticalDays ? 2
                                                          : 3;
  return std::make_pair(
      severity, "<a class=\"alert " + std::string(severity == 3 ? "warn" : "bad") + "\" href=\"#" +
                    RowId(row) + "\">" + Text(target.snapshot.target, kMaxHostChars) +
                    "<span class=\"why\">" + why + "</span></a>");
}

// Counts the rows for the summary and collects the attention links, most severe first, then in
// row order.
Summary Survey(const StatusPageInput& input, const std::vector<std::size_t>& order,
               Attention* attention) {
  Summary summary;
  summary.total = input.targets.size();
  for (std::size_t row = 0; row < order.size(); ++row) {
    const StatusTarget& target = input.targets[order[row]];
    const StatusState state = StateOf(target.snapshot);
    const bool open_relay = RelayVerdictOf(target.snapshot) == RelayVerdict::kOpen;
    const std::optional<std::int64_t> days = CertificateDaysLeft(target.snapshot, input.now_unix);
    summary.up += state == StatusState::kUp;
    summary.down += state == StatusState::kDown;
    summary.pending += state == StatusState::kPending;
    summary.open_relays += open_relay;
    summary.expiring += days && *days < kCertificateWarningDays;
    if (auto link = AttentionLink(target, row, state, open_relay, days)) {
      attention->push_back(std::move(*link));
    }
  }
  std::stable_sort(attention->begin(), attention->end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  return summary;
}

void AppendSummary(std::string& out, const Summary& summary) {
  out += "<main>\n<ul class=\"summary\" aria-label=\"Summary\">";
  out += Chip("", summary.total, "target", "targets");
  out += Chip(summary.up > 0 ? "ok" : "", summary.up, "up", "up");
  out += Chip(summary.down > 0 ? "bad" : "", summary.down, "down", "down");
  out += Chip(summary.open_relays > 0 ? "relay" : "", summary.open_relays, "open relay",
              "open relays");
  const std::string within = " expiring &lt; " + std::to_string(kCertificateWarningDays) + " d";
  out += Chip(summary.expiring > 0 ? "warn" : "", summary.expiring, "certificate" + within,
              "certificates" + within);
  if (summary.pending > 0) out += Chip("pending", summary.pending, "pending", "pending");
  out += "</ul>\n";
}

void AppendAttention(std::string& out, const Attention& attention) {
  if (attention.empty()) return;
  out += "<p class=\"attention\"><b>Needs attention</b> ";
  for (std::size_t i = 0; i < attention.size() && i < kMaxAttentionLinks; ++i) {
    out += attention[i].second + " ";
  }
  if (attention.size() > kMaxAttentionLinks) {
    out += "and " + std::to_string(attention.size() - kMaxAttentionLinks) + " more";
  }
  out += "</p>\n";
}

void AppendFooter(std::string& out, const StatusPageInput& input) {
  out += "<footer>Generated " + UtcTime(input.now_unix);
  if (input.refresh_seconds > 0) {
    out += " \xC2\xB7 refreshes every " + std::to_string(input.refresh_seconds) + " s";
  }
  out += " \xC2\xB7 certificate days: red &lt; " + std::to_string(kCertificateCriticalDays) +
         ", amber &lt; " + std::to_string(kCertificateWarningDays) + "</footer>\n</main>\n";
}

// Sorted by target, module, labels; ties keep input order.
std::vector<std::size_t> SortedOrder(const std::vector<StatusTarget>& targets) {
  std::vector<std::size_t> order(targets.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    const StatusTarget& x = targets[a];
    const StatusTarget& y = targets[b];
    return std::tie(x.snapshot.target, x.module, x.snapshot.labels) <
           std::tie(y.snapshot.target, y.module, y.snapshot.labels);
  });
  return order;
}

}  // namespace

std::string RenderStatusPage(const StatusPageInput& input) {
  const std::vector<std::size_t> order = SortedOrder(input.targets);
  Attention attention;
  const Summary summary = Survey(input, order, &attention);

  std::string out;
  out.reserve(8192 + input.targets.size() * 2048);
  // The tab title ranks problems like the page does: open relays first.
  std::string title = "smtp_exporter: ";
  if (summary.open_relays > 0) title += std::to_string(summary.open_relays) + " open relay, ";
  title += std::to_string(summary.down) + " down, " + std::to_string(summary.up) + " up";
  BeginPage(out, title, input.refresh_seconds);
  AppendHeader(out, input);
  AppendSummary(out, summary);
  AppendAttention(out, attention);
  AppendTargetTable(out, input.targets, order, input.now_unix);
  AppendFooter(out, input);
  EndPage(out);
  return out;
}

}  // namespace smtp

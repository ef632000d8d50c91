// Specification of the status page (`/`) and the transcript page it links to: what an operator
// sees for representative targets, and what a hostile mail server can never make it show. The
// fleet page is a golden file, testdata/fleet.html, compared byte for byte;
// `UPDATE_GOLDEN=1 ./status_tests` rewrites it (review the diff before committing).
#include "daemon/status_page.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "tests/status/fleet_fixture.h"

namespace smtp::testing {
namespace {

// ---- Helpers -----------------------------------------------------------------------------------

std::string Page(std::vector<StatusTarget> targets) {
  StatusPageInput input = FleetInput();
  input.targets = std::move(targets);
  return RenderStatusPage(input);
}

std::string PageOf(TargetSnapshot snapshot, const std::string& module = "default") {
  return Page({StatusTarget{std::move(snapshot), module}});
}

// The HTML of the table row whose header cell names `target`.
std::string RowOf(const std::string& page, const std::string& target) {
  const std::size_t name = page.find(">" + target + "<span class=\"sub\">");
  if (name == std::string::npos) return "";
  const std::size_t begin = page.rfind("<tr", name);
  const std::size_t end = page.find("</tr>", name);
  return page.substr(begin, end - begin);
}

std::size_t Count(const std::string& haystack, const std::string& needle) {
  std::size_t count = 0;
  for (std::size_t at = haystack.find(needle); at != std::string::npos;
       at = haystack.find(needle, at + 1)) {
    ++count;
  }
  return count;
}

// Every tag in `html` is one the renderers write, with only the attributes they write, each
// double-quoted without a stray quote inside: a server that smuggled a tag or broke out of an
// attribute would fail this. <style> content is skipped (it is ours, a constant).
void ExpectOnlyOurMarkup(const std::string& html) {
  static const std::set<std::string> kTags = {
      "!DOCTYPE", "html",  "head",  "meta", "title", "style",  "body",  "header",
      "h1",       "h2",    "small", "div",  "span",  "code",   "nav",   "a",
      "main",     "ul",    "li",    "p",    "b",     "br",     "table", "caption",
      "thead",    "tbody", "tr",    "th",   "td",    "footer", "pre"};
  static const std::set<std::string> kAttributes = {
      "lang",  "charset", "name",       "content", "http-equiv", "class",     "id",
      "title", "href",    "data-label", "scope",   "colspan",    "aria-label"};
  std::size_t i = 0;
  while ((i = html.find('<', i)) != std::string::npos) {
    std::size_t j = i + 1;
    if (j < html.size() && html[j] == '/') ++j;
    std::size_t name_end = j;
    while (name_end < html.size() &&
           (std::isalnum(static_cast<unsigned char>(html[name_end])) || html[name_end] == '!')) {
      ++name_end;
    }
    const std::string tag = html.substr(j, name_end - j);
    ASSERT_TRUE(kTags.count(tag)) << "unexpected tag <" << tag << "> at " << i << ": "
                                  << html.substr(i, 60);
    std::size_t k = name_end;
    while (k < html.size() && html[k] != '>') {
      if (html[k] == ' ') {
        ++k;
        continue;
      }
      std::size_t eq = k;
      while (eq < html.size() && html[eq] != '=' && html[eq] != ' ' && html[eq] != '>') ++eq;
      const std::string attribute = html.substr(k, eq - k);
      if (tag == "!DOCTYPE") {
        ASSERT_EQ(attribute, "html");
      } else {
        ASSERT_TRUE(kAttributes.count(attribute))
            << "unexpected attribute " << attribute << " in <" << tag << "> at " << i;
        ASSERT_EQ(html.substr(eq, 2), "=\"") << "unquoted attribute at " << i;
        const std::size_t close = html.find('"', eq + 2);
        ASSERT_NE(close, std::string::npos);
        const std::string value = html.substr(eq + 2, close - eq - 2);
        ASSERT_EQ(value.find('<'), std::string::npos) << value;
        ASSERT_EQ(value.find('>'), std::string::npos) << value;
        eq = close + 1;
      }
      k = eq;
    }
    i = k;
    if (tag == "style") i = html.find("</style>", i);
  }
}

bool IsValidUtf8(const std::string& text) {
  for (std::size_t i = 0; i < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    std::size_t length = c < 0x80         ? 1
                         : (c >> 5) == 6  ? 2
                         : (c >> 4) == 14 ? 3
                         : (c >> 3) == 30 ? 4
                                          : 0;
    if (length == 0 || i + length > text.size()) return false;
    for (std::size_t k = 1; k < length; ++k) {
      if ((static_cast<unsigned char>(text[i + k]) & 0xc0) != 0x80) return false;
    }
    i += length;
  }
  return true;
}

// ---- EscapeHtml --------------------------------------------------------------------------------

TEST(EscapeHtmlTest, EscapesMarkupCharacters) {
  EXPECT_EQ(EscapeHtml("<script>alert(1)</script>"), "&lt;script&gt;alert(1)&lt;/script&gt;");
  EXPECT_EQ(EscapeHtml("a & b"), "a &amp; b");
  EXPECT_EQ(EscapeHtml("\"double\" 'single'"), "&quot;double&quot; &#39;single&#39;");
  EXPECT_EQ(EscapeHtml("&amp;"), "&amp;amp;");  // escaping is not idempotent, nor should it be
  EXPECT_EQ(EscapeHtml(""), "");
}

TEST(EscapeHtmlTest, ValidUtf8TabAndNewlinePassUnchanged) {
  EXPECT_EQ(EscapeHtml("Gr\xC3\xBC\xC3\x9F"
                       "e \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x93\xA7"),
            "Gr\xC3\xBC\xC3\x9F"
            "e \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x93\xA7");
  EXPECT_EQ(EscapeHtml("a\tb\nc"), "a\tb\nc");
}

TEST(EscapeHtmlTest, InvalidUtf8BecomesReplacementCharacters) {
  const std::string kFffd = "\xEF\xBF\xBD";
  EXPECT_EQ(EscapeHtml("a\xFFz"), "a" + kFffd + "z");                        // never valid
  EXPECT_EQ(EscapeHtml("\x80"), kFffd);                                      // lone continuation
  EXPECT_EQ(EscapeHtml("\xE2\x82"), kFffd + kFffd);                          // truncated
  EXPECT_EQ(EscapeHtml("\xC3\x28"), kFffd + "(");                            // bad continuation
  EXPECT_EQ(EscapeHtml("\xC0\xAF"), kFffd + kFffd);                          // overlong '/'
  EXPECT_EQ(EscapeHtml("\xE0\x80\xBC"), kFffd + kFffd + kFffd);              // overlong '<'
  EXPECT_EQ(EscapeHtml("\xED\xA0\x80"), kFffd + kFffd + kFffd);              // surrogate
  EXPECT_EQ(EscapeHtml("\xF4\x90\x80\x80"), kFffd + kFffd + kFffd + kFffd);  // past U+10FFFF
}

TEST(EscapeHtmlTest, ControlCharactersBecomeReplacementCharacters) {
  const std::string kFffd = "\xEF\xBF\xBD";
  EXPECT_EQ(EscapeHtml(std::string("a\0b", 3)), "a" + kFffd + "b");
  EXPECT_EQ(EscapeHtml("\r\x1b[31m\x7f"), kFffd + kFffd + "[31m" + kFffd);
}

TEST(EscapeHtmlTest, OutputIsAlwaysValidUtf8WithoutMarkup) {
  std::mt19937 random(42);
  for (int round = 0; round < 2000; ++round) {
    std::string input(random() % 40, '\0');
    for (char& c : input) c = static_cast<char>(random() % 256);
    const std::string escaped = EscapeHtml(input);
    ASSERT_TRUE(IsValidUtf8(escaped));
    ASSERT_EQ(escaped.find_first_of("<>\"'"), std::string::npos);
  }
}

// ---- Hostile input ------------------------------------------------------------------------------

TEST(HostileInputTest, HostileBannerNeverAppearsUnescaped) {
  ProbeResult r = Healthy("evil.example");
  r.greeting =
      GreetingInfo{"<script>alert(1)</script>", "\"><img src=x onerror=alert(2)>", "1.0", true};
  r.greeting_lines = {"<script>alert(1)</script> ESMTP"};
  r.capabilities->extensions.push_back(Extension{"X-<SCRIPT>", {"\"onmouseover=alert(3)"}});
  r.tls->chain[0].subject = "CN=\"><script>alert(4)</script>";
  r.tls->verify_error = "<b>bad</b>";
  r.tls->chain_verified = false;
  r.relay = Relay({RelayOutcome::kRefused});
  r.relay->attempts[0].variant = "<svg onload=alert(5)>";
  r.transcript.push_back(TranscriptLine{{}, 'S', "220 <script>alert(1)</script>"});
  TargetSnapshot s = Snapshot("evil<script>.example:25", r);
  s.labels = {{"site", "<script>"}};
  const std::string page = PageOf(s, "mod\"ule");

  EXPECT_EQ(page.find("<script"), std::string::npos);
  EXPECT_EQ(page.find("<img"), std::string::npos);
  EXPECT_EQ(page.find("<svg"), std::string::npos);
  EXPECT_NE(page.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(page.find("&quot;&gt;&lt;img src=x onerror=alert(2)&gt;"), std::string::npos);
  ExpectOnlyOurMarkup(page);

  const std::string transcript = RenderTranscriptPage(s, "mod\"ule", kFleetNow);
  EXPECT_EQ(transcript.find("<script"), std::string::npos);
  EXPECT_NE(transcript.find("S: 220 &lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  ExpectOnlyOurMarkup(transcript);
}

TEST(HostileInputTest, InvalidUtf8FromTheNetworkIsReplaced) {
  ProbeResult r = Healthy("mx.example");
  r.greeting->hostname = "mx\xFF\xFE.example";
  r.greeting->software =
      "Post\xC0\xAF"
      "fix";
  const std::string page = PageOf(Snapshot("mx.example:25", r));
  EXPECT_TRUE(IsValidUtf8(page));
  EXPECT_NE(page.find("mx\xEF\xBF\xBD\xEF\xBF\xBD.example"), std::string::npos);
}

TEST(HostileInputTest, LongValuesAreCutForDisplayAndKeptInTheTooltip) {
  ProbeResult r = Healthy("mx.example");
  r.greeting->hostname = std::string(300, 'h');
  const std::string page = PageOf(Snapshot("mx.example:25", r));
  EXPECT_NE(page.find(std::string(48, 'h') + "\xE2\x80\xA6"), std::string::npos);
  EXPECT_EQ(page.find(std::string(49, 'h') + "<"), std::string::npos);
}

TEST(HostileInputTest, TheWholeFleetHasOnlyOurMarkup) {
  const StatusPageInput input = FleetInput();
  ExpectOnlyOurMarkup(RenderStatusPage(input));
  for (const StatusTarget& target : input.targets) {
    ExpectOnlyOurMarkup(RenderTranscriptPage(target.snapshot, target.module, kFleetNow));
  }
}

// ---- States and colours
// --------------------------------------------------------------------------

TEST(StateTest, HealthyTargetIsUpInGreen) {
  TargetSnapshot s = Snapshot("mx1.example.org:25", Healthy("mx1.example.org"));
  EXPECT_EQ(StateOf(s), StatusState::kUp);
  const std::string row = RowOf(PageOf(s), "mx1.example.org:25");
  EXPECT_NE(row.find("<tr class=\"up\" id=\"t1\">"), std::string::npos);
  EXPECT_NE(row.find("<span class=\"badge up\">UP</span>"), std::string::npos);
  EXPECT_NE(row.find("mx1.example.org</span><span class=\"sub\">Postfix</span>"),
            std::string::npos);
  EXPECT_NE(row.find(">12 ms<span class=\"sub\">84 ms total</span></td>"), std::string::npos);
  EXPECT_NE(row.find("<td data-label=\"SMTP\" class=\"smtp\">ESMTP<span class=\"kw\""),
            std::string::npos);
  EXPECT_NE(row.find("<span class=\"ok\">ok</span>"), std::string::npos);  // STARTTLS
  EXPECT_NE(row.find(">TLSv1.3</span>"), std::string::npos);
  EXPECT_NE(row.find("<span class=\"ok\">87 d</span>"), std::string::npos);
  EXPECT_NE(row.find("verified</span>"), std::string::npos);
  EXPECT_NE(row.find("<span class=\"muted\">not tested</span>"), std::string::npos);
  EXPECT_NE(row.find(">12 s ago</span>"), std::string::npos);
  EXPECT_NE(row.find("<span class=\"after\">after TLS: <span class=\"k\">+AUTH</span></span>"),
            std::string::npos);
}

TEST(StateTest, DownTargetShowsFailingStepReasonAndReply) {
  TargetSnapshot s = Snapshot("mx.blocked.example:25",
                              GreetingRejected("mx.blocked.example", "blocked using zen"));
  EXPECT_EQ(StateOf(s), StatusState::kDown);
  const std::string row = RowOf(PageOf(s), "mx.blocked.example:25");
  EXPECT_NE(row.find("<tr class=\"down\" id=\"t1\">"), std::string::npos);
  EXPECT_NE(row.find("<span class=\"badge down\">DOWN</span>"), std::string::npos);
  EXPECT_NE(row.find("<span class=\"bad\">greeting</span>: rejected "
                     "<span class=\"nowrap\">554 5.7.1</span>"),
            std::string::npos);
  EXPECT_NE(row.find("blocked using zen"), std::string::npos);
}

TEST(StateTest, RefusedConnectionIsDown) {
  const std::string row = RowOf(PageOf(Snapshot("mx3:25", Refused("mx3"))), "mx3:25");
  EXPECT_NE(row.find("DOWN"), std::string::npos);
  EXPECT_NE(row.find("<span class=\"bad\">connect</span>: refused"), std::string::npos);
}

TEST(StateTest, OpenRelayIsFlaggedInRed) {
  ProbeResult r = Healthy("relay.example.net");
  r.relay = Relay({RelayOutcome::kRefused, RelayOutcome::kAccepted});
  TargetSnapshot s = Snapshot("relay.example.net:25", r);
  EXPECT_EQ(StateOf(s), StatusState::kOpenRelay);
  EXPECT_EQ(RelayVerdictOf(s), RelayVerdict::kOpen);
  const std::string page = PageOf(s);
  const std::string row = RowOf(page, "relay.example.net:25");
  EXPECT_NE(row.find("<span class=\"badge relay\">OPEN RELAY</span>"), std::string::npos);
  EXPECT_NE(row.find("<span class=\"badge relay\">OPEN</span>"), std::string::npos);
  EXPECT_NE(row.find("relay accepted</span><span class=\"detail\">null_sender"), std::string::npos);
  EXPECT_NE(page.find("<li class=\"chip relay\"><b>1</b> open relay</li>"), std::string::npos);
}

TEST(StateTest, PendingTargetWasNeverProbed) {
  TargetSnapshot s = Pending("new.example.org:25");
  EXPECT_EQ(StateOf(s), StatusState::kPending);
  const std::string row = RowOf(PageOf(s), "new.example.org:25");
  EXPECT_NE(row.find("<span class=\"badge pending\">PENDING</span>"), std::string::npos);
  EXPECT_NE(row.find("not probed yet"), std::string::npos);
  EXPECT_EQ(row.find("/transcript"), std::string::npos);  // nothing to link to yet
}

TEST(StateTest, CertificateDaysLeftAreColoured) {
  const auto cell = [](std::int64_t days) {
    return RowOf(PageOf(Snapshot("mx:25", Healthy("mx", days))), "mx:25");
  };
  EXPECT_NE(cell(2).find("<span class=\"bad\">2 d</span>"), std::string::npos);
  EXPECT_NE(cell(3).find("<span class=\"warn\">3 d</span>"), std::string::npos);
  EXPECT_NE(cell(13).find("<span class=\"warn\">13 d</span>"), std::string::npos);
  EXPECT_NE(cell(14).find("<span class=\"ok\">14 d</span>"), std::string::npos);
  EXPECT_NE(cell(-1).find("<span class=\"bad\">expired</span>"), std::string::npos);
}

TEST(StateTest, UnverifiedCertificateShowsTheReason) {
  ProbeResult r = Healthy("mx");
  r.tls->hostname_verified = false;
  r.tls->verify_error = "hostname mismatch";
  const std::string row = RowOf(PageOf(Snapshot("mx:25", r)), "mx:25");
  EXPECT_NE(row.find("unverified</span>"), std::string::npos);
  EXPECT_NE(row.find("NOT verified: hostname mismatch"), std::string::npos);  // tooltip
}

TEST(StateTest, ExpiringCertificatesAreCountedAndListed) {
  const std::string page = Page({StatusTarget{Snapshot("a:25", Healthy("a", 2)), "default"},
                                 StatusTarget{Snapshot("b:25", Healthy("b", 13)), "default"},
                                 StatusTarget{Snapshot("c:25", Healthy("c", 90)), "default"}});
  EXPECT_NE(page.find("<li class=\"chip warn\"><b>2</b> certificates expiring &lt; 14 d</li>"),
            std::string::npos);
  // Red below 3 days, amber below 14; the row anchors follow the sorted order.
  EXPECT_NE(page.find("<a class=\"alert bad\" href=\"#t1\">a:25<span class=\"why\">certificate "
                      "2 d</span></a>"),
            std::string::npos);
  EXPECT_NE(page.find("<a class=\"alert warn\" href=\"#t2\">b:25<span class=\"why\">certificate "
                      "13 d</span></a>"),
            std::string::npos);
  EXPECT_EQ(page.find("href=\"#t3\""), std::string::npos);
  EXPECT_NE(page.find("<tr class=\"up\" id=\"t3\">"), std::string::npos);
}

TEST(StateTest, HeloOnlyServerIsFlagged) {
  const std::string row = RowOf(PageOf(Snapshot("old:25", HeloOnly("old"))), "old:25");
  EXPECT_NE(row.find("<span class=\"badge up\">UP</span>"), std::string::npos);
  EXPECT_NE(row.find("<span class=\"warn\">HELO only</span>"), std::string::npos);
  EXPECT_NE(row.find("Sendmail 8.9.3"), std::string::npos);
}

TEST(StateTest, StartTlsNotOfferedIsAmber) {
  ProbeResult r = Healthy("mx");
  r.starttls_offered = false;
  r.starttls_success.reset();
  r.tls.reset();
  const std::string row = RowOf(PageOf(Snapshot("mx:25", r)), "mx:25");
  EXPECT_NE(row.find("<span class=\"warn\">not offered</span>"), std::string::npos);
}

// "No DNSBL listing" only when every zone answered (found by the issue 11 reviewer: a zone the
// deadline left unasked read as "no DNSBL listing").
TEST(StateTest, DnsblCellClaimsNoListingOnlyWhenEveryZoneAnswered) {
  ProbeResult r = Healthy("mx");
  r.dnsbl = {{"bl.example.net", "192.0.2.25", DnsblStatus::kNotListed, {}, "", ""},
             {"dnsbl.example.com", "192.0.2.25", DnsblStatus::kNotListed, {}, "", ""}};
  EXPECT_NE(RowOf(PageOf(Snapshot("mx:25", r)), "mx:25")
                .find("<span class=\"ok\">no DNSBL listing</span>"),
            std::string::npos);
  r.dnsbl[1].status = DnsblStatus::kTimeout;
  const std::string row = RowOf(PageOf(Snapshot("mx:25", r)), "mx:25");
  EXPECT_EQ(row.find("no DNSBL listing"), std::string::npos);
  EXPECT_NE(row.find("<span class=\"warn\">no answer from 1 of 2 DNSBLs</span>"),
            std::string::npos);
  r.dnsbl[0].status = DnsblStatus::kListed;
  EXPECT_NE(RowOf(PageOf(Snapshot("mx:25", r)), "mx:25")
                .find("<span class=\"bad\">listed in 1 of 2 DNSBLs</span>"),
            std::string::npos);
}

TEST(StateTest, NeedsAttentionListsTheWorstFirstAndIsCapped) {
  std::vector<StatusTarget> targets;
  for (int i = 0; i < 15; ++i) {
    targets.push_back(
        StatusTarget{Snapshot("a" + std::to_string(10 + i) + ":25", Healthy("a", 10)), "default"});
  }
  ProbeResult relay = Healthy("z");
  relay.relay = Relay({RelayOutcome::kAccepted});
  targets.push_back(StatusTarget{Snapshot("z:25", relay), "default"});
  targets.push_back(StatusTarget{Snapshot("y:25", Refused("y")), "default"});
  const std::string page = Page(targets);
  const std::size_t relay_link = page.find(">z:25<span class=\"why\">open relay</span>");
  const std::size_t down_link = page.find(">y:25<span class=\"why\">down</span>");
  const std::size_t cert_link = page.find(">a10:25<span class=\"why\">certificate 10 d</span>");
  ASSERT_NE(relay_link, std::string::npos);
  ASSERT_NE(down_link, std::string::npos);
  ASSERT_NE(cert_link, std::string::npos);
  EXPECT_LT(relay_link, down_link);
  EXPECT_LT(down_link, cert_link);
  EXPECT_EQ(Count(page, "class=\"alert "), 12u);
  EXPECT_NE(page.find("and 5 more</p>"), std::string::npos);
}

TEST(RelayTest, VerdictsAndTheirAge) {
  using O = RelayOutcome;
  TargetSnapshot s = Snapshot("mx:25", Healthy("mx"));
  EXPECT_EQ(RelayVerdictOf(s), RelayVerdict::kNotTested);

  s.last_relay = std::make_shared<const RelayResult>(Relay({O::kRefused, O::kAuthRequired}));
  s.last_relay_at = std::chrono::system_clock::time_point(std::chrono::seconds(kFleetNow - 1500));
  EXPECT_EQ(RelayVerdictOf(s), RelayVerdict::kClosed);
  std::string row = RowOf(PageOf(s), "mx:25");
  EXPECT_NE(row.find("<span class=\"ok\">closed</span></span><span class=\"sub\">25 min ago"),
            std::string::npos);

  s.last_relay = std::make_shared<const RelayResult>(Relay({O::kRefused, O::kInconclusive}));
  EXPECT_EQ(RelayVerdictOf(s), RelayVerdict::kInconclusive);
  row = RowOf(PageOf(s), "mx:25");
  EXPECT_NE(row.find("<span class=\"warn\">inconclusive</span>"), std::string::npos);

  // A relay test in the latest probe wins over the kept verdict.
  ProbeResult r = Healthy("mx");
  r.relay = Relay({O::kAccepted});
  s.last = std::make_shared<const ProbeResult>(r);
  EXPECT_EQ(RelayVerdictOf(s), RelayVerdict::kOpen);
  EXPECT_NE(RowOf(PageOf(s), "mx:25").find("12 s ago"), std::string::npos);
}

TEST(RelayTest, DownTargetWithAnOpenRelayVerdictIsDownAndCountedAsOpenRelay) {
  TargetSnapshot s = Snapshot("mx:25", Refused("mx"));
  s.last_relay = std::make_shared<const RelayResult>(Relay({RelayOutcome::kAccepted}));
  EXPECT_EQ(StateOf(s), StatusState::kDown);
  const std::string page = PageOf(s);
  EXPECT_NE(page.find("<b>1</b> open relay<"), std::string::npos);
  EXPECT_NE(page.find("<span class=\"why\">down, open relay</span>"), std::string::npos);
}

// ---- Page frame
// ----------------------------------------------------------------------------------

TEST(PageTest, RefreshesItself) {
  StatusPageInput input = FleetInput();
  EXPECT_NE(RenderStatusPage(input).find("<meta http-equiv=\"refresh\" content=\"15\">"),
            std::string::npos);
  input.refresh_seconds = 60;
  EXPECT_NE(RenderStatusPage(input).find("<meta http-equiv=\"refresh\" content=\"60\">"),
            std::string::npos);
  input.refresh_seconds = 0;
  EXPECT_EQ(RenderStatusPage(input).find("http-equiv"), std::string::npos);
  EXPECT_EQ(RenderTranscriptPage(input.targets[0].snapshot, "default", kFleetNow).find("refresh"),
            std::string::npos);
}

TEST(PageTest, IsOneSelfContainedDocument) {
  const std::string page = RenderStatusPage(FleetInput());
  EXPECT_EQ(page.rfind("<!DOCTYPE html>\n<html lang=\"en\">", 0), 0u);
  EXPECT_EQ(Count(page, "<html"), 1u);
  EXPECT_EQ(Count(page, "</html>"), 1u);
  EXPECT_EQ(page.find("<script"), std::string::npos);
  EXPECT_EQ(page.find("<link"), std::string::npos);
  // No external resources (the fleet's texts mention URLs and "src=x", escaped, as text).
  EXPECT_EQ(page.find("src=\""), std::string::npos);
  EXPECT_EQ(page.find("url("), std::string::npos);
  EXPECT_EQ(page.find("@import"), std::string::npos);
  EXPECT_EQ(page.find("href=\"http"), std::string::npos);
  EXPECT_EQ(page.find("href=\"//"), std::string::npos);
}

TEST(PageTest, SummaryAndLinks) {
  const std::string page = RenderStatusPage(FleetInput());
  EXPECT_NE(page.find("<b>13</b> targets"), std::string::npos);
  EXPECT_NE(page.find("<li class=\"chip ok\"><b>7</b> up</li>"), std::string::npos);
  EXPECT_NE(page.find("<li class=\"chip bad\"><b>4</b> down</li>"), std::string::npos);
  EXPECT_NE(page.find("<b>1</b> open relay</li>"), std::string::npos);
  EXPECT_NE(page.find("<li class=\"chip pending\"><b>1</b> pending</li>"), std::string::npos);
  EXPECT_NE(page.find("<b>3</b> certificates expiring"), std::string::npos);
  EXPECT_NE(page.find("<a href=\"/metrics\">Metrics</a>"), std::string::npos);
  EXPECT_NE(page.find("<a href=\"/-/healthy\">Healthy</a>"), std::string::npos);
  EXPECT_NE(page.find("up 3 d 4 h"), std::string::npos);
  EXPECT_NE(page.find("loaded 2 h ago"), std::string::npos);
}

TEST(PageTest, TelemetryPathIsConfigurable) {
  StatusPageInput input = FleetInput();
  input.metrics_path = "/custom/metrics";
  EXPECT_NE(RenderStatusPage(input).find("<a href=\"/custom/metrics\">Metrics</a>"),
            std::string::npos);
}

TEST(PageTest, FailedReloadIsShownInRed) {
  StatusPageInput input = FleetInput();
  input.reload_successful = false;
  input.last_reload_attempt_unix = kFleetNow - 180;
  input.last_reload_error = "targets[2].module: unknown module \"strct\" (line 14)";
  const std::string page = RenderStatusPage(input);
  EXPECT_NE(page.find("config reload FAILED 3 min ago: targets[2].module: unknown module "
                      "&quot;strct&quot; (line 14)"),
            std::string::npos);
  EXPECT_NE(page.find("still running <code>/etc/smtp_exporter/smtp_exporter.yml</code> loaded "
                      "2 h ago"),
            std::string::npos);
}

TEST(PageTest, NoTargets) {
  const std::string page = Page({});
  EXPECT_NE(page.find("<b>0</b> targets"), std::string::npos);
  EXPECT_NE(page.find("No targets configured."), std::string::npos);
}

// ---- Transcript link
// ------------------------------------------------------------------------------

TEST(TranscriptLinkTest, UrlEncodesTargetAndModule) {
  EXPECT_EQ(UrlEncodeQueryValue("AZaz09-._~"), "AZaz09-._~");
  EXPECT_EQ(UrlEncodeQueryValue("a b+c&d=e/f?g#h%"), "a%20b%2Bc%26d%3De%2Ff%3Fg%23h%25");
  EXPECT_EQ(UrlEncodeQueryValue("\xC3\xBC\xFF"), "%C3%BC%FF");
  EXPECT_EQ(TranscriptUrl("[2001:db8::25]:25", "my module+1"),
            "/transcript?target=%5B2001%3Adb8%3A%3A25%5D%3A25&module=my%20module%2B1");
}

TEST(TranscriptLinkTest, LinkInThePageIsHtmlEscaped) {
  const std::string page =
      PageOf(Snapshot("mx1.example.org:25", Healthy("mx1.example.org")), "a&b");
  EXPECT_NE(page.find("href=\"/transcript?target=mx1.example.org%3A25&amp;module=a%26b\""),
            std::string::npos);
}

TEST(TranscriptPageTest, ShowsVerdictConversationAndSeparateRelayRun) {
  TargetSnapshot s = Snapshot("mx1.example.org:25", Healthy("mx1.example.org", 10));
  s.last_relay = std::make_shared<const RelayResult>(Relay({RelayOutcome::kRefused}));
  s.last_relay_at = std::chrono::system_clock::time_point(std::chrono::seconds(kFleetNow - 600));
  const std::string page = RenderTranscriptPage(s, "default", kFleetNow);
  EXPECT_NE(page.find("<title>Transcript: mx1.example.org:25</title>"), std::string::npos);
  EXPECT_NE(page.find("UP"), std::string::npos);
  EXPECT_NE(page.find("certificate expires in 10 days"), std::string::npos);
  EXPECT_NE(page.find("S: 220 mx1.example.org ESMTP Postfix (Debian/GNU)"), std::string::npos);
  EXPECT_NE(page.find("Relay test (separate run, 2024-06-01 11:50:00 UTC, 10 min ago): closed"),
            std::string::npos);
  EXPECT_NE(page.find("external: refused  MAIL 250 RCPT 554  &lt;probe@example.org&gt;"),
            std::string::npos);
}

TEST(TranscriptPageTest, PendingTarget) {
  EXPECT_NE(RenderTranscriptPage(Pending("x:25"), "default", kFleetNow).find("Not probed yet."),
            std::string::npos);
}

// ---- Ordering and golden page
// ---------------------------------------------------------------------

TEST(OrderingTest, RowsAreSortedByTargetWhateverTheInputOrder) {
  StatusPageInput input = FleetInput();
  const std::string expected = RenderStatusPage(input);
  std::mt19937 random(7);
  for (int round = 0; round < 5; ++round) {
    std::shuffle(input.targets.begin(), input.targets.end(), random);
    ASSERT_EQ(RenderStatusPage(input), expected);
  }
  std::vector<std::size_t> positions;
  std::vector<std::string> names;
  for (const StatusTarget& target : input.targets) names.push_back(target.snapshot.target);
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    positions.push_back(expected.find(EscapeHtml(name) + "<span class=\"sub\">"));
    ASSERT_NE(positions.back(), std::string::npos) << name;
  }
  EXPECT_TRUE(std::is_sorted(positions.begin(), positions.end()));
}

TEST(OrderingTest, SameTargetInTwoModulesIsOrderedByModule) {
  const std::string page = Page({StatusTarget{Snapshot("mx:25", Healthy("mx")), "zeta"},
                                 StatusTarget{Snapshot("mx:25", Refused("mx")), "alpha"}});
  EXPECT_LT(page.find("module=alpha"), page.find("module=zeta"));
}

TEST(GoldenTest, Fleet) {
  const std::string actual = RenderStatusPage(FleetInput());
  const std::string path = std::string(STATUS_TESTDATA_DIR) + "/fleet.html";
  const char* update = std::getenv("UPDATE_GOLDEN");
  if (update != nullptr && std::string(update) == "1") {
    std::ofstream(path, std::ios::binary) << actual;
    GTEST_SKIP() << "rewrote " << path;
  }
  std::ifstream in(path, std::ios::binary);
  ASSERT_TRUE(in) << "missing golden file " << path << " (create it with UPDATE_GOLDEN=1)";
  const std::string expected((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  if (actual == expected) return;
  // Report the first difference, not two whole pages.
  const auto [a, e] = std::mismatch(actual.begin(), actual.end(), expected.begin(), expected.end());
  const std::size_t at = static_cast<std::size_t>(a - actual.begin());
  const std::size_t from = at < 80 ? 0 : at - 80;
  ADD_FAILURE() << "page differs from " << path << " at byte " << at << "\n  actual:   ..."
                << actual.substr(from, 200) << "\n  expected: ..." << expected.substr(from, 200)
                << "\nif the change is intended, rerun with UPDATE_GOLDEN=1";
}

}  // namespace
}  // namespace smtp::testing

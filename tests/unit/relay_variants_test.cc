// Specification of the open-relay envelopes (REFERENCE.md "Relay test", after nmap's
// smtp-open-relay). D = example.net and the local part "relay-test" come from the configured
// recipient; SRV = mx.test from the banner; IP = 192.0.2.25.
#include "probes/relay_variants.h"

#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace smtp {
namespace {

RelayContext DefaultContext() {
  RelayContext context;
  context.mail_from = "probe@example.org";
  context.rcpt_to = "relay-test@example.net";
  context.server_name = "mx.test";
  context.server_ip = "192.0.2.25";
  return context;
}

class RelayVariantTable : public ::testing::TestWithParam<RelayEnvelope> {};

TEST_P(RelayVariantTable, BuildsTheDocumentedEnvelope) {
  const RelayEnvelope& expected = GetParam();
  std::vector<RelayEnvelope> got = BuildRelayEnvelopes({expected.variant}, DefaultContext());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], expected);
}

INSTANTIATE_TEST_SUITE_P(
    Reference, RelayVariantTable,
    ::testing::Values(
        // Foreign as written: an acceptance proves an open relay at once.
        RelayEnvelope{"null_sender", "<>", "<relay-test@example.net>", false, ""},
        RelayEnvelope{"external", "<probe@example.org>", "<relay-test@example.net>", false, ""},
        RelayEnvelope{"spoof_local_name", "<probe@mx.test>", "<relay-test@example.net>", false, ""},
        RelayEnvelope{"spoof_local_ip", "<probe@[192.0.2.25]>", "<relay-test@example.net>", false,
                      ""},
        // RFC 5321 §3.6.1 and Appendix C: a source route is stripped, leaving D.
        RelayEnvelope{"source_route_ip", "<probe@example.org>",
                      "<@[192.0.2.25]:relay-test@example.net>", false, ""},
        RelayEnvelope{"source_route_name", "<probe@example.org>",
                      "<@mx.test:relay-test@example.net>", false, ""},
        // Hacks: the foreign address hides in a local part at one of the server's own names (or
        // at none); only the catch-all question tells whether an acceptance proves anything.
        RelayEnvelope{"percent_ip", "<probe@example.org>", "<relay-test%example.net@[192.0.2.25]>",
                      true, "[192.0.2.25]"},
        RelayEnvelope{"percent_name", "<probe@example.org>", "<relay-test%example.net@mx.test>",
                      true, "mx.test"},
        RelayEnvelope{"quoted", "<probe@example.org>", "<\"relay-test@example.net\">", true, ""},
        RelayEnvelope{"quoted_percent", "<probe@example.org>", "<\"relay-test%example.net\">", true,
                      ""},
        RelayEnvelope{"double_at_ip", "<probe@example.org>",
                      "<relay-test@example.net@[192.0.2.25]>", true, "[192.0.2.25]"},
        RelayEnvelope{"double_at_name", "<probe@example.org>", "<relay-test@example.net@mx.test>",
                      true, "mx.test"},
        RelayEnvelope{"quoted_at_ip", "<probe@example.org>",
                      "<\"relay-test@example.net\"@[192.0.2.25]>", true, "[192.0.2.25]"},
        RelayEnvelope{"bang", "<probe@example.org>", "<example.net!relay-test>", true, ""},
        RelayEnvelope{"bang_ip", "<probe@example.org>", "<example.net!relay-test@[192.0.2.25]>",
                      true, "[192.0.2.25]"},
        RelayEnvelope{"bang_name", "<probe@example.org>", "<example.net!relay-test@mx.test>", true,
                      "mx.test"}),
    [](const auto& test_info) { return test_info.param.variant; });

TEST(RelayVariantsTest, AllSetIsEveryRowInTableOrder) {
  EXPECT_EQ(
      AllRelayVariants(),
      (std::vector<std::string>{"null_sender", "external", "spoof_local_name", "spoof_local_ip",
                                "percent_ip", "percent_name", "quoted", "quoted_percent",
                                "double_at_ip", "double_at_name", "quoted_at_ip", "source_route_ip",
                                "source_route_name", "bang", "bang_ip", "bang_name"}));
}

TEST(RelayVariantsTest, BasicSetIsASubsetOfAll) {
  EXPECT_EQ(BasicRelayVariants(),
            (std::vector<std::string>{"null_sender", "external", "spoof_local_name", "percent_name",
                                      "source_route_name", "bang_name"}));
  for (const std::string& name : BasicRelayVariants()) EXPECT_TRUE(IsRelayVariant(name));
}

TEST(RelayVariantsTest, IsRelayVariantIsExact) {
  EXPECT_TRUE(IsRelayVariant("bang"));
  EXPECT_FALSE(IsRelayVariant("Bang"));
  EXPECT_FALSE(IsRelayVariant("basic"));
  EXPECT_FALSE(IsRelayVariant("all"));
  EXPECT_FALSE(IsRelayVariant(""));
}

TEST(RelayVariantsTest, AllVariantsWithFullContextGiveOneEnvelopeEach) {
  std::vector<RelayEnvelope> got = BuildRelayEnvelopes(AllRelayVariants(), DefaultContext());
  ASSERT_EQ(got.size(), AllRelayVariants().size());
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i].variant, AllRelayVariants()[i]);
}

TEST(RelayVariantsTest, UnknownServerNameSkipsNameVariants) {
  RelayContext context = DefaultContext();
  context.server_name = "";
  std::vector<std::string> names;
  for (const RelayEnvelope& e : BuildRelayEnvelopes(AllRelayVariants(), context)) {
    names.push_back(e.variant);
  }
  EXPECT_EQ(names,
            (std::vector<std::string>{"null_sender", "external", "spoof_local_ip", "percent_ip",
                                      "quoted", "quoted_percent", "double_at_ip", "quoted_at_ip",
                                      "source_route_ip", "bang", "bang_ip"}));
}

TEST(RelayVariantsTest, UnknownAddressSkipsAddressVariants) {
  RelayContext context = DefaultContext();
  context.server_ip = "";
  std::vector<std::string> names;
  for (const RelayEnvelope& e : BuildRelayEnvelopes(AllRelayVariants(), context)) {
    names.push_back(e.variant);
  }
  EXPECT_EQ(names,
            (std::vector<std::string>{"null_sender", "external", "spoof_local_name", "percent_name",
                                      "quoted", "quoted_percent", "double_at_name",
                                      "source_route_name", "bang", "bang_name"}));
}

TEST(RelayVariantsTest, UnsafeServerNameIsTreatedAsUnknown) {
  for (std::string bad : {"mx.test>", "mx test", "mx@test", "a\r\nDATA", "<x>", "[1.2.3.4"}) {
    RelayContext context = DefaultContext();
    context.server_name = bad;
    EXPECT_TRUE(BuildRelayEnvelopes({"percent_name", "bang_name"}, context).empty()) << bad;
  }
}

TEST(RelayVariantsTest, OrderFollowsTheRequestAndRepeatsAndUnknownNamesAreDropped) {
  auto got = BuildRelayEnvelopes({"bang", "nonsense", "external", "bang", "null_sender"},
                                 DefaultContext());
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].variant, "bang");
  EXPECT_EQ(got[1].variant, "external");
  EXPECT_EQ(got[2].variant, "null_sender");
}

TEST(RelayVariantsTest, EmptyRequestGivesNothing) {
  EXPECT_TRUE(BuildRelayEnvelopes({}, DefaultContext()).empty());
}

TEST(RelayVariantsTest, RecipientWithoutDomainGivesNothing) {
  for (std::string rcpt : {"", "relay-test", "relay-test@"}) {
    RelayContext context = DefaultContext();
    context.rcpt_to = rcpt;
    EXPECT_TRUE(BuildRelayEnvelopes(AllRelayVariants(), context).empty()) << rcpt;
  }
}

// One fact of the context differs from DefaultContext(): the envelopes built for the variants
// asked, in order, each by its variant and the one address that shows the difference.
struct Address {
  std::string variant;
  std::string RelayEnvelope::*field;  // &RelayEnvelope::mail_from or &RelayEnvelope::rcpt_to
  std::string value;
};
Address MailFrom(std::string variant, std::string value) {
  return {std::move(variant), &RelayEnvelope::mail_from, std::move(value)};
}
Address RcptTo(std::string variant, std::string value) {
  return {std::move(variant), &RelayEnvelope::rcpt_to, std::move(value)};
}

struct ContextCase {
  std::string name;
  std::string RelayContext::*fact;
  std::string value;
  std::vector<std::string> asked;
  std::vector<Address> built;
  friend void PrintTo(const ContextCase& c, std::ostream* os) { *os << c.name; }
};

class RelayContextTable : public ::testing::TestWithParam<ContextCase> {};

TEST_P(RelayContextTable, BuildsTheseAddresses) {
  const ContextCase& c = GetParam();
  RelayContext context = DefaultContext();
  context.*c.fact = c.value;
  std::vector<RelayEnvelope> got = BuildRelayEnvelopes(c.asked, context);
  ASSERT_EQ(got.size(), c.built.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].variant, c.built[i].variant);
    EXPECT_EQ(got[i].*c.built[i].field, c.built[i].value) << got[i].variant;
  }
}

INSTANTIATE_TEST_SUITE_P(
    UnusualContexts, RelayContextTable,
    ::testing::Values(
        ContextCase{"AddressLiteralServerNameIsUsedAsIs",
                    &RelayContext::server_name,
                    "[192.0.2.25]",
                    {"percent_name"},
                    {RcptTo("percent_name", "<relay-test%example.net@[192.0.2.25]>")}},
        // RFC 5321 §4.1.3: IPv6-address-literal = "IPv6:" IPv6-addr.
        ContextCase{"Ipv6AddressUsesTheIpv6Tag",
                    &RelayContext::server_ip,
                    "2001:db8::25",
                    {"percent_ip", "spoof_local_ip"},
                    {RcptTo("percent_ip", "<relay-test%example.net@[IPv6:2001:db8::25]>"),
                     MailFrom("spoof_local_ip", "<probe@[IPv6:2001:db8::25]>")}},
        ContextCase{"BracketsAndZoneAroundTheAddressAreTolerated",
                    &RelayContext::server_ip,
                    "[fe80::1%eth0]",
                    {"bang_ip"},
                    {RcptTo("bang_ip", "<example.net!relay-test@[IPv6:fe80::1]>")}},
        ContextCase{"GarbageAddressSkipsAddressVariants",
                    &RelayContext::server_ip,
                    "mx.test",
                    {"percent_ip", "bang_ip"},
                    {}},
        ContextCase{"EmptyLocalPartFallsBackToRelaytest",
                    &RelayContext::rcpt_to,
                    "@example.net",
                    {"external"},
                    {RcptTo("external", "<relaytest@example.net>")}},
        ContextCase{
            "EmptySenderMeansNullPathAndRecipientLocalForSpoofing",
            &RelayContext::mail_from,
            "",
            {"external", "spoof_local_name"},
            {MailFrom("external", "<>"), MailFrom("spoof_local_name", "<relay-test@mx.test>")}},
        ContextCase{"QuotedLocalPartInRecipientUsesTheLastAt",
                    &RelayContext::rcpt_to,
                    "\"a@b\"@example.net",
                    {"bang"},
                    {RcptTo("bang", "<example.net!\"a@b\">")}}),
    [](const auto& test_info) { return test_info.param.name; });

// The catch-all question is asked at the banner name, then at each other name a hack uses.
TEST(CatchAllTest, DomainsAreTheServerNameThenEachHackDomainOnce) {
  const RelayContext context = DefaultContext();
  EXPECT_EQ(CatchAllDomains(BuildRelayEnvelopes(BasicRelayVariants(), context), context),
            (std::vector<std::string>{"mx.test"}));
  EXPECT_EQ(CatchAllDomains(BuildRelayEnvelopes(AllRelayVariants(), context), context),
            (std::vector<std::string>{"mx.test", "[192.0.2.25]", ""}));
  EXPECT_EQ(CatchAllDomains(BuildRelayEnvelopes({"external", "source_route_ip"}, context), context),
            (std::vector<std::string>{"mx.test"}));
}

TEST(CatchAllTest, WithoutAUsableBannerNameOnlyHackDomainsAreAsked) {
  RelayContext context = DefaultContext();
  context.server_name = "";
  EXPECT_EQ(CatchAllDomains(BuildRelayEnvelopes({"external"}, context), context),
            (std::vector<std::string>{}));
  EXPECT_EQ(CatchAllDomains(BuildRelayEnvelopes({"percent_ip", "bang"}, context), context),
            (std::vector<std::string>{"[192.0.2.25]", ""}));
}

TEST(CatchAllTest, RecipientIsTheLocalPartAtTheDomainOrUnqualified) {
  EXPECT_EQ(CatchAllRecipient("mx.test", "nobody-1"), "<nobody-1@mx.test>");
  EXPECT_EQ(CatchAllRecipient("[192.0.2.25]", "nobody-1"), "<nobody-1@[192.0.2.25]>");
  EXPECT_EQ(CatchAllRecipient("", "nobody-1"), "<nobody-1>");
}

}  // namespace
}  // namespace smtp

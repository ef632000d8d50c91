// Specification of the fleet (daemon/fleet.h): which series exist after a reload, an expansion
// or a probe, and what each keeps. Made-up configs and results; no network, no clock.
#include "daemon/fleet.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/exporter/fake_runner.h"

namespace smtp {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

Config ConfigOf(const std::string& yaml) {
  LoadResult loaded = ParseConfig(yaml, "");
  EXPECT_EQ(loaded.error, "");
  return loaded.config.value_or(Config{});
}

const char* kTwoTargets = R"(
modules:
  relay: {relay_test: {enabled: true, interval: 10m}}
targets:
  - {address: "192.0.2.1:25", labels: {site: eu}}
  - {address: "mx:example.org", module: relay, interval: 2m}
)";

ExpandedTarget Host(const std::string& label) {
  ExpandedTarget series;
  series.host = label.substr(0, label.find(':'));
  series.port = 25;
  series.label = label;
  return series;
}

ExpandedTarget Mx(const std::string& host, const std::string& domain = "example.org") {
  ExpandedTarget series;
  series.host = host;
  series.port = 25;
  series.label = host + ":25";
  series.domain = domain;
  series.mx_records = 2;
  series.key = "|" + host;
  return series;
}

ProbeResult OpenRelay(const std::string& host) {
  ProbeResult result = testing::Healthy(host);
  result.relay->ran = true;
  RelayAttempt attempt;
  attempt.variant = "basic";
  attempt.rcpt_code = 250;
  attempt.outcome = RelayOutcome::kAccepted;
  result.relay->attempts.push_back(attempt);
  return result;
}

std::vector<std::string> Targets(const Fleet& fleet) {
  std::vector<std::string> targets;
  for (const TargetSnapshot& snapshot : fleet.Snapshots()) targets.push_back(snapshot.target);
  return targets;
}

const TargetSnapshot& Only(const std::vector<TargetSnapshot>& snapshots,
                           const std::string& target) {
  for (const TargetSnapshot& snapshot : snapshots) {
    if (snapshot.target == target) return snapshot;
  }
  static const TargetSnapshot kNone;
  ADD_FAILURE() << "no series " << target;
  return kNone;
}

TEST(FleetTest, ApplySchedulesEveryTargetOfTheShardWithItsRelayInterval) {
  Fleet fleet;
  const std::vector<ScheduleEntry> schedule = fleet.Apply(ConfigOf(kTwoTargets), {});
  ASSERT_EQ(schedule.size(), 2u);
  EXPECT_EQ(schedule[0].key, "192.0.2.1:25|default");
  EXPECT_EQ(schedule[0].interval, seconds(60));
  EXPECT_EQ(schedule[0].relay_interval, milliseconds(0));  // the module has no relay test
  EXPECT_EQ(schedule[1].key, "mx:example.org|relay");
  EXPECT_EQ(schedule[1].interval, seconds(120));
  EXPECT_EQ(schedule[1].relay_interval, seconds(600));
  EXPECT_EQ(fleet.entry_count(), 2u);
  EXPECT_EQ(fleet.series_count(), 0u);  // nothing probed yet: nothing on /metrics
}

TEST(FleetTest, EachShardGetsADisjointShareOfTheTargets) {
  std::string yaml = "targets:\n";
  for (int i = 1; i <= 40; ++i) yaml += "  - address: 192.0.2." + std::to_string(i) + ":25\n";
  std::size_t total = 0;
  for (std::uint32_t index = 0; index < 3; ++index) {
    Fleet fleet;
    total += fleet.Apply(ConfigOf(yaml), {index, 3}).size();
    EXPECT_EQ(fleet.config().targets.size(), 40u);  // every shard keeps the whole config
  }
  EXPECT_EQ(total, 40u);
}

TEST(FleetTest, EntriesBuildTheirExpansionAndProbeFromTheModule) {
  Fleet fleet;
  fleet.Apply(ConfigOf(kTwoTargets), {});
  auto entry = fleet.Find("mx:example.org|relay");
  ASSERT_NE(entry, nullptr);
  const ExpansionRequest request = entry->Expansion();
  EXPECT_TRUE(request.target.mx);
  EXPECT_EQ(request.target.host, "example.org");
  EXPECT_EQ(request.label, "mx:example.org");
  EXPECT_EQ(request.default_port, 25);
  ExpandedTarget series = Mx("mx1.example.org");
  series.address = "192.0.2.7";
  EXPECT_TRUE(entry->Spec(series, true).relay.enabled);
  EXPECT_FALSE(entry->Spec(series, false).relay.enabled);
  EXPECT_EQ(entry->Spec(series, false).host, "mx1.example.org");
  EXPECT_EQ(entry->Spec(series, false).address, "192.0.2.7");
  // A module without the relay test never runs it, whatever the schedule says.
  EXPECT_FALSE(fleet.Find("192.0.2.1:25|default")->Spec(Host("192.0.2.1:25"), true).relay.enabled);
  EXPECT_EQ(fleet.Find("nope|default"), nullptr);
}

TEST(FleetTest, ARecordedSeriesCarriesTheConfiguredAndExpansionLabels) {
  Fleet fleet;
  fleet.Apply(ConfigOf(kTwoTargets), {});
  auto host = fleet.Find("192.0.2.1:25|default");
  auto mx = fleet.Find("mx:example.org|relay");
  ASSERT_TRUE(fleet.Record(*host, Host("192.0.2.1:25"), testing::Healthy("192.0.2.1")).has_value());
  ExpandedTarget per_address = Mx("mx1.example.org");
  per_address.address = "2001:db8::1";
  per_address.key += "|2001:db8::1";
  ASSERT_TRUE(fleet.Record(*mx, per_address, testing::Healthy("mx1.example.org")).has_value());
  const std::vector<TargetSnapshot> snapshots = fleet.Snapshots();
  EXPECT_EQ(Only(snapshots, "192.0.2.1:25").labels,
            (std::map<std::string, std::string>{{"site", "eu"}}));
  EXPECT_EQ(Only(snapshots, "mx1.example.org:25").labels,
            (std::map<std::string, std::string>{{"domain", "example.org"}, {"ip", "2001:db8::1"}}));
  EXPECT_EQ(Only(snapshots, "mx1.example.org:25").mx_records, 2);
}

TEST(FleetTest, AReloadKeepsTheSeriesOfKeptTargetsUnderTheirNewLabels) {
  Fleet fleet;
  fleet.Apply(ConfigOf(kTwoTargets), {});
  auto host = fleet.Find("192.0.2.1:25|default");
  fleet.Record(*host, Host("192.0.2.1:25"), testing::Healthy("192.0.2.1"));
  fleet.Record(*host, Host("192.0.2.1:25"), testing::Healthy("192.0.2.1"));
  fleet.Apply(ConfigOf(R"(
targets:
  - {address: "192.0.2.1:25", labels: {site: us}}
)"),
              {});
  const std::vector<TargetSnapshot> snapshots = fleet.Snapshots();
  ASSERT_EQ(snapshots.size(), 1u);
  EXPECT_EQ(snapshots[0].labels.at("site"), "us");
  EXPECT_EQ(snapshots[0].greeting_histogram->count(), 2u);  // the histogram goes on
  EXPECT_EQ(fleet.entry_count(), 1u);
}

TEST(FleetTest, ARemovedOrRemoduledTargetDisappearsAtOnce) {
  Fleet fleet;
  fleet.Apply(ConfigOf(kTwoTargets), {});
  auto host = fleet.Find("192.0.2.1:25|default");
  fleet.Record(*host, Host("192.0.2.1:25"), testing::Healthy("192.0.2.1"));
  // Same address, another module: another entry, whose series starts afresh.
  fleet.Apply(ConfigOf(R"(
modules: {other: {}}
targets:
  - {address: "192.0.2.1:25", module: other}
)"),
              {});
  EXPECT_TRUE(fleet.Snapshots().empty());
  // The probe of the old entry that was in flight during the reload is dropped.
  EXPECT_FALSE(
      fleet.Record(*host, Host("192.0.2.1:25"), testing::Healthy("192.0.2.1")).has_value());
  EXPECT_TRUE(fleet.Snapshots().empty());
}

TEST(FleetTest, MxChurnReplacesTheSeriesOfTheEntryOnly) {
  Fleet fleet;
  fleet.Apply(ConfigOf(kTwoTargets), {});
  auto mx = fleet.Find("mx:example.org|relay");
  auto host = fleet.Find("192.0.2.1:25|default");
  fleet.Record(*host, Host("192.0.2.1:25"), testing::Healthy("192.0.2.1"));
  fleet.Expanded(mx->key, {Mx("mx1.example.org"), Mx("mx2.example.org")});
  fleet.Record(*mx, Mx("mx1.example.org"), testing::Healthy("mx1.example.org"));
  fleet.Record(*mx, Mx("mx2.example.org"), testing::Healthy("mx2.example.org"));
  EXPECT_EQ(Targets(fleet),
            (std::vector<std::string>{"192.0.2.1:25", "mx1.example.org:25", "mx2.example.org:25"}));
  // mx1 left DNS, mx3 arrived: mx1 disappears now, mx3 appears with its first result.
  fleet.Expanded(mx->key, {Mx("mx2.example.org"), Mx("mx3.example.org")});
  EXPECT_EQ(Targets(fleet), (std::vector<std::string>{"192.0.2.1:25", "mx2.example.org:25"}));
  fleet.Record(*mx, Mx("mx2.example.org"), testing::Healthy("mx2.example.org"));
  fleet.Record(*mx, Mx("mx3.example.org"), testing::Healthy("mx3.example.org"));
  const std::vector<TargetSnapshot> snapshots = fleet.Snapshots();
  EXPECT_EQ(Only(snapshots, "mx2.example.org:25").greeting_histogram->count(), 2u);
  EXPECT_EQ(Only(snapshots, "mx3.example.org:25").greeting_histogram->count(), 1u);
  EXPECT_EQ(fleet.series_count(), 3u);
}

// Entry keys can share a prefix ("a|m" and "a|m2"); an expansion of one leaves the other alone.
TEST(FleetTest, AnExpansionDoesNotTouchAnEntryWhoseKeySharesItsPrefix) {
  Fleet fleet;
  fleet.Apply(ConfigOf(R"(
modules: {m: {}, m2: {}}
targets:
  - {address: "mx:example.org", module: m, labels: {probe: a}}
  - {address: "mx:example.org", module: m2, labels: {probe: b}}
)"),
              {});
  auto m = fleet.Find("mx:example.org|m");
  auto m2 = fleet.Find("mx:example.org|m2");
  fleet.Record(*m2, Mx("mx1.example.org"), testing::Healthy("mx1.example.org"));
  fleet.Expanded(m->key, {});
  EXPECT_EQ(fleet.series_count(), 1u);
}

TEST(FleetTest, AFailedExpansionIsOneSeriesUnderTheConfiguredAddress) {
  Fleet fleet;
  fleet.Apply(ConfigOf(kTwoTargets), {});
  auto mx = fleet.Find("mx:example.org|relay");
  ExpandedTarget failed;
  failed.host = "example.org";
  failed.port = 25;
  failed.label = "mx:example.org";
  failed.mx_records = 0;
  fleet.Expanded(mx->key, {failed});
  ProbeResult dns;
  dns.failure_reason = FailureReason::kDns;
  dns.failed_step = Step::kResolve;
  const auto recorded = fleet.Record(*mx, failed, dns);
  ASSERT_TRUE(recorded.has_value());
  EXPECT_EQ(recorded->change.after, StatusState::kDown);
  EXPECT_EQ(recorded->snapshot->target, "mx:example.org");
  EXPECT_EQ(recorded->snapshot->mx_records, 0);
}

TEST(FleetTest, TheRelayVerdictIsCarriedBetweenRelayRuns) {
  Fleet fleet;
  fleet.Apply(ConfigOf(kTwoTargets), {});
  auto mx = fleet.Find("mx:example.org|relay");
  auto first = fleet.Record(*mx, Mx("mx1.example.org"), OpenRelay("mx1.example.org"));
  EXPECT_EQ(first->change.after, StatusState::kOpenRelay);
  auto plain = fleet.Record(*mx, Mx("mx1.example.org"), testing::Healthy("mx1.example.org"));
  EXPECT_FALSE(plain->change.changed());
  EXPECT_EQ(RelayVerdictOf(*plain->snapshot), RelayVerdict::kOpen);
  // ... and across a reload that keeps the target.
  fleet.Apply(ConfigOf(kTwoTargets), {});
  EXPECT_EQ(StateOf(fleet.Snapshots().at(0)), StatusState::kOpenRelay);
}

TEST(FleetTest, SeriesShowsTargetsNotProbedYetAsPending) {
  Fleet fleet;
  fleet.Apply(ConfigOf(kTwoTargets), {});
  fleet.Record(*fleet.Find("192.0.2.1:25|default"), Host("192.0.2.1:25"),
               testing::Healthy("192.0.2.1"));
  EXPECT_EQ(fleet.Series(false).size(), 1u);
  const std::vector<SeriesView> all = fleet.Series(true);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[1].snapshot->target, "mx:example.org");
  EXPECT_EQ(all[1].module, "relay");
  EXPECT_EQ(all[1].snapshot->last, nullptr);
  EXPECT_EQ(fleet.FindSeries("192.0.2.1:25", "default")->module, "default");
  EXPECT_FALSE(fleet.FindSeries("192.0.2.1:25", "relay").has_value());
}

// A configured target allows exactly its host, port and module through /probe (issue 13,
// item 1); an MX host of a configured mx: target, once probed, its own port and that module.
TEST(FleetTest, KnowsConfiguredTargetsOfEveryShardAndProbedHostsByPortAndModule) {
  std::string yaml = "targets:\n";
  for (int i = 1; i <= 8; ++i) yaml += "  - address: host" + std::to_string(i) + ".example:25\n";
  yaml += "  - address: mx:Example.ORG\n";
  yaml += "  - {address: \"127.0.0.1:2525\", module: other}\nmodules: {other: {}}\n";
  Fleet fleet;
  fleet.Apply(ConfigOf(yaml), {0, 4});
  for (int i = 1; i <= 8; ++i) {
    EXPECT_TRUE(fleet.Knows({"host" + std::to_string(i) + ".example", 25, false}, "default"));
  }
  EXPECT_FALSE(fleet.Knows({"host1.example", 26, false}, "default"));
  EXPECT_FALSE(fleet.Knows({"host1.example", 25, false}, "other"));
  EXPECT_FALSE(fleet.Knows({"host1.example", 25, true}, "default"));
  EXPECT_TRUE(fleet.Knows({"example.org", 25, true}, "default"));  // case-insensitive (RFC 1035)
  EXPECT_FALSE(fleet.Knows({"example.org", 25, false}, "default"));
  EXPECT_TRUE(fleet.Knows({"127.0.0.1", 2525, false}, "other"));
  EXPECT_FALSE(fleet.Knows({"127.0.0.1", 6379, false}, "other"));
  EXPECT_FALSE(fleet.Knows({"127.0.0.1", 2525, false}, "default"));
  EXPECT_FALSE(fleet.Knows({"mx1.example.org", 25, false}, "default"));
  if (auto mx = fleet.Find("mx:Example.ORG|default")) {
    fleet.Record(*mx, Mx("mx1.example.org"), testing::Healthy("mx1.example.org"));
    EXPECT_TRUE(fleet.Knows({"MX1.example.org", 25, false}, "default"));
    EXPECT_FALSE(fleet.Knows({"mx1.example.org", 2525, false}, "default"));
    EXPECT_FALSE(fleet.Knows({"mx1.example.org", 25, false}, "other"));
  }
}

// The labels the exporter sets itself cannot be configured: they would be overwritten.
TEST(FleetTest, TheConfigRefusesLabelsTheExpansionSets) {
  for (const char* name : {"domain", "ip", "target"}) {
    const LoadResult loaded = ParseConfig(
        std::string("targets:\n  - {address: \"mx:example.org\", labels: {") + name + ": x}}\n",
        "");
    EXPECT_FALSE(loaded.config.has_value()) << name;
    EXPECT_NE(loaded.error.find("reserved"), std::string::npos) << loaded.error;
  }
}

}  // namespace
}  // namespace smtp

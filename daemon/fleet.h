// The fleet: what this replica probes, and the latest state of every series it probed.
//
//   configured target (address + module)  --expansion-->  series (one per MX host / address)
//
// A configured target of this shard is an entry, keyed "<address>|<module>"; the schedule runs
// entries. At each run an entry expands (probes/expansion.h) into one or more series, keyed
// "<entry key><ExpandedTarget::key>"; each series has one TargetSnapshot (daemon/target_state.h),
// which is what /metrics, the status page and the state log read.
//
// Rules:
//  - Apply() replaces the configuration. An entry whose address and module stay keeps its series
//    (results, greeting histogram, kept relay verdict); their labels follow the new config. The
//    series of a removed entry disappear at once.
//  - Expanded() replaces an entry's series with the ones of this run: an MX host gone from DNS
//    disappears from /metrics, a new one appears once it has a result.
//  - Record() stores a finished probe of a series and returns the target's state change; a
//    result that arrives for an entry removed meanwhile is dropped.
//  - Labels of a series: the configured labels, then `domain` (mx: targets) and `ip`
//    (ip_protocol both); the config decoder refuses configured labels of those names.
//
// Synchronous and single-threaded: no I/O, no clock, no locks; the owner serializes calls. The
// records it hands out (SeriesView, Shared) are immutable and may be read on any thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/config.h"
#include "daemon/schedule.h"
#include "daemon/target_state.h"
#include "probes/expansion.h"

namespace smtp {

// Which share of the configured targets this replica probes (daemon/shard.h).
struct ShardSelector {
  std::uint32_t index = 0;
  std::uint32_t count = 1;
};

// Which share of this replica's targets one probe loop probes, when the daemon runs one loop per
// thread (--probe.threads): entry `key` belongs to loop PartitionOf(key, count). Independent of
// the shard hash, so every loop of every replica gets an even share.
struct LoopPartition {
  std::uint32_t index = 0;
  std::uint32_t count = 1;
};
std::uint32_t PartitionOf(const std::string& entry_key, std::uint32_t count);

// What to expand for `target` probed with `module`: the module's default port, IP family, DNS
// server and timeout (one deadline for the whole expansion); `label` is the address as written.
ExpansionRequest ExpansionOf(const Target& target, const std::string& label, const Module& module);

// The probe of one series with `module`: the module's spec for the series' host and port (and
// address), with the relay test when `with_relay` and the module enables it.
ProbeSpec SeriesSpec(const Module& module, const ExpandedTarget& series, bool with_relay);

// One configured target of this shard. Immutable once applied; held through shared_ptr so a run
// in flight keeps the entry it started with across a reload.
struct FleetEntry {
  std::string key;  // "<address>|<module>"
  // Points into the Config the entry was made from, and keeps it alive: a probe in flight holds its
  // entry across a reload. Not a copy: copies cost 3.7 MB at 20,000 targets.
  std::shared_ptr<const TargetConfig> target;
  std::shared_ptr<const Module> module;  // shared by every entry of the module
  const std::string& module_name() const { return target->module; }

  // What to expand at a run: the configured target with the module's port, DNS and IP family.
  ExpansionRequest Expansion() const;
  // SeriesSpec(*module, series, with_relay).
  ProbeSpec Spec(const ExpandedTarget& series, bool with_relay) const;
};

// The labels of a series: `configured`, then domain="<domain>" for an MX-expanded series and
// ip="<address>" for a per-address one.
std::map<std::string, std::string> SeriesLabels(
    const std::map<std::string, std::string>& configured, const std::string& domain,
    const std::optional<std::string>& ip);

// A series as the renderers see it: its record and the module that probes it. The record is
// immutable (each probe makes a new one), so a view may be read on any thread while the fleet
// moves on.
struct SeriesView {
  std::shared_ptr<const TargetSnapshot> snapshot;
  std::string module;
};

class Fleet {
 public:
  // Replaces the configuration with the targets of `config` that fall into `shard` and
  // `partition`, and returns the schedule entries for them (interval, relay interval when the
  // module enables the test). The config is shared with its other readers, not copied.
  std::vector<ScheduleEntry> Apply(std::shared_ptr<const Config> config, ShardSelector shard,
                                   LoopPartition partition = {});
  std::vector<ScheduleEntry> Apply(Config config, ShardSelector shard) {
    return Apply(std::make_shared<const Config>(std::move(config)), shard);
  }

  // The entry of `key`, or null when it is not (or no longer) configured.
  std::shared_ptr<const FleetEntry> Find(const std::string& key) const;

  // The series `entry_key` expanded to at this run replace its previous ones.
  void Expanded(const std::string& entry_key, const std::vector<ExpandedTarget>& series);

  // Stores `result` as the latest probe of `series` of `entry`. Returns the series' record and
  // its state change, or nullopt when the result was dropped (the entry was removed meanwhile).
  // The pointer is valid until the next call that modifies the fleet.
  struct Recorded {
    const TargetSnapshot* snapshot = nullptr;
    StateChange change;
  };
  std::optional<Recorded> Record(const FleetEntry& entry, const ExpandedTarget& series,
                                 ProbeResult result);

  // Every series with a record, in key order; with `include_pending`, also one snapshot without
  // a result for each entry that has none yet (the status page shows those as pending).
  std::vector<SeriesView> Series(bool include_pending) const;
  // Series(false)'s records, shared (pointer copies only): the input of /metrics.
  std::vector<std::shared_ptr<const TargetSnapshot>> Shared() const;
  // Copies of Shared()'s records, for tests.
  std::vector<TargetSnapshot> Snapshots() const;
  // The series of `target` (its `target` label) probed by `module`, if any.
  std::optional<SeriesView> FindSeries(const std::string& target, const std::string& module) const;

  // Whether `target` (its port resolved) probed by `module` is exactly a configured target of any
  // shard (host, port, mx: or not, and module), or the host and port of a series of such a
  // target probed by that module (an MX host): these may be probed through /probe without the
  // allowlist. Host names compare case-insensitively.
  bool Knows(const Target& target, const std::string& module) const;

  const Config& config() const { return *config_; }
  std::size_t entry_count() const { return entries_.size(); }
  std::size_t series_count() const { return series_.size(); }

 private:
  struct StoredSeries {
    // Its key in series_ is its entry's key followed by the series key (ExpandedTarget::key):
    // the entry's is the first entry_key_size bytes of it.
    std::uint32_t entry_key_size = 0;
    std::string domain;                              // the `domain` label, "" for none
    std::optional<std::string> ip;                   // the `ip` label
    std::shared_ptr<const TargetSnapshot> snapshot;  // replaced, never modified
  };
  std::shared_ptr<const Config> config_ = std::make_shared<const Config>();
  // Entries ordered and found by their own key, which is not copied into a map key.
  struct EntryKeyLess {
    using is_transparent = void;
    static std::string_view Key(const std::shared_ptr<const FleetEntry>& entry) {
      return entry->key;
    }
    static std::string_view Key(std::string_view key) { return key; }
    template <class A, class B>
    bool operator()(const A& a, const B& b) const {
      return Key(a) < Key(b);
    }
  };
  using Entries = std::set<std::shared_ptr<const FleetEntry>, EntryKeyLess>;
  using SeriesMap = std::map<std::string, StoredSeries>;
  static std::string_view EntryKeyOf(const SeriesMap::value_type& series) {
    return std::string_view(series.first).substr(0, series.second.entry_key_size);
  }
  Entries entries_;
  SeriesMap series_;
};

}  // namespace smtp

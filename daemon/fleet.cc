#include "daemon/fleet.h"

#include <set>
#include <utility>

#include "daemon/shard.h"
#include "probes/text.h"

namespace smtp {

ExpansionRequest ExpansionOf(const Target& target, const std::string& label, const Module& module) {
  ExpansionRequest request;
  request.target = target;
  request.label = label;
  request.default_port = module.DefaultPort();
  request.ip_protocol = module.ip_protocol;
  request.dns_server = module.dns_server;
  request.timeout = module.timeout;
  return request;
}

ExpansionRequest FleetEntry::Expansion() const {
  return ExpansionOf(target->target, target->address, *module);
}

ProbeSpec SeriesSpec(const Module& module, const ExpandedTarget& series, bool with_relay) {
  ProbeSpec spec = MakeProbeSpec(module, series.host, series.port);
  spec.address = series.address;
  spec.relay.enabled = with_relay && module.relay_test.enabled;
  spec.checks.domain = series.domain;
  return spec;
}

ProbeSpec FleetEntry::Spec(const ExpandedTarget& series, bool with_relay) const {
  return SeriesSpec(*module, series, with_relay);
}

std::map<std::string, std::string> SeriesLabels(
    const std::map<std::string, std::string>& configured, const std::string& domain,
    const std::optional<std::string>& ip) {
  std::map<std::string, std::string> labels = configured;
  if (!domain.empty()) labels["domain"] = domain;
  if (ip) labels["ip"] = *ip;
  return labels;
}

std::uint32_t PartitionOf(const std::string& entry_key, std::uint32_t count) {
  if (count <= 1) return 0;
  // FNV-1a: stable across runs and platforms, unlike std::hash.
  std::uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : entry_key) hash = (hash ^ c) * 1099511628211ull;
  return static_cast<std::uint32_t>(hash % count);
}

std::vector<ScheduleEntry> Fleet::Apply(std::shared_ptr<const Config> shared, ShardSelector shard,
                                        LoopPartition partition) {
  const Config& config = *shared;
  std::map<std::string, std::shared_ptr<const Module>> modules;
  for (const auto& [name, module] : config.modules) {
    modules.emplace(name, std::make_shared<const Module>(module));
  }
  Entries entries;
  std::vector<ScheduleEntry> schedule;
  for (const TargetConfig& target : config.targets) {
    if (ShardOf(target.address, shard.count) != shard.index) continue;
    std::string key = target.address + "|" + target.module;
    if (PartitionOf(key, partition.count) != partition.index) continue;
    auto entry = std::make_shared<FleetEntry>();
    entry->key = std::move(key);
    entry->target = std::shared_ptr<const TargetConfig>(shared, &target);
    entry->module = modules.at(target.module);
    ScheduleEntry scheduled;
    scheduled.key = entry->key;
    scheduled.interval = target.interval;
    if (entry->module->relay_test.enabled) {
      scheduled.relay_interval = entry->module->relay_test.interval;
    }
    schedule.push_back(scheduled);
    entries.insert(std::move(entry));
  }
  // Series of removed targets disappear; kept ones take the new labels.
  for (auto it = series_.begin(); it != series_.end();) {
    auto entry = entries.find(EntryKeyOf(*it));
    if (entry == entries.end()) {
      it = series_.erase(it);
      continue;
    }
    StoredSeries& series = it->second;
    auto relabelled = std::make_shared<TargetSnapshot>(*series.snapshot);
    relabelled->labels = SeriesLabels((*entry)->target->labels, series.domain, series.ip);
    series.snapshot = std::move(relabelled);
    ++it;
  }
  entries_ = std::move(entries);
  config_ = std::move(shared);
  return schedule;
}

std::shared_ptr<const FleetEntry> Fleet::Find(const std::string& key) const {
  auto found = entries_.find(key);
  return found == entries_.end() ? nullptr : *found;
}

void Fleet::Expanded(const std::string& entry_key, const std::vector<ExpandedTarget>& series) {
  std::set<std::string> keys;
  for (const ExpandedTarget& one : series) keys.insert(entry_key + one.key);
  // An entry's series keys start with its key, so they sit next to each other in series_: only
  // that range is visited, not the whole fleet. Another entry's key may share the prefix
  // ("a:25|m" and "a:25|m2"), hence the entry_key check.
  for (auto it = series_.lower_bound(entry_key);
       it != series_.end() && it->first.starts_with(entry_key);) {
    const bool ours = EntryKeyOf(*it) == entry_key;
    it = ours && !keys.contains(it->first) ? series_.erase(it) : std::next(it);
  }
}

std::optional<Fleet::Recorded> Fleet::Record(const FleetEntry& entry, const ExpandedTarget& series,
                                             ProbeResult result) {
  // A target removed by a reload while its probe ran keeps no series. One whose address and
  // module stayed keeps it (the key holds both), under its current labels.
  auto current = entries_.find(entry.key);
  if (current == entries_.end()) return std::nullopt;
  StoredSeries& stored = series_[entry.key + series.key];
  stored.entry_key_size = static_cast<std::uint32_t>(entry.key.size());
  stored.domain = series.domain;
  stored.ip = series.address;
  // Copy on write: readers on other threads may hold the previous record.
  auto snapshot = stored.snapshot ? std::make_shared<TargetSnapshot>(*stored.snapshot)
                                  : std::make_shared<TargetSnapshot>();
  snapshot->target = series.label;
  snapshot->labels = SeriesLabels((*current)->target->labels, series.domain, series.address);
  snapshot->mx_records = series.mx_records;
  snapshot->minimal_series = (*current)->module->minimal_series;
  const StateChange change = smtp::Record(*snapshot, std::move(result));
  stored.snapshot = snapshot;
  return Recorded{snapshot.get(), change};
}

std::vector<SeriesView> Fleet::Series(bool include_pending) const {
  std::vector<SeriesView> views;
  views.reserve(series_.size());
  std::set<std::string_view> probed;
  for (const auto& item : series_) {
    auto entry = entries_.find(EntryKeyOf(item));
    views.push_back({item.second.snapshot, (*entry)->module_name()});
    probed.insert(EntryKeyOf(item));
  }
  if (!include_pending) return views;
  for (const auto& entry : entries_) {
    if (probed.contains(entry->key)) continue;
    auto pending = std::make_shared<TargetSnapshot>();
    pending->target = entry->target->address;
    pending->labels = entry->target->labels;
    views.push_back({std::move(pending), entry->module_name()});
  }
  return views;
}

std::vector<std::shared_ptr<const TargetSnapshot>> Fleet::Shared() const {
  std::vector<std::shared_ptr<const TargetSnapshot>> snapshots;
  snapshots.reserve(series_.size());
  for (const auto& [key, series] : series_) snapshots.push_back(series.snapshot);
  return snapshots;
}

std::vector<TargetSnapshot> Fleet::Snapshots() const {
  std::vector<TargetSnapshot> snapshots;
  for (const auto& shared : Shared()) snapshots.push_back(*shared);
  return snapshots;
}

std::optional<SeriesView> Fleet::FindSeries(const std::string& target,
                                            const std::string& module) const {
  for (const auto& item : series_) {
    if (item.second.snapshot->target != target) continue;
    auto entry = entries_.find(EntryKeyOf(item));
    if ((*entry)->module_name() == module) return SeriesView{item.second.snapshot, module};
  }
  return std::nullopt;
}

bool Fleet::Knows(const Target& target, const std::string& module) const {
  const std::string wanted = ToLowerAscii(target.host);
  for (const TargetConfig& configured : config_->targets) {  // every shard's, not just ours
    if (configured.module == module && configured.target.mx == target.mx &&
        configured.target.port == target.port && ToLowerAscii(configured.target.host) == wanted) {
      return true;
    }
  }
  if (target.mx) return false;
  for (const auto& item : series_) {
    const ProbeResult* last = item.second.snapshot->last.get();
    if (last == nullptr || last->port != target.port || ToLowerAscii(last->host) != wanted) {
      continue;
    }
    const auto entry = entries_.find(EntryKeyOf(item));
    if (entry != entries_.end() && (*entry)->module_name() == module) return true;
  }
  return false;
}

}  // namespace smtp

// The daemon's probe loops, one per thread (--probe.threads), seen as one: the routes and the
// exporter talk to the pool, never to a loop directly.
//
//   config --Apply--> loop 0 (thread 0): Fleet partition 0, Schedule, probes
//                 \-> loop 1 (thread 1): Fleet partition 1, Schedule, probes      ...
//   /metrics, status page <--Snapshots/Series-- every loop (immutable records, shared)
//   /probe --ExpandOnce/ProbeOnce--> the next loop, round robin
//
// Each configured target belongs to exactly one loop (LoopPartition, daemon/fleet.h), so a loop's
// state is touched by its own thread only and no lock is needed. The pool's member functions run
// on the owner's thread (the HTTP server's); the coroutines hop to each loop's executor, run
// there, and resume on the owner's executor with the result. A read pauses a loop only for pointer
// copies: rendering happens on the owner's thread, from records no loop will modify again.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "daemon/probe_loop.h"

namespace smtp {

class LoopPool {
 public:
  // At least one loop; each already bound to its own executor.
  explicit LoopPool(std::vector<std::shared_ptr<ProbeLoop>> loops);

  // Applies `config` on every loop's thread (each takes its partition of `shard`); config()
  // answers with it from now on.
  void Apply(std::shared_ptr<const Config> config, ShardSelector shard);
  void Start();
  // Stops every loop at once and waits for all of them (ProbeLoop::Stop).
  boost::asio::awaitable<void> Stop(std::chrono::milliseconds grace);

  // The config applied last, and how many of its targets fall into this replica's shard.
  const Config& config() const { return *config_; }
  std::size_t entry_count() const { return entry_count_; }
  std::size_t size() const { return loops_.size(); }

  // The records of every series with a result (the input of /metrics), in no particular order,
  // and the loops' counters summed.
  struct Snapshot {
    std::vector<std::shared_ptr<const TargetSnapshot>> targets;
    LoopCounters counters;
  };
  boost::asio::awaitable<Snapshot> Snapshots() const;
  // Fleet::Series of every loop, loop after loop.
  boost::asio::awaitable<std::vector<SeriesView>> Series(bool include_pending) const;
  // Fleet::FindSeries and Fleet::Knows over every loop.
  boost::asio::awaitable<std::optional<SeriesView>> FindSeries(std::string target,
                                                               std::string module) const;
  boost::asio::awaitable<bool> Knows(Target target, std::string module) const;

  // ProbeLoop::ExpandOnce and ProbeOnce on the next loop (round robin). `series` and `spec_of`
  // are read on that loop's thread while the caller awaits.
  boost::asio::awaitable<std::vector<ExpandedTarget>> ExpandOnce(ExpansionRequest request);
  boost::asio::awaitable<std::vector<ProbeResult>> ProbeOnce(
      const std::vector<ExpandedTarget>& series,
      const std::function<ProbeSpec(const ExpandedTarget&)>& spec_of);

 private:
  const std::shared_ptr<ProbeLoop>& Next();

  std::vector<std::shared_ptr<ProbeLoop>> loops_;
  std::shared_ptr<const Config> config_ = std::make_shared<const Config>();
  std::size_t entry_count_ = 0;
  std::size_t next_ = 0;
};

}  // namespace smtp

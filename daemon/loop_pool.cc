#include "daemon/loop_pool.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <utility>

#include "daemon/shard.h"

namespace smtp {
namespace asio = boost::asio;

namespace {

// The coroutines that run on a loop's thread (co_spawned onto its executor). Plain functions
// taking the loop by value, not lambdas: the loop stays alive, and GCC 12 mishandles lambda
// temporaries held across a co_await.
asio::awaitable<LoopPool::Snapshot> ReadSnapshot(std::shared_ptr<ProbeLoop> loop) {
  co_return LoopPool::Snapshot{loop->fleet().Shared(), loop->counters()};
}

asio::awaitable<std::vector<SeriesView>> ReadSeries(std::shared_ptr<ProbeLoop> loop,
                                                    bool include_pending) {
  co_return loop->fleet().Series(include_pending);
}

asio::awaitable<std::optional<SeriesView>> FindIn(std::shared_ptr<ProbeLoop> loop,
                                                  std::string target, std::string module) {
  co_return loop->fleet().FindSeries(target, module);
}

asio::awaitable<bool> KnownTo(std::shared_ptr<ProbeLoop> loop, Target target, std::string module) {
  co_return loop->fleet().Knows(target, module);
}

asio::awaitable<void> StopLoop(std::shared_ptr<ProbeLoop> loop, std::chrono::milliseconds grace) {
  co_await loop->Stop(grace);
}

}  // namespace

LoopPool::LoopPool(std::vector<std::shared_ptr<ProbeLoop>> loops) : loops_(std::move(loops)) {}

void LoopPool::Apply(std::shared_ptr<const Config> config, ShardSelector shard) {
  entry_count_ = 0;
  for (const TargetConfig& target : config->targets) {
    if (ShardOf(target.address, shard.count) == shard.index) ++entry_count_;
  }
  config_ = config;
  const auto count = static_cast<std::uint32_t>(loops_.size());
  for (std::uint32_t i = 0; i < count; ++i) {
    asio::post(loops_[i]->executor(),
               [loop = loops_[i], config, shard, partition = LoopPartition{i, count}] {
                 loop->Apply(config, shard, partition);
               });
  }
}

void LoopPool::Start() {
  for (const auto& loop : loops_) {
    asio::post(loop->executor(), [loop] { loop->Start(); });
  }
}

asio::awaitable<void> LoopPool::Stop(std::chrono::milliseconds grace) {
  using Operation =
      decltype(asio::co_spawn(loops_[0]->executor(), StopLoop(nullptr, grace), asio::deferred));
  std::vector<Operation> stops;
  for (const auto& loop : loops_) {
    stops.push_back(asio::co_spawn(loop->executor(), StopLoop(loop, grace), asio::deferred));
  }
  co_await asio::experimental::make_parallel_group(std::move(stops))
      .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
}

asio::awaitable<LoopPool::Snapshot> LoopPool::Snapshots() const {
  Snapshot all;
  for (const auto& loop : loops_) {
    Snapshot one =
        co_await asio::co_spawn(loop->executor(), ReadSnapshot(loop), asio::use_awaitable);
    all.targets.insert(all.targets.end(), std::make_move_iterator(one.targets.begin()),
                       std::make_move_iterator(one.targets.end()));
    all.counters.Add(one.counters);
  }
  co_return all;
}

asio::awaitable<std::vector<SeriesView>> LoopPool::Series(bool include_pending) const {
  std::vector<SeriesView> all;
  for (const auto& loop : loops_) {
    std::vector<SeriesView> one = co_await asio::co_spawn(
        loop->executor(), ReadSeries(loop, include_pending), asio::use_awaitable);
    all.insert(all.end(), std::make_move_iterator(one.begin()), std::make_move_iterator(one.end()));
  }
  co_return all;
}

asio::awaitable<std::optional<SeriesView>> LoopPool::FindSeries(std::string target,
                                                                std::string module) const {
  for (const auto& loop : loops_) {
    std::optional<SeriesView> found = co_await asio::co_spawn(
        loop->executor(), FindIn(loop, target, module), asio::use_awaitable);
    if (found) co_return found;
  }
  co_return std::nullopt;
}

asio::awaitable<bool> LoopPool::Knows(Target target, std::string module) const {
  for (const auto& loop : loops_) {
    const bool known = co_await asio::co_spawn(loop->executor(), KnownTo(loop, target, module),
                                               asio::use_awaitable);
    if (known) co_return true;
  }
  co_return false;
}

const std::shared_ptr<ProbeLoop>& LoopPool::Next() {
  const std::shared_ptr<ProbeLoop>& loop = loops_[next_];
  next_ = (next_ + 1) % loops_.size();
  return loop;
}

// The loop's own coroutines hold the loop (shared_from_this) and run on its executor.
asio::awaitable<std::vector<ExpandedTarget>> LoopPool::ExpandOnce(ExpansionRequest request) {
  const std::shared_ptr<ProbeLoop> loop = Next();
  std::vector<ExpandedTarget> series = co_await asio::co_spawn(
      loop->executor(), loop->ExpandOnce(std::move(request)), asio::use_awaitable);
  co_return series;
}

asio::awaitable<std::vector<ProbeResult>> LoopPool::ProbeOnce(
    const std::vector<ExpandedTarget>& series,
    const std::function<ProbeSpec(const ExpandedTarget&)>& spec_of) {
  const std::shared_ptr<ProbeLoop> loop = Next();
  std::vector<ProbeResult> results = co_await asio::co_spawn(
      loop->executor(), loop->ProbeOnce(series, spec_of), asio::use_awaitable);
  co_return results;
}

}  // namespace smtp

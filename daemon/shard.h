// Sharding a shared target list across replicas (--shard.index, --shard.count): every target
// belongs to exactly one shard, chosen by a stable hash of its configured address, so N replicas
// given the same config probe every target exactly once between them. Jump consistent hashing
// (Lamping & Veach, 2014) keeps movement minimal: going from N to N+1 shards moves about
// 1/(N+1) of the targets, all of them to the new shard. Pure.
#pragma once

#include <cstdint>
#include <string_view>

namespace smtp {

// The shard of `address` among `shard_count` (>= 1) shards, in [0, shard_count).
std::uint32_t ShardOf(std::string_view address, std::uint32_t shard_count);

}  // namespace smtp

// Sharding a fleet across replicas: each target probed by exactly one, minimal movement on growth.
#include "daemon/shard.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace smtp {
namespace {

std::vector<std::string> Fleet(int size) {
  std::vector<std::string> fleet;
  for (int i = 0; i < size; ++i) {
    fleet.push_back("mx" + std::to_string(i) + ".example.org:25");
  }
  return fleet;
}

TEST(ShardTest, OneShardTakesEverything) {
  for (const std::string& address : Fleet(100)) EXPECT_EQ(ShardOf(address, 1), 0u);
  EXPECT_EQ(ShardOf("anything", 0), 0u);
}

TEST(ShardTest, EveryTargetHasExactlyOneShardAndSharesAreEven) {
  const auto fleet = Fleet(10000);
  for (std::uint32_t count : {2u, 3u, 7u}) {
    std::vector<int> sizes(count, 0);
    for (const std::string& address : fleet) {
      const std::uint32_t shard = ShardOf(address, count);
      ASSERT_LT(shard, count);
      EXPECT_EQ(ShardOf(address, count), shard) << "stable";
      ++sizes[shard];
    }
    for (int size : sizes) {
      EXPECT_NEAR(size, 10000.0 / count, 10000.0 / count * 0.1) << count << " shards";
    }
  }
}

TEST(ShardTest, GrowingMovesOnlyTheNewShardsShare) {
  const auto fleet = Fleet(10000);
  for (std::uint32_t count : {1u, 2u, 3u, 5u}) {
    int moved = 0;
    for (const std::string& address : fleet) {
      const std::uint32_t before = ShardOf(address, count);
      const std::uint32_t after = ShardOf(address, count + 1);
      if (before != after) {
        ++moved;
        EXPECT_EQ(after, count) << "targets only move to the new shard";
      }
    }
    EXPECT_NEAR(moved, 10000.0 / (count + 1), 10000.0 / (count + 1) * 0.15) << count;
  }
}

}  // namespace
}  // namespace smtp

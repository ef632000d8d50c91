#include "daemon/shard.h"

namespace smtp {
namespace {

std::uint64_t Fnv1a64(std::string_view text) {
  std::uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

// Jump consistent hash: "A Fast, Minimal Memory, Consistent Hash Algorithm" (Lamping, Veach).
std::uint32_t JumpConsistentHash(std::uint64_t key, std::uint32_t buckets) {
  std::int64_t bucket = -1;
  std::int64_t next = 0;
  while (next < static_cast<std::int64_t>(buckets)) {
    bucket = next;
    key = key * 2862933555777941757ull + 1;
    next = static_cast<std::int64_t>(
        static_cast<double>(bucket + 1) *
        (static_cast<double>(1ull << 31) / static_cast<double>((key >> 33) + 1)));
  }
  return static_cast<std::uint32_t>(bucket);
}

}  // namespace

std::uint32_t ShardOf(std::string_view address, std::uint32_t shard_count) {
  if (shard_count <= 1) return 0;
  return JumpConsistentHash(Fnv1a64(address), shard_count);
}

}  // namespace smtp

#include "daemon/duration.h"

#include <array>
#include <charconv>
#include <cstdint>

namespace smtp {
namespace {

struct Unit {
  std::string_view suffix;
  std::int64_t milliseconds;
};
// Longest suffix first where one is a prefix of another ("ms" before "m" is handled by order of
// appearance: "m" is only taken when not followed by "s").
constexpr std::array<Unit, 7> kUnits{{{"y", 365LL * 86400000},
                                      {"w", 7LL * 86400000},
                                      {"d", 86400000},
                                      {"h", 3600000},
                                      {"m", 60000},
                                      {"s", 1000},
                                      {"ms", 1}}};

}  // namespace

std::optional<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  std::int64_t total = 0;
  std::size_t next_unit = 0;  // units must appear in kUnits order, each at most once
  while (!text.empty()) {
    std::int64_t value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end == text.data()) return std::nullopt;
    text.remove_prefix(static_cast<std::size_t>(end - text.data()));
    std::size_t unit = kUnits.size();
    if (text.starts_with("ms")) {
      unit = 6;
    } else if (!text.empty()) {
      for (std::size_t i = 0; i < 6; ++i) {
        if (text.front() == kUnits[i].suffix.front()) unit = i;
      }
    }
    if (unit == kUnits.size() || unit < next_unit) return std::nullopt;
    text.remove_prefix(kUnits[unit].suffix.size());
    if (value > INT64_MAX / kUnits[unit].milliseconds) return std::nullopt;
    total += value * kUnits[unit].milliseconds;
    if (total < 0) return std::nullopt;
    next_unit = unit + 1;
  }
  return std::chrono::milliseconds(total);
}

std::string FormatDuration(std::chrono::milliseconds duration) {
  std::int64_t remaining = duration.count();
  if (remaining == 0) return "0s";
  std::string text;
  for (const Unit& unit : kUnits) {
    if (remaining >= unit.milliseconds) {
      text += std::to_string(remaining / unit.milliseconds);
      text += unit.suffix;
      remaining %= unit.milliseconds;
    }
  }
  return text;
}

}  // namespace smtp

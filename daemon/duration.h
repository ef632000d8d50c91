// Durations as Prometheus writes them ("10s", "1m30s", "500ms", "1h", "2d"): units y, w, d, h, m,
// s, ms, each at most once and in that order. Pure.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace smtp {

std::optional<std::chrono::milliseconds> ParseDuration(std::string_view text);
std::string FormatDuration(std::chrono::milliseconds duration);  // "1m30s", "500ms", "0s"

}  // namespace smtp

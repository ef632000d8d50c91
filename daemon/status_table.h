// The status page's table (daemon/status_page.h, RenderStatusPage): its caption, the ten
// column heads and one row per target, with the cells described at RenderStatusPage. Internal
// to daemon/status_page.cc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "daemon/status_page.h"

namespace smtp::status_html {

// Appends the table of `targets` in `order` (indices into `targets`; row i gets the anchor
// RowId(i)), or a "No targets configured." row when `order` is empty. `now` is Unix seconds.
void AppendTargetTable(std::string& out, const std::vector<StatusTarget>& targets,
                       const std::vector<std::size_t>& order, std::int64_t now);

}  // namespace smtp::status_html

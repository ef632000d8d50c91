// libFuzzer target for what /probe and the CLI take from a user as a target (ParseTarget) and for
// the escaping kit that renders hostile server text (probes/escape.h). Checks the documented
// properties on every input, not just the absence of crashes: a parsed target has a host and no
// brackets, and every escaper's output is valid UTF-8 without raw control bytes; the terminal
// escaper is idempotent.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "probes/escape.h"
#include "probes/target.h"
#include "probes/text.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using smtp_fuzz::Check;
using smtp_fuzz::NoControls;
using smtp_fuzz::ValidUtf8;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string error;
  if (const std::optional<smtp::Target> target = smtp::ParseTarget(text, &error)) {
    Check(!target->host.empty());
    Check(target->host.find_first_of("[]") == std::string::npos);
  } else {
    Check(!error.empty());
  }
  const std::string terminal = smtp::EscapeTerminalText(text);
  Check(ValidUtf8(terminal) && NoControls(terminal, true));
  Check(smtp::EscapeTerminalText(terminal) == terminal);
  std::string json;
  smtp::AppendJsonString(json, text);
  Check(ValidUtf8(json) && NoControls(json, false));
  std::string logfmt;
  smtp::AppendLogfmtValue(logfmt, text);
  Check(ValidUtf8(logfmt) && NoControls(logfmt, false));
  const std::string html = smtp::EscapeHtml(text);
  Check(ValidUtf8(html) && html.find_first_of("<>\"'") == std::string::npos);
  const std::string label = smtp::ValidUtf8Text(text, 64);
  Check(ValidUtf8(label) && label.size() <= 64);
  return 0;
}

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

namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

bool ValidUtf8(std::string_view text) {
  while (!text.empty()) {
    const std::size_t length = smtp::Utf8SequenceLength(text);
    if (length == 0) return false;
    text.remove_prefix(length);
  }
  return true;
}

bool NoControls(std::string_view text, bool allow_lf_tab) {
  for (unsigned char c : text) {
    if (c == 0x7f) return false;
    if (c < 0x20 && !(allow_lf_tab && (c == '\n' || c == '\t'))) return false;
  }
  return true;
}

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

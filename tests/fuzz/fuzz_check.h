// What the fuzz targets assert besides "no crash": header-only, shared by every target.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <string_view>

#include "probes/text.h"

namespace smtp_fuzz {

// A broken property is a finding: abort, so libFuzzer saves the input.
inline void Check(bool condition) {
  if (!condition) std::abort();
}

// Whether `text` is valid UTF-8 (RFC 3629).
inline bool ValidUtf8(std::string_view text) {
  while (!text.empty()) {
    const std::size_t length = smtp::Utf8SequenceLength(text);
    if (length == 0) return false;
    text.remove_prefix(length);
  }
  return true;
}

// Whether `text` has no C0 control byte nor DEL (LF and TAB allowed when `allow_lf_tab`).
inline bool NoControls(std::string_view text, bool allow_lf_tab) {
  for (unsigned char c : text) {
    if (c == 0x7f) return false;
    if (c < 0x20 && !(allow_lf_tab && (c == '\n' || c == '\t'))) return false;
  }
  return true;
}

// An error the config decoders return is quoted into HTTP answers, logs and the status page: one
// non-empty line of valid UTF-8 without control bytes, and short (a key path, a line number, at
// most a short token or a path of 256 bytes, each byte escaped to at most 4), so a file that is
// not a config (a secret, a binary) cannot be echoed through it.
inline constexpr std::size_t kMaxErrorBytes = 2048;
inline void CheckErrorLine(std::string_view error) {
  Check(!error.empty() && error.size() <= kMaxErrorBytes);
  Check(ValidUtf8(error) && NoControls(error, false));
}

}  // namespace smtp_fuzz

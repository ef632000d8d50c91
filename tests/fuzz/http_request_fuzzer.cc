// libFuzzer target for the parts of an HTTP request the server decodes itself
// (daemon/http_message.h): the request-target with its query string, Accept-Encoding and the
// Transfer-Encoding framing check. The input is split at the first two NUL bytes into the three
// fields. Checks that a decoded path starts with '/' (or is "*"), that no decoded path or
// parameter holds NUL, and that the framing answer is one of 0, 400 and 501.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>

#include "daemon/http_message.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using smtp_fuzz::Check;

std::string_view Next(std::string_view& rest) {
  const std::size_t nul = rest.find('\0');
  const std::string_view field = rest.substr(0, nul);
  rest = nul == std::string_view::npos ? std::string_view() : rest.substr(nul + 1);
  return field;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  const std::string_view target = Next(rest);
  const std::string_view accept_encoding = Next(rest);
  const std::string_view transfer_encoding = rest;
  std::string path;
  std::map<std::string, std::string> query;
  if (smtp::http_detail::ParseTarget(target, &path, &query)) {
    Check(path == "*" || (!path.empty() && path.front() == '/'));
    Check(path.find('\0') == std::string::npos);
    for (const auto& [key, value] : query) {
      Check(key.find('\0') == std::string::npos && value.find('\0') == std::string::npos);
    }
  }
  (void)smtp::http_detail::AcceptsGzip(accept_encoding);
  for (unsigned version : {10u, 11u}) {
    const unsigned refusal = smtp::http_detail::TransferCodingRefusal(version, transfer_encoding);
    Check(refusal == 0 || refusal == 400 || refusal == 501);
    if (version == 10) Check(refusal == 400);
  }
  return 0;
}

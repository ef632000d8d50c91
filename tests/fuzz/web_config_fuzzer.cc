// libFuzzer target for the web config decoder (daemon/web_config.h): the bytes of a
// --web.config.file. Relative file paths resolve against a folder that does not exist, so the
// outcome depends on the input only. Checks on every input: exactly one of config and error is
// set; an error is one line of valid UTF-8 without control bytes and of bounded length (no file
// content echoed, issue 13 item 7); a decoded config's users have names without ':' (RFC 7617
// §2) and bcrypt hashes of 60 characters in $2a$/$2b$/$2y$ form, and a TLS section carries its
// OpenSSL context.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "daemon/web_config.h"
#include "probes/text.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using smtp_fuzz::Check;
using smtp_fuzz::CheckErrorLine;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view yaml(reinterpret_cast<const char*>(data), size);
  const smtp::WebConfigResult result = smtp::ParseWebConfig(yaml, "/nonexistent-fuzz-base");
  Check(result.config.has_value() == result.error.empty());
  if (!result.config) {
    CheckErrorLine(result.error);
    return 0;
  }
  for (const auto& [user, hash] : result.config->basic_auth_users) {
    Check(!user.empty() && user.find(':') == std::string::npos);
    Check(hash.size() == 60 && hash.starts_with("$2") && hash[3] == '$');
  }
  if (result.config->tls) Check(result.config->tls->context != nullptr);
  return 0;
}

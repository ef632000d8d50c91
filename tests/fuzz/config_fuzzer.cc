// libFuzzer target for the config decoder (daemon/config.h): the bytes of a --config.file as a
// mistaken or hostile operator, a file swapped under a reload, or a symlink to the wrong file
// makes them. Relative file paths resolve against a folder that does not exist, so the outcome
// depends on the input only. Checks the decoder's contract on every input, not just the absence
// of crashes:
//  - exactly one of config and error is set;
//  - an error is one line of valid UTF-8 without control bytes and of bounded length, so a file
//    that is not a config (a secret, a binary) cannot be echoed through a reload answer or the
//    status page (issue 13 item 7);
//  - a decoded config is consistent: a "default" module, every target's module defined, a port
//    and a positive interval no shorter than its module's timeout, and every probe_allowlist
//    entry splits into a host and ports that the allowlist then allows (a name, an IP literal,
//    the network address of a CIDR prefix, a name below a "*." pattern).
#include <arpa/inet.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "daemon/config.h"
#include "probes/text.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using smtp_fuzz::Check;
using smtp_fuzz::CheckErrorLine;

bool IsIpLiteral(const std::string& text) {
  unsigned char buffer[16];
  return inet_pton(AF_INET, text.c_str(), buffer) == 1 ||
         inet_pton(AF_INET6, text.c_str(), buffer) == 1;
}

// The host an entry allows for certain: itself, a CIDR prefix's network address, or a name one
// label below a "*." pattern.
std::string AllowedHost(const std::string& entry_host) {
  if (entry_host.starts_with("*.")) return "a" + entry_host.substr(1);
  const std::size_t slash = entry_host.find('/');
  return slash == std::string::npos ? entry_host : entry_host.substr(0, slash);
}

void CheckAllowlist(const smtp::Config& config) {
  for (const std::string& entry : config.probe_allowlist) {
    std::string error;
    const std::optional<smtp::AllowlistEntry> split = smtp::SplitAllowlistEntry(entry, &error);
    Check(split.has_value() && !split->host.empty());
    const std::uint16_t port =
        split->ports.empty() ? smtp::kDefaultAllowedPorts[0] : split->ports.front();
    const std::string host = AllowedHost(split->host);
    Check(smtp::ProbeAllowed(config.probe_allowlist, host, port));
    if (IsIpLiteral(host)) {
      Check(smtp::HasAddressEntries(config.probe_allowlist));
      Check(smtp::AddressAllowed(config.probe_allowlist, host, port));
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view yaml(reinterpret_cast<const char*>(data), size);
  const smtp::LoadResult result = smtp::ParseConfig(yaml, "/nonexistent-fuzz-base");
  Check(result.config.has_value() == result.error.empty());
  if (!result.config) {
    CheckErrorLine(result.error);
    return 0;
  }
  const smtp::Config& config = *result.config;
  Check(config.modules.count("default") == 1);
  for (const smtp::TargetConfig& target : config.targets) {
    const auto module = config.modules.find(target.module);
    Check(module != config.modules.end());
    Check(!target.target.host.empty());
    Check(target.interval.count() > 0);
  }
  CheckAllowlist(config);
  return 0;
}

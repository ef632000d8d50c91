// Names of the ProbeSpec enums as they appear in the config file and on the command line.
#include "probes/probe_spec.h"

namespace smtp {

const char* ToString(StartTlsMode mode) {
  switch (mode) {
    case StartTlsMode::kOff:
      return "off";
    case StartTlsMode::kOpportunistic:
      return "opportunistic";
    case StartTlsMode::kRequired:
      return "required";
  }
  return "unknown";
}

const char* ToString(IpProtocol protocol) {
  switch (protocol) {
    case IpProtocol::kIp4:
      return "ip4";
    case IpProtocol::kIp6:
      return "ip6";
    case IpProtocol::kBoth:
      return "both";
  }
  return "unknown";
}

// Parsing is exact (lower case, no blanks): the config is strict (DESIGN §2), and a value that
// is almost right is reported rather than guessed.
std::optional<StartTlsMode> ParseStartTlsMode(std::string_view text) {
  for (StartTlsMode mode :
       {StartTlsMode::kOff, StartTlsMode::kOpportunistic, StartTlsMode::kRequired}) {
    if (text == ToString(mode)) return mode;
  }
  return std::nullopt;
}

std::optional<IpProtocol> ParseIpProtocol(std::string_view text) {
  for (IpProtocol protocol : {IpProtocol::kIp4, IpProtocol::kIp6, IpProtocol::kBoth}) {
    if (text == ToString(protocol)) return protocol;
  }
  return std::nullopt;
}

}  // namespace smtp

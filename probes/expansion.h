// TEMPORARY (replaced by the probes/ expansion being written on branch issue8-d).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "probes/probe_result.h"
#include "probes/probe_spec.h"
#include "probes/target.h"

namespace boost::asio {
class io_context;
}

namespace smtp {

struct ExpandedTarget {
  std::string host;
  std::uint16_t port = 0;
  std::optional<std::string> address;
  std::string label;
  std::string domain;
  std::optional<int> mx_records;
  std::string key;
  std::optional<ProbeResult> failure;
};

struct ExpansionRequest {
  Target target;
  std::string label;
  std::uint16_t default_port = 25;
  IpProtocol ip_protocol = IpProtocol::kIp4;
  std::string dns_server;
  std::chrono::milliseconds timeout{10000};
};

void StartExpansion(boost::asio::io_context& io, ExpansionRequest request,
                    std::function<void(std::vector<ExpandedTarget>)> done);

}  // namespace smtp

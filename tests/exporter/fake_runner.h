// A made-up network for the probe loop and the routes: expansions and probe results come from
// the test, after a delay on the loop's own timers, so the real loop runs with millisecond
// intervals and no socket. Single-threaded, like the loop.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "daemon/probe_loop.h"

namespace smtp::testing {

// A healthy result for `host`, with a 220 greeting after `greeting`.
inline ProbeResult Healthy(const std::string& host,
                           std::chrono::milliseconds greeting = std::chrono::milliseconds(5)) {
  ProbeResult result;
  result.host = host;
  result.port = 25;
  result.success = true;
  StepResult step;
  step.step = Step::kGreeting;
  step.ok = true;
  step.reply_code = 220;
  step.duration = greeting;
  result.steps.push_back(step);
  return result;
}

inline ProbeResult Down(const std::string& host) {
  ProbeResult result;
  result.host = host;
  result.port = 25;
  result.failed_step = Step::kConnect;
  result.failure_reason = FailureReason::kRefused;
  return result;
}

struct FakeNetwork {
  // What a probe of `spec` returns; default: Healthy(spec.host). May throw.
  std::function<ProbeResult(const ProbeSpec&)> answer;
  // What an expansion returns; default: the target itself, unexpanded.
  std::function<std::vector<ExpandedTarget>(const ExpansionRequest&)> expand;
  std::chrono::milliseconds delay{2};         // how long each probe takes
  std::chrono::milliseconds expand_delay{0};  // how long each expansion takes

  std::vector<ProbeSpec> probes;  // every probe started, in order
  int expansions = 0;
  int running = 0;
  int max_running = 0;

  int ProbesOf(const std::string& host) const {
    int count = 0;
    for (const ProbeSpec& spec : probes) count += spec.host == host;
    return count;
  }

  ProbeRunner Runner() {
    ProbeRunner runner;
    runner.expand =
        [this](ExpansionRequest request) -> boost::asio::awaitable<std::vector<ExpandedTarget>> {
      ++expansions;
      if (expand_delay.count() > 0) {
        boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, expand_delay);
        co_await timer.async_wait(boost::asio::use_awaitable);
      }
      if (expand) co_return expand(request);
      ExpandedTarget self;
      self.host = request.target.host;
      self.port = request.target.port != 0 ? request.target.port : request.default_port;
      self.label = request.label;
      co_return std::vector<ExpandedTarget>{self};
    };
    runner.probe = [this](ProbeSpec spec) -> boost::asio::awaitable<ProbeResult> {
      probes.push_back(spec);
      ++running;
      max_running = std::max(max_running, running);
      boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, delay);
      co_await timer.async_wait(boost::asio::use_awaitable);
      --running;
      co_return answer ? answer(spec) : Healthy(spec.host);
    };
    return runner;
  }
};

// A config of `addresses` probed every `interval` with the "default" module.
inline Config ConfigOf(const std::vector<std::string>& addresses,
                       std::chrono::milliseconds interval) {
  Config config;
  config.modules["default"] = Module{};
  for (const std::string& address : addresses) {
    TargetConfig target;
    target.address = address;
    std::string error;
    target.target = *ParseTarget(address, &error);
    if (target.target.port == 0) target.target.port = 25;  // the default module's, as decoded
    target.interval = interval;
    config.targets.push_back(target);
  }
  return config;
}

}  // namespace smtp::testing

// A counting semaphore for coroutines on one executor: a fixed number of slots, taken in the
// order they were asked for, each wait bounded by a deadline. /probe uses it to cap the probes
// it runs at once (--probe.max-on-demand) without refusing the requests beyond the cap: they wait
// for a slot within their scrape timeout.
//
// Not thread-safe: construct, Acquire and release on the executor's one thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <list>
#include <memory>
#include <utility>

namespace smtp {

class Slots {
  struct State;

 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  // A held slot; released when destroyed (safe even after the Slots is gone). Empty (held()
  // false) when the wait timed out.
  class Held {
   public:
    Held() = default;
    Held(Held&&) noexcept = default;
    Held& operator=(Held&&) = delete;
    ~Held();
    bool held() const { return state_ != nullptr; }

   private:
    friend class Slots;
    explicit Held(std::shared_ptr<State> state) : state_(std::move(state)) {}
    std::shared_ptr<State> state_;
  };

  Slots(boost::asio::any_io_executor executor, std::size_t count);
  Slots(const Slots&) = delete;
  Slots& operator=(const Slots&) = delete;

  // A free slot at once, or the first one released before `deadline` (first come, first
  // served); an empty Held when the deadline passes first.
  boost::asio::awaitable<Held> Acquire(TimePoint deadline);

  std::size_t capacity() const;
  std::size_t in_use() const;
  std::size_t waiting() const;

 private:
  boost::asio::any_io_executor executor_;
  std::shared_ptr<State> state_;
};

}  // namespace smtp

#include "daemon/slots.h"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <list>

namespace smtp {
namespace asio = boost::asio;

namespace {

struct Waiter {
  explicit Waiter(asio::any_io_executor executor) : timer(std::move(executor)) {}
  asio::steady_timer timer;
  bool granted = false;  // Release() handed this waiter its slot
};

}  // namespace

struct Slots::State {
  std::size_t capacity = 1;
  std::size_t in_use = 0;
  std::list<std::shared_ptr<Waiter>> waiters;

  void Release() {
    // The slot passes straight to the longest waiter, so a newcomer cannot overtake it.
    if (!waiters.empty()) {
      std::shared_ptr<Waiter> next = std::move(waiters.front());
      waiters.pop_front();
      next->granted = true;
      next->timer.cancel();
      return;
    }
    --in_use;
  }
};

Slots::Held::~Held() {
  if (state_ != nullptr) state_->Release();
}

Slots::Slots(asio::any_io_executor executor, std::size_t count)
    : executor_(std::move(executor)), state_(std::make_shared<State>()) {
  state_->capacity = std::max<std::size_t>(count, 1);
}

std::size_t Slots::capacity() const { return state_->capacity; }
std::size_t Slots::in_use() const { return state_->in_use; }
std::size_t Slots::waiting() const { return state_->waiters.size(); }

asio::awaitable<Slots::Held> Slots::Acquire(TimePoint deadline) {
  std::shared_ptr<State> state = state_;
  if (state->in_use < state->capacity && state->waiters.empty()) {
    ++state->in_use;
    co_return Held(state);
  }
  auto waiter = std::make_shared<Waiter>(executor_);
  waiter->timer.expires_at(deadline);
  auto position = state->waiters.insert(state->waiters.end(), waiter);
  co_await waiter->timer.async_wait(asio::as_tuple(asio::use_awaitable));
  if (waiter->granted) co_return Held(state);  // Release() kept it counted in in_use
  state->waiters.erase(position);
  co_return Held();
}

}  // namespace smtp

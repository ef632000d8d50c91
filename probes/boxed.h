// Boxed<T>: an optional T kept on the heap; Sparse<T>: a T kept on the heap once written.
//
// Boxed<T>: an optional T kept on the heap. The same interface as std::optional<T> (what the
// probe result uses of it), with value semantics (copies are deep), but 8 bytes in its owner
// instead of sizeof(T) + 8.
//
// Why: the daemon keeps every target's latest ProbeResult (daemon/target_state.h). Its parts that
// only some modules fill (the STARTTLS session, the domain checks) were inline optionals, 0.7 KB
// of every result even when empty (sizeof(ProbeResult) 1,560 -> 856 bytes); at 100,000 targets
// that was 70 MB of nothing (bench/README "Memory per target").
#pragma once

#include <memory>
#include <optional>
#include <utility>

namespace smtp {

template <class T>
class Boxed {
 public:
  using value_type = T;

  Boxed() = default;
  Boxed(std::nullopt_t) {}  // NOLINT(google-explicit-constructor): as std::optional
  Boxed(T value)            // NOLINT(google-explicit-constructor): as std::optional
      : value_(std::make_unique<T>(std::move(value))) {}
  Boxed(const Boxed& other) : value_(other ? std::make_unique<T>(*other) : nullptr) {}
  Boxed(Boxed&&) noexcept = default;
  Boxed& operator=(const Boxed& other) {
    if (this != &other) value_ = other ? std::make_unique<T>(*other) : nullptr;
    return *this;
  }
  Boxed& operator=(Boxed&&) noexcept = default;
  Boxed& operator=(std::nullopt_t) {
    value_.reset();
    return *this;
  }
  Boxed& operator=(T value) {
    emplace(std::move(value));
    return *this;
  }

  template <class... Args>
  T& emplace(Args&&... args) {
    value_ = std::make_unique<T>(std::forward<Args>(args)...);
    return *value_;
  }
  void reset() { value_.reset(); }

  bool has_value() const { return value_ != nullptr; }
  explicit operator bool() const { return has_value(); }

  T& operator*() { return *value_; }
  const T& operator*() const { return *value_; }
  T* operator->() { return value_.get(); }
  const T* operator->() const { return value_.get(); }
  // Throws std::bad_optional_access when empty, as std::optional::value does.
  T& value() {
    if (!value_) throw std::bad_optional_access();
    return *value_;
  }
  const T& value() const {
    if (!value_) throw std::bad_optional_access();
    return *value_;
  }

  template <class U>
  T value_or(U&& fallback) const {
    return value_ ? *value_ : static_cast<T>(std::forward<U>(fallback));
  }

  // A copy as a std::optional, for code that takes one.
  std::optional<T> optional() const { return value_ ? std::optional<T>(*value_) : std::nullopt; }

  friend bool operator==(const Boxed& a, const Boxed& b) {
    if (!a || !b) return !a && !b;
    return *a == *b;
  }
  friend bool operator==(const Boxed& a, std::nullopt_t) { return !a; }

 private:
  std::unique_ptr<T> value_;
};

// Sparse<T>: a T that takes 8 bytes in its owner until it is written: until then it reads as a
// default-constructed T (one shared instance). Any non-const access writes: it puts a default T
// on the heap first. So read it through a const reference where nothing is to be written.
// Copies are deep. For the parts of a result that most probes never fill (the relay test, AUTH,
// user enumeration: 224 bytes of every result inline).
template <class T>
class Sparse {
 public:
  using value_type = T;

  Sparse() = default;
  Sparse(T value) : value_(std::move(value)) {}  // NOLINT(google-explicit-constructor): as a T
  Sparse& operator=(T value) {
    value_ = std::move(value);
    return *this;
  }

  const T& operator*() const { return value_ ? *value_ : Default(); }
  const T* operator->() const { return &**this; }
  T& operator*() { return value_ ? *value_ : value_.emplace(); }
  T* operator->() { return &**this; }
  operator const T&() const { return **this; }  // NOLINT(google-explicit-constructor): as a T

  // Whether a T was ever written (it may still equal a default T).
  bool written() const { return value_.has_value(); }

 private:
  static const T& Default() {
    static const T kDefault{};
    return kDefault;
  }
  Boxed<T> value_;
};

// The value of a std::optional or a Boxed, or null when it has none: one way to read either
// (e.g. "the capabilities of this session", one or the other).
template <class Optional>
auto ValuePointer(const Optional& optional) -> decltype(&*optional) {
  return optional ? &*optional : nullptr;
}

}  // namespace smtp

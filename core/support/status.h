// Error values for everything reachable from user input (model files, input files, pipelines).
// A failure carries one human-readable message; callers add context (file, node) as it travels up.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace fluidml {

/// Success, or one message describing what went wrong.
class [[nodiscard]] Status {
 public:
  Status() = default;
  static Status ok() { return Status(); }
  static Status error(std::string message) {
    Status status;
    status.message_ = std::move(message);
    return status;
  }

  bool isOk() const { return !message_.has_value(); }
  explicit operator bool() const { return isOk(); }
  const std::string &message() const {
    assert(message_.has_value());
    return *message_;
  }
  /// Prefixes the message with `context: `, keeping success untouched.
  Status withContext(const std::string &context) const {
    if (isOk()) return *this;
    return error(context + ": " + *message_);
  }

 private:
  std::optional<std::string> message_;
};

/// A value of type T, or the Status explaining why there is none.
template <typename T>
class [[nodiscard]] Expected {
 public:
  Expected(T value) : storage_(std::move(value)) {}
  Expected(Status status) : storage_(std::move(status)) { assert(!std::get<Status>(storage_).isOk()); }

  bool hasValue() const { return std::holds_alternative<T>(storage_); }
  explicit operator bool() const { return hasValue(); }

  T &value() & {
    assert(hasValue());
    return std::get<T>(storage_);
  }
  const T &value() const & {
    assert(hasValue());
    return std::get<T>(storage_);
  }
  T &&value() && {
    assert(hasValue());
    return std::get<T>(std::move(storage_));
  }
  T &operator*() & { return value(); }
  const T &operator*() const & { return value(); }
  T *operator->() { return &value(); }
  const T *operator->() const { return &value(); }

  const Status &status() const {
    static const Status kOk;
    return hasValue() ? kOk : std::get<Status>(storage_);
  }
  const std::string &message() const { return std::get<Status>(storage_).message(); }

 private:
  std::variant<T, Status> storage_;
};

}  // namespace fluidml

/// Returns early from the enclosing function when `expr` (a Status) failed.
#define FLUIDML_RETURN_IF_ERROR(expr)                 \
  do {                                                \
    ::fluidml::Status fluidml_status_ = (expr);       \
    if (!fluidml_status_.isOk()) return fluidml_status_; \
  } while (false)

#define FLUIDML_CONCAT_INNER(a, b) a##b
#define FLUIDML_CONCAT(a, b) FLUIDML_CONCAT_INNER(a, b)

/// `FLUIDML_ASSIGN_OR_RETURN(auto x, makeX());` binds the value or returns the error.
#define FLUIDML_ASSIGN_OR_RETURN(decl, expr)                                          \
  auto FLUIDML_CONCAT(fluidml_expected_, __LINE__) = (expr);                          \
  if (!FLUIDML_CONCAT(fluidml_expected_, __LINE__).hasValue())                        \
    return FLUIDML_CONCAT(fluidml_expected_, __LINE__).status();                      \
  decl = std::move(FLUIDML_CONCAT(fluidml_expected_, __LINE__)).value()

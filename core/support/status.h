// Error values for everything reachable from user input (model files, input files, pipelines).
// A failure carries one human-readable message and a kind; callers add context (file, node) as it travels up.
// The kind tells a user's mistake (bad model, input, option, pipeline: fix the input) from a bug in fluidml (a
// checker that fails, LLVM IR that does not verify: report it); the CLI exits 2 for the first and 1 for the second.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace fluidml {

/// Who is to blame for a failed Status.
enum class ErrorKind {
  User,      ///< the model, an input, an option or a pipeline is wrong
  Internal,  ///< a bug in fluidml: an invariant a checker or verifier caught
};

/// Success, or one message describing what went wrong and whose fault it is.
class [[nodiscard]] Status {
 public:
  Status() = default;
  static Status ok() { return Status(); }
  /// A user error: the message says what in the input is wrong.
  static Status error(std::string message) { return make(std::move(message), ErrorKind::User); }
  /// An internal error (a bug in fluidml); the message should not repeat "internal error", reporters add it.
  static Status internal(std::string message) { return make(std::move(message), ErrorKind::Internal); }

  bool isOk() const { return !message_.has_value(); }
  /// The kind of a failure (User for success, which has none).
  ErrorKind kind() const { return kind_; }
  bool isInternal() const { return !isOk() && kind_ == ErrorKind::Internal; }
  explicit operator bool() const { return isOk(); }
  const std::string &message() const {
    assert(message_.has_value());
    return *message_;
  }
  /// Prefixes the message with `context: `, keeping success untouched.
  Status withContext(const std::string &context) const {
    if (isOk()) return *this;
    return make(context + ": " + *message_, kind_);
  }

 private:
  static Status make(std::string message, ErrorKind kind) {
    Status status;
    status.message_ = std::move(message);
    status.kind_ = kind;
    return status;
  }

  std::optional<std::string> message_;
  ErrorKind kind_ = ErrorKind::User;
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

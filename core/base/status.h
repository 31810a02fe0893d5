// Status and Result<T>: the error model of every Ketenpoort library.
//
// Codes are Abseil's canonical list. The mapping used throughout the project
// (STYLE.md "Errors"): bad signature or unknown key -> kUnauthenticated;
// policy deny -> kPermissionDenied; broken log chain -> kDataLoss; peer gone ->
// kUnavailable; case closed -> kFailedPrecondition; malformed message ->
// kInvalidArgument. No exception crosses a module boundary: libraries that
// call throwing code (cppzmq, yaml-cpp, protobuf) turn it into a Status.
//
// Messages are read by people (partner IT, coordinators): they say what is
// wrong and, where possible, what to do. They never carry personal data or
// fragment content, only ids, file names and sizes.
//
// Status and Result are value types; not thread-safe to mutate concurrently.
#ifndef KETENPOORT_CORE_BASE_STATUS_H_
#define KETENPOORT_CORE_BASE_STATUS_H_

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace kp {

enum class StatusCode : int {
  kOk = 0,
  kCancelled = 1,
  kUnknown = 2,
  kInvalidArgument = 3,
  kDeadlineExceeded = 4,
  kNotFound = 5,
  kAlreadyExists = 6,
  kPermissionDenied = 7,
  kResourceExhausted = 8,
  kFailedPrecondition = 9,
  kAborted = 10,
  kOutOfRange = 11,
  kUnimplemented = 12,
  kInternal = 13,
  kUnavailable = 14,
  kDataLoss = 15,
  kUnauthenticated = 16,
};

// "INVALID_ARGUMENT", "UNAUTHENTICATED", ...
std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message);

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // "UNAUTHENTICATED: signature does not verify".
  std::string ToString() const;

  // Returns a copy whose message is "<prefix>: <message>"; keeps the code.
  Status WithContext(std::string_view prefix) const;

  friend bool operator==(const Status& a, const Status& b) {
    return a.code_ == b.code_ && a.message_ == b.message_;
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

std::ostream& operator<<(std::ostream& os, const Status& status);

inline Status OkStatus() { return Status(); }
Status InvalidArgumentError(std::string message);
Status NotFoundError(std::string message);
Status AlreadyExistsError(std::string message);
Status PermissionDeniedError(std::string message);
Status ResourceExhaustedError(std::string message);
Status FailedPreconditionError(std::string message);
Status OutOfRangeError(std::string message);
Status UnimplementedError(std::string message);
Status InternalError(std::string message);
Status UnavailableError(std::string message);
Status DataLossError(std::string message);
Status UnauthenticatedError(std::string message);
Status DeadlineExceededError(std::string message);

// Result<T> holds either a T or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  // Implicit on purpose, so a function returning Result<T> can
  // `return value;` or `return SomeError(...);`.
  Result(T value) : state_(std::move(value)) {}  // NOLINT
  Result(Status status) : state_(std::move(status)) {  // NOLINT
    if (std::get<Status>(state_).ok()) {
      state_ = Status(StatusCode::kInternal, "Result built from an OK Status");
    }
  }

  bool ok() const { return std::holds_alternative<T>(state_); }
  Status status() const { return ok() ? Status() : std::get<Status>(state_); }

  // Precondition: ok(). Calling these on an error is a programming error.
  T& value() & { return CheckedValue(); }
  const T& value() const& { return const_cast<Result*>(this)->CheckedValue(); }
  T&& value() && { return std::move(CheckedValue()); }
  T value_or(T fallback) const& { return ok() ? std::get<T>(state_) : std::move(fallback); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  T& CheckedValue() {
    if (!ok()) {
      std::fputs(("Result::value() on error: " + std::get<Status>(state_).ToString() + "\n").c_str(),
                 stderr);
      std::abort();
    }
    return std::get<T>(state_);
  }
  std::variant<T, Status> state_;
};

}  // namespace kp

#define KP_STATUS_CONCAT_INNER_(a, b) a##b
#define KP_STATUS_CONCAT_(a, b) KP_STATUS_CONCAT_INNER_(a, b)

// Returns from the enclosing function when `expr` (a Status) is not OK.
#define KP_RETURN_IF_ERROR(expr)                 \
  do {                                           \
    ::kp::Status kp_status_ = (expr);            \
    if (!kp_status_.ok()) return kp_status_;     \
  } while (0)

// `KP_ASSIGN_OR_RETURN(auto x, MakeX());` declares x from a Result or returns
// its error from the enclosing function.
#define KP_ASSIGN_OR_RETURN(lhs, expr) \
  KP_ASSIGN_OR_RETURN_IMPL_(KP_STATUS_CONCAT_(kp_result_, __LINE__), lhs, expr)
#define KP_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return tmp.status();             \
  lhs = std::move(tmp).value()

// A broken invariant (never untrusted input) stops the process.
#define KP_CHECK(cond)                                                          \
  do {                                                                          \
    if (!(cond)) {                                                              \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                             \
    }                                                                           \
  } while (0)

#endif  // KETENPOORT_CORE_BASE_STATUS_H_

#include "cli/cli_context.h"

namespace kp::cli {

void CliContext::Fail(const Status& status) {
  err << "error: " << status.message() << "\n";
  switch (status.code()) {
    case StatusCode::kUnauthenticated:
    case StatusCode::kDataLoss:
      exit_code = kExitVerification;
      break;
    case StatusCode::kPermissionDenied:
      exit_code = kExitRefused;
      break;
    case StatusCode::kUnavailable:
    case StatusCode::kDeadlineExceeded:
      exit_code = kExitUnavailable;
      break;
    default:
      exit_code = kExitError;
  }
}

}  // namespace kp::cli

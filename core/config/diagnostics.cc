#include "core/config/diagnostics.h"

#include <algorithm>
#include <utility>

namespace kp::config {

std::string Diagnostic::ToString() const {
  std::string out = file;
  if (line > 0) out += ":" + std::to_string(line) + ":" + std::to_string(column);
  return out + ": error: " + message;
}

std::string FormatDiagnostics(const std::vector<Diagnostic>& diagnostics) {
  std::string out;
  for (const auto& d : diagnostics) out += d.ToString() + "\n";
  return out;
}

void Diagnostics::Error(Mark at, std::string message) {
  diagnostics_.push_back({file_, at.line, at.column, std::move(message)});
}

std::vector<Diagnostic> Diagnostics::Take() {
  std::stable_sort(diagnostics_.begin(), diagnostics_.end(), [](const Diagnostic& a, const Diagnostic& b) {
    return std::pair(a.line, a.column) < std::pair(b.line, b.column);
  });
  return std::exchange(diagnostics_, {});
}

Status Diagnostics::TakeStatus(std::string_view what) {
  if (diagnostics_.empty()) return OkStatus();
  const std::vector<Diagnostic> all = Take();
  std::string message = std::string(what) + " has " + std::to_string(all.size()) + " problem(s):";
  for (const auto& d : all) message += "\n  " + d.ToString();
  return InvalidArgumentError(std::move(message));
}

}  // namespace kp::config

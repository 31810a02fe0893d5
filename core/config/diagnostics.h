// Diagnostics: the problems found while reading a YAML file, each with the
// file and a 1-based line:column, so a person can fix them all in one go.
//
// A Diagnostics collects them while a reader walks the file; nothing stops at
// the first problem. Thread-compatible (one reader, one collector).
#ifndef KETENPOORT_CORE_CONFIG_DIAGNOSTICS_H_
#define KETENPOORT_CORE_CONFIG_DIAGNOSTICS_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/status.h"

namespace kp::config {

// A place in a file: 1-based line and column; 0:0 when there is no place
// (an empty file, a key that is missing altogether).
struct Mark {
  int line = 0;
  int column = 0;
};

struct Diagnostic {
  std::string file;
  int line = 0;  // 1-based; 0 when the problem has no place
  int column = 0;
  std::string message;
  // "gateway.yaml:12:7: error: unknown key 'lisen' in ..." (no ":line:col"
  // when line is 0).
  std::string ToString() const;
};

// Joins diagnostics, one ToString() per line, each ending in '\n'.
std::string FormatDiagnostics(const std::vector<Diagnostic>& diagnostics);

class Diagnostics {
 public:
  explicit Diagnostics(std::string file) : file_(std::move(file)) {}

  void Error(Mark at, std::string message);
  void Error(std::string message) { Error(Mark{}, std::move(message)); }  // no place

  const std::string& file() const { return file_; }
  size_t size() const { return diagnostics_.size(); }
  bool empty() const { return diagnostics_.empty(); }

  // Every diagnostic, sorted by line then column (stable: problems at one
  // place keep the order they were found in). Leaves the collector empty.
  std::vector<Diagnostic> Take();

  // OkStatus when there is nothing; else InvalidArgument
  //   "<what> has 2 problem(s):\n  f.yaml:3:1: error: ...\n  f.yaml:9:5: error: ..."
  // and the collector is left empty.
  Status TakeStatus(std::string_view what);

 private:
  std::string file_;
  std::vector<Diagnostic> diagnostics_;
};

}  // namespace kp::config

#endif  // KETENPOORT_CORE_CONFIG_DIAGNOSTICS_H_

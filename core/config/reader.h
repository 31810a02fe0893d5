// Reader: typed reads of YAML values that report every problem into a
// Diagnostics with the value's line:column, and never stop at the first one.
// Each read returns nullopt (or an empty list) after reporting; the caller
// goes on with the next value. The policy loader and every configuration use
// these reads, so a wrong type reads the same everywhere:
//   "retention_days must be a whole number from 1 to 36500".
//
// Thread-compatible. The Diagnostics is borrowed and must outlive the Reader.
#ifndef KETENPOORT_CORE_CONFIG_READER_H_
#define KETENPOORT_CORE_CONFIG_READER_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/config/diagnostics.h"
#include "core/config/node.h"

namespace kp::config {

// The longest duration a configuration takes (100 years, in milliseconds).
inline constexpr int64_t kMaxDurationMs = 100LL * 366 * 24 * 3600 * 1000;

// "'x'".
std::string Quote(std::string_view s);
// Letters, digits, '-', '_', '.', at most 64, starting with a letter or digit.
bool IsValidId(std::string_view id);
// 86'400'000 -> "1d", 1500 -> "1500ms": the largest unit that divides it.
std::string FormatDurationMs(int64_t ms);

class Reader {
 public:
  // Relative paths read with Path() are taken from `base_dir` ("" = as written).
  explicit Reader(Diagnostics* diagnostics, std::string base_dir = "")
      : diagnostics_(diagnostics), base_dir_(std::move(base_dir)) {}

  void Error(Mark at, std::string message) { diagnostics_->Error(at, std::move(message)); }
  void Error(const Node& at, std::string message) { Error(at.mark(), std::move(message)); }
  Diagnostics& diagnostics() { return *diagnostics_; }
  const std::string& base_dir() const { return base_dir_; }

  // A mapping's values by key, after the unknown and duplicate keys were
  // reported (and left out).
  struct Fields {
    std::map<std::string, Node> by_key;
    Node self;
    bool Has(const std::string& key) const { return by_key.count(key) > 0; }
    Node Get(const std::string& key) const {
      auto it = by_key.find(key);
      return it == by_key.end() ? Node() : it->second;
    }
  };

  // Errors: "<what> must be a mapping"; "keys of <what> must be plain names";
  // "unknown key 'k' in <what> (expected one of: ...)"; "duplicate key 'k' in
  // <what>"; "<what> lacks required key 'k'" (at the mapping).
  std::optional<Fields> ReadMap(const Node& node, std::string_view what, const std::vector<std::string>& allowed,
                                const std::vector<std::string>& required);
  // A scalar: "<what> must be text".
  std::optional<std::string> Text(const Node& node, std::string_view what);
  // A scalar that IsValidId.
  std::optional<std::string> Id(const Node& node, std::string_view what);
  // true or false.
  std::optional<bool> Bool(const Node& node, std::string_view what);
  // A whole number in [min, max].
  std::optional<int64_t> Int(const Node& node, std::string_view what, int64_t min, int64_t max);
  // A duration ("24h", "15m", "30s", "500ms", "7d"; core/base/duration.h) in [min_ms, max_ms].
  std::optional<int64_t> DurationMs(const Node& node, std::string_view what, int64_t min_ms, int64_t max_ms);
  // A size ("1MiB", "64KiB", "4096" or "4096B") in [min, max] bytes.
  std::optional<uint64_t> SizeBytes(const Node& node, std::string_view what, uint64_t min, uint64_t max);
  // Text naming a file or folder; a relative one is taken from base_dir().
  std::optional<std::string> Path(const Node& node, std::string_view what);
  std::string ResolvePath(const std::string& path) const;
  // A scalar or a sequence of scalars, each with its node (for its place).
  // "<what> must be a name or a list of names"; "each entry of <what> must be
  // a name"; "<what> must not be empty".
  std::vector<std::pair<std::string, Node>> TextList(const Node& node, std::string_view what);
  // A sequence's elements: "<what> must be a list".
  std::vector<Node> Items(const Node& node, std::string_view what);

 private:
  Diagnostics* diagnostics_;  // not owned
  std::string base_dir_;
};

}  // namespace kp::config

#endif  // KETENPOORT_CORE_CONFIG_READER_H_

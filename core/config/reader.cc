#include "core/config/reader.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <filesystem>

#include "core/base/duration.h"

namespace kp::config {

std::string Quote(std::string_view s) { return "'" + std::string(s) + "'"; }

bool IsValidId(std::string_view id) {
  if (id.empty() || id.size() > 64 || !std::isalnum(static_cast<unsigned char>(id[0]))) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

std::string FormatDurationMs(int64_t ms) {
  struct Unit {
    int64_t ms;
    const char* name;
  };
  for (const Unit u : {Unit{86'400'000, "d"}, Unit{3'600'000, "h"}, Unit{60'000, "m"}, Unit{1000, "s"}}) {
    if (ms != 0 && ms % u.ms == 0) return std::to_string(ms / u.ms) + u.name;
  }
  return std::to_string(ms) + "ms";
}

namespace {

std::string FormatSize(uint64_t bytes) {
  for (const auto& [scale, unit] : {std::pair{uint64_t{1} << 30, "GiB"}, std::pair{uint64_t{1} << 20, "MiB"},
                                    std::pair{uint64_t{1} << 10, "KiB"}}) {
    if (bytes != 0 && bytes % scale == 0) return std::to_string(bytes / scale) + unit;
  }
  return std::to_string(bytes);
}

// "1MiB", "64KiB", "4096" or "4096B" -> bytes; nullopt when malformed or too large.
std::optional<uint64_t> ParseSize(const std::string& text) {
  size_t i = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
  if (i == 0 || i > 12) return std::nullopt;
  uint64_t n = 0;
  std::from_chars(text.data(), text.data() + i, n);
  const std::string_view unit = std::string_view(text).substr(i);
  uint64_t scale = 0;
  if (unit.empty() || unit == "B") scale = 1;
  if (unit == "KiB") scale = uint64_t{1} << 10;
  if (unit == "MiB") scale = uint64_t{1} << 20;
  if (unit == "GiB") scale = uint64_t{1} << 30;
  if (scale == 0 || n > (uint64_t{1} << 50) / scale) return std::nullopt;
  return n * scale;
}

}  // namespace

std::optional<Reader::Fields> Reader::ReadMap(const Node& node, std::string_view what,
                                              const std::vector<std::string>& allowed,
                                              const std::vector<std::string>& required) {
  if (!node.IsMap()) {
    Error(node, std::string(what) + " must be a mapping");
    return std::nullopt;
  }
  Fields f;
  f.self = node;
  for (const auto& [key, value] : node.Entries()) {
    if (!key.IsScalar()) {
      Error(key, "keys of " + std::string(what) + " must be plain names");
      continue;
    }
    const std::string& k = key.Scalar();
    if (std::find(allowed.begin(), allowed.end(), k) == allowed.end()) {
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
      Error(key, "unknown key " + Quote(k) + " in " + std::string(what) + " (expected one of: " + list + ")");
      continue;
    }
    if (f.by_key.count(k)) {
      Error(key, "duplicate key " + Quote(k) + " in " + std::string(what));
      continue;
    }
    f.by_key.emplace(k, value);
  }
  for (const auto& r : required) {
    if (!f.Has(r)) Error(node, std::string(what) + " lacks required key " + Quote(r));
  }
  return f;
}

std::optional<std::string> Reader::Text(const Node& node, std::string_view what) {
  if (!node.IsScalar()) {
    Error(node, std::string(what) + " must be text");
    return std::nullopt;
  }
  return node.Scalar();
}

std::optional<std::string> Reader::Id(const Node& node, std::string_view what) {
  auto text = Text(node, what);
  if (!text) return std::nullopt;
  if (!IsValidId(*text)) {
    Error(node, std::string(what) + " " + Quote(*text) +
                    " is not a valid id (letters, digits, '-', '_', '.', at most 64, starting with a letter "
                    "or digit)");
    return std::nullopt;
  }
  return text;
}

std::optional<bool> Reader::Bool(const Node& node, std::string_view what) {
  if (node.IsScalar() && (node.Scalar() == "true" || node.Scalar() == "false")) return node.Scalar() == "true";
  Error(node, std::string(what) + " must be true or false");
  return std::nullopt;
}

std::optional<int64_t> Reader::Int(const Node& node, std::string_view what, int64_t min, int64_t max) {
  if (node.IsScalar()) {
    const std::string& s = node.Scalar();
    int64_t v = 0;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec == std::errc() && ptr == s.data() + s.size() && v >= min && v <= max) return v;
  }
  Error(node, std::string(what) + " must be a whole number from " + std::to_string(min) + " to " +
                  std::to_string(max));
  return std::nullopt;
}

std::optional<int64_t> Reader::DurationMs(const Node& node, std::string_view what, int64_t min_ms,
                                          int64_t max_ms) {
  auto text = Text(node, what);
  if (!text) return std::nullopt;
  auto ms = ParseDurationMs(*text);
  if (!ms.ok()) {
    Error(node, std::string(what) + ": " + ms.status().message());
    return std::nullopt;
  }
  if (*ms < min_ms || *ms > max_ms) {
    Error(node, std::string(what) + " must be from " + FormatDurationMs(min_ms) + " to " +
                    FormatDurationMs(max_ms) + ", not " + *text);
    return std::nullopt;
  }
  return *ms;
}

std::optional<uint64_t> Reader::SizeBytes(const Node& node, std::string_view what, uint64_t min, uint64_t max) {
  auto text = Text(node, what);
  if (!text) return std::nullopt;
  auto bytes = ParseSize(*text);
  if (!bytes || *bytes < min || *bytes > max) {
    Error(node, std::string(what) + ": " + Quote(*text) + " is not a size from " + FormatSize(min) + " to " +
                    FormatSize(max) + " (e.g. 1MiB, 64KiB or 4096)");
    return std::nullopt;
  }
  return bytes;
}

std::string Reader::ResolvePath(const std::string& path) const {
  if (path.empty() || base_dir_.empty() || std::filesystem::path(path).is_absolute()) return path;
  return (std::filesystem::path(base_dir_) / path).lexically_normal().string();
}

std::optional<std::string> Reader::Path(const Node& node, std::string_view what) {
  auto text = Text(node, what);
  if (!text) return std::nullopt;
  return ResolvePath(*text);
}

std::vector<std::pair<std::string, Node>> Reader::TextList(const Node& node, std::string_view what) {
  std::vector<std::pair<std::string, Node>> out;
  if (node.IsScalar()) {
    out.emplace_back(node.Scalar(), node);
    return out;
  }
  if (!node.IsSequence()) {
    Error(node, std::string(what) + " must be a name or a list of names");
    return out;
  }
  for (const Node& item : node.Items()) {
    if (!item.IsScalar()) {
      Error(item, "each entry of " + std::string(what) + " must be a name");
      continue;
    }
    out.emplace_back(item.Scalar(), item);
  }
  if (out.empty() && node.size() == 0) Error(node, std::string(what) + " must not be empty");
  return out;
}

std::vector<Node> Reader::Items(const Node& node, std::string_view what) {
  if (!node.IsSequence()) {
    Error(node, std::string(what) + " must be a list");
    return {};
  }
  return node.Items();
}

}  // namespace kp::config

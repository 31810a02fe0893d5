#include "core/audit/restore_point.h"

#include <charconv>

#include "core/audit/log_format.h"
#include "core/base/encoding.h"

namespace kp::audit {

std::string FormatRestorePoint(const RestorePoint& point) {
  return std::string(kRestoredExtensionPrefix) + std::to_string(point.size) + " " + Base64Encode(point.root) +
         " " + point.backup_id;
}

Result<RestorePoint> ParseRestorePoint(std::string_view line) {
  auto bad = [](std::string_view why) {
    return InvalidArgumentError("not a restore point line (" + std::string(why) + ")");
  };
  if (line.size() > 256) return bad("too long");
  if (line.substr(0, kRestoredExtensionPrefix.size()) != kRestoredExtensionPrefix) return bad("prefix");
  std::string_view rest = line.substr(kRestoredExtensionPrefix.size());
  const size_t s1 = rest.find(' ');
  if (s1 == std::string_view::npos) return bad("fields");
  const size_t s2 = rest.find(' ', s1 + 1);
  if (s2 == std::string_view::npos || rest.find(' ', s2 + 1) != std::string_view::npos) return bad("fields");
  std::string_view size_text = rest.substr(0, s1);
  std::string_view root_text = rest.substr(s1 + 1, s2 - s1 - 1);
  std::string_view id_text = rest.substr(s2 + 1);
  RestorePoint p;
  if (size_text.empty() || size_text.size() > 20 || (size_text.size() > 1 && size_text[0] == '0'))
    return bad("size");
  auto [ptr, ec] = std::from_chars(size_text.data(), size_text.data() + size_text.size(), p.size);
  if (ec != std::errc() || ptr != size_text.data() + size_text.size()) return bad("size");
  auto root = Base64Decode(root_text);
  if (!root.ok() || root->size() != 32 || Base64Encode(*root) != root_text) return bad("root");
  p.root = std::move(*root);
  if (id_text.size() != 32 || id_text.find_first_not_of("0123456789abcdef") != std::string_view::npos) {
    return bad("backup id");
  }
  p.backup_id = std::string(id_text);
  return p;
}

Result<std::optional<RestorePoint>> FindRestorePoint(const Checkpoint& checkpoint) {
  std::optional<RestorePoint> found;
  for (const std::string& line : checkpoint.extensions) {
    if (line.rfind(kRestoredExtensionPrefix, 0) != 0) continue;
    if (found.has_value()) return InvalidArgumentError("the checkpoint names two restore points");
    KP_ASSIGN_OR_RETURN(RestorePoint p, ParseRestorePoint(line));
    if (p.size >= checkpoint.size) {
      return InvalidArgumentError("the checkpoint of " + std::to_string(checkpoint.size) +
                                  " records names a restore point of " + std::to_string(p.size));
    }
    found = std::move(p);
  }
  return found;
}

}  // namespace kp::audit

#include "core/audit/log_export.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

namespace kp::audit {

namespace {

Result<std::string> ReadAt(const std::string& path, uint64_t offset, size_t n) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return NotFoundError("no such file in the audit log");
  std::string out(n, '\0');
  ssize_t got = ::pread(fd, out.data(), n, static_cast<off_t>(offset));
  ::close(fd);
  if (got < 0) return UnavailableError("cannot read the audit log");
  out.resize(static_cast<size_t>(got));
  return out;
}

}  // namespace

bool IsExportableLogPath(std::string_view name) {
  if (name.empty() || name.size() > 128 || name.front() == '/' || name.find("..") != std::string_view::npos) {
    return false;
  }
  for (char ch : name) {
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '/' || ch == '.' || ch == '-' || ch == '_';
    if (!ok) return false;
  }
  return name != "LOCK";
}

Result<std::string> ReadLogFileChunk(const std::string& dir, const std::string& name, uint64_t offset,
                                     size_t max_bytes) {
  if (!IsExportableLogPath(name)) return InvalidArgumentError("not a file of the audit log");
  return ReadAt(dir + "/" + name, offset, max_bytes);
}

Result<std::vector<LogFolderFile>> ListLogFolder(const std::string& dir, size_t inline_max) {
  std::vector<LogFolderFile> files;
  std::error_code ec;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir, ec)) {
    if (!e.is_regular_file()) continue;
    std::string name = std::filesystem::relative(e.path(), dir).string();
    if (!IsExportableLogPath(name)) continue;
    LogFolderFile f;
    f.name = std::move(name);
    f.size = e.file_size();
    if (f.size <= inline_max) {
      KP_ASSIGN_OR_RETURN(f.content, ReadAt(e.path().string(), 0, f.size));
      f.inlined = true;
    }
    files.push_back(std::move(f));
  }
  if (ec) return UnavailableError("cannot list the audit log");
  std::sort(files.begin(), files.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return files;
}

}  // namespace kp::audit

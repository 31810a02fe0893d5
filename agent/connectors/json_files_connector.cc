#include "agent/connectors/json_files_connector.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "core/base/unique_fd.h"

namespace kp::agent {
namespace {

const std::string* SubjectField(const SubjectQuery& subject, const std::string& key) {
  if (key == "bsn") return &subject.bsn;
  if (key == "ref") return &subject.ref;
  if (key == "role") return &subject.role;
  if (key == "name") return &subject.name;
  if (key == "date_of_birth") return &subject.date_of_birth;
  return nullptr;
}

// [A-Za-z0-9._-]{1,64}, not starting with '.': names a file in the folder
// itself, never "..", a hidden file or a path.
bool UsableAsFileName(const std::string& value) {
  if (value.empty() || value.size() > 64 || value[0] == '.') return false;
  for (char c : value) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

Result<std::unique_ptr<Connector>> JsonFilesConnector::Create(const ConnectorConfig& config) {
  if (config.kind != ConnectorConfig::Kind::kJsonFiles) {
    return InvalidArgumentError("not a json-files source");
  }
  if (config.folder.empty()) return InvalidArgumentError("a json-files source needs a folder");
  if (SubjectField(SubjectQuery{}, config.key) == nullptr) {
    return InvalidArgumentError("json-files key '" + config.key +
                                "' is not a subject field (bsn, ref, role, name or date_of_birth)");
  }
  UniqueFd dir(::open(config.folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() < 0) {
    return UnavailableError("source unavailable: cannot open folder " + config.folder + ": " +
                            std::strerror(errno));
  }
  return std::unique_ptr<Connector>(new JsonFilesConnector(config.folder, config.key));
}

std::string JsonFilesConnector::Describe() const { return "json-files " + folder_ + " (key " + key_ + ")"; }

Result<std::vector<Record>> JsonFilesConnector::Query(const SubjectQuery& subject) {
  const std::string& value = *SubjectField(subject, key_);
  if (!UsableAsFileName(value)) {
    return InvalidArgumentError("the subject's " + key_ + " cannot name a file in " + folder_ +
                                " (1 to 64 letters, digits, '.', '_' or '-', not starting with '.'); "
                                "the lookup is refused");
  }
  UniqueFd dir(::open(folder_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() < 0) {
    return UnavailableError("source unavailable: cannot open folder " + folder_ + ": " +
                            std::strerror(errno));
  }
  const std::string name = value + ".json";
  // O_NOFOLLOW: a symbolic link is refused, wherever it points; O_NONBLOCK: a
  // FIFO planted in the folder cannot block the open.
  UniqueFd file(::openat(dir.get(), name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
  if (file.get() < 0) {
    const int err = errno;
    if (err == ENOENT) return std::vector<Record>{};  // nothing about this subject
    if (err == ELOOP) {
      return UnavailableError("source unavailable: a file in " + folder_ +
                              " is a symbolic link, which is never followed");
    }
    return UnavailableError("source unavailable: cannot open a file in " + folder_ + ": " +
                            std::strerror(err));
  }
  struct stat st {};
  if (::fstat(file.get(), &st) != 0) {
    return UnavailableError("source unavailable: cannot read a file in " + folder_ + ": " +
                            std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    return UnavailableError("source unavailable: an entry in " + folder_ + " is not a regular file");
  }
  const std::string too_big =
      "a file in " + folder_ + " exceeds " + std::to_string(kMaxJsonFileBytes) + " bytes";
  if (static_cast<uint64_t>(st.st_size) > kMaxJsonFileBytes) return InvalidArgumentError(too_big);
  // Read to the end (the file may grow while it is read), at most one byte
  // past the limit.
  std::string text(static_cast<size_t>(st.st_size) + 1, '\0');
  size_t got = 0;
  for (;;) {
    if (got == text.size()) {
      if (text.size() > kMaxJsonFileBytes) return InvalidArgumentError(too_big);
      text.resize(std::min(text.size() * 2, kMaxJsonFileBytes + 1));
    }
    const ssize_t n = ::read(file.get(), text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return UnavailableError("source unavailable: cannot read a file in " + folder_ + ": " +
                              std::strerror(errno));
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  text.resize(got);
  auto records = ParseRecordsJson(text);
  if (!records.ok()) {
    return InvalidArgumentError("a file in " + folder_ + " is malformed: " + records.status().message());
  }
  return records;
}

}  // namespace kp::agent

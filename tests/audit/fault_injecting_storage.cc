#include "tests/audit/fault_injecting_storage.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

namespace kp::audit::testing {
namespace {

class FaultFile final : public LogFile {
 public:
  FaultFile(FaultInjectingStorage* owner, std::string path, std::unique_ptr<LogFile> base)
      : owner_(owner), path_(std::move(path)), base_(std::move(base)) {}

  Status Append(std::string_view data) override {
    if (owner_->crashed()) return FaultInjectingStorage::Dead();
    return base_->Append(data);
  }
  Status ReadAt(uint64_t offset, size_t n, std::string& out) const override {
    if (owner_->crashed()) return FaultInjectingStorage::Dead();
    return base_->ReadAt(offset, n, out);
  }
  uint64_t Size() const override { return base_->Size(); }
  Status Truncate(uint64_t size) override {
    if (owner_->crashed()) return FaultInjectingStorage::Dead();
    KP_RETURN_IF_ERROR(base_->Truncate(size));
    owner_->RecordTruncate(path_, size);
    return OkStatus();
  }
  Status Sync() override {
    if (owner_->crashed()) return FaultInjectingStorage::Dead();
    if (owner_->TakeSyncFailure()) return UnavailableError("cannot sync " + path_ + ": Input/output error (injected)");
    KP_RETURN_IF_ERROR(base_->Sync());
    owner_->RecordSync(path_, base_->Size());
    return OkStatus();
  }

 private:
  FaultInjectingStorage* owner_;
  std::string path_;
  std::unique_ptr<LogFile> base_;
};

}  // namespace

Result<std::unique_ptr<LogFile>> FaultInjectingStorage::OpenFile(const std::string& path, bool create) {
  if (crashed_) return Dead();
  KP_ASSIGN_OR_RETURN(std::unique_ptr<LogFile> base, base_.OpenFile(path, create));
  RecordOpen(path, base->Size());
  return std::unique_ptr<LogFile>(new FaultFile(this, path, std::move(base)));
}

void FaultInjectingStorage::RecordOpen(const std::string& path, uint64_t size) {
  std::lock_guard<std::mutex> l(mu_);
  // What existed before we opened it is taken as durable.
  if (synced_.find(path) == synced_.end()) synced_[path] = size;
}

void FaultInjectingStorage::RecordSync(const std::string& path, uint64_t size) {
  std::lock_guard<std::mutex> l(mu_);
  synced_[path] = size;
}

void FaultInjectingStorage::RecordTruncate(const std::string& path, uint64_t size) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = synced_.find(path);
  if (it != synced_.end()) it->second = std::min(it->second, size);
}

void FaultInjectingStorage::DropUnsyncedData(uint64_t torn_bytes) {
  std::lock_guard<std::mutex> l(mu_);
  for (const auto& [path, synced] : synced_) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) continue;
    uint64_t size = static_cast<uint64_t>(st.st_size);
    uint64_t keep = std::min(size, synced + torn_bytes);
    if (keep < size) KP_CHECK(::truncate(path.c_str(), static_cast<off_t>(keep)) == 0);
  }
}

}  // namespace kp::audit::testing

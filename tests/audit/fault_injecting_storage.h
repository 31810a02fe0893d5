// A Storage that simulates a machine crash, after LevelDB's
// db/fault_injection_test.cc: it passes everything to real files but keeps,
// per file, how many bytes were durable at the last Sync. Crash() makes every
// later operation fail (the process is "dead"); DropUnsyncedData() then cuts
// every file back to its synced length, optionally leaving a few bytes of
// the lost data behind as a torn tail, as a power cut can. Atomic file
// replacement is passed through (it syncs before it returns). Thread-safe.
#ifndef KETENPOORT_TESTS_AUDIT_FAULT_INJECTING_STORAGE_H_
#define KETENPOORT_TESTS_AUDIT_FAULT_INJECTING_STORAGE_H_

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "core/audit/storage.h"

namespace kp::audit::testing {

class FaultInjectingStorage final : public Storage {
 public:
  FaultInjectingStorage() : base_(PosixStorage()) {}

  void Crash() { crashed_ = true; }
  bool crashed() const { return crashed_; }
  // Cuts files to their synced length plus `torn_bytes` of what followed
  // (clamped to what was written). Call after every file user is gone.
  void DropUnsyncedData(uint64_t torn_bytes = 0);
  // Fails the next Sync (fdatasync returning EIO).
  void FailNextSync() { fail_next_sync_ = true; }

  Result<std::unique_ptr<LogFile>> OpenFile(const std::string& path, bool create) override;
  Result<std::unique_ptr<LogFile>> OpenReadOnly(const std::string& path) override {
    if (crashed_) return Dead();
    return base_.OpenReadOnly(path);
  }
  Status WriteFileAtomic(const std::string& path, std::string_view data) override {
    if (crashed_) return Dead();
    return base_.WriteFileAtomic(path, data);
  }
  Result<std::string> ReadSmallFile(const std::string& path, size_t max_bytes) override {
    if (crashed_) return Dead();
    return base_.ReadSmallFile(path, max_bytes);
  }
  bool Exists(const std::string& path) override { return base_.Exists(path); }
  Status CreateDir(const std::string& path) override {
    if (crashed_) return Dead();
    return base_.CreateDir(path);
  }
  Result<std::vector<std::string>> ListDir(const std::string& path) override { return base_.ListDir(path); }
  Status RemoveFile(const std::string& path) override {
    if (crashed_) return Dead();
    return base_.RemoveFile(path);
  }
  Status RenameDurable(const std::string& from, const std::string& to) override {
    if (crashed_) return Dead();
    return base_.RenameDurable(from, to);
  }
  Result<std::unique_ptr<FolderLock>> LockFolder(const std::string& dir) override { return base_.LockFolder(dir); }

  // Called by the files.
  void RecordSync(const std::string& path, uint64_t size);
  void RecordTruncate(const std::string& path, uint64_t size);
  void RecordOpen(const std::string& path, uint64_t size);
  bool TakeSyncFailure() { return fail_next_sync_.exchange(false); }
  static Status Dead() { return UnavailableError("simulated crash: the process is gone"); }

 private:
  Storage& base_;
  std::atomic<bool> crashed_{false};
  std::atomic<bool> fail_next_sync_{false};
  std::mutex mu_;
  std::map<std::string, uint64_t> synced_;
};

}  // namespace kp::audit::testing

#endif  // KETENPOORT_TESTS_AUDIT_FAULT_INJECTING_STORAGE_H_

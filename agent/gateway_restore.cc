// The agent's side of a restored gateway (docs/operations.md, "Backup and
// restore"; core/audit/restore_point.h; gateway/backup.h). A gateway
// restored from a backup goes on from the backup's checkpoint of N records,
// and every checkpoint it signs from then names that restore point. The
// checkpoints this agent kept of sizes above N belong to the history the
// restore lost: they are moved, unchanged, to
// gateway-checkpoints/before-restore-<N>/, the in-memory "last checkpoint"
// is forgotten, and the agent's own log records LOG_RESTORED — once per
// restore point (a marker file remembers it across restarts). A kept
// checkpoint of exactly N records whose root differs is still a fork.
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "agent/responder.h"
#include "core/audit/restore_point.h"
#include "core/base/encoding.h"
#include "core/base/file_util.h"

namespace kp::agent {

namespace v1 = ketenpoort::v1;

Status Responder::AcceptGatewayRestore(const audit::Checkpoint& cp) {
  auto found = audit::FindRestorePoint(cp);
  if (!found.ok())
    return DataLossError("the gateway's checkpoint names a bad restore point: " + found.status().message());
  if (!found->has_value()) return OkStatus();
  const audit::RestorePoint& p = **found;
  if (accepted_restore_size_ == p.size && accepted_restore_root_ == p.root) return OkStatus();
  const std::string fork = "the gateway signed two different logs of " + std::to_string(p.size) +
                           " records: its history forked; keep both checkpoints and tell the privacy officer";
  char name[32];
  std::snprintf(name, sizeof name, "%020llu", static_cast<unsigned long long>(p.size));
  const std::string dir = options_.data_dir.empty() ? "" : options_.data_dir + "/gateway-checkpoints";
  const std::string marker = dir + "/restored-" + name + "-" + HexEncode(p.root).substr(0, 16);
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!dir.empty() && fs::exists(marker, ec)) {
    accepted_restore_size_ = p.size;
    accepted_restore_root_ = p.root;
    return OkStatus();
  }
  // Below and at the restore point the histories must agree.
  if (last_checkpoint_size_ == p.size && !last_checkpoint_root_.empty() && last_checkpoint_root_ != p.root) {
    return DataLossError(fork);
  }
  uint64_t moved = 0;
  uint64_t highest = last_checkpoint_size_;
  std::string aside;
  if (!dir.empty()) {
    auto same = ReadFileBounded(dir + "/" + name, audit::kMaxNoteBytes);
    if (same.ok()) {
      auto other = OpenGatewayCheckpoint(*same, /*kept=*/true);
      if (other.ok() && other->root != p.root) return DataLossError(fork);
    }
    aside = dir + "/before-restore-" + name;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      const std::string n = e.path().filename().string();
      if (n.size() != 20 || n.find_first_not_of("0123456789") != std::string::npos) continue;
      const uint64_t size = std::stoull(n);
      if (size <= p.size) continue;
      ::mkdir(aside.c_str(), 0700);
      fs::rename(e.path(), aside + "/" + n, ec);
      if (ec)
        return UnavailableError("cannot keep the checkpoints of the gateway's history before its restore: " +
                                ec.message());
      ++moved;
      highest = std::max(highest, size);
    }
  }
  // Deliveries the gateway receipted past the restore point: the restored
  // gateway does not have them (receipts.jsonl keeps their log index).
  uint64_t lost_deliveries = 0;
  if (!options_.data_dir.empty()) {
    WriteReceiptLines();  // this burst's earlier receipts too
    auto text = ReadFileBounded(options_.data_dir + "/receipts.jsonl", size_t{1} << 30);
    if (text.ok()) {
      size_t pos = 0;
      while (pos < text->size()) {
        size_t end = text->find('\n', pos);
        if (end == std::string::npos) end = text->size();
        auto line = nlohmann::json::parse(text->begin() + static_cast<std::ptrdiff_t>(pos),
                                          text->begin() + static_cast<std::ptrdiff_t>(end), nullptr, false);
        if (!line.is_discarded() && line.is_object() && line.contains("gateway_log_index") &&
            line["gateway_log_index"].is_number_unsigned() &&
            line["gateway_log_index"].get<uint64_t>() >= p.size) {
          ++lost_deliveries;
        }
        pos = end + 1;
      }
    }
  }
  if (last_checkpoint_size_ > p.size) {
    last_checkpoint_size_ = 0;
    last_checkpoint_root_.clear();
  }
  v1::AuditRecord r = NewRecord(v1::AUDIT_EVENT_LOG_RESTORED);
  r.mutable_restore()->set_checkpoint_size(p.size);
  r.mutable_restore()->set_checkpoint_root(p.root);
  r.mutable_restore()->set_backup_id(p.backup_id);
  if (highest > p.size) r.mutable_restore()->set_lost_records(highest - p.size);
  r.set_reason("the gateway was restored from backup " + p.backup_id + " (its log goes on from " +
               std::to_string(p.size) + " records); " + std::to_string(moved) +
               " kept checkpoint(s) of its log before the restore (up to " + std::to_string(highest) +
               " records) moved to gateway-checkpoints/before-restore-" + name + "; " +
               std::to_string(lost_deliveries) +
               " delivery receipt(s) name a gateway log index the restored log does not hold");
  AppendAsync(std::move(r));
  if (!dir.empty()) {
    if (Status s = WriteFileDurable(marker, audit::FormatRestorePoint(p) + "\n", 0600, WriteMode::kReplace);
        !s.ok()) {
      spdlog::error("cannot remember the gateway's restore point: {}", s.message());
    }
  }
  accepted_restore_size_ = p.size;
  accepted_restore_root_ = p.root;
  spdlog::warn(
      "the gateway was restored from backup {}: its log goes on from {} records (this agent had seen up to "
      "{}); "
      "{} kept checkpoint(s) of the lost history moved aside, {} receipted deliveries past the restore point",
      p.backup_id, p.size, highest, moved, lost_deliveries);
  return OkStatus();
}

}  // namespace kp::agent

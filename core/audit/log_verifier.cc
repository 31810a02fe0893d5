#include "core/audit/log_verifier.h"

#include <algorithm>
#include <map>
#include <memory>
#include <thread>
#include <vector>

#include "core/audit/key_handover.h"
#include "core/audit/log_files.h"
#include "core/audit/log_format.h"
#include "core/audit/merkle.h"
#include "core/audit/restore_point.h"
#include "ketenpoort/v1/audit.pb.h"

namespace kp::audit {
namespace {

std::string Idx(uint64_t i) { return std::to_string(i); }

constexpr size_t kBatch = 4096;

// The result of the independent per-record checks.
struct Checked {
  std::string error;  // empty when fine
  std::string leaf;
  bool tombstone = false;
};

// Checks frames [begin, end) of a batch whose first frame should be record
// `base`: index, parse, event, and the leaf hash. Thread-compatible: each
// call touches only its own slots.
void CheckFrames(const std::vector<Frame>& frames, uint64_t base, size_t begin, size_t end,
                 std::vector<Checked>& out) {
  ketenpoort::v1::AuditRecord rec;
  for (size_t k = begin; k < end; ++k) {
    const Frame& frame = frames[k];
    const uint64_t i = base + k;
    Checked& c = out[k];
    c.error.clear();
    c.tombstone = frame.type == FrameType::kTombstone;
    if (frame.index != i) {
      c.error = "frame carries index " + Idx(frame.index) + " (records deleted, inserted or reordered)";
      continue;
    }
    if (!c.tombstone) {
      rec.Clear();
      if (!rec.ParseFromString(frame.record)) {
        c.error = "not a valid AuditRecord";
        continue;
      }
      if (rec.index() != i) {
        c.error = "the record says index " + Idx(rec.index());
        continue;
      }
      if (rec.event() == ketenpoort::v1::AUDIT_EVENT_UNSPECIFIED) {
        c.error = "no event";
        continue;
      }
    }
    c.leaf = HashLeaf(FrameCommitment(frame));
  }
}

struct Expected {
  std::string root;
  std::string source;  // file name or "pinned checkpoint N"
};

class Verifier {
 public:
  Verifier(const std::string& dir, const VerifyOptions& options, Storage& storage)
      : dir_(dir), options_(options), storage_(storage) {}

  VerifyReport Run() {
    Status s = RunInner();
    if (!s.ok()) report_.status = s;
    return std::move(report_);
  }

 private:
  Status Fail(uint64_t index, Status s) {
    report_.first_bad_index = index;
    return s;
  }

  Status AddExpected(const Checkpoint& cp, const std::string& source) {
    auto [it, inserted] = expected_.emplace(cp.size, Expected{cp.root, source});
    if (!inserted && it->second.root != cp.root) {
      return Fail(cp.size == 0 ? 0 : cp.size - 1,
                  DataLossError("two checkpoints of size " + Idx(cp.size) + " disagree (" +
                                it->second.source + " and " + source + "): the log was forked"));
    }
    return OkStatus();
  }

  Status LoadCheckpoints() {
    if (options_.key.has_value()) {
      key_ = *options_.key;
    } else {
      auto text = storage_.ReadSmallFile(dir_ + "/" + std::string(kVerifierKeyFileName), 4096);
      if (!text.ok()) return text.status().WithContext("no key given and the folder has no verifier key");
      auto key = ParseVerifierKey(*text);
      if (!key.ok()) return key.status().WithContext(std::string(kVerifierKeyFileName));
      key_ = *key;
      report_.key_from_folder = true;
      report_.warnings.push_back(
          "checked against the folder's own key (log.vkey); pin the key (--key) or a checkpoint you kept "
          "(--checkpoint) for an independent check");
    }
    report_.origin = key_.name;
    // The log's keys, joined by key handovers (key_handover.h): each
    // checkpoint must be signed by the key in force at its size.
    auto chain = KeyChain::Load(storage_, dir_, key_);
    if (!chain.ok()) return chain.status();
    chain_ = std::make_unique<KeyChain>(std::move(chain).value());
    for (size_t i = 0; i < chain_->handovers().size(); ++i) {
      const KeyHandover& h = chain_->handovers()[i];
      KP_RETURN_IF_ERROR(
          AddExpected(h.checkpoint, std::string(kHandoversDirName) + "/" + HandoverFileName(i)));
    }
    report_.key_handovers = chain_->handovers().size();
    if (options_.key.has_value() && !(chain_->current().public_key == key_.public_key)) {
      report_.warnings.push_back(
          "the pinned key is not this log's current key: the log handed over to a newer key "
          "since (" +
          FormatVerifierKey(chain_->current()) + ")");
    }
    std::string cdir = dir_ + "/" + std::string(kCheckpointsDirName);
    std::vector<std::string> names;
    if (storage_.Exists(cdir)) {
      KP_ASSIGN_OR_RETURN(names, storage_.ListDir(cdir));
    }
    std::sort(names.begin(), names.end());
    for (const std::string& name : names) {
      std::string path = std::string(kCheckpointsDirName) + "/" + name;
      KP_ASSIGN_OR_RETURN(std::string note, storage_.ReadSmallFile(cdir + "/" + name, kMaxNoteBytes));
      auto cp = chain_->Open(note, key_.name);
      if (!cp.ok()) return cp.status().WithContext(path);
      if (CheckpointFileName(cp->size) != name) {
        return DataLossError(path + " holds the checkpoint of size " + Idx(cp->size));
      }
      KP_RETURN_IF_ERROR(AddExpected(*cp, path));
      ++report_.checkpoints;
      if (!report_.latest.has_value() || cp->size >= report_.latest->size) {
        report_.latest = *cp;
        report_.latest_note = note;
      }
    }
    std::string latest_path = dir_ + "/" + std::string(kCheckpointFileName);
    if (storage_.Exists(latest_path)) {
      KP_ASSIGN_OR_RETURN(std::string note, storage_.ReadSmallFile(latest_path, kMaxNoteBytes));
      auto cp = chain_->Open(note, key_.name);
      if (!cp.ok()) return cp.status().WithContext(std::string(kCheckpointFileName));
      KP_RETURN_IF_ERROR(AddExpected(*cp, std::string(kCheckpointFileName)));
      if (report_.latest.has_value() && cp->size < report_.latest->size) {
        report_.warnings.push_back("the 'checkpoint' file is older than the newest in checkpoints/");
      }
    }
    // A restored log (restore_point.h): its latest checkpoint names the
    // backup's checkpoint it goes on from, which the log must still match.
    std::optional<RestorePoint> restored;
    if (report_.latest.has_value()) {
      auto point = FindRestorePoint(*report_.latest);
      if (!point.ok()) return point.status().WithContext("the latest checkpoint");
      restored = *point;
      if (restored.has_value()) {
        KP_RETURN_IF_ERROR(AddExpected(Checkpoint{key_.name, restored->size, restored->root, {}},
                                       "the restore point of backup " + restored->backup_id));
      }
    }
    for (size_t i = 0; i < options_.pinned_checkpoints.size(); ++i) {
      std::string source = "pinned checkpoint " + Idx(i + 1);
      auto cp = chain_->Open(options_.pinned_checkpoints[i], key_.name);
      if (!cp.ok()) return cp.status().WithContext(source);
      if (restored.has_value() && cp->size > restored->size) {
        // Signed before the restore (it does not name this restore point):
        // it covers records the restore lost, not a fork of this log.
        auto its = FindRestorePoint(*cp);
        const bool before = !its.ok() || !its->has_value() || (*its)->size != restored->size ||
                            (*its)->root != restored->root || (*its)->backup_id != restored->backup_id;
        if (before) {
          report_.warnings.push_back(source + " (size " + Idx(cp->size) +
                                     ") was signed before the log was restored "
                                     "from backup " +
                                     restored->backup_id + ": this log goes on from " + Idx(restored->size) +
                                     " records (LOG_RESTORED at index " + Idx(restored->size) + "), the " +
                                     Idx(cp->size - restored->size) +
                                     " record(s) after that in it are not in this log");
          ++report_.pinned_checkpoints;
          continue;
        }
      }
      KP_RETURN_IF_ERROR(AddExpected(*cp, source + " (size " + Idx(cp->size) + ")"));
      ++report_.pinned_checkpoints;
    }
    if (report_.checkpoints == 0) report_.warnings.push_back("the log has no signed checkpoint yet");
    return OkStatus();
  }

  Status CheckRootAt(uint64_t size, const CompactRange& range, uint64_t prev_checked) {
    auto it = expected_.find(size);
    if (it == expected_.end()) return OkStatus();
    if (range.Root() != it->second.root) {
      return Fail(prev_checked,
                  DataLossError("records " + Idx(prev_checked) + ".." + Idx(size == 0 ? 0 : size - 1) +
                                " do not hash to the root signed in " + it->second.source +
                                ": history was rewritten at or after index " + Idx(prev_checked)));
    }
    return OkStatus();
  }

  Status RunInner() {
    KP_RETURN_IF_ERROR(LoadCheckpoints());
    std::string records_path = dir_ + "/" + std::string(kRecordsFileName);
    KP_ASSIGN_OR_RETURN(std::unique_ptr<LogFile> records, storage_.OpenReadOnly(records_path));
    KP_ASSIGN_OR_RETURN(std::unique_ptr<LogFile> tree,
                        storage_.OpenReadOnly(dir_ + "/" + std::string(kTreeFileName)));
    KP_RETURN_IF_ERROR(CheckRecordsHeader(*records, records_path));
    const uint64_t tree_size = TreeFile(tree.get()).CompleteSize();
    const uint64_t max_expected = expected_.empty() ? 0 : expected_.rbegin()->first;

    CompactRange range;
    uint64_t last_checked = 0;
    KP_RETURN_IF_ERROR(CheckRootAt(0, range, 0));
    RecordScanner scanner(records.get(), kRecordsMagic.size());
    std::vector<Frame> batch(kBatch);
    std::vector<Checked> checked(kBatch);
    std::string error;
    std::string nodes;
    std::string tree_buf;
    uint64_t tree_buf_start = 0;  // node offset of tree_buf[0]
    for (bool more = true; more;) {
      // Read a batch of frames; remember how the scan ended.
      size_t count = 0;
      DecodeResult r = DecodeResult::kOk;
      while (count < kBatch) {
        r = scanner.Next(&batch[count], &error);
        if (r != DecodeResult::kOk) break;
        ++count;
      }
      more = r == DecodeResult::kOk;
      // The per-record work (parse, commitment, leaf hash) is independent:
      // split it over two threads. The tree part below is sequential.
      const uint64_t base = range.size();
      size_t half = count >= 512 ? count / 2 : count;
      std::thread helper;
      if (half < count) {
        helper = std::thread([&] { CheckFrames(batch, base, half, count, checked); });
      }
      CheckFrames(batch, base, 0, half, checked);
      if (helper.joinable()) helper.join();

      for (size_t k = 0; k < count; ++k) {
        const uint64_t i = base + k;
        if (!checked[k].error.empty())
          return Fail(i, DataLossError("record " + Idx(i) + ": " + checked[k].error));
        if (checked[k].tombstone) ++report_.tombstones;
        nodes.clear();
        range.Append(std::move(checked[k].leaf), &nodes);
        if (i < tree_size) {
          uint64_t first = PostOrderNodeCount(i);
          uint64_t n_nodes = nodes.size() / kHashBytes;
          if (first < tree_buf_start || first + n_nodes > tree_buf_start + tree_buf.size() / kHashBytes) {
            tree_buf_start = first;
            KP_RETURN_IF_ERROR(
                tree->ReadAt(first * kHashBytes, std::max<size_t>(1 << 20, nodes.size()), tree_buf));
            if (tree_buf.size() < nodes.size()) {
              return Fail(i, DataLossError("the tree file ends inside the nodes of record " + Idx(i)));
            }
          }
          std::string_view have(tree_buf.data() + (first - tree_buf_start) * kHashBytes, nodes.size());
          if (have.substr(0, kHashBytes) != std::string_view(nodes).substr(0, kHashBytes)) {
            return Fail(i, DataLossError("record " + Idx(i) +
                                         " does not match its leaf in the tree (the record, "
                                         "its salt or the tree file was changed)"));
          }
          if (have != nodes) {
            return Fail(i, DataLossError("the tree node completed by record " + Idx(i) +
                                         " differs from the recomputed one (tree file changed)"));
          }
        }
        if (expected_.count(range.size()) != 0) {
          KP_RETURN_IF_ERROR(CheckRootAt(range.size(), range, last_checked));
          last_checked = range.size();
        }
      }
      if (more) continue;
      const uint64_t i = range.size();
      if (r == DecodeResult::kIncomplete && scanner.AtEnd()) break;
      if (r == DecodeResult::kIncomplete) {
        if (i >= tree_size && i >= max_expected) {
          report_.warnings.push_back(
              "record " + Idx(i) +
              " is cut off at the end of the records file (a torn tail "
              "or an append in progress; the writer cuts it when it next opens the log)");
          break;
        }
        return Fail(i, DataLossError("record " + Idx(i) + ": frame is cut off (records file truncated)"));
      }
      return Fail(i, DataLossError("record " + Idx(i) + ": " + error));
    }
    const uint64_t n = range.size();
    report_.records = n;
    if (n < tree_size) {
      return Fail(n, DataLossError("record " + Idx(n) + " is missing: the tree has " + Idx(tree_size) +
                                   " leaves but the records file only " + Idx(n) + " records"));
    }
    if (n < max_expected) {
      auto it = expected_.lower_bound(n + 1);
      return Fail(n, DataLossError("records from index " + Idx(n) + " are missing: " + it->second.source +
                                   " covers " + Idx(it->first) + " records"));
    }
    if (n > tree_size) {
      report_.warnings.push_back(
          Idx(n - tree_size) +
          " records are not yet in the tree file (an append in progress, or a crash the "
          "writer repairs when it next opens the log)");
    }
    if (report_.latest.has_value() && n > report_.latest->size) {
      report_.warnings.push_back(Idx(n - report_.latest->size) +
                                 " records after the latest checkpoint are not yet covered by a signature");
    }
    return OkStatus();
  }

  const std::string& dir_;
  const VerifyOptions& options_;
  Storage& storage_;
  NoteVerifierKey key_;  // the anchor: pinned, or the folder's log.vkey
  std::unique_ptr<KeyChain> chain_;
  std::map<uint64_t, Expected> expected_;
  VerifyReport report_;
};

}  // namespace

VerifyReport VerifyLog(const std::string& dir, const VerifyOptions& options, Storage* storage) {
  Verifier v(dir, options, storage != nullptr ? *storage : PosixStorage());
  return v.Run();
}

}  // namespace kp::audit

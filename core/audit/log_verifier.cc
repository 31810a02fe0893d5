#include "core/audit/log_verifier.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstring>
#include <map>
#include <memory>
#include <thread>
#include <vector>

#include "core/audit/key_handover.h"
#include "core/audit/log_files.h"
#include "core/audit/log_format.h"
#include "core/audit/merkle.h"
#include "core/audit/record_wire.h"
#include "core/audit/restore_point.h"
#include "core/crypto/sha256.h"
#include "ketenpoort/v1/audit.pb.h"

namespace kp::audit {
namespace {

std::string Idx(uint64_t i) { return std::to_string(i); }

constexpr size_t kBatch = 4096;
constexpr size_t kBlock = 128;  // records a thread takes at a time

// The result of the independent per-record checks.
struct Checked {
  std::string error;           // empty when fine
  bool whole_message = false;  // else "record N: " goes in front
  Sha256Digest leaf;
  bool tombstone = false;
  // Records in the tree file: the highest node the record completes, as
  // stored (checked against its recomputation), and whether the tree slice
  // held the record's nodes.
  Sha256Digest top;
  bool in_slice = false;
};

// The stored tree nodes a batch's checks read: its own nodes, and the
// perfect subtrees left of it (the compact range at the batch's start),
// which hold the left children of the nodes the batch completes across its
// start. Every stored node is compared with the hash of its stored children
// and every stored leaf with the recomputed leaf, in index order, so the
// first difference is found at the same record, with the same message, as
// by recomputing the tree itself (the nodes before it are equal).
struct TreeSlice {
  uint64_t tree_size = 0;   // leaves whose nodes are complete in the file
  uint64_t first_node = 0;  // node position of data[0]
  std::string_view data;
  std::vector<std::pair<uint64_t, Sha256Digest>> left;  // (position, node)

  const uint8_t* Node(uint64_t pos) const {
    if (pos >= first_node) {
      if ((pos - first_node + 1) * kHashBytes > data.size()) return nullptr;
      return reinterpret_cast<const uint8_t*>(data.data()) + (pos - first_node) * kHashBytes;
    }
    for (const auto& [p, h] : left) {
      if (p == pos) return h.data();
    }
    return nullptr;
  }
};

// RFC 6962 leaf and node hashes on fixed-size digests (merkle.h defines
// them; these are the same bytes without a heap string per hash).
Sha256Digest LeafDigest(const Sha256Digest& leaf_data) {
  static constexpr char kLeafPrefix = 0x00;
  return Sha256(std::string_view(&kLeafPrefix, 1),
                std::string_view(reinterpret_cast<const char*>(leaf_data.data()), leaf_data.size()));
}

Sha256Digest NodeDigest(const Sha256Digest& left, const Sha256Digest& right) {
  char buf[1 + 2 * kSha256Bytes];
  buf[0] = 0x01;
  std::memcpy(buf + 1, left.data(), kSha256Bytes);
  std::memcpy(buf + 1 + kSha256Bytes, right.data(), kSha256Bytes);
  return Sha256(std::string_view(buf, sizeof(buf)));
}

std::string_view View(const Sha256Digest& d) {
  return std::string_view(reinterpret_cast<const char*>(d.data()), d.size());
}

// merkle.h's CompactRange on fixed-size digests: the verifier appends a
// million leaves.
class DigestRange {
 public:
  uint64_t size() const { return size_; }
  // Appends a leaf hash; `emit` receives the leaf hash and then every
  // interior node it completes, in post-order (as CompactRange::Append).
  void Append(const Sha256Digest& leaf, std::vector<Sha256Digest>* emit) {
    emit->clear();
    emit->push_back(leaf);
    Sha256Digest h = leaf;
    for (uint64_t s = size_; (s & 1) != 0; s >>= 1) {
      h = NodeDigest(hashes_.back(), h);
      hashes_.pop_back();
      emit->push_back(h);
    }
    hashes_.push_back(h);
    ++size_;
  }
  // Appends a leaf whose tree nodes were read from the tree file and
  // checked: `top` is the highest node it completes, which replaces the
  // subtrees it joins (no hashing).
  void AppendStored(const Sha256Digest& top) {
    for (uint64_t s = size_; (s & 1) != 0; s >>= 1) hashes_.pop_back();
    hashes_.push_back(top);
    ++size_;
  }
  std::string Root() const {
    if (hashes_.empty()) return EmptyRoot();
    Sha256Digest r = hashes_.back();
    for (size_t i = hashes_.size() - 1; i-- > 0;) r = NodeDigest(hashes_[i], r);
    return std::string(View(r));
  }

 private:
  uint64_t size_ = 0;
  std::vector<Sha256Digest> hashes_;
};

// Checks frames [begin, end) of a batch whose first frame should be record
// `base`: the frame (checksum, type, body), index, parse, event, the leaf hash, and for records in the tree
// file their leaf and the nodes they complete. Thread-compatible: each call
// touches only its own slots.
void CheckFrames(const std::vector<std::string_view>& frames, uint64_t base, size_t begin, size_t end,
                 const TreeSlice& tree, std::vector<Checked>& out) {
  ketenpoort::v1::AuditRecord rec;
  for (size_t k = begin; k < end; ++k) {
    const uint64_t i = base + k;
    Checked& c = out[k];
    c.error.clear();
    c.whole_message = false;
    // The frame's checksum, type and body (the scan checked its length).
    FrameView frame;
    size_t consumed = 0;
    if (DecodeFrameView(frames[k], &frame, &consumed, &c.error) != DecodeResult::kOk) {
      if (c.error.empty()) c.error = "frame is cut off";
      continue;
    }
    c.tombstone = frame.type == FrameType::kTombstone;
    if (frame.index != i) {
      c.error = "frame carries index " + Idx(frame.index) + " (records deleted, inserted or reordered)";
      continue;
    }
    if (!c.tombstone) {
      // The quick wire check reads the index and the event in place; what
      // it is not sure of, protobuf's full parse decides (record_wire.h).
      const std::string_view bytes = frame.record();
      uint64_t index = 0;
      int32_t event = 0;
      if (CheckAuditRecordWire(bytes, &index, &event) != WireCheck::kParses) {
        rec.Clear();
        if (!rec.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
          c.error = "not a valid AuditRecord";
          continue;
        }
        index = rec.index();
        event = static_cast<int32_t>(rec.event());
      }
      if (index != i) {
        c.error = "the record says index " + Idx(index);
        continue;
      }
      if (event == ketenpoort::v1::AUDIT_EVENT_UNSPECIFIED) {
        c.error = "no event";
        continue;
      }
    }
    c.leaf = LeafDigest(FrameCommitmentDigest(frame));
    c.in_slice = false;
    if (i >= tree.tree_size) continue;
    // The leaf, then each interior node the record completes (post-order:
    // its right child just before it, its left child 2^level before it).
    const uint64_t first = PostOrderNodeCount(i);
    const int n_nodes = 1 + std::countr_one(i);
    const uint8_t* top = tree.Node(first + static_cast<uint64_t>(n_nodes) - 1);
    if (top == nullptr || tree.Node(first) == nullptr) continue;  // the fold reports it
    c.in_slice = true;
    if (std::memcmp(tree.Node(first), c.leaf.data(), kHashBytes) != 0) {
      c.error = "record " + Idx(i) +
                " does not match its leaf in the tree (the record, its salt or the tree file was changed)";
      c.whole_message = true;
      continue;
    }
    for (int level = 1; level < n_nodes; ++level) {
      const uint64_t pos = first + static_cast<uint64_t>(level);
      const uint8_t* left = tree.Node(pos - (uint64_t{1} << level));
      const uint8_t* right = tree.Node(pos - 1);
      if (left == nullptr || right == nullptr) {
        c.error = "the verifier lacks a tree node of record " + Idx(i);
        c.whole_message = true;
        break;
      }
      char buf[1 + 2 * kHashBytes];
      buf[0] = 0x01;
      std::memcpy(buf + 1, left, kHashBytes);
      std::memcpy(buf + 1 + kHashBytes, right, kHashBytes);
      const Sha256Digest node = Sha256(std::string_view(buf, sizeof(buf)));
      if (std::memcmp(tree.Node(pos), node.data(), kHashBytes) != 0) {
        c.error = "the tree node completed by record " + Idx(i) +
                  " differs from the recomputed one (tree file changed)";
        c.whole_message = true;
        break;
      }
    }
    if (!c.error.empty()) continue;
    std::memcpy(c.top.data(), top, kHashBytes);
  }
}

// Reads the tree slice of `count` records from `base`: their stored nodes
// and the perfect subtrees left of `base` (the compact range there, whose
// roots are the left children of the nodes that join across `base`).
Status ReadTreeSlice(const LogFile& tree, uint64_t base, size_t count, uint64_t tree_size, std::string& buf,
                     TreeSlice& slice) {
  slice.tree_size = tree_size;
  slice.data = {};
  slice.left.clear();
  if (count == 0 || base >= tree_size) return OkStatus();
  const uint64_t end = std::min<uint64_t>(base + count, tree_size);
  slice.first_node = PostOrderNodeCount(base);
  KP_RETURN_IF_ERROR(tree.ReadAt(slice.first_node * kHashBytes,
                                 (PostOrderNodeCount(end) - slice.first_node) * kHashBytes, buf));
  slice.data = buf;
  std::string node;
  uint64_t begin = 0;
  for (int level = 63; level >= 0; --level) {
    const uint64_t bit = uint64_t{1} << level;
    if ((base & bit) == 0) continue;
    const uint64_t pos = PostOrderPosition(level, begin >> level);
    KP_RETURN_IF_ERROR(tree.ReadAt(pos * kHashBytes, kHashBytes, node));
    if (node.size() == kHashBytes) {
      Sha256Digest d;
      std::memcpy(d.data(), node.data(), kHashBytes);
      slice.left.emplace_back(pos, d);
    }
    begin += bit;
  }
  return OkStatus();
}

// A batch of frames read by the scanner, with its tree slice.
struct Batch {
  std::vector<std::string_view> frames;
  DecodeResult result = DecodeResult::kOk;
  std::string error;
  uint64_t base = 0;
  TreeSlice slice;
  std::string tree_buf;
  Status tree_read;
};

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

  Status CheckRootAt(uint64_t size, const DigestRange& range, uint64_t prev_checked) {
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

    DigestRange range;
    uint64_t last_checked = 0;
    KP_RETURN_IF_ERROR(CheckRootAt(0, range, 0));
    RecordScanner scanner(records.get(), kRecordsMagic.size());
    std::vector<Checked> checked(kBatch);
    std::vector<Sha256Digest> nodes;
    nodes.reserve(65);
    // Two batches in turn: while both threads check one, the main thread
    // reads the next (the scanner keeps the frames of one call valid through
    // the next).
    Batch batches[2];
    Batch* cur = &batches[0];
    Batch* next = &batches[1];
    auto scan = [&](Batch& b, uint64_t base) {
      b.result = scanner.NextRawBatch(kBatch, &b.frames, &b.error);
      b.base = base;
      b.tree_read = ReadTreeSlice(*tree, base, b.frames.size(), tree_size, b.tree_buf, b.slice);
    };
    scan(*cur, 0);
    for (;;) {
      const size_t count = cur->frames.size();
      const bool more = cur->result == DecodeResult::kOk;
      const uint64_t base = cur->base;
      // The per-record work (checksum, parse, commitment, leaf hash, the
      // tree nodes it completes) is independent: both threads take blocks of
      // the batch in turn, this one after it has read the next batch, so
      // neither waits on the other however the machine shares its cores.
      // The fold below is sequential and hashes only at checkpoints.
      std::atomic<size_t> taken{0};
      auto work = [&] {
        for (;;) {
          const size_t begin = taken.fetch_add(kBlock);
          if (begin >= count) break;
          CheckFrames(cur->frames, base, begin, std::min(begin + kBlock, count), cur->slice, checked);
        }
      };
      std::thread helper;
      if (count > kBlock) helper = std::thread(work);
      if (more) scan(*next, base + count);
      work();
      if (helper.joinable()) helper.join();

      for (size_t k = 0; k < count; ++k) {
        const uint64_t i = base + k;
        const Checked& c = checked[k];
        if (!c.error.empty()) {
          return Fail(i, DataLossError(c.whole_message ? c.error : "record " + Idx(i) + ": " + c.error));
        }
        if (c.tombstone) ++report_.tombstones;
        if (i < tree_size) {
          KP_RETURN_IF_ERROR(cur->tree_read);
          if (!c.in_slice) {
            return Fail(i, DataLossError("the tree file ends inside the nodes of record " + Idx(i)));
          }
          range.AppendStored(c.top);
        } else {
          range.Append(c.leaf, &nodes);
        }
        if (expected_.count(range.size()) != 0) {
          KP_RETURN_IF_ERROR(CheckRootAt(range.size(), range, last_checked));
          last_checked = range.size();
        }
      }
      if (more) {
        std::swap(cur, next);
        continue;
      }
      const DecodeResult r = cur->result;
      const std::string& error = cur->error;
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

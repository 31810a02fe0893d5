// The log as a whole: durable appends with group commit, reopening,
// proofs against the reference, checkpoints that never contradict each
// other, a crash that drops unsynced bytes, tamper tests that name the index,
// and erasure that keeps every proof valid.
#include <google/protobuf/stubs/logging.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <thread>

#include "core/audit/log_eraser.h"
#include "core/audit/log_reader.h"
#include "core/audit/log_verifier.h"
#include "core/audit/log_writer.h"
#include "core/audit/merkle.h"
#include "tests/audit/audit_test_util.h"
#include "tests/audit/fault_injecting_storage.h"
#include "tests/audit/reference_merkle.h"
#include "tests/testing/status_matchers.h"

namespace kp::audit {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

using ::kp::audit::testing::FaultInjectingStorage;
using ::kp::audit::testing::SampleRecord;
using ::kp::audit::testing::TestSigner;
using ::kp::testing::IsOk;
using ::kp::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

class AuditLogTest : public ::testing::Test {
 protected:
  std::string dir() const { return tmp_.path() + "/log"; }
  std::string File(const std::string& name) const { return dir() + "/" + name; }

  std::unique_ptr<LogWriter> OpenWriter(LogWriterOptions options = {}) {
    if (options.clock == nullptr) options.clock = &clock_;
    auto w = LogWriter::Open(dir(), TestSigner(), options);
    EXPECT_THAT(w, IsOk());
    return w.ok() ? std::move(w).value() : nullptr;
  }

  // Appends n records with all of them in flight at once (one group commit
  // or a few), and waits for every acknowledgement.
  void AppendN(LogWriter& w, int n, int64_t retention = 0) {
    std::mutex mu;
    std::condition_variable cv;
    int done = 0;
    int failed = 0;
    uint64_t base = w.size();
    for (int i = 0; i < n; ++i) {
      w.AppendAsync(SampleRecord(static_cast<int>(base) + i, retention), [&](Result<AppendReceipt> r) {
        std::lock_guard<std::mutex> l(mu);
        if (!r.ok()) ++failed;
        ++done;
        cv.notify_all();
      });
    }
    std::unique_lock<std::mutex> l(mu);
    cv.wait(l, [&] { return done == n; });
    ASSERT_EQ(failed, 0);
  }

  // Commitments of every entry, as the reference's leaf data.
  std::vector<std::string> LeafData() {
    std::vector<std::string> out;
    auto records = PosixStorage().OpenReadOnly(File("records"));
    EXPECT_THAT(records, IsOk());
    RecordScanner s(records->get(), kRecordsMagic.size());
    Frame f;
    std::string err;
    while (s.Next(&f, &err) == DecodeResult::kOk) out.push_back(FrameCommitment(f));
    return out;
  }

  VerifyReport Verify(std::vector<std::string> pinned = {}) {
    VerifyOptions opts;
    opts.key = TestSigner().verifier_key();
    opts.pinned_checkpoints = std::move(pinned);
    return VerifyLog(dir(), opts);
  }

  std::string ReadAll(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  void WriteAll(const std::string& path, const std::string& data) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << data;
  }
  // Offsets of each frame in the records file.
  std::vector<uint64_t> FrameOffsets() {
    std::vector<uint64_t> out;
    auto records = PosixStorage().OpenReadOnly(File("records"));
    RecordScanner s(records->get(), kRecordsMagic.size());
    Frame f;
    std::string err;
    while (s.Next(&f, &err) == DecodeResult::kOk) out.push_back(s.frame_offset());
    out.push_back(s.offset());
    return out;
  }

  ::kp::testing::TempDir tmp_;
  ManualClock clock_{1'790'000'000'000};
};

TEST_F(AuditLogTest, AppendsAreNumberedAndSurviveReopen) {
  {
    auto w = OpenWriter();
    ASSERT_OK_AND_ASSIGN(AppendReceipt r0, w->Append(SampleRecord(0)));
    ASSERT_OK_AND_ASSIGN(AppendReceipt r1, w->Append(SampleRecord(1)));
    EXPECT_EQ(r0.index, 0u);
    EXPECT_EQ(r1.index, 1u);
    EXPECT_EQ(r1.leaf_hash.size(), 32u);
    ASSERT_THAT(w->Close(), IsOk());
  }
  auto w = OpenWriter();
  EXPECT_EQ(w->size(), 2u);
  EXPECT_EQ(w->recovered_records(), 0u) << "a clean close leaves nothing to rebuild";
  ASSERT_OK_AND_ASSIGN(AppendReceipt r2, w->Append(SampleRecord(2)));
  EXPECT_EQ(r2.index, 2u);
  ASSERT_THAT(w->Close(), IsOk());
  VerifyReport rep = Verify();
  EXPECT_THAT(rep.status, IsOk());
  EXPECT_EQ(rep.records, 3u);
  ASSERT_TRUE(rep.latest.has_value());
  EXPECT_EQ(rep.latest->size, 3u);
}

TEST_F(AuditLogTest, RecordWithoutEventIsRefused) {
  auto w = OpenWriter();
  ketenpoort::v1::AuditRecord empty;
  EXPECT_THAT(w->Append(empty), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_EQ(w->size(), 0u);
}

TEST_F(AuditLogTest, FolderOfAnotherKeyIsRefused) {
  OpenWriter().reset();
  auto other = LogWriter::Open(dir(), TestSigner(9), LogWriterOptions{});
  EXPECT_THAT(other, StatusIs(StatusCode::kFailedPrecondition));
}

TEST_F(AuditLogTest, SecondWriterIsLockedOut) {
  auto w = OpenWriter();
  auto second = LogWriter::Open(dir(), TestSigner(), LogWriterOptions{});
  EXPECT_THAT(second, StatusIs(StatusCode::kUnavailable));
}

TEST_F(AuditLogTest, ConcurrentAppendersShareFlushesAndGetDistinctIndexes) {
  auto w = OpenWriter();
  constexpr int kThreads = 8;
  constexpr int kPerThread = 40;
  std::vector<std::vector<uint64_t>> got(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto r = w->Append(SampleRecord(t * 1000 + i));
        if (r.ok()) got[t].push_back(r->index);
      }
    });
  }
  for (auto& th : threads) th.join();
  std::vector<uint64_t> all;
  for (auto& g : got) all.insert(all.end(), g.begin(), g.end());
  std::sort(all.begin(), all.end());
  ASSERT_EQ(all.size(), static_cast<size_t>(kThreads * kPerThread));
  for (size_t i = 0; i < all.size(); ++i) ASSERT_EQ(all[i], i);
  ASSERT_THAT(w->Close(), IsOk());
  EXPECT_THAT(Verify().status, IsOk());
}

TEST_F(AuditLogTest, AsyncAppendsInFlightAreAllAcknowledged) {
  auto w = OpenWriter();
  std::atomic<int> done{0};
  std::atomic<int> ok{0};
  for (int i = 0; i < 500; ++i) {
    w->AppendAsync(SampleRecord(i), [&](Result<AppendReceipt> r) {
      if (r.ok()) ++ok;
      ++done;
    });
  }
  ASSERT_THAT(w->Close(), IsOk());
  EXPECT_EQ(done.load(), 500);
  EXPECT_EQ(ok.load(), 500);
  EXPECT_EQ(Verify().records, 500u);
}

TEST_F(AuditLogTest, ProofsFromTheLogMatchTheReference) {
  LogWriterOptions opts;
  opts.checkpoint_every_records = 100;
  opts.max_batch_records = 40;
  auto w = OpenWriter(opts);
  AppendN(*w, 333);
  ASSERT_THAT(w->Close(), IsOk());
  std::vector<std::string> leaves = LeafData();
  ASSERT_EQ(leaves.size(), 333u);
  ASSERT_OK_AND_ASSIGN(auto reader, LogReader::Open(dir()));
  EXPECT_EQ(reader->TreeSize(), 333u);
  for (uint64_t size : {1u, 2u, 100u, 255u, 256u, 257u, 333u}) {
    ASSERT_OK_AND_ASSIGN(std::string root, reader->RootAt(size));
    ASSERT_EQ(root, reference::Root(leaves, size));
    for (uint64_t index : {uint64_t{0}, size / 3, size - 1}) {
      ASSERT_OK_AND_ASSIGN(auto proof, reader->InclusionProof(index, size));
      ASSERT_EQ(proof, reference::Path(leaves, index, size));
      ASSERT_OK_AND_ASSIGN(std::string leaf, reader->LeafHash(index));
      ASSERT_EQ(leaf, reference::LeafHash(leaves[index]));
    }
    for (uint64_t old : {uint64_t{1}, size / 2 + 1, size}) {
      ASSERT_OK_AND_ASSIGN(auto proof, reader->ConsistencyProof(old, size));
      ASSERT_EQ(proof, reference::Proof(leaves, old, size));
    }
  }
  // Every checkpoint the log signed is consistent with every later one.
  VerifyReport rep = Verify();
  ASSERT_THAT(rep.status, IsOk());
  EXPECT_GE(rep.checkpoints, 4u);
}

TEST_F(AuditLogTest, CrashKeepsExactlyTheAcknowledgedRecords) {
  FaultInjectingStorage storage;
  std::atomic<uint64_t> acked_max{0};
  std::atomic<uint64_t> acked_count{0};
  {
    LogWriterOptions opts;
    opts.storage = &storage;
    opts.clock = &clock_;
    opts.checkpoint_every_records = 50;
    ASSERT_OK_AND_ASSIGN(auto w, LogWriter::Open(dir(), TestSigner(), opts));
    std::vector<std::thread> threads;
    std::atomic<bool> stop{false};
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; !stop; ++i) {
          auto r = w->Append(SampleRecord(t * 100000 + i));
          if (!r.ok()) return;
          ++acked_count;
          uint64_t prev = acked_max.load();
          while (r->index > prev && !acked_max.compare_exchange_weak(prev, r->index)) {
          }
        }
      });
    }
    while (acked_count.load() < 200) std::this_thread::yield();
    storage.Crash();  // the process dies mid-stream: nothing more reaches the disk
    stop = true;
    for (auto& th : threads) th.join();
  }
  // Power cut: unsynced bytes vanish, except a few bytes of a torn frame.
  storage.DropUnsyncedData(/*torn_bytes=*/13);

  auto w = OpenWriter();
  ASSERT_NE(w, nullptr);
  // Every acknowledged record is there; the ones not acknowledged may or
  // may not be, but the log is a clean prefix.
  EXPECT_GE(w->size(), acked_max.load() + 1);
  EXPECT_GE(w->size(), acked_count.load());
  ASSERT_THAT(w->Close(), IsOk());
  VerifyReport rep = Verify();
  EXPECT_THAT(rep.status, IsOk());
  EXPECT_EQ(rep.records, w->size());
}

TEST_F(AuditLogTest, TornTailIsCutOnOpen) {
  {
    auto w = OpenWriter();
    AppendN(*w, 10);
    ASSERT_THAT(w->Close(), IsOk());
  }
  std::string records = ReadAll(File("records"));
  std::vector<uint64_t> offsets = FrameOffsets();
  // Append half of a copy of the last frame: an append that never finished.
  std::string half = records.substr(offsets[9], (offsets[10] - offsets[9]) / 2);
  WriteAll(File("records"), records + half);
  auto w = OpenWriter();
  EXPECT_EQ(w->size(), 10u);
  EXPECT_EQ(w->cut_tail_bytes(), half.size());
  ASSERT_OK_AND_ASSIGN(AppendReceipt r, w->Append(SampleRecord(10)));
  EXPECT_EQ(r.index, 10u);
  ASSERT_THAT(w->Close(), IsOk());
  EXPECT_THAT(Verify().status, IsOk());
}

TEST_F(AuditLogTest, FailedSyncFailsClosed) {
  FaultInjectingStorage storage;
  LogWriterOptions opts;
  opts.storage = &storage;
  opts.clock = &clock_;
  ASSERT_OK_AND_ASSIGN(auto w, LogWriter::Open(dir(), TestSigner(), opts));
  ASSERT_THAT(w->Append(SampleRecord(0)), IsOk());
  storage.FailNextSync();
  EXPECT_FALSE(w->Append(SampleRecord(1)).ok());
  EXPECT_FALSE(w->Append(SampleRecord(2)).ok()) << "after a failed fdatasync nothing more is accepted";
}

TEST_F(AuditLogTest, BufferedAppendsAreDurableOnlyAfterSync) {
  FaultInjectingStorage storage;
  {
    auto w = OpenWriter({.storage = &storage});
    ASSERT_NE(w, nullptr);
    for (int i = 0; i < 3; ++i) {
      ASSERT_OK_AND_ASSIGN(AppendReceipt r, w->AppendBuffered(SampleRecord(i)));
      EXPECT_EQ(r.index, static_cast<uint64_t>(i));  // the index is known at once
    }
    ASSERT_THAT(w->Sync(), IsOk());
    ASSERT_OK_AND_ASSIGN(AppendReceipt r, w->AppendBuffered(SampleRecord(3)));
    EXPECT_EQ(r.index, 3u);
    // A checkpoint signed for a receipt covers the buffered record; it is not
    // kept in the folder.
    ASSERT_OK_AND_ASSIGN(std::string head, w->SignHead());
    ASSERT_OK_AND_ASSIGN(Checkpoint cp,
                         OpenCheckpoint(head, TestSigner().verifier_key(), TestSigner().origin()));
    EXPECT_EQ(cp.size, 4u);
    EXPECT_FALSE(std::filesystem::exists(File("checkpoints/00000000000000000004")));
    storage.Crash();  // before the second Sync: record 3 was never durable
  }
  storage.DropUnsyncedData();
  auto w = OpenWriter();
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->size(), 3u);
  ASSERT_THAT(w->Close(), IsOk());
  EXPECT_THAT(Verify().status, IsOk());
}

// Two checkpoint notes of the test signer name the same tree: size and root.
void ExpectSameTree(const std::string& note_a, const std::string& note_b) {
  ASSERT_OK_AND_ASSIGN(Checkpoint a,
                       OpenCheckpoint(note_a, TestSigner().verifier_key(), TestSigner().origin()));
  ASSERT_OK_AND_ASSIGN(Checkpoint b,
                       OpenCheckpoint(note_b, TestSigner().verifier_key(), TestSigner().origin()));
  EXPECT_EQ(a.size, b.size);
  EXPECT_EQ(a.root, b.root);
}

// Stages SampleRecord(first) .. SampleRecord(last) in `w`, in order, onto
// *staged (the gateway's outbox). Call with ASSERT_NO_FATAL_FAILURE.
void StageSamples(LogWriter& w, int first, int last, std::vector<StagedRecord>* staged) {
  for (int i = first; i <= last; ++i) {
    ASSERT_OK_AND_ASSIGN(StagedRecord r, w.Stage(SampleRecord(i)));
    staged->push_back(r);
  }
}

TEST_F(AuditLogTest, StagedRecordsAppendLaterAsTheSameLeavesAndOnlyOnce) {
  // Staged by one writer (the gateway before a crash), appended by the next
  // from where they were kept (the case database's outbox).
  std::vector<StagedRecord> staged;
  std::string head;
  {
    auto w = OpenWriter();
    ASSERT_NE(w, nullptr);
    ASSERT_THAT(w->Append(SampleRecord(0)), IsOk());
    for (int i = 1; i <= 3; ++i) {
      ASSERT_OK_AND_ASSIGN(StagedRecord r, w->Stage(SampleRecord(i)));
      EXPECT_EQ(r.index, static_cast<uint64_t>(i));  // the index is known at once
      staged.push_back(r);
    }
    EXPECT_EQ(w->size(), 1u);                   // nothing written yet
    ASSERT_OK_AND_ASSIGN(head, w->SignHead());  // covers the staged records
    EXPECT_THAT(w->Append(SampleRecord(9)), StatusIs(StatusCode::kFailedPrecondition));  // no mixing
    ASSERT_THAT(w->AppendStaged({staged[0]}), IsOk());  // a crash after the first
    EXPECT_EQ(w->size(), 2u);
  }
  auto w = OpenWriter();
  ASSERT_NE(w, nullptr);
  ASSERT_THAT(w->AppendStaged(staged), IsOk());  // the first is skipped: it is in the log
  EXPECT_EQ(w->size(), 4u);
  ASSERT_THAT(w->AppendStaged(staged), IsOk());  // and again: nothing twice
  EXPECT_EQ(w->size(), 4u);
  ASSERT_OK_AND_ASSIGN(std::string now, w->Checkpoint());
  ExpectSameTree(head, now);  // exactly the leaves the receipt vouched for
  ASSERT_THAT(w->Close(), IsOk());
  EXPECT_THAT(Verify().status, IsOk());
}

TEST_F(AuditLogTest, StagedRecordsWrittenWithoutASyncComeBackWholeAfterAPowerCut) {
  // The gateway writes a unit's staged records, sends, then syncs; a power
  // cut before the sync tears the unsynced tail, and the outbox's copies
  // make the log what the receipts vouched for again.
  std::vector<StagedRecord> staged;
  std::string head;
  {
    auto w = OpenWriter();
    ASSERT_NE(w, nullptr);
    ASSERT_THAT(w->Append(SampleRecord(0)), IsOk());
    ASSERT_NO_FATAL_FAILURE(StageSamples(*w, 1, 3, &staged));
    ASSERT_OK_AND_ASSIGN(head, w->SignHead());
    ASSERT_THAT(w->WriteStaged(staged), IsOk());
    EXPECT_EQ(w->size(), 4u);          // written, and counted
    EXPECT_EQ(w->durable_size(), 1u);  // but not durable: the outbox must keep them
    ASSERT_THAT(w->CutUnsyncedTailForFaultInjection(), IsOk());
    EXPECT_THAT(w->Append(SampleRecord(9)), Not(IsOk()));  // a cut writer fails closed
  }
  auto w = OpenWriter();
  ASSERT_NE(w, nullptr);
  EXPECT_GT(w->cut_tail_bytes(), 0u);  // the torn frame was cut
  EXPECT_LT(w->size(), 4u);
  ASSERT_THAT(w->AppendStaged(staged), IsOk());
  EXPECT_EQ(w->size(), 4u);
  EXPECT_EQ(w->durable_size(), 4u);
  ASSERT_OK_AND_ASSIGN(std::string now, w->Checkpoint());
  ExpectSameTree(head, now);
  // A sync makes written records durable.
  ASSERT_OK_AND_ASSIGN(StagedRecord more, w->Stage(SampleRecord(4)));
  ASSERT_THAT(w->WriteStaged({more}), IsOk());
  EXPECT_EQ(w->durable_size(), 4u);
  ASSERT_THAT(w->Sync(), IsOk());
  EXPECT_EQ(w->durable_size(), 5u);
  ASSERT_THAT(w->Close(), IsOk());
  EXPECT_THAT(Verify().status, IsOk());
}

TEST_F(AuditLogTest, AGapOrADamagedStagedRecordIsDataLoss) {
  auto w = OpenWriter();
  ASSERT_NE(w, nullptr);
  ASSERT_OK_AND_ASSIGN(StagedRecord first, w->Stage(SampleRecord(0)));
  ASSERT_OK_AND_ASSIGN(StagedRecord second, w->Stage(SampleRecord(1)));
  EXPECT_THAT(w->AppendStaged({second}), StatusIs(StatusCode::kDataLoss));  // record 0 is missing
  StagedRecord damaged = first;
  damaged.time_unix_millis = 0;  // as read back from the caller's outbox: its bytes are checked
  damaged.record[damaged.record.size() / 2] ^= 0x01;
  damaged.record.resize(damaged.record.size() - 1);
  EXPECT_THAT(w->AppendStaged({damaged}), StatusIs(StatusCode::kDataLoss));
  EXPECT_EQ(w->size(), 0u);
  ASSERT_THAT(w->AppendStaged({first, second}), IsOk());
  EXPECT_EQ(w->size(), 2u);
}

TEST_F(AuditLogTest, DiscardedStagedRecordsLeaveTheirIndexesToTheNext) {
  auto w = OpenWriter();
  ASSERT_NE(w, nullptr);
  ASSERT_THAT(w->Stage(SampleRecord(0)), IsOk());
  w->DiscardStaged();  // the transaction was rolled back
  ASSERT_OK_AND_ASSIGN(StagedRecord again, w->Stage(SampleRecord(1)));
  EXPECT_EQ(again.index, 0u);
  ASSERT_THAT(w->AppendStaged({again}), IsOk());
  ASSERT_THAT(w->Append(SampleRecord(2)), IsOk());  // nothing staged any more: plain appends work
  EXPECT_EQ(w->size(), 2u);
}

TEST_F(AuditLogTest, AKeptCheckpointSyncsBufferedRecordsFirst) {
  {
    auto w = OpenWriter();
    ASSERT_NE(w, nullptr);
    ASSERT_THAT(w->AppendBuffered(SampleRecord(0)), IsOk());
    ASSERT_THAT(w->AppendBuffered(SampleRecord(1)), IsOk());
    ASSERT_OK_AND_ASSIGN(std::string note, w->Checkpoint());  // written to the folder
    ASSERT_OK_AND_ASSIGN(Checkpoint cp,
                         OpenCheckpoint(note, TestSigner().verifier_key(), TestSigner().origin()));
    EXPECT_EQ(cp.size, 2u);
    // The periodic checkpoint also follows a Sync of buffered records.
    clock_.Advance(5000);
    ASSERT_THAT(w->AppendBuffered(SampleRecord(2)), IsOk());
    ASSERT_THAT(w->Sync(), IsOk());
    EXPECT_TRUE(std::filesystem::exists(File("checkpoints/00000000000000000003")));
  }
  EXPECT_THAT(Verify().status, IsOk());
}

TEST_F(AuditLogTest, AFailedSyncOfBufferedRecordsFailsClosed) {
  FaultInjectingStorage storage;
  auto w = OpenWriter({.storage = &storage});
  ASSERT_NE(w, nullptr);
  ASSERT_THAT(w->AppendBuffered(SampleRecord(0)), IsOk());
  storage.FailNextSync();
  EXPECT_FALSE(w->Sync().ok());
  EXPECT_FALSE(w->AppendBuffered(SampleRecord(1)).ok());
  EXPECT_FALSE(w->Append(SampleRecord(2)).ok());
  EXPECT_FALSE(w->SignHead().ok());
}

TEST_F(AuditLogTest, AStagedAppendWhoseSyncFailedIsNotCountedDurable) {
  // The gateway trims its outbox below durable_size(): records whose sync
  // failed must stay out of it, or their only sure copy would go.
  FaultInjectingStorage storage;
  auto w = OpenWriter({.storage = &storage});
  ASSERT_NE(w, nullptr);
  ASSERT_THAT(w->Append(SampleRecord(0)), IsOk());
  std::vector<StagedRecord> staged;
  ASSERT_NO_FATAL_FAILURE(StageSamples(*w, 1, 2, &staged));
  storage.FailNextSync();
  EXPECT_FALSE(w->AppendStaged(staged).ok());
  EXPECT_EQ(w->durable_size(), 1u);
  EXPECT_FALSE(w->Append(SampleRecord(3)).ok());  // and the writer fails closed
}

TEST_F(AuditLogTest, AReopenAfterAFailedSyncCutsWhatThatSyncDidNotMakeDurable) {
  // A failed fdatasync may leave written records in the page cache while the
  // disk lost them; the files below still hold them, as the cache would show
  // them. A reopen that keeps only the durable records cuts them, and the
  // kept copies (the gateway's outbox) make the log whole again, byte for byte.
  FaultInjectingStorage storage;
  std::vector<StagedRecord> staged;
  std::string head;
  uint64_t durable = 0;
  {
    auto w = OpenWriter({.storage = &storage});
    ASSERT_NE(w, nullptr);
    ASSERT_THAT(w->Append(SampleRecord(0)), IsOk());
    ASSERT_NO_FATAL_FAILURE(StageSamples(*w, 1, 3, &staged));
    ASSERT_OK_AND_ASSIGN(head, w->SignHead());
    ASSERT_THAT(w->WriteStaged(staged), IsOk());
    storage.FailNextSync();
    EXPECT_FALSE(w->Sync().ok());
    durable = w->durable_size();
    EXPECT_EQ(durable, 1u);
    (void)w->Close();
  }
  EXPECT_EQ(LeafData().size(), 4u);  // all four are in the file

  auto w = OpenWriter({.storage = &storage, .keep_at_most_records = durable});
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->size(), 1u);
  EXPECT_GT(w->cut_tail_bytes(), 0u);
  EXPECT_EQ(LeafData().size(), 1u);
  ASSERT_THAT(w->AppendStaged(staged), IsOk());
  EXPECT_EQ(w->durable_size(), 4u);
  ASSERT_OK_AND_ASSIGN(std::string now, w->Checkpoint());
  ExpectSameTree(head, now);
  ASSERT_THAT(w->Close(), IsOk());
  EXPECT_THAT(Verify().status, IsOk());
}

TEST_F(AuditLogTest, KeepingAtMostAsManyRecordsAsTheLogHoldsCutsNothing) {
  {
    auto w = OpenWriter();
    AppendN(*w, 5);
    ASSERT_THAT(w->Close(), IsOk());
  }
  auto w = OpenWriter({.keep_at_most_records = 5});
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->size(), 5u);
  EXPECT_EQ(w->cut_tail_bytes(), 0u);
}

TEST_F(AuditLogTest, OpenRefusesALogShorterThanItsCheckpoint) {
  {
    auto w = OpenWriter();
    AppendN(*w, 20);
    ASSERT_THAT(w->Close(), IsOk());
  }
  std::vector<uint64_t> offsets = FrameOffsets();
  std::filesystem::resize_file(File("records"), offsets[15]);
  std::filesystem::remove(File("state"));
  auto w = LogWriter::Open(dir(), TestSigner(), LogWriterOptions{});
  EXPECT_THAT(w, StatusIs(StatusCode::kDataLoss, "lost"));
}

TEST_F(AuditLogTest, NeverSignsACheckpointInconsistentWithTheLastOne) {
  {
    auto w = OpenWriter();
    AppendN(*w, 8);
    ASSERT_THAT(w->Close(), IsOk());
  }
  // Someone rewrites record 3 and the whole tree consistently: the writer's
  // own checkpoint no longer matches, so it refuses to open (and so to sign).
  std::string records = ReadAll(File("records"));
  std::vector<uint64_t> offsets = FrameOffsets();
  uint64_t pos = offsets[3] + kFrameHeaderBytes + 9;  // first salt byte
  records[pos] ^= 1;
  // Fix the CRC so the frame itself looks intact.
  std::string payload =
      records.substr(offsets[3] + kFrameHeaderBytes, offsets[4] - offsets[3] - kFrameHeaderBytes);
  uint32_t crc = MaskCrc(Crc32c(payload));
  for (int i = 0; i < 4; ++i) records[offsets[3] + 4 + i] = static_cast<char>(crc >> (24 - 8 * i));
  WriteAll(File("records"), records);
  std::filesystem::remove(File("tree"));
  std::filesystem::remove(File("state"));
  auto w = LogWriter::Open(dir(), TestSigner(), LogWriterOptions{});
  EXPECT_THAT(w, StatusIs(StatusCode::kDataLoss, "history was changed"));
}

// --- Tamper tests: any change is found, and the first bad index is named.

class AuditTamperTest : public AuditLogTest {
 protected:
  void SetUp() override {
    LogWriterOptions opts;
    opts.checkpoint_every_records = 16;
    opts.max_batch_records = 8;
    auto w = OpenWriter(opts);
    AppendN(*w, 40);
    ASSERT_THAT(w->Close(), IsOk());
    ASSERT_THAT(Verify().status, IsOk());
    records_ = ReadAll(File("records"));
    tree_ = ReadAll(File("tree"));
    offsets_ = FrameOffsets();
  }
  // Index of the frame holding byte `pos` of the records file.
  uint64_t FrameAt(uint64_t pos) {
    auto it = std::upper_bound(offsets_.begin(), offsets_.end(), pos);
    return static_cast<uint64_t>(it - offsets_.begin()) - 1;
  }
  std::string Frame(uint64_t i) { return records_.substr(offsets_[i], offsets_[i + 1] - offsets_[i]); }

  std::string records_;
  std::string tree_;
  std::vector<uint64_t> offsets_;
};

TEST_F(AuditTamperTest, EveryChangedRecordByteIsFoundAtItsIndex) {
  // Every byte of the first frames, and a sample of the rest.
  std::mt19937 rng(1);
  for (uint64_t pos = kRecordsMagic.size(); pos < records_.size();
       pos += (pos < offsets_[1] || (pos >= offsets_[37] && pos < offsets_[38]) ? 1 : 1 + rng() % 331)) {
    std::string bad = records_;
    bad[pos] ^= static_cast<char>(1 << (rng() % 8));
    WriteAll(File("records"), bad);
    VerifyReport rep = Verify();
    ASSERT_FALSE(rep.status.ok()) << "byte " << pos;
    ASSERT_TRUE(rep.first_bad_index.has_value()) << rep.status;
    EXPECT_EQ(*rep.first_bad_index, FrameAt(pos)) << "byte " << pos << ": " << rep.status;
  }
}

TEST_F(AuditTamperTest, ChangedRecordWithFixedChecksumIsFoundAtItsIndex) {
  for (uint64_t i : {0u, 7u, 39u}) {
    std::string bad = records_;
    uint64_t pos = offsets_[i] + kFrameHeaderBytes + 9 + kSaltBytes + 5;  // inside the record bytes
    bad[pos] ^= 0x20;
    std::string payload =
        bad.substr(offsets_[i] + kFrameHeaderBytes, offsets_[i + 1] - offsets_[i] - kFrameHeaderBytes);
    uint32_t crc = MaskCrc(Crc32c(payload));
    for (int k = 0; k < 4; ++k) bad[offsets_[i] + 4 + k] = static_cast<char>(crc >> (24 - 8 * k));
    WriteAll(File("records"), bad);
    VerifyReport rep = Verify();
    ASSERT_FALSE(rep.status.ok());
    ASSERT_TRUE(rep.first_bad_index.has_value());
    EXPECT_EQ(*rep.first_bad_index, i) << rep.status;
  }
}

TEST_F(AuditTamperTest, DeletedReorderedOrInsertedRecordsAreFound) {
  std::string head = records_.substr(0, offsets_[5]);
  std::string tail = records_.substr(offsets_[6]);
  WriteAll(File("records"), head + tail);  // delete record 5
  VerifyReport rep = Verify();
  EXPECT_THAT(rep.status, StatusIs(StatusCode::kDataLoss, "record 5"));
  EXPECT_EQ(rep.first_bad_index, 5u);

  WriteAll(File("records"), head + Frame(6) + Frame(5) + records_.substr(offsets_[7]));  // swap 5 and 6
  rep = Verify();
  EXPECT_EQ(rep.first_bad_index, 5u) << rep.status;

  WriteAll(File("records"), head + Frame(2) + records_.substr(offsets_[5]));  // insert a copy before 5
  rep = Verify();
  EXPECT_EQ(rep.first_bad_index, 5u) << rep.status;

  WriteAll(File("records"), records_.substr(0, offsets_[39]));  // drop the last record
  rep = Verify();
  EXPECT_EQ(rep.first_bad_index, 39u) << rep.status;
}

TEST_F(AuditTamperTest, EveryChangedTreeByteIsFound) {
  for (uint64_t pos = 0; pos < tree_.size(); pos += 11) {
    std::string bad = tree_;
    bad[pos] ^= 0x01;
    WriteAll(File("tree"), bad);
    VerifyReport rep = Verify();
    ASSERT_FALSE(rep.status.ok()) << "tree byte " << pos;
    ASSERT_TRUE(rep.first_bad_index.has_value());
    uint64_t node = pos / kHashBytes;
    // The node belongs to the leaf whose nodes it is among.
    EXPECT_EQ(*rep.first_bad_index, TreeSizeForNodeCount(node)) << "tree byte " << pos << ": " << rep.status;
  }
}

TEST_F(AuditTamperTest, RewrittenHistoryIsCaughtByAPinnedCheckpoint) {
  ASSERT_OK_AND_ASSIGN(std::string pinned, PosixStorage().ReadSmallFile(File("checkpoint"), 65536));
  // The operator rebuilds the whole log from scratch with different content
  // and the same key: the folder is self-consistent, the pinned checkpoint
  // is not.
  std::filesystem::remove_all(dir());
  {
    auto w = OpenWriter();
    for (int i = 0; i < 40; ++i) ASSERT_THAT(w->Append(SampleRecord(i == 20 ? 99 : i)), IsOk());
    ASSERT_THAT(w->Close(), IsOk());
  }
  EXPECT_THAT(Verify().status, IsOk());
  VerifyReport rep = Verify({pinned});
  EXPECT_THAT(rep.status, StatusIs(StatusCode::kDataLoss, "pinned checkpoint"));
  ASSERT_TRUE(rep.first_bad_index.has_value());
}

TEST_F(AuditTamperTest, ForgedCheckpointFailsItsSignature) {
  ASSERT_OK_AND_ASSIGN(std::string note, PosixStorage().ReadSmallFile(File("checkpoint"), 65536));
  std::string bad = note;
  bad[note.find('\n') + 1] = '3';  // "40" -> "30"
  WriteAll(File("checkpoint"), bad);
  EXPECT_THAT(Verify().status, StatusIs(StatusCode::kUnauthenticated));
  // Signed by another key.
  WriteAll(File("checkpoint"),
           TestSigner(9).Sign(Checkpoint{testing::kTestOrigin, 40, std::string(32, 'x'), {}}));
  EXPECT_THAT(Verify().status, StatusIs(StatusCode::kUnauthenticated));
}

TEST_F(AuditLogTest, TamperInALargeLogIsFoundAtItsIndex) {
  // Large enough that verification splits each batch over two threads and
  // crosses batch boundaries.
  {
    LogWriterOptions opts;
    opts.checkpoint_every_records = 2500;
    auto w = OpenWriter(opts);
    AppendN(*w, 5000);
    ASSERT_THAT(w->Close(), IsOk());
  }
  ASSERT_THAT(Verify().status, IsOk());
  std::string records = ReadAll(File("records"));
  std::vector<uint64_t> offsets = FrameOffsets();
  for (uint64_t i : {0u, 2047u, 2048u, 3071u, 4095u, 4096u, 4999u}) {
    std::string bad = records;
    bad[offsets[i] + kFrameHeaderBytes + 20] ^= 0x40;  // a salt byte
    WriteAll(File("records"), bad);
    VerifyReport rep = Verify();
    EXPECT_EQ(rep.first_bad_index, i) << rep.status;
  }
  WriteAll(File("records"), records);
  EXPECT_THAT(Verify().status, IsOk());
}

TEST_F(AuditLogTest, TreeTamperInALargeLogIsFoundAtItsIndex) {
  // Nodes whose children lie in another batch or on the other thread's half
  // (the subtree of 4,096 leaves joins two of 2,048), leaves and the last
  // records' nodes.
  {
    LogWriterOptions opts;
    opts.checkpoint_every_records = 2500;
    auto w = OpenWriter(opts);
    AppendN(*w, 5000);
    ASSERT_THAT(w->Close(), IsOk());
  }
  std::string tree = ReadAll(File("tree"));
  std::vector<uint64_t> nodes = {PostOrderPosition(12, 0),   PostOrderPosition(11, 0),
                                 PostOrderPosition(11, 1),   PostOrderPosition(0, 0),
                                 PostOrderPosition(0, 2048), PostOrderPosition(0, 4096),
                                 PostOrderPosition(3, 624),  PostOrderPosition(0, 4999)};
  std::mt19937 rng(5);
  for (int k = 0; k < 8; ++k) nodes.push_back(rng() % (tree.size() / kHashBytes));
  for (uint64_t node : nodes) {
    std::string bad = tree;
    bad[node * kHashBytes + rng() % kHashBytes] ^= 0x10;
    WriteAll(File("tree"), bad);
    VerifyReport rep = Verify();
    ASSERT_FALSE(rep.status.ok()) << "node " << node;
    EXPECT_EQ(rep.first_bad_index, TreeSizeForNodeCount(node)) << "node " << node << ": " << rep.status;
  }
  WriteAll(File("tree"), tree);
  EXPECT_THAT(Verify().status, IsOk());
}

// A record whose frame is intact (its checksum fixed) but whose bytes are
// not a valid AuditRecord, carry another index or no event: each is named,
// at its index, before its leaf is compared.
TEST_F(AuditTamperTest, RecordsThatAreNotValidAuditRecordsAreNamed) {
  google::protobuf::LogSilencer quiet;  // protobuf logs the invalid UTF-8 it refuses
  auto replace = [&](uint64_t i, const std::string& record) {
    std::string frame;
    AppendRecordFrame(frame, i, std::string(kSaltBytes, 's'), record);
    WriteAll(File("records"), records_.substr(0, offsets_[i]) + frame + records_.substr(offsets_[i + 1]));
    return Verify();
  };
  ketenpoort::v1::AuditRecord r = SampleRecord(9);
  r.set_index(9);
  std::string good = r.SerializeAsString();
  struct Case {
    std::string bytes;
    std::string message;
  };
  const std::vector<Case> cases = {
      {good + std::string("\x2a\x02\xc3\x28", 4), "record 9: not a valid AuditRecord"},  // case_id not UTF-8
      {good.substr(0, good.size() - 3), "record 9: not a valid AuditRecord"},            // cut off
      {good + std::string("\x08\x0a", 2), "record 9: the record says index 10"},
      {good + std::string("\x18\x00", 2), "record 9: no event"},
      {good + std::string("\x0a\x01x", 3), "record 9 does not match its leaf"},  // parses (index as bytes)
  };
  for (const Case& c : cases) {
    VerifyReport rep = replace(9, c.bytes);
    EXPECT_THAT(rep.status, StatusIs(StatusCode::kDataLoss, c.message));
    EXPECT_EQ(rep.first_bad_index, 9u);
  }
}

// --- Erasure.

TEST_F(AuditLogTest, EraseExpiredLeavesTombstonesAndKeepsProofs) {
  auto w = OpenWriter();
  const int64_t now = clock_.NowMillis();
  for (int i = 0; i < 12; ++i) {
    ASSERT_THAT(w->Append(SampleRecord(i, i % 3 == 0 ? now + 1000 : 0)), IsOk());
  }
  ASSERT_OK_AND_ASSIGN(std::string before_note, w->Checkpoint());
  ASSERT_OK_AND_ASSIGN(auto reader_before, LogReader::Open(dir()));
  ASSERT_OK_AND_ASSIGN(std::string root_before, reader_before->RootAt(12));
  ASSERT_OK_AND_ASSIGN(auto proof_before, reader_before->InclusionProof(3, 12));
  ASSERT_OK_AND_ASSIGN(std::string leaf3, reader_before->LeafHash(3));
  reader_before.reset();

  ASSERT_OK_AND_ASSIGN(EraseSummary none, w->EraseExpired(now));
  EXPECT_EQ(none.erased, 0u);
  ASSERT_OK_AND_ASSIGN(EraseSummary s, w->EraseExpired(now + 1000));
  EXPECT_EQ(s.erased, 4u);
  EXPECT_EQ(s.first_index, 0u);
  EXPECT_EQ(s.last_index, 9u);
  EXPECT_EQ(s.erasure_record_index, 12u);
  ASSERT_THAT(w->Append(SampleRecord(13)), IsOk());
  ASSERT_THAT(w->Close(), IsOk());

  VerifyReport rep = Verify({before_note});
  ASSERT_THAT(rep.status, IsOk());
  EXPECT_EQ(rep.tombstones, 4u);
  EXPECT_EQ(rep.records, 14u);
  ASSERT_OK_AND_ASSIGN(auto reader, LogReader::Open(dir()));
  ASSERT_OK_AND_ASSIGN(std::string root_after, reader->RootAt(12));
  EXPECT_EQ(root_after, root_before);
  EXPECT_THAT(VerifyInclusion(3, 12, leaf3, proof_before, root_after), IsOk());
  int erased_seen = 0;
  ASSERT_THAT(reader->ForEachEntry([&](const LogEntry& e) {
    if (e.erased) ++erased_seen;
    if (e.index == 12) {
      EXPECT_EQ(e.record.event(), ketenpoort::v1::AUDIT_EVENT_ERASURE);
    }
    return OkStatus();
  }),
              IsOk());
  EXPECT_EQ(erased_seen, 4);
  // Reopening after an erasure needs no rebuild of the tree.
  auto again = OpenWriter();
  EXPECT_EQ(again->size(), 14u);
}

TEST_F(AuditLogTest, OfflineEraseNeedsNoKeyAndIsLockedOutByAWriter) {
  const int64_t now = clock_.NowMillis();
  {
    auto w = OpenWriter();
    for (int i = 0; i < 6; ++i) ASSERT_THAT(w->Append(SampleRecord(i, i < 3 ? now : 0)), IsOk());
    EXPECT_THAT(EraseExpiredOffline(dir(), now + 1), StatusIs(StatusCode::kUnavailable));
    ASSERT_THAT(w->Close(), IsOk());
  }
  ASSERT_OK_AND_ASSIGN(EraseSummary s, EraseExpiredOffline(dir(), now + 1));
  EXPECT_EQ(s.erased, 3u);
  EXPECT_THAT(Verify().status, IsOk());
  auto w = OpenWriter();
  EXPECT_EQ(w->size(), 6u);
  EXPECT_EQ(w->recovered_records(), 0u);
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp::audit

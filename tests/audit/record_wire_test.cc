// The verifier's quick wire check (core/audit/record_wire.h) against
// protobuf's own ParseFromArray: whatever the check says parses must parse,
// with the same index and event, on well-formed records with every field set
// and on hundreds of thousands of mutations of them; what it is not sure of
// (unknown fields, other wire types, bad UTF-8, cut-off bytes) it leaves to
// protobuf.
#include "core/audit/record_wire.h"

#include <google/protobuf/stubs/logging.h>
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "ketenpoort/v1/audit.pb.h"
#include "tests/audit/audit_test_util.h"

namespace kp::audit {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

using ketenpoort::v1::AuditRecord;

// A record with every kind of field set: nested and repeated messages,
// repeated strings, bytes, negative numbers (10-byte varints), a non-ASCII
// string and fields numbered above 15 (two-byte tags).
AuditRecord FullRecord(uint64_t index) {
  AuditRecord r = testing::SampleRecord(static_cast<int>(index));
  r.set_index(index);
  r.set_time_unix_millis(-1);
  r.set_message_id(std::string(16, '\xee'));
  r.set_reason("zorgmelding over één gezin");  // UTF-8, not ASCII
  auto* d = r.mutable_decision();
  d->add_rule_ids("R-1");
  d->add_rule_ids("R-2");
  d->mutable_obligations()->add_allowed_fields("naam");
  d->mutable_obligations()->set_retention_days(4000000000u);
  d->mutable_obligations()->set_no_onward_sharing(true);
  d->set_justification(ketenpoort::v1::AUDIT_JUSTIFICATION_WEIGHING);
  r.mutable_erasure()->set_first_index(3);
  r.mutable_referral()->add_reason_codes("zorg");
  r.mutable_referral()->set_subjects(2);
  r.mutable_handover()->set_from("a");
  r.mutable_handover()->set_stand_in_until_unix_millis(-5);
  r.set_acute_until_unix_millis(1'790'000'000'000);
  auto* s = r.add_subjects();
  s->set_ref("S1");
  auto* p = s->add_pseudonyms();
  p->set_key_id("k1");
  p->set_basis(ketenpoort::v1::PSEUDONYM_BASIS_BSN);
  p->set_value(std::string(16, '\x01'));
  r.mutable_config()->add_policies()->set_version("hvb 2026.2");
  r.mutable_restore()->set_backup_id("ab12");
  return r;
}

struct Parsed {
  bool ok = false;
  uint64_t index = 0;
  int32_t event = 0;
};

Parsed ByProtobuf(const std::string& bytes) {
  AuditRecord r;
  Parsed p;
  p.ok = r.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
  if (p.ok) {
    p.index = r.index();
    p.event = static_cast<int32_t>(r.event());
  }
  return p;
}

// The one rule: the quick check never says "parses" where protobuf does not,
// and never reads another index or event.
void ExpectAgrees(const std::string& bytes, const std::string& what) {
  uint64_t index = 0;
  int32_t event = 0;
  if (CheckAuditRecordWire(bytes, &index, &event) != WireCheck::kParses) return;
  Parsed p = ByProtobuf(bytes);
  ASSERT_TRUE(p.ok) << what << ": the quick check accepts what protobuf refuses";
  ASSERT_EQ(index, p.index) << what;
  ASSERT_EQ(event, p.event) << what;
}

WireCheck Check(const std::string& bytes) {
  uint64_t index = 0;
  int32_t event = 0;
  return CheckAuditRecordWire(bytes, &index, &event);
}

TEST(RecordWireTest, WellFormedRecordsParseWithTheirIndexAndEvent) {
  for (uint64_t i : {0ull, 1ull, 127ull, 128ull, 4096ull, 1ull << 40}) {
    for (const AuditRecord& r : {testing::SampleRecord(static_cast<int>(i % 1000)), FullRecord(i)}) {
      AuditRecord rec = r;
      rec.set_index(i);
      const std::string bytes = rec.SerializeAsString();
      uint64_t index = 0;
      int32_t event = 0;
      ASSERT_EQ(CheckAuditRecordWire(bytes, &index, &event), WireCheck::kParses);
      EXPECT_EQ(index, i);
      EXPECT_EQ(event, static_cast<int32_t>(rec.event()));
    }
  }
  // The empty record parses too (index 0, no event: the verifier refuses it
  // for that, as before).
  uint64_t index = 7;
  int32_t event = 7;
  ASSERT_EQ(CheckAuditRecordWire("", &index, &event), WireCheck::kParses);
  EXPECT_EQ(index, 0u);
  EXPECT_EQ(event, 0);
}

TEST(RecordWireTest, WhatItDoesNotExpectIsLeftToProtobuf) {
  google::protobuf::LogSilencer quiet;
  const std::string good = FullRecord(5).SerializeAsString();
  // An unknown field (number 99, varint): protobuf accepts and keeps it.
  std::string unknown = good + std::string("\x98\x06\x01", 3);
  EXPECT_TRUE(ByProtobuf(unknown).ok);
  EXPECT_EQ(Check(unknown), WireCheck::kUnsure);
  // A known field with another wire type (index as length-delimited).
  std::string other_type = good + std::string("\x0a\x01x", 3);
  EXPECT_TRUE(ByProtobuf(other_type).ok);
  EXPECT_EQ(Check(other_type), WireCheck::kUnsure);
  // Invalid UTF-8 in a string field (case_id = 5): protobuf refuses.
  std::string bad_utf8 = good + std::string("\x2a\x02\xc3\x28", 4);
  EXPECT_FALSE(ByProtobuf(bad_utf8).ok);
  EXPECT_EQ(Check(bad_utf8), WireCheck::kUnsure);
  // Cut off anywhere inside the last field.
  for (size_t cut = 1; cut < 12; ++cut) {
    std::string cutoff = good.substr(0, good.size() - cut);
    ExpectAgrees(cutoff, "cut " + std::to_string(cut));
  }
  // Field number 0, an end-group tag, an 11-byte varint.
  EXPECT_EQ(Check(good + std::string("\x00\x01", 2)), WireCheck::kUnsure);
  EXPECT_EQ(Check(good + std::string("\x0c", 1)), WireCheck::kUnsure);
  EXPECT_EQ(Check(std::string("\x08") + std::string(10, '\xff') + std::string("\x01", 1)),
            WireCheck::kUnsure);
}

TEST(RecordWireTest, TheEventIsCutTo32BitsAsProtobufStoresIt) {
  // event = 2^32: protobuf keeps 0 ("no event"), so must the check.
  std::string bytes = std::string("\x08\x05\x18\x80\x80\x80\x80\x10", 8);
  Parsed p = ByProtobuf(bytes);
  ASSERT_TRUE(p.ok);
  uint64_t index = 0;
  int32_t event = 1;
  ASSERT_EQ(CheckAuditRecordWire(bytes, &index, &event), WireCheck::kParses);
  EXPECT_EQ(event, p.event);
  EXPECT_EQ(event, 0);
  EXPECT_EQ(index, 5u);
  // The last occurrence of a field wins.
  bytes += std::string("\x08\x07\x18\x09", 4);
  ASSERT_EQ(CheckAuditRecordWire(bytes, &index, &event), WireCheck::kParses);
  EXPECT_EQ(index, 7u);
  EXPECT_EQ(event, 9);
}

TEST(RecordWireTest, MutatedRecordsNeverPassTheCheckWhereProtobufRefuses) {
  google::protobuf::LogSilencer quiet;  // protobuf logs every invalid UTF-8 string it refuses
  std::mt19937_64 rng(19);
  std::vector<std::string> seeds;
  for (int i = 0; i < 8; ++i) {
    seeds.push_back(FullRecord(static_cast<uint64_t>(i) * 977).SerializeAsString());
    AuditRecord s = testing::SampleRecord(i);
    s.set_index(static_cast<uint64_t>(i));
    seeds.push_back(s.SerializeAsString());
  }
  int accepted = 0;
  int refused_by_protobuf = 0;
  for (int n = 0; n < 200'000; ++n) {
    std::string b = seeds[rng() % seeds.size()];
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits && !b.empty(); ++e) {
      const size_t pos = rng() % b.size();
      switch (rng() % 6) {
        case 0:
          b[pos] = static_cast<char>(b[pos] ^ (1 << (rng() % 8)));
          break;
        case 1:
          b[pos] = static_cast<char>(rng());
          break;
        case 2:
          b.insert(pos, 1, static_cast<char>(rng()));
          break;
        case 3:
          b.erase(pos, 1 + rng() % 4);
          break;
        case 4:
          b.resize(pos);
          break;
        case 5:
          b.insert(pos, b.substr(rng() % b.size(), rng() % 8));
          break;
      }
    }
    uint64_t index = 0;
    int32_t event = 0;
    const bool quick = CheckAuditRecordWire(b, &index, &event) == WireCheck::kParses;
    const Parsed p = ByProtobuf(b);
    if (!p.ok) ++refused_by_protobuf;
    if (!quick) continue;
    ++accepted;
    ASSERT_TRUE(p.ok) << "mutation " << n << ": the quick check accepts what protobuf refuses";
    ASSERT_EQ(index, p.index) << "mutation " << n;
    ASSERT_EQ(event, p.event) << "mutation " << n;
  }
  // Both sides are exercised.
  EXPECT_GT(accepted, 10'000);
  EXPECT_GT(refused_by_protobuf, 10'000);
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp::audit

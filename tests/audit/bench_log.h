// A region's year of audit records, fast and without the network, for the
// benchmark programs (subject_bench, scale_bench): the real LogWriter appends
// them, as a gateway would have.
//
// MakeBenchCases makes `count` cases with 1-3 subjects each (valid BSNs, a
// name, a date of birth) and their pseudonyms under BenchPseudonymKey(), as
// case/pseudonym.h computes them; kBenchPersonBsn is the first subject of
// three of them. Case ids are those a gateway's case store gives, which
// numbers at most 9,999 a year: the first half "VT-2025-0001", ..., the
// second "VT-2026-0001", ... Deterministic: the same cases in every run.
//
// BuildBenchLog writes `target` records: each case opened (CASE_OPENED with
// its subjects, PARTNER_ADMITTED) when it is first used, then exchanges among
// 14 partners — request, decision, forward, delivery (retention, payload)
// and receipt; a tenth refused (request, decision, refusal); a twentieth a
// push (forwarded, received) — spread evenly over the year 2026.
#ifndef KETENPOORT_TESTS_AUDIT_BENCH_LOG_H_
#define KETENPOORT_TESTS_AUDIT_BENCH_LOG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "case/pseudonym.h"
#include "core/audit/checkpoint.h"
#include "core/base/status.h"
#include "ketenpoort/v1/audit.pb.h"
#include "ketenpoort/v1/messages.pb.h"

namespace kp::testing {

inline constexpr char kBenchPersonBsn[] = "111222333";
inline constexpr char kBenchReportPartner[] = "politie";
inline constexpr int64_t kBenchLogStartMs = 1'767'225'600'000;  // 2026-01-01

struct BenchCase {
  std::string id;
  std::vector<ketenpoort::v1::Subject> subjects;                        // ref, bsn, name, date of birth
  google::protobuf::RepeatedPtrField<ketenpoort::v1::SubjectRef> refs;  // ref and pseudonyms
};

// A fixed region key, so that a kept log can be searched again in the next run.
cases::PseudonymKey BenchPseudonymKey();
std::vector<BenchCase> MakeBenchCases(int count);
// Writes the log in `dir` (which must not hold one) with `signer`; returns
// the number of records written (>= target: an exchange is not cut).
Result<uint64_t> BuildBenchLog(const std::string& dir, audit::LogSigner signer,
                               const std::vector<BenchCase>& cases, uint64_t target);

}  // namespace kp::testing

#endif  // KETENPOORT_TESTS_AUDIT_BENCH_LOG_H_

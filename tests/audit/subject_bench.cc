// The privacy officer's lookups on a log of 1,000,000 records (issue 17): a
// program, not a test (built with -DKP_BENCH=ON; `./run bench` runs it).
//
// Builds, without network, a gateway audit log with the real LogWriter: about
// 10,000 cases with 1-3 subjects each (pseudonyms under the region key, as
// case/pseudonym.h computes them), opened and added to, and exchanges among
// 14 partners — request, decision, forward, delivery and receipt; a tenth
// refused (request, decision, refusal); some pushes — until the log holds
// KP_BENCH_RECORDS records (default 1,000,000), spread over a year. One
// person is in three cases. Then measures what the CLI calls:
//
//  * BM_AuditSubject         `audit subject --bsn`: FindSubjectRecords
//                            (verify the log, then scan it) and
//                            RenderSubjectAnswer.
//  * BM_AuditReportPartner   `audit report --partner politie`: VerifyLog,
//                            LogReader::Open and RenderHtmlReport.
//  * BM_VerifyLog            verification alone, the part both share.
//  * BM_ReportPartnerRender  the report without its verification.
//
// Run (about 16 s to build the log, then a few seconds per repetition):
//   build/tests/audit/subject_bench --benchmark_repetitions=5
//     --benchmark_report_aggregates_only=true
// KP_BENCH_LOG_DIR=DIR keeps the log there and reuses it on the next run
// (else it lives under $TMPDIR and is removed at the end).
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>
#include <set>

#include "case/pseudonym.h"
#include "core/audit/log_reader.h"
#include "core/audit/log_verifier.h"
#include "core/audit/log_writer.h"
#include "core/audit/report.h"
#include "core/audit/subject_report.h"
#include "core/base/file_util.h"
#include "core/crypto/secret_bytes.h"
#include "tests/audit/audit_test_util.h"

namespace kp::audit {
namespace {

namespace v1 = ketenpoort::v1;

constexpr int kCases = 10'000;
constexpr char kPersonBsn[] = "111222333";
constexpr char kReportPartner[] = "politie";

struct PartnerInfo {
  const char* name;
  const char* category;
  v1::DataClass data_class;
  v1::DataRegime regime;
};

constexpr PartnerInfo kPartners[] = {
    {"politie", "politie-incidenten", v1::DATA_CLASS_CRIMINAL_ART10, v1::DATA_REGIME_POLICE_JUSTICE},
    {"ggz-breburg", "ggz-behandeling", v1::DATA_CLASS_SPECIAL_ART9, v1::DATA_REGIME_AVG},
    {"reclassering", "reclassering-toezicht", v1::DATA_CLASS_CRIMINAL_ART10, v1::DATA_REGIME_POLICE_JUSTICE},
    {"om", "om-strafzaken", v1::DATA_CLASS_CRIMINAL_ART10, v1::DATA_REGIME_POLICE_JUSTICE},
    {"veilig-thuis", "vt-meldingen", v1::DATA_CLASS_ORDINARY, v1::DATA_REGIME_AVG},
    {"gemeente-tilburg", "wmo-voorzieningen", v1::DATA_CLASS_ORDINARY, v1::DATA_REGIME_AVG},
    {"gemeente-breda", "schuldhulp", v1::DATA_CLASS_ORDINARY, v1::DATA_REGIME_AVG},
    {"raad-kinderbescherming", "rvdk-onderzoek", v1::DATA_CLASS_SPECIAL_ART9, v1::DATA_REGIME_AVG},
    {"jeugdbescherming", "jb-maatregelen", v1::DATA_CLASS_SPECIAL_ART9, v1::DATA_REGIME_AVG},
    {"woningcorporatie", "huurachterstand", v1::DATA_CLASS_ORDINARY, v1::DATA_REGIME_AVG},
    {"novadic-kentron", "verslavingszorg", v1::DATA_CLASS_SPECIAL_ART9, v1::DATA_REGIME_AVG},
    {"cit", "crisisinterventie", v1::DATA_CLASS_SPECIAL_ART9, v1::DATA_REGIME_AVG},
    {"dji", "detentie", v1::DATA_CLASS_CRIMINAL_ART10, v1::DATA_REGIME_POLICE_JUSTICE},
};
constexpr char kCoordinatorPartner[] = "veiligheidshuis";  // the 14th

struct BenchCase {
  std::string id;
  google::protobuf::RepeatedPtrField<v1::SubjectRef> refs;
  bool opened = false;
};

std::string g_dir;
bool g_remove = false;
SubjectQuery g_query;
uint64_t g_records = 0;

std::string Bsn(std::mt19937_64& rng) {
  // A valid BSN (elfproef): eight random digits and the ninth that fits.
  for (;;) {
    std::string d(9, '0');
    int sum = 0;
    for (int i = 0; i < 8; ++i) {
      d[i] = static_cast<char>('0' + rng() % 10);
      sum += (9 - i) * (d[i] - '0');
    }
    int last = sum % 11;
    if (last == 10 || d == "000000000") continue;
    d[8] = static_cast<char>('0' + last);
    return d;
  }
}

v1::AuditRecord Record(v1::AuditEvent ev, const BenchCase& c, const std::string& message_id, const PartnerInfo& p,
                       bool subjects) {
  v1::AuditRecord r;
  r.set_event(ev);
  r.mutable_actor()->set_participant_id("ketenpoort-gateway");
  r.mutable_actor()->set_partner("gateway");
  r.mutable_actor()->set_role("gateway");
  r.set_case_id(c.id);
  r.set_message_id(message_id);
  r.set_source_partner(p.name);
  r.set_recipient_partner(kCoordinatorPartner);
  auto* cat = r.add_categories();
  cat->set_name(p.category);
  cat->set_data_class(p.data_class);
  cat->set_regime(p.regime);
  r.set_purpose("veiligheidsplan");
  r.set_legal_basis("convenant-zvh-hvb-art-6");
  r.set_phase("analyse");
  if (subjects) cases::CopySubjects(c.refs, &r);
  return r;
}

// A fixed region key, so that a kept log (KP_BENCH_LOG_DIR) can be searched
// again in the next run.
cases::PseudonymKey BenchKey() {
  cases::PseudonymKey k;
  k.id = "hvb-2026-1";
  k.key = SecretBytes(cases::kPseudonymKeyBytes);
  for (size_t i = 0; i < k.key.size(); ++i) k.key.mutable_data()[i] = static_cast<uint8_t>(0x5a ^ i);
  return k;
}

void MakeQuery() {
  const cases::PseudonymKey key = BenchKey();
  v1::Subject s;
  s.set_bsn(kPersonBsn);
  for (const auto& p : cases::SubjectPseudonyms(key, s)) g_query.lookup_keys.insert(cases::PseudonymLookupKey(p));
  g_query.key_ids = {key.id};
}

Status BuildLog(const std::string& dir, uint64_t target) {
  std::mt19937_64 rng(17);
  const cases::PseudonymKey key_value = BenchKey();
  const cases::PseudonymKey* key = &key_value;
  std::vector<BenchCase> cases_(kCases);
  const std::set<int> person_cases = {17, 4242, 9001};
  for (int i = 0; i < kCases; ++i) {
    BenchCase& c = cases_[i];
    char id[32];
    std::snprintf(id, sizeof(id), "VT-2026-%05d", i);
    c.id = id;
    std::vector<v1::Subject> subjects;
    const int n = 1 + static_cast<int>(rng() % 3);
    for (int s = 0; s < n; ++s) {
      v1::Subject sub;
      sub.set_ref("s" + std::to_string(s + 1));
      sub.set_bsn(s == 0 && person_cases.count(i) != 0 ? kPersonBsn : Bsn(rng));
      sub.set_name("Persoon " + std::to_string(i) + "-" + std::to_string(s));
      sub.set_date_of_birth("1980-01-01");
      subjects.push_back(sub);
      c.refs.Add()->set_ref(sub.ref());
    }
    cases::AddPseudonyms(*key, subjects, &c.refs);
  }
  ManualClock clock(1'767'225'600'000);  // 2026-01-01
  LogWriterOptions opts;
  opts.clock = &clock;
  opts.checkpoint_every_millis = INT64_MAX / 2;
  KP_ASSIGN_OR_RETURN(std::unique_ptr<LogWriter> w, LogWriter::Open(dir, testing::TestSigner(), opts));
  const int64_t step = 365LL * 86'400'000 / static_cast<int64_t>(target);
  uint64_t n = 0;
  auto append = [&](v1::AuditRecord r) -> Status {
    clock.Advance(step);
    KP_RETURN_IF_ERROR(w->AppendBuffered(std::move(r)).status());
    if (++n % 20'000 == 0) KP_RETURN_IF_ERROR(w->Sync());
    return OkStatus();
  };
  std::string mid(16, '\0');
  while (n < target) {
    BenchCase& c = cases_[rng() % kCases];
    const PartnerInfo& p = kPartners[rng() % std::size(kPartners)];
    if (!c.opened) {
      c.opened = true;
      v1::AuditRecord open = Record(v1::AUDIT_EVENT_CASE_OPENED, c, "", p, true);
      open.clear_source_partner();
      open.clear_categories();
      KP_RETURN_IF_ERROR(append(open));
      v1::AuditRecord admitted = Record(v1::AUDIT_EVENT_PARTNER_ADMITTED, c, "", p, false);
      admitted.clear_categories();
      KP_RETURN_IF_ERROR(append(admitted));
    }
    for (auto& b : mid) b = static_cast<char>(rng());
    const uint64_t kind = rng() % 20;
    if (kind == 0) {  // a push: the coordinator's plan to a partner
      v1::AuditRecord fwd = Record(v1::AUDIT_EVENT_PUSH_FORWARDED, c, mid, p, true);
      fwd.set_source_partner(kCoordinatorPartner);
      fwd.set_recipient_partner(p.name);
      fwd.mutable_categories(0)->set_name("veiligheidsplan");
      v1::AuditRecord got = fwd;
      got.set_event(v1::AUDIT_EVENT_PUSH_RECEIVED);
      KP_RETURN_IF_ERROR(append(fwd));
      KP_RETURN_IF_ERROR(append(got));
      continue;
    }
    const bool refused = kind <= 2;
    KP_RETURN_IF_ERROR(append(Record(v1::AUDIT_EVENT_REQUEST, c, mid, p, true)));
    v1::AuditRecord d = Record(v1::AUDIT_EVENT_DECISION, c, mid, p, true);
    auto* dec = d.mutable_decision();
    dec->set_verdict(refused ? v1::AUDIT_VERDICT_DENY : v1::AUDIT_VERDICT_PERMIT);
    dec->add_rule_ids(refused ? "R-DEFAULT-DENY" : "R-VT-0" + std::to_string(1 + rng() % 9));
    dec->set_reason(refused ? "no rule permits this" : "permitted");
    dec->set_policy_sha256(std::string(32, 'p'));
    dec->set_policy_version("veiligheidsteam-hvb-2026-3");
    dec->mutable_obligations()->set_retention_days(90);
    dec->mutable_obligations()->set_retention_from_closure(true);
    KP_RETURN_IF_ERROR(append(d));
    if (refused) {
      v1::AuditRecord r = Record(v1::AUDIT_EVENT_REFUSED, c, mid, p, true);
      r.set_reason("refused by policy: no rule permits this");
      KP_RETURN_IF_ERROR(append(r));
      continue;
    }
    KP_RETURN_IF_ERROR(append(Record(v1::AUDIT_EVENT_FORWARDED, c, mid, p, true)));
    v1::AuditRecord del = Record(v1::AUDIT_EVENT_DELIVERED, c, mid, p, true);
    *del.mutable_decision() = d.decision();
    del.mutable_payload()->set_ciphertext_bytes(2000 + rng() % 8000);
    del.mutable_payload()->set_ciphertext_sha256(std::string(32, 'c'));
    del.set_retention_until_unix_millis(clock.NowMillis() + 180LL * 86'400'000);
    KP_RETURN_IF_ERROR(append(del));
    v1::AuditRecord receipt = Record(v1::AUDIT_EVENT_RECEIPT, c, mid, p, false);
    receipt.clear_categories();
    receipt.clear_purpose();
    receipt.clear_legal_basis();
    KP_RETURN_IF_ERROR(append(receipt));
  }
  KP_RETURN_IF_ERROR(w->Sync());
  g_records = n;
  return w->Close();
}

void BM_AuditSubject(benchmark::State& state) {
  size_t hits = 0;
  for (auto _ : state) {
    auto found = FindSubjectRecords({{g_dir, {}}}, g_query);
    if (!found.ok()) {
      state.SkipWithError(found.status().ToString().c_str());
      return;
    }
    std::string html = RenderSubjectAnswer(*found, {.generated_at_millis = 1'790'000'000'000});
    hits = found->hits.size();
    benchmark::DoNotOptimize(html);
  }
  state.counters["records"] = static_cast<double>(g_records);
  state.counters["hits"] = static_cast<double>(hits);
}
BENCHMARK(BM_AuditSubject)->Unit(benchmark::kMillisecond)->Iterations(1)->MeasureProcessCPUTime()->UseRealTime();

void BM_AuditReportPartner(benchmark::State& state) {
  size_t bytes = 0;
  for (auto _ : state) {
    VerifyReport rep = VerifyLog(g_dir, {});
    if (!rep.status.ok()) {
      state.SkipWithError(rep.status.ToString().c_str());
      return;
    }
    auto reader = LogReader::Open(g_dir);
    if (!reader.ok()) {
      state.SkipWithError(reader.status().ToString().c_str());
      return;
    }
    ReportOptions o;
    o.partner = kReportPartner;
    o.generated_at_millis = 1'790'000'000'000;
    auto html = RenderHtmlReport(**reader, rep, o);
    if (!html.ok()) {
      state.SkipWithError(html.status().ToString().c_str());
      return;
    }
    bytes = html->size();
  }
  state.counters["records"] = static_cast<double>(g_records);
  state.counters["html_bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_AuditReportPartner)->Unit(benchmark::kMillisecond)->Iterations(1)->MeasureProcessCPUTime()->UseRealTime();

void BM_VerifyLog(benchmark::State& state) {
  for (auto _ : state) {
    VerifyReport rep = VerifyLog(g_dir, {});
    if (!rep.status.ok()) state.SkipWithError(rep.status.ToString().c_str());
  }
  state.counters["records"] = static_cast<double>(g_records);
}
BENCHMARK(BM_VerifyLog)->Unit(benchmark::kMillisecond)->Iterations(1)->UseRealTime();

void BM_ReportPartnerRender(benchmark::State& state) {
  VerifyReport rep = VerifyLog(g_dir, {});
  auto reader = LogReader::Open(g_dir);
  if (!reader.ok()) {
    state.SkipWithError(reader.status().ToString().c_str());
    return;
  }
  for (auto _ : state) {
    ReportOptions o;
    o.partner = kReportPartner;
    auto html = RenderHtmlReport(**reader, rep, o);
    if (!html.ok()) state.SkipWithError(html.status().ToString().c_str());
  }
}
BENCHMARK(BM_ReportPartnerRender)->Unit(benchmark::kMillisecond)->Iterations(1)->UseRealTime();

}  // namespace
}  // namespace kp::audit

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  uint64_t target = 1'000'000;
  if (const char* n = std::getenv("KP_BENCH_RECORDS"); n != nullptr) target = std::strtoull(n, nullptr, 10);
  if (const char* d = std::getenv("KP_BENCH_LOG_DIR"); d != nullptr && *d != '\0') {
    kp::audit::g_dir = d;
  } else {
    std::string tmpl = (std::filesystem::temp_directory_path() / "kp-subject-bench-XXXXXX").string();
    KP_CHECK(::mkdtemp(tmpl.data()) != nullptr);
    kp::audit::g_dir = tmpl + "/log";
    kp::audit::g_remove = true;
  }
  kp::audit::MakeQuery();
  // A kept log is reused when it was finished for the same target (the
  // marker file next to it holds the record count).
  const std::string marker = kp::audit::g_dir + ".built-" + std::to_string(target);
  if (auto kept = kp::ReadFileBounded(marker, 64); kept.ok()) {
    kp::audit::g_records = std::strtoull(kept->c_str(), nullptr, 10);
    std::fprintf(stderr, "reusing %llu records in %s\n", static_cast<unsigned long long>(kp::audit::g_records),
                 kp::audit::g_dir.c_str());
  } else {
    std::filesystem::remove_all(kp::audit::g_dir);
    auto t0 = std::chrono::steady_clock::now();
    kp::Status s = kp::audit::BuildLog(kp::audit::g_dir, target);
    if (!s.ok()) {
      std::fprintf(stderr, "building the log failed: %s\n", s.ToString().c_str());
      return 1;
    }
    std::fprintf(stderr, "built %llu records in %s in %.1f s\n",
                 static_cast<unsigned long long>(kp::audit::g_records), kp::audit::g_dir.c_str(),
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    if (!kp::audit::g_remove) {
      KP_CHECK(kp::WriteFileDurable(marker, std::to_string(kp::audit::g_records), 0600, kp::WriteMode::kReplace).ok());
    }
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  if (kp::audit::g_remove) std::filesystem::remove_all(std::filesystem::path(kp::audit::g_dir).parent_path());
  return 0;
}

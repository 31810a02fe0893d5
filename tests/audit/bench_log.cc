#include "tests/audit/bench_log.h"

#include <cstdio>
#include <iterator>
#include <memory>
#include <random>
#include <set>

#include "core/audit/log_writer.h"
#include "core/base/clock.h"
#include "core/crypto/secret_bytes.h"

namespace kp::testing {
namespace {

namespace v1 = ketenpoort::v1;

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

v1::AuditRecord Record(v1::AuditEvent ev, const BenchCase& c, const std::string& message_id,
                       const PartnerInfo& p, bool subjects) {
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

}  // namespace

cases::PseudonymKey BenchPseudonymKey() {
  cases::PseudonymKey k;
  k.id = "hvb-2026-1";
  k.key = SecretBytes(cases::kPseudonymKeyBytes);
  for (size_t i = 0; i < k.key.size(); ++i) k.key.mutable_data()[i] = static_cast<uint8_t>(0x5a ^ i);
  return k;
}

std::vector<BenchCase> MakeBenchCases(int count) {
  std::mt19937_64 rng(17);
  const cases::PseudonymKey key = BenchPseudonymKey();
  std::vector<BenchCase> out(static_cast<size_t>(count));
  const std::set<int> person_cases = {17, 4242, 9001};
  for (int i = 0; i < count; ++i) {
    BenchCase& c = out[static_cast<size_t>(i)];
    char id[32];
    // As the gateway's case store numbers them: at most 9,999 a year, so
    // the first half opened in 2025, the second in 2026.
    const bool first_half = i < count / 2;
    std::snprintf(id, sizeof(id), "VT-%d-%04d", first_half ? 2025 : 2026,
                  (first_half ? i : i - count / 2) + 1);
    c.id = id;
    const int n = 1 + static_cast<int>(rng() % 3);
    for (int s = 0; s < n; ++s) {
      v1::Subject sub;
      sub.set_ref("s" + std::to_string(s + 1));
      sub.set_role(s == 0 ? v1::SUBJECT_ROLE_VICTIM : v1::SUBJECT_ROLE_CHILD);
      sub.set_bsn(s == 0 && person_cases.count(i) != 0 ? kBenchPersonBsn : Bsn(rng));
      sub.set_name("Persoon " + std::to_string(i) + "-" + std::to_string(s));
      sub.set_date_of_birth("1980-01-01");
      c.subjects.push_back(sub);
      auto* ref = c.refs.Add();
      ref->set_ref(sub.ref());
      ref->set_role(sub.role());
    }
    cases::AddPseudonyms(key, c.subjects, &c.refs);
  }
  return out;
}

Result<uint64_t> BuildBenchLog(const std::string& dir, audit::LogSigner signer,
                               const std::vector<BenchCase>& cases, uint64_t target) {
  if (cases.empty()) return InvalidArgumentError("no cases");
  std::mt19937_64 rng(17);
  std::vector<bool> opened(cases.size(), false);
  ManualClock clock(kBenchLogStartMs);
  audit::LogWriterOptions opts;
  opts.clock = &clock;
  opts.checkpoint_every_millis = INT64_MAX / 2;
  KP_ASSIGN_OR_RETURN(std::unique_ptr<audit::LogWriter> w,
                      audit::LogWriter::Open(dir, std::move(signer), opts));
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
    const size_t ci = rng() % cases.size();
    const BenchCase& c = cases[ci];
    const PartnerInfo& p = kPartners[rng() % std::size(kPartners)];
    if (!opened[ci]) {
      opened[ci] = true;
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
  KP_RETURN_IF_ERROR(w->Close());
  return n;
}

}  // namespace kp::testing

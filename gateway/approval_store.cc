// CaseStore: requests held for the source's professional and consents a
// source partner recorded itself (docs/protocol.md §3.10).
#include "case/case_facts.h"
#include "gateway/case_store.h"

namespace kp::gateway {

using sqlite::Stmt;

Status CaseStore::AddApprovalWait(const std::string& request_id, const std::string& case_id, int64_t decide_by_ms) {
  KP_RETURN_IF_ERROR(Writable());
  KP_RETURN_IF_ERROR(Stmt(*database_, "INSERT OR REPLACE INTO approval_waits(request_id, case_id, decide_by_ms) "
                                      "VALUES(?, ?, ?)")
                         .Bind(request_id)
                         .Text(case_id)
                         .Int(decide_by_ms)
                         .Run());
  return Stmt(*database_, "UPDATE requests SET expires_ms = ? WHERE request_id = ?")
      .Int(decide_by_ms)
      .Bind(request_id)
      .Run();
}

Result<std::optional<int64_t>> CaseStore::ApprovalWait(const std::string& request_id) {
  Stmt q(*database_, "SELECT decide_by_ms FROM approval_waits WHERE request_id = ?");
  KP_ASSIGN_OR_RETURN(bool row, q.Bind(request_id).Step());
  if (!row) return std::optional<int64_t>();
  return std::optional<int64_t>(q.ColInt(0));
}

Status CaseStore::RemoveApprovalWait(const std::string& request_id) {
  KP_RETURN_IF_ERROR(Writable());
  return Stmt(*database_, "DELETE FROM approval_waits WHERE request_id = ?").Bind(request_id).Run();
}

Result<std::vector<StoredRequest>> CaseStore::DueApprovalWaits(int64_t now_ms) {
  KP_RETURN_IF_ERROR(Writable());
  KP_RETURN_IF_ERROR(
      Stmt(*database_, "DELETE FROM approval_waits WHERE request_id NOT IN (SELECT request_id FROM requests)").Run());
  Stmt q(*database_,
         "SELECT r.request_id, r.case_id, r.coordinator, r.source_partner, r.categories, r.authorisation, "
         "r.created_ms, a.decide_by_ms, r.delivered FROM approval_waits a JOIN requests r ON r.request_id = "
         "a.request_id WHERE a.decide_by_ms <= ? ORDER BY a.decide_by_ms");
  q.Int(now_ms);
  std::vector<StoredRequest> out;
  while (true) {
    KP_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return out;
    out.push_back({q.Col(0), q.Col(1), q.Col(2), q.Col(3), sqlite::SplitIds(q.Col(4)), q.Col(5), q.ColInt(6),
                   q.ColInt(7), q.ColInt(8) != 0});
  }
}

Status CaseStore::PutSourceConsent(const std::string& case_id, const std::string& source_partner,
                                   const std::string& subject_ref, const std::string& purpose,
                                   const cases::ConsentFact& c) {
  KP_RETURN_IF_ERROR(Writable());
  return Stmt(*database_,
              "INSERT OR REPLACE INTO source_consents(case_id, source_partner, subject_ref, purpose, valid_until_ms, "
              "givers, age_years, recorded_ms) VALUES(?, ?, ?, ?, ?, ?, ?, ?)")
      .Text(case_id)
      .Text(source_partner)
      .Text(subject_ref)
      .Text(purpose)
      .Int(c.valid_until_ms)
      .Int(c.givers)
      .Int(c.age_years)
      .Int(c.recorded_ms)
      .Run();
}

Result<bool> CaseStore::RemoveSourceConsent(const std::string& case_id, const std::string& source_partner,
                                            const std::string& subject_ref, const std::string& purpose) {
  KP_RETURN_IF_ERROR(Writable());
  KP_RETURN_IF_ERROR(Stmt(*database_,
                          "DELETE FROM source_consents WHERE case_id = ? AND source_partner = ? AND subject_ref = ? "
                          "AND purpose = ?")
                         .Text(case_id)
                         .Text(source_partner)
                         .Text(subject_ref)
                         .Text(purpose)
                         .Run());
  return sqlite3_changes(database_->get()) > 0;
}

Status CaseStore::FillSourceConsents(const std::string& case_id, cases::CaseFacts* facts) {
  Stmt q(*database_,
         "SELECT source_partner, subject_ref, purpose, valid_until_ms, givers, age_years, recorded_ms FROM "
         "source_consents WHERE case_id = ?");
  q.Text(case_id);
  while (true) {
    KP_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return OkStatus();
    cases::ConsentFact f;
    std::string partner = q.Col(0), ref = q.Col(1), purpose = q.Col(2);
    f.valid_until_ms = q.ColInt(3);
    f.givers = static_cast<uint8_t>(q.ColInt(4));
    f.age_years = static_cast<int>(q.ColInt(5));
    f.recorded_ms = q.ColInt(6);
    facts->source_consents[{std::move(partner), std::move(ref), std::move(purpose)}] = f;
  }
}

}  // namespace kp::gateway

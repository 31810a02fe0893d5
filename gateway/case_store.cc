#include "gateway/case_store.h"

#include <sqlite3.h>

#include <cstdio>

#include "core/sqlite/sqlite_db.h"

namespace kp::gateway {
namespace {

using sqlite::Stmt;

constexpr char kSchema[] = R"sql(
CREATE TABLE IF NOT EXISTS cases(
  id TEXT PRIMARY KEY, purpose TEXT NOT NULL, coordinator TEXT NOT NULL, phase TEXT NOT NULL,
  closed INTEGER NOT NULL DEFAULT 0, opened_ms INTEGER NOT NULL, closed_ms INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS case_counters(year INTEGER PRIMARY KEY, last INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS case_chain(
  case_id TEXT NOT NULL, seq INTEGER NOT NULL, hash BLOB NOT NULL, envelope BLOB NOT NULL, PRIMARY KEY(case_id, seq));
CREATE TABLE IF NOT EXISTS requests(
  request_id BLOB PRIMARY KEY, case_id TEXT NOT NULL, coordinator TEXT NOT NULL, source_partner TEXT NOT NULL,
  categories TEXT NOT NULL, authorisation BLOB NOT NULL, created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL,
  delivered INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS requests_by_partner ON requests(source_partner, delivered);
CREATE TABLE IF NOT EXISTS inbox(
  message_id BLOB PRIMARY KEY, recipient TEXT NOT NULL, case_id TEXT NOT NULL, envelope BLOB NOT NULL,
  stored_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS inbox_by_recipient ON inbox(recipient);
CREATE TABLE IF NOT EXISTS audit_outbox(idx INTEGER PRIMARY KEY, salt BLOB NOT NULL, record BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS closed_requests(
  request_id BLOB PRIMARY KEY, coordinator TEXT NOT NULL, source_partner TEXT NOT NULL, outcome INTEGER NOT NULL,
  audit_index INTEGER NOT NULL, answer_id BLOB NOT NULL, closed_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS closed_requests_by_time ON closed_requests(closed_ms);
CREATE TABLE IF NOT EXISTS referrals(
  id BLOB PRIMARY KEY, reference TEXT NOT NULL, referrer TEXT NOT NULL, to_partner TEXT NOT NULL,
  purpose TEXT NOT NULL, reason_codes TEXT NOT NULL, subjects INTEGER NOT NULL, coordinators TEXT NOT NULL,
  envelope BLOB NOT NULL, state INTEGER NOT NULL, received_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL,
  decided_by TEXT NOT NULL DEFAULT '', decided_ms INTEGER NOT NULL DEFAULT 0, case_id TEXT NOT NULL DEFAULT '',
  reason_code TEXT NOT NULL DEFAULT '', audit_index INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS referrals_waiting ON referrals(state, expires_ms);
CREATE TABLE IF NOT EXISTS handover_parts(
  case_id TEXT NOT NULL, offer BLOB NOT NULL, recipient TEXT NOT NULL, part INTEGER NOT NULL, parts INTEGER NOT NULL,
  sender TEXT NOT NULL, message_id BLOB NOT NULL, envelope BLOB NOT NULL, stored_ms INTEGER NOT NULL,
  PRIMARY KEY(offer, recipient, part));
CREATE TABLE IF NOT EXISTS case_deadlines(
  case_id TEXT NOT NULL, kind INTEGER NOT NULL, key BLOB NOT NULL, due_ms INTEGER NOT NULL,
  PRIMARY KEY(case_id, kind, key));
CREATE INDEX IF NOT EXISTS case_deadlines_due ON case_deadlines(due_ms);
CREATE TABLE IF NOT EXISTS delivered(
  request_id BLOB PRIMARY KEY, case_id TEXT NOT NULL, request BLOB NOT NULL, decision BLOB NOT NULL,
  delivered_ms INTEGER NOT NULL, forget_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS delivered_by_case ON delivered(case_id);
CREATE INDEX IF NOT EXISTS delivered_by_forget ON delivered(forget_ms);
CREATE TABLE IF NOT EXISTS approval_waits(
  request_id BLOB PRIMARY KEY, case_id TEXT NOT NULL, decide_by_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS source_consents(
  case_id TEXT NOT NULL, source_partner TEXT NOT NULL, subject_ref TEXT NOT NULL, purpose TEXT NOT NULL,
  valid_until_ms INTEGER NOT NULL, givers INTEGER NOT NULL, age_years INTEGER NOT NULL, recorded_ms INTEGER NOT NULL,
  PRIMARY KEY(case_id, source_partner, subject_ref, purpose));
CREATE TABLE IF NOT EXISTS watches(
  watch_id BLOB PRIMARY KEY, case_id TEXT NOT NULL, coordinator TEXT NOT NULL, source_partner TEXT NOT NULL,
  agent TEXT NOT NULL, categories TEXT NOT NULL, subjects TEXT NOT NULL, started_ms INTEGER NOT NULL,
  until_ms INTEGER NOT NULL, started_index INTEGER NOT NULL, ended_ms INTEGER NOT NULL DEFAULT 0,
  end_reason TEXT NOT NULL DEFAULT '', agent_told INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS watches_by_case ON watches(case_id);
)sql";

}  // namespace

Result<std::unique_ptr<CaseStore>> CaseStore::Open(const std::string& path) {
  KP_ASSIGN_OR_RETURN(auto db, sqlite::Database::Open(path, "case database"));
  std::unique_ptr<CaseStore> store(new CaseStore(std::move(db)));
  KP_RETURN_IF_ERROR(store->Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"));
  KP_RETURN_IF_ERROR(store->Exec(kSchema));
  KP_RETURN_IF_ERROR(store->Migrate());
  return store;
}

CaseStore::CaseStore(std::unique_ptr<sqlite::Database> database)
    : database_(std::move(database)) {}

CaseStore::~CaseStore() = default;

Status CaseStore::Exec(const char* sql) { return database_->Exec(sql); }

// Databases made before held messages carried their request id gain the
// column (empty for the rows already there: those are removed once sent).
Status CaseStore::Migrate() {
  bool has_request_id = false;
  Stmt q(*database_, "SELECT name FROM pragma_table_info('inbox')");
  while (true) {
    KP_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    has_request_id |= q.Col(0) == "request_id";
  }
  if (!has_request_id) {
    KP_RETURN_IF_ERROR(Exec("ALTER TABLE inbox ADD COLUMN request_id BLOB NOT NULL DEFAULT x''"));
  }
  return Exec("CREATE INDEX IF NOT EXISTS inbox_by_request ON inbox(recipient, request_id)");
}

Status CaseStore::Writable() const {
  if (batch_open_ && sqlite3_get_autocommit(database_->get()) != 0) {
    return UnavailableError("the case database rolled the change back after an error; nothing more of it is written");
  }
  return OkStatus();
}

Status CaseStore::Begin() {
  KP_RETURN_IF_ERROR(Writable());
  return Exec("SAVEPOINT change");
}
Status CaseStore::Commit() { return Exec("RELEASE change"); }
void CaseStore::Rollback() { (void)Exec("ROLLBACK TO change; RELEASE change"); }
Status CaseStore::BeginBatch() {
  KP_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  batch_open_ = true;
  return OkStatus();
}
Status CaseStore::CommitBatch() {
  KP_RETURN_IF_ERROR(Writable());
  batch_open_ = false;
  return Exec("COMMIT");
}
void CaseStore::RollbackBatch() {
  batch_open_ = false;
  if (sqlite3_get_autocommit(database_->get()) == 0) (void)Exec("ROLLBACK");
}
bool CaseStore::InTransaction() const { return sqlite3_get_autocommit(database_->get()) == 0; }

Result<CaseRecord> CaseStore::OpenCase(const std::string& purpose, const std::string& coordinator,
                                       const std::string& first_phase, int year, int64_t now_ms) {
  KP_RETURN_IF_ERROR(Writable());
  KP_RETURN_IF_ERROR(Exec("SAVEPOINT open_case"));
  auto fail = [&](Status s) {
    (void)Exec("ROLLBACK TO open_case; RELEASE open_case");
    return s;
  };
  int64_t last = 0;
  {
    Stmt q(*database_, "SELECT last FROM case_counters WHERE year = ?");
    auto row = q.Int(year).Step();
    if (!row.ok()) return fail(row.status());
    if (*row) last = q.ColInt(0);
  }
  if (last >= 9999) return fail(ResourceExhaustedError("case numbers for this year are used up"));
  char id[32];
  std::snprintf(id, sizeof id, "VT-%04d-%04d", year, static_cast<int>(last + 1));
  CaseRecord c{id, purpose, coordinator, first_phase, false, now_ms, 0, "", 0};
  Status s = Stmt(*database_, "INSERT OR REPLACE INTO case_counters(year, last) VALUES(?, ?)").Int(year).Int(last + 1).Run();
  if (s.ok()) {
    s = Stmt(*database_, "INSERT INTO cases(id, purpose, coordinator, phase, opened_ms) VALUES(?, ?, ?, ?, ?)")
            .Text(c.id).Text(purpose).Text(coordinator).Text(first_phase).Int(now_ms).Run();
  }
  if (!s.ok()) return fail(s);
  KP_RETURN_IF_ERROR(Exec("RELEASE open_case"));
  return c;
}

Result<CaseRecord> CaseStore::GetCase(const std::string& case_id) {
  Stmt q(*database_, "SELECT id, purpose, coordinator, phase, closed, opened_ms, closed_ms FROM cases WHERE id = ?");
  KP_ASSIGN_OR_RETURN(bool row, q.Text(case_id).Step());
  if (!row) {
    // A number this gateway gave out belonged to a case that was closed and
    // pruned (retention.cc): say so, rather than that it never was.
    int year = 0, number = 0;
    char tail = 0;
    if (std::sscanf(case_id.c_str(), "VT-%4d-%4d%c", &year, &number, &tail) == 2) {
      Stmt n(*database_, "SELECT last FROM case_counters WHERE year = ?");
      auto counted = n.Int(year).Step();
      if (counted.ok() && *counted && number >= 1 && number <= n.ColInt(0)) {
        return NotFoundError("case " + case_id + " does not exist any more: it was closed and the gateway has "
                             "removed it after its retention (docs/operations.md, Retention)");
      }
    }
    return NotFoundError("case " + case_id + " does not exist");
  }
  CaseRecord c{q.Col(0), q.Col(1), q.Col(2), q.Col(3), q.ColInt(4) != 0, q.ColInt(5), q.ColInt(6), "", 0};
  Stmt h(*database_, "SELECT seq, hash FROM case_chain WHERE case_id = ? ORDER BY seq DESC LIMIT 1");
  KP_ASSIGN_OR_RETURN(bool has, h.Text(case_id).Step());
  if (has) {
    c.length = static_cast<uint64_t>(h.ColInt(0)) + 1;
    c.head = h.Col(1);
  }
  return c;
}

Result<std::vector<CaseRecord>> CaseStore::ListCases(const std::string& coordinator) {
  Stmt q(*database_,
         "SELECT id, purpose, coordinator, phase, closed, opened_ms, closed_ms FROM cases WHERE coordinator = ? "
         "ORDER BY id");
  q.Text(coordinator);
  std::vector<CaseRecord> out;
  while (true) {
    KP_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return out;
    out.push_back({q.Col(0), q.Col(1), q.Col(2), q.Col(3), q.ColInt(4) != 0, q.ColInt(5), q.ColInt(6), "", 0});
  }
}

Status CaseStore::SetPhase(const std::string& case_id, const std::string& phase) {
  KP_RETURN_IF_ERROR(Writable());
  return Stmt(*database_, "UPDATE cases SET phase = ? WHERE id = ?").Text(phase).Text(case_id).Run();
}

Status CaseStore::CloseCase(const std::string& case_id, const std::string& closed_phase, int64_t now_ms) {
  KP_RETURN_IF_ERROR(Writable());
  return Stmt(*database_, "UPDATE cases SET closed = 1, phase = ?, closed_ms = ? WHERE id = ?")
      .Text(closed_phase).Int(now_ms).Text(case_id).Run();
}

Status CaseStore::AppendCommand(const std::string& case_id, uint64_t seq, const std::string& hash,
                                const std::string& envelope) {
  KP_RETURN_IF_ERROR(Writable());
  return Stmt(*database_, "INSERT INTO case_chain(case_id, seq, hash, envelope) VALUES(?, ?, ?, ?)")
      .Text(case_id).Int(static_cast<int64_t>(seq)).Bind(hash).Bind(envelope).Run();
}

Result<std::vector<std::string>> CaseStore::Commands(const std::string& case_id, uint64_t from, size_t max_count,
                                                     size_t max_bytes) {
  Stmt q(*database_, "SELECT envelope FROM case_chain WHERE case_id = ? AND seq >= ? ORDER BY seq");
  q.Text(case_id).Int(static_cast<int64_t>(from));
  std::vector<std::string> out;
  size_t bytes = 0;
  while (out.size() < max_count) {
    KP_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    std::string e = q.Col(0);
    if (!out.empty() && bytes + e.size() > max_bytes) break;
    bytes += e.size();
    out.push_back(std::move(e));
  }
  return out;
}

Status CaseStore::AddRequest(const StoredRequest& r) {
  KP_RETURN_IF_ERROR(Writable());
  return Stmt(*database_,
              "INSERT INTO requests(request_id, case_id, coordinator, source_partner, categories, authorisation, "
              "created_ms, expires_ms, delivered) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)")
      .Bind(r.request_id).Text(r.case_id).Text(r.coordinator).Text(r.source_partner)
      .Text(sqlite::JoinIds(r.categories)).Bind(r.authorisation).Int(r.created_ms).Int(r.expires_ms)
      .Int(r.delivered ? 1 : 0).Run();
}

namespace {
constexpr char kRequestColumns[] =
    "SELECT request_id, case_id, coordinator, source_partner, categories, authorisation, created_ms, expires_ms, "
    "delivered FROM requests ";

StoredRequest RequestFromRow(Stmt& q) {
  return {q.Col(0), q.Col(1), q.Col(2), q.Col(3), sqlite::SplitIds(q.Col(4)),
          q.Col(5), q.ColInt(6), q.ColInt(7), q.ColInt(8) != 0};
}
}  // namespace

Result<std::optional<StoredRequest>> CaseStore::GetRequest(const std::string& request_id) {
  Stmt q(*database_, (std::string(kRequestColumns) + "WHERE request_id = ?").c_str());
  KP_ASSIGN_OR_RETURN(bool row, q.Bind(request_id).Step());
  if (!row) return std::optional<StoredRequest>();
  return std::optional<StoredRequest>(RequestFromRow(q));
}

Status CaseStore::MarkDelivered(const std::string& request_id) {
  KP_RETURN_IF_ERROR(Writable());
  return Stmt(*database_, "UPDATE requests SET delivered = 1 WHERE request_id = ?").Bind(request_id).Run();
}

Status CaseStore::MarkUndelivered(const std::string& request_id) {
  KP_RETURN_IF_ERROR(Writable());
  return Stmt(*database_, "UPDATE requests SET delivered = 0 WHERE request_id = ?").Bind(request_id).Run();
}

Status CaseStore::CloseRequest(const StoredRequest& request, const ClosedRequest& closed) {
  KP_RETURN_IF_ERROR(Writable());
  KP_RETURN_IF_ERROR(Stmt(*database_, "DELETE FROM requests WHERE request_id = ?").Bind(request.request_id).Run());
  return Stmt(*database_,
              "INSERT OR REPLACE INTO closed_requests(request_id, coordinator, source_partner, outcome, audit_index, "
              "answer_id, closed_ms) VALUES(?, ?, ?, ?, ?, ?, ?)")
      .Bind(request.request_id).Text(request.coordinator).Text(request.source_partner)
      .Int(static_cast<int64_t>(closed.outcome)).Int(static_cast<int64_t>(closed.audit_index))
      .Bind(closed.answer_id).Int(closed.closed_ms).Run();
}

Result<std::optional<ClosedRequest>> CaseStore::GetClosedRequest(const std::string& request_id) {
  Stmt q(*database_,
         "SELECT request_id, coordinator, source_partner, outcome, audit_index, answer_id, closed_ms "
         "FROM closed_requests WHERE request_id = ?");
  KP_ASSIGN_OR_RETURN(bool row, q.Bind(request_id).Step());
  if (!row) return std::optional<ClosedRequest>();
  return std::optional<ClosedRequest>(ClosedRequest{q.Col(0), q.Col(1), q.Col(2),
                                                    static_cast<RequestOutcome>(q.ColInt(3)),
                                                    static_cast<uint64_t>(q.ColInt(4)), q.Col(5), q.ColInt(6)});
}

Status CaseStore::ForgetClosedRequests(int64_t closed_before_ms) {
  KP_RETURN_IF_ERROR(Writable());
  return Stmt(*database_, "DELETE FROM closed_requests WHERE closed_ms < ?").Int(closed_before_ms).Run();
}

Status CaseStore::AddDelivered(const DeliveredRequest& d) {
  KP_RETURN_IF_ERROR(Writable());
  return Stmt(*database_,
              "INSERT OR REPLACE INTO delivered(request_id, case_id, request, decision, delivered_ms, forget_ms) "
              "VALUES(?, ?, ?, ?, ?, ?)")
      .Bind(d.request_id).Text(d.case_id).Bind(d.request).Bind(d.decision).Int(d.delivered_ms).Int(d.forget_ms)
      .Run();
}

Result<std::optional<DeliveredRequest>> CaseStore::GetDelivered(const std::string& request_id, int64_t now_ms) {
  Stmt q(*database_,
         "SELECT request_id, case_id, request, decision, delivered_ms, forget_ms FROM delivered "
         "WHERE request_id = ? AND (forget_ms = 0 OR forget_ms > ?)");
  KP_ASSIGN_OR_RETURN(bool row, q.Bind(request_id).Int(now_ms).Step());
  if (!row) return std::optional<DeliveredRequest>();
  return std::optional<DeliveredRequest>(
      DeliveredRequest{q.Col(0), q.Col(1), q.Col(2), q.Col(3), q.ColInt(4), q.ColInt(5)});
}

Status CaseStore::ForgetDelivered(const std::string& case_id) {
  KP_RETURN_IF_ERROR(Writable());
  return Stmt(*database_, "DELETE FROM delivered WHERE case_id = ?").Text(case_id).Run();
}

Status CaseStore::ForgetExpiredDelivered(int64_t now_ms) {
  KP_RETURN_IF_ERROR(Writable());
  return Stmt(*database_, "DELETE FROM delivered WHERE forget_ms <> 0 AND forget_ms <= ?").Int(now_ms).Run();
}

Status CaseStore::MarkAllUndelivered(const std::string& source_partner) {
  KP_RETURN_IF_ERROR(Writable());
  return Stmt(*database_, "UPDATE requests SET delivered = 0 WHERE source_partner = ? AND delivered = 1")
      .Text(source_partner).Run();
}

Result<int64_t> CaseStore::CountRequests() {
  Stmt q(*database_, "SELECT count(*) FROM requests");
  KP_ASSIGN_OR_RETURN(bool row, q.Step());
  return row ? q.ColInt(0) : 0;
}

Result<std::map<std::string, int64_t>> CaseStore::CountRequestsByPartner() {
  Stmt q(*database_, "SELECT source_partner, count(*) FROM requests GROUP BY source_partner");
  std::map<std::string, int64_t> out;
  while (true) {
    KP_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    out[q.Col(0)] = q.ColInt(1);
  }
  return out;
}

Result<std::map<std::string, int64_t>> CaseStore::CountInboxByRecipient() {
  Stmt q(*database_, "SELECT recipient, count(*) FROM inbox GROUP BY recipient");
  std::map<std::string, int64_t> out;
  while (true) {
    KP_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    out[q.Col(0)] = q.ColInt(1);
  }
  return out;
}

Status CaseStore::AddAuditOutbox(const audit::StagedRecord& record) {
  KP_RETURN_IF_ERROR(Writable());
  return Stmt(*database_, "INSERT INTO audit_outbox(idx, salt, record) VALUES(?, ?, ?)")
      .Int(static_cast<int64_t>(record.index)).Bind(record.salt).Bind(record.record).Run();
}

Result<std::vector<audit::StagedRecord>> CaseStore::AuditOutbox() {
  Stmt q(*database_, "SELECT idx, salt, record FROM audit_outbox ORDER BY idx");
  std::vector<audit::StagedRecord> out;
  while (true) {
    KP_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return out;
    out.push_back({static_cast<uint64_t>(q.ColInt(0)), q.Col(1), q.Col(2)});
  }
}

Status CaseStore::TrimAuditOutbox(uint64_t below_index) {
  KP_RETURN_IF_ERROR(Writable());
  return Stmt(*database_, "DELETE FROM audit_outbox WHERE idx < ?").Int(static_cast<int64_t>(below_index)).Run();
}

Result<std::vector<StoredRequest>> CaseStore::UndeliveredFor(const std::string& source_partner) {
  Stmt q(*database_, (std::string(kRequestColumns) + "WHERE source_partner = ? AND delivered = 0 ORDER BY created_ms").c_str());
  q.Text(source_partner);
  std::vector<StoredRequest> out;
  while (true) {
    KP_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return out;
    out.push_back(RequestFromRow(q));
  }
}

Result<std::vector<StoredRequest>> CaseStore::TakeExpiredRequests(int64_t now_ms) {
  KP_RETURN_IF_ERROR(Writable());
  std::vector<StoredRequest> out;
  {
    Stmt q(*database_, (std::string(kRequestColumns) + "WHERE expires_ms <= ? ORDER BY expires_ms").c_str());
    q.Int(now_ms);
    while (true) {
      KP_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      out.push_back(RequestFromRow(q));
    }
  }
  for (const auto& r : out) {
    KP_RETURN_IF_ERROR(CloseRequest(r, ClosedRequest{r.request_id, r.coordinator, r.source_partner,
                                                     RequestOutcome::kExpired, 0, "", now_ms}));
  }
  return out;
}

Status CaseStore::AddToInbox(const InboxItem& i) {
  KP_RETURN_IF_ERROR(Writable());
  return Stmt(*database_,
              "INSERT OR REPLACE INTO inbox(message_id, recipient, case_id, envelope, stored_ms, expires_ms, request_id) "
              "VALUES(?, ?, ?, ?, ?, ?, ?)")
      .Bind(i.message_id).Text(i.recipient).Text(i.case_id).Bind(i.envelope).Int(i.stored_ms).Int(i.expires_ms)
      .Bind(i.request_id).Run();
}

Result<std::vector<InboxItem>> CaseStore::InboxFor(const std::string& recipient) {
  Stmt q(*database_,
         "SELECT message_id, recipient, case_id, envelope, stored_ms, expires_ms, request_id FROM inbox WHERE recipient = ? "
         "ORDER BY stored_ms");
  q.Text(recipient);
  std::vector<InboxItem> out;
  while (true) {
    KP_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return out;
    out.push_back({q.Col(0), q.Col(1), q.Col(2), q.Col(3), q.ColInt(4), q.ColInt(5), q.Col(6)});
  }
}

Status CaseStore::RemoveFromInbox(const std::string& message_id) {
  KP_RETURN_IF_ERROR(Writable());
  return Stmt(*database_, "DELETE FROM inbox WHERE message_id = ?").Bind(message_id).Run();
}

Status CaseStore::RemoveAcknowledged(const std::string& recipient, const std::string& request_id) {
  KP_RETURN_IF_ERROR(Writable());
  return Stmt(*database_, "DELETE FROM inbox WHERE recipient = ? AND request_id = ? AND request_id <> x''")
      .Text(recipient).Bind(request_id).Run();
}

Result<std::vector<InboxItem>> CaseStore::TakeExpiredInbox(int64_t now_ms) {
  KP_RETURN_IF_ERROR(Writable());
  std::vector<InboxItem> out;
  {
    Stmt q(*database_,
           "SELECT message_id, recipient, case_id, envelope, stored_ms, expires_ms, request_id FROM inbox WHERE expires_ms <= ?");
    q.Int(now_ms);
    while (true) {
      KP_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      out.push_back({q.Col(0), q.Col(1), q.Col(2), q.Col(3), q.ColInt(4), q.ColInt(5), q.Col(6)});
    }
  }
  for (const auto& i : out) KP_RETURN_IF_ERROR(RemoveFromInbox(i.message_id));
  return out;
}

// ------------------------------------------------------------- referrals

namespace {
constexpr char kReferralColumns[] =
    "SELECT id, reference, referrer, to_partner, purpose, reason_codes, subjects, coordinators, envelope, state, "
    "received_ms, expires_ms, decided_by, decided_ms, case_id, reason_code, audit_index FROM referrals ";

StoredReferral ReferralFromRow(Stmt& q) {
  StoredReferral r;
  r.id = q.Col(0);
  r.reference = q.Col(1);
  r.referrer = q.Col(2);
  r.to_partner = q.Col(3);
  r.purpose = q.Col(4);
  r.reason_codes = sqlite::SplitIds(q.Col(5));
  r.subjects = static_cast<uint32_t>(q.ColInt(6));
  r.coordinators = sqlite::SplitIds(q.Col(7));
  r.envelope = q.Col(8);
  r.state = static_cast<ReferralState>(q.ColInt(9));
  r.received_ms = q.ColInt(10);
  r.expires_ms = q.ColInt(11);
  r.decided_by = q.Col(12);
  r.decided_ms = q.ColInt(13);
  r.case_id = q.Col(14);
  r.reason_code = q.Col(15);
  r.audit_index = static_cast<uint64_t>(q.ColInt(16));
  return r;
}
}  // namespace

Status CaseStore::AddReferral(const StoredReferral& r) {
  KP_RETURN_IF_ERROR(Writable());
  return Stmt(*database_,
              "INSERT INTO referrals(id, reference, referrer, to_partner, purpose, reason_codes, subjects, coordinators, "
              "envelope, state, received_ms, expires_ms, decided_by, decided_ms, case_id, reason_code, audit_index) "
              "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
      .Bind(r.id).Text(r.reference).Text(r.referrer).Text(r.to_partner).Text(r.purpose)
      .Text(sqlite::JoinIds(r.reason_codes)).Int(r.subjects).Text(sqlite::JoinIds(r.coordinators)).Bind(r.envelope)
      .Int(static_cast<int64_t>(r.state)).Int(r.received_ms).Int(r.expires_ms).Text(r.decided_by).Int(r.decided_ms)
      .Text(r.case_id).Text(r.reason_code).Int(static_cast<int64_t>(r.audit_index)).Run();
}

Result<std::optional<StoredReferral>> CaseStore::GetReferral(const std::string& id) {
  Stmt q(*database_, (std::string(kReferralColumns) + "WHERE id = ?").c_str());
  KP_ASSIGN_OR_RETURN(bool row, q.Bind(id).Step());
  if (!row) return std::optional<StoredReferral>();
  return std::optional<StoredReferral>(ReferralFromRow(q));
}

Status CaseStore::UpdateReferral(const StoredReferral& r) {
  KP_RETURN_IF_ERROR(Writable());
  return Stmt(*database_,
              "UPDATE referrals SET state = ?, decided_by = ?, decided_ms = ?, case_id = ?, reason_code = ?, "
              "audit_index = ? WHERE id = ?")
      .Int(static_cast<int64_t>(r.state)).Text(r.decided_by).Int(r.decided_ms).Text(r.case_id).Text(r.reason_code)
      .Int(static_cast<int64_t>(r.audit_index)).Bind(r.id).Run();
}

Result<std::vector<StoredReferral>> CaseStore::ExpiredReferrals(int64_t now_ms) {
  Stmt q(*database_, (std::string(kReferralColumns) + "WHERE state = ? AND expires_ms <= ? ORDER BY expires_ms").c_str());
  q.Int(static_cast<int64_t>(ReferralState::kWaiting)).Int(now_ms);
  std::vector<StoredReferral> out;
  while (true) {
    KP_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return out;
    out.push_back(ReferralFromRow(q));
  }
}

// ------------------------------------------------------ handover packages

Status CaseStore::HoldHandoverPart(const HeldHandoverPart& p) {
  KP_RETURN_IF_ERROR(Writable());
  return Stmt(*database_,
              "INSERT OR REPLACE INTO handover_parts(case_id, offer, recipient, part, parts, sender, message_id, "
              "envelope, stored_ms) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)")
      .Text(p.case_id).Bind(p.offer).Text(p.recipient).Int(p.part).Int(p.parts).Text(p.sender).Bind(p.message_id)
      .Bind(p.envelope).Int(p.stored_ms).Run();
}

Result<std::vector<HeldHandoverPart>> CaseStore::HandoverParts(const std::string& offer) {
  Stmt q(*database_,
         "SELECT case_id, offer, recipient, part, parts, sender, message_id, envelope, stored_ms FROM handover_parts "
         "WHERE offer = ? ORDER BY recipient, part");
  q.Bind(offer);
  std::vector<HeldHandoverPart> out;
  while (true) {
    KP_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return out;
    out.push_back({q.Col(0), q.Col(1), q.Col(2), static_cast<uint32_t>(q.ColInt(3)),
                   static_cast<uint32_t>(q.ColInt(4)), q.Col(5), q.Col(6), q.Col(7), q.ColInt(8)});
  }
}

Status CaseStore::DropHandoverParts(const std::string& offer) {
  KP_RETURN_IF_ERROR(Writable());
  return Stmt(*database_, "DELETE FROM handover_parts WHERE offer = ?").Bind(offer).Run();
}

// ---------------------------------------------------------- case deadlines

Status CaseStore::AddDeadline(const CaseDeadline& d) {
  KP_RETURN_IF_ERROR(Writable());
  return Stmt(*database_, "INSERT OR REPLACE INTO case_deadlines(case_id, kind, key, due_ms) VALUES(?, ?, ?, ?)")
      .Text(d.case_id).Int(static_cast<int64_t>(d.kind)).Bind(d.key).Int(d.due_ms).Run();
}

Result<std::vector<CaseDeadline>> CaseStore::DueDeadlines(int64_t now_ms) {
  Stmt q(*database_, "SELECT case_id, kind, key, due_ms FROM case_deadlines WHERE due_ms <= ? ORDER BY due_ms");
  q.Int(now_ms);
  std::vector<CaseDeadline> out;
  while (true) {
    KP_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return out;
    out.push_back({q.Col(0), static_cast<DeadlineKind>(q.ColInt(1)), q.Col(2), q.ColInt(3)});
  }
}

Status CaseStore::RemoveDeadline(const CaseDeadline& d) {
  KP_RETURN_IF_ERROR(Writable());
  return Stmt(*database_, "DELETE FROM case_deadlines WHERE case_id = ? AND kind = ? AND key = ?")
      .Text(d.case_id).Int(static_cast<int64_t>(d.kind)).Bind(d.key).Run();
}

// ---------------------------------------------------------------- retention

Result<std::vector<CaseRecord>> CaseStore::PrunableCases(int64_t closed_before_ms, size_t limit) {
  Stmt q(*database_,
         "SELECT c.id, c.purpose, c.coordinator, c.phase, c.closed, c.opened_ms, c.closed_ms FROM cases c "
         "WHERE c.closed = 1 AND c.closed_ms <= ? "
         "AND NOT EXISTS (SELECT 1 FROM requests r WHERE r.case_id = c.id) "
         "AND NOT EXISTS (SELECT 1 FROM inbox i WHERE i.case_id = c.id) "
         "AND NOT EXISTS (SELECT 1 FROM handover_parts h WHERE h.case_id = c.id) "
         "AND NOT EXISTS (SELECT 1 FROM delivered d WHERE d.case_id = c.id) "
         "AND NOT EXISTS (SELECT 1 FROM approval_waits a WHERE a.case_id = c.id) "
         "AND NOT EXISTS (SELECT 1 FROM watches w WHERE w.case_id = c.id AND (w.ended_ms = 0 OR w.agent_told = 0)) "
         "ORDER BY c.closed_ms, c.id LIMIT ?");
  q.Int(closed_before_ms).Int(static_cast<int64_t>(limit));
  std::vector<CaseRecord> out;
  while (true) {
    KP_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return out;
    out.push_back({q.Col(0), q.Col(1), q.Col(2), q.Col(3), q.ColInt(4) != 0, q.ColInt(5), q.ColInt(6), "", 0});
  }
}

Result<CaseStore::PrunedRows> CaseStore::PruneCase(const std::string& case_id) {
  KP_RETURN_IF_ERROR(Writable());
  PrunedRows n;
  auto remove = [&](const char* sql, uint64_t* count) -> Status {
    KP_RETURN_IF_ERROR(Stmt(*database_, sql).Text(case_id).Run());
    if (count != nullptr) *count = static_cast<uint64_t>(sqlite3_changes(database_->get()));
    return OkStatus();
  };
  KP_RETURN_IF_ERROR(remove("DELETE FROM case_chain WHERE case_id = ?", &n.commands));
  KP_RETURN_IF_ERROR(remove("DELETE FROM watches WHERE case_id = ?", &n.watches));
  KP_RETURN_IF_ERROR(remove("DELETE FROM source_consents WHERE case_id = ?", &n.consents));
  KP_RETURN_IF_ERROR(remove("DELETE FROM case_deadlines WHERE case_id = ?", &n.deadlines));
  KP_RETURN_IF_ERROR(remove("DELETE FROM referrals WHERE case_id = ?", &n.referrals));
  KP_RETURN_IF_ERROR(remove("DELETE FROM cases WHERE id = ?", nullptr));
  return n;
}

Result<std::vector<StoredReferral>> CaseStore::PrunableReferrals(int64_t decided_before_ms, size_t limit) {
  Stmt q(*database_, (std::string(kReferralColumns) +
                      "WHERE state IN (?, ?) AND case_id = '' AND decided_ms <= ? ORDER BY decided_ms LIMIT ?")
                         .c_str());
  q.Int(static_cast<int64_t>(ReferralState::kDeclined)).Int(static_cast<int64_t>(ReferralState::kExpired))
      .Int(decided_before_ms).Int(static_cast<int64_t>(limit));
  std::vector<StoredReferral> out;
  while (true) {
    KP_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return out;
    out.push_back(ReferralFromRow(q));
  }
}

Status CaseStore::PruneReferral(const std::string& referral_id) {
  KP_RETURN_IF_ERROR(Writable());
  return Stmt(*database_, "DELETE FROM referrals WHERE id = ?").Bind(referral_id).Run();
}

Status CaseStore::SetCoordinator(const std::string& case_id, const std::string& coordinator) {
  KP_RETURN_IF_ERROR(Writable());
  return Stmt(*database_, "UPDATE cases SET coordinator = ? WHERE id = ?").Text(coordinator).Text(case_id).Run();
}

}  // namespace kp::gateway

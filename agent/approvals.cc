#include "agent/approvals.h"

#include <sys/stat.h>

#include <cctype>

#include "core/base/encoding.h"

namespace kp::agent {

using sqlite::Stmt;

namespace {

constexpr char kSchema[] = R"sql(
PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA secure_delete=ON;
CREATE TABLE IF NOT EXISTS approvals(
  request_id BLOB PRIMARY KEY, case_id TEXT NOT NULL, coordinator TEXT NOT NULL, recipient_partner TEXT NOT NULL,
  purpose TEXT NOT NULL, categories TEXT NOT NULL, rule_ids TEXT NOT NULL, legal_basis TEXT NOT NULL,
  phase TEXT NOT NULL, subject_roles TEXT NOT NULL, justification INTEGER NOT NULL, authorisation BLOB NOT NULL,
  queued_ms INTEGER NOT NULL, decide_by_ms INTEGER NOT NULL, state INTEGER NOT NULL,
  decided_by TEXT NOT NULL DEFAULT '', reason TEXT NOT NULL DEFAULT '', decided_ms INTEGER NOT NULL DEFAULT 0,
  outcome TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS approvals_by_state ON approvals(state, decide_by_ms);
CREATE TABLE IF NOT EXISTS source_consents(
  id INTEGER PRIMARY KEY AUTOINCREMENT, case_id TEXT NOT NULL, subject_ref TEXT NOT NULL, purpose TEXT NOT NULL,
  valid_until_ms INTEGER NOT NULL, withdrawn INTEGER NOT NULL, givers INTEGER NOT NULL, age_years INTEGER NOT NULL,
  recorded_by TEXT NOT NULL, written_ms INTEGER NOT NULL, message_id BLOB NOT NULL DEFAULT x'',
  confirmed INTEGER NOT NULL DEFAULT 0, audit_index INTEGER NOT NULL DEFAULT 0, error TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS source_consents_by_case ON source_consents(case_id);
)sql";

constexpr char kColumns[] =
    "request_id, case_id, coordinator, recipient_partner, purpose, categories, rule_ids, legal_basis, phase, "
    "subject_roles, justification, authorisation, queued_ms, decide_by_ms, state, decided_by, reason, decided_ms, "
    "outcome";

PendingApproval Row(Stmt& q) {
  PendingApproval a;
  a.request_id = q.Col(0);
  a.case_id = q.Col(1);
  a.coordinator = q.Col(2);
  a.recipient_partner = q.Col(3);
  a.purpose = q.Col(4);
  a.categories = sqlite::SplitIds(q.Col(5));
  a.rule_ids = sqlite::SplitIds(q.Col(6));
  a.legal_basis = q.Col(7);
  a.phase = q.Col(8);
  a.subject_roles = sqlite::SplitIds(q.Col(9));
  a.justification = q.ColInt(10) != 0;
  a.authorisation = q.Col(11);
  a.queued_ms = q.ColInt(12);
  a.decide_by_ms = q.ColInt(13);
  a.state = static_cast<ApprovalState>(q.ColInt(14));
  a.decided_by = q.Col(15);
  a.reason = q.Col(16);
  a.decided_ms = q.ColInt(17);
  a.outcome = q.Col(18);
  return a;
}

Result<std::vector<PendingApproval>> Rows(Stmt& q) {
  std::vector<PendingApproval> out;
  while (true) {
    KP_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return out;
    out.push_back(Row(q));
  }
}

constexpr char kConsentColumns[] =
    "id, case_id, subject_ref, purpose, valid_until_ms, withdrawn, givers, age_years, recorded_by, written_ms, "
    "message_id, confirmed, audit_index, error";

SourceConsentEntry ConsentRow(Stmt& q) {
  SourceConsentEntry c;
  c.id = q.ColInt(0);
  c.case_id = q.Col(1);
  c.subject_ref = q.Col(2);
  c.purpose = q.Col(3);
  c.valid_until_ms = q.ColInt(4);
  c.withdrawn = q.ColInt(5) != 0;
  c.givers = static_cast<uint8_t>(q.ColInt(6));
  c.age_years = static_cast<int>(q.ColInt(7));
  c.recorded_by = q.Col(8);
  c.written_ms = q.ColInt(9);
  c.message_id = q.Col(10);
  c.confirmed = q.ColInt(11) != 0;
  c.audit_index = static_cast<uint64_t>(q.ColInt(12));
  c.error = q.Col(13);
  return c;
}

}  // namespace

std::string_view ApprovalStateName(ApprovalState state) {
  switch (state) {
    case ApprovalState::kWaiting: return "waiting";
    case ApprovalState::kApproved: return "approved";
    case ApprovalState::kDeclined: return "declined";
    case ApprovalState::kAnswered: return "answered";
    case ApprovalState::kRefused: return "refused";
    case ApprovalState::kExpired: return "expired";
  }
  return "unknown";
}

Result<std::unique_ptr<Approvals>> Approvals::Open(const std::string& data_dir) {
  const std::string path = data_dir + "/approvals.db";
  KP_ASSIGN_OR_RETURN(auto db, sqlite::Database::Open(path, "approval queue"));
  ::chmod(path.c_str(), 0600);
  // The agent and `ketenpoort-agent approvals` write the same file.
  sqlite3_busy_timeout(db->get(), 5000);
  std::unique_ptr<Approvals> store(new Approvals(std::move(db)));
  KP_RETURN_IF_ERROR(store->db_->Exec(kSchema));
  return store;
}

Approvals::~Approvals() = default;

Status Approvals::Add(const PendingApproval& a) {
  return Stmt(*db_,
              "INSERT INTO approvals(request_id, case_id, coordinator, recipient_partner, purpose, categories, "
              "rule_ids, legal_basis, phase, subject_roles, justification, authorisation, queued_ms, decide_by_ms, "
              "state) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
      .Bind(a.request_id)
      .Text(a.case_id)
      .Text(a.coordinator)
      .Text(a.recipient_partner)
      .Text(a.purpose)
      .Text(sqlite::JoinIds(a.categories))
      .Text(sqlite::JoinIds(a.rule_ids))
      .Text(a.legal_basis)
      .Text(a.phase)
      .Text(sqlite::JoinIds(a.subject_roles))
      .Int(a.justification ? 1 : 0)
      .Bind(a.authorisation)
      .Int(a.queued_ms)
      .Int(a.decide_by_ms)
      .Int(static_cast<int64_t>(ApprovalState::kWaiting))
      .Run();
}

Result<std::optional<PendingApproval>> Approvals::Get(const std::string& request_id) {
  const std::string sql = std::string("SELECT ") + kColumns + " FROM approvals WHERE request_id = ?";
  Stmt q(*db_, sql.c_str());
  KP_ASSIGN_OR_RETURN(bool row, q.Bind(request_id).Step());
  if (!row) return std::optional<PendingApproval>();
  return std::optional<PendingApproval>(Row(q));
}

Result<std::vector<PendingApproval>> Approvals::ToActOn(int64_t now_ms) {
  const std::string sql = std::string("SELECT ") + kColumns +
                          " FROM approvals WHERE state IN (2, 3) OR (state = 1 AND decide_by_ms <= ?) ORDER BY "
                          "decided_ms, queued_ms";
  Stmt q(*db_, sql.c_str());
  q.Int(now_ms);
  return Rows(q);
}

Status Approvals::Settle(const std::string& request_id, ApprovalState state, const std::string& outcome) {
  return Stmt(*db_, "UPDATE approvals SET state = ?, outcome = ?, authorisation = x'' WHERE request_id = ?")
      .Int(static_cast<int64_t>(state))
      .Text(outcome)
      .Bind(request_id)
      .Run();
}

Result<size_t> Approvals::PruneSettled(int64_t now_ms) {
  // decide_by bounds the settling: a decision comes before it, an expiry at
  // it. secure_delete overwrites what goes (the professional's name, the
  // reason).
  KP_RETURN_IF_ERROR(Stmt(*db_, "DELETE FROM approvals WHERE state IN (?, ?, ?) AND decide_by_ms < ?")
                         .Int(static_cast<int64_t>(ApprovalState::kAnswered))
                         .Int(static_cast<int64_t>(ApprovalState::kRefused))
                         .Int(static_cast<int64_t>(ApprovalState::kExpired))
                         .Int(now_ms - kKeepSettledMs)
                         .Run());
  return static_cast<size_t>(sqlite3_changes(db_->get()));
}

Result<std::vector<PendingApproval>> Approvals::List(bool all) {
  const std::string sql = std::string("SELECT ") + kColumns + " FROM approvals" +
                          (all ? "" : " WHERE state IN (1, 2, 3)") + " ORDER BY state = 1 DESC, queued_ms";
  Stmt q(*db_, sql.c_str());
  return Rows(q);
}

Result<PendingApproval> Approvals::Find(const std::string& hex_prefix) {
  std::string p;
  for (char ch : hex_prefix) p += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (p.size() < 4 || p.size() > 32 || p.find_first_not_of("0123456789abcdef") != std::string::npos) {
    return InvalidArgumentError("an approval is named by its id as 'approvals list' shows it (at least 4 hex digits)");
  }
  KP_ASSIGN_OR_RETURN(auto all, List(true));
  std::optional<PendingApproval> found;
  for (auto& a : all) {
    if (HexEncode(a.request_id).rfind(p, 0) != 0) continue;
    if (found.has_value()) return InvalidArgumentError("'" + hex_prefix + "' names more than one approval; give more digits");
    found = std::move(a);
  }
  if (!found.has_value()) return NotFoundError("no approval with id " + hex_prefix + " in this agent's queue");
  return std::move(*found);
}

Status Approvals::Decide(const std::string& request_id, bool approve, const std::string& by, const std::string& reason,
                         int64_t now_ms) {
  KP_RETURN_IF_ERROR(db_->Exec("BEGIN IMMEDIATE"));
  auto done = [&](Status s) {
    (void)db_->Exec(s.ok() ? "COMMIT" : "ROLLBACK");
    return s;
  };
  auto got = Get(request_id);
  if (!got.ok()) return done(got.status());
  if (!got->has_value()) return done(NotFoundError("no such approval"));
  const PendingApproval& a = **got;
  if (a.state != ApprovalState::kWaiting) {
    return done(FailedPreconditionError("this request was already decided (" + std::string(ApprovalStateName(a.state)) +
                                        (a.decided_by.empty() ? "" : " by " + a.decided_by) + ")"));
  }
  if (a.decide_by_ms <= now_ms) {
    return done(FailedPreconditionError("the time to decide on this request has passed; it expires and is refused"));
  }
  return done(Stmt(*db_, "UPDATE approvals SET state = ?, decided_by = ?, reason = ?, decided_ms = ? WHERE request_id = ?")
                  .Int(static_cast<int64_t>(approve ? ApprovalState::kApproved : ApprovalState::kDeclined))
                  .Text(by)
                  .Text(reason)
                  .Int(now_ms)
                  .Bind(request_id)
                  .Run());
}

Result<int64_t> Approvals::AddConsent(const SourceConsentEntry& c) {
  KP_RETURN_IF_ERROR(
      Stmt(*db_,
           "INSERT INTO source_consents(case_id, subject_ref, purpose, valid_until_ms, withdrawn, givers, age_years, "
           "recorded_by, written_ms) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)")
          .Text(c.case_id)
          .Text(c.subject_ref)
          .Text(c.purpose)
          .Int(c.valid_until_ms)
          .Int(c.withdrawn ? 1 : 0)
          .Int(c.givers)
          .Int(c.age_years)
          .Text(c.recorded_by)
          .Int(c.written_ms)
          .Run());
  return static_cast<int64_t>(sqlite3_last_insert_rowid(db_->get()));
}

Result<std::optional<SourceConsentEntry>> Approvals::GetConsent(int64_t id) {
  const std::string sql = std::string("SELECT ") + kConsentColumns + " FROM source_consents WHERE id = ?";
  Stmt q(*db_, sql.c_str());
  KP_ASSIGN_OR_RETURN(bool row, q.Int(id).Step());
  if (!row) return std::optional<SourceConsentEntry>();
  return std::optional<SourceConsentEntry>(ConsentRow(q));
}

Result<std::optional<SourceConsentEntry>> Approvals::ConsentByMessage(const std::string& message_id) {
  const std::string sql = std::string("SELECT ") + kConsentColumns + " FROM source_consents WHERE message_id = ?";
  Stmt q(*db_, sql.c_str());
  KP_ASSIGN_OR_RETURN(bool row, q.Bind(message_id).Step());
  if (!row) return std::optional<SourceConsentEntry>();
  return std::optional<SourceConsentEntry>(ConsentRow(q));
}

Result<std::vector<SourceConsentEntry>> Approvals::UnsentConsents() {
  const std::string sql =
      std::string("SELECT ") + kConsentColumns + " FROM source_consents WHERE confirmed = 0 AND error = '' ORDER BY id";
  Stmt q(*db_, sql.c_str());
  std::vector<SourceConsentEntry> out;
  while (true) {
    KP_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return out;
    out.push_back(ConsentRow(q));
  }
}

Status Approvals::MarkConsentSent(int64_t id, const std::string& message_id) {
  return Stmt(*db_, "UPDATE source_consents SET message_id = ? WHERE id = ?").Bind(message_id).Int(id).Run();
}

Status Approvals::ConfirmConsent(const std::string& message_id, uint64_t audit_index) {
  return Stmt(*db_, "UPDATE source_consents SET confirmed = 1, audit_index = ? WHERE message_id = ?")
      .Int(static_cast<int64_t>(audit_index))
      .Bind(message_id)
      .Run();
}

Status Approvals::RefuseConsent(const std::string& message_id, const std::string& error) {
  return Stmt(*db_, "UPDATE source_consents SET error = ? WHERE message_id = ? AND confirmed = 0")
      .Text(error.empty() ? "refused" : error)
      .Bind(message_id)
      .Run();
}

Status Approvals::FillSourceConsents(const std::string& case_id, const std::string& partner, cases::CaseFacts* facts) {
  // In order: a later record or withdrawal replaces an earlier one.
  const std::string sql = std::string("SELECT ") + kConsentColumns +
                          " FROM source_consents WHERE case_id = ? AND confirmed = 1 ORDER BY id";
  Stmt q(*db_, sql.c_str());
  q.Text(case_id);
  while (true) {
    KP_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return OkStatus();
    SourceConsentEntry c = ConsentRow(q);
    auto key = std::make_tuple(partner, c.subject_ref, c.purpose);
    if (c.withdrawn) {
      facts->source_consents.erase(key);
      continue;
    }
    cases::ConsentFact f;
    f.valid_until_ms = c.valid_until_ms;
    f.givers = c.givers == 0 ? 1 : c.givers;
    f.age_years = c.age_years;
    f.recorded_ms = c.written_ms;
    facts->source_consents[key] = f;
  }
}

}  // namespace kp::agent

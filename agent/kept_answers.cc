#include "agent/kept_answers.h"

#include <sys/stat.h>

namespace kp::agent {

using sqlite::Stmt;

Result<std::unique_ptr<KeptAnswers>> KeptAnswers::Open(const std::string& path) {
  KP_ASSIGN_OR_RETURN(auto db, sqlite::Database::Open(path, "kept answers"));
  ::chmod(path.c_str(), 0600);
  std::unique_ptr<KeptAnswers> store(new KeptAnswers(std::move(db)));
  KP_RETURN_IF_ERROR(
      store->db_->Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA secure_delete=ON;"
                       "CREATE TABLE IF NOT EXISTS kept(request_id BLOB PRIMARY KEY, case_id TEXT NOT NULL, "
                       "delivery BLOB NOT NULL,"
                       " kept_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL);"));
  // Stores made before receipted answers were kept gain the column.
  bool has_receipted = false;
  {
    Stmt q(*store->db_, "SELECT name FROM pragma_table_info('kept')");
    while (true) {
      KP_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      has_receipted |= q.Col(0) == "receipted_index";
    }
  }
  if (!has_receipted) {
    KP_RETURN_IF_ERROR(
        store->db_->Exec("ALTER TABLE kept ADD COLUMN receipted_index INTEGER NOT NULL DEFAULT -1"));
  }
  // Receipts are marked on a connection of their own that does not sync
  // its commits (MarkReceipted); every Keep stays synchronous=FULL.
  KP_ASSIGN_OR_RETURN(store->marks_db_, sqlite::Database::Open(path, "kept answers"));
  KP_RETURN_IF_ERROR(store->marks_db_->Exec("PRAGMA synchronous=NORMAL; PRAGMA secure_delete=ON;"));
  return store;
}

KeptAnswers::~KeptAnswers() = default;

Status KeptAnswers::Begin() { return db_->Exec("BEGIN IMMEDIATE"); }
Status KeptAnswers::Commit() { return db_->Exec("COMMIT"); }
void KeptAnswers::Rollback() { (void)db_->Exec("ROLLBACK"); }

Status KeptAnswers::Keep(const KeptAnswer& a) {
  return Stmt(*db_,
              "INSERT OR REPLACE INTO kept(request_id, case_id, delivery, kept_ms, expires_ms, "
              "receipted_index) "
              "VALUES(?, ?, ?, ?, ?, -1)")
      .Bind(a.request_id)
      .Text(a.case_id)
      .Bind(a.delivery)
      .Int(a.kept_ms)
      .Int(a.expires_ms)
      .Run();
}

Result<std::optional<KeptAnswer>> KeptAnswers::Get(const std::string& request_id) {
  Stmt q(*db_,
         "SELECT request_id, case_id, delivery, kept_ms, expires_ms, receipted_index FROM kept WHERE "
         "request_id = ?");
  KP_ASSIGN_OR_RETURN(bool row, q.Bind(request_id).Step());
  if (!row) return std::optional<KeptAnswer>();
  KeptAnswer a{q.Col(0), q.Col(1), q.Col(2), q.ColInt(3), q.ColInt(4)};
  a.receipted = q.ColInt(5) >= 0;
  return std::optional<KeptAnswer>(std::move(a));
}

Status KeptAnswers::MarkReceipted(const std::vector<Receipted>& receipted, int64_t now_ms) {
  const bool prune = now_ms - last_prune_ms_ >= 1000;
  if (receipted.empty() && !prune) return OkStatus();
  sqlite::Database& db = *marks_db_;  // synchronous=NORMAL
  KP_RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
  Status s;
  for (const Receipted& r : receipted) {
    s = Stmt(db, "UPDATE kept SET receipted_index = ? WHERE request_id = ?")
            .Int(static_cast<int64_t>(r.gateway_log_index))
            .Bind(r.request_id)
            .Run();
    if (!s.ok()) break;
  }
  if (s.ok() && prune) {
    s = Stmt(db, "DELETE FROM kept WHERE receipted_index >= 0 AND expires_ms <= ?").Int(now_ms).Run();
    if (s.ok()) last_prune_ms_ = now_ms;
  }
  if (s.ok()) s = db.Exec("COMMIT");
  if (!s.ok()) (void)db.Exec("ROLLBACK");
  return s;
}

Status KeptAnswers::MarkNotReceipted(const std::string& request_id) {
  return Stmt(*db_, "UPDATE kept SET receipted_index = -1 WHERE request_id = ?").Bind(request_id).Run();
}

Status KeptAnswers::Forget(const std::string& request_id) {
  return Stmt(*db_, "DELETE FROM kept WHERE request_id = ?").Bind(request_id).Run();
}

Result<std::vector<KeptAnswer>> KeptAnswers::All() {
  Stmt q(*db_,
         "SELECT request_id, case_id, delivery, kept_ms, expires_ms FROM kept WHERE receipted_index < 0 "
         "ORDER BY kept_ms");
  std::vector<KeptAnswer> out;
  while (true) {
    KP_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return out;
    out.push_back({q.Col(0), q.Col(1), q.Col(2), q.ColInt(3), q.ColInt(4)});
  }
}

Result<int64_t> KeptAnswers::Count() {
  Stmt q(*db_, "SELECT count(*) FROM kept WHERE receipted_index < 0");
  KP_ASSIGN_OR_RETURN(bool row, q.Step());
  return row ? q.ColInt(0) : 0;
}

}  // namespace kp::agent

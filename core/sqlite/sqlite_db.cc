#include "core/sqlite/sqlite_db.h"

#include <cctype>

namespace kp::sqlite {

Result<std::unique_ptr<Database>> Database::Open(const std::string& path, std::string label) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return UnavailableError("cannot open the " + label + " " + path + ": " + msg);
  }
  return std::unique_ptr<Database>(new Database(db, std::move(label)));
}

Database::~Database() {
  statements_.reset();  // finalized before the connection closes
  sqlite3_close(db_);
}

StatementCache::~StatementCache() {
  for (auto& [sql, e] : entries_) sqlite3_finalize(e.stmt);
}

namespace {
bool IsPragma(std::string_view sql) {
  const size_t start = sql.find_first_not_of(" \t\r\n");
  if (start == std::string_view::npos || sql.size() - start < 6) return false;
  static constexpr std::string_view kPragma = "pragma";
  for (size_t i = 0; i < kPragma.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(sql[start + i])) != kPragma[i]) return false;
  }
  return true;
}
}  // namespace

sqlite3_stmt* StatementCache::Acquire(const char* sql, int* rc, bool* cached, bool single_only) {
  *rc = SQLITE_OK;
  *cached = false;
  const std::string_view text(sql);
  auto it = entries_.find(text);
  if (it != entries_.end()) {
    if (it->second.stmt == nullptr) {  // more than one statement
      if (single_only) return nullptr;
    } else if (!it->second.in_use) {
      it->second.in_use = true;
      *cached = true;
      return it->second.stmt;
    }
  }
  sqlite3_stmt* stmt = nullptr;
  const char* tail = nullptr;
  *rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, &tail);
  if (*rc != SQLITE_OK) return stmt;  // the caller finalizes it (a no-op on nullptr)
  const bool single =
      stmt != nullptr &&
      (tail == nullptr || std::string_view(tail).find_first_not_of(" \t\r\n;") == std::string_view::npos);
  // A PRAGMA that sets something (synchronous, busy_timeout, ...) does its
  // work while it is prepared, not when it runs: run again from the cache it
  // would do nothing. So it is prepared afresh each time, like a script.
  if (single_only && single && IsPragma(text)) {
    sqlite3_finalize(stmt);
    if (it == entries_.end() && entries_.size() < kMaxStatements)
      entries_.emplace(std::string(text), Entry{});
    return nullptr;
  }
  if (single_only && !single) {
    sqlite3_finalize(stmt);
    if (it == entries_.end() && entries_.size() < kMaxStatements)
      entries_.emplace(std::string(text), Entry{});
    return nullptr;
  }
  if (it != entries_.end() || entries_.size() >= kMaxStatements) return stmt;  // busy, or full: a fresh one
  auto added = entries_.emplace(std::string(text), Entry{stmt, true}).first;
  by_statement_[stmt] = &added->second;
  *cached = true;
  return stmt;
}

void StatementCache::Release(sqlite3_stmt* stmt) {
  sqlite3_reset(stmt);
  sqlite3_clear_bindings(stmt);
  auto it = by_statement_.find(stmt);
  if (it != by_statement_.end()) it->second->in_use = false;
}

Status Database::Exec(const char* sql) {
  int rc = SQLITE_OK;
  bool cached = false;
  sqlite3_stmt* stmt = statements_->Acquire(sql, &rc, &cached, /*single_only=*/true);
  if (stmt == nullptr && rc == SQLITE_OK) {  // several statements (a schema), or a PRAGMA: parsed each time
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err != nullptr ? err : "unknown error";
      sqlite3_free(err);
      return UnavailableError(label_ + ": " + msg);
    }
    return OkStatus();
  }
  if (rc == SQLITE_OK) {
    do {
      rc = sqlite3_step(stmt);
    } while (rc == SQLITE_ROW);
  }
  Status s = rc == SQLITE_OK || rc == SQLITE_DONE ? OkStatus()
                                                  : UnavailableError(label_ + ": " + sqlite3_errmsg(db_));
  if (cached) {
    statements_->Release(stmt);
  } else {
    sqlite3_finalize(stmt);
  }
  return s;
}

Stmt::Stmt(sqlite3* db, const char* sql, std::string label)
    : db_(db), own_label_(std::move(label)), label_(&own_label_) {
  rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr);
}

Stmt::Stmt(StatementCache& cache, const char* sql, std::string label)
    : db_(cache.db()), own_label_(std::move(label)), label_(&own_label_) {
  bool cached = false;
  stmt_ = cache.Acquire(sql, &rc_, &cached);
  if (cached) cache_ = &cache;
}

Stmt::Stmt(const Database& db, const char* sql) : db_(db.get()), label_(&db.label()) {
  bool cached = false;
  stmt_ = db.statements().Acquire(sql, &rc_, &cached);
  if (cached) cache_ = &db.statements();
}

Stmt::~Stmt() {
  if (cache_ != nullptr) {
    cache_->Release(stmt_);
  } else {
    sqlite3_finalize(stmt_);
  }
}

Stmt& Stmt::Bind(const std::string& v) {
  if (rc_ == SQLITE_OK)
    rc_ = sqlite3_bind_blob(stmt_, ++n_, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}

Stmt& Stmt::Text(const std::string& v) {
  if (rc_ == SQLITE_OK)
    rc_ = sqlite3_bind_text(stmt_, ++n_, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}

Stmt& Stmt::Int(int64_t v) {
  if (rc_ == SQLITE_OK) rc_ = sqlite3_bind_int64(stmt_, ++n_, v);
  return *this;
}

Result<bool> Stmt::Step() {
  if (rc_ != SQLITE_OK) return Error();
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  rc_ = rc;
  return Error();
}

Status Stmt::Run() {
  auto r = Step();
  return r.ok() ? OkStatus() : r.status();
}

std::string Stmt::Col(int i) {
  const void* p = sqlite3_column_blob(stmt_, i);
  int n = sqlite3_column_bytes(stmt_, i);
  return p == nullptr ? std::string() : std::string(static_cast<const char*>(p), static_cast<size_t>(n));
}

int64_t Stmt::ColInt(int i) { return sqlite3_column_int64(stmt_, i); }

Status Stmt::Error() const {
  return UnavailableError(*label_ + ": " + sqlite3_errstr(rc_) + " (" + sqlite3_errmsg(db_) + ")");
}

std::string JoinIds(const std::vector<std::string>& ids) {
  std::string out;
  for (const auto& id : ids) {
    if (!out.empty()) out += ',';
    out += id;
  }
  return out;
}

std::vector<std::string> SplitIds(const std::string& text) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string::npos) comma = text.size();
    out.push_back(text.substr(pos, comma - pos));
    pos = comma + 1;
  }
  return out;
}

}  // namespace kp::sqlite

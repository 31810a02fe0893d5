// Small RAII helpers over SQLite: an owned connection and a prepared
// statement with positional binds. Errors become Unavailable statuses that
// name the database (`label`), never the values bound (they may be content).
#ifndef KETENPOORT_CORE_SQLITE_SQLITE_DB_H_
#define KETENPOORT_CORE_SQLITE_SQLITE_DB_H_

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/base/status.h"

namespace kp::sqlite {

// Prepared statements kept for reuse, keyed by their SQL text: preparing
// (parsing) a statement costs more than running a small one. A statement in
// use is not handed out twice; a second user gets a fresh one. At most
// kMaxStatements texts are kept (a text built at run time must not grow it
// without bound); beyond that a statement is fresh each time. Not
// thread-safe; must be destroyed before its connection is closed.
class StatementCache {
 public:
  static constexpr size_t kMaxStatements = 256;

  explicit StatementCache(sqlite3* db) : db_(db) {}
  ~StatementCache();
  StatementCache(const StatementCache&) = delete;
  StatementCache& operator=(const StatementCache&) = delete;

  // A ready statement (reset, no bindings) and whether it came from the
  // cache (then Release it) or is fresh (then finalize it). With
  // `single_only`, SQL that holds more than one statement gives nullptr
  // (with *rc SQLITE_OK), and so does a PRAGMA: the caller runs it otherwise
  // (Database::Exec).
  sqlite3_stmt* Acquire(const char* sql, int* rc, bool* cached, bool single_only = false);
  void Release(sqlite3_stmt* stmt);
  sqlite3* db() const { return db_; }
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    sqlite3_stmt* stmt = nullptr;  // nullptr: more than one statement
    bool in_use = false;
  };
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  sqlite3* db_;
  std::unordered_map<std::string, Entry, Hash, std::equal_to<>> entries_;
  std::unordered_map<sqlite3_stmt*, Entry*> by_statement_;  // into entries_ (its nodes do not move)
};

// An open database connection; closed on destruction. Not thread-safe.
class Database {
 public:
  // Opens (creating if needed) `path` read-write. `label` names it in errors
  // ("case database").
  static Result<std::unique_ptr<Database>> Open(const std::string& path, std::string label);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // Runs one or more statements, ignoring their rows. A single statement
  // (BEGIN, COMMIT, SAVEPOINT, ...) is prepared once and kept; a PRAGMA is
  // not (it takes effect when it is prepared).
  Status Exec(const char* sql);
  sqlite3* get() const { return db_; }
  const std::string& label() const { return label_; }
  StatementCache& statements() const { return *statements_; }

 private:
  Database(sqlite3* db, std::string label)
      : db_(db), label_(std::move(label)), statements_(std::make_unique<StatementCache>(db)) {}
  sqlite3* db_;
  std::string label_;
  std::unique_ptr<StatementCache> statements_;
};

// A prepared statement with positional binds; finalised on destruction. The
// first error (prepare or bind) is kept and returned by Step()/Run().
class Stmt {
 public:
  // Uses the database's statement cache; `db` must outlive the statement.
  Stmt(const Database& db, const char* sql);
  Stmt(StatementCache& cache, const char* sql, std::string label);
  // Prepares afresh (no cache).
  Stmt(sqlite3* db, const char* sql, std::string label = "database");
  ~Stmt();
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& Bind(const std::string& blob);
  Stmt& Text(const std::string& text);
  Stmt& Int(int64_t v);
  // SQLITE_ROW -> true, SQLITE_DONE -> false.
  Result<bool> Step();
  Status Run();
  std::string Col(int i);
  int64_t ColInt(int i);

 private:
  Status Error() const;
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  StatementCache* cache_ = nullptr;  // set when stmt_ is the cache's
  std::string own_label_;
  const std::string* label_;  // &own_label_, or the database's (not copied per statement)
  int rc_ = SQLITE_OK;
  int n_ = 0;
};

// A list of ids (never containing a comma) in one TEXT column: "a,b,c".
std::string JoinIds(const std::vector<std::string>& ids);
std::vector<std::string> SplitIds(const std::string& text);

}  // namespace kp::sqlite

#endif  // KETENPOORT_CORE_SQLITE_SQLITE_DB_H_

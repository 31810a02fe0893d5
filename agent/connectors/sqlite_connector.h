// SqliteConnector: one SELECT on a SQLite file the partner keeps, with the
// subject's identifiers bound as named parameters (:bsn :name :date_of_birth
// :ref :role; SQL is never built from them). Each row is a Record of column
// name -> value: NULL columns are absent, numbers become text, a BLOB is
// refused (InvalidArgument).
//
// The database is opened read-only (SQLITE_OPEN_READONLY and PRAGMA
// query_only), ATTACH is disabled, and the statement must be one read-only
// statement that returns columns; all of this is checked by Create. A busy or
// locked database is retried for up to two seconds, then Unavailable.
// Thread-safe (a mutex guards the one connection and its prepared statement).
#ifndef KETENPOORT_AGENT_CONNECTORS_SQLITE_CONNECTOR_H_
#define KETENPOORT_AGENT_CONNECTORS_SQLITE_CONNECTOR_H_

#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "agent/connectors/connector.h"
#include "core/base/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace kp::agent {

class SqliteConnector : public Connector {
 public:
  // `config.kind` must be kSqlite. Opens the database and prepares the query:
  // Unavailable when the file cannot be opened or read; InvalidArgument (with
  // SQLite's message) for bad SQL, a missing table, a statement that can
  // write, or a parameter other than the five subject fields.
  static Result<std::unique_ptr<Connector>> Create(const ConnectorConfig& config);
  ~SqliteConnector() override;

  SqliteConnector(const SqliteConnector&) = delete;
  SqliteConnector& operator=(const SqliteConnector&) = delete;

  Result<std::vector<Record>> Query(const SubjectQuery& subject) override;
  std::string Describe() const override;
  // Runs changed_query (changed_since.cc).
  Result<std::optional<int64_t>> ChangedSince(const SubjectQuery& subject, int64_t since_ms) override;

 private:
  Status PrepareChanged(const std::string& sql);  // changed_since.cc
  explicit SqliteConnector(std::string database) : database_(std::move(database)) {}
  Result<std::vector<Record>> QueryLocked(const SubjectQuery& subject);

  const std::string database_;
  std::mutex mu_;
  sqlite3* db_ = nullptr;         // owned
  sqlite3_stmt* stmt_ = nullptr;  // owned
  // For each parameter index 1..n, the subject field it binds.
  std::vector<std::string SubjectQuery::*> params_;
  sqlite3_stmt* changed_stmt_ = nullptr;  // owned; null without changed_query
  // For each parameter of changed_query, the subject field it binds (null: :since).
  std::vector<std::string SubjectQuery::*> changed_params_;
};

}  // namespace kp::agent

#endif  // KETENPOORT_AGENT_CONNECTORS_SQLITE_CONNECTOR_H_

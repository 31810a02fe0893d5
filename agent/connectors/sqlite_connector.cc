#include "agent/connectors/sqlite_connector.h"

#include <sqlite3.h>

#include <set>

namespace kp::agent {
namespace {

constexpr int kBusyTimeoutMs = 2000;

// Resets the statement and drops its bindings (the subject's identifiers)
// when a query ends, however it ends; a reset statement also ends the read
// transaction, so writers are not held up between queries.
class ResetOnExit {
 public:
  explicit ResetOnExit(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~ResetOnExit() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  ResetOnExit(const ResetOnExit&) = delete;
  ResetOnExit& operator=(const ResetOnExit&) = delete;

 private:
  sqlite3_stmt* stmt_;
};

std::string SubjectQuery::*ParameterField(const std::string& name) {
  if (name == ":bsn") return &SubjectQuery::bsn;
  if (name == ":name") return &SubjectQuery::name;
  if (name == ":date_of_birth") return &SubjectQuery::date_of_birth;
  if (name == ":ref") return &SubjectQuery::ref;
  if (name == ":role") return &SubjectQuery::role;
  return nullptr;
}

}  // namespace

Result<std::unique_ptr<Connector>> SqliteConnector::Create(const ConnectorConfig& config) {
  if (config.kind != ConnectorConfig::Kind::kSqlite) return InvalidArgumentError("not a sqlite source");
  if (config.database.empty()) return InvalidArgumentError("a sqlite source needs a database file");
  if (config.query.empty()) return InvalidArgumentError("a sqlite source needs a query");
  std::unique_ptr<SqliteConnector> c(new SqliteConnector(config.database));
  const std::string& db_name = c->database_;
  int rc = sqlite3_open_v2(db_name.c_str(), &c->db_, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    return UnavailableError("source unavailable: cannot open database " + db_name + ": " +
                            (c->db_ != nullptr ? sqlite3_errmsg(c->db_) : sqlite3_errstr(rc)));
  }
  sqlite3_busy_timeout(c->db_, kBusyTimeoutMs);
  sqlite3_limit(c->db_, SQLITE_LIMIT_ATTACHED, 0);
  sqlite3_db_config(c->db_, SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
  sqlite3_db_config(c->db_, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, nullptr);
  if (sqlite3_exec(c->db_, "PRAGMA query_only=1", nullptr, nullptr, nullptr) != SQLITE_OK) {
    return UnavailableError("source unavailable: cannot make database " + db_name +
                            " query-only: " + sqlite3_errmsg(c->db_));
  }

  const char* tail = nullptr;
  rc = sqlite3_prepare_v3(c->db_, config.query.c_str(), static_cast<int>(config.query.size()),
                          SQLITE_PREPARE_PERSISTENT, &c->stmt_, &tail);
  if (rc != SQLITE_OK) {
    const std::string message = "the query on " + db_name + " does not prepare: " + sqlite3_errmsg(c->db_);
    if ((rc & 0xff) == SQLITE_ERROR) return InvalidArgumentError(message);
    return UnavailableError("source unavailable: " + message);
  }
  if (c->stmt_ == nullptr) return InvalidArgumentError("the query on " + db_name + " is empty");
  if (tail != nullptr && *tail != '\0') {
    sqlite3_stmt* next = nullptr;
    rc = sqlite3_prepare_v2(c->db_, tail, -1, &next, nullptr);
    sqlite3_finalize(next);
    if (rc != SQLITE_OK || next != nullptr) {
      return InvalidArgumentError("the query on " + db_name + " must be exactly one statement");
    }
  }
  if (sqlite3_stmt_readonly(c->stmt_) == 0) {
    return InvalidArgumentError("the query on " + db_name +
                                " can change the database; only a read-only SELECT is allowed");
  }
  const int columns = sqlite3_column_count(c->stmt_);
  if (columns == 0) {
    return InvalidArgumentError("the query on " + db_name + " returns no columns; expected a SELECT");
  }
  std::set<std::string> names;
  for (int i = 0; i < columns; ++i) {
    const char* name = sqlite3_column_name(c->stmt_, i);
    if (name == nullptr) return UnavailableError("source unavailable: out of memory preparing the query");
    if (!names.insert(name).second) {
      return InvalidArgumentError("the query on " + db_name + " returns column '" + name +
                                  "' twice; give every column its own name (... AS name)");
    }
  }
  const int params = sqlite3_bind_parameter_count(c->stmt_);
  for (int i = 1; i <= params; ++i) {
    const char* name = sqlite3_bind_parameter_name(c->stmt_, i);
    auto field = name != nullptr ? ParameterField(name) : nullptr;
    if (field == nullptr) {
      return InvalidArgumentError("the query on " + db_name + " uses parameter " +
                                  (name != nullptr ? std::string(name) : std::string("?")) +
                                  "; only :bsn, :name, :date_of_birth, :ref and :role can be bound");
    }
    c->params_.push_back(field);
  }
  if (!config.changed_query.empty()) KP_RETURN_IF_ERROR(c->PrepareChanged(config.changed_query));
  return std::unique_ptr<Connector>(std::move(c));
}

SqliteConnector::~SqliteConnector() {
  sqlite3_finalize(changed_stmt_);
  sqlite3_finalize(stmt_);
  sqlite3_close_v2(db_);
}

std::string SqliteConnector::Describe() const { return "sqlite " + database_; }

Result<std::vector<Record>> SqliteConnector::Query(const SubjectQuery& subject) {
  std::lock_guard<std::mutex> lock(mu_);
  return QueryLocked(subject);
}

Result<std::vector<Record>> SqliteConnector::QueryLocked(const SubjectQuery& subject) {
  ResetOnExit reset(stmt_);
  for (size_t i = 0; i < params_.size(); ++i) {
    const std::string& value = subject.*params_[i];
    if (sqlite3_bind_text64(stmt_, static_cast<int>(i + 1), value.data(), value.size(), SQLITE_TRANSIENT,
                            SQLITE_UTF8) != SQLITE_OK) {
      return UnavailableError("source unavailable: cannot bind the query parameters on " + database_ + ": " +
                              sqlite3_errmsg(db_));
    }
  }
  std::vector<Record> records;
  const int columns = sqlite3_column_count(stmt_);
  for (;;) {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_DONE) break;
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
      return UnavailableError("source unavailable: database " + database_ + " is locked (still after " +
                              std::to_string(kBusyTimeoutMs) + " ms)");
    }
    if (rc != SQLITE_ROW) {
      return UnavailableError("source unavailable: reading database " + database_ +
                              " failed: " + sqlite3_errmsg(db_));
    }
    Record record;
    for (int col = 0; col < columns; ++col) {
      const int type = sqlite3_column_type(stmt_, col);
      if (type == SQLITE_NULL) continue;
      const char* name = sqlite3_column_name(stmt_, col);
      if (type == SQLITE_BLOB) {
        return InvalidArgumentError("column '" + std::string(name != nullptr ? name : "?") +
                                    "' of the query on " + database_ +
                                    " holds a BLOB; only text and numbers can be sent");
      }
      const unsigned char* text = sqlite3_column_text(stmt_, col);
      const int bytes = sqlite3_column_bytes(stmt_, col);
      if (name == nullptr || text == nullptr) {
        return UnavailableError("source unavailable: out of memory reading database " + database_);
      }
      record.emplace_back(name, std::string(reinterpret_cast<const char*>(text), static_cast<size_t>(bytes)));
    }
    records.push_back(std::move(record));
  }
  return records;
}

}  // namespace kp::agent

// PostgresConnector: one SELECT on the partner's PostgreSQL database, with the
// subject's identifiers bound as parameters $1, $2, ... (the config's
// `params` names the subject field of each; SQL is never built from them).
// Each row is a Record of column name -> value in text form: NULL columns are
// absent, booleans "true"/"false", numbers and dates as PostgreSQL prints
// them; a bytea column is refused (InvalidArgument), as are duplicate column
// names (at Create).
//
// Read-only, twice over: the session starts with default_transaction_read_only
// on, and every query runs inside its own `BEGIN READ ONLY` ... `ROLLBACK`, so
// even a function that tries to write, or to switch the session's default,
// is refused and undone. Create connects and runs the query once with NULL
// parameters in such a transaction, so bad SQL, a missing table, a statement
// that writes or a parameter count other than `params` is found at start
// (InvalidArgument, with PostgreSQL's message: it names the SQL, never a
// subject). Give the agent a database role that can only SELECT, too.
//
// One connection, kept between queries (reused under a mutex) and made again
// when it was lost; a query that finds the connection lost (the server
// restarted) is tried once more on a new one. Timeouts: connect_timeout_ms to
// connect, timeout_ms per query (server side as statement_timeout, and on the
// client: past it the connection is dropped and DeadlineExceeded returned).
//
// The password, from password_file (mode 0600, the password alone), is kept in
// locked memory (SecretBytes) and handed to libpq only while connecting;
// without password_file libpq's own ~/.pgpass or PGPASSFILE applies. TLS:
// sslmode (default verify-full), sslrootcert, and optionally a client
// certificate (sslcert, sslkey; the key 0600). Errors while a query runs name
// only the SQLSTATE, never PostgreSQL's message, which may quote a bound value.
// Thread-safe.
#ifndef KETENPOORT_AGENT_CONNECTORS_POSTGRES_CONNECTOR_H_
#define KETENPOORT_AGENT_CONNECTORS_POSTGRES_CONNECTOR_H_

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "agent/connectors/connector.h"
#include "core/base/status.h"
#include "core/crypto/secret_bytes.h"

struct pg_conn;

namespace kp::agent {

class PostgresConnector : public Connector {
 public:
  // `config.kind` must be kPostgres. InvalidArgument for a config that cannot
  // work (no query, an unknown parameter field, an sslmode that is not known,
  // a timeout that is not positive) and for a query PostgreSQL refuses;
  // FailedPrecondition for a password or key file others can read;
  // Unavailable when the server cannot be reached or refuses the login.
  static Result<std::unique_ptr<Connector>> Create(const ConnectorConfig& config);
  ~PostgresConnector() override;

  PostgresConnector(const PostgresConnector&) = delete;
  PostgresConnector& operator=(const PostgresConnector&) = delete;

  Result<std::vector<Record>> Query(const SubjectQuery& subject) override;
  std::string Describe() const override;
  // Runs changed_query ($n bound per changed_params, `since` as ms since
  // 1970): any row is a change; a column changed_at_ms says when (else now).
  // Unimplemented without changed_query.
  Result<std::optional<int64_t>> ChangedSince(const SubjectQuery& subject, int64_t since_ms) override;

  // How many times a connection was made (for tests of reuse and reconnect).
  int64_t connections_made() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return connections_made_;
  }

 private:
  using Clock = std::chrono::steady_clock;
  explicit PostgresConnector(const ConnectorConfig& config);

  Status ConnectLocked();
  void DropLocked();
  // One statement in its own read-only transaction with `values` bound
  // (nullptr: NULL); `trial` (Create's run with NULLs) may quote
  // PostgreSQL's message in errors, a run with a subject never does.
  Result<std::vector<Record>> RunLocked(const std::string& sql, const std::vector<const char*>& values,
                                        bool trial, Clock::time_point deadline);
  // Query's connection handling (reuse, one retry on a lost connection).
  Result<std::vector<Record>> RunWithRetry(const std::string& sql, const std::vector<const char*>& values);

  const ConnectorConfig config_;
  const std::string describe_;
  SecretBytes password_;  // NUL-terminated; empty without password_file
  mutable std::mutex mu_;
  pg_conn* conn_ = nullptr;  // owned; null between a lost connection and the next query
  int64_t connections_made_ = 0;
  // For each parameter $1..$n, the subject field it binds.
  std::vector<std::string SubjectQuery::*> params_;
  // For each parameter of changed_query, the subject field it binds (null: since).
  std::vector<std::string SubjectQuery::*> changed_params_;
};

}  // namespace kp::agent

#endif  // KETENPOORT_AGENT_CONNECTORS_POSTGRES_CONNECTOR_H_

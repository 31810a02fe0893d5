#include "agent/connectors/postgres_connector.h"

#include <fcntl.h>
#include <libpq-fe.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <optional>
#include <set>

#include "agent/connectors/connector_module.h"
#include "core/base/file_util.h"

namespace kp::agent {
namespace {

constexpr Oid kBoolOid = 16;
constexpr Oid kByteaOid = 17;
constexpr size_t kMaxPasswordFileBytes = 4096;

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgResult = std::unique_ptr<PGresult, ResultDeleter>;

std::string SubjectQuery::*ParameterField(const std::string& name) {
  if (name == "bsn") return &SubjectQuery::bsn;
  if (name == "name") return &SubjectQuery::name;
  if (name == "date_of_birth") return &SubjectQuery::date_of_birth;
  if (name == "ref") return &SubjectQuery::ref;
  if (name == "role") return &SubjectQuery::role;
  return nullptr;
}

// libpq's messages end in a newline and may span lines: one line for a log.
std::string OneLine(const char* message) {
  std::string out = message != nullptr ? message : "";
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  std::replace(out.begin(), out.end(), '\n', ' ');
  return out.empty() ? std::string("no message") : out;
}

// Notices (RAISE NOTICE in a function the query calls) may hold anything:
// never printed.
void IgnoreNotice(void*, const char*) {}

bool IsUnixSocketHost(const std::string& host) { return host.empty() || host[0] == '/'; }

// The password file: the password alone (one trailing newline allowed), read
// straight into locked memory, NUL-terminated for libpq.
Result<SecretBytes> ReadPasswordFile(const std::string& path) {
  if (Status s = CheckSecretFileMode(path); !s.ok()) {
    if (s.code() == StatusCode::kNotFound)
      return UnavailableError("the password file " + path + " does not exist");
    return Status(s.code(), "the password file: " + s.message());
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return UnavailableError("cannot open the password file " + path + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || st.st_size <= 0 || static_cast<size_t>(st.st_size) > kMaxPasswordFileBytes) {
    ::close(fd);
    return InvalidArgumentError("the password file " + path + " must hold the password alone (1 to " +
                                std::to_string(kMaxPasswordFileBytes) + " bytes)");
  }
  SecretBytes buffer(static_cast<size_t>(st.st_size));
  size_t got = 0;
  while (got < buffer.size()) {
    const ssize_t n = ::read(fd, buffer.mutable_data() + got, buffer.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  if (got != buffer.size()) return UnavailableError("cannot read the password file " + path);
  size_t length = got;
  if (length > 0 && buffer.data()[length - 1] == '\n') --length;
  if (length > 0 && buffer.data()[length - 1] == '\r') --length;
  if (length == 0) return InvalidArgumentError("the password file " + path + " is empty");
  if (std::memchr(buffer.data(), '\0', length) != nullptr ||
      std::memchr(buffer.data(), '\n', length) != nullptr) {
    return InvalidArgumentError("the password file " + path + " must hold the password alone, on one line");
  }
  SecretBytes password(length + 1);  // zero-filled: the last byte ends the string
  std::memcpy(password.mutable_data(), buffer.data(), length);
  return password;
}

// Sends one statement and waits for its result until `deadline`. An error
// here means the connection cannot be trusted any more (the caller drops it).
Result<PgResult> Exec(PGconn* conn, const std::string& sql, const std::vector<const char*>& values,
                      std::chrono::steady_clock::time_point deadline, const std::string& describe) {
  if (PQsendQueryParams(conn, sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr,
                        nullptr, 0) == 0) {
    return UnavailableError("source unavailable: " + describe + ": " + OneLine(PQerrorMessage(conn)));
  }
  PgResult last;
  for (;;) {
    while (PQisBusy(conn) != 0) {
      const auto left =
          std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return DeadlineExceededError("source " + describe + " timed out");
      if (PQsocket(conn) < 0) {
        return UnavailableError("source unavailable: " + describe + ": the connection is closed");
      }
      pollfd p{PQsocket(conn), POLLIN, 0};
      const int ready = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 60'000)));
      if (ready < 0 && errno != EINTR) {
        return UnavailableError(std::string("source unavailable: poll failed: ") + std::strerror(errno));
      }
      if (ready > 0 && PQconsumeInput(conn) == 0) {
        return UnavailableError("source unavailable: " + describe + ": " + OneLine(PQerrorMessage(conn)));
      }
    }
    PGresult* r = PQgetResult(conn);
    if (r == nullptr) break;
    // One statement gives one result; should there be more, the first error counts.
    const bool keep_last = last == nullptr || PQresultStatus(last.get()) == PGRES_TUPLES_OK ||
                           PQresultStatus(last.get()) == PGRES_COMMAND_OK;
    if (keep_last) {
      last.reset(r);
    } else {
      PQclear(r);
    }
  }
  if (last == nullptr) return UnavailableError("source unavailable: " + describe + " sent no result");
  return last;
}

std::string SqlState(const PGresult* r) {
  const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
  return state != nullptr ? state : "";
}

}  // namespace

PostgresConnector::PostgresConnector(const ConnectorConfig& config)
    : config_(config),
      describe_("postgres " + config.postgres.user + "@" +
                (config.postgres.host.empty() ? std::string("(local socket)") : config.postgres.host) + ":" +
                std::to_string(config.postgres.port) + "/" + config.postgres.dbname) {}

PostgresConnector::~PostgresConnector() { DropLocked(); }

Result<std::optional<int64_t>> PostgresConnector::ChangedSince(const SubjectQuery& subject,
                                                               int64_t since_ms) {
  if (config_.changed_query.empty()) {
    return UnimplementedError("source " + Describe() + " cannot say what changed (no changed_query)");
  }
  const std::string since = std::to_string(since_ms);
  std::vector<const char*> values;
  for (auto field : changed_params_)
    values.push_back(field != nullptr ? (subject.*field).c_str() : since.c_str());
  std::lock_guard<std::mutex> lock(mu_);
  KP_ASSIGN_OR_RETURN(std::vector<Record> rows, RunWithRetry(config_.changed_query, values));
  if (rows.empty()) return std::optional<int64_t>();
  // The largest changed_at_ms of the rows, or now when none says.
  int64_t latest = 0;
  for (const auto& row : rows) {
    for (const auto& [field, value] : row) {
      int64_t v = 0;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
      if (field == "changed_at_ms" && ec == std::errc() && end == value.data() + value.size()) {
        latest = std::max(latest, v);
      }
    }
  }
  if (latest <= 0) {
    latest = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  }
  return std::optional<int64_t>(latest);
}

std::string PostgresConnector::Describe() const { return describe_; }

Result<std::unique_ptr<Connector>> PostgresConnector::Create(const ConnectorConfig& config) {
  if (config.kind != ConnectorConfig::Kind::kPostgres) return InvalidArgumentError("not a postgres source");
  const PostgresSourceConfig& pg = config.postgres;
  if (config.query.empty()) return InvalidArgumentError("a postgres source needs a query");
  if (pg.dbname.empty()) return InvalidArgumentError("a postgres source needs dbname");
  if (pg.user.empty()) return InvalidArgumentError("a postgres source needs user");
  if (pg.port < 1 || pg.port > 65535)
    return InvalidArgumentError("the port of a postgres source must be 1 to 65535");
  if (config.timeout_ms <= 0 || pg.connect_timeout_ms <= 0) {
    return InvalidArgumentError("the timeouts of a postgres source must be positive");
  }
  if (config.max_output_bytes == 0)
    return InvalidArgumentError("the output limit of a postgres source must be positive");
  static const std::set<std::string> kModes = {"disable", "require", "verify-ca", "verify-full"};
  if (kModes.count(pg.sslmode) == 0) {
    return InvalidArgumentError(
        "sslmode '" + pg.sslmode +
        "' of a postgres source is not one of: verify-full, verify-ca, require, disable");
  }
  if (!IsUnixSocketHost(pg.host) && (pg.sslmode == "verify-ca" || pg.sslmode == "verify-full") &&
      pg.sslrootcert.empty()) {
    return InvalidArgumentError(
        "a postgres source at " + pg.host + " with sslmode " + pg.sslmode +
        " needs sslrootcert: the CA file that signed the database server's certificate "
        "(or sslmode disable on a network you trust)");
  }
  if (pg.sslcert.empty() != pg.sslkey.empty()) {
    return InvalidArgumentError("a postgres source's client certificate needs both sslcert and sslkey");
  }
  if (!pg.sslkey.empty()) {
    if (Status s = CheckSecretFileMode(pg.sslkey); !s.ok()) {
      return Status(s.code(), "the postgres client key: " + s.message());
    }
  }
  std::unique_ptr<PostgresConnector> c(new PostgresConnector(config));
  for (const std::string& name : pg.params) {
    auto field = ParameterField(name);
    if (field == nullptr) {
      return InvalidArgumentError("postgres parameter '" + name +
                                  "' is not a subject field (bsn, name, date_of_birth, ref or role)");
    }
    c->params_.push_back(field);
  }
  if (!pg.password_file.empty()) {
    InitCrypto();
    KP_ASSIGN_OR_RETURN(c->password_, ReadPasswordFile(pg.password_file));
  }
  if (!config.changed_query.empty()) {
    bool has_since = false;
    for (const std::string& name : pg.changed_params) {
      auto field = ParameterField(name);
      if (field == nullptr && name != "since") {
        return InvalidArgumentError(
            "postgres changed_params entry '" + name +
            "' is not a subject field (bsn, name, date_of_birth, ref or role) or since");
      }
      has_since = has_since || name == "since";
      c->changed_params_.push_back(field);
    }
    if (!has_since) {
      return InvalidArgumentError(
          "the changed_query of a postgres source must bind since (list it in changed_params)");
    }
  }
  std::lock_guard<std::mutex> lock(c->mu_);
  KP_RETURN_IF_ERROR(c->ConnectLocked());
  // The trial run: bad SQL, a missing table, a wrong number of parameters or a
  // statement that writes shows now, not at the first request.
  auto trial = c->RunLocked(config.query, std::vector<const char*>(c->params_.size(), nullptr),
                            /*trial=*/true, Clock::now() + std::chrono::milliseconds(config.timeout_ms));
  if (!trial.ok()) return trial.status();
  if (!config.changed_query.empty()) {
    auto changed_trial =
        c->RunLocked(config.changed_query, std::vector<const char*>(c->changed_params_.size(), nullptr),
                     /*trial=*/true, Clock::now() + std::chrono::milliseconds(config.timeout_ms));
    if (!changed_trial.ok()) {
      return Status(changed_trial.status().code(), "changed_query: " + changed_trial.status().message());
    }
  }
  return std::unique_ptr<Connector>(std::move(c));
}

Status PostgresConnector::ConnectLocked() {
  DropLocked();
  const PostgresSourceConfig& pg = config_.postgres;
  const std::string port = std::to_string(pg.port);
  // libpq takes whole seconds, at least 2.
  const std::string connect_timeout =
      std::to_string(std::max<int64_t>(2, (pg.connect_timeout_ms + 999) / 1000));
  const std::string options =
      "-c default_transaction_read_only=on -c statement_timeout=" + std::to_string(config_.timeout_ms) +
      " -c idle_in_transaction_session_timeout=" +
      std::to_string(std::max<int64_t>(config_.timeout_ms * 2, 10'000));
  std::vector<const char*> keys, values;
  // Every value must outlive PQconnectdbParams: only named strings, no temporaries.
  auto add = [&](const char* key, const std::string& value) {
    if (value.empty()) return;
    keys.push_back(key);
    values.push_back(value.c_str());
  };
  add("host", pg.host);
  add("port", port);
  add("dbname", pg.dbname);
  add("user", pg.user);
  add("sslmode", pg.sslmode);
  add("sslrootcert", pg.sslrootcert);
  // Without a configured client certificate libpq would send whatever
  // ~/.postgresql/postgresql.crt holds (and fail when it cannot read it): only
  // what the config names is used. A path under /proc/self cannot exist, and a
  // missing file means "no client certificate" to libpq.
  const std::string no_client_certificate = "/proc/self/ketenpoort-no-client-certificate";
  add("sslcert", pg.sslcert.empty() ? no_client_certificate : pg.sslcert);
  add("sslkey", pg.sslkey);
  add("connect_timeout", connect_timeout);
  add("options", options);
  const std::string application_name = "ketenpoort-agent", client_encoding = "UTF8";
  add("application_name", application_name);
  add("client_encoding", client_encoding);
  if (!password_.empty()) {
    keys.push_back("password");
    values.push_back(reinterpret_cast<const char*>(password_.data()));
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  PGconn* conn = PQconnectdbParams(keys.data(), values.data(), /*expand_dbname=*/0);
  if (conn == nullptr) return UnavailableError("source unavailable: " + describe_ + ": out of memory");
  if (PQstatus(conn) != CONNECTION_OK) {
    const std::string message = OneLine(PQerrorMessage(conn));
    PQfinish(conn);
    return UnavailableError("source unavailable: cannot connect to " + describe_ + ": " + message);
  }
  PQsetNoticeProcessor(conn, IgnoreNotice, nullptr);
  conn_ = conn;
  ++connections_made_;
  return OkStatus();
}

void PostgresConnector::DropLocked() {
  if (conn_ != nullptr) PQfinish(conn_);
  conn_ = nullptr;
}

Result<std::vector<Record>> PostgresConnector::Query(const SubjectQuery& subject) {
  std::vector<const char*> values;
  for (auto field : params_) values.push_back((subject.*field).c_str());
  std::lock_guard<std::mutex> lock(mu_);
  return RunWithRetry(config_.query, values);
}

Result<std::vector<Record>> PostgresConnector::RunWithRetry(const std::string& sql,
                                                            const std::vector<const char*>& values) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(config_.timeout_ms);
  for (int attempt = 0;; ++attempt) {
    bool fresh = false;
    if (conn_ == nullptr) {
      KP_RETURN_IF_ERROR(ConnectLocked());
      fresh = true;
    }
    auto records = RunLocked(sql, values, /*trial=*/false, deadline);
    // A kept connection found lost (the server restarted, an idle connection
    // was cut): once more on a new one. Never after a timeout.
    if (records.ok() || fresh || attempt > 0 || conn_ != nullptr ||
        records.status().code() == StatusCode::kDeadlineExceeded) {
      return records;
    }
  }
}

Result<std::vector<Record>> PostgresConnector::RunLocked(const std::string& sql,
                                                         const std::vector<const char*>& values, bool trial,
                                                         Clock::time_point deadline) {
  // Whatever goes wrong below, a connection in doubt is not used again.
  auto fail = [&](Status status) -> Result<std::vector<Record>> {
    if (conn_ != nullptr &&
        (PQstatus(conn_) != CONNECTION_OK || PQtransactionStatus(conn_) != PQTRANS_IDLE)) {
      DropLocked();
    }
    return status;
  };
  auto begin = Exec(conn_, "BEGIN READ ONLY", {}, deadline, describe_);
  if (!begin.ok()) {
    DropLocked();
    return begin.status();
  }
  if (PQresultStatus(begin->get()) != PGRES_COMMAND_OK) {
    DropLocked();
    return UnavailableError("source unavailable: " + describe_ +
                            " refused to begin a read-only transaction (SQLSTATE " + SqlState(begin->get()) +
                            ")");
  }

  auto result = Exec(conn_, sql, values, deadline, describe_);
  if (!result.ok()) {
    DropLocked();
    if (result.status().code() == StatusCode::kDeadlineExceeded) {
      return DeadlineExceededError("source " + describe_ + " timed out after " +
                                   std::to_string(config_.timeout_ms) + " ms");
    }
    return result.status();
  }
  std::optional<Status> problem;
  std::vector<Record> records;
  PGresult* r = result->get();
  const ExecStatusType status = PQresultStatus(r);
  if (status == PGRES_TUPLES_OK) {
    const int columns = PQnfields(r);
    const int rows = PQntuples(r);
    std::set<std::string> names;
    for (int col = 0; col < columns && !problem; ++col) {
      const char* name = PQfname(r, col);
      if (!names.insert(name != nullptr ? name : "").second) {
        problem =
            InvalidArgumentError("the query on " + describe_ + " returns column '" + (name ? name : "") +
                                 "' twice; give every column its own name (... AS name)");
      } else if (PQftype(r, col) == kByteaOid) {
        problem =
            InvalidArgumentError("column '" + std::string(name ? name : "?") + "' of the query on " +
                                 describe_ + " is bytea; only text, numbers, dates and booleans can be sent");
      }
    }
    if (!problem && columns == 0) {
      problem = InvalidArgumentError("the query on " + describe_ + " returns no columns; expected a SELECT");
    }
    size_t bytes = 0;
    for (int row = 0; row < rows && !problem; ++row) {
      Record record;
      for (int col = 0; col < columns; ++col) {
        if (PQgetisnull(r, row, col) != 0) continue;
        std::string value(PQgetvalue(r, row, col), static_cast<size_t>(PQgetlength(r, row, col)));
        if (PQftype(r, col) == kBoolOid) value = value == "t" ? "true" : "false";
        bytes += value.size();
        record.emplace_back(PQfname(r, col), std::move(value));
      }
      if (bytes > config_.max_output_bytes) {
        problem = InvalidArgumentError("the answer of " + describe_ + " exceeds " +
                                       std::to_string(config_.max_output_bytes) + " bytes");
        break;
      }
      records.push_back(std::move(record));
    }
  } else if (status == PGRES_COMMAND_OK) {
    problem = InvalidArgumentError("the query on " + describe_ + " returns no rows; expected a SELECT");
  } else {
    const std::string state = SqlState(r);
    if (state == "25006") {
      problem = InvalidArgumentError("the query on " + describe_ +
                                     " tried to change the database; only a read-only SELECT is allowed");
    } else if (state == "57014") {
      problem = DeadlineExceededError("source " + describe_ + " timed out after " +
                                      std::to_string(config_.timeout_ms) + " ms (statement_timeout)");
    } else if (trial) {
      // The trial run binds no subject: PostgreSQL's message names only the SQL.
      problem = InvalidArgumentError("the query on " + describe_ +
                                     " does not run: " + OneLine(PQresultErrorMessage(r)));
    } else {
      // Its message may quote a bound value (personal data): only the code.
      problem = UnavailableError("source unavailable: the query on " + describe_ + " failed with SQLSTATE " +
                                 (state.empty() ? std::string("unknown") : state));
    }
  }
  result->reset();

  // ROLLBACK: nothing the statement did (even a session setting) stays.
  auto end = Exec(conn_, "ROLLBACK", {}, deadline, describe_);
  if (!end.ok() || PQresultStatus(end->get()) != PGRES_COMMAND_OK) {
    DropLocked();
    if (!problem) {
      problem = end.ok()
                    ? UnavailableError("source unavailable: " + describe_ + " could not end the transaction")
                    : end.status();
    }
  }
  if (problem) return fail(*problem);
  return records;
}

}  // namespace kp::agent

// Built as the module ketenpoort-connector-postgres.so (connector_module.h).
KP_CONNECTOR_MODULE("postgres", kp::agent::PostgresConnector::Create)

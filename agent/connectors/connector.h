// Connector: how the partner agent reads the partner's own data source for one
// category (docs/agent.md "Data sources"). Five kinds exist: a read-only
// SQLite query, a folder of JSON files (one per subject), a command the
// partner provides (run without a shell, the subject as JSON on its stdin,
// records as JSON on its stdout), a read-only PostgreSQL query
// (postgres_connector.h) and an HTTPS REST/JSON service (https_connector.h).
// The last two live in connector modules, loaded only when configured
// (connector_module.h): their libraries (libpq, libcurl) are not linked here.
//
// A connector answers completely or not at all: on any error Query returns no
// records, so the agent sends nothing rather than an incomplete fragment.
//
// Subject identifiers and record content are personal data. No message of a
// Status returned here, and nothing this library logs, ever contains them:
// messages name files, folders, programs, exit codes and sizes only. (For
// json-files the file name is the subject key, so only the folder is named.)
//
// Every Connector is thread-safe: Query may be called from several threads.
#ifndef KETENPOORT_AGENT_CONNECTORS_CONNECTOR_H_
#define KETENPOORT_AGENT_CONNECTORS_CONNECTOR_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/base/status.h"

namespace kp::agent {

// Who to look up: identifiers the coordinator sent sealed. Personal data:
// never log it, never put it in a Status message.
struct SubjectQuery {
  std::string ref;
  std::string role;
  std::string bsn;
  std::string name;
  std::string date_of_birth;
};

// One record about one subject: field -> value pairs in the source's order.
// Every value is text (numbers converted, booleans "true"/"false"); a null
// field is absent, never an empty string.
using Record = std::vector<std::pair<std::string, std::string>>;

// A PostgreSQL source (postgres_connector.h; docs/agent.md "Data sources").
struct PostgresSourceConfig {
  std::string host;  // a host name or address, or the folder of a unix socket (/var/run/postgresql)
  int64_t port = 5432;
  std::string dbname;
  std::string user;
  std::string password_file;  // the password alone, mode 0600; none: libpq's ~/.pgpass or PGPASSFILE
  std::string sslmode =
      "verify-full";        // disable | require | verify-ca | verify-full (ignored on a unix socket)
  std::string sslrootcert;  // the CA that signed the server's certificate (verify-ca/verify-full)
  std::string sslcert;      // a client certificate, optional
  std::string sslkey;       // its key, mode 0600
  int64_t connect_timeout_ms = 5000;
  // $1, $2, ... of the query in order: each one a subject field (bsn, name,
  // date_of_birth, ref, role).
  std::vector<std::string> params;
  // Watches (with ConnectorConfig::changed_query): $1, $2, ... of the
  // changed_query, each a subject field or `since` (ms since 1970, as text).
  std::vector<std::string> changed_params;
};

// An HTTPS REST/JSON source (https_connector.h; docs/agent.md "Data sources").
struct HttpsSourceConfig {
  std::string url;          // https://host[:port]/path; the subject is POSTed as JSON
  std::string ca_file;      // pinned: the only CA trusted for the server (no system CAs)
  std::string client_cert;  // PEM: this agent's client certificate
  std::string client_key;   // PEM: its key, mode 0600
  int64_t connect_timeout_ms = 5000;
};

struct ConnectorConfig {
  enum class Kind { kSqlite, kJsonFiles, kCommand, kPostgres, kHttps } kind = Kind::kSqlite;

  // sqlite
  std::string database;  // the SQLite file, opened read-only (and PRAGMA query_only=1)
  std::string query;     // one SELECT with named parameters :bsn :name :date_of_birth :ref :role
  // Watches (docs/agent.md "Watches"): one SELECT with the same parameters
  // and :since (ms since 1970) that returns a row for each record changed
  // after :since; a column changed_at_ms, when present, says when. Optional.
  std::string changed_query;

  // json-files
  std::string folder;       // one file per subject: FOLDER/<key value>.json
  std::string key = "bsn";  // the subject field that names the file: bsn | ref | role | name | date_of_birth

  // command
  std::vector<std::string> argv;      // program (absolute path) and arguments; no shell, no PATH search
  int64_t timeout_ms = 5000;          // also postgres (per query) and https (per request)
  size_t max_output_bytes = 1 << 20;  // also postgres (the values' bytes) and https (the body)

  // postgres (with query: one SELECT with $1, $2, ... for postgres.params)
  PostgresSourceConfig postgres;
  // https
  HttpsSourceConfig https;
};

// The largest JSON file a json-files source may hold for one subject.
inline constexpr size_t kMaxJsonFileBytes = 4 << 20;

class Connector {
 public:
  virtual ~Connector() = default;

  // All records this source holds about the subject for this connector's
  // category; an empty vector means none were found, which is a complete
  // answer. Errors (never with partial records):
  //   Unavailable ("source unavailable: ...") when the source cannot be read;
  //   DeadlineExceeded when it took too long;
  //   InvalidArgument when its output is malformed, or when the subject's key
  //   cannot name a json-files file.
  virtual Result<std::vector<Record>> Query(const SubjectQuery& subject) = 0;

  // How many connections this source has opened so far (postgres, https:
  // for tests of connection reuse, which reach a connector made by its
  // module only through this interface); 0 for the kinds that open none.
  virtual int64_t connections_made() const { return 0; }

  // What the source is, for logs and `ketenpoort-agent check`, e.g.
  // "sqlite /var/lib/x.db". Never personal data.
  virtual std::string Describe() const = 0;

  // For a watch: whether the source holds records about the subject for
  // this category that changed after `since_ms` (ms since 1970). Returns the
  // latest change time, or nullopt when nothing changed. Unimplemented when
  // this source cannot tell (a sqlite source without changed_query). Same
  // errors, and the same rule about personal data, as Query.
  virtual Result<std::optional<int64_t>> ChangedSince(const SubjectQuery& subject, int64_t since_ms) {
    (void)subject;
    (void)since_ms;
    return UnimplementedError("source " + Describe() + " cannot say what changed (no changed_query)");
  }
};

// Builds the connector and checks what can be checked before the first query:
// sqlite opens the database and prepares the query now (a missing file is
// Unavailable; bad SQL, a missing table, a statement that can write or an
// unknown parameter name is InvalidArgument, with SQLite's message); json-files
// checks that the folder exists; command checks that the program can be run;
// postgres connects and runs the query once with NULL parameters in a
// read-only transaction; https checks its certificate and key files.
// postgres and https are made by their connector module from `module_dir`
// (empty: ConnectorModuleDir(), the agent's own; connector_module.h), which
// is FailedPrecondition when the module is missing or of another build.
Result<std::unique_ptr<Connector>> MakeConnector(const ConnectorConfig& config,
                                                 const std::string& module_dir = "");

// The output format shared by json-files and command sources: one JSON object
// (one record) or an array of objects (any number of records, [] for none).
// Each object's members become the record's fields in the text's order:
// strings as they are, numbers as text, booleans "true"/"false", null absent.
// A nested object or array, a field named twice, or anything that is not such
// JSON is InvalidArgument; the message describes the problem without quoting
// the text. Safe on any input (fuzzed: records_json_fuzz).
Result<std::vector<Record>> ParseRecordsJson(std::string_view text);

}  // namespace kp::agent

#endif  // KETENPOORT_AGENT_CONNECTORS_CONNECTOR_H_

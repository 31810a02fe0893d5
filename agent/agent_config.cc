#include "agent/agent_config.h"

#include <filesystem>
#include <utility>

#include "core/base/file_util.h"
#include "core/config/key_table.h"

namespace kp::agent {

namespace {

using config::KeyTable;
using config::Need;
using config::Node;
using config::Reader;

constexpr int64_t kMaxCommandTimeoutMs = 3'600'000;
constexpr uint64_t kMaxCommandOutputBytes = uint64_t{256} << 20;

// A command's `argv:` (a source's) or `command:` (the sink's): the program,
// then its arguments, no shell; the program taken from the config's folder,
// the other arguments as written. Returns nullopt when anything was reported.
std::optional<std::vector<std::string>> ReadArgv(const Node& value, const std::string& dotted, Reader& r) {
  if (!value.IsSequence() || value.size() == 0) {
    r.Error(value, dotted + " must be a list: the program, then its arguments");
    return std::nullopt;
  }
  std::vector<std::string> argv;
  for (const Node& arg : value.Items()) {
    auto text = r.Text(arg, "each entry of " + dotted);
    if (!text) return std::nullopt;
    argv.push_back(*text);
  }
  if (argv[0].empty()) {
    r.Error(value, dotted + ": the program must not be empty");
    return std::nullopt;
  }
  argv[0] = r.ResolvePath(argv[0]);
  return argv;
}

// The keys of a postgres or an https source (docs/agent.md "Data sources"),
// declared on the source's table; paths are taken from the config's folder.
void ReadNetworkSource(const std::string& kind, KeyTable* table, ConnectorConfig* c) {
  auto max_output = [c](const Node& value, const std::string& dotted, Reader& r) {
    if (auto bytes = r.SizeBytes(value, dotted, 1, kMaxCommandOutputBytes)) c->max_output_bytes = *bytes;
  };
  if (kind == "postgres") {
    c->kind = ConnectorConfig::Kind::kPostgres;
    PostgresSourceConfig& pg = c->postgres;
    table->Text("host", &pg.host, Need::kOptional, "the database server, or the folder of its unix socket")
        .Int("port", &pg.port, 1, 65535, Need::kOptional, "the server's port")
        .Text("dbname", &pg.dbname, Need::kRequired, "the database")
        .Text("user", &pg.user, Need::kRequired, "the database role (give it SELECT rights only)")
        .Path("password_file", &pg.password_file, Need::kOptional,
              "a file (mode 0600) holding the password alone; none: ~/.pgpass or PGPASSFILE")
        .Custom(
            "sslmode", "text",
            [&pg](const Node& value, const std::string& dotted, Reader& r) {
              auto v = r.Text(value, dotted);
              if (!v) return;
              if (*v != "verify-full" && *v != "verify-ca" && *v != "require" && *v != "disable") {
                r.Error(value, dotted + " " + config::Quote(*v) +
                                   " is not one of: verify-full, verify-ca, require, disable");
                return;
              }
              pg.sslmode = *v;
            },
            Need::kOptional, "TLS to the server: verify-full, verify-ca, require or disable")
        .Path("sslrootcert", &pg.sslrootcert, Need::kOptional, "the CA file of the server's certificate")
        .Path("sslcert", &pg.sslcert, Need::kOptional, "this agent's client certificate, optional")
        .Path("sslkey", &pg.sslkey, Need::kOptional, "the client certificate's key (mode 0600)")
        .Text("query", &c->query, Need::kRequired, "one SELECT with $1, $2, ... for the params")
        .Custom(
            "params", "list of subject fields",
            [&pg](const Node& value, const std::string& dotted, Reader& r) {
              if (!value.IsSequence()) {
                r.Error(value, dotted + " must be a list of subject fields, e.g. [bsn, date_of_birth]");
                return;
              }
              for (const Node& item : value.Items()) {
                auto v = r.Text(item, "each entry of " + dotted);
                if (!v) return;
                if (*v != "bsn" && *v != "ref" && *v != "role" && *v != "name" && *v != "date_of_birth") {
                  r.Error(item, dotted + " " + config::Quote(*v) +
                                    " is not a subject field (bsn, ref, role, name or date_of_birth)");
                  return;
                }
                pg.params.push_back(*v);
              }
            },
            Need::kOptional, "the subject field bound to $1, $2, ... in order")
        .Text("changed_query", &c->changed_query, Need::kOptional,
              "for watches: one SELECT that returns the records changed since $n (changed_params)")
        .Custom(
            "changed_params", "list of subject fields and since",
            [&pg](const Node& value, const std::string& dotted, Reader& r) {
              if (!value.IsSequence()) {
                r.Error(value, dotted + " must be a list, e.g. [bsn, since]");
                return;
              }
              for (const Node& item : value.Items()) {
                auto v = r.Text(item, "each entry of " + dotted);
                if (!v) return;
                if (*v != "bsn" && *v != "ref" && *v != "role" && *v != "name" && *v != "date_of_birth" &&
                    *v != "since") {
                  r.Error(item,
                          dotted + " " + config::Quote(*v) +
                              " is not a subject field (bsn, ref, role, name or date_of_birth) or since");
                  return;
                }
                pg.changed_params.push_back(*v);
              }
            },
            Need::kOptional,
            "what changed_query binds to $1, $2, ...: subject fields and since (ms since 1970)")
        .Duration("connect_timeout", &pg.connect_timeout_ms, Need::kOptional, "how long connecting may take",
                  1, kMaxCommandTimeoutMs)
        .Duration("timeout", &c->timeout_ms, Need::kOptional, "how long one query may take", 1,
                  kMaxCommandTimeoutMs)
        .Custom("max_output", "size", max_output, Need::kOptional, "the most bytes of values in one answer");
  } else {
    c->kind = ConnectorConfig::Kind::kHttps;
    HttpsSourceConfig& h = c->https;
    table->Text("url", &h.url, Need::kRequired, "https://host/path; the subject is POSTed there as JSON")
        .Path("ca_file", &h.ca_file, Need::kRequired, "the only CA trusted for the server (no system CAs)")
        .Path("client_cert", &h.client_cert, Need::kRequired, "this agent's client certificate (PEM)")
        .Path("client_key", &h.client_key, Need::kRequired, "its key (PEM, mode 0600)")
        .Duration("connect_timeout", &h.connect_timeout_ms, Need::kOptional, "how long connecting may take",
                  1, kMaxCommandTimeoutMs)
        .Duration("timeout", &c->timeout_ms, Need::kOptional, "how long one request may take", 1,
                  kMaxCommandTimeoutMs)
        .Custom("max_output", "size", max_output, Need::kOptional, "the largest answer read (default 1MiB)");
  }
}

// The `source:` of one category; its keys depend on its kind
// (docs/agent.md "Data sources"). Paths are taken from the config's folder,
// and so is the program of a command (argv[0]); other arguments are passed as
// written. Returns nullopt when anything was reported.
std::optional<ConnectorConfig> ReadSource(const Node& node, const std::string& key, Reader& reader) {
  if (!node.IsMap()) {
    reader.Error(node, key + " must hold 'key: value' lines like {kind: sqlite, database: ..., query: ...}");
    return std::nullopt;
  }
  std::optional<Node> kind_node;
  for (const auto& [k, v] : node.Entries()) {
    if (k.IsScalar() && k.Scalar() == "kind" && !kind_node) kind_node = v;
  }
  if (!kind_node) {
    reader.Error(node, key + " lacks required key 'kind' (sqlite, json-files, command, postgres or https)");
    return std::nullopt;
  }
  ConnectorConfig c;
  std::string kind;
  KeyTable table(key);
  table.Text("kind", &kind, Need::kRequired, "sqlite, json-files, command, postgres or https");
  if (kind_node->Scalar() == "sqlite") {
    c.kind = ConnectorConfig::Kind::kSqlite;
    table.Path("database", &c.database, Need::kRequired, "the SQLite file, opened read-only")
        .Text("query", &c.query, Need::kRequired, "one SELECT with parameters such as :bsn")
        .Text("changed_query", &c.changed_query, Need::kOptional,
              "for watches: one SELECT with :since that returns the records changed since then");
  } else if (kind_node->Scalar() == "json-files") {
    c.kind = ConnectorConfig::Kind::kJsonFiles;
    table.Path("folder", &c.folder, Need::kRequired, "the folder that holds <key>.json files")
        .Custom(
            "key", "subject field",
            [&c](const Node& value, const std::string& dotted, Reader& r) {
              auto v = r.Text(value, dotted);
              if (!v) return;
              if (*v != "bsn" && *v != "ref" && *v != "role" && *v != "name" && *v != "date_of_birth") {
                r.Error(value, dotted + " " + config::Quote(*v) +
                                   " is not a subject field (bsn, ref, role, name or date_of_birth)");
                return;
              }
              c.key = *v;
            },
            Need::kOptional, "the subject field that names the file (default bsn)");
  } else if (kind_node->Scalar() == "command") {
    c.kind = ConnectorConfig::Kind::kCommand;
    table
        .Custom(
            "argv", "list of text",
            [&c](const Node& value, const std::string& dotted, Reader& r) {
              if (auto argv = ReadArgv(value, dotted, r)) c.argv = std::move(*argv);
            },
            Need::kRequired, "the program and its arguments, e.g. [/usr/local/bin/x, --y]; no shell")
        .Duration("timeout", &c.timeout_ms, Need::kOptional, "how long the program may take", 1,
                  kMaxCommandTimeoutMs)
        .Custom(
            "max_output", "size",
            [&c](const Node& value, const std::string& dotted, Reader& r) {
              if (auto bytes = r.SizeBytes(value, dotted, 1, kMaxCommandOutputBytes))
                c.max_output_bytes = *bytes;
            },
            Need::kOptional, "the most output read from the program (default 1MiB)");
  } else if (kind_node->Scalar() == "postgres" || kind_node->Scalar() == "https") {
    ReadNetworkSource(kind_node->Scalar(), &table, &c);
  } else {
    reader.Error(*kind_node, key + ".kind must be one of: sqlite, json-files, command, postgres, https");
    return std::nullopt;
  }
  const size_t before = reader.diagnostics().size();
  (void)table.Read(node, reader, key);
  if (reader.diagnostics().size() != before) return std::nullopt;
  return c;
}

// categories: {<category id>: {source: {...}}, ...}
void ReadCategories(const Node& node, const std::string& key, Reader& reader, AgentConfig* c) {
  if (!node.IsMap() || node.size() == 0) {
    reader.Error(node, key + " must map each category id to its source");
    return;
  }
  for (const auto& [id_node, value] : node.Entries()) {
    auto id = reader.Id(id_node, "category id");
    if (!id) continue;
    if (c->sources.count(*id) > 0) {
      reader.Error(id_node, "duplicate key " + config::Quote(*id) + " in " + key);
      continue;
    }
    std::optional<ConnectorConfig> source;
    KeyTable category(key + "." + *id);
    category.Custom(
        "source", "mapping",
        [&](const Node& v, const std::string& dotted, Reader& r) { source = ReadSource(v, dotted, r); },
        Need::kRequired,
        "where the agent reads this category: kind sqlite, json-files, command, postgres or https");
    (void)category.Read(value, reader, key + "." + *id);
    // An entry that could not be read still takes its id, so a second one is a duplicate.
    c->sources.emplace(*id, source.value_or(ConnectorConfig{}));
  }
}

}  // namespace

Result<AgentConfig> ParseAgentConfig(const std::string& text, const std::string& path) {
  AgentConfig c;
  config::Diagnostics problems(path);
  Reader reader(&problems, std::filesystem::path(path).parent_path().string());
  std::vector<std::string> disabled_categories;
  std::vector<std::string> approve_categories;
  SubjectQuery subject;
  KeyTable table("the agent configuration");
  table.Path("identity", &c.identity, Need::kRequired, "the agent's secret identity file")
      .Table("gateway",
             KeyTable("gateway")
                 .Text("endpoint", &c.gateway_endpoint, Need::kRequired,
                       "where the gateway listens, e.g. tcp://gateway.zvh.local:7400")
                 .Path("card", &c.gateway_card, Need::kRequired, "the gateway's public card, pinned")
                 .Text("log_origin", &c.gateway_log_origin, Need::kOptional,
                       "names the gateway's log in its checkpoints (as in its config)"),
             Need::kRequired, "where the gateway is and its pinned card")
      .Path("enrolment_card", &c.enrolment_card, Need::kRequired, "the region's enrolment card, pinned")
      .Path("registry", &c.registry, Need::kOptional,
            "the folder of cards and registry.signed (optional: without it, fetched from the gateway)")
      .Path(
          "policy", &c.policy, Need::kOptional,
          "the same policy file the gateway uses (optional: without it, the signed bundle from the gateway)")
      .Path("data_dir", &c.data_dir, Need::kRequired,
            "the agent's own disclosure log, receipts and checkpoints")
      .Text("log_level", &c.log_level, Need::kOptional, "trace, debug, info, warn or error")
      .Text("log_origin", &c.log_origin, Need::kOptional,
            "origin line of the agent's own log (default ketenpoort.<partner>/agent-audit)")
      .Duration("replay_window", &c.replay_window_ms, Need::kOptional, "the clock difference allowed")
      .Duration("heartbeat_interval", &c.heartbeat_interval_ms, Need::kOptional,
                "how often the gateway is pinged")
      .Duration("watch_interval", &c.watch_interval_ms, Need::kOptional,
                "how often watched sources are asked what changed (default 30s)")
      .Duration("peer_timeout", &c.peer_timeout_ms, Need::kOptional,
                "nothing from the gateway this long: reconnect")
      .Custom(
          "management", "address",
          [&c](const config::Node& value, const std::string& key, config::Reader& r) {
            auto v = r.Text(value, key);
            if (!v) return;
            auto address = observe::ParseManagementAddress(*v);
            if (!address.ok()) return r.Error(value, key + ": " + address.status().message());
            c.management = *address;
            c.management_explicit = true;
          },
          Need::kOptional, "GET /status and /metrics: HOST:PORT (default 127.0.0.1:9471) or off")
      .Duration("reconnect_min", &c.reconnect_min_ms, Need::kOptional, "the first wait before reconnecting")
      .Duration("reconnect_max", &c.reconnect_max_ms, Need::kOptional, "the longest wait before reconnecting")
      .Duration("max_request_age", &c.max_request_age_ms, Need::kOptional,
                "the oldest coordinator request still answered")
      .Duration("audit_retention", &c.audit_retention_ms, Need::kOptional,
                "after this, erase-expired may erase a record's body")
      .Duration("approval_time", &c.approval_time_ms, Need::kOptional,
                "how long a request waits for this partner's professional before it expires (default 72h)")
      .Table("restrictions",
             KeyTable("restrictions")
                 .TextList("disabled_categories", &disabled_categories, Need::kOptional,
                           "categories never answered, whatever the policy says")
                 .Bool("always_require_consent", &c.always_require_consent, Need::kOptional,
                       "consent evidence required for every disclosure")
                 .TextList("approve_categories", &approve_categories, Need::kOptional,
                           "categories whose every disclosure waits for this partner's own professional"),
             Need::kOptional, "the partner's own restrictions, on top of the policy")
      .Table("test_subject",
             KeyTable("test_subject")
                 .Text("ref", &subject.ref, Need::kOptional, "the subject's reference")
                 .Text("role", &subject.role, Need::kOptional, "the subject's role")
                 .Text("bsn", &subject.bsn, Need::kOptional, "a made-up BSN")
                 .Text("name", &subject.name, Need::kOptional, "a made-up name")
                 .Text("date_of_birth", &subject.date_of_birth, Need::kOptional, "a made-up date of birth"),
             Need::kOptional, "a made-up subject that `ketenpoort-agent check` looks up in every source")
      .Table(
          "sink",
          KeyTable("sink")
              .Path("folder", &c.sink.folder, Need::kOptional, "a folder where each push becomes <id>.json")
              .Custom(
                  "command", "list of text",
                  [&c](const Node& value, const std::string& dotted, Reader& r) {
                    if (auto argv = ReadArgv(value, dotted, r)) c.sink.argv = std::move(*argv);
                  },
                  Need::kOptional, "a program that gets each push as JSON on stdin; no shell")
              .Duration("timeout", &c.sink.timeout_ms, Need::kOptional, "how long the command may take", 1,
                        kMaxCommandTimeoutMs)
              .Duration("retry", &c.sink.retry_ms, Need::kOptional,
                        "how often a push the sink did not take is offered again"),
          Need::kOptional, "where received pushes go: a folder or a command")
      .Custom(
          "categories", "mapping",
          [&c](const Node& value, const std::string& key, Reader& r) { ReadCategories(value, key, r, &c); },
          Need::kOptional, "one data source per category this agent answers");
  if (auto root = config::ParseYaml(text, problems)) {
    if (auto fields = table.Read(*root, reader)) {
      c.disabled_categories.insert(disabled_categories.begin(), disabled_categories.end());
      c.approve_categories.insert(approve_categories.begin(), approve_categories.end());
      if (fields->Get("test_subject").IsMap()) c.test_subject = subject;
      if (!c.sink.folder.empty() && !c.sink.argv.empty()) {
        reader.Error(fields->Get("sink"), "sink has both a folder and a command; name one");
      }
      config::CheckLonger(*fields, reader, {"peer_timeout", c.peer_timeout_ms},
                          {"heartbeat_interval", c.heartbeat_interval_ms}, /*strictly=*/true);
      config::CheckLonger(*fields, reader, {"reconnect_max", c.reconnect_max_ms},
                          {"reconnect_min", c.reconnect_min_ms}, /*strictly=*/false);
    }
  }
  KP_RETURN_IF_ERROR(problems.TakeStatus("the agent configuration"));
  return c;
}

Result<AgentConfig> LoadAgentConfig(const std::string& path) {
  KP_ASSIGN_OR_RETURN(std::string text, ReadFileBounded(path, 256 * 1024));
  return ParseAgentConfig(text, path);
}

}  // namespace kp::agent

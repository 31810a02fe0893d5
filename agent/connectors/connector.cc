#include "agent/connectors/connector.h"

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <exception>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "agent/connectors/command_connector.h"
#include "agent/connectors/json_files_connector.h"
#include "agent/connectors/sqlite_connector.h"
#include "core/base/duration.h"

namespace kp::agent {
namespace {

// ------------------------------------------------------------ records JSON

// Builds records straight from the parser's events, so that the text's field
// order is kept, a field named twice is noticed, and nesting is refused at the
// first bracket too deep (no document tree, no deep recursion).
class RecordsSax : public nlohmann::json_sax<nlohmann::json> {
 public:
  std::vector<Record> TakeRecords() { return std::move(records_); }
  const std::string& problem() const { return problem_; }

  bool null() override { return Value(std::nullopt); }
  bool boolean(bool val) override { return Value(std::string(val ? "true" : "false")); }
  bool number_integer(number_integer_t val) override { return Value(std::to_string(val)); }
  bool number_unsigned(number_unsigned_t val) override { return Value(std::to_string(val)); }
  // The number as written ("1.50" stays "1.50").
  bool number_float(number_float_t, const string_t& s) override { return Value(s); }
  bool string(string_t& val) override { return Value(std::move(val)); }
  bool binary(binary_t&) override { return Fail("expected text, not binary data"); }

  bool start_object(std::size_t) override {
    if (depth_ == 0 || (depth_ == 1 && top_is_array_)) {
      ++depth_;
      records_.emplace_back();
      names_.clear();
      return true;
    }
    return Fail("a record holds a nested object; values must be text, numbers, booleans or null");
  }
  bool end_object() override {
    --depth_;
    return true;
  }
  bool start_array(std::size_t) override {
    if (depth_ == 0) {
      ++depth_;
      top_is_array_ = true;
      return true;
    }
    if (top_is_array_ && depth_ == 1) return Fail("expected an object for each record, found an array");
    return Fail("a record holds a nested array; values must be text, numbers, booleans or null");
  }
  bool end_array() override {
    --depth_;
    return true;
  }
  bool key(string_t& val) override {
    if (!names_.insert(val).second) return Fail("a record names the same field twice");
    key_ = std::move(val);
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    // The parser's own message quotes the text near the error: not used.
    return Fail("not valid JSON (or not UTF-8)");
  }

 private:
  bool Value(std::optional<std::string> value) {
    const bool in_record = depth_ == 2 || (depth_ == 1 && !top_is_array_);
    if (!in_record) return Fail("expected an object or an array of objects");
    if (value.has_value()) records_.back().emplace_back(std::move(key_), std::move(*value));
    return true;
  }
  bool Fail(std::string problem) {
    if (problem_.empty()) problem_ = std::move(problem);
    return false;
  }

  int depth_ = 0;
  bool top_is_array_ = false;
  std::string key_;
  std::set<std::string> names_;  // of the current record
  std::vector<Record> records_;
  std::string problem_;
};

// ------------------------------------------------------------ configuration

std::string Resolve(const std::string& base_dir, const std::string& path) {
  std::filesystem::path p(path);
  if (p.is_absolute() || base_dir.empty()) return path;
  return (std::filesystem::path(base_dir) / p).lexically_normal().string();
}

constexpr int64_t kMaxTimeoutMs = 3'600'000;
constexpr size_t kMaxOutputLimit = size_t{256} << 20;

// "1MiB", "64KiB", "4096" or "4096B" -> bytes; nullopt above kMaxOutputLimit.
std::optional<size_t> ParseSize(const std::string& text) {
  size_t i = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
  if (i == 0 || i > 12) return std::nullopt;
  const uint64_t n = std::stoull(text.substr(0, i));
  const std::string unit = text.substr(i);
  uint64_t scale = 0;
  if (unit.empty() || unit == "B") scale = 1;
  if (unit == "KiB") scale = uint64_t{1} << 10;
  if (unit == "MiB") scale = uint64_t{1} << 20;
  if (unit == "GiB") scale = uint64_t{1} << 30;
  if (scale == 0 || n > kMaxOutputLimit / scale) return std::nullopt;
  return static_cast<size_t>(n * scale);
}

const std::set<std::string>& SubjectFields() {
  static const std::set<std::string> fields = {"bsn", "ref", "role", "name", "date_of_birth"};
  return fields;
}

// Reads a required or optional non-empty scalar setting.
bool Scalar(const YAML::Node& node, const std::string& name, bool required, const std::string& where,
            const std::string& hint, std::string* out, std::vector<std::string>* problems) {
  const YAML::Node value = node[name];
  if (!value) {
    if (required) problems->push_back(where + ": needs '" + name + ":' (" + hint + ")");
    return false;
  }
  if (!value.IsScalar() || value.Scalar().empty()) {
    problems->push_back(where + "." + name + ": expected " + hint);
    return false;
  }
  *out = value.Scalar();
  return true;
}

void ParseInto(const YAML::Node& node, const std::string& base_dir, const std::string& where,
               ConnectorConfig* config, std::vector<std::string>* problems) {
  if (!node.IsMap()) {
    problems->push_back(where + ": expected a map like {kind: sqlite, database: ..., query: ...}");
    return;
  }
  std::string kind;
  if (!Scalar(node, "kind", true, where, "sqlite, json-files or command", &kind, problems)) return;
  std::set<std::string> allowed = {"kind"};
  if (kind == "sqlite") {
    config->kind = ConnectorConfig::Kind::kSqlite;
    allowed.insert({"database", "query"});
    if (Scalar(node, "database", true, where, "the path of the SQLite file", &config->database, problems)) {
      config->database = Resolve(base_dir, config->database);
    }
    Scalar(node, "query", true, where, "one SELECT with parameters such as :bsn", &config->query, problems);
  } else if (kind == "json-files") {
    config->kind = ConnectorConfig::Kind::kJsonFiles;
    allowed.insert({"folder", "key"});
    if (Scalar(node, "folder", true, where, "the folder that holds <key>.json files", &config->folder,
               problems)) {
      config->folder = Resolve(base_dir, config->folder);
    }
    if (Scalar(node, "key", false, where, "bsn, ref, role, name or date_of_birth", &config->key, problems) &&
        SubjectFields().count(config->key) == 0) {
      problems->push_back(where + ".key: '" + config->key +
                          "' is not a subject field (bsn, ref, role, name or date_of_birth)");
    }
  } else if (kind == "command") {
    config->kind = ConnectorConfig::Kind::kCommand;
    allowed.insert({"argv", "timeout", "max_output"});
    const YAML::Node argv = node["argv"];
    if (!argv) {
      problems->push_back(where +
                          ": needs 'argv:' (the program and its arguments, e.g. [/usr/local/bin/x, --y])");
    } else if (!argv.IsSequence() || argv.size() == 0) {
      problems->push_back(where + ".argv: expected a list: the program, then its arguments");
    } else {
      for (const auto& arg : argv) {
        if (!arg.IsScalar()) {
          problems->push_back(where + ".argv: every element must be a plain string");
          config->argv.clear();
          break;
        }
        config->argv.push_back(arg.Scalar());
      }
      if (!config->argv.empty() && config->argv[0].empty()) {
        problems->push_back(where + ".argv: the program must not be empty");
      } else if (!config->argv.empty()) {
        config->argv[0] = Resolve(base_dir, config->argv[0]);
      }
    }
    std::string text;
    if (Scalar(node, "timeout", false, where, "a duration such as 5s or 500ms", &text, problems)) {
      auto ms = ParseDurationMs(text);
      if (!ms.ok() || *ms <= 0 || *ms > kMaxTimeoutMs) {
        problems->push_back(where + ".timeout: '" + text +
                            "' is not a duration between 1ms and 1h (e.g. 5s)");
      } else {
        config->timeout_ms = *ms;
      }
    }
    if (Scalar(node, "max_output", false, where, "a size such as 1MiB or 64KiB", &text, problems)) {
      auto bytes = ParseSize(text);
      if (!bytes.has_value() || *bytes == 0 || *bytes > kMaxOutputLimit) {
        problems->push_back(where + ".max_output: '" + text +
                            "' is not a size between 1 byte and 256MiB (e.g. 1MiB, 64KiB or 4096)");
      } else {
        config->max_output_bytes = *bytes;
      }
    }
  } else {
    problems->push_back(where + ".kind: '" + kind + "' is not one of sqlite, json-files, command");
    return;
  }
  for (const auto& kv : node) {
    const std::string name = kv.first.IsScalar() ? kv.first.Scalar() : "?";
    if (allowed.count(name) == 0) {
      problems->push_back(where + "." + name + ": unknown setting for a " + kind + " source");
    }
  }
}

}  // namespace

Result<std::vector<Record>> ParseRecordsJson(std::string_view text) {
  RecordsSax sax;
  bool ok = false;
  try {
    ok = nlohmann::json::sax_parse(text.begin(), text.end(), &sax, nlohmann::json::input_format_t::json,
                                   /*strict=*/true);
  } catch (const std::exception&) {
    // The message may quote the text; a generic problem is reported instead.
    ok = false;
  }
  if (!ok) {
    return InvalidArgumentError(sax.problem().empty() ? std::string("not valid JSON") : sax.problem());
  }
  return sax.TakeRecords();
}

std::optional<ConnectorConfig> ParseConnectorConfig(const YAML::Node& node, const std::string& base_dir,
                                                    const std::string& where,
                                                    std::vector<std::string>* problems) {
  const size_t before = problems->size();
  ConnectorConfig config;
  try {
    ParseInto(node, base_dir, where, &config, problems);
  } catch (const std::exception& e) {
    problems->push_back(where + ": " + e.what());
  }
  if (problems->size() != before) return std::nullopt;
  return config;
}

Result<std::unique_ptr<Connector>> MakeConnector(const ConnectorConfig& config) {
  switch (config.kind) {
    case ConnectorConfig::Kind::kSqlite:
      return SqliteConnector::Create(config);
    case ConnectorConfig::Kind::kJsonFiles:
      return JsonFilesConnector::Create(config);
    case ConnectorConfig::Kind::kCommand:
      return CommandConnector::Create(config);
  }
  return InvalidArgumentError("unknown data source kind");
}

}  // namespace kp::agent

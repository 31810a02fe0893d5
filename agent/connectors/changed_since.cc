// Connector::ChangedSince for the three kinds of source: what a watch asks
// (docs/agent.md "Watches"). Like Query, nothing here logs or returns
// subject identifiers or record content.
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <mutex>
#include <set>

#include "agent/connectors/command_connector.h"
#include "agent/connectors/json_files_connector.h"
#include "agent/connectors/sqlite_connector.h"

namespace kp::agent {
namespace {

std::string SubjectQuery::*ChangedParameter(const std::string& name, bool* since) {
  *since = name == ":since";
  if (name == ":bsn") return &SubjectQuery::bsn;
  if (name == ":name") return &SubjectQuery::name;
  if (name == ":date_of_birth") return &SubjectQuery::date_of_birth;
  if (name == ":ref") return &SubjectQuery::ref;
  if (name == ":role") return &SubjectQuery::role;
  return nullptr;
}

// The largest changed_at_ms of the records, or `fallback` when none has one.
int64_t LatestChange(const std::vector<Record>& records, int64_t fallback) {
  int64_t latest = 0;
  for (const auto& r : records) {
    for (const auto& [field, value] : r) {
      if (field != "changed_at_ms") continue;
      int64_t v = 0;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
      if (ec == std::errc() && end == value.data() + value.size()) latest = std::max(latest, v);
    }
  }
  return latest > 0 ? latest : fallback;
}

int64_t NowMillis() {
  struct timespec ts {};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1'000'000;
}

}  // namespace

// ------------------------------------------------------------------ sqlite

Status SqliteConnector::PrepareChanged(const std::string& sql) {
  const char* tail = nullptr;
  const std::string what = "the changed_query on " + database_;
  int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                              &changed_stmt_, &tail);
  if (rc != SQLITE_OK) {
    const std::string message = what + " does not prepare: " + sqlite3_errmsg(db_);
    if ((rc & 0xff) == SQLITE_ERROR) return InvalidArgumentError(message);
    return UnavailableError("source unavailable: " + message);
  }
  if (changed_stmt_ == nullptr) return InvalidArgumentError(what + " is empty");
  if (tail != nullptr && *tail != '\0') {
    sqlite3_stmt* next = nullptr;
    rc = sqlite3_prepare_v2(db_, tail, -1, &next, nullptr);
    sqlite3_finalize(next);
    if (rc != SQLITE_OK || next != nullptr) return InvalidArgumentError(what + " must be exactly one statement");
  }
  if (sqlite3_stmt_readonly(changed_stmt_) == 0) {
    return InvalidArgumentError(what + " can change the database; only a read-only SELECT is allowed");
  }
  if (sqlite3_column_count(changed_stmt_) == 0) return InvalidArgumentError(what + " returns no columns");
  bool has_since = false;
  const int params = sqlite3_bind_parameter_count(changed_stmt_);
  for (int i = 1; i <= params; ++i) {
    const char* name = sqlite3_bind_parameter_name(changed_stmt_, i);
    bool since = false;
    auto field = name != nullptr ? ChangedParameter(name, &since) : nullptr;
    if (field == nullptr && !since) {
      return InvalidArgumentError(what + " uses parameter " + (name != nullptr ? std::string(name) : "?") +
                                  "; only :since, :bsn, :name, :date_of_birth, :ref and :role can be bound");
    }
    has_since |= since;
    changed_params_.push_back(field);
  }
  if (!has_since) return InvalidArgumentError(what + " must use :since (ms since 1970) to find what changed");
  return OkStatus();
}

Result<std::optional<int64_t>> SqliteConnector::ChangedSince(const SubjectQuery& subject, int64_t since_ms) {
  if (changed_stmt_ == nullptr) return Connector::ChangedSince(subject, since_ms);
  std::lock_guard<std::mutex> lock(mu_);
  struct Reset {
    sqlite3_stmt* s;
    ~Reset() {
      sqlite3_reset(s);
      sqlite3_clear_bindings(s);
    }
  } reset{changed_stmt_};
  for (size_t i = 0; i < changed_params_.size(); ++i) {
    const int index = static_cast<int>(i + 1);
    int rc;
    if (changed_params_[i] == nullptr) {
      rc = sqlite3_bind_int64(changed_stmt_, index, since_ms);
    } else {
      const std::string& value = subject.*changed_params_[i];
      rc = sqlite3_bind_text64(changed_stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
    }
    if (rc != SQLITE_OK) {
      return UnavailableError("source unavailable: cannot bind the changed_query parameters on " + database_);
    }
  }
  int changed_col = -1;
  for (int col = 0; col < sqlite3_column_count(changed_stmt_); ++col) {
    const char* name = sqlite3_column_name(changed_stmt_, col);
    if (name != nullptr && std::strcmp(name, "changed_at_ms") == 0) changed_col = col;
  }
  bool any = false;
  int64_t latest = 0;
  for (;;) {
    const int rc = sqlite3_step(changed_stmt_);
    if (rc == SQLITE_DONE) break;
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
      return UnavailableError("source unavailable: database " + database_ + " is locked");
    }
    if (rc != SQLITE_ROW) {
      return UnavailableError("source unavailable: reading database " + database_ + " failed: " + sqlite3_errmsg(db_));
    }
    any = true;
    if (changed_col >= 0 && sqlite3_column_type(changed_stmt_, changed_col) == SQLITE_INTEGER) {
      latest = std::max<int64_t>(latest, sqlite3_column_int64(changed_stmt_, changed_col));
    }
  }
  if (!any) return std::optional<int64_t>();
  return std::optional<int64_t>(latest > 0 ? latest : NowMillis());
}

// -------------------------------------------------------------- json-files

Result<std::optional<int64_t>> JsonFilesConnector::ChangedSince(const SubjectQuery& subject, int64_t since_ms) {
  const std::string* value = key_ == "bsn"             ? &subject.bsn
                             : key_ == "ref"           ? &subject.ref
                             : key_ == "role"          ? &subject.role
                             : key_ == "name"          ? &subject.name
                             : key_ == "date_of_birth" ? &subject.date_of_birth
                                                       : nullptr;
  bool usable = value != nullptr && !value->empty() && value->size() <= 64 && (*value)[0] != '.';
  if (usable) {
    for (char c : *value) {
      usable &= (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                c == '-';
    }
  }
  if (!usable) {
    return InvalidArgumentError("the subject's " + key_ + " cannot name a file in " + folder_ + "; the lookup is refused");
  }
  const std::string path = folder_ + "/" + *value + ".json";
  struct stat st {};
  if (::fstatat(AT_FDCWD, path.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return std::optional<int64_t>();  // nothing about this subject
    return UnavailableError("source unavailable: cannot look at a file in " + folder_ + ": " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    return UnavailableError("source unavailable: an entry in " + folder_ + " is not a regular file");
  }
  const int64_t mtime = int64_t{st.st_mtim.tv_sec} * 1000 + st.st_mtim.tv_nsec / 1'000'000;
  if (mtime <= since_ms) return std::optional<int64_t>();
  return std::optional<int64_t>(mtime);
}

// ----------------------------------------------------------------- command

Result<std::optional<int64_t>> CommandConnector::ChangedSince(const SubjectQuery& subject, int64_t since_ms) {
  std::vector<std::string> argv = argv_;
  argv.push_back("--changed-since=" + std::to_string(since_ms));
  CommandConnector with(std::move(argv), timeout_ms_, max_output_bytes_);
  KP_ASSIGN_OR_RETURN(std::vector<Record> records, with.Query(subject));
  if (records.empty()) return std::optional<int64_t>();
  return std::optional<int64_t>(LatestChange(records, NowMillis()));
}

}  // namespace kp::agent

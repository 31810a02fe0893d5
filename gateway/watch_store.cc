// CaseStore: watches (docs/protocol.md §3.8). The table is in case_store.cc's
// schema; these members keep its rows.
#include "core/sqlite/sqlite_db.h"
#include "gateway/case_store.h"

namespace kp::gateway {

using sqlite::Stmt;

namespace {

#define KP_WATCH_COLUMNS \
  "SELECT watch_id, case_id, coordinator, source_partner, agent, categories, subjects, started_ms, until_ms, " \
  "started_index, ended_ms, end_reason, agent_told FROM watches "

StoredWatch WatchFromRow(Stmt& q) {
  StoredWatch w;
  w.watch_id = q.Col(0);
  w.case_id = q.Col(1);
  w.coordinator = q.Col(2);
  w.source_partner = q.Col(3);
  w.agent = q.Col(4);
  w.categories = sqlite::SplitIds(q.Col(5));
  w.subject_refs = sqlite::SplitIds(q.Col(6));
  w.started_ms = q.ColInt(7);
  w.until_ms = q.ColInt(8);
  w.started_index = static_cast<uint64_t>(q.ColInt(9));
  w.ended_ms = q.ColInt(10);
  w.end_reason = q.Col(11);
  w.agent_told = q.ColInt(12) != 0;
  return w;
}

Result<std::vector<StoredWatch>> AllRows(Stmt& q) {
  std::vector<StoredWatch> out;
  while (true) {
    KP_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return out;
    out.push_back(WatchFromRow(q));
  }
}

}  // namespace

Status CaseStore::AddWatch(const StoredWatch& w) {
  KP_RETURN_IF_ERROR(Writable());
  return Stmt(*database_,
              "INSERT INTO watches(watch_id, case_id, coordinator, source_partner, agent, categories, subjects, "
              "started_ms, until_ms, started_index) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
      .Bind(w.watch_id).Text(w.case_id).Text(w.coordinator).Text(w.source_partner).Text(w.agent)
      .Text(sqlite::JoinIds(w.categories)).Text(sqlite::JoinIds(w.subject_refs)).Int(w.started_ms).Int(w.until_ms)
      .Int(static_cast<int64_t>(w.started_index)).Run();
}

Result<std::optional<StoredWatch>> CaseStore::GetWatch(const std::string& watch_id) {
  Stmt q(*database_, KP_WATCH_COLUMNS "WHERE watch_id = ?");
  q.Bind(watch_id);
  KP_ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) return std::optional<StoredWatch>();
  return std::optional<StoredWatch>(WatchFromRow(q));
}

Result<std::vector<StoredWatch>> CaseStore::ActiveWatches(const std::string& case_id, int64_t until_before_ms) {
  Stmt q(*database_, KP_WATCH_COLUMNS
                     "WHERE ended_ms = 0 AND (? = '' OR case_id = ?) AND (? = 0 OR until_ms <= ?) "
                         "ORDER BY started_ms");
  q.Text(case_id).Text(case_id).Int(until_before_ms).Int(until_before_ms);
  return AllRows(q);
}

Status CaseStore::EndWatch(const std::string& watch_id, int64_t at_ms, const std::string& reason) {
  KP_RETURN_IF_ERROR(Writable());
  return Stmt(*database_, "UPDATE watches SET ended_ms = ?, end_reason = ? WHERE watch_id = ? AND ended_ms = 0")
      .Int(at_ms).Text(reason).Bind(watch_id).Run();
}

Result<std::vector<StoredWatch>> CaseStore::UntoldEndedWatches(const std::string& source_partner) {
  Stmt q(*database_, KP_WATCH_COLUMNS
                     "WHERE ended_ms <> 0 AND agent_told = 0 AND source_partner = ? ORDER BY ended_ms");
  q.Text(source_partner);
  return AllRows(q);
}

Status CaseStore::MarkWatchTold(const std::string& watch_id) {
  KP_RETURN_IF_ERROR(Writable());
  return Stmt(*database_, "UPDATE watches SET agent_told = 1 WHERE watch_id = ?").Bind(watch_id).Run();
}

}  // namespace kp::gateway

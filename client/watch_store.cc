// CoordinatorStore: watches and their signals (docs/cli.md, "Watches"). The
// tables are in coordinator_store.cc's schema; ids and codes only.
#include "client/coordinator_store.h"

namespace kp::client {

using sqlite::Stmt;

std::string_view WatchStateName(WatchState s) {
  switch (s) {
    case WatchState::kWaiting: return "waiting";
    case WatchState::kActive: return "active";
    case WatchState::kRefused: return "refused";
    case WatchState::kEnded: return "ended";
  }
  return "unknown";
}

namespace {

#define KP_CLIENT_WATCH_COLUMNS \
  "SELECT w.watch_id, w.case_id, w.partner, w.agent, w.categories, w.subjects, w.sent_ms, w.until_ms, w.state, " \
  "w.reason, COALESCE(r.state, -1), COALESCE(r.refusal, ''), COALESCE(c.closed, 0) FROM watches w " \
  "LEFT JOIN requests r ON r.request_id = w.watch_id LEFT JOIN cases c ON c.id = w.case_id "

WatchInfo WatchFromRow(Stmt& q, int64_t now_ms) {
  WatchInfo w;
  w.watch_id = q.Col(0);
  w.case_id = q.Col(1);
  w.partner = q.Col(2);
  w.agent = q.Col(3);
  w.categories = sqlite::SplitIds(q.Col(4));
  w.subject_refs = sqlite::SplitIds(q.Col(5));
  w.sent_ms = q.ColInt(6);
  w.until_ms = q.ColInt(7);
  w.state = static_cast<WatchState>(q.ColInt(8));
  w.reason = q.Col(9);
  const int64_t request_state = q.ColInt(10);
  // What the request, the case and the clock say since.
  if (w.state == WatchState::kWaiting && request_state == static_cast<int64_t>(RequestState::kRefused)) {
    w.state = WatchState::kRefused;
    w.reason = q.Col(11);
  } else if (w.state == WatchState::kWaiting && request_state == static_cast<int64_t>(RequestState::kFailed)) {
    w.state = WatchState::kRefused;
    w.reason = q.Col(11);
  }
  if (w.state == WatchState::kActive || w.state == WatchState::kWaiting) {
    if (q.ColInt(12) != 0) {
      w.state = WatchState::kEnded;
      w.reason = "casus-gesloten";
    } else if (now_ms >= w.until_ms) {
      w.state = WatchState::kEnded;
      w.reason = "einddatum";
    }
  }
  return w;
}

}  // namespace

Status CoordinatorStore::PutWatch(const WatchInfo& w) {
  return Stmt(*db_,
              "INSERT OR REPLACE INTO watches(watch_id, case_id, partner, agent, categories, subjects, sent_ms, "
              "until_ms, state, reason) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
      .Bind(w.watch_id).Text(w.case_id).Text(w.partner).Text(w.agent).Text(sqlite::JoinIds(w.categories))
      .Text(sqlite::JoinIds(w.subject_refs)).Int(w.sent_ms).Int(w.until_ms).Int(static_cast<int64_t>(w.state))
      .Text(w.reason).Run();
}

Result<std::optional<WatchInfo>> CoordinatorStore::GetWatch(const std::string& watch_id) {
  Stmt q(*db_, KP_CLIENT_WATCH_COLUMNS "WHERE w.watch_id = ?");
  KP_ASSIGN_OR_RETURN(bool row, q.Bind(watch_id).Step());
  if (!row) return std::optional<WatchInfo>();
  return std::optional<WatchInfo>(WatchFromRow(q, 0));
}

Result<std::vector<WatchInfo>> CoordinatorStore::Watches(const std::string& case_id, int64_t now_ms) {
  Stmt q(*db_, KP_CLIENT_WATCH_COLUMNS "WHERE (? = '' OR w.case_id = ?) ORDER BY w.sent_ms DESC");
  q.Text(case_id).Text(case_id);
  std::vector<WatchInfo> out;
  while (true) {
    KP_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return out;
    out.push_back(WatchFromRow(q, now_ms));
  }
}

Status CoordinatorStore::SetWatchState(const std::string& watch_id, WatchState state, const std::string& reason) {
  return Stmt(*db_, "UPDATE watches SET state = ?, reason = ? WHERE watch_id = ?")
      .Int(static_cast<int64_t>(state)).Text(reason).Bind(watch_id).Run();
}

Status CoordinatorStore::MarkWatchStarted(const std::string& watch_id, int64_t now_ms) {
  KP_RETURN_IF_ERROR(SetWatchState(watch_id, WatchState::kActive, ""));
  return Stmt(*db_, "UPDATE requests SET state = ?, answered_ms = ? WHERE request_id = ? AND state = ?")
      .Int(static_cast<int64_t>(RequestState::kDelivered)).Int(now_ms).Bind(watch_id)
      .Int(static_cast<int64_t>(RequestState::kPending)).Run();
}

Result<bool> CoordinatorStore::PutSignal(const SignalInfo& s) {
  {
    Stmt q(*db_, "SELECT 1 FROM signals WHERE signal_id = ?");
    KP_ASSIGN_OR_RETURN(bool row, q.Bind(s.signal_id).Step());
    if (row) return false;
  }
  KP_RETURN_IF_ERROR(Stmt(*db_,
                          "INSERT INTO signals(signal_id, watch_id, case_id, partner, subject_ref, category, "
                          "changed_at_ms, received_ms) VALUES(?, ?, ?, ?, ?, ?, ?, ?)")
                         .Bind(s.signal_id).Bind(s.watch_id).Text(s.case_id).Text(s.partner).Text(s.subject_ref)
                         .Text(s.category).Int(s.changed_at_ms).Int(s.received_ms).Run());
  return true;
}

Result<std::vector<SignalInfo>> CoordinatorStore::Signals(const std::string& case_id, size_t limit) {
  Stmt q(*db_,
         "SELECT signal_id, watch_id, case_id, partner, subject_ref, category, changed_at_ms, received_ms FROM signals "
         "WHERE (? = '' OR case_id = ?) ORDER BY received_ms DESC, changed_at_ms DESC LIMIT ?");
  q.Text(case_id).Text(case_id).Int(static_cast<int64_t>(limit));
  std::vector<SignalInfo> out;
  while (true) {
    KP_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return out;
    out.push_back(SignalInfo{q.Col(0), q.Col(1), q.Col(2), q.Col(3), q.Col(4), q.Col(5), q.ColInt(6), q.ColInt(7)});
  }
}

Result<std::map<std::string, size_t>> CoordinatorStore::NewSignalCounts() {
  Stmt q(*db_,
         "SELECT g.case_id, COUNT(*) FROM signals g LEFT JOIN case_seen s ON s.case_id = g.case_id "
         "WHERE g.received_ms > COALESCE(s.seen_ms, 0) GROUP BY g.case_id");
  std::map<std::string, size_t> out;
  while (true) {
    KP_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return out;
    out[q.Col(0)] = static_cast<size_t>(q.ColInt(1));
  }
}

Result<int64_t> CoordinatorStore::CaseSeenMs(const std::string& case_id) {
  Stmt q(*db_, "SELECT seen_ms FROM case_seen WHERE case_id = ?");
  KP_ASSIGN_OR_RETURN(bool row, q.Text(case_id).Step());
  return row ? q.ColInt(0) : int64_t{0};
}

}  // namespace kp::client

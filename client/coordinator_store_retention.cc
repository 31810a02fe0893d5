// CoordinatorStore: when cases closed, for fragments whose retention counts
// from the case's closure (issue 16; docs/protocol.md §3.3, FragmentContent).
#include "client/coordinator_store.h"

namespace kp::client {

using sqlite::Stmt;

Status CoordinatorStore::SetClosedAt(const std::string& case_id, int64_t closed_ms) {
  return Stmt(*db_,
              "INSERT INTO case_closed(case_id, closed_ms) VALUES(?, ?) "
              "ON CONFLICT(case_id) DO UPDATE SET closed_ms = MIN(closed_ms, excluded.closed_ms)")
      .Text(case_id)
      .Int(closed_ms)
      .Run();
}

Result<std::optional<int64_t>> CoordinatorStore::ClosedAt(const std::string& case_id) {
  Stmt q(*db_, "SELECT closed_ms FROM case_closed WHERE case_id = ?");
  KP_ASSIGN_OR_RETURN(bool row, q.Text(case_id).Step());
  if (!row) return std::optional<int64_t>();
  return std::optional<int64_t>(q.ColInt(0));
}

}  // namespace kp::client

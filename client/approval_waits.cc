// A request the source holds for its professional's approval (docs/protocol.md
// §3.10): the agent's APPROVAL_PENDING, checked and kept, so listings say
// "waits for the source's approval until ...".
#include <spdlog/spdlog.h>

#include "client/coordinator.h"
#include "client/coordinator_store.h"
#include "core/base/encoding.h"
#include "core/envelope/wire_format.h"

namespace kp::client {

namespace v1 = ketenpoort::v1;
using sqlite::Stmt;

Status CoordinatorStore::NoteApprovalWait(const std::string& request_id, int64_t decide_by_ms) {
  return Stmt(*db_, "INSERT OR REPLACE INTO approval_waits(request_id, decide_by_ms) VALUES(?, ?)")
      .Bind(request_id)
      .Int(decide_by_ms)
      .Run();
}

Result<int64_t> CoordinatorStore::ApprovalWaitUntil(const std::string& request_id) {
  Stmt q(*db_,
         "SELECT a.decide_by_ms FROM approval_waits a JOIN requests r ON r.request_id = a.request_id "
         "WHERE a.request_id = ? AND r.state = ?");
  KP_ASSIGN_OR_RETURN(bool row, q.Bind(request_id).Int(static_cast<int64_t>(RequestState::kPending)).Step());
  return row ? q.ColInt(0) : int64_t{0};
}

Result<size_t> CoordinatorStore::PruneApprovalWaits() {
  KP_RETURN_IF_ERROR(Stmt(*db_,
                          "DELETE FROM approval_waits WHERE request_id NOT IN "
                          "(SELECT request_id FROM requests WHERE state = ?)")
                         .Int(static_cast<int64_t>(RequestState::kPending))
                         .Run());
  return static_cast<size_t>(sqlite3_changes(db_->get()));
}

Status Coordinator::TakeApprovalPending(const VerifiedEnvelope& env) {
  const std::string& rid = env.header.request_id();
  v1::ApprovalPending pending;
  KP_RETURN_IF_ERROR(ParseBody(env.body, pending));
  KP_ASSIGN_OR_RETURN(auto request, store_->GetRequest(rid));
  // Only the agent asked, about one of our waiting requests, may say so.
  if (!request.has_value() || request->state != RequestState::kPending || request->agent != env.header.sender() ||
      pending.request_id() != rid || pending.case_id() != request->case_id) {
    spdlog::info("ignored an approval-pending from {}: not about a waiting request of this coordinator it was asked",
                 env.header.sender());
    return OkStatus();
  }
  (void)store_->PruneApprovalWaits();  // the waits that ended since the last one
  KP_RETURN_IF_ERROR(store_->NoteApprovalWait(rid, pending.decide_by_ms()));
  news_.approvals_pending.push_back(pending);
  spdlog::info("request {} case={} waits for the approval of {}'s professional", HexEncode(rid).substr(0, 12),
               request->case_id, request->partner);
  return OkStatus();
}

}  // namespace kp::client

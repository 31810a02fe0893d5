// Waiting requests after a new connection (docs/operations.md, "Backup and
// restore"; protocol §6.1).
//
// A gateway restored from a backup does not know the requests it accepted
// after the backup's checkpoint. The coordinator does not see the gateway's
// checkpoints, but it does not need to: after every handshake (Connect, and
// a reconnect ZeroMQ made by itself) it sends every waiting request the
// gateway had accepted again, byte for byte. The gateway answers a request it holds with ACCEPTED and
// the log index of its original decision (and the answer, when it came
// meanwhile), so nothing happens twice. A request it lost it takes as new
// when its signature is still fresh — its ACCEPTED then names another log
// index, which is how the client knows the request was lost and sent again
// ("verzoek opnieuw verstuurd na herstel van de gateway") — or refuses, e.g.
// as too old, and the request fails with a notice to ask again ("verzoek
// verlopen na herstel van de gateway — opnieuw indienen"). The source agent
// never discloses twice: an answer it still keeps goes again unchanged
// (agent/kept_answers.h), and a request it already answered otherwise is
// refused by it.
#include <spdlog/spdlog.h>

#include "client/coordinator.h"
#include "core/base/encoding.h"
#include "core/transport/dealer_client.h"

namespace kp::client {

namespace v1 = ketenpoort::v1;

inline constexpr char kLostAndRefused[] =
    "the gateway no longer holds this request (it was restored from a backup) and refused it when it was "
    "sent "
    "again: ";

// The gateway's default replay window is ±300 s (protocol §4); a minute's
// margin for the two clocks and the time in transit.
inline constexpr int64_t kResendWithinMs = 240'000;

void Coordinator::ResendWaiting() {
  if (!dealer_) return;
  auto waiting = store_->WaitingRequests();
  if (!waiting.ok()) {
    spdlog::warn("cannot read the waiting requests to send them again: {}", waiting.status().message());
    return;
  }
  size_t sent = 0;
  for (const RequestInfo& r : *waiting) {
    // Only what the gateway confirmed: its loss is the gateway's (a restore).
    // One never confirmed waits for the coordinator's own resend (`request
    // --resend`, the console's "Opnieuw versturen"), as ever.
    if (r.envelope.empty() || !r.accepted) continue;
    // Only what the gateway can still take as new: a request signed longer
    // ago than its replay window (protocol §4) is refused as too old even
    // when the gateway still holds it (e.g. expired, its refusal held for
    // this coordinator), which would fail a request that was never lost. It
    // waits for its answer or its expiry, as before.
    if (clock_.NowMillis() - r.sent_ms > kResendWithinMs) continue;
    if (Status s = dealer_->Send(r.envelope); !s.ok()) {
      spdlog::warn("request {}: not sent again now: {}", HexEncode(r.request_id), s.message());
      break;  // the queue is full: the next handshake tries again
    }
    ++sent;
  }
  if (sent > 0) spdlog::info("sent {} waiting request(s) again after connecting to the gateway", sent);
}

void Coordinator::ResendAfterHandshake() {
  if (!dealer_ || dealer_->handshakes() == handshakes_seen_) return;
  handshakes_seen_ = dealer_->handshakes();
  ResendWaiting();
}

Status Coordinator::TakeAccepted(const v1::RequestAccepted& accepted) {
  const std::string& rid = accepted.request_id();
  KP_ASSIGN_OR_RETURN(auto request, store_->GetRequest(rid));
  if (!request.has_value()) return OkStatus();
  KP_RETURN_IF_ERROR(store_->MarkAccepted(rid));
  if (accepted.answered() || request->state != RequestState::kPending) return OkStatus();
  KP_ASSIGN_OR_RETURN(auto before, store_->AcceptedIndex(rid));
  if (before.has_value() && *before == accepted.audit_index()) return OkStatus();
  KP_RETURN_IF_ERROR(store_->SetAcceptedIndex(rid, accepted.audit_index()));
  if (before.has_value()) {
    // Accepted twice under different decisions: the gateway had lost it.
    spdlog::warn(
        "request {} (case {}): the gateway had lost it (restored from a backup?) and took it again as new "
        "(log index {}, was {})",
        HexEncode(rid), request->case_id, accepted.audit_index(), *before);
    news_.resent_after_restore.push_back({rid, request->case_id});
  }
  return OkStatus();
}

Outcome Coordinator::RefusedAfterLoss(const RequestInfo& request, Outcome o) {
  spdlog::warn("request {} (case {}): the gateway no longer holds it and refused it again: {}",
               HexEncode(request.request_id), request.case_id, o.error.message());
  if (Status s =
          store_->MarkFailed(request.request_id, kLostAndRefused + o.error.message(), clock_.NowMillis());
      !s.ok()) {
    o.error = s;
    return o;
  }
  news_.expired_after_restore.push_back({request.request_id, request.case_id});
  return o;
}

}  // namespace kp::client

#include "client/privacy_notices.h"

#include <set>

#include "core/base/encoding.h"
#include "core/envelope/wire_format.h"

namespace kp::client {

namespace v1 = ketenpoort::v1;

namespace {

// Acknowledged ids per DELIVERY_ACK (docs/protocol.md §6).
constexpr size_t kMaxAckedNotices = 1000;

bool IsGatewayHeartbeat(const std::string& bytes, const PublicCard& gateway_card) {
  StaticKeyResolver keys;
  keys.Add(gateway_card.id, gateway_card.signing_key);
  VerifyOptions options;
  options.expected_sender = gateway_card.id;
  options.expected_kind = v1::MESSAGE_KIND_HEARTBEAT;
  return EnvelopeVerifier(keys, nullptr).Verify(bytes, options).ok();
}

// One inbox fetch: the held messages the gateway sends before the end mark
// (a CASE_RESULT answering the fetch), each verified here.
Result<FetchedNotices> FetchNoticesOnce(GatewayConnection& gateway, const PublicCard& gateway_card, const Identity& me,
                                 int timeout_ms) {
  std::vector<std::string> raw;
  KP_ASSIGN_OR_RETURN(std::string fetch_id, gateway.Send(v1::MESSAGE_KIND_INBOX_FETCH, v1::InboxFetch()));
  KP_ASSIGN_OR_RETURN(VerifiedEnvelope end,
                      gateway.Await(fetch_id, timeout_ms, [&](const std::string& bytes) { raw.push_back(bytes); }));
  if (end.header.kind() != v1::MESSAGE_KIND_CASE_RESULT) {
    return InvalidArgumentError("the gateway answered an inbox fetch with a " +
                                std::string(wire::KindLabel(end.header.kind())) + " message");
  }
  FetchedNotices out;
  std::set<std::string> seen;
  for (const auto& bytes : raw) {
    auto n = VerifyPrivacyNotice(bytes, gateway_card, me.id());
    if (!n.ok()) {
      if (IsGatewayHeartbeat(bytes, gateway_card)) continue;
      out.rejected.push_back(n.status().message());
      continue;
    }
    // A notice the gateway sent at once while I was connected comes again
    // from the inbox: the same notice.
    if (!seen.insert(n->notice_id).second) continue;
    out.notices.push_back(std::move(*n));
  }
  return out;
}

}  // namespace

Result<PrivacyNotice> VerifyPrivacyNotice(std::string_view envelope, const PublicCard& gateway,
                                          const std::string& me_id) {
  StaticKeyResolver keys;
  keys.Add(gateway.id, gateway.signing_key);
  // No replay guard: a held notice may be days old, and one seen twice is
  // the same notice (by its id).
  VerifyOptions options;
  options.expected_sender = gateway.id;
  options.expected_recipient = me_id;
  auto env = EnvelopeVerifier(keys, nullptr).Verify(envelope, options);
  if (!env.ok()) return Status(env.status().code(), "a message that does not verify: " + env.status().message());
  const v1::MessageKind kind = env->header.kind();
  const std::string id = HexEncode(env->header.message_id());
  if (kind != v1::MESSAGE_KIND_CASE_NOTICE) {
    return InvalidArgumentError("message " + id + " is a " + std::string(wire::KindLabel(kind)) + ", not a notice");
  }
  PrivacyNotice n;
  if (Status s = ParseBody(env->body, n.notice); !s.ok()) return InvalidArgumentError("notice " + id + ": " + s.message());
  if (n.notice.kind() != v1::NOTICE_KIND_PRIVACY_OFFICER) {
    return InvalidArgumentError("notice " + id + " is of kind " + std::to_string(static_cast<int>(n.notice.kind())) +
                                ", not one for a privacy officer");
  }
  n.notice_id = env->header.message_id();
  n.signed_ms = env->header.sent_at_ms();
  return n;
}

Result<FetchedNotices> FetchPrivacyNotices(GatewayConnection& gateway, const PublicCard& gateway_card,
                                           const Identity& me, int timeout_ms) {
  if (me.kind() != ParticipantKind::kPrivacyOfficer) {
    return PermissionDeniedError("only a privacy officer receives notices; " + me.id() + " is a " +
                                 std::string(ParticipantKindName(me.kind())));
  }
  return FetchNoticesOnce(gateway, gateway_card, me, timeout_ms);
}

Result<FetchedNotices> AcknowledgePrivacyNotices(GatewayConnection& gateway, const PublicCard& gateway_card,
                                                 const Identity& me, const std::vector<std::string>& notice_ids,
                                                 int timeout_ms) {
  for (size_t i = 0; i < notice_ids.size(); i += kMaxAckedNotices) {
    v1::DeliveryAck ack;
    for (size_t j = i; j < notice_ids.size() && j < i + kMaxAckedNotices; ++j) ack.add_request_ids(notice_ids[j]);
    KP_RETURN_IF_ERROR(gateway.Send(v1::MESSAGE_KIND_DELIVERY_ACK, ack).status());
  }
  // The acknowledgement has no answer. A fetch on the same connection comes
  // after it, and the gateway drops acknowledged copies before it answers
  // one: its end mark confirms them gone.
  KP_ASSIGN_OR_RETURN(FetchedNotices after, FetchNoticesOnce(gateway, gateway_card, me, timeout_ms));
  const std::set<std::string> acked(notice_ids.begin(), notice_ids.end());
  for (const auto& n : after.notices) {
    if (acked.count(n.notice_id) != 0) {
      return DataLossError("the gateway still holds notice " + HexEncode(n.notice_id) +
                           " after it was acknowledged; run the command again");
    }
  }
  return after;
}

}  // namespace kp::client

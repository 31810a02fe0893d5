// The privacy officer's notices (issue 17 §2; docs/protocol.md §3.11): when
// a decision carries "notify the privacy officer", the gateway holds a signed
// CASE_NOTICE of kind PRIVACY_OFFICER (ids and metadata only) in the inbox
// of every enrolled privacy officer until that officer acknowledges it.
// `ketenpoort audit notices` fetches them, prints them, and only then
// acknowledges them.
//
// Functions, not thread-safe: they use the one GatewayConnection given.
#ifndef KETENPOORT_CLIENT_PRIVACY_NOTICES_H_
#define KETENPOORT_CLIENT_PRIVACY_NOTICES_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "client/gateway_connection.h"
#include "core/identity/identity.h"
#include "ketenpoort/v1/messages.pb.h"

namespace kp::client {

struct PrivacyNotice {
  std::string notice_id;  // the envelope's message id (16 bytes): what an acknowledgement names
  int64_t signed_ms = 0;  // when the gateway signed it (the header's timestamp)
  ketenpoort::v1::CaseNotice notice;
};

struct FetchedNotices {
  // Verified notices of kind PRIVACY_OFFICER, in the order the gateway held
  // them (oldest first), each once.
  std::vector<PrivacyNotice> notices;
  // Messages in the inbox that did not verify (not signed by the pinned
  // gateway, not addressed to me, damaged) or were not a privacy officer's
  // notice: never shown, never acknowledged. Each says why, in ids only.
  std::vector<std::string> rejected;
};

// One held message, as received, checked as a privacy officer's notice:
// signed by `gateway` (the pinned card), addressed to `me_id`, a CASE_NOTICE
// whose body parses strictly and whose kind is PRIVACY_OFFICER. No freshness
// check (see FetchPrivacyNotices). Unauthenticated when the signature or
// signer is wrong, InvalidArgument for anything else.
Result<PrivacyNotice> VerifyPrivacyNotice(std::string_view envelope, const PublicCard& gateway,
                                          const std::string& me_id);

// Fetches what the gateway holds for `me` (INBOX_FETCH) and verifies each
// message against `gateway` (the pinned card): signed by it, addressed to
// me, a CASE_NOTICE whose body parses strictly and whose kind is
// PRIVACY_OFFICER. Held notices may be older than the replay window: their
// freshness is not checked (a notice seen twice is the same notice, by id).
// Errors: the gateway's answer (e.g. PermissionDenied), or DeadlineExceeded.
Result<FetchedNotices> FetchPrivacyNotices(GatewayConnection& gateway, const PublicCard& gateway_card,
                                           const Identity& me, int timeout_ms);

// Acknowledges `notice_ids` (DELIVERY_ACK, at most 1,000 ids each) and
// confirms it: a second fetch must no longer hold any of them (the gateway
// drops acknowledged copies before it answers a fetch, in a unit that is
// durable before its answer leaves). Returns that fetch: notices that came
// since stay held for next time. DataLoss when an acknowledged notice is
// still held.
Result<FetchedNotices> AcknowledgePrivacyNotices(GatewayConnection& gateway, const PublicCard& gateway_card,
                                                 const Identity& me, const std::vector<std::string>& notice_ids,
                                                 int timeout_ms);

}  // namespace kp::client

#endif  // KETENPOORT_CLIENT_PRIVACY_NOTICES_H_

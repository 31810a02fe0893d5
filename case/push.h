// A coordinator's push (docs/protocol.md §3.9): the case checks and the
// policy question for sending to a partner, which the gateway decides and the
// recipient agent checks again, identically. A push is a disclosure *from*
// the pusher's partner (e.g. veiligheidsteam) *to* `to_partner` (e.g.
// politie), about subjects of the case. Pure functions; thread-safe.
#ifndef KETENPOORT_CASE_PUSH_H_
#define KETENPOORT_CASE_PUSH_H_

#include <cstdint>
#include <string>

#include "case/case_facts.h"
#include "ketenpoort/v1/messages.pb.h"
#include "policy/policy_engine.h"

namespace kp::cases {

// The push as the FragmentRequest the case library's checks read: the
// disclosing partner as `source_partner`, the push's case, categories,
// purpose, subjects and head. Never sent.
ketenpoort::v1::FragmentRequest PushAsRequest(const ketenpoort::v1::FragmentPush& push,
                                              const std::string& disclosing_partner);

// Whether `pusher` may send this push in this case at `now_ms`, before the
// policy: categories and a recipient named, not its own partner; the case is
// open and `pusher` coordinates it (CheckAsker's rules); the recipient
// partner is admitted to the case; the subjects are the case's, with their
// roles.
Status CheckPush(const policy::Policy& policy, const CaseFacts& facts, const std::string& pusher_id,
                 const RegistryEntry& pusher, const ketenpoort::v1::FragmentPush& push, int64_t now_ms);

// The policy's decision on the push: from the pusher's partner to
// `to_partner` (the role is the recipient agent's registry role), the case's
// phase, consents and approvals; the `member` condition holds when the
// recipient partner is admitted to the case.
policy::Decision DecidePush(const policy::Policy& policy, const CaseFacts& facts,
                            const ketenpoort::v1::FragmentPush& push, const RegistryEntry& pusher,
                            const RegistryEntry& recipient, int64_t now_ms);

}  // namespace kp::cases

#endif  // KETENPOORT_CASE_PUSH_H_

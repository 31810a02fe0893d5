#include "case/push.h"

#include "case/decision.h"

namespace kp::cases {

namespace v1 = ketenpoort::v1;

v1::FragmentRequest PushAsRequest(const v1::FragmentPush& push, const std::string& disclosing_partner) {
  v1::FragmentRequest r;
  r.set_case_id(push.case_id());
  r.set_source_partner(disclosing_partner);
  for (const auto& c : push.categories()) r.add_categories(c);
  r.set_purpose(push.purpose());
  for (const auto& s : push.subjects()) *r.add_subjects() = s;
  r.set_case_head(push.case_head());
  r.set_case_length(push.case_length());
  return r;
}

Status CheckPush(const policy::Policy& policy, const CaseFacts& facts, const std::string& pusher_id,
                 const RegistryEntry& pusher, const v1::FragmentPush& push, int64_t now_ms) {
  if (push.categories().empty() || push.to_partner().empty()) {
    return InvalidArgumentError("a push names the partner it goes to and at least one data category");
  }
  if (push.to_partner() == pusher.card.partner) {
    return InvalidArgumentError("a push goes to another partner than your own");
  }
  // CheckAsker's rules, with the recipient in the place of the source: the
  // case is open, the pusher coordinates it, the recipient is admitted.
  if (Status s = CheckAsker(policy, facts, pusher_id, pusher, PushAsRequest(push, push.to_partner()), now_ms);
      !s.ok()) {
    return s;
  }
  return CheckRequestSubjects(facts, PushAsRequest(push, pusher.card.partner));
}

policy::Decision DecidePush(const policy::Policy& policy, const CaseFacts& facts, const v1::FragmentPush& push,
                            const RegistryEntry& pusher, const RegistryEntry& recipient, int64_t now_ms) {
  const v1::FragmentRequest as = PushAsRequest(push, pusher.card.partner);
  policy::Request pr = AskPolicy(facts, as, recipient, policy::Justification::kNone, now_ms);
  pr.requester_is_member = facts.IsMember(push.to_partner());
  return policy.Decide(pr);
}

}  // namespace kp::cases

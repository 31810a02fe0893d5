// A case's facts, folded from its chain of signed case commands.
//
// The one place that decides what a case command means and whether it may
// follow the commands before it (protocol §3.5): the gateway applies it when
// it takes a command, the agent when it checks the chain shown to it, the
// coordinator's client when it checks a chain it fetched. Rules:
//   - the first command opens the case (sequence 0, no previous hash); its
//     signer must be enrolled in a role the policy lets coordinate; it
//     commits to at least one subject;
//   - every later command names the case, the hash of the command before it
//     and its own sequence, and is signed by the case's coordinator;
//   - nothing follows a close; at most kMaxCommands commands per case;
//   - purposes, partners, phases and categories must be the policy's; dates
//     of consent and approvals must lie after the command was signed;
//   - a consent names a subject the case committed to.
// Time-dependent facts (is a consent still valid?) are answered for a given
// moment by the queries, never frozen in the fold.
//
// Not thread-safe; a CaseFacts is a value.
#ifndef KETENPOORT_CASE_CASE_FACTS_H_
#define KETENPOORT_CASE_CASE_FACTS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/status.h"
#include "core/identity/registry.h"
#include "ketenpoort/v1/messages.pb.h"
#include "policy/policy_engine.h"

namespace kp::cases {

inline constexpr uint64_t kMaxCommands = 500;
inline constexpr int kMaxSubjects = 32;

// One verified case command: its envelope's hash, signer and signing time,
// and its parsed body.
struct ChainCommand {
  std::string hash;        // SHA-256 of the whole envelope (32 bytes)
  std::string signer;      // participant id
  int64_t signed_ms = 0;   // header.sent_at_ms
  std::string message_id;  // header.message_id
  ketenpoort::v1::CaseCommand command;
};

struct SubjectFact {
  std::string ref;
  ketenpoort::v1::SubjectRole role = ketenpoort::v1::SUBJECT_ROLE_UNSPECIFIED;
  std::string commitment;  // 32 bytes
};

// A handover offered and not yet accepted, cancelled or lapsed.
struct HandoverOffer {
  std::string hash;  // of the OfferHandover command
  std::string from, to, reason;
  int64_t offered_ms = 0, expires_ms = 0;
  int64_t stand_in_until_ms = 0;  // 0: for good
};

// A handover that took place: the marked moment.
struct HandoverMoment {
  std::string from, to, reason;
  int64_t offered_ms = 0, accepted_ms = 0;
  int64_t stand_in_until_ms = 0;  // 0: for good
};

// A consent valid until a moment: who gave it and the subject's stated age
// then (policy consent block, docs/policy-language.md).
struct ConsentFact {
  int64_t valid_until_ms = 0;
  uint8_t givers = 1;      // policy::ConsentGiverBit; a consent without given_by is the subject's
  int age_years = -1;      // as stated with the consent; -1: not stated
  int64_t recorded_ms = 0; // when it was recorded (the command's signing time)
};

struct PhaseFact {
  std::string phase;  // empty in a fold without policy, except when closed
  int64_t since_ms = 0;
};

inline constexpr int64_t kMaxOfferMs = int64_t{30} * 24 * 3600 * 1000;
inline constexpr int64_t kMaxStandInMs = int64_t{366} * 24 * 3600 * 1000;

struct CaseFacts {
  std::string case_id;
  std::string purpose;
  std::string coordinator;  // participant id of whoever coordinates the case now
  std::string phase;
  int64_t phase_since_ms = 0;
  int64_t opened_ms = 0;
  bool closed = false;
  int64_t closed_ms = 0;
  std::string close_reason;
  std::map<std::string, int64_t> members;  // admitted partner -> when
  std::vector<SubjectFact> subjects;       // in the order committed
  // (subject ref, purpose) -> the consent; withdrawn consents are gone.
  std::map<std::pair<std::string, std::string>, ConsentFact> consents;
  // (source partner, subject ref, purpose) -> a consent the source partner
  // recorded itself (SourceConsent, protocol §3.10). Not folded from the
  // chain: the gateway and the source agent keep them and fill this in.
  std::map<std::tuple<std::string, std::string, std::string>, ConsentFact> source_consents;
  // (source partner, category, purpose) -> valid until.
  std::map<std::tuple<std::string, std::string, std::string>, int64_t> approvals;
  std::string head;     // hash of the last command; empty before the open
  uint64_t length = 0;  // commands folded

  // Samen op in Acuut: opened acute; until when requests may be made
  // without a handover (0 once handed over, or not acute).
  bool acute = false;
  int64_t acute_until_ms = 0;
  int64_t acute_handed_over_ms = 0;
  // Opened on a referral: its id (message id), the referrer's reference, who referred.
  std::string referral_id, referral_reference, referred_by;
  int64_t coordinator_since_ms = 0;  // when the coordinator took the case (open or accept)
  // A stand-in (waarneming): the coordinator holds the case for
  // `stand_in_for` until `stand_in_until_ms`, after which it is back.
  std::string stand_in_for;
  int64_t stand_in_until_ms = 0;
  std::optional<HandoverOffer> offer;  // pending (check PendingOfferAt for lapse)
  std::vector<HandoverMoment> handovers;
  std::vector<PhaseFact> phases;            // every phase with when it began, in order
  std::map<std::string, int64_t> removed;   // partner -> when it was removed

  const SubjectFact* Subject(const std::string& ref) const;
  // Who coordinates at `now_ms`: a stand-in whose end has passed has given
  // the case back to whom it stood in for.
  const std::string& CoordinatorAt(int64_t now_ms) const;
  // When the coordinator at `now_ms` took the case.
  int64_t CoordinatorSinceAt(int64_t now_ms) const;
  // The pending handover offer at `now_ms`, or null (none, or lapsed).
  const HandoverOffer* PendingOfferAt(int64_t now_ms) const;
  // An acute case whose window has passed without a handover.
  bool AcuteWindowOver(int64_t now_ms) const { return acute && acute_until_ms != 0 && now_ms >= acute_until_ms; }
  bool IsMember(const std::string& partner) const { return members.count(partner) != 0; }
  // Every ref has consent for `purpose` valid at `now_ms` (false for none).
  bool HasConsent(const std::vector<std::string>& refs, const std::string& for_purpose, int64_t now_ms) const;
  // Every category of `source` has an approval for `purpose` valid at `now_ms`.
  bool HasApproval(const std::string& source, const std::vector<std::string>& categories,
                   const std::string& for_purpose, int64_t now_ms) const;
};

// What the fold needs to know of the world: the policy in force and who a
// participant is (kind, partner, role), from the signed registry. Without a
// policy (the coordinator's client, which holds none) the fold checks the
// chain's structure and signers only, and leaves the phase empty.
struct FoldContext {
  const policy::Policy* policy = nullptr;
  // The enrolled participant with this id, or null.
  std::function<const RegistryEntry*(const std::string& id)> participant;

  // Looks participants up in `registry`, which must outlive the context.
  static FoldContext Of(const policy::Policy* policy, const Registry& registry);
};

// Whether this registry entry may open and coordinate cases under the policy
// (a coordinator whose role the policy marks `coordinates`).
bool MayCoordinate(const policy::Policy& policy, const RegistryEntry& entry);

// The first open phase of the policy: where a case begins.
std::string FirstOpenPhase(const policy::Policy& policy);

// Whether `entry` may take over case `facts` in a handover: a coordinator
// whose role the policy lets coordinate; for an acute case also of a partner
// in the policy's acute hand_over_to.
Status MayTakeOver(const policy::Policy& policy, const CaseFacts& facts, const RegistryEntry& entry);

// The ids of the policy's partners in `bits` (bit i: partner i), joined
// with " or ", for messages ("veilig-thuis or veiligheidsteam").
std::string PartnerNames(const policy::Policy& policy, uint64_t bits);

// A reason code (handover, cancel, removal, close, decline): an id of 1-64
// lowercase letters, digits and '-', starting with a letter or digit.
// Codes keep free text, which could hold personal data, off the gateway.
Status CheckReasonCode(const std::string& code, std::string_view what);

// When the coordination at `now_ms` must end under the coordinator's role's
// coordination_max_days (0: no limit).
int64_t CoordinationEndsAt(const policy::Policy& policy, const FoldContext& ctx, const CaseFacts& facts,
                           int64_t now_ms);
// The same for a coordinator in `role` (0: the role has no limit).
int64_t CoordinationEndsFor(const policy::Policy& policy, const std::string& role, const CaseFacts& facts,
                            int64_t now_ms);

// Applies `c` to `facts`, or says why it cannot follow them (facts
// unchanged then). `case_id` names the case: for an open it is the id the
// gateway gives the new case; for any other command it must equal the
// command's own case id and the case's.
Status Apply(const FoldContext& ctx, const ChainCommand& c, const std::string& case_id, CaseFacts* facts);

// A short English name of the command ("open", "admit", ...), for logs and
// listings.
std::string CommandName(const ketenpoort::v1::CaseCommand& command);

// What the command says, in ids only (never personal data), for listings:
// "politie", "herstel", "S1 plan-van-aanpak until 2027-01-31", ...
std::string CommandSummary(const ketenpoort::v1::CaseCommand& command);

}  // namespace kp::cases

#endif  // KETENPOORT_CASE_CASE_FACTS_H_

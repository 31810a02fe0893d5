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
#include <string>
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
  // (subject ref, purpose) -> valid until; withdrawn consents are gone.
  std::map<std::pair<std::string, std::string>, int64_t> consents;
  // (source partner, category, purpose) -> valid until.
  std::map<std::tuple<std::string, std::string, std::string>, int64_t> approvals;
  std::string head;     // hash of the last command; empty before the open
  uint64_t length = 0;  // commands folded

  const SubjectFact* Subject(const std::string& ref) const;
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

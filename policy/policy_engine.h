// The policy engine: decides whether one disclosure is allowed.
//
// A `Policy` is a compiled, linted, immutable sharing policy (see
// docs/policy-language.md for the language and DESIGN.md §5 for the model).
// It is made only by policy/policy_loader.h, which refuses any policy with a
// lint error, so a `Policy` object is always a clean one.
//
// `Decide(request)` evaluates one request:
//   * default deny;
//   * a category on the `never_shared:` list is refused, naming the entry;
//   * any matching forbid rule wins (a forbid with subject_roles matches when
//     any subject of the request has one of them);
//   * otherwise every requested category needs a matching permit rule whose
//     conditions (its own plus those its legal basis requires) all hold,
//     every subject of the request has one of its subject_roles (if any), and
//     it is within its within_hours_of_acute (if any); a never_shared field
//     is never among the allowed fields;
//     obligations are combined to the narrowest (field intersection per
//     category, shortest retention, any no-onward-sharing / notify flag);
//   * the order of rules in the file never changes a decision: rules are
//     indexed by (sender, recipient partner, category) and kept sorted by id.
//
// Thread safety: a `Policy` is immutable after loading; `Decide` is const,
// allocates only its own result and touches no shared mutable state, so any
// number of threads may call it concurrently on one Policy.
//
// Lifetimes: the string_views in a `Request` are borrowed for the call only.
// The string_views in a `Decision` (rule ids, legal bases, fields, the digest)
// point into the Policy and stay valid while the Policy object lives; a caller
// that keeps a Decision longer (e.g. to log it after a policy reload) must
// copy them out or hold the Policy (it is normally held by shared_ptr).
//
// The engine does no I/O, no crypto and no logging: it decides, others act.
// The SHA-256 of the policy text is computed by the caller of the loader.
#ifndef KETENPOORT_POLICY_POLICY_ENGINE_H_
#define KETENPOORT_POLICY_POLICY_ENGINE_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/base/status.h"

namespace kp::policy {

// At most this many partners, roles, categories, purposes, phases, and
// fields per category (they are kept as bit sets). The loader enforces it.
inline constexpr int kMaxNamesPerKind = 64;

enum class Effect : uint8_t { kDeny, kPermit };
// "deny" / "permit".
std::string_view EffectName(Effect effect);

// Conditions a permit rule (or its legal basis) can require. Bit flags.
enum Condition : uint8_t {
  kConditionMember = 1,         // the recipient is a member of the case
  kConditionConsent = 2,        // consent recorded for (subject, purpose)
  kConditionGatekeeper = 4,     // a gatekeeper's approval is recorded
  kConditionJustification = 8,  // a written justification is present (AssessJustification: kText or better)
  kConditionWeighing = 16,       // the conflict-of-duties weighing is complete (AssessJustification: kWeighing)
  // The source's own professional must approve (the agent's approval queue,
  // protocol §3.10). It never fails a decision: a permit that needs it says so
  // in Decision::needs_source_approval, and the source agent holds the request.
  kConditionSourceApproval = 32,
};
inline constexpr uint8_t kAllConditions = 63;
// "member", "consent", "gatekeeper", "justification", "weighing", "source_approval".
std::string_view ConditionName(Condition condition);

// How much a request's justification is worth (AssessJustification).
enum class Justification : uint8_t { kNone, kText, kWeighing };

// The conflict-of-duties weighing's answers (ketenpoort.v1.Weighing), borrowed.
struct WeighingAnswers {
  std::string_view consent, harm, no_other_way, effect, minimum, approver;
};

// Who gave a consent: bits, as ketenpoort.v1.ConsentGiver (1 << (giver - 1)).
enum ConsentGiverBit : uint8_t { kGiverSubject = 1, kGiverParents = 2 };

// One subject of a request as the policy needs to see it: its role and,
// for the `consent` condition, the consent valid now for the request's
// purpose (per subject, with the policy's age rule: docs/policy-language.md).
struct SubjectFacts {
  std::string_view role;            // "victim", "child", "suspected-perpetrator", "housemate", "parent"
  int age_years = -1;               // as stated with the consent; -1: not stated
  uint8_t consent_givers = 0;       // ConsentGiverBit of the valid consent; 0: no consent valid now
  int64_t consent_recorded_ms = 0;  // when that consent was recorded (consent.max_days)
  bool consent_by_source = false;   // recorded by the source partner itself (SourceConsent)
};

// The subject roles a rule can name (`subject_roles:`), in the order of
// ketenpoort.v1.SubjectRole (index i: SubjectRole i + 1). Fixed by the
// protocol, not by the policy.
inline constexpr std::string_view kSubjectRoleIds[] = {"victim", "child", "suspected-perpetrator", "housemate",
                                                       "parent"};
inline constexpr int kSubjectRoleCount = 5;
// Index into kSubjectRoleIds; -1 when `id` is none of them.
int SubjectRoleIndex(std::string_view id);

// One disclosure to decide, as the gateway (or an agent re-checking) sees it.
// Names are policy ids. The caller establishes the facts: the subjects of the
// request, each with its role and the consent valid now for the request's
// purpose (consent_givers 0: none); the engine applies the policy's
// `consent:` block (age rule, max_days) to them.
struct Request {
  std::string_view from;     // source partner
  std::string_view to;       // recipient partner
  std::string_view to_role;  // recipient's role; empty when none
  std::vector<std::string_view> categories;
  std::string_view purpose;
  std::string_view phase;  // the case's current phase
  bool requester_is_member = false;
  bool gatekeeper_approved = false;
  // The subjects with their roles and consents, the justification's worth
  // (the gateway: what the request claims; the agent: AssessJustification of
  // what was sealed to it), the moment of deciding, and when the case's
  // current run of its phase began: a within_hours_of_acute rule counts from
  // it when `phase` is the policy's acute phase (docs/policy-language.md).
  std::vector<SubjectFacts> subjects;
  Justification justification_level = Justification::kNone;
  int64_t now_ms = 0;
  int64_t acute_phase_since_ms = 0;
};

// Allowed fields of one category, in the order the category defines them.
struct CategoryFields {
  std::string_view category;
  std::vector<std::string_view> fields;
};

// What the recipient and the sending agent must do. Meaningful on permit.
struct Obligations {
  std::vector<CategoryFields> fields;  // one entry per requested category, sorted by id
  int retention_days = 0;
  bool no_onward_sharing = false;
  bool notify_privacy_officer = false;
  // retention_days count from the case's closure instead of from delivery.
  bool retention_from_closure = false;
};

struct Decision {
  Effect effect = Effect::kDeny;
  // Deciding rules, sorted by id: on permit the permit rules that hold; on
  // deny the forbid rules that matched, or else the permit rules whose
  // conditions failed (named in `reason`); empty for a plain default deny.
  std::vector<std::string_view> rule_ids;
  // Legal bases (ids) of the permitting rules, sorted; empty on deny.
  std::vector<std::string_view> legal_bases;
  Obligations obligations;
  // For a person: why it was refused and what would make it allowed, or
  // which rule allowed it. Contains only policy ids, never personal data.
  std::string reason;
  std::string_view policy_sha256;  // lowercase hex of the policy text
  // A permit that the source's professional must still approve (a rule or
  // basis requiring source_approval): the source agent holds it in its
  // approval queue (protocol §3.10) instead of answering at once.
  bool needs_source_approval = false;
};

// What a justification is worth: kWeighing when `weighing` is given and every
// answer and the approver say something; else kText when `text` says
// something; else kNone. "Says something" (SaysSomething): the exact rule is
// in docs/policy-language.md ("Justification"): not a placeholder such as
// ".", "-", "n.v.t." or "geen", at least two words and ten letters. The
// policy engine, the gateway's client, the agent and the console read it the
// same way.
Justification AssessJustification(std::string_view text, const WeighingAnswers* weighing);
// Whether one answer counts (see AssessJustification).
bool SaysSomething(std::string_view text);

// Whether a justification counts as given: it has a character that is not
// white space ("   " is none). The engine, the agents, the client and the
// console read it the same way.
bool HasNonBlank(std::string_view text);

// OK for a permit; PermissionDenied carrying the reason for a deny (the
// project's mapping of a policy refusal, STYLE.md "Errors").
Status DecisionStatus(const Decision& decision);

// A place in the policy (or test table) file.
struct Location {
  int line = 0;  // 1-based
  int column = 0;
};

// A loaded, linted, indexed policy. Immutable; Decide() is thread-safe (see
// the file comment). Made only by policy_loader.h. The nested structs expose
// the loaded definitions read-only (for `ketenpoort policy`, test tables and
// reports); name sets are bit sets over the index of each kind.
class Policy {
 public:
  // Regime of a category or legal basis (AVG, or police/justice: Wpg/Wjsg).
  enum class Regime : uint8_t { kAvg, kWpg, kWjsg };

  struct Partner {
    std::string id, name;
    // A statutory dossier term (e.g. Jeugdwet art. 7.3.8: 20 years) that a
    // rule's `retention_days: dossier` takes; 0: none.
    int dossier_retention_days = 0;
    std::string dossier_basis;  // its citation
    // The legal entity that is controller (AVG art. 4 punt 7) of what this
    // partner processes, and its data protection officer's contact (art. 37):
    // for the register of processing activities (`ketenpoort policy
    // register`). Empty: not stated.
    std::string controller, dpo;
  };
  struct Role {
    std::string id, name;
    int partner = -1;  // the only partner that has this role; -1: any partner
    bool coordinates = false;  // may open cases and coordinate them (case commands, requests)
    bool acute = false;        // may open an acute case (Samen op in Acuut) and coordinate it
    uint64_t refers_to = 0;    // partners whose coordinators this role may send referrals to
    int coordination_max_days = 0;  // a case this role took over must be handed on or closed after; 0: no limit
  };
  // A policy id and its Dutch name, for coded fields (referral reasons, ...).
  struct Code {
    std::string id, name;
  };
  // The `acute:` block (docs/policy-language.md): how an acute case starts
  // and how long its window lasts. `defined` false: no acute cases.
  struct Acute {
    bool defined = false;
    std::string phase;
    int64_t window_ms = 0;
    uint64_t partners = 0;       // admitted at once
    uint64_t hand_over_to = 0;   // an acute case is handed over to a coordinator of one of these
  };
  // The `referrals:` block: the codes a referral and a decline may carry.
  struct Referrals {
    std::vector<Code> reasons, decline_reasons;
    int expire_days = 14;
  };
  struct Category {
    std::string id, name;
    int owner = -1;  // partner that holds this data; -1: not stated
    std::vector<std::string> fields;
    bool art9 = false, art10 = false;
    Regime regime = Regime::kAvg;
  };
  struct Purpose {
    std::string id, description;
  };
  struct Phase {
    std::string id, name;
    bool closed = false;  // every request in a closed phase is refused
  };
  struct LegalBasis {
    std::string id, citation;
    uint64_t senders = 0, categories = 0;
    int max_retention_days = 0;
    uint8_t required_conditions = 0;  // Condition bits
    bool art9_ground = false, art10_ground = false;
    Regime regime = Regime::kAvg;
    bool consent_by_source = false;         // `consent_by: source`: only a consent the source recorded counts
    bool allows_dossier_retention = false;  // a rule may keep to the recipient's dossier term
  };
  // The `consent:` block. An age band: a subject younger than `below` years
  // (-1: any age) needs a consent whose givers include all of `givers`.
  struct ConsentBand {
    int below = -1;
    uint8_t givers = kGiverSubject;  // ConsentGiverBit
  };
  struct ConsentRules {
    bool defined = false;
    int max_days = 0;                  // 0: no limit besides the consent's own end
    std::vector<ConsentBand> age_rule; // in the file's order; the first band that fits applies
  };
  // One `never_shared:` entry: a whole category (field -1) or one field.
  struct NeverShared {
    std::string id, reason;
    int category = -1;
    int field = -1;
    Location location;
  };
  struct Target {
    int partner = -1;  // -1: any partner (forbid rules only)
    int role = -1;     // -1: any role
  };
  struct Rule {
    std::string id;
    Effect effect = Effect::kDeny;
    uint64_t from = 0;  // partners; all bits set when the rule names none
    std::vector<Target> to;
    uint64_t categories = 0, purposes = 0, phases = 0;
    int legal_basis = -1;
    uint8_t conditions = 0;                        // own conditions | legal basis requirements
    std::vector<std::pair<int, uint64_t>> fields;  // (category, field bits)
    int retention_days = 0;
    bool no_onward_sharing = false, notify_privacy_officer = false;
    std::string explanation;
    Location location;
    uint8_t subject_roles = 0;        // bits over kSubjectRoleIds; 0: any subject
    int within_hours_of_acute = 0;    // 0: no time bound
    bool retention_dossier = false;   // `retention_days: dossier`: the recipient partner's term
    bool retention_from_closure = false;
  };

  Policy(const Policy&) = delete;
  Policy& operator=(const Policy&) = delete;

  Decision Decide(const Request& request) const;

  const std::string& id() const { return id_; }
  // The `policy:` block's version, title and description ("" when absent).
  const std::string& version() const { return version_; }
  const std::string& title() const { return title_; }
  const std::string& description() const { return description_; }
  const std::string& source_name() const { return source_name_; }
  const std::string& sha256_hex() const { return sha256_hex_; }
  const std::vector<Partner>& partners() const { return partners_; }
  const std::vector<Role>& roles() const { return roles_; }
  const std::vector<Category>& categories() const { return categories_; }
  const std::vector<Purpose>& purposes() const { return purposes_; }
  const std::vector<Phase>& phases() const { return phases_; }
  const std::vector<LegalBasis>& legal_bases() const { return legal_bases_; }
  // Sorted by id (the file's order is deliberately forgotten).
  const std::vector<Rule>& rules() const { return rules_; }

  // -1 when unknown.
  int PartnerIndex(std::string_view id) const { return Find(partner_index_, id); }
  int RoleIndex(std::string_view id) const { return Find(role_index_, id); }
  // Whether a participant of `partner` in `role` may open and coordinate
  // cases: the role is in the policy, marked `coordinates: true`, and it is
  // not bound to another partner.
  bool MayCoordinate(std::string_view role, std::string_view partner) const;
  // Whether a participant of `partner` in `role` may open an acute case.
  bool MayOpenAcute(std::string_view role, std::string_view partner) const;
  // Whether a participant of `partner` in `role` may refer families to the
  // coordinators of `to_partner`.
  bool MayRefer(std::string_view role, std::string_view partner, std::string_view to_partner) const;
  // The role's coordination_max_days (0: none, or an unknown role).
  int CoordinationMaxDays(std::string_view role) const;
  const Acute& acute() const { return acute_; }
  const ConsentRules& consent() const { return consent_; }
  const std::vector<NeverShared>& never_shared() const { return never_shared_; }
  // Whether the `consent` condition holds for `request`: it names at least
  // one subject and every one has a consent valid now that the consent block
  // accepts (age band, max_days; with `by_source_only` only a consent the
  // source partner recorded). When not, `why` (if given) says which subject
  // role fails and how, in policy words (never personal data).
  bool ConsentHolds(const Request& request, bool by_source_only, std::string* why) const;
  const Referrals& referrals() const { return referrals_; }
  // Whether `id` is one of `codes`.
  static bool HasCode(const std::vector<Code>& codes, std::string_view id);
  int CategoryIndex(std::string_view id) const { return Find(category_index_, id); }
  int PurposeIndex(std::string_view id) const { return Find(purpose_index_, id); }
  int PhaseIndex(std::string_view id) const { return Find(phase_index_, id); }

 private:
  friend class PolicyCompiler;  // policy_loader.cc builds and indexes it
  Policy() = default;

  struct NameHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using NameIndex = std::unordered_map<std::string, int, NameHash, std::equal_to<>>;
  static int Find(const NameIndex& index, std::string_view id) {
    auto it = index.find(id);
    return it == index.end() ? -1 : it->second;
  }

  // One rule in one (from, to partner, category) cell of the index.
  struct Entry {
    uint32_t rule;
    uint64_t roles;  // roles of the recipient this rule covers in this cell
    bool any_role;   // covers a recipient with any role, or with none
  };
  size_t Cell(int from, int to, int category) const {
    return (static_cast<size_t>(from) * partners_.size() + static_cast<size_t>(to)) * categories_.size() +
           static_cast<size_t>(category);
  }
  void BuildIndex();

  std::string id_, source_name_, sha256_hex_;
  std::string version_, title_, description_;
  std::vector<Partner> partners_;
  std::vector<Role> roles_;
  Acute acute_;
  ConsentRules consent_;
  std::vector<NeverShared> never_shared_;
  uint64_t never_categories_ = 0;  // categories a never_shared entry names whole
  Referrals referrals_;
  std::vector<Category> categories_;
  std::vector<Purpose> purposes_;
  std::vector<Phase> phases_;
  std::vector<LegalBasis> legal_bases_;
  std::vector<Rule> rules_;
  uint64_t open_phases_ = 0;
  NameIndex partner_index_, role_index_, category_index_, purpose_index_, phase_index_;
  // Compressed rows: entries_[offsets_[c] .. offsets_[c+1]) for cell c,
  // sorted by rule index (= by rule id).
  std::vector<uint32_t> offsets_;
  std::vector<Entry> entries_;
};

}  // namespace kp::policy

#endif  // KETENPOORT_POLICY_POLICY_ENGINE_H_

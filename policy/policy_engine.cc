#include "policy/policy_engine.h"

#include <algorithm>
#include <bit>
#include <cctype>

namespace kp::policy {
namespace {

constexpr uint64_t Bit(int i) { return uint64_t{1} << i; }

// "no consent recorded for this subject and purpose", ...: what is missing.
std::string_view MissingText(Condition c) {
  switch (c) {
    case kConditionMember:
      return "the recipient is not a member of this case";
    case kConditionConsent:
      return "no consent recorded for this subject and purpose";
    case kConditionGatekeeper:
      return "no gatekeeper approval recorded";
    case kConditionJustification:
      return "no written justification given";
    case kConditionWeighing:
      return "the conflict-of-duties weighing is not complete (five answers and the approver)";
    case kConditionSourceApproval:
      return "the source's professional has not approved";
  }
  return "an unknown condition does not hold";
}

template <typename Names>
std::string JoinBits(const Names& names, uint64_t bits) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < 64; ++i) {
    if (bits & Bit(static_cast<int>(i))) {
      if (!out.empty()) out += ", ";
      out += names[i].id;
    }
  }
  return out;
}

// "victim, child": the subject roles in `bits`.
std::string JoinRoles(uint8_t bits) {
  std::string out;
  for (int i = 0; i < kSubjectRoleCount; ++i) {
    if (bits & (1U << i)) {
      if (!out.empty()) out += ", ";
      out += kSubjectRoleIds[i];
    }
  }
  return out;
}

void AppendSorted(std::vector<std::string_view>& out) {
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
}

}  // namespace

bool HasNonBlank(std::string_view text) {
  return std::any_of(text.begin(), text.end(),
                     [](char c) { return !std::isspace(static_cast<unsigned char>(c)); });
}

namespace {

// Lower-cased, trimmed, inner white space collapsed, one final '.' dropped.
std::string Normalised(std::string_view text) {
  std::string out;
  bool space = false;
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isspace(c)) {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += static_cast<char>(c < 0x80 ? std::tolower(c) : c);
  }
  if (out.size() > 1 && out.back() == '.') out.pop_back();
  return out;
}

// Placeholders that say nothing, as Normalised() leaves them.
constexpr std::string_view kPlaceholders[] = {
    ".",  "-",   "--",   "x",   "?",    "n.v.t",    "nvt",         "n/a",       "na",
    "geen", "nee", "idem", "onbekend", "zie dossier", "zie boven", "zie bijlage"};

// Whether `text` is no placeholder and has at least `min_words` words (runs
// of letters or digits) and `min_letters` letters (a multi-byte UTF-8
// character counts as one).
bool Substantial(std::string_view text, int min_words, int min_letters) {
  const std::string n = Normalised(text);
  for (std::string_view p : kPlaceholders) {
    if (n == p) return false;
  }
  int words = 0, letters = 0;
  bool in_word = false;
  for (char ch : n) {
    const auto c = static_cast<unsigned char>(ch);
    const bool letter = std::isalpha(c) || c >= 0xC0;  // a UTF-8 lead byte: one letter
    const bool part = letter || std::isdigit(c) || (c >= 0x80 && c < 0xC0);
    if (letter) ++letters;
    if (part && !in_word) ++words;
    in_word = part;
  }
  return words >= min_words && letters >= min_letters;
}

}  // namespace

bool SaysSomething(std::string_view text) { return Substantial(text, 2, 10); }

Justification AssessJustification(std::string_view text, const WeighingAnswers* weighing) {
  if (weighing != nullptr && SaysSomething(weighing->consent) && SaysSomething(weighing->harm) &&
      SaysSomething(weighing->no_other_way) && SaysSomething(weighing->effect) && SaysSomething(weighing->minimum) &&
      Substantial(weighing->approver, 2, 5)) {
    return Justification::kWeighing;
  }
  return SaysSomething(text) ? Justification::kText : Justification::kNone;
}

int SubjectRoleIndex(std::string_view id) {
  for (int i = 0; i < kSubjectRoleCount; ++i) {
    if (kSubjectRoleIds[i] == id) return i;
  }
  return -1;
}

Status DecisionStatus(const Decision& decision) {
  if (decision.effect == Effect::kPermit) return OkStatus();
  return PermissionDeniedError(decision.reason);
}

std::string_view EffectName(Effect effect) { return effect == Effect::kPermit ? "permit" : "deny"; }

std::string_view ConditionName(Condition condition) {
  switch (condition) {
    case kConditionMember:
      return "member";
    case kConditionConsent:
      return "consent";
    case kConditionGatekeeper:
      return "gatekeeper";
    case kConditionJustification:
      return "justification";
    case kConditionWeighing:
      return "weighing";
    case kConditionSourceApproval:
      return "source_approval";
  }
  return "unknown";
}

bool Policy::MayCoordinate(std::string_view role, std::string_view partner) const {
  const int r = RoleIndex(role);
  if (r < 0) return false;
  const Role& found = roles_[static_cast<size_t>(r)];
  if (!found.coordinates) return false;
  return found.partner < 0 || partners_[static_cast<size_t>(found.partner)].id == partner;
}

namespace {

// The role `role`, when a participant of `partner` can hold it.
const Policy::Role* RoleOf(const Policy& policy, std::string_view role, std::string_view partner) {
  const int r = policy.RoleIndex(role);
  if (r < 0) return nullptr;
  const Policy::Role& found = policy.roles()[static_cast<size_t>(r)];
  if (found.partner >= 0 && policy.partners()[static_cast<size_t>(found.partner)].id != partner) return nullptr;
  return &found;
}

}  // namespace

bool Policy::MayOpenAcute(std::string_view role, std::string_view partner) const {
  const Role* r = RoleOf(*this, role, partner);
  return r != nullptr && r->acute && acute_.defined;
}

bool Policy::MayRefer(std::string_view role, std::string_view partner, std::string_view to_partner) const {
  const Role* r = RoleOf(*this, role, partner);
  const int to = PartnerIndex(to_partner);
  return r != nullptr && to >= 0 && (r->refers_to & (uint64_t{1} << to)) != 0;
}

int Policy::CoordinationMaxDays(std::string_view role) const {
  const int r = RoleIndex(role);
  return r < 0 ? 0 : roles_[static_cast<size_t>(r)].coordination_max_days;
}

bool Policy::HasCode(const std::vector<Code>& codes, std::string_view id) {
  for (const auto& c : codes) {
    if (c.id == id) return true;
  }
  return false;
}

namespace {

constexpr int64_t kDayMs = 86'400'000;
constexpr int64_t kHourMs = 3'600'000;

std::string GiverNames(uint8_t givers) {
  std::string out;
  if (givers & kGiverSubject) out = "subject";
  if (givers & kGiverParents) out += out.empty() ? "parents" : ", parents";
  return out.empty() ? "nobody" : out;
}

std::string RoleText(std::string_view role) {
  return role.empty() ? std::string("subject of no stated role") : std::string(role);
}

}  // namespace

bool Policy::ConsentHolds(const Request& request, bool by_source_only, std::string* why) const {
  auto fail = [why](std::string text) {
    if (why != nullptr) *why = std::move(text);
    return false;
  };
  if (request.subjects.empty()) return fail("the request names no subject, so no consent can be shown");
  const bool one = request.subjects.size() == 1;
  for (const SubjectFacts& s : request.subjects) {
    const std::string role = RoleText(s.role);
    if (s.consent_givers == 0) {
      return fail(one ? "no consent recorded for this subject and purpose"
                      : "no consent recorded for the " + role + " and this purpose");
    }
    if (by_source_only && !s.consent_by_source) {
      return fail("no consent recorded by the source partner itself for the " + role);
    }
    if (consent_.max_days > 0 && request.now_ms - s.consent_recorded_ms >= consent_.max_days * kDayMs) {
      return fail("the consent for the " + role + " was recorded more than " + std::to_string(consent_.max_days) +
                  " days ago (consent.max_days)");
    }
    if (consent_.age_rule.empty()) continue;
    if (s.age_years < 0 && s.role == "child") {
      return fail("the age of the child was not stated with the consent (the age rule needs it)");
    }
    for (const ConsentBand& band : consent_.age_rule) {
      if (band.below >= 0 && (s.age_years < 0 || s.age_years >= band.below)) continue;
      if ((s.consent_givers & band.givers) != band.givers) {
        return fail("the consent for the " + role +
                    (s.age_years >= 0 ? " (age " + std::to_string(s.age_years) + ")" : std::string()) +
                    " was given by " + GiverNames(s.consent_givers) + "; the age rule needs " +
                    GiverNames(band.givers) +
                    (band.below >= 0 ? " below " + std::to_string(band.below) : std::string(" at this age")));
      }
      break;
    }
  }
  return true;
}

void Policy::BuildIndex() {
  const size_t cells = partners_.size() * partners_.size() * categories_.size();
  std::vector<std::vector<Entry>> rows(cells);
  for (size_t r = 0; r < rules_.size(); ++r) {
    const Rule& rule = rules_[r];
    for (int c = 0; c < static_cast<int>(categories_.size()); ++c) {
      if (!(rule.categories & Bit(c))) continue;
      for (int f = 0; f < static_cast<int>(partners_.size()); ++f) {
        if (!(rule.from & Bit(f))) continue;
        for (int t = 0; t < static_cast<int>(partners_.size()); ++t) {
          Entry e{static_cast<uint32_t>(r), 0, false};
          bool covered = false;
          for (const Target& target : rule.to) {
            if (target.partner != -1 && target.partner != t) continue;
            covered = true;
            if (target.role == -1) {
              e.any_role = true;
            } else {
              e.roles |= Bit(target.role);
            }
          }
          if (covered) rows[Cell(f, t, c)].push_back(e);
        }
      }
    }
  }
  offsets_.assign(cells + 1, 0);
  entries_.clear();
  for (size_t c = 0; c < cells; ++c) {
    offsets_[c] = static_cast<uint32_t>(entries_.size());
    // Rules are visited in index order (= id order), so rows are sorted.
    entries_.insert(entries_.end(), rows[c].begin(), rows[c].end());
  }
  offsets_[cells] = static_cast<uint32_t>(entries_.size());
  open_phases_ = 0;
  for (size_t p = 0; p < phases_.size(); ++p) {
    if (!phases_[p].closed) open_phases_ |= Bit(static_cast<int>(p));
  }
}

Decision Policy::Decide(const Request& request) const {
  Decision d;
  d.policy_sha256 = sha256_hex_;
  auto refuse = [&d](std::string reason) {
    d.reason = std::move(reason);
    return std::move(d);
  };
  const int from = PartnerIndex(request.from);
  if (from < 0) return refuse("unknown sending partner '" + std::string(request.from) + "'");
  const int to = PartnerIndex(request.to);
  if (to < 0) return refuse("unknown receiving partner '" + std::string(request.to) + "'");
  int role = -1;
  if (!request.to_role.empty()) {
    role = RoleIndex(request.to_role);
    if (role < 0) return refuse("unknown role '" + std::string(request.to_role) + "'");
  }
  const int purpose = PurposeIndex(request.purpose);
  if (purpose < 0) return refuse("unknown purpose '" + std::string(request.purpose) + "'");
  const int phase = PhaseIndex(request.phase);
  if (phase < 0) return refuse("unknown case phase '" + std::string(request.phase) + "'");
  if (phases_[phase].closed) {
    return refuse("the case is closed (phase " + phases_[phase].id + "); nothing may be shared any more");
  }
  if (request.categories.empty()) return refuse("the request names no data category");

  // Requested categories, deduplicated, in id-independent (index) order.
  uint64_t requested = 0;
  for (std::string_view name : request.categories) {
    const int c = CategoryIndex(name);
    if (c < 0) return refuse("unknown data category '" + std::string(name) + "'");
    requested |= Bit(c);
  }
  std::string consent_why, source_consent_why;
  const bool consent_any = ConsentHolds(request, false, &consent_why);
  const bool consent_source = consent_any && ConsentHolds(request, true, &source_consent_why);
  if (!consent_any) source_consent_why = consent_why;
  const uint8_t present = static_cast<uint8_t>(
      (request.requester_is_member ? kConditionMember : 0) | (consent_any ? kConditionConsent : 0) |
      (request.gatekeeper_approved ? kConditionGatekeeper : 0) |
      (request.justification_level >= Justification::kText ? kConditionJustification : 0) |
      (request.justification_level == Justification::kWeighing ? kConditionWeighing : 0) | kConditionSourceApproval);
  const uint64_t purpose_bit = Bit(purpose), phase_bit = Bit(phase);
  const uint64_t role_bit = role >= 0 ? Bit(role) : 0;
  const bool several = std::popcount(requested) > 1;
  // The subjects' roles (bits over kSubjectRoleIds); a subject of no known
  // role fits no subject_roles list.
  uint8_t any_roles = 0;
  bool unknown_role = false;
  for (const SubjectFacts& s : request.subjects) {
    const int i = SubjectRoleIndex(s.role);
    if (i < 0) {
      unknown_role = true;
    } else {
      any_roles |= static_cast<uint8_t>(1U << i);
    }
  }
  // Hours since the acute phase began; -1 when the case is not in it.
  int64_t acute_hours = -1;
  if (acute_.defined && request.phase == acute_.phase && request.acute_phase_since_ms > 0 &&
      request.now_ms >= request.acute_phase_since_ms) {
    acute_hours = (request.now_ms - request.acute_phase_since_ms) / kHourMs;
  }
  auto within_acute = [&](const Rule& rule) {
    return rule.within_hours_of_acute == 0 ||
           (acute_hours >= 0 && request.now_ms - request.acute_phase_since_ms <
                                    int64_t{rule.within_hours_of_acute} * kHourMs);
  };
  // What a permit lacks: Condition bits, plus these two of its own.
  constexpr uint16_t kMissingRole = 0x100, kMissingTime = 0x200;
  auto missing_of = [&](const Rule& rule) {
    uint8_t has = present;
    if (rule.legal_basis >= 0 && legal_bases_[rule.legal_basis].consent_by_source && !consent_source) {
      has = static_cast<uint8_t>(has & ~kConditionConsent);
    }
    uint16_t missing = rule.conditions & static_cast<uint8_t>(~has);
    if (rule.subject_roles != 0 && (unknown_role || (any_roles & ~rule.subject_roles) != 0)) missing |= kMissingRole;
    if (!within_acute(rule)) missing |= kMissingTime;
    return missing;
  };

  // Per category: never_shared and forbids win; else the holding permits;
  // else the permit that is nearest to holding (fewest missing; ties: lowest id).
  std::vector<std::string_view> forbidding, blocking;
  std::string refusals;  // reasons for the categories that are not permitted
  int retention = 0;
  bool all_from_closure = true;
  bool any_refused = false;
  for (uint64_t rest = requested; rest != 0; rest &= rest - 1) {
    const int c = std::countr_zero(rest);
    if (never_categories_ & Bit(c)) {
      for (const NeverShared& n : never_shared_) {
        if (n.category != c || n.field >= 0) continue;
        any_refused = true;
        forbidding.push_back(n.id);
        if (!refusals.empty()) refusals += "; ";
        refusals += n.id + ": category " + categories_[c].id + " is never shared";
        if (!n.reason.empty()) refusals += " (" + n.reason + ")";
        break;
      }
      continue;
    }
    const Entry* begin = entries_.data() + offsets_[Cell(from, to, c)];
    const Entry* end = entries_.data() + offsets_[Cell(from, to, c) + 1];
    bool forbidden = false, permitted = false;
    bool approval = true;  // every holding permit needs the source's approval
    uint64_t fields = ~uint64_t{0};
    const Rule* forbid_rule = nullptr;
    const Rule* nearest = nullptr;
    uint16_t nearest_missing = 0;
    for (const Entry* e = begin; e != end; ++e) {
      const Rule& rule = rules_[e->rule];
      if (!(rule.purposes & purpose_bit) || !(rule.phases & phase_bit)) continue;
      if (!e->any_role && !(e->roles & role_bit)) continue;
      if (rule.effect == Effect::kDeny) {
        if (rule.subject_roles != 0 && (rule.subject_roles & any_roles) == 0) continue;
        forbidden = true;
        if (forbid_rule == nullptr) forbid_rule = &rule;
        forbidding.push_back(rule.id);
        continue;
      }
      const uint16_t missing = missing_of(rule);
      if (missing == 0) {
        permitted = true;
        for (const auto& [cat, bits] : rule.fields) {
          if (cat == c) fields &= bits;
        }
        const int days = rule.retention_dossier ? partners_[to].dossier_retention_days : rule.retention_days;
        retention = retention == 0 ? days : std::min(retention, days);
        all_from_closure &= rule.retention_from_closure;
        d.obligations.no_onward_sharing |= rule.no_onward_sharing;
        d.obligations.notify_privacy_officer |= rule.notify_privacy_officer;
        approval &= (rule.conditions & kConditionSourceApproval) != 0;
        d.rule_ids.push_back(rule.id);
        d.legal_bases.push_back(legal_bases_[rule.legal_basis].id);
      } else if (nearest == nullptr || std::popcount(missing) < std::popcount(nearest_missing)) {
        nearest = &rule;
        nearest_missing = missing;
      }
    }
    if (forbidden) {
      any_refused = true;
      if (!refusals.empty()) refusals += "; ";
      if (several) refusals += categories_[c].id + ": ";
      refusals += "rule " + forbid_rule->id + " forbids sharing " + categories_[c].id;
      if (forbid_rule->subject_roles != 0) {
        refusals += " about a " + JoinRoles(static_cast<uint8_t>(forbid_rule->subject_roles & any_roles));
      }
      if (!forbid_rule->explanation.empty()) refusals += " (" + forbid_rule->explanation + ")";
      refusals += "; no request of this kind can be permitted";
      continue;
    }
    if (permitted) {
      d.needs_source_approval |= approval;
      std::vector<std::string_view> names;
      for (size_t f = 0; f < categories_[c].fields.size(); ++f) {
        if (fields & Bit(static_cast<int>(f))) names.push_back(categories_[c].fields[f]);
      }
      d.obligations.fields.push_back({categories_[c].id, std::move(names)});
      continue;
    }
    any_refused = true;
    if (!refusals.empty()) refusals += "; ";
    if (several) refusals += categories_[c].id + ": ";
    if (nearest != nullptr) {
      blocking.push_back(nearest->id);
      const uint8_t conditions = static_cast<uint8_t>(nearest_missing & 0xFF);
      int count = 0;
      const bool by_source =
          nearest->legal_basis >= 0 && legal_bases_[nearest->legal_basis].consent_by_source;
      for (uint8_t m = conditions; m != 0; m &= m - 1, ++count) {
        if (count > 0) refusals += ", and ";
        const auto cond = static_cast<Condition>(m & -m);
        refusals += cond == kConditionConsent ? (by_source ? source_consent_why : consent_why)
                                              : std::string(MissingText(cond));
      }
      if (count > 0) {
        refusals += "; rule " + nearest->id + (count > 1 ? " requires them" : " requires it");
        if (nearest->legal_basis >= 0 && (legal_bases_[nearest->legal_basis].required_conditions & conditions)) {
          refusals += " (legal basis " + legal_bases_[nearest->legal_basis].id + ")";
        }
      }
      if (nearest_missing & kMissingRole) {
        if (count > 0) refusals += "; ";
        std::string about;
        if (unknown_role) {
          about = "a subject of no stated role";
        } else {
          about = "a " + JoinRoles(static_cast<uint8_t>(any_roles & ~nearest->subject_roles));
        }
        refusals += "the request is about " + about + "; rule " + nearest->id + " permits it only about " +
                    JoinRoles(nearest->subject_roles);
        ++count;
      }
      if (nearest_missing & kMissingTime) {
        if (count > 0) refusals += "; ";
        const std::string hours = std::to_string(nearest->within_hours_of_acute);
        if (acute_hours < 0) {
          refusals += "the case is not in the acute phase (" + acute_.phase + "); rule " + nearest->id +
                      " holds only in its first " + hours + " hours";
        } else {
          refusals += "the first " + hours + " hours of the acute phase have passed (it began " +
                      std::to_string(acute_hours) + " hours ago); rule " + nearest->id + " holds only within them";
        }
      }
      continue;
    }
    // No permit matches: say which rule comes closest, and how it differs.
    refusals += "no rule permits " + partners_[from].id + " to share " + categories_[c].id + " with " +
                partners_[to].id + (role >= 0 ? "/" + roles_[role].id : std::string()) + " for purpose " +
                purposes_[purpose].id + " in phase " + phases_[phase].id;
    for (const Entry* e = begin; e != end; ++e) {
      const Rule& rule = rules_[e->rule];
      if (rule.effect != Effect::kPermit) continue;
      if (!(rule.purposes & purpose_bit)) {
        refusals +=
            "; rule " + rule.id + " allows it only for purposes " + JoinBits(purposes_, rule.purposes);
      } else if (!(rule.phases & phase_bit)) {
        refusals += "; rule " + rule.id + " allows it only in phases " + JoinBits(phases_, rule.phases);
      } else {
        refusals += "; rule " + rule.id + " allows it only to roles " + JoinBits(roles_, e->roles);
      }
      break;
    }
  }

  if (any_refused) {
    d.effect = Effect::kDeny;
    d.rule_ids = forbidding.empty() ? std::move(blocking) : std::move(forbidding);
    AppendSorted(d.rule_ids);
    d.legal_bases.clear();
    d.obligations = Obligations{};
    d.reason = std::move(refusals);
    return d;
  }
  d.effect = Effect::kPermit;
  AppendSorted(d.rule_ids);
  AppendSorted(d.legal_bases);
  d.obligations.retention_days = retention;
  d.obligations.retention_from_closure = all_from_closure;
  std::sort(d.obligations.fields.begin(), d.obligations.fields.end(),
            [](const CategoryFields& a, const CategoryFields& b) { return a.category < b.category; });
  d.reason = "permitted by rule";
  if (d.rule_ids.size() > 1) d.reason += "s";
  for (size_t i = 0; i < d.rule_ids.size(); ++i) {
    d.reason += i == 0 ? " " : ", ";
    d.reason += d.rule_ids[i];
  }
  d.reason += " under ";
  for (size_t i = 0; i < d.legal_bases.size(); ++i) {
    if (i > 0) d.reason += ", ";
    d.reason += d.legal_bases[i];
  }
  return d;
}

}  // namespace kp::policy

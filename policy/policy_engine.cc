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

void AppendSorted(std::vector<std::string_view>& out) {
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
}

}  // namespace

bool HasNonBlank(std::string_view text) {
  return std::any_of(text.begin(), text.end(),
                     [](char c) { return !std::isspace(static_cast<unsigned char>(c)); });
}

// TODO(issue 16, policy helper): placeholders, weighing answers.
Justification AssessJustification(std::string_view text, const WeighingAnswers* weighing) {
  if (weighing != nullptr && HasNonBlank(weighing->consent) && HasNonBlank(weighing->harm) &&
      HasNonBlank(weighing->no_other_way) && HasNonBlank(weighing->effect) && HasNonBlank(weighing->minimum) &&
      HasNonBlank(weighing->approver)) {
    return Justification::kWeighing;
  }
  return HasNonBlank(text) ? Justification::kText : Justification::kNone;
}

bool SaysSomething(std::string_view text) { return HasNonBlank(text); }

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

bool Policy::ConsentHolds(const Request& request, bool by_source_only, std::string* why) const {
  auto fail = [why](std::string text) {
    if (why != nullptr) *why = std::move(text);
    return false;
  };
  if (request.subjects.empty()) return fail("the request names no subject");
  for (const SubjectFacts& s : request.subjects) {
    const std::string role = s.role.empty() ? std::string("subject") : std::string(s.role);
    if (s.consent_givers == 0) return fail("no consent recorded for the " + role + " and this purpose");
    if (by_source_only && !s.consent_by_source) {
      return fail("no consent recorded by the source partner itself for the " + role);
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
  const uint8_t present = (request.requester_is_member ? kConditionMember : 0) |
                          (ConsentHolds(request, false, nullptr) ? kConditionConsent : 0) |
                          (request.gatekeeper_approved ? kConditionGatekeeper : 0) |
                          (request.justification_level >= Justification::kText ? kConditionJustification : 0);
  const uint64_t purpose_bit = Bit(purpose), phase_bit = Bit(phase);
  const uint64_t role_bit = role >= 0 ? Bit(role) : 0;
  const bool several = std::popcount(requested) > 1;

  // Per category: forbids win; else the holding permits; else the permit that
  // is nearest to holding (fewest missing conditions; ties: lowest id).
  std::vector<std::string_view> forbidding, blocking;
  std::string refusals;  // reasons for the categories that are not permitted
  int retention = 0;
  bool any_refused = false;
  for (uint64_t rest = requested; rest != 0; rest &= rest - 1) {
    const int c = std::countr_zero(rest);
    const Entry* begin = entries_.data() + offsets_[Cell(from, to, c)];
    const Entry* end = entries_.data() + offsets_[Cell(from, to, c) + 1];
    bool forbidden = false, permitted = false;
    uint64_t fields = ~uint64_t{0};
    const Rule* forbid_rule = nullptr;
    const Rule* nearest = nullptr;
    uint8_t nearest_missing = 0;
    for (const Entry* e = begin; e != end; ++e) {
      const Rule& rule = rules_[e->rule];
      if (!(rule.purposes & purpose_bit) || !(rule.phases & phase_bit)) continue;
      if (!e->any_role && !(e->roles & role_bit)) continue;
      if (rule.effect == Effect::kDeny) {
        forbidden = true;
        if (forbid_rule == nullptr) forbid_rule = &rule;
        forbidding.push_back(rule.id);
        continue;
      }
      const uint8_t missing = rule.conditions & static_cast<uint8_t>(~present);
      if (missing == 0) {
        permitted = true;
        for (const auto& [cat, bits] : rule.fields) {
          if (cat == c) fields &= bits;
        }
        retention = retention == 0 ? rule.retention_days : std::min(retention, rule.retention_days);
        d.obligations.no_onward_sharing |= rule.no_onward_sharing;
        d.obligations.notify_privacy_officer |= rule.notify_privacy_officer;
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
      if (!forbid_rule->explanation.empty()) refusals += " (" + forbid_rule->explanation + ")";
      refusals += "; no request of this kind can be permitted";
      continue;
    }
    if (permitted) {
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
      int count = 0;
      for (uint8_t m = nearest_missing; m != 0; m &= m - 1, ++count) {
        if (count > 0) refusals += ", and ";
        refusals += MissingText(static_cast<Condition>(m & -m));
      }
      refusals += "; rule " + nearest->id + (count > 1 ? " requires them" : " requires it");
      if (nearest->legal_basis >= 0 &&
          (legal_bases_[nearest->legal_basis].required_conditions & nearest_missing)) {
        refusals += " (legal basis " + legal_bases_[nearest->legal_basis].id + ")";
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

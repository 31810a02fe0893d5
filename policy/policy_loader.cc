#include "policy/policy_loader.h"

#include <algorithm>
#include <bit>
#include <charconv>
#include <exception>
#include <map>
#include <optional>
#include <utility>

#include "core/base/file_util.h"
#include "core/config/node.h"
#include "core/config/reader.h"

namespace kp::policy {

// Builds a Policy from YAML, collecting every diagnostic. A friend of Policy.
class PolicyCompiler {
 public:
  PolicyCompiler(std::string_view source_name, std::string_view sha256_hex) : diagnostics_(std::string(source_name)) {
    policy_.reset(new Policy());
    policy_->source_name_ = std::string(source_name);
    policy_->sha256_hex_ = std::string(sha256_hex);
  }

  CompileOutput Run(std::string_view text);

 private:
  using Node = config::Node;
  using NameIndex = Policy::NameIndex;
  static constexpr uint64_t Bit(int i) { return uint64_t{1} << i; }
  static constexpr size_t kMaxIndexEntries = size_t{1} << 20;
  static constexpr size_t kMaxRules = 10000;

  using Fields = config::Reader::Fields;

  void Error(config::Mark mark, std::string message) { reader_.Error(mark, std::move(message)); }
  void Error(const Node& node, std::string message) { reader_.Error(node, std::move(message)); }

  // The typed reads are core/config's, shared with every configuration file.
  std::optional<Fields> ReadMap(const Node& node, std::string_view what, const std::vector<std::string>& allowed,
                                const std::vector<std::string>& required) {
    return reader_.ReadMap(node, what, allowed, required);
  }
  std::optional<std::string> Text(const Node& node, std::string_view what) { return reader_.Text(node, what); }
  std::optional<std::string> Id(const Node& node, std::string_view what) { return reader_.Id(node, what); }
  std::optional<bool> Bool(const Node& node, std::string_view what) { return reader_.Bool(node, what); }
  std::optional<int> Int(const Node& node, std::string_view what, int min, int max) {
    auto v = reader_.Int(node, what, min, max);
    return v ? std::optional<int>(static_cast<int>(*v)) : std::nullopt;
  }
  std::vector<std::pair<std::string, Node>> TextList(const Node& node, std::string_view what) {
    return reader_.TextList(node, what);
  }
  std::vector<Node> Items(const Node& section, std::string_view what) { return reader_.Items(section, what); }
  std::optional<Policy::Regime> Regime(const Node& node);
  uint8_t Conditions(const Node& node);
  // Resolves each name of `node` against `index`; unknown names are errors.
  uint64_t NameSet(const Node& node, const NameIndex& index, std::string_view kind);
  int Resolve(const std::string& name, const Node& at, const NameIndex& index, std::string_view kind);
  bool AddName(NameIndex& index, const std::string& id, const Node& at, std::string_view kind,
               std::map<std::string, config::Mark>& first_seen, size_t limit);

  void ReadMeta(const Node& node);
  void ReadPartners(const Node& node);
  void ReadRoles(const Node& node);
  void ReadPhases(const Node& node);
  void ReadAcute(const Node& node);
  void ReadReferrals(const Node& node);
  std::vector<Policy::Code> ReadCodes(const Node& node, std::string_view what);
  void ReadPurposes(const Node& node);
  void ReadCategories(const Node& node);
  void ReadLegalBases(const Node& node);
  void ReadConsent(const Node& node);
  void ReadNeverShared(const Node& node);
  void ReadRules(const Node& node);
  void ReadRule(const Node& item);
  uint8_t SubjectRoles(const Node& node);
  void LintNeverShared();
  void LintShadowedRules();

  std::unique_ptr<Policy> policy_;
  config::Diagnostics diagnostics_;
  config::Reader reader_{&diagnostics_};
  std::map<std::string, config::Mark> partner_marks_, role_marks_, phase_marks_, purpose_marks_,
      category_marks_, basis_marks_, rule_marks_;
  NameIndex basis_index_;
  // Per rule id: where its obligations list each never-shared field (lint).
  std::map<std::string, std::vector<std::pair<int, std::pair<int, config::Mark>>>> rule_field_marks_;
  std::map<std::string, std::vector<std::pair<int, config::Mark>>> rule_category_marks_;
};

namespace {

std::string_view RegimeName(Policy::Regime r) {
  switch (r) {
    case Policy::Regime::kAvg:
      return "AVG";
    case Policy::Regime::kWpg:
      return "Wpg";
    case Policy::Regime::kWjsg:
      return "Wjsg";
  }
  return "?";
}

using config::Quote;

}  // namespace

std::optional<Policy::Regime> PolicyCompiler::Regime(const Node& node) {
  if (node.IsScalar()) {
    if (node.Scalar() == "avg") return Policy::Regime::kAvg;
    if (node.Scalar() == "wpg") return Policy::Regime::kWpg;
    if (node.Scalar() == "wjsg") return Policy::Regime::kWjsg;
  }
  Error(node, "regime must be one of: avg, wpg, wjsg");
  return std::nullopt;
}

uint8_t PolicyCompiler::Conditions(const Node& node) {
  uint8_t bits = 0;
  for (const auto& [name, at] : TextList(node, "conditions")) {
    bool found = false;
    for (Condition c : {kConditionMember, kConditionConsent, kConditionGatekeeper, kConditionJustification,
                        kConditionWeighing, kConditionSourceApproval}) {
      if (name == ConditionName(c)) {
        bits |= c;
        found = true;
      }
    }
    if (!found) {
      Error(at,
            "unknown condition " + Quote(name) +
                " (expected member, consent, gatekeeper, justification, weighing, source_approval)");
    }
  }
  return bits;
}

int PolicyCompiler::Resolve(const std::string& name, const Node& at, const NameIndex& index,
                            std::string_view kind) {
  auto it = index.find(name);
  if (it == index.end()) {
    Error(at, "unknown " + std::string(kind) + " " + Quote(name));
    return -1;
  }
  return it->second;
}

uint64_t PolicyCompiler::NameSet(const Node& node, const NameIndex& index, std::string_view kind) {
  uint64_t bits = 0;
  for (const auto& [name, at] : TextList(node, std::string(kind) + " list")) {
    int i = Resolve(name, at, index, kind);
    if (i >= 0) bits |= Bit(i);
  }
  return bits;
}

bool PolicyCompiler::AddName(NameIndex& index, const std::string& id, const Node& at, std::string_view kind,
                             std::map<std::string, config::Mark>& first_seen, size_t limit) {
  auto seen = first_seen.find(id);
  if (seen != first_seen.end()) {
    Error(at, "duplicate " + std::string(kind) + " id " + Quote(id) + " (first defined at line " +
                  std::to_string(seen->second.line) + ")");
    return false;
  }
  first_seen.emplace(id, at.mark());
  if (index.size() >= limit) {
    Error(at, "too many " + std::string(kind) + " definitions (at most " + std::to_string(limit) + ")");
    return false;
  }
  const int next = static_cast<int>(index.size());
  index.emplace(id, next);
  return true;
}

void PolicyCompiler::ReadMeta(const Node& node) {
  auto f = ReadMap(node, "policy", {"id", "version", "title", "description"}, {"id"});
  if (!f) return;
  if (f->Has("id")) {
    if (auto v = Id(f->Get("id"), "policy id")) policy_->id_ = *v;
  }
  if (f->Has("version")) policy_->version_ = Text(f->Get("version"), "version").value_or("");
  if (f->Has("title")) policy_->title_ = Text(f->Get("title"), "title").value_or("");
  if (f->Has("description")) policy_->description_ = Text(f->Get("description"), "description").value_or("");
}

void PolicyCompiler::ReadPartners(const Node& node) {
  for (const Node& item : Items(node, "partners")) {
    auto f = ReadMap(item, "a partner", {"id", "name", "dossier_retention_days", "dossier_basis", "controller", "dpo"},
                     {"id"});
    if (!f || !f->Has("id")) continue;
    auto id = Id(f->Get("id"), "partner id");
    if (!id ||
        !AddName(policy_->partner_index_, *id, f->Get("id"), "partner", partner_marks_, kMaxNamesPerKind)) {
      continue;
    }
    Policy::Partner p{*id, ""};
    if (f->Has("name")) p.name = Text(f->Get("name"), "name").value_or("");
    if (f->Has("controller")) p.controller = Text(f->Get("controller"), "controller").value_or("");
    if (f->Has("dpo")) p.dpo = Text(f->Get("dpo"), "dpo").value_or("");
    if (f->Has("dossier_retention_days")) {
      p.dossier_retention_days =
          Int(f->Get("dossier_retention_days"), "dossier_retention_days", 1, 36500).value_or(0);
      if (!f->Has("dossier_basis")) {
        Error(f->Get("dossier_retention_days"),
              "a partner with dossier_retention_days needs its dossier_basis (the citation)");
      }
    }
    if (f->Has("dossier_basis")) {
      p.dossier_basis = Text(f->Get("dossier_basis"), "dossier_basis").value_or("");
      if (!f->Has("dossier_retention_days")) {
        Error(f->Get("dossier_basis"), "dossier_basis goes with dossier_retention_days (the term it sets)");
      }
    }
    policy_->partners_.push_back(std::move(p));
  }
}

void PolicyCompiler::ReadRoles(const Node& node) {
  for (const Node& item : Items(node, "roles")) {
    auto f = ReadMap(item, "a role",
                     {"id", "name", "partner", "coordinates", "acute", "refers_to", "coordination_max_days"}, {"id"});
    if (!f || !f->Has("id")) continue;
    auto id = Id(f->Get("id"), "role id");
    if (!id || !AddName(policy_->role_index_, *id, f->Get("id"), "role", role_marks_, kMaxNamesPerKind))
      continue;
    Policy::Role r{*id, "", -1, false};
    if (f->Has("name")) r.name = Text(f->Get("name"), "name").value_or("");
    if (f->Has("coordinates")) r.coordinates = Bool(f->Get("coordinates"), "coordinates").value_or(false);
    if (f->Has("acute")) r.acute = Bool(f->Get("acute"), "acute").value_or(false);
    if (f->Has("refers_to")) r.refers_to = NameSet(f->Get("refers_to"), policy_->partner_index_, "partner");
    if (f->Has("coordination_max_days")) {
      r.coordination_max_days = Int(f->Get("coordination_max_days"), "coordination_max_days", 1, 3650).value_or(0);
      if (!r.coordinates && !r.acute) {
        Error(f->Get("coordination_max_days"),
              "coordination_max_days is for a role that coordinates (coordinates: true or acute: true)");
      }
    }
    if (f->Has("partner")) {
      if (auto p = Text(f->Get("partner"), "partner")) {
        r.partner = Resolve(*p, f->Get("partner"), policy_->partner_index_, "partner");
      }
    }
    policy_->roles_.push_back(std::move(r));
  }
}

std::vector<Policy::Code> PolicyCompiler::ReadCodes(const Node& node, std::string_view what) {
  std::vector<Policy::Code> out;
  std::map<std::string, config::Mark> seen;
  for (const Node& item : Items(node, what)) {
    auto f = ReadMap(item, "a code", {"id", "name"}, {"id", "name"});
    if (!f || !f->Has("id")) continue;
    auto id = Id(f->Get("id"), "code");
    if (!id) continue;
    if (!seen.emplace(*id, f->Get("id").mark()).second) {
      Error(f->Get("id"), "duplicate code " + Quote(*id) + " in " + std::string(what));
      continue;
    }
    Policy::Code c{*id, ""};
    if (f->Has("name")) c.name = Text(f->Get("name"), "name").value_or("");
    out.push_back(std::move(c));
  }
  if (out.size() > 64) Error(node, std::string(what) + " holds at most 64 codes");
  return out;
}

void PolicyCompiler::ReadAcute(const Node& node) {
  auto f = ReadMap(node, "acute", {"phase", "window_hours", "partners", "hand_over_to"},
                   {"phase", "window_hours", "partners", "hand_over_to"});
  if (!f) return;
  Policy::Acute& a = policy_->acute_;
  if (f->Has("phase")) {
    if (auto p = Text(f->Get("phase"), "phase")) {
      const int i = Resolve(*p, f->Get("phase"), policy_->phase_index_, "phase");
      if (i >= 0 && policy_->phases_[static_cast<size_t>(i)].closed) {
        Error(f->Get("phase"), "an acute case cannot start in the closed phase " + Quote(*p));
      } else if (i >= 0) {
        a.phase = *p;
      }
    }
  }
  if (f->Has("window_hours")) a.window_ms = int64_t{Int(f->Get("window_hours"), "window_hours", 1, 24 * 30).value_or(0)} * 3600 * 1000;
  if (f->Has("partners")) a.partners = NameSet(f->Get("partners"), policy_->partner_index_, "partner");
  if (f->Has("hand_over_to")) a.hand_over_to = NameSet(f->Get("hand_over_to"), policy_->partner_index_, "partner");
  if (a.partners == 0 && f->Has("partners")) Error(f->Get("partners"), "an acute case admits at least one partner");
  if (a.hand_over_to == 0 && f->Has("hand_over_to")) {
    Error(f->Get("hand_over_to"), "an acute case must be handed over to the coordinators of at least one partner");
  }
  a.defined = !a.phase.empty() && a.window_ms > 0 && a.partners != 0 && a.hand_over_to != 0;
}

void PolicyCompiler::ReadReferrals(const Node& node) {
  auto f = ReadMap(node, "referrals", {"reasons", "decline_reasons", "expire_days"}, {"reasons", "decline_reasons"});
  if (!f) return;
  Policy::Referrals& r = policy_->referrals_;
  if (f->Has("reasons")) r.reasons = ReadCodes(f->Get("reasons"), "reasons");
  if (f->Has("decline_reasons")) r.decline_reasons = ReadCodes(f->Get("decline_reasons"), "decline_reasons");
  if (f->Has("expire_days")) r.expire_days = Int(f->Get("expire_days"), "expire_days", 1, 365).value_or(14);
}

void PolicyCompiler::ReadPhases(const Node& node) {
  for (const Node& item : Items(node, "phases")) {
    auto f = ReadMap(item, "a phase", {"id", "name", "closed"}, {"id"});
    if (!f || !f->Has("id")) continue;
    auto id = Id(f->Get("id"), "phase id");
    if (!id || !AddName(policy_->phase_index_, *id, f->Get("id"), "phase", phase_marks_, kMaxNamesPerKind)) {
      continue;
    }
    Policy::Phase p{*id, "", false};
    if (f->Has("name")) p.name = Text(f->Get("name"), "name").value_or("");
    if (f->Has("closed")) p.closed = Bool(f->Get("closed"), "closed").value_or(false);
    policy_->phases_.push_back(std::move(p));
  }
}

void PolicyCompiler::ReadPurposes(const Node& node) {
  for (const Node& item : Items(node, "purposes")) {
    auto f = ReadMap(item, "a purpose", {"id", "description"}, {"id"});
    if (!f || !f->Has("id")) continue;
    auto id = Id(f->Get("id"), "purpose id");
    if (!id ||
        !AddName(policy_->purpose_index_, *id, f->Get("id"), "purpose", purpose_marks_, kMaxNamesPerKind)) {
      continue;
    }
    Policy::Purpose p{*id, ""};
    if (f->Has("description")) p.description = Text(f->Get("description"), "description").value_or("");
    policy_->purposes_.push_back(std::move(p));
  }
}

void PolicyCompiler::ReadCategories(const Node& node) {
  for (const Node& item : Items(node, "categories")) {
    auto f = ReadMap(item, "a category", {"id", "name", "owner", "fields", "art9", "art10", "regime"},
                     {"id", "fields"});
    if (!f || !f->Has("id")) continue;
    auto id = Id(f->Get("id"), "category id");
    if (!id || !AddName(policy_->category_index_, *id, f->Get("id"), "category", category_marks_,
                        kMaxNamesPerKind)) {
      continue;
    }
    Policy::Category c;
    c.id = *id;
    if (f->Has("name")) c.name = Text(f->Get("name"), "name").value_or("");
    if (f->Has("owner")) {
      if (auto p = Text(f->Get("owner"), "owner")) {
        c.owner = Resolve(*p, f->Get("owner"), policy_->partner_index_, "partner");
      }
    }
    if (f->Has("fields")) {
      for (const auto& [name, at] : TextList(f->Get("fields"), "fields")) {
        if (!config::IsValidId(name)) {
          Error(at, "field " + Quote(name) + " is not a valid name");
        } else if (std::find(c.fields.begin(), c.fields.end(), name) != c.fields.end()) {
          Error(at, "duplicate field " + Quote(name) + " in category " + Quote(c.id));
        } else if (c.fields.size() >= kMaxNamesPerKind) {
          Error(at, "too many fields in category " + Quote(c.id) + " (at most 64)");
        } else {
          c.fields.push_back(name);
        }
      }
    }
    if (f->Has("art9")) c.art9 = Bool(f->Get("art9"), "art9").value_or(false);
    if (f->Has("art10")) c.art10 = Bool(f->Get("art10"), "art10").value_or(false);
    if (f->Has("regime")) c.regime = Regime(f->Get("regime")).value_or(Policy::Regime::kAvg);
    policy_->categories_.push_back(std::move(c));
  }
}

void PolicyCompiler::ReadLegalBases(const Node& node) {
  for (const Node& item : Items(node, "legal_bases")) {
    auto f = ReadMap(item, "a legal basis",
                     {"id", "citation", "senders", "categories", "max_retention_days", "requires",
                      "art9_ground", "art10_ground", "regime", "consent_by", "allows_dossier_retention"},
                     {"id", "citation", "senders", "categories", "max_retention_days"});
    if (!f || !f->Has("id")) continue;
    auto id = Id(f->Get("id"), "legal basis id");
    // Legal bases are not part of a request, so more than 64 are fine.
    if (!id || !AddName(basis_index_, *id, f->Get("id"), "legal basis", basis_marks_, 1 << 16)) continue;
    Policy::LegalBasis b;
    b.id = *id;
    if (f->Has("citation")) b.citation = Text(f->Get("citation"), "citation").value_or("");
    if (f->Has("senders")) b.senders = NameSet(f->Get("senders"), policy_->partner_index_, "partner");
    if (f->Has("categories")) {
      b.categories = NameSet(f->Get("categories"), policy_->category_index_, "category");
    }
    if (f->Has("max_retention_days")) {
      b.max_retention_days = Int(f->Get("max_retention_days"), "max_retention_days", 1, 36500).value_or(0);
    }
    if (f->Has("requires")) b.required_conditions = Conditions(f->Get("requires"));
    if (f->Has("art9_ground")) b.art9_ground = Bool(f->Get("art9_ground"), "art9_ground").value_or(false);
    if (f->Has("art10_ground")) b.art10_ground = Bool(f->Get("art10_ground"), "art10_ground").value_or(false);
    if (f->Has("regime")) b.regime = Regime(f->Get("regime")).value_or(Policy::Regime::kAvg);
    if (f->Has("consent_by")) {
      const Node at = f->Get("consent_by");
      if (at.IsScalar() && at.Scalar() == "source") {
        b.consent_by_source = true;
        if (!(b.required_conditions & kConditionConsent)) {
          Error(at, "legal basis " + Quote(b.id) + " says consent_by: source, so it must list consent in requires");
        }
      } else {
        Error(at, "consent_by must be source (leave it out for any recorded consent)");
      }
    }
    if (f->Has("allows_dossier_retention")) {
      b.allows_dossier_retention =
          Bool(f->Get("allows_dossier_retention"), "allows_dossier_retention").value_or(false);
    }
    policy_->legal_bases_.push_back(std::move(b));
  }
}

uint8_t PolicyCompiler::SubjectRoles(const Node& node) {
  uint8_t bits = 0;
  for (const auto& [name, at] : TextList(node, "subject_roles")) {
    const int i = SubjectRoleIndex(name);
    if (i < 0) {
      Error(at, "unknown subject role " + Quote(name) +
                    " (expected victim, child, suspected-perpetrator, housemate, parent)");
    } else {
      bits |= static_cast<uint8_t>(1U << i);
    }
  }
  if (bits == 0 && node.IsSequence() && node.size() == 0) Error(node, "subject_roles lists at least one role");
  return bits;
}

void PolicyCompiler::ReadConsent(const Node& node) {
  auto f = ReadMap(node, "consent", {"max_days", "age_rule"}, {});
  if (!f) return;
  Policy::ConsentRules& c = policy_->consent_;
  c.defined = true;
  if (f->Has("max_days")) c.max_days = Int(f->Get("max_days"), "max_days", 1, 3650).value_or(0);
  if (!f->Has("age_rule")) return;
  int last_below = -1;
  bool open_ended = false;
  for (const Node& item : Items(f->Get("age_rule"), "age_rule")) {
    auto band = ReadMap(item, "an age band", {"below", "given_by"}, {"given_by"});
    if (!band) continue;
    if (open_ended) {
      Error(item, "no age band can follow the band without 'below' (it already covers every age)");
      continue;
    }
    Policy::ConsentBand b;
    b.givers = 0;
    if (band->Has("below")) {
      b.below = Int(band->Get("below"), "below", 1, 150).value_or(-1);
      if (b.below >= 0 && b.below <= last_below) {
        Error(band->Get("below"), "the age_rule's bands must have increasing 'below'");
      }
      if (b.below >= 0) last_below = b.below;
    } else {
      open_ended = true;
    }
    if (band->Has("given_by")) {
      for (const auto& [name, at] : TextList(band->Get("given_by"), "given_by")) {
        if (name == "subject") {
          b.givers |= kGiverSubject;
        } else if (name == "parents") {
          b.givers |= kGiverParents;
        } else {
          Error(at, "unknown consent giver " + Quote(name) + " (expected subject, parents)");
        }
      }
      if (b.givers == 0 && band->Get("given_by").IsSequence() && band->Get("given_by").size() == 0) {
        Error(band->Get("given_by"), "given_by lists subject, parents or both");
      }
    }
    c.age_rule.push_back(b);
  }
  if (!c.age_rule.empty() && !open_ended) {
    Error(f->Get("age_rule"), "the age_rule must end with a band without 'below' (for adults and unstated ages)");
  }
}

void PolicyCompiler::ReadNeverShared(const Node& node) {
  Policy& p = *policy_;
  std::map<std::string, config::Mark> seen;
  for (const Node& item : Items(node, "never_shared")) {
    auto f = ReadMap(item, "a never_shared entry", {"id", "category", "field", "reason"}, {"id", "reason"});
    if (!f || !f->Has("id")) continue;
    auto id = Id(f->Get("id"), "never_shared id");
    if (!id) continue;
    if (auto it = seen.find(*id); it != seen.end()) {
      Error(f->Get("id"), "duplicate never_shared id " + Quote(*id) + " (first defined at line " +
                              std::to_string(it->second.line) + ")");
      continue;
    }
    seen.emplace(*id, f->Get("id").mark());
    Policy::NeverShared n;
    n.id = *id;
    n.location = {item.mark().line, item.mark().column};
    if (f->Has("reason")) n.reason = Text(f->Get("reason"), "reason").value_or("");
    if (f->Has("category") == f->Has("field")) {
      Error(item, "a never_shared entry names either a category or a field (category.field), not both");
      continue;
    }
    if (f->Has("category")) {
      auto name = Text(f->Get("category"), "category");
      if (!name) continue;
      n.category = Resolve(*name, f->Get("category"), p.category_index_, "category");
      if (n.category < 0) continue;
      p.never_categories_ |= Bit(n.category);
    } else {
      auto name = Text(f->Get("field"), "field");
      if (!name) continue;
      const auto dot = name->find('.');
      if (dot == std::string::npos) {
        Error(f->Get("field"), "field must be written category.field");
        continue;
      }
      n.category = Resolve(name->substr(0, dot), f->Get("field"), p.category_index_, "category");
      if (n.category < 0) continue;
      const auto& fields = p.categories_[static_cast<size_t>(n.category)].fields;
      auto pos = std::find(fields.begin(), fields.end(), name->substr(dot + 1));
      if (pos == fields.end()) {
        Error(f->Get("field"), "category " + Quote(name->substr(0, dot)) + " has no field " +
                                   Quote(name->substr(dot + 1)));
        continue;
      }
      n.field = static_cast<int>(pos - fields.begin());
    }
    p.never_shared_.push_back(std::move(n));
  }
}

// A permit may not cover a never category nor allow a never field. Runs
// after the rules are read; also drops never fields from every rule (so the
// engine never gives one, even if a future lint gap let one through).
void PolicyCompiler::LintNeverShared() {
  Policy& p = *policy_;
  for (const auto& n : p.never_shared_) {
    if (rule_marks_.count(n.id) != 0) {
      Error(rule_marks_[n.id], "never_shared id " + Quote(n.id) + " is also a rule id");
    }
  }
  for (auto& rule : p.rules_) {
    if (rule.effect != Effect::kPermit) continue;
    for (const auto& n : p.never_shared_) {
      if (n.field < 0) {
        for (const auto& [c, at] : rule_category_marks_[rule.id]) {
          if (c == n.category) {
            Error(at, "rule " + Quote(rule.id) + " covers category " + Quote(p.categories_[c].id) +
                          ", which never_shared entry " + Quote(n.id) + " says is never shared");
          }
        }
        continue;
      }
      for (const auto& [c, field_at] : rule_field_marks_[rule.id]) {
        if (c == n.category && field_at.first == n.field) {
          Error(field_at.second, "field " + Quote(p.categories_[c].id + "." + p.categories_[c].fields[n.field]) +
                                     " is never shared (never_shared entry " + Quote(n.id) +
                                     "); remove it from the rule's fields");
        }
      }
      for (auto& [c, bits] : rule.fields) {
        if (c == n.category) bits &= ~Bit(n.field);
      }
    }
  }
}

void PolicyCompiler::ReadRules(const Node& node) {
  for (const Node& item : Items(node, "rules")) {
    if (rule_marks_.size() >= kMaxRules) {
      Error(item, "too many rules (at most " + std::to_string(kMaxRules) + ")");
      return;
    }
    ReadRule(item);
  }
}

void PolicyCompiler::ReadRule(const Node& item) {
  Policy& p = *policy_;
  auto f = ReadMap(item, "a rule",
                   {"id", "effect", "from", "to", "categories", "purposes", "phases", "legal_basis",
                    "conditions", "obligations", "explanation", "subject_roles", "within_hours_of_acute"},
                   {"id", "effect", "categories"});
  if (!f || !f->Has("id") || !f->Has("effect")) return;
  auto id = Id(f->Get("id"), "rule id");
  if (!id) return;
  if (auto seen = rule_marks_.find(*id); seen != rule_marks_.end()) {
    Error(f->Get("id"), "duplicate rule id " + Quote(*id) + " (first defined at line " +
                            std::to_string(seen->second.line) + ")");
    return;
  }
  rule_marks_.emplace(*id, f->Get("id").mark());
  Policy::Rule r;
  r.id = *id;
  r.location = {item.mark().line, item.mark().column};
  const Node effect = f->Get("effect");
  if (effect.IsScalar() && effect.Scalar() == "permit") {
    r.effect = Effect::kPermit;
  } else if (effect.IsScalar() && effect.Scalar() == "forbid") {
    r.effect = Effect::kDeny;
  } else {
    Error(effect, "effect must be permit or forbid");
    return;
  }
  const bool permit = r.effect == Effect::kPermit;
  const size_t errors_before = diagnostics_.size();
  const uint64_t all_partners = p.partners_.size() >= 64 ? ~uint64_t{0} : Bit(int(p.partners_.size())) - 1;

  // Who sends. A permit names its senders; a forbid may leave them open.
  std::vector<std::pair<int, Node>> senders;
  if (f->Has("from")) {
    for (const auto& [name, at] : TextList(f->Get("from"), "from")) {
      int i = Resolve(name, at, p.partner_index_, "partner");
      if (i >= 0) {
        r.from |= Bit(i);
        senders.emplace_back(i, at);
      }
    }
  } else if (permit) {
    Error(item, "a permit rule must name its senders ('from')");
  } else {
    r.from = all_partners;
  }

  // Who receives: "partner" or "partner/role".
  if (f->Has("to")) {
    for (const auto& [name, at] : TextList(f->Get("to"), "to")) {
      Policy::Target t;
      std::string partner = name, role;
      if (auto slash = name.find('/'); slash != std::string::npos) {
        partner = name.substr(0, slash);
        role = name.substr(slash + 1);
      }
      if (partner != "*") {
        t.partner = Resolve(partner, at, p.partner_index_, "partner");
        if (t.partner < 0) continue;
      } else if (permit) {
        Error(at, "a permit rule must name its recipients; '*' is only for forbid rules");
        continue;
      }
      if (!role.empty()) {
        t.role = Resolve(role, at, p.role_index_, "role");
        if (t.role < 0) continue;
        const int holder = p.roles_[t.role].partner;
        if (holder >= 0 && t.partner >= 0 && holder != t.partner) {
          Error(at, "no request can reach this: role " + Quote(role) + " belongs to partner " +
                        Quote(p.partners_[holder].id) + ", not " + Quote(partner));
          continue;
        }
      }
      r.to.push_back(t);
    }
  } else if (permit) {
    Error(item, "a permit rule must name its recipients ('to')");
  } else {
    r.to.push_back(Policy::Target{});
  }

  std::vector<std::pair<int, Node>> cats;
  bool all_categories_known = true;  // else do not pile on "does not cover" errors
  if (f->Has("categories")) {
    for (const auto& [name, at] : TextList(f->Get("categories"), "categories")) {
      int i = Resolve(name, at, p.category_index_, "category");
      if (i >= 0) {
        r.categories |= Bit(i);
        cats.emplace_back(i, at);
        rule_category_marks_[r.id].emplace_back(i, at.mark());
      } else {
        all_categories_known = false;
      }
    }
  }
  if (f->Has("purposes")) {
    r.purposes = NameSet(f->Get("purposes"), p.purpose_index_, "purpose");
  } else if (permit) {
    Error(item, "a permit rule must name its purposes (doelbinding)");
  } else {
    r.purposes = ~uint64_t{0};
  }
  if (f->Has("phases")) {
    for (const auto& [name, at] : TextList(f->Get("phases"), "phases")) {
      int i = Resolve(name, at, p.phase_index_, "phase");
      if (i < 0) continue;
      if (p.phases_[i].closed) {
        Error(at, "no request can reach this: phase " + Quote(name) +
                      " is closed, and a closed case refuses every request");
        continue;
      }
      r.phases |= Bit(i);
    }
  } else {
    for (size_t i = 0; i < p.phases_.size(); ++i) {
      if (!p.phases_[i].closed) r.phases |= Bit(static_cast<int>(i));
    }
  }
  if (f->Has("explanation")) r.explanation = Text(f->Get("explanation"), "explanation").value_or("");
  if (f->Has("subject_roles")) r.subject_roles = SubjectRoles(f->Get("subject_roles"));

  if (!permit) {
    for (const char* k : {"legal_basis", "conditions", "obligations", "within_hours_of_acute"}) {
      if (f->Has(k)) Error(f->Get(k), std::string("a forbid rule takes no ") + k);
    }
    if (diagnostics_.size() == errors_before) p.rules_.push_back(std::move(r));
    return;
  }

  // A permit: legal basis, conditions, obligations, and what the basis covers.
  const Policy::LegalBasis* basis = nullptr;
  Node basis_node = f->Get("legal_basis");
  if (!f->Has("legal_basis")) {
    Error(item, "a permit rule must name its legal_basis");
  } else if (auto name = Text(basis_node, "legal_basis")) {
    r.legal_basis = Resolve(*name, basis_node, basis_index_, "legal basis");
    if (r.legal_basis >= 0) basis = &p.legal_bases_[r.legal_basis];
  }
  if (f->Has("conditions")) r.conditions = Conditions(f->Get("conditions"));
  if (f->Has("within_hours_of_acute")) {
    const Node at = f->Get("within_hours_of_acute");
    r.within_hours_of_acute = Int(at, "within_hours_of_acute", 1, 720).value_or(0);
    if (!p.acute_.defined) {
      Error(at, "within_hours_of_acute needs the acute block (acute: phase, window_hours, partners, hand_over_to)");
    } else if (const int ap = p.PhaseIndex(p.acute_.phase); ap >= 0 && !(r.phases & Bit(ap))) {
      Error(at, "within_hours_of_acute: the rule's phases do not include the acute phase " + Quote(p.acute_.phase));
    }
  }
  if (basis != nullptr) {
    r.conditions |= basis->required_conditions;
    for (const auto& [s, at] : senders) {
      if (!(basis->senders & Bit(s))) {
        Error(at, "legal basis " + Quote(basis->id) + " does not cover sender " + Quote(p.partners_[s].id));
      }
    }
  }
  for (const auto& [c, at] : cats) {
    const Policy::Category& cat = p.categories_[c];
    if (cat.owner >= 0) {
      for (const auto& [s, sat] : senders) {
        if (s != cat.owner) {
          Error(sat, "partner " + Quote(p.partners_[s].id) + " does not hold category " + Quote(cat.id) +
                         " (held by " + Quote(p.partners_[cat.owner].id) + "); no request can reach this");
        }
      }
    }
    if (basis == nullptr) continue;
    if (!(basis->categories & Bit(c))) {
      Error(at, "legal basis " + Quote(basis->id) + " does not cover category " + Quote(cat.id));
    }
    if (cat.art9 && !basis->art9_ground) {
      Error(at, "category " + Quote(cat.id) + " is AVG art. 9 special category data, but legal basis " +
                    Quote(basis->id) + " is no art. 9 ground");
    }
    if (cat.art10 && !basis->art10_ground) {
      Error(at, "category " + Quote(cat.id) + " is AVG art. 10 criminal data, but legal basis " +
                    Quote(basis->id) + " is no art. 10 ground");
    }
    if (cat.regime != Policy::Regime::kAvg && basis->regime != cat.regime) {
      Error(at, "category " + Quote(cat.id) + " falls under the " + std::string(RegimeName(cat.regime)) +
                    " regime, but legal basis " + Quote(basis->id) + " belongs to the " +
                    std::string(RegimeName(basis->regime)) + " regime");
    }
  }

  if (!f->Has("obligations")) {
    Error(item, "a permit rule must state its obligations (fields and retention_days)");
  } else if (auto ob = ReadMap(f->Get("obligations"), "obligations",
                               {"fields", "retention_days", "retention_from", "no_onward_sharing",
                                "notify_privacy_officer"},
                               {"fields", "retention_days"})) {
    if (ob->Has("retention_days") && ob->Get("retention_days").IsScalar() &&
        ob->Get("retention_days").Scalar() == "dossier") {
      // The recipient's statutory dossier term: every recipient must have one.
      Node at = ob->Get("retention_days");
      r.retention_dossier = true;
      for (const Policy::Target& t : r.to) {
        if (t.partner < 0) continue;
        const Policy::Partner& to = p.partners_[static_cast<size_t>(t.partner)];
        if (to.dossier_retention_days == 0) {
          Error(at, "retention_days: dossier, but recipient " + Quote(to.id) + " has no dossier_retention_days");
        } else {
          r.retention_days = r.retention_days == 0 ? to.dossier_retention_days
                                                   : std::min(r.retention_days, to.dossier_retention_days);
        }
      }
      if (basis != nullptr && !basis->allows_dossier_retention) {
        Error(at, "legal basis " + Quote(basis->id) +
                      " does not allow the recipient's dossier term (allows_dossier_retention: true)");
      }
    } else if (ob->Has("retention_days")) {
      Node at = ob->Get("retention_days");
      r.retention_days = Int(at, "retention_days", 1, 36500).value_or(0);
      if (basis != nullptr && r.retention_days > basis->max_retention_days) {
        Error(at, "retention of " + std::to_string(r.retention_days) + " days exceeds the maximum of " +
                      std::to_string(basis->max_retention_days) + " days of legal basis " + Quote(basis->id));
      }
    }
    if (ob->Has("retention_from")) {
      const Node at = ob->Get("retention_from");
      if (at.IsScalar() && (at.Scalar() == "closure" || at.Scalar() == "delivery")) {
        r.retention_from_closure = at.Scalar() == "closure";
      } else {
        Error(at, "retention_from must be delivery or closure");
      }
    }
    if (ob->Has("no_onward_sharing")) {
      r.no_onward_sharing = Bool(ob->Get("no_onward_sharing"), "no_onward_sharing").value_or(false);
    }
    if (ob->Has("notify_privacy_officer")) {
      r.notify_privacy_officer =
          Bool(ob->Get("notify_privacy_officer"), "notify_privacy_officer").value_or(false);
    }
    uint64_t given = 0;
    if (ob->Has("fields")) {
      const Node fields = ob->Get("fields");
      if (!fields.IsMap()) {
        Error(fields, "obligations.fields must map each category to its allowed fields");
      } else {
        for (const auto& [key, value] : fields.Entries()) {
          if (!key.IsScalar()) {
            Error(key, "keys of obligations.fields must be category names");
            continue;
          }
          const int c = Resolve(key.Scalar(), key, p.category_index_, "category");
          if (c < 0) continue;
          if (!(r.categories & Bit(c))) {
            if (!all_categories_known) continue;
            Error(key,
                  "obligations name category " + Quote(key.Scalar()) + ", which the rule does not cover");
            continue;
          }
          if (given & Bit(c)) {
            Error(key, "duplicate key " + Quote(key.Scalar()) + " in obligations.fields");
            continue;
          }
          given |= Bit(c);
          const Policy::Category& cat = p.categories_[c];
          uint64_t bits = 0;
          for (const auto& [name, at] : TextList(value, "the fields of " + cat.id)) {
            auto pos = std::find(cat.fields.begin(), cat.fields.end(), name);
            if (pos == cat.fields.end()) {
              Error(at, "category " + Quote(cat.id) + " has no field " + Quote(name));
            } else {
              bits |= Bit(static_cast<int>(pos - cat.fields.begin()));
              rule_field_marks_[r.id].push_back({c, {static_cast<int>(pos - cat.fields.begin()), at.mark()}});
            }
          }
          r.fields.emplace_back(c, bits);
        }
        for (const auto& [c, at] : cats) {
          if (!(given & Bit(c))) {
            Error(at, "the rule gives no allowed fields for category " + Quote(p.categories_[c].id) +
                          " (data minimisation: list them under obligations.fields)");
          }
        }
      }
    }
  }
  if (diagnostics_.size() == errors_before) p.rules_.push_back(std::move(r));
}

void PolicyCompiler::LintShadowedRules() {
  // A permit is reachable when at least one (sender, recipient, category)
  // cell it occupies is not entirely covered by a single forbid rule there
  // (purposes, phases and roles all included). One cover per cell keeps the
  // check sound: it never flags a rule that some request can reach.
  Policy& p = *policy_;
  const size_t cells = p.offsets_.empty() ? 0 : p.offsets_.size() - 1;
  std::vector<char> present(p.rules_.size(), 0), reachable(p.rules_.size(), 0);
  std::vector<std::vector<std::string>> covered_by(p.rules_.size());
  for (size_t c = 0; c < cells; ++c) {
    const uint32_t begin = p.offsets_[c], end = p.offsets_[c + 1];
    for (uint32_t e = begin; e < end; ++e) {
      const Policy::Entry& mine = p.entries_[e];
      const Policy::Rule& rule = p.rules_[mine.rule];
      if (rule.effect != Effect::kPermit || reachable[mine.rule]) continue;
      present[mine.rule] = 1;
      const Policy::Rule* cover = nullptr;
      for (uint32_t g = begin; g < end && cover == nullptr; ++g) {
        const Policy::Entry& other = p.entries_[g];
        const Policy::Rule& forbid = p.rules_[other.rule];
        if (forbid.effect != Effect::kDeny) continue;
        if ((rule.purposes & ~forbid.purposes) != 0 || (rule.phases & ~forbid.phases) != 0) continue;
        // A forbid about some roles covers only a permit about those roles.
        if (forbid.subject_roles != 0 &&
            (rule.subject_roles == 0 || (rule.subject_roles & ~forbid.subject_roles) != 0)) {
          continue;
        }
        if (!other.any_role && (mine.any_role || (mine.roles & ~other.roles) != 0)) continue;
        cover = &forbid;
      }
      if (cover == nullptr) {
        reachable[mine.rule] = 1;
      } else if (auto& by = covered_by[mine.rule]; std::find(by.begin(), by.end(), cover->id) == by.end()) {
        by.push_back(cover->id);
      }
    }
  }
  for (size_t ri = 0; ri < p.rules_.size(); ++ri) {
    const Policy::Rule& rule = p.rules_[ri];
    if (rule.effect != Effect::kPermit || reachable[ri]) continue;
    std::string list;
    for (const auto& id : covered_by[ri]) list += (list.empty() ? "" : ", ") + id;
    Error(rule_marks_[rule.id],
          "no request can reach rule " + Quote(rule.id) +
              (present[ri] && !list.empty() ? ": every request it matches is forbidden by " + list
                                            : std::string(": it matches no sender, recipient and category")));
  }
}

CompileOutput PolicyCompiler::Run(std::string_view text) {
  CompileOutput out;
  try {
    if (text.size() > kMaxPolicyBytes) {
      diagnostics_.Error("policy is larger than " + std::to_string(kMaxPolicyBytes) + " bytes");
    } else if (std::optional<Node> parsed = config::ParseYaml(text, diagnostics_)) {
      const Node& root = *parsed;
      if (!root.IsMap()) {
        Error(root,
              "a policy must be a mapping with the keys policy, partners, roles, phases, purposes, "
              "categories, legal_bases, rules");
      } else if (auto top = ReadMap(
                     root, "the policy",
                     {"policy", "partners", "roles", "phases", "purposes", "categories", "legal_bases",
                      "rules", "acute", "referrals", "consent", "never_shared"},
                     {"policy", "partners", "phases", "purposes", "categories", "legal_bases", "rules"})) {
        if (top->Has("policy")) ReadMeta(top->Get("policy"));
        if (top->Has("partners")) ReadPartners(top->Get("partners"));
        if (top->Has("roles")) ReadRoles(top->Get("roles"));
        if (top->Has("phases")) ReadPhases(top->Get("phases"));
        if (top->Has("acute")) ReadAcute(top->Get("acute"));
        if (top->Has("referrals")) ReadReferrals(top->Get("referrals"));
        if (top->Has("purposes")) ReadPurposes(top->Get("purposes"));
        if (top->Has("categories")) ReadCategories(top->Get("categories"));
        if (top->Has("never_shared")) ReadNeverShared(top->Get("never_shared"));
        if (top->Has("consent")) ReadConsent(top->Get("consent"));
        if (top->Has("legal_bases")) ReadLegalBases(top->Get("legal_bases"));
        if (top->Has("rules")) ReadRules(top->Get("rules"));
        LintNeverShared();
        for (const auto& role : policy_->roles_) {
          if (role.acute && !policy_->acute_.defined && !top->Has("acute")) {
            Error(top->Get("roles"), "role " + Quote(role.id) +
                                         " may open acute cases, but the policy has no acute block "
                                         "(acute: phase, window_hours, partners, hand_over_to)");
          }
          if (role.refers_to != 0 && policy_->referrals_.reasons.empty() && !top->Has("referrals")) {
            Error(top->Get("roles"), "role " + Quote(role.id) +
                                         " may refer, but the policy has no referrals block with reasons");
          }
        }
        if (policy_->rules_.empty() && diagnostics_.empty()) {
          Error(top->Get("rules"), "the policy has no rules, so it refuses everything");
        }
        std::sort(policy_->rules_.begin(), policy_->rules_.end(),
                  [](const Policy::Rule& a, const Policy::Rule& b) { return a.id < b.id; });
        // Bound the index (sender x recipient x category cells per rule).
        size_t index_entries = 0;
        for (const auto& rule : policy_->rules_) {
          size_t recipients = 0;
          for (const auto& t : rule.to) recipients += t.partner < 0 ? policy_->partners_.size() : 1;
          index_entries += static_cast<size_t>(std::popcount(rule.categories)) *
                           static_cast<size_t>(std::popcount(rule.from)) * recipients;
        }
        if (index_entries > kMaxIndexEntries) {
          Error(top->Get("rules"), "the rules are too broad to index (" + std::to_string(index_entries) +
                                       " sender/recipient/category combinations; at most " +
                                       std::to_string(kMaxIndexEntries) + ")");
        } else if (!policy_->partners_.empty() && !policy_->categories_.empty()) {
          policy_->BuildIndex();
          LintShadowedRules();
        }
      }
    }
  } catch (const std::exception& e) {
    diagnostics_.Error(std::string("cannot load policy: ") + e.what());
  }
  if (policy_->sha256_hex_.size() != 64 ||
      !std::all_of(policy_->sha256_hex_.begin(), policy_->sha256_hex_.end(),
                   [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); })) {
    diagnostics_.Error("internal: the policy's SHA-256 must be 64 lowercase hex digits");
  }
  out.diagnostics = diagnostics_.Take();
  if (out.diagnostics.empty()) out.policy = std::move(policy_);
  return out;
}

CompileOutput CompilePolicy(std::string_view text, std::string_view source_name,
                            std::string_view sha256_hex) {
  return PolicyCompiler(source_name, sha256_hex).Run(text);
}

Result<std::shared_ptr<const Policy>> LoadPolicy(std::string_view text, std::string_view source_name,
                                                 std::string_view sha256_hex) {
  CompileOutput out = CompilePolicy(text, source_name, sha256_hex);
  if (!out.diagnostics.empty()) {
    std::string message = "policy " + std::string(source_name) + " has " +
                          std::to_string(out.diagnostics.size()) + " error(s) and is not used:\n" +
                          FormatDiagnostics(out.diagnostics);
    message.pop_back();
    return InvalidArgumentError(std::move(message));
  }
  return out.policy;
}

Result<std::shared_ptr<const Policy>> LoadPolicyFile(const std::string& path,
                                                     const Sha256HexFunction& sha256_hex) {
  KP_ASSIGN_OR_RETURN(std::string text, ReadFileBounded(path, kMaxPolicyBytes));
  return LoadPolicy(text, path, sha256_hex(text));
}

}  // namespace kp::policy

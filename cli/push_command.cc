// Sending to a partner (docs/cli.md, "Sending to a partner"):
//   ketenpoort send CASE --to PARTNER --purpose P --category C ... --content FILE.json
//                   [--subject S1 ...] [--keep-days N] [--from-closure] [--wait S] [--json]
//   ketenpoort pushes [--case CASE] [--json]
// The content file holds the records per category, in the shape the
// recipient's sink gets them (docs/agent.md "Receiving"). When the client
// configuration names the region's policy (`policy:`, as the console needs
// it), `send` asks it first, as the gateway will, says what it answers, and
// keeps the keep-until date within the policy's retention for this push,
// counted from the case's closure when the policy says so.
// Messages name files, keys and ids, never a value from the content.
#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "cli/cli_context.h"
#include "client/coordinator.h"
#include "core/base/encoding.h"
#include "core/base/file_util.h"
#include "core/crypto/sha256.h"
#include "core/identity/passphrase_prompt.h"
#include "policy/policy_loader.h"

namespace kp::cli {
namespace {

namespace v1 = ketenpoort::v1;
using client::Coordinator;
using client::PushInfo;

constexpr size_t kMaxContentFileBytes = 1 << 20;

struct SendArgs {
  std::string config;
  std::string case_id;
  std::string to;
  std::string purpose;
  std::vector<std::string> categories;
  std::string content_file;
  std::vector<std::string> subjects;
  int keep_days = 0;          // 0: the policy's retention when known, else 365
  bool from_closure = false;  // count keep_days from the case's closure (the policy decides when known)
  int wait_s = 30;
  bool json = false;
};

// The content file: {"categories": [{"category": C, "records": [{"subject_ref":
// S, "fields": {F: "value", ...}}, ...]}, ...]}, exactly the categories named
// with --category.
Result<v1::FragmentContent> LoadContent(const std::string& path, const std::vector<std::string>& categories) {
  KP_ASSIGN_OR_RETURN(std::string text, ReadFileBounded(path, kMaxContentFileBytes));
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("categories") || !j["categories"].is_array()) {
    return InvalidArgumentError(path + ": expected a JSON object with a list \"categories\" (docs/cli.md)");
  }
  v1::FragmentContent content;
  std::set<std::string> seen;
  for (const auto& c : j["categories"]) {
    if (!c.is_object() || !c.contains("category") || !c["category"].is_string() || !c.contains("records") ||
        !c["records"].is_array()) {
      return InvalidArgumentError(path +
                                  ": each entry of \"categories\" has a \"category\" and a list \"records\"");
    }
    const std::string id = c["category"].get<std::string>();
    if (std::find(categories.begin(), categories.end(), id) == categories.end()) {
      return InvalidArgumentError(path + ": category " + id.substr(0, 64) + " is not named with --category");
    }
    if (!seen.insert(id).second) return InvalidArgumentError(path + ": category " + id + " appears twice");
    auto* out = content.add_categories();
    out->set_category(id);
    for (const auto& r : c["records"]) {
      if (!r.is_object() || !r.contains("subject_ref") || !r["subject_ref"].is_string() ||
          !r.contains("fields") || !r["fields"].is_object()) {
        return InvalidArgumentError(path + ": each record of " + id +
                                    " has a \"subject_ref\" and an object \"fields\"");
      }
      auto* rec = out->add_records();
      rec->set_subject_ref(r["subject_ref"].get<std::string>());
      for (const auto& [field, value] : r["fields"].items()) {
        if (!value.is_string()) {
          return InvalidArgumentError(path + ": field " + id + "." + field.substr(0, 64) + " must be text");
        }
        auto* fv = rec->add_values();
        fv->set_field(field);
        fv->set_value(value.get<std::string>());
      }
    }
  }
  for (const auto& c : categories) {
    if (seen.count(c) == 0) return InvalidArgumentError(path + ": holds no records for category " + c);
  }
  return content;
}

std::string Join(const std::vector<std::string_view>& v) {
  std::string out;
  for (auto s : v) out += (out.empty() ? "" : ", ") + std::string(s);
  return out;
}

// "received by politie-agent", "refused by gateway: ...".
std::string StateText(const PushInfo& p) {
  if (p.state == "received") return "received by " + p.by;
  if (p.state == "refused") return "refused by " + p.by + ": " + p.reason;
  if (p.state == "accepted") return "accepted by the gateway; waiting for the partner's agent";
  return "sent; no answer from the gateway yet";
}

nlohmann::ordered_json PushJson(const PushInfo& p) {
  nlohmann::ordered_json j;
  j["push_id"] = HexEncode(p.push_id);
  j["case_id"] = p.case_id;
  j["to"] = p.to_partner;
  j["purpose"] = p.purpose;
  j["categories"] = p.categories;
  j["sent_at"] = FormatRfc3339Millis(p.sent_ms);
  j["state"] = p.state;
  if (!p.by.empty()) j["by"] = p.by;
  if (!p.reason.empty()) j["reason"] = p.reason;
  if (p.answered_ms > 0) j["answered_at"] = FormatRfc3339Millis(p.answered_ms);
  return j;
}

// Asks the policy of the client configuration about the push; caps
// spec->keep_days at its retention and counts it from the case's closure
// when the policy does. Says what it found on `ctx.err`.
void AskPolicyFirst(CliContext& ctx, Coordinator& c, client::PushSpec* spec, bool keep_days_given) {
  if (c.config().policy.empty() && c.policies() == nullptr) {
    if (!keep_days_given) spec->keep_days = 365;
    ctx.err << "no policy in the client configuration: the partner keeps it " << spec->keep_days << " days"
            << (spec->keep_from_closure ? " after the case closes" : "")
            << "; its agent refuses a term longer than the policy's retention allows\n";
    return;
  }
  // The signed policy bundle the client took from the gateway, else `policy: FILE`.
  auto policy = c.PolicyInForce();
  if (!policy.ok()) {
    if (!keep_days_given) spec->keep_days = 365;
    ctx.err << "warning: the policy " << c.config().policy << " cannot be read (" << policy.status().message()
            << "); sent without asking it\n";
    return;
  }
  auto d = c.PushDecision(*spec, **policy);
  if (!d.ok()) {
    if (!keep_days_given) spec->keep_days = 365;
    ctx.err << "policy " << (*policy)->id() << ": " << d.status().message() << " (the gateway decides)\n";
    return;
  }
  if (d->effect != policy::Effect::kPermit) {
    if (!keep_days_given) spec->keep_days = 365;
    ctx.err << "policy " << (*policy)->id() << " refuses it here: " << d->reason
            << " (the gateway decides)\n";
    return;
  }
  const int days = d->obligations.retention_days;
  const bool from_closure = d->obligations.retention_from_closure;
  ctx.err << "policy " << (*policy)->id() << ": allowed by " << Join(d->rule_ids) << " under "
          << Join(d->legal_bases);
  if (days > 0) {
    ctx.err << "; the partner keeps it at most " << days << " days"
            << (from_closure ? " after the case closes" : "");
  }
  ctx.err << "\n";
  if (spec->keep_from_closure && !from_closure) {
    ctx.err << "--from-closure dropped: the policy counts this push's retention from delivery\n";
  }
  spec->keep_from_closure = from_closure;
  if (!keep_days_given) {
    spec->keep_days = days > 0 ? days : 365;
  } else if (days > 0 && spec->keep_days > days) {
    ctx.err << "--keep-days " << spec->keep_days << " capped at " << days
            << ": the policy's retention for this push\n";
    spec->keep_days = days;
  }
}

void RegisterSend(CLI::App& app, CliContext& ctx) {
  auto a = std::make_shared<SendArgs>();
  CLI::App* cmd =
      app.add_subcommand("send", "Send something the policy lets you send to a partner (e.g. the plan)");
  AddConfig(cmd, a->config);
  cmd->add_option("case", a->case_id, "Case id");
  cmd->add_option("--case", a->case_id, "Case id");
  cmd->add_option("--to", a->to, "Partner it goes to, e.g. politie");
  cmd->add_option("--purpose", a->purpose, "Purpose id");
  cmd->add_option("--category", a->categories, "Data category (repeat)");
  cmd->add_option("--content", a->content_file, "JSON file with the records per category (docs/cli.md)");
  cmd->add_option("--subject", a->subjects,
                  "Subject reference (repeat; default: every subject the records name)");
  cmd->add_option("--keep-days", a->keep_days,
                  "Days the partner keeps it (default and maximum: the policy's retention, when the client "
                  "configuration names the policy; else 365)");
  cmd->add_flag(
      "--from-closure", a->from_closure,
      "Count --keep-days from the case's closure (the policy's retention_from: closure; when the client "
      "configuration names the policy, the policy decides)");
  cmd->add_option("--wait", a->wait_s, "Seconds to wait for the partner's confirmation (default 30)");
  cmd->add_flag("--json", a->json, "Print the push as JSON");
  cmd->callback(Guard(ctx, [a, &ctx]() -> Status {
    if (a->case_id.empty() || a->to.empty() || a->purpose.empty() || a->categories.empty() ||
        a->content_file.empty()) {
      return InvalidArgumentError("send needs a case, --to, --purpose, --category and --content");
    }
    if (a->keep_days < 0) return InvalidArgumentError("--keep-days must be positive");
    client::PushSpec spec;
    spec.case_id = a->case_id;
    spec.to_partner = a->to;
    spec.purpose = a->purpose;
    spec.subject_refs = a->subjects;
    KP_ASSIGN_OR_RETURN(spec.content, LoadContent(a->content_file, a->categories));
    KP_ASSIGN_OR_RETURN(auto c, OpenCoordinator(a->config, true));
    spec.keep_days = a->keep_days;
    spec.keep_from_closure = a->from_closure;
    AskPolicyFirst(ctx, *c, &spec, a->keep_days > 0);
    Result<PushInfo> sent = c->Push(spec, std::max(a->wait_s, 1) * 1000);
    spec.content.Clear();
    if (!sent.ok()) return sent.status();
    const PushInfo& p = *sent;
    if (a->json) {
      ctx.out << PushJson(p).dump(2) << "\n";
    } else {
      ctx.out << "push " << HexEncode(p.push_id) << " to " << p.to_partner << ": " << StateText(p) << "\n";
    }
    if (p.state == "refused") {
      ctx.exit_code = kExitRefused;
    } else if (p.state != "received") {
      ctx.err << (p.state == "accepted"
                      ? "the gateway holds it until the partner's agent takes it; its confirmation "
                        "comes to your inbox (`ketenpoort inbox`, then `ketenpoort pushes`)\n"
                      : "no answer within the wait; see `ketenpoort pushes` later\n");
      ctx.exit_code = kExitUnavailable;
    }
    return OkStatus();
  }));
}

void RegisterPushes(CLI::App& app, CliContext& ctx) {
  auto config = std::make_shared<std::string>();
  auto case_id = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand("pushes", "What you sent to partners, and what became of it");
  AddConfig(cmd, *config);
  cmd->add_option("--case", *case_id, "Only this case");
  cmd->add_flag("--json", *json, "Print the list as JSON");
  cmd->callback(Guard(ctx, [config, case_id, json, &ctx]() -> Status {
    KP_ASSIGN_OR_RETURN(auto c, OpenCoordinator(*config, false));
    KP_ASSIGN_OR_RETURN(auto pushes, c->Pushes(*case_id));
    if (*json) {
      nlohmann::ordered_json j = nlohmann::json::array();
      for (const auto& p : pushes) j.push_back(PushJson(p));
      ctx.out << j.dump(2) << "\n";
      return OkStatus();
    }
    if (pushes.empty()) ctx.out << "nothing sent\n";
    for (const auto& p : pushes) {
      ctx.out << HexEncode(p.push_id) << "  case " << p.case_id << "  to " << p.to_partner << "  "
              << CommaList(p.categories) << "  sent " << FormatRfc3339Millis(p.sent_ms) << "  " << p.state;
      if (!p.by.empty() && p.state != "accepted") ctx.out << " by " << p.by;
      if (!p.reason.empty()) ctx.out << ": " << p.reason;
      ctx.out << "\n";
    }
    return OkStatus();
  }));
}

}  // namespace

void RegisterPushCommands(CLI::App& app, CliContext& ctx) {
  RegisterSend(app, ctx);
  RegisterPushes(app, ctx);
}

}  // namespace kp::cli

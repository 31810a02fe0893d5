// `ketenpoort policy sign|show-bundle`: the enrolment office (or the
// participant the registry names as policy-signer) signs a policy bundle on
// its offline machine; anyone checks one against the pinned enrolment card
// (docs/formats.md §5, docs/operations.md "Rolling out a registry or a
// policy"). The bundle folder is then given to the gateway operator
// (`policy_bundle:` in the gateway's configuration; SIGHUP), who cannot sign one.
#include <memory>

#include "case/policy_bundle.h"
#include "cli/cli_context.h"
#include "core/base/clock.h"
#include "core/base/file_util.h"
#include "core/identity/identity.h"
#include "core/identity/registry.h"

namespace kp::cli {

void RegisterPolicyBundleCommands(CLI::App& group, CliContext& ctx);

namespace {

struct BundleArgs {
  std::string dir;
  std::string key;       // sign: the signer's secret identity
  std::string card;      // show-bundle: the enrolment card
  std::string registry;  // show-bundle: for a policy-signer's card
  std::string region = "hart-van-brabant";
  std::vector<std::string> policies;  // FILE@TIME
};

Status RunBundleSign(const BundleArgs& a, CliContext& ctx) {
  KP_ASSIGN_OR_RETURN(Identity signer, Identity::LoadFile(a.key));
  std::string name;
  if (signer.kind() == ParticipantKind::kEnrolment) {
    name = cases::kEnrolmentSigner;
  } else if (signer.kind() == ParticipantKind::kGateway) {
    return PermissionDeniedError(a.key + " is a gateway's identity: a gateway may never sign a policy bundle");
  } else {
    name = signer.id();  // the registry must name it policy-signer, or receivers refuse the bundle
  }
  const int64_t now = SystemClock::Get().NowMillis();
  std::vector<std::pair<std::string, int64_t>> entries;
  for (const auto& p : a.policies) {
    const size_t at = p.rfind('@');
    if (at == std::string::npos) {
      return InvalidArgumentError("--policy must look like FILE@TIME, e.g. hvb-2027.1.yaml@2027-01-01T00:00:00.000Z "
                                  "(or FILE@now)");
    }
    const std::string when = p.substr(at + 1);
    int64_t ms = now;
    if (when != "now") {
      auto t = ParseRfc3339Millis(when);
      if (!t.ok()) return InvalidArgumentError("--policy " + p + ": the time is not 2027-01-01 or 2027-01-01T00:00:00.000Z");
      ms = *t;
    }
    entries.emplace_back(p.substr(0, at), ms);
  }
  KP_RETURN_IF_ERROR(cases::SignPolicyBundle(a.dir, signer.signing().secret_key, name, a.region, entries, now));
  KP_ASSIGN_OR_RETURN(std::string text, ReadFileBounded(a.dir + "/" + cases::kPolicyManifestName,
                                                        cases::kMaxPolicyManifestBytes));
  const size_t p = text.find("\nserial: ");
  ctx.out << "signed " << a.dir << "/" << cases::kPolicyManifestName << " as " << name << ", serial "
          << text.substr(p + 9, text.find('\n', p + 1) - p - 9) << "\n";
  return OkStatus();
}

Status RunBundleShow(const BundleArgs& a, CliContext& ctx) {
  KP_ASSIGN_OR_RETURN(PublicCard enrolment, LoadPinnedEnrolmentCard(a.card, SystemClock::Get().NowMillis()));
  std::unique_ptr<Registry> registry;
  if (!a.registry.empty()) {
    KP_ASSIGN_OR_RETURN(Registry r, Registry::Load(a.registry, enrolment.signing_key));
    registry = std::make_unique<Registry>(std::move(r));
  }
  cases::PolicySet::Expect expect{enrolment.signing_key, registry.get(), 0, registry ? registry->region() : ""};
  KP_ASSIGN_OR_RETURN(cases::PolicySet set, cases::PolicySet::LoadDir(a.dir, expect));
  const auto& m = set.manifest();
  const int64_t now = SystemClock::Get().NowMillis();
  ctx.out << "policy bundle of region " << m.region << ", serial " << m.serial << ", issued "
          << FormatRfc3339Millis(m.issued_ms) << ", signed by " << m.signer << " (verified)\n";
  const auto& in_force = set.InForceAt(now);
  for (size_t i = 0; i < m.policies.size(); ++i) {
    const auto& p = m.policies[i];
    const auto& loaded = set.policies()[i].second;
    const char* state = loaded == in_force ? "in force now" : p.effective_from_ms > now ? "from then on" : "replaced";
    ctx.out << "  " << FormatRfc3339Millis(p.effective_from_ms) << "  " << p.version << "  " << p.file << "  sha256 "
            << p.sha256_hex << "  (" << state << ")\n";
  }
  return OkStatus();
}

}  // namespace

void RegisterPolicyBundleCommands(CLI::App& group, CliContext& ctx) {
  {
    auto a = std::make_shared<BundleArgs>();
    CLI::App* cmd = group.add_subcommand(
        "sign", "Sign a policy bundle: policy.signed for the policy files in a folder (enrolment office, offline key)");
    cmd->add_option("--key", a->key, "The signer's secret identity: the enrolment identity, or a policy-signer's")
        ->required();
    cmd->add_option("--dir", a->dir, "The bundle folder, holding the policy files")->required();
    cmd->add_option("--policy", a->policies,
                    "FILE@TIME (repeatable): a policy file in the folder and the moment it takes effect "
                    "(RFC 3339, a date, or 'now'); list the one in force now too")
        ->required();
    cmd->add_option("--region", a->region, "Region name (default hart-van-brabant)");
    cmd->callback(Guard(ctx, [a, &ctx] { return RunBundleSign(*a, ctx); }));
  }
  {
    auto a = std::make_shared<BundleArgs>();
    CLI::App* cmd = group.add_subcommand("show-bundle", "Check a policy bundle against the enrolment card and list it");
    cmd->add_option("--enrolment-card", a->card, "The region's enrolment card")->required();
    cmd->add_option("--dir", a->dir, "The bundle folder (policy.signed and its policy files)")->required();
    cmd->add_option("--registry", a->registry, "The registry folder, when a policy-signer signed the bundle");
    cmd->callback(Guard(ctx, [a, &ctx] { return RunBundleShow(*a, ctx); }));
  }
}

}  // namespace kp::cli

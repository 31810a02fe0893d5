// `ketenpoort registry sign|show`: the region's enrolment officer signs the
// registry of public cards; anyone can check it against the pinned
// enrolment card.
#include "cli/cli_context.h"
#include "core/base/clock.h"
#include "core/identity/identity.h"
#include "core/identity/registry.h"

namespace kp::cli {
namespace {

struct RegistryArgs {
  std::string dir;
  std::string enrolment;  // secret (sign) or card (show)
  std::string region = "hart-van-brabant";
  std::vector<std::string> roles;  // ID=ROLE
};

Status RunSign(const RegistryArgs& a, CliContext& ctx) {
  KP_ASSIGN_OR_RETURN(Identity enrolment, Identity::LoadFile(a.enrolment));
  if (enrolment.kind() != ParticipantKind::kEnrolment) {
    return InvalidArgumentError(a.enrolment + " is not an enrolment identity (make one with keygen --kind enrolment)");
  }
  std::map<std::string, std::string> roles;
  for (const auto& r : a.roles) {
    size_t eq = r.find('=');
    if (eq == std::string::npos) return InvalidArgumentError("--role must look like ID=ROLE, e.g. regisseur-01=casusregisseur");
    roles[r.substr(0, eq)] = r.substr(eq + 1);
  }
  KP_RETURN_IF_ERROR(
      Registry::Sign(a.dir, enrolment.signing().secret_key, roles, a.region, SystemClock::Get().NowMillis()));
  KP_ASSIGN_OR_RETURN(Registry reg, Registry::Load(a.dir, enrolment.signing().public_key));
  ctx.out << "signed " << a.dir << "/" << kRegistryManifestName << ": serial " << reg.serial() << ", "
          << reg.entries().size() << " participants\n";
  return OkStatus();
}

Status RunShow(const RegistryArgs& a, CliContext& ctx) {
  KP_ASSIGN_OR_RETURN(PublicCard enrolment, LoadPinnedEnrolmentCard(a.enrolment, SystemClock::Get().NowMillis()));
  KP_ASSIGN_OR_RETURN(Registry reg, Registry::Load(a.dir, enrolment.signing_key));
  ctx.out << "registry of " << reg.region() << ", serial " << reg.serial() << ", issued "
          << FormatRfc3339Millis(reg.issued_ms()) << ", signed by " << enrolment.id << " ("
          << enrolment.Fingerprint() << ")\n";
  const int64_t now = SystemClock::Get().NowMillis();
  for (const auto& [id, e] : reg.entries()) {
    ctx.out << "  " << id << "  " << ParticipantKindName(e.card.kind) << "  partner=" << e.card.partner
            << "  role=" << (e.role.empty() ? "-" : e.role) << "  fingerprint=" << e.card.Fingerprint() << "  "
            << e.card.ExpiryText() << "\n";
    // A key rotation's other card(s), still valid (docs/formats.md §2.4).
    for (size_t i = 1; i < e.cards.size(); ++i) {
      ctx.out << "      also card " << e.cards[i].Fingerprint() << "  " << e.cards[i].ExpiryText() << "\n";
    }
  }
  for (const auto& x : CardExpiries(reg, now)) {
    if (x.warn) {
      ctx.out << "warning: the card of " << x.id << " expires on " << FormatRfc3339Millis(x.expires_ms)
              << "; the participant makes a new key set (ketenpoort keygen --rotate) and you sign both cards\n";
    }
  }
  for (const auto& [id, at] : reg.expired()) {
    ctx.out << "expired: " << id << " (its last card expired on " << FormatRfc3339Millis(at)
            << "; it is not enrolled until you sign a registry with its new card)\n";
  }
  return OkStatus();
}

}  // namespace

void RegisterRegistryCommand(CLI::App& app, CliContext& ctx) {
  CLI::App* group = app.add_subcommand("registry", "Sign or check the enrolment-signed registry of public cards");
  group->require_subcommand(1);
  {
    auto a = std::make_shared<RegistryArgs>();
    CLI::App* cmd = group->add_subcommand("sign", "Sign the registry of the cards in a folder (enrolment officer)");
    cmd->add_option("--enrolment", a->enrolment, "The enrolment identity's secret file")->required();
    cmd->add_option("--dir", a->dir, "Folder of public cards (ID.card)")->required();
    cmd->add_option("--region", a->region, "Region name (default hart-van-brabant)");
    cmd->add_option("--role", a->roles, "A participant's role, ID=ROLE (repeatable)");
    cmd->callback([a, &ctx] {
      Status s = RunSign(*a, ctx);
      if (!s.ok()) ctx.Fail(s);
    });
  }
  {
    auto a = std::make_shared<RegistryArgs>();
    CLI::App* cmd = group->add_subcommand("show", "Check the registry's signature and list who is enrolled");
    cmd->add_option("--enrolment-card", a->enrolment, "The pinned enrolment card")->required();
    cmd->add_option("--dir", a->dir, "Registry folder")->required();
    cmd->callback([a, &ctx] {
      Status s = RunShow(*a, ctx);
      if (!s.ok()) ctx.Fail(s);
    });
  }
}

}  // namespace kp::cli

// `ketenpoort audit read-log-key ID --registry DIR --enrolment-card CARD`:
// the verifier key of coordinator ID's read log (NEN 7513,
// docs/audit-log-format.md §13), from its card in the enrolment-signed
// registry — so a privacy officer checks a copy of the read log with
// `audit verify COPY --key ...` without trusting the copy's own log.vkey.
#include <fstream>

#include "cli/cli_context.h"
#include "client/read_log.h"
#include "core/audit/checkpoint.h"
#include "core/base/clock.h"
#include "core/identity/public_card.h"
#include "core/identity/registry.h"

namespace kp::cli {
namespace {

struct ReadLogKeyArgs {
  std::string id;
  std::string registry;
  std::string enrolment_card;
  std::string out;
};

Status RunReadLogKey(const ReadLogKeyArgs& a, CliContext& ctx) {
  KP_ASSIGN_OR_RETURN(PublicCard enrolment,
                      LoadPinnedEnrolmentCard(a.enrolment_card, SystemClock::Get().NowMillis()));
  KP_ASSIGN_OR_RETURN(Registry reg, Registry::Load(a.registry, enrolment.signing_key));
  auto entry = reg.Find(a.id);
  if (!entry.ok()) {
    return NotFoundError(a.id + " is not enrolled in the registry " + a.registry + " (serial " +
                         std::to_string(reg.serial()) + "); a read log belongs to a coordinator");
  }
  const PublicCard& card = (*entry)->card;
  if (card.kind != ParticipantKind::kCoordinator) {
    return InvalidArgumentError(a.id + " is a " + std::string(ParticipantKindName(card.kind)) +
                                ", not a coordinator: only a coordinator's client keeps a read log");
  }
  KP_ASSIGN_OR_RETURN(audit::NoteVerifierKey key,
                      audit::MakeVerifierKey(client::ReadLogOrigin(card.partner, card.id), card.signing_key));
  const std::string line = audit::FormatVerifierKey(key);
  if (a.out.empty()) {
    ctx.out << line << "\n";
    return OkStatus();
  }
  std::ofstream f(a.out, std::ios::trunc);
  f << line << "\n";
  f.close();
  if (!f) return UnavailableError("cannot write " + a.out);
  ctx.out << "the read log key of " << a.id << " (card " << card.Fingerprint() << ", registry serial "
          << reg.serial() << ") is in " << a.out << "\n"
          << "verify a copy with: ketenpoort audit verify COPY --key " << a.out << "\n";
  return OkStatus();
}

}  // namespace

void RegisterAuditReadLogCommand(CLI::App& app, CliContext& ctx) {
  CLI::App* audit = app.get_subcommand("audit");
  auto a = std::make_shared<ReadLogKeyArgs>();
  CLI::App* cmd = audit->add_subcommand(
      "read-log-key", "The verifier key of a coordinator's read log (NEN 7513), from the signed registry");
  cmd->add_option("id", a->id, "The coordinator's participant id, e.g. regisseur-01")->required();
  cmd->add_option("--registry", a->registry, "The registry folder (registry.signed and the cards)")
      ->required();
  cmd->add_option("--enrolment-card", a->enrolment_card, "The region's enrolment card (pinned)")->required();
  cmd->add_option("--out", a->out, "Write the key to this file instead of printing it");
  cmd->callback([a, &ctx] {
    Status s = RunReadLogKey(*a, ctx);
    if (!s.ok()) ctx.Fail(s);
  });
}

}  // namespace kp::cli

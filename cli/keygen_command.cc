// `ketenpoort keygen`: make a participant's keys on its own machine.
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "cli/cli_context.h"
#include "core/base/clock.h"
#include "core/identity/identity.h"

namespace kp::cli {
namespace {

struct KeygenArgs {
  std::string id;
  std::string kind;
  std::string partner;
  std::string out;
};

Status RunKeygen(const KeygenArgs& args, CliContext& ctx) {
  KP_ASSIGN_OR_RETURN(ParticipantKind kind, ParseParticipantKind(args.kind));
  if (::mkdir(args.out.c_str(), 0700) != 0 && errno != EEXIST) {
    return UnavailableError("cannot create folder " + args.out + ": " + std::strerror(errno));
  }
  KP_ASSIGN_OR_RETURN(Identity identity,
                      Identity::Generate(args.id, kind, args.partner, SystemClock::Get().NowMillis()));
  KP_RETURN_IF_ERROR(WriteIdentityFiles(args.out, identity));
  PublicCard card = identity.MakeCard();
  ctx.out << "secret identity: " << IdentityFilePath(args.out, args.id) << " (mode 0600; keep it on this machine)\n"
          << "public card:     " << CardFilePath(args.out, args.id) << " (give this to the enrolment officer)\n"
          << "fingerprint:     " << card.Fingerprint() << " (read it out when you hand the card over)\n";
  return OkStatus();
}

}  // namespace

void RegisterKeygenCommand(CLI::App& app, CliContext& ctx) {
  auto args = std::make_shared<KeygenArgs>();
  CLI::App* cmd = app.add_subcommand("keygen", "Make a new identity: a secret key file and a public card");
  cmd->add_option("--id", args->id, "Participant id, e.g. politie-agent (never a person's name)")->required();
  cmd->add_option("--kind", args->kind, "agent | coordinator | gateway | privacy-officer | enrolment")
      ->required();
  cmd->add_option("--partner", args->partner, "Organisation, e.g. politie (required for agent, coordinator)");
  cmd->add_option("--out", args->out, "Folder for ID.secret and ID.card (made 0700 if missing)")->required();
  cmd->callback([args, &ctx] {
    Status s = RunKeygen(*args, ctx);
    if (!s.ok()) ctx.Fail(s);
  });
}

}  // namespace kp::cli

// `ketenpoort keygen`: make a participant's keys on its own machine (and,
// with --rotate / --activate, the next key set beside them: docs/formats.md
// §2.4), and
// `ketenpoort identity protect|unprotect`: add or remove the passphrase of an
// existing identity file (docs/formats.md §1.2).
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "cli/cli_context.h"
#include "core/base/clock.h"
#include "core/base/file_util.h"
#include "core/identity/identity.h"
#include "core/identity/passphrase_prompt.h"
#include "core/identity/protected_identity.h"
#include "core/identity/secret_file.h"

namespace kp::cli {
namespace {

constexpr std::string_view kNewPassphrasePrompt = "New passphrase (at least 12 characters, not shown): ";

struct KeygenArgs {
  std::string id;
  std::string kind;
  std::string partner;
  std::string out;
  bool passphrase = false;
  std::string passphrase_file;
  int64_t valid_days = kDefaultCardValidDays;
  bool rotate = false;
  bool activate = false;
};

constexpr int64_t kMaxValidDays = 3650;

Result<std::string> ReadCardText(const std::string& path) {
  KP_ASSIGN_OR_RETURN(PublicCard card, PublicCard::LoadFile(path));
  return card.ToYaml();
}

// --rotate: a new key set of the same participant, as ID.next.secret and
// ID.next.card beside the active ones, which stay in use until --activate.
Status RunRotate(const KeygenArgs& args, CliContext& ctx) {
  const std::string active = IdentityFilePath(args.out, args.id);
  KP_ASSIGN_OR_RETURN(Identity current, Identity::LoadFile(active, TerminalOrEnvPassphraseProvider()));
  if (current.id() != args.id) return InvalidArgumentError(active + " holds participant " + current.id());
  if (!args.kind.empty() && args.kind != ParticipantKindName(current.kind())) {
    return InvalidArgumentError("--kind " + args.kind + " differs from the kind of " + active + " (" +
                                std::string(ParticipantKindName(current.kind())) + "); leave --kind out");
  }
  const bool protect = args.passphrase || !args.passphrase_file.empty();
  SecretBytes passphrase;
  if (protect) {
    KP_ASSIGN_OR_RETURN(passphrase, NewPassphrase(args.passphrase_file, kNewPassphrasePrompt));
  }
  const int64_t now = SystemClock::Get().NowMillis();
  KP_ASSIGN_OR_RETURN(Identity next, Identity::Generate(current.id(), current.kind(), current.partner(), now));
  IdentityProtection protection{&passphrase, DefaultPwhashLimits()};
  KP_RETURN_IF_ERROR(WriteIdentityFiles(args.out, next, protect ? &protection : nullptr,
                                        now + args.valid_days * kMillisPerDay, "next"));
  PublicCard card = next.MakeCard(now + args.valid_days * kMillisPerDay);
  ctx.out << "next secret identity: " << IdentityFilePath(args.out, args.id, "next")
          << " (mode 0600; not in use until keygen --activate)\n"
          << "next public card:     " << CardFilePath(args.out, args.id, "next")
          << " (give this to the enrolment officer, who signs a registry listing both cards)\n"
          << "fingerprint:          " << card.Fingerprint() << ", " << card.ExpiryText() << "\n";
  return OkStatus();
}

// --activate: the next key set becomes the active one; the old one is kept as
// ID.previous.* so that what was sealed to it can still be opened while the
// registry lists it.
Status RunActivate(const KeygenArgs& args, CliContext& ctx) {
  const std::string next_secret = IdentityFilePath(args.out, args.id, "next");
  const std::string next_card = CardFilePath(args.out, args.id, "next");
  const std::string secret = IdentityFilePath(args.out, args.id);
  const std::string card = CardFilePath(args.out, args.id);
  const std::string prev_secret = IdentityFilePath(args.out, args.id, "previous");
  const std::string prev_card = CardFilePath(args.out, args.id, "previous");
  KP_ASSIGN_OR_RETURN(Identity next, Identity::LoadFile(next_secret, TerminalOrEnvPassphraseProvider()));
  KP_ASSIGN_OR_RETURN(PublicCard next_public, PublicCard::LoadFile(next_card));
  KP_RETURN_IF_ERROR(next.MatchesCard(next_public).WithContext(next_card));
  KP_ASSIGN_OR_RETURN(SecretBytes old_bytes, ReadSecretFile(secret, kMaxIdentityFileBytes, "identity file"));
  KP_ASSIGN_OR_RETURN(std::string old_card, ReadCardText(card));
  KP_ASSIGN_OR_RETURN(SecretBytes next_bytes, ReadSecretFile(next_secret, kMaxIdentityFileBytes, "identity file"));
  KP_ASSIGN_OR_RETURN(std::string next_card_text, ReadCardText(next_card));
  // Each step is durable; the active files are replaced atomically, last the
  // next files go. A previous key set still in place is refused: it would be
  // lost.
  Status kept = WriteFileDurable(prev_secret, old_bytes.view(), 0600, WriteMode::kCreateExclusive);
  if (kept.code() == StatusCode::kAlreadyExists) {
    return AlreadyExistsError(prev_secret + " exists: an earlier rotation's old key set. Once no registry lists its "
                              "card any more, remove " + prev_secret + " and " + prev_card + ", then activate again");
  }
  KP_RETURN_IF_ERROR(kept);
  KP_RETURN_IF_ERROR(WriteFileDurable(prev_card, old_card, 0644, WriteMode::kReplace));
  KP_RETURN_IF_ERROR(WriteFileDurable(secret, next_bytes.view(), 0600, WriteMode::kReplace));
  KP_RETURN_IF_ERROR(WriteFileDurable(card, next_card_text, 0644, WriteMode::kReplace));
  ::unlink(next_secret.c_str());
  ::unlink(next_card.c_str());
  ctx.out << "active now: " << secret << " (" << next_public.Fingerprint() << ", " << next_public.ExpiryText()
          << ")\nold key set kept as " << prev_secret << " and " << prev_card
          << " (it still opens what was sealed to it; restart the agent or gateway to sign with the new key)\n";
  return OkStatus();
}

Status RunKeygen(const KeygenArgs& args, CliContext& ctx) {
  if (args.valid_days < 1 || args.valid_days > kMaxValidDays) {
    return InvalidArgumentError("--valid-days must be between 1 and " + std::to_string(kMaxValidDays));
  }
  if (args.rotate && args.activate) return InvalidArgumentError("--rotate and --activate are two steps: give one");
  if (args.rotate) return RunRotate(args, ctx);
  if (args.activate) return RunActivate(args, ctx);
  if (args.kind.empty()) return InvalidArgumentError("--kind is required for a new identity");
  KP_ASSIGN_OR_RETURN(ParticipantKind kind, ParseParticipantKind(args.kind));
  const bool protect = args.passphrase || !args.passphrase_file.empty();
  // Only the people's identities: gateways and agents start unattended, and
  // the enrolment key lives offline (registry sign does not ask).
  if (protect && kind != ParticipantKind::kCoordinator && kind != ParticipantKind::kPrivacyOfficer) {
    return InvalidArgumentError("--passphrase is for a coordinator's or privacy officer's identity; a " +
                                std::string(ParticipantKindName(kind)) +
                                " starts unattended or offline and is not asked for one: make it without "
                                "--passphrase and protect its machine instead");
  }
  // Asked before anything is made, so a mistyped passphrase leaves no files.
  SecretBytes passphrase;
  if (protect) {
    KP_ASSIGN_OR_RETURN(passphrase, NewPassphrase(args.passphrase_file, kNewPassphrasePrompt));
  }
  if (::mkdir(args.out.c_str(), 0700) != 0 && errno != EEXIST) {
    return UnavailableError("cannot create folder " + args.out + ": " + std::strerror(errno));
  }
  const int64_t now = SystemClock::Get().NowMillis();
  const int64_t expires = now + args.valid_days * kMillisPerDay;
  KP_ASSIGN_OR_RETURN(Identity identity, Identity::Generate(args.id, kind, args.partner, now));
  IdentityProtection protection{&passphrase, DefaultPwhashLimits()};
  KP_RETURN_IF_ERROR(WriteIdentityFiles(args.out, identity, protect ? &protection : nullptr, expires));
  PublicCard card = identity.MakeCard(expires);
  ctx.out << "secret identity: " << IdentityFilePath(args.out, args.id) << " (mode 0600; keep it on this machine"
          << (protect ? "; protected with your passphrase, which nobody can recover" : "") << ")\n"
          << "public card:     " << CardFilePath(args.out, args.id) << " (give this to the enrolment officer)\n"
          << "fingerprint:     " << card.Fingerprint() << " (read it out when you hand the card over)\n"
          << "valid until:     " << FormatRfc3339Millis(expires) << " (make the next key set before then: keygen --rotate)\n";
  return OkStatus();
}

struct ProtectArgs {
  std::string file;
  std::string passphrase_file;  // protect: the new passphrase
};

Status RunProtect(const ProtectArgs& a, CliContext& ctx) {
  // Called only for a file that is protected already.
  auto already = [](const std::string& path) -> Result<SecretBytes> {
    return FailedPreconditionError(path + " is already protected with a passphrase; to change the passphrase, "
                                          "unprotect it first, then protect it again");
  };
  KP_ASSIGN_OR_RETURN(Identity plain, Identity::LoadFile(a.file, already));
  KP_ASSIGN_OR_RETURN(SecretBytes passphrase, NewPassphrase(a.passphrase_file, kNewPassphrasePrompt));
  KP_ASSIGN_OR_RETURN(std::string text, plain.ToProtectedFileText(passphrase, DefaultPwhashLimits()));
  KP_RETURN_IF_ERROR(WriteFileDurable(a.file, text, 0600, WriteMode::kReplace));
  ctx.out << a.file << " is now protected with your passphrase (Argon2id, "
          << (DefaultPwhashLimits().memlimit_bytes >> 20) << " MiB). Nobody can recover a forgotten passphrase; "
          << "remove or wipe any unprotected copy or backup of this file.\n";
  return OkStatus();
}

Status RunUnprotect(const ProtectArgs& a, CliContext& ctx) {
  KP_ASSIGN_OR_RETURN(Identity identity, Identity::LoadFile(a.file, TerminalOrEnvPassphraseProvider()));
  SecretBytes text = identity.ToFileText();
  KP_RETURN_IF_ERROR(WriteFileDurable(a.file, text.view(), 0600, WriteMode::kReplace));
  ctx.out << a.file << " is no longer protected by a passphrase: anyone who gets a copy of it has your keys.\n";
  return OkStatus();
}

void RegisterIdentityCommands(CLI::App& app, CliContext& ctx) {
  CLI::App* group = app.add_subcommand("identity", "Add or remove the passphrase of a secret identity file");
  group->require_subcommand(1);
  auto protect = std::make_shared<ProtectArgs>();
  CLI::App* p = group->add_subcommand("protect", "Protect an identity file with a passphrase (asked twice)");
  p->add_option("FILE", protect->file, "The secret identity file, e.g. keys/vt-regisseur-1.secret")->required();
  p->add_option("--passphrase-file", protect->passphrase_file, "Read the new passphrase from this file (mode 0600)");
  p->callback([protect, &ctx] {
    Status s = RunProtect(*protect, ctx);
    if (!s.ok()) ctx.Fail(s);
  });
  auto unprotect = std::make_shared<ProtectArgs>();
  CLI::App* u = group->add_subcommand("unprotect", "Remove the passphrase of an identity file (asks for it)");
  u->add_option("FILE", unprotect->file, "The protected secret identity file")->required();
  u->callback([unprotect, &ctx] {
    Status s = RunUnprotect(*unprotect, ctx);
    if (!s.ok()) ctx.Fail(s);
  });
}

}  // namespace

void RegisterKeygenCommand(CLI::App& app, CliContext& ctx) {
  auto args = std::make_shared<KeygenArgs>();
  CLI::App* cmd = app.add_subcommand("keygen", "Make a new identity: a secret key file and a public card");
  cmd->add_option("--id", args->id, "Participant id, e.g. politie-agent (never a person's name)")->required();
  cmd->add_option("--kind", args->kind,
                  "agent | coordinator | gateway | privacy-officer | enrolment (a new identity only)");
  cmd->add_option("--partner", args->partner, "Organisation, e.g. politie (required for agent, coordinator)");
  cmd->add_option("--out,--dir", args->out, "Folder for ID.secret and ID.card (made 0700 if missing)")->required();
  cmd->add_option("--valid-days", args->valid_days, "Days until the new card expires (default 730)");
  cmd->add_flag("--rotate", args->rotate,
                "Make the next key set, ID.next.secret and ID.next.card, beside the active one in --dir");
  cmd->add_flag("--activate", args->activate,
                "Make the next key set the active one; the old one is kept as ID.previous.*");
  cmd->add_flag("--passphrase", args->passphrase,
                "Protect ID.secret with a passphrase, asked twice on the terminal (coordinator, privacy officer)");
  cmd->add_option("--passphrase-file", args->passphrase_file,
                  "Protect ID.secret with the passphrase in this file (mode 0600), for scripts");
  cmd->callback([args, &ctx] {
    Status s = RunKeygen(*args, ctx);
    if (!s.ok()) ctx.Fail(s);
  });
  // `identity protect|unprotect` lives here too: it is the same file.
  RegisterIdentityCommands(app, ctx);
}

}  // namespace kp::cli

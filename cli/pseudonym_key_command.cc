// `ketenpoort pseudonym-key new|show`: the region's pseudonym key (AVG art.
// 15 lookups; case/pseudonym.h). The enrolment office makes one key per
// period (`new`) and hands the file, in person or sealed, to every
// coordinator's machine and privacy officer (docs/operations.md, "The
// region's pseudonym key"); `show` prints its id, creation time and a check
// value that holders compare aloud, never the key.
#include "case/pseudonym.h"
#include "cli/cli_context.h"
#include "core/base/clock.h"

namespace kp::cli {
namespace {

void DescribePseudonymKey(const cases::PseudonymKey& key, const std::string& path, CliContext& ctx) {
  ctx.out << "pseudonym key: " << key.id << "\n"
          << "file:          " << path << " (mode 0600)\n"
          << "created:       " << (key.created_ms != 0 ? FormatRfc3339Millis(key.created_ms) : "(not stated)") << "\n"
          << "check value:   " << cases::PseudonymKeyCheck(key) << " (compare it aloud with the enrolment office)\n";
}

struct PseudonymKeyNewArgs {
  std::string id;
  std::string out;
};

Status RunPseudonymKeyNew(const PseudonymKeyNewArgs& a, CliContext& ctx) {
  KP_ASSIGN_OR_RETURN(cases::PseudonymKey key, cases::GeneratePseudonymKey(a.id, SystemClock::Get().NowMillis()));
  KP_RETURN_IF_ERROR(cases::WritePseudonymKeyFile(key, a.out));
  DescribePseudonymKey(key, a.out, ctx);
  ctx.out << "Hand a copy to every coordinator's machine (config pseudonym_key:) and every privacy officer, in\n"
             "person or sealed, never to the gateway or an agent. Make a new key with a new id each year; keep\n"
             "the old ones for the privacy officers as long as records written under them exist.\n";
  return OkStatus();
}

Status RunPseudonymKeyShow(const std::string& file, CliContext& ctx) {
  KP_ASSIGN_OR_RETURN(cases::PseudonymKey key, cases::LoadPseudonymKeyFile(file));
  DescribePseudonymKey(key, file, ctx);
  return OkStatus();
}

}  // namespace

void RegisterPseudonymKeyCommand(CLI::App& app, CliContext& ctx) {
  CLI::App* group = app.add_subcommand(
      "pseudonym-key", "The region's pseudonym key (subjects' keyed pseudonyms in the audit records, AVG art. 15)");
  group->require_subcommand(1);
  auto args = std::make_shared<PseudonymKeyNewArgs>();
  CLI::App* make = group->add_subcommand("new", "Make a new region pseudonym key file (the enrolment office)");
  make->add_option("--id", args->id, "Key id: lower-case letters, digits, '.', '-'; e.g. hvb-2027-1")->required();
  make->add_option("--out", args->out, "The key file to write (mode 0600; never overwritten)")->required();
  make->callback(Guard(ctx, [args, &ctx] { return RunPseudonymKeyNew(*args, ctx); }));
  auto file = std::make_shared<std::string>();
  CLI::App* show = group->add_subcommand("show", "Print a key file's id, creation time and check value (not the key)");
  show->add_option("FILE", *file, "The pseudonym key file")->required();
  show->callback(Guard(ctx, [file, &ctx] { return RunPseudonymKeyShow(*file, ctx); }));
}

}  // namespace kp::cli

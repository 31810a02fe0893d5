// Where a ketenpoort program gets a passphrase for a protected identity file
// (docs/formats.md §1.2, docs/cli.md "Passphrases"): the one place that reads
// one, used by the CLI and the console alike.
//
// A person types it on the terminal (/dev/tty, echo off), so it never shows on
// screen, in the shell history or in `ps`. Scripts and tests name a file that
// holds it (mode 0600) in KETENPOORT_PASSPHRASE_FILE; when that variable is
// set, the terminal is not used. The passphrase lands in locked memory.
//
// Not thread-safe: one prompt at a time (it changes the terminal's settings
// and, while it reads, the SIGINT/SIGTERM/SIGHUP handlers, which it restores).
#ifndef KETENPOORT_CORE_IDENTITY_PASSPHRASE_PROMPT_H_
#define KETENPOORT_CORE_IDENTITY_PASSPHRASE_PROMPT_H_

#include <string>
#include <string_view>

#include "core/base/status.h"
#include "core/crypto/secret_bytes.h"
#include "core/identity/identity.h"

namespace kp {

inline constexpr char kPassphraseFileEnv[] = "KETENPOORT_PASSPHRASE_FILE";

// The passphrase from the file KETENPOORT_PASSPHRASE_FILE names, or else typed
// on the terminal after `prompt` (e.g. "Passphrase for id.secret: ").
// FailedPrecondition when there is neither; Cancelled when nothing was typed.
Result<SecretBytes> PassphraseFromTerminalOrEnv(std::string_view prompt);

// A new passphrase: from `file` when not empty, else from the file
// KETENPOORT_PASSPHRASE_FILE names, else typed twice on the terminal (the two
// must agree). Checked with CheckNewPassphrase (at least 12 characters).
Result<SecretBytes> NewPassphrase(const std::string& file, std::string_view prompt);

// The passphrase in `path`: the whole file, without one final line break.
// The file must be mode 0600 (or 0400) like an identity file.
Result<SecretBytes> PassphraseFromFile(const std::string& path);

// A PassphraseProvider (for Identity::LoadFile, client::Coordinator::Open)
// that calls PassphraseFromTerminalOrEnv("Passphrase for identity PATH: ").
PassphraseProvider TerminalOrEnvPassphraseProvider();

}  // namespace kp

#endif  // KETENPOORT_CORE_IDENTITY_PASSPHRASE_PROMPT_H_

#include "core/identity/passphrase_prompt.h"

#include <fcntl.h>
#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "core/identity/protected_identity.h"
#include "core/identity/secret_file.h"

namespace kp {
namespace {

// While echo is off, a Ctrl-C must not leave the terminal silent: the
// handler restores the settings and then dies of the signal as before.
int g_tty_fd = -1;
struct termios g_saved_termios {};

void RestoreTerminalAndRaise(int sig) {
  if (g_tty_fd >= 0) ::tcsetattr(g_tty_fd, TCSAFLUSH, &g_saved_termios);
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

constexpr int kGuardedSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP};

void WriteAll(int fd, std::string_view text) {
  while (!text.empty()) {
    ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    text.remove_prefix(static_cast<size_t>(n));
  }
}

// Reads one line from `fd` into locked memory, without the line break.
Result<SecretBytes> ReadLine(int fd) {
  SecretBytes buf(kMaxPassphraseBytes + 1);
  size_t used = 0;
  bool too_long = false;
  for (;;) {
    char c = 0;
    ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return UnavailableError(std::string("cannot read the passphrase from the terminal: ") + std::strerror(errno));
    if (n == 0 || c == '\n' || c == '\r') break;
    if (used == buf.size()) {
      too_long = true;
      continue;
    }
    buf.mutable_data()[used++] = static_cast<uint8_t>(c);
  }
  if (too_long) return InvalidArgumentError("the passphrase is too long");
  SecretBytes out(used);
  if (used > 0) std::memcpy(out.mutable_data(), buf.data(), used);
  return out;
}

// Asks on /dev/tty with echo off.
Result<SecretBytes> AskTerminal(std::string_view prompt) {
  int fd = ::open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) {
    return FailedPreconditionError(std::string("there is no terminal to ask the passphrase on; set ") +
                                   kPassphraseFileEnv + " to a file (mode 0600) that holds it");
  }
  struct termios saved {};
  const bool is_tty = ::tcgetattr(fd, &saved) == 0;
  struct sigaction previous[std::size(kGuardedSignals)] = {};
  if (is_tty) {
    g_tty_fd = fd;
    g_saved_termios = saved;
    struct sigaction guard {};
    guard.sa_handler = RestoreTerminalAndRaise;
    sigemptyset(&guard.sa_mask);
    for (size_t i = 0; i < std::size(kGuardedSignals); ++i) ::sigaction(kGuardedSignals[i], &guard, &previous[i]);
    struct termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO | ECHONL);
    quiet.c_lflag |= ICANON;
    ::tcsetattr(fd, TCSAFLUSH, &quiet);
  }
  WriteAll(fd, prompt);
  Result<SecretBytes> line = ReadLine(fd);
  if (is_tty) {
    ::tcsetattr(fd, TCSAFLUSH, &saved);
    for (size_t i = 0; i < std::size(kGuardedSignals); ++i) ::sigaction(kGuardedSignals[i], &previous[i], nullptr);
    g_tty_fd = -1;
    WriteAll(fd, "\n");  // the Enter the person typed was not echoed
  }
  ::close(fd);
  return line;
}

const char* PassphraseFileFromEnv() {
  const char* file = std::getenv(kPassphraseFileEnv);
  return file != nullptr && *file != '\0' ? file : nullptr;
}

}  // namespace

Result<SecretBytes> PassphraseFromFile(const std::string& path) {
  KP_ASSIGN_OR_RETURN(SecretBytes text, ReadSecretFile(path, kMaxPassphraseBytes + 2, "passphrase file"));
  size_t len = text.size();
  if (len > 0 && text.data()[len - 1] == '\n') --len;
  if (len > 0 && text.data()[len - 1] == '\r') --len;
  if (len == 0) return InvalidArgumentError("passphrase file " + path + " is empty");
  SecretBytes out(len);
  std::memcpy(out.mutable_data(), text.data(), len);
  return out;
}

Result<SecretBytes> PassphraseFromTerminalOrEnv(std::string_view prompt) {
  if (const char* file = PassphraseFileFromEnv()) return PassphraseFromFile(file);
  KP_ASSIGN_OR_RETURN(SecretBytes pass, AskTerminal(prompt));
  if (pass.empty()) return Status(StatusCode::kCancelled, "no passphrase was typed");
  return pass;
}

Result<SecretBytes> NewPassphrase(const std::string& file, std::string_view prompt) {
  SecretBytes pass;
  if (!file.empty()) {
    KP_ASSIGN_OR_RETURN(pass, PassphraseFromFile(file));
  } else if (const char* env_file = PassphraseFileFromEnv()) {
    KP_ASSIGN_OR_RETURN(pass, PassphraseFromFile(env_file));
  } else {
    KP_ASSIGN_OR_RETURN(pass, AskTerminal(prompt));
    KP_RETURN_IF_ERROR(CheckNewPassphrase(pass));
    KP_ASSIGN_OR_RETURN(SecretBytes again, AskTerminal("The same passphrase again: "));
    if (!pass.ConstantTimeEquals(again)) {
      return InvalidArgumentError("the two passphrases differ; nothing was written");
    }
  }
  KP_RETURN_IF_ERROR(CheckNewPassphrase(pass));
  return pass;
}

PassphraseProvider TerminalOrEnvPassphraseProvider() {
  return [](const std::string& path) { return PassphraseFromTerminalOrEnv("Passphrase for identity " + path + ": "); };
}

}  // namespace kp

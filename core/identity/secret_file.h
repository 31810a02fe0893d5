// Reading a small secret file (an identity file, a passphrase file) straight
// into locked memory, so its bytes never pass through an ordinary heap buffer.
// Thread-compatible (no shared state).
#ifndef KETENPOORT_CORE_IDENTITY_SECRET_FILE_H_
#define KETENPOORT_CORE_IDENTITY_SECRET_FILE_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "core/base/status.h"
#include "core/crypto/secret_bytes.h"

namespace kp {

// The whole file, at most `max_bytes`. Refuses a symlink, and (before
// reading) a file group or others can read or write. `what` names the file in
// errors, e.g. "identity file", "passphrase file".
Result<SecretBytes> ReadSecretFile(const std::string& path, size_t max_bytes, std::string_view what);

}  // namespace kp

#endif  // KETENPOORT_CORE_IDENTITY_SECRET_FILE_H_

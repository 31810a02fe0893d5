// Encrypted backups of the gateway (docs/operations.md, "Backup and restore";
// docs/formats.md §6; issue 18 §6).
//
// A backup holds the case database and the audit log: routing metadata
// (which partner exchanged what with which case, and when), not content,
// but still nothing to leave readable on a backup disk. An encrypted backup
// is a folder (mode 0700) with one file, backup.sealed (0600): a random file
// key sealed (X25519 sealed box) to the backup key's public half, and every
// file of the plain backup (manifest, database, log) in one
// crypto_secretstream of authenticated chunks under that key. A changed,
// dropped, reordered or cut-off chunk fails; restore then writes nothing.
//
// The backup key is an X25519 pair made by `ketenpoort-gateway
// backup-keygen --out PREFIX`: PREFIX.public (0644; on the gateway) and
// PREFIX.secret (0600; kept away from the gateway and its backups, needed
// only to restore). The gateway needs only the public half to back up.
//
// The plain backup is made first in the data folder's backup-staging/
// (where the data already is; a copy a failed command leaves there goes at
// the gateway's next start), encrypted into the backup folder, and removed.
// Restore decrypts into backup-staging/ the same way, verifies the plain
// backup as ever (gateway/backup.h) and removes it.
//
// Thread-safety: free functions, one command at a time.
#ifndef KETENPOORT_GATEWAY_BACKUP_CRYPTO_H_
#define KETENPOORT_GATEWAY_BACKUP_CRYPTO_H_

#include <istream>
#include <string>
#include <string_view>

#include "core/base/status.h"
#include "core/crypto/x25519.h"
#include "gateway/backup.h"
#include "gateway/gateway_config.h"

namespace kp::gateway {

// docs/formats.md §6.
inline constexpr std::string_view kEncryptedBackupName = "backup.sealed";
inline constexpr std::string_view kEncryptedBackupMagic = "KPBKENC1";
inline constexpr std::string_view kBackupPublicKeyLine = "ketenpoort-backup-public-key v1";
inline constexpr std::string_view kBackupSecretKeyLine = "ketenpoort-backup-secret-key v1";
inline constexpr size_t kEncryptedBackupChunkBytes = 65536;  // plaintext of one data chunk, at most

struct BackupKeyFiles {
  std::string public_path;  // PREFIX.public
  std::string secret_path;  // PREFIX.secret
  std::string public_key;   // 32 bytes
};

// `backup-keygen --out PREFIX`: a fresh pair; refuses to overwrite either file.
Result<BackupKeyFiles> MakeBackupKey(const std::string& prefix);
// The public key file (InvalidArgument when malformed).
Result<std::string> ReadBackupPublicKey(const std::string& path);
// The secret key file: FailedPrecondition when group or others can read it.
Result<X25519KeyPair> ReadBackupSecretKey(const std::string& path);
// The key's fingerprint as printed: the first 16 hex digits of SHA-256(public key).
std::string BackupKeyFingerprint(std::string_view public_key);

// True when `dir` holds an encrypted backup.
bool IsEncryptedBackup(const std::string& dir);

// Every regular file under `plain_dir` (relative paths, sorted) into
// `out_file` (created, 0600, fsync'd), sealed to `public_key`.
Status EncryptBackupFolder(const std::string& plain_dir, std::string_view public_key,
                           const std::string& out_file);
// Where the decrypted files go, one at a time: Begin (AlreadyExists when
// the path came before), Data for its bytes, End.
class BackupFileSink {
 public:
  virtual ~BackupFileSink() = default;
  virtual Status Begin(const std::string& path) = 0;
  virtual Status Data(std::string_view bytes) = 0;
  virtual Status End() = 0;
};
// Reads an encrypted backup from `in` (`name` for messages). What the sink
// got is trustworthy only once this returns OK.
Status DecryptBackupStream(std::istream& in, const std::string& name, const X25519KeyPair& key,
                           BackupFileSink& sink);
// `in_file` into the existing empty folder `out_dir`. On any error (the
// file changed or cut short, another key) the caller removes out_dir:
// DataLoss for damage, Unauthenticated for a key that does not open it.
Status DecryptBackupFile(const std::string& in_file, const X25519KeyPair& key, const std::string& out_dir);

// `backup --out DIR --encrypt-to PUBLIC`.
Result<BackupResult> MakeEncryptedBackup(const GatewayConfig& config, const std::string& out_dir,
                                         const std::string& public_key_file);
// `restore --from DIR --decrypt-with SECRET [--force]`: decrypts (all of it,
// checked) before RestoreBackup touches the data folder.
Result<RestoreResult> RestoreEncryptedBackup(const GatewayConfig& config, const std::string& from_dir,
                                             const std::string& secret_key_file, bool force);

}  // namespace kp::gateway

#endif  // KETENPOORT_GATEWAY_BACKUP_CRYPTO_H_

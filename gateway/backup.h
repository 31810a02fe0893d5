// Backup and restore of the gateway (docs/operations.md, "Backup and
// restore"; issue 18 §6).
//
// A backup is a folder:
//
//   OUT/                 mode 0700
//     backup.manifest    what the backup holds, signed with the gateway's log key
//     cases.db           the case database, copied with SQLite's online backup API
//     audit/             the audit log up to the backup's checkpoint: records
//                        (the frames 0..N-1), tree (their nodes), log.vkey,
//                        checkpoint, checkpoints/<size> (those <= N), state,
//                        handovers/<n> (the key handovers up to N, after a
//                        key rotation: core/audit/key_handover.h)
//
// The manifest is a checkpoint note (checkpoint.h) of the backup's size and
// root whose extension lines say the rest ("backup-id", "backup-made",
// "backup-online", "backup-file <sha256 hex> <bytes> <path>"), signed by the
// gateway's log key: a backup can be checked with nothing but the log key.
//
// Consistency: the log's checkpoint and the database copy are taken at one
// moment between two units of work of the running gateway (BackupService,
// asked through the management address), or with the gateway stopped (the
// log folder's lock held throughout, so it cannot start meanwhile). The
// database then holds exactly the state the log's N records describe; its
// audit outbox holds no record at or past N.
//
// Restore verifies the backup (manifest signature, file hashes, the whole log
// against the gateway's own key and the manifest's checkpoint) before it
// touches the data folder, refuses a folder a running gateway holds, and one
// with data unless --force (which moves the old data aside, never deletes
// it). It then writes audit/restored (log_format.h: every checkpoint the
// restored log signs names the restore point, so agents that kept later
// checkpoints of the lost history see a restore, not a fork) and appends a
// LOG_RESTORED record.
//
// Thread-safety: the free functions are for one command at a time;
// BackupService's routes run on the management server's threads and reach
// the gateway only through its between-units hook.
#ifndef KETENPOORT_GATEWAY_BACKUP_H_
#define KETENPOORT_GATEWAY_BACKUP_H_

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "core/audit/checkpoint.h"
#include "core/base/status.h"
#include "gateway/gateway_config.h"
#include "ketenpoort/v1/audit.pb.h"

namespace kp::observe {
class ManagementServer;
}

namespace kp::gateway {

class AuditTrail;

inline constexpr std::string_view kBackupManifestName = "backup.manifest";
// In data_dir, mode 0600, written by the running gateway: "address HOST:PORT"
// and "token HEX" lines. Who can read the data folder may ask for a backup.
inline constexpr std::string_view kManagementTokenFile = "management.token";
inline constexpr std::string_view kBackupStartRoute = "/backup/start";
inline constexpr std::string_view kBackupDoneRoute = "/backup/done";
inline constexpr std::string_view kBackupTokenHeader = "X-Ketenpoort-Token";
// Where the running gateway puts its database copy until the command takes it.
inline constexpr std::string_view kBackupStagingDir = "backup-staging";

struct BackupFile {
  std::string path;  // inside the backup folder, e.g. "cases.db", "audit/records"
  uint64_t bytes = 0;
  std::string sha256;  // 32 bytes
};

struct BackupManifest {
  std::string backup_id;  // 32 hex digits
  int64_t made_unix_millis = 0;
  bool online = false;           // taken from a running gateway
  audit::Checkpoint checkpoint;  // origin, size, root (the backup's log)
  std::vector<BackupFile> files;
};

// The manifest as a checkpoint (extension lines added) and back. The parser
// reads untrusted bytes: InvalidArgument for anything malformed.
audit::Checkpoint ManifestToCheckpoint(const BackupManifest& manifest);
Result<BackupManifest> ManifestFromCheckpoint(const audit::Checkpoint& checkpoint);
// Verifies the signed manifest note with the log key and parses it.
Result<BackupManifest> OpenManifest(std::string_view note, const audit::NoteVerifierKey& key);

struct BackupResult {
  BackupManifest manifest;
  std::string out_dir;
};

// `ketenpoort-gateway backup --config X --out DIR`. Online when the gateway
// runs (its log folder is locked): asks it through the management address in
// data_dir/management.token; offline otherwise. OUT must not exist or be
// empty. Writes BACKUP_MADE to the gateway's log.
Result<BackupResult> MakeBackup(const GatewayConfig& config, const std::string& out_dir);

struct RestoreResult {
  BackupManifest manifest;
  uint64_t lost_records = 0;  // records of the replaced log past the backup, when it was there
  bool lost_known = false;
  std::string moved_aside;             // where --force put the old data ("" when none)
  uint64_t restored_record_index = 0;  // the LOG_RESTORED record
};

// `ketenpoort-gateway restore --config X --from DIR [--force]`.
Result<RestoreResult> RestoreBackup(const GatewayConfig& config, const std::string& from_dir, bool force);

// A path a backup may hold: relative, plain names, no "..".
bool IsSafeBackupPath(std::string_view path);

// Verifies a backup folder without restoring it (also the first step of a
// restore): the manifest with `key`, every listed file, the whole log.
Result<BackupManifest> VerifyBackup(const std::string& dir, const audit::NoteVerifierKey& key,
                                    const std::string& origin);

// The running gateway's side (Gateway owns one when it has a management
// address). `between_units` runs a task on the gateway's loop thread
// between two units of work and returns its status (waiting for it);
// `record` runs a unit that appends `record` to the log.
class BackupService {
 public:
  using BetweenUnits = std::function<Status(std::function<Status()>)>;
  using RecordInUnit = std::function<Status(ketenpoort::v1::AuditRecord)>;
  BackupService(std::string data_dir, std::string participant_id, AuditTrail* audit,
                BetweenUnits between_units, RecordInUnit record);

  // Writes data_dir/management.token (a fresh token, 0600) naming `address`.
  Status WriteTokenFile(const std::string& address);
  // POST /backup/start and /backup/done, loopback only, with the token.
  void AddRoutes(observe::ManagementServer& server);

  // The work of the two routes (for tests without HTTP). Start: a signed
  // checkpoint and the database copy, in one moment between units; returns
  // {"backup_id","checkpoint","database"} as JSON. Done: BACKUP_MADE.
  Result<std::string> Start();
  Status Done(std::string_view body);

 private:
  bool TokenMatches(std::string_view token) const;
  const std::string data_dir_;
  const std::string participant_id_;
  AuditTrail* audit_;
  BetweenUnits between_units_;
  RecordInUnit record_;
  std::string token_;
};

// The BACKUP_MADE / LOG_RESTORED record (actor the gateway, role
// "audit-log"), so the two ways of writing it say the same.
ketenpoort::v1::AuditRecord BackupRecord(ketenpoort::v1::AuditEvent event, const std::string& gateway_id,
                                         const ketenpoort::v1::AuditRestore& restore, std::string reason);

// Human summaries for the command (ids and counts only).
void PrintBackupSummary(const BackupResult& result, std::ostream& out);
void PrintRestoreSummary(const RestoreResult& result, std::ostream& out);

}  // namespace kp::gateway

#endif  // KETENPOORT_GATEWAY_BACKUP_H_

#include "gateway/backup.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <ostream>

#include "core/audit/key_handover.h"
#include "core/audit/log_files.h"
#include "core/audit/log_format.h"
#include "core/audit/log_verifier.h"
#include "core/audit/log_writer.h"
#include "core/audit/restore_point.h"
#include "core/audit/storage.h"
#include "core/base/clock.h"
#include "core/base/encoding.h"
#include "core/base/file_util.h"
#include "core/base/time_format.h"
#include "core/crypto/random.h"
#include "core/crypto/sha256.h"
#include "core/identity/identity.h"
#include "core/observe/management_server.h"
#include "gateway/audit_trail.h"
#include "gateway/case_store.h"
#include "gateway/gateway_core.h"
#include "gateway/startup.h"

namespace kp::gateway {
namespace {

namespace fs = std::filesystem;
namespace v1 = ketenpoort::v1;

constexpr std::string_view kExtId = "backup-id ";
constexpr std::string_view kExtMade = "backup-made ";
constexpr std::string_view kExtOnline = "backup-online ";
constexpr std::string_view kExtFile = "backup-file ";
constexpr size_t kMaxManifestFiles = 64;

Status Errno(const std::string& what, const std::string& path) {
  return UnavailableError(what + " " + path + ": " + std::strerror(errno));
}

Result<uint64_t> ParseU64(std::string_view text, std::string_view what) {
  uint64_t v = 0;
  if (text.empty() || text.size() > 20 || (text.size() > 1 && text[0] == '0')) {
    return InvalidArgumentError("the backup manifest's " + std::string(what) + " is not a number");
  }
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size()) {
    return InvalidArgumentError("the backup manifest's " + std::string(what) + " is not a number");
  }
  return v;
}

bool IsHexId(std::string_view s) {
  return s.size() == 32 && s.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

// A relative path inside the backup: no "..", no absolute path, plain names.
bool SafeRelativePath(std::string_view p) {
  if (p.empty() || p.size() > 200 || p.front() == '/') return false;
  size_t start = 0;
  while (start <= p.size()) {
    size_t end = p.find('/', start);
    if (end == std::string_view::npos) end = p.size();
    std::string_view part = p.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    for (char c : part) {
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_')) return false;
    }
    start = end + 1;
  }
  return true;
}

Status MakeDir(const std::string& path) {
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) return Errno("cannot create the folder", path);
  return OkStatus();
}

Status SyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Errno("cannot open the folder", dir);
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return Errno("cannot sync the folder", dir);
  return OkStatus();
}

// Copies the first `bytes` of `src` (a LogFile, read by position: the inode
// opened once, so a rewrite by the retention sweep never mixes two files)
// into a new file `dst` (0600), fsync'd; returns its SHA-256.
Result<std::string> CopyPrefix(const audit::LogFile& src, uint64_t bytes, const std::string& dst) {
  int fd = ::open(dst.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return Errno("cannot create", dst);
  Sha256Hasher hasher;
  std::string chunk;
  uint64_t done = 0;
  Status status;
  while (done < bytes && status.ok()) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(bytes - done, 1 << 20));
    status = src.ReadAt(done, want, chunk);
    if (!status.ok()) break;
    if (chunk.size() != want) {
      status = DataLossError("the log file ended early while it was copied to " + dst);
      break;
    }
    hasher.Update(chunk);
    size_t off = 0;
    while (off < chunk.size()) {
      const ssize_t n = ::write(fd, chunk.data() + off, chunk.size() - off);
      if (n < 0) {
        if (errno == EINTR) continue;
        status = Errno("cannot write", dst);
        break;
      }
      off += static_cast<size_t>(n);
    }
    done += want;
  }
  if (status.ok() && ::fsync(fd) != 0) status = Errno("cannot sync", dst);
  ::close(fd);
  KP_RETURN_IF_ERROR(status);
  const Sha256Digest d = hasher.Finish();
  return std::string(reinterpret_cast<const char*>(d.data()), d.size());
}

Result<BackupFile> HashFile(const std::string& dir, const std::string& rel) {
  const std::string path = dir + "/" + rel;
  auto file = audit::PosixStorage().OpenReadOnly(path);
  if (!file.ok()) return NotFoundError("the backup lacks " + rel + " (" + file.status().message() + ")");
  BackupFile out;
  out.path = rel;
  out.bytes = (*file)->Size();
  Sha256Hasher hasher;
  std::string chunk;
  for (uint64_t off = 0; off < out.bytes;) {
    KP_RETURN_IF_ERROR((*file)->ReadAt(off, 1 << 20, chunk));
    if (chunk.empty()) break;
    hasher.Update(chunk);
    off += chunk.size();
  }
  const Sha256Digest d = hasher.Finish();
  out.sha256.assign(reinterpret_cast<const char*>(d.data()), d.size());
  return out;
}

// SQLite's online backup API: a consistent copy of `src` (another
// connection, even in another process, may be writing) in `dst`.
Status CopyDatabase(const std::string& src, const std::string& dst) {
  if (::access(dst.c_str(), F_OK) == 0) return AlreadyExistsError(dst + " exists");
  sqlite3* from = nullptr;
  sqlite3* to = nullptr;
  auto close_both = [&] {
    if (from != nullptr) sqlite3_close_v2(from);
    if (to != nullptr) sqlite3_close_v2(to);
  };
  if (sqlite3_open_v2(src.c_str(), &from, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr) !=
      SQLITE_OK) {
    std::string msg = from != nullptr ? sqlite3_errmsg(from) : "out of memory";
    close_both();
    return UnavailableError("cannot open the case database " + src + ": " + msg);
  }
  sqlite3_busy_timeout(from, 10000);
  // The copy is created 0600 before SQLite writes to it.
  int fd = ::open(dst.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    close_both();
    return Errno("cannot create", dst);
  }
  ::close(fd);
  if (sqlite3_open_v2(dst.c_str(), &to, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK) {
    close_both();
    return UnavailableError("cannot open the copy " + dst);
  }
  sqlite3_backup* b = sqlite3_backup_init(to, "main", from, "main");
  if (b == nullptr) {
    std::string msg = sqlite3_errmsg(to);
    close_both();
    return UnavailableError("cannot start the database backup: " + msg);
  }
  int rc;
  // One step of every page: one read transaction, so the copy is one
  // moment of the database.
  do {
    rc = sqlite3_backup_step(b, -1);
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) sqlite3_sleep(50);
  } while (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED);
  sqlite3_backup_finish(b);
  std::string msg = sqlite3_errmsg(to);
  if (rc == SQLITE_DONE) {
    // The copy stands alone: no WAL beside it.
    if (sqlite3_exec(to, "PRAGMA journal_mode=DELETE;", nullptr, nullptr, nullptr) != SQLITE_OK)
      rc = SQLITE_ERROR;
  }
  close_both();
  if (rc != SQLITE_DONE) return UnavailableError("the database backup failed: " + msg);
  fd = ::open(dst.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    (void)::fsync(fd);
    ::close(fd);
  }
  return OkStatus();
}

// Copies the log in `src_dir` as it stood at `checkpoint` (records 0..N-1,
// their tree nodes, the checkpoints up to N) into `dst_dir`.
Result<std::vector<BackupFile>> CopyLog(const std::string& src_dir, const std::string& dst_dir,
                                        const audit::Checkpoint& checkpoint, const std::string& note) {
  audit::Storage& st = audit::PosixStorage();
  KP_RETURN_IF_ERROR(MakeDir(dst_dir));
  KP_RETURN_IF_ERROR(MakeDir(dst_dir + "/" + std::string(audit::kCheckpointsDirName)));
  const uint64_t n = checkpoint.size;
  std::vector<BackupFile> files;

  // The tree first: synced before the checkpoint was signed.
  KP_ASSIGN_OR_RETURN(auto tree, st.OpenReadOnly(src_dir + "/" + std::string(audit::kTreeFileName)));
  const uint64_t tree_bytes = (2 * n - static_cast<uint64_t>(std::popcount(n))) * audit::kHashBytes;
  if (tree->Size() < tree_bytes) return DataLossError("the audit log's tree is shorter than its checkpoint");
  BackupFile tf{"audit/tree", tree_bytes, ""};
  KP_ASSIGN_OR_RETURN(tf.sha256,
                      CopyPrefix(*tree, tree_bytes, dst_dir + "/" + std::string(audit::kTreeFileName)));
  // The root of the copied tree must be the signed one.
  {
    KP_ASSIGN_OR_RETURN(auto copied, st.OpenReadOnly(dst_dir + "/" + std::string(audit::kTreeFileName)));
    audit::TreeFile tf_reader(copied.get());
    KP_ASSIGN_OR_RETURN(std::string root, tf_reader.RootAt(n));
    if (root != checkpoint.root) return DataLossError("the copied tree does not give the checkpoint's root");
  }
  files.push_back(std::move(tf));

  // The records: frames 0..N-1, found by scanning.
  KP_ASSIGN_OR_RETURN(auto records, st.OpenReadOnly(src_dir + "/" + std::string(audit::kRecordsFileName)));
  KP_RETURN_IF_ERROR(audit::CheckRecordsHeader(*records, src_dir + "/records"));
  audit::RecordScanner scanner(records.get(), audit::kRecordsMagic.size());
  audit::Frame frame;
  std::string error;
  for (uint64_t i = 0; i < n; ++i) {
    const audit::DecodeResult r = scanner.Next(&frame, &error);
    if (r != audit::DecodeResult::kOk || frame.index != i) {
      return DataLossError("the audit log's records end or break at index " + std::to_string(i) +
                           " before its checkpoint of " + std::to_string(n) +
                           (error.empty() ? "" : ": " + error));
    }
  }
  const uint64_t records_bytes = scanner.offset();
  BackupFile rf{"audit/records", records_bytes, ""};
  KP_ASSIGN_OR_RETURN(
      rf.sha256, CopyPrefix(*records, records_bytes, dst_dir + "/" + std::string(audit::kRecordsFileName)));
  files.push_back(std::move(rf));

  // The key, the checkpoint, the checkpoints the log kept up to N, the state.
  KP_ASSIGN_OR_RETURN(std::string vkey,
                      ReadFileBounded(src_dir + "/" + std::string(audit::kVerifierKeyFileName), 4096));
  KP_RETURN_IF_ERROR(WriteFileDurable(dst_dir + "/" + std::string(audit::kVerifierKeyFileName), vkey, 0600,
                                      WriteMode::kReplace));
  const std::string cdir = std::string(audit::kCheckpointsDirName);
  auto names = st.ListDir(src_dir + "/" + cdir);
  if (names.ok()) {
    for (const std::string& name : *names) {
      if (name.size() != 20 || name.find_first_not_of("0123456789") != std::string::npos) continue;
      uint64_t size = 0;
      std::from_chars(name.data(), name.data() + name.size(), size);
      if (size >= n) continue;  // N itself is written below, from the note
      auto text = ReadFileBounded(src_dir + "/" + cdir + "/" + name, audit::kMaxNoteBytes);
      if (!text.ok()) continue;  // a checkpoint file thinned meanwhile
      KP_RETURN_IF_ERROR(
          WriteFileDurable(dst_dir + "/" + cdir + "/" + name, *text, 0600, WriteMode::kReplace));
    }
  }
  // The key handovers up to N (key_handover.h): the log's key chain, so that
  // a backup made after a key rotation verifies from its first record and
  // the restored log goes on with its chain whole.
  const std::string hdir = std::string(audit::kHandoversDirName);
  auto handovers = st.ListDir(src_dir + "/" + hdir);
  if (handovers.ok()) {
    for (const std::string& name : *handovers) {
      if (!audit::IsHandoverFileName(name)) continue;
      KP_ASSIGN_OR_RETURN(std::string text,
                          ReadFileBounded(src_dir + "/" + hdir + "/" + name, audit::kMaxNoteBytes));
      KP_ASSIGN_OR_RETURN(audit::KeyHandover h, audit::OpenKeyHandover(text, checkpoint.origin));
      if (h.checkpoint.size > n) continue;  // after the backup's checkpoint (not while it is made)
      KP_RETURN_IF_ERROR(MakeDir(dst_dir + "/" + hdir));
      KP_RETURN_IF_ERROR(
          WriteFileDurable(dst_dir + "/" + hdir + "/" + name, text, 0600, WriteMode::kReplace));
    }
  }
  KP_RETURN_IF_ERROR(WriteFileDurable(dst_dir + "/" + cdir + "/" + audit::CheckpointFileName(n), note, 0600,
                                      WriteMode::kReplace));
  KP_RETURN_IF_ERROR(WriteFileDurable(dst_dir + "/" + std::string(audit::kCheckpointFileName), note, 0600,
                                      WriteMode::kReplace));
  KP_RETURN_IF_ERROR(WriteFileDurable(dst_dir + "/" + std::string(audit::kStateFileName),
                                      audit::FormatLogState({n, records_bytes}), 0600, WriteMode::kReplace));
  KP_RETURN_IF_ERROR(SyncDir(dst_dir));
  return files;
}

// `writer_options`, when given, gets the key ring's other keys: a log that
// the previous key signed is handed over on open (after keygen --activate,
// as the gateway does at start: log_audit_trail.cc).
Result<audit::LogSigner> GatewayLogSigner(const GatewayConfig& config, std::string* id_out = nullptr,
                                          audit::LogWriterOptions* writer_options = nullptr) {
  KP_ASSIGN_OR_RETURN(Identity identity, LoadGatewayIdentity(config));
  KP_ASSIGN_OR_RETURN(audit::LogSigner signer,
                      audit::LogSigner::Create(config.log_origin, identity.signing().public_key,
                                               identity.signing().secret_key.Clone()));
  if (writer_options != nullptr) {
    KP_ASSIGN_OR_RETURN(writer_options->previous_signers,
                        audit::PreviousLogSigners(config.log_origin, identity.OtherSigningKeys()));
  }
  if (id_out != nullptr) *id_out = identity.id();
  return signer;
}

Status PrepareOutDir(const std::string& out) {
  if (::mkdir(out.c_str(), 0700) != 0) {
    if (errno != EEXIST) return Errno("cannot create the backup folder", out);
    std::error_code ec;
    if (!fs::is_directory(out, ec)) return FailedPreconditionError(out + " exists and is not a folder");
    if (!fs::is_empty(out, ec)) {
      return FailedPreconditionError(
          "the backup folder " + out +
          " is not empty: give a new folder for each backup (nothing was written)");
    }
    if (::chmod(out.c_str(), 0700) != 0) return Errno("cannot make private", out);
  }
  return OkStatus();
}

// Finishes a backup folder: the files' hashes and the signed manifest.
Result<BackupManifest> WriteManifest(const std::string& out, const audit::LogSigner& signer,
                                     const audit::Checkpoint& cp, const std::string& id, int64_t made,
                                     bool online, std::vector<BackupFile> files) {
  BackupManifest m;
  m.backup_id = id;
  m.made_unix_millis = made;
  m.online = online;
  m.checkpoint = audit::Checkpoint{cp.origin, cp.size, cp.root, {}};
  KP_ASSIGN_OR_RETURN(BackupFile db, HashFile(out, "cases.db"));
  m.files.push_back(std::move(db));
  for (auto& f : files) m.files.push_back(std::move(f));
  const std::string note = signer.Sign(ManifestToCheckpoint(m));
  KP_RETURN_IF_ERROR(
      WriteFileDurable(out + "/" + std::string(kBackupManifestName), note, 0600, WriteMode::kReplace));
  KP_RETURN_IF_ERROR(SyncDir(out));
  return m;
}

v1::AuditRestore RestoreFields(const BackupManifest& m) {
  v1::AuditRestore r;
  r.set_checkpoint_size(m.checkpoint.size);
  r.set_checkpoint_root(m.checkpoint.root);
  r.set_backup_unix_millis(m.made_unix_millis);
  r.set_backup_id(m.backup_id);
  return r;
}

std::string BackupMadeReason(const BackupManifest& m, bool online) {
  return std::string(online ? "online" : "offline") + " backup " + m.backup_id +
         " made: the case database and the log's " + std::to_string(m.checkpoint.size) +
         " records up to its signed checkpoint (root " + HexEncode(m.checkpoint.root).substr(0, 16) + "...)";
}

// Key-value lines ("key value\n") of the management routes' bodies.
std::string LineValue(std::string_view body, std::string_view key) {
  size_t pos = 0;
  while (pos < body.size()) {
    size_t end = body.find('\n', pos);
    if (end == std::string_view::npos) end = body.size();
    std::string_view line = body.substr(pos, end - pos);
    if (line.size() > key.size() && line.substr(0, key.size()) == key && line[key.size()] == ' ') {
      return std::string(line.substr(key.size() + 1));
    }
    pos = end + 1;
  }
  return "";
}

Result<BackupResult> OfflineBackup(const GatewayConfig& config, const std::string& out) {
  std::string gateway_id;
  audit::LogWriterOptions writer_options;
  KP_ASSIGN_OR_RETURN(audit::LogSigner log_signer, GatewayLogSigner(config, &gateway_id, &writer_options));
  auto writer = audit::LogWriter::Open(AuditDir(config), std::move(log_signer), writer_options);
  if (!writer.ok()) {
    return Status(writer.status().code(), "cannot open the gateway's audit log (is the gateway starting?): " +
                                              writer.status().message());
  }
  {
    // Records a crash left in the outbox belong to the log first: a backup
    // must not put BACKUP_MADE where they go.
    KP_ASSIGN_OR_RETURN(auto store, CaseStore::Open(CaseDatabasePath(config)));
    KP_ASSIGN_OR_RETURN(auto outbox, store->AuditOutbox());
    for (const auto& r : outbox) {
      if (r.index >= (*writer)->size()) {
        (void)(*writer)->Close();
        return FailedPreconditionError(
            "the gateway stopped with audit records not yet in its log (after a crash): start it once (it "
            "appends them), stop it, and back up again — or back it up while it runs");
      }
    }
  }
  const audit::LogSigner& signer = (*writer)->signer();
  KP_ASSIGN_OR_RETURN(std::string note, (*writer)->Checkpoint());
  KP_ASSIGN_OR_RETURN(audit::Checkpoint cp,
                      audit::OpenCheckpoint(note, signer.verifier_key(), signer.origin()));
  const std::string id = HexEncode(RandomBytes(16));
  const int64_t made = SystemClock::Get().NowMillis();
  KP_RETURN_IF_ERROR(CopyDatabase(CaseDatabasePath(config), out + "/cases.db"));
  KP_ASSIGN_OR_RETURN(auto files, CopyLog(AuditDir(config), out + "/audit", cp, note));
  KP_ASSIGN_OR_RETURN(BackupManifest m, WriteManifest(out, signer, cp, id, made, false, std::move(files)));
  auto appended = (*writer)->Append(
      BackupRecord(v1::AUDIT_EVENT_BACKUP_MADE, gateway_id, RestoreFields(m), BackupMadeReason(m, false)));
  Status closed = (*writer)->Close();
  if (!appended.ok())
    return appended.status().WithContext("the backup is complete, but BACKUP_MADE was not logged");
  KP_RETURN_IF_ERROR(closed);
  return BackupResult{std::move(m), out};
}

struct TokenFile {
  std::string address;
  std::string token;
};

Result<TokenFile> ReadTokenFile(const GatewayConfig& config) {
  const std::string path = config.data_dir + "/" + std::string(kManagementTokenFile);
  auto text = ReadFileBounded(path, 4096);
  if (!text.ok()) {
    return FailedPreconditionError(
        "the gateway runs, but " + path +
        " cannot be read: an online backup needs the gateway's management address "
        "(`management:` in its config, not off) and read access to its data folder (" +
        text.status().message() + ")");
  }
  TokenFile t{LineValue(*text, "address"), LineValue(*text, "token")};
  if (t.address.empty() || t.token.empty())
    return FailedPreconditionError(path + " is not a management token file");
  return t;
}

Result<BackupResult> OnlineBackup(const GatewayConfig& config, const std::string& out) {
  KP_ASSIGN_OR_RETURN(TokenFile tf, ReadTokenFile(config));
  KP_ASSIGN_OR_RETURN(observe::ManagementAddress address, observe::ParseManagementAddress(tf.address));
  const std::map<std::string, std::string> headers{{std::string(kBackupTokenHeader), tf.token}};
  KP_ASSIGN_OR_RETURN(observe::ManagementReply start,
                      observe::ManagementCall(address, "POST", std::string(kBackupStartRoute), "", headers,
                                              "gateway", 120000));
  if (start.status != 200) {
    return UnavailableError("the gateway refused the backup (HTTP " + std::to_string(start.status) +
                            "): " + start.body);
  }
  const std::string id = LineValue(start.body, "backup_id");
  auto note = Base64Decode(LineValue(start.body, "checkpoint"));
  const std::string staged = LineValue(start.body, "database");
  const std::string expect_staged =
      config.data_dir + "/" + std::string(kBackupStagingDir) + "/" + id + "/cases.db";
  if (!IsHexId(id) || !note.ok() || staged != expect_staged) {
    return InvalidArgumentError("the gateway's answer to the backup is not understood");
  }
  KP_ASSIGN_OR_RETURN(audit::LogSigner signer, GatewayLogSigner(config));
  KP_ASSIGN_OR_RETURN(audit::Checkpoint cp,
                      audit::OpenCheckpoint(*note, signer.verifier_key(), signer.origin()));
  const int64_t made = SystemClock::Get().NowMillis();
  // The database copy the gateway made at the checkpoint's moment.
  {
    KP_ASSIGN_OR_RETURN(auto src, audit::PosixStorage().OpenReadOnly(staged));
    KP_ASSIGN_OR_RETURN(std::string sha, CopyPrefix(*src, src->Size(), out + "/cases.db"));
    (void)sha;
  }
  KP_ASSIGN_OR_RETURN(auto files, CopyLog(AuditDir(config), out + "/audit", cp, *note));
  KP_ASSIGN_OR_RETURN(BackupManifest m, WriteManifest(out, signer, cp, id, made, true, std::move(files)));
  const std::string done_body = "backup_id " + id + "\nsize " + std::to_string(cp.size) + "\nroot " +
                                Base64Encode(cp.root) + "\nmade " + std::to_string(made) + "\n";
  KP_ASSIGN_OR_RETURN(observe::ManagementReply done,
                      observe::ManagementCall(address, "POST", std::string(kBackupDoneRoute), done_body,
                                              headers, "gateway", 60000));
  if (done.status != 200) {
    return UnavailableError("the backup in " + out + " is complete, but the gateway did not log it (HTTP " +
                            std::to_string(done.status) + "): " + done.body);
  }
  return BackupResult{std::move(m), out};
}

void ChownTree(const std::string& path, uid_t uid, gid_t gid) {
  (void)::lchown(path.c_str(), uid, gid);
  std::error_code ec;
  if (!fs::is_directory(path, ec)) return;
  for (const auto& e : fs::recursive_directory_iterator(path, ec)) (void)::lchown(e.path().c_str(), uid, gid);
}

}  // namespace

// ---- manifest

audit::Checkpoint ManifestToCheckpoint(const BackupManifest& m) {
  audit::Checkpoint cp{m.checkpoint.origin, m.checkpoint.size, m.checkpoint.root, {}};
  cp.extensions.push_back(std::string(kExtId) + m.backup_id);
  cp.extensions.push_back(std::string(kExtMade) + std::to_string(m.made_unix_millis));
  cp.extensions.push_back(std::string(kExtOnline) + (m.online ? "yes" : "no"));
  for (const BackupFile& f : m.files) {
    cp.extensions.push_back(std::string(kExtFile) + HexEncode(f.sha256) + " " + std::to_string(f.bytes) +
                            " " + f.path);
  }
  return cp;
}

Result<BackupManifest> ManifestFromCheckpoint(const audit::Checkpoint& cp) {
  BackupManifest m;
  m.checkpoint = audit::Checkpoint{cp.origin, cp.size, cp.root, {}};
  bool have_id = false, have_made = false, have_online = false;
  for (const std::string& line : cp.extensions) {
    std::string_view l = line;
    if (l.substr(0, kExtId.size()) == kExtId) {
      if (have_id || !IsHexId(l.substr(kExtId.size())))
        return InvalidArgumentError("the backup manifest's id is bad");
      m.backup_id = std::string(l.substr(kExtId.size()));
      have_id = true;
    } else if (l.substr(0, kExtMade.size()) == kExtMade) {
      if (have_made) return InvalidArgumentError("the backup manifest names two times");
      KP_ASSIGN_OR_RETURN(uint64_t made, ParseU64(l.substr(kExtMade.size()), "time"));
      if (made > static_cast<uint64_t>(INT64_MAX))
        return InvalidArgumentError("the backup manifest's time is bad");
      m.made_unix_millis = static_cast<int64_t>(made);
      have_made = true;
    } else if (l.substr(0, kExtOnline.size()) == kExtOnline) {
      std::string_view v = l.substr(kExtOnline.size());
      if (have_online || (v != "yes" && v != "no"))
        return InvalidArgumentError("the backup manifest's online is bad");
      m.online = v == "yes";
      have_online = true;
    } else if (l.substr(0, kExtFile.size()) == kExtFile) {
      std::string_view rest = l.substr(kExtFile.size());
      const size_t s1 = rest.find(' ');
      const size_t s2 = s1 == std::string_view::npos ? s1 : rest.find(' ', s1 + 1);
      if (s2 == std::string_view::npos) return InvalidArgumentError("a backup manifest file line is bad");
      BackupFile f;
      auto sha = HexDecode(rest.substr(0, s1));
      if (!sha.ok() || sha->size() != 32 || HexEncode(*sha) != rest.substr(0, s1)) {
        return InvalidArgumentError("a backup manifest file hash is bad");
      }
      f.sha256 = std::move(*sha);
      KP_ASSIGN_OR_RETURN(f.bytes, ParseU64(rest.substr(s1 + 1, s2 - s1 - 1), "file size"));
      f.path = std::string(rest.substr(s2 + 1));
      if (!SafeRelativePath(f.path))
        return InvalidArgumentError("a backup manifest file path is not allowed");
      for (const BackupFile& other : m.files) {
        if (other.path == f.path) return InvalidArgumentError("the backup manifest lists a file twice");
      }
      if (m.files.size() >= kMaxManifestFiles)
        return InvalidArgumentError("the backup manifest lists too many files");
      m.files.push_back(std::move(f));
    } else {
      return InvalidArgumentError("the backup manifest has an unknown line");
    }
  }
  if (!have_id || !have_made || !have_online)
    return InvalidArgumentError("the backup manifest is incomplete");
  for (std::string_view need : {"cases.db", "audit/records", "audit/tree"}) {
    if (std::none_of(m.files.begin(), m.files.end(), [&](const BackupFile& f) { return f.path == need; })) {
      return InvalidArgumentError("the backup manifest does not list " + std::string(need));
    }
  }
  return m;
}

Result<BackupManifest> OpenManifest(std::string_view note, const audit::NoteVerifierKey& key) {
  auto cp = audit::OpenCheckpoint(note, key, key.name);
  if (!cp.ok()) return Status(cp.status().code(), "the backup manifest: " + cp.status().message());
  return ManifestFromCheckpoint(*cp);
}

v1::AuditRecord BackupRecord(v1::AuditEvent event, const std::string& gateway_id,
                             const v1::AuditRestore& restore, std::string reason) {
  v1::AuditRecord rec;
  rec.set_event(event);
  rec.mutable_actor()->set_participant_id(gateway_id);
  rec.mutable_actor()->set_role("audit-log");
  *rec.mutable_restore() = restore;
  rec.set_reason(std::move(reason));
  return rec;
}

// ---- verify

Result<BackupManifest> VerifyBackup(const std::string& dir, const audit::NoteVerifierKey& key,
                                    const std::string& origin) {
  if (key.name != origin) return InvalidArgumentError("the log key does not name the configured log origin");
  const std::string mpath = dir + "/" + std::string(kBackupManifestName);
  auto note = ReadFileBounded(mpath, audit::kMaxNoteBytes);
  if (!note.ok()) return NotFoundError(dir + " is not a gateway backup: " + note.status().message());
  KP_ASSIGN_OR_RETURN(BackupManifest m, OpenManifest(*note, key));
  for (const BackupFile& f : m.files) {
    KP_ASSIGN_OR_RETURN(BackupFile have, HashFile(dir, f.path));
    if (have.bytes != f.bytes || have.sha256 != f.sha256) {
      return DataLossError("the backup's " + f.path +
                           " is not the file the manifest signed (changed or damaged)");
    }
  }
  audit::VerifyOptions vo;
  vo.key = key;
  vo.pinned_checkpoints.push_back(*note);
  audit::VerifyReport report = audit::VerifyLog(dir + "/audit", vo);
  if (!report.status.ok()) {
    return Status(report.status.code(), "the backup's audit log does not verify: " + report.status.message());
  }
  if (report.records != m.checkpoint.size || !report.latest.has_value() ||
      report.latest->size != m.checkpoint.size || report.latest->root != m.checkpoint.root) {
    return DataLossError("the backup's audit log does not end at the manifest's checkpoint");
  }
  return m;
}

// ---- backup

bool IsSafeBackupPath(std::string_view path) { return SafeRelativePath(path); }

Result<BackupResult> MakeBackup(const GatewayConfig& config, const std::string& out_dir) {
  const std::string audit_dir = AuditDir(config);
  if (::access((audit_dir + "/" + std::string(audit::kRecordsFileName)).c_str(), F_OK) != 0) {
    return FailedPreconditionError("there is no gateway log in " + audit_dir + " to back up");
  }
  KP_RETURN_IF_ERROR(PrepareOutDir(out_dir));
  bool running = false;
  {
    auto lock = audit::PosixStorage().LockFolder(audit_dir);
    if (!lock.ok()) {
      if (lock.status().code() != StatusCode::kUnavailable) return lock.status();
      running = true;
    }
  }
  Result<BackupResult> r = running ? OnlineBackup(config, out_dir) : OfflineBackup(config, out_dir);
  if (!r.ok()) {
    // Nothing half-made stays behind to be taken for a backup.
    std::error_code ec;
    fs::remove(out_dir + "/" + std::string(kBackupManifestName), ec);
  }
  return r;
}

// ---- restore

Result<RestoreResult> RestoreBackup(const GatewayConfig& config, const std::string& from, bool force) {
  std::string gateway_id;
  audit::LogWriterOptions writer_options;
  KP_ASSIGN_OR_RETURN(audit::LogSigner signer, GatewayLogSigner(config, &gateway_id, &writer_options));
  KP_ASSIGN_OR_RETURN(BackupManifest m, VerifyBackup(from, signer.verifier_key(), config.log_origin));
  KP_RETURN_IF_ERROR(PrepareDataDir(config));
  const std::string audit_dir = AuditDir(config);
  const std::string db = CaseDatabasePath(config);
  RestoreResult result;
  result.manifest = m;
  std::error_code ec;
  std::unique_ptr<audit::FolderLock> lock;
  if (fs::exists(audit_dir, ec)) {
    auto l = audit::PosixStorage().LockFolder(audit_dir);
    if (!l.ok()) {
      return FailedPreconditionError(
          "a running gateway holds " + audit_dir +
          ": stop it first (systemctl stop ketenpoort-gateway); nothing was changed");
    }
    lock = std::move(*l);
  }
  const bool has_log =
      fs::exists(audit_dir + "/" + std::string(audit::kRecordsFileName), ec) &&
      fs::file_size(audit_dir + "/" + std::string(audit::kRecordsFileName), ec) > audit::kRecordsMagic.size();
  const bool has_data = fs::exists(db, ec) || has_log;
  if (has_data && !force) {
    return FailedPreconditionError("the data folder " + config.data_dir +
                                   " holds a case database or an audit log; restore does not overwrite them. "
                                   "Pass --force to move them aside (into " +
                                   config.data_dir + "/replaced-<time>) and restore; nothing was changed");
  }
  if (has_data) {
    // What the replaced log held past the backup: the records lost (its
    // intact frames; a torn tail was never acknowledged).
    auto old_records =
        audit::PosixStorage().OpenReadOnly(audit_dir + "/" + std::string(audit::kRecordsFileName));
    if (old_records.ok() && audit::CheckRecordsHeader(**old_records, audit_dir).ok()) {
      audit::RecordScanner scanner(old_records->get(), audit::kRecordsMagic.size());
      audit::Frame frame;
      std::string error;
      uint64_t count = 0;
      while (scanner.Next(&frame, &error) == audit::DecodeResult::kOk && frame.index == count) ++count;
      result.lost_known = true;
      result.lost_records = count > m.checkpoint.size ? count - m.checkpoint.size : 0;
    }
    std::string stamp = FormatUtcMillis(SystemClock::Get().NowMillis());
    std::replace(stamp.begin(), stamp.end(), ':', '-');
    result.moved_aside = config.data_dir + "/replaced-" + stamp;
    KP_RETURN_IF_ERROR(MakeDir(result.moved_aside));
    lock.reset();
    for (const std::string name : {"cases.db", "cases.db-wal", "cases.db-shm", "audit"}) {
      const std::string src = config.data_dir + "/" + name;
      if (!fs::exists(src, ec)) continue;
      if (::rename(src.c_str(), (result.moved_aside + "/" + name).c_str()) != 0) {
        return Errno("cannot move aside", src);
      }
    }
    KP_RETURN_IF_ERROR(SyncDir(config.data_dir));
  } else if (fs::exists(audit_dir, ec)) {
    lock.reset();
    fs::remove_all(audit_dir, ec);  // an empty log folder (made by a start that failed)
  }

  // The database and the log, as the backup holds them.
  {
    KP_ASSIGN_OR_RETURN(auto src, audit::PosixStorage().OpenReadOnly(from + "/cases.db"));
    KP_ASSIGN_OR_RETURN(std::string sha, CopyPrefix(*src, src->Size(), db));
    (void)sha;
  }
  KP_RETURN_IF_ERROR(MakeDir(audit_dir));
  KP_RETURN_IF_ERROR(MakeDir(audit_dir + "/" + std::string(audit::kCheckpointsDirName)));
  for (const auto& e : fs::recursive_directory_iterator(from + "/audit", ec)) {
    const std::string rel = fs::relative(e.path(), from + "/audit").string();
    if (e.is_directory()) {
      KP_RETURN_IF_ERROR(MakeDir(audit_dir + "/" + rel));
      continue;
    }
    if (!e.is_regular_file() || rel == "LOCK") continue;
    KP_ASSIGN_OR_RETURN(auto src, audit::PosixStorage().OpenReadOnly(e.path().string()));
    KP_ASSIGN_OR_RETURN(std::string sha, CopyPrefix(*src, src->Size(), audit_dir + "/" + rel));
    (void)sha;
  }
  if (ec) return UnavailableError("cannot read the backup's audit folder: " + ec.message());
  const audit::RestorePoint point{m.checkpoint.size, m.checkpoint.root, m.backup_id};
  KP_RETURN_IF_ERROR(WriteFileDurable(audit_dir + "/" + std::string(audit::kRestoredFileName),
                                      audit::FormatRestorePoint(point) + "\n", 0600, WriteMode::kReplace));
  KP_RETURN_IF_ERROR(SyncDir(audit_dir));

  // The log goes on from the backup's checkpoint with LOG_RESTORED; every
  // checkpoint from now names the restore point.
  auto writer = audit::LogWriter::Open(audit_dir, std::move(signer), writer_options);
  if (!writer.ok()) return writer.status().WithContext("the restored log does not open");
  if ((*writer)->size() != m.checkpoint.size) {
    (void)(*writer)->Close();
    return DataLossError("the restored log does not hold the backup's records");
  }
  v1::AuditRestore fields = RestoreFields(m);
  if (result.lost_known) fields.set_lost_records(result.lost_records);
  std::string reason =
      "restored from backup " + m.backup_id + " of " + FormatUtcMillis(m.made_unix_millis) +
      ": the log goes on from its signed checkpoint of " + std::to_string(m.checkpoint.size) + " records; " +
      (result.lost_known ? std::to_string(result.lost_records) + " later record(s) of the replaced log"
                         : "any later records") +
      " are not in this log (checkpoints signed before this record name sizes up to the old "
      "log's end; see docs/operations.md, \"Backup and restore\")";
  auto appended = (*writer)->Append(BackupRecord(v1::AUDIT_EVENT_LOG_RESTORED, gateway_id, fields, reason));
  Status closed = (*writer)->Close();
  KP_RETURN_IF_ERROR(appended.status());
  KP_RETURN_IF_ERROR(closed);
  result.restored_record_index = appended->index;

  // Owned by whoever owns the data folder (the gateway's user), when run as root.
  struct stat st_dir {};
  if (::geteuid() == 0 && ::stat(config.data_dir.c_str(), &st_dir) == 0) {
    for (const std::string name : {"cases.db", "audit"})
      ChownTree(config.data_dir + "/" + name, st_dir.st_uid, st_dir.st_gid);
  }
  return result;
}

// ---- the running gateway's side

BackupService::BackupService(std::string data_dir, std::string participant_id, AuditTrail* audit,
                             BetweenUnits between_units, RecordInUnit record)
    : data_dir_(std::move(data_dir)),
      participant_id_(std::move(participant_id)),
      audit_(audit),
      between_units_(std::move(between_units)),
      record_(std::move(record)),
      token_(HexEncode(RandomBytes(32))) {}

Status BackupService::WriteTokenFile(const std::string& address) {
  return WriteFileDurable(data_dir_ + "/" + std::string(kManagementTokenFile),
                          "address " + address + "\ntoken " + token_ + "\n", 0600, WriteMode::kReplace);
}

bool BackupService::TokenMatches(std::string_view token) const {
  if (token.size() != token_.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < token.size(); ++i) diff |= static_cast<unsigned char>(token[i] ^ token_[i]);
  return diff == 0;
}

Result<std::string> BackupService::Start() {
  const std::string id = HexEncode(RandomBytes(16));
  const std::string staging = data_dir_ + "/" + std::string(kBackupStagingDir);
  const std::string dir = staging + "/" + id;
  std::string note;
  KP_RETURN_IF_ERROR(MakeDir(staging));
  KP_RETURN_IF_ERROR(MakeDir(dir));
  // One moment between two units: the log's checkpoint covers every record
  // the database's state was made with, and no unit is half done.
  Status s = between_units_([&]() -> Status {
    KP_ASSIGN_OR_RETURN(note, audit_->Checkpoint());
    return CopyDatabase(data_dir_ + "/cases.db", dir + "/cases.db");
  });
  if (!s.ok()) {
    std::error_code ec;
    fs::remove_all(dir, ec);
    return s;
  }
  spdlog::info("backup {}: checkpoint and database copy taken", id);
  return "backup_id " + id + "\ncheckpoint " + Base64Encode(note) + "\ndatabase " + dir + "/cases.db\n";
}

Status BackupService::Done(std::string_view body) {
  const std::string id = LineValue(body, "backup_id");
  if (!IsHexId(id)) return InvalidArgumentError("no backup id");
  const std::string dir = data_dir_ + "/" + std::string(kBackupStagingDir) + "/" + id;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return NotFoundError("no backup " + id + " under way");
  auto size = ParseU64(LineValue(body, "size"), "size");
  auto root = Base64Decode(LineValue(body, "root"));
  auto made = ParseU64(LineValue(body, "made"), "time");
  if (!size.ok() || !root.ok() || root->size() != 32 || !made.ok())
    return InvalidArgumentError("bad backup summary");
  BackupManifest m;
  m.backup_id = id;
  m.checkpoint.size = *size;
  m.checkpoint.root = *root;
  m.made_unix_millis = static_cast<int64_t>(*made);
  v1::AuditRecord rec =
      BackupRecord(v1::AUDIT_EVENT_BACKUP_MADE, participant_id_, RestoreFields(m), BackupMadeReason(m, true));
  KP_RETURN_IF_ERROR(between_units_([&] { return record_(rec); }));
  fs::remove_all(dir, ec);
  spdlog::info("backup {} made: log of {} records", id, *size);
  return OkStatus();
}

void BackupService::AddRoutes(observe::ManagementServer& server) {
  // No backup is under way at start: a copy a command left behind goes.
  std::error_code ec;
  fs::remove_all(data_dir_ + "/" + std::string(kBackupStagingDir), ec);
  auto guard = [this](const observe::ManagementRequest& req, observe::ManagementResponse& res) {
    if (!TokenMatches(req.Header(kBackupTokenHeader))) {
      res.status = 403;
      res.body = "the backup needs the token in the gateway's data folder (" +
                 std::string(kManagementTokenFile) + ")\n";
      return false;
    }
    return true;
  };
  server.AddPost(std::string(kBackupStartRoute), [this, guard](const auto& req, auto& res) {
    if (!guard(req, res)) return;
    auto r = Start();
    if (!r.ok()) {
      res.status = 503;
      res.body = r.status().message() + "\n";
      return;
    }
    res.body = *r;
  });
  server.AddPost(std::string(kBackupDoneRoute), [this, guard](const auto& req, auto& res) {
    if (!guard(req, res)) return;
    Status s = Done(req.body);
    if (!s.ok()) {
      res.status = s.code() == StatusCode::kInvalidArgument ? 400
                   : s.code() == StatusCode::kNotFound      ? 404
                                                            : 503;
      res.body = s.message() + "\n";
      return;
    }
    res.body = "ok\n";
  });
}

void GatewayCore::RecordBackup(v1::AuditRecord record) {
  KP_CHECK(in_unit_);
  (void)Audit(std::move(record));  // a failure fails the unit, and the backup command says so
}

// ---- summaries

void PrintBackupSummary(const BackupResult& r, std::ostream& out) {
  const BackupManifest& m = r.manifest;
  out << "backup " << m.backup_id << " in " << r.out_dir << " (" << (m.online ? "online" : "offline") << ")\n"
      << "  made:        " << FormatUtcMillis(m.made_unix_millis) << "\n"
      << "  audit log:   " << m.checkpoint.size << " records up to the signed checkpoint, root "
      << HexEncode(m.checkpoint.root) << "\n";
  for (const BackupFile& f : m.files) out << "  file:        " << f.path << " (" << f.bytes << " bytes)\n";
  out << "BACKUP_MADE was written to the gateway's log. Keep the folder where the gateway's disk is not.\n";
}

void PrintRestoreSummary(const RestoreResult& r, std::ostream& out) {
  const BackupManifest& m = r.manifest;
  out << "restored backup " << m.backup_id << " of " << FormatUtcMillis(m.made_unix_millis) << "\n"
      << "  audit log:   " << m.checkpoint.size << " records (verified), LOG_RESTORED at index "
      << r.restored_record_index << "\n";
  if (r.lost_known) {
    out << "  lost:        " << r.lost_records << " record(s) the replaced log held past the backup\n";
  } else {
    out << "  lost:        whatever the gateway logged after the backup (the old log was not here)\n";
  }
  if (!r.moved_aside.empty()) out << "  old data:    moved to " << r.moved_aside << " (nothing deleted)\n";
  out << "Start the gateway. Agents resend the answers it has no receipt for; requests it still holds go to "
         "the agents again; agents and privacy officers keep their later checkpoints as those of the history "
         "before the restore (docs/operations.md, \"Backup and restore\").\n";
}

}  // namespace kp::gateway

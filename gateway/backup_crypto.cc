#include "gateway/backup_crypto.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include "core/base/encoding.h"
#include "core/base/file_util.h"
#include "core/crypto/secret_stream.h"
#include "core/crypto/sha256.h"
#include "gateway/startup.h"

namespace kp::gateway {
namespace {

namespace fs = std::filesystem;

// The preamble: magic, recipient public key, sealed file key, stream header.
constexpr size_t kSealedKeyBytes = kSecretStreamKeyBytes + kSealOverheadBytes;
constexpr size_t kPreambleBytes =
    kEncryptedBackupMagic.size() + kX25519PublicKeyBytes + kSealedKeyBytes + kSecretStreamHeaderBytes;
constexpr size_t kMaxChunkBytes = 1 + kEncryptedBackupChunkBytes + kSecretStreamOverheadBytes;
constexpr size_t kMaxFiles = 100000;
constexpr char kFileChunk = 'F';
constexpr char kDataChunk = 'D';
constexpr char kEndChunk = 'E';

Status SealErrno(const std::string& what, const std::string& path) {
  return UnavailableError(what + " " + path + ": " + std::strerror(errno));
}

void PutU16(std::string& out, uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v));
}
void PutU32(std::string& out, uint32_t v) {
  for (int i = 3; i >= 0; --i) out.push_back(static_cast<char>(v >> (8 * i)));
}
void PutU64(std::string& out, uint64_t v) {
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>(v >> (8 * i)));
}
uint64_t GetBE(std::string_view s) {
  uint64_t v = 0;
  for (char c : s) v = (v << 8) | static_cast<unsigned char>(c);
  return v;
}

Status WriteAll(int fd, std::string_view data, const std::string& path) {
  size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return SealErrno("cannot write", path);
    }
    off += static_cast<size_t>(n);
  }
  return OkStatus();
}

Status SyncAndClose(int fd, const std::string& path) {
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return SealErrno("cannot sync", path);
  return OkStatus();
}

Status SealSyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return SealErrno("cannot open the folder", dir);
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return SealErrno("cannot sync the folder", dir);
  return OkStatus();
}

// Reads exactly `n` bytes, or fewer at the end of the file.
std::string ReadUpTo(std::istream& in, size_t n) {
  std::string s(n, '\0');
  in.read(s.data(), static_cast<std::streamsize>(n));
  s.resize(static_cast<size_t>(in.gcount()));
  return s;
}

// A key file: its first line, then the key in standard base64.
Result<std::string> KeyFileBody(const std::string& text, std::string_view first_line,
                                const std::string& path) {
  const size_t nl = text.find('\n');
  if (nl == std::string::npos || std::string_view(text).substr(0, nl) != first_line) {
    return InvalidArgumentError(path + " is not a Ketenpoort backup key file (its first line must be \"" +
                                std::string(first_line) + "\")");
  }
  std::string body = text.substr(nl + 1);
  while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.pop_back();
  return body;
}

// A private folder in the data folder's backup-staging/ (mode 0700).
Result<std::string> StagingDir(const GatewayConfig& config, const char* what) {
  KP_RETURN_IF_ERROR(PrepareDataDir(config));
  const std::string staging = config.data_dir + "/" + std::string(kBackupStagingDir);
  if (::mkdir(staging.c_str(), 0700) != 0 && errno != EEXIST)
    return SealErrno("cannot create the folder", staging);
  std::string pattern = staging + "/" + what + "-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) return SealErrno("cannot create a folder in", staging);
  return pattern;
}

class RemoveOnExit {
 public:
  explicit RemoveOnExit(std::string dir) : dir_(std::move(dir)) {}
  ~RemoveOnExit() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
    if (ec) spdlog::warn("cannot remove {}: {}", dir_, ec.message());
    ::rmdir(fs::path(dir_).parent_path().c_str());  // backup-staging/, when nothing else is in it
  }

 private:
  std::string dir_;
};

}  // namespace

std::string BackupKeyFingerprint(std::string_view public_key) {
  const Sha256Digest d = Sha256(public_key);
  return HexEncode(std::string_view(reinterpret_cast<const char*>(d.data()), d.size())).substr(0, 16);
}

Result<BackupKeyFiles> MakeBackupKey(const std::string& prefix) {
  BackupKeyFiles files{prefix + ".public", prefix + ".secret", ""};
  std::error_code ec;
  for (const auto& p : {files.public_path, files.secret_path}) {
    if (fs::exists(p, ec)) return AlreadyExistsError(p + " exists: a backup key is never overwritten");
  }
  X25519KeyPair pair = GenerateX25519KeyPair();
  SecretBytes b64 = pair.secret_key.ToBase64();
  SecretBytes secret_text(kBackupSecretKeyLine.size() + 1 + b64.size() + 1);
  uint8_t* w = secret_text.mutable_data();
  std::memcpy(w, kBackupSecretKeyLine.data(), kBackupSecretKeyLine.size());
  w += kBackupSecretKeyLine.size();
  *w++ = '\n';
  std::memcpy(w, b64.data(), b64.size());
  w += b64.size();
  *w = '\n';
  KP_RETURN_IF_ERROR(
      WriteFileDurable(files.secret_path, secret_text.view(), 0600, WriteMode::kCreateExclusive));
  KP_RETURN_IF_ERROR(WriteFileDurable(
      files.public_path, std::string(kBackupPublicKeyLine) + "\n" + Base64Encode(pair.public_key) + "\n",
      0644, WriteMode::kCreateExclusive));
  files.public_key = pair.public_key;
  return files;
}

Result<std::string> ReadBackupPublicKey(const std::string& path) {
  KP_ASSIGN_OR_RETURN(std::string text, ReadFileBounded(path, 4096));
  KP_ASSIGN_OR_RETURN(std::string body, KeyFileBody(text, kBackupPublicKeyLine, path));
  auto key = Base64Decode(body);
  if (!key.ok() || key->size() != kX25519PublicKeyBytes) {
    return InvalidArgumentError(path + ": the public key is not 32 bytes in base64");
  }
  return *key;
}

Result<X25519KeyPair> ReadBackupSecretKey(const std::string& path) {
  KP_RETURN_IF_ERROR(CheckSecretFileMode(path));
  KP_ASSIGN_OR_RETURN(std::string text, ReadFileBounded(path, 4096));
  auto body = KeyFileBody(text, kBackupSecretKeyLine, path);
  Result<SecretBytes> secret =
      body.ok() ? SecretBytes::FromBase64(*body, kX25519SecretKeyBytes) : Result<SecretBytes>(body.status());
  SecureWipe(text.data(), text.size());
  if (body.ok()) SecureWipe(body->data(), body->size());
  if (!secret.ok())
    return InvalidArgumentError(path + ": not a backup secret key (" + secret.status().message() + ")");
  KP_ASSIGN_OR_RETURN(std::string pub, X25519PublicKeyOf(*secret));
  return X25519KeyPair{std::move(pub), std::move(secret).value()};
}

bool IsEncryptedBackup(const std::string& dir) {
  std::error_code ec;
  return fs::is_regular_file(dir + "/" + std::string(kEncryptedBackupName), ec);
}

Status EncryptBackupFolder(const std::string& plain_dir, std::string_view public_key,
                           const std::string& out_file) {
  if (public_key.size() != kX25519PublicKeyBytes)
    return InvalidArgumentError("a backup key must be 32 bytes");
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(plain_dir, ec)) {
    if (e.is_regular_file()) files.push_back(fs::relative(e.path(), plain_dir).string());
  }
  if (ec) return UnavailableError("cannot read " + plain_dir + ": " + ec.message());
  std::sort(files.begin(), files.end());

  SecretBytes file_key = NewSecretStreamKey();
  std::string header;
  KP_ASSIGN_OR_RETURN(auto stream, SecretStreamWriter::Create(file_key, &header));
  KP_ASSIGN_OR_RETURN(std::string sealed_key, SealTo(public_key, file_key.view()));
  std::string preamble = std::string(kEncryptedBackupMagic);
  preamble.append(public_key);
  preamble.append(sealed_key);
  preamble.append(header);
  if (preamble.size() != kPreambleBytes) return InternalError("encrypted backup preamble has the wrong size");

  int fd = ::open(out_file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return SealErrno("cannot create", out_file);
  auto chunk = [&](std::string plain, bool final) -> Status {
    std::string c = stream->Push(plain, preamble, final);
    std::string framed;
    PutU32(framed, static_cast<uint32_t>(c.size()));
    framed.append(c);
    return WriteAll(fd, framed, out_file);
  };
  Status status = WriteAll(fd, preamble, out_file);
  for (const std::string& rel : files) {
    if (!status.ok()) break;
    if (!IsSafeBackupPath(rel)) {
      status = InternalError("a backup file has an unexpected name: " + rel);
      break;
    }
    std::ifstream in(plain_dir + "/" + rel, std::ios::binary);
    const uint64_t size = fs::file_size(plain_dir + "/" + rel, ec);
    if (!in || ec) {
      status = UnavailableError("cannot read " + plain_dir + "/" + rel);
      break;
    }
    std::string head(1, kFileChunk);
    PutU16(head, static_cast<uint16_t>(rel.size()));
    head.append(rel);
    PutU64(head, size);
    status = chunk(std::move(head), false);
    uint64_t done = 0;
    while (status.ok() && done < size) {
      std::string data(1, kDataChunk);
      std::string part =
          ReadUpTo(in, static_cast<size_t>(std::min<uint64_t>(size - done, kEncryptedBackupChunkBytes)));
      if (part.empty()) {
        status = DataLossError(plain_dir + "/" + rel + " ended early while it was encrypted");
        break;
      }
      done += part.size();
      data.append(part);
      status = chunk(std::move(data), false);
    }
  }
  if (status.ok()) {
    std::string end(1, kEndChunk);
    PutU32(end, static_cast<uint32_t>(files.size()));
    status = chunk(std::move(end), true);
  }
  if (!status.ok()) {
    ::close(fd);
    ::unlink(out_file.c_str());
    return status;
  }
  KP_RETURN_IF_ERROR(SyncAndClose(fd, out_file));
  return SealSyncDir(fs::path(out_file).parent_path().string());
}

Status DecryptBackupStream(std::istream& in, const std::string& name, const X25519KeyPair& key,
                           BackupFileSink& sink) {
  const std::string damaged = name + " is damaged or cut short";
  const std::string preamble = ReadUpTo(in, kPreambleBytes);
  if (preamble.size() != kPreambleBytes ||
      preamble.compare(0, kEncryptedBackupMagic.size(), kEncryptedBackupMagic) != 0) {
    return DataLossError(name + " is not an encrypted Ketenpoort backup (its first bytes are not " +
                         std::string(kEncryptedBackupMagic) + ")");
  }
  size_t at = kEncryptedBackupMagic.size();
  const std::string_view recipient = std::string_view(preamble).substr(at, kX25519PublicKeyBytes);
  at += kX25519PublicKeyBytes;
  if (recipient != key.public_key) {
    return UnauthenticatedError(name + " is encrypted to backup key " + BackupKeyFingerprint(recipient) +
                                ", not to this secret key (" + BackupKeyFingerprint(key.public_key) + ")");
  }
  auto opened = OpenSealed(key, std::string_view(preamble).substr(at, kSealedKeyBytes));
  at += kSealedKeyBytes;
  if (!opened.ok() || opened->size() != kSecretStreamKeyBytes) {
    return UnauthenticatedError(damaged + ": its file key does not open with this secret key");
  }
  SecretBytes file_key(kSecretStreamKeyBytes);
  std::memcpy(file_key.mutable_data(), opened->data(), kSecretStreamKeyBytes);
  SecureWipe(opened->data(), opened->size());
  KP_ASSIGN_OR_RETURN(auto stream,
                      SecretStreamReader::Create(file_key, std::string_view(preamble).substr(at)));

  bool in_file = false;
  uint64_t left = 0;
  uint64_t files = 0;
  bool final = false;
  while (!final) {
    const std::string len = ReadUpTo(in, 4);
    if (len.size() != 4) return DataLossError(damaged + ": it ends before its last chunk");
    const uint64_t n = GetBE(len);
    if (n < kSecretStreamOverheadBytes + 1 || n > kMaxChunkBytes) {
      return DataLossError(damaged + ": a chunk has an impossible length");
    }
    const std::string c = ReadUpTo(in, static_cast<size_t>(n));
    if (c.size() != n) return DataLossError(damaged + ": it ends inside a chunk");
    auto plain = stream->Pull(c, preamble, &final);
    if (!plain.ok()) return DataLossError(damaged + ": " + plain.status().message());
    const std::string_view p = *plain;
    const char type = p.empty() ? '\0' : p[0];
    if (final != (type == kEndChunk)) return DataLossError(damaged + ": its end is not where it should be");
    if (type == kDataChunk) {
      if (!in_file || p.size() - 1 > left) return DataLossError(damaged + ": data outside a file");
      KP_RETURN_IF_ERROR(sink.Data(p.substr(1)));
      left -= p.size() - 1;
      continue;
    }
    // A file's end: it must be whole.
    if (in_file) {
      if (left != 0) return DataLossError(damaged + ": a file is shorter than it says");
      KP_RETURN_IF_ERROR(sink.End());
      in_file = false;
    }
    if (type == kEndChunk) {
      if (p.size() != 5 || GetBE(p.substr(1)) != files) {
        return DataLossError(damaged + ": it does not hold the number of files its end says");
      }
      break;
    }
    if (type != kFileChunk || p.size() < 3) return DataLossError(damaged + ": an unknown chunk");
    const size_t name_len = static_cast<size_t>(GetBE(p.substr(1, 2)));
    if (p.size() != 3 + name_len + 8) return DataLossError(damaged + ": a malformed file header");
    const std::string rel(p.substr(3, name_len));
    if (!IsSafeBackupPath(rel) || ++files > kMaxFiles) {
      return DataLossError(damaged + ": it names a file outside the backup");
    }
    left = GetBE(p.substr(3 + name_len));
    if (Status s = sink.Begin(rel); !s.ok()) {
      return s.code() == StatusCode::kAlreadyExists
                 ? DataLossError(damaged + ": it names a file twice (" + rel + ")")
                 : s;
    }
    in_file = true;
  }
  // Nothing may follow the final chunk.
  if (!ReadUpTo(in, 1).empty()) return DataLossError(damaged + ": bytes follow its end");
  return OkStatus();
}

namespace {

// Writes the decrypted files into a folder (0700 folders, 0600 files). Not
// synced: restore copies them into the data folder (synced there) and
// removes them.
class FolderSink : public BackupFileSink {
 public:
  explicit FolderSink(std::string dir) : dir_(std::move(dir)) {}
  ~FolderSink() override {
    if (fd_ >= 0) ::close(fd_);
  }
  Status Begin(const std::string& path) override {
    path_ = dir_ + "/" + path;
    std::error_code ec;
    const fs::path parent = fs::path(path_).parent_path();
    fs::create_directories(parent, ec);
    if (ec) return UnavailableError("cannot create " + parent.string() + ": " + ec.message());
    ::chmod(parent.c_str(), 0700);
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd_ < 0) {
      return errno == EEXIST ? AlreadyExistsError(path_ + " exists") : SealErrno("cannot create", path_);
    }
    return OkStatus();
  }
  Status Data(std::string_view bytes) override { return WriteAll(fd_, bytes, path_); }
  Status End() override {
    const int rc = ::close(fd_);
    fd_ = -1;
    if (rc != 0) return SealErrno("cannot write", path_);
    return OkStatus();
  }

 private:
  std::string dir_;
  std::string path_;
  int fd_ = -1;
};

}  // namespace

Status DecryptBackupFile(const std::string& in_file, const X25519KeyPair& key, const std::string& out_dir) {
  std::ifstream in(in_file, std::ios::binary);
  if (!in) return NotFoundError("cannot open " + in_file);
  FolderSink sink(out_dir);
  return DecryptBackupStream(in, in_file, key, sink);
}

Result<BackupResult> MakeEncryptedBackup(const GatewayConfig& config, const std::string& out_dir,
                                         const std::string& public_key_file) {
  KP_ASSIGN_OR_RETURN(std::string public_key, ReadBackupPublicKey(public_key_file));
  // The backup folder as for a plain backup: new or empty, 0700.
  if (::mkdir(out_dir.c_str(), 0700) != 0) {
    std::error_code ec;
    if (errno != EEXIST) return SealErrno("cannot create the backup folder", out_dir);
    if (!fs::is_directory(out_dir, ec) || !fs::is_empty(out_dir, ec)) {
      return FailedPreconditionError(
          "the backup folder " + out_dir +
          " is not an empty folder: give a new folder for each backup (nothing was written)");
    }
    if (::chmod(out_dir.c_str(), 0700) != 0) return SealErrno("cannot make private", out_dir);
  }
  KP_ASSIGN_OR_RETURN(std::string plain, StagingDir(config, "plain"));
  RemoveOnExit remove(plain);
  KP_ASSIGN_OR_RETURN(BackupResult made, MakeBackup(config, plain));
  KP_RETURN_IF_ERROR(
      EncryptBackupFolder(plain, public_key, out_dir + "/" + std::string(kEncryptedBackupName)));
  made.out_dir = out_dir;
  return made;
}

Result<RestoreResult> RestoreEncryptedBackup(const GatewayConfig& config, const std::string& from_dir,
                                             const std::string& secret_key_file, bool force) {
  KP_ASSIGN_OR_RETURN(X25519KeyPair key, ReadBackupSecretKey(secret_key_file));
  if (!IsEncryptedBackup(from_dir)) {
    return FailedPreconditionError(from_dir + " holds no " + std::string(kEncryptedBackupName) +
                                   ": not an encrypted backup (restore a plain one without --decrypt-with)");
  }
  KP_ASSIGN_OR_RETURN(std::string plain, StagingDir(config, "restore"));
  RemoveOnExit remove(plain);
  if (Status s = DecryptBackupFile(from_dir + "/" + std::string(kEncryptedBackupName), key, plain); !s.ok()) {
    return s.WithContext("nothing was restored (nothing in the data folder was changed)");
  }
  return RestoreBackup(config, plain, force);
}

}  // namespace kp::gateway

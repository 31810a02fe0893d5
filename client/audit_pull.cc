#include "client/audit_pull.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/base/file_util.h"
#include "ketenpoort/v1/messages.pb.h"

namespace kp::client {

namespace v1 = ketenpoort::v1;

namespace {

constexpr uint64_t kMaxLogBytes = 64ULL << 30;  // refuse absurd listings

bool SafeName(const std::string& name) {
  if (name.empty() || name.size() > 128 || name.front() == '/' || name.find("..") != std::string::npos) return false;
  for (char ch : name) {
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '/' || ch == '.' || ch == '-' || ch == '_';
    if (!ok) return false;
  }
  return true;
}

Status MakeDirs(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return UnavailableError("cannot create folder " + path + ": " + ec.message());
  ::chmod(path.c_str(), 0700);
  return OkStatus();
}

// One pass: the listing, then every file up to its listed size.
Result<PullSummary> PullOnce(GatewayConnection& gateway, const std::string& out_dir, int timeout_ms);

}  // namespace

Result<PullSummary> PullAuditLog(GatewayConnection& gateway, const std::string& out_dir, int timeout_ms) {
  // The gateway's retention sweep may rewrite the records file during a
  // pull; the gateway then refuses the rest of it ("pull the log again"),
  // and the pull starts again from a fresh listing (a few times at most).
  constexpr int kAttempts = 3;
  for (int attempt = 1;; ++attempt) {
    Result<PullSummary> got = PullOnce(gateway, out_dir, timeout_ms);
    const bool rewritten = !got.ok() && got.status().code() == StatusCode::kFailedPrecondition &&
                           got.status().message().find("pull the log again") != std::string::npos;
    if (!rewritten || attempt == kAttempts) return got;
  }
}

namespace {

Result<PullSummary> PullOnce(GatewayConnection& gateway, const std::string& out_dir, int timeout_ms) {
  KP_RETURN_IF_ERROR(MakeDirs(out_dir));
  KP_ASSIGN_OR_RETURN(std::string id, gateway.Send(v1::MESSAGE_KIND_AUDIT_PULL, v1::AuditPull()));
  KP_ASSIGN_OR_RETURN(VerifiedEnvelope env, gateway.Await(id, timeout_ms));
  if (env.header.kind() != v1::MESSAGE_KIND_AUDIT_CHUNK) return InvalidArgumentError("unexpected answer to a pull");
  v1::AuditChunk listing;
  KP_RETURN_IF_ERROR(ParseBody(env.body, listing));
  PullSummary summary;
  uint64_t total = 0;
  for (const auto& f : listing.files()) total += f.size();
  if (total > kMaxLogBytes) return InvalidArgumentError("the gateway lists an audit log of implausible size");
  for (const auto& f : listing.files()) {
    if (!SafeName(f.name())) return InvalidArgumentError("the gateway lists a file name outside the log folder");
    const std::string path = out_dir + "/" + f.name();
    KP_RETURN_IF_ERROR(MakeDirs(std::filesystem::path(path).parent_path().string()));
    std::string content = f.content();
    if (content.size() != f.size()) {
      content.clear();
      while (content.size() < f.size()) {
        v1::AuditPull pull;
        pull.set_file(f.name());
        pull.set_offset(content.size());
        KP_ASSIGN_OR_RETURN(std::string chunk_id, gateway.Send(v1::MESSAGE_KIND_AUDIT_PULL, pull));
        KP_ASSIGN_OR_RETURN(VerifiedEnvelope c, gateway.Await(chunk_id, timeout_ms));
        v1::AuditChunk chunk;
        KP_RETURN_IF_ERROR(ParseBody(c.body, chunk));
        if (chunk.file() != f.name() || chunk.offset() != content.size() || chunk.data().empty()) {
          return DataLossError("the gateway sent a chunk that does not continue " + f.name());
        }
        content += chunk.data();
      }
      content.resize(f.size());  // the listing's size is the snapshot
    }
    KP_RETURN_IF_ERROR(WriteFileDurable(path, content, 0600, WriteMode::kReplace));
    ++summary.files;
    summary.bytes += content.size();
  }
  return summary;
}

}  // namespace

}  // namespace kp::client

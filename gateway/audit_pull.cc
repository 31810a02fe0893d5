// GatewayCore: the privacy officer's pull of the audit log (docs/protocol.md
// §6, AuditPull / AuditChunk). The export is itself recorded; the listing is
// made only once that record is in the log, so the checkpoint it carries
// covers it. The folder is read by core/audit/log_export.
#include <spdlog/spdlog.h>

#include "core/audit/log_export.h"
#include "core/audit/log_format.h"
#include "gateway/gateway_core.h"

namespace kp::gateway {

namespace v1 = ketenpoort::v1;

void GatewayCore::HandleAuditPull(const VerifiedMessage& m) {
  const std::string& msg_id = m.env.header.message_id();
  v1::AuditPull pull;
  if (Status s = ParseBody(m.env.body, pull); !s.ok()) return RefuseMessage(m, s);
  if (pull.file().empty()) {
    // The export is itself audited, and covered by the checkpoint it
    // carries: the listing is made once its record is in the log.
    v1::AuditRecord rec = NewRecord(v1::AUDIT_EVENT_LOG_EXPORTED, m.sender);
    rec.set_message_id(msg_id);
    rec.set_reason("audit log pulled by a privacy officer");
    if (!Audit(std::move(rec)).ok()) return;  // the unit fails; its sender is told
    listings_.push_back({m.sender, m.connection, msg_id});
    return;
  }
  if (pull.file() == audit::kRecordsFileName) {
    // The retention sweep rewrites the records file (tombstones are
    // shorter): offsets from a listing made before would mix two files.
    auto listed = listed_at_rewrite_.find(m.sender);
    if (listed != listed_at_rewrite_.end() && listed->second != audit_->rewrites()) {
      return RefuseMessage(m, FailedPreconditionError(
                                  "the retention sweep erased expired records after this pull began (the records "
                                  "file was rewritten); pull the log again"));
    }
  }
  auto data = audit::ReadLogFileChunk(AuditDir(config_), pull.file(), pull.offset(), audit::kExportChunkBytes);
  if (!data.ok()) return RefuseMessage(m, data.status());
  v1::AuditChunk answer;
  answer.set_file(pull.file());
  answer.set_offset(pull.offset());
  answer.set_data(std::move(*data));
  QueueSigned(m.sender, v1::MESSAGE_KIND_AUDIT_CHUNK, msg_id, answer);
}

Outgoing GatewayCore::AuditListing(const ListingRequest& listing) {
  auto fail = [&](const Status& s) {
    spdlog::warn("audit log listing for {} failed: {}", listing.to, s.ToString());
    auto err = UnsavedError(listing.to, listing.connection, listing.message_id, s);
    return err.ok() ? std::move(*err) : Outgoing{};
  };
  auto checkpoint = audit_->Checkpoint();
  if (!checkpoint.ok()) return fail(checkpoint.status());
  listed_at_rewrite_[listing.to] = audit_->rewrites();
  auto files = audit::ListLogFolder(AuditDir(config_));
  if (!files.ok()) return fail(files.status());
  v1::AuditChunk answer;
  for (auto& file : *files) {
    auto* f = answer.add_files();
    f->set_name(file.name);
    f->set_size(file.size);
    if (file.inlined) f->set_content(std::move(file.content));
  }
  spdlog::info("audit log listing sent to privacy officer {} ({} files)", listing.to, answer.files_size());
  auto msg = Sign(v1::MESSAGE_KIND_AUDIT_CHUNK, listing.to, listing.message_id, answer);
  if (!msg.ok()) return fail(msg.status());
  return Outgoing{listing.to, listing.connection, std::move(*msg)};
}

}  // namespace kp::gateway

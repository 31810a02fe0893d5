#include "gateway/log_audit_trail.h"

#include "core/audit/key_handover.h"

namespace kp::gateway {

Result<std::unique_ptr<audit::LogWriter>> LogAuditTrail::OpenWriter(const std::string& dir,
                                                                    const Identity& signer,
                                                                    const std::string& origin,
                                                                    audit::LogWriterOptions options) {
  KP_ASSIGN_OR_RETURN(
      audit::LogSigner log_signer,
      audit::LogSigner::Create(origin, signer.signing().public_key, signer.signing().secret_key.Clone()));
  // After keygen --activate the log is handed over from the ring's previous
  // key to the new one (core/audit/key_handover.h); the gateway's checkpoints
  // then carry the handover to agents and clients (docs/formats.md §2.4).
  if (options.previous_signers.empty()) {
    KP_ASSIGN_OR_RETURN(options.previous_signers,
                        audit::PreviousLogSigners(origin, signer.OtherSigningKeys()));
  }
  return audit::LogWriter::Open(dir, std::move(log_signer), options);
}

Result<std::unique_ptr<LogAuditTrail>> LogAuditTrail::Open(const std::string& dir, const Identity& signer,
                                                           const std::string& origin,
                                                           audit::LogWriterOptions options) {
  KP_ASSIGN_OR_RETURN(auto writer, OpenWriter(dir, signer, origin, options));
  return std::unique_ptr<LogAuditTrail>(new LogAuditTrail(std::move(writer), signer, dir, origin, options));
}

Status LogAuditTrail::Reopen() {
  // Only what the last sync that succeeded made durable is trusted: a
  // record written after it may show in the page cache while the disk lost
  // it (a failed fdatasync can mark its pages clean). The reopened writer
  // cuts those records, and the gateway appends them again from its outbox,
  // which kept them (GatewayCore::ReopenAudit).
  audit::LogWriterOptions options = options_;
  options.keep_at_most_records = writer_->durable_size();
  // Close releases the folder lock even when the log had failed.
  (void)writer_->Close();
  auto reopened = OpenWriter(dir_, signer_, origin_, options);
  if (!reopened.ok()) {
    // Keep the closed writer: every call on it fails until a reopen works.
    return UnavailableError("the audit log cannot be opened again yet: " + reopened.status().message());
  }
  rewrites_before_ += writer_->rewrites();
  writer_ = std::move(reopened).value();
  return OkStatus();
}

}  // namespace kp::gateway

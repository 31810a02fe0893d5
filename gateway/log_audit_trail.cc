#include "gateway/log_audit_trail.h"

namespace kp::gateway {

Result<std::unique_ptr<LogAuditTrail>> LogAuditTrail::Open(const std::string& dir, const Identity& signer,
                                                           const std::string& origin,
                                                           audit::LogWriterOptions options) {
  KP_ASSIGN_OR_RETURN(audit::LogSigner log_signer,
                      audit::LogSigner::Create(origin, signer.signing().public_key, signer.signing().secret_key.Clone()));
  KP_ASSIGN_OR_RETURN(auto writer, audit::LogWriter::Open(dir, std::move(log_signer), options));
  return std::unique_ptr<LogAuditTrail>(new LogAuditTrail(std::move(writer)));
}

Result<uint64_t> LogAuditTrail::Append(ketenpoort::v1::AuditRecord record) {
  KP_ASSIGN_OR_RETURN(audit::AppendReceipt receipt, writer_->Append(std::move(record)));
  return receipt.index;
}

Result<uint64_t> LogAuditTrail::AppendBuffered(ketenpoort::v1::AuditRecord record) {
  KP_ASSIGN_OR_RETURN(audit::AppendReceipt receipt, writer_->AppendBuffered(std::move(record)));
  return receipt.index;
}

Result<std::string> LogAuditTrail::Checkpoint() { return writer_->Checkpoint(); }

}  // namespace kp::gateway

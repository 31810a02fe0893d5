// The retention sweep (gateway/retention.h): its schedule and erasure
// thread, and the GatewayCore's two units of it — closed cases pruned from
// cases.db (CASE_PRUNED), and the ERASURE record of an erasure.
#include "gateway/retention.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <string>

#include "core/base/encoding.h"
#include "core/base/time_format.h"
#include "gateway/gateway_core.h"

namespace kp::gateway {

namespace v1 = ketenpoort::v1;

RetentionSweep::~RetentionSweep() {
  if (erasing_.valid()) erasing_.wait();
}

bool RetentionSweep::Due(int64_t now_ms) {
  if (started_ && now_ms < next_ms_) return false;
  started_ = true;
  next_ms_ = now_ms + interval_ms_;
  return true;
}

void RetentionSweep::StartErasure(AuditTrail& trail, int64_t now_ms) {
  if (erasing_.valid()) return;  // the last one still runs; this sweep erases nothing new
  erasing_ = std::async(std::launch::async, [&trail, now_ms] { return trail.EraseExpiredBodies(now_ms); });
}

std::optional<Result<audit::EraseSummary>> RetentionSweep::TakeErasure(bool wait) {
  if (!erasing_.valid()) return std::nullopt;
  if (!wait && erasing_.wait_for(std::chrono::seconds(0)) != std::future_status::ready) return std::nullopt;
  return erasing_.get();
}

// ------------------------------------------------------------ the units

size_t GatewayCore::PruneClosedCases(int64_t now_ms, size_t limit) {
  KP_CHECK(in_unit_);
  const int64_t closed_before = now_ms - config_.closed_case_days * 24LL * 3600 * 1000;
  auto prunable = store_->PrunableCases(closed_before, limit);
  if (!prunable.ok()) {
    spdlog::error("retention: cannot read the closed cases: {}", prunable.status().message());
    return 0;
  }
  size_t pruned = 0;
  for (const CaseRecord& c : *prunable) {
    auto rows = store_->PruneCase(c.id);
    if (!rows.ok()) {
      FailUnit(rows.status());
      return 0;
    }
    v1::AuditRecord rec = NewRecord(v1::AUDIT_EVENT_CASE_PRUNED, identity_->id());
    rec.set_case_id(c.id);
    rec.set_phase(c.phase);
    rec.set_purpose(c.purpose);
    rec.set_reason("closed " + FormatUtcMillis(c.closed_ms) + ", nothing pending for " +
                   std::to_string(config_.closed_case_days) +
                   " days or more; removed from the case database: " + std::to_string(rows->commands) +
                   " chain command(s), " + std::to_string(rows->watches) + " ended watch(es), " +
                   std::to_string(rows->consents) + " source consent(s), " + std::to_string(rows->deadlines) +
                   " deadline(s), " + std::to_string(rows->referrals) +
                   " referral(s); its records in this log stay until their retention");
    if (!Audit(std::move(rec)).ok()) return 0;  // the unit fails: nothing was pruned
    // Its folded facts go too (kept by head).
    for (auto it = cases_by_head_.begin(); it != cases_by_head_.end();) {
      it = it->second.facts.case_id == c.id ? cases_by_head_.erase(it) : std::next(it);
    }
    spdlog::info("retention: case {} (closed {}) pruned from the case database", c.id,
                 FormatUtcMillis(c.closed_ms));
    ++pruned;
  }
  // Referrals that never became a case go after the same time: their rows
  // hold the referrer's envelope with the subjects' identifiers (sealed).
  if (pruned >= limit) return pruned;
  auto referrals = store_->PrunableReferrals(closed_before, limit - pruned);
  if (!referrals.ok()) {
    spdlog::error("retention: cannot read the decided referrals: {}", referrals.status().message());
    return pruned;
  }
  for (const StoredReferral& r : *referrals) {
    if (Status s = store_->PruneReferral(r.id); !s.ok()) {
      FailUnit(s);
      return 0;
    }
    v1::AuditRecord rec = NewRecord(v1::AUDIT_EVENT_CASE_PRUNED, identity_->id());
    rec.set_purpose(r.purpose);
    rec.set_recipient_partner(r.to_partner);
    rec.mutable_referral()->set_referral_id(r.id);
    rec.mutable_referral()->set_reference(r.reference);
    rec.mutable_referral()->set_referrer(r.referrer);
    rec.mutable_referral()->set_subjects(r.subjects);
    rec.set_reason(std::string("a referral that never became a case (") +
                   (r.state == ReferralState::kDeclined ? "declined" : "lapsed") + " " +
                   FormatUtcMillis(r.decided_ms) +
                   ") removed from the case database with the referrer's envelope");
    if (!Audit(std::move(rec)).ok()) return 0;
    spdlog::info("retention: referral {} from {} ({}) pruned from the case database", HexEncode(r.id),
                 r.referrer, r.state == ReferralState::kDeclined ? "declined" : "lapsed");
    ++pruned;
  }
  return pruned;
}

void GatewayCore::RecordErasure(const audit::EraseSummary& erased) {
  KP_CHECK(in_unit_);
  v1::AuditRecord rec = NewRecord(v1::AUDIT_EVENT_ERASURE, identity_->id());
  rec.mutable_actor()->set_role("audit-log");
  rec.mutable_erasure()->set_erased_records(erased.erased);
  rec.mutable_erasure()->set_first_index(erased.first_index);
  rec.mutable_erasure()->set_last_index(erased.last_index);
  rec.set_reason("retention ended: " + std::to_string(erased.erased) +
                 " record bodies replaced by tombstones by the gateway's retention sweep (indexes " +
                 std::to_string(erased.first_index) + " to " + std::to_string(erased.last_index) + ")");
  (void)Audit(std::move(rec));  // a failure fails the unit; the tombstones are the trace
}

}  // namespace kp::gateway

// The coordinator's side of referrals, handovers and case notices (issue
// 14; docs/cli.md "Referrals" and "Handover"). Part of class Coordinator
// (client/coordinator.h); kept apart from the request/answer machinery in
// coordinator.cc.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

#include "case/case_chain.h"
#include "case/commitment.h"
#include "case/referral.h"
#include "client/coordinator.h"
#include "core/base/encoding.h"
#include "core/base/time_format.h"
#include "core/crypto/random.h"
#include "core/crypto/x25519.h"
#include "core/envelope/sealed.h"
#include "core/envelope/wire_format.h"

namespace kp::client {

namespace v1 = ketenpoort::v1;

namespace {

constexpr int kMaxReasons = 8;
// Room in a hand-over part for everything around its HandoverData body: the
// inner envelope's header and signature, the seal, the package's fields.
constexpr size_t kPartOverheadBytes = 4096;
constexpr size_t kPartBudgetBytes = wire::kMaxHandoverBodyBytes - kPartOverheadBytes;

std::string Short(const std::string& id) { return HexEncode(id).substr(0, 12); }

Status CheckCode(const std::string& what, const std::string& code) { return cases::CheckReasonCode(code, what); }

std::string When(int64_t ms) { return ms > 0 ? FormatUtcMillis(ms) : std::string("-"); }

}  // namespace

std::string_view ReferralStateName(v1::ReferralState state) {
  switch (state) {
    case v1::REFERRAL_STATE_WAITING: return "waiting";
    case v1::REFERRAL_STATE_ACCEPTED: return "accepted";
    case v1::REFERRAL_STATE_DECLINED: return "declined";
    case v1::REFERRAL_STATE_EXPIRED: return "expired";
    default: return "not confirmed";
  }
}

std::string NoticeText(const v1::CaseNotice& n, std::string_view me) {
  const std::string c = "case " + n.case_id();
  const std::string by = n.by().empty() ? std::string("the clock") : n.by();
  const std::string why = n.reason_code().empty() ? std::string() : " (reason " + n.reason_code() + ")";
  switch (n.kind()) {
    case v1::NOTICE_KIND_ACUTE_OPENED:
      return "acute " + c + " was opened by " + by + " with your organisation admitted" +
             (n.phase().empty() ? "" : ", phase " + n.phase()) + "; its acute window ends " + When(n.until_ms());
    case v1::NOTICE_KIND_HANDOVER_OFFERED:
      return c + " is offered to you by " + by + why + "; take it before " + When(n.until_ms()) +
             " with `ketenpoort case accept-handover " + n.case_id() + "`";
    case v1::NOTICE_KIND_HANDOVER_ACCEPTED:
      return "your offer of " + c + " was accepted by " + by + "; from now on " + by + " coordinates it";
    case v1::NOTICE_KIND_HANDOVER_CANCELLED:
      return by + " took back the offer of " + c + " to you" + why + "; the case stays with " + by;
    case v1::NOTICE_KIND_HANDOVER_LAPSED:
      return "the offer of " + c + " lapsed unaccepted on " + When(n.until_ms()) +
             "; the case stays with its coordinator";
    case v1::NOTICE_KIND_STAND_IN_ENDED:
      return "the stand-in for " + c + " ended on " + When(n.until_ms()) + "; the case is back with its coordinator";
    case v1::NOTICE_KIND_ACUTE_WINDOW_ENDED:
      return "the acute window of " + c + " ended on " + When(n.until_ms()) +
             " without a handover: hand it over (ketenpoort case handover) or close it";
    case v1::NOTICE_KIND_PARTNER_REMOVED:
      return "your organisation was removed from " + c + " by " + by + why;
    case v1::NOTICE_KIND_HANDOVER_DATA_WITHHELD: {
      const std::string count = std::to_string(n.withheld()) + " fragment(s) of " + c;
      if (!me.empty() && n.by() == me) {
        return count + " were not handed over to you: the policy does not give them to your role now; ask the "
                       "partners again if you need them";
      }
      if (!me.empty() && !n.by().empty()) {
        return count + " stayed behind and were deleted: the policy does not give them to the role of " + n.by() +
               ", who took the case over; it may ask the partners again";
      }
      return count + " were not handed over: the policy does not give them to the new coordinator's role now";
    }
    case v1::NOTICE_KIND_APPROVAL_EXPIRED:
      return "request " + HexEncode(n.request_id()).substr(0, 12) + " of " + c +
             " waited for the approval of the source's professional and no one decided before " + When(n.until_ms()) +
             "; it was refused (approval expired)";
    case v1::NOTICE_KIND_WATCH_ENDED:  // watches (watches.cc)
      return "watch " + HexEncode(n.request_id()).substr(0, 12) + " of " + c + " ended" + why +
             "; no more signals come from it";
    default:
      return "a notice about " + c + " this version does not know";
  }
}

News Coordinator::TakeNews() {
  News out = std::move(news_);
  news_ = News{};
  return out;
}

// ------------------------------------------------------------------ stash

void Coordinator::Stash(const VerifiedEnvelope& env, const std::string& raw) { stash_.emplace_back(env, raw); }

void Coordinator::HandleStash(bool may_sync) {
  if (stash_.empty()) return;
  std::vector<std::pair<VerifiedEnvelope, std::string>> items = std::move(stash_);
  stash_.clear();
  for (auto& [env, raw] : items) {
    Status s;
    switch (env.header.kind()) {
      case v1::MESSAGE_KIND_REFERRAL:
        s = TakeReferral(raw);
        break;
      case v1::MESSAGE_KIND_REFERRAL_STATUS: {
        v1::ReferralStatus status;
        s = ParseBody(env.body, status);
        if (s.ok()) s = TakeStatus(status);
        break;
      }
      case v1::MESSAGE_KIND_HANDOVER_PACKAGE:
        s = TakeHandoverPart(env, may_sync);
        break;
      case v1::MESSAGE_KIND_CASE_NOTICE: {
        v1::CaseNotice notice;
        s = ParseBody(env.body, notice);
        if (!s.ok()) break;
        if (notice.kind() == v1::NOTICE_KIND_HANDOVER_DATA_WITHHELD) {
          // Whom the case went to, by the history this client holds (its
          // own offer, or its acceptance of one): `by` names the new
          // coordinator, so the notice reads right for the new one and for
          // the former one.
          if (auto facts = LocalFacts(notice.case_id()); facts.ok()) {
            if (facts->offer.has_value()) {
              notice.set_by(facts->offer->to);
            } else if (!facts->handovers.empty()) {
              notice.set_by(facts->handovers.back().to);
            }
          }
        }
        news_.notices.push_back(notice);
        if (notice.kind() == v1::NOTICE_KIND_WATCH_ENDED) {  // the gateway ended one of my watches (watches.cc)
          s = store_->SetWatchState(notice.request_id(), WatchState::kEnded,
                                    notice.reason_code().empty() ? "beeindigd" : notice.reason_code());
          break;
        }
        if (notice.kind() == v1::NOTICE_KIND_STAND_IN_ENDED && store_->GetCase(notice.case_id()).ok()) {
          // When I was the stand-in, the history I hold says so (and that
          // it ended): my copies go. Whom I stood in for keeps theirs.
          if (auto facts = LocalFacts(notice.case_id()); facts.ok()) s = ForgetIfHandedAway(notice.case_id(), *facts).status();
          break;
        }
        if (notice.kind() != v1::NOTICE_KIND_HANDOVER_ACCEPTED || !store_->GetCase(notice.case_id()).ok()) break;
        // My offer was accepted: the case's history says whether it was for
        // good (then my copies go) or a stand-in (then I keep them).
        if (may_sync) {
          auto synced = SyncCase(notice.case_id());  // deletes when the history shows it
          if (synced.ok()) break;
          spdlog::info("case {}: history not fetched after a handover notice: {}", notice.case_id(),
                       synced.status().message());
        }
        // Without the history (the gateway may keep it from a former
        // coordinator): my own signed offer to that participant, still
        // pending in what I hold, stands for it. Deleting on a gateway's
        // word can only lose data, never disclose it.
        auto facts = LocalFacts(notice.case_id());
        if (!facts.ok()) break;
        const cases::HandoverOffer* offer = facts->PendingOfferAt(notice.at_ms() > 0 ? notice.at_ms() : clock_.NowMillis());
        if (offer != nullptr && offer->from == me_->id() && offer->to == notice.by() && offer->stand_in_until_ms == 0) {
          auto n = store_->ForgetCaseData(notice.case_id());
          if (n.ok() && *n > 0) news_.forgotten.push_back(notice.case_id());
          if (!n.ok()) s = n.status();
        }
        break;
      }
      default:
        break;
    }
    if (!s.ok()) {
      spdlog::warn("a {} from {} was not taken in: {}", wire::KindLabel(env.header.kind()), env.header.sender(),
                   s.message());
      news_.problems.push_back(s);
    }
  }
}

// -------------------------------------------------------------- referrals

Result<v1::ReferralStatus> Coordinator::SendReferral(const ReferralSpec& spec, std::vector<v1::Subject> subjects) {
  struct Wipe {
    std::vector<v1::Subject>& s;
    ~Wipe() {
      for (auto& k : s) WipeSubject(&k);
    }
  } wipe{subjects};
  if (!dealer_) return FailedPreconditionError("not connected to the gateway");
  if (spec.reference.empty() || spec.reference.size() > 64) {
    return InvalidArgumentError("give your own reference number (--reference, at most 64 characters)");
  }
  if (spec.reasons.empty() || spec.reasons.size() > kMaxReasons) {
    return InvalidArgumentError("give 1 to 8 reason codes (--reason), from the policy's referral reasons");
  }
  for (const auto& r : spec.reasons) KP_RETURN_IF_ERROR(CheckCode("a referral reason", r));
  if (subjects.empty() || subjects.size() > static_cast<size_t>(cases::kMaxSubjects)) {
    return InvalidArgumentError("a referral names 1 to 32 subjects");
  }
  v1::Referral body;
  body.set_reference(spec.reference);
  body.set_to_partner(spec.to_partner);
  body.set_purpose(spec.purpose);
  for (const auto& r : spec.reasons) body.add_reason_codes(r);
  KP_RETURN_IF_ERROR(Commit(subjects, body.mutable_subjects()));
  const std::string id = NewMessageId();
  v1::SubjectData data;
  for (const auto& s : subjects) *data.add_subjects() = s;
  std::string plain = data.SerializeAsString();
  for (auto& s : *data.mutable_subjects()) WipeSubject(&s);
  for (const auto& [pid, e] : registry_->entries()) {
    if (e.card.kind != ParticipantKind::kCoordinator || e.card.partner != spec.to_partner) continue;
    auto sealed = SignAndSeal(*signer_, v1::MESSAGE_KIND_SUBJECT_DATA, pid, e.card.sealing_key, id, plain);
    if (!sealed.ok()) {
      SecureWipe(plain.data(), plain.size());
      return sealed.status();
    }
    auto* copy = body.add_sealed();
    copy->set_participant(pid);
    copy->set_sealed(std::move(sealed).value());
  }
  SecureWipe(plain.data(), plain.size());
  if (body.sealed().empty()) {
    return NotFoundError("no coordinator of partner '" + spec.to_partner +
                         "' is enrolled in the registry: nobody could open this referral");
  }
  const int64_t now = clock_.NowMillis();
  ReferralInfo info;
  info.id = id;
  info.sender = me_->id();
  info.at_ms = now;
  info.body = body;
  KP_RETURN_IF_ERROR(store_->PutReferral(info));
  KP_ASSIGN_OR_RETURN(SignedMessage sent, Send(v1::MESSAGE_KIND_REFERRAL, body.SerializeAsString(), id));
  auto env = AwaitAnswer(sent.message_id);
  if (!env.ok()) {
    // The gateway took nothing: the referral is not kept as sent.
    (void)store_->DeleteReferral(id);
    return env.status();
  }
  if (!env->has_value()) {
    return DeadlineExceededError("no answer from the gateway within " + std::to_string(config_.timeout_ms / 1000) +
                                 " s; referral " + HexEncode(id) +
                                 " may or may not have arrived: `ketenpoort referral list` shows its state once "
                                 "the gateway confirms it");
  }
  v1::ReferralStatus status;
  if ((*env)->header.kind() != v1::MESSAGE_KIND_REFERRAL_STATUS || !ParseBody((*env)->body, status).ok() ||
      status.referral_id() != id) {
    return UnauthenticatedError("the gateway answered a referral with something else than its status");
  }
  KP_RETURN_IF_ERROR(TakeStatus(status));
  news_.referral_statuses.pop_back();  // the answer, not news
  return status;
}

Status Coordinator::TakeStatus(const v1::ReferralStatus& status) {
  news_.referral_statuses.push_back(status);
  KP_ASSIGN_OR_RETURN(auto known, store_->GetReferral(status.referral_id()));
  if (!known.has_value()) return OkStatus();
  // A decided referral stays decided: a later WAITING (a copy sent again)
  // does not undo it.
  if (status.state() == v1::REFERRAL_STATE_WAITING && known->state != v1::REFERRAL_STATE_UNSPECIFIED) {
    return OkStatus();
  }
  KP_RETURN_IF_ERROR(store_->UpdateReferral(status.referral_id(), status.state(), status.case_id(),
                                            status.decided_by(), status.reason_code(),
                                            status.at_ms() > 0 ? status.at_ms() : clock_.NowMillis()));
  if (known->received && status.state() != v1::REFERRAL_STATE_WAITING) {
    // Decided (here or by a colleague) or lapsed: its identifiers are no
    // longer needed here (an accepted one's are the case's now).
    KP_RETURN_IF_ERROR(store_->DropReferralSubjects(status.referral_id()));
  }
  return OkStatus();
}

Status Coordinator::TakeReferral(const std::string& raw) {
  KP_ASSIGN_OR_RETURN(cases::VerifiedReferral v,
                      cases::VerifyReferral(raw, cases::FoldContext::Of(nullptr, *registry_)));
  const std::string id = HexEncode(v.id);
  KP_ASSIGN_OR_RETURN(auto known, store_->GetReferral(v.id));
  if (known.has_value()) {
    unacked_.push_back(v.id);
    return OkStatus();  // a second copy
  }
  const v1::SealedCopy* mine = nullptr;
  for (const auto& c : v.referral.sealed()) {
    if (c.participant() == me_->id()) mine = &c;
  }
  if (mine == nullptr) return NotFoundError("referral " + id + " holds no copy of its subjects sealed to you");
  KP_ASSIGN_OR_RETURN(VerifiedEnvelope inner,
                      OpenAndVerify(me_->SealingRing(), keys_, mine->sealed(),
                                    {v1::MESSAGE_KIND_SUBJECT_DATA, me_->id(), v.id, v.sender}));
  v1::SubjectData data;
  KP_RETURN_IF_ERROR(ParseBody(inner.body, data));
  struct Wipe {
    v1::SubjectData& d;
    ~Wipe() {
      for (auto& k : *d.mutable_subjects()) WipeSubject(&k);
    }
  } wipe{data};
  // The sealed identifiers must open exactly the referral's commitments.
  if (data.subjects_size() != v.referral.subjects_size()) {
    return UnauthenticatedError("referral " + id + ": the subjects sealed to you are not the referral's subjects");
  }
  for (int i = 0; i < data.subjects_size(); ++i) {
    const v1::Subject& s = data.subjects(i);
    const v1::SubjectRef& ref = v.referral.subjects(i);
    auto commitment = cases::SubjectCommitment(s);
    if (s.ref() != ref.ref() || s.role() != ref.role() || !commitment.ok() || *commitment != ref.commitment()) {
      return UnauthenticatedError("referral " + id + ": subject " + ref.ref() +
                                  " sealed to you does not open the referral's commitment");
    }
  }
  ReferralInfo info;
  info.id = v.id;
  info.received = true;
  info.sender = v.sender;
  info.at_ms = clock_.NowMillis();
  info.body = v.referral;
  info.envelope = raw;
  info.state = v1::REFERRAL_STATE_WAITING;
  std::vector<v1::Subject> subjects(data.subjects().begin(), data.subjects().end());
  Status kept = store_->Begin();
  if (kept.ok()) kept = store_->PutReferral(info);
  if (kept.ok()) kept = store_->PutReferralSubjects(v.id, subjects);
  if (kept.ok()) kept = store_->Commit();
  for (auto& s : subjects) WipeSubject(&s);
  if (!kept.ok()) {
    store_->Rollback();
    return kept;
  }
  unacked_.push_back(v.id);
  news_.referrals.push_back(v.id);
  return OkStatus();
}

Result<ReferralInfo> Coordinator::FindReferral(const std::string& hex_prefix) {
  std::string want = hex_prefix;
  std::transform(want.begin(), want.end(), want.begin(), [](unsigned char c) { return std::tolower(c); });
  if (want.size() < 6) return InvalidArgumentError("give at least the first 6 characters of the referral's id");
  KP_ASSIGN_OR_RETURN(auto all, store_->Referrals());
  std::vector<ReferralInfo> found;
  for (auto& r : all) {
    if (HexEncode(r.id).rfind(want, 0) == 0) found.push_back(std::move(r));
  }
  if (found.empty()) {
    return NotFoundError("no referral " + hex_prefix + " in this store (fetch new ones with `ketenpoort referral list`)");
  }
  if (found.size() > 1) return InvalidArgumentError("more than one referral starts with " + hex_prefix + ": give more of its id");
  return std::move(found.front());
}

Result<v1::CaseResult> Coordinator::AcceptReferral(const std::string& referral_id) {
  KP_ASSIGN_OR_RETURN(auto r, store_->GetReferral(referral_id));
  if (!r.has_value() || !r->received) return NotFoundError("no referral " + HexEncode(referral_id) + " was received here");
  if (r->state != v1::REFERRAL_STATE_WAITING) {
    return FailedPreconditionError("referral " + HexEncode(referral_id) + " is " +
                                   std::string(ReferralStateName(r->state)) + (r->case_id.empty() ? "" : " (case " + r->case_id + ")") +
                                   ": it can no longer be accepted");
  }
  KP_ASSIGN_OR_RETURN(std::vector<v1::Subject> subjects, store_->ReferralSubjects(referral_id));
  if (subjects.size() != static_cast<size_t>(r->body.subjects_size())) {
    return DataLossError("the subjects of referral " + HexEncode(referral_id) + " are no longer in this store");
  }
  v1::CaseCommand cmd;
  cmd.mutable_open()->set_purpose(r->body.purpose());
  *cmd.mutable_open()->mutable_subjects() = r->body.subjects();
  // Under this client's key (the referrer's pseudonyms, if any, replaced).
  cases::AddPseudonyms(*pseudonym_key_, subjects, cmd.mutable_open()->mutable_subjects());
  cmd.mutable_open()->set_referral(r->envelope);
  std::string referrer_partner;
  if (auto e = registry_->Find(r->sender); e.ok()) referrer_partner = (*e)->card.partner;
  const int64_t now = clock_.NowMillis();
  return OpenWith(cmd, subjects, [&](const std::string& case_id) -> Status {
    KP_RETURN_IF_ERROR(store_->UpdateReferral(referral_id, v1::REFERRAL_STATE_ACCEPTED, case_id, me_->id(), "", now));
    KP_RETURN_IF_ERROR(store_->DropReferralSubjects(referral_id));
    if (!referrer_partner.empty()) KP_RETURN_IF_ERROR(store_->AddPartner(case_id, referrer_partner, now));
    return OkStatus();
  });
}

Result<v1::ReferralStatus> Coordinator::DeclineReferral(const std::string& referral_id, const std::string& reason_code) {
  KP_RETURN_IF_ERROR(CheckCode("the reason", reason_code));
  KP_ASSIGN_OR_RETURN(auto r, store_->GetReferral(referral_id));
  if (!r.has_value() || !r->received) return NotFoundError("no referral " + HexEncode(referral_id) + " was received here");
  if (r->state != v1::REFERRAL_STATE_WAITING) {
    return FailedPreconditionError("referral " + HexEncode(referral_id) + " is " +
                                   std::string(ReferralStateName(r->state)) + ": it can no longer be declined");
  }
  v1::ReferralDecline decline;
  decline.set_referral_id(referral_id);
  decline.set_reason_code(reason_code);
  KP_ASSIGN_OR_RETURN(SignedMessage sent, Send(v1::MESSAGE_KIND_REFERRAL_DECLINE, decline.SerializeAsString()));
  KP_ASSIGN_OR_RETURN(auto env, AwaitAnswer(sent.message_id));
  if (!env.has_value()) {
    return DeadlineExceededError("no answer from the gateway within " + std::to_string(config_.timeout_ms / 1000) +
                                 " s; the decline may or may not have arrived: `ketenpoort referral list` shows");
  }
  v1::ReferralStatus status;
  if (env->header.kind() == v1::MESSAGE_KIND_REFERRAL_STATUS) {
    KP_RETURN_IF_ERROR(ParseBody(env->body, status));
    if (status.referral_id() != referral_id) {
      return UnauthenticatedError("the gateway answered a decline with the status of another referral");
    }
  } else if (env->header.kind() == v1::MESSAGE_KIND_CASE_RESULT) {
    status.set_referral_id(referral_id);
    status.set_reference(r->body.reference());
    status.set_state(v1::REFERRAL_STATE_DECLINED);
    status.set_decided_by(me_->id());
    status.set_reason_code(reason_code);
    status.set_at_ms(clock_.NowMillis());
  } else {
    return UnauthenticatedError("the gateway answered a decline with a " +
                                std::string(wire::KindLabel(env->header.kind())));
  }
  KP_RETURN_IF_ERROR(TakeStatus(status));
  news_.referral_statuses.pop_back();
  return status;
}

// -------------------------------------------------------------- handovers

Result<HandoverSent> Coordinator::OfferHandover(const std::string& case_id, const std::string& to,
                                                const std::string& reason_code, int64_t expires_ms,
                                                int64_t stand_in_until_ms) {
  KP_RETURN_IF_ERROR(CheckCode("the reason", reason_code));
  if (to == me_->id()) return InvalidArgumentError("a case cannot be handed over to yourself");
  auto next = registry_->Find(to);
  if (!next.ok() || (*next)->card.kind != ParticipantKind::kCoordinator) {
    return NotFoundError("'" + to + "' is not a coordinator participant in the registry");
  }
  const std::string to_key = (*next)->card.sealing_key;
  v1::CaseCommand cmd;
  cmd.set_case_id(case_id);
  auto* o = cmd.mutable_offer_handover();
  o->set_to(to);
  o->set_reason_code(reason_code);
  o->set_expires_at_ms(expires_ms);
  o->set_stand_in_until_ms(stand_in_until_ms);
  KP_ASSIGN_OR_RETURN(Confirmed done, ChangeCaseConfirmed(cmd));
  HandoverSent out;
  out.result = done.result;
  out.offer = cases::CommandHash(done.envelope);

  // The hand-over data (protocol §3.6, "What goes over"): the subjects with
  // their salts in a part of their own (no request id), then every fragment
  // kept in a part of its own naming the request it answers, so that the
  // gateway can let it go over or keep it back by the policy.
  struct Part {
    v1::HandoverData data;
    std::string request_id;  // empty: the subjects' part
  };
  std::vector<Part> parts(1);
  struct WipeParts {
    std::vector<Part>& p;
    ~WipeParts() {
      for (auto& part : p) {
        for (auto& s : *part.data.mutable_subjects()) WipeSubject(&s);
        for (auto& h : *part.data.mutable_fragments()) SecureWipe(h.mutable_content()->data(), h.content().size());
      }
    }
  } wipe{parts};
  KP_ASSIGN_OR_RETURN(std::vector<v1::Subject> subjects, store_->Subjects(case_id));
  for (auto& s : subjects) {
    *parts[0].data.add_subjects() = s;
    WipeSubject(&s);
  }
  out.subjects = static_cast<size_t>(parts[0].data.subjects_size());
  KP_ASSIGN_OR_RETURN(std::vector<StoredFragment> fragments, store_->Fragments(case_id));
  for (const auto& f : fragments) {
    const std::string rid = Short(f.request_id);
    v1::HandedFragment h;
    h.set_request_id(f.request_id);
    if (auto agent = registry_->Find(f.source); agent.ok()) h.set_source((*agent)->card.partner);
    h.set_received_ms(f.received_ms);
    h.set_retain_until_ms(f.retain_until_ms);  // 0 for a term from closure: the content says it (§3.6)
    h.set_delivery(f.delivery);
    if (!f.content.empty()) {
      h.set_content(f.content);  // handed to me before: passed on as it came
    } else {
      // Checked as it is shown, then the agent's signed content, byte for
      // byte, out of the seal to me.
      auto checked = ReadFragment(f);
      if (!checked.ok()) {
        out.left_out.push_back(rid + ": does not verify (" + checked.status().message() + ")");
        continue;
      }
      v1::FragmentDelivery d;
      auto env = EnvelopeVerifier(keys_, nullptr).Verify(f.delivery);
      if (!env.ok() || !ParseBody(env->body, d).ok()) {
        out.left_out.push_back(rid + ": its delivery cannot be read");
        continue;
      }
      auto inner = OpenSealedWithRing(me_->SealingRing(), d.sealed_content());
      if (!inner.ok()) {
        out.left_out.push_back(rid + ": its content cannot be opened");
        continue;
      }
      h.set_content(std::move(inner).value());
    }
    if (h.ByteSizeLong() + 16 > kPartBudgetBytes) {
      // The content alone carries the agent's signature over what it says.
      h.clear_delivery();
    }
    if (h.ByteSizeLong() + 16 > kPartBudgetBytes) {
      SecureWipe(h.mutable_content()->data(), h.content().size());
      out.left_out.push_back(rid + ": too large to hand over; the new coordinator asks " + h.source() + " again");
      continue;
    }
    Part& part = parts.emplace_back();
    part.request_id = f.request_id;
    *part.data.add_fragments() = std::move(h);
  }
  for (size_t i = 0; i < parts.size(); ++i) {
    v1::HandoverData& data = parts[i].data;
    data.set_case_id(case_id);
    data.set_offer(out.offer);
    const std::string part_id = NewMessageId();
    std::string plain = data.SerializeAsString();
    for (auto& h : *data.mutable_fragments()) SecureWipe(h.mutable_content()->data(), h.content().size());
    for (auto& s : *data.mutable_subjects()) WipeSubject(&s);
    auto sealed = SignAndSeal(*signer_, v1::MESSAGE_KIND_HANDOVER_DATA, to, to_key, part_id, plain);
    SecureWipe(plain.data(), plain.size());
    if (!sealed.ok()) return sealed.status().WithContext("the handover was offered, but its data could not be sealed");
    v1::HandoverPackage pkg;
    pkg.set_case_id(case_id);
    pkg.set_to(to);
    pkg.set_offer(out.offer);
    pkg.set_part(static_cast<uint32_t>(i + 1));
    pkg.set_parts(static_cast<uint32_t>(parts.size()));
    pkg.set_sealed(std::move(sealed).value());
    pkg.set_request_id(parts[i].request_id);
    const std::string which = "part " + std::to_string(i + 1) + " of " + std::to_string(parts.size());
    KP_ASSIGN_OR_RETURN(SignedMessage sent, Send(v1::MESSAGE_KIND_HANDOVER_PACKAGE, pkg.SerializeAsString(), part_id));
    auto answer = AwaitAnswer(sent.message_id);
    if (!answer.ok()) {
      const StatusCode code = answer.status().code();
      if (i > 0 && (code == StatusCode::kInvalidArgument || code == StatusCode::kNotFound ||
                    code == StatusCode::kPermissionDenied || code == StatusCode::kFailedPrecondition)) {
        // The gateway refused this one fragment (e.g. an answer it never
        // delivered in this case): the others still go.
        out.left_out.push_back(Short(parts[i].request_id) + ": the gateway did not take it (" +
                               std::string(answer.status().message()) + ")");
        continue;
      }
      return answer.status().WithContext("the handover of case " + case_id + " was offered, but the gateway did not take " +
                                         which + " of its data");
    }
    if (!answer->has_value()) {
      return DeadlineExceededError("the handover of case " + case_id + " was offered, but the gateway did not confirm " +
                                   which + " of its data in time; cancel the offer and offer again");
    }
    ++out.parts;
    if (i > 0) ++out.fragments;
  }
  return out;
}

Result<HandoverTaken> Coordinator::AcceptHandover(const std::string& case_id) {
  KP_ASSIGN_OR_RETURN(cases::CaseFacts facts, SyncCase(case_id));
  const int64_t now = clock_.NowMillis();
  const cases::HandoverOffer* offer = facts.PendingOfferAt(now);
  if (offer == nullptr || offer->to != me_->id()) {
    if (facts.CoordinatorAt(now) == me_->id()) {
      return FailedPreconditionError("you already coordinate case " + case_id);
    }
    return FailedPreconditionError("case " + case_id + " is not offered to you" +
                                   (offer != nullptr ? " (it is offered to " + offer->to + ")"
                                                     : ": there is no pending offer (it lapsed, was cancelled, or "
                                                       "never was)"));
  }
  v1::CaseCommand cmd;
  cmd.set_case_id(case_id);
  cmd.mutable_accept_handover()->set_offer(offer->hash);
  HandoverTaken out;
  out.offer = offer->hash;
  KP_ASSIGN_OR_RETURN(Confirmed done, ChangeCaseConfirmed(cmd));
  out.result = done.result;
  // The gateway now hands on the former coordinator's data.
  if (auto fetched = FetchInbox(case_id); !fetched.ok()) {
    spdlog::warn("case {}: accepted, but the inbox could not be fetched: {}", case_id, fetched.status().message());
  }
  KP_ASSIGN_OR_RETURN(auto parts, store_->HandoverParts(case_id, out.offer));
  out.parts_received = parts.first;
  out.parts = parts.second;
  KP_ASSIGN_OR_RETURN(auto subjects, store_->Subjects(case_id));
  out.subjects = subjects.size();
  for (auto& s : subjects) WipeSubject(&s);
  KP_ASSIGN_OR_RETURN(auto fragments, store_->Fragments(case_id));
  out.fragments = fragments.size();
  for (auto& f : fragments) SecureWipe(f.content.data(), f.content.size());
  // What the gateway kept back by the policy (said once, after the release).
  for (const auto& n : news_.notices) {
    if (n.kind() == v1::NOTICE_KIND_HANDOVER_DATA_WITHHELD && n.case_id() == case_id) out.withheld += n.withheld();
  }
  return out;
}

Result<v1::CaseResult> Coordinator::CancelHandover(const std::string& case_id, const std::string& reason_code) {
  KP_RETURN_IF_ERROR(CheckCode("the reason", reason_code));
  v1::CaseCommand cmd;
  cmd.set_case_id(case_id);
  cmd.mutable_cancel_handover()->set_reason_code(reason_code);
  return ChangeCase(cmd);
}

Result<bool> Coordinator::ForgetIfHandedAway(const std::string& case_id, const cases::CaseFacts& facts) {
  if (facts.CoordinatorAt(clock_.NowMillis()) == me_->id()) return false;
  const cases::HandoverMoment* last = nullptr;
  for (const auto& m : facts.handovers) {
    if (m.from == me_->id()) last = &m;
  }
  // My stand-in for another ended: the case is back with them, and what
  // I held of it goes (they kept their own copies).
  const bool stand_in_over = facts.coordinator == me_->id() && !facts.stand_in_for.empty();
  // Whom a stand-in stood in for keeps the case's data: the case comes back.
  if (!stand_in_over && (last == nullptr || last->stand_in_until_ms != 0)) return false;
  KP_ASSIGN_OR_RETURN(size_t n, store_->ForgetCaseData(case_id));
  if (n > 0) news_.forgotten.push_back(case_id);
  return n > 0;
}

Result<Outcome> Coordinator::ReadHandedFragment(const StoredFragment& f) const {
  const std::string rid = Short(f.request_id);
  VerifyOptions options;
  options.expected_kind = v1::MESSAGE_KIND_FRAGMENT_CONTENT;
  options.expected_recipient = f.handed_by;
  options.expected_sender = f.source;
  KP_ASSIGN_OR_RETURN(VerifiedEnvelope inner, EnvelopeVerifier(keys_, nullptr).Verify(f.content, options));
  if (inner.header.request_id() != f.request_id) {
    return UnauthenticatedError("handed-over fragment " + rid + " is bound to another request");
  }
  Outcome o;
  o.kind = Outcome::Kind::kDelivered;
  o.request_id = f.request_id;
  o.case_id = f.case_id;
  o.signer = f.source;
  o.signed_ms = inner.header.sent_at_ms();
  KP_RETURN_IF_ERROR(ParseBody(inner.body, o.content));
  if (o.content.case_id() != f.case_id) {
    return UnauthenticatedError("handed-over fragment " + rid + " is about another case");
  }
  KP_RETURN_IF_ERROR(CheckRetention(o.content, "handed-over fragment " + rid));  // protocol §3.3
  if (o.content.retain_until_ms() != f.retain_until_ms) {
    return UnauthenticatedError("handed-over fragment " + rid + " carries another retention date than the agent set");
  }
  if (!f.delivery.empty()) {
    VerifyOptions outer;
    outer.expected_kind = v1::MESSAGE_KIND_FRAGMENT_DELIVERY;
    outer.expected_recipient = "";
    outer.expected_sender = f.source;
    KP_ASSIGN_OR_RETURN(VerifiedEnvelope env, EnvelopeVerifier(keys_, nullptr).Verify(f.delivery, outer));
    v1::FragmentDelivery d;
    KP_RETURN_IF_ERROR(ParseBody(env.body, d));
    if (d.request_id() != f.request_id || d.case_id() != f.case_id) {
      return UnauthenticatedError("the delivery of handed-over fragment " + rid + " names another request or case");
    }
    std::set<std::string> listed(d.categories().begin(), d.categories().end());
    std::set<std::string> got;
    for (const auto& c : o.content.categories()) got.insert(c.category());
    if (got != listed) {
      return UnauthenticatedError("handed-over fragment " + rid + " holds other categories than its delivery lists");
    }
  }
  o.retain_until_ms = o.content.retain_until_ms();
  o.retain_after_closure_ms = o.content.retain_after_closure_ms();
  return o;
}

Status Coordinator::TakeHandoverPart(const VerifiedEnvelope& env, bool may_sync) {
  v1::HandoverPackage pkg;
  KP_RETURN_IF_ERROR(ParseBody(env.body, pkg));
  const std::string& from = env.header.sender();
  const std::string which = "part " + std::to_string(pkg.part()) + "/" + std::to_string(pkg.parts()) + " of the handover of case " +
                            pkg.case_id() + " from " + from;
  if (pkg.to() != me_->id()) return UnauthenticatedError(which + " is meant for " + pkg.to());
  if (pkg.part() == 0 || pkg.part() > pkg.parts()) return InvalidArgumentError(which + ": no such part");
  // The case's history must show this offer, by the sender to me, and my
  // acceptance of it: only then is the data mine to take.
  auto find = [&](const std::vector<std::string>& chain, bool* offered, bool* accepted) {
    *offered = *accepted = false;
    for (const auto& e : chain) {
      auto c = cases::ParseVerifiedCommand(e);
      if (!c.ok()) continue;
      if (c->command.has_offer_handover() && c->hash == pkg.offer() && c->signer == from &&
          c->command.offer_handover().to() == me_->id()) {
        *offered = true;
      }
      if (c->command.has_accept_handover() && c->command.accept_handover().offer() == pkg.offer() &&
          c->signer == me_->id()) {
        *accepted = true;
      }
    }
  };
  bool offered = false, accepted = false;
  KP_ASSIGN_OR_RETURN(std::vector<std::string> chain, store_->Chain(pkg.case_id()));
  find(chain, &offered, &accepted);
  if (!(offered && accepted) && may_sync) {
    if (SyncCase(pkg.case_id()).ok()) {
      KP_ASSIGN_OR_RETURN(chain, store_->Chain(pkg.case_id()));
      find(chain, &offered, &accepted);
    }
  }
  if (!offered || !accepted) {
    if (!may_sync && !offered) {
      stash_.emplace_back(env, std::string());  // once the history is in (next inbox fetch)
      return OkStatus();
    }
    return PermissionDeniedError(which + ": the case's history does not show that offer to you, accepted by you; "
                                 "not taken");
  }
  KP_ASSIGN_OR_RETURN(VerifiedEnvelope inner,
                      OpenAndVerify(me_->SealingRing(), keys_, pkg.sealed(),
                                    {v1::MESSAGE_KIND_HANDOVER_DATA, me_->id(), env.header.message_id(), from}));
  v1::HandoverData data;
  KP_RETURN_IF_ERROR(ParseBody(inner.body, data));
  struct Wipe {
    v1::HandoverData& d;
    ~Wipe() {
      for (auto& s : *d.mutable_subjects()) WipeSubject(&s);
      for (auto& h : *d.mutable_fragments()) SecureWipe(h.mutable_content()->data(), h.content().size());
    }
  } wipe{data};
  if (data.case_id() != pkg.case_id() || data.offer() != pkg.offer()) {
    return UnauthenticatedError(which + ": the sealed data names another case or offer");
  }
  // Either the subjects' part (no request id, no fragment) or one fragment,
  // the answer to the request the part names (the one the gateway let over).
  if (pkg.request_id().empty() && data.fragments_size() > 0) {
    return InvalidArgumentError(which + ": it names no request but carries fragments; not taken");
  }
  if (!pkg.request_id().empty() &&
      (data.fragments_size() != 1 || data.fragments(0).request_id() != pkg.request_id() || data.subjects_size() > 0)) {
    return InvalidArgumentError(which + ": it names request " + Short(pkg.request_id()) +
                                " but does not carry exactly that one fragment; not taken");
  }
  KP_ASSIGN_OR_RETURN(cases::CaseFacts facts, LocalFacts(pkg.case_id()));
  for (const auto& s : data.subjects()) {
    const cases::SubjectFact* fact = facts.Subject(s.ref());
    auto commitment = cases::SubjectCommitment(s);
    if (fact == nullptr || fact->role != s.role() || !commitment.ok() || *commitment != fact->commitment) {
      return UnauthenticatedError(which + ": subject " + s.ref() + " does not open the case's commitment; not taken");
    }
  }
  // A fragment's content names, as its recipient, the coordinator it was
  // sealed to: one who coordinated this case (its opener, or one who
  // accepted a handover of it before).
  std::set<std::string> coordinators;
  for (size_t i = 0; i < chain.size(); ++i) {
    auto c = cases::ParseVerifiedCommand(chain[i]);
    if (!c.ok()) continue;
    if (i == 0 || c->command.has_accept_handover()) coordinators.insert(c->signer);
  }
  std::vector<StoredFragment> keep;
  std::vector<std::string> bad;
  for (const auto& h : data.fragments()) {
    StoredFragment f{h.request_id(), pkg.case_id(), AgentOf(h.source()), h.received_ms(), h.retain_until_ms(),
                     h.delivery(), h.content(), ""};
    auto hdr = EnvelopeVerifier(keys_, nullptr).Verify(h.content());
    if (hdr.ok()) f.handed_by = hdr->header.recipient();
    if (f.source.empty() || coordinators.count(f.handed_by) == 0) {
      bad.push_back(Short(h.request_id()) + " (not sealed to a coordinator of this case, or no agent of " + h.source() + ")");
      continue;
    }
    auto checked = ReadHandedFragment(f);
    if (!checked.ok()) {
      bad.push_back(Short(h.request_id()) + " (" + checked.status().message() + ")");
      continue;
    }
    f.retain_after_closure_ms = checked->retain_after_closure_ms;  // from the agent's signed content
    keep.push_back(std::move(f));
  }
  const int64_t now = clock_.NowMillis();
  Status kept = store_->Begin();
  bool fresh = false;
  if (kept.ok()) {
    auto added = store_->AddHandoverPart(pkg.case_id(), pkg.offer(), pkg.part(), pkg.parts(), now);
    kept = added.status();
    fresh = added.ok() && *added;
  }
  if (fresh) {
    for (const auto& s : data.subjects()) {
      if (kept.ok()) kept = store_->PutSubject(pkg.case_id(), s);
    }
    for (const auto& f : keep) {
      if (kept.ok()) kept = store_->PutHandedFragment(f);
    }
  }
  if (kept.ok()) kept = store_->Commit();
  for (auto& f : keep) SecureWipe(f.content.data(), f.content.size());
  if (!kept.ok()) {
    store_->Rollback();
    return kept;
  }
  unacked_.push_back(env.header.message_id());
  if (fresh) {
    news_.handovers.push_back(pkg.case_id() + " part " + std::to_string(pkg.part()) + "/" + std::to_string(pkg.parts()) +
                              " from " + from + ": " + std::to_string(data.subjects_size()) + " subject(s), " +
                              std::to_string(keep.size()) + " fragment(s)");
  }
  for (const auto& b : bad) {
    news_.problems.push_back(UnauthenticatedError(which + ": fragment " + b + " does not verify; not taken"));
  }
  return OkStatus();
}

}  // namespace kp::client

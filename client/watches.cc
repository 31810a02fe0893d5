// Coordinator: watches and their content-free signals (docs/protocol.md
// §3.8, docs/cli.md "Watches").
//
// A watch is sent as a FRAGMENT_REQUEST with watch_until_ms; the source
// agent answers it with a SIGNAL WATCH_STARTED (no content). Its CHANGED
// signals are taken only from the agent that was asked, for one of this
// client's watches, about one of its subjects and categories; each is kept
// once (by its message id) and acknowledged so the gateway drops its copy.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "client/coordinator.h"
#include "core/base/encoding.h"

namespace kp::client {

namespace v1 = ketenpoort::v1;

namespace {
bool Has(const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }
}  // namespace

Result<std::string> Coordinator::Watch(const RequestSpec& spec) {
  if (spec.watch_until_ms <= clock_.NowMillis()) {
    return InvalidArgumentError("a watch needs an end date in the future (--until or --days)");
  }
  KP_ASSIGN_OR_RETURN(std::string id, SendRequest(spec));
  KP_ASSIGN_OR_RETURN(auto request, store_->GetRequest(id));
  WatchInfo w;
  w.watch_id = id;
  w.case_id = spec.case_id;
  w.partner = spec.partner;
  w.agent = request.has_value() ? request->agent : AgentOf(spec.partner);
  w.categories = spec.categories;
  w.subject_refs = spec.subject_refs;
  if (w.subject_refs.empty()) {
    KP_ASSIGN_OR_RETURN(std::vector<v1::Subject> all, store_->Subjects(spec.case_id));
    for (auto& s : all) {
      w.subject_refs.push_back(s.ref());
      WipeSubject(&s);
    }
  }
  w.sent_ms = clock_.NowMillis();
  w.until_ms = spec.watch_until_ms;
  KP_RETURN_IF_ERROR(store_->PutWatch(w));
  return id;
}

Status Coordinator::TakeSignal(const VerifiedEnvelope& env, const std::function<void(const Outcome&)>& sink) {
  const std::string& watch_id = env.header.request_id();
  const std::string& sender = env.header.sender();
  v1::Signal sig;
  if (!ParseBody(env.body, sig).ok() || sig.watch_id() != watch_id) {
    spdlog::warn("ignored a signal from {} that does not parse or names two watches", sender);
    return OkStatus();
  }
  KP_ASSIGN_OR_RETURN(auto watch, store_->GetWatch(watch_id));
  if (!watch.has_value()) {
    spdlog::warn("ignored a signal from {} for watch {}: not a watch of this coordinator", sender,
                 HexEncode(watch_id));
    return OkStatus();
  }
  const WatchInfo& w = *watch;
  if (sender != w.agent || sig.case_id() != w.case_id) {
    spdlog::warn("ignored a signal for watch {} signed by {}: the watch was asked of {} in case {}", HexEncode(watch_id),
                 sender, w.agent, w.case_id);
    return OkStatus();
  }
  const int64_t now = clock_.NowMillis();
  switch (sig.kind()) {
    case v1::SIGNAL_KIND_WATCH_STARTED: {
      KP_ASSIGN_OR_RETURN(auto request, store_->GetRequest(watch_id));
      if (request.has_value() && request->state == RequestState::kPending) {
        KP_RETURN_IF_ERROR(store_->MarkWatchStarted(watch_id, now));
        Outcome o;
        o.kind = Outcome::Kind::kDelivered;
        o.watch_started = true;
        o.request_id = watch_id;
        o.case_id = w.case_id;
        o.signer = sender;
        o.signed_ms = env.header.sent_at_ms();
        if (sink) sink(o);
      }
      unacked_.push_back(watch_id);  // held as the request's answer
      return OkStatus();
    }
    case v1::SIGNAL_KIND_CHANGED: {
      if (!Has(w.subject_refs, sig.subject_ref()) || !Has(w.categories, sig.category())) {
        spdlog::warn("ignored a signal for watch {}: a subject or category the watch is not about", HexEncode(watch_id));
        return OkStatus();
      }
      KP_ASSIGN_OR_RETURN(bool added, store_->PutSignal(SignalInfo{env.header.message_id(), watch_id, w.case_id,
                                                                   w.partner, sig.subject_ref(), sig.category(),
                                                                   sig.changed_at_ms(), now}));
      if (added) {
        spdlog::info("signal: case {} subject {} has news at {} in {}", w.case_id, sig.subject_ref(), w.partner,
                     sig.category());
      }
      unacked_.push_back(env.header.message_id());  // held by its own id
      return OkStatus();
    }
    case v1::SIGNAL_KIND_WATCH_ENDED:
      KP_RETURN_IF_ERROR(store_->SetWatchState(watch_id, WatchState::kEnded,
                                               sig.reason_code().empty() ? "door-bron-beeindigd" : sig.reason_code()));
      unacked_.push_back(env.header.message_id());
      return OkStatus();
    default:
      return OkStatus();
  }
}

}  // namespace kp::client

// The agent's watches (docs/agent.md "Watches", docs/protocol.md §3.8): the
// store, and the Responder's part — keeping a watch it was authorised for,
// looking at its sources for what changed, and the content-free signals.
#include "agent/watches.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>

#include "agent/responder.h"
#include "case/policy_category.h"
#include "case/pseudonym.h"
#include "case/subject_role.h"
#include "core/base/encoding.h"
#include "core/crypto/secret_bytes.h"
#include "core/envelope/sealed.h"
#include "core/envelope/wire_format.h"

namespace kp::agent {

namespace v1 = ketenpoort::v1;
using sqlite::Stmt;

// ------------------------------------------------------------------ store

Result<std::unique_ptr<WatchStore>> WatchStore::Open(const std::string& path) {
  KP_ASSIGN_OR_RETURN(auto db, sqlite::Database::Open(path, "watches"));
  ::chmod(path.c_str(), 0600);
  std::unique_ptr<WatchStore> store(new WatchStore(std::move(db)));
  KP_RETURN_IF_ERROR(store->db_->Exec(
      "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA secure_delete=ON;"
      "CREATE TABLE IF NOT EXISTS watches(watch_id BLOB PRIMARY KEY, case_id TEXT NOT NULL, coordinator TEXT NOT NULL,"
      " authorisation BLOB NOT NULL, categories TEXT NOT NULL, started_ms INTEGER NOT NULL, until_ms INTEGER NOT NULL,"
      " last_look_ms INTEGER NOT NULL, confirmed INTEGER NOT NULL DEFAULT 0);"
      "CREATE TABLE IF NOT EXISTS signals_out(message_id BLOB PRIMARY KEY, watch_id BLOB NOT NULL, body BLOB NOT NULL,"
      " sent_ms INTEGER NOT NULL);"));
  return store;
}

WatchStore::~WatchStore() = default;

namespace {
constexpr char kColumns[] =
    "SELECT watch_id, case_id, coordinator, authorisation, categories, started_ms, until_ms, last_look_ms, confirmed "
    "FROM watches";
KeptWatch FromRow(Stmt& q) {
  return KeptWatch{q.Col(0), q.Col(1),    q.Col(2),    q.Col(3),         sqlite::SplitIds(q.Col(4)),
                   q.ColInt(5), q.ColInt(6), q.ColInt(7), q.ColInt(8) != 0};
}
}  // namespace

Status WatchStore::Keep(const KeptWatch& w) {
  return Stmt(*db_,
              "INSERT OR REPLACE INTO watches(watch_id, case_id, coordinator, authorisation, categories, started_ms, "
              "until_ms, last_look_ms, confirmed) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)")
      .Bind(w.watch_id).Text(w.case_id).Text(w.coordinator).Bind(w.authorisation).Text(sqlite::JoinIds(w.categories))
      .Int(w.started_ms).Int(w.until_ms).Int(w.last_look_ms).Int(w.confirmed ? 1 : 0).Run();
}

Result<std::optional<KeptWatch>> WatchStore::Get(const std::string& watch_id) {
  Stmt q(*db_,
         "SELECT watch_id, case_id, coordinator, authorisation, categories, started_ms, until_ms, last_look_ms, "
         "confirmed FROM watches WHERE watch_id = ?");
  KP_ASSIGN_OR_RETURN(bool row, q.Bind(watch_id).Step());
  if (!row) return std::optional<KeptWatch>();
  return std::optional<KeptWatch>(FromRow(q));
}

Result<std::vector<KeptWatch>> WatchStore::All() {
  Stmt q(*db_, kColumns);
  std::vector<KeptWatch> out;
  while (true) {
    KP_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return out;
    out.push_back(FromRow(q));
  }
}

Status WatchStore::SetLastLook(const std::string& watch_id, int64_t at_ms) {
  return Stmt(*db_, "UPDATE watches SET last_look_ms = ? WHERE watch_id = ?").Int(at_ms).Bind(watch_id).Run();
}

Status WatchStore::Confirm(const std::string& watch_id) {
  return Stmt(*db_, "UPDATE watches SET confirmed = 1 WHERE watch_id = ?").Bind(watch_id).Run();
}

Status WatchStore::Forget(const std::string& watch_id) {
  KP_RETURN_IF_ERROR(Stmt(*db_, "DELETE FROM signals_out WHERE watch_id = ?").Bind(watch_id).Run());
  return Stmt(*db_, "DELETE FROM watches WHERE watch_id = ?").Bind(watch_id).Run();
}

Result<int64_t> WatchStore::ForgetCase(const std::string& case_id) {
  int64_t n = 0;
  {
    Stmt q(*db_, "SELECT count(*) FROM watches WHERE case_id = ?");
    KP_ASSIGN_OR_RETURN(bool row, q.Text(case_id).Step());
    if (row) n = q.ColInt(0);
  }
  KP_RETURN_IF_ERROR(Stmt(*db_,
                          "DELETE FROM signals_out WHERE watch_id IN (SELECT watch_id FROM watches WHERE case_id = ?)")
                         .Text(case_id).Run());
  KP_RETURN_IF_ERROR(Stmt(*db_, "DELETE FROM watches WHERE case_id = ?").Text(case_id).Run());
  return n;
}

Status WatchStore::KeepSignal(const OutgoingSignal& s) {
  return Stmt(*db_, "INSERT OR REPLACE INTO signals_out(message_id, watch_id, body, sent_ms) VALUES(?, ?, ?, ?)")
      .Bind(s.message_id).Bind(s.watch_id).Bind(s.body).Int(s.sent_ms).Run();
}

Status WatchStore::DropSignal(const std::string& message_id) {
  return Stmt(*db_, "DELETE FROM signals_out WHERE message_id = ?").Bind(message_id).Run();
}

Result<std::vector<OutgoingSignal>> WatchStore::Outgoing() {
  Stmt q(*db_, "SELECT message_id, watch_id, body, sent_ms FROM signals_out ORDER BY sent_ms");
  std::vector<OutgoingSignal> out;
  while (true) {
    KP_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return out;
    out.push_back(OutgoingSignal{q.Col(0), q.Col(1), q.Col(2), q.ColInt(3)});
  }
}

// -------------------------------------------------------------- responder

namespace {

std::string IdHex(std::string_view id) { return HexEncode(id); }

void WipeSubjects(v1::SubjectData* data) {
  for (auto& s : *data->mutable_subjects()) {
    SecureWipe(s.mutable_bsn()->data(), s.bsn().size());
    SecureWipe(s.mutable_name()->data(), s.name().size());
    SecureWipe(s.mutable_date_of_birth()->data(), s.date_of_birth().size());
  }
}

}  // namespace

Result<std::string> Responder::SendSignal(const v1::Signal& signal) {
  const std::string body = signal.SerializeAsString();
  KP_ASSIGN_OR_RETURN(SignedMessage m, signer_.Sign(v1::MESSAGE_KIND_SIGNAL, "", signal.watch_id(), body));
  const int64_t now = clock_.NowMillis();
  if (options_.watches != nullptr) {
    // Kept until receipted, so a restart does not lose it.
    KP_RETURN_IF_ERROR(options_.watches->KeepSignal(OutgoingSignal{m.message_id, signal.watch_id(), body, now}));
  }
  signals_out_[m.message_id] = PendingSignal{signal.watch_id(), body, now};
  return m.bytes;
}

Outcome Responder::StartWatch(const v1::Authorisation& auth, const std::string& watch_id,
                              const v1::FragmentRequest& request, const std::string& coordinator,
                              const std::string& recipient_partner) {
  const int64_t now = clock_.NowMillis();
  if (options_.watches == nullptr) {
    return {std::nullopt, FailedPreconditionError("this agent keeps no watches")};
  }
  auto known = options_.watches->Get(watch_id);
  if (!known.ok()) return {std::nullopt, known.status()};
  KeptWatch w;
  if (known->has_value()) {
    w = **known;  // asked again (the receipt was lost): the same answer
  } else {
    if (request.watch_until_ms() <= now) return {std::nullopt, FailedPreconditionError("the watch has ended")};
    for (const auto& c : request.categories()) {
      if (sources_.count(c) == 0) return {std::nullopt, FailedPreconditionError("no data source for " + c)};
    }
    w.watch_id = watch_id;
    w.case_id = request.case_id();
    w.coordinator = coordinator;
    w.authorisation = auth.SerializeAsString();
    w.categories.assign(request.categories().begin(), request.categories().end());
    w.started_ms = now;
    w.until_ms = request.watch_until_ms();
    w.last_look_ms = now;  // what changes from now on is news
    if (Status s = options_.watches->Keep(w); !s.ok()) {
      spdlog::error("watch {}: cannot keep it: {}", IdHex(watch_id), s.message());
      return {std::nullopt, s};
    }
    v1::AuditRecord rec = NewRecord(v1::AUDIT_EVENT_WATCH_STARTED);
    rec.set_case_id(w.case_id);
    rec.set_message_id(watch_id);
    cases::CopySubjects(request.subjects(), &rec);
    rec.set_recipient_partner(recipient_partner);
    rec.set_purpose(request.purpose());
    for (const auto& c : w.categories) cases::AddPolicyCategory(*policy_, c, &rec);
    rec.set_reason("watch until " + std::to_string(w.until_ms) + " (ms) on " +
                   std::to_string(request.subjects_size()) + " subject(s)");
    AppendAsync(std::move(rec));
    spdlog::info("watch {} case={} kept until {} ms: {} categor{}", IdHex(watch_id), w.case_id, w.until_ms,
                 w.categories.size(), w.categories.size() == 1 ? "y" : "ies");
  }
  v1::Signal started;
  started.set_watch_id(watch_id);
  started.set_case_id(w.case_id);
  started.set_kind(v1::SIGNAL_KIND_WATCH_STARTED);
  started.set_watch_until_ms(w.until_ms);
  auto msg = SendSignal(started);
  if (!msg.ok()) return {std::nullopt, msg.status()};
  return {std::move(*msg), OkStatus()};
}

void Responder::ForgetWatch(const std::string& watch_id, const std::string& case_id, const std::string& why) {
  if (options_.watches == nullptr) return;
  auto kept = options_.watches->Get(watch_id);
  const bool known = kept.ok() && kept->has_value();  // else forgotten already: recorded once
  if (Status s = options_.watches->Forget(watch_id); !s.ok()) {
    spdlog::error("watch {}: cannot forget it: {}", IdHex(watch_id), s.message());
    return;
  }
  for (auto it = signals_out_.begin(); it != signals_out_.end();) {
    it = it->second.watch_id == watch_id ? signals_out_.erase(it) : std::next(it);
  }
  if (!known) return;
  v1::AuditRecord rec = NewRecord(v1::AUDIT_EVENT_WATCH_ENDED);
  rec.set_case_id(case_id);
  rec.set_message_id(watch_id);
  SubjectsOfAuthorisation((*kept)->authorisation, &rec);
  rec.set_reason(why);
  AppendAsync(std::move(rec));
  spdlog::info("watch {} case={} ended: {}", IdHex(watch_id), case_id, why);
}

// The agent gives a watch up for its own reasons (what it kept cannot be
// read): it forgets it and tells the gateway and, through it, the
// coordinator with a WATCH_ENDED signal (reason door-bron-beeindigd).
void Responder::EndWatchHere(const KeptWatch& w, const std::string& why, std::vector<std::string>* out) {
  ForgetWatch(w.watch_id, w.case_id, why);
  v1::Signal ended;
  ended.set_watch_id(w.watch_id);
  ended.set_case_id(w.case_id);
  ended.set_kind(v1::SIGNAL_KIND_WATCH_ENDED);
  ended.set_watch_until_ms(w.until_ms);
  ended.set_reason_code("door-bron-beeindigd");
  if (auto m = SendSignal(ended); m.ok()) out->push_back(std::move(*m));
}

std::vector<std::string> Responder::LookForChanges() {
  std::vector<std::string> out;
  if (options_.watches == nullptr) return out;
  const int64_t now = clock_.NowMillis();
  if (last_watch_look_ms_ == 0) {
    // The first look since the agent started: what an earlier run sent and
    // the gateway never receipted goes again now.
    auto kept = options_.watches->Outgoing();
    if (!kept.ok()) spdlog::error("cannot read the signals without receipt: {}", kept.status().message());
    if (kept.ok()) {
      for (auto& k : *kept) signals_out_.emplace(k.message_id, PendingSignal{k.watch_id, std::move(k.body), 0});
    }
  }
  // Signals the gateway did not confirm go again, in a new envelope.
  std::vector<PendingSignal> again;
  for (auto it = signals_out_.begin(); it != signals_out_.end();) {
    if (now - it->second.sent_ms >= options_.resend_after_ms) {
      again.push_back(it->second);
      (void)options_.watches->DropSignal(it->first);
      it = signals_out_.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& p : again) {
    v1::Signal s;
    if (!s.ParseFromString(p.body)) continue;
    if (auto m = SendSignal(s); m.ok()) out.push_back(std::move(*m));
  }
  if (last_watch_look_ms_ != 0 && now - last_watch_look_ms_ < options_.watch_interval_ms) return out;
  last_watch_look_ms_ = now;
  auto all = options_.watches->All();
  if (!all.ok()) {
    spdlog::error("cannot read the watches: {}", all.status().message());
    return out;
  }
  for (const KeptWatch& w : *all) {
    if (w.until_ms <= now) {
      ForgetWatch(w.watch_id, w.case_id, "einddatum");
      continue;
    }
    if (!w.confirmed) continue;  // the gateway has not confirmed it yet: it would refuse its signals
    v1::Authorisation auth;
    v1::Envelope request_envelope;
    v1::FragmentRequest request;
    if (!auth.ParseFromString(w.authorisation) || !request_envelope.ParseFromString(auth.request_envelope()) ||
        !request.ParseFromString(request_envelope.body())) {
      EndWatchHere(w, "the kept authorisation does not parse", &out);
      continue;
    }
    auto inner = OpenAndVerify(me_.SealingRing(), keys_, request.sealed_subjects(),
                               {v1::MESSAGE_KIND_SUBJECT_DATA, me_.id(), w.watch_id, w.coordinator});
    v1::SubjectData subjects;
    if (!inner.ok() || !subjects.ParseFromString(inner->body)) {
      EndWatchHere(w, "the kept subject data cannot be opened", &out);
      continue;
    }
    bool complete = true;
    // The next look starts here, or after a change the source dates later
    // than this agent's clock (so it is signalled once, not at every look
    // until the clock catches up).
    int64_t look_to = std::max(now, w.last_look_ms);
    for (const auto& category : w.categories) {
      auto source = sources_.find(category);
      if (source == sources_.end()) {
        complete = false;
        continue;
      }
      for (const auto& subject : subjects.subjects()) {
        SubjectQuery q{subject.ref(), std::string(cases::SubjectRoleId(subject.role())), subject.bsn(),
                       subject.name(), subject.date_of_birth()};
        auto changed = source->second->ChangedSince(q, w.last_look_ms);
        SecureWipe(q.bsn.data(), q.bsn.size());
        SecureWipe(q.name.data(), q.name.size());
        SecureWipe(q.date_of_birth.data(), q.date_of_birth.size());
        if (!changed.ok()) {
          // Partner IT's to fix; the look is tried again (nothing missed).
          spdlog::error("watch {}: the data source for {} ({}) cannot say what changed: {}", IdHex(w.watch_id),
                        category, source->second->Describe(), changed.status().ToString());
          complete = false;
          continue;
        }
        if (!changed->has_value()) continue;
        look_to = std::max(look_to, **changed);
        v1::Signal sig;
        sig.set_watch_id(w.watch_id);
        sig.set_case_id(w.case_id);
        sig.set_kind(v1::SIGNAL_KIND_CHANGED);
        sig.set_subject_ref(subject.ref());
        sig.set_category(category);
        sig.set_changed_at_ms(std::min(**changed, now));
        sig.set_watch_until_ms(w.until_ms);
        auto m = SendSignal(sig);
        if (!m.ok()) {
          complete = false;
          continue;
        }
        v1::AuditRecord rec = NewRecord(v1::AUDIT_EVENT_SIGNAL);
        rec.set_case_id(w.case_id);
        rec.set_message_id(w.watch_id);
        SubjectsOfAuthorisation(w.authorisation, &rec, subject.ref());
        cases::AddPolicyCategory(*policy_, category, &rec);
        rec.set_reason("subject " + subject.ref() + " changed");
        AppendAsync(std::move(rec));
        out.push_back(std::move(*m));
      }
    }
    WipeSubjects(&subjects);
    if (complete) (void)options_.watches->SetLastLook(w.watch_id, look_to);
  }
  return out;
}

void Responder::NoteWatchReceipt(const std::string& watch_id, const std::string& delivery_id) {
  auto it = signals_out_.find(delivery_id);
  if (it == signals_out_.end()) return;
  signals_out_.erase(it);
  if (options_.watches != nullptr) {
    (void)options_.watches->DropSignal(delivery_id);
    (void)options_.watches->Confirm(watch_id);
  }
}

bool Responder::HandleWatchError(const std::string& about, const v1::Error& err) {
  auto it = signals_out_.find(about);
  if (it == signals_out_.end()) return false;
  const PendingSignal p = it->second;
  signals_out_.erase(it);
  if (err.code() == v1::ERROR_CODE_UNAVAILABLE || err.code() == v1::ERROR_CODE_RESOURCE_EXHAUSTED ||
      err.code() == v1::ERROR_CODE_UNAUTHENTICATED) {
    signals_out_[about] = PendingSignal{p.watch_id, p.body, 0};  // again at the next look
    return true;
  }
  // The gateway will not take signals for this watch (it ended, the case
  // closed, the partner was removed, or it never knew it): forget it.
  std::string case_id;
  if (options_.watches != nullptr) {
    auto w = options_.watches->Get(p.watch_id);
    if (w.ok() && w->has_value()) case_id = (*w)->case_id;
  }
  ForgetWatch(p.watch_id, case_id, "the gateway refused its signal: " + err.message());
  return true;
}

Outcome Responder::HandleNotice(const VerifiedEnvelope& env) {
  v1::CaseNotice notice;
  if (Status s = ParseBody(env.body, notice); !s.ok()) return {std::nullopt, s};
  if (notice.kind() == v1::NOTICE_KIND_WATCH_ENDED && options_.watches != nullptr) {
    ForgetWatch(notice.request_id(), notice.case_id(),
                "the gateway ended it: " + (notice.reason_code().empty() ? std::string("-") : notice.reason_code()));
    if (notice.reason_code() == "casus-gesloten") {
      // The case closed: every watch of it goes.
      auto n = options_.watches->ForgetCase(notice.case_id());
      if (n.ok() && *n > 0) spdlog::info("case {} closed: {} more watch(es) forgotten", notice.case_id(), *n);
    }
  }
  return {};
}

}  // namespace kp::agent

#include "client/read_log.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <thread>
#include <utility>

#include "case/pseudonym.h"
#include "core/audit/checkpoint.h"
#include "core/audit/key_handover.h"
#include "core/audit/log_format.h"
#include "core/audit/log_writer.h"
#include "core/base/encoding.h"
#include "core/envelope/envelope.h"
#include "core/identity/participant.h"

namespace kp::client {
namespace {

namespace v1 = ketenpoort::v1;

// The request this client signed, from its own store: its envelope checked
// against this coordinator's own signing key (a store changed behind the
// client's back is not believed), its body parsed.
Result<v1::FragmentRequest> SignedRequest(const Coordinator& c, const RequestInfo& info) {
  StaticKeyResolver mine;
  mine.Add(c.identity().id(), c.identity().signing().public_key);
  EnvelopeVerifier verifier(mine, nullptr);
  VerifyOptions opts;
  opts.expected_kind = v1::MESSAGE_KIND_FRAGMENT_REQUEST;
  opts.expected_sender = c.identity().id();
  auto env = verifier.Verify(info.envelope, opts);
  if (!env.ok()) {
    return DataLossError("the stored request " + HexEncode(info.request_id).substr(0, 12) +
                         " does not verify against this coordinator's key: " + env.status().message());
  }
  v1::FragmentRequest req;
  KP_RETURN_IF_ERROR(ParseBody(env->body, req));
  return req;
}

// A fragment handed over (no request of ours): the refs of the records
// shown, with pseudonyms under this client's key from the case's subjects.
Status HandedSubjects(Coordinator& c, const Outcome& o, v1::AuditRecord* rec) {
  google::protobuf::RepeatedPtrField<v1::SubjectRef> refs;
  std::vector<std::string> seen;
  for (const auto& cat : o.content.categories()) {
    for (const auto& r : cat.records()) {
      if (r.subject_ref().empty() || std::find(seen.begin(), seen.end(), r.subject_ref()) != seen.end())
        continue;
      seen.push_back(r.subject_ref());
      refs.Add()->set_ref(r.subject_ref());
    }
  }
  KP_ASSIGN_OR_RETURN(std::vector<v1::Subject> subjects, c.store().Subjects(o.case_id));
  cases::AddPseudonyms(c.pseudonym_key(), subjects, &refs);
  for (auto& s : subjects) WipeSubject(&s);
  cases::CopySubjects(refs, rec);
  return OkStatus();
}

// Opens the read log, waiting up to kReadLogLockWaitMs for another holder
// of its folder lock (Unavailable). The records' times come from `clock`
// (borrowed while the writer lives).
Result<std::unique_ptr<audit::LogWriter>> OpenReadLog(const std::string& dir, const Identity& me,
                                                      const Clock& clock) {
  audit::LogWriterOptions options;
  options.clock = &clock;
  // After keygen --activate: handed over from the previous key (key_handover.h).
  KP_ASSIGN_OR_RETURN(options.previous_signers,
                      audit::PreviousLogSigners(ReadLogOrigin(me), me.OtherSigningKeys()));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kReadLogLockWaitMs);
  for (;;) {
    KP_ASSIGN_OR_RETURN(audit::LogSigner signer,
                        audit::LogSigner::Create(ReadLogOrigin(me), me.signing().public_key,
                                                 me.signing().secret_key.Clone()));
    auto w = audit::LogWriter::Open(dir, std::move(signer), options);
    if (w.ok() || w.status().code() != StatusCode::kUnavailable ||
        std::chrono::steady_clock::now() >= deadline) {
      return w;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace

std::string ReadLogDir(const std::string& store_dir) { return store_dir + "/" + kReadLogFolderName; }

std::string ReadLogOrigin(const std::string& partner, const std::string& participant_id) {
  return "ketenpoort." + partner + "/read-log/" + participant_id;
}

std::string ReadLogOrigin(const Identity& me) { return ReadLogOrigin(me.partner(), me.id()); }

void ThinReadLogCheckpoints(const std::string& dir) {
  namespace fs = std::filesystem;
  const fs::path cdir = fs::path(dir) / std::string(audit::kCheckpointsDirName);
  std::error_code ec;
  std::vector<std::pair<uint64_t, fs::path>> found;
  for (const auto& e : fs::directory_iterator(cdir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.size() != 20 || name.find_first_not_of("0123456789") != std::string::npos) continue;
    found.emplace_back(std::stoull(name), e.path());
  }
  if (ec || found.size() < 3) return;
  std::sort(found.begin(), found.end());
  uint64_t kept = found.front().first;
  for (size_t i = 1; i + 1 < found.size(); ++i) {
    if (found[i].first / kReadLogCheckpointStride > kept / kReadLogCheckpointStride) {
      kept = found[i].first;
      continue;
    }
    if (!fs::remove(found[i].second, ec) && ec) {
      spdlog::warn("read log {}: an older checkpoint could not be removed ({})", dir, ec.message());
      return;
    }
  }
}

bool ShowsContent(const Outcome& o) { return o.kind == Outcome::Kind::kDelivered && !o.watch_started; }

Result<v1::AuditRecord> ShownRecord(Coordinator& c, const Outcome& o, const std::string& how,
                                    int64_t now_ms) {
  const Identity& me = c.identity();
  v1::AuditRecord rec;
  rec.set_event(v1::AUDIT_EVENT_FRAGMENT_SHOWN);
  auto* actor = rec.mutable_actor();
  actor->set_participant_id(me.id());
  actor->set_partner(me.partner());
  auto entry = c.registry().Find(me.id());
  actor->set_role(entry.ok() && !(*entry)->role.empty() ? (*entry)->role
                                                        : std::string(ParticipantKindName(me.kind())));
  rec.set_case_id(o.case_id);
  rec.set_message_id(o.request_id);
  rec.set_recipient_partner(me.partner());
  for (const auto& cat : o.content.categories()) rec.add_categories()->set_name(cat.category());
  rec.set_reason(how);
  rec.set_retention_until_unix_millis(now_ms + kReadLogRetentionMs);
  KP_ASSIGN_OR_RETURN(std::optional<RequestInfo> request, c.store().GetRequest(o.request_id));
  if (request.has_value()) {
    rec.set_source_partner(request->partner);
    rec.set_purpose(request->purpose);
    KP_ASSIGN_OR_RETURN(v1::FragmentRequest signed_request, SignedRequest(c, *request));
    cases::CopySubjects(signed_request.subjects(), &rec);
  } else {
    // Handed over by a former coordinator: its agent's partner, the
    // subjects of the records shown.
    if (auto by = c.registry().Find(o.signer); by.ok()) rec.set_source_partner((*by)->card.partner);
    KP_RETURN_IF_ERROR(HandedSubjects(c, o, &rec));
  }
  return rec;
}

Status RecordShown(Coordinator& c, const std::vector<const Outcome*>& shown, const std::string& how,
                   const Clock& clock) {
  const std::string dir = ReadLogDir(c.config().store);
  auto fail = [&](const Status& s) {
    return Status(s.code(), "not shown: the read log " + dir +
                                " could not record the showing (NEN 7513): " + s.message());
  };
  // Every record is made before anything is written: a fragment whose
  // record cannot be made stops the whole showing.
  std::vector<v1::AuditRecord> records;
  const int64_t now = clock.NowMillis();
  for (const Outcome* o : shown) {
    if (o == nullptr || !ShowsContent(*o)) continue;
    auto rec = ShownRecord(c, *o, how, now);
    if (!rec.ok()) return fail(rec.status());
    records.push_back(std::move(rec).value());
  }
  if (records.empty()) return OkStatus();
  auto writer = OpenReadLog(dir, c.identity(), clock);
  if (!writer.ok()) return fail(writer.status());
  for (auto& rec : records) {
    if (auto appended = (*writer)->AppendBuffered(std::move(rec)); !appended.ok()) {
      (void)(*writer)->Close();
      return fail(appended.status());
    }
  }
  if (Status s = (*writer)->Sync(); !s.ok()) {
    (void)(*writer)->Close();
    return fail(s);
  }
  // Close signs the checkpoint over the new records (a record that no
  // checkpoint covers could be cut unnoticed).
  if (Status s = (*writer)->Close(); !s.ok()) return fail(s);
  ThinReadLogCheckpoints(dir);
  return OkStatus();
}

}  // namespace kp::client

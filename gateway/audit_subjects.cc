// GatewayCore: whom an exchange is about, for its audit records (AVG art. 15;
// docs/protocol.md, "Subject pseudonyms"). Every record of a request, push,
// watch or case command carries the subjects' refs with the keyed pseudonyms
// the coordinator's own signed message carried (AuditRecord.subjects). The
// gateway holds no pseudonym key: it copies what was signed, it never
// computes or checks a pseudonym. Later events of an exchange (forwarded,
// delivered, refused by the agent, expired, held for approval, received)
// take them from the stored authorisation's request or push envelope; a
// signal takes them from the case's own signed history.
#include <map>

#include "case/pseudonym.h"
#include "gateway/gateway_core_internal.h"
#include "ketenpoort/v1/envelope.pb.h"
#include "ketenpoort/v1/messages.pb.h"

namespace kp::gateway::internal {

namespace v1 = ketenpoort::v1;

void SubjectsOfStored(const StoredForward& stored, v1::AuditRecord* rec) {
  if (!stored.ok) return;
  cases::CopySubjects(stored.push ? stored.push_body.subjects() : stored.request.subjects(), rec);
}

void SubjectsOfStored(const std::string& stored, v1::AuditRecord* rec) {
  // A request's Authorisation and a push's PushAuthorisation both hold the
  // coordinator's envelope in field 1; its kind tells which body it has.
  v1::Authorisation auth;
  v1::Envelope env;
  v1::Header header;
  if (!auth.ParseFromString(stored) || !env.ParseFromString(auth.request_envelope()) ||
      !header.ParseFromString(env.header())) {
    return;
  }
  if (header.kind() == v1::MESSAGE_KIND_FRAGMENT_REQUEST) {
    v1::FragmentRequest req;
    if (req.ParseFromString(env.body())) cases::CopySubjects(req.subjects(), rec);
  } else if (header.kind() == v1::MESSAGE_KIND_FRAGMENT_PUSH) {
    v1::FragmentPush push;
    if (push.ParseFromString(env.body())) cases::CopySubjects(push.subjects(), rec);
  }
}

void SubjectsFromChain(const std::vector<std::string>& chain, const std::vector<std::string>& refs,
                       v1::AuditRecord* rec) {
  // The refs as the case committed to them: OpenCase and AddSubject.
  std::map<std::string, v1::SubjectRef> committed;
  for (const auto& raw : chain) {
    v1::Envelope env;
    v1::CaseCommand cmd;
    if (!env.ParseFromString(raw) || !cmd.ParseFromString(env.body())) continue;
    if (cmd.has_open()) {
      for (const auto& s : cmd.open().subjects()) committed[s.ref()] = s;
    } else if (cmd.has_add_subject()) {
      committed[cmd.add_subject().subject().ref()] = cmd.add_subject().subject();
    }
  }
  google::protobuf::RepeatedPtrField<v1::SubjectRef> out;
  for (const auto& ref : refs) {
    auto it = committed.find(ref);
    if (it != committed.end()) {
      *out.Add() = it->second;
    } else {
      out.Add()->set_ref(ref);
    }
  }
  cases::CopySubjects(out, rec);
}

}  // namespace kp::gateway::internal

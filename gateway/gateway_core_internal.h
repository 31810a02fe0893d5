// Helpers shared by the files of GatewayCore (gateway_core.cc,
// case_commands.cc, requests.cc, answers.cc). Not part of its interface.
#ifndef KETENPOORT_GATEWAY_GATEWAY_CORE_INTERNAL_H_
#define KETENPOORT_GATEWAY_GATEWAY_CORE_INTERNAL_H_

#include <string>
#include <vector>

#include "case/case_facts.h"
#include "case/pseudonym.h"
#include "core/base/encoding.h"
#include "ketenpoort/v1/audit.pb.h"
#include "ketenpoort/v1/envelope.pb.h"
#include "ketenpoort/v1/messages.pb.h"

namespace kp::gateway {

// What the log says about a handover, acute or removal command beyond the
// command itself, from the facts before and after it (handovers.cc).
void DescribeCaseMoment(const cases::ChainCommand& c, const cases::CaseFacts& before, const cases::CaseFacts& after,
                        ketenpoort::v1::AuditRecord* rec);

}  // namespace kp::gateway

namespace kp::gateway::internal {

// Short printable form of a 16-byte id for log lines.
inline std::string IdHex(const std::string& id) { return HexEncode(id); }

// /metrics (gateway/status.cc): one help text for the request latency histogram.
inline constexpr char kRequestDurationHelp[] =
    "Seconds from a request's authorisation to its answer (delivered, or refused by the agent)";

// An id or code from a message the gateway refuses, fit for its audit
// record: 1-64 letters, digits and - / . _ — anything else (free text an
// untrusted sender put there) is left out.
inline std::string SafeId(const std::string& s) {
  if (s.empty() || s.size() > 64) return "";
  for (unsigned char ch : s) {
    const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
                    ch == '/' || ch == '.' || ch == '_';
    if (!ok) return "";
  }
  return s;
}

// A stored forward — a request's Authorisation or a push's
// PushAuthorisation, which have the same fields (the coordinator's envelope
// in field 1, whose kind tells them apart) — read once, for the handlers
// that need several things of it (pushes.cc). `ok` false: it does not parse.
struct StoredForward {
  bool ok = false;
  bool push = false;
  ketenpoort::v1::Authorisation auth;       // either, read as an Authorisation (the same fields)
  ketenpoort::v1::Envelope envelope;        // the coordinator's own
  ketenpoort::v1::FragmentRequest request;  // its body (when !push)
  ketenpoort::v1::FragmentPush push_body;   // its body (when push)
};
StoredForward ReadStoredForward(const std::string& stored);

// A stored forward that is a PushAuthorisation (its field 1 holds a
// FRAGMENT_PUSH), not a request's Authorisation (pushes.cc).
bool IsPushAuthorisation(const std::string& stored);

// A disclosure's context as it was decided, from the stored Authorisation
// or PushAuthorisation, into `rec` (DELIVERED, PUSH_RECEIVED): purpose,
// phase, legal basis and the decision (rules, obligations with the
// retention, policy hash; justification and policy version when `policy`
// decided it). Nothing when it does not parse (answers.cc).
void DisclosureOfStored(const policy::Policy& policy, const std::string& stored, ketenpoort::v1::AuditRecord* rec);
void DisclosureOfStored(const policy::Policy& policy, const StoredForward& stored,
                        ketenpoort::v1::AuditRecord* rec);

// The subjects (refs and keyed pseudonyms) of the request or push a stored
// Authorisation or PushAuthorisation carries, copied into `rec`
// (AuditRecord.subjects); nothing when it does not parse (audit_subjects.cc).
void SubjectsOfStored(const std::string& stored, ketenpoort::v1::AuditRecord* rec);
void SubjectsOfStored(const StoredForward& stored, ketenpoort::v1::AuditRecord* rec);
// The subjects `refs` with the pseudonyms the case's signed history (its
// OpenCase and AddSubject commands, raw envelopes) committed them with.
void SubjectsFromChain(const std::vector<std::string>& chain, const std::vector<std::string>& refs,
                       ketenpoort::v1::AuditRecord* rec);

}  // namespace kp::gateway::internal

#endif  // KETENPOORT_GATEWAY_GATEWAY_CORE_INTERNAL_H_

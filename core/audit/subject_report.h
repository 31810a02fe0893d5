// One person's access request (AVG art. 15), the privacy officer's side:
// find every record about the person across verified audit log copies (the
// gateway's and any agents' own logs) by the person's keyed pseudonyms, and
// write a draft answer in Dutch as one self-contained HTML file
// (`ketenpoort audit subject`, docs/cli.md).
//
// The caller computes the lookup keys (cases::PseudonymLookupKey of the
// person's pseudonyms under every region key the officer holds): core/audit
// never sees a BSN, a name or a key. A record is about the person when one of
// its subjects carries one of those pseudonyms; a later record of the same
// exchange (same message id, same log) that carries no subjects of its own —
// a receipt, or a record written before pseudonyms existed — is listed too.
//
// The draft holds no other person's data: no subject refs, no pseudonyms, no
// free reason text (a refusal's reason may name another subject), no actor
// ids; the person is "de persoon". Every string from a log is HTML-escaped.
// Thread-compatible.
#ifndef KETENPOORT_CORE_AUDIT_SUBJECT_REPORT_H_
#define KETENPOORT_CORE_AUDIT_SUBJECT_REPORT_H_

#include <cstdint>
#include <set>
#include <string>
#include <unordered_set>
#include <vector>

#include "core/audit/log_verifier.h"
#include "core/base/status.h"
#include "ketenpoort/v1/audit.pb.h"

namespace kp::audit {

// One log copy and how to verify it (an empty VerifyOptions trusts the
// folder's own log.vkey).
struct SubjectLog {
  std::string dir;
  VerifyOptions verify;
};

struct SubjectQuery {
  // The person's pseudonyms as lookup keys (cases::PseudonymLookupKey).
  std::unordered_set<std::string> lookup_keys;
  // The ids of the keys they were computed under (for the messages).
  std::vector<std::string> key_ids;
};

struct SubjectLogSummary {
  std::string dir;
  std::string origin;
  bool key_from_folder = false;
  uint64_t records = 0;     // entries, tombstones included
  uint64_t tombstones = 0;  // erased after their retention: unreadable
  uint64_t checkpoints = 0;
  uint64_t latest_checkpoint_size = 0;
  uint64_t matched = 0;  // records listed from this log
  std::vector<std::string> warnings;  // VerifyLog's (e.g. records after the latest checkpoint)
};

struct SubjectHit {
  size_t log = 0;  // index into SubjectFindings::logs
  // Listed because an earlier record of its exchange named the person.
  bool via_exchange = false;
  // The record without subjects, reason texts, actor and payload hashes;
  // purpose, legal basis, phase, categories and decision filled from an
  // earlier record of the same exchange in the same log when it lacked them.
  ketenpoort::v1::AuditRecord record;
};

struct SubjectFindings {
  std::vector<SubjectLogSummary> logs;
  std::vector<SubjectHit> hits;  // per log in index order, logs in the given order
  // Key ids that pseudonyms in the logs were made under and the query did
  // not hold (the officer may lack a key).
  std::set<std::string> other_key_ids;
};

// Verifies every log first: the first that does not verify (or cannot be
// read as an audit log) fails the whole lookup, with its folder named in the
// message (DataLoss / Unauthenticated as VerifyLog says; nothing listed).
// Then lists the person's records. NotFound when there are none, saying
// which key ids were used and that a wrong key cannot be told apart from a
// person without records.
Result<SubjectFindings> FindSubjectRecords(const std::vector<SubjectLog>& logs, const SubjectQuery& query);

struct SubjectAnswerOptions {
  int64_t generated_at_millis = 0;
  // The controller answering (verwerkingsverantwoordelijke); "" leaves a
  // placeholder for the officer to fill in.
  std::string controller;
};

// The draft answer: AVG art. 15 lid 1 a–h (doeleinden, categorieën,
// ontvangers, bewaartermijn, rechten, klacht bij de Autoriteit
// Persoonsgegevens, bron, geautomatiseerde besluitvorming) and every record
// as a table (datum, gebeurtenis, casus, bron, ontvanger, categorieën, doel,
// grondslag, log).
std::string RenderSubjectAnswer(const SubjectFindings& findings, const SubjectAnswerOptions& options);

// Appends the lookup key of `p` to `out` exactly as cases::PseudonymLookupKey
// makes it (core/audit does not depend on kp_case; a test checks they agree).
void AppendPseudonymLookupKey(const ketenpoort::v1::SubjectPseudonym& p, std::string* out);

}  // namespace kp::audit

#endif  // KETENPOORT_CORE_AUDIT_SUBJECT_REPORT_H_

// Subject pseudonyms for a person's access request (AVG art. 15): one truth
// for how a subject's identifiers become the keyed pseudonyms that travel in
// signed requests (SubjectRef.pseudonyms) and land in every audit record of
// the exchange (AuditRecord.subjects), and for how a privacy officer finds
// those records again from one person's identifiers.
//
// A pseudonym is HMAC-SHA256(region key, "ketenpoort-subject-pseudonym-v1"
// 0x00 basis-byte canonical-text), first 16 bytes, where the canonical text is
//   BSN:                  the nine digits (an eight-digit BSN gets its 0)
//   NAME_AND_BIRTH_DATE:  the name trimmed, inner white space one space,
//                         ASCII letters lower case; "|"; YYYY-MM-DD
// (docs/audit-log-format.md, "Subject pseudonyms"). A subject gets one per
// basis it has data for, so a lookup by either finds it.
//
// The region key is held by the coordinators' clients and the privacy
// officers only (docs/operations.md, "The region's pseudonym key"); the
// gateway and the agents copy pseudonyms, they never compute them.
// Thread-compatible.
#ifndef KETENPOORT_CASE_PSEUDONYM_H_
#define KETENPOORT_CASE_PSEUDONYM_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/status.h"
#include "core/crypto/secret_bytes.h"
#include "ketenpoort/v1/audit.pb.h"
#include "ketenpoort/v1/messages.pb.h"

namespace kp::cases {

constexpr size_t kPseudonymKeyBytes = 32;
constexpr size_t kPseudonymBytes = 16;

struct PseudonymKey {
  std::string id;  // e.g. "hvb-2026-1": [a-z0-9.-], 1..64
  SecretBytes key;  // 32 bytes, locked memory
  int64_t created_ms = 0;
};

// A fresh random key.
Result<PseudonymKey> GeneratePseudonymKey(const std::string& id, int64_t created_ms);

// Writes the key file (mode 0600; refuses to overwrite an existing file).
Status WritePseudonymKeyFile(const PseudonymKey& key, const std::string& path);

// Reads a key file: refuses one that group or others can read, a damaged
// one, or one that is not a pseudonym key, with a message that says which.
// The file's last line, "check: <16 hex>", is PseudonymKeyCheck: a file
// whose id, created time, key or check was damaged does not load.
Result<PseudonymKey> LoadPseudonymKeyFile(const std::string& path);

// The key's check value (8 bytes of an HMAC under the key over its id and
// creation time, in hex): in the key file, and what `ketenpoort
// pseudonym-key show` prints so holders can compare keys without showing them.
std::string PseudonymKeyCheck(const PseudonymKey& key);

// The canonical texts (see above). InvalidArgument for a BSN that is not
// 8 or 9 digits (spaces and dots allowed) or fails the elfproef, or a date
// that is not YYYY-MM-DD.
Result<std::string> CanonicalBsn(std::string_view bsn);
std::string CanonicalName(std::string_view name);
Result<std::string> CanonicalNameAndBirthDate(std::string_view name, std::string_view date_of_birth);

// One pseudonym of `canonical` on `basis` under `key`.
ketenpoort::v1::SubjectPseudonym Pseudonym(const PseudonymKey& key, ketenpoort::v1::PseudonymBasis basis,
                                           std::string_view canonical);

// The subject's pseudonyms under `key`: by BSN when it has a valid one, by
// name and date of birth when it has both. Empty when it has neither (the
// caller decides whether that is acceptable).
std::vector<ketenpoort::v1::SubjectPseudonym> SubjectPseudonyms(const PseudonymKey& key,
                                                                const ketenpoort::v1::Subject& subject);

// Fills each ref's pseudonyms from the subject with the same ref in
// `subjects` (refs without a subject there are left without).
void AddPseudonyms(const PseudonymKey& key, const std::vector<ketenpoort::v1::Subject>& subjects,
                   google::protobuf::RepeatedPtrField<ketenpoort::v1::SubjectRef>* refs);

// Copies refs and pseudonyms into an audit record's subjects (gateway and
// agent: what the coordinator's signed message carried).
void CopySubjects(const google::protobuf::RepeatedPtrField<ketenpoort::v1::SubjectRef>& refs,
                  ketenpoort::v1::AuditRecord* record);

// A lookup key for one pseudonym: key id, basis and value in one string.
std::string PseudonymLookupKey(const ketenpoort::v1::SubjectPseudonym& p);

}  // namespace kp::cases

#endif  // KETENPOORT_CASE_PSEUDONYM_H_

#include "case/commitment.h"

#include <cctype>

#include "core/base/encoding.h"
#include "core/crypto/random.h"
#include "core/crypto/sha256.h"

namespace kp::cases {

namespace v1 = ketenpoort::v1;

namespace {

constexpr std::string_view kLabel("ketenpoort/v1/subject-commitment\0", 33);

void UpdateLengthPrefixed(Sha256Hasher& h, std::string_view data) {
  std::string len;
  AppendU32BE(len, static_cast<uint32_t>(data.size()));
  h.Update(len);
  h.Update(data);
}

}  // namespace

std::string NewSubjectSalt() { return RandomBytes(kSaltBytes); }

Status CheckSubjectRef(const std::string& ref, v1::SubjectRole role) {
  if (ref.empty() || ref.size() > 16) {
    return InvalidArgumentError("a subject reference has 1 to 16 characters");
  }
  for (unsigned char c : ref) {
    if (!std::isalnum(c) && c != '-') {
      return InvalidArgumentError("a subject reference has only letters, digits and '-'");
    }
  }
  if (role == v1::SUBJECT_ROLE_UNSPECIFIED || !v1::SubjectRole_IsValid(role)) {
    return InvalidArgumentError("subject " + ref + " has no role (victim, child, suspected perpetrator or housemate)");
  }
  return OkStatus();
}

Result<std::string> SubjectCommitment(const v1::Subject& subject) {
  if (Status s = CheckSubjectRef(subject.ref(), subject.role()); !s.ok()) return s;
  if (subject.salt().size() != kSaltBytes) {
    return InvalidArgumentError("subject " + subject.ref() + " has no salt of 32 bytes to open its commitment");
  }
  Sha256Hasher h;
  h.Update(kLabel);
  h.Update(subject.salt());
  UpdateLengthPrefixed(h, subject.ref());
  std::string role;
  AppendU32BE(role, static_cast<uint32_t>(subject.role()));
  h.Update(role);
  UpdateLengthPrefixed(h, subject.bsn());
  UpdateLengthPrefixed(h, subject.name());
  UpdateLengthPrefixed(h, subject.date_of_birth());
  const Sha256Digest d = h.Finish();
  return std::string(reinterpret_cast<const char*>(d.data()), d.size());
}

}  // namespace kp::cases

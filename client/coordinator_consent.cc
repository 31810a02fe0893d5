// Coordinator: consent per subject (the stated age), the weighing's wiping,
// and retention counted from the case's closure (issue 16).
#include <algorithm>

#include "case/consent.h"
#include "client/coordinator.h"
#include "core/base/time_format.h"
#include "core/crypto/secret_bytes.h"

namespace kp::client {

namespace v1 = ketenpoort::v1;

void WipeWeighing(v1::Weighing* w) {
  for (std::string* field : {w->mutable_consent(), w->mutable_harm(), w->mutable_no_other_way(),
                             w->mutable_effect(), w->mutable_minimum(), w->mutable_approver()}) {
    SecureWipe(field->data(), field->size());
    field->clear();
  }
}

std::optional<int64_t> RetentionEnd(int64_t retain_until_ms, int64_t retain_after_closure_ms,
                                    std::optional<int64_t> closed_ms) {
  if (retain_after_closure_ms <= 0) return retain_until_ms;
  if (!closed_ms.has_value()) return std::nullopt;
  return *closed_ms + retain_after_closure_ms;
}

std::string RetentionText(int64_t retain_until_ms, int64_t retain_after_closure_ms, std::optional<int64_t> closed_ms) {
  if (auto end = RetentionEnd(retain_until_ms, retain_after_closure_ms, closed_ms); end.has_value()) {
    return FormatUtcDate(*end);
  }
  const int64_t days = retain_after_closure_ms / 86'400'000;
  return std::to_string(days) + (days == 1 ? " day" : " days") + " after the case closes";
}

Status CheckRetention(const v1::FragmentContent& content, const std::string& what) {
  const int64_t until = content.retain_until_ms();
  const int64_t after = content.retain_after_closure_ms();
  if (until < 0 || after < 0) return UnauthenticatedError(what + " carries a negative retention");
  if (until == 0 && after == 0) return UnauthenticatedError(what + " carries no retention date");
  if (until > 0 && after > 0) {
    return UnauthenticatedError(what + " carries both a retention date and a term after the case's closure");
  }
  return OkStatus();
}

Result<std::optional<int>> Coordinator::AgeOfSubject(const std::string& case_id, const std::string& ref) {
  KP_ASSIGN_OR_RETURN(std::vector<v1::Subject> all, store_->Subjects(case_id));
  struct WipeAll {
    std::vector<v1::Subject>& subjects;
    ~WipeAll() {
      for (auto& s : subjects) WipeSubject(&s);
    }
  } wipe{all};
  auto found = std::find_if(all.begin(), all.end(), [&](const v1::Subject& s) { return s.ref() == ref; });
  if (found == all.end()) return NotFoundError("case " + case_id + " has no subject " + ref + " on this machine");
  if (found->date_of_birth().empty()) return std::optional<int>();
  auto age = cases::AgeOn(found->date_of_birth(), clock_.NowMillis());
  if (!age.ok()) {
    return InvalidArgumentError("the date of birth kept for subject " + ref +
                                " cannot give the age the consent must state: " + age.status().message());
  }
  return std::optional<int>(*age);
}

}  // namespace kp::client

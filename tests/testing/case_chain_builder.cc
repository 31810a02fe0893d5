#include "tests/testing/case_chain_builder.h"

#include <gtest/gtest.h>

#include "case/case_chain.h"
#include "case/commitment.h"

namespace kp::testing {

namespace v1 = ketenpoort::v1;

v1::Subject TestSubject(const std::string& ref, v1::SubjectRole role, const std::string& bsn,
                        const std::string& name, const std::string& date_of_birth) {
  v1::Subject s;
  s.set_ref(ref);
  s.set_role(role);
  s.set_bsn(bsn);
  s.set_name(name);
  s.set_date_of_birth(date_of_birth);
  s.set_salt(cases::NewSubjectSalt());
  return s;
}

v1::SubjectRef CommittedRef(const v1::Subject& subject) {
  v1::SubjectRef r;
  r.set_ref(subject.ref());
  r.set_role(subject.role());
  auto c = cases::SubjectCommitment(subject);
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  r.set_commitment(c.value_or(std::string()));
  return r;
}

const std::string& CaseChainBuilder::Add(const std::function<void(v1::CaseCommand&)>& fill) {
  v1::CaseCommand cmd;
  if (!commands_.empty()) {
    cmd.set_case_id(case_id_);
    cmd.set_previous(head());
  }
  cmd.set_sequence(commands_.size());
  fill(cmd);
  auto m = signer_->Sign(v1::MESSAGE_KIND_CASE_COMMAND, "", "", cmd.SerializeAsString());
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  commands_.push_back(m.ok() ? m->bytes : std::string());
  return commands_.back();
}

const std::string& CaseChainBuilder::Open(const std::string& purpose, const std::vector<v1::Subject>& subjects) {
  return Add([&](v1::CaseCommand& c) {
    c.mutable_open()->set_purpose(purpose);
    for (const auto& s : subjects) *c.mutable_open()->add_subjects() = CommittedRef(s);
  });
}

const std::string& CaseChainBuilder::Admit(const std::string& partner) {
  return Add([&](v1::CaseCommand& c) { c.mutable_admit()->set_partner(partner); });
}

const std::string& CaseChainBuilder::Phase(const std::string& phase) {
  return Add([&](v1::CaseCommand& c) { c.mutable_change_phase()->set_phase(phase); });
}

const std::string& CaseChainBuilder::Consent(const std::string& ref, const std::string& purpose, int64_t until_ms) {
  return Add([&](v1::CaseCommand& c) {
    c.mutable_record_consent()->set_subject_ref(ref);
    c.mutable_record_consent()->set_purpose(purpose);
    c.mutable_record_consent()->set_valid_until_ms(until_ms);
  });
}

const std::string& CaseChainBuilder::Withdraw(const std::string& ref, const std::string& purpose) {
  return Add([&](v1::CaseCommand& c) {
    c.mutable_withdraw_consent()->set_subject_ref(ref);
    c.mutable_withdraw_consent()->set_purpose(purpose);
  });
}

const std::string& CaseChainBuilder::Close(const std::string& reason) {
  return Add([&](v1::CaseCommand& c) { c.mutable_close()->set_reason_code(reason); });
}

std::string CaseChainBuilder::head() const {
  return commands_.empty() ? std::string() : cases::CommandHash(commands_.back());
}

}  // namespace kp::testing

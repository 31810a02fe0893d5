// Builds a case's chain of signed commands by hand, as a coordinator's client
// would (protocol §3.5), for tests that play a coordinator or a lying
// gateway. Real Ed25519 signatures; each command names the previous one's
// hash and its sequence.
#ifndef KETENPOORT_TESTS_TESTING_CASE_CHAIN_BUILDER_H_
#define KETENPOORT_TESTS_TESTING_CASE_CHAIN_BUILDER_H_

#include <functional>
#include <string>
#include <vector>

#include "core/envelope/envelope.h"
#include "ketenpoort/v1/messages.pb.h"

namespace kp::testing {

// A subject with identifiers and a fresh salt.
ketenpoort::v1::Subject TestSubject(const std::string& ref, ketenpoort::v1::SubjectRole role,
                                    const std::string& bsn, const std::string& name = "",
                                    const std::string& date_of_birth = "");

// The SubjectRef with its commitment, as an open or add-subject command carries it.
ketenpoort::v1::SubjectRef CommittedRef(const ketenpoort::v1::Subject& subject);

class CaseChainBuilder {
 public:
  // `case_id`: the id the gateway gives the case (commands after the open name it).
  CaseChainBuilder(const EnvelopeSigner& signer, std::string case_id) : signer_(&signer), case_id_(std::move(case_id)) {}

  // Appends a command (filled by `fill`), signed by the current signer, with
  // the right previous hash and sequence; returns its envelope bytes.
  const std::string& Add(const std::function<void(ketenpoort::v1::CaseCommand&)>& fill);
  const std::string& Open(const std::string& purpose, const std::vector<ketenpoort::v1::Subject>& subjects);
  const std::string& Admit(const std::string& partner);
  const std::string& Phase(const std::string& phase);
  const std::string& Consent(const std::string& ref, const std::string& purpose, int64_t until_ms);
  const std::string& Withdraw(const std::string& ref, const std::string& purpose);
  const std::string& Close(const std::string& reason = "veiligheid-hersteld");
  // Signs what follows with another key (a forger, or a second coordinator).
  void SignWith(const EnvelopeSigner& signer) { signer_ = &signer; }

  const std::vector<std::string>& commands() const { return commands_; }
  const std::string& case_id() const { return case_id_; }
  std::string head() const;
  uint64_t length() const { return commands_.size(); }

 private:
  const EnvelopeSigner* signer_;
  std::string case_id_;
  std::vector<std::string> commands_;
};

}  // namespace kp::testing

#endif  // KETENPOORT_TESTS_TESTING_CASE_CHAIN_BUILDER_H_

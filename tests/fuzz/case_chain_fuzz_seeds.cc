#include "tests/fuzz/case_chain_fuzz_seeds.h"

#include "case/case_chain.h"
#include "case/commitment.h"
#include "ketenpoort/v1/messages.pb.h"

namespace kp::fuzz {

namespace v1 = ketenpoort::v1;

std::vector<std::pair<std::string, std::string>> CaseChainSeeds() {
  ManualClock clock(kFuzzNowMs);
  EnvelopeSigner coordinator("regisseur-01", GetFuzzKeys().coordinator.secret_key, clock);
  std::vector<std::string> chain;
  auto add = [&](v1::CaseCommand cmd) {
    if (!chain.empty()) {
      cmd.set_case_id(kFuzzCase);
      cmd.set_previous(cases::CommandHash(chain.back()));
    }
    cmd.set_sequence(chain.size());
    clock.Advance(1000);
    const std::string id(16, static_cast<char>(0x40 + chain.size()));
    chain.push_back(coordinator.Sign(v1::MESSAGE_KIND_CASE_COMMAND, "", "", cmd.SerializeAsString(), id).value().bytes);
  };
  v1::Subject victim;
  victim.set_ref("S1");
  victim.set_role(v1::SUBJECT_ROLE_VICTIM);
  victim.set_bsn("999990019");
  victim.set_salt(std::string(32, '\x01'));
  v1::CaseCommand open;
  open.mutable_open()->set_purpose("plan-van-aanpak");
  auto* ref = open.mutable_open()->add_subjects();
  ref->set_ref("S1");
  ref->set_role(v1::SUBJECT_ROLE_VICTIM);
  ref->set_commitment(cases::SubjectCommitment(victim).value());
  add(open);
  v1::CaseCommand admit;
  admit.mutable_admit()->set_partner("politie");
  add(admit);
  v1::CaseCommand phase;
  phase.mutable_change_phase()->set_phase("herstel");
  add(phase);
  v1::CaseCommand consent;
  consent.mutable_record_consent()->set_subject_ref("S1");
  consent.mutable_record_consent()->set_purpose("plan-van-aanpak");
  consent.mutable_record_consent()->set_valid_until_ms(kFuzzNowMs + 86'400'000);
  add(consent);
  v1::CaseCommand withdraw;
  withdraw.mutable_withdraw_consent()->set_subject_ref("S1");
  withdraw.mutable_withdraw_consent()->set_purpose("plan-van-aanpak");
  add(withdraw);
  v1::CaseCommand close;
  close.mutable_close()->set_reason_code("veiligheid-hersteld");
  add(close);

  std::vector<std::pair<std::string, std::string>> seeds;
  for (size_t n : {size_t{1}, size_t{2}, size_t{3}, chain.size()}) {
    v1::CaseChain c;
    c.set_case_id(kFuzzCase);
    c.set_length(n);
    for (size_t i = 0; i < n; ++i) c.add_commands(chain[i]);
    seeds.emplace_back("chain-" + std::to_string(n) + ".bin", c.SerializeAsString());
  }
  return seeds;
}

}  // namespace kp::fuzz

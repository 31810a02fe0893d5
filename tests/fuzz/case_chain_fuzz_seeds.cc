#include "tests/fuzz/case_chain_fuzz_seeds.h"

#include "case/case_chain.h"
#include "case/commitment.h"
#include "ketenpoort/v1/messages.pb.h"

namespace kp::fuzz {

namespace v1 = ketenpoort::v1;

namespace {

v1::CaseChain ChainOf(const std::vector<std::string>& commands, size_t n) {
  v1::CaseChain c;
  c.set_case_id(kFuzzCase);
  c.set_length(n);
  for (size_t i = 0; i < n; ++i) c.add_commands(commands[i]);
  return c;
}

// A referral by vt-01, accepted by regisseur-01, handed to the wijkteam, a
// partner removed; and an acute case opened by vt-01, handed to the
// Veiligheidsteam (issue 14).
std::vector<std::pair<std::string, std::string>> LivingCaseSeeds(const v1::SubjectRef& victim) {
  ManualClock clock(kFuzzNowMs);
  EnvelopeSigner coordinator("regisseur-01", GetFuzzKeys().coordinator.secret_key, clock);
  EnvelopeSigner vt("vt-01", GetFuzzKeys().referrer.secret_key, clock);
  EnvelopeSigner wijk("wijk-01", GetFuzzKeys().wijk.secret_key, clock);
  std::vector<std::pair<std::string, std::string>> seeds;
  for (bool acute : {false, true}) {
    std::vector<std::string> chain;
    auto add = [&](const EnvelopeSigner& signer, v1::CaseCommand cmd) {
      if (!chain.empty()) {
        cmd.set_case_id(kFuzzCase);
        cmd.set_previous(cases::CommandHash(chain.back()));
      }
      cmd.set_sequence(chain.size());
      clock.Advance(1000);
      const std::string id(16, static_cast<char>(0x60 + chain.size()));
      chain.push_back(signer.Sign(v1::MESSAGE_KIND_CASE_COMMAND, "", "", cmd.SerializeAsString(), id).value().bytes);
    };
    v1::CaseCommand open;
    open.mutable_open()->set_purpose(acute ? "acuut-gevaar-afwenden" : "plan-van-aanpak");
    *open.mutable_open()->add_subjects() = victim;
    if (acute) {
      open.mutable_open()->set_acute(true);
    } else {
      v1::Referral r;
      r.set_reference("VT-MB-2026-0815");
      r.set_to_partner("veiligheidsteam");
      r.set_purpose("plan-van-aanpak");
      r.add_reason_codes("herhaald-geweld");
      *r.add_subjects() = victim;
      r.add_sealed()->set_participant("regisseur-01");
      r.mutable_sealed(0)->set_sealed(std::string(64, '\x5a'));
      open.mutable_open()->set_referral(
          vt.Sign(v1::MESSAGE_KIND_REFERRAL, "", "", r.SerializeAsString(), std::string(16, '\x21')).value().bytes);
    }
    add(acute ? vt : coordinator, open);
    const EnvelopeSigner& from = acute ? vt : coordinator;
    const EnvelopeSigner& to = acute ? coordinator : wijk;
    v1::CaseCommand offer;
    offer.mutable_offer_handover()->set_to(acute ? "regisseur-01" : "wijk-01");
    offer.mutable_offer_handover()->set_reason_code(acute ? "naar-veiligheidsteam" : "naar-wijkteam");
    offer.mutable_offer_handover()->set_expires_at_ms(kFuzzNowMs + 7 * 86'400'000LL);
    add(from, offer);
    v1::CaseCommand accept;
    accept.mutable_accept_handover()->set_offer(cases::CommandHash(chain.back()));
    add(to, accept);
    v1::CaseCommand remove;
    remove.mutable_remove_partner()->set_partner(acute ? "cit" : "veilig-thuis");
    remove.mutable_remove_partner()->set_reason_code("geen-rol-meer");
    add(to, remove);
    seeds.emplace_back(std::string(acute ? "acute" : "referral") + "-handover.bin",
                       ChainOf(chain, chain.size()).SerializeAsString());
  }
  return seeds;
}

}  // namespace

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
    seeds.emplace_back("chain-" + std::to_string(n) + ".bin", ChainOf(chain, n).SerializeAsString());
  }
  for (auto& seed : LivingCaseSeeds(open.open().subjects(0))) seeds.push_back(std::move(seed));
  return seeds;
}

}  // namespace kp::fuzz

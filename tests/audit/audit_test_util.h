// Helpers shared by the audit tests: a deterministic log signer and sample
// records (ids only, as the real ones).
#ifndef KETENPOORT_TESTS_AUDIT_AUDIT_TEST_UTIL_H_
#define KETENPOORT_TESTS_AUDIT_AUDIT_TEST_UTIL_H_

#include <string>

#include "core/audit/checkpoint.h"
#include "core/crypto/ed25519.h"
#include "core/crypto/secret_bytes.h"
#include "ketenpoort/v1/audit.pb.h"

namespace kp::audit::testing {

inline constexpr char kTestOrigin[] = "zvh-hartvanbrabant.example/ketenpoort/audit";

inline Ed25519KeyPair TestKeyPair(char seed_byte = 7) {
  InitCrypto();
  SecretBytes seed(kEd25519SeedBytes);
  for (size_t i = 0; i < seed.size(); ++i) seed.mutable_data()[i] = static_cast<uint8_t>(seed_byte + i);
  return std::move(Ed25519KeyPairFromSeed(seed)).value();
}

inline LogSigner TestSigner(char seed_byte = 7, std::string origin = kTestOrigin) {
  Ed25519KeyPair kp = TestKeyPair(seed_byte);
  return std::move(LogSigner::Create(std::move(origin), kp.public_key, std::move(kp.secret_key))).value();
}

inline ketenpoort::v1::AuditRecord SampleRecord(int i, int64_t retention_until = 0) {
  ketenpoort::v1::AuditRecord r;
  r.set_event(i % 3 == 0 ? ketenpoort::v1::AUDIT_EVENT_DECISION : ketenpoort::v1::AUDIT_EVENT_DELIVERED);
  r.mutable_actor()->set_participant_id("vt-casusregisseur-07");
  r.mutable_actor()->set_partner("veiligheidshuis");
  r.mutable_actor()->set_role("casusregisseur");
  r.set_case_id("VT-2026-004" + std::to_string(i % 5));
  r.set_source_partner(i % 2 == 0 ? "politie" : "ggz-breburg");
  r.set_recipient_partner("veiligheidshuis");
  auto* c = r.add_categories();
  c->set_name(i % 2 == 0 ? "politie-incidenten" : "ggz-behandeling");
  c->set_data_class(i % 2 == 0 ? ketenpoort::v1::DATA_CLASS_CRIMINAL_ART10 : ketenpoort::v1::DATA_CLASS_SPECIAL_ART9);
  c->set_regime(i % 2 == 0 ? ketenpoort::v1::DATA_REGIME_POLICE_JUSTICE : ketenpoort::v1::DATA_REGIME_AVG);
  r.set_purpose("veiligheidsplan");
  r.set_legal_basis("wvggz-art-8-32");
  r.set_phase("acute-veiligheid");
  if (r.event() == ketenpoort::v1::AUDIT_EVENT_DECISION) {
    auto* d = r.mutable_decision();
    d->set_verdict(i % 6 == 0 ? ketenpoort::v1::AUDIT_VERDICT_DENY : ketenpoort::v1::AUDIT_VERDICT_PERMIT);
    d->add_rule_ids("R-" + std::to_string(i % 7));
    d->set_reason(i % 6 == 0 ? "no consent recorded" : "permitted by rule");
    d->set_policy_sha256(std::string(32, 'p'));
  }
  r.set_retention_until_unix_millis(retention_until);
  r.mutable_payload()->set_ciphertext_bytes(1000 + static_cast<uint64_t>(i));
  r.mutable_payload()->set_ciphertext_sha256(std::string(32, static_cast<char>(i)));
  return r;
}

}  // namespace kp::audit::testing

#endif  // KETENPOORT_TESTS_AUDIT_AUDIT_TEST_UTIL_H_

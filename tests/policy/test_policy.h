// A small, clean policy shared by the policy tests, and helpers to load it
// with one line changed. Line numbers matter: lint tests expect exact
// file:line:column positions in this text, so edit it only at the end.
#ifndef KETENPOORT_TESTS_POLICY_TEST_POLICY_H_
#define KETENPOORT_TESTS_POLICY_TEST_POLICY_H_

#include <string>
#include <string_view>

namespace kp::policy::testing {

// Any 64 lowercase hex digits will do: the engine only carries the digest.
inline constexpr std::string_view kFakeSha256 =
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

inline constexpr std::string_view kSmallPolicy = R"(policy:
  id: test
partners:
  - id: politie
  - id: ggz
  - id: vt
    name: Veiligheidsteam
roles:
  - id: casusregisseur
    partner: vt
phases:
  - id: acuut
  - id: stabiel
  - id: gesloten
    closed: true
purposes:
  - id: plan
  - id: acuut-gevaar
categories:
  - id: incidenten
    owner: politie
    fields: [datum, soort, wapens]
    art10: true
    regime: wpg
  - id: in-zorg
    owner: ggz
    fields: [in-zorg, contactpersoon]
    art9: true
  - id: dossier
    owner: ggz
    fields: [diagnose]
    art9: true
legal_bases:
  - id: wpg-20
    citation: Wpg art. 20
    senders: [politie]
    categories: [incidenten]
    max_retention_days: 365
    art10_ground: true
    regime: wpg
  - id: toestemming
    citation: AVG art. 9 lid 2 sub a
    senders: [ggz]
    categories: [in-zorg]
    max_retention_days: 180
    requires: [consent]
    art9_ground: true
  - id: conflict-van-plichten
    citation: Conflict van plichten
    senders: [ggz]
    categories: [in-zorg]
    max_retention_days: 30
    requires: [gatekeeper, justification]
    art9_ground: true
rules:
  - id: R-POL
    effect: permit
    from: politie
    to: vt/casusregisseur
    categories: [incidenten]
    purposes: [plan]
    legal_basis: wpg-20
    conditions: [member]
    obligations:
      fields:
        incidenten: [datum, soort]
      retention_days: 180
  - id: R-GGZ
    effect: permit
    from: ggz
    to: vt/casusregisseur
    categories: [in-zorg]
    purposes: [plan]
    phases: [stabiel]
    legal_basis: toestemming
    conditions: [member]
    obligations:
      fields:
        in-zorg: [in-zorg, contactpersoon]
      retention_days: 90
      notify_privacy_officer: true
  - id: F-DOSSIER
    effect: forbid
    categories: [dossier]
    explanation: Nooit het dossier.
)";

// kSmallPolicy with the first occurrence of `from` (which must exist)
// replaced by `to`.
inline std::string SmallPolicyWith(std::string_view from, std::string_view to) {
  std::string text(kSmallPolicy);
  size_t at = text.find(from);
  if (at == std::string::npos) return "test error: '" + std::string(from) + "' not in the policy";
  text.replace(at, from.size(), to);
  return text;
}

}  // namespace kp::policy::testing

#endif  // KETENPOORT_TESTS_POLICY_TEST_POLICY_H_

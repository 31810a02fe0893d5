// The case-chain fuzzer's fixed world (keys, registry entries, the case) and
// its seed chains, shared by the fuzzer and the test that writes and checks
// its corpus (case_chain_corpus_test.cc). Deterministic: fixed keys, fixed
// message ids, a fixed clock and fixed salts.
#ifndef KETENPOORT_TESTS_FUZZ_CASE_CHAIN_FUZZ_SEEDS_H_
#define KETENPOORT_TESTS_FUZZ_CASE_CHAIN_FUZZ_SEEDS_H_

#include <map>
#include <string>
#include <vector>

#include "case/case_facts.h"
#include "core/identity/registry.h"
#include "tests/fuzz/envelope_fuzz_keys.h"

namespace kp::fuzz {

inline constexpr char kFuzzCase[] = "VT-2026-0001";

// "regisseur-01" (a casusregisseur), "politie-agent", "vt-01" (Veilig Thuis:
// refers, opens acute cases, coordinates) and "wijk-01" (the wijkteam's
// casuscoordinator), as the registry would have them.
inline const RegistryEntry* FuzzParticipant(const std::string& id) {
  static const std::map<std::string, RegistryEntry> entries = [] {
    std::map<std::string, RegistryEntry> m;
    RegistryEntry coordinator;
    coordinator.card.id = "regisseur-01";
    coordinator.card.kind = ParticipantKind::kCoordinator;
    coordinator.card.partner = "veiligheidsteam";
    coordinator.card.signing_key = GetFuzzKeys().coordinator.public_key;
    coordinator.role = "casusregisseur";
    m.emplace(coordinator.card.id, coordinator);
    RegistryEntry agent;
    agent.card.id = "politie-agent";
    agent.card.kind = ParticipantKind::kAgent;
    agent.card.partner = "politie";
    agent.card.signing_key = GetFuzzKeys().agent.public_key;
    m.emplace(agent.card.id, agent);
    RegistryEntry vt;
    vt.card.id = "vt-01";
    vt.card.kind = ParticipantKind::kCoordinator;
    vt.card.partner = "veilig-thuis";
    vt.card.signing_key = GetFuzzKeys().referrer.public_key;
    vt.role = "vt-medewerker";
    m.emplace(vt.card.id, vt);
    RegistryEntry wijk;
    wijk.card.id = "wijk-01";
    wijk.card.kind = ParticipantKind::kCoordinator;
    wijk.card.partner = "gemeente";
    wijk.card.signing_key = GetFuzzKeys().wijk.public_key;
    wijk.role = "casuscoordinator";
    m.emplace(wijk.card.id, wijk);
    return m;
  }();
  auto it = entries.find(id);
  return it == entries.end() ? nullptr : &it->second;
}

// Seed chains, each a serialized CaseChain: (file name, bytes).
std::vector<std::pair<std::string, std::string>> CaseChainSeeds();

}  // namespace kp::fuzz

#endif  // KETENPOORT_TESTS_FUZZ_CASE_CHAIN_FUZZ_SEEDS_H_

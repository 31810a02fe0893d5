// Participant ids and kinds, shared by identities, cards and the registry.
#ifndef KETENPOORT_CORE_IDENTITY_PARTICIPANT_H_
#define KETENPOORT_CORE_IDENTITY_PARTICIPANT_H_

#include <string>
#include <string_view>

#include "core/base/status.h"

namespace kp {

enum class ParticipantKind {
  kAgent,           // runs at a partner, answers requests
  kCoordinator,     // casusregisseur of the Veiligheidsteam
  kGateway,         // the central broker
  kPrivacyOfficer,  // reads and verifies the audit log
  kEnrolment,       // offline key that signs the registry of cards
};

// "agent", "coordinator", "gateway", "privacy-officer", "enrolment".
std::string_view ParticipantKindName(ParticipantKind kind);
Result<ParticipantKind> ParseParticipantKind(std::string_view name);

// A participant id or partner name: 1..64 characters of [a-z0-9.-], starting
// with a letter or digit. Ids appear in logs, so they must never be personal
// data (use e.g. "politie-agent", "regisseur-03").
Status ValidateParticipantId(std::string_view id, std::string_view what);

}  // namespace kp

#endif  // KETENPOORT_CORE_IDENTITY_PARTICIPANT_H_

#include "core/identity/participant.h"

namespace kp {

std::string_view ParticipantKindName(ParticipantKind kind) {
  switch (kind) {
    case ParticipantKind::kAgent: return "agent";
    case ParticipantKind::kCoordinator: return "coordinator";
    case ParticipantKind::kGateway: return "gateway";
    case ParticipantKind::kPrivacyOfficer: return "privacy-officer";
    case ParticipantKind::kEnrolment: return "enrolment";
  }
  return "unknown";
}

Result<ParticipantKind> ParseParticipantKind(std::string_view name) {
  for (ParticipantKind k : {ParticipantKind::kAgent, ParticipantKind::kCoordinator, ParticipantKind::kGateway,
                            ParticipantKind::kPrivacyOfficer, ParticipantKind::kEnrolment}) {
    if (ParticipantKindName(k) == name) return k;
  }
  return InvalidArgumentError("unknown participant kind '" + std::string(name.substr(0, 40)) +
                              "'; expected agent, coordinator, gateway, privacy-officer or enrolment");
}

Status ValidateParticipantId(std::string_view id, std::string_view what) {
  if (id.empty() || id.size() > 64) {
    return InvalidArgumentError(std::string(what) + " must be 1 to 64 characters long");
  }
  for (size_t i = 0; i < id.size(); ++i) {
    char c = id[i];
    bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!alnum && !(i > 0 && (c == '-' || c == '.'))) {
      return InvalidArgumentError(std::string(what) +
                                  " may hold only lowercase letters, digits, '-' and '.', and must start "
                                  "with a letter or digit");
    }
  }
  return OkStatus();
}

}  // namespace kp

// Casus: one case's subjects, partners, timeline and actions. (Being built: issue 15.)
#include "console/desk.h"

namespace kp::console {

void RegisterCasePages(Desk&) {}

}  // namespace kp::console

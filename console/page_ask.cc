// Informatie opvragen: what the policy allows, explained, and the requests. (Being built: issue 15.)
#include "console/desk.h"

namespace kp::console {

void RegisterAskPages(Desk&) {}

}  // namespace kp::console

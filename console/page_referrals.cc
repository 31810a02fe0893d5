// Aanmelding: referrals from Veilig Thuis (accept or decline), and a new
// case opened with a form for its subjects. (Being built: issue 15.)
#include "console/desk.h"

namespace kp::console {

void RegisterReferralPages(Desk&) {}

}  // namespace kp::console

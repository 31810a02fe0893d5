// Laten volgen and Signalen (docs/console.md; protocol §3.8): the
// coordinator asks a partner to watch subjects of a case, and sees the
// content-free signals that come back. The form (GET/POST
// /casus/ID/volgen) offers only what the policy lets the coordinator ask
// now (cases::WhatMayBeAsked, as Informatie opvragen does); the case page
// shows the watches and signals (SignalsSection), Mijn casussen the new
// signals per case (the store's NewSignalCounts).
#ifndef KETENPOORT_CONSOLE_PAGE_WATCH_H_
#define KETENPOORT_CONSOLE_PAGE_WATCH_H_

#include <string>

#include "console/desk.h"

namespace kp::console {

// The case page's "Signalen" section, rendered (signals.mustache): the
// case's signals (partner, category, subject, when, new since the case was
// last looked at, a link to Informatie opvragen), its watches with their
// state, and the "Laten volgen" button when `may_watch`. Call before the
// case is marked seen. Takes the coordinator's lock.
std::string SignalsSection(Desk& desk, const std::string& case_id, const std::string& case_purpose, bool may_watch);

// GET/POST /casus/ID/volgen.
void RegisterWatchPages(Desk& desk);

}  // namespace kp::console

#endif  // KETENPOORT_CONSOLE_PAGE_WATCH_H_

// The read log (NEN 7513): the coordinator's client records every time the
// content of a fragment is shown to a person — in the console or printed by
// the CLI — before it is shown, in its own tamper-evident log in the audit
// log format (docs/audit-log-format.md, "The coordinator's read log").
//
// The log lives in STORE/read-log (the client store's folder, 0700): the
// same records file, tree, signed checkpoints and log.vkey as the gateway's
// and the agents' logs, so `ketenpoort audit verify STORE/read-log` (or on a
// copy of the folder the privacy officer was given) checks it. Its
// checkpoints are signed with the coordinator's own Ed25519 signing key (the
// identity file's), under the origin "ketenpoort.<partner>/read-log/<id>".
//
// One FRAGMENT_SHOWN (48) record per fragment shown: who (participant id,
// partner, role from the signed registry), when (the log's time), which
// fragment (case, request id as message_id, source partner, the categories
// shown, the purpose asked, and the subjects' refs and keyed pseudonyms from
// the request as it was signed), and how (`reason`: "console: ..." or
// "cli: ..."). Never content, never a BSN or a name.
//
// Fail closed: RecordShown returns OK only once every record is durable
// (fdatasync) and covered by a signed checkpoint; a caller shows nothing on
// any other result, and says why. A record written for a showing that then
// did not happen (an error after the log) says more than happened, never
// less.
//
// The writer is opened for each showing and closed after it, so the console
// and CLI commands of the same coordinator can share the folder: a second
// process waits for the folder lock (up to kReadLogLockWaitMs) instead of
// failing at once.
//
// Not thread-safe: call it where the Coordinator is used (one thread).
#ifndef KETENPOORT_CLIENT_READ_LOG_H_
#define KETENPOORT_CLIENT_READ_LOG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "client/coordinator.h"
#include "core/base/clock.h"
#include "core/base/status.h"
#include "ketenpoort/v1/audit.pb.h"

namespace kp::client {

// The folder under the client store.
inline constexpr char kReadLogFolderName[] = "read-log";
// How long a read record is kept before `ketenpoort audit erase-expired`
// may erase its body: five years from the showing (NEN 7513's usual term
// for access logs in care; the region may keep them longer).
inline constexpr int64_t kReadLogRetentionMs = int64_t{5} * 366 * 24 * 3600 * 1000;
// How long a showing waits for another process (the console, a CLI command)
// that holds the read log's folder lock.
inline constexpr int kReadLogLockWaitMs = 5000;

// The read log keeps its latest checkpoint and, of the older ones, about one
// per this many records (each showing signs one; the latest covers all).
inline constexpr uint64_t kReadLogCheckpointStride = 256;

// STORE/read-log for the store folder `store_dir`.
std::string ReadLogDir(const std::string& store_dir);
// "ketenpoort.<partner>/read-log/<participant id>": the origin and key name
// of a coordinator's read log (from its identity, or from its card in the
// signed registry, which is how a privacy officer pins the key).
std::string ReadLogOrigin(const std::string& partner, const std::string& participant_id);
std::string ReadLogOrigin(const Identity& me);

// The FRAGMENT_SHOWN record of the delivered answer `shown` (its index and
// time are set by the log): from this client's store the request it answers
// (source partner, purpose, the subjects and pseudonyms of the signed
// request, checked against this coordinator's own signature). A fragment
// handed over by a former coordinator has no request here: its source
// partner comes from the signed registry and its subjects from the refs of
// the records shown, with pseudonyms under this client's key.
Result<ketenpoort::v1::AuditRecord> ShownRecord(Coordinator& c, const Outcome& shown, const std::string& how,
                                                int64_t now_ms);

// Records one FRAGMENT_SHOWN per outcome in `shown` (delivered answers with
// content; others are skipped) in the read log, durably, with a signed
// checkpoint over them. Call BEFORE showing; on an error show nothing.
// `how` says how it was shown, for the records' `reason`, e.g.
// "console: casuspagina" or "cli: ketenpoort case show --content".
// The Status names the read log and says what went wrong (no content, no
// personal data).
Status RecordShown(Coordinator& c, const std::vector<const Outcome*>& shown, const std::string& how,
                   const Clock& clock = SystemClock::Get());

// The writer keeps every checkpoint it signs in checkpoints/, and the read
// log signs one per showing: thousands a year, each listed when the log
// opens and checked by `audit verify`. This keeps the latest (which covers
// every record: the writer and the verifier need only it) and, of the
// others, the first at or past each multiple of kReadLogCheckpointStride
// records. RecordShown calls it; a file it cannot remove is only logged.
void ThinReadLogCheckpoints(const std::string& dir);

// True when `o` shows content (a delivered answer, not a watch's
// confirmation): what RecordShown records.
bool ShowsContent(const Outcome& o);

}  // namespace kp::client

#endif  // KETENPOORT_CLIENT_READ_LOG_H_

// WatchStore: the watches an agent keeps (docs/agent.md "Watches",
// docs/protocol.md §3.8).
//
// A watch is kept as the gateway's Authorisation, byte for byte: the
// coordinator's signed request inside it carries the subjects' identifiers
// sealed to this agent only, so nothing in this file (watches.db in the data
// folder, mode 0600, secure_delete) reads as personal data without the
// agent's sealing key; the identifiers are opened in memory at each look and
// wiped after it. Signals the gateway has not receipted are kept beside
// the watches (ids and codes only). A watch goes when it ends (its end date, the gateway's
// WATCH_ENDED notice, a refused signal) or its case closes.
//
// Not thread-safe: the agent's one thread uses it.
#ifndef KETENPOORT_AGENT_WATCHES_H_
#define KETENPOORT_AGENT_WATCHES_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/base/status.h"
#include "core/sqlite/sqlite_db.h"

namespace kp::agent {

struct KeptWatch {
  std::string watch_id;       // the watch request's id (16 bytes)
  std::string case_id;
  std::string coordinator;    // who asked (participant id)
  std::string authorisation;  // the gateway's serialized Authorisation (subject data sealed inside)
  std::vector<std::string> categories;
  int64_t started_ms = 0;
  int64_t until_ms = 0;
  int64_t last_look_ms = 0;   // changes after this are news
  bool confirmed = false;     // the gateway receipted WATCH_STARTED
};

// A signal sent and not yet receipted by the gateway: kept so that an agent
// restarted before the receipt sends it again (a CHANGED signal is news
// found once: the look that found it has moved last_look_ms on). Ids and
// codes only (docs/protocol.md §6, Signal).
struct OutgoingSignal {
  std::string message_id;  // the envelope's message id (the receipt's delivery_id)
  std::string watch_id;
  std::string body;        // the serialized Signal
  int64_t sent_ms = 0;
};

class WatchStore {
 public:
  // Opens (creating when missing) the store at `path`.
  static Result<std::unique_ptr<WatchStore>> Open(const std::string& path);
  ~WatchStore();

  Status Keep(const KeptWatch& watch);
  Result<std::optional<KeptWatch>> Get(const std::string& watch_id);
  Result<std::vector<KeptWatch>> All();
  Status SetLastLook(const std::string& watch_id, int64_t at_ms);
  Status Confirm(const std::string& watch_id);
  Status Forget(const std::string& watch_id);
  // Every watch of the case goes; how many went.
  Result<int64_t> ForgetCase(const std::string& case_id);

  // Signals without receipt. Forget/ForgetCase drop a watch's signals too.
  Status KeepSignal(const OutgoingSignal& signal);
  Status DropSignal(const std::string& message_id);
  Result<std::vector<OutgoingSignal>> Outgoing();

 private:
  explicit WatchStore(std::unique_ptr<sqlite::Database> db) : db_(std::move(db)) {}
  std::unique_ptr<sqlite::Database> db_;
};

}  // namespace kp::agent

#endif  // KETENPOORT_AGENT_WATCHES_H_

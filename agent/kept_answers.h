// KeptAnswers: the answers an agent sent and the gateway has not yet
// confirmed (docs/agent.md, "Answers are kept until the gateway's receipt").
//
// An answer is kept from before it is sent until the gateway's RECEIPT for
// its request arrives (and, receipted, until its request expires: a
// restored gateway may ask for it again), in one SQLite file in the data folder
// (answers.db, mode 0600, synchronous=FULL). After a reconnect, and
// periodically while no receipt came, it is sent again in a freshly signed
// envelope around the same FragmentDelivery body (the sealed content, signed
// once, is never made again), so a crash of the gateway or of the agent, or
// a lost connection, costs no answer and never a second disclosure. An
// answer the gateway refuses for good (the request expired or is unknown)
// is dropped and recorded as not delivered.
//
// What is kept is the sealed delivery: ciphertext for the one coordinator,
// the categories and ids. No personal data in the clear.
//
// Not thread-safe: the agent's one thread uses it.
#ifndef KETENPOORT_AGENT_KEPT_ANSWERS_H_
#define KETENPOORT_AGENT_KEPT_ANSWERS_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/base/status.h"
#include "core/sqlite/sqlite_db.h"

namespace kp::agent {

struct KeptAnswer {
  std::string request_id;  // 16 bytes
  std::string case_id;
  std::string delivery;  // serialized FragmentDelivery (the envelope body)
  int64_t kept_ms = 0;
  int64_t expires_ms = 0;  // the authorisation's end: the gateway refuses it after this
  bool receipted = false;  // the gateway's receipt came (Get only)
};

class KeptAnswers {
 public:
  // Opens (creating when missing) the store at `path`.
  static Result<std::unique_ptr<KeptAnswers>> Open(const std::string& path);
  ~KeptAnswers();

  // Several Keep/Forget in one transaction (one sync): a burst of answers.
  Status Begin();
  Status Commit();
  void Rollback();

  Status Keep(const KeptAnswer& answer);
  // A kept answer, receipted or not.
  Result<std::optional<KeptAnswer>> Get(const std::string& request_id);
  Status Forget(const std::string& request_id);
  // The gateway's receipts came: the answers are no longer sent again by
  // themselves, but stay (sealed) until their request's expiry, so a gateway
  // restored from a backup, which lost the delivery, gets it again when it
  // or the coordinator asks again (docs/operations.md, "Backup and
  // restore"). At most once a second, also drops receipted answers whose
  // request expired by `now_ms`. In one transaction of its own (call it
  // outside Begin/Commit), on a second connection whose commits are not
  // synced (synchronous=NORMAL: the next Keep's commit, or SQLite's
  // checkpoint, takes them to the disk): a mark a crash loses only means the
  // answer goes again, and the gateway, which deduplicates, receipts it
  // again (protocol §6.1).
  struct Receipted {
    std::string request_id;
    uint64_t gateway_log_index = 0;
  };
  Status MarkReceipted(const std::vector<Receipted>& receipted, int64_t now_ms);
  // Asked again after its receipt: sent again until a new receipt comes.
  Status MarkNotReceipted(const std::string& request_id);
  // The answers without a receipt (to send again), and how many.
  Result<std::vector<KeptAnswer>> All();
  Result<int64_t> Count();

 private:
  explicit KeptAnswers(std::unique_ptr<sqlite::Database> db) : db_(std::move(db)) {}
  std::unique_ptr<sqlite::Database> db_;
  std::unique_ptr<sqlite::Database> marks_db_;  // the same file, synchronous=NORMAL: MarkReceipted only
  int64_t last_prune_ms_ = 0;                   // when receipted, expired answers were last dropped
};

}  // namespace kp::agent

#endif  // KETENPOORT_AGENT_KEPT_ANSWERS_H_

#include "client/coordinator_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>

#include "core/base/file_util.h"
#include "core/base/logging.h"
#include "core/crypto/aead.h"

namespace kp::client {

namespace v1 = ketenpoort::v1;
using sqlite::Stmt;

namespace {

constexpr char kKeyContext[] = "ketenpoort/v1/coordinator-store/subject-key";

constexpr char kSchema[] = R"sql(
CREATE TABLE IF NOT EXISTS cases(
  id TEXT PRIMARY KEY, purpose TEXT NOT NULL, phase TEXT NOT NULL, opened_ms INTEGER NOT NULL,
  closed INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS partners(
  case_id TEXT NOT NULL, partner TEXT NOT NULL, admitted_ms INTEGER NOT NULL, PRIMARY KEY(case_id, partner));
CREATE TABLE IF NOT EXISTS subjects(
  case_id TEXT NOT NULL, ref TEXT NOT NULL, role INTEGER NOT NULL, sealed BLOB NOT NULL, PRIMARY KEY(case_id, ref));
CREATE TABLE IF NOT EXISTS requests(
  request_id BLOB PRIMARY KEY, case_id TEXT NOT NULL, partner TEXT NOT NULL, agent TEXT NOT NULL,
  categories TEXT NOT NULL, purpose TEXT NOT NULL, sent_ms INTEGER NOT NULL, state INTEGER NOT NULL,
  refusal TEXT NOT NULL DEFAULT '', answered_ms INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS requests_by_case ON requests(case_id, sent_ms);
CREATE TABLE IF NOT EXISTS fragments(
  request_id BLOB PRIMARY KEY, case_id TEXT NOT NULL, source TEXT NOT NULL, received_ms INTEGER NOT NULL,
  retain_until_ms INTEGER NOT NULL, delivery BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS fragments_by_retention ON fragments(retain_until_ms);
CREATE TABLE IF NOT EXISTS case_closed(case_id TEXT PRIMARY KEY, closed_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS approval_waits(request_id BLOB PRIMARY KEY, decide_by_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS case_chain(
  case_id TEXT NOT NULL, seq INTEGER NOT NULL, hash BLOB NOT NULL, envelope BLOB NOT NULL, PRIMARY KEY(case_id, seq));
CREATE TABLE IF NOT EXISTS case_unsure(case_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS case_status(case_id TEXT PRIMARY KEY, status BLOB NOT NULL, at_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS referrals(
  id BLOB PRIMARY KEY, received INTEGER NOT NULL, sender TEXT NOT NULL, at_ms INTEGER NOT NULL, body BLOB NOT NULL,
  envelope BLOB NOT NULL, state INTEGER NOT NULL, case_id TEXT NOT NULL DEFAULT '', decided_by TEXT NOT NULL DEFAULT '',
  reason_code TEXT NOT NULL DEFAULT '', decided_ms INTEGER NOT NULL DEFAULT 0, subjects BLOB NOT NULL DEFAULT x'');
CREATE TABLE IF NOT EXISTS case_seen(case_id TEXT PRIMARY KEY, seen_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS watches(
  watch_id BLOB PRIMARY KEY, case_id TEXT NOT NULL, partner TEXT NOT NULL, agent TEXT NOT NULL,
  categories TEXT NOT NULL, subjects TEXT NOT NULL, sent_ms INTEGER NOT NULL, until_ms INTEGER NOT NULL,
  state INTEGER NOT NULL DEFAULT 0, reason TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS signals(
  signal_id BLOB PRIMARY KEY, watch_id BLOB NOT NULL, case_id TEXT NOT NULL, partner TEXT NOT NULL,
  subject_ref TEXT NOT NULL, category TEXT NOT NULL, changed_at_ms INTEGER NOT NULL, received_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS signals_by_case ON signals(case_id, received_ms);
CREATE TABLE IF NOT EXISTS request_accepts(request_id BLOB PRIMARY KEY, audit_index INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS handover_parts(
  case_id TEXT NOT NULL, offer BLOB NOT NULL, part INTEGER NOT NULL, parts INTEGER NOT NULL, received_ms INTEGER NOT NULL,
  PRIMARY KEY(case_id, offer, part));
)sql";

constexpr char kContentContext[] = "ketenpoort/v1/coordinator-store/fragment-content";
constexpr char kReferralContext[] = "ketenpoort/v1/coordinator-store/referral-subjects";

std::string BoundTo(const char* context, const std::string& id) { return std::string(context) + '\0' + id; }

std::string SubjectAd(const std::string& case_id, const std::string& ref) {
  return std::string("ketenpoort/v1/coordinator-store/subject") + '\0' + case_id + '\0' + ref;
}

// The database file exists with mode 0600 before SQLite opens it: SQLite
// gives its -wal and -shm files the same mode.
Status CreatePrivateFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return UnavailableError("cannot create " + path + ": " + std::strerror(errno));
  struct stat st {};
  int rc = ::fstat(fd, &st);
  ::close(fd);
  if (rc != 0) return UnavailableError("cannot read the mode of " + path);
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%03o", static_cast<unsigned>(st.st_mode & 0777));
    return PermissionDeniedError(path + " may be read by others (mode " + mode + "); run: chmod 600 " + path);
  }
  return OkStatus();
}

RequestInfo RequestFromRow(Stmt& q) {
  RequestInfo r;
  r.request_id = q.Col(0);
  r.case_id = q.Col(1);
  r.partner = q.Col(2);
  r.agent = q.Col(3);
  r.categories = sqlite::SplitIds(q.Col(4));
  r.purpose = q.Col(5);
  r.sent_ms = q.ColInt(6);
  r.state = static_cast<RequestState>(q.ColInt(7));
  r.refusal = q.Col(8);
  r.answered_ms = q.ColInt(9);
  r.envelope = q.Col(10);
  r.accepted = q.ColInt(11) != 0;
  return r;
}

constexpr char kRequestColumns[] =
    "SELECT request_id, case_id, partner, agent, categories, purpose, sent_ms, state, refusal, answered_ms, "
    "envelope, accepted FROM requests ";

// Stores made before requests kept their signed envelope and the gateway's
// acceptance gain the two columns.
Status Migrate(sqlite::Database& db) {
  bool has_envelope = false, has_accepted = false;
  {
    Stmt q(db, "SELECT name FROM pragma_table_info('requests')");
    while (true) {
      KP_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      has_envelope |= q.Col(0) == "envelope";
      has_accepted |= q.Col(0) == "accepted";
    }
  }
  if (!has_envelope)
    KP_RETURN_IF_ERROR(db.Exec("ALTER TABLE requests ADD COLUMN envelope BLOB NOT NULL DEFAULT x''"));
  if (!has_accepted)
    KP_RETURN_IF_ERROR(db.Exec("ALTER TABLE requests ADD COLUMN accepted INTEGER NOT NULL DEFAULT 0"));
  // Stores made before handovers gain the handed-over content of a fragment.
  bool has_content = false;
  {
    Stmt q(db, "SELECT name FROM pragma_table_info('fragments')");
    while (true) {
      KP_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      has_content |= q.Col(0) == "content";
    }
  }
  if (!has_content) {
    KP_RETURN_IF_ERROR(
        db.Exec("ALTER TABLE fragments ADD COLUMN content BLOB NOT NULL DEFAULT x''; "
                "ALTER TABLE fragments ADD COLUMN handed_by TEXT NOT NULL DEFAULT ''"));
  }
  // A term counted from the case's closure gets its own column; stores that
  // kept it as a negative retain_until_ms (issue 16's first encoding) move it.
  bool has_after_closure = false;
  {
    Stmt q(db, "SELECT name FROM pragma_table_info('fragments')");
    while (true) {
      KP_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      has_after_closure |= q.Col(0) == "retain_after_closure_ms";
    }
  }
  if (!has_after_closure) {
    KP_RETURN_IF_ERROR(
        db.Exec("ALTER TABLE fragments ADD COLUMN retain_after_closure_ms INTEGER NOT NULL DEFAULT 0; "
                "UPDATE fragments SET retain_after_closure_ms = -retain_until_ms, retain_until_ms = 0 "
                "WHERE retain_until_ms < 0"));
  }
  return OkStatus();
}

}  // namespace

std::string_view RequestStateName(RequestState s) {
  switch (s) {
    case RequestState::kPending:
      return "waiting";
    case RequestState::kDelivered:
      return "delivered";
    case RequestState::kRefused:
      return "refused";
    case RequestState::kFailed:
      return "failed";
  }
  return "unknown";
}

namespace {

// The store key is derived from the sealing key; a key rotation
// (docs/formats.md §2.4) changes it. The store keeps a check value sealed
// under its key, and at the first open with a new active key whose key ring
// holds the previous one it re-seals every sealed item under the new key in
// one transaction, so the old key is not needed afterwards.
constexpr char kKeyCheckAd[] = "ketenpoort/v1/coordinator-store/key-check";
constexpr char kKeyCheckPlain[] = "ketenpoort coordinator store key";

// A sealed column: the query of (id parts..., sealed) and how its
// associated data is made from the row.
struct SealedColumn {
  const char* select;  // columns: a, b, sealed
  const char* update;  // binds: sealed, a, b
  std::string (*ad)(const std::string& a, const std::string& b);
  bool blob_key;  // `a` is a BLOB column (bound as one)
};

const SealedColumn kSealedColumns[] = {
    {"SELECT case_id, ref, sealed FROM subjects",
     "UPDATE subjects SET sealed = ? WHERE case_id = ? AND ref = ?",
     [](const std::string& a, const std::string& b) { return SubjectAd(a, b); }, false},
    {"SELECT request_id, '', content FROM fragments WHERE length(content) > 0",
     "UPDATE fragments SET content = ? WHERE request_id = ? AND '' = ?",
     [](const std::string& a, const std::string&) { return BoundTo(kContentContext, a); }, true},
    {"SELECT id, '', subjects FROM referrals WHERE length(subjects) > 0",
     "UPDATE referrals SET subjects = ? WHERE id = ? AND '' = ?",
     [](const std::string& a, const std::string&) { return BoundTo(kReferralContext, a); }, true},
};

// Which of `keys` the store's items are sealed with: the check value's, else
// (a store made before it) the first sealed item's; -1 for none of them,
// and `empty` when the store holds nothing sealed yet.
Result<int> SealedWith(sqlite::Database& db, const std::vector<SecretBytes>& keys, bool* empty) {
  *empty = false;
  std::string sealed, ad;
  {
    Stmt q(db, "SELECT check_value FROM store_key WHERE id = 1");
    KP_ASSIGN_OR_RETURN(bool row, q.Step());
    if (row) {
      sealed = q.Col(0);
      ad = kKeyCheckAd;
    }
  }
  for (const SealedColumn& c : kSealedColumns) {
    if (!sealed.empty()) break;
    Stmt q(db, (std::string(c.select) + " LIMIT 1").c_str());
    KP_ASSIGN_OR_RETURN(bool row, q.Step());
    if (row) {
      sealed = q.Col(2);
      ad = c.ad(q.Col(0), q.Col(1));
    }
  }
  if (sealed.empty()) {
    *empty = true;
    return 0;
  }
  for (size_t i = 0; i < keys.size(); ++i) {
    if (AeadOpen(keys[i], sealed, ad).ok()) return static_cast<int>(i);
  }
  return -1;
}

// Re-seals every sealed item from `from` to `to` and sets the check value,
// all in one transaction.
Status ReSeal(sqlite::Database& db, const SecretBytes& from, const SecretBytes& to, uint64_t* count) {
  KP_RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
  auto body = [&]() -> Status {
    for (const SealedColumn& c : kSealedColumns) {
      std::vector<std::array<std::string, 3>> rows;
      {
        Stmt q(db, c.select);
        while (true) {
          KP_ASSIGN_OR_RETURN(bool row, q.Step());
          if (!row) break;
          rows.push_back({q.Col(0), q.Col(1), q.Col(2)});
        }
      }
      for (const auto& r : rows) {
        const std::string ad = c.ad(r[0], r[1]);
        auto plain = AeadOpen(from, r[2], ad);
        if (!plain.ok()) {
          return DataLossError(
              "a sealed item of the store does not decrypt with the previous key either: the "
              "store was changed");
        }
        Stmt u(db, c.update);
        u.Bind(AeadSeal(to, plain->view(), ad));
        if (c.blob_key) {
          u.Bind(r[0]);
        } else {
          u.Text(r[0]);
        }
        KP_RETURN_IF_ERROR(u.Text(r[1]).Run());
        ++*count;
      }
    }
    return Stmt(db, "INSERT OR REPLACE INTO store_key(id, check_value) VALUES(1, ?)")
        .Bind(AeadSeal(to, kKeyCheckPlain, kKeyCheckAd))
        .Run();
  };
  Status s = body();
  if (!s.ok()) {
    (void)db.Exec("ROLLBACK");
    return s;
  }
  return db.Exec("COMMIT");
}

// The store's key under `me`'s active sealing key, the store re-sealed to
// it when a key of `me`'s key ring sealed it.
Result<SecretBytes> StoreKey(sqlite::Database& db, const Identity& me, const std::string& dir) {
  KP_RETURN_IF_ERROR(
      db.Exec("CREATE TABLE IF NOT EXISTS store_key(id INTEGER PRIMARY KEY CHECK (id = 1), check_value BLOB "
              "NOT NULL)"));
  std::vector<SecretBytes> keys;  // the active key's first, then the key ring's
  for (const X25519KeyPair* k : me.SealingRing()) keys.push_back(DeriveKey(k->secret_key, kKeyContext));
  bool empty = false;
  KP_ASSIGN_OR_RETURN(int with, SealedWith(db, keys, &empty));
  if (with == 0) {
    if (empty) {
      KP_RETURN_IF_ERROR(Stmt(db, "INSERT OR REPLACE INTO store_key(id, check_value) VALUES(1, ?)")
                             .Bind(AeadSeal(keys[0], kKeyCheckPlain, kKeyCheckAd))
                             .Run());
    }
    return std::move(keys[0]);
  }
  if (with < 0) {
    return FailedPreconditionError(
        "the coordinator store " + dir + " was sealed with a key that is neither " + me.id() +
        "'s active key nor one of its key ring (after keygen --activate, keep "
        "ID.previous.secret beside the identity file until the client has opened its "
        "store once; docs/operations.md, \"Key rotation\")");
  }
  uint64_t count = 0;
  KP_RETURN_IF_ERROR(ReSeal(db, keys[static_cast<size_t>(with)], keys[0], &count)
                         .WithContext("re-sealing the coordinator store " + dir + " under the new key"));
  spdlog::info("coordinator store {}: {} sealed item(s) re-sealed under the new key of {} (key rotation)",
               dir, count, me.id());
  return std::move(keys[0]);
}

}  // namespace

CoordinatorStore::CoordinatorStore(std::unique_ptr<sqlite::Database> db, SecretBytes key)
    : db_(std::move(db)), key_(std::move(key)) {}

CoordinatorStore::~CoordinatorStore() = default;

Result<std::unique_ptr<CoordinatorStore>> CoordinatorStore::Open(const std::string& dir, const Identity& me) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return UnavailableError("cannot make the store folder " + dir + ": " + std::strerror(errno));
  }
  KP_RETURN_IF_ERROR(CheckDirNotGroupOrWorldWritable(dir));
  const std::string path = DatabasePath(dir);
  KP_RETURN_IF_ERROR(CreatePrivateFile(path));
  KP_ASSIGN_OR_RETURN(auto db, sqlite::Database::Open(path, "coordinator store"));
  KP_RETURN_IF_ERROR(
      db->Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA secure_delete=ON; PRAGMA "
               "busy_timeout=5000;"));
  KP_RETURN_IF_ERROR(db->Exec(kSchema));
  KP_RETURN_IF_ERROR(Migrate(*db));
  KP_ASSIGN_OR_RETURN(SecretBytes key, StoreKey(*db, me, dir));
  return std::unique_ptr<CoordinatorStore>(new CoordinatorStore(std::move(db), std::move(key)));
}

Status CoordinatorStore::Begin() {
  if (unsynced_) KP_RETURN_IF_ERROR(EndUnsynced());
  return db_->Exec("BEGIN IMMEDIATE");
}

Status CoordinatorStore::BeginUnsynced() {
  // SQLite takes the safety level at commit time, and refuses to change it
  // inside a transaction: it is set before BEGIN and put back after the end.
  KP_RETURN_IF_ERROR(db_->Exec("PRAGMA synchronous=NORMAL"));
  unsynced_ = true;
  Status s = db_->Exec("BEGIN IMMEDIATE");
  if (!s.ok()) (void)EndUnsynced();
  return s;
}

Status CoordinatorStore::EndUnsynced() {
  if (!unsynced_ || !sqlite3_get_autocommit(db_->get())) return OkStatus();
  KP_RETURN_IF_ERROR(db_->Exec("PRAGMA synchronous=FULL"));
  unsynced_ = false;
  return OkStatus();
}

Status CoordinatorStore::Commit() {
  Status s = db_->Exec("COMMIT");
  Status back = EndUnsynced();
  return s.ok() ? back : s;
}

Result<bool> CoordinatorStore::CommitsAreSynced() {
  Stmt q(*db_, "PRAGMA synchronous");
  KP_ASSIGN_OR_RETURN(bool row, q.Step());
  return row && q.ColInt(0) >= 2;  // 2 FULL, 3 EXTRA
}

void CoordinatorStore::Rollback() {
  (void)db_->Exec("ROLLBACK");
  (void)EndUnsynced();
}

Status CoordinatorStore::AppendCommand(const std::string& case_id, uint64_t seq, const std::string& hash,
                                       const std::string& envelope) {
  return Stmt(*db_, "INSERT INTO case_chain(case_id, seq, hash, envelope) VALUES(?,?,?,?)")
      .Text(case_id)
      .Int(static_cast<int64_t>(seq))
      .Bind(hash)
      .Bind(envelope)
      .Run();
}

Result<std::vector<std::string>> CoordinatorStore::Chain(const std::string& case_id) {
  std::vector<std::string> out;
  Stmt q(*db_, "SELECT envelope FROM case_chain WHERE case_id=? ORDER BY seq");
  q.Text(case_id);
  while (true) {
    KP_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    out.push_back(q.Col(0));
  }
  return out;
}

Result<CoordinatorStore::Head> CoordinatorStore::ChainHead(const std::string& case_id) {
  Head h;
  Stmt q(*db_, "SELECT seq, hash FROM case_chain WHERE case_id=? ORDER BY seq DESC LIMIT 1");
  q.Text(case_id);
  KP_ASSIGN_OR_RETURN(bool row, q.Step());
  if (row) {
    h.length = static_cast<uint64_t>(q.ColInt(0)) + 1;
    h.hash = q.Col(1);
  }
  Stmt u(*db_, "SELECT 1 FROM case_unsure WHERE case_id=?");
  u.Text(case_id);
  KP_ASSIGN_OR_RETURN(h.unsure, u.Step());
  return h;
}

Status CoordinatorStore::ReplaceChain(const std::string& case_id, const std::vector<std::string>& envelopes,
                                      const std::vector<std::string>& hashes) {
  KP_RETURN_IF_ERROR(Stmt(*db_, "DELETE FROM case_chain WHERE case_id=?").Text(case_id).Run());
  for (size_t i = 0; i < envelopes.size(); ++i) {
    KP_RETURN_IF_ERROR(AppendCommand(case_id, i, hashes[i], envelopes[i]));
  }
  return SetChainUnsure(case_id, false);
}

Status CoordinatorStore::SetChainUnsure(const std::string& case_id, bool unsure) {
  if (unsure) return Stmt(*db_, "INSERT OR IGNORE INTO case_unsure(case_id) VALUES(?)").Text(case_id).Run();
  return Stmt(*db_, "DELETE FROM case_unsure WHERE case_id=?").Text(case_id).Run();
}

Status CoordinatorStore::PutCase(const CaseInfo& c) {
  return Stmt(*db_,
              "INSERT INTO cases(id, purpose, phase, opened_ms, closed) VALUES(?, ?, ?, ?, ?) "
              "ON CONFLICT(id) DO UPDATE SET phase = excluded.phase, closed = excluded.closed")
      .Text(c.id)
      .Text(c.purpose)
      .Text(c.phase)
      .Int(c.opened_ms)
      .Int(c.closed ? 1 : 0)
      .Run();
}

Status CoordinatorStore::AddPartner(const std::string& case_id, const std::string& partner, int64_t now_ms) {
  return Stmt(*db_, "INSERT OR IGNORE INTO partners(case_id, partner, admitted_ms) VALUES(?, ?, ?)")
      .Text(case_id)
      .Text(partner)
      .Int(now_ms)
      .Run();
}

Status CoordinatorStore::RemovePartner(const std::string& case_id, const std::string& partner) {
  return Stmt(*db_, "DELETE FROM partners WHERE case_id = ? AND partner = ?")
      .Text(case_id)
      .Text(partner)
      .Run();
}

Status CoordinatorStore::PutStatus(const std::string& case_id, const v1::CaseStatus& status, int64_t at_ms) {
  return Stmt(*db_, "INSERT OR REPLACE INTO case_status(case_id, status, at_ms) VALUES(?, ?, ?)")
      .Text(case_id)
      .Bind(status.SerializeAsString())
      .Int(at_ms)
      .Run();
}

Result<std::optional<KnownStatus>> CoordinatorStore::GetStatus(const std::string& case_id) {
  Stmt q(*db_, "SELECT status, at_ms FROM case_status WHERE case_id = ?");
  KP_ASSIGN_OR_RETURN(bool row, q.Text(case_id).Step());
  if (!row) return std::optional<KnownStatus>();
  KnownStatus k;
  const std::string bytes = q.Col(0);
  if (!k.status.ParseFromString(bytes))
    return DataLossError("the stored status of case " + case_id + " is damaged");
  k.at_ms = q.ColInt(1);
  return std::optional<KnownStatus>(std::move(k));
}

Result<CaseInfo> CoordinatorStore::GetCase(const std::string& case_id) {
  Stmt q(*db_, "SELECT id, purpose, phase, opened_ms, closed FROM cases WHERE id = ?");
  KP_ASSIGN_OR_RETURN(bool row, q.Text(case_id).Step());
  if (!row) return NotFoundError("case " + case_id + " is not in this coordinator's store");
  CaseInfo c{q.Col(0), q.Col(1), q.Col(2), q.ColInt(3), q.ColInt(4) != 0, {}};
  Stmt p(*db_, "SELECT partner FROM partners WHERE case_id = ? ORDER BY admitted_ms, partner");
  p.Text(case_id);
  while (true) {
    KP_ASSIGN_OR_RETURN(bool more, p.Step());
    if (!more) break;
    c.partners.push_back(p.Col(0));
  }
  return c;
}

Result<std::vector<CaseInfo>> CoordinatorStore::ListCases() {
  std::vector<std::string> ids;
  {
    Stmt q(*db_, "SELECT id FROM cases ORDER BY opened_ms, id");
    while (true) {
      KP_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      ids.push_back(q.Col(0));
    }
  }
  std::vector<CaseInfo> out;
  for (const auto& id : ids) {
    KP_ASSIGN_OR_RETURN(CaseInfo c, GetCase(id));
    out.push_back(std::move(c));
  }
  return out;
}

Result<std::vector<CoordinatorStore::CaseSummary>> CoordinatorStore::CaseSummaries(
    int64_t expiring_before_ms) {
  std::vector<CaseSummary> out;
  std::map<std::string, size_t> index;
  {
    Stmt q(*db_,
           "SELECT c.id, c.purpose, c.phase, c.opened_ms, c.closed, COALESCE(s.seen_ms, 0), "
           "(SELECT COUNT(*) FROM partners p WHERE p.case_id = c.id), st.status, COALESCE(st.at_ms, 0) "
           "FROM cases c LEFT JOIN case_seen s ON s.case_id = c.id LEFT JOIN case_status st ON st.case_id = "
           "c.id "
           "ORDER BY c.opened_ms, c.id");
    while (true) {
      KP_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      CaseSummary c;
      c.info.id = q.Col(0);
      c.info.purpose = q.Col(1);
      c.info.phase = q.Col(2);
      c.info.opened_ms = q.ColInt(3);
      c.info.closed = q.ColInt(4) != 0;
      c.seen_ms = q.ColInt(5);
      c.partners = static_cast<size_t>(q.ColInt(6));
      const std::string status = q.Col(7);
      if (!status.empty()) {
        KnownStatus known;
        if (!known.status.ParseFromString(status))
          return DataLossError("the stored status of case " + c.info.id + " is damaged");
        known.at_ms = q.ColInt(8);
        c.status = std::move(known);
      }
      index[c.info.id] = out.size();
      out.push_back(std::move(c));
    }
  }
  {
    Stmt q(
        *db_,
        "SELECT r.case_id, COUNT(*), SUM(r.state = ?), "
        "SUM(r.state != ? AND r.answered_ms > COALESCE(s.seen_ms, 0) "
        "AND NOT (r.state = ? AND r.request_id IN (SELECT watch_id FROM watches))) "           // a watch's
                                                                                               // confirmation
        "FROM requests r LEFT JOIN case_seen s ON s.case_id = r.case_id GROUP BY r.case_id");  // is no answer
    q.Int(static_cast<int64_t>(RequestState::kPending))
        .Int(static_cast<int64_t>(RequestState::kPending))
        .Int(static_cast<int64_t>(RequestState::kDelivered));
    while (true) {
      KP_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      auto it = index.find(q.Col(0));
      if (it == index.end()) continue;
      out[it->second].requests = static_cast<size_t>(q.ColInt(1));
      out[it->second].waiting = static_cast<size_t>(q.ColInt(2));
      out[it->second].new_answers = static_cast<size_t>(q.ColInt(3));
    }
  }
  {
    // A term from closure expires only once the case closed (case_closed).
    Stmt q(
        *db_,
        "SELECT case_id, COUNT(*), SUM(CASE WHEN retain_after_closure_ms > 0 THEN COALESCE((SELECT "
        "c.closed_ms + "
        "fragments.retain_after_closure_ms < ?1 FROM case_closed c WHERE c.case_id = fragments.case_id), 0) "
        "ELSE retain_until_ms < ?1 END) FROM fragments GROUP BY case_id");
    q.Int(expiring_before_ms);
    while (true) {
      KP_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      auto it = index.find(q.Col(0));
      if (it == index.end()) continue;
      out[it->second].fragments = static_cast<size_t>(q.ColInt(1));
      out[it->second].expiring = static_cast<size_t>(q.ColInt(2));
    }
  }
  return out;
}

Status CoordinatorStore::MarkCaseSeen(const std::string& case_id, int64_t at_ms) {
  return Stmt(*db_, "INSERT OR REPLACE INTO case_seen(case_id, seen_ms) VALUES(?, ?)")
      .Text(case_id)
      .Int(at_ms)
      .Run();
}

Status CoordinatorStore::PutSubject(const std::string& case_id, const v1::Subject& subject) {
  std::string plain = subject.SerializeAsString();
  const std::string sealed = AeadSeal(key_, plain, SubjectAd(case_id, subject.ref()));
  SecureWipe(plain.data(), plain.size());
  return Stmt(*db_, "INSERT OR REPLACE INTO subjects(case_id, ref, role, sealed) VALUES(?, ?, ?, ?)")
      .Text(case_id)
      .Text(subject.ref())
      .Int(subject.role())
      .Bind(sealed)
      .Run();
}

Result<std::vector<v1::Subject>> CoordinatorStore::Subjects(const std::string& case_id) {
  Stmt q(*db_, "SELECT ref, sealed FROM subjects WHERE case_id = ? ORDER BY ref");
  q.Text(case_id);
  std::vector<v1::Subject> out;
  while (true) {
    KP_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    const std::string ref = q.Col(0);
    const std::string sealed = q.Col(1);
    auto plain = AeadOpen(key_, sealed, SubjectAd(case_id, ref));
    if (!plain.ok()) {
      return DataLossError("the stored data of subject " + ref + " of case " + case_id +
                           " does not decrypt: the store was changed, or belongs to another identity");
    }
    v1::Subject s;
    bool parsed = s.ParseFromArray(plain->data(), static_cast<int>(plain->size()));
    if (!parsed || s.ref() != ref) return DataLossError("the stored data of subject " + ref + " is damaged");
    out.push_back(std::move(s));
  }
  return out;
}

Status CoordinatorStore::AddRequest(const RequestInfo& r) {
  return Stmt(*db_,
              "INSERT INTO requests(request_id, case_id, partner, agent, categories, purpose, sent_ms, "
              "state, envelope) "
              "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)")
      .Bind(r.request_id)
      .Text(r.case_id)
      .Text(r.partner)
      .Text(r.agent)
      .Text(sqlite::JoinIds(r.categories))
      .Text(r.purpose)
      .Int(r.sent_ms)
      .Int(static_cast<int64_t>(RequestState::kPending))
      .Bind(r.envelope)
      .Run();
}

Status CoordinatorStore::MarkAccepted(const std::string& request_id) {
  return Stmt(*db_, "UPDATE requests SET accepted = 1, refusal = '' WHERE request_id = ? AND accepted = 0")
      .Bind(request_id)
      .Run();
}

Result<std::optional<uint64_t>> CoordinatorStore::AcceptedIndex(const std::string& request_id) {
  Stmt q(*db_, "SELECT audit_index FROM request_accepts WHERE request_id = ?");
  KP_ASSIGN_OR_RETURN(bool row, q.Bind(request_id).Step());
  if (!row) return std::optional<uint64_t>();
  return std::optional<uint64_t>(static_cast<uint64_t>(q.ColInt(0)));
}

Status CoordinatorStore::SetAcceptedIndex(const std::string& request_id, uint64_t audit_index) {
  return Stmt(*db_, "INSERT OR REPLACE INTO request_accepts(request_id, audit_index) VALUES(?, ?)")
      .Bind(request_id)
      .Int(static_cast<int64_t>(audit_index))
      .Run();
}

Result<std::vector<RequestInfo>> CoordinatorStore::WaitingRequests() {
  Stmt q(*db_, (std::string(kRequestColumns) + "WHERE state = ? ORDER BY sent_ms").c_str());
  q.Int(static_cast<int64_t>(RequestState::kPending));
  std::vector<RequestInfo> out;
  while (true) {
    KP_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    out.push_back(RequestFromRow(q));
  }
  return out;
}

Status CoordinatorStore::MarkNotAccepted(const std::string& request_id, const std::string& reason) {
  return Stmt(*db_, "UPDATE requests SET refusal = ? WHERE request_id = ? AND state = ? AND accepted = 0")
      .Text(reason)
      .Bind(request_id)
      .Int(static_cast<int64_t>(RequestState::kPending))
      .Run();
}

Result<std::optional<RequestInfo>> CoordinatorStore::GetRequest(const std::string& request_id) {
  Stmt q(*db_, (std::string(kRequestColumns) + "WHERE request_id = ?").c_str());
  KP_ASSIGN_OR_RETURN(bool row, q.Bind(request_id).Step());
  if (!row) return std::optional<RequestInfo>();
  return std::optional<RequestInfo>(RequestFromRow(q));
}

Result<std::vector<RequestInfo>> CoordinatorStore::Requests(const std::string& case_id) {
  Stmt q(*db_, (std::string(kRequestColumns) + "WHERE ? = '' OR case_id = ? ORDER BY sent_ms").c_str());
  q.Text(case_id).Text(case_id);
  std::vector<RequestInfo> out;
  while (true) {
    KP_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    out.push_back(RequestFromRow(q));
  }
  return out;
}

namespace {

// A pending request ends refused or failed, with the reason the coordinator sees.
Status FinishPending(sqlite::Database& db, const std::string& request_id, RequestState state,
                     const std::string& reason, int64_t now_ms) {
  return Stmt(
             db,
             "UPDATE requests SET state = ?, refusal = ?, answered_ms = ? WHERE request_id = ? AND state = ?")
      .Int(static_cast<int64_t>(state))
      .Text(reason)
      .Int(now_ms)
      .Bind(request_id)
      .Int(static_cast<int64_t>(RequestState::kPending))
      .Run();
}

}  // namespace

Status CoordinatorStore::MarkRefused(const std::string& request_id, const std::string& reason,
                                     int64_t now_ms) {
  return FinishPending(*db_, request_id, RequestState::kRefused, reason, now_ms);
}

Status CoordinatorStore::MarkFailed(const std::string& request_id, const std::string& reason,
                                    int64_t now_ms) {
  return FinishPending(*db_, request_id, RequestState::kFailed, reason, now_ms);
}

Status CoordinatorStore::PutFragment(const StoredFragment& f) {
  KP_RETURN_IF_ERROR(db_->Exec("SAVEPOINT fragment"));
  Status s =
      Stmt(*db_,
           "INSERT INTO fragments(request_id, case_id, source, received_ms, retain_until_ms, delivery, "
           "retain_after_closure_ms) VALUES(?, ?, ?, ?, ?, ?, ?)")
          .Bind(f.request_id)
          .Text(f.case_id)
          .Text(f.source)
          .Int(f.received_ms)
          .Int(f.retain_until_ms)
          .Bind(f.delivery)
          .Int(f.retain_after_closure_ms)
          .Run();
  if (s.ok()) {
    s = Stmt(*db_, "UPDATE requests SET state = ?, answered_ms = ? WHERE request_id = ?")
            .Int(static_cast<int64_t>(RequestState::kDelivered))
            .Int(f.received_ms)
            .Bind(f.request_id)
            .Run();
  }
  if (!s.ok()) {
    (void)db_->Exec("ROLLBACK TO fragment; RELEASE fragment");
    return s;
  }
  return db_->Exec("RELEASE fragment");
}

Status CoordinatorStore::PutHandedFragment(const StoredFragment& f) {
  const std::string sealed = AeadSeal(key_, f.content, BoundTo(kContentContext, f.request_id));
  return Stmt(*db_,
              "INSERT OR IGNORE INTO fragments(request_id, case_id, source, received_ms, retain_until_ms, "
              "delivery, "
              "content, handed_by, retain_after_closure_ms) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)")
      .Bind(f.request_id)
      .Text(f.case_id)
      .Text(f.source)
      .Int(f.received_ms)
      .Int(f.retain_until_ms)
      .Bind(f.delivery)
      .Bind(sealed)
      .Text(f.handed_by)
      .Int(f.retain_after_closure_ms)
      .Run();
}

Result<std::vector<StoredFragment>> CoordinatorStore::Fragments(const std::string& case_id) {
  Stmt q(*db_,
         "SELECT request_id, case_id, source, received_ms, retain_until_ms, delivery, content, handed_by, "
         "retain_after_closure_ms FROM fragments WHERE ? = '' OR case_id = ? ORDER BY received_ms");
  q.Text(case_id).Text(case_id);
  std::vector<StoredFragment> out;
  while (true) {
    KP_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    StoredFragment f{q.Col(0), q.Col(1), q.Col(2), q.ColInt(3), q.ColInt(4),
                     q.Col(5), "",       q.Col(7), q.ColInt(8)};
    const std::string sealed = q.Col(6);
    if (!sealed.empty()) {
      auto plain = AeadOpen(key_, sealed, BoundTo(kContentContext, f.request_id));
      if (!plain.ok()) {
        return DataLossError("a handed-over fragment of case " + f.case_id +
                             " does not decrypt: the store was changed, or belongs to another identity");
      }
      f.content.assign(reinterpret_cast<const char*>(plain->data()), plain->size());
    }
    out.push_back(std::move(f));
  }
  return out;
}

Result<size_t> CoordinatorStore::ForgetCaseData(const std::string& case_id) {
  KP_RETURN_IF_ERROR(db_->Exec("SAVEPOINT forget"));
  size_t n = 0;
  Status s = Stmt(*db_, "DELETE FROM fragments WHERE case_id = ?").Text(case_id).Run();
  if (s.ok()) {
    n += static_cast<size_t>(sqlite3_changes(db_->get()));
    s = Stmt(*db_, "DELETE FROM subjects WHERE case_id = ?").Text(case_id).Run();
  }
  if (!s.ok()) {
    (void)db_->Exec("ROLLBACK TO forget; RELEASE forget");
    return s;
  }
  n += static_cast<size_t>(sqlite3_changes(db_->get()));
  KP_RETURN_IF_ERROR(db_->Exec("RELEASE forget"));
  if (n > 0 && sqlite3_get_autocommit(db_->get()))
    KP_RETURN_IF_ERROR(db_->Exec("PRAGMA wal_checkpoint(TRUNCATE)"));
  return n;
}

namespace {
ReferralInfo ReferralFromRow(Stmt& q) {
  ReferralInfo r;
  r.id = q.Col(0);
  r.received = q.ColInt(1) != 0;
  r.sender = q.Col(2);
  r.at_ms = q.ColInt(3);
  const std::string body = q.Col(4);
  (void)r.body.ParseFromString(body);
  r.envelope = q.Col(5);
  r.state = static_cast<v1::ReferralState>(q.ColInt(6));
  r.case_id = q.Col(7);
  r.decided_by = q.Col(8);
  r.reason_code = q.Col(9);
  r.decided_ms = q.ColInt(10);
  return r;
}
constexpr char kReferralColumns[] =
    "SELECT id, received, sender, at_ms, body, envelope, state, case_id, decided_by, reason_code, decided_ms "
    "FROM referrals ";
}  // namespace

Status CoordinatorStore::PutReferral(const ReferralInfo& r) {
  v1::Referral body = r.body;
  body.clear_sealed();
  return Stmt(*db_,
              "INSERT OR IGNORE INTO referrals(id, received, sender, at_ms, body, envelope, state, case_id, "
              "decided_by, "
              "reason_code, decided_ms) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
      .Bind(r.id)
      .Int(r.received ? 1 : 0)
      .Text(r.sender)
      .Int(r.at_ms)
      .Bind(body.SerializeAsString())
      .Bind(r.envelope)
      .Int(r.state)
      .Text(r.case_id)
      .Text(r.decided_by)
      .Text(r.reason_code)
      .Int(r.decided_ms)
      .Run();
}

Status CoordinatorStore::UpdateReferral(const std::string& id, v1::ReferralState state,
                                        const std::string& case_id, const std::string& decided_by,
                                        const std::string& reason_code, int64_t decided_ms) {
  return Stmt(*db_,
              "UPDATE referrals SET state = ?, case_id = ?, decided_by = ?, reason_code = ?, decided_ms = ? "
              "WHERE id = ?")
      .Int(state)
      .Text(case_id)
      .Text(decided_by)
      .Text(reason_code)
      .Int(decided_ms)
      .Bind(id)
      .Run();
}

Result<std::optional<ReferralInfo>> CoordinatorStore::GetReferral(const std::string& id) {
  Stmt q(*db_, (std::string(kReferralColumns) + "WHERE id = ?").c_str());
  KP_ASSIGN_OR_RETURN(bool row, q.Bind(id).Step());
  if (!row) return std::optional<ReferralInfo>();
  return std::optional<ReferralInfo>(ReferralFromRow(q));
}

Status CoordinatorStore::DeleteReferral(const std::string& id) {
  return Stmt(*db_, "DELETE FROM referrals WHERE id = ?").Bind(id).Run();
}

Result<std::vector<ReferralInfo>> CoordinatorStore::Referrals() {
  Stmt q(*db_, (std::string(kReferralColumns) + "ORDER BY at_ms, id").c_str());
  std::vector<ReferralInfo> out;
  while (true) {
    KP_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    out.push_back(ReferralFromRow(q));
  }
  return out;
}

Status CoordinatorStore::PutReferralSubjects(const std::string& id,
                                             const std::vector<v1::Subject>& subjects) {
  v1::SubjectData data;
  for (const auto& s : subjects) *data.add_subjects() = s;
  std::string plain = data.SerializeAsString();
  const std::string sealed = AeadSeal(key_, plain, BoundTo(kReferralContext, id));
  SecureWipe(plain.data(), plain.size());
  return Stmt(*db_, "UPDATE referrals SET subjects = ? WHERE id = ?").Bind(sealed).Bind(id).Run();
}

Result<std::vector<v1::Subject>> CoordinatorStore::ReferralSubjects(const std::string& id) {
  Stmt q(*db_, "SELECT subjects FROM referrals WHERE id = ?");
  KP_ASSIGN_OR_RETURN(bool row, q.Bind(id).Step());
  std::vector<v1::Subject> out;
  if (!row) return out;
  const std::string sealed = q.Col(0);
  if (sealed.empty()) return out;
  auto plain = AeadOpen(key_, sealed, BoundTo(kReferralContext, id));
  if (!plain.ok()) {
    return DataLossError(
        "the stored subjects of a referral do not decrypt: the store was changed, or belongs to "
        "another identity");
  }
  v1::SubjectData data;
  if (!data.ParseFromArray(plain->data(), static_cast<int>(plain->size()))) {
    return DataLossError("the stored subjects of a referral are damaged");
  }
  for (auto& s : *data.mutable_subjects()) out.push_back(std::move(s));
  return out;
}

Status CoordinatorStore::DropReferralSubjects(const std::string& id) {
  return Stmt(*db_, "UPDATE referrals SET subjects = x'' WHERE id = ?").Bind(id).Run();
}

Result<bool> CoordinatorStore::AddHandoverPart(const std::string& case_id, const std::string& offer,
                                               uint32_t part, uint32_t parts, int64_t now_ms) {
  KP_RETURN_IF_ERROR(Stmt(*db_,
                          "INSERT OR IGNORE INTO handover_parts(case_id, offer, part, parts, received_ms) "
                          "VALUES(?, ?, ?, ?, ?)")
                         .Text(case_id)
                         .Bind(offer)
                         .Int(part)
                         .Int(parts)
                         .Int(now_ms)
                         .Run());
  return sqlite3_changes(db_->get()) > 0;
}

Result<std::pair<uint32_t, uint32_t>> CoordinatorStore::HandoverParts(const std::string& case_id,
                                                                      const std::string& offer) {
  Stmt q(*db_, "SELECT COUNT(*), MAX(parts) FROM handover_parts WHERE case_id = ? AND offer = ?");
  KP_ASSIGN_OR_RETURN(bool row, q.Text(case_id).Bind(offer).Step());
  if (!row) return std::make_pair(0u, 0u);
  return std::make_pair(static_cast<uint32_t>(q.ColInt(0)), static_cast<uint32_t>(q.ColInt(1)));
}

Result<CoordinatorStore::Purged> CoordinatorStore::Purge(int64_t now_ms) {
  Purged p;
  KP_RETURN_IF_ERROR(db_->Exec("SAVEPOINT purge"));
  // retain_after_closure_ms counts from the case's closure (protocol §3.3,
  // FragmentContent): kept while the case is open.
  Status s = Stmt(*db_,
                  "DELETE FROM fragments WHERE (retain_after_closure_ms <= 0 AND retain_until_ms < ?1) OR "
                  "(retain_after_closure_ms > 0 AND EXISTS (SELECT 1 FROM case_closed c WHERE c.case_id = "
                  "fragments.case_id AND c.closed_ms + fragments.retain_after_closure_ms < ?1))")
                 .Int(now_ms)
                 .Run();
  if (s.ok()) {
    p.fragments = static_cast<size_t>(sqlite3_changes(db_->get()));
    s = Stmt(*db_,
             "DELETE FROM subjects WHERE case_id IN (SELECT id FROM cases WHERE closed = 1) "
             "AND case_id NOT IN (SELECT case_id FROM fragments)")
            .Run();
  }
  if (!s.ok()) {
    (void)db_->Exec("ROLLBACK TO purge; RELEASE purge");
    return s;
  }
  p.subjects = static_cast<size_t>(sqlite3_changes(db_->get()));
  KP_RETURN_IF_ERROR(db_->Exec("RELEASE purge"));
  KP_RETURN_IF_ERROR(PruneApprovalWaits().status());  // approval_waits.cc
  if (p.fragments + p.subjects > 0) {
    // Deleted pages are already overwritten (secure_delete); the checkpoint
    // moves them out of the write-ahead log too.
    KP_RETURN_IF_ERROR(db_->Exec("PRAGMA wal_checkpoint(TRUNCATE)"));
  }
  return p;
}

}  // namespace kp::client

// The partner agent's data sources, against real components: SQLite files,
// JSON files and child processes in a temporary folder.
#include "agent/connectors/connector.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "agent/connectors/connector_module.h"
#include "core/base/clock.h"
#include "tests/testing/status_matchers.h"

namespace kp::agent {
namespace {

using ::kp::testing::IsOk;
using ::kp::testing::StatusIs;
using ::kp::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::Pair;
using ::testing::SizeIs;
using ::testing::StartsWith;

constexpr char kCanaryBsn[] = "CANARY-BSN-123";
constexpr char kCanaryName[] = "CANARY-NAME-Jansen";
constexpr char kCanaryContent[] = "CANARY-CONTENT-incident";

SubjectQuery CanarySubject() { return SubjectQuery{"S1", "victim", kCanaryBsn, kCanaryName, "1990-02-03"}; }

class ConnectorTest : public ::testing::Test {
 protected:
  // A SQLite file built by `sql`; returns its path.
  std::string MakeDatabase(const std::string& sql, const std::string& name = "source.db") {
    const std::string path = dir_.File(name);
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    sqlite3_close(db);
    return path;
  }

  std::string PoliceDatabase() {
    return MakeDatabase(
        "CREATE TABLE incidenten(bsn TEXT, datum TEXT, soort TEXT, aantal INTEGER, ernst REAL, notitie TEXT);"
        "INSERT INTO incidenten VALUES('" +
        std::string(kCanaryBsn) + "', '2026-10-03', '" + kCanaryContent +
        "', 2, 1.5, NULL);"
        "INSERT INTO incidenten VALUES('" +
        std::string(kCanaryBsn) +
        "', '2026-11-01', 'bedreiging', 1, 0.5, 'x');"
        "INSERT INTO incidenten VALUES('123456782', '2026-01-01', 'ander gezin', 7, 2.0, 'y');");
  }

  Result<std::unique_ptr<Connector>> Sqlite(const std::string& database, const std::string& query) {
    ConnectorConfig c;
    c.kind = ConnectorConfig::Kind::kSqlite;
    c.database = database;
    c.query = query;
    return MakeConnector(c);
  }

  std::string Folder() {
    const std::string folder = dir_.File("files");
    std::filesystem::create_directories(folder);
    return folder;
  }

  void WriteFile(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary);
    out << text;
  }

  Result<std::unique_ptr<Connector>> JsonFiles(const std::string& key = "bsn") {
    ConnectorConfig c;
    c.kind = ConnectorConfig::Kind::kJsonFiles;
    c.folder = Folder();
    c.key = key;
    return MakeConnector(c);
  }

  // An executable /bin/sh script in the temp folder.
  std::string Script(const std::string& name, const std::string& body) {
    const std::string path = dir_.File(name);
    WriteFile(path, "#!/bin/sh\n" + body + "\n");
    ::chmod(path.c_str(), 0700);
    return path;
  }

  Result<std::unique_ptr<Connector>> Command(std::vector<std::string> argv, int64_t timeout_ms = 5000,
                                             size_t max_output = 1 << 20) {
    ConnectorConfig c;
    c.kind = ConnectorConfig::Kind::kCommand;
    c.argv = std::move(argv);
    c.timeout_ms = timeout_ms;
    c.max_output_bytes = max_output;
    return MakeConnector(c);
  }

  // True when this test process has no child left, reaped or not.
  static bool NoChildrenLeft() {
    int status = 0;
    return ::waitpid(-1, &status, WNOHANG) == -1 && errno == ECHILD;
  }

  // Waits (up to 5 s) until the process `pid`, not our child, has died.
  static bool Died(pid_t pid) {
    const int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (fd < 0) return errno == ESRCH;  // gone already
    pollfd p{fd, POLLIN, 0};
    const bool died = ::poll(&p, 1, 5000) == 1;
    ::close(fd);
    return died;
  }

  std::string ReadPid(const std::string& path) {
    std::ifstream in(path);
    std::string pid;
    in >> pid;
    return pid;
  }

  TempDir dir_;
};

// ------------------------------------------------------------------ SQLite

TEST_F(ConnectorTest, SqliteReturnsRowsForBoundBsn) {
  ASSERT_OK_AND_ASSIGN(auto source, Sqlite(PoliceDatabase(),
                                           "SELECT datum, soort AS incidentsoort FROM incidenten "
                                           "WHERE bsn = :bsn ORDER BY datum"));
  ASSERT_OK_AND_ASSIGN(auto records, source->Query(CanarySubject()));
  EXPECT_THAT(records,
              ElementsAre(ElementsAre(Pair("datum", "2026-10-03"), Pair("incidentsoort", kCanaryContent)),
                          ElementsAre(Pair("datum", "2026-11-01"), Pair("incidentsoort", "bedreiging"))));
  // The statement is reused: a second query answers the same.
  ASSERT_OK_AND_ASSIGN(auto again, source->Query(CanarySubject()));
  EXPECT_EQ(again, records);
  EXPECT_EQ(source->Describe(), "sqlite " + dir_.File("source.db"));
}

TEST_F(ConnectorTest, SqliteNoMatchingRowsIsEmptyAnswer) {
  ASSERT_OK_AND_ASSIGN(auto source,
                       Sqlite(PoliceDatabase(), "SELECT datum FROM incidenten WHERE bsn = :bsn"));
  SubjectQuery nobody = CanarySubject();
  nobody.bsn = "999999999";
  EXPECT_THAT(source->Query(nobody), IsOk());
  EXPECT_THAT(source->Query(nobody).value(), IsEmpty());
}

TEST_F(ConnectorTest, SqliteBindsParametersNotString) {
  ASSERT_OK_AND_ASSIGN(auto source,
                       Sqlite(PoliceDatabase(), "SELECT datum FROM incidenten WHERE bsn = :bsn"));
  for (const std::string attack : {"1' OR '1'='1", "' OR 1=1 --", "x'; DROP TABLE incidenten; --"}) {
    SubjectQuery s = CanarySubject();
    s.bsn = attack;
    ASSERT_OK_AND_ASSIGN(auto records, source->Query(s));
    EXPECT_THAT(records, IsEmpty()) << attack;
  }
  EXPECT_THAT(source->Query(CanarySubject()).value(), SizeIs(2));  // the table is still there
}

TEST_F(ConnectorTest, SqliteBindsEverySubjectField) {
  const std::string db = MakeDatabase(
      "CREATE TABLE p(ref TEXT, role TEXT, bsn TEXT, name TEXT, dob TEXT, v TEXT);"
      "INSERT INTO p VALUES('S1', 'victim', '" +
      std::string(kCanaryBsn) + "', '" + kCanaryName + "', '1990-02-03', 'hit');");
  ASSERT_OK_AND_ASSIGN(auto source, Sqlite(db,
                                           "SELECT v FROM p WHERE ref = :ref AND role = :role AND bsn = :bsn "
                                           "AND name = :name AND dob = :date_of_birth AND bsn = :bsn"));
  EXPECT_THAT(source->Query(CanarySubject()).value(), ElementsAre(ElementsAre(Pair("v", "hit"))));
}

TEST_F(ConnectorTest, SqliteNullColumnIsAbsent) {
  ASSERT_OK_AND_ASSIGN(
      auto source,
      Sqlite(PoliceDatabase(), "SELECT datum, notitie FROM incidenten WHERE bsn = :bsn ORDER BY datum"));
  ASSERT_OK_AND_ASSIGN(auto records, source->Query(CanarySubject()));
  EXPECT_THAT(records, ElementsAre(ElementsAre(Pair("datum", "2026-10-03")),
                                   ElementsAre(Pair("datum", "2026-11-01"), Pair("notitie", "x"))));
}

TEST_F(ConnectorTest, SqliteNumbersBecomeText) {
  ASSERT_OK_AND_ASSIGN(
      auto source,
      Sqlite(PoliceDatabase(), "SELECT aantal, ernst FROM incidenten WHERE bsn = :bsn ORDER BY datum"));
  EXPECT_THAT(source->Query(CanarySubject()).value(),
              ElementsAre(ElementsAre(Pair("aantal", "2"), Pair("ernst", "1.5")),
                          ElementsAre(Pair("aantal", "1"), Pair("ernst", "0.5"))));
}

TEST_F(ConnectorTest, SqliteBlobIsInvalidArgument) {
  const std::string db = MakeDatabase(
      "CREATE TABLE p(bsn TEXT, foto BLOB);"
      "INSERT INTO p VALUES('" +
      std::string(kCanaryBsn) + "', x'00ff');");
  ASSERT_OK_AND_ASSIGN(auto source, Sqlite(db, "SELECT foto FROM p WHERE bsn = :bsn"));
  EXPECT_THAT(source->Query(CanarySubject()), StatusIs(StatusCode::kInvalidArgument, "BLOB"));
}

TEST_F(ConnectorTest, SqliteRefusesWriteStatement) {
  const std::string db = PoliceDatabase();
  EXPECT_THAT(Sqlite(db, "DELETE FROM incidenten WHERE bsn = :bsn"),
              StatusIs(StatusCode::kInvalidArgument, "read-only"));
  EXPECT_THAT(Sqlite(db, "UPDATE incidenten SET notitie = 'x' WHERE bsn = :bsn"),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(Sqlite(db, "INSERT INTO incidenten(bsn) VALUES(:bsn) RETURNING bsn"),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(Sqlite(db, "ATTACH 'other.db' AS o"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(Sqlite(db, "SELECT datum FROM incidenten WHERE bsn = :bsn; DELETE FROM incidenten"),
              StatusIs(StatusCode::kInvalidArgument, "exactly one statement"));
  EXPECT_THAT(Sqlite(db, "SELECT datum FROM incidenten WHERE bsn = :bsn;  "), IsOk());
}

TEST_F(ConnectorTest, SqliteMissingDatabaseIsUnavailable) {
  const std::string missing = dir_.File("no-such.db");
  EXPECT_THAT(Sqlite(missing, "SELECT 1 AS x WHERE :bsn = ''"),
              StatusIs(StatusCode::kUnavailable, "source unavailable: cannot open database " + missing));
  EXPECT_FALSE(std::filesystem::exists(missing)) << "opening must not create the file";
}

TEST_F(ConnectorTest, SqliteFileThatIsNotADatabaseIsUnavailable) {
  const std::string path = dir_.File("not.db");
  WriteFile(path, std::string(4096, 'x'));
  EXPECT_THAT(Sqlite(path, "SELECT datum FROM incidenten WHERE bsn = :bsn"),
              StatusIs(StatusCode::kUnavailable, path));
}

TEST_F(ConnectorTest, SqliteMissingTableIsConfigError) {
  const std::string db = PoliceDatabase();
  EXPECT_THAT(Sqlite(db, "SELECT datum FROM nergens WHERE bsn = :bsn"),
              StatusIs(StatusCode::kInvalidArgument, "no such table: nergens"));
  EXPECT_THAT(Sqlite(db, "SELEKT datum"), StatusIs(StatusCode::kInvalidArgument, "syntax error"));
}

TEST_F(ConnectorTest, SqliteUnknownParameterIsConfigError) {
  const std::string db = PoliceDatabase();
  EXPECT_THAT(Sqlite(db, "SELECT datum FROM incidenten WHERE bsn = :burgerservicenummer"),
              StatusIs(StatusCode::kInvalidArgument, ":burgerservicenummer"));
  EXPECT_THAT(Sqlite(db, "SELECT datum FROM incidenten WHERE bsn = ?"),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(Sqlite(db, "SELECT datum FROM incidenten WHERE bsn = @bsn"),
              StatusIs(StatusCode::kInvalidArgument));
}

TEST_F(ConnectorTest, SqliteRefusesDuplicateColumnNames) {
  EXPECT_THAT(Sqlite(PoliceDatabase(), "SELECT datum, soort AS datum FROM incidenten WHERE bsn = :bsn"),
              StatusIs(StatusCode::kInvalidArgument, "twice"));
}

TEST_F(ConnectorTest, SqliteLockedDatabaseIsUnavailable) {
  const std::string db = PoliceDatabase();
  ASSERT_OK_AND_ASSIGN(auto source, Sqlite(db, "SELECT datum FROM incidenten WHERE bsn = :bsn"));
  sqlite3* writer = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &writer), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(writer, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr), SQLITE_OK);
  EXPECT_THAT(source->Query(CanarySubject()), StatusIs(StatusCode::kUnavailable, "is locked"));
  ASSERT_EQ(sqlite3_exec(writer, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(writer);
  EXPECT_THAT(source->Query(CanarySubject()).value(), SizeIs(2));
}

TEST_F(ConnectorTest, SqliteDoesNotHoldTheDatabaseBetweenQueries) {
  const std::string db = PoliceDatabase();
  ASSERT_OK_AND_ASSIGN(auto source, Sqlite(db, "SELECT datum FROM incidenten WHERE bsn = :bsn"));
  ASSERT_THAT(source->Query(CanarySubject()), IsOk());
  sqlite3* writer = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &writer), SQLITE_OK);
  sqlite3_busy_timeout(writer, 0);  // a lingering read lock would fail this at once
  EXPECT_EQ(sqlite3_exec(writer, "DELETE FROM incidenten WHERE bsn = '123456782'", nullptr, nullptr, nullptr),
            SQLITE_OK)
      << sqlite3_errmsg(writer);
  sqlite3_close(writer);
}

// -------------------------------------------------------------- JSON files

TEST_F(ConnectorTest, JsonFilesReturnsRecordsInFileOrder) {
  ASSERT_OK_AND_ASSIGN(auto source, JsonFiles());
  WriteFile(Folder() + "/" + kCanaryBsn + ".json",
            R"([{"zeta": "1", "alpha": 2, "mid": true, "leeg": null}, {"alpha": "b"}])");
  ASSERT_OK_AND_ASSIGN(auto records, source->Query(CanarySubject()));
  EXPECT_THAT(records, ElementsAre(ElementsAre(Pair("zeta", "1"), Pair("alpha", "2"), Pair("mid", "true")),
                                   ElementsAre(Pair("alpha", "b"))));
  EXPECT_EQ(source->Describe(), "json-files " + Folder() + " (key bsn)");
}

TEST_F(ConnectorTest, JsonFilesSingleObjectIsOneRecord) {
  ASSERT_OK_AND_ASSIGN(auto source, JsonFiles());
  WriteFile(Folder() + "/" + kCanaryBsn + ".json", R"({"in-zorg": "ja"})");
  EXPECT_THAT(source->Query(CanarySubject()).value(), ElementsAre(ElementsAre(Pair("in-zorg", "ja"))));
}

TEST_F(ConnectorTest, JsonFilesKeyChoosesTheSubjectField) {
  ASSERT_OK_AND_ASSIGN(auto source, JsonFiles("ref"));
  WriteFile(Folder() + "/S1.json", R"([{"a": "1"}])");
  EXPECT_THAT(source->Query(CanarySubject()).value(), SizeIs(1));
}

TEST_F(ConnectorTest, JsonFilesMissingFileIsEmptyAnswer) {
  ASSERT_OK_AND_ASSIGN(auto source, JsonFiles());
  ASSERT_OK_AND_ASSIGN(auto records, source->Query(CanarySubject()));
  EXPECT_THAT(records, IsEmpty());
}

TEST_F(ConnectorTest, JsonFilesMissingFolderIsUnavailable) {
  ConnectorConfig c;
  c.kind = ConnectorConfig::Kind::kJsonFiles;
  c.folder = dir_.File("no-such-folder");
  EXPECT_THAT(MakeConnector(c), StatusIs(StatusCode::kUnavailable, c.folder));
}

TEST_F(ConnectorTest, JsonFilesRefusesPathTricks) {
  ASSERT_OK_AND_ASSIGN(auto source, JsonFiles());
  WriteFile(dir_.File("outside.json"), R"([{"geheim": "ja"}])");
  WriteFile(Folder() + "/.hidden.json", R"([{"geheim": "ja"}])");
  for (const std::string& key :
       std::vector<std::string>{"../outside", "..", ".hidden", "a/b", "", std::string(65, '1'), "x y",
                                std::string("1\0", 2), "%2e%2e", "~root"}) {
    SubjectQuery s = CanarySubject();
    s.bsn = key;
    EXPECT_THAT(source->Query(s), StatusIs(StatusCode::kInvalidArgument, "refused")) << key;
  }
  SubjectQuery ok = CanarySubject();
  ok.bsn = std::string(64, '1');
  EXPECT_THAT(source->Query(ok), IsOk());
}

TEST_F(ConnectorTest, JsonFilesRefusesSymlinks) {
  ASSERT_OK_AND_ASSIGN(auto source, JsonFiles());
  WriteFile(dir_.File("outside.json"), R"([{"geheim": "ja"}])");
  ASSERT_EQ(::symlink(dir_.File("outside.json").c_str(), (Folder() + "/" + kCanaryBsn + ".json").c_str()), 0);
  EXPECT_THAT(source->Query(CanarySubject()), StatusIs(StatusCode::kUnavailable, "symbolic link"));
}

TEST_F(ConnectorTest, JsonFilesRefusesWhatIsNotARegularFile) {
  ASSERT_OK_AND_ASSIGN(auto source, JsonFiles());
  std::filesystem::create_directories(Folder() + "/" + kCanaryBsn + ".json");
  EXPECT_THAT(source->Query(CanarySubject()), StatusIs(StatusCode::kUnavailable, "not a regular file"));
  SubjectQuery fifo = CanarySubject();
  fifo.bsn = "fifo";
  ASSERT_EQ(::mkfifo((Folder() + "/fifo.json").c_str(), 0600), 0);
  EXPECT_THAT(source->Query(fifo), StatusIs(StatusCode::kUnavailable, "not a regular file"));
}

TEST_F(ConnectorTest, JsonFilesMalformedIsInvalidArgument) {
  ASSERT_OK_AND_ASSIGN(auto source, JsonFiles());
  const std::string file = Folder() + "/" + kCanaryBsn + ".json";
  for (const std::string text : {R"([{"a": "1"}, oops)", R"([{"a": {"b": "c"}}])", R"([{"a": [1]}])",
                                 R"([{"a": "1", "a": "2"}])", R"("just text")", "", R"([[{"a": "1"}]])"}) {
    WriteFile(file, text);
    EXPECT_THAT(source->Query(CanarySubject()), StatusIs(StatusCode::kInvalidArgument, "is malformed"))
        << text;
  }
}

TEST_F(ConnectorTest, JsonFilesOversizedFileIsRefused) {
  ASSERT_OK_AND_ASSIGN(auto source, JsonFiles());
  const std::string file = Folder() + "/" + kCanaryBsn + ".json";
  std::string text = R"([{"a": ")" + std::string(kMaxJsonFileBytes, 'x') + R"("}])";
  WriteFile(file, text);
  EXPECT_THAT(source->Query(CanarySubject()), StatusIs(StatusCode::kInvalidArgument, "exceeds"));
}

// ------------------------------------------------------------------ command

TEST_F(ConnectorTest, CommandReturnsRecords) {
  // cat prints its stdin: the subject, as one object, is one record.
  ASSERT_OK_AND_ASSIGN(auto source, Command({"/bin/cat"}));
  ASSERT_OK_AND_ASSIGN(auto records, source->Query(CanarySubject()));
  EXPECT_THAT(records,
              ElementsAre(ElementsAre(Pair("ref", "S1"), Pair("role", "victim"), Pair("bsn", kCanaryBsn),
                                      Pair("name", kCanaryName), Pair("date_of_birth", "1990-02-03"))));
  EXPECT_TRUE(NoChildrenLeft());
  EXPECT_EQ(source->Describe(), "command /bin/cat");
}

TEST_F(ConnectorTest, CommandPassesArgumentsWithoutAShell) {
  const std::string script = Script("echo-args.sh", R"(cat >/dev/null; printf '[{"arg": "%s"}]' "$1")");
  ASSERT_OK_AND_ASSIGN(auto source, Command({script, "$(echo no) ; `x` *"}));
  EXPECT_THAT(source->Query(CanarySubject()).value(),
              ElementsAre(ElementsAre(Pair("arg", "$(echo no) ; `x` *"))));
}

TEST_F(ConnectorTest, CommandEmptyArrayIsEmptyAnswer) {
  ASSERT_OK_AND_ASSIGN(auto source, Command({Script("none.sh", "cat >/dev/null; echo '[]'")}));
  ASSERT_OK_AND_ASSIGN(auto records, source->Query(CanarySubject()));
  EXPECT_THAT(records, IsEmpty());
}

TEST_F(ConnectorTest, CommandTimeoutIsKilledAndReported) {
  ASSERT_OK_AND_ASSIGN(auto source, Command({"/bin/sleep", "30"}, /*timeout_ms=*/200));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THAT(source->Query(CanarySubject()),
              StatusIs(StatusCode::kDeadlineExceeded, "source timed out after 200 ms"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  EXPECT_TRUE(NoChildrenLeft());
}

TEST_F(ConnectorTest, CommandTimeoutKillsTheWholeProcessGroup) {
  const std::string pidfile = dir_.File("grandchild.pid");
  const std::string script = Script("slow.sh", "sleep 30 & echo $! > " + pidfile + "\nwait");
  ASSERT_OK_AND_ASSIGN(auto source, Command({script}, /*timeout_ms=*/300));
  EXPECT_THAT(source->Query(CanarySubject()), StatusIs(StatusCode::kDeadlineExceeded));
  EXPECT_TRUE(NoChildrenLeft());
  const std::string pid = ReadPid(pidfile);
  ASSERT_FALSE(pid.empty());
  EXPECT_TRUE(Died(std::stoi(pid)));
}

TEST_F(ConnectorTest, CommandLeavesNoProcessBehind) {
  const std::string pidfile = dir_.File("background.pid");
  const std::string script =
      Script("background.sh", "sleep 30 >/dev/null & echo $! > " + pidfile + "\necho '[{\"a\": \"1\"}]'");
  ASSERT_OK_AND_ASSIGN(auto source, Command({script}));
  EXPECT_THAT(source->Query(CanarySubject()).value(), SizeIs(1));
  EXPECT_TRUE(NoChildrenLeft());
  EXPECT_TRUE(Died(std::stoi(ReadPid(pidfile))));
}

TEST_F(ConnectorTest, CommandOversizedOutputRefused) {
  ASSERT_OK_AND_ASSIGN(auto source, Command({"/usr/bin/yes"}, 5000, /*max_output=*/4096));
  EXPECT_THAT(source->Query(CanarySubject()),
              StatusIs(StatusCode::kInvalidArgument, "source output exceeds 4096 bytes"));
  EXPECT_TRUE(NoChildrenLeft());
  // Exactly at the limit is fine.
  ASSERT_OK_AND_ASSIGN(auto exact, Command({Script("two.sh", "printf '[]'")}, 5000, /*max_output=*/2));
  EXPECT_THAT(exact->Query(CanarySubject()), IsOk());
}

TEST_F(ConnectorTest, CommandMalformedOutputRefused) {
  for (const std::string output : {R"([{"datum": "2026-01-01", oops)", R"({"a": {"b": 1}})", "", "hello"}) {
    ASSERT_OK_AND_ASSIGN(auto source,
                         Command({Script("bad.sh", "cat >/dev/null; printf '%s' '" + output + "'")}));
    EXPECT_THAT(source->Query(CanarySubject()),
                StatusIs(StatusCode::kInvalidArgument, "source printed malformed output"))
        << output;
  }
}

TEST_F(ConnectorTest, CommandNonZeroExitIsUnavailable) {
  ASSERT_OK_AND_ASSIGN(auto source, Command({Script("fails.sh", "echo '[]'; exit 3")}));
  EXPECT_THAT(source->Query(CanarySubject()),
              StatusIs(StatusCode::kUnavailable, "source unavailable: source command exited with status 3"));
  ASSERT_OK_AND_ASSIGN(auto killed, Command({Script("dies.sh", "kill -9 $$")}));
  EXPECT_THAT(killed->Query(CanarySubject()), StatusIs(StatusCode::kUnavailable, "killed by signal 9"));
  EXPECT_TRUE(NoChildrenLeft());
}

TEST_F(ConnectorTest, CommandThatIgnoresStdinWorks) {
  // Far more input than a socket buffer holds, to a program that never reads
  // it: the write fails with EPIPE, not SIGPIPE, and the answer still counts.
  ASSERT_OK_AND_ASSIGN(auto source, Command({Script("deaf.sh", "exec 0<&-\necho '[{\"a\": \"1\"}]'")}));
  SubjectQuery big = CanarySubject();
  big.name = std::string(8 << 20, 'n');
  ASSERT_OK_AND_ASSIGN(auto records, source->Query(big));
  EXPECT_THAT(records, SizeIs(1));
  EXPECT_TRUE(NoChildrenLeft());
}

TEST_F(ConnectorTest, CommandDoesNotInheritOtherFileDescriptors) {
  const int fd = ::open("/dev/null", O_RDONLY);  // deliberately without O_CLOEXEC
  ASSERT_GE(fd, 3);
  const std::string script =
      Script("fds.sh", "cat >/dev/null\nif [ -e /proc/$$/fd/" + std::to_string(fd) +
                           " ]; then echo '[{\"leak\": \"yes\"}]'; else echo '[]'; fi");
  ASSERT_OK_AND_ASSIGN(auto source, Command({script}));
  EXPECT_THAT(source->Query(CanarySubject()).value(), IsEmpty());
  ::close(fd);
}

TEST_F(ConnectorTest, CommandMissingProgramIsUnavailable) {
  EXPECT_THAT(Command({dir_.File("no-such-program")}), StatusIs(StatusCode::kUnavailable, "no-such-program"));
  const std::string not_executable = dir_.File("plain.txt");
  WriteFile(not_executable, "x");
  EXPECT_THAT(Command({not_executable}), StatusIs(StatusCode::kUnavailable, "plain.txt"));
  EXPECT_THAT(Command({}), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(Command({"/bin/cat"}, /*timeout_ms=*/0), StatusIs(StatusCode::kInvalidArgument));
}

// ------------------------------------------------------ no personal data

TEST_F(ConnectorTest, NoPersonalDataInErrors) {
  std::vector<Status> errors;
  auto collect = [&](const Result<std::vector<Record>>& r) {
    EXPECT_FALSE(r.ok());
    errors.push_back(r.status());
  };
  const SubjectQuery subject = CanarySubject();

  // SQLite: a blob, a locked database.
  const std::string db = MakeDatabase(
      "CREATE TABLE p(bsn TEXT, name TEXT, foto BLOB);"
      "INSERT INTO p VALUES('" +
      std::string(kCanaryBsn) + "', '" + kCanaryName + "', x'00');");
  collect(Sqlite(db, "SELECT name, foto FROM p WHERE bsn = :bsn AND name = :name").value()->Query(subject));

  // JSON files: malformed content, nesting, oversize, a symlink; the file name is the BSN itself.
  ASSERT_OK_AND_ASSIGN(auto files, JsonFiles());
  const std::string file = Folder() + "/" + kCanaryBsn + ".json";
  for (const std::string& text :
       {std::string(R"([{"a": ")") + kCanaryContent + "\", oops",
        std::string(R"([{"a": {")") + kCanaryContent + R"(": 1}}])",
        std::string(R"([{")") + kCanaryContent + R"(": 1, ")" + kCanaryContent + R"(": 2}])",
        std::string(kCanaryContent)}) {
    WriteFile(file, text);
    collect(files->Query(subject));
  }
  WriteFile(file, std::string(kMaxJsonFileBytes + 1, ' '));
  collect(files->Query(subject));
  std::filesystem::remove(file);
  ASSERT_EQ(::symlink("/etc/passwd", file.c_str()), 0);
  collect(files->Query(subject));
  SubjectQuery tricky = subject;
  tricky.bsn = std::string("../") + kCanaryBsn;
  collect(files->Query(tricky));

  // Commands: malformed output quoting the subject, stderr full of it, a
  // failing exit, a timeout, oversize.
  const std::string noisy = "echo " + std::string(kCanaryBsn) + " " + kCanaryName + " >&2; ";
  for (const std::string& body : {noisy + "cat; echo oops",  // echoes the subject, then garbage
                                  noisy + "cat >/dev/null; echo '[{\"" + kCanaryContent + "\": {}}]'",
                                  noisy + "cat; exit 2", noisy + "cat; exec sleep 30", noisy + "cat; yes"}) {
    ASSERT_OK_AND_ASSIGN(auto command, Command({Script("noisy.sh", body)}, /*timeout_ms=*/300, 1000));
    collect(command->Query(subject));
  }

  ASSERT_THAT(errors, SizeIs(13));
  for (const auto& s : errors) {
    EXPECT_THAT(s.message(), Not(HasSubstr("CANARY"))) << s;
    EXPECT_THAT(s.message(), Not(HasSubstr("Jansen"))) << s;
  }
}

// ----------------------------------------------------- records JSON parser

TEST(ParseRecordsJsonTest, KeepsFieldOrderAndConvertsValues) {
  ASSERT_OK_AND_ASSIGN(
      auto records, ParseRecordsJson(R"([{"z": "t", "i": -3, "u": 18446744073709551615, "f": 1.50, "e": 2e3,
                                             "b": false, "n": null, "s": "\u00e9\n"}])"));
  EXPECT_THAT(records,
              ElementsAre(ElementsAre(Pair("z", "t"), Pair("i", "-3"), Pair("u", "18446744073709551615"),
                                      Pair("f", "1.50"), Pair("e", "2e3"), Pair("b", "false"),
                                      Pair("s", "\xc3\xa9\n"))));
  EXPECT_THAT(ParseRecordsJson(" [ ] \n").value(), IsEmpty());
  EXPECT_THAT(ParseRecordsJson("{}").value(), ElementsAre(IsEmpty()));
  EXPECT_THAT(ParseRecordsJson(R"([{"a": "1"}, {"a": "2"}])").value(), SizeIs(2));
}

TEST(ParseRecordsJsonTest, RefusesWhatIsNotRecords) {
  for (const std::string text : {"",
                                 " ",
                                 "null",
                                 "1",
                                 "\"x\"",
                                 "true",
                                 "[1]",
                                 "[null]",
                                 "[[]]",
                                 R"([{"a": "1"}, 2])",
                                 R"({"a": {}})",
                                 R"({"a": []})",
                                 R"([{"a": [{"b": 1}]}])",
                                 R"({"a": 1, "a": 2})",
                                 R"([{"a": 1}] [])",
                                 R"({"a": 1}x)",
                                 "[{\"a\": \"\xff\"}]",
                                 R"({"a": 1e999})",
                                 R"({"a": 01})",
                                 "[{\"a\": 1} // comment\n]",
                                 "{'a': 1}"}) {
    EXPECT_THAT(ParseRecordsJson(text), StatusIs(StatusCode::kInvalidArgument)) << text;
  }
}

TEST(ParseRecordsJsonTest, DeepNestingIsRefusedWithoutRecursion) {
  EXPECT_THAT(ParseRecordsJson(std::string(1 << 20, '[')), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseRecordsJson("[{\"a\": " + std::string(1 << 20, '{')),
              StatusIs(StatusCode::kInvalidArgument));
}

TEST(ParseRecordsJsonTest, EveryTruncationFails) {
  const std::string text = R"([{"datum": "2026-10-03", "aantal": 2, "ok": true}, {"x": null}])";
  ASSERT_THAT(ParseRecordsJson(text), IsOk());
  for (size_t n = 0; n < text.size(); ++n) {
    EXPECT_THAT(ParseRecordsJson(text.substr(0, n)), StatusIs(StatusCode::kInvalidArgument)) << n;
  }
}

TEST(ParseRecordsJsonTest, EveryBitFlipIsHandled) {
  const std::string text = R"([{"datum": "2026-10-03", "aantal": 2, "ok": true}, {"x": null}])";
  for (size_t i = 0; i < text.size() * 8; ++i) {
    std::string flipped = text;
    flipped[i / 8] = static_cast<char>(flipped[i / 8] ^ (1 << (i % 8)));
    auto r = ParseRecordsJson(flipped);
    if (!r.ok()) {
      EXPECT_THAT(r, StatusIs(StatusCode::kInvalidArgument));
    } else {
      EXPECT_THAT(*r, SizeIs(2));  // e.g. a letter changed inside a string
    }
  }
}

// ------------------------------------------------------- changed since
// What a watch asks each kind of source (docs/agent.md "Watches").

TEST_F(ConnectorTest, SqliteChangedQueryBindsSinceAndTheSubject) {
  ConnectorConfig c;
  c.kind = ConnectorConfig::Kind::kSqlite;
  c.database = MakeDatabase(
      "CREATE TABLE incidenten(bsn TEXT, soort TEXT, geregistreerd_ms INTEGER);"
      "INSERT INTO incidenten VALUES('" +
      std::string(kCanaryBsn) +
      "', 'a', 1000);"
      "INSERT INTO incidenten VALUES('" +
      std::string(kCanaryBsn) +
      "', 'b', 3000);"
      "INSERT INTO incidenten VALUES('123456782', 'c', 9000);");
  c.query = "SELECT soort FROM incidenten WHERE bsn = :bsn";
  c.changed_query =
      "SELECT geregistreerd_ms AS changed_at_ms FROM incidenten WHERE bsn = :bsn AND geregistreerd_ms > "
      ":since";
  ASSERT_OK_AND_ASSIGN(auto source, MakeConnector(c));
  ASSERT_OK_AND_ASSIGN(auto changed, source->ChangedSince(CanarySubject(), 500));
  EXPECT_EQ(changed, std::optional<int64_t>(3000));  // the latest
  ASSERT_OK_AND_ASSIGN(changed, source->ChangedSince(CanarySubject(), 3000));
  EXPECT_EQ(changed, std::nullopt);  // another family's 9000 is not this subject's news
}

TEST_F(ConnectorTest, SqliteChangedQueryWithoutSinceIsAConfigError) {
  ConnectorConfig c;
  c.kind = ConnectorConfig::Kind::kSqlite;
  c.database = PoliceDatabase();
  c.query = "SELECT soort FROM incidenten WHERE bsn = :bsn";
  c.changed_query = "SELECT 1 FROM incidenten WHERE bsn = :bsn";
  auto source = MakeConnector(c);
  EXPECT_THAT(source, StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(source.status().message(), HasSubstr(":since"));
}

TEST_F(ConnectorTest, JsonFilesChangedSinceIsTheSubjectFilesModificationTime) {
  ASSERT_OK_AND_ASSIGN(auto source, JsonFiles());
  const std::string path = Folder() + "/" + kCanaryBsn + ".json";
  WriteFile(path, R"([{"soort": "incident"}])");
  constexpr int64_t kModifiedMs = 1'790'000'000'123;
  const timespec times[2] = {{kModifiedMs / 1000, (kModifiedMs % 1000) * 1'000'000},
                             {kModifiedMs / 1000, (kModifiedMs % 1000) * 1'000'000}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
  ASSERT_OK_AND_ASSIGN(auto changed, source->ChangedSince(CanarySubject(), kModifiedMs - 1));
  EXPECT_EQ(changed, std::optional<int64_t>(kModifiedMs));
  ASSERT_OK_AND_ASSIGN(changed, source->ChangedSince(CanarySubject(), kModifiedMs));
  EXPECT_EQ(changed, std::nullopt);  // not modified after the last look
  SubjectQuery nobody = CanarySubject();
  nobody.bsn = "123456782";
  ASSERT_OK_AND_ASSIGN(changed, source->ChangedSince(nobody, 0));
  EXPECT_EQ(changed, std::nullopt);  // no file: nothing about this subject
}

TEST_F(ConnectorTest, JsonFilesChangedSinceRefusesPathTricksAndSymlinks) {
  ASSERT_OK_AND_ASSIGN(auto source, JsonFiles());
  SubjectQuery q = CanarySubject();
  q.bsn = "../etc/passwd";
  EXPECT_THAT(source->ChangedSince(q, 0), StatusIs(StatusCode::kInvalidArgument));
  WriteFile(dir_.File("elsewhere.json"), "[]");
  ASSERT_EQ(::symlink(dir_.File("elsewhere.json").c_str(), (Folder() + "/" + kCanaryBsn + ".json").c_str()),
            0);
  auto changed = source->ChangedSince(CanarySubject(), 0);
  EXPECT_THAT(changed, StatusIs(StatusCode::kUnavailable));
  EXPECT_THAT(changed.status().message(), Not(HasSubstr(kCanaryBsn)));
}

TEST_F(ConnectorTest, CommandChangedSinceGetsTheTimeAsItsLastArgument) {
  // Prints a record only when asked about changes since exactly 5000.
  const std::string script = Script("changed.sh", R"(cat >/dev/null
for a in "$@"; do last="$a"; done
if [ "$last" = "--changed-since=5000" ]; then echo '[{"soort": "x", "changed_at_ms": 6000}, {"changed_at_ms": "5500"}]'; else echo '[]'; fi)");
  ASSERT_OK_AND_ASSIGN(auto source, Command({script, "--bron=politie"}));
  ASSERT_OK_AND_ASSIGN(auto changed, source->ChangedSince(CanarySubject(), 5000));
  EXPECT_EQ(changed, std::optional<int64_t>(6000));
  ASSERT_OK_AND_ASSIGN(changed, source->ChangedSince(CanarySubject(), 7000));
  EXPECT_EQ(changed, std::nullopt);
  // The ordinary query is not given the argument.
  ASSERT_OK_AND_ASSIGN(auto records, source->Query(CanarySubject()));
  EXPECT_THAT(records, IsEmpty());
}

TEST_F(ConnectorTest, CommandChangedSinceWithoutATimeIsNow) {
  const std::string script = Script("changed-now.sh", "cat >/dev/null; echo '[{\"soort\": \"x\"}]'");
  ASSERT_OK_AND_ASSIGN(auto source, Command({script}));
  const int64_t before = SystemClock::Get().NowMillis();
  ASSERT_OK_AND_ASSIGN(auto changed, source->ChangedSince(CanarySubject(), 0));
  ASSERT_TRUE(changed.has_value());
  EXPECT_GE(*changed, before);
  EXPECT_LE(*changed, SystemClock::Get().NowMillis());
}

TEST_F(ConnectorTest, CommandChangedSinceFailureIsReportedWithoutTheSubject) {
  const std::string script = Script("fails.sh", "cat >/dev/null; exit 3");
  ASSERT_OK_AND_ASSIGN(auto source, Command({script}));
  auto changed = source->ChangedSince(CanarySubject(), 0);
  EXPECT_FALSE(changed.ok());
  EXPECT_THAT(changed.status().message(), Not(HasSubstr(kCanaryBsn)));
  EXPECT_THAT(changed.status().message(), Not(HasSubstr(kCanaryName)));
}

// ------------------------------------------------------------ connector modules
// postgres and https come from modules (connector_module.h), loaded from one
// folder; everything that is not this build's module, in a folder only its
// owner can change, is refused before or instead of being used.

class ConnectorModuleTest : public ::testing::Test {
 protected:
  static ConnectorConfig Https() {
    ConnectorConfig c;
    c.kind = ConnectorConfig::Kind::kHttps;
    c.https.url = "https://127.0.0.1:1/records";  // no file named: the module itself says so
    return c;
  }
  // A folder of modules holding `file` (a copy) as the module of `kind`.
  std::string FolderWith(const std::string& file, const std::string& kind, mode_t mode = 0644) {
    const std::string to = ConnectorModulePath(dir_.path(), kind);
    std::filesystem::copy_file(file, to, std::filesystem::copy_options::overwrite_existing);
    ::chmod(to.c_str(), mode);
    return dir_.path();
  }
  static std::string Built(const std::string& kind) {
    return ConnectorModulePath(KP_CONNECTOR_MODULE_BUILD_DIR, kind);
  }

  TempDir dir_;
};

TEST_F(ConnectorModuleTest, TheBuiltModuleMakesTheConnector) {
  // The module's own check of the config: it was loaded and asked.
  EXPECT_THAT(MakeConnector(Https(), KP_CONNECTOR_MODULE_BUILD_DIR),
              StatusIs(StatusCode::kInvalidArgument, "needs ca_file"));
  EXPECT_THAT(MakeConnector(Https(), FolderWith(Built("https"), "https")),
              StatusIs(StatusCode::kInvalidArgument, "needs ca_file"));
}

TEST_F(ConnectorModuleTest, AMissingModuleSaysWhichFileAndWhichPackage) {
  ConnectorConfig pg;
  pg.kind = ConnectorConfig::Kind::kPostgres;
  auto made = MakeConnector(pg, dir_.path());
  EXPECT_THAT(made, StatusIs(StatusCode::kFailedPrecondition,
                             "data source kind 'postgres' is configured, but its connector module " +
                                 dir_.path() + "/ketenpoort-connector-postgres.so is not installed"));
  EXPECT_THAT(made.status().message(), HasSubstr("ketenpoort-agent package"));
}

TEST_F(ConnectorModuleTest, AModuleOthersCanChangeIsNotLoaded) {
  EXPECT_THAT(MakeConnector(Https(), FolderWith(Built("https"), "https", 0666)),
              StatusIs(StatusCode::kFailedPrecondition, "may be changed by other users"));
}

TEST_F(ConnectorModuleTest, AFolderOthersCanWriteToIsNotUsed) {
  const std::string dir = FolderWith(Built("https"), "https");
  ASSERT_EQ(::chmod(dir.c_str(), 0777), 0);
  EXPECT_THAT(MakeConnector(Https(), dir),
              StatusIs(StatusCode::kFailedPrecondition, "no module is loaded from it"));
  ::chmod(dir.c_str(), 0700);
}

TEST_F(ConnectorModuleTest, AFileThatIsNotAModuleIsRefused) {
  const std::string junk = dir_.File("junk");
  std::ofstream(junk) << "not a shared object";
  EXPECT_THAT(MakeConnector(Https(), FolderWith(junk, "https")),
              StatusIs(StatusCode::kFailedPrecondition, "cannot load the connector module"));
}

TEST_F(ConnectorModuleTest, TheModuleOfAnotherKindIsRefused) {
  EXPECT_THAT(MakeConnector(Https(), FolderWith(Built("postgres"), "https")),
              StatusIs(StatusCode::kFailedPrecondition, "is not the module for 'https' sources"));
}

TEST_F(ConnectorModuleTest, ASharedObjectWithoutTheEntryPointIsRefused) {
  // A real shared object of the system that is no connector module.
  Dl_info info{};
  ASSERT_NE(::dladdr(reinterpret_cast<void*>(&::sqlite3_libversion), &info), 0);
  EXPECT_THAT(MakeConnector(Https(), FolderWith(info.dli_fname, "https")),
              StatusIs(StatusCode::kFailedPrecondition, "is not a Ketenpoort connector module"));
}

}  // namespace
}  // namespace kp::agent

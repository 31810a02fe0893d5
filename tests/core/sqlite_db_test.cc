// kp_sqlite: the statement cache and Exec (one statement kept prepared,
// several run as a script), on a real SQLite file.
#include "core/sqlite/sqlite_db.h"

#include <gtest/gtest.h>

#include <string>

#include "tests/testing/status_matchers.h"

namespace kp::sqlite {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

using testing::IsOk;
using testing::StatusIs;

class SqliteDbTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = Database::Open(dir_.File("test.db"), "test database");
    ASSERT_THAT(db.status(), IsOk());
    db_ = std::move(db).value();
    ASSERT_THAT(db_->Exec("CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT); CREATE TABLE u(x INTEGER);"),
                IsOk());
  }
  int64_t Count(const char* table_sql) {
    Stmt q(*db_, table_sql);
    auto row = q.Step();
    EXPECT_THAT(row.status(), IsOk());
    return q.ColInt(0);
  }
  testing::TempDir dir_;
  std::unique_ptr<Database> db_;
};

TEST_F(SqliteDbTest, TransactionStatementsRunAgainAndAgain) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_THAT(db_->Exec("BEGIN IMMEDIATE"), IsOk());
    ASSERT_THAT(Stmt(*db_, "INSERT INTO t(k, v) VALUES(?, ?)").Int(i).Text("x").Run(), IsOk());
    ASSERT_THAT(db_->Exec("SAVEPOINT s"), IsOk());
    ASSERT_THAT(Stmt(*db_, "INSERT INTO u(x) VALUES(?)").Int(i).Run(), IsOk());
    ASSERT_THAT(db_->Exec("RELEASE s"), IsOk());
    ASSERT_THAT(db_->Exec("COMMIT"), IsOk());
  }
  ASSERT_THAT(db_->Exec("BEGIN IMMEDIATE"), IsOk());
  ASSERT_THAT(Stmt(*db_, "INSERT INTO t(k, v) VALUES(?, ?)").Int(99).Text("y").Run(), IsOk());
  ASSERT_THAT(db_->Exec("ROLLBACK"), IsOk());
  EXPECT_EQ(Count("SELECT COUNT(*) FROM t"), 5);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM u"), 5);
}

TEST_F(SqliteDbTest, SeveralStatementsRunEveryTime) {
  const char* script = "INSERT INTO u(x) VALUES(1); INSERT INTO u(x) VALUES(2);";
  ASSERT_THAT(db_->Exec(script), IsOk());
  ASSERT_THAT(db_->Exec(script), IsOk());
  EXPECT_EQ(Count("SELECT COUNT(*) FROM u"), 4);
  // The same text as a statement: its first statement, prepared afresh.
  ASSERT_THAT(Stmt(*db_, script).Run(), IsOk());
  EXPECT_EQ(Count("SELECT COUNT(*) FROM u"), 5);
}

TEST_F(SqliteDbTest, AStatementWithRowsRunsToItsEnd) {
  ASSERT_THAT(db_->Exec("PRAGMA journal_mode=WAL"), IsOk());
  ASSERT_THAT(db_->Exec("PRAGMA wal_checkpoint(TRUNCATE)"), IsOk());
  ASSERT_THAT(db_->Exec("PRAGMA wal_checkpoint(TRUNCATE)"), IsOk());
}

int64_t Synchronous(Database& db) {
  Stmt q(db, "PRAGMA synchronous");
  auto row = q.Step();
  EXPECT_THAT(row.status(), IsOk());
  return q.ColInt(0);
}

TEST_F(SqliteDbTest, APragmaTakesEffectEveryTimeItRuns) {
  // SQLite applies such a PRAGMA while preparing it: a kept statement run
  // again would leave the setting as it was.
  for (int i = 0; i < 3; ++i) {
    ASSERT_THAT(db_->Exec("PRAGMA synchronous=NORMAL"), IsOk());
    EXPECT_EQ(Synchronous(*db_), 1);
    ASSERT_THAT(db_->Exec("PRAGMA synchronous=FULL"), IsOk());
    EXPECT_EQ(Synchronous(*db_), 2);
  }
}

TEST_F(SqliteDbTest, AFailedStatementNamesTheDatabaseAndCanRunAgain) {
  EXPECT_THAT(db_->Exec("COMMIT"), StatusIs(StatusCode::kUnavailable, "test database"));
  ASSERT_THAT(db_->Exec("BEGIN IMMEDIATE"), IsOk());
  EXPECT_THAT(db_->Exec("COMMIT"), IsOk());
  EXPECT_THAT(db_->Exec("COMMIT"), StatusIs(StatusCode::kUnavailable, "test database"));
  EXPECT_THAT(db_->Exec("NOT SQL"), StatusIs(StatusCode::kUnavailable, "test database"));
  EXPECT_THAT(Stmt(*db_, "SELECT nothing FROM nowhere").Run(),
              StatusIs(StatusCode::kUnavailable, "test database"));
}

TEST_F(SqliteDbTest, AStatementInUseIsNotHandedOutTwice) {
  for (int i = 0; i < 3; ++i) ASSERT_THAT(Stmt(*db_, "INSERT INTO u(x) VALUES(?)").Int(i).Run(), IsOk());
  const char* sql = "SELECT x FROM u ORDER BY x";
  Stmt outer(*db_, sql);
  int pairs = 0;
  while (true) {
    auto row = outer.Step();
    ASSERT_THAT(row.status(), IsOk());
    if (!*row) break;
    Stmt inner(*db_, sql);  // the cached one is busy: a fresh one
    while (true) {
      auto r = inner.Step();
      ASSERT_THAT(r.status(), IsOk());
      if (!*r) break;
      ++pairs;
    }
  }
  EXPECT_EQ(pairs, 9);
}

TEST_F(SqliteDbTest, TheCacheIsBounded) {
  for (size_t i = 0; i < StatementCache::kMaxStatements + 50; ++i) {
    const std::string sql = "SELECT " + std::to_string(i);
    Stmt q(*db_, sql.c_str());
    auto row = q.Step();
    ASSERT_THAT(row.status(), IsOk());
    ASSERT_TRUE(*row);
    EXPECT_EQ(q.ColInt(0), static_cast<int64_t>(i));
  }
  EXPECT_LE(db_->statements().size(), StatementCache::kMaxStatements);
  // Still working past the bound, cached or not.
  ASSERT_THAT(db_->Exec("BEGIN IMMEDIATE"), IsOk());
  ASSERT_THAT(db_->Exec("COMMIT"), IsOk());
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp::sqlite

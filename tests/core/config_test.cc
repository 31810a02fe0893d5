// The shared YAML reader (core/config): every problem at once, each with its
// line:column; unknown, duplicate, mistyped and missing keys; hostile input.
#include <string>

#include "core/config/diagnostics.h"
#include "core/config/key_table.h"
#include "core/config/node.h"
#include "core/config/reader.h"
#include "tests/testing/status_matchers.h"

namespace kp::config {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

using ::kp::testing::IsOk;
using ::kp::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

struct Settings {
  std::string name;
  std::string home = "/srv/default";
  bool enabled = false;
  int64_t count = 3;
  int64_t wait_ms = 15'000;
  std::vector<std::string> tags;
  std::string inner_id;
};

KeyTable SettingsTable(Settings* s) {
  KeyTable table("the test configuration");
  table.Text("name", &s->name, Need::kRequired, "what it is called")
      .Path("home", &s->home, Need::kOptional, "its folder")
      .Bool("enabled", &s->enabled, Need::kOptional, "whether it runs")
      .Int("count", &s->count, 1, 10, Need::kOptional, "how many")
      .Duration("wait", &s->wait_ms, Need::kOptional, "how long it waits", 1, 3'600'000)
      .TextList("tags", &s->tags, Need::kOptional, "labels")
      .Table("inner", KeyTable("inner").Id("id", &s->inner_id, Need::kRequired, "an id"), Need::kOptional,
             "a nested mapping");
  return table;
}

// Reads `text` as "conf/test.yaml"; returns the diagnostics as lines.
std::string ReadSettings(const std::string& text, Settings* s) {
  Diagnostics d("conf/test.yaml");
  Reader reader(&d, "conf");
  if (auto root = ParseYaml(text, d)) (void)SettingsTable(s).Read(*root, reader);
  return FormatDiagnostics(d.Take());
}

TEST(ConfigReaderTest, ReadsDeclaredKeysIntoTheirVariables) {
  Settings s;
  const std::string out = ReadSettings(
      "name: n\nhome: data\nenabled: true\ncount: 7\nwait: 2m\ntags: [a, b]\ninner: {id: x-1}\n", &s);
  EXPECT_EQ(out, "");
  EXPECT_EQ(s.name, "n");
  EXPECT_EQ(s.home, "conf/data");
  EXPECT_TRUE(s.enabled);
  EXPECT_EQ(s.count, 7);
  EXPECT_EQ(s.wait_ms, 120'000);
  EXPECT_THAT(s.tags, ElementsAre("a", "b"));
  EXPECT_EQ(s.inner_id, "x-1");
}

TEST(ConfigReaderTest, AbsentOptionalKeysKeepTheirDefaults) {
  Settings s;
  EXPECT_EQ(ReadSettings("name: n\nhome: /abs\n", &s), "");
  EXPECT_EQ(s.home, "/abs");
  EXPECT_EQ(s.count, 3);
  EXPECT_EQ(s.wait_ms, 15'000);
}

TEST(ConfigReaderTest, ReportsEveryProblemAtOnceWithLineAndColumn) {
  Settings s;
  const std::string out = ReadSettings(
      "home: [a]\n"          // 1: wrong type
      "enabled: yes\n"       // 2: not true/false
      "count: 11\n"          // 3: out of range
      "wait: soon\n"         // 4: not a duration
      "colour: red\n"        // 5: unknown
      "count: 2\n"           // 6: duplicate
      "inner: {id: 'a b'}\n"  // 7: bad id
      "tags: [[x]]\n",        // 8: not a name
      &s);
  EXPECT_EQ(out,
            "conf/test.yaml:1:1: error: the test configuration lacks required key 'name' (what it is called)\n"
            "conf/test.yaml:1:7: error: home must be text\n"
            "conf/test.yaml:2:10: error: enabled must be true or false\n"
            "conf/test.yaml:3:8: error: count must be a whole number from 1 to 10\n"
            "conf/test.yaml:4:7: error: wait: 'soon' is not a duration like 24h, 15m, 30s or 500ms\n"
            "conf/test.yaml:5:1: error: unknown key 'colour' in the test configuration (expected one of: name, "
            "home, enabled, count, wait, tags, inner)\n"
            "conf/test.yaml:6:1: error: duplicate key 'count' in the test configuration\n"
            "conf/test.yaml:7:13: error: inner.id 'a b' is not a valid id (letters, digits, '-', '_', '.', at "
            "most 64, starting with a letter or digit)\n"
            "conf/test.yaml:8:8: error: each entry of tags must be a name\n");
  EXPECT_EQ(s.home, "/srv/default");  // an invalid value is never stored
  EXPECT_EQ(s.count, 3);
}

TEST(ConfigReaderTest, NestedTablesNameTheirKeysDotted) {
  Settings s;
  EXPECT_EQ(ReadSettings("name: n\ninner:\n  idd: x\n", &s),
            "conf/test.yaml:3:3: error: unknown key 'idd' in inner (expected one of: id)\n"
            "conf/test.yaml:3:3: error: inner lacks required key 'id' (an id)\n");
  EXPECT_EQ(ReadSettings("name: n\ninner: 5\n", &s),
            "conf/test.yaml:2:8: error: inner must hold 'key: value' lines (id)\n");
}

TEST(ConfigReaderTest, RequiredTextMustNotBeEmptyAndDurationsHaveBounds) {
  Settings s;
  EXPECT_EQ(ReadSettings("name: ''\nwait: 0s\n", &s),
            "conf/test.yaml:1:7: error: name must not be empty\n"
            "conf/test.yaml:2:7: error: wait must be from 1ms to 1h, not 0s\n");
}

TEST(ConfigReaderTest, NotYamlOrNotAMappingIsOneClearProblem) {
  Settings s;
  EXPECT_THAT(ReadSettings("name: [unclosed\n", &s), HasSubstr("conf/test.yaml:2:1: error: not valid YAML"));
  EXPECT_THAT(ReadSettings("- a\n- b\n", &s),
              HasSubstr("conf/test.yaml:1:1: error: the test configuration must hold 'key: value' lines (name, "));
  EXPECT_THAT(ReadSettings("", &s), HasSubstr("conf/test.yaml: error: the test configuration must hold"));
}

TEST(ConfigReaderTest, TakeStatusListsEveryProblemSortedByPlace) {
  Diagnostics d("f.yaml");
  d.Error(Mark{9, 2}, "later");
  d.Error(Mark{3, 1}, "earlier");
  d.Error("nowhere");
  EXPECT_THAT(d.TakeStatus("the thing"),
              StatusIs(StatusCode::kInvalidArgument, "the thing has 3 problem(s):\n  f.yaml: error: nowhere\n"
                                                     "  f.yaml:3:1: error: earlier\n  f.yaml:9:2: error: later"));
  EXPECT_TRUE(d.empty());
  EXPECT_THAT(d.TakeStatus("the thing"), IsOk());
}

TEST(ConfigReaderTest, SizesAndDurationsAreFormattedAsPeopleWriteThem) {
  EXPECT_EQ(FormatDurationMs(86'400'000), "1d");
  EXPECT_EQ(FormatDurationMs(90'000), "90s");
  EXPECT_EQ(FormatDurationMs(1500), "1500ms");
  Diagnostics d("f.yaml");
  Reader reader(&d);
  auto root = ParseYaml("[64KiB, 4096, 1TiB, 0, 99999999999GiB]", d);
  ASSERT_TRUE(root.has_value());
  const auto items = root->Items();
  EXPECT_EQ(reader.SizeBytes(items[0], "s", 1, 1 << 20), 64u * 1024);
  EXPECT_EQ(reader.SizeBytes(items[1], "s", 1, 1 << 20), 4096u);
  EXPECT_EQ(reader.SizeBytes(items[2], "s", 1, 1 << 20), std::nullopt);
  EXPECT_EQ(reader.SizeBytes(items[3], "s", 1, 1 << 20), std::nullopt);
  EXPECT_EQ(reader.SizeBytes(items[4], "s", 1, 1 << 20), std::nullopt);
  EXPECT_EQ(d.size(), 3u);
}

TEST(ConfigReaderTest, DescribeListsEveryKeyWithItsDefault) {
  Settings s;
  EXPECT_EQ(SettingsTable(&s).Describe(),
            "  name (text, required): what it is called\n"
            "  home (path, default /srv/default): its folder\n"
            "  enabled (true|false, default false): whether it runs\n"
            "  count (whole number, default 3): how many\n"
            "  wait (duration, default 15s): how long it waits\n"
            "  tags (list of text): labels\n"
            "  inner (mapping): a nested mapping\n"
            "  inner.id (id, required): an id\n");
}

// Tamper: every byte of a valid file flipped, every prefix of it: a result
// or diagnostics, never a crash or an exception.
TEST(ConfigReaderTest, SurvivesEveryBitFlipAndTruncation) {
  const std::string good =
      "name: n\nhome: data\nenabled: true\ncount: 7\nwait: 2m\ntags: [a, b]\ninner: {id: x-1}\n";
  for (size_t i = 0; i < good.size() * 8; ++i) {
    std::string text = good;
    text[i / 8] = static_cast<char>(text[i / 8] ^ (1 << (i % 8)));
    Settings s;
    (void)ReadSettings(text, &s);
  }
  for (size_t n = 0; n <= good.size(); ++n) {
    Settings s;
    (void)ReadSettings(good.substr(0, n), &s);
  }
  Settings s;
  EXPECT_THAT(ReadSettings(std::string(100000, '['), &s), HasSubstr("error: not valid YAML"));
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp::config

// KeyTable: the keys of one YAML mapping, declared once — name, type,
// required or optional, default and a short description — and read in one
// pass that reports every problem with its line:column: a key not declared,
// a key written twice, a value of the wrong type, a required key missing.
//
//   GatewayConfig c;
//   KeyTable table("the gateway configuration");
//   table.Text("listen", &c.listen, Need::kOptional, "the address agents and clients connect to")
//        .Path("identity", &c.identity, Need::kRequired, "the gateway's secret identity file")
//        .Duration("peer_timeout", &c.peer_timeout_ms, Need::kOptional, "...");
//   table.Read(root, reader);
//
// Each key writes into the variable it was declared with, and only when the
// value is valid; a key that is absent leaves it as it was, so the value it
// holds at declaration is the default (Describe() shows it). The variables
// are borrowed: they must outlive the table's use.
//
// Thread-compatible; a table may be read several times.
#ifndef KETENPOORT_CORE_CONFIG_KEY_TABLE_H_
#define KETENPOORT_CORE_CONFIG_KEY_TABLE_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/config/node.h"
#include "core/config/reader.h"

namespace kp::config {

enum class Need { kOptional, kRequired };

class KeyTable {
 public:
  // `what` names the mapping in messages ("the agent configuration"). A
  // nested table (Table()) is named by its dotted key instead ("gateway").
  explicit KeyTable(std::string what) : what_(std::move(what)) {}

  // Text; a required one must not be empty.
  KeyTable& Text(std::string name, std::string* out, Need need, std::string description);
  // An id (IsValidId).
  KeyTable& Id(std::string name, std::string* out, Need need, std::string description);
  // A file or folder, relative ones taken from the config file's folder.
  KeyTable& Path(std::string name, std::string* out, Need need, std::string description);
  KeyTable& Bool(std::string name, bool* out, Need need, std::string description);
  KeyTable& Int(std::string name, int64_t* out, int64_t min, int64_t max, Need need, std::string description);
  // A duration ("30s"), from min_ms to max_ms, stored in milliseconds.
  KeyTable& Duration(std::string name, int64_t* out_ms, Need need, std::string description, int64_t min_ms = 1,
                     int64_t max_ms = kMaxDurationMs);
  // A list of text (a single value is a list of one); may be empty ([]).
  KeyTable& TextList(std::string name, std::vector<std::string>* out, Need need, std::string description);
  // A nested mapping with keys of its own; its messages name it by its dotted key.
  KeyTable& Table(std::string name, KeyTable nested, Need need, std::string description);
  // Anything else: `read` gets the value and the reader, and reports its own
  // problems; `key` is the dotted key, for messages.
  using ReadFunction = std::function<void(const Node& value, const std::string& key, Reader& reader)>;
  KeyTable& Custom(std::string name, std::string type, ReadFunction read, Need need, std::string description);

  // Reads a mapping: every declared key present is read into its variable;
  // unknown, duplicate and missing required keys are reported. Returns the
  // values by key (for checks across keys and their places), or nullopt when
  // `node` is not a mapping.
  std::optional<Reader::Fields> Read(const Node& node, Reader& reader) const;
  // The same for a mapping found at dotted key `key` ("categories.x.source"):
  // messages name it and its keys by their dotted names.
  std::optional<Reader::Fields> Read(const Node& node, Reader& reader, const std::string& key) const;

  // One line per key, nested keys dotted:
  //   "  peer_timeout (duration, default 15s): nothing from a peer this long: ...".
  std::string Describe() const;

 private:
  struct Key {
    std::string name;
    std::string type;  // "text", "path", "duration", ...
    Need need;
    std::string default_text;  // what the variable held at declaration; "" for none
    std::string description;
    ReadFunction read;
    std::vector<KeyTable> nested;  // one element for Table()
  };
  KeyTable& Add(Key key);
  std::optional<Reader::Fields> ReadAs(const Node& node, Reader& reader, const std::string& what,
                                       const std::string& prefix) const;
  void DescribeInto(const std::string& prefix, std::string* out) const;

  std::string what_;
  std::vector<Key> keys_;
};

// A check across two durations of one mapping read by a KeyTable: unless
// `longer` exceeds `shorter` (or equals it, when !strictly) it reports, at
// `longer`'s value (at `shorter`'s when `longer` was left at its default),
//   "peer_timeout (15s) must be longer than heartbeat_interval (20s)"
//   "reconnect_max (30s) must be at least reconnect_min (1m)".
struct NamedDuration {
  std::string name;
  int64_t ms;
};
void CheckLonger(const Reader::Fields& fields, Reader& reader, const NamedDuration& longer,
                 const NamedDuration& shorter, bool strictly);

}  // namespace kp::config

#endif  // KETENPOORT_CORE_CONFIG_KEY_TABLE_H_

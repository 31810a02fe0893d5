// Node: one value of a parsed YAML document (a scalar, a sequence, a mapping
// or null) with its place in the file. It hides yaml-cpp: no yaml-cpp type or
// exception crosses this header, so users link kp_config and never yaml-cpp.
//
// A Node is a cheap, immutable handle that shares the parsed document; copies
// may outlive the ParseYaml call. Thread-compatible.
#ifndef KETENPOORT_CORE_CONFIG_NODE_H_
#define KETENPOORT_CORE_CONFIG_NODE_H_

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/config/diagnostics.h"

namespace kp::config {

class Node {
 public:
  // A null value with no place (what a missing key reads as).
  Node();

  bool IsNull() const;
  bool IsScalar() const;
  bool IsSequence() const;
  bool IsMap() const;
  // The text of a scalar; empty for anything else.
  const std::string& Scalar() const;
  // Where the value starts in the file; 0:0 for a Node().
  Mark mark() const;
  // Elements of a sequence or entries of a mapping; 0 otherwise.
  size_t size() const;
  // A sequence's elements in order; empty for anything else.
  std::vector<Node> Items() const;
  // A mapping's (key, value) entries in the file's order, a key written twice
  // included twice (so a reader can report it); empty for anything else.
  std::vector<std::pair<Node, Node>> Entries() const;

  struct Impl;  // holds the yaml-cpp node (node.cc)

 private:
  explicit Node(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  friend std::optional<Node> ParseYaml(std::string_view, Diagnostics&);
  friend struct Impl;

  std::shared_ptr<const Impl> impl_;  // null for Node()
};

// Parses one YAML document. Malformed YAML (or input nested too deep) is one
// diagnostic "not valid YAML: ..." at its place, and nullopt. An empty text
// is a null Node. Never throws.
std::optional<Node> ParseYaml(std::string_view text, Diagnostics& diagnostics);

}  // namespace kp::config

#endif  // KETENPOORT_CORE_CONFIG_NODE_H_

#include "core/config/node.h"

#include <yaml-cpp/yaml.h>

#include <exception>

namespace kp::config {

struct Node::Impl {
  YAML::Node node;

  static Node Wrap(const YAML::Node& n) { return Node(std::make_shared<const Impl>(Impl{n})); }
};

namespace {

const std::string& EmptyText() {
  static const std::string empty;
  return empty;
}

Mark ToMark(const YAML::Mark& m) {
  // yaml-cpp counts from 0 and uses -1 for "no place".
  return Mark{m.line >= 0 ? m.line + 1 : 0, m.column >= 0 ? m.column + 1 : 0};
}

}  // namespace

Node::Node() = default;

bool Node::IsNull() const { return impl_ == nullptr || impl_->node.IsNull(); }
bool Node::IsScalar() const { return impl_ != nullptr && impl_->node.IsScalar(); }
bool Node::IsSequence() const { return impl_ != nullptr && impl_->node.IsSequence(); }
bool Node::IsMap() const { return impl_ != nullptr && impl_->node.IsMap(); }

const std::string& Node::Scalar() const { return IsScalar() ? impl_->node.Scalar() : EmptyText(); }

Mark Node::mark() const { return impl_ == nullptr ? Mark{} : ToMark(impl_->node.Mark()); }

size_t Node::size() const { return IsSequence() || IsMap() ? impl_->node.size() : 0; }

std::vector<Node> Node::Items() const {
  std::vector<Node> out;
  if (!IsSequence()) return out;
  try {
    for (const YAML::Node& item : impl_->node) out.push_back(Impl::Wrap(item));
  } catch (const std::exception&) {
    // A loaded document does not throw here; an empty list is the safe answer.
    out.clear();
  }
  return out;
}

std::vector<std::pair<Node, Node>> Node::Entries() const {
  std::vector<std::pair<Node, Node>> out;
  if (!IsMap()) return out;
  try {
    for (auto it = impl_->node.begin(); it != impl_->node.end(); ++it) {
      out.emplace_back(Impl::Wrap(it->first), Impl::Wrap(it->second));
    }
  } catch (const std::exception&) {
    out.clear();
  }
  return out;
}

std::optional<Node> ParseYaml(std::string_view text, Diagnostics& diagnostics) {
  try {
    return Node::Impl::Wrap(YAML::Load(std::string(text)));
  } catch (const YAML::Exception& e) {
    diagnostics.Error(ToMark(e.mark), "not valid YAML: " + e.msg);
  } catch (const std::exception& e) {
    diagnostics.Error(std::string("cannot read the YAML: ") + e.what());
  }
  return std::nullopt;
}

}  // namespace kp::config

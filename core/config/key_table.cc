#include "core/config/key_table.h"

#include <utility>

namespace kp::config {

KeyTable& KeyTable::Add(Key key) {
  keys_.push_back(std::move(key));
  return *this;
}

KeyTable& KeyTable::Text(std::string name, std::string* out, Need need, std::string description) {
  const std::string default_text = *out;
  return Add({std::move(name), "text", need, default_text, std::move(description),
              [out, need](const Node& value, const std::string& key, Reader& reader) {
                auto v = reader.Text(value, key);
                if (v && v->empty() && need == Need::kRequired) {
                  reader.Error(value, key + " must not be empty");
                } else if (v) {
                  *out = std::move(*v);
                }
              },
              {}});
}

KeyTable& KeyTable::Id(std::string name, std::string* out, Need need, std::string description) {
  const std::string default_text = *out;
  return Add({std::move(name), "id", need, default_text, std::move(description),
              [out](const Node& value, const std::string& key, Reader& reader) {
                if (auto v = reader.Id(value, key)) *out = std::move(*v);
              },
              {}});
}

KeyTable& KeyTable::Path(std::string name, std::string* out, Need need, std::string description) {
  const std::string default_text = *out;
  return Add({std::move(name), "path", need, default_text, std::move(description),
              [out](const Node& value, const std::string& key, Reader& reader) {
                auto v = reader.Path(value, key);
                if (v && v->empty()) {
                  reader.Error(value, key + " must not be empty");
                } else if (v) {
                  *out = std::move(*v);
                }
              },
              {}});
}

KeyTable& KeyTable::Bool(std::string name, bool* out, Need need, std::string description) {
  return Add({std::move(name), "true|false", need, *out ? "true" : "false", std::move(description),
              [out](const Node& value, const std::string& key, Reader& reader) {
                if (auto v = reader.Bool(value, key)) *out = *v;
              },
              {}});
}

KeyTable& KeyTable::Int(std::string name, int64_t* out, int64_t min, int64_t max, Need need,
                        std::string description) {
  return Add({std::move(name), "whole number", need, std::to_string(*out), std::move(description),
              [out, min, max](const Node& value, const std::string& key, Reader& reader) {
                if (auto v = reader.Int(value, key, min, max)) *out = *v;
              },
              {}});
}

KeyTable& KeyTable::Duration(std::string name, int64_t* out_ms, Need need, std::string description,
                             int64_t min_ms, int64_t max_ms) {
  return Add({std::move(name), "duration", need, FormatDurationMs(*out_ms), std::move(description),
              [out_ms, min_ms, max_ms](const Node& value, const std::string& key, Reader& reader) {
                if (auto v = reader.DurationMs(value, key, min_ms, max_ms)) *out_ms = *v;
              },
              {}});
}

KeyTable& KeyTable::TextList(std::string name, std::vector<std::string>* out, Need need,
                             std::string description) {
  return Add({std::move(name), "list of text", need, "", std::move(description),
              [out](const Node& value, const std::string& key, Reader& reader) {
                if (value.IsSequence() && value.size() == 0) {
                  out->clear();
                  return;
                }
                const size_t before = reader.diagnostics().size();
                auto items = reader.TextList(value, key);
                if (reader.diagnostics().size() != before) return;
                out->clear();
                for (auto& [text, at] : items) out->push_back(std::move(text));
              },
              {}});
}

KeyTable& KeyTable::Table(std::string name, KeyTable nested, Need need, std::string description) {
  Key key{std::move(name), "mapping", need, "", std::move(description), nullptr, {}};
  key.nested.push_back(std::move(nested));
  return Add(std::move(key));
}

KeyTable& KeyTable::Custom(std::string name, std::string type, ReadFunction read, Need need,
                           std::string description) {
  return Add({std::move(name), std::move(type), need, "", std::move(description), std::move(read), {}});
}

std::optional<Reader::Fields> KeyTable::Read(const Node& node, Reader& reader) const {
  return ReadAs(node, reader, what_, "");
}

std::optional<Reader::Fields> KeyTable::Read(const Node& node, Reader& reader, const std::string& key) const {
  return ReadAs(node, reader, key, key + ".");
}

std::optional<Reader::Fields> KeyTable::ReadAs(const Node& node, Reader& reader, const std::string& what,
                                               const std::string& prefix) const {
  std::vector<std::string> names;
  for (const Key& k : keys_) names.push_back(k.name);
  if (!node.IsMap()) {
    std::string list;
    for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
    reader.Error(node, what + " must hold 'key: value' lines (" + list + ")");
    return std::nullopt;
  }
  auto fields = reader.ReadMap(node, what, names, {});
  if (!fields) return std::nullopt;
  for (const Key& k : keys_) {
    const std::string dotted = prefix + k.name;
    if (!fields->Has(k.name)) {
      if (k.need == Need::kRequired) {
        reader.Error(node, what + " lacks required key " + Quote(k.name) + " (" + k.description + ")");
      }
      continue;
    }
    const Node value = fields->Get(k.name);
    if (!k.nested.empty()) {
      (void)k.nested.front().Read(value, reader, dotted);
    } else {
      k.read(value, dotted, reader);
    }
  }
  return fields;
}

void KeyTable::DescribeInto(const std::string& prefix, std::string* out) const {
  for (const Key& k : keys_) {
    *out += "  " + prefix + k.name + " (" + k.type;
    if (k.need == Need::kRequired) {
      *out += ", required";
    } else if (!k.default_text.empty()) {
      *out += ", default " + k.default_text;
    }
    *out += "): " + k.description + "\n";
    if (!k.nested.empty()) k.nested.front().DescribeInto(prefix + k.name + ".", out);
  }
}

std::string KeyTable::Describe() const {
  std::string out;
  DescribeInto("", &out);
  return out;
}

void CheckLonger(const Reader::Fields& fields, Reader& reader, const NamedDuration& longer,
                 const NamedDuration& shorter, bool strictly) {
  if (strictly ? longer.ms > shorter.ms : longer.ms >= shorter.ms) return;
  reader.Error(fields.Has(longer.name) ? fields.Get(longer.name) : fields.Get(shorter.name),
               longer.name + " (" + FormatDurationMs(longer.ms) + ") must be " +
                   (strictly ? "longer than " : "at least ") + shorter.name + " (" + FormatDurationMs(shorter.ms) +
                   ")");
}

}  // namespace kp::config

// ParseRecordsJson (connector.h): its own file, so the https connector module
// links it without the rest of the connectors (connector_module.h).
#include <cstdint>
#include <exception>
#include <nlohmann/json.hpp>
#include <set>

#include "agent/connectors/connector.h"

namespace kp::agent {
namespace {

// ------------------------------------------------------------ records JSON

// Builds records straight from the parser's events, so that the text's field
// order is kept, a field named twice is noticed, and nesting is refused at the
// first bracket too deep (no document tree, no deep recursion).
class RecordsSax : public nlohmann::json_sax<nlohmann::json> {
 public:
  std::vector<Record> TakeRecords() { return std::move(records_); }
  const std::string& problem() const { return problem_; }

  bool null() override { return Value(std::nullopt); }
  bool boolean(bool val) override { return Value(std::string(val ? "true" : "false")); }
  bool number_integer(number_integer_t val) override { return Value(std::to_string(val)); }
  bool number_unsigned(number_unsigned_t val) override { return Value(std::to_string(val)); }
  // The number as written ("1.50" stays "1.50").
  bool number_float(number_float_t, const string_t& s) override { return Value(s); }
  bool string(string_t& val) override { return Value(std::move(val)); }
  bool binary(binary_t&) override { return Fail("expected text, not binary data"); }

  bool start_object(std::size_t) override {
    if (depth_ == 0 || (depth_ == 1 && top_is_array_)) {
      ++depth_;
      records_.emplace_back();
      names_.clear();
      return true;
    }
    return Fail("a record holds a nested object; values must be text, numbers, booleans or null");
  }
  bool end_object() override {
    --depth_;
    return true;
  }
  bool start_array(std::size_t) override {
    if (depth_ == 0) {
      ++depth_;
      top_is_array_ = true;
      return true;
    }
    if (top_is_array_ && depth_ == 1) return Fail("expected an object for each record, found an array");
    return Fail("a record holds a nested array; values must be text, numbers, booleans or null");
  }
  bool end_array() override {
    --depth_;
    return true;
  }
  bool key(string_t& val) override {
    if (!names_.insert(val).second) return Fail("a record names the same field twice");
    key_ = std::move(val);
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    // The parser's own message quotes the text near the error: not used.
    return Fail("not valid JSON (or not UTF-8)");
  }

 private:
  bool Value(std::optional<std::string> value) {
    const bool in_record = depth_ == 2 || (depth_ == 1 && !top_is_array_);
    if (!in_record) return Fail("expected an object or an array of objects");
    if (value.has_value()) records_.back().emplace_back(std::move(key_), std::move(*value));
    return true;
  }
  bool Fail(std::string problem) {
    if (problem_.empty()) problem_ = std::move(problem);
    return false;
  }

  int depth_ = 0;
  bool top_is_array_ = false;
  std::string key_;
  std::set<std::string> names_;  // of the current record
  std::vector<Record> records_;
  std::string problem_;
};

}  // namespace

Result<std::vector<Record>> ParseRecordsJson(std::string_view text) {
  RecordsSax sax;
  bool ok = false;
  try {
    ok = nlohmann::json::sax_parse(text.begin(), text.end(), &sax, nlohmann::json::input_format_t::json,
                                   /*strict=*/true);
  } catch (const std::exception&) {
    // The message may quote the text; a generic problem is reported instead.
    ok = false;
  }
  if (!ok) {
    return InvalidArgumentError(sax.problem().empty() ? std::string("not valid JSON") : sax.problem());
  }
  return sax.TakeRecords();
}

}  // namespace kp::agent

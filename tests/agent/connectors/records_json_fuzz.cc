// libFuzzer target: ParseRecordsJson, the parser of what json-files and
// command sources print (untrusted: partner programs and files). It must never
// crash, and whatever it accepts must survive a round trip: the records,
// written back as JSON, parse to the same records.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string_view>

#include "agent/connectors/connector.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto records = kp::agent::ParseRecordsJson(input);
  if (!records.ok()) {
    if (records.status().code() != kp::StatusCode::kInvalidArgument) __builtin_trap();
    return 0;
  }
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const auto& record : *records) {
    nlohmann::ordered_json object = nlohmann::ordered_json::object();
    for (const auto& [field, value] : record) object[field] = value;
    out.push_back(std::move(object));
  }
  auto again = kp::agent::ParseRecordsJson(out.dump());
  if (!again.ok() || *again != *records) __builtin_trap();
  return 0;
}

#include "agent/inbox_command.h"

#include <nlohmann/json.hpp>

#include <cctype>

#include "agent/receiver.h"
#include "core/base/clock.h"

namespace kp::agent {

namespace {

namespace v1 = ketenpoort::v1;

// "watch-ended" for NOTICE_KIND_WATCH_ENDED.
std::string KindName(v1::NoticeKind kind) {
  std::string name = v1::NoticeKind_Name(kind);
  constexpr std::string_view kPrefix = "NOTICE_KIND_";
  if (name.rfind(kPrefix, 0) == 0) name = name.substr(kPrefix.size());
  if (name.empty()) return "unknown-" + std::to_string(static_cast<int>(kind));
  for (char& c : name) c = c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

std::string SinkState(const AgentConfig& config, const ReceivedItem& item) {
  if (item.taken) return "handed to the sink";
  return config.sink.configured() ? "waiting for the sink" : "kept (no sink configured)";
}

}  // namespace

int ListInbox(const AgentConfig& config, bool json, std::ostream& out) {
  auto items = Receiver::List(config.data_dir);
  auto notices = Receiver::ListNotices(config.data_dir);
  if (!items.ok() || !notices.ok()) {
    out << "error: " << (items.ok() ? notices.status() : items.status()).message() << "\n";
    return 1;
  }
  if (json) {
    nlohmann::ordered_json j;
    j["received"] = nlohmann::json::array();
    for (const auto& it : *items) {
      j["received"].push_back({{"id", it.id_hex},
                               {"case_id", it.case_id},
                               {"from", it.from},
                               {"purpose", it.purpose},
                               {"categories", it.categories},
                               {"received_at", FormatRfc3339Millis(it.received_ms)},
                               {"handed_to_sink", it.taken}});
    }
    j["notices"] = nlohmann::json::array();
    for (const auto& n : *notices) {
      nlohmann::ordered_json one = {{"id", n.id_hex},
                                    {"case_id", n.notice.case_id()},
                                    {"kind", KindName(n.notice.kind())},
                                    {"reason_code", n.notice.reason_code()},
                                    {"received_at", FormatRfc3339Millis(n.received_ms)}};
      if (n.notice.at_ms() > 0) one["at"] = FormatRfc3339Millis(n.notice.at_ms());
      j["notices"].push_back(std::move(one));
    }
    out << j.dump(2) << "\n";
    return 0;
  }
  if (items->empty()) {
    out << "nothing received\n";
  } else {
    out << "received (" << items->size() << "):\n";
    for (const auto& it : *items) {
      out << "  " << it.id_hex << "  case " << it.case_id << "  from " << it.from << "  purpose " << it.purpose
          << "  categories " << Join(it.categories) << "  at " << FormatRfc3339Millis(it.received_ms) << "  "
          << SinkState(config, it) << "\n";
    }
  }
  if (!notices->empty()) {
    out << "notices (" << notices->size() << "):\n";
    for (const auto& n : *notices) {
      out << "  " << FormatRfc3339Millis(n.received_ms) << "  case " << n.notice.case_id() << "  "
          << KindName(n.notice.kind());
      if (!n.notice.reason_code().empty()) out << " (" << n.notice.reason_code() << ")";
      out << "\n";
    }
  }
  return 0;
}

int HandOverAgain(const AgentConfig& config, const std::string& id_hex, std::ostream& out) {
  if (!config.sink.configured()) {
    out << "error: no sink is configured (sink: in the agent's configuration): there is nothing to hand it to\n";
    return 1;
  }
  if (Status s = Receiver::HandOverAgain(config.data_dir, id_hex); !s.ok()) {
    out << "error: " << s.message() << "\n";
    return 1;
  }
  out << id_hex << ": the running agent hands it to the sink again within "
      << (config.sink.retry_ms + 999) / 1000 << " s\n";
  return 0;
}

}  // namespace kp::agent

#include "core/audit/record_wire.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/stubs/common.h>

#include <cstring>
#include <map>
#include <vector>

#include "core/base/status.h"
#include "ketenpoort/v1/audit.pb.h"

namespace kp::audit {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;

// What a field number of a message may hold; kNone: not walked (kUnsure).
enum class Kind : uint8_t { kNone, kVarint, kFixed32, kFixed64, kBytes, kUtf8, kMessage };

struct Rule {
  Kind kind = Kind::kNone;
  uint32_t message = 0;  // kMessage: index into Schema::messages
};

struct Schema {
  // By message, by tag (field number << 3 | wire type): a tag whose wire
  // type is not the field's has no rule.
  std::vector<std::vector<Rule>> messages;
  uint32_t index_field = 0;
  uint32_t event_field = 0;
};

constexpr int kMaxFieldNumber = 1024;
constexpr int kMaxDepth = 32;

Kind KindOf(const FieldDescriptor& f) {
  if (f.is_map()) return Kind::kNone;
  switch (f.type()) {
    case FieldDescriptor::TYPE_STRING:
      return Kind::kUtf8;  // proto3 strings are checked; a proto2 one more strictly than needed
    case FieldDescriptor::TYPE_BYTES:
      return Kind::kBytes;
    case FieldDescriptor::TYPE_MESSAGE:
      return Kind::kMessage;
    case FieldDescriptor::TYPE_GROUP:
      return Kind::kNone;
    default:
      break;
  }
  // Repeated numbers may come packed (another wire type): not walked.
  if (f.is_repeated()) return Kind::kNone;
  switch (f.type()) {
    case FieldDescriptor::TYPE_INT32:
    case FieldDescriptor::TYPE_INT64:
    case FieldDescriptor::TYPE_UINT32:
    case FieldDescriptor::TYPE_UINT64:
    case FieldDescriptor::TYPE_SINT32:
    case FieldDescriptor::TYPE_SINT64:
    case FieldDescriptor::TYPE_BOOL:
    case FieldDescriptor::TYPE_ENUM:
      return Kind::kVarint;
    case FieldDescriptor::TYPE_FIXED32:
    case FieldDescriptor::TYPE_SFIXED32:
    case FieldDescriptor::TYPE_FLOAT:
      return Kind::kFixed32;
    case FieldDescriptor::TYPE_FIXED64:
    case FieldDescriptor::TYPE_SFIXED64:
    case FieldDescriptor::TYPE_DOUBLE:
      return Kind::kFixed64;
    default:
      return Kind::kNone;
  }
}

int WireTypeOf(Kind k) {
  switch (k) {
    case Kind::kVarint:
      return 0;
    case Kind::kFixed64:
      return 1;
    case Kind::kBytes:
    case Kind::kUtf8:
    case Kind::kMessage:
      return 2;
    case Kind::kFixed32:
      return 5;
    case Kind::kNone:
      break;
  }
  return -1;
}

Schema BuildSchema() {
  Schema s;
  std::map<const Descriptor*, uint32_t> ids;
  std::vector<const Descriptor*> order;
  auto id_of = [&](const Descriptor* d) {
    auto [it, inserted] = ids.emplace(d, static_cast<uint32_t>(order.size()));
    if (inserted) order.push_back(d);
    return it->second;
  };
  id_of(ketenpoort::v1::AuditRecord::descriptor());
  for (size_t m = 0; m < order.size(); ++m) {
    const Descriptor* d = order[m];
    std::vector<Rule> rules;
    for (int i = 0; i < d->field_count(); ++i) {
      const FieldDescriptor& f = *d->field(i);
      if (f.number() > kMaxFieldNumber) continue;  // not walked: kUnsure
      Rule r;
      r.kind = KindOf(f);
      if (r.kind == Kind::kNone) continue;
      if (r.kind == Kind::kMessage) r.message = id_of(f.message_type());
      const size_t tag = (static_cast<size_t>(f.number()) << 3) | static_cast<size_t>(WireTypeOf(r.kind));
      if (rules.size() <= tag) rules.resize(tag + 1);
      rules[tag] = r;
    }
    s.messages.push_back(std::move(rules));
  }
  s.index_field = ketenpoort::v1::AuditRecord::kIndexFieldNumber;
  s.event_field = ketenpoort::v1::AuditRecord::kEventFieldNumber;
  const Descriptor* rec = ketenpoort::v1::AuditRecord::descriptor();
  KP_CHECK(KindOf(*rec->FindFieldByNumber(static_cast<int>(s.index_field))) == Kind::kVarint);
  KP_CHECK(KindOf(*rec->FindFieldByNumber(static_cast<int>(s.event_field))) == Kind::kVarint);
  return s;
}

const Schema& TheSchema() {
  static const Schema s = BuildSchema();
  return s;
}

// A varint of at most `max_bytes` bytes; false when longer or cut off.
inline bool ReadVarint(const char*& p, const char* end, int max_bytes, uint64_t* out) {
  if (p < end && static_cast<uint8_t>(*p) < 0x80) {  // the common one-byte varint
    *out = static_cast<uint8_t>(*p++);
    return true;
  }
  if (max_bytes >= 2 && end - p >= 2 &&
      static_cast<uint8_t>(p[1]) < 0x80) {  // two bytes (tags of fields 16+)
    *out = (static_cast<uint64_t>(static_cast<uint8_t>(p[0]) & 0x7f)) |
           (static_cast<uint64_t>(static_cast<uint8_t>(p[1])) << 7);
    p += 2;
    return true;
  }
  uint64_t v = 0;
  for (int i = 0; i < max_bytes && p < end; ++i) {
    const auto b = static_cast<uint8_t>(*p++);
    v |= static_cast<uint64_t>(b & 0x7f) << (7 * i);  // bits past 64 drop, as in protobuf
    if (b < 0x80) {
      *out = v;
      return true;
    }
  }
  return false;
}

bool AllAscii(const char* p, size_t n) {
  constexpr uint64_t kHigh = 0x8080808080808080ull;
  if (n < 8) {
    for (size_t i = 0; i < n; ++i) {
      if ((static_cast<uint8_t>(p[i]) & 0x80) != 0) return false;
    }
    return true;
  }
  uint64_t w;
  for (size_t i = 0; i + 8 <= n; i += 8) {
    std::memcpy(&w, p + i, 8);
    if ((w & kHigh) != 0) return false;
  }
  std::memcpy(&w, p + n - 8, 8);  // the last 8 bytes (overlapping)
  return (w & kHigh) == 0;
}

struct Top {
  uint64_t index = 0;
  uint64_t event = 0;
};

// Walks one message in [p, end). Top-level fields go to *top when given.
bool Walk(const Schema& s, uint32_t message, const char* p, const char* end, int depth, Top* top) {
  const std::vector<Rule>& rules = s.messages[message];
  while (p < end) {
    uint64_t tag = 0;
    if (!ReadVarint(p, end, 5, &tag) || tag >= rules.size()) return false;
    const uint64_t number = tag >> 3;  // > 0: tags below 8 have no rule
    const Rule& rule = rules[tag];
    switch (rule.kind) {
      case Kind::kVarint: {
        uint64_t v = 0;
        if (!ReadVarint(p, end, 10, &v)) return false;
        if (top != nullptr) {
          if (number == s.index_field) top->index = v;
          if (number == s.event_field) top->event = v;
        }
        break;
      }
      case Kind::kFixed32:
        if (end - p < 4) return false;
        p += 4;
        break;
      case Kind::kFixed64:
        if (end - p < 8) return false;
        p += 8;
        break;
      case Kind::kBytes:
      case Kind::kUtf8:
      case Kind::kMessage: {
        uint64_t len = 0;
        if (!ReadVarint(p, end, 5, &len) || len > static_cast<uint64_t>(end - p)) return false;
        const char* body = p;
        p += len;
        if (rule.kind == Kind::kUtf8) {
          if (!AllAscii(body, len) &&
              !google::protobuf::internal::IsStructurallyValidUTF8(body, static_cast<int>(len))) {
            return false;
          }
        } else if (rule.kind == Kind::kMessage) {
          if (depth + 1 > kMaxDepth || !Walk(s, rule.message, body, p, depth + 1, nullptr)) return false;
        }
        break;
      }
      case Kind::kNone:
        return false;
    }
  }
  return true;
}

}  // namespace

WireCheck CheckAuditRecordWire(std::string_view bytes, uint64_t* index, int32_t* event) {
  if (bytes.size() > (1u << 30)) return WireCheck::kUnsure;
  Top top;
  if (!Walk(TheSchema(), 0, bytes.data(), bytes.data() + bytes.size(), 0, &top)) return WireCheck::kUnsure;
  *index = top.index;
  // An open enum: protobuf keeps the varint cut to the enum's 32 bits.
  *event = static_cast<int32_t>(static_cast<uint32_t>(top.event));
  return WireCheck::kParses;
}

}  // namespace kp::audit

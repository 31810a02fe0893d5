// A quick check that bytes parse as a ketenpoort.v1.AuditRecord, for the
// verifier (log_verifier.h), which must check that every record parses and
// read its index and event, but needs nothing else of it. A full protobuf
// parse copies every string into a message; this walks the wire format in
// place, led by tables built once from the message descriptors.
//
// It is one-sided by design: kParses only where protobuf's own
// ParseFromArray certainly succeeds and yields the same index and event;
// kUnsure for everything else — anything it does not expect (an unknown
// field, a known field with another wire type, a tag or varint longer than
// protobuf reads, nesting deeper than 32, a packed or map field), and every
// malformed record. The caller then parses the record with protobuf, which
// decides. So the check never accepts what the full parse refuses; it only
// skips the parse for the records written as the writer writes them.
//
// What protobuf (3.21, proto3) checks on such a record, and so does this:
// every tag a varint of at most 5 bytes with a field number > 0; every
// varint at most 10 bytes; fixed32/fixed64 fields complete; every length at
// most 5 bytes and within the enclosing message; every string field valid
// UTF-8 (protobuf's own IsStructurallyValidUTF8 unless all ASCII); every
// nested message likewise. The last occurrence of a field wins; the event is
// the varint cut to 32 bits (an open enum), as protobuf stores it.
// tests/audit/record_wire_test.cc compares the two on mutated records.
#ifndef KETENPOORT_CORE_AUDIT_RECORD_WIRE_H_
#define KETENPOORT_CORE_AUDIT_RECORD_WIRE_H_

#include <cstdint>
#include <string_view>

namespace kp::audit {

enum class WireCheck {
  kParses,  // parses as an AuditRecord; *index and *event are its fields
  kUnsure,  // parse it with protobuf to know
};

// Thread-safe.
WireCheck CheckAuditRecordWire(std::string_view bytes, uint64_t* index, int32_t* event);

}  // namespace kp::audit

#endif  // KETENPOORT_CORE_AUDIT_RECORD_WIRE_H_

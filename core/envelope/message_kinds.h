// Which body message goes with which MessageKind (docs/protocol.md §6).
#ifndef KETENPOORT_CORE_ENVELOPE_MESSAGE_KINDS_H_
#define KETENPOORT_CORE_ENVELOPE_MESSAGE_KINDS_H_

#include <google/protobuf/message.h>

#include <memory>
#include <string_view>

#include "core/base/status.h"
#include "ketenpoort/v1/envelope.pb.h"

namespace kp {

// An empty body message of the kind's type; null for an unknown kind.
std::unique_ptr<google::protobuf::Message> NewBodyFor(ketenpoort::v1::MessageKind kind);

// "fragment-request" -> MESSAGE_KIND_FRAGMENT_REQUEST.
Result<ketenpoort::v1::MessageKind> ParseKindLabel(std::string_view label);

}  // namespace kp

#endif  // KETENPOORT_CORE_ENVELOPE_MESSAGE_KINDS_H_

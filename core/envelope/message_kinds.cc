#include "core/envelope/message_kinds.h"

#include "core/envelope/wire_format.h"
#include "ketenpoort/v1/messages.pb.h"

namespace kp {

namespace v1 = ketenpoort::v1;

std::unique_ptr<google::protobuf::Message> NewBodyFor(v1::MessageKind kind) {
  switch (kind) {
    case v1::MESSAGE_KIND_CASE_COMMAND: return std::make_unique<v1::CaseCommand>();
    case v1::MESSAGE_KIND_CASE_RESULT: return std::make_unique<v1::CaseResult>();
    case v1::MESSAGE_KIND_FRAGMENT_REQUEST: return std::make_unique<v1::FragmentRequest>();
    case v1::MESSAGE_KIND_AUTHORISATION: return std::make_unique<v1::Authorisation>();
    case v1::MESSAGE_KIND_REFUSAL: return std::make_unique<v1::Refusal>();
    case v1::MESSAGE_KIND_FRAGMENT_DELIVERY: return std::make_unique<v1::FragmentDelivery>();
    case v1::MESSAGE_KIND_RECEIPT: return std::make_unique<v1::Receipt>();
    case v1::MESSAGE_KIND_HEARTBEAT: return std::make_unique<v1::Heartbeat>();
    case v1::MESSAGE_KIND_ERROR: return std::make_unique<v1::Error>();
    case v1::MESSAGE_KIND_SUBJECT_DATA: return std::make_unique<v1::SubjectData>();
    case v1::MESSAGE_KIND_FRAGMENT_CONTENT: return std::make_unique<v1::FragmentContent>();
    case v1::MESSAGE_KIND_INBOX_FETCH: return std::make_unique<v1::InboxFetch>();
    case v1::MESSAGE_KIND_AUDIT_PULL: return std::make_unique<v1::AuditPull>();
    case v1::MESSAGE_KIND_AUDIT_CHUNK: return std::make_unique<v1::AuditChunk>();
    case v1::MESSAGE_KIND_DELIVERY_ACK: return std::make_unique<v1::DeliveryAck>();
    case v1::MESSAGE_KIND_ACCEPTED: return std::make_unique<v1::RequestAccepted>();
    case v1::MESSAGE_KIND_CASE_FETCH: return std::make_unique<v1::CaseFetch>();
    case v1::MESSAGE_KIND_CASE_CHAIN: return std::make_unique<v1::CaseChain>();
    case v1::MESSAGE_KIND_REFERRAL: return std::make_unique<v1::Referral>();
    case v1::MESSAGE_KIND_REFERRAL_DECLINE: return std::make_unique<v1::ReferralDecline>();
    case v1::MESSAGE_KIND_REFERRAL_STATUS: return std::make_unique<v1::ReferralStatus>();
    case v1::MESSAGE_KIND_HANDOVER_PACKAGE: return std::make_unique<v1::HandoverPackage>();
    case v1::MESSAGE_KIND_HANDOVER_DATA: return std::make_unique<v1::HandoverData>();
    case v1::MESSAGE_KIND_CASE_NOTICE: return std::make_unique<v1::CaseNotice>();
    case v1::MESSAGE_KIND_SIGNAL: return std::make_unique<v1::Signal>();
    case v1::MESSAGE_KIND_FRAGMENT_PUSH: return std::make_unique<v1::FragmentPush>();
    case v1::MESSAGE_KIND_PUSH_AUTHORISATION: return std::make_unique<v1::PushAuthorisation>();
    case v1::MESSAGE_KIND_PUSH_CONTENT: return std::make_unique<v1::FragmentContent>();
    case v1::MESSAGE_KIND_PUSH_RECEIVED: return std::make_unique<v1::PushReceived>();
    case v1::MESSAGE_KIND_APPROVAL_PENDING: return std::make_unique<v1::ApprovalPending>();
    case v1::MESSAGE_KIND_SOURCE_CONSENT: return std::make_unique<v1::SourceConsent>();
    case v1::MESSAGE_KIND_CONFIG_FETCH: return std::make_unique<v1::ConfigFetch>();
    case v1::MESSAGE_KIND_CONFIG_BUNDLE: return std::make_unique<v1::ConfigBundle>();
    default: return nullptr;
  }
}

Result<v1::MessageKind> ParseKindLabel(std::string_view label) {
  for (int k = v1::MessageKind_MIN; k <= v1::MessageKind_MAX; ++k) {
    auto kind = static_cast<v1::MessageKind>(k);
    if (v1::MessageKind_IsValid(k) && !wire::KindLabel(kind).empty() && wire::KindLabel(kind) == label) {
      return kind;
    }
  }
  return InvalidArgumentError("unknown message kind '" + std::string(label.substr(0, 40)) + "'");
}

}  // namespace kp

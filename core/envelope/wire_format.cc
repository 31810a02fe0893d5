#include "core/envelope/wire_format.h"

#include "core/base/encoding.h"

namespace kp::wire {

using ketenpoort::v1::MessageKind;

std::string_view KindLabel(MessageKind kind) {
  switch (kind) {
    case ketenpoort::v1::MESSAGE_KIND_CASE_COMMAND: return "case-command";
    case ketenpoort::v1::MESSAGE_KIND_CASE_RESULT: return "case-result";
    case ketenpoort::v1::MESSAGE_KIND_FRAGMENT_REQUEST: return "fragment-request";
    case ketenpoort::v1::MESSAGE_KIND_AUTHORISATION: return "authorisation";
    case ketenpoort::v1::MESSAGE_KIND_REFUSAL: return "refusal";
    case ketenpoort::v1::MESSAGE_KIND_FRAGMENT_DELIVERY: return "fragment-delivery";
    case ketenpoort::v1::MESSAGE_KIND_RECEIPT: return "receipt";
    case ketenpoort::v1::MESSAGE_KIND_HEARTBEAT: return "heartbeat";
    case ketenpoort::v1::MESSAGE_KIND_ERROR: return "error";
    case ketenpoort::v1::MESSAGE_KIND_SUBJECT_DATA: return "subject-data";
    case ketenpoort::v1::MESSAGE_KIND_FRAGMENT_CONTENT: return "fragment-content";
    case ketenpoort::v1::MESSAGE_KIND_INBOX_FETCH: return "inbox-fetch";
    case ketenpoort::v1::MESSAGE_KIND_AUDIT_PULL: return "audit-pull";
    case ketenpoort::v1::MESSAGE_KIND_AUDIT_CHUNK: return "audit-chunk";
    case ketenpoort::v1::MESSAGE_KIND_DELIVERY_ACK: return "delivery-ack";
    case ketenpoort::v1::MESSAGE_KIND_ACCEPTED: return "accepted";
    case ketenpoort::v1::MESSAGE_KIND_CASE_FETCH: return "case-fetch";
    case ketenpoort::v1::MESSAGE_KIND_CASE_CHAIN: return "case-chain";
    case ketenpoort::v1::MESSAGE_KIND_REFERRAL: return "referral";
    case ketenpoort::v1::MESSAGE_KIND_REFERRAL_DECLINE: return "referral-decline";
    case ketenpoort::v1::MESSAGE_KIND_REFERRAL_STATUS: return "referral-status";
    case ketenpoort::v1::MESSAGE_KIND_HANDOVER_PACKAGE: return "handover-package";
    case ketenpoort::v1::MESSAGE_KIND_HANDOVER_DATA: return "handover-data";
    case ketenpoort::v1::MESSAGE_KIND_CASE_NOTICE: return "case-notice";
    case ketenpoort::v1::MESSAGE_KIND_SIGNAL: return "signal";
    case ketenpoort::v1::MESSAGE_KIND_FRAGMENT_PUSH: return "fragment-push";
    case ketenpoort::v1::MESSAGE_KIND_PUSH_AUTHORISATION: return "push-authorisation";
    case ketenpoort::v1::MESSAGE_KIND_PUSH_CONTENT: return "push-content";
    case ketenpoort::v1::MESSAGE_KIND_PUSH_RECEIVED: return "push-received";
    case ketenpoort::v1::MESSAGE_KIND_APPROVAL_PENDING: return "approval-pending";
    case ketenpoort::v1::MESSAGE_KIND_SOURCE_CONSENT: return "source-consent";
    case ketenpoort::v1::MESSAGE_KIND_CONFIG_FETCH: return "config-fetch";
    case ketenpoort::v1::MESSAGE_KIND_CONFIG_BUNDLE: return "config-bundle";
    default: return "";
  }
}

size_t MaxBodyBytes(MessageKind kind) {
  switch (kind) {
    case ketenpoort::v1::MESSAGE_KIND_FRAGMENT_REQUEST:
    case ketenpoort::v1::MESSAGE_KIND_SUBJECT_DATA:
    case ketenpoort::v1::MESSAGE_KIND_REFERRAL:
    case ketenpoort::v1::MESSAGE_KIND_CASE_COMMAND:  // an open may carry a referral
      return kMaxRequestBodyBytes;
    case ketenpoort::v1::MESSAGE_KIND_AUTHORISATION:
    case ketenpoort::v1::MESSAGE_KIND_CASE_CHAIN:
    case ketenpoort::v1::MESSAGE_KIND_CONFIG_BUNDLE:  // every card and policy file of the region
      return kMaxAuthorisationBodyBytes;
    case ketenpoort::v1::MESSAGE_KIND_FRAGMENT_PUSH:      // carries sealed content
    case ketenpoort::v1::MESSAGE_KIND_PUSH_CONTENT:
    case ketenpoort::v1::MESSAGE_KIND_PUSH_AUTHORISATION:  // the push and the case's chain
      return kMaxHandoverBodyBytes;
    case ketenpoort::v1::MESSAGE_KIND_AUDIT_CHUNK:
      return kMaxFragmentBodyBytes;
    case ketenpoort::v1::MESSAGE_KIND_FRAGMENT_DELIVERY:
    case ketenpoort::v1::MESSAGE_KIND_FRAGMENT_CONTENT:
      return kMaxFragmentBodyBytes;
    case ketenpoort::v1::MESSAGE_KIND_HANDOVER_PACKAGE:
    case ketenpoort::v1::MESSAGE_KIND_HANDOVER_DATA:
      return kMaxHandoverBodyBytes;
    default:
      return kMaxSmallBodyBytes;
  }
}

std::string SigningInput(MessageKind kind, std::string_view header, std::string_view body) {
  std::string out;
  std::string_view label = KindLabel(kind);
  out.reserve(kSignaturePrefix.size() + label.size() + 9 + header.size() + body.size());
  out.append(kSignaturePrefix);
  out.append(label);
  out.push_back('\0');
  AppendLengthPrefixed(out, header);
  AppendLengthPrefixed(out, body);
  return out;
}

}  // namespace kp::wire

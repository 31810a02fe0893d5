#include "agent/approval_commands.h"

#include <cctype>
#include <chrono>
#include <thread>

#include "agent/approvals.h"
#include "case/consent.h"
#include "core/base/encoding.h"
#include "core/base/time_format.h"

namespace kp::agent {

namespace {

constexpr size_t kMaxReason = 300;
constexpr size_t kMaxName = 100;

std::string Join(const std::vector<std::string>& v, const char* sep = ", ") {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

// Text typed by a professional that goes into the log or to the
// coordinator: one line, printable, bounded, and no run of digits that
// could be a BSN or a phone number.
Status CheckTyped(const std::string& text, const char* what, size_t max, bool required) {
  if (text.empty()) {
    return required ? InvalidArgumentError(std::string("give ") + what) : OkStatus();
  }
  if (text.size() > max) return InvalidArgumentError(std::string(what) + " is longer than " + std::to_string(max) + " characters");
  size_t digits = 0;
  for (unsigned char ch : text) {
    if (ch < 0x20 || ch == 0x7f) return InvalidArgumentError(std::string(what) + " must be one line of text");
    digits = std::isdigit(ch) ? digits + 1 : 0;
    if (digits >= 8) {
      return InvalidArgumentError(std::string(what) +
                                  " holds a long number (a BSN, a phone number?); it must not hold personal data");
    }
  }
  return OkStatus();
}

// "2 days 3 hours", "40 minutes".
std::string Left(int64_t ms) {
  if (ms <= 0) return "no time";
  const int64_t minutes = ms / 60'000, hours = minutes / 60, days = hours / 24;
  if (days > 0) return std::to_string(days) + (days == 1 ? " day " : " days ") + std::to_string(hours % 24) + " h";
  if (hours > 0) return std::to_string(hours) + " h " + std::to_string(minutes % 60) + " min";
  return std::to_string(std::max<int64_t>(minutes, 1)) + " min";
}

void Print(const PendingApproval& a, int64_t now, std::ostream& out) {
  out << HexEncode(a.request_id).substr(0, 8) << "  " << ApprovalStateName(a.state) << "  case " << a.case_id
      << " (phase " << a.phase << ")\n";
  out << "    asked by " << a.coordinator << " (" << a.recipient_partner << ") for purpose " << a.purpose << "\n";
  out << "    categories: " << Join(a.categories) << "; about: " << Join(a.subject_roles)
      << (a.justification ? "; with a justification (sealed; the agent checked it)" : "") << "\n";
  out << "    allowed by rule " << Join(a.rule_ids) << (a.legal_basis.empty() ? "" : " (basis " + a.legal_basis + ")")
      << "\n";
  if (a.state == ApprovalState::kWaiting) {
    out << "    decide by " << FormatRfc3339Millis(a.decide_by_ms) << " (" << Left(a.decide_by_ms - now) << " left)\n";
  } else if (!a.decided_by.empty()) {
    out << "    " << (a.state == ApprovalState::kDeclined || a.state == ApprovalState::kRefused ? "declined" : "approved")
        << " by " << a.decided_by << " at " << FormatRfc3339Millis(a.decided_ms)
        << (a.reason.empty() ? "" : ": " + a.reason) << "\n";
  }
  if (!a.outcome.empty()) out << "    outcome: " << a.outcome << "\n";
}

Result<std::unique_ptr<Approvals>> OpenQueue(const AgentConfig& config) {
  auto q = Approvals::Open(config.data_dir);
  if (!q.ok()) {
    return Status(q.status().code(), "cannot open the approval queue in " + config.data_dir + " (" +
                                         q.status().message() + "); run this as the agent's user");
  }
  return q;
}

// Case ids, subject refs and purposes: ids only (letters, digits, - / . _).
Status CheckId(const std::string& s, const char* what) {
  if (s.empty() || s.size() > 64) return InvalidArgumentError(std::string("give ") + what);
  for (unsigned char ch : s) {
    if (!(std::isalnum(ch) || ch == '-' || ch == '/' || ch == '.' || ch == '_')) {
      return InvalidArgumentError(std::string(what) + " '" + s.substr(0, 64) + "' is not an id");
    }
  }
  return OkStatus();
}

int Fail(std::ostream& out, const Status& s) {
  out << "error: " << s.message() << "\n";
  return 1;
}

}  // namespace

int ListApprovals(const AgentConfig& config, bool all, const Clock& clock, std::ostream& out) {
  auto q = OpenQueue(config);
  if (!q.ok()) return Fail(out, q.status());
  auto list = (*q)->List(all);
  if (!list.ok()) return Fail(out, list.status());
  const int64_t now = clock.NowMillis();
  size_t waiting = 0;
  for (const auto& a : *list) waiting += a.state == ApprovalState::kWaiting ? 1 : 0;
  out << waiting << " request(s) wait for a decision";
  if (list->size() != waiting) out << ", " << list->size() - waiting << " other(s) listed";
  out << "\n";
  for (const auto& a : *list) Print(a, now, out);
  if (waiting > 0) {
    out << "decide with: ketenpoort-agent approvals approve|decline ID --by \"NAME, FUNCTION\" [--reason TEXT]\n";
  }
  return 0;
}

int DecideApproval(const AgentConfig& config, const std::string& id, bool approve, const std::string& by,
                   const std::string& reason, int64_t wait_ms, const Clock& clock, std::ostream& out) {
  if (Status s = CheckTyped(by, "--by (your name and function)", kMaxName, true); !s.ok()) return Fail(out, s);
  if (Status s = CheckTyped(reason, approve ? "--reason" : "--reason (why you decline; the coordinator reads it)",
                            kMaxReason, !approve);
      !s.ok()) {
    return Fail(out, s);
  }
  auto q = OpenQueue(config);
  if (!q.ok()) return Fail(out, q.status());
  auto found = (*q)->Find(id);
  if (!found.ok()) return Fail(out, found.status());
  if (Status s = (*q)->Decide(found->request_id, approve, by, reason, clock.NowMillis()); !s.ok()) return Fail(out, s);
  out << (approve ? "approved" : "declined") << ": request " << HexEncode(found->request_id).substr(0, 8) << " of case "
      << found->case_id << "\n";
  // The running agent acts on it at its next look.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  while (true) {
    auto now = (*q)->Get(found->request_id);
    if (now.ok() && now->has_value() && (*now)->state != ApprovalState::kApproved &&
        (*now)->state != ApprovalState::kDeclined) {
      out << "the agent " << ((*now)->state == ApprovalState::kAnswered ? "acted on it: " : "sent the refusal: ")
          << (*now)->outcome << "\n";
      return 0;
    }
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  out << "the decision is kept; the agent acts on it as soon as it runs and is connected to the gateway\n";
  return 0;
}

int RecordSourceConsent(const AgentConfig& config, const ConsentArgs& args, int64_t wait_ms, const Clock& clock,
                        std::ostream& out) {
  if (Status s = CheckId(args.case_id, "--case"); !s.ok()) return Fail(out, s);
  if (Status s = CheckId(args.subject_ref, "--subject (the case's reference, e.g. S1)"); !s.ok()) return Fail(out, s);
  if (Status s = CheckId(args.purpose, "--purpose"); !s.ok()) return Fail(out, s);
  if (Status s = CheckTyped(args.by, "--by (your name and function)", kMaxName, true); !s.ok()) return Fail(out, s);
  SourceConsentEntry c;
  c.case_id = args.case_id;
  c.subject_ref = args.subject_ref;
  c.purpose = args.purpose;
  c.recorded_by = args.by;
  c.written_ms = clock.NowMillis();
  c.withdrawn = args.withdraw;
  if (args.withdraw) {
    if (!args.until.empty() || !args.given_by.empty() || args.age >= 0) {
      return Fail(out, InvalidArgumentError("a withdrawal takes no --until, --given-by or --age"));
    }
  } else {
    if (args.until.empty()) return Fail(out, InvalidArgumentError("give --until YYYY-MM-DD, the last day it holds"));
    auto until = ParseDateEndOfDayUtc(args.until);
    if (!until.ok()) return Fail(out, InvalidArgumentError("--until takes a date YYYY-MM-DD"));
    if (*until <= c.written_ms) return Fail(out, InvalidArgumentError("--until lies in the past"));
    c.valid_until_ms = *until;
    auto givers = cases::ParseGivenBy(args.given_by.empty() ? "subject" : args.given_by);
    if (!givers.ok()) return Fail(out, givers.status());
    c.givers = *givers;
    if (args.age > 150) return Fail(out, InvalidArgumentError("--age takes the subject's age in years (0-150)"));
    c.age_years = args.age;
  }
  auto q = OpenQueue(config);
  if (!q.ok()) return Fail(out, q.status());
  auto id = (*q)->AddConsent(c);
  if (!id.ok()) return Fail(out, id.status());
  out << (args.withdraw ? "withdrawal" : "consent") << " for subject " << c.subject_ref << " of case " << c.case_id
      << " written; the agent sends it to the gateway\n";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  while (true) {
    auto now = (*q)->GetConsent(*id);
    if (now.ok() && now->has_value()) {
      if ((*now)->confirmed) {
        out << "the gateway " << (args.withdraw ? "recorded the withdrawal" : "recorded the consent")
            << " (its log index " << (*now)->audit_index << ")\n";
        return 0;
      }
      if (!(*now)->error.empty()) {
        out << "error: the gateway refused it: " << (*now)->error << "\n";
        return 1;
      }
    }
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  out << "not yet confirmed by the gateway; the agent sends it as soon as it runs and is connected\n";
  return 0;
}

}  // namespace kp::agent

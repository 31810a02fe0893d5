#include "gateway/gateway_check.h"

#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "core/audit/storage.h"
#include "core/base/clock.h"
#include "core/base/file_util.h"
#include "core/identity/identity.h"
#include "core/identity/registry.h"
#include "gateway/startup.h"

namespace kp::gateway {

namespace {
constexpr uint64_t kMinFreeMiB = 64;
}  // namespace

std::vector<std::string> CheckGateway(const GatewayConfig& config, std::vector<std::string>* report) {
  std::vector<std::string> problems;
  auto ok = [&](const std::string& line) {
    if (report != nullptr) report->push_back(line);
  };
  // The same loaders as a start (gateway/startup.h), each problem on its own.
  auto identity = LoadGatewayIdentity(config);
  if (!identity.ok()) {
    problems.push_back("identity: " + identity.status().message());
  } else {
    ok("identity " + identity->id() + ": keys readable, file mode 0600");
  }
  auto enrolment = LoadEnrolmentCard(config);
  if (!enrolment.ok()) {
    problems.push_back("enrolment card: " + enrolment.status().message());
  } else {
    ok("enrolment card " + enrolment->id + " (" + enrolment->Fingerprint() + ", " + enrolment->ExpiryText() +
       ")");
    if (std::string w =
            PinnedEnrolmentCardWarning(*enrolment, config.enrolment_card, SystemClock::Get().NowMillis());
        !w.empty()) {
      ok("warning: " + w);
    }
    auto reg = Registry::Load(config.registry, enrolment->signing_key);
    if (!reg.ok()) {
      problems.push_back("registry: " + reg.status().message());
    } else {
      ok("registry serial " + std::to_string(reg->serial()) + ": " + std::to_string(reg->entries().size()) +
         " participants, signature valid");
      if (identity.ok() && !LoadGatewayRegistry(config, *enrolment, *identity).ok()) {
        problems.push_back("registry: the gateway's own card (" + identity->id() +
                           ") is not in the signed registry, or differs from its keys");
      }
    }
  }
  auto policy = LoadGatewayPolicy(config);
  if (!policy.ok()) {
    problems.push_back("policy: " + policy.status().message());
  } else {
    ok("policy " + (*policy)->id() + ": no lint errors (sha256 " + (*policy)->sha256_hex().substr(0, 16) +
       "...)");
  }
  struct stat st {};
  if (::stat(config.data_dir.c_str(), &st) != 0) {
    problems.push_back("data folder: " + config.data_dir + " does not exist (create it, mode 0700)");
  } else if (Status s = CheckDirNotGroupOrWorldWritable(config.data_dir); !s.ok()) {
    problems.push_back("data folder: " + s.message());
  } else if (::access(config.data_dir.c_str(), W_OK) != 0) {
    problems.push_back("data folder: " + config.data_dir + " is not writable by this user");
  } else {
    ok("data folder " + config.data_dir + " is writable");
    // A full disk makes a running gateway refuse every message until it can
    // write again (docs/operations.md, "A full disk"): say so here too.
    struct statvfs fs {};
    if (::statvfs(config.data_dir.c_str(), &fs) == 0) {
      const uint64_t free_mib = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize / (1024 * 1024);
      if (free_mib < kMinFreeMiB) {
        problems.push_back(
            "data folder: only " + std::to_string(free_mib) + " MiB free on its filesystem (at least " +
            std::to_string(kMinFreeMiB) +
            " MiB needed); while the gateway cannot write its audit log "
            "and case database it refuses every message. Free space: a running gateway serves again "
            "by itself once it can write");
      } else {
        ok("data folder: " + std::to_string(free_mib) + " MiB free");
      }
    }
    // A running gateway holds the audit log's folder lock (flock on
    // data_dir/audit/LOCK) for as long as it runs. Taking it for a moment
    // is the only test that does not guess; a gateway starting in that
    // moment would be refused and can be started again.
    const std::string audit_dir = AuditDir(config);
    if (::access((audit_dir + "/LOCK").c_str(), F_OK) == 0) {
      auto lock = audit::PosixStorage().LockFolder(audit_dir);
      if (lock.ok()) {
        ok("no other gateway is running with this data folder");
      } else if (lock.status().code() == StatusCode::kUnavailable) {
        problems.push_back(
            "data folder: another ketenpoort-gateway is running with this data folder (it holds " +
            audit_dir +
            "/LOCK); stop it first (systemctl stop ketenpoort-gateway), or give this "
            "configuration a data_dir of its own");
      } else {
        problems.push_back("data folder: cannot look at the audit log's lock: " + lock.status().message());
      }
    }
  }
  return problems;
}

}  // namespace kp::gateway

#include "case/config_update.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "core/base/file_util.h"

namespace kp::cases {
namespace {

namespace fs = std::filesystem;

// The serial a manifest states ("serial: N" line), unverified: only to tell
// "nothing new" from "look closer". 0 when there is none.
uint64_t StatedSerial(std::string_view manifest) {
  size_t p = manifest.find("\nserial: ");
  if (p == std::string_view::npos) return 0;
  p += 9;
  uint64_t v = 0;
  size_t digits = 0;
  while (p < manifest.size() && manifest[p] >= '0' && manifest[p] <= '9' && digits < 19) {
    v = v * 10 + static_cast<uint64_t>(manifest[p++] - '0');
    ++digits;
  }
  return v;
}

bool PlainCardName(const std::string& name) {
  if (name.size() < 6 || name.size() > 120 || name.front() == '.' || !name.ends_with(".card")) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

Status MakeDir(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return UnavailableError("cannot create " + dir + ": " + std::strerror(errno));
  }
  return OkStatus();
}

// Puts folder `fresh` in the place of `dir` (the old one goes).
Status Replace(const std::string& fresh, const std::string& dir) {
  std::error_code ec;
  const std::string old = dir + ".old";
  fs::remove_all(old, ec);
  if (fs::exists(dir)) fs::rename(dir, old, ec);
  if (ec) return UnavailableError("cannot move " + dir + " aside: " + ec.message());
  fs::rename(fresh, dir, ec);
  if (ec) return UnavailableError("cannot put " + fresh + " in place: " + ec.message());
  fs::remove_all(old, ec);
  return OkStatus();
}

Result<Registry> TakeRegistry(const ketenpoort::v1::ConfigBundle& bundle, const std::string& data_dir,
                              const std::string& key, const Registry* current, uint64_t min_serial,
                              int64_t now_ms) {
  const std::string dir = FetchedRegistryDir(data_dir);
  const std::string fresh = dir + ".new";
  std::error_code ec;
  fs::remove_all(fresh, ec);
  KP_RETURN_IF_ERROR(MakeDir(fresh));
  for (const auto& card : bundle.cards()) {
    if (!PlainCardName(card.name())) {
      fs::remove_all(fresh, ec);
      return InvalidArgumentError("the registry carries a card with a name that is not a plain file name");
    }
    KP_RETURN_IF_ERROR(
        WriteFileDurable(fresh + "/" + card.name(), card.content(), 0644, WriteMode::kReplace));
  }
  KP_RETURN_IF_ERROR(WriteFileDurable(fresh + "/" + kRegistryManifestName, bundle.registry_manifest(), 0644,
                                      WriteMode::kReplace));
  auto reg = Registry::Load(fresh, key, min_serial, now_ms);
  if (reg.ok() && current != nullptr && reg->region() != current->region()) {
    reg = PermissionDeniedError("the registry is for region " + reg->region() + ", not " + current->region());
  }
  if (!reg.ok()) {
    fs::remove_all(fresh, ec);
    return reg.status();
  }
  KP_RETURN_IF_ERROR(Replace(fresh, dir));
  // Loaded again from where it stays (its entries name nothing of `fresh`,
  // but a later reload reads this folder).
  return Registry::Load(dir, key, min_serial, now_ms);
}

}  // namespace

std::string ConfigRefusalReason(const Status& refused) {
  switch (refused.code()) {
    case StatusCode::kFailedPrecondition:
      return "older";
    case StatusCode::kUnauthenticated:
      return "tampered";
    case StatusCode::kPermissionDenied:
      return "foreign-region";
    case StatusCode::kInvalidArgument:
      return "malformed";
    case StatusCode::kNotFound:
      return "incomplete";
    default:
      return "not-written";
  }
}

std::string FetchedRegistryDir(const std::string& data_dir) { return data_dir + "/config/registry"; }
std::string FetchedPolicyDir(const std::string& data_dir) { return data_dir + "/config/policy"; }

Result<ConfigSerials> LoadConfigSerials(const std::string& data_dir) {
  auto text = ReadFileBounded(data_dir + "/config/serials", 4096);
  if (!text.ok()) {
    if (text.status().code() == StatusCode::kNotFound) return ConfigSerials{};
    return text.status();
  }
  ConfigSerials s;
  unsigned long long r = 0, p = 0;
  if (std::sscanf(text->c_str(), "registry %llu\npolicy %llu\n", &r, &p) != 2) {
    return DataLossError(data_dir +
                         "/config/serials is damaged; it holds the highest registry and policy serials "
                         "accepted (restore it from a backup, or write 'registry N' and 'policy M' lines)");
  }
  s.registry = r;
  s.policy = p;
  return s;
}

Status SaveConfigSerials(const std::string& data_dir, const ConfigSerials& serials) {
  KP_RETURN_IF_ERROR(MakeDir(data_dir + "/config"));
  return WriteFileDurable(
      data_dir + "/config/serials",
      "registry " + std::to_string(serials.registry) + "\npolicy " + std::to_string(serials.policy) + "\n",
      0600, WriteMode::kReplace);
}

ConfigUpdate AcceptConfigBundle(const ketenpoort::v1::ConfigBundle& bundle, const std::string& data_dir,
                                const std::string& enrolment_public_key, const Registry& current,
                                uint64_t current_policy_serial, ConfigSerials* serials, int64_t now_ms) {
  return AcceptConfigBundle(bundle, data_dir, enrolment_public_key, &current, current_policy_serial, serials,
                            now_ms);
}

ConfigUpdate AcceptConfigBundle(const ketenpoort::v1::ConfigBundle& bundle, const std::string& data_dir,
                                const std::string& enrolment_public_key, const Registry* current,
                                uint64_t current_policy_serial, ConfigSerials* serials, int64_t now_ms) {
  ConfigUpdate out;
  if (Status s = MakeDir(data_dir + "/config"); !s.ok()) {
    out.registry_refused = out.policy_refused = s;
    return out;
  }
  const uint64_t have_registry = std::max(serials->registry, current != nullptr ? current->serial() : 0);
  if (!bundle.registry_manifest().empty()) {
    out.offered_registry_serial = StatedSerial(bundle.registry_manifest());
    if (out.offered_registry_serial != have_registry) {
      auto reg = TakeRegistry(bundle, data_dir, enrolment_public_key, current, have_registry, now_ms);
      if (reg.ok() && reg->serial() == have_registry) {
        // The same serial stated otherwise: nothing new.
      } else if (reg.ok()) {
        serials->registry = reg->serial();
        out.registry = std::move(reg).value();
      } else {
        out.registry_refused = reg.status();
      }
    }
  }
  const uint64_t have_policy = std::max(serials->policy, current_policy_serial);
  if (!bundle.policy_manifest().empty()) {
    out.offered_policy_serial = StatedSerial(bundle.policy_manifest());
    if (out.offered_policy_serial != have_policy) {
      std::map<std::string, std::string> files;
      for (const auto& f : bundle.policies()) files.emplace(f.name(), f.content());
      const Registry* signer_registry = out.registry ? &*out.registry : current;
      Result<PolicySet> set = NotFoundError(
          "a policy bundle without a registry to check it against (the gateway's registry was refused or "
          "missing)");
      if (signer_registry != nullptr) {
        PolicySet::Expect expect{enrolment_public_key, signer_registry, have_policy + 1,
                                 signer_registry->region()};
        set = PolicySet::FromBundle(bundle.policy_manifest(), files, expect);
      }
      if (set.ok()) {
        const std::string dir = FetchedPolicyDir(data_dir);
        std::error_code ec;
        fs::remove_all(dir + ".new", ec);
        Status w = WritePolicyBundle(dir + ".new", *set);
        if (w.ok()) w = Replace(dir + ".new", dir);
        if (w.ok()) {
          serials->policy = set->serial();
          out.policies = std::move(set).value();
        } else {
          out.policy_refused = w;
        }
      } else {
        out.policy_refused = set.status();
      }
    }
  }
  if (out.registry || out.policies) {
    if (Status s = SaveConfigSerials(data_dir, *serials); !s.ok()) {
      // Not remembered: not taken into use either (a restart would forget the serial).
      out.registry.reset();
      out.policies.reset();
      out.registry_refused = out.policy_refused = s;
    }
  }
  return out;
}

}  // namespace kp::cases

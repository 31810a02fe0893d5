#include "case/policy_bundle.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/base/clock.h"
#include "core/base/encoding.h"
#include "core/base/file_util.h"
#include "core/crypto/ed25519.h"
#include "core/crypto/sha256.h"
#include "core/identity/participant.h"
#include "policy/policy_loader.h"

namespace kp::cases {
namespace {

constexpr std::string_view kDomain("ketenpoort/v1/policy-bundle\0", 28);
constexpr std::string_view kMagic = "ketenpoort-policy-bundle v1\n";
constexpr std::string_view kSignatureKey = "signature: ";

Status Bad(const std::string& what) { return InvalidArgumentError("policy bundle manifest: " + what); }

std::string ShaHex(std::string_view bytes) { return HexEncode(Sha256String(bytes)); }

// A plain file name: letters, digits, '.', '_', '-'; not starting with '.'.
bool PlainFileName(std::string_view name) {
  if (name.empty() || name.size() > 100 || name.front() == '.' || name == kPolicyManifestName) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
  });
}

bool PlainToken(std::string_view t) {
  return !t.empty() && t.size() <= 200 &&
         std::all_of(t.begin(), t.end(), [](char c) { return c > ' ' && c < 0x7f; });
}

Result<uint64_t> ParseSerial(std::string_view s) {
  if (s.empty() || s.size() > 19 || s[0] == '0') return Bad("serial is not a number from 1");
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return Bad("serial is not a number from 1");
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

std::vector<std::string_view> Split(std::string_view line) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (pos <= line.size()) {
    size_t sp = line.find(' ', pos);
    if (sp == std::string_view::npos) sp = line.size();
    out.push_back(line.substr(pos, sp - pos));
    pos = sp + 1;
  }
  return out;
}

std::string Sha256Arg(std::string_view sha256) {
  if (sha256.size() == 32) return HexEncode(sha256);
  return std::string(sha256);
}

}  // namespace

std::string PolicyVersionId(const policy::Policy& policy) {
  std::string v = policy.id();
  if (!policy.version().empty()) {
    std::string version = policy.version();
    for (char& c : version) {
      if (c <= ' ' || c >= 0x7f) c = '_';
    }
    v += "@" + version;
  }
  return v;
}

Result<PolicyManifest> VerifyPolicyManifest(std::string_view text, const std::string& enrolment_public_key,
                                            const Registry* registry) {
  if (text.size() > kMaxPolicyManifestBytes) return Bad("larger than 64 KiB");
  if (!text.starts_with(kMagic)) return Bad("not a Ketenpoort policy bundle manifest (first line)");
  const size_t sig_pos = text.rfind(kSignatureKey);
  if (sig_pos == std::string_view::npos || sig_pos < kMagic.size() || text[sig_pos - 1] != '\n' ||
      text.back() != '\n') {
    return Bad("no signature line; the file may be truncated");
  }
  auto sig = Base64Decode(text.substr(sig_pos + kSignatureKey.size(), text.size() - sig_pos - kSignatureKey.size() - 1));
  // Only the canonical encoding: no two texts carry the same signature.
  if (!sig.ok() || sig->size() != 64 ||
      Base64Encode(*sig) != text.substr(sig_pos + kSignatureKey.size(), text.size() - sig_pos - kSignatureKey.size() - 1)) {
    return Bad("the signature line is malformed");
  }
  const std::string_view body = text.substr(0, sig_pos);

  // The signer line is read before the signature is checked, only to know
  // which key to check it with; nothing else is looked at before.
  std::string signer;
  {
    size_t p = body.find("\nsigner: ");
    if (p == std::string_view::npos) return Bad("no signer line");
    size_t e = body.find('\n', p + 1);
    signer = std::string(body.substr(p + 9, e - p - 9));
  }
  std::vector<std::string> keys;
  if (signer == kEnrolmentSigner) {
    keys.push_back(enrolment_public_key);
  } else {
    if (registry == nullptr) {
      return UnauthenticatedError("policy bundle signed by '" + signer +
                                  "', but only the enrolment key is accepted here (no registry to name a signer)");
    }
    auto entry = registry->Find(signer);
    if (!entry.ok()) {
      return UnauthenticatedError("policy bundle signed by '" + signer + "', who is not in the signed registry");
    }
    if ((*entry)->role != kPolicySignerRole) {
      return UnauthenticatedError("policy bundle signed by '" + signer + "', whom the signed registry does not name " +
                                  "as policy-signer");
    }
    if ((*entry)->card.kind == ParticipantKind::kGateway) {
      return UnauthenticatedError("policy bundle signed by the gateway '" + signer + "'; a gateway may never sign one");
    }
    keys = (*entry)->SigningKeys();
  }
  std::string signed_bytes(kDomain);
  signed_bytes.append(body);
  bool verified = false;
  for (const auto& k : keys) verified = verified || Ed25519Verify(k, signed_bytes, *sig).ok();
  if (!verified) {
    return UnauthenticatedError("policy bundle manifest: the signature does not verify with the key of signer '" +
                                signer + "' (the manifest was changed, or it comes from another region)");
  }

  PolicyManifest m;
  m.signer = signer;
  m.sha256_hex = ShaHex(text);
  std::string_view rest = body.substr(kMagic.size());
  std::vector<std::string_view> lines;
  while (!rest.empty()) {
    size_t nl = rest.find('\n');
    if (nl == std::string_view::npos) return Bad("a line does not end");
    lines.push_back(rest.substr(0, nl));
    rest.remove_prefix(nl + 1);
  }
  if (lines.size() < 5) return Bad("region, serial, issued, signer or policy line missing");
  auto field = [&](size_t i, std::string_view key) -> Result<std::string_view> {
    auto f = Split(lines[i]);
    if (f.size() != 2 || f[0] != key) return Bad("line " + std::to_string(i + 2) + " must be '" + std::string(key) + " ...'");
    return f[1];
  };
  KP_ASSIGN_OR_RETURN(std::string_view region, field(0, "region:"));
  KP_RETURN_IF_ERROR(ValidateParticipantId(region, "region").WithContext("policy bundle manifest"));
  m.region = std::string(region);
  KP_ASSIGN_OR_RETURN(std::string_view serial, field(1, "serial:"));
  KP_ASSIGN_OR_RETURN(m.serial, ParseSerial(serial));
  KP_ASSIGN_OR_RETURN(std::string_view issued, field(2, "issued:"));
  auto issued_ms = ParseRfc3339Millis(issued);
  if (!issued_ms.ok()) return Bad("the issued time is malformed");
  m.issued_ms = *issued_ms;
  KP_ASSIGN_OR_RETURN(std::string_view signer_again, field(3, "signer:"));
  if (signer_again != signer) return Bad("the signer line is given twice");
  for (size_t i = 4; i < lines.size(); ++i) {
    auto f = Split(lines[i]);
    if (f.size() != 5 || f[0] != "policy:") return Bad("line " + std::to_string(i + 2) + " is not a policy line");
    BundledPolicy p;
    if (!PlainFileName(f[1])) return Bad("line " + std::to_string(i + 2) + ": not a plain file name");
    p.file = std::string(f[1]);
    auto eff = ParseRfc3339Millis(f[2]);
    if (!eff.ok()) return Bad("line " + std::to_string(i + 2) + ": the effective-from time is malformed");
    p.effective_from_ms = *eff;
    auto sha = HexDecode(f[3]);
    if (!sha.ok() || sha->size() != 32 || HexEncode(*sha) != f[3]) {
      return Bad("line " + std::to_string(i + 2) + ": the SHA-256 is not 64 lowercase hex digits");
    }
    p.sha256_hex = std::string(f[3]);
    if (!PlainToken(f[4])) return Bad("line " + std::to_string(i + 2) + ": the version id is malformed");
    p.version = std::string(f[4]);
    for (const auto& q : m.policies) {
      if (q.file == p.file) return Bad("policy file " + p.file + " is listed twice");
      if (q.effective_from_ms >= p.effective_from_ms) {
        return Bad("the effective-from times do not go up (line " + std::to_string(i + 2) + ")");
      }
    }
    m.policies.push_back(std::move(p));
    if (m.policies.size() > kMaxBundledPolicies) {
      return Bad("more than " + std::to_string(kMaxBundledPolicies) + " policies");
    }
  }
  return m;
}

Result<PolicySet> PolicySet::FromBundle(std::string_view manifest_text,
                                        const std::map<std::string, std::string>& files, const Expect& expect) {
  KP_ASSIGN_OR_RETURN(PolicyManifest m,
                      VerifyPolicyManifest(manifest_text, expect.enrolment_public_key, expect.registry));
  if (!expect.region.empty() && m.region != expect.region) {
    return PermissionDeniedError("policy bundle serial " + std::to_string(m.serial) + " is for region " + m.region +
                                 ", not " + expect.region);
  }
  if (m.serial < expect.min_serial) {
    return FailedPreconditionError("policy bundle has serial " + std::to_string(m.serial) +
                                   ", older than serial " + std::to_string(expect.min_serial) +
                                   " accepted before; refusing a rolled-back policy");
  }
  PolicySet set;
  for (const auto& p : m.policies) {
    auto f = files.find(p.file);
    if (f == files.end()) return NotFoundError("policy bundle: the file " + p.file + " it lists is missing");
    if (ShaHex(f->second) != p.sha256_hex) {
      return UnauthenticatedError("policy bundle: the file " + p.file +
                                  " is not the one that was signed (its SHA-256 differs)");
    }
    auto loaded = policy::LoadPolicy(f->second, p.file, p.sha256_hex);
    if (!loaded.ok()) {
      return InvalidArgumentError("policy bundle: " + p.file + " does not load: " + loaded.status().message());
    }
    if (PolicyVersionId(**loaded) != p.version) {
      return InvalidArgumentError("policy bundle: " + p.file + " is version " + PolicyVersionId(**loaded) +
                                  ", the manifest says " + p.version);
    }
    set.files_.emplace(p.file, f->second);
    set.policies_.emplace_back(p.effective_from_ms, *loaded);
  }
  set.manifest_ = std::move(m);
  set.manifest_text_ = std::string(manifest_text);
  return set;
}

Result<PolicySet> PolicySet::LoadDir(const std::string& dir, const Expect& expect) {
  KP_ASSIGN_OR_RETURN(std::string text,
                      ReadFileBounded(dir + "/" + kPolicyManifestName, kMaxPolicyManifestBytes));
  // The manifest first (signature, names), then only the files it lists.
  KP_ASSIGN_OR_RETURN(PolicyManifest m, VerifyPolicyManifest(text, expect.enrolment_public_key, expect.registry));
  std::map<std::string, std::string> files;
  for (const auto& p : m.policies) {
    KP_ASSIGN_OR_RETURN(std::string bytes, ReadFileBounded(dir + "/" + p.file, policy::kMaxPolicyBytes));
    files.emplace(p.file, std::move(bytes));
  }
  auto set = FromBundle(text, files, expect);
  if (!set.ok()) return set.status().WithContext(dir);
  return set;
}

PolicySet PolicySet::Single(std::shared_ptr<const policy::Policy> policy) {
  PolicySet set;
  set.policies_.emplace_back(0, std::move(policy));
  return set;
}

const std::shared_ptr<const policy::Policy>& PolicySet::InForceAt(int64_t unix_ms) const {
  KP_CHECK(!policies_.empty());
  size_t i = 0;
  while (i + 1 < policies_.size() && policies_[i + 1].first <= unix_ms) ++i;
  return policies_[i].second;
}

std::shared_ptr<const policy::Policy> PolicySet::BySha(std::string_view sha256) const {
  const std::string hex = Sha256Arg(sha256);
  for (const auto& [from, p] : policies_) {
    if (p->sha256_hex() == hex) return p;
  }
  return nullptr;
}

bool PolicySet::InForceDuring(std::string_view sha256, int64_t from_ms, int64_t to_ms) const {
  const std::string hex = Sha256Arg(sha256);
  for (size_t i = 0; i < policies_.size(); ++i) {
    if (policies_[i].second->sha256_hex() != hex) continue;
    // In force from its time (the first: always before) until the next one's.
    const bool started = i == 0 || policies_[i].first <= to_ms;
    const bool ended = i + 1 < policies_.size() && policies_[i + 1].first <= from_ms;
    if (started && !ended) return true;
  }
  return false;
}

int64_t PolicySet::NextSwitchAfter(int64_t unix_ms) const {
  for (size_t i = 1; i < policies_.size(); ++i) {
    if (policies_[i].first > unix_ms) return policies_[i].first;
  }
  return 0;
}

Status SignPolicyBundle(const std::string& dir, const SecretBytes& secret_key, const std::string& signer,
                        const std::string& region, const std::vector<std::pair<std::string, int64_t>>& entries,
                        int64_t now_ms) {
  KP_RETURN_IF_ERROR(ValidateParticipantId(region, "region"));
  if (signer != kEnrolmentSigner) KP_RETURN_IF_ERROR(ValidateParticipantId(signer, "signer"));
  if (entries.empty()) return InvalidArgumentError("a policy bundle lists at least one policy file");
  if (entries.size() > kMaxBundledPolicies) {
    return InvalidArgumentError("a policy bundle lists at most " + std::to_string(kMaxBundledPolicies) + " policies");
  }
  auto sorted = entries;
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
  if (sorted.front().second > now_ms) {
    return FailedPreconditionError(
        "the earliest policy (" + sorted.front().first + ") takes effect only at " +
        FormatRfc3339Millis(sorted.front().second) +
        "; list the policy in force now as well, with an effective-from in the past, so that it stays in force until "
        "then");
  }
  uint64_t serial = 1;
  auto old = ReadFileBounded(dir + "/" + kPolicyManifestName, kMaxPolicyManifestBytes);
  if (old.ok()) {
    size_t p = old->find("\nserial: ");
    if (p == std::string::npos) return InvalidArgumentError("the existing policy manifest in " + dir + " has no serial");
    auto s = ParseSerial(std::string_view(*old).substr(p + 9, old->find('\n', p + 1) - p - 9));
    if (!s.ok()) return InvalidArgumentError("the existing policy manifest in " + dir + " has a malformed serial");
    serial = *s + 1;
  }
  std::string body(kMagic);
  body += "region: " + region + "\n";
  body += "serial: " + std::to_string(serial) + "\n";
  body += "issued: " + FormatRfc3339Millis(now_ms) + "\n";
  body += "signer: " + signer + "\n";
  for (size_t i = 0; i < sorted.size(); ++i) {
    const auto& [file, eff] = sorted[i];
    if (!PlainFileName(file)) {
      return InvalidArgumentError("'" + file + "' is not a plain file name in " + dir +
                                  " (letters, digits, '.', '_', '-')");
    }
    if (i > 0 && sorted[i - 1].second == eff) {
      return InvalidArgumentError(sorted[i - 1].first + " and " + file + " take effect at the same moment");
    }
    KP_ASSIGN_OR_RETURN(std::string bytes, ReadFileBounded(dir + "/" + file, policy::kMaxPolicyBytes));
    const std::string sha = ShaHex(bytes);
    auto loaded = policy::LoadPolicy(bytes, file, sha);
    if (!loaded.ok()) return InvalidArgumentError(file + " does not load:\n" + loaded.status().message());
    body += "policy: " + file + " " + FormatRfc3339Millis(eff) + " " + sha + " " + PolicyVersionId(**loaded) + "\n";
  }
  return WriteFileDurable(dir + "/" + kPolicyManifestName, SignPolicyManifestBody(body, secret_key), 0644,
                          WriteMode::kReplace);
}

std::string SignPolicyManifestBody(std::string_view body, const SecretBytes& secret_key) {
  std::string signed_bytes(kDomain);
  signed_bytes += body;
  std::string out(body);
  out += std::string(kSignatureKey) + Base64Encode(Ed25519Sign(secret_key, signed_bytes)) + "\n";
  return out;
}

Status WritePolicyBundle(const std::string& dir, const PolicySet& set) {
  if (!set.signed_bundle()) return InvalidArgumentError("only a signed policy bundle can be written");
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return UnavailableError("cannot create " + dir + ": " + std::strerror(errno));
  }
  for (const auto& [name, bytes] : set.files()) {
    KP_RETURN_IF_ERROR(WriteFileDurable(dir + "/" + name, bytes, 0644, WriteMode::kReplace));
  }
  return WriteFileDurable(dir + "/" + kPolicyManifestName, set.manifest_text(), 0644, WriteMode::kReplace);
}

}  // namespace kp::cases

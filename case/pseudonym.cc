#include "case/pseudonym.h"

#include <cctype>
#include <cstring>

#include "core/base/clock.h"
#include "core/base/encoding.h"
#include "core/base/file_util.h"
#include "core/crypto/hmac.h"
#include "core/crypto/random.h"
#include "core/identity/participant.h"
#include "core/identity/secret_file.h"

namespace kp::cases {

namespace v1 = ketenpoort::v1;

namespace {

constexpr char kPseudonymDomain[] = "ketenpoort-subject-pseudonym-v1";
constexpr char kPseudonymKeyMagic[] = "kind: ketenpoort-pseudonym-key";
constexpr size_t kMaxKeyFileBytes = 4096;
constexpr char kCheckDomain[] = "ketenpoort-pseudonym-key-check-v1";

// The key file's check value: HMAC-SHA256 under the key of the domain, the
// id and the created line as written, first 8 bytes in hex. A file damaged
// in its id, created time, key or check does not load (a flipped bit in the
// key's base64 would otherwise give another key under the same id, and
// pseudonyms no lookup finds).
std::string KeyCheck(const SecretBytes& key, std::string_view id, std::string_view created) {
  std::string msg(kCheckDomain, sizeof(kCheckDomain));  // with its 0x00
  msg.append(id);
  msg.push_back('\0');
  msg.append(created);
  Sha256Digest mac = HmacSha256(key, msg);
  std::string out = HexEncode(std::string_view(reinterpret_cast<const char*>(mac.data()), 8));
  SecureWipe(mac.data(), mac.size());
  return out;
}

Status Damaged(const std::string& path, const std::string& why) {
  return InvalidArgumentError("pseudonym key file " + path + " is not usable: " + why +
                              " (ask the enrolment office for the region's key file again)");
}

// One "name: value" line of the key file's text (no secrets in the names).
std::string_view Field(std::string_view text, std::string_view name) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    if (line.size() > name.size() + 1 && line.substr(0, name.size()) == name && line[name.size()] == ':') {
      std::string_view v = line.substr(name.size() + 1);
      while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
      while (!v.empty() && (v.back() == ' ' || v.back() == '\r')) v.remove_suffix(1);
      return v;
    }
    pos = end + 1;
  }
  return {};
}

}  // namespace

Result<PseudonymKey> GeneratePseudonymKey(const std::string& id, int64_t created_ms) {
  KP_RETURN_IF_ERROR(ValidateParticipantId(id, "pseudonym key id"));
  PseudonymKey k;
  k.id = id;
  k.created_ms = created_ms;
  k.key = SecretBytes(kPseudonymKeyBytes);
  FillRandom(k.key.mutable_data(), k.key.size());
  return k;
}

Status WritePseudonymKeyFile(const PseudonymKey& key, const std::string& path) {
  if (key.key.size() != kPseudonymKeyBytes) return InvalidArgumentError("a pseudonym key is 32 bytes");
  const std::string head = std::string("# Ketenpoort region pseudonym key (AVG art. 15 lookups). Secret: mode 0600;\n"
                                       "# held by coordinators' clients and privacy officers only, never the gateway.\n") +
                           kPseudonymKeyMagic + "\nid: " + key.id + "\ncreated: " + FormatRfc3339Millis(key.created_ms) +
                           "\nkey: ";
  const std::string tail = "\ncheck: " + PseudonymKeyCheck(key) + "\n";
  SecretBytes b64 = key.key.ToBase64();
  SecretBytes text(head.size() + b64.size() + tail.size());
  std::memcpy(text.mutable_data(), head.data(), head.size());
  std::memcpy(text.mutable_data() + head.size(), b64.data(), b64.size());
  std::memcpy(text.mutable_data() + head.size() + b64.size(), tail.data(), tail.size());
  return WriteFileDurable(path, text.view(), 0600, WriteMode::kCreateExclusive);
}

Result<PseudonymKey> LoadPseudonymKeyFile(const std::string& path) {
  KP_ASSIGN_OR_RETURN(SecretBytes file, ReadSecretFile(path, kMaxKeyFileBytes, "pseudonym key file"));
  std::string_view text = file.view();
  if (text.find(kPseudonymKeyMagic) == std::string_view::npos) {
    return Damaged(path, "it is not a Ketenpoort pseudonym key file");
  }
  PseudonymKey k;
  k.id = std::string(Field(text, "id"));
  if (Status s = ValidateParticipantId(k.id, "pseudonym key id"); !s.ok()) return Damaged(path, s.message());
  std::string_view created = Field(text, "created");
  if (!created.empty()) {
    auto ms = ParseRfc3339Millis(created);
    if (!ms.ok()) return Damaged(path, "its created time does not parse");
    k.created_ms = *ms;
  }
  auto key = SecretBytes::FromBase64(Field(text, "key"), kPseudonymKeyBytes);
  if (!key.ok()) return Damaged(path, "its key is not 32 bytes of base64");
  k.key = std::move(*key);
  std::string_view check = Field(text, "check");
  if (check.empty()) return Damaged(path, "it has no check line (cut short?)");
  if (check != KeyCheck(k.key, k.id, created)) return Damaged(path, "its check value does not match its id and key");
  return k;
}

std::string PseudonymKeyCheck(const PseudonymKey& key) {
  return KeyCheck(key.key, key.id, FormatRfc3339Millis(key.created_ms));
}

Result<std::string> CanonicalBsn(std::string_view bsn) {
  std::string digits;
  for (char c : bsn) {
    if (c == ' ' || c == '.') continue;
    if (c < '0' || c > '9') return InvalidArgumentError("a BSN has only digits (spaces and dots allowed)");
    digits.push_back(c);
  }
  if (digits.size() == 8) digits.insert(digits.begin(), '0');
  if (digits.size() != 9) return InvalidArgumentError("a BSN has 8 or 9 digits");
  int sum = 0;
  for (int i = 0; i < 8; ++i) sum += (9 - i) * (digits[i] - '0');
  sum -= digits[8] - '0';
  if (sum % 11 != 0 || digits == "000000000") return InvalidArgumentError("the BSN fails the elfproef");
  return digits;
}

std::string CanonicalName(std::string_view name) {
  std::string out;
  bool space = false;
  for (char c : name) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return out;
}

Result<std::string> CanonicalNameAndBirthDate(std::string_view name, std::string_view date_of_birth) {
  std::string n = CanonicalName(name);
  if (n.empty()) return InvalidArgumentError("no name");
  bool date = date_of_birth.size() == 10 && date_of_birth[4] == '-' && date_of_birth[7] == '-';
  for (size_t i = 0; date && i < 10; ++i) {
    if (i != 4 && i != 7 && (date_of_birth[i] < '0' || date_of_birth[i] > '9')) date = false;
  }
  if (!date) return InvalidArgumentError("a date of birth is YYYY-MM-DD");
  return n + "|" + std::string(date_of_birth);
}

v1::SubjectPseudonym Pseudonym(const PseudonymKey& key, v1::PseudonymBasis basis, std::string_view canonical) {
  std::string msg(kPseudonymDomain, sizeof(kPseudonymDomain));  // with its 0x00
  msg.push_back(static_cast<char>(basis));
  msg.append(canonical);
  Sha256Digest mac = HmacSha256(key.key, msg);
  SecureWipe(msg.data(), msg.size());
  v1::SubjectPseudonym p;
  p.set_key_id(key.id);
  p.set_basis(basis);
  p.set_value(std::string(reinterpret_cast<const char*>(mac.data()), kPseudonymBytes));
  SecureWipe(mac.data(), mac.size());
  return p;
}

std::vector<v1::SubjectPseudonym> SubjectPseudonyms(const PseudonymKey& key, const v1::Subject& subject) {
  std::vector<v1::SubjectPseudonym> out;
  if (!subject.bsn().empty()) {
    if (auto bsn = CanonicalBsn(subject.bsn()); bsn.ok()) {
      out.push_back(Pseudonym(key, v1::PSEUDONYM_BASIS_BSN, *bsn));
      SecureWipe(bsn->data(), bsn->size());
    }
  }
  if (!subject.name().empty() && !subject.date_of_birth().empty()) {
    if (auto nd = CanonicalNameAndBirthDate(subject.name(), subject.date_of_birth()); nd.ok()) {
      out.push_back(Pseudonym(key, v1::PSEUDONYM_BASIS_NAME_AND_BIRTH_DATE, *nd));
      SecureWipe(nd->data(), nd->size());
    }
  }
  return out;
}

void AddPseudonyms(const PseudonymKey& key, const std::vector<v1::Subject>& subjects,
                   google::protobuf::RepeatedPtrField<v1::SubjectRef>* refs) {
  for (auto& ref : *refs) {
    for (const auto& s : subjects) {
      if (s.ref() != ref.ref()) continue;
      ref.clear_pseudonyms();
      for (auto& p : SubjectPseudonyms(key, s)) *ref.add_pseudonyms() = std::move(p);
    }
  }
}

void CopySubjects(const google::protobuf::RepeatedPtrField<v1::SubjectRef>& refs, v1::AuditRecord* record) {
  // Copied, never checked (no key here) — but only what has a pseudonym's
  // shape, a few per subject: a sender's junk does not grow the log.
  constexpr int kMaxPerSubject = 4;
  record->clear_subjects();
  for (const auto& ref : refs) {
    v1::AuditSubject* s = record->add_subjects();
    s->set_ref(ref.ref().size() <= 16 ? ref.ref() : std::string());
    for (const auto& p : ref.pseudonyms()) {
      const bool shaped = p.value().size() == kPseudonymBytes && ValidateParticipantId(p.key_id(), "").ok() &&
                          (p.basis() == v1::PSEUDONYM_BASIS_BSN || p.basis() == v1::PSEUDONYM_BASIS_NAME_AND_BIRTH_DATE);
      if (shaped && s->pseudonyms_size() < kMaxPerSubject) *s->add_pseudonyms() = p;
    }
  }
}

std::string PseudonymLookupKey(const v1::SubjectPseudonym& p) {
  return p.key_id() + '\0' + static_cast<char>(p.basis()) + p.value();
}

}  // namespace kp::cases

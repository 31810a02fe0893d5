#include "core/audit/key_handover.h"

#include <algorithm>
#include <limits>

namespace kp::audit {
namespace {

std::string Num(uint64_t n) { return std::to_string(n); }

// The key of the one extension line starting with `prefix`.
Result<NoteVerifierKey> KeyLine(const Checkpoint& cp, std::string_view prefix) {
  const std::string* found = nullptr;
  for (const std::string& line : cp.extensions) {
    if (line.rfind(prefix, 0) != 0) continue;
    if (found != nullptr)
      return InvalidArgumentError("key handover names a key twice ('" + std::string(prefix) + "')");
    found = &line;
  }
  if (found == nullptr) return InvalidArgumentError("key handover has no '" + std::string(prefix) + "' line");
  auto key = ParseVerifierKey(std::string_view(*found).substr(prefix.size()));
  if (!key.ok()) return key.status().WithContext("key handover '" + std::string(prefix) + "' line");
  return *key;
}

}  // namespace

Result<std::vector<std::shared_ptr<const LogSigner>>> PreviousLogSigners(
    const std::string& origin, const std::vector<const Ed25519KeyPair*>& keys) {
  std::vector<std::shared_ptr<const LogSigner>> out;
  for (const Ed25519KeyPair* k : keys) {
    KP_ASSIGN_OR_RETURN(LogSigner s, LogSigner::Create(origin, k->public_key, k->secret_key.Clone()));
    out.push_back(std::make_shared<const LogSigner>(std::move(s)));
  }
  return out;
}

std::string HandoverFileName(uint64_t n) {
  std::string s = std::to_string(n);
  return std::string(20 - std::min<size_t>(20, s.size()), '0') + s;
}

std::string SignKeyHandover(const Checkpoint& checkpoint, const LogSigner& from, const LogSigner& to) {
  Checkpoint cp = checkpoint;
  cp.extensions.push_back(std::string(kHandoverFromPrefix) + FormatVerifierKey(from.verifier_key()));
  cp.extensions.push_back(std::string(kHandoverToPrefix) + FormatVerifierKey(to.verifier_key()));
  return from.Sign(cp) + to.SignatureLine(FormatCheckpointBody(cp));
}

Result<KeyHandover> OpenKeyHandover(std::string_view note, std::string_view expected_origin) {
  KP_ASSIGN_OR_RETURN(SignedNote parsed, ParseSignedNote(note));
  KP_ASSIGN_OR_RETURN(Checkpoint body, ParseCheckpointBody(parsed.text));
  KeyHandover h;
  KP_ASSIGN_OR_RETURN(h.from, KeyLine(body, kHandoverFromPrefix));
  KP_ASSIGN_OR_RETURN(h.to, KeyLine(body, kHandoverToPrefix));
  if (h.from.name != body.origin || h.to.name != body.origin) {
    return InvalidArgumentError("key handover names a key of another log than '" + body.origin + "'");
  }
  if (h.from.public_key == h.to.public_key)
    return InvalidArgumentError("key handover hands a key over to itself");
  KP_ASSIGN_OR_RETURN(h.checkpoint, OpenCheckpoint(note, h.from, expected_origin));
  auto by_new = OpenCheckpoint(note, h.to, expected_origin);
  if (!by_new.ok()) {
    return UnauthenticatedError("key handover at size " + Num(body.size) +
                                " is not signed by the key it hands over to (" + by_new.status().message() +
                                ")");
  }
  h.note = std::string(note);
  return h;
}

bool IsHandoverFileName(std::string_view name) {
  return name.size() == 20 && name.find_first_not_of("0123456789") == std::string_view::npos;
}

KeyChain::KeyChain(NoteVerifierKey key) { keys_.push_back(std::move(key)); }

Result<KeyChain> KeyChain::Load(Storage& storage, const std::string& dir, const NoteVerifierKey& anchor) {
  KeyChain chain;
  const std::string hdir = dir + "/" + std::string(kHandoversDirName);
  std::vector<std::string> names;
  if (storage.Exists(hdir)) {
    KP_ASSIGN_OR_RETURN(names, storage.ListDir(hdir));
  }
  std::erase_if(names, [](const std::string& n) { return !IsHandoverFileName(n); });
  std::sort(names.begin(), names.end());
  if (names.size() > kMaxKeyHandovers) return InvalidArgumentError(hdir + " holds more than 1000 files");
  for (size_t i = 0; i < names.size(); ++i) {
    const std::string path = std::string(kHandoversDirName) + "/" + names[i];
    if (names[i] != HandoverFileName(i)) {
      return DataLossError(path + " is not the key handover numbered " + Num(i) +
                           " (handovers are numbered from 0 without a gap; one is missing or added)");
    }
    KP_ASSIGN_OR_RETURN(std::string note, storage.ReadSmallFile(hdir + "/" + names[i], kMaxNoteBytes));
    auto h = OpenKeyHandover(note, anchor.name);
    if (!h.ok()) return h.status().WithContext(path);
    if (i == 0) {
      chain.keys_.push_back(h->from);
    } else {
      const KeyHandover& before = chain.handovers_.back();
      if (h->from.public_key != chain.keys_.back().public_key) {
        return DataLossError(path + " hands over from a key that handover " + Num(i - 1) +
                             " did not hand over to: the key chain is broken");
      }
      if (h->checkpoint.size < before.checkpoint.size) {
        return DataLossError(path + " is at size " + Num(h->checkpoint.size) + ", before handover " +
                             Num(i - 1) + " (size " + Num(before.checkpoint.size) + ")");
      }
    }
    for (const NoteVerifierKey& k : chain.keys_) {
      if (k.public_key == h->to.public_key) {
        return DataLossError(path + " hands over to a key the log used before: the key chain is broken");
      }
    }
    chain.keys_.push_back(h->to);
    chain.handovers_.push_back(std::move(h).value());
  }
  if (chain.keys_.empty()) {
    chain.keys_.push_back(anchor);
    return chain;
  }
  const bool anchored = std::any_of(chain.keys_.begin(), chain.keys_.end(), [&](const NoteVerifierKey& k) {
    return k.name == anchor.name && k.public_key == anchor.public_key;
  });
  if (!anchored) {
    return UnauthenticatedError("the key " + FormatVerifierKey(anchor) + " is not one of the " +
                                Num(chain.keys_.size()) +
                                " keys this log's handovers join (the log was signed "
                                "by other keys, or its handovers were replaced)");
  }
  return chain;
}

Result<Checkpoint> KeyChain::Open(std::string_view note, std::string_view origin) const {
  KP_ASSIGN_OR_RETURN(SignedNote parsed, ParseSignedNote(note));
  KP_ASSIGN_OR_RETURN(Checkpoint body, ParseCheckpointBody(parsed.text));
  Status last = UnauthenticatedError("no key of the chain is in force at size " + Num(body.size));
  for (size_t j = 0; j < keys_.size(); ++j) {
    const uint64_t lo = j == 0 ? 0 : handovers_[j - 1].checkpoint.size;
    const uint64_t hi =
        j == handovers_.size() ? std::numeric_limits<uint64_t>::max() : handovers_[j].checkpoint.size;
    if (body.size < lo || body.size > hi) continue;
    auto cp = OpenCheckpoint(note, keys_[j], origin);
    if (cp.ok()) return cp;
    last = cp.status();
  }
  if (keys_.size() == 1) return last;
  return UnauthenticatedError("checkpoint of size " + Num(body.size) +
                              " is not signed by the key in force at that size in this log's key chain (" +
                              last.message() + ")");
}

}  // namespace kp::audit

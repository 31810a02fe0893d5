#!/usr/bin/python3
"""A second, independent implementation of Ketenpoort's formats, written from
docs/protocol.md and docs/formats.md alone (no Ketenpoort code, no protobuf
library): identity files, public cards, signed envelopes and sealed inner
messages. It talks to the C++ `ketenpoort` binary in both directions:

  * verifies the worked example of docs/protocol.md §8 byte for byte, and the
    subject commitment example of §3.5 from its formula;
  * makes its own identity + card, which the C++ code must load and trust;
  * signs envelopes the C++ verifier must accept (and a tampered one it must not);
  * seals a fragment to a C++-made coordinator card, which the C++ code opens;
  * opens and verifies a fragment the C++ code sealed to the Python identity;
  * checks a C++-made card: self-signature and fingerprint.

Usage: independent_envelope.py KETENPOORT_BINARY WORK_DIR SOURCE_DIR
Needs Debian's python3-cryptography (Ed25519, X25519, Poly1305). XSalsa20 and
HSalsa20 are written out below, from their specification.
"""
import base64
import hashlib
import json
import os
import struct
import subprocess
import sys
import time

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.poly1305 import Poly1305

RAW = serialization.Encoding.Raw
RAW_PUB = serialization.PublicFormat.Raw
RAW_PRIV = serialization.PrivateFormat.Raw
NOENC = serialization.NoEncryption()

passed = 0
failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok      {name}")
    else:
        failed += 1
        print(f"FAILED  {name} {detail}")


# ------------------------------------------------------------ encodings (§1)

def u32be(n):
    return struct.pack(">I", n)


def lp(b):
    return u32be(len(b)) + b


def varint(n):
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def pb_varint(field, value):
    return b"" if value == 0 else varint(field << 3) + varint(value)


def pb_bytes(field, value):
    return b"" if len(value) == 0 else varint((field << 3) | 2) + varint(len(value)) + value


def read_varint(b, i):
    shift = value = 0
    while True:
        c = b[i]
        i += 1
        value |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return value, i


def pb_parse(b):
    """Field number -> list of values (int for varint, bytes for length-delimited)."""
    fields, i = {}, 0
    while i < len(b):
        tag, i = read_varint(b, i)
        if tag & 7 == 0:
            v, i = read_varint(b, i)
        elif tag & 7 == 2:
            n, i = read_varint(b, i)
            v, i = b[i:i + n], i + n
        else:
            raise ValueError("unexpected wire type")
        fields.setdefault(tag >> 3, []).append(v)
    return fields


Z85 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"


def z85_encode(data):
    out = ""
    for i in range(0, len(data), 4):
        v = struct.unpack(">I", data[i:i + 4])[0]
        chunk = ""
        for _ in range(5):
            chunk = Z85[v % 85] + chunk
            v //= 85
        out += chunk
    return out


def z85_decode(text):
    out = b""
    for i in range(0, len(text), 5):
        v = 0
        for c in text[i:i + 5]:
            v = v * 85 + Z85.index(c)
        out += struct.pack(">I", v)
    return out


def rfc3339(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)


def parse_rfc3339(text):
    import calendar
    t = calendar.timegm(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S"))
    return t * 1000 + int(text[20:23])


# ------------------------------------------------- XSalsa20-Poly1305 (§3.3)

def _rotl(v, c):
    return ((v << c) & 0xFFFFFFFF) | (v >> (32 - c))


def _salsa_rounds(x):
    x = list(x)
    for _ in range(10):
        for a, b, c, d in ((0, 4, 8, 12), (5, 9, 13, 1), (10, 14, 2, 6), (15, 3, 7, 11)):
            x[b] ^= _rotl((x[a] + x[d]) & 0xFFFFFFFF, 7)
            x[c] ^= _rotl((x[b] + x[a]) & 0xFFFFFFFF, 9)
            x[d] ^= _rotl((x[c] + x[b]) & 0xFFFFFFFF, 13)
            x[a] ^= _rotl((x[d] + x[c]) & 0xFFFFFFFF, 18)
        for a, b, c, d in ((0, 1, 2, 3), (5, 6, 7, 4), (10, 11, 8, 9), (15, 12, 13, 14)):
            x[b] ^= _rotl((x[a] + x[d]) & 0xFFFFFFFF, 7)
            x[c] ^= _rotl((x[b] + x[a]) & 0xFFFFFFFF, 9)
            x[d] ^= _rotl((x[c] + x[b]) & 0xFFFFFFFF, 13)
            x[a] ^= _rotl((x[d] + x[c]) & 0xFFFFFFFF, 18)
    return x


SIGMA = struct.unpack("<4I", b"expand 32-byte k")


def _state(key, in16):
    k = struct.unpack("<8I", key)
    n = struct.unpack("<4I", in16)
    return [SIGMA[0], k[0], k[1], k[2], k[3], SIGMA[1], n[0], n[1], n[2], n[3], SIGMA[2],
            k[4], k[5], k[6], k[7], SIGMA[3]]


def hsalsa20(key, nonce16):
    x = _salsa_rounds(_state(key, nonce16))
    return struct.pack("<8I", *(x[i] for i in (0, 5, 10, 15, 6, 7, 8, 9)))


def salsa20_stream(key, nonce8, length):
    out = bytearray()
    counter = 0
    while len(out) < length:
        s = _state(key, nonce8 + struct.pack("<Q", counter))
        x = _salsa_rounds(s)
        out += struct.pack("<16I", *((x[i] + s[i]) & 0xFFFFFFFF for i in range(16)))
        counter += 1
    return bytes(out[:length])


def box_key(their_pk, my_sk):
    shared = X25519PrivateKey.from_private_bytes(my_sk).exchange(X25519PublicKey.from_public_bytes(their_pk))
    return hsalsa20(shared, b"\0" * 16)


def secretbox(msg, nonce24, key):
    subkey = hsalsa20(key, nonce24[:16])
    stream = salsa20_stream(subkey, nonce24[16:], 32 + len(msg))
    ct = bytes(a ^ b for a, b in zip(msg, stream[32:]))
    return Poly1305.generate_tag(stream[:32], ct) + ct


def secretbox_open(box, nonce24, key):
    subkey = hsalsa20(key, nonce24[:16])
    tag, ct = box[:16], box[16:]
    stream = salsa20_stream(subkey, nonce24[16:], 32 + len(ct))
    Poly1305.verify_tag(stream[:32], ct, tag)  # raises on mismatch
    return bytes(a ^ b for a, b in zip(ct, stream[32:]))


def seal(msg, reader_pk):
    esk = X25519PrivateKey.generate()
    epk = esk.public_key().public_bytes(RAW, RAW_PUB)
    nonce = hashlib.blake2b(epk + reader_pk, digest_size=24).digest()
    return epk + secretbox(msg, nonce, box_key(reader_pk, esk.private_bytes(RAW, RAW_PRIV, NOENC)))


def seal_open(sealed, my_pk, my_sk):
    epk = sealed[:32]
    nonce = hashlib.blake2b(epk + my_pk, digest_size=24).digest()
    return secretbox_open(sealed[32:], nonce, box_key(epk, my_sk))


# -------------------------------------------------------- envelopes (§2-§3)

LABELS = {1: "case-command", 2: "case-result", 3: "fragment-request", 4: "authorisation", 5: "refusal",
          6: "fragment-delivery", 7: "receipt", 8: "heartbeat", 9: "error", 10: "subject-data",
          11: "fragment-content", 12: "inbox-fetch", 13: "audit-pull", 14: "audit-chunk", 15: "delivery-ack",
          16: "accepted", 17: "case-fetch", 18: "case-chain"}


def signing_input(kind, header, body):
    return b"ketenpoort/v1/sig/" + LABELS[kind].encode() + b"\0" + lp(header) + lp(body)


def make_envelope(signing_sk, sender, kind, body, recipient="", request_id=b"", message_id=None, sent_at_ms=None):
    header = (pb_varint(1, 1) + pb_varint(2, kind) + pb_bytes(3, message_id or os.urandom(16)) +
              pb_bytes(4, sender.encode()) + pb_bytes(5, recipient.encode()) +
              pb_varint(6, sent_at_ms if sent_at_ms is not None else int(time.time() * 1000)) +
              pb_bytes(7, request_id))
    sig = signing_sk.sign(signing_input(kind, header, body))
    return pb_bytes(1, header) + pb_bytes(2, body) + pb_bytes(3, sig)


def verify_envelope(data, keys):
    """Returns (header fields, body bytes) or raises. Steps of §3.2 (no replay table here)."""
    f = pb_parse(data)
    header, body, sig = f[1][0], f.get(2, [b""])[0], f[3][0]
    if pb_bytes(1, header) + pb_bytes(2, body) + pb_bytes(3, sig) != data:
        raise ValueError("not canonical")
    h = pb_parse(header)
    kind, sender = h[2][0], h[4][0].decode()
    Ed25519PublicKey.from_public_bytes(keys[sender]).verify(sig, signing_input(kind, header, body))
    return h, body


# ------------------------------------------------------ identities and cards

class Identity:
    def __init__(self, pid, kind, partner):
        self.id, self.kind, self.partner = pid, kind, partner
        self.created_ms = int(time.time() * 1000)
        self.sign = Ed25519PrivateKey.generate()
        self.seal = X25519PrivateKey.generate()
        self.transport = X25519PrivateKey.generate()

    def sign_pk(self):
        return self.sign.public_key().public_bytes(RAW, RAW_PUB)

    def seal_pk(self):
        return self.seal.public_key().public_bytes(RAW, RAW_PUB)

    def seal_sk(self):
        return self.seal.private_bytes(RAW, RAW_PRIV, NOENC)

    def canonical(self):
        return canonical_card(self.id, self.kind, self.partner, self.created_ms, self.sign_pk(), self.seal_pk(),
                              self.transport.public_key().public_bytes(RAW, RAW_PUB))

    def secret_file(self):
        seed = self.sign.private_bytes(RAW, RAW_PRIV, NOENC)
        text = ("# written by the independent Python implementation\n"
                "ketenpoort-identity v1\n"
                f"id: {self.id}\nkind: {self.kind}\npartner: {self.partner}\n"
                f"created: {rfc3339(self.created_ms)}\n"
                f"signing-secret: {base64.b64encode(seed + self.sign_pk()).decode()}\n"
                f"sealing-secret: {base64.b64encode(self.seal_sk()).decode()}\n"
                f"transport-secret: {base64.b64encode(self.transport.private_bytes(RAW, RAW_PRIV, NOENC)).decode()}\n")
        return text + "checksum: " + hashlib.sha256(text.encode()).hexdigest() + "\n"

    def card(self):
        c = self.canonical()
        return ("ketenpoort-card: 1\n"
                f"id: {self.id}\nkind: {self.kind}\npartner: '{self.partner}'\n"
                f"created: {rfc3339(self.created_ms)}\n"
                f"signing-key: {base64.b64encode(self.sign_pk()).decode()}\n"
                f"sealing-key: {base64.b64encode(self.seal_pk()).decode()}\n"
                f"transport-key: '{z85_encode(self.transport.public_key().public_bytes(RAW, RAW_PUB))}'\n"
                f"fingerprint: {fingerprint(c)}\n"
                f"self-signature: {base64.b64encode(self.sign.sign(c)).decode()}\n")


def canonical_card(pid, kind, partner, created_ms, sign_pk, seal_pk, transport_pk, expires_ms=None):
    """formats.md §2.3: version 1 (no expiry), or version 2 when expires_ms is given."""
    if expires_ms is None:
        return (b"ketenpoort/v1/card\0" + lp(pid.encode()) + lp(kind.encode()) + lp(partner.encode()) +
                struct.pack(">Q", created_ms) + lp(sign_pk) + lp(seal_pk) + lp(transport_pk))
    return (b"ketenpoort/v2/card\0" + lp(pid.encode()) + lp(kind.encode()) + lp(partner.encode()) +
            struct.pack(">Q", created_ms) + struct.pack(">Q", expires_ms) + lp(sign_pk) + lp(seal_pk) +
            lp(transport_pk))


def fingerprint(canonical):
    bits = int.from_bytes(hashlib.sha256(canonical).digest()[:10], "big")
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    chars = "".join(alphabet[(bits >> (75 - 5 * i)) & 31] for i in range(16))
    return "-".join(chars[i:i + 4] for i in range(0, 16, 4))


def read_card(path):
    fields = {}
    for line in open(path):
        line = line.split("#", 1)[0] if not line.startswith("transport-key") else line.split("    #", 1)[0]
        if ":" in line:
            k, v = line.split(":", 1)
            fields[k.strip()] = v.strip().strip("'")
    return fields


# ------------------------------------------------------------------ the run

def run(binary, *args):
    return subprocess.run([binary, *args], capture_output=True, text=True)


def main():
    binary, work, source = sys.argv[1], sys.argv[2], sys.argv[3]
    os.makedirs(work, mode=0o700, exist_ok=True)
    os.chmod(work, 0o700)

    # 1. The worked example of docs/protocol.md §8, byte for byte.
    seed_key = Ed25519PrivateKey.from_private_bytes(b"\x01" * 32)
    example = make_envelope(seed_key, "regisseur-01", 8, pb_varint(1, 7), message_id=b"\x08" * 16,
                            sent_at_ms=1795357974123)
    corpus = open(os.path.join(source, "tests/fuzz/envelope_corpus/heartbeat.env"), "rb").read()
    check("worked example (§8) reproduced byte for byte", example == corpus)
    check("worked example public key",
          seed_key.public_key().public_bytes(RAW, RAW_PUB).hex() ==
          "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c")

    # 1b. The subject commitment of §3.5, from its formula, against the value
    # the document states (the C++ case test pins the same value).
    doc = open(os.path.join(source, "docs/protocol.md"), encoding="utf-8").read()
    section = doc[doc.index("### 3.5"):doc.index("## 4.")]
    stated = section.split("give\n`")[1].split("`")[0] if "give\n`" in section else ""
    commitment = hashlib.sha256(b"ketenpoort/v1/subject-commitment\0" + b"\x01" * 32 + lp(b"S1") + u32be(1) +
                                lp(b"999990019") + lp(b"Anna") + lp(b"1990-01-01")).hexdigest()
    check("subject commitment example (§3.5)", commitment == stated, stated)

    # 2. A Python-made identity and card, loaded by the C++ code.
    py = Identity("python-agent", "agent", "politie")
    secret_path = os.path.join(work, "python-agent.secret")
    card_path = os.path.join(work, "python-agent.card")
    for path, text, mode in ((secret_path, py.secret_file(), 0o600), (card_path, py.card(), 0o644)):
        if os.path.exists(path):
            os.unlink(path)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        os.write(fd, text.encode())
        os.close(fd)

    # 3. A C++-made coordinator; its card checked here.
    cpp_dir = os.path.join(work, "cpp")
    if os.path.isdir(cpp_dir):
        for f in os.listdir(cpp_dir):
            os.unlink(os.path.join(cpp_dir, f))
    p = run(binary, "keygen", "--id", "regisseur-07", "--kind", "coordinator", "--partner", "veiligheidsteam",
            "--out", cpp_dir)
    check("C++ keygen", p.returncode == 0, p.stderr)
    card = read_card(os.path.join(cpp_dir, "regisseur-07.card"))
    canon = canonical_card(card["id"], card["kind"], card["partner"], parse_rfc3339(card["created"]),
                           base64.b64decode(card["signing-key"]), base64.b64decode(card["sealing-key"]),
                           z85_decode(card["transport-key"]),
                           parse_rfc3339(card["expires"]) if card.get("ketenpoort-card") == "2" else None)
    check("C++ keygen writes a version-2 card with an expiry (formats.md §2.4)",
          card.get("ketenpoort-card") == "2" and "expires" in card)
    try:
        Ed25519PublicKey.from_public_bytes(base64.b64decode(card["signing-key"])).verify(
            base64.b64decode(card["self-signature"]), canon)
        check("C++ card self-signature verifies (formats.md §2)", True)
    except Exception as e:  # noqa: BLE001
        check("C++ card self-signature verifies (formats.md §2)", False, repr(e))
    check("C++ card fingerprint matches (formats.md §2)", fingerprint(canon) == card["fingerprint"])

    # 4. A Python-signed fragment request, verified by C++.
    body = (pb_bytes(1, b"VT-2026-0001") + pb_bytes(2, b"politie") + pb_bytes(3, b"incidenten") +
            pb_bytes(4, b"veiligheidsplan"))
    env = make_envelope(py.sign, "python-agent", 3, body)
    env_path = os.path.join(work, "request.env")
    open(env_path, "wb").write(env)
    p = run(binary, "envelope", "verify", "--from", card_path, "--kind", "fragment-request", "--in", env_path)
    ok = p.returncode == 0 and json.loads(p.stdout)["body"]["case_id"] == "VT-2026-0001"
    check("C++ verifies a Python-signed envelope and Python-made card", ok, p.stderr)
    bad = bytearray(env)
    bad[-1] ^= 1
    open(env_path, "wb").write(bytes(bad))
    p = run(binary, "envelope", "verify", "--from", card_path, "--in", env_path)
    check("C++ refuses it with one bit flipped (exit 5)", p.returncode == 5, p.stderr)

    # 5. Python seals a fragment for the C++ coordinator; C++ opens it.
    request_id = os.urandom(16)
    content = pb_bytes(1, b"VT-2026-0001") + pb_bytes(2, pb_bytes(1, b"incidenten"))
    inner = make_envelope(py.sign, "python-agent", 11, content, recipient="regisseur-07", request_id=request_id)
    sealed_path = os.path.join(work, "fragment.sealed")
    open(sealed_path, "wb").write(seal(inner, base64.b64decode(card["sealing-key"])))
    p = run(binary, "envelope", "open", "--identity", os.path.join(cpp_dir, "regisseur-07.secret"), "--from",
            card_path, "--kind", "fragment-content", "--request-id", request_id.hex(), "--in", sealed_path)
    ok = p.returncode == 0 and json.loads(p.stdout)["body"]["categories"][0]["category"] == "incidenten"
    check("C++ opens a Python-sealed fragment (XSalsa20-Poly1305, §3.3)", ok, p.stderr)

    # 6. C++ seals to the Python identity, using the Python-written secret file too.
    json_path = os.path.join(work, "subjects.json")
    open(json_path, "w").write(json.dumps({"caseId": "VT-2026-0001", "justification": "interop"}))
    out_path = os.path.join(work, "subjects.sealed")
    p = run(binary, "envelope", "seal", "--identity", os.path.join(cpp_dir, "regisseur-07.secret"), "--to",
            card_path, "--kind", "subject-data", "--request-id", request_id.hex(), "--in", json_path,
            "--out", out_path)
    check("C++ seals to a Python-made card", p.returncode == 0, p.stderr)
    try:
        inner = seal_open(open(out_path, "rb").read(), py.seal_pk(), py.seal_sk())
        h, b = verify_envelope(inner, {"regisseur-07": base64.b64decode(card["signing-key"])})
        ok = (h[5][0] == b"python-agent" and h[7][0] == request_id and h[2][0] == 10 and
              pb_parse(b)[1][0] == b"VT-2026-0001")
        check("Python opens and verifies the C++-sealed message", ok)
    except Exception as e:  # noqa: BLE001
        check("Python opens and verifies the C++-sealed message", False, repr(e))
    p = run(binary, "envelope", "seal", "--identity", secret_path, "--to",
            os.path.join(cpp_dir, "regisseur-07.card"), "--kind", "subject-data", "--request-id",
            request_id.hex(), "--in", json_path, "--out", out_path)
    check("C++ loads a Python-written secret identity file (formats.md §1)", p.returncode == 0, p.stderr)

    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

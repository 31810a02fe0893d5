#!/usr/bin/env python3
"""Holds the worked examples of the docs to their own bytes and to the code.

Usage: worked_example_check.py SOURCE_ROOT [KETENPOORT_BINARY WORK_DIR]

docs/protocol.md §8:
Reads the header, body, signing input, signature and envelope that §8 lists,
rebuilds the signing input and the envelope from the listed header, body and
signature by §3.1 and §2, and checks: every "(N bytes" the text states; that
the signature verifies with the public key §8 gives; and that the envelope is
byte for byte tests/fuzz/envelope_corpus/heartbeat.env, which the C++ signer
makes (tests/fuzz/envelope_corpus_test.cc).

docs/formats.md §2: the example cards (version 1 and version 2) are in the
exact syntax of §2.1; their canonical bytes, as listed, are the ones §2.3 makes
from their fields; their SHA-256 and the fingerprints are as stated and the
self-signatures verify. With the binary: a card `ketenpoort keygen` writes, of
every kind, is a version-2 card in the exact syntax of §2.1 (CARD_RE below is
that grammar), whose canonical bytes made here by §2.3 give its fingerprint
line and verify its self-signature, and whose expiry is --valid-days after its
creation.
"""

import base64
import datetime
import hashlib
import os
import re
import shutil
import struct
import subprocess
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

HEX = re.compile(r"^(?:[0-9a-f]{2})+$")
problems = []


def check(what, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + what + (f": {detail}" if detail and not ok else ""))
    if not ok:
        problems.append(what)


def leading_hex(line):
    out = b""
    for token in line.split():
        if not HEX.match(token):
            break
        out += bytes.fromhex(token)
    return out


def block_after(text, heading):
    """The lines of the first ``` block after the line starting with heading, and that line."""
    start = text.index("\n" + heading) + 1
    line_end = text.index("\n", start)
    heading_text = text[start:text.index("```", start)]
    open_ = text.index("```\n", line_end) + 4
    close = text.index("```", open_)
    return text[open_:close].strip("\n").split("\n"), heading_text


def stated(heading_text):
    m = re.search(r"\((\d+) bytes", heading_text)
    return int(m.group(1)) if m else None


def protocol_example(root):
    text = open(os.path.join(root, "docs", "protocol.md"), encoding="utf-8").read()
    text = text[text.index("## 8. Worked example"):]

    public_key = bytes.fromhex(re.search(r"`([0-9a-f]{64})`", text).group(1))

    lines, heading = block_after(text, "Header (")
    header = b"".join(leading_hex(l) for l in lines)
    check(f"header is {stated(heading)} bytes as stated", len(header) == stated(heading), f"listed {len(header)}")

    m = re.search(r"\nBody \((\d+) bytes\): `([0-9a-f ]+)`", text)
    body = bytes.fromhex(m.group(2).replace(" ", ""))
    check(f"body is {m.group(1)} bytes as stated", len(body) == int(m.group(1)), f"listed {len(body)}")

    lines, heading = block_after(text, "Signing input (")
    listed = b""
    for l in lines:
        listed += leading_hex(l)
        if "<the" in l and "header bytes>" in l:
            listed += header
    label = b"ketenpoort/v1/sig/heartbeat\x00"
    signing_input = label + struct.pack(">I", len(header)) + header + struct.pack(">I", len(body)) + body
    check("signing input as listed is the one §3.1 makes", listed == signing_input)
    check(f"signing input is {stated(heading)} bytes as stated", len(signing_input) == stated(heading),
          f"it is {len(signing_input)}")

    lines, _ = block_after(text, "Signature (")
    signature = b"".join(leading_hex(l) for l in lines)
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, signing_input)
        check("signature verifies with the stated public key", True)
    except InvalidSignature:
        check("signature verifies with the stated public key", False)

    lines, heading = block_after(text, "Envelope (")
    listed = b"".join(leading_hex(l) for l in lines)
    envelope = (bytes([0x0A, len(header)]) + header + bytes([0x12, len(body)]) + body
                + bytes([0x1A, len(signature)]) + signature)
    check("envelope as listed is the canonical encoding of §2", listed == envelope)
    check(f"envelope is {stated(heading)} bytes as stated", len(envelope) == stated(heading),
          f"it is {len(envelope)}")
    corpus = open(os.path.join(root, "tests/fuzz/envelope_corpus/heartbeat.env"), "rb").read()
    check("envelope is tests/fuzz/envelope_corpus/heartbeat.env (made by the C++ signer)", envelope == corpus)


# docs/formats.md §2.1, as a regular expression.
_ID = r"[a-z0-9][a-z0-9.-]{0,63}"
_B64 = r"[A-Za-z0-9+/]"
_Z85 = r"[0-9a-zA-Z.\-:+=^!/*?&<>()\[\]{}@%$#]"
_CROCK = r"[0-9A-HJKMNP-TV-Z]"
_TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
CARD_RE = re.compile(
    r"#[\x20-\x7e]*\n#[\x20-\x7e]*\n"
    r"ketenpoort-card: (?:1|2)\n"
    rf"id: {_ID}\n"
    r"kind: (?:agent|coordinator|gateway|privacy-officer|enrolment)\n"
    rf"partner: '(?:{_ID})?'\n"
    rf"created: {_TIME}\n"
    rf"(?:expires: {_TIME}\n)?"
    rf"signing-key: {_B64}{{42}}[AEIMQUYcgkosw048]=    # Ed25519\n"
    rf"sealing-key: {_B64}{{42}}[AEIMQUYcgkosw048]=    # X25519\n"
    rf"transport-key: '{_Z85}{{40}}'    # CurveZMQ, Z85\n"
    rf"fingerprint: {_CROCK}{{4}}-{_CROCK}{{4}}-{_CROCK}{{4}}-{_CROCK}{{4}}\n"
    rf"self-signature: {_B64}{{85}}[AQgw]==\n\Z")
Z85 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def z85_decode(text):
    out = b""
    for i in range(0, len(text), 5):
        v = 0
        for c in text[i:i + 5]:
            v = v * 85 + Z85.index(c)
        out += v.to_bytes(4, "big")
    return out


def lp(b):
    return struct.pack(">I", len(b)) + b


def card_fields(card):
    f = {}
    for line in card.split("\n"):
        if line and not line.startswith("#"):
            key, value = line.split(": ", 1)
            f[key] = value.split("    #")[0].strip("'")
    return f


def ms_of(text):
    t = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    return int(t.timestamp() * 1000)


def canonical_of(f):
    """§2.3: the canonical bytes of a card's fields, version 1 or 2."""
    v2 = f["ketenpoort-card"] == "2"
    return ((b"ketenpoort/v2/card\x00" if v2 else b"ketenpoort/v1/card\x00") + lp(f["id"].encode())
            + lp(f["kind"].encode()) + lp(f["partner"].encode()) + struct.pack(">Q", ms_of(f["created"]))
            + (struct.pack(">Q", ms_of(f["expires"])) if v2 else b"")
            + lp(base64.b64decode(f["signing-key"])) + lp(base64.b64decode(f["sealing-key"]))
            + lp(z85_decode(f["transport-key"])))


def fingerprint_of(canonical):
    bits = int.from_bytes(hashlib.sha256(canonical).digest()[:10], "big")
    fp = "".join(CROCKFORD[(bits >> (75 - 5 * i)) & 31] for i in range(16))
    return "-".join(fp[i:i + 4] for i in range(0, 16, 4))


def self_signature_verifies(f, canonical):
    try:
        Ed25519PublicKey.from_public_bytes(base64.b64decode(f["signing-key"])).verify(
            base64.b64decode(f["self-signature"]), canonical)
        return True
    except InvalidSignature:
        return False


def card_example_v2(root):
    text = open(os.path.join(root, "docs", "formats.md"), encoding="utf-8").read()
    text = text[text.index("## 2. The public card"):text.index("## 3.")]
    start = text.index("```yaml\n", text.index("```yaml\n") + 1) + len("```yaml\n")
    card = text[start:text.index("```", start)]
    check("version-2 example card is in the exact syntax of formats.md §2.1", CARD_RE.fullmatch(card) is not None)
    f = card_fields(card)
    check("version-2 example card says version 2", f.get("ketenpoort-card") == "2")
    canonical = canonical_of(f)
    lines, heading = block_after(text, "The canonical bytes of the version-2 example card (")
    listed = b"".join(leading_hex(l) for l in lines)
    check("version-2 canonical bytes as listed are the ones §2.3 makes", listed == canonical)
    check(f"version-2 canonical bytes are {stated(heading)} bytes as stated", len(canonical) == stated(heading),
          f"they are {len(canonical)}")
    check("version-2 expires in ms as stated", f"expires = {ms_of(f['expires'])} ms" in " ".join(heading.split()))
    check("version-2 SHA-256 as stated", f"SHA-256 = `{hashlib.sha256(canonical).hexdigest()}`" in text)
    check("version-2 fingerprint line is the computed one", f["fingerprint"] == fingerprint_of(canonical))
    check("version-2 self-signature verifies over the canonical bytes", self_signature_verifies(f, canonical))


def card_example(root):
    text = open(os.path.join(root, "docs", "formats.md"), encoding="utf-8").read()
    text = text[text.index("## 2. The public card"):text.index("## 3.")]
    start = text.index("```yaml\n") + len("```yaml\n")
    card = text[start:text.index("```", start)]
    check("example card is in the exact syntax of formats.md §2.1", CARD_RE.fullmatch(card) is not None)
    f = card_fields(card)
    created_ms = ms_of(f["created"])
    signing = base64.b64decode(f["signing-key"])
    canonical = (b"ketenpoort/v1/card\x00" + lp(f["id"].encode()) + lp(f["kind"].encode())
                 + lp(f["partner"].encode()) + struct.pack(">Q", created_ms) + lp(signing)
                 + lp(base64.b64decode(f["sealing-key"])) + lp(z85_decode(f["transport-key"])))

    lines, heading = block_after(text, "The canonical bytes of the example card (")
    listed = b"".join(leading_hex(l) for l in lines)
    check("canonical bytes as listed are the ones §2.3 makes", listed == canonical)
    check(f"canonical bytes are {stated(heading)} bytes as stated", len(canonical) == stated(heading),
          f"they are {len(canonical)}")
    check("created in ms as stated", f"created = {created_ms} ms" in " ".join(heading.split()))
    digest = hashlib.sha256(canonical).digest()
    check("SHA-256 as stated", f"SHA-256 = `{digest.hex()}`" in text)
    bits = int.from_bytes(digest[:10], "big")
    fp = "".join(CROCKFORD[(bits >> (75 - 5 * i)) & 31] for i in range(16))
    fp = "-".join(fp[i:i + 4] for i in range(0, 16, 4))
    check("fingerprint line is the computed one", f["fingerprint"] == fp, f"computed {fp}")
    check("fingerprint as stated under the canonical bytes", f"give `{fp}`" in text)
    try:
        Ed25519PublicKey.from_public_bytes(signing).verify(base64.b64decode(f["self-signature"]), canonical)
        check("self-signature verifies over the canonical bytes", True)
    except InvalidSignature:
        check("self-signature verifies over the canonical bytes", False)


def keygen_cards(binary, work):
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work, mode=0o700)
    for kind, partner in (("agent", "politie"), ("coordinator", "veiligheidsteam"), ("gateway", None),
                          ("privacy-officer", None), ("enrolment", None)):
        args = [binary, "keygen", "--id", f"doc-{kind}", "--kind", kind, "--out", work, "--valid-days", "400"]
        if partner:
            args += ["--partner", partner]
        p = subprocess.run(args, capture_output=True, text=True)
        card = open(os.path.join(work, f"doc-{kind}.card"), newline="").read() if p.returncode == 0 else ""
        check(f"keygen's {kind} card is in the exact syntax of formats.md §2.1",
              CARD_RE.fullmatch(card) is not None, p.stderr.strip() or card)
        if not card:
            continue
        f = card_fields(card)
        canonical = canonical_of(f)
        check(f"keygen's {kind} card is version 2, expiring 400 days after it was made",
              f.get("ketenpoort-card") == "2" and "expires" in f
              and ms_of(f["expires"]) - ms_of(f["created"]) == 400 * 86400 * 1000)
        check(f"keygen's {kind} card: the fingerprint from §2.3's canonical bytes",
              f["fingerprint"] == fingerprint_of(canonical))
        check(f"keygen's {kind} card: the self-signature verifies over §2.3's canonical bytes",
              self_signature_verifies(f, canonical))


def main(argv):
    if len(argv) not in (2, 4):
        print(__doc__, file=sys.stderr)
        return 2
    protocol_example(argv[1])
    card_example(argv[1])
    card_example_v2(argv[1])
    if len(argv) == 4:
        keygen_cards(argv[2], argv[3])
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

#!/usr/bin/env python3
"""Holds docs/protocol.md §8 (the worked example) to its own bytes and to the code.

Usage: worked_example_check.py SOURCE_ROOT

Reads the header, body, signing input, signature and envelope that §8 lists,
rebuilds the signing input and the envelope from the listed header, body and
signature by §3.1 and §2, and checks: every "(N bytes" the text states; that
the signature verifies with the public key §8 gives; and that the envelope is
byte for byte tests/fuzz/envelope_corpus/heartbeat.env, which the C++ signer
makes (tests/fuzz/envelope_corpus_test.cc).
"""

import os
import re
import struct
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


def main(argv):
    root = argv[1]
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

    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

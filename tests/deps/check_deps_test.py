#!/usr/bin/env python3
"""Shows that check_deps.py fails when a forbidden dependency is added.

Usage: check_deps_test.py SOURCE_ROOT

Builds a small source tree in a temporary folder, with the real
docs/architecture.md of SOURCE_ROOT (so the table under test is the real one),
checks that the clean tree passes, then adds one forbidden include or link at a
time, each to a fresh copy, and expects check_deps.py to fail with the exact
"file:line: folder X may not include Y (docs/architecture.md)" line. The real
sources are never touched.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CHECK = os.path.join(HERE, "check_deps.py")

# A clean tree: each file uses only what its folder's row allows.
FIXTURE = {
    "CMakeLists.txt": "add_subdirectory(core)\nadd_subdirectory(policy)\n",
    "core/base/status.h": "#pragma once\n#include <string>\n#include <spdlog/spdlog.h>\n",
    "core/base/CMakeLists.txt": "kp_library(kp_base\n  SRCS status.cc\n  DEPS spdlog::spdlog)\n",
    "core/crypto/sha256.cc": '#include "core/base/status.h"\n#include <openssl/evp.h>\n#include <sodium.h>\n',
    "core/crypto/CMakeLists.txt": ("# The only library with <sodium.h>.\nkp_library(kp_crypto\n  SRCS sha256.cc\n"
                                   "  DEPS kp_base\n  PRIVATE_DEPS PkgConfig::SODIUM OpenSSL::Crypto)\n"),
    "core/transport/router.cc": '#include "core/crypto/sha256.h"\n#include <zmq.hpp>\n',
    "policy/policy_engine.cc": '#include "policy/policy_engine.h"\n#include "core/base/status.h"\n#include <yaml-cpp/yaml.h>\n',
    "policy/CMakeLists.txt": "kp_library(kp_policy\n  SRCS policy_engine.cc\n  DEPS kp_base\n  PRIVATE_DEPS yaml-cpp)\n",
    "gateway/gateway.cc": '#include "core/transport/router.h"\n#include "policy/policy_engine.h"\n',
    "tests/core/router_test.cc": '#include "core/transport/router.h"\n#include <zmq.hpp>\n#include <gtest/gtest.h>\n',
}

failures = []
cases = []


def make_tree(root):
    tree = tempfile.mkdtemp(prefix="kp-deps-")
    os.makedirs(os.path.join(tree, "docs"))
    shutil.copy(os.path.join(root, "docs", "architecture.md"), os.path.join(tree, "docs"))
    for rel, text in FIXTURE.items():
        path = os.path.join(tree, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    return tree


def append(tree, rel, line):
    path = os.path.join(tree, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a") as f:
        f.write(line + "\n")


def run(tree, *extra):
    p = subprocess.run([sys.executable, CHECK, tree, *extra], capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


def expect(name, root, change, rc_wanted, lines_wanted, known=None, contains=None):
    cases.append(name)
    tree = make_tree(root)
    try:
        change(tree)
        extra = []
        if known is not None:
            path = os.path.join(tree, "known.txt")
            with open(path, "w") as f:
                f.write(known)
            extra = ["--known-violations", path]
        rc, out = run(tree, *extra)
        missing = [l for l in lines_wanted if l not in out.splitlines()]
        if contains is not None and contains not in out:
            missing.append(contains)
        if rc != rc_wanted or missing:
            failures.append(name)
            print(f"FAIL {name}: exit {rc} (wanted {rc_wanted}); missing lines: {missing}\n{out}")
        else:
            shown = lines_wanted[0] if lines_wanted else contains
            print(f"ok   {name}: exit {rc}" + (f"; {shown}" if shown else ""))
    finally:
        shutil.rmtree(tree)


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    root = argv[1]
    doc = "(docs/architecture.md)"

    expect("clean tree passes", root, lambda t: None, 0, [])
    expect("policy including libsodium fails", root,
           lambda t: append(t, "policy/policy_engine.cc", "#include <sodium.h>"), 1,
           [f"policy/policy_engine.cc:4: folder policy may not include <sodium.h> (sodium) {doc}"])
    expect("policy including the audit log fails", root,
           lambda t: append(t, "policy/policy_engine.cc", '#include "core/audit/log_writer.h"'), 1,
           [f'policy/policy_engine.cc:4: folder policy may not include "core/audit/log_writer.h" (core/audit) {doc}'])
    expect("core including policy fails", root,
           lambda t: append(t, "core/crypto/sha256.cc", '#  include "policy/policy_engine.h"'), 1,
           [f'core/crypto/sha256.cc:4: folder core/crypto may not include "policy/policy_engine.h" (policy) {doc}'])
    expect("the gateway including zmq.hpp fails", root,
           lambda t: append(t, "gateway/gateway.cc", "#include <zmq.hpp>"), 1,
           [f"gateway/gateway.cc:3: folder gateway may not include <zmq.hpp> (zmq) {doc}"])
    expect("the gateway including the agent fails", root,
           lambda t: append(t, "gateway/gateway.cc", '#include "agent/responder.h"'), 1,
           [f'gateway/gateway.cc:3: folder gateway may not include "agent/responder.h" (agent) {doc}'])
    expect("the policy linking kp_crypto fails", root,
           lambda t: append(t, "policy/CMakeLists.txt", "target_link_libraries(kp_policy PRIVATE kp_crypto)"), 1,
           [f"policy/CMakeLists.txt:5: folder policy may not link kp_crypto (core/crypto) {doc}"])
    expect("a folder without a row fails", root,
           lambda t: append(t, "newthing/x.cc", "#include <string>"), 1,
           ["newthing/x.cc:1: folder newthing is not in the table of docs/architecture.md: add a row for it"])
    expect("a known violation only warns", root,
           lambda t: append(t, "gateway/gateway.cc", "#include <zmq.hpp>"), 0,
           [f"warning: gateway/gateway.cc:3: folder gateway may not include <zmq.hpp> (zmq) {doc} "
            "[known, being removed: test entry]"],
           known="gateway/gateway.cc zmq -- test entry\n")
    expect("a known violation does not hide a second one", root,
           lambda t: (append(t, "gateway/gateway.cc", "#include <zmq.hpp>"),
                      append(t, "gateway/gateway.cc", "#include <sodium.h>")), 1,
           [f"gateway/gateway.cc:4: folder gateway may not include <sodium.h> (sodium) {doc}"],
           known="gateway/gateway.cc zmq -- test entry\n")

    def unknown_name(t):
        path = os.path.join(t, "docs", "architecture.md")
        with open(path) as f:
            text = f.read()
        with open(path, "w") as f:
            f.write(re.sub(r"^(\| `policy` \|.*?) \|$", r"\1, libfoo |", text, count=1, flags=re.M))
    expect("a row naming something unknown is an error", root, unknown_name, 2, [],
           contains="folder policy lists 'libfoo', which is neither a folder nor a library")

    print(f"{len(failures)} of {len(cases)} cases failed" if failures
          else f"all {len(cases)} cases passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

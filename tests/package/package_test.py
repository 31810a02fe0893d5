#!/usr/bin/env python3
"""The Debian packages, installed on this machine for real (issue 18).

Usage: package_test.py BUILD_DIR SOURCE_DIR

Runs cpack in BUILD_DIR (ketenpoort, ketenpoort-gateway, ketenpoort-agent,
plus a ketenpoort-gateway one Debian revision later, for the upgrade), lintian
(no errors, no warnings), then installs each package with `apt-get install ./x.deb`
and checks what it did: `--version`, the users, folders, owners and modes,
`check` with a generated region (keys from the installed `ketenpoort`),
`systemd-analyze verify` and `security` on the installed units, the installed
gateway under the sd_notify protocol (READY=1, WATCHDOG=1, STOPPING=1 on a
real notification socket), an upgrade that keeps an edited conffile and the
data, a remove that keeps users and data, and a purge that takes them away.

Root only (it installs packages): as another user it exits 77, which ctest
shows as skipped, with the reason. It also refuses (77) to run on a machine
where one of the packages, their users or /etc/ketenpoort already exist: it
would destroy a real installation. Plain builds only (tests/package/CMakeLists.txt).
"""

import glob
import http.cookiejar
import os
import pwd
import re
import shutil
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import tempfile
import time
import urllib.request

SKIP = 77
PACKAGES = ["ketenpoort", "ketenpoort-gateway", "ketenpoort-agent"]
USERS = ["ketenpoort-gateway", "ketenpoort-agent"]
APT = ["apt-get", "-y", "-q", "--no-install-recommends", "-o", "DPkg::Lock::Timeout=300"]
ENV = dict(os.environ, DEBIAN_FRONTEND="noninteractive", LC_ALL="C.UTF-8")
ENV.pop("KP_SOURCE_DIR", None)  # the installed programs must work without the source tree


def say(text):
    print(f"== {text}", flush=True)


def fail(text):
    print(f"FAIL: {text}", flush=True)
    raise SystemExit(1)


def run(args, check=True, user=None, timeout=240, **kw):
    if user:
        args = ["runuser", "-u", user, "--"] + args
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV,
                       timeout=timeout, **kw)
    if check and p.returncode != 0:
        fail(f"{' '.join(args)} exited {p.returncode}:\n{p.stdout}")
    return p


def installed(package):
    p = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, text=True)
    return "ok installed" in p.stdout or "config-files" in p.stdout


def user_exists(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def expect_dir(path, owner, mode):
    try:
        st = os.stat(path)
    except FileNotFoundError:
        fail(f"{path} does not exist")
    if not stat.S_ISDIR(st.st_mode):
        fail(f"{path} is not a folder")
    got_owner = pwd.getpwuid(st.st_uid).pw_name
    if got_owner != owner or stat.S_IMODE(st.st_mode) != mode:
        fail(f"{path}: owner {got_owner} mode {oct(stat.S_IMODE(st.st_mode))}, expected {owner} {oct(mode)}")


def expect_modules():
    """The agent's connector modules (docs/agent.md "Data sources"): root's,
    0644 in a folder only root writes, each one a loadable module."""
    folder = "/usr/lib/ketenpoort/connectors"
    expect_dir(folder, "root", 0o755)
    for kind in ["postgres", "https"]:
        path = f"{folder}/ketenpoort-connector-{kind}.so"
        try:
            st = os.stat(path)
        except FileNotFoundError:
            fail(f"{path} is not installed")
        if st.st_uid != 0 or stat.S_IMODE(st.st_mode) != 0o644:
            fail(f"{path}: uid {st.st_uid} mode {oct(stat.S_IMODE(st.st_mode))}, expected root 0o644")
        symbols = run(["nm", "-D", "--defined-only", path]).stdout
        if "ketenpoort_connector_module" not in symbols:
            fail(f"{path} does not export ketenpoort_connector_module")


def expect_gone(path):
    if os.path.lexists(path):
        fail(f"{path} is still there after the purge")


def preconditions():
    if os.geteuid() != 0:
        print("SKIPPED: the package test installs and purges Debian packages and needs root "
              "(CI runs it as root; run `sudo ctest -R package` here)", flush=True)
        raise SystemExit(SKIP)
    for tool in ["cpack", "lintian", "apt-get", "dpkg-deb", "systemd-analyze", "runuser", "setpriv"]:
        if shutil.which(tool) is None:
            print(f"SKIPPED: {tool} is not installed (./run installs lintian and the rest)", flush=True)
            raise SystemExit(SKIP)
    found = [p for p in PACKAGES if installed(p)] + [u for u in USERS if user_exists(u)]
    if os.path.exists("/etc/ketenpoort") or os.path.exists("/var/lib/ketenpoort"):
        found.append("/etc/ketenpoort or /var/lib/ketenpoort")
    if found:
        print("SKIPPED: this machine already has " + ", ".join(found) +
              ": the test would remove a real installation. Purge it first (apt-get purge "
              + " ".join(PACKAGES) + ")", flush=True)
        raise SystemExit(SKIP)


def protocol_version(source):
    text = open(os.path.join(source, "core/envelope/wire_format.h"), encoding="utf-8").read()
    return int(re.search(r"kProtocolVersion = (\d+);", text).group(1))


def project_version(source):
    text = open(os.path.join(source, "CMakeLists.txt"), encoding="utf-8").read()
    return re.search(r"project\(ketenpoort VERSION (\d+\.\d+\.\d+)", text).group(1)


def build_packages(build, out):
    say("cpack: the three packages, and ketenpoort-gateway once more as revision 2 (the upgrade)")
    run(["cpack", "-G", "DEB", "-B", out + "/r1", "--config", build + "/CPackConfig.cmake"])
    run(["cpack", "-G", "DEB", "-B", out + "/r2", "--config", build + "/CPackConfig.cmake",
         "-D", "CPACK_COMPONENTS_ALL=gateway", "-D", "CPACK_DEBIAN_PACKAGE_RELEASE=2"])
    debs = {}
    for p in PACKAGES:
        found = glob.glob(f"{out}/r1/{p}_*_*.deb")
        if len(found) != 1:
            fail(f"cpack made {found} for {p}")
        debs[p] = found[0]
    upgrade = glob.glob(f"{out}/r2/ketenpoort-gateway_*-2_*.deb")
    if len(upgrade) != 1:
        fail(f"cpack made {upgrade} for the revision-2 gateway")
    for p, deb in debs.items():
        fields = run(["dpkg-deb", "-f", deb, "Package", "Depends"]).stdout
        print(fields.strip())
        if f"Package: {p}" not in fields or "libsodium23" not in fields or "libzmq5" not in fields:
            fail(f"{deb}: the control fields lack the package name or the libraries dpkg-shlibdeps finds")
    return debs, upgrade[0]


def lintian(debs):
    say("lintian: no errors, no warnings")
    p = run(["lintian", "--fail-on", "error,warning"] + debs, check=False)
    print(p.stdout.strip())
    if p.returncode != 0 or re.search(r"^[EW]: ", p.stdout, re.M):
        fail("lintian reports errors or warnings (docs/operations.md, \"lintian\")")


def install(deb):
    say(f"apt-get install ./{os.path.basename(deb)}")
    run(APT + ["install", os.path.abspath(deb)])


def purge(package):
    run(APT + ["purge", package])


def check_version(program, version, protocol):
    line = run([program, "--version"]).stdout.strip()
    print(line)
    want = rf"^{re.escape(os.path.basename(program))} {re.escape(version)} \(commit [A-Za-z0-9+._-]+, protocol {protocol}\)$"
    if not re.match(want, line):
        fail(f"{program} --version said {line!r}")


def check_unit(unit):
    path = f"/lib/systemd/system/{unit}"
    p = run(["systemd-analyze", "verify", path], check=False)
    # Without systemd as PID 1 (a container) verify still parses the unit
    # and checks its commands; any complaint about the unit itself fails.
    bad = [l for l in p.stdout.splitlines() if unit in l or "ketenpoort" in l]
    if p.returncode != 0 or bad:
        fail(f"systemd-analyze verify {path}:\n{p.stdout}")
    s = run(["systemd-analyze", "security", "--offline=true", "--no-pager", path], check=False).stdout
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+) (\w+)", s)
    if not m:
        fail(f"systemd-analyze security printed no rating:\n{s}")
    print(f"{unit}: exposure {m.group(1)} {m.group(2)}")
    if m.group(2) not in ("PERFECT", "SAFE", "OK"):
        fail(f"{unit} is rated {m.group(2)} ({m.group(1)}); docs/operations.md promises OK or better")


def make_region(work, source):
    """Keys, a signed registry and configs made with the installed `ketenpoort`."""
    say("a region made with the installed ketenpoort: keys, a signed registry")
    keys, registry = f"{work}/keys", f"{work}/registry"
    os.makedirs(registry)
    for args in (["--id", "enrolment-hvb", "--kind", "enrolment"], ["--id", "gateway", "--kind", "gateway"],
                 ["--id", "politie-agent", "--kind", "agent", "--partner", "politie"],
                 ["--id", "regisseur-01", "--kind", "coordinator", "--partner", "veiligheidsteam"]):
        run(["ketenpoort", "keygen"] + args + ["--out", keys], cwd=work)
    for card in ("gateway.card", "politie-agent.card", "regisseur-01.card"):
        shutil.copy(f"{keys}/{card}", registry)
    run(["ketenpoort", "registry", "sign", "--enrolment", f"{keys}/enrolment-hvb.secret", "--dir", registry,
         "--role", "regisseur-01=casusregisseur"], cwd=work)
    run(["ketenpoort", "pseudonym-key", "new", "--id", "hvb-test-1", "--out", f"{keys}/region.pseudonym-key"], cwd=work)
    shutil.copy(os.path.join(source, "policy/examples/veiligheidsteam-hvb.yaml"), f"{work}/policy.yaml")
    # The services read their secret key as their own user (mode 0600).
    shutil.chown(f"{keys}/gateway.secret", "ketenpoort-gateway", "ketenpoort-gateway")
    os.chmod(work, 0o755)
    os.chmod(keys, 0o755)
    os.chmod(registry, 0o755)
    for f in glob.glob(f"{registry}/*") + glob.glob(f"{keys}/*.card") + [f"{work}/policy.yaml"]:
        os.chmod(f, 0o644)
    return keys, registry


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def write_gateway_config(work, keys, registry, port):
    path = f"{work}/gateway.yaml"
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"""listen: tcp://127.0.0.1:{port}
identity: {keys}/gateway.secret
registry: {registry}
enrolment_card: {keys}/enrolment-hvb.card
policy: {work}/policy.yaml
data_dir: /var/lib/ketenpoort/gateway
log_origin: ketenpoort.package-test/audit
""")
    os.chmod(path, 0o644)
    return path


def write_agent_config(work, keys, registry, port):
    db = f"{work}/politie.db"
    with sqlite3.connect(db) as c:
        c.execute("CREATE TABLE incidenten (bsn TEXT, datum TEXT, soort TEXT, rol TEXT, geweld TEXT, wapens TEXT)")
        c.execute("INSERT INTO incidenten VALUES ('999990019', '2026-01-02', 'CANARY-PKG-TEST', 'slachtoffer', 'nee', 'nee')")
    os.chmod(db, 0o644)
    shutil.chown(f"{keys}/politie-agent.secret", "ketenpoort-agent", "ketenpoort-agent")
    path = f"{work}/agent.yaml"
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"""identity: {keys}/politie-agent.secret
gateway:
  endpoint: tcp://127.0.0.1:{port}
  card: {keys}/gateway.card
  log_origin: ketenpoort.package-test/audit
enrolment_card: {keys}/enrolment-hvb.card
registry: {registry}
policy: {work}/policy.yaml
data_dir: /var/lib/ketenpoort/agent
test_subject: {{ref: T1, role: victim, bsn: "999990019", name: "Testpersoon Fictief", date_of_birth: 1980-01-01}}
categories:
  politie-incidenten:
    source:
      kind: sqlite
      database: {db}
      query: >-
        SELECT datum, soort AS incidentsoort, rol AS "rol-betrokkene",
               geweld AS "geweld-gebruikt", wapens AS "wapens-aanwezig"
        FROM incidenten WHERE bsn = :bsn ORDER BY datum
""")
    os.chmod(path, 0o644)
    return path


def check_console(work, keys, registry, port):
    """The installed console serves its pages from inside the program (templates
    compiled in): started from / with no source tree, its login address gives
    the cases page, and its style sheet is served."""
    say("the installed ketenpoort console, started from /, serves its pages and style sheet")
    cfg = f"{work}/client.yaml"
    with open(cfg, "w", encoding="utf-8") as f:
        f.write(f"""gateway:
  endpoint: tcp://127.0.0.1:{port}
  card: {keys}/gateway.card
identity: {keys}/regisseur-01.secret
enrolment_card: {keys}/enrolment-hvb.card
registry: {registry}
store: {work}/store
policy: {work}/policy.yaml
pseudonym_key: {keys}/region.pseudonym-key
""")
    console_port = free_port()
    log = open(f"{work}/console.log", "w+")
    p = subprocess.Popen(["/usr/bin/ketenpoort", "console", "--config", cfg, "--port", str(console_port)],
                         cwd="/", stdout=log, stderr=subprocess.STDOUT, env=ENV)
    try:
        address = None
        deadline = time.monotonic() + 30
        while address is None and time.monotonic() < deadline and p.poll() is None:
            m = re.search(r"(http://127\.0\.0\.1:\d+/start\?token=\S+)", open(log.name).read())
            address = m.group(1) if m else None
            if address is None:
                time.sleep(0.1)
        if address is None:
            fail("the console printed no login address:\n" + open(log.name).read())
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        with opener.open(address, timeout=30) as r:
            page = r.read().decode()
            # layout.mustache (the signed-in pages), not plain.mustache (errors): it loads the script.
            if r.status != 200 or "Ketenpoort" not in page or 'src="/static/console.js"' not in page:
                fail(f"the console's first page ({r.status}) is not the cases page:\n{page[:2000]}")
        with opener.open(f"http://127.0.0.1:{console_port}/static/console.css", timeout=30) as r:
            css = r.read()
            if r.status != 200 or len(css) < 100:
                fail(f"the console's style sheet: {r.status}, {len(css)} bytes")
        print(f"the cases page ({len(page)} bytes) and console.css ({len(css)} bytes) served")
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()


class NotifySocket:
    """systemd's end of sd_notify: a datagram socket the service is told about."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        os.chmod(path, 0o777)  # the service runs as its own user
        self.path = path

    def wait_for(self, text, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = self.sock.recv(4096).decode()
            except socket.timeout:
                break
            if text in data:
                return True
        return False


def start_service(name, config, notify):
    """ketenpoort-<name> run, as its user, with systemd's variables (Type=notify, WatchdogSec=)."""
    say(f"the installed {name}, as its user, under the sd_notify protocol")
    env = dict(ENV, NOTIFY_SOCKET=notify.path, WATCHDOG_USEC="2000000")
    log = open(f"{os.path.dirname(config)}/{name}.log", "w")
    # setpriv execs the program itself, so its pid is the one signalled below.
    p = subprocess.Popen(["setpriv", f"--reuid=ketenpoort-{name}", f"--regid=ketenpoort-{name}", "--clear-groups",
                          f"/usr/bin/ketenpoort-{name}", "run", "--config", config],
                         stdout=log, stderr=subprocess.STDOUT, env=env)
    if not notify.wait_for("READY=1", 30):
        p.kill()
        fail(f"the {name} did not say READY=1 within 30 s:\n" + open(log.name).read())
    if not notify.wait_for("WATCHDOG=1", 30):
        p.kill()
        fail(f"the {name} did not ping the watchdog (WATCHDOG_USEC=2 s) within 30 s")
    print(f"{name}: READY=1 and WATCHDOG=1 received")
    return p, log.name


def stop_service(name, p, notify, log):
    os.kill(p.pid, signal.SIGTERM)
    if not notify.wait_for("STOPPING=1", 30):
        p.kill()
        fail(f"the {name} did not say STOPPING=1 after SIGTERM:\n" + open(log).read())
    rc = p.wait(timeout=60)
    if rc != 0:
        fail(f"the {name} exited {rc} after SIGTERM:\n" + open(log).read())
    print(f"{name}: STOPPING=1 received; exit 0")


def main():
    build, source = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    preconditions()
    version, protocol = project_version(source), protocol_version(source)
    work = tempfile.mkdtemp(prefix="kp-package-")
    pending = []
    try:
        debs, upgrade = build_packages(build, work + "/debs")
        lintian(list(debs.values()))

        install(debs["ketenpoort"])
        pending.append("ketenpoort")
        check_version("/usr/bin/ketenpoort", version, protocol)
        keys, registry = None, None

        install(debs["ketenpoort-gateway"])
        pending.append("ketenpoort-gateway")
        check_version("/usr/bin/ketenpoort-gateway", version, protocol)
        if not user_exists("ketenpoort-gateway"):
            fail("postinst did not make the user ketenpoort-gateway")
        expect_dir("/etc/ketenpoort", "root", 0o755)
        expect_dir("/etc/ketenpoort/keys", "root", 0o755)
        expect_dir("/var/lib/ketenpoort", "root", 0o755)
        expect_dir("/var/lib/ketenpoort/gateway", "ketenpoort-gateway", 0o700)
        check_unit("ketenpoort-gateway.service")
        keys, registry = make_region(work, source)
        port = free_port()
        gateway_yaml = write_gateway_config(work, keys, registry, port)
        say("ketenpoort-gateway check, as ketenpoort-gateway")
        print(run(["/usr/bin/ketenpoort-gateway", "check", "--config", gateway_yaml], user="ketenpoort-gateway").stdout)

        notify = NotifySocket(work + "/notify")
        gateway, gateway_log = start_service("gateway", gateway_yaml, notify)
        try:
            install(debs["ketenpoort-agent"])
            pending.append("ketenpoort-agent")
            check_version("/usr/bin/ketenpoort-agent", version, protocol)
            if not user_exists("ketenpoort-agent"):
                fail("postinst did not make the user ketenpoort-agent")
            expect_dir("/var/lib/ketenpoort/agent", "ketenpoort-agent", 0o700)
            expect_modules()
            check_unit("ketenpoort-agent.service")
            agent_yaml = write_agent_config(work, keys, registry, port)
            say("ketenpoort-agent check, as ketenpoort-agent (against the running gateway)")
            out = run(["/usr/bin/ketenpoort-agent", "check", "--config", agent_yaml], user="ketenpoort-agent").stdout
            print(out)
            if "CANARY-PKG-TEST" in out:
                fail("check printed the source's content")
            check_console(work, keys, registry, port)
            agent_notify = NotifySocket(work + "/notify-agent")
            agent, agent_log = start_service("agent", agent_yaml, agent_notify)
            stop_service("agent", agent, agent_notify, agent_log)
        finally:
            stop_service("gateway", gateway, notify, gateway_log)

        say("upgrade ketenpoort-gateway to revision 2: the edited conffile and the data stay")
        with open("/etc/ketenpoort/gateway.yaml", "a", encoding="utf-8") as f:
            f.write("# edited by the package test\n")
        data = sorted(os.listdir("/var/lib/ketenpoort/gateway"))
        if not data:
            fail("the gateway wrote nothing to its data folder")
        install(upgrade)
        status = run(["dpkg-query", "-W", "-f=${Version}", "ketenpoort-gateway"]).stdout
        if not status.endswith("-2"):
            fail(f"after the upgrade ketenpoort-gateway is at {status}")
        if "# edited by the package test" not in open("/etc/ketenpoort/gateway.yaml", encoding="utf-8").read():
            fail("the upgrade replaced the edited /etc/ketenpoort/gateway.yaml")
        if sorted(os.listdir("/var/lib/ketenpoort/gateway")) != data:
            fail("the upgrade changed the data folder")
        expect_dir("/var/lib/ketenpoort/gateway", "ketenpoort-gateway", 0o700)
        print(f"kept: the edited gateway.yaml and {len(data)} entries of the data folder")

        say("remove ketenpoort-agent: user, configuration and data stay")
        run(APT + ["remove", "ketenpoort-agent"])
        if not user_exists("ketenpoort-agent") or not os.path.isdir("/var/lib/ketenpoort/agent") or \
                not os.path.exists("/etc/ketenpoort/agent.yaml"):
            fail("remove took the user, the data or the configuration of ketenpoort-agent")
        for p in ["ketenpoort-agent", "ketenpoort-gateway"]:
            say(f"purge {p}: its user, data and configuration go")
            purge(p)
            pending.remove(p)
            svc = p.split("-")[1]
            if user_exists(p):
                fail(f"purge left the user {p}")
            expect_gone(f"/var/lib/ketenpoort/{svc}")
            expect_gone(f"/etc/ketenpoort/{svc}.yaml")
        purge("ketenpoort")
        pending.remove("ketenpoort")
        for path in ["/etc/ketenpoort", "/var/lib/ketenpoort", "/usr/bin/ketenpoort", "/usr/bin/ketenpoort-gateway",
                     "/usr/bin/ketenpoort-agent", "/lib/systemd/system/ketenpoort-gateway.service",
                     "/usr/lib/ketenpoort"]:
            expect_gone(path)
        say("all packages purged; nothing left")
    finally:
        for p in reversed(pending):  # a failure above: leave the machine as it was
            subprocess.run(APT + ["purge", p], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

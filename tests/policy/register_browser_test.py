#!/usr/bin/python3
"""`ketenpoort policy register` as a privacy officer uses it: the example
policy's register of processing activities (AVG art. 30) written by the real
binary, opened in Debian's headless chromium (python3-selenium), checked as a
person reads it, with screenshots kept in --out; and the bad inputs: a policy
that does not load, an unknown partner, a partner without its controller
(each a clear message, exit 1 and no file), --draft marked as a draft.

  /usr/bin/python3 tests/policy/register_browser_test.py --ketenpoort build/cli/ketenpoort --out DIR
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "console"))
import browser  # noqa: E402  (tests/console/browser.py)

EXAMPLE = "policy/examples/veiligheidsteam-hvb.yaml"
BAD = "tests/policy/bad_policies/two-errors.yaml"
failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
        print("FAIL:", what)


def run(k, *args):
    p = subprocess.run([k, "policy", "register", *args], capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def page_facts(driver):
    """What a reader sees: headings, tables, empty cells, layout overflow."""
    return driver.execute_script("""
      const cells = [...document.querySelectorAll('td')];
      const empty = cells.filter(td => td.innerText.trim() === '').map(td => {
        const row = td.closest('tr');
        return (row.closest('table').id || row.closest('table').dataset.purpose || '?') + ': ' + row.innerText.slice(0, 80);
      });
      const tables = [...document.querySelectorAll('table')];
      const wide = tables.filter(t => t.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
                         .map(t => t.id || t.dataset.purpose);
      return {
        title: document.title,
        lang: document.documentElement.lang,
        h2: [...document.querySelectorAll('h2')].map(h => h.innerText),
        purposes: [...document.querySelectorAll('table.purpose')].map(t => t.dataset.purpose),
        purposeRows: document.querySelectorAll('table.purpose tr').length - document.querySelectorAll('table.purpose').length,
        rules: [...document.querySelectorAll('table.purpose td.id')].map(td => td.innerText),
        controllers: [...document.querySelectorAll('#controllers tr')].slice(1).map(r => [...r.cells].map(c => c.innerText)),
        empty: empty,
        wide: wide,
        scripts: document.scripts.length,
        external: [...document.querySelectorAll('[src],link[href]')].length,
        draft: !!document.getElementById('draft'),
        missing: document.querySelectorAll('.missing').length,
        bodyWidth: document.documentElement.scrollWidth,
        viewWidth: document.documentElement.clientWidth,
        text: document.body.innerText,
      };""")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ketenpoort", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    k = a.ketenpoort
    work = tempfile.mkdtemp(prefix="kp-register-")

    # The whole register and one partner's part, written by the binary.
    full = os.path.join(a.out, "register.html")
    rc, out, err = run(k, EXAMPLE, "--out", full)
    check(rc == 0, f"register of the example: exit {rc}: {err}")
    check(re.search(r"wrote .*register of processing activities of policy veiligheidsteam-hvb \(sha256 [0-9a-f]{64}\)",
                    out) is not None, f"register output: {out!r}")
    part = os.path.join(a.out, "register-sterk-huis.html")
    rc, out, err = run(k, EXAMPLE, "--partner", "sterk-huis", "--out", part)
    check(rc == 0 and "partner sterk-huis" in out, f"--partner: exit {rc}: {out} {err}")

    # Bad input: a clear message, exit 1, no file (an old file stays as it was).
    for args, message in (
        ([BAD], "2 error(s); the policy is not used"),
        (["/nonexistent/policy.yaml"], "/nonexistent/policy.yaml"),
        ([EXAMPLE, "--partner", "nobody"], "the policy has no partner 'nobody'"),
    ):
        target = os.path.join(work, "bad.html")
        rc, out, err = run(k, *args, "--out", target)
        check(rc == 1, f"{args}: exit {rc}, expected 1")
        check(message in err, f"{args}: message {message!r} not in {err!r}")
        check(not os.path.exists(target), f"{args}: a file was written")
    rc, out, err = run(k, EXAMPLE)
    check(rc == 2, f"without --out: exit {rc}, expected 2")
    kept = os.path.join(work, "policy.yaml")
    with open(EXAMPLE) as f, open(kept, "w") as g:
        g.write(f.read())
    rc, out, err = run(k, kept, "--out", kept)
    check(rc == 1 and "is the policy file itself" in err, f"--out the policy: exit {rc}: {err}")
    with open(kept) as f, open(EXAMPLE) as g:
        check(f.read() == g.read(), "--out the policy: the policy was overwritten")

    # A partner without its controller: refused, unless --draft, which says so.
    with open(EXAMPLE) as f:
        text = f.read()
    lacking = os.path.join(work, "lacking.yaml")
    with open(lacking, "w") as f:
        f.write(text.replace("    controller: Stichting Sterk Huis\n", ""))
    target = os.path.join(work, "lacking.html")
    rc, out, err = run(k, lacking, "--out", target)
    check(rc == 1 and "no 'controller:' for sterk-huis" in err and "--draft" in err,
          f"missing controller: exit {rc}: {err}")
    check(not os.path.exists(target), "missing controller: a file was written")
    draft = os.path.join(a.out, "register-draft.html")
    rc, out, err = run(k, lacking, "--draft", "--out", draft)
    check(rc == 0 and "DRAFT" in out and "no controller for sterk-huis" in err, f"--draft: exit {rc}: {out} {err}")

    driver = browser.make_driver(width=1400)
    try:
        driver.get("file://" + os.path.abspath(full))
        f = page_facts(driver)
        check(f["title"].startswith("Register van verwerkingsactiviteiten — Veiligheidsteam Hart van Brabant"),
              f"title: {f['title']!r}")
        check(f["lang"] == "nl", "lang is not nl")
        check(len(f["h2"]) == 8, f"sections: {f['h2']}")
        check(f["purposes"] == ["veiligheidstaxatie", "plan-van-aanpak", "acuut-gevaar-afwenden"],
              f"purpose tables: {f['purposes']}")
        check(f["empty"] == [], f"empty cells: {f['empty']}")
        check(f["scripts"] == 0 and f["external"] == 0, "the page has scripts or external assets")
        check(not f["draft"] and f["missing"] == 0, "the example's register is marked incomplete")
        check(len(f["controllers"]) == 14, f"controller rows: {len(f['controllers'])}")
        for row in f["controllers"]:
            check(row[1].strip() != "" and "niet vermeld" not in row[1], f"controller missing: {row}")
        for rule in ("R-POL-01", "R-GGZ-02", "R-VT-PLAN-02", "R-STERK-01", "R-SPOED-03"):
            check(rule in f["rules"], f"rule {rule} not in the purpose tables")
        for phrase in ("Nooit gedeeld", "N-MELDER-01", "F-SPOED-POL-01", "7300 dagen (20 jaar)",
                       "90 dagen na het sluiten van de casus", "FG wordt ingelicht", "Wjsg art. 39f",
                       "College van procureurs-generaal"):
            check(phrase in f["text"], f"{phrase!r} not on the page")
        check(f["bodyWidth"] <= f["viewWidth"] + 1, f"the page scrolls sideways: {f['bodyWidth']} > {f['viewWidth']}")
        browser.screenshot(driver, os.path.join(a.out, "register.png"), width=1400)
        print("purpose rows", f["purposeRows"], "rules", len(f["rules"]))

        driver.get("file://" + os.path.abspath(part))
        f = page_facts(driver)
        check(f["rules"] and all(r.startswith("R-STERK") for r in f["rules"]), f"partner part rules: {f['rules']}")
        names = [r[0] for r in f["controllers"]]
        check(len(names) == 2 and names[0].endswith("(veiligheidsteam)") and names[1].endswith("(sterk-huis)"),
              f"partner part controllers: {names}")
        check(f["empty"] == [], f"partner part empty cells: {f['empty']}")
        driver.save_screenshot(os.path.join(a.out, "register-sterk-huis.png"))  # its top: the whole page takes a second

        driver.get("file://" + os.path.abspath(draft))
        f = page_facts(driver)
        check(f["draft"] and "CONCEPT — onvolledig" in f["text"] and f["missing"] >= 1, "the draft is not marked")
        driver.save_screenshot(os.path.join(a.out, "register-draft.png"))  # its top: the whole page takes a second
    finally:
        driver.quit()

    if failures:
        print(f"{len(failures)} failure(s)")
        return 1
    print("OK; screenshots in", a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

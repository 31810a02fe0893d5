#!/usr/bin/python3
"""The draft answer to an access request (AVG art. 15) as a person sees it.

  /usr/bin/python3 tests/audit/subject_browser_test.py --subject-test BIN --out DIR

Runs audit_tests (BIN; its SubjectTest.By* tests) with KP_SUBJECT_SAMPLE_DIR so it writes the
drafts that `ketenpoort audit subject` made (found by BSN across a gateway
log and an agent's own log; found by name and date of birth), opens each in
Debian's headless chromium and checks what the eye would: the Dutch headings
a-h in order, every table with its rows and no empty header, the page no
wider than the window, no script, no external resource, and none of the
canaries (the person's BSN and name, the other person's BSN, name, ref and
case) anywhere in the rendered text. Keeps a screenshot of each in DIR.
"""

import argparse
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "console"))
import browser  # noqa: E402

HEADINGS = [
    "a. Doeleinden en grondslag van de verwerking",
    "b. Categorieën van persoonsgegevens",
    "c. Ontvangers",
    "d. Bewaartermijn",
    "e. Rechten van de persoon",
    "f. Klacht bij de Autoriteit Persoonsgegevens",
    "g. Bron van de gegevens",
    "h. Geautomatiseerde besluitvorming",
    "Overzicht van alle vastleggingen",
    "Verantwoording",
]

# As in subject_report_test.cc: must not be anywhere in the draft.
CANARIES = ["111222333", "Annabel", "Canarie", "123456782", "Bartholomeus", "Anderpersoon", "ref-anna-7731",
            "ref-bart-9924", "VT-2026-9999", "alleen-bart-partner", "vt-casusregisseur-07"]

PAGE = """
return {
  headings: Array.from(document.querySelectorAll('h2')).map(h => h.textContent),
  h1: document.querySelector('h1') ? document.querySelector('h1').textContent : '',
  text: document.body.innerText,
  scripts: document.querySelectorAll('script').length,
  external: Array.from(document.querySelectorAll('[src],[href]')).map(e => e.getAttribute('src') || e.getAttribute('href')),
  tables: Array.from(document.querySelectorAll('table')).map(t => ({
    rows: t.rows.length,
    emptyHeaders: Array.from(t.rows[0].cells).filter(c => c.textContent.trim() === '').length,
  })),
  scrollWidth: document.documentElement.scrollWidth,
  innerWidth: window.innerWidth,
  lang: document.documentElement.lang,
};
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--subject-test", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    failures = []
    with tempfile.TemporaryDirectory() as samples:
        env = dict(os.environ, KP_SUBJECT_SAMPLE_DIR=samples)
        env.setdefault("KP_SOURCE_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
        run = subprocess.run([args.subject_test, "--gtest_filter=SubjectTest.By*"], env=env,
                             capture_output=True, text=True, timeout=120)
        if run.returncode != 0:
            print(run.stdout[-4000:], run.stderr[-4000:])
            print("FAIL audit_tests (SubjectTest.By*) did not pass")
            return 1
        drafts = sorted(f for f in os.listdir(samples) if f.endswith(".html"))
        if len(drafts) != 2:
            print(f"FAIL expected two drafts, got {drafts}")
            return 1
        driver = browser.make_driver(width=1280, height=1000)
        try:
            for name in drafts:
                driver.get("file://" + os.path.join(samples, name))
                page = driver.execute_script(PAGE)
                what = name
                if page["lang"] != "nl":
                    failures.append(f"{what}: lang is {page['lang']!r}, not nl")
                if "artikel 15 AVG" not in page["h1"]:
                    failures.append(f"{what}: heading {page['h1']!r}")
                if page["headings"] != HEADINGS:
                    failures.append(f"{what}: headings {page['headings']}")
                if page["scripts"] or page["external"]:
                    failures.append(f"{what}: scripts {page['scripts']}, external {page['external']}")
                for i, t in enumerate(page["tables"]):
                    if t["rows"] < 2:
                        failures.append(f"{what}: table {i} has no rows")
                    if t["emptyHeaders"]:
                        failures.append(f"{what}: table {i} has an empty header")
                if page["scrollWidth"] > page["innerWidth"]:
                    failures.append(f"{what}: wider than the window ({page['scrollWidth']} > {page['innerWidth']})")
                for c in CANARIES:
                    if c in page["text"]:
                        failures.append(f"{what}: {c!r} is in the draft")
                for want in ["de persoon", "Informatie verstrekt", "politie-incidenten", "rectificatie",
                             "autoriteitpersoonsgegevens.nl", "CONCEPT"]:
                    if want not in page["text"]:
                        failures.append(f"{what}: {want!r} is missing")
                shot = os.path.join(args.out, name.replace(".html", ".png"))
                browser.screenshot(driver, shot)
                print(f"ok   {what}: {len(page['tables'])} tables, screenshot {shot}")
        finally:
            driver.quit()
    for f in failures:
        print("FAIL " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

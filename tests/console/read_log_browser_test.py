#!/usr/bin/python3
"""The read log (NEN 7513) as a coordinator and a privacy officer meet it.

Starts console_region --answered (a case whose police incidents were asked
and answered, not yet shown), opens the case in Debian's headless chromium:
the answer is on the page, and the coordinator's read log
(STORE/read-log) has one FRAGMENT_SHOWN record for it ("console:
casuspagina"), which `ketenpoort audit verify` accepts and `audit show`
prints. Then the read log cannot record (its log.vkey names another key):
the page shows no content but says why; once it can again, the content
shows. Screenshots in --out:

  read_log_browser_test.py --region build/tests/console/console_region \
      --cli build/cli/ketenpoort --out DIR
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import traceback

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

import browser

BSN = "999990019"  # the victim's; the region's data values hold it
FOREIGN_VKEY = "ketenpoort.elders/read-log/iemand+01020304+AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=\n"


class Check:
    def __init__(self):
        self.failures = []

    def that(self, condition, what):
        print(("ok   " if condition else "FAIL ") + what, flush=True)
        if not condition:
            self.failures.append(what)


def body_text(driver):
    return driver.find_element(By.TAG_NAME, "body").text


def shown_records(cli, read_log):
    """The read log's records as `ketenpoort audit show --json` prints them."""
    if not os.path.exists(os.path.join(read_log, "log.vkey")):
        return []
    out = subprocess.run([cli, "audit", "show", read_log, "--json"], capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise AssertionError(f"audit show failed: {out.stderr}")
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def run(driver, base, cli, read_log, out, check):
    shot = lambda name: browser.screenshot(driver, os.path.join(out, name + ".png"))
    check.that(shown_records(cli, read_log) == [], "nothing shown yet, nothing in the read log")

    driver.get(base + "/")
    cases = {m.group(1) for m in (re.search(r"/casus/([A-Za-z0-9._-]+)$", a.get_attribute("href") or "")
                                  for a in driver.find_elements(By.CSS_SELECTOR, "#casussen a")) if m}
    check.that(len(cases) == 1, f"Mijn casussen lists the answered case ({sorted(cases)})")
    driver.get(base + "/casus/" + sorted(cases)[0])
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.ID, "antwoorden"))
    answers = driver.find_element(By.ID, "antwoorden").text
    check.that(BSN in answers, "the police's answer is on the case page")
    check.that("inzagelog (NEN 7513)" in driver.find_element(By.ID, "inzagelog").text,
               "the page says that each showing is recorded")
    shot("01-antwoord-getoond")

    records = shown_records(cli, read_log)
    check.that(len(records) == 1, f"one record in the read log (got {len(records)})")
    if records:
        r = records[0]
        check.that(r.get("event") == "AUDIT_EVENT_FRAGMENT_SHOWN", "its event is FRAGMENT_SHOWN")
        check.that(r.get("reason") == "console: casuspagina", "shown in the console, on the case page")
        check.that(r.get("actor", {}).get("participant_id") == "regisseur-01", "shown to regisseur-01")
        check.that(r.get("source_partner") == "politie", "a fragment from the police")
        check.that(r.get("subjects", [{}])[0].get("pseudonyms"), "the subject's pseudonyms, for AVG art. 15")
    verified = subprocess.run([cli, "audit", "verify", read_log], capture_output=True, text=True, timeout=60)
    check.that(verified.returncode == 0 and "OK" in verified.stdout, "ketenpoort audit verify accepts the read log")
    listed = subprocess.run([cli, "audit", "show", read_log], capture_output=True, text=True, timeout=60)
    print(listed.stdout, flush=True)
    check.that("fragment-shown" in listed.stdout and "console: casuspagina" in listed.stdout,
               "audit show lists the showing")
    with open(os.path.join(out, "audit-show.txt"), "w") as f:
        f.write(listed.stdout)

    # The read log cannot record: nothing shown, and the page says why.
    vkey = os.path.join(read_log, "log.vkey")
    with open(vkey) as f:
        genuine = f.read()
    with open(vkey, "w") as f:
        f.write(FOREIGN_VKEY)
    driver.refresh()
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.ID, "antwoorden"))
    answers = driver.find_element(By.ID, "antwoorden").text
    check.that(BSN not in answers, "no content while the read log cannot record")
    check.that("De inhoud wordt niet getoond" in answers, "the page says the content is not shown, and why")
    check.that(driver.find_elements(By.CSS_SELECTOR, "#antwoorden .niet-getoond"), "marked as not shown")
    shot("02-niet-getoond")

    with open(vkey, "w") as f:
        f.write(genuine)
    driver.refresh()
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.ID, "antwoorden"))
    check.that(BSN in driver.find_element(By.ID, "antwoorden").text, "shown again once the read log records")
    check.that(len(shown_records(cli, read_log)) == 2, "two records: the failed showing left none")
    log_bytes = b""
    for folder, _, files in os.walk(read_log):
        for name in files:
            with open(os.path.join(folder, name), "rb") as f:
                log_bytes += f.read()
    for canary in (BSN, "Sanne de Vries", "1988-04-12"):
        check.that(canary.encode() not in log_bytes, f"'{canary}' is not in the read log")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--region", required=True, help="the console_region program")
    ap.add_argument("--cli", required=True, help="the ketenpoort program")
    ap.add_argument("--out", required=True, help="folder for the screenshots")
    a = ap.parse_args()
    shutil.rmtree(a.out, ignore_errors=True)
    os.makedirs(a.out)
    work = tempfile.mkdtemp(prefix="read_log_browser.")
    info = os.path.join(work, "info.json")
    region_dir = os.path.join(work, "region")
    log = open(os.path.join(a.out, "console_region.log"), "w")
    region = subprocess.Popen([a.region, "--dir", region_dir, "--info", info, "--answered"], stdout=log,
                              stderr=subprocess.STDOUT)
    check = Check()
    driver = None
    try:
        started = browser.wait_for_info(info, region, timeout=180)
        driver = browser.make_driver()
        driver.get(started["address"])
        run(driver, f"http://127.0.0.1:{started['port']}", a.cli,
            os.path.join(region_dir, "coordinator-store", "read-log"), a.out, check)
    except Exception:
        traceback.print_exc()
        check.failures.append("the test stopped: " + traceback.format_exc().splitlines()[-1])
        if driver is not None:
            try:
                browser.screenshot(driver, os.path.join(a.out, "zz-failure.png"))
            except Exception:
                pass
    finally:
        if driver is not None:
            driver.quit()
        region.send_signal(signal.SIGTERM)
        try:
            region.wait(timeout=60)
        except subprocess.TimeoutExpired:
            region.kill()
            check.failures.append("console_region did not stop on SIGTERM within 60 s")
        log.close()
        shutil.rmtree(work, ignore_errors=True)
    with open(os.path.join(a.out, "console_region.log")) as f:
        logged = f.read()
    for canary in (BSN, "Sanne de Vries"):
        check.that(canary not in logged, f"'{canary}' is in no log line")
    print(f"screenshots: {a.out}")
    if check.failures:
        print(f"{len(check.failures)} check(s) failed:\n  " + "\n  ".join(check.failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Screenshots of console pages, for looking at them while building.

  /usr/bin/python3 tests/console/shoot.py --info INFO.json --out DIR PATH...

INFO.json is console_region's --info file. Logs in with its one-time
address (once: run console_region anew, or pass --address with a newer
address it printed), then saves DIR/<name>.png for each PATH
("/", "/aanmeldingen", "/casus/VT-...").
"""

import argparse
import json
import os
import re

import browser


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--info", required=True)
    ap.add_argument("--address", help="a newer login address than the info file's")
    ap.add_argument("--out", required=True)
    ap.add_argument("paths", nargs="+")
    a = ap.parse_args()
    with open(a.info) as f:
        info = json.load(f)
    os.makedirs(a.out, exist_ok=True)
    driver = browser.make_driver()
    try:
        driver.get(a.address or info["address"])
        base = f"http://127.0.0.1:{info['port']}"
        for path in a.paths:
            driver.get(base + path)
            name = re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-") or "mijn-casussen"
            target = os.path.join(a.out, name + ".png")
            browser.screenshot(driver, target)
            print(target, driver.title)
    finally:
        driver.quit()


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""The privacy officer's report as a person sees it (issue 17 §1).

  /usr/bin/python3 tests/audit/report_browser_test.py --report-test BIN --out DIR

Runs audit_tests (BIN; its report tests) with KP_REPORT_SAMPLE_DIR so it writes its
rendered reports (a referral case with handovers and a stand-in, acute
cases, older deliveries completed from their decisions, flagged
disclosures, a dense case of 14 partners) and, with --region-test,
e2e_tests (its ReportE2eTest) with its reports on a real region's gateway log, opens each in Debian's headless
chromium, and checks what the eye would: the flow picture's labels and
nodes and the timeline's moment labels are measured with getBBox and no two
overlap; no disclosure row has an empty cell for purpose, legal basis,
phase, rules or policy version; the flagged disclosures come first. Keeps a
screenshot of each report in DIR.
"""

import argparse
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "console"))
import browser  # noqa: E402

# Boxes of every flow label, flow node and timeline label, per svg, in the
# svg's own user space.
MEASURE = """
const out = [];
document.querySelectorAll('svg').forEach((svg, i) => {
  const items = [];
  const add = (kind, el) => {
    const b = el.getBBox();
    items.push({kind: kind, text: el.textContent, x0: b.x, y0: b.y, x1: b.x + b.width, y1: b.y + b.height});
  };
  svg.querySelectorAll('text.flow-label').forEach(el => add('label', el));
  svg.querySelectorAll('g.flow-node').forEach(el => add('node', el));
  svg.querySelectorAll('text.moment-label').forEach(el => add('moment', el));
  out.push({svg: i, cls: svg.getAttribute('class') || '', items: items});
});
return out;
"""

# The disclosure tables: per row, the header name -> cell text.
DISCLOSURES = """
const rows = [];
document.querySelectorAll('table.disclosures').forEach(t => {
  const head = Array.from(t.rows[0].cells).map(c => c.textContent);
  Array.from(t.rows).slice(1).forEach(r => {
    if (r.classList.contains('why') || r.cells.length < head.length) return;
    const row = {flagged: r.classList.contains('flagged')};
    head.forEach((h, k) => { row[h] = r.cells[k].textContent.trim(); });
    rows.push(row);
  });
});
return rows;
"""


def overlaps(a, b):
    return a["x0"] < b["x1"] and b["x0"] < a["x1"] and a["y0"] < b["y1"] and b["y0"] < a["y1"]


def check_boxes(name, svgs, failures):
    labels = 0
    for s in svgs:
        items = s["items"]
        for i, a in enumerate(items):
            for b in items[i + 1:]:
                # Timeline labels with each other; flow labels with labels and nodes; nodes with nodes.
                if (a["kind"] == "moment") != (b["kind"] == "moment"):
                    continue
                if overlaps(a, b):
                    failures.append(f"{name}: svg {s['svg']}: {a['kind']} '{a['text']}' overlaps "
                                    f"{b['kind']} '{b['text']}'")
        labels += sum(1 for it in items if it["kind"] == "label")
    return labels


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--report-test", required=True)
    ap.add_argument("--region-test", help="e2e_tests (its ReportE2eTest): adds the reports on a real region's log")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    failures = []
    with tempfile.TemporaryDirectory() as samples:
        env = dict(os.environ, KP_REPORT_SAMPLE_DIR=samples)
        subprocess.run([a.report_test, "--gtest_brief=1",
                        "--gtest_filter=ReportTest.CaseStory*:ReportTest.AcuteWindow*:ReportTest.ReportHolds*:"
                        "DisclosureReportTest.*"], env=env, check=True, stdout=subprocess.DEVNULL)
        wanted = ["referral-case", "all", "older-delivery", "flagged", "dense-flow"]
        if a.region_test:
            source = os.environ.get("KP_SOURCE_DIR") or os.path.abspath(
                os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
            subprocess.run([a.region_test, "--gtest_brief=1", "--gtest_filter=ReportE2eTest.*"], env=dict(env, KP_SOURCE_DIR=source), check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wanted += ["region-case", "region-politie"]
        names = sorted(f[:-5] for f in os.listdir(samples) if f.endswith(".html"))
        for want in wanted:
            if want not in names:
                failures.append(f"audit_tests wrote no {want}.html")
        driver = browser.make_driver(width=1280, height=1000)
        try:
            for name in names:
                driver.get("file://" + os.path.join(samples, name + ".html"))
                svgs = driver.execute_script(MEASURE)
                labels = check_boxes(name, svgs, failures)
                flows = [s for s in svgs if s["cls"] == "flow"]
                if not flows and name != "many-cases":  # a report of over 100 cases draws none
                    failures.append(f"{name}: no flow picture")
                if name == "dense-flow":
                    nodes = sum(1 for s in flows for it in s["items"] if it["kind"] == "node")
                    if nodes != 14:
                        failures.append(f"dense-flow: {nodes} partner nodes, expected 14")
                    if labels < 40:
                        failures.append(f"dense-flow: only {labels} arrows labelled")
                rows = driver.execute_script(DISCLOSURES)
                for r in rows:
                    for col in ("purpose", "legal basis", "phase", "rules", "policy"):
                        if (name in ("older-delivery", "flagged", "dense-flow") or name.startswith("region")) \
                                and not r.get(col):
                            failures.append(f"{name}: disclosure #{r.get('#')} has an empty {col} cell")
                if name == "flagged":
                    order = [r["flagged"] for r in rows]
                    if order != sorted(order, reverse=True) or not any(order):
                        failures.append(f"flagged: flagged disclosures are not listed first: {order}")
                if "<script" in driver.page_source:
                    failures.append(f"{name}: the report holds a script")
                target = os.path.join(a.out, name + ".png")
                browser.screenshot(driver, target)
                print(target, driver.title)
        finally:
            driver.quit()
    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

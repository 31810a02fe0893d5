#!/usr/bin/env python3
"""Holds deploy/grafana/ketenpoort.json and deploy/prometheus/ketenpoort-alerts.yml
to the real promtool and to the code.

Usage: check_monitoring_files.py SOURCE_ROOT

  * every alert rule passes `promtool check rules`;
  * every query of the dashboard passes it too (as a recording rule, with
    the dashboard's $instance variable as ".*");
  * every ketenpoort_* metric a query or rule names is one the services
    expose (its name is in the C++ sources) and docs/operations.md lists.
Exit 0 when all hold; 1 with the problems listed otherwise.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

root = sys.argv[1]
problems = []

dashboard_path = os.path.join(root, "deploy/grafana/ketenpoort.json")
alerts_path = os.path.join(root, "deploy/prometheus/ketenpoort-alerts.yml")
with open(dashboard_path, encoding="utf-8") as f:
    dashboard = json.load(f)

exprs = []
for panel in dashboard.get("panels", []):
    for target in panel.get("targets", []):
        exprs.append((panel.get("title", "?"), target["expr"]))
if not exprs:
    problems.append("the dashboard has no queries")


def promtool_rules(path):
    r = subprocess.run(["promtool", "check", "rules", path], capture_output=True, text=True)
    return r.returncode, r.stdout + r.stderr


code, out = promtool_rules(alerts_path)
if code != 0:
    problems.append("promtool check rules " + alerts_path + ":\n" + out)

with tempfile.TemporaryDirectory() as tmp:
    rules = os.path.join(tmp, "dashboard-rules.yml")
    with open(rules, "w", encoding="utf-8") as f:
        f.write("groups:\n  - name: dashboard\n    rules:\n")
        for i, (_, expr) in enumerate(exprs):
            e = expr.replace("$instance", ".*")
            f.write(f"      - record: ketenpoort_dashboard:query{i}\n        expr: {json.dumps(e)}\n")
    code, out = promtool_rules(rules)
    if code != 0:
        problems.append("a dashboard query is not valid PromQL (promtool check rules):\n" + out)

with open(alerts_path, encoding="utf-8") as f:
    alert_text = f.read()
names = set()
for text in [e for _, e in exprs] + [alert_text]:
    for n in re.findall(r"\bketenpoort_[a-z_]+\b", text):
        n = re.sub(r"_(bucket|sum|count)$", "", n)
        if not n.startswith("ketenpoort_dashboard"):
            names.add(n)

sources = ""
for folder in ("gateway", "agent", "core"):
    for dirpath, _, files in os.walk(os.path.join(root, folder)):
        for name in files:
            if name.endswith((".cc", ".h")):
                with open(os.path.join(dirpath, name), encoding="utf-8", errors="replace") as f:
                    sources += f.read()
with open(os.path.join(root, "docs/operations.md"), encoding="utf-8") as f:
    docs = f.read()
for n in sorted(names):
    if '"' + n + '"' not in sources:
        problems.append(f"{n}: named by the dashboard or the alerts, but no service exposes it")
    if "`" + n + "`" not in docs:
        problems.append(f"{n}: not in the metrics table of docs/operations.md (Monitoring)")

if problems:
    print("\n".join(problems))
    sys.exit(1)
print(f"ok: {len(exprs)} dashboard queries and the alert rules pass promtool; {len(names)} metrics, all exposed and documented")

#!/usr/bin/python3
"""docs/console.md shows the console as the browser test saw it: every
picture it names is in docs/console/ and is one the browser test takes
(browser_test.py, shot("NAME")), and every picture in docs/console/ is named
by the guide. Refresh them with `ctest -R console_browser` and copy from
build/tests/console/screenshots/."""

import os
import re
import sys

root = sys.argv[1]
guide = open(os.path.join(root, "docs/console.md"), encoding="utf-8").read()
test = open(os.path.join(root, "tests/console/browser_test.py"), encoding="utf-8").read()
shown = set(re.findall(r"\]\(console/([a-z0-9-]+\.png)\)", guide))
taken = {name + ".png" for name in re.findall(r'shot\("([a-z0-9-]+)"\)', test)}
present = {f for f in os.listdir(os.path.join(root, "docs/console")) if f.endswith(".png")}
problems = []
problems += [f"docs/console.md shows {f}, which is not in docs/console/" for f in sorted(shown - present)]
problems += [f"docs/console.md shows {f}, which the browser test does not take" for f in sorted(shown - taken)]
problems += [f"docs/console/{f} is shown nowhere in docs/console.md" for f in sorted(present - shown)]
for p in problems:
    print(p)
print(f"{len(shown)} pictures, {len(problems)} problem(s)")
sys.exit(1 if problems else 0)

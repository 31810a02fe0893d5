#!/usr/bin/env python3
"""Holds the code to the dependency table of docs/architecture.md.

Usage: check_deps.py SOURCE_ROOT [--known-violations FILE]

Reads the two tables of the section "Who may include what" of
SOURCE_ROOT/docs/architecture.md (folder -> what it may include; library ->
its headers and CMake targets), then checks
  * every #include of every .h/.cc/.hpp/.cpp file under SOURCE_ROOT, and
  * every dependency of every kp_library/kp_binary/add_library and
    target_link_libraries in a CMakeLists.txt outside tests/,
and prints each one the table does not allow as
  file:line: folder X may not include Y (docs/architecture.md)
Build folders (those holding a CMakeCache.txt) and hidden folders are skipped.

A violation listed in the known-violations file (one per line:
"FILE DEPENDENCY -- why, and who removes it") is printed as a warning and does
not fail the run; a listed one that is no longer found is reported too, so the
list only shrinks.

Exit status: 0 allowed, 1 forbidden dependencies found, 2 the table or the
known-violations file could not be read.
"""

import fnmatch
import os
import re
import sys

DOC = "docs/architecture.md"
SECTION = "## Who may include what"
SOURCE_SUFFIXES = (".h", ".cc", ".hpp", ".cpp")
INCLUDE_RE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')
# Build settings, never a dependency.
IGNORED_TARGETS = {"kp_build_flags"}
LINK_SCOPES = {"PUBLIC", "PRIVATE", "INTERFACE"}


class TableError(Exception):
    pass


def split_row(line):
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    return cells


def names(cell):
    return [n.strip().strip("`").strip() for n in cell.split(",") if n.strip()]


def read_table(root):
    """Returns (rows: folder -> set of names, libraries: name -> (headers, targets))."""
    path = os.path.join(root, DOC)
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
    except OSError as e:
        raise TableError(f"{DOC}: cannot read it: {e.strerror}")
    start = next((i for i, l in enumerate(lines) if l.startswith(SECTION)), None)
    if start is None:
        raise TableError(f"{DOC}: no section '{SECTION}'")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))

    rows, libraries, row_lines = {}, {}, {}
    table = None
    for i in range(start + 1, end):
        line = lines[i]
        if not line.startswith("|"):
            table = None
            continue
        cells = split_row(line)
        if table is None:
            header = [c.lower() for c in cells]
            if header == ["folder", "may include"]:
                table = "folders"
            elif header == ["library", "headers", "cmake targets"]:
                table = "libraries"
            else:
                raise TableError(f"{DOC}:{i + 1}: a table this test does not know: {line.strip()}")
            continue
        if set("".join(cells)) <= set("-: "):
            continue  # the separator row
        if table == "folders":
            if len(cells) != 2:
                raise TableError(f"{DOC}:{i + 1}: a folder row needs 2 cells")
            folder = cells[0].strip("`").strip().rstrip("/")
            if folder in rows:
                raise TableError(f"{DOC}:{i + 1}: folder {folder} has two rows")
            rows[folder] = set(names(cells[1]))
            row_lines[folder] = i + 1
        else:
            if len(cells) != 3:
                raise TableError(f"{DOC}:{i + 1}: a library row needs 3 cells")
            name = cells[0].strip("`").strip()
            libraries[name] = (names(cells[1]), set(names(cells[2])))
    if not rows or not libraries:
        raise TableError(f"{DOC}: the section '{SECTION}' needs both tables")

    # Every name in a row must mean something: a folder (or a parent of rows,
    # like `core`) or a library.
    for folder, allowed in rows.items():
        for n in allowed:
            known = (n in libraries or n in rows
                     or any(r.startswith(n + "/") for r in rows))
            if not known:
                raise TableError(f"{DOC}:{row_lines[folder]}: folder {folder} lists '{n}', "
                                 "which is neither a folder nor a library of the tables")
    return rows, libraries


def owner(rows, relpath):
    """The longest folder row holding relpath (a file or folder path), or None."""
    best = None
    for folder in rows:
        if relpath == folder or relpath.startswith(folder + "/"):
            if best is None or len(folder) > len(best):
                best = folder
    return best


def allowed(rows, folder, dep):
    if dep == folder:
        return True
    return any(dep == n or dep.startswith(n + "/") for n in rows[folder])


def classify_header(rows, libraries, header):
    """Library or folder a header belongs to; None for a free (system) header."""
    for name, (patterns, _) in libraries.items():
        if any(fnmatch.fnmatchcase(header, p) for p in patterns):
            return name
    if "/" in header:
        return owner(rows, os.path.dirname(header))
    return None


def source_files(root):
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames
                             if not d.startswith(".")
                             and not os.path.exists(os.path.join(dirpath, d, "CMakeCache.txt")))
        for name in sorted(filenames):
            yield dirpath, name


class Report:
    def __init__(self):
        self.found = []   # (relfile, line, dep, text)
        self.files = 0
        self.includes = 0
        self.links = 0

    def forbid(self, relfile, line, dep, text):
        self.found.append((relfile, line, dep, text))


def check_includes(root, rows, libraries, report):
    for dirpath, name in source_files(root):
        if not name.endswith(SOURCE_SUFFIXES):
            continue
        rel = os.path.relpath(os.path.join(dirpath, name), root)
        if rel.startswith(".."):
            continue
        report.files += 1
        folder = owner(rows, os.path.dirname(rel))
        if folder is None:
            report.forbid(rel, 1, None,
                          f"{rel}:1: folder {os.path.dirname(rel) or '.'} is not in the table of "
                          f"{DOC}: add a row for it")
            continue
        with open(os.path.join(dirpath, name), encoding="utf-8", errors="replace") as f:
            for number, line in enumerate(f, 1):
                m = INCLUDE_RE.match(line)
                if not m:
                    continue
                report.includes += 1
                quote, header = m.groups()
                shown = f"<{header}>" if quote == "<" else f'"{header}"'
                dep = classify_header(rows, libraries, header)
                if dep is None:
                    if quote == '"':
                        report.forbid(rel, number, header,
                                      f"{rel}:{number}: {shown} is in no folder of the table "
                                      f"({DOC}); name a project header by its path from the source root")
                    continue
                if not allowed(rows, folder, dep):
                    report.forbid(rel, number, dep,
                                  f"{rel}:{number}: folder {folder} may not include {shown} ({dep}) ({DOC})")


CMAKE_CALL_RE = re.compile(r"\b(kp_library|kp_binary|add_library|target_link_libraries)\s*\(")


def cmake_calls(text):
    """Yields (command, [(token, line)]) for the commands this check reads."""
    # Comments out, keeping the line structure.
    text = re.sub(r"#[^\n]*", "", text)
    for m in CMAKE_CALL_RE.finditer(text):
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            i += 1
        body_start = m.end()
        tokens = []
        for t in re.finditer(r"[^\s()]+", text[body_start:i - 1]):
            line = text.count("\n", 0, body_start + t.start()) + 1
            tokens.append((t.group(0), line))
        yield m.group(1), tokens


def check_links(root, rows, libraries, report):
    external = {}
    for name, (_, targets) in libraries.items():
        for t in targets:
            external[t] = name
    lists = []
    for dirpath, name in source_files(root):
        if name != "CMakeLists.txt":
            continue
        reldir = os.path.relpath(dirpath, root)
        if reldir == "." or reldir == "tests" or reldir.startswith("tests/"):
            continue
        folder = owner(rows, reldir)
        if folder is None:
            continue  # its sources are reported already
        with open(os.path.join(dirpath, name), encoding="utf-8") as f:
            lists.append((os.path.join(reldir, name), folder, list(cmake_calls(f.read()))))

    project = {}
    for _, folder, calls in lists:
        for command, tokens in calls:
            if command in ("kp_library", "kp_binary", "add_library") and tokens:
                project[tokens[0][0]] = folder

    for rel, folder, calls in lists:
        for command, tokens in calls:
            if command == "target_link_libraries":
                deps = [t for t in tokens[1:] if t[0] not in LINK_SCOPES]
            elif command in ("kp_library", "kp_binary"):
                deps, taking = [], False
                for token in tokens[1:]:
                    if token[0] in ("SRCS", "DEPS", "PRIVATE_DEPS"):
                        taking = token[0] != "SRCS"
                    elif taking:
                        deps.append(token)
            else:
                continue
            for target, line in deps:
                if target in IGNORED_TARGETS or target.startswith(("$<", "-", "${")):
                    continue
                report.links += 1
                dep = project.get(target) or external.get(target)
                if dep is None:
                    report.forbid(rel, line, target,
                                  f"{rel}:{line}: folder {folder} links {target}, which no table of "
                                  f"{DOC} names: add its CMake target to the library table")
                elif not allowed(rows, folder, dep):
                    report.forbid(rel, line, dep,
                                  f"{rel}:{line}: folder {folder} may not link {target} ({dep}) ({DOC})")


def read_known(path):
    """{(file, dependency): reason} from the known-violations file."""
    known = {}
    if not path:
        return known
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            entry, sep, reason = line.partition(" -- ")
            parts = entry.split()
            if not sep or len(parts) != 2 or not reason.strip():
                raise TableError(f"{path}:{number}: expected 'FILE DEPENDENCY -- why, and who removes it'")
            known[(parts[0], parts[1])] = reason.strip()
    return known


def main(argv):
    args = argv[1:]
    known_path = None
    if "--known-violations" in args:
        i = args.index("--known-violations")
        if i + 1 >= len(args):
            print(__doc__, file=sys.stderr)
            return 2
        known_path = args[i + 1]
        del args[i:i + 2]
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    root = os.path.abspath(args[0])
    try:
        rows, libraries = read_table(root)
        known = read_known(known_path)
    except (TableError, OSError) as e:
        print(f"error: {e}")
        return 2

    report = Report()
    check_includes(root, rows, libraries, report)
    check_links(root, rows, libraries, report)

    failures, used = 0, set()
    for rel, _, dep, text in report.found:
        key = (rel, dep)
        if key in known:
            used.add(key)
            print(f"warning: {text} [known, being removed: {known[key]}]")
        else:
            failures += 1
            print(text)
    for key, reason in sorted(known.items()):
        if key not in used:
            print(f"warning: {key[0]} no longer depends on {key[1]}: remove that line from "
                  f"{os.path.basename(known_path)} ({reason})")
    print(f"dependency check: {report.files} source files, {report.includes} includes, "
          f"{report.links} link dependencies; {failures} forbidden, {len(used)} known and allowed "
          f"for now ({DOC})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

#!/usr/bin/env python3
"""Run Lasagne's own test suite on cgraph, through the ``theano`` alias, and tabulate it.

    python3 scripts/lasagne_suite.py                        # the whole suite
    python3 scripts/lasagne_suite.py lasagne/tests/layers/test_conv.py   # some files only
    python3 scripts/lasagne_suite.py --lasagne ~/src/Lasagne --timeout 600

Not part of CI: it needs the network once, to install pytest 7.x (Lasagne's conftest uses
py.path hooks that pytest 8 removed), pytest-timeout and mock into a virtual environment.
Everything happens in a scratch folder (``--scratch``, /tmp/cgraph-lasagne by default):

- ``lasagne/``: a copy of Lasagne, extracted with ``git archive`` from the mirror (or copied
  from ``--lasagne PATH``), with one patch Lasagne needs on numpy >= 1.23 (test_conv.py
  indexes arrays with a list of slices, which numpy now refuses; the list becomes a tuple);
- ``venv/``: the environment (sees the system's numpy, scipy, cffi, jinja2); cgraph is
  installed into it from this checkout on every run, unless ``--no-install``;
- ``cache/``: cgraph's compile cache (``--cache-dir``), kept between runs, so a second run of
  the suite compiles nothing;
- ``pytest.log``, ``junit.xml`` and ``failures.txt``: pytest's output, the raw results and
  the failing tests with their errors.

The suite is Lasagne's tests (``lasagne/tests``, 1361 tests, ``--runslow`` not given; with
``--doctests`` also the doctests of its modules, as its setup.cfg runs them), without its
coverage and pep8 options, with ``theano`` resolved to cgraph by ``-p cgraph.theano_compat``
and a per-test timeout (``--timeout``, seconds). It prints passed / failed / errors / skipped
per file, the totals and the wall time.
"""
import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree

CGRAPH_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LASAGNE_MIRROR = "/work/.mirror/Lasagne+Lasagne/repo"
TEST_REQUIREMENTS = ["pytest>=7,<8", "pytest-timeout", "mock"]

# (file, pattern, replacement, expected number of replacements)
PATCHES = [
    ("lasagne/tests/layers/test_conv.py", r"output\[slices\]", "output[tuple(slices)]", 3),
    ("lasagne/tests/layers/test_conv.py",
     r"output\[\[slice\(None, None, factor\) for factor in factors\]\]",
     "output[tuple(slice(None, None, factor) for factor in factors)]", 1),
]


def run(command, **kwargs):
    print("+", " ".join(command), flush=True)
    return subprocess.run(command, check=True, **kwargs)


def prepare_lasagne(source: str | None, destination: str) -> None:
    """A fresh copy of Lasagne in ``destination``, patched for today's numpy."""
    if os.path.exists(destination):
        shutil.rmtree(destination)
    if source:
        shutil.copytree(source, destination, ignore=shutil.ignore_patterns(".git"))
    else:
        os.makedirs(destination)
        archive = subprocess.run(["git", "--git-dir", LASAGNE_MIRROR, "archive", "HEAD"],
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", destination], input=archive, check=True)
    for relative, pattern, replacement, expected in PATCHES:
        path = os.path.join(destination, relative)
        with open(path) as f:
            text = f.read()
        text, count = re.subn(pattern, replacement, text)
        if count != expected:
            raise SystemExit(f"patching {relative}: expected {expected} matches of "
                             f"{pattern!r}, found {count}; has Lasagne changed?")
        with open(path, "w") as f:
            f.write(text)


def prepare_venv(venv: str, install_cgraph: bool) -> str:
    """The environment's python: pytest 7.x, pytest-timeout, mock, and this cgraph."""
    python = os.path.join(venv, "bin", "python")
    if not os.path.exists(python):
        run([sys.executable, "-m", "venv", "--system-site-packages", venv])
        run([python, "-m", "pip", "install", "-q", *TEST_REQUIREMENTS])
    if install_cgraph:
        run([python, "-m", "pip", "install", "-q", "--no-deps",
             "--force-reinstall", CGRAPH_ROOT])
    return python


def file_of(case: ElementTree.Element) -> str:
    """The source file a junit test case comes from (a test file, or a module's doctests)."""
    if case.get("file"):
        return case.get("file")
    classname = case.get("classname", "")
    return classname.replace(".", "/") + ".py"


def tabulate(junit_path: str, failures_path: str) -> tuple[dict, list]:
    """Counts per file ({file: Counter}) and the failing tests (file, name, kind, message)."""
    counts = collections.defaultdict(collections.Counter)
    failing = []
    for case in ElementTree.parse(junit_path).getroot().iter("testcase"):
        path = file_of(case)
        outcome = "passed"
        for kind in ("failure", "error", "skipped"):
            element = case.find(kind)
            if element is not None:
                outcome = {"failure": "failed", "error": "errors"}.get(kind, kind)
                if kind != "skipped":
                    failing.append((path, case.get("name"), outcome,
                                    element.get("message", ""), element.text or ""))
                break
        counts[path][outcome] += 1
    with open(failures_path, "w") as f:
        for path, name, outcome, message, text in failing:
            f.write(f"=== {outcome}: {path}::{name}\n{message}\n{text}\n\n")
    return counts, failing


def print_table(counts: dict, wall: float, markdown: bool) -> str:
    columns = ("passed", "failed", "errors", "skipped")
    total = collections.Counter()
    rows = []
    for path in sorted(counts):
        total.update(counts[path])
        rows.append((path, *(counts[path][c] for c in columns)))
    rows.append(("total", *(total[c] for c in columns)))
    if markdown:
        lines = ["| file | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
        lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    else:
        width = max(len(r[0]) for r in rows)
        lines = [f"{'file':<{width}} " + " ".join(f"{c:>8}" for c in columns)]
        lines += [f"{row[0]:<{width}} " + " ".join(f"{v:>8}" for v in row[1:]) for row in rows]
    lines.append(f"wall time: {wall:.0f} s")
    text = "\n".join(lines)
    print(text)
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("tests", nargs="*", help="test files or node ids, relative to the "
                        "Lasagne checkout (default: lasagne/tests, the whole suite)")
    parser.add_argument("--doctests", action="store_true",
                        help="also run the doctests of Lasagne's modules (as its setup.cfg "
                        "does; several expect numpy < 2's reprs, 1050 rather than np.int64(1050))")
    parser.add_argument("--lasagne", help="a Lasagne checkout (default: the mirror's HEAD)")
    parser.add_argument("--scratch", default="/tmp/cgraph-lasagne", help="scratch folder")
    parser.add_argument("--cache-dir", help="cgraph's compile cache (default: SCRATCH/cache)")
    parser.add_argument("--timeout", type=int, default=300, help="seconds per test")
    parser.add_argument("--keep-copy", action="store_true",
                        help="reuse the Lasagne copy already in the scratch folder")
    parser.add_argument("--no-install", action="store_true",
                        help="do not reinstall cgraph into the environment")
    parser.add_argument("--markdown", action="store_true", help="print the table as markdown")
    parser.add_argument("--pytest-args", default="", help="more arguments for pytest")
    args = parser.parse_args()

    scratch = os.path.abspath(args.scratch)
    os.makedirs(scratch, exist_ok=True)
    lasagne = os.path.join(scratch, "lasagne")
    if not (args.keep_copy and os.path.isdir(lasagne)):
        prepare_lasagne(args.lasagne, lasagne)
    python = prepare_venv(os.path.join(scratch, "venv"), not args.no_install)
    cache = os.path.abspath(args.cache_dir or os.path.join(scratch, "cache"))
    junit = os.path.join(scratch, "junit.xml")
    # only the plugins named here: the system's own (pytest-benchmark wants pytest 8) stay out
    env = dict(os.environ, CGRAPH_CACHE_DIR=cache, PYTHONDONTWRITEBYTECODE="1",
               PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    env.pop("PYTHONPATH", None)   # the installed cgraph, not a checkout on the path
    command = [python, "-m", "pytest", "-p", "cgraph.theano_compat", "-p", "pytest_timeout",
               "-o", "addopts=",
               "-o", "junit_family=xunit1", "-p", "no:cacheprovider",
               f"--timeout={args.timeout}", f"--junitxml={junit}", "-q", "-rN",
               *(["--doctest-modules"] if args.doctests else []), *args.pytest_args.split(),
               *(args.tests or (["lasagne/"] if args.doctests else ["lasagne/tests/"]))]
    print(f"cgraph cache: {cache}", flush=True)
    start = time.perf_counter()
    print("+", " ".join(command), flush=True)
    if os.path.exists(junit):
        os.remove(junit)
    log = os.path.join(scratch, "pytest.log")
    print(f"pytest's output: {log}", flush=True)
    with open(log, "w") as out:
        subprocess.run(command, cwd=lasagne, env=env, stdout=out, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - start
    if not os.path.exists(junit):
        raise SystemExit("pytest wrote no results; run its command above by hand to see why")
    counts, failing = tabulate(junit, os.path.join(scratch, "failures.txt"))
    print_table(counts, wall, args.markdown)
    if failing:
        print(f"{len(failing)} failing tests, with their errors: "
              f"{os.path.join(scratch, 'failures.txt')}")


if __name__ == "__main__":
    main()

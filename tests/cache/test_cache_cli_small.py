"""The command line's small promises: `python -m cgraph cache list | head` ends quietly, and
the `cgraph-cache` console script takes the same commands without the word `cache`."""
import os
import subprocess
import sys
import tomllib

from cgraph import cache

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _fake_entries(root, n):
    """``n`` entry folders (empty: `list` shows them with '?' fields), enough output to fill
    a pipe many times over."""
    base = os.path.join(root, cache.FORMAT_VERSION, sys.implementation.cache_tag)
    for k in range(n):
        key = f"{k:064x}"
        os.makedirs(os.path.join(base, key[:2], key), mode=0o700)
    os.chmod(root, 0o700)


def test_list_into_a_closed_pipe_ends_quietly(tmp_path):
    root = str(tmp_path / "cache")
    _fake_entries(root, 3000)
    env = dict(os.environ, PYTHONPATH=REPO, CGRAPH_CACHE_DIR=root)
    proc = subprocess.run(["sh", "-c", f"'{sys.executable}' -m cgraph cache list | head -2"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.stdout.startswith("3000 entries in ")
    assert proc.stderr == ""


def test_the_console_script_takes_commands_without_the_word_cache(tmp_path):
    with open(os.path.join(REPO, "pyproject.toml"), "rb") as f:
        target = tomllib.load(f)["project"]["scripts"]["cgraph-cache"]
    module, function = target.split(":")
    # what the installed script does: import the target and exit with what it returns
    program = (f"import sys; from {module} import {function} as main; "
               f"sys.argv[0] = 'cgraph-cache'; sys.exit(main())")
    root = str(tmp_path / "cache")
    env = dict(os.environ, PYTHONPATH=REPO, CGRAPH_CACHE_DIR=root)
    path = subprocess.run([sys.executable, "-c", program, "path"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert path.returncode == 0 and path.stdout.strip() == root, path.stderr
    listing = subprocess.run([sys.executable, "-c", program, "list"], env=env,
                             capture_output=True, text=True, timeout=120)
    assert listing.returncode == 0 and listing.stdout.startswith("0 entries in "), \
        listing.stderr

"""Functions compiled by threads of one program compile at the same time (every core used)."""
import json
import os
import subprocess
import sys
import textwrap

import pytest

from cache_helpers import logging_compiler_env

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

pytestmark = pytest.mark.slow

# Run by the compiler before gcc: for a graph module, it says it started and waits (a minute
# at most) until another module's compile has started too, then records how many it saw: 2 in
# every record means the two compiles overlapped, without measuring any time. (A hook of the
# run-wide logging compiler: its runtime library and extension are built once per run.)
HOOK = textwrap.dedent("""\
    case "$*" in
      *_cgraph_mod.so*)
        touch "{folder}/started.$$"
        i=0
        while [ "$(ls "{folder}" | grep -c '^started')" -lt 2 ] && [ $i -lt 600 ]; do
          sleep 0.1
          i=$((i + 1))
        done
        ls "{folder}" | grep -c '^started' > "{folder}/seen.$$"
        ;;
    esac
    """)

PROGRAM = textwrap.dedent("""\
    import json, threading
    import numpy as np
    import cgraph, cgraph.tensor as T
    x = T.dvector("x")
    graphs = [T.exp(x) * 3.0, T.tanh(x) - 1.0]
    results = [None, None]
    def build(k):
        f = cgraph.function([x], graphs[k], name=f"threaded_{k}")
        results[k] = f(np.zeros(3)).tolist()
    threads = [threading.Thread(target=build, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps(results))
    """)


def test_two_functions_from_threads_compile_at_once(tmp_path):
    folder = tmp_path / "compiles"
    folder.mkdir()
    hook = tmp_path / "wait-for-another-compile.sh"
    hook.write_text(HOOK.format(folder=folder))
    env = dict(os.environ, PYTHONPATH=REPO, CGRAPH_CACHE_DIR=str(tmp_path / "cache"),
               **logging_compiler_env(os.devnull, str(hook)))
    proc = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True,
                          env=env, cwd=REPO, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == [[3.0] * 3, [-1.0] * 3]
    seen = [int((folder / name).read_text()) for name in os.listdir(folder)
            if name.startswith("seen")]
    assert seen == [2, 2], seen     # each module's compile saw the other one under way

"""Functions compiled by threads of one program compile at the same time (every core used)."""
import json
import os
import stat
import subprocess
import sys
import textwrap

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

pytestmark = pytest.mark.slow

# A compiler that, for a graph module, says it started and waits (a minute at most) until
# another module's compile has started too, then records how many it saw: 2 in every record
# means the two compiles overlapped, without measuring any time.
WRAPPER = textwrap.dedent("""\
    #!/bin/sh
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
    exec gcc "$@"
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
    wrapper = tmp_path / "waiting-gcc"
    wrapper.write_text(WRAPPER.format(folder=folder))
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    env = dict(os.environ, PYTHONPATH=REPO, CGRAPH_CACHE_DIR=str(tmp_path / "cache"),
               CGRAPH_FLAGS=f"cc={wrapper}")
    proc = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True,
                          env=env, cwd=REPO, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == [[3.0] * 3, [-1.0] * 3]
    seen = [int((folder / name).read_text()) for name in os.listdir(folder)
            if name.startswith("seen")]
    assert seen == [2, 2], seen     # each module's compile saw the other one under way

"""Housekeeping is safe beside live processes: `cache clear`, `prune` and `verify` run in a
loop while processes compile (rendering templates, publishing modules and records) and
every process gets the right result, with no traceback; the housekeeping commands never
fail either. Sized for a small machine (a few processes, a few rounds); before the fix a
compiling process died in the template cache's dump_bytecode (FileNotFoundError) about one
round in six."""
import os
import subprocess
import sys
import textwrap

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROCESSES, ROUNDS = 3, 4

HOUSEKEEPER = textwrap.dedent("""
    import os, sys, traceback
    from cgraph.__main__ import main
    stop, failures = sys.argv[1], sys.argv[2]
    done = 0
    while not os.path.exists(stop) or done < 3:
        for command in (["clear"], ["prune", "--max-size", "0"], ["verify"]):
            try:
                code = main(["cache", *command])
            except BaseException:
                code = traceback.format_exc()
            if code != 0:
                with open(failures, "a") as f:
                    f.write(f"{command}: {code}\\n")
        done += 1
    print(done)
""")

WORKER = textwrap.dedent("""
    import sys
    import numpy as np
    import cgraph, cgraph.tensor as T
    a = float(sys.argv[1])
    x = T.dvector("x")
    f = cgraph.function([x], [T.tanh(x) * a, (x + a).sum()])
    got = f(np.array([0.5, 1.0]))
    want = [np.tanh(np.array([0.5, 1.0])) * a, np.array(1.5 + 2 * a)]
    assert all(np.allclose(g, w, rtol=1e-12, atol=0) for g, w in zip(got, want)), (got, want)
    print("ok")
""")


@pytest.mark.slow   # a program in another process: 35 s on 2 busy cores
def test_clear_prune_verify_beside_compiling_processes(tmp_path):
    env = dict(os.environ, PYTHONPATH=REPO, CGRAPH_CACHE_DIR=str(tmp_path / "cache"))
    stop, failures = tmp_path / "stop", tmp_path / "failures"
    keeper = subprocess.Popen([sys.executable, "-c", HOUSEKEEPER, str(stop), str(failures)],
                              env=env, cwd=REPO, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    problems = []
    try:
        for round_ in range(ROUNDS):
            workers = [subprocess.Popen(
                [sys.executable, "-c", WORKER, str(1.0 + round_ + k / 8)], env=env, cwd=REPO,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for k in range(PROCESSES)]
            for w in workers:
                out, err = w.communicate(timeout=600)
                if w.returncode != 0 or out.strip() != "ok" or "Traceback" in err:
                    problems.append((round_, w.returncode, err[-2000:]))
    finally:
        stop.touch()
        out, err = keeper.communicate(timeout=600)
    assert problems == []
    assert keeper.returncode == 0, err
    assert not failures.exists(), failures.read_text()
    assert int(out.split()[-1]) >= 3     # the housekeeping really ran beside the builds

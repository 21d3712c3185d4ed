"""Ctrl-C ends a long scan: the loop notices SIGINT between steps, the call raises
KeyboardInterrupt soon after, and every shared variable is as before the call (through the C
call path and through the Python path)."""
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PROGRAM = textwrap.dedent("""
    import signal, sys
    # pytest-xdist's workers ignore SIGINT and a child inherits that: Ctrl-C as in a shell
    signal.signal(signal.SIGINT, signal.default_int_handler)
    import numpy as np
    import cgraph, cgraph.tensor as T
    n = T.lscalar("n")
    W = cgraph.shared(np.arange(3.0), name="W")
    out, _ = cgraph.scan(lambda c: c * 0.5 + 1.0, outputs_info=T.constant(0.0), n_steps=n)
    f = cgraph.function([n], out[-1], updates=[(W, W + out[-1])])
    # the C call path takes a 0-d array; a Python int takes the Python path
    steps = (lambda k: np.array(k)) if sys.argv[1] == "c" else int
    f(steps(3))
    print("ready", flush=True)
    try:
        f(steps(2 ** 50))
        print("finished", flush=True)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
    print(W.get_value().tolist(), flush=True)
    print(float(f(steps(2))), flush=True)    # and it still works
""")


@pytest.mark.parametrize("path", ["c", "py"])
@pytest.mark.slow   # a program in another process: 120 s on 2 busy cores
def test_ctrl_c_ends_a_long_scan_and_changes_nothing(path):
    env = dict(os.environ, PYTHONPATH=REPO, PYTHONFAULTHANDLER="1")
    proc = subprocess.Popen([sys.executable, "-c", PROGRAM, path], env=env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watchdog = threading.Timer(120, proc.kill)    # a loop deaf to SIGINT runs for days
    watchdog.start()
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.5)                       # well inside the 2**50-step loop
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        line = proc.stdout.readline().strip()
        latency = time.monotonic() - sent
        out = proc.stdout.read()      # (not communicate(): readline() may hold some of it)
        err = proc.stderr.read()
        proc.wait(60)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
    assert line == "interrupted", err
    print(f"SIGINT to KeyboardInterrupt: {latency * 1e3:.1f} ms")
    assert latency < 5.0                  # ~ms when the machine is idle; generous when loaded
    lines = out.splitlines()
    assert len(lines) == 2, (out, err, proc.returncode)
    assert lines[0] == str([1.75, 2.75, 3.75])   # 1.75: the first call's update only
    assert float(lines[1]) == 1.5 and proc.returncode == 0, err

"""Ctrl-C ends a long node (a scan, elementwise loops, reductions, conv, pool, random
fills): the loop notices SIGINT between steps or blocks, the call raises KeyboardInterrupt
soon after, and every shared variable is as before the call (through the C call path and
through the Python path)."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Long nodes: each runs some seconds in the second call. The program prints
# "ready", then "interrupted" or "finished", then what the shared variables hold.
KINDS_PROGRAM = textwrap.dedent("""
    import json, signal, sys, threading
    # pytest-xdist's workers ignore SIGINT and a child inherits that: Ctrl-C as in a shell
    signal.signal(signal.SIGINT, signal.default_int_handler)
    import numpy as np
    import cgraph, cgraph.tensor as T
    from cgraph.tensor.conv import conv2d
    from cgraph.tensor.signal.pool import pool_2d
    SCALES = json.loads(sys.argv[2])
    def one(kind):
        W = cgraph.shared(np.arange(3.0), name="W")
        V = cgraph.shared(np.linspace(0, 1, 10 ** 6), name="V")
        def heavy(v):
            return T.tanh(T.sin(v) ** 2.5 + T.cos(v) ** 1.5)
        def deep(v):             # elementwise (no pow: it may fail), in place: ~300 ns each
            for _ in range(4):
                v = T.tanh(T.sin(v) * 0.9 + T.cos(v) * 0.1)
            return v
        def vector(scale):
            return np.linspace(0, 1, scale * 10 ** 6)
        x, big, updates = T.vector("x"), vector, [(W, W + 1)]
        if kind in ("elemwise", "thread"):
            out = heavy(x)
        elif kind == "openmp":       # deep() cannot fail: its loop runs on the OpenMP threads
            out = deep(x)
        elif kind == "reduction":
            out = heavy(x).sum()
        elif kind == "reduction_rows":   # the reduced axis first: whole rows folded at a time
            x = T.matrix("x")
            out = heavy(x).sum(axis=0)
            big = lambda scale: vector(scale).reshape((-1, 1000))
        elif kind == "conv":
            x = T.tensor4("x")
            out = conv2d(x, cgraph.shared(np.ones((64, 16, 7, 7)) / 700, name="w"),
                         border_mode="full")
            big = lambda scale: np.ones((scale, 16, 96, 96))
        elif kind == "pool":
            x = T.tensor4("x")
            out = pool_2d(x, ws=(9, 9), stride=(1, 1), ignore_border=True,
                          mode="average_exc_pad")
            big = lambda scale: np.ones((scale, 64, 256, 256))
        elif kind == "random":       # a Philox fill (the stream's state is a shared variable)
            from cgraph.tensor.shared_randomstreams import RandomStreams
            srng = RandomStreams(seed=1)
            x = T.lscalar("x")
            out = srng.normal((x,))
            big = lambda scale: np.array(scale * 10 ** 6)
        elif kind == "inplace":      # V's new value written into its own buffer
            out, updates = x.sum(), [(V, deep(V)), (W, W + 1)]
        f = cgraph.function([x], out, updates=updates)
        v = T.vector("v")
        fresh = cgraph.function([v], deep(v))      # V's update, computed into a new array
        f(big(1))
        scale = SCALES[kind]
        if kind == "inplace":
            V.set_value(vector(scale))
        before, after = V.get_value(), fresh(V.get_value())
        argument = vector(1) if kind == "inplace" else big(scale)
        states = ([state.get_value() for state, _ in srng.state_updates] if kind == "random"
                  else [])
        print("ready", flush=True)
        said, done = [], threading.Event()
        def call():
            try:
                f(argument)
                said.append("finished")
            except KeyboardInterrupt:
                said.append("interrupted")
            done.set()
        if kind == "thread":        # the call in another thread; the main thread waits for it
            worker = threading.Thread(target=call)
            worker.start()
            try:
                done.wait()
                said.insert(0, "main: finished")
            except KeyboardInterrupt:
                # (not join(): after a KeyboardInterrupt in it, join() may return at once)
                done.wait()
                said.insert(0, "main: interrupted")
            worker.join()
        else:
            call()
        print(" ".join(said), flush=True)
        print(W.get_value().tolist(), flush=True)
        value = V.get_value()
        # (written in place, the last bit of some elements differs from a fresh buffer's:
        # the buffers' alignment; a half-done update would leave old values, far from the
        # new)
        print("V: " + ("as before" if np.array_equal(value, before) else
                       "updated" if np.allclose(value, after, rtol=1e-12, atol=0) else
                       "partly updated"), flush=True)
        print("random states: " + ("as before" if all(
            np.array_equal(state.get_value(), old)
            for (state, _), old in zip(srng.state_updates, states)) else "changed")
            if kind == "random" else "no random states", flush=True)
        f(big(1))                    # and it still works
        print(W.get_value().tolist(), flush=True)

    for kind in sys.argv[1].split(","):
        one(kind)
""")

# the scale of the long call's input: some seconds of work on an idle core
SCALES = {"elemwise": 30, "reduction": 30, "reduction_rows": 30, "conv": 48, "pool": 12,
          "inplace": 10, "thread": 30, "openmp": 10, "random": 60}


def run_interrupted(kinds, **environ):
    """Run KINDS_PROGRAM over ``kinds`` in one process (one interpreter start and cgraph
    import for all), SIGINT 0.5 s into each long call; {kind: (latency, lines after it)}."""
    env = dict(os.environ, PYTHONPATH=REPO, PYTHONFAULTHANDLER="1", **environ)
    proc = subprocess.Popen([sys.executable, "-c", KINDS_PROGRAM, ",".join(kinds),
                             json.dumps(SCALES)],
                            env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    watchdog = threading.Timer(300 * len(kinds), proc.kill)
    watchdog.start()
    results = {}
    try:
        for kind in kinds:
            ready = proc.stdout.readline().strip()
            if ready != "ready":
                proc.kill()
                raise AssertionError(f"{kind}: {ready!r}\n{proc.stderr.read()}")
            time.sleep(0.5)
            sent = time.monotonic()
            proc.send_signal(signal.SIGINT)
            line = proc.stdout.readline().strip()
            latency = time.monotonic() - sent
            results[kind] = latency, [line] + [proc.stdout.readline().strip()
                                               for _ in range(4)]
            print(f"{kind}: SIGINT to KeyboardInterrupt: {latency * 1e3:.1f} ms")
        err = proc.stderr.read()
        proc.wait(60)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0 and "Traceback" not in err, err
    return results


LONG_NODES = ["elemwise", "reduction", "reduction_rows", "conv", "pool", "random"]


@pytest.fixture(scope="module")
def interrupted():
    """The long nodes, the in-place update and the call in another thread, interrupted in
    one program."""
    return run_interrupted(LONG_NODES + ["inplace", "thread"])


@pytest.mark.parametrize("kind", LONG_NODES)
@pytest.mark.slow   # a program in another process, with calls of some seconds
@pytest.mark.xdist_group("interrupted")     # (the program runs once, for all of them)
def test_ctrl_c_ends_a_long_node_and_changes_nothing(interrupted, kind):
    latency, lines = interrupted[kind]
    assert lines[0] == "interrupted"
    assert latency < 5.0        # ~ms when the machine is idle (the call takes ~seconds)
    assert lines[1] == str([1.0, 2.0, 3.0])      # the first call's update only
    assert lines[2] == "V: as before"
    assert lines[3] == ("random states: as before" if kind == "random" else
                        "no random states")
    assert lines[4] == str([2.0, 3.0, 4.0])


@pytest.mark.slow
@pytest.mark.xdist_group("interrupted")
def test_ctrl_c_during_an_in_place_update_lets_it_complete(interrupted):
    # V's new value is written into its own buffer: stopping it halfway would leave V
    # half old, half new. The call runs to its end and raises KeyboardInterrupt after.
    _, lines = interrupted["inplace"]
    assert lines[0] == "interrupted"
    assert lines[1:] == [str([2.0, 3.0, 4.0]), "V: updated", "no random states",
                         str([3.0, 4.0, 5.0])]


@pytest.mark.slow
@pytest.mark.xdist_group("interrupted")
def test_ctrl_c_during_a_call_in_another_thread(interrupted):
    # Python raises KeyboardInterrupt in the main thread (here waiting in join()); the call
    # running in the worker thread stops too, raising KeyboardInterrupt there, and nothing
    # is written
    latency, lines = interrupted["thread"]
    assert lines[0] == "main: interrupted interrupted"
    assert latency < 5.0
    assert lines[1:] == [str([1.0, 2.0, 3.0]), "V: as before", "no random states",
                         str([2.0, 3.0, 4.0])]


@pytest.mark.slow
def test_ctrl_c_ends_a_loop_running_on_openmp_threads():
    # the worker threads poll the count too (a volatile read); the blocks left are skipped
    [(latency, lines)] = run_interrupted(["openmp"], CGRAPH_FLAGS="omp_threads=2").values()
    assert lines[0] == "interrupted"
    assert latency < 5.0
    assert lines[1:] == [str([1.0, 2.0, 3.0]), "V: as before", "no random states",
                         str([2.0, 3.0, 4.0])]


@pytest.mark.parametrize("path", ["c", "py"])
def test_ctrl_c_ends_a_long_scan_in_this_process(path):
    """A SIGINT to this process 0.3 s into a long scan (sent by a child: the Python path
    holds the GIL, so a timer thread here would not run) ends it between steps through
    the runtime's cg_interrupted: the call raises KeyboardInterrupt, the shared variable
    keeps its value (a call that ran to its end would have updated it) and the function
    still works. Through the C call path (a 0-d array) and the Python path (a Python int).
    (Was a program in another process per path, 120 s budget each: the long nodes' programs
    above still take the shell's Ctrl-C from outside.)"""
    import numpy as np
    import cgraph
    import cgraph.tensor as T
    n = T.lscalar("n")
    W = cgraph.shared(np.arange(3.0), name="W")
    out, _ = cgraph.scan(lambda c: c * 0.5 + 1.0, outputs_info=T.constant(0.0), n_steps=n)
    f = cgraph.function([n], out[-1], updates=[(W, W + out[-1])])
    steps = np.array if path == "c" else int
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # (xdist ignores it)
    try:
        # a call of the C path chains the counter before that handler again (at most every
        # 10 ms; a Python-path call at every call)
        time.sleep(0.02)
        assert float(f(np.array(3))) == 1.75
        killer = subprocess.Popen(["sh", "-c", f"sleep 0.3; kill -INT {os.getpid()}"])
        interrupted = False
        try:
            f(steps(2 ** 26))       # seconds if it were not stopped
            killer.wait()           # (then the signal comes here)
        except KeyboardInterrupt:
            interrupted = True
        killer.wait()
    finally:
        signal.signal(signal.SIGINT, previous)
    assert interrupted
    assert W.get_value().tolist() == [1.75, 2.75, 3.75]     # the first call's update only
    assert float(f(steps(2))) == 1.5


@pytest.mark.parametrize("path", ["c", "py", "profiled"])
def test_ctrl_c_reaches_a_handler_installed_after_compiling(path):
    """The user installs a handler of their own with signal.signal() after compiling (which
    takes SIGINT from the counter chained before Python's): the next call, through the C
    path, the Python path (a Python int) or a profiled function (the Python path only),
    chains the counter again, so a Ctrl-C during it stops the scan between steps and reaches
    the handler in force, once. The handler does not raise: the call still fails with
    KeyboardInterrupt, nothing is updated, the handler stays the user's, and the function
    still works."""
    import numpy as np
    import cgraph
    import cgraph.tensor as T
    n = T.lscalar("n")
    W = cgraph.shared(np.arange(3.0), name="W")
    out, _ = cgraph.scan(lambda c: c * 0.5 + 1.0, outputs_info=T.constant(0.0), n_steps=n)
    f = cgraph.function([n], out[-1], updates=[(W, W + out[-1])],
                        profile=path == "profiled")
    assert float(f(np.array(3))) == 1.75      # the counter chained by a first call
    seen = []

    def handler(signum, frame):
        seen.append(signum)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        if path == "c":
            time.sleep(0.02)    # (the C path chains again at most every 10 ms)
        steps = int if path == "py" else np.array
        killer = subprocess.Popen(["sh", "-c", f"sleep 0.3; kill -INT {os.getpid()}"])
        interrupted = False
        try:
            f(steps(2 ** 26))       # seconds if it were not stopped
        except KeyboardInterrupt:
            interrupted = True
        killer.wait()
        assert signal.getsignal(signal.SIGINT) is handler
    finally:
        signal.signal(signal.SIGINT, previous)
    assert interrupted
    assert seen == [signal.SIGINT]
    assert W.get_value().tolist() == [1.75, 2.75, 3.75]     # the first call's update only
    assert float(f(steps(2))) == 1.5

"""A call on a few elements (W5: x + 1 on one): the runtime's fixed cost.

The runtime keeps a thread's freed 64-byte output block (cg_free) for its next small output,
pads a loop's tail by filling it with the tail's first element, and keeps its thread-locals
in the initial-exec TLS model. These tests check what that could change: values, errors,
outputs' ownership across calls and threads, and that the blocks are reused.
"""
import gc
import json
import os
import shutil
import subprocess
import sys
import threading

import numpy as np
import pytest

import cgraph
import cgraph.tensor as T
from cgraph import runtime_library

from util import run_in_threads


@pytest.fixture(scope="module")
def add_one():
    x = T.dvector("x")
    return cgraph.function([x], x + 1.0, name="add_one")


def test_dropped_one_element_outputs_are_reused_not_allocated(add_one):
    """Each output is dropped before the next call: its block serves the next output, so
    the calls take nothing from the system allocator (before: one malloc and free each)."""
    runner = add_one._runner
    x = np.ones(1)
    for _ in range(3):
        add_one(x)
    before = runner.allocation_count()
    for k in range(50):
        v = np.array([float(k)])
        np.testing.assert_array_equal(add_one(v), v + 1.0)
    assert runner.allocation_count() - before <= 1


def test_held_outputs_keep_their_own_values(add_one):
    """Outputs held across calls are distinct buffers; dropped in any order, the blocks
    given back then serve later calls with the right values."""
    held = [add_one(np.array([float(k)])) for k in range(40)]
    assert len({a.ctypes.data for a in held}) == len(held)
    for k, a in enumerate(held):
        assert a[0] == k + 1.0 and a.flags.owndata is False and a.base is not None
    for k in list(range(0, 40, 3)) + list(range(1, 40, 3)):
        held[k] = None
    gc.collect()
    fresh = [add_one(np.array([-float(k)])) for k in range(20)]
    for k, a in enumerate(held):
        if a is not None:
            assert a[0] == k + 1.0
    for k, a in enumerate(fresh):
        assert a[0] == 1.0 - k


def test_views_keep_a_given_back_block_alive(add_one):
    """A view of an output holds its buffer: the block is not given back (nor reused by
    the next call) while the view lives."""
    view = add_one(np.array([5.0]))[:]
    others = [add_one(np.array([float(k)])) for k in range(5)]
    assert view[0] == 6.0
    assert all(o.ctypes.data != view.ctypes.data for o in others)


def test_calls_from_two_threads_and_outputs_freed_on_another(add_one):
    """Two threads call at once, each with its own values; outputs made on one thread are
    dropped on the other (a thread's block then comes from the other's malloc)."""
    results = [[], []]
    lock = threading.Lock()

    def work(t):
        for k in range(2000):
            v = np.array([t * 10000.0 + k])
            out = add_one(v)
            assert out[0] == v[0] + 1.0
            with lock:
                results[t].append(out)
                mine = results[1 - t]
                results[1 - t] = mine[-2:]   # drop the other thread's older outputs here
            del out

    run_in_threads(work, 2)
    for t in (0, 1):
        for out in results[t]:
            assert (out[0] - 1.0) // 10000.0 == t


def test_errors_on_one_element_keep_their_messages():
    """A one-element call that fails raises as before, and the calls after it are right."""
    a, b = T.lvector("a"), T.lvector("b")
    f = cgraph.function([a, b], [a // b, a + b])
    one = np.ones(1, "int64")
    with pytest.raises(ZeroDivisionError, match="integer division or modulo by zero"):
        f(one, np.zeros(1, "int64"))
    x, y = T.dvector("x"), T.dvector("y")
    g = cgraph.function([x, y], x + y)
    with pytest.raises(ValueError, match="shape"):
        g(np.ones(2), np.ones(3))
    for k in range(5):
        q, s = f(one * (k + 7), one * 2)
        assert q[0] == (k + 7) // 2 and s[0] == k + 9
        np.testing.assert_array_equal(g(np.array([1.5]), np.array([k])), [1.5 + k])


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int64", "int16"])
def test_tails_with_distinct_elements_match_numpy(dtype):
    """The padding fills the block with the first element, then the other real elements go
    over it: every position of a tail keeps its own value (lengths within one tail, two
    tails, and past them, several inputs and a broadcast one)."""
    a, b, c = T.vector("a", dtype=dtype), T.vector("b", dtype=dtype), T.vector("c", dtype=dtype)
    f = cgraph.function([a, b, c], a * b - c)
    for n in [1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65, 100, 129, 200]:
        av = (np.arange(n) % 11 + 1).astype(dtype)
        bv = (np.arange(n)[::-1] % 5 - 2).astype(dtype)
        np.testing.assert_array_equal(f(av, bv, av[:1]), av * bv - av[:1])
        np.testing.assert_array_equal(f(av, bv, bv), av * bv - bv)


def test_runtime_thread_locals_are_initial_exec():
    """The library's thread-locals use the initial-exec model (flagged STATIC_TLS) and fit
    well inside glibc's 512 bytes of static TLS surplus for dlopen'd libraries."""
    readelf = shutil.which("readelf")
    if readelf is None:
        pytest.skip("needs readelf")
    path = runtime_library.runtime().lib._name
    dyn = subprocess.run([readelf, "-dW", path], capture_output=True, text=True).stdout
    assert "STATIC_TLS" in dyn
    seg = subprocess.run([readelf, "-lW", path], capture_output=True, text=True).stdout
    tls = [line.split() for line in seg.splitlines() if line.split()[:1] == ["TLS"]]
    assert len(tls) == 1
    assert int(tls[0][5], 16) <= 128   # MemSiz


@pytest.mark.slow   # a program in another process: 3 s on 2 busy cores
def test_runtime_loads_with_no_optional_static_tls():
    """glibc reserves static TLS for dlopen'd initial-exec libraries (512 bytes by default);
    the runtime still loads, and calls, with that reserve tuned down to nothing."""
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    program = ("import json, numpy as np, cgraph, cgraph.tensor as T\n"
               "x = T.dvector('x')\n"
               "print(json.dumps(cgraph.function([x], x + 1.0)(np.arange(3.0)).tolist()))\n")
    env = dict(os.environ, PYTHONPATH=repo, GLIBC_TUNABLES="glibc.rtld.optional_static_tls=0")
    proc = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                          env=env, timeout=600, cwd=repo)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == [1.0, 2.0, 3.0]

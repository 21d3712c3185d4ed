"""Calls are atomic with respect to the shared variables they read and update: from many
threads, the final values are those of the calls run one after another, on the C call path
(which releases the GIL for large arrays) and on the Python path, with one function or
several sharing variables in different orders (no deadlock)."""
import threading

import numpy as np
import pytest

import cgraph
import cgraph.tensor as T
from cgraph.compile.fastcall import GIL_THRESHOLD
from util import run_in_threads

THREADS = 8
LARGE = 100_000          # above the GIL-release threshold
SMALL = 10
assert LARGE > GIL_THRESHOLD


@pytest.mark.parametrize("size", [LARGE, SMALL])
@pytest.mark.parametrize("mode", ["c", "py"])
def test_increment_from_eight_threads_loses_nothing(size, mode):
    W = cgraph.shared(np.zeros(size), name="W")
    f = cgraph.function([], [], updates=[(W, W + 1)], mode=mode)
    calls = 300 if size == LARGE else 500

    def work(k):
        for _ in range(calls):
            f()

    run_in_threads(work, THREADS)
    np.testing.assert_array_equal(W.get_value(), np.full(size, float(THREADS * calls)))


@pytest.mark.parametrize("size", [LARGE, SMALL])
def test_a_call_sees_one_consistent_value(size):
    X = cgraph.shared(np.zeros(size), name="X")
    f = cgraph.function([], [X.min(), X.max()], updates=[(X, X + 1)])
    torn = []

    def work(k):
        for _ in range(200):
            lo, hi = f()
            if lo != hi:
                torn.append((float(lo), float(hi)))

    run_in_threads(work, THREADS)
    assert torn == []
    np.testing.assert_array_equal(X.get_value(), np.full(size, THREADS * 200.0))


@pytest.mark.parametrize("size", [LARGE, SMALL])
@pytest.mark.slow   # many compiles: 2 s on 2 busy cores
def test_several_functions_sharing_variables_in_different_orders(size):
    """f and g read and update A and B (listed in opposite orders); h updates A alone through
    the Python path (a keyword argument): every update counts, and nothing deadlocks."""
    A = cgraph.shared(np.zeros(size), name="A")
    B = cgraph.shared(np.zeros(size), name="B")
    x = T.dscalar("x")
    f = cgraph.function([], [], updates=[(A, A + 1), (B, B + 2)])
    g = cgraph.function([], [], updates=[(B, B + 3), (A, A + 4)])
    h = cgraph.function([x], [], updates=[(A, A + x)])
    calls = 150

    def work(k):
        for _ in range(calls):
            if k % 3 == 0:
                f()
            elif k % 3 == 1:
                g()
            else:
                h(x=1.0)

    done = threading.Event()
    worker = threading.Thread(target=lambda: (run_in_threads(work, THREADS), done.set()))
    worker.start()
    worker.join(timeout=300)
    assert done.is_set(), "the threads deadlocked"
    n_f, n_g, n_h = (sum(1 for k in range(THREADS) if k % 3 == r) * calls for r in range(3))
    np.testing.assert_array_equal(A.get_value(), np.full(size, n_f * 1.0 + n_g * 4.0 + n_h))
    np.testing.assert_array_equal(B.get_value(), np.full(size, n_f * 2.0 + n_g * 3.0))


def test_set_value_and_get_value_are_atomic_with_calls():
    """set_value between calls is never lost under a running call, and get_value never
    returns a half-updated array (the update is written into W's own buffer)."""
    W = cgraph.shared(np.zeros(LARGE), name="W")
    f = cgraph.function([], [], updates=[(W, W + 1)])
    seen = []

    def work(k):
        for _ in range(100):
            if k == 0:
                v = W.get_value()
                seen.append(v.min() == v.max())
            else:
                f()

    run_in_threads(work, THREADS)
    assert all(seen)
    np.testing.assert_array_equal(W.get_value(), np.full(LARGE, (THREADS - 1) * 100.0))


def test_shared_variables_still_pickle_and_copy():
    import copy
    import pickle
    W = cgraph.shared(np.arange(3.0), name="W")
    f = cgraph.function([], W * 2, updates=[(W, W + 1)])
    g = pickle.loads(pickle.dumps(f))
    np.testing.assert_array_equal(g(), [0.0, 2.0, 4.0])
    W2 = copy.deepcopy(W)
    W2.set_value(np.zeros(3))
    np.testing.assert_array_equal(W.get_value(), [0.0, 1.0, 2.0])


def test_in_update_state_loses_nothing():
    """A function's own In(update=...) state is updated atomically too."""
    s = T.dvector("s")
    f = cgraph.function([cgraph.In(s, value=np.zeros(LARGE), update=s + 1)], s.sum())
    calls = 100

    def work(k):
        for _ in range(calls):
            f()

    run_in_threads(work, THREADS)
    assert f() == LARGE * THREADS * calls * 1.0


def test_a_child_forked_during_a_call_can_call():
    """A process forked while another thread holds a shared variable's lock (inside a call)
    finds the lock free: its own calls do not hang."""
    import multiprocessing
    W = cgraph.shared(np.zeros(4), name="W")
    f = cgraph.function([], W + 1, updates=[(W, W + 1)])
    held, release = threading.Event(), threading.Event()

    def hold():
        with W.container.lock:          # as a call in progress would
            held.set()
            release.wait(60)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(60)
    try:
        ctx = multiprocessing.get_context("fork")
        queue = ctx.Queue()
        child = ctx.Process(target=lambda: queue.put(f().tolist()))
        child.start()
        child.join(60)
        alive = child.is_alive()
        if alive:
            child.kill()
        assert not alive, "the child hung on a lock held by a thread it does not have"
        assert queue.get(timeout=10) == [1.0] * 4
    finally:
        release.set()
        holder.join()

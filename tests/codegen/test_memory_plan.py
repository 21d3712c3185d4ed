"""The memory plan: buffers reused across calls and within a call, in-place updates.

Allocations are counted by the module itself (``CRunner.allocation_count``: buffers obtained
from the system allocator since the module was loaded).
"""

import re

import numpy as np
import pytest

import cgraph
import cgraph.tensor as T
from util import assert_clean_build, assert_same, run_in_threads


def _mlp(mode, dtype="float64", seed=0):
    """A small training step: tanh layer, softmax, NLL + L2; SGD updates of W1, b1, W2, b2."""
    rng = np.random.default_rng(seed)
    params = [cgraph.shared(rng.uniform(-0.5, 0.5, (6, 5)).astype(dtype), name="W1"),
              cgraph.shared(np.zeros(5, dtype), name="b1"),
              cgraph.shared(rng.uniform(-0.5, 0.5, (5, 3)).astype(dtype), name="W2"),
              cgraph.shared(np.zeros(3, dtype), name="b2")]
    x = T.matrix("x", dtype=dtype)
    y = T.lvector("y")
    h = T.tanh(T.dot(x, params[0]) + params[1])
    p_y = T.nnet.softmax(T.dot(h, params[2]) + params[3])
    cost = -T.mean(T.log(p_y)[T.arange(y.shape[0]), y]) + \
        T.cast(1e-3, dtype) * (T.sum(params[0] ** 2) + T.sum(params[2] ** 2))
    grads = T.grad(cost, params)
    updates = [(p, p - T.cast(0.1, dtype) * g) for p, g in zip(params, grads)]
    f = cgraph.function([x, y], [cost, h.T], updates=updates, mode=mode)
    return f, params


def _batch(rng, n, dtype="float64"):
    return rng.random((n, 6)).astype(dtype), rng.integers(0, 3, size=n)


@pytest.mark.slow   # many compiles: 5 s on 2 busy cores
def test_inplace_training_matches_py_across_shapes_and_allocates_only_outputs():
    f, params = _mlp("c")
    g, ref_params = _mlp("py")
    assert_clean_build(f)
    runner = f._runner
    # every update is written into its shared value's buffer (two Gemm, two elementwise)
    assert sorted(runner.inplace) == [2, 3, 4, 5]
    assert len(re.findall(r"CG_DEST_INTO\(a, \w+, W1\)", f.c_source)) == 1   # into W1's buffer
    held = [p.get_value(borrow=True) for p in params]
    rng = np.random.default_rng(1)
    for n in (4, 4, 9, 2, 1, 0, 7, 7):       # growing, shrinking, empty batches
        xv, yv = _batch(rng, n)
        got, ref = f(xv, yv), g(xv, yv)
        for k, (a, b) in enumerate(zip(got, ref)):
            assert_same(a, b, what=f"output {k}, batch {n}")
        for p, q in zip(params, ref_params):
            assert_same(p.get_value(), q.get_value(), what=f"{p.name}, batch {n}")
    # the same arrays all along: the updates went into them
    assert all(p.get_value(borrow=True) is a for p, a in zip(params, held))

    xv, yv = _batch(rng, 8)
    f(xv, yv)
    f(xv, yv)
    before = runner.allocation_count()
    outs = [f(xv, yv) for _ in range(100)]
    # steady state: at most the two outputs per call (cost, h.T: a view, copied), nothing
    # else (a buffer the previous call gave back may serve as an output: one fewer)
    assert runner.allocation_count() - before <= 2 * 100
    # returned outputs are the caller's own: not overwritten by later calls
    assert len({id(o[1].base) for o in outs}) == 100
    assert not any(np.shares_memory(outs[0][1], o[1]) for o in outs[1:])


def test_buffers_reused_within_a_call_and_across_calls():
    x = T.matrix("x")
    a = T.matrix("a")
    h = x
    for _ in range(6):               # six products, each read only by the next one
        h = T.dot(h, a)
    out = [h, T.exp(x).T]            # an output that is a view of an intermediate
    f = cgraph.function([x, a], out)
    g = cgraph.function([x, a], out, mode="py")
    runner = f._runner
    rng = np.random.default_rng(2)
    xv, av = rng.random((40, 40)) / 20, rng.random((40, 40)) / 20
    before = runner.allocation_count()
    first = f(xv, av)
    # six products and an exp, but a product's buffer is reused two products later
    assert runner.allocation_count() - before <= 5
    for k, (p, q) in enumerate(zip(first, g(xv, av))):
        assert_same(p, q, what=f"output {k}")
    before = runner.allocation_count()
    for _ in range(20):
        f(xv, av)
    assert runner.allocation_count() - before == 2 * 20   # the two outputs only
    # a new shape: new buffers, same values; back to the old shape: still right
    for n in (7, 40, 1, 40):
        xv = rng.random((n, 40)) / 20
        for k, (p, q) in enumerate(zip(f(xv, av), g(xv, av))):
            assert_same(p, q, what=f"output {k}, {n} rows")
    runner.release_workspace()
    for k, (p, q) in enumerate(zip(f(xv, av), g(xv, av))):
        assert_same(p, q, what=f"output {k} after release_workspace")


def _update_function(mode, w, b, extra=None):
    """outputs: W * 2 and W.T (old values); updates W <- W - x (elementwise, in place) and
    b <- b + sum(x) (in place)."""
    x = T.matrix("x")
    outs = [w * 2, w.T]
    if extra is not None:
        outs.append(extra(w, b))
    return cgraph.function([x], outs, updates=[(w, w - x), (b, b + T.sum(x))], mode=mode)


def test_aliasing_argument_and_shared_values():
    base = np.arange(12.0).reshape(3, 4)
    # the array held by W is also passed as the argument x
    w = cgraph.shared(base.copy(), name="W")
    b = cgraph.shared(np.zeros(()), name="b")
    wr = cgraph.shared(base.copy(), name="W")
    br = cgraph.shared(np.zeros(()), name="b")
    f = _update_function("c", w, b)
    g = _update_function("py", wr, br)
    assert f._runner.inplace
    arg = w.get_value(borrow=True)
    got, ref = f(arg), g(wr.get_value(borrow=True))
    for k, (p, q) in enumerate(zip(got, ref)):
        assert_same(p, q, what=f"output {k}")
    assert_same(w.get_value(), wr.get_value(), what="W")
    assert_same(arg, base, what="the argument array")       # not written: it was x too
    # an ordinary call writes in place; outputs keep the old values (W.T was copied)
    held = w.get_value(borrow=True)
    got = f(np.ones((3, 4)))
    assert w.get_value(borrow=True) is held
    assert_same(got[1], (base * 0).T, what="W.T, the value before the call")
    assert_same(w.get_value(), -np.ones((3, 4)), what="W after the call")

    # two shared variables holding one array (borrow=True): the other keeps its value
    shared_array = base.copy()
    w2 = cgraph.shared(shared_array, name="W", borrow=True)
    other = cgraph.shared(shared_array, name="other", borrow=True)
    assert w2.get_value(borrow=True) is other.get_value(borrow=True)
    f2 = _update_function("c", w2, cgraph.shared(np.zeros(()), name="b"),
                          extra=lambda w, b: other + 1)
    got = f2(np.ones((3, 4)))
    assert_same(got[2], base + 1, what="other + 1")
    assert_same(other.get_value(), base, what="the other shared variable")
    assert_same(w2.get_value(), base - 1, what="W")
    # a read-only shared value is not written either
    frozen = base.copy()
    frozen.flags.writeable = False
    w3 = cgraph.shared(frozen, name="W", borrow=True)
    f3 = _update_function("c", w3, cgraph.shared(np.zeros(()), name="b"))
    f3(np.ones((3, 4)))
    assert_same(frozen, base, what="the read-only array")
    assert_same(w3.get_value(), base - 1, what="W from a read-only array")


@pytest.mark.slow   # many compiles: 3 s on 2 busy cores
def test_failed_call_leaves_shared_values_untouched():
    w = cgraph.shared(np.arange(12.0).reshape(3, 4), name="W")
    b = cgraph.shared(np.arange(4.0), name="b")
    x = T.matrix("x")
    d = T.matrix("d")
    i = T.lscalar("i")
    new_w = w - 0.5 * T.dot(x.T, d)       # a Gemm
    new_b = b + T.sum(d, axis=0)          # elementwise, in place
    # the failing index reads the new W (so W's update is not a candidate), b's is
    out = new_w[i]
    f = cgraph.function([x, d, i], out, updates=[(w, new_w), (b, new_b)])
    assert sorted(f._runner.inplace) == [2]
    w0, b0 = w.get_value(), b.get_value()
    held_w, held_b = w.get_value(borrow=True), b.get_value(borrow=True)
    with pytest.raises(IndexError):
        f(np.ones((5, 3)), np.ones((5, 4)), 7)   # the updates are computed, then the index fails
    assert_same(w.get_value(), w0, what="W")
    assert_same(b.get_value(), b0, what="b")
    assert w.get_value(borrow=True) is held_w and b.get_value(borrow=True) is held_b
    # a shape error inside the in-place candidate itself: b <- b + x with a wrong x
    y = T.vector("y")
    g = cgraph.function([y], [], updates=[(b, b + y), (w, w * 2)])
    assert sorted(g._runner.inplace) == [0, 1]
    with pytest.raises(ValueError):
        g(np.ones(3))
    assert_same(b.get_value(), b0, what="b after a failed in-place candidate")
    assert_same(w.get_value(), w0, what="W after a failed in-place candidate")
    g(np.ones(4))
    assert_same(b.get_value(), b0 + 1, what="b")
    assert_same(w.get_value(), w0 * 2, what="W")
    assert b.get_value(borrow=True) is held_b
    # and a good call of f after all that
    f(np.ones((5, 3)), np.ones((5, 4)), 1)
    assert_same(b.get_value(), b0 + 1 + 5, what="b")


@pytest.mark.slow   # many compiles: 3 s on 2 busy cores
def test_gemm_update_writes_into_the_shared_buffer():
    rng = np.random.default_rng(3)
    for dtype in ("float64", "float32"):
        w = cgraph.shared(rng.random((5, 4)).astype(dtype), name="W")
        wr = cgraph.shared(w.get_value(), name="W")
        fs = []
        for shared_w, mode in ((w, "c"), (wr, "py")):
            x = T.matrix("x", dtype=dtype)
            d = T.matrix("d", dtype=dtype)
            lr = T.scalar("lr", dtype=dtype)
            fs.append(cgraph.function([x, d, lr], [], mode=mode,
                                      updates=[(shared_w, shared_w - lr * T.dot(x.T, d))]))
        assert "Gemm" in fs[0].c_source and fs[0]._runner.inplace == {0: 3}
        held = w.get_value(borrow=True)
        for n, lr in ((3, 0.1), (8, 0.5), (0, 0.2), (2, 0.0)):   # lr 0: not in place
            args = (rng.random((n, 5)).astype(dtype), rng.random((n, 4)).astype(dtype),
                    np.asarray(lr, dtype))
            fs[0](*args)
            fs[1](*args)
            assert_same(w.get_value(), wr.get_value(), what=f"W {dtype} n={n} lr={lr}")
        assert w.get_value(borrow=True) is not held      # lr == 0 gave a new buffer
        held = w.get_value(borrow=True)
        fs[0](*args[:2], np.asarray(0.3, dtype))
        assert w.get_value(borrow=True) is held


def test_four_threads_call_one_function():
    w = cgraph.shared(np.linspace(-1, 1, 20).reshape(4, 5), name="W")
    x = T.matrix("x")
    h = T.tanh(T.dot(x, w))
    outs = [h, T.sum(h ** 2, axis=1), h.T * 3]
    f = cgraph.function([x], outs)
    g = cgraph.function([x], outs, mode="py")
    rng = np.random.default_rng(4)
    inputs = [[rng.random((n, 4)) for n in rng.integers(1, 60, size=40)] for _ in range(4)]
    expected = [[g(v) for v in vs] for vs in inputs]
    results = [None] * 4

    def work(t):
        results[t] = [f(v) for v in inputs[t]]
        f._runner.release_workspace()

    run_in_threads(work, 4)
    for t in range(4):
        for got, ref in zip(results[t], expected[t]):
            for k, (p, q) in enumerate(zip(got, ref)):
                assert_same(p, q, what=f"thread {t}, output {k}")


@pytest.mark.slow   # many compiles: 4 s on 2 busy cores
def test_big_outputs_freed_by_the_caller_are_reused_not_shared():
    x = T.vector("x")
    f = cgraph.function([x], [T.exp(x) * 2])
    g = cgraph.function([x], [T.exp(x) * 2], mode="py")
    runner = f._runner
    v = np.linspace(-1, 1, 1 << 20)             # 8 MiB outputs
    f(v)
    before = runner.allocation_count()
    for _ in range(10):
        f(v)                                    # each result freed before the next call
    assert runner.allocation_count() - before <= 1
    kept = [f(v * k)[0] for k in range(4)]      # kept results: four buffers of their own
    for k, a in enumerate(kept):
        assert_same(a, g(v * k)[0], what=f"result {k}")
    assert not any(np.shares_memory(a, b) for k, a in enumerate(kept) for b in kept[k + 1:])
    runner.release_workspace()
    assert_same(f(v)[0], g(v)[0], what="after release_workspace")


def test_in_place_checks_skip_new_buffers_but_not_views():
    """The run-time check compares with the updated buffers only the operands that may be
    views of an input (a reversed W here); operands computed into new pool buffers cannot
    share a byte with an input and are not compared."""
    base = np.arange(12.0).reshape(3, 4)
    w, wr = cgraph.shared(base.copy(), name="W"), cgraph.shared(base.copy(), name="W")
    x = T.dmatrix("x")
    f = cgraph.function([x], [], updates=[(w, w - 0.5 * w[::-1] *
                                           T.exp(x).sum(0, keepdims=True))])
    g = cgraph.function([x], [], updates=[(wr, wr - 0.5 * wr[::-1] *
                                           T.exp(x).sum(0, keepdims=True))], mode="py")
    run = f.c_source.split("int cg_run(")[1]
    assert "cg_inputs_overlap(" in run
    check = run[run.index("in-place updates"):run.index("outputs handed over, contiguous")]
    assert "CG_OVERLAPS_UPDATED(subtensor" in check     # W[::-1]: a view of W
    assert "CG_OVERLAPS_UPDATED(reduce" not in check    # the sum: a new buffer
    assert "cg_broadcasts_to(&reduce" in check          # (an operand: its shape is checked)
    for k in range(3):
        xv = np.full((2, 4), float(k))
        f(xv), g(xv)
        assert_same(w.get_value(), wr.get_value(), what=f"W after call {k}")


class _Pool(__import__("ctypes").Structure):
    """cg_pool of templates/runtime.h."""
    import ctypes as _c
    _fields_ = [("bufs", _c.c_void_p), ("sizes", _c.c_void_p), ("caps", _c.c_void_p),
                ("n", _c.c_int), ("cap", _c.c_int)]


@pytest.mark.parametrize("path", ["fast", "python"])
def test_empty_view_past_its_input_gives_back_no_live_buffer(path):
    """An empty view's data pointer may lie outside what it views: Brc[:, ::-1] of a (0, 5)
    input is 4 elements past the input's data. Given back after its last reader, it must not
    take along the live buffer it happens to point into (here the Dot output's, which the
    next node would then reuse: the output came back holding 3 * z, not zeros). The buffer
    is planted: a spare of this thread, which the call's first buffer of its size takes."""
    import ctypes
    from cgraph import runtime_library
    A, B, Brc, Z = (T.matrix(n) for n in ("A", "B", "Brc", "Z"))
    first, second = T.dot(A, B), T.dot(A, Brc[:, ::-1])
    f = cgraph.function([A, B, Brc, Z], [first, second, second + 3 * Z])
    if path == "python":
        f._fast_call = None
    lib = runtime_library.runtime().lib
    lib.cg_pool_alloc.restype = ctypes.c_void_p
    lib.cg_pool_alloc.argtypes = [ctypes.POINTER(_Pool), ctypes.c_int64]
    lib.cg_pool_release.argtypes = [ctypes.POINTER(_Pool)]
    m, n = 100, 5
    nbytes = m * n * 8
    rng = np.random.default_rng(0)
    a, b, z = np.zeros((m, 0)), np.zeros((0, n)), rng.normal(size=(m, n))
    for _ in range(3):
        lib.cg_release_workspace()
        pool = _Pool()
        planted = lib.cg_pool_alloc(ctypes.byref(pool), nbytes)
        lib.cg_pool_release(ctypes.byref(pool))     # a spare: the Dot output's buffer next
        # Brc's data 32 bytes into it, so that its reversed view's is 64 bytes in
        memory = (ctypes.c_char * nbytes).from_address(planted)
        brc = np.ndarray((0, n), dtype=np.float64, buffer=memory, offset=64 - (n - 1) * 8)
        got = f(a, np.zeros((0, n)), brc, z)
        del brc, memory
        assert_same(got[0], np.zeros((m, n)), what="dot(A, B)")
        assert_same(got[1], np.zeros((m, n)), what="dot(A, Brc[:, ::-1])")
        assert_same(got[2], 3 * z, what="dot(A, Brc[:, ::-1]) + 3 * Z")


def test_in_place_gemm_updates_with_a_vector_operand():
    """A matrix-vector product added into a shared vector in place (gemv: the product's one
    axis is the matrix's rows, or its columns when the vector comes first): the runtime's
    cg_gemm_inplace_ok checks that axis against the target's, for 0-, 1- and n-length axes."""
    for rows, cols in ((3, 4), (1, 4), (3, 1), (0, 2), (2, 0)):
        w = np.linspace(-1, 1, rows * cols).reshape(rows, cols)
        made = []
        for mode in ("c", "py"):
            b = cgraph.shared(np.linspace(0.5, 1.5, rows), name="b")
            c = cgraph.shared(np.linspace(-1.5, 0.5, cols), name="c")
            x, y = T.dvector("x"), T.dvector("y")
            f = cgraph.function([x, y], [], updates=[(b, b - 0.5 * T.dot(w, x)),
                                                     (c, c - 0.25 * T.dot(y, w))],
                                **({} if mode == "c" else {"mode": "py"}))
            made.append((f, b, c))
        assert "cg_gemm_inplace_ok(" in made[0][0].c_source
        buffers = [v.get_value(borrow=True).ctypes.data for v in made[0][1:]]
        for k in range(2):
            xv, yv = np.full(cols, k + 0.5), np.full(rows, 1.0 - k)
            for f, _, _ in made:
                f(xv, yv)
            if rows and cols:   # written in place: the shared values keep their buffers
                assert [v.get_value(borrow=True).ctypes.data for v in made[0][1:]] == buffers
            for (_, b, c), (_, rb, rc) in [(made[0], made[1])]:
                assert_same(b.get_value(), rb.get_value(), what=f"b {rows}x{cols} call {k}")
                assert_same(c.get_value(), rc.get_value(), what=f"c {rows}x{cols} call {k}")


@pytest.mark.parametrize("reader", [False, True], ids=["the sums", "a cost reading them"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_allocation_failing_anywhere_leaves_decayed_weights_untouched(dtype, reader):
    """Two weight updates with decay, each joined with the cost's sum(W ** 2) in a
    GemmSquares written in place (W3's update): the n-th pool allocation of a call fails
    (the runtime's test hook), for every n up to the call's count. A call that fails leaves
    both weights as they were: the sums' 0-d arrays, and the 0-d cost computed from them
    after the updates, are allocated before the first in-place write (on main the second
    sum's was allocated in its block, after W1 was written, and the cost's after both)."""
    from cgraph import runtime_library
    lib = runtime_library.runtime().lib
    rng = np.random.default_rng(5)
    w1 = cgraph.shared(rng.uniform(-1, 1, (7, 5)).astype(dtype), name="W1")
    w2 = cgraph.shared(rng.uniform(-1, 1, (5, 3)).astype(dtype), name="W2")
    x, d1, d2 = (T.matrix(n, dtype=dtype) for n in ("x", "d1", "d2"))
    lr, l2 = np.asarray(0.1, dtype), np.asarray(1e-2, dtype)
    h = T.dot(x, w1)
    sums = [T.sum(w1 ** 2), T.sum(w2 ** 2)]
    # the sums as outputs (nothing runs after the late blocks), or a cost read after them
    outputs = [sums[0] + np.asarray(2, dtype) * sums[1], sums[0]] if reader else sums
    f = cgraph.function([x, d1, d2], outputs,
                        updates=[(w1, w1 - lr * (T.dot(x.T, d1) + l2 * w1)),
                                 (w2, w2 - lr * (T.dot(h.T, d2) + l2 * w2))])
    assert [type(n.op).__name__ for n in f.nodes].count("GemmSquares") == 2
    assert sorted(f._runner.inplace) == [2, 3]
    args = (rng.random((4, 7)).astype(dtype), rng.random((4, 5)).astype(dtype),
            rng.random((4, 3)).astype(dtype))
    failures = 0
    try:
        for n in range(1, 40):
            before = [w1.get_value(), w2.get_value()]
            held = [w1.get_value(borrow=True), w2.get_value(borrow=True)]
            lib.cg_fail_pool_alloc_after(n)
            try:
                result = f(*args)
            except MemoryError:
                failures += 1
                assert_same(w1.get_value(), before[0], what=f"W1 after failing allocation {n}")
                assert_same(w2.get_value(), before[1], what=f"W2 after failing allocation {n}")
                continue
            finally:
                lib.cg_fail_pool_alloc_after(0)
            # a call that went through: the sums of the old weights, the new ones in place
            old = [(w.astype("float64") ** 2).sum() for w in before]
            want = [old[0] + 2 * old[1], old[0]] if reader else old
            for got, expected in zip(result, want):
                assert_same(got, np.asarray(expected, dtype), what="the sums", rtol=1e-5)
            assert w1.get_value(borrow=True) is held[0]
            break
        else:
            raise AssertionError("every call failed")
    finally:
        lib.cg_fail_pool_alloc_after(0)
    assert failures >= 2     # (both sums' allocations among them)

"""The call path in C (cgraph/compile/fastcall.py, templates/fastcall.c).

The C Caller must give exactly what the Python path gives (results, shared values, errors),
decline whatever it does not handle exactly, stay correct from several threads, leak nothing,
and never be needed: without it functions work as before.
"""
import ctypes
import gc
import os
import pickle
import re
import sys
import tracemalloc
import types

import numpy as np
import pytest

import cgraph.tensor as T
from cgraph import In, function, shared
from cgraph.compile import fastcall
from cgraph.compile.fastcall import FALLBACK
from cache_helpers import fresh_cache  # noqa: F401 - a fixture
from util import assert_same, run_in_threads


def slow_twin(f):
    """Calls ``f`` through the Python path only (the reference for messages)."""
    def call(*args, **kwargs):
        saved = f._fast_call
        f._fast_call = None
        try:
            return f(*args, **kwargs)
        finally:
            f._fast_call = saved
    return call


def fast_only(f, *args):
    """Calls ``f``'s Caller directly; fails the test if it declines."""
    assert f._fast_call is not None, "no C call path"
    result = f._fast_call(*args)
    assert result is not FALLBACK, "the C call path declined the call"
    return result


def message_of(call, *args, **kwargs):
    with pytest.raises(Exception) as info:
        call(*args, **kwargs)
    return type(info.value), str(info.value)


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# --- results equal the reference -------------------------------------------------------------

@pytest.mark.slow   # many compiles: 3 s on 2 busy cores
def test_fast_path_matches_py_mode_for_many_forms():
    x, y = T.dvector("x"), T.fmatrix("y")
    i, k = T.lscalar("i"), T.iscalar("k")
    r = T.drow("r")
    d = T.dvector("d")
    outputs = [x * 2 + 1, y.sum(axis=0), i + 1, (k * 3).astype("int32"), r + x,
               x.sum() + d.sum(), T.cast(x, "float32")]
    s_c, s_py = shared(np.arange(3.0), name="s"), shared(np.arange(3.0), name="s")
    n_c, n_py = shared(np.int64(5), name="n"), shared(np.int64(5), name="n")
    fs = {}
    for mode, s, n in (("c", s_c, n_c), ("py", s_py, n_py)):
        fs[mode] = function([x, y, i, k, r, In(d, value=np.array([0.5, 0.25]))],
                            outputs + [s * 1, n + 0],
                            updates=[(s, s + x.sum()), (n, n + i)], mode=mode)
    f_c, f_py = fs["c"], fs["py"]
    cases = [
        (np.arange(3.0), np.ones((2, 3), "float32"), np.array(4), np.array(2, "int32"),
         np.ones((1, 3)), np.array([1.0, 2.0])),
        (np.zeros(0), np.ones((0, 0), "float32"), np.array(-1), np.array(7, "int32"),
         np.ones((1, 0)), np.zeros(0)),
        (np.array([1.5]), np.ones((4, 1), "float32"), np.array(0), np.array(0, "int32"),
         np.full((1, 1), 3.0)),        # d takes its default
    ]
    for values in cases:
        got = fast_only(f_c, *values)
        ref = f_py(*values)
        assert len(got) == len(ref)
        for m, (g, e) in enumerate(zip(got, ref)):
            assert_same(g, e, what=f"output {m}")
            assert g.flags.c_contiguous and g.flags.owndata is False and g.flags.writeable
        assert_same(s_c.get_value(), s_py.get_value(), what="shared s")
        assert_same(n_c.get_value(), n_py.get_value(), what="shared n")


@pytest.mark.slow   # many compiles: 4 s on 2 busy cores
def test_single_dict_and_empty_results_and_givens():
    x = T.dvector("x")
    single = function([x], x + 1)
    assert isinstance(fast_only(single, np.ones(2)), np.ndarray)
    as_dict = function([x], {"zz": x * 2, "aa": x + 1})
    res = fast_only(as_dict, np.array([1.0, 2.0]))
    assert list(res) == ["aa", "zz"] and res["zz"].tolist() == [2.0, 4.0]
    s = shared(np.zeros(2), name="s")
    nothing = function([x], [], updates=[(s, s + x)])
    assert fast_only(nothing, np.ones(2)) == [] and s.get_value().tolist() == [1.0, 1.0]
    data = shared(np.arange(10.0), name="data")
    idx = T.lscalar("idx")
    batch = function([idx], x.sum(), givens={x: data[idx * 2:(idx + 1) * 2]})
    assert float(fast_only(batch, np.array(2))) == 9.0
    a = T.dscalar("a")
    scalar = function([a], a * 0 + 1)
    assert float(fast_only(scalar, np.array(3.0))) == 1.0


def test_pickled_and_copied_functions_have_the_fast_path():
    w = shared(np.ones(2), name="w")
    x = T.dvector("x")
    f = function([x], w * x, updates=[(w, w + 1)])
    again = pickle.loads(pickle.dumps(f))      # with a copy of w
    copied = f.copy()                          # with w itself
    for g in (f, again, copied):
        assert g._fast_call is not None
    assert fast_only(f, np.array([1.0, 2.0])).tolist() == [1.0, 2.0]
    assert fast_only(copied, np.array([1.0, 2.0])).tolist() == [2.0, 4.0]
    assert fast_only(again, np.array([1.0, 2.0])).tolist() == [1.0, 2.0]
    assert w.get_value().tolist() == [3.0, 3.0]
    assert function([x], x + 1, mode="py")._fast_call is None
    assert function([x], x + 1, profile=True)._fast_call is None
    state = T.dscalar("state")
    stateful = function([x, In(state, update=state + 1, value=0.0)], x * state)
    assert stateful._fast_call is None and stateful(np.ones(1)).tolist() == [0.0]


def test_call_method_in_c_behaves_as_the_python_method():
    """Function.__call__ is the extension's CallMethod once a Caller exists: f(x), the bound
    f.__call__, Function.__call__(f, ...), keywords, declined calls, functions without a
    Caller (py mode, profiled) and errors all give what the Python path gives."""
    from cgraph.compile.function import Function
    x = T.dvector("x")
    f = function([x], x * 2 + 1)
    assert type(Function.__dict__["__call__"]).__name__ == "CallMethod"
    a = np.arange(3.0)
    want = a * 2 + 1
    for got in (f(a), f.__call__(a), Function.__call__(f, a), f(x=a), f([0.0, 1.0, 2.0]),
                f(a.astype("float32")), slow_twin(f)(a)):
        assert_same(got, want)
    out = f(a)
    assert out is not a and out.base is not None
    assert f(a) is not out                                  # a fresh array every call
    for other in (function([x], x * 2 + 1, mode="py"), function([x], x * 2 + 1, profile=True)):
        assert other._fast_call is None
        assert_same(other(a), want)
        assert_same(other(x=a), want)
    slow = slow_twin(f)
    for args, kwargs in [((), {}), ((a, a), {}), ((np.ones((2, 2)),), {}), ((a,), {"y": a}),
                         (("text",), {})]:
        got = message_of(f, *args, **kwargs)
        assert got == message_of(slow, *args, **kwargs)
        assert got[0] in (TypeError, ValueError), got
    with pytest.raises(TypeError):
        Function.__call__()                                 # no instance: the Python path's error


def test_call_slot_reads_the_caller_slot_and_falls_back_to_getattr():
    """The C __call__ reads an instance's Caller at the offset of the _fast_call slot for
    instances of exactly the class it was given; a subclass's instance, a class without
    such a slot and an unset slot take getattr, with getattr's error."""
    from cgraph.compile.function import Function
    x = T.dvector("x")
    f = function([x], x * 2 + 1)
    assert type(Function.__dict__["_fast_call"]).__name__ == "member_descriptor"
    a = np.arange(3.0)
    module = fastcall.extension()
    by_slot = module.CallMethod(Function._call_python, "_fast_call", Function)
    assert_same(by_slot(f, a), a * 2 + 1)
    saved = f._fast_call
    try:
        f._fast_call = None                                 # read at the offset: no Caller
        assert_same(by_slot(f, a), a * 2 + 1)               # so the Python path
        del f._fast_call                                    # an unset slot: getattr's error
        with pytest.raises(AttributeError, match="_fast_call"):
            by_slot(f, a)
    finally:
        f._fast_call = saved

    class Sub(Function):                                    # not exactly the class: getattr
        pass
    g = function([x], x - 1)
    g.__class__ = Sub
    assert_same(g(a), a - 1)
    assert_same(by_slot(g, a), a - 1)

    class NoSlot:                                           # no slot of that name: getattr
        def __init__(self, caller):
            self._fast_call = caller

        def _call_python(self, *args, **kwargs):
            return "python path"
    plain = module.CallMethod(NoSlot._call_python, "_fast_call", NoSlot)
    assert_same(plain(NoSlot(f._fast_call), a), a * 2 + 1)
    assert plain(NoSlot(None), a) == "python path"


def test_installed_call_slot_passes_every_call_on():
    """Function's call slot (install_call) calls its CallMethod with the instance and the
    arguments: positional, keywords, more arguments than fit on its stack; assigning
    Function.__call__ gives CPython's slot back, and install_call takes only a Python class
    whose __call__ is a CallMethod."""
    from cgraph.compile.function import Function
    x, y = T.dvector("x"), T.dvector("y")
    f = function([x, y], x * y, name="f")
    slow = slow_twin(f)
    a, b = np.arange(3.0), np.full(3, 2.0)
    module = fastcall.extension()
    method = Function.__dict__["__call__"]
    assert module.install_call(Function) is True
    for _ in range(2):
        assert_same(f(a, b), a * b)
        assert_same(f(a, y=b), a * b)
        assert_same(f(y=b, x=a), a * b)
        for args in ((a,) * 40, (a,)):                       # 40: the arguments on the heap
            assert message_of(f, *args) == message_of(slow, *args)
        Function.__call__ = method                          # CPython's slot again
    try:
        Function.__call__ = lambda self, *args: "patched"   # the installed slot is gone
        assert f(a, b) == "patched"
    finally:
        Function.__call__ = method
    assert module.install_call(Function) is True
    assert_same(f(a, b), a * b)

    class Other:
        def __call__(self):
            return 1
    assert module.install_call(Other) is False              # its __call__: no CallMethod
    assert Other()() == 1
    with pytest.raises(TypeError):
        module.install_call(int)                            # not a Python class


# --- declined calls keep the Python path's behaviour and messages -----------------------------

def test_declined_calls_give_the_same_results_and_messages():
    x, m, r = T.dvector("x"), T.dmatrix("m"), T.drow("r")
    f = function([x, m, r], [x * 2, m.sum() + r.sum()], name="f")
    slow = slow_twin(f)
    good = (np.arange(3.0), np.ones((2, 2)), np.ones((1, 4)))
    wrong = [
        (np.arange(3, dtype="float32"), good[1], good[2]),        # converted: fine
        ([1.0, 2.0, 3.0], good[1], good[2]),                       # a list: converted
        (np.arange(6.0)[::2], good[1], good[2]),                   # non-contiguous: copied
        (np.arange(3.0).astype(">f8"), good[1], good[2]),          # byte-swapped
    ]
    for values in wrong:
        assert_same(f(*values)[0], slow(*values)[0])
    assert f._fast_call(np.arange(6.0)[::2], good[1], good[2]) is FALLBACK
    assert f._fast_call([1.0, 2.0, 3.0], good[1], good[2]) is FALLBACK
    assert f._fast_call(np.arange(3.0).astype(">f8"), good[1], good[2]) is FALLBACK
    errors = [
        ((np.ones(3, "complex128"), good[1], good[2]), {}),        # wrong dtype
        ((np.ones((3, 1)), good[1], good[2]), {}),                 # wrong ndim
        ((good[0], good[1], np.ones((2, 4))), {}),                 # broadcastable axis of 2
        (good + (np.ones(1),), {}),                                # too many
        (good[:2], {}),                                            # too few
        (good[:2], {"r": good[2], "zz": 1.0}),                     # unknown keyword
        (good[:2], {"x": good[0]}),                                # given twice
        (("text", good[1], good[2]), {}),
    ]
    for args, kwargs in errors:
        got = message_of(f, *args, **kwargs)
        assert got == message_of(slow, *args, **kwargs)
        assert got[0] in (TypeError, ValueError), got
    assert f(good[0], good[1], r=good[2])[0].tolist() == [0.0, 2.0, 4.0]   # kwargs: Python path


def test_trust_input_never_crashes_on_a_wrong_array():
    x = T.dvector("x")
    f = function([x], x * 2)
    f.trust_input = True
    assert fast_only(f, np.ones(2)).tolist() == [2.0, 2.0]
    assert f(np.arange(3, dtype="int8")).tolist() == [0.0, 2.0, 4.0]   # converted, not misread
    assert f(np.arange(6.0)[::2]).tolist() == [0.0, 4.0, 8.0]
    with pytest.raises(TypeError, match="dimensions"):
        f(np.ones((2, 2)))
    with pytest.raises(TypeError):
        f(np.ones(2, dtype="complex64"))


def test_shared_values_replaced_or_unusual_fall_back():
    s = shared(np.arange(4.0), name="s")
    x = T.dvector("x")
    f = function([x], s * x)
    assert fast_only(f, np.ones(4)).tolist() == [0.0, 1.0, 2.0, 3.0]
    s.set_value(np.arange(2.0))                  # another shape: fine
    assert fast_only(f, np.ones(2)).tolist() == [0.0, 1.0]
    s.container.value = np.arange(8.0)[::2]      # not contiguous (only by hand): declined
    assert f._fast_call(np.ones(4)) is FALLBACK
    assert f(np.ones(4)).tolist() == [0.0, 2.0, 4.0, 6.0]


# --- errors from the module -------------------------------------------------------------------

def test_module_errors_match_and_leave_shared_values_alone():
    x, i = T.dvector("x"), T.lscalar("i")
    s = shared(np.arange(3.0), name="s")
    t = shared(np.zeros(2), name="t")
    f = function([x, i], x[i], updates=[(s, s + x[i]), (t, t + 1)], name="pick")
    before_s, before_t = s.get_value(borrow=True), t.get_value(borrow=True)
    fast = message_of(fast_only, f, np.arange(3.0), np.array(10))
    slow = message_of(slow_twin(f), np.arange(3.0), np.array(10))
    assert fast == slow and fast[0] is IndexError and "Apply node that caused" in fast[1]
    assert s.get_value(borrow=True) is before_s and t.get_value(borrow=True) is before_t
    assert s.get_value().tolist() == [0.0, 1.0, 2.0] and t.get_value().tolist() == [0.0, 0.0]
    assert float(fast_only(f, np.arange(3.0), np.array(-1))) == 2.0
    assert s.get_value().tolist() == [2.0, 3.0, 4.0] and t.get_value().tolist() == [1.0, 1.0]


# --- in-place updates: an output computed in its input's buffer is that input ------------------

IN_PLACE_SOURCE = """
#include <stdint.h>
#include <stdlib.h>
/* add 1 to the shared vector in place (out 0 = its update); out 1 is a fresh copy */
int cg_run(void **in_data, const int64_t *in_shape, void **out_data, int64_t *out_shape,
           int *fail_node, char *err, int errlen)
{
    (void)fail_node; (void)err; (void)errlen;
    double *v = in_data[0];
    int64_t n = in_shape[0];
    double *copy = malloc(n > 0 ? (size_t)n * sizeof(double) : 1);
    if (!copy) return 4;
    for (int64_t k = 0; k < n; k++) copy[k] = v[k] * 10;
    for (int64_t k = 0; k < n; k++) v[k] += 1;
    out_data[0] = copy;
    out_shape[0] = n;
    out_data[1] = v;
    out_shape[1] = n;
    return 0;
}
void cg_free(void *p) { free(p); }
"""


def test_in_place_update_keeps_the_input_array():
    from cgraph import cache
    module = fastcall.extension()
    assert module is not None
    entry = cache.get_module(IN_PLACE_SOURCE, "in_place")
    lib = entry.lib
    address = lambda name: ctypes.cast(getattr(lib, name), ctypes.c_void_p).value
    value = np.arange(3.0)
    container = types.SimpleNamespace(value=value)
    caller = module.Caller(
        address("cg_run"), address("cg_free"), lib,
        ((fastcall._type_nums("float64"), 1, 0, True),), (), (container,), (),
        ((np.dtype("float64"), 1), (np.dtype("float64"), 1)), (container,), (0,),
        1, None, lambda *a: None, FALLBACK, 1 << 14)
    out = caller()
    assert out.tolist() == [0.0, 10.0, 20.0]
    assert container.value is value and value.tolist() == [1.0, 2.0, 3.0]
    value.flags.writeable = False           # never written: the Python path copies it
    assert caller() is FALLBACK and value.tolist() == [1.0, 2.0, 3.0]


# --- threads, references, memory --------------------------------------------------------------

def test_concurrent_calls_from_four_threads():
    x, y = T.dvector("x"), T.dvector("y")
    w = shared(np.full(3, 2.0), name="w")
    f = function([x, y], [T.exp(x) * y + w.sum(), x.sum()])

    def work(seed):
        rng = np.random.default_rng(seed)
        for n in [1, 3, 100, 50_000, 200_000] * 6:   # small: GIL held; large: released
            a, b = rng.standard_normal(n), rng.standard_normal(n)
            out, total = fast_only(f, a, b)
            np.testing.assert_allclose(out, np.exp(a) * b + 6.0, rtol=1e-10, atol=1e-10)
            np.testing.assert_allclose(total, a.sum(), rtol=1e-9)

    run_in_threads(work, 4)


@pytest.mark.slow   # many compiles: 3 s on 2 busy cores
def test_no_leak_over_10000_calls():
    x = T.dvector("x")
    d = T.dvector("d")
    w = shared(np.ones(20_000), name="w")       # read, not updated
    s = shared(np.zeros(20_000), name="s")      # updated every call
    f = function([x, In(d, value=np.ones(20_000))], [x * w + d, (x * 2).sum()],
                 updates=[(s, s + x)])
    value = np.ones(20_000)
    for _ in range(50):                # warm up allocator pools
        fast_only(f, value)
    gc.collect()
    refs = (sys.getrefcount(value), sys.getrefcount(w.get_value(borrow=True)),
            sys.getrefcount(f._state[1]))
    tracemalloc.start()
    first = tracemalloc.take_snapshot()
    rss = rss_bytes()
    for _ in range(10_000):
        out, total = fast_only(f, value)   # 160 KB out each call: freed when dropped
    del out, total
    gc.collect()
    grown = rss_bytes() - rss
    stats = tracemalloc.take_snapshot().compare_to(first, "lineno")
    tracemalloc.stop()
    assert sum(st.size_diff for st in stats) < 100_000, stats[:5]
    assert grown < 20 * 2**20, f"RSS grew by {grown / 2**20:.1f} MiB"
    assert refs == (sys.getrefcount(value), sys.getrefcount(w.get_value(borrow=True)),
                    sys.getrefcount(f._state[1]))
    old = s.get_value(borrow=True)
    fast_only(f, value)
    # only `old` and the argument hold it now (and the container, if updated in place)
    assert sys.getrefcount(old) == 2 + (s.get_value(borrow=True) is old)
    assert s.get_value()[0] == 10_051.0


def test_no_leak_on_errors_and_declined_calls():
    x, i = T.dvector("x"), T.lscalar("i")
    s = shared(np.zeros(3), name="s")
    f = function([x, i], x[i] * 2, updates=[(s, s + x)])
    value, index, strided = np.ones(3), np.array(7), np.ones(6)[::2]
    refs = lambda: [sys.getrefcount(v) for v in (value, index, strided, s.get_value(borrow=True))]
    before = refs()
    for _ in range(2000):
        with pytest.raises(IndexError):
            f(value, index)                       # fails in cg_run
        assert f._fast_call(strided, index) is FALLBACK
        assert f._fast_call(value) is FALLBACK    # missing argument
    gc.collect()
    assert refs() == before and s.get_value().tolist() == [0.0, 0.0, 0.0]


@pytest.mark.slow   # many compiles: 8 s on 2 busy cores
def test_functions_with_many_inputs_and_outputs():
    xs = [T.dvector(f"x{k}") for k in range(40)]
    outs = [x * k for k, x in enumerate(xs)] + [sum(xs[1:], xs[0])]
    f = function(xs, outs)
    values = [np.full(2, float(k)) for k in range(40)]
    got = fast_only(f, *values)
    assert len(got) == 41 and got[5].tolist() == [25.0, 25.0]
    assert got[-1].tolist() == [780.0, 780.0]


# --- without the extension, everything still works --------------------------------------------

def test_unbuildable_extension_falls_back_quietly(monkeypatch, caplog):
    from cgraph import cache
    monkeypatch.setattr(fastcall, "_extension", None)

    def broken():
        return cache.get_extension("this is not C;", "fastcall-broken")   # the compiler fails

    monkeypatch.setattr(fastcall, "_build_extension", broken)
    x = T.dvector("x")
    with caplog.at_level("DEBUG", logger="cgraph"):
        f = function([x], x * 3 + 1)
    assert f._fast_call is None
    assert "the C call path is unavailable (CompileError" in caplog.text
    assert f(np.ones(2)).tolist() == [4.0, 4.0]
    assert fastcall.extension() is None        # tried once per process, not at every function
    monkeypatch.setattr(fastcall, "_extension", None)
    monkeypatch.setattr(fastcall, "_build_extension", lambda: 1 / 0)
    g = function([x], x * 5)
    assert g._fast_call is None and g(np.ones(1)).tolist() == [5.0]


def test_extension_is_a_checked_cache_entry(fresh_cache, monkeypatch, no_prebuilt_units):
    from cgraph import cache
    entry = fastcall.extension_entry()          # built in the empty cache
    assert cache.extension_stats["builds"] == 1 and cache.stats["builds"] == 0
    assert os.path.basename(entry.module_path).startswith(cache.EXTENSION_NAME)
    assert hasattr(entry.module, "Caller") and entry.lib is None
    found = next(e for e in cache.iter_entries(fresh_cache) if e.folder == entry.path)
    assert cache.check_entry(found) == []
    assert found.build["material"]["extra"] == {"numpy": np.__version__}
    assert found.build["compiler_output"].strip() == ""     # no warning under -Wall
    assert sorted(os.listdir(entry.path)) == sorted(
        ["build.json", "module.c", os.path.basename(entry.module_path), "manifest.json",
         "last_used"])
    cache.forget_loaded()
    again = fastcall.extension_entry()           # a second process: found on disk
    assert again.path == entry.path
    assert cache.extension_stats["builds"] == 1 and cache.extension_stats["disk_hits"] == 1


@pytest.mark.parametrize("dtype", ["float64", "float32", "int8", "int16"])
def test_outputs_of_at_most_64_bytes_and_past_it_are_right_and_aligned(dtype):
    """Buffers of 64 bytes come from malloc, larger ones from aligned_alloc (runtime.c.j2's
    cg_system_alloc): outputs on both sides of that size, many times over (freed and reused
    by the allocator), hold the right values at their dtype's alignment, and a scalar too."""
    x = T.vector("x", dtype=dtype)
    f = function([x], [x * 2, T.sum(x)])
    itemsize = np.dtype(dtype).itemsize
    for n in sorted({1, 64 // itemsize - 1, 64 // itemsize, 64 // itemsize + 1, 3 * 64 // itemsize}):
        v = (np.arange(n) % 5 + 1).astype(dtype)
        kept = []
        for _ in range(50):
            doubled, total = f(v)
            assert doubled.dtype == dtype and doubled.shape == (n,)
            np.testing.assert_array_equal(doubled, v * 2)
            assert total == v.sum()
            assert doubled.ctypes.data % doubled.dtype.alignment == 0
            kept.append(doubled)      # some outputs alive while later calls allocate
            if len(kept) > 3:
                kept.pop(0)
        for k in kept:
            np.testing.assert_array_equal(k, v * 2)

"""nan_guard: the first NaN/Inf a float node produces (or a float input holds) raises
FloatingPointError naming the variable, the node, its op and the user's line, in both modes;
without it NaN and Inf propagate as in numpy."""
import os
import sys

import numpy as np
import pytest

import cgraph
import cgraph.tensor as T
from cgraph.config import _Config
from util import assert_clean_build

MODES = ("c", "py")


def here():
    """``file:line`` of the caller: where the expression on that line was built."""
    frame = sys._getframe(1)
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"


def guarded(inputs, outputs, **kwargs):
    """The function in both modes, with nan_guard; the C build must be warning-free."""
    fs = {mode: cgraph.function(inputs, outputs, mode=mode, nan_guard=True, **kwargs)
          for mode in MODES}
    assert_clean_build(fs["c"])
    return fs


def raised(f, *values):
    """The FloatingPointError message ``f(*values)`` raises."""
    with pytest.raises(FloatingPointError) as info:
        f(*values)
    return str(info.value)


def test_log_of_a_negative_number_names_node_op_variable_line_and_index():
    x = T.dmatrix("x")
    y = T.log(x); line = here()  # noqa: E702
    out = T.dot(y, y.T).sum()
    fs = guarded([x], out)
    ok = np.ones((2, 3))
    bad = ok.copy()
    bad[1, 2] = -1.0
    messages = set()
    for mode, f in fs.items():
        assert f(ok) == 0.0
        message = raised(f, bad)
        assert "NanGuard: the output log(x) of node 0 (Elemwise{log}) contains NaN at index " \
               "(1, 2)" in message, (mode, message)
        assert f"built at {line}" in message
        messages.add(message)
    assert len(messages) == 1     # the same text in both modes


def test_zero_by_zero_and_int_true_division():
    x, y = T.dvectors("x", "y")
    i, j = T.lvectors("i", "j")
    q = x / y; line = here()  # noqa: E702
    r = i / j                 # int / int is float64: guarded
    fs = guarded([x, y, i, j], [q, r])
    for f in fs.values():
        got = f(np.array([1.0, 2.0]), np.array([2.0, 4.0]), np.array([3, 4]), np.array([1, 2]))
        np.testing.assert_array_equal(got[0], [0.5, 0.5])
        message = raised(f, np.array([1.0, 0.0]), np.array([2.0, 0.0]), np.array([1]),
                         np.array([1]))
        assert "contains NaN at index (1,)" in message and f"built at {line}" in message
        message = raised(f, np.ones(1), np.ones(1), np.array([0, 1]), np.array([0, 1]))
        assert "the output true_div(i, j) of node 1 (Elemwise{true_div}) contains NaN at " \
               "index (0,)" in message, message


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_exp_overflow_is_inf_and_log_of_zero_is_minus_inf(dtype):
    x = T.vector("x", dtype=dtype)
    e = T.exp(x); e_line = here()  # noqa: E702
    lg = T.log(x); lg_line = here()  # noqa: E702
    fs = guarded([x], [e, lg])
    big = 1000.0 if dtype == "float64" else 100.0
    for f in fs.values():
        message = raised(f, np.array([1.0, 2.0, big], dtype=dtype))
        assert "exp(x)" in message and "contains Inf at index (2,)" in message
        assert f"built at {e_line}" in message
        message = raised(f, np.array([1.0, 0.0], dtype=dtype))
        assert "log(x)" in message and "contains -Inf at index (1,)" in message
        assert f"built at {lg_line}" in message


@pytest.mark.slow   # many compiles: 2 s on 2 busy cores
def test_inf_minus_inf_in_the_middle_of_a_graph():
    x = T.dvector("x")
    w = T.dmatrix("w")
    h = T.exp(x)
    d = h - h; d_line = here()  # noqa: E702  (fused with exp: the Inf never materialises)
    out = T.tanh(T.dot(w, d)).sum()
    fs = guarded([x, w], out)
    for f in fs.values():
        assert f(np.zeros(3), np.ones((2, 3))) == 0.0
        message = raised(f, np.array([0.0, 800.0, 1.0]), np.ones((2, 3)))
        assert "contains NaN at index (1,)" in message and f"built at {d_line}" in message
    # when exp's result is materialised (also an output), its Inf is reported first
    fs = guarded([x, w], [out, h])
    for f in fs.values():
        message = raised(f, np.array([0.0, 800.0, 1.0]), np.ones((2, 3)))
        assert "exp(x)" in message and "contains Inf at index (1,)" in message


def test_float_inputs_are_checked_and_updates_are_not_written():
    x = T.dvector("x")
    acc = cgraph.shared(np.zeros(2), name="acc")
    count = cgraph.shared(np.int64(0), name="count")
    for mode in MODES:
        f = cgraph.function([x], x.sum(), updates=[(acc, acc + x), (count, count + 1)],
                            mode=mode, nan_guard=True)
        f(np.ones(2))
        message = raised(f, np.array([1.0, np.nan]))
        assert message.startswith("NanGuard: the input x contains NaN at index (1,)")
        assert "Apply node" not in message       # no node to blame
        message = raised(f, np.array([-np.inf, 1.0]))
        assert "the input x contains -Inf at index (0,)" in message
        np.testing.assert_array_equal(acc.get_value(), [1.0, 1.0])
        assert count.get_value() == 1
        acc.set_value(np.zeros(2))
        count.set_value(np.int64(0))


def test_strided_views_report_the_index_in_the_view():
    # constants are not inputs, so a strided view of one is where the NaN is first seen
    data = np.arange(24.0).reshape(4, 6)
    data[2, 5] = np.nan
    c = T.constant(data)
    k = T.lscalar("k")
    v = c[1:, k::2]; line = here()  # noqa: E702
    fs = guarded([k], v * 2)
    for f in fs.values():
        np.testing.assert_array_equal(f(0), data[1:, 0::2] * 2)
        message = raised(f, 1)
        assert "contains NaN at index (1, 2)" in message and f"built at {line}" in message
        assert "Subtensor" in message


def test_integer_graphs_are_untouched():
    i, j = T.lvectors("i", "j")
    b = T.bvector("b")
    outs = [i // j, (i * 3) % 7, (b + i).sum(), T.lt(i, j)]
    plain = cgraph.function([i, j, b], outs)
    guard = cgraph.function([i, j, b], outs, nan_guard=True)
    assert guard.c_source == plain.c_source and guard.cache_key == plain.cache_key
    values = [np.array([7, -3]), np.array([2, 2]), np.array([1, 2], dtype="int8")]
    for g, p in zip(guard(*values), plain(*values)):
        np.testing.assert_array_equal(g, p)
    for mode in MODES:
        f = cgraph.function([i, j, b], outs, mode=mode, nan_guard=True)
        with pytest.raises(ZeroDivisionError):
            f(np.array([1]), np.array([0]), np.array([1], dtype="int8"))
    # max_and_argmax: its float max is checked, its int64 argmax is not
    x = T.dmatrix("x")
    fs = guarded([x], list(T.max_and_argmax(x, axis=1)))
    body = fs["c"].c_source.split("int cg_run")[1]
    assert body.count("cg_first_nonfinite(") == 2      # the input x and the max
    for f in fs.values():
        values, positions = f(np.array([[1.0, 3.0], [5.0, 2.0]]))
        np.testing.assert_array_equal(values, [3.0, 5.0])
        np.testing.assert_array_equal(positions, [1, 0])


def test_guarded_module_is_another_module():
    x = T.dvector("x")
    plain = cgraph.function([x], T.log(x))
    guard = cgraph.function([x], T.log(x), nan_guard=True)
    assert guard.cache_key != plain.cache_key
    assert "cg_first_nonfinite" in guard.c_source
    assert "cg_first_nonfinite(" not in plain.c_source.split("int cg_run")[1]


@pytest.mark.filterwarnings("ignore:invalid value encountered")
@pytest.mark.slow   # many compiles: 3 s on 2 busy cores
def test_without_nan_guard_nan_and_inf_propagate_as_in_numpy():
    x, y = T.dvectors("x", "y")
    outs = [T.log(x), x / y, T.exp(x * 1000) - T.exp(x * 1000), T.dot(T.log(x), y)]
    vx, vy = np.array([-1.0, 0.0, 2.0]), np.array([0.0, 0.0, 1.0])
    with np.errstate(all="ignore"):
        expected = [np.log(vx), vx / vy, np.exp(vx * 1000) - np.exp(vx * 1000),
                    np.dot(np.log(vx), vy)]
    for mode in MODES:
        got = cgraph.function([x, y], outs, mode=mode)(vx, vy)
        for g, e in zip(got, expected):
            np.testing.assert_array_equal(g, e)     # NaN where NaN, Inf where Inf
        with pytest.raises(FloatingPointError):
            cgraph.function([x, y], outs, mode=mode, nan_guard=True)(vx, vy)


def test_config_flag(monkeypatch):
    monkeypatch.setenv("CGRAPH_FLAGS", "nan_guard=True")
    assert _Config().nan_guard is True
    monkeypatch.setenv("CGRAPH_FLAGS", "")
    assert _Config().nan_guard is False
    x = T.dvector("x")
    monkeypatch.setattr(cgraph.config, "nan_guard", True)
    for mode in MODES:
        with pytest.raises(FloatingPointError, match="log"):
            cgraph.function([x], T.log(x), mode=mode)(np.array([-1.0]))
        # an explicit nan_guard=False wins over the flag
        out = cgraph.function([x], T.log(x), mode=mode, nan_guard=False)(np.array([-1.0]))
        assert np.isnan(out).all()


def test_environment_flag_in_a_fresh_process():
    import subprocess
    code = ("import numpy as np, cgraph, cgraph.tensor as T\n"
            "x = T.dvector('x')\n"
            "f = cgraph.function([x], T.sqrt(x), mode='py')\n"
            "try:\n    f(np.array([4.0, -1.0]))\nexcept FloatingPointError as e:\n"
            "    print('raised', e)\n")
    env = dict(os.environ, CGRAPH_FLAGS="nan_guard=True")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True).stdout
    assert out.startswith("raised NanGuard: the output sqrt(x)") and "NaN at index (1,)" in out

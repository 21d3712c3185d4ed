"""The runtime's advanced-indexing driver (cg_advanced_index) against numpy: full axes before,
between and after the indexed ones, 0- and 1-length axes, every integer index dtype,
repeated indices accumulating, and the out-of-range message naming the variable."""
import numpy as np
import pytest

import cgraph
import cgraph.tensor as T
from util import assert_same, check, check_error

rng = np.random.default_rng(3)


@pytest.mark.parametrize("shape", [(3, 4, 5), (1, 4, 1), (3, 0, 5), (0, 4, 5)])
def test_read_with_full_axes_around_the_indices(shape):
    x = T.dtensor3("x")
    iv = T.lvector("iv")
    outs = [x[:, iv], x[iv, :, :], x[:, :, iv[:1]], x[iv[:, None], :, iv[:1]]]
    value = rng.normal(size=shape)
    # in range of every axis; none when an axis is empty (then the results are empty)
    idx = np.array([0, -1, 0]) if min(shape) else np.zeros(0, "int64")
    expected = [value[:, idx], value[idx], value[:, :, idx[:1]],
                value[idx[:, None], :, idx[:1]]]
    check([x, iv], outs, [value, idx], expected=expected)


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int16", "int32", "int64"])
def test_every_index_dtype_reads_and_increments(dtype):
    x = T.fmatrix("x")
    iv = T.vector("iv", dtype=dtype)
    y = T.fvector("y")
    value = rng.normal(size=(4, 3)).astype("float32")
    idx = np.array([2, 0, 2], dtype=dtype)        # repeated: accumulates as np.add.at
    yv = np.array([1.5, -2.0, 4.0], dtype="float32")
    inc = value.copy()
    np.add.at(inc, (idx, 1), yv)
    check([x, iv, y], [x[iv], T.inc_subtensor(x[iv, 1], y), T.set_subtensor(x[iv, 2], y)],
          [value, idx, yv], expected=[value[idx], inc, _set(value, (idx, 2), yv)])


def _set(value, index, y):
    out = value.copy()
    out[index] = y
    return out


def test_increment_broadcasts_y_over_full_axes_and_one_length_axes():
    x = T.dtensor3("x")
    iv = T.lvector("iv")
    y = T.dmatrix("y")
    value = rng.normal(size=(2, 3, 4))
    idx = np.array([1, 1, 0])
    for yv in [np.ones((1, 4)), rng.normal(size=(3, 1)), rng.normal(size=(3, 4))]:
        out = value.copy()
        np.add.at(out, (slice(None), idx), np.broadcast_to(yv, (2, 3, 4)))
        check([x, iv, y], T.inc_subtensor(x[:, iv], y), [value, idx, yv], expected=out)


def test_int_and_bool_elements():
    xi = T.lmatrix("xi")
    xb = T.bmatrix("xb")
    iv = T.lvector("iv")
    vi = np.arange(12).reshape(3, 4)
    vb = (vi % 3).astype("int8")
    idx = np.array([3, 3, 0])
    out = vi.copy()
    np.add.at(out, (slice(None), idx), 5)
    check([xi, xb, iv], [xi[:, iv], T.inc_subtensor(xi[:, iv], 5), xb[1, iv]],
          [vi, vb, idx], expected=[vi[:, idx], out, vb[1, idx]])


def test_out_of_range_names_the_variable_even_over_an_empty_full_axis():
    x = T.dmatrix("x")
    iv = T.lvector("iv")
    y = T.dmatrix("y")
    check_error([x, iv], x[iv], [np.zeros((4, 3)), np.array([0, 9])], IndexError,
                "index 9 is out of bounds for axis 0 of x with size 4")
    check_error([x, iv], x[iv, :], [np.zeros((4, 0)), np.array([-5])], IndexError,
                "index -5 is out of bounds for axis 0 of x with size 4")
    check_error([x, iv, y], T.inc_subtensor(x[:, iv], y),
                [np.zeros((2, 3)), np.array([1, 3]), np.ones((2, 2))], IndexError,
                "index 3 is out of bounds for axis 1 of x with size 3")


def test_the_module_calls_the_driver():
    x = T.dmatrix("x")
    iv = T.lvector("iv")
    f = cgraph.function([x, iv], [x[iv, iv], T.inc_subtensor(x[iv, iv], 1.0)])
    run = f.c_source.split("int cg_run(")[1]
    assert run.count("cg_advanced_index(") == 2
    assert "cg_given" not in run        # no index loop written out in the module
    got = f(np.zeros((3, 3)), np.array([0, 2, 2]))
    assert_same(got[0], np.zeros(3))
    assert_same(got[1], np.diag([1.0, 0.0, 2.0]))


def test_a_value_that_does_not_broadcast_into_the_region_names_both_variables():
    x = T.dtensor3("x")
    iv = T.lvector("iv")
    y = T.dmatrix("y")
    for out in [T.inc_subtensor(x[:, iv], y), T.set_subtensor(x[:, iv], y)]:
        check_error([x, iv, y], out, [np.zeros((2, 3, 4)), np.array([0, 1]), np.ones((3, 4))],
                    ValueError, r"cannot write y of shape \(3, 4\) into the region of x of "
                                r"shape \(2, 2, 4\): the shapes do not broadcast")


def test_an_integer_index_is_checked_when_the_index_arrays_are_empty():
    """numpy checks the 0-d index arrays even when the broadcast shape is empty (no loop
    reads them): the runtime's driver does it before its loops, reading and writing."""
    x = T.dmatrix("x")
    i, iv = T.lscalar("i"), T.lvector("iv")
    y = T.dvector("y")
    empty = np.zeros(0, "int64")
    check_error([x, i, iv], x[i, iv], [np.zeros((4, 3)), np.array(7), empty], IndexError,
                "index 7 is out of bounds for axis 0 of x with size 4")
    check_error([x, i, iv, y], T.set_subtensor(x[iv, i], y),
                [np.zeros((4, 3)), np.array(-4), empty, np.zeros(0)], IndexError,
                "index -4 is out of bounds for axis 1 of x with size 3")
    got = check([x, i, iv], [x[i, iv], x[iv, i]], [np.ones((4, 3)), np.array(-1), empty])
    assert [g.shape for g in got] == [(0,), (0,)]


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "int8", "bool"])
@pytest.mark.parametrize("n", [0, 1, 600])
def test_picks_of_single_elements_over_several_chunks(dtype, n):
    # every axis indexed (a softmax's picked entries p[arange(n), y] and their gradient):
    # the driver's element path, which goes by chunks of 256 picks
    x = T.matrix("x", dtype=dtype)
    rows = T.lvector("rows")
    cols = T.lvector("cols")
    y = T.vector("y", dtype=dtype)
    value = (rng.normal(size=(n + 3, 5)) * 4).astype(dtype)
    rv = rng.integers(-(n + 3), n + 3, size=n)        # negative ones too, repeated ones
    cv = rng.integers(0, 5, size=n)
    yv = (rng.normal(size=n) * 4).astype(dtype)
    inc = value.copy()
    np.add.at(inc, (rv, cv), yv)
    one = value.copy()
    np.add.at(one, (rv, cv), yv[:1] if n else yv)
    check([x, rows, cols, y],
          [x[rows, cols], T.inc_subtensor(x[rows, cols], y),
           T.inc_subtensor(x[rows, cols], y[:1] if n else y),
           T.set_subtensor(x[rows[::-1], cols[::-1]], y[::2].repeat(2)[:n])],
          [value, rv, cv, yv],
          expected=[value[rv, cv], inc, one,
                    _set(value, (rv[::-1], cv[::-1]), yv[::2].repeat(2)[:n])])


def test_a_pick_out_of_range_past_the_first_chunk_names_the_variable():
    x = T.dmatrix("x")
    iv = T.lvector("iv")
    idx = np.zeros(600, "int64")
    idx[400] = 7
    check_error([x, iv], x[iv, iv], [np.zeros((4, 4)), idx], IndexError,
                "index 7 is out of bounds for axis 0 of x with size 4")
    check_error([x, iv], T.inc_subtensor(x[iv, iv], 1.0), [np.zeros((4, 4)), idx], IndexError,
                "index 7 is out of bounds for axis 0 of x with size 4")

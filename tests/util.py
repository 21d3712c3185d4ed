"""Helpers for tests: run a graph in C and in the numpy reference mode and compare."""
import importlib.util
import json
import os
import pathlib
import sys

import numpy as np

import cgraph

TOLERANCE = {"float64": 1e-10, "float32": 2e-5}


def assert_same(c_value, ref_value, dtype=None, rtol=None, what="output"):
    """C result equals the reference: dtype, shape and values (NaN where NaN)."""
    c_value, ref_value = np.asarray(c_value), np.asarray(ref_value)
    assert c_value.dtype == ref_value.dtype, f"{what}: dtype {c_value.dtype} != {ref_value.dtype}"
    assert c_value.shape == ref_value.shape, f"{what}: shape {c_value.shape} != {ref_value.shape}"
    if c_value.dtype.kind == "f":
        tol = rtol if rtol is not None else TOLERANCE[c_value.dtype.name]
        np.testing.assert_allclose(c_value, ref_value, rtol=tol, atol=tol, equal_nan=True,
                                   err_msg=what)
    else:
        np.testing.assert_array_equal(c_value, ref_value, err_msg=what)


def assert_clean_build(f):
    """The module of ``f`` compiled without any compiler warning."""
    with open(os.path.join(os.path.dirname(f.module_path), "build.json")) as fh:
        build = json.load(fh)
    assert build["compiler_output"].strip() == "", build["compiler_output"]


def check(inputs, outputs, values, rtol=None, expected=None, **kwargs):
    """Compile ``outputs`` in C and in py mode, call both with ``values``, compare.

    ``expected`` (optional) is compared with the reference too, e.g. a direct numpy
    computation. Returns the C results (a list).
    """
    single = not isinstance(outputs, (list, tuple))
    outs = [outputs] if single else list(outputs)
    f_c = cgraph.function(inputs, outs, mode="c", **kwargs)
    f_py = cgraph.function(inputs, outs, mode="py", **kwargs)
    got = f_c(*values)
    ref = f_py(*values)
    assert_clean_build(f_c)
    for k, (g, r) in enumerate(zip(got, ref)):
        assert_same(g, r, rtol=rtol, what=f"output {k}")
    if expected is not None:
        expected = [expected] if single else expected
        for k, (r, e) in enumerate(zip(ref, expected)):
            assert_same(r, np.asarray(e), rtol=rtol, what=f"reference output {k} vs expected")
    return got


def check_error(inputs, outputs, values, exc_type, match=None, **kwargs):
    """Both modes raise ``exc_type`` (message matching ``match``) for these values."""
    import pytest
    for mode in ("c", "py"):
        f = cgraph.function(inputs, outputs, mode=mode, **kwargs)
        with pytest.raises(exc_type, match=match):
            f(*values)


def strided_variants(array):
    """The same values as a contiguous, a non-contiguous and a negative-stride array."""
    array = np.asarray(array)
    yield array
    if array.ndim >= 1 and array.size > 0:
        wide = np.zeros(array.shape[:-1] + (array.shape[-1] * 2,), dtype=array.dtype)
        wide[..., ::2] = array
        yield wide[..., ::2]
        flipped = np.ascontiguousarray(array[..., ::-1])
        yield flipped[..., ::-1]


# --- the tanh RNN in numpy: the reference of the scan tests ---------------------------------

def rnn_scan(x, h0, W, U, b, **kwargs):
    """The hidden states of the tanh RNN h_t = tanh(x_t W + h_{t-1} U + b), by scan."""
    import cgraph.tensor as T
    h, _ = cgraph.scan(lambda xt, hp, W, U, b: T.tanh(T.dot(xt, W) + T.dot(hp, U) + b),
                       sequences=x, outputs_info=h0, non_sequences=[W, U, b], **kwargs)
    return h


def numpy_rnn(xv, h0v, Wv, Uv, bv):
    """The hidden states of the tanh RNN h_t = tanh(x_t W + h_{t-1} U + b), in numpy."""
    hs, h = [], h0v
    for t in range(len(xv)):
        h = np.tanh(xv[t] @ Wv + h @ Uv + bv)
        hs.append(h)
    return np.array(hs)


def numpy_bptt(xv, h0v, Wv, Uv, bv, G, truncate=-1):
    """Gradients of sum(G * h) for the tanh RNN, the last ``truncate`` steps only."""
    hs = [h0v] + list(numpy_rnn(xv, h0v, Wv, Uv, bv))
    grads = [np.zeros_like(v) for v in (xv, h0v, Wv, Uv, bv)]
    gx, gh0, gW, gU, gb = grads
    n = len(xv)
    first = 0 if truncate == -1 else max(n - truncate, 0)
    carry = np.zeros_like(h0v)
    for t in reversed(range(first, n)):
        gpre = (G[t] + carry) * (1 - hs[t + 1] ** 2)
        gW += xv[t].T @ gpre
        gU += hs[t].T @ gpre
        gb += gpre.sum(axis=0)
        gx[t] = gpre @ Wv.T
        carry = gpre @ Uv.T
    if first == 0:
        gh0 += carry
    return grads


def run_in_threads(work, n):
    """Run ``work(k)`` for k in range(n) on n threads at once; raise the first error."""
    import threading
    errors = []

    def guarded(k):
        try:
            work(k)
        except Exception as exc:   # noqa: BLE001 - raised below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def load_example(name):
    """examples/<name>.py as a module (the examples import their neighbours, digits, layers
    and training, from their own folder)."""
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    spec = importlib.util.spec_from_file_location(f"cgraph_example_{name}",
                                                  EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def binomial_loop(u, n, p):
    """Binomial draws from uniforms ``u`` (last axis: the trials), one sample at a time."""
    out = np.zeros(u.shape[:-1], dtype=np.int64)
    n, p = np.broadcast_to(n, out.shape), np.broadcast_to(p, out.shape)
    for i in np.ndindex(out.shape):
        out[i] = sum(u[i + (j,)] < p[i] for j in range(n[i]))
    return out

"""Pickling, deep-copying and copying compiled functions."""
import copy
import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import cgraph
import cgraph.tensor as T
from cgraph import In


def training_function(mode="c"):
    x = T.dmatrix("x")
    y = T.lvector("y")
    W = cgraph.shared(np.linspace(-1, 1, 6).reshape(3, 2), name="W")
    b = cgraph.shared(np.zeros(2), name="b")
    p = T.nnet.softmax(T.dot(x, W) + b)
    cost = -T.mean(T.log(p)[T.arange(y.shape[0]), y])
    gW, gb = T.grad(cost, [W, b])
    f = cgraph.function([x, y], cost, updates=[(W, W - 0.5 * gW), (b, b - 0.5 * gb)],
                        name="train", mode=mode)
    return f, W, b


X = np.array([[0.1, 0.2, 0.3], [1.0, -1.0, 0.5], [0.0, 0.3, -0.2], [0.4, 0.4, 0.4]])
Y = np.array([0, 1, 1, 0])


class Model:
    """A user object holding compiled functions and their shared variables."""

    def __init__(self):
        self.train, self.W, self.b = training_function()


@pytest.mark.parametrize("mode", ["c", "py"])
@pytest.mark.slow   # many compiles: 2 s on 2 busy cores
def test_pickled_function_gives_the_same_results_and_carries_its_shared_state(mode):
    f, W, b = training_function(mode)
    f(X, Y)
    g = pickle.loads(pickle.dumps(f))
    assert g.name == "train" and g.mode == mode
    np.testing.assert_allclose(g(X, Y), f(X, Y))
    # the copy updates its own shared variables, the original's are untouched by it
    before = W.get_value()
    g(X, Y)
    np.testing.assert_array_equal(W.get_value(), before)


def test_objects_holding_functions_pickle_with_linked_state():
    m = Model()
    m2 = pickle.loads(pickle.dumps(m))
    m2.train(X, Y)
    assert not np.allclose(m2.W.get_value(), m.W.get_value())
    before = m2.W.get_value()
    m2.train(X, Y)
    assert not np.allclose(m2.W.get_value(), before)   # the function updates m2.W itself


@pytest.mark.slow   # many compiles: 4 s on 2 busy cores
def test_deepcopy_and_copy():
    f, W, b = training_function()
    g = copy.deepcopy(f)
    np.testing.assert_allclose(g(X, Y), f(X, Y))
    h = f.copy(delete_updates=True)
    before = W.get_value()
    h(X, Y)
    np.testing.assert_array_equal(W.get_value(), before)
    assert h.name == "train copy"
    W2 = cgraph.shared(np.zeros((3, 2)), name="W2")
    s = f.copy(swap={W: W2})
    s(X, Y)
    assert np.abs(W2.get_value()).sum() > 0
    np.testing.assert_array_equal(W.get_value(), before)
    with pytest.raises(ValueError, match="not found"):
        f.copy(swap={cgraph.shared(np.zeros(2)): W2})
    with pytest.raises(TypeError, match="type"):
        f.copy(swap={W: cgraph.shared(np.zeros(3))})


def test_state_of_in_update_survives_pickling():
    x, s = T.dscalar("x"), T.dscalar("s")
    acc = cgraph.function([x, In(s, update=s + x, value=0.0)], s + 0)
    acc(2.0)
    acc2 = pickle.loads(pickle.dumps(acc))
    assert float(acc2(1.0)) == 2.0 and float(acc2(1.0)) == 3.0


@pytest.mark.slow   # a program in another process: 6 s on 2 busy cores
def test_pickled_function_loads_in_a_fresh_process_without_compiling(tmp_path):
    f, W, b = training_function()
    path = tmp_path / "train.pkl"
    with open(path, "wb") as fh:
        pickle.dump(f, fh)
    expected = float(f(X, Y))
    program = textwrap.dedent(f"""
        import pickle, numpy as np
        from cgraph import cache
        f = pickle.load(open({str(path)!r}, "rb"))
        X = np.array({X.tolist()!r}); Y = np.array({Y.tolist()!r})
        print(float(f(X, Y)), cache.stats["builds"])
    """)
    out = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                         env=dict(os.environ), timeout=120)
    assert out.returncode == 0, out.stderr
    value, builds = out.stdout.split()
    assert float(value) == pytest.approx(expected) and int(builds) == 0


def test_nan_guard_survives_pickling_and_copy():
    x = T.dvector("x")
    f = cgraph.function([x], T.log(x), nan_guard=True)
    for g in (pickle.loads(pickle.dumps(f)), f.copy()):
        with pytest.raises(FloatingPointError):
            g(np.array([-1.0]))

"""Theano programs port by changing the imports: the modules and names they use exist, and
names cgraph does not support say so."""
import numpy as np
import pytest


def test_theano_imports_resolve():
    import cgraph
    import cgraph.tensor as T
    from cgraph import In, Out, config, function, scan, shared  # noqa: F401
    from cgraph.compile.io import In as In2, Out as Out2  # noqa: F401
    from cgraph.gradient import grad, verify_grad, jacobian, hessian  # noqa: F401
    from cgraph.printing import debugprint, pydotprint, pprint  # noqa: F401
    from cgraph.sandbox.rng_mrg import MRG_RandomStreams  # noqa: F401
    from cgraph.tensor.nnet import (binary_crossentropy, categorical_crossentropy,  # noqa: F401
                                    conv2d, relu, sigmoid, softmax, softplus)
    from cgraph.tensor.shared_randomstreams import RandomStreams  # noqa: F401
    from cgraph.tensor.signal import pool  # noqa: F401
    from cgraph.tensor.signal.pool import pool_2d  # noqa: F401
    assert T.nnet.sigmoid is sigmoid and T.sigmoid is sigmoid
    assert cgraph.tensor.grad is cgraph.grad is grad
    assert config.floatX in ("float32", "float64")
    for name in ("dmatrix", "fvector", "lscalar", "ivector", "bmatrix", "switch", "cast",
                 "clip", "sqr", "dot", "concatenate", "stack", "arange", "alloc", "zeros_like",
                 "ones_like", "fill", "set_subtensor", "inc_subtensor", "grad", "swapaxes",
                 "squeeze", "arcsinh", "gammaln", "largest", "isclose", "as_tensor", "iround"):
        assert hasattr(T, name), name


def test_small_additions_match_numpy():
    import cgraph
    import cgraph.tensor as T
    x = T.dmatrix("x")
    f = cgraph.function([x], [T.swapaxes(x, 0, 1), T.arcsinh(x), T.arctanh(x * 0.5),
                              T.gammaln(x + 2), T.largest(x, 0.5, -x), T.isclose(x, 0.25),
                              T.iround(x * 3)])
    v = np.array([[0.25, -0.5], [0.75, 1.0]])
    import scipy.special
    outs = f(v)
    expected = [v.T, np.arcsinh(v), np.arctanh(v * 0.5), scipy.special.gammaln(v + 2),
                np.maximum(np.maximum(v, 0.5), -v), np.isclose(v, 0.25), np.round(v * 3)]
    for o, e in zip(outs, expected):
        np.testing.assert_allclose(o, e, rtol=1e-12)
    assert T.squeeze(T.row()).ndim == 1
    with pytest.raises(ValueError, match="not broadcastable"):
        T.squeeze(T.matrix(), axis=0)


def test_unsupported_theano_names_say_so():
    import cgraph
    import cgraph.tensor as T
    from cgraph.unsupported import NotSupportedError
    with pytest.raises(NotSupportedError, match="fft exists in Theano but is not supported"):
        T.fft
    with pytest.raises(NotSupportedError, match="ctc"):
        T.nnet.ctc
    with pytest.raises(AttributeError, match="no attribute 'not_a_theano_name'"):
        T.not_a_theano_name
    assert not hasattr(T, "histogram")   # still an AttributeError for hasattr

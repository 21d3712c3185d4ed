"""Conv2d and its gradients, pooling of float arrays and Reshape run in the runtime library
(templates/ops/conv_driver.c.j2, pool_driver.c.j2, reshape_driver.c.j2): a module's block of
such a node is one call with its geometry and labels. Values against the numpy reference;
messages as the reference's, labels holding printf's % and C's quote included."""
import re

import numpy as np
import pytest

import cgraph
import cgraph.tensor as T
from cgraph.tensor.signal.pool import MaxPoolGrad, pool_2d, pool_3d
from util import check, check_error


def random(shape, dtype="float64", seed=0):
    return np.random.RandomState(seed).uniform(-1, 1, size=shape).astype(dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_lenet_layer_blocks_are_runtime_calls(dtype):
    x, w = T.tensor4("x", dtype=dtype), T.tensor4("w", dtype=dtype)
    y = T.tanh(pool_2d(T.nnet.conv2d(x, w, border_mode="half"), (2, 2), ignore_border=True))
    cost = (y.reshape((y.shape[0], -1)) ** 2).sum()
    outs = [y] + T.grad(cost, [x, w])
    check([x, w], outs, [random((3, 2, 6, 6), dtype), random((4, 2, 3, 3), dtype, 1)])
    source = cgraph.function([x, w], outs).c_source
    p = "s" if dtype == "float32" else "d"
    for call in ("conv2d", "conv2d_grad_inputs", "conv2d_grad_weights", "pool_node",
                 "max_pool_grad_node"):
        assert f"cg_{p}{call}(" in source, call
    assert "cg_reshape_node(" in source
    # the loops stay in the runtime: no im2col, no BLAS call of the module's own
    assert "im2col" not in source and f"cg_{p}gemm(" not in source


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_3d_and_padded_float_pooling(dtype):
    x = T.tensor5("x", dtype=dtype)
    values = [random((2, 1, 3, 4, 5), dtype)]
    for mode in ("max", "sum", "average_inc_pad", "average_exc_pad"):
        out = pool_3d(x, (2, 2, 3), ignore_border=True, pad=(1, 0, 1), mode=mode)
        check([x], [out, T.grad(out.sum(), x)], values)
    # 0-length and 1-length pooled axes
    out = pool_2d(T.tensor4("y", dtype=dtype), (1, 2), ignore_border=False)
    for shape in [(2, 3, 0, 4), (1, 1, 1, 1), (0, 2, 3, 3)]:
        y = out.owner.inputs[0]
        check([y], [out, T.grad(out.sum(), y)], [random(shape, dtype)])


def test_labels_with_percent_signs_and_quotes():
    x, w = T.tensor4('x%d"'), T.tensor4("w%s")
    out = T.nnet.conv2d(x, w)
    check_error([x, w], out, [random((1, 3, 5, 5)), random((2, 2, 3, 3))], ValueError,
                re.escape('input x%d" has shape (1, 3, 5, 5) and filters w%s has shape '
                          '(2, 2, 3, 3): the input has 3 channels'))
    gx = T.grad(out.sum(), x)
    check_error([x, w], gx, [random((1, 3, 5, 5)), random((2, 2, 3, 3))], ValueError,
                re.escape('filters w%s has shape (2, 2, 3, 3)'))
    m, gz = T.matrix("m%%"), T.matrix("g%z")
    grad = MaxPoolGrad(False)(T.matrix("x%"), m, gz, (2, 2))
    check_error(list(grad.owner.inputs[:3]), grad,
                [np.zeros((4, 5)), np.zeros((2, 2)), np.zeros((2, 3))], ValueError,
                re.escape("the pooled output m%% has shape (2, 2), but pooling x% of shape"))
    v, s = T.vector("v%i"), T.lvector("s")
    out = v.reshape(s, ndim=3)
    check_error([v, s], out, [np.zeros(6), np.array([3, -1, -1])], ValueError,
                re.escape("cannot reshape v%i into shape (3, -1, -1): only one dimension"))
    check_error([v, s], out, [np.zeros(6), np.array([4, 2, 1])], ValueError,
                re.escape("cannot reshape v%i of shape (6,) into shape (4, 2, 1)"))
    check_error([v, s], out, [np.zeros(6), np.array([4, 2])], ValueError,
                re.escape("the new shape of v%i has 2 entries, but 3 were declared"))
    check([v, s], out, [np.arange(6.0)[::-1], np.array([3, -1, 1])])   # -1 inferred

"""Local rewrites: each takes an Apply node and returns replacement outputs or None."""
import numpy as np

from ..graph.basic import Constant
from ..tensor.var import TensorConstant

FOLD_LIMIT = 1 << 16   # elements; larger results stay computed at run time


def constant_folding(node):
    """A node whose inputs are all constants becomes constants, computed once with numpy.

    A node whose computation fails (say an integer division by zero) is left alone, so the
    error appears at call time with the usual message.
    """
    if not node.inputs or not all(isinstance(v, Constant) for v in node.inputs):
        return None
    if not node.op.foldable:
        return None
    try:
        with np.errstate(all="ignore"):
            values = node.op.perform(node, [v.data for v in node.inputs])
    except Exception:
        return None
    result = []
    for var, value in zip(node.outputs, values):
        value = np.asarray(value)
        if value.size > FOLD_LIMIT or value.dtype.name != var.dtype:
            return None
        data = np.array(value, order="C", copy=True)
        data.setflags(write=False)
        result.append(TensorConstant(var.type, data, name=var.name))
    return result

"""The tensor namespace, imported by users as ``import cgraph.tensor as T``."""
from .type import TensorType  # noqa: F401
from ..graph.basic import Variable  # noqa: F401  (theano.tensor.Variable, the base class)
from .nonzero_ops import flatnonzero, nonzero, nonzero_values  # noqa: F401
from .var import TensorConstant, TensorVariable, as_tensor_variable, constant  # noqa: F401
from .constructors import *  # noqa: F401,F403
from .basic import *  # noqa: F401,F403
from .basic import abs_, all, any, max, min, pow, round, sum  # noqa: F401  (shadow builtins)
from .basic import sqr as square  # noqa: F401  (Theano's other name for sqr)
from .subtensor import *  # noqa: F401,F403
from . import nnet  # noqa: F401,E402
from .nnet import sigmoid, softplus  # noqa: F401
from ..gradient import grad, Lop, Rop, verify_grad  # noqa: F401,E402  (theano.tensor.grad)


def __getattr__(name):
    from ..unsupported import lookup
    return lookup("cgraph.tensor", name)
from . import signal  # noqa: F401,E402  (T.signal.pool, as after import theano.tensor)

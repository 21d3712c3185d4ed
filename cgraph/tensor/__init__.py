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
from .tensordot import batched_dot, batched_tensordot, tensordot  # noqa: F401
from . import nnet  # noqa: F401,E402
from . import xlogx  # noqa: F401,E402  (T.xlogx.xlogx, T.xlogx.xlogy0, as Theano)
from .nnet import sigmoid, softplus  # noqa: F401
from .gradient_views import consider_constant  # noqa: F401,E402  (as Theano's T)
# T.grad, T.Lop, T.Rop, T.verify_grad, T.jacobian, T.hessian are put here by cgraph.gradient,
# which is above this package (gradients are built of its ops)
from .. import unsupported as _unsupported  # noqa: E402  (the namespace's __getattr__)


def __getattr__(name):
    return _unsupported.lookup("cgraph.tensor", name)
from . import signal  # noqa: F401,E402  (T.signal.pool, as after import theano.tensor)
from . import extra_ops  # noqa: F401,E402
from .sort import argsort, sort  # noqa: F401,E402
from .extra_ops import (CumOp, DiffOp, RepeatOp, bincount, cumprod, cumsum,  # noqa: F401,E402
                        fill_diagonal, repeat)
from . import nlinalg, slinalg  # noqa: F401,E402

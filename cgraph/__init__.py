"""cgraph: symbolic tensor graphs compiled to one C module each, cached on disk.

    import cgraph, cgraph.tensor as T
    x = T.dvector("x")
    f = cgraph.function([x], T.exp(x).sum())
"""
__version__ = "0.1.0"

from .config import config  # noqa: E402
from .compile.function import Function, MissingInputError, UnusedInputError, function  # noqa: E402
from .compile.io import In, Out, Param  # noqa: E402
from .compile.sharedvalue import SharedVariable, shared  # noqa: E402
from .graph.basic import Apply, Constant, Op, Variable, clone_replace  # noqa: E402
from .tensor.blas import dot  # noqa: E402
from . import tensor  # noqa: E402
from .tensor import shared_randomstreams  # noqa: E402,F401  (T.shared_randomstreams, as Theano)

clone = clone_replace
from . import gradient  # noqa: E402
from .gradient import grad  # noqa: E402
from .scan_module import scan  # noqa: E402
from . import printing  # noqa: E402
from .printing import debugprint, dprint, pp  # noqa: E402
from . import profiling  # noqa: E402


def __getattr__(name):
    from .unsupported import lookup
    lookup("cgraph", name)

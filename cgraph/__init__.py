"""cgraph: symbolic tensor graphs compiled to one C module each, cached on disk.

    import cgraph, cgraph.tensor as T
    x = T.dvector("x")
    f = cgraph.function([x], T.exp(x).sum())
"""
from .version import __version__  # noqa: F401

from .config import config  # noqa: E402
from .compile.function import Function, MissingInputError, UnusedInputError, function  # noqa: E402
from .compile.io import In, Out, Param  # noqa: E402
from .compile.sharedvalue import SharedVariable, shared  # noqa: E402
from .graph.basic import Apply, Constant, Op, Variable, clone_replace  # noqa: E402
from .tensor.tensordot import dot  # noqa: E402
from . import tensor  # noqa: E402
from .tensor import shared_randomstreams  # noqa: E402,F401  (T.shared_randomstreams, as Theano)

from .compile.clone import clone  # noqa: E402  (theano.clone: copies the whole graph)
from . import gradient  # noqa: E402
from . import unsupported  # noqa: E402,F401  (its finder: import cgraph.sparse says unsupported)
from .gradient import grad  # noqa: E402
from . import notebook  # noqa: E402,F401  (gives variables and functions their Jupyter view)

# Imported on first use (PEP 562), so ``import cgraph`` does not pay for them: scan (its
# module pulls in the lowering code), the printers and the profiler.
_LAZY = {
    "gof": ("gof", None),            # Theano's names for graph classes (theano.gof.Variable)
    "sandbox": ("sandbox", None),
    "gpuarray": ("gpuarray", None),  # reports no GPU, as Theano without one
    "scan": ("scan_module", "scan"),
    "scan_module": ("scan_module", None),
    "printing": ("printing", None),
    "debugprint": ("printing", "debugprint"),
    "dprint": ("printing", "dprint"),
    "pp": ("printing", "pp"),
    "profiling": ("profiling", None),
    "scalar": ("scalar", None),
    "Mode": ("compile.mode", "Mode"),
    "ifelse": ("ifelse", None),
}


def __getattr__(name):
    if name in _LAZY:
        import importlib
        module_name, attr = _LAZY[name]
        module = importlib.import_module(f"{__name__}.{module_name}")
        value = module if attr is None else getattr(module, attr)
        globals()[name] = value
        return value
    return unsupported.lookup("cgraph", name)


def __dir__():
    return sorted(set(globals()) | set(_LAZY))

"""Names Theano had that cgraph does not support yet: using one says so plainly.

Modules that Theano programs import (cgraph, cgraph.tensor, cgraph.tensor.nnet) look names
up here from their ``__getattr__``, so ``T.tensordot`` raises an error that names what is
missing and what to use meanwhile, instead of a bare AttributeError deep inside user code.
The error is an AttributeError, so ``hasattr`` and ``getattr(T, name, default)`` work as
feature tests. Modules Theano has and cgraph lacks (``import cgraph.sparse``, or
``import theano.sparse`` through cgraph.theano_compat) raise UnsupportedModuleError, an
ImportError, from a finder placed last on ``sys.meta_path`` (asked only when no module exists).
"""
import sys


class NotSupportedError(AttributeError, NotImplementedError):
    """A Theano name that cgraph does not implement (yet)."""


class UnsupportedModuleError(ImportError):
    """A Theano module that cgraph does not implement (yet)."""


THEANO_NAMES = {
    "cgraph": {
        "OpFromGraph": "build the graph inline",
        "function_dump": "pickle the compiled function instead (pickle.dumps(f))",
        "sparse": "sparse tensors are not supported",
        "d3viz": "use cgraph.printing.pydotprint",
        "ProfileStats": "use function(..., profile=True) and cgraph.profiling.summary()",
        "change_flags": "set cgraph.config attributes directly",
    },
    "cgraph.tensor": {
        name: hint for names, hint in [
            (("tile", "roll", "diag",
              "split", "choose", "mgrid", "ogrid", "stacklists",
              "erfcinv", "specify_shape", "inverse_permutation",
              "searchsorted", "histogram"), None),
            (("eig", "eigh", "qr", "svd"), "use T.nlinalg.matrix_inverse, T.nlinalg.det, "
             "T.slinalg.cholesky or T.slinalg.solve"),
            (("fft", "raw_random", "opt", "blas_c"), None),
        ] for name in names
    },
    "cgraph.tensor.nnet": {
        name: hint for names, hint in [
            (("neighbours",
              "images2neibs"), None),
            (("h_softmax", "crossentropy_softmax_1hot",
              "crossentropy_softmax_argmax_1hot_with_bias", "confusion_matrix", "elu", "selu",
              "softsign", "ctc"), None),
        ] for name in names
    },
}


class UnsupportedNamespace:
    """Stands for a Theano sub-module cgraph lacks (``T.nnet.abstract_conv``): every attribute
    raises NotSupportedError, so the feature test ``hasattr(T.nnet.abstract_conv, name)``
    that programs run at import answers False instead of failing."""

    def __init__(self, name: str, hint: str | None):
        self._name, self._hint = name, hint

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)   # protocol probes (copy, pickle, inspect)
        raise NotSupportedError(f"{self._name}.{attr}: {self._name} exists in Theano but is not "
                                f"supported by cgraph yet" + (f"; {self._hint}" if self._hint else ""))

    def __repr__(self):
        return f"<unsupported Theano module {self._name}>"


# Sub-modules Theano programs reach as attributes and probe with hasattr at import (Lasagne:
# hasattr(T.nnet.abstract_conv, 'AbstractConv3d_gradInputs')), while cgraph lacks them.
NAMESPACES = {"cgraph.tensor.nnet.abstract_conv"}


def lookup(module, name):
    """The stand-in of a Theano sub-module cgraph lacks (see UnsupportedNamespace); raise
    NotSupportedError for another known Theano name, AttributeError otherwise."""
    names = THEANO_NAMES.get(module, {})
    if f"{module}.{name}" in NAMESPACES and name in names:
        return UnsupportedNamespace(f"{module}.{name}", names[name])
    if name in names:
        hint = names[name]
        raise NotSupportedError(f"{module}.{name} exists in Theano but is not supported by "
                                f"cgraph yet" + (f"; {hint}" if hint else ""))
    raise AttributeError(f"module {module!r} has no attribute {name!r}")


# Theano 1.0.5 modules that programs import and cgraph does not have (yet), by cgraph name.
THEANO_MODULES = {
    "cgraph.sparse": "sparse tensors are not supported",
    "cgraph.d3viz": "use cgraph.printing.pydotprint",
    "cgraph.misc.pkl_utils": "pickle compiled functions and shared variables directly",
    "cgraph.compile.debugmode": "use function(..., mode='py') to compare with the numpy reference",
    "cgraph.compile.nanguardmode": "use function(..., nan_guard=True)",
    "cgraph.compile.monitormode": "use function(..., profile=True) or nan_guard=True",
    "cgraph.tensor.fft": None,
    "cgraph.tensor.raw_random": "use cgraph.tensor.shared_randomstreams",
    "cgraph.tensor.opt": "cgraph's rewrites are in cgraph.rewrite",
    "cgraph.sandbox.linalg": "use cgraph.tensor.nlinalg and cgraph.tensor.slinalg",
    "cgraph.sandbox.neighbours": None,
    "cgraph.sandbox.blocksparse": None,
    "cgraph.sandbox.multinomial": None,
}


def unsupported_module_error(name: str, alias: str | None = None) -> ImportError:
    """The error for importing module ``name`` that does not exist in cgraph (imported under
    the name ``alias`` when it came through the theano alias)."""
    asked = f"{alias} (cgraph's {name})" if alias else name
    if name in THEANO_MODULES:
        hint = THEANO_MODULES[name]
        return UnsupportedModuleError(
            f"{asked} exists in Theano but is not supported by cgraph yet"
            + (f"; {hint}" if hint else ""), name=alias or name)
    return ModuleNotFoundError(f"No module named {asked}", name=alias or name)


class _UnsupportedModuleFinder:
    """Last on sys.meta_path: a known Theano module that no finder found says it is unsupported.

    (A finder is any object with ``find_spec``: not deriving from importlib.abc's
    MetaPathFinder spares ``import cgraph`` importlib.resources, pathlib, urllib and tempfile,
    ~8 ms.)"""

    def find_spec(self, fullname, path=None, target=None):
        if fullname in THEANO_MODULES:
            raise unsupported_module_error(fullname)
        return None


if not any(type(f).__name__ == "_UnsupportedModuleFinder" for f in sys.meta_path):
    sys.meta_path.append(_UnsupportedModuleFinder())

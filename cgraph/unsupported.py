"""Names Theano had that cgraph does not support yet: using one says so plainly.

Modules that Theano programs import (cgraph, cgraph.tensor, cgraph.tensor.nnet) look names
up here from their ``__getattr__``, so ``T.tensordot`` raises an error that names what is
missing and what to use meanwhile, instead of a bare AttributeError deep inside user code.
"""


class NotSupportedError(AttributeError, NotImplementedError):
    """A Theano name that cgraph does not implement (yet)."""


THEANO_NAMES = {
    "cgraph": {
        "OpFromGraph": "build the graph inline",
        "function_dump": "pickle the compiled function instead (pickle.dumps(f))",
        "sparse": "sparse tensors are not supported",
        "gpuarray": "cgraph runs on the CPU",
        "d3viz": "use cgraph.printing.pydotprint",
        "ProfileStats": "use function(..., profile=True) and cgraph.profiling.summary()",
        "change_flags": "set cgraph.config attributes directly",
    },
    "cgraph.tensor": {
        name: hint for names, hint in [
            (("tile", "roll", "diag",
              "split", "nonzero", "nonzero_values", "choose", "mgrid", "ogrid", "stacklists",
              "psi", "erfinv", "erfcinv", "specify_shape", "inverse_permutation",
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


def lookup(module, name):
    """Raise NotSupportedError for a known Theano name, AttributeError otherwise."""
    names = THEANO_NAMES.get(module, {})
    if name in names:
        hint = names[name]
        raise NotSupportedError(f"{module}.{name} exists in Theano but is not supported by "
                                f"cgraph yet" + (f"; {hint}" if hint else ""))
    raise AttributeError(f"module {module!r} has no attribute {name!r}")

"""``theano.scan_module.scan_utils``: the helpers programs import from it (comparing and
copying graphs)."""
from ..compile.clone import clone  # noqa: F401
from ..gof.graph import equal_computations  # noqa: F401

__all__ = ["clone", "equal_computations"]

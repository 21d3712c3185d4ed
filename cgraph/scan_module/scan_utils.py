"""``theano.scan_module.scan_utils``: the helper programs import from it, comparing graphs."""
from ..gof.graph import equal_computations  # noqa: F401

__all__ = ["equal_computations"]

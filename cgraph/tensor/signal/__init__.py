"""``T.signal``: pooling of images, as Theano's ``theano.tensor.signal``."""
from . import pool  # noqa: F401

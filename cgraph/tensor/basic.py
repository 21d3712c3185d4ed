"""The ``T`` namespace's functions in one module (Theano's ``theano.tensor.basic``): the
elementwise ones (cgraph.tensor.math_ops) and the other op families (reduction, blas,
shape_ops), re-exported here so user code finds everything in one place.
"""
from .math_ops import *  # noqa: F401,F403
from .reduction import (all, allclose, any, argmax, argmin, max, max_and_argmax, mean, min,  # noqa: F401
                        prod, std, sum, var)
from .blas import outer  # noqa: F401
from .tensordot import dot  # noqa: F401
from .shape_ops import (alloc, arange, concatenate, fill, flatten, ones, ones_like, reshape,  # noqa: F401
                        second, shape, stack, zeros, zeros_like)
from .shape_ops import (Alloc, ARange, Join, MakeVector, Reshape, Shape, Shape_i, eye,  # noqa: F401
                        get_vector_length, horizontal_stack, identity_like, join, shape_i,
                        shape_of, shape_padaxis, shape_padleft, shape_padright, vertical_stack)
from .shape_ops import addbroadcast, patternbroadcast, unbroadcast  # noqa: F401

"""Compiling graphs into functions: ``theano.compile``'s public names.

``function`` is the function (as in Theano, where it hides the module of the same name;
``import cgraph.compile.function`` still gives the module).
"""
from .function import Function, MissingInputError, UnusedInputError, function  # noqa: F401
from .io import In, Out, Param  # noqa: F401
from .sharedvalue import SharedVariable, shared  # noqa: F401
from .mode import FAST_COMPILE, FAST_RUN, Mode, get_default_mode, get_mode  # noqa: F401

"""``Mode``: Theano's way of choosing how a function runs, mapped onto cgraph's two modes.

cgraph has one compiled backend ("c": the whole graph as one C module) and the numpy
reference ("py"). Theano's linkers map onto them: the Python linker ('py') is "py", every C
linker ('cvm', 'vm', 'c', 'c|py', ...) is "c". Theano's optimizer names are accepted and
recorded; cgraph always applies its own rewrites (the stabilising ones are needed for the
values, the others are cheap), so they do not change what runs. ``FAST_COMPILE`` is
Theano's Python linker, so it runs the numpy reference here too.
"""
from ..config import config

_C_LINKERS = ("c", "cvm", "cvm_nogc", "vm", "vm_nogc", "c|py", "c|py_nogc")
_PY_LINKERS = ("py",)
_OPTIMIZERS = (None, "None", "default", "fast_run", "fast_compile", "merge", "o1", "o2", "o3",
               "o4", "unsafe", "stabilize")
# strings function(mode=...) takes, and the cgraph mode each means
_MODE_NAMES = {"c": "c", "py": "py", "fast_run": "c", "fast_compile": "py", "mode": "c"}


class Mode:
    """How a function runs: ``Mode(linker='cvm', optimizer='fast_run')`` as in Theano.

    ``cgraph_mode`` is what it means here: "c" (compiled) or "py" (numpy reference)."""

    def __init__(self, linker=None, optimizer="default"):
        if linker is None:
            linker = "cvm" if config.mode == "c" else "py"
        if not isinstance(linker, str) or linker not in _C_LINKERS + _PY_LINKERS:
            raise ValueError(f"Mode: unknown linker {linker!r}; cgraph takes {_PY_LINKERS + _C_LINKERS} "
                             f"(the Python linker runs the numpy reference, the others the "
                             f"compiled module)")
        if optimizer not in _OPTIMIZERS:
            raise ValueError(f"Mode: unknown optimizer {optimizer!r}; cgraph takes "
                             f"{_OPTIMIZERS} (it always applies its own rewrites)")
        self.linker = self.provided_linker = linker
        self.optimizer = self.provided_optimizer = optimizer
        self.included, self.excluded = (), ()

    @property
    def cgraph_mode(self) -> str:
        return "py" if self.linker in _PY_LINKERS else "c"

    def _with_tags(self, included=(), excluded=()):
        other = Mode(self.linker, self.optimizer)
        other.included = self.included + tuple(included)
        other.excluded = self.excluded + tuple(excluded)
        return other

    def including(self, *tags):
        """A copy asking for rewrites by Theano tag (recorded: cgraph's rewrites are not
        chosen by tag)."""
        return self._with_tags(included=tags)

    def excluding(self, *tags):
        """A copy leaving out rewrites by Theano tag (recorded, as ``including``)."""
        return self._with_tags(excluded=tags)

    requiring = including

    def __eq__(self, other):
        return isinstance(other, Mode) and (self.linker, self.optimizer, self.included,
                                            self.excluded) == (other.linker, other.optimizer,
                                                               other.included, other.excluded)

    def __hash__(self):
        return hash((self.linker, self.optimizer, self.included, self.excluded))

    def __repr__(self):
        return f"Mode(linker={self.linker}, optimizer={self.optimizer})"

    __str__ = __repr__


FAST_RUN = Mode("cvm", "fast_run")
FAST_COMPILE = Mode("py", "fast_compile")
predefined_modes = {"FAST_RUN": FAST_RUN, "FAST_COMPILE": FAST_COMPILE}


def get_mode(mode) -> Mode:
    """The Mode for ``mode``: a Mode, None (the default), or a name ('FAST_RUN',
    'FAST_COMPILE', 'Mode', or cgraph's 'c' and 'py')."""
    if mode is None:
        return get_default_mode()
    if isinstance(mode, Mode):
        return mode
    if isinstance(mode, str):
        if mode in predefined_modes:
            return predefined_modes[mode]
        if mode.lower() in _MODE_NAMES:
            return Mode("py" if _MODE_NAMES[mode.lower()] == "py" else "cvm", "fast_run")
    raise ValueError(f"Unknown mode {mode!r}: no predefined mode exists for this string; "
                     f"use 'c' (compiled, default), 'py' (numpy reference), 'FAST_RUN', "
                     f"'FAST_COMPILE', 'Mode' or a Mode instance")


def get_default_mode() -> Mode:
    """The Mode functions get when none is given (from ``config.mode``)."""
    return Mode("cvm" if config.mode == "c" else "py", "fast_run")


def cgraph_mode_of(mode) -> str:
    """'c' or 'py' for what ``function(mode=...)`` was given."""
    if isinstance(mode, str) and mode.lower() in _MODE_NAMES:
        return _MODE_NAMES[mode.lower()]
    return get_mode(mode).cgraph_mode

"""Global settings, as Theano's ``config``: defaults, overridden by ``CGRAPH_FLAGS``.

``CGRAPH_FLAGS="floatX=float32,mode=py"`` sets flags at import; attributes may also be set
at run time (``cgraph.config.floatX = "float32"``), which affects variables created after.
"""
import difflib
import os

_FLAG_TYPES = {
    "floatX": (str, "float64", ("float64", "float32")),
    "mode": (str, "c", ("c", "py")),
    "on_unused_input": (str, "raise", ("raise", "warn", "ignore")),
    "cache_dir": (str, "", None),
    "cc": (str, "gcc", None),
    "optimize_level": (int, 3, (0, 1, 2, 3)),
    "compile_verbose": (bool, False, None),
    "nan_guard": (bool, False, None),   # default of function(nan_guard=...)
    "profile": (bool, False, None),
    # OpenMP threads for large contiguous elementwise loops (see cgraph/parallel.py):
    # openmp=False builds without them; omp_threads=0 takes OMP_NUM_THREADS, else one thread;
    # loops of fewer than openmp_elemwise_minsize elements stay on one thread.
    "openmp": (bool, True, None),
    "omp_threads": (int, 0, None),
    "openmp_elemwise_minsize": (int, 65536, None),
}


def _parse(kind, text):
    if kind is bool:
        return text.strip().lower() in ("1", "true", "yes", "on")
    return kind(text)


class _Config:
    def __init__(self):
        for name, (_, default, _) in _FLAG_TYPES.items():
            object.__setattr__(self, name, default)
        self._read_env(os.environ.get("CGRAPH_FLAGS", ""))

    def _read_env(self, flags):
        # A flag cgraph does not know is an error, not a warning: a misspelt floatX would
        # otherwise run the whole program in float64.
        for item in filter(None, (p.strip() for p in flags.split(","))):
            if "=" not in item:
                raise ValueError(f"CGRAPH_FLAGS entry {item!r} is not of the form name=value "
                                 f"(CGRAPH_FLAGS={flags!r})")
            name, value = (s.strip() for s in item.split("=", 1))
            if name not in _FLAG_TYPES:
                close = difflib.get_close_matches(name, _FLAG_TYPES, n=1, cutoff=0.6) or \
                    [n for n in _FLAG_TYPES if n.lower() == name.lower()]
                hint = f"; did you mean {close[0]!r}?" if close else \
                    f"; the flags are {', '.join(_FLAG_TYPES)}"
                raise ValueError(f"CGRAPH_FLAGS names a flag cgraph does not have: "
                                 f"{name!r}{hint}")
            setattr(self, name, _parse(_FLAG_TYPES[name][0], value))

    def __setattr__(self, name, value):
        if name not in _FLAG_TYPES:
            raise AttributeError(f"cgraph.config has no flag named {name!r}")
        kind, _, allowed = _FLAG_TYPES[name]
        if allowed is not None and value not in allowed:
            raise ValueError(f"config.{name} must be one of {allowed}, got {value!r}")
        if name in ("omp_threads", "openmp_elemwise_minsize") and int(value) < 0:
            raise ValueError(f"config.{name} must be 0 or more, got {value!r}")
        object.__setattr__(self, name, kind(value))

    def __repr__(self):
        return "\n".join(f"{n} = {getattr(self, n)!r}" for n in _FLAG_TYPES)


config = _Config()

"""Global settings, as Theano's ``config``: defaults, overridden by ``CGRAPH_FLAGS``.

``CGRAPH_FLAGS="floatX=float32,mode=py"`` sets flags at import; attributes may also be set
at run time (``cgraph.config.floatX = "float32"``), which affects variables created after.
"""
import os

FLAG_TYPES = {
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


# Theano's ``config.warn`` flags: warnings about bugs of old Theano versions. cgraph never had
# those bugs, so the flags change nothing; they exist so that programs setting them
# (``config.warn.subtensor_merge_bug = False``) run. Defaults are Theano 1.0.5's.
_WARN_FLAGS = {
    "argmax_pushdown_bug": False, "gpusum_01_011_0111_bug": False, "sum_sum_bug": False,
    "sum_div_dimshuffle_bug": False, "subtensor_merge_bug": False,
    "gpu_set_subtensor1": False, "vm_gc_bug": False, "signal_conv2d_interface": False,
    "reduce_join": False, "inc_set_subtensor1": False, "round": False,
    "inc_subtensor1_opt": True, "identify_1pexp_bug": False,
}
_IGNORE_BUG_BEFORE = ("0.9", "None", "all", "0.3", "0.4", "0.4.1", "0.5", "0.6", "0.7", "0.8",
                      "0.8.1", "0.8.2", "0.10", "1.0", "1.0.1", "1.0.2", "1.0.3", "1.0.4", "1.0.5")


class _WarnFlags:
    """``config.warn``: Theano's section of bug-warning flags (accepted, without effect)."""

    def __init__(self):
        for name, default in _WARN_FLAGS.items():
            object.__setattr__(self, name, default)
        object.__setattr__(self, "ignore_bug_before", "0.9")

    def __setattr__(self, name: str, value: object) -> None:
        if name == "ignore_bug_before":
            if str(value) not in _IGNORE_BUG_BEFORE:
                raise ValueError(f"config.warn.ignore_bug_before must be one of "
                                 f"{_IGNORE_BUG_BEFORE}, got {value!r}")
            value = str(value)
        elif name in _WARN_FLAGS:
            value = _parse(bool, value) if isinstance(value, str) else bool(value)
        else:
            raise AttributeError(f"config.warn has no flag named {name!r}")
        object.__setattr__(self, name, value)

    def __repr__(self):
        return "\n".join(f"warn.{n} = {getattr(self, n)!r}"
                         for n in ("ignore_bug_before", *_WARN_FLAGS))


def _parse(kind, text):
    if kind is bool:
        return text.strip().lower() in ("1", "true", "yes", "on")
    return kind(text)


class _Config:
    # cgraph computes on the CPU only; Theano's flag is read by programs choosing a code path
    device = "cpu"

    def __init__(self):
        for name, (_, default, _) in FLAG_TYPES.items():
            object.__setattr__(self, name, default)
        object.__setattr__(self, "warn", _WarnFlags())
        self._read_env(os.environ.get("CGRAPH_FLAGS", ""))

    def _read_env(self, flags):
        # A flag cgraph does not know is an error, not a warning: a misspelt floatX would
        # otherwise run the whole program in float64.
        for item in filter(None, (p.strip() for p in flags.split(","))):
            if "=" not in item:
                raise ValueError(f"CGRAPH_FLAGS entry {item!r} is not of the form name=value "
                                 f"(CGRAPH_FLAGS={flags!r})")
            name, value = (s.strip() for s in item.split("=", 1))
            if name.startswith("warn.") and (name[5:] in _WARN_FLAGS
                                             or name == "warn.ignore_bug_before"):
                setattr(self.warn, name[5:], value)
                continue
            if name not in FLAG_TYPES:
                import difflib   # only to name a misspelt flag: not paid by every import
                close = difflib.get_close_matches(name, FLAG_TYPES, n=1, cutoff=0.6) or \
                    [n for n in FLAG_TYPES if n.lower() == name.lower()]
                hint = f"; did you mean {close[0]!r}?" if close else \
                    f"; the flags are {', '.join(FLAG_TYPES)}"
                raise ValueError(f"CGRAPH_FLAGS names a flag cgraph does not have: "
                                 f"{name!r}{hint}")
            setattr(self, name, _parse(FLAG_TYPES[name][0], value))

    def __setattr__(self, name: str, value: object) -> None:
        if name == "device":
            if value != "cpu":
                raise ValueError(f"config.device: cgraph runs on the CPU only, got {value!r}")
            return
        if name not in FLAG_TYPES:
            raise AttributeError(f"cgraph.config has no flag named {name!r}")
        kind, _, allowed = FLAG_TYPES[name]
        if allowed is not None and value not in allowed:
            raise ValueError(f"config.{name} must be one of {allowed}, got {value!r}")
        if name in ("omp_threads", "openmp_elemwise_minsize") and int(value) < 0:
            raise ValueError(f"config.{name} must be 0 or more, got {value!r}")
        object.__setattr__(self, name, kind(value))

    def __repr__(self):
        return "\n".join([f"{n} = {getattr(self, n)!r}" for n in FLAG_TYPES]
                         + [f"device = {self.device!r}", repr(self.warn)])


config = _Config()

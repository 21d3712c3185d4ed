"""What the examples print: progress bars, summary lines and honest compile messages.

Progress bars come from tqdm (the ``examples`` extra): a bar on a terminal or in a notebook,
nothing in a log file or a pipe, where only the summary lines are printed (through
``say``, which writes above a running bar instead of breaking it). Without tqdm the examples
still run, printing the summary lines only.
"""
import sys

try:
    from tqdm.auto import tqdm as _tqdm
except ImportError:       # the examples run without the 'examples' extra, without bars
    _tqdm = None


def _in_notebook():
    return _tqdm is not None and _tqdm.__module__.endswith("notebook")


def progress(iterable=None, total=None, desc=None, unit="it", leave=True):
    """A tqdm bar over ``iterable`` on a terminal or in a notebook; on anything else (a log
    file, a pipe, pytest's captured output) the iterable itself, so that a log holds
    summary lines and no carriage returns."""
    if _tqdm is None or not (_in_notebook() or sys.stderr.isatty()):
        return _Silent(iterable, total)
    return _tqdm(iterable, total=total, desc=desc, unit=unit, leave=leave, dynamic_ncols=True)


class _Silent:
    """The part of tqdm's interface the examples use, doing nothing."""

    def __init__(self, iterable, total):
        self.iterable = iterable if iterable is not None else range(total or 0)

    def __iter__(self):
        return iter(self.iterable)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def set_postfix_str(self, text):
        pass

    def update(self, n=1):
        pass

    def close(self):
        pass


def say(message):
    """Print one line, above the progress bar if one is running."""
    if _tqdm is not None:
        _tqdm.write(message, file=sys.stdout)
    else:
        print(message)


def summary_every(n_epochs, lines=10):
    """Print a summary every this many epochs: about ``lines`` lines per run."""
    return max(1, n_epochs // lines)


def compile_summary(functions, seconds):
    """'compiled 1 / loaded 2 from the cache in 0.41 s (train_model, ...)': what making
    ``functions`` really did, read from each function's ``module_origin``."""
    built = [f.name or "anonymous" for f in functions if f.compiled]
    loaded = [f.name or "anonymous" for f in functions if not f.compiled]
    parts = []
    if built:
        parts.append(f"compiled {len(built)} ({', '.join(built)})")
    if loaded:
        parts.append(f"loaded {len(loaded)} from the cache ({', '.join(loaded)})")
    return f"{' / '.join(parts)} in {seconds:.2f} s"

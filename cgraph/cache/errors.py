"""The exceptions the cache raises to its callers."""


class CompileError(RuntimeError):
    """The C compiler rejected a generated module; ``folder`` keeps source, command, output."""

    def __init__(self, message: str, folder: str):
        super().__init__(message)
        self.folder = folder


class CacheError(RuntimeError):
    """The cache cannot give a usable module (e.g. the loader rejects a freshly built one)."""


class CacheTrustError(CacheError):
    """The cache folder could be changed by someone else; cgraph refuses to load from it."""


class LayoutMismatch(CacheError):
    """A module found by its key alone takes other arguments than its caller passes: the
    record that named the key is wrong."""

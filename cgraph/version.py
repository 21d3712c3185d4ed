"""cgraph's version, in a module of its own: the cache's keys and the runtime library name it,
and they must not import the package's face (cgraph/__init__ imports everything)."""
__version__ = "0.1.0"

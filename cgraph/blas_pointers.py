"""Addresses of the BLAS routines handed to every compiled module at load time: gemm and gemv
from numpy's own OpenBLAS when it can be found (ILP64), else from scipy; dot from scipy.

scipy's come from ``scipy.linalg.cython_blas``, whose capsules hold plain function pointers.
Importing ``scipy.linalg`` costs ~100 ms (it builds docstrings for the whole package), so the
``cython_blas`` extension is loaded on its own (~10 ms) unless ``scipy.linalg`` is already
imported; Cython hands the same module to a later ``import scipy.linalg``.
"""
import ctypes
import functools
import importlib.machinery
import importlib.util
import os
import sys

ROUTINES = ("sgemm", "dgemm", "sgemv", "dgemv", "sdot", "ddot")


def _cython_blas():
    module = sys.modules.get("scipy.linalg.cython_blas")
    if module is not None:
        return module
    if "scipy.linalg" not in sys.modules:
        try:
            import scipy
            folder = os.path.join(os.path.dirname(scipy.__file__), "linalg")
            for suffix in importlib.machinery.EXTENSION_SUFFIXES:
                path = os.path.join(folder, "cython_blas" + suffix)
                if os.path.isfile(path):
                    name = "scipy.linalg.cython_blas"
                    loader = importlib.machinery.ExtensionFileLoader(name, path)
                    spec = importlib.util.spec_from_file_location(name, path, loader=loader)
                    module = importlib.util.module_from_spec(spec)
                    loader.exec_module(module)
                    return module
        except (ImportError, OSError, AttributeError):
            pass    # an unusual scipy layout: take the ordinary way
    try:
        from scipy.linalg import cython_blas
    except ImportError as exc:
        raise ImportError("cgraph's compiled functions call BLAS through scipy; install it "
                          "(pip install scipy), or use mode='py'") from exc
    return cython_blas


def _scipy_pointers():
    capi = _cython_blas().__pyx_capi__
    get_name = ctypes.pythonapi.PyCapsule_GetName
    get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
    get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    get_pointer.restype, get_pointer.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    pointers = []
    for routine in ROUTINES:
        capsule = capi[routine]
        pointers.append(get_pointer(capsule, get_name(capsule)))
    return pointers


def _numpy_openblas():
    """numpy's own OpenBLAS (ILP64, the ``scipy_openblas64_`` build of the numpy wheels) as a
    ctypes library, or None. It is the library numpy's matmul runs on; scipy bundles another
    build, up to 2.5x slower on skinny products (a (600, 784) matrix transposed times a
    (600, 10) one: the gradient of a 10-class logistic regression)."""
    import numpy
    candidates = []
    try:   # the copy numpy has loaded in this process
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.split()[-1]
                if "openblas64" in os.path.basename(path) and path not in candidates:
                    candidates.append(path)
    except OSError:
        pass
    folder = os.path.join(os.path.dirname(os.path.dirname(numpy.__file__)), "numpy.libs")
    if os.path.isdir(folder):
        candidates += sorted(os.path.join(folder, f) for f in os.listdir(folder)
                             if "openblas64" in f and ".so" in f)
    for path in candidates:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix, suffix in (("scipy_", "_64_"), ("", "_64_"), ("", "64_")):
            try:
                return [ctypes.cast(getattr(lib, f"{prefix}{name}{suffix}"), ctypes.c_void_p).value
                        for name in ROUTINES[:4]]
            except AttributeError:
                continue
    return None


@functools.lru_cache(maxsize=None)
def blas_pointers():
    """(the addresses of ROUTINES, whether gemm and gemv take 64-bit integers).

    gemm and gemv come from numpy's OpenBLAS when it is found, unless CGRAPH_BLAS=scipy;
    sdot and ddot always from scipy (their float return convention differs between builds)."""
    pointers = _scipy_pointers()
    if os.environ.get("CGRAPH_BLAS", "numpy") != "scipy":
        fast = _numpy_openblas()
        if fast is not None and all(fast):
            return tuple(fast + pointers[4:]), True
    return tuple(pointers), False

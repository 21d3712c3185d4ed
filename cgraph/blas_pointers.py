"""Addresses of scipy's BLAS routines, handed to every compiled module at load time.

They come from ``scipy.linalg.cython_blas``, whose capsules hold plain function pointers.
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


@functools.lru_cache(maxsize=None)
def blas_pointers():
    capi = _cython_blas().__pyx_capi__
    get_name = ctypes.pythonapi.PyCapsule_GetName
    get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
    get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    get_pointer.restype, get_pointer.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    pointers = []
    for routine in ROUTINES:
        capsule = capi[routine]
        pointers.append(get_pointer(capsule, get_name(capsule)))
    return tuple(pointers)

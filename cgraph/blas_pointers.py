"""Addresses of scipy's BLAS routines, handed to every compiled module at load time."""
import ctypes
import functools

ROUTINES = ("sgemm", "dgemm", "sgemv", "dgemv", "sdot", "ddot")


@functools.lru_cache(maxsize=None)
def blas_pointers():
    from scipy.linalg import cython_blas
    get_name = ctypes.pythonapi.PyCapsule_GetName
    get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
    get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    get_pointer.restype, get_pointer.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    pointers = []
    for routine in ROUTINES:
        capsule = cython_blas.__pyx_capi__[routine]
        pointers.append(get_pointer(capsule, get_name(capsule)))
    return tuple(pointers)

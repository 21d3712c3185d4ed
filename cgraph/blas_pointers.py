"""Addresses of the BLAS routines handed to every compiled module at load time.

Every routine comes from numpy's own OpenBLAS when it can be found (the ILP64
``scipy_openblas64_`` build of the numpy wheels, already loaded by numpy: nothing more to
load): scipy bundles another build, up to 2.5x slower on skinny products. When numpy's
library is not found, or with ``CGRAPH_BLAS=scipy``, they come from scipy's BLAS.

scipy's BLAS is read the fast way (~2 ms): the OpenBLAS library that scipy's wheels bundle
(``site-packages/scipy.libs/libscipy_openblas-*.so``) loaded with ctypes, its Fortran
routines (``scipy_dgemm_``...) read by name, without importing scipy (``import scipy`` alone
costs ~25 ms, ``scipy.linalg`` ~100 ms). It is the very library ``scipy.linalg.cython_blas``
calls, with the same calling convention (every argument by pointer). Any other layout (a
scipy built against a system BLAS, MKL, a future renaming), or ``CGRAPH_BLAS_SOURCE=
cython_blas``, takes the ordinary way: the capsules of ``scipy.linalg.cython_blas``, which
hold plain function pointers; they are also used when ``cython_blas`` is already imported.
"""
import ctypes
import functools
import importlib.machinery
import importlib.util
import os
import sys

ROUTINES = ("sgemm", "dgemm", "sgemv", "dgemv", "sdot", "ddot")

# Symbol prefixes of the OpenBLAS builds scipy bundles (scipy-openblas32 names its symbols
# ``scipy_<routine>_``; older wheels used plain ``<routine>_``).
_SYMBOL_PREFIXES = ("scipy_", "")


def _bundled_openblas(routines=ROUTINES):
    """The pointers of ``routines`` read from scipy's bundled OpenBLAS, or None (imports
    nothing of scipy)."""
    try:
        spec = importlib.util.find_spec("scipy")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    package = os.path.dirname(spec.origin)
    folder = package + ".libs"
    try:        # (a listing, not glob: its import alone costs a warm function() 0.2 ms)
        libs = sorted(os.path.join(folder, name) for name in os.listdir(folder)
                      if name.startswith("libscipy_openblas") and ".so" in name)
    except OSError:
        libs = []
    if len(libs) != 1:
        return None     # none, or several we cannot tell apart: ask cython_blas
    try:
        lib = ctypes.CDLL(libs[0])
    except OSError:
        return None
    for prefix in _SYMBOL_PREFIXES:
        try:
            return tuple(ctypes.cast(getattr(lib, f"{prefix}{r}_"), ctypes.c_void_p).value
                         for r in routines)
        except AttributeError:
            continue
    return None


def _cython_blas():
    module = sys.modules.get("scipy.linalg.cython_blas")
    if module is not None:
        return module
    if "scipy.linalg" not in sys.modules:
        # the extension alone (~10 ms) rather than all of scipy.linalg (~100 ms); Cython
        # hands the same module to a later ``import scipy.linalg``
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


def _capsule_pointers():
    return _capsule_pointers_of(_cython_blas(), ROUTINES)


def _capsule_pointers_of(module, routines):
    """The function pointers a Cython module (cython_blas, cython_lapack) exports."""
    capi = module.__pyx_capi__
    get_name = ctypes.pythonapi.PyCapsule_GetName
    get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
    get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    get_pointer.restype, get_pointer.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    pointers = []
    for routine in routines:
        capsule = capi[routine]
        pointers.append(get_pointer(capsule, get_name(capsule)))
    return tuple(pointers)


def _numpy_openblas_libraries():
    """ctypes handles of the ILP64 OpenBLAS builds numpy may use: the copy numpy has
    loaded in this process first, then those in its wheel's numpy.libs folder."""
    for path in _numpy_openblas_paths():
        try:
            yield ctypes.CDLL(path)
        except OSError:
            continue


@functools.lru_cache(maxsize=1)
def _numpy_openblas_paths():
    """The files of _numpy_openblas_libraries, looked for once per process (the BLAS
    pointers and the thread count both ask): the copies loaded in this process first, then
    the rest of numpy's wheel's numpy.libs folder."""
    import numpy
    folder = os.path.join(os.path.dirname(os.path.dirname(numpy.__file__)), "numpy.libs")
    wheel = sorted(os.path.join(folder, f) for f in os.listdir(folder)
                   if "openblas64" in f and ".so" in f) if os.path.isdir(folder) else []
    # numpy's wheel loads its own copy: asking the loader (RTLD_NOLOAD) is ~0.25 ms cheaper
    # on a warm start than reading /proc/self/maps, which finds a copy loaded from elsewhere
    loaded = [path for path in wheel if _is_loaded(path)] or _mapped_openblas()
    return tuple(loaded + [path for path in wheel if path not in loaded])


def _is_loaded(path):
    try:
        ctypes.CDLL(path, mode=os.RTLD_NOLOAD | os.RTLD_LOCAL)
        return True
    except OSError:
        return False


def _mapped_openblas():
    """The ILP64 OpenBLAS files mapped into this process, from /proc/self/maps."""
    found = []
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:     # ~300 lines: the substring test first, then the path
                if "openblas64" not in line:
                    continue
                path = line.split()[-1]
                if "openblas64" in os.path.basename(path) and path not in found:
                    found.append(path)
    except OSError:
        pass
    return found


def _numpy_openblas():
    """numpy's own OpenBLAS (ILP64, the ``scipy_openblas64_`` build of the numpy wheels) as a
    ctypes library, or None. It is the library numpy's matmul runs on; scipy bundles another
    build, up to 2.5x slower on skinny products (a (600, 784) matrix transposed times a
    (600, 10) one: the gradient of a 10-class logistic regression)."""
    for lib in _numpy_openblas_libraries():
        for prefix, suffix in (("scipy_", "_64_"), ("", "_64_"), ("", "64_")):
            try:
                # gemm and gemv by their Fortran names, sdot and ddot by their CBLAS ones
                names = [f"{prefix}{name}{suffix}" for name in ROUTINES[:4]] + \
                    [f"{prefix}cblas_{name}64_" for name in ROUTINES[4:]]
                return [ctypes.cast(getattr(lib, n), ctypes.c_void_p).value for n in names]
            except AttributeError:
                continue
    return None


def _scipy_pointers():
    if "scipy.linalg.cython_blas" not in sys.modules and \
            os.environ.get("CGRAPH_BLAS_SOURCE") != "cython_blas":
        pointers = _bundled_openblas()
        if pointers is not None and all(pointers):
            return pointers
    return _capsule_pointers()


@functools.lru_cache(maxsize=None)
def blas_pointers():
    """(the addresses of ROUTINES, whether they are numpy's ILP64 ones: 64-bit integers, and
    sdot/ddot through CBLAS)."""
    if os.environ.get("CGRAPH_BLAS", "numpy") != "scipy":
        fast = _numpy_openblas()
        if fast is not None and all(fast):
            return tuple(fast), True
    return tuple(_scipy_pointers()), False


# --- LAPACK, for the linear algebra ops (cgraph/tensor/nlinalg.py, slinalg.py) -------------

LAPACK_ROUTINES = ("sgesv", "dgesv", "sgetrf", "dgetrf", "spotrf", "dpotrf", "strtrs",
                   "dtrtrs")


def _numpy_openblas_lapack():
    """The LAPACK routines of numpy's own OpenBLAS (ILP64), found as its BLAS is, or None."""
    for lib in _numpy_openblas_libraries():
        for prefix, suffix in (("scipy_", "_64_"), ("", "_64_"), ("", "64_")):
            try:
                return [ctypes.cast(getattr(lib, f"{prefix}{r}{suffix}"), ctypes.c_void_p).value
                        for r in LAPACK_ROUTINES]
            except AttributeError:
                continue
    return None


def _scipy_lapack():
    """scipy's LAPACK (32-bit integers): its bundled OpenBLAS read by name, else the
    capsules of ``scipy.linalg.cython_lapack``."""
    if os.environ.get("CGRAPH_BLAS_SOURCE") != "cython_blas":
        pointers = _bundled_openblas(LAPACK_ROUTINES)
        if pointers is not None and all(pointers):
            return pointers
    try:
        from scipy.linalg import cython_lapack
    except ImportError as exc:
        raise ImportError("cgraph's linear algebra calls LAPACK from numpy's OpenBLAS or "
                          "scipy; install scipy (pip install scipy), or use mode='py'") from exc
    return _capsule_pointers_of(cython_lapack, LAPACK_ROUTINES)


@functools.lru_cache(maxsize=None)
def lapack_pointers():
    """(the addresses of LAPACK_ROUTINES, whether they take 64-bit integers), from the
    library BLAS comes from (CGRAPH_BLAS=scipy: scipy's)."""
    if os.environ.get("CGRAPH_BLAS", "numpy") != "scipy":
        fast = _numpy_openblas_lapack()
        if fast is not None and all(fast):
            return tuple(fast), True
    return tuple(_scipy_lapack()), False


def blas_thread_control():
    """The addresses of openblas_get_num_threads and openblas_set_num_threads of numpy's
    OpenBLAS when the BLAS pointers are its (ILP64) ones, else None: the runtime runs small
    products on one of its threads (cg_set_blas_threads, templates/runtime.c.j2)."""
    if not blas_pointers()[1]:
        return None
    for lib in _numpy_openblas_libraries():
        for prefix, suffix in (("scipy_", "64_"), ("", "64_")):
            try:
                return tuple(ctypes.cast(getattr(lib, f"{prefix}openblas_{name}{suffix}"),
                                         ctypes.c_void_p).value
                             for name in ("get_num_threads", "set_num_threads"))
            except AttributeError:
                continue
    return None


def _blas_query(names, restype):
    """What the first of ``names`` (a function of no arguments) returns in the BLAS in use
    (numpy's OpenBLAS, else scipy's bundled one), or None when it has none of them."""
    if blas_pointers()[1]:
        libraries = _numpy_openblas_libraries()
    else:
        try:
            import scipy
            folder = os.path.dirname(scipy.__file__) + ".libs"
            libraries = [ctypes.CDLL(os.path.join(folder, name)) for name in
                         sorted(name for name in os.listdir(folder)
                                if name.startswith("libscipy_openblas") and ".so" in name)[:1]]
        except (ImportError, OSError):
            return None
    for lib in libraries:
        for name in names:
            get = getattr(lib, name, None)
            if get is not None:
                get.restype, get.argtypes = restype, []
                return get()
        return None
    return None


def blas_threads():
    """How many threads the BLAS in use runs per call (OpenBLAS's get_num_threads), or None
    when it cannot be told: the small-GEMM tuning (cgraph/gemm_tuning.py) times BLAS as it
    runs, so a choice made against one thread is not used with two."""
    threads = _blas_query(("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_",
                           "scipy_openblas_get_num_threads", "openblas_get_num_threads"),
                          ctypes.c_int)
    return None if threads is None else int(threads)


def blas_core():
    """The CPU core OpenBLAS picked its kernels for (openblas_get_corename: "SkylakeX",
    "Haswell", "Zen"...; OPENBLAS_CORETYPE overrides it), or None when it cannot be told:
    the small-GEMM tuning times BLAS, so a choice made against Haswell's kernels is not used
    against SkylakeX's."""
    name = _blas_query(("scipy_openblas_get_corename64_", "openblas_get_corename64_",
                        "scipy_openblas_get_corename", "openblas_get_corename"),
                       ctypes.c_char_p)
    return None if name is None else name.decode(errors="replace").strip()

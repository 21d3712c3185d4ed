/* cgraph's call path in C: one generic CPython extension, built once per (compiler, Python
 * ABI, numpy version) into the cgraph cache (see cgraph/compile/fastcall.py).
 *
 * A Caller is made per compiled Function. Called with the function's positional arguments,
 * it checks them, reads the shared values, calls the module's cg_run, wraps the outputs as
 * numpy arrays that own their buffers, writes the updates into the shared containers and
 * shapes the result. Whatever it does not handle exactly (a Python scalar, a list, another
 * dtype, a non-contiguous array, a missing argument...) it declines by returning the
 * `fallback` object, BEFORE doing anything: the Python path then runs and raises the usual
 * errors. Nothing here is static and mutable: one Caller may run in several threads at once.
 *
 * A call is atomic with respect to the shared variables it touches: it holds their locks
 * (reentrant locks of the containers, given in one global order by the Python side, the
 * order the Python path takes them in too) from reading their values until the updates are
 * written. Taking them calls the lock's own acquire, which waits without the GIL, so a
 * thread running cg_run without the GIL can always finish and give its locks back.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

typedef int (*cg_run_fn)(void **in_data, const int64_t *in_shape, void **out_data,
                         int64_t *out_shape, int *fail_node, char *err, int errlen);
typedef void (*cg_free_fn)(void *p);

#define FC_ERR_LEN 2048
#define FC_MAXDIM 8
#define FC_STACK_SLOTS 32          /* arrays up to this many live on the C stack */
#define FC_TYPE_ALIASES 3          /* type numbers naming the same dtype (int64: long, longlong) */
#define FC_INTERRUPTED 7           /* cg_run's status when a loop saw Ctrl-C (runtime.h) */

/* What an input (user argument or shared value) must be to go through unconverted. */
typedef struct {
    int type_nums[FC_TYPE_ALIASES];
    int ndim;
    unsigned int broadcast_mask;   /* bit d: axis d is broadcastable, so its length must be 1 */
    int written;                   /* cg_run may write its update into it: must be writeable */
} fc_spec;

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    cg_run_fn run;
    cg_free_fn free_fn;
    PyObject *keepalive;           /* the module and its runtime library: keep run/free mapped */
    Py_ssize_t n_args, n_shared, n_hidden, n_out, n_updates;
    Py_ssize_t in_shape_total, out_shape_total;
    fc_spec *specs;                /* n_args + n_shared */
    int *out_ndim;                 /* n_out */
    PyObject *defaults;            /* tuple, n_args: None or the In(value=...) array */
    PyObject *containers;          /* tuple, n_shared: Container objects (read .value) */
    PyObject *hidden;              /* tuple of C-contiguous arrays passed after the shared */
    PyObject *out_descrs;          /* tuple of numpy dtypes, n_out */
    PyObject *update_containers;   /* tuple, n_updates: where outputs n_out-n_updates.. go */
    Py_ssize_t *update_inputs;     /* n_updates: graph input index it may update in place, or -1 */
    int result_kind;               /* 0: list, 1: single value, 2: dict */
    PyObject *keys;                /* tuple of str (dict results) or None */
    PyObject *on_error;            /* callable(status, node, message bytes): raises */
    PyObject *fallback;            /* returned when the call is declined */
    Py_ssize_t gil_threshold;      /* release the GIL when inputs hold at least this many elements */
    int64_t hidden_elements;       /* elements of the hidden constants (counted in every call) */
    PyObject *lock_acquire;        /* tuple: bound acquire of each lock, in the global order */
    PyObject *lock_release;        /* tuple: bound release of the same locks */
    int interruptible;             /* its module counts SIGINTs (it has loops that may run long) */
} Caller;

static PyObject *value_str;        /* interned "value"; set once at import, then read only */
static PyObject *empty_tuple;      /* (); set once at import, then read only */

/* ---- Ctrl-C during a long loop ---------------------------------------------------------
 * Python's SIGINT handler only notes the signal; the KeyboardInterrupt comes when the main
 * thread runs Python again, i.e. after cg_run returns. So a handler of ours, chained before
 * Python's, also counts each SIGINT in fc_interrupts, which long loops read between steps
 * (the runtime's cg_interrupted; a scan between its steps): they then fail with
 * FC_INTERRUPTED before any update is written, and the call raises KeyboardInterrupt. It is
 * (re)installed before the calls of such a module, since signal.signal() replaces it (at
 * most every few milliseconds: fc_rewatch_sigint). */
static volatile sig_atomic_t fc_interrupts;
static struct sigaction fc_previous;   /* the handler ours chains to (Python's) */

static void fc_on_sigint(int sig)
{
    /* Python's handler first: when a loop sees the count change (maybe from another thread,
       if the signal was delivered to one), Python knows of the signal already, and raises
       exactly one KeyboardInterrupt for it */
    if (fc_previous.sa_handler != SIG_DFL && fc_previous.sa_handler != SIG_IGN)
        fc_previous.sa_handler(sig);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    fc_interrupts++;
}

/* Chain our handler before the current one; 0 if SIGINT is ignored, default, or taken by a
 * handler we cannot chain to (then loops are not interrupted, as before). Called with the
 * GIL held, so never by two threads at once. */
static int fc_watch_sigint(void)
{
    struct sigaction current;
    if (sigaction(SIGINT, NULL, &current) != 0) return 0;
    if (!(current.sa_flags & SA_SIGINFO) && current.sa_handler == fc_on_sigint) return 1;
    if ((current.sa_flags & SA_SIGINFO) || current.sa_handler == SIG_DFL ||
        current.sa_handler == SIG_IGN)
        return 0;
    struct sigaction ours = current;
    ours.sa_handler = fc_on_sigint;
    fc_previous = current;             /* before ours can run */
    return sigaction(SIGINT, &ours, NULL) == 0;
}

/* fc_watch_sigint at most every FC_SIGINT_RECHECK_NS (a system call: 0.3 us, a third of a
 * small call): a handler set with signal.signal() since then goes unnoticed until the
 * next check, i.e. during the calls of the next few milliseconds. Under the GIL. */
#define FC_SIGINT_RECHECK_NS 10000000LL
static long long fc_sigint_checked_ns = -FC_SIGINT_RECHECK_NS;

static void fc_rewatch_sigint(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &now);   /* (vDSO: no system call) */
    const long long ns = (long long)now.tv_sec * 1000000000LL + now.tv_nsec;
    if (ns - fc_sigint_checked_ns < FC_SIGINT_RECHECK_NS) return;
    fc_sigint_checked_ns = ns;
    fc_watch_sigint();
}

/* ---- owned output buffers ------------------------------------------------------------- */

static void buffer_capsule_free(PyObject *capsule)
{
    void *p = PyCapsule_GetPointer(capsule, NULL);
    cg_free_fn free_fn = (cg_free_fn)PyCapsule_GetContext(capsule);
    if (p && free_fn) free_fn(p);
}

/* An ndarray over the module's malloc'd buffer `data`, freed by free_fn with the array. On
 * failure the buffer is freed too and NULL returned. */
static PyObject *wrap_buffer(Caller *self, Py_ssize_t k, void *data, const int64_t *shape)
{
    int ndim = self->out_ndim[k];
    npy_intp dims[FC_MAXDIM];
    for (int d = 0; d < ndim; d++) dims[d] = (npy_intp)shape[d];
    PyObject *capsule = PyCapsule_New(data, NULL, buffer_capsule_free);
    if (!capsule) {
        self->free_fn(data);
        return NULL;
    }
    if (PyCapsule_SetContext(capsule, (void *)self->free_fn) < 0) {
        Py_DECREF(capsule);         /* no context yet: free it here */
        self->free_fn(data);
        return NULL;
    }
    PyArray_Descr *descr = (PyArray_Descr *)PyTuple_GET_ITEM(self->out_descrs, k);
    Py_INCREF(descr);               /* stolen by NewFromDescr */
    PyObject *arr = PyArray_NewFromDescr(&PyArray_Type, descr, ndim, dims, NULL, data,
                                         NPY_ARRAY_CARRAY, NULL);
    if (!arr) {
        Py_DECREF(capsule);         /* frees the buffer */
        return NULL;
    }
    if (PyArray_SetBaseObject((PyArrayObject *)arr, capsule) < 0) {   /* steals capsule */
        Py_DECREF(arr);
        return NULL;
    }
    return arr;
}

/* ---- checks ----------------------------------------------------------------------------- */

/* 1 if `obj` can be handed to cg_run as it is for `spec`. */
static inline int acceptable(PyObject *obj, const fc_spec *spec, int exact)
{
    if (exact ? !PyArray_CheckExact(obj) : !PyArray_Check(obj)) return 0;
    PyArrayObject *a = (PyArrayObject *)obj;
    int tn = PyArray_TYPE(a);
    if (tn != spec->type_nums[0] && tn != spec->type_nums[1] && tn != spec->type_nums[2])
        return 0;
    if (PyArray_NDIM(a) != spec->ndim) return 0;
    if (!PyArray_ISCARRAY_RO(a) || PyArray_ISBYTESWAPPED(a)) return 0;
    if (spec->written && !PyArray_ISWRITEABLE(a)) return 0;
    if (spec->broadcast_mask) {
        const npy_intp *shape = PyArray_DIMS(a);
        for (int d = 0; d < spec->ndim; d++)
            if ((spec->broadcast_mask >> d & 1u) && shape[d] != 1) return 0;
    }
    return 1;
}

/* ---- the call --------------------------------------------------------------------------- */

/* Take the first n locks in order; 0, or -1 with an exception (those taken are given back). */
static int take_locks(Caller *self, Py_ssize_t *held)
{
    Py_ssize_t n = PyTuple_GET_SIZE(self->lock_acquire);
    for (; *held < n; (*held)++) {
        PyObject *r = PyObject_CallNoArgs(PyTuple_GET_ITEM(self->lock_acquire, *held));
        if (!r) return -1;
        Py_DECREF(r);
    }
    return 0;
}

/* Give back the `held` first locks, last taken first, keeping any exception being raised. */
static void give_back_locks(Caller *self, Py_ssize_t held)
{
    if (!held) return;
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    while (held > 0) {
        PyObject *r = PyObject_CallNoArgs(PyTuple_GET_ITEM(self->lock_release, --held));
        if (r) Py_DECREF(r);
        else PyErr_WriteUnraisable(PyTuple_GET_ITEM(self->lock_release, held));
    }
    PyErr_Restore(type, value, traceback);
}

static PyObject *raise_from_module(Caller *self, int status, int fail_node, const char *err)
{
    PyObject *r = PyObject_CallFunction(self->on_error, "iiy", status, fail_node, err);
    if (r) {   /* on_error must raise; if it did not, say so rather than return garbage */
        Py_DECREF(r);
        PyErr_SetString(PyExc_RuntimeError, "cgraph: cg_run failed");
    }
    return NULL;
}

static PyObject *caller_vectorcall(PyObject *callable, PyObject *const *args, size_t nargsf,
                                   PyObject *kwnames)
{
    Caller *self = (Caller *)callable;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    Py_ssize_t n_args = self->n_args, n_shared = self->n_shared;
    Py_ssize_t n_in = n_args + n_shared + self->n_hidden, n_out = self->n_out;
    if ((kwnames && PyTuple_GET_SIZE(kwnames)) || nargs > n_args) goto decline_early;

    /* per-call scratch: on the stack, or on the heap for big functions */
    void *in_data_stack[FC_STACK_SLOTS], *out_data_stack[FC_STACK_SLOTS];
    int64_t in_shape_stack[FC_STACK_SLOTS * 2], out_shape_stack[FC_STACK_SLOTS * 2];
    PyObject *shared_stack[FC_STACK_SLOTS], *results_stack[FC_STACK_SLOTS];
    void **in_data = in_data_stack, **out_data = out_data_stack;
    int64_t *in_shape = in_shape_stack, *out_shape = out_shape_stack;
    PyObject **shared = shared_stack, **results = results_stack;
    void *heap = NULL;
    int big = n_in > FC_STACK_SLOTS || n_out > FC_STACK_SLOTS ||
              self->in_shape_total > FC_STACK_SLOTS * 2 ||
              self->out_shape_total > FC_STACK_SLOTS * 2;
    if (big) {
        size_t words = (size_t)(n_in + n_out + n_shared + n_out + 2) * sizeof(void *) +
                       (size_t)(self->in_shape_total + self->out_shape_total + 2) * sizeof(int64_t);
        heap = PyMem_Malloc(words);
        if (!heap) return PyErr_NoMemory();
        in_data = (void **)heap;
        out_data = in_data + n_in + 1;
        shared = (PyObject **)(out_data + n_out + 1);
        results = shared + n_shared;
        in_shape = (int64_t *)(results + n_out);
        out_shape = in_shape + self->in_shape_total + 1;
    }

    Py_ssize_t pos = 0, got_shared = 0, held = 0, k;
    int64_t elements = self->hidden_elements;
    PyObject *result = NULL;
    /* user arguments (borrowed: the caller holds them), then defaults */
    for (k = 0; k < n_args; k++) {
        PyObject *v = k < nargs ? args[k] : PyTuple_GET_ITEM(self->defaults, k);
        if (v == Py_None || !acceptable(v, &self->specs[k], 1)) goto decline;
        PyArrayObject *a = (PyArrayObject *)v;
        in_data[k] = PyArray_DATA(a);
        const npy_intp *dims = PyArray_DIMS(a);
        for (int d = 0; d < self->specs[k].ndim; d++) in_shape[pos++] = dims[d];
        elements += PyArray_SIZE(a);
    }
    /* the shared variables' locks, then their values: new references, held until the end */
    if (take_locks(self, &held) < 0) goto fail;
    for (k = 0; k < n_shared; k++) {
        PyObject *v = PyObject_GetAttr(PyTuple_GET_ITEM(self->containers, k), value_str);
        if (!v) goto fail;
        shared[got_shared++] = v;
        if (!acceptable(v, &self->specs[n_args + k], 0)) goto decline;
        PyArrayObject *a = (PyArrayObject *)v;
        in_data[n_args + k] = PyArray_DATA(a);
        const npy_intp *dims = PyArray_DIMS(a);
        for (int d = 0; d < self->specs[n_args + k].ndim; d++) in_shape[pos++] = dims[d];
        elements += PyArray_SIZE(a);
    }
    for (k = 0; k < self->n_hidden; k++) {
        PyArrayObject *a = (PyArrayObject *)PyTuple_GET_ITEM(self->hidden, k);
        in_data[n_args + n_shared + k] = PyArray_DATA(a);
        const npy_intp *dims = PyArray_DIMS(a);
        for (int d = 0; d < PyArray_NDIM(a); d++) in_shape[pos++] = dims[d];
    }

    char err[FC_ERR_LEN];
    int fail_node = -1, status;
    err[0] = '\0';
    if (self->interruptible) {
        /* a Ctrl-C that came while the arguments were made is raised now, not after a long
           call (Python would see it only then) */
        if (PyErr_CheckSignals() < 0) goto fail;
        fc_rewatch_sigint();
    }
    if (elements >= self->gil_threshold) {
        Py_BEGIN_ALLOW_THREADS
        status = self->run(in_data, in_shape, out_data, out_shape, &fail_node, err, FC_ERR_LEN);
        Py_END_ALLOW_THREADS
    } else {
        status = self->run(in_data, in_shape, out_data, out_shape, &fail_node, err, FC_ERR_LEN);
    }
    if (status == FC_INTERRUPTED) {
        /* Python's handler runs now (KeyboardInterrupt, or the user's); in another thread
           than the main one, or if that handler does not raise, the call still failed */
        if (PyErr_CheckSignals() == 0) PyErr_SetNone(PyExc_KeyboardInterrupt);
        goto fail;
    }
    if (status) {
        err[FC_ERR_LEN - 1] = '\0';
        raise_from_module(self, status, fail_node, err);
        goto fail;
    }

    /* wrap every output before touching any shared value: a failure here writes nothing */
    Py_ssize_t first_update = n_out - self->n_updates, wrapped = 0;
    pos = 0;
    for (k = 0; k < n_out; k++) {
        PyObject *obj = NULL;
        if (k >= first_update) {
            Py_ssize_t source = self->update_inputs[k - first_update];
            if (source >= 0 && out_data[k] == in_data[source]) {   /* updated in place */
                obj = source < n_args ? (k < nargs ? args[source]
                                                   : PyTuple_GET_ITEM(self->defaults, source))
                                      : shared[source - n_args];
                Py_INCREF(obj);
            }
        }
        if (!obj) obj = wrap_buffer(self, k, out_data[k], out_shape + pos);
        pos += self->out_ndim[k];
        if (!obj) {
            /* free the buffers not wrapped yet (never an input's: those were in place) */
            for (Py_ssize_t j = k + 1; j < n_out; j++) {
                Py_ssize_t source = j >= first_update ? self->update_inputs[j - first_update] : -1;
                if (!(source >= 0 && out_data[j] == in_data[source])) self->free_fn(out_data[j]);
            }
            goto fail_results;
        }
        results[wrapped++] = obj;
    }

    Py_ssize_t n_user = first_update;
    if (self->result_kind == 1) {
        result = results[0];
        Py_INCREF(result);
    } else if (self->result_kind == 2) {
        result = PyDict_New();
        for (k = 0; result && k < n_user; k++) {
            if (PyDict_SetItem(result, PyTuple_GET_ITEM(self->keys, k), results[k]) < 0)
                Py_CLEAR(result);
        }
    } else {
        result = PyList_New(n_user);
        for (k = 0; result && k < n_user; k++) {
            Py_INCREF(results[k]);
            PyList_SET_ITEM(result, k, results[k]);
        }
    }
    if (!result) goto fail_results;
    for (k = 0; k < self->n_updates; k++) {
        if (PyObject_SetAttr(PyTuple_GET_ITEM(self->update_containers, k), value_str,
                             results[first_update + k]) < 0) {
            Py_CLEAR(result);
            goto fail_results;
        }
    }

fail_results:
    for (k = 0; k < wrapped; k++) Py_DECREF(results[k]);
fail:
    for (k = 0; k < got_shared; k++) Py_DECREF(shared[k]);
    give_back_locks(self, held);
    PyMem_Free(heap);
    return result;

decline:
    for (k = 0; k < got_shared; k++) Py_DECREF(shared[k]);
    give_back_locks(self, held);
    PyMem_Free(heap);
decline_early:
    Py_INCREF(self->fallback);
    return self->fallback;
}

/* ---- the type --------------------------------------------------------------------------- */

static int read_spec(PyObject *item, fc_spec *spec)
{
    PyObject *type_nums;
    if (!PyArg_ParseTuple(item, "O!iIp", &PyTuple_Type, &type_nums, &spec->ndim,
                          &spec->broadcast_mask, &spec->written))
        return -1;
    Py_ssize_t n = PyTuple_GET_SIZE(type_nums);
    if (n < 1 || n > FC_TYPE_ALIASES || spec->ndim < 0 || spec->ndim > FC_MAXDIM) {
        PyErr_SetString(PyExc_ValueError, "bad input spec");
        return -1;
    }
    for (int i = 0; i < FC_TYPE_ALIASES; i++) {
        long t = PyLong_AsLong(PyTuple_GET_ITEM(type_nums, i < n ? i : 0));
        if (t == -1 && PyErr_Occurred()) return -1;
        spec->type_nums[i] = (int)t;
    }
    return 0;
}

static int caller_clear(Caller *self)
{
    Py_CLEAR(self->keepalive);
    Py_CLEAR(self->defaults);
    Py_CLEAR(self->containers);
    Py_CLEAR(self->hidden);
    Py_CLEAR(self->out_descrs);
    Py_CLEAR(self->update_containers);
    Py_CLEAR(self->keys);
    Py_CLEAR(self->on_error);
    Py_CLEAR(self->fallback);
    Py_CLEAR(self->lock_acquire);
    Py_CLEAR(self->lock_release);
    return 0;
}

static int caller_traverse(Caller *self, visitproc visit, void *arg)
{
    Py_VISIT(self->keepalive);
    Py_VISIT(self->defaults);
    Py_VISIT(self->containers);
    Py_VISIT(self->hidden);
    Py_VISIT(self->out_descrs);
    Py_VISIT(self->update_containers);
    Py_VISIT(self->keys);
    Py_VISIT(self->on_error);
    Py_VISIT(self->fallback);
    Py_VISIT(self->lock_acquire);
    Py_VISIT(self->lock_release);
    return 0;
}

static void caller_dealloc(Caller *self)
{
    PyObject_GC_UnTrack(self);
    caller_clear(self);
    PyMem_Free(self->specs);
    PyMem_Free(self->out_ndim);
    PyMem_Free(self->update_inputs);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Caller(run_address, free_address, keepalive, in_specs, defaults, containers, hidden,
 *        out_specs, update_containers, update_inputs, result_kind, keys, on_error, fallback,
 *        gil_threshold, lock_acquire, lock_release, interruptible)
 * in_specs: ((type numbers...), ndim, broadcast mask, written) per user input then per shared
 * value; out_specs: (dtype, ndim) per output, the updates last; update_inputs: per update, the
 * input cg_run may have written it into (its output pointer is then that input's data), or -1;
 * lock_acquire, lock_release: the bound methods of the locks a call holds (see the top);
 * interruptible: the module counts SIGINTs (see fc_watch_sigint). */
static int caller_init(Caller *self, PyObject *args, PyObject *kwds)
{
    unsigned long long run_address, free_address;
    PyObject *keepalive, *in_specs, *defaults, *containers, *hidden, *out_specs;
    PyObject *update_containers, *update_inputs, *keys, *on_error, *fallback;
    PyObject *lock_acquire = empty_tuple, *lock_release = empty_tuple;   /* optional */
    int interruptible = 0;                                                /* optional */
    int result_kind;
    Py_ssize_t gil_threshold;
    if (self->specs) {
        PyErr_SetString(PyExc_TypeError, "Caller is already initialised");
        return -1;
    }
    if (kwds && PyDict_GET_SIZE(kwds)) {
        PyErr_SetString(PyExc_TypeError, "Caller takes positional arguments only");
        return -1;
    }
    if (!PyArg_ParseTuple(args, "KKOO!O!O!O!O!O!O!iOOOn|O!O!p", &run_address, &free_address,
                          &keepalive, &PyTuple_Type, &in_specs, &PyTuple_Type, &defaults,
                          &PyTuple_Type, &containers, &PyTuple_Type, &hidden,
                          &PyTuple_Type, &out_specs, &PyTuple_Type, &update_containers,
                          &PyTuple_Type, &update_inputs, &result_kind, &keys, &on_error,
                          &fallback, &gil_threshold, &PyTuple_Type, &lock_acquire,
                          &PyTuple_Type, &lock_release, &interruptible))
        return -1;
    Py_ssize_t n_args = PyTuple_GET_SIZE(defaults), n_shared = PyTuple_GET_SIZE(containers);
    Py_ssize_t n_hidden = PyTuple_GET_SIZE(hidden), n_out = PyTuple_GET_SIZE(out_specs);
    Py_ssize_t n_updates = PyTuple_GET_SIZE(update_containers);
    if (!run_address || !free_address || PyTuple_GET_SIZE(in_specs) != n_args + n_shared ||
        PyTuple_GET_SIZE(update_inputs) != n_updates || n_updates > n_out ||
        result_kind < 0 || result_kind > 2 || (result_kind == 1 && n_out - n_updates != 1) ||
        (result_kind == 2 && (!PyTuple_Check(keys) ||
                              PyTuple_GET_SIZE(keys) != n_out - n_updates)) ||
        !PyCallable_Check(on_error) ||
        PyTuple_GET_SIZE(lock_acquire) != PyTuple_GET_SIZE(lock_release)) {
        PyErr_SetString(PyExc_ValueError, "inconsistent Caller description");
        return -1;
    }
    self->specs = PyMem_Calloc((size_t)(n_args + n_shared + 1), sizeof(fc_spec));
    self->out_ndim = PyMem_Calloc((size_t)(n_out + 1), sizeof(int));
    self->update_inputs = PyMem_Calloc((size_t)(n_updates + 1), sizeof(Py_ssize_t));
    if (!self->specs || !self->out_ndim || !self->update_inputs) {
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t in_shape_total = 0, out_shape_total = 0, k;
    for (k = 0; k < n_args + n_shared; k++) {
        if (read_spec(PyTuple_GET_ITEM(in_specs, k), &self->specs[k]) < 0) return -1;
        in_shape_total += self->specs[k].ndim;
    }
    for (k = 0; k < n_args; k++) {
        PyObject *v = PyTuple_GET_ITEM(defaults, k);
        if (v != Py_None && !acceptable(v, &self->specs[k], 1)) {
            PyErr_SetString(PyExc_ValueError, "a default value does not fit its input");
            return -1;
        }
    }
    for (k = 0; k < n_hidden; k++) {
        PyObject *v = PyTuple_GET_ITEM(hidden, k);
        if (!PyArray_Check(v) || !PyArray_ISCARRAY_RO((PyArrayObject *)v) ||
            PyArray_NDIM((PyArrayObject *)v) > FC_MAXDIM) {
            PyErr_SetString(PyExc_ValueError, "hidden constants must be C-contiguous arrays");
            return -1;
        }
        in_shape_total += PyArray_NDIM((PyArrayObject *)v);
        self->hidden_elements += PyArray_SIZE((PyArrayObject *)v);
    }
    PyObject *descrs = PyTuple_New(n_out);
    if (!descrs) return -1;
    self->out_descrs = descrs;
    for (k = 0; k < n_out; k++) {
        PyObject *descr;
        int ndim;
        if (!PyArg_ParseTuple(PyTuple_GET_ITEM(out_specs, k), "O!i", &PyArrayDescr_Type,
                              &descr, &ndim))
            return -1;
        if (ndim < 0 || ndim > FC_MAXDIM) {
            PyErr_SetString(PyExc_ValueError, "bad output ndim");
            return -1;
        }
        Py_INCREF(descr);
        PyTuple_SET_ITEM(descrs, k, descr);
        self->out_ndim[k] = ndim;
        out_shape_total += ndim;
    }
    for (k = 0; k < n_updates; k++) {
        Py_ssize_t source = PyLong_AsSsize_t(PyTuple_GET_ITEM(update_inputs, k));
        if (source == -1 && PyErr_Occurred()) return -1;
        if (source < -1 || source >= n_args + n_shared) {
            PyErr_SetString(PyExc_ValueError, "bad update source");
            return -1;
        }
        self->update_inputs[k] = source;
    }
    self->run = (cg_run_fn)(uintptr_t)run_address;
    self->free_fn = (cg_free_fn)(uintptr_t)free_address;
    self->n_args = n_args;
    self->n_shared = n_shared;
    self->n_hidden = n_hidden;
    self->n_out = n_out;
    self->n_updates = n_updates;
    self->in_shape_total = in_shape_total;
    self->out_shape_total = out_shape_total;
    self->result_kind = result_kind;
    self->gil_threshold = gil_threshold;
    self->interruptible = interruptible;
#define FC_KEEP(field, value) do { Py_INCREF(value); self->field = (value); } while (0)
    FC_KEEP(keepalive, keepalive);
    FC_KEEP(defaults, defaults);
    FC_KEEP(containers, containers);
    FC_KEEP(hidden, hidden);
    FC_KEEP(update_containers, update_containers);
    FC_KEEP(keys, keys);
    FC_KEEP(on_error, on_error);
    FC_KEEP(fallback, fallback);
    FC_KEEP(lock_acquire, lock_acquire);
    FC_KEEP(lock_release, lock_release);
#undef FC_KEEP
    self->vectorcall = caller_vectorcall;
    return 0;
}

static PyObject *caller_call(PyObject *self, PyObject *args, PyObject *kwargs)
{
    if (!((Caller *)self)->specs) {
        PyErr_SetString(PyExc_TypeError, "Caller is not initialised");
        return NULL;
    }
    return PyVectorcall_Call(self, args, kwargs);
}

/* watch_sigint() -> the address of the SIGINT count, with our handler chained before the
 * current one; 0 if SIGINT cannot be watched. */
static PyObject *watch_sigint(PyObject *module, PyObject *unused)
{
    (void)module; (void)unused;
    if (!fc_watch_sigint()) return PyLong_FromLong(0);
    return PyLong_FromVoidPtr((void *)&fc_interrupts);
}

/* sigint_count() -> the address of the SIGINT count, for the runtime library (which polls
 * it in long loops); changes nothing. */
static PyObject *sigint_count(PyObject *module, PyObject *unused)
{
    (void)module; (void)unused;
    return PyLong_FromVoidPtr((void *)&fc_interrupts);
}

static PyObject *install_call(PyObject *module, PyObject *cls);

static PyMethodDef fastcall_functions[] = {
    {"install_call", install_call, METH_O,
     "call the instances of cls (whose __call__ is a CallMethod) through that method "
     "directly, not through CPython's generic slot"},
    {"sigint_count", sigint_count, METH_NOARGS,
     "the address of cgraph's SIGINT count (see watch_sigint)"},
    {"watch_sigint", watch_sigint, METH_NOARGS,
     "chain cgraph's SIGINT counter before the current handler; the counter's address"},
    {NULL, NULL, 0, NULL}
};

static PyMemberDef caller_members[] = {
    {"gil_threshold", T_PYSSIZET, offsetof(Caller, gil_threshold), 0,
     "release the GIL around cg_run when the inputs hold at least this many elements"},
    {NULL, 0, 0, 0, NULL}
};

static PyTypeObject CallerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "cgraph_fastcall.Caller",
    .tp_basicsize = sizeof(Caller),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "The call path of one compiled cgraph Function (see cgraph/compile/fastcall.py).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)caller_init,
    .tp_dealloc = (destructor)caller_dealloc,
    .tp_traverse = (traverseproc)caller_traverse,
    .tp_clear = (inquiry)caller_clear,
    .tp_call = caller_call,
    .tp_vectorcall_offset = offsetof(Caller, vectorcall),
    .tp_members = caller_members,
};

/* ---- the call method ---------------------------------------------------------------------
 * Function.__call__ in C (installed by cgraph/compile/function.py once the extension is
 * loaded): a method descriptor, so that f(x) reaches the instance's Caller (read from its
 * attribute ``attr``) without a Python frame, an args tuple or a kwargs dict (~0.15 us of
 * W5's 0.4). Any call the Caller does not take (keywords, no Caller, a declined call) goes
 * to ``slow(self, *args, **kwargs)``, the Python path, unchanged.
 * When ``attr`` is a slot of ``cls`` (a member in __slots__), an instance of exactly that
 * class has its Caller read at the slot's offset: a generic getattr (the type's MRO, then
 * the instance's keys) cost ~30 ns of a ~400 ns call. */
typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *slow;    /* the Python path: a function of (self, *args, **kwargs) */
    PyObject *attr;    /* the name of the instance attribute holding its Caller (or None) */
    PyTypeObject *cls; /* the class whose slot ``attr`` is at ``offset``, or NULL */
    Py_ssize_t offset;
} CallMethod;

/* The Caller (or whatever is there) of instance ``self``: a new reference, or NULL with
 * an exception (an unset slot raises AttributeError, as getattr does). */
static PyObject *call_method_caller(CallMethod *m, PyObject *self)
{
    if (Py_TYPE(self) == m->cls) {
        PyObject *fast = *(PyObject **)((char *)self + m->offset);
        if (fast) {
            Py_INCREF(fast);
            return fast;
        }
    }
    return PyObject_GetAttr(self, m->attr);
}

static PyObject *call_method_vectorcall(PyObject *callable, PyObject *const *args,
                                        size_t nargsf, PyObject *kwnames)
{
    CallMethod *m = (CallMethod *)callable;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (nargs >= 1 && !(kwnames && PyTuple_GET_SIZE(kwnames))) {
        PyObject *fast = call_method_caller(m, args[0]);
        if (!fast) return NULL;
        if (Py_TYPE(fast) == &CallerType && ((Caller *)fast)->specs) {
            PyObject *result = caller_vectorcall(fast, args + 1, (size_t)(nargs - 1), NULL);
            const int declined = result && result == ((Caller *)fast)->fallback;
            Py_DECREF(fast);
            if (!declined) return result;
            Py_DECREF(result);
        } else {
            Py_DECREF(fast);
        }
    }
    return PyObject_Vectorcall(m->slow, args, nargsf, kwnames);
}

/* The offset of slot ``attr`` in instances of ``cls`` (an object member of its __slots__,
 * found in the class's own dict), or -1 if it is not one (then getattr reads it). */
static Py_ssize_t slot_offset(PyTypeObject *cls, PyObject *attr)
{
    PyObject *descr = PyDict_GetItemWithError(cls->tp_dict, attr);   /* borrowed */
    if (!descr || !Py_IS_TYPE(descr, &PyMemberDescr_Type)) return -1;
    PyMemberDef *member = ((PyMemberDescrObject *)descr)->d_member;
    if ((member->type != T_OBJECT_EX && member->type != T_OBJECT) || member->offset <= 0 ||
        (size_t)member->offset + sizeof(PyObject *) > (size_t)cls->tp_basicsize)
        return -1;
    return member->offset;
}

/* CallMethod(slow, attr[, cls]) */
static int call_method_init(CallMethod *self, PyObject *args, PyObject *kwargs)
{
    PyObject *slow, *attr, *cls = NULL;
    if (kwargs && PyDict_GET_SIZE(kwargs)) {
        PyErr_SetString(PyExc_TypeError, "CallMethod takes no keyword arguments");
        return -1;
    }
    if (!PyArg_ParseTuple(args, "OU|O!", &slow, &attr, &PyType_Type, &cls)) return -1;
    if (!PyCallable_Check(slow)) {
        PyErr_SetString(PyExc_TypeError, "CallMethod: slow must be callable");
        return -1;
    }
    Py_ssize_t offset = cls ? slot_offset((PyTypeObject *)cls, attr) : -1;
    if (offset < 0 && PyErr_Occurred()) return -1;
    if (offset < 0) cls = NULL;
    Py_INCREF(slow);
    Py_INCREF(attr);
    Py_XINCREF(cls);
    Py_XSETREF(self->slow, slow);
    Py_XSETREF(self->attr, attr);
    Py_XSETREF(self->cls, (PyTypeObject *)cls);
    self->offset = offset;
    self->vectorcall = call_method_vectorcall;
    return 0;
}

static PyObject *call_method_call(PyObject *self, PyObject *args, PyObject *kwargs)
{
    if (!((CallMethod *)self)->slow) {
        PyErr_SetString(PyExc_TypeError, "CallMethod is not initialised");
        return NULL;
    }
    return PyVectorcall_Call(self, args, kwargs);
}

/* f.__call__: the method bound to f, as for a Python function */
static PyObject *call_method_get(PyObject *self, PyObject *obj, PyObject *type)
{
    (void)type;
    if (!obj || obj == Py_None) {
        Py_INCREF(self);
        return self;
    }
    return PyMethod_New(self, obj);
}

static int call_method_traverse(CallMethod *self, visitproc visit, void *arg)
{
    Py_VISIT(self->slow);
    Py_VISIT(self->attr);
    Py_VISIT(self->cls);
    return 0;
}

static int call_method_clear(CallMethod *self)
{
    Py_CLEAR(self->slow);
    Py_CLEAR(self->attr);
    Py_CLEAR(self->cls);
    return 0;
}

static void call_method_dealloc(CallMethod *self)
{
    PyObject_GC_UnTrack(self);
    call_method_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyTypeObject CallMethodType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "cgraph_fastcall.CallMethod",
    .tp_basicsize = sizeof(CallMethod),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL |
                Py_TPFLAGS_METHOD_DESCRIPTOR,
    .tp_doc = "Function.__call__ in C: the instance's Caller, else the Python path "
              "(see cgraph/compile/function.py).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)call_method_init,
    .tp_dealloc = (destructor)call_method_dealloc,
    .tp_traverse = (traverseproc)call_method_traverse,
    .tp_clear = (inquiry)call_method_clear,
    .tp_call = call_method_call,
    .tp_descr_get = call_method_get,
    .tp_vectorcall_offset = offsetof(CallMethod, vectorcall),
};

/* ---- the class's call slot ---------------------------------------------------------------
 * An instance of a Python class is called through CPython's slot_tp_call, which looks
 * __call__ up in the type and copies the arguments behind self before calling it (~30 ns of
 * a ~400 ns call). install_call(cls) gives cls (whose __call__ is a CallMethod) a call slot
 * that calls that CallMethod directly. Assigning cls.__call__ later puts CPython's slot back
 * (type_setattro updates tp_call), and subclasses get CPython's slot: this one only runs
 * for instances of exactly cls while its __call__ is that CallMethod. One class per process,
 * set under the GIL and then only read. */
static PyTypeObject *fc_call_class;     /* the class given to install_call */
static CallMethod *fc_call_method;      /* its __call__ */

static PyObject *installed_call(PyObject *self, PyObject *args, PyObject *kwargs)
{
    Py_ssize_t n = PyTuple_GET_SIZE(args);
    PyObject *stack_small[FC_STACK_SLOTS + 1], **stack = stack_small;
    if (n >= FC_STACK_SLOTS) {
        stack = PyMem_Malloc((size_t)(n + 1) * sizeof(PyObject *));
        if (!stack) return PyErr_NoMemory();
    }
    stack[0] = self;   /* borrowed, as the tuple's items: the caller holds them */
    for (Py_ssize_t k = 0; k < n; k++) stack[k + 1] = PyTuple_GET_ITEM(args, k);
    /* held for the call: another install_call may replace it while cg_run runs */
    PyObject *method = (PyObject *)fc_call_method;
    Py_INCREF(method);
    PyObject *result = kwargs && PyDict_GET_SIZE(kwargs)
        ? PyObject_VectorcallDict(method, stack, (size_t)(n + 1), kwargs)
        : call_method_vectorcall(method, stack, (size_t)(n + 1), NULL);
    Py_DECREF(method);
    if (stack != stack_small) PyMem_Free(stack);
    return result;
}

/* install_call(cls) -> True if cls's instances are now called through installed_call */
static PyObject *install_call(PyObject *module, PyObject *cls)
{
    (void)module;
    if (!PyType_Check(cls) || !PyType_HasFeature((PyTypeObject *)cls, Py_TPFLAGS_HEAPTYPE)) {
        PyErr_SetString(PyExc_TypeError, "install_call: a Python class is expected");
        return NULL;
    }
    PyTypeObject *type = (PyTypeObject *)cls;
    PyObject *method = PyDict_GetItemString(type->tp_dict, "__call__");   /* borrowed */
    if (!method || !Py_IS_TYPE(method, &CallMethodType) || !((CallMethod *)method)->slow ||
        (fc_call_class && fc_call_class != type))
        Py_RETURN_FALSE;
    Py_INCREF(method);
    Py_XSETREF(fc_call_method, (CallMethod *)method);
    if (!fc_call_class) {
        Py_INCREF(type);
        fc_call_class = type;
    }
    type->tp_call = installed_call;
    Py_RETURN_TRUE;
}

static struct PyModuleDef fastcall_module = {
    PyModuleDef_HEAD_INIT, "_cgraph_ext",
    "cgraph's call path in C: the Caller type.", -1, fastcall_functions, NULL, NULL, NULL,
    NULL
};

PyMODINIT_FUNC PyInit__cgraph_ext(void)
{
    import_array();
    if (PyType_Ready(&CallerType) < 0 || PyType_Ready(&CallMethodType) < 0) return NULL;
    value_str = PyUnicode_InternFromString("value");
    empty_tuple = PyTuple_New(0);
    if (!value_str || !empty_tuple) return NULL;
    PyObject *m = PyModule_Create(&fastcall_module);
    if (!m) return NULL;
    Py_INCREF(&CallerType);
    if (PyModule_AddObject(m, "Caller", (PyObject *)&CallerType) < 0) {
        Py_DECREF(&CallerType);
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(&CallMethodType);
    if (PyModule_AddObject(m, "CallMethod", (PyObject *)&CallMethodType) < 0) {
        Py_DECREF(&CallMethodType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}

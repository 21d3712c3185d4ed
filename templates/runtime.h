/* cgraph runtime: the array descriptor, the buffer pool and the scalar helpers that every
 * generated module shares. Included verbatim at the top of each module. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <math.h>

#ifdef CG_LIBMVEC
/* glibc's vector math (libmvec) is used only where these prototypes say the functions may be
 * called on SIMD lanes; math.h declares them so only under -ffast-math, which cgraph avoids
 * (it breaks NaN/Inf semantics). libmvec results are within a few ulp of libm's. */
#pragma omp declare simd notinbranch
double exp(double);
#pragma omp declare simd notinbranch
double log(double);
#pragma omp declare simd notinbranch
double log1p(double);
#pragma omp declare simd notinbranch
double expm1(double);
#pragma omp declare simd notinbranch
double sin(double);
#pragma omp declare simd notinbranch
double cos(double);
#pragma omp declare simd notinbranch
double tan(double);
#pragma omp declare simd notinbranch
double tanh(double);
#pragma omp declare simd notinbranch
double pow(double, double);
#pragma omp declare simd notinbranch
float expf(float);
#pragma omp declare simd notinbranch
float logf(float);
#pragma omp declare simd notinbranch
float log1pf(float);
#pragma omp declare simd notinbranch
float expm1f(float);
#pragma omp declare simd notinbranch
float sinf(float);
#pragma omp declare simd notinbranch
float cosf(float);
#pragma omp declare simd notinbranch
float tanf(float);
#pragma omp declare simd notinbranch
float tanhf(float);
#pragma omp declare simd notinbranch
float powf(float, float);
#endif

#ifdef _OPENMP
#include <omp.h>
#include <unistd.h>
#ifndef CG_OMP_MIN_ELEMENTS
#define CG_OMP_MIN_ELEMENTS 65536
#endif
/* The threads for a loop over n elements (built with -fopenmp, see cgraph/parallel.py): as
 * many as config.omp_threads or OMP_NUM_THREADS ask, one if neither does, one below
 * CG_OMP_MIN_ELEMENTS, and one in a process forked from Python (GNU libgomp's thread
 * pool does not survive fork: a parallel region in the child would hang; cgraph marks such
 * children). */
static inline int cg_omp_threads(int64_t n)
{
    if (n < CG_OMP_MIN_ELEMENTS || omp_in_parallel()) return 1;
    const char *forked = getenv("CGRAPH_FORKED_PID");
    if (forked && atoll(forked) == (long long)getpid()) return 1;
#ifdef CG_OMP_THREADS
    return CG_OMP_THREADS;
#else
    /* threads only when asked for: on a busy machine a woken worker can wait ~25 ms for a
     * core while the loop waits for it (measured on 2 shared cores) */
    const char *asked = getenv("OMP_NUM_THREADS");
    return asked && *asked ? omp_get_max_threads() : 1;
#endif
}
#endif

#define CG_MAXDIM 8

/* Status codes returned by cg_run; the Python side maps them to exception classes. */
enum { CG_OK = 0, CG_VALUE_ERROR = 1, CG_INDEX_ERROR = 2, CG_ZERO_DIVISION = 3,
       CG_MEMORY_ERROR = 4, CG_NONFINITE = 5 /* nan_guard found a NaN or an Inf */,
       CG_NOT_IMPLEMENTED = 6, CG_INTERRUPTED = 7 /* Ctrl-C, seen between loop steps */ };

/* A tensor value: data points at element [0,...,0]; strides are in elements, not bytes,
 * and may be 0 (broadcast) or negative (reversed views). */
typedef struct {
    void *data;
    int64_t shape[CG_MAXDIM];
    int64_t strides[CG_MAXDIM];
} cg_array;

/* --- buffers ---------------------------------------------------------------------------
 *
 * Every buffer a call allocates is recorded in its cg_pool, so one cleanup gives them all
 * back on every path; buffers handed to Python as outputs are taken out of the pool first.
 *
 * Given back means kept for reuse, not freed: each thread keeps the buffers its calls gave
 * back (its "spares", one list per module and thread), and the next allocation of a similar
 * size takes one of them. While shapes repeat, a call thus allocates only the buffers it
 * hands to the caller. A buffer may also be given back in the middle of a call, once no
 * variable that can point into it is needed any more (cg_pool_recycle, emitted by the
 * lowering after a value's last reader), so later nodes of the same call reuse it.
 * Spares that no call of the thread has reused for two calls in a row are freed; a thread's
 * spares are freed when it exits, or by cg_release_workspace. Outputs never come from a
 * spare that anything else can reach: a spare has no owner until it is taken. */
#include <malloc.h>
#include <pthread.h>
#include <sys/mman.h>

typedef struct {
    void **bufs;
    int64_t *sizes;   /* bytes asked for (what cg_pool_take compares) */
    int64_t *caps;    /* bytes the buffer holds (at least the size, rounded up) */
    int n, cap;
} cg_pool;

typedef struct {
    void *p;
    int64_t cap;
    int64_t stamp;    /* the thread's call count when it was given back */
} cg_spare;

typedef struct {
    cg_spare *items;
    int n, cap;
    int64_t calls;    /* top-level calls (cg_run) this thread made */
    int registered;   /* the thread-exit destructor knows this workspace */
} cg_workspace;

static _Thread_local cg_workspace cg_ws;
static pthread_key_t cg_ws_key;
static pthread_once_t cg_ws_once = PTHREAD_ONCE_INIT;
/* buffers obtained from the system allocator since the module was loaded (all threads) */
static int64_t cg_fresh_allocations;

/* Buffers of at least this size are backed by transparent huge pages where the kernel
 * offers them (as numpy does): a fresh buffer then costs one page fault per 2 MiB, not per
 * 4 KiB, which is most of the time of a simple elementwise op over a new large array. */
#define CG_HUGE_BYTES ((int64_t)4 << 20)
#define CG_HUGE_ALIGN ((size_t)2 << 20)

static void cg_ws_free(cg_workspace *ws)
{
    for (int i = 0; i < ws->n; i++) free(ws->items[i].p);
    free(ws->items);
    ws->items = NULL;
    ws->n = ws->cap = 0;
}

static void cg_ws_destroy(void *ws)
{
    cg_ws_free((cg_workspace *)ws);
}

static void cg_ws_make_key(void)
{
    (void)pthread_key_create(&cg_ws_key, cg_ws_destroy);
}

/* Free the calling thread's spare buffers and the stash of big freed outputs (they are
 * rebuilt by the next calls). Defined after the stash. */
void cg_release_workspace(void);

/* How many buffers this module obtained from the system allocator (tests count them). */
int64_t cg_allocation_count(void)
{
    return __atomic_load_n(&cg_fresh_allocations, __ATOMIC_RELAXED);
}

/* A new buffer from the system, ``cap`` bytes (a multiple of 64), 64-byte aligned. */
static inline void *cg_system_alloc(int64_t cap)
{
    __atomic_fetch_add(&cg_fresh_allocations, 1, __ATOMIC_RELAXED);
    if (cap < CG_HUGE_BYTES) return aligned_alloc(64, (size_t)cap);
    size_t rounded = ((size_t)cap + CG_HUGE_ALIGN - 1) / CG_HUGE_ALIGN * CG_HUGE_ALIGN;
    void *p = aligned_alloc(CG_HUGE_ALIGN, rounded);
#ifdef MADV_HUGEPAGE
    if (p) (void)madvise(p, rounded, MADV_HUGEPAGE);   /* a hint: failure is harmless */
#endif
    return p;
}

/* Big buffers the caller freed (cg_free: outputs it no longer holds), kept for the next
 * call of any thread: a new output of that size then lands in pages already mapped, which
 * saves the kernel zeroing them (the rest of an elementwise op over a large array). At most
 * CG_STASH of them, each freed after two calls that did not take it. */
#define CG_STASH 4
#define CG_STASH_BYTES ((int64_t)1 << 20)   /* smaller buffers: malloc reuses them well */
static struct { void *p; int64_t cap, stamp; } cg_stash[CG_STASH];
static int cg_stash_n;
static int64_t cg_stash_calls;       /* cg_run calls of all threads */
static pthread_mutex_t cg_stash_lock = PTHREAD_MUTEX_INITIALIZER;

static inline int cg_stash_put(void *p, int64_t cap)
{
    int kept = 0;
    pthread_mutex_lock(&cg_stash_lock);
    if (cg_stash_n < CG_STASH) {
        cg_stash[cg_stash_n].p = p;
        cg_stash[cg_stash_n].cap = cap;
        cg_stash[cg_stash_n].stamp = __atomic_load_n(&cg_stash_calls, __ATOMIC_RELAXED);
        __atomic_store_n(&cg_stash_n, cg_stash_n + 1, __ATOMIC_RELEASE);
        kept = 1;
    }
    pthread_mutex_unlock(&cg_stash_lock);
    return kept;
}

static inline void *cg_stash_take(int64_t need, int64_t *cap)
{
    void *p = NULL;
    if (!__atomic_load_n(&cg_stash_n, __ATOMIC_ACQUIRE)) return NULL;
    pthread_mutex_lock(&cg_stash_lock);
    for (int i = 0; i < cg_stash_n; i++) {
        if (cg_stash[i].cap >= need && cg_stash[i].cap <= 2 * need) {
            p = cg_stash[i].p;
            *cap = cg_stash[i].cap;
            cg_stash[i] = cg_stash[cg_stash_n - 1];
            __atomic_store_n(&cg_stash_n, cg_stash_n - 1, __ATOMIC_RELEASE);
            break;
        }
    }
    pthread_mutex_unlock(&cg_stash_lock);
    return p;
}

/* At the end of a call: free the stashed buffers (all of them if ``all``) that two calls
 * did not take. */
static inline void cg_stash_trim(int all)
{
    pthread_mutex_lock(&cg_stash_lock);
    const int64_t calls = __atomic_add_fetch(&cg_stash_calls, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < cg_stash_n;) {
        if (all || cg_stash[i].stamp < calls - 2) {
            free(cg_stash[i].p);
            cg_stash[i] = cg_stash[cg_stash_n - 1];
            __atomic_store_n(&cg_stash_n, cg_stash_n - 1, __ATOMIC_RELEASE);
        } else {
            i++;
        }
    }
    pthread_mutex_unlock(&cg_stash_lock);
}

void cg_release_workspace(void)
{
    cg_ws_free(&cg_ws);
    cg_stash_trim(1);
}

/* What the caller frees its outputs with: a big buffer goes to the stash (reused by the
 * next call of any thread), the others to the system. */
void cg_free(void *p)
{
    if (p) {
        const int64_t cap = (int64_t)malloc_usable_size(p);
        if (cap >= CG_STASH_BYTES && cg_stash_put(p, cap)) return;
    }
    free(p);
}

/* Keep ``p`` (``cap`` bytes) as a spare of this thread; freed if it cannot be recorded. */
static inline void cg_spare_add(void *p, int64_t cap)
{
    cg_workspace *ws = &cg_ws;
    if (!ws->registered) {
        (void)pthread_once(&cg_ws_once, cg_ws_make_key);
        (void)pthread_setspecific(cg_ws_key, ws);
        ws->registered = 1;
    }
    if (ws->n == ws->cap) {
        int cap2 = ws->cap ? 2 * ws->cap : 16;
        cg_spare *items = realloc(ws->items, (size_t)cap2 * sizeof(cg_spare));
        if (!items) { free(p); return; }
        ws->items = items;
        ws->cap = cap2;
    }
    ws->items[ws->n].p = p;
    ws->items[ws->n].cap = cap;
    ws->items[ws->n].stamp = ws->calls;
    ws->n++;
}

/* The smallest spare holding ``need`` bytes and not more than twice that (NULL if none). */
static inline void *cg_spare_take(int64_t need, int64_t *cap)
{
    cg_workspace *ws = &cg_ws;
    int best = -1;
    for (int i = 0; i < ws->n; i++) {
        const int64_t c = ws->items[i].cap;
        if (c >= need && c <= 2 * need && (best < 0 || c < ws->items[best].cap)) {
            best = i;
            if (c == need) break;
        }
    }
    if (best < 0) return NULL;
    void *p = ws->items[best].p;
    *cap = ws->items[best].cap;
    ws->items[best] = ws->items[--ws->n];
    return p;
}

/* At the end of a top-level call: free the spares the last two calls did not reuse. */
static inline void cg_ws_end_call(void)
{
    cg_workspace *ws = &cg_ws;
    for (int i = 0; i < ws->n;) {
        if (ws->items[i].stamp < ws->calls - 1) {
            free(ws->items[i].p);
            ws->items[i] = ws->items[--ws->n];
        } else {
            i++;
        }
    }
    ws->calls++;
    if (__atomic_load_n(&cg_stash_n, __ATOMIC_ACQUIRE)) cg_stash_trim(0);
    else __atomic_fetch_add(&cg_stash_calls, 1, __ATOMIC_RELAXED);
}

static inline void *cg_pool_alloc(cg_pool *pool, int64_t nbytes)
{
    if (pool->n == pool->cap) {
        int cap = pool->cap ? 2 * pool->cap : 16;
        void **bufs = realloc(pool->bufs, cap * sizeof(void *));
        if (!bufs) return NULL;
        pool->bufs = bufs;
        int64_t *sizes = realloc(pool->sizes, cap * sizeof(int64_t));
        if (!sizes) return NULL;
        pool->sizes = sizes;
        int64_t *caps = realloc(pool->caps, cap * sizeof(int64_t));
        if (!caps) return NULL;
        pool->caps = caps;
        pool->cap = cap;
    }
    /* 64-byte alignment for vector loads; never a zero-size request (malloc(0) may be NULL) */
    int64_t need = (nbytes + 63) / 64 * 64;
    if (need == 0) need = 64;
    int64_t got = need;
    void *p = cg_spare_take(need, &got);
    if (!p && need >= CG_STASH_BYTES) p = cg_stash_take(need, &got);
    if (!p) p = cg_system_alloc(need);
    if (!p) return NULL;
    pool->bufs[pool->n] = p;
    pool->sizes[pool->n] = nbytes;
    pool->caps[pool->n] = got;
    pool->n++;
    return p;
}

/* Take ``p`` out of the pool if it is a whole pool buffer of ``nbytes``; 1 on success. */
static inline int cg_pool_take(cg_pool *pool, void *p, int64_t nbytes)
{
    for (int i = 0; i < pool->n; i++) {
        if (pool->bufs[i] == p && pool->sizes[i] == nbytes) {
            pool->bufs[i] = pool->bufs[pool->n - 1];
            pool->sizes[i] = pool->sizes[pool->n - 1];
            pool->caps[i] = pool->caps[pool->n - 1];
            pool->n--;
            return 1;
        }
    }
    return 0;
}

/* Give back, in the middle of a call, the pool buffer that ``p`` points into (nothing if
 * none does: an input's or a constant's data, or a buffer given back already). The caller
 * guarantees that no variable still needed can point into it. */
static inline void cg_pool_recycle(cg_pool *pool, const void *p)
{
    for (int i = 0; i < pool->n; i++) {
        const char *b = (const char *)pool->bufs[i];
        if ((const char *)p >= b && (const char *)p < b + pool->caps[i]) {
            cg_spare_add(pool->bufs[i], pool->caps[i]);
            pool->bufs[i] = pool->bufs[pool->n - 1];
            pool->sizes[i] = pool->sizes[pool->n - 1];
            pool->caps[i] = pool->caps[pool->n - 1];
            pool->n--;
            return;
        }
    }
}

static inline void cg_pool_release(cg_pool *pool)
{
    for (int i = 0; i < pool->n; i++) cg_spare_add(pool->bufs[i], pool->caps[i]);
    free(pool->bufs);
    free(pool->sizes);
    free(pool->caps);
    pool->bufs = NULL;
    pool->sizes = NULL;
    pool->caps = NULL;
    pool->n = pool->cap = 0;
}

/* A buffer handed to the caller that is not a pool buffer (a copied output). */
static inline void *cg_output_alloc(int64_t nbytes)
{
    __atomic_fetch_add(&cg_fresh_allocations, 1, __ATOMIC_RELAXED);
    return malloc(nbytes > 0 ? (size_t)nbytes : 1);
}

/* Whether the bytes [p, p + n) and [q, q + m) overlap. */
static inline int cg_bytes_overlap(const void *p, int64_t n, const void *q, int64_t m)
{
    return (const char *)p < (const char *)q + m && (const char *)q < (const char *)p + n;
}

/* The bytes an array can touch: [*lo, *hi), from its shape and strides (any sign). */
static inline void cg_byte_range(const cg_array *a, int ndim, int64_t isz, const char **lo,
                                 const char **hi)
{
    int64_t first = 0, last = 0;
    for (int d = 0; d < ndim; d++) {
        if (a->shape[d] == 0) { *lo = *hi = (const char *)a->data; return; }
        const int64_t span = (a->shape[d] - 1) * a->strides[d];
        if (span < 0) first += span; else last += span;
    }
    *lo = (const char *)a->data + first * isz;
    *hi = (const char *)a->data + (last + 1) * isz;
}

static inline int64_t cg_size(const cg_array *a, int ndim)
{
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) n *= a->shape[d];
    return n;
}

static inline void cg_set_contiguous(cg_array *a, int ndim)
{
    int64_t s = 1;
    for (int d = ndim - 1; d >= 0; d--) {
        a->strides[d] = s;
        s *= a->shape[d];
    }
}

/* C-contiguous, ignoring the strides of length-1 axes (they are never stepped). */
static inline int cg_is_contiguous(const cg_array *a, int ndim)
{
    int64_t s = 1;
    for (int d = ndim - 1; d >= 0; d--) {
        if (a->shape[d] != 1 && a->strides[d] != s) return 0;
        s *= a->shape[d];
    }
    return 1;
}

/* "(3, 4)" into buf, for error messages. */
static inline const char *cg_shape_str(char *buf, size_t len, const cg_array *a, int ndim)
{
    size_t pos = (size_t)snprintf(buf, len, "(");
    for (int d = 0; d < ndim && pos < len; d++)
        pos += (size_t)snprintf(buf + pos, len - pos, d ? ", %lld" : "%lld", (long long)a->shape[d]);
    if (pos < len) snprintf(buf + pos, len - pos, ndim == 1 ? ",)" : ")");
    return buf;
}

/* A monotonic clock, for instrumented (profiling) builds. */
static inline int64_t cg_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* --- nan_guard ------------------------------------------------------------------------ */

/* What cg_first_nonfinite found. */
enum { CG_ALL_FINITE = 0, CG_FOUND_NAN = 1, CG_FOUND_POS_INF = 2, CG_FOUND_NEG_INF = 3 };

static inline int cg_nonfinite_kind(double v)
{
    return isnan(v) ? CG_FOUND_NAN : isinf(v) ? (v > 0 ? CG_FOUND_POS_INF : CG_FOUND_NEG_INF)
                                              : CG_ALL_FINITE;
}

/* The first element of a float array (``is_double``: double, else float), in C order, that
 * is NaN or infinite: its kind (a CG_FOUND_* value, CG_ALL_FINITE if none) and its index in
 * ``idx``. Any strides; a flat loop when the array is contiguous. */
static inline int cg_first_nonfinite(const cg_array *a, int ndim, int is_double, int64_t *idx)
{
    const int64_t n = cg_size(a, ndim);
    for (int d = 0; d < ndim; d++) idx[d] = 0;
    if (n == 0) return CG_ALL_FINITE;
    if (cg_is_contiguous(a, ndim)) {
        for (int64_t k = 0; k < n; k++) {
            const double v = is_double ? ((const double *)a->data)[k]
                                       : (double)((const float *)a->data)[k];
            if (!isfinite(v)) {
                int64_t flat = k;
                for (int d = ndim - 1; d >= 0; d--) {   /* flat position -> index */
                    idx[d] = flat % a->shape[d];
                    flat /= a->shape[d];
                }
                return cg_nonfinite_kind(v);
            }
        }
        return CG_ALL_FINITE;
    }
    for (int64_t k = 0; k < n; k++) {
        int64_t off = 0;
        for (int d = 0; d < ndim; d++) off += idx[d] * a->strides[d];
        const double v = is_double ? ((const double *)a->data)[off]
                                   : (double)((const float *)a->data)[off];
        if (!isfinite(v)) return cg_nonfinite_kind(v);
        for (int d = ndim - 1; d >= 0; d--) {
            if (++idx[d] < a->shape[d]) break;
            idx[d] = 0;
        }
    }
    return CG_ALL_FINITE;
}

/* How nan_guard messages name what it found: "NaN", "Inf" or "-Inf". */
static inline const char *cg_nonfinite_name(int kind)
{
    return kind == CG_FOUND_NAN ? "NaN" : kind == CG_FOUND_POS_INF ? "Inf" : "-Inf";
}

/* "(1, 2)" into buf: an element's index, for error messages. */
static inline const char *cg_index_str(char *buf, size_t len, const int64_t *idx, int ndim)
{
    size_t pos = (size_t)snprintf(buf, len, "(");
    for (int d = 0; d < ndim && pos < len; d++)
        pos += (size_t)snprintf(buf + pos, len - pos, d ? ", %lld" : "%lld", (long long)idx[d]);
    if (pos < len) snprintf(buf + pos, len - pos, ndim == 1 ? ",)" : ")");
    return buf;
}

/* --- scalar helpers with numpy's semantics ------------------------------------------- */

static inline int64_t cg_floordiv_i64(int64_t a, int64_t b, int *bad)
{
    if (b == 0) { *bad = CG_ZERO_DIVISION; return 0; }
    if (b == -1) return (int64_t)(0 - (uint64_t)a);   /* INT64_MIN // -1 wraps, as numpy */
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static inline int64_t cg_mod_i64(int64_t a, int64_t b, int *bad)
{
    if (b == 0) { *bad = CG_ZERO_DIVISION; return 0; }
    if (b == -1) return 0;
    int64_t r = a % b;
    return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
}

static inline int64_t cg_ipow(int64_t a, int64_t b, int *bad)
{
    if (b < 0) { *bad = CG_VALUE_ERROR; return 0; }
    uint64_t r = 1, base = (uint64_t)a;
    while (b) {
        if (b & 1) r *= base;
        base *= base;
        b >>= 1;
    }
    return (int64_t)r;
}

/* numpy's float remainder: the result has the sign of the divisor */
static inline double cg_fmod(double a, double b)
{
    double r = fmod(a, b);
    if (r != 0 && ((r < 0) != (b < 0))) r += b;
    else if (r == 0) r = copysign(0.0, b);
    return r;
}
static inline float cg_fmodf(float a, float b)
{
    float r = fmodf(a, b);
    if (r != 0 && ((r < 0) != (b < 0))) r += b;
    else if (r == 0) r = copysignf(0.0f, b);
    return r;
}

/* numpy's float floor division (Python's float //): (a - fmod(a, b)) / b is (nearly) an
 * exact multiple of b, rounded to the nearest integer. floor(a / b) differs when a / b rounds
 * up to an integer (1 // 0.1 is 9) and for an infinite a (NaN). */
static inline double cg_floordiv(double a, double b)
{
    if (b == 0) return a / b;
    const double r = fmod(a, b);
    double q = (a - r) / b;
    if (r != 0 && ((b < 0) != (r < 0))) q -= 1.0;
    if (q == 0) return copysign(0.0, a / b);
    const double f = floor(q);
    return (q - f > 0.5) ? f + 1.0 : f;
}
static inline float cg_floordivf(float a, float b)
{
    if (b == 0) return a / b;
    const float r = fmodf(a, b);
    float q = (a - r) / b;
    if (r != 0 && ((b < 0) != (r < 0))) q -= 1.0f;
    if (q == 0) return copysignf(0.0f, a / b);
    const float f = floorf(q);
    return (q - f > 0.5f) ? f + 1.0f : f;
}

/* maximum/minimum propagate NaN, as numpy does */
#define cg_max(a, b) (((a) > (b) || (a) != (a)) ? (a) : (b))
#define cg_min(a, b) (((a) < (b) || (a) != (a)) ? (a) : (b))

static inline double cg_sign(double x) { return x > 0 ? 1.0 : (x < 0 ? -1.0 : x); }
static inline float cg_signf(float x) { return x > 0 ? 1.0f : (x < 0 ? -1.0f : x); }

/* sigmoid and softplus in forms that never overflow and have no branch, so loops calling
 * them vectorise: exp(-x) = inf gives 1 / inf = 0, the right limit. */
static inline double cg_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }
static inline float cg_sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }
static inline double cg_softplus(double x) { return (x > 0 ? x : 0.0) + log1p(exp(-fabs(x))); }
/* log1p(e) for e in [0, 1] (or NaN), as float softplus needs it: 2 atanh(s), s = e / (2 + e)
 * <= 1/3, by its series, with the rounding of 2 + e and of the division put back through
 * fma; within 1 ulp like log1pf. Inline, so softplus loops vectorise without a call: W1's
 * float32 loop spent more in libmvec's log1pf than in its two expf. */
static inline float cg_log1p_unitf(float e)
{
    const float d = 2.0f + e, d_err = e - (d - 2.0f);   /* d - 2 is exact: e <= 1 */
    const float s = e / d, s2 = s * s;
    const float q = s2 * (1.0f / 3 + s2 * (1.0f / 5 + s2 * (1.0f / 7 + s2 * (1.0f / 9
                    + s2 * (1.0f / 11 + s2 * (1.0f / 13))))));
    const float s_err = (fmaf(-s, d, e) - s * d_err) / d;
    const float r = 2.0f * s + 2.0f * (s_err + s * q);
    return e < 0x1p-24f ? e : r;   /* log1p(e) rounds to e; keeps subnormal results */
}
static inline float cg_softplusf(float x) { return (x > 0 ? x : 0.0f) + cg_log1p_unitf(expf(-fabsf(x))); }

/* --- error reporting ----------------------------------------------------------------- */

#define CG_FAIL(code, node, ...)                       \
    do {                                               \
        status = (code);                               \
        *fail_node = (node);                           \
        snprintf(err, (size_t)errlen, __VA_ARGS__);    \
        goto fail;                                     \
    } while (0)

/* Fail with a message already written into err. */
#define CG_FAIL_WRITTEN(code, node)                    \
    do {                                               \
        status = (code);                               \
        *fail_node = (node);                           \
        goto fail;                                     \
    } while (0)

/* The size in bytes of an array of ``a``'s shape with elements of ``isz`` bytes, or -1 when
 * it does not fit in int64 (or a length is negative): shapes computed from user values
 * (alloc, arange) may be absurd, and a wrapped-around size would allocate too little. As
 * numpy, the nonzero lengths must fit even when another length is 0. */
static inline int64_t cg_checked_nbytes(const cg_array *a, int ndim, int64_t isz)
{
    int64_t n = isz;
    int empty = 0;
    for (int d = 0; d < ndim; d++) {
        if (a->shape[d] < 0) return -1;
        if (a->shape[d] == 0) empty = 1;
        else if (__builtin_mul_overflow(n, a->shape[d], &n)) return -1;
    }
    return empty ? 0 : n;
}

/* Allocate a contiguous buffer for ``a`` (its shape already set) from the pool. */
#define CG_ALLOC(a, ndim, ctype, node)                                              \
    do {                                                                            \
        cg_set_contiguous(&(a), (ndim));                                            \
        const int64_t cg_nbytes = cg_checked_nbytes(&(a), (ndim), (int64_t)sizeof(ctype)); \
        if (cg_nbytes < 0) {                                                        \
            char cg_shape_text[200];                                                \
            CG_FAIL(CG_VALUE_ERROR, (node), "array is too big: shape %s has more "   \
                    "bytes than the largest possible size",                          \
                    cg_shape_str(cg_shape_text, sizeof cg_shape_text, &(a), (ndim))); \
        }                                                                           \
        void *cg_dest = CG_DEST_FOR(a);                                             \
        (a).data = cg_dest ? cg_dest : cg_pool_alloc(&pool, cg_nbytes);             \
        if (!(a).data) CG_FAIL(CG_MEMORY_ERROR, (node), "out of memory");           \
    } while (0)

/* Where CG_ALLOC puts the array ``a`` instead of a new buffer: nowhere (NULL), except in
 * the block of an in-place update, where the lowering redefines it to give the updated
 * input's buffer for the node's output (see cgraph/rewrite/inplace.py). */
#define CG_DEST_FOR(a) NULL

/* Whether two arrays can touch a common byte (their extents, from shapes and strides). */
static inline int cg_arrays_overlap(const cg_array *a, int andim, size_t aisz,
                                    const cg_array *b, int bndim, size_t bisz)
{
    const char *alo, *ahi, *blo, *bhi;
    cg_byte_range(a, andim, (int64_t)aisz, &alo, &ahi);
    cg_byte_range(b, bndim, (int64_t)bisz, &blo, &bhi);
    return alo < bhi && blo < ahi;
}

/* Whether BLAS reads ``x`` (a vector, or a matrix) without a copy into a temporary: the
 * layouts blas_operands.c.j2 hands over directly. */
static inline int cg_blas_direct(const cg_array *x, int xnd)
{
    const int64_t int_max = 2147483647;
    if (xnd == 1)
        return x->shape[0] <= 1 || (x->strides[0] >= 1 && x->strides[0] <= int_max);
    const int64_t rows = x->shape[0], cols = x->shape[1];
    const int64_t sr = x->strides[0], sc = x->strides[1];
    if ((cols == 1 || sc == 1) && (rows == 1 || (sr >= cols && sr <= int_max))) return 1;
    return (rows == 1 || sr == 1) && sc >= rows && sc <= int_max;
}

/* Copy any strided ``src`` into contiguous ``dst`` (same shape), element size ``isz``. */
static inline void cg_copy_contiguous(char *dst, const cg_array *src, int ndim, size_t isz)
{
    int64_t n = cg_size(src, ndim);
    if (n <= 0) return;   /* never negative; saying so keeps gcc from warning on memcpy */
    if (cg_is_contiguous(src, ndim)) {
        memcpy(dst, src->data, (size_t)n * isz);
        return;
    }
    int64_t idx[CG_MAXDIM] = {0};
    for (int64_t k = 0; k < n; k++) {
        int64_t off = 0;
        for (int d = 0; d < ndim; d++) off += idx[d] * src->strides[d];
        memcpy(dst + k * isz, (const char *)src->data + off * (int64_t)isz, isz);
        for (int d = ndim - 1; d >= 0; d--) {
            if (++idx[d] < src->shape[d]) break;
            idx[d] = 0;
        }
    }
}

/* Copy ``src`` into ``dst`` (same shape, any strides, element size ``isz``). */
static inline void cg_copy_strided(cg_array *dst, const cg_array *src, int ndim, size_t isz)
{
    int64_t n = cg_size(src, ndim);
    if (n == 0) return;
    if (cg_is_contiguous(src, ndim) && cg_is_contiguous(dst, ndim)) {
        memmove(dst->data, src->data, (size_t)n * isz);
        return;
    }
    int64_t idx[CG_MAXDIM] = {0};
    for (int64_t k = 0; k < n; k++) {
        int64_t so = 0, doff = 0;
        for (int d = 0; d < ndim; d++) {
            so += idx[d] * src->strides[d];
            doff += idx[d] * dst->strides[d];
        }
        memcpy((char *)dst->data + doff * (int64_t)isz, (const char *)src->data + so * (int64_t)isz, isz);
        for (int d = ndim - 1; d >= 0; d--) {
            if (++idx[d] < src->shape[d]) break;
            idx[d] = 0;
        }
    }
}

/* numpy broadcasting of ``n`` operands of rank ``ndim`` into ``out->shape``; 0 if the shapes
 * are incompatible. */
static inline int cg_broadcast(cg_array *out, const cg_array *const *arrays, int n, int ndim)
{
    for (int d = 0; d < ndim; d++) {
        int64_t len = 1;
        for (int i = 0; i < n; i++) {
            int64_t l = arrays[i]->shape[d];
            if (l == 1) continue;
            if (len != 1 && len != l) return 0;
            len = l;
        }
        out->shape[d] = len;
    }
    return 1;
}

/* The message for operands whose shapes cannot be broadcast together. */
static inline void cg_broadcast_message(char *err, int errlen, const char *op, int n,
                                 const char *const *names, const cg_array *const *arrays,
                                 int ndim)
{
    char shape[128];
    int pos = snprintf(err, (size_t)errlen, "%s: shapes cannot be broadcast together:", op);
    for (int i = 0; i < n && pos < errlen; i++) {
        cg_shape_str(shape, sizeof shape, arrays[i], ndim);
        pos += snprintf(err + pos, (size_t)(errlen - pos), "%s %s has shape %s",
                        i ? "," : "", names[i], shape);
    }
}

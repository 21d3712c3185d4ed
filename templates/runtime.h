/* cgraph runtime: the array descriptor, the buffer pool and the scalar helpers that every
 * generated module shares. Included at the top of each module and of the runtime library
 * (templates/runtime.c.j2), which is built once per cache and defines the CG_API functions
 * declared here: a module holds only its graph's own code and the small inline helpers.
 * What only the library's own units use is declared in runtime_internal.h, which modules
 * do not read. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <math.h>

/* what the runtime library exports (it is built with -fvisibility=hidden) */
#define CG_API __attribute__((visibility("default")))

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

/* The elementwise kernels' loops on AVX-512 CPUs use 64-byte vectors: gcc's tuning for
 * them prefers 32-byte ones, which halves the rate of the compute-bound loops (libmvec's
 * _ZGVeN8v_tanh takes 4.4 us per 1024 doubles, _ZGVdN4v_tanh 6.4 us: W7's step) and of our
 * own inline expf/log1pf; memory-bound loops run as fast either way. gcc only: clang
 * already prefers the full width.
 * Their vector loop is also unrolled twice (CG_UNROLL_ROW) and scheduled before register
 * allocation (gcc leaves that pass off on x86), so the two vectors' long dependency chains
 * (exp's and log1p's polynomials, the divisions) interleave instead of one waiting on the
 * other: the out-of-order window alone did not overlap them. The scheduler moves the second
 * vector's loads above the first one's store only when the row's pointers are restrict
 * parameters (restrict locals loaded from cg_p do not tell it). W1's fused sigmoid/softplus
 * kernel on Zen 5, in cache: float64 21%, float32 12% faster (either change alone 0-9%);
 * with 32 vector registers the interleaving spills nothing there.
 * Zen 4 runs a 64-byte instruction on both halves of its 32-byte units, yet the same choices
 * win there too (W1's loop at 2e5 elements, paired medians in one process): 32-byte vectors
 * 28% (float32) and 32% (float64) slower, and without the unrolling and the scheduling 11%
 * and 14% slower; both loops are bound by the FMA/multiply pipes (1e6 elements: 1.8x and
 * 1.4x the time of a loop that only reads the five inputs and writes the output). gcc's
 * register-pressure-aware scheduling (sched-pressure) halves the unrolled float32 loop's
 * spills there but runs 2-5% slower; streaming (non-temporal) stores of the output through an
 * L1 block were 13-40% slower at 1e6 and 1e7 elements. */
#if defined(__AVX512F__) && defined(__GNUC__) && !defined(__clang__)
#define CG_WIDE_LOOP __attribute__((target("prefer-vector-width=512"), optimize("schedule-insns")))
#define CG_UNROLL_ROW _Pragma("GCC unroll 2")
#else
#define CG_WIDE_LOOP
#define CG_UNROLL_ROW
#endif
/* (modsize) a module's elementwise kernel (ops/elemwise_kernel.c.j2), declared in the unit
 * of blocks that calls it when it is compiled in the loops' unit (codegen/units.py) */
#define CG_LOOP_DECLARE(name) __attribute__((visibility("hidden"))) CG_WIDE_LOOP int \
    name(int64_t n, char *const *cg_p, const int64_t *cg_s)

/* --- (modsize3) an elementwise kernel's loop over a row, written once ------------------
 * ops/elemwise_kernel.c.j2: the kernel calls it with unit steps (the loop gcc vectorises)
 * or with its operands' steps; inlined into both calls, so each is a loop of its own. The
 * same vector width as the kernel: gcc inlines only into a function of the same target. */
#define CG_ROW static inline __attribute__((always_inline)) CG_WIDE_LOOP
/* The unit-step call of the row's loop, a function of its own: inlined beside the strided
 * call, gcc kept the loop's constants in registers across the whole kernel and spilled the
 * loop's own temporaries instead (W1's float64 loop: 21 stack accesses per vector, 71 when
 * unrolled, none in a function of its own; 5-10% slower). */
#define CG_ROW_UNIT(name) static __attribute__((noinline)) CG_WIDE_LOOP int \
    name(int64_t n, char *const *cg_p)

/* --- (modsize3) a module's entries for what it does not have -------------------------
 * The loader asks every module for LAPACK (cg_set_lapack, templates/lapack.h: 1 when it has
 * a linear algebra node) and for per-node times (cg_profile_read, module.c.j2: an
 * instrumented build); a module without them defines them with these. */
#define CG_NO_LAPACK                                       \
    int cg_set_lapack(void **routines, int n, int ilp64)   \
    {                                                      \
        (void)routines; (void)n; (void)ilp64;              \
        return 0;                                          \
    }
#define CG_NOT_PROFILED                                     \
    int cg_profile_read(int64_t *ns, int64_t *calls, int n) \
    {                                                       \
        (void)ns; (void)calls; (void)n;                     \
        return 0;                                           \
    }

#ifdef _OPENMP
#include <omp.h>
#include <unistd.h>
#ifndef CG_OMP_MIN_ELEMENTS
#define CG_OMP_MIN_ELEMENTS 65536
#endif
/* The threads for a loop over n elements (built with -fopenmp, see cgraph/parallel.py): as
 * many as config.omp_threads or OMP_NUM_THREADS ask, one if neither does (on a busy machine
 * threads cost more than they save), one below CG_OMP_MIN_ELEMENTS, and one in a process
 * forked from Python (cgraph marks such children). cg_thread_env: which of these the
 * environment says, read once per process (again in a forked child), not on every loop. */
enum { CG_THREADS_FORKED, CG_THREADS_UNASKED, CG_THREADS_ASKED };
CG_API int cg_thread_env(void);
static inline int cg_omp_threads(int64_t n)
{
    if (n < CG_OMP_MIN_ELEMENTS || omp_in_parallel()) return 1;
    const int env = cg_thread_env();
#ifdef CG_OMP_THREADS
    return env == CG_THREADS_FORKED ? 1 : CG_OMP_THREADS;
#else
    return env == CG_THREADS_ASKED ? omp_get_max_threads() : 1;
#endif
}
#endif

#define CG_MAXDIM 8

/* Status codes returned by cg_run; the Python side maps them to exception classes. */
enum { CG_OK = 0, CG_VALUE_ERROR = 1, CG_INDEX_ERROR = 2, CG_ZERO_DIVISION = 3,
       CG_MEMORY_ERROR = 4, CG_NONFINITE = 5 /* nan_guard found a NaN or an Inf */,
       CG_NOT_IMPLEMENTED = 6, CG_INTERRUPTED = 7 /* Ctrl-C, seen between loop steps */,
       CG_LINALG_ERROR = 8 /* numpy.linalg.LinAlgError: a singular matrix, ... */ };

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
 * back (its "spares", one list per thread), and the next allocation of a similar
 * size takes one of them. While shapes repeat, a call thus allocates only the buffers it
 * hands to the caller. A buffer may also be given back in the middle of a call, once no
 * variable that can point into it is needed any more (cg_pool_recycle, emitted by the
 * lowering after a value's last reader), so later nodes of the same call reuse it.
 * Spares that no call of the thread has reused for two calls in a row are freed; a thread's
 * spares are freed when it exits, or by cg_release_workspace. Outputs never come from a
 * spare that anything else can reach: a spare has no owner until it is taken. */
typedef struct {
    void **bufs;      /* one allocation with sizes and caps after it (cg_pool_alloc) */
    int64_t *sizes;   /* bytes asked for (what cg_pool_take compares) */
    int64_t *caps;    /* bytes the buffer holds (at least the size, rounded up) */
    int n, cap;
    /* a destination the caller asked for (see cg_pool_dest): NULL when none */
    const void *dest_of;
    const cg_array *dest;
} cg_pool;

/* At the end of a top-level call: free the spares the last two calls did not reuse. */
CG_API void cg_ws_end_call(void);

/* A buffer of ``nbytes`` (64-byte aligned past 64 bytes, else 16) recorded in ``pool``; NULL
 * when out of memory. */
CG_API void *cg_pool_alloc(cg_pool *pool, int64_t nbytes);

/* Give back, in the middle of a call, the pool buffer that ``p`` points into (nothing if
 * none does: an input's or a constant's data, or a buffer given back already). The caller
 * guarantees that no variable still needed can point into it. */
CG_API void cg_pool_recycle(cg_pool *pool, const void *p);

/* Give back every buffer still in the pool (at the end of a call, and when it fails). */
CG_API void cg_pool_release(cg_pool *pool);

/* A buffer handed to the caller that is not a pool buffer (a copied output). */
CG_API void *cg_output_alloc(int64_t nbytes);

static inline int64_t cg_size(const cg_array *a, int ndim)
{
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) n *= a->shape[d];
    return n;
}

/* cg_pool_recycle for a variable past its last reader (emitted by the lowering): nothing
 * when it has no elements. An empty view's data pointer need not lie in what it views
 * (Brc[:, ::-1] of a (0, 10) input is 9 elements past the input's data, which numpy
 * allocated as 1 byte): it may point into another variable's live pool buffer, which would
 * then be handed to the next node while still in use. A view with elements points at one
 * of them, inside its own buffer. */
static inline void cg_pool_recycle_array(cg_pool *pool, const cg_array *a, int ndim)
{
    if (cg_size(a, ndim) > 0) cg_pool_recycle(pool, a->data);
}

static inline void cg_set_contiguous(cg_array *a, int ndim)
{
    int64_t s = 1;
    for (int d = ndim - 1; d >= 0; d--) {
        a->strides[d] = s;
        s *= a->shape[d];
    }
}

/* --- compact module code (modsize): an embedded constant's array in one call ---------- */
/* ``a`` over the module's static ``data``, C-contiguous, lengths shape[0..ndim). */
static inline void cg_set_constant(cg_array *a, const void *data, int ndim, const int64_t *shape)
{
    a->data = (void *)data;
    for (int d = 0; d < ndim; d++) a->shape[d] = shape[d];
    cg_set_contiguous(a, ndim);
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

/* --- destinations: a result written straight into the caller's array ------------------
 *
 * An inner function (a scan's step) asks that the array dest_of (the variable of a result)
 * be allocated in the caller's array ``dest`` (a row of the scan's buffer) instead of a new
 * buffer: it sets pool.dest_of and pool.dest around the block computing it. The allocation
 * (CG_ALLOC, cg_alloc_array) takes dest's data only if that array has exactly dest's shape
 * and dest is contiguous; else it allocates as usual and the result is copied in later.
 * ``a`` is only compared (the array's other fields may not be set yet). */
static inline void *cg_pool_dest(cg_pool *pool, const void *a, const int64_t *shape, int ndim)
{
    if (!pool->dest_of || pool->dest_of != a) return NULL;
    const cg_array *d = pool->dest;
    for (int k = 0; k < ndim; k++)
        if (shape[k] != d->shape[k]) return NULL;
    if (!cg_is_contiguous(d, ndim)) return NULL;
    pool->dest_of = NULL;   /* once */
    return d->data;
}

/* "(3, 4)" into buf, for error messages. */
CG_API const char *cg_shape_str(char *buf, size_t len, const cg_array *a, int ndim);

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

/* The first element of a float array (``is_double``: double, else float), in C order, that
 * is NaN or infinite: its kind (a CG_FOUND_* value, CG_ALL_FINITE if none) and its index in
 * ``idx``. Any strides; a flat loop when the array is contiguous. */
CG_API int cg_first_nonfinite(const cg_array *a, int ndim, int is_double, int64_t *idx);

/* How nan_guard messages name what it found: "NaN", "Inf" or "-Inf". */
static inline const char *cg_nonfinite_name(int kind)
{
    return kind == CG_FOUND_NAN ? "NaN" : kind == CG_FOUND_POS_INF ? "Inf" : "-Inf";
}

/* "(1, 2)" into buf: an element's index, for error messages. */
CG_API const char *cg_index_str(char *buf, size_t len, const int64_t *idx, int ndim);

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

/* float32 exp and log1p of our own, inline and branch-free (range reduction, a minimax
 * polynomial fitted by scripts/fit_vecmath.py, exponent bits assembled with integer ops,
 * special cases by selects), so loops calling them vectorise without a libm or libmvec
 * call. Error bounds, against the float64 result rounded to float32, measured over all 2^32
 * inputs by tests/codegen/test_vecmath.py: cg_expf within 1 ulp, cg_log1pf within 1 ulp (subnormal
 * results: 1 ulp of the subnormal spacing); sigmoid and softplus built on them within 2.
 * Without libmvec (other compilers and C libraries) a loop calling expf ran a scalar call
 * per element: W1's float32 loop took 7x longer than with these. */
/* Always inlined: large modules build at -O1, whose inliner leaves such helpers calls, and a
 * loop with a call is not vectorised (W4's monitoring cost took 450 us instead of 40). */
#define CG_MATH_INLINE static inline __attribute__((always_inline))
static inline float cg_float_of_bits(uint32_t u) { float f; memcpy(&f, &u, sizeof f); return f; }
static inline uint32_t cg_bits_of_float(float f) { uint32_t u; memcpy(&u, &f, sizeof u); return u; }
static inline double cg_double_of_bits(uint64_t u) { double d; memcpy(&d, &u, sizeof d); return d; }
static inline uint64_t cg_bits_of_double(double d) { uint64_t u; memcpy(&u, &d, sizeof u); return u; }

CG_MATH_INLINE float cg_expf(float x)
{
    /* |x| clamped to 112, where exp(x) is inf or 0 in any case, so n below fits the
     * exponent field; written as minps computes it, so NaN passes (and gives NaN through
     * the polynomial) and no lane's constant invites gcc to copy the computation */
    const float x_abs = cg_float_of_bits(cg_bits_of_float(x) & 0x7fffffffu);
    const float xc_abs = 112.0f < x_abs ? 112.0f : x_abs;
    const float xc = cg_float_of_bits(cg_bits_of_float(xc_abs) | (cg_bits_of_float(x) & 0x80000000u));
    /* x = n ln2 + r, |r| <= ln2 / 2: adding 1.5 2^23 rounds x log2(e) to the integer n,
     * which the low bits of the sum hold; ln2 split in two (Cody-Waite) so n ln2_hi and
     * x - n ln2_hi are exact */
    const float shifted = xc * 0x1.715476p+0f + 0x1.8p23f;
    const float nf = shifted - 0x1.8p23f;
    const int32_t n = (int32_t)(cg_bits_of_float(shifted) - 0x4b400000u);
    float r = fmaf(-nf, 0x1.62e4p-1f, xc);
    r = fmaf(-nf, 0x1.7f7d1cp-20f, r);
    /* e^r by its minimax polynomial of degree 6 (its two leading coefficients are 1):
     * relative error 1.7e-8, Horner's rule with the one rounding of its last fma */
    const float q = fmaf(fmaf(fmaf(fmaf(0x1.6ab98p-10f, r, 0x1.126d0cp-7f), r, 0x1.55589ap-5f),
                              r, 0x1.55540ap-3f), r, 0x1.fffffap-2f);
    const float p = fmaf(fmaf(q, r, 1.0f), r, 1.0f);
    /* 2^n as two powers of two, each a normal float for |n| <= 162: the product
     * rounds once, to inf above 2^128 and to a subnormal or 0 below 2^-126 */
    const int32_t n1 = n >> 1, n2 = n - n1;
    const float scale1 = cg_float_of_bits((uint32_t)(n1 + 127) << 23);
    const float scale2 = cg_float_of_bits((uint32_t)(n2 + 127) << 23);
    return (p * scale1) * scale2;
}

/* exp(t) for t <= 0 (or NaN), as sigmoid and softplus need it (t = -|x|): cg_expf's reduction
 * and polynomial, bit for bit the same results, in fewer instructions (W1's float32 loop is
 * bound by its FP ports): one clamp, and p 2^n as (2^-32 p) 2^(n + 32), 2^(n + 32) normal
 * for n >= -150, the one product rounding as cg_expf's does. 2^-32 p comes out of the
 * polynomial itself, its coefficients scaled by 2^-32: every step is 2^-32 times cg_expf's,
 * exactly (no intermediate is near the subnormals), and saves the multiplication by 2^-32:
 * the FMA/multiply pipes bound W1's loop (with cg_log1p_unitf's, 29 FMA/multiply
 * instructions per vector instead of 34; float64: 42 instead of 47). With the masked clamp
 * and log1p's f - s (f - R), W1's loop in cache on Zen 4 (paired, one process): float32
 * 81 -> 70 instructions per vector (loads, stores and copies counted) and 7-8% faster,
 * float64 4-5% faster. No faster there: integer compares for the selects, unrolling 4
 * times. A degree-5 polynomial here (1.1e-7 off e^r) took sigmoid and softplus to 3 ulps. */
CG_MATH_INLINE float cg_expf_nonpos(float t)
{
    /* below -104 exp rounds to 0 in any case: t set to -104 there by a mask, NaN kept (its
     * compare is false). A select (maxps) of the constant -104 led gcc to copy the steps below
     * for that constant and to blend their results in: 5 more vector instructions per call. */
    const uint32_t keep = -(uint32_t)!(t < -104.0f);
    const float tc = cg_float_of_bits(((cg_bits_of_float(t) ^ 0xc2d00000u) & keep) ^ 0xc2d00000u);
    /* adding 1.5 2^23 + 159 rounds t log2(e) to n + 159, held by the sum's low bits: shifted
     * left by 23 they are the bits of 2^(n + 32) (1.5 2^23's low 9 bits are 0). NaN's
     * payload bits give some scale, but p is NaN then. */
    const float shifted = tc * 0x1.715476p+0f + (0x1.8p23f + 159.0f);
    const float nf = shifted - (0x1.8p23f + 159.0f);
    float r = fmaf(-nf, 0x1.62e4p-1f, tc);
    r = fmaf(-nf, 0x1.7f7d1cp-20f, r);
    const float q = fmaf(fmaf(fmaf(fmaf(0x1.6ab98p-42f, r, 0x1.126d0cp-39f), r, 0x1.55589ap-37f),
                              r, 0x1.55540ap-35f), r, 0x1.fffffap-34f);
    const float p = fmaf(fmaf(q, r, 0x1p-32f), r, 0x1p-32f);   /* 2^-32 e^r */
    return p * cg_float_of_bits(cg_bits_of_float(shifted) << 23);
}
/* -|x| (the same bits as an OR of the sign bit, one instruction fewer in a vector loop) as
 * -fabs, which gcc knows -x does not change: softplus(z) and softplus(-z) in one loop (a
 * cross-entropy of sigmoid(z): W4's monitor, 20x784) then share exp and log1p, where the OR
 * computed them twice: 55 -> 30 us in float64, 20 -> 11 in float32 (gcc 12, Zen 4); one
 * softplus alone took as long either way (28 us) */
CG_MATH_INLINE float cg_neg_absf(float x) { return -fabsf(x); }
CG_MATH_INLINE double cg_neg_abs(double x) { return -fabs(x); }

CG_MATH_INLINE float cg_log1pf(float x)
{
    /* 1 + x = u + c exactly (u - 1 is exact for u in [0.5, 2^24]; above, c / u is below the
     * result's rounding); u = 2^k m, m in [sqrt(2)/2, sqrt(2)) by integer ops on u's bits.
     * u outside (0, inf) (x <= -1, inf, NaN) is computed as 1 and its result added below:
     * every special case is a select of constants or of the input, never of the computed
     * value, whose divisions gcc would then not run on lanes that discard them. */
    const float u_raw = 1.0f + x;
    const int finite_u = (u_raw > 0.0f) & (u_raw < INFINITY);   /* no &&: gcc branches on it */
    const uint32_t keep_u = -(uint32_t)finite_u;   /* by a mask: a select of the constant 1
                                                      would be folded into a copy of it all */
    const float u = cg_float_of_bits((cg_bits_of_float(u_raw) & keep_u) | (0x3f800000u & ~keep_u));
    const float c = (x - (u - 1.0f)) / u;
    const uint32_t iu = cg_bits_of_float(u) - 0x3f3504f3u;   /* sqrt(2)/2 */
    const int32_t k = (int32_t)iu >> 23;
    const float f = cg_float_of_bits((iu & 0x007fffffu) + 0x3f3504f3u) - 1.0f;
    /* log(1 + f) = f - f^2/2 + s (f^2/2 + R(s^2)), s = f / (2 + f), R minimax of degree 4:
     * absolute error 8.9e-10; the large terms f and k ln2_hi added last. Tiny x gives
     * u = 1, k = f = 0 and r = c = x exactly (subnormals too). */
    const float s = f / (2.0f + f), z = s * s;
    const float rz = z * fmaf(fmaf(fmaf(0x1.e2f664p-3f, z, 0x1.2438d8p-2f), z, 0x1.999a7ap-2f),
                              z, 0x1.555554p-1f);
    const float hfsq = 0.5f * f * f, kf = (float)k;
    const float r = fmaf(kf, 0x1.62e4p-1f,
                         f - (hfsq - fmaf(s, hfsq + rz, fmaf(kf, 0x1.7f7d1cp-20f, c))));
    /* x = -1: -inf; x < -1 or NaN: NaN; x = inf: inf (r is finite on those lanes) */
    const float special = u_raw == 0.0f ? -INFINITY : (u_raw == INFINITY ? INFINITY : NAN);
    const float fin = r + (finite_u ? 0.0f : special);
    /* log1p(x) has x's sign: this also makes log1p(-0) = -0 */
    return cg_float_of_bits(cg_bits_of_float(fin) | (cg_bits_of_float(x) & 0x80000000u));
}

/* --- float64 exp (of t <= 0) and log1p (on [0, 1]) of our own, for sigmoid and softplus --
 * Their arguments are e = exp(-|x|) and log1p(e), e in [0, 1]: both inline, branch-free and
 * table-free, so float64 sigmoid/softplus loops vectorise without libmvec calls (coefficients
 * by scripts/fit_vecmath64.py: Chebyshev fits at 60 digits, near-minimax; truncation errors
 * 0.15 ulp (exp) and 0.5 ulp (log1p)). log1p's degree 6, not 7, and exp's last steps as
 * Horner's 1 + r (1 + r q) took W1's loop from 568 to 543 zmm instructions per 48 elements
 * (Zen 5), the measured worst cases unchanged. Sigmoid and softplus on them within 2 ulps of
 * the correctly rounded result (tests/codegen/test_vecmath64.py, against mpmath: dense sweeps
 * measured 2 ulps at most for either). On AVX-512 (Rocket Lake, under load) W1's float64
 * loop ran 7% faster than on libmvec's exp and log1p: it is bound by the FP ports, and the
 * divisions (one each) overlap with them; replacing them by Newton steps was slower, and so
 * was a 32-entry table of 2^(j/32) with a degree-6 polynomial (Zen 4: 7-15% slower, its
 * gathers costing more than the 5 FMAs it saves). */
CG_MATH_INLINE double cg_exp_nonpos(double t)
{
    /* t clamped to -746, where exp rounds to 0 in any case (n below >= -1077); as maxpd
     * computes it, so NaN passes through */
    const double tc = -746.0 > t ? -746.0 : t;
    /* t = n ln2 + r, |r| <= ln2 / 2 (Cody-Waite, fma): adding 1.5 2^52 + 1087 rounds
     * t log2(e) to n + 1087, which the low bits of the sum hold: shifted left by 52 they are
     * the bits of 2^(n + 64) (1.5 2^52's bits end in twelve zeros). NaN's payload bits give
     * some scale, but p is NaN then. */
    const double shifted = fma(tc, 0x1.71547652b82fep+0, 0x1.8p52 + 1087.0);
    const double nf = shifted - (0x1.8p52 + 1087.0);
    double r = fma(-nf, 0x1.62e42fefa39efp-1, tc);
    r = fma(-nf, 0x1.abc9e3b39803fp-56, r);
    /* e^r = 1 + r + r^2 q(r), q of degree 9: relative error 1.6e-17 (0.15 ulp; degree 10
     * makes it 3e-19 but costs W1's loop 4%: the FMA ports, not memory, bound it). Computed
     * as 2^-64 e^r, every coefficient scaled by 2^-64: each step is exactly 2^-64 times the
     * unscaled one (nothing comes near the subnormals), one multiplication fewer below. */
    double q = 0x1.af389ecfc4b9cp-90;
    q = fma(q, r, 0x1.28917c89a43a7p-86);
    q = fma(q, r, 0x1.71de0db2f6b19p-83);
    q = fma(q, r, 0x1.a019b9149a41cp-80);
    q = fma(q, r, 0x1.a01a01a7c2efep-77);
    q = fma(q, r, 0x1.6c16c17889ef1p-74);
    q = fma(q, r, 0x1.11111111109b5p-71);
    q = fma(q, r, 0x1.5555555553d68p-69);
    q = fma(q, r, 0x1.5555555555556p-67);
    q = fma(q, r, 0x1.0000000000001p-65);
    const double p = fma(fma(r, q, 0x1p-64), r, 0x1p-64);   /* 2^-64 e^r */
    /* p 2^n as (2^-64 p) 2^(n + 64), 2^(n + 64) normal for n >= -1077: the one product
     * rounds once, to a subnormal or 0 below 2^-1022 */
    return p * cg_double_of_bits(cg_bits_of_double(shifted) << 52);
}
/* log1p(e) for e in [0, 1] (or NaN), as cg_log1p_unitf: 1 + e = 2^k (1 + f) with f = e
 * (k = 0) below 1/2 and f = (e - 1) / 2 (k = 1) above, both exact; log(1 + f) =
 * f - s (f - R(s^2)), s = f / (2 + f) in [-1/7, 1/5], R(z) = z P(z), P of
 * degree 6: relative error 5.6e-17 (degree 7: 7.4e-19, one FMA more for no ulp of softplus's
 * measured worst case). Tiny e gives e exactly, subnormals too. */
CG_MATH_INLINE double cg_log1p_unit(double e)
{
    const int upper = e >= 0.5;
    const double f = upper ? fma(e, 0.5, -0.5) : e;
    /* k ln2 in two parts, chosen rather than multiplied by k: the FMA/multiply pipes bound
     * W1's loop, which a select does not use (bit for bit the results of k * ln2) */
    const double ln2_hi = upper ? 0x1.62e42fefa39efp-1 : 0.0;
    const double ln2_lo = upper ? 0x1.abc9e3b39803fp-56 : 0.0;
    const double s = f / (2.0 + f), z = s * s;
    double pz = 0x1.3587371ccaae7p-3;
    pz = fma(pz, z, 0x1.390565d08943ep-3);
    pz = fma(pz, z, 0x1.746b9dab90793p-3);
    pz = fma(pz, z, 0x1.c71c3d608a2f4p-3);
    pz = fma(pz, z, 0x1.24924951743bbp-2);
    pz = fma(pz, z, 0x1.999999997cd24p-2);
    pz = fma(pz, z, 0x1.555555555556dp-1);
    /* f - s (f - z P(z)) (as cg_log1p_unitf): two multiplications and a subtraction fewer
     * than f - (f^2/2 - s (f^2/2 + z P(z))) */
    return ln2_hi + (fma(-s, fma(-z, pz, f), f) + ln2_lo);
}

/* sigmoid and softplus in forms that never overflow and have no branch, so loops calling
 * them vectorise: with e = exp(-|x|) <= 1, sigmoid is 1 / (1 + e) or e / (1 + e), which
 * keeps the subnormal results of x below -87 (float32) or -708 (float64) that
 * 1 / (1 + exp(-x)) loses to exp's overflow. Always inlined (CG_MATH_INLINE, above); float64
 * on cg_exp_nonpos and cg_log1p_unit, float32 on cg_expf_nonpos and cg_log1p_unitf. */
CG_MATH_INLINE double cg_sigmoid(double x)
{
    const double e = cg_exp_nonpos(cg_neg_abs(x));
    return (x >= 0 ? 1.0 : e) / (1.0 + e);
}
CG_MATH_INLINE float cg_sigmoidf(float x)
{
    const float e = cg_expf_nonpos(cg_neg_absf(x));
    return (x >= 0 ? 1.0f : e) / (1.0f + e);
}
CG_MATH_INLINE double cg_softplus(double x) { return (x > 0 ? x : 0.0) + cg_log1p_unit(cg_exp_nonpos(cg_neg_abs(x))); }
/* log1p(e) for e in [0, 1] (or NaN), as float softplus needs it: 1 + e = 2^k (1 + f) with
 * f = e (k = 0) below 1/2 and f = (e - 1) / 2 (k = 1) above, both exact, so no rounding
 * error of 1 + e needs carrying; log(1 + f) = f - s (f - R(s^2)), s = f / (2 + f), with
 * cg_log1pf's R refitted for s <= 1/5 (scripts/fit_vecmath.py). One division, no select on
 * the computed value (tiny e gives e exactly, subnormals too), so softplus loops vectorise
 * lean: softplus within 2 ulps over all floats, as with cg_log1pf's f - (f^2/2 -
 * s (f^2/2 + R)), which took two multiplications more. (As 2s + s R(s^2), softplus measured
 * 2.8 ulps: 2s carries s's rounding whole, f - s (f - R) only its product with f - R.) */
CG_MATH_INLINE float cg_log1p_unitf(float e)
{
    const int upper = e >= 0.5f;
    const float f = upper ? fmaf(e, 0.5f, -0.5f) : e;
    /* k ln2 selected, not multiplied, as in cg_log1p_unit; one float for ln2 (k is 0 or 1:
     * its rounding, 1.9e-9, is 0.03 ulp of the result) */
    const float ln2 = upper ? 0x1.62e43p-1f : 0.0f;
    const float s = f / (2.0f + f), z = s * s;
    const float pz = fmaf(fmaf(fmaf(0x1.ed89a2p-3f, z, 0x1.23e9bap-2f), z, 0x1.999bdcp-2f), z,
                          0x1.555554p-1f);
    /* f - s (f - z P(z)): fdlibm's form for small f */
    return ln2 + fmaf(-s, fmaf(-z, pz, f), f);
}
CG_MATH_INLINE float cg_softplusf(float x) { return (x > 0 ? x : 0.0f) + cg_log1p_unitf(cg_expf_nonpos(cg_neg_absf(x))); }

/* --- float64 tanh of our own -----------------------------------------------------------
 * tanh(a) = e / (e + 2) with e = expm1(2a), a = |x| clamped to 20 (tanh rounds to 1 from
 * 19.1 on), the sign put back last (tanh(-0) = -0; NaN passes through). One formula over
 * the whole range, no branch and no select on a computed value, so loops vectorise (libmvec's
 * tanh took 1.53 us per 1024 doubles on AVX-512, this 1.0). expm1(y) = 2^n (1 + p(r)) - 1
 * with y = n ln2 + r (Cody-Waite, fma), |r| <= ln2 / 2, p(r) = expm1(r) by its Taylor
 * polynomial of degree 13 (truncation 1e-17 relative); e / (e + 2) only shrinks e's
 * relative error. Within 2 ulps of the correctly rounded tanh (tests/codegen/test_vecmath.py,
 * against mpmath on a dense sweep of float64's range). */

CG_MATH_INLINE double cg_tanh(double x)
{
    const double x_abs = cg_double_of_bits(cg_bits_of_double(x) & 0x7fffffffffffffffull);
    const double a = 20.0 < x_abs ? 20.0 : x_abs;      /* as minpd: NaN stays NaN */
    const double y = a + a;
    /* adding 1.5 2^52 rounds y log2(e) to the integer n, held by the low bits of the sum */
    const double shifted = fma(y, 0x1.71547652b82fep+0, 0x1.8p52);
    const double nf = shifted - 0x1.8p52;
    const int64_t n = (int64_t)(cg_bits_of_double(shifted) - cg_bits_of_double(0x1.8p52));
    double r = fma(-nf, 0x1.62e42fefa39efp-1, y);
    r = fma(-nf, 0x1.abc9e3b39803fp-56, r);
    /* expm1(r) = r + r^2 (1/2! + r (1/3! + ... + r / 13!)) */
    double q = 1.0 / 6227020800.0;
    q = fma(q, r, 1.0 / 479001600.0);
    q = fma(q, r, 1.0 / 39916800.0);
    q = fma(q, r, 1.0 / 3628800.0);
    q = fma(q, r, 1.0 / 362880.0);
    q = fma(q, r, 1.0 / 40320.0);
    q = fma(q, r, 1.0 / 5040.0);
    q = fma(q, r, 1.0 / 720.0);
    q = fma(q, r, 1.0 / 120.0);
    q = fma(q, r, 1.0 / 24.0);
    q = fma(q, r, 1.0 / 6.0);
    q = fma(q, r, 0.5);
    const double p = fma(r * r, q, r);
    /* 2^n (0 <= n <= 58) and 2^n - 1 are exact (n = 58 rounds 2^n - 1 to 2^n, harmlessly) */
    const double scale = cg_double_of_bits((uint64_t)(n + 1023) << 52);
    const double e = fma(scale, p, scale - 1.0);
    const double t = e / (e + 2.0);
    return cg_double_of_bits(cg_bits_of_double(t) | (cg_bits_of_double(x) & 0x8000000000000000ull));
}

/* p[i] = tanh(p[i]) over n contiguous elements: the epilogue of GemmEpilogue nodes of tanh
 * (templates/ops/gemm_epilogue.c.j2), a loop of its own (never inlined) so that it runs with the
 * elementwise kernels' vector width (CG_WIDE_LOOP) whatever the function calling it; unused
 * in most modules. */
CG_WIDE_LOOP __attribute__((noinline, unused)) static void cg_tanh_inplace(double *p, int64_t n)
{
    for (int64_t i = 0; i < n; i++) p[i] = cg_tanh(p[i]);
}
CG_WIDE_LOOP __attribute__((noinline, unused)) static void cg_tanhf_inplace(float *p, int64_t n)
{
    for (int64_t i = 0; i < n; i++) p[i] = tanhf(p[i]);
}

/* erfcx(x) = exp(x^2) erfc(x), which libm lacks. Below 12, from erfc with x^2 split into
 * its rounded value and rounding error (fma), so exp(x^2) keeps full precision; above, by
 * the continued fraction of erfc (Laplace), which needs no exp and cannot underflow. */
static inline double cg_erfcx(double x)
{
    if (x < -27.0) return HUGE_VAL;   /* exp(x^2) overflows */
    if (x < 12.0) {
        const double x2 = x * x, x2_err = fma(x, x, -x2);
        return exp(x2) * erfc(x) * (1.0 + x2_err);
    }
    double t = x;   /* NaN stays NaN, inf gives 0 */
    for (int k = 40; k >= 1; k--)
        t = x + 0.5 * k / t;
    return 0.56418958354775628695 / t;   /* 1 / sqrt(pi) */
}

/* digamma and trigamma, which libm lacks: the recurrence moves x to >= 10, where the
 * asymptotic series is exact to double precision; negative x by the reflection formula. */
static inline double cg_psi(double x)
{
    if (x <= 0.0 && x == floor(x)) return x == 0.0 ? -copysign(HUGE_VAL, x) : NAN;  /* poles */
    if (x < 0.0) return cg_psi(1.0 - x) - 3.14159265358979323846 / tan(3.14159265358979323846 * x);
    double shift = 0.0;
    for (; x < 10.0; x += 1.0)
        shift -= 1.0 / x;
    const double r = 1.0 / (x * x);
    return shift + log(x) - 0.5 / x
        - r * (1.0 / 12 - r * (1.0 / 120 - r * (1.0 / 252 - r * (1.0 / 240 - r * (1.0 / 132
        - r * (691.0 / 32760 - r / 12))))));
}
static inline double cg_trigamma(double x)
{
    if (x <= 0.0 && x == floor(x)) return HUGE_VAL;   /* poles */
    if (x < 0.0) {
        const double s = sin(3.14159265358979323846 * x);
        return 9.86960440108935861883 / (s * s) - cg_trigamma(1.0 - x);   /* pi^2 */
    }
    double shift = 0.0;
    for (; x < 10.0; x += 1.0)
        shift += 1.0 / (x * x);
    const double r = 1.0 / (x * x);
    return shift + 1.0 / x + 0.5 * r + r / x * (1.0 / 6 - r * (1.0 / 30 - r * (1.0 / 42
        - r * (1.0 / 30 - r * (5.0 / 66 - r * (691.0 / 2730 - r * 7.0 / 6))))));
}

/* erfinv, which libm lacks: a closed-form first guess (Winitzki's, within 2e-3), then
 * Halley steps on erf(x) = y, each cubing the relative error, so three reach double
 * precision. Above 0.5 the residual is taken as (1 - y) - erfc(x): 1 - y is exact there and
 * erfc keeps its digits as y nears 1, where erf(x) - y would cancel. */
static inline double cg_erfinv(double y)
{
    const double a = fabs(y);
    if (!(a < 1.0)) return a == 1.0 ? copysign(HUGE_VAL, y) : NAN;   /* NaN, |y| > 1 too */
    if (a == 0.0) return y;   /* keeps the sign of zero */
    const double l = log1p(-a * a), c = 4.3307467508 + 0.5 * l;   /* 2 / (pi 0.147) */
    double x = sqrt(sqrt(c * c - l / 0.147) - c);
    for (int k = 0; k < 3; k++) {
        const double r = a > 0.5 ? (1.0 - a) - erfc(x) : erf(x) - a;
        const double u = r / (1.12837916709551257390 * exp(-x * x));   /* 2 / sqrt(pi) */
        x -= u / (1.0 + x * u);
    }
    return copysign(x, y);
}

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

/* (modsize2) Call a runtime node entry (the arguments after ``node``: an expression giving
 * a CG_* status, the message written into err) and fail as that node when it fails. */
#define CG_TRY(node, ...)                              \
    do {                                               \
        const int cg_status_ = (__VA_ARGS__);          \
        if (cg_status_) CG_FAIL_WRITTEN(cg_status_, node); \
    } while (0)

/* (modsize2) cg_run: hand an output over (cg_hand_over's arguments after the pool), or
 * fail the call when memory is out. */
#define CG_HAND_OVER(...)                              \
    do {                                               \
        if (cg_hand_over(&pool, __VA_ARGS__))          \
            CG_FAIL(CG_MEMORY_ERROR, -1, "out of memory"); \
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
        if (!cg_dest && (ndim) > 0)   /* (a 0-d array's shape is never written) */  \
            cg_dest = cg_pool_dest(&pool, &(a), (a).shape, (ndim));                 \
        (a).data = cg_dest ? cg_dest : cg_pool_alloc(&pool, cg_nbytes);             \
        if (!(a).data) CG_FAIL(CG_MEMORY_ERROR, (node), "out of memory");           \
    } while (0)

/* Where CG_ALLOC puts the array ``a`` instead of a new buffer: nowhere (NULL), except in
 * the block of an in-place update, where the lowering redefines it to give the updated
 * input's buffer for the node's output (see cgraph/rewrite/inplace.py). */
#define CG_DEST_FOR(a) NULL
/* (modsize2) that redefinition, in one short line: ``out`` goes into ``target``'s buffer
 * when cg_inplace (a local of cg_run) is set. */
#define CG_DEST_INTO(a, out, target) \
    (cg_inplace && (void *)&(a) == (void *)&(out) ? (target).data : NULL)

/* Whether an updated input (updated[k] != 0) shares a byte with any other of the n inputs
 * (ranks nd[k], element sizes isz[k]): then cg_run does not write in place. */
CG_API int cg_inputs_overlap(const cg_array *const *ins, const int *nd, const int64_t *isz,
                             const signed char *updated, int n);

/* --- compact module code (modsize): one call where the module had one line per pair ---- */
/* Whether ``a`` (rank nd, element size isz) shares a byte with an updated input (as
 * cg_inputs_overlap's tables): then cg_run does not write in place. */
CG_API int cg_overlaps_updated(const cg_array *a, int nd, int64_t isz,
                               const cg_array *const *ins, const int *nds, const int64_t *isz_in,
                               const signed char *updated, int n);

/* --- compact module code (modsize2): the in-place check's per-candidate conditions ----- */
/* Whether a Gemm's product alpha * dot(a, b) (ranks andim, bnd) may be added straight into
 * ``target``'s buffer: the inner lengths agree, BLAS reads a and b directly, alpha_nonzero
 * (alpha = 0 goes through a temporary), and the product has target's shape, every length
 * within BLAS's int. */
CG_API int cg_gemm_inplace_ok(const cg_array *a, int andim, const cg_array *b, int bnd,
                              int alpha_nonzero, const cg_array *target);

/* A Gemm written into z's own buffer (an update of z in place): whether z (rank nd, the
 * product's lengths d0, d1 on its axes) is already there, contiguous, at ``dest`` (the
 * output's destination, NULL when none): then out = z needs no copy. */
static inline int cg_gemm_z_there(const void *dest, const cg_array *z, int nd, int64_t d0,
                                  int64_t d1)
{
    return dest != NULL && dest == z->data && cg_is_contiguous(z, nd) &&
           (nd < 1 || z->shape[0] == d0) && (nd < 2 || z->shape[1] == d1);
}

/* Whether ``x`` broadcasts to ``target``'s shape without growing it: on each of the nd
 * axes x has length 1 or target's. */
CG_API int cg_broadcasts_to(const cg_array *x, const cg_array *target, int nd);

/* Copy any strided ``src`` into contiguous ``dst`` (same shape), element size ``isz``. */
CG_API void cg_copy_contiguous(char *dst, const cg_array *src, int ndim, size_t isz);

/* A Reshape node (templates/ops/reshape_driver.c.j2): out (rank nd) is x (rank xndim,
 * elements of isz bytes) under the shape in the int64 vector s, one entry of which may be
 * -1 (inferred); a view of x when x is contiguous, else of a contiguous copy from ``pool``.
 * Returns CG_OK, or an error status with its message in err naming ``op`` and x_label. */
CG_API int cg_reshape_node(cg_array *out, int nd, const cg_array *x, int xndim,
                           const cg_array *s, size_t isz, const char *op, const char *x_label,
                           cg_pool *pool, char *err, int errlen);

/* Copy ``src`` into ``dst`` (same shape, any strides, element size ``isz``). */
CG_API void cg_copy_strided(cg_array *dst, const cg_array *src, int ndim, size_t isz);

/* The shape and strides of one row of ``src`` (rank ndim: its axes after the first) into
 * ``dst``, whose data pointer is left as it is (Scan's step arguments, cg_scan). */
CG_API void cg_row_of(cg_array *dst, const cg_array *src, int ndim);

/* numpy broadcasting of ``n`` operands of rank ``ndim`` into ``out->shape``; 0 if the shapes
 * are incompatible. */
CG_API int cg_broadcast(cg_array *out, const cg_array *const *arrays, int n, int ndim);

/* --- Ctrl-C -------------------------------------------------------------------------
 *
 * Long loops poll cg_interrupted() (every CG_POLL_ELEMENTS elements, or per outer row)
 * and end their node with CG_INTERRUPTED when a SIGINT came since the call began: the call
 * then raises KeyboardInterrupt and writes no shared value. The count is kept by cgraph's
 * call path (templates/fastcall.c), whose address cgraph hands to the runtime once
 * (cg_set_interrupt_counter). cg_run begins with cg_interrupts_begin(); a call that is about
 * to write into shared buffers in place calls cg_interrupts_end() first, so such writes
 * are never stopped halfway (the call then runs to its end, the KeyboardInterrupt comes
 * right after it, with every update done). Per thread: calls on other threads poll their
 * own begin/end; an OpenMP loop reads the thread's state into a cg_poll first. */
#define CG_POLL_ELEMENTS ((int64_t)16 * CG_LOOP_BLOCK)
typedef struct { volatile const int *count; int base; } cg_poll;
CG_API void cg_set_interrupt_counter(volatile const int *count);
CG_API void cg_interrupts_begin(void);
CG_API void cg_interrupts_end(void);
/* this thread's poll state: count NULL when the call may not be stopped */
CG_API cg_poll cg_poll_state(void);
/* 1 when a SIGINT came since cg_interrupts_begin (and polling was not ended) */
CG_API int cg_interrupted(void);
static inline int cg_poll_hit(const cg_poll *p) { return p->count && *p->count != p->base; }
/* in a node block of a module: end the node when Ctrl-C came */
#define CG_POLL(node)                                                                    \
    do {                                                                                 \
        if (cg_interrupted()) CG_FAIL(CG_INTERRUPTED, (node), "interrupted (SIGINT)");    \
    } while (0)

/* --- elementwise loops ------------------------------------------------------------
 *
 * A node's loop over one row of n elements (templates/ops/elemwise_kernel.c.j2): ptrs[0]
 * the output, ptrs[k + 1] input k, steps in elements; returns an error status or 0. */
typedef int (*cg_loop_fn)(int64_t n, char *const *ptrs, const int64_t *steps);

/* --- plain elementwise loops (modsize: no kernel generated for them) -------------------- */
/* Loops for nodes that only copy an operand into the output, elements of B bytes (any
 * type: the bits are copied): cg_loop_copy1_B copies input 0 (through its step: a Gemm's
 * z = bias), cg_loop_fillK_B writes input K-1, which holds one element, everywhere
 * (Elemwise{second}'s fill). Chosen by the lowering (codegen/lower.py, runtime_loop). */
#define CG_DECLARE_PLAIN_LOOPS(B)                                                       \
    CG_API int cg_loop_copy1_##B(int64_t n, char *const *ptrs, const int64_t *steps);   \
    CG_API int cg_loop_fill1_##B(int64_t n, char *const *ptrs, const int64_t *steps);   \
    CG_API int cg_loop_fill2_##B(int64_t n, char *const *ptrs, const int64_t *steps);
CG_DECLARE_PLAIN_LOOPS(1)
CG_DECLARE_PLAIN_LOOPS(2)
CG_DECLARE_PLAIN_LOOPS(4)
CG_DECLARE_PLAIN_LOOPS(8)
#undef CG_DECLARE_PLAIN_LOOPS

/* --- a loop that writes nothing: a Gemm's out = z when out is z's own buffer (gemm.c.j2);
 * run with a tail of 1 (cg_elemwise copies a padded tail's results back into out) */
static inline int cg_loop_nothing(int64_t n, char *const *ptrs, const int64_t *steps)
{
    (void)n;
    (void)ptrs;
    (void)steps;
    return 0;
}

/* Run ``loop`` over every element of ``out`` (allocated contiguous, rank nd >= 1), the n_in
 * inputs broadcast to its shape (bit k of scalar_mask: input k holds one element): flat when
 * the others are contiguous of out's size (on ``nthreads`` threads in blocks of
 * CG_LOOP_BLOCK elements, the last n % tail padded to ``tail``), else row by row through
 * their strides. Returns the last error status a loop returned, 0 if none. */
#define CG_LOOP_BLOCK 4096
CG_API int cg_elemwise(cg_loop_fn loop, cg_array *out, int nd, int64_t out_isz,
                       const cg_array *const *ins, const int64_t *in_isz, int n_in,
                       unsigned long long scalar_mask, int64_t tail, int nthreads);
#ifdef _OPENMP
#define CG_LOOP_THREADS(n) cg_omp_threads(n)
#else
#define CG_LOOP_THREADS(n) 1
#endif
/* How many threads a loop of n elements gets: the module's policy (its OpenMP settings),
 * handed to runtime entries that size their loops themselves; NULL: one thread. */
typedef int (*cg_threads_fn)(int64_t n);
#ifdef _OPENMP
#define CG_THREADS_FN cg_omp_threads
#else
#define CG_THREADS_FN NULL
#endif

/* --- BLAS ----------------------------------------------------------------------------
 *
 * Through function pointers set once per process (cg_set_blas, called by cgraph when it
 * loads the runtime library), so nothing links against a BLAS library. gemm and gemv come
 * from numpy's own OpenBLAS when it can be found (the library numpy's matmul uses), else
 * from scipy's BLAS; dot from the same library. With an ILP64 library (64-bit integer
 * arguments) the pointers are small wrappers in the runtime library that widen the sizes. */
typedef void (*cg_sgemm_t)(const char *, const char *, const int *, const int *, const int *,
                           const float *, const float *, const int *, const float *, const int *,
                           const float *, float *, const int *);
typedef void (*cg_dgemm_t)(const char *, const char *, const int *, const int *, const int *,
                           const double *, const double *, const int *, const double *,
                           const int *, const double *, double *, const int *);
typedef void (*cg_sgemv_t)(const char *, const int *, const int *, const float *, const float *,
                           const int *, const float *, const int *, const float *, float *,
                           const int *);
typedef void (*cg_dgemv_t)(const char *, const int *, const int *, const double *,
                           const double *, const int *, const double *, const int *,
                           const double *, double *, const int *);
typedef float (*cg_sdot_t)(const int *, const float *, const int *, const float *, const int *);
typedef double (*cg_ddot_t)(const int *, const double *, const int *, const double *, const int *);

CG_API extern cg_sgemm_t cg_sgemm;
CG_API extern cg_dgemm_t cg_dgemm;
CG_API extern cg_sgemv_t cg_sgemv;
CG_API extern cg_dgemv_t cg_dgemv;
CG_API extern cg_sdot_t cg_sdot;
CG_API extern cg_ddot_t cg_ddot;
CG_API void cg_set_blas(void *sgemm, void *dgemm, void *sgemv, void *dgemv, void *sdot,
                        void *ddot, int ilp64);
/* The ILP64 library's openblas_get_num_threads and openblas_set_num_threads (NULL: unknown),
 * with which its gemm runs products too small to pay for its threads on one thread. */
CG_API void cg_set_blas_threads(void *get, void *set);

/* Small matrix products without BLAS's per-call overhead (templates/ops/small_gemm.c.j2):
 * C (m x n, contiguous) = alpha * A B + beta * C (beta == 0: C is not read), A and B through
 * their strides; 0 when the product is too large for them (then the caller calls BLAS). */
CG_API int cg_sgemm_small(int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                          int64_t sa0, int64_t sa1, const float *b, int64_t sb0, int64_t sb1,
                          float beta, float *c);
CG_API int cg_dgemm_small(int64_t m, int64_t n, int64_t k, double alpha, const double *a,
                          int64_t sa0, int64_t sa1, const double *b, int64_t sb0, int64_t sb1,
                          double beta, double *c);
/* (the same on up to nthreads threads: see the threads of the products below) */
CG_API int cg_sgemm_small_threads(int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                                  int64_t sa0, int64_t sa1, const float *b, int64_t sb0,
                                  int64_t sb1, float beta, float *c, int nthreads);
CG_API int cg_dgemm_small_threads(int64_t m, int64_t n, int64_t k, double alpha,
                                  const double *a, int64_t sa0, int64_t sa1, const double *b,
                                  int64_t sb0, int64_t sb1, double beta, double *c,
                                  int nthreads);
/* Products with a narrow result (n <= 12 columns, templates/ops/narrow_gemm.c.j2), a
 * transposed A summed over a minibatch (k small) and a minibatch times a transposed B (m
 * small, small_gemm.c.j2) on the skinny tile variants: same contract as
 * cg_<p>gemm_small (0: not taken). From m*n*k = CG_NARROW_MIN the narrow kernel is tried
 * before the small one. */
#define CG_NARROW_MIN ((int64_t)1 << 16)
CG_API int cg_sgemm_narrow(int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                           int64_t sa0, int64_t sa1, const float *b, int64_t sb0, int64_t sb1,
                           float beta, float *c, int nthreads);
CG_API int cg_dgemm_narrow(int64_t m, int64_t n, int64_t k, double alpha, const double *a,
                           int64_t sa0, int64_t sa1, const double *b, int64_t sb0, int64_t sb1,
                           double beta, double *c, int nthreads);
/* From how many multiply-adds they take a product of each form (0: A by rows, 1: A by
 * columns) from BLAS, -1: none (0 if there is no such form), and their timing against BLAS
 * and the small kernel: cgraph/gemm_tuning.py's narrow choice */
CG_API int cg_set_sgemm_narrow_from(int form, int64_t macs);
CG_API int cg_set_dgemm_narrow_from(int form, int64_t macs);
CG_API double cg_sgemm_narrow_time(int path, int layout, int64_t m, int64_t n, int64_t k,
                                   int64_t reps, int cold, int nthreads);
CG_API double cg_dgemm_narrow_time(int path, int layout, int64_t m, int64_t n, int64_t k,
                                   int64_t reps, int cold, int nthreads);
CG_API int cg_sgemm_transposed_a_skinny(int64_t m, int64_t n, int64_t k, float alpha,
                                        const float *a, int64_t sa0, int64_t sa1,
                                        const float *b, int64_t sb0, int64_t sb1, float beta,
                                        float *c, int nthreads);
CG_API int cg_dgemm_transposed_a_skinny(int64_t m, int64_t n, int64_t k, double alpha,
                                        const double *a, int64_t sa0, int64_t sa1,
                                        const double *b, int64_t sb0, int64_t sb1, double beta,
                                        double *c, int nthreads);
CG_API int cg_sgemm_transposed_b_skinny(int64_t m, int64_t n, int64_t k, float alpha,
                                        const float *a, int64_t sa0, int64_t sa1,
                                        const float *b, int64_t sb0, int64_t sb1, float beta,
                                        float *c, int nthreads);
CG_API int cg_dgemm_transposed_b_skinny(int64_t m, int64_t n, int64_t k, double alpha,
                                        const double *a, int64_t sa0, int64_t sa1,
                                        const double *b, int64_t sb0, int64_t sb1, double beta,
                                        double *c, int nthreads);

/* --- threads of the products (the narrow and small-GEMM kernels) -----------------------
 * nthreads: what the module gives a product (its thread policy, as its elementwise loops':
 * cg_omp_threads on m*n*k, passed down by the Dot and Gemm nodes). A kernel splits a product
 * only when each thread gets at least CG_GEMM_THREAD_MACS multiply-adds: below, waking a
 * worker (2-3 us on an idle core, tens on a busy one) costs more than it saves. It splits
 * its rows or columns (never k) into pieces of whole tiles, CG_GEMM_PIECES per thread handed
 * out in turn, so a thread that starts late takes fewer; each element is summed in the same
 * order on any number of threads, so results do not depend on it. */
#define CG_GEMM_THREAD_MACS ((int64_t)1 << 19)
#define CG_GEMM_PIECES 4
/* The least multiply-adds per thread in force (CG_GEMM_THREAD_MACS unless set: the tests set
 * 1, so that every product splits); returns the previous one. */
CG_API int64_t cg_set_gemm_thread_macs(int64_t macs);
extern int64_t cg_gemm_thread_macs __attribute__((visibility("hidden")));
static inline int cg_gemm_threads(int nthreads, int64_t macs)
{
#ifdef _OPENMP
    const int64_t least = cg_gemm_thread_macs;
    if (nthreads <= 1 || macs < 2 * least || omp_in_parallel()) return 1;
    const int64_t most = macs / least;
    return most < nthreads ? (int)most : nthreads;
#else
    (void)nthreads;
    (void)macs;
    return 1;
#endif
}
/* The threads a Dot or Gemm node offers its product: the module's policy (``threads``,
 * which reads the environment) is asked only for a product large enough to split, so the
 * many small products of a step (an RNN's, once per time step) pay nothing for it. */
static inline int cg_product_threads(cg_threads_fn threads, int64_t macs)
{
    return threads && macs >= 2 * cg_gemm_thread_macs ? threads(macs) : 1;
}
/* how many pieces ``units`` (tiles, pairs of rows, blocks) are cut into for nt threads */
static inline int64_t cg_gemm_pieces(int64_t units, int nt)
{
    if (nt <= 1) return 1;
    return units < CG_GEMM_PIECES * nt ? units : CG_GEMM_PIECES * nt;
}
/* where piece p of ``pieces`` starts among ``units`` (p == pieces: units) */
static inline int64_t cg_gemm_piece(int64_t p, int64_t pieces, int64_t units)
{
    return p * units / pieces;
}
/* Its tile variants (cgraph/gemm_tuning.py times them and picks one per CPU): the name of
 * variant i (NULL past the last), the variant cg_<p>gemm_small runs (-1: none, BLAS runs the
 * small products; 0: no such variant), and
 * one variant run on any sizes (0: unknown variant or out of memory). */
CG_API const char *cg_gemm_variant_name(int variant);
CG_API int cg_set_sgemm_variant(int variant);
CG_API int cg_set_dgemm_variant(int variant);
CG_API int cg_sgemm_variant(int variant, int64_t m, int64_t n, int64_t k, float alpha,
                            const float *a, int64_t sa0, int64_t sa1, const float *b,
                            int64_t sb0, int64_t sb1, float beta, float *c);
CG_API int cg_dgemm_variant(int variant, int64_t m, int64_t n, int64_t k, double alpha,
                            const double *a, int64_t sa0, int64_t sa1, const double *b,
                            int64_t sb0, int64_t sb1, double beta, double *c);
CG_API double cg_sgemm_time(int variant, int64_t m, int64_t n, int64_t k, int64_t reps, int cold);
CG_API double cg_dgemm_time(int variant, int64_t m, int64_t n, int64_t k, int64_t reps, int cold);
/* (the variant timed as it runs on nthreads threads, against BLAS on its own) */
CG_API double cg_sgemm_time_threads(int variant, int64_t m, int64_t n, int64_t k, int64_t reps,
                                    int cold, int nthreads);
CG_API double cg_dgemm_time_threads(int variant, int64_t m, int64_t n, int64_t k, int64_t reps,
                                    int cold, int nthreads);
/* Skinny products past the small limit (one side at most 32): BLAS (-1, the default) or a
 * variant, per kind (0: m, 1: n, 2: k small), chosen by timing both (cg_<p>gemm_time, variant
 * -1: BLAS; cold: the operands evicted from the caches before each run; 2: evicted, and the
 * product added to C, as an update's gradient is). */
CG_API int cg_set_sgemm_skinny_variant(int kind, int variant);
CG_API int cg_set_dgemm_skinny_variant(int kind, int variant);
/* The variant (-1: BLAS, -2: the kind's own) for products of m <= 32 rows, per table (0:
 * the small products, 1: the skinny "m" kind); 0 for no such table, m or variant. Setting a
 * kind's variant (above) sets its own for every m. */
CG_API int cg_set_sgemm_variant_for_m(int table, int m, int variant);
CG_API int cg_set_dgemm_variant_for_m(int table, int m, int variant);
/* The form of a minibatch times a transposed B (cg_<p>gemm_transposed_b_skinny): -1 packed
 * panels on the skinny tile, else the dot tile of that id; 0 for no such form. */
CG_API int cg_set_sgemm_transposed_b_form(int form);
CG_API int cg_set_dgemm_transposed_b_form(int form);
/* The dot tiles' names by id (NULL past the last), and seconds that reps runs of h W.T by
 * form (-1: the panels on tile variant) take, m x k by (n x k)^T, evicted before each run,
 * on up to nthreads threads (-1 for an unknown form or variant, or out of memory). */
CG_API const char *cg_gemm_dot_tile_name(int form);
CG_API double cg_sgemm_transposed_b_time(int form, int variant, int64_t m, int64_t n, int64_t k,
                                         int64_t reps, int nthreads);
CG_API double cg_dgemm_transposed_b_time(int form, int variant, int64_t m, int64_t n, int64_t k,
                                         int64_t reps, int nthreads);
/* The threads they were timed on (variants on as many as BLAS runs): a product given fewer
 * is left to BLAS. 0 for fewer than 1. */
CG_API int cg_set_gemm_skinny_threads(int threads);
extern int cg_gemm_skinny_threads __attribute__((visibility("hidden")));

/* Whole Dot and Gemm nodes (templates/ops/blas_nodes.c.j2), float32 and float64: the
 * output's shape from the operands', its buffer (``dest``, or from ``pool``), then the
 * product. Dot: out = dot(a, b), a N-d (N >= 1), b a vector or a matrix. Gemm: out =
 * beta * z + alpha * dot(a, b), a and b vectors or matrices (not both vectors); z is computed
 * by ``z_loop`` from the n_loop_in arrays of z_in (the nz z inputs, then beta unless it is
 * 1), as an elementwise node's loop (bit k of z_scalar_mask: input k holds one element;
 * ``tail``: see cg_elemwise); ``c_beta`` scales what the loop left in out as the product
 * is added (1 when the loop applied beta; beta itself when the loop wrote nothing: an
 * update whose z is already in out's buffer, W - lr * (g + l2 * W) as one product with
 * beta = 1 - lr * l2). ``squares`` (a GemmSquares node; else NULL) receives sum(z ** 2),
 * z read before anything is written (with c_beta != 1, multiplied by it in the same pass).
 * labels: the op, a, b, z, then each z input. ``threads``: the
 * module's thread policy (CG_THREADS_FN; NULL: one thread), for the loop of z and the
 * product. Returns CG_OK, or an error status with its message in err. */
CG_API int cg_sdot_node(cg_array *out, void *dest, const cg_array *a, int na,
                        const cg_array *b, int nb, cg_threads_fn threads, const char *a_label,
                        const char *b_label, cg_pool *pool, char *err, int errlen);
CG_API int cg_ddot_node(cg_array *out, void *dest, const cg_array *a, int na,
                        const cg_array *b, int nb, cg_threads_fn threads, const char *a_label,
                        const char *b_label, cg_pool *pool, char *err, int errlen);
CG_API int cg_sgemm_node(cg_array *out, void *dest, float alpha, const cg_array *a, int na,
                         const cg_array *b, int nb, cg_loop_fn z_loop,
                         const cg_array *const *z_in, const int64_t *z_sizes, int nz,
                         int n_loop_in, unsigned long long z_scalar_mask, int64_t tail,
                         float c_beta, cg_array *squares, cg_threads_fn threads,
                         const char *const *labels, cg_pool *pool, char *err, int errlen);
CG_API int cg_dgemm_node(cg_array *out, void *dest, double alpha, const cg_array *a, int na,
                         const cg_array *b, int nb, cg_loop_fn z_loop,
                         const cg_array *const *z_in, const int64_t *z_sizes, int nz,
                         int n_loop_in, unsigned long long z_scalar_mask, int64_t tail,
                         double c_beta, cg_array *squares, cg_threads_fn threads,
                         const char *const *labels, cg_pool *pool, char *err, int errlen);

/* --- 2-d convolutions (templates/ops/conv_driver.c.j2, float32 and float64) ---------------
 * A Conv2d* node's geometry: subsample (sh, sw), dilation (dh, dw), num_groups, the border
 * mode (explicit: pads (top, bottom, left, right)), unshared filters and flip; border_str is
 * how the messages print the border mode. */
enum { CG_BORDER_VALID, CG_BORDER_FULL, CG_BORDER_HALF, CG_BORDER_EXPLICIT };
typedef struct {
    int64_t sh, sw, dh, dw, groups;
    int border;
    int64_t pads[4];
    int unshared, flip;
    const char *border_str;
} cg_conv2d_geom;

/* out = conv2d(x (B, C, H, W), w (O, [OH, OW,] C/groups, KH, KW)); its buffer ``dest``, or
 * from ``pool``. cg_<p>conv2d_grad_inputs: out (xref's shape: a shape-only descriptor will
 * do) from w and the output gradient gy, labels (out, w, gy); cg_<p>conv2d_grad_weights:
 * out (wref's shape, rank wndim) from x and gy, labels (x, out, gy). Each returns CG_OK, or
 * an error status with its message in err naming the labels (those of the Python reference:
 * cgraph/tensor/conv.py). */
CG_API int cg_sconv2d(cg_array *out, void *dest, const cg_array *x, const cg_array *w,
                      const cg_conv2d_geom *g, const char *x_label, const char *w_label,
                      cg_pool *pool, char *err, int errlen);
CG_API int cg_dconv2d(cg_array *out, void *dest, const cg_array *x, const cg_array *w,
                      const cg_conv2d_geom *g, const char *x_label, const char *w_label,
                      cg_pool *pool, char *err, int errlen);
CG_API int cg_sconv2d_grad_inputs(cg_array *out, void *dest, const cg_array *w,
                                  const cg_array *gy, const cg_array *xref,
                                  const cg_conv2d_geom *g, const char *const *labels,
                                  cg_pool *pool, char *err, int errlen);
CG_API int cg_dconv2d_grad_inputs(cg_array *out, void *dest, const cg_array *w,
                                  const cg_array *gy, const cg_array *xref,
                                  const cg_conv2d_geom *g, const char *const *labels,
                                  cg_pool *pool, char *err, int errlen);
CG_API int cg_sconv2d_grad_weights(cg_array *out, void *dest, const cg_array *x,
                                   const cg_array *gy, const cg_array *wref, int wndim,
                                   const cg_conv2d_geom *g, const char *const *labels,
                                   cg_pool *pool, char *err, int errlen);
CG_API int cg_dconv2d_grad_weights(cg_array *out, void *dest, const cg_array *x,
                                   const cg_array *gy, const cg_array *wref, int wndim,
                                   const cg_conv2d_geom *g, const char *const *labels,
                                   cg_pool *pool, char *err, int errlen);

/* --- 3-d convolutions (templates/ops/conv3d_driver.c.j2, float32 and float64) -----------
 * A Conv3d* node's geometry: subsample, dilation and explicit pads per spatial axis (depth,
 * rows, columns), num_groups, the border mode (CG_BORDER_*), flip; border_str as above. */
typedef struct {
    int64_t st[3], dil[3], groups;
    int border;
    int64_t pads[3];
    int flip;
    const char *border_str;
} cg_conv3d_geom;

/* The reference of a gradient given as the result's spatial sizes (a shape vector, called
 * shape_label): ref's shape becomes (lead0, lead1, the three sizes); CG_OK, or
 * CG_VALUE_ERROR with a message naming ``op`` in err. */
CG_API int cg_conv3d_reference(cg_array *ref, const cg_array *shape, int64_t lead0,
                               int64_t lead1, const char *op, const char *shape_label,
                               char *err, int errlen);
/* As the 2-d entries: out = conv3d(x (B, C, D, H, W), w (O, C/groups, KD, KH, KW));
 * cg_<p>conv3d_grad_inputs: out (xref's shape) from w and gy, labels (out, w, gy);
 * cg_<p>conv3d_grad_weights: out (wref's shape) from x and gy, labels (x, out, gy). */
CG_API int cg_sconv3d(cg_array *out, void *dest, const cg_array *x, const cg_array *w,
                      const cg_conv3d_geom *g, const char *x_label, const char *w_label,
                      cg_pool *pool, char *err, int errlen);
CG_API int cg_dconv3d(cg_array *out, void *dest, const cg_array *x, const cg_array *w,
                      const cg_conv3d_geom *g, const char *x_label, const char *w_label,
                      cg_pool *pool, char *err, int errlen);
CG_API int cg_sconv3d_grad_inputs(cg_array *out, void *dest, const cg_array *w,
                                  const cg_array *gy, const cg_array *xref,
                                  const cg_conv3d_geom *g, const char *const *labels,
                                  cg_pool *pool, char *err, int errlen);
CG_API int cg_dconv3d_grad_inputs(cg_array *out, void *dest, const cg_array *w,
                                  const cg_array *gy, const cg_array *xref,
                                  const cg_conv3d_geom *g, const char *const *labels,
                                  cg_pool *pool, char *err, int errlen);
CG_API int cg_sconv3d_grad_weights(cg_array *out, void *dest, const cg_array *x,
                                   const cg_array *gy, const cg_array *wref,
                                   const cg_conv3d_geom *g, const char *const *labels,
                                   cg_pool *pool, char *err, int errlen);
CG_API int cg_dconv3d_grad_weights(cg_array *out, void *dest, const cg_array *x,
                                   const cg_array *gy, const cg_array *wref,
                                   const cg_conv3d_geom *g, const char *const *labels,
                                   cg_pool *pool, char *err, int errlen);

/* --- pooling (templates/ops/pool_driver.c.j2) -------------------------------------------
 * Pool over the last nd (2 or 3) axes of x (rank ndim) with windows ws, strides st and
 * padding pad (nd values each, already checked), in mode CG_POOL_*; out (contiguous) gets its
 * buffer ``dest``, or from ``pool``. cg_<p>max_pool_grad_node: out (x's shape) from x, the
 * pooled maxima and their gradient gz; labels: the op, x, maxout, gz. Each returns CG_OK, or
 * an error status with its message in err (Ctrl-C names the op; shapes name the labels). */
enum { CG_POOL_MAX, CG_POOL_SUM, CG_POOL_AVERAGE_INC_PAD, CG_POOL_AVERAGE_EXC_PAD };

/* The sizes of a pooling on three pooled axes (two are run as three, the first of length 1:
 * one window of one position, stride 0 in cg_pooling_strides): the number of images, and per
 * axis the window, stride, padding, image length and number of windows (Theano's
 * Pool.out_shape). A module's integer pooling and pool gradients loop over them too. */
typedef struct {
    int64_t lead, ws[3], st[3], pad[3], in[3], out[3], in_size, out_size;
} cg_pooling_dims;

/* ws, st, pad (nd values each): those of ``dynamic`` (bits 1: ws, 2: stride, 4: pad) read
 * from the int64 vectors vws, vst, vpad, then all checked as Pool.geometry checks them (its
 * messages, naming x_label); CG_OK or CG_VALUE_ERROR with the message in err. */
CG_API int cg_pooling_geometry(int nd, int dynamic, const cg_array *vws, const cg_array *vst,
                               const cg_array *vpad, int ignore_border, const char *x_label,
                               int64_t *ws, int64_t *st, int64_t *pad, char *err, int errlen);
/* The sizes of pooling x (rank ndim) over its last nd axes. */
CG_API void cg_pooling_sizes(cg_pooling_dims *d, const cg_array *x, int ndim, int nd,
                             const int64_t *ws, const int64_t *st, const int64_t *pad,
                             int ignore_border);
/* The strides of ``v`` (rank ndim) along the three pooled axes. */
CG_API void cg_pooling_strides(const cg_array *v, int ndim, int nd, int64_t *s);
/* The element offset of image t in ``v`` (strided leading axes). */
CG_API int64_t cg_pooling_lead_offset(const cg_array *v, int ndim, int nd, int64_t t);
/* ``pooled`` (the forward output or a gradient of it, called ``what`` and ``label``) must
 * have the pooled shape of x; CG_OK or CG_VALUE_ERROR with the message in err. */
CG_API int cg_pooling_check(const cg_pooling_dims *d, const cg_array *x, int ndim, int nd,
                            const cg_array *pooled, const char *what, const char *label,
                            const char *x_label, char *err, int errlen);

/* The extent [*lo, *hi) inside an image of length ``in`` of window o (size ws, stride st,
 * padding pad): clipped to the padded image, then the padding cut off (max and sum never see
 * it; average_exc_pad does not count it); *inc is its length with the padding (what
 * average_inc_pad divides by). A module passes its geometry's literals, which gcc folds
 * (always inlined: modules build at -O1, whose inliner would leave a call per window). */
static inline __attribute__((always_inline)) void
cg_pooling_window_at(int64_t o, int64_t ws, int64_t st, int64_t pad, int64_t in, int64_t *lo,
                     int64_t *hi, int64_t *inc)
{
    int64_t l = o * st, h = l + ws;
    if (h > in + 2 * pad) h = in + 2 * pad;
    *inc = h - l;
    *lo = (l < pad ? pad : l) - pad;
    *hi = (h > in + pad ? in + pad : h) - pad;
}

/* cg_pooling_window_at along axis a of ``d``. */
static inline void cg_pooling_window(const cg_pooling_dims *d, int a, int64_t o, int64_t *lo,
                                     int64_t *hi, int64_t *inc)
{
    cg_pooling_window_at(o, d->ws[a], d->st[a], d->pad[a], d->in[a], lo, hi, inc);
}

CG_API int cg_spool_node(cg_array *out, void *dest, const cg_array *x, int ndim, int nd,
                         const int64_t *ws, const int64_t *st, const int64_t *pad,
                         int ignore_border, int mode, const char *op_label, cg_pool *pool,
                         char *err, int errlen);
CG_API int cg_dpool_node(cg_array *out, void *dest, const cg_array *x, int ndim, int nd,
                         const int64_t *ws, const int64_t *st, const int64_t *pad,
                         int ignore_border, int mode, const char *op_label, cg_pool *pool,
                         char *err, int errlen);
CG_API int cg_smax_pool_grad_node(cg_array *out, void *dest, const cg_array *x,
                                  const cg_array *maxout, const cg_array *gz, int ndim, int nd,
                                  const int64_t *ws, const int64_t *st, const int64_t *pad,
                                  int ignore_border, const char *const *labels, cg_pool *pool,
                                  char *err, int errlen);
CG_API int cg_dmax_pool_grad_node(cg_array *out, void *dest, const cg_array *x,
                                  const cg_array *maxout, const cg_array *gz, int ndim, int nd,
                                  const int64_t *ws, const int64_t *st, const int64_t *pad,
                                  int ignore_border, const char *const *labels, cg_pool *pool,
                                  char *err, int errlen);

/* --- reductions (templates/ops/reduce_float.c.j2) ------------------------------------
 *
 * One driver, cg_reduce, runs every Sum, Prod, Max, Min, All, Any, Mean, Var and Std node:
 * it sets the output's shape, fails on max/min of nothing, lays the inputs out, polls
 * Ctrl-C and writes the messages. The arithmetic is the node's fold functions
 * (templates/ops/reduce_kernel.c.j2, rendered in the module, or the runtime's own for plain
 * float folds): each folds the elements k0..k1 of the outputs o0..o1 into their
 * accumulators, starting them at the identity when k0 is 0, and returns 0 or the status of
 * a fused integer division's error. ``runs`` reads each output's elements as one
 * contiguous run (the reduced axes last); ``rows`` reads whole rows of the n outputs (the
 * reduced axes first, the input contiguous as it is). */
typedef struct {
    void *accs;              /* one accumulator per output */
    const void *const *p;    /* input k's elements: laid out for runs, as they are for rows */
    const double *means;     /* var/std's second pass: each output's mean */
    int64_t n, count;        /* outputs; elements folded into each */
} cg_fold_data;
typedef int (*cg_fold_fn)(const cg_fold_data *d, int64_t o0, int64_t o1, int64_t k0, int64_t k1);

typedef struct {
    cg_fold_fn runs, rows;          /* rows: NULL where the reduced axes are never the first */
    cg_fold_fn sq_runs, sq_rows;    /* var/std: the squared deviations from the means */
    /* the outputs from the accumulators (div: the elements folded minus ddof, at least 0);
     * NULL: the accumulators are the output */
    void (*finish)(void *out, const void *accs, int64_t n, double div);
    int64_t acc_size, out_size;
    const int64_t *in_sizes;        /* each input's element size */
    unsigned long long scalar_inputs;   /* bit k: input k is one element, never laid out */
    int nin, nd, keepdims, ddof;    /* the inputs broadcast together have rank nd */
    unsigned reduced;               /* bit d: axis d is folded */
    const char *empty;              /* max/min: what folding nothing is (the message), else NULL */
    const char *op, *label;         /* the node, and the value it folds, for messages */
    const char *const *names;       /* the inputs' labels, for a broadcast error */
} cg_reduce_plan;

/* The node of ``plan`` folding ``ins`` into ``out`` (its buffer ``dest`` or from ``pool``).
 * Returns CG_OK, or an error status with its message in err. */
CG_API int cg_reduce(cg_array *out, void *dest, const cg_reduce_plan *plan,
                     const cg_array *const *ins, cg_pool *pool, char *err, int errlen);

/* The message for a fold of no elements: "<op>: <what>: <label> has shape (..) and axes
 * (..) are reduced" (Reduce and ArgReduce; the Python reference writes the same). */
CG_API void cg_reduce_empty_message(char *err, int errlen, const char *op, const char *what,
                                    const char *label, const cg_array *x, int nd,
                                    unsigned reduced);

/* An ArgMax or ArgMin node (templates/ops/argreduce.c.j2): ``index`` (int64), and ``value``
 * unless NULL (x's type, element size isz), of the first extreme of x over the axes of
 * ``reduced``, flattened in C order. ``fold`` (the node's, from ops/argreduce_kernel.c.j2)
 * sets them for the outputs o0..o1, each a contiguous run of ``count`` elements at px.
 * Returns CG_OK, or an error status with its message in err (no elements: ``what``). */
typedef void (*cg_arg_fold)(int64_t *index, void *value, const void *px, int64_t o0,
                            int64_t o1, int64_t count);
CG_API int cg_argreduce(cg_array *index, void *index_dest, cg_array *value, void *value_dest,
                        const cg_array *x, int nd, unsigned reduced, int keepdims, int64_t isz,
                        cg_arg_fold fold, const char *what, const char *op, const char *label,
                        cg_pool *pool, char *err, int errlen);

/* A Sum, Mean, Prod, Max or Min node that folds a float array itself, or its squares (a Sum
 * fused with sqr), with the runtime's fold functions: cg_reduce with their plan. x has rank
 * nd, double when is_double, else float; out has x's type; the other arguments are the
 * plan's (``empty``: NULL but for max and min). */
enum { CG_REDUCE_SUM, CG_REDUCE_MEAN, CG_REDUCE_PROD, CG_REDUCE_MAX, CG_REDUCE_MIN,
       CG_REDUCE_SUM_SQUARES /* a Sum fused with sqr: x * x, each in x's type */ };
CG_API int cg_reduce_node(cg_array *out, void *dest, const cg_array *x, int nd, unsigned reduced,
                          int keepdims, int mode, const char *empty, int is_double,
                          const char *op, const char *label, cg_pool *pool, char *err, int errlen);

/* Folds run as SIMD reductions (lanes of partial sums, as numpy's unrolled pairwise sum)
 * where `#pragma omp simd` is honoured: -fopenmp, or -fopenmp-simd with vector math. */
#if defined(_OPENMP) || defined(CG_LIBMVEC)
#define CG_SIMD_FOLDS 1
#endif

/* An input of cg_run: ``a`` views the caller's contiguous array at ``data`` of ``shape``. */
static inline void cg_set_input(cg_array *a, int ndim, void *data, const int64_t *shape)
{
    a->data = data;
    for (int d = 0; d < ndim; d++) a->shape[d] = shape[d];
    cg_set_contiguous(a, ndim);
}

/* --- compact module code (modsize): an output handed over in one call ------------------ */
/* Output ``o`` handed over: written into an input's buffer ``own`` (not NULL: an in-place
 * update; *data = own), else as cg_take_output, then *taken = 1 (the caller frees it if the
 * call fails later). CG_MEMORY_ERROR when a copy finds no memory. */
CG_API int cg_hand_over(cg_pool *pool, const cg_array *o, int ndim, int64_t isz, void *own,
                        void **data, int64_t *shape, char *taken);

/* Element types, for runtime entries that take any: CG_DTYPE_OF(ctype) names one. */
enum { CG_DT_BOOL, CG_DT_INT8, CG_DT_UINT8, CG_DT_INT16, CG_DT_INT32, CG_DT_INT64,
       CG_DT_FLOAT32, CG_DT_FLOAT64 };
#define CG_DTYPE_OF(ctype) _Generic((ctype)0, bool: CG_DT_BOOL, int8_t: CG_DT_INT8,          \
                                    uint8_t: CG_DT_UINT8, int16_t: CG_DT_INT16,             \
                                    int32_t: CG_DT_INT32, int64_t: CG_DT_INT64,             \
                                    float: CG_DT_FLOAT32, double: CG_DT_FLOAT64)

/* SumToShape and SumToBroadcastShape nodes (templates/ops/sum_to_shape.c.j2): g (rank nd,
 * element type ``dtype``) summed over every axis where ``target`` has length 1 and g does
 * not, into ``out`` (its buffer ``dest``, or from ``pool``); ``out`` is g itself (a view)
 * when no axis is summed. A length of g that is neither the target's nor broadcast from 1
 * is a CG_VALUE_ERROR naming the op and ``label`` (the variable whose gradient g is). */
CG_API int cg_sum_to_shape(cg_array *out, void *dest, const cg_array *g, int nd,
                           const int64_t *target, int dtype, const char *op,
                           const char *label, cg_pool *pool, char *err, int errlen);

/* The message of a status an elementwise loop returned (CG_INTERRUPTED, CG_ZERO_DIVISION:
 * integer division by zero, any other: integers to negative integer powers), naming the
 * op: one text for elementwise nodes of any rank and for reductions. Returns status (CG_OK
 * writes nothing). */
CG_API int cg_loop_failure(char *err, int errlen, const char *op, int status);

/* An Elemwise node of rank nd >= 1 (templates/ops/elemwise.c.j2): ``out``'s shape is its
 * n inputs' broadcast together, its buffer ``dest`` (or from ``pool``), then cg_elemwise
 * runs ``loop`` (on threads(size) threads; NULL: one). labels: the op, then each input.
 * in_isz: the inputs' element sizes (NULL: all out_isz, as most nodes' are).
 * Returns CG_OK, or an error status with its message in err: shapes that do not broadcast,
 * or the status the loop returned (integer division by zero, negative integer powers). */
CG_API int cg_elemwise_node(cg_loop_fn loop, cg_array *out, void *dest, int nd, int64_t out_isz,
                            const cg_array *const *ins, const int64_t *in_isz, int n,
                            unsigned long long scalar_mask, int64_t tail, cg_threads_fn threads,
                            const char *const *labels, cg_pool *pool, char *err, int errlen);

/* A slice of an axis of ``len`` elements, normalised as Python's slice.indices does: start
 * and stop (given when has_start, has_stop; else the ends the step's sign implies) are
 * clamped, never an error; step is not 0 and not INT64_MIN. Returns the slice's length
 * and sets *first to its first index. */
CG_API int64_t cg_slice(int64_t len, int has_start, int64_t start, int has_stop, int64_t stop,
                        int64_t step, int64_t *first);

/* --- a basic view's slice in one call (modsize: was written out per axis) --------------- */
/* Axis d of the view ``dst`` as the slice (cg_slice's arguments) of axis a of ``src``:
 * its length and stride; returns the offset (elements) it adds to the view's data. */
CG_API int64_t cg_view_slice(cg_array *dst, int d, const cg_array *src, int a, int has_start,
                             int64_t start, int has_stop, int64_t stop, int64_t step);

/* --- compact module code (modsize2): an integer index, an integer range's length ------- */
/* Axis a of ``src`` indexed by the integer ``given`` (negative counts from the end): adds
 * its offset (elements) to *off and returns 0, or returns 1 when it is out of bounds. */
CG_API int cg_view_index(int64_t *off, const cg_array *src, int a, int64_t given);

/* The length of ARange(start, stop, step) in int64 (step != 0): distances in uint64, where
 * stop - start cannot overflow; a length beyond int64 comes back negative (CG_ALLOC then
 * reports the array too big). */
CG_API int64_t cg_arange_len_i64(int64_t start, int64_t stop, int64_t step);

/* A DimShuffle's view: ``dst`` (rank nd) over src's data, its axis k src's axis order[k],
 * or a new length-1 axis (stride 0) where order[k] is -1. */
static inline void cg_view_axes(cg_array *dst, const cg_array *src, int nd, const int *order)
{
    dst->data = src->data;
    for (int k = 0; k < nd; k++) {
        dst->shape[k] = order[k] < 0 ? 1 : src->shape[order[k]];
        dst->strides[k] = order[k] < 0 ? 0 : src->strides[order[k]];
    }
}

/* PhiloxRandom's samples (templates/ops/philox_fill.c.j2): po[0..n) standard uniforms or
 * normals from the Philox4x32-10 stream of ``key`` starting at block ``counter``; returns
 * the number of blocks used (the counter's advance), or -1 when Ctrl-C stopped it. */
CG_API int64_t cg_philox_uniform_f32(float *restrict po, int64_t n, uint64_t key, uint64_t counter);
CG_API int64_t cg_philox_uniform_f64(double *restrict po, int64_t n, uint64_t key, uint64_t counter);
CG_API int64_t cg_philox_normal_f32(float *restrict po, int64_t n, uint64_t key, uint64_t counter);
CG_API int64_t cg_philox_normal_f64(double *restrict po, int64_t n, uint64_t key, uint64_t counter);

/* A BinomialFromUniform node (templates/ops/random_binomial.c.j2): out (rank nd, element
 * type ``dtype``, its buffer ``dest`` or from ``pool``) counts, per sample i, the uniforms
 * u[i, j] (j < n[i]; u has one more axis, of m >= max(n) uniforms) below p[i]; n (int64)
 * and p (of u's type udtype: float32 for a float32 p, else float64) broadcast to the sample's
 * shape. labels: the op, n, p. Returns CG_OK, or
 * CG_VALUE_ERROR with its message in err (n < 0 or too large, p outside [0, 1] or NaN,
 * shapes that do not broadcast). */
CG_API int cg_binomial_counts(cg_array *out, void *dest, int nd, int dtype, int udtype,
                              const cg_array *u,
                              const cg_array *nn, const cg_array *pp,
                              const char *const *labels, cg_pool *pool, char *err, int errlen);

/* --- Softmax / LogSoftmax nodes (templates/ops/softmax.c.j2; modsize: were written out
 * per node) --------------------------------------------------------------------------- */
/* out (m rows of n, contiguous) = softmax, or with ``log`` log_softmax, of each row of x
 * (element strides s0, s1). Stable: exp of x - max(row), so no term exceeds 1; a NaN makes
 * its row NaN, as numpy's. Rows go in blocks of about 2048 elements (a long row in pieces)
 * and each block in passes: the row maxima; x - max into a scratch buffer, padded to whole
 * vectors; ``vexp`` over the buffer (the module's, compiled for its CPU with vector math);
 * the sums, in row order, in double, column by column so the rows' chains overlap; then
 * the division or the subtraction of log(sum). */
CG_API void cg_softmax_d(double *out, const double *x, int64_t m, int64_t n, int64_t s0,
                         int64_t s1, int log, void (*vexp)(double *, int64_t));
CG_API void cg_softmax_s(float *out, const float *x, int64_t m, int64_t n, int64_t s0,
                         int64_t s1, int log, void (*vexp)(float *, int64_t));

/* The broadcast shape (rank b) of advanced indexing's n index arrays (ranks nd[k] <= b)
 * into bshape; 0, with numpy's message naming ``op`` and ``indexed`` and every array's
 * shape in err, when they do not broadcast together (an IndexError). */
CG_API int cg_index_broadcast(int64_t *bshape, int b, const cg_array *const *arrays,
                              const int *nd, int n, const char *op, const char *indexed,
                              char *err, int errlen);

/* --- scan loops (templates/ops/scan_driver.c.j2) --------------------------------------
 * A Scan node's loop (the layout of its inputs and outputs: cgraph/scan_module/scan_op.py).
 * The module's block describes the loop (Scan.c_params: a cg_scan_loop) and calls cg_scan
 * with its step function, a static function of the module (templates/inner_function.c.j2's
 * calling convention). */
typedef int (*cg_scan_step)(const cg_array *in, cg_array *out, cg_pool *results,
                            int *fail_node, char *err, int errlen);
/* What a part of the loop is: a sequence, a recurrent state kept whole (full: its initial
 * rows then one row per step), as the steps' rows only (steps: the initial rows apart) or
 * as its last value (last: a ring of lag + 1 rows), an output not fed back (nit-sot). */
enum { CG_SCAN_SEQUENCE, CG_SCAN_FULL, CG_SCAN_STEPS, CG_SCAN_LAST, CG_SCAN_NIT_SOT };
typedef struct {
    int kind;               /* CG_SCAN_* */
    int ndim;               /* of the outer array (the time axis first) */
    int64_t isz;            /* bytes per element */
    int64_t lag;            /* a state's rows before step 0 (its farthest tap) */
    int n_taps;             /* a state's taps: back[k] steps back, k < n_taps */
    const int64_t *back;
    const char *message;    /* a sequence or state too short (a printf format, one %lld) */
    int seed;               /* a steps state: 1 + the sequence whose buffer it may take, its
                               rows written over (nothing reads them after the loop, and the
                               step reads row t only as the z its Gemm copies onto itself);
                               0: none */
} cg_scan_part;
/* The loop: parts[] holds the n_seqs sequences, the n_states states, the n_nits nit-sot
 * outputs, in that order; n_in and n_out count the step function's inputs and results.
 * cond_dtype: the CG_DT_* of a while loop's condition, -1 for a for loop. The messages:
 * n_steps negative (printf, one %lld) or 0 (text), the suffix of a step's error (printf,
 * one %lld: the step). */
typedef struct {
    int n_seqs, n_states, n_non_seqs, n_nits, n_in, n_out, cond_dtype;
    const cg_scan_part *parts;
    const char *negative_message, *zero_message, *step_suffix;
} cg_scan_loop;
/* Run the loop: ins are the node's inputs (n_steps, the sequences, the states' initial
 * values, the non-sequences), outs its outputs (each state, each nit-sot output, a while
 * loop's count of steps run); an output allocated here goes into dests[k] when not NULL (an
 * in-place update's buffer: CG_DEST_FOR). A Ctrl-C (cg_poll_hit) ends the loop between
 * steps. CG_OK, or an error status with its message in err. */
CG_API int cg_scan(const cg_scan_loop *loop, cg_array *const *ins, cg_array *const *outs,
                   void *const *dests, cg_scan_step step, cg_pool *pool, char *err, int errlen);

/* --- advanced indexing's loops (modsize: were written out per node) --------------------- */
enum { CG_ADV_READ, CG_ADV_SET, CG_ADV_INC };
/* The loops of AdvancedSubtensor / AdvancedIncSubtensor (templates/ops/advanced_subtensor.c.j2)
 * over the index arrays' broadcast shape bshape (rank b, from cg_index_broadcast), then
 * over the full axes of the indexed array ``a`` (rank nd; element type ``dtype``, CG_DT_*):
 * a's axis t is read from index array pattern[t] (-1: a full axis). The n index arrays
 * idx[k] have ranks ind[k] and types idt[k]. ``f``, rank fnd, is the other side, laid over
 * the region (rank r) right-aligned and broadcast: region axis p is dim layout[p] of bshape
 * (>= 0) or a's axis -layout[p] - 1. mode: CG_ADV_READ f[...] = a[...], CG_ADV_SET
 * a[...] = f[...], CG_ADV_INC a[...] += f[...] (repeated indices accumulate). labels: the
 * op, the indexed variable, and when writing y (f) and x. Errors, with numpy's message in
 * err: an index out of bounds (CG_INDEX_ERROR), a y that does not broadcast to the region
 * (CG_VALUE_ERROR). */
CG_API int cg_advanced_index(int mode, int dtype, const cg_array *a, int nd, const int *pattern,
                             const cg_array *f, int fnd, const int *layout, int r,
                             const cg_array *const *idx, const int *ind, const int *idt, int n,
                             const int64_t *bshape, int b, const char *const *labels,
                             char *err, int errlen);

/* BLAS through function pointers: the caller hands in the addresses of the BLAS routines once
 * at load time, so the module links against no library. gemm and gemv come from numpy's own
 * OpenBLAS when it can be found (the library numpy's matmul uses: the same kernels, and much
 * faster than scipy's bundled one on skinny products), else from scipy.linalg.cython_blas;
 * dot always from scipy. numpy's OpenBLAS has 64-bit integer arguments (ILP64): the ilp64
 * flag routes gemm and gemv through small wrappers that widen the sizes. */
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

static cg_sgemm_t cg_sgemm;
static cg_dgemm_t cg_dgemm;
static cg_sgemv_t cg_sgemv;
static cg_dgemv_t cg_dgemv;
static cg_sdot_t cg_sdot;
static cg_ddot_t cg_ddot;

/* the ILP64 routines behind the wrappers (same arguments with int64_t sizes) */
#define CG_BLAS64_GEMM(ct) \
    void (*)(const char *, const char *, const int64_t *, const int64_t *, const int64_t *, \
             const ct *, const ct *, const int64_t *, const ct *, const int64_t *, const ct *, \
             ct *, const int64_t *)
#define CG_BLAS64_GEMV(ct) \
    void (*)(const char *, const int64_t *, const int64_t *, const ct *, const ct *, \
             const int64_t *, const ct *, const int64_t *, const ct *, ct *, const int64_t *)
static void *cg_blas64_sgemm, *cg_blas64_dgemm, *cg_blas64_sgemv, *cg_blas64_dgemv;

#define CG_DEFINE_GEMM64(p, ct) \
static void cg_##p##gemm64(const char *ta, const char *tb, const int *m, const int *n, \
                           const int *k, const ct *alpha, const ct *a, const int *lda, \
                           const ct *b, const int *ldb, const ct *beta, ct *c, const int *ldc) \
{ \
    const int64_t m64 = *m, n64 = *n, k64 = *k, lda64 = *lda, ldb64 = *ldb, ldc64 = *ldc; \
    ((CG_BLAS64_GEMM(ct))cg_blas64_##p##gemm)(ta, tb, &m64, &n64, &k64, alpha, a, &lda64, b, \
                                              &ldb64, beta, c, &ldc64); \
}
#define CG_DEFINE_GEMV64(p, ct) \
static void cg_##p##gemv64(const char *t, const int *m, const int *n, const ct *alpha, \
                           const ct *a, const int *lda, const ct *x, const int *incx, \
                           const ct *beta, ct *y, const int *incy) \
{ \
    const int64_t m64 = *m, n64 = *n, lda64 = *lda, incx64 = *incx, incy64 = *incy; \
    ((CG_BLAS64_GEMV(ct))cg_blas64_##p##gemv)(t, &m64, &n64, alpha, a, &lda64, x, &incx64, \
                                              beta, y, &incy64); \
}
CG_DEFINE_GEMM64(s, float)
CG_DEFINE_GEMM64(d, double)
CG_DEFINE_GEMV64(s, float)
CG_DEFINE_GEMV64(d, double)

void cg_set_blas(void *sgemm, void *dgemm, void *sgemv, void *dgemv, void *sdot, void *ddot,
                 int ilp64)
{
    if (ilp64) {
        cg_blas64_sgemm = sgemm;
        cg_blas64_dgemm = dgemm;
        cg_blas64_sgemv = sgemv;
        cg_blas64_dgemv = dgemv;
        cg_sgemm = cg_sgemm64;
        cg_dgemm = cg_dgemm64;
        cg_sgemv = cg_sgemv64;
        cg_dgemv = cg_dgemv64;
    } else {
        cg_sgemm = (cg_sgemm_t)sgemm;
        cg_dgemm = (cg_dgemm_t)dgemm;
        cg_sgemv = (cg_sgemv_t)sgemv;
        cg_dgemv = (cg_dgemv_t)dgemv;
    }
    cg_sdot = (cg_sdot_t)sdot;
    cg_ddot = (cg_ddot_t)ddot;
}

/* Small matrix products without BLAS's per-call overhead (~1-2 us through numpy's OpenBLAS, as
 * much as a 16x64 by 64x64 product takes to compute): dot.c.j2 and gemm.c.j2 try
 * cg_<p>gemm_small first, and call BLAS when it declines (large products, measured break-even
 * near m*n*k = 64^3 on AVX-512, where OpenBLAS's blocking starts to win).
 *
 * cg_<p>gemm_kernel: C (m x n, row-major, contiguous) = alpha * A B + beta * C, where beta == 0
 * means C is not read (BLAS's rule: NaN in a fresh buffer stays out). A is read through any
 * strides; B's rows must be contiguous (column stride 1). Blocks of 8 rows by two vectors of
 * columns (V elements each) accumulate in 16 registers (gcc's vector extension: one 64-byte
 * register each with AVX-512, two or four narrower ones elsewhere): enough independent sums
 * to keep two FMA units busy (4 rows was 2.5x slower: latency-bound). The last m % 8 rows go
 * one at a time, the last n % (2 V) columns row by row. cg_<p>gemm_small declines products
 * narrower than 2 V columns (the kernel would run them row by row) and those whose B has
 * neither contiguous rows nor room to be packed. Each element sums in k order, not in BLAS's:
 * results differ from BLAS by rounding only. alpha == 0 still multiplies the sums, so NaN or
 * inf in A or B reaches C as in numpy. C never aliases A or B (it is a new array). */
#define CG_SG_FMA(ct, r)                                                                        \
    { const ct x = aq[(r) * sa0]; c##r##0 += x * b0; c##r##1 += x * b1; }
#define CG_SG_STORE(p, r)                                                                       \
    cg_##p##small_store(cr + (r) * n, c##r##0, alpha, beta);                                     \
    cg_##p##small_store(cr + (r) * n + V, c##r##1, alpha, beta);
#define CG_DEFINE_SMALL_GEMM(p, ct)                                                              \
typedef ct cg_##p##vec __attribute__((vector_size(64), aligned(sizeof(ct))));                    \
static inline void cg_##p##small_store(ct *restrict c, cg_##p##vec acc, ct alpha, ct beta)       \
{                                                                                                \
    acc *= alpha;                                                                                \
    if (beta != 0) acc += beta * *(const cg_##p##vec *)c;                                        \
    *(cg_##p##vec *)c = acc;                                                                     \
}                                                                                                \
static __attribute__((unused)) void cg_##p##gemm_kernel(                                         \
    int64_t m, int64_t n, int64_t k, ct alpha, const ct *restrict a, int64_t sa0, int64_t sa1,   \
    const ct *restrict b, int64_t sb0, ct beta, ct *restrict c)                                  \
{                                                                                                \
    enum { V = 64 / sizeof(ct) };                                                                \
    const int64_t nw = n - n % (2 * V), m8 = m - m % 8;                                          \
    for (int64_t j0 = 0; j0 < nw; j0 += 2 * V) {                                                 \
        const ct *bj = b + j0;                                                                   \
        for (int64_t i0 = 0; i0 < m8; i0 += 8) {                                                 \
            cg_##p##vec c00 = {0}, c01 = {0}, c10 = {0}, c11 = {0};                              \
            cg_##p##vec c20 = {0}, c21 = {0}, c30 = {0}, c31 = {0};                              \
            cg_##p##vec c40 = {0}, c41 = {0}, c50 = {0}, c51 = {0};                              \
            cg_##p##vec c60 = {0}, c61 = {0}, c70 = {0}, c71 = {0};                              \
            for (int64_t q = 0; q < k; q++) {                                                    \
                const cg_##p##vec b0 = *(const cg_##p##vec *)(bj + q * sb0);                     \
                const cg_##p##vec b1 = *(const cg_##p##vec *)(bj + q * sb0 + V);                 \
                const ct *aq = a + i0 * sa0 + q * sa1;                                           \
                CG_SG_FMA(ct, 0) CG_SG_FMA(ct, 1) CG_SG_FMA(ct, 2) CG_SG_FMA(ct, 3)             \
                CG_SG_FMA(ct, 4) CG_SG_FMA(ct, 5) CG_SG_FMA(ct, 6) CG_SG_FMA(ct, 7)             \
            }                                                                                    \
            ct *cr = c + i0 * n + j0;                                                            \
            CG_SG_STORE(p, 0) CG_SG_STORE(p, 1) CG_SG_STORE(p, 2) CG_SG_STORE(p, 3)             \
            CG_SG_STORE(p, 4) CG_SG_STORE(p, 5) CG_SG_STORE(p, 6) CG_SG_STORE(p, 7)             \
        }                                                                                        \
        for (int64_t i = m8; i < m; i++) {                                                       \
            const ct *ai = a + i * sa0;                                                          \
            cg_##p##vec c0 = {0}, c1 = {0};                                                      \
            for (int64_t q = 0; q < k; q++) {                                                    \
                c0 += ai[q * sa1] * *(const cg_##p##vec *)(bj + q * sb0);                        \
                c1 += ai[q * sa1] * *(const cg_##p##vec *)(bj + q * sb0 + V);                    \
            }                                                                                    \
            cg_##p##small_store(c + i * n + j0, c0, alpha, beta);                                \
            cg_##p##small_store(c + i * n + j0 + V, c1, alpha, beta);                            \
        }                                                                                        \
    }                                                                                            \
    if (nw == n) return;                                                                         \
    /* the last columns, fewer than 2 V: row by row, the j loop vectorised */                    \
    const int64_t nt = n - nw;                                                                   \
    for (int64_t i = 0; i < m; i++) {                                                            \
        const ct *ai = a + i * sa0;                                                              \
        ct cg_sum[2 * V] = {0};                                                                  \
        for (int64_t q = 0; q < k; q++) {                                                        \
            const ct x = ai[q * sa1];                                                            \
            const ct *bq = b + q * sb0 + nw;                                                     \
            for (int64_t j = 0; j < nt; j++) cg_sum[j] += x * bq[j];                             \
        }                                                                                        \
        ct *cr = c + i * n + nw;                                                                 \
        for (int64_t j = 0; j < nt; j++)                                                         \
            cr[j] = beta != 0 ? alpha * cg_sum[j] + beta * cr[j] : alpha * cg_sum[j];            \
    }                                                                                            \
}

/* m*n*k at most for the inline kernel, measured against numpy's OpenBLAS (double, one
 * thread: 16x64x64 1.7 vs 3.8 us, 64^3 5.2 vs 10.6, 128^3 40 vs 78, but 100^3 45 vs 36: its
 * last 4 columns go row by row); fewer when n leaves columns past the last whole block. B
 * packed (transposed views) up to CG_SMALL_GEMM_PACK_MAX elements, on the stack. */
#define CG_SMALL_GEMM_MAX (128 * 128 * 128)
#define CG_SMALL_GEMM_TAIL_MAX (64 * 64 * 64)
#define CG_SMALL_GEMM_PACK_MAX 4096
#define CG_DEFINE_GEMM_SMALL(p, ct)                                                              \
static __attribute__((unused)) int cg_##p##gemm_small(                                          \
    int64_t m, int64_t n, int64_t k, ct alpha, const ct *a, int64_t sa0, int64_t sa1,            \
    const ct *b, int64_t sb0, int64_t sb1, ct beta, ct *c)                                       \
{                                                                                                \
    if (m > CG_SMALL_GEMM_MAX || n > CG_SMALL_GEMM_MAX || k > CG_SMALL_GEMM_MAX ||               \
        m * n > CG_SMALL_GEMM_MAX)                                                               \
        return 0;                                                                                \
    const int64_t cg_block = 2 * (64 / (int64_t)sizeof(ct));   /* columns of one block */         \
    if (n < cg_block) return 0;                                                                  \
    if (m * n * k > (n % cg_block == 0 ? CG_SMALL_GEMM_MAX : CG_SMALL_GEMM_TAIL_MAX)) return 0;  \
    if (sb1 == 1) {                                                                              \
        cg_##p##gemm_kernel(m, n, k, alpha, a, sa0, sa1, b, sb0, beta, c);                       \
        return 1;                                                                                \
    }                                                                                            \
    if (k * n > CG_SMALL_GEMM_PACK_MAX) return 0;                                                \
    ct cg_packed[CG_SMALL_GEMM_PACK_MAX];                                                        \
    for (int64_t q = 0; q < k; q++)                                                              \
        for (int64_t j = 0; j < n; j++) cg_packed[q * n + j] = b[q * sb0 + j * sb1];             \
    cg_##p##gemm_kernel(m, n, k, alpha, a, sa0, sa1, cg_packed, n, beta, c);                     \
    return 1;                                                                                    \
}
CG_DEFINE_SMALL_GEMM(s, float)
CG_DEFINE_SMALL_GEMM(d, double)
CG_DEFINE_GEMM_SMALL(s, float)
CG_DEFINE_GEMM_SMALL(d, double)

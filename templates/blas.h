/* BLAS through function pointers: the caller hands in the addresses of the BLAS routines once
 * at load time, so the module links against no library. gemm and gemv come from numpy's own
 * OpenBLAS when it can be found (the library numpy's matmul uses: the same kernels, and much
 * faster than scipy's bundled one on skinny products), else from scipy's BLAS; dot from the
 * same library. numpy's OpenBLAS has 64-bit integer arguments (ILP64): the ilp64 flag routes
 * every call through small wrappers that widen the sizes. */
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
/* dot products from the ILP64 library through its CBLAS entry points, which return the
 * result as a C float/double (the Fortran sdot's return convention varies between builds) */
static void *cg_blas64_sdot, *cg_blas64_ddot;
#define CG_DEFINE_DOT64(p, ct) \
static ct cg_##p##dot64(const int *n, const ct *x, const int *incx, const ct *y, \
                        const int *incy) \
{ \
    return ((ct (*)(int64_t, const ct *, int64_t, const ct *, int64_t))cg_blas64_##p##dot)( \
        *n, x, *incx, y, *incy); \
}
CG_DEFINE_DOT64(s, float)
CG_DEFINE_DOT64(d, double)
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
        cg_blas64_sdot = sdot;
        cg_blas64_ddot = ddot;
        cg_sdot = cg_sdot64;
        cg_ddot = cg_ddot64;
    } else {
        cg_sgemm = (cg_sgemm_t)sgemm;
        cg_dgemm = (cg_dgemm_t)dgemm;
        cg_sgemv = (cg_sgemv_t)sgemv;
        cg_dgemv = (cg_dgemv_t)dgemv;
        cg_sdot = (cg_sdot_t)sdot;
        cg_ddot = (cg_ddot_t)ddot;
    }
}

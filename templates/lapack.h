{#- LAPACK: the loader asks every module, with NULL, whether it calls LAPACK (1: it has a
    linear algebra node), and only then hands the routines in. -#}
{% if not uses_lapack %}
CG_NO_LAPACK   /* cg_set_lapack: no LAPACK here (the loader asks) */
{% else %}
/* LAPACK through function pointers, handed in when the module is loaded (cache._load), from the
 * same library: numpy's own OpenBLAS (64-bit integers, ILP64) when it is found, else
 * scipy's (32-bit integers). Arrays are column-major; the templates copy into scratch
 * first, since LAPACK overwrites its operands. Character arguments are followed by their
 * hidden Fortran lengths (1), which gfortran-built LAPACK may read. */
enum { CG_SGESV, CG_DGESV, CG_SGETRF, CG_DGETRF, CG_SPOTRF, CG_DPOTRF, CG_STRTRS, CG_DTRTRS,
       CG_LAPACK_N };
static void *cg_lapack[CG_LAPACK_N];
static int cg_lapack_ilp64;

int cg_set_lapack(void **routines, int n, int ilp64)
{
    if (!routines) return 1;
    for (int k = 0; k < n && k < CG_LAPACK_N; k++) cg_lapack[k] = routines[k];
    cg_lapack_ilp64 = ilp64;
    return 1;
}

/* Solve A X = B: A (n x n) is overwritten by its LU factors, B (n x nrhs) by X; ipiv holds n
 * int64_t of scratch. Returns LAPACK's info (> 0: A is singular). */
static int64_t cg_lapack_gesv(int is_double, int64_t n, int64_t nrhs, void *a, void *b,
                              int64_t *ipiv)
{
    const int routine = is_double ? CG_DGESV : CG_SGESV;
    const int64_t ld = n > 1 ? n : 1;
    if (cg_lapack_ilp64) {
        int64_t info = 0;
        ((void (*)(const int64_t *, const int64_t *, void *, const int64_t *, int64_t *, void *,
                   const int64_t *, int64_t *))cg_lapack[routine])(&n, &nrhs, a, &ld, ipiv, b,
                                                                   &ld, &info);
        return info;
    }
    int n32 = (int)n, nrhs32 = (int)nrhs, ld32 = (int)ld, info = 0;
    ((void (*)(const int *, const int *, void *, const int *, int *, void *, const int *,
               int *))cg_lapack[routine])(&n32, &nrhs32, a, &ld32, (int *)ipiv, b, &ld32, &info);
    return info;
}

/* LU factors of A (n x n) in place; returns info (> 0: a zero pivot). *swaps gets the
 * number of row interchanges (the determinant's sign). ipiv: n int64_t of scratch. */
static int64_t cg_lapack_getrf(int is_double, int64_t n, void *a, int64_t *ipiv, int64_t *swaps)
{
    const int routine = is_double ? CG_DGETRF : CG_SGETRF;
    const int64_t ld = n > 1 ? n : 1;
    *swaps = 0;
    if (cg_lapack_ilp64) {
        int64_t info = 0;
        ((void (*)(const int64_t *, const int64_t *, void *, const int64_t *, int64_t *,
                   int64_t *))cg_lapack[routine])(&n, &n, a, &ld, ipiv, &info);
        for (int64_t k = 0; k < n; k++) *swaps += ipiv[k] != k + 1;
        return info;
    }
    int n32 = (int)n, ld32 = (int)ld, info = 0;
    int *ipiv32 = (int *)ipiv;
    ((void (*)(const int *, const int *, void *, const int *, int *, int *))cg_lapack[routine])(
        &n32, &n32, a, &ld32, ipiv32, &info);
    for (int64_t k = 0; k < n; k++) *swaps += ipiv32[k] != k + 1;
    return info;
}

/* Cholesky factor of A (n x n) in place, in the triangle `uplo` ('L' or 'U'); the other
 * triangle is left as it was. Returns info (> 0: not positive definite). */
static int64_t cg_lapack_potrf(int is_double, char uplo, int64_t n, void *a)
{
    const int routine = is_double ? CG_DPOTRF : CG_SPOTRF;
    const int64_t ld = n > 1 ? n : 1;
    if (cg_lapack_ilp64) {
        int64_t info = 0;
        ((void (*)(const char *, const int64_t *, void *, const int64_t *, int64_t *,
                   size_t))cg_lapack[routine])(&uplo, &n, a, &ld, &info, (size_t)1);
        return info;
    }
    int n32 = (int)n, ld32 = (int)ld, info = 0;
    ((void (*)(const char *, const int *, void *, const int *, int *, size_t))cg_lapack[routine])(
        &uplo, &n32, a, &ld32, &info, (size_t)1);
    return info;
}

/* Solve T X = B for triangular T (n x n, triangle `uplo`); B (n x nrhs) is overwritten by X.
 * Returns info (> 0: a zero on the diagonal). */
static int64_t cg_lapack_trtrs(int is_double, char uplo, int64_t n, int64_t nrhs, const void *t,
                               void *b)
{
    const int routine = is_double ? CG_DTRTRS : CG_STRTRS;
    const int64_t ld = n > 1 ? n : 1;
    const char trans = 'N', diag = 'N';
    if (cg_lapack_ilp64) {
        int64_t info = 0;
        ((void (*)(const char *, const char *, const char *, const int64_t *, const int64_t *,
                   const void *, const int64_t *, void *, const int64_t *, int64_t *, size_t,
                   size_t, size_t))cg_lapack[routine])(&uplo, &trans, &diag, &n, &nrhs, t, &ld, b,
                                                       &ld, &info, (size_t)1, (size_t)1,
                                                       (size_t)1);
        return info;
    }
    int n32 = (int)n, nrhs32 = (int)nrhs, ld32 = (int)ld, info = 0;
    ((void (*)(const char *, const char *, const char *, const int *, const int *, const void *,
               const int *, void *, const int *, int *, size_t, size_t,
               size_t))cg_lapack[routine])(&uplo, &trans, &diag, &n32, &nrhs32, t, &ld32, b, &ld32,
                                           &info, (size_t)1, (size_t)1, (size_t)1);
    return info;
}
{% endif %}

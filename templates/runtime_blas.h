/* The runtime library's BLAS (included by templates/runtime.c.j2 only, after runtime.h):
 * graph modules reach BLAS through whole-node entries (cg_<p>dot_node, cg_<p>gemm_node in
 * runtime.h), so their source does not carry these declarations. */
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

/* Small matrix products without BLAS's per-call overhead (templates/ops/small_gemm.c.j2):
 * C (m x n, contiguous) = alpha * A B + beta * C (beta == 0: C is not read), A and B through
 * their strides; 0 when the product is too large for them (then the caller calls BLAS). */
CG_API int cg_sgemm_small(int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                          int64_t sa0, int64_t sa1, const float *b, int64_t sb0, int64_t sb1,
                          float beta, float *c);
CG_API int cg_dgemm_small(int64_t m, int64_t n, int64_t k, double alpha, const double *a,
                          int64_t sa0, int64_t sa1, const double *b, int64_t sb0, int64_t sb1,
                          double beta, double *c);

/* dst (m x n, row-major, contiguous) = alpha * A B + beta * dst (beta == 0: dst is not
 * read), A (m x k) through strides (sa0, sa1) (a vector when !a_is_matrix: m == 1), B
 * (k x n) through (sb0, sb1) (a vector: n == 1); small matrix products skip BLAS, operands
 * BLAS cannot read as they are are copied into buffers of ``pool``. Returns CG_OK, or an
 * error status with its message in err (sizes beyond BLAS's int name a_label and b_label).
 * templates/ops/blas_product.c.j2. */
CG_API int cg_sgemm_product(int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                            int64_t sa0, int64_t sa1, int a_is_matrix, const float *b,
                            int64_t sb0, int64_t sb1, int b_is_matrix, float beta, float *dst,
                            cg_pool *pool, const char *a_label, const char *b_label,
                            char *err, int errlen);
CG_API int cg_dgemm_product(int64_t m, int64_t n, int64_t k, double alpha, const double *a,
                            int64_t sa0, int64_t sa1, int a_is_matrix, const double *b,
                            int64_t sb0, int64_t sb1, int b_is_matrix, double beta,
                            double *dst, cg_pool *pool, const char *a_label,
                            const char *b_label, char *err, int errlen);

/* BLAS through function pointers: the caller hands in the addresses of scipy's BLAS routines
 * (scipy.linalg.cython_blas) once at load time, so the module links against no library. */
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

void cg_set_blas(void *sgemm, void *dgemm, void *sgemv, void *dgemv, void *sdot, void *ddot)
{
    cg_sgemm = (cg_sgemm_t)sgemm;
    cg_dgemm = (cg_dgemm_t)dgemm;
    cg_sgemv = (cg_sgemv_t)sgemv;
    cg_dgemv = (cg_dgemv_t)dgemv;
    cg_sdot = (cg_sdot_t)sdot;
    cg_ddot = (cg_ddot_t)ddot;
}

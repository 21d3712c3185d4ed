/* The runtime library's internals: declarations only its own units (templates/runtime.c.j2
 * and the ops templates it includes) use, or that Python calls through ctypes. Graph modules do
 * not include this file: they include runtime.h (by name, as cgraph_runtime.h), which holds
 * what their code calls; keeping the rest here keeps what gcc reads per module smaller.
 * Each section below carries the heading of the runtime.h section it came from. */

/* --- buffers ------------------------------------------------------------------------- */
/* How many buffers this module obtained from the system allocator (all modules of the process: tests count them). */
CG_API int64_t cg_allocation_count(void);

/* Free the calling thread's spare buffers and the stash of big freed outputs (they are
 * rebuilt by the next calls). */
CG_API void cg_release_workspace(void);

/* What the caller frees its outputs with: a big buffer goes to the stash (reused by the
 * next call of any thread), one small block (64 bytes: x + 1 on one element) is kept for the
 * calling thread's next small output, the others go to the system. */
CG_API void cg_free(void *p);

/* Take ``p`` out of the pool if it is a whole pool buffer of ``nbytes``; 1 on success. */
CG_API int cg_pool_take(cg_pool *pool, void *p, int64_t nbytes);

/* Whether the bytes [p, p + n) and [q, q + m) overlap. */
static inline int cg_bytes_overlap(const void *p, int64_t n, const void *q, int64_t m)
{
    return (const char *)p < (const char *)q + m && (const char *)q < (const char *)p + n;
}

/* Scratch for the product kernels' packed panels and sums, on 64-byte cache lines (free()
 * releases it). From malloc (16 bytes, the rest set by whatever the heap held before) three
 * of four placements split every vector load of a panel over two lines: W2's float32 x W
 * took about 200 us instead of 125, the step 300-340 us instead of 220-235, in whichever
 * processes the heap put it there. */
static inline void *cg_line_alloc(size_t bytes)
{
    return aligned_alloc(64, (bytes + 63) / 64 * 64);
}

/* The bytes an array can touch: [*lo, *hi), from its shape and strides (any sign). */
CG_API void cg_byte_range(const cg_array *a, int ndim, int64_t isz, const char **lo,
                          const char **hi);

/* --- nan_guard ------------------------------------------------------------------------ */
static inline int cg_nonfinite_kind(double v)
{
    return isnan(v) ? CG_FOUND_NAN : isinf(v) ? (v > 0 ? CG_FOUND_POS_INF : CG_FOUND_NEG_INF)
                                              : CG_ALL_FINITE;
}

/* --- error reporting ----------------------------------------------------------------- */
/* The same as a function, for the runtime's node entries: ``a``'s buffer (its shape set,
 * made contiguous) is ``dest`` when not NULL, else from ``pool``; an error status with its
 * message in err when the size is absurd or memory is out. */
CG_API int cg_alloc_array(cg_array *a, int ndim, int64_t isz, void *dest, cg_pool *pool,
                          char *err, int errlen);

/* Whether two arrays can touch a common byte (their extents, from shapes and strides). */
CG_API int cg_arrays_overlap(const cg_array *a, int andim, size_t aisz,
                             const cg_array *b, int bndim, size_t bisz);

/* --- compact module code (modsize): one call where the module had one line per pair ---- */
/* Whether BLAS reads ``x`` (a vector, or a matrix) without a copy into a temporary: the
 * layouts blas_operands.c.j2 hands over directly. */
CG_API int cg_blas_direct(const cg_array *x, int xnd);

/* --- compact module code (modsize2): the in-place check's per-candidate conditions ----- */
/* The message for operands whose shapes cannot be broadcast together. */
CG_API void cg_broadcast_message(char *err, int errlen, const char *op, int n,
                                 const char *const *names, const cg_array *const *arrays,
                                 int ndim);

/* --- the runtime's threads (templates/runtime.c.j2) ----------------------------------- */
/* body(piece, thread, ctx) for every piece in [0, pieces), on up to nthreads threads
 * (``thread``: 0 the caller, 1.. the workers), pieces handed out in order as threads come;
 * returns when every piece is done. */
typedef void (*cg_piece_fn)(int64_t piece, int thread, void *ctx);
void cg_parallel_for(int64_t pieces, int nthreads, cg_piece_fn body, void *ctx);
/* The same where one piece function runs jobs of different costs (the elementwise loops'
 * blocks, whatever their loop): ``key`` (their loop function) makes each a site of its own
 * for the choice below. */
void cg_parallel_for_site(int64_t pieces, int nthreads, cg_piece_fn body, void *ctx,
                          uintptr_t key);
/* Whether a site's next job splits (1) or runs alone (0), from its times per piece alone and
 * split (0: not timed yet), its job count and its probe interval (runtime.c.j2 says how).
 * cg_set_pool_choice(0): every job split (the tests, which compare the bits of split and
 * whole jobs); returns the previous setting. */
CG_API int cg_pool_choose(int64_t alone_ns, int64_t split_ns, uint32_t jobs, uint32_t probe);
CG_API int cg_set_pool_choice(int on);
/* the tests' hooks: the pool's job generation, and setting it (0: a job is running) */
CG_API uint64_t cg_pool_generation(void);
CG_API int cg_pool_set_generation(uint64_t gen);
/* C = beta C + alpha A B in one pass over C for a small k (ops/update_gemm.c.j2), with the
 * sum of C's squares before it into *squares when not NULL: 1, or 0 when declined */
extern int cg_gemm_update_on __attribute__((visibility("hidden")));   /* cg_set_gemm_update */
CG_API int cg_set_gemm_update(int on);
int cg_sgemm_update(int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t sa0,
                    int64_t sa1, const float *b, int64_t sb0, float beta, float *c,
                    int64_t ldc, double *squares, int nthreads);
int cg_dgemm_update(int64_t m, int64_t n, int64_t k, double alpha, const double *a,
                    int64_t sa0, int64_t sa1, const double *b, int64_t sb0, double beta,
                    double *c, int64_t ldc, double *squares, int nthreads);
/* the tests' hook: the n-th pool allocation from now fails (0: none) */
CG_API void cg_fail_pool_alloc_after(int n);
/* A site's smoothed time per piece after a job's sample (outliers clipped). */
CG_API int64_t cg_pool_smooth(int64_t per_piece, int64_t sample);
/* Site i's record (0: none): piece function, key, pieces, ns per piece alone and split,
 * jobs, split jobs, probe interval. */
CG_API int cg_pool_site_stats(int i, void **body, uintptr_t *key, int64_t *pieces,
                              int64_t *alone_ns, int64_t *split_ns, uint32_t *jobs,
                              uint32_t *splits, uint32_t *probe);
/* the tests' hooks: a job of ``pieces`` pieces under ``key`` (each piece writes its index
 * into out[piece]), and the first slot of the set its site lands in */
CG_API void cg_pool_test_job(int64_t pieces, int nthreads, uintptr_t key, int64_t *out);
CG_API int cg_pool_test_site_set(int64_t pieces, uintptr_t key);

/* --- BLAS -------------------------------------------------------------------------- */
/* dst (m x n, row-major, contiguous) = alpha * A B + beta * dst (beta == 0: dst is not
 * read), A (m x k) through strides (sa0, sa1) (a vector when !a_is_matrix: m == 1), B
 * (k x n) through (sb0, sb1) (a vector: n == 1); small matrix products skip BLAS, operands
 * BLAS cannot read as they are are copied into buffers of ``pool``; cgraph's kernels run on
 * up to nthreads threads (BLAS on its own). Returns CG_OK, or an error status with its
 * message in err (sizes beyond BLAS's int name a_label and b_label).
 * templates/ops/blas_product.c.j2. */
CG_API int cg_sgemm_product(int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                            int64_t sa0, int64_t sa1, int a_is_matrix, const float *b,
                            int64_t sb0, int64_t sb1, int b_is_matrix, float beta, float *dst,
                            int nthreads, cg_pool *pool, const char *a_label,
                            const char *b_label, char *err, int errlen);
CG_API int cg_dgemm_product(int64_t m, int64_t n, int64_t k, double alpha, const double *a,
                            int64_t sa0, int64_t sa1, int a_is_matrix, const double *b,
                            int64_t sb0, int64_t sb1, int b_is_matrix, double beta,
                            double *dst, int nthreads, cg_pool *pool, const char *a_label,
                            const char *b_label, char *err, int errlen);

/* --- the inputs of reductions, laid out (templates/ops/reduce_float.c.j2) ------------ */
/* The inputs of a reduction (cg_reduce, cg_argreduce below) laid out for its fold over
 * contiguous runs: each non-NULL ins[k] (element size isz[k]) broadcast to x's shape (rank
 * nd) and copied into a buffer of ``pool`` with the kept axes first and the reduced ones
 * (bit d of ``reduced``: axis d) last, in C order; laid[k] receives it. Returns CG_OK, or
 * CG_MEMORY_ERROR with its message in err. */
CG_API int cg_reduce_layout(const cg_array *x, int nd, unsigned reduced,
                            const cg_array *const *ins, const int64_t *isz, int n,
                            const void **laid, cg_pool *pool, char *err, int errlen);

/* --- outputs handed to the caller -------------------------------------------------- */
/* Hand the output ``o`` to the caller: *data is its own pool buffer when it is a whole
 * contiguous one (taken out of ``pool``), else a contiguous copy (cg_output_alloc); its
 * lengths go to shape[0..ndim). CG_MEMORY_ERROR when the copy finds no memory. */
CG_API int cg_take_output(cg_pool *pool, const cg_array *o, int ndim, int64_t isz,
                          void **data, int64_t *shape);

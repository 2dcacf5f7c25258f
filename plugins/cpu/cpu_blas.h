/* CPU backend — helpers shared by matmul, convolution and attention: fast exact widening of weight and
 * activation dtypes to f32, and running oneDNN with the backend's thread count.
 *
 * The widening loops are branch-free bit manipulation so that gcc vectorises them: converting a 2048×8192
 * bf16/f16/f8 weight per call must cost a few milliseconds, not the ~100 ms of a per-element switch. */
#ifndef DIO_CPU_BLAS_H
#define DIO_CPU_BLAS_H

#include <stdint.h>

#include "cpu_internal.h"

/* Converts n contiguous elements of f32, f16, bf16, f8e4m3 or f8e5m2 to f32, exactly (every value of
 * these formats is an f32 value; NaN stays NaN). Other dtypes go through cpu_convert_to_f32. */
void cpu_blas_to_f32(float *dst, const void *src, int32_t dtype, int64_t n);

/* oneDNN reads the calling thread's OpenMP thread count (omp_get_max_threads) when it creates and runs
 * primitives and sgemm. begin sets it to be->n_threads and returns the previous value, which end
 * restores, so an op honours the backend's "threads" option without changing the caller's setting. */
int cpu_blas_threads_begin(const cpu_backend *be);
void cpu_blas_threads_end(int saved);

/* Row-major C = alpha·op(A)·op(B) + beta·C through dnnl_sgemm (ta/tb: 'N' or 'T'), run with the
 * thread count in effect (wrap in threads_begin/end). M, N or K of 0 is handled here (K = 0 scales
 * C by beta, beta == 0 never reads C). A oneDNN failure becomes DIO_ERR_BACKEND_FAILURE naming `op`. */
dio_status cpu_blas_sgemm(const cpu_backend *be, const char *op, char ta, char tb, int64_t M, int64_t N,
                          int64_t K, float alpha, const float *A, int64_t lda, const float *B, int64_t ldb,
                          float beta, float *C, int64_t ldc);

#endif

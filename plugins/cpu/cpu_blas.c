/* CPU backend — shared helpers of the oneDNN-backed ops: dtype widening and sgemm with the backend's
 * thread count. See cpu_blas.h for the contract.
 *
 * The converters avoid denormal arithmetic on purpose (subnormal halves are built with an exact int→float
 * conversion, not the usual "multiply by 2^112" trick), so they stay exact under FTZ/DAZ modes a host
 * application may have set. */
#include <string.h>

#include <omp.h>
#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>

#include "cpu_blas.h"

static inline float blas_bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline uint32_t blas_f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* Selects are written as masks (not ?:) so that gcc if-converts and vectorises the loops below. */
static inline uint32_t blas_mask(int cond)
{
    return (uint32_t)0 - (uint32_t)(cond != 0);
}

/* IEEE half → f32: normals re-biased (15 → 127), inf/NaN to exponent 255, subnormals m·2^-24. */
static inline float blas_f16(uint32_t h)
{
    const uint32_t sign = (h & 0x8000u) << 16;
    const uint32_t em = h & 0x7fffu;
    const uint32_t nb = (em << 13) + (112u << 23) + (blas_mask(em >= 0x7c00u) & (112u << 23));
    const uint32_t sb = blas_f32_bits((float)(int32_t)em * 0x1p-24f);
    const uint32_t sub = blas_mask(em < 0x400u);
    return blas_bits_f32(((sb & sub) | (nb & ~sub)) | sign);
}

/* OCP e4m3fn → f32: bias 7, no infinities, S.1111.111 is NaN, subnormals m·2^-9. */
static inline float blas_e4m3(uint32_t v)
{
    const uint32_t sign = (v & 0x80u) << 24;
    const uint32_t em = v & 0x7fu;
    const uint32_t nb = (em << 20) + (120u << 23);
    const uint32_t sb = blas_f32_bits((float)(int32_t)em * 0x1p-9f);
    const uint32_t sub = blas_mask(em < 8u), nan = blas_mask(em == 0x7fu);
    const uint32_t r = (sb & sub) | (nb & ~sub);
    return blas_bits_f32(((0x7fc00000u & nan) | (r & ~nan)) | sign);
}

void cpu_blas_to_f32(float *restrict dst, const void *restrict src, int32_t dtype, int64_t n)
{
    switch (dtype) {
    case DIO_DTYPE_F32: memcpy(dst, src, (size_t)n * sizeof(float)); return;
    case DIO_DTYPE_BF16: {
        const uint16_t *s = src;
        for (int64_t i = 0; i < n; i++) dst[i] = blas_bits_f32((uint32_t)s[i] << 16);
        return;
    }
    case DIO_DTYPE_F16: {
        const uint16_t *s = src;
        for (int64_t i = 0; i < n; i++) dst[i] = blas_f16(s[i]);
        return;
    }
    case DIO_DTYPE_F8E5M2: { /* e5m2 is the top byte of an IEEE half */
        const uint8_t *s = src;
        for (int64_t i = 0; i < n; i++) dst[i] = blas_f16((uint32_t)s[i] << 8);
        return;
    }
    case DIO_DTYPE_F8E4M3: {
        const uint8_t *s = src;
        for (int64_t i = 0; i < n; i++) dst[i] = blas_e4m3(s[i]);
        return;
    }
    default: cpu_convert_to_f32(dst, src, dtype, n); return;
    }
}

int cpu_blas_threads_begin(const cpu_backend *be)
{
    int saved = omp_get_max_threads();
    if (be->n_threads > 0 && be->n_threads != saved) omp_set_num_threads(be->n_threads);
    return saved;
}

void cpu_blas_threads_end(int saved)
{
    if (omp_get_max_threads() != saved) omp_set_num_threads(saved);
}

dio_status cpu_blas_sgemm(const cpu_backend *be, const char *op, char ta, char tb, int64_t M, int64_t N,
                          int64_t K, float alpha, const float *A, int64_t lda, const float *B, int64_t ldb,
                          float beta, float *C, int64_t ldc)
{
    dnnl_status_t ds;
    if (M <= 0 || N <= 0) return DIO_OK;
    if (K <= 0) { /* C = beta·C; beta == 0 writes zeros without reading C */
        for (int64_t i = 0; i < M; i++) {
            float *c = C + i * ldc;
            if (beta == 0.0f)
                memset(c, 0, (size_t)N * sizeof(float));
            else if (beta != 1.0f)
                for (int64_t j = 0; j < N; j++) c[j] *= beta;
        }
        return DIO_OK;
    }
    ds = dnnl_sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    if (ds != dnnl_success)
        return cpu_error(
            be, DIO_ERR_BACKEND_FAILURE,
            "%s: oneDNN sgemm(%c%c, M=%lld, N=%lld, K=%lld, lda=%lld, ldb=%lld, ldc=%lld) failed: %s", op, ta,
            tb, (long long)M, (long long)N, (long long)K, (long long)lda, (long long)ldb, (long long)ldc,
            dnnl_status2str(ds));
    return DIO_OK;
}

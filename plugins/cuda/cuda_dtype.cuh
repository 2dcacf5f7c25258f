/* GPU backends — device-side dtype conversion shared by the kernels of CUDA and HIP: f32, f16 and bf16
 * elements loaded to f32 and stored back with round-to-nearest-even; f8 (e4m3fn, e5m2) elements loaded
 * exactly (every f8 value is an f32 value), for fp8 weights and tables. Storing to f8 is not done here:
 * the backends refuse it (its saturation and NaN encodings are the CPU backend's to define). Included by
 * .cu files only. */
#ifndef DIO_CUDA_DTYPE_CUH
#define DIO_CUDA_DTYPE_CUH

#include <math.h>

#include "cuda_internal.h"

namespace dio_gpu
{

/* OCP FP8 E4M3 (the "fn" variant: no infinities, S.1111.111 is NaN, bias 7). */
__device__ __forceinline__ float f8e4m3_to_f32(uint8_t b)
{
    const int e = (b >> 3) & 15, m = b & 7;
    float v;
    if (e == 15 && m == 7)
        v = NAN;
    else if (e == 0)
        v = ldexpf((float)m, -9); /* m/8 · 2^-6 */
    else
        v = ldexpf((float)(8 + m), e - 10); /* (1 + m/8) · 2^(e-7) */
    return (b & 0x80) ? -v : v;
}

/* FP8 E5M2: IEEE-like, bias 15, with infinities and NaNs. */
__device__ __forceinline__ float f8e5m2_to_f32(uint8_t b)
{
    const int e = (b >> 2) & 31, m = b & 3;
    float v;
    if (e == 31)
        v = m ? NAN : INFINITY;
    else if (e == 0)
        v = ldexpf((float)m, -16); /* m/4 · 2^-14 */
    else
        v = ldexpf((float)(4 + m), e - 17); /* (1 + m/4) · 2^(e-15) */
    return (b & 0x80) ? -v : v;
}

__device__ __forceinline__ float load_f32(const void *base, int32_t dtype, int64_t i)
{
    switch (dtype) {
    case DIO_DTYPE_F8E4M3: return f8e4m3_to_f32(static_cast<const uint8_t *>(base)[i]);
    case DIO_DTYPE_F8E5M2: return f8e5m2_to_f32(static_cast<const uint8_t *>(base)[i]);
    case DIO_DTYPE_F16: return __half2float(static_cast<const __half *>(base)[i]);
    case DIO_DTYPE_BF16: return __bfloat162float(static_cast<const __nv_bfloat16 *>(base)[i]);
    default: return static_cast<const float *>(base)[i];
    }
}

__device__ __forceinline__ void store_f32(void *base, int32_t dtype, int64_t i, float v)
{
    switch (dtype) {
    case DIO_DTYPE_F16: static_cast<__half *>(base)[i] = __float2half_rn(v); break;
    case DIO_DTYPE_BF16: static_cast<__nv_bfloat16 *>(base)[i] = __float2bfloat16_rn(v); break;
    default: static_cast<float *>(base)[i] = v; break;
    }
}

} // namespace dio_gpu

#endif

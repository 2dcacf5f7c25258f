/* GPU backends — device-side dtype conversion shared by the kernels of CUDA and HIP: f32, f16 and bf16
 * elements loaded to f32 and stored back with round-to-nearest-even. Included by .cu files only. */
#ifndef DIO_CUDA_DTYPE_CUH
#define DIO_CUDA_DTYPE_CUH

#include "cuda_internal.h"

namespace dio_gpu
{

__device__ __forceinline__ float load_f32(const void *base, int32_t dtype, int64_t i)
{
    switch (dtype) {
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

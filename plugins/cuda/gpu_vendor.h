/* GPU backends — one source, two vendors (after ggml's vendors/ headers): the CUDA backend's files are
 * written against the CUDA runtime API, and built with DIO_GPU_HIP defined (plugins/hip) the same files
 * become the HIP backend, this header mapping every CUDA name they use onto HIP's. Only the names the
 * sources use are mapped; a new CUDA call in a shared file fails the HIP build until it is added here,
 * which is the point. GPU_NAME is the backend's registry name and the prefix of its messages; GPU_RT the
 * runtime's prefix, so an error names the call that really failed (hipMalloc, not cudaMalloc).
 * Device code (.cu) also gets the half and bfloat16 types and conversions under their CUDA names, and
 * GPU_LAUNCH, the kernel launch written once for the triple-chevron compilers and for the emulator. */
#ifndef DIO_GPU_VENDOR_H
#define DIO_GPU_VENDOR_H

#if defined(DIO_GPU_EMU)

/* The tests' SIMT emulator (tests/gpu_emu): these sources on a CPU, for CI without a GPU. */
#include "gpu_emu.h"

#elif defined(DIO_GPU_HIP)

#ifndef __HIP_PLATFORM_AMD__
#define __HIP_PLATFORM_AMD__ 1
#endif
#include <hip/hip_runtime_api.h>

#define GPU_NAME "hip"
#define GPU_RT "hip"
#define GPU_VENDOR_DESCRIPTION                                                                               \
    "AMD GPUs through HIP; rocBLAS (opened at run time) or our tiled kernel for matmul"

#define cudaError_t hipError_t
#define cudaSuccess hipSuccess
#define cudaErrorMemoryAllocation hipErrorOutOfMemory
#define cudaStream_t hipStream_t
#define cudaStreamNonBlocking hipStreamNonBlocking
#define cudaDeviceProp hipDeviceProp_t
#define cudaGetDeviceCount hipGetDeviceCount
#define cudaGetDeviceProperties hipGetDeviceProperties
#define cudaSetDevice hipSetDevice
#define cudaMalloc hipMalloc
#define cudaFree hipFree
#define cudaMemGetInfo hipMemGetInfo
#define cudaMemcpyAsync hipMemcpyAsync
#define cudaMemcpyPeerAsync hipMemcpyPeerAsync
#define cudaMemcpyHostToDevice hipMemcpyHostToDevice
#define cudaMemcpyDeviceToHost hipMemcpyDeviceToHost
#define cudaMemcpyDeviceToDevice hipMemcpyDeviceToDevice
#define cudaStreamCreateWithFlags hipStreamCreateWithFlags
#define cudaStreamDestroy hipStreamDestroy
#define cudaStreamSynchronize hipStreamSynchronize
#define cudaGetLastError hipGetLastError
#define cudaGetErrorString hipGetErrorString
#define cudaGetErrorName hipGetErrorName

#if defined(__HIPCC__)
#include <hip/hip_bfloat16.h>
#include <hip/hip_fp16.h>
#include <hip/hip_runtime.h>
/* hip_bfloat16 converts from float with round-to-nearest-even (NaN kept), as __float2bfloat16_rn does. */
typedef hip_bfloat16 __nv_bfloat16;
__device__ __forceinline__ float __bfloat162float(hip_bfloat16 x)
{
    return static_cast<float>(x);
}
__device__ __forceinline__ hip_bfloat16 __float2bfloat16_rn(float f)
{
    return hip_bfloat16(f);
}
#endif

#else /* CUDA */

#include <cuda_runtime_api.h>

#define GPU_NAME "cuda"
#define GPU_RT "cuda"
#define GPU_VENDOR_DESCRIPTION "NVIDIA GPUs through the CUDA runtime; cuBLASLt for matmul"

#if defined(__CUDACC__)
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#endif

#endif

#if defined(__CUDACC__) || defined(__HIPCC__)
#define GPU_LAUNCH(kernel, grid, block, smem, stream, ...)                                                   \
    kernel<<<(grid), (block), (smem), (stream)>>>(__VA_ARGS__)
#endif

#endif

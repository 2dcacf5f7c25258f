/* The SIMT emulator — a third "vendor" for the GPU backends' sources (plugins/cuda/gpu_vendor.h includes
 * this header when DIO_GPU_EMU is defined), so that the CUDA backend's host code and its kernels, unchanged,
 * build into a test plugin (libdio_gpuemu.so) that runs on a CPU and goes through the same conformance and
 * pipeline tests as every backend. No GPU is needed: CI checks every shared kernel's indexing, tiling,
 * reductions and barriers on each run, and under ASan every out-of-bounds device access is a report.
 *
 * Design: the runtime names the sources use (cudaMalloc, cudaMemcpyAsync, streams, errors) map onto
 * gpu_emu_* functions (gpu_emu_runtime.cc), never onto the real names, so the real CUDA plugin can share a
 * process with this one. Device memory is host memory, filled with 0xff bytes (NaN in every float dtype) on
 * allocation so a kernel that reads what nobody wrote shows it; a fixed device capacity makes out-of-memory
 * reachable. Streams run everything at once, in order. A launch runs its blocks one after another, each
 * block's threads as fibers (ucontext) switched at __syncthreads, which is where GPU threads can observe
 * each other; __shared__ becomes a function-local static, the block's memory because blocks never overlap
 * (launches hold one lock). Warp-level primitives are deliberately absent: kernels of the shared sources
 * synchronise through shared memory only, which keeps them right on 32-wide NVIDIA warps and 64-wide AMD
 * wavefronts alike. The order in which threads run between barriers can be reversed or shuffled
 * (DIORAMA_GPU_EMU_ORDER), which exposes a shared-memory read that lacks its barrier, and a block whose
 * threads do not all reach the same barriers fails its launch. Not modelled: concurrency between streams,
 * memory ordering without a barrier inside a phase, timing. */
#ifndef DIO_GPU_EMU_H
#define DIO_GPU_EMU_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GPU_NAME "gpuemu"
#define GPU_RT "gpuemu_"
#define GPU_VENDOR_DESCRIPTION                                                                               \
    "the CUDA backend's sources on a CPU, threads as fibers (a test plugin; matmul is our tiled kernel)"

typedef int gpu_emu_error;
enum {
    gpu_emu_success = 0,
    gpu_emu_error_invalid_value = 1,
    gpu_emu_error_memory_allocation = 2,
    gpu_emu_error_invalid_configuration = 9,
    gpu_emu_error_invalid_device = 101,
    gpu_emu_error_invalid_handle = 400,
    gpu_emu_error_launch_failure = 719
};
typedef struct gpu_emu_stream *gpu_emu_stream_t;
typedef enum gpu_emu_copy_kind {
    gpu_emu_host_to_host = 0,
    gpu_emu_host_to_device = 1,
    gpu_emu_device_to_host = 2,
    gpu_emu_device_to_device = 3
} gpu_emu_copy_kind;
struct gpu_emu_device_prop {
    char name[256];
    int major, minor;
    size_t totalGlobalMem;
    int multiProcessorCount;
};

gpu_emu_error gpu_emu_get_device_count(int *count);
gpu_emu_error gpu_emu_get_device_properties(struct gpu_emu_device_prop *prop, int device);
gpu_emu_error gpu_emu_set_device(int device);
gpu_emu_error gpu_emu_malloc(void **ptr, size_t size);
gpu_emu_error gpu_emu_free(void *ptr);
gpu_emu_error gpu_emu_mem_get_info(size_t *free_bytes, size_t *total_bytes);
gpu_emu_error gpu_emu_memcpy_async(void *dst, const void *src, size_t n, gpu_emu_copy_kind kind,
                                   gpu_emu_stream_t s);
gpu_emu_error gpu_emu_memcpy_peer_async(void *dst, int dst_device, const void *src, int src_device, size_t n,
                                        gpu_emu_stream_t s);
gpu_emu_error gpu_emu_stream_create_with_flags(gpu_emu_stream_t *s, unsigned flags);
gpu_emu_error gpu_emu_stream_destroy(gpu_emu_stream_t s);
gpu_emu_error gpu_emu_stream_synchronize(gpu_emu_stream_t s);
gpu_emu_error gpu_emu_get_last_error(void);
const char *gpu_emu_get_error_string(gpu_emu_error e);
const char *gpu_emu_get_error_name(gpu_emu_error e);

#ifdef __cplusplus
}
#endif

#define cudaError_t gpu_emu_error
#define cudaSuccess gpu_emu_success
#define cudaErrorMemoryAllocation gpu_emu_error_memory_allocation
#define cudaStream_t gpu_emu_stream_t
#define cudaStreamNonBlocking 1u
#define cudaDeviceProp gpu_emu_device_prop
#define cudaGetDeviceCount gpu_emu_get_device_count
#define cudaGetDeviceProperties gpu_emu_get_device_properties
#define cudaSetDevice gpu_emu_set_device
#define cudaMalloc(p, n) gpu_emu_malloc((void **)(p), (n))
#define cudaFree gpu_emu_free
#define cudaMemGetInfo gpu_emu_mem_get_info
#define cudaMemcpyAsync gpu_emu_memcpy_async
#define cudaMemcpyPeerAsync gpu_emu_memcpy_peer_async
#define cudaMemcpyHostToDevice gpu_emu_host_to_device
#define cudaMemcpyDeviceToHost gpu_emu_device_to_host
#define cudaMemcpyDeviceToDevice gpu_emu_device_to_device
#define cudaStreamCreateWithFlags gpu_emu_stream_create_with_flags
#define cudaStreamDestroy gpu_emu_stream_destroy
#define cudaStreamSynchronize gpu_emu_stream_synchronize
#define cudaGetLastError gpu_emu_get_last_error
#define cudaGetErrorString gpu_emu_get_error_string
#define cudaGetErrorName gpu_emu_get_error_name

/* ---- device code, for the .cu files compiled as C++ ---- */
#ifdef __cplusplus

#include <string.h>

struct dim3 {
    unsigned x, y, z;
    constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_)
    {
    }
};
struct gpu_emu_uint3 {
    unsigned x, y, z;
};

/* The running fiber's coordinates: set by the scheduler before it resumes a fiber. */
extern thread_local gpu_emu_uint3 gpu_emu_thread_idx, gpu_emu_block_idx;
extern thread_local dim3 gpu_emu_block_dim, gpu_emu_grid_dim;
#define threadIdx gpu_emu_thread_idx
#define blockIdx gpu_emu_block_idx
#define blockDim gpu_emu_block_dim
#define gridDim gpu_emu_grid_dim

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static

extern "C" void gpu_emu_syncthreads(void);
#define __syncthreads gpu_emu_syncthreads

/* Runs fn(arg) as the kernel body of every thread of every block; a bad configuration is the next
 * cudaGetLastError, as on a GPU. */
extern "C" void gpu_emu_launch_body(dim3 grid, dim3 block, gpu_emu_stream_t s, void (*fn)(void *), void *arg);
template <class Body> inline void gpu_emu_launch(dim3 grid, dim3 block, gpu_emu_stream_t s, Body body)
{
    gpu_emu_launch_body(
        grid, block, s, [](void *p) { (*static_cast<Body *>(p))(); }, &body);
}
#define GPU_LAUNCH(kernel, grid, block, smem, stream, ...)                                                   \
    gpu_emu_launch(dim3(grid), dim3(block), (stream), [=]() { kernel(__VA_ARGS__); })

/* Half and bfloat16 as their bits, converted exactly as the GPU's intrinsics do (round to nearest even,
 * NaN kept quiet). */
struct __half {
    uint16_t bits;
};
struct __nv_bfloat16 {
    uint16_t bits;
};
inline float gpu_emu_bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}
inline float __half2float(__half h)
{
    const uint32_t sign = (uint32_t)(h.bits & 0x8000u) << 16, e = (h.bits >> 10) & 0x1fu, m = h.bits & 0x3ffu;
    if (e == 0x1f) return gpu_emu_bits_f32(sign | 0x7f800000u | (m << 13)); /* inf, NaN */
    if (e == 0) {
        const float v = (float)m * 5.9604644775390625e-08f; /* m · 2^-24, exact */
        return sign ? -v : v;
    }
    return gpu_emu_bits_f32(sign | ((e + 112u) << 23) | (m << 13));
}
inline __half __float2half_rn(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    const uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    const float a = fabsf(f);
    __half h;
    if (a != a) {
        h.bits = (uint16_t)(sign | 0x7e00u | ((u >> 13) & 0x3ffu));
    } else if (a >= 65520.0f) {
        h.bits = (uint16_t)(sign | 0x7c00u);
    } else if (a < 6.103515625e-05f) { /* subnormal: a · 2^24 rounded, ties to even (default FP mode) */
        h.bits = (uint16_t)(sign | (uint16_t)nearbyintf(a * 16777216.0f));
    } else {
        uint32_t v;
        memcpy(&v, &a, 4);
        v += 0xfffu + ((v >> 13) & 1u); /* round the 13 dropped bits to nearest even */
        h.bits = (uint16_t)(sign | (((v >> 23) - 112u) << 10) | ((v >> 13) & 0x3ffu));
    }
    return h;
}
inline float __bfloat162float(__nv_bfloat16 b)
{
    return gpu_emu_bits_f32((uint32_t)b.bits << 16);
}
inline __nv_bfloat16 __float2bfloat16_rn(float f)
{
    uint32_t u;
    __nv_bfloat16 b;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) {
        b.bits = (uint16_t)((u >> 16) | 0x40u);
    } else {
        u += 0x7fffu + ((u >> 16) & 1u);
        b.bits = (uint16_t)(u >> 16);
    }
    return b;
}
inline float rsqrtf(float x)
{
    return 1.0f / sqrtf(x);
}

#endif /* __cplusplus */
#endif

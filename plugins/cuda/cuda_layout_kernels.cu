/* GPU backends — the data-movement kernels shared by CUDA and HIP: one strided bit copy of up to 12 dims
 * (every view op of cuda_layout.c) and the embedding gather.
 *
 * The copy is a grid-stride loop over y's linear index, decomposing it over the dims to find both
 * elements — the same plan as the element-wise kernel, with twice the dims and no arithmetic, so any
 * dtype (1, 2, 4 or 8 bytes) moves unchanged. It is written for correctness and portability; a
 * transpose-aware tiled copy (the CPU backend's 64×64 tiles) is the known next step for speed. */
#include "cuda_dtype.cuh"
#include "cuda_internal.h"

namespace
{

template <class T> __device__ __forceinline__ void copy_elems(const cuda_copy_desc &d)
{
    const int64_t step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; idx < d.numel; idx += step) {
        int64_t rem = idx, od = 0, os = 0;
        for (int k = d.ndim - 1; k >= 0; k--) {
            const int64_t c = rem % d.shape[k];
            rem /= d.shape[k];
            od += c * d.dst_stride[k];
            os += c * d.src_stride[k];
        }
        static_cast<T *>(d.dst)[od] = static_cast<const T *>(d.src)[os];
    }
}

__global__ void copy_kernel(const cuda_copy_desc d)
{
    switch (d.esize) {
    case 1: copy_elems<uint8_t>(d); break;
    case 2: copy_elems<uint16_t>(d); break;
    case 8: copy_elems<uint64_t>(d); break;
    default: copy_elems<uint32_t>(d); break;
    }
}

__global__ void gather_kernel(const cuda_gather_desc d)
{
    const int64_t step = (int64_t)gridDim.x * blockDim.x, numel = d.N * d.C;
    for (int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; idx < numel; idx += step) {
        const int64_t n = idx / d.C, c = idx % d.C;
        const int64_t id = d.ids_dtype == DIO_DTYPE_I32
                               ? (int64_t) static_cast<const int32_t *>(d.ids)[n * d.ids_stride]
                               : static_cast<const int64_t *>(d.ids)[n * d.ids_stride];
        const float v =
            dio_gpu::load_f32(d.table, d.table_dtype, id * d.table_stride[0] + c * d.table_stride[1]);
        dio_gpu::store_f32(d.y, d.y_dtype, n * d.y_stride[0] + c * d.y_stride[1], v);
    }
}

unsigned grid_for(int64_t numel, int threads)
{
    int64_t blocks = (numel + threads - 1) / threads;
    return (unsigned)(blocks > 65536 ? 65536 : blocks < 1 ? 1 : blocks);
}

} // namespace

extern "C" cudaError_t cuda_copy_launch(const cuda_copy_desc *d, cudaStream_t s)
{
    GPU_LAUNCH(copy_kernel, grid_for(d->numel, 256), 256, 0, s, *d);
    return cudaGetLastError();
}

extern "C" cudaError_t cuda_gather_launch(const cuda_gather_desc *d, cudaStream_t s)
{
    GPU_LAUNCH(gather_kernel, grid_for(d->N * d->C, 256), 256, 0, s, *d);
    return cudaGetLastError();
}

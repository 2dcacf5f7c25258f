/* GPU backends — the ROPE kernel shared by CUDA and HIP: one thread per rotated pair (R/2 per head) or
 * per passed-through dim (D - R per head), grid-stride over B·L·H rows. A thread reads both elements of
 * its pair before writing either, so y may be x (in place), as ops.h allows. */
#include "cuda_dtype.cuh"
#include "cuda_internal.h"

namespace
{

__global__ void rope_kernel(const cuda_rope_desc d)
{
    const int64_t half = d.R / 2, per_row = half + (d.D - d.R), total = d.B * d.L * d.H * per_row;
    const int64_t step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; idx < total; idx += step) {
        const int64_t k = idx % per_row, row = idx / per_row;
        const int64_t h = row % d.H, l = (row / d.H) % d.L, b = row / (d.H * d.L);
        const int64_t xo = b * d.x_stride[0] + l * d.x_stride[1] + h * d.x_stride[2];
        const int64_t yo = b * d.y_stride[0] + l * d.y_stride[1] + h * d.y_stride[2];
        if (k >= half) { /* dims R..D-1 pass through */
            const int64_t i = k - half + d.R;
            dio_gpu::store_f32(d.y, d.dtype, yo + i * d.y_dstride,
                               dio_gpu::load_f32(d.x, d.dtype, xo + i * d.x_dstride));
            continue;
        }
        const int64_t i0 = d.interleaved ? 2 * k : k, i1 = d.interleaved ? 2 * k + 1 : k + half;
        const int64_t t0 = l * d.cs_stride[0] + i0 * d.cs_stride[1],
                      t1 = l * d.cs_stride[0] + i1 * d.cs_stride[1];
        const float a = dio_gpu::load_f32(d.x, d.dtype, xo + i0 * d.x_dstride);
        const float c = dio_gpu::load_f32(d.x, d.dtype, xo + i1 * d.x_dstride);
        dio_gpu::store_f32(d.y, d.dtype, yo + i0 * d.y_dstride, a * d.cos[t0] - c * d.sin[t0]);
        dio_gpu::store_f32(d.y, d.dtype, yo + i1 * d.y_dstride, c * d.cos[t1] + a * d.sin[t1]);
    }
}

} // namespace

extern "C" cudaError_t cuda_rope_launch(const cuda_rope_desc *d, cudaStream_t s)
{
    const int64_t total = d->B * d->L * d->H * (d->R / 2 + d->D - d->R);
    int64_t blocks = (total + 255) / 256;
    if (blocks > 65536) blocks = 65536;
    GPU_LAUNCH(rope_kernel, (unsigned)(blocks > 0 ? blocks : 1), 256, 0, s, *d);
    return cudaGetLastError();
}

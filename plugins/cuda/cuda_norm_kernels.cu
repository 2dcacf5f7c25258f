/* GPU backends — the row-reduction kernels shared by CUDA and HIP: LAYERNORM, RMSNORM, ADALN_MODULATE and
 * SOFTMAX (one block of 256 threads per row, grid-stride over rows), and CHANNEL_RMSNORM (one thread per
 * position, the reduction running down the channels so neighbouring threads read neighbouring memory).
 *
 * Reductions go through shared memory with a barrier per halving — no warp shuffles, so the same code is
 * right on 32-wide warps and 64-wide wavefronts (and in the tests' SIMT emulator). Statistics are f32;
 * the variance is two-pass (the mean first), as the reference computes it, so rows with a large mean do
 * not cancel. Softmax subtracts the row's maximum before exp; a row whose maximum is -inf is left to
 * IEEE arithmetic, as on the CPU backend. Each element is read and written by one thread, so y may be x
 * where ops.h allows it (softmax). */
#include <math.h>

#include "cuda_dtype.cuh"
#include "cuda_internal.h"

namespace
{

constexpr int NT = 256;

__device__ float block_sum(float v, float *red)
{
    red[threadIdx.x] = v;
    __syncthreads();
    for (int s = NT / 2; s > 0; s >>= 1) {
        if ((int)threadIdx.x < s) red[threadIdx.x] += red[threadIdx.x + s];
        __syncthreads();
    }
    const float r = red[0];
    __syncthreads();
    return r;
}

__device__ float block_max(float v, float *red)
{
    red[threadIdx.x] = v;
    __syncthreads();
    for (int s = NT / 2; s > 0; s >>= 1) {
        if ((int)threadIdx.x < s) {
            const float o = red[threadIdx.x + s];
            if (o > red[threadIdx.x]) red[threadIdx.x] = o;
        }
        __syncthreads();
    }
    const float r = red[0];
    __syncthreads();
    return r;
}

__global__ void norm_kernel(const cuda_norm_desc d)
{
    __shared__ float red[NT];
    const int64_t C = d.C;
    for (int64_t row = blockIdx.x; row < d.rows; row += gridDim.x) {
        int64_t rem = row, xo = 0, yo = 0;
        for (int k = d.nlead - 1; k >= 0; k--) {
            const int64_t c = rem % d.lead_shape[k];
            rem /= d.lead_shape[k];
            xo += c * d.x_stride[k];
            yo += c * d.y_stride[k];
        }
        if (d.op == CUDA_NORM_SOFTMAX) {
            float m = -INFINITY, s = 0.0f;
            for (int64_t c = threadIdx.x; c < C; c += NT) {
                const float v = d.p * dio_gpu::load_f32(d.x, d.dtype, xo + c * d.x_cstride);
                m = v > m ? v : m;
            }
            m = block_max(m, red);
            for (int64_t c = threadIdx.x; c < C; c += NT)
                s += expf(d.p * dio_gpu::load_f32(d.x, d.dtype, xo + c * d.x_cstride) - m);
            const float inv = 1.0f / block_sum(s, red);
            for (int64_t c = threadIdx.x; c < C; c += NT) {
                const float v = expf(d.p * dio_gpu::load_f32(d.x, d.dtype, xo + c * d.x_cstride) - m) * inv;
                dio_gpu::store_f32(d.y, d.dtype, yo + c * d.y_cstride, v);
            }
            continue;
        }
        const bool rms = d.op == CUDA_NORM_RMS || (d.op == CUDA_NORM_ADALN && d.rms);
        float mean = 0.0f, ss = 0.0f;
        if (!rms) {
            float s = 0.0f;
            for (int64_t c = threadIdx.x; c < C; c += NT)
                s += dio_gpu::load_f32(d.x, d.dtype, xo + c * d.x_cstride);
            mean = block_sum(s, red) / (float)C;
        }
        for (int64_t c = threadIdx.x; c < C; c += NT) {
            const float v = dio_gpu::load_f32(d.x, d.dtype, xo + c * d.x_cstride) - mean;
            ss += v * v;
        }
        const float r = 1.0f / sqrtf(block_sum(ss, red) / (float)C + d.eps);
        int64_t so = 0, co = 0;
        if (d.op == CUDA_NORM_ADALN) {
            const int64_t b = row / d.L, g = (row % d.L) / d.group_len;
            so = b * d.mod_stride[0][0] + g * d.mod_stride[0][1];
            co = b * d.mod_stride[1][0] + g * d.mod_stride[1][1];
        }
        for (int64_t c = threadIdx.x; c < C; c += NT) {
            float v = (dio_gpu::load_f32(d.x, d.dtype, xo + c * d.x_cstride) - mean) * r;
            if (d.op == CUDA_NORM_ADALN) {
                const float sc = dio_gpu::load_f32(d.scale, d.dtype, co + c * d.mod_stride[1][2]);
                const float sh = dio_gpu::load_f32(d.shift, d.dtype, so + c * d.mod_stride[0][2]);
                v = v * (1.0f + sc) + sh;
            } else {
                if (d.w) v *= dio_gpu::load_f32(d.w, d.w_dtype, c * d.w_stride);
                if (d.b) v += dio_gpu::load_f32(d.b, d.b_dtype, c * d.b_stride);
            }
            dio_gpu::store_f32(d.y, d.dtype, yo + c * d.y_cstride, v);
        }
    }
}

__global__ void channel_norm_kernel(const cuda_channel_norm_desc d)
{
    const int64_t positions = d.B * d.S, step = (int64_t)gridDim.x * blockDim.x;
    const float root_c = sqrtf((float)d.C);
    for (int64_t p = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; p < positions; p += step) {
        const int64_t b = p / d.S, s = p % d.S, base = b * d.C * d.S + s;
        float ss = 0.0f;
        for (int64_t c = 0; c < d.C; c++) {
            const float v = dio_gpu::load_f32(d.x, d.dtype, base + c * d.S);
            ss += v * v;
        }
        const float n = sqrtf(ss), inv = root_c / (n > d.eps ? n : d.eps);
        for (int64_t c = 0; c < d.C; c++) {
            float v = dio_gpu::load_f32(d.x, d.dtype, base + c * d.S) * inv *
                      dio_gpu::load_f32(d.gamma, d.g_dtype, c);
            if (d.bias) v += dio_gpu::load_f32(d.bias, d.b_dtype, c);
            dio_gpu::store_f32(d.y, d.dtype, base + c * d.S, v);
        }
    }
}

} // namespace

extern "C" cudaError_t cuda_norm_launch(const cuda_norm_desc *d, cudaStream_t s)
{
    const int64_t blocks = d->rows < 65535 ? d->rows : 65535;
    GPU_LAUNCH(norm_kernel, (unsigned)(blocks > 0 ? blocks : 1), NT, 0, s, *d);
    return cudaGetLastError();
}

extern "C" cudaError_t cuda_channel_norm_launch(const cuda_channel_norm_desc *d, cudaStream_t s)
{
    int64_t blocks = (d->B * d->S + 255) / 256;
    if (blocks > 65536) blocks = 65536;
    GPU_LAUNCH(channel_norm_kernel, (unsigned)(blocks > 0 ? blocks : 1), 256, 0, s, *d);
    return cudaGetLastError();
}

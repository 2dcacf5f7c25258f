/* GPU backends — the direct convolution kernel shared by CUDA and HIP (CONV3D, and CONV2D as one frame):
 * one thread per output element, grid-stride, looping over its group's input channels and the kernel
 * window in f32; taps that fall in the padding are skipped. The time axis is [cache, x]: a tap before
 * frame cache_T reads the causal frame cache, so the VAE's chunked decoding needs no concatenated copy.
 *
 * Right and portable, not fast: the weights are re-read by every thread (through the cache) and there is
 * no data reuse across outputs. The fast path — implicit GEMM on tensor cores / MFMA, or im2col plus the
 * GEMM library — is separate work that must match this kernel. */
#include "cuda_dtype.cuh"
#include "cuda_internal.h"

namespace
{

__global__ void conv_kernel(const cuda_conv_desc d)
{
    const int64_t total = d.B * d.Cout * d.To * d.Ho * d.Wo, step = (int64_t)gridDim.x * blockDim.x;
    const int64_t cin_g = d.Cin / d.groups, cout_g = d.Cout / d.groups, Tin = d.cache_T + d.T;
    for (int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; idx < total; idx += step) {
        int64_t r = idx;
        const int64_t wo = r % d.Wo;
        r /= d.Wo;
        const int64_t ho = r % d.Ho;
        r /= d.Ho;
        const int64_t to = r % d.To;
        r /= d.To;
        const int64_t co = r % d.Cout, b = r / d.Cout, g = co / cout_g;
        float acc = d.bias ? dio_gpu::load_f32(d.bias, d.b_dtype, co) : 0.0f;
        for (int64_t ci = 0; ci < cin_g; ci++) {
            const int64_t cx = g * cin_g + ci;
            for (int64_t a = 0; a < d.kt; a++) {
                const int64_t ti = to * d.stride[0] - d.pad[0] + a * d.dilation[0];
                if (ti < 0 || ti >= Tin) continue;
                const void *src = ti < d.cache_T ? d.cache : d.x;
                const int64_t frames = ti < d.cache_T ? d.cache_T : d.T,
                              t = ti < d.cache_T ? ti : ti - d.cache_T;
                const int64_t plane = ((b * d.Cin + cx) * frames + t) * d.H;
                for (int64_t m = 0; m < d.kh; m++) {
                    const int64_t hi = ho * d.stride[1] - d.pad[1] + m * d.dilation[1];
                    if (hi < 0 || hi >= d.H) continue;
                    for (int64_t n = 0; n < d.kw; n++) {
                        const int64_t wi = wo * d.stride[2] - d.pad[2] + n * d.dilation[2];
                        if (wi < 0 || wi >= d.W) continue;
                        const int64_t widx = (((co * cin_g + ci) * d.kt + a) * d.kh + m) * d.kw + n;
                        acc += dio_gpu::load_f32(src, d.dtype, (plane + hi) * d.W + wi) *
                               dio_gpu::load_f32(d.w, d.w_dtype, widx);
                    }
                }
            }
        }
        dio_gpu::store_f32(d.y, d.dtype, idx, acc);
    }
}

} // namespace

extern "C" cudaError_t cuda_conv_launch(const cuda_conv_desc *d, cudaStream_t s)
{
    const int64_t total = d->B * d->Cout * d->To * d->Ho * d->Wo;
    int64_t blocks = (total + 255) / 256;
    if (blocks > 65536) blocks = 65536;
    GPU_LAUNCH(conv_kernel, (unsigned)(blocks > 0 ? blocks : 1), 256, 0, s, *d);
    return cudaGetLastError();
}

/* CUDA backend — the element-wise kernel: one strided, broadcasting, dtype-converting kernel for the
 * whole family (add, mul, axpby, clamp, copy/convert, silu, gelu, swiglu, gated residual).
 *
 * Written for correctness first: a grid-stride loop over the output's linear index, each thread
 * decomposing its index over the (up to 6) dims to find every operand's element, loading to f32,
 * applying the op selected by a switch and storing with round-to-nearest-even conversion. Equal-dtype
 * copies move bits (any element size), so NaN payloads and integer data survive. Math is IEEE (no fast
 * math): expf, erff and tanhf from the CUDA (or HIP) math library. The same file is the HIP kernel. */
#include "cuda_dtype.cuh"
#include "cuda_internal.h" /* gpu_vendor.h: the runtime, half and bfloat16 of CUDA or HIP */

namespace
{

__device__ __forceinline__ void copy_raw(void *dst, const void *src, int32_t dtype, int64_t od, int64_t os)
{
    switch (dtype) {
    case DIO_DTYPE_F8E4M3:
    case DIO_DTYPE_F8E5M2:
    case DIO_DTYPE_U8: static_cast<uint8_t *>(dst)[od] = static_cast<const uint8_t *>(src)[os]; break;
    case DIO_DTYPE_F16:
    case DIO_DTYPE_BF16: static_cast<uint16_t *>(dst)[od] = static_cast<const uint16_t *>(src)[os]; break;
    case DIO_DTYPE_I64: static_cast<uint64_t *>(dst)[od] = static_cast<const uint64_t *>(src)[os]; break;
    default: static_cast<uint32_t *>(dst)[od] = static_cast<const uint32_t *>(src)[os]; break; /* f32, i32 */
    }
}

__device__ __forceinline__ float silu(float x)
{
    return x / (1.0f + expf(-x));
}

__global__ void ew_kernel(const cuda_ew_desc d)
{
    const int64_t step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; idx < d.numel; idx += step) {
        int64_t rem = idx, oo = 0, o0 = 0, o1 = 0, o2 = 0;
        for (int k = d.ndim - 1; k >= 0; k--) {
            const int64_t c = rem % d.shape[k];
            rem /= d.shape[k];
            oo += c * d.out_stride[k];
            o0 += c * d.in_stride[0][k];
            o1 += c * d.in_stride[1][k];
            o2 += c * d.in_stride[2][k];
        }
        if (d.op == CUDA_EW_RAW) {
            copy_raw(d.out, d.in[0], d.out_dtype, oo, o0);
            continue;
        }
        const float a = dio_gpu::load_f32(d.in[0], d.in_dtype[0], o0);
        const float b = d.n_in > 1 ? dio_gpu::load_f32(d.in[1], d.in_dtype[1], o1) : 0.0f;
        float y;
        switch (d.op) {
        case CUDA_EW_ADD: y = a + b; break;
        case CUDA_EW_MUL: y = a * b; break;
        case CUDA_EW_AXPBY: y = d.p0 * a + d.p1 * b; break;
        case CUDA_EW_AX: y = d.p0 * a; break;
        case CUDA_EW_CLAMP: { /* comparisons with NaN are false: NaN passes through */
            const float v = a < d.p0 ? d.p0 : a;
            y = v > d.p1 ? d.p1 : v;
            break;
        }
        case CUDA_EW_SILU: y = silu(a); break;
        case CUDA_EW_GELU_ERF: y = 0.5f * a * (1.0f + erff(a * 0.70710678118654752f)); break;
        case CUDA_EW_GELU_TANH:
            y = 0.5f * a * (1.0f + tanhf(0.79788456080286536f * (a + 0.044715f * a * a * a)));
            break;
        case CUDA_EW_SWIGLU: y = silu(a) * b; break;
        case CUDA_EW_GATED: y = a + dio_gpu::load_f32(d.in[2], d.in_dtype[2], o2) * b; break;
        default: y = a; break; /* CUDA_EW_CONVERT */
        }
        dio_gpu::store_f32(d.out, d.out_dtype, oo, y);
    }
}

} // namespace

extern "C" cudaError_t cuda_ew_launch(const cuda_ew_desc *d, cudaStream_t s)
{
    const int threads = 256;
    int64_t blocks = (d->numel + threads - 1) / threads;
    if (blocks > 65536) blocks = 65536;
    GPU_LAUNCH(ew_kernel, (unsigned)blocks, threads, 0, s, *d);
    return cudaGetLastError();
}

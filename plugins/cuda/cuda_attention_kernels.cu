/* GPU backends — the portable attention kernel shared by CUDA and HIP: flash-style (online softmax, the
 * [Lq, Lk] scores never materialised), written with shared memory and barriers only.
 *
 * A block of 256 threads owns 8 query rows of one (batch, head) and walks the keys in tiles of 64. For
 * each tile the scores are accumulated over the head dim in chunks of 64 (Q and K chunks staged in shared
 * memory), then one thread per row applies scale, mask and the causal limit and updates the row's running
 * maximum and sum, and the output accumulator — [8, Dv] in shared memory, Dv <= CUDA_ATTN_MAX_DV — is
 * rescaled and accumulates P·V, V staged in the same chunks. Everything is f32; O is divided by the row
 * sum once at the end (a row that sees no key stays zero, as ops.h says). Causal blocks stop at their
 * last visible key tile. This is the fallback that runs everywhere (and in the SIMT emulator): no tensor
 * cores, no MFMA, no warp shuffles; an FA3-class Hopper kernel and an MFMA kernel for CDNA are separate
 * work that must match it. */
#include <math.h>

#include "cuda_dtype.cuh"
#include "cuda_internal.h"

namespace
{

constexpr int BQ = 8, BK = 64, DC = 64, NT = 256;

/* One chunk of a key tile into shared memory: rows j < nk, columns c < dc of src at base + j·row_stride + c,
 * zeros elsewhere (K for the scores, V for the output, the same staging). */
__device__ void stage_keys(float (*kv)[DC + 1], const void *src, int32_t dtype, int64_t base,
                           int64_t row_stride, int nk, int dc)
{
    for (int e = threadIdx.x; e < BK * DC; e += NT) {
        const int j = e / DC, c = e % DC;
        kv[j][c] = j < nk && c < dc ? dio_gpu::load_f32(src, dtype, base + j * row_stride + c) : 0.0f;
    }
}

__global__ void attention_kernel(const cuda_attention_desc d)
{
    __shared__ float o[BQ][CUDA_ATTN_MAX_DV];
    __shared__ float s[BQ][BK];
    __shared__ float qt[BQ][DC];
    __shared__ float kv[BK][DC + 1];
    __shared__ float m[BQ], l[BQ], alpha[BQ];
    const int tid = threadIdx.x;
    const int64_t q0 = (int64_t)blockIdx.x * BQ, h = blockIdx.y, b = blockIdx.z;
    const int64_t hk = h / (d.Hq / d.Hkv);
    const int64_t qb = b * d.q_stride[0] + h * d.q_stride[1], kb = b * d.k_stride[0] + hk * d.k_stride[1];
    const int64_t vb = b * d.v_stride[0] + hk * d.v_stride[1], ob = b * d.o_stride[0] + h * d.o_stride[1];
    const int64_t mb = b * d.m_stride[0] + h * d.m_stride[1];
    const int nq = (int)(d.Lq - q0 < BQ ? d.Lq - q0 : BQ);
    const int64_t shift = d.Lk - d.Lq; /* causal: query i sees keys j <= i + shift */
    int64_t kend = d.Lk;
    if (d.causal) {
        const int64_t last = q0 + nq - 1 + shift + 1;
        kend = last < 0 ? 0 : last < d.Lk ? last : d.Lk;
    }
    for (int e = tid; e < BQ * CUDA_ATTN_MAX_DV; e += NT)
        o[e / CUDA_ATTN_MAX_DV][e % CUDA_ATTN_MAX_DV] = 0.0f;
    if (tid < BQ) {
        m[tid] = -INFINITY;
        l[tid] = 0.0f;
    }
    __syncthreads();
    for (int64_t k0 = 0; k0 < kend; k0 += BK) {
        const int nk = (int)(d.Lk - k0 < BK ? d.Lk - k0 : BK);
        for (int e = tid; e < BQ * BK; e += NT) s[e / BK][e % BK] = 0.0f;
        for (int64_t d0 = 0; d0 < d.D; d0 += DC) {
            const int dc = (int)(d.D - d0 < DC ? d.D - d0 : DC);
            for (int e = tid; e < BQ * DC; e += NT) {
                const int r = e / DC, c = e % DC;
                qt[r][c] = r < nq && c < dc
                               ? dio_gpu::load_f32(d.q, d.dtype, qb + (q0 + r) * d.q_stride[2] + d0 + c)
                               : 0.0f;
            }
            stage_keys(kv, d.k, d.dtype, kb + k0 * d.k_stride[2] + d0, d.k_stride[2], nk, dc);
            __syncthreads();
            for (int e = tid; e < BQ * BK; e += NT) { /* the same entries as the zeroing loop: no race */
                const int r = e / BK, j = e % BK;
                float acc = 0.0f;
                for (int c = 0; c < dc; c++) acc += qt[r][c] * kv[j][c];
                s[r][j] += acc;
            }
            __syncthreads();
        }
        if (tid < BQ) {
            const int r = tid;
            const int64_t i = q0 + r;
            if (r < nq) {
                float mx = m[r], sum = 0.0f;
                for (int j = 0; j < BK; j++) {
                    float v = -INFINITY;
                    if (j < nk && !(d.causal && k0 + j > i + shift)) {
                        v = s[r][j] * d.scale;
                        if (d.mask) v += d.mask[mb + i * d.m_stride[2] + (k0 + j) * d.m_stride[3]];
                    }
                    s[r][j] = v;
                    mx = v > mx ? v : mx;
                }
                const bool none = mx == -INFINITY; /* no key visible yet: nothing to add */
                const float a = none ? 1.0f : expf(m[r] - mx);
                for (int j = 0; j < BK; j++) {
                    const float p = none ? 0.0f : expf(s[r][j] - mx);
                    s[r][j] = p;
                    sum += p;
                }
                l[r] = l[r] * a + sum;
                m[r] = mx;
                alpha[r] = a;
            } else {
                for (int j = 0; j < BK; j++) s[r][j] = 0.0f;
                alpha[r] = 1.0f;
            }
        }
        __syncthreads();
        for (int64_t d0 = 0; d0 < d.Dv; d0 += DC) {
            const int dc = (int)(d.Dv - d0 < DC ? d.Dv - d0 : DC);
            stage_keys(kv, d.v, d.dtype, vb + k0 * d.v_stride[2] + d0, d.v_stride[2], nk, dc);
            __syncthreads();
            for (int e = tid; e < BQ * DC; e += NT) {
                const int r = e / DC, c = e % DC;
                if (c >= dc) continue;
                float acc = o[r][d0 + c] * alpha[r];
                for (int j = 0; j < BK; j++) acc += s[r][j] * kv[j][c];
                o[r][d0 + c] = acc;
            }
            __syncthreads();
        }
    }
    for (int64_t e = tid; e < (int64_t)nq * d.Dv; e += NT) {
        const int r = (int)(e / d.Dv);
        const int64_t c = e % d.Dv;
        const float inv = l[r] > 0.0f ? 1.0f / l[r] : 0.0f;
        dio_gpu::store_f32(d.o, d.dtype, ob + (q0 + r) * d.o_stride[2] + c, o[r][c] * inv);
    }
}

} // namespace

extern "C" cudaError_t cuda_attention_launch(const cuda_attention_desc *d, cudaStream_t s)
{
    const dim3 grid((unsigned)((d->Lq + BQ - 1) / BQ), (unsigned)d->Hq, (unsigned)d->B);
    GPU_LAUNCH(attention_kernel, grid, NT, 0, s, *d);
    return cudaGetLastError();
}

/* GPU backends — our own GEMM kernel (cuda_gemm_tiled_launch), shared by CUDA and HIP: the HIP backend's
 * matmul where no BLAS library can be opened, and on NVIDIA a second opinion on cuBLASLt
 * (DIORAMA_GPU_GEMM=tiled) that the GPU tests compare against.
 *
 * Plain 32x32 output tiles, 256 threads, each thread four outputs of one column; K walked in steps of 32
 * through shared memory, every element loaded to f32 (dtype-converting loads), f32 accumulation, then
 * alpha, bias and beta applied once and the result stored with round-to-nearest-even — the same order of
 * operations as the reference. Written to be right and portable (no tensor cores, no MFMA, no
 * asynchronous copies), not fast: a GEMM library is the fast path on both vendors. */
#include "cuda_dtype.cuh"
#include "cuda_internal.h"

namespace
{

constexpr int TILE = 32;
constexpr int ROWS_PER_THREAD = 4; /* 32 rows / (256 threads / 32 columns) */

__global__ void gemm_tiled_kernel(const cuda_gemm g)
{
    __shared__ float as[TILE][TILE + 1]; /* +1: no bank conflicts on the transposed reads */
    __shared__ float bs[TILE][TILE + 1];
    const int tx = threadIdx.x % TILE, ty = threadIdx.x / TILE; /* ty in 0..7 */
    const int64_t col = (int64_t)blockIdx.x * TILE + tx;
    const int64_t row0 = (int64_t)blockIdx.y * TILE;
    const int64_t M = (int64_t)g.M, N = (int64_t)g.N, K = (int64_t)g.K;
    float acc[ROWS_PER_THREAD] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int64_t k0 = 0; k0 < K; k0 += TILE) {
        for (int r = ty; r < TILE; r += TILE / ROWS_PER_THREAD) {
            const int64_t m = row0 + r, ka = k0 + tx, kb = k0 + r, n = col;
            float av = 0.0f, bv = 0.0f;
            if (m < M && ka < K)
                av = dio_gpu::load_f32(g.a, g.dtype, g.trans_a ? ka * g.lda + m : m * g.lda + ka);
            if (kb < K && n < N) bv = dio_gpu::load_f32(g.b, g.b_dtype, g.trans_b ? n * K + kb : kb * N + n);
            as[r][tx] = av;
            bs[r][tx] = bv;
        }
        __syncthreads();
        for (int kk = 0; kk < TILE; kk++) {
            const float b = bs[kk][tx];
            for (int i = 0; i < ROWS_PER_THREAD; i++) acc[i] += as[ty + i * (TILE / ROWS_PER_THREAD)][kk] * b;
        }
        __syncthreads();
    }
    if (col >= N) return;
    for (int i = 0; i < ROWS_PER_THREAD; i++) {
        const int64_t m = row0 + ty + i * (TILE / ROWS_PER_THREAD);
        if (m >= M) continue;
        float y = g.alpha * acc[i];
        if (g.bias) y += dio_gpu::load_f32(g.bias, g.dtype, col);
        if (g.beta != 0.0f) y += g.beta * dio_gpu::load_f32(g.c, g.dtype, m * g.ldc + col);
        dio_gpu::store_f32(g.c, g.dtype, m * g.ldc + col, y);
    }
}

} // namespace

extern "C" cudaError_t cuda_gemm_tiled_launch(const cuda_gemm *g, cudaStream_t s)
{
    /* The grid's y dimension holds at most 65535 row tiles: taller GEMMs go in slabs of rows. */
    const uint64_t slab = 65535ull * TILE;
    const size_t es = g->dtype == DIO_DTYPE_F32 ? 4 : 2;
    for (uint64_t m0 = 0; m0 < g->M; m0 += slab) {
        cuda_gemm part = *g;
        part.M = g->M - m0 < slab ? g->M - m0 : slab;
        part.a = (const char *)g->a + (g->trans_a ? m0 : m0 * (uint64_t)g->lda) * es;
        part.c = (char *)g->c + m0 * (uint64_t)g->ldc * es;
        const dim3 grid((unsigned)((part.N + TILE - 1) / TILE), (unsigned)((part.M + TILE - 1) / TILE));
        if (part.N == 0) return cudaSuccess;
        GPU_LAUNCH(gemm_tiled_kernel, grid, TILE * TILE / ROWS_PER_THREAD, 0, s, part);
        const cudaError_t err = cudaGetLastError();
        if (err != cudaSuccess) return err;
    }
    return cudaSuccess;
}

/* CPU backend — MATMUL (ops.h): C = alpha·op(A)·op(B) + bias + beta·C on oneDNN's row-major sgemm.
 *
 * Why sgemm and not the matmul primitive: dnnl_sgemm takes row strides and transposes directly, has no
 * primitive to create per shape (so small calls cost nothing extra) and measured faster on this class
 * of CPU (160 vs 149 GFLOP/s). This CPU has no bf16/f16/fp8 GEMM, so non-f32 weights are widened to f32
 * into a bounded scratch block (at most 2048 of K × 32 MiB), walking N in panels and K in chunks (later
 * chunks accumulate with beta = 1); a 2048×8192 layer converts in one or two blocks and the 100352×1024
 * text projection never needs its 400 MB f32 copy. Activations stay in place when they are f32 with
 * non-overlapping rows; f16/bf16 activations (and odd row strides) are staged through f32 in blocks of
 * rows. Batch dims that are uniformly strided are folded into M so [B, L, C] activations make one call.
 * The bias is one extra pass over C after the GEMM (a few % of a compute-bound call). */
#include <stdlib.h>
#include <string.h>

#include "cpu_blas.h"

#ifndef MM_BUDGET                    /* (overridable to test the blocking on small shapes) */
#define MM_BUDGET ((int64_t)8 << 20) /* floats in one scratch block (32 MiB) */
#endif
#ifndef MM_KB
#define MM_KB ((int64_t)2048) /* K chunk of a widened weight block */
#endif

typedef struct mm_params {
    int trans_a, trans_b;
    float alpha, beta;
} mm_params;

static void mm_read_params(const void *p, mm_params *out)
{
    const dio_matmul_params *mp = p;
    out->trans_a = 0;
    out->trans_b = 0;
    out->alpha = 1.0f;
    out->beta = 0.0f;
    if (!mp) return;
    if (mp->struct_size >= offsetof(dio_matmul_params, trans_a) + sizeof(mp->trans_a))
        out->trans_a = mp->trans_a != 0;
    if (mp->struct_size >= offsetof(dio_matmul_params, trans_b) + sizeof(mp->trans_b))
        out->trans_b = mp->trans_b != 0;
    if (mp->struct_size >= offsetof(dio_matmul_params, alpha) + sizeof(mp->alpha)) out->alpha = mp->alpha;
    if (mp->struct_size >= offsetof(dio_matmul_params, beta) + sizeof(mp->beta)) out->beta = mp->beta;
}

static int mm_weight_dtype(int32_t dt)
{
    return dt == DIO_DTYPE_F32 || dt == DIO_DTYPE_F16 || dt == DIO_DTYPE_BF16 || dt == DIO_DTYPE_F8E4M3 ||
           dt == DIO_DTYPE_F8E5M2;
}

dio_status cpu_check_matmul(const cpu_backend *be, const dio_op_call *call)
{
    const dio_tensor *A, *B, *bias, *C;
    mm_params p;
    char s1[96], s2[96], s3[96];
    int nd;
    int64_t M, K, N, Kb;
    dio_status st = cpu_check_call_arity(be, call, 2, 3, 2, 1);
    if (st != DIO_OK) return st;
    A = call->inputs[0];
    B = call->inputs[1];
    bias = call->n_inputs > 2 ? call->inputs[2] : NULL;
    C = call->outputs[0];
    mm_read_params(call->params, &p);

    if (!cpu_is_float_activation(A->dtype))
        return cpu_error(be, DIO_ERR_NOT_SUPPORTED,
                         "matmul: input A has dtype %s; activations must be f32, f16 or bf16",
                         dio_dtype_name(A->dtype));
    if (C->dtype != A->dtype)
        return cpu_error(be, DIO_ERR_INVALID_ARGUMENT,
                         "matmul: output C has dtype %s but A has %s; they must match",
                         dio_dtype_name(C->dtype), dio_dtype_name(A->dtype));
    if (!mm_weight_dtype(B->dtype))
        return cpu_error(be, DIO_ERR_NOT_SUPPORTED,
                         "matmul: input B has dtype %s; weights must be f32, f16, bf16, f8e4m3 or f8e5m2",
                         dio_dtype_name(B->dtype));
    if (bias && !cpu_is_float_activation(bias->dtype))
        return cpu_error(be, DIO_ERR_NOT_SUPPORTED,
                         "matmul: input bias has dtype %s; it must be f32, f16 or bf16",
                         dio_dtype_name(bias->dtype));

    nd = A->ndim;
    if (nd < 2)
        return cpu_error(be, DIO_ERR_INVALID_ARGUMENT, "matmul: input A %s must have at least 2 dims",
                         cpu_shape_str(A, s1, sizeof(s1)));
    if (C->ndim != nd)
        return cpu_error(be, DIO_ERR_INVALID_ARGUMENT, "matmul: output C %s must have the rank of A %s",
                         cpu_shape_str(C, s1, sizeof(s1)), cpu_shape_str(A, s2, sizeof(s2)));
    M = p.trans_a ? A->shape[nd - 1] : A->shape[nd - 2];
    K = p.trans_a ? A->shape[nd - 2] : A->shape[nd - 1];
    if (B->ndim != 2 && B->ndim != nd)
        return cpu_error(be, DIO_ERR_INVALID_ARGUMENT,
                         "matmul: input B %s must be 2-D or have the rank of A %s (batched weights)",
                         cpu_shape_str(B, s1, sizeof(s1)), cpu_shape_str(A, s2, sizeof(s2)));
    Kb = p.trans_b ? B->shape[B->ndim - 1] : B->shape[B->ndim - 2];
    N = p.trans_b ? B->shape[B->ndim - 2] : B->shape[B->ndim - 1];
    for (int i = 0; i < nd - 2; i++) {
        if (C->shape[i] != A->shape[i] || (B->ndim == nd && B->shape[i] != A->shape[i]))
            return cpu_error(be, DIO_ERR_INVALID_ARGUMENT,
                             "matmul: leading (batch) dims of A %s, B %s and C %s differ",
                             cpu_shape_str(A, s1, sizeof(s1)), cpu_shape_str(B, s2, sizeof(s2)),
                             cpu_shape_str(C, s3, sizeof(s3)));
    }
    if (Kb != K)
        return cpu_error(
            be, DIO_ERR_INVALID_ARGUMENT,
            "matmul: inner dims differ: A %s (trans_a %d) has K = %lld, B %s (trans_b %d) has %lld",
            cpu_shape_str(A, s1, sizeof(s1)), p.trans_a, (long long)K, cpu_shape_str(B, s2, sizeof(s2)),
            p.trans_b, (long long)Kb);
    if (C->shape[nd - 2] != M || C->shape[nd - 1] != N)
        return cpu_error(be, DIO_ERR_INVALID_ARGUMENT, "matmul: output C %s must end in [%lld, %lld]",
                         cpu_shape_str(C, s1, sizeof(s1)), (long long)M, (long long)N);
    if (bias && (bias->ndim != 1 || bias->shape[0] != N))
        return cpu_error(be, DIO_ERR_INVALID_ARGUMENT, "matmul: input bias %s must be [%lld]",
                         cpu_shape_str(bias, s1, sizeof(s1)), (long long)N);
    if (A->shape[nd - 1] > 1 && A->stride[nd - 1] != 1)
        return cpu_error(be, DIO_ERR_NOT_SUPPORTED,
                         "matmul: input A: the last dim must be contiguous (stride %lld)",
                         (long long)A->stride[nd - 1]);
    if (C->shape[nd - 1] > 1 && C->stride[nd - 1] != 1)
        return cpu_error(be, DIO_ERR_NOT_SUPPORTED,
                         "matmul: output C: the last dim must be contiguous (stride %lld)",
                         (long long)C->stride[nd - 1]);
    if (!dio_tensor_is_contiguous(B))
        return cpu_error(be, DIO_ERR_NOT_SUPPORTED, "matmul: input B %s must be contiguous",
                         cpu_shape_str(B, s1, sizeof(s1)));
    if (M > 1 && N > 1 && llabs(C->stride[nd - 2]) < N)
        return cpu_error(be, DIO_ERR_INVALID_ARGUMENT,
                         "matmul: output C: rows overlap (row stride %lld for rows of %lld)",
                         (long long)C->stride[nd - 2], (long long)N);
    return DIO_OK;
}

/* One matrix product, everything resolved: A stored [ar][ac] with row stride lda (ar = M, ac = K, or
 * the transpose), B contiguous [br][bc], C [M][N] with row stride ldc. */
typedef struct mm_job {
    cpu_backend *be;
    mm_params p;
    int64_t M, N, K;
    const char *A;
    int32_t adt;
    int64_t lda;
    const char *B;
    int32_t bdt;
    char *C;
    int32_t cdt;
    int64_t ldc;
    const float *bias;
    /* blocking, the same for every matrix of a call */
    int a_stage, c_stage, b_conv;
    int64_t mb, nb, kb;
    float *as, *bs, *cs; /* scratch: mb·K, kb·nb, mb·N floats */
} mm_job;

/* Copies (widening) a block of a stored row-major matrix into dst with row length `cols`. */
static void mm_pack(const cpu_backend *be, float *dst, const char *src, int32_t dt, int64_t ld, int64_t r0,
                    int64_t rows, int64_t c0, int64_t cols)
{
    size_t es = dio_dtype_size(dt);
#pragma omp parallel for num_threads(be->n_threads) schedule(static) if (rows * cols >= 32768)
    for (int64_t r = 0; r < rows; r++)
        cpu_blas_to_f32(dst + r * cols, src + ((r0 + r) * ld + c0) * (int64_t)es, dt, cols);
}

static dio_status mm_run(mm_job *j)
{
    cpu_backend *be = j->be;
    const int ta = j->p.trans_a, tb = j->p.trans_b;
    const int64_t M = j->M, N = j->N, K = j->K;
    const size_t ces = dio_dtype_size(j->cdt);
    dio_status st;
    for (int64_t m0 = 0; m0 < M; m0 += j->mb) {
        const int64_t mbl = M - m0 < j->mb ? M - m0 : j->mb;
        const float *Ab;
        int64_t ldab;
        float *Cb;
        int64_t ldcb;
        if (j->a_stage) { /* the stored block: rows m0.. (or all K rows, columns m0..) */
            if (!ta)
                mm_pack(be, j->as, j->A, j->adt, j->lda, m0, mbl, 0, K);
            else
                mm_pack(be, j->as, j->A, j->adt, j->lda, 0, K, m0, mbl);
            Ab = j->as;
            ldab = ta ? mbl : K;
        } else {
            Ab = (const float *)j->A + (ta ? m0 : m0 * j->lda);
            ldab = j->lda;
        }
        if (j->c_stage) {
            if (j->p.beta != 0.0f) mm_pack(be, j->cs, j->C, j->cdt, j->ldc, m0, mbl, 0, N);
            Cb = j->cs;
            ldcb = N;
        } else {
            Cb = (float *)j->C + m0 * j->ldc;
            ldcb = j->ldc;
        }
        for (int64_t n0 = 0; n0 < N; n0 += j->nb) {
            const int64_t nbl = N - n0 < j->nb ? N - n0 : j->nb;
            for (int64_t k0 = 0; k0 == 0 || k0 < K; k0 += j->kb) {
                const int64_t kbl = K - k0 < j->kb ? K - k0 : j->kb;
                const float *Bb, *Abk;
                int64_t ldbb;
                if (j->b_conv) {
                    if (!tb)
                        mm_pack(be, j->bs, j->B, j->bdt, N, k0, kbl, n0, nbl);
                    else
                        mm_pack(be, j->bs, j->B, j->bdt, K, n0, nbl, k0, kbl);
                    Bb = j->bs;
                    ldbb = tb ? kbl : nbl;
                } else {
                    Bb = (const float *)j->B + (tb ? n0 * K + k0 : k0 * N + n0);
                    ldbb = tb ? K : N;
                }
                Abk = Ab + (ta ? k0 * ldab : k0);
                st = cpu_blas_sgemm(be, "matmul", ta ? 'T' : 'N', tb ? 'T' : 'N', mbl, nbl, kbl, j->p.alpha,
                                    Abk, ldab, Bb, ldbb, k0 == 0 ? j->p.beta : 1.0f, Cb + n0, ldcb);
                if (st != DIO_OK) return st;
                if (K == 0) break;
            }
        }
        if (j->bias) {
            const float *bias = j->bias;
#pragma omp parallel for num_threads(be->n_threads) schedule(static) if (mbl * N >= 32768)
            for (int64_t i = 0; i < mbl; i++) {
                float *c = Cb + i * ldcb;
                for (int64_t n = 0; n < N; n++) c[n] += bias[n];
            }
        }
        if (j->c_stage) {
            const float *cs = j->cs;
            char *C = j->C;
            const int32_t cdt = j->cdt;
            const int64_t ldc = j->ldc;
#pragma omp parallel for num_threads(be->n_threads) schedule(static) if (mbl * N >= 32768)
            for (int64_t i = 0; i < mbl; i++)
                cpu_convert_from_f32(C + (m0 + i) * ldc * (int64_t)ces, cdt, cs + i * N, N);
        }
    }
    return DIO_OK;
}

dio_status cpu_op_matmul(void *ctx, dio_stream *stream, const dio_op_call *call)
{
    cpu_backend *be = ctx;
    const dio_tensor *A, *B, *biast, *C;
    mm_job j;
    int nd, nbd = 0, saved_threads = 0, threads_set = 0;
    int64_t bshape[DIO_MAX_DIMS], bsA[DIO_MAX_DIMS], bsC[DIO_MAX_DIMS], nbatch = 1, ar, ac;
    float *bias = NULL;
    dio_status st;
    (void)stream;
    if (!be || !call) return DIO_ERR_INVALID_ARGUMENT;
    if ((st = cpu_check_matmul(be, call)) != DIO_OK) return st;
    A = call->inputs[0];
    B = call->inputs[1];
    biast = call->n_inputs > 2 ? call->inputs[2] : NULL;
    C = call->outputs[0];
    memset(&j, 0, sizeof(j));
    j.be = be;
    mm_read_params(call->params, &j.p);
    nd = A->ndim;
    j.M = j.p.trans_a ? A->shape[nd - 1] : A->shape[nd - 2];
    j.K = j.p.trans_a ? A->shape[nd - 2] : A->shape[nd - 1];
    j.N = C->shape[nd - 1];
    j.lda = A->stride[nd - 2];
    j.ldc = C->stride[nd - 2];
    j.adt = A->dtype;
    j.bdt = B->dtype;
    j.cdt = C->dtype;
    if (dio_tensor_numel(C) == 0) return DIO_OK;

    /* Batch dims of size > 1; with a shared 2-D B and untransposed A, fold uniformly strided ones into M. */
    for (int i = 0; i < nd - 2; i++) {
        if (A->shape[i] == 1) continue;
        bshape[nbd] = A->shape[i];
        bsA[nbd] = A->stride[i];
        bsC[nbd] = C->stride[i];
        nbatch *= A->shape[i];
        nbd++;
    }
    if (B->ndim == 2 && !j.p.trans_a) {
        while (nbd > 0) {
            const int d = nbd - 1;
            if (j.M == 1) {
                j.M = bshape[d];
                j.lda = bsA[d];
                j.ldc = bsC[d];
            } else if (bsA[d] == j.lda * j.M && bsC[d] == j.ldc * j.M) {
                j.M *= bshape[d];
            } else {
                break;
            }
            nbatch /= bshape[d];
            nbd--;
        }
    }
    ar = j.p.trans_a ? j.K : j.M;
    ac = j.p.trans_a ? j.M : j.K;
    if (ar <= 1) j.lda = ac > 0 ? ac : 1;
    if (j.M <= 1) j.ldc = j.N;

    /* Blocking. */
    j.a_stage = j.adt != DIO_DTYPE_F32 || j.lda < ac || j.lda < 1;
    j.c_stage = j.cdt != DIO_DTYPE_F32 || j.ldc < j.N;
    j.b_conv = j.bdt != DIO_DTYPE_F32;
    j.kb = j.K > 0 ? j.K : 1;
    j.nb = j.N;
    if (j.b_conv) {
        j.kb = j.K < MM_KB ? (j.K > 0 ? j.K : 1) : MM_KB;
        j.nb = MM_BUDGET / j.kb;
        if (j.nb >= j.N)
            j.nb = j.N;
        else
            j.nb = j.nb >= 16 ? j.nb / 16 * 16 : 16;
    }
    j.mb = j.M;
    if (j.a_stage || j.c_stage) {
        int64_t wide = j.K > j.N ? j.K : j.N;
        j.mb = MM_BUDGET / (wide > 0 ? wide : 1);
        if (j.mb < 64) j.mb = 64;
        if (j.mb > j.M) j.mb = j.M;
    }
    if ((j.a_stage && !(j.as = malloc((size_t)(j.mb * (j.K > 0 ? j.K : 1)) * sizeof(float)))) ||
        (j.b_conv && !(j.bs = malloc((size_t)(j.kb * j.nb) * sizeof(float)))) ||
        (j.c_stage && !(j.cs = malloc((size_t)(j.mb * j.N) * sizeof(float)))) ||
        (biast && !(bias = malloc((size_t)j.N * sizeof(float))))) {
        st = cpu_error(be, DIO_ERR_OUT_OF_HOST_MEMORY, "matmul: out of host memory for scratch blocks");
        goto fail;
    }
    if (biast) {
        const char *bp = cpu_tensor_data(biast);
        for (int64_t n = 0; n < j.N; n++) bias[n] = cpu_load_f32(bp, biast->dtype, n * biast->stride[0]);
        j.bias = bias;
    }

    saved_threads = cpu_blas_threads_begin(be);
    threads_set = 1;
    for (int64_t bi = 0; bi < nbatch; bi++) {
        int64_t rem = bi, offA = 0, offC = 0;
        for (int d = nbd - 1; d >= 0; d--) {
            const int64_t idx = rem % bshape[d];
            rem /= bshape[d];
            offA += idx * bsA[d];
            offC += idx * bsC[d];
        }
        j.A = (const char *)cpu_tensor_data(A) + offA * (int64_t)dio_dtype_size(A->dtype);
        j.C = (char *)cpu_tensor_data(C) + offC * (int64_t)dio_dtype_size(C->dtype);
        j.B = (const char *)cpu_tensor_data(B) +
              (B->ndim == 2 ? 0 : bi * j.K * j.N * (int64_t)dio_dtype_size(B->dtype));
        if ((st = mm_run(&j)) != DIO_OK) goto fail;
    }
    st = DIO_OK;
fail:
    if (threads_set) cpu_blas_threads_end(saved_threads);
    free(j.as);
    free(j.bs);
    free(j.cs);
    free(bias);
    return st;
}

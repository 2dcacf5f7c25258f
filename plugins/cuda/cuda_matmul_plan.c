/* GPU backends — MATMUL: C = alpha · op(A) · op(B) + bias + beta · C, the checks and the batching,
 * shared by CUDA and HIP; one GEMM is the vendor's (cuda_gemm_run: cuBLASLt in cuda_matmul.c, rocBLAS or
 * our tiled kernel in plugins/hip/hip_matmul.c).
 *
 * Supported: A and C f32, f16 or bf16, B f32, f16, bf16, f8e4m3 or f8e5m2 whatever A's dtype (ops.h: the
 * bf16 weights of a checkpoint under f32 activations; f8 weights with alpha as their scale), f32 accumulate
 * (never TF32 or another reduced-precision mode, so nothing is silently approximated), bias of C's dtype,
 * alpha/beta, trans_a, trans_b, 2-D or batched B. Mixed A/B dtypes run our tiled kernel (the GEMM libraries
 * take one input type). Refused with NOT_SUPPORTED: K == 0, row strides a column-major GEMM cannot express.
 *
 * When B is 2-D and the batch dims of A and C fold into their rows with one stride, the whole call is one
 * GEMM with M = batch · M; otherwise each batch matrix is its own GEMM (correctness first). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_internal.h"

typedef struct mm_params {
    int trans_a, trans_b;
    float alpha, beta;
} mm_params;

static void mm_read_params(const void *params, mm_params *p)
{
    const dio_matmul_params *mp = params;
    p->trans_a = 0;
    p->trans_b = 0;
    p->alpha = 1.0f;
    p->beta = 0.0f;
    if (CUDA_PARAM_FITS(mp, dio_matmul_params, trans_a)) p->trans_a = mp->trans_a != 0;
    if (CUDA_PARAM_FITS(mp, dio_matmul_params, trans_b)) p->trans_b = mp->trans_b != 0;
    if (CUDA_PARAM_FITS(mp, dio_matmul_params, alpha)) p->alpha = mp->alpha;
    if (CUDA_PARAM_FITS(mp, dio_matmul_params, beta)) p->beta = mp->beta;
}

static int row_stride_ok(int64_t stride, int64_t width, int64_t rows)
{
    return rows <= 1 || stride >= (width > 1 ? width : 1);
}

dio_status cuda_check_matmul(const cuda_backend *be, const dio_op_call *call, int32_t device)
{
    const dio_tensor *A, *B, *bias, *C;
    mm_params p;
    char s1[96], s2[96], s3[96];
    int nd;
    int64_t M, K, N, Kb;
    dio_status st = cuda_check_call(be, call, 2, 3, 2, 1, device);
    if (st != DIO_OK) return st;
    A = call->inputs[0];
    B = call->inputs[1];
    bias = call->n_inputs > 2 ? call->inputs[2] : NULL;
    C = call->outputs[0];
    mm_read_params(call->params, &p);

    if (!cuda_is_float_activation(A->dtype))
        return cuda_error(be, DIO_ERR_NOT_SUPPORTED,
                          "matmul: input A has dtype %s; activations must be f32, f16 or bf16",
                          dio_dtype_name(A->dtype));
    if (C->dtype != A->dtype)
        return cuda_error(be, DIO_ERR_INVALID_ARGUMENT,
                          "matmul: output C has dtype %s but A has %s; they must match",
                          dio_dtype_name(C->dtype), dio_dtype_name(A->dtype));
    if (!cuda_is_float_activation(B->dtype) && !cuda_is_f8(B->dtype))
        return cuda_error(be, DIO_ERR_NOT_SUPPORTED,
                          "matmul: input B has dtype %s; the " GPU_NAME
                          " backend takes f32, f16, bf16 or f8 weights",
                          dio_dtype_name(B->dtype));
    if (bias && bias->dtype != C->dtype)
        return cuda_error(be, DIO_ERR_NOT_SUPPORTED,
                          "matmul: input bias has dtype %s; the " GPU_NAME " backend needs C's (%s)",
                          dio_dtype_name(bias->dtype), dio_dtype_name(C->dtype));
    nd = A->ndim;
    if (nd < 2)
        return cuda_error(be, DIO_ERR_INVALID_ARGUMENT, "matmul: input A %s must have at least 2 dims",
                          cuda_shape_str(A, s1, sizeof(s1)));
    if (C->ndim != nd)
        return cuda_error(be, DIO_ERR_INVALID_ARGUMENT, "matmul: output C %s must have the rank of A %s",
                          cuda_shape_str(C, s1, sizeof(s1)), cuda_shape_str(A, s2, sizeof(s2)));
    if (B->ndim != 2 && B->ndim != nd)
        return cuda_error(be, DIO_ERR_INVALID_ARGUMENT,
                          "matmul: input B %s must be 2-D or have the rank of A %s (batched weights)",
                          cuda_shape_str(B, s1, sizeof(s1)), cuda_shape_str(A, s2, sizeof(s2)));
    M = p.trans_a ? A->shape[nd - 1] : A->shape[nd - 2];
    K = p.trans_a ? A->shape[nd - 2] : A->shape[nd - 1];
    Kb = p.trans_b ? B->shape[B->ndim - 1] : B->shape[B->ndim - 2];
    N = p.trans_b ? B->shape[B->ndim - 2] : B->shape[B->ndim - 1];
    for (int i = 0; i < nd - 2; i++)
        if (C->shape[i] != A->shape[i] || (B->ndim == nd && B->shape[i] != A->shape[i]))
            return cuda_error(be, DIO_ERR_INVALID_ARGUMENT,
                              "matmul: leading (batch) dims of A %s, B %s and C %s differ",
                              cuda_shape_str(A, s1, sizeof(s1)), cuda_shape_str(B, s2, sizeof(s2)),
                              cuda_shape_str(C, s3, sizeof(s3)));
    if (Kb != K)
        return cuda_error(
            be, DIO_ERR_INVALID_ARGUMENT,
            "matmul: inner dims differ: A %s (trans_a %d) has K = %lld, B %s (trans_b %d) has %lld",
            cuda_shape_str(A, s1, sizeof(s1)), p.trans_a, (long long)K, cuda_shape_str(B, s2, sizeof(s2)),
            p.trans_b, (long long)Kb);
    if (C->shape[nd - 2] != M || C->shape[nd - 1] != N)
        return cuda_error(be, DIO_ERR_INVALID_ARGUMENT, "matmul: output C %s must end in [%lld, %lld]",
                          cuda_shape_str(C, s1, sizeof(s1)), (long long)M, (long long)N);
    if (bias && (bias->ndim != 1 || bias->shape[0] != N))
        return cuda_error(be, DIO_ERR_INVALID_ARGUMENT, "matmul: input bias %s must be [%lld]",
                          cuda_shape_str(bias, s1, sizeof(s1)), (long long)N);
    if (bias && N > 1 && bias->stride[0] != 1)
        return cuda_error(be, DIO_ERR_NOT_SUPPORTED, "matmul: input bias must be contiguous");
    if (A->shape[nd - 1] > 1 && A->stride[nd - 1] != 1)
        return cuda_error(be, DIO_ERR_NOT_SUPPORTED,
                          "matmul: input A: the last dim must be contiguous (stride %lld)",
                          (long long)A->stride[nd - 1]);
    if (C->shape[nd - 1] > 1 && C->stride[nd - 1] != 1)
        return cuda_error(be, DIO_ERR_NOT_SUPPORTED,
                          "matmul: output C: the last dim must be contiguous (stride %lld)",
                          (long long)C->stride[nd - 1]);
    if (!dio_tensor_is_contiguous(B))
        return cuda_error(be, DIO_ERR_NOT_SUPPORTED, "matmul: input B %s must be contiguous",
                          cuda_shape_str(B, s1, sizeof(s1)));
    if (!row_stride_ok(C->stride[nd - 2], N, M))
        return cuda_error(be, DIO_ERR_INVALID_ARGUMENT,
                          "matmul: output C: rows overlap (row stride %lld for rows of %lld)",
                          (long long)C->stride[nd - 2], (long long)N);
    if (!row_stride_ok(A->stride[nd - 2], A->shape[nd - 1], A->shape[nd - 2]))
        return cuda_error(
            be, DIO_ERR_NOT_SUPPORTED,
            "matmul: input A: row stride %lld below the row length %lld (a GEMM needs ld >= rows)",
            (long long)A->stride[nd - 2], (long long)A->shape[nd - 1]);
    if (K == 0 && M > 0 && N > 0)
        return cuda_error(be, DIO_ERR_NOT_SUPPORTED, "matmul: K == 0 is not implemented on " GPU_NAME);
    return DIO_OK;
}

/* 1 when dims [0, last] of t fold into one dim of stride t->stride[last] (size-1 dims ignored). */
static int folds(const dio_tensor *t, int last)
{
    int64_t expect = t->stride[last] * t->shape[last];
    for (int i = last - 1; i >= 0; i--) {
        if (t->shape[i] == 1) continue;
        if (t->stride[i] != expect) return 0;
        expect *= t->shape[i];
    }
    return 1;
}

dio_status cuda_op_matmul(void *ctx, dio_stream *stream, const dio_op_call *call)
{
    cuda_backend *be = ctx;
    const dio_tensor *A, *B, *bias, *C;
    mm_params p;
    cuda_gemm g;
    int nd;
    int64_t batch = 1;
    size_t es;
    cudaError_t err;
    dio_status st;
    if (!be || !call || !stream) return DIO_ERR_INVALID_ARGUMENT;
    if ((st = cuda_check_matmul(be, call, stream->device)) != DIO_OK) return st;
    A = call->inputs[0];
    B = call->inputs[1];
    bias = call->n_inputs > 2 ? call->inputs[2] : NULL;
    C = call->outputs[0];
    mm_read_params(call->params, &p);
    nd = A->ndim;
    es = dio_dtype_size(A->dtype);
    if (dio_tensor_numel(C) == 0) return DIO_OK;
    if ((err = cudaSetDevice(stream->device)) != cudaSuccess)
        return cuda_rt_error(be, err, GPU_RT "SetDevice");
    memset(&g, 0, sizeof(g));
    g.dtype = A->dtype;
    g.b_dtype = B->dtype;
    g.trans_a = p.trans_a;
    g.trans_b = p.trans_b;
    g.alpha = p.alpha;
    g.beta = p.beta;
    g.M = (uint64_t)C->shape[nd - 2];
    g.N = (uint64_t)C->shape[nd - 1];
    g.K = (uint64_t)(p.trans_a ? A->shape[nd - 2] : A->shape[nd - 1]);
    g.bias = bias ? cuda_tensor_data(bias) : NULL;
    /* ld must be >= the column-major row count; a single row/column may carry any stride. */
    g.lda = A->shape[nd - 2] > 1 ? A->stride[nd - 2] : A->shape[nd - 1];
    g.ldc = C->shape[nd - 2] > 1 ? C->stride[nd - 2] : C->shape[nd - 1];
    if (g.lda < 1) g.lda = 1;
    if (g.ldc < 1) g.ldc = 1;
    for (int i = 0; i < nd - 2; i++) batch *= C->shape[i];

    if (batch == 1 ||
        (B->ndim == 2 && !p.trans_a && A->shape[nd - 2] > 1 && folds(A, nd - 2) && folds(C, nd - 2))) {
        g.M *= (uint64_t)batch;
        g.a = cuda_tensor_data(A);
        g.b = cuda_tensor_data(B);
        g.c = cuda_tensor_data(C);
        return cuda_gemm_run(be, stream, &g);
    }
    for (int64_t bi = 0; bi < batch; bi++) {
        int64_t rem = bi, oa = 0, ob = 0, oc = 0, bmat = (int64_t)(g.K * g.N);
        for (int i = nd - 3; i >= 0; i--) {
            int64_t c = rem % C->shape[i];
            rem /= C->shape[i];
            oa += c * A->stride[i];
            oc += c * C->stride[i];
        }
        if (B->ndim == nd) ob = bi * bmat; /* B contiguous: batch matrices back to back */
        g.a = (const char *)cuda_tensor_data(A) + oa * (int64_t)es;
        g.b = (const char *)cuda_tensor_data(B) + ob * (int64_t)dio_dtype_size(B->dtype);
        g.c = (char *)cuda_tensor_data(C) + oc * (int64_t)es;
        if ((st = cuda_gemm_run(be, stream, &g)) != DIO_OK) return st;
    }
    return DIO_OK;
}

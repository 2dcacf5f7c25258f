/* CUDA backend — MATMUL through cuBLASLt: C = alpha · op(A) · op(B) + bias + beta · C.
 *
 * Supported: A, B, C all f32, all f16 or all bf16 (B's dtype equal to A's), f32 accumulate (f32 inputs
 * use CUBLAS_COMPUTE_32F, never TF32, so nothing is silently approximated), bias of C's dtype through
 * the BIAS epilogue, alpha/beta, trans_a, trans_b, 2-D or batched B. Refused with NOT_SUPPORTED:
 * f8 weights, B of another dtype than A, K == 0, row strides cuBLASLt cannot express.
 *
 * Row-major to column-major: a row-major X [r, c] with row stride ld is the column-major X^T [c, r]
 * with leading dimension ld, so C = A·B is computed as C^T = B^T · A^T with cuBLASLt's "A" = our B and
 * "B" = our A; the bias (length N) is then per row of C^T, which is what the BIAS epilogue adds. When B
 * is 2-D and the batch dims of A and C fold into their rows with one stride, the whole call is one
 * GEMM with M = batch · M; otherwise each batch matrix is its own GEMM (correctness first). The
 * workspace (32 MiB) belongs to the stream, so concurrent streams never share one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cublasLt.h>

#include "cuda_internal.h"

#define CUDA_LT_WORKSPACE ((size_t)32 << 20)

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

dio_status cuda_lt_create(cuda_backend *be, cuda_device *d)
{
    cublasLtHandle_t h = NULL;
    cublasStatus_t s = cublasLtCreate(&h);
    if (s != CUBLAS_STATUS_SUCCESS)
        return cuda_error(be, DIO_ERR_BACKEND_FAILURE, "cuda: cublasLtCreate on device %d: %s", d->ordinal,
                          cublasLtGetStatusString(s));
    d->lt = h;
    return DIO_OK;
}

void cuda_lt_destroy(cuda_device *d)
{
    if (!d || !d->lt) return;
    cublasLtDestroy((cublasLtHandle_t)d->lt);
    d->lt = NULL;
}

void cuda_stream_release_workspace(dio_stream *s)
{
    if (!s || !s->workspace) return;
    cudaFree(s->workspace);
    s->workspace = NULL;
    s->workspace_size = 0;
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
    if (B->dtype != A->dtype)
        return cuda_error(
            be, DIO_ERR_NOT_SUPPORTED,
            "matmul: input B has dtype %s and A %s; the cuda backend needs them equal (no f8 or mixed "
            "weights yet)",
            dio_dtype_name(B->dtype), dio_dtype_name(A->dtype));
    if (bias && bias->dtype != C->dtype)
        return cuda_error(be, DIO_ERR_NOT_SUPPORTED,
                          "matmul: input bias has dtype %s; the cuda backend needs C's (%s)",
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
            "matmul: input A: row stride %lld below the row length %lld (cuBLASLt needs ld >= rows)",
            (long long)A->stride[nd - 2], (long long)A->shape[nd - 1]);
    if (K == 0 && M > 0 && N > 0)
        return cuda_error(be, DIO_ERR_NOT_SUPPORTED, "matmul: K == 0 is not implemented on cuda");
    return DIO_OK;
}

static cudaDataType_t lt_type(int32_t dtype)
{
    return dtype == DIO_DTYPE_F16 ? CUDA_R_16F : dtype == DIO_DTYPE_BF16 ? CUDA_R_16BF : CUDA_R_32F;
}

/* One GEMM in cuBLASLt terms (column-major): D[n, m] = alpha · opA(Bm) · opB(Am) + beta · D + bias. */
typedef struct lt_gemm {
    int32_t dtype;
    int trans_a, trans_b;
    float alpha, beta;
    uint64_t M, N, K;
    int64_t lda, ldc;
    const void *a, *b, *bias;
    void *c;
} lt_gemm;

#define LT_TRY(call, what)                                                                                   \
    do {                                                                                                     \
        cublasStatus_t s_ = (call);                                                                          \
        if (s_ != CUBLAS_STATUS_SUCCESS) {                                                                   \
            st = cuda_error(be, DIO_ERR_BACKEND_FAILURE, "matmul: %s: %s", what,                             \
                            cublasLtGetStatusString(s_));                                                    \
            goto fail;                                                                                       \
        }                                                                                                    \
    } while (0)

static dio_status lt_run(cuda_backend *be, dio_stream *stream, const lt_gemm *g)
{
    cublasLtHandle_t h = (cublasLtHandle_t)be->dev[stream->device].lt;
    cublasLtMatmulDesc_t op = NULL;
    cublasLtMatrixLayout_t la = NULL, lb = NULL, lc = NULL;
    cublasLtMatmulPreference_t pref = NULL;
    cublasLtMatmulHeuristicResult_t heur;
    cudaDataType_t t = lt_type(g->dtype);
    cublasOperation_t opa = g->trans_b ? CUBLAS_OP_T : CUBLAS_OP_N; /* cuBLASLt A is our B */
    cublasOperation_t opb = g->trans_a ? CUBLAS_OP_T : CUBLAS_OP_N; /* cuBLASLt B is our A */
    uint64_t ws = stream->workspace_size;
    int n_found = 0;
    dio_status st = DIO_OK;
    memset(&heur, 0, sizeof(heur));
    LT_TRY(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F), "cublasLtMatmulDescCreate");
    LT_TRY(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &opa, sizeof(opa)), "TRANSA");
    LT_TRY(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &opb, sizeof(opb)), "TRANSB");
    if (g->bias) {
        cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
        LT_TRY(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi)),
               "EPILOGUE");
        LT_TRY(
            cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &g->bias, sizeof(g->bias)),
            "BIAS_POINTER");
    }
    /* Our B: [K, N] row-major is [N, K] column-major with ld N; trans_b stores [N, K], i.e. [K, N] col-major.
     */
    LT_TRY(g->trans_b ? cublasLtMatrixLayoutCreate(&la, t, g->K, g->N, (int64_t)g->K)
                      : cublasLtMatrixLayoutCreate(&la, t, g->N, g->K, (int64_t)g->N),
           "layout B");
    /* Our A: [M, K] row-major (row stride lda) is [K, M] column-major; trans_a stores [K, M]: [M, K]. */
    LT_TRY(g->trans_a ? cublasLtMatrixLayoutCreate(&lb, t, g->M, g->K, g->lda)
                      : cublasLtMatrixLayoutCreate(&lb, t, g->K, g->M, g->lda),
           "layout A");
    LT_TRY(cublasLtMatrixLayoutCreate(&lc, t, g->N, g->M, g->ldc), "layout C");
    LT_TRY(cublasLtMatmulPreferenceCreate(&pref), "cublasLtMatmulPreferenceCreate");
    LT_TRY(
        cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)),
        "MAX_WORKSPACE_BYTES");
    LT_TRY(cublasLtMatmulAlgoGetHeuristic(h, op, la, lb, lc, lc, pref, 1, &heur, &n_found), "heuristic");
    if (n_found < 1) {
        st = cuda_error(be, DIO_ERR_NOT_SUPPORTED,
                        "matmul: cuBLASLt has no algorithm for %s M=%llu N=%llu K=%llu (lda %lld, ldc %lld)",
                        dio_dtype_name(g->dtype), (unsigned long long)g->M, (unsigned long long)g->N,
                        (unsigned long long)g->K, (long long)g->lda, (long long)g->ldc);
        goto fail;
    }
    LT_TRY(cublasLtMatmul(h, op, &g->alpha, g->b, la, g->a, lb, &g->beta, g->c, lc, g->c, lc, &heur.algo,
                          stream->workspace, stream->workspace_size, stream->s),
           "cublasLtMatmul");
fail:
    if (pref) cublasLtMatmulPreferenceDestroy(pref);
    if (lc) cublasLtMatrixLayoutDestroy(lc);
    if (lb) cublasLtMatrixLayoutDestroy(lb);
    if (la) cublasLtMatrixLayoutDestroy(la);
    if (op) cublasLtMatmulDescDestroy(op);
    return st;
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
    lt_gemm g;
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
    if ((err = cudaSetDevice(stream->device)) != cudaSuccess) return cuda_rt_error(be, err, "cudaSetDevice");
    if (!stream->workspace) {
        if ((err = cudaMalloc(&stream->workspace, CUDA_LT_WORKSPACE)) != cudaSuccess) {
            stream->workspace = NULL;
            return cuda_rt_error(be, err, "cudaMalloc (cuBLASLt workspace)");
        }
        stream->workspace_size = CUDA_LT_WORKSPACE;
    }
    memset(&g, 0, sizeof(g));
    g.dtype = A->dtype;
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
        return lt_run(be, stream, &g);
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
        g.b = (const char *)cuda_tensor_data(B) + ob * (int64_t)es;
        g.c = (char *)cuda_tensor_data(C) + oc * (int64_t)es;
        if ((st = lt_run(be, stream, &g)) != DIO_OK) return st;
    }
    return DIO_OK;
}

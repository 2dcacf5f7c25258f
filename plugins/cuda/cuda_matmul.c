/* CUDA backend — one GEMM through cuBLASLt (cuda_gemm_run; the checks and batching are cuda_matmul_plan.c).
 *
 * f32 inputs use CUBLAS_COMPUTE_32F, never TF32; f16 and bf16 accumulate in f32. The bias is the BIAS
 * epilogue. Row-major to column-major: a row-major X [r, c] with row stride ld is the column-major X^T
 * [c, r] with leading dimension ld, so C = A·B is computed as C^T = B^T · A^T with cuBLASLt's "A" = our B
 * and "B" = our A; the bias (length N) is then per row of C^T, which is what the BIAS epilogue adds. The
 * workspace (32 MiB) belongs to the stream, so concurrent streams never share one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cublasLt.h>

#include "cuda_internal.h"

#define CUDA_LT_WORKSPACE ((size_t)32 << 20)

dio_status cuda_blas_create(cuda_backend *be, cuda_device *d)
{
    cublasLtHandle_t h = NULL;
    cublasStatus_t s = cublasLtCreate(&h);
    if (s != CUBLAS_STATUS_SUCCESS)
        return cuda_error(be, DIO_ERR_BACKEND_FAILURE, "cuda: cublasLtCreate on device %d: %s", d->ordinal,
                          cublasLtGetStatusString(s));
    d->blas = h;
    return DIO_OK;
}

void cuda_blas_destroy(cuda_device *d)
{
    if (!d || !d->blas) return;
    cublasLtDestroy((cublasLtHandle_t)d->blas);
    d->blas = NULL;
}

void cuda_stream_release_workspace(dio_stream *s)
{
    if (!s || !s->workspace) return;
    cudaFree(s->workspace);
    s->workspace = NULL;
    s->workspace_size = 0;
}

static cudaDataType_t lt_type(int32_t dtype)
{
    return dtype == DIO_DTYPE_F16 ? CUDA_R_16F : dtype == DIO_DTYPE_BF16 ? CUDA_R_16BF : CUDA_R_32F;
}

#define LT_TRY(call, what)                                                                                   \
    do {                                                                                                     \
        cublasStatus_t s_ = (call);                                                                          \
        if (s_ != CUBLAS_STATUS_SUCCESS) {                                                                   \
            st = cuda_error(be, DIO_ERR_BACKEND_FAILURE, "matmul: %s: %s", what,                             \
                            cublasLtGetStatusString(s_));                                                    \
            goto fail;                                                                                       \
        }                                                                                                    \
    } while (0)

/* The cuBLASLt GEMM; DIORAMA_GPU_GEMM=tiled runs our tiled kernel instead (a second opinion in tests). */
dio_status cuda_gemm_run(cuda_backend *be, dio_stream *stream, const cuda_gemm *g)
{
    cublasLtHandle_t h = (cublasLtHandle_t)be->dev[stream->device].blas;
    cublasLtMatmulDesc_t op = NULL;
    cublasLtMatrixLayout_t la = NULL, lb = NULL, lc = NULL;
    cublasLtMatmulPreference_t pref = NULL;
    cublasLtMatmulHeuristicResult_t heur;
    cudaDataType_t t = lt_type(g->dtype);
    cublasOperation_t opa = g->trans_b ? CUBLAS_OP_T : CUBLAS_OP_N; /* cuBLASLt A is our B */
    cublasOperation_t opb = g->trans_a ? CUBLAS_OP_T : CUBLAS_OP_N; /* cuBLASLt B is our A */
    uint64_t ws;
    int n_found = 0;
    dio_status st = DIO_OK;
    const char *which = getenv("DIORAMA_GPU_GEMM");
    cudaError_t err;
    if ((which && strcmp(which, "tiled") == 0) || g->b_dtype != g->dtype) { /* cuBLASLt: one input type */
        if ((err = cuda_gemm_tiled_launch(g, stream->s)) != cudaSuccess)
            return cuda_rt_error(be, err, "tiled GEMM kernel launch");
        return DIO_OK;
    }
    if (!stream->workspace) {
        if ((err = cudaMalloc(&stream->workspace, CUDA_LT_WORKSPACE)) != cudaSuccess) {
            stream->workspace = NULL;
            return cuda_rt_error(be, err, "cudaMalloc (cuBLASLt workspace)");
        }
        stream->workspace_size = CUDA_LT_WORKSPACE;
    }
    ws = stream->workspace_size;
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

/* HIP backend — one GEMM (cuda_gemm_run; the checks and batching are plugins/cuda/cuda_matmul_plan.c):
 * rocBLAS when the library can be opened at run time, else our tiled kernel (cuda_gemm_tiled_kernels.cu).
 *
 * rocBLAS is not a Debian package, so the plugin has no build-time dependency on it: the few entry points
 * used are declared here with their documented ABI (handles, the rocblas_operation and rocblas_datatype
 * enum values, rocblas_gemm_ex) and looked up with dlopen/dlsym once per process. Its GEMM is column-major
 * like cuBLAS, so the same transposition as the CUDA path applies: C^T = B^T · A^T with rocBLAS's "A" =
 * our B. rocblas_gemm_ex has no bias epilogue, so with beta == 0 (every linear layer) the bias is first
 * written into C's rows by the element-wise kernel and the GEMM runs with beta = 1: the sum is formed in
 * f32 and rounded once, as cuBLASLt's epilogue does. With both a bias and beta != 0, f32 adds the bias
 * afterwards and f16/bf16 take the tiled kernel (one rounding). Dimensions beyond rocBLAS's 32-bit ints,
 * B of another dtype than A, and DIORAMA_GPU_GEMM=tiled take the tiled kernel. hipBLASLt is not used yet.
 * Nothing here has run on AMD hardware. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_internal.h"

/* rocBLAS's ABI (rocblas-types.h, rocblas-functions.h): enums are ints, the handle is opaque. */
typedef void *roc_handle;
enum { ROC_SUCCESS = 0, ROC_OP_N = 111, ROC_OP_T = 112, ROC_F16 = 150, ROC_F32 = 151, ROC_BF16 = 168 };
typedef int (*roc_create_fn)(roc_handle *handle);
typedef int (*roc_destroy_fn)(roc_handle handle);
typedef int (*roc_set_stream_fn)(roc_handle handle, hipStream_t stream);
typedef int (*roc_gemm_ex_fn)(roc_handle handle, int trans_a, int trans_b, int32_t m, int32_t n, int32_t k,
                              const void *alpha, const void *a, int a_type, int32_t lda, const void *b,
                              int b_type, int32_t ldb, const void *beta, const void *c, int c_type,
                              int32_t ldc, void *d, int d_type, int32_t ldd, int compute_type, int algo,
                              int32_t solution, uint32_t flags);

static struct {
    pthread_once_t once;
    void *lib;
    roc_create_fn create;
    roc_destroy_fn destroy;
    roc_set_stream_fn set_stream;
    roc_gemm_ex_fn gemm_ex;
    char why[256]; /* why rocBLAS is not used, for the log */
} g_roc = {PTHREAD_ONCE_INIT, NULL, NULL, NULL, NULL, NULL, ""};

static void roc_open(void)
{
    static const char *const names[] = {"librocblas.so.4", "librocblas.so.3", "librocblas.so.0",
                                        "librocblas.so"};
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !g_roc.lib; i++)
        g_roc.lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!g_roc.lib) {
        snprintf(g_roc.why, sizeof g_roc.why, "librocblas.so not found");
        return;
    }
    *(void **)&g_roc.create = dlsym(g_roc.lib, "rocblas_create_handle");
    *(void **)&g_roc.destroy = dlsym(g_roc.lib, "rocblas_destroy_handle");
    *(void **)&g_roc.set_stream = dlsym(g_roc.lib, "rocblas_set_stream");
    *(void **)&g_roc.gemm_ex = dlsym(g_roc.lib, "rocblas_gemm_ex");
    if (!g_roc.create || !g_roc.destroy || !g_roc.set_stream || !g_roc.gemm_ex) {
        snprintf(g_roc.why, sizeof g_roc.why, "librocblas lacks rocblas_gemm_ex or its handle functions");
        dlclose(g_roc.lib);
        g_roc.lib = NULL;
    }
}

dio_status cuda_blas_create(cuda_backend *be, cuda_device *d)
{
    roc_handle h = NULL;
    int s;
    pthread_once(&g_roc.once, roc_open);
    d->blas = NULL;
    if (!g_roc.lib) {
        be->host->log(DIO_LOG_INFO, GPU_NAME, "device %d: %s; matmul runs our tiled kernel", d->ordinal,
                      g_roc.why);
        return DIO_OK;
    }
    if ((s = g_roc.create(&h)) != ROC_SUCCESS)
        return cuda_error(be, DIO_ERR_BACKEND_FAILURE,
                          GPU_NAME ": rocblas_create_handle on device %d: status %d", d->ordinal, s);
    d->blas = h;
    return DIO_OK;
}

void cuda_blas_destroy(cuda_device *d)
{
    if (!d || !d->blas) return;
    g_roc.destroy(d->blas);
    d->blas = NULL;
}

void cuda_stream_release_workspace(dio_stream *s)
{
    (void)s; /* rocBLAS manages its own workspace; the tiled kernel needs none */
}

static int roc_type(int32_t dtype)
{
    return dtype == DIO_DTYPE_F16 ? ROC_F16 : dtype == DIO_DTYPE_BF16 ? ROC_BF16 : ROC_F32;
}

static dio_status run_tiled(cuda_backend *be, dio_stream *stream, const cuda_gemm *g)
{
    cudaError_t err = cuda_gemm_tiled_launch(g, stream->s);
    return err == cudaSuccess ? DIO_OK : cuda_rt_error(be, err, "tiled GEMM kernel launch");
}

/* C = bias (add = 0) or C += bias (add = 1), broadcast over the rows, by the element-wise kernel. */
static dio_status apply_bias(cuda_backend *be, dio_stream *stream, const cuda_gemm *g, int add)
{
    cuda_ew_desc d;
    cudaError_t err;
    memset(&d, 0, sizeof d);
    d.op = add ? CUDA_EW_ADD : CUDA_EW_RAW;
    d.ndim = 2;
    d.n_in = add ? 2 : 1;
    d.out_dtype = d.in_dtype[0] = d.in_dtype[1] = g->dtype;
    d.numel = (int64_t)(g->M * g->N);
    d.shape[0] = (int64_t)g->M;
    d.shape[1] = (int64_t)g->N;
    d.out_stride[0] = g->ldc;
    d.out_stride[1] = 1;
    d.out = g->c;
    if (add) {
        d.in_stride[0][0] = g->ldc;
        d.in_stride[0][1] = 1;
        d.in_stride[1][0] = 0;
        d.in_stride[1][1] = 1;
        d.in[0] = g->c;
        d.in[1] = g->bias;
    } else {
        d.in_stride[0][0] = 0;
        d.in_stride[0][1] = 1;
        d.in[0] = g->bias;
    }
    err = cuda_ew_launch(&d, stream->s);
    return err == cudaSuccess ? DIO_OK : cuda_rt_error(be, err, "bias kernel launch");
}

dio_status cuda_gemm_run(cuda_backend *be, dio_stream *stream, const cuda_gemm *g)
{
    roc_handle h = be->dev[stream->device].blas;
    const char *which = getenv("DIORAMA_GPU_GEMM");
    const int bias_first = g->bias && g->beta == 0.0f;
    const float beta = bias_first ? 1.0f : g->beta;
    dio_status st;
    int s;
    if (!h || (which && strcmp(which, "tiled") == 0) || g->b_dtype != g->dtype || g->M > INT32_MAX ||
        g->N > INT32_MAX || g->K > INT32_MAX || g->lda > INT32_MAX || g->ldc > INT32_MAX ||
        (g->bias && g->beta != 0.0f && g->dtype != DIO_DTYPE_F32))
        return run_tiled(be, stream, g);
    if (bias_first && (st = apply_bias(be, stream, g, 0)) != DIO_OK) return st;
    if ((s = g_roc.set_stream(h, stream->s)) != ROC_SUCCESS)
        return cuda_error(be, DIO_ERR_BACKEND_FAILURE, "matmul: rocblas_set_stream: status %d", s);
    s = g_roc.gemm_ex(h, g->trans_b ? ROC_OP_T : ROC_OP_N, g->trans_a ? ROC_OP_T : ROC_OP_N, (int32_t)g->N,
                      (int32_t)g->M, (int32_t)g->K, &g->alpha, g->b, roc_type(g->dtype),
                      (int32_t)(g->trans_b ? g->K : g->N), g->a, roc_type(g->dtype), (int32_t)g->lda, &beta,
                      g->c, roc_type(g->dtype), (int32_t)g->ldc, g->c, roc_type(g->dtype), (int32_t)g->ldc,
                      ROC_F32, 0, 0, 0);
    if (s != ROC_SUCCESS)
        return cuda_error(be, DIO_ERR_BACKEND_FAILURE,
                          "matmul: rocblas_gemm_ex (%s M=%llu N=%llu K=%llu): status %d",
                          dio_dtype_name(g->dtype), (unsigned long long)g->M, (unsigned long long)g->N,
                          (unsigned long long)g->K, s);
    return g->bias && !bias_first ? apply_bias(be, stream, g, 1) : DIO_OK;
}

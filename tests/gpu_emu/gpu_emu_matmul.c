/* The SIMT emulator plugin's GEMM (cuda_gemm_run; the checks and batching are plugins/cuda/
 * cuda_matmul_plan.c): always our tiled kernel, the HIP backend's fallback where no rocBLAS is present,
 * so the emulator is that kernel's test on every CI run. There is no library handle and no workspace. */
#include "cuda_internal.h"

dio_status cuda_blas_create(cuda_backend *be, cuda_device *d)
{
    (void)be;
    d->blas = NULL;
    return DIO_OK;
}

void cuda_blas_destroy(cuda_device *d)
{
    (void)d;
}

void cuda_stream_release_workspace(dio_stream *s)
{
    (void)s;
}

dio_status cuda_gemm_run(cuda_backend *be, dio_stream *stream, const cuda_gemm *g)
{
    cudaError_t err = cuda_gemm_tiled_launch(g, stream->s);
    return err == cudaSuccess ? DIO_OK : cuda_rt_error(be, err, "tiled GEMM kernel launch");
}

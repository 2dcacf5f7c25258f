/* CUDA backend — what the files share: the backend context, buffers and streams, call validation and
 * the element-wise launch descriptor.
 *
 * Design: host code is C (cuda_backend.c, cuda_common.c, cuda_elementwise.c, cuda_matmul.c) and checks
 * every call exactly as the op would before anything is queued; device code lives in .cu files, one op
 * family per file, behind plain C entry points (this header is shared by both languages). Every op
 * runs on the stream it is given and on that stream's device; tensors must live on that device. */
#ifndef DIO_CUDA_INTERNAL_H
#define DIO_CUDA_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "gpu_vendor.h"

#include "diorama/backend.h"
#include "diorama/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cuda_device {
    int ordinal;
    cudaStream_t stream; /* the device's own stream: synchronous transfers (stream NULL) */
    void *blas;          /* the matmul library's handle (cuBLASLt; rocBLAS on HIP), made in create() */
} cuda_device;

typedef struct cuda_backend {
    const dio_host_services *host;
    int n_devices;
    cuda_device *dev;
} cuda_backend;

struct dio_buffer {
    void *ptr; /* device memory from cudaMalloc */
    uint64_t size;
    int32_t device;
};

struct dio_stream {
    int32_t device;
    cudaStream_t s;
    void *workspace; /* the matmul library's workspace, allocated on the first matmul on this stream */
    size_t workspace_size;
};

/* Sets the thread's error through the host and returns status. */
dio_status cuda_error(const cuda_backend *be, dio_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* BACKEND_FAILURE naming the CUDA call and its error string (OUT_OF_DEVICE_MEMORY for allocation). */
dio_status cuda_rt_error(const cuda_backend *be, cudaError_t err, const char *what);

/* ---- validation (cuda_common.c) ---- */

/* Byte address of element 0. The tensor must have passed cuda_check_tensor. */
static inline void *cuda_tensor_data(const dio_tensor *t)
{
    return (char *)t->buffer->ptr + t->offset;
}

/* A view of this backend: known dtype, 0..6 dims, non-negative shape, every addressed byte inside its
 * buffer, element 0 aligned to the element size, buffer on `device`. */
dio_status cuda_check_tensor(const cuda_backend *be, const dio_tensor *t, const char *what, int32_t device);
/* Arity and tensor checks of a call run on `device`; required slots non-NULL. */
dio_status cuda_check_call(const cuda_backend *be, const dio_op_call *call, int min_inputs, int max_inputs,
                           int n_required_inputs, int n_outputs, int32_t device);
int cuda_is_float_activation(int32_t dtype);
int cuda_same_shape(const dio_tensor *a, const dio_tensor *b);
const char *cuda_shape_str(const dio_tensor *t, char *buf, size_t n);

/* 1 when the caller's parameter struct holds `field` (ops.h: read only the fields that fit). */
#define CUDA_PARAM_FITS(p, type, field)                                                                      \
    ((p) != NULL &&                                                                                          \
     (size_t)((const type *)(p))->struct_size >= offsetof(type, field) + sizeof(((const type *)0)->field))

/* ---- element-wise launch (cuda_elementwise_kernels.cu) ---- */

enum {
    CUDA_EW_ADD = 0,
    CUDA_EW_MUL,
    CUDA_EW_AXPBY, /* p0 * in0 + p1 * in1 */
    CUDA_EW_AX,    /* p0 * in0 */
    CUDA_EW_CLAMP, /* p0 lo, p1 hi */
    CUDA_EW_CONVERT,
    CUDA_EW_RAW, /* same dtype, bits copied */
    CUDA_EW_SILU,
    CUDA_EW_GELU_ERF,
    CUDA_EW_GELU_TANH,
    CUDA_EW_SWIGLU /* silu(in0) * in1 */
};

#define CUDA_EW_MAX_IN 2

/* Operands described on the output's shape: a broadcast dim has stride 0. Strides in elements. */
typedef struct cuda_ew_desc {
    int32_t op;
    int32_t ndim;
    int32_t n_in;
    int32_t out_dtype;
    int32_t in_dtype[CUDA_EW_MAX_IN];
    float p0, p1;
    int64_t numel;
    int64_t shape[DIO_MAX_DIMS];
    int64_t out_stride[DIO_MAX_DIMS];
    int64_t in_stride[CUDA_EW_MAX_IN][DIO_MAX_DIMS];
    void *out;
    const void *in[CUDA_EW_MAX_IN];
} cuda_ew_desc;

/* Queues the kernel on `s`; returns the launch status. */
cudaError_t cuda_ew_launch(const cuda_ew_desc *d, cudaStream_t s);

/* ---- op entry points ---- */

#define CUDA_DECLARE_OP(name)                                                                                \
    dio_status cuda_check_##name(const cuda_backend *be, const dio_op_call *call, int32_t device);           \
    dio_status cuda_op_##name(void *ctx, dio_stream *stream, const dio_op_call *call);

CUDA_DECLARE_OP(matmul) /* cuda_matmul_plan.c */
CUDA_DECLARE_OP(add)    /* cuda_elementwise.c */
CUDA_DECLARE_OP(mul)
CUDA_DECLARE_OP(axpby)
CUDA_DECLARE_OP(clamp)
CUDA_DECLARE_OP(copy)
CUDA_DECLARE_OP(silu)
CUDA_DECLARE_OP(gelu)
CUDA_DECLARE_OP(swiglu)

/* ---- matmul: the checks and the batching are shared (cuda_matmul_plan.c); one GEMM is the vendor's ---- */

/* One row-major GEMM: C[M, N] = alpha · op(A)[M, K] · op(B)[K, N] + bias[N] + beta · C, all of `dtype`
 * (f32, f16 or bf16), f32 accumulation. A has row stride lda (op(A) = A^T when trans_a: A is [K, M]);
 * B is contiguous ([K, N], or [N, K] when trans_b); C has row stride ldc. bias may be NULL. */
typedef struct cuda_gemm {
    int32_t dtype;
    int trans_a, trans_b;
    float alpha, beta;
    uint64_t M, N, K;
    int64_t lda, ldc;
    const void *a, *b, *bias;
    void *c;
} cuda_gemm;

/* Runs one GEMM on the stream (cuda_matmul.c: cuBLASLt; plugins/hip/hip_matmul.c: rocBLAS when present,
 * else the tiled kernel). */
dio_status cuda_gemm_run(cuda_backend *be, dio_stream *stream, const cuda_gemm *g);
/* Our own tiled kernel for one GEMM (cuda_gemm_tiled_kernels.cu): the fallback where no BLAS library is
 * present, and a second opinion on NVIDIA (DIORAMA_GPU_GEMM=tiled). Queues on `s`; the launch status. */
cudaError_t cuda_gemm_tiled_launch(const cuda_gemm *g, cudaStream_t s);

/* The matmul library's handle (cuda_matmul.c: cuBLASLt; plugins/hip/hip_matmul.c: rocBLAS when present)
 * and the per-stream workspace some libraries want. */
dio_status cuda_blas_create(cuda_backend *be, cuda_device *d);
void cuda_blas_destroy(cuda_device *d);
void cuda_stream_release_workspace(dio_stream *s);

#ifdef __cplusplus
}
#endif
#endif

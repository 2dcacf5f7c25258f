/* GPU backends (CUDA, HIP, and the tests' SIMT emulator) — what the files share: the backend context,
 * buffers and streams, call validation, and one launch descriptor per kernel family.
 *
 * Design: host code is C (cuda_backend.c, cuda_common.c, one cuda_<family>.c per op family, the vendor's
 * GEMM file) and checks every call exactly as the op would before anything is queued; device code lives
 * in .cu files, one op family per file, behind plain C entry points taking a descriptor by value (this
 * header is shared by both languages). Every op
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
/* f8e4m3 or f8e5m2: loadable by the kernels (weights, tables, copies to a float dtype), never stored. */
int cuda_is_f8(int32_t dtype);
int cuda_same_shape(const dio_tensor *a, const dio_tensor *b);
const char *cuda_shape_str(const dio_tensor *t, char *buf, size_t n);
/* INVALID_ARGUMENT when t's element count overflows (or passes 2^62). */
dio_status cuda_check_numel(const cuda_backend *be, const char *op, const char *what, const dio_tensor *t);
/* Activations of one call share a dtype: INVALID_ARGUMENT naming both when t's is not ref's. */
dio_status cuda_check_dtype_as(const cuda_backend *be, const char *op, const char *what, const dio_tensor *t,
                               const char *ref_name, const dio_tensor *ref);
/* INVALID_ARGUMENT naming both shapes when t's is not ref's. */
dio_status cuda_check_shape_as(const cuda_backend *be, const char *op, const char *what, const dio_tensor *t,
                               const char *ref_name, const dio_tensor *ref);
/* A modulation tensor (AdaLN shift/scale, the residual gate): x's dtype, [B, G, C] against x [B, L, C]
 * with G >= 1 dividing L (ops.h's groups rule). */
dio_status cuda_check_modulation(const cuda_backend *be, const char *op, const char *what,
                                 const dio_tensor *t, const dio_tensor *x);
/* NOT_SUPPORTED unless t is f32, f16 or bf16. */
dio_status cuda_check_float(const cuda_backend *be, const char *op, const char *what, const dio_tensor *t);
/* INVALID_ARGUMENT unless t has ndim dims. */
dio_status cuda_check_ndim(const cuda_backend *be, const char *op, const char *what, const dio_tensor *t,
                           int ndim);
/* Sets the stream's device and queues nothing: the launch prologue of every op. */
dio_status cuda_use_device(cuda_backend *be, dio_stream *stream);
/* The status of a kernel launch, naming the kernel. */
dio_status cuda_launch_status(cuda_backend *be, cudaError_t err, const char *kernel);
/* The element at linear offset `elems` from t's element 0. */
static inline void *cuda_elem_ptr(const dio_tensor *t, int64_t elems)
{
    return (char *)cuda_tensor_data(t) + elems * (int64_t)dio_dtype_size(t->dtype);
}

/* 1 when the caller's parameter struct holds element i of the array `field`. */
#define CUDA_PARAM_FITS_ELEM(p, type, field, i)                                                              \
    ((p) != NULL && (size_t)((const type *)(p))->struct_size >=                                              \
                        offsetof(type, field) + ((size_t)(i) + 1) * sizeof(((const type *)0)->field[0]))

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
    CUDA_EW_SWIGLU, /* silu(in0) * in1 */
    CUDA_EW_GATED   /* in0 + in2 * in1 (GATED_RESIDUAL: x + gate · r) */
};

#define CUDA_EW_MAX_IN 3

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

/* The first lines of every op: the context, the status, the call's check on the stream's device. */
#define CUDA_OP_PROLOGUE(name)                                                                               \
    cuda_backend *be = ctx;                                                                                  \
    dio_status st;                                                                                           \
    if (!be || !call || !stream) return DIO_ERR_INVALID_ARGUMENT;                                            \
    if ((st = cuda_check_##name(be, call, stream->device)) != DIO_OK) return st

CUDA_DECLARE_OP(matmul) /* cuda_matmul_plan.c */
CUDA_DECLARE_OP(add)    /* cuda_elementwise.c */
CUDA_DECLARE_OP(mul)
CUDA_DECLARE_OP(axpby)
CUDA_DECLARE_OP(clamp)
CUDA_DECLARE_OP(copy)
CUDA_DECLARE_OP(silu)
CUDA_DECLARE_OP(gelu)
CUDA_DECLARE_OP(swiglu)
CUDA_DECLARE_OP(gated_residual)
CUDA_DECLARE_OP(concat) /* cuda_layout.c */
CUDA_DECLARE_OP(slice)
CUDA_DECLARE_OP(permute)
CUDA_DECLARE_OP(gather)
CUDA_DECLARE_OP(upsample_nearest)
CUDA_DECLARE_OP(patchify)
CUDA_DECLARE_OP(unpatchify)
CUDA_DECLARE_OP(layernorm) /* cuda_norm.c */
CUDA_DECLARE_OP(rmsnorm)
CUDA_DECLARE_OP(adaln_modulate)
CUDA_DECLARE_OP(softmax)
CUDA_DECLARE_OP(channel_rmsnorm)
CUDA_DECLARE_OP(rope)      /* cuda_rope.c */
CUDA_DECLARE_OP(attention) /* cuda_attention.c */
CUDA_DECLARE_OP(conv2d)    /* cuda_conv.c */
CUDA_DECLARE_OP(conv3d)

/* ---- matmul: the checks and the batching are shared (cuda_matmul_plan.c); one GEMM is the vendor's ---- */

/* One row-major GEMM: C[M, N] = alpha · op(A)[M, K] · op(B)[K, N] + bias[N] + beta · C, A, C and bias of
 * `dtype` (f32, f16 or bf16), B of b_dtype, f32 accumulation. A has row stride lda (op(A) = A^T when trans_a:
 * A is [K, M]); B is contiguous ([K, N], or [N, K] when trans_b); C has row stride ldc. bias may be NULL. */
typedef struct cuda_gemm {
    int32_t dtype;
    int32_t b_dtype; /* B's, f32/f16/bf16; where it is not `dtype` the vendor paths hand over to the tiled
                        kernel */
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

/* ---- data movement (cuda_layout.c, cuda_layout_kernels.cu) ---- */

/* A bit copy between two strided views of up to 12 dims (the 8-dim patch views, upsample's split dims);
 * strides in elements of esize bytes (1, 2, 4 or 8). */
#define CUDA_COPY_MAX_DIMS 12
typedef struct cuda_copy_desc {
    int32_t ndim;
    int32_t esize;
    int64_t numel;
    int64_t shape[CUDA_COPY_MAX_DIMS];
    int64_t dst_stride[CUDA_COPY_MAX_DIMS];
    int64_t src_stride[CUDA_COPY_MAX_DIMS];
    void *dst;
    const void *src;
} cuda_copy_desc;
cudaError_t cuda_copy_launch(const cuda_copy_desc *d, cudaStream_t s);

/* y[n, c] = table[ids[n], c] with dtype conversion; the ids were checked on the host. */
typedef struct cuda_gather_desc {
    int32_t table_dtype, ids_dtype, y_dtype;
    int64_t N, C;
    int64_t table_stride[2], ids_stride, y_stride[2];
    const void *table, *ids;
    void *y;
} cuda_gather_desc;
cudaError_t cuda_gather_launch(const cuda_gather_desc *d, cudaStream_t s);

/* ---- row reductions (cuda_norm.c, cuda_norm_kernels.cu) ---- */

enum {
    CUDA_NORM_LAYER = 0, /* (x - mean) / sqrt(var + eps) · w + b */
    CUDA_NORM_RMS,       /* x / sqrt(mean(x²) + eps) · w */
    CUDA_NORM_ADALN,     /* norm(x) · (1 + scale) + shift, norm layer or rms (rms flag) */
    CUDA_NORM_SOFTMAX    /* softmax(p · x) */
};

/* One row per block: rows are the leading dims of x and y (up to 5, any strides), the last dim C is
 * contiguous. For ADALN, shift and scale are [B, G, C] views and row (b, l) reads group l / (L / G). */
typedef struct cuda_norm_desc {
    int32_t op;
    int32_t rms;
    int32_t dtype; /* x, y, shift, scale */
    int32_t w_dtype, b_dtype;
    float eps;
    float p; /* the softmax scale */
    int64_t rows, C;
    int32_t nlead;
    int64_t lead_shape[DIO_MAX_DIMS - 1];
    int64_t x_stride[DIO_MAX_DIMS - 1], y_stride[DIO_MAX_DIMS - 1];
    int64_t x_cstride, y_cstride, w_stride, b_stride; /* along C */
    int64_t L, group_len;                             /* ADALN: tokens per sample, tokens per group */
    int64_t mod_stride[2][3];                         /* ADALN: shift, scale strides (b, g, c) */
    const void *x, *w, *b, *shift, *scale;            /* w, b: weight and bias, or NULL */
    void *y;
} cuda_norm_desc;
cudaError_t cuda_norm_launch(const cuda_norm_desc *d, cudaStream_t s);

/* CHANNEL_RMSNORM over dim 1 of a contiguous [B, C, S] (S the product of the trailing dims). */
typedef struct cuda_channel_norm_desc {
    int32_t dtype, g_dtype, b_dtype;
    float eps;
    int64_t B, C, S;
    const void *x, *gamma, *bias;
    void *y;
} cuda_channel_norm_desc;
cudaError_t cuda_channel_norm_launch(const cuda_channel_norm_desc *d, cudaStream_t s);

/* ---- ROPE (cuda_rope.c, cuda_rope_kernels.cu) ---- */

typedef struct cuda_rope_desc {
    int32_t dtype, interleaved;
    int64_t B, L, H, D, R;
    int64_t x_stride[3], y_stride[3]; /* b, l, h */
    int64_t x_dstride, y_dstride;     /* along D */
    int64_t cs_stride[2];             /* cos and sin (the same strides): l, r */
    const void *x;
    const float *cos, *sin;
    void *y;
} cuda_rope_desc;
cudaError_t cuda_rope_launch(const cuda_rope_desc *d, cudaStream_t s);

/* ---- ATTENTION (cuda_attention.c, cuda_attention_kernels.cu) ---- */

/* Head dims the portable kernel holds: its output accumulator lives in shared memory. */
#define CUDA_ATTN_MAX_DV 512
typedef struct cuda_attention_desc {
    int32_t dtype;
    int32_t causal;
    float scale;
    int64_t B, Hq, Hkv, Lq, Lk, D, Dv;
    int64_t q_stride[3], k_stride[3], v_stride[3], o_stride[3]; /* b, h, l; the last dim contiguous */
    int64_t m_stride[4];                                        /* mask (b, h, i, j), 0 on broadcast dims */
    const void *q, *k, *v;
    const float *mask;
    void *o;
} cuda_attention_desc;
cudaError_t cuda_attention_launch(const cuda_attention_desc *d, cudaStream_t s);

/* ---- CONV2D / CONV3D (cuda_conv.c, cuda_conv_kernels.cu) ---- */

/* Direct cross-correlation, one output element per thread, over a time axis made of [cache, x]. 2D
 * convolutions are 3D ones with T = 1. Contiguous tensors. */
typedef struct cuda_conv_desc {
    int32_t dtype, w_dtype, b_dtype;
    int64_t B, Cin, Cout, groups;
    int64_t T, H, W, cache_T; /* x extents and the cached frames before x */
    int64_t kt, kh, kw;
    int64_t To, Ho, Wo;
    int32_t stride[3], pad[3], dilation[3]; /* pad: the front pad (time: after the cache) */
    const void *x, *cache, *w, *bias;
    void *y;
} cuda_conv_desc;
cudaError_t cuda_conv_launch(const cuda_conv_desc *d, cudaStream_t s);

/* The matmul library's handle (cuda_matmul.c: cuBLASLt; plugins/hip/hip_matmul.c: rocBLAS when present)
 * and the per-stream workspace some libraries want. */
dio_status cuda_blas_create(cuda_backend *be, cuda_device *d);
void cuda_blas_destroy(cuda_device *d);
void cuda_stream_release_workspace(dio_stream *s);

#ifdef __cplusplus
}
#endif
#endif

/* CPU backend — what the op files share: the backend context, buffers and streams, the per-op entry
 * points, tensor addressing, dtype conversion and call validation.
 *
 * Design: every op family lives in its own file and exports two functions, cpu_check_<op> (validates a
 * call exactly as the op would and returns DIO_OK or an error with a message; used by supports_op) and
 * cpu_op_<op> (the dio_op_fn of the table, which runs the check first). Parallelism is OpenMP, shared
 * with oneDNN's own OpenMP runtime so the two never oversubscribe the cores; the thread count comes
 * from the "threads" option or the OpenMP default (OMP_NUM_THREADS, else all cores). */
#ifndef DIO_CPU_INTERNAL_H
#define DIO_CPU_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "diorama/backend.h"
#include "diorama/ops.h"

typedef struct cpu_backend {
    const dio_host_services *host;
    int n_threads;
    void *dnnl; /* cpu_dnnl state (engine + stream), owned; NULL until first use */
} cpu_backend;

struct dio_buffer {
    uint8_t *data;
    uint64_t size;
    int owned;      /* 1: allocated here, freed with host->free_aligned */
    uint32_t flags; /* DIO_HOST_BUFFER_* */
};

struct dio_stream {
    int32_t device;
};

/* Sets the thread's error through the host and returns status. */
dio_status cpu_error(const cpu_backend *be, dio_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- tensors ---- */

/* Address of element 0. The tensor must have passed cpu_check_tensor. */
static inline void *cpu_tensor_data(const dio_tensor *t)
{
    return t->buffer->data + t->offset;
}

/* Validates a view: non-NULL buffer of this backend, known dtype, 0 <= ndim <= 6, non-negative shape,
 * and every addressed byte inside the buffer (negative strides allowed). `what` names the tensor in
 * messages ("matmul input A"). Writable outputs must not be in a read-only buffer. */
dio_status cpu_check_tensor(const cpu_backend *be, const dio_tensor *t, const char *what, int writable);
/* The float dtypes activations may use: f32, f16, bf16. */
int cpu_is_float_activation(int32_t dtype);
/* Validates n_inputs/n_outputs range and that required slots are non-NULL, each tensor checked. */
dio_status cpu_check_call_arity(const cpu_backend *be, const dio_op_call *call, int min_inputs,
                                int max_inputs, int n_required_inputs, int n_outputs);
/* 1 when two tensors have the same ndim and shape. */
int cpu_same_shape(const dio_tensor *a, const dio_tensor *b);
/* "[2, 3, 4]" into buf, for messages. */
const char *cpu_shape_str(const dio_tensor *t, char *buf, size_t n);

/* ---- dtype conversion ---- */

float cpu_f16_to_f32(uint16_t h);
uint16_t cpu_f32_to_f16(float f); /* round to nearest even, overflow to inf */
float cpu_bf16_to_f32(uint16_t h);
uint16_t cpu_f32_to_bf16(float f); /* round to nearest even, NaN kept NaN */
float cpu_f8e4m3_to_f32(uint8_t v);
uint8_t cpu_f32_to_f8e4m3(float f); /* RNE, saturating at ±448, NaN → 0x7f */
float cpu_f8e5m2_to_f32(uint8_t v);
uint8_t cpu_f32_to_f8e5m2(float f); /* RNE, saturating at ±57344, NaN → 0x7f */

/* Converts n contiguous elements. Integer dtypes convert by value. */
void cpu_convert_to_f32(float *dst, const void *src, int32_t src_dtype, int64_t n);
void cpu_convert_from_f32(void *dst, int32_t dst_dtype, const float *src, int64_t n);
/* One element at a time, for strided code paths. */
float cpu_load_f32(const void *base, int32_t dtype, int64_t index);
void cpu_store_f32(void *base, int32_t dtype, int64_t index, float v);

/* ---- op entry points (one family per file) ---- */

#define CPU_DECLARE_OP(name)                                                                                 \
    dio_status cpu_check_##name(const cpu_backend *be, const dio_op_call *call);                             \
    dio_status cpu_op_##name(void *ctx, dio_stream *stream, const dio_op_call *call);

CPU_DECLARE_OP(matmul)           /* cpu_matmul.c (oneDNN) */
CPU_DECLARE_OP(attention)        /* cpu_attention.c */
CPU_DECLARE_OP(layernorm)        /* cpu_norm.c */
CPU_DECLARE_OP(rmsnorm)          /* cpu_norm.c */
CPU_DECLARE_OP(adaln_modulate)   /* cpu_modulate.c */
CPU_DECLARE_OP(gated_residual)   /* cpu_modulate.c */
CPU_DECLARE_OP(rope)             /* cpu_rope.c */
CPU_DECLARE_OP(gelu)             /* cpu_activation.c */
CPU_DECLARE_OP(silu)             /* cpu_activation.c */
CPU_DECLARE_OP(swiglu)           /* cpu_activation.c */
CPU_DECLARE_OP(conv3d)           /* cpu_conv.c (oneDNN) */
CPU_DECLARE_OP(conv2d)           /* cpu_conv.c (oneDNN) */
CPU_DECLARE_OP(channel_rmsnorm)  /* cpu_norm.c */
CPU_DECLARE_OP(upsample_nearest) /* cpu_layout.c */
CPU_DECLARE_OP(softmax)          /* cpu_norm.c */
CPU_DECLARE_OP(add)              /* cpu_elementwise.c */
CPU_DECLARE_OP(mul)              /* cpu_elementwise.c */
CPU_DECLARE_OP(axpby)            /* cpu_elementwise.c */
CPU_DECLARE_OP(clamp)            /* cpu_elementwise.c */
CPU_DECLARE_OP(gather)           /* cpu_layout.c */
CPU_DECLARE_OP(copy)             /* cpu_layout.c */
CPU_DECLARE_OP(concat)           /* cpu_layout.c */
CPU_DECLARE_OP(slice)            /* cpu_layout.c */
CPU_DECLARE_OP(permute)          /* cpu_layout.c */
CPU_DECLARE_OP(patchify)         /* cpu_layout.c */
CPU_DECLARE_OP(unpatchify)       /* cpu_layout.c */

/* oneDNN state shared by matmul and conv (cpu_dnnl.c). */
dio_status cpu_dnnl_get(cpu_backend *be, void **engine, void **stream);
void cpu_dnnl_release(cpu_backend *be);

#endif

/* diorama ABI — hardware backends: devices, buffers, streams, and the op table.
 *
 * A backend plugin's descriptor points at one dio_backend_iface. The host calls create() to get a
 * backend context (one per dio_backend handle an application opens), then allocates buffers, makes
 * streams and runs ops through that context. Every op has the same call shape, a dio_op_call naming the
 * op, its input and output tensors and an op-specific parameter struct, so that supports_op() can answer
 * for exactly the call that would be made, the conformance harness can drive every op of every backend
 * generically, and the table grows by appending op ids. The op semantics are written once, in ops.h.
 *
 * Ownership: create() makes the context, destroy() frees it (NULL accepted). A buffer is freed with
 * buffer_free (NULL accepted) before the context is destroyed. A buffer made by buffer_from_host does
 * not own the host memory it wraps; the caller keeps that memory alive until buffer_free.
 *
 * Thread safety: a backend context may be used from several threads as long as each stream is used by
 * one thread at a time. Ops on one stream run in order; ops on the CPU backend complete before they
 * return. Status: ops validate their call and return DIO_ERR_INVALID_ARGUMENT / NOT_SUPPORTED with a
 * message naming the op and the offending tensor; they never abort. */
#ifndef DIORAMA_BACKEND_H
#define DIORAMA_BACKEND_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#include "plugin.h"
#include "status.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dio_stream dio_stream; /* opaque, backend-defined */

typedef enum dio_device_type {
    DIO_DEVICE_CPU = 0,
    DIO_DEVICE_GPU = 1,
    DIO_DEVICE_TYPE_FORCE_32BIT = 0x7fffffff
} dio_device_type;

/* Capability bits in dio_device_props.caps. */
#define DIO_CAP_F16 (1u << 0)  /* native f16 arithmetic */
#define DIO_CAP_BF16 (1u << 1) /* native bf16 arithmetic */
#define DIO_CAP_FP8 (1u << 2)  /* native fp8 arithmetic */
#define DIO_CAP_HOST_MEMORY                                                                                  \
    (1u << 3) /* buffers are host memory: buffer_host_ptr works, from_host is zero-copy */

typedef struct dio_device_props {
    uint32_t struct_size;
    int32_t type; /* dio_device_type */
    char name[128];
    uint64_t total_memory; /* bytes; 0 when unknown */
    uint64_t free_memory;  /* bytes; 0 when unknown */
    int32_t compute_units; /* threads on a CPU, SMs/CUs on a GPU */
    uint32_t caps;         /* DIO_CAP_* */
    uint64_t alignment;    /* of buffer_alloc results */
} dio_device_props;

/* Flags for buffer_from_host. */
#define DIO_HOST_BUFFER_READ_ONLY (1u << 0) /* the memory is mapped read-only: no op may write it */

/* The ops. Values are fixed forever; append only. Semantics in ops.h. */
typedef enum dio_op {
    DIO_OP_MATMUL = 0,
    DIO_OP_ATTENTION = 1,
    DIO_OP_LAYERNORM = 2,
    DIO_OP_RMSNORM = 3,
    DIO_OP_ADALN_MODULATE = 4,
    DIO_OP_GATED_RESIDUAL = 5,
    DIO_OP_ROPE = 6,
    DIO_OP_GELU = 7,
    DIO_OP_SILU = 8,
    DIO_OP_SWIGLU = 9,
    DIO_OP_CONV3D = 10,
    DIO_OP_CONV2D = 11,
    DIO_OP_CHANNEL_RMSNORM = 12,
    DIO_OP_UPSAMPLE_NEAREST = 13,
    DIO_OP_SOFTMAX = 14,
    DIO_OP_ADD = 15,
    DIO_OP_MUL = 16,
    DIO_OP_AXPBY = 17,
    DIO_OP_CLAMP = 18,
    DIO_OP_GATHER = 19,
    DIO_OP_COPY = 20,
    DIO_OP_CONCAT = 21,
    DIO_OP_SLICE = 22,
    DIO_OP_PERMUTE = 23,
    DIO_OP_PATCHIFY = 24,
    DIO_OP_UNPATCHIFY = 25,
    DIO_OP_COUNT_1_0 = 26, /* the number of ops in ABI 1.0 */
    DIO_OP_FORCE_32BIT = 0x7fffffff
} dio_op;

static inline const char *dio_op_name(int32_t op)
{
    static const char *const names[DIO_OP_COUNT_1_0] = {"matmul",
                                                        "attention",
                                                        "layernorm",
                                                        "rmsnorm",
                                                        "adaln_modulate",
                                                        "gated_residual",
                                                        "rope",
                                                        "gelu",
                                                        "silu",
                                                        "swiglu",
                                                        "conv3d",
                                                        "conv2d",
                                                        "channel_rmsnorm",
                                                        "upsample_nearest",
                                                        "softmax",
                                                        "add",
                                                        "mul",
                                                        "axpby",
                                                        "clamp",
                                                        "gather",
                                                        "copy",
                                                        "concat",
                                                        "slice",
                                                        "permute",
                                                        "patchify",
                                                        "unpatchify"};
    return (op >= 0 && op < DIO_OP_COUNT_1_0) ? names[op] : "unknown";
}

/* One op invocation. The tensors are views; outputs are written through their buffers. An input slot
 * may be NULL where ops.h marks the input optional. `params` points at the op's parameter struct
 * (ops.h), which starts with its own struct_size, or is NULL for ops without parameters. */
typedef struct dio_op_call {
    uint32_t struct_size;
    int32_t op; /* dio_op */
    int32_t n_inputs;
    int32_t n_outputs;
    const dio_tensor *const *inputs;
    const dio_tensor *const *outputs;
    const void *params;
} dio_op_call;

static_assert(offsetof(dio_op_call, inputs) == 16, "dio_op_call ABI 1.0");
static_assert(offsetof(dio_op_call, outputs) == 24, "dio_op_call ABI 1.0");
static_assert(offsetof(dio_op_call, params) == 32, "dio_op_call ABI 1.0");

/* An op implementation. `ctx` is the backend context from create(); `stream` is never NULL. */
typedef dio_status (*dio_op_fn)(void *ctx, dio_stream *stream, const dio_op_call *call);

typedef struct dio_backend_iface {
    uint32_t abi_version; /* the ABI the table was built against */
    uint32_t struct_size;

    /* Context. create() may read options such as "threads"; unknown keys are ignored with a debug
     * log line. On failure *out_ctx is untouched. destroy(NULL) is a no-op. */
    dio_status (*create)(const dio_host_services *host, const dio_kv *options, size_t n_options,
                         void **out_ctx);
    void (*destroy)(void *ctx);

    /* Devices, numbered from 0. */
    int32_t (*device_count)(void *ctx);
    dio_status (*device_props)(void *ctx, int32_t device, dio_device_props *out);

    /* Buffers. Contents of a fresh buffer are undefined. */
    dio_status (*buffer_alloc)(void *ctx, int32_t device, uint64_t size, dio_buffer **out);
    dio_status (*buffer_from_host)(void *ctx, int32_t device, void *host_ptr, uint64_t size, uint32_t flags,
                                   dio_buffer **out);
    void (*buffer_free)(void *ctx, dio_buffer *buffer);
    uint64_t (*buffer_size)(void *ctx, const dio_buffer *buffer);
    int32_t (*buffer_device)(void *ctx, const dio_buffer *buffer);
    /* Host address of the buffer's byte 0, or NULL when the buffer is not host-visible. */
    void *(*buffer_host_ptr)(void *ctx, dio_buffer *buffer);
    /* Transfers are ordered on `stream`; the host memory must stay valid until stream_sync. With
     * stream NULL the transfer is synchronous: complete when the call returns (weight loading). */
    dio_status (*buffer_upload)(void *ctx, dio_stream *stream, dio_buffer *dst, uint64_t dst_offset,
                                const void *src, uint64_t size);
    dio_status (*buffer_download)(void *ctx, dio_stream *stream, dio_buffer *src, uint64_t src_offset,
                                  void *dst, uint64_t size);
    dio_status (*buffer_copy)(void *ctx, dio_stream *stream, dio_buffer *dst, uint64_t dst_offset,
                              dio_buffer *src, uint64_t src_offset, uint64_t size);

    /* Streams: ordered queues of work on one device. destroy accepts NULL. */
    dio_status (*stream_create)(void *ctx, int32_t device, dio_stream **out);
    void (*stream_destroy)(void *ctx, dio_stream *stream);
    dio_status (*stream_sync)(void *ctx, dio_stream *stream);

    /* DIO_OK when the op would accept this exact call (op, dtypes, shapes, strides, params);
     * DIO_ERR_NOT_SUPPORTED with a message saying what is missing when the call is valid but this
     * backend cannot run it; DIO_ERR_INVALID_ARGUMENT when the call itself is malformed. Never runs
     * anything. */
    dio_status (*supports_op)(void *ctx, const dio_op_call *call);

    /* The op table, indexed by dio_op. Ids >= op_count or NULL slots are not supported. */
    uint32_t op_count;
    uint32_t reserved0;
    const dio_op_fn *ops;
} dio_backend_iface;

static_assert(offsetof(dio_backend_iface, create) == 8, "dio_backend_iface ABI 1.0");
static_assert(offsetof(dio_backend_iface, destroy) == 16, "dio_backend_iface ABI 1.0");
static_assert(offsetof(dio_backend_iface, device_count) == 24, "dio_backend_iface ABI 1.0");
static_assert(offsetof(dio_backend_iface, device_props) == 32, "dio_backend_iface ABI 1.0");
static_assert(offsetof(dio_backend_iface, buffer_alloc) == 40, "dio_backend_iface ABI 1.0");
static_assert(offsetof(dio_backend_iface, buffer_from_host) == 48, "dio_backend_iface ABI 1.0");
static_assert(offsetof(dio_backend_iface, buffer_free) == 56, "dio_backend_iface ABI 1.0");
static_assert(offsetof(dio_backend_iface, buffer_size) == 64, "dio_backend_iface ABI 1.0");
static_assert(offsetof(dio_backend_iface, buffer_device) == 72, "dio_backend_iface ABI 1.0");
static_assert(offsetof(dio_backend_iface, buffer_host_ptr) == 80, "dio_backend_iface ABI 1.0");
static_assert(offsetof(dio_backend_iface, buffer_upload) == 88, "dio_backend_iface ABI 1.0");
static_assert(offsetof(dio_backend_iface, buffer_download) == 96, "dio_backend_iface ABI 1.0");
static_assert(offsetof(dio_backend_iface, buffer_copy) == 104, "dio_backend_iface ABI 1.0");
static_assert(offsetof(dio_backend_iface, stream_create) == 112, "dio_backend_iface ABI 1.0");
static_assert(offsetof(dio_backend_iface, stream_destroy) == 120, "dio_backend_iface ABI 1.0");
static_assert(offsetof(dio_backend_iface, stream_sync) == 128, "dio_backend_iface ABI 1.0");
static_assert(offsetof(dio_backend_iface, supports_op) == 136, "dio_backend_iface ABI 1.0");
static_assert(offsetof(dio_backend_iface, op_count) == 144, "dio_backend_iface ABI 1.0");
static_assert(offsetof(dio_backend_iface, ops) == 152, "dio_backend_iface ABI 1.0");

/* A backend as a model component sees it: the table, the context and the device to use. A value;
 * the context is owned by whoever opened the backend (the host) and outlives every component. */
typedef struct dio_backend_ref {
    uint32_t struct_size;
    int32_t device;
    const dio_backend_iface *iface;
    void *ctx;
} dio_backend_ref;

/* Runs one op through a backend reference: checks the slot, then calls it. */
static inline dio_status dio_backend_run_op(const dio_backend_ref *be, dio_stream *stream,
                                            const dio_op_call *call)
{
    if (!be || !be->iface || !call || call->op < 0 || (uint32_t)call->op >= be->iface->op_count ||
        !be->iface->ops || !be->iface->ops[call->op])
        return DIO_ERR_NOT_SUPPORTED;
    return be->iface->ops[call->op](be->ctx, stream, call);
}

/* Puts host bytes (typically mmap'd weights) on the backend: a zero-copy read-only wrap when the
 * device is host memory and `data` is aligned to `alignment` (the element size), else a new buffer
 * and a synchronous upload. On success *out is a buffer the caller frees with buffer_free; on failure
 * nothing stays allocated and *out is untouched. The host memory must outlive a wrapped buffer. */
static inline dio_status dio_backend_place_host(const dio_backend_ref *be, const void *data, uint64_t nbytes,
                                                size_t alignment, dio_buffer **out)
{
    dio_device_props props;
    dio_buffer *buf = NULL;
    dio_status st;
    props.struct_size = (uint32_t)sizeof(props);
    props.caps = 0;
    if ((st = be->iface->device_props(be->ctx, be->device, &props)) != DIO_OK) return st;
    if ((props.caps & DIO_CAP_HOST_MEMORY) && alignment && ((uintptr_t)data % alignment) == 0)
        return be->iface->buffer_from_host(be->ctx, be->device, (void *)(uintptr_t)data, nbytes,
                                           DIO_HOST_BUFFER_READ_ONLY, out);
    if ((st = be->iface->buffer_alloc(be->ctx, be->device, nbytes ? nbytes : 1, &buf)) != DIO_OK) return st;
    if ((st = be->iface->buffer_upload(be->ctx, NULL, buf, 0, data, nbytes)) != DIO_OK) {
        be->iface->buffer_free(be->ctx, buf);
        return st;
    }
    *out = buf;
    return DIO_OK;
}

#ifdef __cplusplus
}
#endif
#endif

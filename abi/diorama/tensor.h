/* diorama ABI — tensors: a dtype, up to 6 dimensions with element strides, a view into a backend buffer.
 *
 * A dio_tensor is a plain value (a view): it owns nothing. The dio_buffer it points into is owned by
 * whoever allocated it through the backend (backend.h) and must outlive every view of it. Strides are
 * in elements, not bytes, so a view of a block-quantised type would need its own rule (such dtypes are
 * reserved from 64 up and carry their block size in their definition). The tensor's device is the
 * device of its buffer. Thread safety: values, no shared state. */
#ifndef DIORAMA_TENSOR_H
#define DIORAMA_TENSOR_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DIO_MAX_DIMS 6

/* Values are fixed forever; append only. 64 and up are reserved for block-quantised types. */
typedef enum dio_dtype {
    DIO_DTYPE_F32 = 0,
    DIO_DTYPE_F16 = 1,
    DIO_DTYPE_BF16 = 2,
    DIO_DTYPE_F8E4M3 = 3, /* OCP e4m3fn: no infinities, 0x7f/0xff are NaN, max 448 */
    DIO_DTYPE_F8E5M2 = 4,
    DIO_DTYPE_I32 = 5,
    DIO_DTYPE_I64 = 6,
    DIO_DTYPE_U8 = 7,
    DIO_DTYPE_COUNT = 8,
    DIO_DTYPE_FORCE_32BIT = 0x7fffffff
} dio_dtype;

/* Opaque, backend-defined. */
typedef struct dio_buffer dio_buffer;

typedef struct dio_tensor {
    uint32_t struct_size; /* sizeof(dio_tensor) of the writer */
    int32_t dtype;        /* dio_dtype */
    int32_t ndim;         /* 0..DIO_MAX_DIMS; 0 is a scalar */
    int32_t reserved0;
    int64_t shape[DIO_MAX_DIMS];
    int64_t stride[DIO_MAX_DIMS]; /* in elements; shape[i] == 1 may carry any stride */
    dio_buffer *buffer;           /* may be NULL only for a tensor that describes, not holds */
    uint64_t offset;              /* bytes from the start of the buffer to element 0 */
} dio_tensor;

static_assert(offsetof(dio_tensor, dtype) == 4, "dio_tensor ABI 1.0");
static_assert(offsetof(dio_tensor, shape) == 16, "dio_tensor ABI 1.0");
static_assert(offsetof(dio_tensor, stride) == 64, "dio_tensor ABI 1.0");
static_assert(offsetof(dio_tensor, buffer) == 112, "dio_tensor ABI 1.0");
static_assert(offsetof(dio_tensor, offset) == 120, "dio_tensor ABI 1.0");

/* Helpers, static inline so plugins get them without linking the host. */

static inline size_t dio_dtype_size(int32_t dtype)
{
    switch (dtype) {
    case DIO_DTYPE_F32:
    case DIO_DTYPE_I32: return 4;
    case DIO_DTYPE_F16:
    case DIO_DTYPE_BF16: return 2;
    case DIO_DTYPE_F8E4M3:
    case DIO_DTYPE_F8E5M2:
    case DIO_DTYPE_U8: return 1;
    case DIO_DTYPE_I64: return 8;
    default: return 0;
    }
}

static inline const char *dio_dtype_name(int32_t dtype)
{
    switch (dtype) {
    case DIO_DTYPE_F32: return "f32";
    case DIO_DTYPE_F16: return "f16";
    case DIO_DTYPE_BF16: return "bf16";
    case DIO_DTYPE_F8E4M3: return "f8e4m3";
    case DIO_DTYPE_F8E5M2: return "f8e5m2";
    case DIO_DTYPE_I32: return "i32";
    case DIO_DTYPE_I64: return "i64";
    case DIO_DTYPE_U8: return "u8";
    default: return "unknown";
    }
}

static inline int64_t dio_tensor_numel(const dio_tensor *t)
{
    int64_t n = 1;
    for (int32_t i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

/* Fills a contiguous row-major view: strides derived from the shape. */
static inline void dio_tensor_init(dio_tensor *t, int32_t dtype, int32_t ndim, const int64_t *shape,
                                   dio_buffer *buffer, uint64_t offset)
{
    int64_t s = 1;
    t->struct_size = (uint32_t)sizeof(dio_tensor);
    t->dtype = dtype;
    t->ndim = ndim;
    t->reserved0 = 0;
    for (int32_t i = DIO_MAX_DIMS - 1; i >= 0; i--) {
        t->shape[i] = i < ndim ? shape[i] : 1;
        t->stride[i] = 0;
    }
    for (int32_t i = ndim - 1; i >= 0; i--) {
        t->stride[i] = s;
        s *= shape[i];
    }
    t->buffer = buffer;
    t->offset = offset;
}

/* Writes a shape as "[2, 3, 4]" into buf (truncated to n bytes) and returns buf, for messages. */
static inline const char *dio_shape_format(int32_t ndim, const int64_t *shape, char *buf, size_t n)
{
    size_t at;
    if (!n) return buf;
    at = (size_t)snprintf(buf, n, "[");
    for (int32_t i = 0; i < ndim && i < DIO_MAX_DIMS && at < n; i++)
        at += (size_t)snprintf(buf + at, n - at, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (at < n) snprintf(buf + at, n - at, "]");
    return buf;
}

/* 1 when the view is dense row-major (dims of size 1 may carry any stride). */
static inline int dio_tensor_is_contiguous(const dio_tensor *t)
{
    int64_t s = 1;
    for (int32_t i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && t->stride[i] != s) return 0;
        s *= t->shape[i];
    }
    return 1;
}

#ifdef __cplusplus
}
#endif
#endif

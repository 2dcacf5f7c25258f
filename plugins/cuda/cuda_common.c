/* CUDA backend — call validation shared by every op file.
 *
 * The same strict rules as the CPU backend: a view must address only bytes inside its buffer (the
 * extreme offsets are computed with negative strides allowed), element 0 must be aligned to the element
 * size, and every tensor of a call must live on the device of the stream that runs it. Checks run on
 * the host before anything is queued, so a refused call never touches the device. */
#include <stdio.h>
#include <string.h>

#include "cuda_internal.h"

int cuda_is_float_activation(int32_t dtype)
{
    return dtype == DIO_DTYPE_F32 || dtype == DIO_DTYPE_F16 || dtype == DIO_DTYPE_BF16;
}

int cuda_is_f8(int32_t dtype)
{
    return dtype == DIO_DTYPE_F8E4M3 || dtype == DIO_DTYPE_F8E5M2;
}

const char *cuda_shape_str(const dio_tensor *t, char *buf, size_t n)
{
    return dio_shape_format(t ? t->ndim : 0, t ? t->shape : NULL, buf, n);
}

int cuda_same_shape(const dio_tensor *a, const dio_tensor *b)
{
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}

dio_status cuda_check_tensor(const cuda_backend *be, const dio_tensor *t, const char *what, int32_t device)
{
    size_t esize;
    __int128 lo = 0, hi = 0;
    if (!t) return cuda_error(be, DIO_ERR_INVALID_ARGUMENT, "%s is missing", what);
    if (t->struct_size < sizeof(dio_tensor))
        return cuda_error(be, DIO_ERR_INVALID_ARGUMENT, "%s: tensor struct_size %u is too small", what,
                          t->struct_size);
    esize = dio_dtype_size(t->dtype);
    if (!esize) return cuda_error(be, DIO_ERR_NOT_SUPPORTED, "%s: unknown dtype %d", what, t->dtype);
    if (t->ndim < 0 || t->ndim > DIO_MAX_DIMS)
        return cuda_error(be, DIO_ERR_INVALID_ARGUMENT, "%s: ndim %d outside 0..%d", what, t->ndim,
                          DIO_MAX_DIMS);
    if (!t->buffer) return cuda_error(be, DIO_ERR_INVALID_ARGUMENT, "%s: no buffer", what);
    if (t->buffer->device != device)
        return cuda_error(be, DIO_ERR_INVALID_ARGUMENT,
                          "%s: the buffer is on device %d, the op runs on device %d", what, t->buffer->device,
                          device);
    if (((uintptr_t)t->buffer->ptr + t->offset) % esize)
        return cuda_error(be, DIO_ERR_INVALID_ARGUMENT, "%s: %s data at offset %llu is not %zu-byte aligned",
                          what, dio_dtype_name(t->dtype), (unsigned long long)t->offset, esize);
    for (int i = 0; i < t->ndim; i++) {
        if (t->shape[i] < 0 || t->shape[i] > ((int64_t)1 << 48))
            return cuda_error(be, DIO_ERR_INVALID_ARGUMENT, "%s: dim %d has size %lld", what, i,
                              (long long)t->shape[i]);
        if (t->shape[i] == 0) return DIO_OK; /* empty: addresses nothing */
        if (t->stride[i] > 0)
            hi += (__int128)(t->shape[i] - 1) * t->stride[i];
        else
            lo += (__int128)(t->shape[i] - 1) * t->stride[i];
    }
    lo = lo * (__int128)esize + (__int128)t->offset;
    hi = (hi + 1) * (__int128)esize + (__int128)t->offset;
    if (lo < 0 || hi > (__int128)t->buffer->size)
        return cuda_error(be, DIO_ERR_INVALID_ARGUMENT,
                          "%s: the view (offset %llu, %s) reaches outside its buffer of %llu bytes", what,
                          (unsigned long long)t->offset, dio_dtype_name(t->dtype),
                          (unsigned long long)t->buffer->size);
    return DIO_OK;
}

dio_status cuda_check_call(const cuda_backend *be, const dio_op_call *call, int min_inputs, int max_inputs,
                           int n_required_inputs, int n_outputs, int32_t device)
{
    const char *op = dio_op_name(call->op);
    char what[96];
    dio_status st;
    if (call->struct_size < sizeof(dio_op_call))
        return cuda_error(be, DIO_ERR_INVALID_ARGUMENT, "%s: dio_op_call struct_size %u is too small", op,
                          call->struct_size);
    if (call->n_inputs < min_inputs || call->n_inputs > max_inputs)
        return cuda_error(be, DIO_ERR_INVALID_ARGUMENT, "%s: %d inputs given, expected %d..%d", op,
                          call->n_inputs, min_inputs, max_inputs);
    if (call->n_outputs != n_outputs)
        return cuda_error(be, DIO_ERR_INVALID_ARGUMENT, "%s: %d outputs given, expected %d", op,
                          call->n_outputs, n_outputs);
    if ((call->n_inputs && !call->inputs) || !call->outputs)
        return cuda_error(be, DIO_ERR_INVALID_ARGUMENT, "%s: NULL tensor array", op);
    for (int i = 0; i < call->n_inputs; i++) {
        if (!call->inputs[i]) {
            if (i < n_required_inputs)
                return cuda_error(be, DIO_ERR_INVALID_ARGUMENT, "%s: input %d is required", op, i);
            continue;
        }
        snprintf(what, sizeof(what), "%s input %d", op, i);
        if ((st = cuda_check_tensor(be, call->inputs[i], what, device)) != DIO_OK) return st;
    }
    for (int i = 0; i < n_outputs; i++) {
        snprintf(what, sizeof(what), "%s output %d", op, i);
        if ((st = cuda_check_tensor(be, call->outputs[i], what, device)) != DIO_OK) return st;
    }
    return DIO_OK;
}

dio_status cuda_check_numel(const cuda_backend *be, const char *op, const char *what, const dio_tensor *t)
{
    int64_t n = 1;
    char a[160];
    for (int i = 0; i < t->ndim; i++)
        if (__builtin_mul_overflow(n, t->shape[i], &n) || n > ((int64_t)1 << 62))
            return cuda_error(be, DIO_ERR_INVALID_ARGUMENT, "%s: %s of shape %s has too many elements", op,
                              what, cuda_shape_str(t, a, sizeof(a)));
    return DIO_OK;
}

dio_status cuda_check_dtype_as(const cuda_backend *be, const char *op, const char *what, const dio_tensor *t,
                               const char *ref_name, const dio_tensor *ref)
{
    if (t->dtype != ref->dtype)
        return cuda_error(be, DIO_ERR_INVALID_ARGUMENT, "%s: %s has dtype %s but %s has %s; they must match",
                          op, what, dio_dtype_name(t->dtype), ref_name, dio_dtype_name(ref->dtype));
    return DIO_OK;
}

dio_status cuda_check_shape_as(const cuda_backend *be, const char *op, const char *what, const dio_tensor *t,
                               const char *ref_name, const dio_tensor *ref)
{
    char a[160], b[160];
    if (!cuda_same_shape(t, ref))
        return cuda_error(be, DIO_ERR_INVALID_ARGUMENT, "%s: %s has shape %s but %s has %s; they must match",
                          op, what, cuda_shape_str(t, a, sizeof(a)), ref_name,
                          cuda_shape_str(ref, b, sizeof(b)));
    return DIO_OK;
}

dio_status cuda_check_modulation(const cuda_backend *be, const char *op, const char *what,
                                 const dio_tensor *t, const dio_tensor *x)
{
    char a[160], b[160];
    dio_status st;
    if ((st = cuda_check_dtype_as(be, op, what, t, "x", x)) != DIO_OK) return st;
    if (t->ndim != 3 || t->shape[0] != x->shape[0] || t->shape[2] != x->shape[2] || t->shape[1] < 1 ||
        x->shape[1] % t->shape[1] != 0)
        return cuda_error(be, DIO_ERR_INVALID_ARGUMENT,
                          "%s: %s has shape %s; expected [B, G, C] with G >= 1 dividing L for x %s", op, what,
                          cuda_shape_str(t, a, sizeof(a)), cuda_shape_str(x, b, sizeof(b)));
    return DIO_OK;
}

dio_status cuda_check_float(const cuda_backend *be, const char *op, const char *what, const dio_tensor *t)
{
    if (!cuda_is_float_activation(t->dtype))
        return cuda_error(be, DIO_ERR_NOT_SUPPORTED, "%s: %s has dtype %s; it must be f32, f16 or bf16", op,
                          what, dio_dtype_name(t->dtype));
    return DIO_OK;
}

dio_status cuda_check_ndim(const cuda_backend *be, const char *op, const char *what, const dio_tensor *t,
                           int ndim)
{
    char a[160];
    if (t->ndim != ndim)
        return cuda_error(be, DIO_ERR_INVALID_ARGUMENT, "%s: %s has shape %s; expected %d dims", op, what,
                          cuda_shape_str(t, a, sizeof(a)), ndim);
    return DIO_OK;
}

dio_status cuda_use_device(cuda_backend *be, dio_stream *stream)
{
    cudaError_t err = cudaSetDevice(stream->device);
    return err == cudaSuccess ? DIO_OK : cuda_rt_error(be, err, GPU_RT "SetDevice");
}

dio_status cuda_launch_status(cuda_backend *be, cudaError_t err, const char *kernel)
{
    char what[96];
    if (err == cudaSuccess) return DIO_OK;
    snprintf(what, sizeof(what), "%s kernel launch", kernel);
    return cuda_rt_error(be, err, what);
}

/* GPU backends — ROPE on the host side: the checks of ops.h (tables f32 [L, R], R even and <= D) and one
 * cuda_rope_desc for cuda_rope_kernels.cu. x and y are [B, L, H, D] views with any strides but the last. */
#include <string.h>

#include "cuda_internal.h"

static int rope_mode(const dio_op_call *call)
{
    const dio_rope_params *p = call->params;
    return CUDA_PARAM_FITS(p, dio_rope_params, mode) ? p->mode : DIO_ROPE_ROTATE_HALF;
}

dio_status cuda_check_rope(const cuda_backend *be, const dio_op_call *call, int32_t device)
{
    const char *op = "rope";
    const dio_tensor *x, *cs, *sn, *y;
    char a[160], b[160];
    int mode;
    dio_status st;
    if ((st = cuda_check_call(be, call, 3, 3, 3, 1, device)) != DIO_OK) return st;
    x = call->inputs[0];
    cs = call->inputs[1];
    sn = call->inputs[2];
    y = call->outputs[0];
    if ((st = cuda_check_float(be, op, "x", x)) != DIO_OK) return st;
    if ((st = cuda_check_ndim(be, op, "x", x, 4)) != DIO_OK) return st;
    if ((st = cuda_check_dtype_as(be, op, "y", y, "x", x)) != DIO_OK) return st;
    if ((st = cuda_check_shape_as(be, op, "y", y, "x", x)) != DIO_OK) return st;
    if ((st = cuda_check_numel(be, op, "y", y)) != DIO_OK) return st;
    if (cs->dtype != DIO_DTYPE_F32 || sn->dtype != DIO_DTYPE_F32)
        return cuda_error(be, DIO_ERR_NOT_SUPPORTED,
                          "rope: the %s table has dtype %s; ops.h makes the tables f32",
                          cs->dtype != DIO_DTYPE_F32 ? "cos" : "sin",
                          dio_dtype_name(cs->dtype != DIO_DTYPE_F32 ? cs->dtype : sn->dtype));
    if (cs->ndim != 2 || cs->shape[0] != x->shape[1] || cs->shape[1] % 2 != 0 || cs->shape[1] > x->shape[3])
        return cuda_error(be, DIO_ERR_INVALID_ARGUMENT,
                          "rope: cos has shape %s; expected [L, R] with R even and R <= D for x %s",
                          cuda_shape_str(cs, a, sizeof(a)), cuda_shape_str(x, b, sizeof(b)));
    if ((st = cuda_check_shape_as(be, op, "sin", sn, "cos", cs)) != DIO_OK) return st;
    if (sn->stride[0] != cs->stride[0] || sn->stride[1] != cs->stride[1])
        return cuda_error(be, DIO_ERR_NOT_SUPPORTED,
                          "rope: the cos and sin tables have different strides; "
                          "not implemented on " GPU_NAME);
    mode = rope_mode(call);
    if (mode != DIO_ROPE_ROTATE_HALF && mode != DIO_ROPE_INTERLEAVED)
        return cuda_error(be, DIO_ERR_NOT_SUPPORTED, "rope: unknown mode %d", mode);
    return DIO_OK;
}

dio_status cuda_op_rope(void *ctx, dio_stream *stream, const dio_op_call *call)
{
    const dio_tensor *x, *cs, *y;
    cuda_rope_desc d;
    CUDA_OP_PROLOGUE(rope);
    x = call->inputs[0];
    cs = call->inputs[1];
    y = call->outputs[0];
    memset(&d, 0, sizeof(d));
    d.dtype = x->dtype;
    d.interleaved = rope_mode(call) == DIO_ROPE_INTERLEAVED;
    d.B = x->shape[0];
    d.L = x->shape[1];
    d.H = x->shape[2];
    d.D = x->shape[3];
    d.R = cs->shape[1];
    for (int i = 0; i < 3; i++) {
        d.x_stride[i] = x->stride[i];
        d.y_stride[i] = y->stride[i];
    }
    d.x_dstride = x->stride[3];
    d.y_dstride = y->stride[3];
    d.cs_stride[0] = cs->stride[0];
    d.cs_stride[1] = cs->stride[1];
    d.x = cuda_tensor_data(x);
    d.cos = cuda_tensor_data(cs);
    d.sin = cuda_tensor_data(call->inputs[2]);
    d.y = cuda_tensor_data(y);
    if (d.B * d.L * d.H * d.D == 0) return DIO_OK;
    if ((st = cuda_use_device(be, stream)) != DIO_OK) return st;
    return cuda_launch_status(be, cuda_rope_launch(&d, stream->s), "rope");
}

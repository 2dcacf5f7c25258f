/* CUDA backend — the element-wise op family on the host side: ADD, MUL (NumPy broadcasting of a and b
 * to y's shape), AXPBY, CLAMP, COPY (any strides, f32/f16/bf16 conversion, bit copy for equal dtypes),
 * SILU, GELU (erf or tanh), SWIGLU and GATED_RESIDUAL (x + gate · r, the gate's groups a broadcast dim of
 * a 4-dim view [B, G, L/G, C]).
 *
 * Each op checks its call with the rules of ops.h, describes its operands on y's shape (a broadcast dim
 * is a stride of 0) and hands one cuda_ew_desc to the strided kernel of cuda_elementwise_kernels.cu,
 * which computes in f32. Every element is read and written by the same thread, so an output that is
 * exactly an input view (in place) is safe. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cuda_internal.h"

/* ---- checks ---- */

static dio_status check_broadcast(const cuda_backend *be, const char *op, const char *what,
                                  const dio_tensor *t, const dio_tensor *y)
{
    char a[160], b[160];
    int bad = t->ndim > y->ndim;
    for (int i = 0; !bad && i < t->ndim; i++) {
        int64_t ye = y->shape[y->ndim - t->ndim + i];
        bad = t->shape[i] != 1 && t->shape[i] != ye;
    }
    if (bad)
        return cuda_error(be, DIO_ERR_INVALID_ARGUMENT,
                          "%s: %s of shape %s does not broadcast to y's shape %s", op, what,
                          cuda_shape_str(t, a, sizeof(a)), cuda_shape_str(y, b, sizeof(b)));
    return DIO_OK;
}

static dio_status check_binary(const cuda_backend *be, const dio_op_call *call, int32_t device)
{
    const char *op = dio_op_name(call->op);
    const dio_tensor *a, *b, *y;
    dio_status st;
    if ((st = cuda_check_call(be, call, 2, 2, 2, 1, device)) != DIO_OK) return st;
    a = call->inputs[0];
    b = call->inputs[1];
    y = call->outputs[0];
    if ((st = cuda_check_float(be, op, "y", y)) != DIO_OK) return st;
    if ((st = cuda_check_dtype_as(be, op, "a", a, "y", y)) != DIO_OK) return st;
    if ((st = cuda_check_dtype_as(be, op, "b", b, "y", y)) != DIO_OK) return st;
    if ((st = check_broadcast(be, op, "a", a, y)) != DIO_OK) return st;
    return check_broadcast(be, op, "b", b, y);
}

/* x -> y of the same shape and dtype (CLAMP, SILU, GELU). */
static dio_status check_unary(const cuda_backend *be, const dio_op_call *call, int32_t device)
{
    const char *op = dio_op_name(call->op);
    dio_status st;
    if ((st = cuda_check_call(be, call, 1, 1, 1, 1, device)) != DIO_OK) return st;
    if ((st = cuda_check_float(be, op, "x", call->inputs[0])) != DIO_OK) return st;
    if ((st = cuda_check_dtype_as(be, op, "y", call->outputs[0], "x", call->inputs[0])) != DIO_OK) return st;
    return cuda_check_shape_as(be, op, "y", call->outputs[0], "x", call->inputs[0]);
}

dio_status cuda_check_add(const cuda_backend *be, const dio_op_call *call, int32_t device)
{
    return check_binary(be, call, device);
}

dio_status cuda_check_mul(const cuda_backend *be, const dio_op_call *call, int32_t device)
{
    return check_binary(be, call, device);
}

dio_status cuda_check_axpby(const cuda_backend *be, const dio_op_call *call, int32_t device)
{
    const char *op = "axpby";
    const dio_tensor *x, *z, *y;
    dio_status st;
    if ((st = cuda_check_call(be, call, 1, 2, 1, 1, device)) != DIO_OK) return st;
    x = call->inputs[0];
    z = call->n_inputs > 1 ? call->inputs[1] : NULL;
    y = call->outputs[0];
    if ((st = cuda_check_float(be, op, "x", x)) != DIO_OK) return st;
    if ((st = cuda_check_dtype_as(be, op, "y", y, "x", x)) != DIO_OK) return st;
    if ((st = cuda_check_shape_as(be, op, "y", y, "x", x)) != DIO_OK) return st;
    if (z) {
        if ((st = cuda_check_dtype_as(be, op, "z", z, "x", x)) != DIO_OK) return st;
        if ((st = cuda_check_shape_as(be, op, "z", z, "x", x)) != DIO_OK) return st;
    }
    return DIO_OK;
}

dio_status cuda_check_clamp(const cuda_backend *be, const dio_op_call *call, int32_t device)
{
    return check_unary(be, call, device);
}

dio_status cuda_check_silu(const cuda_backend *be, const dio_op_call *call, int32_t device)
{
    return check_unary(be, call, device);
}

dio_status cuda_check_gelu(const cuda_backend *be, const dio_op_call *call, int32_t device)
{
    return check_unary(be, call, device);
}

dio_status cuda_check_swiglu(const cuda_backend *be, const dio_op_call *call, int32_t device)
{
    const char *op = "swiglu";
    dio_status st;
    if ((st = cuda_check_call(be, call, 2, 2, 2, 1, device)) != DIO_OK) return st;
    if ((st = cuda_check_float(be, op, "gate", call->inputs[0])) != DIO_OK) return st;
    if ((st = cuda_check_dtype_as(be, op, "up", call->inputs[1], "gate", call->inputs[0])) != DIO_OK)
        return st;
    if ((st = cuda_check_dtype_as(be, op, "y", call->outputs[0], "gate", call->inputs[0])) != DIO_OK)
        return st;
    if ((st = cuda_check_shape_as(be, op, "up", call->inputs[1], "gate", call->inputs[0])) != DIO_OK)
        return st;
    return cuda_check_shape_as(be, op, "y", call->outputs[0], "gate", call->inputs[0]);
}

dio_status cuda_check_copy(const cuda_backend *be, const dio_op_call *call, int32_t device)
{
    const dio_tensor *x, *y;
    dio_status st;
    if ((st = cuda_check_call(be, call, 1, 1, 1, 1, device)) != DIO_OK) return st;
    x = call->inputs[0];
    y = call->outputs[0];
    if ((st = cuda_check_shape_as(be, "copy", "y", y, "x", x)) != DIO_OK) return st;
    if (x->dtype != y->dtype &&
        !((cuda_is_float_activation(x->dtype) || cuda_is_f8(x->dtype)) && cuda_is_float_activation(y->dtype)))
        return cuda_error(be, DIO_ERR_NOT_SUPPORTED,
                          "copy: converting %s to %s is not implemented on " GPU_NAME
                          " (f32/f16/bf16 conversions, f8 to those, and same-dtype copies are)",
                          dio_dtype_name(x->dtype), dio_dtype_name(y->dtype));
    return DIO_OK;
}

dio_status cuda_check_gated_residual(const cuda_backend *be, const dio_op_call *call, int32_t device)
{
    const char *op = "gated_residual";
    const dio_tensor *x, *r, *g, *y;
    dio_status st;
    if ((st = cuda_check_call(be, call, 3, 3, 3, 1, device)) != DIO_OK) return st;
    x = call->inputs[0];
    r = call->inputs[1];
    g = call->inputs[2];
    y = call->outputs[0];
    if ((st = cuda_check_float(be, op, "x", x)) != DIO_OK) return st;
    if ((st = cuda_check_dtype_as(be, op, "r", r, "x", x)) != DIO_OK) return st;
    if ((st = cuda_check_dtype_as(be, op, "y", y, "x", x)) != DIO_OK) return st;
    if ((st = cuda_check_ndim(be, op, "x", x, 3)) != DIO_OK) return st;
    if ((st = cuda_check_shape_as(be, op, "r", r, "x", x)) != DIO_OK) return st;
    if ((st = cuda_check_shape_as(be, op, "y", y, "x", x)) != DIO_OK) return st;
    return cuda_check_modulation(be, op, "gate", g, x);
}

/* ---- running ---- */

static void desc_operand(cuda_ew_desc *d, int slot, const dio_tensor *t, const dio_tensor *y)
{
    d->in[slot] = cuda_tensor_data(t);
    d->in_dtype[slot] = t->dtype;
    for (int i = 0; i < y->ndim; i++) {
        int ti = i - (y->ndim - t->ndim);
        d->in_stride[slot][i] = (ti >= 0 && t->shape[ti] != 1) ? t->stride[ti] : 0;
    }
}

static dio_status ew_launch(cuda_backend *be, dio_stream *stream, const cuda_ew_desc *d)
{
    dio_status st = cuda_use_device(be, stream);
    return st != DIO_OK ? st : cuda_launch_status(be, cuda_ew_launch(d, stream->s), "element-wise");
}

static dio_status ew_run(cuda_backend *be, dio_stream *stream, int32_t op, const dio_tensor *y,
                         const dio_tensor *a, const dio_tensor *b, float p0, float p1)
{
    cuda_ew_desc d;
    memset(&d, 0, sizeof(d));
    d.op = op;
    d.ndim = y->ndim;
    d.numel = dio_tensor_numel(y);
    if (d.numel == 0) return DIO_OK;
    d.out = cuda_tensor_data(y);
    d.out_dtype = y->dtype;
    d.p0 = p0;
    d.p1 = p1;
    for (int i = 0; i < y->ndim; i++) {
        d.shape[i] = y->shape[i];
        d.out_stride[i] = y->stride[i];
    }
    desc_operand(&d, 0, a, y);
    d.n_in = 1;
    if (b) {
        desc_operand(&d, 1, b, y);
        d.n_in = 2;
    }
    return ew_launch(be, stream, &d);
}

dio_status cuda_op_add(void *ctx, dio_stream *stream, const dio_op_call *call)
{
    CUDA_OP_PROLOGUE(add);
    return ew_run(be, stream, CUDA_EW_ADD, call->outputs[0], call->inputs[0], call->inputs[1], 0, 0);
}

dio_status cuda_op_mul(void *ctx, dio_stream *stream, const dio_op_call *call)
{
    CUDA_OP_PROLOGUE(mul);
    return ew_run(be, stream, CUDA_EW_MUL, call->outputs[0], call->inputs[0], call->inputs[1], 0, 0);
}

dio_status cuda_op_axpby(void *ctx, dio_stream *stream, const dio_op_call *call)
{
    const dio_axpby_params *p;
    const dio_tensor *z;
    float alpha = 1.0f, beta = 0.0f;
    CUDA_OP_PROLOGUE(axpby);
    p = call->params;
    if (CUDA_PARAM_FITS(p, dio_axpby_params, alpha)) alpha = p->alpha;
    if (CUDA_PARAM_FITS(p, dio_axpby_params, beta)) beta = p->beta;
    z = call->n_inputs > 1 ? call->inputs[1] : NULL;
    return ew_run(be, stream, z ? CUDA_EW_AXPBY : CUDA_EW_AX, call->outputs[0], call->inputs[0], z, alpha,
                  beta);
}

dio_status cuda_op_clamp(void *ctx, dio_stream *stream, const dio_op_call *call)
{
    const dio_clamp_params *p;
    float lo = -INFINITY, hi = INFINITY;
    CUDA_OP_PROLOGUE(clamp);
    p = call->params;
    if (CUDA_PARAM_FITS(p, dio_clamp_params, lo)) lo = p->lo;
    if (CUDA_PARAM_FITS(p, dio_clamp_params, hi)) hi = p->hi;
    return ew_run(be, stream, CUDA_EW_CLAMP, call->outputs[0], call->inputs[0], NULL, lo, hi);
}

dio_status cuda_op_copy(void *ctx, dio_stream *stream, const dio_op_call *call)
{
    const dio_tensor *x, *y;
    CUDA_OP_PROLOGUE(copy);
    x = call->inputs[0];
    y = call->outputs[0];
    return ew_run(be, stream, x->dtype == y->dtype ? CUDA_EW_RAW : CUDA_EW_CONVERT, y, x, NULL, 0, 0);
}

dio_status cuda_op_silu(void *ctx, dio_stream *stream, const dio_op_call *call)
{
    CUDA_OP_PROLOGUE(silu);
    return ew_run(be, stream, CUDA_EW_SILU, call->outputs[0], call->inputs[0], NULL, 0, 0);
}

dio_status cuda_op_gelu(void *ctx, dio_stream *stream, const dio_op_call *call)
{
    const dio_gelu_params *p;
    int tanh_approx = 0;
    CUDA_OP_PROLOGUE(gelu);
    p = call->params;
    if (CUDA_PARAM_FITS(p, dio_gelu_params, approximate_tanh)) tanh_approx = p->approximate_tanh != 0;
    return ew_run(be, stream, tanh_approx ? CUDA_EW_GELU_TANH : CUDA_EW_GELU_ERF, call->outputs[0],
                  call->inputs[0], NULL, 0, 0);
}

dio_status cuda_op_swiglu(void *ctx, dio_stream *stream, const dio_op_call *call)
{
    CUDA_OP_PROLOGUE(swiglu);
    return ew_run(be, stream, CUDA_EW_SWIGLU, call->outputs[0], call->inputs[0], call->inputs[1], 0, 0);
}

dio_status cuda_op_gated_residual(void *ctx, dio_stream *stream, const dio_op_call *call)
{
    const dio_tensor *x, *r, *g, *y;
    const dio_tensor *ops[3];
    cuda_ew_desc d;
    int64_t G, per;
    CUDA_OP_PROLOGUE(gated_residual);
    x = call->inputs[0];
    r = call->inputs[1];
    g = call->inputs[2];
    y = call->outputs[0];
    memset(&d, 0, sizeof(d));
    d.numel = dio_tensor_numel(y);
    if (d.numel == 0) return DIO_OK;
    G = g->shape[1];
    per = x->shape[1] / G;
    /* [B, L, C] seen as [B, G, L/G, C]; the gate's third dim is the broadcast one. */
    d.op = CUDA_EW_GATED;
    d.ndim = 4;
    d.n_in = 3;
    d.shape[0] = y->shape[0];
    d.shape[1] = G;
    d.shape[2] = per;
    d.shape[3] = y->shape[2];
    d.out = cuda_tensor_data(y);
    d.out_dtype = y->dtype;
    d.out_stride[0] = y->stride[0];
    d.out_stride[1] = y->stride[1] * per;
    d.out_stride[2] = y->stride[1];
    d.out_stride[3] = y->stride[2];
    ops[0] = x;
    ops[1] = r;
    ops[2] = g;
    for (int i = 0; i < 3; i++) {
        const dio_tensor *t = ops[i];
        d.in[i] = cuda_tensor_data(t);
        d.in_dtype[i] = t->dtype;
        d.in_stride[i][0] = t->stride[0];
        d.in_stride[i][1] = i == 2 ? t->stride[1] : t->stride[1] * per;
        d.in_stride[i][2] = i == 2 ? 0 : t->stride[1];
        d.in_stride[i][3] = t->stride[2];
    }
    return ew_launch(be, stream, &d);
}

/* GPU backends — the row reductions on the host side: LAYERNORM, RMSNORM, ADALN_MODULATE, SOFTMAX and
 * CHANNEL_RMSNORM, checked with the rules of ops.h (the CPU backend's), described in one cuda_norm_desc
 * (rows are x's leading dims with their strides, so the strided rows of a [B, L, H, D] view need no copy)
 * and queued on cuda_norm_kernels.cu. Norm weights may be any float dtype, as ops.h allows; AdaLN's shift
 * and scale, and CHANNEL_RMSNORM's gamma and bias, have x's dtype. */
#include <stdio.h>
#include <string.h>

#include "cuda_internal.h"

static dio_status check_vector(const cuda_backend *be, const char *op, const char *what, const dio_tensor *t,
                               int64_t n)
{
    char a[160];
    if (t->ndim != 1 || t->shape[0] != n)
        return cuda_error(be, DIO_ERR_INVALID_ARGUMENT, "%s: %s has shape %s; expected [%lld]", op, what,
                          cuda_shape_str(t, a, sizeof(a)), (long long)n);
    return DIO_OK;
}

/* x -> y of x's shape and dtype, x at least 1-dim: the common part of every check here. */
static dio_status check_row_pair(const cuda_backend *be, const char *op, const dio_tensor *x,
                                 const dio_tensor *y, int min_ndim)
{
    char a[160];
    dio_status st;
    if ((st = cuda_check_float(be, op, "x", x)) != DIO_OK) return st;
    if (x->ndim < min_ndim)
        return cuda_error(be, DIO_ERR_INVALID_ARGUMENT, "%s: x has shape %s; it needs at least %d dims", op,
                          cuda_shape_str(x, a, sizeof(a)), min_ndim);
    if ((st = cuda_check_dtype_as(be, op, "y", y, "x", x)) != DIO_OK) return st;
    if ((st = cuda_check_shape_as(be, op, "y", y, "x", x)) != DIO_OK) return st;
    return cuda_check_numel(be, op, "y", y);
}

static dio_status check_rownorm(const cuda_backend *be, const dio_op_call *call, int32_t device,
                                int with_bias)
{
    const char *op = dio_op_name(call->op);
    const dio_tensor *x, *y, *w, *b;
    dio_status st;
    if ((st = cuda_check_call(be, call, 1, with_bias ? 3 : 2, 1, 1, device)) != DIO_OK) return st;
    x = call->inputs[0];
    y = call->outputs[0];
    w = call->n_inputs > 1 ? call->inputs[1] : NULL;
    b = call->n_inputs > 2 ? call->inputs[2] : NULL;
    if ((st = check_row_pair(be, op, x, y, 1)) != DIO_OK) return st;
    if (w) {
        if ((st = cuda_check_float(be, op, "weight", w)) != DIO_OK) return st;
        if ((st = check_vector(be, op, "weight", w, x->shape[x->ndim - 1])) != DIO_OK) return st;
    }
    if (b) {
        if ((st = cuda_check_float(be, op, "bias", b)) != DIO_OK) return st;
        if ((st = check_vector(be, op, "bias", b, x->shape[x->ndim - 1])) != DIO_OK) return st;
    }
    return DIO_OK;
}

dio_status cuda_check_layernorm(const cuda_backend *be, const dio_op_call *call, int32_t device)
{
    return check_rownorm(be, call, device, 1);
}

dio_status cuda_check_rmsnorm(const cuda_backend *be, const dio_op_call *call, int32_t device)
{
    return check_rownorm(be, call, device, 0);
}

dio_status cuda_check_softmax(const cuda_backend *be, const dio_op_call *call, int32_t device)
{
    dio_status st;
    if ((st = cuda_check_call(be, call, 1, 1, 1, 1, device)) != DIO_OK) return st;
    return check_row_pair(be, "softmax", call->inputs[0], call->outputs[0], 1);
}

dio_status cuda_check_adaln_modulate(const cuda_backend *be, const dio_op_call *call, int32_t device)
{
    const char *op = "adaln_modulate";
    const dio_tensor *x;
    dio_status st;
    if ((st = cuda_check_call(be, call, 3, 3, 3, 1, device)) != DIO_OK) return st;
    x = call->inputs[0];
    if ((st = cuda_check_float(be, op, "x", x)) != DIO_OK) return st;
    if ((st = cuda_check_ndim(be, op, "x", x, 3)) != DIO_OK) return st;
    if ((st = cuda_check_modulation(be, op, "shift", call->inputs[1], x)) != DIO_OK) return st;
    if ((st = cuda_check_modulation(be, op, "scale", call->inputs[2], x)) != DIO_OK) return st;
    return check_row_pair(be, op, x, call->outputs[0], 3);
}

dio_status cuda_check_channel_rmsnorm(const cuda_backend *be, const dio_op_call *call, int32_t device)
{
    const char *op = "channel_rmsnorm";
    const dio_tensor *x, *g, *b, *y;
    dio_status st;
    if ((st = cuda_check_call(be, call, 2, 3, 2, 1, device)) != DIO_OK) return st;
    x = call->inputs[0];
    g = call->inputs[1];
    b = call->n_inputs > 2 ? call->inputs[2] : NULL;
    y = call->outputs[0];
    if ((st = check_row_pair(be, op, x, y, 2)) != DIO_OK) return st;
    if ((st = cuda_check_dtype_as(be, op, "gamma", g, "x", x)) != DIO_OK) return st;
    if ((st = check_vector(be, op, "gamma", g, x->shape[1])) != DIO_OK) return st;
    if (b) {
        if ((st = cuda_check_dtype_as(be, op, "bias", b, "x", x)) != DIO_OK) return st;
        if ((st = check_vector(be, op, "bias", b, x->shape[1])) != DIO_OK) return st;
    }
    if (!dio_tensor_is_contiguous(x) || !dio_tensor_is_contiguous(y) || !dio_tensor_is_contiguous(g) ||
        (b && !dio_tensor_is_contiguous(b)))
        return cuda_error(be, DIO_ERR_NOT_SUPPORTED,
                          "%s: ops.h makes every tensor contiguous; a strided view is "
                          "not implemented on " GPU_NAME,
                          op);
    return DIO_OK;
}

/* ---- running ---- */

static void desc_rows(cuda_norm_desc *d, const dio_tensor *x, const dio_tensor *y)
{
    d->dtype = x->dtype;
    d->C = x->shape[x->ndim - 1];
    d->nlead = x->ndim - 1;
    d->rows = 1;
    for (int i = 0; i < d->nlead; i++) {
        d->lead_shape[i] = x->shape[i];
        d->x_stride[i] = x->stride[i];
        d->y_stride[i] = y->stride[i];
        d->rows *= x->shape[i];
    }
    d->x_cstride = x->stride[x->ndim - 1];
    d->y_cstride = y->stride[y->ndim - 1];
    d->x = cuda_tensor_data(x);
    d->y = cuda_tensor_data(y);
}

static dio_status norm_run(cuda_backend *be, dio_stream *stream, const cuda_norm_desc *d)
{
    dio_status st;
    if (d->rows == 0 || d->C == 0) return DIO_OK;
    if ((st = cuda_use_device(be, stream)) != DIO_OK) return st;
    return cuda_launch_status(be, cuda_norm_launch(d, stream->s), "row-norm");
}

static float norm_eps(const dio_op_call *call)
{
    const dio_norm_params *p = call->params;
    return CUDA_PARAM_FITS(p, dio_norm_params, eps) ? p->eps : 1e-6f;
}

static dio_status run_rownorm(cuda_backend *be, dio_stream *stream, const dio_op_call *call, int32_t op)
{
    const dio_tensor *x = call->inputs[0], *y = call->outputs[0];
    const dio_tensor *w = call->n_inputs > 1 ? call->inputs[1] : NULL;
    const dio_tensor *b = call->n_inputs > 2 ? call->inputs[2] : NULL;
    cuda_norm_desc d;
    memset(&d, 0, sizeof(d));
    d.op = op;
    d.eps = norm_eps(call);
    desc_rows(&d, x, y);
    if (w) {
        d.w = cuda_tensor_data(w);
        d.w_dtype = w->dtype;
        d.w_stride = w->stride[0];
    }
    if (b) {
        d.b = cuda_tensor_data(b);
        d.b_dtype = b->dtype;
        d.b_stride = b->stride[0];
    }
    return norm_run(be, stream, &d);
}

dio_status cuda_op_layernorm(void *ctx, dio_stream *stream, const dio_op_call *call)
{
    CUDA_OP_PROLOGUE(layernorm);
    return run_rownorm(be, stream, call, CUDA_NORM_LAYER);
}

dio_status cuda_op_rmsnorm(void *ctx, dio_stream *stream, const dio_op_call *call)
{
    CUDA_OP_PROLOGUE(rmsnorm);
    return run_rownorm(be, stream, call, CUDA_NORM_RMS);
}

dio_status cuda_op_softmax(void *ctx, dio_stream *stream, const dio_op_call *call)
{
    const dio_softmax_params *p;
    cuda_norm_desc d;
    CUDA_OP_PROLOGUE(softmax);
    p = call->params;
    memset(&d, 0, sizeof(d));
    d.op = CUDA_NORM_SOFTMAX;
    d.p = CUDA_PARAM_FITS(p, dio_softmax_params, scale) ? p->scale : 1.0f;
    desc_rows(&d, call->inputs[0], call->outputs[0]);
    return norm_run(be, stream, &d);
}

dio_status cuda_op_adaln_modulate(void *ctx, dio_stream *stream, const dio_op_call *call)
{
    const dio_adaln_params *p;
    const dio_tensor *x, *sh, *sc;
    cuda_norm_desc d;
    CUDA_OP_PROLOGUE(adaln_modulate);
    p = call->params;
    x = call->inputs[0];
    sh = call->inputs[1];
    sc = call->inputs[2];
    memset(&d, 0, sizeof(d));
    d.op = CUDA_NORM_ADALN;
    d.eps = CUDA_PARAM_FITS(p, dio_adaln_params, eps) ? p->eps : 1e-6f;
    d.rms = CUDA_PARAM_FITS(p, dio_adaln_params, rms) ? p->rms != 0 : 0;
    desc_rows(&d, x, call->outputs[0]);
    d.L = x->shape[1];
    d.group_len = x->shape[1] / sh->shape[1];
    for (int i = 0; i < 3; i++) {
        d.mod_stride[0][i] = sh->stride[i];
        d.mod_stride[1][i] = sc->stride[i];
    }
    d.shift = cuda_tensor_data(sh);
    d.scale = cuda_tensor_data(sc);
    return norm_run(be, stream, &d);
}

dio_status cuda_op_channel_rmsnorm(void *ctx, dio_stream *stream, const dio_op_call *call)
{
    const dio_channel_norm_params *p;
    const dio_tensor *x, *g, *b;
    cuda_channel_norm_desc d;
    CUDA_OP_PROLOGUE(channel_rmsnorm);
    p = call->params;
    x = call->inputs[0];
    g = call->inputs[1];
    b = call->n_inputs > 2 ? call->inputs[2] : NULL;
    memset(&d, 0, sizeof(d));
    d.dtype = x->dtype;
    d.g_dtype = g->dtype;
    d.eps = CUDA_PARAM_FITS(p, dio_channel_norm_params, eps) ? p->eps : 1e-12f;
    d.B = x->shape[0];
    d.C = x->shape[1];
    d.S = 1;
    for (int i = 2; i < x->ndim; i++) d.S *= x->shape[i];
    if (d.B * d.C * d.S == 0) return DIO_OK;
    d.x = cuda_tensor_data(x);
    d.gamma = cuda_tensor_data(g);
    if (b) {
        d.bias = cuda_tensor_data(b);
        d.b_dtype = b->dtype;
    }
    d.y = cuda_tensor_data(call->outputs[0]);
    if ((st = cuda_use_device(be, stream)) != DIO_OK) return st;
    return cuda_launch_status(be, cuda_channel_norm_launch(&d, stream->s), "channel-rmsnorm");
}

/* GPU backends — CONV3D and CONV2D on the host side: the checks of ops.h (the CPU backend's rules:
 * grouped weights [Cout, Cin/groups, k...], per-side padding, dilation, the causal frame cache whose
 * frames shrink the front time pad, contiguous tensors) resolved into one cuda_conv_desc for the direct
 * kernel of cuda_conv_kernels.cu. A 2D convolution is a 3D one with one frame and a 1-frame kernel. */
#include <string.h>

#include "cuda_internal.h"

typedef struct conv_params {
    int64_t stride[3], pad_front[3], pad_back[3], dilation[3];
    int64_t groups;
} conv_params;

static void read_params(const void *params, conv_params *out)
{
    const dio_conv_params *cp = params;
    for (int i = 0; i < 3; i++) {
        out->stride[i] = 1;
        out->pad_front[i] = 0;
        out->pad_back[i] = 0;
        out->dilation[i] = 1;
    }
    out->groups = 1;
    for (int i = 0; cp && i < 3; i++) {
        if (CUDA_PARAM_FITS_ELEM(cp, dio_conv_params, stride, i)) out->stride[i] = cp->stride[i];
        if (CUDA_PARAM_FITS_ELEM(cp, dio_conv_params, pad_front, i)) out->pad_front[i] = cp->pad_front[i];
        if (CUDA_PARAM_FITS_ELEM(cp, dio_conv_params, pad_back, i)) out->pad_back[i] = cp->pad_back[i];
        if (CUDA_PARAM_FITS_ELEM(cp, dio_conv_params, dilation, i)) out->dilation[i] = cp->dilation[i];
    }
    if (CUDA_PARAM_FITS(cp, dio_conv_params, groups)) out->groups = cp->groups;
}

/* Checks a call with ns spatial dims and fills d (3 spatial dims, time first) when it is valid. */
static dio_status conv_check(const cuda_backend *be, const dio_op_call *call, int32_t device, int ns,
                             cuda_conv_desc *d)
{
    const char *op = ns == 3 ? "conv3d" : "conv2d";
    const dio_tensor *x, *w, *bias, *cache, *y;
    conv_params p;
    char s1[96], s2[96], s3[96];
    const int nd = ns + 2;
    int64_t in[3], k[3], pf[3], out[3], c;
    dio_status st;
    if ((st = cuda_check_call(be, call, 2, 4, 2, 1, device)) != DIO_OK) return st;
    x = call->inputs[0];
    w = call->inputs[1];
    bias = call->n_inputs > 2 ? call->inputs[2] : NULL;
    cache = call->n_inputs > 3 ? call->inputs[3] : NULL;
    y = call->outputs[0];
    if (ns == 2 && cache)
        return cuda_error(be, DIO_ERR_INVALID_ARGUMENT, "conv2d: input 3 (cache) must be NULL or absent");
    read_params(call->params, &p);
    if (!cuda_is_float_activation(x->dtype))
        return cuda_error(be, DIO_ERR_NOT_SUPPORTED,
                          "%s: input x has dtype %s; activations must be f32, f16 or bf16", op,
                          dio_dtype_name(x->dtype));
    if (y->dtype != x->dtype)
        return cuda_error(be, DIO_ERR_INVALID_ARGUMENT,
                          "%s: output y has dtype %s but x has %s; they must match", op,
                          dio_dtype_name(y->dtype), dio_dtype_name(x->dtype));
    if (cache && cache->dtype != x->dtype)
        return cuda_error(be, DIO_ERR_INVALID_ARGUMENT,
                          "%s: input cache has dtype %s but x has %s; they must match", op,
                          dio_dtype_name(cache->dtype), dio_dtype_name(x->dtype));
    if (!cuda_is_float_activation(w->dtype))
        return cuda_error(be, DIO_ERR_NOT_SUPPORTED,
                          "%s: input w has dtype %s; conv weights must be f32, f16 or bf16", op,
                          dio_dtype_name(w->dtype));
    if (bias && !cuda_is_float_activation(bias->dtype))
        return cuda_error(be, DIO_ERR_NOT_SUPPORTED,
                          "%s: input bias has dtype %s; it must be f32, f16 or bf16", op,
                          dio_dtype_name(bias->dtype));
    if (x->ndim != nd || w->ndim != nd || y->ndim != nd || (cache && cache->ndim != nd))
        return cuda_error(be, DIO_ERR_INVALID_ARGUMENT, "%s: x %s, w %s and y %s must be %d-D", op,
                          cuda_shape_str(x, s1, sizeof(s1)), cuda_shape_str(w, s2, sizeof(s2)),
                          cuda_shape_str(y, s3, sizeof(s3)), nd);
    for (int i = 0; i < ns; i++)
        if (p.stride[i] < 1 || p.dilation[i] < 1 || p.pad_front[i] < 0 || p.pad_back[i] < 0)
            return cuda_error(
                be, DIO_ERR_INVALID_ARGUMENT,
                "%s: spatial dim %d has stride %lld, dilation %lld, padding %lld/%lld (need >= 1, >= 1, "
                ">= 0)",
                op, i, (long long)p.stride[i], (long long)p.dilation[i], (long long)p.pad_front[i],
                (long long)p.pad_back[i]);
    if (p.groups < 1)
        return cuda_error(be, DIO_ERR_INVALID_ARGUMENT, "%s: groups is %lld, must be >= 1", op,
                          (long long)p.groups);
    c = cache ? cache->shape[2] : 0;
    if (x->shape[1] % p.groups || w->shape[0] % p.groups || w->shape[1] != x->shape[1] / p.groups)
        return cuda_error(
            be, DIO_ERR_INVALID_ARGUMENT,
            "%s: w %s does not fit x %s with groups %lld (need Cin and Cout divisible by groups, w "
            "[Cout, Cin/groups, ...])",
            op, cuda_shape_str(w, s1, sizeof(s1)), cuda_shape_str(x, s2, sizeof(s2)), (long long)p.groups);
    if (bias && (bias->ndim != 1 || bias->shape[0] != w->shape[0]))
        return cuda_error(be, DIO_ERR_INVALID_ARGUMENT, "%s: input bias %s must be [%lld]", op,
                          cuda_shape_str(bias, s1, sizeof(s1)), (long long)w->shape[0]);
    if (cache && (cache->shape[0] != x->shape[0] || cache->shape[1] != x->shape[1] ||
                  cache->shape[3] != x->shape[3] || cache->shape[4] != x->shape[4]))
        return cuda_error(be, DIO_ERR_INVALID_ARGUMENT,
                          "%s: input cache %s must be [%lld, %lld, c, %lld, %lld]", op,
                          cuda_shape_str(cache, s1, sizeof(s1)), (long long)x->shape[0],
                          (long long)x->shape[1], (long long)x->shape[3], (long long)x->shape[4]);
    for (int i = 0; i < ns; i++) {
        int64_t len, ext;
        k[i] = w->shape[2 + i];
        in[i] = x->shape[2 + i];
        pf[i] = p.pad_front[i];
        if (i == 0 && ns == 3) {
            in[0] += c;
            pf[0] = p.pad_front[0] > c ? p.pad_front[0] - c : 0;
        }
        if (k[i] < 1)
            return cuda_error(be, DIO_ERR_INVALID_ARGUMENT, "%s: w %s has an empty kernel dim", op,
                              cuda_shape_str(w, s1, sizeof(s1)));
        len = pf[i] + in[i] + p.pad_back[i];
        ext = (k[i] - 1) * p.dilation[i] + 1;
        if (len < ext)
            return cuda_error(
                be, DIO_ERR_INVALID_ARGUMENT,
                "%s: spatial dim %d: padded input extent %lld is smaller than the dilated kernel %lld", op, i,
                (long long)len, (long long)ext);
        out[i] = (len - ext) / p.stride[i] + 1;
    }
    {
        int ok = y->shape[0] == x->shape[0] && y->shape[1] == w->shape[0];
        for (int i = 0; i < ns; i++) ok = ok && y->shape[2 + i] == out[i];
        if (!ok)
            return cuda_error(be, DIO_ERR_INVALID_ARGUMENT,
                              "%s: output y %s does not match x, w and the params", op,
                              cuda_shape_str(y, s1, sizeof(s1)));
    }
    {
        const dio_tensor *const ts[5] = {x, w, bias, cache, y};
        static const char *const names[5] = {"input x", "input w", "input bias", "input cache", "output y"};
        for (int i = 0; i < 5; i++)
            if (ts[i] && !dio_tensor_is_contiguous(ts[i]))
                return cuda_error(be, DIO_ERR_NOT_SUPPORTED, "%s: %s %s must be contiguous", op, names[i],
                                  cuda_shape_str(ts[i], s1, sizeof(s1)));
    }
    if (!d) return DIO_OK;
    /* The 3D geometry: conv2d gets a leading time dim of one frame, kernel 1. */
    memset(d, 0, sizeof(*d));
    d->dtype = x->dtype;
    d->w_dtype = w->dtype;
    d->b_dtype = bias ? bias->dtype : x->dtype;
    d->B = x->shape[0];
    d->Cin = x->shape[1];
    d->Cout = w->shape[0];
    d->groups = p.groups;
    d->cache_T = c;
    {
        const int o = 3 - ns; /* the first of our 3 dims that the call has */
        int64_t ext3[3] = {1, 1, 1}, k3[3] = {1, 1, 1}, out3[3] = {1, 1, 1};
        for (int i = 0; i < 3; i++) {
            d->stride[i] = 1;
            d->dilation[i] = 1;
            d->pad[i] = 0;
        }
        for (int i = 0; i < ns; i++) {
            ext3[o + i] = x->shape[2 + i];
            k3[o + i] = k[i];
            out3[o + i] = out[i];
            d->stride[o + i] = (int32_t)p.stride[i];
            d->dilation[o + i] = (int32_t)p.dilation[i];
            d->pad[o + i] = (int32_t)pf[i];
        }
        d->T = ext3[0], d->H = ext3[1], d->W = ext3[2];
        d->kt = k3[0], d->kh = k3[1], d->kw = k3[2];
        d->To = out3[0], d->Ho = out3[1], d->Wo = out3[2];
    }
    d->x = cuda_tensor_data(x);
    d->cache = cache ? cuda_tensor_data(cache) : NULL;
    d->w = cuda_tensor_data(w);
    d->bias = bias ? cuda_tensor_data(bias) : NULL;
    d->y = cuda_tensor_data(y);
    return DIO_OK;
}

dio_status cuda_check_conv3d(const cuda_backend *be, const dio_op_call *call, int32_t device)
{
    return conv_check(be, call, device, 3, NULL);
}

dio_status cuda_check_conv2d(const cuda_backend *be, const dio_op_call *call, int32_t device)
{
    return conv_check(be, call, device, 2, NULL);
}

static dio_status conv_run(cuda_backend *be, dio_stream *stream, const dio_op_call *call, int ns)
{
    cuda_conv_desc d;
    dio_status st;
    if ((st = conv_check(be, call, stream->device, ns, &d)) != DIO_OK) return st;
    if (d.B * d.Cout * d.To * d.Ho * d.Wo == 0) return DIO_OK;
    if ((st = cuda_use_device(be, stream)) != DIO_OK) return st;
    return cuda_launch_status(be, cuda_conv_launch(&d, stream->s), ns == 3 ? "conv3d" : "conv2d");
}

dio_status cuda_op_conv3d(void *ctx, dio_stream *stream, const dio_op_call *call)
{
    cuda_backend *be = ctx;
    if (!be || !call || !stream) return DIO_ERR_INVALID_ARGUMENT;
    return conv_run(be, stream, call, 3);
}

dio_status cuda_op_conv2d(void *ctx, dio_stream *stream, const dio_op_call *call)
{
    cuda_backend *be = ctx;
    if (!be || !call || !stream) return DIO_ERR_INVALID_ARGUMENT;
    return conv_run(be, stream, call, 2);
}

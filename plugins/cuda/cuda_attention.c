/* GPU backends — ATTENTION on the host side: the checks of ops.h (the CPU backend's: 4-D Q, K, V and O
 * sharing a dtype, grouped-query heads, an f32 mask [Lq, Lk] or [B, 1 | Hq, Lq, Lk], last dims
 * contiguous) plus the portable kernel's own limits, refused as NOT_SUPPORTED with the reason: Dv up to
 * CUDA_ATTN_MAX_DV, Hq and B up to 65535 (grid y and z). The mask's broadcast dims get a stride of 0. */
#include <math.h>
#include <string.h>

#include "cuda_internal.h"

static dio_status check_last_dim(const cuda_backend *be, const dio_tensor *t, const char *what)
{
    if (t->ndim > 0 && t->shape[t->ndim - 1] > 1 && t->stride[t->ndim - 1] != 1)
        return cuda_error(be, DIO_ERR_NOT_SUPPORTED,
                          "attention: %s: the last dim must be contiguous (stride %lld)", what,
                          (long long)t->stride[t->ndim - 1]);
    return DIO_OK;
}

dio_status cuda_check_attention(const cuda_backend *be, const dio_op_call *call, int32_t device)
{
    const dio_tensor *Q, *K, *V, *mask, *O;
    char s1[96], s2[96], s3[96], s4[96];
    int64_t B, Hq, Hkv, Lq, Lk, D, Dv;
    dio_status st;
    if ((st = cuda_check_call(be, call, 3, 4, 3, 1, device)) != DIO_OK) return st;
    Q = call->inputs[0];
    K = call->inputs[1];
    V = call->inputs[2];
    mask = call->n_inputs > 3 ? call->inputs[3] : NULL;
    O = call->outputs[0];
    if (!cuda_is_float_activation(Q->dtype))
        return cuda_error(be, DIO_ERR_NOT_SUPPORTED,
                          "attention: input Q has dtype %s; activations must be f32, f16 or bf16",
                          dio_dtype_name(Q->dtype));
    if (K->dtype != Q->dtype || V->dtype != Q->dtype || O->dtype != Q->dtype)
        return cuda_error(be, DIO_ERR_NOT_SUPPORTED,
                          "attention: Q, K, V and output O must share a dtype (got %s, %s, %s, %s)",
                          dio_dtype_name(Q->dtype), dio_dtype_name(K->dtype), dio_dtype_name(V->dtype),
                          dio_dtype_name(O->dtype));
    if (mask && mask->dtype != DIO_DTYPE_F32)
        return cuda_error(be, DIO_ERR_NOT_SUPPORTED, "attention: input mask has dtype %s; it must be f32",
                          dio_dtype_name(mask->dtype));
    if (Q->ndim != 4 || K->ndim != 4 || V->ndim != 4 || O->ndim != 4)
        return cuda_error(be, DIO_ERR_INVALID_ARGUMENT,
                          "attention: Q %s, K %s, V %s and O %s must all be 4-D [B, H, L, D]",
                          cuda_shape_str(Q, s1, sizeof(s1)), cuda_shape_str(K, s2, sizeof(s2)),
                          cuda_shape_str(V, s3, sizeof(s3)), cuda_shape_str(O, s4, sizeof(s4)));
    B = Q->shape[0];
    Hq = Q->shape[1];
    Lq = Q->shape[2];
    D = Q->shape[3];
    Hkv = K->shape[1];
    Lk = K->shape[2];
    Dv = V->shape[3];
    if (K->shape[0] != B || K->shape[3] != D || V->shape[0] != B || V->shape[1] != Hkv || V->shape[2] != Lk)
        return cuda_error(be, DIO_ERR_INVALID_ARGUMENT,
                          "attention: K %s and V %s do not match Q %s (expected K [%lld, Hkv, Lk, %lld], V "
                          "[%lld, Hkv, Lk, Dv])",
                          cuda_shape_str(K, s1, sizeof(s1)), cuda_shape_str(V, s2, sizeof(s2)),
                          cuda_shape_str(Q, s3, sizeof(s3)), (long long)B, (long long)D, (long long)B);
    if (O->shape[0] != B || O->shape[1] != Hq || O->shape[2] != Lq || O->shape[3] != Dv)
        return cuda_error(
            be, DIO_ERR_INVALID_ARGUMENT, "attention: output O %s must be [%lld, %lld, %lld, %lld]",
            cuda_shape_str(O, s1, sizeof(s1)), (long long)B, (long long)Hq, (long long)Lq, (long long)Dv);
    if (Hkv == 0 ? Hq != 0 : Hq % Hkv != 0)
        return cuda_error(be, DIO_ERR_INVALID_ARGUMENT,
                          "attention: query heads (%lld) must be a multiple of key/value heads (%lld)",
                          (long long)Hq, (long long)Hkv);
    if (D == 0 && B * Hq * Lq * Dv > 0)
        return cuda_error(be, DIO_ERR_INVALID_ARGUMENT, "attention: head dim D of Q %s must be at least 1",
                          cuda_shape_str(Q, s1, sizeof(s1)));
    if (mask) {
        int ok = 0;
        if (mask->ndim == 2)
            ok = mask->shape[0] == Lq && mask->shape[1] == Lk;
        else if (mask->ndim == 4)
            ok = mask->shape[0] == B && (mask->shape[1] == 1 || mask->shape[1] == Hq) &&
                 mask->shape[2] == Lq && mask->shape[3] == Lk;
        if (!ok)
            return cuda_error(
                be, DIO_ERR_INVALID_ARGUMENT,
                "attention: input mask %s must be [%lld, %lld] or [%lld, 1 or %lld, %lld, %lld]",
                cuda_shape_str(mask, s1, sizeof(s1)), (long long)Lq, (long long)Lk, (long long)B,
                (long long)Hq, (long long)Lq, (long long)Lk);
    }
    if ((st = check_last_dim(be, Q, "input Q")) != DIO_OK ||
        (st = check_last_dim(be, K, "input K")) != DIO_OK ||
        (st = check_last_dim(be, V, "input V")) != DIO_OK ||
        (st = check_last_dim(be, O, "output O")) != DIO_OK ||
        (mask && (st = check_last_dim(be, mask, "input mask")) != DIO_OK))
        return st;
    if (Dv > CUDA_ATTN_MAX_DV)
        return cuda_error(be, DIO_ERR_NOT_SUPPORTED,
                          "attention: value head dim %lld is above the portable kernel's %d on " GPU_NAME,
                          (long long)Dv, CUDA_ATTN_MAX_DV);
    if (Hq > 65535 || B > 65535)
        return cuda_error(be, DIO_ERR_NOT_SUPPORTED,
                          "attention: %lld heads x %lld batches exceed the grid (65535 each)", (long long)Hq,
                          (long long)B);
    if ((Lq + 7) / 8 > 0x7fffffffLL)
        return cuda_error(be, DIO_ERR_NOT_SUPPORTED, "attention: %lld queries exceed the grid",
                          (long long)Lq);
    return DIO_OK;
}

dio_status cuda_op_attention(void *ctx, dio_stream *stream, const dio_op_call *call)
{
    const dio_attention_params *p;
    const dio_tensor *Q, *K, *V, *mask, *O;
    cuda_attention_desc d;
    CUDA_OP_PROLOGUE(attention);
    p = call->params;
    Q = call->inputs[0];
    K = call->inputs[1];
    V = call->inputs[2];
    mask = call->n_inputs > 3 ? call->inputs[3] : NULL;
    O = call->outputs[0];
    memset(&d, 0, sizeof(d));
    d.dtype = Q->dtype;
    d.B = Q->shape[0];
    d.Hq = Q->shape[1];
    d.Lq = Q->shape[2];
    d.D = Q->shape[3];
    d.Hkv = K->shape[1];
    d.Lk = K->shape[2];
    d.Dv = V->shape[3];
    if (d.B * d.Hq * d.Lq * d.Dv == 0) return DIO_OK;
    d.scale = CUDA_PARAM_FITS(p, dio_attention_params, scale) ? p->scale : 0.0f;
    if (d.scale == 0.0f) d.scale = 1.0f / sqrtf((float)d.D);
    d.causal = CUDA_PARAM_FITS(p, dio_attention_params, causal) ? p->causal != 0 : 0;
    for (int i = 0; i < 3; i++) {
        d.q_stride[i] = Q->stride[i];
        d.k_stride[i] = K->stride[i];
        d.v_stride[i] = V->stride[i];
        d.o_stride[i] = O->stride[i];
    }
    if (mask && mask->ndim == 2) {
        d.m_stride[2] = mask->stride[0];
        d.m_stride[3] = mask->stride[1];
    } else if (mask) {
        d.m_stride[0] = mask->stride[0];
        d.m_stride[1] = mask->shape[1] == 1 ? 0 : mask->stride[1];
        d.m_stride[2] = mask->stride[2];
        d.m_stride[3] = mask->stride[3];
    }
    d.q = cuda_tensor_data(Q);
    d.k = cuda_tensor_data(K);
    d.v = cuda_tensor_data(V);
    d.mask = mask ? cuda_tensor_data(mask) : NULL;
    d.o = cuda_tensor_data(O);
    if ((st = cuda_use_device(be, stream)) != DIO_OK) return st;
    return cuda_launch_status(be, cuda_attention_launch(&d, stream->s), "attention");
}

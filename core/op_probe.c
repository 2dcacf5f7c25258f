/* libdiorama — dio_backend_probe_op: does a backend run this op with activations of this dtype?
 *
 * The answer comes from the backend itself: the probe builds one small canonical call of the op (the
 * shapes in the table below, activations — and matmul/conv weights — in `dtype`, the f32 tables and
 * i32 ids the contract asks for), allocates real buffers on the backend so the call is well-formed in
 * every respect, asks supports_op, and frees everything. Nothing runs. Any refusal is reported as
 * NOT_SUPPORTED carrying the backend's own message, so `diorama ops` can print why. Design: a static
 * table per op (tensor shapes and dtype roles) plus a switch for the parameter structs; one cleanup
 * path; never aborts. */
#include <stdio.h>
#include <string.h>

#include "diorama/diorama.h"

enum { P_ACT, P_F32, P_I32 }; /* a tensor's dtype: the probed one, or fixed by the contract */

typedef struct probe_tensor {
    int8_t dt;
    int8_t ndim;
    int64_t shape[5];
} probe_tensor;

typedef struct probe_spec {
    int8_t n_in; /* inputs first, then the one output */
    probe_tensor t[5];
} probe_spec;

#define T(dt, nd, ...)                                                                                       \
    {                                                                                                        \
        dt, nd,                                                                                              \
        {                                                                                                    \
            __VA_ARGS__                                                                                      \
        }                                                                                                    \
    }
static const probe_spec probe_specs[DIO_OP_COUNT_1_0] = {
    [DIO_OP_MATMUL] = {2, {T(P_ACT, 2, 4, 8), T(P_ACT, 2, 8, 16), T(P_ACT, 2, 4, 16)}},
    [DIO_OP_ATTENTION] = {3,
                          {T(P_ACT, 4, 1, 2, 4, 8), T(P_ACT, 4, 1, 2, 4, 8), T(P_ACT, 4, 1, 2, 4, 8),
                           T(P_ACT, 4, 1, 2, 4, 8)}},
    [DIO_OP_LAYERNORM] = {3, {T(P_ACT, 2, 4, 16), T(P_ACT, 1, 16), T(P_ACT, 1, 16), T(P_ACT, 2, 4, 16)}},
    [DIO_OP_RMSNORM] = {2, {T(P_ACT, 2, 4, 16), T(P_ACT, 1, 16), T(P_ACT, 2, 4, 16)}},
    [DIO_OP_ADALN_MODULATE] = {3,
                               {T(P_ACT, 3, 1, 4, 16), T(P_ACT, 3, 1, 1, 16), T(P_ACT, 3, 1, 1, 16),
                                T(P_ACT, 3, 1, 4, 16)}},
    [DIO_OP_GATED_RESIDUAL] = {3,
                               {T(P_ACT, 3, 1, 4, 16), T(P_ACT, 3, 1, 4, 16), T(P_ACT, 3, 1, 1, 16),
                                T(P_ACT, 3, 1, 4, 16)}},
    [DIO_OP_ROPE] = {3,
                     {T(P_ACT, 4, 1, 4, 2, 8), T(P_F32, 2, 4, 8), T(P_F32, 2, 4, 8),
                      T(P_ACT, 4, 1, 4, 2, 8)}},
    [DIO_OP_GELU] = {1, {T(P_ACT, 2, 4, 16), T(P_ACT, 2, 4, 16)}},
    [DIO_OP_SILU] = {1, {T(P_ACT, 2, 4, 16), T(P_ACT, 2, 4, 16)}},
    [DIO_OP_SWIGLU] = {2, {T(P_ACT, 2, 4, 16), T(P_ACT, 2, 4, 16), T(P_ACT, 2, 4, 16)}},
    [DIO_OP_CONV3D] = {3,
                       {T(P_ACT, 5, 1, 4, 3, 6, 6), T(P_ACT, 5, 8, 4, 3, 3, 3), T(P_ACT, 1, 8),
                        T(P_ACT, 5, 1, 8, 1, 4, 4)}},
    [DIO_OP_CONV2D] = {3,
                       {T(P_ACT, 4, 1, 4, 6, 6), T(P_ACT, 4, 8, 4, 3, 3), T(P_ACT, 1, 8),
                        T(P_ACT, 4, 1, 8, 4, 4)}},
    [DIO_OP_CHANNEL_RMSNORM] = {2, {T(P_ACT, 5, 1, 4, 2, 3, 3), T(P_ACT, 1, 4), T(P_ACT, 5, 1, 4, 2, 3, 3)}},
    [DIO_OP_UPSAMPLE_NEAREST] = {1, {T(P_ACT, 5, 1, 4, 2, 3, 3), T(P_ACT, 5, 1, 4, 2, 6, 6)}},
    [DIO_OP_SOFTMAX] = {1, {T(P_ACT, 2, 4, 16), T(P_ACT, 2, 4, 16)}},
    [DIO_OP_ADD] = {2, {T(P_ACT, 2, 4, 16), T(P_ACT, 1, 16), T(P_ACT, 2, 4, 16)}},
    [DIO_OP_MUL] = {2, {T(P_ACT, 2, 4, 16), T(P_ACT, 1, 16), T(P_ACT, 2, 4, 16)}},
    [DIO_OP_AXPBY] = {2, {T(P_ACT, 2, 4, 16), T(P_ACT, 2, 4, 16), T(P_ACT, 2, 4, 16)}},
    [DIO_OP_CLAMP] = {1, {T(P_ACT, 2, 4, 16), T(P_ACT, 2, 4, 16)}},
    [DIO_OP_GATHER] = {2, {T(P_ACT, 2, 8, 16), T(P_I32, 1, 4), T(P_ACT, 2, 4, 16)}},
    [DIO_OP_COPY] = {1, {T(P_ACT, 2, 4, 16), T(P_ACT, 2, 4, 16)}},
    [DIO_OP_CONCAT] = {2, {T(P_ACT, 2, 2, 16), T(P_ACT, 2, 2, 16), T(P_ACT, 2, 4, 16)}},
    [DIO_OP_SLICE] = {1, {T(P_ACT, 2, 4, 16), T(P_ACT, 2, 2, 8)}},
    [DIO_OP_PERMUTE] = {1, {T(P_ACT, 3, 2, 3, 4), T(P_ACT, 3, 4, 2, 3)}},
    [DIO_OP_PATCHIFY] = {1, {T(P_ACT, 5, 1, 4, 2, 4, 4), T(P_ACT, 5, 1, 2, 2, 2, 16)}},
    [DIO_OP_UNPATCHIFY] = {1, {T(P_ACT, 5, 1, 2, 2, 2, 16), T(P_ACT, 5, 1, 4, 2, 4, 4)}},
};
#undef T

typedef union probe_params {
    dio_matmul_params matmul;
    dio_attention_params attention;
    dio_norm_params norm;
    dio_adaln_params adaln;
    dio_rope_params rope;
    dio_gelu_params gelu;
    dio_conv_params conv;
    dio_channel_norm_params channel_norm;
    dio_softmax_params softmax;
    dio_axpby_params axpby;
    dio_clamp_params clamp;
    dio_concat_params concat;
    dio_slice_params slice;
    dio_permute_params permute;
    dio_patch_params patch;
} probe_params;

/* The op's parameter struct with the canonical call's values; NULL for ops without parameters. */
static const void *probe_make_params(int32_t op, probe_params *p)
{
    memset(p, 0, sizeof(*p));
    switch (op) {
    case DIO_OP_MATMUL:
        p->matmul.struct_size = sizeof(p->matmul);
        p->matmul.alpha = 1.0f;
        return &p->matmul;
    case DIO_OP_ATTENTION: p->attention.struct_size = sizeof(p->attention); return &p->attention;
    case DIO_OP_LAYERNORM:
    case DIO_OP_RMSNORM:
        p->norm.struct_size = sizeof(p->norm);
        p->norm.eps = 1e-6f;
        return &p->norm;
    case DIO_OP_ADALN_MODULATE:
        p->adaln.struct_size = sizeof(p->adaln);
        p->adaln.eps = 1e-6f;
        return &p->adaln;
    case DIO_OP_ROPE: p->rope.struct_size = sizeof(p->rope); return &p->rope;
    case DIO_OP_GELU: p->gelu.struct_size = sizeof(p->gelu); return &p->gelu;
    case DIO_OP_CONV3D:
    case DIO_OP_CONV2D:
        p->conv.struct_size = sizeof(p->conv);
        for (int d = 0; d < 3; d++) p->conv.stride[d] = p->conv.dilation[d] = 1;
        p->conv.groups = 1;
        return &p->conv;
    case DIO_OP_CHANNEL_RMSNORM:
        p->channel_norm.struct_size = sizeof(p->channel_norm);
        p->channel_norm.eps = 1e-12f;
        return &p->channel_norm;
    case DIO_OP_SOFTMAX:
        p->softmax.struct_size = sizeof(p->softmax);
        p->softmax.scale = 1.0f;
        return &p->softmax;
    case DIO_OP_AXPBY:
        p->axpby.struct_size = sizeof(p->axpby);
        p->axpby.alpha = 1.0f;
        p->axpby.beta = 1.0f;
        return &p->axpby;
    case DIO_OP_CLAMP:
        p->clamp.struct_size = sizeof(p->clamp);
        p->clamp.lo = -1.0f;
        p->clamp.hi = 1.0f;
        return &p->clamp;
    case DIO_OP_CONCAT: p->concat.struct_size = sizeof(p->concat); return &p->concat;
    case DIO_OP_SLICE:
        p->slice.struct_size = sizeof(p->slice);
        for (int d = 0; d < DIO_MAX_DIMS; d++) p->slice.step[d] = 2;
        return &p->slice;
    case DIO_OP_PERMUTE:
        p->permute.struct_size = sizeof(p->permute);
        p->permute.perm[0] = 2, p->permute.perm[1] = 0, p->permute.perm[2] = 1;
        return &p->permute;
    case DIO_OP_PATCHIFY:
    case DIO_OP_UNPATCHIFY:
        p->patch.struct_size = sizeof(p->patch);
        p->patch.patch[0] = 1, p->patch.patch[1] = 2, p->patch.patch[2] = 2;
        p->patch.order = DIO_PATCH_ORDER_C_T_H_W;
        return &p->patch;
    default: return NULL; /* gated_residual, silu, swiglu, upsample_nearest, add, mul, gather, copy */
    }
}

dio_status dio_backend_probe_op(dio_backend *backend, int32_t op, int32_t dtype)
{
    dio_backend_ref ref;
    const probe_spec *spec;
    dio_tensor tensors[5];
    const dio_tensor *inputs[5], *outputs[1];
    dio_buffer *buffers[5] = {NULL, NULL, NULL, NULL, NULL};
    probe_params params;
    dio_op_call call;
    dio_status st = DIO_OK;
    char why[1024];
    int n = 0;

    if (!backend) return dio_set_error(DIO_ERR_INVALID_ARGUMENT, "dio_backend_probe_op: NULL backend");
    if (op < 0 || op >= DIO_OP_COUNT_1_0)
        return dio_set_error(DIO_ERR_NOT_SUPPORTED, "backend %s: op %d is not an op of ABI 1.0",
                             dio_backend_name(backend), op);
    if (!dio_dtype_size(dtype))
        return dio_set_error(DIO_ERR_NOT_SUPPORTED, "backend %s: %s: dtype %d is not a dtype",
                             dio_backend_name(backend), dio_op_name(op), dtype);
    ref = dio_backend_get_ref(backend, 0);
    if (!ref.iface || !ref.iface->supports_op || !ref.iface->buffer_alloc || !ref.iface->buffer_free)
        return dio_set_error(DIO_ERR_INVALID_ARGUMENT, "backend %s: incomplete backend table",
                             dio_backend_name(backend));
    spec = &probe_specs[op];
    n = spec->n_in + 1;
    for (int i = 0; i < n; i++) {
        const probe_tensor *pt = &spec->t[i];
        int32_t dt = pt->dt == P_F32 ? DIO_DTYPE_F32 : pt->dt == P_I32 ? DIO_DTYPE_I32 : dtype;
        int64_t elems = 1;
        for (int d = 0; d < pt->ndim; d++) elems *= pt->shape[d];
        dio_clear_error();
        st = ref.iface->buffer_alloc(ref.ctx, ref.device, (uint64_t)elems * dio_dtype_size(dt), &buffers[i]);
        if (st != DIO_OK) {
            buffers[i] = NULL;
            snprintf(why, sizeof(why), "%s", dio_last_error());
            dio_set_error(st, "backend %s: %s probe: cannot allocate a %lld-element %s buffer: %s",
                          dio_backend_name(backend), dio_op_name(op), (long long)elems, dio_dtype_name(dt),
                          why);
            goto done;
        }
        dio_tensor_init(&tensors[i], dt, pt->ndim, pt->shape, buffers[i], 0);
        if (i < spec->n_in)
            inputs[i] = &tensors[i];
        else
            outputs[0] = &tensors[i];
    }
    memset(&call, 0, sizeof(call));
    call.struct_size = (uint32_t)sizeof(call);
    call.op = op;
    call.n_inputs = spec->n_in;
    call.n_outputs = 1;
    call.inputs = inputs;
    call.outputs = outputs;
    call.params = probe_make_params(op, &params);
    dio_clear_error();
    st = ref.iface->supports_op(ref.ctx, &call);
    if (st != DIO_OK) {
        /* Copy first: the message buffer is the one dio_set_error writes. */
        snprintf(why, sizeof(why), "%s", dio_last_error()[0] ? dio_last_error() : dio_status_name(st));
        st = dio_set_error(DIO_ERR_NOT_SUPPORTED, "%s", why);
    }
done:
    for (int i = 0; i < n; i++) ref.iface->buffer_free(ref.ctx, buffers[i]);
    return st;
}

/* GPU backends — data movement: CONCAT, SLICE, PERMUTE, UPSAMPLE_NEAREST, PATCHIFY, UNPATCHIFY (views of
 * x read in y's order) and GATHER.
 *
 * As in the CPU backend, each view op only builds strides and queues one strided bit copy
 * (cuda_layout_kernels.cu): slice is x with an offset and multiplied strides, permute is x with permuted
 * strides, concat one copy per input into a slab of y, upsample splits each dim of y into (x index,
 * repeat) with a stride of 0 on the repeat, and patchify/unpatchify are the 8-dim views pairing
 * (T', pt, H', ph, W', pw) with a token's features. Bits move unchanged, so every dtype is taken and y's
 * dtype must be x's. GATHER converts the table's float dtype (f8 included) to y's; its ids are copied to the
 * host and validated there before anything is queued (a wrong id is INVALID_ARGUMENT naming its position, and
 * y is untouched) — ids are a prompt's tokens, a few hundred integers, so the round trip is cheap next to the
 * encoder that follows. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_internal.h"

static dio_status raw_copy(cuda_backend *be, dio_stream *stream, int ndim, const int64_t *shape, void *dst,
                           const int64_t *dst_stride, const void *src, const int64_t *src_stride,
                           size_t esize)
{
    cuda_copy_desc d;
    dio_status st;
    memset(&d, 0, sizeof(d));
    d.ndim = ndim;
    d.esize = (int32_t)esize;
    d.numel = 1;
    for (int i = 0; i < ndim; i++) {
        d.shape[i] = shape[i];
        d.dst_stride[i] = dst_stride[i];
        d.src_stride[i] = src_stride[i];
        d.numel *= shape[i];
    }
    if (d.numel == 0) return DIO_OK;
    d.dst = dst;
    d.src = src;
    if ((st = cuda_use_device(be, stream)) != DIO_OK) return st;
    return cuda_launch_status(be, cuda_copy_launch(&d, stream->s), "strided copy");
}

/* y has x's dtype and number of dims (the layout ops move bits; COPY casts). */
static dio_status check_layout_pair(const cuda_backend *be, const char *op, const dio_tensor *x,
                                    const dio_tensor *y)
{
    dio_status st;
    if ((st = cuda_check_dtype_as(be, op, "y", y, "x", x)) != DIO_OK) return st;
    if ((st = cuda_check_ndim(be, op, "y", y, x->ndim)) != DIO_OK) return st;
    return cuda_check_numel(be, op, "y", y);
}

/* ---- CONCAT ---- */

static int concat_axis(const dio_op_call *call)
{
    const dio_concat_params *p = call->params;
    return CUDA_PARAM_FITS(p, dio_concat_params, axis) ? p->axis : 0;
}

dio_status cuda_check_concat(const cuda_backend *be, const dio_op_call *call, int32_t device)
{
    const char *op = "concat";
    const dio_tensor *y;
    int axis;
    int64_t total = 0;
    char a[160], b[160], what[32];
    dio_status st;
    if ((st = cuda_check_call(be, call, 1, INT32_MAX, INT32_MAX, 1, device)) != DIO_OK) return st;
    y = call->outputs[0];
    axis = concat_axis(call);
    if (axis < -y->ndim || axis >= y->ndim)
        return cuda_error(be, DIO_ERR_INVALID_ARGUMENT, "concat: axis %d is outside y's %d dims", axis,
                          y->ndim);
    if (axis < 0) axis += y->ndim;
    if ((st = cuda_check_numel(be, op, "y", y)) != DIO_OK) return st;
    for (int i = 0; i < call->n_inputs; i++) {
        const dio_tensor *x = call->inputs[i];
        int bad = x->ndim != y->ndim;
        snprintf(what, sizeof(what), "input %d", i);
        if ((st = cuda_check_dtype_as(be, op, what, x, "y", y)) != DIO_OK) return st;
        for (int d = 0; !bad && d < y->ndim; d++) bad = d != axis && x->shape[d] != y->shape[d];
        if (bad)
            return cuda_error(be, DIO_ERR_INVALID_ARGUMENT,
                              "concat: input %d has shape %s; it must match y %s in every dim but %d", i,
                              cuda_shape_str(x, a, sizeof(a)), cuda_shape_str(y, b, sizeof(b)), axis);
        total += x->shape[axis];
        if (total > y->shape[axis]) break;
    }
    if (total != y->shape[axis])
        return cuda_error(be, DIO_ERR_INVALID_ARGUMENT,
                          "concat: the inputs' sizes along axis %d do not add up to y's %lld", axis,
                          (long long)y->shape[axis]);
    return DIO_OK;
}

dio_status cuda_op_concat(void *ctx, dio_stream *stream, const dio_op_call *call)
{
    const dio_tensor *y;
    int axis;
    int64_t at = 0;
    CUDA_OP_PROLOGUE(concat);
    y = call->outputs[0];
    axis = concat_axis(call);
    if (axis < 0) axis += y->ndim;
    for (int i = 0; i < call->n_inputs; i++) {
        const dio_tensor *x = call->inputs[i];
        st = raw_copy(be, stream, x->ndim, x->shape, cuda_elem_ptr(y, at * y->stride[axis]), y->stride,
                      cuda_tensor_data(x), x->stride, dio_dtype_size(y->dtype));
        if (st != DIO_OK) return st;
        at += x->shape[axis];
    }
    return DIO_OK;
}

/* ---- SLICE ---- */

static void slice_params(const dio_slice_params *p, int d, int64_t *start, int64_t *step)
{
    *start = CUDA_PARAM_FITS_ELEM(p, dio_slice_params, start, d) ? p->start[d] : 0;
    *step = CUDA_PARAM_FITS_ELEM(p, dio_slice_params, step, d) ? p->step[d] : 1;
}

dio_status cuda_check_slice(const cuda_backend *be, const dio_op_call *call, int32_t device)
{
    const dio_tensor *x, *y;
    dio_status st;
    if ((st = cuda_check_call(be, call, 1, 1, 1, 1, device)) != DIO_OK) return st;
    x = call->inputs[0];
    y = call->outputs[0];
    if ((st = check_layout_pair(be, "slice", x, y)) != DIO_OK) return st;
    for (int d = 0; d < y->ndim; d++) {
        int64_t start, step;
        slice_params(call->params, d, &start, &step);
        if (step < 1)
            return cuda_error(be, DIO_ERR_INVALID_ARGUMENT, "slice: step %lld of dim %d must be >= 1",
                              (long long)step, d);
        if (y->shape[d] > 0 &&
            (start < 0 || (__int128)start + (__int128)(y->shape[d] - 1) * step >= (__int128)x->shape[d]))
            return cuda_error(be, DIO_ERR_INVALID_ARGUMENT,
                              "slice: dim %d reads x[%lld + i·%lld] for i < %lld, outside x's %lld", d,
                              (long long)start, (long long)step, (long long)y->shape[d],
                              (long long)x->shape[d]);
    }
    return DIO_OK;
}

dio_status cuda_op_slice(void *ctx, dio_stream *stream, const dio_op_call *call)
{
    const dio_tensor *x, *y;
    int64_t off = 0, sstride[DIO_MAX_DIMS];
    CUDA_OP_PROLOGUE(slice);
    x = call->inputs[0];
    y = call->outputs[0];
    if (dio_tensor_numel(y) == 0) return DIO_OK;
    for (int d = 0; d < y->ndim; d++) {
        int64_t start, step;
        slice_params(call->params, d, &start, &step);
        off += start * x->stride[d];
        sstride[d] = step * x->stride[d];
    }
    return raw_copy(be, stream, y->ndim, y->shape, cuda_tensor_data(y), y->stride, cuda_elem_ptr(x, off),
                    sstride, dio_dtype_size(y->dtype));
}

/* ---- PERMUTE ---- */

dio_status cuda_check_permute(const cuda_backend *be, const dio_op_call *call, int32_t device)
{
    const dio_permute_params *p;
    const dio_tensor *x, *y;
    int seen[DIO_MAX_DIMS] = {0};
    char a[160], b[160];
    dio_status st;
    if ((st = cuda_check_call(be, call, 1, 1, 1, 1, device)) != DIO_OK) return st;
    x = call->inputs[0];
    y = call->outputs[0];
    p = call->params;
    if ((st = check_layout_pair(be, "permute", x, y)) != DIO_OK) return st;
    if (y->ndim > 0 && !CUDA_PARAM_FITS_ELEM(p, dio_permute_params, perm, y->ndim - 1))
        return cuda_error(be, DIO_ERR_INVALID_ARGUMENT, "permute: the params do not hold perm[0..%d]",
                          y->ndim - 1);
    for (int i = 0; i < y->ndim; i++) {
        int32_t q = p->perm[i];
        if (q < 0 || q >= y->ndim || seen[q])
            return cuda_error(be, DIO_ERR_INVALID_ARGUMENT, "permute: perm[%d] = %d; perm must order 0..%d",
                              i, q, y->ndim - 1);
        seen[q] = 1;
        if (y->shape[i] != x->shape[q])
            return cuda_error(
                be, DIO_ERR_INVALID_ARGUMENT, "permute: y has shape %s; x %s permuted gives dim %d = %lld",
                cuda_shape_str(y, a, sizeof(a)), cuda_shape_str(x, b, sizeof(b)), i, (long long)x->shape[q]);
    }
    return DIO_OK;
}

dio_status cuda_op_permute(void *ctx, dio_stream *stream, const dio_op_call *call)
{
    const dio_permute_params *p;
    const dio_tensor *x, *y;
    int64_t sstride[DIO_MAX_DIMS];
    CUDA_OP_PROLOGUE(permute);
    x = call->inputs[0];
    y = call->outputs[0];
    p = call->params;
    if (dio_tensor_numel(y) == 0) return DIO_OK;
    for (int i = 0; i < y->ndim; i++) sstride[i] = x->stride[p->perm[i]];
    return raw_copy(be, stream, y->ndim, y->shape, cuda_tensor_data(y), y->stride, cuda_tensor_data(x),
                    sstride, dio_dtype_size(y->dtype));
}

/* ---- GATHER ---- */

dio_status cuda_check_gather(const cuda_backend *be, const dio_op_call *call, int32_t device)
{
    const char *op = "gather";
    const dio_tensor *table, *ids, *y;
    char a[160], b[160];
    dio_status st;
    if ((st = cuda_check_call(be, call, 2, 2, 2, 1, device)) != DIO_OK) return st;
    table = call->inputs[0];
    ids = call->inputs[1];
    y = call->outputs[0];
    if (!cuda_is_float_activation(table->dtype) && !cuda_is_f8(table->dtype))
        return cuda_error(be, DIO_ERR_NOT_SUPPORTED, "gather: table has dtype %s; expected a float dtype",
                          dio_dtype_name(table->dtype));
    if ((st = cuda_check_ndim(be, op, "table", table, 2)) != DIO_OK) return st;
    if (ids->dtype != DIO_DTYPE_I32 && ids->dtype != DIO_DTYPE_I64)
        return cuda_error(be, DIO_ERR_NOT_SUPPORTED, "gather: ids have dtype %s; expected i32 or i64",
                          dio_dtype_name(ids->dtype));
    if ((st = cuda_check_ndim(be, op, "ids", ids, 1)) != DIO_OK) return st;
    if ((st = cuda_check_float(be, op, "y", y)) != DIO_OK) return st;
    if (y->ndim != 2 || y->shape[0] != ids->shape[0] || y->shape[1] != table->shape[1])
        return cuda_error(be, DIO_ERR_INVALID_ARGUMENT,
                          "gather: y has shape %s; expected [%lld, %lld] (ids [N], table %s)",
                          cuda_shape_str(y, a, sizeof(a)), (long long)ids->shape[0],
                          (long long)table->shape[1], cuda_shape_str(table, b, sizeof(b)));
    return cuda_check_numel(be, op, "y", y);
}

/* Copies the ids to the host (after the work queued before them on the stream) and checks each. */
static dio_status check_ids(cuda_backend *be, dio_stream *stream, const dio_tensor *ids, int64_t V)
{
    const int64_t N = ids->shape[0], es = (int64_t)dio_dtype_size(ids->dtype);
    char *host = NULL;
    cudaError_t err;
    dio_status st = DIO_OK;
    if (N == 0) return DIO_OK;
    host = malloc((size_t)(N * es));
    if (!host)
        return cuda_error(be, DIO_ERR_OUT_OF_HOST_MEMORY, "gather: no memory for %lld ids", (long long)N);
    if (ids->stride[0] == 1) {
        err =
            cudaMemcpyAsync(host, cuda_tensor_data(ids), (size_t)(N * es), cudaMemcpyDeviceToHost, stream->s);
        if (err != cudaSuccess) st = cuda_rt_error(be, err, GPU_RT "MemcpyAsync (gather ids)");
    }
    for (int64_t n = 0; ids->stride[0] != 1 && n < N && st == DIO_OK; n++) {
        err = cudaMemcpyAsync(host + n * es, cuda_elem_ptr(ids, n * ids->stride[0]), (size_t)es,
                              cudaMemcpyDeviceToHost, stream->s);
        if (err != cudaSuccess) st = cuda_rt_error(be, err, GPU_RT "MemcpyAsync (gather ids)");
    }
    if (st == DIO_OK && (err = cudaStreamSynchronize(stream->s)) != cudaSuccess)
        st = cuda_rt_error(be, err, GPU_RT "StreamSynchronize (gather ids)");
    for (int64_t n = 0; n < N && st == DIO_OK; n++) {
        int64_t id;
        if (es == 4) {
            int32_t v;
            memcpy(&v, host + n * es, 4);
            id = v;
        } else {
            memcpy(&id, host + n * es, 8);
        }
        if (id < 0 || id >= V)
            st = cuda_error(be, DIO_ERR_INVALID_ARGUMENT,
                            "gather: ids[%lld] = %lld is outside the table's rows [0, %lld)", (long long)n,
                            (long long)id, (long long)V);
    }
    free(host);
    return st;
}

dio_status cuda_op_gather(void *ctx, dio_stream *stream, const dio_op_call *call)
{
    const dio_tensor *table, *ids, *y;
    cuda_gather_desc d;
    CUDA_OP_PROLOGUE(gather);
    table = call->inputs[0];
    ids = call->inputs[1];
    y = call->outputs[0];
    if ((st = cuda_use_device(be, stream)) != DIO_OK) return st;
    if ((st = check_ids(be, stream, ids, table->shape[0])) != DIO_OK) return st;
    if (dio_tensor_numel(y) == 0) return DIO_OK;
    memset(&d, 0, sizeof(d));
    d.table_dtype = table->dtype;
    d.ids_dtype = ids->dtype;
    d.y_dtype = y->dtype;
    d.N = ids->shape[0];
    d.C = table->shape[1];
    d.table_stride[0] = table->stride[0];
    d.table_stride[1] = table->stride[1];
    d.ids_stride = ids->stride[0];
    d.y_stride[0] = y->stride[0];
    d.y_stride[1] = y->stride[1];
    d.table = cuda_tensor_data(table);
    d.ids = cuda_tensor_data(ids);
    d.y = cuda_tensor_data(y);
    return cuda_launch_status(be, cuda_gather_launch(&d, stream->s), "gather");
}

/* ---- UPSAMPLE_NEAREST ---- */

dio_status cuda_check_upsample_nearest(const cuda_backend *be, const dio_op_call *call, int32_t device)
{
    const dio_tensor *x, *y;
    char a[160], b[160];
    dio_status st;
    if ((st = cuda_check_call(be, call, 1, 1, 1, 1, device)) != DIO_OK) return st;
    x = call->inputs[0];
    y = call->outputs[0];
    if ((st = check_layout_pair(be, "upsample_nearest", x, y)) != DIO_OK) return st;
    for (int d = 0; d < y->ndim; d++) {
        int64_t xs = x->shape[d], ys = y->shape[d];
        if (xs == 0 ? ys != 0 : (ys < xs || ys % xs != 0))
            return cuda_error(be, DIO_ERR_INVALID_ARGUMENT,
                              "upsample_nearest: y %s is not x %s times an integer factor >= 1 in dim %d",
                              cuda_shape_str(y, a, sizeof(a)), cuda_shape_str(x, b, sizeof(b)), d);
    }
    return DIO_OK;
}

dio_status cuda_op_upsample_nearest(void *ctx, dio_stream *stream, const dio_op_call *call)
{
    const dio_tensor *x, *y;
    int64_t shape[CUDA_COPY_MAX_DIMS], ys[CUDA_COPY_MAX_DIMS], xs[CUDA_COPY_MAX_DIMS];
    int n = 0;
    CUDA_OP_PROLOGUE(upsample_nearest);
    x = call->inputs[0];
    y = call->outputs[0];
    if (dio_tensor_numel(y) == 0) return DIO_OK;
    /* Dim d of y as (x index, repeat f): y strides (f·s, s), x strides (s_x, 0); factor-1 dims stay one. */
    for (int d = 0; d < y->ndim; d++) {
        const int64_t f = y->shape[d] / x->shape[d];
        shape[n] = x->shape[d];
        ys[n] = y->stride[d] * f;
        xs[n++] = x->stride[d];
        if (f > 1) {
            shape[n] = f;
            ys[n] = y->stride[d];
            xs[n++] = 0;
        }
    }
    return raw_copy(be, stream, n, shape, cuda_tensor_data(y), ys, cuda_tensor_data(x), xs,
                    dio_dtype_size(y->dtype));
}

/* ---- PATCHIFY / UNPATCHIFY ---- */

static dio_status patch_params(const cuda_backend *be, const char *op, const void *params, int64_t patch[3],
                               int *order)
{
    const dio_patch_params *p = params;
    if (!CUDA_PARAM_FITS(p, dio_patch_params, patch))
        return cuda_error(be, DIO_ERR_INVALID_ARGUMENT, "%s: the params do not hold the patch sizes", op);
    for (int i = 0; i < 3; i++) {
        patch[i] = p->patch[i];
        if (patch[i] < 1)
            return cuda_error(be, DIO_ERR_INVALID_ARGUMENT, "%s: patch size %d is %lld; it must be >= 1", op,
                              i, (long long)patch[i]);
    }
    *order = CUDA_PARAM_FITS(p, dio_patch_params, order) ? p->order : DIO_PATCH_ORDER_C_T_H_W;
    if (*order != DIO_PATCH_ORDER_C_T_H_W && *order != DIO_PATCH_ORDER_H_W_T_C)
        return cuda_error(be, DIO_ERR_NOT_SUPPORTED, "%s: unknown feature order %d", op, *order);
    return DIO_OK;
}

/* The video v [B, C, T, H, W] against the tokens k [B, T', H', W', F]. */
static dio_status check_patch_pair(const cuda_backend *be, const char *op, const dio_tensor *v,
                                   const dio_tensor *k, const int64_t patch[3])
{
    char a[160], b[160];
    int bad = v->ndim != 5 || k->ndim != 5;
    __int128 F = bad ? 0 : v->shape[1];
    for (int i = 0; !bad && i < 3; i++) {
        bad = v->shape[2 + i] % patch[i] != 0 || k->shape[1 + i] != v->shape[2 + i] / patch[i];
        F *= patch[i];
        bad = bad || F > ((__int128)1 << 62);
    }
    if (bad || k->shape[0] != v->shape[0] || (__int128)k->shape[4] != F)
        return cuda_error(
            be, DIO_ERR_INVALID_ARGUMENT,
            "%s: video %s and tokens %s do not match patch (%lld, %lld, %lld): expected [B, C, T, H, W] "
            "and [B, T/pt, H/ph, W/pw, C·pt·ph·pw]",
            op, cuda_shape_str(v, a, sizeof(a)), cuda_shape_str(k, b, sizeof(b)), (long long)patch[0],
            (long long)patch[1], (long long)patch[2]);
    return DIO_OK;
}

static dio_status check_patch(const cuda_backend *be, const dio_op_call *call, int32_t device, int to_tokens)
{
    const char *op = to_tokens ? "patchify" : "unpatchify";
    int64_t patch[3];
    int order = DIO_PATCH_ORDER_C_T_H_W;
    dio_status st;
    if ((st = cuda_check_call(be, call, 1, 1, 1, 1, device)) != DIO_OK) return st;
    if ((st = patch_params(be, op, call->params, patch, &order)) != DIO_OK) return st;
    if ((st = cuda_check_dtype_as(be, op, "y", call->outputs[0], "x", call->inputs[0])) != DIO_OK) return st;
    if ((st = cuda_check_numel(be, op, "y", call->outputs[0])) != DIO_OK) return st;
    return to_tokens ? check_patch_pair(be, op, call->inputs[0], call->outputs[0], patch)
                     : check_patch_pair(be, op, call->outputs[0], call->inputs[0], patch);
}

dio_status cuda_check_patchify(const cuda_backend *be, const dio_op_call *call, int32_t device)
{
    return check_patch(be, call, device, 1);
}

dio_status cuda_check_unpatchify(const cuda_backend *be, const dio_op_call *call, int32_t device)
{
    return check_patch(be, call, device, 0);
}

/* The 8-dim view (B, C, T', pt, H', ph, W', pw): v's strides in vs, k's in ks. */
static void patch_view(const dio_tensor *v, const dio_tensor *k, const int64_t patch[3], int order,
                       int64_t *shape, int64_t *vs, int64_t *ks)
{
    const int64_t C = v->shape[1], pt = patch[0], ph = patch[1], pw = patch[2], f = k->stride[4];
    int64_t fc, fr, fm, fn; /* k's stride for c, r, m, n inside a token */
    if (order == DIO_PATCH_ORDER_C_T_H_W) {
        fn = f;
        fm = f * pw;
        fr = f * pw * ph;
        fc = f * pw * ph * pt;
    } else {
        fc = f;
        fr = f * C;
        fn = f * C * pt;
        fm = f * C * pt * pw;
    }
    shape[0] = v->shape[0], vs[0] = v->stride[0], ks[0] = k->stride[0];
    shape[1] = C, vs[1] = v->stride[1], ks[1] = fc;
    shape[2] = k->shape[1], vs[2] = v->stride[2] * pt, ks[2] = k->stride[1];
    shape[3] = pt, vs[3] = v->stride[2], ks[3] = fr;
    shape[4] = k->shape[2], vs[4] = v->stride[3] * ph, ks[4] = k->stride[2];
    shape[5] = ph, vs[5] = v->stride[3], ks[5] = fm;
    shape[6] = k->shape[3], vs[6] = v->stride[4] * pw, ks[6] = k->stride[3];
    shape[7] = pw, vs[7] = v->stride[4], ks[7] = fn;
}

static dio_status run_patch(cuda_backend *be, dio_stream *stream, const dio_op_call *call, int to_tokens)
{
    const dio_tensor *x = call->inputs[0], *y = call->outputs[0];
    const dio_tensor *v = to_tokens ? x : y, *k = to_tokens ? y : x;
    int64_t patch[3], shape[8], vs[8], ks[8];
    int order = DIO_PATCH_ORDER_C_T_H_W;
    dio_status st = patch_params(be, to_tokens ? "patchify" : "unpatchify", call->params, patch, &order);
    if (st != DIO_OK) return st;
    if (dio_tensor_numel(y) == 0) return DIO_OK;
    patch_view(v, k, patch, order, shape, vs, ks);
    return to_tokens ? raw_copy(be, stream, 8, shape, cuda_tensor_data(y), ks, cuda_tensor_data(x), vs,
                                dio_dtype_size(y->dtype))
                     : raw_copy(be, stream, 8, shape, cuda_tensor_data(y), vs, cuda_tensor_data(x), ks,
                                dio_dtype_size(y->dtype));
}

dio_status cuda_op_patchify(void *ctx, dio_stream *stream, const dio_op_call *call)
{
    CUDA_OP_PROLOGUE(patchify);
    return run_patch(be, stream, call, 1);
}

dio_status cuda_op_unpatchify(void *ctx, dio_stream *stream, const dio_op_call *call)
{
    CUDA_OP_PROLOGUE(unpatchify);
    return run_patch(be, stream, call, 0);
}

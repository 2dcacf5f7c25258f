/* CPU backend — data movement: COPY (also the cast), CONCAT, SLICE, PERMUTE, GATHER, UPSAMPLE_NEAREST,
 * PATCHIFY and UNPATCHIFY.
 *
 * Almost all of these are "read a view of x in y's order": slice is x with an offset and multiplied
 * strides, permute is x with permuted strides, concat is one copy per input into a slab of y, and
 * patchify/unpatchify are 8-dim views that split T, H and W into (patch index, offset in patch). So
 * each op only builds strides and calls cpu_raw_copy (cpu_strided.c), which collapses dims, walks y in
 * memory order and turns transposes into 64×64 tiles; bits are moved unchanged, so these ops take
 * every dtype (y's dtype must be x's; casting is COPY's job). COPY converts dtypes: float to float in
 * f32 chunks through the element-wise engine (RNE, f8 saturating, as cpu_common.c encodes), and with
 * integers element by element: integer to integer exactly (saturating at the target's range), integer
 * to f16/bf16/f8 rounded once (the value is first narrowed to 24 significant bits with a sticky bit, so
 * the final RNE sees the true tie status), float to integer truncating toward zero (PyTorch's .to())
 * and saturating, NaN to 0. UPSAMPLE_NEAREST has its own loop: it is the VAE decoder's largest
 * data movement and a row-at-a-time expansion beats a 12-dim strided view. GATHER validates every id
 * before it writes anything. */
#include <limits.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "cpu_strided.h"

static int is_int_dtype(int32_t dt)
{
    return dt == DIO_DTYPE_I32 || dt == DIO_DTYPE_I64 || dt == DIO_DTYPE_U8;
}

static int is_float_dtype(int32_t dt)
{
    return dt == DIO_DTYPE_F32 || dt == DIO_DTYPE_F16 || dt == DIO_DTYPE_BF16 || dt == DIO_DTYPE_F8E4M3 ||
           dt == DIO_DTYPE_F8E5M2;
}

/* ---- COPY ---- */

static int64_t load_int(const char *p, int32_t dt)
{
    switch (dt) {
    case DIO_DTYPE_I32: {
        int32_t v;
        memcpy(&v, p, sizeof(v));
        return v;
    }
    case DIO_DTYPE_I64: {
        int64_t v;
        memcpy(&v, p, sizeof(v));
        return v;
    }
    default: return *(const uint8_t *)p;
    }
}

static void store_int(char *p, int32_t dt, int64_t v)
{
    switch (dt) {
    case DIO_DTYPE_I32: {
        int32_t w = v > INT32_MAX ? INT32_MAX : v < INT32_MIN ? INT32_MIN : (int32_t)v;
        memcpy(p, &w, sizeof(w));
        break;
    }
    case DIO_DTYPE_I64: memcpy(p, &v, sizeof(v)); break;
    default: *(uint8_t *)p = (uint8_t)(v > 255 ? 255 : v < 0 ? 0 : v); break;
    }
}

/* Truncation toward zero, saturating; NaN → 0. */
static void store_int_from_float(char *p, int32_t dt, float f)
{
    switch (dt) {
    case DIO_DTYPE_I32: {
        int32_t w = f != f ? 0 : f >= 2147483648.0f ? INT32_MAX : f < -2147483648.0f ? INT32_MIN : (int32_t)f;
        memcpy(p, &w, sizeof(w));
        break;
    }
    case DIO_DTYPE_I64: {
        int64_t w = f != f                        ? 0
                    : f >= 9223372036854775808.0f ? INT64_MAX
                    : f < -9223372036854775808.0f ? INT64_MIN
                                                  : (int64_t)f;
        memcpy(p, &w, sizeof(w));
        break;
    }
    default: *(uint8_t *)p = (uint8_t)(f != f || f <= 0.0f ? 0 : f >= 255.0f ? 255 : (int)f); break;
    }
}

/* v as an f32 that rounds to any narrower float format exactly as v would: values of more than 24
 * significant bits keep their top 24 with the dropped bits folded into a sticky last bit. */
static float int_to_f32_sticky(int64_t v)
{
    uint64_t m = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    float f;
    if (m < (1u << 24)) {
        f = (float)m;
    } else {
        int sh = 64 - __builtin_clzll(m) - 24;
        uint64_t t = m >> sh;
        if (m & (((uint64_t)1 << sh) - 1)) t |= 1;
        f = ldexpf((float)t, sh);
    }
    return v < 0 ? -f : f;
}

static void convert_elem(char *d, int32_t ddt, const char *s, int32_t sdt)
{
    if (is_int_dtype(sdt)) {
        int64_t v = load_int(s, sdt);
        if (is_int_dtype(ddt)) {
            store_int(d, ddt, v);
        } else if (ddt == DIO_DTYPE_F32) {
            float f = (float)v; /* one RNE rounding */
            memcpy(d, &f, sizeof(f));
        } else {
            cpu_store_f32(d, ddt, 0, int_to_f32_sticky(v));
        }
    } else {
        store_int_from_float(d, ddt, cpu_load_f32(s, sdt, 0));
    }
}

/* Copies with an integer dtype on either side, element by element over a plan. */
static void copy_convert_int(const cpu_backend *be, const dio_tensor *x, const dio_tensor *y)
{
    cpu_plan plan;
    int64_t strides[2][CPU_MAX_ITER_DIMS];
    int nt;
    for (int d = 0; d < y->ndim; d++) {
        strides[0][d] = y->stride[d];
        strides[1][d] = x->stride[d];
    }
    cpu_plan_make(&plan, y->ndim, y->shape, 2, strides, 16384, -1);
    if (plan.n_tasks == 0) return;
    nt = cpu_threads_for(be, plan.numel, CPU_GRAIN / 4);
    if (nt > plan.n_tasks) nt = (int)plan.n_tasks;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        const int n = plan.nd;
        const int64_t des = (int64_t)dio_dtype_size(y->dtype), ses = (int64_t)dio_dtype_size(x->dtype);
        cpu_plan_iter it;
        int64_t lo, hi;
        cpu_split_range(plan.n_tasks, omp_get_num_threads(), omp_get_thread_num(), &lo, &hi);
        for (int64_t t = lo; t < hi; t++) {
            if (t == lo)
                cpu_plan_seek(&plan, &it, lo);
            else
                cpu_plan_next(&plan, &it);
            for (int64_t r = 0; r < it.rows; r++)
                for (int64_t c = 0; c < it.cols; c++) {
                    int64_t od = it.off[0] + r * plan.stride[0][n - 2] + c * plan.stride[0][n - 1];
                    int64_t os = it.off[1] + r * plan.stride[1][n - 2] + c * plan.stride[1][n - 1];
                    convert_elem((char *)cpu_tensor_data(y) + od * des, y->dtype,
                                 (const char *)cpu_tensor_data(x) + os * ses, x->dtype);
                }
        }
    }
}

static void k_identity(const void *ctx, int64_t n, const float *const *in, float *out)
{
    const float *x = in[0];
    (void)ctx;
    for (int64_t i = 0; i < n; i++) out[i] = x[i];
}

dio_status cpu_check_copy(const cpu_backend *be, const dio_op_call *call)
{
    dio_status st;
    if ((st = cpu_check_call_arity(be, call, 1, 1, 1, 1)) != DIO_OK) return st;
    if ((st = cpu_check_shape_as(be, "copy", "y", call->outputs[0], "x", call->inputs[0])) != DIO_OK)
        return st;
    return cpu_check_numel(be, "copy", "y", call->outputs[0]);
}

dio_status cpu_op_copy(void *ctx, dio_stream *stream, const dio_op_call *call)
{
    cpu_backend *be = ctx;
    const dio_tensor *x, *y;
    dio_status st;
    (void)stream;
    if (!be || !call) return DIO_ERR_INVALID_ARGUMENT;
    if ((st = cpu_check_copy(be, call)) != DIO_OK) return st;
    x = call->inputs[0];
    y = call->outputs[0];
    if (dio_tensor_numel(y) == 0) return DIO_OK;
    if (x->dtype == y->dtype) {
        if (!cpu_same_view(x, y))
            cpu_raw_copy(be, y->ndim, y->shape, cpu_tensor_data(y), y->stride, cpu_tensor_data(x), x->stride,
                         dio_dtype_size(y->dtype));
    } else if (is_float_dtype(x->dtype) && is_float_dtype(y->dtype)) {
        cpu_ew_operand in, out;
        cpu_ew_operand_init(&in, x, y->ndim);
        cpu_ew_operand_init(&out, y, y->ndim);
        cpu_ew_run(be, y->ndim, y->shape, 1, &in, &out, k_identity, NULL);
    } else {
        copy_convert_int(be, x, y);
    }
    return DIO_OK;
}

/* ---- shared checks ---- */

/* y has x's dtype and number of dims (the layout ops move bits; COPY casts). */
static dio_status check_layout_pair(const cpu_backend *be, const char *op, const dio_tensor *x,
                                    const dio_tensor *y)
{
    dio_status st;
    if ((st = cpu_check_dtype_as(be, op, "y", y, "x", x)) != DIO_OK) return st;
    if ((st = cpu_check_ndim(be, op, "y", y, x->ndim)) != DIO_OK) return st;
    return cpu_check_numel(be, op, "y", y);
}

/* ---- CONCAT ---- */

dio_status cpu_check_concat(const cpu_backend *be, const dio_op_call *call)
{
    const char *op = "concat";
    const dio_concat_params *p;
    const dio_tensor *y;
    int axis = 0;
    int64_t total = 0;
    char a[160], b[160], what[32];
    dio_status st;
    if ((st = cpu_check_call_arity(be, call, 1, INT32_MAX, INT32_MAX, 1)) != DIO_OK) return st;
    y = call->outputs[0];
    p = call->params;
    if (CPU_PARAM_FITS(p, dio_concat_params, axis)) axis = p->axis;
    if (axis < -y->ndim || axis >= y->ndim)
        return cpu_error(be, DIO_ERR_INVALID_ARGUMENT, "concat: axis %d is outside y's %d dims", axis,
                         y->ndim);
    if (axis < 0) axis += y->ndim;
    if ((st = cpu_check_numel(be, op, "y", y)) != DIO_OK) return st;
    for (int i = 0; i < call->n_inputs; i++) {
        const dio_tensor *x = call->inputs[i];
        int bad = x->ndim != y->ndim;
        snprintf(what, sizeof(what), "input %d", i);
        if ((st = cpu_check_dtype_as(be, op, what, x, "y", y)) != DIO_OK) return st;
        for (int d = 0; !bad && d < y->ndim; d++) bad = d != axis && x->shape[d] != y->shape[d];
        if (bad)
            return cpu_error(be, DIO_ERR_INVALID_ARGUMENT,
                             "concat: input %d has shape %s; it must match y %s in every dim but %d", i,
                             cpu_shape_str(x, a, sizeof(a)), cpu_shape_str(y, b, sizeof(b)), axis);
        total += x->shape[axis];
        if (total > y->shape[axis]) break;
    }
    if (total != y->shape[axis])
        return cpu_error(be, DIO_ERR_INVALID_ARGUMENT,
                         "concat: the inputs' sizes along axis %d do not add up to y's %lld", axis,
                         (long long)y->shape[axis]);
    return DIO_OK;
}

dio_status cpu_op_concat(void *ctx, dio_stream *stream, const dio_op_call *call)
{
    cpu_backend *be = ctx;
    const dio_concat_params *p;
    const dio_tensor *y;
    int axis = 0;
    int64_t at = 0;
    dio_status st;
    (void)stream;
    if (!be || !call) return DIO_ERR_INVALID_ARGUMENT;
    if ((st = cpu_check_concat(be, call)) != DIO_OK) return st;
    y = call->outputs[0];
    p = call->params;
    if (CPU_PARAM_FITS(p, dio_concat_params, axis)) axis = p->axis;
    if (axis < 0) axis += y->ndim;
    for (int i = 0; i < call->n_inputs; i++) {
        const dio_tensor *x = call->inputs[i];
        cpu_raw_copy(be, x->ndim, x->shape, cpu_elem_ptr(y, at * y->stride[axis]), y->stride,
                     cpu_tensor_data(x), x->stride, dio_dtype_size(y->dtype));
        at += x->shape[axis];
    }
    return DIO_OK;
}

/* ---- SLICE ---- */

static void slice_params(const dio_slice_params *p, int d, int64_t *start, int64_t *step)
{
    *start = CPU_PARAM_FITS_ELEM(p, dio_slice_params, start, d) ? p->start[d] : 0;
    *step = CPU_PARAM_FITS_ELEM(p, dio_slice_params, step, d) ? p->step[d] : 1;
}

dio_status cpu_check_slice(const cpu_backend *be, const dio_op_call *call)
{
    const char *op = "slice";
    const dio_tensor *x, *y;
    dio_status st;
    if ((st = cpu_check_call_arity(be, call, 1, 1, 1, 1)) != DIO_OK) return st;
    x = call->inputs[0];
    y = call->outputs[0];
    if ((st = check_layout_pair(be, op, x, y)) != DIO_OK) return st;
    for (int d = 0; d < y->ndim; d++) {
        int64_t start, step;
        slice_params(call->params, d, &start, &step);
        if (step < 1)
            return cpu_error(be, DIO_ERR_INVALID_ARGUMENT, "slice: step %lld of dim %d must be >= 1",
                             (long long)step, d);
        if (y->shape[d] > 0 &&
            (start < 0 || (__int128)start + (__int128)(y->shape[d] - 1) * step >= (__int128)x->shape[d]))
            return cpu_error(be, DIO_ERR_INVALID_ARGUMENT,
                             "slice: dim %d reads x[%lld + i·%lld] for i < %lld, outside x's %lld", d,
                             (long long)start, (long long)step, (long long)y->shape[d],
                             (long long)x->shape[d]);
    }
    return DIO_OK;
}

dio_status cpu_op_slice(void *ctx, dio_stream *stream, const dio_op_call *call)
{
    cpu_backend *be = ctx;
    const dio_tensor *x, *y;
    int64_t off = 0, sstride[DIO_MAX_DIMS];
    dio_status st;
    (void)stream;
    if (!be || !call) return DIO_ERR_INVALID_ARGUMENT;
    if ((st = cpu_check_slice(be, call)) != DIO_OK) return st;
    x = call->inputs[0];
    y = call->outputs[0];
    if (dio_tensor_numel(y) == 0) return DIO_OK;
    for (int d = 0; d < y->ndim; d++) {
        int64_t start, step;
        slice_params(call->params, d, &start, &step);
        off += start * x->stride[d];
        sstride[d] = step * x->stride[d];
    }
    cpu_raw_copy(be, y->ndim, y->shape, cpu_tensor_data(y), y->stride, cpu_elem_ptr(x, off), sstride,
                 dio_dtype_size(y->dtype));
    return DIO_OK;
}

/* ---- PERMUTE ---- */

dio_status cpu_check_permute(const cpu_backend *be, const dio_op_call *call)
{
    const char *op = "permute";
    const dio_permute_params *p;
    const dio_tensor *x, *y;
    int seen[DIO_MAX_DIMS] = {0};
    char a[160], b[160];
    dio_status st;
    if ((st = cpu_check_call_arity(be, call, 1, 1, 1, 1)) != DIO_OK) return st;
    x = call->inputs[0];
    y = call->outputs[0];
    p = call->params;
    if ((st = check_layout_pair(be, op, x, y)) != DIO_OK) return st;
    if (y->ndim > 0 && !CPU_PARAM_FITS_ELEM(p, dio_permute_params, perm, y->ndim - 1))
        return cpu_error(be, DIO_ERR_INVALID_ARGUMENT, "permute: the params do not hold perm[0..%d]",
                         y->ndim - 1);
    for (int i = 0; i < y->ndim; i++) {
        int32_t q = p->perm[i];
        if (q < 0 || q >= y->ndim || seen[q])
            return cpu_error(be, DIO_ERR_INVALID_ARGUMENT, "permute: perm[%d] = %d; perm must order 0..%d", i,
                             q, y->ndim - 1);
        seen[q] = 1;
        if (y->shape[i] != x->shape[q])
            return cpu_error(
                be, DIO_ERR_INVALID_ARGUMENT, "permute: y has shape %s; x %s permuted gives dim %d = %lld",
                cpu_shape_str(y, a, sizeof(a)), cpu_shape_str(x, b, sizeof(b)), i, (long long)x->shape[q]);
    }
    return DIO_OK;
}

dio_status cpu_op_permute(void *ctx, dio_stream *stream, const dio_op_call *call)
{
    cpu_backend *be = ctx;
    const dio_permute_params *p;
    const dio_tensor *x, *y;
    int64_t sstride[DIO_MAX_DIMS];
    dio_status st;
    (void)stream;
    if (!be || !call) return DIO_ERR_INVALID_ARGUMENT;
    if ((st = cpu_check_permute(be, call)) != DIO_OK) return st;
    x = call->inputs[0];
    y = call->outputs[0];
    p = call->params;
    if (dio_tensor_numel(y) == 0) return DIO_OK;
    for (int i = 0; i < y->ndim; i++) sstride[i] = x->stride[p->perm[i]];
    cpu_raw_copy(be, y->ndim, y->shape, cpu_tensor_data(y), y->stride, cpu_tensor_data(x), sstride,
                 dio_dtype_size(y->dtype));
    return DIO_OK;
}

/* ---- GATHER ---- */

dio_status cpu_check_gather(const cpu_backend *be, const dio_op_call *call)
{
    const char *op = "gather";
    const dio_tensor *table, *ids, *y;
    char a[160], b[160];
    dio_status st;
    if ((st = cpu_check_call_arity(be, call, 2, 2, 2, 1)) != DIO_OK) return st;
    table = call->inputs[0];
    ids = call->inputs[1];
    y = call->outputs[0];
    if (!is_float_dtype(table->dtype))
        return cpu_error(be, DIO_ERR_NOT_SUPPORTED, "gather: table has dtype %s; expected a float dtype",
                         dio_dtype_name(table->dtype));
    if ((st = cpu_check_ndim(be, op, "table", table, 2)) != DIO_OK) return st;
    if (ids->dtype != DIO_DTYPE_I32 && ids->dtype != DIO_DTYPE_I64)
        return cpu_error(be, DIO_ERR_NOT_SUPPORTED, "gather: ids have dtype %s; expected i32 or i64",
                         dio_dtype_name(ids->dtype));
    if ((st = cpu_check_ndim(be, op, "ids", ids, 1)) != DIO_OK) return st;
    if ((st = cpu_check_float_act(be, op, "y", y)) != DIO_OK) return st;
    if (y->ndim != 2 || y->shape[0] != ids->shape[0] || y->shape[1] != table->shape[1])
        return cpu_error(be, DIO_ERR_INVALID_ARGUMENT,
                         "gather: y has shape %s; expected [%lld, %lld] (ids [N], table %s)",
                         cpu_shape_str(y, a, sizeof(a)), (long long)ids->shape[0], (long long)table->shape[1],
                         cpu_shape_str(table, b, sizeof(b)));
    return cpu_check_numel(be, op, "y", y);
}

dio_status cpu_op_gather(void *ctx, dio_stream *stream, const dio_op_call *call)
{
    cpu_backend *be = ctx;
    const dio_tensor *table, *ids, *y;
    int64_t N, C, V;
    int nt;
    dio_status st;
    (void)stream;
    if (!be || !call) return DIO_ERR_INVALID_ARGUMENT;
    if ((st = cpu_check_gather(be, call)) != DIO_OK) return st;
    table = call->inputs[0];
    ids = call->inputs[1];
    y = call->outputs[0];
    V = table->shape[0];
    C = table->shape[1];
    N = ids->shape[0];
    for (int64_t n = 0; n < N; n++) {
        int64_t id = load_int(cpu_elem_ptr(ids, n * ids->stride[0]), ids->dtype);
        if (id < 0 || id >= V)
            return cpu_error(be, DIO_ERR_INVALID_ARGUMENT,
                             "gather: ids[%lld] = %lld is outside the table's rows [0, %lld)", (long long)n,
                             (long long)id, (long long)V);
    }
    if (N == 0 || C == 0) return DIO_OK;
    nt = cpu_threads_for(be, N * C, CPU_GRAIN);
    if (nt > N) nt = (int)N;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        float tmp[CPU_CHUNK];
        const size_t es = dio_dtype_size(y->dtype);
        int64_t lo, hi;
        cpu_split_range(N, omp_get_num_threads(), omp_get_thread_num(), &lo, &hi);
        for (int64_t n = lo; n < hi; n++) {
            int64_t id = load_int(cpu_elem_ptr(ids, n * ids->stride[0]), ids->dtype);
            const char *src = cpu_elem_ptr(table, id * table->stride[0]);
            char *dst = cpu_elem_ptr(y, n * y->stride[0]);
            if (table->dtype == y->dtype) {
                int64_t ss = table->stride[1], ds = y->stride[1];
                if (ss == 1 && ds == 1)
                    memcpy(dst, src, (size_t)C * es);
                else
                    for (int64_t c = 0; c < C; c++)
                        memcpy(dst + c * ds * (int64_t)es, src + c * ss * (int64_t)es, es);
                continue;
            }
            for (int64_t c0 = 0; c0 < C; c0 += CPU_CHUNK) {
                int64_t k = C - c0 < CPU_CHUNK ? C - c0 : CPU_CHUNK;
                cpu_load_run(tmp, src + c0 * table->stride[1] * (int64_t)dio_dtype_size(table->dtype),
                             table->dtype, table->stride[1], k);
                cpu_store_run(dst + c0 * y->stride[1] * (int64_t)es, y->dtype, y->stride[1], tmp, k);
            }
        }
    }
    return DIO_OK;
}

/* ---- UPSAMPLE_NEAREST ---- */

dio_status cpu_check_upsample_nearest(const cpu_backend *be, const dio_op_call *call)
{
    const char *op = "upsample_nearest";
    const dio_tensor *x, *y;
    char a[160], b[160];
    dio_status st;
    if ((st = cpu_check_call_arity(be, call, 1, 1, 1, 1)) != DIO_OK) return st;
    x = call->inputs[0];
    y = call->outputs[0];
    if ((st = check_layout_pair(be, op, x, y)) != DIO_OK) return st;
    for (int d = 0; d < y->ndim; d++) {
        int64_t xs = x->shape[d], ys = y->shape[d];
        if (xs == 0 ? ys != 0 : (ys < xs || ys % xs != 0))
            return cpu_error(be, DIO_ERR_INVALID_ARGUMENT,
                             "upsample_nearest: y %s is not x %s times an integer factor >= 1 in dim %d",
                             cpu_shape_str(y, a, sizeof(a)), cpu_shape_str(x, b, sizeof(b)), d);
    }
    return DIO_OK;
}

/* One row of y from one row of x; the unit-stride ×1 and ×2 cases get loops the compiler vectorises. */
#define CPU_UPSAMPLE_ROW(T)                                                                                  \
    do {                                                                                                     \
        T *D = (T *)(void *)yp;                                                                              \
        const T *S = (const T *)(const void *)xp;                                                            \
        if (f == 1 && xsl == 1 && ysl == 1)                                                                  \
            memcpy(D, S, (size_t)Wx * sizeof(T));                                                            \
        else if (f == 2 && xsl == 1 && ysl == 1)                                                             \
            for (int64_t w = 0; w < Wx; w++) {                                                               \
                D[2 * w] = S[w];                                                                             \
                D[2 * w + 1] = S[w];                                                                         \
            }                                                                                                \
        else if (f == 1)                                                                                     \
            for (int64_t w = 0; w < Wx; w++) D[w * ysl] = S[w * xsl];                                        \
        else                                                                                                 \
            for (int64_t w = 0; w < Wx; w++) {                                                               \
                const T v = S[w * xsl];                                                                      \
                for (int64_t k = 0; k < f; k++) D[(w * f + k) * ysl] = v;                                    \
            }                                                                                                \
    } while (0)

dio_status cpu_op_upsample_nearest(void *ctx, dio_stream *stream, const dio_op_call *call)
{
    cpu_backend *be = ctx;
    const dio_tensor *x, *y;
    int64_t numel, rows, Wx, f, xsl, ysl;
    int nd, nt;
    dio_status st;
    (void)stream;
    if (!be || !call) return DIO_ERR_INVALID_ARGUMENT;
    if ((st = cpu_check_upsample_nearest(be, call)) != DIO_OK) return st;
    x = call->inputs[0];
    y = call->outputs[0];
    numel = dio_tensor_numel(y);
    if (numel == 0) return DIO_OK;
    nd = y->ndim;
    if (nd == 0) {
        memcpy(cpu_tensor_data(y), cpu_tensor_data(x), dio_dtype_size(y->dtype));
        return DIO_OK;
    }
    Wx = x->shape[nd - 1];
    f = y->shape[nd - 1] / Wx;
    xsl = x->stride[nd - 1];
    ysl = y->stride[nd - 1];
    rows = numel / y->shape[nd - 1];
    nt = cpu_threads_for(be, numel, CPU_GRAIN);
    if (nt > rows) nt = (int)rows;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        const size_t es = dio_dtype_size(y->dtype);
        const char *prev = NULL; /* the last y row written and the x row it came from */
        int64_t lo, hi, prev_xo = -1;
        cpu_split_range(rows, omp_get_num_threads(), omp_get_thread_num(), &lo, &hi);
        for (int64_t r = lo; r < hi; r++) {
            int64_t rem = r, xo = 0, yo = 0;
            char *yp;
            const char *xp;
            for (int d = nd - 2; d >= 0; d--) {
                int64_t i = rem % y->shape[d];
                rem /= y->shape[d];
                yo += i * y->stride[d];
                xo += (i / (y->shape[d] / x->shape[d])) * x->stride[d];
            }
            yp = cpu_elem_ptr(y, yo);
            xp = cpu_elem_ptr(x, xo);
            if (prev && xo == prev_xo && ysl == 1) { /* a repeat along an outer dim: copy the row made */
                memcpy(yp, prev, (size_t)(Wx * f) * es);
                continue;
            }
            prev = yp;
            prev_xo = xo;
            switch (es) {
            case 1: CPU_UPSAMPLE_ROW(uint8_t); break;
            case 2: CPU_UPSAMPLE_ROW(uint16_t); break;
            case 4: CPU_UPSAMPLE_ROW(uint32_t); break;
            default: CPU_UPSAMPLE_ROW(uint64_t); break;
            }
        }
    }
    return DIO_OK;
}

/* ---- PATCHIFY / UNPATCHIFY ---- */

/* Reads the patch and order params; INVALID_ARGUMENT / NOT_SUPPORTED when they are missing or bad. */
static dio_status patch_params(const cpu_backend *be, const char *op, const void *params, int64_t patch[3],
                               int *order)
{
    const dio_patch_params *p = params;
    if (!CPU_PARAM_FITS(p, dio_patch_params, patch))
        return cpu_error(be, DIO_ERR_INVALID_ARGUMENT, "%s: the params do not hold the patch sizes", op);
    for (int i = 0; i < 3; i++) {
        patch[i] = p->patch[i];
        if (patch[i] < 1)
            return cpu_error(be, DIO_ERR_INVALID_ARGUMENT, "%s: patch size %d is %lld; it must be >= 1", op,
                             i, (long long)patch[i]);
    }
    *order = CPU_PARAM_FITS(p, dio_patch_params, order) ? p->order : DIO_PATCH_ORDER_C_T_H_W;
    if (*order != DIO_PATCH_ORDER_C_T_H_W && *order != DIO_PATCH_ORDER_H_W_T_C)
        return cpu_error(be, DIO_ERR_NOT_SUPPORTED, "%s: unknown feature order %d", op, *order);
    return DIO_OK;
}

/* Checks the video tensor v [B, C, T, H, W] against the token tensor k [B, T', H', W', F]. */
static dio_status check_patch_pair(const cpu_backend *be, const char *op, const dio_tensor *v,
                                   const dio_tensor *k, const int64_t patch[3])
{
    char a[160], b[160];
    int bad = v->ndim != 5 || k->ndim != 5;
    __int128 F = v->shape[1];
    for (int i = 0; !bad && i < 3; i++) {
        bad = v->shape[2 + i] % patch[i] != 0 || k->shape[1 + i] != v->shape[2 + i] / patch[i];
        F *= patch[i];
        bad = bad || F > ((__int128)1 << 62);
    }
    if (bad || k->shape[0] != v->shape[0] || (__int128)k->shape[4] != F)
        return cpu_error(
            be, DIO_ERR_INVALID_ARGUMENT,
            "%s: video %s and tokens %s do not match patch (%lld, %lld, %lld): expected [B, C, T, H, W] "
            "and [B, T/pt, H/ph, W/pw, C·pt·ph·pw]",
            op, cpu_shape_str(v, a, sizeof(a)), cpu_shape_str(k, b, sizeof(b)), (long long)patch[0],
            (long long)patch[1], (long long)patch[2]);
    return DIO_OK;
}

/* The 8-dim view pairing video v [B, C, T, H, W] with tokens k [B, T', H', W', F]: dims
 * (B, C, T', pt, H', ph, W', pw) with v's strides in vs and k's in ks. */
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

dio_status cpu_check_patchify(const cpu_backend *be, const dio_op_call *call)
{
    int64_t patch[3];
    int order = DIO_PATCH_ORDER_C_T_H_W;
    dio_status st;
    if ((st = cpu_check_call_arity(be, call, 1, 1, 1, 1)) != DIO_OK) return st;
    if ((st = patch_params(be, "patchify", call->params, patch, &order)) != DIO_OK) return st;
    if ((st = cpu_check_dtype_as(be, "patchify", "y", call->outputs[0], "x", call->inputs[0])) != DIO_OK)
        return st;
    if ((st = cpu_check_numel(be, "patchify", "y", call->outputs[0])) != DIO_OK) return st;
    return check_patch_pair(be, "patchify", call->inputs[0], call->outputs[0], patch);
}

dio_status cpu_check_unpatchify(const cpu_backend *be, const dio_op_call *call)
{
    int64_t patch[3];
    int order = DIO_PATCH_ORDER_C_T_H_W;
    dio_status st;
    if ((st = cpu_check_call_arity(be, call, 1, 1, 1, 1)) != DIO_OK) return st;
    if ((st = patch_params(be, "unpatchify", call->params, patch, &order)) != DIO_OK) return st;
    if ((st = cpu_check_dtype_as(be, "unpatchify", "y", call->outputs[0], "x", call->inputs[0])) != DIO_OK)
        return st;
    if ((st = cpu_check_numel(be, "unpatchify", "y", call->outputs[0])) != DIO_OK) return st;
    return check_patch_pair(be, "unpatchify", call->outputs[0], call->inputs[0], patch);
}

static dio_status run_patch(cpu_backend *be, const dio_op_call *call, int to_tokens)
{
    const dio_tensor *x = call->inputs[0], *y = call->outputs[0];
    const dio_tensor *v = to_tokens ? x : y, *k = to_tokens ? y : x;
    int64_t patch[3], shape[8], vs[8], ks[8];
    int order = DIO_PATCH_ORDER_C_T_H_W;
    dio_status st = patch_params(be, to_tokens ? "patchify" : "unpatchify", call->params, patch, &order);
    if (st != DIO_OK) return st;
    if (dio_tensor_numel(y) == 0) return DIO_OK;
    patch_view(v, k, patch, order, shape, vs, ks);
    if (to_tokens)
        cpu_raw_copy(be, 8, shape, cpu_tensor_data(y), ks, cpu_tensor_data(x), vs, dio_dtype_size(y->dtype));
    else
        cpu_raw_copy(be, 8, shape, cpu_tensor_data(y), vs, cpu_tensor_data(x), ks, dio_dtype_size(y->dtype));
    return DIO_OK;
}

dio_status cpu_op_patchify(void *ctx, dio_stream *stream, const dio_op_call *call)
{
    cpu_backend *be = ctx;
    dio_status st;
    (void)stream;
    if (!be || !call) return DIO_ERR_INVALID_ARGUMENT;
    if ((st = cpu_check_patchify(be, call)) != DIO_OK) return st;
    return run_patch(be, call, 1);
}

dio_status cpu_op_unpatchify(void *ctx, dio_stream *stream, const dio_op_call *call)
{
    cpu_backend *be = ctx;
    dio_status st;
    (void)stream;
    if (!be || !call) return DIO_ERR_INVALID_ARGUMENT;
    if ((st = cpu_check_unpatchify(be, call)) != DIO_OK) return st;
    return run_patch(be, call, 0);
}

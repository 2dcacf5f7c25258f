/* CPU backend — ROPE: rotary embedding from precomputed cos/sin tables [L, R] on x [B, L, H, D], in the
 * rotate-half (Cosmos 3D RoPE, Qwen2) or interleaved-pairs convention; dims R..D-1 pass through.
 *
 * One (b, l, h) head vector is one row: threads take contiguous row ranges, a row is read once into f32
 * (in place for f32 unit stride), rotated into a scratch row and stored, so y may be exactly x and x
 * may be any view — in particular the [B, L, H, D] head split of a fused QKV projection, whose rows are
 * strided. The tables follow ops.h (f32) with any strides; a thread re-reads a table row only when l
 * changes, which with h fastest is once per H rows. The pass-through tail is copied bit for bit, and
 * skipped entirely when y is x. */
#include <omp.h>
#include <string.h>

#include "cpu_strided.h"

static void rotate_half(const float *x, float *y, const float *c, const float *s, int64_t R)
{
    const int64_t h = R / 2;
    for (int64_t i = 0; i < h; i++) y[i] = x[i] * c[i] - x[i + h] * s[i];
    for (int64_t i = 0; i < h; i++) y[i + h] = x[i + h] * c[i + h] + x[i] * s[i + h];
}

static void rotate_pairs(const float *x, float *y, const float *c, const float *s, int64_t R)
{
    for (int64_t j = 0; j < R; j += 2) {
        y[j] = x[j] * c[j] - x[j + 1] * s[j];
        y[j + 1] = x[j + 1] * c[j + 1] + x[j] * s[j + 1];
    }
}

dio_status cpu_check_rope(const cpu_backend *be, const dio_op_call *call)
{
    const char *op = "rope";
    const dio_rope_params *p;
    const dio_tensor *x, *cs, *sn, *y;
    char a[160], b[160];
    dio_status st;
    if ((st = cpu_check_call_arity(be, call, 3, 3, 3, 1)) != DIO_OK) return st;
    p = call->params;
    x = call->inputs[0];
    cs = call->inputs[1];
    sn = call->inputs[2];
    y = call->outputs[0];
    if ((st = cpu_check_float_act(be, op, "x", x)) != DIO_OK) return st;
    if ((st = cpu_check_ndim(be, op, "x", x, 4)) != DIO_OK) return st;
    if ((st = cpu_check_dtype_as(be, op, "y", y, "x", x)) != DIO_OK) return st;
    if ((st = cpu_check_shape_as(be, op, "y", y, "x", x)) != DIO_OK) return st;
    if ((st = cpu_check_numel(be, op, "y", y)) != DIO_OK) return st;
    if (cs->dtype != DIO_DTYPE_F32 || sn->dtype != DIO_DTYPE_F32)
        return cpu_error(be, DIO_ERR_NOT_SUPPORTED,
                         "rope: the %s table has dtype %s; ops.h makes the tables f32",
                         cs->dtype != DIO_DTYPE_F32 ? "cos" : "sin",
                         dio_dtype_name(cs->dtype != DIO_DTYPE_F32 ? cs->dtype : sn->dtype));
    if (cs->ndim != 2 || cs->shape[0] != x->shape[1] || cs->shape[1] % 2 != 0 || cs->shape[1] > x->shape[3])
        return cpu_error(be, DIO_ERR_INVALID_ARGUMENT,
                         "rope: cos has shape %s; expected [L, R] with R even and R <= D for x %s",
                         cpu_shape_str(cs, a, sizeof(a)), cpu_shape_str(x, b, sizeof(b)));
    if ((st = cpu_check_shape_as(be, op, "sin", sn, "cos", cs)) != DIO_OK) return st;
    if (CPU_PARAM_FITS(p, dio_rope_params, mode) && p->mode != DIO_ROPE_ROTATE_HALF &&
        p->mode != DIO_ROPE_INTERLEAVED)
        return cpu_error(be, DIO_ERR_NOT_SUPPORTED, "rope: unknown mode %d", p->mode);
    return DIO_OK;
}

/* Bit copy of n elements of es bytes between strided runs (the pass-through tail). */
static void copy_run(char *d, int64_t ds, const char *s, int64_t ss, int64_t n, size_t es)
{
    if (ds == 1 && ss == 1) {
        memmove(d, s, (size_t)n * es);
        return;
    }
    for (int64_t i = 0; i < n; i++) memmove(d + i * ds * (int64_t)es, s + i * ss * (int64_t)es, es);
}

dio_status cpu_op_rope(void *ctx, dio_stream *stream, const dio_op_call *call)
{
    cpu_backend *be = ctx;
    const dio_rope_params *p;
    const dio_tensor *x, *cs, *sn, *y;
    float *scratch = NULL;
    int64_t L, H, D, R, rows, slice;
    int mode = DIO_ROPE_ROTATE_HALF, in_place, nt;
    dio_status st;
    (void)stream;
    if (!be || !call) return DIO_ERR_INVALID_ARGUMENT;
    if ((st = cpu_check_rope(be, call)) != DIO_OK) return st;
    x = call->inputs[0];
    cs = call->inputs[1];
    sn = call->inputs[2];
    y = call->outputs[0];
    p = call->params;
    if (CPU_PARAM_FITS(p, dio_rope_params, mode)) mode = p->mode;
    L = x->shape[1];
    H = x->shape[2];
    D = x->shape[3];
    R = cs->shape[1];
    rows = x->shape[0] * L * H;
    if (rows == 0 || D == 0) return DIO_OK;
    in_place = cpu_same_view(x, y);
    nt = cpu_threads_for(be, rows * D, CPU_GRAIN);
    if (nt > rows) nt = (int)rows;
    scratch = cpu_scratch_alloc(be, nt, 2 * D + 2 * R, &slice);
    if (!scratch) {
        st = cpu_error(be, DIO_ERR_OUT_OF_HOST_MEMORY, "rope: out of memory for rows of %lld", (long long)D);
        goto fail;
    }
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        float *tx = scratch + omp_get_thread_num() * slice, *ty = tx + D, *tc = ty + D, *ts = tc + R;
        const float *c = tc, *s = ts;
        const size_t es = dio_dtype_size(x->dtype);
        int64_t lo, hi, cached = -1;
        cpu_split_range(rows, omp_get_num_threads(), omp_get_thread_num(), &lo, &hi);
        for (int64_t row = lo; row < hi; row++) {
            int64_t h = row % H, l = (row / H) % L, b = row / (H * L);
            char *xp = cpu_elem_ptr(x, b * x->stride[0] + l * x->stride[1] + h * x->stride[2]);
            char *yp = cpu_elem_ptr(y, b * y->stride[0] + l * y->stride[1] + h * y->stride[2]);
            const float *xr;
            if (R == 0) {
                if (!in_place) copy_run(yp, y->stride[3], xp, x->stride[3], D, es);
                continue;
            }
            if (l != cached) {
                c = cpu_view_run(tc, cpu_elem_ptr(cs, l * cs->stride[0]), DIO_DTYPE_F32, cs->stride[1], R);
                s = cpu_view_run(ts, cpu_elem_ptr(sn, l * sn->stride[0]), DIO_DTYPE_F32, sn->stride[1], R);
                cached = l;
            }
            xr = cpu_view_run(tx, xp, x->dtype, x->stride[3], R);
            if (mode == DIO_ROPE_INTERLEAVED)
                rotate_pairs(xr, ty, c, s, R);
            else
                rotate_half(xr, ty, c, s, R);
            cpu_store_run(yp, y->dtype, y->stride[3], ty, R);
            if (!in_place && R < D)
                copy_run(yp + R * y->stride[3] * (int64_t)es, y->stride[3],
                         xp + R * x->stride[3] * (int64_t)es, x->stride[3], D - R, es);
        }
    }
fail:
    cpu_scratch_free(be, scratch);
    return st;
}

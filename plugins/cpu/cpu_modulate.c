/* CPU backend — ADALN_MODULATE (y = norm(x)·(1 + scale) + shift) and GATED_RESIDUAL (y = x + gate·r),
 * both with the groups rule of ops.h: x [B, L, C], a modulation tensor [B, G, C], token l uses row
 * l / (L / G).
 *
 * ADALN_MODULATE is a row op fused with the norm so x is read once and y written once per token:
 * threads take contiguous token ranges, so consecutive tokens almost always share their (b, g) row and
 * each thread keeps that row's (1 + scale) and shift converted to f32 until the group changes. The
 * statistics use double accumulators as in cpu_norm.c. GATED_RESIDUAL needs no row state: L is split
 * into [G, L/G], which makes the gate an ordinary broadcast (stride 0 over L/G), and the whole op one
 * pass of the element-wise engine — any strides, f16/bf16 at the edges, and y may be x (in place).
 * All tensors of a call share x's dtype (ops.h: activations of one call share a dtype). */
#include <math.h>
#include <omp.h>

#include "cpu_strided.h"

/* ---- checks ---- */

/* t is [B, G, C] against x [B, L, C] with G >= 1 dividing L. */
static dio_status check_modulation(const cpu_backend *be, const char *op, const char *what,
                                   const dio_tensor *t, const dio_tensor *x)
{
    char a[160], b[160];
    dio_status st;
    if ((st = cpu_check_dtype_as(be, op, what, t, "x", x)) != DIO_OK) return st;
    if (t->ndim != 3 || t->shape[0] != x->shape[0] || t->shape[2] != x->shape[2] || t->shape[1] < 1 ||
        x->shape[1] % t->shape[1] != 0)
        return cpu_error(be, DIO_ERR_INVALID_ARGUMENT,
                         "%s: %s has shape %s; expected [B, G, C] with G >= 1 dividing L for x %s", op, what,
                         cpu_shape_str(t, a, sizeof(a)), cpu_shape_str(x, b, sizeof(b)));
    return DIO_OK;
}

dio_status cpu_check_adaln_modulate(const cpu_backend *be, const dio_op_call *call)
{
    const char *op = "adaln_modulate";
    const dio_tensor *x, *y;
    dio_status st;
    if ((st = cpu_check_call_arity(be, call, 3, 3, 3, 1)) != DIO_OK) return st;
    x = call->inputs[0];
    y = call->outputs[0];
    if ((st = cpu_check_float_act(be, op, "x", x)) != DIO_OK) return st;
    if ((st = cpu_check_ndim(be, op, "x", x, 3)) != DIO_OK) return st;
    if ((st = check_modulation(be, op, "shift", call->inputs[1], x)) != DIO_OK) return st;
    if ((st = check_modulation(be, op, "scale", call->inputs[2], x)) != DIO_OK) return st;
    if ((st = cpu_check_dtype_as(be, op, "y", y, "x", x)) != DIO_OK) return st;
    if ((st = cpu_check_shape_as(be, op, "y", y, "x", x)) != DIO_OK) return st;
    return cpu_check_numel(be, op, "y", y);
}

dio_status cpu_check_gated_residual(const cpu_backend *be, const dio_op_call *call)
{
    const char *op = "gated_residual";
    const dio_tensor *x, *r, *y;
    dio_status st;
    if ((st = cpu_check_call_arity(be, call, 3, 3, 3, 1)) != DIO_OK) return st;
    x = call->inputs[0];
    r = call->inputs[1];
    y = call->outputs[0];
    if ((st = cpu_check_float_act(be, op, "x", x)) != DIO_OK) return st;
    if ((st = cpu_check_ndim(be, op, "x", x, 3)) != DIO_OK) return st;
    if ((st = cpu_check_dtype_as(be, op, "r", r, "x", x)) != DIO_OK) return st;
    if ((st = cpu_check_shape_as(be, op, "r", r, "x", x)) != DIO_OK) return st;
    if ((st = check_modulation(be, op, "gate", call->inputs[2], x)) != DIO_OK) return st;
    if ((st = cpu_check_dtype_as(be, op, "y", y, "x", x)) != DIO_OK) return st;
    if ((st = cpu_check_shape_as(be, op, "y", y, "x", x)) != DIO_OK) return st;
    return cpu_check_numel(be, op, "y", y);
}

/* ---- ADALN_MODULATE ---- */

static void modulate_row(const float *x, float *y, const float *opsc, const float *sh, int64_t C, float eps,
                         int rms)
{
    double s = 0.0, ss = 0.0, m = 0.0;
    float m_hi = 0.0f, m_lo = 0.0f, r;
    if (!rms) {
#pragma omp simd reduction(+ : s)
        for (int64_t i = 0; i < C; i++) s += (double)x[i];
        m = s / (double)C;
        m_hi = (float)m;
        m_lo = (float)(m - (double)m_hi);
    }
#pragma omp simd reduction(+ : ss)
    for (int64_t i = 0; i < C; i++) {
        double d = (double)x[i] - m;
        ss += d * d;
    }
    r = (float)(1.0 / sqrt(ss / (double)C + (double)eps));
    for (int64_t i = 0; i < C; i++) y[i] = ((x[i] - m_hi) - m_lo) * r * opsc[i] + sh[i];
}

dio_status cpu_op_adaln_modulate(void *ctx, dio_stream *stream, const dio_op_call *call)
{
    cpu_backend *be = ctx;
    const dio_adaln_params *p;
    const dio_tensor *x, *shift, *scale, *y;
    float *scratch = NULL, eps = 1e-6f;
    int64_t B, L, C, G, per, rows, slice;
    int rms = 0, nt;
    dio_status st;
    (void)stream;
    if (!be || !call) return DIO_ERR_INVALID_ARGUMENT;
    if ((st = cpu_check_adaln_modulate(be, call)) != DIO_OK) return st;
    x = call->inputs[0];
    shift = call->inputs[1];
    scale = call->inputs[2];
    y = call->outputs[0];
    p = call->params;
    if (CPU_PARAM_FITS(p, dio_adaln_params, eps)) eps = p->eps;
    if (CPU_PARAM_FITS(p, dio_adaln_params, rms)) rms = p->rms != 0;
    B = x->shape[0];
    L = x->shape[1];
    C = x->shape[2];
    G = shift->shape[1];
    rows = B * L;
    if (rows == 0 || C == 0) return DIO_OK;
    per = L / G;
    nt = cpu_threads_for(be, rows * C, CPU_GRAIN);
    if (nt > rows) nt = (int)rows;
    scratch = cpu_scratch_alloc(be, nt, 4 * C, &slice);
    if (!scratch) {
        st = cpu_error(be, DIO_ERR_OUT_OF_HOST_MEMORY, "adaln_modulate: out of memory for rows of %lld",
                       (long long)C);
        goto fail;
    }
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        float *tx = scratch + omp_get_thread_num() * slice, *ty = tx + C, *opsc = ty + C, *sh = opsc + C;
        int64_t lo, hi, cached = -1;
        cpu_split_range(rows, omp_get_num_threads(), omp_get_thread_num(), &lo, &hi);
        for (int64_t row = lo; row < hi; row++) {
            int64_t b = row / L, l = row % L, key = b * G + l / per;
            char *xp = cpu_elem_ptr(x, b * x->stride[0] + l * x->stride[1]);
            char *yp = cpu_elem_ptr(y, b * y->stride[0] + l * y->stride[1]);
            const float *xr;
            float *yr;
            if (key != cached) {
                int64_t g = l / per;
                cpu_load_run(opsc, cpu_elem_ptr(scale, b * scale->stride[0] + g * scale->stride[1]),
                             scale->dtype, scale->stride[2], C);
                for (int64_t i = 0; i < C; i++) opsc[i] += 1.0f;
                cpu_load_run(sh, cpu_elem_ptr(shift, b * shift->stride[0] + g * shift->stride[1]),
                             shift->dtype, shift->stride[2], C);
                cached = key;
            }
            xr = cpu_view_run(tx, xp, x->dtype, x->stride[2], C);
            yr = (y->dtype == DIO_DTYPE_F32 && (y->stride[2] == 1 || C == 1)) ? (float *)(void *)yp : ty;
            modulate_row(xr, yr, opsc, sh, C, eps, rms);
            if (yr == ty) cpu_store_run(yp, y->dtype, y->stride[2], ty, C);
        }
    }
fail:
    cpu_scratch_free(be, scratch);
    return st;
}

/* ---- GATED_RESIDUAL ---- */

static void k_gated(const void *ctx, int64_t n, const float *const *in, float *out)
{
    const float *x = in[0], *r = in[1], *g = in[2];
    (void)ctx;
    for (int64_t i = 0; i < n; i++) out[i] = x[i] + g[i] * r[i];
}

/* [B, L, C] seen as [B, G, L/G, C]; a [B, G, C] tensor broadcasts over L/G. */
static void split_tokens(cpu_ew_operand *op, const dio_tensor *t, int64_t per, int broadcast)
{
    op->data = cpu_tensor_data(t);
    op->dtype = t->dtype;
    op->stride[0] = t->stride[0];
    op->stride[1] = broadcast ? t->stride[1] : t->stride[1] * per;
    op->stride[2] = broadcast ? 0 : t->stride[1];
    op->stride[3] = t->stride[2];
}

dio_status cpu_op_gated_residual(void *ctx, dio_stream *stream, const dio_op_call *call)
{
    cpu_backend *be = ctx;
    const dio_tensor *x, *gate, *y;
    cpu_ew_operand in[3], out;
    int64_t shape[4], per;
    dio_status st;
    (void)stream;
    if (!be || !call) return DIO_ERR_INVALID_ARGUMENT;
    if ((st = cpu_check_gated_residual(be, call)) != DIO_OK) return st;
    x = call->inputs[0];
    gate = call->inputs[2];
    y = call->outputs[0];
    per = x->shape[1] / gate->shape[1];
    shape[0] = x->shape[0];
    shape[1] = gate->shape[1];
    shape[2] = per;
    shape[3] = x->shape[2];
    split_tokens(&in[0], x, per, 0);
    split_tokens(&in[1], call->inputs[1], per, 0);
    split_tokens(&in[2], gate, per, 1);
    split_tokens(&out, y, per, 0);
    cpu_ew_run(be, 4, shape, 3, in, &out, k_gated, NULL);
    return DIO_OK;
}

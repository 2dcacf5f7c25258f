/* CPU backend — LAYERNORM, RMSNORM (also the per-head QK norm: x [B, L, H, D], weight [D]),
 * CHANNEL_RMSNORM (the Wan VAE's RMS_norm, over dim 1) and SOFTMAX (last dim).
 *
 * Row ops (layernorm, rmsnorm, softmax) give each thread a contiguous range of rows; a row is read
 * once into f32 (used in place when it is f32 with unit stride, so any strides and dtypes share one
 * kernel), reduced, and written. Sums are accumulated in double: these ops are memory-bound, so the
 * wider accumulator is free and a row of 18,944 elements or with a large mean loses nothing; the
 * mean is then applied as a hi + lo pair of floats so x - mean stays exact where it matters. Weight
 * and bias (any stride; f32/f16/bf16 independent of x for layernorm/rmsnorm as ops.h allows, x's
 * dtype for the channel norm's gamma and bias) are converted to f32 once per call.
 * Channel RMS norm reduces over dim 1, whose stride is the whole spatial extent. Instead of gathering
 * columns, a task takes a block of 256 spatial positions and streams through the channels twice (sum
 * of squares, then scale), each pass reading contiguous runs; the block's rows stay in L2 between the
 * passes. Views whose spatial dims do not collapse to one stride take a gather path. */
#include <math.h>
#include <omp.h>

#include "cpu_strided.h"

#define CPU_CNORM_BLOCK 256

/* ---- row kernels ---- */

static void layernorm_row(const float *x, float *y, const float *w, const float *b, int64_t C, float eps)
{
    double s = 0.0, ss = 0.0, m;
    float m_hi, m_lo, r;
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < C; i++) s += (double)x[i];
    m = s / (double)C;
#pragma omp simd reduction(+ : ss)
    for (int64_t i = 0; i < C; i++) {
        double d = (double)x[i] - m;
        ss += d * d;
    }
    r = (float)(1.0 / sqrt(ss / (double)C + (double)eps));
    m_hi = (float)m;
    m_lo = (float)(m - (double)m_hi);
    for (int64_t i = 0; i < C; i++) y[i] = ((x[i] - m_hi) - m_lo) * r * w[i] + b[i];
}

static void rmsnorm_row(const float *x, float *y, const float *w, int64_t C, float eps)
{
    double ss = 0.0;
    float r;
#pragma omp simd reduction(+ : ss)
    for (int64_t i = 0; i < C; i++) ss += (double)x[i] * (double)x[i];
    r = (float)(1.0 / sqrt(ss / (double)C + (double)eps));
    for (int64_t i = 0; i < C; i++) y[i] = x[i] * r * w[i];
}

/* y may be x (in place). A NaN anywhere, or a max of ±inf, gives a row of NaN as in PyTorch. */
static void softmax_row(const float *x, float *y, int64_t N, float scale)
{
    float m = -INFINITY, lane[16], inv;
    double sum = 0.0;
    int64_t i = 0;
    for (i = 0; i < N; i++) y[i] = scale * x[i];
    /* max in 16 independent lanes: an element-wise loop the compiler vectorises without reassociating */
    for (int k = 0; k < 16; k++) lane[k] = -INFINITY;
    for (i = 0; i + 16 <= N; i += 16)
        for (int k = 0; k < 16; k++) lane[k] = y[i + k] > lane[k] ? y[i + k] : lane[k];
    for (; i < N; i++) m = y[i] > m ? y[i] : m;
    for (int k = 0; k < 16; k++) m = lane[k] > m ? lane[k] : m;
    for (i = 0; i < N; i++) y[i] = cpu_expf(y[i] - m);
#pragma omp simd reduction(+ : sum)
    for (i = 0; i < N; i++) sum += (double)y[i]; /* a NaN the max skipped lands here */
    inv = (float)(1.0 / sum);
    for (i = 0; i < N; i++) y[i] *= inv;
}

/* ---- checks ---- */

static dio_status check_rownorm(const cpu_backend *be, const dio_op_call *call, int with_bias)
{
    const char *op = dio_op_name(call->op);
    const dio_tensor *x, *y, *w, *b;
    dio_status st;
    int64_t C;
    if ((st = cpu_check_call_arity(be, call, 1, with_bias ? 3 : 2, 1, 1)) != DIO_OK) return st;
    x = call->inputs[0];
    y = call->outputs[0];
    w = call->n_inputs > 1 ? call->inputs[1] : NULL;
    b = call->n_inputs > 2 ? call->inputs[2] : NULL;
    if ((st = cpu_check_float_act(be, op, "x", x)) != DIO_OK) return st;
    if (x->ndim < 1)
        return cpu_error(be, DIO_ERR_INVALID_ARGUMENT, "%s: x is a scalar; it needs a last dim", op);
    if ((st = cpu_check_dtype_as(be, op, "y", y, "x", x)) != DIO_OK) return st;
    if ((st = cpu_check_shape_as(be, op, "y", y, "x", x)) != DIO_OK) return st;
    if ((st = cpu_check_numel(be, op, "y", y)) != DIO_OK) return st;
    C = x->shape[x->ndim - 1];
    if (w) {
        if ((st = cpu_check_float_act(be, op, "weight", w)) != DIO_OK) return st;
        if ((st = cpu_check_vector(be, op, "weight", w, C)) != DIO_OK) return st;
    }
    if (b) {
        if ((st = cpu_check_float_act(be, op, "bias", b)) != DIO_OK) return st;
        if ((st = cpu_check_vector(be, op, "bias", b, C)) != DIO_OK) return st;
    }
    return DIO_OK;
}

dio_status cpu_check_layernorm(const cpu_backend *be, const dio_op_call *call)
{
    return check_rownorm(be, call, 1);
}

dio_status cpu_check_rmsnorm(const cpu_backend *be, const dio_op_call *call)
{
    return check_rownorm(be, call, 0);
}

dio_status cpu_check_softmax(const cpu_backend *be, const dio_op_call *call)
{
    const char *op = "softmax";
    const dio_tensor *x, *y;
    dio_status st;
    if ((st = cpu_check_call_arity(be, call, 1, 1, 1, 1)) != DIO_OK) return st;
    x = call->inputs[0];
    y = call->outputs[0];
    if ((st = cpu_check_float_act(be, op, "x", x)) != DIO_OK) return st;
    if (x->ndim < 1)
        return cpu_error(be, DIO_ERR_INVALID_ARGUMENT, "%s: x is a scalar; it needs a last dim", op);
    if ((st = cpu_check_dtype_as(be, op, "y", y, "x", x)) != DIO_OK) return st;
    if ((st = cpu_check_shape_as(be, op, "y", y, "x", x)) != DIO_OK) return st;
    return cpu_check_numel(be, op, "y", y);
}

dio_status cpu_check_channel_rmsnorm(const cpu_backend *be, const dio_op_call *call)
{
    const char *op = "channel_rmsnorm";
    const dio_tensor *x, *g, *b, *y;
    dio_status st;
    if ((st = cpu_check_call_arity(be, call, 2, 3, 2, 1)) != DIO_OK) return st;
    x = call->inputs[0];
    g = call->inputs[1];
    b = call->n_inputs > 2 ? call->inputs[2] : NULL;
    y = call->outputs[0];
    if ((st = cpu_check_float_act(be, op, "x", x)) != DIO_OK) return st;
    if (x->ndim < 2) {
        char s[160];
        return cpu_error(be, DIO_ERR_INVALID_ARGUMENT, "%s: x has shape %s; expected [B, C, ...]", op,
                         cpu_shape_str(x, s, sizeof(s)));
    }
    if ((st = cpu_check_dtype_as(be, op, "y", y, "x", x)) != DIO_OK) return st;
    if ((st = cpu_check_shape_as(be, op, "y", y, "x", x)) != DIO_OK) return st;
    if ((st = cpu_check_numel(be, op, "y", y)) != DIO_OK) return st;
    /* ops.h: gamma and bias have x's dtype here (only LAYERNORM/RMSNORM weights may differ) */
    if ((st = cpu_check_dtype_as(be, op, "gamma", g, "x", x)) != DIO_OK) return st;
    if ((st = cpu_check_vector(be, op, "gamma", g, x->shape[1])) != DIO_OK) return st;
    if (b) {
        if ((st = cpu_check_dtype_as(be, op, "bias", b, "x", x)) != DIO_OK) return st;
        if ((st = cpu_check_vector(be, op, "bias", b, x->shape[1])) != DIO_OK) return st;
    }
    return DIO_OK;
}

/* ---- row ops ---- */

enum { ROW_LAYERNORM, ROW_RMSNORM, ROW_SOFTMAX };

/* Converts an optional [C] vector to f32, or fills `fill` when it is absent. */
static void load_vector(float *dst, const dio_tensor *t, int64_t C, float fill)
{
    if (t) {
        cpu_load_run(dst, cpu_tensor_data(t), t->dtype, t->stride[0], C);
    } else {
        for (int64_t i = 0; i < C; i++) dst[i] = fill;
    }
}

static dio_status run_rows(cpu_backend *be, const dio_op_call *call, int kind)
{
    const dio_tensor *x = call->inputs[0], *y = call->outputs[0];
    const dio_tensor *w = kind != ROW_SOFTMAX && call->n_inputs > 1 ? call->inputs[1] : NULL;
    const dio_tensor *b = kind == ROW_LAYERNORM && call->n_inputs > 2 ? call->inputs[2] : NULL;
    const int nd = x->ndim - 1;
    const int64_t C = x->shape[nd], xs = x->stride[nd], ys = y->stride[nd];
    const int64_t numel = dio_tensor_numel(x);
    float *vec = NULL, *scratch = NULL, eps = 1e-6f, scale = 1.0f;
    int64_t rows, slice;
    int nt;
    dio_status st = DIO_OK;

    if (numel == 0) return DIO_OK;
    if (kind == ROW_SOFTMAX) {
        const dio_softmax_params *p = call->params;
        if (CPU_PARAM_FITS(p, dio_softmax_params, scale)) scale = p->scale;
    } else {
        const dio_norm_params *p = call->params;
        if (CPU_PARAM_FITS(p, dio_norm_params, eps)) eps = p->eps;
        vec = be->host->alloc_aligned((size_t)(2 * C) * sizeof(float), 64);
        if (!vec) {
            st = cpu_error(be, DIO_ERR_OUT_OF_HOST_MEMORY, "%s: out of memory for %lld weights",
                           dio_op_name(call->op), (long long)C);
            goto fail;
        }
        load_vector(vec, w, C, 1.0f);
        load_vector(vec + C, b, C, 0.0f);
    }
    rows = numel / C;
    nt = cpu_threads_for(be, numel, CPU_GRAIN);
    if (nt > rows) nt = (int)rows;
    scratch = cpu_scratch_alloc(be, nt, 2 * C, &slice);
    if (!scratch) {
        st = cpu_error(be, DIO_ERR_OUT_OF_HOST_MEMORY, "%s: out of memory for rows of %lld",
                       dio_op_name(call->op), (long long)C);
        goto fail;
    }
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        float *tx = scratch + omp_get_thread_num() * slice, *ty = tx + C;
        int64_t lo, hi;
        cpu_split_range(rows, omp_get_num_threads(), omp_get_thread_num(), &lo, &hi);
        for (int64_t r = lo; r < hi; r++) {
            char *xp = cpu_elem_ptr(x, cpu_offset_of(r, nd, x->shape, x->stride));
            char *yp = cpu_elem_ptr(y, cpu_offset_of(r, nd, y->shape, y->stride));
            const float *xr = cpu_view_run(tx, xp, x->dtype, xs, C);
            float *yr = (y->dtype == DIO_DTYPE_F32 && (ys == 1 || C == 1)) ? (float *)(void *)yp : ty;
            if (kind == ROW_LAYERNORM)
                layernorm_row(xr, yr, vec, vec + C, C, eps);
            else if (kind == ROW_RMSNORM)
                rmsnorm_row(xr, yr, vec, C, eps);
            else
                softmax_row(xr, yr, C, scale);
            if (yr == ty) cpu_store_run(yp, y->dtype, ys, ty, C);
        }
    }
fail:
    cpu_scratch_free(be, scratch);
    cpu_scratch_free(be, vec);
    return st;
}

dio_status cpu_op_layernorm(void *ctx, dio_stream *stream, const dio_op_call *call)
{
    cpu_backend *be = ctx;
    dio_status st;
    (void)stream;
    if (!be || !call) return DIO_ERR_INVALID_ARGUMENT;
    if ((st = cpu_check_layernorm(be, call)) != DIO_OK) return st;
    return run_rows(be, call, ROW_LAYERNORM);
}

dio_status cpu_op_rmsnorm(void *ctx, dio_stream *stream, const dio_op_call *call)
{
    cpu_backend *be = ctx;
    dio_status st;
    (void)stream;
    if (!be || !call) return DIO_ERR_INVALID_ARGUMENT;
    if ((st = cpu_check_rmsnorm(be, call)) != DIO_OK) return st;
    return run_rows(be, call, ROW_RMSNORM);
}

dio_status cpu_op_softmax(void *ctx, dio_stream *stream, const dio_op_call *call)
{
    cpu_backend *be = ctx;
    dio_status st;
    (void)stream;
    if (!be || !call) return DIO_ERR_INVALID_ARGUMENT;
    if ((st = cpu_check_softmax(be, call)) != DIO_OK) return st;
    return run_rows(be, call, ROW_SOFTMAX);
}

/* ---- channel RMS norm ---- */

/* The spatial dims (2..) of t as one stride, when they collapse to one; else 0. */
static int spatial_stride(const dio_tensor *t, int64_t *stride)
{
    int64_t s = 1, inner = 1;
    int seen = 0;
    for (int d = t->ndim - 1; d >= 2; d--) {
        if (t->shape[d] == 1) continue;
        if (!seen) {
            s = t->stride[d];
            seen = 1;
        } else if (t->stride[d] != s * inner) {
            return 0;
        }
        inner *= t->shape[d];
    }
    *stride = s;
    return 1;
}

typedef struct cnorm_job {
    const dio_tensor *x, *y;
    const float *gamma, *bias;
    int64_t C, S;
    float eps;
    double sqrt_c;
    int flat; /* spatial dims collapse for both x and y */
    int64_t sx, sy;
} cnorm_job;

static void cnorm_block(const cnorm_job *j, int64_t bi, int64_t s0, int64_t n)
{
    const dio_tensor *x = j->x, *y = j->y;
    double acc[CPU_CNORM_BLOCK];
    float tmp[CPU_CNORM_BLOCK], out[CPU_CNORM_BLOCK], inv[CPU_CNORM_BLOCK];
    int64_t xoff[CPU_CNORM_BLOCK], yoff[CPU_CNORM_BLOCK];
    const int ns = x->ndim - 2;
    const int64_t xb = bi * x->stride[0], yb = bi * y->stride[0];
    const int y_direct = j->flat && y->dtype == DIO_DTYPE_F32 && (j->sy == 1 || n == 1);
    for (int64_t k = 0; k < n; k++) acc[k] = 0.0;
    if (!j->flat)
        for (int64_t k = 0; k < n; k++) {
            xoff[k] = cpu_offset_of(s0 + k, ns, x->shape + 2, x->stride + 2);
            yoff[k] = cpu_offset_of(s0 + k, ns, y->shape + 2, y->stride + 2);
        }
    for (int64_t c = 0; c < j->C; c++) {
        const float *v = tmp;
        int64_t base = xb + c * x->stride[1];
        if (j->flat)
            v = cpu_view_run(tmp, cpu_elem_ptr(x, base + s0 * j->sx), x->dtype, j->sx, n);
        else
            for (int64_t k = 0; k < n; k++)
                tmp[k] = cpu_load_f32(cpu_tensor_data(x), x->dtype, base + xoff[k]);
#pragma omp simd
        for (int64_t k = 0; k < n; k++) acc[k] += (double)v[k] * (double)v[k];
    }
    for (int64_t k = 0; k < n; k++) {
        double d = sqrt(acc[k]);
        d = d < (double)j->eps ? (double)j->eps : d; /* F.normalize: max(‖x‖, eps); NaN stays NaN */
        inv[k] = (float)(j->sqrt_c / d);
    }
    for (int64_t c = 0; c < j->C; c++) {
        const float g = j->gamma[c], bias = j->bias[c];
        const float *v = tmp;
        int64_t base = xb + c * x->stride[1], ybase = yb + c * y->stride[1];
        float *o = y_direct ? (float *)(void *)cpu_elem_ptr(y, ybase + s0 * j->sy) : out;
        if (j->flat)
            v = cpu_view_run(tmp, cpu_elem_ptr(x, base + s0 * j->sx), x->dtype, j->sx, n);
        else
            for (int64_t k = 0; k < n; k++)
                tmp[k] = cpu_load_f32(cpu_tensor_data(x), x->dtype, base + xoff[k]);
        for (int64_t k = 0; k < n; k++) o[k] = v[k] * inv[k] * g + bias;
        if (j->flat) {
            if (!y_direct) cpu_store_run(cpu_elem_ptr(y, ybase + s0 * j->sy), y->dtype, j->sy, out, n);
        } else {
            for (int64_t k = 0; k < n; k++)
                cpu_store_f32(cpu_tensor_data(y), y->dtype, ybase + yoff[k], out[k]);
        }
    }
}

dio_status cpu_op_channel_rmsnorm(void *ctx, dio_stream *stream, const dio_op_call *call)
{
    cpu_backend *be = ctx;
    const dio_channel_norm_params *p;
    cnorm_job job;
    float *vec = NULL;
    int64_t numel, nblk, tasks;
    int nt;
    dio_status st;
    (void)stream;
    if (!be || !call) return DIO_ERR_INVALID_ARGUMENT;
    if ((st = cpu_check_channel_rmsnorm(be, call)) != DIO_OK) return st;
    job.x = call->inputs[0];
    job.y = call->outputs[0];
    numel = dio_tensor_numel(job.x);
    if (numel == 0) return DIO_OK;
    p = call->params;
    job.eps = CPU_PARAM_FITS(p, dio_channel_norm_params, eps) ? p->eps : 1e-12f;
    job.C = job.x->shape[1];
    job.S = numel / (job.x->shape[0] * job.C);
    job.sqrt_c = sqrt((double)job.C);
    job.flat = spatial_stride(job.x, &job.sx) && spatial_stride(job.y, &job.sy);
    vec = be->host->alloc_aligned((size_t)(2 * job.C) * sizeof(float), 64);
    if (!vec) {
        st = cpu_error(be, DIO_ERR_OUT_OF_HOST_MEMORY, "channel_rmsnorm: out of memory for %lld weights",
                       (long long)job.C);
        goto fail;
    }
    load_vector(vec, call->inputs[1], job.C, 1.0f);
    load_vector(vec + job.C, call->n_inputs > 2 ? call->inputs[2] : NULL, job.C, 0.0f);
    job.gamma = vec;
    job.bias = vec + job.C;
    nblk = (job.S + CPU_CNORM_BLOCK - 1) / CPU_CNORM_BLOCK;
    tasks = job.x->shape[0] * nblk;
    nt = cpu_threads_for(be, numel, CPU_GRAIN);
    if (nt > tasks) nt = (int)tasks;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int64_t lo, hi;
        cpu_split_range(tasks, omp_get_num_threads(), omp_get_thread_num(), &lo, &hi);
        for (int64_t t = lo; t < hi; t++) {
            int64_t s0 = (t % nblk) * CPU_CNORM_BLOCK;
            int64_t n = job.S - s0 < CPU_CNORM_BLOCK ? job.S - s0 : CPU_CNORM_BLOCK;
            cnorm_block(&job, t / nblk, s0, n);
        }
    }
fail:
    cpu_scratch_free(be, vec);
    return st;
}

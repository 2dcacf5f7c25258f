/* CPU backend — ADD and MUL (NumPy broadcasting of a and b to y's shape), AXPBY and CLAMP.
 *
 * Each op is one pass of the element-wise engine of cpu_strided.c: it checks the call, describes its
 * operands on y's shape (a broadcast dim is a stride of 0, so broadcasting costs nothing to set up) and
 * hands over an f32 kernel over dense chunks that the compiler vectorises. The engine converts
 * f16/bf16 at the chunk edges, uses f32 data in place, takes any strides and reads each chunk whole
 * before writing it, which makes an output that is exactly an input view safe (ops.h, in place).
 * The four ops accept y with more elements than a or b only through broadcasting; all operands of a
 * call share one dtype, as ops.h asks of activations. */
#include <math.h>

#include "cpu_strided.h"

/* ---- kernels ---- */

static void k_add(const void *ctx, int64_t n, const float *const *in, float *out)
{
    const float *a = in[0], *b = in[1];
    (void)ctx;
    for (int64_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

static void k_mul(const void *ctx, int64_t n, const float *const *in, float *out)
{
    const float *a = in[0], *b = in[1];
    (void)ctx;
    for (int64_t i = 0; i < n; i++) out[i] = a[i] * b[i];
}

typedef struct axpby_ctx {
    float alpha, beta;
} axpby_ctx;

static void k_axpby(const void *ctx, int64_t n, const float *const *in, float *out)
{
    const axpby_ctx *c = ctx;
    const float *x = in[0], *z = in[1];
    const float alpha = c->alpha, beta = c->beta;
    for (int64_t i = 0; i < n; i++) out[i] = alpha * x[i] + beta * z[i];
}

static void k_ax(const void *ctx, int64_t n, const float *const *in, float *out)
{
    const axpby_ctx *c = ctx;
    const float *x = in[0];
    const float alpha = c->alpha;
    for (int64_t i = 0; i < n; i++) out[i] = alpha * x[i];
}

typedef struct clamp_ctx {
    float lo, hi;
} clamp_ctx;

/* Comparisons with NaN are false, so a NaN x passes both selects unchanged. */
static void k_clamp(const void *ctx, int64_t n, const float *const *in, float *out)
{
    const clamp_ctx *c = ctx;
    const float *x = in[0];
    const float lo = c->lo, hi = c->hi;
    for (int64_t i = 0; i < n; i++) {
        float v = x[i] < lo ? lo : x[i];
        out[i] = v > hi ? hi : v;
    }
}

/* ---- checks ---- */

/* t broadcasts to y: at most y's dims, aligned at the end, each 1 or y's. */
static dio_status check_broadcast(const cpu_backend *be, const char *op, const char *what,
                                  const dio_tensor *t, const dio_tensor *y)
{
    char a[160], b[160];
    int bad = t->ndim > y->ndim;
    for (int i = 0; !bad && i < t->ndim; i++) {
        int64_t ye = y->shape[y->ndim - t->ndim + i];
        bad = t->shape[i] != 1 && t->shape[i] != ye;
    }
    if (bad)
        return cpu_error(be, DIO_ERR_INVALID_ARGUMENT,
                         "%s: %s of shape %s does not broadcast to y's shape %s", op, what,
                         cpu_shape_str(t, a, sizeof(a)), cpu_shape_str(y, b, sizeof(b)));
    return DIO_OK;
}

static dio_status check_binary(const cpu_backend *be, const dio_op_call *call)
{
    const char *op = dio_op_name(call->op);
    const dio_tensor *a, *b, *y;
    dio_status st;
    if ((st = cpu_check_call_arity(be, call, 2, 2, 2, 1)) != DIO_OK) return st;
    a = call->inputs[0];
    b = call->inputs[1];
    y = call->outputs[0];
    if ((st = cpu_check_float_act(be, op, "y", y)) != DIO_OK) return st;
    if ((st = cpu_check_dtype_as(be, op, "a", a, "y", y)) != DIO_OK) return st;
    if ((st = cpu_check_dtype_as(be, op, "b", b, "y", y)) != DIO_OK) return st;
    if ((st = cpu_check_numel(be, op, "y", y)) != DIO_OK) return st;
    if ((st = check_broadcast(be, op, "a", a, y)) != DIO_OK) return st;
    return check_broadcast(be, op, "b", b, y);
}

dio_status cpu_check_add(const cpu_backend *be, const dio_op_call *call)
{
    return check_binary(be, call);
}

dio_status cpu_check_mul(const cpu_backend *be, const dio_op_call *call)
{
    return check_binary(be, call);
}

dio_status cpu_check_axpby(const cpu_backend *be, const dio_op_call *call)
{
    const char *op = "axpby";
    const dio_tensor *x, *z, *y;
    dio_status st;
    if ((st = cpu_check_call_arity(be, call, 1, 2, 1, 1)) != DIO_OK) return st;
    x = call->inputs[0];
    z = call->n_inputs > 1 ? call->inputs[1] : NULL;
    y = call->outputs[0];
    if ((st = cpu_check_float_act(be, op, "x", x)) != DIO_OK) return st;
    if ((st = cpu_check_dtype_as(be, op, "y", y, "x", x)) != DIO_OK) return st;
    if ((st = cpu_check_shape_as(be, op, "y", y, "x", x)) != DIO_OK) return st;
    if ((st = cpu_check_numel(be, op, "y", y)) != DIO_OK) return st;
    if (z) {
        if ((st = cpu_check_dtype_as(be, op, "z", z, "x", x)) != DIO_OK) return st;
        if ((st = cpu_check_shape_as(be, op, "z", z, "x", x)) != DIO_OK) return st;
    }
    return DIO_OK;
}

dio_status cpu_check_clamp(const cpu_backend *be, const dio_op_call *call)
{
    const char *op = "clamp";
    const dio_tensor *x, *y;
    dio_status st;
    if ((st = cpu_check_call_arity(be, call, 1, 1, 1, 1)) != DIO_OK) return st;
    x = call->inputs[0];
    y = call->outputs[0];
    if ((st = cpu_check_float_act(be, op, "x", x)) != DIO_OK) return st;
    if ((st = cpu_check_dtype_as(be, op, "y", y, "x", x)) != DIO_OK) return st;
    if ((st = cpu_check_shape_as(be, op, "y", y, "x", x)) != DIO_OK) return st;
    return cpu_check_numel(be, op, "y", y);
}

/* ---- ops ---- */

static dio_status run_binary(cpu_backend *be, const dio_op_call *call, cpu_ew_fn fn)
{
    const dio_tensor *y = call->outputs[0];
    cpu_ew_operand in[2], out;
    cpu_ew_operand_init(&in[0], call->inputs[0], y->ndim);
    cpu_ew_operand_init(&in[1], call->inputs[1], y->ndim);
    cpu_ew_operand_init(&out, y, y->ndim);
    cpu_ew_run(be, y->ndim, y->shape, 2, in, &out, fn, NULL);
    return DIO_OK;
}

dio_status cpu_op_add(void *ctx, dio_stream *stream, const dio_op_call *call)
{
    cpu_backend *be = ctx;
    dio_status st;
    (void)stream;
    if (!be || !call) return DIO_ERR_INVALID_ARGUMENT;
    if ((st = cpu_check_add(be, call)) != DIO_OK) return st;
    return run_binary(be, call, k_add);
}

dio_status cpu_op_mul(void *ctx, dio_stream *stream, const dio_op_call *call)
{
    cpu_backend *be = ctx;
    dio_status st;
    (void)stream;
    if (!be || !call) return DIO_ERR_INVALID_ARGUMENT;
    if ((st = cpu_check_mul(be, call)) != DIO_OK) return st;
    return run_binary(be, call, k_mul);
}

dio_status cpu_op_axpby(void *ctx, dio_stream *stream, const dio_op_call *call)
{
    cpu_backend *be = ctx;
    const dio_axpby_params *p;
    const dio_tensor *y, *z;
    cpu_ew_operand in[2], out;
    axpby_ctx k = {1.0f, 0.0f};
    dio_status st;
    (void)stream;
    if (!be || !call) return DIO_ERR_INVALID_ARGUMENT;
    if ((st = cpu_check_axpby(be, call)) != DIO_OK) return st;
    p = call->params;
    if (CPU_PARAM_FITS(p, dio_axpby_params, alpha)) k.alpha = p->alpha;
    if (CPU_PARAM_FITS(p, dio_axpby_params, beta)) k.beta = p->beta;
    y = call->outputs[0];
    z = call->n_inputs > 1 ? call->inputs[1] : NULL;
    cpu_ew_operand_init(&in[0], call->inputs[0], y->ndim);
    if (z) cpu_ew_operand_init(&in[1], z, y->ndim);
    cpu_ew_operand_init(&out, y, y->ndim);
    cpu_ew_run(be, y->ndim, y->shape, z ? 2 : 1, in, &out, z ? k_axpby : k_ax, &k);
    return DIO_OK;
}

dio_status cpu_op_clamp(void *ctx, dio_stream *stream, const dio_op_call *call)
{
    cpu_backend *be = ctx;
    const dio_clamp_params *p;
    const dio_tensor *y;
    cpu_ew_operand in, out;
    clamp_ctx k = {-INFINITY, INFINITY};
    dio_status st;
    (void)stream;
    if (!be || !call) return DIO_ERR_INVALID_ARGUMENT;
    if ((st = cpu_check_clamp(be, call)) != DIO_OK) return st;
    p = call->params;
    if (CPU_PARAM_FITS(p, dio_clamp_params, lo)) k.lo = p->lo;
    if (CPU_PARAM_FITS(p, dio_clamp_params, hi)) k.hi = p->hi;
    y = call->outputs[0];
    cpu_ew_operand_init(&in, call->inputs[0], y->ndim);
    cpu_ew_operand_init(&out, y, y->ndim);
    cpu_ew_run(be, y->ndim, y->shape, 1, &in, &out, k_clamp, &k);
    return DIO_OK;
}

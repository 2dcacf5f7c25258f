/* conformance — the float64 reference of every op in abi/diorama/ops.h (see ref_ops.h).
 *
 * Each function is the paragraph of ops.h turned into nested loops over double values, in the order
 * the paragraphs appear there. No function calls a backend or shares code with one; reductions are
 * plain double sums (two-pass where the text says "mean" and "variance"), softmax subtracts the row
 * maximum only to stay finite in double, which does not change the value. */
#include "ref_ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "diorama/ops.h"

/* ---- dtype codecs ---- */

typedef struct ref_fmt {
    int ebits, mbits, bias;
    int has_inf;  /* e4m3fn has none: exponent all-ones is still a number except mantissa all-ones */
    double maxv;  /* largest finite value */
    uint32_t nan; /* the NaN we write */
} ref_fmt;

static const ref_fmt fmt_f16 = {5, 10, 15, 1, 65504.0, 0x7e00u};
static const ref_fmt fmt_bf16 = {8, 7, 127, 1, 3.38953138925153547590e38, 0x7fc0u};
static const ref_fmt fmt_e4m3 = {4, 3, 7, 0, 448.0, 0x7fu};
static const ref_fmt fmt_e5m2 = {5, 2, 15, 1, 57344.0, 0x7fu};

static uint32_t fmt_encode(double v, const ref_fmt *f, int saturate)
{
    uint32_t sign = signbit(v) ? 1u << (f->ebits + f->mbits) : 0u;
    uint32_t all_ones = (1u << f->ebits) - 1u;
    int emin = 1 - f->bias, e;
    double a = fabs(v), q, r;
    if (isnan(v)) return f->nan;
    if (isinf(a)) {
        if (f->has_inf && !saturate) return sign | (all_ones << f->mbits);
        a = f->maxv; /* saturating: infinity becomes the largest finite value */
    }
    if (a == 0.0) return sign;
    frexp(a, &e); /* a = m · 2^e, m in [0.5, 1): the binade exponent is e - 1 */
    e = e - 1 < emin ? emin : e - 1;
    q = ldexp(1.0, e - f->mbits); /* the spacing of representable values in this binade */
    r = rint(a / q) * q;          /* rint rounds half to even in the default rounding mode */
    if (r > f->maxv) {
        if (f->has_inf && !saturate) return sign | (all_ones << f->mbits);
        r = f->maxv;
    }
    if (r < ldexp(1.0, emin)) /* subnormal (or rounded to zero) */
        return sign | (uint32_t)(r / ldexp(1.0, emin - f->mbits));
    frexp(r, &e);
    e -= 1;
    return sign | ((uint32_t)(e + f->bias) << f->mbits) |
           (uint32_t)((r / ldexp(1.0, e) - 1.0) * ldexp(1.0, f->mbits));
}

static double fmt_decode(uint32_t bits, const ref_fmt *f)
{
    uint32_t all_ones = (1u << f->ebits) - 1u;
    uint32_t ex = (bits >> f->mbits) & all_ones;
    uint32_t man = bits & ((1u << f->mbits) - 1u);
    double s = (bits >> (f->ebits + f->mbits)) & 1u ? -1.0 : 1.0;
    if (f->has_inf && ex == all_ones) return man ? NAN : s * INFINITY;
    if (!f->has_inf && ex == all_ones && man == (1u << f->mbits) - 1u) return NAN;
    if (ex == 0) return s * (double)man * ldexp(1.0, 1 - f->bias - f->mbits);
    return s * (1.0 + (double)man / ldexp(1.0, f->mbits)) * ldexp(1.0, (int)ex - f->bias);
}

void ref_encode(double v, int32_t dtype, void *dst)
{
    switch (dtype) {
    case DIO_DTYPE_F32: {
        float f = (float)v;
        memcpy(dst, &f, 4);
        break;
    }
    case DIO_DTYPE_F16: {
        uint16_t h = (uint16_t)fmt_encode(v, &fmt_f16, 0);
        memcpy(dst, &h, 2);
        break;
    }
    case DIO_DTYPE_BF16: {
        uint16_t h = (uint16_t)fmt_encode(v, &fmt_bf16, 0);
        memcpy(dst, &h, 2);
        break;
    }
    case DIO_DTYPE_F8E4M3: *(uint8_t *)dst = (uint8_t)fmt_encode(v, &fmt_e4m3, 1); break;
    case DIO_DTYPE_F8E5M2: *(uint8_t *)dst = (uint8_t)fmt_encode(v, &fmt_e5m2, 1); break;
    case DIO_DTYPE_I32: {
        int32_t i = isnan(v)             ? 0
                    : v >= 2147483647.0  ? INT32_MAX
                    : v <= -2147483648.0 ? INT32_MIN
                                         : (int32_t)v;
        memcpy(dst, &i, 4);
        break;
    }
    case DIO_DTYPE_I64: {
        int64_t i = isnan(v) ? 0 : v >= 9.2e18 ? INT64_MAX : v <= -9.2e18 ? INT64_MIN : (int64_t)v;
        memcpy(dst, &i, 8);
        break;
    }
    case DIO_DTYPE_U8: *(uint8_t *)dst = isnan(v) || v <= 0.0 ? 0 : v >= 255.0 ? 255 : (uint8_t)v; break;
    default: break;
    }
}

double ref_decode(const void *src, int32_t dtype)
{
    switch (dtype) {
    case DIO_DTYPE_F32: {
        float f;
        memcpy(&f, src, 4);
        return f;
    }
    case DIO_DTYPE_F16: {
        uint16_t h;
        memcpy(&h, src, 2);
        return fmt_decode(h, &fmt_f16);
    }
    case DIO_DTYPE_BF16: {
        uint16_t h;
        memcpy(&h, src, 2);
        return fmt_decode(h, &fmt_bf16);
    }
    case DIO_DTYPE_F8E4M3: return fmt_decode(*(const uint8_t *)src, &fmt_e4m3);
    case DIO_DTYPE_F8E5M2: return fmt_decode(*(const uint8_t *)src, &fmt_e5m2);
    case DIO_DTYPE_I32: {
        int32_t i;
        memcpy(&i, src, 4);
        return i;
    }
    case DIO_DTYPE_I64: {
        int64_t i;
        memcpy(&i, src, 8);
        return (double)i;
    }
    case DIO_DTYPE_U8: return *(const uint8_t *)src;
    default: return NAN;
    }
}

double ref_round(double v, int32_t dtype)
{
    uint8_t b[8];
    ref_encode(v, dtype, b);
    return ref_decode(b, dtype);
}

double ref_dtype_max(int32_t dtype)
{
    switch (dtype) {
    case DIO_DTYPE_F32: return 3.40282346638528859812e38;
    case DIO_DTYPE_F16: return fmt_f16.maxv;
    case DIO_DTYPE_BF16: return fmt_bf16.maxv;
    case DIO_DTYPE_F8E4M3: return fmt_e4m3.maxv;
    case DIO_DTYPE_F8E5M2: return fmt_e5m2.maxv;
    case DIO_DTYPE_I32: return 2147483647.0;
    case DIO_DTYPE_I64: return 9.2e18;
    case DIO_DTYPE_U8: return 255.0;
    default: return 0.0;
    }
}

/* ---- helpers ---- */

int64_t ref_numel(const ref_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

int64_t ref_offset(const ref_tensor *t, const int64_t *idx)
{
    int64_t o = 0;
    for (int i = 0; i < t->ndim; i++) o += idx[i] * t->stride[i];
    return o;
}

int ref_next_index(int64_t *idx, const int64_t *shape, int ndim)
{
    for (int i = ndim - 1; i >= 0; i--) {
        if (++idx[i] < shape[i]) return 1;
        idx[i] = 0;
    }
    return 0;
}

int64_t ref_conv_out_len(int64_t n_padded, int64_t k, int64_t stride, int64_t dilation)
{
    return (n_padded - dilation * (k - 1) - 1) / stride + 1;
}

#define EL(t, off) ((t)->data[(off)])

/* Element i of a 1-D tensor (weights, biases). */
static double v1(const ref_tensor *t, int64_t i)
{
    return t->data[i * t->stride[0]];
}

/* ---- MATMUL ---- */

void ref_matmul(const ref_tensor *a, const ref_tensor *b, const ref_tensor *bias, ref_tensor *c, int trans_a,
                int trans_b, double alpha, double beta)
{
    int na = a->ndim, nb = b->ndim, nbatch = na - 2;
    int64_t M = trans_a ? a->shape[na - 1] : a->shape[na - 2];
    int64_t K = trans_a ? a->shape[na - 2] : a->shape[na - 1];
    int64_t N = trans_b ? b->shape[nb - 2] : b->shape[nb - 1];
    int64_t bidx[REF_MAX_DIMS] = {0};
    do {
        int64_t ao = 0, bo = 0, co = 0;
        for (int d = 0; d < nbatch; d++) {
            ao += bidx[d] * a->stride[d];
            co += bidx[d] * c->stride[d];
            if (nb > 2) bo += bidx[d] * b->stride[d]; /* batched B: same leading dims as A */
        }
        for (int64_t i = 0; i < M; i++) {
            for (int64_t j = 0; j < N; j++) {
                double s = 0.0, r;
                for (int64_t k = 0; k < K; k++) {
                    double av = trans_a ? EL(a, ao + k * a->stride[na - 2] + i * a->stride[na - 1])
                                        : EL(a, ao + i * a->stride[na - 2] + k * a->stride[na - 1]);
                    double bv = trans_b ? EL(b, bo + j * b->stride[nb - 2] + k * b->stride[nb - 1])
                                        : EL(b, bo + k * b->stride[nb - 2] + j * b->stride[nb - 1]);
                    s += av * bv;
                }
                r = alpha * s;
                if (bias) r += v1(bias, j);
                {
                    int64_t cij = co + i * c->stride[na - 2] + j * c->stride[na - 1];
                    if (beta != 0.0) r += beta * EL(c, cij); /* beta == 0: old C ignored, even NaN */
                    EL(c, cij) = r;
                }
            }
        }
    } while (ref_next_index(bidx, a->shape, nbatch));
}

/* ---- ATTENTION ---- */

void ref_attention(const ref_tensor *q, const ref_tensor *k, const ref_tensor *v, const ref_tensor *mask,
                   ref_tensor *o, double scale, int causal)
{
    int64_t B = q->shape[0], Hq = q->shape[1], Lq = q->shape[2], D = q->shape[3];
    int64_t Hkv = k->shape[1], Lk = k->shape[2], Dv = v->shape[3];
    int64_t group = Hq / Hkv;
    double *s = malloc((size_t)Lk * sizeof(double));
    int *seen = malloc((size_t)Lk * sizeof(int));
    if (!s || !seen) { /* cannot happen for test sizes; leave NaN so the comparison fails loudly */
        int64_t idx[REF_MAX_DIMS] = {0};
        do EL(o, ref_offset(o, idx)) = NAN;
        while (ref_next_index(idx, o->shape, o->ndim));
        free(s);
        free(seen);
        return;
    }
    if (scale == 0.0) scale = 1.0 / sqrt((double)D);
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < Hq; h++) {
            int64_t hk = h / group;
            for (int64_t i = 0; i < Lq; i++) {
                double m = -INFINITY, den = 0.0;
                int any = 0;
                for (int64_t j = 0; j < Lk; j++) {
                    double dot = 0.0, add = 0.0;
                    seen[j] = !causal || j <= i + (Lk - Lq);
                    if (mask) {
                        if (mask->ndim == 2)
                            add = EL(mask, i * mask->stride[0] + j * mask->stride[1]);
                        else
                            add = EL(mask, b * mask->stride[0] +
                                               (mask->shape[1] == 1 ? 0 : h) * mask->stride[1] +
                                               i * mask->stride[2] + j * mask->stride[3]);
                        if (add == -INFINITY) seen[j] = 0;
                    }
                    if (!seen[j]) continue;
                    for (int64_t d = 0; d < D; d++)
                        dot +=
                            EL(q, b * q->stride[0] + h * q->stride[1] + i * q->stride[2] + d * q->stride[3]) *
                            EL(k, b * k->stride[0] + hk * k->stride[1] + j * k->stride[2] + d * k->stride[3]);
                    s[j] = scale * dot + add;
                    if (s[j] > m) m = s[j];
                    any = 1;
                }
                for (int64_t j = 0; j < Lk; j++)
                    if (seen[j]) {
                        s[j] = exp(s[j] - m);
                        den += s[j];
                    }
                for (int64_t dv = 0; dv < Dv; dv++) {
                    double acc = 0.0;
                    if (any)
                        for (int64_t j = 0; j < Lk; j++)
                            if (seen[j])
                                acc += s[j] * EL(v, b * v->stride[0] + hk * v->stride[1] + j * v->stride[2] +
                                                        dv * v->stride[3]);
                    /* A query row that sees no key gives zeros. */
                    EL(o, b * o->stride[0] + h * o->stride[1] + i * o->stride[2] + dv * o->stride[3]) =
                        any ? acc / den : 0.0;
                }
            }
        }
    free(s);
    free(seen);
}

/* ---- LAYERNORM / RMSNORM ---- */

void ref_layernorm(const ref_tensor *x, const ref_tensor *w, const ref_tensor *b, ref_tensor *y, double eps)
{
    int nd = x->ndim - 1;
    int64_t C = x->shape[nd], idx[REF_MAX_DIMS] = {0};
    do {
        int64_t xo = ref_offset(x, idx), yo = ref_offset(y, idx);
        double mean = 0.0, var = 0.0, inv;
        for (int64_t c = 0; c < C; c++) mean += EL(x, xo + c * x->stride[nd]);
        mean /= (double)C;
        for (int64_t c = 0; c < C; c++) {
            double d = EL(x, xo + c * x->stride[nd]) - mean;
            var += d * d;
        }
        var /= (double)C; /* biased */
        inv = 1.0 / sqrt(var + eps);
        for (int64_t c = 0; c < C; c++) {
            double r = (EL(x, xo + c * x->stride[nd]) - mean) * inv;
            if (w) r *= v1(w, c);
            if (b) r += v1(b, c);
            EL(y, yo + c * y->stride[nd]) = r;
        }
    } while (ref_next_index(idx, x->shape, nd));
}

void ref_rmsnorm(const ref_tensor *x, const ref_tensor *w, ref_tensor *y, double eps)
{
    int nd = x->ndim - 1;
    int64_t C = x->shape[nd], idx[REF_MAX_DIMS] = {0};
    do {
        int64_t xo = ref_offset(x, idx), yo = ref_offset(y, idx);
        double ms = 0.0, inv;
        for (int64_t c = 0; c < C; c++) {
            double xv = EL(x, xo + c * x->stride[nd]);
            ms += xv * xv;
        }
        inv = 1.0 / sqrt(ms / (double)C + eps);
        for (int64_t c = 0; c < C; c++) {
            double r = EL(x, xo + c * x->stride[nd]) * inv;
            if (w) r *= v1(w, c);
            EL(y, yo + c * y->stride[nd]) = r;
        }
    } while (ref_next_index(idx, x->shape, nd));
}

/* ---- ADALN_MODULATE / GATED_RESIDUAL (groups broadcasting: token l uses row l / (L / G)) ---- */

void ref_adaln_modulate(const ref_tensor *x, const ref_tensor *shift, const ref_tensor *scale, ref_tensor *y,
                        double eps, int rms)
{
    int64_t B = x->shape[0], L = x->shape[1], C = x->shape[2], G = shift->shape[1];
    for (int64_t b = 0; b < B; b++)
        for (int64_t l = 0; l < L; l++) {
            int64_t g = l / (L / G);
            int64_t xo = b * x->stride[0] + l * x->stride[1];
            double mean = 0.0, var = 0.0, inv;
            if (!rms) {
                for (int64_t c = 0; c < C; c++) mean += EL(x, xo + c * x->stride[2]);
                mean /= (double)C;
            }
            for (int64_t c = 0; c < C; c++) {
                double d = EL(x, xo + c * x->stride[2]) - mean;
                var += d * d;
            }
            var /= (double)C; /* layernorm: biased variance; rms: mean of squares (mean = 0) */
            inv = 1.0 / sqrt(var + eps);
            for (int64_t c = 0; c < C; c++) {
                double n = (EL(x, xo + c * x->stride[2]) - mean) * inv;
                double sc = EL(scale, b * scale->stride[0] + g * scale->stride[1] + c * scale->stride[2]);
                double sh = EL(shift, b * shift->stride[0] + g * shift->stride[1] + c * shift->stride[2]);
                EL(y, b * y->stride[0] + l * y->stride[1] + c * y->stride[2]) = n * (1.0 + sc) + sh;
            }
        }
}

void ref_gated_residual(const ref_tensor *x, const ref_tensor *r, const ref_tensor *gate, ref_tensor *y)
{
    int64_t B = x->shape[0], L = x->shape[1], C = x->shape[2], G = gate->shape[1];
    for (int64_t b = 0; b < B; b++)
        for (int64_t l = 0; l < L; l++) {
            int64_t g = l / (L / G);
            for (int64_t c = 0; c < C; c++)
                EL(y, b * y->stride[0] + l * y->stride[1] + c * y->stride[2]) =
                    EL(x, b * x->stride[0] + l * x->stride[1] + c * x->stride[2]) +
                    EL(gate, b * gate->stride[0] + g * gate->stride[1] + c * gate->stride[2]) *
                        EL(r, b * r->stride[0] + l * r->stride[1] + c * r->stride[2]);
        }
}

/* ---- ROPE ---- */

void ref_rope(const ref_tensor *x, const ref_tensor *cos_t, const ref_tensor *sin_t, ref_tensor *y, int mode)
{
    int64_t B = x->shape[0], L = x->shape[1], H = x->shape[2], D = x->shape[3], R = cos_t->shape[1];
    for (int64_t b = 0; b < B; b++)
        for (int64_t l = 0; l < L; l++)
            for (int64_t h = 0; h < H; h++) {
                int64_t xo = b * x->stride[0] + l * x->stride[1] + h * x->stride[2];
                int64_t yo = b * y->stride[0] + l * y->stride[1] + h * y->stride[2];
#define X(i) EL(x, xo + (i)*x->stride[3])
#define Y(i) EL(y, yo + (i)*y->stride[3])
#define COS(i) EL(cos_t, l * cos_t->stride[0] + (i)*cos_t->stride[1])
#define SIN(i) EL(sin_t, l * sin_t->stride[0] + (i)*sin_t->stride[1])
                if (mode == DIO_ROPE_INTERLEAVED) {
                    for (int64_t j = 0; j < R / 2; j++) {
                        Y(2 * j) = X(2 * j) * COS(2 * j) - X(2 * j + 1) * SIN(2 * j);
                        Y(2 * j + 1) = X(2 * j + 1) * COS(2 * j + 1) + X(2 * j) * SIN(2 * j + 1);
                    }
                } else {
                    int64_t hr = R / 2;
                    for (int64_t i = 0; i < hr; i++) {
                        Y(i) = X(i) * COS(i) - X(i + hr) * SIN(i);
                        Y(i + hr) = X(i + hr) * COS(i + hr) + X(i) * SIN(i + hr);
                    }
                }
                for (int64_t i = R; i < D; i++) Y(i) = X(i); /* dims R..D-1 pass through */
#undef X
#undef Y
#undef COS
#undef SIN
            }
}

/* ---- GELU / SILU / SWIGLU (element-wise: any strides) ---- */

static double gelu1(double x, int approximate_tanh)
{
    if (approximate_tanh)
        return 0.5 * x * (1.0 + tanh(sqrt(2.0 / 3.14159265358979323846) * (x + 0.044715 * x * x * x)));
    return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
}

void ref_gelu(const ref_tensor *x, ref_tensor *y, int approximate_tanh)
{
    int64_t idx[REF_MAX_DIMS] = {0};
    do EL(y, ref_offset(y, idx)) = gelu1(EL(x, ref_offset(x, idx)), approximate_tanh);
    while (ref_next_index(idx, x->shape, x->ndim));
}

static double silu1(double x)
{
    return x / (1.0 + exp(-x));
}

void ref_silu(const ref_tensor *x, ref_tensor *y)
{
    int64_t idx[REF_MAX_DIMS] = {0};
    do EL(y, ref_offset(y, idx)) = silu1(EL(x, ref_offset(x, idx)));
    while (ref_next_index(idx, x->shape, x->ndim));
}

void ref_swiglu(const ref_tensor *gate, const ref_tensor *up, ref_tensor *y)
{
    int64_t idx[REF_MAX_DIMS] = {0};
    do EL(y, ref_offset(y, idx)) = silu1(EL(gate, ref_offset(gate, idx))) * EL(up, ref_offset(up, idx));
    while (ref_next_index(idx, gate->shape, gate->ndim));
}

/* ---- CONV3D / CONV2D ---- */

/* A 2-D tensor [B, C, H, W] seen as [B, C, 1, H, W]. */
static ref_tensor as_3d(const ref_tensor *t)
{
    ref_tensor r = *t;
    r.ndim = 5;
    r.shape[0] = t->shape[0];
    r.shape[1] = t->shape[1];
    r.shape[2] = 1;
    r.shape[3] = t->shape[2];
    r.shape[4] = t->shape[3];
    r.stride[0] = t->stride[0];
    r.stride[1] = t->stride[1];
    r.stride[2] = 0;
    r.stride[3] = t->stride[2];
    r.stride[4] = t->stride[3];
    return r;
}

void ref_conv(int n_spatial, const ref_tensor *x_in, const ref_tensor *w_in, const ref_tensor *bias,
              const ref_tensor *cache, ref_tensor *y_in, const int stride_in[3], const int pad_front_in[3],
              const int pad_back_in[3], const int dilation_in[3], int groups)
{
    ref_tensor x = *x_in, w = *w_in, y = *y_in;
    int st[3], pf[3], pb[3], dl[3];
    int64_t c = 0, pf_t, T, H, W, To, Ho, Wo, B, Cin, Cout, cin_g, cout_g, kt, kh, kw;
    if (n_spatial == 2) {
        /* CONV2D uses entries 0 (H) and 1 (W): map them onto the H and W of a 3-D conv with T = 1. */
        x = as_3d(x_in);
        w = as_3d(w_in);
        y = as_3d(y_in);
        st[0] = 1, pf[0] = 0, pb[0] = 0, dl[0] = 1;
        for (int d = 0; d < 2; d++) {
            st[d + 1] = stride_in[d];
            pf[d + 1] = pad_front_in[d];
            pb[d + 1] = pad_back_in[d];
            dl[d + 1] = dilation_in[d];
        }
        cache = NULL;
    } else {
        for (int d = 0; d < 3; d++) {
            st[d] = stride_in[d];
            pf[d] = pad_front_in[d];
            pb[d] = pad_back_in[d];
            dl[d] = dilation_in[d];
        }
    }
    B = x.shape[0], Cin = x.shape[1], T = x.shape[2], H = x.shape[3], W = x.shape[4];
    Cout = w.shape[0], kt = w.shape[2], kh = w.shape[3], kw = w.shape[4];
    To = y.shape[2], Ho = y.shape[3], Wo = y.shape[4];
    cin_g = Cin / groups;
    cout_g = Cout / groups;
    if (cache) c = cache->shape[2];
    /* The time axis is [front zeros, cache, x, back zeros]; the front pad shrinks by the cache. */
    pf_t = pf[0] - c > 0 ? pf[0] - c : 0;
    for (int64_t b = 0; b < B; b++)
        for (int64_t co = 0; co < Cout; co++) {
            int64_t g = co / cout_g;
            for (int64_t to = 0; to < To; to++)
                for (int64_t ho = 0; ho < Ho; ho++)
                    for (int64_t wo = 0; wo < Wo; wo++) {
                        double s = bias ? v1(bias, co) : 0.0;
                        for (int64_t ci = 0; ci < cin_g; ci++) {
                            int64_t cx = g * cin_g + ci;
                            for (int64_t a = 0; a < kt; a++) {
                                int64_t tp = to * st[0] + a * dl[0]; /* index on the padded time axis */
                                const ref_tensor *src;
                                int64_t tsrc;
                                if (tp < pf_t) continue;
                                tp -= pf_t;
                                if (tp < c) {
                                    src = cache;
                                    tsrc = tp;
                                } else if (tp - c < T) {
                                    src = &x;
                                    tsrc = tp - c;
                                } else {
                                    continue; /* back pad */
                                }
                                for (int64_t m = 0; m < kh; m++) {
                                    int64_t hi = ho * st[1] + m * dl[1] - pf[1];
                                    if (hi < 0 || hi >= H) continue;
                                    for (int64_t n = 0; n < kw; n++) {
                                        int64_t wi = wo * st[2] + n * dl[2] - pf[2];
                                        if (wi < 0 || wi >= W) continue;
                                        s += EL(src, b * src->stride[0] + cx * src->stride[1] +
                                                         tsrc * src->stride[2] + hi * src->stride[3] +
                                                         wi * src->stride[4]) *
                                             EL(&w, co * w.stride[0] + ci * w.stride[1] + a * w.stride[2] +
                                                        m * w.stride[3] + n * w.stride[4]);
                                    }
                                }
                            }
                        }
                        EL(&y, b * y.stride[0] + co * y.stride[1] + to * y.stride[2] + ho * y.stride[3] +
                                   wo * y.stride[4]) = s;
                    }
        }
    (void)pb; /* the back pads only set the output extent, which the caller chose */
}

/* ---- CHANNEL_RMSNORM ---- */

void ref_channel_rmsnorm(const ref_tensor *x, const ref_tensor *gamma, const ref_tensor *bias, ref_tensor *y,
                         double eps)
{
    int64_t B = x->shape[0], C = x->shape[1];
    /* Iterate the spatial positions: dims 2.. of x. */
    int ns = x->ndim - 2;
    int64_t sp[REF_MAX_DIMS] = {0};
    for (int64_t b = 0; b < B; b++) do {
            int64_t xo = b * x->stride[0], yo = b * y->stride[0];
            double n2 = 0.0, d;
            for (int i = 0; i < ns; i++) {
                xo += sp[i] * x->stride[2 + i];
                yo += sp[i] * y->stride[2 + i];
            }
            for (int64_t c = 0; c < C; c++) {
                double v = EL(x, xo + c * x->stride[1]);
                n2 += v * v;
            }
            d = sqrt(n2);
            if (d < eps) d = eps; /* F.normalize: x / max(‖x‖, eps) */
            for (int64_t c = 0; c < C; c++) {
                double r = EL(x, xo + c * x->stride[1]) / d * sqrt((double)C) * v1(gamma, c);
                if (bias) r += v1(bias, c);
                EL(y, yo + c * y->stride[1]) = r;
            }
        } while (ref_next_index(sp, x->shape + 2, ns));
}

/* ---- UPSAMPLE_NEAREST ---- */

void ref_upsample_nearest(const ref_tensor *x, ref_tensor *y)
{
    int64_t idx[REF_MAX_DIMS] = {0}, src[REF_MAX_DIMS];
    do {
        for (int i = 0; i < y->ndim; i++) src[i] = idx[i] / (y->shape[i] / x->shape[i]);
        EL(y, ref_offset(y, idx)) = EL(x, ref_offset(x, src));
    } while (ref_next_index(idx, y->shape, y->ndim));
}

/* ---- SOFTMAX ---- */

void ref_softmax(const ref_tensor *x, ref_tensor *y, double scale)
{
    int nd = x->ndim - 1;
    int64_t N = x->shape[nd], idx[REF_MAX_DIMS] = {0};
    do {
        int64_t xo = ref_offset(x, idx), yo = ref_offset(y, idx);
        double m = -INFINITY, den = 0.0;
        for (int64_t j = 0; j < N; j++) {
            double v = scale * EL(x, xo + j * x->stride[nd]);
            if (v > m) m = v;
        }
        for (int64_t j = 0; j < N; j++) den += exp(scale * EL(x, xo + j * x->stride[nd]) - m);
        for (int64_t j = 0; j < N; j++)
            EL(y, yo + j * y->stride[nd]) = exp(scale * EL(x, xo + j * x->stride[nd]) - m) / den;
    } while (ref_next_index(idx, x->shape, nd));
}

/* ---- ADD / MUL (NumPy broadcasting to y's shape) / AXPBY / CLAMP ---- */

/* Offset in t of the y multi-index under broadcasting: dims aligned at the end, size-1 dims repeat. */
static int64_t bcast_offset(const ref_tensor *t, const int64_t *yidx, int yndim)
{
    int64_t o = 0;
    for (int i = 0; i < t->ndim; i++) {
        int yi = yndim - t->ndim + i;
        if (t->shape[i] != 1) o += yidx[yi] * t->stride[i];
    }
    return o;
}

static void binary(const ref_tensor *a, const ref_tensor *b, ref_tensor *y, int mul)
{
    int64_t idx[REF_MAX_DIMS] = {0};
    do {
        double av = EL(a, bcast_offset(a, idx, y->ndim)), bv = EL(b, bcast_offset(b, idx, y->ndim));
        EL(y, ref_offset(y, idx)) = mul ? av * bv : av + bv;
    } while (ref_next_index(idx, y->shape, y->ndim));
}

void ref_add(const ref_tensor *a, const ref_tensor *b, ref_tensor *y)
{
    binary(a, b, y, 0);
}

void ref_mul(const ref_tensor *a, const ref_tensor *b, ref_tensor *y)
{
    binary(a, b, y, 1);
}

void ref_axpby(const ref_tensor *x, const ref_tensor *z, ref_tensor *y, double alpha, double beta)
{
    int64_t idx[REF_MAX_DIMS] = {0};
    do {
        double r = alpha * EL(x, ref_offset(x, idx));
        if (z) r += beta * EL(z, ref_offset(z, idx));
        EL(y, ref_offset(y, idx)) = r;
    } while (ref_next_index(idx, y->shape, y->ndim));
}

void ref_clamp(const ref_tensor *x, ref_tensor *y, double lo, double hi)
{
    int64_t idx[REF_MAX_DIMS] = {0};
    do {
        double v = EL(x, ref_offset(x, idx));
        if (!isnan(v)) { /* NaN stays NaN */
            if (v < lo) v = lo;
            if (v > hi) v = hi;
        }
        EL(y, ref_offset(y, idx)) = v;
    } while (ref_next_index(idx, y->shape, y->ndim));
}

/* ---- GATHER / COPY ---- */

int64_t ref_gather(const ref_tensor *table, const ref_tensor *ids, ref_tensor *y)
{
    int64_t V = table->shape[0], C = table->shape[1], N = ids->shape[0];
    for (int64_t n = 0; n < N; n++) {
        double id = v1(ids, n);
        if (!(id >= 0 && id < (double)V)) return n;
    }
    for (int64_t n = 0; n < N; n++) {
        int64_t id = (int64_t)v1(ids, n);
        for (int64_t c = 0; c < C; c++)
            EL(y, n * y->stride[0] + c * y->stride[1]) =
                EL(table, id * table->stride[0] + c * table->stride[1]);
    }
    return -1;
}

void ref_copy(const ref_tensor *x, ref_tensor *y, int32_t y_dtype)
{
    int64_t idx[REF_MAX_DIMS] = {0};
    do EL(y, ref_offset(y, idx)) = ref_round(EL(x, ref_offset(x, idx)), y_dtype);
    while (ref_next_index(idx, y->shape, y->ndim));
}

/* ---- CONCAT / SLICE / PERMUTE ---- */

void ref_concat(const ref_tensor *const *xs, int n, int axis, ref_tensor *y)
{
    int64_t base = 0;
    if (axis < 0) axis += y->ndim;
    for (int i = 0; i < n; i++) {
        const ref_tensor *x = xs[i];
        int64_t idx[REF_MAX_DIMS] = {0}, yidx[REF_MAX_DIMS];
        do {
            memcpy(yidx, idx, sizeof(idx));
            yidx[axis] += base;
            EL(y, ref_offset(y, yidx)) = EL(x, ref_offset(x, idx));
        } while (ref_next_index(idx, x->shape, x->ndim));
        base += x->shape[axis];
    }
}

void ref_slice(const ref_tensor *x, const int64_t *start, const int64_t *step, ref_tensor *y)
{
    int64_t idx[REF_MAX_DIMS] = {0}, src[REF_MAX_DIMS];
    do {
        for (int i = 0; i < y->ndim; i++) src[i] = start[i] + idx[i] * step[i];
        EL(y, ref_offset(y, idx)) = EL(x, ref_offset(x, src));
    } while (ref_next_index(idx, y->shape, y->ndim));
}

void ref_permute(const ref_tensor *x, const int32_t *perm, ref_tensor *y)
{
    int64_t idx[REF_MAX_DIMS] = {0}, src[REF_MAX_DIMS];
    do {
        /* y.shape[i] = x.shape[perm[i]]: y index i walks x dim perm[i]. */
        for (int i = 0; i < y->ndim; i++) src[perm[i]] = idx[i];
        EL(y, ref_offset(y, idx)) = EL(x, ref_offset(x, src));
    } while (ref_next_index(idx, y->shape, y->ndim));
}

/* ---- PATCHIFY / UNPATCHIFY ---- */

/* Calls back for every (x [B,C,T,H,W] offset, token-tensor [B,T',H',W',F] offset) pair. */
static void patch_walk(const ref_tensor *vid, const ref_tensor *tok, const int patch[3], int order,
                       int to_tokens, ref_tensor *dst)
{
    int64_t B = vid->shape[0], C = vid->shape[1], T = vid->shape[2], H = vid->shape[3], W = vid->shape[4];
    int64_t pt = patch[0], ph = patch[1], pw = patch[2];
    for (int64_t b = 0; b < B; b++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t t = 0; t < T; t++)
                for (int64_t h = 0; h < H; h++)
                    for (int64_t w = 0; w < W; w++) {
                        int64_t r = t % pt, m = h % ph, n = w % pw, f;
                        int64_t vo, so;
                        if (order == DIO_PATCH_ORDER_C_T_H_W)
                            f = ((c * pt + r) * ph + m) * pw + n;
                        else
                            f = ((m * pw + n) * pt + r) * C + c;
                        vo = b * vid->stride[0] + c * vid->stride[1] + t * vid->stride[2] +
                             h * vid->stride[3] + w * vid->stride[4];
                        so = b * tok->stride[0] + (t / pt) * tok->stride[1] + (h / ph) * tok->stride[2] +
                             (w / pw) * tok->stride[3] + f * tok->stride[4];
                        if (to_tokens)
                            EL(dst, so) = EL(vid, vo);
                        else
                            EL(dst, vo) = EL(tok, so);
                    }
}

void ref_patchify(const ref_tensor *x, ref_tensor *y, const int patch[3], int order)
{
    patch_walk(x, y, patch, order, 1, y);
}

void ref_unpatchify(const ref_tensor *x, ref_tensor *y, const int patch[3], int order)
{
    patch_walk(y, x, patch, order, 0, y);
}

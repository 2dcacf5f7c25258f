/* CPU backend — ATTENTION (ops.h): O = softmax(scale·QKᵀ + mask)·V, flash-style, never holding [Lq, Lk].
 *
 * Work is split over (batch, head, block of 64 queries) with OpenMP; each task walks the keys in tiles
 * of 128 with an online softmax, so a thread's scratch is a few 64×128 / 128×D tiles whatever the
 * sequence length (an 84,480-token, 16-head call needs under 1 MiB per thread).
 *
 * The tile is computed transposed, Sᵀ [keys][queries], for three reasons: K and V are then used row by
 * row as they are stored (no per-tile transpose of K, the cost that dominates a naive flash kernel on a
 * CPU; tiles are only copied when widened from f16/bf16 or when their rows are far apart, as in a
 * [B, L, H, D] view, where rows 4 KiB apart would all share L1 sets), Q is packed once per task,
 * transposed and pre-multiplied by scale·log2 e so the softmax is a bare exp2, and the online-softmax
 * state (running max, sum, rescale factor) of 8 queries is one SIMD vector. Both products are the same
 * 6×16 register-blocked kernel C[r][:] (+)= Σ_k A[r][k]·B[k][:] (A broadcast from strided memory, B
 * two 8-float vectors per row): Sᵀ = K·Qᵀ and Oᵀ += Vᵀ·Pᵀ, with Oᵀ transposed back once per task.
 * Measured on the 2-core AVX2 machine, this kernel runs 3-4× faster than calling dnnl_sgemm per tile
 * (whose per-call packing dominates at 64×128 tiles) and on par with or ahead of PyTorch's SDPA.
 *
 * The kernels use GCC vector extensions plus an explicit FMA: the project builds in ISO C11 mode, where
 * gcc does not contract a*b+c into FMA, so plain auto-vectorised loops would lose half the peak.
 * Without FMA/AVX the same code compiles to plain multiply-add on whatever vectors the target has.
 * f16/bf16 activations are widened to f32 per tile; the mask is f32 only. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>
#if defined(__FMA__) && defined(__AVX__)
#include <immintrin.h>
#endif

#include "cpu_blas.h"

#ifndef ATT_BQ
#define ATT_BQ 64 /* queries per task (multiple of 16) */
#endif
#ifndef ATT_BK
#define ATT_BK 128 /* keys per tile */
#endif
#define ATT_LOG2E 1.4426950408889634f

typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

static inline v8f att_ld(const float *p)
{
    v8f v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static inline void att_st(float *p, v8f v)
{
    memcpy(p, &v, sizeof(v));
}

static inline v8f att_splat(float x)
{
    return (v8f){x, x, x, x, x, x, x, x};
}

static inline v8f att_fma(v8f a, v8f b, v8f c)
{
#if defined(__FMA__) && defined(__AVX__)
    return (v8f)_mm256_fmadd_ps((__m256)a, (__m256)b, (__m256)c);
#else
    return a * b + c;
#endif
}

static inline v8f att_sel(v8i m, v8f a, v8f b) /* m ? a : b, m lanes all-ones or zero */
{
    return (v8f)(((v8i)a & m) | ((v8i)b & ~m));
}

static inline v8f att_max(v8f a, v8f b)
{
    return att_sel(a > b, a, b);
}

/* 2^x for x <= 0 (the softmax only ever exponentiates differences to a running max): round-to-nearest
 * split x = n + f, f in [-1/2, 1/2], a degree-6 minimax polynomial for 2^f (Cephes exp2f coefficients,
 * ~2e-7 relative), n added to the exponent. Below -125 the result is 0 (also for -inf); NaN stays NaN. */
static inline v8f att_exp2(v8f x)
{
    const v8f lo = att_splat(-125.0f), magic = att_splat(12582912.0f); /* 1.5·2^23 */
    v8i under = x < lo;
    v8f xc = att_sel(under, lo, x);
    v8f t = xc + magic;
    v8f n = t - magic;
    v8f f = xc - n;
    v8i e = ((v8i)t - (v8i)magic) << 23;
    v8f p = att_splat(1.535336188319500e-4f);
    p = att_fma(p, f, att_splat(1.339887440266574e-3f));
    p = att_fma(p, f, att_splat(9.618437357674640e-3f));
    p = att_fma(p, f, att_splat(5.550332471162809e-2f));
    p = att_fma(p, f, att_splat(2.402264791363012e-1f));
    p = att_fma(p, f, att_splat(6.931472028550421e-1f));
    p = att_fma(p, f, att_splat(1.0f));
    p = (v8f)((v8i)p + e);
    p = att_sel(under, att_splat(0.0f), p);
    return att_sel(x != x, x, p);
}

/* C[r][0..15] (+)= Σ_{k<kdim} A[r·ars + k·aks] · B[k·ldb + 0..15] for r < MR (MR a constant after inlining).
 */
static inline __attribute__((always_inline)) void att_kernel(const int MR, const int accumulate, int64_t kdim,
                                                             const float *A, int64_t ars, int64_t aks,
                                                             const float *B, int64_t ldb, float *C,
                                                             int64_t ldc)
{
    v8f c[6][2];
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++) {
        c[r][0] = accumulate ? att_ld(C + r * ldc) : att_splat(0.0f);
        c[r][1] = accumulate ? att_ld(C + r * ldc + 8) : att_splat(0.0f);
    }
    for (int64_t k = 0; k < kdim; k++) {
        const v8f b0 = att_ld(B + k * ldb), b1 = att_ld(B + k * ldb + 8);
        const float *a = A + k * aks;
#pragma GCC unroll 6
        for (int r = 0; r < MR; r++) {
            const v8f ar = att_splat(a[r * ars]);
            c[r][0] = att_fma(ar, b0, c[r][0]);
            c[r][1] = att_fma(ar, b1, c[r][1]);
        }
    }
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++) {
        att_st(C + r * ldc, c[r][0]);
        att_st(C + r * ldc + 8, c[r][1]);
    }
}

/* Rows [0, rows) of C, all ncb column blocks of 16: the MR = 6 kernel plus a remainder. */
static void att_gemm(const int accumulate, int64_t rows, int64_t ncb, int64_t kdim, const float *A,
                     int64_t ars, int64_t aks, const float *B, int64_t ldb, float *C, int64_t ldc)
{
    int64_t r0 = 0, full = rows / 6 * 6;
    /* A tail of 1 or 2 rows would run with 2 or 4 independent accumulators, too few to hide the FMA
     * latency: fold it with the last 6 rows into two blocks of 3-4 (128 rows = 20·6 + 4 + 4). */
    if (rows % 6 != 0 && rows % 6 < 3 && full >= 6) full -= 6;
    for (; r0 < full; r0 += 6)
        for (int64_t cb = 0; cb < ncb; cb++) {
            if (accumulate)
                att_kernel(6, 1, kdim, A + r0 * ars, ars, aks, B + cb * 16, ldb, C + r0 * ldc + cb * 16, ldc);
            else
                att_kernel(6, 0, kdim, A + r0 * ars, ars, aks, B + cb * 16, ldb, C + r0 * ldc + cb * 16, ldc);
        }
    while (r0 < rows) {
        const int64_t n = rows - r0 > 5 ? (rows - r0 + 1) / 2 : rows - r0; /* 7 → 4 + 3, 8 → 4 + 4 */
        for (int64_t cb = 0; cb < ncb; cb++) {
            const float *a = A + r0 * ars, *b = B + cb * 16;
            float *c = C + r0 * ldc + cb * 16;
#define ATT_TAIL(k)                                                                                          \
    case k:                                                                                                  \
        if (accumulate)                                                                                      \
            att_kernel(k, 1, kdim, a, ars, aks, b, ldb, c, ldc);                                             \
        else                                                                                                 \
            att_kernel(k, 0, kdim, a, ars, aks, b, ldb, c, ldc);                                             \
        break;
            switch (n) {
                ATT_TAIL(1)
                ATT_TAIL(2)
                ATT_TAIL(3)
                ATT_TAIL(4)
                ATT_TAIL(5)
            default: break;
            }
#undef ATT_TAIL
        }
        r0 += n;
    }
}

typedef struct att_params {
    float scale;
    int causal;
} att_params;

static void att_read_params(const void *p, int64_t D, att_params *out)
{
    const dio_attention_params *ap = p;
    out->scale = 0.0f;
    out->causal = 0;
    if (ap) {
        if (ap->struct_size >= offsetof(dio_attention_params, scale) + sizeof(ap->scale))
            out->scale = ap->scale;
        if (ap->struct_size >= offsetof(dio_attention_params, causal) + sizeof(ap->causal))
            out->causal = ap->causal != 0;
    }
    if (out->scale == 0.0f) out->scale = D > 0 ? (float)(1.0 / sqrt((double)D)) : 1.0f;
}

static dio_status att_check_last_dim(const cpu_backend *be, const dio_tensor *t, const char *what)
{
    if (t->ndim > 0 && t->shape[t->ndim - 1] > 1 && t->stride[t->ndim - 1] != 1)
        return cpu_error(be, DIO_ERR_NOT_SUPPORTED,
                         "attention: %s: the last dim must be contiguous (stride %lld)", what,
                         (long long)t->stride[t->ndim - 1]);
    return DIO_OK;
}

dio_status cpu_check_attention(const cpu_backend *be, const dio_op_call *call)
{
    const dio_tensor *Q, *K, *V, *mask, *O;
    char s1[96], s2[96], s3[96], s4[96];
    int64_t B, Hq, Hkv, Lq, Lk, D, Dv;
    dio_status st = cpu_check_call_arity(be, call, 3, 4, 3, 1);
    if (st != DIO_OK) return st;
    Q = call->inputs[0];
    K = call->inputs[1];
    V = call->inputs[2];
    mask = call->n_inputs > 3 ? call->inputs[3] : NULL;
    O = call->outputs[0];
    if (!cpu_is_float_activation(Q->dtype))
        return cpu_error(be, DIO_ERR_NOT_SUPPORTED,
                         "attention: input Q has dtype %s; activations must be f32, f16 or bf16",
                         dio_dtype_name(Q->dtype));
    if (K->dtype != Q->dtype || V->dtype != Q->dtype || O->dtype != Q->dtype)
        return cpu_error(be, DIO_ERR_NOT_SUPPORTED,
                         "attention: Q, K, V and output O must share a dtype (got %s, %s, %s, %s)",
                         dio_dtype_name(Q->dtype), dio_dtype_name(K->dtype), dio_dtype_name(V->dtype),
                         dio_dtype_name(O->dtype));
    if (mask && mask->dtype != DIO_DTYPE_F32)
        return cpu_error(be, DIO_ERR_NOT_SUPPORTED, "attention: input mask has dtype %s; it must be f32",
                         dio_dtype_name(mask->dtype));
    if (Q->ndim != 4 || K->ndim != 4 || V->ndim != 4 || O->ndim != 4)
        return cpu_error(be, DIO_ERR_INVALID_ARGUMENT,
                         "attention: Q %s, K %s, V %s and O %s must all be 4-D [B, H, L, D]",
                         cpu_shape_str(Q, s1, sizeof(s1)), cpu_shape_str(K, s2, sizeof(s2)),
                         cpu_shape_str(V, s3, sizeof(s3)), cpu_shape_str(O, s4, sizeof(s4)));
    B = Q->shape[0];
    Hq = Q->shape[1];
    Lq = Q->shape[2];
    D = Q->shape[3];
    Hkv = K->shape[1];
    Lk = K->shape[2];
    Dv = V->shape[3];
    if (K->shape[0] != B || K->shape[3] != D || V->shape[0] != B || V->shape[1] != Hkv || V->shape[2] != Lk)
        return cpu_error(be, DIO_ERR_INVALID_ARGUMENT,
                         "attention: K %s and V %s do not match Q %s (expected K [%lld, Hkv, Lk, %lld], V "
                         "[%lld, Hkv, Lk, Dv])",
                         cpu_shape_str(K, s1, sizeof(s1)), cpu_shape_str(V, s2, sizeof(s2)),
                         cpu_shape_str(Q, s3, sizeof(s3)), (long long)B, (long long)D, (long long)B);
    if (O->shape[0] != B || O->shape[1] != Hq || O->shape[2] != Lq || O->shape[3] != Dv)
        return cpu_error(
            be, DIO_ERR_INVALID_ARGUMENT, "attention: output O %s must be [%lld, %lld, %lld, %lld]",
            cpu_shape_str(O, s1, sizeof(s1)), (long long)B, (long long)Hq, (long long)Lq, (long long)Dv);
    if (Hkv == 0 ? Hq != 0 : Hq % Hkv != 0)
        return cpu_error(be, DIO_ERR_INVALID_ARGUMENT,
                         "attention: query heads (%lld) must be a multiple of key/value heads (%lld)",
                         (long long)Hq, (long long)Hkv);
    if (D == 0 && B * Hq * Lq * Dv > 0)
        return cpu_error(be, DIO_ERR_INVALID_ARGUMENT, "attention: head dim D of Q %s must be at least 1",
                         cpu_shape_str(Q, s1, sizeof(s1)));
    if (mask) {
        int ok = 0;
        if (mask->ndim == 2)
            ok = mask->shape[0] == Lq && mask->shape[1] == Lk;
        else if (mask->ndim == 4)
            ok = mask->shape[0] == B && (mask->shape[1] == 1 || mask->shape[1] == Hq) &&
                 mask->shape[2] == Lq && mask->shape[3] == Lk;
        if (!ok)
            return cpu_error(be, DIO_ERR_INVALID_ARGUMENT,
                             "attention: input mask %s must be [%lld, %lld] or [%lld, 1 or %lld, %lld, %lld]",
                             cpu_shape_str(mask, s1, sizeof(s1)), (long long)Lq, (long long)Lk, (long long)B,
                             (long long)Hq, (long long)Lq, (long long)Lk);
    }
    if ((st = att_check_last_dim(be, Q, "input Q")) != DIO_OK ||
        (st = att_check_last_dim(be, K, "input K")) != DIO_OK ||
        (st = att_check_last_dim(be, V, "input V")) != DIO_OK ||
        (st = att_check_last_dim(be, O, "output O")) != DIO_OK ||
        (mask && (st = att_check_last_dim(be, mask, "input mask")) != DIO_OK))
        return st;
    return DIO_OK;
}

/* Everything a task needs, resolved once per call. Strides in elements. */
typedef struct att_call {
    const char *q, *k, *v;
    char *o;
    const float *mask;
    int32_t dt;
    size_t es;
    int64_t B, Hq, Hkv, Lq, Lk, D, Dv;
    int64_t qs[3], ks[3], vs[3], os[3]; /* batch, head, row */
    int64_t ms[3];                      /* mask batch, head, row (0 for broadcast dims) */
    float qscale;                       /* scale·log2 e */
    int causal;
    int pack_k, pack_v; /* copy K/V tiles into dense f32 (widening, or rows far apart) */
    int64_t nqb;        /* query blocks per (batch, head) */
} att_call;

/* Per-thread scratch, in floats. */
typedef struct att_ws {
    float *qt;            /* [D][ATT_BQ]  Qᵀ, pre-scaled */
    float *st;            /* [ATT_BK][ATT_BQ]  Sᵀ, then Pᵀ */
    float *ot;            /* [Dv][ATT_BQ]  Oᵀ accumulator */
    float *m, *l, *alpha; /* [ATT_BQ] each */
    float *kc, *vc;       /* [ATT_BK][D], [ATT_BK][Dv]: packed K/V tiles */
    float *row;           /* [max(D, Dv)] */
} att_ws;

static size_t att_ws_floats(int64_t D, int64_t Dv)
{
    const int64_t dm = D > Dv ? D : Dv;
    const int64_t n =
        D * ATT_BQ + (int64_t)ATT_BK * ATT_BQ + Dv * ATT_BQ + 3 * ATT_BQ + dm + (int64_t)ATT_BK * (D + Dv);
    return (size_t)((n + 15) / 16 * 16);
}

static void att_ws_carve(att_ws *w, float *base, int64_t D, int64_t Dv)
{
    float *p = base;
    w->qt = p;
    p += D * ATT_BQ;
    w->st = p;
    p += (int64_t)ATT_BK * ATT_BQ;
    w->ot = p;
    p += Dv * ATT_BQ;
    w->m = p;
    p += ATT_BQ;
    w->l = p;
    p += ATT_BQ;
    w->alpha = p;
    p += ATT_BQ;
    w->row = p;
    p += (D > Dv ? D : Dv);
    w->kc = p;
    p += (int64_t)ATT_BK * D;
    w->vc = p;
}

static void att_task(const att_call *c, att_ws *w, int64_t task)
{
    const int64_t qb = task % c->nqb, bh = task / c->nqb, h = bh % c->Hq, b = bh / c->Hq;
    const int64_t hk = h / (c->Hq / c->Hkv);
    const int64_t i0 = qb * ATT_BQ, nq = c->Lq - i0 < ATT_BQ ? c->Lq - i0 : ATT_BQ;
    const int64_t ncb = (nq + 15) / 16, ncol = ncb * 16, D = c->D, Dv = c->Dv;
    const int64_t off = c->Lk - c->Lq; /* causal: query i sees keys j <= i + off */
    const char *qbase = c->q + (b * c->qs[0] + h * c->qs[1]) * (int64_t)c->es;
    const char *kbase = c->k + (b * c->ks[0] + hk * c->ks[1]) * (int64_t)c->es;
    const char *vbase = c->v + (b * c->vs[0] + hk * c->vs[1]) * (int64_t)c->es;
    char *obase = c->o + (b * c->os[0] + h * c->os[1]) * (int64_t)c->es;
    const float *mbase = c->mask ? c->mask + b * c->ms[0] + h * c->ms[1] : NULL;
    int64_t kend = c->Lk;
    if (c->causal) {
        const int64_t last = i0 + nq + off; /* one past the last key the block's last query sees */
        if (last < kend) kend = last;
    }

    /* Qᵀ, scaled; padding columns are zero. */
    for (int64_t r = 0; r < ncol; r++) {
        if (r < nq) {
            const char *qrow = qbase + (i0 + r) * c->qs[2] * (int64_t)c->es;
            const float *src = (const float *)qrow;
            if (c->dt != DIO_DTYPE_F32) {
                cpu_blas_to_f32(w->row, qrow, c->dt, D);
                src = w->row;
            }
            for (int64_t d = 0; d < D; d++) w->qt[d * ATT_BQ + r] = src[d] * c->qscale;
        } else {
            for (int64_t d = 0; d < D; d++) w->qt[d * ATT_BQ + r] = 0.0f;
        }
    }
    for (int64_t r = 0; r < ncol; r++) {
        w->m[r] = -INFINITY;
        w->l[r] = 0.0f;
    }
    memset(w->ot, 0, (size_t)(Dv * ATT_BQ) * sizeof(float));

    for (int64_t j0 = 0; j0 < kend; j0 += ATT_BK) {
        const int64_t nk = kend - j0 < ATT_BK ? kend - j0 : ATT_BK;
        const float *kt = (const float *)kbase + j0 * c->ks[2], *vt = (const float *)vbase + j0 * c->vs[2];
        int64_t krs = c->ks[2], vrs = c->vs[2];
        if (c->pack_k) {
            for (int64_t j = 0; j < nk; j++)
                cpu_blas_to_f32(w->kc + j * D, kbase + (j0 + j) * c->ks[2] * (int64_t)c->es, c->dt, D);
            kt = w->kc;
            krs = D;
        }
        if (c->pack_v) {
            for (int64_t j = 0; j < nk; j++)
                cpu_blas_to_f32(w->vc + j * Dv, vbase + (j0 + j) * c->vs[2] * (int64_t)c->es, c->dt, Dv);
            vt = w->vc;
            vrs = Dv;
        }
        /* Sᵀ[j][i] = Σ_d K[j][d] · Qᵀ[d][i] */
        att_gemm(0, nk, ncb, D, kt, krs, 1, w->qt, ATT_BQ, w->st, ATT_BQ);
        if (mbase) {
            for (int64_t r = 0; r < nq; r++) {
                const float *mrow = mbase + (i0 + r) * c->ms[2] + j0;
                for (int64_t j = 0; j < nk; j++) w->st[j * ATT_BQ + r] += mrow[j] * ATT_LOG2E;
            }
        }
        if (c->causal && j0 + nk - 1 > i0 + off) {
            /* key j0 + j is hidden from queries i < j0 + j - off */
            for (int64_t j = 0; j < nk; j++) {
                int64_t lim = j0 + j - off - i0;
                if (lim > nq) lim = nq;
                for (int64_t r = 0; r < lim; r++) w->st[j * ATT_BQ + r] = -INFINITY;
            }
        }
        /* Online softmax, 8 queries per vector. */
        for (int64_t c8 = 0; c8 < ncol; c8 += 8) {
            v8f mx = att_splat(-INFINITY), sum = att_splat(0.0f);
            const v8f mold = att_ld(w->m + c8);
            v8f mnew, msafe, alpha;
            for (int64_t j = 0; j < nk; j++) mx = att_max(mx, att_ld(w->st + j * ATT_BQ + c8));
            mnew = att_max(mold, mx);
            msafe = att_sel(mnew == att_splat(-INFINITY), att_splat(0.0f), mnew);
            alpha = att_exp2(mold - msafe);
            for (int64_t j = 0; j < nk; j++) {
                float *sp = w->st + j * ATT_BQ + c8;
                const v8f pv = att_exp2(att_ld(sp) - msafe);
                att_st(sp, pv);
                sum += pv;
            }
            att_st(w->l + c8, att_fma(att_ld(w->l + c8), alpha, sum));
            att_st(w->m + c8, mnew);
            att_st(w->alpha + c8, alpha);
        }
        for (int64_t v = 0; v < Dv; v++)
            for (int64_t c8 = 0; c8 < ncol; c8 += 8) {
                float *op = w->ot + v * ATT_BQ + c8;
                att_st(op, att_ld(op) * att_ld(w->alpha + c8));
            }
        /* Oᵀ[v][i] += Σ_j V[j][v] · Pᵀ[j][i] */
        att_gemm(1, Dv, ncb, nk, vt, 1, vrs, w->st, ATT_BQ, w->ot, ATT_BQ);
    }

    /* O = Oᵀ / l, transposed back; a query that saw no key (l == 0) gets zeros. */
    for (int64_t r = 0; r < nq; r++) {
        const float l = w->l[r], inv = l == 0.0f ? 0.0f : 1.0f / l;
        char *orow = obase + (i0 + r) * c->os[2] * (int64_t)c->es;
        float *dst = c->dt == DIO_DTYPE_F32 ? (float *)orow : w->row;
        for (int64_t v = 0; v < Dv; v++) dst[v] = w->ot[v * ATT_BQ + r] * inv;
        if (c->dt != DIO_DTYPE_F32) cpu_convert_from_f32(orow, c->dt, w->row, Dv);
    }
}

dio_status cpu_op_attention(void *ctx, dio_stream *stream, const dio_op_call *call)
{
    cpu_backend *be = ctx;
    const dio_tensor *Q, *K, *V, *mask, *O;
    att_call c;
    att_params p;
    float *ws = NULL;
    size_t per_thread;
    int nt;
    int64_t ntasks;
    dio_status st;
    (void)stream;
    if (!be || !call) return DIO_ERR_INVALID_ARGUMENT;
    if ((st = cpu_check_attention(be, call)) != DIO_OK) return st;
    Q = call->inputs[0];
    K = call->inputs[1];
    V = call->inputs[2];
    mask = call->n_inputs > 3 ? call->inputs[3] : NULL;
    O = call->outputs[0];
    memset(&c, 0, sizeof(c));
    c.B = Q->shape[0];
    c.Hq = Q->shape[1];
    c.Lq = Q->shape[2];
    c.D = Q->shape[3];
    c.Hkv = K->shape[1];
    c.Lk = K->shape[2];
    c.Dv = V->shape[3];
    if (c.B == 0 || c.Hq == 0 || c.Lq == 0 || c.Dv == 0) return DIO_OK;
    att_read_params(call->params, c.D, &p);
    c.dt = Q->dtype;
    c.es = dio_dtype_size(c.dt);
    c.q = cpu_tensor_data(Q);
    c.k = cpu_tensor_data(K);
    c.v = cpu_tensor_data(V);
    c.o = cpu_tensor_data(O);
    for (int i = 0; i < 3; i++) {
        c.qs[i] = Q->stride[i];
        c.ks[i] = K->stride[i];
        c.vs[i] = V->stride[i];
        c.os[i] = O->stride[i];
    }
    if (mask) {
        c.mask = cpu_tensor_data(mask);
        if (mask->ndim == 2) {
            c.ms[2] = mask->stride[0];
        } else {
            c.ms[0] = mask->stride[0];
            c.ms[1] = mask->shape[1] == 1 ? 0 : mask->stride[1];
            c.ms[2] = mask->stride[2];
        }
    }
    c.qscale = p.scale * ATT_LOG2E;
    c.causal = p.causal;
    c.nqb = (c.Lq + ATT_BQ - 1) / ATT_BQ;
    ntasks = c.B * c.Hq * c.nqb;
    nt = be->n_threads > 0 ? be->n_threads : 1;
    if (ntasks < nt) nt = (int)ntasks;
    /* Rows far apart (a [B, L, H, D] view) would make every K/V access of the kernels miss L1 (rows a
     * multiple of 4 KiB apart share cache sets): copy such tiles, like widened ones, into dense rows. */
    c.pack_k = c.dt != DIO_DTYPE_F32 || (c.Lk > 1 && c.ks[2] != c.D);
    c.pack_v = c.dt != DIO_DTYPE_F32 || (c.Lk > 1 && c.vs[2] != c.Dv);
    per_thread = att_ws_floats(c.D, c.Dv);
    ws = be->host->alloc_aligned(per_thread * sizeof(float) * (size_t)nt, 64);
    if (!ws) {
        st = cpu_error(be, DIO_ERR_OUT_OF_HOST_MEMORY,
                       "attention: out of host memory for %d thread workspaces", nt);
        goto fail;
    }
#pragma omp parallel num_threads(nt)
    {
        att_ws w;
        att_ws_carve(&w, ws + per_thread * (size_t)omp_get_thread_num(), c.D, c.Dv);
#pragma omp for schedule(dynamic, 1)
        for (int64_t t = 0; t < ntasks; t++) att_task(&c, &w, t);
    }
    st = DIO_OK;
fail:
    be->host->free_aligned(ws);
    return st;
}

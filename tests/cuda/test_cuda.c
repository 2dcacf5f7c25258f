/* The CUDA backend through the host: the plugin must load from the build's plugin directory; opening
 * it on a machine without a GPU must fail with "cuda: no device (...)", and the test then prints
 * "SKIPPED: no CUDA device" and exits 77 (ctest SKIP_RETURN_CODE), never passing. With a device, each
 * implemented op runs once against a float64 reference computed here from the ops.h text: add and mul
 * with broadcasting, axpby, clamp (NaN kept), copy of a transposed view with f32 -> bf16 rounding,
 * silu, gelu (erf, tanh), swiglu, copy to f16, matmul (f32: bias, beta, trans_b, batched B; bf16 with
 * bias; f16 trans_b), and supports_op refusing attention with Dv > 512 and a copy into f8. Every other op
 * is checked by the conformance suite (tests/conformance) on the same backend.
 * The same test checks the HIP backend (plugins/hip, built from the same sources): pass its name. Run
 * with DIORAMA_GPU_GEMM=tiled, matmul goes through our own tiled kernel instead of cuBLASLt / rocBLAS.
 * Usage: test_cuda PLUGIN_DIR [cuda|hip] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diorama/diorama.h"

static int failures;
#define CHECK(cond, ...)                                                                                     \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            failures++;                                                                                      \
            printf("FAIL line %d: ", __LINE__);                                                              \
            printf(__VA_ARGS__);                                                                             \
            printf("\n");                                                                                    \
        }                                                                                                    \
    } while (0)

static dio_backend_ref R;
static dio_stream *S;

static uint16_t to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static float from_bf16(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* IEEE half, round to nearest even (normal and subnormal range; overflow to inf). */
static uint16_t to_f16(float f)
{
    uint32_t u;
    uint16_t sign;
    float a = fabsf(f);
    memcpy(&u, &f, 4);
    sign = (uint16_t)((u >> 16) & 0x8000u);
    if (isnan(f)) return (uint16_t)(sign | 0x7e00u);
    if (a >= 65520.0f) return (uint16_t)(sign | 0x7c00u);
    if (a < 6.103515625e-05f) return (uint16_t)(sign | (uint16_t)nearbyintf(a * 16777216.0f));
    {
        int e;
        float m = frexpf(a, &e);                          /* a = m 2^e, m in [0.5, 1) */
        uint32_t q = (uint32_t)nearbyintf(ldexpf(m, 11)); /* 11 significant bits */
        if (q == 2048) q = 1024, e++;
        return (uint16_t)(sign | (uint16_t)((e + 14) << 10) | (uint16_t)(q & 0x3ffu));
    }
}

static float from_f16(uint16_t h)
{
    int e = (h >> 10) & 0x1f, m = h & 0x3ff;
    float v = e == 0    ? ldexpf((float)m, -24)
              : e == 31 ? (m ? NAN : INFINITY)
                        : ldexpf((float)(m | 0x400), e - 25);
    return (h & 0x8000) ? -v : v;
}

/* A device tensor: contiguous of `shape`, filled from host floats converted to dtype. */
typedef struct dt {
    dio_buffer *buf;
    dio_tensor t;
} dt;

static dt mk(int32_t dtype, int ndim, const int64_t *shape, const float *vals)
{
    dt d;
    int64_t n = 1;
    size_t es = dio_dtype_size(dtype);
    void *host;
    memset(&d, 0, sizeof(d));
    for (int i = 0; i < ndim; i++) n *= shape[i];
    if (R.iface->buffer_alloc(R.ctx, 0, (uint64_t)n * es, &d.buf) != DIO_OK) {
        CHECK(0, "buffer_alloc: %s", dio_last_error());
        exit(1);
    }
    dio_tensor_init(&d.t, dtype, ndim, shape, d.buf, 0);
    if (!vals) return d;
    host = malloc((size_t)n * es);
    for (int64_t i = 0; i < n; i++) {
        if (dtype == DIO_DTYPE_BF16)
            ((uint16_t *)host)[i] = to_bf16(vals[i]);
        else if (dtype == DIO_DTYPE_F16)
            ((uint16_t *)host)[i] = to_f16(vals[i]);
        else
            ((float *)host)[i] = vals[i];
    }
    CHECK(R.iface->buffer_upload(R.ctx, NULL, d.buf, 0, host, (uint64_t)n * es) == DIO_OK, "upload: %s",
          dio_last_error());
    free(host);
    return d;
}

/* The whole buffer back as floats. */
static float *get(const dt *d)
{
    uint64_t size = R.iface->buffer_size(R.ctx, d->buf);
    size_t es = dio_dtype_size(d->t.dtype);
    size_t n = (size_t)(size / es);
    void *host = malloc((size_t)size);
    float *out = malloc(n * sizeof(float));
    CHECK(R.iface->stream_sync(R.ctx, S) == DIO_OK, "stream_sync: %s", dio_last_error());
    CHECK(R.iface->buffer_download(R.ctx, NULL, d->buf, 0, host, size) == DIO_OK, "download: %s",
          dio_last_error());
    for (size_t i = 0; i < n; i++)
        out[i] = d->t.dtype == DIO_DTYPE_BF16  ? from_bf16(((uint16_t *)host)[i])
                 : d->t.dtype == DIO_DTYPE_F16 ? from_f16(((uint16_t *)host)[i])
                                               : ((float *)host)[i];
    free(host);
    return out;
}

static void rel(dt *d)
{
    R.iface->buffer_free(R.ctx, d->buf);
    d->buf = NULL;
}

static void fill(float *v, int n, unsigned seed)
{
    for (int i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        v[i] = (float)((seed >> 9) & 0xffff) / 32768.0f - 1.0f;
    }
}

static void compare(const char *what, const float *got, const double *want, int n, double atol, double rtol)
{
    int bad = 0;
    for (int i = 0; i < n; i++) {
        double g = got[i], w = want[i];
        if (isnan(w) ? !isnan(g) : !(fabs(g - w) <= atol + rtol * fabs(w))) {
            if (bad < 3) printf("  %s[%d]: got %.8g want %.8g\n", what, i, g, w);
            bad++;
        }
    }
    CHECK(bad == 0, "%s: %d of %d elements off", what, bad, n);
    if (!bad) printf("ok %s\n", what);
}

static dio_status run(int32_t op, const dio_tensor *const *in, int n_in, const dio_tensor *out, const void *p)
{
    const dio_tensor *outs[1] = {out};
    dio_status st = dio_run(&R, S, op, in, n_in, outs, 1, p);
    if (st != DIO_OK) printf("  %s: %s: %s\n", dio_op_name(op), dio_status_name(st), dio_last_error());
    return st;
}

static void test_elementwise(void)
{
    float a[24], b[24], z[24];
    double want[24];
    fill(a, 24, 1);
    fill(b, 24, 2);
    fill(z, 24, 3);
    { /* add: [2,3,4] + [4] */
        int64_t s3[3] = {2, 3, 4}, s1[1] = {4};
        dt x = mk(DIO_DTYPE_F32, 3, s3, a), y = mk(DIO_DTYPE_F32, 1, s1, b),
           o = mk(DIO_DTYPE_F32, 3, s3, NULL);
        const dio_tensor *in[2] = {&x.t, &y.t};
        if (run(DIO_OP_ADD, in, 2, &o.t, NULL) == DIO_OK) {
            float *g = get(&o);
            for (int i = 0; i < 24; i++) want[i] = (double)a[i] + b[i % 4];
            compare("add f32 broadcast", g, want, 24, 1e-6, 1e-6);
            free(g);
        } else
            CHECK(0, "add failed");
        rel(&x), rel(&y), rel(&o);
    }
    { /* mul bf16: [3,1] * [1,5] -> [3,5] */
        int64_t sa[2] = {3, 1}, sb[2] = {1, 5}, sy[2] = {3, 5};
        dt x = mk(DIO_DTYPE_BF16, 2, sa, a), y = mk(DIO_DTYPE_BF16, 2, sb, b),
           o = mk(DIO_DTYPE_BF16, 2, sy, NULL);
        const dio_tensor *in[2] = {&x.t, &y.t};
        if (run(DIO_OP_MUL, in, 2, &o.t, NULL) == DIO_OK) {
            float *g = get(&o);
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 5; j++)
                    want[i * 5 + j] = from_bf16(
                        to_bf16((float)((double)from_bf16(to_bf16(a[i])) * from_bf16(to_bf16(b[j])))));
            compare("mul bf16 outer broadcast", g, want, 15, 0, 0);
            free(g);
        } else
            CHECK(0, "mul failed");
        rel(&x), rel(&y), rel(&o);
    }
    { /* axpby with and without z; clamp with a NaN; silu; gelu erf/tanh; swiglu — f32 [24] */
        int64_t s[1] = {24};
        float an[24];
        dio_axpby_params ap = {sizeof(ap), 0.5f, -2.0f};
        dio_clamp_params cp = {sizeof(cp), -0.5f, 0.25f};
        dio_gelu_params gt = {sizeof(gt), 1};
        dt x, w, o;
        const dio_tensor *in2[2], *in1[1];
        memcpy(an, a, sizeof(an));
        an[5] = NAN;
        x = mk(DIO_DTYPE_F32, 1, s, an);
        w = mk(DIO_DTYPE_F32, 1, s, z);
        o = mk(DIO_DTYPE_F32, 1, s, NULL);
        in2[0] = &x.t, in2[1] = &w.t, in1[0] = &x.t;
        if (run(DIO_OP_AXPBY, in2, 2, &o.t, &ap) == DIO_OK) {
            float *g = get(&o);
            for (int i = 0; i < 24; i++) want[i] = 0.5 * an[i] - 2.0 * z[i];
            compare("axpby f32", g, want, 24, 1e-6, 1e-6);
            free(g);
        } else
            CHECK(0, "axpby failed");
        if (run(DIO_OP_AXPBY, in1, 1, &o.t, &ap) == DIO_OK) {
            float *g = get(&o);
            for (int i = 0; i < 24; i++) want[i] = 0.5 * an[i];
            compare("axpby f32 without z", g, want, 24, 1e-6, 1e-6);
            free(g);
        } else
            CHECK(0, "axpby (no z) failed");
        if (run(DIO_OP_CLAMP, in1, 1, &o.t, &cp) == DIO_OK) {
            float *g = get(&o);
            for (int i = 0; i < 24; i++) want[i] = isnan(an[i]) ? NAN : fmin(fmax(an[i], -0.5), 0.25);
            compare("clamp f32 (NaN kept)", g, want, 24, 0, 0);
            free(g);
        } else
            CHECK(0, "clamp failed");
        if (run(DIO_OP_SILU, in1, 1, &o.t, NULL) == DIO_OK) {
            float *g = get(&o);
            for (int i = 0; i < 24; i++) want[i] = an[i] / (1.0 + exp(-(double)an[i]));
            compare("silu f32", g, want, 24, 1e-6, 1e-5);
            free(g);
        } else
            CHECK(0, "silu failed");
        if (run(DIO_OP_GELU, in1, 1, &o.t, NULL) == DIO_OK) {
            float *g = get(&o);
            for (int i = 0; i < 24; i++) want[i] = 0.5 * an[i] * (1.0 + erf(an[i] / sqrt(2.0)));
            compare("gelu erf f32", g, want, 24, 1e-6, 1e-5);
            free(g);
        } else
            CHECK(0, "gelu failed");
        if (run(DIO_OP_GELU, in1, 1, &o.t, &gt) == DIO_OK) {
            float *g = get(&o);
            for (int i = 0; i < 24; i++) {
                double v = an[i];
                want[i] = 0.5 * v * (1.0 + tanh(sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v)));
            }
            compare("gelu tanh f32", g, want, 24, 1e-6, 1e-5);
            free(g);
        } else
            CHECK(0, "gelu tanh failed");
        if (run(DIO_OP_SWIGLU, in2, 2, &o.t, NULL) == DIO_OK) {
            float *g = get(&o);
            for (int i = 0; i < 24; i++) want[i] = an[i] / (1.0 + exp(-(double)an[i])) * z[i];
            compare("swiglu f32", g, want, 24, 1e-6, 1e-5);
            free(g);
        } else
            CHECK(0, "swiglu failed");
        rel(&x), rel(&w), rel(&o);
    }
    { /* copy: the transpose view [4,3] (strides 1,4) of an f32 [3,4] into a contiguous bf16 [4,3] */
        int64_t sx[2] = {3, 4}, sy[2] = {4, 3};
        dt x = mk(DIO_DTYPE_F32, 2, sx, a), o = mk(DIO_DTYPE_BF16, 2, sy, NULL);
        dio_tensor v = x.t;
        const dio_tensor *in[1] = {&v};
        v.shape[0] = 4, v.shape[1] = 3, v.stride[0] = 1, v.stride[1] = 4;
        if (run(DIO_OP_COPY, in, 1, &o.t, NULL) == DIO_OK) {
            float *g = get(&o);
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 3; j++) want[i * 3 + j] = from_bf16(to_bf16(a[j * 4 + i]));
            compare("copy f32 transposed -> bf16", g, want, 12, 0, 0);
            free(g);
        } else
            CHECK(0, "copy failed");
        rel(&x), rel(&o);
    }
    { /* copy f32 -> f16 contiguous */
        int64_t s[1] = {24};
        dt x = mk(DIO_DTYPE_F32, 1, s, a), o = mk(DIO_DTYPE_F16, 1, s, NULL);
        const dio_tensor *in[1] = {&x.t};
        if (run(DIO_OP_COPY, in, 1, &o.t, NULL) == DIO_OK) {
            float *g = get(&o);
            for (int i = 0; i < 24; i++) want[i] = from_f16(to_f16(a[i]));
            compare("copy f32 -> f16", g, want, 24, 0, 0);
            free(g);
        } else
            CHECK(0, "copy f16 failed");
        rel(&x), rel(&o);
    }
}

/* C[b] = alpha A[b] op(B[b]) + bias + beta C0[b], in double from the (rounded) inputs. */
static void ref_mm(double *out, const float *A, const float *B, const float *bias, const float *C0, int batch,
                   int M, int N, int K, int trans_b, int batched_b, double alpha, double beta)
{
    for (int b = 0; b < batch; b++)
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++) {
                const float *Bb = B + (batched_b ? b * K * N : 0);
                double acc = 0;
                for (int k = 0; k < K; k++)
                    acc += (double)A[(b * M + m) * K + k] * (trans_b ? Bb[n * K + k] : Bb[k * N + n]);
                acc = alpha * acc + (bias ? bias[n] : 0) + (beta != 0 ? beta * C0[(b * M + m) * N + n] : 0);
                out[(b * M + m) * N + n] = acc;
            }
}

static void round_bf16(float *v, int n)
{
    for (int i = 0; i < n; i++) v[i] = from_bf16(to_bf16(v[i]));
}

static void test_matmul(void)
{
    enum { Bt = 2, M = 5, N = 6, K = 7 };
    float A[Bt * M * K], Bw[Bt * K * N], bias[N], C0[Bt * M * N];
    double want[Bt * M * N];
    int64_t sa[3] = {Bt, M, K}, sb[2] = {K, N}, sbt[2] = {N, K}, sbb[3] = {Bt, K, N}, sc[3] = {Bt, M, N},
            sn[1] = {N};
    fill(A, Bt * M * K, 11);
    fill(Bw, Bt * K * N, 12);
    fill(bias, N, 13);
    fill(C0, Bt * M * N, 14);
    {
        dt a = mk(DIO_DTYPE_F32, 3, sa, A), b = mk(DIO_DTYPE_F32, 2, sb, Bw),
           bt = mk(DIO_DTYPE_F32, 2, sbt, Bw);
        dt bb = mk(DIO_DTYPE_F32, 3, sbb, Bw), bi = mk(DIO_DTYPE_F32, 1, sn, bias),
           c = mk(DIO_DTYPE_F32, 3, sc, C0);
        dio_matmul_params p = {sizeof(p), 0, 0, 1.0f, 0.0f};
        const dio_tensor *in[3] = {&a.t, &b.t, &bi.t};
        if (run(DIO_OP_MATMUL, in, 3, &c.t, &p) == DIO_OK) {
            float *g = get(&c);
            ref_mm(want, A, Bw, bias, NULL, Bt, M, N, K, 0, 0, 1, 0);
            compare("matmul f32 bias", g, want, Bt * M * N, 1e-5, 1e-5);
            free(g);
        } else
            CHECK(0, "matmul f32 failed");
        /* trans_b, alpha 0.5, beta 0.75 over fresh C0 */
        CHECK(R.iface->buffer_upload(R.ctx, NULL, c.buf, 0, C0, sizeof(C0)) == DIO_OK, "upload C0");
        p.trans_b = 1, p.alpha = 0.5f, p.beta = 0.75f;
        in[1] = &bt.t, in[2] = NULL;
        if (run(DIO_OP_MATMUL, in, 2, &c.t, &p) == DIO_OK) {
            float *g = get(&c);
            ref_mm(want, A, Bw, NULL, C0, Bt, M, N, K, 1, 0, 0.5, 0.75);
            compare("matmul f32 trans_b alpha beta", g, want, Bt * M * N, 1e-5, 1e-5);
            free(g);
        } else
            CHECK(0, "matmul f32 trans_b failed");
        p.trans_b = 0, p.alpha = 1.0f, p.beta = 0.0f;
        in[1] = &bb.t, in[2] = &bi.t;
        if (run(DIO_OP_MATMUL, in, 3, &c.t, &p) == DIO_OK) {
            float *g = get(&c);
            ref_mm(want, A, Bw, bias, NULL, Bt, M, N, K, 0, 1, 1, 0);
            compare("matmul f32 batched B", g, want, Bt * M * N, 1e-5, 1e-5);
            free(g);
        } else
            CHECK(0, "matmul f32 batched failed");
        rel(&a), rel(&b), rel(&bt), rel(&bb), rel(&bi), rel(&c);
    }
    {
        float Ar[Bt * M * K], Br[K * N], biasr[N];
        dt a = mk(DIO_DTYPE_BF16, 3, sa, A), b = mk(DIO_DTYPE_BF16, 2, sb, Bw),
           bi = mk(DIO_DTYPE_BF16, 1, sn, bias);
        dt c = mk(DIO_DTYPE_BF16, 3, sc, NULL);
        const dio_tensor *in[3] = {&a.t, &b.t, &bi.t};
        memcpy(Ar, A, sizeof(Ar));
        memcpy(Br, Bw, sizeof(Br));
        memcpy(biasr, bias, sizeof(biasr));
        round_bf16(Ar, Bt * M * K), round_bf16(Br, K * N), round_bf16(biasr, N);
        if (run(DIO_OP_MATMUL, in, 3, &c.t, NULL) == DIO_OK) {
            float *g = get(&c);
            ref_mm(want, Ar, Br, biasr, NULL, Bt, M, N, K, 0, 0, 1, 0);
            compare("matmul bf16 bias (f32 accumulate)", g, want, Bt * M * N, 1e-2, 8e-3);
            free(g);
        } else
            CHECK(0, "matmul bf16 failed");
        rel(&a), rel(&b), rel(&bi), rel(&c);
    }
    { /* f16, trans_b, no bias */
        float Ar[Bt * M * K], Br[N * K];
        dio_matmul_params p = {sizeof(p), 0, 1, 1.0f, 0.0f};
        dt a = mk(DIO_DTYPE_F16, 3, sa, A), b = mk(DIO_DTYPE_F16, 2, sbt, Bw),
           c = mk(DIO_DTYPE_F16, 3, sc, NULL);
        const dio_tensor *in[2] = {&a.t, &b.t};
        for (int i = 0; i < Bt * M * K; i++) Ar[i] = from_f16(to_f16(A[i]));
        for (int i = 0; i < N * K; i++) Br[i] = from_f16(to_f16(Bw[i]));
        if (run(DIO_OP_MATMUL, in, 2, &c.t, &p) == DIO_OK) {
            float *g = get(&c);
            ref_mm(want, Ar, Br, NULL, NULL, Bt, M, N, K, 1, 0, 1, 0);
            compare("matmul f16 trans_b (f32 accumulate)", g, want, Bt * M * N, 2e-3, 2e-3);
            free(g);
        } else
            CHECK(0, "matmul f16 failed");
        rel(&a), rel(&b), rel(&c);
    }
}

/* supports_op refuses what is not implemented: attention beyond the portable kernel's value head dim
 * (CUDA_ATTN_MAX_DV, 512), a copy into f8 (f8 is loaded, never stored); f8 weights are accepted. */
static void test_refusals(void)
{
    int64_t sq[4] = {1, 1, 4, 8}, sv[4] = {1, 1, 4, 600}, sa[2] = {4, 8}, sb[2] = {8, 4}, sc[2] = {4, 4};
    dt q = mk(DIO_DTYPE_F32, 4, sq, NULL), v = mk(DIO_DTYPE_F32, 4, sv, NULL),
       a = mk(DIO_DTYPE_F32, 2, sa, NULL);
    dt w8 = mk(DIO_DTYPE_F8E4M3, 2, sb, NULL), c = mk(DIO_DTYPE_F32, 2, sc, NULL);
    dt w8t = mk(DIO_DTYPE_F8E4M3, 2, sa, NULL);
    const dio_tensor *qkv[3] = {&q.t, &q.t, &v.t}, *mm[2] = {&a.t, &w8.t}, *o1[1] = {&v.t}, *o2[1] = {&c.t};
    const dio_tensor *cin[1] = {&a.t}, *cout[1] = {&w8t.t};
    dio_op_call call;
    memset(&call, 0, sizeof(call));
    call.struct_size = (uint32_t)sizeof(call);
    call.op = DIO_OP_ATTENTION;
    call.n_inputs = 3;
    call.n_outputs = 1;
    call.inputs = qkv;
    call.outputs = o1;
    CHECK(R.iface->supports_op(R.ctx, &call) == DIO_ERR_NOT_SUPPORTED,
          "attention with Dv 600 should be NOT_SUPPORTED");
    call.op = DIO_OP_MATMUL;
    call.n_inputs = 2;
    call.inputs = mm;
    call.outputs = o2;
    CHECK(R.iface->supports_op(R.ctx, &call) == DIO_OK, "f8 matmul weights should be supported: %s",
          dio_last_error());
    mm[1] = &a.t; /* A [4,8] as B: K mismatch (8 vs 4) is malformed */
    CHECK(R.iface->supports_op(R.ctx, &call) == DIO_ERR_INVALID_ARGUMENT,
          "matmul K mismatch should be INVALID");
    call.op = DIO_OP_COPY;
    call.n_inputs = 1;
    call.inputs = cin;
    call.outputs = cout;
    CHECK(R.iface->supports_op(R.ctx, &call) == DIO_ERR_NOT_SUPPORTED,
          "a copy to f8 should be NOT_SUPPORTED");
    if (!failures) printf("ok refusals\n");
    rel(&q), rel(&v), rel(&a), rel(&w8), rel(&w8t), rel(&c);
}

int main(int argc, char **argv)
{
    dio_context *ctx = NULL;
    dio_context_options co;
    const dio_plugin_descriptor *d = NULL;
    dio_backend *be = NULL;
    const char *dirs[1];
    dio_status st;
    const char *name = argc > 2 ? argv[2] : "cuda";
    char no_device_msg[64];
    if (argc != 2 && argc != 3) {
        fprintf(stderr, "usage: test_cuda PLUGIN_DIR [cuda|hip]\n");
        return 2;
    }
    snprintf(no_device_msg, sizeof(no_device_msg), "%s: no device", name);
    dirs[0] = argv[1];
    memset(&co, 0, sizeof(co));
    co.struct_size = (uint32_t)sizeof(co);
    co.no_env = 1;
    co.no_default_dirs = 1;
    co.plugin_dirs = dirs;
    co.n_plugin_dirs = 1;
    if ((st = dio_context_create(&co, &ctx)) != DIO_OK) {
        printf("FAIL: dio_context_create: %s\n", dio_last_error());
        return 1;
    }
    if ((st = dio_context_find(ctx, DIO_PLUGIN_BACKEND, name, &d)) != DIO_OK) {
        printf("FAIL: the %s backend plugin did not load from %s: %s\n", name, argv[1], dio_last_error());
        dio_context_destroy(ctx);
        return 1;
    }
    printf("%s plugin loaded: %s\n", name, d->description);
    if ((st = dio_backend_open(ctx, name, NULL, 0, &be)) != DIO_OK) {
        const char *msg = dio_last_error();
        int no_device = strstr(msg, no_device_msg) != NULL &&
                        (st == DIO_ERR_NOT_SUPPORTED || st == DIO_ERR_BACKEND_FAILURE);
        printf("dio_backend_open(%s): %s: %s\n", name, dio_status_name(st), msg);
        dio_context_destroy(ctx);
        if (no_device) {
            printf("SKIPPED: no %s device\n", name);
            return 77;
        }
        printf("FAIL: opening the %s backend failed for another reason than a missing device\n", name);
        return 1;
    }
    R = dio_backend_get_ref(be, 0);
    S = dio_backend_default_stream(be);
    {
        dio_device_props p;
        memset(&p, 0, sizeof(p));
        p.struct_size = (uint32_t)sizeof(p);
        CHECK(R.iface->device_props(R.ctx, 0, &p) == DIO_OK, "device_props: %s", dio_last_error());
        printf("device 0: %s, %d SMs, %.1f GiB\n", p.name, p.compute_units,
               (double)p.total_memory / (1 << 30));
        CHECK(p.type == DIO_DEVICE_GPU, "device type %d", p.type);
    }
    test_elementwise();
    test_matmul();
    test_refusals();
    dio_backend_close(be);
    dio_context_destroy(ctx);
    printf("%s (%d failures)\n", failures ? "FAIL" : "PASS", failures);
    return failures ? 1 : 0;
}

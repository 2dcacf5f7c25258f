/* bench_ops — times a backend's MATMUL and ATTENTION at the shapes of a small DiT (4,096 tokens, width
 * 1,024, 16 heads of 64) and the host's sgemm ceiling, in one process, for bench/run.sh to set beside
 * PyTorch run on the same machine in the same run.
 *
 * Design: the program sees the backend only through libdiorama and the backend table (plugins loaded
 * from the directory given on the command line), exactly as a model component would: buffers are
 * allocated and filled through the table, every call is first put to supports_op, and the stream is
 * synchronised after each call, so a GPU backend is timed honestly too. The ceiling is oneDNN's
 * dnnl_sgemm on a large square problem with the same thread count, measured here rather than quoted.
 * Timing: W untimed warm-up calls, then N timed calls; best and median are reported, and GFLOP/s and
 * the share of the ceiling use the best (the least disturbed run on a shared machine). Each result is
 * spot-checked against a float64 evaluation of a few outputs, so a broken kernel cannot post a fast
 * time unnoticed; a failed check is reported, never asserted. Nothing here aborts: a case that cannot
 * run is printed as skipped with the backend's message and the rest go on. One JSON object per case
 * goes to stdout on a line of its own (lines starting with '{'); everything else is for people.
 * "others" is the share of the machine's CPU time that other processes (and the hypervisor's steal)
 * took while a case was timed, from /proc/stat minus our own usage: a number that says whether a
 * timing can be trusted on a shared machine. */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <dnnl.h>
#include <omp.h>

#include "diorama/diorama.h"

#define BENCH_MAX_REPS 100

typedef struct bench_opts {
    const char *plugin_dir;
    const char *backend;
    const char *only; /* run only cases whose name contains this */
    int threads;      /* 0: the OpenMP default */
    int warmup;
    int reps;
    int quick; /* smaller shapes, for checking that the program works */
} bench_opts;

typedef struct bench_env {
    dio_backend *backend;
    dio_backend_ref ref;
    dio_stream *stream;
    const bench_opts *opts;
    double ceiling_gflops; /* 0 when not measured */
    int n_failed;          /* cases that errored or failed their check */
} bench_env;

typedef struct timing {
    double best_s;
    double median_s;
    int n;            /* timed calls; 0 when nothing was timed */
    int warmup;       /* untimed calls before them */
    double other_pct; /* % of the machine's CPU time other processes (or the hypervisor) took meanwhile */
} timing;

/* ---- small utilities ---- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* CPU seconds the whole machine spent busy (steal included) since boot, from /proc/stat; -1 if unknown. */
static double machine_busy_s(void)
{
    unsigned long long v[8] = {0};
    FILE *f = fopen("/proc/stat", "r");
    int n;
    long hz = sysconf(_SC_CLK_TCK);
    if (!f) return -1;
    n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
               &v[6], &v[7]);
    fclose(f);
    if (n < 8 || hz <= 0) return -1;
    /* user nice system [idle iowait] irq softirq steal */
    return (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / (double)hz;
}

/* CPU seconds this process (all its threads) has used. */
static double self_cpu_s(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_sec +
           1e-6 * (double)ru.ru_stime.tv_usec;
}

/* Snapshot for other_pct: how much of the machine others used while we were timing. */
typedef struct cpu_snap {
    double wall, busy, self;
} cpu_snap;

static cpu_snap cpu_snap_take(void)
{
    cpu_snap c = {now_s(), machine_busy_s(), self_cpu_s()};
    return c;
}

static double cpu_snap_other_pct(cpu_snap a)
{
    cpu_snap b = cpu_snap_take();
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    double wall = b.wall - a.wall, other;
    if (a.busy < 0 || b.busy < 0 || wall <= 0 || ncpu <= 0) return NAN;
    other = (b.busy - a.busy) - (b.self - a.self);
    if (other < 0) other = 0; /* tick granularity */
    return 100.0 * other / (wall * (double)ncpu);
}

/* Deterministic uniform values in [lo, hi): the same inputs every run. */
static void fill_uniform(float *p, size_t n, uint64_t seed, float lo, float hi)
{
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        p[i] = lo + (hi - lo) * (float)((s >> 40) * (1.0 / 16777216.0));
    }
}

static uint16_t f32_to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof(u));
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u); /* NaN stays NaN */
    u += 0x7fffu + ((u >> 16) & 1u);                                           /* round to nearest even */
    return (uint16_t)(u >> 16);
}

static float bf16_to_f32(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof(f));
    return f;
}

/* Writes s as a JSON string body (quotes and control characters escaped). */
static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static void json_num(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, "%.6g", v);
    else
        fputs("null", f);
}

/* ---- device buffers through the backend table ---- */

static dio_status dev_alloc(bench_env *env, uint64_t bytes, dio_buffer **out)
{
    return env->ref.iface->buffer_alloc(env->ref.ctx, env->ref.device, bytes, out);
}

static void dev_free(bench_env *env, dio_buffer *b)
{
    if (b) env->ref.iface->buffer_free(env->ref.ctx, b);
}

static dio_status dev_upload(bench_env *env, dio_buffer *dst, const void *src, uint64_t bytes)
{
    dio_status st = env->ref.iface->buffer_upload(env->ref.ctx, env->stream, dst, 0, src, bytes);
    if (st != DIO_OK) return st;
    return env->ref.iface->stream_sync(env->ref.ctx, env->stream);
}

static dio_status dev_download(bench_env *env, dio_buffer *src, void *dst, uint64_t bytes)
{
    dio_status st = env->ref.iface->buffer_download(env->ref.ctx, env->stream, src, 0, dst, bytes);
    if (st != DIO_OK) return st;
    return env->ref.iface->stream_sync(env->ref.ctx, env->stream);
}

/* Runs the call W times untimed, then N times timed (each synchronised). */
static dio_status time_call(bench_env *env, const dio_op_call *call, timing *out)
{
    double t[BENCH_MAX_REPS];
    int n = env->opts->reps;
    dio_status st;
    cpu_snap snap;
    for (int i = 0; i < env->opts->warmup; i++) {
        if ((st = dio_backend_run_op(&env->ref, env->stream, call)) != DIO_OK) return st;
        if ((st = env->ref.iface->stream_sync(env->ref.ctx, env->stream)) != DIO_OK) return st;
    }
    snap = cpu_snap_take();
    for (int i = 0; i < n; i++) {
        double t0 = now_s();
        if ((st = dio_backend_run_op(&env->ref, env->stream, call)) != DIO_OK) return st;
        if ((st = env->ref.iface->stream_sync(env->ref.ctx, env->stream)) != DIO_OK) return st;
        t[i] = now_s() - t0;
    }
    qsort(t, (size_t)n, sizeof(double), cmp_double);
    out->best_s = t[0];
    out->median_s = n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
    out->other_pct = cpu_snap_other_pct(snap);
    out->n = n;
    out->warmup = env->opts->warmup;
    return DIO_OK;
}

/* ---- reporting ---- */

typedef struct case_result {
    const char *name;
    const char *op;
    const char *shape;
    double flop;
    timing tm;
    const char *status;  /* ok, skipped, error, check_failed */
    const char *message; /* NULL or msg */
    double check_err;    /* normalised error of the spot check; NaN when not checked */
    char msg[512];       /* a copy: dio_last_error()'s text lives only until the next diorama call */
} case_result;

static void case_init(case_result *r, const char *name, const char *op, const char *shape, double flop)
{
    memset(r, 0, sizeof(*r));
    r->name = name;
    r->op = op;
    r->shape = shape;
    r->flop = flop;
    r->tm.other_pct = NAN;
    r->status = "ok";
    r->check_err = NAN;
}

static void set_status(case_result *r, const char *status, const char *message)
{
    r->status = status;
    snprintf(r->msg, sizeof(r->msg), "%s", message ? message : "");
    r->message = r->msg;
}

static void report(bench_env *env, const case_result *r)
{
    double gf = r->tm.n ? r->flop / r->tm.best_s * 1e-9 : NAN;
    double gf_med = r->tm.n ? r->flop / r->tm.median_s * 1e-9 : NAN;
    double pct = env->ceiling_gflops > 0 ? 100.0 * gf / env->ceiling_gflops : NAN;
    if (strcmp(r->status, "ok") == 0 || strcmp(r->status, "check_failed") == 0) {
        printf("  %-26s %-34s %9.2f %9.2f %9.1f %7.1f%% %6.0f%%  %s (err %.1e)\n", r->name, r->shape,
               r->tm.best_s * 1e3, r->tm.median_s * 1e3, gf, pct, r->tm.other_pct,
               strcmp(r->status, "ok") == 0 ? "check ok" : "CHECK FAILED", r->check_err);
    } else {
        printf("  %-26s %-34s %s: %s\n", r->name, r->shape, r->status, r->message ? r->message : "");
    }
    printf("{\"bench\":\"diorama\",\"backend\":");
    json_str(stdout, dio_backend_name(env->backend));
    printf(",\"case\":");
    json_str(stdout, r->name);
    printf(",\"op\":");
    json_str(stdout, r->op);
    printf(",\"shape\":");
    json_str(stdout, r->shape);
    printf(",\"status\":");
    json_str(stdout, r->status);
    printf(",\"flop\":");
    json_num(stdout, r->flop);
    printf(",\"reps\":%d,\"warmup\":%d,\"best_s\":", r->tm.n, r->tm.warmup);
    json_num(stdout, r->tm.n ? r->tm.best_s : NAN);
    printf(",\"median_s\":");
    json_num(stdout, r->tm.n ? r->tm.median_s : NAN);
    printf(",\"gflops\":");
    json_num(stdout, gf);
    printf(",\"gflops_median\":");
    json_num(stdout, gf_med);
    printf(",\"pct_ceiling\":");
    json_num(stdout, pct);
    printf(",\"other_cpu_pct\":");
    json_num(stdout, r->tm.n ? r->tm.other_pct : NAN);
    printf(",\"check_err\":");
    json_num(stdout, r->check_err);
    if (r->message) {
        printf(",\"message\":");
        json_str(stdout, r->message);
    }
    printf("}\n");
    fflush(stdout);
    if (strcmp(r->status, "error") == 0 || strcmp(r->status, "check_failed") == 0) env->n_failed++;
}

static int selected(const bench_env *env, const char *name)
{
    return !env->opts->only || strstr(name, env->opts->only) != NULL;
}

/* ---- the sgemm ceiling ---- */

static void bench_sgemm_ceiling(bench_env *env, int64_t n)
{
    static char shape[64];
    case_result r;
    size_t count = (size_t)(n * n);
    float *a = malloc(count * sizeof(float)), *b = malloc(count * sizeof(float)),
          *c = malloc(count * sizeof(float));
    double t[BENCH_MAX_REPS];
    cpu_snap snap = {0, -1, 0};
    /* The first case of the run, and the reference of every other: at least 3 warm-up and 10 timed
     * calls whatever the options say, so one-time start-up costs and a slow moment do not lower it. */
    int warmup = env->opts->warmup < 3 ? 3 : env->opts->warmup;
    int reps = env->opts->reps < 10 ? 10 : env->opts->reps;
    snprintf(shape, sizeof(shape), "[%lld]^3 f32", (long long)n);
    case_init(&r, "sgemm_ceiling", "dnnl_sgemm", shape, 2.0 * (double)n * (double)n * (double)n);
    if (!a || !b || !c) {
        set_status(&r, "error", "out of host memory");
        goto done;
    }
    fill_uniform(a, count, 11, -1.f, 1.f);
    fill_uniform(b, count, 12, -1.f, 1.f);
    for (int i = 0; i < warmup + reps; i++) {
        if (i == warmup) snap = cpu_snap_take();
        double t0 = now_s();
        dnnl_status_t s = dnnl_sgemm('N', 'N', n, n, n, 1.f, a, n, b, n, 0.f, c, n);
        double dt = now_s() - t0;
        if (s != dnnl_success) {
            set_status(&r, "error", "dnnl_sgemm failed");
            goto done;
        }
        if (i >= warmup) t[i - warmup] = dt;
    }
    qsort(t, (size_t)reps, sizeof(double), cmp_double);
    r.tm.best_s = t[0];
    r.tm.median_s = reps % 2 ? t[reps / 2] : 0.5 * (t[reps / 2 - 1] + t[reps / 2]);
    r.tm.other_pct = cpu_snap_other_pct(snap);
    r.tm.n = reps;
    r.tm.warmup = warmup;
    {
        /* Spot check a few entries. */
        double worst = 0;
        for (int k = 0; k < 8; k++) {
            int64_t i = (k * 7919) % n, j = (k * 104729 + 3) % n;
            double ref = 0, mag = 0;
            for (int64_t q = 0; q < n; q++) {
                ref += (double)a[i * n + q] * (double)b[q * n + j];
                mag += fabs((double)a[i * n + q] * (double)b[q * n + j]);
            }
            double e = fabs((double)c[i * n + j] - ref) / (mag > 0 ? mag : 1);
            if (e > worst) worst = e;
        }
        r.check_err = worst;
        if (!(worst <= 1e-4)) r.status = "check_failed";
    }
    env->ceiling_gflops = r.flop / r.tm.best_s * 1e-9;
done:
    report(env, &r);
    free(a);
    free(b);
    free(c);
}

/* ---- matmul: y = x · Wᵀ (nn.Linear layout, trans_b = 1), activations f32 ---- */

static void bench_linear(bench_env *env, const char *name, int64_t m, int64_t k, int64_t n, int32_t wdtype)
{
    static char shape[96];
    case_result r;
    float *x = NULL, *w = NULL, *y = NULL;
    uint16_t *wb = NULL;
    dio_buffer *bx = NULL, *bw = NULL, *by = NULL;
    dio_tensor tx, tw, ty;
    dio_status st;
    size_t wsize = dio_dtype_size(wdtype);
    snprintf(shape, sizeof(shape), "[%lld,%lld]x[%lld,%lld]^T %sw", (long long)m, (long long)k, (long long)n,
             (long long)k, dio_dtype_name(wdtype));
    case_init(&r, name, "matmul", shape, 2.0 * (double)m * (double)k * (double)n);
    if (!selected(env, name)) return;

    x = malloc((size_t)(m * k) * sizeof(float));
    w = malloc((size_t)(n * k) * sizeof(float));
    y = malloc((size_t)(m * n) * sizeof(float));
    if (wdtype == DIO_DTYPE_BF16) wb = malloc((size_t)(n * k) * sizeof(uint16_t));
    if (!x || !w || !y || (wdtype == DIO_DTYPE_BF16 && !wb)) {
        set_status(&r, "error", "out of host memory");
        goto done;
    }
    fill_uniform(x, (size_t)(m * k), 1, -1.f, 1.f);
    fill_uniform(w, (size_t)(n * k), 2, -1.f, 1.f);
    if (wb) {
        /* The reference uses the rounded weights, so the check measures the kernel, not the rounding. */
        for (int64_t i = 0; i < n * k; i++) {
            wb[i] = f32_to_bf16(w[i]);
            w[i] = bf16_to_f32(wb[i]);
        }
    }
    if ((st = dev_alloc(env, (uint64_t)(m * k) * 4, &bx)) != DIO_OK ||
        (st = dev_alloc(env, (uint64_t)(n * k) * wsize, &bw)) != DIO_OK ||
        (st = dev_alloc(env, (uint64_t)(m * n) * 4, &by)) != DIO_OK ||
        (st = dev_upload(env, bx, x, (uint64_t)(m * k) * 4)) != DIO_OK ||
        (st = dev_upload(env, bw, wb ? (const void *)wb : (const void *)w, (uint64_t)(n * k) * wsize)) !=
            DIO_OK) {
        set_status(&r, "error", dio_last_error());
        goto done;
    }
    {
        int64_t sx[2] = {m, k}, sw[2] = {n, k}, sy[2] = {m, n};
        dio_tensor_init(&tx, DIO_DTYPE_F32, 2, sx, bx, 0);
        dio_tensor_init(&tw, wdtype, 2, sw, bw, 0);
        dio_tensor_init(&ty, DIO_DTYPE_F32, 2, sy, by, 0);
    }
    {
        const dio_tensor *in[3] = {&tx, &tw, NULL};
        const dio_tensor *out[1] = {&ty};
        dio_matmul_params p = {(uint32_t)sizeof(p), 0, 1, 1.f, 0.f};
        dio_op_call call = {(uint32_t)sizeof(call), DIO_OP_MATMUL, 3, 1, in, out, &p};
        if ((st = env->ref.iface->supports_op(env->ref.ctx, &call)) != DIO_OK) {
            set_status(&r, st == DIO_ERR_NOT_SUPPORTED ? "skipped" : "error", dio_last_error());
            goto done;
        }
        if ((st = time_call(env, &call, &r.tm)) != DIO_OK) {
            set_status(&r, "error", dio_last_error());
            r.tm.n = 0;
            goto done;
        }
    }
    if ((st = dev_download(env, by, y, (uint64_t)(m * n) * 4)) != DIO_OK) {
        set_status(&r, "error", dio_last_error());
        goto done;
    }
    {
        double worst = 0;
        for (int t = 0; t < 16; t++) {
            int64_t i = ((int64_t)t * 2654435761ll) % m, j = ((int64_t)t * 40503ll + 17) % n;
            double ref = 0, mag = 0;
            for (int64_t q = 0; q < k; q++) {
                double v = (double)x[i * k + q] * (double)w[j * k + q];
                ref += v;
                mag += fabs(v);
            }
            double e = fabs((double)y[i * n + j] - ref) / (mag > 0 ? mag : 1);
            if (!(e <= worst)) worst = e; /* NaN propagates */
        }
        r.check_err = worst;
        if (!(worst <= 1e-4)) r.status = "check_failed";
    }
done:
    report(env, &r);
    dev_free(env, bx);
    dev_free(env, bw);
    dev_free(env, by);
    free(x);
    free(w);
    free(y);
    free(wb);
}

/* ---- attention: non-causal, Q/K/V/O either [B,L,H,D] storage seen as [B,H,L,D] views, or contiguous ---- */

static void bench_attention(bench_env *env, const char *name, int64_t b, int64_t h, int64_t l, int64_t d,
                            int permuted)
{
    static char shape[96];
    case_result r;
    size_t count = (size_t)(b * h * l * d);
    float *q = NULL, *k = NULL, *v = NULL, *o = NULL;
    dio_buffer *bq = NULL, *bk = NULL, *bv = NULL, *bo = NULL;
    dio_tensor tq, tk, tv, to;
    dio_status st;
    snprintf(shape, sizeof(shape), "B%lld H%lld L%lld D%lld %s", (long long)b, (long long)h, (long long)l,
             (long long)d, permuted ? "[B,L,H,D] view" : "[B,H,L,D] contig");
    case_init(&r, name, "attention", shape, 4.0 * (double)b * (double)h * (double)l * (double)l * (double)d);
    if (!selected(env, name)) return;

    q = malloc(count * sizeof(float));
    k = malloc(count * sizeof(float));
    v = malloc(count * sizeof(float));
    o = malloc(count * sizeof(float));
    if (!q || !k || !v || !o) {
        set_status(&r, "error", "out of host memory");
        goto done;
    }
    /* Wider q/k than v so the softmax is far from uniform and a wrong kernel shows. */
    fill_uniform(q, count, 3, -2.f, 2.f);
    fill_uniform(k, count, 4, -2.f, 2.f);
    fill_uniform(v, count, 5, -1.f, 1.f);
    if ((st = dev_alloc(env, count * 4, &bq)) != DIO_OK || (st = dev_alloc(env, count * 4, &bk)) != DIO_OK ||
        (st = dev_alloc(env, count * 4, &bv)) != DIO_OK || (st = dev_alloc(env, count * 4, &bo)) != DIO_OK ||
        (st = dev_upload(env, bq, q, count * 4)) != DIO_OK ||
        (st = dev_upload(env, bk, k, count * 4)) != DIO_OK ||
        (st = dev_upload(env, bv, v, count * 4)) != DIO_OK) {
        set_status(&r, "error", dio_last_error());
        goto done;
    }
    {
        int64_t sh[4] = {b, h, l, d};
        dio_tensor *ts[4] = {&tq, &tk, &tv, &to};
        dio_buffer *bs[4] = {bq, bk, bv, bo};
        for (int i = 0; i < 4; i++) {
            dio_tensor_init(ts[i], DIO_DTYPE_F32, 4, sh, bs[i], 0);
            if (permuted) { /* storage [B, L, H, D] */
                ts[i]->stride[0] = l * h * d;
                ts[i]->stride[1] = d;
                ts[i]->stride[2] = h * d;
                ts[i]->stride[3] = 1;
            }
        }
    }
    {
        const dio_tensor *in[4] = {&tq, &tk, &tv, NULL};
        const dio_tensor *out[1] = {&to};
        dio_attention_params p = {(uint32_t)sizeof(p), 0.f, 0};
        dio_op_call call = {(uint32_t)sizeof(call), DIO_OP_ATTENTION, 4, 1, in, out, &p};
        if ((st = env->ref.iface->supports_op(env->ref.ctx, &call)) != DIO_OK) {
            set_status(&r, st == DIO_ERR_NOT_SUPPORTED ? "skipped" : "error", dio_last_error());
            goto done;
        }
        if ((st = time_call(env, &call, &r.tm)) != DIO_OK) {
            set_status(&r, "error", dio_last_error());
            r.tm.n = 0;
            goto done;
        }
    }
    if ((st = dev_download(env, bo, o, count * 4)) != DIO_OK) {
        set_status(&r, "error", dio_last_error());
        goto done;
    }
    {
        /* A few query rows in float64: o = softmax(q·kᵀ/√d) v. */
        int64_t s0 = permuted ? l * h * d : h * l * d, s1 = permuted ? d : l * d, s2 = permuted ? h * d : d;
        double scale = 1.0 / sqrt((double)d), worst = 0, vmax = 0;
        double *p = malloc((size_t)l * sizeof(double)), *ref = malloc((size_t)d * sizeof(double));
        if (!p || !ref) {
            free(p);
            free(ref);
            goto done;
        }
        for (int t = 0; t < 6; t++) {
            int64_t bi = t % b, hi = (t * 5 + 1) % h, li = ((int64_t)t * 1237 + 7) % l;
            const float *qr = q + bi * s0 + hi * s1 + li * s2;
            double mx = -INFINITY, sum = 0;
            for (int64_t j = 0; j < l; j++) {
                const float *kr = k + bi * s0 + hi * s1 + j * s2;
                double dot = 0;
                for (int64_t c = 0; c < d; c++) dot += (double)qr[c] * (double)kr[c];
                p[j] = dot * scale;
                if (p[j] > mx) mx = p[j];
            }
            for (int64_t j = 0; j < l; j++) sum += (p[j] = exp(p[j] - mx));
            for (int64_t c = 0; c < d; c++) ref[c] = 0;
            for (int64_t j = 0; j < l; j++) {
                const float *vr = v + bi * s0 + hi * s1 + j * s2;
                for (int64_t c = 0; c < d; c++) ref[c] += p[j] / sum * (double)vr[c];
            }
            for (int64_t c = 0; c < d; c++) {
                double e = fabs((double)o[bi * s0 + hi * s1 + li * s2 + c] - ref[c]);
                if (!(e <= worst)) worst = e;
                if (fabs(ref[c]) > vmax) vmax = fabs(ref[c]);
            }
        }
        free(p);
        free(ref);
        r.check_err = worst / (vmax > 0 ? vmax : 1);
        if (!(r.check_err <= 1e-3)) r.status = "check_failed";
    }
done:
    report(env, &r);
    dev_free(env, bq);
    dev_free(env, bk);
    dev_free(env, bv);
    dev_free(env, bo);
    free(q);
    free(k);
    free(v);
    free(o);
}

/* ---- main ---- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bench_ops [options] PLUGIN_DIR\n"
            "  --backend NAME   backend to open (default cpu)\n"
            "  --threads N      threads for the backend and the sgemm ceiling (default: OpenMP's)\n"
            "  --warmup N       untimed calls before timing (default 2)\n"
            "  --reps N         timed calls; best and median reported (default 5, at most %d)\n"
            "  --only TEXT      run only the cases whose name contains TEXT\n"
            "  --quick          small shapes (L = 1024), to check the program runs\n",
            BENCH_MAX_REPS);
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
    char *end = NULL;
    long v;
    if (!s) return 0;
    v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi) return 0;
    *out = (int)v;
    return 1;
}

static int parse_args(int argc, char **argv, bench_opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--backend") == 0 && next) {
            o->backend = next;
            i++;
        } else if (strcmp(a, "--threads") == 0) {
            if (!parse_int(next, 1, 4096, &o->threads)) return 0;
            i++;
        } else if (strcmp(a, "--warmup") == 0) {
            if (!parse_int(next, 0, 100, &o->warmup)) return 0;
            i++;
        } else if (strcmp(a, "--reps") == 0) {
            if (!parse_int(next, 1, BENCH_MAX_REPS, &o->reps)) return 0;
            i++;
        } else if (strcmp(a, "--only") == 0 && next) {
            o->only = next;
            i++;
        } else if (strcmp(a, "--quick") == 0) {
            o->quick = 1;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            return -1;
        } else if (a[0] != '-' && !o->plugin_dir) {
            o->plugin_dir = a;
        } else {
            return 0;
        }
    }
    return o->plugin_dir != NULL;
}

int main(int argc, char **argv)
{
    bench_opts opts = {NULL, "cpu", NULL, 0, 2, 5, 0};
    bench_env env;
    dio_context *ctx = NULL;
    dio_context_options co;
    const char *dirs[1];
    char threads_str[16];
    dio_kv kv[1];
    size_t n_kv = 0;
    dio_device_props props;
    struct rusage ru;
    int64_t tokens, width = 1024, heads = 16, head_dim = 64;
    int rc = 0;

    switch (parse_args(argc, argv, &opts)) {
    case 1: break;
    case -1: usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
    tokens = opts.quick ? 1024 : 4096;
    memset(&env, 0, sizeof(env));
    env.opts = &opts;

    /* One thread count for everything in this process: the backend's OpenMP pool, oneDNN's sgemm. */
    if (opts.threads > 0) {
        omp_set_num_threads(opts.threads);
        snprintf(threads_str, sizeof(threads_str), "%d", opts.threads);
        kv[0].key = "threads";
        kv[0].value = threads_str;
        n_kv = 1;
    }

    memset(&co, 0, sizeof(co));
    co.struct_size = (uint32_t)sizeof(co);
    co.no_env = 1;
    co.no_default_dirs = 1;
    dirs[0] = opts.plugin_dir;
    co.plugin_dirs = dirs;
    co.n_plugin_dirs = 1;
    if (dio_context_create(&co, &ctx) != DIO_OK) {
        fprintf(stderr, "bench_ops: cannot load plugins from %s: %s\n", opts.plugin_dir, dio_last_error());
        return 1;
    }
    if (dio_backend_open(ctx, opts.backend, kv, n_kv, &env.backend) != DIO_OK) {
        fprintf(stderr, "bench_ops: cannot open backend %s: %s\n", opts.backend, dio_last_error());
        dio_context_destroy(ctx);
        return 1;
    }
    env.ref = dio_backend_get_ref(env.backend, 0);
    env.stream = dio_backend_default_stream(env.backend);
    if (!env.ref.iface || !env.stream) {
        fprintf(stderr, "bench_ops: backend %s has no table or no default stream\n", opts.backend);
        dio_backend_close(env.backend);
        dio_context_destroy(ctx);
        return 1;
    }
    memset(&props, 0, sizeof(props));
    props.struct_size = (uint32_t)sizeof(props);
    if (env.ref.iface->device_props(env.ref.ctx, env.ref.device, &props) != DIO_OK)
        snprintf(props.name, sizeof(props.name), "?");

    printf("bench_ops: backend %s, device \"%s\", %d OpenMP threads, warm-up %d, best/median of %d%s\n",
           dio_backend_name(env.backend), props.name, omp_get_max_threads(), opts.warmup, opts.reps,
           opts.quick ? ", QUICK shapes" : "");
    printf("  %-26s %-34s %9s %9s %9s %8s %7s\n", "case", "shape", "best ms", "median ms", "GFLOP/s", "%ceil",
           "others");

    bench_sgemm_ceiling(&env, opts.quick ? 1024 : 2048);

    {
        static const struct {
            const char *stem;
            int64_t k_mul, n_mul;
        } lin[3] = {{"linear_qkvo", 1, 1}, {"linear_mlp_up", 1, 4}, {"linear_mlp_down", 4, 1}};
        static const int32_t wdt[2] = {DIO_DTYPE_F32, DIO_DTYPE_BF16};
        char name[64];
        for (int t = 0; t < 2; t++)
            for (int i = 0; i < 3; i++) {
                snprintf(name, sizeof(name), "%s_%sw", lin[i].stem, dio_dtype_name(wdt[t]));
                bench_linear(&env, name, tokens, width * lin[i].k_mul, width * lin[i].n_mul, wdt[t]);
            }
    }
    bench_attention(&env, "attention_blhd_view", 1, heads, tokens, head_dim, 1);
    bench_attention(&env, "attention_bhld_contig", 1, heads, tokens, head_dim, 0);

    if (getrusage(RUSAGE_SELF, &ru) == 0)
        printf("{\"bench\":\"diorama\",\"case\":\"_process\",\"max_rss_mib\":%.1f,\"threads\":%d}\n",
               (double)ru.ru_maxrss / 1024.0, omp_get_max_threads());

    dio_backend_close(env.backend);
    dio_context_destroy(ctx);
    if (env.n_failed) {
        printf("bench_ops: %d case(s) errored or failed their spot check\n", env.n_failed);
        rc = 1;
    }
    return rc;
}

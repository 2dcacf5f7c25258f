/* bench_dit — times the cosmos-dit component's forward on a backend, for bench/run_dit.sh to set beside
 * diffusers' CosmosTransformer3DModel (bench/torch_dit.py) run on the same machine, in the same run, on
 * the same weights file and inputs.
 *
 * The program is an application of libdiorama like any other: it loads the plugins from the directory
 * given, opens the backend (with `threads`, and the process's OpenMP pool set to the same count), opens
 * the diffusers safetensors file written by torch_dit.py gen, creates "cosmos-dit" in mode diffusers,
 * uploads the five inputs from the inputs file torch_dit.py wrote, and runs W untimed then N timed
 * forwards (dio_component_run returns when the output is ready). The output of the last forward is
 * compared with the PyTorch output (--ref): max abs error over max |ref| and relative L2 error; when the
 * check fails (or the reference is missing), no time is posted (status "failed"), so a broken run cannot
 * show a fast time. One JSON line (starting with '{') carries the result, including the peak RSS.
 *
 * --memory: one forward only, no reference; prints RSS after create (weights are mmap'd and wrapped
 * zero-copy, so this is mostly untouched mappings), the peak RSS of the process after the forward, the
 * weights file's size, and the arena size computed from dit_forward.c's plan() (restated in arena_plan
 * below), as a "dit_memory" JSON line for torch_dit.py project.
 *
 * usage: bench_dit [--threads N] [--warmup N] [--reps N] [--dtype f32|bf16] [--tol X] [--ref FILE]
 *                  [--memory] --weights FILE --inputs FILE [--label TEXT] PLUGIN_DIR */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <omp.h>

#include "diorama/diorama.h"

#define MAX_REPS 50

typedef struct opts {
    const char *plugin_dir, *weights, *inputs, *ref, *dtype, *label;
    int threads, warmup, reps, memory;
    double tol; /* < 0: the default for the weights' dtype */
} opts;

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
    return (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / (double)hz;
}

static double self_cpu_s(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_sec +
           1e-6 * (double)ru.ru_stime.tv_usec;
}

static double peak_rss_mib(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? (double)ru.ru_maxrss / 1024.0 : NAN;
}

/* Current resident set (VmRSS) in MiB, from /proc/self/status. */
static double cur_rss_mib(void)
{
    char line[256];
    double v = NAN;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return NAN;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "VmRSS:", 6) == 0) {
            v = strtod(line + 6, NULL) / 1024.0;
            break;
        }
    fclose(f);
    return v;
}

/* Shape of a named weight; 0 when present. */
static int wshape(const dio_weights *w, const char *name, int64_t *s0, int64_t *s1)
{
    dio_weight_info i;
    i.struct_size = sizeof(i);
    if (dio_weights_find(w, name, &i) != DIO_OK) return 1;
    *s0 = i.shape[0];
    *s1 = i.ndim > 1 ? i.shape[1] : 1;
    return 0;
}

static uint64_t align_up(uint64_t x)
{
    return (x + 255u) & ~(uint64_t)255u;
}

/* dit_forward.c plan() restated (B = 1, one timestep group, text in the activation dtype when equal):
 * the arena's total bytes for N tokens, text length L, activation element size ea (et: the time path). */
static uint64_t arena_plan(int64_t N, int64_t L, int64_t D, int64_t head_dim, int64_t mlp, int64_t text_dim,
                           int64_t text_in, int64_t lora, uint64_t ea, uint64_t et, int text_same_dtype)
{
    const uint64_t F = 18 * 4, Fo = 16 * 4; /* (16 + cond + pad) x 1x2x2, 16 x 1x2x2 */
    uint64_t n = (uint64_t)N, l = (uint64_t)L, d = (uint64_t)D, sz[24], at = 0, scratch;
    int k = 0;
    scratch = n * (uint64_t)mlp * ea;
    if (scratch < 2 * n * F * ea) scratch = 2 * n * F * ea;
    if (scratch < n * (2 * d + 2 * Fo) * 4) scratch = n * (2 * d + 2 * Fo) * 4;
    sz[k++] = 16;
    for (int i = 0; i < 6; i++) sz[k++] = n * d * ea;
    sz[k++] = scratch;
    sz[k++] = text_same_dtype ? 0 : l * (uint64_t)text_in * ea;
    sz[k++] = l * (uint64_t)text_dim * ea;
    for (int i = 0; i < 3; i++) sz[k++] = l * d * ea;
    sz[k++] = d * 4;
    for (int i = 0; i < 4; i++) sz[k++] = d * et;
    sz[k++] = 3 * d * et;
    sz[k++] = (uint64_t)lora * et;
    sz[k++] = 3 * d * et;
    sz[k++] = 3 * d * ea;
    sz[k++] = n * (uint64_t)head_dim * 4;
    sz[k++] = n * (uint64_t)head_dim * 4;
    for (int i = 0; i < k; i++) at = align_up(at + sz[i]);
    return at;
}

static int parse_args(int argc, char **argv, opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--memory")) {
            o->memory = 1;
            continue;
        }
        if (a[0] != '-') {
            o->plugin_dir = a;
            continue;
        }
        if (!next) return 0;
        i++;
        if (!strcmp(a, "--threads")) o->threads = atoi(next);
        else if (!strcmp(a, "--warmup")) o->warmup = atoi(next);
        else if (!strcmp(a, "--reps")) o->reps = atoi(next);
        else if (!strcmp(a, "--dtype")) o->dtype = next;
        else if (!strcmp(a, "--tol")) o->tol = atof(next);
        else if (!strcmp(a, "--ref")) o->ref = next;
        else if (!strcmp(a, "--weights")) o->weights = next;
        else if (!strcmp(a, "--inputs")) o->inputs = next;
        else if (!strcmp(a, "--label")) o->label = next;
        else return 0;
    }
    if (o->reps < 1 || o->reps > MAX_REPS || o->warmup < 0) return 0;
    return o->plugin_dir && o->weights && o->inputs;
}

int main(int argc, char **argv)
{
    static const char *const in_names[5] = {"in.hidden_states", "in.timestep", "in.encoder_hidden_states",
                                            "in.condition_mask", "in.padding_mask"};
    opts o = {NULL, NULL, NULL, NULL, "f32", "dit", 0, 1, 3, 0, -1};
    dio_context *ctx = NULL;
    dio_context_options co;
    dio_backend *be = NULL;
    dio_backend_ref r;
    dio_weights *w = NULL, *inf = NULL, *reff = NULL;
    dio_component *comp = NULL;
    dio_tensor t[5], oshape;
    const dio_tensor *ip[5], *op[1];
    dio_buffer *ibuf[5] = {0}, *obuf = NULL;
    float *host = NULL;
    double times[MAX_REPS], rss_created, t_fwd = 0, w0 = 0, b0 = 0, s0 = 0, other = NAN;
    char threads_str[16];
    dio_kv bkv[1], ckv[2];
    size_t n_bkv = 0;
    int rc = 1, wdt = -1;
    int64_t D = 0, dd, mlp = 0, head_dim = 0, text_dim = 0, text_in = 0, lora = 0, nblocks = 0, N, L;
    uint64_t obytes;
    struct stat sb;

    if (!parse_args(argc, argv, &o)) {
        fprintf(stderr, "usage: bench_dit [--threads N] [--warmup N] [--reps N] [--dtype f32|bf16] [--tol X] "
                        "[--ref FILE] [--memory] --weights FILE --inputs FILE [--label TEXT] PLUGIN_DIR\n");
        return 2;
    }
    if (o.threads > 0) {
        omp_set_num_threads(o.threads);
        snprintf(threads_str, sizeof(threads_str), "%d", o.threads);
        bkv[0] = (dio_kv){"threads", threads_str};
        n_bkv = 1;
    }
    memset(&co, 0, sizeof(co));
    co.struct_size = (uint32_t)sizeof(co);
    co.no_env = 1;
    co.no_default_dirs = 1;
    co.plugin_dirs = &o.plugin_dir;
    co.n_plugin_dirs = 1;
    if (dio_context_create(&co, &ctx) != DIO_OK || dio_backend_open(ctx, "cpu", bkv, n_bkv, &be) != DIO_OK) {
        fprintf(stderr, "bench_dit: context/backend: %s\n", dio_last_error());
        goto done;
    }
    r = dio_backend_get_ref(be, 0);
    if (dio_weights_open(o.weights, &w) != DIO_OK || dio_weights_open(o.inputs, &inf) != DIO_OK) {
        fprintf(stderr, "bench_dit: %s\n", dio_last_error());
        goto done;
    }
    /* The config, from the weights' shapes (for the printout and the arena plan). */
    for (int64_t i = 0; i < dio_weights_count(w); i++) {
        const char *nm;
        dio_weight_info wi;
        int b;
        wi.struct_size = sizeof(wi);
        if (dio_weights_at(w, i, &nm, &wi) != DIO_OK) continue;
        if (sscanf(nm, "transformer_blocks.%d.", &b) == 1 && b + 1 > nblocks) nblocks = b + 1;
        if (!strcmp(nm, "transformer_blocks.0.attn1.to_q.weight")) wdt = wi.dtype;
    }
    if (wshape(w, "transformer_blocks.0.attn1.to_q.weight", &D, &dd) ||
        wshape(w, "transformer_blocks.0.attn1.norm_q.weight", &head_dim, &dd) ||
        wshape(w, "transformer_blocks.0.ff.net.0.proj.weight", &mlp, &dd) ||
        wshape(w, "transformer_blocks.0.norm1.linear_1.weight", &lora, &dd) ||
        wshape(w, "crossattn_proj.0.weight", &text_dim, &text_in)) {
        fprintf(stderr, "bench_dit: %s is not a diffusers CosmosTransformer3DModel file\n", o.weights);
        goto done;
    }
    ckv[0] = (dio_kv){"mode", "diffusers"};
    ckv[1] = (dio_kv){"dtype", o.dtype};
    if (dio_component_create(ctx, be, "cosmos-dit", w, ckv, 2, &comp) != DIO_OK) {
        fprintf(stderr, "bench_dit: create: %s\n", dio_last_error());
        goto done;
    }
    rss_created = cur_rss_mib();
    for (int i = 0; i < 5; i++) {
        dio_weight_info wi;
        wi.struct_size = sizeof(wi);
        if (dio_weights_find(inf, in_names[i], &wi) != DIO_OK ||
            r.iface->buffer_alloc(r.ctx, 0, wi.nbytes, &ibuf[i]) != DIO_OK ||
            r.iface->buffer_upload(r.ctx, NULL, ibuf[i], 0, wi.data, wi.nbytes) != DIO_OK) {
            fprintf(stderr, "bench_dit: input %s: %s\n", in_names[i], dio_last_error());
            goto done;
        }
        dio_tensor_init(&t[i], wi.dtype, wi.ndim, wi.shape, ibuf[i], 0);
        ip[i] = &t[i];
    }
    /* The inputs now live in backend buffers: unmap the file so its pages leave the RSS. */
    dio_weights_close(inf);
    inf = NULL;
    N = t[0].shape[2] * (t[0].shape[3] / 2) * (t[0].shape[4] / 2);
    L = t[2].shape[1];
    if (dio_component_output_shapes(comp, ip, &oshape) != DIO_OK) {
        fprintf(stderr, "bench_dit: output_shapes: %s\n", dio_last_error());
        goto done;
    }
    obytes = (uint64_t)dio_tensor_numel(&oshape) * 4;
    if (r.iface->buffer_alloc(r.ctx, 0, obytes, &obuf) != DIO_OK || !(host = malloc(obytes))) goto done;
    dio_tensor_init(&oshape, DIO_DTYPE_F32, oshape.ndim, oshape.shape, obuf, 0);
    op[0] = &oshape;
    printf("bench_dit %s: %lld blocks x %lld (%lld heads of %lld), %s weights, %s activations, N = %lld tokens, "
           "text %lld x %lld, %d threads\n",
           o.label, (long long)nblocks, (long long)D, (long long)(D / head_dim), (long long)head_dim,
           wdt >= 0 ? dio_dtype_name(wdt) : "?", o.dtype, (long long)N, (long long)L, (long long)text_in,
           omp_get_max_threads());
    fflush(stdout);

    if (o.memory) {
        uint64_t ea = strcmp(o.dtype, "f32") ? 2 : 4;
        uint64_t arena = arena_plan(N, L, D, head_dim, mlp, text_dim, text_in, lora, ea, ea,
                                    t[2].dtype == (ea == 4 ? DIO_DTYPE_F32 : DIO_DTYPE_BF16));
        double t0 = now_s();
        if (dio_component_run(comp, ip, op) != DIO_OK) {
            fprintf(stderr, "bench_dit: run: %s\n", dio_last_error());
            goto done;
        }
        t_fwd = now_s() - t0;
        stat(o.weights, &sb);
        printf("  forward %.1f s, RSS after create %.0f MiB, peak RSS %.0f MiB, weights file %.0f MiB, arena "
               "(plan) %.0f MiB\n",
               t_fwd, rss_created, peak_rss_mib(), (double)sb.st_size / 1048576.0, (double)arena / 1048576.0);
        printf("{\"bench\":\"diorama\",\"case\":\"dit_memory\",\"label\":\"%s\",\"blocks\":%lld,\"width\":%lld,"
               "\"tokens\":%lld,\"text_len\":%lld,\"text_in\":%lld,\"act\":\"%s\",\"threads\":%d,"
               "\"forward_s\":%.3f,\"rss_created_mib\":%.1f,\"max_rss_mib\":%.1f,\"weights_mib\":%.1f,"
               "\"arena_mib\":%.1f}\n",
               o.label, (long long)nblocks, (long long)D, (long long)N, (long long)L, (long long)text_in, o.dtype,
               omp_get_max_threads(), t_fwd, rss_created, peak_rss_mib(), (double)sb.st_size / 1048576.0,
               (double)arena / 1048576.0);
        rc = 0;
        goto done;
    }

    for (int i = 0; i < o.warmup + o.reps; i++) {
        double t0 = now_s(), dt;
        if (dio_component_run(comp, ip, op) != DIO_OK) {
            fprintf(stderr, "bench_dit: run: %s\n", dio_last_error());
            goto done;
        }
        dt = now_s() - t0;
        if (i >= o.warmup) times[i - o.warmup] = dt;
        if (i + 1 == o.warmup) {
            w0 = now_s();
            b0 = machine_busy_s();
            s0 = self_cpu_s();
        }
        printf("  ours forward %d/%d: %.3f s%s\n", i + 1, o.warmup + o.reps, dt, i < o.warmup ? " (warm-up)" : "");
        fflush(stdout);
    }
    {
        /* % of the machine's CPU time other processes took while the timed forwards ran. */
        double w1 = now_s(), b1 = machine_busy_s(), s1 = self_cpu_s();
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        if (o.warmup > 0 && b0 >= 0 && b1 >= 0 && w1 > w0 && ncpu > 0)
            other = 100.0 * fmax(0.0, (b1 - b0) - (s1 - s0)) / ((w1 - w0) * (double)ncpu);
    }
    if (r.iface->buffer_download(r.ctx, NULL, obuf, 0, host, obytes) != DIO_OK) goto done;
    {
        dio_weight_info ri;
        double max_abs = 0, ref_max = 0, l2e = 0, l2r = 0, rel, rl2, tol, best, med;
        int ok = 0;
        const char *why = "";
        ri.struct_size = sizeof(ri);
        tol = o.tol >= 0 ? o.tol : (wdt == DIO_DTYPE_F32 && !strcmp(o.dtype, "f32") ? 1e-3 : 3e-2);
        qsort(times, (size_t)o.reps, sizeof(double), cmp_double);
        best = times[0];
        med = o.reps % 2 ? times[o.reps / 2] : 0.5 * (times[o.reps / 2 - 1] + times[o.reps / 2]);
        if (!o.ref || dio_weights_open(o.ref, &reff) != DIO_OK || dio_weights_find(reff, "out", &ri) != DIO_OK ||
            ri.dtype != DIO_DTYPE_F32 || ri.nbytes != obytes) {
            why = "no usable PyTorch reference";
            rel = rl2 = NAN;
        } else {
            const float *ref = ri.data;
            for (uint64_t k = 0; k < obytes / 4; k++) {
                double e = fabs((double)host[k] - ref[k]);
                if (!(e <= max_abs)) max_abs = isnan(e) ? INFINITY : e;
                if (fabs(ref[k]) > ref_max) ref_max = fabs(ref[k]);
                l2e += e * e;
                l2r += (double)ref[k] * ref[k];
            }
            rel = max_abs / (ref_max > 1e-30 ? ref_max : 1e-30);
            rl2 = sqrt(l2e / (l2r > 1e-30 ? l2r : 1e-30));
            /* f32: max abs relative to the largest magnitude; bf16: relative L2 (as tests/dit does). */
            ok = (wdt == DIO_DTYPE_F32 && !strcmp(o.dtype, "f32")) ? rel <= tol : rl2 <= tol;
            if (!ok) why = "outputs disagree with PyTorch";
        }
        if (ok) {
            printf("  ours: best %.3f s, median %.3f s; vs PyTorch: max abs err / max |ref| %.3g, rel L2 %.3g "
                   "(tol %.1g); peak RSS %.0f MiB; others %.0f%%\n",
                   best, med, rel, rl2, tol, peak_rss_mib(), other);
            printf("{\"bench\":\"diorama\",\"case\":\"dit_forward\",\"label\":\"%s\",\"status\":\"ok\","
                   "\"weights\":\"%s\",\"act\":\"%s\",\"threads\":%d,\"warmup\":%d,\"reps\":%d,\"best_s\":%.6f,"
                   "\"median_s\":%.6f,\"max_rel_err\":%.4g,\"rel_l2_err\":%.4g,\"tol\":%.3g,"
                   "\"max_rss_mib\":%.1f,\"other_cpu_pct\":%.1f,\"tokens\":%lld,\"blocks\":%lld,\"width\":%lld}\n",
                   o.label, dio_dtype_name(wdt), o.dtype, omp_get_max_threads(), o.warmup, o.reps, best, med, rel,
                   rl2, tol, peak_rss_mib(), isnan(other) ? -1.0 : other, (long long)N, (long long)nblocks, (long long)D);
            rc = 0;
        } else {
            printf("  ours: FAILED (%s): max abs err / max |ref| %.3g, rel L2 %.3g (tol %.1g); no time posted\n",
                   why, rel, rl2, tol);
            printf("{\"bench\":\"diorama\",\"case\":\"dit_forward\",\"label\":\"%s\",\"status\":\"failed\","
                   "\"why\":\"%s\",\"max_rel_err\":%.4g,\"rel_l2_err\":%.4g}\n",
                   o.label, why, rel, rl2);
        }
    }
done:
    free(host);
    if (be) {
        dio_backend_ref rr = dio_backend_get_ref(be, 0);
        if (obuf) rr.iface->buffer_free(rr.ctx, obuf);
        for (int i = 0; i < 5; i++)
            if (ibuf[i]) rr.iface->buffer_free(rr.ctx, ibuf[i]);
    }
    dio_component_destroy(comp);
    dio_weights_close(reff);
    dio_weights_close(inf);
    dio_weights_close(w);
    if (be) dio_backend_close(be);
    if (ctx) dio_context_destroy(ctx);
    return rc;
}

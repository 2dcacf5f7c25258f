/* bench_vae — times wan-vae-decoder on the CPU backend, for bench/run_vae.sh to set beside diffusers'
 * AutoencoderKLWan (bench/torch_vae.py) on the same weights, latents and thread count, and measures the
 * process's peak memory of a (tiled) decode.
 *
 * Design: the program sees the VAE only through libdiorama, as an application would: it opens the
 * weights written by torch_vae.py, creates the component with the given tiling parameters, uploads the
 * latents (from --inputs, key "z", or with --latent T,h,w a deterministic pseudo-random latent made here,
 * for sizes torch is not run on), times W warm-up and N timed runs, and checks the output against
 * torch's ("out" in --ref) when given: max abs and relative L2 difference. Memory: peak RSS (getrusage)
 * minus the RSS once the component exists and the latents, the output buffer and its host copy are
 * resident (the baseline). The CPU backend uses the mmap'd f32 weights in place and they fault in during
 * the first run, so "decode_peak_mib" holds the weights' pages too, besides the activations, caches and
 * tile rows. One JSON line goes to
 * stdout, the rest is for people. usage: bench_vae [--threads N] [--warmup N] [--reps N] [--ref FILE]
 * [--inputs FILE | --latent T,h,w]
 *                  [--tiling auto|on|off] [--tile-size PX] [--tile-overlap PX] --weights FILE PLUGIN_DIR */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <omp.h>

#include "diorama/diorama.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double peak_rss_mib(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? (double)ru.ru_maxrss / 1024.0 : NAN;
}

static double cur_rss_mib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, rss = 0;
    if (!f) return NAN;
    if (fscanf(f, "%ld %ld", &pages, &rss) != 2) rss = 0;
    fclose(f);
    return (double)rss * 4096.0 / 1048576.0;
}

int main(int argc, char **argv)
{
    const char *weights = NULL, *inputs = NULL, *ref = NULL, *latent = NULL, *plugin_dir = NULL;
    const char *tiling = "auto", *tsize = "256", *tover = "64";
    int threads = 0, warmup = 0, reps = 1, rc = 1;
    dio_context *ctx = NULL;
    dio_context_options co;
    dio_backend *be = NULL;
    dio_backend_ref r = {0};
    dio_weights *w = NULL, *inf = NULL, *reff = NULL;
    dio_component *comp = NULL;
    dio_buffer *ibuf = NULL, *obuf = NULL;
    dio_tensor zt, ot;
    float *zhost = NULL, *host = NULL;
    char threads_str[16];
    dio_kv bkv[1], ckv[3];
    double best = INFINITY, rss0, max_abs = NAN, rel = NAN;
    int64_t zs[5] = {1, 16, 5, 32, 32};
    uint64_t obytes;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (a[0] != '-') {
            plugin_dir = a;
            continue;
        }
        if (!next) goto usage;
        if (!strcmp(a, "--threads"))
            threads = atoi(next);
        else if (!strcmp(a, "--warmup"))
            warmup = atoi(next);
        else if (!strcmp(a, "--reps"))
            reps = atoi(next);
        else if (!strcmp(a, "--weights"))
            weights = next;
        else if (!strcmp(a, "--inputs"))
            inputs = next;
        else if (!strcmp(a, "--ref"))
            ref = next;
        else if (!strcmp(a, "--latent"))
            latent = next;
        else if (!strcmp(a, "--tiling"))
            tiling = next;
        else if (!strcmp(a, "--tile-size"))
            tsize = next;
        else if (!strcmp(a, "--tile-overlap"))
            tover = next;
        else
            goto usage;
        i++;
    }
    if (!weights || !plugin_dir || (!inputs && !latent) || reps < 1) goto usage;
    if (threads > 0) {
        omp_set_num_threads(threads);
        snprintf(threads_str, sizeof(threads_str), "%d", threads);
    }
    bkv[0] = (dio_kv){"threads", threads_str};
    memset(&co, 0, sizeof(co));
    co.struct_size = (uint32_t)sizeof(co);
    co.no_env = 1;
    co.no_default_dirs = 1;
    co.plugin_dirs = &plugin_dir;
    co.n_plugin_dirs = 1;
    if (dio_context_create(&co, &ctx) != DIO_OK ||
        dio_backend_open(ctx, "cpu", bkv, threads > 0 ? 1 : 0, &be) != DIO_OK ||
        dio_weights_open(weights, &w) != DIO_OK) {
        fprintf(stderr, "bench_vae: %s\n", dio_last_error());
        goto done;
    }
    r = dio_backend_get_ref(be, 0);
    ckv[0] = (dio_kv){"tiling", tiling};
    ckv[1] = (dio_kv){"tile_size", tsize};
    ckv[2] = (dio_kv){"tile_overlap", tover};
    if (dio_component_create(ctx, be, "wan-vae-decoder", w, ckv, 3, &comp) != DIO_OK) {
        fprintf(stderr, "bench_vae: create: %s\n", dio_last_error());
        goto done;
    }
    if (latent) {
        long long T, h, wd;
        uint32_t seed = 7;
        int64_t n;
        if (sscanf(latent, "%lld,%lld,%lld", &T, &h, &wd) != 3) goto usage;
        zs[2] = T, zs[3] = h, zs[4] = wd;
        n = 16 * T * h * wd;
        if (!(zhost = malloc(sizeof(float) * (size_t)n))) goto done;
        for (int64_t i = 0; i < n; i++) {
            seed = seed * 1664525u + 1013904223u;
            zhost[i] = (float)((double)(seed >> 8) / 16777216.0 * 4.0 - 2.0);
        }
    } else {
        dio_weight_info wi;
        wi.struct_size = sizeof(wi);
        if (dio_weights_open(inputs, &inf) != DIO_OK || dio_weights_find(inf, "z", &wi) != DIO_OK ||
            wi.dtype != DIO_DTYPE_F32 || wi.ndim != 5) {
            fprintf(stderr, "bench_vae: %s has no f32 5D \"z\"\n", inputs);
            goto done;
        }
        memcpy(zs, wi.shape, sizeof(zs));
        if (!(zhost = malloc(wi.nbytes))) goto done;
        memcpy(zhost, wi.data, wi.nbytes);
    }
    if (r.iface->buffer_alloc(r.ctx, 0, (uint64_t)(zs[1] * zs[2] * zs[3] * zs[4]) * 4, &ibuf) != DIO_OK ||
        r.iface->buffer_upload(r.ctx, NULL, ibuf, 0, zhost, (uint64_t)(zs[1] * zs[2] * zs[3] * zs[4]) * 4) !=
            DIO_OK) {
        fprintf(stderr, "bench_vae: latents: %s\n", dio_last_error());
        goto done;
    }
    free(zhost);
    zhost = NULL;
    dio_tensor_init(&zt, DIO_DTYPE_F32, 5, zs, ibuf, 0);
    {
        const dio_tensor *ip[1] = {&zt};
        if (dio_component_output_shapes(comp, ip, &ot) != DIO_OK) {
            fprintf(stderr, "bench_vae: %s\n", dio_last_error());
            goto done;
        }
    }
    obytes = (uint64_t)dio_tensor_numel(&ot) * 4;
    if (r.iface->buffer_alloc(r.ctx, 0, obytes, &obuf) != DIO_OK) goto done;
    dio_tensor_init(&ot, DIO_DTYPE_F32, 5, ot.shape, obuf, 0);
    /* touch the output so its pages count in the baseline, not in the decode's peak */
    if (!(host = malloc(obytes))) goto done;
    memset(host, 0, obytes); /* resident now, so the download copy is in the baseline too */
    if (r.iface->buffer_upload(r.ctx, NULL, obuf, 0, host, obytes) != DIO_OK) goto done;
    rss0 = cur_rss_mib();
    fprintf(
        stderr,
        "bench_vae: latent [16, %lld, %lld, %lld] -> [3, %lld, %lld, %lld], tiling %s %s/%s, %d threads\n",
        (long long)zs[2], (long long)zs[3], (long long)zs[4], (long long)ot.shape[2], (long long)ot.shape[3],
        (long long)ot.shape[4], tiling, tsize, tover, omp_get_max_threads());
    for (int i = 0; i < warmup + reps; i++) {
        const dio_tensor *ip[1] = {&zt}, *op[1] = {&ot};
        double t0 = now_s(), dt;
        if (dio_component_run(comp, ip, op) != DIO_OK) {
            fprintf(stderr, "bench_vae: run: %s\n", dio_last_error());
            goto done;
        }
        dt = now_s() - t0;
        fprintf(stderr, "bench_vae: run %d: %.3f s\n", i, dt);
        if (i >= warmup && dt < best) best = dt;
    }
    if (r.iface->buffer_download(r.ctx, NULL, obuf, 0, host, obytes) != DIO_OK) goto done;
    if (ref) {
        dio_weight_info ri;
        ri.struct_size = sizeof(ri);
        if (dio_weights_open(ref, &reff) != DIO_OK || dio_weights_find(reff, "out", &ri) != DIO_OK ||
            ri.nbytes != obytes || ri.dtype != DIO_DTYPE_F32) {
            fprintf(stderr, "bench_vae: reference %s does not match the output\n", ref);
            goto done;
        }
        {
            double e2 = 0, r2 = 0;
            const float *rf = ri.data;
            max_abs = 0;
            for (uint64_t i = 0; i < obytes / 4; i++) {
                double d = fabs((double)host[i] - rf[i]);
                if (!(d <= max_abs)) max_abs = isnan(d) ? INFINITY : d;
                e2 += d * d;
                r2 += (double)rf[i] * rf[i];
            }
            rel = sqrt(e2 / (r2 > 0 ? r2 : 1));
        }
    }
    printf("{\"side\":\"ours\",\"case\":\"vae_decode\",\"latent\":[%lld,%lld,%lld],\"out\":[%lld,%lld,%lld],"
           "\"tiling\":\"%s\",\"tile_size\":%s,\"tile_overlap\":%s,\"threads\":%d,\"best_s\":%.4f,"
           "\"rss_base_mib\":%.1f,\"peak_rss_mib\":%.1f,\"decode_peak_mib\":%.1f,\"max_abs\":%.4g,\"rel_l2\":"
           "%.4g}\n",
           (long long)zs[2], (long long)zs[3], (long long)zs[4], (long long)ot.shape[2],
           (long long)ot.shape[3], (long long)ot.shape[4], tiling, tsize, tover, omp_get_max_threads(), best,
           rss0, peak_rss_mib(), peak_rss_mib() - rss0 - (double)obytes / 1048576.0, max_abs, rel);
    rc = 0;
done:
    if (ibuf) r.iface->buffer_free(r.ctx, ibuf);
    if (obuf) r.iface->buffer_free(r.ctx, obuf);
    free(zhost);
    free(host);
    dio_component_destroy(comp);
    if (reff) dio_weights_close(reff);
    if (inf) dio_weights_close(inf);
    if (w) dio_weights_close(w);
    if (be) dio_backend_close(be);
    if (ctx) dio_context_destroy(ctx);
    return rc;
usage:
    fprintf(stderr,
            "usage: bench_vae [--threads N] [--warmup N] [--reps N] [--ref FILE] [--inputs FILE | "
            "--latent T,h,w] [--tiling auto|on|off] [--tile-size PX] [--tile-overlap PX] --weights FILE "
            "PLUGIN_DIR\n");
    goto done;
}

/* bench_vae_memory — the peak memory of a tiled wan-vae-decoder run on the CPU backend at the real Wan 2.1
 * widths (base_dim 96, z_dim 16, dim_mult 1,2,4,4, 2 res blocks, temporal upsample in up_blocks 0 and 1),
 * without torch and without the released checkpoint.
 *
 * Weights: the decoder half (post_quant_conv + decoder.*, diffusers names, f32, 73.3 M parameters, 280
 * MiB) with random values (convs uniform with variance 1/fan_in, biases 0.02·U, gammas 1 + 0.1·U), written
 * once by a forked child to WORK_DIR/wan21_decoder_f32.safetensors (default /tmp/dio_vae_memory); the
 * decoder maps it read-only (zero-copy on the CPU backend), so its pages are file-backed.
 * Measurement (one decode per process): create the component, upload a pseudo-random latent
 * [1, 16, 1 + (F-1)/4, H/8, W/8] (uniform in [-2, 2)), allocate the [1, 3, F, H, W] f32 output and touch it;
 * then reset VmHWM (/proc/self/clear_refs "5") and decode. Reported (MiB):
 *   - anon_before: resident anonymous memory before the run (libraries, latent, output buffer);
 *   - hwm: VmHWM over the run (everything resident, the weights' file pages included);
 *   - file_after: RssFile after the run — the weight pages touched (all of them: every layer runs in the
 *     first chunk of the first tile) plus the libraries' text;
 *   - run_peak = hwm − file_after − anon_before: the run's own peak (activations, caches, oneDNN's
 *     per-call weight reorders, the rows of finished tiles); it is bounded below by the true anonymous peak
 *     only if fewer file pages were resident at the peak than at the end, which is not the case here;
 *   - besides_weights = hwm − file_after: the process without the weights (run_peak + anon_before).
 * The tile rows (two rows of unclamped tiles, all frames) are also computed: 2 · 3 · F · tile · W' · 4
 * bytes with W' the summed width of a row's tiles (1664 at 1280 wide: six of 256 and one of 128). One JSON
 * line on stdout, the rest on stderr. usage: bench_vae_memory [--threads N] [--frames F] [--size WxH]
 * [--tiling on|off|auto] [--tile PX]
 *                         [--overlap PX] [--work DIR] PLUGIN_DIR */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "diorama/diorama.h"

#define MAX_W 160

typedef struct wspec {
    char name[96];
    int32_t ndim;
    int64_t shape[5];
    int kind; /* 0 conv/linear weight, 1 bias, 2 gamma */
} wspec;

typedef struct wlist {
    wspec w[MAX_W];
    int n;
} wlist;

static void add(wlist *l, const char *name, int kind, int32_t ndim, int64_t a, int64_t b, int64_t c,
                int64_t d, int64_t e)
{
    wspec *s = &l->w[l->n++];
    int64_t sh[5] = {a, b, c, d, e};
    snprintf(s->name, sizeof(s->name), "%s", name);
    s->ndim = ndim;
    s->kind = kind;
    memcpy(s->shape, sh, sizeof(sh));
}

/* conv3d `p`.weight [o, i, k, k, k] (kt × ks × ks) and .bias [o] */
static void conv(wlist *l, const char *p, int64_t o, int64_t i, int64_t kt, int64_t ks)
{
    char n[96];
    snprintf(n, sizeof(n), "%s.weight", p);
    add(l, n, 0, 5, o, i, kt, ks, ks);
    snprintf(n, sizeof(n), "%s.bias", p);
    add(l, n, 1, 1, o, 0, 0, 0, 0);
}

static void resnet(wlist *l, const char *p, int64_t i, int64_t o)
{
    char n[96];
    snprintf(n, sizeof(n), "%s.norm1.gamma", p);
    add(l, n, 2, 4, i, 1, 1, 1, 0);
    snprintf(n, sizeof(n), "%s.conv1", p);
    conv(l, n, o, i, 3, 3);
    snprintf(n, sizeof(n), "%s.norm2.gamma", p);
    add(l, n, 2, 4, o, 1, 1, 1, 0);
    snprintf(n, sizeof(n), "%s.conv2", p);
    conv(l, n, o, o, 3, 3);
    if (i != o) {
        snprintf(n, sizeof(n), "%s.conv_shortcut", p);
        conv(l, n, o, i, 1, 1);
    }
}

/* The Wan 2.1 decoder under diffusers' names: dims 384, 384, 384, 192, 96 for base 96. */
static void decoder_specs(wlist *l, int64_t base, int64_t z)
{
    const int64_t dims[5] = {4 * base, 4 * base, 4 * base, 2 * base, base};
    char n[96];
    int64_t in;
    l->n = 0;
    conv(l, "post_quant_conv", z, z, 1, 1);
    conv(l, "decoder.conv_in", dims[0], z, 3, 3);
    resnet(l, "decoder.mid_block.resnets.0", dims[0], dims[0]);
    add(l, "decoder.mid_block.attentions.0.norm.gamma", 2, 3, dims[0], 1, 1, 0, 0);
    add(l, "decoder.mid_block.attentions.0.to_qkv.weight", 0, 4, 3 * dims[0], dims[0], 1, 1, 0);
    add(l, "decoder.mid_block.attentions.0.to_qkv.bias", 1, 1, 3 * dims[0], 0, 0, 0, 0);
    add(l, "decoder.mid_block.attentions.0.proj.weight", 0, 4, dims[0], dims[0], 1, 1, 0);
    add(l, "decoder.mid_block.attentions.0.proj.bias", 1, 1, dims[0], 0, 0, 0, 0);
    resnet(l, "decoder.mid_block.resnets.1", dims[0], dims[0]);
    in = dims[0];
    for (int b = 0; b < 4; b++) {
        int64_t o = dims[b + 1];
        for (int r = 0; r < 3; r++) {
            snprintf(n, sizeof(n), "decoder.up_blocks.%d.resnets.%d", b, r);
            resnet(l, n, r == 0 ? in : o, o);
        }
        if (b < 3) {
            snprintf(n, sizeof(n), "decoder.up_blocks.%d.upsamplers.0.resample.1.weight", b);
            add(l, n, 0, 4, o / 2, o, 3, 3, 0);
            snprintf(n, sizeof(n), "decoder.up_blocks.%d.upsamplers.0.resample.1.bias", b);
            add(l, n, 1, 1, o / 2, 0, 0, 0, 0);
            if (b < 2) {
                snprintf(n, sizeof(n), "decoder.up_blocks.%d.upsamplers.0.time_conv", b);
                conv(l, n, 2 * o, o, 3, 1);
            }
            in = o / 2;
        } else
            in = o;
    }
    add(l, "decoder.norm_out.gamma", 2, 4, dims[4], 1, 1, 1, 0);
    conv(l, "decoder.conv_out", 3, dims[4], 3, 3);
}

static int64_t numel(const wspec *s)
{
    int64_t n = 1;
    for (int32_t i = 0; i < s->ndim; i++) n *= s->shape[i];
    return n;
}

static uint32_t rng_state = 1;
static float urand(void) /* uniform in [-1, 1) */
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return (float)((double)(rng_state >> 8) / 8388608.0 - 1.0);
}

/* Writes the random decoder weights to `path`; 0 on success. */
static int write_weights(const char *path, const wlist *l)
{
    dio_named_tensor t[MAX_W];
    float *data[MAX_W] = {0};
    int rc = 1;
    for (int i = 0; i < l->n; i++) {
        const wspec *s = &l->w[i];
        int64_t n = numel(s), fan_in = s->ndim > 1 ? n / s->shape[0] : 1;
        float a = (float)sqrt(3.0 / (double)fan_in);
        if (!(data[i] = malloc(sizeof(float) * (size_t)n))) goto done;
        for (int64_t k = 0; k < n; k++)
            data[i][k] = s->kind == 0 ? a * urand() : s->kind == 1 ? 0.02f * urand() : 1.0f + 0.1f * urand();
        t[i].name = s->name;
        t[i].dtype = DIO_DTYPE_F32;
        t[i].ndim = s->ndim;
        memset(t[i].shape, 0, sizeof(t[i].shape));
        memcpy(t[i].shape, s->shape, sizeof(int64_t) * (size_t)s->ndim);
        t[i].data = data[i];
    }
    if (dio_safetensors_write(path, t, (size_t)l->n, NULL, 0) != DIO_OK) {
        fprintf(stderr, "bench_vae_memory: %s\n", dio_last_error());
        goto done;
    }
    rc = 0;
done:
    for (int i = 0; i < l->n; i++) free(data[i]);
    return rc;
}

/* A "Key:   N kB" field of /proc/self/status in MiB (NAN when absent). */
static double status_mib(const char *key)
{
    char line[256];
    size_t kl = strlen(key);
    double v = NAN;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return NAN;
    while (fgets(line, sizeof(line), f))
        if (!strncmp(line, key, kl) && line[kl] == ':') {
            v = strtod(line + kl + 1, NULL) / 1024.0;
            break;
        }
    fclose(f);
    return v;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    const char *plugin_dir = NULL, *work = "/tmp/dio_vae_memory", *tiling = "on", *tile = "256",
               *overlap = "64";
    int threads = 0, rc = 1;
    long long mmap_threshold = 0;
    struct mallinfo2 mi;
    long long frames = 5, W = 1280, H = 704;
    char path[4096], thr[16];
    struct stat sb;
    wlist *l = NULL;
    int64_t params = 0;
    dio_context *ctx = NULL;
    dio_context_options co;
    dio_backend *be = NULL;
    dio_backend_ref r = {0};
    dio_weights *w = NULL;
    dio_component *comp = NULL;
    dio_buffer *ibuf = NULL, *obuf = NULL;
    dio_tensor zt, ot;
    float *host = NULL;
    dio_kv bkv[1], ckv[3];
    double anon0, file0, hwm, file1, anon1, t0, dt, rows_mib;
    int64_t zs[5], n, obytes;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (a[0] != '-') {
            plugin_dir = a;
            continue;
        }
        if (!next) goto usage;
        if (!strcmp(a, "--threads"))
            threads = atoi(next);
        else if (!strcmp(a, "--frames"))
            frames = atoll(next);
        else if (!strcmp(a, "--size")) {
            if (sscanf(next, "%lldx%lld", &W, &H) != 2) goto usage;
        } else if (!strcmp(a, "--tiling"))
            tiling = next;
        else if (!strcmp(a, "--tile"))
            tile = next;
        else if (!strcmp(a, "--overlap"))
            overlap = next;
        else if (!strcmp(a, "--work"))
            work = next;
        else if (!strcmp(a, "--mmap-threshold"))
            mmap_threshold = atoll(next);
        else
            goto usage;
        i++;
    }
    if (!plugin_dir || frames < 1 || (frames - 1) % 4 || W % 8 || H % 8 || W < 8 || H < 8) goto usage;
    if (mmap_threshold > 0 && !mallopt(M_MMAP_THRESHOLD, (int)mmap_threshold)) {
        fprintf(stderr, "bench_vae_memory: mallopt(M_MMAP_THRESHOLD, %lld) refused\n", mmap_threshold);
        goto done;
    }
    if (!(l = calloc(1, sizeof(*l)))) goto done;
    decoder_specs(l, 96, 16);
    for (int i = 0; i < l->n; i++) params += numel(&l->w[i]);
    if (mkdir(work, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "bench_vae_memory: cannot create %s\n", work);
        goto done;
    }
    snprintf(path, sizeof(path), "%s/wan21_decoder_f32.safetensors", work);
    if (stat(path, &sb) != 0) { /* written by a child, so its buffers never count here */
        pid_t pid;
        int ws = 0;
        fprintf(stderr, "bench_vae_memory: writing %lld random parameters to %s\n", (long long)params, path);
        fflush(stderr);
        if ((pid = fork()) == 0) _exit(write_weights(path, l) ? 1 : 0);
        if (pid < 0 || waitpid(pid, &ws, 0) != pid || !WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
            fprintf(stderr, "bench_vae_memory: writing the weights failed\n");
            goto done;
        }
    }
    snprintf(thr, sizeof(thr), "%d", threads);
    bkv[0] = (dio_kv){"threads", thr};
    memset(&co, 0, sizeof(co));
    co.struct_size = (uint32_t)sizeof(co);
    co.no_env = 1;
    co.no_default_dirs = 1;
    co.plugin_dirs = &plugin_dir;
    co.n_plugin_dirs = 1;
    if (dio_context_create(&co, &ctx) != DIO_OK ||
        dio_backend_open(ctx, "cpu", bkv, threads > 0 ? 1 : 0, &be) != DIO_OK ||
        dio_weights_open(path, &w) != DIO_OK) {
        fprintf(stderr, "bench_vae_memory: %s\n", dio_last_error());
        goto done;
    }
    r = dio_backend_get_ref(be, 0);
    ckv[0] = (dio_kv){"tiling", tiling};
    ckv[1] = (dio_kv){"tile_size", tile};
    ckv[2] = (dio_kv){"tile_overlap", overlap};
    if (dio_component_create(ctx, be, "wan-vae-decoder", w, ckv, 3, &comp) != DIO_OK) {
        fprintf(stderr, "bench_vae_memory: create: %s\n", dio_last_error());
        goto done;
    }
    zs[0] = 1, zs[1] = 16, zs[2] = 1 + (frames - 1) / 4, zs[3] = H / 8, zs[4] = W / 8;
    n = zs[1] * zs[2] * zs[3] * zs[4];
    if (!(host = malloc(sizeof(float) * (size_t)n))) goto done;
    rng_state = 7;
    for (int64_t i = 0; i < n; i++) host[i] = 2.0f * urand();
    if (r.iface->buffer_alloc(r.ctx, 0, (uint64_t)n * 4, &ibuf) != DIO_OK ||
        r.iface->buffer_upload(r.ctx, NULL, ibuf, 0, host, (uint64_t)n * 4) != DIO_OK) {
        fprintf(stderr, "bench_vae_memory: latent: %s\n", dio_last_error());
        goto done;
    }
    free(host);
    host = NULL;
    dio_tensor_init(&zt, DIO_DTYPE_F32, 5, zs, ibuf, 0);
    {
        const dio_tensor *ip[1] = {&zt};
        if (dio_component_output_shapes(comp, ip, &ot) != DIO_OK) {
            fprintf(stderr, "bench_vae_memory: %s\n", dio_last_error());
            goto done;
        }
    }
    obytes = dio_tensor_numel(&ot) * 4;
    if (r.iface->buffer_alloc(r.ctx, 0, (uint64_t)obytes, &obuf) != DIO_OK ||
        !(host = calloc((size_t)obytes, 1)) ||
        r.iface->buffer_upload(r.ctx, NULL, obuf, 0, host, (uint64_t)obytes) != DIO_OK) {
        fprintf(stderr, "bench_vae_memory: output: %s\n", dio_last_error());
        goto done;
    }
    free(host); /* large: returned to the system */
    host = NULL;
    dio_tensor_init(&ot, DIO_DTYPE_F32, 5, ot.shape, obuf, 0);
    { /* two rows of tiles, each row the sum of its tiles' widths (overlaps counted twice) */
        long long ti = atoll(tile), st = ti - atoll(overlap), widths = 0;
        for (long long x = 0; x < W; x += st) widths += W - x < ti ? W - x : ti;
        rows_mib =
            2.0 * 3.0 * (double)ot.shape[2] * (double)(H < ti ? H : ti) * (double)widths * 4.0 / 1048576.0;
    }
    anon0 = status_mib("RssAnon");
    file0 = status_mib("RssFile");
    {
        FILE *f = fopen("/proc/self/clear_refs", "w"); /* resets VmHWM to the current RSS */
        if (!f || fputs("5", f) < 0 || fclose(f) != 0) {
            fprintf(stderr, "bench_vae_memory: cannot reset VmHWM\n");
            goto done;
        }
    }
    fprintf(stderr,
            "bench_vae_memory: latent [16, %lld, %lld, %lld] -> [3, %lld, %lld, %lld], tiling %s %s/%s, %d "
            "threads; %.1f MiB weights (%lld parameters)\n",
            (long long)zs[2], (long long)zs[3], (long long)zs[4], (long long)ot.shape[2],
            (long long)ot.shape[3], (long long)ot.shape[4], tiling, tile, overlap, threads,
            (double)params * 4.0 / 1048576.0, (long long)params);
    t0 = now_s();
    {
        const dio_tensor *ip[1] = {&zt}, *op[1] = {&ot};
        if (dio_component_run(comp, ip, op) != DIO_OK) {
            fprintf(stderr, "bench_vae_memory: run: %s\n", dio_last_error());
            goto done;
        }
    }
    dt = now_s() - t0;
    hwm = status_mib("VmHWM");
    file1 = status_mib("RssFile");
    anon1 = status_mib("RssAnon");
    mi = mallinfo2();
    printf(
        "{\"case\":\"vae_decode_memory\",\"frames\":%lld,\"size\":[%lld,%lld],\"latent\":[%lld,%lld,%lld],"
        "\"tiling\":\"%s\",\"tile\":%s,\"overlap\":%s,\"threads\":%d,\"s\":%.1f,\"weights_mib\":%.1f,"
        "\"output_mib\":%.1f,\"anon_before_mib\":%.1f,\"file_before_mib\":%.1f,\"hwm_mib\":%.1f,"
        "\"file_after_mib\":%.1f,\"anon_after_mib\":%.1f,\"run_peak_mib\":%.1f,\"besides_weights_mib\":%.1f,"
        "\"tile_rows_mib\":%.1f,\"mmap_threshold\":%lld,\"heap_in_use_after_mib\":%.1f,"
        "\"heap_free_kept_after_mib\":%.1f,\"mmapped_after_mib\":%.1f}\n",
        frames, W, H, (long long)zs[2], (long long)zs[3], (long long)zs[4], tiling, tile, overlap, threads,
        dt, (double)params * 4.0 / 1048576.0, (double)obytes / 1048576.0, anon0, file0, hwm, file1, anon1,
        hwm - file1 - anon0, hwm - file1, rows_mib, mmap_threshold, (double)mi.uordblks / 1048576.0,
        (double)mi.fordblks / 1048576.0, (double)mi.hblkhd / 1048576.0);
    rc = 0;
done:
    if (ibuf) r.iface->buffer_free(r.ctx, ibuf);
    if (obuf) r.iface->buffer_free(r.ctx, obuf);
    free(host);
    free(l);
    dio_component_destroy(comp);
    if (w) dio_weights_close(w);
    if (be) dio_backend_close(be);
    if (ctx) dio_context_destroy(ctx);
    return rc;
usage:
    fprintf(stderr,
            "usage: bench_vae_memory [--threads N] [--frames F (1+4k)] [--size WxH] [--tiling on|off|auto] "
            "[--tile PX] [--overlap PX] [--work DIR] [--mmap-threshold B] PLUGIN_DIR\n");
    goto done;
}

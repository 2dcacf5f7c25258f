/* bench_text_memory — how much memory encoding one prompt takes on the CPU backend at the real width of
 * Cosmos-Reason1-7B (hidden 3584, 28 heads / 4 KV heads, intermediate 18944, vocab 152064), bf16 weights
 * mmap'd, without a 16 GB checkpoint.
 *
 * Weights: random bf16 shards written once into WORK_DIR (default /tmp/dio_text_memory; ~0.47 GB per layer
 * plus the 1.09 GB embedding): embed.safetensors (embed_tokens + final norm) and layer_K.safetensors, each
 * under the released `model.` names. For each depth asked (default 1, 2, 4) a folder LK/ gets symlinks to
 * the first K layer shards and a model.safetensors.index.json, so every depth shares the same files.
 *
 * Measurement, one forked child per depth (a clean process each): open the folder, create
 * qwen-text-encoder on the cpu backend, then run it twice on 512 random ids into a [1, 512, K·3584] f32
 * output allocated after the baseline. Three numbers per run:
 *   - heap: the peak of live bytes of malloc/calloc/realloc/posix_memalign/aligned_alloc (interposed in this
 *     executable, so every library's allocations count: libdiorama, the plugins, oneDNN), minus what was
 *     live before the run; exact for everything that goes through the C allocator;
 *   - anon: the peak of resident anonymous memory (/proc/self/statm resident − shared, sampled every
 *     millisecond by a thread), minus the level before the run; what the kernel saw;
 *   - hwm: VmHWM − RssFile after the run − RssAnon before (VmHWM reset through /proc/self/clear_refs);
 *     the mapped weight pages are file-backed, so this too is the run's anonymous peak, bounded below.
 * RssFile after the run is the weight bytes actually touched (the layers, and only the 512 gathered
 * embedding rows). The output (K·512·3584·4 bytes: the gathered hidden states) is part of every number.
 * The summary subtracts the output from each depth's heap peak: if per-layer buffers piled up, that
 * difference would grow with depth; it is then projected to 28 layers by adding 28 layers of output.
 * One JSON line per depth and one summary line on stdout; their "_mb" figures are MiB.
 * Usage: bench_text_memory PLUGIN_DIR [WORK_DIR] [DEPTHS=1,2,4] [THREADS=2] [TOKENS=512]
 * WORK_DIR is left in place (delete it when done: rm -r WORK_DIR). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "diorama/diorama.h"

/* ---- counting allocator: the glibc entry points, wrapped ---- */

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static _Atomic long long live_bytes, peak_bytes;

static void count_add(void *p)
{
    if (!p) return;
    long long n = (long long)malloc_usable_size(p);
    long long now = atomic_fetch_add(&live_bytes, n) + n, peak = atomic_load(&peak_bytes);
    while (now > peak && !atomic_compare_exchange_weak(&peak_bytes, &peak, now)) {
    }
}

static void count_sub(void *p)
{
    if (p) atomic_fetch_sub(&live_bytes, (long long)malloc_usable_size(p));
}

void *malloc(size_t n)
{
    void *p = __libc_malloc(n);
    count_add(p);
    return p;
}

void *calloc(size_t a, size_t b)
{
    void *p = __libc_calloc(a, b);
    count_add(p);
    return p;
}

void *realloc(void *q, size_t n)
{
    count_sub(q);
    void *p = __libc_realloc(q, n);
    count_add(p ? p : (n ? q : NULL)); /* a failed realloc leaves q live */
    return p;
}

void free(void *p)
{
    count_sub(p);
    __libc_free(p);
}

int posix_memalign(void **out, size_t align, size_t n)
{
    if (align < sizeof(void *) || (align & (align - 1))) return EINVAL;
    void *p = __libc_memalign(align, n);
    if (!p) return ENOMEM;
    count_add(p);
    *out = p;
    return 0;
}

void *aligned_alloc(size_t align, size_t n)
{
    void *p = __libc_memalign(align, n);
    count_add(p);
    return p;
}

void *memalign(size_t align, size_t n)
{
    void *p = __libc_memalign(align, n);
    count_add(p);
    return p;
}

/* ---- the model ---- */

enum { HIDDEN = 3584, HEADS = 28, KV_HEADS = 4, HEAD_DIM = 128, INTER = 18944, VOCAB = 152064 };

typedef struct {
    char name[96];
    int ndim;
    int64_t shape[2];
    float scale; /* values uniform in [-scale, scale] (+1 for norms) */
    int norm;
} tdesc;

static int64_t numel(const tdesc *t)
{
    return t->ndim == 1 ? t->shape[0] : t->shape[0] * t->shape[1];
}

static uint16_t bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return (uint16_t)((u + 0x7FFF + ((u >> 16) & 1)) >> 16);
}

/* Writes a safetensors file of bf16 tensors with random values, streamed (nothing big in memory). */
static int write_shard(const char *path, const tdesc *ts, int n, uint64_t seed)
{
    char tmp[1100], *hdr = malloc(1 << 16);
    size_t hl = 0;
    uint64_t at = 0;
    int rc = -1;
    FILE *f = NULL;
    uint16_t *buf = malloc(sizeof(uint16_t) << 20);
    if (!hdr || !buf) goto out;
    hl += (size_t)snprintf(hdr + hl, 65536 - hl, "{");
    for (int i = 0; i < n; i++) {
        uint64_t b = (uint64_t)numel(&ts[i]) * 2;
        hl += (size_t)snprintf(hdr + hl, 65536 - hl, "%s\"%s\":{\"dtype\":\"BF16\",\"shape\":[%lld",
                               i ? "," : "", ts[i].name, (long long)ts[i].shape[0]);
        if (ts[i].ndim == 2) hl += (size_t)snprintf(hdr + hl, 65536 - hl, ",%lld", (long long)ts[i].shape[1]);
        hl += (size_t)snprintf(hdr + hl, 65536 - hl, "],\"data_offsets\":[%llu,%llu]}",
                               (unsigned long long)at, (unsigned long long)(at + b));
        at += b;
    }
    hl += (size_t)snprintf(hdr + hl, 65536 - hl, "}");
    while ((8 + hl) % 64) hdr[hl++] = ' '; /* data 64-byte aligned */
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (!(f = fopen(tmp, "wb"))) goto out;
    uint64_t hlen = hl;
    if (fwrite(&hlen, 8, 1, f) != 1 || fwrite(hdr, 1, hl, f) != hl) goto out;
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (int i = 0; i < n; i++) {
        int64_t left = numel(&ts[i]);
        while (left > 0) {
            int64_t k = left < (1 << 20) ? left : (1 << 20);
            for (int64_t j = 0; j < k; j++) {
                s ^= s >> 12, s ^= s << 25, s ^= s >> 27;
                float u = (float)((s * 2685821657736338717ull) >> 40) / 16777216.0f * 2.0f - 1.0f;
                buf[j] = bf16((ts[i].norm ? 1.0f : 0.0f) + ts[i].scale * u);
            }
            if (fwrite(buf, 2, (size_t)k, f) != (size_t)k) goto out;
            left -= k;
        }
    }
    if (fclose(f) != 0) {
        f = NULL;
        goto out;
    }
    f = NULL;
    rc = rename(tmp, path);
out:
    if (f) fclose(f);
    if (rc) fprintf(stderr, "bench_text_memory: cannot write %s\n", path);
    free(hdr);
    free(buf);
    return rc;
}

static void layer_tensors(int k, tdesc *t)
{
    static const struct {
        const char *key;
        int64_t r, c;
        int norm;
    } L[12] = {{"input_layernorm.weight", HIDDEN, 0, 1},
               {"self_attn.q_proj.weight", HEADS * HEAD_DIM, HIDDEN, 0},
               {"self_attn.q_proj.bias", HEADS * HEAD_DIM, 0, 0},
               {"self_attn.k_proj.weight", KV_HEADS * HEAD_DIM, HIDDEN, 0},
               {"self_attn.k_proj.bias", KV_HEADS * HEAD_DIM, 0, 0},
               {"self_attn.v_proj.weight", KV_HEADS * HEAD_DIM, HIDDEN, 0},
               {"self_attn.v_proj.bias", KV_HEADS * HEAD_DIM, 0, 0},
               {"self_attn.o_proj.weight", HIDDEN, HEADS * HEAD_DIM, 0},
               {"post_attention_layernorm.weight", HIDDEN, 0, 1},
               {"mlp.gate_proj.weight", INTER, HIDDEN, 0},
               {"mlp.up_proj.weight", INTER, HIDDEN, 0},
               {"mlp.down_proj.weight", HIDDEN, INTER, 0}};
    for (int i = 0; i < 12; i++) {
        snprintf(t[i].name, sizeof t[i].name, "model.layers.%d.%s", k, L[i].key);
        t[i].ndim = L[i].c ? 2 : 1;
        t[i].shape[0] = L[i].r;
        t[i].shape[1] = L[i].c;
        t[i].norm = L[i].norm;
        /* uniform of variance 1/fan_in keeps residual updates O(1); biases and norm offsets 0.1 */
        t[i].scale = L[i].c ? 1.7320508f / sqrtf((float)L[i].c) : 0.1f;
    }
}

/* Writes WORK/embed.safetensors and WORK/layer_K.safetensors for K < n_layers, those not there yet. */
static int write_model(const char *work, int n_layers)
{
    char path[1024];
    struct stat st;
    mkdir(work, 0755);
    snprintf(path, sizeof path, "%s/embed.safetensors", work);
    if (stat(path, &st) != 0) {
        tdesc t[2] = {{"model.embed_tokens.weight", 2, {VOCAB, HIDDEN}, 1.0f, 0},
                      {"model.norm.weight", 1, {HIDDEN, 0}, 0.1f, 1}};
        fprintf(stderr, "bench_text_memory: writing %s\n", path);
        if (write_shard(path, t, 2, 1)) return -1;
    }
    for (int k = 0; k < n_layers; k++) {
        snprintf(path, sizeof path, "%s/layer_%d.safetensors", work, k);
        if (stat(path, &st) == 0) continue;
        tdesc t[12];
        layer_tensors(k, t);
        fprintf(stderr, "bench_text_memory: writing %s\n", path);
        if (write_shard(path, t, 12, 100 + (uint64_t)k)) return -1;
    }
    return 0;
}

/* WORK/L<depth>/: symlinks to the shards and an index naming them. */
static int make_folder(const char *work, int depth, char *dir, size_t dirlen)
{
    char path[1200], target[1200];
    snprintf(dir, dirlen, "%s/L%d", work, depth);
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fprintf(f, "{\"metadata\": {}, \"weight_map\": {\"model.embed_tokens.weight\": \"embed.safetensors\", "
               "\"model.norm.weight\": \"embed.safetensors\"");
    for (int k = 0; k < depth; k++) {
        tdesc t[12];
        layer_tensors(k, t);
        for (int i = 0; i < 12; i++) fprintf(f, ", \"%s\": \"layer_%d.safetensors\"", t[i].name, k);
    }
    fprintf(f, "}}\n");
    if (fclose(f)) return -1;
    for (int k = -1; k < depth; k++) {
        if (k < 0) {
            snprintf(path, sizeof path, "%s/embed.safetensors", dir);
            snprintf(target, sizeof target, "../embed.safetensors");
        } else {
            snprintf(path, sizeof path, "%s/layer_%d.safetensors", dir, k);
            snprintf(target, sizeof target, "../layer_%d.safetensors", k);
        }
        unlink(path);
        if (symlink(target, path)) return -1;
    }
    return 0;
}

/* ---- measuring ---- */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static long long status_kb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long long v = -1;
    size_t kl = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, kl) == 0 && line[kl] == ':') v = atoll(line + kl + 1);
    if (f) fclose(f);
    return v;
}

static long long anon_bytes(void) /* resident − shared (file-backed and shmem) pages of /proc/self/statm */
{
    char buf[256];
    long long size = 0, res = 0, shared = 0;
    int fd = open("/proc/self/statm", O_RDONLY);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = 0;
    if (sscanf(buf, "%lld %lld %lld", &size, &res, &shared) != 3) return -1;
    return (res - shared) * sysconf(_SC_PAGESIZE);
}

/* Resident bytes of the mappings of files under WORK (the weight shards), from /proc/self/smaps. */
static long long weights_resident(const char *work)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    char line[1400];
    long long kb = 0;
    int ours = 0;
    size_t wl = strlen(work);
    while (f && fgets(line, sizeof line, f)) {
        if (strchr(line, '-') && strchr(line, '-') < strchr(line, ' ')) { /* a mapping's first line */
            const char *path = strchr(line, '/');
            ours = path && strncmp(path, work, wl) == 0;
        } else if (ours && strncmp(line, "Rss:", 4) == 0) {
            kb += atoll(line + 4);
        }
    }
    if (f) fclose(f);
    return kb * 1024;
}

/* The encoder's arena as qwen_encoder.c plans it (each region rounded up to 256 bytes), for comparison. */
static uint64_t arena_expected(int64_t n)
{
    const int64_t qw = HEADS * HEAD_DIM, kw = KV_HEADS * HEAD_DIM;
    const int64_t sz[11] = {n * HIDDEN, n * HIDDEN, n * qw,    n * kw,       n * kw,      n * qw,
                            n * HIDDEN, n * INTER,  n * INTER, n * HEAD_DIM, n * HEAD_DIM};
    uint64_t at = 0;
    for (int i = 0; i < 11; i++) at += ((uint64_t)sz[i] * 4 + 255u) & ~(uint64_t)255u;
    return at;
}

static _Atomic int sampling;
static _Atomic long long anon_peak;

static void *sampler(void *arg)
{
    (void)arg;
    while (atomic_load(&sampling)) {
        long long a = anon_bytes();
        if (a > atomic_load(&anon_peak)) atomic_store(&anon_peak, a);
        struct timespec d = {0, 1000000};
        nanosleep(&d, NULL);
    }
    return NULL;
}

static int die(const char *what)
{
    fprintf(stderr, "bench_text_memory: %s: %s\n", what, dio_last_error());
    return 1;
}

static int measure(const char *plugin_dir, const char *work, const char *dir, int depth, const char *threads,
                   int64_t tokens, int report_fd)
{
    const char *dirs[1] = {plugin_dir};
    dio_context_options o = {sizeof(o), 1, 1, 0, dirs, 1};
    dio_context *ctx = NULL;
    dio_backend *be = NULL;
    dio_weights *w = NULL;
    dio_component *c = NULL;
    dio_buffer *ib = NULL, *ob = NULL;
    dio_backend_ref r = {0};
    int64_t *ids = NULL;
    int rc = 1;
    dio_kv bkv[1] = {{"threads", threads}};
    char heads[16];
    snprintf(heads, sizeof heads, "%d", HEADS);
    dio_kv kv[1] = {{"num_heads", heads}};
    double t0 = now();
    if (dio_context_create(&o, &ctx) != DIO_OK || dio_backend_open(ctx, "cpu", bkv, 1, &be) != DIO_OK ||
        dio_weights_open(dir, &w) != DIO_OK ||
        dio_component_create(ctx, be, "qwen-text-encoder", w, kv, 1, &c) != DIO_OK) {
        rc = die(dir);
        goto done;
    }
    double load = now() - t0;
    r = dio_backend_get_ref(be, 0);
    if (!(ids = malloc((size_t)tokens * 8))) goto done;
    uint64_t s = 12345;
    for (int64_t i = 0; i < tokens; i++) {
        s ^= s >> 12, s ^= s << 25, s ^= s >> 27;
        ids[i] = (int64_t)((s * 2685821657736338717ull) >> 33) % 151643;
    }
    const uint64_t out_bytes = (uint64_t)depth * (uint64_t)tokens * HIDDEN * 4;
    long long heap_load = atomic_load(&live_bytes), first_peak = 0, first_base = 0;
    printf(
        "{\"depth\": %d, \"tokens\": %lld, \"threads\": %s, \"load_s\": %.3f, \"heap_after_load_mb\": %.1f, "
        "\"weights_touched_by_load_mb\": %.1f, \"arena_expected_mb\": %.1f, \"runs\": [",
        depth, (long long)tokens, threads, load, (double)heap_load / 1048576.0,
        (double)weights_resident(work) / 1048576.0, (double)arena_expected(tokens) / 1048576.0);
    for (int run = 0; run < 2; run++) {
        /* baseline: after load (and, for run 1, after run 0 freed its output) */
        if (ob) r.iface->buffer_free(r.ctx, ob), ob = NULL;
        if (ib) r.iface->buffer_free(r.ctx, ib), ib = NULL;
        malloc_trim(0);
        long long heap0 = atomic_load(&live_bytes), anon0 = anon_bytes(), rss_anon0 = status_kb("RssAnon");
        atomic_store(&peak_bytes, heap0);
        atomic_store(&anon_peak, anon0);
        int fd = open("/proc/self/clear_refs", O_WRONLY);
        int hwm_reset = fd >= 0 && write(fd, "5", 1) == 1;
        if (fd >= 0) close(fd);
        pthread_t th;
        atomic_store(&sampling, 1);
        int sampled = pthread_create(&th, NULL, sampler, NULL) == 0;
        t0 = now();
        dio_tensor it, et;
        int64_t ishape[2] = {1, tokens}, oshape[3] = {1, tokens, (int64_t)depth * HIDDEN};
        if (r.iface->buffer_alloc(r.ctx, 0, (uint64_t)tokens * 8, &ib) != DIO_OK ||
            r.iface->buffer_upload(r.ctx, NULL, ib, 0, ids, (uint64_t)tokens * 8) != DIO_OK ||
            r.iface->buffer_alloc(r.ctx, 0, out_bytes, &ob) != DIO_OK) {
            rc = die("buffers");
            goto done;
        }
        dio_tensor_init(&it, DIO_DTYPE_I64, 2, ishape, ib, 0);
        dio_tensor_init(&et, DIO_DTYPE_F32, 3, oshape, ob, 0);
        const dio_tensor *in[1] = {&it}, *op[1] = {&et};
        dio_status st = dio_component_run(c, in, op);
        double secs = now() - t0;
        atomic_store(&sampling, 0);
        if (sampled) pthread_join(th, NULL);
        if (st != DIO_OK) {
            rc = die("run");
            goto done;
        }
        long long hwm = status_kb("VmHWM"), rss_file = status_kb("RssFile");
        float probe[4] = {0};
        r.iface->buffer_download(r.ctx, NULL, ob, out_bytes - 16, probe, 16);
        if (run == 0) first_peak = atomic_load(&peak_bytes), first_base = heap0;
        printf("%s{\"seconds\": %.2f, \"heap_before_mb\": %.1f, \"heap_peak_mb\": %.1f, \"heap_after_mb\": "
               "%.1f, "
               "\"anon_peak_mb\": %.1f, \"hwm_mb\": %.1f, \"output_mb\": %.1f, \"weights_touched_mb\": %.1f, "
               "\"last_value\": %.4f}",
               run ? ", " : "", secs, (double)heap0 / 1048576.0,
               (double)(atomic_load(&peak_bytes) - heap0) / 1048576.0,
               (double)(atomic_load(&live_bytes) - heap0) / 1048576.0,
               sampled ? (double)(atomic_load(&anon_peak) - anon0) / 1048576.0 : -1.0,
               hwm_reset ? (double)(hwm - rss_file - rss_anon0) / 1024.0 : -1.0,
               (double)out_bytes / 1048576.0, (double)weights_resident(work) / 1048576.0, (double)probe[3]);
        fflush(stdout);
    }
    printf("]}\n");
    fflush(stdout); /* the child leaves with _exit */
    long long rep_v[3] = {depth, first_peak - first_base, (long long)out_bytes};
    rc = write(report_fd, rep_v, sizeof rep_v) == (ssize_t)sizeof rep_v ? 0 : 1;
done:
    if (ob) r.iface->buffer_free(r.ctx, ob);
    if (ib) r.iface->buffer_free(r.ctx, ib);
    free(ids);
    dio_component_destroy(c);
    dio_weights_close(w);
    dio_backend_close(be);
    dio_context_destroy(ctx);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr,
                "usage: bench_text_memory PLUGIN_DIR [WORK_DIR] [DEPTHS=1,2,4] [THREADS=2] [TOKENS=512]\n");
        return 2;
    }
    const char *work = argc > 2 ? argv[2] : "/tmp/dio_text_memory", *list = argc > 3 ? argv[3] : "1,2,4";
    const char *threads = argc > 4 ? argv[4] : "2";
    int64_t tokens = argc > 5 ? atoll(argv[5]) : 512;
    int depths[32], nd = 0, maxd = 0;
    for (const char *p = list; *p && nd < 32;) {
        depths[nd] = atoi(p);
        if (depths[nd] < 1) {
            fprintf(stderr, "bench_text_memory: bad depth list \"%s\"\n", list);
            return 2;
        }
        if (depths[nd] > maxd) maxd = depths[nd];
        nd++;
        while (*p && *p != ',') p++;
        if (*p == ',') p++;
    }
    if (write_model(work, maxd)) return 1;
    int pfd[2];
    if (pipe(pfd)) return 1;
    double lo = 1e30, hi = 0;
    for (int i = 0; i < nd; i++) {
        char dir[1100];
        if (make_folder(work, depths[i], dir, sizeof dir)) {
            fprintf(stderr, "bench_text_memory: cannot make %s\n", dir);
            return 1;
        }
        fflush(stdout);
        pid_t pid = fork();
        if (pid < 0) return 1;
        if (pid == 0) _exit(measure(argv[1], work, dir, depths[i], threads, tokens, pfd[1]));
        int ws = 0;
        long long v[3];
        if (waitpid(pid, &ws, 0) < 0 || !WIFEXITED(ws) || WEXITSTATUS(ws) != 0 ||
            read(pfd[0], v, sizeof v) != (ssize_t)sizeof v) {
            fprintf(stderr, "bench_text_memory: depth %d failed\n", depths[i]);
            return 1;
        }
        double rest = (double)(v[1] - v[2]) / 1048576.0; /* first run's heap peak without the output */
        if (rest < lo) lo = rest;
        if (rest > hi) hi = rest;
    }
    /* 28 layers: the largest peak without the output, plus 28 layers of gathered hidden states */
    double out28 = 28.0 * (double)tokens * HIDDEN * 4 / 1048576.0;
    printf("{\"summary\": \"heap peak of a first run minus its output\", \"min_mb\": %.1f, \"max_mb\": %.1f, "
           "\"spread_mb\": %.1f, \"output_28_layers_mb\": %.1f, \"projected_28_layers_mb\": %.1f, "
           "\"limit_mb\": 1024}\n",
           lo, hi, hi - lo, out28, hi + out28);
    return 0;
}

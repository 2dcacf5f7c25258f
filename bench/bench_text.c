/* bench_text — diorama's side of bench/run_text.sh: the qwen-tokenizer and qwen-text-encoder components,
 * driven through libdiorama like any application.
 *
 * Tokenizer: the real Qwen2 vocabulary (tests/fixtures/text/tokenizer/), the corpus of bench/out/text as one
 * prompt, no template, one thread (the tokenizer has no threads); MB/s of UTF-8 input, best of REPS, and the
 * sha256 of the ids (int32) so run_text.sh can check they equal the Hugging Face ones.
 * Encoder: the tiny fixture model and the mid-size random one written by text_torch.py, 512 ids each, f32 on
 * the CPU backend with THREADS threads; best of REPS after one warm-up, plus the load time; the embedding is
 * compared with transformers' (bench/out/text/torch_*.safetensors: max |diff| and max |diff| / max |ref|).
 * One JSON line per result on stdout.
 * Usage: bench_text PLUGIN_DIR BENCH_OUT_DIR(bench/out/text) FIXTURE_DIR(tests/fixtures/text) THREADS REPS */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "diorama/diorama.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int die(const char *what)
{
    fprintf(stderr, "bench_text: %s: %s\n", what, dio_last_error());
    return 1;
}

static int bench_tokenizer(dio_context *ctx, dio_backend *be, const char *out_dir, const char *fix, int reps)
{
    char path[1024], tokdir[1024];
    dio_backend_ref r = dio_backend_get_ref(be, 0);
    dio_component *c = NULL;
    dio_buffer *tb = NULL, *lb = NULL, *ob[2] = {NULL, NULL};
    int64_t *ids = NULL, *mask = NULL;
    int32_t *ids32 = NULL;
    char *data = NULL;
    int rc = 1;
    snprintf(path, sizeof path, "%s/corpus.txt", out_dir);
    snprintf(tokdir, sizeof tokdir, "%s/tokenizer", fix);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "bench_text: no %s (run bench/text_torch.py prepare)\n", path);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    int64_t n = ftell(f);
    fseek(f, 0, SEEK_SET);
    data = malloc((size_t)n);
    if (!data || fread(data, 1, (size_t)n, f) != (size_t)n) n = -1;
    fclose(f);
    if (n < 0) goto done;
    const int64_t L = 1 << 20;
    dio_kv kv[3] = {{"tokenizer_dir", tokdir}, {"max_length", "1048576"}, {"template", "false"}};
    double t0 = now();
    if (dio_component_create(ctx, be, "qwen-tokenizer", NULL, kv, 3, &c) != DIO_OK) {
        rc = die("create qwen-tokenizer");
        goto done;
    }
    double load = now() - t0;
    dio_tensor tt, lt, out[2];
    int64_t one = 1, ts[2] = {1, n};
    if (r.iface->buffer_alloc(r.ctx, 0, 8, &lb) != DIO_OK ||
        r.iface->buffer_upload(r.ctx, NULL, lb, 0, &n, 8) != DIO_OK ||
        r.iface->buffer_alloc(r.ctx, 0, (uint64_t)n, &tb) != DIO_OK ||
        r.iface->buffer_upload(r.ctx, NULL, tb, 0, data, (uint64_t)n) != DIO_OK ||
        r.iface->buffer_alloc(r.ctx, 0, (uint64_t)L * 8, &ob[0]) != DIO_OK ||
        r.iface->buffer_alloc(r.ctx, 0, (uint64_t)L * 8, &ob[1]) != DIO_OK) {
        rc = die("buffers");
        goto done;
    }
    /* [1, N] with lengths: the corpus holds NUL bytes (fixture hard strings), which would end a bare row */
    dio_tensor_init(&tt, DIO_DTYPE_U8, 2, ts, tb, 0);
    dio_tensor_init(&lt, DIO_DTYPE_I64, 1, &one, lb, 0);
    int64_t os[2] = {1, L};
    dio_tensor_init(&out[0], DIO_DTYPE_I64, 2, os, ob[0], 0);
    dio_tensor_init(&out[1], DIO_DTYPE_I64, 2, os, ob[1], 0);
    const dio_tensor *in[2] = {&tt, &lt}, *op[2] = {&out[0], &out[1]};
    double best = 1e30;
    for (int i = 0; i < reps; i++) {
        t0 = now();
        if (dio_component_run(c, in, op) != DIO_OK) {
            rc = die("run qwen-tokenizer");
            goto done;
        }
        double t = now() - t0;
        if (t < best) best = t;
    }
    ids = malloc((size_t)L * 8);
    mask = malloc((size_t)L * 8);
    ids32 = malloc((size_t)L * 4);
    if (!ids || !mask || !ids32) goto done;
    r.iface->buffer_download(r.ctx, NULL, ob[0], 0, ids, (uint64_t)L * 8);
    r.iface->buffer_download(r.ctx, NULL, ob[1], 0, mask, (uint64_t)L * 8);
    int64_t k = 0;
    while (k < L && mask[k]) ids32[k] = (int32_t)ids[k], k++;
    uint8_t d[32];
    char hex[65];
    dio_sha256(ids32, (size_t)k * 4, d);
    for (int j = 0; j < 32; j++) snprintf(hex + 2 * j, 3, "%02x", d[j]);
    printf("{\"what\": \"tokenizer\", \"side\": \"diorama\", \"mb_s\": %.3f, \"seconds\": %.6f, \"load_s\": "
           "%.4f, "
           "\"bytes\": %lld, \"n_ids\": %lld, \"ids_sha256\": \"%s\", \"truncated\": %s}\n",
           (double)n / best / 1e6, best, load, (long long)n, (long long)k, hex, k == L ? "true" : "false");
    rc = 0;
done:
    for (int i = 0; i < 2; i++)
        if (ob[i]) r.iface->buffer_free(r.ctx, ob[i]);
    if (tb) r.iface->buffer_free(r.ctx, tb);
    if (lb) r.iface->buffer_free(r.ctx, lb);
    dio_component_destroy(c);
    free(ids), free(mask), free(ids32), free(data);
    return rc;
}

static int bench_encoder(dio_context *ctx, dio_backend *be, const char *name, const char *weights_path,
                         const char *heads, const char *out_dir, int threads, int reps)
{
    char path[1024];
    dio_backend_ref r = dio_backend_get_ref(be, 0);
    dio_weights *w = NULL, *inputs = NULL, *ref = NULL;
    dio_component *c = NULL;
    dio_buffer *ib = NULL, *eb = NULL;
    float *emb = NULL;
    int rc = 1;
    dio_weight_info ii, ri;
    ii.struct_size = ri.struct_size = sizeof(ii);
    dio_kv kv[1] = {{"num_heads", heads}};
    double t0 = now();
    if (dio_weights_open(weights_path, &w) != DIO_OK ||
        dio_component_create(ctx, be, "qwen-text-encoder", w, kv, 1, &c) != DIO_OK) {
        rc = die(weights_path);
        goto done;
    }
    double load = now() - t0;
    snprintf(path, sizeof path, "%s/%s_inputs.safetensors", out_dir, name);
    if (dio_weights_open(path, &inputs) != DIO_OK || dio_weights_find(inputs, "input_ids", &ii) != DIO_OK) {
        rc = die(path);
        goto done;
    }
    if (dio_backend_place_host(&r, ii.data, ii.nbytes, 8, &ib) != DIO_OK) {
        rc = die("place ids");
        goto done;
    }
    dio_tensor it, et;
    dio_tensor_init(&it, ii.dtype, 2, ii.shape, ib, 0);
    const dio_tensor *in[1] = {&it}, *op[1] = {&et};
    if (dio_component_output_shapes(c, in, &et) != DIO_OK) {
        rc = die("output shapes");
        goto done;
    }
    int64_t numel = dio_tensor_numel(&et);
    if (r.iface->buffer_alloc(r.ctx, 0, (uint64_t)numel * 4, &eb) != DIO_OK) {
        rc = die("alloc");
        goto done;
    }
    dio_tensor_init(&et, DIO_DTYPE_F32, 3, et.shape, eb, 0);
    double best = 1e30;
    for (int i = 0; i <= reps; i++) { /* i == 0 warms up */
        t0 = now();
        if (dio_component_run(c, in, op) != DIO_OK) {
            rc = die("run");
            goto done;
        }
        double t = now() - t0;
        if (i && t < best) best = t;
    }
    emb = malloc((size_t)numel * 4);
    if (!emb) goto done;
    r.iface->buffer_download(r.ctx, NULL, eb, 0, emb, (uint64_t)numel * 4);
    double maxd = -1, maxr = 0;
    snprintf(path, sizeof path, "%s/torch_%s.safetensors", out_dir, name);
    if (dio_weights_open(path, &ref) == DIO_OK && dio_weights_find(ref, "embeddings", &ri) == DIO_OK &&
        (int64_t)(ri.nbytes / 4) == numel) {
        maxd = 0;
        for (int64_t i = 0; i < numel; i++) {
            double a = emb[i], b = ((const float *)ri.data)[i];
            if (fabs(a - b) > maxd) maxd = fabs(a - b);
            if (fabs(b) > maxr) maxr = fabs(b);
        }
    }
    printf("{\"what\": \"encoder_%s\", \"side\": \"diorama\", \"seconds\": %.6f, \"load_s\": %.4f, "
           "\"threads\": %d, "
           "\"shape\": [%lld, %lld, %lld], \"max_abs_diff\": %.3g, \"max_rel_diff\": %.3g}\n",
           name, best, load, threads, (long long)et.shape[0], (long long)et.shape[1], (long long)et.shape[2],
           maxd, maxd >= 0 && maxr > 0 ? maxd / maxr : -1.0);
    rc = 0;
done:
    if (eb) r.iface->buffer_free(r.ctx, eb);
    if (ib) r.iface->buffer_free(r.ctx, ib);
    free(emb);
    dio_component_destroy(c);
    dio_weights_close(ref);
    dio_weights_close(inputs);
    dio_weights_close(w);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: bench_text PLUGIN_DIR BENCH_OUT_DIR FIXTURE_DIR THREADS REPS\n");
        return 2;
    }
    const char *dirs[1] = {argv[1]};
    dio_context_options o = {sizeof(o), 1, 1, 0, dirs, 1};
    dio_context *ctx = NULL;
    dio_backend *be = NULL;
    char tiny[1024], mid[1024];
    int threads = atoi(argv[4]), reps = atoi(argv[5]), rc = 1;
    dio_kv kv[1] = {{"threads", argv[4]}};
    snprintf(tiny, sizeof tiny, "%s/text_encoder", argv[3]);
    snprintf(mid, sizeof mid, "%s/mid_encoder", argv[2]);
    if (dio_context_create(&o, &ctx) != DIO_OK || dio_backend_open(ctx, "cpu", kv, 1, &be) != DIO_OK) {
        rc = die("setup");
        goto done;
    }
    rc = bench_tokenizer(ctx, be, argv[2], argv[3], reps) ||
         bench_encoder(ctx, be, "tiny", tiny, "4", argv[2], threads, reps) ||
         bench_encoder(ctx, be, "mid", mid, "16", argv[2], threads, reps);
done:
    dio_backend_close(be);
    dio_context_destroy(ctx);
    return rc;
}

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
 * Usage: bench_text PLUGIN_DIR BENCH_OUT_DIR(bench/out/text) FIXTURE_DIR(tests/fixtures/text) THREADS REPS
 *
 * `bench_text tokenizer PLUGIN_DIR FIXTURE_DIR REPS [MB] [CORPUS_OUT]` measures the tokenizer alone on a
 * larger corpus that needs no Python: the fixture corpus (the Markdown of tests/fixtures/ and the 43 hard
 * strings of tokenizer_cases.json, repeated to 2 MB) followed by generated mixed-script text
 * (English, accented Latin partly in NFD, Cyrillic, Greek, Chinese, Japanese, Korean, Arabic, Devanagari,
 * Thai, numbers, code, emoji, odd whitespace, contractions; words drawn with a Zipf-like skew from a
 * per-script lexicon, from a fixed seed) up to MB megabytes (default 10). It is cut into rows of about
 * 1 MB at line ends and encoded as one [B, N] batch with lengths, no template, max_length just above the
 * longest row's ids (found by an untimed first run, so that padding costs little); best of REPS; the sha256
 * of the ids (each row's ids in turn, int32) so two builds can be checked to agree. CORPUS_OUT, if given,
 * receives the corpus bytes. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* nftw */
#endif
#include <ftw.h>
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

/* ---- the tokenizer alone on a large mixed-script corpus ---- */

typedef struct {
    char *p;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_put(sbuf *b, const void *s, size_t n)
{
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 1 << 16;
        while (nc < b->n + n + 1) nc *= 2;
        char *np = realloc(b->p, nc);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void sb_str(sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

static void sb_cp(sbuf *b, uint32_t cp)
{
    char o[4];
    size_t n;
    if (cp < 0x80) {
        o[0] = (char)cp, n = 1;
    } else if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6)), o[1] = (char)(0x80 | (cp & 0x3F)), n = 2;
    } else if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12)), o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F)), n = 3;
    } else {
        o[0] = (char)(0xF0 | (cp >> 18)), o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), o[3] = (char)(0x80 | (cp & 0x3F)), n = 4;
    }
    sb_put(b, o, n);
}

/* Well-formed UTF-8 (RFC 3629)? */
static int utf8_ok(const unsigned char *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        unsigned c = s[i];
        size_t n = c < 0x80                   ? 1
                   : (c >= 0xC2 && c <= 0xDF) ? 2
                   : (c >= 0xE0 && c <= 0xEF) ? 3
                   : (c >= 0xF0 && c <= 0xF4) ? 4
                                              : 0;
        if (!n || i + n > len) return 0;
        unsigned lo = c == 0xE0   ? 0xA0
                      : c == 0xF0 ? 0x90
                                  : 0x80,
                 hi = c == 0xED   ? 0x9F
                      : c == 0xF4 ? 0x8F
                                  : 0xBF;
        for (size_t k = 1; k < n; k++)
            if (s[i + k] < (k == 1 ? lo : 0x80) || s[i + k] > (k == 1 ? hi : 0xBF)) return 0;
        i += n;
    }
    return 1;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint32_t rnd(uint32_t n) /* uniform in [0, n) (xorshift64*) */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)(((rng_state * 2685821657736338717ull) >> 32) % n);
}

static uint32_t zipf(uint32_t n) /* skewed towards 0: u^3 */
{
    double u = rnd(1u << 24) / 16777216.0;
    return (uint32_t)(u * u * u * n);
}

static char **md_paths;
static size_t md_n, md_cap;

static int md_visit(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st, (void)ftw;
    if (type == FTW_D && (strstr(path, "/.git") || strstr(path, "/build") || strstr(path, "/.venv") ||
                          strstr(path, "/out") || strstr(path, "/fixtures/text/tokenizer")))
        return FTW_SKIP_SUBTREE;
    size_t l = strlen(path);
    if (type != FTW_F || l < 3 || strcmp(path + l - 3, ".md") != 0) return FTW_CONTINUE;
    if (md_n == md_cap) {
        size_t nc = md_cap ? md_cap * 2 : 64;
        char **np = realloc(md_paths, nc * sizeof(*np));
        if (!np) return FTW_STOP;
        md_paths = np, md_cap = nc;
    }
    md_paths[md_n] = strdup(path);
    return md_paths[md_n++] ? FTW_CONTINUE : FTW_STOP;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The fixture corpus: the fixtures' Markdown (every .md under tests/fixtures, valid UTF-8, sorted by path)
 * and the hard strings of tokenizer_cases.json ("utf8_hex"), joined with newlines. */
static int fixture_corpus(const char *fix, sbuf *b)
{
    char root[1024], path[1200];
    snprintf(root, sizeof root, "%s/..", fix);
    if (nftw(root, md_visit, 16, FTW_PHYS | FTW_ACTIONRETVAL) < 0) return -1;
    qsort(md_paths, md_n, sizeof(*md_paths), cmp_str);
    for (size_t i = 0; i < md_n; i++) {
        FILE *f = fopen(md_paths[i], "rb");
        char chunk[65536];
        sbuf one = {0};
        size_t r;
        while (f && (r = fread(chunk, 1, sizeof chunk, f)) > 0) sb_put(&one, chunk, r);
        if (f) fclose(f);
        if (one.n && utf8_ok((const unsigned char *)one.p, one.n)) {
            sb_put(b, one.p, one.n);
            sb_str(b, "\n");
        }
        free(one.p);
        free(md_paths[i]);
    }
    free(md_paths);
    snprintf(path, sizeof path, "%s/tokenizer_cases.json", fix);
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    sbuf js = {0};
    char chunk[65536];
    size_t r;
    while ((r = fread(chunk, 1, sizeof chunk, f)) > 0) sb_put(&js, chunk, r);
    fclose(f);
    int cases = 0;
    for (const char *q = js.p; q && (q = strstr(q, "\"utf8_hex\"")); cases++) {
        q = strchr(q + 10, '"');
        if (!q) break;
        for (q++; q[0] && q[0] != '"' && q[1]; q += 2) {
            unsigned v;
            if (sscanf(q, "%2x", &v) != 1) break;
            unsigned char c = (unsigned char)v;
            sb_put(b, &c, 1);
        }
        sb_str(b, "\n");
    }
    free(js.p);
    return cases > 0 && !b->oom ? 0 : -1;
}

enum { LEX = 4000, N_SCRIPTS = 12 };

/* One generated word of script S into B. */
static void gen_word(sbuf *b, int s)
{
    static const char *en_syl[] = {"th", "e",  "an", "re", "in",  "on", "at", "er", "st", "ro", "bo", "ti",
                                   "c",  "ar", "m",  "al", "ing", "ed", "ly", "ou", "wa", "se", "pl", "ck"};
    static const char *lat_syl[] = {"é",  "è",  "à",  "ü",   "ö",  "ß", "ç", "ñ", "ei", "au", "la", "le",
                                    "de", "mo", "ri", "sch", "tz", "ô", "â", "ã", "on", "qu", "el", "ir"};
    static const uint32_t cyr[] = {0x431, 0x432, 0x433, 0x434, 0x436, 0x437, 0x43A, 0x43B, 0x43C, 0x43D,
                                   0x43F, 0x440, 0x441, 0x442, 0x444, 0x445, 0x446, 0x447, 0x448, 0x449};
    static const uint32_t cyr_v[] = {0x430, 0x435, 0x438, 0x43E, 0x443, 0x44B, 0x44D, 0x44E, 0x44F};
    static const uint32_t grk[] = {0x3B2, 0x3B3, 0x3B4, 0x3B6, 0x3B8, 0x3BA, 0x3BB, 0x3BC,
                                   0x3BD, 0x3BE, 0x3C0, 0x3C1, 0x3C3, 0x3C4, 0x3C6, 0x3C7};
    static const uint32_t grk_v[] = {0x3B1, 0x3B5, 0x3B7, 0x3B9, 0x3BF, 0x3C5, 0x3C9, 0x3AC, 0x3AD, 0x3CC};
    static const char *code[] = {"for (int i = 0; i < n; i++) {",
                                 "return x;",
                                 "}",
                                 "#include <stdio.h>",
                                 "x->data[i] += 0.5f * y[i];",
                                 "`dio_tensor_init()`",
                                 "## Results",
                                 "- item",
                                 "| a | b |",
                                 "https://example.com/a/b?c=1",
                                 "if (!p) goto fail;",
                                 "def f(x):",
                                 "**bold**",
                                 "0x7F",
                                 "    print(f\"{x:.3f}\")"};
    static const char *en_words[] = {"the",    "a",     "robot",  "arm", "picks",  "up",        "red",
                                     "cube",   "from",  "table",  "in",  "bright", "warehouse", "and",
                                     "camera", "moves", "slowly", "to",  "of",     "is",        "with",
                                     "light",  "scene", "video",  "car", "street"};
    static const char *contr[] = {"it's", "we've", "I'll", "DON'T", "they're", "she'd", "I'm", "can't"};
    switch (s) {
    case 0: /* English */
        if (rnd(3) == 0) {
            sb_str(b, en_words[rnd(sizeof en_words / sizeof *en_words)]);
        } else {
            int n = 1 + (int)rnd(4);
            for (int i = 0; i < n; i++) sb_str(b, en_syl[rnd(sizeof en_syl / sizeof *en_syl)]);
            if (rnd(12) == 0) b->p[b->n - 1] = (char)(b->p[b->n - 1] & ~0x20); /* some upper case */
        }
        if (rnd(30) == 0) {
            sb_str(b, " ");
            sb_str(b, contr[rnd(sizeof contr / sizeof *contr)]);
        }
        break;
    case 1: { /* accented Latin, one word in ten in NFD */
        int n = 1 + (int)rnd(4), nfd = rnd(10) == 0;
        for (int i = 0; i < n; i++) {
            const char *x = lat_syl[rnd(sizeof lat_syl / sizeof *lat_syl)];
            if (nfd && strcmp(x, "é") == 0)
                sb_str(b, "e\xcc\x81");
            else if (nfd && strcmp(x, "ü") == 0)
                sb_str(b, "u\xcc\x88");
            else
                sb_str(b, x);
        }
        break;
    }
    case 2:
        for (int i = 0, n = 1 + (int)rnd(4); i < n; i++) {
            sb_cp(b, cyr[rnd(20)]);
            sb_cp(b, cyr_v[rnd(9)]);
        }
        break;
    case 3:
        for (int i = 0, n = 1 + (int)rnd(4); i < n; i++) {
            sb_cp(b, grk[rnd(16)]);
            sb_cp(b, grk_v[rnd(10)]);
        }
        break;
    case 4: /* Chinese: common-block ideographs, no spaces */
        for (int i = 0, n = 1 + (int)rnd(3); i < n; i++) sb_cp(b, 0x4E00 + rnd(3500));
        break;
    case 5: /* Japanese: kana and some kanji */
        for (int i = 0, n = 2 + (int)rnd(4); i < n; i++)
            sb_cp(b, rnd(4) == 0 ? 0x4E00 + rnd(2000) : rnd(2) ? 0x3041 + rnd(83) : 0x30A1 + rnd(83));
        break;
    case 6:
        for (int i = 0, n = 1 + (int)rnd(3); i < n; i++) sb_cp(b, 0xAC00 + rnd(11172));
        break;
    case 7:
        for (int i = 0, n = 3 + (int)rnd(4); i < n; i++) sb_cp(b, 0x627 + rnd(36));
        break;
    case 8: /* Devanagari: consonant + vowel sign, sometimes virama */
        for (int i = 0, n = 1 + (int)rnd(3); i < n; i++) {
            sb_cp(b, 0x915 + rnd(37));
            if (rnd(3)) sb_cp(b, rnd(6) ? 0x93E + rnd(15) : 0x94D);
        }
        break;
    case 9: /* Thai: consonants and vowel marks */
        for (int i = 0, n = 2 + (int)rnd(5); i < n; i++) sb_cp(b, rnd(3) ? 0xE01 + rnd(46) : 0xE30 + rnd(10));
        break;
    case 10: { /* numbers */
        char x[32];
        int k = (int)rnd(4);
        if (k == 0) snprintf(x, sizeof x, "%u", rnd(100000));
        if (k == 1) snprintf(x, sizeof x, "%u.%02u", rnd(1000), rnd(100));
        if (k == 2) snprintf(x, sizeof x, "2026-%02u-%02u", 1 + rnd(12), 1 + rnd(28));
        if (k == 3) snprintf(x, sizeof x, "$%u,%03u", rnd(100), rnd(1000));
        sb_str(b, x);
        break;
    }
    default: sb_str(b, code[rnd(sizeof code / sizeof *code)]); break;
    }
}

/* Generated mixed-script text: sentences in one script each, words from a per-script lexicon of LEX words
 * (built on first use, drawn with a Zipf-like skew), punctuation, emoji and odd whitespace between. */
static int generated_corpus(sbuf *b, size_t target)
{
    static const uint32_t weight[N_SCRIPTS] = {30, 8, 8, 4, 10, 5, 4, 4, 4, 3, 5, 6};
    sbuf *lex = calloc((size_t)N_SCRIPTS * LEX, sizeof(*lex));
    if (!lex) return -1;
    for (int s = 0; s < N_SCRIPTS; s++)
        for (int i = 0; i < LEX; i++) gen_word(&lex[s * LEX + i], s);
    uint32_t wsum = 0;
    for (int s = 0; s < N_SCRIPTS; s++) wsum += weight[s];
    while (b->n < target && !b->oom) {
        uint32_t r = rnd(wsum);
        int s = 0;
        while (r >= weight[s]) r -= weight[s++];
        int nospace = s == 4 || s == 5 || s == 9;
        for (int i = 0, n = 3 + (int)rnd(15); i < n; i++) {
            sbuf *w = &lex[s * LEX + zipf(LEX)];
            if (w->n) sb_put(b, w->p, w->n);
            uint32_t k = rnd(40);
            if (k == 0) sb_str(b, ",");
            if (k == 1) sb_cp(b, 0x1F600 + rnd(80)); /* emoji */
            if (k == 2 && !nospace) sb_str(b, "  ");
            if (k == 3) sb_str(b, "\xc2\xa0"); /* NBSP */
            if (k == 4) sb_str(b, "\t");
            if (k == 5) sb_str(b, " (");
            if (!nospace && i + 1 < n) sb_str(b, " ");
        }
        uint32_t e = rnd(16);
        sb_str(b, s == 4 || s == 5 ? "\xe3\x80\x82"
                  : e < 10         ? ". "
                  : e < 12         ? "!\n"
                  : e < 14         ? "\n\n"
                                   : "\r\n");
    }
    for (int i = 0; i < N_SCRIPTS * LEX; i++) free(lex[i].p);
    free(lex);
    return b->oom ? -1 : 0;
}

static int bench_tokenizer_big(const char *plugin_dir, const char *fix, int reps, double mb,
                               const char *corpus_out)
{
    const char *dirs[1] = {plugin_dir};
    dio_context_options o = {sizeof(o), 1, 1, 0, dirs, 1};
    dio_context *ctx = NULL;
    dio_backend *be = NULL;
    dio_component *c = NULL;
    dio_buffer *tb = NULL, *lb = NULL, *ob[2] = {NULL, NULL};
    dio_backend_ref r = {0};
    sbuf fx = {0}, all = {0};
    int64_t *lens = NULL, *ids = NULL, *mask = NULL;
    int32_t *ids32 = NULL;
    char *rows = NULL, tokdir[1024];
    int rc = 1;
    size_t target = (size_t)(mb * 1e6);
    if (fixture_corpus(fix, &fx)) {
        fprintf(stderr, "bench_text: cannot build the fixture corpus from %s\n", fix);
        goto done;
    }
    size_t fixture_bytes = fx.n;
    while (all.n < 2000000 && !all.oom) { /* the fixture corpus repeated to 2 MB, as text_torch.py does */
        sb_put(&all, fx.p, fx.n);
        sb_str(&all, "\n");
    }
    size_t fixture_part = all.n;
    if (generated_corpus(&all, target)) goto done;
    if (corpus_out) {
        FILE *f = fopen(corpus_out, "wb");
        if (!f || fwrite(all.p, 1, all.n, f) != all.n)
            fprintf(stderr, "bench_text: cannot write %s\n", corpus_out);
        if (f) fclose(f);
    }
    /* rows of about 1 MB, cut after a newline */
    const size_t ROW = 1000000, ROW_MAX = 1 << 20; /* max_length is at most 2^20 */
    int64_t B = 0, N = 0;
    size_t cuts[256];
    for (size_t at = 0; at < all.n && B < 255;) {
        size_t e = at + ROW < all.n ? at + ROW : all.n;
        while (e < all.n && e - at < ROW_MAX && all.p[e - 1] != '\n') e++;
        while (e < all.n && (all.p[e] & 0xC0) == 0x80) e--; /* never inside a character */
        cuts[B++] = at;
        if ((int64_t)(e - at) > N) N = (int64_t)(e - at);
        at = e;
    }
    cuts[B] = all.n;
    rows = calloc((size_t)(B * N), 1);
    lens = malloc(sizeof(int64_t) * (size_t)B);
    if (!rows || !lens) goto done;
    for (int64_t i = 0; i < B; i++) {
        lens[i] = (int64_t)(cuts[i + 1] - cuts[i]);
        memcpy(rows + i * N, all.p + cuts[i], (size_t)lens[i]);
    }
    int64_t L = N; /* a byte gives at most one id; the timed runs use the longest row's count + 1 */
    snprintf(tokdir, sizeof tokdir, "%s/tokenizer", fix);
    dio_kv bkv[1] = {{"threads", "1"}};
    if (dio_context_create(&o, &ctx) != DIO_OK || dio_backend_open(ctx, "cpu", bkv, 1, &be) != DIO_OK) {
        rc = die("setup");
        goto done;
    }
    r = dio_backend_get_ref(be, 0);
    if (r.iface->buffer_alloc(r.ctx, 0, (uint64_t)B * 8, &lb) != DIO_OK ||
        r.iface->buffer_upload(r.ctx, NULL, lb, 0, lens, (uint64_t)B * 8) != DIO_OK ||
        r.iface->buffer_alloc(r.ctx, 0, (uint64_t)(B * N), &tb) != DIO_OK ||
        r.iface->buffer_upload(r.ctx, NULL, tb, 0, rows, (uint64_t)(B * N)) != DIO_OK) {
        rc = die("buffers");
        goto done;
    }
    double best = 1e30, worst = 0, load = 0;
    int64_t k = 0, truncated = 0;
    for (int pass = 0; pass < 2; pass++) {
        char ml[32];
        snprintf(ml, sizeof ml, "%lld", (long long)L);
        dio_kv kv[3] = {{"tokenizer_dir", tokdir}, {"max_length", ml}, {"template", "false"}};
        double t0 = now();
        if (dio_component_create(ctx, be, "qwen-tokenizer", NULL, kv, 3, &c) != DIO_OK) {
            rc = die("create qwen-tokenizer");
            goto done;
        }
        load = now() - t0;
        uint64_t on = (uint64_t)(B * L) * 8;
        if (r.iface->buffer_alloc(r.ctx, 0, on, &ob[0]) != DIO_OK ||
            r.iface->buffer_alloc(r.ctx, 0, on, &ob[1]) != DIO_OK) {
            rc = die("buffers");
            goto done;
        }
        dio_tensor tt, lt, out[2];
        int64_t ts[2] = {B, N}, os[2] = {B, L};
        dio_tensor_init(&tt, DIO_DTYPE_U8, 2, ts, tb, 0);
        dio_tensor_init(&lt, DIO_DTYPE_I64, 1, &B, lb, 0);
        dio_tensor_init(&out[0], DIO_DTYPE_I64, 2, os, ob[0], 0);
        dio_tensor_init(&out[1], DIO_DTYPE_I64, 2, os, ob[1], 0);
        const dio_tensor *in[2] = {&tt, &lt}, *op[2] = {&out[0], &out[1]};
        for (int i = 0; i < (pass ? reps : 1); i++) {
            t0 = now();
            if (dio_component_run(c, in, op) != DIO_OK) {
                rc = die("run qwen-tokenizer");
                goto done;
            }
            double t = now() - t0;
            if (pass && t < best) best = t;
            if (pass && t > worst) worst = t;
        }
        free(ids), free(mask), free(ids32);
        ids = malloc(on);
        mask = malloc(on);
        ids32 = malloc(on / 2);
        if (!ids || !mask || !ids32) goto done;
        r.iface->buffer_download(r.ctx, NULL, ob[0], 0, ids, on);
        r.iface->buffer_download(r.ctx, NULL, ob[1], 0, mask, on);
        int64_t longest = 0;
        k = truncated = 0;
        for (int64_t b = 0; b < B; b++) {
            int64_t j = 0;
            while (j < L && mask[b * L + j]) ids32[k++] = (int32_t)ids[b * L + j++];
            truncated |= j == L;
            if (j > longest) longest = j;
        }
        for (int i = 0; i < 2; i++) r.iface->buffer_free(r.ctx, ob[i]), ob[i] = NULL;
        dio_component_destroy(c);
        c = NULL;
        L = longest + 1;
    }
    uint8_t d[32];
    char hex[65], chex[65];
    dio_sha256(ids32, (size_t)k * 4, d);
    for (int j = 0; j < 32; j++) snprintf(hex + 2 * j, 3, "%02x", d[j]);
    dio_sha256(all.p, all.n, d);
    for (int j = 0; j < 32; j++) snprintf(chex + 2 * j, 3, "%02x", d[j]);
    printf("{\"what\": \"tokenizer_mixed\", \"side\": \"diorama\", \"mb_s\": %.3f, \"mb_s_worst\": %.3f, "
           "\"seconds\": %.6f, \"reps\": %d, \"load_s\": %.4f, \"bytes\": %zu, \"fixture_bytes\": %zu, "
           "\"fixture_part_bytes\": %zu, \"rows\": %lld, \"n_ids\": %lld, \"corpus_sha256\": \"%s\", "
           "\"ids_sha256\": \"%s\", \"max_length\": %lld, \"truncated\": %s}\n",
           (double)all.n / best / 1e6, (double)all.n / worst / 1e6, best, reps, load, all.n, fixture_bytes,
           fixture_part, (long long)B, (long long)k, chex, hex, (long long)L - 1,
           truncated ? "true" : "false");
    rc = 0;
done:
    for (int i = 0; i < 2; i++)
        if (ob[i]) r.iface->buffer_free(r.ctx, ob[i]);
    if (tb) r.iface->buffer_free(r.ctx, tb);
    if (lb) r.iface->buffer_free(r.ctx, lb);
    dio_component_destroy(c);
    dio_backend_close(be);
    dio_context_destroy(ctx);
    free(fx.p), free(all.p), free(rows), free(lens), free(ids), free(mask), free(ids32);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc >= 5 && strcmp(argv[1], "tokenizer") == 0)
        return bench_tokenizer_big(argv[2], argv[3], atoi(argv[4]), argc > 5 ? atof(argv[5]) : 10.0,
                                   argc > 6 ? argv[6] : NULL);
    if (argc < 6) {
        fprintf(stderr, "usage: bench_text PLUGIN_DIR BENCH_OUT_DIR FIXTURE_DIR THREADS REPS\n"
                        "       bench_text tokenizer PLUGIN_DIR FIXTURE_DIR REPS [MB] [CORPUS_OUT]\n");
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

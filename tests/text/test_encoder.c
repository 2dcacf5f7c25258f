/* The qwen-text-encoder component against tests/fixtures/text/encoder.safetensors (the pipeline's own
 * encode_prompt with the tiny Qwen2.5-VL and tokenizer_tiny), through libdiorama and the CPU backend:
 * the token ids of both prompts and the negative prompt from the C tokenizer (exact), then for both key
 * layouts the embedding (atol 1e-4), every hidden state, the last layer's raw output and layer 0's
 * sub-activations (atol 1e-5 + rtol 1e-4), with i64 and i32 ids; bf16 weights within relative L2 1e-2;
 * a reused instance gives the same result;
 * a missing weight, a wrong num_heads and an unknown stage fail with a message naming them.
 * Usage: test_text_encoder PLUGIN_DIR FIXTURE_DIR(tests/fixtures/text) WORK_DIR */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "diorama/diorama.h"
#include "qwen_tokenizer.h"
#include "test_backend.h"

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

static dio_context *ctx;
static dio_backend *be;
static dio_weights *fix;
static const char *fix_dir, *work;

/* Uploads the [B, L] ids `name` of the fixture as i64 (or converted to i32). */
static int ids_tensor(const char *name, int as_i32, dio_tensor *t, dio_buffer **buf)
{
    dio_backend_ref r = dio_backend_get_ref(be, 0);
    dio_weight_info w;
    w.struct_size = sizeof(w);
    if (dio_weights_find(fix, name, &w) != DIO_OK || w.dtype != DIO_DTYPE_I64) return 1;
    int64_t n = w.shape[0] * w.shape[1];
    void *host = (void *)w.data;
    int32_t *tmp = NULL;
    if (as_i32) {
        tmp = malloc((size_t)n * 4);
        for (int64_t i = 0; i < n; i++) tmp[i] = (int32_t)((const int64_t *)w.data)[i];
        host = tmp;
    }
    uint64_t bytes = (uint64_t)n * (as_i32 ? 4 : 8);
    int rc = r.iface->buffer_alloc(r.ctx, 0, bytes, buf) != DIO_OK ||
             r.iface->buffer_upload(r.ctx, NULL, *buf, 0, host, bytes) != DIO_OK;
    free(tmp);
    dio_tensor_init(t, as_i32 ? DIO_DTYPE_I32 : DIO_DTYPE_I64, 2, w.shape, *buf, 0);
    return rc;
}

static float *run(dio_component *comp, const dio_tensor *ids, dio_tensor *shape)
{
    dio_backend_ref r = dio_backend_get_ref(be, 0);
    dio_buffer *ob = NULL;
    float *host = NULL;
    const dio_tensor *in[1] = {ids};
    if (dio_component_output_shapes(comp, in, shape) != DIO_OK) goto fail;
    uint64_t bytes = (uint64_t)dio_tensor_numel(shape) * 4;
    if (r.iface->buffer_alloc(r.ctx, 0, bytes, &ob) != DIO_OK) goto fail;
    dio_tensor_init(shape, DIO_DTYPE_F32, shape->ndim, shape->shape, ob, 0);
    if (!(host = malloc(bytes))) goto fail;
    {
        const dio_tensor *o[] = {shape};
        if (dio_component_run(comp, in, o) != DIO_OK) goto fail;
    }
    if (r.iface->buffer_download(r.ctx, NULL, ob, 0, host, bytes) != DIO_OK) goto fail;
    r.iface->buffer_free(r.ctx, ob);
    return host;
fail:
    printf("  run failed: %s\n", dio_last_error());
    if (ob) r.iface->buffer_free(r.ctx, ob);
    free(host);
    return NULL;
}

/* Max of |got - ref| - rtol |ref| (<= atol passes); -1 on a size mismatch. */
static double excess(const float *got, const dio_tensor *gs, const char *ref_name, double rtol,
                     double *maxabs)
{
    dio_weight_info w;
    w.struct_size = sizeof(w);
    if (dio_weights_find(fix, ref_name, &w) != DIO_OK) return -1;
    int64_t n = 1;
    for (int i = 0; i < w.ndim; i++) n *= w.shape[i];
    if (n != dio_tensor_numel(gs)) return -1;
    const float *r = w.data;
    double worst = 0;
    *maxabs = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - r[i]);
        if (!(d <= *maxabs)) *maxabs = isnan(d) ? INFINITY : d;
        double ex = d - rtol * fabs(r[i]);
        if (!(ex <= worst)) worst = isnan(ex) ? INFINITY : ex;
    }
    return worst;
}

static const char *const stages[][2] = {
    {"", "embeds"},
    {"hidden.0", "hidden_states.0"},
    {"hidden.1", "hidden_states.1"},
    {"hidden.2", "hidden_states.2"},
    {"last_layer_raw", "last_layer_raw"},
    {"layer0.input_layernorm", "layer0.input_layernorm"},
    {"layer0.self_attn.q_proj", "layer0.self_attn.q_proj"},
    {"layer0.self_attn.k_proj", "layer0.self_attn.k_proj"},
    {"layer0.self_attn.v_proj", "layer0.self_attn.v_proj"},
    {"layer0.self_attn.o_proj", "layer0.self_attn.o_proj"},
    {"layer0.post_attention_layernorm", "layer0.post_attention_layernorm"},
    {"layer0.mlp", "layer0.mlp"},
};

static void check_layout(const char *folder)
{
    char p[4096];
    dio_weights *w = NULL;
    snprintf(p, sizeof p, "%s/%s/model.safetensors", fix_dir, folder);
    if (dio_weights_open(p, &w) != DIO_OK) {
        CHECK(0, "open %s: %s", p, dio_last_error());
        return;
    }
    static const char *const batches[] = {"prompt", "negative"};
    for (int b = 0; b < 2; b++)
        for (int as32 = 0; as32 < 2; as32++)
            for (size_t s = 0; s < sizeof stages / sizeof stages[0]; s++) {
                if (as32 && s) continue; /* i32 ids: the embedding only */
                if (b == 1 && !strstr(stages[s][1], "embeds") && !strstr(stages[s][1], "hidden") &&
                    !strstr(stages[s][1], "last"))
                    continue;
                dio_kv kv[2] = {{"num_heads", "4"}, {"stage", stages[s][0]}};
                dio_component *comp = NULL;
                char ids_name[64], ref[128];
                dio_tensor ids, shape;
                dio_buffer *ib = NULL;
                snprintf(ids_name, sizeof ids_name, "%s.input_ids", batches[b]);
                snprintf(ref, sizeof ref, "%s.%s", batches[b], stages[s][1]);
                if (ids_tensor(ids_name, as32, &ids, &ib)) {
                    CHECK(0, "ids %s", ids_name);
                    continue;
                }
                if (dio_component_create(ctx, be, "qwen-text-encoder", w, kv, 2, &comp) != DIO_OK) {
                    CHECK(0, "%s: create: %s", folder, dio_last_error());
                } else {
                    float *got = run(comp, &ids, &shape);
                    double maxabs = 0, ex = got ? excess(got, &shape, ref, s ? 1e-4 : 0, &maxabs) : -1;
                    double atol = s ? 1e-5 : 1e-4;
                    CHECK(got && ex >= 0 && ex <= atol, "%s %s%s: excess %.3g (max abs %.3g)", folder, ref,
                          as32 ? " (i32 ids)" : "", ex, maxabs);
                    if (got && ex >= 0 && (s == 0 || !strcmp(folder, "text_encoder")))
                        printf("  %-14s %-40s max abs %.2e%s\n", folder, ref, maxabs,
                               as32 ? " (i32 ids)" : "");
                    free(got);
                }
                dio_component_destroy(comp);
                dio_backend_ref r = dio_backend_get_ref(be, 0);
                r.iface->buffer_free(r.ctx, ib);
            }
    /* reuse: one instance, two shapes, then the first again */
    {
        dio_kv kv[1] = {{"num_heads", "4"}};
        dio_component *comp = NULL;
        dio_tensor a, c, s1, s2, s3;
        dio_buffer *ab = NULL, *cb = NULL;
        double m1 = 0, m2 = 0, m3 = 0;
        if (!ids_tensor("prompt.input_ids", 0, &a, &ab) && !ids_tensor("negative.input_ids", 0, &c, &cb) &&
            dio_component_create(ctx, be, "qwen-text-encoder", w, kv, 1, &comp) == DIO_OK) {
            float *g1 = run(comp, &a, &s1), *g2 = run(comp, &c, &s2), *g3 = run(comp, &a, &s3);
            CHECK(g1 && g2 && g3 && excess(g1, &s1, "prompt.embeds", 0, &m1) <= 1e-4 &&
                      excess(g2, &s2, "negative.embeds", 0, &m2) <= 1e-4 &&
                      excess(g3, &s3, "prompt.embeds", 0, &m3) <= 1e-4 &&
                      memcmp(g1, g3, (size_t)dio_tensor_numel(&s1) * 4) == 0,
                  "%s: reuse across shapes", folder);
            free(g1);
            free(g2);
            free(g3);
        } else {
            CHECK(0, "%s reuse: %s", folder, dio_last_error());
        }
        dio_component_destroy(comp);
        dio_backend_ref r = dio_backend_get_ref(be, 0);
        r.iface->buffer_free(r.ctx, ab);
        r.iface->buffer_free(r.ctx, cb);
    }
    dio_weights_close(w);
}

static uint16_t f32_to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

/* Writes the tiny weights without DROP (NULL: keep all), as bf16 when BF16; returns them opened or NULL. */
static dio_weights *variant(const char *drop, int bf16)
{
    char p[4096], out[4096];
    dio_weights *src = NULL, *res = NULL;
    snprintf(p, sizeof p, "%s/text_encoder/model.safetensors", fix_dir);
    snprintf(out, sizeof out, "%s/text_encoder_%s.safetensors", work, bf16 ? "bf16" : "drop");
    if (dio_weights_open(p, &src) != DIO_OK) return NULL;
    int64_t n = dio_weights_count(src), k = 0;
    dio_named_tensor *t = calloc((size_t)n, sizeof(*t));
    uint16_t **conv = calloc((size_t)n, sizeof(*conv));
    int ok = t && conv;
    for (int64_t i = 0; ok && i < n; i++) {
        const char *nm;
        dio_weight_info w;
        w.struct_size = sizeof(w);
        if (dio_weights_at(src, i, &nm, &w) != DIO_OK || (drop && !strcmp(nm, drop))) continue;
        t[k].name = nm;
        t[k].dtype = w.dtype;
        t[k].ndim = w.ndim;
        memcpy(t[k].shape, w.shape, sizeof(t[k].shape));
        t[k].data = w.data;
        if (bf16 && w.dtype == DIO_DTYPE_F32) {
            size_t m = (size_t)(w.nbytes / 4);
            if (!(conv[k] = malloc(m * 2 + 2))) {
                ok = 0;
                break;
            }
            for (size_t j = 0; j < m; j++) conv[k][j] = f32_to_bf16(((const float *)w.data)[j]);
            t[k].dtype = DIO_DTYPE_BF16;
            t[k].data = conv[k];
        }
        k++;
    }
    if (ok && dio_safetensors_write(out, t, (size_t)k, NULL, 0) == DIO_OK) dio_weights_open(out, &res);
    for (int64_t i = 0; conv && i < n; i++) free(conv[i]);
    free(conv);
    free(t);
    dio_weights_close(src);
    return res;
}

/* bf16 weights (q/k/v biases converted to f32 inside): the embedding within relative L2 1e-2 of the fp32
 * golden. */
static void check_bf16(void)
{
    dio_weights *w = variant(NULL, 1);
    dio_kv kv[1] = {{"num_heads", "4"}};
    dio_component *comp = NULL;
    dio_tensor ids, shape;
    dio_buffer *ib = NULL;
    CHECK(w != NULL, "write bf16 variant: %s", dio_last_error());
    if (!w) return;
    if (!ids_tensor("prompt.input_ids", 0, &ids, &ib) &&
        dio_component_create(ctx, be, "qwen-text-encoder", w, kv, 1, &comp) == DIO_OK) {
        float *got = run(comp, &ids, &shape);
        dio_weight_info r;
        r.struct_size = sizeof(r);
        double e2 = 0, r2 = 0;
        if (got && dio_weights_find(fix, "prompt.embeds", &r) == DIO_OK &&
            (int64_t)(r.nbytes / 4) == dio_tensor_numel(&shape)) {
            for (int64_t i = 0; i < dio_tensor_numel(&shape); i++) {
                double d = got[i] - ((const float *)r.data)[i];
                e2 += d * d;
                r2 += (double)((const float *)r.data)[i] * ((const float *)r.data)[i];
            }
            double rel = sqrt(e2 / r2);
            CHECK(rel <= 1e-2, "bf16 weights: relative L2 %.3g > 1e-2", rel);
            printf("  bf16 weights   prompt.embeds relative L2 %.2e\n", rel);
        } else {
            CHECK(0, "bf16 weights: run failed");
        }
        free(got);
    } else {
        CHECK(0, "bf16 weights: %s", dio_last_error());
    }
    dio_component_destroy(comp);
    dio_backend_ref rr = dio_backend_get_ref(be, 0);
    rr.iface->buffer_free(rr.ctx, ib);
    dio_weights_close(w);
}

static void check_errors(void)
{
    dio_component *comp = NULL;
    dio_weights *w = variant("model.layers.1.self_attn.v_proj.bias", 0);
    dio_kv kv[2] = {{"num_heads", "4"}, {"stage", "layer9.mlp"}};
    CHECK(w != NULL, "write variant: %s", dio_last_error());
    if (!w) return;
    CHECK(dio_component_create(ctx, be, "qwen-text-encoder", w, kv, 1, &comp) != DIO_OK &&
              strstr(dio_last_error(), "model.layers.1.self_attn.v_proj.bias"),
          "missing weight not named: %s", dio_last_error());
    printf("  missing weight -> %s\n", dio_last_error());
    dio_component_destroy(comp);
    comp = NULL;
    dio_weights_close(w);
    char p[4096];
    snprintf(p, sizeof p, "%s/text_encoder/model.safetensors", fix_dir);
    if (dio_weights_open(p, &w) != DIO_OK) return;
    dio_kv bad[1] = {{"num_heads", "3"}};
    CHECK(dio_component_create(ctx, be, "qwen-text-encoder", w, bad, 1, &comp) != DIO_OK &&
              strstr(dio_last_error(), "q_proj"),
          "num_heads 3 accepted: %s", dio_last_error());
    printf("  num_heads 3 -> %s\n", dio_last_error());
    dio_component_destroy(comp);
    comp = NULL;
    CHECK(dio_component_create(ctx, be, "qwen-text-encoder", w, NULL, 0, &comp) != DIO_OK,
          "num_heads 0 (head_dim 128) accepted on the tiny model");
    printf("  num_heads default -> %s\n", dio_last_error());
    dio_component_destroy(comp);
    comp = NULL;
    if (dio_component_create(ctx, be, "qwen-text-encoder", w, kv, 2, &comp) == DIO_OK) {
        dio_tensor ids, shape;
        dio_buffer *ib = NULL;
        if (!ids_tensor("prompt.input_ids", 0, &ids, &ib)) {
            const dio_tensor *in[1] = {&ids};
            CHECK(dio_component_output_shapes(comp, in, &shape) != DIO_OK &&
                      strstr(dio_last_error(), "layer9.mlp"),
                  "unknown stage: %s", dio_last_error());
            dio_backend_ref r = dio_backend_get_ref(be, 0);
            r.iface->buffer_free(r.ctx, ib);
        }
    }
    dio_component_destroy(comp);
    dio_weights_close(w);
}

/* The C tokenizer (tokenizer_tiny, Cosmos template, max length 64) gives the fixture's ids and masks for the
 * texts of encoder.json, so tokenizer and encoder meet on the pipeline's own inputs. */
static void check_ids(void)
{
    char p[4096], err[512] = "";
    snprintf(p, sizeof p, "%s/tokenizer_tiny", fix_dir);
    qwen_tokenizer *t = qwen_tok_load(p, err, sizeof err);
    CHECK(t, "%s", err);
    snprintf(p, sizeof p, "%s/encoder.json", fix_dir);
    FILE *f = fopen(p, "rb");
    char *js = NULL;
    long sz = 0;
    if (f) {
        fseek(f, 0, SEEK_END);
        sz = ftell(f);
        fseek(f, 0, SEEK_SET);
        js = malloc((size_t)sz + 1);
        if (js && fread(js, 1, (size_t)sz, f) == (size_t)sz)
            js[sz] = 0;
        else {
            free(js);
            js = NULL;
        }
        fclose(f);
    }
    cJSON *root = js ? cJSON_Parse(js) : NULL;
    free(js);
    CHECK(root, "cannot read %s", p);
    static const char *const calls[] = {"prompt", "negative"};
    for (int c = 0; t && root && c < 2; c++) {
        const cJSON *texts =
            cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(root, "calls"), calls[c]), "texts");
        char name[64];
        dio_weight_info ids, mask;
        ids.struct_size = mask.struct_size = sizeof(ids);
        snprintf(name, sizeof name, "%s.input_ids", calls[c]);
        int ok = dio_weights_find(fix, name, &ids) == DIO_OK;
        snprintf(name, sizeof name, "%s.attention_mask", calls[c]);
        ok &= dio_weights_find(fix, name, &mask) == DIO_OK;
        CHECK(ok && cJSON_IsArray(texts), "%s: no texts or ids", calls[c]);
        if (!ok || !cJSON_IsArray(texts)) continue;
        int64_t L = ids.shape[1], row = 0;
        for (const cJSON *x = texts->child; x && row < ids.shape[0]; x = x->next, row++) {
            int32_t got[512], gm[512];
            size_t n = 0;
            int rc = L <= 512 ? qwen_tok_encode_cosmos(t, x->valuestring, strlen(x->valuestring), (size_t)L,
                                                       got, gm, NULL, &n, err, sizeof err)
                              : -1;
            int same = rc == 0 && n == (size_t)L;
            for (int64_t i = 0; same && i < L; i++)
                same = got[i] == ((const int64_t *)ids.data)[row * L + i] &&
                       gm[i] == ((const int64_t *)mask.data)[row * L + i];
            CHECK(same, "%s row %lld: C tokenizer ids differ from the fixture (%s)", calls[c], (long long)row,
                  err);
        }
    }
    cJSON_Delete(root);
    qwen_tok_free(t);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s PLUGIN_DIR FIXTURE_DIR WORK_DIR\n", argv[0]);
        return 2;
    }
    fix_dir = argv[2];
    work = argv[3];
    char p[4096];
    snprintf(p, sizeof p, "%s/encoder.safetensors", fix_dir);
    dio_status st0 = dio_test_open_backend(argv[1], &ctx, &be);
    if (st0 != DIO_OK) return st0 == DIO_ERR_NOT_SUPPORTED ? 77 : 1;
    if (dio_weights_open(p, &fix) != DIO_OK) {
        printf("FAIL: setup: %s\n", dio_last_error());
        return 1;
    }
    check_ids();
    check_layout("text_encoder");
    check_layout("text_encoder_altkeys");
    check_bf16();
    check_errors();
    dio_weights_close(fix);
    dio_backend_close(be);
    dio_context_destroy(ctx);
    printf(failures ? "%d failures\n" : "all passed\n", failures);
    return failures != 0;
}

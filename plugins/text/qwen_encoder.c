/* qwen-text-encoder — the Qwen2.5-VL language model (Cosmos-Reason1's text tower) and the Cosmos 2.5 prompt
 * embedding, computed only through the backend op table.
 *
 * Weights: found by name under `model.` (released checkpoints) or `model.language_model.` (transformers v5
 * module names); the vision tower and lm_head are never looked up, so they are never read. Widths come from
 * the tensors (embedding → vocab, hidden; q/k/gate → heads·head_dim, kv width, intermediate); the head count
 * is a parameter (config.json's num_attention_heads) because the weights cannot tell head_dim apart from the
 * head count; 0 means head_dim 128 (every released Qwen2.5 size). Weights stay where the host mapped them
 * (zero-copy on host-memory devices when aligned, copied otherwise); q/k/v biases are converted to f32 with
 * a COPY when stored in another dtype, as ops.h wants biases in the activation dtype.
 *
 * Forward (f32 activations): GATHER embedding; per layer RMSNorm → q/k/v MATMUL with bias → ROPE
 * rotate-half (host-built cos/sin tables, θ from `rope_theta`, float32 arithmetic as transformers) →
 * causal GQA ATTENTION over all positions, no mask (as the pipeline calls it) → o_proj → ADD; RMSNorm →
 * gate/up MATMUL → SWIGLU → down → ADD; final RMSNorm. Embedding: hidden states 1..L (layer outputs, the
 * last one after the final norm), each normalised per token by mean and unbiased std + 1e-8, concatenated in
 * layer order. The normalisation is one LAYERNORM per layer written straight into its slice of the output:
 * (x−m)/sqrt(var_b + 1e-16) · sqrt((C−1)/C) equals (x−m)/(std_u + 1e-8) up to a relative 1e-8/std_u (and
 * gives 0, not NaN, on a constant row).
 * Memory: one arena buffer per input shape holds every activation (residual, normed, q, k, v, attention
 * output, two MLP-width tensors, the RoPE tables), reused by every layer.
 * `stage` (testing) outputs one activation instead: hidden.K, last_layer_raw, layerI.{input_layernorm,
 * self_attn.q_proj (before RoPE), self_attn.k_proj, self_attn.v_proj, self_attn.o_proj,
 * post_attention_layernorm, mlp}. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diorama/component.h"
#include "diorama/ops.h"

#define WHO "qwen-text-encoder"

typedef struct tw {
    dio_tensor t;
    dio_buffer *buf;
} tw;

enum { W_IN_NORM, W_Q, W_QB, W_K, W_KB, W_V, W_VB, W_O, W_POST_NORM, W_GATE, W_UP, W_DOWN, W_COUNT };
static const char *const layer_keys[W_COUNT] = {
    "input_layernorm.weight",  "self_attn.q_proj.weight", "self_attn.q_proj.bias",
    "self_attn.k_proj.weight", "self_attn.k_proj.bias",   "self_attn.v_proj.weight",
    "self_attn.v_proj.bias",   "self_attn.o_proj.weight", "post_attention_layernorm.weight",
    "mlp.gate_proj.weight",    "mlp.up_proj.weight",      "mlp.down_proj.weight"};

enum { RG_X, RG_N, RG_Q, RG_K, RG_V, RG_A, RG_T, RG_G, RG_U, RG_COS, RG_SIN, RG_COUNT };

typedef struct qenc {
    const dio_host_services *host;
    dio_backend_ref be;
    int64_t n_layers, C, Hq, Hkv, hd, I, V;
    float theta, eps;
    const char *prefix;
    tw embed, norm, scale; /* scale: [C] f32, sqrt((C-1)/C), the unbiased-std factor */
    tw *layers;            /* [n_layers][W_COUNT] */
    char stage[64];
    dio_buffer *arena;
    uint64_t arena_size, off[RG_COUNT];
    int64_t key_B, key_L;
} qenc;

static const dio_port_desc enc_inputs[] = {
    {sizeof(dio_port_desc), -1, 2, 0, "input_ids", "[B, L]", "token ids (i32 or i64), contiguous"},
};
static const dio_port_desc enc_outputs[] = {
    {sizeof(dio_port_desc), DIO_DTYPE_F32, 3, 0, "embeddings", "[B, L, num_layers * hidden]",
     "the Cosmos 2.5 prompt embedding (f32); with `stage` set, that activation instead"},
};
static const dio_param_desc enc_params[] = {
    {sizeof(dio_param_desc), DIO_PARAM_INT, "num_heads", "0", 0, 4096, NULL,
     "attention heads (config.json num_attention_heads); 0: head_dim 128"},
    {sizeof(dio_param_desc), DIO_PARAM_FLOAT, "rope_theta", "1000000", 1, 1e12, NULL, "RoPE base"},
    {sizeof(dio_param_desc), DIO_PARAM_FLOAT, "rms_norm_eps", "1e-6", 0, 1, NULL, "RMSNorm eps"},
    {sizeof(dio_param_desc), DIO_PARAM_STRING, "stage", "", 0, -1, NULL,
     "testing: output this activation instead (hidden.K, last_layer_raw, layerI.{input_layernorm, "
     "self_attn.q_proj, self_attn.k_proj, self_attn.v_proj, self_attn.o_proj, post_attention_layernorm, "
     "mlp})"},
};
#define N_PARAMS ((int32_t)(sizeof(enc_params) / sizeof(enc_params[0])))

static const char *param(const dio_component_create_info *info, const char *key)
{
    for (size_t i = 0; i < info->n_params; i++)
        if (strcmp(info->params[i].key, key) == 0) return info->params[i].value;
    for (int32_t i = 0; i < N_PARAMS; i++)
        if (strcmp(enc_params[i].name, key) == 0) return enc_params[i].default_value;
    return "";
}

/* ---- weights ---- */

static void tw_free(qenc *e, tw *w)
{
    if (w->buf) e->be.iface->buffer_free(e->be.ctx, w->buf);
    memset(w, 0, sizeof(*w));
}

static dio_status place(qenc *e, const void *data, uint64_t nbytes, int32_t dtype, int32_t ndim,
                        const int64_t *shape, tw *out)
{
    dio_buffer *buf = NULL;
    dio_status st = dio_backend_place_host(&e->be, data, nbytes, dio_dtype_size(dtype), &buf);
    if (st != DIO_OK) return st;
    dio_tensor_init(&out->t, dtype, ndim, shape, buf, 0);
    out->buf = buf;
    return DIO_OK;
}

/* Finds NAME (f32/f16/bf16, NDIM dims matching EXPECT, -1 = any) and places it. */
static dio_status get(qenc *e, const dio_weight_source *src, const char *name, int32_t ndim,
                      const int64_t *expect, tw *out)
{
    const dio_host_services *h = e->host;
    dio_weight_info w;
    int64_t numel = 1;
    int ok;
    memset(&w, 0, sizeof(w));
    w.struct_size = sizeof(w);
    if (src->find(src->ctx, name, &w) != DIO_OK)
        return h->set_error(DIO_ERR_INVALID_ARGUMENT, WHO ": weight \"%s\" is missing", name);
    if (w.dtype != DIO_DTYPE_F32 && w.dtype != DIO_DTYPE_F16 && w.dtype != DIO_DTYPE_BF16)
        return h->set_error(DIO_ERR_BAD_FORMAT, WHO ": weight \"%s\" is %s, expected f32, f16 or bf16", name,
                            dio_dtype_name(w.dtype));
    ok = w.ndim == ndim;
    for (int32_t i = 0; ok && i < ndim; i++) ok = expect[i] < 0 || w.shape[i] == expect[i];
    if (!ok) {
        char got[128], want[128];
        int64_t x[DIO_MAX_DIMS];
        for (int32_t i = 0; i < ndim; i++) x[i] = expect[i] < 0 ? (i < w.ndim ? w.shape[i] : 0) : expect[i];
        dio_shape_format(w.ndim, w.shape, got, sizeof(got));
        dio_shape_format(ndim, x, want, sizeof(want));
        return h->set_error(DIO_ERR_BAD_FORMAT, WHO ": weight \"%s\" has shape %s, expected %s", name, got,
                            want);
    }
    for (int32_t i = 0; i < ndim; i++) numel *= w.shape[i];
    if (!w.data || w.nbytes != (uint64_t)numel * dio_dtype_size(w.dtype))
        return h->set_error(DIO_ERR_BAD_FORMAT, WHO ": weight \"%s\" holds %llu bytes, its shape needs %llu",
                            name, (unsigned long long)w.nbytes,
                            (unsigned long long)((uint64_t)numel * dio_dtype_size(w.dtype)));
    return place(e, w.data, w.nbytes, w.dtype, w.ndim, w.shape, out);
}

/* Converts a placed weight to f32 with one COPY (biases must have the activation dtype). */
static dio_status to_f32(qenc *e, tw *w)
{
    tw n;
    dio_stream *s = NULL;
    dio_status st;
    const dio_tensor *in[1], *out[1];
    if (w->t.dtype == DIO_DTYPE_F32) return DIO_OK;
    memset(&n, 0, sizeof(n));
    if ((st = e->be.iface->buffer_alloc(e->be.ctx, e->be.device, (uint64_t)dio_tensor_numel(&w->t) * 4,
                                        &n.buf)) != DIO_OK)
        return st;
    dio_tensor_init(&n.t, DIO_DTYPE_F32, w->t.ndim, w->t.shape, n.buf, 0);
    if ((st = e->be.iface->stream_create(e->be.ctx, e->be.device, &s)) == DIO_OK) {
        in[0] = &w->t;
        out[0] = &n.t;
        st = dio_run(&e->be, s, DIO_OP_COPY, in, 1, out, 1, NULL);
        if (st == DIO_OK) st = e->be.iface->stream_sync(e->be.ctx, s);
        e->be.iface->stream_destroy(e->be.ctx, s);
    }
    if (st != DIO_OK) {
        tw_free(e, &n);
        return st;
    }
    tw_free(e, w);
    *w = n;
    return DIO_OK;
}

static void free_weights(qenc *e)
{
    tw_free(e, &e->embed);
    tw_free(e, &e->norm);
    tw_free(e, &e->scale);
    if (e->layers)
        for (int64_t i = 0; i < e->n_layers * W_COUNT; i++) tw_free(e, &e->layers[i]);
    free(e->layers);
    e->layers = NULL;
}

static dio_status load_weights(qenc *e, const dio_weight_source *src, int32_t num_heads)
{
    const dio_host_services *h = e->host;
    char name[256];
    dio_status st;
    int64_t any2[2] = {-1, -1};
    if (dio_weight_source_has(src, "model.embed_tokens.weight"))
        e->prefix = "model.";
    else if (dio_weight_source_has(src, "model.language_model.embed_tokens.weight"))
        e->prefix = "model.language_model.";
    else
        return h->set_error(DIO_ERR_INVALID_ARGUMENT,
                            WHO ": weight \"model.embed_tokens.weight\" is missing (nor "
                                "\"model.language_model.embed_tokens.weight\": not a Qwen2.5-VL checkpoint)");
    snprintf(name, sizeof name, "%sembed_tokens.weight", e->prefix);
    if ((st = get(e, src, name, 2, any2, &e->embed)) != DIO_OK) return st;
    e->V = e->embed.t.shape[0];
    e->C = e->embed.t.shape[1];
    for (e->n_layers = 0;; e->n_layers++) {
        snprintf(name, sizeof name, "%slayers.%lld.%s", e->prefix, (long long)e->n_layers, layer_keys[W_Q]);
        if (!dio_weight_source_has(src, name)) break;
    }
    if (e->n_layers == 0)
        return h->set_error(DIO_ERR_INVALID_ARGUMENT, WHO ": weight \"%s\" is missing (no decoder layers)",
                            name);
    if (!(e->layers = calloc((size_t)e->n_layers * W_COUNT, sizeof(tw))))
        return h->set_error(DIO_ERR_OUT_OF_HOST_MEMORY, WHO ": out of memory");
    int64_t C = e->C;
    /* widths from layer 0 */
    tw *l0 = e->layers;
    int64_t e_q[2] = {-1, C}, e_k[2] = {-1, C}, e_g[2] = {-1, C};
    snprintf(name, sizeof name, "%slayers.0.%s", e->prefix, layer_keys[W_Q]);
    if ((st = get(e, src, name, 2, e_q, &l0[W_Q])) != DIO_OK) return st;
    snprintf(name, sizeof name, "%slayers.0.%s", e->prefix, layer_keys[W_K]);
    if ((st = get(e, src, name, 2, e_k, &l0[W_K])) != DIO_OK) return st;
    snprintf(name, sizeof name, "%slayers.0.%s", e->prefix, layer_keys[W_GATE]);
    if ((st = get(e, src, name, 2, e_g, &l0[W_GATE])) != DIO_OK) return st;
    int64_t qw = l0[W_Q].t.shape[0], kw = l0[W_K].t.shape[0];
    e->I = l0[W_GATE].t.shape[0];
    e->Hq = num_heads > 0 ? num_heads : qw / 128;
    if (e->Hq <= 0 || qw % e->Hq || (qw / e->Hq) % 2 || kw % (qw / e->Hq) || !kw ||
        e->Hq % (kw / (qw / e->Hq))) {
        snprintf(name, sizeof name, "%slayers.0.%s", e->prefix, layer_keys[W_Q]);
        return h->set_error(
            DIO_ERR_INVALID_ARGUMENT,
            WHO ": weight \"%s\" has %lld outputs and k_proj %lld: no even head_dim for num_heads "
                "%lld%s (set num_heads from config.json)",
            name, (long long)qw, (long long)kw, (long long)e->Hq,
            num_heads > 0 ? "" : " (the default: head_dim 128)");
    }
    e->hd = qw / e->Hq;
    e->Hkv = kw / e->hd;
    for (int64_t li = 0; li < e->n_layers; li++) {
        const int64_t shp[W_COUNT][2] = {{C, 0},  {qw, C}, {qw, 0}, {kw, C},   {kw, 0},   {kw, C},
                                         {kw, 0}, {C, qw}, {C, 0},  {e->I, C}, {e->I, C}, {C, e->I}};
        for (int i = 0; i < W_COUNT; i++) {
            tw *w = &e->layers[li * W_COUNT + i];
            if (w->buf) continue;
            snprintf(name, sizeof name, "%slayers.%lld.%s", e->prefix, (long long)li, layer_keys[i]);
            if ((st = get(e, src, name, shp[i][1] ? 2 : 1, shp[i], w)) != DIO_OK) return st;
            if ((i == W_QB || i == W_KB || i == W_VB) && (st = to_f32(e, w)) != DIO_OK) return st;
        }
    }
    int64_t ec[1] = {C};
    snprintf(name, sizeof name, "%snorm.weight", e->prefix);
    if ((st = get(e, src, name, 1, ec, &e->norm)) != DIO_OK) return st;
    /* the unbiased-std factor */
    float *sv = malloc((size_t)C * sizeof(float));
    if (!sv) return h->set_error(DIO_ERR_OUT_OF_HOST_MEMORY, WHO ": out of memory");
    for (int64_t i = 0; i < C; i++) sv[i] = C > 1 ? (float)sqrt((double)(C - 1) / (double)C) : 1.0f;
    st = e->be.iface->buffer_alloc(e->be.ctx, e->be.device, (uint64_t)C * 4, &e->scale.buf);
    if (st == DIO_OK) st = e->be.iface->buffer_upload(e->be.ctx, NULL, e->scale.buf, 0, sv, (uint64_t)C * 4);
    free(sv);
    if (st != DIO_OK) return st;
    dio_tensor_init(&e->scale.t, DIO_DTYPE_F32, 1, ec, e->scale.buf, 0);
    return DIO_OK;
}

/* ---- component ---- */

static void enc_destroy(void *self)
{
    qenc *e = self;
    if (!e) return;
    if (e->arena) e->be.iface->buffer_free(e->be.ctx, e->arena);
    free_weights(e);
    free(e);
}

static dio_status enc_create(const dio_component_create_info *info, void **out)
{
    const dio_host_services *h = info->host;
    dio_status st;
    if (!info->weights) return h->set_error(DIO_ERR_INVALID_ARGUMENT, WHO ": needs weights");
    qenc *e = calloc(1, sizeof(*e));
    if (!e) return h->set_error(DIO_ERR_OUT_OF_HOST_MEMORY, WHO ": out of memory");
    e->host = h;
    e->be = *info->backend;
    e->theta = strtof(param(info, "rope_theta"), NULL);
    e->eps = strtof(param(info, "rms_norm_eps"), NULL);
    const char *v = param(info, "stage");
    if (strlen(v) >= sizeof(e->stage)) {
        st = h->set_error(DIO_ERR_INVALID_ARGUMENT, WHO ": stage \"%s\" is too long", v);
        goto fail;
    }
    strcpy(e->stage, v);
    if ((st = load_weights(e, info->weights, atoi(param(info, "num_heads")))) != DIO_OK) goto fail;
    *out = e;
    return DIO_OK;
fail:
    enc_destroy(e);
    return st;
}

/* The stage's layer (-1 none) and sub-activation, or the hidden-state index; width of the output. */
typedef struct stage_sel {
    int kind; /* 0 embeddings, 1 hidden.K, 2 last_layer_raw, 3 layer sub-activation */
    int64_t index;
    int sub; /* for kind 3: 0 input_layernorm, 1 q, 2 k, 3 v, 4 o_proj, 5 post_attention_layernorm, 6 mlp */
    int64_t width;
} stage_sel;

static dio_status parse_stage(qenc *e, stage_sel *s)
{
    static const char *const subs[] = {"input_layernorm",
                                       "self_attn.q_proj",
                                       "self_attn.k_proj",
                                       "self_attn.v_proj",
                                       "self_attn.o_proj",
                                       "post_attention_layernorm",
                                       "mlp"};
    memset(s, 0, sizeof(*s));
    s->width = e->n_layers * e->C;
    if (!e->stage[0]) return DIO_OK;
    long long k;
    int n = 0;
    if (sscanf(e->stage, "hidden.%lld%n", &k, &n) == 1 && !e->stage[n] && k >= 0 && k <= e->n_layers) {
        s->kind = 1;
        s->index = k;
        s->width = e->C;
        return DIO_OK;
    }
    if (!strcmp(e->stage, "last_layer_raw")) {
        s->kind = 2;
        s->width = e->C;
        return DIO_OK;
    }
    if (sscanf(e->stage, "layer%lld.%n", &k, &n) == 1 && n > 0 && k >= 0 && k < e->n_layers)
        for (int i = 0; i < 7; i++)
            if (!strcmp(e->stage + n, subs[i])) {
                s->kind = 3;
                s->index = k;
                s->sub = i;
                s->width = i == 1 ? e->Hq * e->hd : (i == 2 || i == 3) ? e->Hkv * e->hd : e->C;
                return DIO_OK;
            }
    return e->host->set_error(DIO_ERR_INVALID_ARGUMENT, WHO ": unknown stage \"%s\"", e->stage);
}

static dio_status enc_output_shapes(void *self, const dio_tensor *const *in, dio_tensor *out)
{
    qenc *e = self;
    stage_sel s;
    dio_status st;
    const dio_tensor *ids = in ? in[0] : NULL;
    if (!ids || ids->ndim != 2 || (ids->dtype != DIO_DTYPE_I32 && ids->dtype != DIO_DTYPE_I64) ||
        ids->shape[0] < 1 || ids->shape[1] < 1 || !dio_tensor_is_contiguous(ids))
        return e->host->set_error(DIO_ERR_INVALID_ARGUMENT,
                                  WHO ": input \"input_ids\" must be a contiguous [B, L] i32 or i64 tensor");
    if ((st = parse_stage(e, &s)) != DIO_OK) return st;
    int64_t shape[3] = {ids->shape[0], ids->shape[1], s.width};
    dio_tensor_init(out, DIO_DTYPE_F32, 3, shape, NULL, 0);
    return DIO_OK;
}

/* ---- forward ---- */

typedef struct fwd {
    qenc *e;
    dio_stream *s;
    int64_t B, L, N;
} fwd;

static dio_tensor av(const fwd *f, int rg, int32_t nd, const int64_t *shape)
{
    dio_tensor t;
    dio_tensor_init(&t, DIO_DTYPE_F32, nd, shape, f->e->arena, f->e->off[rg]);
    return t;
}

#define SHP(...) ((const int64_t[]){__VA_ARGS__})

static dio_status op(const fwd *f, int32_t o, const dio_tensor *a, const dio_tensor *b, const dio_tensor *c,
                     int32_t nin, const dio_tensor *y, const void *p)
{
    const dio_tensor *in[3] = {a, b, c};
    const dio_tensor *out[1] = {y};
    return dio_run(&f->e->be, f->s, o, in, nin, out, 1, p); /* the backend's message names the op */
}

static dio_status linear(const fwd *f, const dio_tensor *x, const tw *w, const tw *bias, const dio_tensor *y)
{
    dio_matmul_params mp = {sizeof(mp), 0, 1, 1.0f, 0.0f};
    return op(f, DIO_OP_MATMUL, x, &w->t, bias ? &bias->t : NULL, 3, y, &mp);
}

static dio_status rmsnorm(const fwd *f, const dio_tensor *x, const tw *w, const dio_tensor *y)
{
    dio_norm_params np = {sizeof(np), f->e->eps};
    return op(f, DIO_OP_RMSNORM, x, &w->t, NULL, 2, y, &np);
}

/* Copies a [N, W] region to the output (stage). */
static dio_status emit(const fwd *f, const dio_tensor *x, const dio_tensor *out)
{
    dio_tensor o = *out;
    int64_t w = x->shape[x->ndim - 1];
    dio_tensor_init(&o, DIO_DTYPE_F32, 2, SHP(f->N, w), out->buffer, out->offset);
    dio_tensor xi = *x;
    dio_tensor_init(&xi, x->dtype, 2, SHP(f->N, w), x->buffer, x->offset);
    return op(f, DIO_OP_COPY, &xi, NULL, NULL, 1, &o, NULL);
}

/* Writes the per-token normalised X into slice K of the embedding output. */
static dio_status embed_slice(const fwd *f, const dio_tensor *x, int64_t k, const dio_tensor *out)
{
    qenc *e = f->e;
    dio_tensor o;
    dio_tensor_init(&o, DIO_DTYPE_F32, 2, SHP(f->N, e->C), out->buffer,
                    out->offset + (uint64_t)(k * e->C) * 4);
    o.stride[0] = e->n_layers * e->C;
    dio_norm_params np = {sizeof(np), 1e-16f};
    return op(f, DIO_OP_LAYERNORM, x, &e->scale.t, NULL, 2, &o, &np);
}

static dio_status plan(qenc *e, int64_t B, int64_t L)
{
    if (e->arena && e->key_B == B && e->key_L == L) return DIO_OK;
    if (e->arena) e->be.iface->buffer_free(e->be.ctx, e->arena);
    e->arena = NULL;
    int64_t N = B * L, qw = e->Hq * e->hd, kw = e->Hkv * e->hd;
    const int64_t sz[RG_COUNT] = {N * e->C, N * e->C, N * qw,   N * kw,    N * kw,   N * qw,
                                  N * e->C, N * e->I, N * e->I, L * e->hd, L * e->hd};
    uint64_t at = 0;
    for (int i = 0; i < RG_COUNT; i++) {
        e->off[i] = at;
        at += ((uint64_t)sz[i] * 4 + 255u) & ~(uint64_t)255u;
    }
    dio_status st = e->be.iface->buffer_alloc(e->be.ctx, e->be.device, at, &e->arena);
    if (st != DIO_OK) {
        e->arena = NULL;
        return st;
    }
    e->arena_size = at;
    e->key_B = B;
    e->key_L = L;
    /* RoPE tables, float32 as transformers computes them: inv_freq = 1 / theta^(2i/d), angle = pos * inv_freq
     */
    float *tab = malloc((size_t)(2 * L * e->hd) * sizeof(float));
    if (!tab) return e->host->set_error(DIO_ERR_OUT_OF_HOST_MEMORY, WHO ": out of memory");
    int64_t half = e->hd / 2;
    for (int64_t p = 0; p < L; p++)
        for (int64_t i = 0; i < e->hd; i++) {
            int64_t j = i % half;
            float inv = 1.0f / powf(e->theta, (float)(2 * j) / (float)e->hd);
            float ang = (float)p * inv;
            tab[p * e->hd + i] = (float)cos((double)ang);
            tab[L * e->hd + p * e->hd + i] = (float)sin((double)ang);
        }
    st =
        e->be.iface->buffer_upload(e->be.ctx, NULL, e->arena, e->off[RG_COS], tab, (uint64_t)(L * e->hd) * 4);
    if (st == DIO_OK)
        st = e->be.iface->buffer_upload(e->be.ctx, NULL, e->arena, e->off[RG_SIN], tab + L * e->hd,
                                        (uint64_t)(L * e->hd) * 4);
    free(tab);
    return st;
}

static dio_status forward(qenc *e, dio_stream *s, const dio_tensor *ids_in, const dio_tensor *out,
                          const stage_sel *sel)
{
    fwd f = {e, s, ids_in->shape[0], ids_in->shape[1], ids_in->shape[0] * ids_in->shape[1]};
    dio_status st;
    int64_t N = f.N, B = f.B, L = f.L, C = e->C, hd = e->hd, Hq = e->Hq, Hk = e->Hkv;
    if ((st = plan(e, B, L)) != DIO_OK) return st;
    dio_tensor ids = *ids_in;
    dio_tensor_init(&ids, ids_in->dtype, 1, SHP(N), ids_in->buffer, ids_in->offset);
    dio_tensor x = av(&f, RG_X, 2, SHP(N, C)), n = av(&f, RG_N, 2, SHP(N, C)), t = av(&f, RG_T, 2, SHP(N, C));
    dio_tensor q = av(&f, RG_Q, 2, SHP(N, Hq * hd)), k = av(&f, RG_K, 2, SHP(N, Hk * hd));
    dio_tensor v = av(&f, RG_V, 2, SHP(N, Hk * hd)), a = av(&f, RG_A, 2, SHP(N, Hq * hd));
    dio_tensor g = av(&f, RG_G, 2, SHP(N, e->I)), u = av(&f, RG_U, 2, SHP(N, e->I));
    dio_tensor cs = av(&f, RG_COS, 2, SHP(L, hd)), sn = av(&f, RG_SIN, 2, SHP(L, hd));
    if ((st = op(&f, DIO_OP_GATHER, &e->embed.t, &ids, NULL, 2, &x, NULL)) != DIO_OK) return st;
    if (sel->kind == 1 && sel->index == 0) return emit(&f, &x, out);
    /* 4-D views: [B, L, H, d] for RoPE, [B, H, L, d] (permuted strides) for attention */
    dio_tensor q4 = q, k4 = k, qa, ka, va, oa;
    dio_tensor_init(&q4, DIO_DTYPE_F32, 4, SHP(B, L, Hq, hd), e->arena, e->off[RG_Q]);
    dio_tensor_init(&k4, DIO_DTYPE_F32, 4, SHP(B, L, Hk, hd), e->arena, e->off[RG_K]);
    const struct {
        dio_tensor *t;
        int rg;
        int64_t H;
    } perm[4] = {{&qa, RG_Q, Hq}, {&ka, RG_K, Hk}, {&va, RG_V, Hk}, {&oa, RG_A, Hq}};
    for (int i = 0; i < 4; i++) {
        dio_tensor *p = perm[i].t;
        int64_t H = perm[i].H;
        dio_tensor_init(p, DIO_DTYPE_F32, 4, SHP(B, H, L, hd), e->arena, e->off[perm[i].rg]);
        p->stride[0] = L * H * hd;
        p->stride[1] = hd;
        p->stride[2] = H * hd;
        p->stride[3] = 1;
    }
    dio_rope_params rp = {sizeof(rp), DIO_ROPE_ROTATE_HALF};
    dio_attention_params ap = {sizeof(ap), 0.0f, 1};
    for (int64_t li = 0; li < e->n_layers; li++) {
        const tw *w = &e->layers[li * W_COUNT];
        int here = sel->kind == 3 && sel->index == li;
        if ((st = rmsnorm(&f, &x, &w[W_IN_NORM], &n)) != DIO_OK) return st;
        if (here && sel->sub == 0) return emit(&f, &n, out);
        if ((st = linear(&f, &n, &w[W_Q], &w[W_QB], &q)) != DIO_OK) return st;
        if ((st = linear(&f, &n, &w[W_K], &w[W_KB], &k)) != DIO_OK) return st;
        if ((st = linear(&f, &n, &w[W_V], &w[W_VB], &v)) != DIO_OK) return st;
        if (here && sel->sub >= 1 && sel->sub <= 3)
            return emit(&f, sel->sub == 1 ? &q : sel->sub == 2 ? &k : &v, out);
        if ((st = op(&f, DIO_OP_ROPE, &q4, &cs, &sn, 3, &q4, &rp)) != DIO_OK) return st;
        if ((st = op(&f, DIO_OP_ROPE, &k4, &cs, &sn, 3, &k4, &rp)) != DIO_OK) return st;
        {
            const dio_tensor *in[4] = {&qa, &ka, &va, NULL};
            const dio_tensor *o[1] = {&oa};
            if ((st = dio_run(&e->be, s, DIO_OP_ATTENTION, in, 4, o, 1, &ap)) != DIO_OK) return st;
        }
        if ((st = linear(&f, &a, &w[W_O], NULL, &t)) != DIO_OK) return st;
        if (here && sel->sub == 4) return emit(&f, &t, out);
        if ((st = op(&f, DIO_OP_ADD, &x, &t, NULL, 2, &x, NULL)) != DIO_OK) return st;
        if ((st = rmsnorm(&f, &x, &w[W_POST_NORM], &n)) != DIO_OK) return st;
        if (here && sel->sub == 5) return emit(&f, &n, out);
        if ((st = linear(&f, &n, &w[W_GATE], NULL, &g)) != DIO_OK) return st;
        if ((st = linear(&f, &n, &w[W_UP], NULL, &u)) != DIO_OK) return st;
        if ((st = op(&f, DIO_OP_SWIGLU, &g, &u, NULL, 2, &g, NULL)) != DIO_OK) return st;
        if ((st = linear(&f, &g, &w[W_DOWN], NULL, &t)) != DIO_OK) return st;
        if (here && sel->sub == 6) return emit(&f, &t, out);
        if ((st = op(&f, DIO_OP_ADD, &x, &t, NULL, 2, &x, NULL)) != DIO_OK) return st;
        if (li + 1 < e->n_layers) {
            if (sel->kind == 1 && sel->index == li + 1) return emit(&f, &x, out);
            if (sel->kind == 0 && (st = embed_slice(&f, &x, li, out)) != DIO_OK) return st;
        }
    }
    if (sel->kind == 2) return emit(&f, &x, out);
    if ((st = rmsnorm(&f, &x, &e->norm, &n)) != DIO_OK) return st;
    if (sel->kind == 1) return emit(&f, &n, out);
    return embed_slice(&f, &n, e->n_layers - 1, out);
}

static dio_status enc_run(void *self, dio_stream *s, const dio_tensor *const *in,
                          const dio_tensor *const *out)
{
    qenc *e = self;
    dio_tensor want;
    stage_sel sel;
    dio_status st;
    if ((st = enc_output_shapes(e, in, &want)) != DIO_OK) return st;
    if ((st = parse_stage(e, &sel)) != DIO_OK) return st;
    if (!out || !out[0] || out[0]->dtype != DIO_DTYPE_F32 || out[0]->ndim != 3 ||
        memcmp(out[0]->shape, want.shape, sizeof(int64_t) * 3) != 0 || !dio_tensor_is_contiguous(out[0]))
        return e->host->set_error(DIO_ERR_INVALID_ARGUMENT,
                                  WHO ": output \"embeddings\" must be a contiguous f32 tensor shaped as "
                                      "output_shapes said");
    return forward(e, s, in[0], out[0], &sel);
}

static const dio_component_iface enc_iface = {
    .abi_version = DIO_ABI_VERSION,
    .struct_size = sizeof(dio_component_iface),
    .n_inputs = 1,
    .n_outputs = 1,
    .n_params = N_PARAMS,
    .inputs = enc_inputs,
    .outputs = enc_outputs,
    .params = enc_params,
    .create = enc_create,
    .destroy = enc_destroy,
    .output_shapes = enc_output_shapes,
    .run = enc_run,
};

static const dio_plugin_descriptor enc_descriptor = {
    .struct_size = sizeof(dio_plugin_descriptor),
    .kind = DIO_PLUGIN_COMPONENT,
    .abi_min = DIO_ABI_MAKE(1, 0),
    .abi_max = DIO_ABI_VERSION,
    .name = "qwen-text-encoder",
    .version = "0.1.0",
    .license = "Apache-2.0",
    .description = "Qwen2.5-VL language model (Cosmos-Reason1) and the Cosmos 2.5 prompt embedding",
    .component = &enc_iface,
};

DIO_PLUGIN_EXPORT dio_status dio_plugin_entry(const dio_host_info *host, const dio_plugin_descriptor **out)
{
    (void)host;
    *out = &enc_descriptor;
    return DIO_OK;
}

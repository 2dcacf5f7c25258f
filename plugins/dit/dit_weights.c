/* cosmos-dit — weights: find every tensor under the native (`net.blocks.N.…`, with or without the
 * `net.` prefix) or the diffusers (`transformer_blocks.N.…`) key layout, check dtype and shape, and
 * place it on the backend.
 *
 * Design: one table of logical weights with both key names, so the two layouts cannot drift apart.
 * The network's widths are read from the weights themselves (patch embed → D, a QK-norm → head_dim,
 * …) and every later tensor is checked against them; a missing key, a wrong shape, a wrong dtype or a
 * byte count that disagrees is an error naming the tensor. Weights stay where the host mapped them:
 * on a device whose buffers are host memory they are wrapped zero-copy (read-only), unless the data is
 * misaligned for its dtype, in which case (and on every other device) they are copied into a backend
 * buffer. Matmul weights and norm weights are used in their own dtype (f32/f16/bf16; ops.h allows it);
 * the one bias (crossattn_proj) is converted to the activation dtype with a COPY op, as ops.h asks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dit.h"

typedef struct key_pair {
    const char *native;
    const char *diffusers;
} key_pair;

static const key_pair top_keys[DIT_W_COUNT] = {
    {"x_embedder.proj.1.weight", "patch_embed.proj.weight"},
    {"t_embedder.1.linear_1.weight", "time_embed.t_embedder.linear_1.weight"},
    {"t_embedder.1.linear_2.weight", "time_embed.t_embedder.linear_2.weight"},
    {"t_embedding_norm.weight", "time_embed.norm.weight"},
    {"crossattn_proj.0.weight", "crossattn_proj.0.weight"},
    {"crossattn_proj.0.bias", "crossattn_proj.0.bias"},
    {"final_layer.adaln_modulation.1.weight", "norm_out.linear_1.weight"},
    {"final_layer.adaln_modulation.2.weight", "norm_out.linear_2.weight"},
    {"final_layer.linear.weight", "proj_out.weight"},
};

/* Block keys, after "blocks.N." (native) or "transformer_blocks.N." (diffusers). */
static const key_pair block_keys[DIT_B_COUNT] = {
    {"self_attn.q_proj.weight", "attn1.to_q.weight"},
    {"self_attn.k_proj.weight", "attn1.to_k.weight"},
    {"self_attn.v_proj.weight", "attn1.to_v.weight"},
    {"self_attn.output_proj.weight", "attn1.to_out.0.weight"},
    {"self_attn.q_norm.weight", "attn1.norm_q.weight"},
    {"self_attn.k_norm.weight", "attn1.norm_k.weight"},
    {"cross_attn.q_proj.weight", "attn2.to_q.weight"},
    {"cross_attn.k_proj.weight", "attn2.to_k.weight"},
    {"cross_attn.v_proj.weight", "attn2.to_v.weight"},
    {"cross_attn.output_proj.weight", "attn2.to_out.0.weight"},
    {"cross_attn.q_norm.weight", "attn2.norm_q.weight"},
    {"cross_attn.k_norm.weight", "attn2.norm_k.weight"},
    {"mlp.layer1.weight", "ff.net.0.proj.weight"},
    {"mlp.layer2.weight", "ff.net.2.weight"},
    {"adaln_modulation_self_attn.1.weight", "norm1.linear_1.weight"},
    {"adaln_modulation_self_attn.2.weight", "norm1.linear_2.weight"},
    {"adaln_modulation_cross_attn.1.weight", "norm2.linear_1.weight"},
    {"adaln_modulation_cross_attn.2.weight", "norm2.linear_2.weight"},
    {"adaln_modulation_mlp.1.weight", "norm3.linear_1.weight"},
    {"adaln_modulation_mlp.2.weight", "norm3.linear_2.weight"},
};

typedef struct loader {
    dit *d;
    const dio_weight_source *src;
    const char *prefix; /* "net." or "" for native; "" for diffusers */
    int diffusers;
} loader;

static void top_name(const loader *l, int i, char *buf, size_t n)
{
    snprintf(buf, n, "%s%s", l->prefix, l->diffusers ? top_keys[i].diffusers : top_keys[i].native);
}

static void block_name(const loader *l, int32_t b, int i, char *buf, size_t n)
{
    if (l->diffusers)
        snprintf(buf, n, "transformer_blocks.%d.%s", b, block_keys[i].diffusers);
    else
        snprintf(buf, n, "%sblocks.%d.%s", l->prefix, b, block_keys[i].native);
}

void dit_weight_free(dit *d, dit_weight *w)
{
    if (w->buf) d->be.iface->buffer_free(d->be.ctx, w->buf);
    memset(w, 0, sizeof(*w));
}

dio_status dit_place_host(dit *d, const void *data, uint64_t nbytes, int32_t dtype, int32_t ndim,
                          const int64_t *shape, dit_weight *out)
{
    dio_buffer *buf = NULL;
    dio_status st = dio_backend_place_host(&d->be, data, nbytes, dio_dtype_size(dtype), &buf);
    if (st != DIO_OK) return st;
    dio_tensor_init(&out->t, dtype, ndim, shape, buf, 0);
    out->buf = buf;
    return DIO_OK;
}

/* Finds `name`, checks it is f32/f16/bf16 with `ndim` dims matching `expect` (-1 = any), places it. */
static dio_status get(loader *l, const char *name, int32_t ndim, const int64_t *expect, dit_weight *out)
{
    const dio_host_services *h = l->d->host;
    dio_weight_info w;
    char got[128], want[128];
    int64_t numel = 1;
    int ok;
    memset(&w, 0, sizeof(w));
    w.struct_size = sizeof(w);
    if (l->src->find(l->src->ctx, name, &w) != DIO_OK)
        return h->set_error(DIO_ERR_INVALID_ARGUMENT, DIT_WHO ": weight \"%s\" is missing", name);
    if (w.dtype != DIO_DTYPE_F32 && w.dtype != DIO_DTYPE_F16 && w.dtype != DIO_DTYPE_BF16)
        return h->set_error(DIO_ERR_BAD_FORMAT, DIT_WHO ": weight \"%s\" is %s, expected f32, f16 or bf16",
                            name, dio_dtype_name(w.dtype));
    ok = w.ndim == ndim;
    for (int32_t i = 0; ok && i < ndim; i++) ok = expect[i] < 0 || w.shape[i] == expect[i];
    if (!ok) {
        int64_t e[DIO_MAX_DIMS];
        for (int32_t i = 0; i < ndim; i++) e[i] = expect[i] < 0 ? w.shape[i] : expect[i];
        dio_shape_format(w.ndim, w.shape, got, sizeof(got));
        dio_shape_format(ndim, e, want, sizeof(want));
        return h->set_error(DIO_ERR_BAD_FORMAT, DIT_WHO ": weight \"%s\" has shape %s, expected %s", name,
                            got, want);
    }
    for (int32_t i = 0; i < ndim; i++) numel *= w.shape[i];
    if (!w.data || w.nbytes != (uint64_t)numel * dio_dtype_size(w.dtype))
        return h->set_error(
            DIO_ERR_BAD_FORMAT, DIT_WHO ": weight \"%s\" holds %llu bytes, its shape needs %llu", name,
            (unsigned long long)w.nbytes, (unsigned long long)((uint64_t)numel * dio_dtype_size(w.dtype)));
    return dit_place_host(l->d, w.data, w.nbytes, w.dtype, w.ndim, w.shape, out);
}

static dio_status get_top(loader *l, int i, int32_t ndim, int64_t a, int64_t b)
{
    char name[256];
    int64_t e[2] = {a, b};
    top_name(l, i, name, sizeof(name));
    return get(l, name, ndim, e, &l->d->w.top[i]);
}

/* Converts the crossattn_proj bias to the activation dtype with one COPY on a short-lived stream. */
static dio_status convert_bias(dit *d)
{
    dit_weight *src = &d->w.top[DIT_W_PROJ_B], *dst = &d->w.proj_bias_act;
    dio_stream *s = NULL;
    dio_status st;
    uint64_t bytes = (uint64_t)src->t.shape[0] * dio_dtype_size(d->cfg.act_dtype);
    const dio_tensor *in[1], *out[1];
    if (src->t.dtype == d->cfg.act_dtype) return DIO_OK;
    if ((st = d->be.iface->buffer_alloc(d->be.ctx, d->be.device, bytes, &dst->buf)) != DIO_OK) goto fail;
    dio_tensor_init(&dst->t, d->cfg.act_dtype, 1, src->t.shape, dst->buf, 0);
    if ((st = d->be.iface->stream_create(d->be.ctx, d->be.device, &s)) != DIO_OK) goto fail;
    in[0] = &src->t;
    out[0] = &dst->t;
    if ((st = dio_run(&d->be, s, DIO_OP_COPY, in, 1, out, 1, NULL)) != DIO_OK) goto fail;
    if ((st = d->be.iface->stream_sync(d->be.ctx, s)) != DIO_OK) goto fail;
    d->be.iface->stream_destroy(d->be.ctx, s);
    return DIO_OK;
fail:
    if (s) d->be.iface->stream_destroy(d->be.ctx, s);
    dit_weight_free(d, dst);
    return st;
}

dio_status dit_weights_load(dit *d, const dio_weight_source *src, int32_t layout_param, const int32_t *pinned)
{
    const dio_host_services *h = d->host;
    dit_config *c = &d->cfg;
    loader l;
    char name[256];
    dio_status st;
    int32_t nb = 0, P = c->patch[0] * c->patch[1] * c->patch[2];
    int64_t D, F, dh, R, M, Ct, Fo;
    memset(&l, 0, sizeof(l));
    l.d = d;
    l.src = src;
    /* Which layout: the patch embed's key decides (or the parameter forces one). */
    if (layout_param != DIT_LAYOUT_DIFFUSERS &&
        dio_weight_source_has(l.src, "net.x_embedder.proj.1.weight")) {
        l.prefix = "net.";
    } else if (layout_param != DIT_LAYOUT_DIFFUSERS &&
               dio_weight_source_has(l.src, "x_embedder.proj.1.weight")) {
        l.prefix = "";
    } else if (layout_param != DIT_LAYOUT_NATIVE && dio_weight_source_has(l.src, "patch_embed.proj.weight")) {
        l.prefix = "";
        l.diffusers = 1;
    } else {
        return h->set_error(DIO_ERR_INVALID_ARGUMENT,
                            DIT_WHO ": weight \"%s\" is missing (no DiT patch embedding in the weights)",
                            layout_param == DIT_LAYOUT_DIFFUSERS ? "patch_embed.proj.weight"
                                                                 : "net.x_embedder.proj.1.weight");
    }
    d->w.layout = l.diffusers ? DIT_LAYOUT_DIFFUSERS : DIT_LAYOUT_NATIVE;
    /* Blocks: count them, then check against the pinned count. */
    for (;;) {
        block_name(&l, nb, DIT_B_SA_Q, name, sizeof(name));
        if (!dio_weight_source_has(l.src, name)) break;
        nb++;
    }
    if (pinned[0] > 0 && nb > pinned[0])
        return h->set_error(DIO_ERR_INVALID_ARGUMENT,
                            DIT_WHO ": the weights hold %d blocks, num_blocks is %d", nb, pinned[0]);
    if (pinned[0] > 0) nb = pinned[0]; /* a missing block then fails below, naming its tensor */
    if (nb == 0) {
        block_name(&l, 0, DIT_B_SA_Q, name, sizeof(name));
        return h->set_error(DIO_ERR_INVALID_ARGUMENT, DIT_WHO ": weight \"%s\" is missing", name);
    }
    c->num_blocks = nb;
    /* Patch embed fixes D and the input features. */
    if ((st = get_top(&l, DIT_W_PATCH, 2, pinned[1] > 0 ? pinned[1] : -1, -1)) != DIO_OK) goto fail;
    D = d->w.top[DIT_W_PATCH].t.shape[0];
    F = d->w.top[DIT_W_PATCH].t.shape[1];
    top_name(&l, DIT_W_PATCH, name, sizeof(name));
    if (F % P || F / P < 3) {
        st = h->set_error(DIO_ERR_BAD_FORMAT,
                          DIT_WHO
                          ": weight \"%s\" has %lld input features, not (C + 2) x %d for patch %dx%dx%d",
                          name, (long long)F, P, c->patch[0], c->patch[1], c->patch[2]);
        goto fail;
    }
    c->model_channels = (int32_t)D;
    c->in_channels = (int32_t)(F / P - 2);
    /* head_dim from block 0's q norm; heads = D / head_dim. */
    d->w.blocks = calloc((size_t)nb * DIT_B_COUNT, sizeof(dit_weight));
    d->w.n_blocks = nb;
    if (!d->w.blocks) {
        st = h->set_error(DIO_ERR_OUT_OF_HOST_MEMORY, DIT_WHO ": out of memory");
        goto fail;
    }
    block_name(&l, 0, DIT_B_SA_QN, name, sizeof(name));
    {
        int64_t any = pinned[2] > 0 ? (D % pinned[2] ? -2 : D / pinned[2]) : -1;
        if (any == -2) {
            st = h->set_error(DIO_ERR_INVALID_ARGUMENT,
                              DIT_WHO ": num_heads %d does not divide model_channels %lld", pinned[2],
                              (long long)D);
            goto fail;
        }
        if ((st = get(&l, name, 1, &any, &d->w.blocks[DIT_B_SA_QN])) != DIO_OK) goto fail;
    }
    dh = d->w.blocks[DIT_B_SA_QN].t.shape[0];
    if (dh <= 0 || D % dh || (dh / 6) * 2 <= 2 || dh % 2 || dh > 256) {
        st = h->set_error(
            DIO_ERR_BAD_FORMAT,
            DIT_WHO ": weight \"%s\" gives head_dim %lld, which must divide %lld, be even and in 12..256",
            name, (long long)dh, (long long)D);
        goto fail;
    }
    c->head_dim = (int32_t)dh;
    c->num_heads = (int32_t)(D / dh);
    /* Remaining widths from block 0, then every tensor checked against them. */
    block_name(&l, 0, DIT_B_MOD_SA1, name, sizeof(name));
    {
        int64_t e[2] = {-1, D};
        if ((st = get(&l, name, 2, e, &d->w.blocks[DIT_B_MOD_SA1])) != DIO_OK) goto fail;
    }
    R = d->w.blocks[DIT_B_MOD_SA1].t.shape[0];
    block_name(&l, 0, DIT_B_MLP1, name, sizeof(name));
    {
        int64_t e[2] = {-1, D};
        if ((st = get(&l, name, 2, e, &d->w.blocks[DIT_B_MLP1])) != DIO_OK) goto fail;
    }
    M = d->w.blocks[DIT_B_MLP1].t.shape[0];
    block_name(&l, 0, DIT_B_CA_K, name, sizeof(name));
    {
        int64_t e[2] = {D, -1};
        if ((st = get(&l, name, 2, e, &d->w.blocks[DIT_B_CA_K])) != DIO_OK) goto fail;
    }
    Ct = d->w.blocks[DIT_B_CA_K].t.shape[1];
    c->adaln_lora_dim = (int32_t)R;
    c->mlp_hidden = (int32_t)M;
    c->text_dim = (int32_t)Ct;
    for (int32_t b = 0; b < nb; b++) {
        const int64_t shp[DIT_B_COUNT][2] = {
            {D, D},  {D, D},  {D, D}, {D, D}, {dh, 0}, {dh, 0},    {D, D}, {D, Ct},    {D, Ct}, {D, D},
            {dh, 0}, {dh, 0}, {M, D}, {D, M}, {R, D},  {3 * D, R}, {R, D}, {3 * D, R}, {R, D},  {3 * D, R}};
        for (int i = 0; i < DIT_B_COUNT; i++) {
            dit_weight *w = &d->w.blocks[(size_t)b * DIT_B_COUNT + (size_t)i];
            if (w->buf) continue; /* block 0's probes */
            block_name(&l, b, i, name, sizeof(name));
            if ((st = get(&l, name, shp[i][1] ? 2 : 1, shp[i], w)) != DIO_OK) goto fail;
        }
    }
    /* Top level. */
    if ((st = get_top(&l, DIT_W_T_LIN1, 2, D, D)) != DIO_OK) goto fail;
    if ((st = get_top(&l, DIT_W_T_LIN2, 2, 3 * D, D)) != DIO_OK) goto fail;
    if ((st = get_top(&l, DIT_W_T_NORM, 1, D, 0)) != DIO_OK) goto fail;
    if ((st = get_top(&l, DIT_W_FINAL_MOD1, 2, R, D)) != DIO_OK) goto fail;
    if ((st = get_top(&l, DIT_W_FINAL_MOD2, 2, 2 * D, R)) != DIO_OK) goto fail;
    if ((st = get_top(&l, DIT_W_FINAL_LIN, 2, -1, D)) != DIO_OK) goto fail;
    Fo = d->w.top[DIT_W_FINAL_LIN].t.shape[0];
    if (Fo % P) {
        top_name(&l, DIT_W_FINAL_LIN, name, sizeof(name));
        st =
            h->set_error(DIO_ERR_BAD_FORMAT, DIT_WHO ": weight \"%s\" has %lld outputs, not a multiple of %d",
                         name, (long long)Fo, P);
        goto fail;
    }
    c->out_channels = (int32_t)(Fo / P);
    /* The text projection is optional (absent in models without use_crossattn_projection). */
    top_name(&l, DIT_W_PROJ_W, name, sizeof(name));
    if (dio_weight_source_has(l.src, name)) {
        if ((st = get_top(&l, DIT_W_PROJ_W, 2, Ct, -1)) != DIO_OK) goto fail;
        if ((st = get_top(&l, DIT_W_PROJ_B, 1, Ct, 0)) != DIO_OK) goto fail;
        c->text_in = (int32_t)d->w.top[DIT_W_PROJ_W].t.shape[1];
        if ((st = convert_bias(d)) != DIO_OK) goto fail;
    } else {
        c->text_in = 0;
    }
    return DIO_OK;
fail:
    dit_weights_free(d);
    return st;
}

void dit_weights_free(dit *d)
{
    for (int i = 0; i < DIT_W_COUNT; i++) dit_weight_free(d, &d->w.top[i]);
    dit_weight_free(d, &d->w.proj_bias_act);
    if (d->w.blocks)
        for (size_t i = 0; i < (size_t)d->w.n_blocks * DIT_B_COUNT; i++) dit_weight_free(d, &d->w.blocks[i]);
    free(d->w.blocks);
    d->w.blocks = NULL;
    d->w.n_blocks = 0;
}

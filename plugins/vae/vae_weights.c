/* wan-vae — weights: find every tensor of the encoder or decoder half under the diffusers
 * (`encoder.down_blocks.3.conv1.weight`) or the native Wan 2.1 (`encoder.downsamples.3.residual.2.weight`)
 * key layout, check dtype and shape, place it on the backend, and build the layer list.
 *
 * Design: modules are named once per layout by a (diffusers, native) pair of prefixes and suffixes, so
 * the two layouts cannot drift apart. The layer list is discovered from the weights (which blocks hold a
 * resample, which a time_conv, which a shortcut), widths too; every tensor is checked against the width
 * flowing in, and a missing key, a wrong shape, a wrong dtype or a byte count that disagrees is an error
 * naming the tensor. Weights stay where the host mapped them: on a host-memory device they are wrapped
 * zero-copy (read-only) unless misaligned for their dtype, otherwise copied into a backend buffer.
 * Conv and matmul weights keep their dtype (f32/f16/bf16, as ops.h allows); gammas and biases are
 * secondary inputs that must have the activation dtype (f32), so others are converted with a COPY op.
 * Reshaped views (a [C,1,1,1] gamma as [C], a Conv2d [O,I,3,3] as CONV3D [O,I,1,3,3], a 1×1 Conv2d as a
 * matmul [O,I]) share the placed buffer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vae.h"

typedef struct loader {
    vae *v;
    const dio_weight_source *src;
    int native;
    dio_stream *s; /* for dtype conversions, made on first use */
} loader;

static void w_free(vae *v, vae_w *w)
{
    if (w->buf) v->be.iface->buffer_free(v->be.ctx, w->buf);
    memset(w, 0, sizeof(*w));
}

static void conv_free(vae *v, vae_conv *c)
{
    w_free(v, &c->w);
    w_free(v, &c->b);
}

/* Converts a placed secondary weight to f32 (the activation dtype) with one COPY. */
static dio_status to_f32(loader *l, vae_w *w)
{
    vae *v = l->v;
    dio_buffer *buf = NULL;
    dio_tensor dst;
    dio_status st;
    const dio_tensor *in[1], *out[1];
    if (w->t.dtype == DIO_DTYPE_F32) return DIO_OK;
    if (!l->s && (st = v->be.iface->stream_create(v->be.ctx, v->be.device, &l->s)) != DIO_OK) goto fail;
    if ((st = v->be.iface->buffer_alloc(v->be.ctx, v->be.device, (uint64_t)dio_tensor_numel(&w->t) * 4,
                                        &buf)) != DIO_OK)
        goto fail;
    dio_tensor_init(&dst, DIO_DTYPE_F32, w->t.ndim, w->t.shape, buf, 0);
    in[0] = &w->t;
    out[0] = &dst;
    if ((st = dio_run(&v->be, l->s, DIO_OP_COPY, in, 1, out, 1, NULL)) != DIO_OK) goto fail;
    if ((st = v->be.iface->stream_sync(v->be.ctx, l->s)) != DIO_OK) goto fail;
    w_free(v, w);
    w->t = dst;
    w->buf = buf;
    return DIO_OK;
fail:
    if (buf) v->be.iface->buffer_free(v->be.ctx, buf);
    return st;
}

/* Finds `name`, checks it is f32/f16/bf16 of `ndim` dims matching `expect` (-1 = any), places it and
 * views it as `vndim` dims `vshape` (vndim 0: as stored). `secondary`: converted to f32. */
static dio_status get(loader *l, const char *name, int32_t ndim, const int64_t *expect, int32_t vndim,
                      const int64_t *vshape, int secondary, vae_w *out)
{
    const dio_host_services *h = l->v->host;
    dio_weight_info w;
    dio_buffer *buf = NULL;
    char got[128], want[128];
    int64_t numel = 1;
    int ok;
    dio_status st;
    memset(&w, 0, sizeof(w));
    w.struct_size = sizeof(w);
    if (l->src->find(l->src->ctx, name, &w) != DIO_OK)
        return h->set_error(DIO_ERR_INVALID_ARGUMENT, VAE_WHO ": weight \"%s\" is missing", name);
    if (w.dtype != DIO_DTYPE_F32 && w.dtype != DIO_DTYPE_F16 && w.dtype != DIO_DTYPE_BF16)
        return h->set_error(DIO_ERR_BAD_FORMAT, VAE_WHO ": weight \"%s\" is %s, expected f32, f16 or bf16",
                            name, dio_dtype_name(w.dtype));
    ok = w.ndim == ndim;
    for (int32_t i = 0; ok && i < ndim; i++) ok = expect[i] < 0 || w.shape[i] == expect[i];
    if (!ok) {
        int64_t e[DIO_MAX_DIMS];
        for (int32_t i = 0; i < ndim; i++) e[i] = expect[i] < 0 ? (i < w.ndim ? w.shape[i] : -1) : expect[i];
        dio_shape_format(w.ndim, w.shape, got, sizeof(got));
        dio_shape_format(ndim, e, want, sizeof(want));
        return h->set_error(DIO_ERR_BAD_FORMAT, VAE_WHO ": weight \"%s\" has shape %s, expected %s", name,
                            got, want);
    }
    for (int32_t i = 0; i < ndim; i++) numel *= w.shape[i];
    if (!w.data || w.nbytes != (uint64_t)numel * dio_dtype_size(w.dtype))
        return h->set_error(
            DIO_ERR_BAD_FORMAT, VAE_WHO ": weight \"%s\" holds %llu bytes, its shape needs %llu", name,
            (unsigned long long)w.nbytes, (unsigned long long)((uint64_t)numel * dio_dtype_size(w.dtype)));
    if ((st = dio_backend_place_host(&l->v->be, w.data, w.nbytes, dio_dtype_size(w.dtype), &buf)) != DIO_OK)
        goto fail;
    if (vndim > 0)
        dio_tensor_init(&out->t, w.dtype, vndim, vshape, buf, 0);
    else
        dio_tensor_init(&out->t, w.dtype, w.ndim, w.shape, buf, 0);
    out->buf = buf;
    buf = NULL;
    if (secondary && (st = to_f32(l, out)) != DIO_OK) goto fail;
    return DIO_OK;
fail:
    if (buf) l->v->be.iface->buffer_free(l->v->be.ctx, buf);
    return st;
}

/* Reads a tensor's shape without placing it; 0 when absent. */
static int peek(const loader *l, const char *name, int64_t *shape, int32_t *ndim)
{
    dio_weight_info w;
    memset(&w, 0, sizeof(w));
    w.struct_size = sizeof(w);
    if (l->src->find(l->src->ctx, name, &w) != DIO_OK) return 0;
    *ndim = w.ndim;
    memcpy(shape, w.shape, sizeof(w.shape));
    return 1;
}

/* gamma `mod`.gamma (or `mod` when it already ends in gamma) of C channels, stored [C, 1, 1(, 1)]. */
static dio_status get_gamma(loader *l, const char *name, int64_t c, int32_t ndim, vae_w *out)
{
    int64_t e[4] = {c, 1, 1, 1};
    return get(l, name, ndim, e, 1, e, 1, out);
}

/* A conv module `mod` (weight + bias) with cin inputs; kt = 0: a Conv2d [O, I, kh, kw] viewed as
 * [O, I, 1, kh, kw]. `cout` < 0: any (read back in c->cout). Kernel dims < 0: any. */
static dio_status get_conv(loader *l, const char *mod, int64_t cin, int64_t cout, int64_t kt, int64_t kh,
                           int64_t kw, vae_conv *c)
{
    char name[256];
    int64_t e[5], v5[5], sh[DIO_MAX_DIMS];
    int32_t nd = 0;
    dio_status st;
    int conv2d = kt == 0;
    snprintf(name, sizeof(name), "%s.weight", mod);
    e[0] = cout;
    e[1] = cin;
    if (conv2d) {
        e[2] = kh;
        e[3] = kw;
    } else {
        e[2] = kt;
        e[3] = kh;
        e[4] = kw;
    }
    /* Read the free dims first so the view can be built; get() still checks everything. */
    if (!peek(l, name, sh, &nd) || nd != (conv2d ? 4 : 5)) {
        if ((st = get(l, name, conv2d ? 4 : 5, e, 0, NULL, 0, &c->w)) != DIO_OK) return st;
        return l->v->host->set_error(DIO_ERR_BAD_FORMAT, VAE_WHO ": weight \"%s\" has a bad shape", name);
    }
    v5[0] = sh[0];
    v5[1] = sh[1];
    v5[2] = conv2d ? 1 : sh[2];
    v5[3] = conv2d ? sh[2] : sh[3];
    v5[4] = conv2d ? sh[3] : sh[4];
    if ((st = get(l, name, conv2d ? 4 : 5, e, 5, v5, 0, &c->w)) != DIO_OK) return st;
    c->cout = v5[0];
    c->cin = v5[1];
    c->k[0] = v5[2];
    c->k[1] = v5[3];
    c->k[2] = v5[4];
    snprintf(name, sizeof(name), "%s.bias", mod);
    e[0] = c->cout;
    return get(l, name, 1, e, 0, NULL, 1, &c->b);
}

/* A residual block at module prefix `mod` (no trailing dot) taking `cin` channels. */
static dio_status get_res(loader *l, const char *mod, int64_t cin, vae_layer *ly)
{
    static const char *const sfx[2][5] = {
        {"norm1.gamma", "conv1", "norm2.gamma", "conv2", "conv_shortcut"},
        {"residual.0.gamma", "residual.2", "residual.3.gamma", "residual.6", "shortcut"}};
    const char *const *s = sfx[l->native];
    char name[256], probe[300];
    dio_status st;
    ly->kind = VAE_L_RES;
    ly->cin = cin;
    snprintf(name, sizeof(name), "%s.%s", mod, s[0]);
    if ((st = get_gamma(l, name, cin, 4, &ly->norm1)) != DIO_OK) return st;
    snprintf(name, sizeof(name), "%s.%s", mod, s[1]);
    if ((st = get_conv(l, name, cin, -1, 3, 3, 3, &ly->conv1)) != DIO_OK) return st;
    ly->cout = ly->conv1.cout;
    snprintf(name, sizeof(name), "%s.%s", mod, s[2]);
    if ((st = get_gamma(l, name, ly->cout, 4, &ly->norm2)) != DIO_OK) return st;
    snprintf(name, sizeof(name), "%s.%s", mod, s[3]);
    if ((st = get_conv(l, name, ly->cout, ly->cout, 3, 3, 3, &ly->conv2)) != DIO_OK) return st;
    snprintf(name, sizeof(name), "%s.%s", mod, s[4]);
    snprintf(probe, sizeof(probe), "%s.weight", name);
    if (cin != ly->cout || dio_weight_source_has(l->src, probe))
        if ((st = get_conv(l, name, cin, ly->cout, 1, 1, 1, &ly->shortcut)) != DIO_OK) return st;
    return DIO_OK;
}

/* A resample at `mod`: resample.1 (Conv2d 3×3) and, when present, time_conv. */
static dio_status get_resample(loader *l, const char *mod, int64_t cin, int up, vae_layer *ly)
{
    char name[256], probe[300];
    dio_status st;
    int t3;
    ly->cin = cin;
    snprintf(name, sizeof(name), "%s.time_conv", mod);
    snprintf(probe, sizeof(probe), "%s.weight", name);
    t3 = dio_weight_source_has(l->src, probe);
    ly->kind = up ? (t3 ? VAE_L_UP3D : VAE_L_UP2D) : (t3 ? VAE_L_DOWN3D : VAE_L_DOWN2D);
    if (t3 && (st = get_conv(l, name, cin, up ? 2 * cin : cin, 3, 1, 1, &ly->time_conv)) != DIO_OK) return st;
    snprintf(name, sizeof(name), "%s.resample.1", mod);
    if ((st = get_conv(l, name, cin, -1, 0, 3, 3, &ly->resample)) != DIO_OK) return st;
    ly->cout = ly->resample.cout;
    return DIO_OK;
}

static dio_status get_attn(loader *l, const char *mod, int64_t c, vae_layer *ly)
{
    char name[256];
    int64_t e[4], v2[2];
    dio_status st;
    ly->kind = VAE_L_ATTN;
    ly->cin = ly->cout = c;
    snprintf(name, sizeof(name), "%s.norm.gamma", mod);
    if ((st = get_gamma(l, name, c, 3, &ly->anorm)) != DIO_OK) return st;
    snprintf(name, sizeof(name), "%s.to_qkv.weight", mod);
    e[0] = 3 * c, e[1] = c, e[2] = 1, e[3] = 1;
    v2[0] = 3 * c, v2[1] = c;
    if ((st = get(l, name, 4, e, 2, v2, 0, &ly->qkv_w)) != DIO_OK) return st;
    snprintf(name, sizeof(name), "%s.to_qkv.bias", mod);
    if ((st = get(l, name, 1, e, 0, NULL, 1, &ly->qkv_b)) != DIO_OK) return st;
    snprintf(name, sizeof(name), "%s.proj.weight", mod);
    e[0] = c;
    v2[0] = c;
    if ((st = get(l, name, 4, e, 2, v2, 0, &ly->proj_w)) != DIO_OK) return st;
    snprintf(name, sizeof(name), "%s.proj.bias", mod);
    return get(l, name, 1, e, 0, NULL, 1, &ly->proj_b);
}

static vae_layer *push(vae *v, int32_t *cap)
{
    if (v->n_layers == *cap) {
        int32_t nc = *cap ? *cap * 2 : 16;
        vae_layer *nl = realloc(v->layers, sizeof(*nl) * (size_t)nc);
        if (!nl) return NULL;
        memset(nl + *cap, 0, sizeof(*nl) * (size_t)(nc - *cap));
        v->layers = nl;
        *cap = nc;
    }
    return &v->layers[v->n_layers++];
}

#define PUSH_OR_FAIL(ly)                                                                                     \
    do {                                                                                                     \
        if (!((ly) = push(v, &cap))) {                                                                       \
            st = v->host->set_error(DIO_ERR_OUT_OF_HOST_MEMORY, VAE_WHO ": out of memory");                  \
            goto fail;                                                                                       \
        }                                                                                                    \
    } while (0)

/* The mid block (resnet, attention, resnet) of `half` ("encoder"/"decoder") at width c. */
static dio_status get_mid(loader *l, const char *half, int64_t c, int32_t *capp)
{
    vae *v = l->v;
    int32_t cap = *capp;
    vae_layer *ly;
    char mod[128];
    dio_status st;
    PUSH_OR_FAIL(ly);
    snprintf(mod, sizeof(mod), l->native ? "%s.middle.0" : "%s.mid_block.resnets.0", half);
    if ((st = get_res(l, mod, c, ly)) != DIO_OK) goto fail;
    PUSH_OR_FAIL(ly);
    snprintf(mod, sizeof(mod), l->native ? "%s.middle.1" : "%s.mid_block.attentions.0", half);
    if ((st = get_attn(l, mod, v->layers[v->n_layers - 2].cout, ly)) != DIO_OK) goto fail;
    PUSH_OR_FAIL(ly);
    snprintf(mod, sizeof(mod), l->native ? "%s.middle.2" : "%s.mid_block.resnets.1", half);
    if ((st = get_res(l, mod, ly[-1].cout, ly)) != DIO_OK) goto fail;
    snprintf(ly->stage, sizeof(ly->stage), "%s.mid_block", half);
    *capp = cap;
    return DIO_OK;
fail:
    *capp = cap;
    return st;
}

static int64_t last_width(const vae *v, int64_t dflt)
{
    return v->n_layers ? v->layers[v->n_layers - 1].cout : dflt;
}

static dio_status load_encoder(loader *l)
{
    vae *v = l->v;
    int32_t cap = 0;
    vae_layer *ly;
    char mod[128], probe[200];
    dio_status st;
    int64_t c;
    if ((st = get_conv(l, l->native ? "encoder.conv1" : "encoder.conv_in", -1, -1, 3, 3, 3, &v->conv_in)) !=
        DIO_OK)
        goto fail;
    v->img = v->conv_in.cin;
    for (int32_t k = 0;; k++) {
        snprintf(mod, sizeof(mod), l->native ? "encoder.downsamples.%d" : "encoder.down_blocks.%d", k);
        c = last_width(v, v->conv_in.cout);
        snprintf(probe, sizeof(probe), "%s.resample.1.weight", mod);
        if (dio_weight_source_has(l->src, probe)) {
            PUSH_OR_FAIL(ly);
            if ((st = get_resample(l, mod, c, 0, ly)) != DIO_OK) goto fail;
        } else {
            snprintf(probe, sizeof(probe), l->native ? "%s.residual.0.gamma" : "%s.norm1.gamma", mod);
            if (!dio_weight_source_has(l->src, probe)) break;
            PUSH_OR_FAIL(ly);
            if ((st = get_res(l, mod, c, ly)) != DIO_OK) goto fail;
        }
        snprintf(ly->stage, sizeof(ly->stage), "encoder.down_blocks.%d", k);
    }
    if ((st = get_mid(l, "encoder", last_width(v, v->conv_in.cout), &cap)) != DIO_OK) goto fail;
    c = last_width(v, 0);
    if ((st = get_gamma(l, l->native ? "encoder.head.0.gamma" : "encoder.norm_out.gamma", c, 4,
                        &v->norm_out)) != DIO_OK)
        goto fail;
    if ((st = get_conv(l, l->native ? "encoder.head.2" : "encoder.conv_out", c, -1, 3, 3, 3, &v->conv_out)) !=
        DIO_OK)
        goto fail;
    if (v->conv_out.cout % 2 || v->conv_out.cout / 2 > VAE_MAX_Z) {
        st = v->host->set_error(
            DIO_ERR_BAD_FORMAT, VAE_WHO ": weight \"%s.weight\" gives %lld channels, expected 2·z_dim <= %d",
            l->native ? "encoder.head.2" : "encoder.conv_out", (long long)v->conv_out.cout, 2 * VAE_MAX_Z);
        goto fail;
    }
    v->z = v->conv_out.cout / 2;
    st = get_conv(l, l->native ? "conv1" : "quant_conv", 2 * v->z, 2 * v->z, 1, 1, 1, &v->top);
fail:
    return st;
}

static dio_status load_decoder(loader *l)
{
    vae *v = l->v;
    int32_t cap = 0, block = 0, n_res = 0;
    int64_t c;
    vae_layer *ly;
    char mod[128], probe[200];
    dio_status st;
    if ((st = get_conv(l, l->native ? "conv2" : "post_quant_conv", -1, -1, 1, 1, 1, &v->top)) != DIO_OK)
        goto fail;
    v->z = v->top.cin;
    if (v->z > VAE_MAX_Z || v->top.cout != v->z) {
        st = v->host->set_error(DIO_ERR_BAD_FORMAT,
                                VAE_WHO ": weight \"%s.weight\" must be [z, z, 1, 1, 1], z <= %d",
                                l->native ? "conv2" : "post_quant_conv", VAE_MAX_Z);
        goto fail;
    }
    if ((st = get_conv(l, l->native ? "decoder.conv1" : "decoder.conv_in", v->z, -1, 3, 3, 3, &v->conv_in)) !=
        DIO_OK)
        goto fail;
    if ((st = get_mid(l, "decoder", v->conv_in.cout, &cap)) != DIO_OK) goto fail;
    if (l->native) {
        /* A flat list; a block ends at each resample, the last block at the end of the list. */
        for (int32_t n = 0;; n++) {
            c = last_width(v, 0);
            snprintf(mod, sizeof(mod), "decoder.upsamples.%d", n);
            snprintf(probe, sizeof(probe), "%s.resample.1.weight", mod);
            if (dio_weight_source_has(l->src, probe)) {
                PUSH_OR_FAIL(ly);
                if ((st = get_resample(l, mod, c, 1, ly)) != DIO_OK) goto fail;
                snprintf(ly->stage, sizeof(ly->stage), "decoder.up_blocks.%d", block++);
                continue;
            }
            snprintf(probe, sizeof(probe), "%s.residual.0.gamma", mod);
            if (!dio_weight_source_has(l->src, probe)) break;
            PUSH_OR_FAIL(ly);
            if ((st = get_res(l, mod, c, ly)) != DIO_OK) goto fail;
            n_res++;
        }
        if (v->layers[v->n_layers - 1].kind == VAE_L_RES)
            snprintf(v->layers[v->n_layers - 1].stage, sizeof(v->layers[0].stage), "decoder.up_blocks.%d",
                     block);
    } else {
        for (int32_t i = 0;; i++) {
            int32_t j = 0;
            for (;; j++) {
                snprintf(mod, sizeof(mod), "decoder.up_blocks.%d.resnets.%d", i, j);
                snprintf(probe, sizeof(probe), "%s.norm1.gamma", mod);
                if (!dio_weight_source_has(l->src, probe)) break;
                c = last_width(v, 0);
                PUSH_OR_FAIL(ly);
                if ((st = get_res(l, mod, c, ly)) != DIO_OK) goto fail;
                n_res++;
            }
            if (j == 0) break;
            snprintf(mod, sizeof(mod), "decoder.up_blocks.%d.upsamplers.0", i);
            snprintf(probe, sizeof(probe), "%s.resample.1.weight", mod);
            if (dio_weight_source_has(l->src, probe)) {
                c = last_width(v, 0);
                PUSH_OR_FAIL(ly);
                if ((st = get_resample(l, mod, c, 1, ly)) != DIO_OK) goto fail;
            }
            snprintf(v->layers[v->n_layers - 1].stage, sizeof(v->layers[0].stage), "decoder.up_blocks.%d", i);
        }
    }
    if (n_res == 0) {
        st = v->host->set_error(DIO_ERR_INVALID_ARGUMENT, VAE_WHO ": weight \"%s\" is missing",
                                l->native ? "decoder.upsamples.0.residual.0.gamma"
                                          : "decoder.up_blocks.0.resnets.0.norm1.gamma");
        goto fail;
    }
    {
        c = last_width(v, 0);
        if ((st = get_gamma(l, l->native ? "decoder.head.0.gamma" : "decoder.norm_out.gamma", c, 4,
                            &v->norm_out)) != DIO_OK)
            goto fail;
        if ((st = get_conv(l, l->native ? "decoder.head.2" : "decoder.conv_out", c, -1, 3, 3, 3,
                           &v->conv_out)) != DIO_OK)
            goto fail;
        v->img = v->conv_out.cout;
    }
fail:
    return st;
}

dio_status vae_weights_load(vae *v, const dio_weight_source *src, int32_t layout_param)
{
    loader l;
    dio_status st;
    const char *half = v->decoder ? "decoder" : "encoder";
    char dn[64], nn[64];
    memset(&l, 0, sizeof(l));
    l.v = v;
    l.src = src;
    snprintf(dn, sizeof(dn), "%s.conv_in.weight", half);
    snprintf(nn, sizeof(nn), "%s.conv1.weight", half);
    if (layout_param == VAE_LAYOUT_AUTO)
        layout_param = dio_weight_source_has(src, dn)   ? VAE_LAYOUT_DIFFUSERS
                       : dio_weight_source_has(src, nn) ? VAE_LAYOUT_NATIVE
                                                        : VAE_LAYOUT_DIFFUSERS;
    l.native = layout_param == VAE_LAYOUT_NATIVE;
    v->layout = layout_param;
    st = v->decoder ? load_decoder(&l) : load_encoder(&l);
    if (l.s) v->be.iface->stream_destroy(v->be.ctx, l.s);
    return st;
}

void vae_weights_free(vae *v)
{
    for (int32_t i = 0; i < v->n_layers; i++) {
        vae_layer *ly = &v->layers[i];
        w_free(v, &ly->norm1);
        w_free(v, &ly->norm2);
        conv_free(v, &ly->conv1);
        conv_free(v, &ly->conv2);
        conv_free(v, &ly->shortcut);
        conv_free(v, &ly->resample);
        conv_free(v, &ly->time_conv);
        w_free(v, &ly->anorm);
        w_free(v, &ly->qkv_w);
        w_free(v, &ly->qkv_b);
        w_free(v, &ly->proj_w);
        w_free(v, &ly->proj_b);
        vae_cache_free(v, &ly->c1);
        vae_cache_free(v, &ly->c2);
    }
    free(v->layers);
    v->layers = NULL;
    v->n_layers = 0;
    conv_free(v, &v->top);
    conv_free(v, &v->conv_in);
    conv_free(v, &v->conv_out);
    w_free(v, &v->norm_out);
    vae_cache_free(v, &v->c_in);
    vae_cache_free(v, &v->c_out);
}

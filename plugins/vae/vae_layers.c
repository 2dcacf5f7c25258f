/* wan-vae — one layer of one temporal chunk, through the backend op table only: the causal conv with
 * its frame cache, RMS norm + SiLU, the residual block, the per-frame single-head attention, the spatial /
 * temporal downsample and the upsample with its frame interleave.
 *
 * Design: activations are contiguous f32 [B, C, T, H, W] tensors, each in its own backend buffer,
 * allocated when produced and released as soon as the last op reading it has been issued (a layer
 * consumes its input); released buffers are freed after the stream is synced at the end of the layer
 * (vae_reap), so an asynchronous backend never has a buffer freed under queued work and only one
 * layer's values exist at once. Each causal conv and each temporal resample
 * owns a cache slot (vae_cache): the last 2 frames of its input (1 for the downsampler's time_conv),
 * stored after the conv ran, passed to CONV3D as its cache input (the op shrinks the causal front pad by
 * the cached frame count, which is exactly the Wan feat_cache rule). The upsampler's first chunk
 * bypasses time_conv ("Rep"); its second runs it with zero history. A Conv2d applied to every frame is a
 * CONV3D with a [O, I, 1, kh, kw] view of its weight; the attention's 1×1 convs are matmuls on the
 * channel-last permutation, and Q/K/V are strided views of one qkv tensor. */
#include <string.h>

#include "vae.h"

dio_status vae_reap(vae *v)
{
    dio_status st = DIO_OK;
    if (v->run_stream && v->n_dead) st = v->be.iface->stream_sync(v->be.ctx, v->run_stream);
    for (int32_t i = 0; i < v->n_dead; i++) v->be.iface->buffer_free(v->be.ctx, v->dead[i]);
    v->n_dead = 0;
    return st;
}

void vae_release(vae *v, dio_buffer *buf)
{
    if (!buf) return;
    if (!v->run_stream) {
        v->be.iface->buffer_free(v->be.ctx, buf);
        return;
    }
    if (v->n_dead == VAE_MAX_DEAD) (void)vae_reap(v); /* a failed sync shows again at the run's end */
    v->dead[v->n_dead++] = buf;
}

dio_status vae_act_alloc(vae *v, vae_act *a, int64_t b, int64_t c, int64_t t, int64_t h, int64_t w)
{
    int64_t shape[5] = {b, c, t, h, w};
    dio_status st;
    uint64_t bytes = (uint64_t)(b * c * t * h * w) * 4u;
    a->buf = NULL;
    if (v->max_alloc && bytes > v->max_alloc)
        return v->host->set_error(DIO_ERR_OUT_OF_DEVICE_MEMORY,
                                  VAE_WHO ": activation of %llu bytes above max_alloc_bytes %llu",
                                  (unsigned long long)bytes, (unsigned long long)v->max_alloc);
    if ((st = v->be.iface->buffer_alloc(v->be.ctx, v->be.device, bytes ? bytes : 4, &a->buf)) != DIO_OK)
        return st;
    dio_tensor_init(&a->t, DIO_DTYPE_F32, 5, shape, a->buf, 0);
    return DIO_OK;
}

void vae_act_free(vae *v, vae_act *a)
{
    vae_release(v, a->buf);
    memset(a, 0, sizeof(*a));
}

void vae_cache_free(vae *v, vae_cache *c)
{
    vae_release(v, c->buf);
    memset(c, 0, sizeof(*c));
}

/* Frames [t0, t0 + n) of a [B, C, T, H, W] view. */
static dio_tensor frames(const dio_tensor *x, int64_t t0, int64_t n)
{
    dio_tensor f = *x;
    f.offset += (uint64_t)(t0 * x->stride[2]) * dio_dtype_size(x->dtype);
    f.shape[2] = n;
    return f;
}

static dio_status copy(vae *v, dio_stream *s, const dio_tensor *src, const dio_tensor *dst)
{
    const dio_tensor *in[1] = {src}, *out[1] = {dst};
    return dio_run(&v->be, s, DIO_OP_COPY, in, 1, out, 1, NULL);
}

/* The cache becomes the last `keep` frames of [old cache, x]. */
static dio_status cache_store(vae *v, dio_stream *s, vae_cache *c, const vae_act *x, int32_t keep)
{
    vae_act nc = {0};
    dio_tensor src, dst;
    dio_status st;
    int64_t f = x->t.shape[2], total = c->n + f < keep ? c->n + f : keep, skip = c->n + f - total;
    if ((st = vae_act_alloc(v, &nc, x->t.shape[0], x->t.shape[1], total, x->t.shape[3], x->t.shape[4])) !=
        DIO_OK)
        goto fail;
    if (skip < c->n) { /* some old frames survive */
        src = frames(&c->t, skip, c->n - skip);
        dst = frames(&nc.t, 0, c->n - skip);
        if ((st = copy(v, s, &src, &dst)) != DIO_OK) goto fail;
    }
    {
        int64_t from = skip > c->n ? skip - c->n : 0, at = c->n > skip ? c->n - skip : 0;
        src = frames(&x->t, from, f - from);
        dst = frames(&nc.t, at, f - from);
        if ((st = copy(v, s, &src, &dst)) != DIO_OK) goto fail;
    }
    vae_release(v, c->buf);
    c->buf = nc.buf;
    c->t = nc.t;
    c->n = (int32_t)total;
    return DIO_OK;
fail:
    vae_act_free(v, &nc);
    return st;
}

/* y = conv3d(x) with the given stride/pads and an optional cache of c->n frames. */
static dio_status conv(vae *v, dio_stream *s, const vae_conv *cv, const vae_cache *cache, const vae_act *x,
                       const int32_t *stride, const int32_t *pf, const int32_t *pb, vae_act *y)
{
    dio_conv_params p;
    int64_t d[5], nc = cache && cache->n ? cache->n : 0;
    dio_status st;
    const dio_tensor *in[4], *out[1];
    memset(&p, 0, sizeof(p));
    p.struct_size = sizeof(p);
    p.groups = 1;
    for (int i = 0; i < 3; i++) {
        int64_t n = x->t.shape[2 + i] + (i == 0 ? nc : 0);
        int64_t front = i == 0 ? (pf[0] - nc > 0 ? pf[0] - nc : 0) : pf[i];
        p.stride[i] = stride[i];
        p.pad_front[i] = pf[i];
        p.pad_back[i] = pb[i];
        p.dilation[i] = 1;
        d[2 + i] = (front + n + pb[i] - (cv->k[i] - 1) - 1) / stride[i] + 1;
    }
    d[0] = x->t.shape[0];
    d[1] = cv->cout;
    if ((st = vae_act_alloc(v, y, d[0], d[1], d[2], d[3], d[4])) != DIO_OK) return st;
    in[0] = &x->t;
    in[1] = &cv->w.t;
    in[2] = &cv->b.t;
    in[3] = nc ? &cache->t : NULL;
    out[0] = &y->t;
    if ((st = dio_run(&v->be, s, DIO_OP_CONV3D, in, 4, out, 1, &p)) != DIO_OK) vae_act_free(v, y);
    return st;
}

dio_status vae_causal_conv(vae *v, dio_stream *s, const vae_conv *c, vae_cache *cache, const vae_act *x,
                           vae_act *y)
{
    const int32_t one[3] = {1, 1, 1};
    int32_t pf[3], pb[3];
    dio_status st;
    pf[0] = (int32_t)c->k[0] - 1;
    pb[0] = 0;
    pf[1] = pb[1] = (int32_t)c->k[1] / 2;
    pf[2] = pb[2] = (int32_t)c->k[2] / 2;
    if ((st = conv(v, s, c, cache, x, one, pf, pb, y)) != DIO_OK) return st;
    if (cache && (st = cache_store(v, s, cache, x, 2)) != DIO_OK) vae_act_free(v, y);
    return st;
}

dio_status vae_norm_silu(vae *v, dio_stream *s, const vae_w *gamma, const vae_act *x, vae_act *y, int silu)
{
    const dio_tensor *in[3] = {&x->t, &gamma->t, NULL}, *out[1];
    dio_channel_norm_params p = {sizeof(p), 1e-12f};
    dio_status st;
    const int64_t *d = x->t.shape;
    if ((st = vae_act_alloc(v, y, d[0], d[1], d[2], d[3], d[4])) != DIO_OK) return st;
    out[0] = &y->t;
    if ((st = dio_run(&v->be, s, DIO_OP_CHANNEL_RMSNORM, in, 3, out, 1, &p)) != DIO_OK) goto fail;
    if (silu) {
        in[0] = &y->t;
        if ((st = dio_run(&v->be, s, DIO_OP_SILU, in, 1, out, 1, NULL)) != DIO_OK) goto fail;
    }
    return DIO_OK;
fail:
    vae_act_free(v, y);
    return st;
}

static dio_status add_into(vae *v, dio_stream *s, const vae_act *y, const vae_act *b)
{
    const dio_tensor *in[2] = {&y->t, &b->t}, *out[1] = {&y->t};
    return dio_run(&v->be, s, DIO_OP_ADD, in, 2, out, 1, NULL);
}

static dio_status run_res(vae *v, dio_stream *s, vae_layer *l, vae_act *x)
{
    vae_act sc = {0}, h = {0}, h1 = {0};
    dio_status st;
    if (l->shortcut.w.buf) {
        if ((st = vae_causal_conv(v, s, &l->shortcut, NULL, x, &sc)) != DIO_OK) goto fail;
    }
    if ((st = vae_norm_silu(v, s, &l->norm1, x, &h, 1)) != DIO_OK) goto fail;
    if ((st = vae_causal_conv(v, s, &l->conv1, &l->c1, &h, &h1)) != DIO_OK) goto fail;
    vae_act_free(v, &h);
    if (l->shortcut.w.buf)
        vae_act_free(v, x);
    else {
        sc = *x;
        memset(x, 0, sizeof(*x));
    }
    if ((st = vae_norm_silu(v, s, &l->norm2, &h1, &h, 1)) != DIO_OK) goto fail;
    vae_act_free(v, &h1);
    if ((st = vae_causal_conv(v, s, &l->conv2, &l->c2, &h, &h1)) != DIO_OK) goto fail;
    vae_act_free(v, &h);
    if ((st = add_into(v, s, &h1, &sc)) != DIO_OK) goto fail;
    vae_act_free(v, &sc);
    vae_act_free(v, x);
    *x = h1;
    return DIO_OK;
fail:
    vae_act_free(v, &sc);
    vae_act_free(v, &h);
    vae_act_free(v, &h1);
    return st;
}

/* Per frame: x + proj(attention(q, k, v of to_qkv(norm(x)))) over the H·W positions, one head of C. */
static dio_status run_attn(vae *v, dio_stream *s, vae_layer *l, vae_act *x)
{
    vae_act h = {0}, p = {0}, qkv = {0}, o = {0}, pr = {0}, y = {0};
    const int64_t B = x->t.shape[0], C = x->t.shape[1], T = x->t.shape[2], L = x->t.shape[3] * x->t.shape[4];
    dio_permute_params pp;
    dio_matmul_params mm;
    dio_attention_params ap;
    dio_tensor a4, b4, q, k, vv, o4;
    dio_status st;
    const dio_tensor *in[4], *out[1];
    memset(&pp, 0, sizeof(pp));
    pp.struct_size = sizeof(pp);
    memset(&mm, 0, sizeof(mm));
    mm.struct_size = sizeof(mm);
    mm.trans_b = 1;
    mm.alpha = 1.0f;
    memset(&ap, 0, sizeof(ap));
    ap.struct_size = sizeof(ap);
    if ((st = vae_norm_silu(v, s, &l->anorm, x, &h, 0)) != DIO_OK) goto fail;
    /* [B, C, T, L] → [B, T, L, C] */
    if ((st = vae_act_alloc(v, &p, B, T, L, C, 1)) != DIO_OK) goto fail;
    {
        int64_t sa[4] = {B, C, T, L}, sb[4] = {B, T, L, C};
        dio_tensor_init(&a4, DIO_DTYPE_F32, 4, sa, h.buf, 0);
        dio_tensor_init(&b4, DIO_DTYPE_F32, 4, sb, p.buf, 0);
    }
    pp.perm[0] = 0, pp.perm[1] = 2, pp.perm[2] = 3, pp.perm[3] = 1;
    in[0] = &a4;
    out[0] = &b4;
    if ((st = dio_run(&v->be, s, DIO_OP_PERMUTE, in, 1, out, 1, &pp)) != DIO_OK) goto fail;
    vae_act_free(v, &h);
    /* qkv [B, T, L, 3C] */
    if ((st = vae_act_alloc(v, &qkv, B, T, L, 3 * C, 1)) != DIO_OK) goto fail;
    {
        int64_t sq[4] = {B, T, L, 3 * C};
        dio_tensor_init(&a4, DIO_DTYPE_F32, 4, sq, qkv.buf, 0);
    }
    in[0] = &b4;
    in[1] = &l->qkv_w.t;
    in[2] = &l->qkv_b.t;
    out[0] = &a4;
    if ((st = dio_run(&v->be, s, DIO_OP_MATMUL, in, 3, out, 1, &mm)) != DIO_OK) goto fail;
    vae_act_free(v, &p);
    /* q, k, v: [B·T, 1, L, C] views with row stride 3C */
    {
        int64_t sh[4] = {B * T, 1, L, C};
        dio_tensor_init(&q, DIO_DTYPE_F32, 4, sh, qkv.buf, 0);
        q.stride[0] = L * 3 * C;
        q.stride[1] = L * 3 * C;
        q.stride[2] = 3 * C;
        q.stride[3] = 1;
        k = q;
        k.offset = (uint64_t)C * 4u;
        vv = q;
        vv.offset = (uint64_t)C * 8u;
        if ((st = vae_act_alloc(v, &o, B * T, 1, L, C, 1)) != DIO_OK) goto fail;
        dio_tensor_init(&o4, DIO_DTYPE_F32, 4, sh, o.buf, 0);
    }
    in[0] = &q;
    in[1] = &k;
    in[2] = &vv;
    in[3] = NULL;
    out[0] = &o4;
    if ((st = dio_run(&v->be, s, DIO_OP_ATTENTION, in, 4, out, 1, &ap)) != DIO_OK) goto fail;
    vae_act_free(v, &qkv);
    /* proj → [B, T, L, C] */
    if ((st = vae_act_alloc(v, &pr, B, T, L, C, 1)) != DIO_OK) goto fail;
    {
        int64_t sa[4] = {B, T, L, C};
        dio_tensor_init(&a4, DIO_DTYPE_F32, 4, sa, o.buf, 0);
        dio_tensor_init(&b4, DIO_DTYPE_F32, 4, sa, pr.buf, 0);
    }
    in[0] = &a4;
    in[1] = &l->proj_w.t;
    in[2] = &l->proj_b.t;
    out[0] = &b4;
    if ((st = dio_run(&v->be, s, DIO_OP_MATMUL, in, 3, out, 1, &mm)) != DIO_OK) goto fail;
    vae_act_free(v, &o);
    /* back to [B, C, T, H, W], plus the input */
    if ((st = vae_act_alloc(v, &y, B, C, T, x->t.shape[3], x->t.shape[4])) != DIO_OK) goto fail;
    {
        int64_t sa[4] = {B, C, T, L};
        dio_tensor_init(&a4, DIO_DTYPE_F32, 4, sa, y.buf, 0);
    }
    pp.perm[0] = 0, pp.perm[1] = 3, pp.perm[2] = 1, pp.perm[3] = 2;
    in[0] = &b4;
    out[0] = &a4;
    if ((st = dio_run(&v->be, s, DIO_OP_PERMUTE, in, 1, out, 1, &pp)) != DIO_OK) goto fail;
    vae_act_free(v, &pr);
    if ((st = add_into(v, s, &y, x)) != DIO_OK) goto fail;
    vae_act_free(v, x);
    *x = y;
    return DIO_OK;
fail:
    vae_act_free(v, &h);
    vae_act_free(v, &p);
    vae_act_free(v, &qkv);
    vae_act_free(v, &o);
    vae_act_free(v, &pr);
    vae_act_free(v, &y);
    return st;
}

/* ZeroPad2d(0, 1, 0, 1) + Conv2d 3×3 stride 2 per frame, then (3D) the time_conv of stride 2. */
static dio_status run_down(vae *v, dio_stream *s, vae_layer *l, vae_act *x)
{
    const int32_t st2[3] = {1, 2, 2}, zero[3] = {0, 0, 0}, br[3] = {0, 1, 1}, tst[3] = {2, 1, 1};
    vae_act y = {0}, z = {0};
    dio_status st;
    if ((st = conv(v, s, &l->resample, NULL, x, st2, zero, br, &y)) != DIO_OK) goto fail;
    vae_act_free(v, x);
    if (l->kind == VAE_L_DOWN3D) {
        if (l->c1.n > 0) { /* later chunks: [last cached frame, frames] through time_conv */
            if ((st = conv(v, s, &l->time_conv, &l->c1, &y, tst, zero, zero, &z)) != DIO_OK) goto fail;
        }
        if ((st = cache_store(v, s, &l->c1, &y, 1)) != DIO_OK) goto fail;
        if (z.buf) { /* the first chunk bypasses time_conv */
            vae_act_free(v, &y);
            y = z;
            memset(&z, 0, sizeof(z));
        }
    }
    *x = y;
    return DIO_OK;
fail:
    vae_act_free(v, &y);
    vae_act_free(v, &z);
    return st;
}

/* (3D) time_conv C → 2C and the frame interleave, then nearest ×2 and Conv2d 3×3 per frame. */
static dio_status run_up(vae *v, dio_stream *s, vae_layer *l, vae_act *x)
{
    const int32_t one[3] = {1, 1, 1}, pad[3] = {0, 1, 1}, tpf[3] = {2, 0, 0}, zero[3] = {0, 0, 0};
    vae_act tc = {0}, il = {0}, up = {0}, y = {0};
    dio_status st;
    const dio_tensor *in[1], *out[1];
    int64_t B = x->t.shape[0], C = x->t.shape[1], T = x->t.shape[2], H = x->t.shape[3], W = x->t.shape[4];
    if (l->kind == VAE_L_UP3D) {
        if (!l->c1.rep) {
            l->c1.rep = 1; /* the first chunk bypasses time_conv */
        } else {
            dio_permute_params pp;
            dio_tensor a5, b5;
            if ((st = conv(v, s, &l->time_conv, &l->c1, x, one, tpf, zero, &tc)) != DIO_OK) goto fail;
            if ((st = cache_store(v, s, &l->c1, x, 2)) != DIO_OK) goto fail;
            vae_act_free(v, x);
            /* [B, 2, C, T, HW] → [B, C, T, 2, HW]: frame 2t + i is channel block i */
            if ((st = vae_act_alloc(v, &il, B, C, 2 * T, H, W)) != DIO_OK) goto fail;
            {
                int64_t sa[5] = {B, 2, C, T, H * W}, sb[5] = {B, C, T, 2, H * W};
                dio_tensor_init(&a5, DIO_DTYPE_F32, 5, sa, tc.buf, 0);
                dio_tensor_init(&b5, DIO_DTYPE_F32, 5, sb, il.buf, 0);
            }
            memset(&pp, 0, sizeof(pp));
            pp.struct_size = sizeof(pp);
            pp.perm[0] = 0, pp.perm[1] = 2, pp.perm[2] = 3, pp.perm[3] = 1, pp.perm[4] = 4;
            in[0] = &a5;
            out[0] = &b5;
            if ((st = dio_run(&v->be, s, DIO_OP_PERMUTE, in, 1, out, 1, &pp)) != DIO_OK) goto fail;
            vae_act_free(v, &tc);
            *x = il;
            memset(&il, 0, sizeof(il));
            T *= 2;
        }
    }
    if ((st = vae_act_alloc(v, &up, B, C, T, 2 * H, 2 * W)) != DIO_OK) goto fail;
    in[0] = &x->t;
    out[0] = &up.t;
    if ((st = dio_run(&v->be, s, DIO_OP_UPSAMPLE_NEAREST, in, 1, out, 1, NULL)) != DIO_OK) goto fail;
    vae_act_free(v, x);
    if ((st = conv(v, s, &l->resample, NULL, &up, one, pad, pad, &y)) != DIO_OK) goto fail;
    vae_act_free(v, &up);
    *x = y;
    return DIO_OK;
fail:
    vae_act_free(v, &tc);
    vae_act_free(v, &il);
    vae_act_free(v, &up);
    vae_act_free(v, &y);
    return st;
}

dio_status vae_layer_run(vae *v, dio_stream *s, vae_layer *l, vae_act *x)
{
    switch (l->kind) {
    case VAE_L_RES: return run_res(v, s, l, x);
    case VAE_L_ATTN: return run_attn(v, s, l, x);
    case VAE_L_DOWN2D:
    case VAE_L_DOWN3D: return run_down(v, s, l, x);
    default: return run_up(v, s, l, x);
    }
}

void vae_layer_dims(const vae_layer *l, int first, int64_t *d)
{
    d[1] = l->cout;
    switch (l->kind) {
    case VAE_L_DOWN3D:
        if (!first) d[2] = (d[2] + 1 - 3) / 2 + 1;
        /* fall through */
    case VAE_L_DOWN2D:
        d[3] = (d[3] + 1 - 3) / 2 + 1;
        d[4] = (d[4] + 1 - 3) / 2 + 1;
        break;
    case VAE_L_UP3D:
        if (!first) d[2] *= 2;
        /* fall through */
    case VAE_L_UP2D:
        d[3] *= 2;
        d[4] *= 2;
        break;
    default: break;
    }
}

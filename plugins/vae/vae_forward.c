/* wan-vae — the chunk loops: encode (frame 0 alone, then chunks of 4 frames, one latent frame each) and
 * decode (post_quant_conv on the whole latent, then one latent frame per chunk: 1 pixel frame for the
 * first, 4 for each later one), the latent (de)normalisation, the optional clamp, and the testing `stage`
 * outputs ("quant_conv", "mode", "post_quant_conv", or "chunkC.<diffusers hook name>").
 *
 * Design: the frame caches live only for one run (reset before and after). Per-chunk outputs are written
 * straight into frame slices of the caller's output with element-wise ops (which take any strides), so
 * nothing of the whole video is held but the input, the output and, for decode, the latent.
 * Memory: activations exist per chunk only, and within a chunk per layer (buffers released in a layer are
 * freed after the stream sync that ends it). With X = B · C · f · H · W · 4 bytes the layer's f32 input (f
 * the frames it sees in the chunk: encode 1 or 4 at full resolution, halved by each temporal downsample;
 * decode 1 at latent resolution, doubled by each temporal upsample up to 4) and C' its output width, the
 * peak is
 *     max over layers of: residual block (2 + 4·C'/C)·X; attention 7·X (q|k|v is 3·X);
 *                         downsample X + X·C'/C·3/8 (2D: X + X·C'/C/4); upsample3d 13·X + 8·X·C'/C
 *                         (2D: 5·X + 4·X·C'/C)
 *     plus the caches: sum over cache slots of 2 · B · C · H · W · 4 bytes (one slot per causal conv and
 *     per temporal resample, at that layer's width and size),
 * independent of the number of frames. At 704×1280 the decoder's full-resolution residual blocks dominate
 * (C = 96, f = 4: X ≈ 1.4 GB, so about 8.3 GB) and the caches add about 8.5 GB (most of it the 7 slots at
 * full resolution); the encoder needs far less (f = 4 at C = 96 only before the first downsample).
 * Tiled decode and encode (run_tiled, diffusers' tiled_decode / tiled_encode rule): the same per-chunk
 * peak at the tile's size instead of the frame's, plus two rows of finished tiles (all frames): decode
 * 2 · B · 3 · T_out · tile · frame width · 4 bytes, unclamped, since a tile is blended into the one above
 * it and the one to its left before its top-left (tile − overlap)² pixels are written; encode the same in
 * latents (16 channels at 1/8 of the size: negligible). An out-of-memory status from the backend during a
 * run (tiling auto or on) restarts it tiled with the tile size and overlap halved, down to
 * VAE_TILE_FLOOR pixels, with a warning in the log. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vae.h"

/* Latent-time and pixel-space factors from the layer list. */
static void factors(const vae *v, int64_t *tf, int64_t *sf)
{
    *tf = 1;
    *sf = 1;
    for (int32_t i = 0; i < v->n_layers; i++) {
        int32_t k = v->layers[i].kind;
        if (k == VAE_L_DOWN3D || k == VAE_L_UP3D) *tf *= 2;
        if (k != VAE_L_RES && k != VAE_L_ATTN) *sf *= 2;
    }
}

/* Dims of the chunk stage `name` of chunk c, whose input has dims d; 1 when found. */
static int walk(const vae *v, int64_t c, const char *name, int64_t *d)
{
    const char *half = v->decoder ? "decoder" : "encoder";
    char nm[64];
    d[1] = v->conv_in.cout;
    snprintf(nm, sizeof(nm), "%s.conv_in", half);
    if (!strcmp(name, nm)) return 1;
    for (int32_t i = 0; i < v->n_layers; i++) {
        vae_layer_dims(&v->layers[i], c == 0, d);
        if (v->layers[i].stage[0] && !strcmp(name, v->layers[i].stage)) return 1;
    }
    d[1] = v->conv_out.cout;
    snprintf(nm, sizeof(nm), "%s.conv_out", half);
    return !strcmp(name, nm);
}

static dio_status bad(vae *v, const char *fmt, long long a, long long b)
{
    return v->host->set_error(DIO_ERR_INVALID_ARGUMENT, fmt, a, b);
}

dio_status vae_forward_shape(vae *v, const dio_tensor *const *in, dio_tensor *out)
{
    const dio_tensor *x = in ? in[0] : NULL;
    int64_t tf, sf, d[5], n_chunks, c = -1;
    char name[64] = "";
    factors(v, &tf, &sf);
    if (!x || x->ndim != 5 ||
        (x->dtype != DIO_DTYPE_F32 && x->dtype != DIO_DTYPE_F16 && x->dtype != DIO_DTYPE_BF16))
        return v->host->set_error(DIO_ERR_INVALID_ARGUMENT,
                                  VAE_WHO ": input \"%s\" must be a float [B, %lld, T, H, W]",
                                  v->decoder ? "latents" : "pixels", (long long)(v->decoder ? v->z : v->img));
    if (x->shape[1] != (v->decoder ? v->z : v->img))
        return bad(v, VAE_WHO ": input has %lld channels, the weights take %lld", (long long)x->shape[1],
                   (long long)(v->decoder ? v->z : v->img));
    if (x->shape[0] < 1 || x->shape[2] < 1 || x->shape[3] < 1 || x->shape[4] < 1)
        return bad(v, VAE_WHO ": input has an empty dim (T %lld, H %lld)", (long long)x->shape[2],
                   (long long)x->shape[3]);
    if (!v->decoder && ((x->shape[2] - 1) % tf || x->shape[3] % sf || x->shape[4] % sf))
        return v->host->set_error(DIO_ERR_INVALID_ARGUMENT,
                                  VAE_WHO
                                  ": input \"pixels\" is [.., %lld, %lld, %lld]; T must be 1 + %lld·k and "
                                  "H, W multiples of %lld",
                                  (long long)x->shape[2], (long long)x->shape[3], (long long)x->shape[4],
                                  (long long)tf, (long long)sf);
    n_chunks = v->decoder ? x->shape[2] : 1 + (x->shape[2] - 1) / tf;
    memcpy(d, x->shape, sizeof(d));
    if (v->decoder) {
        d[1] = v->img;
        d[2] = 1 + tf * (x->shape[2] - 1);
        d[3] *= sf;
        d[4] *= sf;
    } else {
        d[1] = v->z;
        d[2] = n_chunks;
        d[3] /= sf;
        d[4] /= sf;
    }
    if (v->stage[0]) {
        if (!v->decoder && !strcmp(v->stage, "quant_conv"))
            d[1] = 2 * v->z;
        else if (!strcmp(v->stage, v->decoder ? "post_quant_conv" : "mode"))
            memcpy(d, x->shape, sizeof(d)), d[1] = v->z, d[2] = n_chunks,
                                            d[3] = x->shape[3] / (v->decoder ? 1 : sf),
                                            d[4] = x->shape[4] / (v->decoder ? 1 : sf);
        else {
            long long cc = -1;
            if (sscanf(v->stage, "chunk%lld.%63s", &cc, name) != 2 || cc < 0 || cc >= n_chunks)
                return v->host->set_error(DIO_ERR_INVALID_ARGUMENT,
                                          VAE_WHO ": stage \"%s\" is not known for %lld chunks", v->stage,
                                          (long long)n_chunks);
            c = cc;
            memcpy(d, x->shape, sizeof(d));
            d[2] = v->decoder ? 1 : (c == 0 ? 1 : tf);
            if (!walk(v, c, name, d))
                return v->host->set_error(DIO_ERR_INVALID_ARGUMENT, VAE_WHO ": stage \"%s\" is not known",
                                          v->stage);
        }
    }
    dio_tensor_init(out, DIO_DTYPE_F32, 5, d, NULL, 0);
    return DIO_OK;
}

static void caches_reset(vae *v)
{
    vae_cache_free(v, &v->c_in);
    vae_cache_free(v, &v->c_out);
    for (int32_t i = 0; i < v->n_layers; i++) {
        vae_cache_free(v, &v->layers[i].c1);
        vae_cache_free(v, &v->layers[i].c2);
    }
}

static int hit(const vae *v, int64_t c, const char *name)
{
    char nm[96];
    snprintf(nm, sizeof(nm), "chunk%lld.%s", (long long)c, name);
    return v->stage[0] && !strcmp(nm, v->stage);
}

static dio_status run2(vae *v, dio_stream *s, int32_t op, const dio_tensor *a, const dio_tensor *b,
                       const dio_tensor *y, const void *p)
{
    const dio_tensor *in[2] = {a, b}, *out[1] = {y};
    return dio_run(&v->be, s, op, in, b ? 2 : 1, out, 1, p);
}

/* One chunk through conv_in, the layers and the head; *x (consumed) becomes the head's output.
 * *done is set when the stage was hit and copied to `out`. */
static dio_status chunk(vae *v, dio_stream *s, int64_t c, vae_act *x, const dio_tensor *out, int *done)
{
    const char *half = v->decoder ? "decoder" : "encoder";
    vae_act y = {0};
    char nm[64];
    dio_status st;
    if ((st = vae_causal_conv(v, s, &v->conv_in, &v->c_in, x, &y)) != DIO_OK) goto fail;
    vae_act_free(v, x);
    *x = y;
    memset(&y, 0, sizeof(y));
    snprintf(nm, sizeof(nm), "%s.conv_in", half);
    if (hit(v, c, nm)) goto stage;
    for (int32_t i = 0; i < v->n_layers; i++) {
        if ((st = vae_layer_run(v, s, &v->layers[i], x)) != DIO_OK) goto fail;
        if ((st = vae_reap(v)) != DIO_OK) goto fail;
        if (v->layers[i].stage[0] && hit(v, c, v->layers[i].stage)) goto stage;
    }
    if ((st = vae_norm_silu(v, s, &v->norm_out, x, &y, 1)) != DIO_OK) goto fail;
    vae_act_free(v, x);
    if ((st = vae_causal_conv(v, s, &v->conv_out, &v->c_out, &y, x)) != DIO_OK) goto fail;
    vae_act_free(v, &y);
    snprintf(nm, sizeof(nm), "%s.conv_out", half);
    if (hit(v, c, nm)) goto stage;
    return DIO_OK;
stage:
    *done = 1;
    return run2(v, s, DIO_OP_COPY, &x->t, NULL, out, NULL);
fail:
    vae_act_free(v, &y);
    return st;
}

/* Uploads per-channel constants as a [z, 1, 1, 1] f32 pair a | b. */
static dio_status consts(vae *v, const float *a, const float *b, dio_buffer **buf, dio_tensor *ta,
                         dio_tensor *tb)
{
    float host[2 * VAE_MAX_Z];
    int64_t sh[4] = {v->z, 1, 1, 1};
    dio_status st;
    memcpy(host, a, sizeof(float) * (size_t)v->z);
    memcpy(host + v->z, b, sizeof(float) * (size_t)v->z);
    if ((st = v->be.iface->buffer_alloc(v->be.ctx, v->be.device, sizeof(float) * 2 * (size_t)v->z, buf)) !=
        DIO_OK)
        return st;
    if ((st = v->be.iface->buffer_upload(v->be.ctx, NULL, *buf, 0, host, sizeof(float) * 2 * (size_t)v->z)) !=
        DIO_OK) {
        v->be.iface->buffer_free(v->be.ctx, *buf);
        *buf = NULL;
        return st;
    }
    dio_tensor_init(ta, DIO_DTYPE_F32, 4, sh, *buf, 0);
    dio_tensor_init(tb, DIO_DTYPE_F32, 4, sh, *buf, sizeof(float) * (uint64_t)v->z);
    return DIO_OK;
}

/* Encodes `px` (any view) into `out` (any view of the right shape) with fresh caches; normalises when
 * `norm`, else writes the raw posterior mode. Frame 0 alone, then chunks of tf frames. */
static dio_status encode(vae *v, dio_stream *s, const dio_tensor *px, const dio_tensor *out, int norm)
{
    vae_act x = {0}, q = {0};
    dio_buffer *cb = NULL;
    dio_tensor negmean, inv, src, dst, mode;
    float nm[VAE_MAX_Z], iv[VAE_MAX_Z];
    int64_t tf, sf, n_chunks;
    dio_status st;
    int done = 0, chunk_stage = !strncmp(v->stage, "chunk", 5);
    factors(v, &tf, &sf);
    caches_reset(v);
    n_chunks = 1 + (px->shape[2] - 1) / tf;
    for (int64_t i = 0; i < v->z; i++) {
        nm[i] = -v->mean[i];
        iv[i] = 1.0f / v->std[i];
    }
    if ((st = consts(v, nm, iv, &cb, &negmean, &inv)) != DIO_OK) goto fail;
    for (int64_t c = 0; c < n_chunks && !done; c++) {
        int64_t t0 = c == 0 ? 0 : 1 + (c - 1) * tf, f = c == 0 ? 1 : tf;
        if ((st = vae_act_alloc(v, &x, px->shape[0], px->shape[1], f, px->shape[3], px->shape[4])) != DIO_OK)
            goto fail;
        src = *px;
        src.offset += (uint64_t)(t0 * px->stride[2]) * dio_dtype_size(px->dtype);
        src.shape[2] = f;
        if ((st = run2(v, s, DIO_OP_COPY, &src, NULL, &x.t, NULL)) != DIO_OK) goto fail;
        if ((st = chunk(v, s, c, &x, out, &done)) != DIO_OK) goto fail;
        if (done) break;
        if (chunk_stage) { /* a later chunk's hook: this chunk only fills the caches */
            vae_act_free(v, &x);
            continue;
        }
        if ((st = vae_causal_conv(v, s, &v->top, NULL, &x, &q)) != DIO_OK) goto fail;
        vae_act_free(v, &x);
        dst = *out;
        dst.offset += (uint64_t)(c * out->stride[2]) * 4u;
        dst.shape[2] = 1;
        if (!strcmp(v->stage, "quant_conv")) {
            if ((st = run2(v, s, DIO_OP_COPY, &q.t, NULL, &dst, NULL)) != DIO_OK) goto fail;
        } else {
            mode = q.t;
            mode.shape[1] = v->z; /* posterior mode: the first z channels */
            if (!norm || !strcmp(v->stage, "mode")) {
                if ((st = run2(v, s, DIO_OP_COPY, &mode, NULL, &dst, NULL)) != DIO_OK) goto fail;
            } else {
                if ((st = run2(v, s, DIO_OP_ADD, &mode, &negmean, &dst, NULL)) != DIO_OK) goto fail;
                if ((st = run2(v, s, DIO_OP_MUL, &dst, &inv, &dst, NULL)) != DIO_OK) goto fail;
            }
        }
        vae_act_free(v, &q);
    }
    st = v->be.iface->stream_sync(v->be.ctx, s);
fail:
    vae_act_free(v, &x);
    vae_act_free(v, &q);
    vae_release(v, cb);
    caches_reset(v);
    return st;
}

/* Decodes `lat` (any view) into `out` (any view of the right shape) with fresh caches; clamps when
 * `clamp`. The whole-latent post_quant_conv, then one latent frame per chunk. */
static dio_status decode(vae *v, dio_stream *s, const dio_tensor *lat, const dio_tensor *out, int clamp)
{
    vae_act z = {0}, pq = {0}, x = {0};
    dio_buffer *cb = NULL;
    dio_tensor std_t, mean_t, src, dst;
    dio_clamp_params cp = {sizeof(cp), -1.0f, 1.0f};
    int64_t tf, sf, T = lat->shape[2];
    dio_status st;
    int done = 0, chunk_stage = !strncmp(v->stage, "chunk", 5);
    factors(v, &tf, &sf);
    caches_reset(v);
    if ((st = consts(v, v->std, v->mean, &cb, &std_t, &mean_t)) != DIO_OK) goto fail;
    if ((st = vae_act_alloc(v, &z, lat->shape[0], v->z, T, lat->shape[3], lat->shape[4])) != DIO_OK)
        goto fail;
    if ((st = run2(v, s, DIO_OP_COPY, lat, NULL, &z.t, NULL)) != DIO_OK) goto fail;
    if (v->normalize) { /* z = latents · std + mean (the pipeline's latents / (1/std) + mean) */
        if ((st = run2(v, s, DIO_OP_MUL, &z.t, &std_t, &z.t, NULL)) != DIO_OK) goto fail;
        if ((st = run2(v, s, DIO_OP_ADD, &z.t, &mean_t, &z.t, NULL)) != DIO_OK) goto fail;
    }
    if ((st = vae_causal_conv(v, s, &v->top, NULL, &z, &pq)) != DIO_OK) goto fail;
    vae_act_free(v, &z);
    if (!strcmp(v->stage, "post_quant_conv")) {
        if ((st = run2(v, s, DIO_OP_COPY, &pq.t, NULL, out, NULL)) != DIO_OK) goto fail;
        T = 0;
    }
    for (int64_t c = 0; c < T && !done; c++) {
        int64_t p0 = c == 0 ? 0 : 1 + (c - 1) * tf;
        if ((st = vae_act_alloc(v, &x, pq.t.shape[0], v->z, 1, pq.t.shape[3], pq.t.shape[4])) != DIO_OK)
            goto fail;
        src = pq.t;
        src.offset += (uint64_t)(c * pq.t.stride[2]) * 4u;
        src.shape[2] = 1;
        if ((st = run2(v, s, DIO_OP_COPY, &src, NULL, &x.t, NULL)) != DIO_OK) goto fail;
        if ((st = chunk(v, s, c, &x, out, &done)) != DIO_OK) goto fail;
        if (!done && !chunk_stage) {
            dst = *out;
            dst.offset += (uint64_t)(p0 * out->stride[2]) * 4u;
            dst.shape[2] = x.t.shape[2];
            if (clamp)
                st = run2(v, s, DIO_OP_CLAMP, &x.t, NULL, &dst, &cp);
            else
                st = run2(v, s, DIO_OP_COPY, &x.t, NULL, &dst, NULL);
            if (st != DIO_OK) goto fail;
        }
        vae_act_free(v, &x);
    }
    st = v->be.iface->stream_sync(v->be.ctx, s);
fail:
    vae_act_free(v, &z);
    vae_act_free(v, &pq);
    vae_act_free(v, &x);
    vae_release(v, cb);
    caches_reset(v);
    return st;
}

/* Blends the last e rows (axis 3) or columns (axis 4) of a into the first e of b, in place on b, with
 * e = min(a's extent, b's extent, ext): b[y] = a[n_a - e + y] · (1 - y/e) + b[y] · (y/e), the weights
 * rounded to f32 from double as torch does with a Python scalar (diffusers blend_v / blend_h). */
static dio_status blend(vae *v, dio_stream *s, const dio_tensor *a, const dio_tensor *b, int64_t ext,
                        int axis)
{
    vae_act tmp = {0};
    dio_buffer *wb = NULL;
    dio_tensor as = *a, bs = *b, wa_t, wb_t;
    float host[2 * 1024];
    int64_t e = ext, wsh[2] = {1, 1}, d[5];
    dio_status st;
    if (a->shape[axis] < e) e = a->shape[axis];
    if (b->shape[axis] < e) e = b->shape[axis];
    if (e <= 0) return DIO_OK;
    if (e > 1024)
        return v->host->set_error(DIO_ERR_INVALID_ARGUMENT, VAE_WHO ": tile_overlap above 1024 pixels");
    for (int64_t y = 0; y < e; y++) {
        host[y] = (float)(1.0 - (double)y / (double)e);
        host[e + y] = (float)((double)y / (double)e);
    }
    if ((st = v->be.iface->buffer_alloc(v->be.ctx, v->be.device, sizeof(float) * 2 * (size_t)e, &wb)) !=
        DIO_OK)
        goto fail;
    if ((st = v->be.iface->buffer_upload(v->be.ctx, NULL, wb, 0, host, sizeof(float) * 2 * (size_t)e)) !=
        DIO_OK)
        goto fail;
    if (axis == 3)
        wsh[0] = e; /* [e, 1] broadcasts over columns */
    else
        wsh[1] = e; /* [1, e] */
    dio_tensor_init(&wa_t, DIO_DTYPE_F32, 2, wsh, wb, 0);
    dio_tensor_init(&wb_t, DIO_DTYPE_F32, 2, wsh, wb, sizeof(float) * (uint64_t)e);
    as.offset += (uint64_t)((a->shape[axis] - e) * a->stride[axis]) * 4u;
    as.shape[axis] = e;
    bs.shape[axis] = e;
    memcpy(d, bs.shape, sizeof(d));
    if ((st = vae_act_alloc(v, &tmp, d[0], d[1], d[2], d[3], d[4])) != DIO_OK) goto fail;
    if ((st = run2(v, s, DIO_OP_MUL, &as, &wa_t, &tmp.t, NULL)) != DIO_OK) goto fail;
    if ((st = run2(v, s, DIO_OP_MUL, &bs, &wb_t, &bs, NULL)) != DIO_OK) goto fail;
    st = run2(v, s, DIO_OP_ADD, &bs, &tmp.t, &bs, NULL);
fail:
    vae_act_free(v, &tmp);
    vae_release(v, wb);
    return st;
}

/* Writes a finished tile region: decode clamps (when `clamp` is set), encode normalises with the
 * (-mean, 1/std) constants in nm / iv (when given); otherwise a plain copy. */
static dio_status put(vae *v, dio_stream *s, const dio_tensor *src, const dio_tensor *dst,
                      const dio_tensor *nm, const dio_tensor *iv)
{
    dio_clamp_params cp = {sizeof(cp), -1.0f, 1.0f};
    dio_status st;
    if (v->decoder && v->clamp) return run2(v, s, DIO_OP_CLAMP, src, NULL, dst, &cp);
    if (v->decoder || !nm) return run2(v, s, DIO_OP_COPY, src, NULL, dst, NULL);
    if ((st = run2(v, s, DIO_OP_ADD, src, nm, dst, NULL)) != DIO_OK) return st;
    return run2(v, s, DIO_OP_MUL, dst, iv, dst, NULL);
}

/* The tiled decode and encode, diffusers' tiled_decode / tiled_encode rule, on one grid counted in latent
 * cells: tiles of tile/8 cells every (tile - overlap)/8 cells (the last ones cut at the frame's edge),
 * i.e. for encode pixel tiles of `tile` every tile - overlap pixels. Each tile goes alone through the
 * whole chunk loop with fresh caches, unclamped (decode) or as the raw posterior mode (encode); it is
 * blended into the tile above (as already blended) and the tile to its left over `overlap` output pixels
 * (decode) or overlap/8 latent cells (encode), and its top-left (tile - overlap) pixels / (tile -
 * overlap)/8 cells are written to the output, clamped (decode) or normalised (encode). Blending the mode
 * rather than diffusers' 2z quant_conv channels is the same, the blend being per channel; normalising
 * after the blend is diffusers' order (the pipeline normalises the blended mode). Only the previous row
 * of tiles and the current row are kept. */
static dio_status run_tiled(vae *v, dio_stream *s, const dio_tensor *in, const dio_tensor *out, int64_t tile,
                            int64_t overlap)
{
    vae_act *prev = NULL, *cur = NULL, *sw;
    dio_buffer *cb = NULL;
    dio_tensor negmean, inv;
    float nm[VAE_MAX_Z], iv[VAE_MAX_Z];
    int64_t tf, sf, ins, outs, H, W, tl, stl, keep, ext, nr, nc;
    int norm = !v->decoder && v->normalize;
    dio_status st = DIO_OK;
    factors(v, &tf, &sf);
    ins = v->decoder ? 1 : sf; /* input units (cells or pixels) per latent cell */
    outs = v->decoder ? sf : 1;
    H = in->shape[3] / ins;
    W = in->shape[4] / ins;
    tl = tile / sf;
    stl = (tile - overlap) / sf;
    keep = stl * outs;
    ext = (tl - stl) * outs;
    nr = (H + stl - 1) / stl;
    nc = (W + stl - 1) / stl;
    if (norm) {
        for (int64_t i = 0; i < v->z; i++) {
            nm[i] = -v->mean[i];
            iv[i] = 1.0f / v->std[i];
        }
        if ((st = consts(v, nm, iv, &cb, &negmean, &inv)) != DIO_OK) goto fail;
    }
    prev = calloc((size_t)nc, sizeof(*prev));
    cur = calloc((size_t)nc, sizeof(*cur));
    if (!prev || !cur) {
        st = v->host->set_error(DIO_ERR_OUT_OF_HOST_MEMORY, VAE_WHO ": out of memory");
        goto fail;
    }
    for (int64_t i = 0; i < nr; i++) {
        for (int64_t j = 0; j < nc; j++) {
            dio_tensor xt = *in, dst = *out, src;
            int64_t th = H - i * stl < tl ? H - i * stl : tl, tw = W - j * stl < tl ? W - j * stl : tl, ch,
                    cw;
            xt.offset += (uint64_t)(i * stl * ins * in->stride[3] + j * stl * ins * in->stride[4]) *
                         dio_dtype_size(in->dtype);
            xt.shape[3] = th * ins;
            xt.shape[4] = tw * ins;
            if ((st = vae_act_alloc(v, &cur[j], out->shape[0], out->shape[1], out->shape[2], th * outs,
                                    tw * outs)) != DIO_OK)
                goto fail;
            st = v->decoder ? decode(v, s, &xt, &cur[j].t, 0) : encode(v, s, &xt, &cur[j].t, 0);
            if (st != DIO_OK) goto fail;
            if (i > 0 && (st = blend(v, s, &prev[j].t, &cur[j].t, ext, 3)) != DIO_OK) goto fail;
            if (j > 0 && (st = blend(v, s, &cur[j - 1].t, &cur[j].t, ext, 4)) != DIO_OK) goto fail;
            ch = th * outs < keep ? th * outs : keep;
            cw = tw * outs < keep ? tw * outs : keep;
            src = cur[j].t;
            src.shape[3] = ch;
            src.shape[4] = cw;
            dst.offset += (uint64_t)(i * keep * out->stride[3] + j * keep * out->stride[4]) * 4u;
            dst.shape[3] = ch;
            dst.shape[4] = cw;
            if ((st = put(v, s, &src, &dst, norm ? &negmean : NULL, norm ? &inv : NULL)) != DIO_OK) goto fail;
            if ((st = vae_reap(v)) != DIO_OK) goto fail;
        }
        for (int64_t j = 0; j < nc; j++) vae_act_free(v, &prev[j]);
        sw = prev;
        prev = cur;
        cur = sw;
    }
    st = v->be.iface->stream_sync(v->be.ctx, s);
fail:
    for (int64_t j = 0; prev && cur && j < nc; j++) {
        vae_act_free(v, &prev[j]);
        vae_act_free(v, &cur[j]);
    }
    free(prev);
    free(cur);
    vae_release(v, cb);
    return st;
}

static int is_oom(dio_status st)
{
    return st == DIO_ERR_OUT_OF_DEVICE_MEMORY || st == DIO_ERR_OUT_OF_HOST_MEMORY;
}

/* Untiled or tiled as `tiling` says (auto: tiled when the pixel frame, the decode's output or the encode's
 * input, has more than VAE_TILE_AUTO_PIXELS pixels and exceeds the tile); a run that runs out of memory
 * is retried tiled, with the tile size (and overlap) halved each time down to VAE_TILE_FLOOR pixels, said
 * in the log. */
static dio_status run_auto(vae *v, dio_stream *s, const dio_tensor *in, const dio_tensor *out)
{
    const dio_tensor *px = v->decoder ? out : in;
    const char *what = v->decoder ? "decode" : "encode";
    int64_t tile = v->tile_size, overlap = v->tile_overlap, hp = px->shape[3], wp = px->shape[4];
    int tiled = v->tiling == VAE_TILING_ON ||
                (v->tiling == VAE_TILING_AUTO && hp * wp > VAE_TILE_AUTO_PIXELS && (hp > tile || wp > tile));
    dio_status st;
    if (v->stage[0]) tiled = 0; /* the testing hooks are per chunk of an untiled run */
    if (tiled)
        st = run_tiled(v, s, in, out, tile, overlap);
    else
        st = v->decoder ? decode(v, s, in, out, v->clamp) : encode(v, s, in, out, v->normalize);
    if (v->stage[0] || v->tiling == VAE_TILING_OFF) return st;
    while (is_oom(st)) {
        (void)vae_reap(v);
        if (tiled) {
            int64_t nt = tile / 2 / 8 * 8, no = overlap / 2 / 8 * 8;
            if (no >= nt) no = nt - 8; /* keep a stride of at least one latent cell */
            if (nt < VAE_TILE_FLOOR) {
                v->host->log(DIO_LOG_ERROR, VAE_WHO,
                             "%s out of memory with %lld-pixel tiles; the floor is %d, giving up", what,
                             (long long)tile, VAE_TILE_FLOOR);
                return st;
            }
            v->host->log(DIO_LOG_WARN, VAE_WHO,
                         "%s out of memory with %lld-pixel tiles (overlap %lld); retrying with %lld (%lld)",
                         what, (long long)tile, (long long)overlap, (long long)nt, (long long)no);
            tile = nt;
            overlap = no;
        } else
            v->host->log(DIO_LOG_WARN, VAE_WHO,
                         "%s out of memory untiled; retrying tiled with %lld-pixel tiles (overlap %lld)",
                         what, (long long)tile, (long long)overlap);
        tiled = 1;
        st = run_tiled(v, s, in, out, tile, overlap);
    }
    return st;
}

dio_status vae_forward(vae *v, dio_stream *s, const dio_tensor *const *in, const dio_tensor *out)
{
    dio_status st, st2;
    caches_reset(v);
    v->run_stream = s;
    st = run_auto(v, s, in[0], out);
    caches_reset(v);
    st2 = vae_reap(v);
    v->run_stream = NULL;
    return st != DIO_OK ? st : st2;
}

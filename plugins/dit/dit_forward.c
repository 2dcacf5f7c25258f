/* cosmos-dit — the forward pass, written once against the backend op table.
 *
 * Order (MiniTrainDIT / CosmosTransformer3DModel): assemble [latents, condition mask, padding mask]
 * → PATCHIFY (c, t, h, w) → patch-embed matmul; timestep sinusoid (host) → t-embedder MLP (temb, the
 * shared AdaLN-LoRA term) and RMSNorm (embedded timestep); text → crossattn_proj + exact GELU; per
 * block three AdaLN-LoRA branches (shift, scale, gate) around self-attention (per-head QK RMSNorm,
 * 3D RoPE rotate-half), cross-attention (QK RMSNorm, no RoPE) and the GELU MLP, each closed by a
 * gated residual; the final AdaLN (shift, scale) and linear; UNPATCHIFY (h, w, t, c).
 *
 * Numerics by mode: native runs the time path, the AdaLN linears and the final layer in f32 and casts
 * the block modulation to the activation dtype (use_wan_fp32_strategy), with timestep scale 0.001 and
 * QK eps 1e-6; diffusers rounds the sinusoid to the activation dtype and stays there, with scale 1 and
 * QK eps 1e-5. With f32 activations the two differ only by those two scalars.
 *
 * Memory: every activation lives in one arena buffer, laid out by plan() for one input shape and kept
 * while the shape holds (the RoPE table with it). The residual stream and five [B, N, D] work tensors
 * are reused by every block; one scratch region serves the input assembly, the MLP hidden layer and the
 * final layer in turn. Per-frame timesteps are AdaLN groups: modulation is [B, G, ·] with G = 1 or T.
 * A debug `stage` copies one named activation into the output instead of the model output. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dit.h"

/* Arena regions. */
enum {
    RG_ZERO, /* 16 zero bytes: the source of absent masks (broadcast with stride 0) */
    RG_R,
    RG_A,
    RG_B,
    RG_C,
    RG_D,
    RG_E,
    RG_SCRATCH,
    RG_TXT,
    RG_CTX,
    RG_CK,
    RG_CV,
    RG_CKN,
    RG_SINF,
    RG_SINT,
    RG_EMBN,
    RG_SIL,
    RG_H1,
    RG_TEMB,
    RG_LORA,
    RG_MOD,
    RG_MODA,
    RG_COS,
    RG_SIN,
    RG_COUNT
};

typedef struct fwd {
    dit *d;
    const dit_config *c;
    dio_stream *s;
    int64_t B, T, H, W, Tp, Hp, Wp, N, L, G, Ctext, D, F, Fo, Cp;
    int32_t act, tdt, fdt, txt_dtype;
    uint64_t off[RG_COUNT];
    uint64_t total;
    dio_buffer *buf;
    const dio_tensor *out;
    int done;
} fwd;

static dio_tensor tv(const fwd *f, int rg, uint64_t extra, int32_t dt, int32_t nd, const int64_t *shape)
{
    dio_tensor t;
    dio_tensor_init(&t, dt, nd, shape, f->buf, f->off[rg] + extra);
    return t;
}

#define SHP(...) ((const int64_t[]){__VA_ARGS__})

static uint64_t align_up(uint64_t x)
{
    return (x + 255u) & ~(uint64_t)255u;
}

/* Reads the input shapes into f and checks every port. */
static dio_status read_shapes(fwd *f, dit *d, const dio_tensor *const *in)
{
    const dio_host_services *h = d->host;
    const dit_config *c = &d->cfg;
    const dio_tensor *x = in[DIT_IN_LATENTS], *ts = in[DIT_IN_TIMESTEP], *tx = in[DIT_IN_TEXT];
    const dio_tensor *cm = in[DIT_IN_COND_MASK], *pm = in[DIT_IN_PAD_MASK];
    memset(f, 0, sizeof(*f));
    f->d = d;
    f->c = c;
    if (!x || x->ndim != 5 || x->shape[1] != c->in_channels)
        return h->set_error(DIO_ERR_INVALID_ARGUMENT, DIT_WHO ": input \"latents\" must be [B, %d, T, H, W]",
                            c->in_channels);
    f->B = x->shape[0];
    f->T = x->shape[2];
    f->H = x->shape[3];
    f->W = x->shape[4];
    if (f->T % c->patch[0] || f->H % c->patch[1] || f->W % c->patch[2] || !f->B || !f->T || !f->H || !f->W)
        return h->set_error(
            DIO_ERR_INVALID_ARGUMENT,
            DIT_WHO ": input \"latents\" T, H, W (%lld, %lld, %lld) must be positive multiples of "
                    "the patch %dx%dx%d",
            (long long)f->T, (long long)f->H, (long long)f->W, c->patch[0], c->patch[1], c->patch[2]);
    f->Tp = f->T / c->patch[0];
    f->Hp = f->H / c->patch[1];
    f->Wp = f->W / c->patch[2];
    f->N = f->Tp * f->Hp * f->Wp;
    f->D = c->model_channels;
    f->Cp = c->in_channels + 2;
    f->F = f->Cp * c->patch[0] * c->patch[1] * c->patch[2];
    f->Fo = (int64_t)c->out_channels * c->patch[0] * c->patch[1] * c->patch[2];
    if (!ts || ts->dtype != DIO_DTYPE_F32 || !dio_tensor_is_contiguous(ts))
        return h->set_error(DIO_ERR_INVALID_ARGUMENT, DIT_WHO ": input \"timestep\" must be contiguous f32");
    if (ts->ndim == 1 && ts->shape[0] == f->B) {
        f->G = 1;
    } else if (ts->ndim == 5 && ts->shape[0] == f->B && ts->shape[1] == 1 && ts->shape[2] == f->T &&
               ts->shape[3] == 1 && ts->shape[4] == 1) {
        if (c->patch[0] != 1)
            return h->set_error(DIO_ERR_INVALID_ARGUMENT,
                                DIT_WHO ": per-frame \"timestep\" [B, 1, T, 1, 1] needs patch_t = 1");
        f->G = f->T;
    } else {
        return h->set_error(DIO_ERR_INVALID_ARGUMENT,
                            DIT_WHO
                            ": input \"timestep\" must be [B] or [B, 1, T, 1, 1] with B = %lld, T = %lld",
                            (long long)f->B, (long long)f->T);
    }
    f->Ctext = c->text_in ? c->text_in : c->text_dim;
    if (!tx || tx->ndim != 3 || tx->shape[0] != f->B || tx->shape[2] != f->Ctext || tx->shape[1] < 1)
        return h->set_error(DIO_ERR_INVALID_ARGUMENT,
                            DIT_WHO ": input \"text_embeddings\" must be [%lld, L, %lld]", (long long)f->B,
                            (long long)f->Ctext);
    if (tx->stride[2] != 1)
        return h->set_error(DIO_ERR_INVALID_ARGUMENT,
                            DIT_WHO ": input \"text_embeddings\" needs a contiguous last dim");
    f->L = tx->shape[1];
    f->txt_dtype = tx->dtype;
    if (cm && (cm->ndim != 5 || cm->shape[0] != f->B || cm->shape[1] != 1 || cm->shape[2] != f->T ||
               cm->shape[3] != f->H || cm->shape[4] != f->W))
        return h->set_error(DIO_ERR_INVALID_ARGUMENT,
                            DIT_WHO ": input \"condition_mask\" must be [%lld, 1, %lld, %lld, %lld]",
                            (long long)f->B, (long long)f->T, (long long)f->H, (long long)f->W);
    if (pm && (pm->ndim != 4 || (pm->shape[0] != 1 && pm->shape[0] != f->B) || pm->shape[1] != 1 ||
               pm->shape[2] % f->H || pm->shape[3] % f->W || !pm->shape[2] || !pm->shape[3]))
        return h->set_error(DIO_ERR_INVALID_ARGUMENT,
                            DIT_WHO ": input \"padding_mask\" must be [1 or B, 1, k*%lld, m*%lld] (nearest "
                                    "resize by an integer factor)",
                            (long long)f->H, (long long)f->W);
    f->act = c->act_dtype;
    f->tdt = c->mode == DIT_MODE_NATIVE ? DIO_DTYPE_F32 : f->act;
    f->fdt = f->tdt;
    return DIO_OK;
}

/* Lays the arena out for f's shape. */
static void plan(fwd *f)
{
    const dit_config *c = f->c;
    uint64_t ea = dio_dtype_size(f->act), et = dio_dtype_size(f->tdt);
    uint64_t BN = (uint64_t)(f->B * f->N), BG = (uint64_t)(f->B * f->G), BL = (uint64_t)(f->B * f->L);
    uint64_t D = (uint64_t)f->D, sz[RG_COUNT], at = 0, scratch;
    scratch = BN * (uint64_t)c->mlp_hidden * ea;
    if (scratch < 2 * BN * (uint64_t)f->F * ea) scratch = 2 * BN * (uint64_t)f->F * ea;
    if (scratch < BN * (2 * D + 2 * (uint64_t)f->Fo) * 4) scratch = BN * (2 * D + 2 * (uint64_t)f->Fo) * 4;
    sz[RG_ZERO] = 16;
    sz[RG_R] = sz[RG_A] = sz[RG_B] = sz[RG_C] = sz[RG_D] = sz[RG_E] = BN * D * ea;
    sz[RG_SCRATCH] = scratch;
    sz[RG_TXT] = f->txt_dtype != f->act ? BL * (uint64_t)f->Ctext * ea : 0;
    sz[RG_CTX] = BL * (uint64_t)c->text_dim * ea;
    sz[RG_CK] = sz[RG_CV] = sz[RG_CKN] = BL * D * ea;
    sz[RG_SINF] = BG * D * 4;
    sz[RG_SINT] = BG * D * et;
    sz[RG_EMBN] = sz[RG_SIL] = sz[RG_H1] = BG * D * et;
    sz[RG_TEMB] = sz[RG_MOD] = BG * 3 * D * et;
    sz[RG_LORA] = BG * (uint64_t)c->adaln_lora_dim * et;
    sz[RG_MODA] = BG * 3 * D * ea;
    sz[RG_COS] = sz[RG_SIN] = (uint64_t)f->N * (uint64_t)c->head_dim * 4;
    for (int i = 0; i < RG_COUNT; i++) {
        f->off[i] = at;
        at = align_up(at + sz[i]);
    }
    f->total = at;
}

void dit_arena_free(dit *d)
{
    if (d->arena.buf) d->be.iface->buffer_free(d->be.ctx, d->arena.buf);
    memset(&d->arena, 0, sizeof(d->arena));
}

/* Makes sure the arena fits f's shape: reused when the shape is the one it was made for. */
static dio_status arena_get(fwd *f)
{
    dit *d = f->d;
    int64_t key[8] = {f->B, f->T, f->H, f->W, f->L, f->Ctext, f->G, f->txt_dtype};
    static const uint8_t zeros[16];
    dio_status st;
    plan(f);
    if (d->arena.buf && memcmp(key, d->arena.key, sizeof(key)) == 0) {
        f->buf = d->arena.buf;
        return DIO_OK;
    }
    dit_arena_free(d);
    if ((st = d->be.iface->buffer_alloc(d->be.ctx, d->be.device, f->total, &d->arena.buf)) != DIO_OK)
        return st;
    d->arena.size = f->total;
    memcpy(d->arena.key, key, sizeof(key));
    f->buf = d->arena.buf;
    if ((st = d->be.iface->buffer_upload(d->be.ctx, NULL, f->buf, f->off[RG_ZERO], zeros, sizeof(zeros))) !=
        DIO_OK) {
        dit_arena_free(d);
        return st;
    }
    return DIO_OK;
}

/* ---- op helpers ---- */

static dio_status op1(fwd *f, int32_t op, const dio_tensor *x, const dio_tensor *y, const void *p)
{
    const dio_tensor *in[] = {x}, *out[] = {y};
    return dio_run(&f->d->be, f->s, op, in, 1, out, 1, p);
}

static dio_status op2(fwd *f, int32_t op, const dio_tensor *a, const dio_tensor *b, const dio_tensor *y,
                      const void *p)
{
    const dio_tensor *in[] = {a, b}, *out[] = {y};
    return dio_run(&f->d->be, f->s, op, in, 2, out, 1, p);
}

/* y = x · Wᵀ (+ bias): W in the nn.Linear layout [out, in]. */
static dio_status linear(fwd *f, const dio_tensor *x, const dit_weight *w, const dio_tensor *bias,
                         const dio_tensor *y)
{
    dio_matmul_params mp = {sizeof(mp), 0, 1, 1.0f, 0.0f};
    const dio_tensor *in[] = {x, &w->t, bias}, *out[] = {y};
    return dio_run(&f->d->be, f->s, DIO_OP_MATMUL, in, 3, out, 1, &mp);
}

static dio_status rmsnorm(fwd *f, const dio_tensor *x, const dit_weight *w, float eps, const dio_tensor *y)
{
    dio_norm_params np = {sizeof(np), eps};
    return op2(f, DIO_OP_RMSNORM, x, &w->t, y, &np);
}

/* A [B, L, D] region seen as [B, heads, L, head_dim] (permuted strides, no copy). */
static dio_tensor heads_view(const fwd *f, int rg, int64_t L)
{
    int64_t hh = f->c->num_heads, dh = f->c->head_dim;
    dio_tensor t = tv(f, rg, 0, f->act, 4, SHP(f->B, hh, L, dh));
    t.stride[0] = L * f->D;
    t.stride[1] = dh;
    t.stride[2] = f->D;
    t.stride[3] = 1;
    return t;
}

/* Column slice [.., k·D, (k+1)·D) of a [B, G, n·D] modulation tensor. */
static dio_tensor chunk(const fwd *f, int rg, int32_t dt, int64_t n, int64_t k)
{
    dio_tensor t = tv(f, rg, (uint64_t)(k * f->D) * dio_dtype_size(dt), dt, 3, SHP(f->B, f->G, f->D));
    t.stride[0] = f->G * n * f->D;
    t.stride[1] = n * f->D;
    return t;
}

/* ---- debug stages ---- */

static dio_status emit(fwd *f, const char *name, const dio_tensor *t)
{
    dio_tensor o;
    if (strcmp(f->d->stage, name) != 0) return DIO_OK;
    dio_tensor_init(&o, f->out->dtype, t->ndim, t->shape, f->out->buffer, f->out->offset);
    f->done = 1;
    return op1(f, DIO_OP_COPY, t, &o, NULL);
}

#define EMIT(name, t)                                                                                        \
    do {                                                                                                     \
        if ((st = emit(f, (name), (t))) != DIO_OK) goto fail;                                                \
        if (f->done) goto done;                                                                              \
    } while (0)
#define RUN(x)                                                                                               \
    do {                                                                                                     \
        if ((st = (x)) != DIO_OK) goto fail;                                                                 \
    } while (0)

/* Parses "block.I" / "block.I.SUB"; returns the block index or -1. */
static int32_t stage_block(const char *s, const char **sub)
{
    char *end = NULL;
    long v;
    if (strncmp(s, "block.", 6) != 0) return -1;
    v = strtol(s + 6, &end, 10);
    if (end == s + 6 || v < 0 || v > 100000) return -1;
    if (*end == 0) {
        *sub = "";
        return (int32_t)v;
    }
    if (*end != '.') return -1;
    *sub = end + 1;
    return (int32_t)v;
}

dio_status dit_forward_shape(dit *d, const dio_tensor *const *in, dio_tensor *out)
{
    fwd f;
    dio_status st;
    const char *s = d->stage, *sub = NULL;
    int32_t blk;
    int64_t D;
    if ((st = read_shapes(&f, d, in)) != DIO_OK) return st;
    D = f.D;
    blk = stage_block(s, &sub);
    if (!s[0] || !strcmp(s, "output"))
        dio_tensor_init(out, DIO_DTYPE_F32, 5, SHP(f.B, d->cfg.out_channels, f.T, f.H, f.W), NULL, 0);
    else if (!strcmp(s, "input"))
        dio_tensor_init(out, DIO_DTYPE_F32, 5, SHP(f.B, f.Cp, f.T, f.H, f.W), NULL, 0);
    else if (!strcmp(s, "patch_embed") || !strcmp(s, "norm_out") ||
             (blk >= 0 && blk < d->cfg.num_blocks &&
              (!sub[0] || !strcmp(sub, "norm1") || !strcmp(sub, "norm2") || !strcmp(sub, "norm3") ||
               !strcmp(sub, "attn1") || !strcmp(sub, "attn2") || !strcmp(sub, "ff"))))
        dio_tensor_init(out, DIO_DTYPE_F32, 3, SHP(f.B, f.N, D), NULL, 0);
    else if (blk >= 0 && blk < d->cfg.num_blocks &&
             (!strcmp(sub, "attn1.norm_q") || !strcmp(sub, "attn1.norm_k")))
        dio_tensor_init(out, DIO_DTYPE_F32, 4, SHP(f.B, f.N, d->cfg.num_heads, d->cfg.head_dim), NULL, 0);
    else if (blk >= 0 && blk < d->cfg.num_blocks &&
             (!strcmp(sub, "attn2.norm_q") || !strcmp(sub, "attn2.norm_k")))
        dio_tensor_init(out, DIO_DTYPE_F32, 4,
                        SHP(f.B, !strcmp(sub, "attn2.norm_q") ? f.N : f.L, d->cfg.num_heads, d->cfg.head_dim),
                        NULL, 0);
    else if (blk >= 0 && blk < d->cfg.num_blocks &&
             (!strcmp(sub, "gate1") || !strcmp(sub, "gate2") || !strcmp(sub, "gate3")))
        dio_tensor_init(out, DIO_DTYPE_F32, 3, SHP(f.B, f.G, D), NULL, 0);
    else if (!strcmp(s, "timestep_proj"))
        dio_tensor_init(out, DIO_DTYPE_F32, 2, SHP(f.B * f.G, D), NULL, 0);
    else if (!strcmp(s, "temb"))
        dio_tensor_init(out, DIO_DTYPE_F32, 3, SHP(f.B, f.G, 3 * D), NULL, 0);
    else if (!strcmp(s, "embedded_timestep"))
        dio_tensor_init(out, DIO_DTYPE_F32, 3, SHP(f.B, f.G, D), NULL, 0);
    else if (!strcmp(s, "rope_cos") || !strcmp(s, "rope_sin"))
        dio_tensor_init(out, DIO_DTYPE_F32, 2, SHP(f.N, d->cfg.head_dim), NULL, 0);
    else if (!strcmp(s, "crossattn_proj"))
        dio_tensor_init(out, DIO_DTYPE_F32, 3, SHP(f.B, f.L, d->cfg.text_dim), NULL, 0);
    else if (!strcmp(s, "proj_out"))
        dio_tensor_init(out, DIO_DTYPE_F32, 3, SHP(f.B, f.N, f.Fo), NULL, 0);
    else
        return d->host->set_error(DIO_ERR_INVALID_ARGUMENT,
                                  DIT_WHO ": unknown stage \"%s\" (input, patch_embed, timestep_proj, temb, "
                                          "embedded_timestep, rope_cos, rope_sin, crossattn_proj, block.I, "
                                          "block.I.{norm1,norm2,norm3,gate1,gate2,gate3,attn1,attn2,ff}, "
                                          "block.I.{attn1,attn2}.{norm_q,norm_k}, "
                                          "norm_out, proj_out, output; blocks 0..%d)",
                                  s, d->cfg.num_blocks - 1);
    return DIO_OK;
}

/* [latents, condition mask, padding mask] into X [B, Cp, T, H, W] (activation dtype). */
static dio_status assemble(fwd *f, const dio_tensor *const *in, const dio_tensor *X)
{
    const dio_tensor *cm = in[DIT_IN_COND_MASK], *pm = in[DIT_IN_PAD_MASK];
    int32_t cin = f->c->in_channels;
    dio_tensor dst, src;
    dio_status st;
    dst = *X;
    dst.shape[1] = cin;
    RUN(op1(f, DIO_OP_COPY, in[DIT_IN_LATENTS], &dst, NULL));
    for (int ch = 0; ch < 2; ch++) {
        const dio_tensor *m = ch == 0 ? cm : pm;
        dst = *X;
        dst.shape[1] = 1;
        dst.offset = X->offset + (uint64_t)((cin + ch) * X->stride[1]) * dio_dtype_size(X->dtype);
        if (!m) { /* absent: zeros, a stride-0 view of the arena's zero bytes */
            src = tv(f, RG_ZERO, 0, DIO_DTYPE_F32, 5, SHP(f->B, 1, f->T, f->H, f->W));
            for (int i = 0; i < 5; i++) src.stride[i] = 0;
        } else if (ch == 0) {
            src = *m;
        } else { /* padding mask [1 or B, 1, k·H, m·W]: nearest resize = strided pick, repeated over T */
            int64_t kh = m->shape[2] / f->H, kw = m->shape[3] / f->W;
            src = *m;
            src.ndim = 5;
            src.shape[0] = f->B;
            src.shape[1] = 1;
            src.shape[2] = f->T;
            src.shape[3] = f->H;
            src.shape[4] = f->W;
            src.stride[0] = m->shape[0] == 1 ? 0 : m->stride[0];
            src.stride[1] = m->stride[1];
            src.stride[2] = 0;
            src.stride[3] = m->stride[2] * kh;
            src.stride[4] = m->stride[3] * kw;
        }
        RUN(op1(f, DIO_OP_COPY, &src, &dst, NULL));
    }
    return DIO_OK;
fail:
    return st;
}

/* Timestep sinusoid → temb [B, G, 3D] (RG_TEMB) and SiLU(RMSNorm(sinusoid)) (RG_SIL), in tdt. */
static dio_status time_embed(fwd *f, const dio_tensor *ts, int *done)
{
    dit *d = f->d;
    const dio_host_services *h = d->host;
    int64_t n = f->B * f->G, D = f->D;
    float *host = NULL, *sinus = NULL;
    dio_tensor sf, e, h1, temb, embn, sil;
    dio_status st;
    host = malloc((size_t)n * sizeof(float));
    sinus = malloc((size_t)(n * D) * sizeof(float));
    if (!host || !sinus) {
        st = h->set_error(DIO_ERR_OUT_OF_HOST_MEMORY, DIT_WHO ": out of memory (timestep)");
        goto fail;
    }
    RUN(d->be.iface->buffer_download(d->be.ctx, f->s, ts->buffer, ts->offset, host,
                                     (uint64_t)n * sizeof(float)));
    RUN(d->be.iface->stream_sync(d->be.ctx, f->s));
    dit_timestep_sinusoid((int32_t)D, host, n, f->c->timestep_scale, sinus);
    RUN(d->be.iface->buffer_upload(d->be.ctx, f->s, f->buf, f->off[RG_SINF], sinus, (uint64_t)(n * D) * 4));
    RUN(d->be.iface->stream_sync(d->be.ctx, f->s));
    sf = tv(f, RG_SINF, 0, DIO_DTYPE_F32, 3, SHP(f->B, f->G, D));
    e = sf;
    if (f->tdt != DIO_DTYPE_F32) {
        e = tv(f, RG_SINT, 0, f->tdt, 3, SHP(f->B, f->G, D));
        RUN(op1(f, DIO_OP_COPY, &sf, &e, NULL));
    }
    {
        dio_tensor flat = e;
        flat.ndim = 2;
        flat.shape[0] = n;
        flat.shape[1] = D;
        flat.stride[0] = D;
        flat.stride[1] = 1;
        EMIT("timestep_proj", &flat);
    }
    h1 = tv(f, RG_H1, 0, f->tdt, 3, SHP(f->B, f->G, D));
    temb = tv(f, RG_TEMB, 0, f->tdt, 3, SHP(f->B, f->G, 3 * D));
    embn = tv(f, RG_EMBN, 0, f->tdt, 3, SHP(f->B, f->G, D));
    sil = tv(f, RG_SIL, 0, f->tdt, 3, SHP(f->B, f->G, D));
    RUN(linear(f, &e, &d->w.top[DIT_W_T_LIN1], NULL, &h1));
    RUN(op1(f, DIO_OP_SILU, &h1, &h1, NULL));
    RUN(linear(f, &h1, &d->w.top[DIT_W_T_LIN2], NULL, &temb));
    EMIT("temb", &temb);
    RUN(rmsnorm(f, &e, &d->w.top[DIT_W_T_NORM], 1e-6f, &embn));
    EMIT("embedded_timestep", &embn);
    RUN(op1(f, DIO_OP_SILU, &embn, &sil, NULL));
    free(host);
    free(sinus);
    return DIO_OK;
done:
    *done = 1;
    free(host);
    free(sinus);
    return DIO_OK;
fail:
    free(host);
    free(sinus);
    return st;
}

/* One AdaLN-LoRA branch: mod = W2·(W1·silu(emb)) + temb[..., :n·D], then cast to the activation dtype
 * when the time path runs wider. Returns the tensor the chunks are cut from (RG_MOD or RG_MODA). */
static dio_status modulation(fwd *f, const dit_weight *w1, const dit_weight *w2, int64_t n, int *rg_out)
{
    dio_tensor sil = tv(f, RG_SIL, 0, f->tdt, 3, SHP(f->B, f->G, f->D));
    dio_tensor lora = tv(f, RG_LORA, 0, f->tdt, 3, SHP(f->B, f->G, f->c->adaln_lora_dim));
    dio_tensor mod = tv(f, RG_MOD, 0, f->tdt, 3, SHP(f->B, f->G, n * f->D));
    dio_tensor temb = tv(f, RG_TEMB, 0, f->tdt, 3, SHP(f->B, f->G, n * f->D));
    dio_status st;
    temb.stride[0] = f->G * 3 * f->D;
    temb.stride[1] = 3 * f->D;
    RUN(linear(f, &sil, w1, NULL, &lora));
    RUN(linear(f, &lora, w2, NULL, &mod));
    RUN(op2(f, DIO_OP_ADD, &mod, &temb, &mod, NULL));
    *rg_out = RG_MOD;
    if (n == 3 && f->act != f->tdt) {
        dio_tensor moda = tv(f, RG_MODA, 0, f->act, 3, SHP(f->B, f->G, 3 * f->D));
        RUN(op1(f, DIO_OP_COPY, &mod, &moda, NULL));
        *rg_out = RG_MODA;
    }
    return DIO_OK;
fail:
    return st;
}

static dio_status attention(fwd *f, int rq, int rk, int rv, int64_t Lk, int ro)
{
    dio_attention_params ap = {sizeof(ap), 0.0f, 0};
    dio_tensor q = heads_view(f, rq, f->N), k = heads_view(f, rk, Lk), v = heads_view(f, rv, Lk);
    dio_tensor o = heads_view(f, ro, f->N);
    const dio_tensor *in[] = {&q, &k, &v, NULL}, *out[] = {&o};
    return dio_run(&f->d->be, f->s, DIO_OP_ATTENTION, in, 4, out, 1, &ap);
}

static dio_status op3(fwd *f, int32_t op, const dio_tensor *a, const dio_tensor *b, const dio_tensor *c,
                      const dio_tensor *y, const void *p)
{
    const dio_tensor *in[] = {a, b, c}, *out[] = {y};
    return dio_run(&f->d->be, f->s, op, in, 3, out, 1, p);
}

/* One transformer block on the residual stream RG_R; ctx is the projected text [B, L, text_dim]. */
static dio_status block(fwd *f, int32_t b, const dio_tensor *ctx)
{
    dit *d = f->d;
    const dit_weight *w = &d->w.blocks[(size_t)b * DIT_B_COUNT];
    int64_t B = f->B, N = f->N, D = f->D, L = f->L, hh = f->c->num_heads, dh = f->c->head_dim;
    float qk = f->c->qk_eps;
    dio_adaln_params ad = {sizeof(ad), 1e-6f, 0};
    dio_rope_params rp = {sizeof(rp), DIO_ROPE_ROTATE_HALF};
    dio_tensor R = tv(f, RG_R, 0, f->act, 3, SHP(B, N, D)), A = tv(f, RG_A, 0, f->act, 3, SHP(B, N, D));
    dio_tensor Bt = tv(f, RG_B, 0, f->act, 3, SHP(B, N, D)), C = tv(f, RG_C, 0, f->act, 3, SHP(B, N, D));
    dio_tensor Dt = tv(f, RG_D, 0, f->act, 3, SHP(B, N, D));
    dio_tensor E4 = tv(f, RG_E, 0, f->act, 4, SHP(B, N, hh, dh));
    dio_tensor B4 = tv(f, RG_B, 0, f->act, 4, SHP(B, N, hh, dh));
    dio_tensor C4 = tv(f, RG_C, 0, f->act, 4, SHP(B, N, hh, dh));
    dio_tensor cs = tv(f, RG_COS, 0, DIO_DTYPE_F32, 2, SHP(N, dh));
    dio_tensor sn = tv(f, RG_SIN, 0, DIO_DTYPE_F32, 2, SHP(N, dh));
    dio_tensor ck = tv(f, RG_CK, 0, f->act, 3, SHP(B, L, D)), cv = tv(f, RG_CV, 0, f->act, 3, SHP(B, L, D));
    dio_tensor ck4 = tv(f, RG_CK, 0, f->act, 4, SHP(B, L, hh, dh));
    dio_tensor ckn4 = tv(f, RG_CKN, 0, f->act, 4, SHP(B, L, hh, dh));
    dio_tensor H = tv(f, RG_SCRATCH, 0, f->act, 3, SHP(B, N, f->c->mlp_hidden));
    dio_gelu_params gp = {sizeof(gp), 0};
    dio_tensor shift, scale, gate;
    char nm[48];
    int rg;
    dio_status st;

    /* Self-attention: x += gate · Wo · attn(rope(qnorm(Wq m)), rope(knorm(Wk m)), Wv m). */
    RUN(modulation(f, &w[DIT_B_MOD_SA1], &w[DIT_B_MOD_SA2], 3, &rg));
    shift = chunk(f, rg, f->act, 3, 0);
    scale = chunk(f, rg, f->act, 3, 1);
    gate = chunk(f, rg, f->act, 3, 2);
    snprintf(nm, sizeof(nm), "block.%d.gate1", b);
    EMIT(nm, &gate);
    RUN(op3(f, DIO_OP_ADALN_MODULATE, &R, &shift, &scale, &A, &ad));
    snprintf(nm, sizeof(nm), "block.%d.norm1", b);
    EMIT(nm, &A);
    RUN(linear(f, &A, &w[DIT_B_SA_Q], NULL, &Bt));
    RUN(linear(f, &A, &w[DIT_B_SA_K], NULL, &C));
    RUN(linear(f, &A, &w[DIT_B_SA_V], NULL, &Dt));
    RUN(rmsnorm(f, &B4, &w[DIT_B_SA_QN], qk, &E4)); /* q → E */
    RUN(rmsnorm(f, &C4, &w[DIT_B_SA_KN], qk, &B4)); /* k → B */
    snprintf(nm, sizeof(nm), "block.%d.attn1.norm_q", b);
    EMIT(nm, &E4);
    snprintf(nm, sizeof(nm), "block.%d.attn1.norm_k", b);
    EMIT(nm, &B4);
    RUN(op3(f, DIO_OP_ROPE, &E4, &cs, &sn, &E4, &rp));
    RUN(op3(f, DIO_OP_ROPE, &B4, &cs, &sn, &B4, &rp));
    RUN(attention(f, RG_E, RG_B, RG_D, N, RG_A));
    RUN(linear(f, &A, &w[DIT_B_SA_O], NULL, &C));
    snprintf(nm, sizeof(nm), "block.%d.attn1", b);
    EMIT(nm, &C);
    RUN(op3(f, DIO_OP_GATED_RESIDUAL, &R, &C, &gate, &R, NULL));

    /* Cross-attention on the text context (no RoPE). */
    RUN(modulation(f, &w[DIT_B_MOD_CA1], &w[DIT_B_MOD_CA2], 3, &rg));
    shift = chunk(f, rg, f->act, 3, 0);
    scale = chunk(f, rg, f->act, 3, 1);
    gate = chunk(f, rg, f->act, 3, 2);
    snprintf(nm, sizeof(nm), "block.%d.gate2", b);
    EMIT(nm, &gate);
    RUN(op3(f, DIO_OP_ADALN_MODULATE, &R, &shift, &scale, &A, &ad));
    snprintf(nm, sizeof(nm), "block.%d.norm2", b);
    EMIT(nm, &A);
    RUN(linear(f, &A, &w[DIT_B_CA_Q], NULL, &Bt));
    RUN(rmsnorm(f, &B4, &w[DIT_B_CA_QN], qk, &E4));
    RUN(linear(f, ctx, &w[DIT_B_CA_K], NULL, &ck));
    RUN(rmsnorm(f, &ck4, &w[DIT_B_CA_KN], qk, &ckn4));
    RUN(linear(f, ctx, &w[DIT_B_CA_V], NULL, &cv));
    snprintf(nm, sizeof(nm), "block.%d.attn2.norm_q", b);
    EMIT(nm, &E4);
    snprintf(nm, sizeof(nm), "block.%d.attn2.norm_k", b);
    EMIT(nm, &ckn4);
    RUN(attention(f, RG_E, RG_CKN, RG_CV, L, RG_A));
    RUN(linear(f, &A, &w[DIT_B_CA_O], NULL, &C));
    snprintf(nm, sizeof(nm), "block.%d.attn2", b);
    EMIT(nm, &C);
    RUN(op3(f, DIO_OP_GATED_RESIDUAL, &R, &C, &gate, &R, NULL));

    /* MLP: Linear → exact GELU → Linear. */
    RUN(modulation(f, &w[DIT_B_MOD_MLP1], &w[DIT_B_MOD_MLP2], 3, &rg));
    shift = chunk(f, rg, f->act, 3, 0);
    scale = chunk(f, rg, f->act, 3, 1);
    gate = chunk(f, rg, f->act, 3, 2);
    snprintf(nm, sizeof(nm), "block.%d.gate3", b);
    EMIT(nm, &gate);
    RUN(op3(f, DIO_OP_ADALN_MODULATE, &R, &shift, &scale, &A, &ad));
    snprintf(nm, sizeof(nm), "block.%d.norm3", b);
    EMIT(nm, &A);
    RUN(linear(f, &A, &w[DIT_B_MLP1], NULL, &H));
    RUN(op1(f, DIO_OP_GELU, &H, &H, &gp));
    RUN(linear(f, &H, &w[DIT_B_MLP2], NULL, &C));
    snprintf(nm, sizeof(nm), "block.%d.ff", b);
    EMIT(nm, &C);
    RUN(op3(f, DIO_OP_GATED_RESIDUAL, &R, &C, &gate, &R, NULL));
    snprintf(nm, sizeof(nm), "block.%d", b);
    EMIT(nm, &R);
    return DIO_OK;
done:
fail:
    return st;
}

/* Final AdaLN (shift, scale) and linear, then UNPATCHIFY (h, w, t, c) into the f32 output. */
static dio_status final_layer(fwd *f)
{
    dit *d = f->d;
    int64_t B = f->B, N = f->N, D = f->D;
    uint64_t BN = (uint64_t)(B * N), efd = dio_dtype_size(f->fdt);
    dio_adaln_params ad = {sizeof(ad), 1e-6f, 0};
    dio_patch_params pp = {
        sizeof(pp), {f->c->patch[0], f->c->patch[1], f->c->patch[2]}, DIO_PATCH_ORDER_H_W_T_C};
    dio_tensor R = tv(f, RG_R, 0, f->act, 3, SHP(B, N, D)), X = R, shift, scale, no, po, po5, up;
    uint64_t at = 0;
    int rg;
    dio_status st;
    RUN(modulation(f, &d->w.top[DIT_W_FINAL_MOD1], &d->w.top[DIT_W_FINAL_MOD2], 2, &rg));
    shift = chunk(f, rg, f->fdt, 2, 0);
    scale = chunk(f, rg, f->fdt, 2, 1);
    if (f->fdt != f->act) { /* native: the final layer in f32 */
        X = tv(f, RG_SCRATCH, at, f->fdt, 3, SHP(B, N, D));
        at += BN * (uint64_t)D * efd;
        RUN(op1(f, DIO_OP_COPY, &R, &X, NULL));
    }
    no = tv(f, RG_SCRATCH, at, f->fdt, 3, SHP(B, N, D));
    at += BN * (uint64_t)D * efd;
    RUN(op3(f, DIO_OP_ADALN_MODULATE, &X, &shift, &scale, &no, &ad));
    EMIT("norm_out", &no);
    po = tv(f, RG_SCRATCH, at, f->fdt, 3, SHP(B, N, f->Fo));
    at += BN * (uint64_t)f->Fo * efd;
    RUN(linear(f, &no, &d->w.top[DIT_W_FINAL_LIN], NULL, &po));
    EMIT("proj_out", &po);
    po5 = tv(f, RG_SCRATCH, at - BN * (uint64_t)f->Fo * efd, f->fdt, 5, SHP(B, f->Tp, f->Hp, f->Wp, f->Fo));
    if (f->fdt == DIO_DTYPE_F32 && f->out->dtype == DIO_DTYPE_F32 && dio_tensor_is_contiguous(f->out)) {
        RUN(op1(f, DIO_OP_UNPATCHIFY, &po5, f->out, &pp));
    } else {
        up = tv(f, RG_SCRATCH, at, f->fdt, 5, SHP(B, f->c->out_channels, f->T, f->H, f->W));
        RUN(op1(f, DIO_OP_UNPATCHIFY, &po5, &up, &pp));
        RUN(op1(f, DIO_OP_COPY, &up, f->out, NULL));
    }
    return DIO_OK;
done:
fail:
    return st;
}

dio_status dit_forward(dit *d, dio_stream *s, const dio_tensor *const *in, const dio_tensor *out)
{
    fwd fw, *f = &fw;
    const dit_config *c = &d->cfg;
    dio_tensor X, P, R, txt, ctx, cs, sn;
    dio_patch_params pp = {sizeof(pp), {c->patch[0], c->patch[1], c->patch[2]}, DIO_PATCH_ORDER_C_T_H_W};
    dio_gelu_params gp = {sizeof(gp), 0};
    float *ct = NULL;
    int tdone = 0;
    dio_status st;
    if ((st = read_shapes(f, d, in)) != DIO_OK) return st;
    f->s = s;
    f->out = out;
    if ((st = arena_get(f)) != DIO_OK) return st;
    /* RoPE tables: once per shape. */
    cs = tv(f, RG_COS, 0, DIO_DTYPE_F32, 2, SHP(f->N, c->head_dim));
    sn = tv(f, RG_SIN, 0, DIO_DTYPE_F32, 2, SHP(f->N, c->head_dim));
    if (!d->arena.rope_ready) {
        uint64_t bytes = (uint64_t)f->N * (uint64_t)c->head_dim * 4;
        ct = malloc((size_t)bytes * 2);
        if (!ct) {
            st = d->host->set_error(DIO_ERR_OUT_OF_HOST_MEMORY, DIT_WHO ": out of memory (RoPE table)");
            goto fail;
        }
        dit_rope_tables(c, f->Tp, f->Hp, f->Wp, ct, ct + bytes / 4);
        RUN(d->be.iface->buffer_upload(d->be.ctx, NULL, f->buf, f->off[RG_COS], ct, bytes));
        RUN(d->be.iface->buffer_upload(d->be.ctx, NULL, f->buf, f->off[RG_SIN], ct + bytes / 4, bytes));
        free(ct);
        ct = NULL;
        d->arena.rope_ready = 1;
    }
    EMIT("rope_cos", &cs);
    EMIT("rope_sin", &sn);
    /* Input assembly, patchify, patch embed. */
    X = tv(f, RG_SCRATCH, 0, f->act, 5, SHP(f->B, f->Cp, f->T, f->H, f->W));
    P = tv(f, RG_SCRATCH, (uint64_t)(f->B * f->N * f->F) * dio_dtype_size(f->act), f->act, 5,
           SHP(f->B, f->Tp, f->Hp, f->Wp, f->F));
    RUN(assemble(f, in, &X));
    EMIT("input", &X);
    RUN(op1(f, DIO_OP_PATCHIFY, &X, &P, &pp));
    P.ndim = 3;
    P.shape[1] = f->N;
    P.shape[2] = f->F;
    P.stride[0] = f->N * f->F;
    P.stride[1] = f->F;
    P.stride[2] = 1;
    R = tv(f, RG_R, 0, f->act, 3, SHP(f->B, f->N, f->D));
    RUN(linear(f, &P, &d->w.top[DIT_W_PATCH], NULL, &R));
    EMIT("patch_embed", &R);
    /* Time path. */
    RUN(time_embed(f, in[DIT_IN_TIMESTEP], &tdone));
    if (tdone) goto done;
    /* Text context. */
    txt = *in[DIT_IN_TEXT];
    if (txt.dtype != f->act) {
        dio_tensor t2 = tv(f, RG_TXT, 0, f->act, 3, SHP(f->B, f->L, f->Ctext));
        RUN(op1(f, DIO_OP_COPY, &txt, &t2, NULL));
        txt = t2;
    }
    ctx = tv(f, RG_CTX, 0, f->act, 3, SHP(f->B, f->L, c->text_dim));
    if (c->text_in) {
        const dit_weight *bias = d->w.proj_bias_act.buf ? &d->w.proj_bias_act : &d->w.top[DIT_W_PROJ_B];
        RUN(linear(f, &txt, &d->w.top[DIT_W_PROJ_W], &bias->t, &ctx));
        RUN(op1(f, DIO_OP_GELU, &ctx, &ctx, &gp));
    } else {
        RUN(op1(f, DIO_OP_COPY, &txt, &ctx, NULL));
    }
    EMIT("crossattn_proj", &ctx);
    /* Blocks. */
    for (int32_t b = 0; b < c->num_blocks; b++) {
        RUN(block(f, b, &ctx));
        if (f->done) goto done;
    }
    RUN(final_layer(f));
    return DIO_OK;
done:
    return DIO_OK;
fail:
    free(ct);
    return st;
}

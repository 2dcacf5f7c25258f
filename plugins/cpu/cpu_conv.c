/* CPU backend — CONV3D and CONV2D (ops.h) on oneDNN's f32 forward convolution.
 *
 * The output is produced in chunks (a run of samples, or of frames, or of rows of one frame) sized so
 * that a chunk's input and output stay under ~32 MiB each: a Wan VAE decoder conv at 720p is
 * [1, 96, 6, 704, 1280], 2 GB of f32 input, and must not be copied or reordered whole. For each chunk we
 * gather the input window into a dense f32 buffer ourselves — that is where the causal frame cache is
 * concatenated in front of x and f16/bf16 activations are widened — while zero padding stays virtual:
 * the parts of a window that fall in the padding become the chunk's oneDNN padding_l/padding_r, which
 * are asymmetric, so per-side padding costs nothing. oneDNN then picks its preferred layouts (format
 * "any"); on AVX2 that is 8-channel blocks, which an f32 window is gathered into directly (one pass; other
 * layouts and f16/bf16 windows go through a plain buffer and a oneDNN reorder), and the result is
 * reordered straight into the strided view of y. Chunks of the same shape and padding share one
 * primitive (a handful per call: first, middle and last windows), and oneDNN's own primitive cache makes
 * re-creating them on the next call cheap (~30 µs for a tiny conv); weights are widened to f32 and
 * reordered once per call and layout. The scratchpad is user-managed so concurrent calls on different
 * streams never share one. Measured on the 2-core AVX2 machine: 140-170 GFLOP/s for 3×3×3 convs. */
#include <stdlib.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>

#include "cpu_blas.h"

#ifndef CONV_BUDGET                    /* (overridable to test the chunking on small shapes) */
#define CONV_BUDGET ((int64_t)8 << 20) /* floats in a chunk's input window or output (32 MiB) */
#endif
#define CONV_MAX_PRIMS 16
#define CONV_MAX_WEIGHTS 8

typedef struct conv_params {
    int64_t stride[3], pad_front[3], pad_back[3], dilation[3];
    int64_t groups;
} conv_params;

static void conv_read_params(const void *p, conv_params *out)
{
    const dio_conv_params *cp = p;
    for (int i = 0; i < 3; i++) {
        out->stride[i] = 1;
        out->pad_front[i] = 0;
        out->pad_back[i] = 0;
        out->dilation[i] = 1;
    }
    out->groups = 1;
    if (!cp) return;
    for (int i = 0; i < 3; i++) {
        const size_t e = (size_t)(i + 1) * sizeof(int32_t);
        if (cp->struct_size >= offsetof(dio_conv_params, stride) + e) out->stride[i] = cp->stride[i];
        if (cp->struct_size >= offsetof(dio_conv_params, pad_front) + e) out->pad_front[i] = cp->pad_front[i];
        if (cp->struct_size >= offsetof(dio_conv_params, pad_back) + e) out->pad_back[i] = cp->pad_back[i];
        if (cp->struct_size >= offsetof(dio_conv_params, dilation) + e) out->dilation[i] = cp->dilation[i];
    }
    if (cp->struct_size >= offsetof(dio_conv_params, groups) + sizeof(int32_t)) out->groups = cp->groups;
}

/* The resolved geometry of a call: ns spatial dims; for CONV3D dim 0 is time, whose real extent is
 * [cache, x] and whose front pad is already reduced by the cache length. */
typedef struct conv_geom {
    int ns;
    int64_t B, Cin, Cout, G, c;
    int64_t in[3]; /* real input extent per spatial dim (time: c + T) */
    int64_t k[3], s[3], d[3], pf[3], pb[3];
    int64_t out[3];
} conv_geom;

static dio_status conv_check(const cpu_backend *be, const dio_op_call *call, int ns, conv_geom *g)
{
    const char *op = ns == 3 ? "conv3d" : "conv2d";
    const dio_tensor *x, *w, *bias, *cache, *y;
    conv_params p;
    char s1[96], s2[96], s3[96];
    const int nd = ns + 2;
    dio_status st = cpu_check_call_arity(be, call, 2, 4, 2, 1);
    if (st != DIO_OK) return st;
    x = call->inputs[0];
    w = call->inputs[1];
    bias = call->n_inputs > 2 ? call->inputs[2] : NULL;
    cache = call->n_inputs > 3 ? call->inputs[3] : NULL;
    y = call->outputs[0];
    if (ns == 2 && cache)
        return cpu_error(be, DIO_ERR_INVALID_ARGUMENT, "conv2d: input 3 (cache) must be NULL or absent");
    conv_read_params(call->params, &p);

    if (!cpu_is_float_activation(x->dtype))
        return cpu_error(be, DIO_ERR_NOT_SUPPORTED,
                         "%s: input x has dtype %s; activations must be f32, f16 or bf16", op,
                         dio_dtype_name(x->dtype));
    if (y->dtype != x->dtype)
        return cpu_error(be, DIO_ERR_INVALID_ARGUMENT,
                         "%s: output y has dtype %s but x has %s; they must match", op,
                         dio_dtype_name(y->dtype), dio_dtype_name(x->dtype));
    if (cache && cache->dtype != x->dtype)
        return cpu_error(be, DIO_ERR_INVALID_ARGUMENT,
                         "%s: input cache has dtype %s but x has %s; they must match", op,
                         dio_dtype_name(cache->dtype), dio_dtype_name(x->dtype));
    if (!cpu_is_float_activation(w->dtype))
        return cpu_error(be, DIO_ERR_NOT_SUPPORTED,
                         "%s: input w has dtype %s; conv weights must be f32, f16 or bf16", op,
                         dio_dtype_name(w->dtype));
    if (bias && !cpu_is_float_activation(bias->dtype))
        return cpu_error(be, DIO_ERR_NOT_SUPPORTED,
                         "%s: input bias has dtype %s; it must be f32, f16 or bf16", op,
                         dio_dtype_name(bias->dtype));
    if (x->ndim != nd || w->ndim != nd || y->ndim != nd || (cache && cache->ndim != nd))
        return cpu_error(be, DIO_ERR_INVALID_ARGUMENT, "%s: x %s, w %s and y %s must be %d-D", op,
                         cpu_shape_str(x, s1, sizeof(s1)), cpu_shape_str(w, s2, sizeof(s2)),
                         cpu_shape_str(y, s3, sizeof(s3)), nd);
    for (int i = 0; i < ns; i++) {
        if (p.stride[i] < 1 || p.dilation[i] < 1 || p.pad_front[i] < 0 || p.pad_back[i] < 0)
            return cpu_error(be, DIO_ERR_INVALID_ARGUMENT,
                             "%s: spatial dim %d has stride %lld, dilation %lld, padding %lld/%lld (need >= "
                             "1, >= 1, >= 0)",
                             op, i, (long long)p.stride[i], (long long)p.dilation[i],
                             (long long)p.pad_front[i], (long long)p.pad_back[i]);
    }
    if (p.groups < 1)
        return cpu_error(be, DIO_ERR_INVALID_ARGUMENT, "%s: groups is %lld, must be >= 1", op,
                         (long long)p.groups);

    g->ns = ns;
    g->B = x->shape[0];
    g->Cin = x->shape[1];
    g->Cout = w->shape[0];
    g->G = p.groups;
    g->c = cache ? cache->shape[2] : 0;
    if (g->Cin % g->G || g->Cout % g->G || w->shape[1] != g->Cin / g->G)
        return cpu_error(be, DIO_ERR_INVALID_ARGUMENT,
                         "%s: w %s does not fit x %s with groups %lld (need Cin and Cout divisible by "
                         "groups, w [Cout, Cin/groups, ...])",
                         op, cpu_shape_str(w, s1, sizeof(s1)), cpu_shape_str(x, s2, sizeof(s2)),
                         (long long)g->G);
    if (bias && (bias->ndim != 1 || bias->shape[0] != g->Cout))
        return cpu_error(be, DIO_ERR_INVALID_ARGUMENT, "%s: input bias %s must be [%lld]", op,
                         cpu_shape_str(bias, s1, sizeof(s1)), (long long)g->Cout);
    if (cache && (cache->shape[0] != g->B || cache->shape[1] != g->Cin || cache->shape[3] != x->shape[3] ||
                  cache->shape[4] != x->shape[4]))
        return cpu_error(be, DIO_ERR_INVALID_ARGUMENT,
                         "%s: input cache %s must be [%lld, %lld, c, %lld, %lld]", op,
                         cpu_shape_str(cache, s1, sizeof(s1)), (long long)g->B, (long long)g->Cin,
                         (long long)x->shape[3], (long long)x->shape[4]);
    for (int i = 0; i < ns; i++) {
        int64_t len, ext;
        g->k[i] = w->shape[2 + i];
        g->s[i] = p.stride[i];
        g->d[i] = p.dilation[i];
        g->pf[i] = p.pad_front[i];
        g->pb[i] = p.pad_back[i];
        g->in[i] = x->shape[2 + i];
        if (i == 0 && ns == 3) {
            g->in[0] += g->c;
            g->pf[0] = p.pad_front[0] > g->c ? p.pad_front[0] - g->c : 0;
        }
        if (g->k[i] < 1)
            return cpu_error(be, DIO_ERR_INVALID_ARGUMENT, "%s: w %s has an empty kernel dim", op,
                             cpu_shape_str(w, s1, sizeof(s1)));
        len = g->pf[i] + g->in[i] + g->pb[i];
        ext = (g->k[i] - 1) * g->d[i] + 1;
        if (len < ext)
            return cpu_error(
                be, DIO_ERR_INVALID_ARGUMENT,
                "%s: spatial dim %d: padded input extent %lld is smaller than the dilated kernel %lld", op, i,
                (long long)len, (long long)ext);
        g->out[i] = (len - ext) / g->s[i] + 1;
    }
    {
        int ok = y->shape[0] == g->B && y->shape[1] == g->Cout;
        for (int i = 0; i < ns; i++) ok = ok && y->shape[2 + i] == g->out[i];
        if (!ok) {
            if (ns == 3)
                return cpu_error(be, DIO_ERR_INVALID_ARGUMENT,
                                 "conv3d: output y %s must be [%lld, %lld, %lld, %lld, %lld]",
                                 cpu_shape_str(y, s1, sizeof(s1)), (long long)g->B, (long long)g->Cout,
                                 (long long)g->out[0], (long long)g->out[1], (long long)g->out[2]);
            return cpu_error(be, DIO_ERR_INVALID_ARGUMENT,
                             "conv2d: output y %s must be [%lld, %lld, %lld, %lld]",
                             cpu_shape_str(y, s1, sizeof(s1)), (long long)g->B, (long long)g->Cout,
                             (long long)g->out[0], (long long)g->out[1]);
        }
    }
    {
        const dio_tensor *const ts[5] = {x, w, bias, cache, y};
        static const char *const names[5] = {"input x", "input w", "input bias", "input cache", "output y"};
        for (int i = 0; i < 5; i++)
            if (ts[i] && !dio_tensor_is_contiguous(ts[i]))
                return cpu_error(be, DIO_ERR_NOT_SUPPORTED, "%s: %s %s must be contiguous", op, names[i],
                                 cpu_shape_str(ts[i], s1, sizeof(s1)));
    }
    return DIO_OK;
}

dio_status cpu_check_conv3d(const cpu_backend *be, const dio_op_call *call)
{
    conv_geom g;
    return conv_check(be, call, 3, &g);
}

dio_status cpu_check_conv2d(const cpu_backend *be, const dio_op_call *call)
{
    conv_geom g;
    return conv_check(be, call, 2, &g);
}

/* ---- chunks ---- */

/* A chunk: samples [b0, b0 + mb), output ranges [o0, o0 + on) in each spatial dim but the last (which
 * is always whole). Its input window in real coordinates is [rs, rs + ext) with virtual padding pl/pr. */
typedef struct conv_chunk {
    int64_t b0, mb;
    int64_t o0[3], on[3];
    int64_t rs[3], ext[3], pl[3], pr[3];
} conv_chunk;

/* Fills the input window of a chunk; returns 0 when some dim has no real input (all padding). */
static int conv_window(const conv_geom *g, conv_chunk *ch)
{
    for (int i = 0; i < g->ns; i++) {
        const int64_t vs = ch->o0[i] * g->s[i] - g->pf[i];
        const int64_t ve = (ch->o0[i] + ch->on[i] - 1) * g->s[i] + (g->k[i] - 1) * g->d[i] + 1 - g->pf[i];
        const int64_t rs = vs > 0 ? vs : 0, re = ve < g->in[i] ? ve : g->in[i];
        if (i == g->ns - 1) { /* whole last dim: the call's own padding (pb may cover a dropped tail) */
            ch->rs[i] = 0;
            ch->ext[i] = g->in[i];
            ch->pl[i] = g->pf[i];
            ch->pr[i] = g->pb[i];
            if (g->in[i] <= 0) return 0;
            continue;
        }
        if (re <= rs) return 0;
        ch->rs[i] = rs;
        ch->ext[i] = re - rs;
        ch->pl[i] = rs - vs;
        ch->pr[i] = ve - re;
    }
    return 1;
}

static int64_t conv_chunk_floats(const conv_geom *g, int64_t mb, const int64_t *on)
{
    int64_t in = mb * g->Cin, out = mb * g->Cout;
    for (int i = 0; i < g->ns; i++) {
        int64_t e = (on[i] - 1) * g->s[i] + (g->k[i] - 1) * g->d[i] + 1;
        if (e > g->in[i]) e = g->in[i];
        if (e < 1) e = 1;
        in *= e;
        out *= on[i];
    }
    return in > out ? in : out;
}

/* Chunk sizes: whole samples when one fits the budget, else shrink the outer spatial dims first. */
static void conv_plan(const conv_geom *g, int64_t *mb, int64_t *on)
{
    for (int i = 0; i < g->ns; i++) on[i] = g->out[i];
    {
        const int64_t one = conv_chunk_floats(g, 1, on);
        if (one <= CONV_BUDGET) {
            *mb = CONV_BUDGET / (one > 0 ? one : 1);
            if (*mb > g->B) *mb = g->B;
            if (*mb < 1) *mb = 1;
            return;
        }
    }
    *mb = 1;
    for (int i = 0; i < g->ns - 1; i++) {
        int64_t lo = 1, hi = g->out[i];
        on[i] = 1;
        if (conv_chunk_floats(g, 1, on) > CONV_BUDGET) continue; /* even one: shrink the next dim too */
        while (lo < hi) {                                        /* largest n with the window under budget */
            const int64_t mid = lo + (hi - lo + 1) / 2;
            on[i] = mid;
            if (conv_chunk_floats(g, 1, on) <= CONV_BUDGET)
                lo = mid;
            else
                hi = mid - 1;
        }
        on[i] = lo;
        return;
    }
}

/* ---- oneDNN plumbing ---- */

typedef struct conv_prim {
    int64_t key[1 + 4 * 3];
    dnnl_primitive_t conv, src_reorder, dst_reorder;
    const dnnl_memory_desc_t *src_md, *wei_md, *dst_md; /* owned by conv_pd */
    dnnl_primitive_desc_t conv_pd;
    dnnl_memory_desc_t src_plain_md, out_md;
    int src_blocked8; /* src_md is nC[d]hw8c: f32 windows are gathered straight into it */
    int weights;      /* index into conv_state.wmd / wbuf */
    size_t src_bytes, dst_bytes, scratch_bytes;
} conv_prim;

typedef struct conv_state {
    cpu_backend *be;
    const char *op;
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    dnnl_primitive_attr_t attr;
    const conv_geom *g;
    int32_t xdt, ydt;
    int64_t ystride[5];
    const float *wf32; /* plain f32 weights */
    dnnl_memory_desc_t wplain_md, bias_md;
    int has_bias;
    conv_prim prims[CONV_MAX_PRIMS];
    int nprims, next_evict;
    dnnl_memory_desc_t wmd[CONV_MAX_WEIGHTS];
    void *wbuf[CONV_MAX_WEIGHTS];
    int nweights;
} conv_state;

#define CONV_DNNL(call_, what_)                                                                              \
    do {                                                                                                     \
        dnnl_status_t ds_ = (call_);                                                                         \
        if (ds_ != dnnl_success) {                                                                           \
            st = cpu_error(s->be, DIO_ERR_BACKEND_FAILURE, "%s: oneDNN %s failed: %s", s->op, (what_),       \
                           dnnl_status2str(ds_));                                                            \
            goto fail;                                                                                       \
        }                                                                                                    \
    } while (0)

static void conv_prim_destroy(conv_prim *p)
{
    if (p->conv) dnnl_primitive_destroy(p->conv);
    if (p->src_reorder) dnnl_primitive_destroy(p->src_reorder);
    if (p->dst_reorder) dnnl_primitive_destroy(p->dst_reorder);
    if (p->conv_pd) dnnl_primitive_desc_destroy(p->conv_pd);
    memset(p, 0, sizeof(*p));
}

static void conv_key(const conv_geom *g, const conv_chunk *ch, int64_t *key)
{
    key[0] = ch->mb;
    for (int i = 0; i < 3; i++) {
        key[1 + i] = i < g->ns ? ch->ext[i] : 0;
        key[4 + i] = i < g->ns ? ch->pl[i] : 0;
        key[7 + i] = i < g->ns ? ch->pr[i] : 0;
        key[10 + i] = i < g->ns ? ch->on[i] : 0;
    }
}

/* Runs a reorder of plain f32 weights into md once per call; returns its index. */
static dio_status conv_weights(conv_state *s, const dnnl_memory_desc_t *md, int *index)
{
    dio_status st = DIO_OK;
    dnnl_primitive_desc_t rpd = NULL;
    dnnl_primitive_t r = NULL;
    dnnl_memory_t msrc = NULL, mdst = NULL;
    void *buf = NULL;
    size_t bytes;
    for (int i = 0; i < s->nweights; i++)
        if (dnnl_memory_desc_equal(&s->wmd[i], md)) {
            *index = i;
            return DIO_OK;
        }
    if (s->nweights == CONV_MAX_WEIGHTS) {
        st = cpu_error(s->be, DIO_ERR_INTERNAL, "%s: more than %d weight layouts in one call", s->op,
                       CONV_MAX_WEIGHTS);
        goto fail;
    }
    bytes = dnnl_memory_desc_get_size(md);
    buf = s->be->host->alloc_aligned(bytes ? bytes : 64, 64);
    if (!buf) {
        st = cpu_error(s->be, DIO_ERR_OUT_OF_HOST_MEMORY, "%s: out of host memory for reordered weights",
                       s->op);
        goto fail;
    }
    if (dnnl_memory_desc_equal(&s->wplain_md, md)) {
        memcpy(buf, s->wf32, bytes);
    } else {
        CONV_DNNL(dnnl_reorder_primitive_desc_create(&rpd, &s->wplain_md, s->engine, md, s->engine, NULL),
                  "weights reorder creation");
        CONV_DNNL(dnnl_primitive_create(&r, rpd), "weights reorder creation");
        CONV_DNNL(dnnl_memory_create(&msrc, &s->wplain_md, s->engine, (void *)s->wf32), "memory creation");
        CONV_DNNL(dnnl_memory_create(&mdst, md, s->engine, buf), "memory creation");
        {
            dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, msrc}, {DNNL_ARG_TO, mdst}};
            CONV_DNNL(dnnl_primitive_execute(r, s->stream, 2, args), "weights reorder");
        }
    }
    s->wmd[s->nweights] = *md;
    s->wbuf[s->nweights] = buf;
    *index = s->nweights++;
    buf = NULL;
fail:
    if (msrc) dnnl_memory_destroy(msrc);
    if (mdst) dnnl_memory_destroy(mdst);
    if (r) dnnl_primitive_destroy(r);
    if (rpd) dnnl_primitive_desc_destroy(rpd);
    s->be->host->free_aligned(buf);
    return st;
}

static void conv_dims(const conv_geom *g, int64_t n, int64_t c, const int64_t *sp, dnnl_dims_t dims)
{
    dims[0] = n;
    dims[1] = c;
    for (int i = 0; i < g->ns; i++) dims[2 + i] = sp[i];
}

/* Finds or creates the primitives for a chunk shape. */
static dio_status conv_get_prim(conv_state *s, const conv_chunk *ch, conv_prim **out)
{
    const conv_geom *g = s->g;
    const int nd = g->ns + 2;
    dio_status st = DIO_OK;
    conv_prim *p;
    int64_t key[1 + 4 * 3];
    dnnl_dims_t sdims, ddims, wdims, strides, dil, pl, pr, outsp, ostrides;
    dnnl_memory_desc_t src_any, dst_any, wei_any;
    dnnl_convolution_desc_t cd;
    dnnl_primitive_desc_t rpd = NULL;
    const dnnl_memory_desc_t *scratch_md;
    conv_key(g, ch, key);
    for (int i = 0; i < s->nprims; i++)
        if (!memcmp(s->prims[i].key, key, sizeof(key))) {
            *out = &s->prims[i];
            return DIO_OK;
        }
    if (s->nprims < CONV_MAX_PRIMS) {
        p = &s->prims[s->nprims++];
    } else {
        p = &s->prims[s->next_evict];
        s->next_evict = (s->next_evict + 1) % CONV_MAX_PRIMS;
        conv_prim_destroy(p);
    }
    memcpy(p->key, key, sizeof(key));
    for (int i = 0; i < g->ns; i++) {
        outsp[i] = ch->on[i];
        strides[i] = g->s[i];
        dil[i] = g->d[i] - 1;
        pl[i] = ch->pl[i];
        pr[i] = ch->pr[i];
    }
    outsp[g->ns - 1] = g->out[g->ns - 1];
    conv_dims(g, ch->mb, g->Cin, ch->ext, sdims);
    conv_dims(g, ch->mb, g->Cout, outsp, ddims);
    if (g->G > 1) {
        wdims[0] = g->G;
        wdims[1] = g->Cout / g->G;
        wdims[2] = g->Cin / g->G;
        for (int i = 0; i < g->ns; i++) wdims[3 + i] = g->k[i];
    } else {
        wdims[0] = g->Cout;
        wdims[1] = g->Cin;
        for (int i = 0; i < g->ns; i++) wdims[2 + i] = g->k[i];
    }
    CONV_DNNL(dnnl_memory_desc_init_by_tag(&src_any, nd, sdims, dnnl_f32, dnnl_format_tag_any),
              "memory descriptor");
    CONV_DNNL(dnnl_memory_desc_init_by_tag(&dst_any, nd, ddims, dnnl_f32, dnnl_format_tag_any),
              "memory descriptor");
    CONV_DNNL(dnnl_memory_desc_init_by_tag(&wei_any, nd + (g->G > 1), wdims, dnnl_f32, dnnl_format_tag_any),
              "memory descriptor");
    CONV_DNNL(dnnl_memory_desc_init_by_tag(&p->src_plain_md, nd, sdims, dnnl_f32,
                                           g->ns == 3 ? dnnl_ncdhw : dnnl_nchw),
              "memory descriptor");
    CONV_DNNL(dnnl_dilated_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct,
                                                         &src_any, &wei_any, s->has_bias ? &s->bias_md : NULL,
                                                         &dst_any, strides, dil, pl, pr),
              "convolution descriptor");
    CONV_DNNL(dnnl_primitive_desc_create(&p->conv_pd, &cd, s->attr, s->engine, NULL), "convolution creation");
    CONV_DNNL(dnnl_primitive_create(&p->conv, p->conv_pd), "convolution creation");
    p->src_md = dnnl_primitive_desc_query_md(p->conv_pd, dnnl_query_src_md, 0);
    p->wei_md = dnnl_primitive_desc_query_md(p->conv_pd, dnnl_query_weights_md, 0);
    p->dst_md = dnnl_primitive_desc_query_md(p->conv_pd, dnnl_query_dst_md, 0);
    scratch_md = dnnl_primitive_desc_query_md(p->conv_pd, dnnl_query_scratchpad_md, 0);
    p->scratch_bytes = scratch_md ? dnnl_memory_desc_get_size(scratch_md) : 0;
    p->src_bytes = dnnl_memory_desc_get_size(p->src_md);
    p->dst_bytes = dnnl_memory_desc_get_size(p->dst_md);
    {
        dnnl_memory_desc_t blk;
        CONV_DNNL(
            dnnl_memory_desc_init_by_tag(&blk, nd, sdims, dnnl_f32, g->ns == 3 ? dnnl_nCdhw8c : dnnl_nChw8c),
            "memory descriptor");
        p->src_blocked8 = dnnl_memory_desc_equal(p->src_md, &blk);
    }
    if (!dnnl_memory_desc_equal(p->src_md, &p->src_plain_md) &&
        !(p->src_blocked8 && s->xdt == DIO_DTYPE_F32)) {
        CONV_DNNL(
            dnnl_reorder_primitive_desc_create(&rpd, &p->src_plain_md, s->engine, p->src_md, s->engine, NULL),
            "input reorder creation");
        CONV_DNNL(dnnl_primitive_create(&p->src_reorder, rpd), "input reorder creation");
        dnnl_primitive_desc_destroy(rpd);
        rpd = NULL;
    }
    /* The result goes straight into y's strided view when y is f32, else into a plain f32 block. */
    if (s->ydt == DIO_DTYPE_F32) {
        for (int i = 0; i < nd; i++) ostrides[i] = s->ystride[i];
        CONV_DNNL(dnnl_memory_desc_init_by_strides(&p->out_md, nd, ddims, dnnl_f32, ostrides),
                  "memory descriptor");
    } else {
        CONV_DNNL(dnnl_memory_desc_init_by_tag(&p->out_md, nd, ddims, dnnl_f32,
                                               g->ns == 3 ? dnnl_ncdhw : dnnl_nchw),
                  "memory descriptor");
    }
    CONV_DNNL(dnnl_reorder_primitive_desc_create(&rpd, p->dst_md, s->engine, &p->out_md, s->engine, NULL),
              "output reorder creation");
    CONV_DNNL(dnnl_primitive_create(&p->dst_reorder, rpd), "output reorder creation");
    if ((st = conv_weights(s, p->wei_md, &p->weights)) != DIO_OK) goto fail;
    *out = p;
fail:
    if (rpd) dnnl_primitive_desc_destroy(rpd);
    if (st != DIO_OK) conv_prim_destroy(p); /* a zeroed slot; the caller fails the call */
    return st;
}

/* Makes *buf hold at least `bytes` (contents not kept). */
static dio_status conv_reserve(conv_state *s, void **buf, size_t *cap, size_t bytes)
{
    if (bytes <= *cap) return DIO_OK;
    s->be->host->free_aligned(*buf);
    *cap = 0;
    *buf = s->be->host->alloc_aligned(bytes, 64);
    if (!*buf)
        return cpu_error(s->be, DIO_ERR_OUT_OF_HOST_MEMORY,
                         "%s: out of host memory for a %zu-byte chunk buffer", s->op, bytes);
    *cap = bytes;
    return DIO_OK;
}

/* Dense f32 input window [mb][Cin][ext...] gathered from [cache, x]. */
static void conv_gather(const cpu_backend *be, const conv_geom *g, const conv_chunk *ch, float *dst,
                        const char *x, const char *cache, int32_t dt, const int64_t *xin)
{
    const size_t es = dio_dtype_size(dt);
    const int64_t W = g->in[g->ns - 1];
    const int64_t e0 = g->ns == 3 ? ch->ext[0] : 1, e1 = ch->ext[g->ns - 2];
    const int64_t nrows = ch->mb * g->Cin * e0 * e1;
    const int64_t T = g->ns == 3 ? xin[0] : 1, H = xin[g->ns - 2];
#pragma omp parallel for num_threads(be->n_threads) schedule(static) if (nrows * W >= 32768)
    for (int64_t r = 0; r < nrows; r++) {
        const int64_t h = r % e1, t = (r / e1) % e0, bc = r / (e1 * e0);
        const int64_t ci = bc % g->Cin, b = ch->b0 + bc / g->Cin;
        const int64_t hr = ch->rs[g->ns - 2] + h;
        const char *src;
        if (g->ns == 3) {
            const int64_t tr = ch->rs[0] + t;
            if (tr < g->c)
                src = cache + (((b * g->Cin + ci) * g->c + tr) * H + hr) * W * (int64_t)es;
            else
                src = x + (((b * g->Cin + ci) * T + (tr - g->c)) * H + hr) * W * (int64_t)es;
        } else {
            src = x + ((b * g->Cin + ci) * H + hr) * W * (int64_t)es;
        }
        cpu_blas_to_f32(dst + r * W, src, dt, W);
    }
}

/* The same window written directly in the 8-channel-blocked layout oneDNN's AVX2 kernels pick
 * ([mb][Cin/8][ext...][8], the last block zero-padded), from f32 x/cache: one pass instead of a gather
 * plus a reorder, which is ~10% of a 96-channel 3×3×3 conv at 720p. */
static void conv_gather_blocked8(const cpu_backend *be, const conv_geom *g, const conv_chunk *ch, float *dst,
                                 const float *x, const float *cache, const int64_t *xin)
{
    const int64_t W = g->in[g->ns - 1], CB = (g->Cin + 7) / 8;
    const int64_t e0 = g->ns == 3 ? ch->ext[0] : 1, e1 = ch->ext[g->ns - 2];
    const int64_t nrows = ch->mb * CB * e0 * e1;
    const int64_t T = g->ns == 3 ? xin[0] : 1, H = xin[g->ns - 2];
#pragma omp parallel for num_threads(be->n_threads) schedule(static) if (nrows * W * 8 >= 32768)
    for (int64_t r = 0; r < nrows; r++) {
        const int64_t h = r % e1, t = (r / e1) % e0, bcb = r / (e1 * e0);
        const int64_t cb = bcb % CB, b = ch->b0 + bcb / CB;
        const int64_t hr = ch->rs[g->ns - 2] + h;
        float *d = dst + r * W * 8;
        for (int64_t k = 0; k < 8; k++) {
            const int64_t ci = cb * 8 + k;
            const float *src;
            if (ci >= g->Cin) {
                for (int64_t w = 0; w < W; w++) d[w * 8 + k] = 0.0f;
                continue;
            }
            if (g->ns == 3) {
                const int64_t tr = ch->rs[0] + t;
                if (tr < g->c)
                    src = cache + (((b * g->Cin + ci) * g->c + tr) * H + hr) * W;
                else
                    src = x + (((b * g->Cin + ci) * T + (tr - g->c)) * H + hr) * W;
            } else {
                src = x + ((b * g->Cin + ci) * H + hr) * W;
            }
            for (int64_t w = 0; w < W; w++) d[w * 8 + k] = src[w];
        }
    }
}

/* Output region of a chunk that sees only padding: the bias (or zero). */
static void conv_fill_bias(const conv_geom *g, const conv_chunk *ch, char *y, int32_t dt, const int64_t *ys,
                           const float *bias)
{
    const int64_t Wo = g->out[g->ns - 1];
    const int64_t n0 = g->ns == 3 ? ch->on[0] : 1, n1 = ch->on[g->ns - 2];
    for (int64_t b = 0; b < ch->mb; b++)
        for (int64_t co = 0; co < g->Cout; co++)
            for (int64_t t = 0; t < n0; t++)
                for (int64_t h = 0; h < n1; h++) {
                    int64_t off = (ch->b0 + b) * ys[0] + co * ys[1];
                    if (g->ns == 3)
                        off += (ch->o0[0] + t) * ys[2] + (ch->o0[1] + h) * ys[3];
                    else
                        off += (ch->o0[0] + h) * ys[2];
                    for (int64_t wo = 0; wo < Wo; wo++)
                        cpu_store_f32(y, dt, off + wo, bias ? bias[co] : 0.0f);
                }
}

static dio_status conv_run(cpu_backend *be, const dio_op_call *call, int ns)
{
    const char *op = ns == 3 ? "conv3d" : "conv2d";
    const dio_tensor *x, *w, *biast, *cache, *y;
    conv_geom geom;
    conv_state state, *s = &state;
    conv_chunk ch;
    int64_t mb, on[3], xin[3];
    float *wconv = NULL, *bias = NULL;
    void *win = NULL, *wblk = NULL, *oblk = NULL, *oplain = NULL, *scratch = NULL;
    size_t win_cap = 0, wblk_cap = 0, oblk_cap = 0, oplain_cap = 0, scratch_cap = 0;
    dnnl_memory_t mem[7] = {NULL, NULL, NULL, NULL, NULL, NULL, NULL};
    int saved_threads = 0, threads_set = 0;
    dio_status st;
    memset(s, 0, sizeof(*s));
    if ((st = conv_check(be, call, ns, &geom)) != DIO_OK) return st;
    x = call->inputs[0];
    w = call->inputs[1];
    biast = call->n_inputs > 2 ? call->inputs[2] : NULL;
    cache = call->n_inputs > 3 ? call->inputs[3] : NULL;
    y = call->outputs[0];
    if (dio_tensor_numel(y) == 0) return DIO_OK;
    for (int i = 0; i < ns; i++) xin[i] = x->shape[2 + i];
    s->be = be;
    s->op = op;
    s->g = &geom;
    s->xdt = x->dtype;
    s->ydt = y->dtype;
    for (int i = 0; i < ns + 2; i++) s->ystride[i] = y->stride[i];

    if (biast) {
        if (!(bias = malloc((size_t)geom.Cout * sizeof(float)))) {
            st = cpu_error(be, DIO_ERR_OUT_OF_HOST_MEMORY, "%s: out of host memory for the bias", op);
            goto fail;
        }
        cpu_blas_to_f32(bias, cpu_tensor_data(biast), biast->dtype, geom.Cout);
    }
    {
        const int64_t nw = dio_tensor_numel(w);
        if (w->dtype == DIO_DTYPE_F32) {
            s->wf32 = cpu_tensor_data(w);
        } else {
            if (!(wconv = malloc((size_t)(nw > 0 ? nw : 1) * sizeof(float)))) {
                st = cpu_error(be, DIO_ERR_OUT_OF_HOST_MEMORY, "%s: out of host memory for f32 weights", op);
                goto fail;
            }
            cpu_blas_to_f32(wconv, cpu_tensor_data(w), w->dtype, nw);
            s->wf32 = wconv;
        }
    }

    saved_threads = cpu_blas_threads_begin(be);
    threads_set = 1;
    if ((st = cpu_dnnl_get(be, (void **)&s->engine, (void **)&s->stream)) != DIO_OK) goto fail;
    CONV_DNNL(dnnl_primitive_attr_create(&s->attr), "attribute creation");
    CONV_DNNL(dnnl_primitive_attr_set_scratchpad_mode(s->attr, dnnl_scratchpad_mode_user),
              "attribute creation");
    {
        dnnl_dims_t wdims, bdims = {geom.Cout};
        const int nd = ns + 2;
        if (geom.G > 1) {
            wdims[0] = geom.G;
            wdims[1] = geom.Cout / geom.G;
            wdims[2] = geom.Cin / geom.G;
            for (int i = 0; i < ns; i++) wdims[3 + i] = geom.k[i];
            CONV_DNNL(dnnl_memory_desc_init_by_tag(&s->wplain_md, nd + 1, wdims, dnnl_f32,
                                                   ns == 3 ? dnnl_goidhw : dnnl_goihw),
                      "memory descriptor");
        } else {
            wdims[0] = geom.Cout;
            wdims[1] = geom.Cin;
            for (int i = 0; i < ns; i++) wdims[2 + i] = geom.k[i];
            CONV_DNNL(dnnl_memory_desc_init_by_tag(&s->wplain_md, nd, wdims, dnnl_f32,
                                                   ns == 3 ? dnnl_oidhw : dnnl_oihw),
                      "memory descriptor");
        }
        if (bias) {
            CONV_DNNL(dnnl_memory_desc_init_by_tag(&s->bias_md, 1, bdims, dnnl_f32, dnnl_x),
                      "memory descriptor");
            s->has_bias = 1;
        }
    }

    conv_plan(&geom, &mb, on);
    memset(&ch, 0, sizeof(ch));
    for (ch.b0 = 0; ch.b0 < geom.B; ch.b0 += mb) {
        ch.mb = geom.B - ch.b0 < mb ? geom.B - ch.b0 : mb;
        /* Walk the chunked spatial dims (all but the last) as an odometer. */
        for (int i = 0; i < ns; i++) ch.o0[i] = 0;
        for (;;) {
            conv_prim *p = NULL;
            int direct;
            for (int i = 0; i < ns; i++) {
                ch.on[i] = i == ns - 1 ? geom.out[i]
                                       : (geom.out[i] - ch.o0[i] < on[i] ? geom.out[i] - ch.o0[i] : on[i]);
            }
            if (!conv_window(&geom, &ch) || geom.Cin == 0) {
                conv_fill_bias(&geom, &ch, cpu_tensor_data(y), y->dtype, y->stride, bias);
            } else {
                const size_t win_bytes =
                    (size_t)(ch.mb * geom.Cin) * sizeof(float) *
                    (size_t)(ns == 3 ? ch.ext[0] * ch.ext[1] * ch.ext[2] : ch.ext[0] * ch.ext[1]);
                int64_t yoff = ch.b0 * y->stride[0];
                for (int i = 0; i < ns - 1; i++) yoff += ch.o0[i] * y->stride[2 + i];
                if ((st = conv_get_prim(s, &ch, &p)) != DIO_OK) goto fail;
                direct = p->src_blocked8 && x->dtype == DIO_DTYPE_F32;
                if ((!direct && (st = conv_reserve(s, &win, &win_cap, win_bytes)) != DIO_OK) ||
                    ((direct || p->src_reorder) &&
                     (st = conv_reserve(s, &wblk, &wblk_cap, p->src_bytes)) != DIO_OK) ||
                    (st = conv_reserve(s, &oblk, &oblk_cap, p->dst_bytes)) != DIO_OK ||
                    (s->ydt != DIO_DTYPE_F32 &&
                     (st = conv_reserve(s, &oplain, &oplain_cap, dnnl_memory_desc_get_size(&p->out_md))) !=
                         DIO_OK) ||
                    (p->scratch_bytes &&
                     (st = conv_reserve(s, &scratch, &scratch_cap, p->scratch_bytes)) != DIO_OK))
                    goto fail;
                if (direct) {
                    conv_gather_blocked8(be, &geom, &ch, wblk, cpu_tensor_data(x),
                                         cache ? cpu_tensor_data(cache) : NULL, xin);
                    CONV_DNNL(dnnl_memory_create(&mem[1], p->src_md, s->engine, wblk), "memory creation");
                } else {
                    conv_gather(be, &geom, &ch, win, cpu_tensor_data(x),
                                cache ? cpu_tensor_data(cache) : NULL, x->dtype, xin);
                    CONV_DNNL(dnnl_memory_create(&mem[0], &p->src_plain_md, s->engine, win),
                              "memory creation");
                    if (p->src_reorder) {
                        dnnl_exec_arg_t a[2];
                        CONV_DNNL(dnnl_memory_create(&mem[1], p->src_md, s->engine, wblk), "memory creation");
                        a[0].arg = DNNL_ARG_FROM;
                        a[0].memory = mem[0];
                        a[1].arg = DNNL_ARG_TO;
                        a[1].memory = mem[1];
                        CONV_DNNL(dnnl_primitive_execute(p->src_reorder, s->stream, 2, a), "input reorder");
                    }
                }
                CONV_DNNL(dnnl_memory_create(&mem[2], &s->wmd[p->weights], s->engine, s->wbuf[p->weights]),
                          "memory creation");
                CONV_DNNL(dnnl_memory_create(&mem[3], p->dst_md, s->engine, oblk), "memory creation");
                if (bias)
                    CONV_DNNL(dnnl_memory_create(&mem[4], &s->bias_md, s->engine, bias), "memory creation");
                if (p->scratch_bytes)
                    CONV_DNNL(dnnl_memory_create(
                                  &mem[5],
                                  dnnl_primitive_desc_query_md(p->conv_pd, dnnl_query_scratchpad_md, 0),
                                  s->engine, scratch),
                              "memory creation");
                {
                    dnnl_exec_arg_t a[5];
                    int n = 0;
                    a[n].arg = DNNL_ARG_SRC;
                    a[n++].memory = mem[1] ? mem[1] : mem[0];
                    a[n].arg = DNNL_ARG_WEIGHTS;
                    a[n++].memory = mem[2];
                    a[n].arg = DNNL_ARG_DST;
                    a[n++].memory = mem[3];
                    if (bias) {
                        a[n].arg = DNNL_ARG_BIAS;
                        a[n++].memory = mem[4];
                    }
                    if (p->scratch_bytes) {
                        a[n].arg = DNNL_ARG_SCRATCHPAD;
                        a[n++].memory = mem[5];
                    }
                    CONV_DNNL(dnnl_primitive_execute(p->conv, s->stream, n, a), "convolution");
                }
                CONV_DNNL(dnnl_memory_create(&mem[6], &p->out_md, s->engine,
                                             s->ydt == DIO_DTYPE_F32
                                                 ? (void *)((float *)cpu_tensor_data(y) + yoff)
                                                 : (void *)oplain),
                          "memory creation");
                {
                    dnnl_exec_arg_t a[2];
                    a[0].arg = DNNL_ARG_FROM;
                    a[0].memory = mem[3];
                    a[1].arg = DNNL_ARG_TO;
                    a[1].memory = mem[6];
                    CONV_DNNL(dnnl_primitive_execute(p->dst_reorder, s->stream, 2, a), "output reorder");
                }
                if (s->ydt != DIO_DTYPE_F32) { /* plain [mb][Cout][on...][Wo] block into y */
                    const int64_t Wo = geom.out[ns - 1];
                    const int64_t n0 = ns == 3 ? ch.on[0] : 1, n1 = ch.on[ns - 2];
                    const int64_t nrows = ch.mb * geom.Cout * n0 * n1;
                    char *yb = cpu_tensor_data(y);
                    const size_t es = dio_dtype_size(y->dtype);
#pragma omp parallel for num_threads(be->n_threads) schedule(static) if (nrows * Wo >= 32768)
                    for (int64_t r = 0; r < nrows; r++) {
                        const int64_t h = r % n1, t = (r / n1) % n0, bc = r / (n1 * n0);
                        const int64_t co = bc % geom.Cout, b = bc / geom.Cout;
                        int64_t off = (ch.b0 + b) * y->stride[0] + co * y->stride[1];
                        if (ns == 3)
                            off += (ch.o0[0] + t) * y->stride[2] + (ch.o0[1] + h) * y->stride[3];
                        else
                            off += (ch.o0[0] + h) * y->stride[2];
                        cpu_convert_from_f32(yb + off * (int64_t)es, y->dtype, (const float *)oplain + r * Wo,
                                             Wo);
                    }
                }
                for (int i = 0; i < 7; i++) {
                    if (mem[i]) dnnl_memory_destroy(mem[i]);
                    mem[i] = NULL;
                }
            }
            /* next chunk position */
            {
                int i = ns - 2;
                for (; i >= 0; i--) {
                    ch.o0[i] += on[i];
                    if (ch.o0[i] < geom.out[i]) break;
                    ch.o0[i] = 0;
                }
                if (i < 0) break;
            }
        }
    }
    st = DIO_OK;
fail:
    for (int i = 0; i < 7; i++)
        if (mem[i]) dnnl_memory_destroy(mem[i]);
    for (int i = 0; i < s->nprims; i++) conv_prim_destroy(&s->prims[i]);
    for (int i = 0; i < s->nweights; i++) be->host->free_aligned(s->wbuf[i]);
    if (s->attr) dnnl_primitive_attr_destroy(s->attr);
    if (threads_set) cpu_blas_threads_end(saved_threads);
    be->host->free_aligned(win);
    be->host->free_aligned(wblk);
    be->host->free_aligned(oblk);
    be->host->free_aligned(oplain);
    be->host->free_aligned(scratch);
    free(wconv);
    free(bias);
    return st;
}

dio_status cpu_op_conv3d(void *ctx, dio_stream *stream, const dio_op_call *call)
{
    (void)stream;
    if (!ctx || !call) return DIO_ERR_INVALID_ARGUMENT;
    return conv_run(ctx, call, 3);
}

dio_status cpu_op_conv2d(void *ctx, dio_stream *stream, const dio_op_call *call)
{
    (void)stream;
    if (!ctx || !call) return DIO_ERR_INVALID_ARGUMENT;
    return conv_run(ctx, call, 2);
}

/* diorama ABI — what every op computes, its tensors and its parameter struct.
 *
 * This file is the contract between model components (which call ops) and backends (which implement
 * them); tests/conformance holds an independent float64 reference of every op written from this text.
 * Conventions for all ops:
 *  - Inputs are listed in order; "opt" inputs may be NULL. Shapes are row-major, last dim fastest.
 *  - Activations are f32, f16 or bf16; unless said otherwise all activations of one call share a dtype
 *    and arithmetic is done in at least f32. Weights (matmul B, conv W) may be f32/f16/bf16 and, for
 *    matmul, f8e4m3/f8e5m2, whatever the activation dtype; accumulation is f32.
 *  - Element-wise ops accept any strides on inputs and outputs and allow the output to be exactly the
 *    same view as an input (in place); any other overlap between an output and an input is undefined.
 *    Other ops require their outputs not to overlap their inputs; their stride rules are stated.
 *  - "Groups" broadcasting (ADALN_MODULATE, GATED_RESIDUAL): x is [B, L, C] and a modulation tensor is
 *    [B, G, C] with L % G == 0; token l uses row l / (L / G). G = 1 is per-sample modulation, G = T
 *    (latent frames, tokens ordered t,h,w) is per-frame modulation.
 *  - Secondary float inputs — biases, norm weights and gamma, AdaLN shift/scale/gate, the conv frame
 *    cache — have the activation dtype unless the op says otherwise.
 *  - Ops not marked contiguous accept rows with any stride as long as the last dim is contiguous.
 *  - A backend refuses (NOT_SUPPORTED) a call it cannot run exactly; it never silently approximates.
 *    A malformed call (wrong arity, shapes that disagree, a view outside its buffer) is
 *    INVALID_ARGUMENT, from supports_op and from the op alike.
 *  - Not specified (callers must not rely on it): f8 encoding of ±inf (saturate or NaN), and how a
 *    float → integer COPY rounds.
 *
 * Every parameter struct starts with struct_size; an implementation reads only the fields that fit
 * and uses the documented default for the rest; params == NULL means every default. A field inside
 * struct_size is taken as given (0 is 0), except where "default ... when 0" is written. */
#ifndef DIORAMA_OPS_H
#define DIORAMA_OPS_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#include "backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* MATMUL: C = alpha * op(A) · op(B) + bias + beta * C
 *   in:  A [..., M, K] (trans_a: [..., K, M]); B [K, N] (trans_b: [N, K], the nn.Linear weight layout),
 *        or batched [..., K, N] / [..., N, K] with the same leading dims as A; bias opt [N]
 *   out: C [..., M, N], same dtype as A
 *   Strides: the last dim of A and C is contiguous, rows may have any stride; B contiguous.
 *   beta == 0 means C's old contents are ignored (NaN in C does not propagate). */
typedef struct dio_matmul_params {
    uint32_t struct_size;
    int32_t trans_a; /* default 0 */
    int32_t trans_b; /* default 0 */
    float alpha;     /* default 1 (also the dequantisation scale of fp8 weights) */
    float beta;      /* default 0 */
} dio_matmul_params;

/* ATTENTION: O = softmax(scale · Q Kᵀ + mask) V, per batch and head, never materialising [Lq, Lk] whole.
 *   in:  Q [B, Hq, Lq, D]; K [B, Hkv, Lk, D]; V [B, Hkv, Lk, Dv]; mask opt, f32, additive, shape
 *        [Lq, Lk] or [B, 1 or Hq, Lq, Lk] (-inf masks a key)
 *   out: O [B, Hq, Lq, Dv]
 *   Hq % Hkv == 0: query head h uses kv head h / (Hq / Hkv) (grouped-query attention).
 *   causal: query i sees keys j <= i + (Lk - Lq) (aligned at the end, as with a KV cache).
 *   A query row that sees no key gives zeros. Strides: the last dim contiguous, others any (so the
 *   [B, L, H, D] layout of a projection output is passed as a view with permuted strides). */
typedef struct dio_attention_params {
    uint32_t struct_size;
    float scale;    /* default 1/sqrt(D) when 0 */
    int32_t causal; /* default 0 */
} dio_attention_params;

/* LAYERNORM: y = (x - mean) / sqrt(var + eps) * weight + bias over the last dim (biased variance).
 *   in: x [..., C]; weight opt [C]; bias opt [C]   out: y like x.  Contiguous last dim.
 * RMSNORM: y = x / sqrt(mean(x²) + eps) * weight over the last dim (a per-head QK norm is x [B,L,H,D],
 *   weight [D]).  in: x [..., C]; weight opt [C]   out: y like x.
 * Weights may be f32/f16/bf16 independently of x. */
typedef struct dio_norm_params {
    uint32_t struct_size;
    float eps; /* default 1e-6 */
} dio_norm_params;

/* ADALN_MODULATE: y = norm(x) · (1 + scale) + shift, norm a LayerNorm without affine (or RMSNorm
 *   without weight when rms != 0), eps as given.
 *   in: x [B, L, C]; shift [B, G, C]; scale [B, G, C]   out: y [B, L, C]   (groups rule above) */
typedef struct dio_adaln_params {
    uint32_t struct_size;
    float eps;   /* default 1e-6 */
    int32_t rms; /* default 0: layernorm */
} dio_adaln_params;

/* GATED_RESIDUAL: y = x + gate · r.   in: x [B, L, C]; r [B, L, C]; gate [B, G, C]   out: y [B, L, C].
 *   No params. y may be the same view as x. */

/* ROPE: rotary embedding with precomputed tables.
 *   in: x [B, L, H, D]; cos [L, R]; sin [L, R] (f32, R even, R <= D)   out: y like x (may alias x)
 *   Dims R..D-1 pass through. With rotate-half (Cosmos 3D RoPE, Qwen2 1D RoPE), for i < R/2:
 *     y[i] = x[i] cos[i] - x[i + R/2] sin[i];  y[i + R/2] = x[i + R/2] cos[i + R/2] + x[i] sin[i + R/2]
 *   With interleaved pairs: y[2j] = x[2j] cos[2j] - x[2j+1] sin[2j]; y[2j+1] = x[2j+1] cos[2j+1] +
 *   x[2j] sin[2j+1]. A 3D RoPE is a matter of how the caller fills the tables. */
#define DIO_ROPE_ROTATE_HALF 0
#define DIO_ROPE_INTERLEAVED 1
typedef struct dio_rope_params {
    uint32_t struct_size;
    int32_t mode; /* DIO_ROPE_*, default rotate-half */
} dio_rope_params;

/* GELU: y = x Φ(x) (erf) or the tanh approximation.   in: x   out: y (element-wise)
 * SILU: y = x σ(x).   in: x   out: y (element-wise; no params)
 * SWIGLU: y = silu(gate) · up.   in: gate, up (same shape)   out: y (element-wise; no params) */
typedef struct dio_gelu_params {
    uint32_t struct_size;
    int32_t approximate_tanh; /* default 0: exact erf */
} dio_gelu_params;

/* CONV3D: cross-correlation, as torch.nn.functional.conv3d after explicit zero padding.
 *   in:  x [B, Cin, T, H, W]; w [Cout, Cin/groups, kt, kh, kw]; bias opt [Cout];
 *        cache opt [B, Cin, c, H, W] — frames that precede x in time (the causal frame cache)
 *   out: y [B, Cout, T', H', W'] with, per dim d of input extent n_d (n_0 = c + T with a cache of c
 *        frames), kernel k_d: out_d = (pf_d + n_d + pad_back[d] - dilation[d]·(k_d - 1) - 1) / stride[d] + 1
 *   Padding is per side: pad_front[d] before and pad_back[d] after spatial dim d (0 = T, 1 = H, 2 = W).
 *   With a cache of c frames the time axis is [cache, x] and the front time pad shrinks to
 *   pf_0 = max(0, pad_front[0] - c) (pf_d = pad_front[d] otherwise); a causal conv of kernel kt uses
 *   pad_front[0] = kt - 1, pad_back[0] = 0.
 *   Contiguous tensors.
 * CONV2D: the same on x [B, Cin, H, W], w [Cout, Cin/groups, kh, kw], using entries 0 (H) and 1 (W)
 *   of the arrays; no cache input (slot 3 must be NULL or absent). */
typedef struct dio_conv_params {
    uint32_t struct_size;
    int32_t stride[3];    /* default 1 */
    int32_t pad_front[3]; /* default 0 */
    int32_t pad_back[3];  /* default 0 */
    int32_t dilation[3];  /* default 1 */
    int32_t groups;       /* default 1 */
} dio_conv_params;

/* CHANNEL_RMSNORM (the Wan VAE's RMS_norm): over the channel dim 1 of x [B, C, ...],
 *   y = x / max(‖x‖₂, eps) · sqrt(C) · gamma + bias   (F.normalize semantics)
 *   in: x [B, C, ...]; gamma [C]; bias opt [C]   out: y like x.  Contiguous. */
typedef struct dio_channel_norm_params {
    uint32_t struct_size;
    float eps; /* default 1e-12 */
} dio_channel_norm_params;

/* UPSAMPLE_NEAREST: y[i0, i1, …] = x[i0 / f0, i1 / f1, …] with integer factors f = y.shape / x.shape per
 *   dim (each must divide exactly).   in: x   out: y, same rank.  No params.  Contiguous. */

/* SOFTMAX over the last dim of scale · x.   in: x [..., N]   out: y like x (may alias x). */
typedef struct dio_softmax_params {
    uint32_t struct_size;
    float scale; /* default 1 */
} dio_softmax_params;

/* ADD: y = a + b;  MUL: y = a · b. NumPy broadcasting of a and b to y's shape (dims aligned at the end,
 *   size-1 dims broadcast). No params.
 * AXPBY: y = alpha · x + beta · z (z opt: y = alpha · x). Same shapes. The sampler's linear combination.
 * CLAMP: y = min(max(x, lo), hi). NaN stays NaN. */
typedef struct dio_axpby_params {
    uint32_t struct_size;
    float alpha; /* default 1 */
    float beta;  /* default 0 */
} dio_axpby_params;

typedef struct dio_clamp_params {
    uint32_t struct_size;
    float lo; /* default -inf */
    float hi; /* default +inf */
} dio_clamp_params;

/* GATHER (embedding lookup): y[n, :] = table[ids[n], :].
 *   in: table [V, C] (any float dtype); ids [N] i32 or i64   out: y [N, C] in y's float dtype.
 *   An id outside [0, V) is INVALID_ARGUMENT naming the position; y is then unspecified. No params. */

/* COPY: y = x with dtype conversion (round to nearest even; to f8 saturating at the format's max),
 *   any strides on both sides, same shape. No params. This is also the cast op. */

/* CONCAT along `axis` of n >= 1 inputs whose other dims match.   out: y. */
typedef struct dio_concat_params {
    uint32_t struct_size;
    int32_t axis; /* negative counts from the end; default 0 */
} dio_concat_params;

/* SLICE: y[i] = x[start + i · step] per dim; y's shape sets the extent (every index must fall in x). */
typedef struct dio_slice_params {
    uint32_t struct_size;
    int64_t start[DIO_MAX_DIMS]; /* default 0 */
    int64_t step[DIO_MAX_DIMS];  /* default 1; must be >= 1 */
} dio_slice_params;

/* PERMUTE: y.shape[i] = x.shape[perm[i]], y[…i…] = x[…] (a materialised transpose). */
typedef struct dio_permute_params {
    uint32_t struct_size;
    int32_t perm[DIO_MAX_DIMS];
} dio_permute_params;

/* PATCHIFY: x [B, C, T, H, W] → y [B, T/pt, H/ph, W/pw, C·pt·ph·pw] (one row per token, tokens ordered
 *   t, h, w). The order of the features inside a token:
 *     DIO_PATCH_ORDER_C_T_H_W: index = ((c · pt + r) · ph + m) · pw + n   (Cosmos PatchEmbed)
 *     DIO_PATCH_ORDER_H_W_T_C: index = ((m · pw + n) · pt + r) · C + c    (Cosmos unpatchify)
 *   where r, m, n are the offsets inside the patch in t, h, w.
 * UNPATCHIFY: the exact inverse, y [B, C, T, H, W] from x [B, T', H', W', F]. Contiguous. */
#define DIO_PATCH_ORDER_C_T_H_W 0
#define DIO_PATCH_ORDER_H_W_T_C 1
typedef struct dio_patch_params {
    uint32_t struct_size;
    int32_t patch[3]; /* pt, ph, pw */
    int32_t order;    /* DIO_PATCH_ORDER_* */
} dio_patch_params;

static_assert(offsetof(dio_matmul_params, alpha) == 12, "ABI 1.0");
static_assert(offsetof(dio_attention_params, causal) == 8, "ABI 1.0");
static_assert(offsetof(dio_conv_params, groups) == 52, "ABI 1.0");
static_assert(offsetof(dio_slice_params, step) == 56, "ABI 1.0");
static_assert(offsetof(dio_patch_params, order) == 16, "ABI 1.0");

/* Builds and runs a call: the one-liner models use, e.g.
 *   const dio_tensor *in[] = {&x, &w, NULL}; const dio_tensor *out[] = {&y};
 *   st = dio_run(be, s, DIO_OP_MATMUL, in, 3, out, 1, &mm); */
static inline dio_status dio_run(const dio_backend_ref *be, dio_stream *stream, int32_t op,
                                 const dio_tensor *const *inputs, int32_t n_inputs,
                                 const dio_tensor *const *outputs, int32_t n_outputs, const void *params)
{
    dio_op_call call;
    call.struct_size = (uint32_t)sizeof(call);
    call.op = op;
    call.n_inputs = n_inputs;
    call.n_outputs = n_outputs;
    call.inputs = inputs;
    call.outputs = outputs;
    call.params = params;
    return dio_backend_run_op(be, stream, &call);
}

#ifdef __cplusplus
}
#endif
#endif

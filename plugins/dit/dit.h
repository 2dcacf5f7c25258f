/* cosmos-dit — internal declarations shared by the DiT plugin's files (never installed).
 *
 * The plugin is split by job: dit_weights.c finds, checks and places the weights under either key
 * layout; dit_rope.c fills the host-side tables (3D RoPE cos/sin, timestep sinusoid); dit_forward.c
 * runs the network through the backend op table only; dit_plugin.c holds the descriptor, ports and
 * parameters. Everything here is plain C11 over abi/ headers. */
#ifndef DIORAMA_PLUGIN_DIT_H
#define DIORAMA_PLUGIN_DIT_H

#include <stdint.h>

#include "diorama/component.h"
#include "diorama/ops.h"

#define DIT_WHO "cosmos-dit"

enum { DIT_MODE_NATIVE = 0, DIT_MODE_DIFFUSERS = 1 };
enum { DIT_LAYOUT_AUTO = 0, DIT_LAYOUT_NATIVE = 1, DIT_LAYOUT_DIFFUSERS = 2 };

/* The network's shape. Widths are read from the weights; parameters (or a preset) may pin them, and a
 * disagreement is an error naming the tensor. */
typedef struct dit_config {
    int32_t num_blocks;
    int32_t model_channels; /* D */
    int32_t num_heads;
    int32_t head_dim;
    int32_t mlp_hidden;
    int32_t adaln_lora_dim;
    int32_t in_channels;  /* latent channels (16) */
    int32_t out_channels; /* 16 */
    int32_t patch[3];     /* pt, ph, pw */
    int32_t text_dim;     /* cross-attention context width (1024) */
    int32_t text_in;      /* crossattn_proj input width (100352); 0 when the weights have no projection */
    float rope_ratio[3];  /* extrapolation ratios t, h, w */
    float fps;            /* > 0: temporal RoPE positions t / fps * 24 (diffusers' fps); 0: t */
    int32_t mode;         /* DIT_MODE_*: the numerics (timestep scale, QK eps, fp32 AdaLN) */
    float timestep_scale;
    float qk_eps;
    int32_t act_dtype; /* activation dtype of the residual stream */
} dit_config;

/* One weight on the backend: its view and the buffer that holds it (wrapped or owned). */
typedef struct dit_weight {
    dio_tensor t;
    dio_buffer *buf;
} dit_weight;

/* Per block, in the order of dit_block_keys (dit_weights.c). */
enum {
    DIT_B_SA_Q,
    DIT_B_SA_K,
    DIT_B_SA_V,
    DIT_B_SA_O,
    DIT_B_SA_QN,
    DIT_B_SA_KN,
    DIT_B_CA_Q,
    DIT_B_CA_K,
    DIT_B_CA_V,
    DIT_B_CA_O,
    DIT_B_CA_QN,
    DIT_B_CA_KN,
    DIT_B_MLP1,
    DIT_B_MLP2,
    DIT_B_MOD_SA1,
    DIT_B_MOD_SA2,
    DIT_B_MOD_CA1,
    DIT_B_MOD_CA2,
    DIT_B_MOD_MLP1,
    DIT_B_MOD_MLP2,
    DIT_B_COUNT
};

/* Top-level weights, in the order of dit_top_keys. */
enum {
    DIT_W_PATCH,
    DIT_W_T_LIN1,
    DIT_W_T_LIN2,
    DIT_W_T_NORM,
    DIT_W_PROJ_W,
    DIT_W_PROJ_B,
    DIT_W_FINAL_MOD1,
    DIT_W_FINAL_MOD2,
    DIT_W_FINAL_LIN,
    DIT_W_COUNT
};

typedef struct dit_weights {
    dit_weight top[DIT_W_COUNT];
    dit_weight *blocks; /* [num_blocks][DIT_B_COUNT] */
    int32_t n_blocks;
    int32_t layout;           /* DIT_LAYOUT_NATIVE or _DIFFUSERS, as found */
    dit_weight proj_bias_act; /* crossattn_proj bias converted to the activation dtype (buf NULL: same) */
} dit_weights;

/* The activation arena: one backend buffer sized for one input shape, reused while the shape holds. */
typedef struct dit_arena {
    dio_buffer *buf;
    uint64_t size;
    int64_t key[8]; /* B, T, H, W, L, text width, timestep groups, text dtype */
    int rope_ready;
} dit_arena;

typedef struct dit {
    const dio_host_services *host;
    dio_backend_ref be;
    dit_config cfg;
    dit_weights w;
    dit_arena arena;
    char stage[64]; /* debug: the stage whose activation fills the output ("" = the model output) */
} dit;

/* dit_weights.c */
dio_status dit_weights_load(dit *d, const dio_weight_source *src, int32_t layout_param,
                            const int32_t *pinned /* num_blocks, model_channels, num_heads or 0 */);
void dit_weights_free(dit *d);
dio_status dit_place_host(dit *d, const void *data, uint64_t nbytes, int32_t dtype, int32_t ndim,
                          const int64_t *shape, dit_weight *out);
void dit_weight_free(dit *d, dit_weight *w);

/* dit_rope.c */
void dit_rope_tables(const dit_config *c, int64_t tp, int64_t hp, int64_t wp, float *cos_out, float *sin_out);
void dit_timestep_sinusoid(int32_t dim, const float *t, int64_t n, float scale, float *out);

/* dit_forward.c */
dio_status dit_forward_shape(dit *d, const dio_tensor *const *in, dio_tensor *out);
dio_status dit_forward(dit *d, dio_stream *s, const dio_tensor *const *in, const dio_tensor *out);
void dit_arena_free(dit *d);

/* Input port order. */
enum { DIT_IN_LATENTS, DIT_IN_TIMESTEP, DIT_IN_TEXT, DIT_IN_COND_MASK, DIT_IN_PAD_MASK, DIT_IN_COUNT };

#endif

/* wan-vae — internal declarations shared by the Wan 2.1 VAE plugins' files (never installed).
 *
 * Two components, one shared network: "wan-vae-encoder" (pixels → normalised latents) and
 * "wan-vae-decoder" (normalised latents → pixels) are two plugin libraries built from the same files,
 * because a plugin descriptor names exactly one component. Split by job: vae_weights.c finds, checks and
 * places the weights under either key layout (diffusers or native Wan) and builds the layer list;
 * vae_layers.c runs one layer of one chunk through the backend op table, owning the causal frame cache;
 * vae_forward.c runs the chunk loops, the normalisation and the testing `stage` outputs;
 * vae_component.c holds ports, parameters, create/destroy/run, compiled once per component. */
#ifndef DIORAMA_PLUGIN_VAE_H
#define DIORAMA_PLUGIN_VAE_H

#include <stdint.h>

#include "diorama/component.h"
#include "diorama/ops.h"

#define VAE_WHO "wan-vae"
#define VAE_MAX_Z 64
#define VAE_MAX_DEAD 32

enum { VAE_TILING_AUTO = 0, VAE_TILING_ON = 1, VAE_TILING_OFF = 2 };
/* `tiling` auto tiles when the pixel frame (decode output, encode input) has more than this many pixels
 * (512 × 512: the untiled peak grows with the frame area; about 4.5 GiB of decoder activations there at
 * base_dim 96 by vae_forward.c's formula, 4 × the 1.7 GiB measured at 256 × 256 in bench/README-vae.md). */
#define VAE_TILE_AUTO_PIXELS (512 * 512)
/* Out-of-memory retries halve the tile size down to this many pixels. */
#define VAE_TILE_FLOOR 32

enum { VAE_LAYOUT_AUTO = 0, VAE_LAYOUT_DIFFUSERS = 1, VAE_LAYOUT_NATIVE = 2 };

/* One weight on the backend: its (possibly reshaped) view and the buffer that holds it. */
typedef struct vae_w {
    dio_tensor t;
    dio_buffer *buf;
} vae_w;

/* A convolution: weight (as a 5D view for CONV3D), bias, and its kernel. */
typedef struct vae_conv {
    vae_w w, b;
    int64_t cout, cin, k[3];
} vae_conv;

/* The causal frame cache of one slot: up to 2 frames of the layer's input, [B, C, n, H, W]. */
typedef struct vae_cache {
    dio_buffer *buf;
    dio_tensor t;
    int32_t n;   /* valid frames (0: empty) */
    int32_t rep; /* upsample3d: the first chunk has passed ("Rep") */
} vae_cache;

enum { VAE_L_RES, VAE_L_ATTN, VAE_L_DOWN2D, VAE_L_DOWN3D, VAE_L_UP2D, VAE_L_UP3D };

typedef struct vae_layer {
    int32_t kind;
    int64_t cin, cout;
    /* residual block */
    vae_w norm1, norm2;
    vae_conv conv1, conv2, shortcut; /* shortcut.w.buf NULL: identity */
    /* resample */
    vae_conv resample, time_conv; /* time_conv.w.buf NULL: 2D */
    /* attention */
    vae_w anorm, qkv_w, qkv_b, proj_w, proj_b;
    vae_cache c1, c2; /* res: conv1, conv2; resample 3D: c1 */
    char stage[48];   /* the hook name recorded after this layer, "" for none */
} vae_layer;

typedef struct vae {
    const dio_host_services *host;
    dio_backend_ref be;
    int32_t decoder; /* 0 encoder, 1 decoder */
    int32_t layout;  /* as found */
    int64_t z;       /* latent channels */
    int64_t img;     /* pixel channels */
    vae_conv top;    /* quant_conv (encoder) or post_quant_conv (decoder) */
    vae_conv conv_in, conv_out;
    vae_w norm_out;
    vae_cache c_in, c_out;
    vae_layer *layers;
    int32_t n_layers;
    int32_t clamp, normalize;
    float mean[VAE_MAX_Z], std[VAE_MAX_Z];
    int32_t tiling;                  /* VAE_TILING_* (decode and encode) */
    int64_t tile_size, tile_overlap; /* pixels, multiples of 8, overlap < size */
    uint64_t max_alloc;              /* testing: refuse any activation buffer above this (0: no limit) */
    char stage[64];                  /* testing: output this activation instead ("" = the output) */
    /* During a run, buffers released by ops already issued wait here until the stream is synced. */
    dio_stream *run_stream;
    dio_buffer *dead[VAE_MAX_DEAD];
    int32_t n_dead;
} vae;

/* A temporary activation: a contiguous tensor in its own backend buffer. */
typedef struct vae_act {
    dio_tensor t;
    dio_buffer *buf;
} vae_act;

/* vae_weights.c */
dio_status vae_weights_load(vae *v, const dio_weight_source *src, int32_t layout_param);
void vae_weights_free(vae *v);

/* vae_layers.c */
/* Releases a buffer: during a run it is queued and freed after the next stream sync (vae_reap), so no
 * backend sees a buffer freed under work still queued on the stream. */
void vae_release(vae *v, dio_buffer *buf);
/* Syncs the run's stream and frees the queued buffers. */
dio_status vae_reap(vae *v);
dio_status vae_act_alloc(vae *v, vae_act *a, int64_t b, int64_t c, int64_t t, int64_t h, int64_t w);
void vae_act_free(vae *v, vae_act *a);
void vae_cache_free(vae *v, vae_cache *c);
/* Output dims [B, C, T, H, W] of a layer for input dims `d`; `first`: the first chunk of the run. */
void vae_layer_dims(const vae_layer *l, int first, int64_t *d);
/* Runs one layer on `x` (consumed: freed or reused); the result replaces *x. */
dio_status vae_layer_run(vae *v, dio_stream *s, vae_layer *l, vae_act *x);
/* The causal 3D conv with its cache slot (cache may be NULL for 1×1×1 convs): y = conv(x). */
dio_status vae_causal_conv(vae *v, dio_stream *s, const vae_conv *c, vae_cache *cache, const vae_act *x,
                           vae_act *y);
/* y = silu(channel_rmsnorm(x, gamma)), y allocated like x. */
dio_status vae_norm_silu(vae *v, dio_stream *s, const vae_w *gamma, const vae_act *x, vae_act *y, int silu);

/* vae_forward.c */
dio_status vae_forward_shape(vae *v, const dio_tensor *const *in, dio_tensor *out);
dio_status vae_forward(vae *v, dio_stream *s, const dio_tensor *const *in, const dio_tensor *out);

#endif

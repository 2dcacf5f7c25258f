/* libdiorama — the runner's state, shared by the node executor (pipeline.c), the text stage
 * (pipeline_text.c), the conditioning and writing stages (pipeline_media.c) and the denoising loop
 * (pipeline_denoise.c).
 *
 * Every value that flows between nodes is an f32 tensor on the run's backend (run_value); the
 * runner owns it and frees it when the run ends or the node is run again for the next chunk. */
#ifndef DIO_PIPELINE_INTERNAL_H
#define DIO_PIPELINE_INTERNAL_H

#include "graph_internal.h"

typedef struct run_value {
    dio_tensor t;
    dio_buffer *buf; /* owned; NULL when absent */
} run_value;

typedef struct run_state {
    dio_context *ctx;
    dio_graph *g;
    const dio_run_options *opt;
    dio_backend *be;
    dio_backend_ref ref;
    dio_stream *stream;
    dio_component **comps; /* per instance, created lazily */
    dio_sampler **samplers;
    dio_weights **weights;
    run_value (*outs)[GRAPH_MAX_OUTPUTS]; /* per node */
    int chunk, n_chunks;
    double t0;
    /* chunk k > 0: the conditioning the runner made from the previous chunk's overlap */
    const run_value *chunk_cond;
    int chunk_cond_frames;  /* latent frames */
    long long chunk_frames; /* pixel frames of one chunk (denoise "frames") */
} run_state;

/* ---- helpers (pipeline.c) ---- */
dio_status run_value_alloc(run_state *rs, int32_t ndim, const int64_t *shape, run_value *out);
void run_value_free(run_state *rs, run_value *v);
dio_status run_upload(run_state *rs, run_value *v, const float *host);
/* Returns a malloc'd host copy of a contiguous f32 value. */
dio_status run_download(run_state *rs, const run_value *v, float **host);
/* Shows a value to the inspect hook (no-op without one); `name` gets the chunk prefix. */
dio_status run_inspect(run_state *rs, const char *name, const run_value *v);
void run_progress(run_state *rs, const char *phase, const char *node, int step, int n_steps);
int run_cancelled(run_state *rs);
dio_status run_get_component(run_state *rs, int instance, dio_component **out);
dio_status run_get_sampler(run_state *rs, int instance, dio_sampler **out);
/* The value feeding input `port` of node `nd`, NULL when not wired. */
const run_value *run_input(run_state *rs, const graph_node *nd, const char *port);
/* Runs a component on tensors, allocating its outputs. */
dio_status run_component(run_state *rs, dio_component *comp, const char *who, const dio_tensor *const *inputs,
                         run_value *outputs, int32_t n_outputs);

/* ---- stages ---- */
dio_status run_encode_prompt(run_state *rs, const graph_node *nd, run_value *out);
dio_status run_load_condition(run_state *rs, const graph_node *nd, run_value *out);
/* Pixels [1, 3, T, H, W] in [-1, 1] from 8-bit RGB frames (HWC, frame after frame). */
dio_status run_pixels_from_rgb(run_state *rs, const uint8_t *rgb, int64_t frames, int64_t h, int64_t w,
                               run_value *out);
/* 8-bit RGB frames from pixels [1, 3, T, H, W] (round to nearest after clamping to [-1, 1]). */
dio_status run_rgb_from_pixels(run_state *rs, const run_value *pixels, uint8_t **rgb);
dio_status run_write_video(run_state *rs, const graph_node *nd, const uint8_t *rgb, int64_t frames, int64_t h,
                           int64_t w);
dio_status run_denoise(run_state *rs, const graph_node *nd, run_value *out);

#endif

/* libdiorama — the pipeline runner: executes a validated graph's nodes in order on one backend.
 *
 * Components are created when a node first needs them and destroyed after their last use, so a
 * pipeline holds one large model at a time where the graph allows it (the 16 GB text encoder is gone
 * before the DiT is loaded); an encode_prompt node whose result is in the embedding cache never loads
 * its encoder at all.
 *
 * Long videos: when the denoise node asks for more frames than chunking.max_frames, the run becomes
 * autoregressive (cosmos-reference.md §3.1): chunk k generates max_frames frames with seed + k,
 * conditioned (k > 0) on the last `overlap` generated pixel frames, quantised to 8 bits as the
 * reference re-encodes them, padded with black frames and VAE-encoded, of which 1 + (overlap - 1) / 4
 * latent frames are used (the pixel → latent conversion of the reference's fix). The video is chunk
 * 0 in full, then each later chunk minus its first `overlap` frames, cut to the frames asked for.
 * Nodes that do not depend on the denoise node (prompts, the first conditioning) run once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pipeline_internal.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- values ---- */

dio_status run_value_alloc(run_state *rs, int32_t ndim, const int64_t *shape, run_value *out)
{
    int64_t n = 1;
    dio_status st;
    for (int32_t i = 0; i < ndim; i++) n *= shape[i];
    memset(out, 0, sizeof(*out));
    if ((st = rs->ref.iface->buffer_alloc(rs->ref.ctx, rs->ref.device, (uint64_t)(n ? n : 1) * 4,
                                          &out->buf)) != DIO_OK) {
        out->buf = NULL;
        if (!dio_last_error()[0]) dio_set_error(st, "pipeline: cannot allocate %lld floats", (long long)n);
        return st;
    }
    dio_tensor_init(&out->t, DIO_DTYPE_F32, ndim, shape, out->buf, 0);
    return DIO_OK;
}

void run_value_free(run_state *rs, run_value *v)
{
    if (v && v->buf) rs->ref.iface->buffer_free(rs->ref.ctx, v->buf);
    if (v) memset(v, 0, sizeof(*v));
}

dio_status run_upload(run_state *rs, run_value *v, const float *host)
{
    uint64_t bytes = (uint64_t)dio_tensor_numel(&v->t) * 4;
    dio_status st = rs->ref.iface->buffer_upload(rs->ref.ctx, rs->stream, v->buf, v->t.offset, host, bytes);
    if (st == DIO_OK) st = rs->ref.iface->stream_sync(rs->ref.ctx, rs->stream);
    return st;
}

dio_status run_download(run_state *rs, const run_value *v, float **host)
{
    uint64_t bytes = (uint64_t)dio_tensor_numel(&v->t) * dio_dtype_size(v->t.dtype);
    float *h;
    dio_status st;
    if (v->t.dtype != DIO_DTYPE_F32 || !dio_tensor_is_contiguous(&v->t))
        return dio_set_error(DIO_ERR_INTERNAL, "pipeline: a value to read back is not contiguous f32");
    if (!(h = malloc(bytes ? (size_t)bytes : 1)))
        return dio_set_error(DIO_ERR_OUT_OF_HOST_MEMORY, "pipeline: out of host memory (%llu bytes)",
                             (unsigned long long)bytes);
    if ((st = rs->ref.iface->buffer_download(rs->ref.ctx, rs->stream, v->t.buffer, v->t.offset, h, bytes)) !=
            DIO_OK ||
        (st = rs->ref.iface->stream_sync(rs->ref.ctx, rs->stream)) != DIO_OK) {
        free(h);
        return st;
    }
    *host = h;
    return DIO_OK;
}

dio_status run_inspect(run_state *rs, const char *name, const run_value *v)
{
    dio_run_tensor t;
    float *h = NULL;
    char full[256];
    dio_status st;
    if (!rs->opt || !rs->opt->inspect) return DIO_OK;
    if ((st = run_download(rs, v, &h)) != DIO_OK) return st;
    memset(&t, 0, sizeof(t));
    t.struct_size = sizeof(t);
    t.ndim = v->t.ndim;
    for (int i = 0; i < v->t.ndim && i < 6; i++) t.shape[i] = v->t.shape[i];
    t.data = h;
    if (rs->n_chunks > 1)
        snprintf(full, sizeof(full), "chunk%d.%s", rs->chunk, name);
    else
        snprintf(full, sizeof(full), "%s", name);
    rs->opt->inspect(rs->opt->user, full, &t);
    free(h);
    return DIO_OK;
}

void run_progress(run_state *rs, const char *phase, const char *node, int step, int n_steps)
{
    dio_progress p;
    if (!rs->opt || !rs->opt->progress) return;
    memset(&p, 0, sizeof(p));
    p.struct_size = sizeof(p);
    p.chunk = rs->chunk;
    p.n_chunks = rs->n_chunks;
    p.step = step;
    p.n_steps = n_steps;
    p.phase = phase;
    p.node = node;
    p.elapsed_s = now_s() - rs->t0;
    rs->opt->progress(rs->opt->user, &p);
}

int run_cancelled(run_state *rs)
{
    return rs->opt && rs->opt->cancel && *rs->opt->cancel;
}

/* ---- instances ---- */

dio_status run_get_component(run_state *rs, int idx, dio_component **out)
{
    graph_instance *in = &rs->g->instances[idx];
    dio_kv kv[GRAPH_MAX_PARAMS];
    dio_status st;
    if (rs->comps[idx]) {
        *out = rs->comps[idx];
        return DIO_OK;
    }
    for (int i = 0; i < in->n_params; i++) kv[i] = (dio_kv){in->params[i].key, in->params[i].text.value};
    if (in->weights.value) {
        dio_log(DIO_LOG_INFO, "pipeline", "loading %s (%s) from %s", in->id, in->plugin.value,
                in->weights.value);
        if ((st = dio_weights_open(in->weights.value, &rs->weights[idx])) != DIO_OK) goto named;
    }
    if ((st = dio_component_create(rs->ctx, rs->be, in->plugin.value, rs->weights[idx], kv,
                                   (size_t)in->n_params, &rs->comps[idx])) != DIO_OK)
        goto named;
    *out = rs->comps[idx];
    return DIO_OK;
named : {
    char msg[900];
    snprintf(msg, sizeof(msg), "%s", dio_last_error());
    dio_weights_close(rs->weights[idx]);
    rs->weights[idx] = NULL;
    rs->comps[idx] = NULL;
    return dio_set_error(st, "pipeline: component %s (%s): %s", in->id, in->plugin.value, msg);
}
}

dio_status run_get_sampler(run_state *rs, int idx, dio_sampler **out)
{
    graph_instance *in = &rs->g->instances[idx];
    dio_kv kv[GRAPH_MAX_PARAMS];
    dio_status st;
    if (!rs->samplers[idx]) {
        for (int i = 0; i < in->n_params; i++) kv[i] = (dio_kv){in->params[i].key, in->params[i].text.value};
        if ((st = dio_sampler_create(rs->ctx, in->plugin.value, kv, (size_t)in->n_params,
                                     &rs->samplers[idx])) != DIO_OK) {
            char msg[900];
            snprintf(msg, sizeof(msg), "%s", dio_last_error());
            rs->samplers[idx] = NULL;
            return dio_set_error(st, "pipeline: sampler %s (%s): %s", in->id, in->plugin.value, msg);
        }
    }
    *out = rs->samplers[idx];
    return DIO_OK;
}

static void release_instance(run_state *rs, int idx)
{
    if (rs->comps[idx] || rs->weights[idx])
        dio_log(DIO_LOG_DEBUG, "pipeline", "releasing %s", rs->g->instances[idx].id);
    dio_component_destroy(rs->comps[idx]);
    dio_weights_close(rs->weights[idx]);
    dio_sampler_destroy(rs->samplers[idx]);
    rs->comps[idx] = NULL;
    rs->weights[idx] = NULL;
    rs->samplers[idx] = NULL;
}

const run_value *run_input(run_state *rs, const graph_node *nd, const char *port)
{
    int i = graph_node_input(nd, port);
    if (i < 0) return NULL;
    const run_value *v = &rs->outs[nd->inputs[i].node][nd->inputs[i].out_index];
    return v->buf ? v : NULL;
}

dio_status run_component(run_state *rs, dio_component *comp, const char *who, const dio_tensor *const *inputs,
                         run_value *outputs, int32_t n_outputs)
{
    dio_tensor shapes[GRAPH_MAX_OUTPUTS];
    const dio_tensor *outp[GRAPH_MAX_OUTPUTS];
    dio_status st;
    if ((st = dio_component_output_shapes(comp, inputs, shapes)) != DIO_OK) goto named;
    for (int32_t i = 0; i < n_outputs; i++) {
        if (shapes[i].dtype != DIO_DTYPE_F32 && shapes[i].dtype != DIO_DTYPE_I64) {
            st = dio_set_error(DIO_ERR_NOT_SUPPORTED, "output %d is %s; the runner passes f32 and i64", i,
                               dio_dtype_name(shapes[i].dtype));
            goto named;
        }
        if ((st = run_value_alloc(rs, shapes[i].ndim, shapes[i].shape, &outputs[i])) != DIO_OK) goto named;
        if (shapes[i].dtype == DIO_DTYPE_I64) {
            /* i64 outputs (token ids) take twice the bytes: a fresh buffer of the right size. */
            uint64_t bytes = (uint64_t)dio_tensor_numel(&outputs[i].t) * 8;
            rs->ref.iface->buffer_free(rs->ref.ctx, outputs[i].buf);
            outputs[i].buf = NULL;
            if ((st = rs->ref.iface->buffer_alloc(rs->ref.ctx, rs->ref.device, bytes ? bytes : 1,
                                                  &outputs[i].buf)) != DIO_OK) {
                outputs[i].buf = NULL;
                goto named;
            }
            dio_tensor_init(&outputs[i].t, DIO_DTYPE_I64, shapes[i].ndim, shapes[i].shape, outputs[i].buf, 0);
        }
        outp[i] = &outputs[i].t;
    }
    if ((st = dio_component_run(comp, inputs, outp)) != DIO_OK) goto named;
    return DIO_OK;
named : {
    char msg[900];
    snprintf(msg, sizeof(msg), "%s", dio_last_error());
    for (int32_t i = 0; i < n_outputs; i++) run_value_free(rs, &outputs[i]);
    return dio_set_error(st, "pipeline: %s: %s", who, msg);
}
}

/* ---- nodes ---- */

static dio_status run_node_component(run_state *rs, int index)
{
    const graph_node *nd = &rs->g->nodes[index];
    const graph_instance *in = &rs->g->instances[nd->uses[graph_node_use(nd, "component")].instance];
    const dio_component_iface *ci;
    const dio_tensor *inputs[16] = {NULL};
    dio_component *comp = NULL;
    dio_status st;
    char who[160];
    const char *phase = "run";
    if ((st = run_get_component(rs, nd->uses[graph_node_use(nd, "component")].instance, &comp)) != DIO_OK)
        return st;
    ci = dio_component_get_iface(comp);
    if (ci->n_inputs > 16 || ci->n_outputs > GRAPH_MAX_OUTPUTS)
        return dio_set_error(DIO_ERR_NOT_SUPPORTED, "pipeline: %s: component %s has too many ports", nd->path,
                             in->plugin.value);
    for (int32_t i = 0; i < ci->n_inputs; i++) {
        const run_value *v = run_input(rs, nd, ci->inputs[i].name);
        inputs[i] = v ? &v->t : NULL;
        if (!v && !ci->inputs[i].optional)
            return dio_set_error(DIO_ERR_INVALID_ARGUMENT, "pipeline: %s: input %s has no value", nd->path,
                                 ci->inputs[i].name);
    }
    if (ci->n_outputs && strcmp(ci->outputs[0].name, "pixels") == 0) phase = "decode";
    if (ci->n_outputs && strcmp(ci->outputs[0].name, "latents") == 0) phase = "encode";
    run_progress(rs, phase, nd->id, 0, 0);
    snprintf(who, sizeof(who), "%s (%s)", nd->path, nd->id);
    if ((st = run_component(rs, comp, who, inputs, rs->outs[index], ci->n_outputs)) != DIO_OK) return st;
    for (int32_t i = 0; i < ci->n_outputs; i++)
        if (rs->outs[index][i].t.dtype == DIO_DTYPE_F32) {
            char name[160];
            snprintf(name, sizeof(name), "%s.%s", nd->id, ci->outputs[i].name);
            if ((st = run_inspect(rs, name, &rs->outs[index][i])) != DIO_OK) return st;
        }
    return DIO_OK;
}

/* Nodes that depend on a denoise node run again for every chunk. */
static void mark_rerun(const dio_graph *g, int *rerun)
{
    for (int i = 0; i < g->n_nodes; i++) {
        rerun[i] = g->nodes[i].op == GRAPH_OP_DENOISE;
        for (int k = 0; k < g->nodes[i].n_inputs; k++)
            if (rerun[g->nodes[i].inputs[k].node]) rerun[i] = 1;
    }
}

/* Chunk k > 0: the conditioning latents from the last `overlap` frames generated so far. */
static dio_status make_chunk_condition(run_state *rs, const uint8_t *video, int64_t have, int64_t h,
                                       int64_t w, long long overlap, run_value *cond)
{
    uint8_t *clip = NULL;
    run_value pixels = {0};
    dio_component *enc = NULL;
    dio_status st;
    size_t frame = (size_t)(h * w * 3);
    const dio_tensor *in[1];
    int64_t T = rs->chunk_frames;
    if (!(clip = calloc((size_t)T, frame))) {
        st =
            dio_set_error(DIO_ERR_OUT_OF_HOST_MEMORY, "pipeline: out of host memory for the chunk condition");
        goto fail;
    }
    memcpy(clip, video + (size_t)(have - overlap) * frame, (size_t)overlap * frame);
    if ((st = run_pixels_from_rgb(rs, clip, T, h, w, &pixels)) != DIO_OK) goto fail;
    if ((st = run_get_component(rs, rs->g->chunk_encoder, &enc)) != DIO_OK) goto fail;
    in[0] = &pixels.t;
    run_progress(rs, "encode", rs->g->chunk_encoder_id, 0, 0);
    if ((st = run_component(rs, enc, "chunking.encoder", in, cond, 1)) != DIO_OK) goto fail;
    st = run_inspect(rs, "chunk_condition.latents", cond);
fail:
    run_value_free(rs, &pixels);
    free(clip);
    return st;
}

static dio_status run_graph(run_state *rs)
{
    dio_graph *g = rs->g;
    int *rerun = NULL, denoise = -1, write = -1;
    long long total = 0, max_frames = 0, overlap = 1;
    uint8_t *video = NULL;
    int64_t have = 0, vh = 0, vw = 0;
    run_value cond = {0};
    dio_status st = DIO_OK;

    if (!(rerun = calloc((size_t)g->n_nodes, sizeof(int))))
        return dio_set_error(DIO_ERR_OUT_OF_HOST_MEMORY, "pipeline: out of host memory");
    mark_rerun(g, rerun);
    for (int i = 0; i < g->n_nodes; i++) {
        if (g->nodes[i].op == GRAPH_OP_DENOISE) {
            if (denoise >= 0 && g->chunk_max_frames.value) {
                st = dio_set_error(DIO_ERR_NOT_SUPPORTED, "graph %s: chunking needs exactly one denoise node",
                                   g->file);
                goto done;
            }
            denoise = i;
        }
        if (g->nodes[i].op == GRAPH_OP_WRITE_VIDEO) write = i;
    }
    rs->n_chunks = 1;
    if (denoise >= 0) {
        if ((st = graph_param_int(&g->nodes[denoise], "frames", 1, 1, 100000, &total)) != DIO_OK) goto done;
        rs->chunk_frames = total;
    }
    if (g->chunk_max_frames.value && denoise >= 0) {
        max_frames = strtoll(g->chunk_max_frames.value, NULL, 10);
        if (g->chunk_overlap.value) overlap = strtoll(g->chunk_overlap.value, NULL, 10);
        if (total > max_frames) {
            long long stride = max_frames - overlap;
            rs->n_chunks = (int)(1 + (total - max_frames + stride - 1) / stride);
            rs->chunk_frames = max_frames;
            if (write < 0 || !rerun[write]) {
                st = dio_set_error(
                    DIO_ERR_NOT_SUPPORTED,
                    "graph %s: a long video needs a write_video node fed from the denoise node", g->file);
                goto done;
            }
            dio_log(DIO_LOG_INFO, "pipeline", "%lld frames: %d chunks of %lld, overlap %lld", total,
                    rs->n_chunks, max_frames, overlap);
        }
    }

    for (rs->chunk = 0; rs->chunk < rs->n_chunks; rs->chunk++) {
        if (rs->chunk > 0) {
            run_value_free(rs, &cond);
            if ((st = make_chunk_condition(rs, video, have, vh, vw, overlap, &cond)) != DIO_OK) goto done;
            rs->chunk_cond = &cond;
            rs->chunk_cond_frames = (int)(1 + (overlap - 1) / 4);
        }
        for (int i = 0; i < g->n_nodes; i++) {
            graph_node *nd = &g->nodes[i];
            if (rs->chunk > 0 && !rerun[i]) continue;
            if (run_cancelled(rs)) {
                st = dio_set_error(DIO_ERR_CANCELLED, "pipeline: cancelled before node %s", nd->id);
                goto done;
            }
            for (int o = 0; o < GRAPH_MAX_OUTPUTS; o++) run_value_free(rs, &rs->outs[i][o]);
            switch (nd->op) {
            case GRAPH_OP_ENCODE_PROMPT: st = run_encode_prompt(rs, nd, &rs->outs[i][0]); break;
            case GRAPH_OP_LOAD_CONDITION: st = run_load_condition(rs, nd, &rs->outs[i][0]); break;
            case GRAPH_OP_RUN: st = run_node_component(rs, i); break;
            case GRAPH_OP_DENOISE: st = run_denoise(rs, nd, &rs->outs[i][0]); break;
            case GRAPH_OP_WRITE_VIDEO: {
                const run_value *px = run_input(rs, nd, "pixels");
                uint8_t *rgb = NULL;
                if (!px || px->t.ndim != 5 || px->t.shape[0] != 1 || px->t.shape[1] != 3) {
                    st = dio_set_error(DIO_ERR_INVALID_ARGUMENT,
                                       "pipeline: %s.inputs.pixels: expected [1, 3, T, H, W]", nd->path);
                    break;
                }
                int64_t T = px->t.shape[2], H = px->t.shape[3], W = px->t.shape[4];
                if ((st = run_rgb_from_pixels(rs, px, &rgb)) != DIO_OK) break;
                if (rs->n_chunks == 1) {
                    run_progress(rs, "write", nd->id, 0, 0);
                    st = run_write_video(rs, nd, rgb, T, H, W);
                    free(rgb);
                    break;
                }
                /* Accumulate: chunk 0 whole, later chunks without their first `overlap` frames. */
                int64_t skip = rs->chunk ? overlap : 0, add = T - skip;
                if (have + add > total) add = total - have;
                uint8_t *nv = realloc(video, (size_t)(have + add) * (size_t)(H * W * 3));
                if (!nv) {
                    free(rgb);
                    st = dio_set_error(DIO_ERR_OUT_OF_HOST_MEMORY,
                                       "pipeline: out of host memory for the video");
                    break;
                }
                video = nv;
                memcpy(video + (size_t)have * (size_t)(H * W * 3), rgb + (size_t)skip * (size_t)(H * W * 3),
                       (size_t)add * (size_t)(H * W * 3));
                have += add;
                vh = H;
                vw = W;
                free(rgb);
                if (rs->chunk == rs->n_chunks - 1) {
                    run_progress(rs, "write", nd->id, 0, 0);
                    st = run_write_video(rs, nd, video, have, vh, vw);
                }
                break;
            }
            case GRAPH_OP_COUNT: st = dio_set_error(DIO_ERR_INTERNAL, "pipeline: bad op"); break;
            }
            if (st != DIO_OK) goto done;
            /* Offload: an instance not needed again goes now. */
            for (int k = 0; k < g->n_instances; k++) {
                int later = rs->n_chunks > 1 && rs->chunk < rs->n_chunks - 1;
                int used_later = 0;
                if (g->instances[k].last_use != i) continue;
                for (int j = 0; j < g->n_nodes && later; j++)
                    for (int u = 0; u < g->nodes[j].n_uses; u++)
                        if (rerun[j] && g->nodes[j].uses[u].instance == k) used_later = 1;
                if (later && k == g->chunk_encoder) used_later = 1;
                if (!used_later) release_instance(rs, k);
            }
        }
    }
    run_progress(rs, "done", "", 0, 0);
done:
    run_value_free(rs, &cond);
    rs->chunk_cond = NULL;
    free(video);
    free(rerun);
    return st;
}

dio_status dio_pipeline_run(dio_context *ctx, dio_graph *g, const dio_run_options *options)
{
    run_state rs;
    dio_status st;
    int opened = 0;
    if (!ctx || !g) return dio_set_error(DIO_ERR_INVALID_ARGUMENT, "dio_pipeline_run: NULL argument");
    memset(&rs, 0, sizeof(rs));
    rs.ctx = ctx;
    rs.g = g;
    rs.opt = options;
    rs.t0 = now_s();
    if ((st = dio_graph_validate(g, ctx)) != DIO_OK) return st;
    if (options && options->struct_size >= offsetof(dio_run_options, cancel) && options->backend) {
        rs.be = options->backend;
    } else {
        if ((st = dio_backend_open(ctx, g->backend.value, NULL, 0, &rs.be)) != DIO_OK) {
            char msg[900];
            snprintf(msg, sizeof(msg), "%s", dio_last_error());
            return dio_set_error(st, "graph %s: backend: %s", g->file, msg);
        }
        opened = 1;
    }
    rs.ref = dio_backend_get_ref(rs.be, 0);
    rs.stream = dio_backend_default_stream(rs.be);
    rs.comps = calloc((size_t)g->n_instances + 1, sizeof(*rs.comps));
    rs.samplers = calloc((size_t)g->n_instances + 1, sizeof(*rs.samplers));
    rs.weights = calloc((size_t)g->n_instances + 1, sizeof(*rs.weights));
    rs.outs = calloc((size_t)g->n_nodes, sizeof(*rs.outs));
    if (!rs.comps || !rs.samplers || !rs.weights || !rs.outs) {
        st = dio_set_error(DIO_ERR_OUT_OF_HOST_MEMORY, "pipeline: out of host memory");
        goto done;
    }
    run_progress(&rs, "load", "", 0, 0);
    st = run_graph(&rs);
done:
    if (rs.outs)
        for (int i = 0; i < g->n_nodes; i++)
            for (int o = 0; o < GRAPH_MAX_OUTPUTS; o++) run_value_free(&rs, &rs.outs[i][o]);
    if (rs.comps && rs.samplers && rs.weights)
        for (int k = 0; k < g->n_instances; k++) release_instance(&rs, k);
    free(rs.outs);
    free(rs.comps);
    free(rs.samplers);
    free(rs.weights);
    if (opened) dio_backend_close(rs.be);
    return st;
}

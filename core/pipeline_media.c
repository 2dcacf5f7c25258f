/* libdiorama — the runner's media stages: conditioning frames in, the generated video out.
 *
 * load_condition prepares the VAE input as the diffusers Cosmos 2.5 pipeline does
 * (tests/fixtures/pipelines/README.md): an image is frame 0 followed by black frames; a video keeps
 * its last 1 + 4(n - 1) frames for n conditioned latent frames, padded to the clip length by
 * repeating its last frame; pixels map to [-1, 1] as u8 / 255 · 2 - 1. A file of another size is
 * scaled to cover the model's size and centre-cropped (said in the log), or refused with resize=false.
 *
 * write_video turns [-1, 1] pixels into 8-bit frames (x / 2 + 0.5, clamped, · 255, rounded) and writes
 * them with dio_media_write (atomic), the graph's variables as the file's metadata. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline_internal.h"

dio_status run_pixels_from_rgb(run_state *rs, const uint8_t *rgb, int64_t frames, int64_t h, int64_t w,
                               run_value *out)
{
    int64_t shape[5] = {1, 3, frames, h, w};
    size_t plane = (size_t)(h * w);
    float *host;
    dio_status st;
    if (!(host = malloc((size_t)frames * plane * 3 * sizeof(float))))
        return dio_set_error(DIO_ERR_OUT_OF_HOST_MEMORY, "pipeline: out of host memory for %lld frames",
                             (long long)frames);
    for (int64_t t = 0; t < frames; t++)
        for (size_t p = 0; p < plane; p++)
            for (int c = 0; c < 3; c++) {
                float v = (float)rgb[((size_t)t * plane + p) * 3 + (size_t)c] / 255.0f;
                host[((size_t)c * (size_t)frames + (size_t)t) * plane + p] = v * 2.0f - 1.0f;
            }
    if ((st = run_value_alloc(rs, 5, shape, out)) == DIO_OK && (st = run_upload(rs, out, host)) != DIO_OK)
        run_value_free(rs, out);
    free(host);
    return st;
}

dio_status run_rgb_from_pixels(run_state *rs, const run_value *pixels, uint8_t **rgb)
{
    float *host = NULL;
    uint8_t *r;
    dio_status st;
    int64_t T = pixels->t.shape[2], H = pixels->t.shape[3], W = pixels->t.shape[4];
    size_t plane = (size_t)(H * W);
    if ((st = run_download(rs, pixels, &host)) != DIO_OK) return st;
    if (!(r = malloc((size_t)T * plane * 3))) {
        free(host);
        return dio_set_error(DIO_ERR_OUT_OF_HOST_MEMORY, "pipeline: out of host memory for the video");
    }
    for (int64_t t = 0; t < T; t++)
        for (size_t p = 0; p < plane; p++)
            for (int c = 0; c < 3; c++) {
                float v = host[((size_t)c * (size_t)T + (size_t)t) * plane + p] * 0.5f + 0.5f;
                v = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v; /* NaN → 0 through the comparisons below */
                if (!(v == v)) v = 0.0f;
                r[((size_t)t * plane + p) * 3 + (size_t)c] = (uint8_t)lrintf(v * 255.0f);
            }
    free(host);
    *rgb = r;
    return DIO_OK;
}

dio_status run_load_condition(run_state *rs, const graph_node *nd, run_value *out)
{
    const char *path = graph_node_param(nd, "path"), *kind = graph_node_param(nd, "kind");
    long long W, H, T, n;
    int resize = 1;
    dio_video v;
    dio_media_read_options ro;
    uint8_t *clip = NULL;
    dio_status st;
    char name[160];
    memset(&v, 0, sizeof(v));
    if ((st = graph_param_int(nd, "width", 0, 8, 16384, &W)) != DIO_OK ||
        (st = graph_param_int(nd, "height", 0, 8, 16384, &H)) != DIO_OK ||
        (st = graph_param_int(nd, "frames", 0, 1, 100000, &T)) != DIO_OK ||
        (st = graph_param_int(nd, "latent_frames", 1, 1, 64, &n)) != DIO_OK ||
        (st = graph_param_bool(nd, "resize", 1, &resize)) != DIO_OK)
        return st;
    /* The clip is as long as what the denoise node generates (one chunk of a long video). */
    if (rs->chunk_frames > 0) T = rs->chunk_frames;
    if (!path[0])
        return dio_set_error(DIO_ERR_INVALID_ARGUMENT,
                             "pipeline: %s.params.path: no conditioning file given "
                             "(-i/--init-img for an image, --input-video for a video)",
                             nd->path);
    run_progress(rs, "encode", nd->id, 0, 0);
    memset(&ro, 0, sizeof(ro));
    ro.struct_size = sizeof(ro);
    if (resize) {
        ro.width = (int32_t)W;
        ro.height = (int32_t)H;
    }
    if ((st = dio_media_read(path, &ro, &v)) != DIO_OK) {
        char msg[900];
        snprintf(msg, sizeof(msg), "%s", dio_last_error());
        return dio_set_error(st, "pipeline: %s: %s", nd->path, msg);
    }
    if (v.width != W || v.height != H) {
        st = dio_set_error(DIO_ERR_INVALID_ARGUMENT,
                           "pipeline: %s: %s is %dx%d, the model's size is %lldx%lld (resize is off)",
                           nd->path, path, v.width, v.height, W, H);
        goto fail;
    }
    size_t frame = (size_t)(W * H * 3);
    int is_image = kind && strcmp(kind, "image") == 0;
    if (kind && strcmp(kind, "video") == 0 && v.frames < 2)
        dio_log(DIO_LOG_WARN, "pipeline", "%s: %s has a single frame; used as a video of one frame", nd->id,
                path);
    if (!kind || strcmp(kind, "auto") == 0) is_image = v.frames == 1;
    if (!(clip = calloc((size_t)T, frame))) {
        st = dio_set_error(DIO_ERR_OUT_OF_HOST_MEMORY,
                           "pipeline: out of host memory for the conditioning clip");
        goto fail;
    }
    if (is_image) {
        memcpy(clip, v.rgb, frame); /* then black frames (u8 0 → -1) */
    } else {
        long long keep = 1 + 4 * (n - 1);
        if (keep > T) keep = T;
        if (keep > v.frames) keep = v.frames;
        memcpy(clip, v.rgb + (size_t)(v.frames - keep) * frame, (size_t)keep * frame);
        for (long long t = keep; t < T; t++)
            memcpy(clip + (size_t)t * frame, clip + (size_t)(keep - 1) * frame, frame);
    }
    if ((st = run_pixels_from_rgb(rs, clip, T, H, W, out)) != DIO_OK) goto fail;
    snprintf(name, sizeof(name), "%s.pixels", nd->id);
    st = run_inspect(rs, name, out);
fail:
    free(clip);
    dio_video_free(&v);
    return st;
}

dio_status run_write_video(run_state *rs, const graph_node *nd, const uint8_t *rgb, int64_t frames, int64_t h,
                           int64_t w)
{
    const char *path = graph_node_param(nd, "path"), *format = graph_node_param(nd, "format");
    double fps = 16;
    long long quality = 0;
    dio_video v;
    dio_media_write_options wo;
    dio_kv *meta = NULL;
    char **values = NULL;
    dio_status st;
    int nm = 0;
    if ((st = graph_param_double(nd, "fps", 16, 0.001, 1000, &fps)) != DIO_OK ||
        (st = graph_param_int(nd, "quality", 0, 0, 100, &quality)) != DIO_OK)
        return st;
    if (run_cancelled(rs))
        return dio_set_error(DIO_ERR_CANCELLED, "pipeline: cancelled before writing %s", path);
    if (!(meta = calloc((size_t)rs->g->n_vars + 2, sizeof(*meta))) ||
        !(values = calloc((size_t)rs->g->n_vars + 1, sizeof(*values)))) {
        free(meta);
        return dio_set_error(DIO_ERR_OUT_OF_HOST_MEMORY, "pipeline: out of host memory");
    }
    meta[nm++] = (dio_kv){"software", "diorama " DIO_VERSION_STRING};
    meta[nm++] = (dio_kv){"graph", rs->g->name};
    for (int i = 0; i < rs->g->n_vars; i++)
        if (strcmp(rs->g->vars[i].name, "output") != 0 && graph_var_expanded(rs->g, i, &values[i]) == DIO_OK)
            meta[nm++] = (dio_kv){rs->g->vars[i].name, values[i]};
    memset(&v, 0, sizeof(v));
    v.struct_size = sizeof(v);
    v.width = (int32_t)w;
    v.height = (int32_t)h;
    v.frames = (int32_t)frames;
    v.fps = fps;
    v.rgb = (uint8_t *)(uintptr_t)rgb;
    memset(&wo, 0, sizeof(wo));
    wo.struct_size = sizeof(wo);
    wo.format = !format || strcmp(format, "auto") == 0 ? DIO_MEDIA_AUTO
                : strcmp(format, "mp4") == 0           ? DIO_MEDIA_MP4
                : strcmp(format, "webp") == 0          ? DIO_MEDIA_WEBP
                                                       : DIO_MEDIA_PNG;
    wo.quality = (int32_t)quality;
    wo.metadata = meta;
    wo.n_metadata = (size_t)nm;
    if ((st = dio_media_write(path, &v, &wo)) == DIO_OK)
        dio_log(DIO_LOG_INFO, "pipeline", "wrote %s (%lld frames, %lldx%lld, %.3g fps)", path,
                (long long)frames, (long long)w, (long long)h, fps);
    for (int i = 0; i < rs->g->n_vars; i++) free(values[i]);
    free(values);
    free(meta);
    return st;
}

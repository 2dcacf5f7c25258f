/* diorama — media in and out: images and videos read with FFmpeg (and libwebp for WebP), resized and
 * cropped to the model's size; videos written as MP4, animated WebP or PNG frames with the generation
 * parameters in the file's metadata.
 *
 * Frames on the host are 8-bit RGB, row-major HWC, frame after frame. Reading scales each frame so
 * that it covers the target size (scale = max(W_t/W, H_t/H), new size ceil(scale·H) × ceil(scale·W),
 * bilinear) and crops the centre, as the reference's inference code prepares conditioning frames
 * (cosmos-reference.md §2.1). Writing is atomic: the file (or the PNG folder) is built under a
 * temporary name beside the target and renamed only when complete, so a failure or a cancelled run
 * never leaves a half-written output under the final name.
 *
 * Ownership: dio_media_read fills a dio_video whose pixels the caller frees with dio_video_free;
 * dio_media_info fills a dio_media_info freed with dio_media_info_free. Both free functions accept a
 * zeroed struct. Thread safety: distinct calls on distinct objects may run concurrently. */
#ifndef DIORAMA_MEDIA_H
#define DIORAMA_MEDIA_H

#include <stddef.h>
#include <stdint.h>

#include "api.h"
#include "plugin.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dio_video {
    uint32_t struct_size;
    int32_t width, height, frames;
    double fps;    /* frames per second (an image reads as 1 frame, fps 0) */
    uint8_t *rgb;  /* frames · height · width · 3 bytes */
} dio_video;

typedef struct dio_media_read_options {
    uint32_t struct_size;
    int32_t width, height; /* target size; 0 and 0 keep the file's own */
    int32_t max_frames;    /* read at most this many frames from the start; 0 = all */
    int32_t reserved0;
} dio_media_read_options;

/* Reads an image (PNG, JPEG, WebP, ...) or a video (any container and codec FFmpeg reads). A file
 * that is missing, corrupt, truncated, empty of video frames, or above the limits (16384 px a side,
 * 100,000 frames) is BAD_FORMAT or IO naming the path and the reason. */
DIO_API dio_status dio_media_read(const char *path, const dio_media_read_options *options, dio_video *out);
DIO_API void dio_video_free(dio_video *video);

typedef enum dio_media_format {
    DIO_MEDIA_AUTO = 0, /* from the extension: .mp4 .mkv .mov → video, .webp → animated WebP,
                           .png (or a path ending in '/') → a folder of PNG frames */
    DIO_MEDIA_MP4 = 1,
    DIO_MEDIA_WEBP = 2,
    DIO_MEDIA_PNG = 3,
    DIO_MEDIA_FORMAT_FORCE_32BIT = 0x7fffffff
} dio_media_format;

typedef struct dio_media_write_options {
    uint32_t struct_size;
    int32_t format;    /* dio_media_format */
    int32_t quality;   /* 0: the default; WebP 1..100, MP4 CRF-like 1..51 */
    int32_t reserved0;
    const dio_kv *metadata; /* key/value text stored in the file (MP4 tags, WebP XMP, PNG tEXt) */
    size_t n_metadata;
} dio_media_write_options;

/* Writes `video` at video->fps. MP4 uses H.264 when the encoder exists, else another codec FFmpeg
 * has (said in the log at INFO, and in the metadata key "codec"). PNG writes a folder PATH (the
 * ".png" suffix dropped, e.g. out.png → out/) holding 00000.png, 00001.png, ... */
DIO_API dio_status dio_media_write(const char *path, const dio_video *video,
                                   const dio_media_write_options *options);

typedef struct dio_media_info {
    uint32_t struct_size;
    int32_t width, height, frames;
    double fps;
    const char *container; /* "mp4", "webp", "png", ... */
    const char *codec;
    dio_kv *metadata; /* n_metadata entries, owned by the struct */
    size_t n_metadata;
    void *internal;
} dio_media_info;

/* What `diorama info FILE` prints: size, frame count, fps, codec and the stored metadata. */
DIO_API dio_status dio_media_info_read(const char *path, dio_media_info *out);
DIO_API void dio_media_info_free(dio_media_info *info);

#ifdef __cplusplus
}
#endif
#endif

/* libdiorama — helpers the media files share (defined in media_read.c; hidden, never exported).
 * The limits every reader and writer applies are here too, so they cannot drift apart. */
#ifndef DIO_MEDIA_INTERNAL_H
#define DIO_MEDIA_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <libavformat/avformat.h>

#include "diorama/diorama.h"

#define MAX_SIDE 16384
#define MAX_FRAMES 100000

/* FFmpeg's log routed to ours, once per process. */
void dio_media_ffmpeg_setup(void);
/* The folder a PNG-frames path names ("out.png" → "out"), malloc'd. */
char *dio_media_png_folder(const char *path);
int dio_media_is_webp(const char *path);
dio_status dio_media_load_file(const char *path, uint8_t **data, size_t *size);
/* The fps of `frames` WebP frames lasting `total_ms` in all (their durations are whole ms). */
double dio_media_webp_fps(int frames, int total_ms);
/* 1 for "00000.png"-style frame names. */
int dio_media_is_frame_name(const char *name);
/* Opens `path` with the file protocol only and image2 patterns off. */
dio_status dio_media_open_input(const char *path, AVFormatContext **out);
int dio_media_is_image_demuxer(const AVFormatContext *fmt);

#endif

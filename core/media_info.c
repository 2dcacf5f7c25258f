/* libdiorama — what a written video holds (dio_media_info_read): size, frame count, fps, container,
 * codec and the stored metadata, without decoding a frame.
 *
 * A PNG frame folder (or "X.png" standing for the folder X) is read from its first frame's chunks:
 * IHDR for the size, tEXt and uncompressed iTXt for the metadata (compressed text is skipped), the
 * key "fps" for the rate; the frame count is the number of NNNNN.png files. A WebP file goes through
 * libwebp's demuxer: canvas, frame count, the sum of the frame durations for the fps (snapped to the
 * rate the writer used, see dio_media_webp_fps), "vp8"/"vp8l" from the first frame, and our XMP
 * pairs (<dio:key>/<dio:value>, XML entities undone). Anything else goes through libavformat: the
 * container's frame count, or a count of the video packets when it has none; the tags of the file
 * (the MP4 brand tags major_brand, minor_version and compatible_brands left out), and for a single
 * PNG image its text chunks. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <webp/decode.h>
#include <webp/demux.h>

#include "diorama/diorama.h"
#include "media_internal.h"


typedef struct builder {
    dio_media_info info;
    size_t cap;
} builder;

static void builder_free(builder *b)
{
    for (size_t i = 0; i < b->info.n_metadata; i++) {
        free((char *)b->info.metadata[i].key);
        free((char *)b->info.metadata[i].value);
    }
    free(b->info.metadata);
    free((char *)b->info.container);
    free((char *)b->info.codec);
    memset(b, 0, sizeof(*b));
}

/* Takes ownership of key and value (both freed on failure). */
static int add_kv(builder *b, char *key, char *value)
{
    if (!key || !value) goto fail;
    if (b->info.n_metadata == b->cap) {
        size_t c = b->cap ? b->cap * 2 : 8;
        dio_kv *p = realloc(b->info.metadata, c * sizeof(*p));
        if (!p) goto fail;
        b->info.metadata = p;
        b->cap = c;
    }
    b->info.metadata[b->info.n_metadata].key = key;
    b->info.metadata[b->info.n_metadata].value = value;
    b->info.n_metadata++;
    return 1;
fail:
    free(key);
    free(value);
    return 0;
}

static int set_names(builder *b, const char *container, const char *codec)
{
    b->info.container = strdup(container);
    b->info.codec = strdup(codec);
    return b->info.container && b->info.codec;
}

static dio_status oom(const char *path)
{
    return dio_set_error(DIO_ERR_OUT_OF_HOST_MEMORY, "'%s': out of memory", path);
}

/* ---- PNG folders ---- */

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Latin-1 bytes as UTF-8. */
static char *latin1_to_utf8(const uint8_t *s, size_t n)
{
    char *out = malloc(2 * n + 1), *o = out;
    if (!out) return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < 0x80) {
            *o++ = (char)s[i];
        } else {
            *o++ = (char)(0xC0 | (s[i] >> 6));
            *o++ = (char)(0x80 | (s[i] & 0x3F));
        }
    }
    *o = 0;
    return out;
}

static dio_status png_chunks(const char *path, const char *file, builder *b)
{
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    uint8_t *data = NULL;
    size_t size = 0, pos = 8;
    dio_status st;
    int have_ihdr = 0;

    if ((st = dio_media_load_file(file, &data, &size)) != DIO_OK) return st;
    if (size < 8 || memcmp(data, sig, 8) != 0) {
        st = dio_set_error(DIO_ERR_BAD_FORMAT, "'%s': '%s' is not a PNG file", path, file);
        goto fail;
    }
    while (pos + 12 <= size) {
        uint32_t len = get32(data + pos);
        const uint8_t *type = data + pos + 4, *d = data + pos + 8;
        if (len > size - pos - 12) {
            st = dio_set_error(DIO_ERR_BAD_FORMAT, "'%s': '%s' is truncated", path, file);
            goto fail;
        }
        if (memcmp(type, "IHDR", 4) == 0 && len >= 8) {
            uint32_t w = get32(d), h = get32(d + 4);
            if (w == 0 || h == 0 || w > 16384 || h > 16384) {
                st = dio_set_error(DIO_ERR_BAD_FORMAT, "'%s': '%s' is %ux%u px, beyond 16384 a side", path,
                                   file, w, h);
                goto fail;
            }
            b->info.width = (int32_t)w;
            b->info.height = (int32_t)h;
            have_ihdr = 1;
        } else if (memcmp(type, "tEXt", 4) == 0) {
            const uint8_t *z = memchr(d, 0, len);
            if (z && !add_kv(b, latin1_to_utf8(d, (size_t)(z - d)),
                             latin1_to_utf8(z + 1, len - (size_t)(z - d) - 1)))
                goto nomem;
        } else if (memcmp(type, "iTXt", 4) == 0) {
            /* keyword \0 flag method language \0 translated \0 text */
            const uint8_t *z = memchr(d, 0, len), *end = d + len;
            if (z && end - z >= 3 && z[1] == 0) {
                const uint8_t *lang = z + 3, *lz = memchr(lang, 0, (size_t)(end - lang));
                const uint8_t *tz = lz ? memchr(lz + 1, 0, (size_t)(end - lz - 1)) : NULL;
                if (tz && !add_kv(b, latin1_to_utf8(d, (size_t)(z - d)),
                                  strndup((const char *)tz + 1, (size_t)(end - tz - 1))))
                    goto nomem;
            }
        } else if (memcmp(type, "IEND", 4) == 0) {
            break;
        }
        pos += 12 + (size_t)len;
    }
    if (!have_ihdr) {
        st = dio_set_error(DIO_ERR_BAD_FORMAT, "'%s': '%s' has no IHDR", path, file);
        goto fail;
    }
    st = DIO_OK;
    goto fail;
nomem:
    st = oom(path);
fail:
    free(data);
    return st;
}

static dio_status info_png_folder(const char *path, const char *folder, builder *b)
{
    DIR *d = opendir(folder);
    struct dirent *e;
    char *first = NULL, *file = NULL;
    dio_status st;
    int32_t n = 0;

    if (!d) return dio_set_error(DIO_ERR_IO, "cannot open '%s': %s", folder, strerror(errno));
    while ((e = readdir(d))) {
        if (!dio_media_is_frame_name(e->d_name)) continue;
        n++;
        size_t l = strlen(e->d_name);
        if (!first || l < strlen(first) || (l == strlen(first) && strcmp(e->d_name, first) < 0)) {
            free(first);
            if (!(first = strdup(e->d_name))) {
                st = oom(path);
                goto fail;
            }
        }
    }
    if (n == 0) {
        st = dio_set_error(DIO_ERR_BAD_FORMAT, "'%s': a folder without PNG frames (00000.png, ...)", path);
        goto fail;
    }
    if (!(file = malloc(strlen(folder) + strlen(first) + 2))) {
        st = oom(path);
        goto fail;
    }
    sprintf(file, "%s/%s", folder, first);
    if ((st = png_chunks(path, file, b)) != DIO_OK) goto fail;
    b->info.frames = n;
    for (size_t i = 0; i < b->info.n_metadata; i++)
        if (strcmp(b->info.metadata[i].key, "fps") == 0) {
            double fps = strtod(b->info.metadata[i].value, NULL);
            if (fps > 0 && fps <= 1000) b->info.fps = fps;
        }
    if (!set_names(b, "png", "png")) st = oom(path);
fail:
    closedir(d);
    free(first);
    free(file);
    return st;
}

/* ---- WebP ---- */

/* XML text with the five named entities and numeric references undone. */
static char *xml_unescape(const char *s, size_t n)
{
    char *out = malloc(n + 1), *o = out;
    if (!out) return NULL;
    for (size_t i = 0; i < n;) {
        if (s[i] != '&') {
            *o++ = s[i++];
            continue;
        }
        const char *semi = memchr(s + i, ';', n - i);
        size_t el = semi ? (size_t)(semi - (s + i)) + 1 : 0;
        static const char *const names[5] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"};
        static const char chars[5] = {'&', '<', '>', '"', '\''};
        int done = 0;
        for (int k = 0; k < 5 && !done; k++)
            if (el == strlen(names[k]) && memcmp(s + i, names[k], el) == 0) {
                *o++ = chars[k];
                done = 1;
            }
        if (!done && el > 3 && s[i + 1] == '#') {
            int hex = s[i + 2] == 'x' || s[i + 2] == 'X';
            char *endp;
            unsigned long cp = strtoul(s + i + 2 + hex, &endp, hex ? 16 : 10);
            if (endp == semi && cp > 0 && cp <= 0x10FFFF) {
                if (cp < 0x80) {
                    *o++ = (char)cp;
                } else if (cp < 0x800) {
                    *o++ = (char)(0xC0 | (cp >> 6));
                    *o++ = (char)(0x80 | (cp & 0x3F));
                } else if (cp < 0x10000) {
                    *o++ = (char)(0xE0 | (cp >> 12));
                    *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
                    *o++ = (char)(0x80 | (cp & 0x3F));
                } else {
                    *o++ = (char)(0xF0 | (cp >> 18));
                    *o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
                    *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
                    *o++ = (char)(0x80 | (cp & 0x3F));
                }
                done = 1;
            }
        }
        if (done) {
            i += el;
        } else {
            *o++ = s[i++];
        }
    }
    *o = 0;
    return out;
}

static const char *find_in(const char *s, const char *end, const char *needle)
{
    size_t n = strlen(needle);
    for (; s && s + n <= end; s++) {
        s = memchr(s, needle[0], (size_t)(end - s));
        if (!s || s + n > end) return NULL;
        if (memcmp(s, needle, n) == 0) return s;
    }
    return NULL;
}

static int parse_xmp(const char *x, size_t n, builder *b)
{
    const char *end = x + n, *p = x;
    while ((p = find_in(p, end, "<dio:key>"))) {
        const char *k0 = p + 9, *k1 = find_in(k0, end, "</dio:key>");
        if (!k1) break;
        const char *v = find_in(k1, end, "<dio:value>");
        const char *v0 = v ? v + 11 : NULL, *v1 = v0 ? find_in(v0, end, "</dio:value>") : NULL;
        if (!v1) break;
        if (!add_kv(b, xml_unescape(k0, (size_t)(k1 - k0)), xml_unescape(v0, (size_t)(v1 - v0)))) return 0;
        p = v1;
    }
    return 1;
}

static dio_status info_webp(const char *path, builder *b)
{
    uint8_t *bytes = NULL;
    size_t size = 0;
    WebPDemuxer *demux = NULL;
    WebPIterator it;
    WebPChunkIterator chunk;
    dio_status st;
    const char *codec = "webp";

    if ((st = dio_media_load_file(path, &bytes, &size)) != DIO_OK) return st;
    WebPData data = {bytes, size};
    if (!(demux = WebPDemux(&data))) {
        st = dio_set_error(DIO_ERR_BAD_FORMAT, "'%s': not a valid WebP file (corrupt or truncated)", path);
        goto fail;
    }
    uint32_t flags = WebPDemuxGetI(demux, WEBP_FF_FORMAT_FLAGS);
    b->info.width = (int32_t)WebPDemuxGetI(demux, WEBP_FF_CANVAS_WIDTH);
    b->info.height = (int32_t)WebPDemuxGetI(demux, WEBP_FF_CANVAS_HEIGHT);
    b->info.frames = (int32_t)WebPDemuxGetI(demux, WEBP_FF_FRAME_COUNT);
    if (WebPDemuxGetFrame(demux, 1, &it)) {
        WebPBitstreamFeatures feat;
        if (WebPGetFeatures(it.fragment.bytes, it.fragment.size, &feat) == VP8_STATUS_OK)
            codec = feat.format == 2 ? "vp8l" : feat.format == 1 ? "vp8" : "webp";
        int total = 0;
        do total += it.duration;
        while (WebPDemuxNextFrame(&it));
        WebPDemuxReleaseIterator(&it);
        if (flags & ANIMATION_FLAG) b->info.fps = dio_media_webp_fps(b->info.frames, total);
    }
    if ((flags & XMP_FLAG) && WebPDemuxGetChunk(demux, "XMP ", 1, &chunk)) {
        int ok = parse_xmp((const char *)chunk.chunk.bytes, chunk.chunk.size, b);
        WebPDemuxReleaseChunkIterator(&chunk);
        if (!ok) {
            st = oom(path);
            goto fail;
        }
    }
    if (!set_names(b, "webp", codec)) {
        st = oom(path);
        goto fail;
    }
    st = DIO_OK;
fail:
    WebPDemuxDelete(demux);
    free(bytes);
    return st;
}

/* ---- FFmpeg ---- */

/* The demuxer's short name: the entry of a list ("mov,mp4,m4a,...") that the file's extension
 * names, else the first; image pipes ("png_pipe") without the suffix. */
static char *container_name(const char *demuxer, const char *path)
{
    const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
    const char *ext = (dot && (!slash || dot > slash)) ? dot + 1 : NULL;
    size_t n = strlen(demuxer);
    if (n > 5 && strcmp(demuxer + n - 5, "_pipe") == 0) return strndup(demuxer, n - 5);
    if (strcmp(demuxer, "image2") == 0 && ext) return strdup(ext);
    for (const char *p = demuxer; ext && *p;) {
        const char *comma = strchr(p, ',');
        size_t l = comma ? (size_t)(comma - p) : strlen(p);
        if (l == strlen(ext) && strncasecmp(p, ext, l) == 0) return strndup(p, l);
        if (!comma) break;
        p = comma + 1;
    }
    const char *comma = strchr(demuxer, ',');
    return comma ? strndup(demuxer, (size_t)(comma - demuxer)) : strdup(demuxer);
}

static dio_status info_ffmpeg(const char *path, builder *b)
{
    AVFormatContext *fmt = NULL;
    AVPacket *pkt = NULL;
    const AVDictionaryEntry *e = NULL;
    dio_status st;
    int idx;

    if ((st = dio_media_open_input(path, &fmt)) != DIO_OK) return st;
    idx = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    if (idx < 0) {
        st = dio_set_error(DIO_ERR_BAD_FORMAT, "'%s': no video stream", path);
        goto fail;
    }
    AVStream *s = fmt->streams[idx];
    b->info.width = s->codecpar->width;
    b->info.height = s->codecpar->height;
    if (b->info.width <= 0 || b->info.height <= 0) {
        st = dio_set_error(DIO_ERR_BAD_FORMAT, "'%s': the video stream has no frame size", path);
        goto fail;
    }
    if (dio_media_is_image_demuxer(fmt)) {
        b->info.frames = 1;
        b->info.fps = 0;
    } else {
        AVRational r = av_guess_frame_rate(fmt, s, NULL);
        b->info.fps = (r.num > 0 && r.den > 0) ? av_q2d(r) : 0;
        if (s->nb_frames > 0) {
            b->info.frames = s->nb_frames > INT32_MAX ? INT32_MAX : (int32_t)s->nb_frames;
        } else {
            int ret;
            int64_t count = 0;
            if (!(pkt = av_packet_alloc())) {
                st = oom(path);
                goto fail;
            }
            while ((ret = av_read_frame(fmt, pkt)) >= 0) {
                if (pkt->stream_index == idx) count++;
                av_packet_unref(pkt);
            }
            b->info.frames = count > INT32_MAX ? INT32_MAX : (int32_t)count;
        }
    }
    char *container = container_name(fmt->iformat->name, path);
    if (!container) {
        st = oom(path);
        goto fail;
    }
    b->info.container = container;
    if (!(b->info.codec = strdup(avcodec_get_name(s->codecpar->codec_id)))) {
        st = oom(path);
        goto fail;
    }
    /* A single PNG image: its text chunks are the metadata (FFmpeg keeps them per frame). */
    if (s->codecpar->codec_id == AV_CODEC_ID_PNG && dio_media_is_image_demuxer(fmt) &&
        (st = png_chunks(path, path, b)) != DIO_OK)
        goto fail;
    while ((e = av_dict_get(fmt->metadata, "", e, AV_DICT_IGNORE_SUFFIX))) {
        if (strcmp(e->key, "major_brand") == 0 || strcmp(e->key, "minor_version") == 0 ||
            strcmp(e->key, "compatible_brands") == 0)
            continue;
        if (!add_kv(b, strdup(e->key), strdup(e->value))) {
            st = oom(path);
            goto fail;
        }
    }
    st = DIO_OK;
fail:
    av_packet_free(&pkt);
    avformat_close_input(&fmt);
    return st;
}

/* ---- the entry points ---- */

dio_status dio_media_info_read(const char *path, dio_media_info *out)
{
    builder b;
    dio_status st;
    char *folder = NULL;
    struct stat sb;

    if (!path || !out)
        return dio_set_error(DIO_ERR_INVALID_ARGUMENT, "dio_media_info_read: NULL path or output");
    memset(&b, 0, sizeof(b));
    if ((folder = dio_media_png_folder(path)))
        st = info_png_folder(path, folder, &b);
    else if (stat(path, &sb) != 0)
        st = dio_set_error(DIO_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    else if (!S_ISREG(sb.st_mode))
        st = dio_set_error(DIO_ERR_BAD_FORMAT, "'%s' is not a regular file", path);
    else if (sb.st_size == 0)
        st = dio_set_error(DIO_ERR_BAD_FORMAT, "'%s' is empty", path);
    else if (dio_media_is_webp(path))
        st = info_webp(path, &b);
    else
        st = info_ffmpeg(path, &b);
    free(folder);
    if (st != DIO_OK) {
        builder_free(&b);
        return st;
    }
    b.info.struct_size = sizeof(b.info);
    *out = b.info;
    return DIO_OK;
}

void dio_media_info_free(dio_media_info *info)
{
    builder b;
    if (!info) return;
    memset(&b, 0, sizeof(b));
    b.info = *info;
    builder_free(&b);
    uint32_t size = info->struct_size;
    memset(info, 0, sizeof(*info));
    info->struct_size = size;
}

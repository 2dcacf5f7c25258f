/* libdiorama — reading images and videos into 8-bit RGB frames (dio_media_read).
 *
 * Three sources: a WebP file (still or animated) is decoded by libwebp's animation decoder, because
 * FFmpeg 5.1 cannot decode animated WebP; a folder of PNG frames (what dio_media_write writes for PNG,
 * also reached as "out.png" when only the folder "out/" exists) is read file by file in name order;
 * anything else goes through libavformat/libavcodec, opened as "file:PATH" with only the file protocol
 * allowed and image2 patterns off, so a path is always a path. Every decoded frame is converted and
 * scaled by libswscale (bilinear) to the size that covers the target, scale = max(W_t/W, H_t/H) and
 * ceil(scale·H) × ceil(scale·W) computed in double as the reference does, then the centre is cropped
 * at torchvision's offsets (round half to even of the margin / 2). YUV sources use the colour matrix
 * and range their frames carry (BT.601 when untagged); alpha is dropped.
 *
 * A corrupt packet or frame, a read error before the end, or fewer frames than an MP4 index lists
 * (a truncated file) is BAD_FORMAT naming the path; so is a file with no decodable video frame or
 * beyond the limits (16384 px a side, 100,000 frames). FFmpeg's own log lines are routed to
 * dio_log at DEBUG, so a bad file never floods stderr.
 *
 * A few helpers here are shared with media_write.c and media_info.c (hidden, not part of the ABI):
 * the FFmpeg log hook, the PNG-folder resolution, WebP sniffing, whole-file reading and the WebP fps. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
#include <webp/decode.h>
#include <webp/demux.h>

#include "diorama/diorama.h"
#include "media_internal.h"

/* ---- shared helpers ---- */

static void ffmpeg_log(void *avcl, int level, const char *fmt, va_list ap)
{
    char line[1024];
    (void)avcl;
    if (level > AV_LOG_WARNING || dio_log_get_level() < DIO_LOG_DEBUG) return;
    vsnprintf(line, sizeof(line), fmt, ap);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
    dio_log(DIO_LOG_DEBUG, "ffmpeg", "%s", line);
}

static void ffmpeg_setup_once(void)
{
    av_log_set_callback(ffmpeg_log);
}

void dio_media_ffmpeg_setup(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, ffmpeg_setup_once);
}

/* "00000.png", "00001.png", ...: five or more digits and ".png". */
int dio_media_is_frame_name(const char *name)
{
    size_t n = 0;
    while (name[n] >= '0' && name[n] <= '9') n++;
    return n >= 5 && strcmp(name + n, ".png") == 0;
}

static int is_dir(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* The PNG frame folder `path` names: itself when it is a directory, or "X" for "X.png" when X.png
 * does not exist and X is a directory. NULL when it names none (or on out of memory). */
char *dio_media_png_folder(const char *path)
{
    struct stat sb;
    size_t n = strlen(path);
    if (is_dir(path)) return strdup(path);
    if (n > 4 && strcmp(path + n - 4, ".png") == 0 && stat(path, &sb) != 0) {
        char *d = strndup(path, n - 4);
        if (d && is_dir(d)) return d;
        free(d);
    }
    return NULL;
}

int dio_media_is_webp(const char *path)
{
    unsigned char h[12];
    FILE *f = fopen(path, "rb");
    int yes = 0;
    if (!f) return 0;
    if (fread(h, 1, 12, f) == 12) yes = memcmp(h, "RIFF", 4) == 0 && memcmp(h + 8, "WEBP", 4) == 0;
    fclose(f);
    return yes;
}

dio_status dio_media_load_file(const char *path, uint8_t **data, size_t *size)
{
    FILE *f = NULL;
    uint8_t *buf = NULL;
    long len;
    dio_status st;
    if (!(f = fopen(path, "rb")))
        return dio_set_error(DIO_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        st = dio_set_error(DIO_ERR_IO, "cannot read '%s': %s", path, strerror(errno));
        goto fail;
    }
    if (!(buf = malloc(len ? (size_t)len : 1))) {
        st = dio_set_error(DIO_ERR_OUT_OF_HOST_MEMORY, "'%s': out of memory for %ld bytes", path, len);
        goto fail;
    }
    if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
        st = dio_set_error(DIO_ERR_IO, "cannot read '%s'", path);
        goto fail;
    }
    fclose(f);
    *data = buf;
    *size = (size_t)len;
    return DIO_OK;
fail:
    free(buf);
    fclose(f);
    return st;
}

/* WebP stores whole milliseconds per frame. The writer timestamps frame i at round(i·1000/fps), so the
 * total is round(N·1000/fps); an integer or NTSC (k·1000/1001) rate that reproduces the total is taken,
 * else N·1000/total. */
double dio_media_webp_fps(int frames, int total_ms)
{
    if (frames <= 0 || total_ms <= 0) return 0;
    double est = frames * 1000.0 / total_ms;
    for (int k = (int)floor(est) - 1; k <= (int)ceil(est) + 1; k++) {
        if (k <= 0) continue;
        if (llround(frames * 1000.0 / k) == total_ms) return k;
    }
    for (int k = (int)floor(est * 1.001) - 1; k <= (int)ceil(est * 1.001) + 1; k++) {
        if (k <= 0) continue;
        if (llround(frames * 1001.0 / k) == total_ms) return k * 1000.0 / 1001.0;
    }
    return est;
}

/* ---- the frame accumulator: cover-resize, centre crop, append ---- */

typedef struct acc {
    const char *path;
    int tw, th;     /* target; 0 until the first frame when the file's own size is kept */
    int max_frames; /* 0: all */
    int32_t frames;
    size_t cap; /* frames the buffer holds */
    uint8_t *rgb;
    struct SwsContext *sws;
    uint8_t *tmp; /* the covering frame before the crop */
    size_t tmp_size;
} acc;

static int acc_full(const acc *a)
{
    return a->max_frames > 0 && a->frames >= a->max_frames;
}

/* torchvision's center_crop offset: int(round(margin / 2.0)), Python rounding half to even. */
static int crop_offset(int margin)
{
    int k = margin / 2;
    if (margin % 2 == 0) return k;
    return (k % 2 == 0) ? k : k + 1;
}

static int sws_matrix(int colorspace)
{
    switch (colorspace) {
    case AVCOL_SPC_BT709: return SWS_CS_ITU709;
    case AVCOL_SPC_FCC: return SWS_CS_FCC;
    case AVCOL_SPC_SMPTE240M: return SWS_CS_SMPTE240M;
    case AVCOL_SPC_BT2020_NCL:
    case AVCOL_SPC_BT2020_CL: return SWS_CS_BT2020;
    default: return SWS_CS_ITU601;
    }
}

/* The deprecated full-range "J" formats as their plain twins plus a full range. */
static enum AVPixelFormat unjpeg(enum AVPixelFormat f, int *full_range)
{
    switch (f) {
    case AV_PIX_FMT_YUVJ420P: *full_range = 1; return AV_PIX_FMT_YUV420P;
    case AV_PIX_FMT_YUVJ422P: *full_range = 1; return AV_PIX_FMT_YUV422P;
    case AV_PIX_FMT_YUVJ444P: *full_range = 1; return AV_PIX_FMT_YUV444P;
    case AV_PIX_FMT_YUVJ440P: *full_range = 1; return AV_PIX_FMT_YUV440P;
    case AV_PIX_FMT_YUVJ411P: *full_range = 1; return AV_PIX_FMT_YUV411P;
    default: return f;
    }
}

static dio_status acc_push(acc *a, const uint8_t *const data[4], const int linesize[4], int w, int h,
                           enum AVPixelFormat fmt, int colorspace, int full_range)
{
    if (w <= 0 || h <= 0 || w > MAX_SIDE || h > MAX_SIDE)
        return dio_set_error(DIO_ERR_BAD_FORMAT, "'%s': frame size %dx%d is outside 1..%d px a side", a->path,
                             w, h, MAX_SIDE);
    if (a->frames >= MAX_FRAMES)
        return dio_set_error(DIO_ERR_BAD_FORMAT, "'%s': more than %d frames (set max_frames)", a->path,
                             MAX_FRAMES);
    if (a->tw == 0) {
        a->tw = w;
        a->th = h;
    }
    fmt = unjpeg(fmt, &full_range);
    /* The covering size, in double exactly as the reference computes it. */
    double scale = fmax((double)a->tw / w, (double)a->th / h);
    double dnw = ceil(scale * w), dnh = ceil(scale * h);
    if (dnw > 4.0 * MAX_SIDE || dnh > 4.0 * MAX_SIDE ||
        av_image_check_size((unsigned)dnw, (unsigned)dnh, 0, NULL) < 0)
        return dio_set_error(DIO_ERR_BAD_FORMAT,
                             "'%s': cannot scale a %dx%d frame to cover %dx%d (%.0fx%.0f)", a->path, w, h,
                             a->tw, a->th, dnw, dnh);
    int nw = (int)dnw, nh = (int)dnh;
    size_t frame_bytes = (size_t)a->tw * (size_t)a->th * 3;
    size_t tmp_bytes = (size_t)nw * (size_t)nh * 3;
    if (a->frames == (int32_t)a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 4;
        if (a->max_frames > 0 && cap > (size_t)a->max_frames) cap = (size_t)a->max_frames;
        if (cap > MAX_FRAMES) cap = MAX_FRAMES;
        uint8_t *p = realloc(a->rgb, cap * frame_bytes);
        if (!p)
            return dio_set_error(DIO_ERR_OUT_OF_HOST_MEMORY, "'%s': out of memory for %zu frames of %dx%d",
                                 a->path, cap, a->tw, a->th);
        a->rgb = p;
        a->cap = cap;
    }
    if (tmp_bytes > a->tmp_size) {
        uint8_t *p = realloc(a->tmp, tmp_bytes);
        if (!p) return dio_set_error(DIO_ERR_OUT_OF_HOST_MEMORY, "'%s': out of memory", a->path);
        a->tmp = p;
        a->tmp_size = tmp_bytes;
    }
    a->sws = sws_getCachedContext(a->sws, w, h, fmt, nw, nh, AV_PIX_FMT_RGB24,
                                  SWS_BILINEAR | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT | SWS_FULL_CHR_H_INP,
                                  NULL, NULL, NULL);
    if (!a->sws)
        return dio_set_error(DIO_ERR_BAD_FORMAT, "'%s': cannot convert %s frames of %dx%d to RGB", a->path,
                             av_get_pix_fmt_name(fmt) ? av_get_pix_fmt_name(fmt) : "?", w, h);
    const AVPixFmtDescriptor *desc = av_pix_fmt_desc_get(fmt);
    if (desc && !(desc->flags & AV_PIX_FMT_FLAG_RGB) && desc->nb_components >= 3) {
        const int *coef = sws_getCoefficients(sws_matrix(colorspace));
        sws_setColorspaceDetails(a->sws, coef, full_range, sws_getCoefficients(SWS_CS_DEFAULT), 1, 0, 1 << 16,
                                 1 << 16);
    }
    uint8_t *dst[4] = {a->tmp, NULL, NULL, NULL};
    int dst_ls[4] = {nw * 3, 0, 0, 0};
    if (sws_scale(a->sws, data, linesize, 0, h, dst, dst_ls) != nh)
        return dio_set_error(DIO_ERR_BAD_FORMAT, "'%s': cannot convert frame %d to RGB", a->path, a->frames);
    int top = crop_offset(nh - a->th), left = crop_offset(nw - a->tw);
    uint8_t *out = a->rgb + (size_t)a->frames * frame_bytes;
    for (int y = 0; y < a->th; y++)
        memcpy(out + (size_t)y * a->tw * 3, a->tmp + ((size_t)(y + top) * nw + left) * 3, (size_t)a->tw * 3);
    a->frames++;
    return DIO_OK;
}

static void acc_release(acc *a)
{
    sws_freeContext(a->sws);
    free(a->tmp);
    a->sws = NULL;
    a->tmp = NULL;
}

/* ---- FFmpeg ---- */

static dio_status av_fail(const char *path, const char *what, int err)
{
    char msg[AV_ERROR_MAX_STRING_SIZE] = {0};
    av_strerror(err, msg, sizeof(msg));
    return dio_set_error(DIO_ERR_BAD_FORMAT, "'%s': %s: %s", path, what, msg);
}

static dio_status push_frame(acc *a, const AVFrame *f)
{
    if (f->decode_error_flags || (f->flags & AV_FRAME_FLAG_CORRUPT))
        return dio_set_error(DIO_ERR_BAD_FORMAT, "'%s': frame %d is corrupt", a->path, a->frames);
    return acc_push(a, (const uint8_t *const *)f->data, f->linesize, f->width, f->height, f->format,
                    f->colorspace, f->color_range == AVCOL_RANGE_JPEG);
}

static dio_status drain(AVCodecContext *dec, AVFrame *frame, acc *a)
{
    for (;;) {
        int ret = avcodec_receive_frame(dec, frame);
        if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) return DIO_OK;
        if (ret < 0) return av_fail(a->path, "cannot decode", ret);
        dio_status st = acc_full(a) ? DIO_OK : push_frame(a, frame);
        av_frame_unref(frame);
        if (st != DIO_OK) return st;
    }
}

/* Opens `path` for reading with libavformat: file protocol only, no image2 patterns. */
dio_status dio_media_open_input(const char *path, AVFormatContext **out)
{
    AVFormatContext *fmt = NULL;
    AVDictionary *opts = NULL;
    char *url = NULL;
    size_t n = strlen(path);
    int ret;
    dio_media_ffmpeg_setup();
    if (!(url = malloc(n + 6))) return dio_set_error(DIO_ERR_OUT_OF_HOST_MEMORY, "out of memory");
    memcpy(url, "file:", 5);
    memcpy(url + 5, path, n + 1);
    av_dict_set(&opts, "protocol_whitelist", "file", 0);
    av_dict_set(&opts, "pattern_type", "none", 0);
    ret = avformat_open_input(&fmt, url, NULL, &opts);
    av_dict_free(&opts);
    free(url);
    if (ret < 0) return av_fail(path, "not a readable image or video", ret);
    ret = avformat_find_stream_info(fmt, NULL);
    if (ret < 0) {
        avformat_close_input(&fmt);
        return av_fail(path, "cannot read the stream parameters", ret);
    }
    *out = fmt;
    return DIO_OK;
}

int dio_media_is_image_demuxer(const AVFormatContext *fmt)
{
    const char *name = fmt->iformat->name;
    size_t n = strlen(name);
    return strcmp(name, "image2") == 0 || (n > 5 && strcmp(name + n - 5, "_pipe") == 0);
}

static dio_status read_ffmpeg(const char *path, acc *a, double *fps)
{
    AVFormatContext *fmt = NULL;
    AVCodecContext *dec = NULL;
    AVPacket *pkt = NULL;
    AVFrame *frame = NULL;
    const AVCodec *codec = NULL;
    dio_status st;
    int idx, ret;

    if ((st = dio_media_open_input(path, &fmt)) != DIO_OK) return st;
    idx = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (idx < 0) {
        st = dio_set_error(DIO_ERR_BAD_FORMAT, "'%s': %s", path,
                           idx == AVERROR_DECODER_NOT_FOUND ? "no decoder for its video stream"
                                                            : "no video stream");
        goto fail;
    }
    AVStream *stream = fmt->streams[idx];
    if (!(dec = avcodec_alloc_context3(codec)) || !(pkt = av_packet_alloc()) || !(frame = av_frame_alloc())) {
        st = dio_set_error(DIO_ERR_OUT_OF_HOST_MEMORY, "'%s': out of memory", path);
        goto fail;
    }
    if ((ret = avcodec_parameters_to_context(dec, stream->codecpar)) < 0 ||
        (ret = avcodec_open2(dec, codec, NULL)) < 0) {
        st = av_fail(path, "cannot open the decoder", ret);
        goto fail;
    }
    int read_error = 0;
    int64_t packets = 0;
    while (!acc_full(a)) {
        ret = av_read_frame(fmt, pkt);
        if (ret == AVERROR_EOF) break;
        if (ret < 0) {
            read_error = ret;
            break;
        }
        if (pkt->stream_index != idx) {
            av_packet_unref(pkt);
            continue;
        }
        packets++;
        if (pkt->flags & AV_PKT_FLAG_CORRUPT) {
            st = dio_set_error(DIO_ERR_BAD_FORMAT, "'%s': corrupt or truncated packet after %d frames", path,
                               a->frames);
            goto fail;
        }
        ret = avcodec_send_packet(dec, pkt);
        av_packet_unref(pkt);
        if (ret < 0 && ret != AVERROR(EAGAIN)) {
            st = av_fail(path, "cannot decode", ret);
            goto fail;
        }
        if ((st = drain(dec, frame, a)) != DIO_OK) goto fail;
    }
    if (read_error) {
        st = av_fail(path, "read error (corrupt or truncated file)", read_error);
        goto fail;
    }
    if (!acc_full(a)) {
        if ((ret = avcodec_send_packet(dec, NULL)) < 0 && ret != AVERROR_EOF) {
            st = av_fail(path, "cannot decode", ret);
            goto fail;
        }
        if ((st = drain(dec, frame, a)) != DIO_OK) goto fail;
    }
    if (a->frames == 0) {
        st = dio_set_error(DIO_ERR_BAD_FORMAT, "'%s': no video frame could be decoded", path);
        goto fail;
    }
    /* An MP4/MOV index lists every sample; fewer packets than that means the data ends early. (Packets,
     * not decoded frames: an edit list may legitimately hide decoded frames.) */
    if (!acc_full(a) && stream->nb_frames > 0 && packets < stream->nb_frames &&
        strstr(fmt->iformat->name, "mp4")) {
        st = dio_set_error(DIO_ERR_BAD_FORMAT, "'%s': truncated: %lld of the %lld samples its index lists",
                           path, (long long)packets, (long long)stream->nb_frames);
        goto fail;
    }
    if (dio_media_is_image_demuxer(fmt)) {
        *fps = 0;
    } else {
        AVRational r = av_guess_frame_rate(fmt, stream, NULL);
        *fps = (r.num > 0 && r.den > 0) ? av_q2d(r) : 0;
    }
    st = DIO_OK;
fail:
    av_frame_free(&frame);
    av_packet_free(&pkt);
    avcodec_free_context(&dec);
    avformat_close_input(&fmt);
    return st;
}

/* ---- WebP ---- */

static dio_status read_webp(const char *path, acc *a, double *fps)
{
    uint8_t *bytes = NULL;
    size_t size = 0;
    WebPAnimDecoder *dec = NULL;
    WebPDemuxer *demux = NULL; /* the header: the canvas check, then the frame durations (fps) */
    WebPAnimDecoderOptions dopt;
    WebPAnimInfo info;
    dio_status st;

    if ((st = dio_media_load_file(path, &bytes, &size)) != DIO_OK) return st;
    WebPData data = {bytes, size};
    if (!WebPAnimDecoderOptionsInit(&dopt)) {
        st = dio_set_error(DIO_ERR_INTERNAL, "libwebp: version mismatch");
        goto fail;
    }
    dopt.color_mode = MODE_RGBA;
    dopt.use_threads = 0;
    /* The canvas size comes from the file and the animation decoder allocates width · height · 4 bytes
     * for it at once, so the limits are checked on the demuxed header first (tests/fuzz/fuzz_media.c
     * found an 80 x 16.5M canvas asking for 5.3 GB). */
    demux = WebPDemux(&data);
    if (demux && (WebPDemuxGetI(demux, WEBP_FF_CANVAS_WIDTH) > MAX_SIDE ||
                  WebPDemuxGetI(demux, WEBP_FF_CANVAS_HEIGHT) > MAX_SIDE)) {
        st = dio_set_error(DIO_ERR_BAD_FORMAT, "'%s': %ux%u px is beyond the limits (16384 a side)", path,
                           WebPDemuxGetI(demux, WEBP_FF_CANVAS_WIDTH),
                           WebPDemuxGetI(demux, WEBP_FF_CANVAS_HEIGHT));
        goto fail;
    }
    if (!(dec = WebPAnimDecoderNew(&data, &dopt)) || !WebPAnimDecoderGetInfo(dec, &info)) {
        st = dio_set_error(DIO_ERR_BAD_FORMAT, "'%s': not a valid WebP file (corrupt or truncated)", path);
        goto fail;
    }
    if (info.canvas_width == 0 || info.canvas_height == 0 || info.canvas_width > MAX_SIDE ||
        info.canvas_height > MAX_SIDE || (info.frame_count > MAX_FRAMES && a->max_frames == 0)) {
        st = dio_set_error(DIO_ERR_BAD_FORMAT, "'%s': %ux%u px, %u frames is beyond the limits", path,
                           info.canvas_width, info.canvas_height, info.frame_count);
        goto fail;
    }
    int w = (int)info.canvas_width, h = (int)info.canvas_height;
    while (!acc_full(a) && WebPAnimDecoderHasMoreFrames(dec)) {
        uint8_t *rgba;
        int ts;
        if (!WebPAnimDecoderGetNext(dec, &rgba, &ts)) {
            st = dio_set_error(DIO_ERR_BAD_FORMAT, "'%s': cannot decode frame %d (corrupt or truncated)",
                               path, a->frames);
            goto fail;
        }
        const uint8_t *planes[4] = {rgba, NULL, NULL, NULL};
        int ls[4] = {w * 4, 0, 0, 0};
        if ((st = acc_push(a, planes, ls, w, h, AV_PIX_FMT_RGBA, AVCOL_SPC_RGB, 1)) != DIO_OK) goto fail;
    }
    if (a->frames == 0) {
        st = dio_set_error(DIO_ERR_BAD_FORMAT, "'%s': no frame in the WebP file", path);
        goto fail;
    }
    /* fps from the durations when the file is an animation (a still image reads as fps 0). */
    *fps = 0;
    {
        if (demux && (WebPDemuxGetI(demux, WEBP_FF_FORMAT_FLAGS) & ANIMATION_FLAG)) {
            /* The total of all durations, even when max_frames stopped early. */
            WebPIterator it;
            int total = 0, n = 0;
            if (WebPDemuxGetFrame(demux, 1, &it)) {
                do {
                    total += it.duration;
                    n++;
                } while (WebPDemuxNextFrame(&it));
                WebPDemuxReleaseIterator(&it);
            }
            *fps = dio_media_webp_fps(n, total);
        }
    }
    st = DIO_OK;
fail:
    WebPDemuxDelete(demux);
    WebPAnimDecoderDelete(dec);
    free(bytes);
    return st;
}

/* ---- PNG frame folders ---- */

static int cmp_names(const void *x, const void *y)
{
    const char *a = *(const char *const *)x, *b = *(const char *const *)y;
    size_t la = strlen(a), lb = strlen(b);
    return la != lb ? (la < lb ? -1 : 1) : strcmp(a, b);
}

static dio_status read_png_folder(const char *path, const char *folder, acc *a, double *fps)
{
    DIR *d = NULL;
    struct dirent *e;
    char **names = NULL, *file = NULL;
    size_t n = 0, cap = 0;
    dio_status st;
    dio_media_info info;

    if (!(d = opendir(folder)))
        return dio_set_error(DIO_ERR_IO, "cannot open '%s': %s", folder, strerror(errno));
    while ((e = readdir(d))) {
        if (!dio_media_is_frame_name(e->d_name)) continue;
        if (n == cap) {
            size_t c = cap ? cap * 2 : 64;
            char **p = realloc(names, c * sizeof(*p));
            if (!p) goto oom;
            names = p;
            cap = c;
        }
        if (!(names[n] = strdup(e->d_name))) goto oom;
        n++;
    }
    closedir(d);
    d = NULL;
    if (n == 0) {
        st = dio_set_error(DIO_ERR_BAD_FORMAT, "'%s': a folder without PNG frames (00000.png, ...)", path);
        goto fail;
    }
    if (n > MAX_FRAMES && a->max_frames == 0) {
        st =
            dio_set_error(DIO_ERR_BAD_FORMAT, "'%s': more than %d frames (set max_frames)", path, MAX_FRAMES);
        goto fail;
    }
    qsort(names, n, sizeof(*names), cmp_names);
    size_t flen = strlen(folder);
    for (size_t i = 0; i < n && !acc_full(a); i++) {
        size_t len = flen + strlen(names[i]) + 2;
        double ignore;
        if (!(file = malloc(len))) goto oom;
        snprintf(file, len, "%s/%s", folder, names[i]);
        acc one = *a;
        one.path = file;
        one.max_frames = a->frames + 1;
        st = read_ffmpeg(file, &one, &ignore);
        one.path = a->path;
        one.max_frames = a->max_frames;
        *a = one;
        if (st != DIO_OK) goto fail;
        free(file);
        file = NULL;
    }
    *fps = 0;
    memset(&info, 0, sizeof(info));
    info.struct_size = sizeof(info);
    if (dio_media_info_read(folder, &info) == DIO_OK) *fps = info.fps;
    dio_media_info_free(&info);
    dio_clear_error();
    st = DIO_OK;
    goto fail;
oom:
    st = dio_set_error(DIO_ERR_OUT_OF_HOST_MEMORY, "'%s': out of memory", path);
fail:
    if (d) closedir(d);
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    free(file);
    return st;
}

/* ---- the entry points ---- */

dio_status dio_media_read(const char *path, const dio_media_read_options *options, dio_video *out)
{
    acc a;
    dio_status st;
    double fps = 0;
    char *folder = NULL;
    struct stat sb;

    if (!path || !out) return dio_set_error(DIO_ERR_INVALID_ARGUMENT, "dio_media_read: NULL path or output");
    memset(&a, 0, sizeof(a));
    a.path = path;
    if (options) {
        if (options->struct_size >= offsetof(dio_media_read_options, height) + sizeof(int32_t)) {
            a.tw = options->width;
            a.th = options->height;
        }
        if (options->struct_size >= offsetof(dio_media_read_options, max_frames) + sizeof(int32_t))
            a.max_frames = options->max_frames;
    }
    if (a.tw < 0 || a.th < 0 || a.tw > MAX_SIDE || a.th > MAX_SIDE || (a.tw == 0) != (a.th == 0) ||
        a.max_frames < 0)
        return dio_set_error(
            DIO_ERR_INVALID_ARGUMENT,
            "dio_media_read '%s': target %dx%d, max_frames %d (sizes 1..%d, both or neither 0)", path, a.tw,
            a.th, a.max_frames, MAX_SIDE);
    if ((folder = dio_media_png_folder(path))) {
        st = read_png_folder(path, folder, &a, &fps);
    } else if (stat(path, &sb) != 0) {
        st = dio_set_error(DIO_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    } else if (!S_ISREG(sb.st_mode)) {
        st = dio_set_error(DIO_ERR_BAD_FORMAT, "'%s' is not a regular file", path);
    } else if (sb.st_size == 0) {
        st = dio_set_error(DIO_ERR_BAD_FORMAT, "'%s' is empty", path);
    } else if (dio_media_is_webp(path)) {
        st = read_webp(path, &a, &fps);
    } else {
        st = read_ffmpeg(path, &a, &fps);
    }
    free(folder);
    acc_release(&a);
    if (st != DIO_OK) {
        free(a.rgb);
        return st;
    }
    if (a.cap > (size_t)a.frames) { /* give back the unused tail */
        uint8_t *p = realloc(a.rgb, (size_t)a.frames * a.tw * a.th * 3);
        if (p) a.rgb = p;
    }
    memset(out, 0, sizeof(*out));
    out->struct_size = sizeof(*out);
    out->width = a.tw;
    out->height = a.th;
    out->frames = a.frames;
    out->fps = fps;
    out->rgb = a.rgb;
    return DIO_OK;
}

void dio_video_free(dio_video *video)
{
    if (!video) return;
    free(video->rgb);
    video->rgb = NULL;
    video->width = video->height = video->frames = 0;
    video->fps = 0;
}

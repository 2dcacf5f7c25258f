/* libdiorama — writing a video as MP4 (or MKV/MOV), animated WebP or a folder of PNG frames
 * (dio_media_write).
 *
 * MP4: libavformat + libavcodec. The encoder is the first of libx264, libopenh264 and mpeg4 that opens
 * (DIORAMA_MP4_ENCODER=NAME forces one, which is how the tests reach the fallback); the choice is
 * logged at INFO and stored in the metadata key "codec" (the codec name: "h264", "mpeg4"). Frames go
 * RGB → yuv420p (BT.709, limited range, tagged so) through libswscale; yuv420p needs even sides, so
 * an odd width or height is padded by repeating the last column / row (the file is one pixel larger
 * there; logged at INFO). The rate is video->fps as a rational (av_d2q, so 16 → 16/1 and 29.97 →
 * 30000/1001); quality is libx264's CRF (default 18) or, for mpeg4, qscale ≈ quality·31/51 (default
 * 3). Metadata become container tags; for MP4/MOV with movflags +use_metadata_tags (mdta keys), so
 * any key survives, and +faststart.
 *
 * WebP: libwebp's WebPAnimEncoder, frame i stamped at round(i·1000/fps) ms; quality 100 is lossless,
 * 1..99 lossy at that quality, 0 lossy 90. Metadata go in an XMP chunk (libwebpmux) holding our own
 * small RDF: a sequence of <dio:key>/<dio:value> pairs, XML-escaped (tab, CR and LF as character
 * references so they survive XML whitespace rules).
 *
 * PNG: FFmpeg's png encoder per frame (paeth prediction); the metadata go into 00000.png as tEXt
 * chunks (iTXt when a value is not plain ASCII), spliced after IHDR with their CRCs, plus "fps" (when
 * the caller gave no "fps" key) so the folder reads back at its rate.
 *
 * Atomic: an MP4/WebP file is written to a mkstemp name ".NAME.tmp-XXXXXX" beside the target, fsynced
 * and renamed over it (the MP4 muxer writes through our own AVIOContext on that file's descriptor, so
 * each write, the fsync and the close are checked here); a PNG folder is built in a mkdtemp folder beside it
 * and renamed into place. An existing PNG frame folder is replaced (moved aside, then its frames removed);
 * any other existing folder is left alone and the write fails. On any failure the temporary file or folder is
 * removed.
 *
 * Keys are 1..79 printable ASCII characters without leading or trailing space (what PNG allows); a
 * value may hold any text but control characters other than tab, CR and LF. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/crc.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>
#include <webp/encode.h>
#include <webp/mux.h>

#include "diorama/diorama.h"
#include "media_internal.h"

/* ---- paths ---- */

static char *join3(const char *a, const char *b, const char *c)
{
    size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
    char *s = malloc(la + lb + lc + 1);
    if (!s) return NULL;
    memcpy(s, a, la);
    memcpy(s + la, b, lb);
    memcpy(s + la + lb, c, lc + 1);
    return s;
}

/* "<dir>/.<base><suffix>" for `path` = "<dir>/<base>" (dir "." when there is no slash). */
static char *sibling(const char *path, const char *suffix)
{
    const char *slash = strrchr(path, '/');
    char *dir, *s;
    if (slash) {
        if (!(dir = strndup(path, (size_t)(slash - path + 1)))) return NULL;
    } else if (!(dir = strdup(""))) {
        return NULL;
    }
    char *base = join3(".", slash ? slash + 1 : path, suffix);
    s = base ? join3(dir, base, "") : NULL;
    free(base);
    free(dir);
    return s;
}

static void fsync_path(const char *path, int dir)
{
    int fd = open(path, (dir ? O_DIRECTORY : 0) | O_RDONLY);
    if (fd < 0) return;
    (void)fsync(fd);
    close(fd);
}

static void fsync_parent(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, (size_t)(slash - path) + (slash == path)) : strdup(".");
    if (dir) fsync_path(dir, 1);
    free(dir);
}

/* The process umask, read without changing it (umask() would, for a moment, for every thread). */
static mode_t current_umask(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    unsigned int m = 022;
    if (!f) return 022;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "Umask: %o", &m) == 1) break;
    fclose(f);
    return (mode_t)(m & 0777);
}

/* Removes a folder we built or replace: only its frame files, then the folder. */
static void remove_frame_folder(const char *folder)
{
    DIR *d = opendir(folder);
    struct dirent *e;
    if (d) {
        while ((e = readdir(d))) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            char *f = join3(folder, "/", e->d_name);
            if (f) unlink(f);
            free(f);
        }
        closedir(d);
    }
    rmdir(folder);
}

/* 1: an existing folder holding only PNG frame files (safe to replace); 0: anything else. */
static int is_frame_folder(const char *folder)
{
    DIR *d = opendir(folder);
    struct dirent *e;
    int ok = 1;
    if (!d) return 0;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        if (!dio_media_is_frame_name(e->d_name)) ok = 0;
    }
    closedir(d);
    return ok;
}

/* ---- checks ---- */

static dio_status check_metadata(const char *path, const dio_kv *kv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *k = kv[i].key, *v = kv[i].value;
        size_t len = k ? strlen(k) : 0;
        int ok = len >= 1 && len <= 79 && k[0] != ' ' && k[len - 1] != ' ';
        for (size_t j = 0; ok && j < len; j++) ok = k[j] >= 0x20 && k[j] < 0x7f;
        if (!ok)
            return dio_set_error(DIO_ERR_INVALID_ARGUMENT,
                                 "dio_media_write '%s': metadata key \"%s\" must be 1..79 printable ASCII "
                                 "characters without leading or trailing space",
                                 path, k ? k : "(null)");
        if (!v)
            return dio_set_error(DIO_ERR_INVALID_ARGUMENT,
                                 "dio_media_write '%s': metadata \"%s\" has no value", path, k);
        for (const unsigned char *p = (const unsigned char *)v; *p; p++)
            if (*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r')
                return dio_set_error(DIO_ERR_INVALID_ARGUMENT,
                                     "dio_media_write '%s': metadata \"%s\" holds control character 0x%02x",
                                     path, k, *p);
    }
    return DIO_OK;
}

/* The frame rate as a rational; fps 0 on a single frame (an image) is 1 fps. */
static int rate_of(const dio_video *v, AVRational *r)
{
    double fps = v->fps;
    if (fps == 0 && v->frames == 1) fps = 1;
    if (!(fps > 0 && fps <= 1000)) return 0;
    *r = av_d2q(fps, 1001000);
    return r->num > 0 && r->den > 0;
}

/* ---- MP4 (and MKV / MOV) ---- */

static dio_status av_err(const char *path, const char *what, int err)
{
    char msg[AV_ERROR_MAX_STRING_SIZE] = {0};
    av_strerror(err, msg, sizeof(msg));
    return dio_set_error(err == AVERROR(ENOMEM) ? DIO_ERR_OUT_OF_HOST_MEMORY : DIO_ERR_IO, "'%s': %s: %s",
                         path, what, msg);
}

/* Opens the first encoder that works on `enc` settings; returns it or NULL. */
static AVCodecContext *open_encoder(const char *path, int w, int h, AVRational rate, int quality,
                                    int global_header, const AVCodec **used)
{
    static const char *const names[] = {"libx264", "libopenh264", "mpeg4"};
    const char *forced = getenv("DIORAMA_MP4_ENCODER");
    size_t count = forced && *forced ? 1 : sizeof(names) / sizeof(names[0]);
    for (size_t i = 0; i < count; i++) {
        const char *name = forced && *forced ? forced : names[i];
        const AVCodec *c = avcodec_find_encoder_by_name(name);
        AVCodecContext *enc;
        AVDictionary *opts = NULL;
        char buf[32];
        int ret;
        if (!c || c->type != AVMEDIA_TYPE_VIDEO) {
            dio_log(DIO_LOG_DEBUG, "media", "%s: no video encoder %s in this FFmpeg", path, name);
            continue;
        }
        if (!(enc = avcodec_alloc_context3(c))) return NULL;
        enc->width = w;
        enc->height = h;
        enc->pix_fmt = AV_PIX_FMT_YUV420P;
        enc->time_base = av_inv_q(rate);
        enc->framerate = rate;
        enc->sample_aspect_ratio = (AVRational){1, 1};
        enc->color_range = AVCOL_RANGE_MPEG;
        enc->colorspace = AVCOL_SPC_BT709;
        enc->color_primaries = AVCOL_PRI_BT709;
        enc->color_trc = AVCOL_TRC_BT709;
        if (global_header) enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
        if (strcmp(name, "libx264") == 0) {
            snprintf(buf, sizeof(buf), "%d", quality ? quality : 18);
            av_dict_set(&opts, "crf", buf, 0);
            av_dict_set(&opts, "preset", "medium", 0);
        } else if (c->id == AV_CODEC_ID_MPEG4) {
            int q = quality ? (int)lround(quality * 31.0 / 51.0) : 3;
            enc->flags |= AV_CODEC_FLAG_QSCALE;
            enc->global_quality = FF_QP2LAMBDA * (q < 2 ? 2 : q > 31 ? 31 : q);
            enc->gop_size = 12;
        }
        ret = avcodec_open2(enc, c, &opts);
        av_dict_free(&opts);
        if (ret >= 0) {
            *used = c;
            return enc;
        }
        dio_log(DIO_LOG_DEBUG, "media", "%s: encoder %s does not open", path, name);
        avcodec_free_context(&enc);
    }
    return NULL;
}

static dio_status write_packets(AVFormatContext *oc, AVCodecContext *enc, AVStream *st, AVPacket *pkt,
                                const char *path)
{
    for (;;) {
        int ret = avcodec_receive_packet(enc, pkt);
        if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) return DIO_OK;
        if (ret < 0) return av_err(path, "encoding failed", ret);
        av_packet_rescale_ts(pkt, enc->time_base, st->time_base);
        pkt->stream_index = st->index;
        ret = av_interleaved_write_frame(oc, pkt);
        if (ret < 0) return av_err(path, "cannot write", ret);
    }
}

static const char *muxer_for(const char *path)
{
    size_t n = strlen(path);
    if (n > 4 && strcasecmp(path + n - 4, ".mkv") == 0) return "matroska";
    if (n > 4 && strcasecmp(path + n - 4, ".mov") == 0) return "mov";
    return "mp4";
}

static dio_status write_error(const char *path, const char *tmp, int err)
{
    return dio_set_error(DIO_ERR_IO, "'%s': cannot write '%s': %s", path, tmp, strerror(err));
}

/* Our own AVIOContext on the temporary file's descriptor: every byte the muxer writes goes through
 * write() here, so a failing write (a full disk, or fault injection in the tests) reaches us as an
 * error, and the file is fsynced and closed by us with both results checked. */
static int fd_io_write(void *opaque, uint8_t *buf, int size)
{
    int fd = *(const int *)opaque, done = 0;
    while (done < size) {
        ssize_t r = write(fd, buf + done, (size_t)(size - done));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return AVERROR(r < 0 ? errno : EIO);
        done += (int)r;
    }
    return size;
}

static int64_t fd_io_seek(void *opaque, int64_t offset, int whence)
{
    int fd = *(const int *)opaque;
    struct stat sb;
    if (whence == AVSEEK_SIZE) return fstat(fd, &sb) == 0 ? (int64_t)sb.st_size : AVERROR(errno);
    off_t r = lseek(fd, (off_t)offset, whence & ~AVSEEK_FORCE);
    return r < 0 ? AVERROR(errno) : (int64_t)r;
}

static void fd_io_free(AVIOContext **pb)
{
    if (!*pb) return;
    av_freep(&(*pb)->buffer);
    avio_context_free(pb);
}

static dio_status write_mp4(const char *path, const char *tmp, int fd, const dio_video *v, AVRational rate,
                            const dio_media_write_options *o)
{
    enum { IO_BUFFER = 1 << 16 };
    uint8_t *io_buf = NULL;
    AVFormatContext *oc = NULL;
    AVCodecContext *enc = NULL;
    const AVCodec *codec = NULL;
    AVFrame *frame = NULL;
    AVPacket *pkt = NULL;
    struct SwsContext *sws = NULL;
    AVDictionary *mux_opts = NULL;
    uint8_t *padded = NULL;
    /* The muxer writes through our own AVIOContext, but its faststart pass reopens the file by this
     * name to read it back, so the name is still needed. */
    char *url = join3("file:", tmp, "");
    const char *muxer = muxer_for(path);
    dio_status st;
    int ret;
    int w = v->width + (v->width & 1), h = v->height + (v->height & 1);

    dio_media_ffmpeg_setup();
    if (!url) goto oom;
    if ((ret = avformat_alloc_output_context2(&oc, NULL, muxer, url)) < 0 || !oc) {
        st = av_err(path, "no muxer", ret);
        goto fail;
    }
    enc = open_encoder(path, w, h, rate, o ? o->quality : 0, !!(oc->oformat->flags & AVFMT_GLOBALHEADER),
                       &codec);
    if (!enc) {
        st = dio_set_error(DIO_ERR_NOT_SUPPORTED, "'%s': no usable video encoder (tried %s)", path,
                           getenv("DIORAMA_MP4_ENCODER") && *getenv("DIORAMA_MP4_ENCODER")
                               ? getenv("DIORAMA_MP4_ENCODER")
                               : "libx264, libopenh264, mpeg4");
        goto fail;
    }
    const char *codec_name = avcodec_get_name(codec->id);
    dio_log(DIO_LOG_INFO, "media", "%s: %s video with encoder %s (%s), %dx%d at %d/%d fps", path, muxer,
            codec->name, codec_name, w, h, rate.num, rate.den);
    if (w != v->width || h != v->height)
        dio_log(DIO_LOG_INFO, "media", "%s: %dx%d padded to %dx%d (yuv420p needs even sides)", path, v->width,
                v->height, w, h);
    AVStream *stream = avformat_new_stream(oc, NULL);
    if (!stream) goto oom;
    if ((ret = avcodec_parameters_from_context(stream->codecpar, enc)) < 0) {
        st = av_err(path, "encoder parameters", ret);
        goto fail;
    }
    stream->time_base = enc->time_base;
    stream->avg_frame_rate = rate;
    stream->r_frame_rate = rate;
    for (size_t i = 0; o && i < o->n_metadata; i++)
        if (strcmp(o->metadata[i].key, "codec") != 0)
            av_dict_set(&oc->metadata, o->metadata[i].key, o->metadata[i].value, 0);
    av_dict_set(&oc->metadata, "codec", codec_name, 0);
    if (!(io_buf = av_malloc(IO_BUFFER))) goto oom;
    if (!(oc->pb = avio_alloc_context(io_buf, IO_BUFFER, 1, &fd, NULL, fd_io_write, fd_io_seek))) {
        av_free(io_buf);
        goto oom;
    }
    oc->flags |= AVFMT_FLAG_CUSTOM_IO;
    if (strcmp(muxer, "matroska") != 0) av_dict_set(&mux_opts, "movflags", "+use_metadata_tags+faststart", 0);
    if ((ret = avformat_write_header(oc, &mux_opts)) < 0) {
        st = av_err(path, "cannot write the header", ret);
        goto fail;
    }
    if (!(frame = av_frame_alloc()) || !(pkt = av_packet_alloc())) goto oom;
    frame->format = AV_PIX_FMT_YUV420P;
    frame->width = w;
    frame->height = h;
    frame->color_range = AVCOL_RANGE_MPEG;
    frame->colorspace = AVCOL_SPC_BT709;
    if ((ret = av_frame_get_buffer(frame, 0)) < 0) {
        st = av_err(path, "frame buffer", ret);
        goto fail;
    }
    sws = sws_getContext(w, h, AV_PIX_FMT_RGB24, w, h, AV_PIX_FMT_YUV420P,
                         SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INP, NULL, NULL, NULL);
    if (!sws) goto oom;
    sws_setColorspaceDetails(sws, sws_getCoefficients(SWS_CS_DEFAULT), 1, sws_getCoefficients(SWS_CS_ITU709),
                             0, 0, 1 << 16, 1 << 16);
    if (!(padded = malloc((size_t)w * h * 3))) goto oom;
    size_t row = (size_t)v->width * 3, frame_bytes = row * (size_t)v->height;
    for (int32_t i = 0; i < v->frames; i++) {
        const uint8_t *src = v->rgb + (size_t)i * frame_bytes;
        for (int y = 0; y < h; y++) {
            uint8_t *d = padded + (size_t)y * w * 3;
            memcpy(d, src + (size_t)(y < v->height ? y : v->height - 1) * row, row);
            if (w != v->width) memcpy(d + row, d + row - 3, 3);
        }
        if ((ret = av_frame_make_writable(frame)) < 0) {
            st = av_err(path, "frame buffer", ret);
            goto fail;
        }
        const uint8_t *planes[4] = {padded, NULL, NULL, NULL};
        int ls[4] = {w * 3, 0, 0, 0};
        sws_scale(sws, planes, ls, 0, h, frame->data, frame->linesize);
        frame->pts = i;
        if ((ret = avcodec_send_frame(enc, frame)) < 0) {
            st = av_err(path, "encoding failed", ret);
            goto fail;
        }
        if ((st = write_packets(oc, enc, stream, pkt, path)) != DIO_OK) goto fail;
    }
    if ((ret = avcodec_send_frame(enc, NULL)) < 0) {
        st = av_err(path, "encoding failed", ret);
        goto fail;
    }
    if ((st = write_packets(oc, enc, stream, pkt, path)) != DIO_OK) goto fail;
    if ((ret = av_write_trailer(oc)) < 0) {
        st = av_err(path, "cannot finish the file", ret);
        goto fail;
    }
    avio_flush(oc->pb);
    if ((ret = oc->pb->error) < 0) {
        st = av_err(path, "cannot write", ret);
        goto fail;
    }
    if (fsync(fd) != 0) {
        st = write_error(path, tmp, errno);
        goto fail;
    }
    st = DIO_OK;
    goto fail;
oom:
    st = dio_set_error(DIO_ERR_OUT_OF_HOST_MEMORY, "'%s': out of memory", path);
fail:
    if (oc) fd_io_free(&oc->pb);
    avformat_free_context(oc);
    av_dict_free(&mux_opts);
    avcodec_free_context(&enc);
    av_frame_free(&frame);
    av_packet_free(&pkt);
    sws_freeContext(sws);
    free(padded);
    free(url);
    return st;
}

/* ---- WebP ---- */

/* Appends `s` XML-escaped to buf (grown as needed). */
static int xml_append(char **buf, size_t *len, size_t *cap, const char *s, int escape)
{
    for (; *s; s++) {
        char ent[12];
        const char *piece = ent;
        switch (*s) {
        case '&': piece = escape ? "&amp;" : "&"; break;
        case '<': piece = escape ? "&lt;" : "<"; break;
        case '>': piece = escape ? "&gt;" : ">"; break;
        case '"': piece = escape ? "&quot;" : "\""; break;
        case '\'': piece = escape ? "&apos;" : "'"; break;
        case '\t':
        case '\n':
        case '\r':
            if (escape) {
                snprintf(ent, sizeof(ent), "&#%d;", *s);
                break;
            }
            /* fall through */
        default: ent[0] = *s; ent[1] = 0;
        }
        size_t n = strlen(piece);
        if (*len + n + 1 > *cap) {
            size_t c = (*cap + n + 1) * 2;
            char *p = realloc(*buf, c);
            if (!p) return 0;
            *buf = p;
            *cap = c;
        }
        memcpy(*buf + *len, piece, n + 1);
        *len += n;
    }
    return 1;
}

static char *make_xmp(const dio_kv *kv, size_t n)
{
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int ok = xml_append(&buf, &len, &cap,
                        "<?xpacket begin=\"\xEF\xBB\xBF\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\n"
                        "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\">\n"
                        " <rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">\n"
                        "  <rdf:Description rdf:about=\"\" xmlns:dio=\"urn:diorama:metadata:1.0\">\n"
                        "   <dio:entries>\n    <rdf:Seq>\n",
                        0);
    for (size_t i = 0; ok && i < n; i++) {
        ok = xml_append(&buf, &len, &cap, "     <rdf:li rdf:parseType=\"Resource\"><dio:key>", 0) &&
             xml_append(&buf, &len, &cap, kv[i].key, 1) &&
             xml_append(&buf, &len, &cap, "</dio:key><dio:value>", 0) &&
             xml_append(&buf, &len, &cap, kv[i].value, 1) &&
             xml_append(&buf, &len, &cap, "</dio:value></rdf:li>\n", 0);
    }
    if (ok)
        ok = xml_append(&buf, &len, &cap,
                        "    </rdf:Seq>\n   </dio:entries>\n  </rdf:Description>\n </rdf:RDF>\n"
                        "</x:xmpmeta>\n<?xpacket end=\"w\"?>",
                        0);
    if (!ok) {
        free(buf);
        return NULL;
    }
    return buf;
}

static dio_status write_file(const char *path, const char *tmp, const uint8_t *data, size_t size)
{
    FILE *f = fopen(tmp, "wb");
    if (!f) return dio_set_error(DIO_ERR_IO, "'%s': cannot create '%s': %s", path, tmp, strerror(errno));
    size_t put = fwrite(data, 1, size, f);
    int flush = fflush(f), sync = flush == 0 ? fsync(fileno(f)) : -1;
    int err = errno;
    if (fclose(f) != 0 || put != size || flush != 0 || sync != 0) return write_error(path, tmp, err);
    return DIO_OK;
}

static dio_status write_webp(const char *path, const char *tmp, const dio_video *v, AVRational rate,
                             const dio_media_write_options *o)
{
    WebPAnimEncoderOptions aopt;
    WebPAnimEncoder *enc = NULL;
    WebPConfig config;
    WebPPicture pic;
    WebPData anim, assembled;
    WebPMux *mux = NULL;
    char *xmp = NULL;
    dio_status st;
    int quality = o ? o->quality : 0, pic_ready = 0;
    double ms_per_frame = 1000.0 * rate.den / rate.num;

    WebPDataInit(&anim);
    WebPDataInit(&assembled);
    if (quality < 0 || quality > 100) {
        return dio_set_error(DIO_ERR_INVALID_ARGUMENT,
                             "dio_media_write '%s': WebP quality %d is outside 0..100", path, quality);
    }
    if (!WebPAnimEncoderOptionsInit(&aopt) || !WebPConfigInit(&config) || !WebPPictureInit(&pic))
        return dio_set_error(DIO_ERR_INTERNAL, "libwebp: version mismatch");
    aopt.anim_params.loop_count = 0;
    aopt.allow_mixed = 0;
    if (quality == 100) {
        config.lossless = 1;
        config.quality = 75; /* effort */
        config.exact = 1;
    } else {
        config.lossless = 0;
        config.quality = quality ? (float)quality : 90.0f;
    }
    config.method = 4;
    if (!WebPValidateConfig(&config))
        return dio_set_error(DIO_ERR_INTERNAL, "libwebp: invalid configuration");
    if (!(enc = WebPAnimEncoderNew(v->width, v->height, &aopt))) goto oom;
    pic.width = v->width;
    pic.height = v->height;
    pic.use_argb = 1;
    pic_ready = 1;
    size_t row = (size_t)v->width * 3, frame_bytes = row * (size_t)v->height;
    for (int32_t i = 0; i < v->frames; i++) {
        int ts = (int)llround(i * ms_per_frame);
        if (!WebPPictureImportRGB(&pic, v->rgb + (size_t)i * frame_bytes, (int)row)) goto oom;
        if (!WebPAnimEncoderAdd(enc, &pic, ts, &config)) {
            st = dio_set_error(DIO_ERR_INTERNAL, "'%s': WebP encoding failed at frame %d: %s", path, i,
                               WebPAnimEncoderGetError(enc));
            goto fail;
        }
    }
    if (!WebPAnimEncoderAdd(enc, NULL, (int)llround(v->frames * ms_per_frame), NULL) ||
        !WebPAnimEncoderAssemble(enc, &anim)) {
        st = dio_set_error(DIO_ERR_INTERNAL, "'%s': WebP encoding failed: %s", path,
                           WebPAnimEncoderGetError(enc));
        goto fail;
    }
    if (o && o->n_metadata) {
        if (!(xmp = make_xmp(o->metadata, o->n_metadata))) goto oom;
        WebPData chunk = {(const uint8_t *)xmp, strlen(xmp)};
        if (!(mux = WebPMuxCreate(&anim, 1))) goto oom;
        if (WebPMuxSetChunk(mux, "XMP ", &chunk, 1) != WEBP_MUX_OK ||
            WebPMuxAssemble(mux, &assembled) != WEBP_MUX_OK) {
            st = dio_set_error(DIO_ERR_INTERNAL, "'%s': cannot add the XMP metadata", path);
            goto fail;
        }
        st = write_file(path, tmp, assembled.bytes, assembled.size);
    } else {
        st = write_file(path, tmp, anim.bytes, anim.size);
    }
    goto fail;
oom:
    st = dio_set_error(DIO_ERR_OUT_OF_HOST_MEMORY, "'%s': out of memory", path);
fail:
    if (pic_ready) WebPPictureFree(&pic);
    WebPAnimEncoderDelete(enc);
    WebPMuxDelete(mux);
    WebPDataClear(&anim);
    WebPDataClear(&assembled);
    free(xmp);
    return st;
}

/* ---- PNG frames ---- */

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Appends one text chunk (tEXt for ASCII values, else uncompressed iTXt) to buf at *len. */
static int text_chunk(uint8_t **buf, size_t *len, size_t *cap, const char *key, const char *value)
{
    int ascii = 1;
    for (const unsigned char *p = (const unsigned char *)value; *p; p++)
        if (*p >= 0x80) ascii = 0;
    size_t kl = strlen(key), vl = strlen(value);
    size_t data = kl + 1 + (ascii ? 0 : 4) + vl; /* iTXt: flag, method, empty language, empty translation */
    size_t need = *len + 12 + data;
    if (data > 0x7fffffff) return 0;
    if (need > *cap) {
        uint8_t *p = realloc(*buf, need * 2);
        if (!p) return 0;
        *buf = p;
        *cap = need * 2;
    }
    uint8_t *c = *buf + *len;
    put32(c, (uint32_t)data);
    memcpy(c + 4, ascii ? "tEXt" : "iTXt", 4);
    uint8_t *d = c + 8;
    memcpy(d, key, kl + 1);
    d += kl + 1;
    if (!ascii) {
        memset(d, 0, 4); /* uncompressed, method 0, no language, no translated key */
        d += 4;
    }
    memcpy(d, value, vl);
    uint32_t crc = av_crc(av_crc_get_table(AV_CRC_32_IEEE_LE), UINT32_MAX, c + 4, 4 + data) ^ UINT32_MAX;
    put32(c + 8 + data, crc);
    *len += 12 + data;
    return 1;
}

/* The PNG `pkt` with the metadata chunks inserted after IHDR. */
static dio_status png_with_text(const char *path, const AVPacket *pkt, const dio_video *v,
                                const dio_media_write_options *o, uint8_t **out, size_t *out_len)
{
    const size_t ihdr_end = 8 + 8 + 13 + 4;
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;
    int have_fps = 0;
    if ((size_t)pkt->size < ihdr_end || memcmp(pkt->data + 12, "IHDR", 4) != 0)
        return dio_set_error(DIO_ERR_INTERNAL, "'%s': the PNG encoder wrote no IHDR first", path);
    for (size_t i = 0; o && i < o->n_metadata; i++) {
        if (strcmp(o->metadata[i].key, "fps") == 0) have_fps = 1;
        if (!text_chunk(&buf, &len, &cap, o->metadata[i].key, o->metadata[i].value)) goto oom;
    }
    if (!have_fps && v->fps > 0) {
        char fps[32];
        snprintf(fps, sizeof(fps), "%.17g", v->fps);
        if (!text_chunk(&buf, &len, &cap, "fps", fps)) goto oom;
    }
    uint8_t *whole = malloc((size_t)pkt->size + len);
    if (!whole) goto oom;
    memcpy(whole, pkt->data, ihdr_end);
    if (len) memcpy(whole + ihdr_end, buf, len);
    memcpy(whole + ihdr_end + len, pkt->data + ihdr_end, (size_t)pkt->size - ihdr_end);
    free(buf);
    *out = whole;
    *out_len = (size_t)pkt->size + len;
    return DIO_OK;
oom:
    free(buf);
    return dio_set_error(DIO_ERR_OUT_OF_HOST_MEMORY, "'%s': out of memory", path);
}

static dio_status write_png_frames(const char *path, const char *tmpdir, const dio_video *v,
                                   const dio_media_write_options *o)
{
    const AVCodec *codec = avcodec_find_encoder(AV_CODEC_ID_PNG);
    AVCodecContext *enc = NULL;
    AVFrame *frame = NULL;
    AVPacket *pkt = NULL;
    uint8_t *first = NULL;
    char *file = NULL;
    dio_status st;
    int ret;

    dio_media_ffmpeg_setup();
    if (!codec) return dio_set_error(DIO_ERR_NOT_SUPPORTED, "'%s': this FFmpeg has no PNG encoder", path);
    if (!(enc = avcodec_alloc_context3(codec)) || !(frame = av_frame_alloc()) || !(pkt = av_packet_alloc()))
        goto oom;
    enc->width = v->width;
    enc->height = v->height;
    enc->pix_fmt = AV_PIX_FMT_RGB24;
    enc->time_base = (AVRational){1, 1};
    av_opt_set(enc->priv_data, "pred", "paeth", 0);
    if ((ret = avcodec_open2(enc, codec, NULL)) < 0) {
        st = av_err(path, "cannot open the PNG encoder", ret);
        goto fail;
    }
    frame->format = AV_PIX_FMT_RGB24;
    frame->width = v->width;
    frame->height = v->height;
    if ((ret = av_frame_get_buffer(frame, 0)) < 0) {
        st = av_err(path, "frame buffer", ret);
        goto fail;
    }
    size_t row = (size_t)v->width * 3, frame_bytes = row * (size_t)v->height, flen = strlen(tmpdir);
    if (!(file = malloc(flen + 32))) goto oom;
    for (int32_t i = 0; i < v->frames; i++) {
        const uint8_t *src = v->rgb + (size_t)i * frame_bytes;
        if ((ret = av_frame_make_writable(frame)) < 0) {
            st = av_err(path, "frame buffer", ret);
            goto fail;
        }
        for (int y = 0; y < v->height; y++)
            memcpy(frame->data[0] + (size_t)y * frame->linesize[0], src + y * row, row);
        frame->pts = i;
        if ((ret = avcodec_send_frame(enc, frame)) < 0 || (ret = avcodec_receive_packet(enc, pkt)) < 0) {
            st = av_err(path, "PNG encoding failed", ret);
            goto fail;
        }
        snprintf(file, flen + 32, "%s/%05d.png", tmpdir, (int)i);
        if (i == 0) {
            size_t n = 0;
            if ((st = png_with_text(path, pkt, v, o, &first, &n)) != DIO_OK) goto fail;
            st = write_file(path, file, first, n);
        } else {
            st = write_file(path, file, pkt->data, (size_t)pkt->size);
        }
        av_packet_unref(pkt);
        if (st != DIO_OK) goto fail;
    }
    st = DIO_OK;
    goto fail;
oom:
    st = dio_set_error(DIO_ERR_OUT_OF_HOST_MEMORY, "'%s': out of memory", path);
fail:
    avcodec_free_context(&enc);
    av_frame_free(&frame);
    av_packet_free(&pkt);
    free(first);
    free(file);
    return st;
}

/* The folder for PNG output: "X.png" → "X", "X/" → "X", else the path itself. */
static char *png_folder_of(const char *path)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    if (n > 4 && strcasecmp(path + n - 4, ".png") == 0) n -= 4;
    return strndup(path, n);
}

static dio_status write_png(const char *path, const dio_video *v, const dio_media_write_options *o)
{
    char *folder = png_folder_of(path), *tmpdir = NULL, *old = NULL;
    struct stat sb;
    dio_status st;
    int have_tmp = 0;

    if (!folder || !(tmpdir = sibling(folder, ".tmp-XXXXXX"))) goto oom;
    if (lstat(folder, &sb) == 0 && (!S_ISDIR(sb.st_mode) || !is_frame_folder(folder))) {
        st = dio_set_error(DIO_ERR_IO, "'%s': '%s' exists and is not a PNG frame folder; not replacing it",
                           path, folder);
        goto fail;
    }
    if (!mkdtemp(tmpdir)) {
        st = dio_set_error(DIO_ERR_IO, "'%s': cannot create a folder beside '%s': %s", path, folder,
                           strerror(errno));
        goto fail;
    }
    have_tmp = 1;
    if ((st = write_png_frames(path, tmpdir, v, o)) != DIO_OK) goto fail;
    chmod(tmpdir, 0777 & ~current_umask()); /* mkdtemp made it 0700 */
    fsync_path(tmpdir, 1);
    if (rename(tmpdir, folder) != 0) {
        int err = errno;
        if (err != ENOTEMPTY && err != EEXIST) {
            st = dio_set_error(DIO_ERR_IO, "'%s': cannot rename '%s' to '%s': %s", path, tmpdir, folder,
                               strerror(err));
            goto fail;
        }
        /* An earlier frame folder: move it aside, put ours in place, then remove it. */
        if (!(old = sibling(folder, ".old-XXXXXX"))) goto oom;
        if (!mkdtemp(old) || rename(folder, old) != 0 || rename(tmpdir, folder) != 0) {
            st = dio_set_error(DIO_ERR_IO, "'%s': cannot replace the folder '%s': %s", path, folder,
                               strerror(errno));
            if (old && stat(old, &sb) == 0 && stat(folder, &sb) != 0) rename(old, folder);
            if (old) rmdir(old);
            goto fail;
        }
        remove_frame_folder(old);
    }
    have_tmp = 0;
    fsync_parent(folder);
    st = DIO_OK;
    goto fail;
oom:
    st = dio_set_error(DIO_ERR_OUT_OF_HOST_MEMORY, "'%s': out of memory", path);
fail:
    if (have_tmp) remove_frame_folder(tmpdir);
    free(folder);
    free(tmpdir);
    free(old);
    return st;
}

/* ---- the entry point ---- */

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

dio_status dio_media_write(const char *path, const dio_video *video, const dio_media_write_options *options)
{
    const dio_media_write_options *o = options;
    dio_media_write_options defaults;
    AVRational rate = {0, 1};
    char *tmp = NULL;
    int fd = -1;
    dio_status st;

    if (!path || !*path || !video)
        return dio_set_error(DIO_ERR_INVALID_ARGUMENT, "dio_media_write: NULL path or video");
    memset(&defaults, 0, sizeof(defaults));
    if (o && o->struct_size < sizeof(*o)) {
        memcpy(&defaults, o, o->struct_size);
        o = &defaults;
    }
    if (!o) o = &defaults;
    if (video->width <= 0 || video->height <= 0 || video->width > MAX_SIDE || video->height > MAX_SIDE ||
        video->frames <= 0 || video->frames > MAX_FRAMES || !video->rgb)
        return dio_set_error(DIO_ERR_INVALID_ARGUMENT,
                             "dio_media_write '%s': %dx%d, %d frames (sides 1..%d, 1..%d frames, pixels set)",
                             path, video->width, video->height, video->frames, MAX_SIDE, MAX_FRAMES);
    if (o->n_metadata && !o->metadata)
        return dio_set_error(DIO_ERR_INVALID_ARGUMENT, "dio_media_write '%s': n_metadata without metadata",
                             path);
    if ((st = check_metadata(path, o->metadata, o->n_metadata)) != DIO_OK) return st;
    int format = o->format;
    if (format == DIO_MEDIA_AUTO) {
        if (ends_with(path, ".mp4") || ends_with(path, ".mkv") || ends_with(path, ".mov"))
            format = DIO_MEDIA_MP4;
        else if (ends_with(path, ".webp"))
            format = DIO_MEDIA_WEBP;
        else if (ends_with(path, ".png") || ends_with(path, "/"))
            format = DIO_MEDIA_PNG;
        else
            return dio_set_error(
                DIO_ERR_INVALID_ARGUMENT,
                "dio_media_write '%s': cannot tell the format from the name (.mp4, .mkv, .mov, "
                ".webp, .png or a folder/)",
                path);
    }
    if (format != DIO_MEDIA_MP4 && format != DIO_MEDIA_WEBP && format != DIO_MEDIA_PNG)
        return dio_set_error(DIO_ERR_INVALID_ARGUMENT, "dio_media_write '%s': unknown format %d", path,
                             format);
    if (format == DIO_MEDIA_MP4 && (o->quality < 0 || o->quality > 51))
        return dio_set_error(DIO_ERR_INVALID_ARGUMENT,
                             "dio_media_write '%s': MP4 quality %d is outside 0..51", path, o->quality);
    if (format != DIO_MEDIA_PNG && !rate_of(video, &rate))
        return dio_set_error(DIO_ERR_INVALID_ARGUMENT, "dio_media_write '%s': fps %g is outside (0, 1000]",
                             path, video->fps);
    if (format == DIO_MEDIA_PNG) return write_png(path, video, o);

    if (ends_with(path, "/"))
        return dio_set_error(DIO_ERR_INVALID_ARGUMENT, "dio_media_write '%s': a folder name for a video file",
                             path);
    if (!(tmp = sibling(path, ".tmp-XXXXXX")))
        return dio_set_error(DIO_ERR_OUT_OF_HOST_MEMORY, "dio_media_write '%s': out of memory", path);
    if ((fd = mkstemp(tmp)) < 0) {
        st = dio_set_error(DIO_ERR_IO, "'%s': cannot create a temporary file beside it: %s", path,
                           strerror(errno));
        free(tmp);
        return st;
    }
    fchmod(fd, 0666 & ~current_umask()); /* mkstemp made it 0600 */
    if (format == DIO_MEDIA_MP4) {
        st = write_mp4(path, tmp, fd, video, rate, o);
        if (close(fd) != 0 && st == DIO_OK) st = write_error(path, tmp, errno);
    } else {
        close(fd);
        st = write_webp(path, tmp, video, rate, o);
    }
    if (st == DIO_OK && rename(tmp, path) != 0)
        st = dio_set_error(DIO_ERR_IO, "'%s': cannot rename '%s' over it: %s", path, tmp, strerror(errno));
    if (st != DIO_OK)
        unlink(tmp);
    else
        fsync_parent(path);
    free(tmp);
    return st;
}

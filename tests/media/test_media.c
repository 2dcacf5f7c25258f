/* Media in and out (dio_media_read / dio_media_write / dio_media_info_read) and `diorama info`.
 *
 * A synthetic clip (a smooth moving gradient, 13 frames, 64×48, 16 fps) is written as MP4, animated
 * WebP (lossy and lossless) and a PNG frame folder and read back: sizes and frame counts exactly,
 * pixels exactly for PNG and lossless WebP, within a codec tolerance for MP4 and lossy WebP (mean and
 * max absolute error). ffprobe (Debian's ffmpeg) independently checks the MP4's codec, size, rate
 * and decoded frame count; FFmpeg 5.1 cannot decode animated WebP (ffprobe reports a 0×0 stream), so
 * the WebP frame count, canvas and durations are checked with libwebp's demuxer directly. Metadata
 * (escapes, UTF-8, newline, tab, spaces in keys) round-trip through dio_media_info_read for all
 * three formats. The resize rule is checked on hand-computed cases: pure centre crops (margin 2 →
 * offset 1; margin 3 → offset 2, Python's round-half-even as torchvision does) and a 64×48 ramp
 * covered to 32×32 (scale 2/3 → 43×32, crop offset round(5.5) = 6, ramp values from the bilinear
 * centre mapping). Corrupt input never crashes and always fails: an MP4 truncated at many lengths,
 * garbage bytes, text named .png, truncated WebP, a WAV (audio only), a missing file (IO). Failed
 * writes (an encoder that does not exist, a file-size limit hit mid-write for each format, an
 * unknown format, a folder that is not ours) leave no file under the final name, no temporary
 * file, and an earlier file intact. Odd sizes: MP4 pads to even (last column/row repeated), WebP
 * and PNG keep them. The mpeg4 fallback is forced with DIORAMA_MP4_ENCODER. The CLI prints the info
 * and exits 1 on a bad file. Files made by the ffmpeg command line (JPEG, still WebP, FFV1 in
 * Matroska, grey and palette PNG) read as expected.
 * Usage: test_media CASE WORK_DIR [DIORAMA_EXE]; CASE is one of roundtrip, resize, corrupt, atomic,
 * odd, fallback, foreign, cli. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <webp/decode.h>
#include <webp/demux.h>

#include "diorama/diorama.h"

static int failures;
#define CHECK(cond, ...)                                                                                     \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            failures++;                                                                                      \
            printf("FAIL line %d: ", __LINE__);                                                              \
            printf(__VA_ARGS__);                                                                             \
            printf("\n");                                                                                    \
        }                                                                                                    \
    } while (0)

static const char *work;

#define W 64
#define H 48
#define T 13
#define FPS 16.0

static const dio_kv meta[] = {
    {"prompt", "a red fox & <friends> \"quoted\" 'single' \xC3\xBCn\xC3\xAF \xE2\x9C\x93\nsecond line\tend"},
    {"seed", "42"},
    {"negative prompt", "blurry; low quality"},
    {"params", "{\"guidance\": 7, \"steps\": 35}"},
};
#define N_META (sizeof(meta) / sizeof(meta[0]))

static char *path_of(const char *name)
{
    static char buf[64][1024];
    static int k;
    char *p = buf[k++ % 64];
    snprintf(p, 1024, "%s/%s", work, name);
    return p;
}

static void make_clip(dio_video *v, int w, int h, int t)
{
    memset(v, 0, sizeof(*v));
    v->struct_size = sizeof(*v);
    v->width = w;
    v->height = h;
    v->frames = t;
    v->fps = FPS;
    v->rgb = malloc((size_t)w * h * t * 3);
    for (int f = 0; f < t; f++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                uint8_t *p = v->rgb + (((size_t)f * h + y) * w + x) * 3;
                double u = (double)x / w, s = (double)y / h, ph = (double)f / t;
                p[0] = (uint8_t)lround(128 + 100 * sin(2 * M_PI * (u + ph)));
                p[1] = (uint8_t)lround(128 + 100 * cos(2 * M_PI * (s - ph)));
                p[2] = (uint8_t)lround(40 + 170 * (u + s) / 2);
            }
}

/* Mean and max absolute difference over the w×h top-left region of each frame. */
static void compare(const dio_video *a, const dio_video *b, int w, int h, double *mean, int *max)
{
    double sum = 0;
    long n = 0;
    *max = 0;
    for (int f = 0; f < a->frames && f < b->frames; f++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w * 3; x++) {
                int pa = a->rgb[((size_t)f * a->height + y) * a->width * 3 + x];
                int pb = b->rgb[((size_t)f * b->height + y) * b->width * 3 + x];
                int d = abs(pa - pb);
                sum += d;
                n++;
                if (d > *max) *max = d;
            }
    *mean = n ? sum / n : 1e9;
}

static dio_media_write_options wopts(int format, int quality, const dio_kv *kv, size_t n)
{
    dio_media_write_options o;
    memset(&o, 0, sizeof(o));
    o.struct_size = sizeof(o);
    o.format = format;
    o.quality = quality;
    o.metadata = kv;
    o.n_metadata = n;
    return o;
}

static dio_status read_video(const char *path, int w, int h, int max_frames, dio_video *out)
{
    dio_media_read_options o;
    memset(&o, 0, sizeof(o));
    o.struct_size = sizeof(o);
    o.width = w;
    o.height = h;
    o.max_frames = max_frames;
    memset(out, 0, sizeof(*out));
    return dio_media_read(path, &o, out);
}

static const char *meta_get(const dio_media_info *info, const char *key)
{
    for (size_t i = 0; i < info->n_metadata; i++)
        if (strcmp(info->metadata[i].key, key) == 0) return info->metadata[i].value;
    return NULL;
}

static void check_metadata(const char *path, const dio_media_info *info)
{
    for (size_t i = 0; i < N_META; i++) {
        const char *v = meta_get(info, meta[i].key);
        CHECK(v && strcmp(v, meta[i].value) == 0, "%s: metadata '%s' is '%s'", path, meta[i].key,
              v ? v : "(none)");
    }
}

/* Runs a shell command and returns its stdout (static buffer). */
static int capture_status; /* the exit status of the last capture() */
static const char *capture(const char *cmd)
{
    static char out[8192];
    FILE *p = popen(cmd, "r");
    size_t n = 0;
    out[0] = 0;
    capture_status = -1;
    if (!p) return out;
    n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = 0;
    int rc = pclose(p);
    capture_status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    return out;
}

static int count_temp_files(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    if (!d) return 0;
    while ((e = readdir(d)))
        if (e->d_name[0] == '.' && (strstr(e->d_name, ".tmp-") || strstr(e->d_name, ".old-"))) n++;
    closedir(d);
    return n;
}

static int exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0;
}

static long file_size(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 ? (long)sb.st_size : -1;
}

/* ---- roundtrip: MP4, WebP (lossy, lossless), PNG; ffprobe; libwebp demux; metadata ---- */

static void case_roundtrip(void)
{
    dio_video v, r;
    dio_media_info info;
    double mean;
    int max;
    make_clip(&v, W, H, T);

    /* MP4 (H.264 here: Debian's FFmpeg has libx264). */
    dio_media_write_options o = wopts(DIO_MEDIA_AUTO, 0, meta, N_META);
    const char *mp4 = path_of("clip.mp4");
    CHECK(dio_media_write(mp4, &v, &o) == DIO_OK, "write mp4: %s", dio_last_error());
    CHECK(read_video(mp4, 0, 0, 0, &r) == DIO_OK, "read mp4: %s", dio_last_error());
    CHECK(r.width == W && r.height == H && r.frames == T && fabs(r.fps - FPS) < 1e-9, "mp4 read %dx%d %d @%g",
          r.width, r.height, r.frames, r.fps);
    compare(&v, &r, W, H, &mean, &max);
    /* yuv420p alone (no codec) costs this clip a mean of 2.5 and a max of 10: its chroma turns a full
     * period across 64 px. The codec at CRF 18 adds little on top. */
    printf("mp4 (crf 18): mean abs error %.3f, max %d\n", mean, max);
    CHECK(mean < 4 && max < 40, "mp4 error mean %.3f max %d", mean, max);
    dio_video_free(&r);
    /* max_frames */
    CHECK(read_video(mp4, 0, 0, 5, &r) == DIO_OK && r.frames == 5, "mp4 max_frames 5: %d", r.frames);
    dio_video_free(&r);
    CHECK(dio_media_info_read(mp4, &info) == DIO_OK, "info mp4: %s", dio_last_error());
    CHECK(info.width == W && info.height == H && info.frames == T && fabs(info.fps - FPS) < 1e-9,
          "mp4 info %dx%d %d @%g", info.width, info.height, info.frames, info.fps);
    CHECK(info.container && strcmp(info.container, "mp4") == 0, "mp4 container %s", info.container);
    CHECK(info.codec && strcmp(info.codec, "h264") == 0, "mp4 codec %s", info.codec);
    CHECK(meta_get(&info, "codec") && strcmp(meta_get(&info, "codec"), "h264") == 0, "mp4 metadata codec");
    check_metadata(mp4, &info);
    dio_media_info_free(&info);
    {
        char cmd[2048];
        snprintf(cmd, sizeof(cmd),
                 "ffprobe -v error -select_streams v:0 -count_frames -show_entries "
                 "stream=codec_name,width,height,r_frame_rate,avg_frame_rate,nb_read_frames,pix_fmt "
                 "-of default=nw=1 '%s'",
                 mp4);
        const char *out = capture(cmd);
        printf("ffprobe mp4:\n%s", out);
        CHECK(strstr(out, "codec_name=h264\n"), "ffprobe codec");
        CHECK(strstr(out, "width=64\n") && strstr(out, "height=48\n"), "ffprobe size");
        CHECK(strstr(out, "r_frame_rate=16/1\n") && strstr(out, "avg_frame_rate=16/1\n"), "ffprobe fps");
        CHECK(strstr(out, "nb_read_frames=13\n"), "ffprobe frames");
        CHECK(strstr(out, "pix_fmt=yuv420p\n"), "ffprobe pix_fmt");
        snprintf(cmd, sizeof(cmd), "ffprobe -v error -show_entries format_tags=seed -of default=nw=1 '%s'",
                 mp4);
        CHECK(strstr(capture(cmd), "TAG:seed=42"), "ffprobe sees the seed tag");
    }

    /* WebP lossless (quality 100) and lossy (default 90). */
    const char *webp = path_of("clip.webp"), *webp_lossy = path_of("clip_lossy.webp");
    o = wopts(DIO_MEDIA_AUTO, 100, meta, N_META);
    CHECK(dio_media_write(webp, &v, &o) == DIO_OK, "write webp: %s", dio_last_error());
    CHECK(read_video(webp, 0, 0, 0, &r) == DIO_OK, "read webp: %s", dio_last_error());
    CHECK(r.width == W && r.height == H && r.frames == T && fabs(r.fps - FPS) < 1e-9,
          "webp read %dx%d %d @%g", r.width, r.height, r.frames, r.fps);
    compare(&v, &r, W, H, &mean, &max);
    printf("webp lossless: mean abs error %.3f, max %d\n", mean, max);
    CHECK(max == 0, "lossless webp differs (max %d)", max);
    dio_video_free(&r);
    CHECK(dio_media_info_read(webp, &info) == DIO_OK, "info webp: %s", dio_last_error());
    CHECK(info.width == W && info.height == H && info.frames == T && fabs(info.fps - FPS) < 1e-9,
          "webp info %dx%d %d @%g", info.width, info.height, info.frames, info.fps);
    CHECK(strcmp(info.container, "webp") == 0 && strcmp(info.codec, "vp8l") == 0, "webp %s %s",
          info.container, info.codec);
    check_metadata(webp, &info);
    dio_media_info_free(&info);
    /* Independent check with libwebp's demuxer: canvas, frames, durations 62/63 ms (62.5 on average). */
    {
        FILE *f = fopen(webp, "rb");
        static uint8_t buf[1 << 20];
        size_t n = f ? fread(buf, 1, sizeof(buf), f) : 0;
        if (f) fclose(f);
        WebPData d = {buf, n};
        WebPDemuxer *dm = WebPDemux(&d);
        CHECK(dm, "libwebp cannot demux the file");
        if (dm) {
            CHECK(WebPDemuxGetI(dm, WEBP_FF_CANVAS_WIDTH) == W &&
                      WebPDemuxGetI(dm, WEBP_FF_CANVAS_HEIGHT) == H,
                  "webp canvas");
            CHECK(WebPDemuxGetI(dm, WEBP_FF_FRAME_COUNT) == T, "webp frames %u",
                  WebPDemuxGetI(dm, WEBP_FF_FRAME_COUNT));
            CHECK(WebPDemuxGetI(dm, WEBP_FF_FORMAT_FLAGS) & ANIMATION_FLAG, "webp not animated");
            CHECK(WebPDemuxGetI(dm, WEBP_FF_FORMAT_FLAGS) & XMP_FLAG, "webp has no XMP");
            WebPIterator it;
            int total = 0, ok = 1;
            if (WebPDemuxGetFrame(dm, 1, &it)) {
                do {
                    total += it.duration;
                    ok &= it.duration == 62 || it.duration == 63;
                } while (WebPDemuxNextFrame(&it));
                WebPDemuxReleaseIterator(&it);
            }
            CHECK(ok && abs(total - 813) <= 1, "webp durations (total %d ms, 13 × 62.5 = 812.5)", total);
            WebPChunkIterator c;
            if (WebPDemuxGetChunk(dm, "XMP ", 1, &c)) {
                CHECK(strstr((const char *)c.chunk.bytes, "&amp; &lt;friends&gt; &quot;quoted&quot;") != NULL,
                      "XMP escapes");
                WebPDemuxReleaseChunkIterator(&c);
            }
            WebPDemuxDelete(dm);
        }
    }
    o = wopts(DIO_MEDIA_WEBP, 0, NULL, 0);
    CHECK(dio_media_write(webp_lossy, &v, &o) == DIO_OK, "write lossy webp: %s", dio_last_error());
    CHECK(read_video(webp_lossy, 0, 0, 0, &r) == DIO_OK && r.frames == T, "read lossy webp: %s",
          dio_last_error());
    compare(&v, &r, W, H, &mean, &max);
    printf("webp lossy q90: mean abs error %.3f, max %d\n", mean, max);
    CHECK(mean < 4 && max < 60, "lossy webp error mean %.3f max %d", mean, max);
    dio_video_free(&r);
    CHECK(dio_media_info_read(webp_lossy, &info) == DIO_OK && strcmp(info.codec, "vp8") == 0 &&
              info.n_metadata == 0,
          "lossy webp info");
    dio_media_info_free(&info);

    /* PNG folder: clip.png → clip/00000.png ... */
    const char *png = path_of("clip.png"), *folder = path_of("clip");
    o = wopts(DIO_MEDIA_AUTO, 0, meta, N_META);
    CHECK(dio_media_write(png, &v, &o) == DIO_OK, "write png: %s", dio_last_error());
    CHECK(exists(path_of("clip/00000.png")) && exists(path_of("clip/00012.png")) &&
              !exists(path_of("clip/00013.png")) && !exists(png),
          "png folder layout");
    CHECK(read_video(folder, 0, 0, 0, &r) == DIO_OK, "read png folder: %s", dio_last_error());
    CHECK(r.width == W && r.height == H && r.frames == T && fabs(r.fps - FPS) < 1e-9, "png read %dx%d %d @%g",
          r.width, r.height, r.frames, r.fps);
    compare(&v, &r, W, H, &mean, &max);
    CHECK(max == 0, "png differs (max %d)", max);
    dio_video_free(&r);
    CHECK(read_video(png, 0, 0, 0, &r) == DIO_OK && r.frames == T, "read 'clip.png' as the folder");
    dio_video_free(&r);
    /* A single frame file reads as an image: 1 frame, fps 0. */
    CHECK(read_video(path_of("clip/00003.png"), 0, 0, 0, &r) == DIO_OK && r.frames == 1 && r.fps == 0,
          "one png frame: %d frames fps %g", r.frames, r.fps);
    if (r.rgb)
        CHECK(memcmp(r.rgb, v.rgb + (size_t)3 * W * H * 3, (size_t)W * H * 3) == 0, "png frame 3 pixels");
    dio_video_free(&r);
    CHECK(dio_media_info_read(path_of("clip/00000.png"), &info) == DIO_OK && info.frames == 1 &&
              info.fps == 0,
          "info on 00000.png alone: %s", dio_last_error());
    check_metadata("clip/00000.png", &info);
    dio_media_info_free(&info);
    CHECK(dio_media_info_read(folder, &info) == DIO_OK, "info png: %s", dio_last_error());
    CHECK(info.width == W && info.height == H && info.frames == T && fabs(info.fps - FPS) < 1e-9,
          "png info %dx%d %d @%g", info.width, info.height, info.frames, info.fps);
    check_metadata(folder, &info);
    dio_media_info_free(&info);
    {
        char cmd[2048];
        snprintf(cmd, sizeof(cmd),
                 "ffprobe -v error -show_entries frame_tags=seed -of default=nw=1 '%s/00000.png'", folder);
        CHECK(strstr(capture(cmd), "seed=42"), "ffprobe reads the tEXt chunk of 00000.png");
    }
    /* Writing the folder again replaces it. */
    v.frames = 4;
    CHECK(dio_media_write(png, &v, &o) == DIO_OK, "rewrite png: %s", dio_last_error());
    CHECK(!exists(path_of("clip/00004.png")) && exists(path_of("clip/00003.png")), "png folder replaced");
    CHECK(count_temp_files(work) == 0, "temporary files left");
    v.frames = T;
    dio_video_free(&v);
}

/* ---- resize and crop, hand-computed ---- */

static void write_png_image(const char *name, int w, int h, void (*fill)(uint8_t *, int, int, int, int))
{
    dio_video v;
    memset(&v, 0, sizeof(v));
    v.width = w;
    v.height = h;
    v.frames = 1;
    v.rgb = malloc((size_t)w * h * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) fill(v.rgb + ((size_t)y * w + x) * 3, x, y, w, h);
    dio_media_write_options o = wopts(DIO_MEDIA_PNG, 0, NULL, 0);
    CHECK(dio_media_write(path_of(name), &v, &o) == DIO_OK, "write %s: %s", name, dio_last_error());
    free(v.rgb);
}

static void fill_columns(uint8_t *p, int x, int y, int w, int h)
{
    p[0] = (uint8_t)(10 * x + 1);
    p[1] = (uint8_t)(100 + y);
    p[2] = (uint8_t)(200 - x);
}

static void fill_ramp(uint8_t *p, int x, int y, int w, int h)
{
    p[0] = (uint8_t)(4 * x); /* 0..252 */
    p[1] = (uint8_t)(5 * y); /* 0..235 */
    p[2] = 128;
}

static void case_resize(void)
{
    dio_video r;
    /* 4×2 → 2×2: scale max(2/4, 2/2) = 1, 4×2 kept, margin 2 → left 1: columns 1 and 2. */
    write_png_image("c4x2", 4, 2, fill_columns);
    CHECK(read_video(path_of("c4x2/00000.png"), 2, 2, 0, &r) == DIO_OK, "read c4x2: %s", dio_last_error());
    if (r.rgb && r.width == 2 && r.height == 2)
        for (int y = 0; y < 2; y++)
            for (int x = 0; x < 2; x++) {
                const uint8_t *p = r.rgb + ((size_t)y * 2 + x) * 3;
                CHECK(p[0] == 10 * (x + 1) + 1 && p[1] == 100 + y && p[2] == 200 - (x + 1),
                      "c4x2 crop (%d,%d) = %d %d %d", x, y, p[0], p[1], p[2]);
            }
    else
        CHECK(0, "c4x2 size %dx%d", r.width, r.height);
    dio_video_free(&r);
    /* 5×2 → 2×2: margin 3, round(1.5) = 2 (half to even): columns 2 and 3. */
    write_png_image("c5x2", 5, 2, fill_columns);
    CHECK(read_video(path_of("c5x2"), 2, 2, 0, &r) == DIO_OK, "read c5x2: %s", dio_last_error());
    if (r.rgb && r.width == 2 && r.height == 2)
        for (int x = 0; x < 2; x++)
            CHECK(r.rgb[x * 3] == 10 * (x + 2) + 1, "c5x2 crop column %d = %d", x, r.rgb[x * 3]);
    dio_video_free(&r);
    /* 2×7 → 2×2: vertical margin 5, round(2.5) = 2: rows 2 and 3. */
    write_png_image("c2x7", 2, 7, fill_columns);
    CHECK(read_video(path_of("c2x7"), 2, 2, 0, &r) == DIO_OK, "read c2x7: %s", dio_last_error());
    if (r.rgb && r.width == 2 && r.height == 2)
        for (int y = 0; y < 2; y++)
            CHECK(r.rgb[y * 6 + 1] == 100 + y + 2, "c2x7 crop row %d = %d", y, r.rgb[y * 6 + 1]);
    dio_video_free(&r);
    /* 64×48 ramp → 32×32: scale = max(32/64, 32/48) = 2/3, resized to ceil(48·2/3) = 32 rows ×
     * ceil(64·2/3) = 43 columns, crop left round(11/2) = round(5.5) = 6, top 0. Output column c is
     * resized column c+6, centre-mapped to source x = (c+6+0.5)·64/43 − 0.5, so R = 4x; row r maps
     * to y = (r+0.5)·1.5 − 0.5, G = 5y. A linear ramp is reproduced exactly by any symmetric
     * interpolation filter away from the borders; ±2 covers 8-bit rounding in the scaler. */
    write_png_image("ramp", 64, 48, fill_ramp);
    CHECK(read_video(path_of("ramp"), 32, 32, 0, &r) == DIO_OK, "read ramp: %s", dio_last_error());
    if (r.rgb && r.width == 32 && r.height == 32) {
        int worst = 0;
        for (int y = 3; y < 29; y++)
            for (int x = 3; x < 29; x++) {
                const uint8_t *p = r.rgb + ((size_t)y * 32 + x) * 3;
                double er = 4 * ((x + 6 + 0.5) * 64.0 / 43.0 - 0.5), eg = 5 * ((y + 0.5) * 1.5 - 0.5);
                int d = (int)fmax(fabs(p[0] - er), fabs(p[1] - eg));
                d = d > abs(p[2] - 128) ? d : abs(p[2] - 128);
                if (d > worst) worst = d;
            }
        printf("ramp 64x48 -> 32x32: worst interior error %d\n", worst);
        CHECK(worst <= 2, "ramp resize off by %d", worst);
    } else {
        CHECK(0, "ramp size %dx%d", r.width, r.height);
    }
    dio_video_free(&r);
    /* Upscale: 4×2 → 16×16: scale max(4, 8) = 8 → 16 rows × 32 columns, crop left 8. */
    CHECK(read_video(path_of("c4x2"), 16, 16, 0, &r) == DIO_OK && r.width == 16 && r.height == 16,
          "upscale 4x2 -> 16x16: %s", dio_last_error());
    dio_video_free(&r);
    /* Bad targets. */
    CHECK(read_video(path_of("ramp"), 32, 0, 0, &r) == DIO_ERR_INVALID_ARGUMENT, "one side 0");
    CHECK(read_video(path_of("ramp"), 20000, 20000, 0, &r) == DIO_ERR_INVALID_ARGUMENT, "target above 16384");
    CHECK(read_video(path_of("ramp"), -1, -1, 0, &r) == DIO_ERR_INVALID_ARGUMENT, "negative target");
    /* An MP4 read at a target size: 64×48 → 16×16 (scale 1/3 → 22×16, crop 3). */
    dio_video v;
    make_clip(&v, W, H, T);
    dio_media_write_options o = wopts(DIO_MEDIA_MP4, 0, NULL, 0);
    CHECK(dio_media_write(path_of("small.mp4"), &v, &o) == DIO_OK, "write small.mp4");
    CHECK(read_video(path_of("small.mp4"), 16, 16, 3, &r) == DIO_OK && r.width == 16 && r.height == 16 &&
              r.frames == 3,
          "mp4 at 16x16: %s", dio_last_error());
    dio_video_free(&r);
    dio_video_free(&v);
}

/* ---- corrupt and truncated input ---- */

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(data, 1, n, f);
        fclose(f);
    }
}

static void expect_bad(const char *path, const char *what)
{
    dio_video r;
    dio_media_info info;
    memset(&r, 0x5a, sizeof(r));
    dio_video before = r;
    dio_status st = dio_media_read(path, NULL, &r);
    CHECK(st == DIO_ERR_BAD_FORMAT || st == DIO_ERR_IO, "%s: read gave %s", what, dio_status_name(st));
    CHECK(strstr(dio_last_error(), path) != NULL, "%s: message '%s' does not name the path", what,
          dio_last_error());
    CHECK(memcmp(&r, &before, sizeof(r)) == 0, "%s: output touched on failure", what);
    memset(&info, 0, sizeof(info));
    st = dio_media_info_read(path, &info);
    if (st == DIO_OK) dio_media_info_free(&info);
}

static void case_corrupt(void)
{
    dio_video v, r;
    make_clip(&v, W, H, T);
    dio_media_write_options o = wopts(DIO_MEDIA_AUTO, 0, meta, N_META);
    char mp4[1024], webp[1024];
    snprintf(mp4, sizeof(mp4), "%s", path_of("good.mp4"));
    snprintf(webp, sizeof(webp), "%s", path_of("good.webp"));
    CHECK(dio_media_write(mp4, &v, &o) == DIO_OK, "write good.mp4: %s", dio_last_error());
    CHECK(dio_media_write(webp, &v, &o) == DIO_OK, "write good.webp: %s", dio_last_error());
    FILE *f = fopen(mp4, "rb");
    static uint8_t buf[1 << 20];
    size_t n = f ? fread(buf, 1, sizeof(buf), f) : 0;
    if (f) fclose(f);
    CHECK(n > 2000, "mp4 size %zu", n);
    /* Truncations: every length in a sweep from 0 to n-1. */
    int rejected = 0, tried = 0;
    for (size_t len = 0; len < n; len += (len < 64 ? 7 : len < 4096 ? 97 : 389)) {
        char name[64];
        snprintf(name, sizeof(name), "trunc.mp4");
        write_bytes(path_of(name), buf, len);
        memset(&r, 0, sizeof(r));
        dio_status st = dio_media_read(path_of(name), NULL, &r);
        tried++;
        if (st != DIO_OK)
            rejected++;
        else
            printf("truncated at %zu of %zu still read (%d frames)\n", len, n, r.frames);
        dio_video_free(&r);
        dio_media_info info;
        if (dio_media_info_read(path_of(name), &info) == DIO_OK) dio_media_info_free(&info);
    }
    printf("mp4 truncated at %d lengths: %d rejected\n", tried, rejected);
    CHECK(rejected == tried, "%d of %d truncated MP4s were accepted", tried - rejected, tried);
    write_bytes(path_of("trunc.mp4"), buf, n - 1);
    expect_bad(path_of("trunc.mp4"), "mp4 missing its last byte");
    /* 200 flipped bytes at several places: never a crash, and a wrong frame count is never returned.
     * (A flip inside x264's SEI text changes no pixel and may read fine.) In the last frames' data
     * (the index is at the front, +faststart) the decoder must notice. */
    {
        static uint8_t mod[1 << 20];
        for (int k = 1; k <= 8; k++) {
            size_t at = k < 8 ? n * k / 8 : n - 700;
            memcpy(mod, buf, n);
            for (size_t i = at; i < at + 200 && i < n; i++) mod[i] ^= 0xA5;
            write_bytes(path_of("flipped.mp4"), mod, n);
            memset(&r, 0, sizeof(r));
            dio_status st = dio_media_read(path_of("flipped.mp4"), NULL, &r);
            printf("mp4 with 200 flipped bytes at %zu: %s\n", at, st == DIO_OK ? "read" : dio_last_error());
            CHECK(st != DIO_OK || r.frames == T, "flipped at %zu: %d frames", at, r.frames);
            if (k == 8)
                CHECK(st == DIO_ERR_BAD_FORMAT, "flipped frame data near the end read as %s",
                      dio_status_name(st));
            dio_video_free(&r);
        }
    }
    /* Garbage, text as .png, empty, WAV (no video), missing, a folder without frames. */
    uint8_t junk[5000];
    uint32_t s = 12345;
    for (size_t i = 0; i < sizeof(junk); i++) junk[i] = (uint8_t)((s = s * 1103515245 + 12345) >> 16);
    write_bytes(path_of("junk.mp4"), junk, sizeof(junk));
    expect_bad(path_of("junk.mp4"), "garbage .mp4");
    write_bytes(path_of("junk.bin"), junk, sizeof(junk));
    expect_bad(path_of("junk.bin"), "garbage .bin");
    const char *text = "this is not an image\n";
    write_bytes(path_of("text.png"), text, strlen(text));
    expect_bad(path_of("text.png"), "text named .png");
    write_bytes(path_of("text.webp"), text, strlen(text));
    expect_bad(path_of("text.webp"), "text named .webp");
    write_bytes(path_of("empty.mp4"), "", 0);
    expect_bad(path_of("empty.mp4"), "empty file");
    {
        uint8_t wav[44 + 3200];
        memset(wav, 0, sizeof(wav));
        memcpy(wav, "RIFF", 4);
        uint32_t v32 = 36 + 3200;
        memcpy(wav + 4, &v32, 4);
        memcpy(wav + 8, "WAVEfmt ", 8);
        v32 = 16;
        memcpy(wav + 16, &v32, 4);
        uint16_t pcm = 1, ch = 1, bits = 16, align = 2;
        uint32_t rate = 16000, bps = 32000;
        memcpy(wav + 20, &pcm, 2);
        memcpy(wav + 22, &ch, 2);
        memcpy(wav + 24, &rate, 4);
        memcpy(wav + 28, &bps, 4);
        memcpy(wav + 32, &align, 2);
        memcpy(wav + 34, &bits, 2);
        memcpy(wav + 36, "data", 4);
        v32 = 3200;
        memcpy(wav + 40, &v32, 4);
        write_bytes(path_of("audio.wav"), wav, sizeof(wav));
        expect_bad(path_of("audio.wav"), "audio only");
        CHECK(strstr(dio_last_error(), "no video stream") != NULL, "wav message: %s", dio_last_error());
    }
    CHECK(dio_media_read(path_of("missing.mp4"), NULL, &r) == DIO_ERR_IO, "missing file is IO");
    CHECK(strstr(dio_last_error(), "missing.mp4"), "missing file message: %s", dio_last_error());
    dio_media_info info;
    CHECK(dio_media_info_read(path_of("missing.mp4"), &info) == DIO_ERR_IO, "info on a missing file is IO");
    mkdir(path_of("noframes"), 0755);
    expect_bad(path_of("noframes"), "folder without frames");
    /* Truncated WebP. */
    f = fopen(webp, "rb");
    n = f ? fread(buf, 1, sizeof(buf), f) : 0;
    if (f) fclose(f);
    rejected = tried = 0;
    for (size_t len = 1; len < n; len += 131) {
        write_bytes(path_of("trunc.webp"), buf, len);
        memset(&r, 0, sizeof(r));
        tried++;
        if (dio_media_read(path_of("trunc.webp"), NULL, &r) != DIO_OK) rejected++;
        dio_video_free(&r);
        if (dio_media_info_read(path_of("trunc.webp"), &info) == DIO_OK) dio_media_info_free(&info);
    }
    printf("webp truncated at %d lengths: %d rejected\n", tried, rejected);
    CHECK(rejected == tried, "%d of %d truncated WebPs were accepted", tried - rejected, tried);
    /* A truncated PNG frame. */
    o = wopts(DIO_MEDIA_PNG, 0, NULL, 0);
    CHECK(dio_media_write(path_of("frames.png"), &v, &o) == DIO_OK, "write frames");
    f = fopen(path_of("frames/00000.png"), "rb");
    n = f ? fread(buf, 1, sizeof(buf), f) : 0;
    if (f) fclose(f);
    write_bytes(path_of("half.png"), buf, n / 2);
    expect_bad(path_of("half.png"), "truncated png");
    write_bytes(path_of("frames/00005.png"), buf, n / 2);
    expect_bad(path_of("frames"), "folder with a truncated frame");
    dio_video_free(&v);
}

/* ---- atomic writes ---- */

/* In a child: a file-size limit makes the write fail midway; 0 when nothing is left behind. */
static int limited_write(const char *path, const char *final_name, int format, rlim_t limit)
{
    pid_t pid = fork();
    if (pid == 0) {
        dio_video v;
        struct rlimit rl = {limit, limit};
        signal(SIGXFSZ, SIG_IGN);
        make_clip(&v, W, H, T);
        /* Frames 0..5 flat (tiny PNGs), 6.. noise (PNGs far above the limit): the PNG write fails
         * with six frames already in its temporary folder. */
        uint32_t s = 7;
        for (int f = 0; f < T; f++)
            for (size_t i = 0; i < (size_t)W * H * 3; i++)
                v.rgb[(size_t)f * W * H * 3 + i] = f < 6 ? 90 : (uint8_t)((s = s * 1103515245 + 12345) >> 16);
        setrlimit(RLIMIT_FSIZE, &rl);
        dio_media_write_options o = wopts(format, format == DIO_MEDIA_WEBP ? 100 : 0, meta, N_META);
        dio_status st = dio_media_write(path, &v, &o);
        int bad = 0;
        if (st == DIO_OK) {
            printf("FAIL: write of %s under a %lu-byte limit succeeded\n", path, (unsigned long)limit);
            bad = 1;
        } else {
            printf("limited write of %s: %s\n", path, dio_last_error());
        }
        if (exists(final_name)) {
            printf("FAIL: %s exists after a failed write\n", final_name);
            bad = 1;
        }
        if (count_temp_files(work)) {
            printf("FAIL: temporary files left after a failed write of %s\n", path);
            bad = 1;
        }
        dio_video_free(&v);
        fflush(stdout);
        _exit(bad);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 99;
}

static void case_atomic(void)
{
    dio_video v;
    make_clip(&v, W, H, T);
    dio_media_write_options o = wopts(DIO_MEDIA_AUTO, 0, meta, N_META);
    const char *mp4 = path_of("keep.mp4");
    /* A good file, then failed rewrites: the good file stays as it was. */
    CHECK(dio_media_write(mp4, &v, &o) == DIO_OK, "write keep.mp4: %s", dio_last_error());
    long size = file_size(mp4);
    setenv("DIORAMA_MP4_ENCODER", "no-such-encoder", 1);
    dio_status st = dio_media_write(mp4, &v, &o);
    unsetenv("DIORAMA_MP4_ENCODER");
    CHECK(st == DIO_ERR_NOT_SUPPORTED, "missing encoder gave %s", dio_status_name(st));
    CHECK(strstr(dio_last_error(), "no-such-encoder") != NULL, "message: %s", dio_last_error());
    CHECK(file_size(mp4) == size, "keep.mp4 changed by a failed write");
    dio_video r;
    CHECK(read_video(mp4, 0, 0, 0, &r) == DIO_OK && r.frames == T, "keep.mp4 still reads");
    dio_video_free(&r);
    CHECK(count_temp_files(work) == 0, "temporary file left after a failed MP4 write");
    /* Bad format, bad extension, bad metadata, bad quality, bad fps: nothing written. */
    dio_media_write_options bad = wopts(99, 0, NULL, 0);
    CHECK(dio_media_write(path_of("bad.mp4"), &v, &bad) == DIO_ERR_INVALID_ARGUMENT, "format 99");
    bad = wopts(DIO_MEDIA_AUTO, 0, NULL, 0);
    CHECK(dio_media_write(path_of("bad.xyz"), &v, &bad) == DIO_ERR_INVALID_ARGUMENT, "unknown extension");
    dio_kv badkv[1] = {{"", "x"}};
    bad = wopts(DIO_MEDIA_MP4, 0, badkv, 1);
    CHECK(dio_media_write(path_of("bad.mp4"), &v, &bad) == DIO_ERR_INVALID_ARGUMENT, "empty key");
    dio_kv ctl[1] = {{"k", "bell\a"}};
    bad = wopts(DIO_MEDIA_WEBP, 0, ctl, 1);
    CHECK(dio_media_write(path_of("bad.webp"), &v, &bad) == DIO_ERR_INVALID_ARGUMENT, "control character");
    bad = wopts(DIO_MEDIA_MP4, 60, NULL, 0);
    CHECK(dio_media_write(path_of("bad.mp4"), &v, &bad) == DIO_ERR_INVALID_ARGUMENT, "mp4 quality 60");
    v.fps = 0;
    bad = wopts(DIO_MEDIA_MP4, 0, NULL, 0);
    CHECK(dio_media_write(path_of("bad.mp4"), &v, &bad) == DIO_ERR_INVALID_ARGUMENT, "fps 0 on 13 frames");
    v.fps = FPS;
    CHECK(!exists(path_of("bad.mp4")) && !exists(path_of("bad.webp")) && !exists(path_of("bad.xyz")),
          "a refused write left a file");
    /* A directory that does not exist / cannot hold files. */
    CHECK(dio_media_write(path_of("no/such/dir/x.mp4"), &v, &o) == DIO_ERR_IO, "missing directory: %s",
          dio_last_error());
    CHECK(dio_media_write("/proc/diorama-media-test.webp", &v, &o) == DIO_ERR_IO, "unwritable directory");
    CHECK(!exists("/proc/diorama-media-test.webp"), "file in /proc");
    /* A folder that is not a PNG frame folder is never replaced. */
    mkdir(path_of("mine"), 0755);
    write_bytes(path_of("mine/notes.txt"), "keep me", 7);
    CHECK(dio_media_write(path_of("mine.png"), &v, &o) == DIO_ERR_IO, "replacing a user folder");
    CHECK(file_size(path_of("mine/notes.txt")) == 7 && !exists(path_of("mine/00000.png")),
          "user folder touched");
    /* A file-size limit hit midway, for each format. */
    CHECK(limited_write(path_of("lim.mp4"), path_of("lim.mp4"), DIO_MEDIA_MP4, 3000) == 0, "limited mp4");
    CHECK(limited_write(path_of("lim.webp"), path_of("lim.webp"), DIO_MEDIA_WEBP, 3000) == 0, "limited webp");
    CHECK(limited_write(path_of("lim.png"), path_of("lim"), DIO_MEDIA_PNG, 3000) == 0, "limited png");
    CHECK(count_temp_files(work) == 0, "temporary files left");
    dio_video_free(&v);
}

/* ---- odd sizes ---- */

static void case_odd(void)
{
    dio_video v, r;
    double mean;
    int max;
    dio_media_info info;
    make_clip(&v, 63, 47, 5);
    dio_media_write_options o = wopts(DIO_MEDIA_AUTO, 0, meta, N_META);
    CHECK(dio_media_write(path_of("odd.mp4"), &v, &o) == DIO_OK, "odd mp4: %s", dio_last_error());
    CHECK(read_video(path_of("odd.mp4"), 0, 0, 0, &r) == DIO_OK && r.width == 64 && r.height == 48 &&
              r.frames == 5,
          "odd mp4 reads %dx%d (padded to 64x48)", r.width, r.height);
    if (r.rgb && r.width == 64) {
        compare(&v, &r, 63, 47, &mean, &max);
        printf("odd mp4: mean abs error %.3f, max %d\n", mean, max);
        CHECK(mean < 4 && max < 40, "odd mp4 error mean %.3f max %d", mean, max);
        int worst = 0; /* the padded column repeats column 62 */
        for (int y = 0; y < 47; y++)
            for (int c = 0; c < 3; c++) {
                int d = abs(r.rgb[((size_t)y * 64 + 63) * 3 + c] - v.rgb[((size_t)y * 63 + 62) * 3 + c]);
                if (d > worst) worst = d;
            }
        CHECK(worst < 40, "padded column differs by %d", worst);
    }
    dio_video_free(&r);
    o.quality = 100;
    CHECK(dio_media_write(path_of("odd.webp"), &v, &o) == DIO_OK, "odd webp: %s", dio_last_error());
    CHECK(read_video(path_of("odd.webp"), 0, 0, 0, &r) == DIO_OK && r.width == 63 && r.height == 47 &&
              r.frames == 5,
          "odd webp %dx%d", r.width, r.height);
    if (r.rgb && r.width == 63) {
        compare(&v, &r, 63, 47, &mean, &max);
        CHECK(max == 0, "odd lossless webp max %d", max);
    }
    dio_video_free(&r);
    o.quality = 0;
    CHECK(dio_media_write(path_of("odd/"), &v, &o) == DIO_OK, "odd png: %s", dio_last_error());
    CHECK(read_video(path_of("odd"), 0, 0, 0, &r) == DIO_OK && r.width == 63 && r.height == 47 &&
              r.frames == 5,
          "odd png %dx%d", r.width, r.height);
    if (r.rgb && r.width == 63) {
        compare(&v, &r, 63, 47, &mean, &max);
        CHECK(max == 0, "odd png max %d", max);
    }
    dio_video_free(&r);
    CHECK(dio_media_info_read(path_of("odd"), &info) == DIO_OK && info.width == 63 && info.height == 47,
          "odd png info");
    dio_media_info_free(&info);
    /* A 1×1 single image with fps 0 as MP4 (1 fps). */
    dio_video one;
    make_clip(&one, 1, 1, 1);
    one.fps = 0;
    CHECK(dio_media_write(path_of("one.mp4"), &one, &o) == DIO_OK, "1x1 mp4: %s", dio_last_error());
    CHECK(read_video(path_of("one.mp4"), 0, 0, 0, &r) == DIO_OK && r.width == 2 && r.height == 2 &&
              r.frames == 1,
          "1x1 mp4 reads %dx%d %d", r.width, r.height, r.frames);
    dio_video_free(&r);
    dio_video_free(&one);
    dio_video_free(&v);
}

/* ---- the mpeg4 fallback ---- */

static void case_fallback(void)
{
    dio_video v, r;
    dio_media_info info;
    double mean;
    int max;
    make_clip(&v, W, H, T);
    v.fps = 30000.0 / 1001.0;
    dio_media_write_options o = wopts(DIO_MEDIA_MP4, 0, meta, N_META);
    setenv("DIORAMA_MP4_ENCODER", "mpeg4", 1);
    CHECK(dio_media_write(path_of("fallback.mp4"), &v, &o) == DIO_OK, "mpeg4: %s", dio_last_error());
    unsetenv("DIORAMA_MP4_ENCODER");
    CHECK(read_video(path_of("fallback.mp4"), 0, 0, 0, &r) == DIO_OK && r.frames == T, "read mpeg4");
    compare(&v, &r, W, H, &mean, &max);
    printf("mp4/mpeg4 qscale 3: mean abs error %.3f, max %d\n", mean, max);
    CHECK(mean < 4 && max < 60, "mpeg4 error mean %.3f max %d", mean, max);
    CHECK(fabs(r.fps - 30000.0 / 1001.0) < 1e-9, "mpeg4 fps %.9g", r.fps);
    dio_video_free(&r);
    CHECK(dio_media_info_read(path_of("fallback.mp4"), &info) == DIO_OK, "info: %s", dio_last_error());
    CHECK(strcmp(info.codec, "mpeg4") == 0 && meta_get(&info, "codec") &&
              strcmp(meta_get(&info, "codec"), "mpeg4") == 0,
          "codec %s / metadata %s", info.codec, meta_get(&info, "codec"));
    check_metadata("fallback.mp4", &info);
    dio_media_info_free(&info);
    char cmd[2048];
    snprintf(
        cmd, sizeof(cmd),
        "ffprobe -v error -select_streams v:0 -count_frames -show_entries stream=codec_name,r_frame_rate,"
        "nb_read_frames -of default=nw=1 '%s'",
        path_of("fallback.mp4"));
    const char *out = capture(cmd);
    printf("ffprobe mpeg4:\n%s", out);
    CHECK(strstr(out, "codec_name=mpeg4\n") && strstr(out, "r_frame_rate=30000/1001\n") &&
              strstr(out, "nb_read_frames=13\n"),
          "ffprobe mpeg4");
    /* MKV through the same path. */
    CHECK(dio_media_write(path_of("clip.mkv"), &v, &o) == DIO_OK, "mkv: %s", dio_last_error());
    CHECK(dio_media_info_read(path_of("clip.mkv"), &info) == DIO_OK &&
              strcmp(info.container, "matroska") == 0 && info.frames == T,
          "mkv info %s %d", info.container, info.frames);
    dio_media_info_free(&info);
    dio_video_free(&v);
}

/* ---- files made by the ffmpeg command line: JPEG, still WebP, FFV1 in Matroska, grey and palette PNG ----
 */

static void case_foreign(void)
{
    dio_video v, r;
    dio_media_info info;
    double mean;
    int max;
    char cmd[4096];
    make_clip(&v, W, H, T);
    dio_media_write_options o = wopts(DIO_MEDIA_PNG, 0, NULL, 0);
    CHECK(dio_media_write(path_of("src.png"), &v, &o) == DIO_OK, "write src: %s", dio_last_error());
    snprintf(cmd, sizeof(cmd),
             "cd '%s' && ffmpeg -v error -y -i src/00000.png -q:v 2 a.jpg && "
             "ffmpeg -v error -y -i src/00000.png -c:v libwebp -lossless 1 still.webp && "
             "ffmpeg -v error -y -framerate 10 -i src/%%05d.png -c:v ffv1 clip.mkv && "
             "ffmpeg -v error -y -i src/00000.png -pix_fmt gray grey.png && "
             "ffmpeg -v error -y -i src/00000.png -pix_fmt pal8 pal.png",
             work);
    int rc = system(cmd);
    CHECK(rc == 0, "the ffmpeg command line could not make the inputs");
    if (rc != 0) goto done;
    /* JPEG: one frame, fps 0, near the source (q 2, 4:2:0). */
    CHECK(read_video(path_of("a.jpg"), 0, 0, 0, &r) == DIO_OK && r.width == W && r.height == H &&
              r.frames == 1 && r.fps == 0,
          "jpeg %dx%d %d @%g: %s", r.width, r.height, r.frames, r.fps, dio_last_error());
    if (r.rgb) {
        compare(&v, &r, W, H, &mean, &max);
        printf("jpeg q2: mean abs error %.3f, max %d\n", mean, max);
        CHECK(mean < 4 && max < 48, "jpeg error mean %.3f max %d", mean, max);
    }
    dio_video_free(&r);
    CHECK(dio_media_info_read(path_of("a.jpg"), &info) == DIO_OK && info.frames == 1 && info.fps == 0 &&
              strcmp(info.codec, "mjpeg") == 0,
          "jpeg info");
    dio_media_info_free(&info);
    /* A still lossless WebP (libwebp path, not animated): exact, fps 0. */
    CHECK(read_video(path_of("still.webp"), 0, 0, 0, &r) == DIO_OK && r.frames == 1 && r.fps == 0 &&
              r.width == W,
          "still webp: %s", dio_last_error());
    if (r.rgb) CHECK(memcmp(r.rgb, v.rgb, (size_t)W * H * 3) == 0, "still lossless webp pixels");
    dio_video_free(&r);
    CHECK(dio_media_info_read(path_of("still.webp"), &info) == DIO_OK && info.frames == 1 && info.fps == 0 &&
              strcmp(info.codec, "vp8l") == 0,
          "still webp info");
    dio_media_info_free(&info);
    /* FFV1 (lossless RGB) in Matroska at 10 fps: exact pixels, 13 frames; info counts them. */
    CHECK(read_video(path_of("clip.mkv"), 0, 0, 0, &r) == DIO_OK && r.frames == T && fabs(r.fps - 10) < 1e-9,
          "ffv1 mkv %d frames @%g: %s", r.frames, r.fps, dio_last_error());
    if (r.rgb && r.frames == T) {
        compare(&v, &r, W, H, &mean, &max);
        CHECK(max == 0, "ffv1 max %d", max);
    }
    dio_video_free(&r);
    CHECK(dio_media_info_read(path_of("clip.mkv"), &info) == DIO_OK && info.frames == T &&
              strcmp(info.codec, "ffv1") == 0 && strcmp(info.container, "matroska") == 0,
          "mkv info %d %s %s", info.frames, info.codec, info.container);
    dio_media_info_free(&info);
    /* Grey and palette PNGs become RGB. */
    CHECK(read_video(path_of("grey.png"), 0, 0, 0, &r) == DIO_OK && r.rgb && r.rgb[0] == r.rgb[1] &&
              r.rgb[1] == r.rgb[2],
          "grey png: %s", dio_last_error());
    dio_video_free(&r);
    CHECK(read_video(path_of("pal.png"), 32, 32, 0, &r) == DIO_OK && r.width == 32, "palette png: %s",
          dio_last_error());
    dio_video_free(&r);
done:
    dio_video_free(&v);
}

/* ---- the CLI ---- */

static void case_cli(const char *exe)
{
    dio_video v;
    char cmd[2048];
    make_clip(&v, W, H, T);
    dio_media_write_options o = wopts(DIO_MEDIA_AUTO, 0, meta, N_META);
    CHECK(dio_media_write(path_of("cli.mp4"), &v, &o) == DIO_OK, "write: %s", dio_last_error());
    CHECK(dio_media_write(path_of("cli.webp"), &v, &o) == DIO_OK, "write: %s", dio_last_error());
    snprintf(cmd, sizeof(cmd), "'%s' info '%s'", exe, path_of("cli.mp4"));
    const char *out = capture(cmd);
    printf("%s", out);
    CHECK(capture_status == 0, "diorama info exit %d", capture_status);
    CHECK(strstr(out, "size       64x48\n") && strstr(out, "frames     13\n") &&
              strstr(out, "fps        16\n") && strstr(out, "container  mp4\n") &&
              strstr(out, "codec      h264\n"),
          "info mp4 output");
    CHECK(strstr(out, "  seed=42\n") && strstr(out, "  negative prompt=blurry; low quality\n") &&
              strstr(out, "\\nsecond line\\tend\n"),
          "info mp4 metadata");
    snprintf(cmd, sizeof(cmd), "'%s' info '%s'", exe, path_of("cli.webp"));
    out = capture(cmd);
    CHECK(capture_status == 0, "diorama info exit %d", capture_status);
    CHECK(strstr(out, "frames     13\n") && strstr(out, "container  webp\n") && strstr(out, "  seed=42\n"),
          "info webp output: %s", out);
    write_bytes(path_of("cli_bad.mp4"), "nope", 4);
    snprintf(cmd, sizeof(cmd), "'%s' info '%s' 2>&1", exe, path_of("cli_bad.mp4"));
    int rc = system(cmd);
    CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 1, "bad file exit %d", WEXITSTATUS(rc));
    out = capture(cmd);
    CHECK(strstr(out, "cli_bad.mp4") != NULL, "bad file message: %s", out);
    snprintf(cmd, sizeof(cmd), "'%s' info >/dev/null 2>&1", exe);
    rc = system(cmd);
    CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 2, "usage exit %d", WEXITSTATUS(rc));
    dio_video_free(&v);
}

int main(int argc, char **argv)
{
    char dir[1024];
    if (argc < 3) {
        fprintf(stderr, "usage: test_media CASE WORK_DIR [DIORAMA_EXE]\n");
        return 2;
    }
    snprintf(dir, sizeof(dir), "%s/%s", argv[2], argv[1]);
    mkdir(argv[2], 0755);
    char cmd[2200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s'", dir, dir);
    if (system(cmd) != 0) return 2;
    work = dir;
    if (strcmp(argv[1], "roundtrip") == 0)
        case_roundtrip();
    else if (strcmp(argv[1], "resize") == 0)
        case_resize();
    else if (strcmp(argv[1], "corrupt") == 0)
        case_corrupt();
    else if (strcmp(argv[1], "atomic") == 0)
        case_atomic();
    else if (strcmp(argv[1], "odd") == 0)
        case_odd();
    else if (strcmp(argv[1], "fallback") == 0)
        case_fallback();
    else if (strcmp(argv[1], "foreign") == 0)
        case_foreign();
    else if (strcmp(argv[1], "cli") == 0 && argc > 3)
        case_cli(argv[3]);
    else {
        fprintf(stderr, "unknown case %s\n", argv[1]);
        return 2;
    }
    printf("%s: %d failure(s)\n", argv[1], failures);
    return failures ? 1 : 0;
}

/* libFuzzer harness for the media input path (core/media_read.c, core/media_info.c): each input is
 * written as a file and read both as frames (dio_media_read, scaled and cropped to 24x16, at most 4
 * frames, so a mutation that grows the picture costs the decoder, not us) and as `diorama info` does
 * (dio_media_info_read). FFmpeg and libwebp themselves are not instrumented; our wrappers around them
 * are: the probing, the WebP sniffing and animation path, frame limits, size checks and cleanup on every
 * error. The first byte picks the file name's extension (.mp4 .webp .png .jpg .mkv none), which FFmpeg
 * uses as a hint; the rest is the file. A refusal must name the file; a read that succeeds must give
 * exactly the requested size with 1..4 frames. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diorama/diorama.h"
#include "fuzz_util.h"

static void quiet(void)
{
    dio_log_set_level(DIO_LOG_ERROR);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[] = {"in.mp4", "in.webp", "in.png", "in.jpg", "in.mkv", "in"};
    static int init;
    char path[1024];
    dio_media_read_options opt = {sizeof opt, 24, 16, 4, 0};
    dio_video v = {sizeof v, 0, 0, 0, 0, NULL};
    dio_media_info info;
    const char *dir = fuzz_scratch("media");
    if (!init) quiet(), init = 1;
    if (size == 0) return 0;
    fuzz_put(dir, names[data[0] % 6], data + 1, size - 1, path, sizeof path);
    dio_clear_error();
    if (dio_media_read(path, &opt, &v) == DIO_OK) {
        if (getenv("DIO_FUZZ_VERBOSE")) fprintf(stderr, "read: %d frames\n", v.frames);
        if (v.width != 24 || v.height != 16 || v.frames < 1 || v.frames > 4 || !v.rgb) {
            fprintf(stderr, "fuzz: read %dx%d x %d frames, asked for 24x16 x <= 4\n", v.width, v.height,
                    v.frames);
            abort();
        }
        volatile unsigned sum = 0;
        for (size_t i = 0; i < (size_t)v.frames * 16 * 24 * 3; i++) sum += v.rgb[i];
        (void)sum;
    } else if (getenv("DIO_FUZZ_VERBOSE") && fprintf(stderr, "read: %s\n", dio_last_error()) < 0) {
        abort();
    } else if (!strstr(dio_last_error(), path)) {
        fprintf(stderr, "fuzz: refusal does not name the file: %s\n", dio_last_error());
        abort();
    }
    dio_video_free(&v);
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    dio_clear_error();
    if (dio_media_info_read(path, &info) != DIO_OK && !dio_last_error()[0]) {
        fprintf(stderr, "fuzz: info refused without a message\n");
        abort();
    }
    dio_media_info_free(&info);
    unlink(path);
    return 0;
}

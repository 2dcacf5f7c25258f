/* libFuzzer entry for the safetensors reader: each input is written to a scratch directory both as
 * f.safetensors and as f.safetensors.index.json (so an input that is an index may name the other file
 * as its shard), then each is opened; whatever opens is walked end to end and closed. Built with
 * -DDIO_FUZZ=ON and clang; not part of ctest. Run: fuzz_safetensors [-max_total_time=60] [corpus/].
 * The weights code of core/ (safetensors.c, pt_zip.c, pt_pickle.c) is compiled in, with the
 * dio_set_error and dio_log below in place of libdiorama's. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diorama/diorama.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static _Thread_local char fuzz_message[2048];

dio_status dio_set_error(dio_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(fuzz_message, sizeof fuzz_message, fmt, ap);
    va_end(ap);
    return status;
}

void dio_log(dio_log_level level, const char *who, const char *fmt, ...)
{
    (void)level;
    (void)who;
    (void)fmt;
}

static char fuzz_dir[512], fuzz_file[600], fuzz_index[600];

static void cleanup(void)
{
    unlink(fuzz_file);
    unlink(fuzz_index);
    rmdir(fuzz_dir);
}

static int put(const char *path, const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    size_t w = size ? fwrite(data, 1, size, f) : 0;
    return fclose(f) == 0 && w == size;
}

static void walk(const char *path)
{
    dio_weights *w = NULL;
    fuzz_message[0] = '\0';
    if (dio_weights_open(path, &w) != DIO_OK) {
        if (!fuzz_message[0]) abort(); /* every refusal says why */
        return;
    }
    unsigned sum = 0;
    for (int64_t i = 0; i < dio_weights_count(w); i++) {
        const char *name = NULL;
        dio_weight_info info;
        if (dio_weights_at(w, i, &name, &info) != DIO_OK || dio_weights_find(w, name, NULL) != DIO_OK)
            abort();
        for (uint64_t b = 0; b < info.nbytes; b++) sum += ((const unsigned char *)info.data)[b];
    }
    (void)dio_weights_metadata(w, "format");
    dio_weights_close(w);
    if (sum == 0xdeadbeefu) fuzz_message[0] = '\0'; /* keep the reads */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fuzz_dir[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(fuzz_dir, sizeof fuzz_dir, "%s/dio_fuzz_st_XXXXXX", tmp ? tmp : "/tmp");
        if (!mkdtemp(fuzz_dir)) abort();
        snprintf(fuzz_file, sizeof fuzz_file, "%s/f.safetensors", fuzz_dir);
        snprintf(fuzz_index, sizeof fuzz_index, "%s/f.safetensors.index.json", fuzz_dir);
        atexit(cleanup);
    }
    if (!put(fuzz_file, data, size) || !put(fuzz_index, data, size)) abort();
    walk(fuzz_file);
    walk(fuzz_index);
    return 0;
}

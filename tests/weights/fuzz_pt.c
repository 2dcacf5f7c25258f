/* libFuzzer entry for the PyTorch checkpoint reader (core/pt_zip.c, core/pt_pickle.c through
 * dio_weights_open). The first input byte picks the mode: even, the rest of the input is the whole
 * file (the zip container is fuzzed); odd, the rest is data.pkl, wrapped here in an intact torch-like
 * zip with a correct CRC and three storage records "0" (24 bytes), "1" (64 bytes) and "2" (1 byte), so
 * that mutations reach the unpickler and the tensor checks. Whatever opens is walked end to end and
 * closed. Built with -DDIO_FUZZ=ON and clang; not part of ctest.
 * Run: fuzz_pt [-max_total_time=60] [corpus/]. The weights code of core/ is compiled in, with the
 * dio_set_error and dio_log below in place of libdiorama's. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diorama/diorama.h"
#include "pt_internal.h"

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

static char fuzz_dir[512], fuzz_file[600];
static unsigned char *zbuf;
static size_t zlen, zcap;

static void cleanup(void)
{
    unlink(fuzz_file);
    rmdir(fuzz_dir);
    free(zbuf);
}

static void zput(const void *p, size_t n)
{
    if (zlen + n > zcap) {
        while (zlen + n > zcap) zcap = zcap ? zcap * 2 : 4096;
        zbuf = realloc(zbuf, zcap);
        if (!zbuf) abort();
    }
    memcpy(zbuf + zlen, p, n);
    zlen += n;
}

static void zput_n(uint64_t v, int bytes)
{
    unsigned char b[8];
    for (int i = 0; i < bytes; i++) b[i] = (unsigned char)(v >> (8 * i));
    zput(b, (size_t)bytes);
}

/* A stored zip of the pickle and three records (no zip64). */
static void wrap(const uint8_t *pkl, size_t n)
{
    static unsigned char r0[24], r1[64], r2[1];
    const struct {
        const char *name;
        const void *p;
        size_t len;
    } recs[5] = {{"ck/data.pkl", pkl, n},
                 {"ck/byteorder", "little", 6},
                 {"ck/data/0", r0, sizeof r0},
                 {"ck/data/1", r1, sizeof r1},
                 {"ck/data/2", r2, sizeof r2}};
    uint32_t offs[5];
    zlen = 0;
    for (int i = 0; i < 5; i++) {
        size_t nl = strlen(recs[i].name);
        offs[i] = (uint32_t)zlen;
        zput_n(0x04034b50u, 4);
        zput_n(20, 2);
        zput_n(0, 2);
        zput_n(0, 2);
        zput_n(0, 4);
        zput_n(pt_crc32(recs[i].p, recs[i].len), 4);
        zput_n(recs[i].len, 4);
        zput_n(recs[i].len, 4);
        zput_n(nl, 2);
        zput_n(0, 2);
        zput(recs[i].name, nl);
        if (recs[i].len) zput(recs[i].p, recs[i].len);
    }
    size_t cd = zlen;
    for (int i = 0; i < 5; i++) {
        size_t nl = strlen(recs[i].name);
        zput_n(0x02014b50u, 4);
        zput_n(20, 2);
        zput_n(20, 2);
        zput_n(0, 2);
        zput_n(0, 2);
        zput_n(0, 4);
        zput_n(pt_crc32(recs[i].p, recs[i].len), 4);
        zput_n(recs[i].len, 4);
        zput_n(recs[i].len, 4);
        zput_n(nl, 2);
        zput_n(0, 2);
        zput_n(0, 2);
        zput_n(0, 2);
        zput_n(0, 2);
        zput_n(0, 4);
        zput_n(offs[i], 4);
        zput(recs[i].name, nl);
    }
    size_t cd_size = zlen - cd;
    zput_n(0x06054b50u, 4);
    zput_n(0, 2);
    zput_n(0, 2);
    zput_n(5, 2);
    zput_n(5, 2);
    zput_n(cd_size, 4);
    zput_n(cd, 4);
    zput_n(0, 2);
}

static int put_file(const char *path, const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    size_t w = size ? fwrite(data, 1, size, f) : 0;
    return fclose(f) == 0 && w == size;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fuzz_dir[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(fuzz_dir, sizeof fuzz_dir, "%s/dio_fuzz_pt_XXXXXX", tmp ? tmp : "/tmp");
        if (!mkdtemp(fuzz_dir)) abort();
        snprintf(fuzz_file, sizeof fuzz_file, "%s/f.pt", fuzz_dir);
        atexit(cleanup);
    }
    if (size == 0) return 0;
    if (data[0] & 1) {
        wrap(data + 1, size - 1);
        if (!put_file(fuzz_file, zbuf, zlen)) abort();
    } else if (!put_file(fuzz_file, data + 1, size - 1)) {
        abort();
    }

    dio_weights *w = NULL;
    fuzz_message[0] = '\0';
    if (dio_weights_open(fuzz_file, &w) != DIO_OK) {
        if (!fuzz_message[0]) abort(); /* every refusal says why */
        return 0;
    }
    unsigned sum = 0;
    for (int64_t i = 0; i < dio_weights_count(w); i++) {
        const char *name = NULL;
        dio_weight_info info;
        if (dio_weights_at(w, i, &name, &info) != DIO_OK || dio_weights_find(w, name, NULL) != DIO_OK)
            abort();
        for (uint64_t b = 0; b < info.nbytes; b++) sum += ((const unsigned char *)info.data)[b];
    }
    (void)dio_weights_metadata(w, "epoch");
    dio_weights_close(w);
    if (sum == 0xdeadbeefu) fuzz_message[0] = '\0'; /* keep the reads */
    return 0;
}

/* libFuzzer harness for the PyTorch checkpoint reader (core/pt_zip.c, core/pt_pickle.c through
 * dio_weights_open). An input that starts with "PK" is the whole file, so the zip container is fuzzed
 * (the committed .pt fixtures and attack checkpoints are its seeds); one that starts with 0xff is the
 * whole file after that byte (legacy, non-zip files); anything else is data.pkl, wrapped here in an
 * intact torch-like zip with a correct CRC and three storage records "0" (24 bytes), "1" (64 bytes) and
 * "2" (1 byte), so that mutations reach the unpickler and the tensor checks rather than the CRC check.
 * Whatever opens is walked end to end (fuzz_weights_walk) and closed. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diorama/diorama.h"
#include "fuzz_util.h"
#include "fuzz_weights.h"
#include "pt_internal.h"

static unsigned char *zbuf;
static size_t zlen, zcap;

static void zbuf_free(void)
{
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[1024];
    static int registered;
    const char *dir = fuzz_scratch("pt");
    if (!registered) registered = 1, atexit(zbuf_free);
    if (size >= 2 && data[0] == 'P' && data[1] == 'K') {
        fuzz_put(dir, "f.pt", data, size, path, sizeof path);
    } else if (size >= 1 && data[0] == 0xff) {
        fuzz_put(dir, "f.pt", data + 1, size - 1, path, sizeof path);
    } else {
        wrap(data, size);
        fuzz_put(dir, "f.pt", zbuf, zlen, path, sizeof path);
    }
    fuzz_weights_walk(path);
    return 0;
}

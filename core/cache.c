/* libdiorama — the on-disk cache: a small SHA-256 (FIPS 180-4, written here), cache keys built from
 * length-prefixed parts and file identities, and entries stored as safetensors files written atomically.
 *
 * File identity is (resolved path, size, mtime in ns), not a hash of the contents: hashing a 16 GB encoder
 * on every call would cost as much as loading it, which is what the cache exists to avoid; and a hash of
 * the safetensors header alone would miss a fine-tune with the same names, dtypes and shapes. Path + size
 * + mtime changes whenever a file is rewritten or replaced; its one blind spot (a file rewritten in place
 * within the same nanosecond with the same size) is not a real workflow. The price is a miss after a copy
 * or a touch, which only costs one more encode. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "diorama/diorama.h"

static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

static uint32_t ror(uint32_t x, int n)
{
    return (x >> n) | (x << (32 - n));
}

static void compress(uint32_t h[8], const uint8_t *p)
{
    uint32_t w[64], a, b, c, d, e, f, g, hh;
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 |
               p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = hh + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + K256[i] + w[i];
        uint32_t t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        hh = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += hh;
}

static void sha_init(dio_cache_key *k)
{
    static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(k->h, h0, sizeof(h0));
    k->total = 0;
    k->used = 0;
}

static void sha_update(dio_cache_key *k, const void *data, size_t n)
{
    const uint8_t *p = data;
    k->total += n;
    while (n) {
        size_t take = 64 - k->used < n ? 64 - k->used : n;
        memcpy(k->block + k->used, p, take);
        k->used += (uint32_t)take, p += take, n -= take;
        if (k->used == 64) {
            compress(k->h, k->block);
            k->used = 0;
        }
    }
}

static void sha_final(const dio_cache_key *in, uint8_t out[32])
{
    dio_cache_key k = *in; /* finishing never disturbs the caller's running key */
    uint64_t bits = k.total * 8;
    uint8_t pad = 0x80, zero = 0, len[8];
    sha_update(&k, &pad, 1);
    while (k.used != 56) sha_update(&k, &zero, 1);
    for (int i = 0; i < 8; i++) len[i] = (uint8_t)(bits >> (56 - 8 * i));
    sha_update(&k, len, 8);
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 4; j++) out[4 * i + j] = (uint8_t)(k.h[i] >> (24 - 8 * j));
}

void dio_sha256(const void *data, size_t n, uint8_t out[32])
{
    dio_cache_key k;
    sha_init(&k);
    sha_update(&k, data, n);
    sha_final(&k, out);
}

void dio_cache_key_init(dio_cache_key *k)
{
    sha_init(k);
    sha_update(k, "diorama-cache-v1", 16);
}

void dio_cache_key_add(dio_cache_key *k, const void *data, size_t n)
{
    uint8_t len[8];
    for (int i = 0; i < 8; i++) len[i] = (uint8_t)((uint64_t)n >> (8 * i));
    sha_update(k, len, 8);
    if (n) sha_update(k, data, n);
}

void dio_cache_key_add_str(dio_cache_key *k, const char *s)
{
    dio_cache_key_add(k, s ? s : "", s ? strlen(s) : 0);
}

static void add_stat(dio_cache_key *k, const char *path, const struct stat *st)
{
    char buf[96];
    dio_cache_key_add_str(k, path);
    snprintf(buf, sizeof(buf), "%lld %lld.%09ld", (long long)st->st_size, (long long)st->st_mtim.tv_sec,
             (long)st->st_mtim.tv_nsec);
    dio_cache_key_add_str(k, buf);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

dio_status dio_cache_key_add_file(dio_cache_key *k, const char *path)
{
    char *real = NULL, **names = NULL;
    size_t n = 0, cap = 0;
    DIR *d = NULL;
    struct stat st;
    dio_status rc = DIO_OK;
    if (!path || !(real = realpath(path, NULL)) || stat(real, &st) != 0) {
        rc = dio_set_error(DIO_ERR_IO, "cache: cannot stat %s: %s", path ? path : "(null)", strerror(errno));
        goto done;
    }
    if (!S_ISDIR(st.st_mode)) {
        add_stat(k, real, &st);
        goto done;
    }
    if (!(d = opendir(real))) {
        rc = dio_set_error(DIO_ERR_IO, "cache: cannot read the directory %s: %s", real, strerror(errno));
        goto done;
    }
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        if (n == cap) {
            char **g = realloc(names, (cap = cap ? 2 * cap : 16) * sizeof(*names));
            if (!g) {
                rc = dio_set_error(DIO_ERR_OUT_OF_HOST_MEMORY, "cache: out of memory");
                goto done;
            }
            names = g;
        }
        if (!(names[n] = strdup(e->d_name))) {
            rc = dio_set_error(DIO_ERR_OUT_OF_HOST_MEMORY, "cache: out of memory");
            goto done;
        }
        n++;
    }
    if (n) qsort(names, n, sizeof(*names), cmp_str);
    dio_cache_key_add_str(k, real);
    for (size_t i = 0; i < n; i++) {
        char p[PATH_MAX];
        struct stat fs;
        if (snprintf(p, sizeof(p), "%s/%s", real, names[i]) >= (int)sizeof(p)) continue;
        if (stat(p, &fs) != 0 || !S_ISREG(fs.st_mode)) continue;
        add_stat(k, p, &fs);
    }
done:
    if (d) closedir(d);
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    free(real);
    return rc;
}

void dio_cache_key_hex(const dio_cache_key *k, char out[65])
{
    uint8_t dgst[32];
    sha_final(k, dgst);
    for (int i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", dgst[i]);
}

dio_status dio_cache_dir(char *out, size_t size)
{
    const char *v = getenv("DIORAMA_CACHE_DIR");
    int w;
    if (v && v[0])
        w = snprintf(out, size, "%s", v);
    else if ((v = getenv("XDG_CACHE_HOME")) && v[0])
        w = snprintf(out, size, "%s/diorama", v);
    else if ((v = getenv("HOME")) && v[0])
        w = snprintf(out, size, "%s/.cache/diorama", v);
    else
        return dio_set_error(DIO_ERR_IO, "cache: no cache directory (set DIORAMA_CACHE_DIR)");
    if (w < 0 || (size_t)w >= size)
        return dio_set_error(DIO_ERR_INVALID_ARGUMENT, "cache: the path is too long");
    return DIO_OK;
}

static dio_status entry_path(const char *kind, const char *hex, char *out, size_t size, size_t *dir_len)
{
    char dir[PATH_MAX];
    dio_status st = dio_cache_dir(dir, sizeof(dir));
    if (st != DIO_OK) return st;
    if (!kind || !hex || !kind[0] || strchr(kind, '/') || strchr(hex, '/') || !hex[0])
        return dio_set_error(DIO_ERR_INVALID_ARGUMENT, "cache: bad kind or key");
    int w = snprintf(out, size, "%s/%s/%s.safetensors", dir, kind, hex);
    if (w < 0 || (size_t)w >= size)
        return dio_set_error(DIO_ERR_INVALID_ARGUMENT, "cache: the path is too long");
    *dir_len = strlen(dir) + 1 + strlen(kind);
    return DIO_OK;
}

dio_status dio_cache_lookup(const char *kind, const char *hex, char *path, size_t size)
{
    struct stat st;
    size_t dl;
    dio_status s = entry_path(kind, hex, path, size, &dl);
    if (s != DIO_OK) return s;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) ? DIO_OK : DIO_ERR_INVALID_ARGUMENT;
}

/* mkdir -p of the first `len` bytes of `path`. */
static dio_status make_dirs(const char *path, size_t len)
{
    char p[PATH_MAX];
    if (len >= sizeof(p)) return dio_set_error(DIO_ERR_INVALID_ARGUMENT, "cache: the path is too long");
    memcpy(p, path, len);
    p[len] = 0;
    for (size_t i = 1; i <= len; i++) {
        if (p[i] != '/' && p[i] != 0) continue;
        char c = p[i];
        p[i] = 0;
        if (mkdir(p, 0755) != 0 && errno != EEXIST)
            return dio_set_error(DIO_ERR_IO, "cache: cannot create %s: %s", p, strerror(errno));
        p[i] = c;
    }
    return DIO_OK;
}

dio_status dio_cache_store(const char *kind, const char *hex, const dio_named_tensor *tensors, size_t n,
                           const dio_kv *metadata, size_t n_metadata)
{
    char path[PATH_MAX];
    size_t dl;
    dio_status st = entry_path(kind, hex, path, sizeof(path), &dl);
    if (st == DIO_OK) st = make_dirs(path, dl);
    if (st == DIO_OK) st = dio_safetensors_write(path, tensors, n, metadata, n_metadata);
    return st;
}

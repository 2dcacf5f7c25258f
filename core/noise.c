/* libdiorama — the noise generators of abi/diorama/noise.h.
 *
 * "numpy": numpy's legacy RandomState, reproduced bit for bit (tests/fixtures/noise/README.md): MT19937
 * seeded by init_genrand, regenerated in place every 624 words, tempered on output; doubles from two
 * words (a >> 5, b >> 6) as (a·2^26 + b)/2^53; the polar Box-Muller Gaussian whose first result is f·x2
 * and whose f·x1 is cached for the next call (the cache survives across calls, as in numpy). This file
 * is compiled with -ffp-contract=off: a fused multiply-add would change bits of r2 and of the doubles.
 *
 * "philox": Philox4x32-10 (Salmon et al., SC'11). One 128-bit counter block gives four 32-bit words.
 * The 64-bit seed is the key (low word first); the counter is (block lo, block hi, stream, 0), where the
 * stream word keeps the raw-word, normal and uniform streams apart, so each has its own position and
 * none reuses another's blocks. Normal pair p uses block p: its words make two 53-bit uniforms u1, u2 (as
 * numpy's doubles), and Box-Muller gives r·cos θ (value 2p) and r·sin θ (value 2p+1) with r = sqrt(−2 ln(1 −
 * u1)), θ = 2π·u2. Value k of any stream is a function of (seed, k) only. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "diorama/diorama.h"

#define MT_N 624
#define MT_M 397

/* The counter's stream word. The raw words are stream 0, so word k of seed s is Philox(ctr = (k/4, 0, 0, 0),
 * key = s) word k%4, the published known-answer vectors' layout. */
enum { PHILOX_WORDS = 0, PHILOX_NORMAL = 1, PHILOX_UNIFORM = 2 };

struct dio_noise {
    dio_noise_kind kind;
    /* numpy */
    uint32_t mt[MT_N];
    int pos;
    int has_gauss;
    double gauss;
    /* philox */
    uint32_t key[2];
    uint64_t next[3]; /* next value index of each stream */
};

/* ---- MT19937 (numpy legacy) ---- */

static void mt_seed(dio_noise *g, uint32_t seed)
{
    g->mt[0] = seed;
    for (uint32_t i = 1; i < MT_N; i++) g->mt[i] = 1812433253u * (g->mt[i - 1] ^ (g->mt[i - 1] >> 30)) + i;
    g->pos = MT_N;
    g->has_gauss = 0;
    g->gauss = 0.0;
}

static void mt_regenerate(uint32_t *mt)
{
    for (int i = 0; i < MT_N; i++) {
        uint32_t y = (mt[i] & 0x80000000u) | (mt[(i + 1) % MT_N] & 0x7fffffffu);
        mt[i] = mt[(i + MT_M) % MT_N] ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
    }
}

static uint32_t mt_word(dio_noise *g)
{
    uint32_t y;
    if (g->pos == MT_N) {
        mt_regenerate(g->mt);
        g->pos = 0;
    }
    y = g->mt[g->pos++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

static double mt_double(dio_noise *g)
{
    uint32_t a = mt_word(g) >> 5;
    uint32_t b = mt_word(g) >> 6;
    return ((double)a * 67108864.0 + (double)b) / 9007199254740992.0;
}

static double mt_gauss(dio_noise *g)
{
    double x1, x2, r2, f;
    if (g->has_gauss) {
        g->has_gauss = 0;
        return g->gauss;
    }
    do {
        x1 = 2.0 * mt_double(g) - 1.0;
        x2 = 2.0 * mt_double(g) - 1.0;
        r2 = x1 * x1 + x2 * x2;
    } while (r2 >= 1.0 || r2 == 0.0);
    f = sqrt(-2.0 * log(r2) / r2);
    g->gauss = f * x1;
    g->has_gauss = 1;
    return f * x2;
}

/* ---- Philox4x32-10 ---- */

static void philox_block(const uint32_t key[2], const uint32_t ctr_in[4], uint32_t out[4])
{
    uint32_t c[4], k0 = key[0], k1 = key[1];
    memcpy(c, ctr_in, sizeof(c));
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * c[0];
        uint64_t p1 = (uint64_t)0xCD9E8D57u * c[2];
        uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
        uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
        c[0] = hi1 ^ c[1] ^ k0;
        c[1] = lo1;
        c[2] = hi0 ^ c[3] ^ k1;
        c[3] = lo0;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    memcpy(out, c, sizeof(c));
}

static void philox_at(const dio_noise *g, int stream, uint64_t block, uint32_t out[4])
{
    uint32_t ctr[4] = {(uint32_t)block, (uint32_t)(block >> 32), (uint32_t)stream, 0};
    philox_block(g->key, ctr, out);
}

static double words_to_double(uint32_t a, uint32_t b)
{
    return ((double)(a >> 5) * 67108864.0 + (double)(b >> 6)) / 9007199254740992.0;
}

/* Normal pair p of the stream: values 2p and 2p+1. */
static void philox_normal_pair(const dio_noise *g, uint64_t p, double z[2])
{
    uint32_t w[4];
    double u1, u2, r, th;
    philox_at(g, PHILOX_NORMAL, p, w);
    u1 = words_to_double(w[0], w[1]);
    u2 = words_to_double(w[2], w[3]);
    r = sqrt(-2.0 * log(1.0 - u1)); /* 1 - u1 is in (0, 1]: no log(0) */
    th = 6.283185307179586 * u2;
    z[0] = r * cos(th);
    z[1] = r * sin(th);
}

/* Values k ... k+count-1 of the normal stream, into out (f64) or out32 (f32). */
static void philox_normals(const dio_noise *g, uint64_t k, size_t count, double *out, float *out32)
{
    size_t i = 0;
    while (i < count) {
        double z[2];
        uint64_t j = k + i;
        philox_normal_pair(g, j >> 1, z);
        for (unsigned h = (unsigned)(j & 1); h < 2 && i < count; h++, i++) {
            if (out)
                out[i] = z[h];
            else
                out32[i] = (float)z[h];
        }
    }
}

/* ---- the API ---- */

dio_status dio_noise_kind_from_name(const char *name, dio_noise_kind *out)
{
    if (!name || !out)
        return dio_set_error(DIO_ERR_INVALID_ARGUMENT, "dio_noise_kind_from_name: NULL argument");
    if (strcmp(name, "numpy") == 0) {
        *out = DIO_NOISE_NUMPY;
        return DIO_OK;
    }
    if (strcmp(name, "philox") == 0) {
        *out = DIO_NOISE_PHILOX;
        return DIO_OK;
    }
    return dio_set_error(DIO_ERR_INVALID_ARGUMENT, "unknown noise generator \"%s\" (known: numpy, philox)",
                         name);
}

dio_status dio_noise_create(dio_noise_kind kind, uint64_t seed, dio_noise **out)
{
    dio_noise *g;
    if (!out) return dio_set_error(DIO_ERR_INVALID_ARGUMENT, "dio_noise_create: NULL argument");
    if (kind != DIO_NOISE_NUMPY && kind != DIO_NOISE_PHILOX)
        return dio_set_error(DIO_ERR_INVALID_ARGUMENT,
                             "dio_noise_create: unknown generator kind %d (known: "
                             "0 numpy, 1 philox)",
                             (int)kind);
    if (kind == DIO_NOISE_NUMPY && seed > 0xffffffffull)
        return dio_set_error(DIO_ERR_INVALID_ARGUMENT,
                             "noise \"numpy\": seed %llu is outside numpy's range 0 ... 4294967295",
                             (unsigned long long)seed);
    g = calloc(1, sizeof(*g));
    if (!g) return dio_set_error(DIO_ERR_OUT_OF_HOST_MEMORY, "out of memory creating a noise generator");
    g->kind = kind;
    if (kind == DIO_NOISE_NUMPY) {
        mt_seed(g, (uint32_t)seed);
    } else {
        g->key[0] = (uint32_t)seed;
        g->key[1] = (uint32_t)(seed >> 32);
    }
    *out = g;
    return DIO_OK;
}

void dio_noise_destroy(dio_noise *noise)
{
    free(noise);
}

static dio_status check_args(const dio_noise *g, const void *out, size_t count, const char *fn)
{
    if (!g || (count && !out)) return dio_set_error(DIO_ERR_INVALID_ARGUMENT, "%s: NULL argument", fn);
    return DIO_OK;
}

dio_status dio_noise_normal_f64(dio_noise *g, double *out, size_t count)
{
    dio_status st = check_args(g, out, count, "dio_noise_normal_f64");
    if (st != DIO_OK) return st;
    if (g->kind == DIO_NOISE_NUMPY) {
        for (size_t i = 0; i < count; i++) out[i] = mt_gauss(g);
    } else {
        philox_normals(g, g->next[PHILOX_NORMAL], count, out, NULL);
        g->next[PHILOX_NORMAL] += count;
    }
    return DIO_OK;
}

dio_status dio_noise_normal_f32(dio_noise *g, float *out, size_t count)
{
    dio_status st = check_args(g, out, count, "dio_noise_normal_f32");
    if (st != DIO_OK) return st;
    if (g->kind == DIO_NOISE_NUMPY) {
        for (size_t i = 0; i < count; i++) out[i] = (float)mt_gauss(g);
    } else {
        philox_normals(g, g->next[PHILOX_NORMAL], count, NULL, out);
        g->next[PHILOX_NORMAL] += count;
    }
    return DIO_OK;
}

dio_status dio_noise_uniform_f64(dio_noise *g, double *out, size_t count)
{
    dio_status st = check_args(g, out, count, "dio_noise_uniform_f64");
    if (st != DIO_OK) return st;
    if (g->kind == DIO_NOISE_NUMPY) {
        for (size_t i = 0; i < count; i++) out[i] = mt_double(g);
    } else {
        uint64_t k = g->next[PHILOX_UNIFORM];
        for (size_t i = 0; i < count; i++) {
            uint32_t w[4];
            uint64_t j = k + i;
            philox_at(g, PHILOX_UNIFORM, j >> 1, w);
            out[i] = (j & 1) ? words_to_double(w[2], w[3]) : words_to_double(w[0], w[1]);
        }
        g->next[PHILOX_UNIFORM] = k + count;
    }
    return DIO_OK;
}

dio_status dio_noise_u32(dio_noise *g, uint32_t *out, size_t count)
{
    dio_status st = check_args(g, out, count, "dio_noise_u32");
    if (st != DIO_OK) return st;
    if (g->kind == DIO_NOISE_NUMPY) {
        for (size_t i = 0; i < count; i++) out[i] = mt_word(g);
    } else {
        uint64_t k = g->next[PHILOX_WORDS];
        for (size_t i = 0; i < count; i++) {
            uint32_t w[4];
            uint64_t j = k + i;
            philox_at(g, PHILOX_WORDS, j >> 2, w);
            out[i] = w[j & 3];
        }
        g->next[PHILOX_WORDS] = k + count;
    }
    return DIO_OK;
}

/* The host noise generators (abi/diorama/noise.h) against tests/fixtures/noise
 * (tests/reference/gen_noise.py).
 *
 * numpy mode: every tensor of noise.safetensors — the 1300 tempered MT19937 words (crossing two state
 * regenerations), the 53-bit random_sample doubles, standard_normal in f64 and f32 for every seed and
 * shape, bit-identical (memcmp), and the sequential case (5 then 3 values on one generator: the cached
 * gauss crosses the call); each case listed in noise.json must be present.
 * big_canvas mode: the 2B default canvas (1,16,24,88,160) for seed 0 — sha256 of the f64 and f32 bytes
 * (dio_sha256), the first and last 16 values and the f64 sum (numpy's np.sum: pairwise summation).
 * philox mode: the Philox4x32-10 known-answer block (counter 0, key 0), determinism, different seeds
 * differ, a tensor filled in pieces equals one call (normals f64/f32, uniforms, words), mean/variance of
 * 1e6 normals and uniforms, the seed range of each generator and the unknown-name error.
 * Usage: test_noise numpy|big_canvas|philox FIXTURE_DIR */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diorama/diorama.h"
#include "fixture_read.h"

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

static const char *fix_dir;

static cJSON *load_json(const char *name)
{
    char p[4096];
    FILE *f;
    long n;
    char *buf;
    cJSON *j = NULL;
    snprintf(p, sizeof(p), "%s/%s", fix_dir, name);
    if (!(f = fopen(p, "rb"))) return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) == (size_t)n) {
        buf[n] = 0;
        j = cJSON_Parse(buf);
    }
    free(buf);
    fclose(f);
    return j;
}

static dio_noise *make(dio_noise_kind kind, uint64_t seed)
{
    dio_noise *g = NULL;
    dio_status st = dio_noise_create(kind, seed, &g);
    CHECK(st == DIO_OK && g, "dio_noise_create(%d, %llu): %s", (int)kind, (unsigned long long)seed,
          dio_last_error());
    return g;
}

/* ---- numpy ---- */

static void check_words(const fixture *fx, uint32_t seed)
{
    char name[128];
    const char *dt = NULL;
    size_t n = 0;
    const unsigned char *raw;
    dio_noise *g = make(DIO_NOISE_NUMPY, seed);
    uint32_t *w;
    int bad = 0;
    snprintf(name, sizeof(name), "mt19937.seed%u.u32_as_i64", seed);
    raw = fixture_raw(fx, name, &dt, &n);
    CHECK(raw && !strcmp(dt, "I64") && n == 1300, "%s missing or not I64[1300]", name);
    if (!raw || !g) goto done;
    w = malloc(n * sizeof(uint32_t));
    dio_noise_u32(g, w, n);
    for (size_t i = 0; i < n; i++) {
        int64_t e;
        memcpy(&e, raw + 8 * i, 8);
        if ((int64_t)w[i] != e && bad++ < 3)
            CHECK(0, "%s[%zu] = %u, expected %lld", name, i, w[i], (long long)e);
    }
    if (!bad) printf("ok %s: %zu words exact\n", name, n);
    CHECK(!bad, "%s: %d words differ", name, bad);
    free(w);
done:
    dio_noise_destroy(g);
}

static void check_f64(const fixture *fx, const char *name, const double *got, size_t n)
{
    const char *dt = NULL;
    size_t cnt = 0;
    const unsigned char *raw = fixture_raw(fx, name, &dt, &cnt);
    size_t bad = 0, first = 0;
    CHECK(raw && !strcmp(dt, "F64") && cnt == n, "%s missing or not F64[%zu]", name, n);
    if (!raw) return;
    for (size_t i = 0; i < n; i++)
        if (memcmp(raw + 8 * i, &got[i], 8) && !bad++) first = i;
    if (bad) {
        double e;
        memcpy(&e, raw + 8 * first, 8);
        CHECK(0, "%s: %zu of %zu values not bit-identical (first [%zu]: %a vs %a)", name, bad, n, first,
              got[first], e);
    }
}

static void check_f32(const fixture *fx, const char *name, const float *got, size_t n)
{
    const char *dt = NULL;
    size_t cnt = 0;
    const unsigned char *raw = fixture_raw(fx, name, &dt, &cnt);
    size_t bad = 0;
    CHECK(raw && !strcmp(dt, "F32") && cnt == n, "%s missing or not F32[%zu]", name, n);
    if (!raw) return;
    for (size_t i = 0; i < n; i++) bad += memcmp(raw + 4 * i, &got[i], 4) != 0;
    CHECK(!bad, "%s: %zu of %zu values not bit-identical", name, bad, n);
}

static void check_normals(const fixture *fx, const cJSON *meta)
{
    const cJSON *cases = cJSON_GetObjectItemCaseSensitive(meta, "standard_normal_cases"), *c;
    int n_cases = 0;
    CHECK(cJSON_IsArray(cases) && cJSON_GetArraySize(cases) == 12,
          "noise.json: standard_normal_cases is not a list of 12");
    cJSON_ArrayForEach(c, cases)
    {
        const cJSON *jn = cJSON_GetObjectItemCaseSensitive(c, "name"),
                    *js = cJSON_GetObjectItemCaseSensitive(c, "seed");
        const cJSON *jshape = cJSON_GetObjectItemCaseSensitive(c, "shape"), *d;
        char name[256];
        size_t n = 1;
        double *v64;
        float *v32;
        dio_noise *g1, *g2;
        if (!cJSON_IsString(jn) || !cJSON_IsNumber(js) || !cJSON_IsArray(jshape)) {
            CHECK(0, "noise.json: malformed case");
            continue;
        }
        cJSON_ArrayForEach(d, jshape) n *= (size_t)d->valuedouble;
        v64 = malloc(n * sizeof(double));
        v32 = malloc(n * sizeof(float));
        g1 = make(DIO_NOISE_NUMPY, (uint64_t)js->valuedouble);
        g2 = make(DIO_NOISE_NUMPY, (uint64_t)js->valuedouble);
        if (g1 && g2) {
            CHECK(dio_noise_normal_f64(g1, v64, n) == DIO_OK, "normal_f64: %s", dio_last_error());
            CHECK(dio_noise_normal_f32(g2, v32, n) == DIO_OK, "normal_f32: %s", dio_last_error());
            snprintf(name, sizeof(name), "%s.f64", jn->valuestring);
            check_f64(fx, name, v64, n);
            snprintf(name, sizeof(name), "%s.f32", jn->valuestring);
            check_f32(fx, name, v32, n);
            for (size_t i = 0; i < n; i++)
                CHECK((float)v64[i] == v32[i], "%s[%zu]: f32 is not the f64 rounded", name, i);
            n_cases++;
        }
        dio_noise_destroy(g1);
        dio_noise_destroy(g2);
        free(v64);
        free(v32);
    }
    printf("ok standard_normal: %d cases (f64 and f32) checked bit for bit\n", n_cases);
}

static int run_numpy(void)
{
    char p[4096];
    fixture *fx;
    cJSON *meta = load_json("noise.json");
    double v[16];
    snprintf(p, sizeof(p), "%s/noise.safetensors", fix_dir);
    fx = fixture_open(p);
    CHECK(fx && meta, "cannot read the fixture in %s", fix_dir);
    if (!fx || !meta) goto done;
    check_words(fx, 0);
    check_words(fx, 2147483647u);
    for (int k = 0; k < 2; k++) {
        uint32_t seed = k ? 2147483647u : 0;
        char name[128];
        dio_noise *g = make(DIO_NOISE_NUMPY, seed);
        if (!g) continue;
        dio_noise_uniform_f64(g, v, 16);
        snprintf(name, sizeof(name), "random_sample.seed%u.16.f64", seed);
        check_f64(fx, name, v, 16);
        dio_noise_destroy(g);
    }
    check_normals(fx, meta);
    {
        dio_noise *g = make(DIO_NOISE_NUMPY, 42), *h = make(DIO_NOISE_NUMPY, 42);
        double a[5], b[3], all[8];
        if (g && h) {
            dio_noise_normal_f64(g, a, 5);
            dio_noise_normal_f64(g, b, 3);
            check_f64(fx, "sequential.seed42.first5.f64", a, 5);
            check_f64(fx, "sequential.seed42.next3.f64", b, 3);
            dio_noise_normal_f64(h, all, 8);
            CHECK(!memcmp(all, a, sizeof(a)) && !memcmp(all + 5, b, sizeof(b)),
                  "5 + 3 values differ from 8 at once");
            printf("ok sequential: the cached gauss crosses calls\n");
        }
        dio_noise_destroy(g);
        dio_noise_destroy(h);
    }
done:
    fixture_close(fx);
    cJSON_Delete(meta);
    return failures;
}

/* ---- big canvas ---- */

/* np.sum of a contiguous float64 array: numpy's pairwise summation (blocks of at most 128 summed with 8
 * accumulators, halves split at multiples of 8). */
static double pairwise_sum(const double *a, size_t n)
{
    if (n < 8) {
        double r = 0.0;
        for (size_t i = 0; i < n; i++) r += a[i];
        return r;
    }
    if (n <= 128) {
        double r[8], res;
        size_t i;
        for (int j = 0; j < 8; j++) r[j] = a[j];
        for (i = 8; i < n - (n % 8); i += 8)
            for (int j = 0; j < 8; j++) r[j] += a[i + j];
        res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++) res += a[i];
        return res;
    }
    {
        size_t n2 = n / 2;
        n2 -= n2 % 8;
        return pairwise_sum(a, n2) + pairwise_sum(a + n2, n - n2);
    }
}

static void hex_of(const uint8_t d[32], char out[65])
{
    for (int i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static int run_big_canvas(void)
{
    cJSON *meta = load_json("noise.json");
    const cJSON *bc = meta ? cJSON_GetObjectItemCaseSensitive(meta, "big_canvas") : NULL;
    const cJSON *jc, *jseed, *jf, *jl, *e;
    size_t n, done = 0, chunk = 1;
    double *v = NULL, sum;
    float *v32 = NULL;
    dio_noise *g = NULL, *h = NULL;
    uint8_t d[32];
    char hex[65];
    int k;
    CHECK(bc, "noise.json has no big_canvas");
    if (!bc) goto done;
    jc = cJSON_GetObjectItemCaseSensitive(bc, "count");
    jseed = cJSON_GetObjectItemCaseSensitive(bc, "seed");
    n = (size_t)jc->valuedouble;
    CHECK(n == (size_t)1 * 16 * 24 * 88 * 160, "big_canvas count %zu", n);
    v = malloc(n * sizeof(double));
    v32 = malloc(n * sizeof(float));
    g = make(DIO_NOISE_NUMPY, (uint64_t)jseed->valuedouble);
    h = make(DIO_NOISE_NUMPY, (uint64_t)jseed->valuedouble);
    if (!v || !v32 || !g || !h) goto done;
    /* f64 in pieces of odd sizes (the gauss cache crosses calls), f32 in one call */
    while (done < n) {
        size_t m = chunk < n - done ? chunk : n - done;
        dio_noise_normal_f64(g, v + done, m);
        done += m;
        chunk = chunk * 3 + 1;
    }
    dio_noise_normal_f32(h, v32, n);
    dio_sha256(v, n * sizeof(double), d);
    hex_of(d, hex);
    CHECK(!strcmp(hex, cJSON_GetObjectItemCaseSensitive(bc, "sha256_f64_le")->valuestring), "sha256 f64 %s",
          hex);
    printf("sha256 f64 %s\n", hex);
    dio_sha256(v32, n * sizeof(float), d);
    hex_of(d, hex);
    CHECK(!strcmp(hex, cJSON_GetObjectItemCaseSensitive(bc, "sha256_f32_le")->valuestring), "sha256 f32 %s",
          hex);
    printf("sha256 f32 %s\n", hex);
    jf = cJSON_GetObjectItemCaseSensitive(bc, "first16_f64_hex");
    jl = cJSON_GetObjectItemCaseSensitive(bc, "last16_f64_hex");
    k = 0;
    cJSON_ArrayForEach(e, jf)
    {
        double x = strtod(e->valuestring, NULL);
        CHECK(x == v[k], "first[%d] %a vs %s", k, v[k], e->valuestring);
        k++;
    }
    CHECK(k == 16, "first16 has %d values", k);
    k = 0;
    cJSON_ArrayForEach(e, jl)
    {
        double x = strtod(e->valuestring, NULL);
        CHECK(x == v[n - 16 + (size_t)k], "last[%d] %a vs %s", k, v[n - 16 + (size_t)k], e->valuestring);
        k++;
    }
    CHECK(k == 16, "last16 has %d values", k);
    sum = pairwise_sum(v, n);
    {
        double ref = strtod(cJSON_GetObjectItemCaseSensitive(bc, "sum_f64")->valuestring, NULL);
        printf("sum: %a (%.17g), numpy %a\n", sum, sum, ref);
        CHECK(sum == ref, "the f64 sum %a is not numpy's %a", sum, ref);
    }
done:
    dio_noise_destroy(g);
    dio_noise_destroy(h);
    free(v);
    free(v32);
    cJSON_Delete(meta);
    return failures;
}

/* ---- philox ---- */

static int run_philox(void)
{
    enum { N = 1001, BIG = 1000000 };
    static const uint32_t kat[4] = {0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u};
    double a[N], b[N], c[N];
    float f[N], f2[N];
    uint32_t w[N], w2[N];
    double *big = malloc(BIG * sizeof(double));
    double mean = 0, var = 0;
    dio_noise *g = NULL, *h = NULL;
    dio_noise_kind kind = DIO_NOISE_NUMPY;
    dio_status st;

    /* known answer: Philox4x32-10, counter 0, key 0 (Random123's kat_vectors) */
    g = make(DIO_NOISE_PHILOX, 0);
    if (g) {
        dio_noise_u32(g, w, 4);
        CHECK(!memcmp(w, kat, sizeof(kat)), "philox KAT: %08x %08x %08x %08x", w[0], w[1], w[2], w[3]);
    }
    dio_noise_destroy(g);

    /* determinism; other seeds differ */
    g = make(DIO_NOISE_PHILOX, 1234);
    h = make(DIO_NOISE_PHILOX, 1234);
    if (g && h) {
        dio_noise_normal_f64(g, a, N);
        dio_noise_normal_f64(h, b, N);
        CHECK(!memcmp(a, b, sizeof(a)), "philox: same seed, different values");
    }
    dio_noise_destroy(g);
    dio_noise_destroy(h);
    g = make(DIO_NOISE_PHILOX, 1235);
    if (g) {
        int same = 0;
        dio_noise_normal_f64(g, c, N);
        for (int i = 0; i < N; i++) same += c[i] == a[i];
        CHECK(same == 0, "philox: seeds 1234 and 1235 share %d values", same);
    }
    dio_noise_destroy(g);
    g = make(DIO_NOISE_PHILOX, (uint64_t)1234 | (uint64_t)1 << 32); /* the high key word matters */
    if (g) {
        dio_noise_normal_f64(g, c, N);
        CHECK(memcmp(a, c, sizeof(a)), "philox: the seed's high word is ignored");
    }
    dio_noise_destroy(g);

    /* fill order: pieces (odd split points) equal one call */
    g = make(DIO_NOISE_PHILOX, 1234);
    if (g) {
        dio_noise_normal_f64(g, c, 1);
        dio_noise_normal_f64(g, c + 1, 500);
        dio_noise_normal_f64(g, c + 501, 0);
        dio_noise_normal_f64(g, c + 501, N - 501);
        CHECK(!memcmp(a, c, sizeof(a)), "philox: normals filled in pieces differ from one call");
    }
    dio_noise_destroy(g);
    g = make(DIO_NOISE_PHILOX, 1234);
    h = make(DIO_NOISE_PHILOX, 1234);
    if (g && h) {
        int bad = 0;
        dio_noise_normal_f32(g, f, 333);
        dio_noise_normal_f32(g, f + 333, N - 333);
        for (int i = 0; i < N; i++) bad += f[i] != (float)a[i];
        CHECK(!bad, "philox: f32 normals are not the f64 ones rounded (%d)", bad);
        dio_noise_uniform_f64(g, b, N);
        dio_noise_uniform_f64(h, c, 7);
        dio_noise_uniform_f64(h, c + 7, N - 7);
        CHECK(!memcmp(b, c, sizeof(b)), "philox: uniforms filled in pieces differ from one call");
        dio_noise_u32(g, w, N);
        dio_noise_u32(h, w2, 3);
        dio_noise_u32(h, w2 + 3, N - 3);
        CHECK(!memcmp(w, w2, sizeof(w)), "philox: words filled in pieces differ from one call");
        dio_noise_normal_f32(h, f2, 1);
        CHECK(f2[0] == (float)a[0], "philox: the normal stream moved when other streams were drawn");
        for (int i = 0; i < N; i++) bad += b[i] < 0.0 || b[i] >= 1.0;
        CHECK(!bad, "philox: uniforms outside [0, 1)");
    }
    dio_noise_destroy(g);
    dio_noise_destroy(h);

    /* statistics of 1e6 values: mean 0 ± 5e-3 (5 sigma), variance 1 ± 1e-2 (7 sigma) */
    g = make(DIO_NOISE_PHILOX, 7);
    if (g && big) {
        dio_noise_normal_f64(g, big, BIG);
        for (int i = 0; i < BIG; i++) mean += big[i];
        mean /= BIG;
        for (int i = 0; i < BIG; i++) var += (big[i] - mean) * (big[i] - mean);
        var /= BIG - 1;
        printf("philox normals: mean %.3e, variance %.6f over 1e6\n", mean, var);
        CHECK(fabs(mean) < 5e-3 && fabs(var - 1.0) < 1e-2, "philox normals: mean %g variance %g", mean, var);
        dio_noise_uniform_f64(g, big, BIG);
        mean = var = 0;
        for (int i = 0; i < BIG; i++) mean += big[i];
        mean /= BIG;
        for (int i = 0; i < BIG; i++) var += (big[i] - mean) * (big[i] - mean);
        var /= BIG - 1;
        printf("philox uniforms: mean %.6f, variance %.6f (1/12 = %.6f)\n", mean, var, 1.0 / 12);
        CHECK(fabs(mean - 0.5) < 2e-3 && fabs(var - 1.0 / 12) < 1e-3, "philox uniforms: mean %g variance %g",
              mean, var);
    }
    dio_noise_destroy(g);

    /* seed ranges */
    g = NULL;
    st = dio_noise_create(DIO_NOISE_NUMPY, (uint64_t)1 << 32, &g);
    CHECK(st == DIO_ERR_INVALID_ARGUMENT && !g && strstr(dio_last_error(), "seed"),
          "numpy seed 2^32 accepted or unclear (%s)", dio_last_error());
    printf("numpy seed 2^32: %s\n", dio_last_error());
    g = make(DIO_NOISE_NUMPY, 0xffffffffull);
    dio_noise_destroy(g);
    g = make(DIO_NOISE_PHILOX, UINT64_MAX);
    dio_noise_destroy(g);
    g = NULL;
    st = dio_noise_create((dio_noise_kind)7, 0, &g);
    CHECK(st == DIO_ERR_INVALID_ARGUMENT && !g, "kind 7 accepted");

    /* names */
    CHECK(dio_noise_kind_from_name("numpy", &kind) == DIO_OK && kind == DIO_NOISE_NUMPY,
          "\"numpy\" not known");
    CHECK(dio_noise_kind_from_name("philox", &kind) == DIO_OK && kind == DIO_NOISE_PHILOX,
          "\"philox\" not known");
    kind = DIO_NOISE_PHILOX;
    st = dio_noise_kind_from_name("mersenne", &kind);
    CHECK(st == DIO_ERR_INVALID_ARGUMENT && kind == DIO_NOISE_PHILOX &&
              strstr(dio_last_error(), "mersenne") && strstr(dio_last_error(), "numpy") &&
              strstr(dio_last_error(), "philox"),
          "unknown name: %s", dio_last_error());
    printf("unknown name: %s\n", dio_last_error());
    CHECK(dio_noise_normal_f64(NULL, a, 1) == DIO_ERR_INVALID_ARGUMENT, "NULL generator accepted");
    free(big);
    return failures;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: test_noise numpy|big_canvas|philox FIXTURE_DIR\n");
        return 2;
    }
    fix_dir = argv[2];
    if (!strcmp(argv[1], "numpy"))
        run_numpy();
    else if (!strcmp(argv[1], "big_canvas"))
        run_big_canvas();
    else if (!strcmp(argv[1], "philox"))
        run_philox();
    else
        return 2;
    printf("%s: %d failure(s)\n", argv[1], failures);
    return failures ? 1 : 0;
}

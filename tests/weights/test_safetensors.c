/* tests/weights: safetensors reading and writing (core/safetensors.c).
 *
 * Round trips for every dtype and rank, metadata, the weight source view, sharded index folders,
 * directories, hostile files (every truncation, every byte mutated, each malformed header field) and
 * the writer's failure paths (nothing left behind). Each case prints one line; the exit status is
 * non-zero when any check failed. Usage: test_safetensors [scratch-parent-dir]. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diorama/diorama.h"

static int g_failed_checks;
static int g_case_ok;
static char g_root[PATH_MAX];

#define CHECK(cond, ...)                                                                                     \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            printf("    check failed (%s:%d): %s: ", __FILE__, __LINE__, #cond);                             \
            printf(__VA_ARGS__);                                                                             \
            printf("\n");                                                                                    \
            g_failed_checks++;                                                                               \
            g_case_ok = 0;                                                                                   \
        }                                                                                                    \
    } while (0)

static int g_cases, g_cases_failed;

static void run_case(const char *name, void (*fn)(void))
{
    g_case_ok = 1;
    dio_clear_error();
    fn();
    g_cases++;
    if (!g_case_ok) g_cases_failed++;
    printf("%s %s\n", g_case_ok ? "ok  " : "FAIL", name);
    fflush(stdout);
}

/* ---- helpers ---- */

static void path_in(char *out, const char *a, const char *b)
{
    int n =
        b ? snprintf(out, PATH_MAX, "%s/%s/%s", g_root, a, b) : snprintf(out, PATH_MAX, "%s/%s", g_root, a);
    if (n < 0 || n >= PATH_MAX) {
        printf("path too long under %s\n", g_root);
        exit(1);
    }
}

static void make_dir(const char *rel)
{
    char p[PATH_MAX];
    path_in(p, rel, NULL);
    if (mkdir(p, 0755) != 0 && errno != EEXIST) {
        printf("    cannot create %s: %s\n", p, strerror(errno));
        g_case_ok = 0;
        g_failed_checks++;
    }
}

static int write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    size_t w = n ? fwrite(data, 1, n, f) : 0;
    int ok = fclose(f) == 0 && w == n;
    return ok;
}

static unsigned char *read_bytes(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)len + 1);
    if (buf && fread(buf, 1, (size_t)len, f) != (size_t)len) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *n = (size_t)len;
    return buf;
}

static void write_text(const char *path, const char *text)
{
    CHECK(write_bytes(path, text, strlen(text)), "cannot write %s", path);
}

/* A safetensors file from a header string and `data_len` bytes of data; the length field is `hlen`
 * unless it is UINT64_MAX, when it is the header's length. */
static void write_st_raw(const char *path, const char *hdr, size_t hdr_len, uint64_t hlen, size_t data_len)
{
    size_t n = 8 + hdr_len + data_len;
    unsigned char *buf = malloc(n);
    if (hlen == UINT64_MAX) hlen = hdr_len;
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(hlen >> (8 * i));
    memcpy(buf + 8, hdr, hdr_len);
    for (size_t i = 0; i < data_len; i++) buf[8 + hdr_len + i] = (unsigned char)(i * 7 + 1);
    CHECK(write_bytes(path, buf, n), "cannot write %s", path);
    free(buf);
}

static int g_sentinel;
#define SENTINEL ((dio_weights *)(void *)&g_sentinel)

/* Opens `path` expecting `status` and a message containing each of the NULL-terminated substrings;
 * *out must stay untouched. */
static void expect_fail(const char *path, dio_status status, ...)
{
    dio_weights *w = SENTINEL;
    dio_clear_error();
    dio_status st = dio_weights_open(path, &w);
    const char *msg = dio_last_error();
    CHECK(st == status, "open '%s' gave %s, wanted %s (%s)", path, dio_status_name(st),
          dio_status_name(status), msg);
    if (getenv("DIO_TEST_VERBOSE")) printf("    -> %s: %s\n", dio_status_name(st), msg);
    CHECK(w == SENTINEL, "a failed open touched *out");
    if (w != SENTINEL && st == DIO_OK) dio_weights_close(w);
    CHECK(msg && msg[0], "no message for '%s'", path);
    va_list ap;
    va_start(ap, status);
    for (const char *s = va_arg(ap, const char *); s; s = va_arg(ap, const char *))
        CHECK(msg && strstr(msg, s), "message \"%s\" lacks \"%s\"", msg ? msg : "(null)", s);
    va_end(ap);
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    if (!d) return -1;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) n++;
    closedir(d);
    return n;
}

static int count_fds(void)
{
    return count_entries("/proc/self/fd");
}

static const int64_t k_dims[DIO_MAX_DIMS] = {2, 3, 1, 2, 1, 3};

static unsigned char *pattern(size_t n, unsigned seed)
{
    unsigned char *p = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++) p[i] = (unsigned char)(i * 31u + seed * 7u + 3u);
    return p;
}

static dio_named_tensor named(const char *name, int32_t dtype, int32_t ndim, const int64_t *shape,
                              const void *data)
{
    dio_named_tensor t;
    memset(&t, 0, sizeof t);
    t.name = name;
    t.dtype = dtype;
    t.ndim = ndim;
    for (int32_t i = 0; i < ndim && i < DIO_MAX_DIMS; i++) t.shape[i] = shape[i];
    t.data = data;
    return t;
}

static size_t nbytes_of(const dio_named_tensor *t)
{
    size_t n = dio_dtype_size(t->dtype);
    for (int32_t i = 0; i < t->ndim; i++) n *= (size_t)t->shape[i];
    return n;
}

/* Two-tensor shard with names a, b (data seeded by `seed`) and metadata k=value. */
static void write_shard(const char *path, const char *a, const char *b, unsigned seed, const char *value)
{
    int64_t sa[2] = {2, 2}, sb[1] = {3};
    unsigned char *da = pattern(16, seed), *db = pattern(6, seed + 1);
    dio_named_tensor ts[2] = {named(a, DIO_DTYPE_F32, 2, sa, da), named(b, DIO_DTYPE_BF16, 1, sb, db)};
    dio_kv meta[1] = {{"k", value}};
    dio_status st = dio_safetensors_write(path, ts, b ? 2 : 1, meta, 1);
    CHECK(st == DIO_OK, "write %s: %s", path, dio_last_error());
    free(da);
    free(db);
}

/* ---- round trips ---- */

static void case_roundtrip_all_dtypes_ranks(void)
{
    enum { N = DIO_DTYPE_COUNT * (DIO_MAX_DIMS + 1) + DIO_DTYPE_COUNT };
    dio_named_tensor ts[N];
    char names[N][32];
    unsigned char *datas[N];
    int k = 0;
    char path[PATH_MAX];
    make_dir("roundtrip");
    path_in(path, "roundtrip", "all.safetensors");

    /* Written in reverse name order, to see that reading sorts and writing keeps the given order. */
    for (int32_t dt = DIO_DTYPE_COUNT - 1; dt >= 0; dt--) {
        for (int32_t nd = DIO_MAX_DIMS; nd >= 0; nd--) {
            snprintf(names[k], sizeof names[k], "t.%s.%d", dio_dtype_name(dt), (int)nd);
            ts[k] = named(names[k], dt, nd, k_dims, NULL);
            datas[k] = pattern(nbytes_of(&ts[k]), (unsigned)k);
            ts[k].data = datas[k];
            k++;
        }
        int64_t zshape[3] = {3, 0, 2};
        snprintf(names[k], sizeof names[k], "z.%s", dio_dtype_name(dt));
        ts[k] = named(names[k], dt, 3, zshape, NULL);
        datas[k] = NULL;
        k++;
    }
    dio_kv meta[3] = {{"format", "pt"}, {"note", "h\xc3\xa9llo \"quoted\"\n\ttab"}, {"empty", ""}};
    dio_status st = dio_safetensors_write(path, ts, N, meta, 3);
    CHECK(st == DIO_OK, "write: %s", dio_last_error());

    /* The header length keeps the data 8-byte aligned and ends in JSON or spaces. */
    size_t fsize = 0;
    unsigned char *raw = read_bytes(path, &fsize);
    CHECK(raw != NULL, "read back");
    if (raw) {
        uint64_t hlen = 0;
        for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | raw[i];
        CHECK(hlen % 8 == 0, "header length %" PRIu64 " not a multiple of 8", hlen);
        CHECK(raw[8] == '{', "header does not start with '{'");
        free(raw);
    }

    dio_weights *w = NULL;
    st = dio_weights_open(path, &w);
    CHECK(st == DIO_OK && w, "open: %s", dio_last_error());
    if (!w) goto done;
    CHECK(dio_weights_count(w) == N, "count %" PRId64 ", wanted %d", dio_weights_count(w), N);
    const unsigned char *prev_data = NULL;
    for (int i = 0; i < N; i++) {
        dio_weight_info info;
        memset(&info, 0xab, sizeof info);
        st = dio_weights_find(w, ts[i].name, &info);
        CHECK(st == DIO_OK, "find %s: %s", ts[i].name, dio_last_error());
        if (st != DIO_OK) continue;
        CHECK(info.struct_size == sizeof info, "struct_size");
        CHECK(info.dtype == ts[i].dtype, "%s dtype %d", ts[i].name, info.dtype);
        CHECK(info.ndim == ts[i].ndim, "%s ndim %d", ts[i].name, info.ndim);
        for (int d = 0; d < DIO_MAX_DIMS; d++)
            CHECK(info.shape[d] == (d < ts[i].ndim ? ts[i].shape[d] : 1), "%s shape[%d] = %" PRId64,
                  ts[i].name, d, info.shape[d]);
        CHECK(info.nbytes == nbytes_of(&ts[i]), "%s nbytes %" PRIu64, ts[i].name, info.nbytes);
        if (info.nbytes) {
            CHECK(memcmp(info.data, datas[i], info.nbytes) == 0, "%s bytes differ", ts[i].name);
            CHECK(!prev_data || (const unsigned char *)info.data >= prev_data,
                  "%s not stored in the given order", ts[i].name);
            prev_data = (const unsigned char *)info.data + info.nbytes;
        }
    }
    /* at() is sorted by name and agrees with find(). */
    const char *prev = NULL;
    for (int64_t i = 0; i < dio_weights_count(w); i++) {
        const char *name = NULL;
        dio_weight_info a, b;
        st = dio_weights_at(w, i, &name, &a);
        CHECK(st == DIO_OK && name, "at(%" PRId64 ")", i);
        if (st != DIO_OK || !name) continue;
        CHECK(!prev || strcmp(prev, name) < 0, "at() not sorted: '%s' then '%s'", prev, name);
        prev = name;
        CHECK(dio_weights_find(w, name, &b) == DIO_OK && a.data == b.data && a.nbytes == b.nbytes,
              "at/find differ");
    }
    dio_clear_error();
    st = dio_weights_at(w, N, NULL, NULL);
    CHECK(st == DIO_ERR_INVALID_ARGUMENT && dio_last_error()[0], "at(N) gave %s", dio_status_name(st));
    st = dio_weights_at(w, -1, NULL, NULL);
    CHECK(st == DIO_ERR_INVALID_ARGUMENT, "at(-1) gave %s", dio_status_name(st));

    /* Metadata. */
    const char *v = dio_weights_metadata(w, "format");
    CHECK(v && strcmp(v, "pt") == 0, "metadata format = %s", v ? v : "(null)");
    v = dio_weights_metadata(w, "note");
    CHECK(v && strcmp(v, meta[1].value) == 0, "metadata note = %s", v ? v : "(null)");
    v = dio_weights_metadata(w, "empty");
    CHECK(v && v[0] == '\0', "metadata empty");
    CHECK(dio_weights_metadata(w, "absent") == NULL, "absent metadata key");
    CHECK(dio_weights_metadata(w, NULL) == NULL && dio_weights_metadata(NULL, "x") == NULL,
          "NULL metadata args");

    /* find() of an absent name: INVALID_ARGUMENT naming it and the file. */
    dio_clear_error();
    st = dio_weights_find(w, "no.such.tensor", NULL);
    CHECK(st == DIO_ERR_INVALID_ARGUMENT, "find absent gave %s", dio_status_name(st));
    CHECK(strstr(dio_last_error(), "no.such.tensor") && strstr(dio_last_error(), "all.safetensors"),
          "message: %s", dio_last_error());

    /* The weight source view. */
    const dio_weight_source *src = dio_weights_source(w);
    CHECK(src && src->abi_version == DIO_ABI_VERSION && src->struct_size == sizeof *src, "source header");
    if (src) {
        dio_weight_info info;
        dio_set_error(DIO_ERR_INTERNAL, "untouched");
        st = src->find(src->ctx, "no.such.tensor", &info);
        CHECK(st == DIO_ERR_INVALID_ARGUMENT, "source find absent gave %s", dio_status_name(st));
        CHECK(strcmp(dio_last_error(), "untouched") == 0, "source find absent set a message: %s",
              dio_last_error());
        CHECK(src->find(src->ctx, "t.f32.2", &info) == DIO_OK && info.ndim == 2 && info.shape[1] == 3,
              "source find");
        CHECK(src->count(src->ctx) == N, "source count");
        CHECK(src->name_at(src->ctx, -1) == NULL && src->name_at(src->ctx, N) == NULL,
              "source name_at range");
        const char *n0 = NULL;
        dio_weights_at(w, 0, &n0, NULL);
        CHECK(src->name_at(src->ctx, 0) == n0, "source name_at(0)");
    }
    dio_weights_close(w);
done:
    for (int i = 0; i < N; i++) free(datas[i]);
}

static void case_roundtrip_empty_and_overwrite(void)
{
    char path[PATH_MAX];
    dio_weights *w = NULL;
    make_dir("empty");
    path_in(path, "empty", "e.safetensors");
    CHECK(dio_safetensors_write(path, NULL, 0, NULL, 0) == DIO_OK, "write empty: %s", dio_last_error());
    CHECK(dio_weights_open(path, &w) == DIO_OK, "open empty: %s", dio_last_error());
    CHECK(dio_weights_count(w) == 0 && dio_weights_metadata(w, "x") == NULL, "empty file content");
    dio_weights_close(w);
    w = NULL;

    /* Overwriting replaces the content atomically. */
    int64_t s1[1] = {4};
    unsigned char d1[4] = {1, 2, 3, 4};
    dio_named_tensor t = named("x", DIO_DTYPE_U8, 1, s1, d1);
    CHECK(dio_safetensors_write(path, &t, 1, NULL, 0) == DIO_OK, "overwrite: %s", dio_last_error());
    CHECK(dio_weights_open(path, &w) == DIO_OK, "open: %s", dio_last_error());
    dio_weight_info info;
    CHECK(dio_weights_find(w, "x", &info) == DIO_OK && info.nbytes == 4 && memcmp(info.data, d1, 4) == 0,
          "overwritten content");
    dio_weights_close(w);
    char dir[PATH_MAX];
    path_in(dir, "empty", NULL);
    CHECK(count_entries(dir) == 1, "stray files in %s: %d entries", dir, count_entries(dir));

    /* NULL arguments. */
    dio_weights_close(NULL);
    CHECK(dio_weights_count(NULL) == 0 && dio_weights_source(NULL) == NULL, "NULL weights");
    CHECK(dio_weights_open(NULL, &w) == DIO_ERR_INVALID_ARGUMENT, "open(NULL)");
    CHECK(dio_weights_open(path, NULL) == DIO_ERR_INVALID_ARGUMENT, "open(path, NULL)");
    CHECK(dio_weights_find(NULL, "x", NULL) == DIO_ERR_INVALID_ARGUMENT, "find(NULL)");
}

/* A file not from our writer: header padded with a newline and spaces, a gap between tensors and
 * bytes after the last one (all tolerated), unknown entry fields ignored. */
static void case_foreign_layout(void)
{
    char path[PATH_MAX];
    make_dir("foreign");
    path_in(path, "foreign", "f.safetensors");
    const char *hdr = "{\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[6,8],\"extra\":[1]},"
                      "\"a\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4]}}\n   ";
    write_st_raw(path, hdr, strlen(hdr), UINT64_MAX, 12);
    dio_weights *w = NULL;
    CHECK(dio_weights_open(path, &w) == DIO_OK, "open: %s", dio_last_error());
    if (!w) return;
    const char *n0 = NULL;
    dio_weight_info info;
    CHECK(dio_weights_at(w, 0, &n0, &info) == DIO_OK && strcmp(n0, "a") == 0 && info.dtype == DIO_DTYPE_I32,
          "sorted first is a");
    CHECK(dio_weights_find(w, "b", &info) == DIO_OK &&
              ((const unsigned char *)info.data)[0] == (unsigned char)(6 * 7 + 1),
          "b's bytes");
    dio_weights_close(w);
}

/* ---- sharded folders ---- */

#define S1 "model-00001-of-00002.safetensors"
#define S2 "model-00002-of-00002.safetensors"

static void write_index(const char *dir, const char *name, const char *weight_map)
{
    char path[PATH_MAX], text[2048];
    path_in(path, dir, name);
    snprintf(text, sizeof text, "{\"metadata\": {\"total_size\": 44}, \"weight_map\": {%s}}\n", weight_map);
    write_text(path, text);
}

static void make_shards(const char *dir, const char *a, const char *b, const char *c, const char *d)
{
    char p[PATH_MAX];
    make_dir(dir);
    path_in(p, dir, S1);
    write_shard(p, a, b, 10, "v1");
    path_in(p, dir, S2);
    write_shard(p, c, d, 20, "v2");
}

static void case_shards_good(void)
{
    char p[PATH_MAX];
    make_shards("sh_good", "a", "b", "c", "d");
    write_index("sh_good", "model.safetensors.index.json",
                "\"a\": \"" S1 "\", \"b\": \"" S1 "\", \"c\": \"" S2 "\", \"d\": \"" S2 "\"");
    path_in(p, "sh_good", "model.safetensors.index.json");
    for (int pass = 0; pass < 2; pass++) {
        dio_weights *w = NULL;
        if (pass == 1) path_in(p, "sh_good", NULL); /* the directory holding the index */
        dio_status st = dio_weights_open(p, &w);
        CHECK(st == DIO_OK, "open %s: %s", p, dio_last_error());
        if (!w) continue;
        CHECK(dio_weights_count(w) == 4, "count %" PRId64, dio_weights_count(w));
        const char *want[4] = {"a", "b", "c", "d"};
        for (int i = 0; i < 4; i++) {
            const char *n = NULL;
            CHECK(dio_weights_at(w, i, &n, NULL) == DIO_OK && strcmp(n, want[i]) == 0, "at(%d) = %s", i,
                  n ? n : "(null)");
        }
        dio_weight_info info;
        unsigned char *expect = pattern(6, 21);
        CHECK(dio_weights_find(w, "d", &info) == DIO_OK && info.dtype == DIO_DTYPE_BF16 && info.nbytes == 6 &&
                  memcmp(info.data, expect, 6) == 0,
              "d from shard 2");
        free(expect);
        const char *v = dio_weights_metadata(w, "k");
        CHECK(v && strcmp(v, "v1") == 0, "metadata of the first shard: %s", v ? v : "(null)");
        dio_weights_close(w);
    }
}

static void case_shards_subfolder(void)
{
    char p[PATH_MAX];
    make_dir("sh_sub");
    make_dir("sh_sub/parts");
    path_in(p, "sh_sub", "parts/one.safetensors");
    write_shard(p, "x", "y", 1, "v");
    write_index("sh_sub", "m.safetensors.index.json",
                "\"x\": \"parts/one.safetensors\", \"y\": \"./parts/one.safetensors\"");
    path_in(p, "sh_sub", "m.safetensors.index.json");
    dio_weights *w = NULL;
    dio_status st = dio_weights_open(p, &w);
    /* "./parts/one" and "parts/one" are two names for one file: its tensors then appear twice. */
    CHECK(st == DIO_ERR_BAD_FORMAT, "two spellings of one shard gave %s: %s", dio_status_name(st),
          dio_last_error());
    write_index("sh_sub", "m.safetensors.index.json",
                "\"x\": \"parts/one.safetensors\", \"y\": \"parts/one.safetensors\"");
    st = dio_weights_open(p, &w);
    CHECK(st == DIO_OK && dio_weights_count(w) == 2, "shard in a subfolder: %s", dio_last_error());
    dio_weights_close(w);
}

static void case_shards_missing_shard(void)
{
    char p[PATH_MAX];
    make_shards("sh_missing", "a", "b", "c", "d");
    write_index("sh_missing", "model.safetensors.index.json",
                "\"a\": \"" S1 "\", \"b\": \"" S1 "\", \"e\": \"model-00003-of-00003.safetensors\"");
    path_in(p, "sh_missing", "model.safetensors.index.json");
    expect_fail(p, DIO_ERR_IO, "model-00003-of-00003.safetensors", "model.safetensors.index.json", NULL);
}

static void case_shards_tensor_missing(void)
{
    char p[PATH_MAX];
    make_shards("sh_absent", "a", "b", "c", "d");
    write_index("sh_absent", "model.safetensors.index.json",
                "\"a\": \"" S1 "\", \"b\": \"" S1 "\", \"c\": \"" S2 "\", \"d\": \"" S2 "\", \"e\": \"" S1
                "\"");
    path_in(p, "sh_absent", "model.safetensors.index.json");
    expect_fail(p, DIO_ERR_BAD_FORMAT, "'e'", S1, "does not hold", NULL);

    /* Mapped to the wrong shard. */
    write_index("sh_absent", "model.safetensors.index.json",
                "\"a\": \"" S2 "\", \"b\": \"" S1 "\", \"c\": \"" S2 "\", \"d\": \"" S2 "\"");
    expect_fail(p, DIO_ERR_BAD_FORMAT, "'a'", S2, NULL);
}

static void case_shards_duplicate(void)
{
    char p[PATH_MAX];
    make_shards("sh_dup", "a", "b", "a", "d");
    write_index("sh_dup", "model.safetensors.index.json",
                "\"a\": \"" S1 "\", \"b\": \"" S1 "\", \"d\": \"" S2 "\"");
    path_in(p, "sh_dup", "model.safetensors.index.json");
    expect_fail(p, DIO_ERR_BAD_FORMAT, "'a'", "two shards", S1, S2, NULL);
}

static void case_shards_escape(void)
{
    char p[PATH_MAX];
    make_shards("sh_escape", "a", "b", "c", "d");
    path_in(p, "sh_escape", "model.safetensors.index.json");
    write_index("sh_escape", "model.safetensors.index.json", "\"a\": \"../sh_good/" S1 "\"");
    expect_fail(p, DIO_ERR_BAD_FORMAT, "'a'", "..", NULL);
    write_index("sh_escape", "model.safetensors.index.json",
                "\"a\": \"" S1 "\", \"c\": \"sub/../../x.safetensors\"");
    expect_fail(p, DIO_ERR_BAD_FORMAT, "'c'", "..", NULL);
    write_index("sh_escape", "model.safetensors.index.json", "\"a\": \"/etc/passwd\"");
    expect_fail(p, DIO_ERR_BAD_FORMAT, "absolute", NULL);
    write_index("sh_escape", "model.safetensors.index.json", "\"a\": \"\"");
    expect_fail(p, DIO_ERR_BAD_FORMAT, "empty", NULL);
}

static void case_shards_bad_index(void)
{
    char p[PATH_MAX];
    make_dir("sh_bad");
    path_in(p, "sh_bad", "x.safetensors.index.json");
    write_text(p, "{\"weight_map\": ");
    expect_fail(p, DIO_ERR_BAD_FORMAT, "JSON", NULL);
    write_text(p, "{\"metadata\": {}}");
    expect_fail(p, DIO_ERR_BAD_FORMAT, "weight_map", NULL);
    write_text(p, "{\"weight_map\": {}}");
    expect_fail(p, DIO_ERR_BAD_FORMAT, "weight_map", NULL);
    write_text(p, "{\"weight_map\": {\"a\": 5}}");
    expect_fail(p, DIO_ERR_BAD_FORMAT, "'a'", NULL);
    write_text(p, "[\"weight_map\"]");
    expect_fail(p, DIO_ERR_BAD_FORMAT, "not an object", NULL);
}

/* ---- directories ---- */

static void case_dirs(void)
{
    char p[PATH_MAX], q[PATH_MAX];
    dio_weights *w = NULL;

    make_dir("dir_one");
    path_in(p, "dir_one", "only.safetensors");
    write_shard(p, "a", "b", 3, "v");
    path_in(q, "dir_one", "README.md");
    write_text(q, "not weights\n");
    path_in(p, "dir_one", NULL);
    CHECK(dio_weights_open(p, &w) == DIO_OK && dio_weights_count(w) == 2, "dir with one file: %s",
          dio_last_error());
    dio_weights_close(w);

    make_dir("dir_none");
    path_in(q, "dir_none", "notes.txt");
    write_text(q, "nothing here\n");
    path_in(p, "dir_none", NULL);
    expect_fail(p, DIO_ERR_INVALID_ARGUMENT, "dir_none", "no *.safetensors", NULL);

    make_dir("dir_two");
    path_in(q, "dir_two", "first.safetensors");
    write_shard(q, "a", NULL, 1, "v");
    path_in(q, "dir_two", "second.safetensors");
    write_shard(q, "b", NULL, 2, "v");
    path_in(p, "dir_two", NULL);
    expect_fail(p, DIO_ERR_INVALID_ARGUMENT, "first.safetensors", "second.safetensors", "no index", NULL);

    make_dir("dir_two_idx");
    path_in(q, "dir_two_idx", "a.safetensors.index.json");
    write_text(q, "{}");
    path_in(q, "dir_two_idx", "b.safetensors.index.json");
    write_text(q, "{}");
    path_in(p, "dir_two_idx", NULL);
    expect_fail(p, DIO_ERR_INVALID_ARGUMENT, "a.safetensors.index.json", "b.safetensors.index.json", NULL);

    path_in(p, "does_not_exist", NULL);
    expect_fail(p, DIO_ERR_IO, "does_not_exist", NULL);
}

/* ---- hostile files ---- */

static void small_valid_file(const char *path)
{
    int64_t sa[2] = {2, 3}, sb[1] = {5};
    unsigned char *da = pattern(24, 5), *db = pattern(5, 6);
    dio_named_tensor ts[2] = {named("alpha", DIO_DTYPE_F32, 2, sa, da),
                              named("beta", DIO_DTYPE_U8, 1, sb, db)};
    dio_kv meta[1] = {{"format", "pt"}};
    CHECK(dio_safetensors_write(path, ts, 2, meta, 1) == DIO_OK, "write: %s", dio_last_error());
    free(da);
    free(db);
}

static void case_truncated_everywhere(void)
{
    char full[PATH_MAX], cut[PATH_MAX];
    make_dir("trunc");
    path_in(full, "trunc", "full.safetensors");
    path_in(cut, "trunc", "cut.safetensors");
    small_valid_file(full);
    size_t n = 0;
    unsigned char *bytes = read_bytes(full, &n);
    CHECK(bytes && n > 16, "read back");
    if (!bytes) return;
    int bad = 0;
    for (size_t len = 0; len < n; len++) {
        dio_weights *w = SENTINEL;
        CHECK(write_bytes(cut, bytes, len), "write");
        dio_clear_error();
        dio_status st = dio_weights_open(cut, &w);
        if (st != DIO_ERR_BAD_FORMAT || w != SENTINEL || !dio_last_error()[0] ||
            !strstr(dio_last_error(), "cut.safetensors")) {
            if (bad++ < 5)
                CHECK(0, "truncated at %zu of %zu: %s (%s)", len, n, dio_status_name(st), dio_last_error());
        }
        if (st == DIO_OK && w != SENTINEL) dio_weights_close(w);
    }
    CHECK(bad == 0, "%d truncation lengths misbehaved", bad);
    dio_weights *w = NULL;
    CHECK(write_bytes(cut, bytes, n) && dio_weights_open(cut, &w) == DIO_OK, "the whole file opens");
    dio_weights_close(w);
    printf("    %zu truncation lengths refused\n", n);
    free(bytes);
}

/* Every byte replaced by a few nasty values: any status is fine, a crash or leak is not. */
static void case_mutated_everywhere(void)
{
    char full[PATH_MAX], mut[PATH_MAX];
    static const unsigned char vals[] = {0x00, 0xff, '[', '{', '"', '9', '-', ' ', 0x80, 'e'};
    make_dir("mutate");
    path_in(full, "mutate", "full.safetensors");
    path_in(mut, "mutate", "mut.safetensors");
    small_valid_file(full);
    size_t n = 0;
    unsigned char *bytes = read_bytes(full, &n);
    if (!bytes) {
        CHECK(0, "read back");
        return;
    }
    int opened = 0, refused = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t v = 0; v < sizeof vals; v++) {
            unsigned char keep = bytes[i];
            dio_weights *w = NULL;
            bytes[i] = vals[v];
            CHECK(write_bytes(mut, bytes, n), "write");
            bytes[i] = keep;
            dio_status st = dio_weights_open(mut, &w);
            if (st == DIO_OK) {
                /* Whatever opened must be self-consistent: every tensor lies inside the file. */
                for (int64_t k = 0; k < dio_weights_count(w); k++) {
                    dio_weight_info info;
                    CHECK(dio_weights_at(w, k, NULL, &info) == DIO_OK && info.nbytes <= n, "opened mutant");
                    volatile unsigned char sink = 0;
                    for (uint64_t b = 0; b < info.nbytes; b++) sink ^= ((const unsigned char *)info.data)[b];
                    (void)sink;
                }
                dio_weights_close(w);
                opened++;
            } else {
                CHECK(dio_last_error()[0], "refusal without a message at byte %zu", i);
                refused++;
            }
        }
    }
    printf("    %d mutants opened, %d refused\n", opened, refused);
    free(bytes);
}

typedef struct hostile {
    const char *name;
    const char *header;
    size_t data_len;
    const char *want1, *want2;
} hostile;

#define E(dt, shape, offs) "{\"dtype\":\"" dt "\",\"shape\":" shape ",\"data_offsets\":" offs "}"

static const hostile k_hostile[] = {
    {"not JSON", "this is not json at all", 8, "not valid JSON", NULL},
    {"JSON array", "[1, 2, 3]", 8, "array", "not an object"},
    {"JSON string", "\"hello\"", 8, "not an object", NULL},
    {"unterminated JSON", "{\"w\": {\"dtype\": \"F32\"", 8, "not valid JSON", NULL},
    {"trailing bytes", "{} xyz", 8, "after", NULL},
    {"two objects", "{}{}", 8, "after", NULL},
    {"deep nesting", NULL, 0, "not valid JSON", NULL}, /* built below */
    {"entry not object", "{\"w\": 5}", 8, "'w'", "not an object"},
    {"dtype F64", "{\"w\":" E("F64", "[1]", "[0,8]") "}", 8, "'w'", "F64"},
    {"dtype BOOL", "{\"w\":" E("BOOL", "[1]", "[0,1]") "}", 8, "'w'", "BOOL"},
    {"dtype I16", "{\"w\":" E("I16", "[1]", "[0,2]") "}", 8, "'w'", "I16"},
    {"dtype junk", "{\"w\":" E("XYZ", "[1]", "[0,1]") "}", 8, "'w'", "XYZ"},
    {"dtype lowercase", "{\"w\":" E("f32", "[1]", "[0,4]") "}", 8, "'w'", "f32"},
    {"dtype not string", "{\"w\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 8, "'w'", "dtype"},
    {"dtype missing", "{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 8, "'w'", "dtype"},
    {"dtype twice", "{\"w\":{\"dtype\":\"U8\",\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 8,
     "'w'", "twice"},
    {"shape negative", "{\"w\":" E("U8", "[-1]", "[0,0]") "}", 8, "'w'", "shape[0]"},
    {"shape non-integer", "{\"w\":" E("U8", "[2, 1.5]", "[0,3]") "}", 8, "'w'", "shape[1]"},
    {"shape string dim", "{\"w\":" E("U8", "[\"2\"]", "[0,2]") "}", 8, "'w'", "shape[0]"},
    {"shape 2^53", "{\"w\":" E("U8", "[9007199254740992]", "[0,0]") "}", 8, "'w'", "shape[0]"},
    {"shape huge float", "{\"w\":" E("U8", "[1e300]", "[0,0]") "}", 8, "'w'", "shape[0]"},
    {"shape 7 dims", "{\"w\":" E("U8", "[1,1,1,1,1,1,1]", "[0,1]") "}", 8, "'w'", "at most 6"},
    {"shape not array", "{\"w\":" E("U8", "3", "[0,3]") "}", 8, "'w'", "shape"},
    {"shape missing", "{\"w\":{\"dtype\":\"U8\",\"data_offsets\":[0,1]}}", 8, "'w'", "shape"},
    {"numel overflow", "{\"w\":" E("U8", "[4294967296,4294967296]", "[0,0]") "}", 8, "'w'", "elements"},
    {"numel overflow 3d", "{\"w\":" E("F32", "[2097152,2097152,2097152]", "[0,0]") "}", 8, "'w'", "elements"},
    {"nbytes overflow", "{\"w\":" E("I64", "[1099511627776,2097152]", "[0,0]") "}", 8, "'w'", "elements"},
    {"offsets out of range", "{\"w\":" E("U8", "[1000]", "[0,1000]") "}", 16, "'w'", "run past"},
    {"offsets begin past end", "{\"w\":" E("U8", "[0]", "[17,17]") "}", 16, "'w'", "run past"},
    {"offsets end < begin", "{\"w\":" E("U8", "[4]", "[8,4]") "}", 16, "'w'", "end before"},
    {"offsets size mismatch", "{\"w\":" E("F32", "[2]", "[0,4]") "}", 16, "'w'", "needs 8"},
    {"offsets one int", "{\"w\":" E("U8", "[1]", "[0]") "}", 16, "'w'", "data_offsets"},
    {"offsets three ints", "{\"w\":" E("U8", "[1]", "[0,1,2]") "}", 16, "'w'", "data_offsets"},
    {"offsets negative", "{\"w\":" E("U8", "[8]", "[-8,0]") "}", 16, "'w'", "data_offsets"},
    {"offsets fraction", "{\"w\":" E("U8", "[1]", "[0.5,1.5]") "}", 16, "'w'", "data_offsets"},
    {"offsets huge", "{\"w\":" E("U8", "[1]", "[0,1e300]") "}", 16, "'w'", "data_offsets"},
    {"offsets strings", "{\"w\":" E("U8", "[1]", "[\"0\",\"1\"]") "}", 16, "'w'", "data_offsets"},
    {"offsets missing", "{\"w\":{\"dtype\":\"U8\",\"shape\":[1]}}", 16, "'w'", "data_offsets"},
    {"overlap", "{\"a\":" E("U8", "[8]", "[0,8]") ",\"b\":" E("U8", "[8]", "[4,12]") "}", 16, "'a'",
     "overlap"},
    {"overlap contained", "{\"a\":" E("U8", "[16]", "[0,16]") ",\"b\":" E("U8", "[2]", "[4,6]") "}", 16,
     "'b'", "overlap"},
    {"overlap identical", "{\"a\":" E("U8", "[4]", "[0,4]") ",\"b\":" E("U8", "[4]", "[0,4]") "}", 16,
     "overlap", NULL},
    {"duplicate names", "{\"a\":" E("U8", "[4]", "[0,4]") ",\"a\":" E("U8", "[4]", "[4,8]") "}", 16, "'a'",
     "twice"},
    {"metadata non-string", "{\"__metadata__\":{\"k\":1}}", 0, "'k'", "not a string"},
    {"metadata nested", "{\"__metadata__\":{\"k\":{\"x\":\"y\"}}}", 0, "'k'", "not a string"},
    {"metadata not object", "{\"__metadata__\":\"x\"}", 0, "__metadata__", "not an object"},
    {"metadata twice", "{\"__metadata__\":{},\"__metadata__\":{}}", 0, "__metadata__", "twice"},
    {"metadata duplicate key", "{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"}}", 0, "'k'", "twice"},
    {"invalid UTF-8", "{\"\xff\xfe\":" E("U8", "[1]", "[0,1]") "}", 8, "UTF-8", NULL},
    {"overlong UTF-8", "{\"\xc0\xaf\":" E("U8", "[1]", "[0,1]") "}", 8, "UTF-8", NULL},
    {"surrogate UTF-8", "{\"\xed\xa0\x80\":" E("U8", "[1]", "[0,1]") "}", 8, "UTF-8", NULL},
};

static void case_hostile_headers(void)
{
    char p[PATH_MAX];
    make_dir("hostile");
    path_in(p, "hostile", "h.safetensors");
    for (size_t i = 0; i < sizeof k_hostile / sizeof k_hostile[0]; i++) {
        const hostile *h = &k_hostile[i];
        char *deep = NULL;
        const char *hdr = h->header;
        if (!hdr) {
            deep = malloc(20001);
            memset(deep, '[', 20000);
            deep[20000] = '\0';
            hdr = deep;
        }
        int before = g_failed_checks;
        write_st_raw(p, hdr, strlen(hdr), UINT64_MAX, h->data_len);
        expect_fail(p, DIO_ERR_BAD_FORMAT, "h.safetensors", h->want1, h->want2, NULL);
        if (g_failed_checks != before) printf("    ^ in hostile case \"%s\"\n", h->name);
        free(deep);
    }
    printf("    %zu malformed headers refused\n", sizeof k_hostile / sizeof k_hostile[0]);
}

static void case_hostile_lengths(void)
{
    char p[PATH_MAX];
    const char *hdr = "{\"w\":" E("U8", "[4]", "[0,4]") "}";
    make_dir("lengths");
    path_in(p, "lengths", "l.safetensors");

    for (size_t len = 0; len < 8; len++) {
        CHECK(write_bytes(p, "\x10\0\0\0\0\0\0\0", len), "write");
        expect_fail(p, DIO_ERR_BAD_FORMAT, "too short", NULL);
    }
    /* Header length beyond the file. */
    write_st_raw(p, hdr, strlen(hdr), strlen(hdr) + 100, 4);
    expect_fail(p, DIO_ERR_BAD_FORMAT, "larger than", NULL);
    write_st_raw(p, hdr, strlen(hdr), strlen(hdr) + 5, 4);
    expect_fail(p, DIO_ERR_BAD_FORMAT, "larger than", NULL);
    /* Header length 2^63, 2^64-1 and just over the cap. */
    write_st_raw(p, hdr, strlen(hdr), (uint64_t)1 << 63, 4);
    expect_fail(p, DIO_ERR_BAD_FORMAT, "exceeds the limit", NULL);
    write_st_raw(p, hdr, strlen(hdr), UINT64_MAX - 1, 4);
    expect_fail(p, DIO_ERR_BAD_FORMAT, "exceeds the limit", NULL);
    write_st_raw(p, hdr, strlen(hdr), 100000001, 4);
    expect_fail(p, DIO_ERR_BAD_FORMAT, "exceeds the limit", NULL);
    /* Header length 0, and a header length that cuts the JSON short. */
    write_st_raw(p, hdr, strlen(hdr), 0, 4);
    expect_fail(p, DIO_ERR_BAD_FORMAT, "empty", NULL);
    write_st_raw(p, hdr, strlen(hdr), strlen(hdr) - 1, 4);
    expect_fail(p, DIO_ERR_BAD_FORMAT, "JSON", NULL);
    /* A NUL inside the header. */
    {
        char with_nul[64];
        size_t n = strlen(hdr);
        memcpy(with_nul, hdr, n);
        with_nul[n] = '\0';
        with_nul[n + 1] = ' ';
        write_st_raw(p, with_nul, n + 2, UINT64_MAX, 4);
        expect_fail(p, DIO_ERR_BAD_FORMAT, "NUL", NULL);
    }
    /* Not a regular file: a FIFO (must not block) and a character device. */
    path_in(p, "lengths", "fifo.safetensors");
    CHECK(mkfifo(p, 0644) == 0, "mkfifo: %s", strerror(errno));
    expect_fail(p, DIO_ERR_IO, "fifo.safetensors", "not a regular file", NULL);
    expect_fail("/dev/zero", DIO_ERR_IO, "/dev/zero", NULL);
    /* A directory named like a file is a directory. */
    make_dir("lengths/adir.safetensors");
    path_in(p, "lengths", "adir.safetensors");
    expect_fail(p, DIO_ERR_INVALID_ARGUMENT, "adir.safetensors", "no *.safetensors", NULL);
}

/* ---- the writer's failures ---- */

static void case_writer_failures(void)
{
    char dir[PATH_MAX], p[PATH_MAX];
    int64_t s[7] = {2, 2, 1, 1, 1, 1, 1};
    unsigned char data[64] = {0};
    dio_named_tensor t;
    dio_status st;
    make_dir("wfail");
    path_in(dir, "wfail", NULL);

    /* Target directory missing: nothing is created anywhere. */
    path_in(p, "wfail", "nodir/x.safetensors");
    t = named("x", DIO_DTYPE_U8, 2, s, data);
    st = dio_safetensors_write(p, &t, 1, NULL, 0);
    CHECK(st == DIO_ERR_IO && strstr(dio_last_error(), "nodir"), "missing dir gave %s: %s",
          dio_status_name(st), dio_last_error());
    CHECK(count_entries(dir) == 0, "left %d entries", count_entries(dir));

    path_in(p, "wfail", "x.safetensors");
    struct {
        const char *what;
        dio_named_tensor t[2];
        size_t n;
        dio_kv meta[2];
        size_t n_meta;
        const char *want;
    } bad[] = {
        {"dtype 99", {named("x", 99, 2, s, data)}, 1, {{0}}, 0, "dtype"},
        {"dtype -1", {named("x", -1, 2, s, data)}, 1, {{0}}, 0, "dtype"},
        {"dtype COUNT", {named("x", DIO_DTYPE_COUNT, 2, s, data)}, 1, {{0}}, 0, "dtype"},
        {"ndim 7", {named("x", DIO_DTYPE_U8, 7, s, data)}, 1, {{0}}, 0, "ndim"},
        {"ndim -1", {named("x", DIO_DTYPE_U8, -1, s, data)}, 1, {{0}}, 0, "ndim"},
        {"duplicate names",
         {named("x", DIO_DTYPE_U8, 2, s, data), named("x", DIO_DTYPE_U8, 1, s, data)},
         2,
         {{0}},
         0,
         "twice"},
        {"NULL name", {named(NULL, DIO_DTYPE_U8, 2, s, data)}, 1, {{0}}, 0, "no name"},
        {"reserved name", {named("__metadata__", DIO_DTYPE_U8, 2, s, data)}, 1, {{0}}, 0, "reserved"},
        {"non-UTF-8 name", {named("\xff", DIO_DTYPE_U8, 2, s, data)}, 1, {{0}}, 0, "UTF-8"},
        {"NULL data", {named("x", DIO_DTYPE_U8, 2, s, NULL)}, 1, {{0}}, 0, "no data"},
        {"duplicate metadata", {named("x", DIO_DTYPE_U8, 2, s, data)}, 1, {{"k", "a"}, {"k", "b"}}, 2, "'k'"},
        {"NULL metadata value", {named("x", DIO_DTYPE_U8, 2, s, data)}, 1, {{"k", NULL}}, 1, "metadata"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        dio_clear_error();
        st = dio_safetensors_write(p, bad[i].t, bad[i].n, bad[i].meta, bad[i].n_meta);
        CHECK(st == DIO_ERR_INVALID_ARGUMENT, "%s gave %s", bad[i].what, dio_status_name(st));
        CHECK(strstr(dio_last_error(), bad[i].want), "%s: message \"%s\" lacks \"%s\"", bad[i].what,
              dio_last_error(), bad[i].want);
        CHECK(count_entries(dir) == 0, "%s left %d entries", bad[i].what, count_entries(dir));
    }
    {
        int64_t neg[1] = {-2};
        t = named("x", DIO_DTYPE_U8, 1, neg, data);
        st = dio_safetensors_write(p, &t, 1, NULL, 0);
        CHECK(st == DIO_ERR_INVALID_ARGUMENT && count_entries(dir) == 0, "negative shape gave %s",
              dio_status_name(st));
        int64_t huge[2] = {(int64_t)1 << 40, (int64_t)1 << 40};
        t = named("x", DIO_DTYPE_U8, 2, huge, data);
        st = dio_safetensors_write(p, &t, 1, NULL, 0);
        CHECK(st == DIO_ERR_INVALID_ARGUMENT && count_entries(dir) == 0, "huge shape gave %s",
              dio_status_name(st));
    }
    CHECK(dio_safetensors_write(NULL, NULL, 0, NULL, 0) == DIO_ERR_INVALID_ARGUMENT, "NULL path");

    /* A failure after the temporary file exists (the target is a directory): it is removed. */
    make_dir("wfail/target_is_dir");
    path_in(p, "wfail", "target_is_dir");
    t = named("x", DIO_DTYPE_U8, 2, s, data);
    st = dio_safetensors_write(p, &t, 1, NULL, 0);
    CHECK(st == DIO_ERR_IO, "rename onto a directory gave %s", dio_status_name(st));
    CHECK(count_entries(dir) == 1, "temporary file left behind: %d entries", count_entries(dir));

    /* A failed write keeps the previous file intact. */
    path_in(p, "wfail", "keep.safetensors");
    unsigned char old[4] = {9, 8, 7, 6};
    int64_t s4[1] = {4};
    t = named("old", DIO_DTYPE_U8, 1, s4, old);
    CHECK(dio_safetensors_write(p, &t, 1, NULL, 0) == DIO_OK, "write keep: %s", dio_last_error());
    t = named("new", 42, 1, s4, old);
    CHECK(dio_safetensors_write(p, &t, 1, NULL, 0) == DIO_ERR_INVALID_ARGUMENT, "bad overwrite");
    dio_weights *w = NULL;
    dio_weight_info info;
    CHECK(dio_weights_open(p, &w) == DIO_OK && dio_weights_find(w, "old", &info) == DIO_OK &&
              memcmp(info.data, old, 4) == 0,
          "previous file intact");
    dio_weights_close(w);
    CHECK(count_entries(dir) == 2, "entries after keep: %d", count_entries(dir));
}

/* ---- main ---- */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int main(int argc, char **argv)
{
    const char *parent = argc > 1 ? argv[1] : (getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    snprintf(g_root, sizeof g_root, "%s/dio_weights_test_XXXXXX", parent);
    if (!mkdtemp(g_root)) {
        printf("cannot create a scratch directory under %s: %s\n", parent, strerror(errno));
        return 1;
    }
    int fds_before = count_fds();

    run_case("round trip: every dtype, ranks 0..6, empty tensors, metadata, source view",
             case_roundtrip_all_dtypes_ranks);
    run_case("round trip: empty file, overwrite, NULL arguments", case_roundtrip_empty_and_overwrite);
    run_case("foreign layout: padding, gaps, trailing bytes, unknown fields", case_foreign_layout);
    run_case("shards: good index, and its directory", case_shards_good);
    run_case("shards: shard in a subfolder", case_shards_subfolder);
    run_case("shards: missing shard file", case_shards_missing_shard);
    run_case("shards: tensor missing from / misplaced in its shard", case_shards_tensor_missing);
    run_case("shards: tensor in two shards", case_shards_duplicate);
    run_case("shards: path escapes and absolute paths", case_shards_escape);
    run_case("shards: malformed index files", case_shards_bad_index);
    run_case("directories: one file, none, two files, two indexes, missing", case_dirs);
    run_case("hostile: truncated at every byte", case_truncated_everywhere);
    run_case("hostile: every byte mutated", case_mutated_everywhere);
    run_case("hostile: malformed headers", case_hostile_headers);
    run_case("hostile: header lengths, NUL, not a file", case_hostile_lengths);
    run_case("writer: refusals and failures leave nothing behind", case_writer_failures);

    int fds_after = count_fds();
    g_case_ok = 1;
    CHECK(fds_after == fds_before, "file descriptors leaked: %d before, %d after", fds_before, fds_after);
    g_cases++;
    if (!g_case_ok) g_cases_failed++;
    printf("%s no file descriptor leaked\n", g_case_ok ? "ok  " : "FAIL");

    nftw(g_root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    printf("%d cases, %d failed\n", g_cases, g_cases_failed);
    return g_cases_failed ? 1 : 0;
}

/* tests/weights: PyTorch checkpoints (torch.save zip files) through dio_weights_open (core/pt_zip.c,
 * core/pt_pickle.c, core/safetensors.c).
 *
 * Good checkpoints written by torch (tests/fixtures/pt, from tests/reference/gen_pt_samples.py) are
 * compared tensor by tensor with the <name>.expect.safetensors beside them: every dtype diorama reads,
 * nested dicts, an OrderedDict, lists and int keys, shared storages, scalars, empty tensors,
 * non-contiguous views, a module state_dict, pickle protocol 4, an HF folder of .bin shards. Hostile
 * checkpoints (code-execution globals, foreign opcodes, out-of-range and overflowing tensors, memo and
 * stack abuse, zip damage) must be refused with the right message. Built here: a checkpoint truncated
 * at every byte, every byte mutated, a pickle truncated and mutated inside an intact zip (CRC fixed up),
 * and zip64 forms. Usage: test_pt FIXTURE_DIR [scratch-parent-dir]. */
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
static const char *g_fixtures;

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

static void fixture(char *out, const char *name)
{
    int n = snprintf(out, PATH_MAX, "%s/%s", g_fixtures, name);
    if (n < 0 || n >= PATH_MAX) {
        printf("path too long under %s\n", g_fixtures);
        exit(1);
    }
}

static void scratch(char *out, const char *name)
{
    int n = snprintf(out, PATH_MAX, "%s/%s", g_root, name);
    if (n < 0 || n >= PATH_MAX) {
        printf("path too long under %s\n", g_root);
        exit(1);
    }
}

static int write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    size_t w = n ? fwrite(data, 1, n, f) : 0;
    return fclose(f) == 0 && w == n;
}

static unsigned char *read_bytes(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = len >= 0 ? malloc((size_t)len + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)len, f) != (size_t)len) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *n = buf ? (size_t)len : 0;
    return buf;
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

static dio_weights *open_ok(const char *path)
{
    dio_weights *w = NULL;
    dio_status st = dio_weights_open(path, &w);
    CHECK(st == DIO_OK && w, "open '%s': %s", path, dio_last_error());
    return st == DIO_OK ? w : NULL;
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

/* Every tensor of `got` equals the one of the same name in `want` (dtype, shape, bytes), and both
 * hold the same names. */
static void compare_all(const char *what, dio_weights *got, dio_weights *want)
{
    if (!got || !want) return;
    CHECK(dio_weights_count(got) == dio_weights_count(want), "%s: %" PRId64 " tensors, expected %" PRId64,
          what, dio_weights_count(got), dio_weights_count(want));
    for (int64_t i = 0; i < dio_weights_count(want); i++) {
        const char *name = NULL;
        dio_weight_info a, b;
        dio_weights_at(want, i, &name, &b);
        if (dio_weights_find(got, name, &a) != DIO_OK) {
            CHECK(0, "%s: tensor '%s' is missing (%s)", what, name, dio_last_error());
            continue;
        }
        int same_shape = a.ndim == b.ndim;
        for (int d = 0; d < DIO_MAX_DIMS && same_shape; d++) same_shape = a.shape[d] == b.shape[d];
        CHECK(a.dtype == b.dtype && same_shape && a.nbytes == b.nbytes,
              "%s: '%s' is %s/%d dims/%" PRIu64 " bytes, expected %s/%d dims/%" PRIu64, what, name,
              dio_dtype_name(a.dtype), a.ndim, a.nbytes, dio_dtype_name(b.dtype), b.ndim, b.nbytes);
        CHECK(a.struct_size == sizeof a, "%s: struct_size", what);
        if (a.nbytes == b.nbytes && a.nbytes)
            CHECK(memcmp(a.data, b.data, (size_t)a.nbytes) == 0, "%s: '%s' holds other values", what, name);
    }
    /* Sorted and findable by index. */
    const char *prev = NULL;
    for (int64_t i = 0; i < dio_weights_count(got); i++) {
        const char *name = NULL;
        CHECK(dio_weights_at(got, i, &name, NULL) == DIO_OK && name, "%s: at(%" PRId64 ")", what, i);
        if (prev && name) CHECK(strcmp(prev, name) < 0, "%s: not sorted at '%s'", what, name);
        prev = name;
    }
}

static void compare_fixture(const char *pt, const char *expect)
{
    char a[PATH_MAX], b[PATH_MAX];
    fixture(a, pt);
    fixture(b, expect);
    dio_weights *got = open_ok(a), *want = open_ok(b);
    compare_all(pt, got, want);
    dio_weights_close(got);
    dio_weights_close(want);
}

/* ---- good checkpoints ---- */

static void case_dtypes(void)
{
    char p[PATH_MAX];
    compare_fixture("dtypes.pt", "dtypes.expect.safetensors");
    fixture(p, "dtypes.pt");
    dio_weights *w = open_ok(p);
    if (!w) return;
    static const char *const left_out[] = {"skip_float64", "skip_bool",      "skip_int8",
                                           "skip_int16",   "skip_complex64", "skip_uint16"};
    for (size_t i = 0; i < sizeof left_out / sizeof left_out[0]; i++)
        CHECK(dio_weights_find(w, left_out[i], NULL) == DIO_ERR_INVALID_ARGUMENT, "'%s' should be left out",
              left_out[i]);
    static const struct {
        const char *name;
        int32_t dtype;
    } want[] = {{"t_float32", DIO_DTYPE_F32},
                {"t_float16", DIO_DTYPE_F16},
                {"t_bfloat16", DIO_DTYPE_BF16},
                {"t_int32", DIO_DTYPE_I32},
                {"t_int64", DIO_DTYPE_I64},
                {"t_uint8", DIO_DTYPE_U8},
                {"t_float8_e4m3fn", DIO_DTYPE_F8E4M3},
                {"t_float8_e5m2", DIO_DTYPE_F8E5M2}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        dio_weight_info info;
        CHECK(dio_weights_find(w, want[i].name, &info) == DIO_OK && info.dtype == want[i].dtype, "'%s' dtype",
              want[i].name);
    }
    CHECK(dio_weights_count(w) == 8, "%" PRId64 " tensors", dio_weights_count(w));
    dio_weights_close(w);
}

static void case_nested(void)
{
    char p[PATH_MAX];
    compare_fixture("nested.pt", "nested.expect.safetensors");
    fixture(p, "nested.pt");
    dio_weights *w = open_ok(p);
    if (!w) return;
    static const char *const meta[][2] = {
        {"epoch", "12"}, {"big", "-1099511627776"}, {"lr", "0.25"},          {"name", "cosmos-tiny \xc3\xa9"},
        {"ok", "True"},  {"nothing", "None"},       {"layers.1.1", "label"},
    };
    for (size_t i = 0; i < sizeof meta / sizeof meta[0]; i++) {
        const char *v = dio_weights_metadata(w, meta[i][0]);
        CHECK(v && strcmp(v, meta[i][1]) == 0, "metadata '%s' is '%s', expected '%s'", meta[i][0],
              v ? v : "(null)", meta[i][1]);
    }
    CHECK(dio_weights_metadata(w, "dtype") == NULL, "a torch dtype value is not metadata");
    CHECK(dio_weights_metadata(w, "model") == NULL, "a dict is not metadata");
    CHECK(dio_weights_metadata(w, "model.net.x_embedder.proj.1.weight") == NULL, "a tensor is not metadata");
    dio_clear_error();
    CHECK(dio_weights_find(w, "net.x_embedder.proj.1.weight", NULL) == DIO_ERR_INVALID_ARGUMENT &&
              strstr(dio_last_error(), "nested.pt"),
          "names keep their full dotted path: %s", dio_last_error());

    /* The weight source view components read. */
    const dio_weight_source *src = dio_weights_source(w);
    CHECK(src && src->count(src->ctx) == dio_weights_count(w), "source count");
    if (src) {
        dio_weight_info info;
        const char *n0 = src->name_at(src->ctx, 0);
        CHECK(n0 && src->find(src->ctx, n0, &info) == DIO_OK, "source find of name_at(0)");
        CHECK(src->name_at(src->ctx, -1) == NULL && src->name_at(src->ctx, dio_weights_count(w)) == NULL,
              "source name_at range");
        CHECK(src->find(src->ctx, "model.ema.net.blocks.0.mlp.layer1.weight", &info) == DIO_OK &&
                  info.dtype == DIO_DTYPE_BF16 && info.ndim == 2 && info.shape[0] == 6 &&
                  info.shape[1] == 4 && info.shape[2] == 1,
              "source find of a nested key");
        CHECK(src->find(src->ctx, "nope", &info) == DIO_ERR_INVALID_ARGUMENT, "source find of a missing key");
    }
    dio_weights_close(w);
}

static const void *data_of(dio_weights *w, const char *name, uint64_t *nbytes)
{
    dio_weight_info info;
    if (dio_weights_find(w, name, &info) != DIO_OK) {
        CHECK(0, "no '%s': %s", name, dio_last_error());
        return NULL;
    }
    if (nbytes) *nbytes = info.nbytes;
    return info.data;
}

static void case_views(void)
{
    char p[PATH_MAX];
    compare_fixture("views.pt", "views.expect.safetensors");
    fixture(p, "views.pt");
    dio_weights *w = open_ok(p);
    if (!w) return;
    /* Views of one storage are zero-copy: they point into the same record. */
    const unsigned char *all = data_of(w, "shared.all", NULL), *a = data_of(w, "shared.a", NULL),
                        *b = data_of(w, "shared.b", NULL), *lo = data_of(w, "half.lo", NULL),
                        *hi = data_of(w, "half.hi", NULL);
    CHECK(all && a == all + 2 * 4 && b == all + 8 * 4, "shared.a/b point into shared.all's record");
    CHECK(lo && hi == lo + 5 * 2, "half.hi follows half.lo in one record");
    CHECK(((uintptr_t)all & 63) == 0, "torch records are 64-byte aligned in the mapping");
    /* Non-contiguous ones are copies, outside the record. */
    const unsigned char *t = data_of(w, "transposed", NULL);
    CHECK(t && (t < all || t >= all + 24 * 4), "the transpose is a copy");
    uint64_t n = 0;
    CHECK(data_of(w, "empty", &n) && n == 0, "empty tensor has no bytes");
    dio_weight_info info;
    CHECK(dio_weights_find(w, "scalar", &info) == DIO_OK && info.ndim == 0 && info.nbytes == 4 &&
              info.shape[0] == 1,
          "scalar: rank 0, one element");
    dio_weights_close(w);
}

static void case_module_proto4_shards(void)
{
    char p[PATH_MAX], q[PATH_MAX];
    compare_fixture("module.pt", "module.expect.safetensors");
    compare_fixture("proto4.pt", "proto4.expect.safetensors");
    compare_fixture("hf_bin/pytorch_model.bin.index.json", "hf_bin.expect.safetensors");
    compare_fixture("hand_ok.pt", "hand_ok.pt"); /* opens, self-consistent */
    fixture(p, "proto4.pt");
    dio_weights *w = open_ok(p);
    const char *s = w ? dio_weights_metadata(w, "s") : NULL;
    CHECK(s && strcmp(s, "x") == 0, "protocol 4 string value");
    dio_weights_close(w);
    /* A single .bin shard opens on its own too. */
    fixture(q, "hf_bin/pytorch_model-00002-of-00002.bin");
    w = open_ok(q);
    CHECK(w && dio_weights_count(w) == 1 && dio_weights_find(w, "lm_head.weight", NULL) == DIO_OK,
          "one shard");
    dio_weights_close(w);
}

/* ---- hostile fixtures ---- */

typedef struct hostile {
    const char *file;
    const char *want1, *want2;
} hostile;

static const hostile k_hostile[] = {
    {"evil_system.pt", "'posix system'", "allow-list"},
    {"evil_eval.pt", "'builtins eval'", "allow-list"},
    {"evil_stack_global.pt", "'os system'", "allow-list"},
    {"evil_call_storage.pt", "FloatStorage", "REDUCE"},
    {"op_inst.pt", "INST", "byte 3"},
    {"op_newobj.pt", "NEWOBJ", "not accepted"},
    {"op_binbytes.pt", "SHORT_BINBYTES", "not accepted"},
    {"offset_oob.pt", "'w'", "run past"},
    {"stride_oob.pt", "'w'", "run past"},
    {"size_overflow.pt", "'w'", "overflow"},
    {"stride_overflow.pt", "'w'", "overflow"},
    {"offset_overflow.pt", "'w'", "run past"},
    {"copy_then_oob.pt", "'w'", "run past"},
    {"negative_size.pt", "'w'", "non-negative"},
    {"missing_record.pt", "'archive/data/9'", "no record"},
    {"numel_mismatch.pt", "storage '0'", "24 bytes"},
    {"long_too_wide.pt", "LONG1", "64 bits"},
    {"memo_oob.pt", "memo index 200", "never set"},
    {"stack_underflow.pt", "SETITEM", "empty"},
    {"no_stop.pt", "without STOP", NULL},
    {"after_stop.pt", "follow STOP", NULL},
    {"marks.pt", "MARK", "4096"},
    {"protocol_99.pt", "protocol 99", NULL},
    {"bad_utf8.pt", "UTF-8", NULL},
    {"two_pickles.pt", "data.pkl", "2"},
    {"dup_entry.pt", "'archive/version'", "twice"},
    {"bad_crc.pt", "CRC", "data.pkl"},
    {"big_endian.pt", "little", "big-endian"},
    {"compressed.pt", "'archive/data/0'", "compressed"},
    {"deep.pt", "deeper than 64", NULL},
    {"root_list.pt", "list", "not a dict"},
    {"seven_dims.pt", "'x'", "at most 6"},
    {"name_clash.pt", "'a.b'", "twice"},
    {"cycle.pt", "'c.1'", "contains itself"},
    {"legacy.pt", "legacy", "1.6"},
};

static void case_hostile_fixtures(void)
{
    char p[PATH_MAX];
    const char *pwned = "/tmp/dio_pt_pwned";
    (void)unlink(pwned);
    for (size_t i = 0; i < sizeof k_hostile / sizeof k_hostile[0]; i++) {
        const hostile *h = &k_hostile[i];
        int before = g_failed_checks;
        fixture(p, h->file);
        expect_fail(p, DIO_ERR_BAD_FORMAT, h->file, h->want1, h->want2, NULL);
        if (g_failed_checks != before) printf("    ^ in hostile fixture \"%s\"\n", h->file);
    }
    struct stat sb;
    CHECK(stat(pwned, &sb) != 0, "%s exists: something was executed", pwned);
    printf("    %zu hostile checkpoints refused\n", sizeof k_hostile / sizeof k_hostile[0]);
}

/* ---- every truncation and mutation of a real checkpoint ---- */

static void case_truncated_everywhere(void)
{
    char full[PATH_MAX], cut[PATH_MAX];
    fixture(full, "views.pt");
    scratch(cut, "cut.pt");
    size_t n = 0;
    unsigned char *bytes = read_bytes(full, &n);
    CHECK(bytes && n > 1000, "read %s", full);
    if (!bytes) return;
    int bad = 0;
    for (size_t len = 0; len < n; len++) {
        dio_weights *w = SENTINEL;
        CHECK(write_bytes(cut, bytes, len), "write");
        dio_clear_error();
        dio_status st = dio_weights_open(cut, &w);
        if (st != DIO_ERR_BAD_FORMAT || w != SENTINEL || !strstr(dio_last_error(), "cut.pt")) {
            if (bad++ < 5)
                CHECK(0, "truncated at %zu of %zu: %s (%s)", len, n, dio_status_name(st), dio_last_error());
        }
        if (st == DIO_OK && w != SENTINEL) dio_weights_close(w);
    }
    CHECK(bad == 0, "%d truncation lengths misbehaved", bad);
    printf("    %zu truncation lengths refused\n", n);
    free(bytes);
}

/* Opens a mutant: any status, but a refusal says why and whatever opens lies inside its bytes. */
static void open_mutant(const char *path, size_t file_size, int *opened, int *refused)
{
    dio_weights *w = NULL;
    dio_clear_error();
    if (dio_weights_open(path, &w) == DIO_OK) {
        for (int64_t k = 0; k < dio_weights_count(w); k++) {
            dio_weight_info info;
            CHECK(dio_weights_at(w, k, NULL, &info) == DIO_OK && info.nbytes <= file_size, "opened mutant");
            volatile unsigned char sink = 0;
            for (uint64_t b = 0; b < info.nbytes; b++) sink ^= ((const unsigned char *)info.data)[b];
            (void)sink;
        }
        dio_weights_close(w);
        (*opened)++;
    } else {
        CHECK(dio_last_error()[0], "refusal without a message");
        (*refused)++;
    }
}

static void case_mutated_everywhere(void)
{
    char full[PATH_MAX], mut[PATH_MAX];
    static const unsigned char vals[] = {0x00, 0xff, 0x01, 0x7f, 0x80, 'P', 'K'};
    fixture(full, "hand_ok.pt");
    scratch(mut, "mut.pt");
    size_t n = 0;
    unsigned char *bytes = read_bytes(full, &n);
    if (!bytes) {
        CHECK(0, "read %s", full);
        return;
    }
    int opened = 0, refused = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t v = 0; v < sizeof vals; v++) {
            unsigned char keep = bytes[i];
            bytes[i] = vals[v];
            CHECK(write_bytes(mut, bytes, n), "write");
            bytes[i] = keep;
            open_mutant(mut, n, &opened, &refused);
        }
    }
    printf("    %d mutants opened, %d refused\n", opened, refused);
    free(bytes);
}

/* ---- checkpoints assembled here: a zip writer (stored entries, optional zip64) ---- */

static uint32_t crc32_of(const unsigned char *p, size_t n)
{
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++) crc = (crc & 1) ? 0xedb88320u ^ (crc >> 1) : crc >> 1;
    }
    return crc ^ 0xffffffffu;
}

typedef struct buf {
    unsigned char *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *data, size_t n)
{
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n) cap *= 2;
        unsigned char *g = realloc(b->p, cap);
        if (!g) {
            printf("out of memory\n");
            exit(1);
        }
        b->p = g;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, data, n);
    b->n += n;
}

static void put16(buf *b, uint32_t v)
{
    unsigned char x[2] = {(unsigned char)v, (unsigned char)(v >> 8)};
    put(b, x, 2);
}

static void put32(buf *b, uint32_t v)
{
    put16(b, v & 0xffff);
    put16(b, v >> 16);
}

static void put64(buf *b, uint64_t v)
{
    put32(b, (uint32_t)v);
    put32(b, (uint32_t)(v >> 32));
}

typedef struct zrec {
    const char *name;
    const void *data;
    size_t len;
} zrec;

/* A zip of stored records; with zip64, every size and offset of the central directory and the end
 * record defers to zip64 fields, as a writer must for files over 4 GB. */
static void build_zip(buf *z, const zrec *recs, size_t n, int zip64)
{
    uint64_t offs[16];
    z->n = 0;
    for (size_t i = 0; i < n && i < 16; i++) {
        size_t nl = strlen(recs[i].name);
        offs[i] = z->n;
        put32(z, 0x04034b50u);
        put16(z, 20);
        put16(z, 0);
        put16(z, 0); /* stored */
        put16(z, 0);
        put16(z, 0x21);
        put32(z, crc32_of(recs[i].data, recs[i].len));
        put32(z, (uint32_t)recs[i].len);
        put32(z, (uint32_t)recs[i].len);
        put16(z, (uint32_t)nl);
        put16(z, 0);
        put(z, recs[i].name, nl);
        put(z, recs[i].data, recs[i].len);
    }
    uint64_t cd = z->n;
    for (size_t i = 0; i < n && i < 16; i++) {
        size_t nl = strlen(recs[i].name);
        put32(z, 0x02014b50u);
        put16(z, 45);
        put16(z, 45);
        put16(z, 0);
        put16(z, 0);
        put16(z, 0);
        put16(z, 0x21);
        put32(z, crc32_of(recs[i].data, recs[i].len));
        put32(z, zip64 ? 0xffffffffu : (uint32_t)recs[i].len);
        put32(z, zip64 ? 0xffffffffu : (uint32_t)recs[i].len);
        put16(z, (uint32_t)nl);
        put16(z, zip64 ? 28 : 0);
        put16(z, 0);
        put16(z, 0);
        put16(z, 0);
        put32(z, 0);
        put32(z, zip64 ? 0xffffffffu : (uint32_t)offs[i]);
        put(z, recs[i].name, nl);
        if (zip64) {
            put16(z, 0x0001);
            put16(z, 24);
            put64(z, recs[i].len);
            put64(z, recs[i].len);
            put64(z, offs[i]);
        }
    }
    uint64_t cd_size = z->n - cd;
    if (zip64) {
        uint64_t at = z->n;
        put32(z, 0x06064b50u);
        put64(z, 44);
        put16(z, 45);
        put16(z, 45);
        put32(z, 0);
        put32(z, 0);
        put64(z, n);
        put64(z, n);
        put64(z, cd_size);
        put64(z, cd);
        put32(z, 0x07064b50u);
        put32(z, 0);
        put64(z, at);
        put32(z, 1);
    }
    put32(z, 0x06054b50u);
    put16(z, 0);
    put16(z, 0);
    put16(z, zip64 ? 0xffff : (uint32_t)n);
    put16(z, zip64 ? 0xffff : (uint32_t)n);
    put32(z, zip64 ? 0xffffffffu : (uint32_t)cd_size);
    put32(z, zip64 ? 0xffffffffu : (uint32_t)cd);
    put16(z, 0);
}

/* A pickle as torch.save writes it (protocol 2, memo in use): {"w": f32 [2,3] of storage "0",
 * "v": storage[4:6] of the same storage, "n": 7}. */
static const unsigned char k_pickle[] =
    "\x80\x02}q\x00(X\x01\x00\x00\x00wq\x01"
    "ctorch._utils\n_rebuild_tensor_v2\nq\x02"
    "((X\x07\x00\x00\x00storageq\x03"
    "ctorch\nFloatStorage\nq\x04"
    "X\x01\x00\x00\x00"
    "0q\x05"
    "X\x03\x00\x00\x00"
    "cpuq\x06"
    "K\x06tq\x07QK\x00K\x02K\x03\x86q\x08K\x03K\x01\x86q\x09\x89"
    "ccollections\nOrderedDict\nq\x0a)Rq\x0btq\x0cRq\x0d"
    "X\x01\x00\x00\x00vh\x02((h\x03h\x04h\x05h\x06K\x06tQK\x04K\x02\x85K\x01\x85\x89h\x0a)RtR"
    "X\x01\x00\x00\x00nK\x07u.";

static const float k_values[6] = {1, 2, 3, 4, 5, 6};

static void write_checkpoint(const char *path, const unsigned char *pkl, size_t pkl_len, int zip64)
{
    buf z = {0};
    zrec recs[3] = {
        {"ck/data.pkl", pkl, pkl_len}, {"ck/byteorder", "little", 6}, {"ck/data/0", k_values, 24}};
    build_zip(&z, recs, 3, zip64);
    CHECK(write_bytes(path, z.p, z.n), "write %s", path);
    free(z.p);
}

static void check_built(dio_weights *w, const char *what)
{
    uint64_t n = 0;
    if (!w) return;
    const float *a = data_of(w, "w", &n), *b = data_of(w, "v", NULL);
    CHECK(a && n == 24 && memcmp(a, k_values, 24) == 0, "%s: w", what);
    CHECK(b && a && b == a + 4, "%s: v views w's storage at offset 4", what);
    const char *m = dio_weights_metadata(w, "n");
    CHECK(m && strcmp(m, "7") == 0, "%s: n = 7", what);
    CHECK(dio_weights_count(w) == 2, "%s: two tensors", what);
}

static void case_built_and_zip64(void)
{
    char p[PATH_MAX];
    const size_t len = sizeof k_pickle - 1;
    scratch(p, "built.pt");
    write_checkpoint(p, k_pickle, len, 0);
    dio_weights *w = open_ok(p);
    check_built(w, "plain zip");
    dio_weights_close(w);

    scratch(p, "built64.pt");
    write_checkpoint(p, k_pickle, len, 1);
    w = open_ok(p);
    check_built(w, "zip64");
    dio_weights_close(w);

    /* Damaged zip64 structures. */
    size_t n = 0;
    unsigned char *bytes = read_bytes(p, &n);
    if (!bytes) return;
    unsigned char *loc = bytes + n - 22 - 20, *rec = NULL;
    uint64_t at = 0;
    for (int i = 7; i >= 0; i--) at = (at << 8) | loc[8 + i];
    rec = bytes + at;
    scratch(p, "bad64.pt");
    loc[8] ^= 0x01; /* the locator points one byte off */
    CHECK(write_bytes(p, bytes, n), "write");
    expect_fail(p, DIO_ERR_BAD_FORMAT, "zip64", NULL);
    loc[8] ^= 0x01;
    rec[48] ^= 0x40; /* central directory offset moved */
    CHECK(write_bytes(p, bytes, n), "write");
    expect_fail(p, DIO_ERR_BAD_FORMAT, "bad64.pt", NULL);
    rec[48] ^= 0x40;
    rec[40] = 0xff; /* central directory size way past the end */
    rec[45] = 0xff;
    CHECK(write_bytes(p, bytes, n), "write");
    expect_fail(p, DIO_ERR_BAD_FORMAT, "central directory", NULL);
    free(bytes);

    /* A zip64 end record with no locator: the 0xFFFF fields have nowhere to point. */
    buf z = {0};
    zrec recs[1] = {{"ck/data.pkl", k_pickle, len}};
    build_zip(&z, recs, 1, 1);
    memset(z.p + z.n - 22 - 20, 0, 4);
    scratch(p, "noloc.pt");
    CHECK(write_bytes(p, z.p, z.n), "write");
    expect_fail(p, DIO_ERR_BAD_FORMAT, "zip64", NULL);
    free(z.p);
}

static void case_pickle_truncated(void)
{
    char p[PATH_MAX];
    const size_t len = sizeof k_pickle - 1;
    scratch(p, "ptrunc.pt");
    int bad = 0;
    for (size_t cut = 0; cut < len; cut++) {
        dio_weights *w = SENTINEL;
        write_checkpoint(p, k_pickle, cut, 0);
        dio_clear_error();
        dio_status st = dio_weights_open(p, &w);
        if (st != DIO_ERR_BAD_FORMAT || w != SENTINEL || !strstr(dio_last_error(), "ptrunc.pt")) {
            if (bad++ < 5) CHECK(0, "pickle cut at %zu: %s (%s)", cut, dio_status_name(st), dio_last_error());
        }
        if (st == DIO_OK && w != SENTINEL) dio_weights_close(w);
    }
    CHECK(bad == 0, "%d pickle lengths misbehaved", bad);
    printf("    %zu pickle truncations refused\n", len);
}

static void case_pickle_mutated(void)
{
    char p[PATH_MAX];
    static const unsigned char vals[] = {0x00, 0xff, 0x7f, 0x80, 'K', 'X',  'h',  'j', 'q',
                                         '(',  't',  'R',  'Q',  'b', 'c',  'u',  's', 'e',
                                         'a',  '.',  ')',  ']',  '}', 0x85, 0x8a, 0x94};
    const size_t len = sizeof k_pickle - 1;
    unsigned char *pk = malloc(len);
    memcpy(pk, k_pickle, len);
    scratch(p, "pmut.pt");
    int opened = 0, refused = 0;
    for (size_t i = 0; i < len; i++) {
        for (size_t v = 0; v < sizeof vals; v++) {
            unsigned char keep = pk[i];
            if (keep == vals[v]) continue;
            pk[i] = vals[v];
            write_checkpoint(p, pk, len, 0);
            pk[i] = keep;
            struct stat sb;
            size_t size = stat(p, &sb) == 0 ? (size_t)sb.st_size : 0;
            open_mutant(p, size, &opened, &refused);
        }
    }
    printf("    %d pickle mutants opened, %d refused\n", opened, refused);
    free(pk);
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
    if (argc < 2) {
        printf("usage: test_pt FIXTURE_DIR [scratch-parent-dir]\n");
        return 2;
    }
    g_fixtures = argv[1];
    const char *parent = argc > 2 ? argv[2] : (getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    snprintf(g_root, sizeof g_root, "%s/dio_pt_test_XXXXXX", parent);
    if (!mkdtemp(g_root)) {
        printf("cannot create a scratch directory under %s: %s\n", parent, strerror(errno));
        return 1;
    }
    int fds_before = count_entries("/proc/self/fd");

    run_case("dtypes: every dtype diorama reads, the others left out", case_dtypes);
    run_case("nested dicts, OrderedDict, lists, int keys, metadata values, source view", case_nested);
    run_case("views: shared storages, offsets, scalar, empty, non-contiguous copies, Parameter", case_views);
    run_case("module state_dict (BUILD), pickle protocol 4, HF .bin shards with index",
             case_module_proto4_shards);
    run_case("hostile checkpoints refused, nothing executed", case_hostile_fixtures);
    run_case("hostile: a checkpoint truncated at every byte", case_truncated_everywhere);
    run_case("hostile: every byte of a checkpoint mutated", case_mutated_everywhere);
    run_case("zip and zip64 written here; damaged zip64 records", case_built_and_zip64);
    run_case("hostile: the pickle truncated at every byte (zip intact)", case_pickle_truncated);
    run_case("hostile: every pickle byte mutated (zip intact)", case_pickle_mutated);

    int fds_after = count_entries("/proc/self/fd");
    g_case_ok = 1;
    CHECK(fds_after == fds_before, "file descriptors leaked: %d before, %d after", fds_before, fds_after);
    g_cases++;
    if (!g_case_ok) g_cases_failed++;
    printf("%s no file descriptor leaked\n", g_case_ok ? "ok  " : "FAIL");

    nftw(g_root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    printf("%d cases, %d failed\n", g_cases, g_cases_failed);
    return g_cases_failed ? 1 : 0;
}

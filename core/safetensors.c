/* diorama — the weights table: safetensors files and sharded HF folders, PyTorch checkpoints, and
 * writing safetensors files atomically.
 *
 * dio_weights_open takes a .safetensors file, a torch.save checkpoint (.pt/.pth/.bin, zip format), a
 * *.index.json, or a directory holding one *.safetensors.index.json (else exactly one .safetensors)
 * and exposes the tensors sorted by name, zero-copy; the dio_weight_source view is what components
 * read. dio_safetensors_write writes one file.
 *
 * Design choices:
 * - Each file is mmap'd read-only, whole; dio_weight_info.data points into the mapping (valid until
 *   close). Nothing aligns tensor data: a foreign file may put a tensor at any byte offset.
 * - Nothing is exposed before every check passed: header length against the file size and a 100 MB cap,
 *   at most 2^20 tensors (the 14B DiT has about 1,100) and names of at most 4096 bytes, UTF-8 without NUL,
 * one JSON object followed only by whitespace, known dtypes, shapes of at most six integers in [0, 2^53)
 * whose numel x element size does not overflow, data_offsets inside the data and as long as the shape says,
 * no byte shared by two tensors, no name twice (in a file or across shards), string-only metadata. Gaps
 * between tensors and bytes after the last one are tolerated.
 * - cJSON reads numbers as doubles, so an integer is accepted only when integral and below 2^53 (where
 *   a double is exact); the writer prints its integers itself (raw JSON) so they are never rounded.
 *   The header is copied to a NUL-terminated heap buffer before parsing, so the parser never reads the
 *   mapping. Names and metadata are copied out and the JSON tree is freed at the end of open.
 * - A sharded folder opens its shards in name order; its metadata is the first shard's __metadata__
 *   (the index's own "metadata" holds numbers such as total_size and is not exposed). Shard paths are
 *   relative to the directory of the index as named (not its symlink target, as in the HF cache).
 * - Errors go through dio_set_error and name the file and the tensor (names cut to 200 bytes); a
 *   failed open frees everything it made and leaves *out untouched. Lookups are binary searches.
 * - Writing: the header is padded with spaces so the data starts 8-byte aligned; the tensors follow
 *   back to back in the given order (no gaps, as the reference reader demands); the bytes go to a
 *   mkstemp file beside the target, then fsync, rename and a best-effort fsync of the directory. Any
 *   failure unlinks the temporary file, so the final name never holds a half-written file.
 * - Files are little-endian; so must the host be (checked at compile time). A file truncated by someone
 *   else while mapped faults on access (SIGBUS): the checks cover the file as it was at open.
 * - The kind of each file (also each shard of an index) is told by its first bytes: a zip local header
 *   ("PK\3\4") is a torch.save checkpoint, read by pt_zip.c and pt_pickle.c into the same table
 *   (tensors of one checkpoint may share bytes, so the overlap sweep is safetensors-only; a
 *   non-contiguous tensor arrives as a copy the table owns; its plain values are the metadata); the
 *   pre-1.6 pickle format is refused by name; anything else is read as safetensors. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "diorama/diorama.h"
#include "pt_internal.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; this reader assumes a little-endian host"
#endif

#define ST_MAX_HEADER ((uint64_t)100 * 1000 * 1000) /* bytes of JSON header accepted */
#define ST_MAX_INDEX ((uint64_t)64 * 1024 * 1024)   /* bytes of *.safetensors.index.json accepted */
#define ST_MAX_TENSORS ((size_t)1 << 20)            /* tensors in one weights table (all shards) */
#define ST_MAX_NAME ((size_t)4096)                  /* bytes of one tensor name */
#define ST_INT_LIMIT 9007199254740992.0             /* 2^53: integers below are exact in a double */
#define ST_INT_LIMIT_U ((uint64_t)1 << 53)
#define ST_INDEX_SUFFIX ".safetensors.index.json"
#define ST_FILE_SUFFIX ".safetensors"
/* A name in a message, cut to 200 bytes so a hostile name cannot flood the message. */
#define NM "'%.200s'"

typedef struct st_file {
    char *path;
    void *map;
    size_t map_size;
    int is_pt; /* a torch.save checkpoint */
} st_file;

typedef struct st_tensor {
    char *name;
    int32_t dtype;
    int32_t ndim;
    int64_t shape[DIO_MAX_DIMS];
    uint64_t begin, end; /* of the data section (safetensors), of the file (checkpoint; 0 for a copy) */
    const void *data;
    size_t file; /* index into dio_weights.files */
    void *owned; /* a gathered copy of a non-contiguous checkpoint tensor (data points here), or NULL */
} st_tensor;

typedef struct st_meta {
    char *key;
    char *value;
} st_meta;

struct dio_weights {
    dio_weight_source source;
    char *path; /* what was opened (the index or the file, after resolving a directory) */
    st_file *files;
    size_t n_files, cap_files;
    st_tensor *tensors; /* sorted by name once open succeeded */
    size_t n_tensors, cap_tensors;
    st_meta *meta; /* the first file's __metadata__, sorted by key */
    size_t n_meta;
};

/* ---- small helpers ---- */

static const struct {
    const char *name;
    int32_t dtype;
} st_dtypes[] = {
    {"F32", DIO_DTYPE_F32},        {"F16", DIO_DTYPE_F16},        {"BF16", DIO_DTYPE_BF16},
    {"F8_E4M3", DIO_DTYPE_F8E4M3}, {"F8_E5M2", DIO_DTYPE_F8E5M2}, {"I32", DIO_DTYPE_I32},
    {"I64", DIO_DTYPE_I64},        {"U8", DIO_DTYPE_U8},
};
#define ST_DTYPE_LIST "F32, F16, BF16, F8_E4M3, F8_E5M2, I32, I64, U8"

static int32_t st_dtype_from_name(const char *s)
{
    for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++)
        if (strcmp(s, st_dtypes[i].name) == 0) return st_dtypes[i].dtype;
    return -1;
}

static const char *st_dtype_to_name(int32_t dtype)
{
    for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++)
        if (st_dtypes[i].dtype == dtype) return st_dtypes[i].name;
    return NULL;
}

static char *st_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static int st_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* dir + "/" + name, or NULL when out of memory. */
static char *st_join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

/* The directory part of a path ("." when there is none). */
static char *st_dirname(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) return st_strdup(".");
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, path, n);
    d[n] = '\0';
    return d;
}

/* 1 when s[0..n) is valid UTF-8 without NUL; else 0 and *bad is the offending byte offset. Shared with
 * pt_pickle.c (pt_internal.h). */
int dio_utf8_valid(const unsigned char *s, size_t n, size_t *bad)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t len;
        uint32_t cp;
        if (c == 0) goto invalid;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            len = 2;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            cp = c & 0x07;
        } else {
            goto invalid;
        }
        if (n - i < len) goto invalid;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) goto invalid;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
            goto invalid;
        i += len;
    }
    return 1;
invalid:
    if (bad) *bad = i;
    return 0;
}

static int st_is_json_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* A JSON number that is an integer in [0, 2^53). */
static int st_json_uint(const cJSON *item, uint64_t *out)
{
    if (!cJSON_IsNumber(item)) return 0;
    double v = item->valuedouble;
    if (!(v >= 0.0) || !(v < ST_INT_LIMIT)) return 0;
    uint64_t u = (uint64_t)v;
    if ((double)u != v) return 0;
    *out = u;
    return 1;
}

static const char *st_json_kind(const cJSON *item)
{
    if (cJSON_IsObject(item)) return "object";
    if (cJSON_IsArray(item)) return "array";
    if (cJSON_IsString(item)) return "string";
    if (cJSON_IsNumber(item)) return "number";
    if (cJSON_IsBool(item)) return "boolean";
    if (cJSON_IsNull(item)) return "null";
    return "value";
}

/* "[2, 3, 4]" into buf. */
static const char *st_shape_str(char *buf, size_t size, const int64_t *shape, int32_t ndim)
{
    size_t used = 0;
    buf[0] = '\0';
    used += (size_t)snprintf(buf, size, "[");
    for (int32_t i = 0; i < ndim && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%" PRId64, i ? ", " : "", shape[i]);
    if (used < size) snprintf(buf + used, size - used, "]");
    return buf;
}

static int st_cmp_tensor_name(const void *a, const void *b)
{
    return strcmp(((const st_tensor *)a)->name, ((const st_tensor *)b)->name);
}

static int st_cmp_tensor_begin(const void *a, const void *b)
{
    const st_tensor *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

static int st_cmp_meta(const void *a, const void *b)
{
    return strcmp(((const st_meta *)a)->key, ((const st_meta *)b)->key);
}

static int st_cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int st_key_cmp_tensor(const void *key, const void *elem)
{
    return strcmp((const char *)key, ((const st_tensor *)elem)->name);
}

static int st_key_cmp_meta(const void *key, const void *elem)
{
    return strcmp((const char *)key, ((const st_meta *)elem)->key);
}

static const st_tensor *st_lookup(const dio_weights *w, const char *name)
{
    if (!w || !name || w->n_tensors == 0) return NULL;
    return bsearch(name, w->tensors, w->n_tensors, sizeof *w->tensors, st_key_cmp_tensor);
}

static void st_fill_info(const st_tensor *t, dio_weight_info *info)
{
    memset(info, 0, sizeof *info);
    info->struct_size = (uint32_t)sizeof *info;
    info->dtype = t->dtype;
    info->ndim = t->ndim;
    for (int32_t i = 0; i < DIO_MAX_DIMS; i++) info->shape[i] = i < t->ndim ? t->shape[i] : 1;
    info->data = t->data;
    info->nbytes = t->end - t->begin;
}

static void st_weights_free(dio_weights *w)
{
    if (!w) return;
    for (size_t i = 0; i < w->n_files; i++) {
        if (w->files[i].map) munmap(w->files[i].map, w->files[i].map_size);
        free(w->files[i].path);
    }
    for (size_t i = 0; i < w->n_tensors; i++) {
        free(w->tensors[i].name);
        free(w->tensors[i].owned);
    }
    for (size_t i = 0; i < w->n_meta; i++) {
        free(w->meta[i].key);
        free(w->meta[i].value);
    }
    free(w->files);
    free(w->tensors);
    free(w->meta);
    free(w->path);
    free(w);
}

/* ---- one .safetensors file ---- */

/* Copies the __metadata__ object of `path` into w->meta when `keep`, after checking it. */
static dio_status st_parse_meta(dio_weights *w, const char *path, const cJSON *obj, int keep)
{
    dio_status st = DIO_OK;
    size_t n = 0, i = 0;
    st_meta *meta = NULL;

    if (!cJSON_IsObject(obj)) {
        st = dio_set_error(DIO_ERR_BAD_FORMAT,
                           "safetensors '%s': \"__metadata__\" is a JSON %s, not an object", path,
                           st_json_kind(obj));
        goto fail;
    }
    for (const cJSON *c = obj->child; c; c = c->next) {
        if (!cJSON_IsString(c)) {
            st = dio_set_error(DIO_ERR_BAD_FORMAT,
                               "safetensors '%s': metadata value of key " NM " is a JSON %s, not a string",
                               path, c->string, st_json_kind(c));
            goto fail;
        }
        n++;
    }
    if (!keep || n == 0) return DIO_OK;
    meta = calloc(n, sizeof *meta);
    if (!meta) {
        st = dio_set_error(DIO_ERR_OUT_OF_HOST_MEMORY, "safetensors '%s': out of memory for metadata", path);
        goto fail;
    }
    for (const cJSON *c = obj->child; c; c = c->next, i++) {
        meta[i].key = st_strdup(c->string);
        meta[i].value = st_strdup(c->valuestring);
        if (!meta[i].key || !meta[i].value) {
            st = dio_set_error(DIO_ERR_OUT_OF_HOST_MEMORY, "safetensors '%s': out of memory for metadata",
                               path);
            goto fail;
        }
    }
    qsort(meta, n, sizeof *meta, st_cmp_meta);
    for (i = 1; i < n; i++) {
        if (strcmp(meta[i - 1].key, meta[i].key) == 0) {
            st = dio_set_error(DIO_ERR_BAD_FORMAT, "safetensors '%s': metadata key " NM " appears twice",
                               path, meta[i].key);
            goto fail;
        }
    }
    w->meta = meta;
    w->n_meta = n;
    return DIO_OK;
fail:
    if (meta) {
        for (i = 0; i < n; i++) {
            free(meta[i].key);
            free(meta[i].value);
        }
        free(meta);
    }
    return st;
}

/* Checks one header entry and appends it to w->tensors. */
static dio_status st_parse_entry(dio_weights *w, const char *path, size_t file, const cJSON *item,
                                 const unsigned char *data, uint64_t data_size)
{
    dio_status st = DIO_OK;
    const char *name = item->string;
    const cJSON *jdtype = NULL, *jshape = NULL, *joffs = NULL;
    int64_t shape[DIO_MAX_DIMS] = {0};
    char sbuf[160];
    int32_t dtype, ndim = 0;
    uint64_t begin = 0, end = 0, numel = 1, nbytes, esize;
    int has_zero = 0;

    if (strlen(name) > ST_MAX_NAME) {
        st = dio_set_error(DIO_ERR_BAD_FORMAT,
                           "safetensors '%s': tensor name " NM "... is %zu bytes; the limit is %zu", path,
                           name, strlen(name), ST_MAX_NAME);
        goto fail;
    }
    if (w->n_tensors >= ST_MAX_TENSORS) {
        st = dio_set_error(DIO_ERR_BAD_FORMAT, "safetensors '%s': more than %zu tensors (the limit)", path,
                           ST_MAX_TENSORS);
        goto fail;
    }
    if (!cJSON_IsObject(item)) {
        st = dio_set_error(DIO_ERR_BAD_FORMAT, "safetensors '%s': tensor " NM " is a JSON %s, not an object",
                           path, name, st_json_kind(item));
        goto fail;
    }
    for (const cJSON *c = item->child; c; c = c->next) {
        const cJSON **slot;
        if (strcmp(c->string, "dtype") == 0)
            slot = &jdtype;
        else if (strcmp(c->string, "shape") == 0)
            slot = &jshape;
        else if (strcmp(c->string, "data_offsets") == 0)
            slot = &joffs;
        else
            continue; /* unknown fields are ignored */
        if (*slot) {
            st = dio_set_error(DIO_ERR_BAD_FORMAT, "safetensors '%s': tensor " NM " has field \"%s\" twice",
                               path, name, c->string);
            goto fail;
        }
        *slot = c;
    }

    if (!jdtype || !cJSON_IsString(jdtype)) {
        st = dio_set_error(DIO_ERR_BAD_FORMAT, "safetensors '%s': tensor " NM " has no string \"dtype\"",
                           path, name);
        goto fail;
    }
    dtype = st_dtype_from_name(jdtype->valuestring);
    if (dtype < 0) {
        st =
            dio_set_error(DIO_ERR_BAD_FORMAT,
                          "safetensors '%s': tensor " NM " has dtype '%.40s', which diorama does not support "
                          "(it reads " ST_DTYPE_LIST ")",
                          path, name, jdtype->valuestring);
        goto fail;
    }
    esize = dio_dtype_size(dtype);

    if (!jshape || !cJSON_IsArray(jshape)) {
        st = dio_set_error(DIO_ERR_BAD_FORMAT, "safetensors '%s': tensor " NM " has no \"shape\" array", path,
                           name);
        goto fail;
    }
    for (const cJSON *d = jshape->child; d; d = d->next, ndim++) {
        uint64_t v;
        if (ndim >= DIO_MAX_DIMS) {
            st = dio_set_error(DIO_ERR_BAD_FORMAT,
                               "safetensors '%s': tensor " NM
                               " has a shape of %d dims; diorama allows at most %d",
                               path, name, cJSON_GetArraySize(jshape), DIO_MAX_DIMS);
            goto fail;
        }
        if (!st_json_uint(d, &v)) {
            st = dio_set_error(DIO_ERR_BAD_FORMAT,
                               "safetensors '%s': tensor " NM
                               ": shape[%d] is not a non-negative integer below 2^53",
                               path, name, ndim);
            goto fail;
        }
        shape[ndim] = (int64_t)v;
        if (v == 0) has_zero = 1;
    }
    if (has_zero) {
        numel = 0;
    } else {
        for (int32_t i = 0; i < ndim; i++) {
            uint64_t v = (uint64_t)shape[i];
            if (numel > UINT64_MAX / v) goto overflow;
            numel *= v;
        }
        if (numel > (uint64_t)INT64_MAX / esize) goto overflow;
    }
    nbytes = numel * esize;

    if (!joffs || !cJSON_IsArray(joffs) || cJSON_GetArraySize(joffs) != 2 ||
        !st_json_uint(joffs->child, &begin) || !st_json_uint(joffs->child->next, &end)) {
        st = dio_set_error(
            DIO_ERR_BAD_FORMAT,
            "safetensors '%s': tensor " NM ": \"data_offsets\" is not two non-negative integers", path, name);
        goto fail;
    }
    if (end < begin) {
        st = dio_set_error(DIO_ERR_BAD_FORMAT,
                           "safetensors '%s': tensor " NM ": data_offsets [%" PRIu64 ", %" PRIu64
                           "] end before they begin",
                           path, name, begin, end);
        goto fail;
    }
    if (end > data_size) {
        st = dio_set_error(DIO_ERR_BAD_FORMAT,
                           "safetensors '%s': tensor " NM ": data_offsets [%" PRIu64 ", %" PRIu64
                           "] run past the %" PRIu64 " bytes of data (file truncated?)",
                           path, name, begin, end, data_size);
        goto fail;
    }
    if (end - begin != nbytes) {
        st = dio_set_error(DIO_ERR_BAD_FORMAT,
                           "safetensors '%s': tensor " NM ": data_offsets [%" PRIu64 ", %" PRIu64
                           "] hold %" PRIu64 " bytes, but shape %s of %s needs %" PRIu64,
                           path, name, begin, end, end - begin, st_shape_str(sbuf, sizeof sbuf, shape, ndim),
                           jdtype->valuestring, nbytes);
        goto fail;
    }

    if (w->n_tensors == w->cap_tensors) {
        size_t cap = w->cap_tensors ? w->cap_tensors * 2 : 64;
        st_tensor *grown = realloc(w->tensors, cap * sizeof *grown);
        if (!grown) {
            st = dio_set_error(DIO_ERR_OUT_OF_HOST_MEMORY,
                               "safetensors '%s': out of memory for the tensor list", path);
            goto fail;
        }
        w->tensors = grown;
        w->cap_tensors = cap;
    }
    st_tensor *t = &w->tensors[w->n_tensors];
    memset(t, 0, sizeof *t);
    t->name = st_strdup(name);
    if (!t->name) {
        st = dio_set_error(DIO_ERR_OUT_OF_HOST_MEMORY, "safetensors '%s': out of memory for tensor names",
                           path);
        goto fail;
    }
    t->dtype = dtype;
    t->ndim = ndim;
    memcpy(t->shape, shape, sizeof shape);
    t->begin = begin;
    t->end = end;
    t->data = data + begin;
    t->file = file;
    w->n_tensors++;
    return DIO_OK;

overflow:
    st = dio_set_error(DIO_ERR_BAD_FORMAT,
                       "safetensors '%s': tensor " NM
                       ": shape %s of %s has more elements than fit in 63 bits of bytes",
                       path, name, st_shape_str(sbuf, sizeof sbuf, shape, ndim), jdtype->valuestring);
fail:
    return st;
}

/* ---- one PyTorch checkpoint (the parsing is in pt_zip.c and pt_pickle.c) ---- */

typedef struct st_pt_ctx {
    dio_weights *w;
    const char *path;
    size_t file;
    size_t cap_meta;
} st_pt_ctx;

static dio_status st_pt_tensor(void *ctx, const pt_tensor *t)
{
    st_pt_ctx *c = ctx;
    dio_weights *w = c->w;
    dio_status st = DIO_OK;
    void *owned = t->owned;

    if (w->n_tensors == w->cap_tensors) {
        size_t cap = w->cap_tensors ? w->cap_tensors * 2 : 64;
        st_tensor *grown = realloc(w->tensors, cap * sizeof *grown);
        if (!grown) goto oom;
        w->tensors = grown;
        w->cap_tensors = cap;
    }
    st_tensor *x = &w->tensors[w->n_tensors];
    memset(x, 0, sizeof *x);
    x->name = st_strdup(t->name);
    if (!x->name) goto oom;
    x->dtype = t->dtype;
    x->ndim = t->ndim;
    memcpy(x->shape, t->shape, sizeof x->shape);
    x->begin = t->file_offset;
    x->end = t->file_offset + t->nbytes;
    x->data = t->data;
    x->file = c->file;
    x->owned = owned;
    w->n_tensors++;
    return DIO_OK;
oom:
    st = dio_set_error(DIO_ERR_OUT_OF_HOST_MEMORY, "checkpoint '%s': out of memory for the tensor list",
                       c->path);
    free(owned);
    return st;
}

static dio_status st_pt_meta(void *ctx, const char *key, const char *value)
{
    st_pt_ctx *c = ctx;
    dio_weights *w = c->w;
    if (w->n_meta == c->cap_meta) {
        size_t cap = c->cap_meta ? c->cap_meta * 2 : 16;
        st_meta *grown = realloc(w->meta, cap * sizeof *grown);
        if (!grown) goto oom;
        w->meta = grown;
        c->cap_meta = cap;
    }
    w->meta[w->n_meta].key = st_strdup(key);
    w->meta[w->n_meta].value = st_strdup(value);
    if (!w->meta[w->n_meta].key || !w->meta[w->n_meta].value) {
        free(w->meta[w->n_meta].key);
        free(w->meta[w->n_meta].value);
        goto oom;
    }
    w->n_meta++;
    return DIO_OK;
oom:
    return dio_set_error(DIO_ERR_OUT_OF_HOST_MEMORY, "checkpoint '%s': out of memory for its values",
                         c->path);
}

/* Reads the checkpoint mapped as w->files[file]; its plain values become the metadata when `keep_meta`. */
static dio_status st_load_pt(dio_weights *w, size_t file, int keep_meta)
{
    dio_status st = DIO_OK;
    const st_file *f = &w->files[file];
    st_pt_ctx ctx = {w, f->path, file, 0};
    pt_sink sink = {&ctx, st_pt_tensor, keep_meta ? st_pt_meta : NULL};

    w->files[file].is_pt = 1;
    st = pt_load(f->path, f->map, f->map_size, &sink);
    if (st != DIO_OK) goto fail;
    if (w->n_meta > 1) qsort(w->meta, w->n_meta, sizeof *w->meta, st_cmp_meta);
    for (size_t i = 1; i < w->n_meta; i++) {
        if (strcmp(w->meta[i - 1].key, w->meta[i].key) == 0) {
            st = dio_set_error(DIO_ERR_BAD_FORMAT, "checkpoint '%s': value " NM " appears twice", f->path,
                               w->meta[i].key);
            goto fail;
        }
    }
    return DIO_OK;
fail:
    return st; /* what was added to w is freed with it */
}

/* Opens, maps and checks one file, appending it and its tensors to w. `shard_of` names the index that
 * listed it, for the message when it cannot be opened. */
static dio_status st_load_file(dio_weights *w, const char *path, int keep_meta, const char *shard_of)
{
    dio_status st = DIO_OK;
    int fd = -1;
    void *map = MAP_FAILED;
    size_t map_size = 0, file;
    char *hdr = NULL;
    cJSON *root = NULL;
    const char *parse_end = NULL;
    size_t first = w->n_tensors, bad = 0;
    struct stat sb;
    int seen_meta = 0;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not block us */
    if (fd < 0) {
        if (shard_of)
            st = dio_set_error(DIO_ERR_IO, "cannot open shard '%s' listed in index '%s': %s", path, shard_of,
                               strerror(errno));
        else
            st = dio_set_error(DIO_ERR_IO, "cannot open safetensors file '%s': %s", path, strerror(errno));
        goto fail;
    }
    if (fstat(fd, &sb) != 0) {
        st = dio_set_error(DIO_ERR_IO, "cannot stat safetensors file '%s': %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(sb.st_mode)) {
        st = dio_set_error(DIO_ERR_IO, "safetensors '%s' is not a regular file", path);
        goto fail;
    }
    if (sb.st_size < 8) {
        st = dio_set_error(
            DIO_ERR_BAD_FORMAT,
            "safetensors '%s' is %lld bytes, too short for the 8-byte header length (truncated?)", path,
            (long long)sb.st_size);
        goto fail;
    }
    if ((uint64_t)sb.st_size > (uint64_t)SIZE_MAX) {
        st = dio_set_error(DIO_ERR_IO, "safetensors '%s' is too large to map", path);
        goto fail;
    }
    map_size = (size_t)sb.st_size;
    map = mmap(NULL, map_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
        st = dio_set_error(DIO_ERR_IO, "cannot map safetensors file '%s': %s", path, strerror(errno));
        goto fail;
    }
    close(fd);
    fd = -1;

    /* From here the mapping belongs to w (freed by st_weights_free when open fails later). */
    if (w->n_files == w->cap_files) {
        size_t cap = w->cap_files ? w->cap_files * 2 : 4;
        st_file *grown = realloc(w->files, cap * sizeof *grown);
        if (!grown) {
            st = dio_set_error(DIO_ERR_OUT_OF_HOST_MEMORY, "safetensors '%s': out of memory", path);
            goto fail;
        }
        w->files = grown;
        w->cap_files = cap;
    }
    file = w->n_files;
    w->files[file].path = st_strdup(path);
    if (!w->files[file].path) {
        st = dio_set_error(DIO_ERR_OUT_OF_HOST_MEMORY, "safetensors '%s': out of memory", path);
        goto fail;
    }
    w->files[file].map = map;
    w->files[file].map_size = map_size;
    w->files[file].is_pt = 0;
    w->n_files++;
    map = MAP_FAILED;

    const unsigned char *base = w->files[file].map;
    switch (pt_sniff(base, map_size)) {
    case PT_SNIFF_ZIP: return st_load_pt(w, file, keep_meta);
    case PT_SNIFF_LEGACY:
        st = dio_set_error(DIO_ERR_BAD_FORMAT,
                           "'%s' is a PyTorch checkpoint in the legacy (pre-1.6) format, which is not read; "
                           "re-save it with torch.save from torch 1.6 or later (the zip format)",
                           path);
        goto fail;
    default: break;
    }
    uint64_t hlen = 0, avail = (uint64_t)map_size - 8;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | base[i];
    if (hlen > ST_MAX_HEADER) {
        st = dio_set_error(DIO_ERR_BAD_FORMAT,
                           "safetensors '%s': header length %" PRIu64 " exceeds the limit of %" PRIu64
                           " bytes (not a safetensors file?)",
                           path, hlen, ST_MAX_HEADER);
        goto fail;
    }
    if (hlen > avail) {
        st = dio_set_error(DIO_ERR_BAD_FORMAT,
                           "safetensors '%s': header length %" PRIu64 " is larger than the %" PRIu64
                           " bytes after it (truncated?)",
                           path, hlen, avail);
        goto fail;
    }
    if (hlen == 0) {
        st = dio_set_error(DIO_ERR_BAD_FORMAT, "safetensors '%s': the JSON header is empty", path);
        goto fail;
    }
    if (!dio_utf8_valid(base + 8, (size_t)hlen, &bad)) {
        st = dio_set_error(DIO_ERR_BAD_FORMAT, "safetensors '%s': header byte %zu is %s", path, bad,
                           base[8 + bad] ? "not valid UTF-8" : "NUL");
        goto fail;
    }
    hdr = malloc((size_t)hlen + 1);
    if (!hdr) {
        st = dio_set_error(DIO_ERR_OUT_OF_HOST_MEMORY,
                           "safetensors '%s': out of memory for the %" PRIu64 "-byte header", path, hlen);
        goto fail;
    }
    memcpy(hdr, base + 8, (size_t)hlen);
    hdr[hlen] = '\0';
    root = cJSON_ParseWithLengthOpts(hdr, (size_t)hlen, &parse_end, 0);
    if (!root) {
        size_t at = parse_end && parse_end >= hdr && parse_end <= hdr + hlen ? (size_t)(parse_end - hdr) : 0;
        st = dio_set_error(DIO_ERR_BAD_FORMAT,
                           "safetensors '%s': header is not valid JSON (error near byte %zu of %" PRIu64 ")",
                           path, at, hlen);
        goto fail;
    }
    for (const char *p = parse_end; p && p < hdr + hlen; p++) {
        if (!st_is_json_space(*p)) {
            st = dio_set_error(DIO_ERR_BAD_FORMAT,
                               "safetensors '%s': header has bytes after its JSON object (at byte %zu)", path,
                               (size_t)(p - hdr));
            goto fail;
        }
    }
    if (!cJSON_IsObject(root)) {
        st = dio_set_error(DIO_ERR_BAD_FORMAT, "safetensors '%s': header is a JSON %s, not an object", path,
                           st_json_kind(root));
        goto fail;
    }

    const unsigned char *data = base + 8 + hlen;
    uint64_t data_size = avail - hlen;
    for (const cJSON *item = root->child; item; item = item->next) {
        if (strcmp(item->string, "__metadata__") == 0) {
            if (seen_meta) {
                st = dio_set_error(DIO_ERR_BAD_FORMAT, "safetensors '%s': \"__metadata__\" appears twice",
                                   path);
                goto fail;
            }
            seen_meta = 1;
            st = st_parse_meta(w, path, item, keep_meta);
        } else {
            st = st_parse_entry(w, path, file, item, data, data_size);
        }
        if (st != DIO_OK) goto fail;
    }

    /* No byte may belong to two tensors: sort this file's tensors by offset and sweep. Empty tensors
     * own no byte. */
    if (w->n_tensors > first) {
        st_tensor *ts = w->tensors + first;
        size_t n = w->n_tensors - first, owner = 0;
        uint64_t max_end = 0;
        int have = 0;
        if (n > 1) qsort(ts, n, sizeof *ts, st_cmp_tensor_begin);
        for (size_t i = 0; i < n; i++) {
            if (ts[i].begin == ts[i].end) continue;
            if (have && ts[i].begin < max_end) {
                st = dio_set_error(DIO_ERR_BAD_FORMAT,
                                   "safetensors '%s': tensors " NM " [%" PRIu64 ", %" PRIu64 ") and " NM
                                   " [%" PRIu64 ", %" PRIu64 ") overlap",
                                   path, ts[owner].name, ts[owner].begin, ts[owner].end, ts[i].name,
                                   ts[i].begin, ts[i].end);
                goto fail;
            }
            if (ts[i].end > max_end) {
                max_end = ts[i].end;
                owner = i;
                have = 1;
            }
        }
    }

    cJSON_Delete(root);
    free(hdr);
    return DIO_OK;
fail:
    cJSON_Delete(root);
    free(hdr);
    if (map != MAP_FAILED) munmap(map, map_size);
    if (fd >= 0) close(fd);
    return st;
}

/* Sorts w's tensors by name and refuses a name seen twice. */
static dio_status st_finish(dio_weights *w)
{
    if (w->n_tensors > 1) qsort(w->tensors, w->n_tensors, sizeof *w->tensors, st_cmp_tensor_name);
    for (size_t i = 1; i < w->n_tensors; i++) {
        const st_tensor *a = &w->tensors[i - 1], *b = &w->tensors[i];
        if (strcmp(a->name, b->name) != 0) continue;
        if (a->file == b->file)
            return dio_set_error(DIO_ERR_BAD_FORMAT, "%s '%s': tensor " NM " appears twice",
                                 w->files[a->file].is_pt ? "checkpoint" : "safetensors",
                                 w->files[a->file].path, a->name);
        return dio_set_error(DIO_ERR_BAD_FORMAT, "tensor " NM " is in two shards: '%s' and '%s'", a->name,
                             w->files[a->file].path, w->files[b->file].path);
    }
    return DIO_OK;
}

/* ---- sharded folders ---- */

/* NULL when `rel` is a safe path below the index's directory, else why not. */
static const char *st_bad_relpath(const char *rel)
{
    if (rel[0] == '\0') return "is empty";
    if (rel[0] == '/') return "is an absolute path";
    if (strchr(rel, '\\')) return "contains a backslash";
    for (const char *p = rel;;) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (len == 2 && p[0] == '.' && p[1] == '.') return "leaves the index's directory (\"..\")";
        if (!slash) break;
        p = slash + 1;
    }
    return NULL;
}

typedef struct st_map_entry {
    const char *tensor;
    const char *shard;
} st_map_entry;

static dio_status st_load_index(dio_weights *w, const char *path)
{
    dio_status st = DIO_OK;
    int fd = -1;
    char *buf = NULL, *dir = NULL, *shard_path = NULL;
    const char **shards = NULL;
    st_map_entry *map = NULL;
    cJSON *root = NULL;
    const cJSON *wmap = NULL;
    const char *parse_end = NULL;
    size_t n_map = 0, n_shards = 0, len = 0, bad = 0;
    struct stat sb;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not block us */
    if (fd < 0) {
        st = dio_set_error(DIO_ERR_IO, "cannot open safetensors index '%s': %s", path, strerror(errno));
        goto fail;
    }
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = dio_set_error(DIO_ERR_IO, "safetensors index '%s' is not a readable regular file", path);
        goto fail;
    }
    if ((uint64_t)sb.st_size > ST_MAX_INDEX) {
        st = dio_set_error(DIO_ERR_BAD_FORMAT,
                           "safetensors index '%s' is %lld bytes, over the limit of %" PRIu64, path,
                           (long long)sb.st_size, ST_MAX_INDEX);
        goto fail;
    }
    buf = malloc((size_t)sb.st_size + 1);
    if (!buf) {
        st = dio_set_error(DIO_ERR_OUT_OF_HOST_MEMORY, "safetensors index '%s': out of memory", path);
        goto fail;
    }
    while (len < (size_t)sb.st_size) {
        ssize_t r = read(fd, buf + len, (size_t)sb.st_size - len);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            st = dio_set_error(DIO_ERR_IO, "cannot read safetensors index '%s': %s", path, strerror(errno));
            goto fail;
        }
        if (r == 0) break;
        len += (size_t)r;
    }
    buf[len] = '\0';
    close(fd);
    fd = -1;

    if (!dio_utf8_valid((const unsigned char *)buf, len, &bad)) {
        st = dio_set_error(DIO_ERR_BAD_FORMAT, "safetensors index '%s': byte %zu is %s", path, bad,
                           buf[bad] ? "not valid UTF-8" : "NUL");
        goto fail;
    }
    root = cJSON_ParseWithLengthOpts(buf, len, &parse_end, 0);
    if (!root) {
        st = dio_set_error(DIO_ERR_BAD_FORMAT,
                           "safetensors index '%s' is not valid JSON (error near byte %zu)", path,
                           parse_end && parse_end >= buf ? (size_t)(parse_end - buf) : (size_t)0);
        goto fail;
    }
    for (const char *p = parse_end; p && p < buf + len; p++) {
        if (!st_is_json_space(*p)) {
            st = dio_set_error(DIO_ERR_BAD_FORMAT, "safetensors index '%s' has bytes after its JSON object",
                               path);
            goto fail;
        }
    }
    if (!cJSON_IsObject(root)) {
        st = dio_set_error(DIO_ERR_BAD_FORMAT, "safetensors index '%s' is a JSON %s, not an object", path,
                           st_json_kind(root));
        goto fail;
    }
    for (const cJSON *c = root->child; c; c = c->next) {
        if (strcmp(c->string, "weight_map") != 0) continue;
        if (wmap) {
            st = dio_set_error(DIO_ERR_BAD_FORMAT, "safetensors index '%s' has \"weight_map\" twice", path);
            goto fail;
        }
        wmap = c;
    }
    if (!wmap || !cJSON_IsObject(wmap) || !wmap->child) {
        st = dio_set_error(DIO_ERR_BAD_FORMAT,
                           "safetensors index '%s' has no non-empty \"weight_map\" object", path);
        goto fail;
    }
    for (const cJSON *c = wmap->child; c; c = c->next) n_map++;
    map = calloc(n_map, sizeof *map);
    shards = calloc(n_map, sizeof *shards);
    if (!map || !shards) {
        st = dio_set_error(DIO_ERR_OUT_OF_HOST_MEMORY, "safetensors index '%s': out of memory", path);
        goto fail;
    }
    n_map = 0;
    for (const cJSON *c = wmap->child; c; c = c->next, n_map++) {
        const char *why;
        if (!cJSON_IsString(c)) {
            st =
                dio_set_error(DIO_ERR_BAD_FORMAT,
                              "safetensors index '%s': weight_map entry " NM " is a JSON %s, not a file name",
                              path, c->string, st_json_kind(c));
            goto fail;
        }
        why = st_bad_relpath(c->valuestring);
        if (why) {
            st = dio_set_error(DIO_ERR_BAD_FORMAT,
                               "safetensors index '%s': tensor " NM " maps to shard " NM ", which %s", path,
                               c->string, c->valuestring, why);
            goto fail;
        }
        map[n_map].tensor = c->string;
        map[n_map].shard = c->valuestring;
        shards[n_map] = c->valuestring;
    }

    /* The distinct shards, opened in name order; the first one's metadata is the set's. */
    qsort(shards, n_map, sizeof *shards, st_cmp_str_ptr);
    for (size_t i = 0; i < n_map; i++)
        if (n_shards == 0 || strcmp(shards[n_shards - 1], shards[i]) != 0) shards[n_shards++] = shards[i];
    dir = st_dirname(path);
    if (!dir) {
        st = dio_set_error(DIO_ERR_OUT_OF_HOST_MEMORY, "safetensors index '%s': out of memory", path);
        goto fail;
    }
    for (size_t i = 0; i < n_shards; i++) {
        shard_path = st_join(dir, shards[i]);
        if (!shard_path) {
            st = dio_set_error(DIO_ERR_OUT_OF_HOST_MEMORY, "safetensors index '%s': out of memory", path);
            goto fail;
        }
        st = st_load_file(w, shard_path, i == 0, path);
        if (st != DIO_OK) goto fail;
        free(shard_path);
        shard_path = NULL;
    }
    st = st_finish(w);
    if (st != DIO_OK) goto fail;

    /* Every entry of the map is in the shard it names (file i was opened from shards[i]). */
    for (size_t i = 0; i < n_map; i++) {
        const st_tensor *t = st_lookup(w, map[i].tensor);
        const char **s = bsearch(&map[i].shard, shards, n_shards, sizeof *shards, st_cmp_str_ptr);
        if (!t) {
            st = dio_set_error(DIO_ERR_BAD_FORMAT,
                               "safetensors index '%s': tensor " NM " is mapped to shard " NM
                               ", which does not hold it",
                               path, map[i].tensor, map[i].shard);
            goto fail;
        }
        if (!s || t->file != (size_t)(s - shards)) {
            st = dio_set_error(DIO_ERR_BAD_FORMAT,
                               "safetensors index '%s': tensor " NM " is mapped to shard " NM
                               ", but it is in '%s'",
                               path, map[i].tensor, map[i].shard, w->files[t->file].path);
            goto fail;
        }
    }

    cJSON_Delete(root);
    free(buf);
    free(dir);
    free(map);
    free(shards);
    return DIO_OK;
fail:
    if (fd >= 0) close(fd);
    cJSON_Delete(root);
    free(buf);
    free(dir);
    free(shard_path);
    free(map);
    free(shards);
    return st;
}

/* ---- directories ---- */

typedef struct st_names {
    char **v;
    size_t n, cap;
} st_names;

static int st_names_push(st_names *l, const char *s)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        char **grown = realloc(l->v, cap * sizeof *grown);
        if (!grown) return 0;
        l->v = grown;
        l->cap = cap;
    }
    l->v[l->n] = st_strdup(s);
    if (!l->v[l->n]) return 0;
    l->n++;
    return 1;
}

static void st_names_free(st_names *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
}

/* "a, b, c" (at most 8 names, then ", ...") into buf. */
static const char *st_names_list(const st_names *l, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < l->n && used < size; i++) {
        if (i == 8) {
            snprintf(buf + used, size - used, ", ...");
            break;
        }
        used += (size_t)snprintf(buf + used, size - used, "%s'%.100s'", i ? ", " : "", l->v[i]);
    }
    return buf;
}

/* Picks the file a directory stands for: its one index, else its one .safetensors. */
static dio_status st_pick_in_dir(const char *dir, char **chosen, int *is_index)
{
    dio_status st = DIO_OK;
    DIR *d = NULL;
    st_names idx = {0}, files = {0};
    char *full = NULL;
    char list[1024];
    struct dirent *e;

    d = opendir(dir);
    if (!d) {
        st = dio_set_error(DIO_ERR_IO, "cannot read directory '%s': %s", dir, strerror(errno));
        goto fail;
    }
    while ((e = readdir(d)) != NULL) {
        st_names *into;
        struct stat sb;
        if (st_ends_with(e->d_name, ST_INDEX_SUFFIX))
            into = &idx;
        else if (st_ends_with(e->d_name, ST_FILE_SUFFIX))
            into = &files;
        else
            continue;
        full = st_join(dir, e->d_name);
        if (!full) goto oom;
        if (stat(full, &sb) == 0 && S_ISREG(sb.st_mode) && !st_names_push(into, e->d_name)) goto oom;
        free(full);
        full = NULL;
    }
    closedir(d);
    d = NULL;
    if (idx.n > 1) qsort(idx.v, idx.n, sizeof *idx.v, st_cmp_str_ptr);
    if (files.n > 1) qsort(files.v, files.n, sizeof *files.v, st_cmp_str_ptr);

    if (idx.n == 1 || (idx.n == 0 && files.n == 1)) {
        full = st_join(dir, idx.n ? idx.v[0] : files.v[0]);
        if (!full) goto oom;
        *is_index = idx.n == 1;
        *chosen = full;
        full = NULL;
    } else if (idx.n > 1) {
        st = dio_set_error(DIO_ERR_INVALID_ARGUMENT,
                           "directory '%s' holds %zu *" ST_INDEX_SUFFIX " files (%s); name one", dir, idx.n,
                           st_names_list(&idx, list, sizeof list));
        goto fail;
    } else if (files.n == 0) {
        st = dio_set_error(DIO_ERR_INVALID_ARGUMENT,
                           "directory '%s' holds no *" ST_FILE_SUFFIX " or *" ST_INDEX_SUFFIX " file", dir);
        goto fail;
    } else {
        st = dio_set_error(DIO_ERR_INVALID_ARGUMENT,
                           "directory '%s' holds %zu *" ST_FILE_SUFFIX " files and no index (%s); name one",
                           dir, files.n, st_names_list(&files, list, sizeof list));
        goto fail;
    }
    st_names_free(&idx);
    st_names_free(&files);
    return DIO_OK;
oom:
    st = dio_set_error(DIO_ERR_OUT_OF_HOST_MEMORY, "out of memory reading directory '%s'", dir);
fail:
    if (d) closedir(d);
    free(full);
    st_names_free(&idx);
    st_names_free(&files);
    return st;
}

/* ---- the weight source view ---- */

static dio_status st_src_find(void *ctx, const char *name, dio_weight_info *out)
{
    const st_tensor *t = st_lookup(ctx, name);
    if (!t) return DIO_ERR_INVALID_ARGUMENT; /* no message: callers probe alternate names */
    if (out) st_fill_info(t, out);
    return DIO_OK;
}

static int64_t st_src_count(void *ctx)
{
    return dio_weights_count(ctx);
}

static const char *st_src_name_at(void *ctx, int64_t index)
{
    const dio_weights *w = ctx;
    if (!w || index < 0 || (uint64_t)index >= w->n_tensors) return NULL;
    return w->tensors[index].name;
}

/* ---- public: reading ---- */

dio_status dio_weights_open(const char *path, dio_weights **out)
{
    dio_status st = DIO_OK;
    dio_weights *w = NULL;
    char *chosen = NULL;
    int is_index = 0;
    struct stat sb;

    if (!path || !out) {
        st = dio_set_error(DIO_ERR_INVALID_ARGUMENT, "dio_weights_open: path and out must not be NULL");
        goto fail;
    }
    if (stat(path, &sb) != 0) {
        st = dio_set_error(DIO_ERR_IO, "cannot open weights '%s': %s", path, strerror(errno));
        goto fail;
    }
    if (S_ISDIR(sb.st_mode)) {
        st = st_pick_in_dir(path, &chosen, &is_index);
        if (st != DIO_OK) goto fail;
    } else {
        chosen = st_strdup(path);
        if (!chosen) {
            st = dio_set_error(DIO_ERR_OUT_OF_HOST_MEMORY, "dio_weights_open: out of memory");
            goto fail;
        }
        is_index = st_ends_with(path, ".json");
    }
    w = calloc(1, sizeof *w);
    if (!w) {
        st = dio_set_error(DIO_ERR_OUT_OF_HOST_MEMORY, "dio_weights_open: out of memory");
        goto fail;
    }
    w->path = chosen;
    chosen = NULL;
    if (is_index) {
        st = st_load_index(w, w->path);
    } else {
        st = st_load_file(w, w->path, 1, NULL);
        if (st == DIO_OK) st = st_finish(w);
    }
    if (st != DIO_OK) goto fail;

    w->source.abi_version = DIO_ABI_VERSION;
    w->source.struct_size = (uint32_t)sizeof w->source;
    w->source.ctx = w;
    w->source.find = st_src_find;
    w->source.count = st_src_count;
    w->source.name_at = st_src_name_at;
    *out = w;
    return DIO_OK;
fail:
    st_weights_free(w);
    free(chosen);
    return st;
}

void dio_weights_close(dio_weights *weights)
{
    st_weights_free(weights);
}

int64_t dio_weights_count(const dio_weights *weights)
{
    return weights ? (int64_t)weights->n_tensors : 0;
}

dio_status dio_weights_at(const dio_weights *weights, int64_t index, const char **name, dio_weight_info *info)
{
    if (!weights) return dio_set_error(DIO_ERR_INVALID_ARGUMENT, "dio_weights_at: weights must not be NULL");
    if (index < 0 || (uint64_t)index >= weights->n_tensors)
        return dio_set_error(DIO_ERR_INVALID_ARGUMENT,
                             "dio_weights_at: index %" PRId64 " is outside [0, %zu) of '%s'", index,
                             weights->n_tensors, weights->path);
    if (name) *name = weights->tensors[index].name;
    if (info) st_fill_info(&weights->tensors[index], info);
    return DIO_OK;
}

dio_status dio_weights_find(const dio_weights *weights, const char *name, dio_weight_info *info)
{
    const st_tensor *t;
    if (!weights || !name)
        return dio_set_error(DIO_ERR_INVALID_ARGUMENT, "dio_weights_find: weights and name must not be NULL");
    t = st_lookup(weights, name);
    if (!t) return dio_set_error(DIO_ERR_INVALID_ARGUMENT, "no tensor " NM " in '%s'", name, weights->path);
    if (info) st_fill_info(t, info);
    return DIO_OK;
}

const char *dio_weights_metadata(const dio_weights *weights, const char *key)
{
    const st_meta *m;
    if (!weights || !key || weights->n_meta == 0) return NULL;
    m = bsearch(key, weights->meta, weights->n_meta, sizeof *weights->meta, st_key_cmp_meta);
    return m ? m->value : NULL;
}

const dio_weight_source *dio_weights_source(const dio_weights *weights)
{
    return weights ? &weights->source : NULL;
}

/* ---- public: writing ---- */

static int st_write_all(int fd, const void *data, uint64_t n)
{
    const unsigned char *p = data;
    while (n > 0) {
        size_t chunk = n > ((uint64_t)1 << 30) ? (size_t)1 << 30 : (size_t)n;
        ssize_t r = write(fd, p, chunk);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            if (r == 0) errno = EIO;
            return 0;
        }
        p += r;
        n -= (uint64_t)r;
    }
    return 1;
}

/* The temporary name beside `path`: "<path>.tmp-XXXXXX", or "<dir>/.dio-tmp-XXXXXX" when the file name
 * is too long to take the suffix. */
static char *st_temp_template(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    if (strlen(base) <= 200) {
        size_t n = strlen(path);
        char *t = malloc(n + sizeof ".tmp-XXXXXX");
        if (t) {
            memcpy(t, path, n);
            memcpy(t + n, ".tmp-XXXXXX", sizeof ".tmp-XXXXXX");
        }
        return t;
    }
    char *dir = st_dirname(path), *t = NULL;
    if (dir) t = st_join(dir, ".dio-tmp-XXXXXX");
    free(dir);
    return t;
}

static void st_fsync_dir_of(const char *path)
{
    char *dir = st_dirname(path);
    if (!dir) return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}

dio_status dio_safetensors_write(const char *path, const dio_named_tensor *tensors, size_t n,
                                 const dio_kv *metadata, size_t n_metadata)
{
    dio_status st = DIO_OK;
    const char **keys = NULL;
    uint64_t *sizes = NULL;
    cJSON *root = NULL;
    char *json = NULL, *tmp = NULL;
    unsigned char *head = NULL;
    int fd = -1, tmp_made = 0;
    uint64_t total = 0;
    char raw[192];

    if (!path || !path[0]) {
        st = dio_set_error(DIO_ERR_INVALID_ARGUMENT, "dio_safetensors_write: no path");
        goto fail;
    }
    if ((n && !tensors) || (n_metadata && !metadata)) {
        st = dio_set_error(DIO_ERR_INVALID_ARGUMENT,
                           "dio_safetensors_write '%s': NULL tensor or metadata array", path);
        goto fail;
    }

    /* Check everything before creating anything. */
    sizes = calloc(n ? n : 1, sizeof *sizes);
    keys = calloc((n > n_metadata ? n : n_metadata) + 1, sizeof *keys);
    if (!sizes || !keys) goto oom;
    for (size_t i = 0; i < n; i++) {
        const dio_named_tensor *t = &tensors[i];
        uint64_t numel = 1, esize;
        int has_zero = 0;
        if (!t->name) {
            st = dio_set_error(DIO_ERR_INVALID_ARGUMENT, "dio_safetensors_write '%s': tensor %zu has no name",
                               path, i);
            goto fail;
        }
        if (!dio_utf8_valid((const unsigned char *)t->name, strlen(t->name), NULL) ||
            strcmp(t->name, "__metadata__") == 0) {
            st = dio_set_error(DIO_ERR_INVALID_ARGUMENT,
                               "dio_safetensors_write '%s': tensor %zu's name " NM
                               " is not UTF-8 or is reserved",
                               path, i, t->name);
            goto fail;
        }
        esize = dio_dtype_size(t->dtype);
        if (esize == 0 || !st_dtype_to_name(t->dtype)) {
            st = dio_set_error(DIO_ERR_INVALID_ARGUMENT,
                               "dio_safetensors_write '%s': tensor " NM
                               " has dtype %d, which is not a diorama dtype",
                               path, t->name, (int)t->dtype);
            goto fail;
        }
        if (t->ndim < 0 || t->ndim > DIO_MAX_DIMS) {
            st = dio_set_error(DIO_ERR_INVALID_ARGUMENT,
                               "dio_safetensors_write '%s': tensor " NM " has ndim %d, outside 0..%d", path,
                               t->name, (int)t->ndim, DIO_MAX_DIMS);
            goto fail;
        }
        for (int32_t d = 0; d < t->ndim; d++) {
            if (t->shape[d] < 0 || (uint64_t)t->shape[d] >= ST_INT_LIMIT_U) {
                st = dio_set_error(DIO_ERR_INVALID_ARGUMENT,
                                   "dio_safetensors_write '%s': tensor " NM " has shape[%d] = %" PRId64, path,
                                   t->name, (int)d, t->shape[d]);
                goto fail;
            }
            if (t->shape[d] == 0) has_zero = 1;
        }
        if (has_zero) numel = 0;
        for (int32_t d = 0; d < t->ndim && !has_zero; d++) {
            uint64_t v = (uint64_t)t->shape[d];
            if (numel > UINT64_MAX / v)
                numel = UINT64_MAX;
            else
                numel *= v;
        }
        if (numel > (ST_INT_LIMIT_U - 1) / esize || total + numel * esize >= ST_INT_LIMIT_U) {
            st = dio_set_error(DIO_ERR_INVALID_ARGUMENT,
                               "dio_safetensors_write '%s': tensor " NM " makes the file too large", path,
                               t->name);
            goto fail;
        }
        sizes[i] = numel * esize;
        total += sizes[i];
        if (sizes[i] && !t->data) {
            st = dio_set_error(DIO_ERR_INVALID_ARGUMENT,
                               "dio_safetensors_write '%s': tensor " NM " has no data", path, t->name);
            goto fail;
        }
        keys[i] = t->name;
    }
    if (n > 1) qsort(keys, n, sizeof *keys, st_cmp_str_ptr);
    for (size_t i = 1; i < n; i++) {
        if (strcmp(keys[i - 1], keys[i]) == 0) {
            st = dio_set_error(DIO_ERR_INVALID_ARGUMENT,
                               "dio_safetensors_write '%s': tensor name " NM " appears twice", path, keys[i]);
            goto fail;
        }
    }
    for (size_t i = 0; i < n_metadata; i++) {
        const dio_kv *m = &metadata[i];
        if (!m->key || !m->value || !dio_utf8_valid((const unsigned char *)m->key, strlen(m->key), NULL) ||
            !dio_utf8_valid((const unsigned char *)m->value, strlen(m->value), NULL)) {
            st = dio_set_error(DIO_ERR_INVALID_ARGUMENT,
                               "dio_safetensors_write '%s': metadata entry %zu needs a UTF-8 key and value",
                               path, i);
            goto fail;
        }
        keys[i] = m->key;
    }
    if (n_metadata > 1) qsort(keys, n_metadata, sizeof *keys, st_cmp_str_ptr);
    for (size_t i = 1; i < n_metadata; i++) {
        if (strcmp(keys[i - 1], keys[i]) == 0) {
            st =
                dio_set_error(DIO_ERR_INVALID_ARGUMENT,
                              "dio_safetensors_write '%s': metadata key " NM " appears twice", path, keys[i]);
            goto fail;
        }
    }

    /* The header. Integers are written as raw JSON so they are exact. */
    root = cJSON_CreateObject();
    if (!root) goto oom;
    if (n_metadata) {
        cJSON *m = cJSON_AddObjectToObject(root, "__metadata__");
        if (!m) goto oom;
        for (size_t i = 0; i < n_metadata; i++)
            if (!cJSON_AddStringToObject(m, metadata[i].key, metadata[i].value)) goto oom;
    }
    {
        uint64_t offset = 0;
        for (size_t i = 0; i < n; i++) {
            const dio_named_tensor *t = &tensors[i];
            cJSON *e = cJSON_AddObjectToObject(root, t->name);
            if (!e || !cJSON_AddStringToObject(e, "dtype", st_dtype_to_name(t->dtype))) goto oom;
            size_t used = (size_t)snprintf(raw, sizeof raw, "[");
            for (int32_t d = 0; d < t->ndim; d++)
                used +=
                    (size_t)snprintf(raw + used, sizeof raw - used, "%s%" PRId64, d ? "," : "", t->shape[d]);
            snprintf(raw + used, sizeof raw - used, "]");
            if (!cJSON_AddRawToObject(e, "shape", raw)) goto oom;
            snprintf(raw, sizeof raw, "[%" PRIu64 ",%" PRIu64 "]", offset, offset + sizes[i]);
            if (!cJSON_AddRawToObject(e, "data_offsets", raw)) goto oom;
            offset += sizes[i];
        }
    }
    json = cJSON_PrintUnformatted(root);
    if (!json) goto oom;
    size_t jlen = strlen(json), hlen = (jlen + 7) & ~(size_t)7;
    head = malloc(8 + hlen);
    if (!head) goto oom;
    for (int i = 0; i < 8; i++) head[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    memcpy(head + 8, json, jlen);
    memset(head + 8 + jlen, ' ', hlen - jlen);

    /* The bytes, to a temporary file beside the target, then renamed over it. */
    tmp = st_temp_template(path);
    if (!tmp) goto oom;
    fd = mkstemp(tmp);
    if (fd < 0) {
        st =
            dio_set_error(DIO_ERR_IO, "dio_safetensors_write: cannot create a temporary file beside '%s': %s",
                          path, strerror(errno));
        goto fail;
    }
    tmp_made = 1;
    (void)fchmod(fd, 0644);
    if (!st_write_all(fd, head, 8 + hlen)) goto io;
    for (size_t i = 0; i < n; i++)
        if (sizes[i] && !st_write_all(fd, tensors[i].data, sizes[i])) goto io;
    if (fsync(fd) != 0) goto io;
    {
        int c = close(fd);
        fd = -1;
        if (c != 0) goto io;
    }
    if (rename(tmp, path) != 0) {
        st = dio_set_error(DIO_ERR_IO, "dio_safetensors_write: cannot rename '%s' to '%s': %s", tmp, path,
                           strerror(errno));
        goto fail;
    }
    tmp_made = 0;
    st_fsync_dir_of(path);

    cJSON_Delete(root);
    cJSON_free(json);
    free(head);
    free(tmp);
    free(keys);
    free(sizes);
    return DIO_OK;

io:
    st = dio_set_error(DIO_ERR_IO, "dio_safetensors_write: writing '%s' failed: %s", tmp, strerror(errno));
    goto fail;
oom:
    st = dio_set_error(DIO_ERR_OUT_OF_HOST_MEMORY, "dio_safetensors_write '%s': out of memory",
                       path ? path : "");
fail:
    if (fd >= 0) close(fd);
    if (tmp_made) unlink(tmp);
    cJSON_Delete(root);
    cJSON_free(json);
    free(head);
    free(tmp);
    free(keys);
    free(sizes);
    return st;
}

/* conformance — every op × activation dtype × backend against the float64 reference (ref_ops.c).
 *
 * For each accepted backend plugin of the registry (or --backend NAME) and each case of the table
 * below, the harness builds the tensors on the host as double values already rounded to their dtype
 * (so the reference sees exactly what the backend sees), lays every tensor out in its own backend
 * buffer — inputs behind a few NaN lead elements with NaN in every gap of a strided view, outputs
 * between guard bytes and pre-filled with NaN — asks supports_op, runs the op through the op table,
 * downloads every buffer and checks: inputs untouched, guard bytes and gaps untouched, no NaN/Inf where
 * the reference is finite, and the values within a per-dtype tolerance of the reference (exact for
 * the data-movement ops). NOT_SUPPORTED is reported ("not supported: <reason>"), never failed.
 * Negative cases (bad views, arity, shapes, unknown op) must return an error without crashing.
 *
 * Design choices: the oracle is ref_ops.c, written from ops.h and sharing nothing with any backend
 * (unlike ggml's test-backend-ops, whose oracle is its CPU backend). Inputs are fresh random values
 * each run: the seed comes from the clock and is printed; DIO_TEST_SEED=<n> reproduces a run, and each
 * case derives its own stream from the seed and its name so --op filtering keeps the values. The
 * tolerance is |got - ref| <= rtol · (|ref| + rms(ref)): relative, with an absolute floor at the
 * output's scale so cancellation near zero is judged against the magnitude of the result. rtol is
 * 1e-5 (f32), 2e-3 (f16), 1e-2 (bf16) of the output dtype, grown with sqrt of the reduction length.
 *
 * Usage: test_ops --plugin-dir DIR [--plugin-dir DIR2] [--backend NAME] [--op NAME] [--option k=v] [-v]
 * With --backend NAME and that backend reporting "no device", it prints SKIPPED and exits 77.
 * Exit status: 0 when nothing failed, 1 on any failure, 2 on a usage or setup error. */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "diorama/diorama.h"
#include "ref_ops.h"

#define GUARD_BYTES 64
#define LEAD_BYTES 16
#define INT_GAP (-7777777.0) /* what integer tensors hold outside their view */
#define COLS 4               /* matrix columns: f32, f16, bf16, other */
#define MAX_IN 8

static const int32_t act_dtypes[3] = {DIO_DTYPE_F32, DIO_DTYPE_F16, DIO_DTYPE_BF16};
static const char *const col_names[COLS] = {"f32", "f16", "bf16", "other"};

/* ---------------------------------------------------------------------------------------------- */
/* small utilities                                                                                */

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) {
        fprintf(stderr, "test_ops: out of host memory\n");
        exit(2);
    }
    return p;
}

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double rnd01(uint64_t *s)
{
    return (double)(splitmix64(s) >> 11) * 0x1.0p-53;
}

static double rnd_uniform(uint64_t *s, double lo, double hi)
{
    return lo + (hi - lo) * rnd01(s);
}

static int64_t rnd_int(uint64_t *s, int64_t n)
{
    return (int64_t)(splitmix64(s) % (uint64_t)n);
}

static uint64_t hash_str(uint64_t h, const char *str)
{
    for (; *str; str++) h = (h ^ (uint8_t)*str) * 0x100000001b3ull;
    return h;
}

static int is_float_dtype(int32_t dt)
{
    return dt == DIO_DTYPE_F32 || dt == DIO_DTYPE_F16 || dt == DIO_DTYPE_BF16 || dt == DIO_DTYPE_F8E4M3 ||
           dt == DIO_DTYPE_F8E5M2;
}

static int col_of(int32_t dt)
{
    for (int i = 0; i < 3; i++)
        if (act_dtypes[i] == dt) return i;
    return 3;
}

static uint8_t guard_byte(uint64_t i)
{
    return (uint8_t)(0xa5u ^ (uint8_t)(i * 29u));
}

static int fits(uint32_t struct_size, size_t offset, size_t size)
{
    return struct_size >= offset + size;
}

/* ---------------------------------------------------------------------------------------------- */
/* harness tensors: a storage (one backend buffer) and views into it                              */

typedef struct storage {
    int32_t dtype;
    int64_t n;      /* elements */
    uint64_t guard; /* guard bytes before and after the elements */
    double *val;    /* n host values, each already representable in dtype */
    uint8_t *image; /* the bytes uploaded */
    uint8_t *after; /* the bytes downloaded after the op */
    uint64_t bytes;
    int is_output;
    dio_buffer *buf;
    struct storage *next;
} storage;

typedef struct view {
    storage *s;
    int64_t first; /* element index of element 0 inside the storage */
    dio_tensor t;
    ref_tensor r;  /* the host values, same layout */
    int no_buffer; /* negative cases: hand the backend a tensor without a buffer */
    struct view *next;
} view;

enum { LAY_CONTIG, LAY_ROWPAD, LAY_STRIDED, LAY_FLIP };

typedef struct op_stats {
    int ok, fail, ns;
    double worst; /* the largest max rel err of the cases that passed */
} op_stats;

typedef struct runner {
    const char *be_name;
    dio_backend *be;
    dio_backend_ref ref;
    dio_stream *stream;
    uint64_t seed;
    const char *only_op;
    int verbose;
    op_stats st[DIO_OP_COUNT_1_0][COLS];
    int n_ok, n_fail, n_ns, neg_ok, neg_fail, probe_fail;
} runner;

typedef struct tcase {
    runner *R;
    int32_t op;
    int col;
    int32_t act;
    char name[200];
    uint64_t rng;
    storage *storages;
    view *views;
    const dio_tensor *in[MAX_IN];
    int n_in;
    view *out;
    const dio_tensor *outs[2];
    int n_out;
    const void *params;
    double *exp;
    ref_tensor exp_r;
    dio_status expect_status; /* DIO_OK, or the error the run must return */
    const char *expect_msg;   /* a substring the error message must contain */
    int negative;             /* a malformed call: supports_op and run must refuse it */
} tcase;

static double gap_value(int32_t dt)
{
    return is_float_dtype(dt) ? NAN : INT_GAP;
}

static storage *storage_new(tcase *c, int32_t dt, int64_t n, int is_output)
{
    storage *s = xcalloc(1, sizeof(*s));
    s->dtype = dt;
    s->n = n;
    s->is_output = is_output;
    s->guard = is_output ? GUARD_BYTES : 0;
    s->val = xcalloc((size_t)n, sizeof(double));
    for (int64_t i = 0; i < n; i++) s->val[i] = gap_value(dt);
    s->next = c->storages;
    c->storages = s;
    return s;
}

/* A view of `s` with explicit strides and element-0 index. */
static view *view_of(tcase *c, storage *s, int nd, const int64_t *shape, const int64_t *stride, int64_t first)
{
    view *v = xcalloc(1, sizeof(*v));
    size_t es = dio_dtype_size(s->dtype);
    v->s = s;
    v->first = first;
    v->t.struct_size = (uint32_t)sizeof(dio_tensor);
    v->t.dtype = s->dtype;
    v->t.ndim = nd;
    for (int i = 0; i < DIO_MAX_DIMS; i++) {
        v->t.shape[i] = i < nd ? shape[i] : 1;
        v->t.stride[i] = i < nd ? stride[i] : 0;
    }
    v->t.offset = s->guard + (uint64_t)first * es;
    v->r.data = s->val + first;
    v->r.ndim = nd;
    for (int i = 0; i < nd; i++) {
        v->r.shape[i] = shape[i];
        v->r.stride[i] = stride[i];
    }
    v->next = c->views;
    c->views = v;
    return v;
}

static void contiguous_strides(int nd, const int64_t *shape, int64_t *stride)
{
    int64_t s = 1;
    for (int i = nd - 1; i >= 0; i--) {
        stride[i] = s;
        s *= shape[i];
    }
}

static int64_t numel(int nd, const int64_t *shape)
{
    int64_t n = 1;
    for (int i = 0; i < nd; i++) n *= shape[i];
    return n;
}

static void fill_uniform(tcase *c, view *v, double lo, double hi);

/* A tensor in its own storage with the given strides; inputs get NaN lead elements and random values
 * in [-1, 1], outputs guard bytes and NaN. */
static view *tensor_strided(tcase *c, int32_t dt, int nd, const int64_t *shape, const int64_t *stride,
                            int is_output)
{
    int64_t lo = 0, hi = 0, lead = 0, first;
    storage *s;
    view *v;
    for (int i = 0; i < nd; i++) {
        if (shape[i] <= 0) continue;
        if (stride[i] < 0)
            lo += (shape[i] - 1) * stride[i];
        else
            hi += (shape[i] - 1) * stride[i];
    }
    if (!is_output) lead = LEAD_BYTES / (int64_t)dio_dtype_size(dt);
    first = lead - lo;
    s = storage_new(c, dt, lead + hi - lo + 1, is_output);
    v = view_of(c, s, nd, shape, stride, first);
    if (!is_output) fill_uniform(c, v, -1.0, 1.0);
    return v;
}

static view *tensor_layout(tcase *c, int32_t dt, int layout, int nd, const int64_t *shape, int is_output)
{
    int64_t stride[DIO_MAX_DIMS];
    contiguous_strides(nd, shape, stride);
    if (nd >= 1) {
        switch (layout) {
        case LAY_ROWPAD: /* last dim contiguous; every other dim padded */
            for (int i = nd - 2; i >= 0; i--)
                stride[i] = stride[i + 1] * shape[i + 1] + (i == nd - 2 ? 3 : 5);
            break;
        case LAY_STRIDED: /* even the last dim strided */
            stride[nd - 1] = 2;
            for (int i = nd - 2; i >= 0; i--) stride[i] = stride[i + 1] * shape[i + 1] + 1;
            break;
        case LAY_FLIP: stride[nd - 1] = -1; break;
        default: break;
        }
    }
    return tensor_strided(c, dt, nd, shape, stride, is_output);
}

/* View dim i is dim perm[i] of a contiguous storage: the storage shape is the view shape un-permuted. */
static view *tensor_perm(tcase *c, int32_t dt, const int *perm, int nd, const int64_t *shape, int is_output)
{
    int64_t sshape[DIO_MAX_DIMS] = {0}, sstride[DIO_MAX_DIMS], stride[DIO_MAX_DIMS];
    for (int i = 0; i < nd; i++) sshape[perm[i]] = shape[i];
    contiguous_strides(nd, sshape, sstride);
    for (int i = 0; i < nd; i++) stride[i] = sstride[perm[i]];
    return tensor_strided(c, dt, nd, shape, stride, is_output);
}

#define SH(...)                                                                                              \
    (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (const int64_t[])                             \
    {                                                                                                        \
        __VA_ARGS__                                                                                          \
    }
#define IN(dt, ...) tensor_layout(c, dt, LAY_CONTIG, SH(__VA_ARGS__), 0)
#define OUT(dt, ...) tensor_layout(c, dt, LAY_CONTIG, SH(__VA_ARGS__), 1)

/* Iterates the elements of a view: off is the element offset from element 0. */
#define FOR_EACH_ELEM(v, idx, off)                                                                           \
    for (int64_t idx[DIO_MAX_DIMS] = {0}, off = 0, more_ = numel((v)->r.ndim, (v)->r.shape) > 0;             \
         more_ && ((off = ref_offset(&(v)->r, idx)), 1);                                                     \
         more_ = ref_next_index(idx, (v)->r.shape, (v)->r.ndim))

static void vset(view *v, int64_t off, double x)
{
    v->r.data[off] = ref_round(x, v->s->dtype);
}

static void fill_uniform(tcase *c, view *v, double lo, double hi)
{
    FOR_EACH_ELEM(v, idx, off) vset(v, off, rnd_uniform(&c->rng, lo, hi));
}

/* ---------------------------------------------------------------------------------------------- */
/* case lifecycle                                                                                 */

/* Starts a case; 0 when filtered out by --op. */
static int case_begin(tcase *c, runner *R, int32_t op, int32_t act, const char *fmt, ...)
{
    va_list ap;
    memset(c, 0, sizeof(*c));
    c->R = R;
    c->op = op;
    c->act = act;
    c->col = col_of(act);
    va_start(ap, fmt);
    vsnprintf(c->name, sizeof(c->name), fmt, ap);
    va_end(ap);
    if (R->only_op && strcmp(R->only_op, dio_op_name(op)) != 0) return 0;
    c->rng = hash_str(hash_str(R->seed ^ 0xcbf29ce484222325ull, dio_op_name(op)), c->name) + (uint64_t)act;
    c->expect_status = DIO_OK;
    return 1;
}

/* Names the call's tensors and makes the expected-output array (holding the output's old values). */
static void case_call(tcase *c, view *const *ins, int n_in, view *out, const void *params)
{
    c->n_in = n_in;
    for (int i = 0; i < n_in; i++) c->in[i] = ins[i] ? &ins[i]->t : NULL;
    c->out = out;
    c->n_out = out ? 1 : 0;
    c->outs[0] = out ? &out->t : NULL;
    c->params = params;
    if (out) {
        int64_t n = numel(out->r.ndim, out->r.shape), k = 0;
        c->exp = xcalloc((size_t)n, sizeof(double));
        c->exp_r.data = c->exp;
        c->exp_r.ndim = out->r.ndim;
        memcpy(c->exp_r.shape, out->r.shape, sizeof(c->exp_r.shape));
        contiguous_strides(out->r.ndim, out->r.shape, c->exp_r.stride);
        FOR_EACH_ELEM(out, idx, off)
        { /* a negative case's view may reach outside its storage */
            int64_t e = out->first + off;
            c->exp[k++] = e >= 0 && e < out->s->n ? out->r.data[off] : NAN;
        }
    }
}

static void case_free(tcase *c)
{
    const dio_backend_iface *ifc = c->R->ref.iface;
    while (c->storages) {
        storage *s = c->storages;
        c->storages = s->next;
        if (s->buf) ifc->buffer_free(c->R->ref.ctx, s->buf);
        free(s->val);
        free(s->image);
        free(s->after);
        free(s);
    }
    while (c->views) {
        view *v = c->views;
        c->views = v->next;
        free(v);
    }
    free(c->exp);
    c->exp = NULL;
}

static void record(tcase *c, int result) /* 0 ok, 1 fail, 2 n/s */
{
    runner *R = c->R;
    if (c->negative) {
        if (result == 1)
            R->neg_fail++;
        else
            R->neg_ok++;
        return;
    }
    op_stats *st = &R->st[c->op][c->col];
    if (result == 0)
        st->ok++, R->n_ok++;
    else if (result == 1)
        st->fail++, R->n_fail++;
    else
        st->ns++, R->n_ns++;
}

static const char *dt_tag(const tcase *c)
{
    return dio_dtype_name(c->act);
}

static void fail_line(tcase *c, const char *fmt, ...)
{
    va_list ap;
    printf("FAIL %s[%s] %s: ", dio_op_name(c->op), dt_tag(c), c->name);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
}

static const char *idx_str(const int64_t *idx, int nd, char *buf, size_t n)
{
    size_t at = 0;
    at += (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < nd && at < n; i++)
        at += (size_t)snprintf(buf + at, n - at, i ? ",%" PRId64 : "%" PRId64, idx[i]);
    if (at < n) snprintf(buf + at, n - at, "]");
    return buf;
}

static double rtol_for(int32_t dt, int64_t red)
{
    double base = dt == DIO_DTYPE_F32 ? 1e-5 : dt == DIO_DTYPE_F16 ? 2e-3 : 1e-2;
    double grow = sqrt((double)(red > 0 ? red : 1) / 64.0);
    return base * (grow > 1.0 ? grow : 1.0);
}

/* Uploads, asks supports_op, runs, downloads and checks. `red` is the reduction length (tolerance
 * growth); exact != 0 compares bit-for-bit after rounding the reference to the output dtype. */
static void case_finish(tcase *c, int exact, int64_t red)
{
    runner *R = c->R;
    const dio_backend_iface *ifc = R->ref.iface;
    void *ctx = R->ref.ctx;
    dio_op_call call;
    dio_status st;
    char msg[512];
    int failed = 0;

    /* Images and buffers. */
    for (storage *s = c->storages; s; s = s->next) {
        size_t es = dio_dtype_size(s->dtype);
        s->bytes = 2 * s->guard + (uint64_t)s->n * es;
        s->image = xcalloc((size_t)s->bytes, 1);
        s->after = xcalloc((size_t)s->bytes, 1);
        for (uint64_t i = 0; i < s->guard; i++) {
            s->image[i] = guard_byte(i);
            s->image[s->bytes - 1 - i] = guard_byte(i + 7);
        }
        for (int64_t e = 0; e < s->n; e++)
            ref_encode(s->val[e], s->dtype, s->image + s->guard + (uint64_t)e * es);
        st = ifc->buffer_alloc(ctx, R->ref.device, s->bytes, &s->buf);
        if (st == DIO_OK) st = ifc->buffer_upload(ctx, R->stream, s->buf, 0, s->image, s->bytes);
        if (st != DIO_OK) {
            fail_line(c, "buffer_alloc/upload of %" PRIu64 " bytes: %s: %s", s->bytes, dio_status_name(st),
                      dio_last_error());
            record(c, 1);
            goto done;
        }
    }
    for (view *v = c->views; v; v = v->next) v->t.buffer = v->no_buffer ? NULL : v->s->buf;
    if ((st = ifc->stream_sync(ctx, R->stream)) != DIO_OK) {
        fail_line(c, "stream_sync after upload: %s", dio_status_name(st));
        record(c, 1);
        goto done;
    }

    memset(&call, 0, sizeof(call));
    call.struct_size = (uint32_t)sizeof(call);
    call.op = c->op;
    call.n_inputs = c->n_in;
    call.n_outputs = c->n_out;
    call.inputs = c->in;
    call.outputs = c->outs;
    call.params = c->params;

    dio_clear_error();
    st = ifc->supports_op(ctx, &call);
    snprintf(msg, sizeof(msg), "%s", dio_last_error());
    if (c->negative) {
        dio_status st2;
        if (st == DIO_OK) {
            fail_line(c, "supports_op accepted a malformed call");
            failed = 1;
        } else if (c->expect_status != DIO_OK && st != c->expect_status) {
            fail_line(c, "supports_op returned %s, expected %s", dio_status_name(st),
                      dio_status_name(c->expect_status));
            failed = 1;
        }
        dio_clear_error();
        st2 = dio_backend_run_op(&R->ref, R->stream, &call);
        ifc->stream_sync(ctx, R->stream);
        if (c->expect_status != DIO_OK ? st2 != c->expect_status
                                       : st2 != DIO_ERR_INVALID_ARGUMENT && st2 != DIO_ERR_NOT_SUPPORTED) {
            fail_line(c, "run returned %s, expected %s", dio_status_name(st2),
                      c->expect_status != DIO_OK ? dio_status_name(c->expect_status)
                                                 : "INVALID_ARGUMENT or NOT_SUPPORTED");
            failed = 1;
        } else if (R->verbose) {
            printf("ok   negative %s: supports_op %s (%s), run %s\n", c->name, dio_status_name(st), msg,
                   dio_status_name(st2));
        }
    } else {
        if (st == DIO_ERR_NOT_SUPPORTED) {
            printf("n/s  %s[%s] %s: not supported: %s\n", dio_op_name(c->op), dt_tag(c), c->name, msg);
            record(c, 2);
            goto done;
        }
        if (st != DIO_OK) {
            fail_line(c, "supports_op returned %s: %s", dio_status_name(st), msg);
            record(c, 1);
            goto done;
        }
        dio_clear_error();
        st = dio_backend_run_op(&R->ref, R->stream, &call);
        snprintf(msg, sizeof(msg), "%s", dio_last_error());
        if (st == DIO_OK)
            st = ifc->stream_sync(ctx, R->stream);
        else
            ifc->stream_sync(ctx, R->stream);
        if (st != c->expect_status) {
            fail_line(c, "run returned %s (%s), expected %s", dio_status_name(st), msg,
                      dio_status_name(c->expect_status));
            failed = 1;
        } else if (st != DIO_OK && c->expect_msg && !strstr(msg, c->expect_msg)) {
            fail_line(c, "error message \"%s\" does not name \"%s\"", msg, c->expect_msg);
            failed = 1;
        }
    }

    /* Download every buffer and check bytes outside the output view. */
    for (storage *s = c->storages; s; s = s->next) {
        if ((st = ifc->buffer_download(ctx, R->stream, s->buf, 0, s->after, s->bytes)) != DIO_OK) {
            fail_line(c, "buffer_download: %s", dio_status_name(st));
            record(c, 1);
            goto done;
        }
    }
    ifc->stream_sync(ctx, R->stream);
    for (storage *s = c->storages; s; s = s->next) {
        uint8_t *covered = NULL;
        size_t es = dio_dtype_size(s->dtype);
        if (c->out && c->out->s == s) {
            covered = xcalloc((size_t)s->bytes, 1);
            FOR_EACH_ELEM(c->out, idx, off)
            {
                int64_t e = c->out->first + off;
                if (e < 0 || e >= s->n) continue; /* a negative case's view may reach outside */
                memset(covered + s->guard + (uint64_t)e * es, 1, es);
            }
        }
        for (uint64_t i = 0; i < s->bytes; i++) {
            if (covered && covered[i]) continue;
            if (s->image[i] != s->after[i]) {
                const char *where = i < s->guard               ? "the guard bytes before"
                                    : i >= s->bytes - s->guard ? "the guard bytes after"
                                                               : "a gap of";
                if (covered)
                    fail_line(c,
                              "wrote outside its output view: byte %" PRIu64
                              " in %s the output (0x%02x -> 0x%02x)",
                              i, where, s->image[i], s->after[i]);
                else
                    fail_line(c, "modified an input buffer (byte %" PRIu64 ", 0x%02x -> 0x%02x)", i,
                              s->image[i], s->after[i]);
                failed = 1;
                break;
            }
        }
        free(covered);
    }

    /* Values. */
    if (!c->negative && c->expect_status == DIO_OK && c->out && !failed) {
        view *o = c->out;
        int32_t odt = o->s->dtype;
        size_t es = dio_dtype_size(odt);
        double rtol = rtol_for(odt, red), sum2 = 0.0, max_abs = 0.0, max_rel = 0.0;
        int64_t n = numel(o->r.ndim, o->r.shape), n_fin = 0, n_bad = 0, k;
        for (k = 0; k < n; k++) {
            if (exact) c->exp[k] = ref_round(c->exp[k], odt);
            if (isfinite(c->exp[k])) sum2 += c->exp[k] * c->exp[k], n_fin++;
        }
        double rms = n_fin ? sqrt(sum2 / (double)n_fin) : 0.0;
        k = 0;
        FOR_EACH_ELEM(o, idx, off)
        {
            double want = c->exp[k++];
            double got = ref_decode(o->s->after + o->s->guard + (uint64_t)(o->first + off) * es, odt);
            const char *why = NULL;
            double err = 0.0, bound = 0.0;
            if (isnan(want)) {
                if (!isnan(got)) why = "expected NaN";
            } else if (isinf(want)) {
                if (got != want) why = "expected an infinity";
            } else if (!isfinite(got)) {
                why = isnan(got) ? "NaN where the reference is finite" : "Inf where the reference is finite";
            } else {
                err = fabs(got - want);
                bound = exact ? 0.0 : rtol * (fabs(want) + rms);
                if (err > max_abs) max_abs = err;
                if (err > 0 && err / (fabs(want) + rms) > max_rel) max_rel = err / (fabs(want) + rms);
                if (err > bound) why = exact ? "not exact" : "out of tolerance";
            }
            if (why) {
                char ib[96];
                if (n_bad < 3)
                    fail_line(c, "%s at %s: got %.9g, want %.9g (|err| %.3g, bound %.3g)", why,
                              idx_str(idx, o->r.ndim, ib, sizeof(ib)), got, want, err, bound);
                n_bad++;
            }
        }
        if (n_bad) {
            fail_line(c,
                      "%" PRId64 " of %" PRId64
                      " elements wrong; max abs err %.3g, max rel err %.3g (rtol %.3g)",
                      n_bad, n, max_abs, max_rel, rtol);
            failed = 1;
        } else {
            if (max_rel > R->st[c->op][c->col].worst) R->st[c->op][c->col].worst = max_rel;
            if (R->verbose)
                printf("ok   %s[%s] %s: max abs err %.3g, max rel err %.3g (rtol %.3g)\n", dio_op_name(c->op),
                       dt_tag(c), c->name, max_abs, max_rel, exact ? 0.0 : rtol);
        }
    } else if (!c->negative && !failed && R->verbose) {
        printf("ok   %s[%s] %s: refused with %s as expected: %s\n", dio_op_name(c->op), dt_tag(c), c->name,
               dio_status_name(c->expect_status), msg);
    }
    record(c, failed ? 1 : 0);
done:
    case_free(c);
}

/* ---------------------------------------------------------------------------------------------- */
/* cases                                                                                          */

#define W_ACT (-1)      /* weight dtype: the activation dtype */
#define LAY_T 100       /* 2-D transposed view (perm {1, 0}) */
#define LAY_PERM_BM 101 /* [B, M, K] seen from a [M, B, K] storage (perm {1, 0, 2}) */
#define LAY_BLHD 102    /* [B, H, L, D] seen from a [B, L, H, D] storage (perm {0, 2, 1, 3}) */

/* A tensor in any of the layouts above. */
static view *tensor_any(tcase *c, int32_t dt, int layout, int nd, const int64_t *shape, int is_output)
{
    static const int p_t[2] = {1, 0}, p_bm[3] = {1, 0, 2}, p_blhd[4] = {0, 2, 1, 3};
    if (layout == LAY_T) return tensor_perm(c, dt, p_t, nd, shape, is_output);
    if (layout == LAY_PERM_BM) return tensor_perm(c, dt, p_bm, nd, shape, is_output);
    if (layout == LAY_BLHD) return tensor_perm(c, dt, p_blhd, nd, shape, is_output);
    return tensor_layout(c, dt, layout, nd, shape, is_output);
}

/* A weight dtype code: 0 absent, 1 activation dtype, else the dtype + 2. */
#define WD(dt) ((dt) + 2)
static int32_t wdtype(int code, int32_t act)
{
    return code == 1 ? act : code - 2;
}

/* ---- MATMUL ---- */

typedef struct mm_spec {
    const char *tag;
    int nbatch;
    int64_t batch[3];
    int64_t M, K, N;
    int ta, tb, bias, bbatch;
    int32_t wdt;
    float alpha, beta;
    int a_lay, c_lay;
    uint32_t psize;
} mm_spec;

static void t_matmul(runner *R)
{
    /* clang-format off: one case per line reads as a table */
    static const mm_spec specs[] = {
        {"plain", 0, {0}, 67, 129, 33, 0, 0, 0, 0, W_ACT, 1.0f, 0.0f, 0, 0, 0},
        {"trans_b bias", 0, {0}, 67, 129, 65, 0, 1, 1, 0, W_ACT, 1.0f, 0.0f, 0, 0, 0},
        {"trans_a", 0, {0}, 67, 129, 31, 1, 0, 0, 0, W_ACT, 1.0f, 0.0f, 0, 0, 0},
        {"trans_a trans_b bias alpha beta", 0, {0}, 33, 67, 40, 1, 1, 1, 0, W_ACT, 0.5f, 0.75f, 0, 0, 0},
        {"batched A broadcast B bias", 2, {2, 3}, 17, 40, 24, 0, 0, 1, 0, W_ACT, 1.0f, 0.0f, 0, 0, 0},
        {"batched B", 1, {3}, 33, 20, 19, 0, 0, 0, 1, W_ACT, 1.0f, 0.0f, 0, 0, 0},
        {"batched B trans_a trans_b", 1, {3}, 33, 20, 19, 1, 1, 0, 1, W_ACT, 1.0f, 0.0f, 0, 0, 0},
        {"linear w=f32", 0, {0}, 67, 129, 40, 0, 1, 1, 0, DIO_DTYPE_F32, 1.0f, 0.0f, 0, 0, 0},
        {"linear w=f16", 0, {0}, 67, 129, 40, 0, 1, 1, 0, DIO_DTYPE_F16, 1.0f, 0.0f, 0, 0, 0},
        {"linear w=bf16", 0, {0}, 67, 129, 40, 0, 1, 1, 0, DIO_DTYPE_BF16, 1.0f, 0.0f, 0, 0, 0},
        {"linear w=f8e4m3 alpha", 0, {0}, 67, 129, 40, 0, 1, 1, 0, DIO_DTYPE_F8E4M3, 0.0625f, 0.0f, 0, 0, 0},
        {"linear w=f8e5m2 alpha", 0, {0}, 67, 129, 40, 0, 1, 1, 0, DIO_DTYPE_F8E5M2, 0.0625f, 0.0f, 0, 0, 0},
        {"w=f8e4m3 [K,N] batched A", 1, {2}, 33, 64, 48, 0, 0, 0, 0, DIO_DTYPE_F8E4M3, 0.125f, 0.0f, 0, 0, 0},
        {"w=bf16 [K,N] beta", 0, {0}, 33, 64, 48, 0, 0, 1, 0, DIO_DTYPE_BF16, 1.0f, 1.0f, 0, 0, 0},
        {"strided rows A, C beta",
         1,
         {2},
         67,
         33,
         29,
         0,
         1,
         1,
         0,
         W_ACT,
         1.0f,
         0.5f,
         LAY_ROWPAD,
         LAY_ROWPAD,
         0},
        {"A, C views of [M,B,K]",
         1,
         {3},
         67,
         32,
         24,
         0,
         1,
         1,
         0,
         W_ACT,
         1.0f,
         0.0f,
         LAY_PERM_BM,
         LAY_PERM_BM,
         0},
        {"gemv", 0, {0}, 1, 300, 129, 0, 1, 1, 0, W_ACT, 1.0f, 0.0f, 0, 0, 0},
        {"long K", 0, {0}, 5, 1000, 67, 0, 0, 0, 0, W_ACT, 1.0f, 0.0f, 0, 0, 0},
        {"beta=1 residual", 0, {0}, 67, 64, 48, 0, 1, 0, 0, W_ACT, 1.0f, 1.0f, 0, 0, 0},
        {"short params (no alpha/beta)",
         0,
         {0},
         20,
         67,
         33,
         0,
         1,
         0,
         0,
         W_ACT,
         3.0f,
         NAN,
         0,
         0,
         (uint32_t)offsetof(dio_matmul_params, alpha)},
    };
    /* clang-format on */
    for (int a = 0; a < 3; a++)
        for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
            const mm_spec *sp = &specs[i];
            int32_t act = act_dtypes[a], wdt = sp->wdt == W_ACT ? act : sp->wdt;
            int64_t ash[DIO_MAX_DIMS], bsh[DIO_MAX_DIMS], csh[DIO_MAX_DIMS];
            int na = sp->nbatch + 2, nb = sp->bbatch ? na : 2, n_in;
            view *A, *B, *bias = NULL, *C, *ins[3];
            dio_matmul_params p;
            tcase cs, *c = &cs;
            if (!case_begin(c, R, DIO_OP_MATMUL, act, "%s M=%" PRId64 " K=%" PRId64 " N=%" PRId64 " w=%s",
                            sp->tag, sp->M, sp->K, sp->N, dio_dtype_name(wdt)))
                continue;
            for (int d = 0; d < sp->nbatch; d++) ash[d] = bsh[d] = csh[d] = sp->batch[d];
            ash[na - 2] = sp->ta ? sp->K : sp->M;
            ash[na - 1] = sp->ta ? sp->M : sp->K;
            bsh[nb - 2] = sp->tb ? sp->N : sp->K;
            bsh[nb - 1] = sp->tb ? sp->K : sp->N;
            csh[na - 2] = sp->M;
            csh[na - 1] = sp->N;
            A = tensor_any(c, act, sp->a_lay, na, ash, 0);
            B = tensor_any(c, wdt, LAY_CONTIG, nb, bsh, 0);
            if (wdt == DIO_DTYPE_F8E4M3 || wdt == DIO_DTYPE_F8E5M2) fill_uniform(c, B, -4.0, 4.0);
            if (sp->bias) bias = IN(act, sp->N);
            C = tensor_any(c, act, sp->c_lay, na, csh, 1);
            memset(&p, 0, sizeof(p));
            p.struct_size = sp->psize ? sp->psize : (uint32_t)sizeof(p);
            p.trans_a = sp->ta;
            p.trans_b = sp->tb;
            p.alpha = sp->alpha;
            p.beta = sp->beta;
            {
                double alpha = fits(p.struct_size, offsetof(dio_matmul_params, alpha), 4) ? p.alpha : 1.0;
                double beta = fits(p.struct_size, offsetof(dio_matmul_params, beta), 4) ? p.beta : 0.0;
                if (beta != 0.0) fill_uniform(c, C, -1.0, 1.0);
                ins[0] = A, ins[1] = B, ins[2] = bias;
                n_in = sp->bias || sp->ta ? 3 : 2; /* sometimes an explicit NULL bias slot */
                case_call(c, ins, n_in, C, &p);
                ref_matmul(&A->r, &B->r, bias ? &bias->r : NULL, &c->exp_r, sp->ta, sp->tb, alpha, beta);
            }
            case_finish(c, 0, sp->K);
        }
}

/* ---- ATTENTION ---- */

typedef struct at_spec {
    const char *tag;
    int64_t B, Hq, Hkv, Lq, Lk, D, Dv;
    float scale;
    int causal;
    int mask;   /* 0 none, 1 [Lq, Lk], 2 [B, 1, Lq, Lk], 3 [B, Hq, Lq, Lk] */
    int layout; /* 0 contiguous, 1 views of [B, L, H, D], 2 Q/K/V views of one [B, L, 3, H, D] */
    uint32_t psize;
} at_spec;

static void t_attention(runner *R)
{
    /* clang-format off: one case per line reads as a table */
    static const at_spec specs[] = {
        {"default scale", 1, 2, 2, 67, 67, 64, 64, 0.0f, 0, 0, 0, 0},
        {"GQA explicit scale", 2, 4, 2, 129, 129, 32, 32, 0.3f, 0, 0, 0, 0},
        {"MQA causal Lq<Lk", 1, 4, 1, 33, 300, 64, 64, 0.0f, 1, 0, 0, 0},
        {"causal Lq>Lk (empty rows)", 1, 2, 2, 67, 35, 32, 32, 0.0f, 1, 0, 0, 0},
        {"causal decode Lq=1", 2, 2, 1, 1, 300, 64, 64, 0.0f, 1, 0, 0, 0},
        {"mask [Lq,Lk] with -inf rows", 1, 2, 2, 37, 129, 32, 32, 0.0f, 0, 1, 0, 0},
        {"mask [B,1,Lq,Lk]", 2, 2, 2, 20, 67, 32, 32, 0.0f, 0, 2, 0, 0},
        {"mask [B,Hq,Lq,Lk] causal GQA", 2, 4, 2, 33, 67, 32, 32, 0.0f, 1, 3, 0, 0},
        {"[B,L,H,D] views", 2, 2, 2, 67, 67, 64, 64, 0.0f, 0, 0, 1, 0},
        {"[B,L,H,D] views GQA causal", 1, 4, 2, 40, 70, 32, 32, 0.0f, 1, 0, 1, 0},
        {"fused qkv [B,L,3,H,D] causal", 2, 3, 3, 40, 40, 64, 64, 0.0f, 1, 0, 2, 0},
        {"Dv!=D", 1, 2, 1, 50, 70, 32, 48, 0.0f, 0, 0, 0, 0},
        {"D=128 long Lk", 1, 2, 2, 40, 300, 128, 128, 0.0f, 0, 0, 0, 0},
        {"D=40", 1, 2, 2, 17, 129, 40, 40, 0.0f, 0, 0, 0, 0},
        {"short params (scale only)", 1, 2, 2, 33, 33, 32, 32, 0.2f, 1, 0, 0,
         (uint32_t)offsetof(dio_attention_params, causal)},
    };
    /* clang-format on */
    for (int a = 0; a < 3; a++)
        for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
            const at_spec *sp = &specs[i];
            int32_t act = act_dtypes[a];
            view *Q, *K, *V, *O, *M = NULL, *ins[4];
            dio_attention_params p;
            tcase cs, *c = &cs;
            if (!case_begin(c, R, DIO_OP_ATTENTION, act,
                            "%s B=%" PRId64 " Hq=%" PRId64 " Hkv=%" PRId64 " Lq=%" PRId64 " Lk=%" PRId64
                            " D=%" PRId64 " Dv=%" PRId64,
                            sp->tag, sp->B, sp->Hq, sp->Hkv, sp->Lq, sp->Lk, sp->D, sp->Dv))
                continue;
            if (sp->layout == 2) {
                /* One [B, L, 3, H, D] projection output; Q, K, V are [B, H, L, D] views into it. */
                int64_t H = sp->Hq, L = sp->Lq, D = sp->D;
                int64_t lead = LEAD_BYTES / (int64_t)dio_dtype_size(act);
                storage *s = storage_new(c, act, lead + sp->B * L * 3 * H * D, 0);
                int64_t sh[4] = {sp->B, H, L, D}, st[4] = {L * 3 * H * D, D, 3 * H * D, 1};
                Q = view_of(c, s, 4, sh, st, lead);
                K = view_of(c, s, 4, sh, st, lead + H * D);
                V = view_of(c, s, 4, sh, st, lead + 2 * H * D);
            } else {
                int lay = sp->layout == 1 ? LAY_BLHD : LAY_CONTIG;
                Q = tensor_any(c, act, lay, SH(sp->B, sp->Hq, sp->Lq, sp->D), 0);
                K = tensor_any(c, act, lay, SH(sp->B, sp->Hkv, sp->Lk, sp->D), 0);
                V = tensor_any(c, act, lay, SH(sp->B, sp->Hkv, sp->Lk, sp->Dv), 0);
            }
            fill_uniform(c, Q, -2.0, 2.0);
            fill_uniform(c, K, -2.0, 2.0);
            fill_uniform(c, V, -1.0, 1.0);
            O = tensor_any(c, act, sp->layout ? LAY_BLHD : LAY_CONTIG, SH(sp->B, sp->Hq, sp->Lq, sp->Dv), 1);
            if (sp->mask) {
                int64_t dead_row = sp->Lq > 5 ? 5 : sp->Lq - 1;
                if (sp->mask == 1)
                    M = IN(DIO_DTYPE_F32, sp->Lq, sp->Lk);
                else
                    M = IN(DIO_DTYPE_F32, sp->B, sp->mask == 2 ? 1 : sp->Hq, sp->Lq, sp->Lk);
                FOR_EACH_ELEM(M, idx, off)
                {
                    double r = rnd01(&c->rng);
                    vset(M, off, r < 0.15 ? -INFINITY : rnd_uniform(&c->rng, -3.0, 0.0));
                    if (idx[M->r.ndim - 2] == dead_row) vset(M, off, -INFINITY);
                }
            }
            memset(&p, 0, sizeof(p));
            p.struct_size = sp->psize ? sp->psize : (uint32_t)sizeof(p);
            p.scale = sp->scale;
            p.causal = sp->causal;
            ins[0] = Q, ins[1] = K, ins[2] = V, ins[3] = M;
            case_call(c, ins, sp->mask ? 4 : 3, O, &p);
            ref_attention(&Q->r, &K->r, &V->r, M ? &M->r : NULL, &c->exp_r, p.scale,
                          fits(p.struct_size, offsetof(dio_attention_params, causal), 4) ? p.causal : 0);
            case_finish(c, 0, sp->Lk > sp->D ? sp->Lk : sp->D);
        }
}

/* ---- LAYERNORM / RMSNORM ---- */

#define LAY_QVIEW 103 /* [B, L, H, D] seen inside a [B, L, 3, H, D] projection output (the Q part) */
#define LAY_P6 104    /* 6-D view of a storage permuted by {5, 3, 4, 0, 2, 1} (copy only) */

typedef struct nm_spec {
    const char *tag;
    int nd;
    int64_t shape[4];
    int w, b; /* 0 absent, 1 activation dtype, WD(dtype) */
    int n_in;
    int x_lay;
    float eps;
    uint32_t psize;
    double xlo, xhi;
} nm_spec;

static view *qview(tcase *c, int32_t dt, const int64_t *shape)
{
    int64_t B = shape[0], L = shape[1], H = shape[2], D = shape[3];
    int64_t lead = LEAD_BYTES / (int64_t)dio_dtype_size(dt);
    storage *s = storage_new(c, dt, lead + B * L * 3 * H * D, 0);
    int64_t st[4] = {L * 3 * H * D, 3 * H * D, D, 1};
    view *v = view_of(c, s, 4, shape, st, lead);
    fill_uniform(c, v, -1.0, 1.0);
    return v;
}

static void t_norm(runner *R, int32_t op)
{
    /* clang-format off: one case per line reads as a table */
    static const nm_spec ln[] = {
        {"weight bias", 3, {4, 67, 129}, 1, 1, 3, 0, 1e-5f, 0, -0.5, 1.5},
        {"no affine, 1 input", 2, {129, 67}, 0, 0, 1, 0, 1e-5f, 0, -0.5, 1.5},
        {"no affine, NULL slots", 2, {129, 67}, 0, 0, 3, 0, 1e-5f, 0, -0.5, 1.5},
        {"weight only, 2 inputs", 2, {33, 129}, 1, 0, 2, 0, 1e-5f, 0, -0.5, 1.5},
        {"bias only", 2, {33, 129}, 0, 1, 3, 0, 1e-5f, 0, -0.5, 1.5},
        {"weight bias f32", 2, {33, 67}, WD(DIO_DTYPE_F32), WD(DIO_DTYPE_F32), 3, 0, 1e-6f, 0, -0.5, 1.5},
        {"weight bias bf16", 2, {33, 67}, WD(DIO_DTYPE_BF16), WD(DIO_DTYPE_BF16), 3, 0, 1e-6f, 0, -0.5, 1.5},
        {"weight f16", 2, {33, 67}, WD(DIO_DTYPE_F16), 0, 2, 0, 1e-6f, 0, -0.5, 1.5},
        {"strided rows", 3, {3, 67, 129}, 1, 1, 3, LAY_ROWPAD, 1e-5f, 0, -0.5, 1.5},
        {"C=2048", 2, {5, 2048}, 1, 1, 3, 0, 1e-6f, 0, -0.5, 1.5},
        {"large eps", 2, {16, 64}, 1, 1, 3, 0, 1e-2f, 0, -0.05, 0.09},
        {"short params (default eps) tiny x", 2, {16, 64}, 1, 1, 3, 0, 0.5f, 4, -1e-3, 1e-3},
    };
    /* clang-format on */
    /* clang-format off: one case per line reads as a table */
    static const nm_spec rms[] = {
        {"weight", 3, {3, 67, 129}, 1, 0, 2, 0, 1e-6f, 0, -1.0, 1.0},
        {"no weight, 1 input", 2, {67, 129}, 0, 0, 1, 0, 1e-6f, 0, -1.0, 1.0},
        {"no weight, NULL slot", 2, {67, 129}, 0, 0, 2, 0, 1e-6f, 0, -1.0, 1.0},
        {"per-head [B,L,H,D] w[D]", 4, {2, 67, 4, 64}, 1, 0, 2, 0, 1e-6f, 0, -1.0, 1.0},
        {"per-head view of [B,L,3,H,D]", 4, {2, 67, 4, 64}, 1, 0, 2, LAY_QVIEW, 1e-6f, 0, -1.0, 1.0},
        {"weight f32", 2, {33, 67}, WD(DIO_DTYPE_F32), 0, 2, 0, 1e-6f, 0, -1.0, 1.0},
        {"weight bf16", 2, {33, 67}, WD(DIO_DTYPE_BF16), 0, 2, 0, 1e-6f, 0, -1.0, 1.0},
        {"strided rows", 3, {3, 67, 129}, 1, 0, 2, LAY_ROWPAD, 1e-6f, 0, -1.0, 1.0},
        {"C=2048", 2, {5, 2048}, 1, 0, 2, 0, 1e-6f, 0, -1.0, 1.0},
        {"large eps", 2, {16, 64}, 1, 0, 2, 0, 1e-2f, 0, -0.1, 0.1},
        {"short params (default eps) tiny x", 2, {16, 64}, 1, 0, 2, 0, 0.5f, 4, -1e-3, 1e-3},
    };
    /* clang-format on */
    const nm_spec *specs = op == DIO_OP_LAYERNORM ? ln : rms;
    size_t n = op == DIO_OP_LAYERNORM ? sizeof(ln) / sizeof(ln[0]) : sizeof(rms) / sizeof(rms[0]);
    for (int a = 0; a < 3; a++)
        for (size_t i = 0; i < n; i++) {
            const nm_spec *sp = &specs[i];
            int32_t act = act_dtypes[a];
            int64_t C = sp->shape[sp->nd - 1];
            view *x, *w = NULL, *b = NULL, *y, *ins[3];
            dio_norm_params p;
            double eps;
            tcase cs, *c = &cs;
            if (!case_begin(c, R, op, act, "%s C=%" PRId64, sp->tag, C)) continue;
            x = sp->x_lay == LAY_QVIEW ? qview(c, act, sp->shape)
                                       : tensor_any(c, act, sp->x_lay, sp->nd, sp->shape, 0);
            fill_uniform(c, x, sp->xlo, sp->xhi);
            if (sp->w) {
                w = IN(wdtype(sp->w, act), C);
                fill_uniform(c, w, -1.5, 1.5);
            }
            if (sp->b) b = IN(wdtype(sp->b, act), C);
            y = tensor_any(c, act, LAY_CONTIG, sp->nd, sp->shape, 1);
            memset(&p, 0, sizeof(p));
            p.struct_size = sp->psize ? sp->psize : (uint32_t)sizeof(p);
            p.eps = sp->eps;
            eps = fits(p.struct_size, offsetof(dio_norm_params, eps), 4) ? p.eps : 1e-6;
            ins[0] = x, ins[1] = w, ins[2] = b;
            case_call(c, ins, sp->n_in, y, &p);
            if (op == DIO_OP_LAYERNORM)
                ref_layernorm(&x->r, w ? &w->r : NULL, b ? &b->r : NULL, &c->exp_r, eps);
            else
                ref_rmsnorm(&x->r, w ? &w->r : NULL, &c->exp_r, eps);
            case_finish(c, 0, C);
        }
}

/* ---- ADALN_MODULATE / GATED_RESIDUAL ---- */

typedef struct md_spec {
    const char *tag;
    int64_t B, G, L, C;
    int rms;
    float eps;
    uint32_t psize;
    int inplace;
    double xlo, xhi;
} md_spec;

static void t_modulate(runner *R, int32_t op)
{
    /* clang-format off: one case per line reads as a table */
    static const md_spec ad[] = {
        {"G=1 layernorm", 2, 1, 129, 67, 0, 1e-6f, 0, 0, -1.0, 1.5},
        {"G=T=3 layernorm", 2, 3, 129, 67, 0, 1e-6f, 0, 0, -1.0, 1.5},
        {"G=1 rms", 2, 1, 129, 67, 1, 1e-6f, 0, 0, -1.0, 1.5},
        {"G=T=3 rms", 1, 3, 129, 128, 1, 1e-5f, 0, 0, -1.0, 1.5},
        {"G=L per-token", 1, 67, 67, 64, 0, 1e-6f, 0, 0, -1.0, 1.5},
        {"short params (eps only, layernorm default)", 2, 1, 33, 64, 1, 1e-3f,
         (uint32_t)offsetof(dio_adaln_params, rms), 0, -0.05, 0.05},
        {"short params (defaults) tiny x", 1, 1, 33, 64, 1, 0.5f, 4, 0, -1e-3, 1e-3},
    };
    /* clang-format on */
    /* clang-format off: one case per line reads as a table */
    static const md_spec gr[] = {
        {"G=1", 2, 1, 129, 67, 0, 0, 0, 0, -1, 1},
        {"G=T=3", 2, 3, 129, 67, 0, 0, 0, 0, -1, 1},
        {"G=T=3 in place", 2, 3, 129, 67, 0, 0, 0, 1, -1, 1},
        {"G=1 in place", 1, 1, 300, 128, 0, 0, 0, 1, -1, 1},
    };
    /* clang-format on */
    const md_spec *specs = op == DIO_OP_ADALN_MODULATE ? ad : gr;
    size_t n = op == DIO_OP_ADALN_MODULATE ? sizeof(ad) / sizeof(ad[0]) : sizeof(gr) / sizeof(gr[0]);
    for (int a = 0; a < 3; a++)
        for (size_t i = 0; i < n; i++) {
            const md_spec *sp = &specs[i];
            int32_t act = act_dtypes[a];
            view *x, *m1, *m2, *y, *ins[3];
            tcase cs, *c = &cs;
            if (!case_begin(c, R, op, act, "%s B=%" PRId64 " L=%" PRId64 " C=%" PRId64, sp->tag, sp->B, sp->L,
                            sp->C))
                continue;
            if (sp->inplace) {
                x = y = OUT(act, sp->B, sp->L, sp->C);
                fill_uniform(c, x, sp->xlo, sp->xhi);
            } else {
                x = IN(act, sp->B, sp->L, sp->C);
                fill_uniform(c, x, sp->xlo, sp->xhi);
                y = OUT(act, sp->B, sp->L, sp->C);
            }
            if (op == DIO_OP_ADALN_MODULATE) {
                dio_adaln_params p;
                m1 = IN(act, sp->B, sp->G, sp->C); /* shift */
                m2 = IN(act, sp->B, sp->G, sp->C); /* scale */
                memset(&p, 0, sizeof(p));
                p.struct_size = sp->psize ? sp->psize : (uint32_t)sizeof(p);
                p.eps = sp->eps;
                p.rms = sp->rms;
                ins[0] = x, ins[1] = m1, ins[2] = m2;
                case_call(c, ins, 3, y, &p);
                ref_adaln_modulate(&x->r, &m1->r, &m2->r, &c->exp_r,
                                   fits(p.struct_size, offsetof(dio_adaln_params, eps), 4) ? p.eps : 1e-6,
                                   fits(p.struct_size, offsetof(dio_adaln_params, rms), 4) ? p.rms : 0);
                case_finish(c, 0, sp->C);
            } else {
                m1 = IN(act, sp->B, sp->L, sp->C); /* r */
                m2 = IN(act, sp->B, sp->G, sp->C); /* gate */
                ins[0] = x, ins[1] = m1, ins[2] = m2;
                case_call(c, ins, 3, y, NULL);
                ref_gated_residual(&x->r, &m1->r, &m2->r, &c->exp_r);
                case_finish(c, 0, 1);
            }
        }
}

/* ---- ROPE ---- */

typedef struct rp_spec {
    const char *tag;
    int64_t B, L, H, D, R;
    int mode, inplace, x_lay;
    uint32_t psize;
} rp_spec;

static void t_rope(runner *R)
{
    /* clang-format off: one case per line reads as a table */
    static const rp_spec specs[] = {
        {"rotate-half R=D", 2, 67, 3, 64, 64, DIO_ROPE_ROTATE_HALF, 0, 0, 0},
        {"interleaved R=D", 2, 67, 3, 64, 64, DIO_ROPE_INTERLEAVED, 0, 0, 0},
        {"rotate-half R<D", 2, 67, 3, 64, 32, DIO_ROPE_ROTATE_HALF, 0, 0, 0},
        {"interleaved R<D", 2, 67, 3, 64, 48, DIO_ROPE_INTERLEAVED, 0, 0, 0},
        {"rotate-half in place", 1, 129, 2, 64, 64, DIO_ROPE_ROTATE_HALF, 1, 0, 0},
        {"interleaved R<D in place", 1, 129, 2, 64, 40, DIO_ROPE_INTERLEAVED, 1, 0, 0},
        {"D=128", 1, 129, 2, 128, 128, DIO_ROPE_ROTATE_HALF, 0, 0, 0},
        {"x view of [B,L,3,H,D]", 2, 33, 4, 64, 64, DIO_ROPE_ROTATE_HALF, 0, LAY_QVIEW, 0},
        {"short params (default rotate-half) R<D", 2, 33, 2, 64, 32, DIO_ROPE_INTERLEAVED, 0, 0, 4},
    };
    /* clang-format on */
    for (int a = 0; a < 3; a++)
        for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
            const rp_spec *sp = &specs[i];
            int32_t act = act_dtypes[a];
            view *x, *cs_t, *sn_t, *y, *ins[3];
            dio_rope_params p;
            tcase cs, *c = &cs;
            if (!case_begin(c, R, DIO_OP_ROPE, act,
                            "%s x[%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 "] R=%" PRId64, sp->tag,
                            sp->B, sp->L, sp->H, sp->D, sp->R))
                continue;
            if (sp->inplace) {
                x = y = OUT(act, sp->B, sp->L, sp->H, sp->D);
                fill_uniform(c, x, -1.0, 1.0);
            } else {
                int64_t sh[4] = {sp->B, sp->L, sp->H, sp->D};
                x = sp->x_lay == LAY_QVIEW ? qview(c, act, sh) : IN(act, sp->B, sp->L, sp->H, sp->D);
                y = OUT(act, sp->B, sp->L, sp->H, sp->D);
            }
            /* Random tables, not real angles: the contract holds for any table. */
            cs_t = IN(DIO_DTYPE_F32, sp->L, sp->R);
            sn_t = IN(DIO_DTYPE_F32, sp->L, sp->R);
            memset(&p, 0, sizeof(p));
            p.struct_size = sp->psize ? sp->psize : (uint32_t)sizeof(p);
            p.mode = sp->mode;
            ins[0] = x, ins[1] = cs_t, ins[2] = sn_t;
            case_call(c, ins, 3, y, &p);
            ref_rope(&x->r, &cs_t->r, &sn_t->r, &c->exp_r,
                     fits(p.struct_size, offsetof(dio_rope_params, mode), 4) ? p.mode : DIO_ROPE_ROTATE_HALF);
            case_finish(c, 0, 2);
        }
}

/* ---- GELU / SILU / SWIGLU ---- */

typedef struct ew_spec {
    const char *tag;
    int nd;
    int64_t shape[4];
    int x_lay, y_lay;
    int inplace; /* 1: y is the first input's view, 2: the second's */
    int flag;    /* gelu: tanh; swiglu: gate/up are halves of one [.., 2F] row */
    uint32_t psize;
} ew_spec;

static void t_activation(runner *R, int32_t op)
{
    /* clang-format off: one case per line reads as a table */
    static const ew_spec gelu[] = {
        {"erf", 2, {67, 129}, 0, 0, 0, 0, 0},
        {"tanh", 2, {67, 129}, 0, 0, 0, 1, 0},
        {"erf strided in/out", 3, {3, 67, 33}, LAY_STRIDED, LAY_ROWPAD, 0, 0, 0},
        {"tanh transposed in, flipped out", 2, {67, 33}, LAY_T, LAY_FLIP, 0, 1, 0},
        {"erf in place", 2, {67, 129}, 0, 0, 1, 0, 0},
        {"tanh in place strided", 2, {67, 129}, LAY_ROWPAD, 0, 1, 1, 0},
        {"short params (default erf)", 2, {33, 67}, 0, 0, 0, 1, 4},
    };
    /* clang-format on */
    /* clang-format off: one case per line reads as a table */
    static const ew_spec silu[] = {
        {"plain", 2, {67, 129}, 0, 0, 0, 0, 0},
        {"flipped in, strided out", 3, {2, 67, 33}, LAY_FLIP, LAY_STRIDED, 0, 0, 0},
        {"in place", 1, {4099}, 0, 0, 1, 0, 0},
    };
    /* clang-format on */
    /* clang-format off: one case per line reads as a table */
    static const ew_spec swiglu[] = {
        {"plain", 3, {3, 67, 129}, 0, 0, 0, 0, 0},
        {"in place y=gate", 2, {67, 129}, 0, 0, 1, 0, 0},
        {"in place y=up", 2, {67, 129}, 0, 0, 2, 0, 0},
        {"gate/up halves of a fused row", 2, {67, 129}, 0, 0, 0, 1, 0},
        {"strided", 2, {67, 33}, LAY_T, LAY_STRIDED, 0, 0, 0},
    };
    /* clang-format on */
    const ew_spec *specs = op == DIO_OP_GELU ? gelu : op == DIO_OP_SILU ? silu : swiglu;
    size_t n = op == DIO_OP_GELU   ? sizeof(gelu) / sizeof(gelu[0])
               : op == DIO_OP_SILU ? sizeof(silu) / sizeof(silu[0])
                                   : sizeof(swiglu) / sizeof(swiglu[0]);
    for (int a = 0; a < 3; a++)
        for (size_t i = 0; i < n; i++) {
            const ew_spec *sp = &specs[i];
            int32_t act = act_dtypes[a];
            view *x0 = NULL, *x1 = NULL, *y, *ins[2];
            dio_gelu_params p;
            tcase cs, *c = &cs;
            if (!case_begin(c, R, op, act, "%s n=%" PRId64, sp->tag, numel(sp->nd, sp->shape))) continue;
            if (op == DIO_OP_SWIGLU && sp->flag) {
                int64_t M = sp->shape[0], F = sp->shape[1], lead = LEAD_BYTES / (int64_t)dio_dtype_size(act);
                storage *s = storage_new(c, act, lead + M * 2 * F, 0);
                int64_t st[2] = {2 * F, 1};
                x0 = view_of(c, s, 2, sp->shape, st, lead);
                x1 = view_of(c, s, 2, sp->shape, st, lead + F);
            } else {
                x0 = tensor_any(c, act, sp->x_lay, sp->nd, sp->shape, sp->inplace == 1);
                if (op == DIO_OP_SWIGLU)
                    x1 = tensor_any(c, act, sp->x_lay, sp->nd, sp->shape, sp->inplace == 2);
            }
            fill_uniform(c, x0, op == DIO_OP_SILU ? -6.0 : -4.0, op == DIO_OP_SILU ? 6.0 : 4.0);
            if (x1) fill_uniform(c, x1, -2.0, 2.0);
            y = sp->inplace == 1   ? x0
                : sp->inplace == 2 ? x1
                                   : tensor_any(c, act, sp->y_lay, sp->nd, sp->shape, 1);
            ins[0] = x0, ins[1] = x1;
            if (op == DIO_OP_GELU) {
                memset(&p, 0, sizeof(p));
                p.struct_size = sp->psize ? sp->psize : (uint32_t)sizeof(p);
                p.approximate_tanh = sp->flag;
                case_call(c, ins, 1, y, &p);
                ref_gelu(&x0->r, &c->exp_r,
                         fits(p.struct_size, offsetof(dio_gelu_params, approximate_tanh), 4)
                             ? p.approximate_tanh
                             : 0);
            } else if (op == DIO_OP_SILU) {
                case_call(c, ins, 1, y, NULL);
                ref_silu(&x0->r, &c->exp_r);
            } else {
                case_call(c, ins, 2, y, NULL);
                ref_swiglu(&x0->r, &x1->r, &c->exp_r);
            }
            case_finish(c, 0, 1);
        }
}

/* ---- CONV3D / CONV2D ---- */

typedef struct cv_spec {
    const char *tag;
    int64_t B, Cin, Cout, T, H, W, kt, kh, kw; /* conv2d: T and kt unused, arrays use entries 0 (H), 1 (W) */
    int stride[3], pf[3], pb[3], dil[3], groups;
    int bias;
    int64_t cache;
    int wcode; /* 1 activation dtype, WD(dtype) */
    uint32_t psize;
    int n_in;
} cv_spec;

static void t_conv(runner *R, int32_t op)
{
    /* clang-format off: one case per line reads as a table */
    static const cv_spec c3[] = {
        {"k3 pad1 bias", 1,         8,         12,        5, 9, 11, 3, 3, 3,
         {1, 1, 1},      {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, 1, 1, 0,  1, 0, 3},
        {"causal cache c=2=pad",
         1,
         8,
         12,
         4,
         9,
         11,
         3,
         3,
         3,
         {1, 1, 1},
         {2, 1, 1},
         {0, 1, 1},
         {1, 1, 1},
         1,
         1,
         2,
         1,
         0,
         4},
        {"causal cache c=1<pad",
         2,
         6,
         8,
         3,
         7,
         9,
         3,
         3,
         3,
         {1, 1, 1},
         {2, 1, 1},
         {0, 1, 1},
         {1, 1, 1},
         1,
         1,
         1,
         1,
         0,
         4},
        {"cache c=3>pad", 1,         4,         8,         3, 7, 9, 3, 3, 3,
         {1, 1, 1},       {2, 1, 1}, {0, 1, 1}, {1, 1, 1}, 1, 0, 3, 1, 0, 4},
        {"no cache causal pad",
         1,
         8,
         12,
         4,
         9,
         11,
         3,
         3,
         3,
         {1, 1, 1},
         {2, 1, 1},
         {0, 1, 1},
         {1, 1, 1},
         1,
         1,
         0,
         1,
         0,
         4},
        {"stride (1,2,2) asym pads",
         1,
         8,
         8,
         3,
         9,
         11,
         1,
         3,
         3,
         {1, 2, 2},
         {0, 0, 1},
         {0, 1, 0},
         {1, 1, 1},
         1,
         1,
         0,
         1,
         0,
         3},
        {"dilation (1,2,2)", 1,         6,         8,         5, 9, 11, 3, 3, 3,
         {1, 1, 1},          {0, 2, 2}, {0, 2, 2}, {1, 2, 2}, 1, 1, 0,  1, 0, 3},
        {"dilation 2 in time",
         1,
         4,
         4,
         7,
         6,
         6,
         3,
         1,
         1,
         {1, 1, 1},
         {4, 0, 0},
         {0, 0, 0},
         {2, 1, 1},
         1,
         1,
         0,
         1,
         0,
         3},
        {"groups=2", 1,         8,         12,        3, 9, 11, 3, 3, 3,
         {1, 1, 1},  {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, 2, 1, 0,  1, 0, 3},
        {"depthwise groups=6",
         1,
         6,
         6,
         3,
         9,
         11,
         3,
         3,
         3,
         {1, 1, 1},
         {1, 1, 1},
         {1, 1, 1},
         {1, 1, 1},
         6,
         0,
         0,
         1,
         0,
         2},
        {"1x1x1 no bias", 1,         16,        8,         3, 7, 13, 1, 1, 1,
         {1, 1, 1},       {0, 0, 0}, {0, 0, 0}, {1, 1, 1}, 1, 0, 0,  1, 0, 2},
        {"time downsample k(3,1,1) s2",
         1,
         8,
         8,
         5,
         6,
         7,
         3,
         1,
         1,
         {2, 1, 1},
         {2, 0, 0},
         {0, 0, 0},
         {1, 1, 1},
         1,
         1,
         0,
         1,
         0,
         3},
        {"first layer Cin=3 k(1,3,3)",
         1,
         3,
         16,
         2,
         17,
         15,
         1,
         3,
         3,
         {1, 1, 1},
         {0, 1, 1},
         {0, 1, 1},
         {1, 1, 1},
         1,
         1,
         0,
         1,
         0,
         3},
        {"w f32",           1, 8, 12, 3, 9, 11, 3, 3, 3, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, 1, 1, 0,
         WD(DIO_DTYPE_F32), 0, 3},
        {"w bf16",           1, 8, 12, 3, 9, 11, 3, 3, 3, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, 1, 1, 0,
         WD(DIO_DTYPE_BF16), 0, 3},
        {"w f16",           1, 8, 12, 3, 9, 11, 3, 3, 3, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, 1, 1, 0,
         WD(DIO_DTYPE_F16), 0, 3},
        {"short params (stride only)",
         1,
         4,
         8,
         4,
         7,
         9,
         3,
         3,
         3,
         {1, 2, 1},
         {9, 9, 9},
         {9, 9, 9},
         {3, 3, 3},
         5,
         1,
         0,
         1,
         (uint32_t)offsetof(dio_conv_params, pad_front),
         3},
    };
    /* clang-format on */
    /* clang-format off: one case per line reads as a table */
    static const cv_spec c2[] = {
        {"k3 pad1 bias", 2,         6,         8,         0, 13, 17, 0, 3, 3,
         {1, 1, 1},      {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, 1, 1,  0,  1, 0, 3},
        {"stride 2 asym pads",
         1,
         6,
         8,
         0,
         13,
         17,
         0,
         3,
         3,
         {2, 2, 1},
         {0, 1, 0},
         {1, 0, 0},
         {1, 1, 1},
         1,
         1,
         0,
         1,
         0,
         3},
        {"dilation 2", 1,         6,         8,         0, 13, 17, 0, 3, 3,
         {1, 1, 1},    {2, 2, 0}, {2, 2, 0}, {2, 2, 1}, 1, 1,  0,  1, 0, 3},
        {"groups=2 no bias", 1,         6,         8,         0, 13, 17, 0, 3, 3,
         {1, 1, 1},          {1, 1, 0}, {1, 1, 0}, {1, 1, 1}, 2, 0,  0,  1, 0, 2},
        {"1x1", 2, 16, 4, 0, 9, 11, 0, 1, 1, {1, 1, 1}, {0, 0, 0}, {0, 0, 0}, {1, 1, 1}, 1, 1, 0, 1, 0, 3},
        {"k(5,3) stride (2,1)",
         1,
         4,
         6,
         0,
         20,
         20,
         0,
         5,
         3,
         {2, 1, 1},
         {2, 1, 0},
         {2, 1, 0},
         {1, 1, 1},
         1,
         1,
         0,
         1,
         0,
         3},
        {"entry 2 of the arrays ignored",
         1,
         6,
         8,
         0,
         13,
         17,
         0,
         3,
         3,
         {1, 1, 3},
         {1, 1, 5},
         {1, 1, 5},
         {1, 1, 2},
         1,
         1,
         0,
         1,
         0,
         3},
        {"explicit NULL cache slot",
         1,
         6,
         8,
         0,
         13,
         17,
         0,
         3,
         3,
         {1, 1, 1},
         {1, 1, 1},
         {1, 1, 1},
         {1, 1, 1},
         1,
         1,
         0,
         1,
         0,
         4},
        {"w f32",           1, 6, 8, 0, 13, 17, 0, 3, 3, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, 1, 1, 0,
         WD(DIO_DTYPE_F32), 0, 3},
        {"w bf16",           1, 6, 8, 0, 13, 17, 0, 3, 3, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, 1, 1, 0,
         WD(DIO_DTYPE_BF16), 0, 3},
        {"short params (stride only)",
         1,
         4,
         8,
         0,
         9,
         11,
         0,
         3,
         3,
         {2, 1, 1},
         {9, 9, 9},
         {9, 9, 9},
         {3, 3, 3},
         5,
         1,
         0,
         1,
         (uint32_t)offsetof(dio_conv_params, pad_front),
         3},
    };
    /* clang-format on */
    int is3 = op == DIO_OP_CONV3D;
    const cv_spec *specs = is3 ? c3 : c2;
    size_t n = is3 ? sizeof(c3) / sizeof(c3[0]) : sizeof(c2) / sizeof(c2[0]);
    for (int a = 0; a < 3; a++)
        for (size_t i = 0; i < n; i++) {
            const cv_spec *sp = &specs[i];
            int32_t act = act_dtypes[a], wdt = wdtype(sp->wcode, act);
            int st[3], pf[3], pb[3], dl[3], groups;
            dio_conv_params p;
            view *x, *w, *bias = NULL, *cache = NULL, *y, *ins[4];
            int64_t cg, red;
            tcase cs, *c = &cs;
            if (!case_begin(c, R, op, act, "%s Cin=%" PRId64 " Cout=%" PRId64 " w=%s", sp->tag, sp->Cin,
                            sp->Cout, dio_dtype_name(wdt)))
                continue;
            memset(&p, 0, sizeof(p));
            p.struct_size = sp->psize ? sp->psize : (uint32_t)sizeof(p);
            for (int d = 0; d < 3; d++) {
                p.stride[d] = sp->stride[d];
                p.pad_front[d] = sp->pf[d];
                p.pad_back[d] = sp->pb[d];
                p.dilation[d] = sp->dil[d];
            }
            p.groups = sp->groups;
            /* The effective values: defaults for what the struct size leaves out. */
            for (int d = 0; d < 3; d++) {
                st[d] = fits(p.struct_size, offsetof(dio_conv_params, stride), 12) ? p.stride[d] : 1;
                pf[d] = fits(p.struct_size, offsetof(dio_conv_params, pad_front), 12) ? p.pad_front[d] : 0;
                pb[d] = fits(p.struct_size, offsetof(dio_conv_params, pad_back), 12) ? p.pad_back[d] : 0;
                dl[d] = fits(p.struct_size, offsetof(dio_conv_params, dilation), 12) ? p.dilation[d] : 1;
            }
            groups = fits(p.struct_size, offsetof(dio_conv_params, groups), 4) ? p.groups : 1;
            cg = sp->Cin / groups;
            if (is3) {
                int64_t tpad = (pf[0] - sp->cache > 0 ? pf[0] - sp->cache : 0) + sp->cache + sp->T + pb[0];
                int64_t To = ref_conv_out_len(tpad, sp->kt, st[0], dl[0]);
                int64_t Ho = ref_conv_out_len(pf[1] + sp->H + pb[1], sp->kh, st[1], dl[1]);
                int64_t Wo = ref_conv_out_len(pf[2] + sp->W + pb[2], sp->kw, st[2], dl[2]);
                x = IN(act, sp->B, sp->Cin, sp->T, sp->H, sp->W);
                w = IN(wdt, sp->Cout, cg, sp->kt, sp->kh, sp->kw);
                if (sp->cache) cache = IN(act, sp->B, sp->Cin, sp->cache, sp->H, sp->W);
                y = OUT(act, sp->B, sp->Cout, To, Ho, Wo);
                red = cg * sp->kt * sp->kh * sp->kw;
            } else {
                int64_t Ho = ref_conv_out_len(pf[0] + sp->H + pb[0], sp->kh, st[0], dl[0]);
                int64_t Wo = ref_conv_out_len(pf[1] + sp->W + pb[1], sp->kw, st[1], dl[1]);
                x = IN(act, sp->B, sp->Cin, sp->H, sp->W);
                w = IN(wdt, sp->Cout, cg, sp->kh, sp->kw);
                y = OUT(act, sp->B, sp->Cout, Ho, Wo);
                red = cg * sp->kh * sp->kw;
            }
            if (sp->bias) bias = IN(act, sp->Cout);
            ins[0] = x, ins[1] = w, ins[2] = bias, ins[3] = cache;
            case_call(c, ins, sp->n_in, y, &p);
            ref_conv(is3 ? 3 : 2, &x->r, &w->r, bias ? &bias->r : NULL, cache ? &cache->r : NULL, &c->exp_r,
                     st, pf, pb, dl, groups);
            case_finish(c, 0, red);
        }
}

/* ---- CHANNEL_RMSNORM ---- */

typedef struct cn_spec {
    const char *tag;
    int nd;
    int64_t shape[5];
    int bias, zero_col;
    float eps;
    uint32_t psize;
} cn_spec;

static void t_channel_rmsnorm(runner *R)
{
    /* clang-format off: one case per line reads as a table */
    static const cn_spec specs[] = {
        {"5-D gamma bias", 5, {2, 12, 3, 5, 7}, 1, 0, 1e-12f, 0},
        {"no bias, 2 inputs", 5, {1, 12, 3, 5, 7}, 0, 0, 1e-12f, 0},
        {"4-D", 4, {1, 8, 9, 11}, 1, 0, 1e-12f, 0},
        {"3-D", 3, {2, 16, 67}, 1, 0, 1e-12f, 0},
        {"C=96", 5, {1, 96, 2, 4, 4}, 1, 0, 1e-12f, 0},
        {"an all-zero column (norm below eps)", 4, {1, 8, 5, 7}, 1, 1, 1e-6f, 0},
        {"short params (default eps) zero column", 4, {1, 8, 5, 7}, 1, 1, 0.5f, 4},
    };
    /* clang-format on */
    for (int a = 0; a < 3; a++)
        for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
            const cn_spec *sp = &specs[i];
            int32_t act = act_dtypes[a];
            int64_t C = sp->shape[1];
            view *x, *g, *b = NULL, *y, *ins[3];
            dio_channel_norm_params p;
            tcase cs, *c = &cs;
            if (!case_begin(c, R, DIO_OP_CHANNEL_RMSNORM, act, "%s C=%" PRId64, sp->tag, C)) continue;
            x = tensor_any(c, act, LAY_CONTIG, sp->nd, sp->shape, 0);
            if (sp->zero_col) /* position 0 of batch 0: every channel zero */
                for (int64_t ch = 0; ch < C; ch++) vset(x, ch * x->r.stride[1], 0.0);
            g = IN(act, C);
            fill_uniform(c, g, 0.5, 1.5);
            if (sp->bias) b = IN(act, C);
            y = tensor_any(c, act, LAY_CONTIG, sp->nd, sp->shape, 1);
            memset(&p, 0, sizeof(p));
            p.struct_size = sp->psize ? sp->psize : (uint32_t)sizeof(p);
            p.eps = sp->eps;
            ins[0] = x, ins[1] = g, ins[2] = b;
            case_call(c, ins, sp->bias ? 3 : 2, y, &p);
            ref_channel_rmsnorm(&x->r, &g->r, b ? &b->r : NULL, &c->exp_r,
                                fits(p.struct_size, offsetof(dio_channel_norm_params, eps), 4) ? p.eps
                                                                                               : 1e-12);
            case_finish(c, 0, C);
        }
}

/* ---- UPSAMPLE_NEAREST ---- */

static void t_upsample(runner *R)
{
    /* clang-format off: one case per line reads as a table */
    static const struct {
        int nd;
        int64_t x[5], y[5];
    } specs[] = {
        {5, {1, 4, 3, 5, 7}, {1, 4, 3, 10, 14}}, {5, {1, 4, 3, 5, 7}, {1, 4, 6, 10, 14}},
        {4, {2, 3, 5, 7}, {2, 3, 10, 21}},       {2, {3, 4}, {6, 8}},
        {5, {1, 8, 2, 33, 1}, {1, 8, 2, 66, 3}},
    };
    /* clang-format on */
    for (int a = 0; a < 3; a++)
        for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
            int32_t act = act_dtypes[a];
            view *x, *y, *ins[1];
            char b1[96], b2[96];
            tcase cs, *c = &cs;
            if (!case_begin(c, R, DIO_OP_UPSAMPLE_NEAREST, act, "%s -> %s",
                            idx_str(specs[i].x, specs[i].nd, b1, sizeof(b1)),
                            idx_str(specs[i].y, specs[i].nd, b2, sizeof(b2))))
                continue;
            x = tensor_any(c, act, LAY_CONTIG, specs[i].nd, specs[i].x, 0);
            y = tensor_any(c, act, LAY_CONTIG, specs[i].nd, specs[i].y, 1);
            ins[0] = x;
            case_call(c, ins, 1, y, NULL);
            ref_upsample_nearest(&x->r, &c->exp_r);
            case_finish(c, 1, 0);
        }
}

/* ---- SOFTMAX ---- */

static void t_softmax(runner *R)
{
    /* clang-format off: one case per line reads as a table */
    static const struct {
        const char *tag;
        int nd;
        int64_t shape[3];
        float scale;
        int inplace;
        uint32_t psize;
        double lo, hi;
    } specs[] = {
        {"scale 1", 2, {67, 129}, 1.0f, 0, 0, -4, 4},
        {"scale 0.5", 2, {5, 300}, 0.5f, 0, 0, -4, 4},
        {"in place", 3, {2, 33, 67}, 1.5f, 1, 0, -4, 4},
        {"large logits (needs the max shift)", 2, {16, 67}, 1.0f, 0, 0, -100, 100},
        {"N=1024", 2, {3, 1024}, 1.0f, 0, 0, -8, 8},
        {"short params (default scale)", 2, {20, 129}, 7.0f, 0, 4, -4, 4},
    };
    /* clang-format on */
    for (int a = 0; a < 3; a++)
        for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
            int32_t act = act_dtypes[a];
            view *x, *y, *ins[1];
            dio_softmax_params p;
            tcase cs, *c = &cs;
            if (!case_begin(c, R, DIO_OP_SOFTMAX, act, "%s N=%" PRId64, specs[i].tag,
                            specs[i].shape[specs[i].nd - 1]))
                continue;
            x = tensor_any(c, act, LAY_CONTIG, specs[i].nd, specs[i].shape, specs[i].inplace);
            fill_uniform(c, x, specs[i].lo, specs[i].hi);
            y = specs[i].inplace ? x : tensor_any(c, act, LAY_CONTIG, specs[i].nd, specs[i].shape, 1);
            memset(&p, 0, sizeof(p));
            p.struct_size = specs[i].psize ? specs[i].psize : (uint32_t)sizeof(p);
            p.scale = specs[i].scale;
            ins[0] = x;
            case_call(c, ins, 1, y, &p);
            ref_softmax(&x->r, &c->exp_r,
                        fits(p.struct_size, offsetof(dio_softmax_params, scale), 4) ? p.scale : 1.0);
            case_finish(c, 0, specs[i].shape[specs[i].nd - 1]);
        }
}

/* ---- ADD / MUL ---- */

typedef struct bc_spec {
    const char *tag;
    int ny, na, nb;
    int64_t y[6], a[6], b[6];
    int a_lay, b_lay, y_lay;
    int inplace; /* 1: y is a's view, 2: b's */
} bc_spec;

static void t_binary(runner *R, int32_t op)
{
    /* clang-format off: one case per line reads as a table */
    static const bc_spec specs[] = {
        {"same shape", 2, 2, 2, {67, 129}, {67, 129}, {67, 129}, 0, 0, 0, 0},
        {"b [C] broadcast", 2, 2, 1, {33, 129}, {33, 129}, {129}, 0, 0, 0, 0},
        {"a [3,1,C] b [L,1]", 3, 3, 2, {3, 67, 129}, {3, 1, 129}, {67, 1}, 0, 0, 0, 0},
        {"a [1] b [4,33]", 2, 1, 2, {4, 33}, {1}, {4, 33}, 0, 0, 0, 0},
        {"a 0-d scalar", 2, 0, 2, {4, 33}, {0}, {4, 33}, 0, 0, 0, 0},
        {"transposed a, strided y", 2, 2, 2, {67, 33}, {67, 33}, {67, 33}, LAY_T, 0, LAY_STRIDED, 0},
        {"flipped b, padded y", 2, 2, 2, {67, 129}, {67, 129}, {67, 129}, 0, LAY_FLIP, LAY_ROWPAD, 0},
        {"in place y=a, b broadcast", 2, 2, 1, {67, 129}, {67, 129}, {129}, 0, 0, 0, 1},
        {"in place y=b strided", 2, 2, 2, {67, 33}, {67, 33}, {67, 33}, 0, LAY_ROWPAD, 0, 2},
        {"6-D broadcast", 6, 6, 6, {2, 4, 3, 2, 5, 7}, {2, 1, 3, 1, 5, 7}, {1, 4, 1, 2, 1, 7}, 0, 0, 0, 0},
    };
    /* clang-format on */
    for (int a = 0; a < 3; a++)
        for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
            const bc_spec *sp = &specs[i];
            int32_t act = act_dtypes[a];
            view *A, *B, *y, *ins[2];
            tcase cs, *c = &cs;
            if (!case_begin(c, R, op, act, "%s", sp->tag)) continue;
            A = tensor_any(c, act, sp->a_lay, sp->na, sp->a, sp->inplace == 1);
            B = tensor_any(c, act, sp->b_lay, sp->nb, sp->b, sp->inplace == 2);
            fill_uniform(c, A, -2.0, 2.0);
            fill_uniform(c, B, -2.0, 2.0);
            y = sp->inplace == 1 ? A : sp->inplace == 2 ? B : tensor_any(c, act, sp->y_lay, sp->ny, sp->y, 1);
            ins[0] = A, ins[1] = B;
            case_call(c, ins, 2, y, NULL);
            if (op == DIO_OP_ADD)
                ref_add(&A->r, &B->r, &c->exp_r);
            else
                ref_mul(&A->r, &B->r, &c->exp_r);
            case_finish(c, 0, 1);
        }
}

/* ---- AXPBY ---- */

static void t_axpby(runner *R)
{
    /* clang-format off: one case per line reads as a table */
    static const struct {
        const char *tag;
        int z; /* 0: 1 input, 1: z given, 2: an explicit NULL z slot */
        float alpha, beta;
        int inplace; /* 1: y = x's view, 2: z's */
        uint32_t psize;
        int x_lay, y_lay;
    } specs[] = {
        {"with z", 1, 0.7f, -1.3f, 0, 0, 0, 0},
        {"no z, 1 input", 0, -2.5f, 9.0f, 0, 0, 0, 0},
        {"NULL z slot", 2, 0.25f, 9.0f, 0, 0, 0, 0},
        {"in place y=x", 1, 0.9f, 0.1f, 1, 0, 0, 0},
        {"in place y=z", 1, 1.1f, -0.4f, 2, 0, 0, 0},
        {"short params (defaults: y = x)", 1, 5.0f, NAN, 0, 4, 0, 0},
        {"short params (alpha only)", 1, 0.5f, NAN, 0, (uint32_t)offsetof(dio_axpby_params, beta), 0, 0},
        {"transposed x, padded y", 1, 0.7f, 0.3f, 0, 0, LAY_T, LAY_ROWPAD},
    };
    /* clang-format on */
    for (int a = 0; a < 3; a++)
        for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
            int32_t act = act_dtypes[a];
            view *x, *z = NULL, *y, *ins[2];
            dio_axpby_params p;
            tcase cs, *c = &cs;
            if (!case_begin(c, R, DIO_OP_AXPBY, act, "%s [67,33]", specs[i].tag)) continue;
            x = tensor_any(c, act, specs[i].x_lay, SH(67, 33), specs[i].inplace == 1);
            fill_uniform(c, x, -1.0, 1.0);
            if (specs[i].z == 1) {
                z = tensor_any(c, act, LAY_CONTIG, SH(67, 33), specs[i].inplace == 2);
                fill_uniform(c, z, -1.0, 1.0);
            }
            y = specs[i].inplace == 1   ? x
                : specs[i].inplace == 2 ? z
                                        : tensor_any(c, act, specs[i].y_lay, SH(67, 33), 1);
            memset(&p, 0, sizeof(p));
            p.struct_size = specs[i].psize ? specs[i].psize : (uint32_t)sizeof(p);
            p.alpha = specs[i].alpha;
            p.beta = specs[i].beta;
            ins[0] = x, ins[1] = z;
            case_call(c, ins, specs[i].z ? 2 : 1, y, &p);
            ref_axpby(&x->r, z ? &z->r : NULL, &c->exp_r,
                      fits(p.struct_size, offsetof(dio_axpby_params, alpha), 4) ? p.alpha : 1.0,
                      fits(p.struct_size, offsetof(dio_axpby_params, beta), 4) ? p.beta : 0.0);
            case_finish(c, 0, 2);
        }
}

/* ---- CLAMP ---- */

static void t_clamp(runner *R)
{
    /* clang-format off: one case per line reads as a table */
    static const struct {
        const char *tag;
        float lo, hi;
        uint32_t psize;
        int inplace, x_lay, y_lay;
    } specs[] = {
        {"lo -0.5 hi 0.7 with NaN/Inf inputs", -0.5f, 0.7f, 0, 0, 0, 0},
        {"in place", -0.25f, 1.3f, 0, 1, 0, 0},
        {"short params (lo only, hi=+inf)", -0.5f, -9.0f, (uint32_t)offsetof(dio_clamp_params, hi), 0, 0, 0},
        {"short params (no bounds)", 9.0f, -9.0f, 4, 0, 0, 0},
        {"flipped x, strided y", -0.1f, 0.1f, 0, 0, LAY_FLIP, LAY_STRIDED},
    };
    /* clang-format on */
    for (int a = 0; a < 3; a++)
        for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
            int32_t act = act_dtypes[a];
            view *x, *y, *ins[1];
            dio_clamp_params p;
            tcase cs, *c = &cs;
            if (!case_begin(c, R, DIO_OP_CLAMP, act, "%s [67,129]", specs[i].tag)) continue;
            x = tensor_any(c, act, specs[i].x_lay, SH(67, 129), specs[i].inplace);
            FOR_EACH_ELEM(x, idx, off)
            {
                double r = rnd01(&c->rng);
                vset(x, off,
                     r < 0.05   ? NAN
                     : r < 0.07 ? INFINITY
                     : r < 0.09 ? -INFINITY
                                : rnd_uniform(&c->rng, -2, 2));
            }
            y = specs[i].inplace ? x : tensor_any(c, act, specs[i].y_lay, SH(67, 129), 1);
            memset(&p, 0, sizeof(p));
            p.struct_size = specs[i].psize ? specs[i].psize : (uint32_t)sizeof(p);
            p.lo = specs[i].lo;
            p.hi = specs[i].hi;
            ins[0] = x;
            case_call(c, ins, 1, y, &p);
            ref_clamp(&x->r, &c->exp_r,
                      fits(p.struct_size, offsetof(dio_clamp_params, lo), 4) ? p.lo : -INFINITY,
                      fits(p.struct_size, offsetof(dio_clamp_params, hi), 4) ? p.hi : INFINITY);
            case_finish(c, 1, 0);
        }
}

/* ---- GATHER ---- */

static void t_gather(runner *R)
{
    /* clang-format off: one case per line reads as a table */
    static const struct {
        const char *tag;
        int64_t V, C, N;
        int tcode;
        int32_t ids;
        int64_t bad_pos;
        double bad_id;
    } specs[] = {
        {"ids i32", 50, 67, 129, 1, DIO_DTYPE_I32, -1, 0},
        {"ids i64", 50, 67, 67, 1, DIO_DTYPE_I64, -1, 0},
        {"table f32", 50, 33, 40, WD(DIO_DTYPE_F32), DIO_DTYPE_I32, -1, 0},
        {"table bf16", 50, 33, 40, WD(DIO_DTYPE_BF16), DIO_DTYPE_I64, -1, 0},
        {"table f8e4m3", 50, 33, 40, WD(DIO_DTYPE_F8E4M3), DIO_DTYPE_I32, -1, 0},
        {"large vocab", 1000, 129, 300, 1, DIO_DTYPE_I64, -1, 0},
        {"id == V (i32)", 50, 67, 129, 1, DIO_DTYPE_I32, 41, 50},
        {"id < 0 (i64)", 50, 67, 67, 1, DIO_DTYPE_I64, 37, -1},
    };
    /* clang-format on */
    for (int a = 0; a < 3; a++)
        for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
            int32_t act = act_dtypes[a], tdt = wdtype(specs[i].tcode, act);
            view *t, *ids, *y, *ins[2];
            char pos[32];
            tcase cs, *c = &cs;
            if (!case_begin(c, R, DIO_OP_GATHER, act, "%s V=%" PRId64 " C=%" PRId64 " N=%" PRId64 " table=%s",
                            specs[i].tag, specs[i].V, specs[i].C, specs[i].N, dio_dtype_name(tdt)))
                continue;
            t = IN(tdt, specs[i].V, specs[i].C);
            if (tdt == DIO_DTYPE_F8E4M3) fill_uniform(c, t, -4.0, 4.0);
            ids = IN(specs[i].ids, specs[i].N);
            FOR_EACH_ELEM(ids, idx, off) vset(ids, off, (double)rnd_int(&c->rng, specs[i].V));
            if (specs[i].bad_pos >= 0) {
                vset(ids, specs[i].bad_pos * ids->r.stride[0], specs[i].bad_id);
                c->expect_status = DIO_ERR_INVALID_ARGUMENT;
                snprintf(pos, sizeof(pos), "%" PRId64, specs[i].bad_pos);
                c->expect_msg = pos;
            }
            y = OUT(act, specs[i].N, specs[i].C);
            ins[0] = t, ins[1] = ids;
            case_call(c, ins, 2, y, NULL);
            ref_gather(&t->r, &ids->r, &c->exp_r);
            case_finish(c, 1, 0);
        }
}

/* ---- COPY ---- */

/* Values that exercise the destination's rounding: ordinary ones, a wide spread of magnitudes down to
 * the destination's subnormals and up past its max (saturation), and with `specials` NaN, ±Inf, -0. */
static void fill_copy(tcase *c, view *v, int32_t src, int32_t dst, int specials)
{
    int dst_f8 = dst == DIO_DTYPE_F8E4M3 || dst == DIO_DTYPE_F8E5M2;
    FOR_EACH_ELEM(v, idx, off)
    {
        double r = rnd01(&c->rng), x;
        if (!is_float_dtype(src)) {
            x = src == DIO_DTYPE_U8 ? (double)rnd_int(&c->rng, 256) : (double)(rnd_int(&c->rng, 2001) - 1000);
        } else if (specials && r < 0.05) {
            x = NAN;
        } else if (specials && !dst_f8 && r < 0.10) {
            x = r < 0.075 ? INFINITY : -INFINITY;
        } else if (specials && r < 0.12) {
            x = -0.0;
        } else if (r < 0.5) {
            x = rnd_uniform(&c->rng, -4.0, 4.0);
        } else {
            x = ldexp(1.0 + rnd01(&c->rng), (int)rnd_int(&c->rng, 46) - 28);
            if (x > ref_dtype_max(src)) x = ref_dtype_max(src) * rnd_uniform(&c->rng, 0.5, 1.0);
            if (rnd01(&c->rng) < 0.5) x = -x;
        }
        vset(v, off, x);
    }
}

static void copy_case(runner *R, int32_t src, int32_t dst, const char *tag, int x_lay, int y_lay,
                      int specials, int nd, const int64_t *shape)
{
    int32_t act = col_of(src) < 3 ? src : col_of(dst) < 3 ? dst : DIO_DTYPE_U8;
    view *x, *y, *ins[1];
    tcase cs, *c = &cs;
    if (!case_begin(c, R, DIO_OP_COPY, act, "%s -> %s %s", dio_dtype_name(src), dio_dtype_name(dst), tag))
        return;
    if (x_lay == LAY_P6) {
        static const int p6[6] = {5, 3, 4, 0, 2, 1};
        x = tensor_perm(c, src, p6, nd, shape, 0);
    } else {
        x = tensor_any(c, src, x_lay, nd, shape, 0);
    }
    fill_copy(c, x, src, dst, specials);
    y = tensor_any(c, dst, y_lay, nd, shape, 1);
    ins[0] = x;
    case_call(c, ins, 1, y, NULL);
    ref_copy(&x->r, &c->exp_r, dst);
    case_finish(c, 1, 0);
}

static void t_copy(runner *R)
{
    static const int32_t fl[5] = {DIO_DTYPE_F32, DIO_DTYPE_F16, DIO_DTYPE_BF16, DIO_DTYPE_F8E4M3,
                                  DIO_DTYPE_F8E5M2};
    static const int32_t in[3] = {DIO_DTYPE_I32, DIO_DTYPE_I64, DIO_DTYPE_U8};
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 5; j++) {
            copy_case(R, fl[i], fl[j], "contiguous [67,33]", LAY_CONTIG, LAY_CONTIG, 0, SH(67, 33));
            copy_case(R, fl[i], fl[j], "transposed src, padded dst", LAY_T, LAY_ROWPAD, 0, SH(67, 33));
            copy_case(R, fl[i], fl[j], "flipped src, strided dst", LAY_FLIP, LAY_STRIDED, 0, SH(3, 67, 33));
            copy_case(R, fl[i], fl[j], "NaN/Inf/-0", LAY_CONTIG, LAY_CONTIG, 1, SH(129, 33));
        }
    for (int i = 0; i < 3; i++) {
        copy_case(R, act_dtypes[i], act_dtypes[i], "6-D permuted src", LAY_P6, LAY_CONTIG, 0,
                  SH(2, 3, 2, 3, 2, 5));
        copy_case(R, in[i], in[i], "contiguous", LAY_CONTIG, LAY_CONTIG, 0, SH(67, 33));
        copy_case(R, in[i], in[i], "transposed src", LAY_T, LAY_CONTIG, 0, SH(67, 33));
    }
    copy_case(R, DIO_DTYPE_I32, DIO_DTYPE_F32, "by value", LAY_CONTIG, LAY_CONTIG, 0, SH(67, 33));
}

/* ---- CONCAT / SLICE / PERMUTE ---- */

static void t_concat(runner *R)
{
    /* clang-format off: one case per line reads as a table */
    static const struct {
        const char *tag;
        int n, nd, axis;
        int64_t s[3][5];
        uint32_t psize;
    } specs[] = {
        {"3 inputs axis 1", 3, 3, 1, {{2, 5, 67}, {2, 3, 67}, {2, 1, 67}}, 0},
        {"axis -1", 2, 2, -1, {{4, 33}, {4, 31}}, 0},
        {"axis 0", 2, 2, 0, {{3, 67}, {5, 67}}, 0},
        {"one input", 1, 2, 1, {{7, 9}}, 0},
        {"time axis of [B,C,T,H,W]", 2, 5, 2, {{1, 8, 2, 9, 11}, {1, 8, 5, 9, 11}}, 0},
        {"short params (axis 0)", 2, 2, 1, {{3, 67}, {5, 67}}, 4},
    };
    /* clang-format on */
    for (int a = 0; a < 3; a++)
        for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
            int32_t act = act_dtypes[a];
            int nd = specs[i].nd, n = specs[i].n, axis;
            int64_t ysh[5];
            view *x[3], *y;
            const ref_tensor *xr[3];
            dio_concat_params p;
            tcase cs, *c = &cs;
            if (!case_begin(c, R, DIO_OP_CONCAT, act, "%s n=%d", specs[i].tag, n)) continue;
            memset(&p, 0, sizeof(p));
            p.struct_size = specs[i].psize ? specs[i].psize : (uint32_t)sizeof(p);
            p.axis = specs[i].axis;
            axis = fits(p.struct_size, offsetof(dio_concat_params, axis), 4) ? p.axis : 0;
            if (axis < 0) axis += nd;
            memcpy(ysh, specs[i].s[0], sizeof(ysh));
            ysh[axis] = 0;
            for (int k = 0; k < n; k++) {
                x[k] = tensor_any(c, act, LAY_CONTIG, nd, specs[i].s[k], 0);
                xr[k] = &x[k]->r;
                ysh[axis] += specs[i].s[k][axis];
            }
            y = tensor_any(c, act, LAY_CONTIG, nd, ysh, 1);
            case_call(c, x, n, y, &p);
            ref_concat(xr, n, axis, &c->exp_r);
            case_finish(c, 1, 0);
        }
}

static void t_slice(runner *R)
{
    /* clang-format off: one case per line reads as a table */
    static const struct {
        const char *tag;
        int nd;
        int64_t x[DIO_MAX_DIMS], y[DIO_MAX_DIMS], start[DIO_MAX_DIMS], step[DIO_MAX_DIMS];
        uint32_t psize;
    } specs[] = {
        {"steps 2,3,3", 3, {7, 67, 129}, {3, 20, 43}, {1, 5, 0}, {2, 3, 3}, 0},
        {"column range", 3, {7, 67, 129}, {7, 67, 64}, {0, 0, 65}, {1, 1, 1}, 0},
        {"last 2 frames of [B,C,T,H,W]",
         5,
         {1, 8, 5, 9, 11},
         {1, 8, 2, 9, 11},
         {0, 0, 3, 0, 0},
         {1, 1, 1, 1, 1},
         0},
        {"1-D step 3", 1, {300}, {100}, {0}, {3}, 0},
        {"short params (start 0, step 1)", 2, {7, 9}, {3, 4}, {2, 2}, {2, 2}, 4},
    };
    /* clang-format on */
    for (int a = 0; a < 3; a++)
        for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
            int32_t act = act_dtypes[a];
            int nd = specs[i].nd;
            int64_t start[DIO_MAX_DIMS], step[DIO_MAX_DIMS];
            view *x, *y, *ins[1];
            dio_slice_params p;
            tcase cs, *c = &cs;
            if (!case_begin(c, R, DIO_OP_SLICE, act, "%s", specs[i].tag)) continue;
            memset(&p, 0, sizeof(p));
            p.struct_size = specs[i].psize ? specs[i].psize : (uint32_t)sizeof(p);
            for (int d = 0; d < DIO_MAX_DIMS; d++) {
                p.start[d] = d < nd ? specs[i].start[d] : 0;
                p.step[d] = d < nd ? specs[i].step[d] : 1;
                start[d] =
                    fits(p.struct_size, offsetof(dio_slice_params, start), sizeof(p.start)) ? p.start[d] : 0;
                step[d] =
                    fits(p.struct_size, offsetof(dio_slice_params, step), sizeof(p.step)) ? p.step[d] : 1;
            }
            x = tensor_any(c, act, LAY_CONTIG, nd, specs[i].x, 0);
            y = tensor_any(c, act, LAY_CONTIG, nd, specs[i].y, 1);
            ins[0] = x;
            case_call(c, ins, 1, y, &p);
            ref_slice(&x->r, start, step, &c->exp_r);
            case_finish(c, 1, 0);
        }
}

static void t_permute(runner *R)
{
    /* clang-format off: one case per line reads as a table */
    static const struct {
        int nd;
        int64_t x[6];
        int32_t perm[6];
    } specs[] = {
        {2, {67, 129}, {1, 0}},
        {4, {2, 67, 3, 64}, {0, 2, 1, 3}},
        {5, {1, 4, 3, 5, 7}, {0, 2, 3, 4, 1}},
        {6, {2, 3, 2, 3, 2, 5}, {5, 4, 3, 2, 1, 0}},
        {2, {5, 7}, {0, 1}},
    };
    /* clang-format on */
    for (int a = 0; a < 3; a++)
        for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
            int32_t act = act_dtypes[a];
            int nd = specs[i].nd;
            int64_t ysh[6];
            view *x, *y, *ins[1];
            dio_permute_params p;
            char b1[96], b2[96];
            tcase cs, *c = &cs;
            int64_t perm64[6];
            for (int d = 0; d < nd; d++) perm64[d] = specs[i].perm[d];
            if (!case_begin(c, R, DIO_OP_PERMUTE, act, "x%s perm%s", idx_str(specs[i].x, nd, b1, sizeof(b1)),
                            idx_str(perm64, nd, b2, sizeof(b2))))
                continue;
            memset(&p, 0, sizeof(p));
            p.struct_size = (uint32_t)sizeof(p);
            for (int d = 0; d < nd; d++) {
                p.perm[d] = specs[i].perm[d];
                ysh[d] = specs[i].x[specs[i].perm[d]];
            }
            x = tensor_any(c, act, LAY_CONTIG, nd, specs[i].x, 0);
            y = tensor_any(c, act, LAY_CONTIG, nd, ysh, 1);
            ins[0] = x;
            case_call(c, ins, 1, y, &p);
            ref_permute(&x->r, p.perm, &c->exp_r);
            case_finish(c, 1, 0);
        }
}

/* ---- PATCHIFY / UNPATCHIFY ---- */

static void t_patch(runner *R, int32_t op)
{
    /* clang-format off: one case per line reads as a table */
    static const struct {
        int64_t x[5];
        int patch[3];
    } specs[] = {
        {{2, 16, 4, 8, 12}, {1, 2, 2}}, {{1, 4, 4, 6, 6}, {2, 2, 2}}, {{1, 3, 3, 10, 6}, {1, 2, 2}},
        {{1, 5, 2, 3, 4}, {1, 1, 1}},   {{1, 2, 6, 4, 9}, {3, 1, 3}},
    };
    /* clang-format on */
    for (int a = 0; a < 3; a++)
        for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++)
            for (int order = 0; order < 2; order++) {
                int32_t act = act_dtypes[a];
                const int64_t *v = specs[i].x;
                const int *pt = specs[i].patch;
                int64_t tok[5] = {v[0], v[2] / pt[0], v[3] / pt[1], v[4] / pt[2],
                                  v[1] * pt[0] * pt[1] * pt[2]};
                view *x, *y, *ins[1];
                dio_patch_params p;
                char b1[96];
                tcase cs, *c = &cs;
                if (!case_begin(c, R, op, act, "%s video%s patch (%d,%d,%d)", order ? "H_W_T_C" : "C_T_H_W",
                                idx_str(v, 5, b1, sizeof(b1)), pt[0], pt[1], pt[2]))
                    continue;
                memset(&p, 0, sizeof(p));
                p.struct_size = (uint32_t)sizeof(p);
                p.patch[0] = pt[0], p.patch[1] = pt[1], p.patch[2] = pt[2];
                p.order = order;
                x = tensor_any(c, act, LAY_CONTIG, 5, op == DIO_OP_PATCHIFY ? v : tok, 0);
                y = tensor_any(c, act, LAY_CONTIG, 5, op == DIO_OP_PATCHIFY ? tok : v, 1);
                ins[0] = x;
                case_call(c, ins, 1, y, &p);
                if (op == DIO_OP_PATCHIFY)
                    ref_patchify(&x->r, &c->exp_r, pt, order);
                else
                    ref_unpatchify(&x->r, &c->exp_r, pt, order);
                case_finish(c, 1, 0);
            }
}

/* ---------------------------------------------------------------------------------------------- */
/* negative cases: malformed calls must be refused (INVALID_ARGUMENT or NOT_SUPPORTED), never crash */

static int neg_begin(tcase *c, runner *R, int32_t op, const char *tag)
{
    if (!case_begin(c, R, op, DIO_DTYPE_F32, "%s", tag)) return 0;
    c->negative = 1;
    return 1;
}

/* A view over a fresh storage of n_store elements, possibly reaching outside it. */
static view *raw_view(tcase *c, int64_t n_store, int nd, const int64_t *shape, int64_t first, int is_output)
{
    int64_t st[DIO_MAX_DIMS];
    storage *s = storage_new(c, DIO_DTYPE_F32, n_store, is_output);
    contiguous_strides(nd, shape, st);
    return view_of(c, s, nd, shape, st, first);
}

static void neg_run(tcase *c, view *const *ins, int n_in, view *const *outs, int n_out, const void *params)
{
    case_call(c, ins, n_in, n_out ? outs[0] : NULL, params);
    c->n_out = n_out;
    for (int i = 0; i < n_out && i < 2; i++) c->outs[i] = outs[i] ? &outs[i]->t : NULL;
    case_finish(c, 0, 0);
}

static void t_negative(runner *R)
{
    tcase cs, *c = &cs;
    view *v[8];
    if (neg_begin(c, R, DIO_OP_ADD, "input view reaches past its buffer")) {
        v[0] = raw_view(c, 100, SH(11, 10), 0, 0);
        v[1] = IN(DIO_DTYPE_F32, 11, 10);
        v[2] = OUT(DIO_DTYPE_F32, 11, 10);
        neg_run(c, v, 2, v + 2, 1, NULL);
    }
    if (neg_begin(c, R, DIO_OP_GELU, "input offset past the end of its buffer")) {
        dio_gelu_params p = {sizeof(p), 0};
        v[0] = raw_view(c, 100, SH(4), 200, 0);
        v[1] = OUT(DIO_DTYPE_F32, 4);
        neg_run(c, v, 1, v + 1, 1, &p);
    }
    if (neg_begin(c, R, DIO_OP_MATMUL, "output view reaches past its buffer")) {
        dio_matmul_params p = {sizeof(p), 0, 0, 1.0f, 0.0f};
        v[0] = IN(DIO_DTYPE_F32, 67, 20);
        v[1] = IN(DIO_DTYPE_F32, 20, 33);
        v[2] = raw_view(c, 10, SH(67, 33), 0, 1);
        neg_run(c, v, 2, v + 2, 1, &p);
    }
    if (neg_begin(c, R, DIO_OP_COPY, "negative stride reaching before the buffer")) {
        int64_t sh[1] = {8}, st[1] = {-1};
        storage *s = storage_new(c, DIO_DTYPE_F32, 8, 0);
        v[0] = view_of(c, s, 1, sh, st, 3);
        v[1] = OUT(DIO_DTYPE_F32, 8);
        neg_run(c, v, 1, v + 1, 1, NULL);
    }
    if (neg_begin(c, R, DIO_OP_ADD, "one input (arity)")) {
        v[0] = IN(DIO_DTYPE_F32, 4, 5);
        v[1] = OUT(DIO_DTYPE_F32, 4, 5);
        neg_run(c, v, 1, v + 1, 1, NULL);
    }
    if (neg_begin(c, R, DIO_OP_ADD, "three inputs (arity)")) {
        v[0] = IN(DIO_DTYPE_F32, 4, 5);
        v[1] = IN(DIO_DTYPE_F32, 4, 5);
        v[2] = IN(DIO_DTYPE_F32, 4, 5);
        v[3] = OUT(DIO_DTYPE_F32, 4, 5);
        neg_run(c, v, 3, v + 3, 1, NULL);
    }
    if (neg_begin(c, R, DIO_OP_SILU, "two outputs (arity)")) {
        v[0] = IN(DIO_DTYPE_F32, 4, 5);
        v[1] = OUT(DIO_DTYPE_F32, 4, 5);
        v[2] = OUT(DIO_DTYPE_F32, 4, 5);
        neg_run(c, v, 1, v + 1, 2, NULL);
    }
    if (neg_begin(c, R, DIO_OP_SOFTMAX, "no output (arity)")) {
        dio_softmax_params p = {sizeof(p), 1.0f};
        v[0] = IN(DIO_DTYPE_F32, 4, 5);
        neg_run(c, v, 1, v, 0, &p);
    }
    if (neg_begin(c, R, DIO_OP_MATMUL, "required input B is NULL")) {
        dio_matmul_params p = {sizeof(p), 0, 0, 1.0f, 0.0f};
        v[0] = IN(DIO_DTYPE_F32, 4, 8);
        v[1] = NULL;
        v[2] = OUT(DIO_DTYPE_F32, 4, 16);
        neg_run(c, v, 2, v + 2, 1, &p);
    }
    if (neg_begin(c, R, DIO_OP_MATMUL, "K mismatch")) {
        dio_matmul_params p = {sizeof(p), 0, 0, 1.0f, 0.0f};
        v[0] = IN(DIO_DTYPE_F32, 4, 8);
        v[1] = IN(DIO_DTYPE_F32, 9, 16);
        v[2] = OUT(DIO_DTYPE_F32, 4, 16);
        neg_run(c, v, 2, v + 2, 1, &p);
    }
    if (neg_begin(c, R, DIO_OP_MATMUL, "C shape mismatch")) {
        dio_matmul_params p = {sizeof(p), 0, 0, 1.0f, 0.0f};
        v[0] = IN(DIO_DTYPE_F32, 4, 8);
        v[1] = IN(DIO_DTYPE_F32, 8, 16);
        v[2] = OUT(DIO_DTYPE_F32, 4, 15);
        neg_run(c, v, 2, v + 2, 1, &p);
    }
    if (neg_begin(c, R, DIO_OP_ADD, "shapes that do not broadcast")) {
        v[0] = IN(DIO_DTYPE_F32, 4, 5);
        v[1] = IN(DIO_DTYPE_F32, 3);
        v[2] = OUT(DIO_DTYPE_F32, 4, 5);
        neg_run(c, v, 2, v + 2, 1, NULL);
    }
    if (neg_begin(c, R, DIO_OP_MUL, "y shape differs from the broadcast shape")) {
        v[0] = IN(DIO_DTYPE_F32, 4, 5);
        v[1] = IN(DIO_DTYPE_F32, 4, 5);
        v[2] = OUT(DIO_DTYPE_F32, 5, 4);
        neg_run(c, v, 2, v + 2, 1, NULL);
    }
    if (neg_begin(c, R, DIO_OP_ADD, "mixed activation dtypes")) {
        v[0] = IN(DIO_DTYPE_F32, 4, 5);
        v[1] = IN(DIO_DTYPE_I32, 4, 5);
        v[2] = OUT(DIO_DTYPE_F32, 4, 5);
        neg_run(c, v, 2, v + 2, 1, NULL);
    }
    if (neg_begin(c, R, DIO_OP_ATTENTION, "Hq not a multiple of Hkv")) {
        dio_attention_params p = {sizeof(p), 0.0f, 0};
        v[0] = IN(DIO_DTYPE_F32, 1, 3, 8, 16);
        v[1] = IN(DIO_DTYPE_F32, 1, 2, 8, 16);
        v[2] = IN(DIO_DTYPE_F32, 1, 2, 8, 16);
        v[3] = OUT(DIO_DTYPE_F32, 1, 3, 8, 16);
        neg_run(c, v, 3, v + 3, 1, &p);
    }
    if (neg_begin(c, R, DIO_OP_ATTENTION, "mask of the wrong shape")) {
        dio_attention_params p = {sizeof(p), 0.0f, 0};
        v[0] = IN(DIO_DTYPE_F32, 1, 2, 8, 16);
        v[1] = IN(DIO_DTYPE_F32, 1, 2, 9, 16);
        v[2] = IN(DIO_DTYPE_F32, 1, 2, 9, 16);
        v[3] = IN(DIO_DTYPE_F32, 9, 8);
        v[4] = OUT(DIO_DTYPE_F32, 1, 2, 8, 16);
        neg_run(c, v, 4, v + 4, 1, &p);
    }
    if (neg_begin(c, R, DIO_OP_LAYERNORM, "weight of the wrong size")) {
        dio_norm_params p = {sizeof(p), 1e-5f};
        v[0] = IN(DIO_DTYPE_F32, 4, 16);
        v[1] = IN(DIO_DTYPE_F32, 17);
        v[2] = OUT(DIO_DTYPE_F32, 4, 16);
        neg_run(c, v, 2, v + 2, 1, &p);
    }
    if (neg_begin(c, R, DIO_OP_CONV2D, "weight Cin does not match x")) {
        dio_conv_params p = {sizeof(p), {1, 1, 1}, {0, 0, 0}, {0, 0, 0}, {1, 1, 1}, 1};
        v[0] = IN(DIO_DTYPE_F32, 1, 4, 6, 6);
        v[1] = IN(DIO_DTYPE_F32, 8, 3, 3, 3);
        v[2] = OUT(DIO_DTYPE_F32, 1, 8, 4, 4);
        neg_run(c, v, 2, v + 2, 1, &p);
    }
    if (neg_begin(c, R, DIO_OP_CONV3D, "output extent does not match the params")) {
        dio_conv_params p = {sizeof(p), {1, 1, 1}, {0, 0, 0}, {0, 0, 0}, {1, 1, 1}, 1};
        v[0] = IN(DIO_DTYPE_F32, 1, 4, 3, 6, 6);
        v[1] = IN(DIO_DTYPE_F32, 8, 4, 3, 3, 3);
        v[2] = OUT(DIO_DTYPE_F32, 1, 8, 1, 5, 4);
        neg_run(c, v, 2, v + 2, 1, &p);
    }
    if (neg_begin(c, R, DIO_OP_CONV2D, "a cache input")) {
        dio_conv_params p = {sizeof(p), {1, 1, 1}, {0, 0, 0}, {0, 0, 0}, {1, 1, 1}, 1};
        v[0] = IN(DIO_DTYPE_F32, 1, 4, 6, 6);
        v[1] = IN(DIO_DTYPE_F32, 8, 4, 3, 3);
        v[2] = NULL;
        v[3] = IN(DIO_DTYPE_F32, 1, 4, 2, 6);
        v[4] = OUT(DIO_DTYPE_F32, 1, 8, 4, 4);
        neg_run(c, v, 4, v + 4, 1, &p);
    }
    if (neg_begin(c, R, DIO_OP_CONCAT, "other dims differ")) {
        dio_concat_params p = {sizeof(p), 0};
        v[0] = IN(DIO_DTYPE_F32, 2, 5);
        v[1] = IN(DIO_DTYPE_F32, 3, 6);
        v[2] = OUT(DIO_DTYPE_F32, 5, 5);
        neg_run(c, v, 2, v + 2, 1, &p);
    }
    if (neg_begin(c, R, DIO_OP_PERMUTE, "perm with a repeated axis")) {
        dio_permute_params p = {sizeof(p), {0, 0, 1, 0, 0, 0}};
        v[0] = IN(DIO_DTYPE_F32, 4, 4, 4);
        v[1] = OUT(DIO_DTYPE_F32, 4, 4, 4);
        neg_run(c, v, 1, v + 1, 1, &p);
    }
    if (neg_begin(c, R, DIO_OP_PATCHIFY, "T not divisible by pt")) {
        dio_patch_params p = {sizeof(p), {2, 2, 2}, 0};
        v[0] = IN(DIO_DTYPE_F32, 1, 4, 3, 4, 4);
        v[1] = OUT(DIO_DTYPE_F32, 1, 1, 2, 2, 32);
        neg_run(c, v, 1, v + 1, 1, &p);
    }
    if (neg_begin(c, R, DIO_OP_UPSAMPLE_NEAREST, "non-integer factor")) {
        v[0] = IN(DIO_DTYPE_F32, 1, 2, 3, 4);
        v[1] = OUT(DIO_DTYPE_F32, 1, 2, 5, 8);
        neg_run(c, v, 1, v + 1, 1, NULL);
    }
    if (neg_begin(c, R, DIO_OP_SLICE, "indices outside x")) {
        dio_slice_params p;
        memset(&p, 0, sizeof(p));
        p.struct_size = sizeof(p);
        for (int d = 0; d < DIO_MAX_DIMS; d++) p.step[d] = 1;
        p.start[1] = 5;
        p.step[1] = 3; /* 5, 8, 11: the last is outside x's 10 columns */
        v[0] = IN(DIO_DTYPE_F32, 4, 10);
        v[1] = OUT(DIO_DTYPE_F32, 4, 3);
        neg_run(c, v, 1, v + 1, 1, &p);
    }
    if (neg_begin(c, R, DIO_OP_SLICE, "step 0")) {
        dio_slice_params p;
        memset(&p, 0, sizeof(p));
        p.struct_size = sizeof(p);
        v[0] = IN(DIO_DTYPE_F32, 4, 10);
        v[1] = OUT(DIO_DTYPE_F32, 2, 3);
        neg_run(c, v, 1, v + 1, 1, &p);
    }
    if (neg_begin(c, R, DIO_OP_ROPE, "odd R")) {
        dio_rope_params p = {sizeof(p), 0};
        v[0] = IN(DIO_DTYPE_F32, 1, 4, 2, 16);
        v[1] = IN(DIO_DTYPE_F32, 4, 7);
        v[2] = IN(DIO_DTYPE_F32, 4, 7);
        v[3] = OUT(DIO_DTYPE_F32, 1, 4, 2, 16);
        neg_run(c, v, 3, v + 3, 1, &p);
    }
    if (neg_begin(c, R, DIO_OP_ROPE, "R > D")) {
        dio_rope_params p = {sizeof(p), 0};
        v[0] = IN(DIO_DTYPE_F32, 1, 4, 2, 16);
        v[1] = IN(DIO_DTYPE_F32, 4, 18);
        v[2] = IN(DIO_DTYPE_F32, 4, 18);
        v[3] = OUT(DIO_DTYPE_F32, 1, 4, 2, 16);
        neg_run(c, v, 3, v + 3, 1, &p);
    }
    if (neg_begin(c, R, DIO_OP_GATED_RESIDUAL, "L not a multiple of G")) {
        v[0] = IN(DIO_DTYPE_F32, 1, 10, 8);
        v[1] = IN(DIO_DTYPE_F32, 1, 10, 8);
        v[2] = IN(DIO_DTYPE_F32, 1, 3, 8);
        v[3] = OUT(DIO_DTYPE_F32, 1, 10, 8);
        neg_run(c, v, 3, v + 3, 1, NULL);
    }
    if (neg_begin(c, R, DIO_OP_GATHER, "f32 ids")) {
        v[0] = IN(DIO_DTYPE_F32, 10, 8);
        v[1] = IN(DIO_DTYPE_F32, 4);
        v[2] = OUT(DIO_DTYPE_F32, 4, 8);
        neg_run(c, v, 2, v + 2, 1, NULL);
    }
    if (neg_begin(c, R, DIO_OP_GELU, "ndim 7")) {
        dio_gelu_params p = {sizeof(p), 0};
        v[0] = IN(DIO_DTYPE_F32, 4, 5);
        v[1] = OUT(DIO_DTYPE_F32, 4, 5);
        v[0]->t.ndim = 7;
        neg_run(c, v, 1, v + 1, 1, &p);
    }
    if (neg_begin(c, R, DIO_OP_SILU, "unknown dtype 99")) {
        v[0] = IN(DIO_DTYPE_F32, 4, 5);
        v[1] = OUT(DIO_DTYPE_F32, 4, 5);
        v[0]->t.dtype = 99;
        neg_run(c, v, 1, v + 1, 1, NULL);
    }
    if (neg_begin(c, R, DIO_OP_SILU, "input without a buffer")) {
        v[0] = IN(DIO_DTYPE_F32, 4, 5);
        v[1] = OUT(DIO_DTYPE_F32, 4, 5);
        v[0]->no_buffer = 1;
        neg_run(c, v, 1, v + 1, 1, NULL);
    }
    if (neg_begin(c, R, 9999, "unknown op id 9999")) {
        c->expect_status = DIO_ERR_NOT_SUPPORTED;
        v[0] = IN(DIO_DTYPE_F32, 4, 5);
        v[1] = OUT(DIO_DTYPE_F32, 4, 5);
        neg_run(c, v, 1, v + 1, 1, NULL);
    }
    if (neg_begin(c, R, -1, "op id -1")) {
        c->expect_status = DIO_ERR_NOT_SUPPORTED;
        v[0] = IN(DIO_DTYPE_F32, 4, 5);
        v[1] = OUT(DIO_DTYPE_F32, 4, 5);
        neg_run(c, v, 1, v + 1, 1, NULL);
    }
}

/* ---------------------------------------------------------------------------------------------- */
/* dio_backend_probe_op (libdiorama): answers OK or NOT_SUPPORTED with a reason, never anything else */

static void t_probe(runner *R)
{
    static const int32_t odd[3] = {DIO_DTYPE_I64, DIO_DTYPE_F8E4M3, 99};
    dio_status st;
    if (R->only_op) return;
    for (int op = 0; op < DIO_OP_COUNT_1_0; op++)
        for (int k = 0; k < 6; k++) {
            int32_t dt = k < 3 ? act_dtypes[k] : odd[k - 3];
            dio_clear_error();
            st = dio_backend_probe_op(R->be, op, dt);
            if (st != DIO_OK && (st != DIO_ERR_NOT_SUPPORTED || !dio_last_error()[0])) {
                printf("FAIL probe %s %s: %s \"%s\" (expected OK, or NOT_SUPPORTED with a reason)\n",
                       dio_op_name(op), dio_dtype_name(dt), dio_status_name(st), dio_last_error());
                R->probe_fail++;
            } else if (R->verbose && k < 3) {
                printf("ok   probe %s %s: %s %s\n", dio_op_name(op), dio_dtype_name(dt), dio_status_name(st),
                       st == DIO_OK ? "" : dio_last_error());
            }
        }
    if ((st = dio_backend_probe_op(R->be, 9999, DIO_DTYPE_F32)) != DIO_ERR_NOT_SUPPORTED ||
        !dio_last_error()[0]) {
        printf("FAIL probe op 9999: %s, expected NOT_SUPPORTED with a reason\n", dio_status_name(st));
        R->probe_fail++;
    }
    if ((st = dio_backend_probe_op(NULL, DIO_OP_ADD, DIO_DTYPE_F32)) != DIO_ERR_INVALID_ARGUMENT) {
        printf("FAIL probe NULL backend: %s, expected INVALID_ARGUMENT\n", dio_status_name(st));
        R->probe_fail++;
    }
}

/* ---------------------------------------------------------------------------------------------- */
/* driver                                                                                         */

static void run_all(runner *R)
{
    t_matmul(R);
    t_attention(R);
    t_norm(R, DIO_OP_LAYERNORM);
    t_norm(R, DIO_OP_RMSNORM);
    t_modulate(R, DIO_OP_ADALN_MODULATE);
    t_modulate(R, DIO_OP_GATED_RESIDUAL);
    t_rope(R);
    t_activation(R, DIO_OP_GELU);
    t_activation(R, DIO_OP_SILU);
    t_activation(R, DIO_OP_SWIGLU);
    t_conv(R, DIO_OP_CONV3D);
    t_conv(R, DIO_OP_CONV2D);
    t_channel_rmsnorm(R);
    t_upsample(R);
    t_softmax(R);
    t_binary(R, DIO_OP_ADD);
    t_binary(R, DIO_OP_MUL);
    t_axpby(R);
    t_clamp(R);
    t_gather(R);
    t_copy(R);
    t_concat(R);
    t_slice(R);
    t_permute(R);
    t_patch(R, DIO_OP_PATCHIFY);
    t_patch(R, DIO_OP_UNPATCHIFY);
    t_negative(R);
    t_probe(R);
}

static void print_matrix(const runner *R)
{
    printf("\n== %s: op x dtype: ok N [worst rel err] = all N cases passed; +k n/s = k not supported; FAIL "
           "f/n\n",
           R->be_name);
    printf("%-18s", "op");
    for (int k = 0; k < COLS; k++) printf(" %-16s", col_names[k]);
    printf("\n");
    for (int op = 0; op < DIO_OP_COUNT_1_0; op++) {
        if (R->only_op && strcmp(R->only_op, dio_op_name(op)) != 0) continue;
        printf("%-18s", dio_op_name(op));
        for (int k = 0; k < COLS; k++) {
            const op_stats *s = &R->st[op][k];
            char cell[48];
            int n = s->ok + s->fail + s->ns;
            if (!n)
                snprintf(cell, sizeof(cell), "-");
            else if (s->fail)
                snprintf(cell, sizeof(cell), "FAIL %d/%d", s->fail, n);
            else if (!s->ok)
                snprintf(cell, sizeof(cell), "n/s");
            else if (s->ns)
                snprintf(cell, sizeof(cell), "ok %d +%d n/s %.0e", s->ok, s->ns, s->worst);
            else if (s->worst > 0)
                snprintf(cell, sizeof(cell), "ok %d %.0e", s->ok, s->worst);
            else
                snprintf(cell, sizeof(cell), "ok %d exact", s->ok);
            printf(" %-16s", cell);
        }
        printf("\n");
    }
    printf("%s: %d cases ok, %d FAILED, %d not supported; negative cases: %d ok, %d FAILED; probe_op: %d "
           "FAILED\n",
           R->be_name, R->n_ok, R->n_fail, R->n_ns, R->neg_ok, R->neg_fail, R->probe_fail);
}

static void usage(void)
{
    fprintf(stderr, "usage: test_ops --plugin-dir DIR [--plugin-dir DIR ...] [--backend NAME] [--op NAME]\n"
                    "                [--option key=value ...] [-v]\n"
                    "DIO_TEST_SEED=<n> reproduces a run's random inputs.\n");
}

int main(int argc, char **argv)
{
    const char *dirs[16], *only_backend = NULL, *only_op = NULL;
    dio_kv opts[16];
    char optbuf[16][256];
    size_t n_dirs = 0, n_opts = 0;
    int verbose = 0, failures = 0, n_run = 0, n_skipped = 0;
    uint64_t seed;
    const char *env_seed = getenv("DIO_TEST_SEED");
    dio_context_options co;
    dio_context *ctx = NULL;
    dio_status st;
    struct timespec t0;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--plugin-dir") && i + 1 < argc && n_dirs < 16)
            dirs[n_dirs++] = argv[++i];
        else if (!strcmp(argv[i], "--backend") && i + 1 < argc)
            only_backend = argv[++i];
        else if (!strcmp(argv[i], "--op") && i + 1 < argc)
            only_op = argv[++i];
        else if (!strcmp(argv[i], "--option") && i + 1 < argc && n_opts < 16) {
            char *eq;
            snprintf(optbuf[n_opts], sizeof(optbuf[n_opts]), "%s", argv[++i]);
            eq = strchr(optbuf[n_opts], '=');
            if (!eq) {
                usage();
                return 2;
            }
            *eq = 0;
            opts[n_opts].key = optbuf[n_opts];
            opts[n_opts].value = eq + 1;
            n_opts++;
        } else if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose"))
            verbose = 1;
        else {
            usage();
            return 2;
        }
    }
    if (!n_dirs) {
        usage();
        return 2;
    }
    if (only_op) {
        int known = 0;
        for (int op = 0; op < DIO_OP_COUNT_1_0; op++) known |= !strcmp(only_op, dio_op_name(op));
        if (!known) {
            fprintf(stderr, "test_ops: unknown op \"%s\"\n", only_op);
            return 2;
        }
    }
    clock_gettime(CLOCK_REALTIME, &t0);
    seed = env_seed && *env_seed
               ? strtoull(env_seed, NULL, 0)
               : (uint64_t)t0.tv_sec * 1000003u ^ (uint64_t)t0.tv_nsec ^ ((uint64_t)getpid() << 32);
    seed &= 0xffffffffffffull; /* short enough to retype */
    printf("seed %" PRIu64 " (DIO_TEST_SEED=%" PRIu64 " reproduces this run)\n", seed, seed);

    memset(&co, 0, sizeof(co));
    co.struct_size = (uint32_t)sizeof(co);
    co.no_env = 1;
    co.no_default_dirs = 1;
    co.plugin_dirs = dirs;
    co.n_plugin_dirs = n_dirs;
    if ((st = dio_context_create(&co, &ctx)) != DIO_OK) {
        fprintf(stderr, "test_ops: dio_context_create: %s: %s\n", dio_status_name(st), dio_last_error());
        return 2;
    }
    for (int32_t i = 0; i < dio_context_plugin_count(ctx); i++) {
        dio_plugin_info info;
        memset(&info, 0, sizeof(info));
        info.struct_size = (uint32_t)sizeof(info);
        if (dio_context_plugin_at(ctx, i, &info) != DIO_OK) continue;
        if (!info.accepted) {
            printf("plugin %s: refused: %s\n", info.path ? info.path : "?",
                   info.refusal ? info.refusal : "?");
            continue;
        }
        if (info.kind != DIO_PLUGIN_BACKEND) continue;
        if (only_backend && strcmp(only_backend, info.name)) continue;
        {
            runner *R = xcalloc(1, sizeof(*R));
            struct timespec a, b;
            R->be_name = info.name;
            R->seed = seed;
            R->only_op = only_op;
            R->verbose = verbose;
            printf("\n== backend %s %s (%s)\n", info.name, info.version ? info.version : "",
                   info.path ? info.path : "");
            n_run++;
            if ((st = dio_backend_open(ctx, info.name, opts, n_opts, &R->be)) != DIO_OK) {
                if (st == DIO_ERR_NOT_SUPPORTED && strstr(dio_last_error(), ": no device")) {
                    printf("SKIPPED backend %s: %s\n", info.name, dio_last_error());
                    if (only_backend) printf("SKIPPED: no %s device\n", info.name);
                    n_run--;
                    n_skipped++;
                    free(R);
                    continue;
                }
                printf("FAIL backend %s: dio_backend_open: %s: %s\n", info.name, dio_status_name(st),
                       dio_last_error());
                failures++;
                free(R);
                continue;
            }
            R->ref = dio_backend_get_ref(R->be, 0);
            R->stream = dio_backend_default_stream(R->be);
            if (!R->ref.iface || !R->stream) {
                printf("FAIL backend %s: no iface or default stream\n", info.name);
                failures++;
            } else {
                clock_gettime(CLOCK_MONOTONIC, &a);
                run_all(R);
                clock_gettime(CLOCK_MONOTONIC, &b);
                print_matrix(R);
                printf("%s: %.1f s\n", info.name,
                       (double)(b.tv_sec - a.tv_sec) + 1e-9 * (double)(b.tv_nsec - a.tv_nsec));
                failures += R->n_fail + R->neg_fail + R->probe_fail;
            }
            dio_backend_close(R->be);
            free(R);
        }
    }
    dio_context_destroy(ctx);
    if (!n_run && n_skipped && only_backend) return 77; /* ctest SKIP_RETURN_CODE: the device is absent */
    if (!n_run) {
        printf("FAIL: no backend plugin %s%s found in the plugin directories\n", only_backend ? "named " : "",
               only_backend ? only_backend : "");
        return 1;
    }
    printf("\nseed %" PRIu64 ": %s\n", seed, failures ? "FAILED" : "all passed");
    return failures ? 1 : 0;
}

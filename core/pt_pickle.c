/* diorama — PyTorch checkpoints: a restricted unpickler for <archive>/data.pkl and the flattening of
 * the object it describes into named tensors.
 *
 * torch.save pickles a (nested) dict of tensors; each tensor is a call of a rebuild function on a
 * storage that the pickle names by a persistent id and whose bytes are the zip record
 * <archive>/data/<key>. This file runs a pickle machine written from the opcode specification that
 * only builds plain values; no callable in a file is ever called.
 *
 * Design choices:
 * - Opcodes: PROTO (2..5), FRAME, MARK, STOP, the empty dict/list/tuple, TUPLE/TUPLE1/2/3, BININT/1/2,
 *   LONG1/LONG4 (up to 64 bits), BINFLOAT, NONE/NEWTRUE/NEWFALSE, (SHORT_)BINUNICODE(8) (UTF-8, no NUL),
 *   BINPUT/LONG_BINPUT/MEMOIZE/BINGET/LONG_BINGET, SETITEM(S), APPEND(S), GLOBAL/STACK_GLOBAL, REDUCE,
 *   BUILD, BINPERSID. Anything else is BAD_FORMAT naming the opcode and its offset.
 * - GLOBAL resolves only names on an allow-list to inert markers: collections.OrderedDict (REDUCE with
 *   no arguments makes a dict), torch._utils._rebuild_tensor_v2/_v3 (REDUCE makes a tensor record from
 *   its arguments), torch._utils._rebuild_parameter (yields its tensor), the storage classes
 *   (torch.FloatStorage ..., torch.storage.UntypedStorage) and the torch dtypes (torch.float8_e4m3fn
 *   ...), usable only inside a persistent id or as a _v3 dtype. Any other global is refused naming it.
 *   BUILD is accepted on a dict or a tensor and its state ignored (state_dict()'s _metadata).
 * - A persistent id must be ('storage', storage class, key, location, numel) and name an existing
 *   record whose size is numel elements (numel bytes for UntypedStorage); the key is a plain name
 *   (letters, digits, '_', '-', '.', not starting with '.'), so it cannot alias another zip entry.
 * - Hostile files: data.pkl at most 32 MiB with a correct CRC, at most 2^22 objects, 2^20 stack
 *   entries, 4096 open MARKs, memo indices below 2^22, 2^24 container items; nesting deeper than 64
 *   levels, a container inside itself and sharing that would multiply the walk are refused; at most
 *   2^20 tensors and values of paths up to 4096 bytes, 64 MiB of paths in all, reach the sink.
 * - Flattening: the root must be a dict; each tensor is exposed under the dotted path of its dict keys
 *   (str or int) and list/tuple indices ("model.net.blocks.0.mlp.layer1.weight"). Plain values (str,
 *   int, float, bool, None) go to the sink as metadata text under their path; other values (bare
 *   storages, dtypes) are ignored, and so are entries with other key types whose value is plain.
 * - Tensors: storage offset, sizes and strides are non-negative integers; every element lies inside
 *   the record (checked without overflow). A contiguous row-major tensor points into the mapping
 *   (zero-copy); any other layout (a transpose, an expand) is gathered into a malloc'd copy, at most as
 *   many bytes in all as the file holds. Tensors of dtypes diorama lacks (float64, bool, int8, int16,
 *   complex, other fp8 variants, uint16/32/64) are checked the same way, then left out with an INFO
 *   log line. At most 6 dimensions.
 * - Errors go through dio_set_error naming the file and the opcode, global, key or tensor; one cleanup
 *   path per function; nothing is exposed unless the whole file passed. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pt_internal.h"

#define PK_MAX_PICKLE ((uint64_t)32 << 20)
#define PK_MAX_NODES (1u << 22)
#define PK_MAX_STACK (1u << 20)
#define PK_MAX_MARKS 4096u
#define PK_MAX_MEMO (1u << 22)
#define PK_MAX_ITEMS ((uint64_t)1 << 24)
#define PK_MAX_DEPTH 64
#define PK_MAX_NAME 4096u
#define PK_MAX_GLOBAL_LINE 256u
#define PK_MAX_OUT (1u << 20)                 /* tensors and values handed to the sink */
#define PK_MAX_OUT_BYTES ((uint64_t)64 << 20) /* bytes of their names */

#if defined(__GNUC__)
#define PK_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define PK_PRINTF(a, b)
#endif

/* ---- the allow-list ---- */

typedef enum pk_gkind {
    G_ODICT,         /* collections.OrderedDict */
    G_REBUILD_V2,    /* torch._utils._rebuild_tensor_v2 */
    G_REBUILD_V3,    /* torch._utils._rebuild_tensor_v3 */
    G_REBUILD_PARAM, /* torch._utils._rebuild_parameter */
    G_UNTYPED,       /* torch.storage.UntypedStorage */
    G_STORAGE,       /* a typed storage class */
    G_DTYPE,         /* a torch dtype */
} pk_gkind;

typedef struct pk_global {
    const char *module, *name;
    pk_gkind kind;
    int32_t dtype; /* dio_dtype, or -1 when diorama lacks it */
    uint32_t esize;
} pk_global;

static const pk_global k_globals[] = {
    {"collections", "OrderedDict", G_ODICT, -1, 0},
    {"torch._utils", "_rebuild_tensor_v2", G_REBUILD_V2, -1, 0},
    {"torch._utils", "_rebuild_tensor_v3", G_REBUILD_V3, -1, 0},
    {"torch._utils", "_rebuild_parameter", G_REBUILD_PARAM, -1, 0},
    {"torch.storage", "UntypedStorage", G_UNTYPED, -1, 1},
    {"torch", "FloatStorage", G_STORAGE, DIO_DTYPE_F32, 4},
    {"torch", "HalfStorage", G_STORAGE, DIO_DTYPE_F16, 2},
    {"torch", "BFloat16Storage", G_STORAGE, DIO_DTYPE_BF16, 2},
    {"torch", "IntStorage", G_STORAGE, DIO_DTYPE_I32, 4},
    {"torch", "LongStorage", G_STORAGE, DIO_DTYPE_I64, 8},
    {"torch", "ByteStorage", G_STORAGE, DIO_DTYPE_U8, 1},
    {"torch", "CharStorage", G_STORAGE, -1, 1},
    {"torch", "ShortStorage", G_STORAGE, -1, 2},
    {"torch", "DoubleStorage", G_STORAGE, -1, 8},
    {"torch", "BoolStorage", G_STORAGE, -1, 1},
    {"torch", "ComplexFloatStorage", G_STORAGE, -1, 8},
    {"torch", "ComplexDoubleStorage", G_STORAGE, -1, 16},
    {"torch", "float32", G_DTYPE, DIO_DTYPE_F32, 4},
    {"torch", "float16", G_DTYPE, DIO_DTYPE_F16, 2},
    {"torch", "bfloat16", G_DTYPE, DIO_DTYPE_BF16, 2},
    {"torch", "int32", G_DTYPE, DIO_DTYPE_I32, 4},
    {"torch", "int64", G_DTYPE, DIO_DTYPE_I64, 8},
    {"torch", "uint8", G_DTYPE, DIO_DTYPE_U8, 1},
    {"torch", "float8_e4m3fn", G_DTYPE, DIO_DTYPE_F8E4M3, 1},
    {"torch", "float8_e5m2", G_DTYPE, DIO_DTYPE_F8E5M2, 1},
    {"torch", "float8_e4m3fnuz", G_DTYPE, -1, 1},
    {"torch", "float8_e5m2fnuz", G_DTYPE, -1, 1},
    {"torch", "float8_e8m0fnu", G_DTYPE, -1, 1},
    {"torch", "int8", G_DTYPE, -1, 1},
    {"torch", "int16", G_DTYPE, -1, 2},
    {"torch", "uint16", G_DTYPE, -1, 2},
    {"torch", "uint32", G_DTYPE, -1, 4},
    {"torch", "uint64", G_DTYPE, -1, 8},
    {"torch", "float64", G_DTYPE, -1, 8},
    {"torch", "bool", G_DTYPE, -1, 1},
    {"torch", "complex32", G_DTYPE, -1, 4},
    {"torch", "complex64", G_DTYPE, -1, 8},
    {"torch", "complex128", G_DTYPE, -1, 16},
};
#define PK_N_GLOBALS (sizeof k_globals / sizeof k_globals[0])

/* ---- opcode names, for messages ---- */

static const char *pk_op_name(unsigned op)
{
    switch (op) {
    case 0x80: return "PROTO";
    case 0x95: return "FRAME";
    case '(': return "MARK";
    case '.': return "STOP";
    case '}': return "EMPTY_DICT";
    case ']': return "EMPTY_LIST";
    case ')': return "EMPTY_TUPLE";
    case 't': return "TUPLE";
    case 0x85: return "TUPLE1";
    case 0x86: return "TUPLE2";
    case 0x87: return "TUPLE3";
    case 'J': return "BININT";
    case 'K': return "BININT1";
    case 'M': return "BININT2";
    case 0x8a: return "LONG1";
    case 0x8b: return "LONG4";
    case 'G': return "BINFLOAT";
    case 'N': return "NONE";
    case 0x88: return "NEWTRUE";
    case 0x89: return "NEWFALSE";
    case 'X': return "BINUNICODE";
    case 0x8c: return "SHORT_BINUNICODE";
    case 0x8d: return "BINUNICODE8";
    case 'q': return "BINPUT";
    case 'r': return "LONG_BINPUT";
    case 0x94: return "MEMOIZE";
    case 'h': return "BINGET";
    case 'j': return "LONG_BINGET";
    case 's': return "SETITEM";
    case 'u': return "SETITEMS";
    case 'a': return "APPEND";
    case 'e': return "APPENDS";
    case 'c': return "GLOBAL";
    case 0x93: return "STACK_GLOBAL";
    case 'R': return "REDUCE";
    case 'b': return "BUILD";
    case 'Q': return "BINPERSID";
    /* refused ones, named so the message says what was met */
    case 'P': return "PERSID";
    case 'i': return "INST";
    case 'o': return "OBJ";
    case 0x81: return "NEWOBJ";
    case 0x92: return "NEWOBJ_EX";
    case 0x82: return "EXT1";
    case 0x83: return "EXT2";
    case 0x84: return "EXT4";
    case '0': return "POP";
    case '1': return "POP_MARK";
    case '2': return "DUP";
    case 'g': return "GET";
    case 'p': return "PUT";
    case 'd': return "DICT";
    case 'l': return "LIST";
    case 'I': return "INT";
    case 'L': return "LONG";
    case 'F': return "FLOAT";
    case 'S': return "STRING";
    case 'T': return "BINSTRING";
    case 'U': return "SHORT_BINSTRING";
    case 'V': return "UNICODE";
    case 'B': return "BINBYTES";
    case 'C': return "SHORT_BINBYTES";
    case 0x8e: return "BINBYTES8";
    case 0x8f: return "EMPTY_SET";
    case 0x90: return "ADDITEMS";
    case 0x91: return "FROZENSET";
    case 0x96: return "BYTEARRAY8";
    case 0x97: return "NEXT_BUFFER";
    case 0x98: return "READONLY_BUFFER";
    default: return "unknown opcode";
    }
}

/* ---- the machine ---- */

typedef enum pk_kind {
    PK_NONE,
    PK_BOOL,
    PK_INT,
    PK_FLOAT,
    PK_STR,
    PK_TUPLE,
    PK_LIST,
    PK_DICT,
    PK_GLOBAL,
    PK_STORAGE,
    PK_TENSOR,
} pk_kind;

static const char *const k_kind_names[] = {"None", "bool", "int",    "float",   "str",   "tuple",
                                           "list", "dict", "global", "storage", "tensor"};

typedef struct pk_node {
    uint8_t kind;
    uint8_t busy; /* on the walk's current path */
    uint32_t at;  /* byte of data.pkl whose opcode made it */
    union {
        int64_t i; /* INT, BOOL */
        double f;
        struct {
            uint32_t off, len; /* bytes of data.pkl */
        } s;
        struct {
            uint32_t *v; /* items; a dict holds key, value, key, value ... */
            uint32_t n, cap;
        } seq;
        uint32_t g; /* GLOBAL: index in k_globals */
        struct {
            uint32_t entry; /* index in the zip's entries */
            uint32_t g;     /* storage class */
            uint64_t nbytes;
        } sto;
        struct {
            uint32_t args; /* the argument tuple of the rebuild call */
            uint32_t g;    /* _rebuild_tensor_v2 or _v3 */
        } ten;
    } u;
} pk_node;

/* Nodes 0, 1, 2 are None, False, True. */
enum { PK_ID_NONE = 0, PK_ID_FALSE = 1, PK_ID_TRUE = 2 };

typedef struct pk_machine {
    const char *path;
    const unsigned char *base; /* the mapped file */
    uint64_t file_size;
    const pt_zip *zip;
    const char *prefix; /* the archive name */
    size_t prefix_len;
    const unsigned char *p; /* data.pkl */
    size_t n;
    uint64_t p_offset; /* of data.pkl in the file */
    pk_node *nodes;
    uint32_t n_nodes, cap_nodes;
    uint32_t *stack;
    uint32_t sp, cap_stack;
    uint32_t *marks;
    uint32_t n_marks;
    uint32_t *memo; /* node id + 1; 0 when unset */
    uint32_t cap_memo, memo_len;
    uint64_t items;
    char *record; /* scratch for record names */
    /* the walk */
    char *name;
    uint64_t visits, visit_budget, copied, n_out, out_bytes;
    uint64_t n_skipped;
    char first_skipped[160];
    const char *first_skipped_dtype;
} pk_machine;

static dio_status pk_fail(const pk_machine *m, size_t at, const char *fmt, ...) PK_PRINTF(3, 4);

static dio_status pk_fail(const pk_machine *m, size_t at, const char *fmt, ...)
{
    char what[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return dio_set_error(DIO_ERR_BAD_FORMAT,
                         "checkpoint '%s': %s (data.pkl byte %zu, file offset %" PRIu64 ")", m->path, what,
                         at, m->p_offset + at);
}

static dio_status pk_oom(const pk_machine *m)
{
    return dio_set_error(DIO_ERR_OUT_OF_HOST_MEMORY, "checkpoint '%s': out of memory reading data.pkl",
                         m->path);
}

/* Copies up to `n` bytes into buf as printable ASCII ('?' for anything else). */
static const char *pk_printable(char *buf, size_t size, const unsigned char *s, size_t n)
{
    size_t k = 0;
    for (; k < n && k + 1 < size; k++) buf[k] = (s[k] >= 0x20 && s[k] < 0x7f) ? (char)s[k] : '?';
    buf[k] = '\0';
    return buf;
}

static dio_status pk_new(pk_machine *m, size_t at, pk_kind kind, uint32_t *id)
{
    if (m->n_nodes == m->cap_nodes) {
        uint32_t cap = m->cap_nodes ? m->cap_nodes * 2 : 256;
        if (m->cap_nodes >= PK_MAX_NODES)
            return pk_fail(m, at, "more than %u objects", (unsigned)PK_MAX_NODES);
        if (cap > PK_MAX_NODES) cap = PK_MAX_NODES;
        pk_node *grown = realloc(m->nodes, (size_t)cap * sizeof *grown);
        if (!grown) return pk_oom(m);
        m->nodes = grown;
        m->cap_nodes = cap;
    }
    pk_node *nd = &m->nodes[m->n_nodes];
    memset(nd, 0, sizeof *nd);
    nd->kind = (uint8_t)kind;
    nd->at = (uint32_t)at;
    *id = m->n_nodes++;
    return DIO_OK;
}

static dio_status pk_push(pk_machine *m, size_t at, uint32_t id)
{
    if (m->sp == m->cap_stack) {
        uint32_t cap = m->cap_stack ? m->cap_stack * 2 : 256;
        if (m->cap_stack >= PK_MAX_STACK)
            return pk_fail(m, at, "the stack grows past %u entries", (unsigned)PK_MAX_STACK);
        if (cap > PK_MAX_STACK) cap = PK_MAX_STACK;
        uint32_t *grown = realloc(m->stack, (size_t)cap * sizeof *grown);
        if (!grown) return pk_oom(m);
        m->stack = grown;
        m->cap_stack = cap;
    }
    m->stack[m->sp++] = id;
    return DIO_OK;
}

/* Stack entries above the innermost MARK. */
static uint32_t pk_avail(const pk_machine *m)
{
    return m->sp - (m->n_marks ? m->marks[m->n_marks - 1] : 0);
}

static dio_status pk_pop(pk_machine *m, size_t at, unsigned op, uint32_t *id)
{
    if (pk_avail(m) == 0) return pk_fail(m, at, "%s finds the stack empty", pk_op_name(op));
    *id = m->stack[--m->sp];
    return DIO_OK;
}

static dio_status pk_pop_mark(pk_machine *m, size_t at, unsigned op, uint32_t *mark)
{
    if (m->n_marks == 0) return pk_fail(m, at, "%s without a MARK", pk_op_name(op));
    *mark = m->marks[--m->n_marks];
    return DIO_OK;
}

static dio_status pk_add_item(pk_machine *m, size_t at, uint32_t into, uint32_t item)
{
    pk_node *c = &m->nodes[into];
    if (m->items >= PK_MAX_ITEMS)
        return pk_fail(m, at, "more than %" PRIu64 " container items", (uint64_t)PK_MAX_ITEMS);
    if (c->u.seq.n == c->u.seq.cap) {
        uint32_t cap = c->u.seq.cap ? c->u.seq.cap * 2 : 4;
        uint32_t *grown = realloc(c->u.seq.v, (size_t)cap * sizeof *grown);
        if (!grown) return pk_oom(m);
        c->u.seq.v = grown;
        c->u.seq.cap = cap;
    }
    c->u.seq.v[c->u.seq.n++] = item;
    m->items++;
    return DIO_OK;
}

/* A tuple of the `count` topmost stack entries (they are popped). */
static dio_status pk_make_tuple(pk_machine *m, size_t at, uint32_t from)
{
    dio_status st;
    uint32_t id = 0, count = m->sp - from;
    st = pk_new(m, at, PK_TUPLE, &id);
    if (st != DIO_OK) return st;
    if (count) {
        if (m->items + count > PK_MAX_ITEMS)
            return pk_fail(m, at, "more than %" PRIu64 " container items", (uint64_t)PK_MAX_ITEMS);
        m->nodes[id].u.seq.v = malloc((size_t)count * sizeof(uint32_t));
        if (!m->nodes[id].u.seq.v) return pk_oom(m);
        memcpy(m->nodes[id].u.seq.v, m->stack + from, (size_t)count * sizeof(uint32_t));
        m->nodes[id].u.seq.n = m->nodes[id].u.seq.cap = count;
        m->items += count;
    }
    m->sp = from;
    return pk_push(m, at, id);
}

static int pk_str_is(const pk_machine *m, uint32_t id, const char *s)
{
    const pk_node *nd = &m->nodes[id];
    size_t len = strlen(s);
    return nd->kind == PK_STR && nd->u.s.len == len && memcmp(m->p + nd->u.s.off, s, len) == 0;
}

static dio_status pk_resolve(pk_machine *m, size_t at, const unsigned char *mod, size_t mod_len,
                             const unsigned char *name, size_t name_len)
{
    dio_status st;
    char a[PK_MAX_GLOBAL_LINE + 1], b[PK_MAX_GLOBAL_LINE + 1];
    for (uint32_t g = 0; g < PK_N_GLOBALS; g++) {
        if (strlen(k_globals[g].module) == mod_len && memcmp(k_globals[g].module, mod, mod_len) == 0 &&
            strlen(k_globals[g].name) == name_len && memcmp(k_globals[g].name, name, name_len) == 0) {
            uint32_t id = 0;
            st = pk_new(m, at, PK_GLOBAL, &id);
            if (st != DIO_OK) return st;
            m->nodes[id].u.g = g;
            return pk_push(m, at, id);
        }
    }
    return pk_fail(m, at,
                   "global '%s %s' is not on the allow-list (nothing in a checkpoint is executed; only "
                   "torch tensors, storages, dtypes and dicts are rebuilt)",
                   pk_printable(a, sizeof a, mod, mod_len), pk_printable(b, sizeof b, name, name_len));
}

static dio_status pk_reduce(pk_machine *m, size_t at)
{
    dio_status st;
    uint32_t args = 0, fn = 0, id = 0;
    st = pk_pop(m, at, 'R', &args);
    if (st != DIO_OK) return st;
    st = pk_pop(m, at, 'R', &fn);
    if (st != DIO_OK) return st;
    const pk_node *f = &m->nodes[fn], *a = &m->nodes[args];
    if (f->kind != PK_GLOBAL)
        return pk_fail(m, at, "REDUCE calls a %s, not an allowed global", k_kind_names[f->kind]);
    const pk_global *g = &k_globals[f->u.g];
    const uint32_t fn_global = f->u.g; /* f and a point into m->nodes, which pk_new may move */
    if (a->kind != PK_TUPLE)
        return pk_fail(m, at, "REDUCE of '%s %s' with a %s of arguments, not a tuple", g->module, g->name,
                       k_kind_names[a->kind]);
    switch (g->kind) {
    case G_ODICT:
        if (a->u.seq.n != 0)
            return pk_fail(m, at, "REDUCE of 'collections OrderedDict' with %u arguments; only () is read",
                           (unsigned)a->u.seq.n);
        st = pk_new(m, at, PK_DICT, &id);
        if (st != DIO_OK) return st;
        return pk_push(m, at, id);
    case G_REBUILD_V2:
    case G_REBUILD_V3: {
        uint32_t lo = g->kind == G_REBUILD_V2 ? 6 : 7;
        if (a->u.seq.n < lo || a->u.seq.n > lo + 1)
            return pk_fail(m, at, "REDUCE of '%s %s' with %u arguments, not %u or %u", g->module, g->name,
                           (unsigned)a->u.seq.n, (unsigned)lo, (unsigned)lo + 1);
        st = pk_new(m, at, PK_TENSOR, &id);
        if (st != DIO_OK) return st;
        m->nodes[id].u.ten.args = args;
        m->nodes[id].u.ten.g = fn_global;
        return pk_push(m, at, id);
    }
    case G_REBUILD_PARAM:
        if (a->u.seq.n != 3 || m->nodes[a->u.seq.v[0]].kind != PK_TENSOR)
            return pk_fail(m, at,
                           "REDUCE of 'torch._utils _rebuild_parameter' needs (tensor, requires_grad, "
                           "hooks)");
        return pk_push(m, at, a->u.seq.v[0]);
    default:
        return pk_fail(m, at, "REDUCE calls '%s %s', which is not a function torch.save uses", g->module,
                       g->name);
    }
}

/* torch.save's storage keys are decimal numbers; anything that could read as a path ("..", "/", "\\",
 * an absolute name) is refused even though records are only ever looked up inside the zip, so that no
 * key can alias another entry of the archive. */
static int pk_plain_key(const unsigned char *s, size_t n)
{
    if (n == 0 || s[0] == '.') return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              c == '-' || c == '.'))
            return 0;
    }
    return 1;
}

static dio_status pk_persid(pk_machine *m, size_t at)
{
    dio_status st;
    uint32_t pid = 0, id = 0;
    char key[80];
    st = pk_pop(m, at, 'Q', &pid);
    if (st != DIO_OK) return st;
    const pk_node *t = &m->nodes[pid];
    if (t->kind != PK_TUPLE || t->u.seq.n != 5 || !pk_str_is(m, t->u.seq.v[0], "storage"))
        return pk_fail(m, at, "the persistent id is not a ('storage', type, key, location, numel) tuple");
    const pk_node *ty = &m->nodes[t->u.seq.v[1]], *k = &m->nodes[t->u.seq.v[2]],
                  *loc = &m->nodes[t->u.seq.v[3]], *num = &m->nodes[t->u.seq.v[4]];
    if (ty->kind != PK_GLOBAL ||
        (k_globals[ty->u.g].kind != G_STORAGE && k_globals[ty->u.g].kind != G_UNTYPED))
        return pk_fail(m, at, "the persistent id's storage type is not a torch storage class");
    if (k->kind != PK_STR || loc->kind != PK_STR || num->kind != PK_INT || num->u.i < 0)
        return pk_fail(m, at, "the persistent id's key, location or numel has the wrong type");
    const pk_global *g = &k_globals[ty->u.g];
    pk_printable(key, sizeof key, m->p + k->u.s.off, k->u.s.len);
    if (m->prefix_len + 6 + k->u.s.len > 2 * PK_MAX_NAME)
        return pk_fail(m, at, "storage key '%s...' is too long", key);
    if (!pk_plain_key(m->p + k->u.s.off, k->u.s.len))
        return pk_fail(m, at,
                       "storage key '%s' is not a plain record name (letters, digits, '_', '-' and '.', not "
                       "starting with '.'): a persistent id may only name a record of <archive>/data/",
                       key);
    memcpy(m->record, m->prefix, m->prefix_len);
    memcpy(m->record + m->prefix_len, "/data/", 6);
    memcpy(m->record + m->prefix_len + 6, m->p + k->u.s.off, k->u.s.len);
    m->record[m->prefix_len + 6 + k->u.s.len] = '\0';
    const pt_zip_entry *e = pt_zip_find(m->zip, m->record);
    if (!e) return pk_fail(m, at, "storage '%s' has no record '%.200s' in the zip", key, m->record);
    uint64_t numel = (uint64_t)num->u.i, esize = g->esize;
    if (numel > UINT64_MAX / esize || numel * esize != e->size)
        return pk_fail(m, at,
                       "storage '%s' is %" PRIu64 " elements of %s (%" PRIu64 " bytes each), but its record "
                       "holds %" PRIu64 " bytes",
                       key, numel, g->name, esize, e->size);
    /* pk_new may move m->nodes: read what is needed from the tuple's nodes first. */
    const uint32_t storage_global = ty->u.g;
    st = pk_new(m, at, PK_STORAGE, &id);
    if (st != DIO_OK) return st;
    m->nodes[id].u.sto.entry = (uint32_t)(e - m->zip->entries);
    m->nodes[id].u.sto.g = storage_global;
    m->nodes[id].u.sto.nbytes = e->size;
    return pk_push(m, at, id);
}

static uint32_t pk_rd32(const unsigned char *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static uint64_t pk_rd64(const unsigned char *p)
{
    return (uint64_t)pk_rd32(p) | ((uint64_t)pk_rd32(p + 4) << 32);
}

/* Runs data.pkl to its STOP; *root is the object it returned. */
static dio_status pk_run(pk_machine *m, uint32_t *root)
{
    dio_status st = DIO_OK;
    size_t pos = 0;
    const unsigned char *p = m->p;
    const size_t n = m->n;
    uint32_t id = 0;

    for (int k = 0; k < 3; k++) {
        st = pk_new(m, 0, k == 0 ? PK_NONE : PK_BOOL, &id);
        if (st != DIO_OK) goto fail;
        m->nodes[id].u.i = k == 2;
    }
    m->marks = malloc(PK_MAX_MARKS * sizeof *m->marks);
    if (!m->marks) goto oom;

    while (pos < n) {
        const size_t at = pos;
        const unsigned op = p[pos++];
        const size_t left = n - pos;
#define NEED(k)                                                                                              \
    do {                                                                                                     \
        if (left < (k)) {                                                                                    \
            st = pk_fail(m, at, "%s is cut short (truncated?)", pk_op_name(op));                             \
            goto fail;                                                                                       \
        }                                                                                                    \
    } while (0)
#define TRY(x)                                                                                               \
    do {                                                                                                     \
        st = (x);                                                                                            \
        if (st != DIO_OK) goto fail;                                                                         \
    } while (0)
        switch (op) {
        case 0x80: /* PROTO */
            NEED(1);
            if (p[pos] < 2 || p[pos] > 5) {
                st = pk_fail(m, at, "pickle protocol %u is not read (2 to 5 are)", (unsigned)p[pos]);
                goto fail;
            }
            pos++;
            break;
        case 0x95: /* FRAME: a length prefix for what follows; nothing to do but check it */
            NEED(8);
            if (pk_rd64(p + pos) > left - 8) {
                st = pk_fail(m, at, "FRAME of %" PRIu64 " bytes runs past the pickle", pk_rd64(p + pos));
                goto fail;
            }
            pos += 8;
            break;
        case '(':
            if (m->n_marks == PK_MAX_MARKS) {
                st = pk_fail(m, at, "more than %u open MARKs", PK_MAX_MARKS);
                goto fail;
            }
            m->marks[m->n_marks++] = m->sp;
            break;
        case '}':
        case ']':
        case ')':
            TRY(pk_new(m, at, op == '}' ? PK_DICT : op == ']' ? PK_LIST : PK_TUPLE, &id));
            TRY(pk_push(m, at, id));
            break;
        case 't': {
            uint32_t mark = 0;
            TRY(pk_pop_mark(m, at, op, &mark));
            TRY(pk_make_tuple(m, at, mark));
            break;
        }
        case 0x85:
        case 0x86:
        case 0x87: {
            uint32_t count = op - 0x84;
            if (pk_avail(m) < count) {
                st = pk_fail(m, at, "%s needs %u stack entries", pk_op_name(op), (unsigned)count);
                goto fail;
            }
            TRY(pk_make_tuple(m, at, m->sp - count));
            break;
        }
        case 'J':
        case 'K':
        case 'M':
        case 0x8a:
        case 0x8b: {
            int64_t v = 0;
            if (op == 'J') {
                NEED(4);
                v = (int32_t)pk_rd32(p + pos);
                pos += 4;
            } else if (op == 'K') {
                NEED(1);
                v = p[pos++];
            } else if (op == 'M') {
                NEED(2);
                v = p[pos] | (p[pos + 1] << 8);
                pos += 2;
            } else {
                uint64_t len, u = 0;
                if (op == 0x8a) {
                    NEED(1);
                    len = p[pos++];
                } else {
                    NEED(4);
                    len = pk_rd32(p + pos);
                    pos += 4;
                }
                if (len > 8) {
                    st = pk_fail(m, at, "%s of %" PRIu64 " bytes: integers wider than 64 bits are not read",
                                 pk_op_name(op), len);
                    goto fail;
                }
                if (len > n - pos) {
                    st = pk_fail(m, at, "%s is cut short (truncated?)", pk_op_name(op));
                    goto fail;
                }
                for (uint64_t b = 0; b < len; b++) u |= (uint64_t)p[pos + b] << (8 * b);
                if (len > 0 && len < 8 && (p[pos + len - 1] & 0x80)) u |= ~(uint64_t)0 << (8 * len);
                v = (int64_t)u;
                pos += len;
            }
            TRY(pk_new(m, at, PK_INT, &id));
            m->nodes[id].u.i = v;
            TRY(pk_push(m, at, id));
            break;
        }
        case 'G': {
            uint64_t bits = 0;
            double d;
            NEED(8);
            for (int b = 0; b < 8; b++) bits = (bits << 8) | p[pos + b]; /* big-endian */
            pos += 8;
            memcpy(&d, &bits, sizeof d);
            TRY(pk_new(m, at, PK_FLOAT, &id));
            m->nodes[id].u.f = d;
            TRY(pk_push(m, at, id));
            break;
        }
        case 'N': TRY(pk_push(m, at, PK_ID_NONE)); break;
        case 0x88: TRY(pk_push(m, at, PK_ID_TRUE)); break;
        case 0x89: TRY(pk_push(m, at, PK_ID_FALSE)); break;
        case 'X':
        case 0x8c:
        case 0x8d: {
            uint64_t len;
            size_t bad = 0;
            if (op == 0x8c) {
                NEED(1);
                len = p[pos++];
            } else if (op == 'X') {
                NEED(4);
                len = pk_rd32(p + pos);
                pos += 4;
            } else {
                NEED(8);
                len = pk_rd64(p + pos);
                pos += 8;
            }
            if (len > n - pos) {
                st = pk_fail(m, at, "%s of %" PRIu64 " bytes runs past the pickle (truncated?)",
                             pk_op_name(op), len);
                goto fail;
            }
            if (!dio_utf8_valid(p + pos, (size_t)len, &bad)) {
                st = pk_fail(m, at, "%s: byte %zu of the string is %s", pk_op_name(op), bad,
                             p[pos + bad] ? "not valid UTF-8" : "NUL");
                goto fail;
            }
            TRY(pk_new(m, at, PK_STR, &id));
            m->nodes[id].u.s.off = (uint32_t)pos;
            m->nodes[id].u.s.len = (uint32_t)len;
            pos += (size_t)len;
            TRY(pk_push(m, at, id));
            break;
        }
        case 'q':
        case 'r':
        case 0x94: {
            uint64_t idx;
            if (op == 'q') {
                NEED(1);
                idx = p[pos++];
            } else if (op == 'r') {
                NEED(4);
                idx = pk_rd32(p + pos);
                pos += 4;
            } else {
                idx = m->memo_len;
            }
            if (pk_avail(m) == 0) {
                st = pk_fail(m, at, "%s with nothing on the stack", pk_op_name(op));
                goto fail;
            }
            if (idx >= PK_MAX_MEMO) {
                st = pk_fail(m, at, "%s index %" PRIu64 " is over the limit of %u", pk_op_name(op), idx,
                             (unsigned)PK_MAX_MEMO);
                goto fail;
            }
            if (idx >= m->cap_memo) {
                uint64_t cap = m->cap_memo ? m->cap_memo : 256;
                while (cap <= idx) cap *= 2;
                if (cap > PK_MAX_MEMO) cap = PK_MAX_MEMO;
                uint32_t *grown = realloc(m->memo, (size_t)cap * sizeof *grown);
                if (!grown) goto oom;
                memset(grown + m->cap_memo, 0, (size_t)(cap - m->cap_memo) * sizeof *grown);
                m->memo = grown;
                m->cap_memo = (uint32_t)cap;
            }
            if (m->memo[idx] == 0) m->memo_len++;
            m->memo[idx] = m->stack[m->sp - 1] + 1;
            break;
        }
        case 'h':
        case 'j': {
            uint64_t idx;
            if (op == 'h') {
                NEED(1);
                idx = p[pos++];
            } else {
                NEED(4);
                idx = pk_rd32(p + pos);
                pos += 4;
            }
            if (idx >= m->cap_memo || m->memo[idx] == 0) {
                st = pk_fail(m, at, "%s of memo index %" PRIu64 ", which was never set", pk_op_name(op), idx);
                goto fail;
            }
            TRY(pk_push(m, at, m->memo[idx] - 1));
            break;
        }
        case 's':
        case 'a': {
            uint32_t key = 0, val = 0, into;
            TRY(pk_pop(m, at, op, &val));
            if (op == 's') TRY(pk_pop(m, at, op, &key));
            if (pk_avail(m) == 0) {
                st = pk_fail(m, at, "%s with no container on the stack", pk_op_name(op));
                goto fail;
            }
            into = m->stack[m->sp - 1];
            if (m->nodes[into].kind != (op == 's' ? PK_DICT : PK_LIST)) {
                st = pk_fail(m, at, "%s into a %s", pk_op_name(op), k_kind_names[m->nodes[into].kind]);
                goto fail;
            }
            if (op == 's') TRY(pk_add_item(m, at, into, key));
            TRY(pk_add_item(m, at, into, val));
            break;
        }
        case 'u':
        case 'e': {
            uint32_t mark = 0, into;
            TRY(pk_pop_mark(m, at, op, &mark));
            if ((op == 'u' && (m->sp - mark) % 2 != 0) || pk_avail(m) < m->sp - mark + 1) {
                st = pk_fail(m, at, "%s with %s", pk_op_name(op),
                             pk_avail(m) < m->sp - mark + 1 ? "no container below its MARK"
                                                            : "an odd number of entries");
                goto fail;
            }
            into = m->stack[mark - 1];
            if (m->nodes[into].kind != (op == 'u' ? PK_DICT : PK_LIST)) {
                st = pk_fail(m, at, "%s into a %s", pk_op_name(op), k_kind_names[m->nodes[into].kind]);
                goto fail;
            }
            for (uint32_t k = mark; k < m->sp; k++) TRY(pk_add_item(m, at, into, m->stack[k]));
            m->sp = mark;
            break;
        }
        case 'c': {
            const unsigned char *nl1 =
                memchr(p + pos, '\n', left < PK_MAX_GLOBAL_LINE ? left : PK_MAX_GLOBAL_LINE);
            if (!nl1) {
                st = pk_fail(m, at, "GLOBAL without a module line of at most %u bytes", PK_MAX_GLOBAL_LINE);
                goto fail;
            }
            size_t rest = n - (size_t)(nl1 + 1 - p);
            const unsigned char *nl2 =
                memchr(nl1 + 1, '\n', rest < PK_MAX_GLOBAL_LINE ? rest : PK_MAX_GLOBAL_LINE);
            if (!nl2) {
                st = pk_fail(m, at, "GLOBAL without a name line of at most %u bytes", PK_MAX_GLOBAL_LINE);
                goto fail;
            }
            TRY(pk_resolve(m, at, p + pos, (size_t)(nl1 - (p + pos)), nl1 + 1, (size_t)(nl2 - (nl1 + 1))));
            pos = (size_t)(nl2 + 1 - p);
            break;
        }
        case 0x93: {
            uint32_t mod = 0, name = 0;
            TRY(pk_pop(m, at, op, &name));
            TRY(pk_pop(m, at, op, &mod));
            const pk_node *a = &m->nodes[mod], *b = &m->nodes[name];
            if (a->kind != PK_STR || b->kind != PK_STR) {
                st = pk_fail(m, at, "STACK_GLOBAL of a %s and a %s, not two strings", k_kind_names[a->kind],
                             k_kind_names[b->kind]);
                goto fail;
            }
            TRY(pk_resolve(m, at, p + a->u.s.off, a->u.s.len, p + b->u.s.off, b->u.s.len));
            break;
        }
        case 'R': TRY(pk_reduce(m, at)); break;
        case 'b': {
            uint32_t state = 0;
            TRY(pk_pop(m, at, op, &state));
            if (pk_avail(m) == 0 || (m->nodes[m->stack[m->sp - 1]].kind != PK_DICT &&
                                     m->nodes[m->stack[m->sp - 1]].kind != PK_TENSOR)) {
                st =
                    pk_fail(m, at, "BUILD on %s; only a dict's or a tensor's state is accepted (and ignored)",
                            pk_avail(m) ? k_kind_names[m->nodes[m->stack[m->sp - 1]].kind] : "nothing");
                goto fail;
            }
            break;
        }
        case 'Q': TRY(pk_persid(m, at)); break;
        case '.':
            if (m->n_marks != 0 || m->sp != 1) {
                st = pk_fail(m, at, "STOP with %u stack entries and %u open MARKs (wanted 1 and 0)",
                             (unsigned)m->sp, (unsigned)m->n_marks);
                goto fail;
            }
            if (pos != n) {
                st = pk_fail(m, at, "%zu bytes follow STOP", n - pos);
                goto fail;
            }
            *root = m->stack[0];
            return DIO_OK;
        default:
            st = pk_fail(m, at,
                         "opcode 0x%02x (%s) is not accepted; only the opcodes torch.save emits are read", op,
                         pk_op_name(op));
            goto fail;
        }
#undef NEED
#undef TRY
    }
    st = pk_fail(m, n, "the pickle ends without STOP (truncated?)");
    goto fail;
oom:
    st = pk_oom(m);
fail:
    return st;
}

/* ---- the walk: dotted names, tensors checked and handed to the sink ---- */

/* Appends ".component" (or "component" at the root) to m->name[0..*len). */
static dio_status pk_name_push(pk_machine *m, size_t *len, const char *comp, size_t comp_len)
{
    size_t need = *len + (*len ? 1 : 0) + comp_len;
    if (need > PK_MAX_NAME) {
        m->name[*len] = '\0';
        return dio_set_error(DIO_ERR_BAD_FORMAT,
                             "checkpoint '%s': a tensor or value path is longer than %u bytes (at " PT_NM ")",
                             m->path, PK_MAX_NAME, m->name);
    }
    if (*len) m->name[(*len)++] = '.';
    memcpy(m->name + *len, comp, comp_len);
    *len += comp_len;
    m->name[*len] = '\0';
    return DIO_OK;
}

static dio_status pk_tensor_fail(const pk_machine *m, const pk_node *t, const char *fmt, ...) PK_PRINTF(3, 4);

static dio_status pk_tensor_fail(const pk_machine *m, const pk_node *t, const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return dio_set_error(DIO_ERR_BAD_FORMAT,
                         "checkpoint '%s': tensor " PT_NM
                         ": %s (built at data.pkl byte %u, file offset %" PRIu64 ")",
                         m->path, m->name, what, (unsigned)t->at, m->p_offset + t->at);
}

/* Counts one more tensor or value for the sink, within the limits. */
static dio_status pk_count_out(pk_machine *m, size_t name_len)
{
    if (++m->n_out > PK_MAX_OUT || (m->out_bytes += name_len + 1) > PK_MAX_OUT_BYTES)
        return dio_set_error(DIO_ERR_BAD_FORMAT,
                             "checkpoint '%s' lists more than %u tensors and values, or more than %" PRIu64
                             " bytes of their names (at " PT_NM ")",
                             m->path, (unsigned)PK_MAX_OUT, PK_MAX_OUT_BYTES, m->name);
    return DIO_OK;
}

/* Checks the tensor `id` (named m->name) against its record and hands it to the sink. */
static dio_status pk_emit_tensor(pk_machine *m, uint32_t id, const pt_sink *sink)
{
    dio_status st = DIO_OK;
    const pk_node *t = &m->nodes[id];
    const pk_node *args = &m->nodes[t->u.ten.args];
    const int v3 = k_globals[t->u.ten.g].kind == G_REBUILD_V3;
    const pk_node *sto = &m->nodes[args->u.seq.v[0]], *off = &m->nodes[args->u.seq.v[1]],
                  *size = &m->nodes[args->u.seq.v[2]], *stride = &m->nodes[args->u.seq.v[3]];
    const pk_global *dt;
    int64_t shape[DIO_MAX_DIMS] = {0}, strides[DIO_MAX_DIMS] = {0};
    uint64_t numel = 1, span = 0, esize, offset, expect = 1;
    int32_t ndim;
    int contiguous = 1;
    pt_tensor out;
    void *copy = NULL;

    if (sto->kind != PK_STORAGE) {
        st = pk_tensor_fail(m, t, "its first argument is a %s, not a storage", k_kind_names[sto->kind]);
        goto fail;
    }
    if (v3) {
        const pk_node *d = &m->nodes[args->u.seq.v[6]];
        if (d->kind != PK_GLOBAL || k_globals[d->u.g].kind != G_DTYPE) {
            st = pk_tensor_fail(m, t, "_rebuild_tensor_v3's dtype argument is a %s, not a torch dtype",
                                k_kind_names[d->kind]);
            goto fail;
        }
        dt = &k_globals[d->u.g];
    } else {
        dt = &k_globals[sto->u.sto.g];
        if (dt->kind != G_STORAGE) {
            st = pk_tensor_fail(m, t, "an untyped storage without a dtype");
            goto fail;
        }
    }
    esize = dt->esize;
    if (off->kind != PK_INT || off->u.i < 0) {
        st = pk_tensor_fail(m, t, "the storage offset is not a non-negative int");
        goto fail;
    }
    offset = (uint64_t)off->u.i;
    if (size->kind != PK_TUPLE || stride->kind != PK_TUPLE || size->u.seq.n != stride->u.seq.n) {
        st = pk_tensor_fail(m, t, "size and stride are not two tuples of the same length");
        goto fail;
    }
    if (size->u.seq.n > DIO_MAX_DIMS) {
        st = pk_tensor_fail(m, t, "%u dimensions; diorama allows at most %d", (unsigned)size->u.seq.n,
                            DIO_MAX_DIMS);
        goto fail;
    }
    ndim = (int32_t)size->u.seq.n;
    for (int32_t d = 0; d < ndim; d++) {
        const pk_node *a = &m->nodes[size->u.seq.v[d]], *b = &m->nodes[stride->u.seq.v[d]];
        if (a->kind != PK_INT || b->kind != PK_INT || a->u.i < 0 || b->u.i < 0) {
            st = pk_tensor_fail(m, t, "size[%d] or stride[%d] is not a non-negative int", (int)d, (int)d);
            goto fail;
        }
        shape[d] = a->u.i;
        strides[d] = b->u.i;
        if (shape[d] == 0) numel = 0;
    }
    /* numel and the furthest element, without overflow; bytes must fit in 63 bits. */
    for (int32_t d = 0; d < ndim && numel; d++) {
        uint64_t s = (uint64_t)shape[d], r = (uint64_t)strides[d];
        if (numel > (uint64_t)INT64_MAX / s) goto overflow;
        numel *= s;
        if (s > 1 && r > ((uint64_t)INT64_MAX - span) / (s - 1)) goto overflow;
        span += (s - 1) * r;
    }
    if (numel > (uint64_t)INT64_MAX / esize) goto overflow;
    {
        /* Element `offset + span` (or, for an empty tensor, the offset itself) must lie in the record. */
        uint64_t last = offset, limit = sto->u.sto.nbytes / esize;
        if (numel) {
            if (span > UINT64_MAX - offset) goto overflow;
            last = offset + span + 1;
        }
        if (last > limit) {
            st = pk_tensor_fail(m, t,
                                "elements up to %" PRIu64 " (storage offset %" PRIu64
                                ") run past the %" PRIu64 " elements of %s in its storage record",
                                last, offset, limit, dt->name);
            goto fail;
        }
    }
    for (int32_t d = ndim - 1; d >= 0 && numel; d--) {
        if (shape[d] != 1 && (uint64_t)strides[d] != expect) contiguous = 0;
        expect *= (uint64_t)shape[d];
    }
    if (dt->dtype < 0) { /* checked; diorama has no such dtype */
        if (m->n_skipped++ == 0) {
            snprintf(m->first_skipped, sizeof m->first_skipped, "%.150s", m->name);
            m->first_skipped_dtype = dt->name;
        }
        return DIO_OK;
    }

    const pt_zip_entry *e = &m->zip->entries[sto->u.sto.entry];
    const unsigned char *src = m->base + e->data_offset + offset * esize;
    memset(&out, 0, sizeof out);
    out.name = m->name;
    out.dtype = dt->dtype;
    out.ndim = ndim;
    memcpy(out.shape, shape, sizeof shape);
    out.nbytes = numel * esize;
    if (contiguous) {
        out.data = src;
        out.file_offset = e->data_offset + offset * esize;
    } else {
        uint64_t idx[DIO_MAX_DIMS] = {0};
        if (out.nbytes > m->file_size - m->copied) {
            st = pk_tensor_fail(m, t,
                                "non-contiguous: its copy of %" PRIu64 " bytes would take the copies past "
                                "the file's own size",
                                out.nbytes);
            goto fail;
        }
        copy = malloc((size_t)out.nbytes);
        if (!copy) {
            st = dio_set_error(DIO_ERR_OUT_OF_HOST_MEMORY,
                               "checkpoint '%s': out of memory copying non-contiguous tensor " PT_NM, m->path,
                               m->name);
            goto fail;
        }
        m->copied += out.nbytes;
        for (uint64_t k = 0; k < numel; k++) {
            uint64_t at = 0;
            for (int32_t d = 0; d < ndim; d++) at += idx[d] * (uint64_t)strides[d];
            memcpy((unsigned char *)copy + k * esize, src + at * esize, (size_t)esize);
            for (int32_t d = ndim - 1; d >= 0; d--) {
                if (++idx[d] < (uint64_t)shape[d]) break;
                idx[d] = 0;
            }
        }
        out.data = copy;
        out.owned = copy;
        copy = NULL;
    }
    return sink->tensor(sink->ctx, &out); /* the sink owns out.owned now */

overflow:
    st = pk_tensor_fail(m, t, "its sizes, strides and offset overflow 63 bits of %s elements", dt->name);
fail:
    free(copy);
    return st;
}

/* A plain value as metadata text. */
static dio_status pk_emit_meta(pk_machine *m, const pk_node *v, const pt_sink *sink)
{
    dio_status st;
    char small[64];
    char *text = small, *heap = NULL;
    switch (v->kind) {
    case PK_NONE: snprintf(small, sizeof small, "None"); break;
    case PK_BOOL: snprintf(small, sizeof small, "%s", v->u.i ? "True" : "False"); break;
    case PK_INT: snprintf(small, sizeof small, "%" PRId64, v->u.i); break;
    case PK_FLOAT: snprintf(small, sizeof small, "%.17g", v->u.f); break;
    case PK_STR:
        heap = malloc((size_t)v->u.s.len + 1);
        if (!heap) return pk_oom(m);
        memcpy(heap, m->p + v->u.s.off, v->u.s.len);
        heap[v->u.s.len] = '\0';
        text = heap;
        break;
    default: return DIO_OK;
    }
    st = sink->meta(sink->ctx, m->name, text);
    free(heap);
    return st;
}

static int pk_is_plain(const pk_node *v)
{
    return v->kind <= PK_STR;
}

static dio_status pk_walk(pk_machine *m, uint32_t id, size_t len, int depth, const pt_sink *sink)
{
    dio_status st = DIO_OK;
    pk_node *v = &m->nodes[id];
    char comp[32];

    if (++m->visits > m->visit_budget) {
        st = dio_set_error(DIO_ERR_BAD_FORMAT,
                           "checkpoint '%s': objects are shared so often that listing them would take more "
                           "than %" PRIu64 " steps (at " PT_NM ")",
                           m->path, m->visit_budget, m->name);
        goto fail;
    }
    if (v->kind == PK_TENSOR || (pk_is_plain(v) && sink->meta && len)) {
        st = pk_count_out(m, len);
        if (st != DIO_OK) goto fail;
        return v->kind == PK_TENSOR ? pk_emit_tensor(m, id, sink) : pk_emit_meta(m, v, sink);
    }
    if (v->kind != PK_DICT && v->kind != PK_LIST && v->kind != PK_TUPLE) return DIO_OK;
    if (depth >= PK_MAX_DEPTH) {
        st = dio_set_error(DIO_ERR_BAD_FORMAT,
                           "checkpoint '%s': dicts nest deeper than %d levels (at " PT_NM ")", m->path,
                           PK_MAX_DEPTH, m->name);
        goto fail;
    }
    if (v->busy) {
        st = dio_set_error(DIO_ERR_BAD_FORMAT, "checkpoint '%s': the %s at " PT_NM " contains itself",
                           m->path, k_kind_names[v->kind], m->name);
        goto fail;
    }
    v->busy = 1;
    if (v->kind == PK_DICT) {
        for (uint32_t k = 0; k + 1 < v->u.seq.n; k += 2) {
            const pk_node *key = &m->nodes[v->u.seq.v[k]];
            uint32_t val = v->u.seq.v[k + 1];
            size_t sub = len;
            if (key->kind == PK_STR) {
                st = pk_name_push(m, &sub, (const char *)m->p + key->u.s.off, key->u.s.len);
            } else if (key->kind == PK_INT) {
                int w = snprintf(comp, sizeof comp, "%" PRId64, key->u.i);
                st = pk_name_push(m, &sub, comp, (size_t)w);
            } else if (pk_is_plain(&m->nodes[val])) {
                continue;
            } else {
                st = dio_set_error(DIO_ERR_BAD_FORMAT,
                                   "checkpoint '%s': a dict under " PT_NM " has a %s key, not a str or int",
                                   m->path, m->name, k_kind_names[key->kind]);
            }
            if (st != DIO_OK) goto fail;
            st = pk_walk(m, val, sub, depth + 1, sink);
            m->name[len] = '\0';
            if (st != DIO_OK) goto fail;
        }
    } else {
        for (uint32_t k = 0; k < v->u.seq.n; k++) {
            size_t sub = len;
            int w = snprintf(comp, sizeof comp, "%u", (unsigned)k);
            st = pk_name_push(m, &sub, comp, (size_t)w);
            if (st != DIO_OK) goto fail;
            st = pk_walk(m, v->u.seq.v[k], sub, depth + 1, sink);
            m->name[len] = '\0';
            if (st != DIO_OK) goto fail;
        }
    }
    v->busy = 0;
    return DIO_OK;
fail:
    return st;
}

static void pk_machine_free(pk_machine *m)
{
    for (uint32_t i = 0; i < m->n_nodes; i++) {
        pk_kind k = (pk_kind)m->nodes[i].kind;
        if (k == PK_TUPLE || k == PK_LIST || k == PK_DICT) free(m->nodes[i].u.seq.v);
    }
    free(m->nodes);
    free(m->stack);
    free(m->marks);
    free(m->memo);
    free(m->record);
    free(m->name);
}

/* ---- the entry point ---- */

dio_status pt_load(const char *path, const unsigned char *base, uint64_t size, const pt_sink *sink)
{
    dio_status st = DIO_OK;
    pt_zip zip = {0};
    pk_machine m;
    const pt_zip_entry *pkl = NULL, *order;
    uint32_t root = 0;
    size_t n_pkl = 0;

    memset(&m, 0, sizeof m);
    st = pt_zip_read(path, base, size, &zip);
    if (st != DIO_OK) goto fail;

    /* The archive's pickle: the one entry named "<archive>/data.pkl". */
    for (size_t i = 0; i < zip.n; i++) {
        const char *nm = zip.entries[i].name, *slash = strchr(nm, '/');
        if (slash && slash != nm && strcmp(slash, "/data.pkl") == 0) {
            if (n_pkl++ == 0) pkl = &zip.entries[i];
        }
    }
    if (n_pkl != 1) {
        st = dio_set_error(
            DIO_ERR_BAD_FORMAT,
            n_pkl ? "checkpoint '%s': the zip holds %zu '<archive>/data.pkl' records; a torch.save "
                    "file has one"
                  : "checkpoint '%s': the zip holds %zu '<archive>/data.pkl' records; not a "
                    "torch.save checkpoint",
            path, n_pkl);
        goto fail;
    }
    m.path = path;
    m.base = base;
    m.file_size = size;
    m.zip = &zip;
    m.prefix = pkl->name;
    m.prefix_len = (size_t)(strchr(pkl->name, '/') - pkl->name);
    m.p = base + pkl->data_offset;
    m.n = (size_t)pkl->size;
    m.p_offset = pkl->data_offset;
    m.record = malloc(2 * PK_MAX_NAME + 16);
    m.name = malloc(PK_MAX_NAME + 1);
    if (!m.record || !m.name) {
        st = pk_oom(&m);
        goto fail;
    }
    m.name[0] = '\0';

    /* torch writes "little"; anything else would need byte swapping. */
    memcpy(m.record, m.prefix, m.prefix_len);
    strcpy(m.record + m.prefix_len, "/byteorder");
    order = pt_zip_find(&zip, m.record);
    if (order && !(order->size == 6 && memcmp(base + order->data_offset, "little", 6) == 0)) {
        st = dio_set_error(DIO_ERR_BAD_FORMAT,
                           "checkpoint '%s': its byteorder record does not say 'little'; big-endian "
                           "checkpoints are not read",
                           path);
        goto fail;
    }
    if (pkl->size > PK_MAX_PICKLE) {
        st = dio_set_error(DIO_ERR_BAD_FORMAT,
                           "checkpoint '%s': data.pkl is %" PRIu64 " bytes, over the limit of %" PRIu64, path,
                           pkl->size, PK_MAX_PICKLE);
        goto fail;
    }
    if (pt_crc32(m.p, m.n) != pkl->crc32) {
        st = dio_set_error(DIO_ERR_BAD_FORMAT,
                           "checkpoint '%s': record " PT_NM " fails its CRC check (damaged file?)", path,
                           pkl->name);
        goto fail;
    }

    st = pk_run(&m, &root);
    if (st != DIO_OK) goto fail;
    if (m.nodes[root].kind != PK_DICT) {
        st = dio_set_error(DIO_ERR_BAD_FORMAT,
                           "checkpoint '%s' holds a %s, not a dict of tensors (a state_dict)", path,
                           k_kind_names[m.nodes[root].kind]);
        goto fail;
    }
    m.visit_budget = 2 * ((uint64_t)m.n_nodes + m.items) + 1024;
    st = pk_walk(&m, root, 0, 0, sink);
    if (st != DIO_OK) goto fail;
    if (m.n_skipped)
        dio_log(DIO_LOG_INFO, "weights",
                "checkpoint '%s': %" PRIu64 " tensor%s of dtypes diorama does not read left out (first: "
                "'%s', %s)",
                path, m.n_skipped, m.n_skipped == 1 ? "" : "s", m.first_skipped, m.first_skipped_dtype);
    pk_machine_free(&m);
    pt_zip_free(&zip);
    return DIO_OK;
fail:
    pk_machine_free(&m);
    pt_zip_free(&zip);
    return st;
}

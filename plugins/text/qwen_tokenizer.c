/* The Qwen2 byte-level BPE tokenizer (see qwen_tokenizer.h), written from the Hugging Face semantics:
 *
 *   1. added tokens (all of `added_tokens_decoder`, special or not) are found in the raw text, leftmost and
 *      longest first, without normalisation;
 *   2. each piece between them is NFC-normalised (full canonical decomposition, canonical ordering and
 *      composition from the generated tables in qwen_unicode_tables.h; Hangul is algorithmic). Text that is
 *      already NFC, nearly all of it, is passed through: only short spans around code points flagged at
 *      load are normalised (build_classes);
 *   3. the Qwen2 split regex
 *        (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|
 * ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ is implemented by hand over code points: each alternative
 * is tried in order at the current position, with the backtracking of the greedy quantifiers worked out in
 * closed form (see split_one). \s is the Unicode White_Space property (what Oniguruma uses); the contraction
 * alternative folds ASCII case only;
 *   4. each piece's bytes map through the GPT-2 byte-to-unicode table;
 *   5. BPE: the lowest-ranked adjacent pair (leftmost on ties) is merged until none is in merges.txt, as the
 *      Hugging Face heap does: a linear search over short pieces, a heap over long ones.
 * Speed (bench/README-text.md): one byte per code point holds its letter/number/space/NFC flags, so the
 * split and the NFC check never search a table; merges sit in an open-addressing hash of 64-bit slots
 * (both ids and the rank packed), with a direct 256×256 table for pairs of byte tokens; each encode call
 * keeps a cache of piece bytes -> ids, so a repeated word costs one hash probe.
 * JSON is read with the system cJSON (the plugin links it itself). Vocabulary strings live in one arena. */
#include "qwen_tokenizer.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qwen_unicode_tables.h"

typedef struct {
    const char *key; /* into vocab arena or an added token string */
    uint32_t len;
    int32_t id; /* -1: empty slot */
} str_slot;

typedef struct {
    char *s;
    size_t len;
    int32_t id;
} added_token;

struct qwen_tokenizer {
    char *arena; /* vocabulary strings */
    str_slot *vocab;
    size_t vocab_cap, vocab_n;
    int32_t vocab_max_id;
    uint64_t *pairs; /* merges: (a << 20 | b) << 24 | (rank + 1) per slot, 0 when empty */
    size_t pairs_cap;
    unsigned pairs_shift; /* 64 - log2(pairs_cap) */
    int32_t *merge_id;    /* [rank]: the id the merge makes */
    int32_t *byte_pair;   /* [256 * 256]: rank of the merge of two byte tokens, -1 if none */
    uint8_t *cls;         /* [0x110000]: CL_* bits of every code point */
    int32_t byte_id[256];
    added_token *added;
    size_t n_added;
    unsigned char added_first[256]; /* first bytes of added tokens */
    int32_t pad_id;
};

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- hashing ---- */

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* Ids below 2^20 and ranks below 2^24 - 1 let a merge fit one 64-bit slot (checked at load). */
enum { PAIR_ID_BITS = 20, PAIR_RANK_BITS = 24 };
#define PAIR_RANK_MAX ((1 << PAIR_RANK_BITS) - 2)
#define PAIR_KEY(a, b) (((uint64_t)(uint32_t)(a) << PAIR_ID_BITS) | (uint32_t)(b))
#define PAIR_HASH(t, key) ((size_t)(((key)*0x9E3779B97F4A7C15ull) >> (t)->pairs_shift))

static int32_t vocab_find(const qwen_tokenizer *t, const char *s, size_t n)
{
    size_t m = t->vocab_cap - 1;
    for (size_t i = hash_bytes(s, n) & m;; i = (i + 1) & m) {
        const str_slot *e = &t->vocab[i];
        if (e->id < 0) return -1;
        if (e->len == n && memcmp(e->key, s, n) == 0) return e->id;
    }
}

/* Returns 0, or 1 if the key was already present. */
static int vocab_put(qwen_tokenizer *t, const char *s, size_t n, int32_t id)
{
    size_t m = t->vocab_cap - 1;
    for (size_t i = hash_bytes(s, n) & m;; i = (i + 1) & m) {
        str_slot *e = &t->vocab[i];
        if (e->id < 0) {
            e->key = s;
            e->len = (uint32_t)n;
            e->id = id;
            t->vocab_n++;
            return 0;
        }
        if (e->len == n && memcmp(e->key, s, n) == 0) return 1;
    }
}

/* Rank of the merge of tokens A and B, or -1. */
static inline int32_t pair_rank(const qwen_tokenizer *t, int32_t a, int32_t b)
{
    uint64_t key = PAIR_KEY(a, b);
    size_t m = t->pairs_cap - 1;
    for (size_t i = PAIR_HASH(t, key);; i = (i + 1) & m) {
        uint64_t e = t->pairs[i];
        if (!e) return -1;
        if (e >> PAIR_RANK_BITS == key) return (int32_t)(e & ((1u << PAIR_RANK_BITS) - 1)) - 1;
    }
}

/* Returns 0, or 1 when the pair is already there (a duplicate merge line: the first, lowest rank, wins). */
static int pair_put(qwen_tokenizer *t, int32_t a, int32_t b, int32_t rank)
{
    uint64_t key = PAIR_KEY(a, b);
    size_t m = t->pairs_cap - 1;
    for (size_t i = PAIR_HASH(t, key);; i = (i + 1) & m) {
        uint64_t e = t->pairs[i];
        if (!e) {
            t->pairs[i] = key << PAIR_RANK_BITS | (uint64_t)(rank + 1);
            return 0;
        }
        if (e >> PAIR_RANK_BITS == key) return 1;
    }
}

static size_t pow2_at_least(size_t n)
{
    size_t c = 16;
    while (c < n) c <<= 1;
    return c;
}

/* ---- UTF-8 ---- */

/* Decodes one code point at S[0..N); returns its length, or 0 if invalid (overlong, surrogate, > U+10FFFF,
 * truncated). */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t len;
    uint32_t v, min;
    if ((c & 0xE0) == 0xC0) {
        len = 2, v = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3, v = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return len;
}

static size_t utf8_encode(uint32_t cp, char *o)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* ---- Unicode properties ---- */

/* What the split regex and the NFC quick check ask of a code point; one byte per code point in t->cls. */
enum {
    CL_L = 1,    /* \p{L} */
    CL_N = 2,    /* \p{N} */
    CL_S = 4,    /* \s */
    CL_CRLF = 8, /* \r or \n */
    CL_NFC = 16, /* not an NFC boundary: NFC may change the text at or just before this code point */
    N_CODEPOINTS = 0x110000
};

/* Unicode White_Space, the set Oniguruma's \s matches in Unicode mode. */
static int is_space(uint32_t c)
{
    if (c < 0x80) return c == ' ' || (c >= 0x09 && c <= 0x0D);
    return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
           c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

static int ccc_of(uint32_t c)
{
    if (c < 0x300) return 0;
    int lo = 0, hi = QWEN_CCC_RANGES_N - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (c < qwen_ccc_ranges[mid][0])
            hi = mid - 1;
        else if (c > qwen_ccc_ranges[mid][1])
            lo = mid + 1;
        else
            return (int)qwen_ccc_ranges[mid][2];
    }
    return 0;
}

static const uint32_t *decomp_of(uint32_t c)
{
    int lo = 0, hi = QWEN_DECOMP_N - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (c < qwen_decomp[mid][0])
            hi = mid - 1;
        else if (c > qwen_decomp[mid][0])
            lo = mid + 1;
        else
            return qwen_decomp[mid];
    }
    return NULL;
}

enum {
    S_BASE = 0xAC00,
    L_BASE = 0x1100,
    V_BASE = 0x1161,
    T_BASE = 0x11A7,
    L_COUNT = 19,
    V_COUNT = 21,
    T_COUNT = 28,
    N_COUNT = V_COUNT * T_COUNT,
    S_COUNT = L_COUNT * N_COUNT
};

/* Primary composite of A B, or 0. */
static uint32_t compose_pair(uint32_t a, uint32_t b)
{
    if (a >= L_BASE && a < L_BASE + L_COUNT && b >= V_BASE && b < V_BASE + V_COUNT)
        return S_BASE + ((a - L_BASE) * V_COUNT + (b - V_BASE)) * T_COUNT;
    if (a >= S_BASE && a < S_BASE + S_COUNT && (a - S_BASE) % T_COUNT == 0 && b > T_BASE &&
        b < T_BASE + T_COUNT)
        return a + (b - T_BASE);
    int lo = 0, hi = QWEN_COMPOSE_N - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        const uint32_t *e = qwen_compose[mid];
        if (a < e[0] || (a == e[0] && b < e[1]))
            hi = mid - 1;
        else if (a > e[0] || b > e[1])
            lo = mid + 1;
        else
            return e[2];
    }
    return 0;
}

typedef struct {
    uint32_t *v;
    size_t n, cap;
} u32vec;

static int u32_push(u32vec *a, uint32_t x)
{
    if (a->n == a->cap) {
        size_t nc = a->cap ? a->cap * 2 : 64;
        uint32_t *nv = realloc(a->v, nc * sizeof(*nv));
        if (!nv) return -1;
        a->v = nv;
        a->cap = nc;
    }
    a->v[a->n++] = x;
    return 0;
}

static int decompose(uint32_t c, u32vec *out)
{
    if (c >= S_BASE && c < S_BASE + S_COUNT) {
        uint32_t s = c - S_BASE, t = s % T_COUNT;
        if (u32_push(out, L_BASE + s / N_COUNT) || u32_push(out, V_BASE + (s % N_COUNT) / T_COUNT)) return -1;
        return t ? u32_push(out, T_BASE + t) : 0;
    }
    const uint32_t *d = c >= 0xC0 ? decomp_of(c) : NULL;
    if (!d) return u32_push(out, c);
    if (decompose(d[1], out)) return -1;
    return d[2] ? decompose(d[2], out) : 0;
}

char *qwen_tok_nfc(const char *s, size_t len, size_t *out_len)
{
    u32vec cps = {0};
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t k = utf8_decode(u + i, len - i, &cp);
        if (!k || decompose(cp, &cps)) {
            free(cps.v);
            return NULL;
        }
        i += k;
    }
    uint32_t *v = cps.v;
    size_t n = cps.n;
    /* canonical ordering: stable insertion sort of each run of non-starters by combining class */
    for (size_t i = 1; i < n; i++) {
        int ci = ccc_of(v[i]);
        if (!ci) continue;
        size_t j = i;
        uint32_t x = v[i];
        while (j > 0) {
            int cj = ccc_of(v[j - 1]);
            if (cj <= ci) break;
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
    }
    /* canonical composition */
    size_t o = 0;
    if (n) {
        size_t starter = 0;
        int last = ccc_of(v[0]);
        if (last) last = 256;
        o = 1;
        for (size_t i = 1; i < n; i++) {
            uint32_t ch = v[i];
            int cc = ccc_of(ch);
            uint32_t comp = (last == 256) ? 0 : compose_pair(v[starter], ch);
            if (comp && (last < cc || last == 0)) {
                v[starter] = comp;
                continue;
            }
            if (cc == 0) starter = o;
            last = cc;
            v[o++] = ch;
        }
    }
    char *out = malloc(o * 4 + 1);
    if (!out) {
        free(v);
        return NULL;
    }
    size_t ol = 0;
    for (size_t i = 0; i < o; i++) ol += utf8_encode(v[i], out + ol);
    out[ol] = 0;
    free(v);
    *out_len = ol;
    return out;
}

/* First code point of the full canonical decomposition of C. */
static uint32_t nfd_first(uint32_t c)
{
    if (c >= S_BASE && c < S_BASE + S_COUNT) return L_BASE + (c - S_BASE) / N_COUNT;
    const uint32_t *d;
    while (c >= 0xC0 && (d = decomp_of(c)) != NULL) c = d[1];
    return c;
}

/* Fills t->cls. CL_NFC marks every code point before which NFC of a text cannot be cut in two: those with
 * a nonzero combining class, those that compose with what precedes them (the second of a primary composite,
 * Hangul V and T jamo), those whose NFC alone is not themselves (singletons, exclusions) and those whose
 * decomposition starts with one of the former. Everywhere else NFC(xy) = NFC(x) NFC(y), so only the short
 * spans around marked code points need normalising (encode_segment). */
static int build_classes(qwen_tokenizer *t)
{
    uint8_t *c = t->cls = calloc(N_CODEPOINTS, 1);
    if (!c) return -1;
    for (int i = 0; i < QWEN_LETTER_RANGES_N; i++)
        memset(c + qwen_letter_ranges[i][0], CL_L, qwen_letter_ranges[i][1] - qwen_letter_ranges[i][0] + 1);
    for (int i = 0; i < QWEN_NUMBER_RANGES_N; i++)
        for (uint32_t x = qwen_number_ranges[i][0]; x <= qwen_number_ranges[i][1]; x++) c[x] |= CL_N;
    for (uint32_t x = 0; x < 0x3001; x++)
        if (is_space(x)) c[x] |= CL_S;
    c['\r'] |= CL_CRLF;
    c['\n'] |= CL_CRLF;
    for (int i = 0; i < QWEN_CCC_RANGES_N; i++)
        for (uint32_t x = qwen_ccc_ranges[i][0]; x <= qwen_ccc_ranges[i][1]; x++)
            if (qwen_ccc_ranges[i][2]) c[x] |= CL_NFC;
    for (int i = 0; i < QWEN_COMPOSE_N; i++) c[qwen_compose[i][1]] |= CL_NFC;
    for (uint32_t x = V_BASE; x < V_BASE + V_COUNT; x++) c[x] |= CL_NFC;
    for (uint32_t x = T_BASE + 1; x < T_BASE + T_COUNT; x++) c[x] |= CL_NFC;
    for (int i = 0; i < QWEN_DECOMP_N; i++) {
        uint32_t x = qwen_decomp[i][0], f = nfd_first(x);
        char u[4];
        size_t ul = utf8_encode(x, u), nl;
        char *n = qwen_tok_nfc(u, ul, &nl);
        if (!n) return -1;
        int same = nl == ul && memcmp(n, u, ul) == 0;
        free(n);
        if (!same || ccc_of(f) || (c[f] & CL_NFC && f != x)) c[x] |= CL_NFC;
    }
    return 0;
}

/* ---- files ---- */

static char *read_file(const char *path, size_t *n, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        seterr(err, errlen, "qwen tokenizer: cannot open %s", path);
        return NULL;
    }
    char *buf = NULL;
    size_t cap = 0, len = 0;
    for (;;) {
        if (cap - len < 65536) {
            size_t nc = cap ? cap * 2 : 1 << 20;
            char *nb = realloc(buf, nc + 1);
            if (!nb) {
                free(buf);
                fclose(f);
                seterr(err, errlen, "qwen tokenizer: out of memory reading %s", path);
                return NULL;
            }
            buf = nb;
            cap = nc;
        }
        size_t r = fread(buf + len, 1, cap - len, f);
        len += r;
        if (r == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        seterr(err, errlen, "qwen tokenizer: read error on %s", path);
        return NULL;
    }
    buf[len] = 0;
    *n = len;
    return buf;
}

static cJSON *read_json(const char *dir, const char *name, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    size_t n;
    char *buf = read_file(path, &n, err, errlen);
    if (!buf) return NULL;
    cJSON *j = cJSON_ParseWithLength(buf, n);
    free(buf);
    if (!j) seterr(err, errlen, "qwen tokenizer: %s is not valid JSON", path);
    return j;
}

/* GPT-2 byte-to-unicode: printable bytes map to themselves, the rest to U+0100.. in byte order. */
static uint32_t byte_to_unicode(unsigned b)
{
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) return b;
    uint32_t k = 0;
    for (unsigned x = 0; x < b; x++)
        if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255))) k++;
    return 256 + k;
}

void qwen_tok_free(qwen_tokenizer *t)
{
    if (!t) return;
    for (size_t i = 0; i < t->n_added; i++) free(t->added[i].s);
    free(t->added);
    free(t->arena);
    free(t->vocab);
    free(t->pairs);
    free(t->merge_id);
    free(t->byte_pair);
    free(t->cls);
    free(t);
}

static int load_vocab(qwen_tokenizer *t, const char *dir, char *err, size_t errlen)
{
    cJSON *j = read_json(dir, "vocab.json", err, errlen);
    if (!j) return -1;
    int rc = -1;
    if (!cJSON_IsObject(j)) {
        seterr(err, errlen, "qwen tokenizer: %s/vocab.json is not a JSON object", dir);
        goto out;
    }
    size_t n = 0, bytes = 0;
    for (cJSON *c = j->child; c; c = c->next) {
        n++;
        bytes += strlen(c->string) + 1;
    }
    t->arena = malloc(bytes ? bytes : 1);
    t->vocab_cap = pow2_at_least(n * 2 + 64);
    t->vocab = malloc(t->vocab_cap * sizeof(*t->vocab));
    if (!t->arena || !t->vocab) {
        seterr(err, errlen, "qwen tokenizer: out of memory for %zu vocabulary entries", n);
        goto out;
    }
    for (size_t i = 0; i < t->vocab_cap; i++) t->vocab[i].id = -1;
    size_t at = 0;
    for (cJSON *c = j->child; c; c = c->next) {
        if (!cJSON_IsNumber(c) || c->valuedouble < 0 || c->valuedouble > 2147483647.0 ||
            c->valuedouble != (double)(int32_t)c->valuedouble) {
            seterr(err, errlen, "qwen tokenizer: %s/vocab.json: token \"%s\" has no valid id", dir,
                   c->string);
            goto out;
        }
        size_t l = strlen(c->string);
        memcpy(t->arena + at, c->string, l + 1);
        if ((int32_t)c->valuedouble > t->vocab_max_id) t->vocab_max_id = (int32_t)c->valuedouble;
        if (vocab_put(t, t->arena + at, l, (int32_t)c->valuedouble)) {
            seterr(err, errlen, "qwen tokenizer: %s/vocab.json: token \"%s\" appears twice", dir, c->string);
            goto out;
        }
        at += l + 1;
    }
    for (unsigned b = 0; b < 256; b++) {
        char s[4];
        size_t l = utf8_encode(byte_to_unicode(b), s);
        t->byte_id[b] = vocab_find(t, s, l);
        if (t->byte_id[b] < 0) {
            seterr(err, errlen,
                   "qwen tokenizer: %s/vocab.json lacks the byte token for byte 0x%02X (\"%.*s\")", dir, b,
                   (int)l, s);
            goto out;
        }
    }
    rc = 0;
out:
    cJSON_Delete(j);
    return rc;
}

static int load_merges(qwen_tokenizer *t, const char *dir, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/merges.txt", dir);
    size_t n;
    char *buf = read_file(path, &n, err, errlen);
    if (!buf) return -1;
    size_t lines = 1;
    for (size_t i = 0; i < n; i++) lines += buf[i] == '\n';
    t->pairs_cap = pow2_at_least(lines * 2 + 64);
    t->pairs_shift = 64;
    for (size_t c = t->pairs_cap; c > 1; c >>= 1) t->pairs_shift--;
    t->pairs = calloc(t->pairs_cap, sizeof(*t->pairs));
    t->merge_id = malloc(lines * sizeof(*t->merge_id));
    t->byte_pair = malloc(256 * 256 * sizeof(*t->byte_pair));
    char *cat = malloc(n + 1);
    int rc = -1;
    if (!t->pairs || !t->merge_id || !t->byte_pair || !cat) {
        seterr(err, errlen, "qwen tokenizer: out of memory for %zu merges", lines);
        goto out;
    }
    if (lines > PAIR_RANK_MAX || t->vocab_max_id >= (1 << PAIR_ID_BITS)) {
        seterr(err, errlen, "qwen tokenizer: %s: %zu merges or token id %d is more than this tokenizer holds",
               path, lines, (int)t->vocab_max_id);
        goto out;
    }
    int32_t rank = 0;
    size_t lineno = 0;
    for (size_t p = 0; p < n;) {
        size_t e = p;
        while (e < n && buf[e] != '\n') e++;
        size_t le = e;
        if (le > p && buf[le - 1] == '\r') le--;
        lineno++;
        const char *line = buf + p;
        size_t ll = le - p;
        p = e + 1;
        if (ll == 0 || (lineno == 1 && ll >= 9 && memcmp(line, "#version:", 9) == 0)) continue;
        const char *sp = memchr(line, ' ', ll);
        if (!sp || sp == line || sp == line + ll - 1 || memchr(sp + 1, ' ', (size_t)(line + ll - sp - 1))) {
            seterr(err, errlen, "qwen tokenizer: %s line %zu is not \"left right\": \"%.*s\"", path, lineno,
                   (int)(ll > 80 ? 80 : ll), line);
            goto out;
        }
        size_t la = (size_t)(sp - line), lb = ll - la - 1;
        int32_t a = vocab_find(t, line, la), b = vocab_find(t, sp + 1, lb);
        memcpy(cat, line, la);
        memcpy(cat + la, sp + 1, lb);
        int32_t m = vocab_find(t, cat, la + lb);
        if (a < 0 || b < 0 || m < 0) {
            seterr(err, errlen, "qwen tokenizer: %s line %zu: token \"%.*s\" is not in vocab.json", path,
                   lineno,
                   a < 0   ? (int)la
                   : b < 0 ? (int)lb
                           : (int)(la + lb),
                   a < 0   ? line
                   : b < 0 ? sp + 1
                           : cat);
            goto out;
        }
        if (!pair_put(t, a, b, rank)) t->merge_id[rank++] = m;
    }
    for (unsigned x = 0; x < 256; x++)
        for (unsigned y = 0; y < 256; y++)
            t->byte_pair[x << 8 | y] = pair_rank(t, t->byte_id[x], t->byte_id[y]);
    rc = 0;
out:
    free(cat);
    free(buf);
    return rc;
}

static int load_added(qwen_tokenizer *t, const char *dir, char *err, size_t errlen)
{
    cJSON *j = read_json(dir, "tokenizer_config.json", err, errlen);
    if (!j) return -1;
    int rc = -1;
    cJSON *dec = cJSON_GetObjectItemCaseSensitive(j, "added_tokens_decoder");
    if (dec && !cJSON_IsObject(dec)) {
        seterr(err, errlen, "qwen tokenizer: %s/tokenizer_config.json: added_tokens_decoder is not an object",
               dir);
        goto out;
    }
    size_t n = 0;
    for (cJSON *c = dec ? dec->child : NULL; c; c = c->next) n++;
    t->added = calloc(n ? n : 1, sizeof(*t->added));
    if (!t->added) goto oom;
    for (cJSON *c = dec ? dec->child : NULL; c; c = c->next) {
        char *endp;
        long id = strtol(c->string, &endp, 10);
        cJSON *content = cJSON_GetObjectItemCaseSensitive(c, "content");
        if (*c->string == 0 || *endp || id < 0 || id > 2147483647L || !cJSON_IsString(content) ||
            !content->valuestring[0]) {
            seterr(err, errlen,
                   "qwen tokenizer: %s/tokenizer_config.json: added token \"%s\" has no id or content", dir,
                   c->string);
            goto out;
        }
        added_token *a = &t->added[t->n_added];
        a->len = strlen(content->valuestring);
        a->s = malloc(a->len + 1);
        if (!a->s) goto oom;
        memcpy(a->s, content->valuestring, a->len + 1);
        a->id = (int32_t)id;
        t->added_first[(unsigned char)a->s[0]] = 1;
        t->n_added++;
    }
    t->pad_id = -1;
    cJSON *pad = cJSON_GetObjectItemCaseSensitive(j, "pad_token");
    if (cJSON_IsObject(pad)) pad = cJSON_GetObjectItemCaseSensitive(pad, "content");
    t->pad_id = qwen_tok_id(t, cJSON_IsString(pad) ? pad->valuestring : "<|endoftext|>");
    rc = 0;
    goto out;
oom:
    seterr(err, errlen, "qwen tokenizer: out of memory reading %s/tokenizer_config.json", dir);
out:
    cJSON_Delete(j);
    return rc;
}

qwen_tokenizer *qwen_tok_load(const char *dir, char *err, size_t errlen)
{
    qwen_tokenizer *t = calloc(1, sizeof(*t));
    if (!t) {
        seterr(err, errlen, "qwen tokenizer: out of memory");
        return NULL;
    }
    if (load_vocab(t, dir, err, errlen) || load_merges(t, dir, err, errlen) ||
        load_added(t, dir, err, errlen)) {
        qwen_tok_free(t);
        return NULL;
    }
    if (build_classes(t)) {
        seterr(err, errlen, "qwen tokenizer: out of memory for the Unicode tables");
        qwen_tok_free(t);
        return NULL;
    }
    return t;
}

int32_t qwen_tok_id(const qwen_tokenizer *t, const char *token)
{
    size_t l = strlen(token);
    for (size_t i = 0; i < t->n_added; i++)
        if (t->added[i].len == l && memcmp(t->added[i].s, token, l) == 0) return t->added[i].id;
    return vocab_find(t, token, l);
}

int32_t qwen_tok_pad_id(const qwen_tokenizer *t)
{
    return t->pad_id;
}

/* ---- encoding ---- */

typedef struct {
    int32_t *v;
    size_t n, cap;
} idvec;

/* Grows *P (elements of SIZE bytes, capacity *CAP) to hold at least N; 0 or -1. */
static int grow(void **p, size_t *cap, size_t n, size_t size)
{
    if (n <= *cap) return 0;
    size_t nc = *cap ? *cap : 64;
    while (nc < n) nc *= 2;
    void *np = realloc(*p, nc * size);
    if (!np) return -1;
    *p = np;
    *cap = nc;
    return 0;
}

static int id_push(idvec *a, int32_t x)
{
    if (a->n == a->cap && grow((void **)&a->v, &a->cap, a->n + 1, sizeof(*a->v))) return -1;
    a->v[a->n++] = x;
    return 0;
}

/* One cached pre-token: its bytes at keys[koff..koff+klen), its ids at ids[ioff..ioff+nids). */
typedef struct {
    uint64_t h;
    uint32_t koff, klen, ioff, nids;
} word_slot;

/* The state of one qwen_tok_encode call: the output, scratch reused across segments and pieces, and a cache
 * of pre-token bytes -> ids (natural text repeats its words, so most pieces skip BPE). The cache lives for
 * one call, which keeps the tokenizer itself read-only and safe to share between threads. */
typedef struct {
    idvec out;
    char *norm; /* NFC of the current segment when it changed */
    size_t norm_n, norm_cap;
    uint32_t *cp, *off; /* code points of the segment and their byte offsets */
    uint8_t *cl;
    size_t cp_cap, off_cap, cl_cap;
    int32_t *sym; /* BPE of long pieces: symbols, links, ranks and the heap */
    size_t sym_cap;
    uint64_t *heap;
    size_t heap_cap;
    word_slot *ws;
    size_t ws_cap, ws_n;
    char *keys;
    size_t keys_n, keys_cap;
    int32_t *ids;
    size_t ids_n, ids_cap;
} enc_ctx;

static void enc_free(enc_ctx *x)
{
    free(x->norm), free(x->cp), free(x->off), free(x->cl), free(x->sym), free(x->heap);
    free(x->ws), free(x->keys), free(x->ids);
}

static int norm_put(enc_ctx *x, const char *s, size_t n)
{
    if (grow((void **)&x->norm, &x->norm_cap, x->norm_n + n + 1, 1)) return -1;
    memcpy(x->norm + x->norm_n, s, n);
    x->norm_n += n;
    return 0;
}

/* NFC of S[0..LEN) (valid UTF-8) into *OUT, *OUT_LEN: S itself when NFC leaves it as it is (the usual
 * case), else x->norm. Code points not marked CL_NFC are copied through; each run of marked ones is
 * normalised together with the boundary code point before it (see build_classes). */
static int nfc_segment(const qwen_tokenizer *t, enc_ctx *x, const char *s, size_t len, const char **out,
                       size_t *out_len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, done = 0, bound = 0;
    int changed = 0;
    x->norm_n = 0;
    while (i < len) {
        uint32_t cp;
        size_t k;
        if (u[i] < 0x80) {
            bound = i++;
            continue;
        }
        k = utf8_decode(u + i, len - i, &cp);
        if (!k) return -1;
        if (!(t->cls[cp] & CL_NFC)) {
            bound = i;
            i += k;
            continue;
        }
        size_t j = i + k;
        while (j < len) {
            if (u[j] < 0x80) break;
            k = utf8_decode(u + j, len - j, &cp);
            if (!k) return -1;
            if (!(t->cls[cp] & CL_NFC)) break;
            j += k;
        }
        size_t nl;
        char *n = qwen_tok_nfc(s + bound, j - bound, &nl);
        if (!n) return -1;
        int bad = norm_put(x, s + done, bound - done) || norm_put(x, n, nl);
        free(n);
        if (bad) return -1;
        changed = 1;
        done = bound = i = j;
    }
    if (!changed) {
        *out = s;
        *out_len = len;
        return 0;
    }
    if (norm_put(x, s + done, len - done)) return -1;
    *out = x->norm;
    *out_len = x->norm_n;
    return 0;
}

/* Pieces up to BPE_LINEAR_MAX bytes: linear search for the best pair; longer ones: a heap. Pieces of
 * WORD_MIN..WORD_MAX bytes go through the word cache, which holds at most WORD_CACHE_MAX entries (once full,
 * new words are encoded but not cached). The test text.tokenizer_paths builds this file with a linear limit
 * of 1 and no cache, so that the fixtures check the heap as well. */
#ifndef QWEN_BPE_LINEAR_MAX
#define QWEN_BPE_LINEAR_MAX 64
#endif
#ifndef QWEN_WORD_MIN
#define QWEN_WORD_MIN 3
#endif
enum {
    BPE_LINEAR_MAX = QWEN_BPE_LINEAR_MAX,
    WORD_MIN = QWEN_WORD_MIN,
    WORD_MAX = 96,
    WORD_CACHE_MAX = 1 << 17
};

/* BPE of a piece of N <= BPE_LINEAR_MAX bytes: the lowest-ranked adjacent pair (leftmost on ties) is merged
 * until none is in merges.txt. The rank of each adjacent pair is kept beside the symbols, so a merge looks
 * up only the two pairs it changes; pairs of two byte tokens come from the byte-pair table. */
static int bpe_short(const qwen_tokenizer *t, const unsigned char *b, size_t n, idvec *out)
{
    int32_t sym[BPE_LINEAR_MAX + 1], rank[BPE_LINEAR_MAX + 1];
    for (size_t i = 0; i < n; i++) sym[i] = t->byte_id[b[i]];
    for (size_t i = 0; i + 1 < n; i++) rank[i] = t->byte_pair[b[i] << 8 | b[i + 1]];
    size_t m = n;
    while (m > 1) {
        int32_t best = -1;
        size_t bi = 0;
        for (size_t i = 0; i + 1 < m; i++)
            if ((uint32_t)rank[i] < (uint32_t)best) { /* -1 is the largest as unsigned */
                best = rank[i];
                bi = i;
            }
        if (best < 0) break;
        sym[bi] = t->merge_id[best];
        memmove(sym + bi + 1, sym + bi + 2, (m - bi - 2) * sizeof(*sym));
        if (bi + 2 < m) memmove(rank + bi + 1, rank + bi + 2, (m - bi - 3) * sizeof(*rank));
        m--;
        if (bi) rank[bi - 1] = pair_rank(t, sym[bi - 1], sym[bi]);
        if (bi + 1 < m) rank[bi] = pair_rank(t, sym[bi], sym[bi + 1]);
    }
    if (grow((void **)&out->v, &out->cap, out->n + m, sizeof(*out->v))) return -1;
    memcpy(out->v + out->n, sym, m * sizeof(*sym));
    out->n += m;
    return 0;
}

static void heap_push(uint64_t *h, size_t *n, uint64_t e)
{
    size_t i = (*n)++;
    while (i && h[(i - 1) / 2] > e) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = e;
}

static uint64_t heap_pop(uint64_t *h, size_t *n)
{
    uint64_t top = h[0], e = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && h[c + 1] < h[c]) c++;
        if (h[c] >= e) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = e;
    return top;
}

/* The same BPE for a long piece (a run of CJK or Thai letters can be a whole sentence) in O(n log n): the
 * symbols form a linked list and the candidate merges sit in a min-heap ordered by (rank, position), so the
 * one popped first is the lowest-ranked pair and the leftmost of its rank, exactly as bpe_short picks.
 * Entries whose pair has changed since they were pushed are skipped (their rank no longer matches). */
static int bpe_long(const qwen_tokenizer *t, enc_ctx *x, const unsigned char *b, size_t n, idvec *out)
{
    if (grow((void **)&x->sym, &x->sym_cap, 4 * n, sizeof(*x->sym)) ||
        grow((void **)&x->heap, &x->heap_cap, 3 * n, sizeof(*x->heap)) ||
        grow((void **)&out->v, &out->cap, out->n + n, sizeof(*out->v)))
        return -1;
    int32_t *sym = x->sym, *nxt = sym + n, *prv = sym + 2 * n, *rank = sym + 3 * n;
    uint64_t *h = x->heap;
    size_t hn = 0;
    for (size_t i = 0; i < n; i++) {
        sym[i] = t->byte_id[b[i]];
        nxt[i] = i + 1 < n ? (int32_t)(i + 1) : -1;
        prv[i] = (int32_t)i - 1;
        rank[i] = i + 1 < n ? t->byte_pair[b[i] << 8 | b[i + 1]] : -1;
        if (rank[i] >= 0) heap_push(h, &hn, (uint64_t)rank[i] << 32 | i);
    }
    while (hn) {
        uint64_t e = heap_pop(h, &hn);
        int32_t r = (int32_t)(e >> 32), p = (int32_t)(uint32_t)e;
        if (rank[p] != r) continue;
        int32_t q = nxt[p];
        sym[p] = t->merge_id[r];
        nxt[p] = nxt[q];
        if (nxt[q] >= 0) prv[nxt[q]] = p;
        rank[q] = -1;
        rank[p] = nxt[p] >= 0 ? pair_rank(t, sym[p], sym[nxt[p]]) : -1;
        if (rank[p] >= 0) heap_push(h, &hn, (uint64_t)rank[p] << 32 | (uint32_t)p);
        int32_t l = prv[p];
        if (l >= 0) {
            rank[l] = pair_rank(t, sym[l], sym[p]);
            if (rank[l] >= 0) heap_push(h, &hn, (uint64_t)rank[l] << 32 | (uint32_t)l);
        }
    }
    for (int32_t i = 0; i >= 0; i = nxt[i]) out->v[out->n++] = sym[i];
    return 0;
}

static uint64_t hash_piece(const unsigned char *s, size_t n)
{
    uint64_t h = 0x9E3779B97F4A7C15ull ^ n;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 29;
        s += 8, n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, s, n);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 31);
}

static int cache_grow(enc_ctx *x)
{
    size_t nc = x->ws_cap ? x->ws_cap * 2 : 1024;
    word_slot *nw = calloc(nc, sizeof(*nw));
    if (!nw) return -1;
    for (size_t i = 0; i < x->ws_cap; i++) {
        if (!x->ws[i].klen) continue;
        size_t j = x->ws[i].h & (nc - 1);
        while (nw[j].klen) j = (j + 1) & (nc - 1);
        nw[j] = x->ws[i];
    }
    free(x->ws);
    x->ws = nw;
    x->ws_cap = nc;
    return 0;
}

/* Ids of one pre-token of N bytes, appended to x->out. */
static int encode_piece(const qwen_tokenizer *t, enc_ctx *x, const unsigned char *b, size_t n)
{
    idvec *out = &x->out;
    if (n == 1) return id_push(out, t->byte_id[b[0]]);
    if (n < WORD_MIN || n > WORD_MAX)
        return n <= BPE_LINEAR_MAX ? bpe_short(t, b, n, out) : bpe_long(t, x, b, n, out);
    uint64_t h = hash_piece(b, n);
    size_t i = 0;
    if (x->ws_cap) {
        for (i = h & (x->ws_cap - 1); x->ws[i].klen; i = (i + 1) & (x->ws_cap - 1)) {
            const word_slot *w = &x->ws[i];
            if (w->h == h && w->klen == n && memcmp(x->keys + w->koff, b, n) == 0) {
                if (grow((void **)&out->v, &out->cap, out->n + w->nids, sizeof(*out->v))) return -1;
                memcpy(out->v + out->n, x->ids + w->ioff, w->nids * sizeof(*out->v));
                out->n += w->nids;
                return 0;
            }
        }
    }
    size_t start = out->n;
    if ((n <= BPE_LINEAR_MAX ? bpe_short(t, b, n, out) : bpe_long(t, x, b, n, out))) return -1;
    if (x->ws_n >= WORD_CACHE_MAX) return 0;
    size_t k = out->n - start;
    if (grow((void **)&x->keys, &x->keys_cap, x->keys_n + n, 1) ||
        grow((void **)&x->ids, &x->ids_cap, x->ids_n + k, sizeof(*x->ids)))
        return -1;
    if (2 * (x->ws_n + 1) > x->ws_cap) {
        if (cache_grow(x)) return -1;
        for (i = h & (x->ws_cap - 1); x->ws[i].klen; i = (i + 1) & (x->ws_cap - 1)) {
        }
    }
    word_slot *w = &x->ws[i];
    w->h = h;
    w->koff = (uint32_t)x->keys_n;
    w->klen = (uint32_t)n;
    w->ioff = (uint32_t)x->ids_n;
    w->nids = (uint32_t)k;
    memcpy(x->keys + x->keys_n, b, n);
    memcpy(x->ids + x->ids_n, out->v + start, k * sizeof(*x->ids));
    x->keys_n += n;
    x->ids_n += k;
    x->ws_n++;
    return 0;
}

/* One of s t m d in either case (the one-letter contractions). */
static int is_contraction_letter(uint32_t c)
{
    c |= 0x20;
    return c == 's' || c == 't' || c == 'm' || c == 'd';
}

static int ascii_ieq(uint32_t c, char l)
{
    return c < 0x80 && ((c | 0x20) == (uint32_t)l);
}

/* Length in code points of the regex match at CP[I] (N code points in all, CL their CL_* bits); >= 1. */
static size_t split_one(const uint32_t *cp, const uint8_t *cl, size_t i, size_t n)
{
    uint32_t c = cp[i];
    /* (?i:'s|'t|'re|'ve|'m|'ll|'d) */
    if (c == '\'' && i + 1 < n) {
        uint32_t d = cp[i + 1];
        if (is_contraction_letter(d)) return 2;
        if (i + 2 < n && ((ascii_ieq(d, 'r') && ascii_ieq(cp[i + 2], 'e')) ||
                          (ascii_ieq(d, 'v') && ascii_ieq(cp[i + 2], 'e')) ||
                          (ascii_ieq(d, 'l') && ascii_ieq(cp[i + 2], 'l'))))
            return 3;
    }
    unsigned k = cl[i];
    size_t j = i;
    /* [^\r\n\p{L}\p{N}]?\p{L}+ */
    if (!(k & (CL_L | CL_N | CL_CRLF)) && i + 1 < n && (cl[i + 1] & CL_L)) j = i + 1;
    if (cl[j] & CL_L) {
        while (j < n && (cl[j] & CL_L)) j++;
        return j - i;
    }
    /* \p{N} */
    if (k & CL_N) return 1;
    /* ' ?[^\s\p{L}\p{N}]+[\r\n]*' */
    j = i;
    if (c == ' ' && i + 1 < n) j = i + 1;
#define OTHER(x) (!((x) & (CL_S | CL_L | CL_N)))
    if (j < n && OTHER(cl[j])) {
        while (j < n && OTHER(cl[j])) j++;
        while (j < n && (cl[j] & CL_CRLF)) j++;
        return j - i;
    }
#undef OTHER
    if (!(k & CL_S)) return 1; /* unreachable: every code point is a letter, number, space or other */
    j = i;
    while (j < n && (cl[j] & CL_S)) j++;
    /* \s*[\r\n]+ : ends after the last \r or \n of the whitespace run */
    for (size_t q = j; q > i; q--)
        if (cl[q - 1] & CL_CRLF) return q - i;
    /* \s+(?!\S) */
    if (j == n) return j - i;
    if (j - i >= 2) return j - 1 - i;
    /* \s+ */
    return j - i;
}

/* NFC, split and BPE of one segment between added tokens. */
static int encode_segment(const qwen_tokenizer *t, enc_ctx *x, const char *s, size_t len)
{
    if (!len) return 0;
    if (nfc_segment(t, x, s, len, &s, &len)) return -1;
    if (grow((void **)&x->cp, &x->cp_cap, len + 1, sizeof(*x->cp)) ||
        grow((void **)&x->off, &x->off_cap, len + 1, sizeof(*x->off)) ||
        grow((void **)&x->cl, &x->cl_cap, len + 1, 1))
        return -1;
    const unsigned char *u = (const unsigned char *)s;
    uint32_t *cp = x->cp, *off = x->off;
    uint8_t *cl = x->cl;
    size_t n = 0;
    for (size_t i = 0; i < len; n++) {
        off[n] = (uint32_t)i;
        if (u[i] < 0x80) {
            cl[n] = t->cls[cp[n] = u[i++]];
            continue;
        }
        size_t k = utf8_decode(u + i, len - i, &cp[n]);
        if (!k) return -1;
        cl[n] = t->cls[cp[n]];
        i += k;
    }
    off[n] = (uint32_t)len;
    for (size_t i = 0; i < n;) {
        size_t k = split_one(cp, cl, i, n);
        if (encode_piece(t, x, u + off[i], off[i + k] - off[i])) return -1;
        i += k;
    }
    return 0;
}

int qwen_tok_encode(const qwen_tokenizer *t, const char *text, size_t len, int32_t **ids, size_t *n,
                    char *err, size_t errlen)
{
    *ids = NULL;
    *n = 0;
    const unsigned char *u = (const unsigned char *)text;
    if (len > UINT32_MAX) {
        seterr(err, errlen, "qwen tokenizer: a prompt of %zu bytes is more than this tokenizer takes", len);
        return -1;
    }
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t k = u[i] < 0x80 ? 1 : utf8_decode(u + i, len - i, &cp);
        if (!k) {
            seterr(err, errlen, "qwen tokenizer: invalid UTF-8 at byte %zu of the prompt (byte 0x%02X)", i,
                   u[i]);
            return -1;
        }
        i += k;
    }
    enc_ctx x;
    memset(&x, 0, sizeof x);
    size_t seg = 0;
    for (size_t i = 0; i < len;) {
        const added_token *best = NULL;
        if (t->added_first[u[i]])
            for (size_t a = 0; a < t->n_added; a++) {
                const added_token *at = &t->added[a];
                if (at->len <= len - i && (!best || at->len > best->len) &&
                    memcmp(text + i, at->s, at->len) == 0)
                    best = at;
            }
        if (!best) {
            i++;
            continue;
        }
        if (encode_segment(t, &x, text + seg, i - seg) || id_push(&x.out, best->id)) goto oom;
        i += best->len;
        seg = i;
    }
    if (encode_segment(t, &x, text + seg, len - seg)) goto oom;
    *ids = x.out.v;
    *n = x.out.n;
    x.out.v = NULL;
    if (!*n) {
        free(*ids);
        *ids = NULL;
    }
    enc_free(&x);
    return 0;
oom:
    free(x.out.v);
    enc_free(&x);
    seterr(err, errlen, "qwen tokenizer: out of memory encoding %zu bytes", len);
    return -1;
}

static const char cosmos_head[] =
    "<|im_start|>system\nYou are a helpful assistant who will provide prompts to an "
    "image generator.<|im_end|>\n<|im_start|>user\n";
static const char cosmos_tail[] = "<|im_end|>\n";

char *qwen_tok_render_cosmos(const char *prompt, size_t len, size_t *out_len)
{
    size_t h = sizeof cosmos_head - 1, tl = sizeof cosmos_tail - 1;
    char *s = malloc(h + len + tl + 1);
    if (!s) return NULL;
    memcpy(s, cosmos_head, h);
    if (len) memcpy(s + h, prompt, len);
    memcpy(s + h + len, cosmos_tail, tl + 1);
    *out_len = h + len + tl;
    return s;
}

int qwen_tok_encode_cosmos(const qwen_tokenizer *t, const char *prompt, size_t len, size_t max_len,
                           int32_t *ids, int32_t *mask, int32_t **out, size_t *n, char *err, size_t errlen)
{
    size_t sl;
    char *s = qwen_tok_render_cosmos(prompt, len, &sl);
    if (!s) {
        seterr(err, errlen, "qwen tokenizer: out of memory rendering the template");
        return -1;
    }
    int32_t *v;
    size_t nv;
    int rc = qwen_tok_encode(t, s, sl, &v, &nv, err, errlen);
    free(s);
    if (rc) return rc;
    if (max_len == 0) {
        *out = v;
        *n = nv;
        return 0;
    }
    if (t->pad_id < 0 && nv < max_len) {
        free(v);
        seterr(err, errlen, "qwen tokenizer: padding needed but the tokenizer has no pad token");
        return -1;
    }
    for (size_t i = 0; i < max_len; i++) {
        ids[i] = i < nv ? v[i] : t->pad_id;
        if (mask) mask[i] = i < nv;
    }
    free(v);
    if (out) *out = NULL;
    *n = max_len;
    return 0;
}

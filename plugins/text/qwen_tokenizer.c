/* The Qwen2 byte-level BPE tokenizer (see qwen_tokenizer.h), written from the Hugging Face semantics:
 *
 *   1. added tokens (all of `added_tokens_decoder`, special or not) are found in the raw text, leftmost and
 *      longest first, without normalisation;
 *   2. each piece between them is NFC-normalised (full canonical decomposition, canonical ordering and
 *      composition from the generated tables in qwen_unicode_tables.h; Hangul is algorithmic);
 *   3. the Qwen2 split regex
 *        (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|
 * ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ is implemented by hand over code points: each alternative
 * is tried in order at the current position, with the backtracking of the greedy quantifiers worked out in
 * closed form (see split_one). \s is the Unicode White_Space property (what Oniguruma uses); the contraction
 * alternative folds ASCII case only;
 *   4. each piece's bytes map through the GPT-2 byte-to-unicode table;
 *   5. BPE: the lowest-ranked adjacent pair (leftmost on ties) is merged until none is in merges.txt, as the
 *      Hugging Face heap does. Pairs are looked up in an open-addressing hash keyed by the two token ids.
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
    uint64_t key;
    int32_t rank; /* -1: empty slot */
    int32_t id;
} pair_slot;

typedef struct {
    char *s;
    size_t len;
    int32_t id;
} added_token;

struct qwen_tokenizer {
    char *arena; /* vocabulary strings */
    str_slot *vocab;
    size_t vocab_cap, vocab_n;
    pair_slot *pairs;
    size_t pairs_cap;
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

static uint64_t hash_u64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

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

static const pair_slot *pair_find(const qwen_tokenizer *t, int32_t a, int32_t b)
{
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    size_t m = t->pairs_cap - 1;
    for (size_t i = hash_u64(key) & m;; i = (i + 1) & m) {
        const pair_slot *e = &t->pairs[i];
        if (e->rank < 0) return NULL;
        if (e->key == key) return e;
    }
}

static void pair_put(qwen_tokenizer *t, int32_t a, int32_t b, int32_t rank, int32_t id)
{
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    size_t m = t->pairs_cap - 1;
    for (size_t i = hash_u64(key) & m;; i = (i + 1) & m) {
        pair_slot *e = &t->pairs[i];
        if (e->rank < 0) {
            e->key = key;
            e->rank = rank;
            e->id = id;
            return;
        }
        if (e->key == key) return; /* duplicate merge line: the first (lowest rank) wins */
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

static int in_ranges(const uint32_t (*r)[2], int n, uint32_t cp)
{
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (cp < r[mid][0])
            hi = mid - 1;
        else if (cp > r[mid][1])
            lo = mid + 1;
        else
            return 1;
    }
    return 0;
}

static int is_letter(uint32_t c)
{
    if (c < 0x80) return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
    return in_ranges(qwen_letter_ranges, QWEN_LETTER_RANGES_N, c);
}

static int is_number(uint32_t c)
{
    if (c < 0x80) return c >= '0' && c <= '9';
    return in_ranges(qwen_number_ranges, QWEN_NUMBER_RANGES_N, c);
}

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
    t->pairs = malloc(t->pairs_cap * sizeof(*t->pairs));
    char *cat = malloc(n + 1);
    int rc = -1;
    if (!t->pairs || !cat) {
        seterr(err, errlen, "qwen tokenizer: out of memory for %zu merges", lines);
        goto out;
    }
    for (size_t i = 0; i < t->pairs_cap; i++) t->pairs[i].rank = -1;
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
        pair_put(t, a, b, rank++, m);
    }
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

static int id_push(idvec *a, int32_t x)
{
    if (a->n == a->cap) {
        size_t nc = a->cap ? a->cap * 2 : 64;
        int32_t *nv = realloc(a->v, nc * sizeof(*nv));
        if (!nv) return -1;
        a->v = nv;
        a->cap = nc;
    }
    a->v[a->n++] = x;
    return 0;
}

/* BPE over one pre-token's bytes; SYM is scratch of at least 3*N entries. The rank and merged id of each
 * adjacent pair are kept beside the symbols (SYM[n..2n) and SYM[2n..3n)), so a merge looks up only the two
 * pairs it changes instead of every pair again: one hash probe per merge, not one per symbol per merge. */
static int bpe_piece(const qwen_tokenizer *t, const unsigned char *b, size_t n, int32_t *sym, idvec *out)
{
    int32_t *rank = sym + n, *pid = sym + 2 * n;
    for (size_t i = 0; i < n; i++) sym[i] = t->byte_id[b[i]];
    for (size_t i = 0; i + 1 < n; i++) {
        const pair_slot *p = pair_find(t, sym[i], sym[i + 1]);
        rank[i] = p ? p->rank : -1;
        pid[i] = p ? p->id : 0;
    }
    size_t m = n;
    while (m > 1) {
        int32_t best = -1;
        size_t bi = 0;
        for (size_t i = 0; i + 1 < m; i++)
            if (rank[i] >= 0 && (best < 0 || rank[i] < best)) {
                best = rank[i];
                bi = i;
            }
        if (best < 0) break;
        sym[bi] = pid[bi];
        memmove(sym + bi + 1, sym + bi + 2, (m - bi - 2) * sizeof(*sym));
        if (bi + 2 < m) {
            memmove(rank + bi + 1, rank + bi + 2, (m - bi - 3) * sizeof(*rank));
            memmove(pid + bi + 1, pid + bi + 2, (m - bi - 3) * sizeof(*pid));
        }
        m--;
        for (size_t j = bi ? bi - 1 : 0; j <= bi && j + 1 < m; j++) {
            const pair_slot *p = pair_find(t, sym[j], sym[j + 1]);
            rank[j] = p ? p->rank : -1;
            pid[j] = p ? p->id : 0;
        }
    }
    for (size_t i = 0; i < m; i++)
        if (id_push(out, sym[i])) return -1;
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

/* Length in code points of the regex match at CP[I] (N code points in all); always >= 1. */
static size_t split_one(const uint32_t *cp, size_t i, size_t n)
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
    int cl = is_letter(c), cn = is_number(c), cs = is_space(c);
    /* [^\r\n\p{L}\p{N}]?\p{L}+ */
    {
        size_t j = i;
        if (!cl && !cn && c != '\r' && c != '\n' && i + 1 < n && is_letter(cp[i + 1])) j = i + 1;
        if (is_letter(cp[j])) {
            while (j < n && is_letter(cp[j])) j++;
            return j - i;
        }
    }
    /* \p{N} */
    if (cn) return 1;
    /* ' ?[^\s\p{L}\p{N}]+[\r\n]*' */
    {
        size_t j = i;
        if (c == ' ' && i + 1 < n) j = i + 1;
#define OTHER(x) (!is_space(x) && !is_letter(x) && !is_number(x))
        if (j < n && OTHER(cp[j])) {
            while (j < n && OTHER(cp[j])) j++;
            while (j < n && (cp[j] == '\r' || cp[j] == '\n')) j++;
            return j - i;
        }
#undef OTHER
    }
    if (!cs) return 1; /* unreachable: every code point is a letter, number, space or other */
    size_t j = i;
    while (j < n && is_space(cp[j])) j++;
    /* \s*[\r\n]+ : ends after the last \r or \n of the whitespace run */
    for (size_t k = j; k > i; k--)
        if (cp[k - 1] == '\r' || cp[k - 1] == '\n') return k - i;
    /* \s+(?!\S) */
    if (j == n) return j - i;
    if (j - i >= 2) return j - 1 - i;
    /* \s+ */
    return j - i;
}

/* NFC, split and BPE of one segment between added tokens. */
static int encode_segment(const qwen_tokenizer *t, const char *s, size_t len, idvec *out)
{
    if (!len) return 0;
    char *norm = NULL;
    int ascii = 1;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] >= 0x80) {
            ascii = 0;
            break;
        }
    if (!ascii) {
        norm = qwen_tok_nfc(s, len, &len);
        if (!norm) return -1;
        s = norm;
    }
    const unsigned char *u = (const unsigned char *)s;
    uint32_t *cp = malloc((len + 1) * sizeof(*cp));
    size_t *off = malloc((len + 1) * sizeof(*off));
    int32_t *sym = malloc((3 * len + 1) * sizeof(*sym));
    int rc = -1;
    if (!cp || !off || !sym) goto out;
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        size_t k = utf8_decode(u + i, len - i, &cp[n]);
        if (!k) goto out;
        off[n++] = i;
        i += k;
    }
    off[n] = len;
    for (size_t i = 0; i < n;) {
        size_t k = split_one(cp, i, n);
        if (bpe_piece(t, u + off[i], off[i + k] - off[i], sym, out)) goto out;
        i += k;
    }
    rc = 0;
out:
    free(cp);
    free(off);
    free(sym);
    free(norm);
    return rc;
}

int qwen_tok_encode(const qwen_tokenizer *t, const char *text, size_t len, int32_t **ids, size_t *n,
                    char *err, size_t errlen)
{
    *ids = NULL;
    *n = 0;
    const unsigned char *u = (const unsigned char *)text;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t k = utf8_decode(u + i, len - i, &cp);
        if (!k) {
            seterr(err, errlen, "qwen tokenizer: invalid UTF-8 at byte %zu of the prompt (byte 0x%02X)", i,
                   u[i]);
            return -1;
        }
        i += k;
    }
    idvec out = {0};
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
        if (encode_segment(t, text + seg, i - seg, &out) || id_push(&out, best->id)) goto oom;
        i += best->len;
        seg = i;
    }
    if (encode_segment(t, text + seg, len - seg, &out)) goto oom;
    *ids = out.v;
    *n = out.n;
    return 0;
oom:
    free(out.v);
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

/* The Qwen2 tokenizer of plugins/text against tests/fixtures/text/tokenizer_cases.json: every case's ids for
 * the real vocabulary (tokenizer/) and the 1000-rank one (tokenizer_tiny/), plain and through the Cosmos chat
 * template, the rendered template text, and the padded/truncated ids and masks at 64 and 512. Also the
 * defined behaviours: invalid UTF-8 is rejected naming the byte offset, an empty prompt gives no ids (the
 * template alone when templated), a prompt longer than max_length is cut on the right, missing or broken
 * tokenizer files fail naming the file, and NFC on its own. The tokenizer source is compiled into this test.
 * Usage: test_tokenizer FIXTURE_DIR(tests/fixtures/text) WORK_DIR */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "qwen_tokenizer.h"

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

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)sz + 1);
    if (b && fread(b, 1, (size_t)sz, f) != (size_t)sz) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b) b[sz] = 0;
    if (n) *n = (size_t)sz;
    return b;
}

static unsigned char *from_hex(const char *h, size_t *n)
{
    size_t l = strlen(h) / 2;
    unsigned char *b = malloc(l + 1);
    for (size_t i = 0; i < l; i++) {
        unsigned v;
        sscanf(h + 2 * i, "%2x", &v);
        b[i] = (unsigned char)v;
    }
    b[l] = 0;
    *n = l;
    return b;
}

/* Compares ids with a JSON array; prints the first difference. */
static int same_ids(const int32_t *ids, size_t n, const cJSON *arr, const char *what, const char *name)
{
    size_t m = (size_t)cJSON_GetArraySize(arr);
    size_t i = 0;
    const cJSON *e = arr->child;
    for (; i < n && e; i++, e = e->next)
        if (ids[i] != (int32_t)e->valuedouble) break;
    if (i == n && n == m) return 1;
    printf("  %s %s: %zu ids vs %zu expected, first difference at %zu (got %d, want %d)\n", name, what, n, m,
           i, i < n ? ids[i] : -1, e ? (int)e->valuedouble : -1);
    return 0;
}

static void check_cases(const char *fix, const cJSON *root, const char *which)
{
    char dir[4096], err[512] = "";
    snprintf(dir, sizeof dir, "%s/%s", fix, strcmp(which, "full") == 0 ? "tokenizer" : "tokenizer_tiny");
    qwen_tokenizer *t = qwen_tok_load(dir, err, sizeof err);
    CHECK(t, "load %s: %s", dir, err);
    if (!t) return;
    CHECK(qwen_tok_pad_id(t) == qwen_tok_id(t, "<|endoftext|>"), "%s pad id", which);
    const cJSON *special = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "special_ids"), which);
    for (const cJSON *s = special->child; s; s = s->next)
        CHECK(qwen_tok_id(t, s->string) == (int32_t)s->valuedouble, "%s special %s", which, s->string);
    int ok = 0, total = 0;
    for (const cJSON *c = cJSON_GetObjectItem(root, "cases")->child; c; c = c->next) {
        const char *name = cJSON_GetObjectItem(c, "name")->valuestring;
        size_t len;
        unsigned char *text = from_hex(cJSON_GetObjectItem(c, "utf8_hex")->valuestring, &len);
        const cJSON *exp = cJSON_GetObjectItem(c, which);
        int32_t *ids = NULL;
        size_t n = 0;
        int rc = qwen_tok_encode(t, (const char *)text, len, &ids, &n, err, sizeof err);
        CHECK(rc == 0, "%s %s: %s", which, name, err);
        int good = rc == 0 && same_ids(ids, n, cJSON_GetObjectItem(exp, "ids"), "ids", name);
        free(ids);
        size_t tl;
        char *tt = qwen_tok_render_cosmos((const char *)text, len, &tl);
        const char *want_tt = cJSON_GetObjectItem(c, "templated_text")->valuestring;
        /* cJSON stops a string at U+0000 (case control_chars): compare up to there in that case */
        size_t wl = strlen(want_tt);
        int has_nul = memchr(text, 0, len) != NULL;
        CHECK(tt && (has_nul ? tl > wl : tl == wl) && memcmp(tt, want_tt, wl) == 0, "%s templated text",
              name);
        free(tt);
        rc = qwen_tok_encode_cosmos(t, (const char *)text, len, 0, NULL, NULL, &ids, &n, err, sizeof err);
        CHECK(rc == 0, "%s %s templated: %s", which, name, err);
        good &= rc == 0 && same_ids(ids, n, cJSON_GetObjectItem(exp, "templated_ids"), "templated_ids", name);
        free(ids);
        CHECK(good, "%s case %s", which, name);
        ok += good;
        total++;
        free(text);
    }
    printf("%s: %d/%d cases exact\n", which, ok, total);
    int pok = 0, ptotal = 0;
    for (const cJSON *p = cJSON_GetObjectItem(root, "padded")->child; p; p = p->next) {
        const char *name = cJSON_GetObjectItem(p, "name")->valuestring;
        const char *text = cJSON_GetObjectItem(p, "text")->valuestring;
        size_t ml = (size_t)cJSON_GetObjectItem(p, "max_length")->valuedouble;
        const cJSON *exp = cJSON_GetObjectItem(p, which);
        int32_t *ids = malloc(ml * sizeof(*ids)), *mask = malloc(ml * sizeof(*mask));
        size_t n = 0;
        int rc = qwen_tok_encode_cosmos(t, text, strlen(text), ml, ids, mask, NULL, &n, err, sizeof err);
        CHECK(rc == 0, "%s padded %s: %s", which, name, err);
        int good = rc == 0 && same_ids(ids, n, cJSON_GetObjectItem(exp, "input_ids"), "input_ids", name) &&
                   same_ids(mask, n, cJSON_GetObjectItem(exp, "attention_mask"), "attention_mask", name);
        CHECK(good, "%s padded %s at %zu", which, name, ml);
        pok += good;
        ptotal++;
        free(ids);
        free(mask);
    }
    printf("%s: %d/%d padded cases exact\n", which, pok, ptotal);
    qwen_tok_free(t);
}

static void check_behaviours(const char *fix, const char *work)
{
    char dir[4096], err[512] = "";
    snprintf(dir, sizeof dir, "%s/tokenizer_tiny", fix);
    qwen_tokenizer *t = qwen_tok_load(dir, err, sizeof err);
    if (!t) return;
    int32_t *ids = NULL;
    size_t n = 99;
    /* invalid UTF-8: rejected, offset named */
    static const char *bad[] = {"ab\xff", "x\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        int rc = qwen_tok_encode(t, bad[i], strlen(bad[i]), &ids, &n, err, sizeof err);
        CHECK(rc != 0 && ids == NULL && n == 0 && strstr(err, "invalid UTF-8 at byte"), "bad utf8 %zu: %s", i,
              err);
    }
    /* invalid UTF-8 after an added token: the offset counts from the start of the text */
    err[0] = 0;
    CHECK(qwen_tok_encode(t, "<|im_start|>ab\xff", 15, &ids, &n, err, sizeof err) != 0 && !ids && n == 0 &&
              strstr(err, "invalid UTF-8 at byte 14"),
          "bad utf8 after an added token: %s", err);
    /* empty prompt: no ids; templated: only the template (the fixture's "empty" case checks the ids), and
     * padded to 512 it is the template, then pads with mask 0 */
    CHECK(qwen_tok_encode(t, "", 0, &ids, &n, err, sizeof err) == 0 && n == 0 && !ids, "empty");
    {
        int32_t *tmpl = NULL, pids[512], pmask[512];
        size_t nt = 0, np = 0;
        int ok = qwen_tok_encode_cosmos(t, "", 0, 0, NULL, NULL, &tmpl, &nt, err, sizeof err) == 0 &&
                 qwen_tok_encode_cosmos(t, "", 0, 512, pids, pmask, NULL, &np, err, sizeof err) == 0 &&
                 np == 512 && nt > 0 && nt < 512;
        for (size_t i = 0; ok && i < 512; i++)
            ok =
                i < nt ? pids[i] == tmpl[i] && pmask[i] == 1 : pids[i] == qwen_tok_pad_id(t) && pmask[i] == 0;
        CHECK(ok, "empty prompt padded to 512: %s", err);
        free(tmpl);
    }
    /* a prompt far over 512 tokens: cut on the right, no padding, mask all ones */
    size_t L = 5000;
    char *longp = malloc(L + 1);
    for (size_t i = 0; i < L; i++) longp[i] = (char)(i % 2 ? ' ' : 'a' + (char)(i / 2 % 26));
    longp[L] = 0;
    int32_t full_ids[512], mask[512];
    int rc = qwen_tok_encode_cosmos(t, longp, L, 512, full_ids, mask, NULL, &n, err, sizeof err);
    int32_t *all;
    size_t na;
    rc |= qwen_tok_encode_cosmos(t, longp, L, 0, NULL, NULL, &all, &na, err, sizeof err);
    CHECK(rc == 0 && n == 512 && na > 512 && memcmp(all, full_ids, sizeof full_ids) == 0 && mask[511] == 1 &&
              all[na - 2] == qwen_tok_id(t, "<|im_end|>"),
          "long prompt truncation");
    free(all);
    /* throughput (informative): plain text through the tiny tokenizer */
    {
        size_t bl = 1 << 20;
        char *buf = malloc(bl);
        const char *src =
            "A robotic arm in a bright warehouse picks up a red cube from the table, 1234 times! ";
        for (size_t i = 0; i < bl; i++) buf[i] = src[i % strlen(src)];
        clock_t c0 = clock();
        rc = qwen_tok_encode(t, buf, bl, &all, &na, err, sizeof err);
        double s = (double)(clock() - c0) / CLOCKS_PER_SEC;
        printf("throughput: %.1f MB/s (tiny vocabulary, %zu tokens)\n", bl / 1e6 / (s > 0 ? s : 1e-9), na);
        free(all);
        free(buf);
    }
    free(longp);
    qwen_tok_free(t);
    /* NFC by itself */
    size_t ol;
    char *o = qwen_tok_nfc("e\xcc\x81\xe1\x84\x80\xe1\x85\xa1\xe1\x86\xa8 \xef\xac\x81", 16, &ol);
    CHECK(o && ol == 2 + 3 + 1 + 3 && memcmp(o, "\xc3\xa9\xea\xb0\x81 \xef\xac\x81", ol) == 0, "nfc");
    free(o);
    o = qwen_tok_nfc("a\xcc\xa3\xcc\x87", 5, &ol); /* a + dot above(230) + dot below(220) reorder → ạ̇ */
    CHECK(o && ol == 5 && memcmp(o, "\xe1\xba\xa1\xcc\x87", 5) == 0, "nfc ordering");
    free(o);
    /* missing and broken files name the file */
    char p[4096];
    snprintf(p, sizeof p, "%s/no_such_dir", work);
    t = qwen_tok_load(p, err, sizeof err);
    CHECK(!t && strstr(err, "vocab.json"), "missing dir: %s", err);
    snprintf(p, sizeof p, "%s/tok_broken", work);
    char cmd[32768];
    snprintf(cmd, sizeof cmd,
             "rm -rf '%s' && mkdir -p '%s' && cp '%s'/vocab.json '%s'/tokenizer_config.json '%s'", p, p, dir,
             dir, p);
    CHECK(system(cmd) == 0, "prepare %s", p);
    t = qwen_tok_load(p, err, sizeof err);
    CHECK(!t && strstr(err, "merges.txt"), "missing merges: %s", err);
    snprintf(cmd, sizeof cmd, "printf '#version: 0.2\\nab zz\\xc4\\xa0\\n' > '%s/merges.txt'", p);
    CHECK(system(cmd) == 0, "write merges");
    t = qwen_tok_load(p, err, sizeof err);
    CHECK(!t && strstr(err, "merges.txt line 2") && strstr(err, "not in vocab.json"), "bad merge: %s", err);
    /* tokenizer_config.json missing (vocab and merges present), then vocab.json missing alone */
    snprintf(cmd, sizeof cmd, "cp '%s'/merges.txt '%s' && rm '%s'/tokenizer_config.json", dir, p, p);
    CHECK(system(cmd) == 0, "prepare %s", p);
    t = qwen_tok_load(p, err, sizeof err);
    CHECK(!t && strstr(err, "cannot open") && strstr(err, "tokenizer_config.json"), "missing config: %s",
          err);
    snprintf(cmd, sizeof cmd, "cp '%s'/tokenizer_config.json '%s' && rm '%s'/vocab.json", dir, p, p);
    CHECK(system(cmd) == 0, "prepare %s", p);
    t = qwen_tok_load(p, err, sizeof err);
    CHECK(!t && strstr(err, "cannot open") && strstr(err, "vocab.json"), "missing vocab: %s", err);
    snprintf(cmd, sizeof cmd, "printf '{\"a\": ' > '%s/vocab.json'", p);
    CHECK(system(cmd) == 0, "write vocab");
    t = qwen_tok_load(p, err, sizeof err);
    CHECK(!t && strstr(err, "vocab.json is not valid JSON"), "bad vocab: %s", err);
    qwen_tok_free(t);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s FIXTURE_DIR WORK_DIR\n", argv[0]);
        return 2;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer_cases.json", argv[1]);
    char *js = slurp(path, NULL);
    cJSON *root = js ? cJSON_Parse(js) : NULL;
    free(js);
    if (!root) {
        printf("cannot read %s\n", path);
        return 1;
    }
    check_cases(argv[1], root, "tiny");
    check_cases(argv[1], root, "full");
    cJSON_Delete(root);
    check_behaviours(argv[1], argv[2]);
    printf(failures ? "%d failures\n" : "all passed\n", failures);
    return failures != 0;
}

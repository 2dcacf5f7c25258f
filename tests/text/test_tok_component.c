/* The qwen-tokenizer component through libdiorama against tests/fixtures/text/tokenizer_cases.json: every
 * case of both vocabularies in one batched call ([B, N] text + lengths), with the template (templated_ids,
 * then pads) and without (ids, then pads), the padded/truncated cases at 64 and 512 with their masks, a 1-D
 * [N] input ending at its NUL; and the defined failures: invalid UTF-8 fails run() naming the prompt and
 * byte, a missing tokenizer folder or a missing tokenizer_dir fails create(), a bad lengths entry fails
 * run(); an empty prompt gives the template alone then pads (tiny at 64, real vocabulary at 512 against the
 * fixture's "empty" case); a prompt of thousands of tokens at max_length 512 gives the first 512 ids of its
 * uncut encoding, mask all ones. Usage: test_tok_component PLUGIN_DIR FIXTURE_DIR(tests/fixtures/text) */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diorama/diorama.h"

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

static dio_context *ctx;
static dio_backend *be;

static char *slurp(const char *path)
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
    return b;
}

static size_t from_hex(const char *hex, unsigned char *out)
{
    size_t n = strlen(hex) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        out[i] = (unsigned char)v;
    }
    return n;
}

/* Runs the component on B rows of text (row b: lens[b] bytes at text + b*N; lens NULL: no lengths input and
 * a 1-D tensor when B == 1). Returns the ids and mask (malloc'd, B*L each) or a failing status. */
static dio_status tokenize(dio_component *c, const unsigned char *text, int64_t B, int64_t N,
                           const int64_t *lens, int64_t **ids, int64_t **mask, int64_t *L)
{
    dio_backend_ref r = dio_backend_get_ref(be, 0);
    dio_buffer *tb = NULL, *lb = NULL, *ob[2] = {NULL, NULL};
    dio_tensor tt, lt, out[2];
    dio_status st;
    int64_t shape2[2] = {B, N}, shape1[1] = {N};
    *ids = *mask = NULL;
    if ((st = r.iface->buffer_alloc(r.ctx, 0, (uint64_t)(B * N) + 1, &tb)) != DIO_OK) goto done;
    if ((st = r.iface->buffer_upload(r.ctx, NULL, tb, 0, text, (uint64_t)(B * N))) != DIO_OK) goto done;
    if (lens) {
        if ((st = r.iface->buffer_alloc(r.ctx, 0, (uint64_t)B * 8, &lb)) != DIO_OK) goto done;
        if ((st = r.iface->buffer_upload(r.ctx, NULL, lb, 0, lens, (uint64_t)B * 8)) != DIO_OK) goto done;
        dio_tensor_init(&lt, DIO_DTYPE_I64, 1, &B, lb, 0);
    }
    dio_tensor_init(&tt, DIO_DTYPE_U8, lens || B > 1 ? 2 : 1, lens || B > 1 ? shape2 : shape1, tb, 0);
    const dio_tensor *in[2] = {&tt, lens ? &lt : NULL};
    if ((st = dio_component_output_shapes(c, in, out)) != DIO_OK) goto done;
    *L = out[0].shape[1];
    for (int i = 0; i < 2; i++) {
        if ((st = r.iface->buffer_alloc(r.ctx, 0, (uint64_t)(B * *L) * 8, &ob[i])) != DIO_OK) goto done;
        dio_tensor_init(&out[i], DIO_DTYPE_I64, 2, out[i].shape, ob[i], 0);
    }
    const dio_tensor *op[2] = {&out[0], &out[1]};
    if ((st = dio_component_run(c, in, op)) != DIO_OK) goto done;
    *ids = malloc((size_t)(B * *L) * 8);
    *mask = malloc((size_t)(B * *L) * 8);
    r.iface->buffer_download(r.ctx, NULL, ob[0], 0, *ids, (uint64_t)(B * *L) * 8);
    r.iface->buffer_download(r.ctx, NULL, ob[1], 0, *mask, (uint64_t)(B * *L) * 8);
done:
    for (int i = 0; i < 2; i++)
        if (ob[i]) r.iface->buffer_free(r.ctx, ob[i]);
    if (tb) r.iface->buffer_free(r.ctx, tb);
    if (lb) r.iface->buffer_free(r.ctx, lb);
    return st;
}

static dio_component *make(const char *dir, const char *max_length, const char *templ)
{
    dio_component *c = NULL;
    dio_kv kv[3] = {{"tokenizer_dir", dir}, {"max_length", max_length}, {"template", templ}};
    if (dio_component_create(ctx, be, "qwen-tokenizer", NULL, kv, 3, &c) != DIO_OK)
        printf("create %s: %s\n", dir, dio_last_error());
    return c;
}

/* Row `b` of ids/mask equals EXP (a JSON array) then pads (mask 0). */
static int row_ok(const int64_t *ids, const int64_t *mask, int64_t L, const cJSON *exp, int64_t pad)
{
    int64_t n = cJSON_GetArraySize(exp), i = 0;
    const cJSON *v;
    if (n > L) return 0;
    cJSON_ArrayForEach(v, exp)
    {
        if (ids[i] != (int64_t)v->valuedouble || mask[i] != 1) return 0;
        i++;
    }
    for (; i < L; i++)
        if (ids[i] != pad || mask[i] != 0) return 0;
    return 1;
}

static void cases(const cJSON *root, const char *fix, const char *which, int64_t pad)
{
    char dir[1024];
    const cJSON *cs = cJSON_GetObjectItem(root, "cases"), *c;
    int64_t B = cJSON_GetArraySize(cs), N = 1;
    snprintf(dir, sizeof dir, "%s/%s", fix, strcmp(which, "full") == 0 ? "tokenizer" : "tokenizer_tiny");
    cJSON_ArrayForEach(c, cs)
    {
        int64_t n = (int64_t)strlen(cJSON_GetObjectItem(c, "utf8_hex")->valuestring) / 2;
        if (n > N) N = n;
    }
    unsigned char *text = calloc((size_t)(B * N), 1);
    int64_t *lens = calloc((size_t)B, 8), b = 0;
    cJSON_ArrayForEach(c, cs)
    {
        lens[b] = (int64_t)from_hex(cJSON_GetObjectItem(c, "utf8_hex")->valuestring, text + b * N);
        b++;
    }
    for (int templ = 0; templ < 2; templ++) {
        dio_component *comp = make(dir, "256", templ ? "true" : "false");
        int64_t *ids = NULL, *mask = NULL, L = 0;
        int ok = 0;
        CHECK(comp, "%s: create", which);
        if (comp && tokenize(comp, text, B, N, lens, &ids, &mask, &L) == DIO_OK) {
            b = 0;
            cJSON_ArrayForEach(c, cs)
            {
                const cJSON *exp =
                    cJSON_GetObjectItem(cJSON_GetObjectItem(c, which), templ ? "templated_ids" : "ids");
                int good = row_ok(ids + b * L, mask + b * L, L, exp, pad);
                CHECK(good, "%s %s case %s", which, templ ? "templated" : "plain",
                      cJSON_GetObjectItem(c, "name")->valuestring);
                ok += good;
                b++;
            }
        } else
            CHECK(0, "%s run: %s", which, dio_last_error());
        printf("%s %s: %d/%lld cases exact (one batched call, B=%lld N=%lld)\n", which,
               templ ? "templated" : "plain", ok, (long long)B, (long long)B, (long long)N);
        free(ids), free(mask);
        dio_component_destroy(comp);
    }
    free(text), free(lens);

    /* the padded / truncated cases, 1-D input with no lengths */
    const cJSON *p;
    int pok = 0, ptotal = 0;
    cJSON_ArrayForEach(p, cJSON_GetObjectItem(root, "padded"))
    {
        char ml[32];
        const char *t = cJSON_GetObjectItem(p, "text")->valuestring;
        const cJSON *exp = cJSON_GetObjectItem(p, which);
        snprintf(ml, sizeof ml, "%d", cJSON_GetObjectItem(p, "max_length")->valueint);
        dio_component *comp = make(dir, ml, "true");
        int64_t *ids = NULL, *mask = NULL, L = 0;
        int good = 0;
        if (comp && tokenize(comp, (const unsigned char *)t, 1, (int64_t)strlen(t), NULL, &ids, &mask, &L) ==
                        DIO_OK) {
            const cJSON *ei = cJSON_GetObjectItem(exp, "input_ids"),
                        *em = cJSON_GetObjectItem(exp, "attention_mask");
            good = L == cJSON_GetArraySize(ei);
            for (int64_t i = 0; good && i < L; i++)
                good = ids[i] == (int64_t)cJSON_GetArrayItem(ei, (int)i)->valuedouble &&
                       mask[i] == (int64_t)cJSON_GetArrayItem(em, (int)i)->valuedouble;
        }
        CHECK(good, "%s padded %s at %s", which, cJSON_GetObjectItem(p, "name")->valuestring, ml);
        pok += good, ptotal++;
        free(ids), free(mask);
        dio_component_destroy(comp);
    }
    printf("%s: %d/%d padded cases exact\n", which, pok, ptotal);
}

static const cJSON *root_json;

static void failures_defined(const char *fix)
{
    char dir[1024];
    int64_t *ids = NULL, *mask = NULL, L = 0;
    dio_component *c = NULL;
    snprintf(dir, sizeof dir, "%s/tokenizer_tiny", fix);
    /* missing folder, missing param */
    dio_kv kv[1] = {{"tokenizer_dir", "/nonexistent/tokenizer"}};
    CHECK(dio_component_create(ctx, be, "qwen-tokenizer", NULL, kv, 1, &c) != DIO_OK &&
              strstr(dio_last_error(), "vocab.json"),
          "missing folder: %s", dio_last_error());
    CHECK(dio_component_create(ctx, be, "qwen-tokenizer", NULL, NULL, 0, &c) != DIO_OK &&
              strstr(dio_last_error(), "tokenizer_dir"),
          "no tokenizer_dir: %s", dio_last_error());
    c = make(dir, "64", "true");
    if (!c) return;
    /* invalid UTF-8: a lone continuation byte, an overlong, a surrogate */
    static const char *const bad[] = {"ab\x80", "x\xC0\xAF", "\xED\xA0\x80"};
    static const size_t at[] = {2, 1, 0};
    for (int i = 0; i < 3; i++) {
        char want[64];
        snprintf(want, sizeof want, "byte %zu of", at[i]);
        CHECK(tokenize(c, (const unsigned char *)bad[i], 1, (int64_t)strlen(bad[i]), NULL, &ids, &mask, &L) ==
                      DIO_ERR_INVALID_ARGUMENT &&
                  strstr(dio_last_error(), "UTF-8") && strstr(dio_last_error(), want),
              "invalid UTF-8 %d: %s", i, dio_last_error());
        free(ids), free(mask);
    }
    /* a 1-D row ends at its first NUL */
    int64_t *ids2 = NULL, *mask2 = NULL, L2 = 0;
    CHECK(tokenize(c, (const unsigned char *)"abc\0zzz", 1, 7, NULL, &ids, &mask, &L) == DIO_OK &&
              tokenize(c, (const unsigned char *)"abc", 1, 3, NULL, &ids2, &mask2, &L2) == DIO_OK &&
              L == L2 && memcmp(ids, ids2, (size_t)L * 8) == 0 && memcmp(mask, mask2, (size_t)L * 8) == 0,
          "a NUL does not end a 1-D row");
    free(ids), free(mask), free(ids2), free(mask2);
    /* lengths out of range */
    int64_t lens[1] = {9};
    CHECK(tokenize(c, (const unsigned char *)"abc", 1, 3, lens, &ids, &mask, &L) == DIO_ERR_INVALID_ARGUMENT,
          "lengths out of range accepted");
    free(ids), free(mask);
    /* empty prompt: the template alone, then pads */
    lens[0] = 0;
    CHECK(tokenize(c, (const unsigned char *)"x", 1, 1, lens, &ids, &mask, &L) == DIO_OK && L == 64 &&
              mask[40] == 1 && mask[41] == 0,
          "empty prompt: template overhead 41 expected");
    free(ids), free(mask);
    dio_component_destroy(c);

    /* a prompt far longer than 512 tokens, real vocabulary: cut on the right to 512 (mask all ones, no pad,
     * so the template's closing <|im_end|> is gone), equal to the first 512 ids of the uncut encoding */
    snprintf(dir, sizeof dir, "%s/tokenizer", fix);
    size_t pl = 0;
    char *longp = malloc(20000);
    for (int i = 0; pl < 19000; i++)
        pl += (size_t)snprintf(longp + pl, 20000 - pl,
                               "robot arm %d picks cube, caf\xC3\xA9 \xE6\x9C\xBA\xE5\x99\xA8 ", i);
    dio_component *c512 = make(dir, "512", "true"), *cbig = make(dir, "16384", "true");
    int64_t *ids512 = NULL, *mask512 = NULL, *idsb = NULL, *maskb = NULL, Lb = 0, n_real = 0;
    int good =
        c512 && cbig &&
        tokenize(c512, (const unsigned char *)longp, 1, (int64_t)pl, NULL, &ids512, &mask512, &L) == DIO_OK &&
        tokenize(cbig, (const unsigned char *)longp, 1, (int64_t)pl, NULL, &idsb, &maskb, &Lb) == DIO_OK &&
        L == 512;
    for (int64_t i = 0; good && i < Lb; i++) n_real += maskb[i];
    for (int64_t i = 0; good && i < 512; i++) good = mask512[i] == 1 && ids512[i] == idsb[i];
    const cJSON *sp = cJSON_GetObjectItem(cJSON_GetObjectItem(root_json, "special_ids"), "full");
    int64_t im_end = (int64_t)cJSON_GetObjectItem(sp, "<|im_end|>")->valuedouble,
            eot = (int64_t)cJSON_GetObjectItem(sp, "<|endoftext|>")->valuedouble;
    CHECK(good && n_real > 512 && n_real < Lb && idsb[n_real - 2] == im_end && ids512[511] != im_end,
          "a prompt of %lld tokens at max_length 512 is not the first 512 ids", (long long)n_real);
    free(ids512), free(mask512), free(idsb), free(maskb), free(longp);
    dio_component_destroy(c512);
    dio_component_destroy(cbig);
    /* an empty prompt at 512, real vocabulary: the fixture's templated ids of case "empty", then pads */
    c = make(dir, "512", "true");
    lens[0] = 0;
    const cJSON *cs = cJSON_GetObjectItem(root_json, "cases"), *e;
    for (e = cs ? cs->child : NULL; e; e = e->next)
        if (!strcmp(cJSON_GetObjectItem(e, "name")->valuestring, "empty")) break;
    CHECK(c && e && tokenize(c, (const unsigned char *)"x", 1, 1, lens, &ids, &mask, &L) == DIO_OK &&
              L == 512 &&
              row_ok(ids, mask, L, cJSON_GetObjectItem(cJSON_GetObjectItem(e, "full"), "templated_ids"), eot),
          "empty prompt at 512 (real vocabulary)");
    free(ids), free(mask);
    dio_component_destroy(c);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: test_tok_component PLUGIN_DIR FIXTURE_DIR\n");
        return 2;
    }
    const char *dirs[1] = {argv[1]};
    dio_context_options o = {sizeof(o), 1, 1, 0, dirs, 1};
    char path[1024];
    snprintf(path, sizeof path, "%s/tokenizer_cases.json", argv[2]);
    char *json = slurp(path);
    cJSON *root = json ? cJSON_Parse(json) : NULL;
    if (!root || dio_context_create(&o, &ctx) != DIO_OK ||
        dio_backend_open(ctx, "cpu", NULL, 0, &be) != DIO_OK) {
        printf("setup failed: %s\n", dio_last_error());
        return 1;
    }
    cases(root, argv[2], "tiny", 1000);
    cases(root, argv[2], "full", 151643);
    root_json = root;
    failures_defined(argv[2]);
    dio_backend_close(be);
    dio_context_destroy(ctx);
    cJSON_Delete(root);
    free(json);
    printf("%s (%d failures)\n", failures ? "FAILED" : "OK", failures);
    return failures ? 1 : 0;
}

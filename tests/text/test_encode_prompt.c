/* `diorama encode-prompt` end to end on the tiny fixture model, and the dio_cache_* API of libdiorama.
 *
 * SHA-256 against the FIPS 180-4 examples; cache keys (length prefixes, file identity changes on rewrite).
 * Then the CLI, run as a child process (argv passed as is, so any bytes reach it) with DIORAMA_CACHE_DIR set
 * to WORK_DIR/encode_prompt_cache, emptied first. A first run misses the cache, loads the encoder and matches
 * the fixture's prompt.embeds row 0 (atol 1e-4) and prompt.input_ids row 0 (exact); a second run hits the
 * cache (its -v log says "cache hit" and never "loading the text encoder") and gives the same tensors;
 * --no-cache recomputes; --negative matches negative.embeds. Bad inputs fail with exit status 1, a clear
 * message and no output file: a missing tokenizer folder (with and without the cache), an invalid UTF-8
 * prompt, a missing encoder; no prompt at all is a usage error (2). An empty prompt (--prompt "") succeeds:
 * the template alone, then pads (ids against tokenizer_cases.json's "empty" case). A prompt longer than
 * --max-length succeeds cut on the right: at 512 its ids and embedding rows equal the first 512 of the same
 * prompt at 2048 (causal attention: later tokens never change earlier rows), mask all ones.
 * Usage: test_encode_prompt DIORAMA_EXE PLUGIN_DIR FIXTURE_DIR(tests/fixtures/text) WORK_DIR */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

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

static const char *exe, *plugins, *fix, *work;
static char log_path[1024], log_text[65536];

/* Runs `diorama -v --plugin-dir PLUGINS ARGS...` with stderr to log_path; the exit status, log in log_text.
 */
static int run_cli(const char *const *args)
{
    const char *argv[32];
    int n = 0;
    argv[n++] = exe;
    argv[n++] = "-v";
    argv[n++] = "--plugin-dir";
    argv[n++] = plugins;
    for (int i = 0; args[i] && n < 31; i++) argv[n++] = args[i];
    argv[n] = NULL;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) dup2(fd, 2);
        execv(exe, (char *const *)argv);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    FILE *f = fopen(log_path, "rb");
    size_t k = f ? fread(log_text, 1, sizeof(log_text) - 1, f) : 0;
    log_text[k] = 0;
    if (f) fclose(f);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* max |out.name[0] - fixture.fname[row]| (exact compare for ids: returns 0 only when equal). */
static double diff(const char *out, const char *name, const char *fname)
{
    dio_weights *a = NULL, *b = NULL;
    dio_weight_info wa, wb;
    double m = INFINITY;
    char fpath[1024];
    snprintf(fpath, sizeof fpath, "%s/encoder.safetensors", fix);
    wa.struct_size = wb.struct_size = sizeof(wa);
    if (dio_weights_open(out, &a) != DIO_OK || dio_weights_open(fpath, &b) != DIO_OK ||
        dio_weights_find(a, name, &wa) != DIO_OK || dio_weights_find(b, fname, &wb) != DIO_OK ||
        wa.dtype != wb.dtype || wa.shape[0] != 1)
        goto done;
    int64_t n = 1;
    for (int i = 1; i < wa.ndim; i++) n *= wa.shape[i];
    m = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = wa.dtype == DIO_DTYPE_F32
                       ? fabs((double)((const float *)wa.data)[i] - ((const float *)wb.data)[i])
                       : (double)(((const int64_t *)wa.data)[i] != ((const int64_t *)wb.data)[i]);
        if (d > m) m = d;
    }
done:
    dio_weights_close(a);
    dio_weights_close(b);
    return m;
}

/* Removes the entries a previous run left in CACHE/prompt-embeddings, so that the first run here misses. */
/* A copy of tensor NAME of the safetensors file PATH (f32 or i64), with its element count; NULL if absent. */
static void *read_tensor(const char *path, const char *name, int64_t *n)
{
    dio_weights *w = NULL;
    dio_weight_info wi;
    void *p = NULL;
    wi.struct_size = sizeof(wi);
    *n = 0;
    if (dio_weights_open(path, &w) == DIO_OK && dio_weights_find(w, name, &wi) == DIO_OK &&
        (p = malloc(wi.nbytes ? wi.nbytes : 1)) != NULL) {
        memcpy(p, wi.data, wi.nbytes);
        *n = (int64_t)(wi.nbytes / 8 * (wi.dtype == DIO_DTYPE_F32 ? 2 : 1));
    }
    dio_weights_close(w);
    return p;
}

static void empty_cache(const char *cache)
{
    char dir[1100], p[2400];
    snprintf(dir, sizeof dir, "%s/prompt-embeddings", cache);
    DIR *d = opendir(dir);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        remove(p);
    }
    closedir(d);
}

static void sha_vectors(void)
{
    static const struct {
        const char *in, *hex;
    } v[] = {
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    };
    for (int i = 0; i < 3; i++) {
        uint8_t d[32];
        char hex[65];
        dio_sha256(v[i].in, strlen(v[i].in), d);
        for (int j = 0; j < 32; j++) snprintf(hex + 2 * j, 3, "%02x", d[j]);
        CHECK(strcmp(hex, v[i].hex) == 0, "sha256 vector %d: %s", i, hex);
    }
    char *mil = malloc(1000000);
    memset(mil, 'a', 1000000);
    uint8_t d[32];
    char hex[65];
    dio_sha256(mil, 1000000, d);
    for (int j = 0; j < 32; j++) snprintf(hex + 2 * j, 3, "%02x", d[j]);
    CHECK(strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0,
          "sha256 of a million a: %s", hex);
    free(mil);

    /* keys: parts are length-prefixed; a rewritten file changes the key; a missing file is an error */
    dio_cache_key k1, k2;
    char h1[65], h2[65], p[1024];
    dio_cache_key_init(&k1), dio_cache_key_init(&k2);
    dio_cache_key_add_str(&k1, "ab"), dio_cache_key_add_str(&k1, "c");
    dio_cache_key_add_str(&k2, "a"), dio_cache_key_add_str(&k2, "bc");
    dio_cache_key_hex(&k1, h1), dio_cache_key_hex(&k2, h2);
    CHECK(strcmp(h1, h2) != 0, "length prefixes");
    snprintf(p, sizeof p, "%s/keyfile", work);
    FILE *f = fopen(p, "wb");
    fputs("one", f), fclose(f);
    dio_cache_key_init(&k1), dio_cache_key_init(&k2);
    CHECK(dio_cache_key_add_file(&k1, p) == DIO_OK, "key of a file");
    f = fopen(p, "wb");
    fputs("four", f), fclose(f);
    dio_cache_key_add_file(&k2, p);
    dio_cache_key_hex(&k1, h1), dio_cache_key_hex(&k2, h2);
    CHECK(strcmp(h1, h2) != 0, "a rewritten file keeps its key");
    CHECK(dio_cache_key_add_file(&k2, "/nonexistent/x") == DIO_ERR_IO &&
              strstr(dio_last_error(), "/nonexistent/x"),
          "missing file: %s", dio_last_error());
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: test_encode_prompt DIORAMA_EXE PLUGIN_DIR FIXTURE_DIR WORK_DIR\n");
        return 2;
    }
    exe = argv[1], plugins = argv[2], fix = argv[3], work = argv[4];
    char cache[1024], te[1024], tok[1024], out1[1024], out2[1024], out3[1024], outn[1024], bad[1024];
    snprintf(cache, sizeof cache, "%s/encode_prompt_cache", work);
    empty_cache(cache);
    snprintf(te, sizeof te, "%s/text_encoder", fix);
    snprintf(tok, sizeof tok, "%s/tokenizer_tiny", fix);
    snprintf(out1, sizeof out1, "%s/ep_first.safetensors", work);
    snprintf(out2, sizeof out2, "%s/ep_second.safetensors", work);
    snprintf(out3, sizeof out3, "%s/ep_nocache.safetensors", work);
    snprintf(outn, sizeof outn, "%s/ep_negative.safetensors", work);
    snprintf(bad, sizeof bad, "%s/ep_bad.safetensors", work);
    snprintf(log_path, sizeof log_path, "%s/ep_log.%d.txt", work, (int)getpid());
    setenv("DIORAMA_CACHE_DIR", cache, 1);
    remove(out1), remove(out2), remove(out3), remove(outn), remove(bad);

    sha_vectors();

    const char *prompt = "A red cube on a table.";
    const char *a1[] = {"encode-prompt", "--text-encoder", te,   "--tokenizer", tok,  "--prompt",
                        prompt,          "--max-length",   "64", "--output",    out1, NULL};
    int rc = run_cli(a1);
    CHECK(rc == 0 && strstr(log_text, "cache miss") && strstr(log_text, "loading the text encoder"),
          "first run rc %d:\n%s", rc, log_text);
    double de = diff(out1, "embeddings", "prompt.embeds"), di = diff(out1, "input_ids", "prompt.input_ids");
    CHECK(de < 1e-4 && di == 0, "first run vs fixture: embeds %g, ids %g", de, di);
    printf("first run: cache miss, embeds max |diff| %.3g, ids exact %d\n", de, di == 0);

    const char *a2[] = {"encode-prompt", "--text-encoder", te,   "--tokenizer", tok,  "--prompt",
                        prompt,          "--max-length",   "64", "--output",    out2, NULL};
    rc = run_cli(a2);
    CHECK(rc == 0 && strstr(log_text, "cache hit") && !strstr(log_text, "loading the text encoder") &&
              !strstr(log_text, "loaded component"),
          "second run did not hit the cache (rc %d):\n%s", rc, log_text);
    de = diff(out2, "embeddings", "prompt.embeds");
    CHECK(de < 1e-4 && diff(out2, "input_ids", "prompt.input_ids") == 0, "second run vs fixture: %g", de);
    printf("second run: cache hit, encoder not loaded, embeds max |diff| %.3g\n", de);

    const char *a3[] = {
        "encode-prompt", "--no-cache", "--text-encoder", te,   "--tokenizer", tok, "--prompt", prompt,
        "--max-length",  "64",         "--output",       out3, NULL};
    rc = run_cli(a3);
    CHECK(rc == 0 && !strstr(log_text, "cache") && strstr(log_text, "loading the text encoder") &&
              diff(out3, "embeddings", "prompt.embeds") < 1e-4,
          "--no-cache (rc %d):\n%s", rc, log_text);

    const char *a4[] = {"encode-prompt", "--negative", "--text-encoder", te,   "--tokenizer", tok,
                        "--max-length",  "64",         "--output",       outn, NULL};
    rc = run_cli(a4);
    de = diff(outn, "embeddings", "negative.embeds");
    CHECK(rc == 0 && de < 1e-4 && diff(outn, "input_ids", "negative.input_ids") == 0,
          "--negative rc %d diff %g", rc, de);
    printf("negative prompt: embeds max |diff| %.3g\n", de);

    /* an empty prompt: the template alone (the fixture's "empty" case, tiny vocabulary), then pads */
    {
        char cpath[1024], outE[1024];
        snprintf(cpath, sizeof cpath, "%s/tokenizer_cases.json", fix);
        snprintf(outE, sizeof outE, "%s/ep_empty.safetensors", work);
        remove(outE);
        FILE *f = fopen(cpath, "rb");
        static char js[1 << 20];
        size_t jl = f ? fread(js, 1, sizeof js - 1, f) : 0;
        if (f) fclose(f);
        js[jl] = 0;
        cJSON *root = cJSON_Parse(js), *c = NULL, *want = NULL, *pad = NULL;
        cJSON *cases = cJSON_GetObjectItem(root, "cases");
        for (c = cases ? cases->child : NULL; c; c = c->next)
            if (!strcmp(cJSON_GetObjectItem(c, "name")->valuestring, "empty")) break;
        if (c) want = cJSON_GetObjectItem(cJSON_GetObjectItem(c, "tiny"), "templated_ids");
        pad = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(root, "special_ids"), "tiny"),
                                  "<|endoftext|>");
        const char *ae[] = {
            "encode-prompt", "--no-cache", "--text-encoder", te,   "--tokenizer", tok, "--prompt", "",
            "--max-length",  "64",         "--output",       outE, NULL};
        rc = run_cli(ae);
        int64_t ni = 0, nm = 0;
        int64_t *ids = read_tensor(outE, "input_ids", &ni), *mask = read_tensor(outE, "attention_mask", &nm);
        int good = rc == 0 && want && pad && ids && mask && ni == 64 && nm == 64;
        int64_t k = want ? cJSON_GetArraySize(want) : 0;
        for (int64_t i = 0; good && i < 64; i++)
            good = i < k ? ids[i] == (int64_t)cJSON_GetArrayItem(want, (int)i)->valuedouble && mask[i] == 1
                         : ids[i] == (int64_t)pad->valuedouble && mask[i] == 0;
        CHECK(good, "empty prompt (rc %d):\n%s", rc, log_text);
        printf("empty prompt: the template alone (%lld ids), then pads\n", (long long)k);
        free(ids), free(mask);
        cJSON_Delete(root);
        remove(outE);
    }

    /* a prompt longer than max_length: cut on the right */
    {
        static char longp[16384];
        size_t pl = 0;
        for (int i = 0; pl < 2500; i++)
            pl += (size_t)snprintf(longp + pl, sizeof longp - pl, "robot arm %d picks the red cube. ", i);
        char o512[1024], o2048[1024];
        snprintf(o512, sizeof o512, "%s/ep_long512.safetensors", work);
        snprintf(o2048, sizeof o2048, "%s/ep_long2048.safetensors", work);
        const char *l1[] = {
            "encode-prompt", "--no-cache", "--text-encoder", te,   "--tokenizer", tok, "--prompt", longp,
            "--max-length",  "512",        "--output",       o512, NULL};
        const char *l2[] = {
            "encode-prompt", "--no-cache",   "--text-encoder", te,         "--tokenizer", tok, "--prompt",
            longp,           "--max-length", "2048",           "--output", o2048,         NULL};
        int rc1 = run_cli(l1), rc2 = run_cli(l2);
        int64_t na, nb, nma, nmb, nea, neb;
        int64_t *ia = read_tensor(o512, "input_ids", &na), *ib = read_tensor(o2048, "input_ids", &nb);
        int64_t *ma = read_tensor(o512, "attention_mask", &nma),
                *mb = read_tensor(o2048, "attention_mask", &nmb);
        float *ea = read_tensor(o512, "embeddings", &nea), *eb = read_tensor(o2048, "embeddings", &neb);
        int64_t real = 0;
        int good = rc1 == 0 && rc2 == 0 && ia && ib && ma && mb && ea && eb && na == 512 && nb == 2048 &&
                   nea * 4 == neb;
        for (int64_t i = 0; good && i < 2048; i++) real += mb[i];
        for (int64_t i = 0; good && i < 512; i++) good = ma[i] == 1 && ia[i] == ib[i];
        double md = good ? 0 : INFINITY;
        for (int64_t i = 0; good && i < nea; i++) md = fmax(md, fabs((double)ea[i] - eb[i]));
        CHECK(good && real > 512 && real < 2048 && md < 1e-4,
              "long prompt: rc %d/%d, %lld tokens, embedding rows differ by %g", rc1, rc2, (long long)real,
              md);
        printf("long prompt: %lld tokens cut to 512, rows equal the uncut run's (max |diff| %.3g)\n",
               (long long)real, md);
        free(ia), free(ib), free(ma), free(mb), free(ea), free(eb);
        remove(o512), remove(o2048);
    }

    /* bad inputs: exit 1, a message naming the problem, no output file */
    const char *b1[] = {"encode-prompt", "--text-encoder", te,         "--tokenizer", "/nonexistent/tok",
                        "--prompt",      prompt,           "--output", bad,           NULL};
    rc = run_cli(b1);
    CHECK(rc == 1 && strstr(log_text, "/nonexistent/tok") && !exists(bad), "missing tokenizer: rc %d\n%s", rc,
          log_text);
    const char *b2[] = {
        "encode-prompt", "--no-cache", "--text-encoder", te,  "--tokenizer", "/nonexistent/tok",
        "--prompt",      prompt,       "--output",       bad, NULL};
    rc = run_cli(b2);
    CHECK(rc == 1 && strstr(log_text, "vocab.json") && !exists(bad), "missing tokenizer, no cache: rc %d\n%s",
          rc, log_text);
    const char *b3[] = {"encode-prompt", "--text-encoder", te,         "--tokenizer", tok,
                        "--prompt",      "caf\xC3 \xFF",   "--output", bad,           NULL};
    rc = run_cli(b3);
    CHECK(rc == 1 && strstr(log_text, "not valid UTF-8 (byte 3 of 6") && !exists(bad),
          "invalid UTF-8: rc %d\n%s", rc, log_text);
    const char *b4[] = {"encode-prompt", "--text-encoder", te, "--tokenizer", tok, "--output", bad, NULL};
    rc = run_cli(b4);
    CHECK(rc == 2 && !exists(bad), "no prompt: rc %d", rc);
    const char *b5[] = {
        "encode-prompt", "--text-encoder", "/nonexistent/te", "--tokenizer", tok, "--no-cache",
        "--prompt",      prompt,           "--output",        bad,           NULL};
    rc = run_cli(b5);
    CHECK(rc == 1 && strstr(log_text, "/nonexistent/te") && !exists(bad), "missing encoder: rc %d\n%s", rc,
          log_text);

    remove(log_path);
    printf("%s (%d failures)\n", failures ? "FAILED" : "OK", failures);
    return failures ? 1 : 0;
}

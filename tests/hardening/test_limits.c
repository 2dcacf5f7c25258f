/* tests/hardening: every input limit is refused with a clear error naming the limit and the value.
 *
 * Files one step past each limit are built here (under the scratch directory) and opened through the
 * public API; each must fail with the listed status and a message holding the listed substrings, and
 * one step inside the limit must still open where that is cheap to show. The limits (one place per file):
 *   safetensors (core/safetensors.c): header 100 MB, 2^20 tensors, names 4096 bytes, 6 dims, numel x size
 *     within 63 bits; torch.save (core/pt_pickle.c, also tests/hardening/test_attack.c): data.pkl 32 MiB,
 *     4096 MARKs, memo 2^22, nesting 64, names 4096;
 *   graph (core/graph.c, docs/graph-format.md): file 16 MiB, JSON nesting 64, strings and variable values
 *     64 KiB, 4096 nodes / components / variables;
 *   prompt (plugins/text/qwen_tok_component.c): 64 KiB, through `diorama encode-prompt`;
 *   media input (core/media_read.c): 16384 px a side (a PNG, and a WebP canvas checked before decoding),
 *     100,000 frames (a y4m of 100,001 tiny frames).
 * The 2^20-tensor header (about 60 MB of JSON) runs only with --heavy, which the Release ctest passes and
 * the sanitizer build does not (it would take minutes under ASan).
 * Usage: test_limits SCRATCH_DIR DIORAMA_CLI PLUGIN_DIR SOURCE_DIR [--heavy] */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "diorama/diorama.h"
#include "diorama/graph.h"
#include "diorama/media.h"

static int g_failed;
static const char *g_scratch, *g_source;

static void scratch(char *out, const char *name)
{
    snprintf(out, PATH_MAX, "%s/%s", g_scratch, name);
}

/* `got` must be `want` with a message holding each NULL-terminated substring. */
static void expect(const char *what, dio_status got, dio_status want, const char *msg, ...)
{
    int ok = got == want;
    va_list ap;
    va_start(ap, msg);
    for (const char *s = va_arg(ap, const char *); s; s = va_arg(ap, const char *))
        if (!msg || !strstr(msg, s)) {
            printf("     message lacks \"%s\"\n", s);
            ok = 0;
        }
    va_end(ap);
    printf("%s %s: %s %s\n", ok ? "ok  " : "FAIL", what, dio_status_name(got), msg ? msg : "");
    g_failed += !ok;
}

static int write_file(const char *path, const void *a, size_t na, const void *b, size_t nb)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int ok = fwrite(a, 1, na, f) == na && (nb == 0 || fwrite(b, 1, nb, f) == nb);
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* A safetensors file whose header is the JSON text given (padded), and `data` bytes of zeros. */
static dio_status open_safetensors(const char *name, const char *json, size_t data, char *msg, size_t cap)
{
    char path[PATH_MAX];
    scratch(path, name);
    size_t n = strlen(json);
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)n >> (8 * i));
    char *body = calloc(1, n + data + 1);
    if (!body) return DIO_ERR_OUT_OF_HOST_MEMORY;
    memcpy(body, json, n);
    dio_status st = DIO_ERR_IO;
    if (write_file(path, len8, 8, body, n + data) == 0) {
        dio_weights *w = NULL;
        st = dio_weights_open(path, &w);
        snprintf(msg, cap, "%s", st == DIO_OK ? "" : dio_last_error());
        dio_weights_close(w);
    }
    free(body);
    unlink(path);
    return st;
}

static void safetensors_limits(int heavy)
{
    char msg[2048], path[PATH_MAX];
    /* header length past 100 MB: only the 8 length bytes are needed */
    unsigned char big[16] = {0};
    uint64_t hlen = 100000001;
    for (int i = 0; i < 8; i++) big[i] = (unsigned char)(hlen >> (8 * i));
    scratch(path, "big_header.safetensors");
    dio_weights *w = NULL;
    dio_status st = write_file(path, big, sizeof big, NULL, 0) == 0 ? dio_weights_open(path, &w) : DIO_ERR_IO;
    expect("safetensors header of 100,000,001 bytes", st, DIO_ERR_BAD_FORMAT, dio_last_error(), "100000001",
           "exceeds the limit of 100000000", NULL);
    dio_weights_close(w);
    unlink(path);

    /* a name of 4097 bytes, and one of 4096 that opens */
    for (int n = 4096; n <= 4097; n++) {
        char *json = malloc((size_t)n + 128);
        if (!json) return;
        int k = sprintf(json, "{\"");
        memset(json + k, 'a', (size_t)n);
        sprintf(json + k + n, "\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}");
        st = open_safetensors("long_name.safetensors", json, 1, msg, sizeof msg);
        free(json);
        if (n == 4096)
            expect("safetensors name of 4096 bytes opens", st, DIO_OK, "", NULL);
        else
            expect("safetensors name of 4097 bytes", st, DIO_ERR_BAD_FORMAT, msg, "4097 bytes",
                   "limit is 4096", NULL);
    }
    st = open_safetensors("seven_dims.safetensors",
                          "{\"x\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1,
                          msg, sizeof msg);
    expect("safetensors tensor of 7 dims", st, DIO_ERR_BAD_FORMAT, msg, "7 dims", "at most 6", NULL);
    st = open_safetensors(
        "numel_overflow.safetensors",
        "{\"x\":{\"dtype\":\"F32\",\"shape\":[4194304,4194304,4194304],\"data_offsets\":[0,4]}}", 4, msg,
        sizeof msg);
    expect("safetensors shape 2^22 x 2^22 x 2^22 of f32", st, DIO_ERR_BAD_FORMAT, msg, "'x'", "63 bits",
           NULL);

    if (!heavy) {
        printf("skip safetensors with 2^20 + 1 tensors (only with --heavy: a 60 MB header)\n");
        return;
    }
    size_t count = ((size_t)1 << 20) + 1, cap = count * 64 + 16, at = 0;
    char *json = malloc(cap);
    if (!json) return;
    json[at++] = '{';
    for (size_t i = 0; i < count; i++)
        at += (size_t)snprintf(json + at, cap - at,
                               "%s\"t%zu\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}",
                               i ? "," : "", i);
    json[at++] = '}';
    json[at] = '\0';
    st = open_safetensors("many.safetensors", json, 0, msg, sizeof msg);
    free(json);
    expect("safetensors with 1,048,577 tensors", st, DIO_ERR_BAD_FORMAT, msg, "more than 1048576 tensors",
           NULL);
}

/* ---- graphs ---- */

static dio_status parse_graph(const char *json, char *msg, size_t cap)
{
    dio_graph *g = NULL;
    dio_status st = dio_graph_parse(json, strlen(json), g_scratch, &g);
    snprintf(msg, cap, "%s", st == DIO_OK ? "" : dio_last_error());
    dio_graph_destroy(g);
    return st;
}

/* {"diorama_graph": 1, "nodes": [{"id": "n0", "op": "input"} ...]} with `nodes` nodes. */
static char *graph_with_nodes(int nodes)
{
    size_t cap = (size_t)nodes * 48 + 64, at = 0;
    char *s = malloc(cap);
    if (!s) return NULL;
    at += (size_t)snprintf(s, cap, "{\"diorama_graph\": 1, \"nodes\": [");
    for (int i = 0; i < nodes; i++)
        at += (size_t)snprintf(s + at, cap - at, "%s{\"id\":\"n%d\",\"op\":\"input\"}", i ? "," : "", i);
    snprintf(s + at, cap - at, "]}");
    return s;
}

static void graph_limits(void)
{
    char msg[2048];
    /* 65 levels of arrays inside a node's params */
    char deep[512];
    int at = snprintf(deep, sizeof deep,
                      "{\"diorama_graph\": 1, \"nodes\": [{\"id\": \"a\", \"op\": \"input\", "
                      "\"params\": {\"x\": ");
    for (int i = 0; i < 62; i++) deep[at++] = '[';
    for (int i = 0; i < 62; i++) deep[at++] = ']';
    snprintf(deep + at, sizeof deep - (size_t)at, "}}]}");
    expect("graph nested 65 deep", parse_graph(deep, msg, sizeof msg), DIO_ERR_BAD_FORMAT, msg,
           "nested deeper than 64", NULL);

    char *g = graph_with_nodes(4097);
    if (g) {
        expect("graph of 4097 nodes", parse_graph(g, msg, sizeof msg), DIO_ERR_BAD_FORMAT, msg, "nodes: 4097",
               "limit is 4096", NULL);
        free(g);
    }
    /* 4097 variables */
    size_t cap = 4097 * 40 + 128, n = 0;
    char *v = malloc(cap);
    if (v) {
        n += (size_t)snprintf(v, cap, "{\"diorama_graph\": 1, \"variables\": {");
        for (int i = 0; i < 4097; i++) n += (size_t)snprintf(v + n, cap - n, "%s\"v%d\":{}", i ? "," : "", i);
        snprintf(v + n, cap - n, "}, \"nodes\": [{\"id\":\"a\",\"op\":\"input\"}]}");
        expect("graph of 4097 variables", parse_graph(v, msg, sizeof msg), DIO_ERR_BAD_FORMAT, msg,
               "variables: 4097", "limit is 4096", NULL);
        free(v);
    }
    /* a string of 65537 bytes as a variable default, and as a value set from outside */
    char *s = malloc(65537 + 256);
    if (s) {
        int k = sprintf(s, "{\"diorama_graph\": 1, \"variables\": {\"prompt\": {\"default\": \"");
        memset(s + k, 'x', 65537);
        sprintf(s + k + 65537, "\"}}, \"nodes\": [{\"id\":\"a\",\"op\":\"input\"}]}");
        expect("graph string of 65537 bytes", parse_graph(s, msg, sizeof msg), DIO_ERR_BAD_FORMAT, msg,
               "string longer than 65536", NULL);
        dio_graph *gr = NULL;
        char sample[PATH_MAX];
        snprintf(sample, sizeof sample, "%s/samples/graphs/tiny-text2world.json", g_source);
        dio_status st = dio_graph_load(sample, &gr);
        if (st == DIO_OK) {
            memset(s, 'y', 65537);
            s[65537] = '\0';
            st = dio_graph_set_var(gr, "prompt", s);
            expect("graph variable set to 65537 bytes", st, DIO_ERR_INVALID_ARGUMENT, dio_last_error(),
                   "longer than 65536", NULL);
            s[65536] = '\0';
            st = dio_graph_set_var(gr, "prompt", s);
            expect("graph variable set to 65536 bytes", st, DIO_OK, st == DIO_OK ? "" : dio_last_error(),
                   NULL);
        } else {
            expect("tiny-text2world.json loads", st, DIO_OK, dio_last_error(), NULL);
        }
        dio_graph_destroy(gr);
        free(s);
    }
    /* a graph file over 16 MiB */
    char path[PATH_MAX];
    scratch(path, "huge_graph.json");
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs("{\"diorama_graph\": 1, \"nodes\": [], \"x\": \"", f);
        for (int i = 0; i < (16 << 10) + 1; i++) fprintf(f, "%01024d", 0);
        fputs("\"}", f);
        fclose(f);
        dio_graph *gr = NULL;
        dio_status st = dio_graph_load(path, &gr);
        expect("graph file over 16 MiB", st, DIO_ERR_BAD_FORMAT, dio_last_error(),
               "larger than 16777216 bytes", NULL);
        dio_graph_destroy(gr);
        unlink(path);
    }
}

/* ---- prompt length, through the CLI ---- */

static void prompt_limit(const char *cli, const char *plugins, const char *text)
{
    char te[PATH_MAX + 32], tok[PATH_MAX + 32], out[PATH_MAX], log[PATH_MAX], cache[PATH_MAX];
    snprintf(te, sizeof te, "%s/text_encoder", text);
    snprintf(tok, sizeof tok, "%s/tokenizer", text);
    scratch(out, "long_prompt.safetensors");
    scratch(log, "long_prompt.log");
    scratch(cache, "cache");
    char *prompt = malloc(65537 + 1);
    if (!prompt) return;
    memset(prompt, 'a', 65537);
    prompt[65537] = '\0';
    for (int i = 0; i < 65537; i += 8) prompt[i] = ' ';
    pid_t pid = fork();
    if (pid == 0) {
        FILE *l = freopen(log, "w", stderr);
        (void)l;
        setenv("DIORAMA_CACHE_DIR", cache, 1);
        execl(cli, cli, "--plugin-dir", plugins, "encode-prompt", "--text-encoder", te, "--tokenizer", tok,
              "--prompt", prompt, "--output", out, (char *)NULL);
        _exit(127);
    }
    free(prompt);
    int status = 0;
    waitpid(pid, &status, 0);
    char msg[4096] = "";
    FILE *f = fopen(log, "r");
    if (f) {
        size_t n = fread(msg, 1, sizeof msg - 1, f);
        msg[n] = '\0';
        fclose(f);
    }
    msg[strcspn(msg, "\n")] = '\0';
    struct stat sb;
    int no_output = stat(out, &sb) != 0;
    int ok_exit = WIFEXITED(status) && WEXITSTATUS(status) == 1;
    if (!no_output || !ok_exit) {
        printf("FAIL prompt of 65537 bytes: exit %d, output %s\n",
               WIFEXITED(status) ? WEXITSTATUS(status) : -1, no_output ? "absent" : "written");
        g_failed++;
    }
    expect("prompt of 65537 bytes (diorama encode-prompt)", ok_exit ? DIO_ERR_INVALID_ARGUMENT : DIO_OK,
           DIO_ERR_INVALID_ARGUMENT, msg, "65537 bytes", "limit is 65536", NULL);
    unlink(log);
}

/* ---- media input ---- */

static uint32_t crc32_of(const unsigned char *p, size_t n, uint32_t c)
{
    c = ~c;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return ~c;
}

static void be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16), p[2] = (unsigned char)(v >> 8),
    p[3] = (unsigned char)v;
}

static void png_chunk(FILE *f, const char *type, const unsigned char *data, uint32_t n)
{
    unsigned char h[8];
    be32(h, n);
    memcpy(h + 4, type, 4);
    fwrite(h, 1, 8, f);
    if (n) fwrite(data, 1, n, f);
    uint32_t c = crc32_of(h + 4, 4, 0);
    c = crc32_of(data, n, c);
    be32(h, c);
    fwrite(h, 1, 4, f);
}

/* A valid grey PNG of width x 1 px: one row in stored (uncompressed) deflate blocks. */
static int write_wide_png(const char *path, uint32_t width)
{
    size_t raw_n = (size_t)width + 1, blocks = (raw_n + 65534) / 65535;
    size_t z_n = 2 + raw_n + 5 * blocks + 4;
    unsigned char *raw = calloc(1, raw_n), *z = malloc(z_n);
    FILE *f = fopen(path, "wb");
    int rc = -1;
    if (!raw || !z || !f) goto done;
    size_t at = 0;
    z[at++] = 0x78, z[at++] = 0x01;
    for (size_t off = 0; off < raw_n; off += 65535) {
        size_t n = raw_n - off < 65535 ? raw_n - off : 65535;
        z[at++] = off + n == raw_n ? 1 : 0;
        z[at++] = (unsigned char)n, z[at++] = (unsigned char)(n >> 8);
        z[at++] = (unsigned char)~n, z[at++] = (unsigned char)(~n >> 8);
        memcpy(z + at, raw + off, n);
        at += n;
    }
    uint32_t a = 1, b = 0;
    for (size_t i = 0; i < raw_n; i++) a = (a + raw[i]) % 65521, b = (b + a) % 65521;
    be32(z + at, (b << 16) | a);
    at += 4;
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    unsigned char ihdr[13] = {0};
    be32(ihdr, width);
    be32(ihdr + 4, 1);
    ihdr[8] = 8; /* 8-bit grey */
    fwrite(sig, 1, 8, f);
    png_chunk(f, "IHDR", ihdr, 13);
    png_chunk(f, "IDAT", z, (uint32_t)at);
    png_chunk(f, "IEND", NULL, 0);
    rc = 0;
done:
    if (f && fclose(f) != 0) rc = -1;
    free(raw);
    free(z);
    return rc;
}

static void media_limits(void)
{
    char path[PATH_MAX];
    dio_video v = {sizeof v, 0, 0, 0, 0, NULL};
    for (uint32_t w = 16384; w <= 16385; w++) {
        scratch(path, "wide.png");
        if (write_wide_png(path, w) != 0) {
            printf("FAIL cannot write %s\n", path);
            g_failed++;
            return;
        }
        dio_status st = dio_media_read(path, NULL, &v);
        if (w == 16384)
            expect("image 16384x1 opens", st, DIO_OK, st == DIO_OK ? "" : dio_last_error(), NULL);
        else
            expect("image 16385x1", st, DIO_ERR_BAD_FORMAT, dio_last_error(), "16385x1", "1..16384 px", NULL);
        dio_video_free(&v);
        unlink(path);
    }
    /* A WebP whose VP8X canvas is 80 x 16,515,062: refused from its header, before libwebp's animation
     * decoder allocates the 5.3 GB canvas (found by tests/fuzz/fuzz_media.c; its first byte picks the
     * extension there and is skipped here). */
    {
        char src[PATH_MAX];
        snprintf(src, sizeof src, "%s/tests/fuzz/regressions/media/webp_huge_canvas.bin", g_source);
        FILE *in = fopen(src, "rb"), *out;
        unsigned char buf[4096];
        size_t n = in ? fread(buf, 1, sizeof buf, in) : 0;
        if (in) fclose(in);
        scratch(path, "huge_canvas.webp");
        out = fopen(path, "wb");
        if (n < 2 || !out || fwrite(buf + 1, 1, n - 1, out) != n - 1) {
            printf("FAIL cannot copy %s to %s\n", src, path);
            g_failed++;
        }
        if (out) fclose(out);
        dio_status st = dio_media_read(path, NULL, &v);
        expect("WebP canvas 80x16515062", st, DIO_ERR_BAD_FORMAT, dio_last_error(), "80x16515062",
               "px is beyond the limits (16384 a side)", NULL);
        dio_video_free(&v);
        unlink(path);
    }
    /* 100,001 frames of 2x2 in a y4m stream (uncompressed, so quick to write and to decode) */
    scratch(path, "long.y4m");
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fputs("YUV4MPEG2 W2 H2 F25:1 Ip A1:1 C420jpeg\n", f);
    static const unsigned char frame[12] = {'F', 'R', 'A', 'M', 'E', '\n', 16, 16, 16, 16, 128, 128};
    for (int i = 0; i < 100001; i++) fwrite(frame, 1, sizeof frame, f);
    fclose(f);
    dio_status st = dio_media_read(path, NULL, &v);
    expect("video of 100,001 frames", st, DIO_ERR_BAD_FORMAT, dio_last_error(), "more than 100000 frames",
           NULL);
    dio_video_free(&v);
    dio_media_read_options o = {sizeof o, 0, 0, 5, 0};
    st = dio_media_read(path, &o, &v);
    expect("video of 100,001 frames with max_frames 5 opens", st, DIO_OK,
           st == DIO_OK ? "" : dio_last_error(), NULL);
    dio_video_free(&v);
    unlink(path);
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: test_limits SCRATCH_DIR DIORAMA_CLI PLUGIN_DIR SOURCE_DIR [--heavy]\n");
        return 2;
    }
    g_scratch = argv[1];
    g_source = argv[4];
    char text[PATH_MAX];
    snprintf(text, sizeof text, "%s/tests/fixtures/text", g_source);
    int heavy = argc > 5 && strcmp(argv[5], "--heavy") == 0;
    if (mkdir(g_scratch, 0777) != 0 && errno != EEXIST) {
        printf("FAIL cannot make %s: %s\n", g_scratch, strerror(errno));
        return 1;
    }
    safetensors_limits(heavy);
    graph_limits();
    prompt_limit(argv[2], argv[3], text);
    media_limits();
    printf("%d failures\n", g_failed);
    return g_failed ? 1 : 0;
}

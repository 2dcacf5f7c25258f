/* The tiny Text2World, Image2World and Video2World sample graphs against the diffusers
 * Cosmos2_5_PredictBasePipeline goldens (tests/fixtures/pipelines), stage by stage: the prompt and
 * negative-prompt embeddings, the initial noise, the conditioning latents, every step's DiT input,
 * timesteps, both DiT outputs, the guided velocity and the latents, and the decoded video — all from
 * one run of the runner on the graph (dio_pipeline_run with an inspect hook), so every stage is C's
 * own chain. Then the failure cases: an unknown key, an undeclared variable, a missing weight file, an
 * image of another size with resize off, a corrupt video, a cancelled run — each a clear message and
 * no output file.
 *
 * With DIORAMA_TEST_BACKEND set (tests/common/test_backend.h) the golden runs use that backend.
 *
 * usage: test_pipeline PLUGIN_DIR SOURCE_DIR WORK_DIR */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diorama/diorama.h"
#include "test_backend.h"

static int failures;
static const char *plugin_dir, *src_dir, *work_dir;
static dio_weights *fixture;
static dio_backend *g_backend; /* DIORAMA_TEST_BACKEND's, for the golden runs; NULL: the graph's own */

#define CHECK(cond, ...)                                                                                     \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                                      \
            printf(__VA_ARGS__);                                                                             \
            printf("\n");                                                                                    \
            failures++;                                                                                      \
        }                                                                                                    \
    } while (0)

/* ---- what the hook saw ---- */

#define MAX_SEEN 128
typedef struct seen {
    char name[96];
    int64_t numel;
    int32_t ndim;
    int64_t shape[6];
    float *data;
} seen;
static seen seen_list[MAX_SEEN];
static int n_seen;
static int cancel_after_step; /* 0: never */
static volatile int cancel_flag;

static void on_inspect(void *user, const char *name, const dio_run_tensor *t)
{
    (void)user;
    if (n_seen == MAX_SEEN) return;
    seen *s = &seen_list[n_seen++];
    snprintf(s->name, sizeof(s->name), "%s", name);
    s->ndim = t->ndim;
    s->numel = 1;
    for (int i = 0; i < t->ndim; i++) s->numel *= (s->shape[i] = t->shape[i]);
    s->data = malloc((size_t)s->numel * sizeof(float));
    memcpy(s->data, t->data, (size_t)s->numel * sizeof(float));
}

static void on_progress(void *user, const dio_progress *p)
{
    (void)user;
    if (cancel_after_step && strcmp(p->phase, "denoise") == 0 && p->step >= cancel_after_step)
        cancel_flag = 1;
}

static void clear_seen(void)
{
    for (int i = 0; i < n_seen; i++) free(seen_list[i].data);
    n_seen = 0;
}

static const seen *find_seen(const char *name)
{
    for (int i = 0; i < n_seen; i++)
        if (strcmp(seen_list[i].name, name) == 0) return &seen_list[i];
    return NULL;
}

/* max |ours - ref| over the tensor (the fixture's f32 tensor `ref_name`). */
static void compare(const char *ours, const char *ref_name, double tol)
{
    const seen *s = find_seen(ours);
    dio_weight_info w;
    w.struct_size = sizeof(w);
    if (!s) {
        CHECK(0, "the runner showed no %s", ours);
        return;
    }
    if (dio_weights_find(fixture, ref_name, &w) != DIO_OK || w.dtype != DIO_DTYPE_F32) {
        CHECK(0, "fixture has no f32 %s", ref_name);
        return;
    }
    int64_t n = (int64_t)(w.nbytes / 4);
    CHECK(n == s->numel, "%s: %lld values, fixture %s has %lld", ours, (long long)s->numel, ref_name,
          (long long)n);
    if (n != s->numel) return;
    const float *r = w.data;
    double m = 0, scale = 0;
    int nan = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)s->data[i] - r[i]);
        if (d != d) nan = 1;
        if (d > m) m = d;
        if (fabs(r[i]) > scale) scale = fabs(r[i]);
    }
    printf("  %-34s vs %-28s max abs %.3g (ref max %.3g, tol %.0e)\n", ours, ref_name, m, scale, tol);
    CHECK(!nan && m <= tol, "%s differs from %s by %.3g (tolerance %.0e)", ours, ref_name, m, tol);
}

static int file_exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0;
}

static dio_status run_graph(dio_context *ctx, const char *graph_file, const char *const *vars, int n_vars,
                            int inspect)
{
    dio_graph *g = NULL;
    dio_run_options ro;
    dio_status st;
    char path[4096];
    snprintf(path, sizeof(path), "%s/samples/graphs/%s", src_dir, graph_file);
    if ((st = dio_graph_load(path, &g)) != DIO_OK) return st;
    for (int i = 0; i + 1 < 2 * n_vars; i += 2)
        if ((st = dio_graph_set_var(g, vars[i], vars[i + 1])) != DIO_OK) goto done;
    memset(&ro, 0, sizeof(ro));
    ro.struct_size = sizeof(ro);
    ro.inspect = inspect ? on_inspect : NULL;
    ro.backend = inspect ? g_backend : NULL;
    ro.progress = on_progress;
    ro.cancel = &cancel_flag;
    st = dio_pipeline_run(ctx, g, &ro);
done:
    dio_graph_destroy(g);
    return st;
}

static void golden(dio_context *ctx, const char *mode, const char *graph_file)
{
    char out[4096], ref[128], ours[128];
    int n_cond = !strcmp(mode, "t2w") ? 0 : !strcmp(mode, "i2w") ? 1 : 2;
    snprintf(out, sizeof(out), "%s/%s.mp4", work_dir, mode);
    unlink(out);
    const char *vars[] = {"output", out};
    printf("%s (%s)\n", mode, graph_file);
    clear_seen();
    dio_status st = run_graph(ctx, graph_file, vars, 1, 1);
    CHECK(st == DIO_OK, "%s: %s", graph_file, dio_last_error());
    if (st != DIO_OK) return;
    CHECK(file_exists(out), "%s was not written", out);
    compare("prompt.embeddings", "prompt_embeds", 1e-4);
    compare("negative.embeddings", "negative_prompt_embeds", 1e-4);
    snprintf(ref, sizeof(ref), "%s.latents.init", mode);
    compare("denoise.latents_init", ref, 0); /* numpy's generator, bit for bit */
    if (n_cond) {
        snprintf(ref, sizeof(ref), "%s.cond_latents", mode);
        compare("encode.latents", ref, 1e-4);
    }
    for (int i = 0; i < 4; i++) {
        static const char *const what[][3] = {{"transformer_in", "transformer_in", "2e-3"},
                                              {"timestep_in", "timestep_in", "0"},
                                              {"out_pos", "out_pos", "1e-3"},
                                              {"out_neg", "out_neg", "1e-3"},
                                              {"velocity", "velocity", "5e-3"},
                                              {"latents", "latents", "2e-3"}};
        for (size_t k = 0; k < sizeof(what) / sizeof(what[0]); k++) {
            snprintf(ours, sizeof(ours), "denoise.step%d.%s", i, what[k][0]);
            snprintf(ref, sizeof(ref), "%s.step%d.%s", mode, i, what[k][1]);
            compare(ours, ref, atof(what[k][2]));
        }
    }
    snprintf(ref, sizeof(ref), "%s.video_decoded", mode);
    compare("decode.pixels", ref, 1e-2);
}

static void expect_failure(dio_context *ctx, const char *what, const char *graph_json, const char *needle)
{
    dio_graph *g = NULL;
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/samples/graphs", src_dir);
    dio_status st = dio_graph_parse(graph_json, strlen(graph_json), dir, &g);
    if (st == DIO_OK) st = dio_graph_validate(g, ctx);
    const char *msg = dio_last_error();
    printf("  %-34s -> %s\n", what, st == DIO_OK ? "(accepted)" : msg);
    CHECK(st != DIO_OK && strstr(msg, needle), "%s: expected an error naming \"%s\", got \"%s\"", what,
          needle, st == DIO_OK ? "success" : msg);
    dio_graph_destroy(g);
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    long n;
    char *s;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    s = malloc((size_t)n + 1);
    if (fread(s, 1, (size_t)n, f) != (size_t)n) n = 0;
    s[n] = 0;
    fclose(f);
    return s;
}

/* A sample graph's text with one substitution. */
static char *edited_file(const char *file, const char *from, const char *to)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/samples/graphs/%s", src_dir, file);
    char *s = read_text(path), *p = s ? strstr(s, from) : NULL;
    if (!p) {
        free(s);
        return NULL;
    }
    size_t a = (size_t)(p - s), lf = strlen(from), lt = strlen(to), n = strlen(s);
    char *r = malloc(n - lf + lt + 1);
    memcpy(r, s, a);
    memcpy(r + a, to, lt);
    memcpy(r + a + lt, p + lf, n - a - lf + 1);
    free(s);
    return r;
}

static char *edited_graph(const char *from, const char *to)
{
    return edited_file("tiny-text2world.json", from, to);
}

static void failures_cases(dio_context *ctx)
{
    char *g;
    char out[4096], bad[4096];
    printf("failures\n");
    expect_failure(ctx, "not JSON", "{\"diorama_graph\": 1, ", "not valid JSON");
    if ((g = edited_graph("\"nodes\": [", "\"nodez\": 1, \"nodes\": [")))
        expect_failure(ctx, "unknown key", g, "nodez");
    free(g);
    /* Repeated keys: cJSON keeps both, so they are refused rather than half-ignored (a repeated "uses"
     * key once wrote past the node's fixed list; tests/fuzz/regressions/graph/repeated_uses_key.json). */
    g = edited_graph("\"tokenizer\": \"tokenizer\",",
                     "\"tokenizer\": \"tokenizer\", \"tokenizer\": \"tokenizer\",");
    CHECK(g, "tiny-text2world.json changed: the repeated-key cases have nothing to edit");
    if (g) expect_failure(ctx, "repeated uses key", g, "nodes[0].uses.tokenizer: given twice");
    free(g);
    g = edited_graph("\"nodes\": [", "\"name\": \"again\", \"nodes\": [");
    if (g) expect_failure(ctx, "repeated top-level key", g, "name: given twice");
    free(g);
    g = edited_graph("\"latents\": \"denoise.latents\"",
                     "\"latents\": \"denoise.latents\", \"latents\": \"x.y\"");
    CHECK(g, "tiny-text2world.json changed: the repeated-input case has nothing to edit");
    if (g) expect_failure(ctx, "repeated input", g, "nodes[3].inputs.latents: given twice");
    free(g);
    /* A default is checked like any other string (fuzz_graph found "${" unterminated in one reaching
     * expansion; tests/fuzz/regressions/graph/unterminated_ref_in_default.json). */
    g = edited_graph("\"default\": \"A red cube", "\"default\": \"${prompt A red cube");
    CHECK(g, "tiny-text2world.json changed: the default-reference case has nothing to edit");
    if (g)
        expect_failure(ctx, "unterminated ${ in a default", g, "variables.prompt.default: unterminated ${");
    free(g);
    if ((g = edited_graph("\"text\": \"${prompt}\"", "\"text\": \"${promt}\"")))
        expect_failure(ctx, "undeclared variable", g, "nodes[0].params.text");
    free(g);
    if ((g = edited_graph("\"op\": \"denoise\"", "\"op\": \"denoize\"")))
        expect_failure(ctx, "unknown op", g, "nodes[2].op");
    free(g);
    if ((g = edited_graph("\"denoise.latents\"", "\"denoise.latent\"")))
        expect_failure(ctx, "unknown output port", g, "nodes[3].inputs.latents");
    free(g);
    if ((g = edited_graph("\"mode\": \"diffusers\"", "\"mode\": \"difusers\"")))
        expect_failure(ctx, "bad component param", g, "components.dit.params");
    free(g);
    if ((g = edited_graph("\"steps\": \"${steps}\"", "\"steps\": \"four\"")))
        expect_failure(ctx, "bad op param", g, "nodes[2].params.steps");
    free(g);
    if ((g = edited_graph("dit/diffusion_pytorch_model.safetensors", "dit/missing.safetensors")))
        expect_failure(ctx, "missing weight file", g, "components.dit.weights");
    free(g);

    /* An image of another size with resize off: a clear message, nothing written. */
    snprintf(out, sizeof(out), "%s/resize.mp4", work_dir);
    unlink(out);
    {
        char img[4096];
        snprintf(img, sizeof(img), "%s/samples/inputs/tiny-image.png", src_dir);
        const char *vars[] = {"output", out, "width", "32", "height", "32"};
        dio_status st = run_graph(ctx, "tiny-image2world.json", vars, 3, 0);
        printf("  %-34s -> %s\n", "image of another size (resize on)",
               st == DIO_OK ? "ok" : dio_last_error());
        CHECK(st == DIO_OK, "resize on: %s", dio_last_error());
        unlink(out);
        g = edited_file("tiny-image2world.json", "\"latent_frames\": 1",
                        "\"latent_frames\": 1, \"resize\": false");
        dio_graph *gr = NULL;
        char dir[4096];
        snprintf(dir, sizeof(dir), "%s/samples/graphs", src_dir);
        st = g ? dio_graph_parse(g, strlen(g), dir, &gr) : DIO_ERR_INTERNAL;
        if (st == DIO_OK) st = dio_graph_set_var(gr, "output", out);
        if (st == DIO_OK) st = dio_graph_set_var(gr, "image", img);
        if (st == DIO_OK) st = dio_graph_set_var(gr, "width", "32");
        if (st == DIO_OK) st = dio_graph_set_var(gr, "height", "32");
        if (st == DIO_OK) st = dio_pipeline_run(ctx, gr, NULL);
        printf("  %-34s -> %s\n", "image of another size (resize off)",
               st == DIO_OK ? "(accepted)" : dio_last_error());
        CHECK(st != DIO_OK && strstr(dio_last_error(), "64x48"), "resize off: %s", dio_last_error());
        CHECK(!file_exists(out), "a failed run left %s", out);
        dio_graph_destroy(gr);
        free(g);
    }
    /* corrupt video */
    snprintf(bad, sizeof(bad), "%s/corrupt.mkv", work_dir);
    {
        FILE *f = fopen(bad, "wb");
        for (int i = 0; i < 4096; i++) fputc((i * 7919) & 0xff, f);
        fclose(f);
        snprintf(out, sizeof(out), "%s/corrupt-out.mp4", work_dir);
        unlink(out);
        const char *vars[] = {"output", out, "video", bad};
        dio_status st = run_graph(ctx, "tiny-video2world.json", vars, 2, 0);
        printf("  %-34s -> %s\n", "corrupt video", st == DIO_OK ? "(accepted)" : dio_last_error());
        CHECK(st != DIO_OK && strstr(dio_last_error(), "corrupt.mkv"), "corrupt video: %s", dio_last_error());
        CHECK(!file_exists(out), "a failed run left %s", out);
    }
    /* cancelled after step 2 */
    snprintf(out, sizeof(out), "%s/cancelled.mp4", work_dir);
    unlink(out);
    {
        const char *vars[] = {"output", out};
        cancel_after_step = 2;
        cancel_flag = 0;
        dio_status st = run_graph(ctx, "tiny-text2world.json", vars, 1, 0);
        cancel_after_step = 0;
        cancel_flag = 0;
        printf("  %-34s -> %s\n", "cancelled at step 2", st == DIO_OK ? "(finished)" : dio_last_error());
        CHECK(st == DIO_ERR_CANCELLED, "cancel: status %d: %s", st, dio_last_error());
        CHECK(!file_exists(out), "a cancelled run left %s", out);
    }
}

int main(int argc, char **argv)
{
    dio_context *ctx = NULL;
    dio_context_options co;
    char path[4096];
    if (argc != 4) {
        fprintf(stderr, "usage: test_pipeline PLUGIN_DIR SOURCE_DIR WORK_DIR\n");
        return 2;
    }
    plugin_dir = argv[1];
    src_dir = argv[2];
    work_dir = argv[3];
    mkdir(work_dir, 0755);
    snprintf(path, sizeof(path), "%s/cache", work_dir);
    setenv("DIORAMA_CACHE_DIR", path, 1);
    snprintf(path, sizeof(path), "%s/tests/fixtures/pipelines/pipelines.safetensors", src_dir);
    if (dio_weights_open(path, &fixture) != DIO_OK) {
        printf("FAIL cannot open %s: %s\n", path, dio_last_error());
        return 1;
    }
    if (getenv("DIORAMA_TEST_BACKEND")) { /* the goldens on another backend (tests/common/test_backend.h) */
        dio_status st0 = dio_test_open_backend(plugin_dir, &ctx, &g_backend);
        if (st0 != DIO_OK) return st0 == DIO_ERR_NOT_SUPPORTED ? 77 : 1;
    } else {
        memset(&co, 0, sizeof(co));
        co.struct_size = sizeof(co);
        co.plugin_dirs = &plugin_dir;
        co.n_plugin_dirs = 1;
        co.no_env = 1;
        co.no_default_dirs = 1;
        if (dio_context_create(&co, &ctx) != DIO_OK) {
            printf("FAIL context: %s\n", dio_last_error());
            return 1;
        }
    }
    {
        static const char *const all[] = {"tiny-text2world",     "tiny-image2world", "tiny-video2world",
                                          "text2world",          "image2world",      "video2world",
                                          "distilled-text2world"};
        printf("sample graphs\n");
        for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
            dio_graph *g = NULL;
            snprintf(path, sizeof(path), "%s/samples/graphs/%s.json", src_dir, all[i]);
            dio_status st = dio_graph_load(path, &g);
            CHECK(st == DIO_OK, "%s: %s", path, dio_last_error());
            if (st == DIO_OK && !strncmp(all[i], "tiny", 4)) {
                st = dio_graph_validate(g, ctx);
                CHECK(st == DIO_OK, "%s: %s", path, dio_last_error());
            }
            printf("  %-22s %s\n", all[i], st == DIO_OK ? "ok" : dio_last_error());
            dio_graph_destroy(g);
        }
    }
    golden(ctx, "t2w", "tiny-text2world.json");
    /* again: the embeddings now come from the cache and must give the same video */
    golden(ctx, "t2w", "tiny-text2world.json");
    golden(ctx, "i2w", "tiny-image2world.json");
    golden(ctx, "v2w", "tiny-video2world.json");
    failures_cases(ctx);
    clear_seen();
    dio_backend_close(g_backend);
    dio_context_destroy(ctx);
    dio_weights_close(fixture);
    if (failures) {
        printf("%d failure(s)\n", failures);
        return 1;
    }
    printf("all pipeline checks passed\n");
    return 0;
}

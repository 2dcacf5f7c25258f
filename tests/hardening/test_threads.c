/* tests/hardening: two pipelines on two threads (issue 10, item 6), the thread-safety promise of the
 * headers put to work: one dio_context built on the main thread and then shared read-only; each thread
 * with its own graph, its own run (which opens its own CPU backend) and its own output file.
 *
 * Thread A runs tiny-text2world and thread B tiny-image2world (a different prompt, seed and size), both
 * through encode_prompt, the DiT's denoising loop, the VAE and the MP4 writer at the same time. Each is
 * first run alone on the main thread; concurrently, each must then give the same decoded pixels, bit for
 * bit (an FNV-1a hash of "decode.pixels" from the inspect hook), the same per-thread error state and a
 * complete output file. Built normally this catches cross-talk between runs (shared scratch, a global
 * cache, a non-reentrant parser); in the ThreadSanitizer build (tools/test.sh --tsan, with
 * OMP_NUM_THREADS=1 so that OpenMP, which TSan cannot see into, spawns no workers) any data race in
 * libdiorama, the plugins or our use of FFmpeg is a report and a failed test.
 * Usage: test_threads PLUGIN_DIR SOURCE_DIR WORK_DIR */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "diorama/diorama.h"
#include "diorama/graph.h"
#include "diorama/media.h"

typedef struct job {
    const char *graph;    /* under samples/graphs */
    const char *vars[16]; /* name, value pairs */
    int n_vars;
    char output[4096];
    /* results */
    dio_status status;
    char error[1024];
    uint64_t pixels_hash;
    int64_t pixels_count;
} job;

static dio_context *ctx;
static const char *src_dir;
static int failed;

#define CHECK(cond, ...)                                                                                     \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                             \
            fprintf(stderr, __VA_ARGS__);                                                                    \
            fprintf(stderr, "\n");                                                                           \
            failed = 1;                                                                                      \
        }                                                                                                    \
    } while (0)

static void on_inspect(void *user, const char *name, const dio_run_tensor *t)
{
    job *j = user;
    int64_t n = 1;
    uint64_t h = 1469598103934665603ull;
    if (strcmp(name, "decode.pixels") != 0) return;
    for (int d = 0; d < t->ndim; d++) n *= t->shape[d];
    for (int64_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &t->data[i], sizeof bits);
        for (int b = 0; b < 4; b++) h = (h ^ ((bits >> (8 * b)) & 0xff)) * 1099511628211ull;
    }
    j->pixels_hash = h;
    j->pixels_count = n;
}

static void *run_job(void *arg)
{
    job *j = arg;
    dio_graph *g = NULL;
    dio_run_options ro;
    char path[4096];
    snprintf(path, sizeof path, "%s/samples/graphs/%s", src_dir, j->graph);
    j->pixels_hash = 0;
    j->pixels_count = 0;
    dio_clear_error();
    j->status = dio_graph_load(path, &g);
    for (int i = 0; j->status == DIO_OK && i + 1 < 2 * j->n_vars; i += 2)
        j->status = dio_graph_set_var(g, j->vars[i], j->vars[i + 1]);
    if (j->status == DIO_OK) j->status = dio_graph_set_var(g, "output", j->output);
    if (j->status == DIO_OK) {
        memset(&ro, 0, sizeof ro);
        ro.struct_size = sizeof ro;
        ro.inspect = on_inspect;
        ro.user = j;
        j->status = dio_pipeline_run(ctx, g, &ro);
    }
    snprintf(j->error, sizeof j->error, "%s", j->status == DIO_OK ? "" : dio_last_error());
    dio_graph_destroy(g);
    return NULL;
}

static void check_output(const job *j, const char *when)
{
    dio_media_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    CHECK(j->status == DIO_OK, "%s %s: %s", when, j->graph, j->error);
    CHECK(j->pixels_count > 0, "%s %s: no decode.pixels seen", when, j->graph);
    CHECK(dio_media_info_read(j->output, &info) == DIO_OK && info.frames > 0,
          "%s %s: output %s unreadable: %s", when, j->graph, j->output, dio_last_error());
    dio_media_info_free(&info);
}

int main(int argc, char **argv)
{
    dio_context_options co;
    const char *plugin_dir;
    job jobs[2] = {
        {.graph = "tiny-text2world.json",
         .vars = {"backend", "cpu", "prompt", "A red cube slides across a table.", "seed", "7", "steps", "2"},
         .n_vars = 4},
        {.graph = "tiny-image2world.json",
         .vars = {"backend", "cpu", "prompt", "A ball rolls down a ramp.", "seed", "11", "steps", "2",
                  "width", "32", "height", "32"},
         .n_vars = 6},
    };
    uint64_t alone_hash[2];
    pthread_t threads[2];
    if (argc != 4) {
        fprintf(stderr, "usage: %s PLUGIN_DIR SOURCE_DIR WORK_DIR\n", argv[0]);
        return 2;
    }
    plugin_dir = argv[1];
    src_dir = argv[2];
    mkdir(argv[3], 0755);
    memset(&co, 0, sizeof co);
    co.struct_size = sizeof co;
    co.no_env = 1;
    co.no_default_dirs = 1;
    co.plugin_dirs = &plugin_dir;
    co.n_plugin_dirs = 1;
    if (dio_context_create(&co, &ctx) != DIO_OK) {
        fprintf(stderr, "context: %s\n", dio_last_error());
        return 1;
    }
    for (int i = 0; i < 2; i++) {
        snprintf(jobs[i].output, sizeof jobs[i].output, "%s/alone_%d.mp4", argv[3], i);
        remove(jobs[i].output);
        run_job(&jobs[i]);
        check_output(&jobs[i], "alone");
        alone_hash[i] = jobs[i].pixels_hash;
        printf("alone: %s → %s, %lld pixels, hash %016llx\n", jobs[i].graph, jobs[i].output,
               (long long)jobs[i].pixels_count, (unsigned long long)alone_hash[i]);
    }
    CHECK(alone_hash[0] != alone_hash[1],
          "the two jobs decode the same pixels: the test would prove nothing");
    for (int i = 0; i < 2; i++) {
        snprintf(jobs[i].output, sizeof jobs[i].output, "%s/together_%d.mp4", argv[3], i);
        remove(jobs[i].output);
        CHECK(pthread_create(&threads[i], NULL, run_job, &jobs[i]) == 0, "pthread_create");
    }
    for (int i = 0; i < 2; i++) pthread_join(threads[i], NULL);
    for (int i = 0; i < 2; i++) {
        check_output(&jobs[i], "together");
        printf("together: %s → %s, hash %016llx\n", jobs[i].graph, jobs[i].output,
               (unsigned long long)jobs[i].pixels_hash);
        CHECK(jobs[i].pixels_hash == alone_hash[i], "%s decoded different pixels on two threads than alone",
              jobs[i].graph);
    }
    dio_context_destroy(ctx);
    printf(failed ? "test_threads: FAILED\n" : "test_threads: two pipelines on two threads agree with one\n");
    return failed;
}

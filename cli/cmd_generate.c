/* diorama generate — run a pipeline graph from the command line.
 *
 *   diorama generate --graph G.json [-p PROMPT] [-n NEG] [-i IMAGE | --input-video VIDEO] [-o OUT]
 *                    [-W W] [-H H] [--video-frames N] [--steps N] [--cfg-scale G] [-s SEED]
 *                    [--sampling-method NAME] [--flow-shift S] [--set NAME=VALUE]...
 *                    [--backend NAME] [--plugin-dir DIR]... [-t N] [-v] [--json-progress]
 *
 * Flags take stable-diffusion.cpp's names where they mean the same thing; each sets a graph variable
 * (-p → prompt, -n → negative_prompt, -i → image, --input-video → video, -W → width, -H → height,
 * --video-frames → frames, --steps → steps, --cfg-scale → guidance, -s → seed, --sampling-method →
 * sampler, --flow-shift → shift, -o → output), and a flag whose variable the graph does not declare
 * is an error naming both. --set reaches any other variable.
 *
 * Progress: a bar with step, ETA and it/s when stderr is a terminal, one plain line per step when it
 * is not, one JSON object per event on stdout with --json-progress. Ctrl-C cancels cleanly (the run
 * ends with CANCELLED and nothing is written); a second Ctrl-C kills. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "diorama/diorama.h"

#define MAX_SETS 64
#define MAX_DIRS 16

static volatile int cancel_flag;

static void on_sigint(int sig)
{
    (void)sig;
    cancel_flag = 1;
    signal(SIGINT, SIG_DFL);
}

typedef struct progress_state {
    int tty, json;
    double step_t0;
    int last_len;
} progress_state;

static void json_string(const char *s)
{
    putchar('"');
    for (; s && *s; s++) {
        if (*s == '"' || *s == '\\')
            printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            printf("\\u%04x", *s);
        else
            putchar(*s);
    }
    putchar('"');
}

static void on_progress(void *user, const dio_progress *p)
{
    progress_state *ps = user;
    if (ps->json) {
        printf("{\"phase\":");
        json_string(p->phase);
        printf(",\"node\":");
        json_string(p->node);
        printf(",\"chunk\":%d,\"chunks\":%d,\"step\":%d,\"steps\":%d,\"elapsed_s\":%.3f}\n", p->chunk + 1,
               p->n_chunks, p->step, p->n_steps, p->elapsed_s);
        fflush(stdout);
        return;
    }
    if (strcmp(p->phase, "denoise") != 0) {
        if (ps->tty && ps->last_len) fputc('\n', stderr);
        ps->last_len = 0;
        if (p->phase[0] && strcmp(p->phase, "done") != 0 && strcmp(p->phase, "load") != 0) {
            fprintf(stderr, "[%.1fs] %s (node %s)", p->elapsed_s, p->phase, p->node);
            if (p->n_chunks > 1) fprintf(stderr, " chunk %d/%d", p->chunk + 1, p->n_chunks);
            fputc('\n', stderr);
        }
        if (strcmp(p->phase, "done") == 0) fprintf(stderr, "[%.1fs] done\n", p->elapsed_s);
        ps->step_t0 = p->elapsed_s;
        return;
    }
    double spent = p->elapsed_s - ps->step_t0, rate = spent > 0 ? p->step / spent : 0;
    double eta = rate > 0 ? (p->n_steps - p->step) / rate : 0;
    if (ps->tty) {
        char bar[31];
        int fill = p->n_steps ? 30 * p->step / p->n_steps : 0;
        for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
        bar[30] = 0;
        ps->last_len = fprintf(stderr, "\r  [%s] step %d/%d", bar, p->step, p->n_steps);
        if (p->n_chunks > 1) fprintf(stderr, " chunk %d/%d", p->chunk + 1, p->n_chunks);
        fprintf(stderr, "  %.2f it/s  ETA %02d:%02d ", rate, (int)eta / 60, (int)eta % 60);
        if (p->step == p->n_steps) {
            fputc('\n', stderr);
            ps->last_len = 0;
        }
    } else {
        fprintf(stderr, "step %d/%d", p->step, p->n_steps);
        if (p->n_chunks > 1) fprintf(stderr, " chunk %d/%d", p->chunk + 1, p->n_chunks);
        fprintf(stderr, " %.2f it/s ETA %.0fs\n", rate, eta);
    }
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: diorama generate --graph G.json [options]\n"
            "  -p, --prompt TEXT          the prompt                                  (var prompt)\n"
            "  -n, --negative-prompt TEXT the negative prompt                        (var negative_prompt)\n"
            "  -i, --init-img FILE        conditioning image (Image2World)            (var image)\n"
            "      --input-video FILE     conditioning video (Video2World)            (var video)\n"
            "  -o, --output FILE          .mp4, .webp or .png (a folder of frames)    (var output)\n"
            "  -W, --width N  -H, --height N  --video-frames N                        (vars width height "
            "frames)\n"
            "      --steps N  --cfg-scale G  -s, --seed N                             (vars steps guidance "
            "seed)\n"
            "      --sampling-method NAME --flow-shift S                              (vars sampler shift)\n"
            "      --set NAME=VALUE       any other graph variable\n"
            "      --list-vars            print the graph's variables and exit\n"
            "      --json-progress        one JSON object per progress event on stdout\n"
            "      --backend NAME  --plugin-dir DIR  -t, --threads N  -v\n");
}

typedef struct flag_map {
    const char *s, *l, *var;
} flag_map;

static const flag_map flags[] = {
    {"-p", "--prompt", "prompt"},    {"-n", "--negative-prompt", "negative_prompt"},
    {"-i", "--init-img", "image"},   {NULL, "--input-video", "video"},
    {"-o", "--output", "output"},    {"-W", "--width", "width"},
    {"-H", "--height", "height"},    {NULL, "--video-frames", "frames"},
    {NULL, "--steps", "steps"},      {NULL, "--cfg-scale", "guidance"},
    {"-s", "--seed", "seed"},        {NULL, "--sampling-method", "sampler"},
    {NULL, "--flow-shift", "shift"},
};

int cli_generate(int argc, char **argv)
{
    const char *graph_path = NULL, *backend = NULL, *threads = NULL;
    const char *dirs[MAX_DIRS];
    const char *set_name[MAX_SETS], *set_value[MAX_SETS], *set_flag[MAX_SETS];
    char *set_buf[MAX_SETS];
    int n_sets = 0, n_dirs = 0, list_vars = 0, rc = 1;
    progress_state ps = {0, 0, 0, 0};
    dio_graph *g = NULL;
    dio_context *ctx = NULL;
    dio_backend *be = NULL;
    dio_context_options co;
    dio_run_options ro;
    memset(set_buf, 0, sizeof(set_buf));
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int matched = 0;
        if (strcmp(a, "generate") == 0) continue;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "-v") == 0) {
            dio_log_set_level(DIO_LOG_INFO);
            continue;
        }
        if (strcmp(a, "--json-progress") == 0) {
            ps.json = 1;
            continue;
        }
        if (strcmp(a, "--list-vars") == 0) {
            list_vars = 1;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "diorama generate: %s needs a value (or is unknown)\n", a);
            usage(stderr);
            return 2;
        }
        if (strcmp(a, "--graph") == 0) {
            graph_path = argv[++i];
            continue;
        }
        if (strcmp(a, "--backend") == 0) {
            backend = argv[++i];
            continue;
        }
        if (strcmp(a, "-t") == 0 || strcmp(a, "--threads") == 0) {
            threads = argv[++i];
            continue;
        }
        if (strcmp(a, "--plugin-dir") == 0) {
            if (n_dirs == MAX_DIRS) return 2;
            dirs[n_dirs++] = argv[++i];
            continue;
        }
        if (n_sets == MAX_SETS) {
            fprintf(stderr, "diorama generate: too many variables\n");
            return 2;
        }
        if (strcmp(a, "--set") == 0) {
            const char *kv = argv[++i], *eq = strchr(kv, '=');
            if (!eq || eq == kv) {
                fprintf(stderr, "diorama generate: --set needs NAME=VALUE, got \"%s\"\n", kv);
                goto done;
            }
            if (!(set_buf[n_sets] = strndup(kv, (size_t)(eq - kv)))) goto done;
            set_name[n_sets] = set_buf[n_sets];
            set_value[n_sets] = eq + 1;
            set_flag[n_sets++] = "--set";
            continue;
        }
        for (size_t f = 0; f < sizeof(flags) / sizeof(flags[0]); f++)
            if ((flags[f].s && strcmp(a, flags[f].s) == 0) || strcmp(a, flags[f].l) == 0) {
                set_name[n_sets] = flags[f].var;
                set_value[n_sets] = argv[++i];
                set_flag[n_sets++] = a;
                matched = 1;
                break;
            }
        if (!matched) {
            fprintf(stderr, "diorama generate: unknown option %s\n", a);
            usage(stderr);
            rc = 2;
            goto done;
        }
    }
    if (!graph_path) {
        fprintf(stderr, "diorama generate: --graph is required (samples/graphs/ has one per pipeline)\n");
        usage(stderr);
        rc = 2;
        goto done;
    }
    if (dio_graph_load(graph_path, &g) != DIO_OK) {
        fprintf(stderr, "diorama: %s\n", dio_last_error());
        goto done;
    }
    if (list_vars) {
        printf("%s: variables\n", dio_graph_name(g));
        for (int32_t k = 0; k < dio_graph_var_count(g); k++) {
            const char *name, *value, *doc;
            dio_graph_var_at(g, k, &name, &value, &doc);
            printf("  %-18s = %-28s %s\n", name, value, doc);
        }
        rc = 0;
        goto done;
    }
    for (int k = 0; k < n_sets; k++)
        if (dio_graph_set_var(g, set_name[k], set_value[k]) != DIO_OK) {
            fprintf(stderr, "diorama: %s: %s\n", set_flag[k], dio_last_error());
            rc = 2;
            goto done;
        }
    if (backend && dio_graph_has_var(g, "backend") && dio_graph_set_var(g, "backend", backend) != DIO_OK)
        goto fail;
    memset(&co, 0, sizeof(co));
    co.struct_size = sizeof(co);
    co.plugin_dirs = dirs;
    co.n_plugin_dirs = (size_t)n_dirs;
    if (dio_context_create(&co, &ctx) != DIO_OK) goto fail;
    if (dio_graph_validate(g, ctx) != DIO_OK) goto fail;
    {
        dio_kv kv = {"threads", threads};
        if (dio_backend_open(ctx, backend ? backend : dio_graph_backend(g), threads ? &kv : NULL,
                             threads ? 1 : 0, &be) != DIO_OK)
            goto fail;
    }
    ps.tty = isatty(2);
    memset(&ro, 0, sizeof(ro));
    ro.struct_size = sizeof(ro);
    ro.backend = be;
    ro.cancel = &cancel_flag;
    ro.progress = on_progress;
    ro.user = &ps;
    signal(SIGINT, on_sigint);
    if (dio_pipeline_run(ctx, g, &ro) != DIO_OK) {
        signal(SIGINT, SIG_DFL);
        if (ps.tty && ps.last_len) fputc('\n', stderr);
        goto fail;
    }
    signal(SIGINT, SIG_DFL);
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "diorama: %s\n", dio_last_error());
    rc = 1;
done:
    dio_backend_close(be);
    dio_graph_destroy(g);
    dio_context_destroy(ctx);
    for (int k = 0; k < MAX_SETS; k++) free(set_buf[k]);
    return rc;
}

/* libFuzzer harness for the JSON graph (core/graph.c): each input is parsed as a graph file whose
 * ${graph_dir} is samples/graphs; a graph that parses has its variables listed and set (a declared one
 * to a value with a reference in it, an undeclared one must be refused) and is validated against the
 * in-tree component and sampler plugins — variable expansion, parameter checks against the plugins' own
 * descriptors, port names, node order and weight paths. The plugins come from DIO_FUZZ_PLUGIN_DIR (the
 * build's lib/diorama, baked in); if none load, validation still runs and refuses every instance. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diorama/diorama.h"
#include "fuzz_util.h"

#ifndef DIO_FUZZ_PLUGIN_DIR
#define DIO_FUZZ_PLUGIN_DIR ""
#endif

static dio_context *ctx;

static void ctx_free(void)
{
    dio_context_destroy(ctx);
}

static void must_say_why(dio_status st, const char *what)
{
    if (st != DIO_OK && !dio_last_error()[0]) {
        fprintf(stderr, "fuzz: %s refused without a message\n", what);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char base[900];
    dio_graph *g = NULL;
    dio_status st;
    if (!ctx) {
        const char *env = getenv("DIO_FUZZ_PLUGIN_DIR");
        const char *dirs[1] = {env && env[0] ? env : DIO_FUZZ_PLUGIN_DIR};
        dio_context_options o = {sizeof o, 1, 1, 0, dirs, dirs[0][0] ? 1u : 0u};
        dio_log_set_level(DIO_LOG_ERROR);
        if (dio_context_create(&o, &ctx) != DIO_OK) {
            fprintf(stderr, "fuzz: no context: %s\n", dio_last_error());
            abort();
        }
        atexit(ctx_free);
    }
    fuzz_source_path(NULL, "samples/graphs", base, sizeof base);
    dio_clear_error();
    st = dio_graph_parse((const char *)data, size, base, &g);
    must_say_why(st, "graph parse");
    if (st != DIO_OK && getenv("DIO_FUZZ_VERBOSE")) fprintf(stderr, "parse: %s\n", dio_last_error());
    if (st != DIO_OK) return 0;
    (void)dio_graph_name(g);
    for (int32_t i = 0; i < dio_graph_var_count(g); i++) {
        const char *name = NULL, *value = NULL, *doc = NULL;
        if (dio_graph_var_at(g, i, &name, &value, &doc) != DIO_OK || !name || !dio_graph_has_var(g, name))
            abort();
    }
    if (dio_graph_set_var(g, "no such variable, surely", "x") == DIO_OK) abort();
    if (dio_graph_var_count(g) > 0) {
        const char *name = NULL, *value = NULL, *doc = NULL;
        if (dio_graph_var_at(g, 0, &name, &value, &doc) != DIO_OK) abort();
        dio_clear_error();
        must_say_why(dio_graph_set_var(g, name, "${graph_dir}/x"), "set_var");
    }
    dio_clear_error();
    st = dio_graph_validate(g, ctx);
    must_say_why(st, "graph validate");
    if (getenv("DIO_FUZZ_VERBOSE")) fprintf(stderr, "validate: %s\n", st == DIO_OK ? "ok" : dio_last_error());
    if (st == DIO_OK) (void)dio_graph_backend(g);
    dio_graph_destroy(g);
    return 0;
}

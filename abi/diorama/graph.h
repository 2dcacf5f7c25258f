/* diorama — the JSON graph and the pipeline runner.
 *
 * A graph file (samples/graphs/) names the backend, the component and sampler instances (plugin,
 * weights, parameters) and an ordered list of nodes, each an operation of the runner (encode_prompt,
 * load_condition, run, denoise, write_video) whose inputs are outputs of earlier nodes ("node.port").
 * Any string in it may hold `${name}` references to its declared variables, filled from the command
 * line (dio_graph_set_var) or their defaults; `${graph_dir}` is the folder of the graph file.
 * The format is written up in docs/graph-format.md.
 *
 * Loading checks the structure (unknown keys, wrong types, references to undeclared variables or to
 * nodes that do not precede); dio_graph_validate then resolves the variables and checks every plugin
 * exists, every parameter against the plugin's own descriptors, every port name against the
 * component's ports and every weight path exists — all before any weight byte is read. Every error
 * names the JSON path ("nodes[2].inputs.latents").
 *
 * The runner executes the nodes in order on one backend: it creates a component when a node first
 * needs it and destroys it after its last use (so the text encoder's weights are gone before the DiT
 * is loaded), runs the denoising loop with the sampler's plans on the backend's AXPBY, and writes the
 * video atomically. Long videos (more frames than `chunking.max_frames`) run as autoregressive chunks.
 *
 * Ownership: dio_graph_load/parse return a graph freed by dio_graph_destroy (NULL ok). A graph is used
 * by one thread at a time; dio_pipeline_run does not modify it except through the variables. */
#ifndef DIORAMA_GRAPH_H
#define DIORAMA_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "api.h"
#include "plugin.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

struct dio_context;
struct dio_backend;
typedef struct dio_graph dio_graph;

/* Reads and checks a graph file (at most 16 MiB of JSON, nesting depth 64). IO or BAD_FORMAT naming
 * the file and the JSON path. */
DIO_API dio_status dio_graph_load(const char *path, dio_graph **out);
/* The same from memory; `base_dir` is what `${graph_dir}` expands to (NULL: "."). */
DIO_API dio_status dio_graph_parse(const char *json, size_t len, const char *base_dir, dio_graph **out);
DIO_API void dio_graph_destroy(dio_graph *graph);

/* Sets a declared variable (INVALID_ARGUMENT naming it, and the declared ones, when it is not). */
DIO_API dio_status dio_graph_set_var(dio_graph *graph, const char *name, const char *value);
/* 1 when the graph declares `name`. */
DIO_API int dio_graph_has_var(const dio_graph *graph, const char *name);
/* The declared variables, in file order: name, current value (the default unless set) and doc. */
DIO_API int32_t dio_graph_var_count(const dio_graph *graph);
DIO_API dio_status dio_graph_var_at(const dio_graph *graph, int32_t index, const char **name,
                                    const char **value, const char **doc);
DIO_API const char *dio_graph_name(const dio_graph *graph);

/* Resolves the variables and checks the graph against the plugins loaded in `ctx` (see above). No
 * weight is opened. Called by dio_pipeline_run too. */
DIO_API dio_status dio_graph_validate(dio_graph *graph, struct dio_context *ctx);
/* The backend name after variable expansion (valid after a successful dio_graph_validate). */
DIO_API const char *dio_graph_backend(const dio_graph *graph);

/* ---- the runner ---- */

typedef struct dio_progress {
    uint32_t struct_size;
    int32_t chunk, n_chunks; /* 0-based chunk of a long video; 1 chunk otherwise */
    int32_t step, n_steps;   /* denoising step, 1-based when phase is "denoise"; 0 otherwise */
    const char *phase;       /* "load", "text", "encode", "denoise", "decode", "write", "done" */
    const char *node;        /* the node's id */
    double elapsed_s;        /* since the run began */
} dio_progress;

/* A tensor the runner shows a hook (host f32 memory, valid during the call). */
typedef struct dio_run_tensor {
    uint32_t struct_size;
    int32_t ndim;
    int64_t shape[6];
    const float *data;
} dio_run_tensor;

typedef struct dio_run_options {
    uint32_t struct_size;
    int32_t reserved0;
    /* The backend to run on; NULL: the runner opens the graph's own backend and closes it at the end. */
    struct dio_backend *backend;
    /* Polled between nodes and between denoising steps; nonzero ends the run with CANCELLED and
     * nothing written. May be set from a signal handler. */
    volatile int *cancel;
    void (*progress)(void *user, const dio_progress *p);
    /* For tests and debugging: called with named intermediate tensors ("prompt.embeddings",
     * "denoise.step0.latents", "denoise.step0.velocity", "denoise.cond_latents", "decode.pixels",
     * ...; with chunks, "chunk1." in front). NULL: no host copies are made. */
    void (*inspect)(void *user, const char *name, const dio_run_tensor *t);
    void *user;
} dio_run_options;

/* Validates, then runs the graph. The output file appears under its final name only when the whole
 * run succeeded. */
DIO_API dio_status dio_pipeline_run(struct dio_context *ctx, dio_graph *graph,
                                    const dio_run_options *options);

#ifdef __cplusplus
}
#endif
#endif

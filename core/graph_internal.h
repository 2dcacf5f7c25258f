/* libdiorama — the parsed graph, shared by the parser/validator (graph.c) and the runner (pipeline*.c).
 *
 * Every value of a graph is kept as text, as it was written (`raw`, with ${variables}) and as it is
 * after expansion (`value`, set by validation): component and sampler parameters are key/value
 * strings at the ABI anyway, and one representation means one expansion rule. Each entry keeps its
 * JSON path for messages. */
#ifndef DIO_GRAPH_INTERNAL_H
#define DIO_GRAPH_INTERNAL_H

#include "diorama/diorama.h"

#define GRAPH_MAX_PARAMS 48
#define GRAPH_MAX_USES 4
#define GRAPH_MAX_INPUTS 8
#define GRAPH_MAX_OUTPUTS 8

typedef struct graph_text {
    char *raw;
    char *value; /* after expansion; NULL before validation */
    char *path;  /* JSON path, for messages */
} graph_text;

typedef struct graph_param {
    char *key;
    graph_text text;
} graph_param;

typedef struct graph_var {
    char *name;
    char *value; /* the default, or what dio_graph_set_var set */
    char *doc;
    int set;
} graph_var;

typedef struct graph_instance {
    char *id;
    char *path;
    int is_sampler;
    graph_text plugin;
    graph_text weights; /* raw NULL: no weights */
    graph_param params[GRAPH_MAX_PARAMS];
    int n_params;
    int first_use, last_use; /* node indices; -1 when unused */
} graph_instance;

typedef enum graph_op {
    GRAPH_OP_ENCODE_PROMPT = 0,
    GRAPH_OP_LOAD_CONDITION,
    GRAPH_OP_RUN,
    GRAPH_OP_DENOISE,
    GRAPH_OP_WRITE_VIDEO,
    GRAPH_OP_COUNT
} graph_op;

typedef struct graph_use {
    char *role;
    char *instance_id;
    int instance; /* index into graph->instances */
    char *path;
} graph_use;

typedef struct graph_input {
    char *port;
    char *node_id, *out_port; /* "node.port" split */
    int node;                 /* index of the producing node */
    int out_index;            /* index of its output */
    char *path;
} graph_input;

typedef struct graph_node {
    char *id;
    char *path;
    graph_op op;
    graph_use uses[GRAPH_MAX_USES];
    int n_uses;
    graph_input inputs[GRAPH_MAX_INPUTS];
    int n_inputs;
    graph_param params[GRAPH_MAX_PARAMS];
    int n_params;
    /* Output port names (the op's, or the component's for "run"), filled by validation. */
    const char *outputs[GRAPH_MAX_OUTPUTS];
    int n_outputs;
} graph_node;

struct dio_graph {
    char *file;
    char *base_dir;
    char *name, *description;
    graph_text backend;
    graph_var *vars;
    int n_vars;
    graph_instance *instances;
    int n_instances;
    graph_node *nodes;
    int n_nodes;
    /* "chunking": long videos. max_frames raw NULL: off. */
    graph_text chunk_max_frames, chunk_overlap;
    char *chunk_encoder_id;
    int chunk_encoder; /* instance index, -1 */
    int validated;
};

const char *graph_op_name(graph_op op);
/* Variable `index`'s value with its own ${...} expanded (malloc'd). */
dio_status graph_var_expanded(const dio_graph *g, int index, char **out);
/* The node's parameter `key` after expansion, NULL when absent. */
const char *graph_node_param(const graph_node *node, const char *key);
const graph_param *graph_node_param_entry(const graph_node *node, const char *key);
/* Typed reads of a node parameter with a default; INVALID_ARGUMENT naming the JSON path. */
dio_status graph_param_int(const graph_node *node, const char *key, long long def, long long lo, long long hi,
                           long long *out);
dio_status graph_param_double(const graph_node *node, const char *key, double def, double lo, double hi,
                              double *out);
dio_status graph_param_bool(const graph_node *node, const char *key, int def, int *out);
/* Index of node input `port`, -1 when absent. */
int graph_node_input(const graph_node *node, const char *port);
int graph_node_use(const graph_node *node, const char *role);

#endif

/* libdiorama — the JSON graph: parsing (cJSON), variable expansion and validation.
 *
 * Two passes. Loading checks the shape of the file alone: every key is known at its place, every value
 * of its type, every ${variable} declared, every node input names an earlier node — so a typo is found
 * in milliseconds, with its JSON path, however large the weights it names. Validation then expands the
 * variables and checks the graph against the loaded plugins: the plugin of each instance exists and is
 * of the right kind, its parameters pass the plugin's own descriptors, "run" inputs and outputs are the
 * component's ports, op parameters have their types and ranges, weight paths exist. No weight is read
 * by either pass.
 *
 * Nodes form a list executed in order, each input "node.port" naming an earlier node, so a graph can
 * never hold a cycle and the order of execution is the order a reader sees. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "graph_internal.h"

#define GRAPH_MAX_FILE (16u << 20)
#define GRAPH_MAX_DEPTH 64
#define GRAPH_MAX_TEXT 65536
/* nodes, component instances and variables of one graph: real pipelines have tens; the cap keeps a
 * hostile graph's validation (quadratic in places) and its tables small */
#define GRAPH_MAX_ENTRIES 4096

/* ---- op specifications ---- */

typedef enum { P_STR, P_INT, P_FLOAT, P_BOOL, P_ENUM } ptype;

typedef struct op_param_spec {
    const char *name;
    ptype type;
    double lo, hi;
    const char *choices;
    int required;
} op_param_spec;

typedef struct op_spec {
    const char *name;
    const char *uses[GRAPH_MAX_USES]; /* roles, all required */
    const char *inputs[GRAPH_MAX_INPUTS];
    int input_required[GRAPH_MAX_INPUTS];
    const char *outputs[GRAPH_MAX_OUTPUTS];
    op_param_spec params[24];
} op_spec;

static const op_spec op_specs[GRAPH_OP_COUNT] = {
    [GRAPH_OP_ENCODE_PROMPT] = {"encode_prompt",
                                {"tokenizer", "encoder"},
                                {NULL},
                                {0},
                                {"embeddings"},
                                {{"text", P_STR, 0, 0, NULL, 1}, {"cache", P_BOOL, 0, 0, NULL, 0}}},
    [GRAPH_OP_LOAD_CONDITION] = {"load_condition",
                                 {NULL},
                                 {NULL},
                                 {0},
                                 {"pixels"},
                                 {{"path", P_STR, 0, 0, NULL, 1},
                                  {"kind", P_ENUM, 0, 0, "auto|image|video", 0},
                                  {"width", P_INT, 8, 16384, NULL, 1},
                                  {"height", P_INT, 8, 16384, NULL, 1},
                                  {"frames", P_INT, 1, 100000, NULL, 1},
                                  {"latent_frames", P_INT, 1, 64, NULL, 1},
                                  {"resize", P_BOOL, 0, 0, NULL, 0}}},
    [GRAPH_OP_RUN] = {"run", {"component"}, {NULL}, {0}, {NULL}, {{NULL, P_STR, 0, 0, NULL, 0}}},
    [GRAPH_OP_DENOISE] = {"denoise",
                          {"dit", "sampler"},
                          {"positive", "negative", "cond_latents"},
                          {1, 0, 0},
                          {"latents"},
                          {{"width", P_INT, 8, 16384, NULL, 1},
                           {"height", P_INT, 8, 16384, NULL, 1},
                           {"frames", P_INT, 1, 100000, NULL, 1},
                           {"steps", P_INT, 1, 10000, NULL, 1},
                           {"guidance", P_FLOAT, 0, 100, NULL, 0},
                           {"guidance_formula", P_ENUM, 0, 0, "v2w|standard", 0},
                           {"seed", P_INT, 0, 4294967295.0, NULL, 0},
                           {"noise", P_ENUM, 0, 0, "numpy|philox", 0},
                           {"time_input", P_ENUM, 0, 0, "sigma|timestep", 0},
                           {"cond_timestep", P_FLOAT, 0, 1000, NULL, 0},
                           {"cond_frames", P_INT, 0, 64, NULL, 0},
                           {"latent_channels", P_INT, 1, 1024, NULL, 0},
                           {"spatial_factor", P_INT, 1, 64, NULL, 0},
                           {"temporal_factor", P_INT, 1, 64, NULL, 0}}},
    [GRAPH_OP_WRITE_VIDEO] = {"write_video",
                              {NULL},
                              {"pixels"},
                              {1},
                              {NULL},
                              {{"path", P_STR, 0, 0, NULL, 1},
                               {"fps", P_FLOAT, 0.001, 1000, NULL, 0},
                               {"format", P_ENUM, 0, 0, "auto|mp4|webp|png", 0},
                               {"quality", P_INT, 0, 100, NULL, 0}}},
};

const char *graph_op_name(graph_op op)
{
    return op < GRAPH_OP_COUNT ? op_specs[op].name : "?";
}

/* ---- small helpers ---- */

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static char *fmt_str(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *fmt_str(const char *fmt, ...)
{
    va_list ap;
    int n;
    char *s;
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !(s = malloc((size_t)n + 1))) return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

static dio_status oom(void)
{
    return dio_set_error(DIO_ERR_OUT_OF_HOST_MEMORY, "graph: out of host memory");
}

/* A JSON scalar as text: strings as they are, integers without a fraction, bools as true/false. */
static dio_status scalar_text(const cJSON *v, const char *where, const char *path, char **out)
{
    char buf[64];
    if (cJSON_IsString(v)) {
        if (strlen(v->valuestring) > GRAPH_MAX_TEXT)
            return dio_set_error(DIO_ERR_BAD_FORMAT, "graph %s: %s: string longer than %d bytes", where, path,
                                 GRAPH_MAX_TEXT);
        *out = dup_str(v->valuestring);
    } else if (cJSON_IsBool(v)) {
        *out = dup_str(cJSON_IsTrue(v) ? "true" : "false");
    } else if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d == floor(d) && fabs(d) < 9.0e15)
            snprintf(buf, sizeof(buf), "%.0f", d);
        else
            snprintf(buf, sizeof(buf), "%.17g", d);
        *out = dup_str(buf);
    } else {
        return dio_set_error(DIO_ERR_BAD_FORMAT, "graph %s: %s: expected a string, number or bool", where,
                             path);
    }
    return *out ? DIO_OK : oom();
}

static int var_index(const dio_graph *g, const char *name, size_t len)
{
    for (int i = 0; i < g->n_vars; i++)
        if (strlen(g->vars[i].name) == len && strncmp(g->vars[i].name, name, len) == 0) return i;
    return -1;
}

static int is_builtin_var(const char *name, size_t len)
{
    return len == 9 && strncmp(name, "graph_dir", 9) == 0;
}

/* Checks every ${name} of `s` (a declared variable or graph_dir); "$$" is a literal '$'. */
static dio_status check_refs(const dio_graph *g, const char *s, const char *path)
{
    for (const char *p = s; *p; p++) {
        if (*p != '$') continue;
        if (p[1] == '$') {
            p++;
            continue;
        }
        if (p[1] != '{')
            return dio_set_error(DIO_ERR_BAD_FORMAT, "graph %s: %s: a '$' must start ${variable} (or be $$)",
                                 g->file, path);
        const char *end = strchr(p + 2, '}');
        if (!end) return dio_set_error(DIO_ERR_BAD_FORMAT, "graph %s: %s: unterminated ${", g->file, path);
        size_t len = (size_t)(end - (p + 2));
        if (var_index(g, p + 2, len) < 0 && !is_builtin_var(p + 2, len))
            return dio_set_error(DIO_ERR_BAD_FORMAT,
                                 "graph %s: %s: ${%.*s} is not a declared variable (declare it under "
                                 "\"variables\")",
                                 g->file, path, (int)len, p + 2);
        p = end;
    }
    return DIO_OK;
}

/* Expands ${name} (a variable's value is expanded in turn, so a default may use ${graph_dir} or
 * another variable; depth 8 catches a loop) and $$. References were checked at load time. */
static dio_status expand_depth(const dio_graph *g, const char *s, int depth, char **out)
{
    size_t cap = strlen(s) + 64, n = 0;
    char *r, *sub = NULL;
    if (depth > 8)
        return dio_set_error(DIO_ERR_INVALID_ARGUMENT,
                             "graph %s: variables refer to each other in a loop: %s", g->file, s);
    if (!(r = malloc(cap))) return oom();
    for (const char *p = s; *p; p++) {
        const char *piece = p;
        size_t len = 1;
        if (*p == '$' && p[1] == '$') {
            p++;
        } else if (*p == '$' && p[1] == '{') {
            const char *end = strchr(p + 2, '}');
            size_t vl;
            int vi;
            if (!end) { /* check_refs refuses this at load time; never index past the string */
                free(r);
                free(sub);
                return dio_set_error(DIO_ERR_BAD_FORMAT, "graph %s: unterminated ${ in \"%s\"", g->file, s);
            }
            vl = (size_t)(end - (p + 2));
            vi = var_index(g, p + 2, vl);
            free(sub);
            sub = NULL;
            if (vi >= 0 && g->vars[vi].set) {
                piece = g->vars[vi].value; /* set from outside: literal text, never expanded */
            } else if (vi >= 0) {
                dio_status st = expand_depth(g, g->vars[vi].value, depth + 1, &sub);
                if (st != DIO_OK) {
                    free(r);
                    return st;
                }
                piece = sub;
            } else {
                piece = g->base_dir;
            }
            len = strlen(piece);
            p = end;
        }
        if (n + len + 1 > cap) {
            char *nr;
            cap = (n + len + 1) * 2;
            if (!(nr = realloc(r, cap))) {
                free(r);
                free(sub);
                return oom();
            }
            r = nr;
        }
        memcpy(r + n, piece, len);
        n += len;
    }
    free(sub);
    r[n] = 0;
    *out = r;
    return DIO_OK;
}

static dio_status expand(const dio_graph *g, const char *s, char **out)
{
    return expand_depth(g, s, 0, out);
}

static dio_status text_from(dio_graph *g, const cJSON *v, const char *path, graph_text *t)
{
    dio_status st;
    if ((st = scalar_text(v, g->file, path, &t->raw)) != DIO_OK) return st;
    if (!(t->path = dup_str(path))) return oom();
    return check_refs(g, t->raw, path);
}

static void text_free(graph_text *t)
{
    free(t->raw);
    free(t->value);
    free(t->path);
}

/* Every key of object `o` must be among `known` (NULL-terminated). */
/* cJSON keeps every copy of a repeated key and lookups see only the first, so a repeated key would be
 * silently ignored (or, in a list filled per key, overflow it): it is refused wherever keys are checked.
 * The earlier keys are all distinct known ones, so the search is bounded by the known list. */
static dio_status check_keys(const dio_graph *g, const cJSON *o, const char *path, const char *const *known)
{
    for (const cJSON *c = o->child; c; c = c->next) {
        int ok = 0;
        for (const cJSON *e = o->child; e != c; e = e->next)
            if (strcmp(e->string, c->string) == 0)
                return dio_set_error(DIO_ERR_BAD_FORMAT, "graph %s: %s.%s: given twice", g->file, path,
                                     c->string);
        for (const char *const *k = known; *k; k++)
            if (strcmp(c->string, *k) == 0) ok = 1;
        if (!ok) {
            char list[512] = "";
            for (const char *const *k = known; *k; k++)
                snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", k == known ? "" : ", ",
                         *k);
            return dio_set_error(DIO_ERR_BAD_FORMAT, "graph %s: %s.%s: unknown key (known here: %s)", g->file,
                                 path, c->string, list);
        }
    }
    return DIO_OK;
}

static dio_status want_object(const dio_graph *g, const cJSON *v, const char *path)
{
    if (!cJSON_IsObject(v))
        return dio_set_error(DIO_ERR_BAD_FORMAT, "graph %s: %s: expected an object", g->file, path);
    return DIO_OK;
}

static int valid_id(const char *s)
{
    if (!s[0] || strlen(s) > 64) return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' ||
              *p == '-'))
            return 0;
    return 1;
}

static dio_status parse_params(dio_graph *g, const cJSON *o, const char *path, graph_param *params, int *n)
{
    dio_status st;
    if ((st = want_object(g, o, path)) != DIO_OK) return st;
    for (const cJSON *c = o->child; c; c = c->next) {
        char *p;
        if (*n >= GRAPH_MAX_PARAMS)
            return dio_set_error(DIO_ERR_BAD_FORMAT, "graph %s: %s: more than %d parameters", g->file, path,
                                 GRAPH_MAX_PARAMS);
        for (int i = 0; i < *n; i++)
            if (strcmp(params[i].key, c->string) == 0)
                return dio_set_error(DIO_ERR_BAD_FORMAT, "graph %s: %s.%s: given twice", g->file, path,
                                     c->string);
        if (!(p = fmt_str("%s.%s", path, c->string))) return oom();
        params[*n].key = dup_str(c->string);
        st = params[*n].key ? text_from(g, c, p, &params[*n].text) : oom();
        (*n)++;
        free(p);
        if (st != DIO_OK) return st;
    }
    return DIO_OK;
}

/* ---- loading ---- */

static dio_status parse_vars(dio_graph *g, const cJSON *o)
{
    static const char *const keys[] = {"default", "doc", NULL};
    dio_status st;
    int n = 0;
    if ((st = want_object(g, o, "variables")) != DIO_OK) return st;
    for (const cJSON *c = o->child; c; c = c->next) n++;
    if (n > GRAPH_MAX_ENTRIES)
        return dio_set_error(DIO_ERR_BAD_FORMAT, "graph %s: variables: %d entries; the limit is %d", g->file,
                             n, GRAPH_MAX_ENTRIES);
    if (n && !(g->vars = calloc((size_t)n, sizeof(*g->vars)))) return oom();
    for (const cJSON *c = o->child; c; c = c->next) {
        graph_var *v = &g->vars[g->n_vars];
        char path[256];
        const cJSON *def, *doc;
        snprintf(path, sizeof(path), "variables.%s", c->string);
        if (!valid_id(c->string) || is_builtin_var(c->string, strlen(c->string)))
            return dio_set_error(DIO_ERR_BAD_FORMAT,
                                 "graph %s: %s: a variable name is [A-Za-z0-9_-]+ and not "
                                 "graph_dir",
                                 g->file, path);
        if (var_index(g, c->string, strlen(c->string)) >= 0)
            return dio_set_error(DIO_ERR_BAD_FORMAT, "graph %s: %s: declared twice", g->file, path);
        if (!(v->name = dup_str(c->string))) return oom();
        g->n_vars++;
        if (cJSON_IsObject(c)) {
            if ((st = check_keys(g, c, path, keys)) != DIO_OK) return st;
            def = cJSON_GetObjectItemCaseSensitive(c, "default");
            doc = cJSON_GetObjectItemCaseSensitive(c, "doc");
        } else {
            def = c;
            doc = NULL;
        }
        if (!def)
            return dio_set_error(DIO_ERR_BAD_FORMAT, "graph %s: %s: needs a \"default\"", g->file, path);
        if ((st = scalar_text(def, g->file, path, &v->value)) != DIO_OK) return st;
        if (doc && !cJSON_IsString(doc))
            return dio_set_error(DIO_ERR_BAD_FORMAT, "graph %s: %s.doc: expected a string", g->file, path);
        if (!(v->doc = dup_str(doc ? doc->valuestring : ""))) return oom();
    }
    /* A default may refer to any variable, declared before or after it: checked once all are known.
     * (Found by tests/fuzz/fuzz_graph.c: an unterminated "${" in a default reached expansion.) */
    for (int i = 0; i < g->n_vars; i++) {
        char path[256];
        snprintf(path, sizeof(path), "variables.%s.default", g->vars[i].name);
        if ((st = check_refs(g, g->vars[i].value, path)) != DIO_OK) return st;
    }
    return DIO_OK;
}

static int instance_index(const dio_graph *g, const char *id)
{
    for (int i = 0; i < g->n_instances; i++)
        if (strcmp(g->instances[i].id, id) == 0) return i;
    return -1;
}

static int node_index(const dio_graph *g, const char *id, int before)
{
    for (int i = 0; i < before; i++)
        if (strcmp(g->nodes[i].id, id) == 0) return i;
    return -1;
}

static dio_status parse_instances(dio_graph *g, const cJSON *o)
{
    static const char *const keys[] = {"component", "sampler", "weights", "params", NULL};
    dio_status st;
    int n = 0;
    if ((st = want_object(g, o, "components")) != DIO_OK) return st;
    for (const cJSON *c = o->child; c; c = c->next) n++;
    if (n > GRAPH_MAX_ENTRIES)
        return dio_set_error(DIO_ERR_BAD_FORMAT, "graph %s: components: %d entries; the limit is %d", g->file,
                             n, GRAPH_MAX_ENTRIES);
    if (n && !(g->instances = calloc((size_t)n, sizeof(*g->instances)))) return oom();
    for (const cJSON *c = o->child; c; c = c->next) {
        graph_instance *in = &g->instances[g->n_instances];
        char path[256], sub[300];
        const cJSON *comp, *samp, *w, *p;
        snprintf(path, sizeof(path), "components.%s", c->string);
        if (!valid_id(c->string))
            return dio_set_error(DIO_ERR_BAD_FORMAT, "graph %s: %s: an id is [A-Za-z0-9_-]+", g->file, path);
        if (instance_index(g, c->string) >= 0)
            return dio_set_error(DIO_ERR_BAD_FORMAT, "graph %s: %s: declared twice", g->file, path);
        if (!(in->id = dup_str(c->string)) || !(in->path = dup_str(path))) return oom();
        in->first_use = in->last_use = -1;
        g->n_instances++;
        if ((st = want_object(g, c, path)) != DIO_OK || (st = check_keys(g, c, path, keys)) != DIO_OK)
            return st;
        comp = cJSON_GetObjectItemCaseSensitive(c, "component");
        samp = cJSON_GetObjectItemCaseSensitive(c, "sampler");
        if (!!comp == !!samp)
            return dio_set_error(DIO_ERR_BAD_FORMAT,
                                 "graph %s: %s: give exactly one of \"component\" (a plugin name) or "
                                 "\"sampler\"",
                                 g->file, path);
        in->is_sampler = samp != NULL;
        snprintf(sub, sizeof(sub), "%s.%s", path, samp ? "sampler" : "component");
        if (!cJSON_IsString(samp ? samp : comp))
            return dio_set_error(DIO_ERR_BAD_FORMAT, "graph %s: %s: expected a plugin name", g->file, sub);
        if ((st = text_from(g, samp ? samp : comp, sub, &in->plugin)) != DIO_OK) return st;
        if ((w = cJSON_GetObjectItemCaseSensitive(c, "weights"))) {
            snprintf(sub, sizeof(sub), "%s.weights", path);
            if (in->is_sampler)
                return dio_set_error(DIO_ERR_BAD_FORMAT, "graph %s: %s: a sampler has no weights", g->file,
                                     sub);
            if (!cJSON_IsString(w))
                return dio_set_error(DIO_ERR_BAD_FORMAT, "graph %s: %s: expected a path", g->file, sub);
            if ((st = text_from(g, w, sub, &in->weights)) != DIO_OK) return st;
        }
        if ((p = cJSON_GetObjectItemCaseSensitive(c, "params"))) {
            snprintf(sub, sizeof(sub), "%s.params", path);
            if ((st = parse_params(g, p, sub, in->params, &in->n_params)) != DIO_OK) return st;
        }
    }
    return DIO_OK;
}

static dio_status parse_node(dio_graph *g, const cJSON *c, int index)
{
    static const char *const keys[] = {"id", "op", "uses", "inputs", "params", NULL};
    graph_node *nd = &g->nodes[index];
    char path[64], sub[256];
    const cJSON *id, *op, *uses, *inputs, *params;
    dio_status st;
    snprintf(path, sizeof(path), "nodes[%d]", index);
    if (!(nd->path = dup_str(path))) return oom();
    if ((st = want_object(g, c, path)) != DIO_OK || (st = check_keys(g, c, path, keys)) != DIO_OK) return st;
    id = cJSON_GetObjectItemCaseSensitive(c, "id");
    op = cJSON_GetObjectItemCaseSensitive(c, "op");
    if (!cJSON_IsString(id) || !valid_id(id->valuestring))
        return dio_set_error(DIO_ERR_BAD_FORMAT, "graph %s: %s.id: expected an id ([A-Za-z0-9_-]+)", g->file,
                             path);
    if (node_index(g, id->valuestring, index) >= 0)
        return dio_set_error(DIO_ERR_BAD_FORMAT, "graph %s: %s.id: \"%s\" is used by an earlier node",
                             g->file, path, id->valuestring);
    if (!(nd->id = dup_str(id->valuestring))) return oom();
    nd->op = GRAPH_OP_COUNT;
    for (int k = 0; k < GRAPH_OP_COUNT; k++)
        if (cJSON_IsString(op) && strcmp(op->valuestring, op_specs[k].name) == 0) nd->op = (graph_op)k;
    if (nd->op == GRAPH_OP_COUNT)
        return dio_set_error(DIO_ERR_BAD_FORMAT,
                             "graph %s: %s.op: expected one of encode_prompt, load_condition, run, denoise, "
                             "write_video",
                             g->file, path);
    const op_spec *spec = &op_specs[nd->op];
    if ((uses = cJSON_GetObjectItemCaseSensitive(c, "uses"))) {
        snprintf(sub, sizeof(sub), "%s.uses", path);
        if ((st = want_object(g, uses, sub)) != DIO_OK) return st;
        for (const cJSON *u = uses->child; u; u = u->next) {
            graph_use *gu = &nd->uses[nd->n_uses];
            int known = 0;
            snprintf(sub, sizeof(sub), "%s.uses.%s", path, u->string);
            for (int k = 0; k < GRAPH_MAX_USES && spec->uses[k]; k++)
                if (strcmp(spec->uses[k], u->string) == 0) known = 1;
            if (!known)
                return dio_set_error(DIO_ERR_BAD_FORMAT, "graph %s: %s: op %s uses no \"%s\"", g->file, sub,
                                     spec->name, u->string);
            /* Found in review after fuzzing: a repeated key wrote past uses[GRAPH_MAX_USES]. */
            if (graph_node_use(nd, u->string) >= 0 || nd->n_uses >= GRAPH_MAX_USES)
                return dio_set_error(DIO_ERR_BAD_FORMAT, "graph %s: %s: given twice", g->file, sub);
            if (!cJSON_IsString(u) || (gu->instance = instance_index(g, u->valuestring)) < 0)
                return dio_set_error(DIO_ERR_BAD_FORMAT,
                                     "graph %s: %s: expected the id of an entry of "
                                     "\"components\"",
                                     g->file, sub);
            nd->n_uses++; /* counted first: dio_graph_destroy frees what was copied if a copy fails */
            if (!(gu->role = dup_str(u->string)) || !(gu->instance_id = dup_str(u->valuestring)) ||
                !(gu->path = dup_str(sub)))
                return oom();
        }
    }
    for (int k = 0; k < GRAPH_MAX_USES && spec->uses[k]; k++)
        if (graph_node_use(nd, spec->uses[k]) < 0)
            return dio_set_error(DIO_ERR_BAD_FORMAT, "graph %s: %s.uses: op %s needs \"%s\"", g->file, path,
                                 spec->name, spec->uses[k]);
    if ((inputs = cJSON_GetObjectItemCaseSensitive(c, "inputs"))) {
        snprintf(sub, sizeof(sub), "%s.inputs", path);
        if ((st = want_object(g, inputs, sub)) != DIO_OK) return st;
        for (const cJSON *u = inputs->child; u; u = u->next) {
            graph_input *gi = &nd->inputs[nd->n_inputs];
            const char *dot;
            snprintf(sub, sizeof(sub), "%s.inputs.%s", path, u->string);
            if (nd->n_inputs >= GRAPH_MAX_INPUTS)
                return dio_set_error(DIO_ERR_BAD_FORMAT, "graph %s: %s: too many inputs", g->file, sub);
            if (!cJSON_IsString(u) || !(dot = strchr(u->valuestring, '.')))
                return dio_set_error(DIO_ERR_BAD_FORMAT, "graph %s: %s: expected \"node.port\"", g->file,
                                     sub);
            if (graph_node_input(nd, u->string) >= 0)
                return dio_set_error(DIO_ERR_BAD_FORMAT, "graph %s: %s: given twice", g->file, sub);
            nd->n_inputs++; /* counted first: dio_graph_destroy frees what was copied if a copy fails */
            if (!(gi->port = dup_str(u->string)) || !(gi->node_id = dup_str(u->valuestring)) ||
                !(gi->out_port = dup_str(dot + 1)) || !(gi->path = dup_str(sub)))
                return oom();
            gi->node_id[dot - u->valuestring] = 0;
            if ((gi->node = node_index(g, gi->node_id, index)) < 0)
                return dio_set_error(DIO_ERR_BAD_FORMAT, "graph %s: %s: \"%s\" is not an earlier node",
                                     g->file, sub, gi->node_id);
            if (nd->op != GRAPH_OP_RUN) {
                int known = 0;
                for (int k = 0; k < GRAPH_MAX_INPUTS && spec->inputs[k]; k++)
                    if (strcmp(spec->inputs[k], gi->port) == 0) known = 1;
                if (!known)
                    return dio_set_error(DIO_ERR_BAD_FORMAT, "graph %s: %s: op %s has no input \"%s\"",
                                         g->file, sub, spec->name, gi->port);
            }
        }
    }
    if (nd->op != GRAPH_OP_RUN)
        for (int k = 0; k < GRAPH_MAX_INPUTS && spec->inputs[k]; k++)
            if (spec->input_required[k] && graph_node_input(nd, spec->inputs[k]) < 0)
                return dio_set_error(DIO_ERR_BAD_FORMAT, "graph %s: %s.inputs: op %s needs \"%s\"", g->file,
                                     path, spec->name, spec->inputs[k]);
    if ((params = cJSON_GetObjectItemCaseSensitive(c, "params"))) {
        snprintf(sub, sizeof(sub), "%s.params", path);
        if (nd->op == GRAPH_OP_RUN && params->child)
            return dio_set_error(DIO_ERR_BAD_FORMAT,
                                 "graph %s: %s: a run node has no params (give them to the component)",
                                 g->file, sub);
        if ((st = parse_params(g, params, sub, nd->params, &nd->n_params)) != DIO_OK) return st;
        for (int i = 0; i < nd->n_params; i++) {
            int known = 0;
            for (const op_param_spec *ps = spec->params; ps->name; ps++)
                if (strcmp(ps->name, nd->params[i].key) == 0) known = 1;
            if (!known)
                return dio_set_error(DIO_ERR_BAD_FORMAT, "graph %s: %s.%s: op %s has no parameter \"%s\"",
                                     g->file, sub, nd->params[i].key, spec->name, nd->params[i].key);
        }
    }
    for (const op_param_spec *ps = spec->params; ps->name; ps++)
        if (ps->required && !graph_node_param_entry(nd, ps->name))
            return dio_set_error(DIO_ERR_BAD_FORMAT, "graph %s: %s.params: op %s needs \"%s\"", g->file, path,
                                 spec->name, ps->name);
    for (int u = 0; u < nd->n_uses; u++) {
        graph_instance *in = &g->instances[nd->uses[u].instance];
        int want_sampler = strcmp(nd->uses[u].role, "sampler") == 0;
        if (in->is_sampler != want_sampler)
            return dio_set_error(DIO_ERR_BAD_FORMAT, "graph %s: %s: \"%s\" is %s, expected %s", g->file,
                                 nd->uses[u].path, in->id, in->is_sampler ? "a sampler" : "a component",
                                 want_sampler ? "a sampler" : "a component");
        if (in->first_use < 0) in->first_use = index;
        in->last_use = index;
    }
    return DIO_OK;
}

static dio_status parse_chunking(dio_graph *g, const cJSON *o)
{
    static const char *const keys[] = {"max_frames", "overlap", "encoder", NULL};
    const cJSON *m, *ov, *enc;
    dio_status st;
    if ((st = want_object(g, o, "chunking")) != DIO_OK || (st = check_keys(g, o, "chunking", keys)) != DIO_OK)
        return st;
    m = cJSON_GetObjectItemCaseSensitive(o, "max_frames");
    ov = cJSON_GetObjectItemCaseSensitive(o, "overlap");
    enc = cJSON_GetObjectItemCaseSensitive(o, "encoder");
    if (!m || !enc)
        return dio_set_error(DIO_ERR_BAD_FORMAT,
                             "graph %s: chunking: needs \"max_frames\" and \"encoder\" (the VAE encoder that "
                             "re-encodes the overlap)",
                             g->file);
    if ((st = text_from(g, m, "chunking.max_frames", &g->chunk_max_frames)) != DIO_OK) return st;
    if (ov && (st = text_from(g, ov, "chunking.overlap", &g->chunk_overlap)) != DIO_OK) return st;
    if (!cJSON_IsString(enc) || (g->chunk_encoder = instance_index(g, enc->valuestring)) < 0 ||
        g->instances[g->chunk_encoder].is_sampler)
        return dio_set_error(DIO_ERR_BAD_FORMAT, "graph %s: chunking.encoder: expected the id of a component",
                             g->file);
    if (!(g->chunk_encoder_id = dup_str(enc->valuestring))) return oom();
    return DIO_OK;
}

static int json_depth(const cJSON *v, int depth)
{
    int m = depth;
    for (const cJSON *c = v->child; c; c = c->next) {
        int d = json_depth(c, depth + 1);
        if (d > m) m = d;
        if (m > GRAPH_MAX_DEPTH) break;
    }
    return m;
}

dio_status dio_graph_parse(const char *json, size_t len, const char *base_dir, dio_graph **out)
{
    static const char *const keys[] = {"diorama_graph", "name",  "description", "backend", "variables",
                                       "components",    "nodes", "chunking",    NULL};
    dio_graph *g = NULL;
    cJSON *root = NULL;
    const cJSON *v, *nodes;
    dio_status st;
    int n = 0;
    if (!json || !out) return dio_set_error(DIO_ERR_INVALID_ARGUMENT, "dio_graph_parse: NULL argument");
    if (!(g = calloc(1, sizeof(*g)))) return oom();
    g->chunk_encoder = -1;
    if (!g->file && !(g->file = dup_str("(memory)"))) goto nomem;
    if (!(g->base_dir = dup_str(base_dir ? base_dir : "."))) goto nomem;
    if (len > GRAPH_MAX_FILE) {
        st = dio_set_error(DIO_ERR_BAD_FORMAT, "graph %s: larger than %u bytes", g->file, GRAPH_MAX_FILE);
        goto fail;
    }
    if (!(root = cJSON_ParseWithLength(json, len))) {
        const char *at = cJSON_GetErrorPtr();
        long off = at && at >= json && at <= json + len ? (long)(at - json) : -1;
        st = dio_set_error(DIO_ERR_BAD_FORMAT, "graph %s: not valid JSON (near byte %ld)", g->file, off);
        goto fail;
    }
    if (json_depth(root, 1) > GRAPH_MAX_DEPTH) {
        st = dio_set_error(DIO_ERR_BAD_FORMAT, "graph %s: nested deeper than %d", g->file, GRAPH_MAX_DEPTH);
        goto fail;
    }
    if ((st = want_object(g, root, "(top level)")) != DIO_OK ||
        (st = check_keys(g, root, "(top level)", keys)))
        goto fail;
    v = cJSON_GetObjectItemCaseSensitive(root, "diorama_graph");
    if (!cJSON_IsNumber(v) || v->valuedouble != 1) {
        st = dio_set_error(DIO_ERR_BAD_FORMAT,
                           "graph %s: diorama_graph: expected 1 (the format version this build reads)",
                           g->file);
        goto fail;
    }
    v = cJSON_GetObjectItemCaseSensitive(root, "name");
    if (!(g->name = dup_str(cJSON_IsString(v) ? v->valuestring : "unnamed"))) goto nomem;
    v = cJSON_GetObjectItemCaseSensitive(root, "description");
    if (!(g->description = dup_str(cJSON_IsString(v) ? v->valuestring : ""))) goto nomem;
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "variables")) && (st = parse_vars(g, v)) != DIO_OK)
        goto fail;
    v = cJSON_GetObjectItemCaseSensitive(root, "backend");
    if (v) {
        if ((st = text_from(g, v, "backend", &g->backend)) != DIO_OK) goto fail;
    } else if (!(g->backend.raw = dup_str("cpu")) || !(g->backend.path = dup_str("backend"))) {
        goto nomem;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "components")) && (st = parse_instances(g, v)) != DIO_OK)
        goto fail;
    nodes = cJSON_GetObjectItemCaseSensitive(root, "nodes");
    if (!cJSON_IsArray(nodes) || !(n = cJSON_GetArraySize(nodes))) {
        st = dio_set_error(DIO_ERR_BAD_FORMAT, "graph %s: nodes: expected a non-empty array", g->file);
        goto fail;
    }
    if (n > GRAPH_MAX_ENTRIES) {
        st = dio_set_error(DIO_ERR_BAD_FORMAT, "graph %s: nodes: %d entries; the limit is %d", g->file, n,
                           GRAPH_MAX_ENTRIES);
        goto fail;
    }
    if (!(g->nodes = calloc((size_t)n, sizeof(*g->nodes)))) goto nomem;
    for (const cJSON *c = nodes->child; c; c = c->next) {
        g->n_nodes++;
        if ((st = parse_node(g, c, g->n_nodes - 1)) != DIO_OK) goto fail;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "chunking")) && (st = parse_chunking(g, v)) != DIO_OK)
        goto fail;
    cJSON_Delete(root);
    *out = g;
    return DIO_OK;
nomem:
    st = oom();
fail:
    cJSON_Delete(root);
    dio_graph_destroy(g);
    return st;
}

dio_status dio_graph_load(const char *path, dio_graph **out)
{
    FILE *f = NULL;
    char *text = NULL, *dir = NULL;
    long sz;
    dio_status st;
    const char *slash;
    if (!path || !out) return dio_set_error(DIO_ERR_INVALID_ARGUMENT, "dio_graph_load: NULL argument");
    if (!(f = fopen(path, "rb")))
        return dio_set_error(DIO_ERR_IO, "graph %s: cannot open: %s", path, strerror(errno));
    if (fseek(f, 0, SEEK_END) || (sz = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
        st = dio_set_error(DIO_ERR_IO, "graph %s: cannot read", path);
        goto fail;
    }
    if ((unsigned long)sz > GRAPH_MAX_FILE) {
        st = dio_set_error(DIO_ERR_BAD_FORMAT, "graph %s: larger than %u bytes", path, GRAPH_MAX_FILE);
        goto fail;
    }
    if (!(text = malloc((size_t)sz + 1))) {
        st = oom();
        goto fail;
    }
    if (fread(text, 1, (size_t)sz, f) != (size_t)sz) {
        st = dio_set_error(DIO_ERR_IO, "graph %s: cannot read", path);
        goto fail;
    }
    text[sz] = 0;
    slash = strrchr(path, '/');
    dir = slash ? fmt_str("%.*s", (int)(slash - path), path) : dup_str(".");
    if (!dir) {
        st = oom();
        goto fail;
    }
    if (slash && !dir[0]) dir[0] = '/', dir[1] = 0;
    if ((st = dio_graph_parse(text, (size_t)sz, dir, out)) != DIO_OK) {
        /* Messages name "(memory)"; say the file instead. */
        char msg[1024];
        const char *m = dio_last_error();
        const char *p = strstr(m, "(memory)");
        if (p)
            snprintf(msg, sizeof(msg), "%.*s%s%s", (int)(p - m), m, path, p + 8);
        else
            snprintf(msg, sizeof(msg), "%s", m);
        dio_set_error(st, "%s", msg);
        goto fail;
    }
    free((*out)->file);
    if (!((*out)->file = dup_str(path))) {
        dio_graph_destroy(*out);
        *out = NULL;
        st = oom();
        goto fail;
    }
fail:
    free(dir);
    free(text);
    if (f) fclose(f);
    return st;
}

static void params_free(graph_param *p, int n)
{
    for (int i = 0; i < n; i++) {
        free(p[i].key);
        text_free(&p[i].text);
    }
}

void dio_graph_destroy(dio_graph *g)
{
    if (!g) return;
    for (int i = 0; i < g->n_vars; i++) {
        free(g->vars[i].name);
        free(g->vars[i].value);
        free(g->vars[i].doc);
    }
    for (int i = 0; i < g->n_instances; i++) {
        graph_instance *in = &g->instances[i];
        free(in->id);
        free(in->path);
        text_free(&in->plugin);
        text_free(&in->weights);
        params_free(in->params, in->n_params);
    }
    for (int i = 0; i < g->n_nodes; i++) {
        graph_node *nd = &g->nodes[i];
        free(nd->id);
        free(nd->path);
        for (int u = 0; u < nd->n_uses; u++) {
            free(nd->uses[u].role);
            free(nd->uses[u].instance_id);
            free(nd->uses[u].path);
        }
        for (int u = 0; u < nd->n_inputs; u++) {
            free(nd->inputs[u].port);
            free(nd->inputs[u].node_id);
            free(nd->inputs[u].out_port);
            free(nd->inputs[u].path);
        }
        params_free(nd->params, nd->n_params);
    }
    text_free(&g->backend);
    text_free(&g->chunk_max_frames);
    text_free(&g->chunk_overlap);
    free(g->chunk_encoder_id);
    free(g->vars);
    free(g->instances);
    free(g->nodes);
    free(g->file);
    free(g->base_dir);
    free(g->name);
    free(g->description);
    free(g);
}

/* ---- variables ---- */

dio_status dio_graph_set_var(dio_graph *g, const char *name, const char *value)
{
    int i;
    char *v;
    if (!g || !name || !value)
        return dio_set_error(DIO_ERR_INVALID_ARGUMENT, "dio_graph_set_var: NULL argument");
    if ((i = var_index(g, name, strlen(name))) < 0) {
        char list[1024] = "";
        for (int k = 0; k < g->n_vars; k++)
            snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", k ? ", " : "",
                     g->vars[k].name);
        return dio_set_error(DIO_ERR_INVALID_ARGUMENT, "graph %s declares no variable \"%s\" (it has: %s)",
                             g->file, name, g->n_vars ? list : "none");
    }
    if (strlen(value) > GRAPH_MAX_TEXT)
        return dio_set_error(DIO_ERR_INVALID_ARGUMENT, "graph variable %s: longer than %d bytes", name,
                             GRAPH_MAX_TEXT);
    if (!(v = dup_str(value))) return oom();
    free(g->vars[i].value);
    g->vars[i].value = v;
    g->vars[i].set = 1;
    g->validated = 0;
    return DIO_OK;
}

int dio_graph_has_var(const dio_graph *g, const char *name)
{
    return g && name && var_index(g, name, strlen(name)) >= 0;
}

int32_t dio_graph_var_count(const dio_graph *g)
{
    return g ? g->n_vars : 0;
}

dio_status dio_graph_var_at(const dio_graph *g, int32_t index, const char **name, const char **value,
                            const char **doc)
{
    if (!g || index < 0 || index >= g->n_vars)
        return dio_set_error(DIO_ERR_INVALID_ARGUMENT, "dio_graph_var_at: index out of range");
    if (name) *name = g->vars[index].name;
    if (value) *value = g->vars[index].value;
    if (doc) *doc = g->vars[index].doc;
    return DIO_OK;
}

const char *dio_graph_name(const dio_graph *g)
{
    return g ? g->name : NULL;
}

const char *dio_graph_backend(const dio_graph *g)
{
    return g && g->validated ? g->backend.value : NULL;
}

/* ---- node accessors ---- */

const graph_param *graph_node_param_entry(const graph_node *node, const char *key)
{
    for (int i = 0; i < node->n_params; i++)
        if (strcmp(node->params[i].key, key) == 0) return &node->params[i];
    return NULL;
}

const char *graph_node_param(const graph_node *node, const char *key)
{
    const graph_param *p = graph_node_param_entry(node, key);
    return p ? p->text.value : NULL;
}

int graph_node_input(const graph_node *node, const char *port)
{
    for (int i = 0; i < node->n_inputs; i++)
        if (strcmp(node->inputs[i].port, port) == 0) return i;
    return -1;
}

int graph_node_use(const graph_node *node, const char *role)
{
    for (int i = 0; i < node->n_uses; i++)
        if (strcmp(node->uses[i].role, role) == 0) return i;
    return -1;
}

static dio_status number_of(const char *s, const char *path, double *out)
{
    char *end = NULL;
    double v;
    errno = 0;
    v = strtod(s, &end);
    if (!s[0] || *end || errno == ERANGE || isnan(v))
        return dio_set_error(DIO_ERR_INVALID_ARGUMENT, "graph: %s: \"%s\" is not a number", path, s);
    *out = v;
    return DIO_OK;
}

dio_status graph_param_double(const graph_node *node, const char *key, double def, double lo, double hi,
                              double *out)
{
    const graph_param *p = graph_node_param_entry(node, key);
    dio_status st;
    double v = def;
    if (p && (st = number_of(p->text.value, p->text.path, &v)) != DIO_OK) return st;
    if (p && (v < lo || v > hi))
        return dio_set_error(DIO_ERR_INVALID_ARGUMENT, "graph: %s: %g is outside [%g, %g]", p->text.path, v,
                             lo, hi);
    *out = v;
    return DIO_OK;
}

dio_status graph_param_int(const graph_node *node, const char *key, long long def, long long lo, long long hi,
                           long long *out)
{
    const graph_param *p = graph_node_param_entry(node, key);
    dio_status st;
    double v = (double)def;
    if (p && (st = number_of(p->text.value, p->text.path, &v)) != DIO_OK) return st;
    if (p && v != floor(v))
        return dio_set_error(DIO_ERR_INVALID_ARGUMENT, "graph: %s: %g is not an integer", p->text.path, v);
    if (p && (v < (double)lo || v > (double)hi))
        return dio_set_error(DIO_ERR_INVALID_ARGUMENT, "graph: %s: %.0f is outside [%lld, %lld]",
                             p->text.path, v, lo, hi);
    *out = (long long)v;
    return DIO_OK;
}

dio_status graph_param_bool(const graph_node *node, const char *key, int def, int *out)
{
    const graph_param *p = graph_node_param_entry(node, key);
    if (!p) {
        *out = def;
        return DIO_OK;
    }
    if (strcmp(p->text.value, "true") == 0 || strcmp(p->text.value, "1") == 0)
        *out = 1;
    else if (strcmp(p->text.value, "false") == 0 || strcmp(p->text.value, "0") == 0)
        *out = 0;
    else
        return dio_set_error(DIO_ERR_INVALID_ARGUMENT, "graph: %s: \"%s\" is not true or false", p->text.path,
                             p->text.value);
    return DIO_OK;
}

/* ---- validation ---- */

static dio_status expand_text(const dio_graph *g, graph_text *t)
{
    free(t->value);
    t->value = NULL;
    return t->raw ? expand(g, t->raw, &t->value) : DIO_OK;
}

static dio_status check_op_params(const graph_node *nd)
{
    const op_spec *spec = &op_specs[nd->op];
    dio_status st = DIO_OK;
    for (const op_param_spec *ps = spec->params; ps->name && st == DIO_OK; ps++) {
        const graph_param *p = graph_node_param_entry(nd, ps->name);
        long long iv;
        double dv;
        int bv;
        if (!p) continue;
        switch (ps->type) {
        case P_INT: st = graph_param_int(nd, ps->name, 0, (long long)ps->lo, (long long)ps->hi, &iv); break;
        case P_FLOAT: st = graph_param_double(nd, ps->name, 0, ps->lo, ps->hi, &dv); break;
        case P_BOOL: st = graph_param_bool(nd, ps->name, 0, &bv); break;
        case P_ENUM: {
            const char *c = ps->choices;
            size_t n = strlen(p->text.value);
            int ok = 0;
            while (c && *c) {
                const char *bar = strchr(c, '|');
                size_t len = bar ? (size_t)(bar - c) : strlen(c);
                if (len == n && strncmp(c, p->text.value, n) == 0) ok = 1;
                c = bar ? bar + 1 : NULL;
            }
            if (!ok)
                st = dio_set_error(DIO_ERR_INVALID_ARGUMENT, "graph: %s: \"%s\" is not one of %s",
                                   p->text.path, p->text.value, ps->choices);
            break;
        }
        case P_STR: break;
        }
    }
    return st;
}

static const dio_port_desc *find_port(const dio_port_desc *ports, int32_t n, const char *name, int32_t *index)
{
    for (int32_t i = 0; i < n; i++)
        if (ports[i].name && strcmp(ports[i].name, name) == 0) {
            if (index) *index = i;
            return &ports[i];
        }
    return NULL;
}

static dio_status validate_instance(dio_graph *g, dio_context *ctx, graph_instance *in)
{
    const dio_plugin_descriptor *d = NULL;
    dio_kv kv[GRAPH_MAX_PARAMS];
    dio_status st;
    struct stat sb;
    if ((st = expand_text(g, &in->plugin)) != DIO_OK || (st = expand_text(g, &in->weights)) != DIO_OK)
        return st;
    for (int i = 0; i < in->n_params; i++) {
        if ((st = expand_text(g, &in->params[i].text)) != DIO_OK) return st;
        kv[i] = (dio_kv){in->params[i].key, in->params[i].text.value};
    }
    if (dio_context_find(ctx, in->is_sampler ? DIO_PLUGIN_SAMPLER : DIO_PLUGIN_COMPONENT, in->plugin.value,
                         &d) != DIO_OK) {
        char msg[768];
        snprintf(msg, sizeof(msg), "%s", dio_last_error());
        return dio_set_error(DIO_ERR_NOT_SUPPORTED, "graph %s: %s: %s", g->file, in->plugin.path, msg);
    }
    if (in->is_sampler) {
        if ((st = dio_params_validate(in->plugin.value, d->sampler->params, d->sampler->n_params, kv,
                                      (size_t)in->n_params)) != DIO_OK)
            goto named;
    } else {
        if ((st = dio_params_validate(in->plugin.value, d->component->params, d->component->n_params, kv,
                                      (size_t)in->n_params)) != DIO_OK)
            goto named;
        if (in->weights.value && stat(in->weights.value, &sb) != 0)
            return dio_set_error(DIO_ERR_IO, "graph %s: %s: weights \"%s\" not found: %s", g->file,
                                 in->weights.path, in->weights.value, strerror(errno));
    }
    return DIO_OK;
named : {
    char msg[768];
    snprintf(msg, sizeof(msg), "%s", dio_last_error());
    return dio_set_error(st, "graph %s: %s.params: %s", g->file, in->path, msg);
}
}

/* The output port names of a node: the op's, or its component's for "run". */
static dio_status node_outputs(dio_graph *g, dio_context *ctx, graph_node *nd)
{
    nd->n_outputs = 0;
    if (nd->op == GRAPH_OP_RUN) {
        const graph_instance *in = &g->instances[nd->uses[graph_node_use(nd, "component")].instance];
        const dio_plugin_descriptor *d = NULL;
        if (dio_context_find(ctx, DIO_PLUGIN_COMPONENT, in->plugin.value, &d) != DIO_OK)
            return DIO_ERR_INTERNAL;
        const dio_component_iface *ci = d->component;
        for (int32_t i = 0; i < ci->n_outputs && i < GRAPH_MAX_OUTPUTS; i++)
            nd->outputs[nd->n_outputs++] = ci->outputs[i].name;
        for (int i = 0; i < nd->n_inputs; i++)
            if (!find_port(ci->inputs, ci->n_inputs, nd->inputs[i].port, NULL))
                return dio_set_error(DIO_ERR_INVALID_ARGUMENT,
                                     "graph %s: %s: component %s has no input port \"%s\"", g->file,
                                     nd->inputs[i].path, in->plugin.value, nd->inputs[i].port);
        for (int32_t i = 0; i < ci->n_inputs; i++)
            if (!ci->inputs[i].optional && graph_node_input(nd, ci->inputs[i].name) < 0)
                return dio_set_error(DIO_ERR_INVALID_ARGUMENT,
                                     "graph %s: %s.inputs: component %s needs its input port \"%s\"", g->file,
                                     nd->path, in->plugin.value, ci->inputs[i].name);
    } else {
        const op_spec *spec = &op_specs[nd->op];
        for (int k = 0; k < GRAPH_MAX_OUTPUTS && spec->outputs[k]; k++)
            nd->outputs[nd->n_outputs++] = spec->outputs[k];
    }
    return DIO_OK;
}

dio_status dio_graph_validate(dio_graph *g, dio_context *ctx)
{
    dio_status st;
    if (!g || !ctx) return dio_set_error(DIO_ERR_INVALID_ARGUMENT, "dio_graph_validate: NULL argument");
    g->validated = 0;
    if ((st = expand_text(g, &g->backend)) != DIO_OK ||
        (st = expand_text(g, &g->chunk_max_frames)) != DIO_OK ||
        (st = expand_text(g, &g->chunk_overlap)) != DIO_OK)
        return st;
    for (int i = 0; i < g->n_instances; i++)
        if ((st = validate_instance(g, ctx, &g->instances[i])) != DIO_OK) return st;
    for (int i = 0; i < g->n_nodes; i++) {
        graph_node *nd = &g->nodes[i];
        for (int k = 0; k < nd->n_params; k++)
            if ((st = expand_text(g, &nd->params[k].text)) != DIO_OK) return st;
        if ((st = check_op_params(nd)) != DIO_OK) return st;
        if ((st = node_outputs(g, ctx, nd)) != DIO_OK) return st;
        for (int k = 0; k < nd->n_inputs; k++) {
            graph_input *gi = &nd->inputs[k];
            const graph_node *src = &g->nodes[gi->node];
            gi->out_index = -1;
            for (int o = 0; o < src->n_outputs; o++)
                if (strcmp(src->outputs[o], gi->out_port) == 0) gi->out_index = o;
            if (gi->out_index < 0)
                return dio_set_error(DIO_ERR_INVALID_ARGUMENT,
                                     "graph %s: %s: node %s (%s) has no output \"%s\"", g->file, gi->path,
                                     src->id, graph_op_name(src->op), gi->out_port);
        }
    }
    if (g->chunk_max_frames.value) {
        double v;
        if ((st = number_of(g->chunk_max_frames.value, "chunking.max_frames", &v)) != DIO_OK) return st;
        if (v < 1 || v != floor(v) || ((long long)v - 1) % 4)
            return dio_set_error(DIO_ERR_INVALID_ARGUMENT,
                                 "graph %s: chunking.max_frames: %g is not 1 + 4k frames", g->file, v);
        if (g->chunk_overlap.value) {
            double o;
            if ((st = number_of(g->chunk_overlap.value, "chunking.overlap", &o)) != DIO_OK) return st;
            if (o < 1 || o >= v || o != floor(o))
                return dio_set_error(DIO_ERR_INVALID_ARGUMENT,
                                     "graph %s: chunking.overlap: %g must be a whole number of frames in [1, "
                                     "max_frames)",
                                     g->file, o);
        }
    }
    g->validated = 1;
    return DIO_OK;
}

dio_status graph_var_expanded(const dio_graph *g, int index, char **out)
{
    if (g->vars[index].set) {
        *out = dup_str(g->vars[index].value);
        return *out ? DIO_OK : oom();
    }
    return expand(g, g->vars[index].value, out);
}

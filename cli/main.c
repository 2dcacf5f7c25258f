/* diorama — the command line.
 *
 *   diorama --version
 *   diorama plugins                      what was found, where, its ABI range, and why anything was refused
 *   diorama ops [--backend NAME]         the op × dtype support matrix of a backend
 *   diorama component info NAME          a component's ports and parameters
 *   diorama component run NAME [--weights W] [--params JSON] --inputs IN.safetensors --outputs
 * OUT.safetensors
 *
 * Global options (any position): --backend NAME, --plugin-dir DIR (repeatable), --threads N, -v.
 * The CLI is a thin layer over libdiorama: every failure is printed from dio_last_error() and turned
 * into exit status 1 (2 for usage errors). Outputs are written atomically by dio_safetensors_write. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "diorama/diorama.h"

#define MAX_PLUGIN_DIRS 16

typedef struct cli_options {
    const char *backend;
    const char *plugin_dirs[MAX_PLUGIN_DIRS];
    size_t n_plugin_dirs;
    const char *threads;
    const char *weights, *params, *inputs, *outputs;
    const char *args[8]; /* positional */
    int n_args;
} cli_options;

static void usage(FILE *f)
{
    fprintf(f, "usage: diorama [--backend NAME] [--plugin-dir DIR]... [--threads N] [-v] COMMAND\n"
               "commands:\n"
               "  --version                      product and ABI versions\n"
               "  plugins                        plugins found, where, ABI ranges, refusals and why\n"
               "  ops                            the op support matrix of --backend (default: cpu)\n"
               "  component info NAME            ports and parameters of a component\n"
               "  component run NAME --inputs IN.safetensors --outputs OUT.safetensors\n"
               "                 [--weights FILE|DIR] [--params JSON]\n"
               "environment: DIORAMA_PLUGIN_PATH, DIORAMA_BACKEND, DIORAMA_DEBUG=1, DIORAMA_LOG=level\n");
}

static int fail(const char *what)
{
    fprintf(stderr, "diorama: %s: %s\n", what, dio_last_error());
    return 1;
}

static const char *kind_name(int32_t kind)
{
    return kind == DIO_PLUGIN_BACKEND     ? "backend"
           : kind == DIO_PLUGIN_COMPONENT ? "component"
           : kind == DIO_PLUGIN_SAMPLER   ? "sampler"
                                          : "?";
}

static int open_context(const cli_options *o, dio_context **ctx)
{
    dio_context_options opt;
    memset(&opt, 0, sizeof(opt));
    opt.struct_size = sizeof(opt);
    opt.plugin_dirs = o->plugin_dirs;
    opt.n_plugin_dirs = o->n_plugin_dirs;
    if (dio_context_create(&opt, ctx) != DIO_OK) return fail("cannot create a context");
    return 0;
}

static int open_backend(const cli_options *o, dio_context *ctx, dio_backend **be)
{
    dio_kv kv = {"threads", o->threads};
    if (dio_backend_open(ctx, o->backend, o->threads ? &kv : NULL, o->threads ? 1 : 0, be) != DIO_OK)
        return fail("cannot open the backend");
    return 0;
}

static int cmd_plugins(const cli_options *o)
{
    dio_context *ctx = NULL;
    int32_t n;
    if (open_context(o, &ctx)) return 1;
    n = dio_context_plugin_count(ctx);
    if (n == 0) printf("no plugins found (set --plugin-dir or DIORAMA_PLUGIN_PATH)\n");
    for (int32_t i = 0; i < n; i++) {
        dio_plugin_info info;
        info.struct_size = sizeof(info);
        if (dio_context_plugin_at(ctx, i, &info) != DIO_OK) continue;
        if (info.accepted) {
            printf("%-10s %-20s %-8s ABI [%u.%u, %u.%u] agreed %u.%u  %s\n", kind_name(info.kind), info.name,
                   info.version ? info.version : "", DIO_ABI_MAJOR(info.abi_min), DIO_ABI_MINOR(info.abi_min),
                   DIO_ABI_MAJOR(info.abi_max), DIO_ABI_MINOR(info.abi_max), DIO_ABI_MAJOR(info.abi_agreed),
                   DIO_ABI_MINOR(info.abi_agreed), info.path);
            if (info.description)
                printf("           %s (%s)\n", info.description, info.license ? info.license : "");
        } else {
            printf("refused    %s\n           %s\n", info.path, info.refusal);
        }
    }
    dio_context_destroy(ctx);
    return 0;
}

static int cmd_ops(const cli_options *o)
{
    static const int32_t dtypes[] = {DIO_DTYPE_F32, DIO_DTYPE_F16, DIO_DTYPE_BF16};
    dio_context *ctx = NULL;
    dio_backend *be = NULL;
    int rc = 1;
    if (open_context(o, &ctx)) return 1;
    if (open_backend(o, ctx, &be)) goto done;
    printf("backend %s\n%-18s %-6s %-6s %-6s\n", dio_backend_name(be), "op", "f32", "f16", "bf16");
    for (int32_t op = 0; op < DIO_OP_COUNT_1_0; op++) {
        char reasons[3][256];
        printf("%-18s", dio_op_name(op));
        for (int i = 0; i < 3; i++) {
            dio_status st = dio_backend_probe_op(be, op, dtypes[i]);
            printf(" %-6s", st == DIO_OK ? "yes" : st == DIO_ERR_NOT_SUPPORTED ? "-" : "error");
            snprintf(reasons[i], sizeof(reasons[i]), "%s", st == DIO_OK ? "" : dio_last_error());
        }
        printf("\n");
        for (int i = 0; i < 3; i++)
            if (reasons[i][0] && o->args[0] && strcmp(o->args[0], "--why") == 0)
                printf("    %s: %s\n", dio_dtype_name(dtypes[i]), reasons[i]);
    }
    rc = 0;
done:
    dio_backend_close(be);
    dio_context_destroy(ctx);
    return rc;
}

static const char *param_type_name(int32_t t)
{
    switch (t) {
    case DIO_PARAM_INT: return "int";
    case DIO_PARAM_FLOAT: return "float";
    case DIO_PARAM_BOOL: return "bool";
    case DIO_PARAM_STRING: return "string";
    case DIO_PARAM_ENUM: return "enum";
    default: return "?";
    }
}

static int cmd_component_info(const cli_options *o, const char *name)
{
    dio_context *ctx = NULL;
    const dio_plugin_descriptor *d = NULL;
    const dio_component_iface *c;
    if (open_context(o, &ctx)) return 1;
    if (dio_context_find(ctx, DIO_PLUGIN_COMPONENT, name, &d) != DIO_OK) {
        dio_context_destroy(ctx);
        return fail("component info");
    }
    c = d->component;
    printf("component %s %s — %s\n", d->name, d->version ? d->version : "",
           d->description ? d->description : "");
    for (int32_t i = 0; i < c->n_inputs; i++)
        printf("  input  %-20s %-6s %s%s  %s\n", c->inputs[i].name,
               c->inputs[i].dtype >= 0 ? dio_dtype_name(c->inputs[i].dtype) : "float",
               c->inputs[i].shape ? c->inputs[i].shape : "", c->inputs[i].optional ? " (optional)" : "",
               c->inputs[i].doc ? c->inputs[i].doc : "");
    for (int32_t i = 0; i < c->n_outputs; i++)
        printf("  output %-20s %-6s %s  %s\n", c->outputs[i].name,
               c->outputs[i].dtype >= 0 ? dio_dtype_name(c->outputs[i].dtype) : "float",
               c->outputs[i].shape ? c->outputs[i].shape : "", c->outputs[i].doc ? c->outputs[i].doc : "");
    for (int32_t i = 0; i < c->n_params; i++)
        printf("  param  %-20s %-6s default %s  %s\n", c->params[i].name, param_type_name(c->params[i].type),
               c->params[i].default_value ? c->params[i].default_value : "-",
               c->params[i].doc ? c->params[i].doc : "");
    dio_context_destroy(ctx);
    return 0;
}

/* Turns a JSON object into key/value strings. Strings stay as they are; numbers print exactly. */
static int parse_params(const char *json, dio_kv **out_kv, size_t *out_n, char ***out_strings)
{
    cJSON *root = NULL, *it;
    dio_kv *kv = NULL;
    char **strings = NULL;
    size_t n = 0, k = 0;
    int rc = 1;
    *out_kv = NULL;
    *out_n = 0;
    *out_strings = NULL;
    if (!json) return 0;
    root = cJSON_Parse(json);
    if (!root || !cJSON_IsObject(root)) {
        fprintf(stderr, "diorama: --params: not a JSON object: %s\n", json);
        goto done;
    }
    n = (size_t)cJSON_GetArraySize(root);
    kv = calloc(n ? n : 1, sizeof(*kv));
    strings = calloc(2 * n + 1, sizeof(*strings));
    if (!kv || !strings) goto done;
    cJSON_ArrayForEach(it, root)
    {
        char buf[64];
        const char *v = NULL;
        if (cJSON_IsString(it))
            v = it->valuestring;
        else if (cJSON_IsBool(it))
            v = cJSON_IsTrue(it) ? "true" : "false";
        else if (cJSON_IsNumber(it)) {
            double d = it->valuedouble;
            if (d == (double)(long long)d && d > -9e15 && d < 9e15)
                snprintf(buf, sizeof(buf), "%lld", (long long)d);
            else
                snprintf(buf, sizeof(buf), "%.17g", d);
            v = buf;
        } else {
            fprintf(stderr, "diorama: --params: \"%s\" must be a string, number or boolean\n", it->string);
            goto done;
        }
        strings[2 * k] = strdup(it->string);
        strings[2 * k + 1] = strdup(v);
        if (!strings[2 * k] || !strings[2 * k + 1]) goto done;
        kv[k].key = strings[2 * k];
        kv[k].value = strings[2 * k + 1];
        k++;
    }
    *out_kv = kv;
    *out_n = k;
    *out_strings = strings;
    kv = NULL;
    strings = NULL;
    rc = 0;
done:
    if (strings)
        for (size_t i = 0; i < 2 * n; i++) free(strings[i]);
    free(strings);
    free(kv);
    cJSON_Delete(root);
    return rc;
}

static void free_params(dio_kv *kv, size_t n, char **strings)
{
    if (strings)
        for (size_t i = 0; i < 2 * n; i++) free(strings[i]);
    free(strings);
    free(kv);
}

/* Places a host tensor on the backend: zero-copy on host-memory devices, a copy elsewhere. */
static dio_status place_tensor(const dio_backend_ref *be, const dio_weight_info *w, dio_tensor *t,
                               dio_buffer **buf)
{
    dio_status st = dio_backend_place_host(be, w->data, w->nbytes, dio_dtype_size(w->dtype), buf);
    if (st != DIO_OK) return st;
    dio_tensor_init(t, w->dtype, w->ndim, w->shape, *buf, 0);
    return DIO_OK;
}

static int cmd_component_run(const cli_options *o, const char *name)
{
    dio_context *ctx = NULL;
    dio_backend *be = NULL;
    dio_weights *weights = NULL, *inputs_file = NULL;
    dio_component *comp = NULL;
    dio_kv *params = NULL;
    char **param_strings = NULL;
    size_t n_params = 0;
    const dio_component_iface *ci;
    dio_backend_ref ref = {0};
    dio_tensor *in_t = NULL, *out_t = NULL;
    const dio_tensor **in_p = NULL, **out_p = NULL;
    dio_buffer **in_buf = NULL, **out_buf = NULL;
    void **out_host = NULL;
    dio_named_tensor *named = NULL;
    int rc = 1;
    int32_t n_in = 0, n_out = 0;

    if (!o->inputs || !o->outputs) {
        fprintf(stderr, "diorama: component run needs --inputs and --outputs\n");
        return 2;
    }
    if (parse_params(o->params, &params, &n_params, &param_strings)) return 2;
    if (open_context(o, &ctx)) goto done;
    if (open_backend(o, ctx, &be)) goto done;
    if (o->weights && dio_weights_open(o->weights, &weights) != DIO_OK) {
        rc = fail("cannot open the weights");
        goto done;
    }
    if (dio_weights_open(o->inputs, &inputs_file) != DIO_OK) {
        rc = fail("cannot open the inputs");
        goto done;
    }
    if (dio_component_create(ctx, be, name, weights, params, n_params, &comp) != DIO_OK) {
        rc = fail("cannot create the component");
        goto done;
    }
    ci = dio_component_get_iface(comp);
    ref = dio_backend_get_ref(be, 0);
    n_in = ci->n_inputs;
    n_out = ci->n_outputs;
    in_t = calloc((size_t)n_in + 1, sizeof(*in_t));
    in_p = calloc((size_t)n_in + 1, sizeof(*in_p));
    in_buf = calloc((size_t)n_in + 1, sizeof(*in_buf));
    out_t = calloc((size_t)n_out + 1, sizeof(*out_t));
    out_p = calloc((size_t)n_out + 1, sizeof(*out_p));
    out_buf = calloc((size_t)n_out + 1, sizeof(*out_buf));
    out_host = calloc((size_t)n_out + 1, sizeof(*out_host));
    named = calloc((size_t)n_out + 1, sizeof(*named));
    if (!in_t || !in_p || !in_buf || !out_t || !out_p || !out_buf || !out_host || !named) {
        fprintf(stderr, "diorama: out of memory\n");
        goto done;
    }
    for (int32_t i = 0; i < n_in; i++) {
        dio_weight_info w;
        w.struct_size = sizeof(w);
        if (dio_weights_find(inputs_file, ci->inputs[i].name, &w) != DIO_OK) {
            if (ci->inputs[i].optional) continue;
            fprintf(stderr, "diorama: %s has no tensor \"%s\" for the required input of component %s\n",
                    o->inputs, ci->inputs[i].name, name);
            goto done;
        }
        if (place_tensor(&ref, &w, &in_t[i], &in_buf[i]) != DIO_OK) {
            rc = fail("cannot place an input on the backend");
            goto done;
        }
        in_p[i] = &in_t[i];
    }
    if (dio_component_output_shapes(comp, in_p, out_t) != DIO_OK) {
        rc = fail("output shapes");
        goto done;
    }
    for (int32_t i = 0; i < n_out; i++) {
        uint64_t bytes = (uint64_t)dio_tensor_numel(&out_t[i]) * dio_dtype_size(out_t[i].dtype);
        if (ref.iface->buffer_alloc(ref.ctx, 0, bytes, &out_buf[i]) != DIO_OK) {
            out_buf[i] = NULL;
            rc = fail("cannot allocate an output");
            goto done;
        }
        dio_tensor_init(&out_t[i], out_t[i].dtype, out_t[i].ndim, out_t[i].shape, out_buf[i], 0);
        out_p[i] = &out_t[i];
        if (!(out_host[i] = malloc(bytes ? (size_t)bytes : 1))) {
            fprintf(stderr, "diorama: out of memory for output %s\n", ci->outputs[i].name);
            goto done;
        }
    }
    if (dio_component_run(comp, in_p, out_p) != DIO_OK) {
        rc = fail("run");
        goto done;
    }
    for (int32_t i = 0; i < n_out; i++) {
        uint64_t bytes = (uint64_t)dio_tensor_numel(&out_t[i]) * dio_dtype_size(out_t[i].dtype);
        if (ref.iface->buffer_download(ref.ctx, dio_backend_default_stream(be), out_buf[i], 0, out_host[i],
                                       bytes) != DIO_OK) {
            rc = fail("cannot read an output back");
            goto done;
        }
        named[i].name = ci->outputs[i].name;
        named[i].dtype = out_t[i].dtype;
        named[i].ndim = out_t[i].ndim;
        memcpy(named[i].shape, out_t[i].shape, sizeof(named[i].shape));
        named[i].data = out_host[i];
    }
    if (ref.iface->stream_sync(ref.ctx, dio_backend_default_stream(be)) != DIO_OK) {
        rc = fail("stream sync");
        goto done;
    }
    if (dio_safetensors_write(o->outputs, named, (size_t)n_out, NULL, 0) != DIO_OK) {
        rc = fail("cannot write the outputs");
        goto done;
    }
    rc = 0;
done:
    for (int32_t i = 0; out_buf && i < n_out; i++) ref.iface->buffer_free(ref.ctx, out_buf[i]);
    for (int32_t i = 0; in_buf && i < n_in; i++) ref.iface->buffer_free(ref.ctx, in_buf[i]);
    for (int32_t i = 0; out_host && i < n_out; i++) free(out_host[i]);
    free(in_t), free(in_p), free(in_buf), free(out_t), free(out_p), free(out_buf), free(out_host),
        free(named);
    dio_component_destroy(comp);
    dio_weights_close(inputs_file);
    dio_weights_close(weights);
    dio_backend_close(be);
    dio_context_destroy(ctx);
    free_params(params, n_params, param_strings);
    return rc;
}

int main(int argc, char **argv)
{
    cli_options o;
    memset(&o, 0, sizeof(o));
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = NULL;
        if (strcmp(a, "--version") == 0) {
            printf("diorama %s (ABI %u.%u, accepts plugins of ABI %u.%u to %u.%u)\n", DIO_VERSION_STRING,
                   DIO_ABI_VERSION_MAJOR, DIO_ABI_VERSION_MINOR, DIO_ABI_MAJOR(DIO_ABI_VERSION_MIN),
                   DIO_ABI_MINOR(DIO_ABI_VERSION_MIN), DIO_ABI_VERSION_MAJOR, DIO_ABI_VERSION_MINOR);
            return 0;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "-v") == 0) {
            dio_log_set_level(DIO_LOG_INFO);
            continue;
        }
        if (strcmp(a, "--backend") == 0)
            slot = &o.backend;
        else if (strcmp(a, "--threads") == 0)
            slot = &o.threads;
        else if (strcmp(a, "--weights") == 0)
            slot = &o.weights;
        else if (strcmp(a, "--params") == 0)
            slot = &o.params;
        else if (strcmp(a, "--inputs") == 0)
            slot = &o.inputs;
        else if (strcmp(a, "--outputs") == 0)
            slot = &o.outputs;
        else if (strcmp(a, "--plugin-dir") == 0) {
            if (i + 1 >= argc || o.n_plugin_dirs == MAX_PLUGIN_DIRS) {
                usage(stderr);
                return 2;
            }
            o.plugin_dirs[o.n_plugin_dirs++] = argv[++i];
            continue;
        }
        if (slot) {
            if (i + 1 >= argc) {
                fprintf(stderr, "diorama: %s needs a value\n", a);
                return 2;
            }
            *slot = argv[++i];
            continue;
        }
        if (o.n_args == (int)(sizeof(o.args) / sizeof(o.args[0]))) {
            usage(stderr);
            return 2;
        }
        o.args[o.n_args++] = a;
    }
    if (o.n_args == 0) {
        usage(stderr);
        return 2;
    }
    if (strcmp(o.args[0], "plugins") == 0) return cmd_plugins(&o);
    if (strcmp(o.args[0], "ops") == 0) {
        o.args[0] = o.n_args > 1 ? o.args[1] : NULL;
        return cmd_ops(&o);
    }
    if (strcmp(o.args[0], "component") == 0 && o.n_args == 3) {
        if (strcmp(o.args[1], "run") == 0) return cmd_component_run(&o, o.args[2]);
        if (strcmp(o.args[1], "info") == 0) return cmd_component_info(&o, o.args[2]);
    }
    fprintf(stderr, "diorama: unknown command\n");
    usage(stderr);
    return 2;
}

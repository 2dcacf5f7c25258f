/* diorama — the command line.
 *
 *   diorama --version
 *   diorama plugins                      what was found, where, its ABI range, and why anything was refused
 *   diorama ops [--backend NAME]         the op × dtype support matrix of a backend
 *   diorama component info NAME          a component's ports and parameters
 *   diorama component run NAME [--weights W] [--params JSON] --inputs IN.safetensors --outputs
 * OUT.safetensors
 *   diorama encode-prompt --text-encoder W --tokenizer DIR (--prompt TEXT | --negative) --output OUT
 *                        [--max-length N] [--no-template] [--no-cache]
 *                                        qwen-tokenizer then qwen-text-encoder, through the on-disk
 *                                        embedding cache of libdiorama (dio_cache_*)
 *
 * Global options (any position): --backend NAME, --plugin-dir DIR (repeatable), --threads N, -v.
 * The CLI is a thin layer over libdiorama: every failure is printed from dio_last_error() and turned
 * into exit status 1 (2 for usage errors). Outputs are written atomically by dio_safetensors_write. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "diorama/diorama.h"

#define MAX_PLUGIN_DIRS 16

typedef struct cli_options {
    const char *backend;
    const char *plugin_dirs[MAX_PLUGIN_DIRS];
    size_t n_plugin_dirs;
    const char *threads;
    const char *weights, *params, *inputs, *outputs;
    const char *text_encoder, *tokenizer, *prompt, *output, *max_length;
    int negative, no_template, no_cache;
    const char *args[8]; /* positional */
    int n_args;
} cli_options;

static void usage(FILE *f)
{
    fprintf(f, "usage: diorama [--backend NAME] [--plugin-dir DIR]... [--threads N] [-v] COMMAND\n"
               "commands:\n"
               "  --version                      product and ABI versions\n"
               "  plugins                        plugins found, where, ABI ranges, refusals and why; each\n"
               "                                 backend's devices, or why it has none\n"
               "  ops                            the op support matrix of --backend (default: cpu)\n"
               "  component info NAME            ports and parameters of a component\n"
               "  component run NAME --inputs IN.safetensors --outputs OUT.safetensors\n"
               "                 [--weights FILE|DIR] [--params JSON]\n"
               "  encode-prompt --text-encoder FILE|DIR --tokenizer DIR (--prompt TEXT | --negative)\n"
               "                --output OUT.safetensors [--max-length N(512)] [--no-template] [--no-cache]\n"
               "environment: DIORAMA_PLUGIN_PATH, DIORAMA_BACKEND, DIORAMA_DEBUG=1, DIORAMA_LOG=level,\n"
               "             DIORAMA_CACHE_DIR (else $XDG_CACHE_HOME/diorama, else ~/.cache/diorama)\n");
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

/* Under a backend's entry in `diorama plugins`: its devices, or why it has none (opening it is cheap and
 * is the only way to know: a GPU plugin loads on any machine and finds out at create()). */
static void print_backend_devices(dio_context *ctx, const char *name)
{
    dio_backend *be = NULL;
    dio_backend_ref ref;
    int32_t n;
    if (dio_backend_open(ctx, name, NULL, 0, &be) != DIO_OK) {
        printf("           devices: none: %s\n", dio_last_error());
        return;
    }
    ref = dio_backend_get_ref(be, 0);
    n = ref.iface ? ref.iface->device_count(ref.ctx) : 0;
    for (int32_t d = 0; d < n; d++) {
        dio_device_props props;
        memset(&props, 0, sizeof(props));
        props.struct_size = sizeof(props);
        if (ref.iface->device_props(ref.ctx, d, &props) != DIO_OK) continue;
        printf("           device %d: %s, %d compute units, %.1f GiB\n", d, props.name, props.compute_units,
               (double)props.total_memory / (1024.0 * 1024.0 * 1024.0));
    }
    dio_backend_close(be);
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
            if (info.kind == DIO_PLUGIN_BACKEND) print_backend_devices(ctx, info.name);
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

/* ---- encode-prompt ---- */

/* The pipeline's DEFAULT_NEGATIVE_PROMPT (Cosmos-Predict2.5), used by --negative. */
static const char cosmos_negative_prompt[] =
    "The video captures a series of frames showing ugly scenes, static with no motion, motion blur, "
    "over-saturation, shaky footage, low resolution, grainy texture, pixelated images, poorly lit areas, "
    "underexposed and overexposed scenes, poor color balance, washed out colors, choppy sequences, jerky "
    "movements, low frame rate, artifacting, color banding, unnatural transitions, outdated special effects, "
    "fake elements, unconvincing visuals, poorly edited content, jump cuts, visual noise, and flickering. "
    "Overall, the video is of poor quality.";

/* The encoder's params from the config.json beside the weights (W/config.json for a folder, else the file's
 * folder): num_attention_heads, rope_theta and rms_norm_eps, top level (released, flat) or under text_config
 * (transformers v5, rope_theta possibly in rope_parameters). Missing file or keys: the component defaults. */
typedef struct enc_params {
    char heads[32], theta[48], eps[48];
    dio_kv kv[3];
    size_t n;
} enc_params;

static const cJSON *num_in(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v : NULL;
}

static void read_encoder_config(const char *weights, enc_params *ep)
{
    char path[4096];
    FILE *f = NULL;
    char *text = NULL;
    cJSON *root = NULL;
    const cJSON *tc, *v;
    struct stat sb;
    long sz;
    memset(ep, 0, sizeof(*ep));
    const char *slash = strrchr(weights, '/');
    if (stat(weights, &sb) == 0 && S_ISDIR(sb.st_mode))
        snprintf(path, sizeof(path), "%s/config.json", weights);
    else if (slash)
        snprintf(path, sizeof(path), "%.*s/config.json", (int)(slash - weights), weights);
    else
        snprintf(path, sizeof(path), "config.json");
    if (!(f = fopen(path, "rb")) || fseek(f, 0, SEEK_END) || (sz = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET) ||
        !(text = malloc((size_t)sz + 1)) || fread(text, 1, (size_t)sz, f) != (size_t)sz)
        goto done;
    text[sz] = 0;
    if (!(root = cJSON_Parse(text))) goto done;
    tc = cJSON_GetObjectItemCaseSensitive(root, "text_config");
    if ((v = num_in(root, "num_attention_heads")) || (tc && (v = num_in(tc, "num_attention_heads"))))
        snprintf(ep->heads, sizeof(ep->heads), "%d", v->valueint);
    if ((v = num_in(root, "rope_theta")) || (tc && (v = num_in(tc, "rope_theta"))) ||
        (tc && (v = num_in(cJSON_GetObjectItemCaseSensitive(tc, "rope_parameters"), "rope_theta"))))
        snprintf(ep->theta, sizeof(ep->theta), "%.17g", v->valuedouble);
    if ((v = num_in(root, "rms_norm_eps")) || (tc && (v = num_in(tc, "rms_norm_eps"))))
        snprintf(ep->eps, sizeof(ep->eps), "%.17g", v->valuedouble);
done:
    if (ep->heads[0]) ep->kv[ep->n++] = (dio_kv){"num_heads", ep->heads};
    if (ep->theta[0]) ep->kv[ep->n++] = (dio_kv){"rope_theta", ep->theta};
    if (ep->eps[0]) ep->kv[ep->n++] = (dio_kv){"rms_norm_eps", ep->eps};
    cJSON_Delete(root);
    free(text);
    if (f) fclose(f);
}

/* Allocates each output of `comp` as output_shapes says, on device 0. */
static int alloc_outputs(dio_component *comp, const dio_backend_ref *ref, const dio_tensor *const *in,
                         dio_tensor *out, dio_buffer **buf, int32_t n)
{
    if (dio_component_output_shapes(comp, in, out) != DIO_OK) return fail("output shapes");
    for (int32_t i = 0; i < n; i++) {
        uint64_t bytes = (uint64_t)dio_tensor_numel(&out[i]) * dio_dtype_size(out[i].dtype);
        if (ref->iface->buffer_alloc(ref->ctx, 0, bytes ? bytes : 1, &buf[i]) != DIO_OK) {
            buf[i] = NULL;
            return fail("cannot allocate an output");
        }
        dio_tensor_init(&out[i], out[i].dtype, out[i].ndim, out[i].shape, buf[i], 0);
    }
    return 0;
}

static int download(const dio_backend_ref *ref, dio_backend *be, const dio_tensor *t, void **host)
{
    uint64_t bytes = (uint64_t)dio_tensor_numel(t) * dio_dtype_size(t->dtype);
    if (!(*host = malloc(bytes ? (size_t)bytes : 1))) {
        fprintf(stderr, "diorama: out of memory\n");
        return 1;
    }
    if (ref->iface->buffer_download(ref->ctx, dio_backend_default_stream(be), t->buffer, t->offset, *host,
                                    bytes) != DIO_OK ||
        ref->iface->stream_sync(ref->ctx, dio_backend_default_stream(be)) != DIO_OK)
        return fail("cannot read a tensor back");
    return 0;
}

static void named_from(dio_named_tensor *n, const char *name, const dio_tensor *t, const void *data)
{
    n->name = name;
    n->dtype = t->dtype;
    n->ndim = t->ndim;
    memcpy(n->shape, t->shape, sizeof(n->shape));
    n->data = data;
}

/* Copies a cache entry to `output` (a fresh atomic write, so the cache file is never exposed to edits). */
static int copy_entry(const char *entry, const char *output)
{
    dio_weights *w = NULL;
    dio_named_tensor named[8];
    dio_kv meta[4];
    static const char *const keys[] = {"prompt", "max_length", "template", "cache_key"};
    size_t n = 0, nm = 0;
    int rc = 1;
    if (dio_weights_open(entry, &w) != DIO_OK) {
        rc = fail("cannot read the cache entry");
        goto done;
    }
    for (int64_t i = 0; i < dio_weights_count(w) && n < 8; i++) {
        const char *name;
        dio_weight_info info;
        info.struct_size = sizeof(info);
        if (dio_weights_at(w, i, &name, &info) != DIO_OK) {
            rc = fail("cannot read the cache entry");
            goto done;
        }
        named[n].name = name;
        named[n].dtype = info.dtype;
        named[n].ndim = info.ndim;
        memcpy(named[n].shape, info.shape, sizeof(named[n].shape));
        named[n].data = info.data;
        n++;
    }
    for (size_t i = 0; i < 4; i++) {
        const char *v = dio_weights_metadata(w, keys[i]);
        if (v) meta[nm++] = (dio_kv){keys[i], v};
    }
    if (dio_safetensors_write(output, named, n, meta, nm) != DIO_OK) {
        rc = fail("cannot write the output");
        goto done;
    }
    rc = 0;
done:
    dio_weights_close(w);
    return rc;
}

static int cmd_encode_prompt(const cli_options *o)
{
    dio_context *ctx = NULL;
    dio_backend *be = NULL;
    dio_weights *weights = NULL;
    dio_component *tok = NULL, *enc = NULL;
    dio_backend_ref ref = {0};
    dio_buffer *text_buf = NULL, *len_buf = NULL, *tok_buf[2] = {NULL, NULL}, *emb_buf = NULL;
    dio_tensor text_t, len_t, tok_out[2], emb_t;
    void *h_ids = NULL, *h_mask = NULL, *h_emb = NULL;
    enc_params ep;
    dio_cache_key key;
    char hex[65], entry[4096];
    int rc = 1, use_cache = !o->no_cache;
    const char *prompt = o->negative ? cosmos_negative_prompt : o->prompt;
    const char *max_length = o->max_length ? o->max_length : "512";
    const char *templ = o->no_template ? "false" : "true";

    if (!o->text_encoder || !o->tokenizer || !o->output || !prompt || (o->negative && o->prompt)) {
        fprintf(stderr, "diorama: encode-prompt needs --text-encoder, --tokenizer, --output and one of "
                        "--prompt TEXT or --negative\n");
        return 2;
    }
    size_t plen = strlen(prompt);
    read_encoder_config(o->text_encoder, &ep);
    if (use_cache) {
        /* (model identity, tokenizer identity, prompt, template, max_length, encoder params) */
        dio_cache_key_init(&key);
        dio_cache_key_add_str(&key, "encode-prompt/qwen-text-encoder/v1");
        if (dio_cache_key_add_file(&key, o->text_encoder) != DIO_OK) {
            rc = fail("cannot read the text encoder");
            goto done;
        }
        if (dio_cache_key_add_file(&key, o->tokenizer) != DIO_OK) {
            rc = fail("cannot read the tokenizer folder");
            goto done;
        }
        dio_cache_key_add(&key, prompt, plen);
        dio_cache_key_add_str(&key, templ);
        dio_cache_key_add_str(&key, max_length);
        for (size_t i = 0; i < ep.n; i++) {
            dio_cache_key_add_str(&key, ep.kv[i].key);
            dio_cache_key_add_str(&key, ep.kv[i].value);
        }
        dio_cache_key_hex(&key, hex);
        if (dio_cache_lookup("prompt-embeddings", hex, entry, sizeof(entry)) == DIO_OK) {
            dio_log(DIO_LOG_INFO, "encode-prompt", "cache hit %s", entry);
            rc = copy_entry(entry, o->output);
            goto done;
        }
        dio_clear_error();
        dio_log(DIO_LOG_INFO, "encode-prompt", "cache miss (key %s)", hex);
    }
    if (open_context(o, &ctx) || open_backend(o, ctx, &be)) goto done;
    ref = dio_backend_get_ref(be, 0);
    {
        dio_kv kv[3] = {{"tokenizer_dir", o->tokenizer}, {"max_length", max_length}, {"template", templ}};
        if (dio_component_create(ctx, be, "qwen-tokenizer", NULL, kv, 3, &tok) != DIO_OK) {
            rc = fail("cannot create the tokenizer");
            goto done;
        }
    }
    {
        int64_t n = (int64_t)plen, shape[2] = {1, n ? n : 1}, one = 1;
        if (ref.iface->buffer_alloc(ref.ctx, 0, (uint64_t)shape[1], &text_buf) != DIO_OK ||
            ref.iface->buffer_alloc(ref.ctx, 0, 8, &len_buf) != DIO_OK ||
            ref.iface->buffer_upload(ref.ctx, NULL, len_buf, 0, &n, 8) != DIO_OK ||
            (n && ref.iface->buffer_upload(ref.ctx, NULL, text_buf, 0, prompt, (uint64_t)n) != DIO_OK)) {
            rc = fail("cannot place the prompt on the backend");
            goto done;
        }
        dio_tensor_init(&text_t, DIO_DTYPE_U8, 2, shape, text_buf, 0);
        dio_tensor_init(&len_t, DIO_DTYPE_I64, 1, &one, len_buf, 0);
    }
    const dio_tensor *tok_in[2] = {&text_t, &len_t};
    const dio_tensor *tok_outp[2] = {&tok_out[0], &tok_out[1]};
    if (alloc_outputs(tok, &ref, tok_in, tok_out, tok_buf, 2)) goto done;
    if (dio_component_run(tok, tok_in, tok_outp) != DIO_OK) {
        rc = fail("cannot tokenize the prompt");
        goto done;
    }
    dio_component_destroy(tok);
    tok = NULL;
    dio_log(DIO_LOG_INFO, "encode-prompt", "loading the text encoder from %s", o->text_encoder);
    if (dio_weights_open(o->text_encoder, &weights) != DIO_OK) {
        rc = fail("cannot open the text encoder");
        goto done;
    }
    if (dio_component_create(ctx, be, "qwen-text-encoder", weights, ep.kv, ep.n, &enc) != DIO_OK) {
        rc = fail("cannot create the text encoder");
        goto done;
    }
    const dio_tensor *enc_in[1] = {&tok_out[0]};
    const dio_tensor *enc_outp[1] = {&emb_t};
    if (alloc_outputs(enc, &ref, enc_in, &emb_t, &emb_buf, 1)) goto done;
    if (dio_component_run(enc, enc_in, enc_outp) != DIO_OK) {
        rc = fail("cannot encode the prompt");
        goto done;
    }
    if (download(&ref, be, &emb_t, &h_emb) || download(&ref, be, &tok_out[0], &h_ids) ||
        download(&ref, be, &tok_out[1], &h_mask))
        goto done;
    {
        dio_named_tensor named[3];
        named_from(&named[0], "embeddings", &emb_t, h_emb);
        named_from(&named[1], "input_ids", &tok_out[0], h_ids);
        named_from(&named[2], "attention_mask", &tok_out[1], h_mask);
        dio_kv meta[4] = {{"prompt", prompt},
                          {"max_length", max_length},
                          {"template", templ},
                          {"cache_key", use_cache ? hex : ""}};
        if (use_cache && dio_cache_store("prompt-embeddings", hex, named, 3, meta, 4) != DIO_OK)
            dio_log(DIO_LOG_WARN, "encode-prompt", "cannot store the embedding in the cache: %s",
                    dio_last_error());
        else if (use_cache)
            dio_log(DIO_LOG_INFO, "encode-prompt", "stored in the cache as %s", hex);
        if (dio_safetensors_write(o->output, named, 3, meta, 4) != DIO_OK) {
            rc = fail("cannot write the output");
            goto done;
        }
    }
    rc = 0;
done:
    if (emb_buf) ref.iface->buffer_free(ref.ctx, emb_buf);
    for (int i = 0; i < 2; i++)
        if (tok_buf[i]) ref.iface->buffer_free(ref.ctx, tok_buf[i]);
    if (text_buf) ref.iface->buffer_free(ref.ctx, text_buf);
    if (len_buf) ref.iface->buffer_free(ref.ctx, len_buf);
    free(h_ids), free(h_mask), free(h_emb);
    dio_component_destroy(enc);
    dio_component_destroy(tok);
    dio_weights_close(weights);
    dio_backend_close(be);
    dio_context_destroy(ctx);
    return rc;
}

/* The command word: the first argument that is neither a global option nor a global option's value. */
static const char *command_word(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--backend") == 0 || strcmp(a, "--plugin-dir") == 0 || strcmp(a, "--threads") == 0 ||
            strcmp(a, "-t") == 0) {
            i++;
            continue;
        }
        if (strcmp(a, "-v") == 0) continue;
        return a;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    cli_options o;
    memset(&o, 0, sizeof(o));
    const char *word = command_word(argc, argv);
    if (word && strcmp(word, "generate") == 0) return cli_generate(argc, argv);
    if (word && strcmp(word, "info") == 0) return cli_info(argc, argv);
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
        else if (strcmp(a, "--text-encoder") == 0)
            slot = &o.text_encoder;
        else if (strcmp(a, "--tokenizer") == 0)
            slot = &o.tokenizer;
        else if (strcmp(a, "--prompt") == 0)
            slot = &o.prompt;
        else if (strcmp(a, "--output") == 0)
            slot = &o.output;
        else if (strcmp(a, "--max-length") == 0)
            slot = &o.max_length;
        else if (strcmp(a, "--negative") == 0) {
            o.negative = 1;
            continue;
        } else if (strcmp(a, "--no-template") == 0) {
            o.no_template = 1;
            continue;
        } else if (strcmp(a, "--no-cache") == 0) {
            o.no_cache = 1;
            continue;
        } else if (strcmp(a, "--plugin-dir") == 0) {
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
    if (strcmp(o.args[0], "encode-prompt") == 0 && o.n_args == 1) return cmd_encode_prompt(&o);
    if (strcmp(o.args[0], "component") == 0 && o.n_args == 3) {
        if (strcmp(o.args[1], "run") == 0) return cmd_component_run(&o, o.args[2]);
        if (strcmp(o.args[1], "info") == 0) return cmd_component_info(&o, o.args[2]);
    }
    fprintf(stderr, "diorama: unknown command\n");
    usage(stderr);
    return 2;
}

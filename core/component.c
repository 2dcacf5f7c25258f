/* libdiorama — components: parameter validation, creation on a backend from a weight source, run.
 *
 * Parameters are validated here, against the plugin's own descriptors, before create() sees them, so
 * every component (ours or a third party's) gets the same clear errors for a wrong key, type or range,
 * and a component may trust what reaches it. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "context_internal.h"

struct dio_component {
    dio_context *ctx;
    const dio_component_iface *iface;
    void *self;
    dio_backend *backend;
    dio_backend_ref ref;
    char name[64];
};

static int parse_double(const char *s, double *out)
{
    char *end = NULL;
    double v;
    errno = 0;
    v = strtod(s, &end);
    if (!s[0] || *end || errno == ERANGE || isnan(v)) return 0;
    *out = v;
    return 1;
}

static int parse_int(const char *s, double *out)
{
    char *end = NULL;
    long long v;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (!s[0] || *end || errno == ERANGE) return 0;
    *out = (double)v;
    return 1;
}

static int in_choices(const char *choices, const char *v)
{
    size_t n = strlen(v);
    const char *p = choices;
    while (p && *p) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, v, n) == 0) return 1;
        p = bar ? bar + 1 : NULL;
    }
    return 0;
}

dio_status dio_params_validate(const char *who, const dio_param_desc *descs, int32_t n_descs,
                               const dio_kv *params, size_t n_params)
{
    for (size_t i = 0; i < n_params; i++) {
        const dio_param_desc *d = NULL;
        const char *v = params[i].value;
        double x = 0;
        if (!params[i].key || !v)
            return dio_set_error(DIO_ERR_INVALID_ARGUMENT, "%s: parameter %zu has no key or value", who, i);
        for (size_t j = 0; j < i; j++)
            if (strcmp(params[j].key, params[i].key) == 0)
                return dio_set_error(DIO_ERR_INVALID_ARGUMENT, "%s: parameter \"%s\" given twice", who,
                                     params[i].key);
        for (int32_t j = 0; j < n_descs; j++)
            if (descs[j].name && strcmp(descs[j].name, params[i].key) == 0) d = &descs[j];
        if (!d) {
            char known[512];
            size_t k = 0;
            known[0] = 0;
            for (int32_t j = 0; j < n_descs && k < sizeof(known); j++)
                k += (size_t)snprintf(known + k, sizeof(known) - k, "%s%s", j ? ", " : "", descs[j].name);
            return dio_set_error(DIO_ERR_INVALID_ARGUMENT, "%s: unknown parameter \"%s\" (known: %s)", who,
                                 params[i].key, n_descs ? known : "none");
        }
        switch (d->type) {
        case DIO_PARAM_INT:
        case DIO_PARAM_FLOAT:
            if (!(d->type == DIO_PARAM_INT ? parse_int(v, &x) : parse_double(v, &x)))
                return dio_set_error(DIO_ERR_INVALID_ARGUMENT, "%s: parameter \"%s\" = \"%s\" is not %s", who,
                                     d->name, v, d->type == DIO_PARAM_INT ? "an integer" : "a number");
            if (d->min <= d->max && (x < d->min || x > d->max))
                return dio_set_error(DIO_ERR_INVALID_ARGUMENT,
                                     "%s: parameter \"%s\" = %s is outside [%g, %g]", who, d->name, v, d->min,
                                     d->max);
            break;
        case DIO_PARAM_BOOL:
            if (strcmp(v, "true") && strcmp(v, "false") && strcmp(v, "1") && strcmp(v, "0"))
                return dio_set_error(DIO_ERR_INVALID_ARGUMENT,
                                     "%s: parameter \"%s\" = \"%s\" is not true/false", who, d->name, v);
            break;
        case DIO_PARAM_ENUM:
            if (!in_choices(d->choices, v))
                return dio_set_error(DIO_ERR_INVALID_ARGUMENT,
                                     "%s: parameter \"%s\" = \"%s\" is not one of %s", who, d->name, v,
                                     d->choices ? d->choices : "(none)");
            break;
        default: break;
        }
    }
    return DIO_OK;
}

dio_status dio_component_create(dio_context *ctx, dio_backend *backend, const char *name,
                                const dio_weights *weights, const dio_kv *params, size_t n_params,
                                dio_component **out)
{
    const dio_plugin_descriptor *d = NULL;
    dio_component *c = NULL;
    dio_component_create_info info;
    dio_status st;
    if (!ctx || !backend || !name || !out || (n_params && !params))
        return dio_set_error(DIO_ERR_INVALID_ARGUMENT, "dio_component_create: NULL argument");
    if ((st = dio_context_find(ctx, DIO_PLUGIN_COMPONENT, name, &d)) != DIO_OK) return st;
    if ((st = dio_params_validate(name, d->component->params, d->component->n_params, params, n_params)) !=
        DIO_OK)
        return st;
    c = calloc(1, sizeof(*c));
    if (!c) return dio_set_error(DIO_ERR_OUT_OF_HOST_MEMORY, "out of memory creating component %s", name);
    c->ctx = ctx;
    c->iface = d->component;
    c->backend = backend;
    c->ref = dio_backend_get_ref(backend, 0);
    snprintf(c->name, sizeof(c->name), "%s", name);
    memset(&info, 0, sizeof(info));
    info.struct_size = sizeof(info);
    info.host = dio_host_services_get();
    info.backend = &c->ref;
    info.weights = weights ? dio_weights_source(weights) : NULL;
    info.params = params;
    info.n_params = n_params;
    dio_clear_error();
    st = c->iface->create(&info, &c->self);
    if (st != DIO_OK) {
        if (!dio_last_error()[0])
            dio_set_error(st, "component %s: create failed (%s)", name, dio_status_name(st));
        free(c);
        return st;
    }
    atomic_fetch_add(&ctx->live_objects, 1);
    *out = c;
    return DIO_OK;
}

void dio_component_destroy(dio_component *c)
{
    if (!c) return;
    c->iface->destroy(c->self);
    atomic_fetch_sub(&c->ctx->live_objects, 1);
    free(c);
}

const dio_component_iface *dio_component_get_iface(const dio_component *c)
{
    return c ? c->iface : NULL;
}

static dio_status check_inputs(const dio_component *c, const dio_tensor *const *inputs)
{
    for (int32_t i = 0; i < c->iface->n_inputs; i++) {
        const dio_port_desc *p = &c->iface->inputs[i];
        const dio_tensor *t = inputs ? inputs[i] : NULL;
        if (!t) {
            if (!p->optional)
                return dio_set_error(DIO_ERR_INVALID_ARGUMENT,
                                     "component %s: required input \"%s\" is missing", c->name, p->name);
            continue;
        }
        if (p->dtype >= 0 && t->dtype != p->dtype)
            return dio_set_error(DIO_ERR_INVALID_ARGUMENT, "component %s: input \"%s\" is %s, expected %s",
                                 c->name, p->name, dio_dtype_name(t->dtype), dio_dtype_name(p->dtype));
        if (p->ndim >= 0 && t->ndim != p->ndim)
            return dio_set_error(DIO_ERR_INVALID_ARGUMENT,
                                 "component %s: input \"%s\" has %d dims, expected %d (%s)", c->name, p->name,
                                 t->ndim, p->ndim, p->shape ? p->shape : "");
    }
    return DIO_OK;
}

dio_status dio_component_output_shapes(dio_component *c, const dio_tensor *const *inputs, dio_tensor *outputs)
{
    dio_status st;
    if (!c || !outputs)
        return dio_set_error(DIO_ERR_INVALID_ARGUMENT, "dio_component_output_shapes: NULL argument");
    if ((st = check_inputs(c, inputs)) != DIO_OK) return st;
    dio_clear_error();
    st = c->iface->output_shapes(c->self, inputs, outputs);
    if (st != DIO_OK && !dio_last_error()[0])
        dio_set_error(st, "component %s: output_shapes failed (%s)", c->name, dio_status_name(st));
    return st;
}

dio_status dio_component_run(dio_component *c, const dio_tensor *const *inputs,
                             const dio_tensor *const *outputs)
{
    dio_status st;
    if (!c || !outputs) return dio_set_error(DIO_ERR_INVALID_ARGUMENT, "dio_component_run: NULL argument");
    if ((st = check_inputs(c, inputs)) != DIO_OK) return st;
    dio_clear_error();
    st = c->iface->run(c->self, dio_backend_default_stream(c->backend), inputs, outputs);
    if (st != DIO_OK && !dio_last_error()[0])
        dio_set_error(st, "component %s: run failed (%s)", c->name, dio_status_name(st));
    return st;
}

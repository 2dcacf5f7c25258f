/* libdiorama — samplers by name: the host side of abi/diorama/sampler.h.
 *
 * dio_sampler_create finds the DIO_PLUGIN_SAMPLER plugin in the context, validates the params against
 * its descriptors (dio_params_validate, as for components) and creates the instance. The other calls
 * forward to the plugin's table and add what every caller needs: argument checks, a message when the
 * plugin fails without one, and the ABI 1.0 fallbacks — a table too short for initial_noise_scale (or
 * with it NULL) gives 1.0, and a plan whose struct_size stops before store2 is returned with store2
 * absent (store2_slot = -1). Plans are checked before they reach a runner: term counts within
 * DIO_SAMPLER_MAX_TERMS, known operands, history slots within DIO_SAMPLER_MAX_HISTORY. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "context_internal.h"

struct dio_sampler {
    dio_context *ctx;
    const dio_sampler_iface *iface;
    void *self;
    char name[64];
};

#define PLAN_SIZE_1_0 offsetof(dio_sampler_plan, store2_slot)
#define IFACE_HAS_NOISE_SCALE(s)                                                                             \
    ((s)->struct_size >= offsetof(dio_sampler_iface, initial_noise_scale) + sizeof(void *) &&                \
     (s)->initial_noise_scale)

dio_status dio_sampler_create(dio_context *ctx, const char *name, const dio_kv *params, size_t n_params,
                              dio_sampler **out)
{
    const dio_plugin_descriptor *d = NULL;
    dio_sampler *s = NULL;
    dio_sampler_create_info info;
    dio_status st;
    if (!ctx || !name || !out || (n_params && !params))
        return dio_set_error(DIO_ERR_INVALID_ARGUMENT, "dio_sampler_create: NULL argument");
    if ((st = dio_context_find(ctx, DIO_PLUGIN_SAMPLER, name, &d)) != DIO_OK) return st;
    if ((st = dio_params_validate(name, d->sampler->params, d->sampler->n_params, params, n_params)) !=
        DIO_OK)
        return st;
    s = calloc(1, sizeof(*s));
    if (!s) return dio_set_error(DIO_ERR_OUT_OF_HOST_MEMORY, "out of memory creating sampler %s", name);
    s->ctx = ctx;
    s->iface = d->sampler;
    snprintf(s->name, sizeof(s->name), "%s", name);
    memset(&info, 0, sizeof(info));
    info.struct_size = sizeof(info);
    info.host = dio_host_services_get();
    info.params = params;
    info.n_params = n_params;
    dio_clear_error();
    st = s->iface->create(&info, &s->self);
    if (st != DIO_OK) {
        if (!dio_last_error()[0])
            dio_set_error(st, "sampler %s: create failed (%s)", name, dio_status_name(st));
        goto fail;
    }
    atomic_fetch_add(&ctx->live_objects, 1);
    *out = s;
    return DIO_OK;
fail:
    free(s);
    return st;
}

void dio_sampler_destroy(dio_sampler *s)
{
    if (!s) return;
    s->iface->destroy(s->self);
    atomic_fetch_sub(&s->ctx->live_objects, 1);
    free(s);
}

const dio_sampler_iface *dio_sampler_get_iface(const dio_sampler *s)
{
    return s ? s->iface : NULL;
}

int32_t dio_sampler_num_steps(dio_sampler *s, int32_t requested_steps)
{
    int32_t n;
    if (!s) {
        dio_set_error(DIO_ERR_INVALID_ARGUMENT, "dio_sampler_num_steps: NULL sampler");
        return 0;
    }
    if (requested_steps < 1) {
        dio_set_error(DIO_ERR_INVALID_ARGUMENT, "sampler %s: %d steps requested; at least 1 is needed",
                      s->name, requested_steps);
        return 0;
    }
    dio_clear_error();
    n = s->iface->num_steps(s->self, requested_steps);
    if (n < 1) {
        if (!dio_last_error()[0])
            dio_set_error(DIO_ERR_INVALID_ARGUMENT, "sampler %s: cannot run %d steps", s->name,
                          requested_steps);
        return 0;
    }
    return n;
}

dio_status dio_sampler_schedule(dio_sampler *s, int32_t n, double *sigmas, double *timesteps)
{
    dio_status st;
    if (!s || !sigmas || !timesteps)
        return dio_set_error(DIO_ERR_INVALID_ARGUMENT, "dio_sampler_schedule: NULL argument");
    if (n < 1) return dio_set_error(DIO_ERR_INVALID_ARGUMENT, "sampler %s: schedule of %d steps", s->name, n);
    dio_clear_error();
    st = s->iface->schedule(s->self, n, sigmas, timesteps);
    if (st != DIO_OK && !dio_last_error()[0])
        dio_set_error(st, "sampler %s: schedule of %d steps failed (%s)", s->name, n, dio_status_name(st));
    return st;
}

static dio_status check_terms(const dio_sampler *s, int32_t i, const char *what, int32_t n,
                              const dio_sampler_term *t)
{
    if (n < 0 || n > DIO_SAMPLER_MAX_TERMS)
        return dio_set_error(DIO_ERR_INTERNAL, "sampler %s: step %d: %s has %d terms (at most %d)", s->name,
                             i, what, n, DIO_SAMPLER_MAX_TERMS);
    for (int32_t k = 0; k < n; k++) {
        if (t[k].operand < DIO_SAMPLER_X || t[k].operand > DIO_SAMPLER_HISTORY)
            return dio_set_error(DIO_ERR_INTERNAL, "sampler %s: step %d: %s term %d has unknown operand %d",
                                 s->name, i, what, k, t[k].operand);
        if (t[k].operand == DIO_SAMPLER_HISTORY && (t[k].slot < 0 || t[k].slot >= DIO_SAMPLER_MAX_HISTORY))
            return dio_set_error(DIO_ERR_INTERNAL,
                                 "sampler %s: step %d: %s term %d reads history slot %d "
                                 "(slots are 0 ... %d)",
                                 s->name, i, what, k, t[k].slot, DIO_SAMPLER_MAX_HISTORY - 1);
        if (!isfinite(t[k].coef))
            return dio_set_error(DIO_ERR_INTERNAL, "sampler %s: step %d: %s term %d has coefficient %g",
                                 s->name, i, what, k, t[k].coef);
    }
    return DIO_OK;
}

static dio_status check_store(const dio_sampler *s, int32_t i, const char *what, int32_t slot, int32_t n,
                              const dio_sampler_term *t)
{
    if (slot < 0) return DIO_OK;
    if (slot >= DIO_SAMPLER_MAX_HISTORY)
        return dio_set_error(DIO_ERR_INTERNAL,
                             "sampler %s: step %d: %s writes history slot %d (slots are 0 ... %d)", s->name,
                             i, what, slot, DIO_SAMPLER_MAX_HISTORY - 1);
    return check_terms(s, i, what, n, t);
}

dio_status dio_sampler_step(dio_sampler *s, int32_t i, int32_t n, dio_sampler_plan *out)
{
    dio_sampler_plan p;
    dio_status st;
    if (!s || !out) return dio_set_error(DIO_ERR_INVALID_ARGUMENT, "dio_sampler_step: NULL argument");
    if (n < 1 || i < 0 || i >= n)
        return dio_set_error(DIO_ERR_INVALID_ARGUMENT, "sampler %s: step %d of %d does not exist", s->name, i,
                             n);
    memset(&p, 0, sizeof(p));
    p.struct_size = sizeof(p);
    p.store_slot = -1;
    p.store2_slot = -1;
    dio_clear_error();
    st = s->iface->step(s->self, i, n, &p);
    if (st != DIO_OK) {
        if (!dio_last_error()[0])
            dio_set_error(st, "sampler %s: step %d of %d failed (%s)", s->name, i, n, dio_status_name(st));
        return st;
    }
    if (p.struct_size <= PLAN_SIZE_1_0) { /* ABI 1.0: no second store */
        p.store2_slot = -1;
        p.n_store2_terms = 0;
    }
    if (p.store_slot < 0) p.n_store_terms = 0;
    if (p.store2_slot < 0) p.n_store2_terms = 0;
    if ((st = check_terms(s, i, "the next latent", p.n_terms, p.terms)) != DIO_OK ||
        (st = check_store(s, i, "the store", p.store_slot, p.n_store_terms, p.store_terms)) != DIO_OK ||
        (st = check_store(s, i, "the second store", p.store2_slot, p.n_store2_terms, p.store2_terms)) !=
            DIO_OK)
        return st;
    if (p.store_slot >= 0 && p.store_slot == p.store2_slot)
        return dio_set_error(DIO_ERR_INTERNAL, "sampler %s: step %d stores twice into history slot %d",
                             s->name, i, p.store_slot);
    p.struct_size = sizeof(p);
    *out = p;
    return DIO_OK;
}

double dio_sampler_initial_noise_scale(dio_sampler *s, int32_t n)
{
    if (!s || !IFACE_HAS_NOISE_SCALE(s->iface)) return 1.0;
    return s->iface->initial_noise_scale(s->self, n);
}

/* samplers — "flow-euler": the first-order flow-matching step x_{i+1} = x_i + (σ_{i+1} − σ_i)·v_i on the
 * karras or shift schedule (sched.h). No history: the plan is two terms, and the last step (σ = 0)
 * gives x − σ·v, the x0 estimate. */
#include <stdlib.h>

#include "sched.h"

#define WHO "flow-euler"

typedef struct euler {
    const dio_host_services *host;
    flow_sched sc;
    flow_table table;
} euler;

static dio_status euler_create(const dio_sampler_create_info *info, void **out)
{
    euler *e;
    dio_status st;
    flow_sched sc;
    if ((st = flow_sched_parse(info->host, WHO, info->params, info->n_params, &sc)) != DIO_OK) return st;
    e = calloc(1, sizeof(*e));
    if (!e) return info->host->set_error(DIO_ERR_OUT_OF_HOST_MEMORY, WHO ": out of memory");
    e->host = info->host;
    e->sc = sc;
    *out = e;
    return DIO_OK;
}

static void euler_destroy(void *self)
{
    euler *e = self;
    if (!e) return;
    flow_table_free(&e->table);
    free(e);
}

static int32_t euler_num_steps(void *self, int32_t requested)
{
    euler *e = self;
    return flow_sched_num_steps(&e->sc, e->host, WHO, requested);
}

static dio_status euler_schedule(void *self, int32_t n, double *sigmas, double *timesteps)
{
    euler *e = self;
    return flow_sched_build(&e->sc, e->host, WHO, n, sigmas, timesteps);
}

static dio_status euler_step(void *self, int32_t i, int32_t n, dio_sampler_plan *out)
{
    euler *e = self;
    dio_status st;
    lin_comb next = {0};
    if ((st = check_step(e->host, WHO, i, n)) != DIO_OK ||
        (st = flow_table_get(&e->table, &e->sc, e->host, WHO, n)) != DIO_OK)
        return st;
    next.x = 1.0;
    next.model = e->table.sigmas[i + 1] - e->table.sigmas[i];
    plan_init(out);
    out->n_terms = lin_to_terms(&next, out->terms);
    return DIO_OK;
}

static double euler_noise_scale(void *self, int32_t n)
{
    (void)self;
    (void)n;
    return 1.0;
}

static const dio_sampler_iface euler_iface = {
    .abi_version = DIO_ABI_VERSION,
    .struct_size = sizeof(dio_sampler_iface),
    .n_params = FLOW_SCHED_N_PARAMS,
    .params = flow_sched_params,
    .create = euler_create,
    .destroy = euler_destroy,
    .num_steps = euler_num_steps,
    .schedule = euler_schedule,
    .step = euler_step,
    .initial_noise_scale = euler_noise_scale,
};

static const dio_plugin_descriptor euler_descriptor = {
    .struct_size = sizeof(dio_plugin_descriptor),
    .kind = DIO_PLUGIN_SAMPLER,
    .abi_min = DIO_ABI_MAKE(1, 0), /* one plain store-free plan: a 1.0 host runs it as is */
    .abi_max = DIO_ABI_VERSION,
    .name = WHO,
    .version = "0.1.0",
    .license = "Apache-2.0",
    .description = "flow-matching Euler (first order) on the karras or shift schedule",
    .sampler = &euler_iface,
};

DIO_PLUGIN_EXPORT dio_status dio_plugin_entry(const dio_host_info *host, const dio_plugin_descriptor **out)
{
    (void)host;
    *out = &euler_descriptor;
    return DIO_OK;
}

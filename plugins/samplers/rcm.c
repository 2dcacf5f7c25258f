/* samplers — "rcm": the rCM few-step sampler (NVlabs/rcm for Wan 2.1; cosmos-reference §3.3;
 * tests/fixtures/schedulers, `rcm.*`), in rectified-flow space.
 *
 * TrigFlow times τ = (atan σ_max, 1.5, 1.4, 1.0)[:n] then 0, with σ_max = 80 by default (the rCM README
 * trades diversity for quality with larger values, e.g. 1600); RF times t = sin τ/(cos τ + sin τ). The
 * rule is defined for n = 1 ... 4 steps (the fixture covers 1, 2 and 4); other counts are refused.
 * The first latent is t_0·noise (initial_noise_scale), the net is given t·1000 (timesteps), and step k is
 *   x_{k+1} = (1 − t_{k+1})·(x_k − t_k·v_k) + t_{k+1}·fresh noise (operand NOISE),  last step x_k − t_k·v_k.
 * No history. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sched.h"

#define WHO "rcm"
#define RCM_MAX_STEPS 4

static const dio_param_desc rcm_params[] = {
    {sizeof(dio_param_desc), DIO_PARAM_FLOAT, "sigma_max", "80", 1.0, 1e6, NULL,
     "the first TrigFlow time is atan(sigma_max) (rCM default 80; larger, e.g. 1600, trades diversity for "
     "quality)"},
};

typedef struct rcm {
    const dio_host_services *host;
    double tau0;
} rcm;

static dio_status rcm_create(const dio_sampler_create_info *info, void **out)
{
    double sigma_max = 80.0;
    rcm *r;
    for (size_t i = 0; i < info->n_params; i++)
        if (info->params[i].key && info->params[i].value && strcmp(info->params[i].key, "sigma_max") == 0) {
            char *end = NULL;
            sigma_max = strtod(info->params[i].value, &end);
            if (!info->params[i].value[0] || *end || !(sigma_max >= 1.0 && sigma_max <= 1e6))
                return info->host->set_error(DIO_ERR_INVALID_ARGUMENT,
                                             WHO ": sigma_max = \"%s\" is not a number in [1, 1e6]",
                                             info->params[i].value);
        }
    r = calloc(1, sizeof(*r));
    if (!r) return info->host->set_error(DIO_ERR_OUT_OF_HOST_MEMORY, WHO ": out of memory");
    r->host = info->host;
    r->tau0 = atan(sigma_max);
    *out = r;
    return DIO_OK;
}

static void rcm_destroy(void *self)
{
    free(self);
}

static dio_status check_n(const rcm *r, int32_t n)
{
    if (n < 1 || n > RCM_MAX_STEPS)
        return r->host->set_error(DIO_ERR_INVALID_ARGUMENT,
                                  WHO ": %d steps; the rCM time table defines 1, 2, 3 or 4 steps", n);
    return DIO_OK;
}

static int32_t rcm_num_steps(void *self, int32_t requested)
{
    return check_n(self, requested) == DIO_OK ? requested : 0;
}

/* RF time k of an n-step run (t[n] = 0). */
static double rcm_t(const rcm *r, int32_t k, int32_t n)
{
    static const double taus[RCM_MAX_STEPS] = {0.0, 1.5, 1.4, 1.0};
    if (k >= n) return 0.0;
    return trig_to_rf(k == 0 ? r->tau0 : taus[k]);
}

static dio_status rcm_schedule(void *self, int32_t n, double *sigmas, double *timesteps)
{
    rcm *r = self;
    dio_status st;
    if ((st = check_n(r, n)) != DIO_OK) return st;
    for (int32_t k = 0; k < n; k++) {
        sigmas[k] = rcm_t(r, k, n);
        timesteps[k] = sigmas[k] * 1000.0;
    }
    sigmas[n] = 0.0;
    return DIO_OK;
}

static dio_status rcm_step(void *self, int32_t i, int32_t n, dio_sampler_plan *out)
{
    rcm *r = self;
    dio_status st;
    lin_comb x0 = {0}, next;
    double tn;
    if ((st = check_n(r, n)) != DIO_OK || (st = check_step(r->host, WHO, i, n)) != DIO_OK) return st;
    x0.x = 1.0;
    x0.model = -rcm_t(r, i, n);
    tn = rcm_t(r, i + 1, n);
    lin_axpby(&next, 1.0 - tn, &x0, 0.0, NULL);
    next.noise = tn;
    plan_init(out);
    out->n_terms = lin_to_terms(&next, out->terms);
    return DIO_OK;
}

static double rcm_noise_scale(void *self, int32_t n)
{
    rcm *r = self;
    return rcm_t(r, 0, n < 1 ? 1 : n);
}

static const dio_sampler_iface rcm_iface = {
    .abi_version = DIO_ABI_VERSION,
    .struct_size = sizeof(dio_sampler_iface),
    .n_params = (int32_t)(sizeof(rcm_params) / sizeof(rcm_params[0])),
    .params = rcm_params,
    .create = rcm_create,
    .destroy = rcm_destroy,
    .num_steps = rcm_num_steps,
    .schedule = rcm_schedule,
    .step = rcm_step,
    .initial_noise_scale = rcm_noise_scale,
};

static const dio_plugin_descriptor rcm_descriptor = {
    .struct_size = sizeof(dio_plugin_descriptor),
    .kind = DIO_PLUGIN_SAMPLER,
    .abi_min = DIO_ABI_MAKE(1, 1), /* needs initial_noise_scale (t_0 · noise) */
    .abi_max = DIO_ABI_VERSION,
    .name = WHO,
    .version = "0.1.0",
    .license = "Apache-2.0",
    .description = "rCM few-step sampler (1 to 4 steps, fresh noise each step; NVlabs/rcm)",
    .sampler = &rcm_iface,
};

DIO_PLUGIN_EXPORT dio_status dio_plugin_entry(const dio_host_info *host, const dio_plugin_descriptor **out)
{
    (void)host;
    *out = &rcm_descriptor;
    return DIO_OK;
}

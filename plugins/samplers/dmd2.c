/* samplers — "dmd2": the 4-step DMD2 / TrigFlow sampler of the distilled Cosmos-Predict2.5 2B and
 * Transfer2.5 edge checkpoints (cosmos-reference §3.2; tests/fixtures/schedulers, `dmd2.*`), carried out
 * in rectified-flow space.
 *
 * TrigFlow times τ = (π/2, atan 15, atan 5, atan 5/3, 0). The reference works on x_trig = cos τ·x0 +
 * sin τ·ε; the runner keeps x_rf = x_trig/(cos τ + sin τ) = (1 − t)·x0 + t·ε with t = sin τ/(cos τ + sin τ)
 * = (1, 0.9375, 0.8333, 0.625, 0). The preconditioned net input x_trig·c_in (c_in = 1/(cos τ + sin τ)) is
 * then x_rf itself, its time input c_noise is t, and x0 = c_skip·x_trig + c_out·F = x_rf − t·F. So
 * sigmas = t, timesteps = t (what the net is given), and step k is
 *   x_{k+1} = (1 − t_{k+1})·(x_k − t_k·F_k) + t_{k+1}·ε0,  last step x0 = x_k − t_k·F_k,
 * where ε0 is the INITIAL noise, re-injected every step: step 0 stores X (= ε0, as t_0 = 1 and the first
 * latent is the noise itself) into history slot 0 and later steps read it. num_steps is 4 whatever is
 * requested (the released checkpoints are distilled for exactly this grid). No parameters. */
#include <math.h>
#include <stdlib.h>

#include "sched.h"

#define WHO "dmd2"
#define DMD2_STEPS 4
#define SLOT_EPS0 0

typedef struct dmd2 {
    const dio_host_services *host;
    double t[DMD2_STEPS + 1];
} dmd2;

static dio_status dmd2_create(const dio_sampler_create_info *info, void **out)
{
    const double pi_2 = 1.5707963267948966;
    const double taus[DMD2_STEPS + 1] = {pi_2, atan(15.0), atan(5.0), atan(5.0 / 3.0), 0.0};
    dmd2 *d = calloc(1, sizeof(*d));
    if (!d) return info->host->set_error(DIO_ERR_OUT_OF_HOST_MEMORY, WHO ": out of memory");
    d->host = info->host;
    for (int k = 0; k <= DMD2_STEPS; k++) d->t[k] = trig_to_rf(taus[k]);
    *out = d;
    return DIO_OK;
}

static void dmd2_destroy(void *self)
{
    free(self);
}

static int32_t dmd2_num_steps(void *self, int32_t requested)
{
    dmd2 *d = self;
    if (requested != DMD2_STEPS)
        d->host->log(DIO_LOG_INFO, WHO, "%d steps requested; the distilled sampler always takes %d",
                     requested, DMD2_STEPS);
    return DMD2_STEPS;
}

static dio_status check_n(const dmd2 *d, int32_t n)
{
    if (n != DMD2_STEPS)
        return d->host->set_error(DIO_ERR_INVALID_ARGUMENT,
                                  WHO ": n = %d, but the sampler has exactly %d steps", n, DMD2_STEPS);
    return DIO_OK;
}

static dio_status dmd2_schedule(void *self, int32_t n, double *sigmas, double *timesteps)
{
    dmd2 *d = self;
    dio_status st;
    if ((st = check_n(d, n)) != DIO_OK) return st;
    for (int k = 0; k < DMD2_STEPS; k++) {
        sigmas[k] = d->t[k];
        timesteps[k] = d->t[k];
    }
    sigmas[DMD2_STEPS] = 0.0;
    return DIO_OK;
}

static dio_status dmd2_step(void *self, int32_t i, int32_t n, dio_sampler_plan *out)
{
    dmd2 *d = self;
    dio_status st;
    lin_comb x0 = {0}, next = {0};
    double tn;
    if ((st = check_n(d, n)) != DIO_OK || (st = check_step(d->host, WHO, i, n)) != DIO_OK) return st;
    x0.x = 1.0;
    x0.model = -d->t[i];
    tn = d->t[i + 1];
    lin_axpby(&next, 1.0 - tn, &x0, 0.0, NULL);
    /* ε0: at step 0 the current latent itself (slot 0 is written only after this step). */
    if (i == 0)
        next.x += tn;
    else
        next.hist[SLOT_EPS0] += tn;
    plan_init(out);
    out->n_terms = lin_to_terms(&next, out->terms);
    if (i == 0) {
        out->store_slot = SLOT_EPS0;
        out->n_store_terms = 1;
        out->store_terms[0].operand = DIO_SAMPLER_X;
        out->store_terms[0].slot = 0;
        out->store_terms[0].coef = 1.0;
    }
    return DIO_OK;
}

static double dmd2_noise_scale(void *self, int32_t n)
{
    (void)self;
    (void)n;
    return 1.0;
}

static const dio_sampler_iface dmd2_iface = {
    .abi_version = DIO_ABI_VERSION,
    .struct_size = sizeof(dio_sampler_iface),
    .n_params = 0,
    .params = NULL,
    .create = dmd2_create,
    .destroy = dmd2_destroy,
    .num_steps = dmd2_num_steps,
    .schedule = dmd2_schedule,
    .step = dmd2_step,
    .initial_noise_scale = dmd2_noise_scale,
};

static const dio_plugin_descriptor dmd2_descriptor = {
    .struct_size = sizeof(dio_plugin_descriptor),
    .kind = DIO_PLUGIN_SAMPLER,
    .abi_min = DIO_ABI_MAKE(1, 0), /* one store, noise scale 1: a 1.0 host runs it as is */
    .abi_max = DIO_ABI_VERSION,
    .name = WHO,
    .version = "0.1.0",
    .license = "Apache-2.0",
    .description = "DMD2 / TrigFlow 4-step sampler of the distilled Cosmos-2.5 checkpoints (initial noise "
                   "re-injected)",
    .sampler = &dmd2_iface,
};

DIO_PLUGIN_EXPORT dio_status dio_plugin_entry(const dio_host_info *host, const dio_plugin_descriptor **out)
{
    (void)host;
    *out = &dmd2_descriptor;
    return DIO_OK;
}

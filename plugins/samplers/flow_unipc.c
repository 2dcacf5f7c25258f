/* samplers — "flow-unipc": UniPC for flow matching, order 2, bh2, x0-predict, lower_order_final, with the
 * UniC corrector on every step after the first: the Cosmos-Predict2.5 default sampler (diffusers
 * UniPCMultistepScheduler as its 2.5 config sets it up; the native FlowUniPCMultistepScheduler). The
 * update is the one tests/fixtures/schedulers/README.md spells out, expressed as plan terms.
 *
 * State between steps, in history slots: m_j = x_j − σ_j·v_j (the x0 estimate) of step j in slot j % 2,
 * so step i reads m_{i−1} and m_{i−2} from the two slots and overwrites the older one; and the corrected
 * sample x^c_i in slot 2 (x^c_0 = x_0). Each plan stores m_i with `store` and x^c_i with `store2` — on
 * every step, the last one included, so a runner (or a test) can read both — and its next latent is the
 * predictor applied to x^c_i, with x^c_i and m_i expanded into X, MODEL_OUTPUT and the history slots.
 * Per step, with λ = ln(1−σ) − ln σ and α = 1 − σ:
 *   corrector (i ≥ 1, order = previous predictor order), h = λ_i − λ_{i−1}, φ = B_h = expm1(−h):
 *     x^c_i = (σ_i/σ_{i−1})·x^c_{i−1} − α_i·φ·m_{i−1} − α_i·B_h·(ρ_0·(m_{i−2} − m_{i−1})/r + ρ_last·(m_i −
 * m_{i−1})) (order 1: ρ_last = 1/2 and no ρ_0 term; order 2: the 2×2 solve with r = (λ_{i−2} − λ_{i−1})/h);
 *   predictor, order min(2, n − i, i + 1), h' = λ_{i+1} − λ_i, φ' = expm1(−h'):
 *     x_{i+1} = (σ_{i+1}/σ_i)·x^c_i − α_{i+1}·φ'·m_i − α_{i+1}·φ'·½·(m_{i−1} − m_i)/r' (order 2 only),
 *     r' = (λ_{i−1} − λ_i)/h';
 *   last step (σ_{i+1} = 0, λ = +∞): x_{i+1} = m_i exactly (terms X and −σ_i·MODEL_OUTPUT).
 * Coefficients are formed in float64 from the float32 sigmas; diffusers forms them as float32 scalars,
 * which the fixture README bounds at 8.7e-7 on the chain. σ must stay below 1 (λ is finite). */
#include <math.h>
#include <stdlib.h>

#include "sched.h"

#define WHO "flow-unipc"
#define SLOT_XC 2

typedef struct unipc {
    const dio_host_services *host;
    flow_sched sc;
    flow_table table;
} unipc;

static dio_status unipc_create(const dio_sampler_create_info *info, void **out)
{
    unipc *u;
    dio_status st;
    flow_sched sc;
    if ((st = flow_sched_parse(info->host, WHO, info->params, info->n_params, &sc)) != DIO_OK) return st;
    if (!sc.karras && sc.shift * sc.sigma_max / (1.0 + (sc.shift - 1.0) * sc.sigma_max) >= 1.0)
        return info->host->set_error(DIO_ERR_INVALID_ARGUMENT,
                                     WHO ": sigma_max = %g gives a first sigma of 1, where UniPC's "
                                         "log((1-s)/s) is infinite; use a value below 1",
                                     sc.sigma_max);
    u = calloc(1, sizeof(*u));
    if (!u) return info->host->set_error(DIO_ERR_OUT_OF_HOST_MEMORY, WHO ": out of memory");
    u->host = info->host;
    u->sc = sc;
    *out = u;
    return DIO_OK;
}

static void unipc_destroy(void *self)
{
    unipc *u = self;
    if (!u) return;
    flow_table_free(&u->table);
    free(u);
}

static int32_t unipc_num_steps(void *self, int32_t requested)
{
    unipc *u = self;
    return flow_sched_num_steps(&u->sc, u->host, WHO, requested);
}

static dio_status unipc_schedule(void *self, int32_t n, double *sigmas, double *timesteps)
{
    unipc *u = self;
    return flow_sched_build(&u->sc, u->host, WHO, n, sigmas, timesteps);
}

static double lambda(double s)
{
    return log(1.0 - s) - log(s);
}

static int32_t order_p(int32_t i, int32_t n)
{
    int32_t o = 2;
    if (n - i < o) o = n - i;
    if (i + 1 < o) o = i + 1;
    return o;
}

static dio_status unipc_step(void *self, int32_t i, int32_t n, dio_sampler_plan *out)
{
    unipc *u = self;
    const double *sg;
    dio_status st;
    lin_comb x = {0}, m = {0}, xc = {0}, next, m1 = {0}, m2 = {0}, xc1 = {0}, t;
    if ((st = check_step(u->host, WHO, i, n)) != DIO_OK ||
        (st = flow_table_get(&u->table, &u->sc, u->host, WHO, n)) != DIO_OK)
        return st;
    sg = u->table.sigmas;
    if (!(sg[i] > 0 && sg[i] < 1))
        return u->host->set_error(DIO_ERR_INVALID_ARGUMENT,
                                  WHO ": sigma %d of %d is %g; UniPC needs 0 < sigma < 1", i, n, sg[i]);
    x.x = 1.0;
    m.x = 1.0;
    m.model = -sg[i];
    m1.hist[(i + 1) % 2] = 1.0; /* m_{i-1}: slot (i-1) % 2 */
    m2.hist[i % 2] = 1.0;       /* m_{i-2}: slot i % 2, overwritten by m_i after this step */
    xc1.hist[SLOT_XC] = 1.0;

    /* corrector */
    if (i == 0) {
        xc = x;
    } else {
        int32_t oc = order_p(i - 1, n);
        double l0 = lambda(sg[i]), l1 = lambda(sg[i - 1]);
        double h = l0 - l1, hh = -h, phi = expm1(hh), bh = phi, a = 1.0 - sg[i];
        double rho_last = 0.5;
        lin_comb d1t;
        lin_axpby(&xc, sg[i] / sg[i - 1], &xc1, -a * phi, &m1);
        if (oc == 2) {
            double r = (lambda(sg[i - 2]) - l1) / h;
            double hk = phi / hh - 1.0, b1 = hk / bh, b2 = (hk / hh - 0.5) * 2.0 / bh;
            double rho0 = (b1 - b2) / (1.0 - r);
            rho_last = (b2 - r * b1) / (1.0 - r);
            lin_axpby(&t, 1.0, &m2, -1.0, &m1); /* D1 = (m_{i-2} - m_{i-1}) / r */
            lin_axpby(&xc, 1.0, &xc, -a * bh * rho0 / r, &t);
        }
        lin_axpby(&d1t, 1.0, &m, -1.0, &m1);
        lin_axpby(&xc, 1.0, &xc, -a * bh * rho_last, &d1t);
    }

    /* predictor */
    if (sg[i + 1] == 0.0) {
        next = m;
    } else {
        double l0 = lambda(sg[i]), ln = lambda(sg[i + 1]);
        double h = ln - l0, phi = expm1(-h), a = 1.0 - sg[i + 1];
        lin_axpby(&next, sg[i + 1] / sg[i], &xc, -a * phi, &m);
        if (order_p(i, n) == 2) {
            double r = (lambda(sg[i - 1]) - l0) / h;
            lin_axpby(&t, 1.0, &m1, -1.0, &m); /* D1 = (m_{i-1} - m_i) / r */
            lin_axpby(&next, 1.0, &next, -a * phi * 0.5 / r, &t);
        }
    }

    plan_init(out);
    out->n_terms = lin_to_terms(&next, out->terms);
    out->store_slot = i % 2;
    out->n_store_terms = lin_to_terms(&m, out->store_terms);
    out->store2_slot = SLOT_XC;
    out->n_store2_terms = lin_to_terms(&xc, out->store2_terms);
    return DIO_OK;
}

static double unipc_noise_scale(void *self, int32_t n)
{
    (void)self;
    (void)n;
    return 1.0;
}

static const dio_sampler_iface unipc_iface = {
    .abi_version = DIO_ABI_VERSION,
    .struct_size = sizeof(dio_sampler_iface),
    .n_params = FLOW_SCHED_N_PARAMS,
    .params = flow_sched_params,
    .create = unipc_create,
    .destroy = unipc_destroy,
    .num_steps = unipc_num_steps,
    .schedule = unipc_schedule,
    .step = unipc_step,
    .initial_noise_scale = unipc_noise_scale,
};

static const dio_plugin_descriptor unipc_descriptor = {
    .struct_size = sizeof(dio_plugin_descriptor),
    .kind = DIO_PLUGIN_SAMPLER,
    .abi_min = DIO_ABI_MAKE(1, 1), /* needs the second store */
    .abi_max = DIO_ABI_VERSION,
    .name = WHO,
    .version = "0.1.0",
    .license = "Apache-2.0",
    .description = "flow-matching UniPC (order 2, bh2, x0-predict, UniC corrector): the Cosmos-Predict2.5 "
                   "default",
    .sampler = &unipc_iface,
};

DIO_PLUGIN_EXPORT dio_status dio_plugin_entry(const dio_host_info *host, const dio_plugin_descriptor **out)
{
    (void)host;
    *out = &unipc_descriptor;
    return DIO_OK;
}
